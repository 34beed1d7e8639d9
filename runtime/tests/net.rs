//! Coroutine sockets and StreamServer over real loopback sockets.

use std::io::{ErrorKind, Read};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mayfly::net::{Bind, TcpListener, TcpStream, UdpSocket};
use mayfly::server::StreamServer;
use mayfly::{spawn, GreenletError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
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

#[test]
fn port_zero_is_read_back_and_a_busy_port_is_an_error() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = a.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let e = TcpListener::bind(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    // Sharing is possible only when both ask for it.
    let p = Bind::new("127.0.0.1:0").reuse_port(true).tcp().unwrap();
    let paddr = p.local_addr().unwrap();
    assert!(Bind::new(paddr).reuse_port(true).tcp().is_ok());
    assert!(Bind::new(paddr).tcp().is_err());
    // UDP too.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(UdpSocket::bind(u.local_addr().unwrap()).is_err());
}

/// SO_REUSEADDR of `fd`, read back with getsockopt.
fn reuse_address_of(fd: std::os::fd::RawFd) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket of the caller's for the whole call; `on` and `len` are
    // valid for writes of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    on != 0
}

#[test]
fn udp_reuse_address_is_set_when_asked_and_a_busy_port_is_still_an_error() {
    use std::os::fd::AsRawFd;
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(!reuse_address_of(plain.as_raw_fd()));
    let reusing = Bind::new("127.0.0.1:0").reuse_address(true).udp().unwrap();
    assert!(reuse_address_of(reusing.as_raw_fd()));
    // A port held without SO_REUSEADDR, and one held with it: both refused.
    for held in [&plain, &reusing] {
        let e = Bind::new(held.local_addr().unwrap())
            .reuse_address(true)
            .udp()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
    }
    // A freed port binds again with it (the check leaves nothing behind).
    let addr = reusing.local_addr().unwrap();
    drop(reusing);
    let again = Bind::new(addr).reuse_address(true).udp().unwrap();
    assert!(reuse_address_of(again.as_raw_fd()));
    // TCP listeners set it by default, and can be told not to.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(reuse_address_of(l.as_raw_fd()));
    let l = Bind::new("127.0.0.1:0").reuse_address(false).tcp().unwrap();
    assert!(!reuse_address_of(l.as_raw_fd()));
}

#[test]
fn recv_exact_reassembles_split_writes_and_splits_coalesced_ones() {
    mayfly::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            c.set_nodelay(true).unwrap();
            // One message in 11 pieces, then two messages in one write.
            for b in b"hello world" {
                c.sendall(&[*b]).unwrap();
                mayfly::sleep(ms(1));
            }
            c.sendall(b"abcdef").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            // Half-closed: we still read what the client sends back.
            c.recv_exact(2).unwrap()
        });
        let mut c = TcpStream::connect(addr).unwrap();
        assert_eq!(&c.recv_exact(11).unwrap()[..], b"hello world");
        assert_eq!(&c.recv_exact(3).unwrap()[..], b"abc");
        assert_eq!(&c.recv_exact(3).unwrap()[..], b"def");
        assert_eq!(
            c.recv_exact(1).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
        c.sendall(b"ok").unwrap();
        assert_eq!(&server.into_result().unwrap()[..], b"ok");
    });
}

#[test]
fn socket_timeout_and_timeout_inside_a_blocking_read() {
    mayfly::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let silent = spawn(move || {
            let (c, _) = l.accept().unwrap();
            mayfly::sleep(Duration::from_secs(30));
            drop(c);
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.settimeout(Some(ms(30)));
        let t = Instant::now();
        let e = c.recv(10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(t.elapsed() >= ms(29), "{:?}", t.elapsed());

        c.settimeout(None);
        let t = Instant::now();
        let r = mayfly::with_timeout(ms(40), || c.recv(10));
        assert_eq!(r.unwrap_err(), mayfly::Timeout { after: ms(40) });
        assert!(t.elapsed() >= ms(39) && t.elapsed() < Duration::from_secs(5));
        // The socket is still usable afterwards.
        c.sendall(b"x").unwrap();
        silent.kill();
        // The killed peer's socket closed (with our "x" unread, so the kernel may reset).
        match c.recv(10) {
            Ok(d) => assert!(d.is_empty()),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        }
    });
}

#[test]
fn a_socket_timeout_too_long_for_an_instant_means_none() {
    // `--io-timeout 1e19` in a server: the deadline cannot be an `Instant`; it is no
    // deadline, not a panic.
    mayfly::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = spawn(move || {
            let (c, peer) = l.accept().unwrap();
            upper_echo(c, peer)
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.settimeout(Some(Duration::from_secs(u64::MAX)));
        c.sendall(b"hi").unwrap();
        assert_eq!(&c.recv_exact(2).unwrap()[..], b"HI");
        drop(c);
        server.into_result().unwrap().unwrap();
    });
}

#[test]
fn kill_a_greenlet_blocked_in_accept_and_in_read() {
    mayfly::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = spawn(move || {
            let _ = l.accept();
            "accepted"
        });
        mayfly::sleep(ms(10));
        acceptor.kill();
        assert!(matches!(acceptor.get(), Err(GreenletError::Killed { .. })));
        // Its listener was dropped by the unwind: the port can be bound again.
        let l = TcpListener::bind(addr).expect("listener closed by kill");

        let reader = spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0u8; 4];
            let _ = c.read(&mut b);
            "read"
        });
        let mut c = TcpStream::connect(addr).unwrap();
        mayfly::sleep(ms(10));
        reader.kill();
        assert!(matches!(reader.get(), Err(GreenletError::Killed { .. })));
        // The server side closed: we see EOF.
        c.settimeout(Some(Duration::from_secs(5)));
        assert_eq!(c.recv(4).unwrap().len(), 0);
    });
}

#[test]
fn udp_datagrams_keep_their_boundaries() {
    mayfly::run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let saddr = server.local_addr().unwrap();
        let echo = spawn(move || {
            for _ in 0..3 {
                let (d, from) = server.recvfrom(1500).unwrap();
                server.send_to(&d.to_ascii_uppercase(), from).unwrap();
            }
        });
        let mut client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.settimeout(Some(Duration::from_secs(5)));
        for msg in [&b"a"[..], b"bb", b"ccc"] {
            client.send_to(msg, saddr).unwrap();
        }
        for want in [&b"A"[..], b"BB", b"CCC"] {
            let (d, from) = client.recvfrom(1500).unwrap();
            assert_eq!((&d[..], from), (want, saddr));
        }
        echo.join(None);
    });
}

#[test]
fn stream_server_serves_200_concurrent_clients() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", upper_echo)
            .unwrap()
            .start();
        let addr = server.local_addr();
        let clients: Vec<_> = (0..200)
            .map(|i| {
                spawn(move || -> std::io::Result<()> {
                    let mut c = TcpStream::connect(addr)?;
                    c.settimeout(Some(Duration::from_secs(10)));
                    for k in 0..5 {
                        let msg = format!("Thread-{i} say hello {k}");
                        c.sendall(msg.as_bytes())?;
                        let r = c.recv_exact(msg.len())?;
                        assert_eq!(&r[..], msg.to_ascii_uppercase().as_bytes());
                    }
                    Ok(())
                })
            })
            .collect();
        for c in &clients {
            c.join(None);
        }
        assert!(clients.iter().all(|c| c.successful()));
        // Every connection closed by its client has finished on the server.
        let t = Instant::now();
        while server.stats().active > 0 && t.elapsed() < Duration::from_secs(5) {
            mayfly::sleep(ms(5));
        }
        let s = server.stats();
        assert_eq!((s.accepted, s.active, s.closed), (200, 0, 200));
        assert_eq!(server.stop(ms(100)), 0);
    });
}

#[test]
fn a_connection_reset_in_the_listen_queue_is_counted_without_running_the_handler() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    const RESETS: u64 = 20;
    mayfly::run(|| {
        let calls = Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        let server = StreamServer::bind("127.0.0.1:0", move |c, p| {
            seen.fetch_add(1, Ordering::Relaxed);
            upper_echo(c, p)
        })
        .unwrap()
        .start();
        let addr = server.local_addr();
        // The connections wait in the backlog while the server does not accept, and each is
        // reset there (SO_LINGER {1, 0}: the close sends an RST).
        server.stop_accepting();
        for _ in 0..RESETS {
            let c = std::net::TcpStream::connect(addr).unwrap();
            socket2::SockRef::from(&c)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        let mut good = TcpStream::connect(addr).unwrap();
        server.start_accepting().unwrap();
        good.sendall(b"fine").unwrap();
        good.settimeout(Some(Duration::from_secs(5)));
        assert_eq!(&good.recv_exact(4).unwrap()[..], b"FINE");
        drop(good);
        let t = Instant::now();
        while server.stats().closed < RESETS + 1 && t.elapsed() < Duration::from_secs(5) {
            mayfly::sleep(ms(5));
        }
        let s = server.stats();
        assert_eq!(
            (s.accepted, s.active, s.closed),
            (RESETS + 1, 0, RESETS + 1)
        );
        assert_eq!(s.resets, RESETS, "each reset is counted as one");
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "no handler ran for a reset connection"
        );
        server.stop(ms(100));
    });
}

#[test]
fn a_panicking_handler_closes_only_its_connection() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", |mut c, _| {
            let d = c.recv(64)?;
            if &d[..] == b"panic" {
                panic!("handler asked to panic");
            }
            c.sendall(&d.to_ascii_uppercase())
        })
        .unwrap()
        .start();
        let addr = server.local_addr();
        let mut bad = TcpStream::connect(addr).unwrap();
        bad.sendall(b"panic").unwrap();
        bad.settimeout(Some(Duration::from_secs(5)));
        assert_eq!(bad.recv(8).unwrap().len(), 0, "its connection closes");
        let mut good = TcpStream::connect(addr).unwrap();
        good.sendall(b"fine").unwrap();
        assert_eq!(&good.recv_exact(4).unwrap()[..], b"FINE");
        assert_eq!(server.stats().panics, 1);
        server.stop(ms(10));
    });
}

#[test]
fn max_connections_stops_accepting_while_full_and_stop_kills_after_grace() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", upper_echo)
            .unwrap()
            .max_connections(2)
            .start();
        let addr = server.local_addr();
        let mut a = TcpStream::connect(addr).unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        let mut c = TcpStream::connect(addr).unwrap(); // waits in the backlog
        for s in [&mut a, &mut b] {
            s.sendall(b"x").unwrap();
            assert_eq!(&s.recv_exact(1).unwrap()[..], b"X");
        }
        c.sendall(b"y").unwrap();
        c.settimeout(Some(ms(100)));
        assert_eq!(c.recv(1).unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(server.stats().accepted, 2);
        drop(a); // a slot frees: c is accepted and answered
        c.settimeout(Some(Duration::from_secs(5)));
        assert_eq!(&c.recv_exact(1).unwrap()[..], b"Y");
        // b and c stay open: stop kills them after the grace period.
        let t = Instant::now();
        let killed = server.stop(ms(50));
        assert_eq!(killed, 2);
        assert!(t.elapsed() >= ms(50));
        assert_eq!(b.recv(1).unwrap().len(), 0);
        // The listener is closed.
        assert!(TcpStream::connect_timeout(addr, ms(500)).is_err());
    });
}

/// `stop(Duration::MAX)` is "no limit" (the grace does not fit an `Instant`): it waits for the
/// open connection to end, kills nothing, and does not panic.
#[test]
fn stop_with_a_grace_of_duration_max_waits_without_limit() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", upper_echo)
            .unwrap()
            .start();
        let mut c = TcpStream::connect(server.local_addr()).unwrap();
        c.settimeout(Some(Duration::from_secs(5)));
        c.sendall(b"x").unwrap();
        assert_eq!(&c.recv_exact(1).unwrap()[..], b"X");
        let handle = server.clone();
        let stopper = mayfly::spawn(move || handle.stop(Duration::MAX));
        mayfly::sleep(ms(20));
        assert!(!stopper.ready(), "the open connection is waited for");
        drop(c);
        assert!(
            stopper.join(Duration::from_secs(5)),
            "stop returns once it ended"
        );
        assert_eq!(stopper.get(), Ok(0), "nothing killed");
    });
}

/// gevent's unix socket examples: a server reads the client's path from `peer_addr`, both
/// ends have their addresses, and a cloned stream writes while the original reads.
#[test]
fn unix_streams_have_addresses_and_clones() {
    use std::io::{Read, Write};
    let dir = tempfile_dir("unix-addrs");
    let path = dir.join("s.sock");
    let p = path.clone();
    mayfly::run(move || {
        let listener = mayfly::net::UnixListener::bind(&p).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(p.as_path())
        );
        let second = listener.try_clone().unwrap();
        let p2 = p.clone();
        let client = mayfly::spawn(move || {
            let mut c = mayfly::net::UnixStream::connect(&p2).unwrap();
            assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(p2.as_path()));
            assert!(c.local_addr().unwrap().is_unnamed());
            let mut reader = c.try_clone().unwrap();
            c.write_all(b"ping").unwrap();
            let mut got = [0u8; 4];
            reader.read_exact(&mut got).unwrap();
            got
        });
        // The clone of the listener accepts on the same socket.
        let mut s = second.accept().unwrap();
        assert!(s.peer_addr().unwrap().is_unnamed());
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        s.write_all(b"pong").unwrap();
        assert_eq!(&client.get().unwrap(), b"pong");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mayfly-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
