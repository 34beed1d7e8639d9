//! Row arithmetic: whether the client limited a run, and the medians of a build's rounds.

use mayfly_proto::builds::WorkThreads;

use super::options::CompareOptions;
use crate::build::Build;
use crate::fairness::Fairness;
use crate::report::{legend, Row};
use crate::sample;
use crate::stress::ClientMode;

/// Share of its CPUs the load generator may use before it counts as the bottleneck.
const SATURATED: f64 = 0.9;

/// Whether the client, not the server, limited the run: the client used at least
/// [`SATURATED`] of what it can use (one core in coroutine mode; its CPUs in threads mode)
/// while the server used less than that of its own.
pub(super) fn client_limited(
    opts: &CompareOptions,
    build: Build,
    (server_cpus, client_cpus): (&[usize], &[usize]),
    r: &Row,
) -> bool {
    let machine = mayfly::process::parallelism() as f64;
    let cores = |cpus: &[usize]| {
        if cpus.is_empty() {
            machine
        } else {
            cpus.len() as f64
        }
    };
    let client_cap = match opts.client {
        ClientMode::Coroutine => 1.0,
        ClientMode::Threads => cores(client_cpus),
    };
    let server_cap = match build.mode.info().work_threads {
        WorkThreads::PerConnection => cores(server_cpus),
        // One thread per process does the work.
        WorkThreads::One => (build.workers as f64).min(cores(server_cpus)),
    };
    r.client_cpu >= SATURATED * client_cap && r.server_cpu < SATURATED * server_cap
}

/// One row per (build, connections): each measured figure is the median of its runs (runs
/// that failed outright, with no requests, are left out of it); limits, errors, unanswered
/// connections, peak memory, threads and file descriptors are the worst seen; `spread_pct`
/// is how far CPU per request varied over the rounds (`None` below two measured rounds).
pub fn medians(runs: &[Row]) -> Vec<Row> {
    let mut keys: Vec<(String, u64)> = Vec::new();
    for r in runs {
        let k = (r.build.clone(), r.connections);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(build, n)| {
            let all: Vec<&Row> = runs
                .iter()
                .filter(|r| r.build == build && r.connections == n)
                .collect();
            let ok: Vec<&Row> = all.iter().copied().filter(|r| r.requests > 0).collect();
            let med = |f: fn(&Row) -> f64| {
                let v: Vec<f64> = ok.iter().map(|r| f(r)).collect();
                sample::median(&v).unwrap_or(0.0)
            };
            let worst = |f: fn(&Row) -> u64| all.iter().map(|r| f(r)).max().unwrap_or(0);
            let mut notes: Vec<String> = Vec::new();
            for r in &all {
                for n in [&r.limit].into_iter().flatten() {
                    if !notes.contains(n) {
                        notes.push(n.clone());
                    }
                }
            }
            let cpu = med(|r| r.cpu_us_per_req);
            let cpus: Vec<f64> = ok.iter().map(|r| r.cpu_us_per_req).collect();
            let (lo, hi) = sample::range(&cpus).unwrap_or((0.0, 0.0));
            let bound = ok.iter().filter(|r| r.client_limited).count();
            let mut row = Row {
                build: build.clone(),
                connections: n,
                connected: med(|r| r.connected as f64) as u64,
                requests: med(|r| r.requests as f64) as u64,
                rps: med(|r| r.rps),
                p50_us: med(|r| r.p50_us as f64) as u64,
                p99_us: med(|r| r.p99_us as f64) as u64,
                p999_us: med(|r| r.p999_us as f64) as u64,
                max_us: worst(|r| r.max_us),
                cpu_us_per_req: cpu,
                req_per_core_s: if cpu > 0.0 { 1e6 / cpu } else { 0.0 },
                server_cpu: med(|r| r.server_cpu),
                idle_cpu: med(|r| r.idle_cpu),
                rw_calls_per_req: med(|r| r.rw_calls_per_req),
                client_cpu: med(|r| r.client_cpu),
                server_peak_rss_kib: worst(|r| r.server_peak_rss_kib),
                rss_per_conn_kib: med(|r| r.rss_per_conn_kib),
                server_threads: worst(|r| r.server_threads),
                server_cpus: all
                    .first()
                    .map(|r| r.server_cpus.clone())
                    .unwrap_or_default(),
                fairness: Fairness {
                    min: all.iter().map(|r| r.fairness.min).min().unwrap_or(0),
                    median: med(|r| r.fairness.median as f64) as u64,
                    max: worst(|r| r.fairness.max),
                    unanswered: worst(|r| r.fairness.unanswered),
                    jain: med(|r| r.fairness.jain),
                },
                server_fds: worst(|r| r.server_fds),
                server_fd_limit: all
                    .iter()
                    .map(|r| r.server_fd_limit)
                    .filter(|&l| l > 0)
                    .min()
                    .unwrap_or(0),
                errors: all.iter().map(|r| r.errors).sum(),
                wrong_replies: all.iter().map(|r| r.wrong_replies).sum(),
                rounds: ok.len(),
                spread_pct: (ok.len() >= 2 && cpu > 0.0).then(|| (hi - lo) / cpu * 100.0),
                client_limited: bound * 2 > ok.len(),
                offered_rps: all.first().and_then(|r| r.offered_rps),
                limit: (!notes.is_empty()).then(|| notes.join("; ")),
                warnings: Vec::new(),
            };
            row.warnings = legend::warnings(&row);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::verdict;

    fn row(build: &str, n: u64, rps: f64, cpu: f64) -> Row {
        Row {
            build: build.into(),
            connections: n,
            requests: (rps * 10.0) as u64,
            rps,
            cpu_us_per_req: cpu,
            ..Row::default()
        }
    }

    #[test]
    fn medians_take_each_figure_from_its_own_runs_and_skip_failed_runs() {
        let mut starved = row("epoll", 10, 70.0, 10.0);
        starved.fairness.unanswered = 3;
        let runs = vec![
            row("coroutine", 10, 100.0, 9.0),
            row("epoll", 10, 50.0, 8.0),
            row("coroutine", 10, 300.0, 7.0),
            row("epoll", 10, 0.0, 0.0), // failed run: no requests
            row("coroutine", 10, 200.0, 20.0),
            starved,
        ];
        let m = medians(&runs);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].build.as_str(), m[0].rps, m[0].cpu_us_per_req),
            ("coroutine", 200.0, 9.0)
        );
        assert_eq!(
            (m[0].rounds, m[0].spread_pct.map(f64::round)),
            (3, Some(144.0))
        );
        assert_eq!(medians(&runs[..2])[0].spread_pct, None);
        assert!(m[0].warnings.iter().any(|w| w.starts_with("high spread")));
        assert_eq!((m[1].rps, m[1].cpu_us_per_req), (60.0, 9.0));
        assert_eq!((m[1].rounds, m[1].fairness.unanswered), (2, 3));
        let r = verdict::ratios(&m, &runs);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].versus, "epoll");
        assert!((r[0].rps.unwrap() - 200.0 / 60.0).abs() < 1e-9);
        assert!((r[0].cpu_per_req.unwrap() - 1.0).abs() < 1e-9);
        // Round 2 of epoll failed: only rounds 1 and 3 pair up.
        assert_eq!(r[0].cpu_per_req_rounds, vec![9.0 / 8.0, 2.0]);
    }
}
