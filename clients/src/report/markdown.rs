//! The report as Markdown: the verdict first (its plain-words headline in bold, then its
//! sentences), the setup and the run's metadata, then the tables, the warnings and the
//! legend. This is report.md and what `mayfly compare` prints.

use super::model::Report;
use super::table::{self, Table};

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

fn push_list(s: &mut String, items: &[String]) {
    for i in items {
        s.push_str(&format!("- {i}\n"));
    }
}

/// The report as a Markdown document.
///
/// ```
/// use mayfly_clients::report::{markdown, Report, Row};
/// let rep = Report {
///     rows: vec![Row { build: "epoll".into(), connections: 10, requests: 50, rps: 5.0, ..Row::default() }],
///     ..Report::default()
/// };
/// let md = markdown::render(&rep);
/// assert!(md.starts_with("## Verdict"));
/// assert!(md.contains("\n| epoll | 10 | 0.00 | 0 | – | 5 |"));
/// ```
pub fn render(rep: &Report) -> String {
    let mut s = format!(
        "## {}\n\n**{}**\n\n",
        rep.verdict.heading(),
        rep.verdict.headline
    );
    for line in &rep.verdict.lines {
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    s.push_str(&table::title(rep));
    s.push_str("\n\n");
    s.push_str(&table::meta(rep));
    s.push_str("\n\n### Server cost (the headline: CPU µs/req, lower is better)\n\n");
    push_table(&mut s, &table::cost(rep));
    s.push_str("\n### What the clients got\n\n");
    push_table(&mut s, &table::service(rep));
    s.push_str("\n### Idle CPU and calls per request (the IO models' costs)\n\n");
    push_table(&mut s, &table::models(rep));
    if let Some(t) = table::ratios(rep) {
        s.push_str("\n### Ratios\n\n");
        push_table(&mut s, &t);
    }
    let warnings = table::warnings(rep);
    if !warnings.is_empty() {
        s.push_str("\n### Warnings\n\n");
        push_list(&mut s, &warnings);
    }
    s.push_str("\n### What the columns mean\n\n");
    push_list(&mut s, &table::legend(rep));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Row, Settings, Verdict};

    #[test]
    fn verdict_first_then_tables_warnings_and_legend() {
        let rep = Report {
            verdict: Verdict {
                headline: "Too few rounds.".into(),
                lines: vec!["At 10 connections coroutine vs epoll is not conclusive.".into()],
                ..Verdict::default()
            },
            rows: vec![Row {
                build: "epoll".into(),
                connections: 10,
                requests: 1,
                warnings: vec!["3 of 10 connections got no reply".into()],
                ..Row::default()
            }],
            latency_method: "first byte out to last byte in".into(),
            settings: Settings {
                pin: true,
                repeat: 3,
                server_cpus: vec![0],
                client_cpus: vec![1],
                ..Settings::default()
            },
            ..Report::default()
        };
        let md = render(&rep);
        assert!(md.starts_with(
            "## Verdict: not conclusive\n\n**Too few rounds.**\n\nAt 10 connections coroutine vs epoll is not conclusive.\n\nmayfly compare: "
        ), "{md}");
        assert!(
            md.contains("\n\nRun unknown by mayfly unknown (commit unknown)"),
            "{md}"
        );
        assert!(md.contains("server pinned to CPU 0, client to CPU 1"));
        assert!(md.contains("### Warnings\n\n- epoll @ 10: 3 of 10 connections got no reply\n"));
        assert!(md.contains("- Latency: first byte out to last byte in.\n"));
        let tables = md.find("### Server cost").unwrap();
        assert!(md.find("### What the clients got").unwrap() > tables);
    }
}
