//! Greenlet behaviour: concurrency on one worker, join/get/kill, panics, joinall, Timeout.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly::{joinall, spawn, GreenletError, JoinAll};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn os_threads() -> usize {
    mayfly::process::sample(std::process::id()).unwrap().threads as usize
}

#[test]
fn a_thousand_sleepers_share_one_worker() {
    let (took, threads) = mayfly::run(|| {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let t = Instant::now();
        let gs: Vec<_> = (0..1000)
            .map(|_| {
                let seen = seen.clone();
                spawn(move || {
                    mayfly::sleep(ms(200));
                    // SAFETY: pthread_self has no preconditions.
                    seen.lock()
                        .unwrap()
                        .insert(unsafe { libc::pthread_self() } as usize);
                })
            })
            .collect();
        let done = joinall(&gs, JoinAll::default()).unwrap();
        assert_eq!(done.len(), 1000);
        let seen = seen.lock().unwrap().clone();
        (t.elapsed(), seen)
    });
    // 1000 × 200 ms in sequence would be 200 s; concurrently it is one sleep plus overhead.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(
        threads.len(),
        1,
        "greenlets ran on {} OS threads",
        threads.len()
    );
    assert_eq!(
        threads.into_iter().next(),
        Some(mayfly::hub::worker_thread())
    );
}

#[test]
fn the_process_has_a_constant_number_of_runtime_threads() {
    mayfly::run(|| mayfly::sleep(ms(1)));
    let before = os_threads();
    mayfly::run(|| {
        let gs: Vec<_> = (0..2000).map(|_| spawn(|| mayfly::sleep(ms(20)))).collect();
        joinall(&gs, JoinAll::default()).unwrap();
    });
    // Other tests in this binary may start threads of their own, but 2,000 greenlets must
    // not add anything like 2,000 threads.
    assert!(os_threads() <= before + 8, "{} → {}", before, os_threads());
}

#[test]
fn get_value_and_status() {
    let g = mayfly::Builder::new().name("answer").spawn(|| 42).unwrap();
    assert_eq!(g.name(), "answer");
    assert!(g.join(Duration::from_secs(5)));
    assert!(g.ready() && g.successful());
    assert_eq!(g.value(), Some(42));
    assert_eq!(g.get(), Ok(42));
    assert_eq!(g.exception(), None);
    assert_eq!(g.into_result(), Ok(42));
}

#[test]
fn a_panic_is_isolated_and_names_the_greenlet() {
    let other = spawn(|| {
        mayfly::sleep(ms(50));
        "still alive"
    });
    let bad = mayfly::Builder::new()
        .name("exploder")
        .spawn(|| -> u32 { panic!("boom {}", 7) })
        .unwrap();
    match bad.get() {
        Err(GreenletError::Panicked { name, message, .. }) => {
            assert_eq!(name, "exploder");
            assert!(message.contains("boom 7"), "{message}");
            assert!(
                message.contains("greenlets.rs"),
                "location missing: {message}"
            );
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert!(!bad.successful());
    assert!(bad.exception().unwrap().to_string().contains("exploder"));
    assert_eq!(other.get(), Ok("still alive"));
}

#[test]
fn join_with_timeout_and_get_timeout() {
    let g = spawn(|| {
        mayfly::sleep(ms(300));
        1
    });
    let t = Instant::now();
    assert!(!g.join(ms(30)));
    assert!(t.elapsed() >= ms(30) && t.elapsed() < ms(250));
    assert_eq!(g.get_timeout(ms(10)), Err(GreenletError::Timeout(ms(10))));
    assert_eq!(g.get(), Ok(1));
}

#[test]
fn kill_a_greenlet_blocked_in_sleep_runs_destructors() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let g = spawn(move || {
        let _f = Flag(d);
        mayfly::sleep(Duration::from_secs(60));
        "woke"
    });
    std::thread::sleep(ms(20));
    let t = Instant::now();
    g.kill();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(matches!(g.get(), Err(GreenletError::Killed { .. })));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    // The runtime keeps sleeping normally after the kill (nothing hangs on the dead timer).
    mayfly::run(|| mayfly::sleep(ms(1)));
}

#[test]
fn kill_before_start_never_runs() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    mayfly::run(move || {
        let g = spawn(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        g.kill_nowait();
        g.join(None);
        assert!(matches!(g.exception(), Some(GreenletError::Killed { .. })));
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn yield_now_lets_new_greenlets_start_and_kill_after_finish_keeps_the_value() {
    mayfly::run(|| {
        let g = spawn(|| (0..1000u64).sum::<u64>());
        mayfly::yield_now();
        assert!(g.ready(), "sleep(0) must let a newly spawned greenlet run");
        g.kill();
        assert_eq!(g.get(), Ok(499500));
    });
}

#[test]
fn joinall_count_timeout_and_raise_error() {
    mayfly::run(|| {
        let gs: Vec<_> = [10u64, 30, 1000]
            .into_iter()
            .map(|d| {
                spawn(move || {
                    mayfly::sleep(ms(d));
                    d
                })
            })
            .collect();
        let two = joinall(&gs, JoinAll::default().count(2)).unwrap();
        assert_eq!(
            two.iter().map(|g| g.value().unwrap()).collect::<Vec<_>>(),
            [10, 30]
        );
        let t = Instant::now();
        let some = joinall(&gs, JoinAll::default().timeout(ms(50))).unwrap();
        assert_eq!(some.len(), 2);
        assert!(t.elapsed() < ms(900));
        gs[2].kill();

        let gs = vec![
            spawn(|| {
                mayfly::sleep(ms(5));
                panic!("first to fail")
            }),
            spawn(|| {
                mayfly::sleep(Duration::from_secs(30));
            }),
        ];
        let t = Instant::now();
        let e = joinall(&gs, JoinAll::default().raise_error(true)).unwrap_err();
        assert!(matches!(e, GreenletError::Panicked { .. }));
        assert!(t.elapsed() < Duration::from_secs(5));
        // Without raise_error the failure is just one of the finished ones.
        let done = joinall(&gs[..1], JoinAll::default()).unwrap();
        assert_eq!(done.len(), 1);
        gs[1].kill();
    });
}

#[test]
fn iwait_yields_in_completion_order() {
    mayfly::run(|| {
        let gs: Vec<_> = [40u64, 10, 25]
            .into_iter()
            .map(|d| {
                spawn(move || {
                    mayfly::sleep(ms(d));
                    d
                })
            })
            .collect();
        let order: Vec<u64> = mayfly::iwait(&gs).map(|g| g.value().unwrap()).collect();
        assert_eq!(order, [10, 25, 40]);
    });
}

#[test]
fn with_timeout_interrupts_sleep_and_nests() {
    mayfly::run(|| {
        let t = Instant::now();
        let r = mayfly::with_timeout(ms(30), || mayfly::sleep(Duration::from_secs(10)));
        assert_eq!(r, Err(mayfly::Timeout { after: ms(30) }));
        assert!(t.elapsed() < Duration::from_secs(2));

        // Inner finishes first: Ok; outer then expires.
        let r = mayfly::with_timeout(ms(60), || {
            let inner = mayfly::with_timeout(ms(500), || {
                mayfly::sleep(ms(5));
                1
            });
            assert_eq!(inner, Ok(1));
            mayfly::sleep(Duration::from_secs(10));
        });
        assert!(r.is_err());

        // Outer expires while the inner one is pending: the outer one reports it.
        let r = mayfly::with_timeout(ms(20), || {
            let inner = mayfly::with_timeout(Duration::from_secs(5), || {
                mayfly::sleep(Duration::from_secs(10))
            });
            unreachable!("inner must not swallow the outer timeout: {inner:?}");
        });
        assert_eq!(r, Err(mayfly::Timeout { after: ms(20) }));
        // Not expired: value passes through.
        assert_eq!(mayfly::Timeout::new(ms(200)).run(|| 5), Ok(5));
    });
}

#[test]
fn with_timeout_interrupts_join() {
    mayfly::run(|| {
        let g = spawn(|| mayfly::sleep(Duration::from_secs(10)));
        let r = mayfly::with_timeout(ms(20), || g.join(None));
        assert!(r.is_err());
        g.kill();
    });
}

#[test]
fn spawn_later_waits_first() {
    let t = Instant::now();
    let g = mayfly::spawn_later(ms(40), || 3);
    assert_eq!(g.get(), Ok(3));
    assert!(t.elapsed() >= ms(40));
}

#[test]
fn getcurrent_inside_and_outside() {
    let me = mayfly::Builder::new()
        .name("who")
        .spawn(mayfly::getcurrent)
        .unwrap()
        .get()
        .unwrap();
    assert_eq!(me.name, "who");
    assert!(me.id > 0);
    assert_eq!(mayfly::getcurrent().id, 0);
}

#[test]
fn run_propagates_a_panicking_main() {
    let r = std::panic::catch_unwind(|| mayfly::run(|| panic!("main failed")));
    assert!(r.is_err());
}

#[test]
fn deep_stack_with_a_bigger_stack_size() {
    fn depth(n: u64) -> u64 {
        let pad = [n; 64];
        if n == 0 {
            0
        } else {
            // One per level, read through the padding so the frame is not optimised away.
            std::hint::black_box(pad)[63].min(1) + depth(n - 1)
        }
    }
    let g = mayfly::Builder::new()
        .stack_size(4 << 20)
        .spawn(|| depth(2000))
        .unwrap();
    assert_eq!(g.get(), Ok(2000));
}

#[test]
fn a_stack_that_cannot_be_mapped_is_an_error_not_a_panic() {
    // 1 TiB of stack: more than this machine's memory, so mmap refuses it.
    let r = mayfly::Builder::new()
        .name("huge")
        .stack_size(1 << 40)
        .spawn(|| 1);
    let e = r.expect_err("a 1 TiB stack cannot be mapped");
    assert!(e.to_string().contains("could not spawn"), "{e}");
    // The runtime is fine afterwards.
    assert_eq!(spawn(|| 2).get(), Ok(2));
}

#[test]
fn greenlets_start_in_spawn_order_and_take_turns_at_each_yield() {
    // Greenlets that yield go to the back of the worker's queue, first in, first out (the
    // test below pins the same for a batch woken by I/O, where the worker looks ahead).
    let order = mayfly::run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let gs: Vec<_> = (0..50)
            .map(|i| {
                let order = order.clone();
                spawn(move || {
                    for round in 0..3 {
                        order.lock().unwrap().push((round, i));
                        mayfly::yield_now();
                    }
                })
            })
            .collect();
        joinall(&gs, JoinAll::default()).unwrap();
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    let expected: Vec<_> = (0..3).flat_map(|r| (0..50).map(move |i| (r, i))).collect();
    assert_eq!(order, expected);
}

#[test]
fn greenlets_run_in_the_order_they_became_ready_whether_spawned_or_woken() {
    // A greenlet spawned on the worker is queued on the worker's own run queue, like one an
    // event wakes (vendor/may PATCHED.md, "Spawning onto the spawner's run queue"): spawned
    // first, it runs first, as in gevent. (may queued it on a global queue the worker drains
    // only when its run queue is empty: the woken one ran first.)
    let order = mayfly::run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let event = Arc::new(mayfly::event::Event::new());
        let (o, e) = (order.clone(), event.clone());
        let woken = spawn(move || {
            e.wait(None);
            o.lock().unwrap().push("woken");
        });
        mayfly::yield_now(); // it starts and waits
        let o = order.clone();
        let spawned = spawn(move || o.lock().unwrap().push("spawned"));
        event.set();
        joinall(&[woken, spawned], JoinAll::default()).unwrap();
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, ["spawned", "woken"]);
}

#[test]
fn a_yield_lets_greenlets_spawned_from_another_thread_start() {
    // Spawned off the worker, a greenlet waits in the worker's global queue, behind its run
    // queue; a yield still lets it start (the yield waits behind the global queue).
    mayfly::run(|| {
        let gs = std::thread::spawn(|| (0..3).map(|i| spawn(move || i)).collect::<Vec<_>>())
            .join()
            .unwrap();
        mayfly::yield_now();
        assert!(gs.iter().all(|g| g.ready()), "a yield ran before them");
        assert_eq!(
            gs.iter().map(|g| g.value()).collect::<Vec<_>>(),
            [Some(0), Some(1), Some(2)]
        );
    });
}

#[test]
fn greenlets_woken_by_one_batch_of_io_run_in_the_order_their_sockets_became_ready() {
    // The worker prefetches the stack of the greenlet after the running one while it runs a
    // batch that epoll woke, holding that greenlet off the queue meanwhile (vendor/may
    // PATCHED.md); the batch must still run in order. The writer fills the sockets in order
    // without parking, so one epoll_wait returns them all, in that order (epoll's ready list
    // is first in, first out).
    use std::io::{Read, Write};
    const N: usize = 32;
    let order = mayfly::run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut writers = Vec::new();
        let readers: Vec<_> = (0..N)
            .map(|i| {
                let (w, mut r) = mayfly::net::UnixStream::pair().unwrap();
                writers.push(w);
                let order = order.clone();
                spawn(move || {
                    let mut b = [0u8; 1];
                    for round in 0..3 {
                        r.read_exact(&mut b).unwrap();
                        order.lock().unwrap().push((round, i));
                    }
                })
            })
            .collect();
        for _ in 0..3 {
            mayfly::sleep(ms(20)); // every reader parked in its read
            for w in &mut writers {
                w.write_all(b"x").unwrap();
            }
        }
        joinall(&readers, JoinAll::default()).unwrap();
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    let expected: Vec<_> = (0..3).flat_map(|r| (0..N).map(move |i| (r, i))).collect();
    assert_eq!(order, expected);
}
