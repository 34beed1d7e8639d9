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
        // The reaper drops its copy of a pidfd right after reaping; give it that moment.
        mayfly::sleep(ms(50));
        let after = mayfly::process::fd_count(std::process::id()).unwrap();
        assert_eq!(before, after, "fds leaked");
    });
}
