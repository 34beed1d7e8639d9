//! The report as a dependency-free SVG chart (report.svg, and inline in report.html):
//! requests/s and server CPU per request against connections, one line per build.

use std::fmt::Write;

use super::{Report, Row};

const W: f64 = 460.0;
const H: f64 = 300.0;
const PAD_L: f64 = 70.0;
const PAD_B: f64 = 45.0;
const PAD_T: f64 = 35.0;
const PAD_R: f64 = 30.0;

fn color(build: &str) -> &'static str {
    match build {
        "coroutine" => "#1b9e77",
        "threads" => "#d95f02",
        "epoll" => "#7570b3",
        _ => "#666666",
    }
}

/// Renders the report's two panels side by side as an SVG document.
///
/// ```
/// use mayfly_clients::report::{svg, Report, Row, Settings};
/// use mayfly_clients::stress::ClientMode;
/// let rep = Report {
///     rows: vec![Row { build: "epoll".into(), connections: 10, rps: 5.0, cpu_us_per_req: 2.0, ..Row::default() }],
///     runs: vec![],
///     ratios: vec![],
///     settings: Settings { duration_s: 1.0, repeat: 1, pin: false, client: ClientMode::Threads, cpus: 2 },
/// };
/// let svg = svg::render(&rep);
/// assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
/// ```
pub fn render(rep: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">"#,
        2.0 * W,
        H + 30.0
    );
    s.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(&mut s, rep, 0.0, "requests/s", |r| r.rps);
    panel(&mut s, rep, W, "server CPU µs per request", |r| {
        r.cpu_us_per_req
    });
    // Legend.
    let mut builds: Vec<&str> = rep.rows.iter().map(|r| r.build.as_str()).collect();
    builds.sort();
    builds.dedup();
    for (i, b) in builds.iter().enumerate() {
        let x = 80.0 + i as f64 * 130.0;
        let _ = write!(
            s,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{c}" stroke-width="3"/><text x="{}" y="{}">{b}</text>"#,
            x + 25.0,
            x + 30.0,
            H + 24.0,
            y = H + 20.0,
            c = color(b)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, rep: &Report, x0: f64, title: &str, value: impl Fn(&Row) -> f64) {
    let pts: Vec<(&Row, f64)> = rep
        .rows
        .iter()
        .map(|r| (r, value(r)))
        .filter(|(r, v)| *v > 0.0 && r.connections > 0)
        .collect();
    let _ = write!(
        s,
        r#"<text x="{}" y="20" font-size="14" font-weight="bold">{title}</text>"#,
        x0 + PAD_L
    );
    if pts.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}">no data</text>"#,
            x0 + W / 2.0,
            H / 2.0
        );
        return;
    }
    let (cmin, cmax) = pts.iter().fold((f64::MAX, 0f64), |(a, b), (r, _)| {
        let c = r.connections as f64;
        (a.min(c), b.max(c))
    });
    let vmax = pts.iter().fold(0f64, |m, (_, v)| m.max(*v)) * 1.1;
    // Connections on a log scale (sweeps are usually 500, 2000, 10000).
    let lx = |c: f64| {
        let (a, b) = (cmin.ln(), cmax.ln());
        let f = if b > a { (c.ln() - a) / (b - a) } else { 0.5 };
        x0 + PAD_L + f * (W - PAD_L - PAD_R)
    };
    let ly = |v: f64| PAD_T + (1.0 - v / vmax) * (H - PAD_T - PAD_B);
    let (left, right, top, bottom) = (x0 + PAD_L, x0 + W - PAD_R, PAD_T, H - PAD_B);
    let _ = write!(
        s,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        right - left,
        bottom - top
    );
    for i in 0..=4 {
        let v = vmax * i as f64 / 4.0;
        let y = ly(v);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 5.0,
            y + 4.0,
            short(v)
        );
    }
    let mut counts: Vec<u64> = pts.iter().map(|(r, _)| r.connections).collect();
    counts.sort_unstable();
    counts.dedup();
    for c in &counts {
        let x = lx(*c as f64);
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{c}</text>"#,
            bottom + 16.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">connections</text>"#,
        (left + right) / 2.0,
        bottom + 32.0
    );
    let mut builds: Vec<&str> = pts.iter().map(|(r, _)| r.build.as_str()).collect();
    builds.sort();
    builds.dedup();
    for b in builds {
        let mut line: Vec<(f64, f64)> = pts
            .iter()
            .filter(|(r, _)| r.build == b)
            .map(|(r, v)| (lx(r.connections as f64), ly(*v)))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        let p: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2.5"/>"#,
            p.join(" "),
            c = color(b)
        );
        for (x, y) in line {
            let _ = write!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}"/>"#,
                color(b)
            );
        }
    }
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
