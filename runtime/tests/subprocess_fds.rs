//! `mayfly::subprocess` leaks no file descriptor: gevent's `test__subprocess.py` `test_leak`.
//! Its own test binary: it counts the whole process's fds, which the other subprocess tests,
//! running in parallel threads, would change under it.

use std::time::Duration;

use mayfly::subprocess::{Command, Stdio};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

#[test]
fn test_leak() {
    mayfly::run(|| {
        // Warm up: the reaper's epoll fd and may's reactor are opened once.
        sh("true").stdout(Stdio::piped()).output().unwrap();
        let before = mayfly::process::fd_count(std::process::id()).unwrap();
        for _ in 0..5 {
            let mut p = sh("echo").stdout(Stdio::piped()).spawn().unwrap();
            p.wait().unwrap();
            drop(p.stdout.take());
            drop(p);
        }
        // The reaper drops its copy of a pidfd just after it wakes the waiter, on its own
        // thread: on a loaded machine that comes late, so either count may still hold one
        // child's pidfd (a CI run saw `before` one higher than `after`). A leak never closes
        // and there is one per spawn: wait for the count to come back to `before` or under,
        // up to a bound far past any scheduling delay.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut after = mayfly::process::fd_count(std::process::id()).unwrap();
        while after > before && std::time::Instant::now() < deadline {
            mayfly::sleep(ms(20));
            after = mayfly::process::fd_count(std::process::id()).unwrap();
        }
        assert!(
            after <= before,
            "fds leaked: {before} before 5 children, {after} after"
        );
    });
}
