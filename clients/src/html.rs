//! report.html: the compare report as one self-contained page — the same chart as
//! report.svg, inline, and the same tables as report.md. No external assets.

use crate::compare::{markdown, Report};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Turns the Markdown of [`markdown`] (paragraphs and pipe tables) into HTML.
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

/// The whole page.
pub fn report_html(rep: &Report) -> String {
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
        crate::chart::svg(rep),
        tables_to_html(&markdown(rep))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_tables_become_html_tables() {
        let html = tables_to_html("title line\n\n| a | b |\n|---|---:|\n| 1 | <2> |\n");
        assert_eq!(
            html,
            "<p>title line</p>\n<table>\n<tr><th>a</th><th>b</th></tr>\n<tr><td>1</td><td>&lt;2&gt;</td></tr>\n</table>\n"
        );
    }
}
