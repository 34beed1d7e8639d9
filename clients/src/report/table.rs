//! The report as text cells: the server-cost table, the service table, the ratio table and
//! the warnings. Every figure is formatted here, once (with [`super::format`]'s number
//! formats); [`super::markdown`] and [`super::html`] only lay the cells out. Column titles
//! come from [`super::legend`].

use super::legend::{self, Column};
use super::model::Report;

pub use super::format::thousands;

/// A table of text cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Per column: right-aligned (numbers) or not.
    pub right: Vec<bool>,
    /// The rows, one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[Column], rows: Vec<Vec<String>>) -> Table {
        debug_assert!(rows.iter().all(|r| r.len() == columns.len()));
        Table {
            header: columns.iter().map(|c| c.title.to_string()).collect(),
            right: columns.iter().map(|c| c.right).collect(),
            rows,
        }
    }
}

/// The line above the tables: how the comparison ran.
pub fn title(rep: &Report) -> String {
    format!("mayfly compare: {}", legend::setup(&rep.settings))
}

/// The line under it: when, which mayfly, the command line, the machine
/// ([`legend::meta`]).
pub fn meta(rep: &Report) -> String {
    legend::meta(&rep.meta, &rep.settings)
}

/// What the server spent, one row per build and connection count.
pub fn cost(rep: &Report) -> Table {
    let rows = rep
        .rows
        .iter()
        .map(|r| {
            let measured = r.requests > 0;
            let or_dash = |s: String| if measured { s } else { "–".to_string() };
            vec![
                r.build.clone(),
                r.connections.to_string(),
                or_dash(format!("{:.2}", r.cpu_us_per_req)),
                or_dash(format!("{:.0}", r.req_per_core_s)),
                r.spread_pct.map_or("–".to_string(), |p| format!("{p:.0}%")),
                or_dash(if r.client_limited {
                    format!("{:.0} (client-limited)", r.rps)
                } else {
                    format!("{:.0}", r.rps)
                }),
                format!("{:.0}%", r.server_cpu * 100.0),
                format!("{:.0}%", r.client_cpu * 100.0),
                format!("{:.1}", r.rss_per_conn_kib),
                format!("{:.1}", r.server_peak_rss_kib as f64 / 1024.0),
                r.server_threads.to_string(),
            ]
        })
        .collect();
    Table::new(legend::COST, rows)
}

/// What each build costs while it waits and in calls per request (the IO-models
/// chapter's figures), one row per build and connection count.
pub fn models(rep: &Report) -> Table {
    let rows = rep
        .rows
        .iter()
        .map(|r| {
            vec![
                r.build.clone(),
                r.connections.to_string(),
                format!("{:.0}%", r.idle_cpu * 100.0),
                // Under one call per request: the build's socket calls are recv/send, which
                // /proc/PID/io does not count (what is left are its other reads).
                if r.requests > 0 && r.rw_calls_per_req >= 1.0 {
                    format!("{:.2}", r.rw_calls_per_req)
                } else {
                    "–".to_string()
                },
            ]
        })
        .collect();
    Table::new(legend::MODELS, rows)
}

/// What the clients got, one row per build and connection count.
pub fn service(rep: &Report) -> Table {
    let rows = rep
        .rows
        .iter()
        .map(|r| {
            let f = &r.fairness;
            vec![
                r.build.clone(),
                r.connections.to_string(),
                r.p50_us.to_string(),
                r.p99_us.to_string(),
                r.p999_us.to_string(),
                r.max_us.to_string(),
                format!("{}·{}·{}", f.min, f.median, f.max),
                f.unanswered.to_string(),
                format!("{:.2}", f.jain),
                r.errors.to_string(),
                legend::warning_tags(r),
            ]
        })
        .collect();
    Table::new(legend::SERVICE, rows)
}

/// coroutine ÷ each other build, per connection count; `None` if there are no ratios.
pub fn ratios(rep: &Report) -> Option<Table> {
    if rep.ratios.is_empty() {
        return None;
    }
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.2}"));
    let rows = rep
        .ratios
        .iter()
        .map(|q| {
            vec![
                q.connections.to_string(),
                format!("{} ÷ {}", q.build, q.versus),
                f(q.cpu_per_req),
                crate::sample::range(&q.cpu_per_req_rounds)
                    .map_or("–".to_string(), |(lo, hi)| format!("{lo:.2}–{hi:.2}")),
                if q.conclusive { "yes" } else { "no" }.to_string(),
                f(q.rps),
            ]
        })
        .collect();
    Some(Table::new(legend::RATIOS, rows))
}

/// Every warning: the run-wide ones, then `build @ conns: warning` per row.
pub fn warnings(rep: &Report) -> Vec<String> {
    let mut out = legend::run_warnings(&rep.settings);
    for r in &rep.rows {
        for w in &r.warnings {
            out.push(format!("{} @ {}: {w}", r.build, thousands(r.connections)));
        }
    }
    out
}

/// The legend: `title — meaning` for every column of every table, then the methods.
pub fn legend(rep: &Report) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for c in legend::COST
        .iter()
        .chain(legend::SERVICE)
        .chain(legend::MODELS)
        .chain(legend::RATIOS)
    {
        if !seen.contains(&c.title) {
            seen.push(c.title);
            out.push(format!("{} — {}", c.title, c.meaning));
        }
    }
    out.push(format!("Load: {}", legend::LOAD_METHOD));
    out.push(format!("Latency: {}.", rep.latency_method));
    if let Some(log) = &rep.settings.log {
        out.push(format!("Server and client log lines: {log}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Row;

    #[test]
    fn client_limited_rows_say_so_and_failed_rows_show_dashes() {
        let rep = Report {
            rows: vec![
                Row {
                    build: "epoll".into(),
                    connections: 10,
                    requests: 50,
                    rps: 5.0,
                    client_limited: true,
                    ..Row::default()
                },
                Row {
                    build: "threads".into(),
                    connections: 10,
                    ..Row::default()
                },
            ],
            ..Report::default()
        };
        let t = cost(&rep);
        assert_eq!(t.header.len(), t.rows[0].len());
        assert_eq!(t.rows[0][5], "5 (client-limited)");
        assert_eq!((t.rows[1][2].as_str(), t.rows[1][5].as_str()), ("–", "–"));
        assert_eq!(service(&rep).rows[0][6], "0·0·0");
    }

    #[test]
    fn the_legend_explains_every_column_once() {
        let rep = Report::default();
        let l = legend(&rep);
        for t in [cost(&rep), service(&rep)] {
            for h in &t.header {
                assert!(
                    l.iter().any(|line| line.starts_with(&format!("{h} — "))),
                    "{h}"
                );
            }
        }
        assert_eq!(
            l.iter().filter(|x| x.starts_with("build — ")).count(),
            1,
            "{l:?}"
        );
    }
}
