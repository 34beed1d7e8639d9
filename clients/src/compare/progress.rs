//! What a comparison tells its caller while it runs: the plan first ([`Progress::Plan`]:
//! how many runs, about how long), then each run as it starts and ends, with the time left
//! estimated from the runs so far. The caller decides where the lines go (the CLI: stderr, a
//! live line on a terminal); [`Progress::line`] words each one.

use std::time::Duration;

use crate::report::format::thousands;
use crate::report::Row;

/// A run's time beyond its measured window before any has been timed: the server's start,
/// the client's connections, the stops (about 0.7 s on a 2-core machine; rounded up).
pub const RUN_OVERHEAD: Duration = Duration::from_secs(1);

/// One event of a running comparison.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Before the first run: how many, and about how long they take.
    Plan {
        /// Runs planned (builds × connection counts × rounds).
        runs: usize,
        /// Builds, connection counts and rounds, in that order.
        shape: (usize, usize, usize),
        /// The estimate: each run's window plus [`RUN_OVERHEAD`].
        estimate: Duration,
        /// Where the servers' and the client's own lines go.
        log: &'a str,
    },
    /// A run starts.
    Start {
        /// Which run this is (1-based) of how many.
        run: (usize, usize),
        /// The build, the connections, the round (1-based) of how many.
        what: (&'a str, usize, usize, usize),
        /// Time left for this run and the rest, from the runs so far.
        left: Duration,
    },
    /// A run ended, measured or not.
    Done {
        /// Which run this was (1-based) of how many.
        run: (usize, usize),
        /// Its round (1-based) of how many.
        round: (usize, usize),
        /// What it measured.
        row: &'a Row,
        /// Time left for the rest.
        left: Duration,
    },
}

/// Time left after `done` of `planned` runs that took `elapsed`, each run otherwise
/// estimated at `per_run`.
///
/// ```
/// use std::time::Duration;
/// use mayfly_clients::compare::progress::left;
/// let s = Duration::from_secs;
/// assert_eq!(left(0, 27, s(0), s(7)), s(189));
/// assert_eq!(left(9, 27, s(90), s(7)), s(180)); // 10 s a run so far
/// assert_eq!(left(27, 27, s(200), s(7)), s(0));
/// ```
pub fn left(done: usize, planned: usize, elapsed: Duration, per_run: Duration) -> Duration {
    let rest = planned.saturating_sub(done) as u32;
    if done == 0 {
        per_run * rest
    } else {
        elapsed / done as u32 * rest
    }
}

/// `about 3 min`, `40 s`: a duration as a person reads a countdown.
///
/// ```
/// use std::time::Duration;
/// use mayfly_clients::compare::progress::roughly;
/// assert_eq!(roughly(Duration::from_secs(189)), "3 min");
/// assert_eq!(roughly(Duration::from_secs(45)), "45 s");
/// assert_eq!(roughly(Duration::from_secs(91)), "2 min");
/// ```
pub fn roughly(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    if s >= 90 {
        format!("{} min", (s + 30) / 60)
    } else {
        format!("{s} s")
    }
}

impl Progress<'_> {
    /// The event in one line (no `compare:` prefix, no newline).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly_clients::compare::progress::Progress;
    /// let p = Progress::Start { run: (7, 27), what: ("threads", 2000, 1, 3), left: Duration::from_secs(130) };
    /// assert_eq!(p.line(), "run 7/27 · threads, 2,000 connections, round 1 of 3 · 2 min left");
    /// ```
    pub fn line(&self) -> String {
        match *self {
            Progress::Plan {
                runs,
                shape: (b, c, r),
                estimate,
                log,
            } => format!(
                "{runs} runs ({b} build{} × {c} connection count{} × {r} round{}), about {}; \
                 server and client log lines in {log}",
                plural(b),
                plural(c),
                plural(r),
                roughly(estimate)
            ),
            Progress::Start {
                run: (k, n),
                what: (build, conns, round, rounds),
                left,
            } => format!(
                "run {k}/{n} · {build}, {} connections, round {round} of {rounds} · {} left",
                thousands(conns as u64),
                roughly(left)
            ),
            Progress::Done {
                run: (k, n),
                round: (round, rounds),
                row,
                left,
            } => {
                let tail = if k == n {
                    "done".to_string()
                } else {
                    format!("{} left", roughly(left))
                };
                format!(
                    "run {k}/{n} · {}, {} connections, round {round} of {rounds}: {} · {tail}",
                    row.build,
                    thousands(row.connections),
                    summary(row)
                )
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A run's headline figures, or why it failed.
fn summary(r: &Row) -> String {
    match &r.limit {
        Some(l) if r.requests == 0 => format!("failed: {l}"),
        _ => format!(
            "{:.2} µs CPU/req, {:.0} req/s, p99 {} µs, fairness {:.2}",
            r.cpu_us_per_req, r.rps, r.p99_us, r.fairness.jain
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_and_a_finished_run_in_words() {
        let plan = Progress::Plan {
            runs: 27,
            shape: (3, 3, 3),
            estimate: Duration::from_secs(189),
            log: "/tmp/x.log",
        };
        assert_eq!(
            plan.line(),
            "27 runs (3 builds × 3 connection counts × 3 rounds), about 3 min; server and \
             client log lines in /tmp/x.log"
        );
        let row = Row {
            build: "epoll".into(),
            connections: 10_000,
            requests: 5,
            cpu_us_per_req: 10.38,
            rps: 76576.0,
            p99_us: 900,
            ..Row::default()
        };
        let done = Progress::Done {
            run: (27, 27),
            round: (3, 3),
            row: &row,
            left: Duration::ZERO,
        };
        assert_eq!(
            done.line(),
            "run 27/27 · epoll, 10,000 connections, round 3 of 3: 10.38 µs CPU/req, 76576 \
             req/s, p99 900 µs, fairness 0.00 · done"
        );
    }
}
