//! `DatagramServer` over real loopback sockets: one greenlet per datagram, datagrams that
//! keep their boundaries, the size limit (detected, dropped or answered, counted), the cap
//! and the pool, a vanished client, and the graceful stop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::event::Event;
use mayfly::net::UdpSocket;
use mayfly::pool::Pool;
use mayfly::server::{
    Cap, DatagramServer, DatagramSocket, Oversize, Running, DEFAULT_MAX_DATAGRAM, MAX_UDP_PAYLOAD,
};

/// Bounds every wait for a reply (a reply on loopback takes microseconds; this only stops a
/// broken test from hanging).
const PATIENCE: Duration = Duration::from_secs(10);

fn upper(data: bytes::Bytes, peer: SocketAddr, sock: &DatagramSocket) -> io::Result<()> {
    sock.send_to(&data.to_ascii_uppercase(), peer)?;
    Ok(())
}

fn client() -> UdpSocket {
    let mut c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.settimeout(Some(PATIENCE));
    c
}

/// Waits (bounded) until `cond` holds, yielding to the server's greenlets.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        mayfly::sleep(Duration::from_millis(1));
    }
}

#[test]
fn each_datagram_is_one_message_and_each_client_gets_its_own_replies() {
    mayfly::run(|| {
        let running = DatagramServer::bind("127.0.0.1:0", upper)
            .unwrap()
            .start()
            .unwrap();
        let addr = running.local_addr();
        let clients: Vec<UdpSocket> = (0..3).map(|_| client()).collect();
        // Three datagrams back to back from each client: never glued together, never split.
        for (i, c) in clients.iter().enumerate() {
            for k in 0..3 {
                c.send_to(format!("client {i} say hello {k}").as_bytes(), addr)
                    .unwrap();
            }
        }
        for (i, c) in clients.iter().enumerate() {
            let mut got: Vec<String> = (0..3)
                .map(|_| {
                    let (d, from) = c.recvfrom(1024).unwrap();
                    assert_eq!(from, addr);
                    String::from_utf8(d.to_vec()).unwrap()
                })
                .collect();
            got.sort(); // UDP does not promise order
            let want: Vec<String> = (0..3)
                .map(|k| format!("CLIENT {i} SAY HELLO {k}"))
                .collect();
            assert_eq!(got, want);
        }
        running.stop(Duration::from_secs(1));
        let s = running.stats();
        assert_eq!((s.accepted, s.closed, s.active), (9, 9, 0));
        assert_eq!(s.bytes_in, s.bytes_out);
        assert_eq!(s.handler_errors, 0);
    });
}

#[test]
fn a_datagram_over_the_limit_is_answered_with_the_error_datagram_and_counted() {
    mayfly::run(|| {
        let running = DatagramServer::bind("127.0.0.1:0", upper)
            .unwrap()
            .max_datagram(16)
            .oversize(Oversize::Reply("too long".into()))
            .start()
            .unwrap();
        let addr = running.local_addr();
        let c = client();
        c.send_to(&[b'a'; 17], addr).unwrap();
        assert_eq!(&c.recvfrom(1024).unwrap().0[..], b"too long");
        // Exactly the limit still reaches the handler, and the server goes on serving.
        c.send_to(&[b'b'; 16], addr).unwrap();
        assert_eq!(&c.recvfrom(1024).unwrap().0[..], &[b'B'; 16]);
        running.stop(Duration::from_secs(1));
        let s = running.stats();
        assert_eq!((s.accepted, s.protocol_errors), (1, 1));
    });
}

#[test]
fn a_datagram_over_the_limit_is_dropped_by_default_and_the_next_is_served() {
    mayfly::run(|| {
        let running = DatagramServer::bind("127.0.0.1:0", upper)
            .unwrap()
            .start()
            .unwrap();
        let addr = running.local_addr();
        let c = client();
        c.send_to(&vec![b'x'; DEFAULT_MAX_DATAGRAM + 1], addr)
            .unwrap();
        c.send_to(b"next", addr).unwrap();
        // The first reply is the second datagram's: the oversized one got none.
        assert_eq!(&c.recvfrom(65536).unwrap().0[..], b"NEXT");
        running.stop(Duration::from_secs(1));
        let s = running.stats();
        assert_eq!((s.accepted, s.protocol_errors), (1, 1));
    });
}

#[test]
fn the_largest_udp_payload_arrives_whole_when_the_limit_allows_it() {
    mayfly::run(|| {
        let running = DatagramServer::bind("127.0.0.1:0", |data, peer, sock| {
            sock.send_to(format!("{}", data.len()).as_bytes(), peer)?;
            Ok(())
        })
        .unwrap()
        .max_datagram(MAX_UDP_PAYLOAD)
        .start()
        .unwrap();
        let c = client();
        c.send_to(&vec![7u8; MAX_UDP_PAYLOAD], running.local_addr())
            .unwrap();
        assert_eq!(&c.recvfrom(64).unwrap().0[..], b"65507");
        running.stop(Duration::from_secs(1));
        assert_eq!(running.stats().protocol_errors, 0);
    });
}

/// A server whose handlers wait for `gate`, then answer `ok`.
fn gated(gate: Arc<Event>) -> DatagramServer {
    DatagramServer::bind("127.0.0.1:0", move |_data, peer, sock| {
        gate.wait(None);
        sock.send_to(b"ok", peer)?;
        Ok(())
    })
    .unwrap()
}

#[test]
fn the_handler_cap_stops_reading_until_a_handler_finishes() {
    mayfly::run(|| {
        let gate = Arc::new(Event::new());
        let running = gated(gate.clone()).max_handlers(2).start().unwrap();
        let c = client();
        for _ in 0..5 {
            c.send_to(b"hi", running.local_addr()).unwrap();
        }
        eventually("two handlers running", || running.stats().active == 2);
        // Give the receive loop every chance to read more: it must not.
        for _ in 0..20 {
            mayfly::yield_now();
        }
        assert_eq!(running.stats().accepted, 2);
        gate.set();
        for _ in 0..5 {
            assert_eq!(&c.recvfrom(16).unwrap().0[..], b"ok");
        }
        running.stop(Duration::from_secs(1));
        assert_eq!(running.stats().accepted, 5);
    });
}

#[test]
fn a_full_pool_stops_reading_too() {
    mayfly::run(|| {
        let gate = Arc::new(Event::new());
        let pool = Pool::new(1);
        let running = gated(gate.clone())
            .max_handlers(Cap::Unlimited)
            .pool(pool.clone())
            .start()
            .unwrap();
        let c = client();
        for _ in 0..3 {
            c.send_to(b"hi", running.local_addr()).unwrap();
        }
        eventually("the pool full", || pool.free_count() == 0);
        for _ in 0..20 {
            mayfly::yield_now();
        }
        assert_eq!(running.stats().accepted, 1);
        gate.set();
        for _ in 0..3 {
            assert_eq!(&c.recvfrom(16).unwrap().0[..], b"ok");
        }
        running.stop(Duration::from_secs(1));
    });
}

#[test]
fn a_vanished_client_is_not_noticed_and_the_server_keeps_serving() {
    mayfly::run(|| {
        let running = DatagramServer::bind("127.0.0.1:0", |data, peer, sock| {
            mayfly::sleep(Duration::from_millis(20)); // the client is gone by now
            sock.send_to(&data.to_ascii_uppercase(), peer)?;
            Ok(())
        })
        .unwrap()
        .start()
        .unwrap();
        let addr = running.local_addr();
        let gone = client();
        gone.send_to(b"anyone there?", addr).unwrap();
        drop(gone); // no handshake, no goodbye: the server cannot know
        eventually("the reply sent into the void", || {
            running.stats().closed == 1
        });
        let c = client();
        c.send_to(b"still here", addr).unwrap();
        assert_eq!(&c.recvfrom(64).unwrap().0[..], b"STILL HERE");
        running.stop(Duration::from_secs(1));
        let s = running.stats();
        assert_eq!((s.accepted, s.handler_errors, s.accept_errors), (2, 0, 0));
    });
}

#[test]
fn handler_errors_and_panics_are_counted_and_serving_goes_on() {
    mayfly::run(|| {
        let running = DatagramServer::bind("127.0.0.1:0", |data, peer, sock| {
            match &data[..] {
                b"fail" => return Err(io::Error::new(io::ErrorKind::InvalidData, "bad")),
                b"panic" => panic!("handler panics on purpose"),
                _ => {}
            }
            sock.send_to(&data, peer)?;
            Ok(())
        })
        .unwrap()
        .start()
        .unwrap();
        let c = client();
        for msg in [&b"fail"[..], b"panic", b"fine"] {
            c.send_to(msg, running.local_addr()).unwrap();
        }
        assert_eq!(&c.recvfrom(64).unwrap().0[..], b"fine");
        eventually("all three handled", || running.stats().closed == 3);
        running.stop(Duration::from_secs(1));
        let s = running.stats();
        assert_eq!((s.protocol_errors, s.panics), (1, 1));
    });
}

#[test]
fn stop_lets_handlers_finish_within_grace_kills_the_rest_and_frees_the_port() {
    mayfly::run(|| {
        let running: Box<dyn Running> = Box::new(
            DatagramServer::bind("127.0.0.1:0", |data, peer, sock| {
                if &data[..] == b"slow" {
                    mayfly::sleep(Duration::from_secs(3600));
                } else {
                    mayfly::sleep(Duration::from_millis(30));
                }
                sock.send_to(&data.to_ascii_uppercase(), peer)?;
                Ok(())
            })
            .unwrap()
            .start()
            .unwrap(),
        );
        let addr = running.local_addr();
        let c = client();
        c.send_to(b"slow", addr).unwrap();
        c.send_to(b"quick", addr).unwrap();
        eventually("both handlers running", || running.stats().active == 2);
        let killed = running.stop(Duration::from_secs(2));
        assert_eq!(killed, 1);
        // The quick one finished inside the grace period and could still reply.
        assert_eq!(&c.recvfrom(64).unwrap().0[..], b"QUICK");
        let s = running.stats();
        assert_eq!((s.killed, s.active), (1, 0));
        // Nothing reads any more, and the socket is closed: the port binds again.
        UdpSocket::bind(addr).expect("the server's socket is closed after stop");
    });
}

/// `stop(Duration::MAX)` is "no limit": it waits for the running handler, kills nothing, and
/// does not panic (the grace does not fit an `Instant`).
#[test]
fn stop_with_a_grace_of_duration_max_waits_for_the_handler() {
    mayfly::run(|| {
        let gate = Arc::new(Event::new());
        let running = Arc::new(gated(gate.clone()).start().unwrap());
        let c = client();
        c.send_to(b"hi", running.local_addr()).unwrap();
        eventually("a handler running", || running.stats().active == 1);
        let handle = running.clone();
        let stopper = mayfly::spawn(move || handle.stop(Duration::MAX));
        mayfly::sleep(Duration::from_millis(20));
        assert!(!stopper.ready(), "the running handler is waited for");
        gate.set();
        assert!(stopper.join(PATIENCE), "stop returns once it finished");
        assert_eq!(stopper.get(), Ok(0), "nothing killed");
        assert_eq!(&c.recvfrom(16).unwrap().0[..], b"ok");
    });
}
