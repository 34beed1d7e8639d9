//! The report as text cells: a title line and two tables (one row per build and connection
//! count; the coroutine ratios). Every figure is formatted here, once; [`super::markdown`]
//! and [`super::html`] only lay the cells out.

use super::Report;

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

/// The line above the tables: run length, repeats, client mode, pinning, CPUs.
pub fn title(rep: &Report) -> String {
    format!(
        "mayfly compare: {:.0} s per run, {} run(s) per cell (medians), client {:?}, {}, {} CPUs",
        rep.settings.duration_s,
        rep.settings.repeat,
        rep.settings.client,
        if rep.settings.pin {
            "server pinned to CPU 0, client to CPU 1"
        } else {
            "not pinned"
        },
        rep.settings.cpus
    )
}

fn columns(spec: &[(&str, bool)]) -> (Vec<String>, Vec<bool>) {
    spec.iter().map(|(t, r)| (t.to_string(), *r)).unzip()
}

/// One row per build and connection count.
pub fn rows(rep: &Report) -> Table {
    let (header, right) = columns(&[
        ("build", false),
        ("conns", true),
        ("req/s", true),
        ("p50 µs", true),
        ("p99 µs", true),
        ("server CPU µs/req", true),
        ("server CPU", true),
        ("client CPU", true),
        ("peak RSS MiB", true),
        ("KiB/conn", true),
        ("threads", true),
        ("errors", true),
        ("notes", false),
    ]);
    let rows = rep
        .rows
        .iter()
        .map(|r| {
            let notes: Vec<&str> = [r.limit.as_deref(), r.bottleneck.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            vec![
                r.build.clone(),
                r.connections.to_string(),
                format!("{:.0}", r.rps),
                r.p50_us.to_string(),
                r.p99_us.to_string(),
                format!("{:.2}", r.cpu_us_per_req),
                format!("{:.0}%", r.server_cpu * 100.0),
                format!("{:.0}%", r.client_cpu * 100.0),
                format!("{:.1}", r.server_peak_rss_kib as f64 / 1024.0),
                format!("{:.1}", r.rss_per_conn_kib),
                r.server_threads.to_string(),
                r.errors.to_string(),
                notes.join("; "),
            ]
        })
        .collect();
    Table {
        header,
        right,
        rows,
    }
}

/// coroutine ÷ each other build, per connection count; `None` if there are no ratios.
pub fn ratios(rep: &Report) -> Option<Table> {
    if rep.ratios.is_empty() {
        return None;
    }
    let (header, right) = columns(&[
        ("conns", true),
        ("coroutine ÷", false),
        ("req/s ratio", true),
        ("CPU/req ratio", true),
    ]);
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.2}"));
    let rows = rep
        .ratios
        .iter()
        .map(|r| {
            vec![
                r.connections.to_string(),
                r.versus.clone(),
                f(r.rps),
                f(r.cpu_per_req),
            ]
        })
        .collect();
    Some(Table {
        header,
        right,
        rows,
    })
}
