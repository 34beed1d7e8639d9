//! A greenlet that overflows its stack stops the process, as it did before the patched
//! generator stopped writing a sentinel at the bottom of every stack (vendor/generator/
//! PATCHED.md): the guard page catches the overflow, and may's end-of-coroutine check must
//! still see the stack as full instead of pooling it with its frames abandoned.
//!
//! The overflow runs in a child process (this test binary again, with [`CHILD_ENV`] set),
//! which a watchdog ends by its PID if it neither exits nor finishes.

use std::time::Duration;

mod util;

const CHILD_ENV: &str = "MAYFLY_STACK_OVERFLOW_CHILD";
const WATCHDOG: Duration = Duration::from_secs(60);

#[inline(never)]
fn deep(n: u64) -> u64 {
    let pad = std::hint::black_box([n as u8; 512]);
    if n == 0 {
        return pad[0] as u64;
    }
    deep(n - 1) + std::hint::black_box(pad[1]) as u64
}

#[test]
fn a_stack_overflow_in_a_greenlet_stops_the_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let g = mayfly::Builder::new()
            .name("deep-recursion")
            .spawn(|| deep(1_000_000))
            .unwrap();
        let _ = g.join(Some(Duration::from_secs(5)));
        mayfly::sleep(Duration::from_millis(200));
        println!("stack-overflow child: survived the overflow");
        return;
    }
    let run = util::run_child(
        "a_stack_overflow_in_a_greenlet_stops_the_process",
        CHILD_ENV,
        WATCHDOG,
    );
    let (out, err) = (&run.stdout, &run.stderr);
    let status = run
        .status
        .unwrap_or_else(|| panic!("the child hung\nstdout:\n{out}\nstderr:\n{err}"));
    assert!(
        !out.contains("survived"),
        "the process went on after a greenlet overflowed its stack ({status})\nstderr:\n{err}"
    );
    assert!(!status.success(), "{status} after {:?}", run.took);
    assert!(err.contains("overflow"), "no word of the overflow:\n{err}");
    assert!(
        err.contains("\"deep-recursion\" used all") && err.contains("bytes of its stack"),
        "the overflow names the greenlet and gives its size in bytes (vendor/may/PATCHED.md):\n{err}"
    );
}
