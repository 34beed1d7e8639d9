//! End-to-end tests of the UDP servers (`mayfly serve udp-echo`, `mayfly serve time`) and
//! `mayfly stress --proto udp` over loopback: the course's Python clients (`socket.
//! SOCK_DGRAM`) get their answers, bad requests and a 64 KiB datagram get refusal datagrams
//! while the server goes on serving, and the stress client counts lost and wrong answers.
//!
//! What the course says about UDP, checked here: each datagram is one message (a client
//! that sends several in a row gets as many separate answers), there is no handshake (a
//! client that vanishes changes nothing for the server), and datagrams may be lost (the
//! stress client counts them instead of hanging).
//!
//! And what a forged source address cannot do (issue 25): make a server answer itself, a
//! well-known service port or port 0; keep two servers answering each other (the reply
//! budget ends it); or get back more than three times what it sent (the reply ratio). The
//! forged datagrams go through a raw socket (`util::send_spoofed_udp`, root only: without
//! it those tests print SKIPPED and return).

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use mayfly_proto::reply::code;
use mayfly_proto::udp::parse_refusal;

use crate::util::{mayfly, send_spoofed_udp, ServerChild};

/// Bounds every wait for an answer on loopback.
const PATIENCE: Duration = Duration::from_secs(10);
/// The largest datagram IPv4 carries: what "a 64 KiB datagram" can be.
const BIG: usize = 65_507;

fn serve(kind: &str, extra: &[&str], with_stats: bool) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", kind, "--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::null());
    if with_stats {
        cmd.args(["--stats-addr", "127.0.0.1:0"]);
    }
    ServerChild::spawn(cmd, with_stats)
}

fn client() -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c
}

/// Sends `msg` to `addr` and returns the one datagram that comes back.
fn ask(c: &UdpSocket, addr: &str, msg: &[u8]) -> Vec<u8> {
    c.send_to(msg, addr).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, from) = c.recv_from(&mut buf).expect("an answer");
    assert_eq!(from.to_string(), addr);
    buf.truncate(n);
    buf
}

/// `python3 -c SCRIPT ARGS…`, or `None` (and a visible note) when there is no python3.
fn python(script: &str, args: &[&str]) -> Option<Command> {
    let there = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !there {
        eprintln!("SKIPPED: python3 is not installed; the course's Python client was not run");
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    Some(cmd)
}

/// The course's UDP client, reading its messages from argv instead of `input()`.
const PY_ECHO_CLIENT: &str = r#"
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
ip_port = (host, int(port))
udp_client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp_client.settimeout(10)
for msg in sys.argv[2:]:
    udp_client.sendto(msg.encode('utf-8'), ip_port)
    back_msg, addr = udp_client.recvfrom(1024)
    print(back_msg.decode('utf-8'), addr[1] == ip_port[1])
"#;

/// The course's time client: sends each format, prints the answer; prints the local date
/// before and after, so the test can tell the server's clock agrees.
const PY_TIME_CLIENT: &str = r#"
import socket, sys, time
host, port = sys.argv[1].rsplit(':', 1)
ip_port = (host, int(port))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(10)
print(time.strftime('%Y-%m-%d'))
for fmt in sys.argv[2:]:
    c.sendto(fmt.encode('utf-8'), ip_port)
    data, addr = c.recvfrom(1024)
    print(data.decode('utf-8'))
print(time.strftime('%Y-%m-%d'))
"#;

#[test]
fn udp_echo_answers_several_course_python_clients_at_once() {
    let mut srv = serve("udp-echo", &[], false);
    let mut kids = Vec::new();
    for i in 0..3 {
        let msgs: Vec<String> = (0..5)
            .map(|k| format!("client {i} say hello {k}"))
            .collect();
        let mut args = vec![srv.addr.as_str()];
        args.extend(msgs.iter().map(String::as_str));
        let Some(mut cmd) = python(PY_ECHO_CLIENT, &args) else {
            return;
        };
        kids.push((i, cmd.stdout(Stdio::piped()).spawn().unwrap()));
    }
    for (i, kid) in kids {
        let out = kid.wait_with_output().unwrap();
        assert!(out.status.success(), "python client {i} failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let want: Vec<String> = (0..5)
            .map(|k| format!("CLIENT {i} SAY HELLO {k} True"))
            .collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), want);
    }
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

#[test]
fn the_time_server_answers_the_course_python_client() {
    let mut srv = serve("time", &[], false);
    let Some(mut cmd) = python(PY_TIME_CLIENT, &[&srv.addr, "", "%Y-%m-%d", "%H:%M"]) else {
        return;
    };
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let [before, default, date, hm, after] = lines[..] else {
        panic!("unexpected output {text:?}")
    };
    // Empty asks for the course's '%Y-%m-%d %X': "2024-02-29 13:05:09".
    let (d, t) = default.split_once(' ').expect("date and time");
    assert!(
        d == before || d == after,
        "{default:?} vs {before:?}/{after:?}"
    );
    assert!(
        t.len() == 8
            && t.split(':')
                .all(|p| p.len() == 2 && p.parse::<u8>().is_ok()),
        "{t:?}"
    );
    assert!(date == before || date == after, "{date:?}");
    assert!(hm.len() == 5 && hm.as_bytes()[2] == b':', "{hm:?}");
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

/// One HTTP/1.1 GET of the stats page's `/stats`.
fn stats(addr: &str) -> serde_json::Value {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn refusal_code(answer: &[u8]) -> String {
    parse_refusal(answer)
        .unwrap_or_else(|| panic!("not a refusal: {:?}", String::from_utf8_lossy(answer)))
        .code
}

#[test]
fn bad_formats_and_a_64k_datagram_get_refusals_and_the_time_server_goes_on() {
    let mut srv = serve("time", &[], true);
    let addr = srv.addr.clone();
    let c = client();
    assert_eq!(refusal_code(&ask(&c, &addr, b"%Q")), code::BAD_REQUEST);
    assert_eq!(refusal_code(&ask(&c, &addr, b"abc %")), code::BAD_REQUEST);
    assert_eq!(refusal_code(&ask(&c, &addr, b"%Y\xff")), code::BAD_REQUEST);
    assert_eq!(refusal_code(&ask(&c, &addr, &[b'x'; 300])), code::TOO_LARGE);
    assert_eq!(
        refusal_code(&ask(&c, &addr, &vec![b'%'; BIG])),
        code::TOO_LARGE
    );
    // Still serving, this client and another.
    let year = ask(&c, &addr, b"%Y");
    assert!(
        year.len() == 4 && year.iter().all(u8::is_ascii_digit),
        "{year:?}"
    );
    assert_eq!(ask(&client(), &addr, b"%%"), b"%");
    let s = stats(srv.stats.as_ref().unwrap());
    assert_eq!(s["errors"]["protocol"], 5, "{s}");
    assert_eq!(s["requests"], 2, "{s}");
    assert!(srv.alive());
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

#[test]
fn a_64k_datagram_gets_a_refusal_and_udp_echo_goes_on() {
    let mut srv = serve("udp-echo", &[], false);
    let addr = srv.addr.clone();
    let c = client();
    let answer = ask(&c, &addr, &vec![b'a'; BIG]);
    assert_eq!(refusal_code(&answer), code::TOO_LARGE);
    // The limit is a flag; at the limit the datagram is answered whole.
    assert_eq!(ask(&c, &addr, &[b'b'; 8192]), vec![b'B'; 8192]);
    assert_eq!(ask(&c, &addr, b"still here"), b"STILL HERE");
    assert!(srv.sigterm_and_wait(PATIENCE).success());

    let mut srv = serve("udp-echo", &["--max-datagram", "64K"], false);
    let big = ask(&client(), &srv.addr, &vec![b'a'; BIG]);
    assert_eq!(big.len(), BIG);
    assert!(big.iter().all(|&b| b == b'A'));
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

#[test]
fn datagrams_never_stick_together_and_a_vanished_client_changes_nothing() {
    let mut srv = serve("udp-echo", &[], false);
    let addr = srv.addr.clone();
    // Ten datagrams sent back to back: ten separate answers, none glued to another.
    let c = client();
    for k in 0..10 {
        c.send_to(format!("m{k}").as_bytes(), &addr).unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..10 {
        let n = c.recv(&mut buf).unwrap();
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    got.sort();
    let mut want: Vec<String> = (0..10).map(|k| format!("M{k}")).collect();
    want.sort();
    assert_eq!(got, want);
    // A client sends and disappears before its answer: no handshake, no goodbye.
    for _ in 0..20 {
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        gone.send_to(b"bye", &addr).unwrap();
    }
    assert_eq!(ask(&c, &addr, b"next"), b"NEXT");
    assert!(srv.alive());
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

fn stress_udp(addr: &str, extra: &[&str]) -> (serde_json::Value, i32) {
    let out = mayfly()
        .args(["stress", "--proto", "udp", "--addr", addr, "--json"])
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text:?} {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code().unwrap_or(-1))
}

#[test]
fn stress_over_udp_gets_correct_answers_from_udp_echo() {
    let mut srv = serve("udp-echo", &[], false);
    let (r, code) = stress_udp(&srv.addr, &["--threads", "8", "--duration", "1s"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["wrong_replies"], 0, "{r}");
    assert_eq!(r["opened"], 8, "{r}");
    // Every request sent is accounted for: answered, lost, or wrong.
    let sent = r["sent"].as_u64().unwrap();
    let settled = r["requests"].as_u64().unwrap()
        + r["lost"].as_u64().unwrap()
        + r["wrong_replies"].as_u64().unwrap()
        + r["io_errors"].as_u64().unwrap();
    assert_eq!(sent, settled, "{r}");
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

#[test]
fn stress_over_udp_counts_lost_and_wrong_answers() {
    // A bad server: ignores every other datagram and answers the rest unchanged.
    let bad = UdpSocket::bind("127.0.0.1:0").unwrap();
    bad.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = bad.local_addr().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut answer = false;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = bad.recv_from(&mut buf) {
                answer = !answer;
                if answer {
                    let _ = bad.send_to(&buf[..n], from);
                }
            }
        }
    });
    let (r, code) = stress_udp(
        &addr,
        &[
            "--threads",
            "2",
            "--duration",
            "1s",
            "--reply-timeout",
            "50ms",
        ],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert_eq!(code, 1, "wrong answers fail the run: {r}");
    assert_eq!(r["requests"], 0, "{r}");
    assert!(r["lost"].as_u64().unwrap() > 0, "{r}");
    assert!(r["wrong_replies"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn stress_over_udp_refuses_tcp_only_flags() {
    let out = mayfly()
        .args(["stress", "--proto", "udp", "--addr", "127.0.0.1:9"])
        .args(["--mode", "coroutine", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("threads only"));
}

#[test]
fn the_limits_are_flags() {
    let mut srv = serve(
        "time",
        &[
            "--max-format",
            "4",
            "--max-datagram",
            "16",
            "--max-handlers",
            "0",
        ],
        false,
    );
    let c = client();
    assert_eq!(refusal_code(&ask(&c, &srv.addr, b"%Y-%m")), code::TOO_LARGE);
    assert_eq!(ask(&c, &srv.addr, b"%Y").len(), 4);
    assert_eq!(
        refusal_code(&ask(&c, &srv.addr, &[b'%'; 17])),
        code::TOO_LARGE
    );
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

/// A gauge on the stats page (0 while it has not been created).
fn gauge(stats: &serde_json::Value, name: &str) -> u64 {
    stats["gauges"][name].as_u64().unwrap_or(0)
}

/// True if nothing arrives on `c` within `wait`.
fn silent(c: &UdpSocket, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 2048];
    let quiet = c.recv_from(&mut buf).is_err();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    quiet
}

fn v4(addr: &str) -> SocketAddrV4 {
    addr.parse().unwrap()
}

/// Sends a forged datagram; false (and a SKIPPED line) when raw sockets are not allowed.
fn spoof(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> bool {
    match send_spoofed_udp(from, to, payload) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("SKIPPED: raw sockets need root ({e}); no forged datagram was sent");
            false
        }
        Err(e) => panic!("sending a forged datagram: {e}"),
    }
}

#[test]
fn a_datagram_from_the_servers_own_address_or_port_0_is_not_answered() {
    for kind in ["udp-echo", "time"] {
        let mut srv = serve(kind, &[], true);
        let addr = v4(&srv.addr);
        if !spoof(addr, addr, b"%Y loop") {
            return;
        }
        assert!(spoof(
            SocketAddrV4::new(*addr.ip(), 0),
            addr,
            b"%Y from port 0"
        ));
        // A real client is still answered, and the two forged datagrams were counted.
        assert!(!ask(&client(), &srv.addr, b"%Y").is_empty());
        let s = stats(srv.stats.as_ref().unwrap());
        assert_eq!(gauge(&s, "udp_refused_source"), 2, "{kind}: {s}");
        assert_eq!(
            s["requests"], 1,
            "{kind}: only the real client was answered: {s}"
        );
        assert!(srv.sigterm_and_wait(PATIENCE).success());
    }
}

#[test]
fn datagrams_from_well_known_service_ports_are_not_answered_unless_asked() {
    // The echo port itself: what a forged "echo server" source looks like.
    let Ok(from_echo_port) = UdpSocket::bind("127.0.0.1:7") else {
        eprintln!("SKIPPED: cannot bind UDP port 7 (not root, or in use)");
        return;
    };
    let mut srv = serve("udp-echo", &[], true);
    from_echo_port
        .send_to(b"chargen says hi", &srv.addr)
        .unwrap();
    assert!(silent(&from_echo_port, Duration::from_millis(300)));
    let s = stats(srv.stats.as_ref().unwrap());
    assert_eq!(gauge(&s, "udp_refused_source"), 1, "{s}");
    assert!(srv.sigterm_and_wait(PATIENCE).success());

    let mut srv = serve("udp-echo", &["--answer-reserved-ports"], false);
    from_echo_port.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(ask(&from_echo_port, &srv.addr, b"hi"), b"HI");
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

#[test]
fn one_forged_datagram_cannot_keep_two_servers_answering_each_other() {
    // echo against echo, and echo against time (echo returns the format, time answers it).
    for other in ["udp-echo", "time"] {
        let mut a = serve("udp-echo", &[], true);
        let mut b = serve(other, &[], true);
        if !spoof(v4(&a.addr), v4(&b.addr), b"%Y-%m-%d %X") {
            return;
        }
        let answers = |srv: &ServerChild| stats(srv.stats.as_ref().unwrap())["requests"].clone();
        std::thread::sleep(Duration::from_secs(1));
        let (a1, b1) = (answers(&a), answers(&b));
        std::thread::sleep(Duration::from_secs(1));
        // The loop has ended: nothing more was answered in the second second…
        assert_eq!(
            (answers(&a), answers(&b)),
            (a1.clone(), b1.clone()),
            "{other}"
        );
        // …and it cost each server about its burst (200) of answers, not tens of thousands.
        for n in [&a1, &b1] {
            let n = n.as_u64().unwrap();
            assert!((1..=1000).contains(&n), "{other}: {n} answers");
        }
        let over = gauge(&stats(a.stats.as_ref().unwrap()), "udp_over_budget")
            + gauge(&stats(b.stats.as_ref().unwrap()), "udp_over_budget");
        assert_eq!(over, 1, "{other}: the one datagram dropped ends the loop");
        assert!(a.sigterm_and_wait(PATIENCE).success());
        assert!(b.sigterm_and_wait(PATIENCE).success());
    }
}

#[test]
fn a_flood_from_one_source_gets_its_budget_and_others_are_still_answered() {
    let flags = ["--max-replies-per-sec", "10", "--reply-burst", "5"];
    let mut srv = serve("udp-echo", &flags, true);
    let flood = client();
    let started = std::time::Instant::now();
    for k in 0..100 {
        flood
            .send_to(format!("m{k}").as_bytes(), &srv.addr)
            .unwrap();
    }
    let mut answered = 0;
    while !silent(&flood, Duration::from_millis(300)) {
        answered += 1;
    }
    // The burst, plus what ten a second refilled meanwhile (the wait included).
    let refilled = (started.elapsed().as_secs_f64() * 10.0).ceil() as u64;
    assert!(
        (5..=5 + refilled).contains(&answered),
        "{answered} answered, {refilled} refilled"
    );
    assert_eq!(ask(&client(), &srv.addr, b"another"), b"ANOTHER");
    let s = stats(srv.stats.as_ref().unwrap());
    assert_eq!(gauge(&s, "udp_over_budget"), 100 - answered, "{s}");
    assert_eq!(gauge(&s, "udp_budget_sources"), 2, "{s}");
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

/// The longest answer the default ratio (3×, on the wire: 28 bytes of IPv4 and UDP header
/// each way) allows a request of `n` bytes.
fn within_ratio(n: usize) -> usize {
    3 * (n + 28) - 28
}

#[test]
fn the_time_server_never_answers_more_than_three_times_the_request() {
    let mut srv = serve("time", &[], true);
    let addr = srv.addr.clone();
    let c = client();
    // The course's use is untouched: the default format, asked for or empty, and %c.
    for (fmt, len) in [(&b"%Y-%m-%d %X"[..], 19), (b"", 19), (b"%c", 24)] {
        let answer = ask(&c, &addr, fmt);
        assert_eq!(answer.len(), len, "{answer:?}");
        assert!(parse_refusal(&answer).is_none());
    }
    // 256 bytes of %c would be 3,072 back: refused, in at most 3× the request.
    let many = "%c".repeat(128);
    let answer = ask(&c, &addr, many.as_bytes());
    assert_eq!(refusal_code(&answer), code::TOO_LARGE);
    assert!(answer.len() <= within_ratio(many.len()), "{}", answer.len());
    // Refusals fit the ratio too: a 1-byte bad datagram gets a short one (121 bytes before).
    let bad: [(&[u8], &str); 6] = [
        (b"\xff", code::BAD_REQUEST),
        (b"%", code::BAD_REQUEST),
        (b"%Q", code::BAD_REQUEST),
        (b"abc %", code::BAD_REQUEST),
        (&[b'x'; 300], code::TOO_LARGE),
        (&[b'%'; BIG], code::TOO_LARGE),
    ];
    for (req, want) in bad {
        let answer = ask(&c, &addr, req);
        assert_eq!(refusal_code(&answer), want, "{req:?}");
        assert!(
            answer.len() <= within_ratio(req.len()),
            "{req:?}: {}",
            answer.len()
        );
    }
    let s = stats(srv.stats.as_ref().unwrap());
    assert_eq!(gauge(&s, "udp_over_ratio"), 1, "{s}");
    assert!(gauge(&s, "udp_refusals_shortened") >= 4, "{s}");
    assert_eq!(gauge(&s, "udp_refusals_dropped"), 0, "{s}");
    assert!(srv.sigterm_and_wait(PATIENCE).success());

    // The ratio is a flag; 0 turns it off.
    let mut srv = serve("time", &["--max-reply-ratio", "0"], false);
    assert_eq!(ask(&client(), &srv.addr, many.as_bytes()).len(), 128 * 24);
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}

/// Python's `time.strftime(fmt)` under `TZ=tz`, or `None` without python3.
fn python_strftime(tz: &str, fmt: &str) -> Option<String> {
    let mut cmd = python(
        "import sys, time; print(time.strftime(sys.argv[1]))",
        &[fmt],
    )?;
    let out = cmd.env("TZ", tz).output().unwrap();
    assert!(out.status.success());
    Some(String::from_utf8(out.stdout).unwrap().trim_end().to_owned())
}

#[test]
fn percent_z_is_the_zone_name_python_gives_not_an_offset() {
    // POSIX zone strings need no tz database: the name is the one TZ spells.
    for (tz, name) in [("UTC0", "UTC"), ("JST-9", "JST"), ("EST5", "EST")] {
        let mut cmd = mayfly();
        cmd.args(["serve", "time", "--addr", "127.0.0.1:0"])
            .env("TZ", tz)
            .stderr(Stdio::null());
        let mut srv = ServerChild::spawn(cmd, false);
        let c = client();
        let answer = String::from_utf8(ask(&c, &srv.addr, b"%Z")).unwrap();
        assert_eq!(answer, name, "TZ={tz}");
        if let Some(py) = python_strftime(tz, "%Z") {
            assert_eq!(answer, py, "TZ={tz}: Python's time.strftime('%Z')");
        }
        // %z stays the offset, as in Python.
        let offset = String::from_utf8(ask(&c, &srv.addr, b"%z")).unwrap();
        if let Some(py) = python_strftime(tz, "%z") {
            assert_eq!(offset, py, "TZ={tz}: %z");
        }
        assert!(srv.sigterm_and_wait(PATIENCE).success());
    }
}

#[test]
fn the_time_server_binds_with_so_reuseaddr_and_a_busy_port_is_still_an_error() {
    let mut srv = serve("time", &[], false);
    // Linux lets a second UDP socket bind the port only if both set SO_REUSEADDR: one that
    // sets it binds, so the server set it (the course's setsockopt).
    let addr: std::net::SocketAddr = srv.addr.parse().unwrap();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&addr.into())
        .expect("SO_REUSEADDR on the time server's socket");
    drop(s);
    // One that does not set it is refused.
    assert!(UdpSocket::bind(addr).is_err());
    // And a second time server on the same port fails to start, with a clear message.
    let out = mayfly()
        .args(["serve", "time", "--addr", &srv.addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("in use"), "{err}");
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}
