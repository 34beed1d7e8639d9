//! The report as Markdown: the title line and pipe tables. This is report.md and what
//! `mayfly compare` prints.

use super::table::{self, Table};
use super::Report;

fn push_table(s: &mut String, t: &Table) {
    s.push_str(&format!("| {} |\n", t.header.join(" | ")));
    let align: Vec<&str> = t
        .right
        .iter()
        .map(|r| if *r { "---:" } else { "---" })
        .collect();
    s.push_str(&format!("|{}|\n", align.join("|")));
    for row in &t.rows {
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
}

/// The report as a Markdown document.
///
/// ```
/// use mayfly_clients::report::{markdown, Report, Row, Settings};
/// use mayfly_clients::stress::ClientMode;
/// let rep = Report {
///     rows: vec![Row { build: "epoll".into(), connections: 10, rps: 5.0, ..Row::default() }],
///     runs: vec![],
///     ratios: vec![],
///     settings: Settings { duration_s: 1.0, repeat: 1, pin: false, client: ClientMode::Threads, cpus: 2 },
/// };
/// let md = markdown::render(&rep);
/// assert!(md.starts_with("mayfly compare: 1 s per run"));
/// assert!(md.contains("\n| epoll | 10 | 5 |"));
/// ```
pub fn render(rep: &Report) -> String {
    let mut s = table::title(rep);
    s.push_str("\n\n");
    push_table(&mut s, &table::rows(rep));
    if let Some(t) = table::ratios(rep) {
        s.push('\n');
        push_table(&mut s, &t);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Ratio, Row, Settings};
    use mayfly_proto::echo::ClientMode;

    /// The Markdown as `compare::markdown` wrote it before the tables became cells: the
    /// oracle the renderer must match byte for byte.
    fn old_markdown(rep: &Report) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "mayfly compare: {:.0} s per run, {} run(s) per cell (medians), client {:?}, {}, {} CPUs\n\n",
            rep.settings.duration_s,
            rep.settings.repeat,
            rep.settings.client,
            if rep.settings.pin {
                "server pinned to CPU 0, client to CPU 1"
            } else {
                "not pinned"
            },
            rep.settings.cpus
        ));
        s.push_str("| build | conns | req/s | p50 µs | p99 µs | server CPU µs/req | server CPU | client CPU | peak RSS MiB | KiB/conn | threads | errors | notes |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for r in &rep.rows {
            let notes: Vec<&str> = [r.limit.as_deref(), r.bottleneck.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            s.push_str(&format!(
                "| {} | {} | {:.0} | {} | {} | {:.2} | {:.0}% | {:.0}% | {:.1} | {:.1} | {} | {} | {} |\n",
                r.build,
                r.connections,
                r.rps,
                r.p50_us,
                r.p99_us,
                r.cpu_us_per_req,
                r.server_cpu * 100.0,
                r.client_cpu * 100.0,
                r.server_peak_rss_kib as f64 / 1024.0,
                r.rss_per_conn_kib,
                r.server_threads,
                r.errors,
                notes.join("; ")
            ));
        }
        if !rep.ratios.is_empty() {
            s.push_str(
                "\n| conns | coroutine ÷ | req/s ratio | CPU/req ratio |\n|---:|---|---:|---:|\n",
            );
            let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.2}"));
            for r in &rep.ratios {
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.connections,
                    r.versus,
                    f(r.rps),
                    f(r.cpu_per_req)
                ));
            }
        }
        s
    }

    #[test]
    fn same_bytes_as_before() {
        let row = |build: &str, limit: Option<&str>, bound: Option<&str>| Row {
            build: build.into(),
            connections: 2000,
            rps: 12345.678,
            p50_us: 40,
            p99_us: 900,
            cpu_us_per_req: 3.25678,
            server_cpu: 0.999,
            client_cpu: 0.42,
            server_peak_rss_kib: 12345,
            rss_per_conn_kib: 8.64,
            server_threads: 2001,
            errors: 7,
            limit: limit.map(str::to_owned),
            bottleneck: bound.map(str::to_owned),
            ..Row::default()
        };
        let mut rep = Report {
            rows: vec![
                row("coroutine", None, None),
                row("threads", Some("a limit"), None),
                row(
                    "epoll",
                    Some("a limit"),
                    Some("client-bound in 2 of 3 runs"),
                ),
            ],
            runs: vec![],
            ratios: vec![],
            settings: Settings {
                duration_s: 2.5,
                repeat: 1,
                pin: false,
                client: ClientMode::Threads,
                cpus: 4,
            },
        };
        assert_eq!(render(&rep), old_markdown(&rep));
        rep.ratios = vec![Ratio {
            connections: 2000,
            versus: "epoll".into(),
            rps: Some(0.9),
            cpu_per_req: None,
        }];
        rep.settings.pin = true;
        assert_eq!(render(&rep), old_markdown(&rep));
    }
}
