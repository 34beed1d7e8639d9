//! Everything the commands print: the servers' `listening on` / `stats on` lines and drain
//! notes, the clients' summaries (or their JSON), and the file client's progress bar.
//! Results go to stdout, notes to stderr (a server's notes as log events, [`super::logging`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use mayfly_clients::cmd::CmdOutput;
use mayfly_clients::compare::Progress;
use mayfly_clients::file::{Stat, Transfer};
use mayfly_clients::file_bench::FileBenchReport;
use mayfly_clients::http_stress::HttpStressReport;
use mayfly_clients::report::{markdown, Report};
use mayfly_clients::stress::StressReport;
use mayfly_clients::udp_stress::UdpStressReport;
use mayfly_proto::child::Announce;
use mayfly_proto::file::Entry;

/// `listening on ADDR`, then `stats on ADDR` if there is a stats page and `check on ADDR`
/// if there is a health-check port, flushed at once: scripts and tests wait for these lines.
pub fn listening(
    addr: SocketAddr,
    stats: Option<SocketAddr>,
    check: Option<SocketAddr>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", Announce::Listening(addr))?;
    if let Some(s) = stats {
        writeln!(out, "{}", Announce::Stats(s))?;
    }
    if let Some(c) = check {
        writeln!(out, "{}", Announce::Check(c))?;
    }
    out.flush()?;
    Ok(())
}

/// `mayfly file adduser`: the new secret on stdout (alone, so it can be redirected into a
/// file), what to do with it on stderr.
pub fn new_user(name: &str, secret: &str, users: &Path) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{secret}")?;
    out.flush()?;
    eprintln!(
        "mayfly: added {name} to {}; give them the secret above for --secret-file",
        users.display()
    );
    Ok(())
}

/// A warning on stderr (a server started in an unsafe mode).
pub fn warning(text: &str) {
    eprintln!("mayfly: WARNING: {text}");
}

/// A server got a stop signal and drains.
pub fn draining(signal: i32, grace: Duration) {
    if grace.is_zero() {
        log::info!(signal = signal; "signal {signal}; closing open connections at once (--grace 0)");
    } else {
        let grace = super::human::HumanDuration(grace);
        log::info!(signal = signal, grace:% = grace; "signal {signal}; draining for up to {grace}");
    }
}

/// Connections a server closed when the grace period ran out.
pub fn closed_after_grace(closed: u64) {
    if closed > 0 {
        log::warn!(closed = closed; "closed {closed} connections still open after the grace period");
    }
}

/// A remote command's stdout on stdout, its stderr on stderr, and why it was cut short on
/// stderr.
pub fn cmd_output(out: &CmdOutput) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(&out.stdout)?;
    o.flush()?;
    let mut e = std::io::stderr().lock();
    e.write_all(&out.stderr)?;
    if out.truncated {
        writeln!(
            e,
            "mayfly: output cut at the server's cap; the command was killed"
        )?;
    } else if out.timed_out {
        writeln!(
            e,
            "mayfly: the command ran past the server's time limit and was killed"
        )?;
    } else if let Some(sig) = out.signal {
        writeln!(e, "mayfly: the command was killed by signal {sig}")?;
    }
    Ok(())
}

/// `mayfly file list`.
pub fn listing(entries: &[Entry], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(entries)?);
    } else {
        for e in entries {
            println!("{:>14}  {}", e.filesize, e.filename);
        }
    }
    Ok(())
}

/// `mayfly file stat NAME`.
pub fn stat(name: &str, st: &Stat, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(st)?);
    } else {
        match (st.filesize, &st.sha256) {
            (Some(size), Some(sha)) => {
                let when = st.mtime.map_or_else(|| "time unknown".to_owned(), utc);
                println!("{name}: {size} bytes, modified {when}, sha256 {sha}")
            }
            _ => println!("{name}: no such file"),
        }
        if let Some(p) = st.partial_size {
            println!("{name}: {p} bytes of a cut-off upload kept for --resume");
        }
    }
    Ok(())
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(secs: i64) -> String {
    mayfly_clients::report::format::rfc3339(secs)
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// A finished `put` (`verb` "sent") or `get` ("received").
pub fn transfer(verb: &str, t: &Transfer, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(t)?);
    } else if t.up_to_date {
        println!(
            "{} is up to date ({} bytes, sha256 {}); nothing transferred",
            t.filename, t.filesize, t.sha256
        );
    } else {
        let rate = t.transferred as f64 / t.seconds.max(1e-9) / 1e6;
        println!(
            "{verb} {} ({} bytes, {} this time) in {:.2} s, {rate:.0} MB/s; sha256 {} verified",
            t.filename, t.filesize, t.transferred, t.seconds, t.sha256
        );
    }
    Ok(())
}

/// A progress bar (bytes, rate, ETA) on a terminal; hidden otherwise.
pub fn progress_bar(total: u64, json: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template"),
    );
    bar
}

/// `mayfly file-bench`.
pub fn file_bench(r: &FileBenchReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        println!(
            "{} MiB file, median of {} rounds: put {:.0} MB/s, get {:.0} MB/s",
            r.size >> 20,
            r.put_mb_s.len(),
            r.put_median_mb_s,
            r.get_median_mb_s
        );
        println!(
            "{} small files ({} KiB) from {} greenlets: put {:.0} files/s, get {:.0} files/s",
            r.small_files,
            r.small_bytes >> 10,
            r.greenlets,
            r.small_put_files_s,
            r.small_get_files_s
        );
        println!(
            "server peak RSS {:.1} MiB",
            r.server_peak_rss_kib as f64 / 1024.0
        );
    }
    Ok(())
}

/// `mayfly stress`.
pub fn stress(r: &StressReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        println!(
            "{} requests in {:.1} s: {:.0} req/s over {} connections ({} connected)",
            r.requests, r.seconds, r.rps, r.connections, r.connected
        );
        if let Some(rate) = r.rate {
            let short = if !mayfly_clients::pace::reached(r.rps, rate) {
                ": not reached, the client or the server could not keep up"
            } else {
                ""
            };
            println!("paced: {rate:.0} req/s offered{short}");
        }
        println!(
            "latency µs: p50 {}  p99 {}  p99.9 {}  max {}",
            r.latency_us.p50, r.latency_us.p99, r.latency_us.p999, r.latency_us.max
        );
        let f = &r.fairness;
        println!(
            "replies per connection: min {}  median {}  max {}  ({} got none; Jain's fairness {:.2})",
            f.min, f.median, f.max, f.unanswered, f.jain
        );
        if r.reconnects > 0 {
            println!(
                "{} deliberate disconnects, each followed by a new connection",
                r.reconnects
            );
        }
        println!(
            "errors: {} connect, {} i/o, {} wrong replies{}",
            r.connect_errors,
            r.io_errors,
            r.wrong_replies,
            r.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// What a load test cost the server, for [`server_cpu`].
#[derive(Debug)]
pub enum ServerCost {
    /// From the stats page: CPU µs per request, the CPU seconds and requests it is made of.
    PerRequest {
        /// Server CPU µs per request.
        us: f64,
        /// Server CPU seconds during the run.
        cpu_seconds: f64,
        /// Requests the server counted during the run.
        requests: u64,
    },
    /// No `--stats-addr`.
    NoStatsPage,
    /// The page was given but the figure is not known: why.
    Unknown(String),
}

/// The server's CPU per request after a `stress` summary (not under `--json`, whose object
/// is the client's report alone): the figure, or why there is none.
pub fn server_cpu(c: &ServerCost, json: bool) {
    if json {
        return;
    }
    match c {
        ServerCost::PerRequest {
            us,
            cpu_seconds,
            requests,
        } => println!(
            "server CPU: {us:.2} µs per request ({cpu_seconds:.2} s of CPU for {requests} \
             requests, from its stats page; lower is better)"
        ),
        ServerCost::NoStatsPage => println!(
            "server CPU per request: not measured; req/s alone measures this client as much as \
             the server: give --stats-addr (the server's `stats on ADDR`), or use `mayfly compare`"
        ),
        ServerCost::Unknown(why) => println!("server CPU per request: unknown ({why})"),
    }
}

/// `mayfly stress --proto udp`: the summary, or the report as one JSON object.
pub fn udp_stress(r: &UdpStressReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "{} answers in {:.1} s: {:.0} req/s over {} UDP sockets ({} opened)",
        r.requests, r.seconds, r.rps, r.sockets, r.opened
    );
    println!(
        "latency µs: p50 {}  p99 {}  p99.9 {}  max {}",
        r.p50_us, r.p99_us, r.p999_us, r.max_us
    );
    println!(
        "{} sent, {} lost ({:.3}%), {} late, {} wrong, {} i/o errors{}",
        r.sent,
        r.lost,
        r.loss_rate * 100.0,
        r.late_replies,
        r.wrong_replies,
        r.io_errors,
        r.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    Ok(())
}

/// `mayfly stress --proto http`: the summary, or the report as JSON.
pub fn http_stress(r: &HttpStressReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "{} good answers to GET {} in {:.1} s: {:.0} req/s over {} connections ({} up), {} in flight each",
        r.requests, r.path, r.seconds, r.rps, r.connections, r.connected, r.pipeline
    );
    println!(
        "latency µs (per turn): p50 {}  p99 {}  p99.9 {}  max {}",
        r.latency_us.p50, r.latency_us.p99, r.latency_us.p999, r.latency_us.max
    );
    let f = &r.fairness;
    println!(
        "answers per connection: min {}  median {}  max {}  none {}  Jain's index {:.3}",
        f.min, f.median, f.max, f.unanswered, f.jain
    );
    println!(
        "{} non-2xx, {} wrong bodies, {} resets, {} i/o errors, {} connect errors, {} reconnects{}",
        r.non_2xx,
        r.wrong_bodies,
        r.resets,
        r.io_errors,
        r.connect_errors,
        r.reconnects,
        r.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    Ok(())
}

/// `mayfly compare`'s progress on stderr (also under `--json`: stdout holds only the
/// report): the plan, then one line per finished run; on a terminal also a live line for the
/// run under way, overwritten in place.
pub struct CompareProgress {
    live: bool,
    /// A live line is on screen, not ended by a newline.
    pending: bool,
}

impl CompareProgress {
    /// Live lines if stderr is a terminal.
    pub fn new() -> Self {
        use std::io::IsTerminal;
        CompareProgress {
            live: std::io::stderr().is_terminal(),
            pending: false,
        }
    }

    /// One event.
    pub fn on(&mut self, p: &Progress<'_>) {
        let mut e = std::io::stderr().lock();
        let clear = if self.pending { "\r\x1b[2K" } else { "" };
        match p {
            Progress::Start { .. } if !self.live => return,
            Progress::Start { .. } => {
                let _ = write!(e, "{clear}compare: {}", p.line());
                self.pending = true;
            }
            _ => {
                let _ = writeln!(e, "{clear}compare: {}", p.line());
                self.pending = false;
            }
        }
        let _ = e.flush();
    }
}

impl Drop for CompareProgress {
    fn drop(&mut self) {
        if self.pending {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `mayfly compare`: the table, and where the report files went.
pub fn compare(report: &Report, json: bool, out: Option<&Path>) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{}", markdown::render(report));
        if let Some(dir) = out {
            println!(
                "wrote {0}/report.json, {0}/report.md, {0}/report.svg, {0}/report.html",
                dir.display()
            );
        }
    }
    Ok(())
}

/// `mayfly demo sticky`: each step, what the course says and what happened.
pub fn sticky(steps: &[mayfly_clients::sticky::Step], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(steps)?);
        return Ok(());
    }
    for (i, s) in steps.iter().enumerate() {
        let mark = if s.as_predicted {
            "as predicted"
        } else {
            "NOT as predicted"
        };
        println!("{}. {}", i + 1, s.title);
        println!("   the course: {}", s.course_says);
        println!("   here:       {} ({mark})", s.got);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
