//! `mayfly::wait_others` (gevent's `gevent.wait()` with no objects) waits for every greenlet
//! of the process: this binary holds one test, so no other test's greenlets are counted.

use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn wait_others_waits_for_every_other_greenlet_and_times_out_on_one_that_never_ends() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    mayfly::run(|| {
        let n = Arc::new(AtomicU32::new(0));
        for i in 0..5u64 {
            let n = n.clone();
            mayfly::spawn(move || {
                mayfly::sleep(ms(5 * i));
                let n2 = n.clone();
                // Spawned while the caller waits, and it sleeps: waited for too.
                mayfly::spawn(move || {
                    mayfly::sleep(ms(10));
                    n2.fetch_add(1, Ordering::Relaxed);
                });
                n.fetch_add(1, Ordering::Relaxed);
            });
        }
        let t = Instant::now();
        assert!(mayfly::wait_others(None));
        assert_eq!(n.load(Ordering::Relaxed), 10);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(mayfly::wait_others(Duration::ZERO), "nothing else: at once");

        let forever = mayfly::spawn(|| mayfly::sleep(Duration::from_secs(30)));
        let t = Instant::now();
        assert!(!mayfly::wait_others(ms(30)));
        assert!(t.elapsed() >= ms(29));
        forever.kill();
        assert!(mayfly::wait_others(Duration::from_secs(10)));
    });
    // From a plain thread: until none at all is left.
    let g = mayfly::spawn(|| mayfly::sleep(ms(20)));
    assert!(mayfly::wait_others(Duration::from_secs(10)));
    assert!(g.ready());
}
