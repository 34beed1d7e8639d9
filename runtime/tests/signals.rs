//! Signals delivered to greenlets (gevent's `signal_handler`). Its own test binary: signal
//! dispositions are process-wide.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mayfly::signal::{signal_handler, Signals};

fn raise(sig: i32) {
    // SAFETY: raise(3) sends `sig` to this process; every test catches it first.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

#[test]
fn signals_are_read_in_order_by_a_parked_greenlet_while_others_run() {
    mayfly::run(|| {
        let mut signals = Signals::new(&[libc::SIGUSR1, libc::SIGHUP]).unwrap();
        let reader = mayfly::spawn(move || {
            let a = signals.recv().unwrap();
            let b = signals.recv().unwrap();
            (a, b)
        });
        // The reader parks; the worker goes on with this greenlet.
        mayfly::sleep(Duration::from_millis(20));
        assert!(!reader.ready());
        raise(libc::SIGHUP);
        mayfly::sleep(Duration::from_millis(5));
        raise(libc::SIGUSR1);
        assert_eq!(reader.get(), Ok((libc::SIGHUP, libc::SIGUSR1)));
    });
}

#[test]
fn a_handler_runs_in_a_greenlet_per_delivery_may_block_and_stops_when_dropped() {
    mayfly::run(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let handler = signal_handler(libc::SIGUSR2, move || {
            mayfly::sleep(Duration::from_millis(1)); // a handler may block
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        for _ in 0..3 {
            raise(libc::SIGUSR2);
            mayfly::sleep(Duration::from_millis(20));
        }
        let t = std::time::Instant::now();
        while calls.load(Ordering::SeqCst) < 3 && t.elapsed() < Duration::from_secs(5) {
            mayfly::sleep(Duration::from_millis(5));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        handler.cancel();
        // A second handler for the same signal: only it runs now (the first one is gone;
        // with none left, SIGUSR2's default action would end the test process).
        let second = Arc::new(AtomicUsize::new(0));
        let s = second.clone();
        let _h = signal_handler(libc::SIGUSR2, move || {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        raise(libc::SIGUSR2);
        let t = std::time::Instant::now();
        while second.load(Ordering::SeqCst) < 1 && t.elapsed() < Duration::from_secs(5) {
            mayfly::sleep(Duration::from_millis(5));
        }
        mayfly::sleep(Duration::from_millis(20));
        assert_eq!(
            (calls.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
            (3, 1)
        );
    });
}

#[test]
fn signals_that_cannot_be_caught_are_refused() {
    mayfly::run(|| {
        for sig in [libc::SIGKILL, libc::SIGSTOP, 300] {
            let e = Signals::new(&[sig]).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{sig}: {e}");
        }
    });
}
