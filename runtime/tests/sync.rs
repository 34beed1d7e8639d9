//! Queues, locks, events and the thread pool: blocking, timeouts, wake order, and what a
//! kill of a waiting greenlet leaves behind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly::event::{AsyncError, AsyncResult, Event};
use mayfly::lock::{BoundedSemaphore, Lock, RLock, Semaphore};
use mayfly::queue::{Channel, Empty, Full, LifoQueue, PriorityQueue, Queue};
use mayfly::{spawn, GreenletError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn queue_orders_and_nowait_errors() {
    let q: Queue<u32> = Queue::bounded(2);
    assert_eq!(q.get_nowait(), Err(Empty));
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert!(q.full());
    assert_eq!(q.put_nowait(3), Err(Full(3)));
    assert_eq!((q.get(), q.get()), (1, 2));
    assert!(q.empty());
    let l = LifoQueue::unbounded();
    let p = PriorityQueue::unbounded();
    for i in [2, 9, 1] {
        l.put(i);
        p.put(i);
    }
    assert_eq!([l.get(), l.get(), l.get()], [1, 9, 2]);
    assert_eq!([p.get(), p.get(), p.get()], [1, 2, 9]);
}

#[test]
fn bounded_put_parks_until_a_get_and_timeouts_give_the_item_back() {
    mayfly::run(|| {
        let q = Arc::new(Queue::bounded(1));
        q.put("a");
        let t = Instant::now();
        assert_eq!(q.put_timeout("b", ms(30)), Err(Full("b")));
        assert!(t.elapsed() >= ms(29));
        let q2 = q.clone();
        let putter = spawn(move || {
            q2.put("c"); // parks: full
            Instant::now()
        });
        mayfly::sleep(ms(30));
        assert!(!putter.ready(), "put must wait while full");
        let got_at = Instant::now();
        assert_eq!(q.get(), "a");
        assert!(putter.get().unwrap() >= got_at);
        assert_eq!(q.get(), "c");
        let t = Instant::now();
        assert_eq!(q.get_timeout(ms(30)), Err(Empty));
        assert!(t.elapsed() >= ms(29));
    });
}

#[test]
fn waiting_getters_are_served_in_arrival_order() {
    let order = mayfly::run(|| {
        let q = Arc::new(Queue::unbounded());
        let order = Arc::new(Mutex::new(Vec::new()));
        let gs: Vec<_> = (0..5)
            .map(|i| {
                let (q, order) = (q.clone(), order.clone());
                let g = spawn(move || {
                    let item: u32 = q.get();
                    order.lock().unwrap().push((i, item));
                });
                g
            })
            .collect();
        mayfly::sleep(ms(10)); // all five are waiting, in spawn order
        for item in 100..105 {
            q.put(item);
        }
        mayfly::joinall(&gs, Default::default()).unwrap();
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, [(0, 100), (1, 101), (2, 102), (3, 103), (4, 104)]);
}

#[test]
fn a_killed_waiter_leaves_the_queue_consistent_and_loses_no_item() {
    mayfly::run(|| {
        let q = Arc::new(Queue::unbounded());
        let (q1, q2) = (q.clone(), q.clone());
        let first = spawn(move || q1.get());
        let second = spawn(move || q2.get());
        mayfly::sleep(ms(10));
        // Wake the first waiter, then kill it before it runs: the wake-up must pass on.
        q.put(7u32);
        first.kill();
        assert!(matches!(first.get(), Err(GreenletError::Killed { .. })));
        assert_eq!(second.get_timeout(Duration::from_secs(2)), Ok(7));
        assert!(q.empty());
        // A killed putter on a full queue does not sneak its item in later.
        let full = Arc::new(Queue::bounded(1));
        full.put(1u32);
        let f2 = full.clone();
        let putter = spawn(move || f2.put(2));
        mayfly::sleep(ms(10));
        putter.kill();
        assert_eq!(full.get(), 1);
        assert_eq!(full.get_timeout(ms(20)), Err(Empty));
    });
}

#[test]
fn task_done_and_join() {
    mayfly::run(|| {
        let q = Arc::new(Queue::unbounded());
        for i in 0..3 {
            q.put(i);
        }
        assert!(!q.join(Some(ms(10))));
        let q2 = q.clone();
        let worker = spawn(move || {
            for _ in 0..3 {
                q2.get();
                mayfly::sleep(ms(2));
                q2.task_done();
            }
        });
        assert!(q.join(Some(Duration::from_secs(5))));
        worker.join(None);
    });
    let q: Queue<u8> = Queue::unbounded();
    let r = std::panic::catch_unwind(|| q.task_done());
    assert!(r.is_err(), "task_done without an item must complain");
}

#[test]
fn channel_put_returns_only_after_a_get() {
    mayfly::run(|| {
        let ch = Arc::new(Channel::new());
        assert_eq!(ch.put_timeout(1, ms(20)), Err(Full(1)));
        assert_eq!(
            ch.get_timeout(ms(10)),
            Err(Empty),
            "a withdrawn offer is gone"
        );
        let c2 = ch.clone();
        let putter = spawn(move || {
            c2.put(2);
            Instant::now()
        });
        mayfly::sleep(ms(30));
        assert!(!putter.ready(), "no getter yet: put waits");
        let t = Instant::now();
        assert_eq!(ch.get(), 2);
        assert!(putter.get().unwrap() >= t);
    });
}

#[test]
fn semaphore_lock_and_timeouts() {
    mayfly::run(|| {
        let s = Semaphore::new(2);
        let a = s.acquire();
        let _b = s.acquire();
        assert_eq!(s.available(), 0);
        assert!(s.try_acquire().is_none());
        let t = Instant::now();
        assert!(s.acquire_timeout(ms(20)).is_none());
        assert!(t.elapsed() >= ms(19));
        drop(a);
        assert!(s.try_acquire().is_some());

        let b = BoundedSemaphore::new(1);
        assert_eq!(b.release().unwrap_err().bound, 1);
        b.acquire().forget();
        assert!(b.release().is_ok());

        let l = Lock::new();
        let g = l.acquire();
        assert!(l.locked() && l.acquire_timeout(ms(5)).is_none());
        drop(g);
        assert!(!l.locked());
    });
}

#[test]
fn a_killed_lock_holder_releases_and_a_killed_waiter_takes_nothing() {
    mayfly::run(|| {
        let lock = Arc::new(Lock::new());
        let l2 = lock.clone();
        let holder = spawn(move || {
            let _held = l2.acquire();
            mayfly::sleep(Duration::from_secs(30));
        });
        mayfly::sleep(ms(10));
        assert!(lock.locked());
        let l3 = lock.clone();
        let waiter = spawn(move || {
            let _g = l3.acquire();
            "got it"
        });
        mayfly::sleep(ms(10));
        waiter.kill();
        holder.kill();
        assert!(
            !lock.locked(),
            "the killed holder's guard released the lock"
        );
        assert!(lock.try_acquire().is_some());
    });
}

#[test]
fn rlock_reenters_for_its_owner_and_excludes_others() {
    mayfly::run(|| {
        let r = Arc::new(RLock::new());
        let outer = r.acquire();
        let inner = r.acquire();
        assert_eq!(r.depth(), 2);
        let r2 = r.clone();
        let other = spawn(move || r2.acquire_timeout(ms(20)).is_some());
        assert_eq!(other.get(), Ok(false), "another greenlet must wait");
        drop(inner);
        assert_eq!(r.depth(), 1);
        let r3 = r.clone();
        let other = spawn(move || {
            let _g = r3.acquire();
            r3.depth()
        });
        mayfly::sleep(ms(10));
        assert!(!other.ready());
        drop(outer);
        assert_eq!(other.get(), Ok(1));
        assert_eq!(r.depth(), 0);
    });
}

#[test]
fn event_and_async_result() {
    mayfly::run(|| {
        let ev = Arc::new(Event::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let gs: Vec<_> = (0..10)
            .map(|_| {
                let (ev, woken) = (ev.clone(), woken.clone());
                spawn(move || {
                    if ev.wait(None) {
                        woken.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        assert!(!ev.wait(Some(ms(10))));
        ev.set();
        mayfly::joinall(&gs, Default::default()).unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), 10);
        ev.clear();
        assert!(!ev.is_set());

        let r: Arc<AsyncResult<String>> = Arc::new(AsyncResult::new());
        assert_eq!(r.get(Some(ms(10))), Err(AsyncError::Timeout));
        let r2 = r.clone();
        std::thread::spawn(move || {
            std::thread::sleep(ms(20));
            r2.set("from a thread".into());
            r2.set("ignored".into());
        });
        assert_eq!(r.get(None), Ok("from a thread".to_string()));
        assert!(r.ready() && r.successful());
    });
}

#[test]
fn a_threadpool_call_does_not_stop_a_thousand_greenlets() {
    let (ticks_during, result) = mayfly::run(|| {
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(Event::new());
        let gs: Vec<_> = (0..1000)
            .map(|_| {
                let (t, s) = (ticks.clone(), stop.clone());
                spawn(move || {
                    while !s.wait(Some(ms(5))) {
                        t.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        mayfly::sleep(ms(20));
        let before = ticks.load(Ordering::Relaxed);
        // 300 ms of blocking work: on the worker it would freeze all 1,000 greenlets.
        let result = mayfly::threadpool::apply(|| {
            std::thread::sleep(ms(300));
            "slept on a pool thread"
        });
        let during = ticks.load(Ordering::Relaxed) - before;
        stop.set();
        mayfly::joinall(&gs, Default::default()).unwrap();
        (during, result)
    });
    assert_eq!(result, Ok("slept on a pool thread"));
    // Each greenlet ticks every ~5 ms: 300 ms is ~60 ticks each. A frozen worker gives 0;
    // demand a small fraction (2 each), so a loaded test machine still passes.
    assert!(
        ticks_during > 1000 * 2,
        "only {ticks_during} ticks while the call ran"
    );
}

#[test]
fn a_panic_on_the_pool_comes_back_as_an_error() {
    let pool = mayfly::threadpool::ThreadPool::new(1).unwrap();
    let r: Result<u8, _> = pool.apply(|| panic!("disk on fire"));
    match r {
        Err(AsyncError::Exception(m)) => assert!(m.contains("disk on fire"), "{m}"),
        other => panic!("expected an exception, got {other:?}"),
    }
    assert_eq!(pool.apply(|| 5), Ok(5), "the pool thread survived");
}

#[test]
fn pool_limits_concurrency_and_map_keeps_order() {
    use mayfly::pool::{Group, Pool};
    mayfly::run(|| {
        let pool = Pool::new(3);
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (i, m) = (inside.clone(), most.clone());
        let out = pool
            .map(
                move |x: u64| {
                    let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    mayfly::sleep(ms(5 + (x * 7) % 11));
                    i.fetch_sub(1, Ordering::SeqCst);
                    x * 10
                },
                0..10,
            )
            .unwrap();
        assert_eq!(out, (0..10).map(|x| x * 10).collect::<Vec<_>>());
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "never more than the pool size"
        );
        assert_eq!(pool.free_count(), 3);

        // spawn waits while full; wait_available times out while full.
        let blockers: Vec<_> = (0..3)
            .map(|_| pool.spawn(|| mayfly::sleep(ms(60))))
            .collect();
        assert_eq!(pool.free_count(), 0);
        assert!(!pool.wait_available(Some(ms(10))));
        let t = Instant::now();
        pool.spawn(|| ()).join(None);
        assert!(t.elapsed() >= ms(40), "spawn must wait for a free slot");
        // The slot came from a blocker that ended; the other two end on the same 60 ms but
        // may be woken on a later timer tick than the spawn that took the slot.
        assert!(
            blockers.iter().any(|b| b.ready()),
            "no blocker freed the slot"
        );
        for b in &blockers {
            assert!(b.join(Some(ms(1000))), "a blocker did not end");
        }

        // A failure surfaces from map; kill empties a group.
        let r = pool.map(
            |x: u32| if x == 2 { panic!("bad input {x}") } else { x },
            0..4,
        );
        assert!(matches!(r, Err(GreenletError::Panicked { .. })));
        let group = Group::new();
        for _ in 0..5 {
            group.spawn(|| mayfly::sleep(Duration::from_secs(30)));
        }
        assert_eq!(group.len(), 5);
        assert!(!group.join(Some(ms(10))));
        group.kill();
        assert!(group.is_empty() && group.join(Some(ms(10))));
    });
}

#[test]
fn stream_server_with_a_pool_stops_accepting_while_full() {
    use mayfly::net::TcpStream;
    mayfly::run(|| {
        let pool = mayfly::pool::Pool::new(1);
        let server = mayfly::server::StreamServer::bind("127.0.0.1:0", |mut c, _| {
            let d = c.recv(16)?;
            c.sendall(&d.to_ascii_uppercase())?;
            c.recv(16).map(|_| ())
        })
        .unwrap()
        .pool(pool.clone())
        .start();
        let addr = server.local_addr();
        let mut a = TcpStream::connect(addr).unwrap();
        a.sendall(b"a").unwrap();
        assert_eq!(&a.recv_exact(1).unwrap()[..], b"A");
        assert_eq!(pool.free_count(), 0);
        let mut b = TcpStream::connect(addr).unwrap();
        b.sendall(b"b").unwrap();
        b.settimeout(Some(ms(100)));
        assert!(
            b.recv(1).is_err(),
            "the pool is full: b waits in the backlog"
        );
        drop(a);
        b.settimeout(Some(Duration::from_secs(5)));
        assert_eq!(&b.recv_exact(1).unwrap()[..], b"B");
        drop(b);
        server.stop(ms(100));
    });
}

#[test]
fn deadline_forms_give_up_at_the_deadline_and_succeed_before_it() {
    mayfly::run(|| {
        let soon = || Instant::now() + ms(20);
        let t = Instant::now();
        let q: Queue<u8> = Queue::bounded(1);
        assert_eq!(q.get_deadline(soon()), Err(Empty));
        q.put_deadline(1, soon()).unwrap();
        assert_eq!(q.put_deadline(2, soon()), Err(Full(2)));
        assert!(!q.join_deadline(soon()));
        assert_eq!(q.get_deadline(soon()), Ok(1));
        q.task_done();
        assert!(q.join_timeout(ms(20)));

        let ch: Channel<u8> = Channel::new();
        assert_eq!(ch.get_deadline(soon()), Err(Empty));
        assert_eq!(ch.put_deadline(3, soon()), Err(Full(3)));

        let sem = Semaphore::new(1);
        let held = sem.acquire_deadline(soon()).unwrap();
        assert!(sem.acquire_deadline(soon()).is_none());
        drop(held);
        let lock = Lock::new();
        let _l = lock.acquire_deadline(soon()).unwrap();
        assert!(RLock::new().acquire_deadline(soon()).is_some());

        let ev = Event::new();
        assert!(!ev.wait_deadline(soon()) && !ev.wait_timeout(ms(5)));
        ev.set();
        assert!(ev.wait_deadline(soon()));
        let r: AsyncResult<u8> = AsyncResult::new();
        assert_eq!(r.get_deadline(soon()), Err(AsyncError::Timeout));
        r.set(9);
        assert_eq!(
            (r.get_timeout(ms(5)), r.take_deadline(soon())),
            (Ok(9), Ok(9))
        );

        let slow = spawn(|| mayfly::sleep(ms(300)));
        assert!(!slow.join_deadline(soon()) && !slow.join_timeout(ms(5)));
        assert!(matches!(
            slow.get_deadline(soon()),
            Err(GreenletError::Timeout(_))
        ));
        assert_eq!(
            mayfly::iwait_deadline(std::slice::from_ref(&slow), soon()).count(),
            0
        );
        assert!(mayfly::with_deadline(soon(), || mayfly::sleep(ms(300))).is_err());
        slow.kill();

        let group = mayfly::pool::Pool::new(1);
        let busy = group.spawn(|| mayfly::sleep(ms(300)));
        assert!(!group.wait_available_deadline(soon()) && !group.join_deadline(soon()));
        busy.kill();
        assert!(group.join_timeout(ms(100)) && group.wait_available_timeout(ms(5)));

        let at = Instant::now() + ms(10);
        mayfly::sleep_until(at);
        assert!(Instant::now() >= at);
        // Every give-up above waited about 20 ms, not forever and not the 300 ms sleeps.
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    });
}

/// gevent's test__pool.py: `add(g, blocking=False)` raises PoolFull on a full pool, `add(g,
/// timeout=…)` waits that long for a slot, `killone` kills members only.
#[test]
fn pool_add_without_waiting_or_with_a_timeout_and_killone() {
    use mayfly::pool::{Pool, PoolFull};
    mayfly::run(|| {
        let pool = Pool::new(2);
        let a = pool.spawn(|| mayfly::sleep(ms(200)));
        let b = pool.spawn(|| mayfly::sleep(ms(30)));
        let c = mayfly::Greenlet::new(|| 3);
        assert_eq!(pool.try_add(&c), Err(PoolFull { size: 2 }));
        let t = Instant::now();
        assert_eq!(pool.add_timeout(&c, ms(5)), Err(PoolFull { size: 2 }));
        assert!(t.elapsed() >= ms(5));
        assert!(!pool.contains(&c));
        // b ends after 30 ms: a slot comes free within a longer timeout.
        assert_eq!(pool.add_timeout(&c, Duration::from_secs(5)), Ok(()));
        assert!(b.ready() && pool.contains(&c));
        assert_eq!(
            pool.try_add(&c),
            Ok(()),
            "adding a member again changes nothing"
        );
        c.start().unwrap();
        assert_eq!(c.get(), Ok(3));

        let stranger = spawn(|| mayfly::sleep(ms(10)));
        assert!(!pool.killone(&stranger));
        assert!(stranger.join(None) && stranger.successful());
        assert!(pool.killone(&a));
        assert!(a.ready() && !a.successful() && pool.is_empty());

        let group = mayfly::pool::Group::new();
        let d = mayfly::Greenlet::new(|| 4);
        assert_eq!(group.try_add(&d), Ok(()), "a group has no limit");
        group.discard(&d);
        group.start(&d).unwrap();
        assert!(group.join(Some(Duration::from_secs(5))));
        assert_eq!(d.get(), Ok(4));
    });
}

/// gevent's Channel: qsize/empty/full, balance, peek, iteration; and mayfly's close, which
/// loses no item: every item put is either taken by a getter or given back to its putter.
#[test]
fn channel_close_peek_iteration_and_no_item_lost() {
    use mayfly::queue::{GetError, PutError};
    mayfly::run(|| {
        let ch = Arc::new(Channel::new());
        assert_eq!((ch.qsize(), ch.empty(), ch.full()), (0, true, true));
        assert_eq!(ch.peek_timeout(ms(5)), Err(Empty));

        // Peek sees a putter's item without taking it; balance counts the putter.
        let tx = ch.clone();
        let putter = spawn(move || tx.put(7));
        assert_eq!(ch.peek(), Ok(7));
        assert_eq!(ch.balance(), 1);
        assert!(!putter.ready());
        assert_eq!(ch.get(), 7);
        putter.join(None);
        // A waiting getter makes the balance negative.
        let rx = ch.clone();
        let getter = spawn(move || rx.get_timeout(ms(200)));
        mayfly::yield_now();
        assert_eq!(ch.balance(), -1);
        assert!(ch.put_nowait(8).is_ok());
        assert_eq!(getter.get(), Ok(Ok(8)));

        // Iteration ends at the close.
        let tx = ch.clone();
        let producer = spawn(move || {
            for i in 1..=4 {
                tx.put(i);
            }
            tx.close();
        });
        assert_eq!(ch.iter().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        producer.join(None);
        assert!(ch.is_closed());
        assert_eq!(ch.recv(), Err(GetError::Closed));
        assert_eq!(ch.send(9), Err(PutError::Closed(9)));
        assert_eq!(ch.put_timeout(9, ms(5)), Err(PutError::Closed(9)));
        assert_eq!(ch.peek_nowait(), Err(GetError::Closed));

        // Many putters and getters, closed in the middle: nothing lost.
        let ch = Arc::new(Channel::new());
        let putters: Vec<_> = (0..50)
            .map(|i| {
                let tx = ch.clone();
                spawn(move || match tx.send(i) {
                    Ok(()) => (1, 0),
                    Err(e) => (0, usize::from(e.into_inner() == i)),
                })
            })
            .collect();
        let getters: Vec<_> = (0..10)
            .map(|_| {
                let rx = ch.clone();
                spawn(move || rx.iter().take(2).count())
            })
            .collect();
        mayfly::sleep(ms(10));
        ch.close();
        let (sent, returned) = putters
            .iter()
            .map(|g| g.get().unwrap())
            .fold((0, 0), |(s, r), (a, b)| (s + a, r + b));
        let taken: usize = getters.iter().map(|g| g.get().unwrap()).sum();
        assert_eq!(sent, taken, "every item a putter saw taken was received");
        assert_eq!(
            sent + returned,
            50,
            "every other item came back to its putter"
        );
        assert_eq!(
            taken, 20,
            "the getters took their two each before the close"
        );
    });
}

/// gevent's test__timeout.py: a Timeout object can be started again after it fired or was
/// cancelled, and each arming fires once, for its whole duration from the restart.
#[test]
fn a_timeout_is_rearmed_after_it_fired_or_was_cancelled() {
    mayfly::run(|| {
        let t = mayfly::Timeout::start_new(ms(20));
        let started = Instant::now();
        assert!(t.catch(|| mayfly::sleep(Duration::from_secs(5))).is_err());
        assert!(!t.pending() && t.remaining() == Some(Duration::ZERO));
        mayfly::sleep(ms(30));
        let restarted = Instant::now();
        t.restart();
        assert!(t.pending());
        // Bounded again, from the restart: not expired at once, expired after its 20 ms.
        assert!(t.catch(|| mayfly::sleep(Duration::from_secs(5))).is_err());
        assert!(restarted.elapsed() >= ms(20), "{:?}", restarted.elapsed());
        assert!(started.elapsed() < Duration::from_secs(4));
        t.cancel();
        assert_eq!(t.remaining(), None);
        mayfly::sleep(ms(30)); // cancelled: bounds nothing
        t.restart();
        assert!(t.catch(|| mayfly::sleep(Duration::from_secs(5))).is_err());
        // Restarted inside its own catch: the new arming is caught there too.
        t.restart();
        let r = t.catch(|| {
            t.restart();
            mayfly::sleep(Duration::from_secs(5));
        });
        assert!(r.is_err());
        t.cancel();
        // The no-limit timeout: restart is a no-op.
        let none = mayfly::Timeout::start_new(None);
        none.restart();
        assert!(!none.pending() && none.remaining().is_none());
    });
}
