//! The guard in front of may_minihttp. may_minihttp parses and answers HTTP well but has no
//! limits: every connection is kept alive forever, a request head can grow without bound,
//! more than 16 headers or a bad Content-Length drops the connection. So the public port
//! is a mayfly `StreamServer` that enforces the limits and forwards only well-formed,
//! bounded `GET`s of known paths to may_minihttp on an internal loopback port, relaying its
//! answers; everything else it answers itself (400, 404, 405, 413, 431).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mayfly::net::TcpStream;

/// Paths the stats page serves.
pub const ROUTES: [&str; 3] = ["/", "/stats", "/metrics"];
/// Headers accepted in one request (may_minihttp drops the connection past 16).
pub const MAX_HEADERS: usize = 16;
/// Largest response accepted back from may_minihttp (a dashboard page, a JSON with history).
const MAX_RESPONSE: usize = 4 << 20;

/// Limits the guard applies to each client connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request head (request line + headers), bytes.
    pub max_request: usize,
    /// Time allowed for a request to arrive once the previous one is answered.
    pub idle_timeout: Duration,
    /// Requests per second the whole page answers; more wait their turn.
    pub rate: std::sync::Arc<RateLimit>,
    /// The header line (`X-Mayfly-Guard: <random>`) added to every forwarded request; the
    /// internal server refuses requests without it, so its port is no way around the guard.
    pub token_header: std::sync::Arc<str>,
}

/// The name of the header that proves a request came through the guard.
pub const TOKEN_HEADER: &str = "X-Mayfly-Guard";

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

fn simple(status: &str, extra: &str, close: bool) -> Vec<u8> {
    let body = format!("{status}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

/// Serves one client connection until it closes, idles out or breaks a limit.
pub fn serve(mut client: TcpStream, inner_addr: SocketAddr, limits: &Limits) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut inner: Option<TcpStream> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        // Read one request head, never more than the limit, all of it within the idle
        // timeout (a client trickling bytes gets no more time than a silent one).
        let deadline = std::time::Instant::now() + limits.idle_timeout;
        let head_len = loop {
            if let Some(p) = find_head_end(&buf) {
                break p;
            }
            if buf.len() >= limits.max_request {
                client.write_all(&simple("431 Request Header Fields Too Large", "", true))?;
                return Ok(());
            }
            let start = buf.len();
            let want = (limits.max_request + 4 - start).min(16 * 1024);
            buf.resize(start + want, 0);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
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
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let (path, close, has_body, method_ok) = match req.parse(&buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {
                let path = req
                    .path
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_owned();
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
                let has_body = header("transfer-encoding").is_some()
                    || header("content-length").is_some_and(|v| v != "0");
                (path, close, has_body, req.method == Some("GET"))
            }
            Ok(httparse::Status::Partial) | Err(_) => {
                client.write_all(&simple("400 Bad Request", "", true))?;
                return Ok(());
            }
        };
        if has_body {
            client.write_all(&simple("413 Content Too Large", "", true))?;
            return Ok(());
        }
        if !ROUTES.contains(&path.as_str()) {
            client.write_all(&simple("404 Not Found", "", close))?;
        } else if !method_ok {
            client.write_all(&simple("405 Method Not Allowed", "Allow: GET\r\n", close))?;
        } else {
            let conn = match &mut inner {
                Some(c) => c,
                None => {
                    let mut c = TcpStream::connect(inner_addr)?;
                    c.set_nodelay(true)?;
                    c.settimeout(Some(Duration::from_secs(10)));
                    inner.insert(c)
                }
            };
            let response = forward(conn, &buf[..head_len], &limits.token_header)?;
            client.write_all(&response)?;
        }
        buf.drain(..head_len);
        if close {
            return Ok(());
        }
    }
}

/// Sends one request head to may_minihttp and reads its whole response.
fn forward(inner: &mut TcpStream, head: &[u8], token_header: &str) -> io::Result<Vec<u8>> {
    // The head ends in CRLF CRLF: put the token line before the blank line.
    let mut out = Vec::with_capacity(head.len() + token_header.len() + 2);
    out.extend_from_slice(&head[..head.len() - 2]);
    out.extend_from_slice(token_header.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    inner.write_all(&out)?;
    let mut resp: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find_head_end(&resp) {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut headers);
            r.parse(&resp[..end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let len: usize = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Content-Length"))?;
            if end + len > MAX_RESPONSE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response too large",
                ));
            }
            while resp.len() < end + len {
                let n = inner.read(&mut chunk)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                resp.extend_from_slice(&chunk[..n]);
            }
            resp.truncate(end + len);
            return Ok(resp);
        }
        if resp.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
        let n = inner.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        resp.extend_from_slice(&chunk[..n]);
    }
}

/// Index just past the blank line ending an HTTP head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}
