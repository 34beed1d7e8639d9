//! What the comparison says, written from its data: the coroutine ÷ other-build ratios
//! ([`ratios`]) and the verdict sentences ([`of`]) that head the terminal output, report.md
//! and report.html.
//!
//! The verdict is about one comparison, the course's question: coroutine ÷ threads at the
//! largest connection count ([`HEADLINE`]); the other builds get a sentence each below it.
//! A ratio is *conclusive* only when the rounds agree: at least two rounds, every round's
//! ratio on the same side of 1, and the rounds' spread (max − min) smaller than the median's
//! distance from 1. Otherwise the verdict says "not conclusive" and why, instead of a winner.

use mayfly_proto::echo::Mode;

use super::format::thousands;
pub use super::model::Verdict;
use super::model::{Ratio, Row};
use crate::sample::{median, range};

/// The build every other one is compared with, when it ran.
pub const BASELINE: &str = Mode::Coroutine.name();
/// The comparison the verdict is about, when it ran: the course's question, green threads or
/// a thread per connection. Without it, the first other build in the sweep.
pub const HEADLINE: &str = Mode::Threads.name();

/// Whether per-round ratios agree enough to name a winner (see the module docs).
///
/// ```
/// use mayfly_clients::report::verdict::conclusive;
/// assert!(conclusive(&[0.58, 0.61, 0.66]));
/// assert!(!conclusive(&[0.95, 1.02, 0.90])); // straddles 1
/// assert!(!conclusive(&[0.80, 0.95, 0.97])); // spread 0.17 > distance 0.05
/// assert!(!conclusive(&[0.5])); // one round: spread unknown
/// ```
pub fn conclusive(rounds: &[f64]) -> bool {
    let (Some(m), Some((lo, hi))) = (median(rounds), range(rounds)) else {
        return false;
    };
    rounds.len() >= 2 && (hi < 1.0 || lo > 1.0) && hi - lo < (m - 1.0).abs()
}

/// The k-th measured run of `build` at `n` connections, for every k (failed runs are `None`).
fn rounds_of<'a>(runs: &'a [Row], build: &str, n: u64) -> Vec<Option<&'a Row>> {
    runs.iter()
        .filter(|r| r.build == build && r.connections == n)
        .map(|r| (r.requests > 0 && r.cpu_us_per_req > 0.0).then_some(r))
        .collect()
}

/// coroutine ÷ each other build at each connection count, from the median rows and, round by
/// round, from the runs.
pub fn ratios(rows: &[Row], runs: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let find = |b: &str, n: u64| rows.iter().find(|r| r.build == b && r.connections == n);
    let mut counts: Vec<u64> = rows.iter().map(|r| r.connections).collect();
    counts.dedup();
    let mut others: Vec<&str> = Vec::new();
    for r in rows {
        if r.build != BASELINE && !others.contains(&r.build.as_str()) {
            others.push(&r.build);
        }
    }
    for n in counts {
        let Some(base) = find(BASELINE, n) else {
            continue;
        };
        for &other in &others {
            let Some(o) = find(other, n) else {
                continue;
            };
            let div = |a: f64, b: f64| (a > 0.0 && b > 0.0).then(|| a / b);
            let a = rounds_of(runs, BASELINE, n);
            let b = rounds_of(runs, other, n);
            let per_round: Vec<f64> = a
                .iter()
                .zip(&b)
                .filter_map(|(x, y)| div((*x)?.cpu_us_per_req, (*y)?.cpu_us_per_req))
                .collect();
            out.push(Ratio {
                connections: n,
                build: BASELINE.into(),
                versus: other.into(),
                rps: div(base.rps, o.rps),
                cpu_per_req: div(base.cpu_us_per_req, o.cpu_us_per_req),
                conclusive: conclusive(&per_round),
                cpu_per_req_rounds: per_round,
            });
        }
    }
    out
}

fn clients(r: &Row) -> String {
    let answered = r.connected.saturating_sub(r.fairness.unanswered);
    if answered == r.connections {
        format!("answered all {} clients", thousands(r.connections))
    } else {
        format!(
            "answered {} of {} clients",
            thousands(answered),
            thousands(r.connections)
        )
    }
}

/// `lo–hi×` of per-round ratios (`–` if there are none).
fn rounds_text(v: &[f64]) -> String {
    range(v).map_or("–".to_string(), |(lo, hi)| format!("{lo:.2}–{hi:.2}×"))
}

/// The headline sentence for one ratio.
fn sentence(q: &Ratio, base: &Row, other: &Row) -> String {
    let n = thousands(q.connections);
    let Some(x) = q.cpu_per_req else {
        let failed = if base.requests == 0 { base } else { other };
        return format!(
            "At {n} connections {} could not be measured{}.",
            failed.build,
            failed
                .limit
                .as_ref()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        );
    };
    if !q.conclusive {
        let why = if q.cpu_per_req_rounds.len() < 2 {
            format!(
                "one round only ({x:.2}×), so its spread is unknown; run without --quick for 3 rounds"
            )
        } else {
            format!(
                "its rounds ({}) disagree by more than the difference (ratio of medians {x:.2}×)",
                rounds_text(&q.cpu_per_req_rounds)
            )
        };
        return format!(
            "At {n} connections {} vs {} is not conclusive on CPU per request: {why}.",
            q.build, q.versus
        );
    }
    format!(
        "At {n} connections the {} build used {x:.2}× the CPU per request of {} (ratio of \
         medians; rounds {}), {} (fairness {:.2} vs {:.2}), with {} OS threads vs {}.",
        q.build,
        q.versus,
        rounds_text(&q.cpu_per_req_rounds),
        clients(base),
        base.fairness.jain,
        other.fairness.jain,
        thousands(base.server_threads),
        thousands(other.server_threads),
    )
}

/// The plain-words headline: one sentence about the headline comparison (coroutine ÷
/// threads at the largest connection count), for a reader who reads nothing else.
fn headline(q: &Ratio, base: &Row, other: &Row) -> String {
    let n = thousands(q.connections);
    let Some(x) = q.cpu_per_req else {
        let failed = if base.requests == 0 { base } else { other };
        return format!(
            "No answer yet: the {} build could not be measured at {n} connections, so it \
             cannot be compared.",
            failed.build
        );
    };
    let (b, o) = (&q.build, &q.versus);
    let how = if (x - 1.0).abs() < 0.005 {
        "the same server CPU per request as".to_string()
    } else if x < 1.0 {
        format!("{:.0}% less server CPU per request than", (1.0 - x) * 100.0)
    } else {
        format!("{:.0}% more server CPU per request than", (x - 1.0) * 100.0)
    };
    let rounds = q.cpu_per_req_rounds.len();
    if q.conclusive {
        format!(
            "{b} needed {how} {o} at {n} connections, and all {rounds} rounds agree \
             (conclusive)."
        )
    } else if rounds < 2 {
        format!(
            "In one round {b} needed {how} {o} at {n} connections, but one round cannot tell \
             a difference from noise (not conclusive: run without --quick for 3 rounds)."
        )
    } else {
        format!(
            "{b} and {o} cannot be told apart on server CPU per request at {n} connections: \
             their {rounds} rounds disagree by more than they differ (not conclusive)."
        )
    }
}

/// A line per multi-process build (`coroutine×N`) at the largest connection count: its
/// requests per second against the single process's, and that speed-up per server CPU.
fn scaling(rows: &[Row]) -> Vec<String> {
    let Some(n) = rows.iter().map(|r| r.connections).max() else {
        return Vec::new();
    };
    let prefix = format!("{BASELINE}×");
    let Some(one) = rows
        .iter()
        .find(|r| r.build == BASELINE && r.connections == n && r.rps > 0.0)
    else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.connections == n && r.rps > 0.0 && r.build.starts_with(&prefix))
        .map(|r| {
            let speedup = r.rps / one.rps;
            let cores = r.server_cpus.len();
            let per_core = if cores > 0 {
                format!(
                    " on {cores} server CPU{}: {:.0}% per CPU",
                    if cores == 1 { "" } else { "s" },
                    speedup / cores as f64 * 100.0
                )
            } else {
                " (not pinned)".to_string()
            };
            let caveat = if r.offered_rps.is_some() {
                " The load was paced (--rate), so req/s is the offered rate, not what either \
                 could do: compare their CPU per request."
            } else if r.client_limited || one.client_limited {
                " The load generator was the bottleneck, so this measures the client, not the \
                 servers."
            } else {
                ""
            };
            format!(
                "Scaling at {} connections: {} answered {:.0} req/s against {:.0} for one \
                 process, {speedup:.2}×{per_core}.{caveat}",
                thousands(n),
                r.build,
                r.rps,
                one.rps
            )
        })
        .collect()
}

/// The verdict of a comparison: for each other build, a sentence at the largest connection
/// count, then the ratio at the other counts; a warning line for any build that left clients
/// unanswered.
///
/// ```
/// use mayfly_clients::report::{verdict, Row};
/// let row = |b: &str, cpu: f64| Row {
///     build: b.into(), connections: 100, connected: 100, requests: 1000,
///     cpu_us_per_req: cpu, server_threads: 3, ..Row::default()
/// };
/// let rows = vec![row("coroutine", 5.0), row("threads", 10.0)];
/// let runs = vec![row("coroutine", 5.0), row("threads", 10.0), row("coroutine", 5.5), row("threads", 9.0)];
/// let ratios = verdict::ratios(&rows, &runs);
/// let v = verdict::of(&rows, &ratios);
/// assert!(v.conclusive);
/// assert_eq!(v.headline, "coroutine needed 50% less server CPU per request than threads at 100 connections, and all 2 rounds agree (conclusive).");
/// assert!(v.lines[0].starts_with("At 100 connections the coroutine build used 0.50× the CPU per request of threads (ratio of medians; rounds 0.50–0.61×)"));
/// ```
pub fn of(rows: &[Row], ratios: &[Ratio]) -> Verdict {
    let mut lines = Vec::new();
    let mut conclusive = false;
    let mut head = String::new();
    let (mut comparisons, mut conclusive_comparisons) = (0, 0);
    let find = |b: &str, n: u64| rows.iter().find(|r| r.build == b && r.connections == n);
    let mut others: Vec<&str> = Vec::new();
    for q in ratios {
        if !others.contains(&q.versus.as_str()) {
            others.push(&q.versus);
        }
    }
    // The headline first; the verdict's heading is about it alone.
    if let Some(i) = others.iter().position(|o| *o == HEADLINE) {
        others[..=i].rotate_right(1);
    }
    for (k, other) in others.into_iter().enumerate() {
        let mine: Vec<&Ratio> = ratios.iter().filter(|q| q.versus == other).collect();
        let Some(top) = mine.iter().max_by_key(|q| q.connections) else {
            continue;
        };
        let (Some(base), Some(o)) = (
            find(&top.build, top.connections),
            find(other, top.connections),
        ) else {
            continue;
        };
        if k == 0 {
            conclusive = top.conclusive;
            head = headline(top, base, o);
        } else if k == 1 {
            lines.push("Against the other builds:".to_string());
        }
        comparisons += 1;
        conclusive_comparisons += usize::from(top.conclusive);
        lines.push(sentence(top, base, o));
        let rest: Vec<String> = mine
            .iter()
            .filter(|q| q.connections != top.connections)
            .filter_map(|q| {
                q.cpu_per_req.map(|x| {
                    format!(
                        "{x:.2}×{} at {}",
                        if q.conclusive {
                            ""
                        } else {
                            " (not conclusive)"
                        },
                        thousands(q.connections)
                    )
                })
            })
            .collect();
        if !rest.is_empty() {
            lines.push(format!(
                "  {} ÷ {other}, CPU per request, at fewer connections: {}.",
                top.build,
                rest.join(", ")
            ));
        }
    }
    lines.extend(scaling(rows));
    for r in rows {
        if r.fairness.unanswered > 0 {
            lines.push(format!(
                "{} left {} of {} connections unanswered at {} connections{}.",
                r.build,
                thousands(r.fairness.unanswered),
                thousands(r.connected),
                thousands(r.connections),
                if r.rounds > 1 {
                    format!(" (the worst of {} rounds)", r.rounds)
                } else {
                    String::new()
                }
            ));
        }
    }
    if lines.is_empty() {
        conclusive = false;
        lines.push(format!(
            "No verdict: the comparison needs the {BASELINE} build and at least one other."
        ));
    }
    if head.is_empty() {
        head = format!(
            "No comparison: it needs the {BASELINE} build and at least one other, both measured."
        );
    }
    Verdict {
        headline: head,
        conclusive,
        comparisons,
        conclusive_comparisons,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fairness::Fairness;

    fn run(build: &str, n: u64, cpu: f64, threads: u64, jain: f64) -> Row {
        Row {
            build: build.into(),
            connections: n,
            connected: n,
            requests: 1000,
            rps: 1000.0,
            cpu_us_per_req: cpu,
            server_threads: threads,
            fairness: Fairness {
                jain,
                ..Fairness::default()
            },
            ..Row::default()
        }
    }

    #[test]
    fn agreeing_rounds_give_a_verdict_with_threads_and_fairness() {
        let runs = vec![
            run("coroutine", 10000, 6.0, 4, 0.99),
            run("threads", 10000, 10.0, 9998, 0.41),
            run("coroutine", 10000, 6.1, 4, 0.99),
            run("threads", 10000, 9.5, 9998, 0.41),
            run("coroutine", 10000, 5.8, 4, 0.99),
            run("threads", 10000, 9.8, 9998, 0.41),
        ];
        let rows = vec![
            run("coroutine", 10000, 6.0, 4, 0.99),
            run("threads", 10000, 9.8, 9998, 0.41),
        ];
        let q = ratios(&rows, &runs);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].cpu_per_req_rounds.len(), 3);
        let v = of(&rows, &q);
        assert!(v.conclusive, "{v:?}");
        assert_eq!(
            v.lines[0],
            "At 10,000 connections the coroutine build used 0.61× the CPU per request of threads \
             (ratio of medians; rounds 0.59–0.64×), answered all 10,000 clients (fairness 0.99 vs \
             0.41), with 4 OS threads vs 9,998."
        );
        assert_eq!(v.heading(), "Verdict: conclusive");
        assert_eq!(
            v.headline,
            "coroutine needed 39% less server CPU per request than threads at 10,000 \
             connections, and all 3 rounds agree (conclusive)."
        );
    }

    #[test]
    fn disagreeing_rounds_are_not_conclusive() {
        let runs = vec![
            run("coroutine", 500, 5.0, 4, 1.0),
            run("epoll", 500, 4.0, 1, 1.0),
            run("coroutine", 500, 4.0, 4, 1.0),
            run("epoll", 500, 5.0, 1, 1.0),
        ];
        let rows = vec![
            run("coroutine", 500, 4.5, 4, 1.0),
            run("epoll", 500, 4.4, 1, 1.0),
        ];
        let v = of(&rows, &ratios(&rows, &runs));
        assert!(!v.conclusive);
        assert!(
            v.lines[0].starts_with("At 500 connections coroutine vs epoll is not conclusive"),
            "{v:?}"
        );
        assert!(v.lines[0].contains("0.80–1.25×"), "{v:?}");
        assert!(v.lines[0].contains("(ratio of medians 1.02×)"), "{v:?}");
        assert_eq!(v.heading(), "Verdict: not conclusive");
        assert!(
            v.headline
                .starts_with("coroutine and epoll cannot be told apart"),
            "{v:?}"
        );
    }

    #[test]
    fn one_round_is_never_conclusive_and_starved_clients_are_named() {
        let mut threads = run("threads", 200, 9.0, 201, 0.3);
        threads.fairness.unanswered = 50;
        let rows = vec![run("coroutine", 200, 3.0, 4, 1.0), threads.clone()];
        let v = of(&rows, &ratios(&rows, &rows));
        assert!(!v.conclusive);
        assert!(v.lines[0].contains("one round only (0.33×)"), "{v:?}");
        assert_eq!(
            v.headline,
            "In one round coroutine needed 67% less server CPU per request than threads at 200 \
             connections, but one round cannot tell a difference from noise (not conclusive: \
             run without --quick for 3 rounds)."
        );
        assert_eq!(
            v.lines.last().unwrap(),
            "threads left 50 of 200 connections unanswered at 200 connections."
        );
    }

    #[test]
    fn the_heading_follows_the_headline_comparison_whatever_the_order() {
        let runs = vec![
            run("coroutine", 100, 5.0, 4, 1.0),
            run("epoll", 100, 4.0, 1, 1.0),
            run("threads", 100, 10.0, 102, 1.0),
            run("coroutine", 100, 5.0, 4, 1.0),
            run("epoll", 100, 6.0, 1, 1.0),
            run("threads", 100, 11.0, 102, 1.0),
        ];
        let rows = medians_of(&runs);
        let v = of(&rows, &ratios(&rows, &runs));
        assert_eq!((v.comparisons, v.conclusive_comparisons), (2, 1));
        // The heading follows the headline, coroutine ÷ threads; epoll's doubt is its own line.
        assert_eq!(v.heading(), "Verdict: conclusive");
        assert!(v.lines[0].contains("of threads"), "{v:?}");
        assert_eq!(v.lines[1], "Against the other builds:");
        assert!(
            v.lines[2].contains("coroutine vs epoll is not conclusive"),
            "{v:?}"
        );
    }

    fn medians_of(runs: &[Row]) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for r in runs {
            if !rows.iter().any(|x| x.build == r.build) {
                rows.push(r.clone());
            }
        }
        rows
    }

    #[test]
    fn a_multi_process_build_gets_a_scaling_line() {
        let mut one = run("coroutine", 1000, 5.0, 4, 1.0);
        one.server_cpus = vec![0];
        let mut two = run("coroutine×2", 1000, 5.0, 9, 1.0);
        two.rps = 1800.0;
        two.server_cpus = vec![0, 1];
        let rows = vec![one, two];
        let v = of(&rows, &ratios(&rows, &rows));
        assert!(
            v.lines.contains(
                &"Scaling at 1,000 connections: coroutine×2 answered 1800 req/s against 1000 \
                  for one process, 1.80× on 2 server CPUs: 90% per CPU."
                    .to_string()
            ),
            "{v:?}"
        );
        // Paced, both answer the offered rate: the line says req/s measures the rate.
        let paced: Vec<Row> = rows
            .iter()
            .map(|r| Row {
                offered_rps: Some(1000.0),
                rps: 1000.0,
                ..r.clone()
            })
            .collect();
        let v = of(&paced, &ratios(&paced, &paced));
        let line = v.lines.iter().find(|l| l.starts_with("Scaling")).unwrap();
        assert!(
            line.ends_with("The load was paced (--rate), so req/s is the offered rate, not what either could do: compare their CPU per request."),
            "{line}"
        );
    }

    #[test]
    fn no_baseline_no_verdict() {
        let rows = vec![run("epoll", 10, 1.0, 1, 1.0)];
        let v = of(&rows, &ratios(&rows, &rows));
        assert!(!v.conclusive);
        assert!(v.lines[0].starts_with("No verdict"));
        assert!(v.headline.starts_with("No comparison"), "{v:?}");
    }
}
