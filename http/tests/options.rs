//! The options a server like the stats page needs besides the limits on input: a
//! first-request timeout apart from the idle one, a 503 for a peer over its cap, a rate cap
//! for the whole server, a lingering close after the last answer, another status for too
//! many headers, and no bodies at all.

mod util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use mayfly::server::Cap;
use mayfly_http::{Options, RateLimit};
use util::{connect, exchange, options, server, Reader};

#[test]
fn the_defaults_of_the_new_options() {
    let o = Options::default();
    assert_eq!(
        o.first_request_timeout,
        Some(mayfly_http::DEFAULT_FIRST_REQUEST_TIMEOUT)
    );
    assert_eq!(o.max_rps, mayfly_http::DEFAULT_MAX_RPS);
    assert_eq!(o.linger, mayfly_http::DEFAULT_LINGER);
    assert_eq!(o.too_many_headers_status, 431);
    // The first request's timeout is never longer than the idle one.
    let short_idle = Options {
        read_timeout: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    assert_eq!(
        short_idle.first_read_timeout(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn a_silent_new_connection_is_cut_at_the_first_request_timeout_not_the_idle_one() {
    let s = server(Options {
        first_request_timeout: Some(Duration::from_millis(300)),
        read_timeout: Some(Duration::from_secs(5)),
        ..options()
    });
    let mut silent = connect(s.local_addr());
    let t = Instant::now();
    let mut out = Vec::new();
    let _ = silent.read_to_end(&mut out);
    assert!(out.is_empty(), "no answer to nothing");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "cut after {:?}",
        t.elapsed()
    );

    // Once its first request came, a connection gets the idle timeout: it outlives 300 ms.
    let mut c = connect(s.local_addr());
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut r = Reader::new(c);
    assert_eq!(r.answer().unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(800));
    r.conn.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(r.answer().unwrap().status, 200);
    s.stop(Duration::from_secs(1));
}

#[test]
fn a_peer_over_its_cap_gets_503_at_once() {
    let s = server(Options {
        max_per_peer: Cap::AtMost(2),
        ..options()
    });
    let held: Vec<_> = (0..2).map(|_| connect(s.local_addr())).collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let mut r = Reader::new(connect(s.local_addr()));
    let a = r.answer().unwrap();
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert!(r.closed());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    drop(held);
    s.stop(Duration::from_secs(1));
}

#[test]
fn the_rate_cap_holds_the_whole_server_to_its_requests_per_second() {
    // 20/s with bursts of 2: 12 requests take at least (12 - 2) / 20 s.
    let s = server(Options {
        max_rps: Some(20),
        ..options()
    });
    let mut c = connect(s.local_addr());
    c.write_all(&b"GET / HTTP/1.1\r\n\r\n".repeat(12)).unwrap();
    let mut r = Reader::new(c);
    let t = Instant::now();
    for _ in 0..12 {
        assert_eq!(r.answer().unwrap().status, 200);
    }
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    s.stop(Duration::from_secs(1));
    let r = RateLimit::new(10);
    assert!(r.delay().is_zero());
    assert!(!r.delay().is_zero(), "a burst of one at 10/s");
}

#[test]
fn a_closing_connection_lingers_for_the_linger_time_at_most() {
    let s = server(Options {
        linger: Duration::from_millis(400),
        ..options()
    });
    // The client keeps its socket open after the answer: the server drains it, then closes.
    let (a, mut r) = exchange(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(a.status, 200);
    assert!(r.closed(), "the write side is shut at once");
    let t = Instant::now();
    while s.stats().active > 0 {
        assert!(t.elapsed() < Duration::from_secs(3), "still lingering");
        std::thread::sleep(Duration::from_millis(20));
    }
    let lingered = t.elapsed();
    assert!(lingered >= Duration::from_millis(200), "{lingered:?}");
    s.stop(Duration::from_secs(1));
}

#[test]
fn too_many_headers_can_get_400_instead_of_431() {
    let s = server(Options {
        max_headers: 4,
        too_many_headers_status: 400,
        ..options()
    });
    let (a, _) = exchange(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
    );
    assert_eq!(a.status, 200, "4 headers are fine");
    let (a, mut r) = exchange(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
    );
    assert_eq!(a.status, 400);
    assert!(r.closed());
    s.stop(Duration::from_secs(1));
}

#[test]
fn with_no_bodies_any_announced_body_gets_413_and_two_lengths_400() {
    let s = server(Options {
        max_body_bytes: 0,
        ..options()
    });
    for (req, status) in [
        (
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"[..],
            413,
        ),
        (b"GET / HTTP/1.1\r\nContent-Length: banana\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 200),
    ] {
        let (a, _) = exchange(s.local_addr(), req);
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(req));
    }
    s.stop(Duration::from_secs(1));
}
