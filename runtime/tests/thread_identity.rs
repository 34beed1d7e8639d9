//! The soundness argument of `mayfly::spawn`, tested: user code only ever runs on may's one
//! worker thread, before and after every blocking primitive — including those woken by timers.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mayfly::net::{TcpListener, TcpStream, UdpSocket};

fn me() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

/// Records (label, thread) and checks every record is the worker.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(String, usize)>>>);

impl Log {
    fn at(&self, label: &str) {
        self.0.lock().unwrap().push((label.to_string(), me()));
    }
    fn assert_all_on_worker(&self, min_records: usize) {
        let worker = mayfly::hub::worker_thread();
        let log = self.0.lock().unwrap();
        assert!(log.len() >= min_records, "only {} records", log.len());
        let off: Vec<_> = log.iter().filter(|(_, t)| *t != worker).collect();
        assert!(off.is_empty(), "ran off the worker: {off:?}");
    }
}

#[test]
fn every_blocking_primitive_resumes_on_the_worker() {
    let log = Log::default();
    let l = log.clone();
    mayfly::run(move || {
        let ms = Duration::from_millis;
        l.at("start");
        mayfly::sleep(ms(5));
        l.at("after sleep");
        mayfly::yield_now();
        l.at("after yield_now");
        mayfly::sleep(Duration::ZERO);
        l.at("after sleep(0)");

        let r = mayfly::with_timeout(ms(10), || mayfly::sleep(ms(500)));
        assert!(r.is_err());
        l.at("after Timeout interrupting sleep");
        let t = mayfly::Timeout::start_new(ms(10));
        assert!(t.catch(|| mayfly::sleep(ms(500))).is_err());
        l.at("after ActiveTimeout interrupting sleep");

        let slow = mayfly::spawn(move || mayfly::sleep(ms(300)));
        assert!(!slow.join(ms(10)));
        l.at("after join timeout");
        assert!(slow.get_timeout(ms(10)).is_err());
        l.at("after get_timeout");
        slow.kill();
        l.at("after kill");
        let doomed: Vec<_> = (0..3)
            .map(|_| mayfly::spawn(move || mayfly::sleep(ms(300))))
            .collect();
        mayfly::yield_now();
        assert!(mayfly::killall(
            &doomed,
            mayfly::KillAll::default().timeout(ms(500))
        ));
        l.at("after killall with a timeout");
        let reasoned = mayfly::spawn(move || mayfly::sleep(ms(300)));
        mayfly::yield_now();
        reasoned.kill_with("test");
        l.at("after kill_with");
        let linked = l.clone();
        let done = Arc::new(mayfly::event::Event::new());
        let d2 = done.clone();
        reasoned.link(move |_| {
            linked.at("inside a link callback");
            d2.set();
        });
        assert!(done.wait(Some(ms(500))));
        l.at("after a link callback ran");

        let later = mayfly::spawn_later(ms(5), me);
        let t = later.get().unwrap();
        l.0.lock().unwrap().push(("inside spawn_later".into(), t));
        l.at("after get of spawn_later");

        let gs: Vec<_> = (0..3u64)
            .map(|i| mayfly::spawn(move || mayfly::sleep(ms(5 * (i + 1)))))
            .collect();
        let done = mayfly::joinall(&gs, mayfly::JoinAll::default().timeout(ms(8))).unwrap();
        assert!(!done.is_empty() && done.len() < 3);
        l.at("after joinall timeout");
        for _ in mayfly::iwait(&gs) {
            l.at("in iwait");
        }

        // Socket timeouts (may's I/O timers) and Timeout inside a read.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = mayfly::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            mayfly::sleep(ms(300));
            drop(s);
        });
        let mut c = TcpStream::connect(addr).unwrap();
        l.at("after connect");
        c.settimeout(Some(ms(10)));
        let mut buf = [0u8; 8];
        let e = c.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        l.at("after socket read timeout");
        c.settimeout(None);
        let r = mayfly::with_timeout(ms(10), || c.read(&mut buf));
        assert!(r.is_err());
        l.at("after Timeout interrupting read");
        c.write_all(b"x").unwrap();
        l.at("after write");
        let mut lines = mayfly::net::LineReader::new(c.try_clone().unwrap());
        lines.get_mut().settimeout(Some(ms(10)));
        assert!(lines.readline().is_err());
        l.at("after LineReader readline timeout");
        lines.get_mut().settimeout(None);
        assert!(mayfly::with_timeout(ms(10), || lines.readline()).is_err());
        l.at("after Timeout interrupting LineReader readline");
        hold.kill();
        // sendfile parked on a full send buffer: woken by the reader (the fast path), and
        // timed out by its write timeout (the timed path, may's I/O timer).
        let path = std::env::temp_dir().join(format!("mayfly-identity-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(32 << 20).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let sl = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut reader = TcpStream::connect(sl.local_addr().unwrap()).unwrap();
        let (mut sender, _) = sl.accept().unwrap();
        let drain = mayfly::spawn(move || {
            let mut got = vec![0u8; 32 << 20];
            reader.read_exact(&mut got).unwrap();
            reader
        });
        sender.sendfile_all(&file, 0, 32 << 20).unwrap();
        l.at("after sendfile parked on a full buffer");
        let _reader = drain.into_result().unwrap();
        sender.set_write_timeout(Some(ms(10)));
        let e = sender.sendfile_all(&file, 0, 32 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        l.at("after sendfile write timeout");

        let mut u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.settimeout(Some(ms(10)));
        assert!(u.recvfrom(16).is_err());
        l.at("after udp recv timeout");

        let by_name = TcpStream::connect(format!("localhost:{}", addr.port()));
        let _ = by_name;
        l.at("after connect by name (resolved on the thread pool)");
        let c2 = TcpStream::connect_timeout(addr, ms(50));
        let _ = c2;
        l.at("after connect_timeout");

        // Synchronisation primitives: timed out, and woken by another OS thread.
        let q: mayfly::queue::Queue<u8> = mayfly::queue::Queue::unbounded();
        assert!(q.get_timeout(ms(5)).is_err());
        l.at("after queue get timeout");
        assert!(q.peek_timeout(ms(5)).is_err());
        l.at("after queue peek timeout");
        let closing: Arc<mayfly::queue::Queue<u8>> = Arc::new(mayfly::queue::Queue::bounded(1));
        let c2 = closing.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            c2.close();
        });
        assert!(closing.recv().is_err());
        l.at("after queue recv woken by close() from an OS thread");
        closing.close();
        assert!(closing.send(1).is_err());
        l.at("after queue send on a closed queue");
        let sem = mayfly::lock::Semaphore::new(0);
        assert!(sem.acquire_timeout(ms(5)).is_none());
        l.at("after semaphore timeout");
        let m = Arc::new(mayfly::lock::Mutex::new(0u8));
        let m2 = m.clone();
        let holder = mayfly::spawn(move || {
            let _g = m2.lock();
            mayfly::sleep(Duration::from_millis(20));
        });
        mayfly::yield_now();
        assert!(m.lock_timeout(ms(2)).is_none());
        l.at("after Mutex lock_timeout");
        drop(m.lock());
        l.at("after Mutex lock waiting for a holder");
        holder.join(None);
        let ev = mayfly::event::Event::new();
        assert!(!ev.wait(Some(ms(5))));
        l.at("after event wait timeout");
        let never = mayfly::event::Event::new();
        let objs: [&dyn mayfly::Waitable; 2] = [&ev, &never];
        let none = mayfly::wait(&objs, mayfly::WaitOpts::default().timeout(ms(5)));
        assert!(none.is_empty());
        l.at("after mayfly::wait timeout");
        assert!(mayfly::iwait_timeout(&objs, ms(5)).next().is_none());
        l.at("after iwait over mixed objects timeout");
        let r = mayfly::threadpool::apply(|| std::thread::sleep(Duration::from_millis(5)));
        assert!(r.is_ok());
        l.at("after threadpool apply (woken by a pool thread)");
        let r = mayfly::threadpool::shared().map(|x: u64| x + 1, 0..4);
        assert_eq!(r.unwrap(), [1, 2, 3, 4]);
        l.at("after ThreadPool::map (woken by pool threads)");
        assert!(mayfly::fs::metadata("/proc/self/status").is_ok());
        l.at("after mayfly::fs::metadata (woken by a pool thread)");
        let mut f = mayfly::fs::File::open("/proc/self/status").unwrap();
        assert!(f.read(&mut buf).unwrap() > 0);
        l.at("after mayfly::fs::File read (woken by a pool thread)");
        let pool = mayfly::pool::Pool::new(1);
        assert_eq!(
            pool.apply(|| mayfly::sleep(Duration::from_millis(2))),
            Ok(())
        );
        l.at("after Pool::apply");
        let busy = mayfly::spawn(move || mayfly::sleep(ms(300)));
        pool.add(&busy);
        let outsider = mayfly::spawn(|| ());
        assert!(mayfly::with_timeout(ms(5), || pool.add(&outsider)).is_err());
        l.at("after Pool::add interrupted by a Timeout");
        busy.kill();
        let m = pool.map_async(|x: u8| x, 0..3);
        assert!(m.get_timeout(ms(500)).is_ok());
        l.at("after map_async");

        // Child processes: the exit (woken by the reaper thread) and the pipes (may's reactor).
        use mayfly::subprocess::{Command, Stdio};
        let mut child = Command::new("sleep").arg("0.05").spawn().unwrap();
        assert!(child.wait_timeout(ms(1)).unwrap().is_none());
        l.at("after Child::wait_timeout timed out");
        assert!(child.wait().unwrap().success());
        l.at("after Child::wait woken by the reaper thread");
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        assert!(mayfly::with_timeout(ms(10), || child.wait()).is_err());
        l.at("after Timeout interrupting Child::wait");
        child.kill().unwrap();
        child.wait().unwrap();
        let mut child = Command::new("sh")
            .args(["-c", "sleep 0.02; echo hi"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        l.at("after a child's stdout read");
        child.wait().unwrap();
        let out = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
            .communicate(Some(b"x"))
            .unwrap();
        assert_eq!(out.stdout, b"x");
        l.at("after Child::communicate");
    });
    log.assert_all_on_worker(28);
}

#[test]
fn many_timer_wakeups_all_land_on_the_worker() {
    let log = Log::default();
    let l = log.clone();
    mayfly::run(move || {
        let gs: Vec<_> = (0..200u64)
            .map(|i| {
                let l = l.clone();
                mayfly::spawn(move || {
                    for k in 0..5u64 {
                        mayfly::sleep(Duration::from_micros(100 + (i * 37 + k * 11) % 900));
                        l.at("woken");
                    }
                })
            })
            .collect();
        mayfly::joinall(&gs, Default::default()).unwrap();
    });
    log.assert_all_on_worker(1000);
}

#[test]
fn killed_greenlet_runs_its_destructors_on_the_worker() {
    struct OnDrop(Arc<Mutex<Option<usize>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(me());
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let g = mayfly::spawn(move || {
        let _guard = OnDrop(s);
        mayfly::sleep(Duration::from_secs(30));
    });
    std::thread::sleep(Duration::from_millis(20));
    // Killed from a plain OS thread (not a greenlet): may queues it for the worker.
    g.kill();
    assert!(matches!(
        g.exception(),
        Some(mayfly::GreenletError::Killed { .. })
    ));
    assert_eq!(*seen.lock().unwrap(), Some(mayfly::hub::worker_thread()));
}
