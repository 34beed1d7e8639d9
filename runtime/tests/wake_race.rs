//! The wake-up race in may's `Park::subscribe` (vendor/may/PATCHED.md): a greenlet unparked
//! from another OS thread in the instant between its yield and may's re-check is resumed
//! inline; if it then runs to its end, the worker used to spin for ever in `Park::drop`.
//!
//! A hang cannot be caught inside the process that hangs (its one worker never comes back),
//! so the test runs the race in a child process, this same test binary re-run with
//! [`CHILD_ENV`] set, and kills it by its PID if it does not finish within the watchdog time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mayfly::event::Event;

mod util;

/// Set in the child process: run the race instead of supervising it.
const CHILD_ENV: &str = "MAYFLY_WAKE_RACE_CHILD";
/// Greenlets woken from another OS thread in the child. On may 0.3.51 as published the
/// worker spins long before this many (a few seconds in; measured in PATCHED.md's test).
const ROUNDS: u64 = 400_000;
/// Greenlets in flight at once (more of them waiting means more chances to hit the window).
const IN_FLIGHT: usize = 64;
/// The child reports how far it got this often, so a hang shows where it stopped.
const PROGRESS_EVERY: u64 = 25_600;
/// The child must finish within this; it takes a few seconds when nothing hangs.
const WATCHDOG: Duration = Duration::from_secs(90);

/// The race: every greenlet hands a fresh `Event` to a plain OS thread that sets it the
/// moment it sees it (spinning, not sleeping, so the set lands microseconds after the greenlet
/// parks), waits for it and ends at once. The setter drops its handle to the greenlet right
/// after the wake-up, so the greenlet's own stack holds the last one.
fn race() -> u64 {
    let (tx, rx) = mpsc::channel::<Arc<Event>>();
    let stop = Arc::new(AtomicBool::new(false));
    let setter = {
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match rx.try_recv() {
                    Ok(ev) => ev.set(),
                    Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(mpsc::TryRecvError::Disconnected) => break,
                }
            }
        })
    };
    let woken = mayfly::run(move || {
        let mut woken = 0u64;
        let mut spawned = 0u64;
        let mut batch = Vec::with_capacity(IN_FLIGHT);
        while spawned < ROUNDS {
            for _ in 0..IN_FLIGHT {
                let tx = tx.clone();
                batch.push(mayfly::spawn(move || {
                    let ev = Arc::new(Event::new());
                    tx.send(ev.clone()).expect("setter alive");
                    ev.wait(None)
                }));
                spawned += 1;
            }
            for g in batch.drain(..) {
                woken += u64::from(g.get() == Ok(true));
            }
            if spawned.is_multiple_of(PROGRESS_EVERY) {
                eprintln!("wake-race progress: {spawned}");
            }
        }
        woken
    });
    stop.store(true, Ordering::Relaxed);
    setter.join().expect("setter thread");
    woken
}

#[test]
fn greenlet_woken_while_parking_never_spins_the_worker() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let woken = race();
        assert_eq!(woken, ROUNDS, "every greenlet saw its event set");
        println!("wake-race child: {woken} greenlets woken");
        return;
    }
    let run = util::run_child(
        "greenlet_woken_while_parking_never_spins_the_worker",
        CHILD_ENV,
        WATCHDOG,
    );
    let (out, err) = (&run.stdout, &run.stderr);
    let Some(status) = run.status else {
        let last = err.lines().rfind(|l| l.starts_with("wake-race progress"));
        panic!(
            "the worker hung: the child did not finish {ROUNDS} wake-ups within {WATCHDOG:?}; \
             last progress line: {last:?} (may's Park::subscribe race, vendor/may/PATCHED.md)"
        );
    };
    assert!(status.success(), "child failed: {status}\n{out}\n{err}");
    assert!(
        out.contains(&format!("wake-race child: {ROUNDS} greenlets woken")),
        "the child ran the race:\n{out}\n{err}"
    );
    eprintln!("wake race: {ROUNDS} wake-ups in {:?}", run.took);
}
