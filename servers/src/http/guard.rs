//! The stats page's HTTP/1.1 connection loop. It reads one request head at a time, never
//! more than [`Limits::max_request`] bytes and within a deadline, parses it with httparse,
//! checks what it parsed (method, path, no body, at most [`MAX_HEADERS`] headers) and answers
//! exactly that request in-process, then the next. Nothing is forwarded anywhere: there is
//! no second parser to disagree with this one and no internal port to go around it.
//!
//! Every reply that ends the connection is followed by a lingering close ([`linger_close`]):
//! shut down the sending side, drain what the client still sends for at most
//! [`Limits::linger`], then close, so that unread input does not turn the close into a reset
//! that throws away the reply before the client has read it.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mayfly::net::TcpStream;

/// Paths the stats page serves.
pub const ROUTES: [&str; 3] = ["/", "/stats", "/metrics"];
/// Headers accepted in one request; more get 400.
pub const MAX_HEADERS: usize = 16;
/// Largest read from a client in one call.
const READ_CHUNK: usize = 16 * 1024;

/// Limits the guard applies to each client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request head (request line + headers), bytes.
    pub max_request: usize,
    /// Time allowed for the first request head to arrive in full.
    pub first_request_timeout: Duration,
    /// Time allowed for each later request head, once the previous one is answered.
    pub idle_timeout: Duration,
    /// Longest time a closing connection drains the client's input (lingering close).
    pub linger: Duration,
    /// Requests per second the whole page answers; more wait their turn.
    pub rate: std::sync::Arc<RateLimit>,
}

/// A token bucket shared by every connection of the stats page: it bounds the worker time
/// HTTP can take from the server beside it, however many clients hammer it.
///
/// ```
/// use std::time::Duration;
/// let r = mayfly_servers::http::guard::RateLimit::new(100);
/// // A burst of up to a tenth of a second's worth goes through at once.
/// assert!((0..10).all(|_| r.delay().is_zero()));
/// assert!(r.delay() > Duration::ZERO);
/// ```
#[derive(Debug)]
pub struct RateLimit {
    per_sec: f64,
    state: std::sync::Mutex<(f64, std::time::Instant)>,
}

impl RateLimit {
    /// `per_sec` requests per second, bursts of a tenth of that.
    pub fn new(per_sec: u64) -> Self {
        let per_sec = per_sec.max(1) as f64;
        RateLimit {
            per_sec,
            state: std::sync::Mutex::new((Self::burst(per_sec), std::time::Instant::now())),
        }
    }

    fn burst(per_sec: f64) -> f64 {
        (per_sec / 10.0).max(1.0)
    }

    /// Takes one token; returns how long the caller must wait before going on.
    pub fn delay(&self) -> Duration {
        let mut st = self.state.lock().unwrap();
        let now = std::time::Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() * self.per_sec;
        st.0 = (st.0 + refill).min(Self::burst(self.per_sec));
        st.1 = now;
        st.0 -= 1.0;
        if st.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.0 / self.per_sec)
        }
    }
}

/// One answer: status line, extra header lines, content type and body.
pub struct Reply {
    /// `200 OK`, `404 Not Found`, …
    pub status: &'static str,
    /// Extra header lines, each ending in CRLF.
    pub extra: &'static str,
    /// The Content-Type value.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A plain-text reply whose body is the status line itself.
    pub fn simple(status: &'static str, extra: &'static str) -> Reply {
        Reply {
            status,
            extra,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status}\n").into_bytes(),
        }
    }

    /// The reply as bytes on the wire.
    pub fn encode(&self, close: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            self.extra,
            if close { "Connection: close\r\n" } else { "" }
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// What one parsed request head asks for.
struct Head {
    len: usize,
    path: String,
    get: bool,
    close: bool,
    has_body: bool,
}

/// Index just past the first blank line (`\n\n` or `\n\r\n`) in `buf[from..]`, the only
/// places a request head can end; httparse is run only once one is there.
fn blank_line(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.saturating_sub(2);
    buf[from..]
        .windows(2)
        .position(|w| w == b"\n\n" || w == b"\n\r")
        .map(|p| from + p)
}

/// Parses the head at the start of `buf`: `Ok(None)` if it is not complete yet.
fn parse(buf: &[u8]) -> Result<Option<Head>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let close = match header("connection").as_deref() {
        Some("close") => true,
        Some("keep-alive") => false,
        _ => req.version == Some(0),
    };
    // Two Content-Length headers that differ frame the message two ways (RFC 9112 6.3: a
    // 400, never a guess, or a body could pass for the next request).
    let mut lengths = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| h.value.trim_ascii());
    if let Some(first) = lengths.next() {
        if lengths.any(|v| v != first) {
            return Err(httparse::Error::HeaderValue);
        }
    }
    let has_body =
        header("transfer-encoding").is_some() || header("content-length").is_some_and(|v| v != "0");
    let path = req.path.unwrap_or("/");
    Ok(Some(Head {
        len,
        path: path.split('?').next().unwrap_or("/").to_owned(),
        get: req.method == Some("GET"),
        close,
        has_body,
    }))
}

/// Serves one client connection until it closes, idles out or breaks a limit; `render`
/// answers a `GET` of one of the [`ROUTES`].
pub fn serve(
    mut client: TcpStream,
    limits: &Limits,
    render: impl Fn(&str) -> Reply,
) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        // Read one request head, never more than the limit, all of it within the timeout (a
        // client trickling bytes gets no more time than a silent one).
        let timeout = if first {
            limits.first_request_timeout.min(limits.idle_timeout)
        } else {
            limits.idle_timeout
        };
        first = false;
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        let head = loop {
            if blank_line(&buf, scanned).is_some() {
                match parse(&buf) {
                    Ok(Some(head)) if head.len <= limits.max_request => break head,
                    Ok(Some(_)) => {
                        return refuse(client, limits, "431 Request Header Fields Too Large")
                    }
                    Ok(None) => {}
                    Err(_) => return refuse(client, limits, "400 Bad Request"),
                }
            }
            scanned = buf.len();
            if buf.len() >= limits.max_request {
                return refuse(client, limits, "431 Request Header Fields Too Large");
            }
            let start = buf.len();
            let want = (limits.max_request + 4 - start).min(READ_CHUNK);
            buf.resize(start + want, 0);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            client.set_read_timeout(Some(left));
            let n = match client.read(&mut buf[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(()),
                Err(e) => return Err(e),
            };
            buf.truncate(start + n);
            if n == 0 {
                return Ok(());
            }
        };
        let wait = limits.rate.delay();
        if !wait.is_zero() {
            mayfly::sleep(wait);
        }
        if head.has_body {
            return refuse(client, limits, "413 Content Too Large");
        }
        let reply = if !ROUTES.contains(&head.path.as_str()) {
            Reply::simple("404 Not Found", "")
        } else if !head.get {
            Reply::simple("405 Method Not Allowed", "Allow: GET\r\n")
        } else {
            render(&head.path)
        };
        client.write_all(&reply.encode(head.close))?;
        buf.drain(..head.len);
        if head.close {
            linger_close(client, limits.linger);
            return Ok(());
        }
    }
}

/// Answers `status` with `Connection: close` and closes with a lingering close.
fn refuse(mut client: TcpStream, limits: &Limits, status: &'static str) -> io::Result<()> {
    client.write_all(&Reply::simple(status, "").encode(true))?;
    linger_close(client, limits.linger);
    Ok(())
}

/// Closes `client` so that what was written reaches it: shut down the sending side (a FIN
/// after the data), then read and discard the client's input until it closes too, an error,
/// or `linger` passes. Closing with unread input would send a reset instead, and a reset
/// makes the client's kernel drop the reply if it is still in flight.
///
/// ```no_run
/// # fn f(c: mayfly::net::TcpStream) {
/// mayfly_servers::http::guard::linger_close(c, std::time::Duration::from_secs(2));
/// # }
/// ```
pub fn linger_close(mut client: TcpStream, linger: Duration) {
    if client.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + linger;
    let mut scratch = [0u8; READ_CHUNK];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        client.set_read_timeout(Some(left));
        match client.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_only_at_a_blank_line_with_or_without_cr() {
        assert_eq!(blank_line(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
        assert!(blank_line(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0).is_some());
        assert!(blank_line(b"GET / HTTP/1.1\nHost: x\n\n", 0).is_some());
        // The end is found across two reads.
        assert!(blank_line(b"GET / HTTP/1.1\r\n\r\n", 16).is_some());
    }

    #[test]
    fn each_pipelined_head_is_parsed_on_its_own() {
        let two = b"GET /metrics HTTP/1.1\nHost: x\n\nDELETE /stats HTTP/1.1\r\n\r\n";
        let h = parse(two).unwrap().unwrap();
        assert_eq!((h.path.as_str(), h.get), ("/metrics", true));
        let h = parse(&two[h.len..]).unwrap().unwrap();
        assert_eq!((h.path.as_str(), h.get), ("/stats", false));
    }

    #[test]
    fn bodies_and_too_many_headers_are_seen() {
        let h = parse(b"GET /stats HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.has_body);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).is_err());
        let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(h.close);
    }

    #[test]
    fn two_different_content_lengths_are_a_bad_request() {
        let two = b"GET /stats HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n";
        assert!(parse(two).is_err(), "RFC 9112: 400, not the first one");
        let same = b"GET /stats HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n";
        assert!(
            !parse(same).unwrap().unwrap().has_body,
            "the same length twice is one length"
        );
    }
}
