//! The gevent API beyond the basics: the Timeout object, queue shut-down, links and killall,
//! wait/iwait over mixed objects, the pool extras, greenlet-local storage and the greenlet
//! Mutex. Checks ported from gevent's tests name the test they come from.

use std::time::Duration;

use mayfly::{spawn, GreenletError, Timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Bounds every wait below: a regression fails instead of hanging.
const BOUND: Duration = Duration::from_secs(5);
/// A timeout that should expire (test__timeout.py's SHOULD_EXPIRE).
const SHOULD_EXPIRE: Duration = Duration::from_millis(10);
/// A wait that should outlast SHOULD_EXPIRE (test__timeout.py's SHOULD_NOT_EXPIRE).
const SHOULD_NOT_EXPIRE: Duration = Duration::from_millis(40);

/// test__timeout.py, test_expires: a started Timeout interrupts the blocking call, is caught
/// as itself, and is no longer pending.
#[test]
fn timeout_object_expires_and_is_caught_as_itself() {
    mayfly::run(|| {
        let t = Timeout::start_new(SHOULD_EXPIRE);
        assert!(t.pending());
        assert_eq!(t.after(), Some(SHOULD_EXPIRE));
        let r = t.catch(|| mayfly::sleep(BOUND));
        assert_eq!(
            r,
            Err(Timeout {
                after: SHOULD_EXPIRE
            })
        );
        assert!(!t.pending());
        // It fired once: later calls are no longer interrupted by it.
        assert_eq!(t.catch(|| mayfly::sleep(ms(1))), Ok(()));
    });
}

/// test__timeout.py, test_cancel: a cancelled Timeout never fires.
#[test]
fn timeout_object_cancel_disarms_it() {
    mayfly::run(|| {
        let t = Timeout::start_new(SHOULD_EXPIRE);
        t.cancel();
        assert!(!t.pending());
        assert_eq!(t.catch(|| mayfly::sleep(SHOULD_NOT_EXPIRE)), Ok(()));
        t.cancel(); // idempotent
                    // Dropping disarms too.
        {
            let _dropped = Timeout::start_new(SHOULD_EXPIRE);
        }
        mayfly::sleep(SHOULD_NOT_EXPIRE);
    });
}

/// Nesting: an inner timeout's expiry is not caught by an outer one's `catch`, and the other
/// way round; `Timeout::start_new(None)` never fires.
#[test]
fn timeout_objects_nest_and_none_is_no_limit() {
    mayfly::run(|| {
        let outer = Timeout::start_new(BOUND);
        let r = outer.catch(|| {
            let inner = Timeout::start_new(SHOULD_EXPIRE);
            inner.catch(|| mayfly::sleep(BOUND))
        });
        assert_eq!(
            r,
            Ok(Err(Timeout {
                after: SHOULD_EXPIRE
            }))
        );
        assert!(outer.pending());
        outer.cancel();

        let outer = Timeout::start_new(SHOULD_EXPIRE);
        let r = outer.catch(|| {
            let inner = Timeout::start_new(BOUND);
            inner.catch(|| mayfly::sleep(BOUND)) // the outer one fires: passes through
        });
        assert_eq!(
            r,
            Err(Timeout {
                after: SHOULD_EXPIRE
            })
        );

        let none = Timeout::start_new(None);
        assert!(!none.pending() && none.after().is_none());
        assert_eq!(
            none.catch(|| {
                mayfly::sleep(ms(5));
                3
            }),
            Ok(3)
        );
    });
}

/// A Timeout object bounds socket calls too, and an uncaught expiry ends the greenlet with a
/// message that says what happened.
#[test]
fn uncaught_timeout_object_names_itself_in_the_error() {
    mayfly::run(|| {
        let g = spawn(|| {
            let _t = Timeout::start_new(SHOULD_EXPIRE);
            mayfly::sleep(BOUND);
        });
        match g.get_timeout(BOUND) {
            Err(GreenletError::Panicked { message, .. }) => {
                assert!(
                    message.contains("Timeout") && message.contains("nothing caught it"),
                    "{message}"
                )
            }
            other => panic!("expected an uncaught-timeout error, got {other:?}"),
        }
    });
}

mod queue {
    use super::*;
    use mayfly::queue::{
        Channel, Empty, Full, GetError, LifoQueue, PriorityQueue, PutError, Queue,
    };
    use std::sync::Arc;

    /// test__queue.py, test_send_first / test_peek_empty / test_peek_multi_greenlet.
    #[test]
    fn peek_returns_the_next_item_without_taking_it() {
        mayfly::run(|| {
            let q = Arc::new(Queue::unbounded());
            q.put("hi");
            assert_eq!(q.peek(), Ok("hi"));
            assert_eq!(q.get(), "hi");
            assert_eq!(q.peek_timeout(SHOULD_EXPIRE), Err(Empty));
            assert_eq!(q.peek_nowait(), Err(Empty));
            let q2 = q.clone();
            let g = spawn(move || q2.peek());
            mayfly::yield_now();
            assert!(!g.ready(), "peek waits for an item");
            q.put("one");
            assert_eq!(g.get_timeout(BOUND), Ok(Ok("one")));
            assert_eq!((q.peek(), q.qsize()), (Ok("one"), 1));
            // A peeker never eats a getter's wake-up.
            let _ = q.get();
            let (qa, qb) = (q.clone(), q.clone());
            let peeker = spawn(move || qa.peek());
            let getter = spawn(move || qb.get());
            mayfly::yield_now();
            q.put("x");
            assert_eq!(getter.get_timeout(BOUND), Ok("x"));
            assert_eq!(peeker.get_timeout(BOUND), Ok(Ok("x")));
            // Each order peeks at its own next item.
            let l = LifoQueue::unbounded();
            let p = PriorityQueue::unbounded();
            for i in [2, 9, 1] {
                l.put(i);
                p.put(i);
            }
            assert_eq!((l.peek(), p.peek()), (Ok(1), Ok(1)));
        });
    }

    /// Python 3.13 / gevent `Queue.shutdown`: blocked putters and getters wake with a clear
    /// error; what was in the queue still comes out.
    #[test]
    fn close_wakes_blocked_putters_and_getters_with_an_error() {
        mayfly::run(|| {
            let full = Arc::new(Queue::bounded(1));
            full.put(1);
            let f2 = full.clone();
            let putter = spawn(move || f2.send(2));
            let empty: Arc<Queue<u8>> = Arc::new(Queue::unbounded());
            let e2 = empty.clone();
            let getter = spawn(move || e2.recv());
            let e3 = empty.clone();
            let timed_getter = spawn(move || e3.get_timeout(BOUND));
            mayfly::yield_now();
            assert!(!putter.ready() && !getter.ready() && !timed_getter.ready());
            full.close();
            empty.close();
            assert_eq!(putter.get_timeout(BOUND), Ok(Err(PutError::Closed(2))));
            assert_eq!(getter.get_timeout(BOUND), Ok(Err(GetError::Closed)));
            assert_eq!(timed_getter.get_timeout(BOUND), Ok(Err(GetError::Closed)));
            assert!(full.is_closed());
            assert_eq!(full.put_timeout(3, ms(1)), Err(PutError::Closed(3)));
            assert_eq!(full.recv(), Ok(1), "items put before close still come out");
            assert_eq!(full.recv(), Err(GetError::Closed));
            assert_eq!(PutError::Closed(4).into_inner(), 4);
            assert_eq!(PutError::Closed(4).to_string(), "the queue is closed");
            // The plain forms fail loudly.
            let q3 = full.clone();
            let p = spawn(move || q3.put(5));
            assert!(
                matches!(p.get_timeout(BOUND), Err(GreenletError::Panicked { message, .. }) if message.contains("closed queue"))
            );
        });
    }

    /// gevent's `for item in queue`: iteration ends when the queue is closed and drained.
    #[test]
    fn iteration_takes_items_until_closed() {
        let got = mayfly::run(|| {
            let q = Arc::new(Queue::bounded(2));
            let producer = {
                let q = q.clone();
                spawn(move || {
                    for i in 0..10 {
                        q.put(i);
                    }
                    q.close();
                })
            };
            let mut got = Vec::new();
            for item in &*q {
                got.push(item);
                q.task_done();
            }
            assert_eq!(q.unfinished_tasks(), 0);
            assert!(producer.join(BOUND));
            got
        });
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn unfinished_tasks_counts_puts_not_yet_done() {
        let q = Queue::unbounded();
        q.put(1);
        q.put(2);
        assert_eq!(q.unfinished_tasks(), 2);
        let _ = q.get();
        assert_eq!(q.unfinished_tasks(), 2, "a get is not a task_done");
        q.task_done();
        assert_eq!(q.unfinished_tasks(), 1);
    }

    /// test__queue.py, TestChannel.test_get_nowait_unlock_channel, and `put_nowait` to a
    /// waiting getter.
    #[test]
    fn channel_nowait_forms_meet_a_waiting_partner_or_fail() {
        mayfly::run(|| {
            let ch = Arc::new(Channel::new());
            assert_eq!(ch.get_nowait(), Err(Empty));
            assert_eq!(ch.put_nowait(1), Err(Full(1)));
            let c2 = ch.clone();
            let p = spawn(move || c2.put(5));
            mayfly::sleep(ms(1));
            assert_eq!(ch.get_nowait(), Ok(5));
            assert!(p.join(BOUND) && p.successful());
            let c3 = ch.clone();
            let g = spawn(move || c3.get());
            mayfly::sleep(ms(1));
            assert!(ch.put_nowait(6).is_ok());
            assert_eq!(
                ch.put_nowait(7),
                Err(Full(7)),
                "one waiting getter, one offer"
            );
            assert_eq!(g.get_timeout(BOUND), Ok(6));
        });
    }
}

mod links {
    use super::*;
    use mayfly::queue::Queue;
    use mayfly::{killall, KillAll};
    use std::sync::Arc;

    /// test__order.py, Test.test_greenlet_link (count 2, 3, 4, 1000): links run in the order
    /// they were added.
    #[test]
    fn links_run_in_the_order_they_were_added() {
        for count in [2usize, 3, 4, 1000] {
            let lst = mayfly::run(move || {
                let q = Arc::new(Queue::unbounded());
                let q0 = q.clone();
                let g = spawn(move || q0.put(0));
                for i in 1..count {
                    let q = q.clone();
                    g.link(move |_| q.put(i));
                }
                assert!(g.join(BOUND));
                (0..count)
                    .map(|_| q.get_timeout(BOUND).unwrap())
                    .collect::<Vec<_>>()
            });
            assert_eq!(lst, (0..count).collect::<Vec<_>>(), "count {count}");
        }
    }

    /// link_value fires only on success, link_exception only on failure (panic or kill),
    /// link always; a link on a finished greenlet runs at once; unlink removes one.
    #[test]
    fn link_value_link_exception_and_unlink() {
        mayfly::run(|| {
            let q = Arc::new(Queue::unbounded());
            let ok = spawn(|| 1);
            let bad = spawn(|| -> i32 { panic!("bad") });
            let killed = spawn(|| {
                mayfly::sleep(BOUND);
                3
            });
            for (name, g) in [("ok", &ok), ("bad", &bad), ("killed", &killed)] {
                let (a, b, c) = (q.clone(), q.clone(), q.clone());
                g.link_value(move |_| a.put(format!("{name}:value")));
                g.link_exception(move |_| b.put(format!("{name}:exception")));
                g.link(move |_| c.put(format!("{name}:any")));
            }
            let q2 = q.clone();
            let removed = ok.link(move |_| q2.put("ok:unlinked".to_string()));
            assert!(ok.unlink(removed));
            assert!(!ok.unlink(removed), "only once");
            mayfly::yield_now();
            killed.kill();
            let mut got: Vec<String> = (0..6).map(|_| q.get_timeout(BOUND).unwrap()).collect();
            got.sort();
            assert_eq!(
                got,
                [
                    "bad:any",
                    "bad:exception",
                    "killed:any",
                    "killed:exception",
                    "ok:any",
                    "ok:value"
                ]
            );
            assert_eq!(
                q.get_timeout(ms(20)),
                Err(mayfly::queue::Empty),
                "nothing more"
            );
            // Linking a finished greenlet: the callback runs (in a greenlet of its own).
            let q3 = q.clone();
            let late = ok.link(move |g| q3.put(format!("late:{:?}", g.value())));
            assert!(!ok.unlink(late), "already ran");
            assert_eq!(q.get_timeout(BOUND), Ok("late:Some(1)".to_string()));
        });
    }

    /// A callback runs even when every handle to the greenlet is gone (`spawn(f).link(cb)`).
    #[test]
    fn a_link_runs_after_the_last_handle_is_dropped() {
        mayfly::run(|| {
            let q = Arc::new(Queue::unbounded());
            let q2 = q.clone();
            spawn(|| 42).link(move |g| q2.put(g.value()));
            assert_eq!(q.get_timeout(BOUND), Ok(Some(42)));
        });
    }

    /// A link callback may block (it has its own greenlet), even when the linked greenlet
    /// was killed.
    #[test]
    fn a_link_callback_may_block_even_after_a_kill() {
        mayfly::run(|| {
            let q = Arc::new(Queue::unbounded());
            let g = spawn(|| mayfly::sleep(BOUND));
            let q2 = q.clone();
            g.link(move |g| {
                mayfly::sleep(ms(5));
                q2.put(g.ready());
            });
            mayfly::yield_now();
            g.kill();
            assert_eq!(q.get_timeout(BOUND), Ok(true));
        });
    }

    /// test__greenlet.py's killall tests: block waits for all; block=false returns at once;
    /// a reason reaches each greenlet.
    #[test]
    fn killall_blocks_with_a_timeout_and_passes_the_reason() {
        mayfly::run(|| {
            let seen = Arc::new(Queue::unbounded());
            let gs: Vec<_> = (0..5)
                .map(|_| {
                    let seen = seen.clone();
                    spawn(move || {
                        struct Tell(Arc<Queue<Option<String>>>);
                        impl Drop for Tell {
                            fn drop(&mut self) {
                                // Non-blocking put: a killed greenlet cannot park.
                                let _ = self.0.put_nowait(mayfly::kill_reason());
                            }
                        }
                        let _t = Tell(seen);
                        mayfly::sleep(BOUND);
                    })
                })
                .collect();
            mayfly::yield_now();
            assert!(killall(
                &gs,
                KillAll::default().timeout(BOUND).reason("closing")
            ));
            for g in &gs {
                match g.exception() {
                    Some(GreenletError::Killed { reason, .. }) => {
                        assert_eq!(reason.as_deref(), Some("closing"))
                    }
                    other => panic!("{other:?}"),
                }
            }
            for _ in 0..5 {
                assert_eq!(seen.get_timeout(BOUND), Ok(Some("closing".to_string())));
            }
            let more: Vec<_> = (0..3).map(|_| spawn(|| mayfly::sleep(BOUND))).collect();
            mayfly::yield_now();
            let all_dead = killall(&more, KillAll::default().block(false));
            assert!(!all_dead, "block=false returns before they unwound");
            assert!(
                mayfly::joinall(&more, mayfly::JoinAll::default().timeout(BOUND))
                    .unwrap()
                    .len()
                    == 3
            );
            assert_eq!(mayfly::kill_reason(), None);
        });
    }
}

mod wait_any {
    use super::*;
    use mayfly::event::{AsyncResult, Event};
    use mayfly::lock::Semaphore;
    use mayfly::{WaitOpts, Waitable};
    use std::sync::Arc;

    /// test__event.py, TestWait (count None, 2, 6): a sender sets events and async results one
    /// by one; `wait` returns those that became ready, in that order.
    #[test]
    fn wait_over_events_and_async_results_with_count_and_timeout() {
        for count in [None, Some(2usize), Some(6)] {
            let (ready, expect) = mayfly::run(move || {
                const N: usize = 5;
                let events: Arc<Vec<Event>> = Arc::new((0..N).map(|_| Event::new()).collect());
                let asyncs: Arc<Vec<AsyncResult<u32>>> =
                    Arc::new((0..N).map(|_| AsyncResult::new()).collect());
                let (e2, a2) = (events.clone(), asyncs.clone());
                let sender = spawn(move || {
                    for i in (0..N).rev() {
                        mayfly::sleep(ms(1));
                        e2[i].set();
                        mayfly::sleep(ms(1));
                        a2[i].set(i as u32);
                    }
                });
                let mut all: Vec<&dyn Waitable> = Vec::new();
                all.extend(events.iter().map(|e| e as &dyn Waitable));
                all.extend(asyncs.iter().map(|a| a as &dyn Waitable));
                let mut opts = WaitOpts::default().timeout(BOUND);
                if let Some(c) = count {
                    opts = opts.count(c);
                }
                let ready = mayfly::wait(&all, opts);
                // The sender's order: event 4, async 4, event 3, async 3, …
                let order: Vec<usize> = (0..N).rev().flat_map(|i| [i, N + i]).collect();
                let expect = order[..count.unwrap_or(2 * N).min(2 * N)].to_vec();
                sender.kill();
                (ready, expect)
            });
            assert_eq!(ready, expect, "count {count:?}");
        }
    }

    /// Greenlets of different value types and a semaphore in one wait; a timeout returns what
    /// is ready so far.
    #[test]
    fn wait_mixes_greenlet_types_and_semaphores() {
        mayfly::run(|| {
            let text = spawn(|| {
                mayfly::sleep(ms(20));
                "text"
            });
            let number = spawn(|| {
                mayfly::sleep(ms(5));
                7u64
            });
            let sem = Arc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let releaser = spawn(move || {
                mayfly::sleep(ms(10));
                s2.release();
            });
            let objs: [&dyn Waitable; 3] = [&text, &number, &*sem];
            assert_eq!(
                mayfly::wait(&objs, WaitOpts::default().timeout(BOUND)),
                [1, 2, 0]
            );
            assert_eq!(sem.available(), 1, "waiting does not take the permit");
            let never = Event::new();
            let t = std::time::Instant::now();
            let r = mayfly::wait(
                &[&never as &dyn Waitable, &text],
                WaitOpts::default().timeout(SHOULD_EXPIRE),
            );
            assert_eq!(r, [1], "what is ready, then the timeout");
            assert!(t.elapsed() >= SHOULD_EXPIRE);
            // iwait over mixed objects, by index.
            let mut it = mayfly::iwait(&objs);
            assert!(it.next_index().is_some());
            releaser.join(BOUND);
        });
    }

    /// A waiter that only looks at a semaphore does not swallow the wake-up of a greenlet that
    /// is blocked acquiring it.
    #[test]
    fn waiting_on_a_semaphore_passes_the_wake_up_to_an_acquirer() {
        mayfly::run(|| {
            let sem = Arc::new(Semaphore::new(0));
            let (s1, s2) = (sem.clone(), sem.clone());
            let looker = spawn(move || mayfly::wait(&[&*s1], WaitOpts::default().timeout(BOUND)));
            let taker = spawn(move || s2.acquire_timeout(BOUND).map(|g| g.forget()).is_some());
            mayfly::yield_now();
            sem.release();
            assert_eq!(looker.get_timeout(BOUND), Ok(vec![0]));
            assert_eq!(
                taker.get_timeout(BOUND),
                Ok(true),
                "the acquirer got the permit"
            );
        });
    }

    /// An event set and cleared at once still reports ready to `wait` (like Event::wait).
    #[test]
    fn wait_sees_an_event_pulse() {
        mayfly::run(|| {
            let ev = Arc::new(Event::new());
            let e2 = ev.clone();
            let g = spawn(move || mayfly::wait(&[&*e2], WaitOpts::default().timeout(BOUND)));
            mayfly::yield_now();
            ev.set();
            ev.clear();
            assert_eq!(g.get_timeout(BOUND), Ok(vec![0]));
        });
    }
}

mod pools {
    use super::*;
    use mayfly::event::Event;
    use mayfly::pool::{Group, Pool};
    use mayfly::queue::Queue;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// test__pool.py, test_reentrant: `apply` from inside the same (full) pool runs inline.
    #[test]
    fn apply_is_reentrant_inside_its_pool() {
        mayfly::run(|| {
            let pool = Pool::new(1);
            let p2 = pool.clone();
            let result = pool.apply(move || p2.apply(|| 5 + 1).unwrap());
            assert_eq!(result, Ok(6));
            let evt = Arc::new(Event::new());
            let e2 = evt.clone();
            pool.apply_async(move || e2.set());
            assert!(evt.wait(Some(BOUND)));
            // From outside the pool, apply goes through the pool (and waits for a slot).
            assert_eq!(pool.apply(|| 7), Ok(7));
            assert!(matches!(
                pool.apply(|| -> u8 { panic!("x") }),
                Err(GreenletError::Panicked { .. })
            ));
        });
    }

    /// test__pool.py, test_apply_async (with a callback) and map_async.
    #[test]
    fn apply_async_with_a_callback_and_map_async() {
        mayfly::run(|| {
            let pool = Pool::new(2);
            let out = Arc::new(Queue::unbounded());
            let o = out.clone();
            let g = pool.apply_async_then(|| "done", move |v| o.put(v));
            assert_eq!(out.get_timeout(BOUND), Ok("done"));
            assert!(g.ready());
            // The callback is not called for a failure.
            let o2 = out.clone();
            pool.apply_async_then(|| -> &str { panic!("no") }, move |v| o2.put(v));
            assert_eq!(
                out.get_timeout(SHOULD_NOT_EXPIRE),
                Err(mayfly::queue::Empty)
            );
            let m = pool.map_async(|x: u32| x + 1, vec![1, 2, 3]);
            assert!(!m.ready(), "map_async returns at once");
            assert_eq!(m.get_timeout(BOUND), Ok(Ok(vec![2, 3, 4])));
        });
    }

    /// test__pool.py, test_imap_maxsize-like: with a read-ahead of 1, a slow reader never has
    /// more than 2 items started ahead of it.
    #[test]
    fn imap_read_ahead_bounds_the_work_started_ahead_of_the_reader() {
        mayfly::run(|| {
            for pool in [Group::new(), (*Pool::new(10)).clone()] {
                let running = Arc::new(AtomicUsize::new(0));
                let r = running.clone();
                let mut got = Vec::new();
                for (i, x) in pool
                    .imap(
                        move |i: usize| {
                            r.fetch_add(1, Ordering::SeqCst);
                            i
                        },
                        0..30,
                    )
                    .read_ahead(1)
                    .enumerate()
                {
                    assert!(
                        running.load(Ordering::SeqCst) <= i + 2,
                        "{} started for item {i}",
                        running.load(Ordering::SeqCst)
                    );
                    got.push(x.unwrap());
                    mayfly::sleep(ms(1));
                }
                assert_eq!(got, (0..30).collect::<Vec<_>>());
            }
        });
    }

    /// test__pool.py, test_discard / test_add_method / full().
    #[test]
    fn add_discard_and_full() {
        mayfly::run(|| {
            let p = Pool::new(1);
            let first = p.spawn(|| mayfly::sleep(BOUND));
            assert!(p.full());
            p.discard(&first);
            first.kill();
            assert_eq!((p.len(), p.free_count(), p.full()), (0, 1, false));

            let a = spawn(|| mayfly::sleep(BOUND));
            let b = spawn(|| mayfly::sleep(BOUND));
            assert_eq!((p.free_count(), p.len()), (1, 0));
            p.add(&a);
            assert_eq!((p.free_count(), p.len()), (0, 1));
            p.add(&a); // already a member: no wait, no change
            assert_eq!(p.len(), 1);
            assert!(
                mayfly::with_timeout(ms(50), || p.add(&b)).is_err(),
                "add waits while full"
            );
            assert_eq!((p.free_count(), p.len()), (0, 1));
            a.kill();
            assert!(p.is_empty(), "an added member leaves when it ends");
            b.kill();
            assert!(!Group::new().full());
        });
    }

    /// gevent's ThreadPool.map: results in input order; a panic comes back as an error.
    #[test]
    fn threadpool_map_keeps_order() {
        let pool = mayfly::threadpool::ThreadPool::new(3).unwrap();
        let (ok, bad) = mayfly::run(move || {
            let ok = pool.map(
                |x: u64| {
                    std::thread::sleep(Duration::from_millis((10 - x) % 4));
                    x * x
                },
                0..10,
            );
            let bad = pool.map(|x: u8| if x == 1 { panic!("one") } else { x }, 0..3);
            (ok, bad)
        });
        assert_eq!(ok.unwrap(), (0..10).map(|x| x * x).collect::<Vec<_>>());
        assert!(bad.is_err());
    }
}

mod mutex_and_local {
    use super::*;
    use mayfly::local::Local;
    use mayfly::lock::Mutex;
    use std::sync::Arc;

    /// The case that freezes the worker with a std mutex: guards held across blocking calls
    /// by many greenlets. With mayfly's Mutex they take turns.
    #[test]
    fn mutex_held_across_blocking_calls_serialises_greenlets() {
        let log = mayfly::run(|| {
            let shared = Arc::new(Mutex::new(Vec::new()));
            let q = Arc::new(mayfly::queue::Queue::bounded(1));
            let consumer = {
                let q = q.clone();
                spawn(move || (0..6).map(|_| q.get()).collect::<Vec<u32>>())
            };
            let gs: Vec<_> = (0..3u32)
                .map(|i| {
                    let (shared, q) = (shared.clone(), q.clone());
                    spawn(move || {
                        let mut guard = shared.lock();
                        for k in 0..2 {
                            q.put(i * 10 + k); // parks while full: the guard stays held
                            guard.push(i * 10 + k);
                        }
                    })
                })
                .collect();
            mayfly::joinall(&gs, mayfly::JoinAll::default().timeout(BOUND)).unwrap();
            assert_eq!(consumer.get_timeout(BOUND).unwrap(), [0, 1, 10, 11, 20, 21]);
            let log = shared.lock().clone();
            log
        });
        assert_eq!(
            log,
            [0, 1, 10, 11, 20, 21],
            "each holder finished before the next began"
        );
    }

    #[test]
    fn mutex_timeouts_try_lock_and_a_killed_holder_unlocks() {
        mayfly::run(|| {
            let m = Arc::new(Mutex::new(0u32));
            let m2 = m.clone();
            let holder = spawn(move || {
                let mut g = m2.lock();
                *g += 1;
                mayfly::sleep(BOUND);
            });
            mayfly::yield_now();
            assert!(m.try_lock().is_none());
            assert!(m.lock_timeout(SHOULD_EXPIRE).is_none());
            holder.kill();
            let g = m
                .lock_timeout(BOUND)
                .expect("the killed holder unlocked it");
            assert_eq!(*g, 1);
            assert_eq!(format!("{m:?}"), "Mutex { data: \"<locked>\" }");
            drop(g);
            assert_eq!(format!("{m:?}"), "Mutex { data: 1 }");
        });
    }

    /// gevent's test__local.py (test_local_dicts_for_greenlets): each greenlet has its own
    /// value; values go when their greenlet ends.
    #[test]
    fn local_gives_each_greenlet_its_own_value() {
        let local = Arc::new(Local::new(|| String::from("init")));
        let l = local.clone();
        mayfly::run(move || {
            let gs: Vec<_> = (0..10)
                .map(|i| {
                    let l = l.clone();
                    spawn(move || {
                        assert_eq!(l.get(), "init");
                        l.set(format!("g{i}"));
                        mayfly::yield_now();
                        l.with(|v| v.push('!'));
                        l.get()
                    })
                })
                .collect();
            let got: Vec<String> = gs.iter().map(|g| g.get_timeout(BOUND).unwrap()).collect();
            assert_eq!(got, (0..10).map(|i| format!("g{i}!")).collect::<Vec<_>>());
            assert_eq!(l.len(), 0, "each value went with its greenlet");
            l.set("main".into());
            assert_eq!(l.len(), 1);
        });
        // An OS thread has its own value too.
        assert_eq!(local.get(), "init");
        local.set("thread".into());
        assert_eq!(local.get(), "thread");
    }

    /// A `Local` dropped while greenlets still hold values: the values go with it, the
    /// greenlets lose their links to it and end as usual.
    #[test]
    fn a_local_dropped_before_its_greenlets_takes_their_values_and_links() {
        mayfly::run(|| {
            let local = Arc::new(Local::new(|| 0u32));
            let go = Arc::new(mayfly::event::Event::new());
            let gs: Vec<_> = (0..3)
                .map(|i| {
                    let (l, go) = (local.clone(), go.clone());
                    spawn(move || {
                        l.set(i);
                        drop(l);
                        go.wait(Some(BOUND))
                    })
                })
                .collect();
            mayfly::yield_now(); // each sets its value and parks
            assert_eq!(local.len(), 3);
            assert!(gs.iter().all(mayfly::Greenlet::has_links));
            drop(local);
            assert!(gs.iter().all(|g| !g.has_links()), "the links went with it");
            go.set();
            for g in &gs {
                assert_eq!(g.get_timeout(BOUND), Ok(true));
            }
        });
    }
}

mod line_reader {
    use super::*;
    use mayfly::net::{LineReader, TcpListener, TcpStream};
    use std::io::Read;

    /// A connected pair over loopback.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    /// Lines split across writes and several lines in one write; a socket timeout and an
    /// expired Timeout in the middle of a line lose nothing.
    #[test]
    fn readline_survives_timeouts_mid_line() {
        mayfly::run(|| {
            let (mut client, server) = pair();
            let mut r = LineReader::new(server);
            client.sendall(b"one\ntw").unwrap();
            assert_eq!(&r.readline().unwrap()[..], b"one\n");
            r.get_mut().settimeout(Some(SHOULD_EXPIRE));
            let e = r.readline().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
            assert_eq!(r.buffered(), b"tw", "the partial line is kept");
            r.get_mut().settimeout(None);
            assert!(mayfly::with_timeout(SHOULD_EXPIRE, || r.readline()).is_err());
            client.sendall(b"o\nthree\r\nfour").unwrap();
            assert_eq!(&r.readline().unwrap()[..], b"two\n");
            drop(client);
            let rest: Vec<_> = r.lines().map(Result::unwrap).collect();
            assert_eq!(rest, [&b"three"[..], &b"four"[..]]);
            assert!(r.readline().unwrap().is_empty(), "end of stream");
        });
    }

    /// A line longer than the limit is an error, not unbounded memory; Read drains the buffer
    /// first (a body after the header lines).
    #[test]
    fn max_line_and_read_after_lines() {
        mayfly::run(|| {
            let (mut client, server) = pair();
            let mut r = LineReader::new(server).max_line(8);
            client.sendall(b"0123456789abcdef\n").unwrap();
            let e = r.readline().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);

            let (mut client, server) = pair();
            let mut r = LineReader::new(server);
            client.sendall(b"LEN 5\nhello").unwrap();
            assert_eq!(&r.readline().unwrap()[..], b"LEN 5\n");
            let mut body = [0u8; 5];
            r.read_exact(&mut body).unwrap();
            assert_eq!(&body, b"hello");
            assert_eq!(mayfly::net::DEFAULT_MAX_LINE, 64 * 1024);
        });
    }
}

#[test]
fn group_join_raise_reports_a_member_that_failed_and_only_then() {
    mayfly::run(|| {
        let group = mayfly::pool::Group::new();
        group.spawn(|| mayfly::sleep(ms(20)));
        let victim = group.spawn(|| mayfly::sleep(Duration::from_secs(30)));
        group.spawn(|| -> u32 { panic!("boom") });
        let killer = mayfly::spawn(move || victim.kill());
        // The earliest-spawned failure is the killed one.
        let e = group.join_raise(None).unwrap_err();
        assert!(matches!(e, mayfly::GreenletError::Killed { .. }), "{e}");
        assert!(group.is_empty());
        killer.join(None);
        // Members of an earlier call are not reported again; a running member at the
        // timeout has not failed.
        let slow = group.spawn(|| mayfly::sleep(Duration::from_secs(30)));
        assert_eq!(group.join_raise(Some(ms(20))), Ok(false));
        slow.kill();
        assert_eq!(group.join_raise(None).map_err(|_| ()), Ok(true));
        // The plain join ignores failures.
        group.spawn(|| -> u32 { panic!("ignored") });
        assert!(group.join(None));
    });
}

#[test]
fn both_servers_serve_forever_with_one_return_type() {
    use mayfly::server::{DatagramServer, StreamServer};
    type Serve = Box<dyn FnOnce() -> std::io::Result<()> + Send>;
    mayfly::run(|| {
        let tcp = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap();
        let udp = DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| Ok(())).unwrap();
        let serves: Vec<Serve> = vec![
            Box::new(move || tcp.serve_forever()),
            Box::new(move || udp.serve_forever()),
        ];
        for serve in serves {
            let g = mayfly::spawn(serve);
            mayfly::sleep(ms(10));
            assert!(!g.ready(), "serving until stopped");
            g.kill();
            assert!(matches!(
                g.into_result(),
                Err(mayfly::GreenletError::Killed { .. })
            ));
        }
    });
}
