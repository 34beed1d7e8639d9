//! The report as report.html: one self-contained page — the same chart as report.svg,
//! inline, and the same tables as report.md, built from the same cells ([`super::table`]).
//! No external assets.

use super::table::{self, Table};
use super::{svg, Report};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn push_table(out: &mut String, t: &Table) {
    out.push_str("<table>\n");
    for (i, r) in std::iter::once(&t.header).chain(&t.rows).enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for c in r {
            out.push_str(&format!("<{tag}>{}</{tag}>", escape(c.trim())));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The title paragraph and the tables, as HTML.
fn tables(rep: &Report) -> String {
    let mut out = format!("<p>{}</p>\n", escape(table::title(rep).trim()));
    push_table(&mut out, &table::rows(rep));
    if let Some(t) = table::ratios(rep) {
        push_table(&mut out, &t);
    }
    out
}

/// The whole page.
///
/// ```
/// use mayfly_clients::report::{html, svg, Report, Row, Settings};
/// use mayfly_clients::stress::ClientMode;
/// let rep = Report {
///     rows: vec![Row { build: "epoll".into(), connections: 10, rps: 5.0, ..Row::default() }],
///     runs: vec![],
///     ratios: vec![],
///     settings: Settings { duration_s: 1.0, repeat: 1, pin: false, client: ClientMode::Threads, cpus: 2 },
/// };
/// let page = html::render(&rep);
/// assert!(page.contains(&svg::render(&rep)));
/// assert!(page.contains("<tr><td>epoll</td><td>10</td><td>5</td>"));
/// ```
pub fn render(rep: &Report) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>mayfly compare</title>\n<style>\n\
         body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 12px 0; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}\n\
         th:first-child, td:first-child {{ text-align: left; }}\n\
         .chart svg {{ max-width: 100%; height: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>mayfly compare</h1>\n\
         <div class=\"chart\">\n{}\n</div>\n{}</body>\n</html>\n",
        svg::render(rep),
        tables(rep)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{markdown, Ratio, Row, Settings};
    use mayfly_proto::echo::ClientMode;

    /// How report.html used to be made: by re-reading report.md's paragraphs and pipe
    /// tables. Kept as the oracle the data renderer must match byte for byte.
    fn tables_to_html(md: &str) -> String {
        let mut out = String::new();
        let mut rows: Vec<Vec<String>> = Vec::new();
        let flush = |rows: &mut Vec<Vec<String>>, out: &mut String| {
            if rows.is_empty() {
                return;
            }
            out.push_str("<table>\n");
            for (i, r) in rows.iter().enumerate() {
                let tag = if i == 0 { "th" } else { "td" };
                out.push_str("<tr>");
                for c in r {
                    out.push_str(&format!("<{tag}>{}</{tag}>", escape(c)));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
            rows.clear();
        };
        for line in md.lines() {
            let t = line.trim();
            if t.starts_with('|') {
                let cells: Vec<String> = t
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_owned())
                    .collect();
                let separator = cells
                    .iter()
                    .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')));
                if !separator {
                    rows.push(cells);
                }
            } else {
                flush(&mut rows, &mut out);
                if !t.is_empty() {
                    out.push_str(&format!("<p>{}</p>\n", escape(t)));
                }
            }
        }
        flush(&mut rows, &mut out);
        out
    }

    #[test]
    fn pipe_tables_become_html_tables() {
        let html = tables_to_html("title line\n\n| a | b |\n|---|---:|\n| 1 | <2> |\n");
        assert_eq!(
            html,
            "<p>title line</p>\n<table>\n<tr><th>a</th><th>b</th></tr>\n<tr><td>1</td><td>&lt;2&gt;</td></tr>\n</table>\n"
        );
    }

    fn report(ratios: bool) -> Report {
        let row = |build: &str, n: u64, limit: Option<&str>, bound: Option<&str>| Row {
            build: build.into(),
            connections: n,
            connected: n,
            requests: 1234,
            rps: 4321.5,
            p50_us: 77,
            p99_us: 901,
            cpu_us_per_req: 12.345,
            server_cpu: 0.97,
            client_cpu: 0.5,
            server_peak_rss_kib: 20480,
            rss_per_conn_kib: 8.6,
            server_threads: 3,
            errors: 2,
            wrong_replies: 0,
            limit: limit.map(str::to_owned),
            bottleneck: bound.map(str::to_owned),
        };
        Report {
            rows: vec![
                row("coroutine", 500, None, None),
                row(
                    "threads",
                    500,
                    Some("3 of 500 connections failed (<EMFILE> & more)"),
                    None,
                ),
                row(
                    "epoll",
                    500,
                    Some("the server died under load"),
                    Some("client-bound in 2 of 3 runs"),
                ),
            ],
            runs: vec![],
            ratios: if ratios {
                vec![
                    Ratio {
                        connections: 500,
                        versus: "threads".into(),
                        rps: Some(1.5),
                        cpu_per_req: None,
                    },
                    Ratio {
                        connections: 500,
                        versus: "epoll".into(),
                        rps: None,
                        cpu_per_req: Some(0.25),
                    },
                ]
            } else {
                vec![]
            },
            settings: Settings {
                duration_s: 10.0,
                repeat: 3,
                pin: true,
                client: ClientMode::Coroutine,
                cpus: 2,
            },
        }
    }

    #[test]
    fn html_from_the_data_is_what_the_markdown_used_to_give() {
        for with_ratios in [false, true] {
            let rep = report(with_ratios);
            assert_eq!(tables(&rep), tables_to_html(&markdown::render(&rep)));
        }
    }
}
