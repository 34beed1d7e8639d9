//! The loop monitor names the greenlet that blocks the worker, and stays quiet while
//! greenlets merely keep it busy by switching. (Own test binary: the monitor is per process.)

use std::time::Duration;

#[test]
fn a_greenlet_blocking_the_worker_is_named_and_busy_switching_is_not() {
    // On through the builder, before first use.
    mayfly::Config::new()
        // 200 ms, not less: a loaded test machine can deschedule the worker for tens of
        // milliseconds, which would be reported as a block.
        .monitor(Some(Duration::from_millis(200)))
        .start()
        .unwrap();
    mayfly::run(|| {
        // Busy but cooperative: 200 greenlets yielding for 300 ms — nothing to report.
        let t = std::time::Instant::now();
        let gs: Vec<_> = (0..200)
            .map(|_| {
                mayfly::spawn(move || {
                    while t.elapsed() < Duration::from_millis(300) {
                        mayfly::yield_now();
                    }
                })
            })
            .collect();
        mayfly::joinall(&gs, Default::default()).unwrap();
    });
    assert!(
        mayfly::monitor::reports().is_empty(),
        "{:?}",
        mayfly::monitor::reports()
    );
    // A blocking call on the worker: the other greenlets stop, and it is named.
    let g = mayfly::Builder::new()
        .name("calls-std-sleep")
        .spawn(|| std::thread::sleep(Duration::from_millis(600)))
        .unwrap();
    g.join(None);
    std::thread::sleep(Duration::from_millis(250));
    let reports = mayfly::monitor::reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].greenlet, "calls-std-sleep");
    assert_eq!(reports[0].id, g.id());
    assert!(reports[0].blocked_for >= Duration::from_millis(200));
}
