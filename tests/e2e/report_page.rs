//! The compare report read as a newcomer reads it: report.html's first screen (1400×900 in
//! headless Chromium) holds the plain-words headline and a chart with its colour key, and
//! report.json carries its schema version, the metadata and `null` for what is unknown.

use crate::util::{chromium, mayfly};

/// Chromium's window and time for the report's first screen.
const REPORT_FLAGS: [&str; 2] = ["--window-size=1400,900", "--virtual-time-budget=2000"];

/// A quick two-build compare into `dir`: report.html, report.json.
fn quick_report(dir: &std::path::Path) {
    let out = mayfly()
        .args([
            "compare",
            "--quick",
            "--duration",
            "1s",
            "--connections",
            "20",
            "--builds",
            "coroutine,threads",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The plan first, then one line per run, on stderr.
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("compare: ")).collect();
    assert!(
        lines[0].starts_with("compare: 2 runs (2 builds × 1 connection count × 1 round), about "),
        "{err}"
    );
    assert!(
        lines[1].starts_with("compare: run 1/2 · coroutine, 20 connections"),
        "{err}"
    );
    assert!(lines[2].ends_with("· done"), "{err}");
    assert_eq!(lines.len(), 3, "{err}");
}

#[test]
fn report_json_has_its_schema_the_metadata_and_nulls_for_the_unknown() {
    let dir = tempfile::tempdir().unwrap();
    quick_report(dir.path());
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(j["schema_version"], 2, "{j}");
    let meta = &j["meta"];
    assert!(meta["date"].as_str().unwrap().ends_with('Z'), "{meta}");
    assert_eq!(meta["mayfly_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        meta["kernel"].as_str().unwrap().starts_with("Linux "),
        "{meta}"
    );
    let cmd = meta["command_line"].as_str().unwrap();
    assert!(cmd.contains("compare --quick --duration 1s"), "{cmd}");
    // A git checkout records its commit; a tarball says null, never a made-up value.
    assert!(meta["git_commit"].is_string() || meta["git_commit"].is_null());
    // One round: its spread is unknown.
    for row in j["rows"].as_array().unwrap() {
        assert!(row["spread_pct"].is_null(), "{row}");
    }
    assert!(j["verdict"]["headline"]
        .as_str()
        .unwrap()
        .contains("not conclusive"));
}

#[test]
fn the_first_screen_shows_the_headline_and_a_keyed_chart() {
    let Some(bin) = chromium::or_skip("the_first_screen_shows_the_headline_and_a_keyed_chart")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    quick_report(dir.path());
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    // Where things are laid out, written into the DOM by a script added to a copy of the
    // page (the report itself has none): the headline's and the first chart's key's bottom
    // edges, and the viewport's height.
    let probe = r#"<script>
const bottom = e => Math.round(e.getBoundingClientRect().bottom);
const h = document.getElementById('headline');
const keys = [...document.querySelectorAll('svg g.key')].slice(0, 2);
const line = document.querySelector('svg polyline');
document.body.setAttribute('data-probe',
  'viewport=' + window.innerHeight + ';headline=' + bottom(h) + ';text=' + h.textContent.length +
  ';line=' + bottom(line) + ';keys=' + keys.map(k => k.dataset.build + ':' + bottom(k)).join(','));
</script></body>"#;
    let probed = dir.path().join("probed.html");
    std::fs::write(&probed, page.replace("</body>", probe)).unwrap();
    let dom = chromium::headless(bin, &dir.path().join("p1"), &REPORT_FLAGS)
        .arg("--dump-dom")
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let probe = dom
        .split("data-probe=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("the probe did not run: {dom}"));
    let field = |k: &str| -> &str {
        probe
            .split(';')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing in {probe}"))
    };
    let num = |k: &str| field(k).parse::<i64>().unwrap();
    // --dump-dom lays the page out in a viewport a little shorter than the window (the
    // screenshot below is the full 1400×900): whichever is shorter is the first screen.
    let screen = num("viewport").min(900);
    assert!(screen > 600, "{probe}");
    assert!(num("text") > 40, "the headline is a sentence: {probe}");
    assert!(num("headline") < screen, "{probe}");
    assert!(num("line") < screen, "the first chart's line: {probe}");
    let keys: Vec<(&str, i64)> = field("keys")
        .split(',')
        .map(|k| {
            let (b, y) = k.split_once(':').unwrap();
            (b, y.parse().unwrap())
        })
        .collect();
    assert_eq!(
        keys.iter().map(|k| k.0).collect::<Vec<_>>(),
        ["coroutine", "threads"],
        "{probe}"
    );
    assert!(keys.iter().all(|k| k.1 < screen), "{probe}");

    // And what it looks like: both builds' colours are on the first screen.
    let shot = dir.path().join("report.png");
    let st = chromium::headless(bin, &dir.path().join("p2"), &REPORT_FLAGS)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!(
            "file://{}",
            dir.path().join("report.html").display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut img = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut img).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    assert_eq!((w, h), (1400, 900));
    let near = |p: &[u8], c: [i32; 3]| (0..3).all(|i| (p[i] as i32 - c[i]).abs() < 30);
    let (mut green, mut orange) = (0, 0);
    for px in img.chunks(channels).take(w * h) {
        green += usize::from(near(px, [0x1b, 0x9e, 0x77]));
        orange += usize::from(near(px, [0xd9, 0x5f, 0x02]));
    }
    assert!(
        green > 100 && orange > 100,
        "coroutine {green}, threads {orange} pixels"
    );
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("mayfly-report.png"));
}

#[test]
fn the_temporary_log_is_removed_after_a_sweep_where_nothing_failed() {
    let out = mayfly()
        .args([
            "compare",
            "--quick",
            "--duration",
            "500ms",
            "--connections",
            "5",
            "--builds",
            "coroutine,threads",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Under --json the progress is still there, on stderr; stdout is the report alone.
    let err = String::from_utf8_lossy(&out.stderr);
    let log = err
        .lines()
        .find_map(|l| l.split("server and client log lines in ").nth(1))
        .unwrap_or_else(|| panic!("no plan line: {err}"));
    assert!(log.contains("mayfly-compare-"), "{log}");
    assert!(!std::path::Path::new(log).exists(), "{log} left behind");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["settings"]["log"].is_null(), "{}", j["settings"]);
}
