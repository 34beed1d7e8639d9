//! The coroutine streams' fast path (`net/ready.rs`: wait for readiness after a short read)
//! and the swept server timeouts (`net/sweep.rs`), over real loopback sockets.
//!
//! Each case runs in a greenlet started from the test thread, which waits for its answer
//! with a deadline: a read that parks for ever (a lost wake-up) fails the test instead of
//! hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mayfly::net::{TcpListener, TcpStream};
use mayfly::server::StreamServer;

/// Longest any case may take before it counts as hung.
const HUNG: Duration = Duration::from_secs(20);

/// Runs `f` in a greenlet and returns its value, failing if it does not finish in [`HUNG`].
fn in_greenlet<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let _g = mayfly::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HUNG)
        .expect("the greenlet hung (a lost wake-up?) or panicked")
}

/// A connected pair: (the accepted server side, a std client).
fn pair() -> (TcpStream, std::net::TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (s, c)
}

#[test]
fn a_close_that_arrives_with_the_last_data_is_seen_after_a_short_read() {
    // The peer's data and its FIN come in one wake-up: the short read that takes the data
    // must not make the next read wait for an edge that already came.
    let got = in_greenlet(|| {
        let (mut s, mut c) = pair();
        let mut early = c.try_clone().unwrap();
        // The first read has to wait (nothing sent yet), so the fast path trusts the flag
        // and takes the next short read as "drained".
        let _w = mayfly::spawn(move || {
            mayfly::sleep(Duration::from_millis(30));
            early.write_all(b"first").unwrap();
        });
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
        c.write_all(b"last").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        // Parked elsewhere meanwhile, so may's event loop takes the one edge (data and
        // close together) before the next read.
        mayfly::sleep(Duration::from_millis(50));
        let mut reads = Vec::new();
        loop {
            let n = s.read(&mut buf).unwrap();
            reads.push(buf[..n].to_vec());
            if n == 0 {
                break reads;
            }
        }
    });
    assert_eq!(got.concat(), b"last");
    assert!(got.last().unwrap().is_empty());
}

#[test]
fn end_of_stream_is_returned_again_on_every_later_read() {
    let zeros = in_greenlet(|| {
        let (mut s, c) = pair();
        drop(c);
        let mut buf = [0u8; 64];
        (0..3)
            .map(|_| s.read(&mut buf).unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(zeros, [0, 0, 0]);
}

#[test]
fn reads_under_a_timeout_then_without_one_still_see_the_close() {
    // A read under `with_timeout` goes through may's own call, which clears the readiness
    // flag (and with it, maybe, the close's only edge); the fast path must not trust a
    // short read until it has waited itself.
    let got = in_greenlet(|| {
        let (mut s, mut c) = pair();
        c.write_all(b"abcdef").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        mayfly::sleep(Duration::from_millis(50));
        let mut small = [0u8; 2];
        let n = mayfly::with_timeout(Duration::from_secs(10), || s.read(&mut small))
            .unwrap()
            .unwrap();
        assert_eq!(&small[..n], b"ab");
        let mut rest = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break rest;
            }
            rest.extend_from_slice(&buf[..n]);
        }
    });
    assert_eq!(got, b"cdef");
}

#[test]
fn many_short_messages_each_answered_with_no_lost_wake_up() {
    // The echo pattern the fast path is for: short read, write, wait for readiness.
    let rounds = in_greenlet(|| {
        let (mut s, c) = pair();
        let client = std::thread::spawn(move || {
            let mut c = c;
            c.set_nodelay(true).unwrap();
            let mut buf = [0u8; 16];
            for i in 0..2000u32 {
                let msg = format!("m{i}");
                c.write_all(msg.as_bytes()).unwrap();
                c.read_exact(&mut buf[..msg.len()]).unwrap();
                assert_eq!(&buf[..msg.len()], msg.to_uppercase().as_bytes());
            }
        });
        let mut buf = [0u8; 1024];
        let mut rounds = 0;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            buf[..n].make_ascii_uppercase();
            s.write_all(&buf[..n]).unwrap();
            rounds += 1;
        }
        client.join().unwrap();
        rounds
    });
    assert_eq!(rounds, 2000); // the client waits for each answer: one message per read
}

#[test]
fn a_greenlet_killed_in_a_write_to_a_full_socket_dies() {
    let outcome = in_greenlet(|| {
        let (s, c) = pair();
        let writer = mayfly::spawn(move || {
            let mut s = s;
            let chunk = vec![b'x'; 64 * 1024]; // on the heap: a 64 KiB stack cannot hold it
            loop {
                s.write_all(&chunk)?; // the client never reads: this parks
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        });
        mayfly::sleep(Duration::from_millis(100));
        writer.kill();
        drop(c);
        writer.into_result().map(|_| ())
    });
    assert!(
        matches!(outcome, Err(mayfly::GreenletError::Killed { .. })),
        "{outcome:?}"
    );
}

#[test]
fn a_server_read_timeout_is_swept_and_the_connection_stays_usable() {
    // StreamServer enforces its timeouts with a sweep (net/sweep.rs): the parked read
    // returns TimedOut between the timeout and a few sweep ticks later, and the handler
    // can go on using the connection, as with a timer.
    let timeout = Duration::from_millis(200);
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _| {
        let t = Instant::now();
        let e = conn.recv(16).unwrap_err();
        let waited = t.elapsed();
        let _ = tx.lock().unwrap().send((e.kind(), waited));
        conn.sendall(b"still here")?;
        let echo = conn.recv(16)?;
        conn.sendall(&echo)
    })
    .unwrap()
    .read_timeout(Some(timeout))
    .start();
    let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let (kind, waited) = rx.recv_timeout(HUNG).expect("the read never timed out");
    assert_eq!(kind, ErrorKind::TimedOut);
    assert!(waited >= timeout, "fired early: {waited:?}");
    assert!(
        waited < Duration::from_secs(5),
        "fired far too late: {waited:?}"
    );
    c.set_read_timeout(Some(HUNG)).unwrap();
    let mut buf = [0u8; 10];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still here");
    c.write_all(b"again").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"again");
    drop(c);
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_server_write_timeout_is_swept_for_a_client_that_never_reads() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _| {
        let chunk = vec![b'x'; 64 * 1024]; // on the heap: a 64 KiB stack cannot hold it
        let r = loop {
            if let Err(e) = conn.write_all(&chunk) {
                break e.kind();
            }
        };
        let _ = tx.lock().unwrap().send(r);
        Ok(())
    })
    .unwrap()
    .write_timeout(Some(Duration::from_millis(200)))
    .start();
    let c = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let kind = rx.recv_timeout(HUNG).expect("the write never timed out");
    assert_eq!(kind, ErrorKind::TimedOut);
    drop(c);
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_killed_greenlet_whose_destructor_writes_to_a_full_socket_still_dies() {
    // While a killed greenlet unwinds, a destructor that writes to a socket nobody reads
    // must get an error at once (as may's own calls give "Canceled"), not park for ever.
    struct FlushOnDrop(TcpStream);
    impl Drop for FlushOnDrop {
        fn drop(&mut self) {
            let big = vec![b'x'; 32 << 20]; // more than loopback buffers hold
            let _ = self.0.write_all(&big);
        }
    }
    let outcome = in_greenlet(|| {
        let (s, c) = pair();
        let victim = mayfly::spawn(move || {
            let _guard = FlushOnDrop(s);
            mayfly::sleep(Duration::from_secs(60));
        });
        mayfly::sleep(Duration::from_millis(50));
        victim.kill();
        drop(c);
        victim.into_result()
    });
    assert!(
        matches!(outcome, Err(mayfly::GreenletError::Killed { .. })),
        "{outcome:?}"
    );
}

#[test]
fn a_stream_that_outlives_its_server_times_out_by_timer() {
    // The server's sweep stops with the server; a connection handed out of its handler
    // must still time out (by a timer from then on), not wait for ever.
    let (tx, rx) = mpsc::channel::<TcpStream>();
    let tx = std::sync::Mutex::new(tx);
    let server = StreamServer::bind("127.0.0.1:0", move |conn, _| {
        let _ = tx.lock().unwrap().send(conn);
        Ok(())
    })
    .unwrap()
    .read_timeout(Some(Duration::from_millis(200)))
    .start();
    let _client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let conn = rx.recv_timeout(HUNG).expect("the handler never ran");
    server.stop(Duration::from_secs(1));
    let (kind, waited) = in_greenlet(move || {
        let mut conn = conn;
        let t = Instant::now();
        let e = conn.recv(16).unwrap_err();
        (e.kind(), t.elapsed())
    });
    assert_eq!(kind, ErrorKind::TimedOut);
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
}

#[test]
fn a_vectored_write_sends_every_buffer_in_one_call_on_both_paths() {
    // std's default `write_vectored` writes only the first buffer; rustls hands a handshake's
    // flight over as one call per record that way. Fast path (no timeout) and timed path
    // (a write timeout) both send all three here, and count them.
    for timed in [false, true] {
        let (mut s, mut c) = pair();
        let counters = std::sync::Arc::new(mayfly::net::ByteCounters::default());
        s.count_bytes(counters.clone());
        if timed {
            s.set_write_timeout(Some(Duration::from_secs(5)));
        }
        let (mut s, n) = in_greenlet(move || {
            let bufs = [
                std::io::IoSlice::new(b"one "),
                std::io::IoSlice::new(b""),
                std::io::IoSlice::new(b"two "),
                std::io::IoSlice::new(b"three"),
            ];
            let n = s.write_vectored(&bufs).unwrap();
            (s, n)
        });
        assert_eq!(n, 13, "timed path: {timed}");
        assert_eq!(counters.written(), 13, "timed path: {timed}");
        let mut got = vec![0u8; 13];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"one two three");
        // One non-empty buffer among empty ones: a plain write of it, counted once.
        let n = in_greenlet(move || {
            let bufs = [
                std::io::IoSlice::new(b""),
                std::io::IoSlice::new(b"solo"),
                std::io::IoSlice::new(b""),
            ];
            s.write_vectored(&bufs).unwrap()
        });
        assert_eq!(n, 4, "timed path: {timed}");
        assert_eq!(counters.written(), 17, "timed path: {timed}");
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"solo");
    }
}

#[test]
fn a_vectored_write_to_a_full_socket_parks_until_the_peer_reads() {
    let (mut s, mut c) = pair();
    let (tx, rx) = mpsc::channel();
    let _g = mayfly::spawn(move || {
        let chunk = vec![7u8; 1 << 20];
        let mut sent = 0usize;
        // Fill the socket's buffers: a vectored write that cannot take everything returns
        // what it took, and the next one parks until the reader below makes room.
        while sent < 8 << 20 {
            let bufs = [std::io::IoSlice::new(&chunk), std::io::IoSlice::new(&chunk)];
            sent += s.write_vectored(&bufs).unwrap();
        }
        let _ = tx.send(sent);
    });
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let start = Instant::now();
    while total < 8 << 20 && start.elapsed() < HUNG {
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].iter().all(|&b| b == 7));
        total += n;
    }
    let sent = rx.recv_timeout(HUNG).expect("the writer hung");
    assert!(sent >= 8 << 20);
    assert!(total >= 8 << 20);
}
