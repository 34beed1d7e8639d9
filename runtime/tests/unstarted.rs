//! Greenlets made without starting them (gevent's `Greenlet(f)` then `start()` or
//! `start_later(d)`), and `unlink_all`: ported from gevent's src/gevent/tests/test__greenlet.py
//! (TestStart, TestStartLater, test_kill_before_start, test_unlink_all) where it applies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::queue::Queue;
use mayfly::{Greenlet, GreenletError};

#[test]
fn a_made_greenlet_runs_only_once_started_and_only_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    mayfly::run(move || {
        let r2 = r.clone();
        let g = Greenlet::new(move || r2.fetch_add(1, Ordering::SeqCst) + 1);
        mayfly::sleep(Duration::from_millis(20));
        assert_eq!(r.load(Ordering::SeqCst), 0, "not run before start");
        assert!(!g.started() && !g.ready());
        assert!(
            !g.join(Duration::from_millis(20)),
            "a join waits until it has run"
        );
        g.start().unwrap();
        assert!(g.started());
        g.start().unwrap(); // gevent: start on a started greenlet does nothing
        assert_eq!(g.get(), Ok(1));
        g.start().unwrap();
        mayfly::sleep(Duration::from_millis(20));
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn links_added_before_the_start_run_after_it() {
    mayfly::run(|| {
        let seen = Arc::new(Queue::unbounded());
        let g = mayfly::Builder::new().name("made").build(|| 5);
        assert_eq!(g.name(), "made");
        let s = seen.clone();
        g.link_value(move |g| s.put(g.value()));
        g.start().unwrap();
        assert_eq!(seen.get_timeout(Duration::from_secs(5)), Ok(Some(5)));
    });
}

#[test]
fn killed_before_its_start_it_never_runs_and_its_joiners_and_links_see_it() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    mayfly::run(move || {
        let r2 = r.clone();
        let g = Greenlet::new(move || {
            r2.fetch_add(1, Ordering::SeqCst);
        });
        let failures = Arc::new(Queue::unbounded());
        let f = failures.clone();
        g.link_exception(move |g| f.put(g.exception().map(|e| e.to_string())));
        let joiner = {
            let g = g.clone();
            mayfly::spawn(move || g.join(Duration::from_secs(5)))
        };
        mayfly::yield_now(); // the joiner waits
        g.kill_with("not wanted");
        assert!(g.ready() && !g.successful() && g.started());
        assert!(matches!(
            g.exception(),
            Some(GreenletError::Killed { reason: Some(ref r), .. }) if r == "not wanted"
        ));
        assert_eq!(joiner.get(), Ok(true), "the joiner was woken");
        let msg = failures
            .get_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert!(msg.ends_with("was killed: not wanted"), "{msg}");
        g.start().unwrap(); // too late: a no-op
        mayfly::sleep(Duration::from_millis(20));
    });
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the body never ran");
}

#[test]
fn start_later_waits_and_a_kill_in_the_delay_stops_the_body() {
    mayfly::run(|| {
        let t = Instant::now();
        let late = Greenlet::new(|| 1);
        late.start_later(Duration::from_millis(50)).unwrap();
        assert!(late.started() && !late.ready());
        assert_eq!(late.get(), Ok(1));
        assert!(t.elapsed() >= Duration::from_millis(50));

        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let never = Greenlet::new(move || r.fetch_add(1, Ordering::SeqCst));
        never.start_later(Duration::from_secs(30)).unwrap();
        let t = Instant::now();
        never.kill();
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the kill ends the delay"
        );
        assert!(matches!(
            never.exception(),
            Some(GreenletError::Killed { .. })
        ));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn a_group_holding_an_unstarted_greenlet_is_emptied_by_its_kill() {
    mayfly::run(|| {
        let group = mayfly::pool::Group::new();
        let g = Greenlet::new(|| 1);
        group.add(&g);
        drop(g); // only the group holds it now
        assert_eq!(group.len(), 1);
        group.kill();
        assert!(
            group.join(Some(Duration::from_secs(5))),
            "the group is empty"
        );

        let kept = Greenlet::new(|| 2);
        group.add(&kept);
        mayfly::killall(std::slice::from_ref(&kept), mayfly::KillAll::default());
        assert!(kept.ready());
        assert!(group.join(Some(Duration::from_secs(5))));
    });
}

#[test]
fn unlink_all_removes_every_callback_not_run_yet() {
    mayfly::run(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let g = Greenlet::new(|| 1);
        for _ in 0..3 {
            let c = calls.clone();
            g.link(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(g.unlink_all(), 3);
        assert_eq!(g.unlink_all(), 0);
        let c = calls.clone();
        g.link(move |_| {
            c.fetch_add(10, Ordering::SeqCst);
        });
        g.start().unwrap();
        assert_eq!(g.get(), Ok(1));
        mayfly::sleep(Duration::from_millis(50));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            10,
            "only the callback linked after"
        );

        // A group's own link stays: the group still sees the member leave.
        let group = mayfly::pool::Group::new();
        let m = Greenlet::new(|| 3);
        group.add(&m);
        assert_eq!(m.unlink_all(), 0);
        m.start().unwrap();
        assert!(group.join(Some(Duration::from_secs(5))));
    });
}
