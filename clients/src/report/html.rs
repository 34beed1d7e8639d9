//! The report as report.html: one self-contained page — the plain-words headline, the
//! verdict, the charts of report.svg inline (each with its colour key), the tables of
//! report.md (built from the same cells, [`super::table`]), the metadata, the warnings and
//! the legend. No external assets. At 1400×900 the first screen holds the headline and the
//! first row of charts (`tests/e2e/compare.rs` checks it in headless Chromium).

use super::model::Report;
use super::svg;
use super::table::{self, Table};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn push_table(out: &mut String, caption: &str, t: &Table) {
    out.push_str(&format!("<h2>{}</h2>\n<table>\n", escape(caption)));
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

fn push_list(out: &mut String, heading: &str, class: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!(
        "<h2>{}</h2>\n<ul class=\"{class}\">\n",
        escape(heading)
    ));
    for i in items {
        out.push_str(&format!("<li>{}</li>\n", escape(i)));
    }
    out.push_str("</ul>\n");
}

/// The verdict, as HTML.
fn verdict(rep: &Report) -> String {
    let mut out = format!(
        "<p class=\"headline\" id=\"headline\">{}</p>\n<div class=\"verdict\">\n<h2>{}</h2>\n",
        escape(&rep.verdict.headline),
        rep.verdict.heading()
    );
    for l in &rep.verdict.lines {
        out.push_str(&format!("<p>{}</p>\n", escape(l.trim())));
    }
    out.push_str("</div>\n");
    out
}

/// The title paragraph, the tables, the warnings and the legend, as HTML.
fn body(rep: &Report) -> String {
    let mut out = format!(
        "<p>{}</p>\n<p class=\"meta\">{}</p>\n",
        escape(table::title(rep).trim()),
        escape(&table::meta(rep))
    );
    push_table(
        &mut out,
        "Server cost (the headline: CPU µs/req, lower is better)",
        &table::cost(rep),
    );
    push_table(&mut out, "What the clients got", &table::service(rep));
    push_table(
        &mut out,
        "Idle CPU and calls per request (the IO models' costs)",
        &table::models(rep),
    );
    if let Some(t) = table::ratios(rep) {
        push_table(&mut out, "Ratios", &t);
    }
    push_list(&mut out, "Warnings", "warnings", &table::warnings(rep));
    push_list(
        &mut out,
        "What the columns mean",
        "legend",
        &table::legend(rep),
    );
    out
}

/// The whole page.
///
/// ```
/// use mayfly_clients::report::{html, svg, Report, Row};
/// let rep = Report {
///     rows: vec![Row { build: "epoll".into(), connections: 10, requests: 50, rps: 5.0, ..Row::default() }],
///     ..Report::default()
/// };
/// let page = html::render(&rep);
/// assert!(page.contains(&svg::render(&rep)));
/// assert!(page.contains("<tr><td>epoll</td><td>10</td><td>0.00</td>"));
/// ```
pub fn render(rep: &Report) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>mayfly compare</title>\n<style>\n\
         body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }}\n\
         .headline {{ font-size: 18px; font-weight: 600; margin: 8px 0 12px; }}\n\
         .verdict {{ border-left: 4px solid #1b9e77; padding: 4px 12px; background: #f4faf8; }}\n\
         .verdict h2 {{ margin: 6px 0; font-size: 16px; }} .verdict p {{ margin: 4px 0; }}\n\
         .meta {{ color: #555; }}\n\
         table {{ border-collapse: collapse; margin: 12px 0; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}\n\
         th:first-child, td:first-child {{ text-align: left; }}\n\
         .warnings li {{ color: #a33; }}\n\
         .chart svg {{ max-width: 100%; height: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>mayfly compare</h1>\n{}\
         <div class=\"chart\">\n{}\n</div>\n{}</body>\n</html>\n",
        verdict(rep),
        svg::render(rep),
        body(rep)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{markdown, Row, Verdict};

    #[test]
    fn the_page_carries_the_verdict_the_tables_and_every_markdown_figure() {
        let rep = Report {
            verdict: Verdict {
                conclusive: true,
                headline: "coroutine <won>.".into(),
                lines: vec!["At 10 connections <coroutine> won.".into()],
                ..Verdict::default()
            },
            rows: vec![Row {
                build: "epoll".into(),
                connections: 10,
                requests: 50,
                rps: 5.0,
                warnings: vec!["fd limit reached".into()],
                ..Row::default()
            }],
            ..Report::default()
        };
        let page = render(&rep);
        assert!(page.contains(
            "<h2>Verdict: conclusive</h2>\n<p>At 10 connections &lt;coroutine&gt; won.</p>"
        ));
        assert!(page.contains("<p class=\"headline\" id=\"headline\">coroutine &lt;won&gt;.</p>"));
        assert!(page.find("id=\"headline\"").unwrap() < page.find("class=\"verdict\"").unwrap());
        assert!(page.find("class=\"verdict\"").unwrap() < page.find("<svg").unwrap());
        assert!(page.contains("<p class=\"meta\">Run unknown by mayfly"));
        assert!(page.contains("<li>epoll @ 10: fd limit reached</li>"));
        // Every table cell of the Markdown is in the page.
        for line in markdown::render(&rep)
            .lines()
            .filter(|l| l.starts_with("| "))
        {
            for cell in line.trim_matches('|').split('|').map(str::trim) {
                assert!(page.contains(&format!(">{}<", escape(cell))), "{cell}");
            }
        }
    }
}
