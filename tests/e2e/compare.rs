//! `mayfly compare` stopped from outside: SIGTERM and SIGINT stop its servers and client,
//! write what was measured as a partial report and exit 143 / 130; SIGKILL takes its
//! children with it (they die with their parent). Processes are followed by PID through
//! `/proc` (a PID and its start time, so a reused PID is never taken for the old process).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::util::mayfly;

/// One process, as `/proc/PID/stat` tells it apart from a later one with the same PID.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Proc {
    pid: u32,
    start: u64,
}

impl Proc {
    /// The process `pid` if it runs (a zombie has ended: it only waits to be reaped).
    fn of(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name (in parentheses, may hold spaces): field 3, state, first;
        // field 22, the start time, 20 fields on.
        let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        if matches!(f.first(), Some(&"Z") | Some(&"X")) {
            return None;
        }
        Some(Proc {
            pid,
            start: f.get(19)?.parse().ok()?,
        })
    }

    fn alive(&self) -> bool {
        Proc::of(self.pid) == Some(*self)
    }
}

/// A `mayfly compare` child, its stdout and stderr in files under `dir`; on drop it, and
/// every descendant recorded with [`Compare::descendants`] that still runs, is killed.
struct Compare {
    child: Child,
    dir: PathBuf,
    seen: Vec<Proc>,
}

impl Compare {
    fn start(args: &[&str]) -> Compare {
        let dir = std::env::temp_dir().join(format!(
            "mayfly-compare-stop-{}-{}",
            std::process::id(),
            args.join("-").replace(['/', ' ', ','], "_")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = mayfly()
            .arg("compare")
            .args(args)
            .args(["--no-pin", "--out", dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout")).unwrap())
            .stderr(File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Compare {
            child,
            dir,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `within`) until compare has at least `n` live descendants, and
    /// records them.
    fn descendants(&mut self, n: usize, within: Duration) -> Vec<Proc> {
        let deadline = Instant::now() + within;
        loop {
            let now: Vec<Proc> = mayfly::process::tree(self.pid())
                .into_iter()
                .skip(1)
                .filter_map(Proc::of)
                .collect();
            for p in &now {
                if !self.seen.contains(p) {
                    self.seen.push(*p);
                }
            }
            if now.len() >= n {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "compare had {} descendants, not {n}, after {within:?}; stderr: {}",
                now.len(),
                self.file("stderr")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet (we hold it).
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, sig) }, 0);
    }

    /// Its exit status, waiting at most `within`.
    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "compare still runs {within:?} after the signal; stderr: {}",
                self.file("stderr")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A file of its output directory ("" if there is none).
    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Waits (at most `within`) until `name` in its output directory contains `text`.
    fn wait_for_text(&self, name: &str, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.file(name).contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in {name} after {within:?}: {}",
                self.file(name)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Compare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in self.seen.iter().filter(|p| p.alive()) {
            // SAFETY: kill(2) on a process this test's compare started, checked by PID and
            // start time just now to be that same process.
            unsafe { libc::kill(p.pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (at most `within`) until none of `procs` runs; the ones still running if some do.
fn gone_within(procs: &[Proc], within: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<Proc> = procs.iter().copied().filter(Proc::alive).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn compare_on_sigterm_stops_its_children_writes_a_partial_report_and_exits_143() {
    // Three runs of 1 s; SIGTERM once the second has started its server and client.
    let mut c = Compare::start(&[
        "--builds",
        "threads",
        "--connections",
        "10",
        "--duration",
        "1s",
        "--repeat",
        "3",
    ]);
    c.wait_for_text(
        "compare.log",
        "== threads, 10 connections, round 2 of 3 ==",
        Duration::from_secs(30),
    );
    let children = c.descendants(2, Duration::from_secs(10));
    c.signal(libc::SIGTERM);
    let t = Instant::now();
    let st = c.wait(Duration::from_secs(20));
    assert_eq!(st.code(), Some(143), "{st}; stderr: {}", c.file("stderr"));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // compare waited for them: none is left, not even for a moment.
    assert_eq!(gone_within(&children, Duration::ZERO), [], "{children:?}");

    let says = "partial: interrupted by SIGTERM after 1 of 3 runs";
    let md = c.file("report.md");
    assert!(md.contains(says), "{md}");
    assert!(c.file("report.html").contains(says));
    assert!(c.file("stdout").contains(says), "{}", c.file("stdout"));
    assert!(c.file("stderr").contains(says), "{}", c.file("stderr"));
    let j = json(&c.dir.join("report.json"));
    let p = &j["settings"]["partial"];
    assert_eq!(
        (&p["signal"], &p["runs"], &p["planned"]),
        (&15.into(), &1.into(), &3.into()),
        "{p}"
    );
    // The run measured before the signal is in the report; the one cut short is not.
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0]["requests"].as_u64().unwrap() > 0, "{}", runs[0]);
    assert!(j["verdict"]["lines"][0].as_str().unwrap().starts_with(says));
}

#[test]
fn compare_on_sigint_stops_its_children_and_exits_130() {
    let mut c = Compare::start(&[
        "--quick",
        "--builds",
        "threads",
        "--connections",
        "10",
        "--duration",
        "30s",
    ]);
    // The server and the stress client.
    let children = c.descendants(2, Duration::from_secs(20));
    c.signal(libc::SIGINT);
    let t = Instant::now();
    let st = c.wait(Duration::from_secs(20));
    assert_eq!(st.code(), Some(130), "{st}; stderr: {}", c.file("stderr"));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(gone_within(&children, Duration::ZERO), [], "{children:?}");
    let says = "partial: interrupted by SIGINT after 0 of 1 runs";
    assert!(c.file("stdout").contains(says), "{}", c.file("stdout"));
    assert!(c.file("report.md").contains(says));
}

#[test]
fn compare_killed_takes_its_children_with_it() {
    // A --workers server: the supervisor dies with compare, its workers with it.
    let mut c = Compare::start(&[
        "--quick",
        "--builds",
        "coroutine×2",
        "--connections",
        "10",
        "--duration",
        "30s",
    ]);
    // The supervisor, its two workers and the stress client.
    let all = c.descendants(4, Duration::from_secs(20));
    c.signal(libc::SIGKILL);
    let st = c.wait(Duration::from_secs(5));
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(9));
    let left = gone_within(&all, Duration::from_secs(10));
    assert_eq!(
        left,
        [],
        "still running after compare was killed: {left:?} of {all:?}"
    );
}
