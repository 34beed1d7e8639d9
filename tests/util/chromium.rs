//! Headless Chromium for the suites that look at a page as a browser draws it (the compare
//! report, the stats dashboard): where Debian's Chromium is, a test's skip without it, and
//! the command line both use.

use std::path::Path;
use std::process::{Command, Stdio};

/// Debian's Chromium (.ci/run installs it), or `None` after a visible `SKIPPED test: …` line
/// where it is missing. On CI (`CI` set to `true` or `1`) its absence fails the test.
pub fn or_skip(test: &str) -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        let why = "Chromium is not installed (apt-get install chromium; .ci/run does this)";
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{test} needs Chromium on CI: {why}");
        }
        // Written to the stderr handle itself, which the test harness does not capture
        // (eprintln! would be hidden).
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    }
    found
}

/// `bin` headless with a fresh profile in `profile`, no sandbox, GPU, first-run page,
/// background traffic or scrollbars, then the test's own `flags` (window size, virtual
/// time budget, …); stderr discarded.
pub fn headless(bin: &str, profile: &Path, flags: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .args(flags)
    .arg(format!("--user-data-dir={}", profile.display()))
    .stderr(Stdio::null());
    c
}
