//! Bad input gets a clear answer and the server goes on: oversized heads, too many headers,
//! bodies over the limit, smuggling attempts, bad lengths, chunked bodies, slowloris,
//! resets, non-UTF-8 targets, and a client that pipelines without reading.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use util::{connect, exchange, options, server, Reader};

/// Sends `req` and expects `status`, then the connection closed; the server still answers.
fn refused(req: &[u8], status: u16) {
    let s = server(options());
    let (a, mut r) = exchange(s.local_addr(), req);
    assert_eq!(a.status, status, "{}", String::from_utf8_lossy(req));
    assert_eq!(a.header("connection"), Some("close"));
    assert!(r.closed(), "still open after {status}");
    let (a, _) = exchange(s.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 200);
    s.stop(Duration::from_secs(1));
    assert!(s.stats().protocol_errors >= 1);
}

#[test]
fn an_oversized_head_gets_431() {
    let mut req = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 5000));
    req.extend_from_slice(b"\r\n\r\n");
    refused(&req, 431);
}

#[test]
fn too_many_headers_get_431() {
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..30 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    refused(&req, 431);
}

#[test]
fn a_body_over_the_limit_gets_413() {
    let mut req = b"POST /echo HTTP/1.1\r\nContent-Length: 1001\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'b', 1001));
    refused(&req, 413);
}

#[test]
fn content_length_with_transfer_encoding_gets_400() {
    refused(
        b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn two_different_content_lengths_get_400() {
    refused(
        b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn a_bad_content_length_gets_400() {
    refused(b"POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    refused(b"POST /echo HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 400);
    refused(
        b"POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
    );
}

#[test]
fn a_chunked_body_gets_501() {
    refused(
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn a_non_utf8_target_gets_400() {
    refused(b"GET /caf\xe9 HTTP/1.1\r\n\r\n", 400);
    refused(b"GET / HTTP/1.1\r\nHost\r\n\r\n", 400); // and a malformed header
}

#[test]
fn a_slowloris_head_is_cut_off_by_the_request_timeout() {
    let s = server(options()); // request_timeout 1 s, read_timeout 5 s
    let mut c = connect(s.local_addr());
    let t0 = Instant::now();
    let mut cut = false;
    for b in b"GET / HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain([b'a'; 100].iter())
    {
        if c.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if t0.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let mut r = Reader::new(c);
    if !cut {
        let a = r.answer().unwrap();
        assert_eq!(a.status, 408);
        assert!(r.closed());
    }
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    s.stop(Duration::from_secs(1));
    assert_eq!(s.stats().timeouts, 1);
}

#[test]
fn a_reset_mid_request_leaves_the_server_serving() {
    let s = server(options());
    for _ in 0..5 {
        let c = connect(s.local_addr());
        (&c).write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nhalf")
            .unwrap();
        // SO_LINGER 0: the close sends a reset.
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(c);
    }
    let (a, _) = exchange(s.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(a.status, 200);
    let t0 = Instant::now();
    while s.stats().closed < 5 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = s.stats();
    assert!(st.closed >= 5, "{st:?}");
    assert!(st.resets + st.protocol_errors >= 5, "{st:?}");
    assert_eq!(st.panics, 0);
    s.stop(Duration::from_secs(1));
}

#[test]
fn a_client_that_pipelines_and_never_reads_is_cut_off() {
    let s = server(options()); // write_timeout 1 s
    let c = connect(s.local_addr());
    c.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let requests: Vec<u8> = b"GET /big HTTP/1.1\r\n\r\n".repeat(10_000);
    // 10,000 answers of 4 KiB (40 MiB) are far more than the socket buffers hold.
    let writer = std::thread::spawn(move || {
        let _ = (&c).write_all(&requests);
        c // kept open, never read
    });
    let t0 = Instant::now();
    while s.stats().closed < 1 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = s.stats();
    assert_eq!(
        st.closed,
        1,
        "still served after {:?}: {st:?}",
        t0.elapsed()
    );
    assert_eq!(st.timeouts, 1, "{st:?}");
    // The server wrote what the buffers took, then stopped: far less than 40 MiB.
    assert!(st.bytes_out < 20 * 1024 * 1024, "{st:?}");
    drop(writer.join().unwrap());
    s.stop(Duration::from_secs(1));
}
