//! `mayfly::net::wait_read` / `wait_write` (gevent.socket's `wait_read`/`wait_write`) on fds
//! mayfly did not make: a pipe, a socket pair, a regular file, a mayfly socket's own fd.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::net::{wait_read, wait_write};
use mayfly::{spawn, with_timeout, GreenletError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_pipe_wait_parks_only_the_greenlet_until_data_comes() {
    mayfly::run(|| {
        let (r, w) = std::io::pipe().unwrap();
        let ticks = Arc::new(AtomicU64::new(0));
        let t2 = ticks.clone();
        // Runs while the main greenlet waits: the worker is not blocked.
        let ticker = spawn(move || {
            for _ in 0..5 {
                mayfly::sleep(ms(5));
                t2.fetch_add(1, Ordering::Relaxed);
            }
            (&w).write_all(b"x").unwrap();
            w
        });
        let t = Instant::now();
        wait_read(&r, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ticks.load(Ordering::Relaxed), 5, "woken before the write");
        assert!(t.elapsed() < Duration::from_secs(5));
        let mut b = [0u8; 1];
        (&r).read_exact(&mut b).unwrap();
        // The writer's end closed: end of file counts as readable.
        drop(ticker.into_result().unwrap());
        wait_read(&r, Some(ms(2000))).unwrap();
        assert_eq!((&r).read(&mut b).unwrap(), 0);
    });
}

#[test]
fn the_own_timeout_is_timed_out_and_an_active_timeout_unwinds_to_its_scope() {
    mayfly::run(|| {
        let (r, _w) = std::io::pipe().unwrap();
        let t = Instant::now();
        let e = wait_read(&r, Some(ms(30))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        let took = t.elapsed();
        assert!(took >= ms(29) && took < Duration::from_secs(5), "{took:?}");

        let t = Instant::now();
        let r2 = with_timeout(ms(30), || wait_read(&r, None));
        assert!(r2.is_err(), "the Timeout interrupts the wait: {r2:?}");
        assert!(t.elapsed() < Duration::from_secs(5));

        // A zero timeout looks once.
        assert_eq!(
            wait_read(&r, Some(Duration::ZERO)).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
    });
}

#[test]
fn a_socket_pair_write_wait_returns_once_the_peer_drains_it() {
    mayfly::run(|| {
        let (a, b) = StdUnixStream::pair().unwrap();
        wait_write(&a, Some(ms(1000))).unwrap(); // room at once
                                                 // Fill a's send buffer.
        a.set_nonblocking(true).unwrap();
        let chunk = vec![7u8; 65536];
        let mut queued = 0usize;
        loop {
            match (&a).write(&chunk) {
                Ok(n) => queued += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            wait_write(&a, Some(ms(30))).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        // The reader waits for readability first, so its blocking reads never block.
        let reader = spawn(move || {
            let mut got = 0usize;
            let mut buf = vec![0u8; 65536];
            while got < queued {
                wait_read(&b, Some(Duration::from_secs(10))).unwrap();
                got += (&b).read(&mut buf).unwrap();
            }
            got
        });
        wait_write(&a, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(reader.get().unwrap(), queued);
    });
}

#[test]
fn a_regular_file_is_refused_with_a_clear_error() {
    let path = std::env::temp_dir().join(format!("mayfly-wait-fd-{}", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    let e = mayfly::run(move || wait_read(&f, Some(ms(100))).unwrap_err());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("regular files"), "{e}");
}

#[test]
fn a_mayfly_sockets_own_fd_can_be_waited_on_too() {
    mayfly::run(|| {
        let (a, b) = mayfly::net::UnixStream::pair().unwrap();
        let g = spawn(move || {
            mayfly::sleep(ms(10));
            let mut b = b;
            b.sendall(b"hi").unwrap();
            b
        });
        wait_read(&a, Some(Duration::from_secs(10))).unwrap();
        let mut a = a;
        assert_eq!(&a.recv_exact(2).unwrap()[..], b"hi");
        drop(g.into_result().unwrap());
    });
}

#[test]
fn a_kill_ends_a_parked_wait() {
    mayfly::run(|| {
        let (r, w) = std::io::pipe().unwrap();
        let g = spawn(move || wait_read(&r, None));
        mayfly::sleep(ms(10));
        let t = Instant::now();
        g.kill();
        assert!(matches!(g.into_result(), Err(GreenletError::Killed { .. })));
        assert!(t.elapsed() < Duration::from_secs(5));
        drop(w);
    });
}

#[test]
fn from_a_plain_thread_it_blocks_that_thread() {
    mayfly::hub::ensure_started();
    let (r, w) = std::io::pipe().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(ms(20));
        (&w).write_all(b"z").unwrap();
        w
    });
    wait_read(&r, Some(Duration::from_secs(10))).unwrap();
    let _w = t.join().unwrap(); // open: no hang-up to report
    assert_eq!(
        wait_write(&r, Some(ms(20))).unwrap_err().kind(),
        ErrorKind::TimedOut,
        "a pipe's read end is never writable (fd {})",
        r.as_raw_fd()
    );
}
