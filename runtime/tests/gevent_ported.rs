//! Checks ported from gevent's own test suite (`src/gevent/tests/` in gevent's repository):
//! the semantics a gevent user leans on. Each test names the gevent test it comes from.
//!
//! Every wait here is bounded: a regression fails the test instead of hanging it.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mayfly::event::Event;
use mayfly::net::TcpStream;
use mayfly::pool::{Group, Pool};
use mayfly::server::StreamServer;
use mayfly::{joinall, spawn, JoinAll};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Long enough that nothing here legitimately waits for it; short enough to bound a failure.
const BOUND: Duration = Duration::from_secs(5);

/// test__event.py, TestEvent_SetThenClear (N = 1, 100, 1000): every greenlet blocked in
/// `wait()` when `set()` is called returns true, even though `clear()` follows at once.
#[test]
fn event_set_then_clear_wakes_every_waiter() {
    for n in [1usize, 100, 1000] {
        let (finished, all_true) = mayfly::run(move || {
            let e = Arc::new(Event::new());
            let parked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let waiters: Vec<_> = (0..n)
                .map(|_| {
                    let (e, parked) = (e.clone(), parked.clone());
                    spawn(move || {
                        // No switch between the count and the wait: once the count reaches
                        // n, every waiter is blocked in wait().
                        parked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        e.wait(None)
                    })
                })
                .collect();
            // Not a fixed sleep: on a loaded machine 1 ms could pass before all had started.
            while parked.load(std::sync::atomic::Ordering::Relaxed) < n {
                mayfly::sleep(ms(1));
            }
            e.set();
            e.clear();
            let done = joinall(&waiters, JoinAll::default().timeout(BOUND))
                .unwrap()
                .len();
            let all_true = waiters.iter().all(|g| g.value() == Some(true));
            for g in &waiters {
                g.kill();
            }
            (done, all_true)
        });
        assert_eq!(
            finished, n,
            "N = {n}: waiters still blocked after set();clear()"
        );
        assert!(all_true, "N = {n}: every woken waiter returns true");
    }
}

/// test__greenletset.py, test_kill_block: killing a group whose members have not started
/// yet empties it.
#[test]
fn group_kill_of_unstarted_members_empties_the_group() {
    mayfly::run(|| {
        let s = Group::new();
        s.spawn(|| mayfly::sleep(ms(100)));
        s.spawn(|| mayfly::sleep(ms(200)));
        assert_eq!(s.len(), 2);
        s.kill();
        assert!(s.is_empty(), "len {} after kill", s.len());
        assert!(s.join(Some(BOUND)), "join must not hang after kill");
    });
}

/// The same through a Pool: a member killed before it started gives its slot back.
#[test]
fn pool_kill_of_unstarted_members_loses_no_slot() {
    mayfly::run(|| {
        let pool = Pool::new(2);
        let a = pool.spawn(|| mayfly::sleep(BOUND));
        let b = pool.spawn(|| mayfly::sleep(BOUND));
        assert_eq!(pool.free_count(), 0);
        a.kill(); // before it ever ran
        b.kill();
        assert_eq!(
            pool.free_count(),
            2,
            "slots lost to members killed before start"
        );
        assert!(pool.wait_available(Some(BOUND)));
        let c = pool.spawn(|| 7);
        assert_eq!(c.get_timeout(BOUND), Ok(7));
        assert!(pool.join(Some(BOUND)));
    });
}

/// A member leaves its group however it ends: returns, panics, is killed while running, is
/// killed before it starts, or is killed by `Group::kill`.
#[test]
fn a_member_leaves_its_group_however_it_ends() {
    mayfly::run(|| {
        let g = Group::new();
        let ok = g.spawn(|| 1);
        let bad = g.spawn(|| -> i32 { panic!("member fails") });
        let unstarted = g.spawn(|| 3);
        unstarted.kill_nowait();
        let running = g.spawn(|| {
            mayfly::sleep(BOUND);
            4
        });
        mayfly::yield_now(); // the others run (and end); `running` parks
        assert_eq!(g.len(), 1, "only the sleeper is left");
        running.kill();
        assert!(g.is_empty() && g.join(Some(ms(10))));
        assert_eq!(ok.get(), Ok(1));
        assert!(bad.exception().is_some() && unstarted.exception().is_some());
    });
}

/// test__order.py, TestSleep0: `sleep(0)` is round-robin, also for greenlets that were just
/// spawned.
#[test]
fn yield_now_is_round_robin_for_new_greenlets() {
    fn sleep0(lst: Arc<Mutex<Vec<String>>>, param: &'static str) {
        lst.lock().unwrap().push(format!("{param}A"));
        mayfly::yield_now();
        lst.lock().unwrap().push(format!("{param}B"));
    }
    let out = mayfly::run(|| {
        let lst = Arc::new(Mutex::new(Vec::new()));
        let (l1, l2) = (lst.clone(), lst.clone());
        let gs = [
            spawn(move || sleep0(l1, "1")),
            spawn(move || sleep0(l2, "2")),
        ];
        joinall(&gs, JoinAll::default().timeout(BOUND)).unwrap();
        let out = lst.lock().unwrap().join(" ");
        out
    });
    assert_eq!(out, "1A 2A 1B 2B");
}

/// Three greenlets, three rounds: still round-robin.
#[test]
fn yield_now_round_robin_three_by_three() {
    let out = mayfly::run(|| {
        let lst = Arc::new(Mutex::new(Vec::new()));
        let gs: Vec<_> = (1..=3)
            .map(|i| {
                let lst = lst.clone();
                spawn(move || {
                    for round in ["A", "B", "C"] {
                        lst.lock().unwrap().push(format!("{i}{round}"));
                        mayfly::yield_now();
                    }
                })
            })
            .collect();
        joinall(&gs, JoinAll::default().timeout(BOUND)).unwrap();
        let out = lst.lock().unwrap().join(" ");
        out
    });
    assert_eq!(out, "1A 2A 3A 1B 2B 3B 1C 2C 3C");
}

fn upper_echo(mut conn: TcpStream, _: std::net::SocketAddr) -> std::io::Result<()> {
    loop {
        let data = conn.recv(1024)?;
        if data.is_empty() {
            return Ok(());
        }
        conn.sendall(&data.to_ascii_uppercase())?;
    }
}

/// One request over loopback: the server answers.
fn assert_request_succeeded(addr: std::net::SocketAddr) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.settimeout(Some(BOUND));
    c.sendall(b"hi").unwrap();
    assert_eq!(&c.recv_exact(2).unwrap()[..], b"HI");
}

/// Nobody listens any more: connect is refused.
fn assert_connection_refused(addr: std::net::SocketAddr) {
    let e = TcpStream::connect_timeout(addr, BOUND).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}

/// test__server.py, test_serve_forever (its `finally: g.kill()` half): killing the greenlet
/// that runs `serve_forever` stops the server and closes the listening socket.
#[test]
fn killing_the_serve_forever_greenlet_stops_the_server() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", upper_echo).unwrap();
        let addr = server.local_addr().unwrap();
        let g = spawn(move || server.serve_forever());
        mayfly::sleep(ms(10));
        assert_request_succeeded(addr);
        g.kill();
        assert!(g.ready());
        assert_connection_refused(addr);
    });
}

/// test__server.py, test_serve_forever: `serve_forever` in a greenlet, stopped through a
/// handle from another greenlet; afterwards `started` is false and connections are refused.
#[test]
fn serve_forever_returns_when_a_handle_stops_the_server() {
    mayfly::run(|| {
        let running = StreamServer::bind("127.0.0.1:0", upper_echo)
            .unwrap()
            .start();
        assert!(running.started());
        let addr = running.local_addr();
        let handle = running.clone();
        let g = spawn(move || handle.serve_forever());
        mayfly::sleep(ms(10));
        assert_request_succeeded(addr);
        assert!(!g.ready(), "serve_forever serves until stopped");
        running.stop(ms(100));
        assert!(!running.started());
        assert!(g.join(BOUND), "serve_forever returns after stop");
        assert!(g.successful());
        assert_connection_refused(addr);
        assert_eq!(running.stop(ms(10)), 0, "a second stop is a no-op");
    });
}

/// test__server.py, _test_server_start_stop(restartable=True): `stop_accepting` keeps the
/// socket open but serves nobody new; `start_accepting` serves them (the waiting one too).
#[test]
fn stop_accepting_holds_clients_in_the_backlog_until_start_accepting() {
    mayfly::run(|| {
        let running = StreamServer::bind("127.0.0.1:0", upper_echo)
            .unwrap()
            .start();
        let addr = running.local_addr();
        assert_request_succeeded(addr);
        running.stop_accepting();
        assert!(running.started() && !running.accepting());
        // assertNotAccepted: the kernel completes the handshake, nobody answers.
        let mut waiting = TcpStream::connect(addr).unwrap();
        waiting.sendall(b"early").unwrap();
        waiting.settimeout(Some(ms(100)));
        let e = waiting.recv(5).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        running.start_accepting().unwrap();
        assert!(running.accepting());
        waiting.settimeout(Some(BOUND));
        assert_eq!(&waiting.recv_exact(5).unwrap()[..], b"EARLY");
        assert_request_succeeded(addr);
        drop(waiting);
        running.stop(ms(100));
        assert!(!running.accepting());
        running.start_accepting().unwrap(); // after stop: a no-op
        assert!(!running.accepting());
        assert_connection_refused(addr);
    });
}

/// gevent's `while not done: gevent.sleep(0)`: a greenlet spinning on `yield_now` lets a
/// sleeping greenlet wake (its timer wake-up is not starved).
#[test]
fn a_yield_now_spin_loop_lets_a_sleeper_wake() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let woke = mayfly::run(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let sleeper = spawn(move || {
            mayfly::sleep(ms(10));
            f2.store(true, Ordering::SeqCst);
        });
        mayfly::sleep(ms(1)); // the sleeper is parked on its timer
        let t = std::time::Instant::now();
        while !flag.load(Ordering::SeqCst) && t.elapsed() < BOUND {
            mayfly::yield_now();
        }
        sleeper.join(BOUND);
        flag.load(Ordering::SeqCst)
    });
    assert!(
        woke,
        "the sleeper never ran while another greenlet yielded in a loop"
    );
}

/// Waits (bounded) until a last link added now has run: gevent's `sleep(DELAY * 10)`, without
/// guessing how long three panics take to report (a backtrace can take longer than that).
fn after_the_links_ran<T: Send + 'static>(p: &mayfly::Greenlet<T>) {
    let done = Arc::new(Event::new());
    let d = done.clone();
    p.link(move |_| d.set());
    assert!(done.wait(Some(BOUND)), "the last link never ran");
}

/// test__greenlet.py, TestStuff.test_multiple_listeners_error_unlink_Greenlet_link: link
/// callbacks run one after another in link order, so one that unlinks a later one stops it
/// ("notification must not happen after unlink even though notification process has been
/// already started"); each of them panics, which stops none of the others.
#[test]
fn a_link_callback_that_unlinks_a_later_one_stops_it() {
    use mayfly::LinkId;
    use std::sync::OnceLock;
    let results = mayfly::run(|| {
        let results = Arc::new(Mutex::new(Vec::new()));
        let ids: Arc<[OnceLock<LinkId>; 2]> = Arc::new([OnceLock::new(), OnceLock::new()]);
        let p = spawn(|| 5);
        let (r1, i1) = (results.clone(), ids.clone());
        let first = p.link(move |p| {
            p.unlink(*i1[1].get().unwrap());
            r1.lock().unwrap().push(5);
            panic!("listener1");
        });
        let (r2, i2) = (results.clone(), ids.clone());
        let second = p.link(move |p| {
            p.unlink(*i2[0].get().unwrap());
            r2.lock().unwrap().push(5);
            panic!("listener2");
        });
        p.link(|_| panic!("listener3"));
        ids[0].set(first).unwrap();
        ids[1].set(second).unwrap();
        after_the_links_ran(&p);
        let out = results.lock().unwrap().clone();
        out
    });
    assert_eq!(results, [5]);
}

/// test__greenlet.py, TestStuff.test_multiple_listeners_error: a callback that panics does
/// not stop the later ones, on a greenlet that returned and on one that panicked.
#[test]
fn a_panicking_link_callback_does_not_stop_the_others() {
    for fail in [false, true] {
        let results = mayfly::run(move || {
            let results = Arc::new(Mutex::new(Vec::new()));
            let p = spawn(move || {
                assert!(!fail, "test_multiple_listeners_error");
                5
            });
            let (r1, r2) = (results.clone(), results.clone());
            p.link(move |_| {
                r1.lock().unwrap().push(10);
                panic!("listener1");
            });
            p.link(move |_| {
                r2.lock().unwrap().push(20);
                panic!("listener2");
            });
            p.link(|_| panic!("listener3"));
            after_the_links_ran(&p);
            let out = results.lock().unwrap().clone();
            out
        });
        assert_eq!(results, [10, 20], "the greenlet failed: {fail}");
    }
}

/// test__pool.py, TestPool.test_async_callback: `apply_async(sqr, (7, TIMEOUT1),
/// callback=result.append)`: `get()` gives 49 after about TIMEOUT1, and so did the callback.
/// The callback gets a clone of the value; `get()` still reads it afterwards.
#[test]
fn apply_async_with_a_callback_leaves_the_value_readable() {
    let (got, seen, after, value) = mayfly::run(|| {
        let pool = Pool::new(3);
        let result = Arc::new(Mutex::new(Vec::new()));
        let r = result.clone();
        let res = pool.apply_async_then(
            || {
                mayfly::sleep(ms(20));
                7 * 7
            },
            move |v| r.lock().unwrap().push(v),
        );
        let got = res.get_timeout(BOUND);
        after_the_links_ran(&res);
        let seen = result.lock().unwrap().clone();
        (got, seen, res.get(), res.value())
    });
    assert_eq!(got, Ok(49));
    assert_eq!(seen, [49]);
    assert_eq!(
        (after, value),
        (Ok(49), Some(49)),
        "readable after the callback ran"
    );
}

/// test__pool.py, TestCoroutinePool.test_reentrant: `pool.apply(pool.apply, …)` on a
/// `Pool(1)` runs the inner call inline, and `apply_async` afterwards still runs. The same
/// for `map` and `imap` called from inside the pool: the member holding the only slot would
/// otherwise wait for ever for a slot of its own.
#[test]
fn nested_apply_map_and_imap_on_a_full_pool_run_inline() {
    mayfly::run(|| {
        let pool = Pool::new(1);
        let p = pool.clone();
        assert_eq!(pool.apply(move || p.apply(|| 5 + 1).unwrap()), Ok(6));
        let evt = Arc::new(Event::new());
        let e = evt.clone();
        pool.apply_async(move || e.set());
        assert!(evt.wait(Some(BOUND)));

        let p = pool.clone();
        let outer = spawn(move || {
            let p2 = p.clone();
            p.apply(move || {
                let mapped = p2.map(|x: u32| x + 1, [1, 2, 3]).unwrap();
                let imapped: Vec<u32> = p2
                    .imap(|x: u32| x * 2, [1, 2, 3])
                    .map(Result::unwrap)
                    .collect();
                let unordered = p2.imap_unordered(|x: u32| x, [7]).count();
                (mapped, imapped, unordered)
            })
        });
        let finished = outer.join(BOUND);
        outer.kill();
        assert!(finished, "a nested map on a full Pool(1) never finished");
        assert_eq!(outer.get(), Ok(Ok((vec![2, 3, 4], vec![2, 4, 6], 1))));
    });
}

/// A nested map on a `Group` (no size limit, so no dead-lock to avoid) keeps running its
/// items concurrently.
#[test]
fn nested_map_on_a_group_stays_concurrent() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let most = mayfly::run(|| {
        let group = Group::new();
        let g2 = group.clone();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let m = most.clone();
        group
            .apply(move || {
                g2.map(
                    move |_: u32| {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(n, Ordering::SeqCst);
                        mayfly::sleep(ms(10));
                        now.fetch_sub(1, Ordering::SeqCst);
                    },
                    0..5,
                )
                .unwrap()
            })
            .unwrap();
        most.load(Ordering::SeqCst)
    });
    assert_eq!(most, 5, "the nested map's items did not run at once");
}

/// gevent's queue.py, `Queue.__init__`: "Queue(0) now equivalent to Queue(None); if you want
/// a channel, use Channel" (since gevent 1.0; Python's `queue.Queue(0)` is unbounded too). A
/// size of 0 is no limit, for every ordered queue; a put never waits.
#[test]
fn a_queue_of_size_zero_is_unbounded() {
    use mayfly::queue::{LifoQueue, PriorityQueue, Queue};
    let fifo: Queue<u32> = Queue::bounded(0);
    let lifo: LifoQueue<u32> = LifoQueue::bounded(0);
    let prio: PriorityQueue<u32> = PriorityQueue::bounded(0);
    assert_eq!(
        (fifo.maxsize(), lifo.maxsize(), prio.maxsize()),
        (None, None, None)
    );
    for i in 0..100 {
        fifo.put_nowait(i).unwrap();
        lifo.put_nowait(i).unwrap();
        prio.put_nowait(i).unwrap();
    }
    assert!(!fifo.full() && !lifo.full() && !prio.full());
    assert_eq!((fifo.qsize(), fifo.get_nowait()), (100, Ok(0)));
    assert_eq!(lifo.get_nowait(), Ok(99));
    assert_eq!(prio.get_nowait(), Ok(0));
    // A size of 1 is still one item.
    let one: Queue<u32> = Queue::bounded(1);
    one.put_nowait(1).unwrap();
    assert!(one.full() && one.put_nowait(2).is_err());
}

/// test__local.py, test_locals_collected_when_unreferenced_even_in_running_greenlet (with
/// 10,000 instead of 1,000): a long-lived greenlet touches many short-lived `Local`s; each
/// value is dropped with its `Local`, while the greenlet still runs, and "the links were
/// removed as well": the greenlet's record does not grow with every `Local` it touched.
#[test]
fn a_dropped_local_leaves_no_link_in_a_running_greenlet() {
    use mayfly::local::Local;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Sentinel(Arc<AtomicUsize>);
    impl Drop for Sentinel {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    const COUNT: usize = 10_000;
    let (deleted_while_running, links_while_running, deleted_after) = mayfly::run(|| {
        let deleted = Arc::new(AtomicUsize::new(0));
        let d = deleted.clone();
        let slot = Arc::new(std::sync::OnceLock::new());
        let me = slot.clone();
        let running = spawn(move || {
            for _ in 0..COUNT {
                let d = d.clone();
                let x = Local::new(move || Sentinel(d.clone()));
                x.with(|_| ());
                drop(x);
            }
            let me: &mayfly::Greenlet<(usize, bool)> = me.get().unwrap();
            (d.load(Ordering::SeqCst), me.has_links())
        });
        slot.set(running.clone()).unwrap();
        let got = running.get_timeout(BOUND).unwrap();
        (got.0, got.1, deleted.load(Ordering::SeqCst))
    });
    assert_eq!(
        deleted_while_running, COUNT,
        "values dropped with their Local"
    );
    assert!(!links_while_running, "the links were removed as well");
    assert_eq!(deleted_after, COUNT);
}
