//! mayfly-http over real loopback sockets: answers, keep-alive, pipelining, HTTP/1.0,
//! `Connection: close`, `Expect: 100-continue`, panicking and blocking handlers.

mod util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use mayfly::server::Running;
use util::{connect, exchange, options, server, Reader};

#[test]
fn hello_world_get() {
    let s = server(options());
    let (a, _) = exchange(s.local_addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b"Hello, World!");
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.header("server"), Some("mayfly"));
    assert_eq!(a.header("date").map(str::len), Some(29));
    let (a, _) = exchange(s.local_addr(), b"GET /x/y?q=1&r=2 HTTP/1.1\r\n\r\n");
    assert_eq!(a.body, b"target /x/y?q=1&r=2");
    s.stop(Duration::from_secs(1));
    assert_eq!(s.stats().requests, 2);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = server(options());
    let mut r = Reader::new(connect(s.local_addr()));
    for i in 0..5 {
        let body = format!("request {i}");
        let req = format!(
            "POST /echo HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        r.conn.write_all(req.as_bytes()).unwrap();
        let a = r.answer().unwrap();
        assert_eq!((a.status, &a.body), (200, &body.into_bytes()));
        assert_eq!(a.header("connection"), None);
    }
    assert_eq!(s.stats().accepted, 1);
    s.stop(Duration::from_secs(1));
}

#[test]
fn a_hundred_pipelined_requests_in_one_write_are_answered_in_order() {
    let s = server(options());
    let mut r = Reader::new(connect(s.local_addr()));
    let all: String = (0..100)
        .map(|i| format!("GET /{i} HTTP/1.1\r\n\r\n"))
        .collect();
    r.conn.write_all(all.as_bytes()).unwrap();
    for i in 0..100 {
        let a = r.answer().unwrap();
        assert_eq!(a.body, format!("target /{i}").into_bytes());
    }
    s.stop(Duration::from_secs(1));
    assert_eq!(s.stats().requests, 100);
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let s = server(options());
    let (a, mut r) = exchange(s.local_addr(), b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(r.closed());
    let (a, mut r) = exchange(
        s.local_addr(),
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(a.header("connection"), Some("keep-alive"));
    r.conn.write_all(b"GET /again HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(r.answer().unwrap().body, b"target /again");
    assert!(r.closed());
    s.stop(Duration::from_secs(1));
}

#[test]
fn connection_close_closes_after_the_answer() {
    let s = server(options());
    let (a, mut r) = exchange(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(r.closed());
    s.stop(Duration::from_secs(1));
    assert_eq!(s.stats().requests, 1);
}

#[test]
fn expect_100_continue_gets_100_before_the_body_is_sent() {
    let s = server(options());
    let mut c = connect(s.local_addr());
    c.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"hello").unwrap();
    let mut r = Reader::new(c);
    let a = r.answer().unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"hello"[..]));
    // A body over the limit is refused without a 100: the client never sends it.
    let (a, mut r) = exchange(
        s.local_addr(),
        b"POST /echo HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(a.status, 413);
    assert!(r.closed());
    s.stop(Duration::from_secs(1));
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_goes_on() {
    let s = server(options());
    let (a, mut r) = exchange(s.local_addr(), b"GET /panic HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 500);
    // The same connection goes on, and so do new ones.
    r.conn.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(r.answer().unwrap().status, 200);
    let (a, _) = exchange(s.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(a.body, b"Hello, World!");
    assert_eq!(s.stats().panics, 1);
    s.stop(Duration::from_secs(1));
}

#[test]
fn a_blocking_handler_parks_only_its_greenlet() {
    let s = server(options());
    let addr = s.local_addr();
    let t0 = Instant::now();
    let sleepers: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || exchange(addr, b"GET /sleep HTTP/1.1\r\n\r\n").0))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    // While 20 handlers sleep, another connection is answered at once.
    let quick = Instant::now();
    let (a, _) = exchange(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 200);
    assert!(
        quick.elapsed() < Duration::from_millis(150),
        "{:?}",
        quick.elapsed()
    );
    for t in sleepers {
        assert_eq!(t.join().unwrap().body, b"slept");
    }
    // 20 sleeps of 200 ms ran at once, not one after another.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    s.stop(Duration::from_secs(1));
}

#[test]
fn stop_is_graceful_and_the_handle_is_a_running_server() {
    let s = server(options());
    let running: Box<dyn Running> = Box::new(s.clone());
    let (a, _open) = exchange(running.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 200);
    assert_eq!(running.stop(Duration::from_millis(200)), 1); // the idle keep-alive one
    assert!(std::net::TcpStream::connect(s.local_addr()).is_err());
}
