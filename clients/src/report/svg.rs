//! The report as dependency-free SVG charts (report.svg, and inline in report.html): server
//! CPU per request, requests per server core-second, latency (p50 solid, p99 dashed),
//! fairness and memory per connection, each against connections, one line per build. Each
//! chart carries its own colour key; each point its rounds' spread (a min–max bar, when
//! there are two rounds or more); a chart whose builds all lie on one line says so. Axis
//! ticks fall on round values. The document has a `viewBox`, so it scales to its container.

use std::fmt::Write;

use mayfly_proto::echo::Mode;

use super::model::{Report, Row};

const W: f64 = 460.0;
const H: f64 = 300.0;
const PAD_L: f64 = 70.0;
const PAD_B: f64 = 45.0;
const PAD_T: f64 = 55.0;
const PAD_R: f64 = 30.0;
/// Charts per row of the grid.
const ACROSS: usize = 2;

/// One colour per build of the registry, in its order ([`Mode::every`]); a build of another
/// kind (`Serves::Http`) takes the colour of the echo build of its name.
const PALETTE: [&str; 16] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4",
    "#e31a1c", "#6a3d9a", "#b15928", "#33a02c", "#fb9a99", "#cab2d6", "#b2df8a", "#ff7f00",
];
/// The colour of anything else: `coroutine×N`, or a build past the palette.
const OTHER: &str = "#666666";

fn color(build: &str) -> &'static str {
    build
        .parse::<Mode>()
        .ok()
        .and_then(|m| Mode::every().position(|b| b == m))
        .and_then(|i| PALETTE.get(i).copied())
        .unwrap_or(OTHER)
}

/// One line of a chart: the figure it takes from a row, and whether it is dashed.
type Series = (fn(&Row) -> f64, bool);

/// One chart: a title and the series it draws from each row.
struct Chart {
    title: &'static str,
    series: &'static [Series],
    log_y: bool,
}

const CHARTS: &[Chart] = &[
    Chart {
        title: "server CPU µs per request (lower is better)",
        series: &[(|r| r.cpu_us_per_req, false)],
        log_y: false,
    },
    Chart {
        title: "requests per server core-second (higher is better)",
        series: &[(|r| r.req_per_core_s, false)],
        log_y: false,
    },
    Chart {
        title: "latency µs: p50 solid, p99 dashed (log scale)",
        series: &[(|r| r.p50_us as f64, false), (|r| r.p99_us as f64, true)],
        log_y: true,
    },
    Chart {
        title: "fairness, Jain's index (1 = every connection alike)",
        series: &[(|r| r.fairness.jain, false)],
        log_y: false,
    },
    Chart {
        title: "server KiB per connection (lower is better)",
        series: &[(|r| r.rss_per_conn_kib, false)],
        log_y: false,
    },
];

/// Renders every chart in a grid, with one legend, as an SVG document.
///
/// ```
/// use mayfly_clients::report::{svg, Report, Row};
/// let rep = Report {
///     rows: vec![Row { build: "epoll".into(), connections: 10, requests: 5, rps: 5.0, cpu_us_per_req: 2.0, ..Row::default() }],
///     ..Report::default()
/// };
/// let svg = svg::render(&rep);
/// assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
/// ```
pub fn render(rep: &Report) -> String {
    let down = CHARTS.len().div_ceil(ACROSS);
    let (w, h) = (ACROSS as f64 * W, down as f64 * H);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#,
    );
    s.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, c) in CHARTS.iter().enumerate() {
        let (x0, y0) = ((i % ACROSS) as f64 * W, (i / ACROSS) as f64 * H);
        panel(&mut s, rep, x0, y0, c);
    }
    s.push_str("</svg>\n");
    s
}

/// The builds of `rows`, in report order.
fn builds_of<'a>(rows: &[&'a Row]) -> Vec<&'a str> {
    let mut builds: Vec<&str> = Vec::new();
    for r in rows {
        if !builds.contains(&r.build.as_str()) {
            builds.push(&r.build);
        }
    }
    builds
}

/// The colour key under a chart's title: a line of each build's colour and its name.
fn key(s: &mut String, builds: &[&str], x0: f64, y: f64) {
    let mut x = x0;
    for b in builds {
        let _ = write!(
            s,
            r#"<g class="key" data-build="{b}"><line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{b}</text></g>"#,
            x + 20.0,
            x + 24.0,
            y + 4.0,
            c = color(b)
        );
        x += 34.0 + 7.0 * b.chars().count() as f64;
    }
}

/// Below this relative difference (of the largest value) two builds' points count as one.
const OVERLAP: f64 = 0.02;

/// Whether every build has a point at every connection count and, for every series, all
/// builds' points lie within [`OVERLAP`] of each other: the chart shows one line for all.
fn all_overlap(rows: &[&Row], builds: &[&str], series: &[Series]) -> bool {
    if builds.len() < 2 {
        return false;
    }
    let mut counts: Vec<u64> = rows.iter().map(|r| r.connections).collect();
    counts.sort_unstable();
    counts.dedup();
    counts.iter().all(|&n| {
        let at: Vec<&&Row> = rows.iter().filter(|r| r.connections == n).collect();
        at.len() == builds.len()
            && series.iter().all(|(f, _)| {
                let v: Vec<f64> = at.iter().map(|r| f(r)).collect();
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
                hi <= 0.0 || (hi - lo) <= OVERLAP * hi
            })
    })
}

/// The lowest and highest of one figure over a build's measured rounds at `n` connections;
/// `None` below two rounds, or when they agree exactly.
fn round_range(rep: &Report, build: &str, n: u64, value: fn(&Row) -> f64) -> Option<(f64, f64)> {
    let v: Vec<f64> = rep
        .runs
        .iter()
        .filter(|r| r.build == build && r.connections == n && r.requests > 0)
        .map(value)
        .filter(|v| *v > 0.0)
        .collect();
    if v.len() < 2 {
        return None;
    }
    crate::sample::range(&v).filter(|(lo, hi)| hi > lo)
}

/// Round tick values from 0 to at least `max`: steps of 1, 2, 2.5 or 5 times a power of ten.
///
/// ```
/// use mayfly_clients::report::svg::ticks;
/// assert_eq!(ticks(9.43), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
/// assert_eq!(ticks(111_734.0), vec![0.0, 50_000.0, 100_000.0, 150_000.0]);
/// assert_eq!(ticks(0.99), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
/// ```
pub fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step - 1e-9).ceil() as usize;
    (0..=n.max(1)).map(|i| i as f64 * step).collect()
}

/// Powers of ten covering `lo..=hi` (for a log axis).
fn decades(lo: f64, hi: f64) -> Vec<f64> {
    let a = lo.max(1.0).log10().floor() as i32;
    let b = hi.max(1.0).log10().ceil().max(a as f64 + 1.0) as i32;
    (a..=b).map(|e| 10f64.powi(e)).collect()
}

fn panel(s: &mut String, rep: &Report, x0: f64, y0: f64, chart: &Chart) {
    let rows: Vec<&Row> = rep
        .rows
        .iter()
        .filter(|r| r.requests > 0 && r.connections > 0)
        .collect();
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        x0 + PAD_L - 40.0,
        y0 + 20.0,
        chart.title
    );
    let builds = builds_of(&rows);
    key(s, &builds, x0 + PAD_L - 40.0, y0 + 38.0);
    // The rounds' spread widens the axis too, so no bar leaves the plot.
    let spread: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            chart.series.iter().filter_map(move |(f, _)| {
                round_range(rep, &r.build, r.connections, *f).map(|(lo, hi)| [lo, hi])
            })
        })
        .flatten()
        .collect();
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| chart.series.iter().map(move |(f, _)| f(r)))
        .chain(spread)
        .filter(|v| *v > 0.0)
        .collect();
    if values.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}">no data</text>"#,
            x0 + W / 2.0,
            y0 + H / 2.0
        );
        return;
    }
    let (cmin, cmax) = rows.iter().fold((f64::MAX, 0f64), |(a, b), r| {
        let c = r.connections as f64;
        (a.min(c), b.max(c))
    });
    let vmax = values.iter().copied().fold(0f64, f64::max);
    let vmin = values.iter().copied().fold(f64::MAX, f64::min);
    let yticks = if chart.log_y {
        decades(vmin, vmax)
    } else {
        ticks(vmax)
    };
    let (tlo, thi) = (yticks[0], *yticks.last().expect("ticks are never empty"));
    let (left, right, top, bottom) = (x0 + PAD_L, x0 + W - PAD_R, y0 + PAD_T, y0 + H - PAD_B);
    // Connections on a log scale (sweeps are usually 500, 2000, 10000).
    let lx = |c: f64| {
        let (a, b) = (cmin.ln(), cmax.ln());
        let f = if b > a { (c.ln() - a) / (b - a) } else { 0.5 };
        left + f * (right - left)
    };
    let ly = |v: f64| {
        let f = if chart.log_y {
            (v.max(tlo).log10() - tlo.log10()) / (thi.log10() - tlo.log10())
        } else {
            (v - tlo) / (thi - tlo)
        };
        bottom - f * (bottom - top)
    };
    let _ = write!(
        s,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        right - left,
        bottom - top
    );
    for v in &yticks {
        let y = ly(*v);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 5.0,
            y + 4.0,
            short(*v)
        );
    }
    let mut counts: Vec<u64> = rows.iter().map(|r| r.connections).collect();
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
    if all_overlap(&rows, &builds, chart.series) {
        let _ = write!(
            s,
            r##"<text class="overlap" x="{:.1}" y="{:.1}" fill="#444">{}</text>"##,
            left + 8.0,
            top + 16.0,
            if builds.len() == 2 {
                "both builds overlap here: one line is both of them".to_string()
            } else {
                format!(
                    "all {} builds overlap here: one line is all of them",
                    builds.len()
                )
            }
        );
    }
    for &b in &builds {
        for (value, dashed) in chart.series {
            for r in rows.iter().filter(|r| r.build == b) {
                let Some((lo, hi)) = round_range(rep, b, r.connections, *value) else {
                    continue;
                };
                let x = lx(r.connections as f64);
                let (y1, y2) = (ly(lo), ly(hi));
                let _ = write!(
                    s,
                    r#"<path class="spread" d="M{x:.1},{y1:.1}V{y2:.1}M{:.1},{y1:.1}h8M{:.1},{y2:.1}h8" stroke="{c}" stroke-width="1.5" opacity="0.7" fill="none"/>"#,
                    x - 4.0,
                    x - 4.0,
                    c = color(b)
                );
            }
            let mut line: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.build == b && value(r) > 0.0)
                .map(|r| (lx(r.connections as f64), ly(value(r))))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let p: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2.5"{dash}/>"#,
                p.join(" "),
                c = color(b),
                dash = if *dashed {
                    r#" stroke-dasharray="6 4""#
                } else {
                    ""
                }
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
}

fn short(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if v >= 1e3 {
        format!("{}k", trim(format!("{:.2}", v / 1e3)))
    } else {
        trim(format!("{v:.2}"))
    }
}

#[cfg(test)]
mod tests {
    use mayfly_proto::builds::Serves;

    use super::*;

    #[test]
    fn every_build_has_its_own_colour() {
        // A report holds the builds of one kind (`Serves`); a name means one colour in all
        // of them (an HTTP build is coloured as the echo build of its name).
        for serves in Serves::ALL {
            let builds: Vec<Mode> = serves.builds().collect();
            let colours: Vec<&str> = builds.iter().map(|m| color(m.name())).collect();
            for (i, c) in colours.iter().enumerate() {
                assert_ne!(*c, OTHER, "{}: add a colour to PALETTE", builds[i]);
                assert!(!colours[..i].contains(c), "{c} twice");
            }
        }
        assert_eq!(color("coroutine"), "#1b9e77");
        assert_eq!(color("may"), "#66a61e");
        assert_eq!(color("coroutine×2"), OTHER);
    }

    #[test]
    fn tick_labels_are_round() {
        assert_eq!(short(150_000.0), "150k");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(1_250_000.0), "1.25M");
        assert_eq!(
            decades(40.0, 201_599.0),
            vec![10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
        );
    }

    #[test]
    fn every_chart_is_drawn() {
        let row = |b: &str, n: u64| Row {
            build: b.into(),
            connections: n,
            requests: 10,
            cpu_us_per_req: 5.0,
            req_per_core_s: 200_000.0,
            p50_us: 100,
            p99_us: 1000,
            rss_per_conn_kib: 8.0,
            fairness: crate::fairness::Fairness {
                jain: 0.9,
                ..Default::default()
            },
            ..Row::default()
        };
        let rep = Report {
            rows: vec![row("coroutine", 500), row("coroutine", 10000)],
            ..Report::default()
        };
        let svg = render(&rep);
        for c in CHARTS {
            assert!(svg.contains(c.title), "{}", c.title);
        }
        // One line per series: 5 charts, the latency chart with two.
        assert_eq!(svg.matches("<polyline").count(), 6);
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
        assert!(!svg.contains("no data"));
        // One build: a key on every chart, nothing overlaps, one round: no spread bars.
        assert_eq!(
            svg.matches(r#"<g class="key" data-build="coroutine">"#)
                .count(),
            5
        );
        assert!(!svg.contains("overlap") && !svg.contains("class=\"spread\""));
        assert!(svg.contains(r#"viewBox="0 0 920 900""#), "{}", &svg[..200]);
    }

    fn row(b: &str, n: u64, cpu: f64, jain: f64) -> Row {
        Row {
            build: b.into(),
            connections: n,
            requests: 10,
            cpu_us_per_req: cpu,
            fairness: crate::fairness::Fairness {
                jain,
                ..Default::default()
            },
            ..Row::default()
        }
    }

    #[test]
    fn builds_that_overlap_are_named_and_rounds_draw_their_spread() {
        let runs = vec![
            row("coroutine", 10, 4.0, 1.0),
            row("threads", 10, 9.0, 1.0),
            row("coroutine", 10, 6.0, 1.0),
            row("threads", 10, 11.0, 1.0),
        ];
        let rep = Report {
            rows: vec![
                row("coroutine", 10, 5.0, 1.0),
                row("threads", 10, 10.0, 1.0),
            ],
            runs,
            ..Report::default()
        };
        let svg = render(&rep);
        for b in ["coroutine", "threads"] {
            let key = format!(r#"<g class="key" data-build="{b}">"#);
            assert_eq!(svg.matches(&key).count(), CHARTS.len(), "{b}");
        }
        // Fairness is 1.00 for both: that chart alone says they overlap.
        assert_eq!(svg.matches(r#"class="overlap""#).count(), 1);
        assert!(svg.contains("both builds overlap here"));
        // CPU per request and req/core-s varied over the rounds: a bar per build on the first
        // chart (the others have no per-round figure but fairness, which did not vary).
        assert_eq!(svg.matches(r#"class="spread""#).count(), 2, "{svg}");
        assert!(!all_overlap(
            &rep.rows.iter().collect::<Vec<_>>(),
            &["coroutine", "threads"],
            CHARTS[0].series
        ));
    }
}
