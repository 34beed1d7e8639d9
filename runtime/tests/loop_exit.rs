//! gevent's LoopExit: `mayfly::run`'s main greenlet waiting on something nothing can wake is
//! told so instead of hanging. No libtest harness (`harness = false`): libtest runs a test in
//! a thread of its own while its main thread waits, and a thread mayfly cannot account for
//! rightly turns the check off. So `main` runs this binary again as a child, whose one
//! thread calls `mayfly::run`, and checks what it printed.

mod util;

use std::time::Duration;

const CHILD: &str = "MAYFLY_LOOP_EXIT_CHILD";

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The child: waits that something does wake run to the end, then one nothing can wake.
fn child_waits() {
    mayfly::run(|| {
        // Woken by another greenlet, by a thread-pool job, by a child process's exit, by a
        // Timeout: none of these is a LoopExit.
        let ev = std::sync::Arc::new(mayfly::event::Event::new());
        let e2 = ev.clone();
        mayfly::spawn(move || {
            mayfly::sleep(Duration::from_millis(20));
            e2.set();
        });
        ev.wait(None);
        assert_eq!(
            mayfly::threadpool::apply(|| {
                std::thread::sleep(Duration::from_millis(20));
                7
            }),
            Ok(7)
        );
        let mut child = mayfly::subprocess::Command::new("sleep")
            .arg("0.05")
            .spawn()
            .unwrap();
        assert!(child.wait().unwrap().success());
        let never = mayfly::event::Event::new();
        assert!(mayfly::with_timeout(Duration::from_millis(20), || never.wait(None)).is_err());
        println!("controls done");
        // Nothing else is left: an empty queue nobody else holds.
        let q: mayfly::queue::Queue<u32> = mayfly::queue::Queue::unbounded();
        q.get();
        println!("unreachable");
    });
}

fn main() {
    if in_child() {
        child_waits();
        return;
    }
    // The child's main ignores the libtest arguments run_child passes.
    let run = util::run_child("", CHILD, Duration::from_secs(60));
    let (stdout, stderr) = (run.stdout, run.stderr);
    let status = run
        .status
        .unwrap_or_else(|| panic!("hung until the watchdog: {stdout}\n{stderr}"));
    assert!(stdout.contains("controls done"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("unreachable"), "{stdout}");
    assert!(!status.success(), "{status}");
    assert!(
        stderr.contains("LoopExit") && stderr.contains("\"main\""),
        "{stderr}"
    );
    println!(
        "loop_exit: the stuck main greenlet got LoopExit ({status}, {:.1?})",
        run.took
    );
}
