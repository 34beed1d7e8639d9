//! What every column means, which way is better, how the figures were measured, and the
//! warnings a row can carry. The tables ([`super::table`]) take their column titles from here,
//! so a title and its explanation cannot drift apart.

use super::format::thousands;
use super::model::{Meta, Row, Settings};

/// One column: its title, whether it holds numbers (right-aligned), and what it means.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The title in the table.
    pub title: &'static str,
    /// Numbers are right-aligned.
    pub right: bool,
    /// What it means and which way is better.
    pub meaning: &'static str,
}

const fn col(title: &'static str, right: bool, meaning: &'static str) -> Column {
    Column {
        title,
        right,
        meaning,
    }
}

/// The server-cost table: what the server spent (the headline).
pub const COST: &[Column] = &[
    col("build", false, "the server build (`serve echo`; `serve http` under --proto http)"),
    col("conns", true, "concurrent client connections"),
    col(
        "CPU µs/req",
        true,
        "server CPU time (user + system) per answered request in the measured window; lower is better. The headline: it depends far less than req/s on how fast the load generator is (--rate compares at equal load)",
    ),
    col(
        "req/core-s",
        true,
        "requests per second of server CPU time, 1e6 ÷ CPU µs/req; higher is better",
    ),
    col(
        "spread",
        true,
        "how much CPU µs/req varied over the rounds, (max − min) ÷ median; below 10% is steady",
    ),
    col(
        "req/s",
        true,
        "answered requests per second of wall time; \"client-limited\" when the load generator, not the server, was the bottleneck (then it measures the client)",
    ),
    col("server CPU", true, "server CPU use in the window; 100% = one core busy"),
    col("client CPU", true, "load generator CPU use in the window"),
    col(
        "KiB/conn",
        true,
        "server resident memory under load minus at idle, per connection; lower is better",
    ),
    col("peak RSS MiB", true, "the server's peak resident memory"),
    col("threads", true, "the most OS threads the server ran"),
];

/// The service table: what the clients got.
pub const SERVICE: &[Column] = &[
    col("build", false, "the server build (`serve echo`; `serve http` under --proto http)"),
    col("conns", true, "concurrent client connections"),
    col("p50 µs", true, "median round-trip latency; lower is better"),
    col("p99 µs", true, "99th percentile latency"),
    col("p99.9 µs", true, "99.9th percentile latency"),
    col("max µs", true, "slowest round trip"),
    col(
        "replies/conn min·med·max",
        true,
        "correct replies each connection got in the window: fewest, median, most",
    ),
    col(
        "unanswered",
        true,
        "connections established that got no reply at all; 0 is the only good value",
    ),
    col(
        "fairness",
        true,
        "Jain's index of replies per connection, (Σx)² ÷ (n·Σx²): 1.00 = every connection served alike, 1/n = one connection got everything",
    ),
    col(
        "errors",
        true,
        "failed connects + broken connections + wrong replies + unanswered connections",
    ),
    col(
        "warnings",
        false,
        "short tags for the warnings listed under the tables: fd-limit, unanswered, wrong, failed, rate-short, client-limited, spread, unfair (fairness below 0.90), idle (server and client both under 50% CPU in a run not paced by --rate: a contended host)",
    ),
];

/// The IO-models table: what each build costs while it waits and per request in calls.
pub const MODELS: &[Column] = &[
    col("build", false, "the echo server build"),
    col("conns", true, "concurrent client connections"),
    col(
        "idle CPU",
        true,
        "server CPU use with no client connected, read over --idle-window (0.5 s) before the load; 100% = a loop that never waits",
    ),
    col(
        "read+write calls/req",
        true,
        "the server's read(2) and write(2) calls per answered request (/proc/PID/io syscr + syscw, reads that found nothing included). Only the IO-models builds use read/write; the others (std, mio, may, mayfly, tokio) use recv/send, which it does not count: – (under one call per request). epoll_wait and select are not counted either; benches/per_request.sh counts every call with perf",
    ),
];

/// The ratio table.
pub const RATIOS: &[Column] = &[
    col("conns", true, "concurrent client connections"),
    col("ratio", false, "coroutine ÷ the other build"),
    col(
        "CPU/req",
        true,
        "a ratio of medians: coroutine's median CPU µs/req ÷ the other's; below 1 means coroutine spent less",
    ),
    col("rounds", true, "the same ratio round by round: lowest–highest"),
    col(
        "conclusive",
        false,
        "yes when ≥ 2 rounds all fall on one side of 1 and their spread is smaller than the difference",
    ),
    col("req/s", true, "coroutine's req/s ÷ the other's"),
];

/// Spread above which a row is flagged, percent.
pub const HIGH_SPREAD_PCT: f64 = 10.0;

/// How the load was applied, in words.
pub const LOAD_METHOD: &str = "Each connection loops: send `Thread-<i> say hello <k>`, read the \
whole uppercase reply, check it. Every connection gets its turn: one round trip, then the next \
connection (the coroutine client yields after every round trip; a client thread walks its \
connections in order). Server CPU is read from /proc at the instants the client's measured \
window opens and closes, so connection set-up is not billed to requests.";

/// The run-wide settings in one line.
pub fn setup(s: &Settings) -> String {
    let cpus = |v: &[usize]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let transport = match (s.tls, s.reconnect_every) {
        (false, 0) => String::new(),
        (true, 0) => "over TLS (long connections), ".to_string(),
        (true, n) => format!("over TLS, a new connection and handshake every {n} replies, "),
        (false, n) => format!("a new connection every {n} replies, "),
    };
    let transport = match s.rate {
        Some(r) => format!(
            "{transport}paced at {} req/s, ",
            thousands(r.round() as u64)
        ),
        None => transport,
    };
    format!(
        "{:.0} s per run, {} {} interleaved (tables show medians), {transport}client {}, {}, {} CPUs",
        s.duration_s,
        s.repeat,
        if s.repeat == 1 { "round" } else { "rounds" },
        s.client,
        if s.pin {
            format!(
                "server pinned to CPU {}, client to CPU {}",
                cpus(&s.server_cpus),
                cpus(&s.client_cpus)
            )
        } else {
            "not pinned (server and client share CPUs)".to_string()
        },
        s.cpus
    )
}

/// The report's metadata in one line: when, which mayfly (version and commit), the command
/// line, the kernel and the CPUs; `unknown` for what was not recorded.
///
/// ```
/// use mayfly_clients::report::{legend, Meta, Settings};
/// let m = Meta { date: Some("2026-12-02T03:40:00Z".into()), mayfly_version: Some("0.1.0".into()), ..Meta::default() };
/// let s = Settings { cpus: 2, ..Settings::default() };
/// assert_eq!(
///     legend::meta(&m, &s),
///     "Run 2026-12-02T03:40:00Z by mayfly 0.1.0 (commit unknown): `unknown`; kernel unknown, 2 CPUs (model unknown)"
/// );
/// ```
pub fn meta(m: &Meta, s: &Settings) -> String {
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".to_string());
    format!(
        "Run {} by mayfly {} (commit {}): `{}`; kernel {}, {} CPU{} (model {})",
        or(&m.date),
        or(&m.mayfly_version),
        or(&m.git_commit),
        or(&m.command_line),
        or(&m.kernel),
        s.cpus,
        if s.cpus == 1 { "" } else { "s" },
        or(&m.cpu_model),
    )
}

/// The warnings for one row: what a reader must know before trusting it.
///
/// ```
/// use mayfly_clients::report::{legend, Row};
/// let row = Row { build: "threads".into(), connections: 300, server_fds: 200, server_fd_limit: 200, ..Row::default() };
/// assert_eq!(legend::warnings(&row)[0], "fd limit reached: the server held 200 of 200 file descriptors");
/// ```
pub fn warnings(r: &Row) -> Vec<String> {
    findings(r).into_iter().map(|(_, text)| text).collect()
}

/// The warnings of a row as short tags, for the table's `warnings` column (the full text is
/// [`warnings`]).
///
/// ```
/// use mayfly_clients::report::{legend, Row};
/// let row = Row { client_limited: true, limit: Some("the server died".into()), ..Row::default() };
/// assert_eq!(legend::warning_tags(&row), "failed, client-limited");
/// ```
pub fn warning_tags(r: &Row) -> String {
    let tags: Vec<&str> = findings(r).into_iter().map(|(tag, _)| tag).collect();
    tags.join(", ")
}

/// Each warning as (tag, text).
fn findings(r: &Row) -> Vec<(&'static str, String)> {
    let mut w = Vec::new();
    if r.server_fd_limit > 0 && r.server_fds + FD_HEADROOM >= r.server_fd_limit {
        w.push((
            "fd-limit",
            format!(
                "fd limit reached: the server held {} of {} file descriptors",
                thousands(r.server_fds),
                thousands(r.server_fd_limit)
            ),
        ));
    }
    if r.fairness.unanswered > 0 {
        w.push((
            "unanswered",
            format!(
                "{} of {} connections got no reply",
                thousands(r.fairness.unanswered),
                thousands(r.connected)
            ),
        ));
    }
    if r.wrong_replies > 0 {
        w.push((
            "wrong",
            format!("{} wrong replies", thousands(r.wrong_replies)),
        ));
    }
    if let Some(l) = &r.limit {
        w.push(("failed", l.clone()));
    }
    if let Some(rate) = r
        .offered_rps
        .filter(|&rate| r.requests > 0 && !crate::pace::reached(r.rps, rate))
    {
        w.push((
            "rate-short",
            format!(
                "rate not reached: {} req/s offered, {} answered; the client or the server \
                 could not keep up, so this row's load was lower than the others'",
                thousands(rate.round() as u64),
                thousands(r.rps.round() as u64)
            ),
        ));
    }
    if r.client_limited {
        w.push((
            "client-limited",
            format!(
                "client-limited: client {:.0}% CPU, server {:.0}%; req/s measures the client",
                r.client_cpu * 100.0,
                r.server_cpu * 100.0
            ),
        ));
    }
    if let Some(spread) = r.spread_pct.filter(|p| *p > HIGH_SPREAD_PCT) {
        w.push((
            "spread",
            format!(
                "high spread: CPU µs/req varied {spread:.0}% over {} rounds",
                r.rounds
            ),
        ));
    }
    let measured = r.requests > 0;
    if measured && r.connected > 1 && r.fairness.jain < LOW_FAIRNESS {
        w.push((
            "unfair",
            format!(
                "low fairness: Jain's index {:.2} (below {LOW_FAIRNESS:.2}): connections got \
                 {}–{} replies each, so req/s and the median latency hide starved clients",
                r.fairness.jain,
                thousands(r.fairness.min),
                thousands(r.fairness.max),
            ),
        ));
    }
    let cpu_read = r.server_cpu > 0.0 || r.client_cpu > 0.0;
    // A paced load (`--rate`) that reached its rate leaves both sides idle by design; one
    // that fell short while both sides idled is the contended host this warns of.
    let paced = r
        .offered_rps
        .is_some_and(|rate| crate::pace::reached(r.rps, rate));
    if measured && cpu_read && !paced && r.server_cpu < IDLE_CPU && r.client_cpu < IDLE_CPU {
        w.push((
            "idle",
            format!(
                "both sides idle: server {:.0}% CPU, client {:.0}%: neither was busy, so they \
                 waited on something else (a contended host: other programs on these CPUs); \
                 run again on a quiet machine",
                r.server_cpu * 100.0,
                r.client_cpu * 100.0
            ),
        ));
    }
    w
}

/// Jain's index below which a row is flagged `unfair`: clients were served unevenly.
pub const LOW_FAIRNESS: f64 = 0.9;

/// CPU use (1.0 = one core) below which a side counts as idle: a run where both the server
/// and the client stay under it was held back by neither (`idle`: the host was contended).
pub const IDLE_CPU: f64 = 0.5;

/// File descriptors a server keeps besides its connections (listener, epoll, stdio, …):
/// within this many of the limit counts as reaching it.
const FD_HEADROOM: u64 = 8;

/// Run-wide warnings: a partial report (first), an unpinned run, a single round.
///
/// ```
/// use mayfly_clients::report::{legend, Partial, Settings};
/// let s = Settings { partial: Some(Partial { signal: 2, runs: 1, planned: 3 }), ..Settings::default() };
/// assert_eq!(legend::run_warnings(&s)[0], "partial: interrupted by SIGINT after 1 of 3 runs");
/// ```
pub fn run_warnings(s: &Settings) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(p) = &s.partial {
        w.push(format!("partial: {p}"));
    }
    if !s.pin {
        w.push(
            "not pinned: server and client competed for the same CPUs, so CPU figures include \
             scheduling noise"
                .to_string(),
        );
    }
    if s.repeat < 2 {
        w.push("one round: the spread is unknown and no result is conclusive".to_string());
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_line_names_the_client_and_counts_rounds_in_words() {
        let mut s = Settings {
            duration_s: 6.0,
            repeat: 3,
            ..Settings::default()
        };
        let line = setup(&s);
        assert!(
            line.starts_with("6 s per run, 3 rounds interleaved"),
            "{line}"
        );
        assert!(line.contains("client coroutine,"), "{line}");
        s.repeat = 1;
        assert!(setup(&s).contains(" 1 round interleaved"), "{}", setup(&s));
        assert!(!setup(&s).contains("TLS"), "{}", setup(&s));
        s.tls = true;
        assert!(
            setup(&s).contains("(tables show medians), over TLS (long connections), client"),
            "{}",
            setup(&s)
        );
        s.reconnect_every = 20;
        assert!(
            setup(&s).contains("over TLS, a new connection and handshake every 20 replies"),
            "{}",
            setup(&s)
        );
        s.rate = Some(60_000.0);
        assert!(
            setup(&s).contains("every 20 replies, paced at 60,000 req/s, client"),
            "{}",
            setup(&s)
        );
    }

    #[test]
    fn a_paced_row_short_of_its_rate_is_flagged_and_one_that_reached_it_is_not_idle() {
        let row = |rps: f64| Row {
            requests: 1000,
            connected: 10,
            rps,
            offered_rps: Some(1000.0),
            server_cpu: 0.05,
            client_cpu: 0.05,
            fairness: crate::fairness::Fairness {
                jain: 1.0,
                ..Default::default()
            },
            ..Row::default()
        };
        assert_eq!(warning_tags(&row(990.0)), "", "within 2% of the rate");
        // Short of its rate with both sides idle: a contended host after all.
        assert_eq!(warning_tags(&row(900.0)), "rate-short, idle");
        assert!(
            warnings(&row(900.0))[0]
                .starts_with("rate not reached: 1,000 req/s offered, 900 answered"),
            "{:?}",
            warnings(&row(900.0))
        );
        // The same idle CPUs unpaced: a contended host.
        let unpaced = Row {
            offered_rps: None,
            ..row(990.0)
        };
        assert_eq!(warning_tags(&unpaced), "idle");
    }
}
