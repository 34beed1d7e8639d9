//! [`serve`]: the loop that answers one connection's requests, and [`HttpService`], what
//! answers each one.
//!
//! The fast path of the published crate, kept: each read takes what has arrived; every
//! complete request in the buffer is answered before the next read (pipelining); their
//! answers are written together after the batch (one write), or whenever
//! [`Limits::max_output_bytes`] wait; a read parks only when nothing is left to answer.

use std::io::{self, Read, Write};
use std::time::Instant;

use crate::buffer::InBuf;
use crate::head::{framing, Framing, Refusal};
use crate::limits::Limits;
use crate::request::Request;
use crate::response::{encode_refusal, Response};

/// Answers requests: called once per request, in order, on the connection's coroutine.
///
/// An `Err` becomes a `500 Internal Server Error` (what the service had filled in is
/// dropped) and the connection goes on. A closure `FnMut(&Request, &mut Response) ->
/// io::Result<()>` is a service.
pub trait HttpService {
    /// Fills `rsp` for `req`.
    ///
    /// # Errors
    /// Any error: the client gets a 500 instead of `rsp`.
    fn call(&mut self, req: &Request<'_>, rsp: &mut Response) -> io::Result<()>;
}

impl<F> HttpService for F
where
    F: FnMut(&Request<'_>, &mut Response) -> io::Result<()>,
{
    fn call(&mut self, req: &Request<'_>, rsp: &mut Response) -> io::Result<()> {
        self(req, rsp)
    }
}

/// Serves HTTP/1.x on `stream` until the connection ends: keep-alive and pipelining, every
/// input bounded by `limits` (see the crate docs for what each bad input gets).
///
/// `stream` is a blocking stream: on a coroutine stream a read parks only the calling
/// coroutine. Its own read timeout is the idle timeout (between requests) and bounds every
/// wait; [`Limits::request_timeout`] bounds a whole request; its write timeout cuts off a
/// client that does not read.
///
/// # Errors
/// `Ok(())` when the client closed between requests or the connection was closed as asked
/// (`Connection: close`, HTTP/1.0). Otherwise why it ended: the stream's error (`TimedOut`
/// for its timeouts, `ConnectionReset`, …); `UnexpectedEof` for a client that closed
/// mid-request; `InvalidData` after a refusal (400, 413, 431, 501) was sent; `TimedOut` after
/// a 408. After `InvalidData` the client may still be sending: close gracefully (shut down
/// the write side, read and drop a little) so it sees the refusal instead of a reset.
pub fn serve<S, T>(stream: &mut S, service: &mut T, limits: &Limits) -> io::Result<()>
where
    S: Read + Write + ?Sized,
    T: HttpService + ?Sized,
{
    let mut conn = Conn {
        input: InBuf::new(limits.max_head_bytes),
        out: Vec::new(),
        body: Vec::new(),
        rsp: Response::default(),
        headers: Vec::new(),
        request_started: None,
    };
    loop {
        if let Some(started) = conn.request_started {
            if limits
                .request_timeout
                .is_some_and(|t| started.elapsed() > t)
            {
                return conn.refuse_timeout(stream);
            }
        }
        let n = match conn.input.read_from(stream) {
            Ok(Some(n)) => n,
            Ok(None) => return conn.refuse(stream, Refusal::HEAD_TOO_LARGE),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return if conn.input.is_empty() {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed mid-request",
                ))
            };
        }
        conn.request_started.get_or_insert_with(Instant::now);
        match conn.batch(stream, service, limits)? {
            Next::Read => {}
            Next::Close => return conn.flush(stream),
            Next::Refuse(r) => return conn.refuse(stream, r),
            Next::TimedOut => return conn.refuse_timeout(stream),
        }
        conn.flush(stream)?;
        if conn.input.is_empty() {
            conn.request_started = None;
        }
    }
}

/// What the connection does after a batch.
enum Next {
    /// Read more: the buffer holds at most part of a request.
    Read,
    /// Close after writing what waits (an answer said so).
    Close,
    /// Answer with this refusal and close.
    Refuse(Refusal),
    /// A request took longer than its limit to arrive: 408 and close.
    TimedOut,
}

impl Refusal {
    const HEAD_TOO_LARGE: Refusal = Refusal {
        status: 431,
        why: "request head over the limit",
    };

    /// The answer to too many headers: `status` if it is a 4xx, else 431.
    fn too_many_headers(status: u16) -> Refusal {
        Refusal {
            status: if (400..500).contains(&status) {
                status
            } else {
                431
            },
            why: "too many headers",
        }
    }
}

/// One connection's buffers, kept across its requests.
struct Conn {
    input: InBuf,
    /// Answers waiting to be written.
    out: Vec<u8>,
    /// A body that did not arrive with its head.
    body: Vec<u8>,
    rsp: Response,
    /// Room for the parsed headers (empty; only its capacity is used, see `recycle`).
    headers: Vec<httparse::Header<'static>>,
    /// When the first byte of the request not yet answered arrived.
    request_started: Option<Instant>,
}

/// An empty vector of headers with another lifetime, keeping the allocation (the standard
/// library collects an empty `into_iter().map()` in place).
/// Header slots a connection starts with (the published crate's fixed count): 16 × 32
/// bytes, instead of room for [`Limits::max_headers`] (100 by default: 3.2 KiB) on every
/// connection, idle ones included.
const INITIAL_HEADER_SLOTS: usize = 16;

fn recycle<'a>(mut v: Vec<httparse::Header<'_>>) -> Vec<httparse::Header<'a>> {
    v.clear();
    v.into_iter().map(|_| httparse::EMPTY_HEADER).collect()
}

/// What parsing the buffer's next request gave.
enum Parsed {
    /// A complete head of this many bytes, with its framing.
    Head(usize, u8, Framing),
    Partial,
    /// More headers than the slots given: parse again with room for the limit.
    Retry,
    Refused(Refusal),
}

impl Conn {
    /// Answers every complete request in the buffer.
    fn batch<S, T>(&mut self, stream: &mut S, service: &mut T, limits: &Limits) -> io::Result<Next>
    where
        S: Read + Write + ?Sized,
        T: HttpService + ?Sized,
    {
        let max_headers = limits.max_headers.max(1);
        let mut headers = recycle(std::mem::take(&mut self.headers));
        // Room for a typical request's headers at first; a request with more is parsed again
        // with room for `max_headers` (kept for the connection's next requests).
        let mut slots_now = headers
            .capacity()
            .clamp(INITIAL_HEADER_SLOTS.min(max_headers), max_headers);
        headers.reserve(slots_now);
        let mut consumed = 0;
        let pending = self.input.pending();
        let next = loop {
            let data = &pending[consumed..];
            if data.is_empty() {
                break Next::Read;
            }
            let mut req = httparse::Request::new(&mut []);
            let slots = &mut headers.spare_capacity_mut()[..slots_now];
            let parsed = match req.parse_with_uninit_headers(data, slots) {
                Ok(httparse::Status::Complete(len)) => {
                    let version = req.version.unwrap_or(1);
                    match framing(version, req.headers, limits.max_body_bytes) {
                        Ok(f) => Parsed::Head(len, version, f),
                        Err(r) => Parsed::Refused(r),
                    }
                }
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(httparse::Error::TooManyHeaders) if slots_now < max_headers => Parsed::Retry,
                Err(httparse::Error::TooManyHeaders) => {
                    Parsed::Refused(Refusal::too_many_headers(limits.too_many_headers_status))
                }
                Err(_) => Parsed::Refused(Refusal {
                    status: 400,
                    why: "malformed request head",
                }),
            };
            let (head_len, version, framing) = match parsed {
                Parsed::Head(len, v, f) => (len, v, f),
                Parsed::Partial => break Next::Read,
                Parsed::Retry => {
                    slots_now = max_headers;
                    headers.reserve(max_headers);
                    continue;
                }
                Parsed::Refused(r) => break Next::Refuse(r),
            };
            let after_head = &data[head_len..];
            let body: &[u8] = if framing.body_len <= after_head.len() {
                consumed += head_len + framing.body_len;
                &after_head[..framing.body_len]
            } else {
                // The body did not come with the head: it is the last thing in the buffer.
                consumed = pending.len();
                if framing.expect_continue {
                    write_out(stream, &mut self.out)?;
                    stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                }
                self.body.clear();
                self.body.extend_from_slice(after_head);
                let started = self.request_started.unwrap_or_else(Instant::now);
                if !read_body(stream, &mut self.body, framing.body_len, started, limits)? {
                    break Next::TimedOut;
                }
                &self.body
            };
            let request = Request {
                method: req.method.unwrap_or(""),
                target: req.path.unwrap_or(""),
                version,
                headers: req.headers,
                body,
            };
            let rsp = &mut self.rsp;
            rsp.reset();
            if service.call(&request, rsp).is_err() || rsp.is_invalid() {
                rsp.fail();
            }
            let keep_alive = framing.keep_alive && !rsp.wants_close();
            let body =
                rsp.encode_head(&mut self.out, request.method == "HEAD", version, keep_alive);
            if body.len() >= limits.max_output_bytes {
                write_out(stream, &mut self.out)?;
                stream.write_all(body)?;
            } else {
                self.out.extend_from_slice(body);
            }
            if self.out.len() >= limits.max_output_bytes {
                write_out(stream, &mut self.out)?;
            }
            if !keep_alive {
                break Next::Close;
            }
            // The next request's time starts now, for what of it is already here.
            self.request_started = Some(Instant::now());
        };
        self.headers = recycle(headers);
        self.input.consume(consumed);
        if self.body.capacity() > crate::limits::DEFAULT_MAX_OUTPUT_BYTES {
            self.body = Vec::new();
        }
        Ok(next)
    }

    /// Writes what waits.
    fn flush<S: Write + ?Sized>(&mut self, stream: &mut S) -> io::Result<()> {
        write_out(stream, &mut self.out)
    }

    /// Writes what waits and the refusal; ends with `InvalidData`.
    fn refuse<S: Write + ?Sized>(&mut self, stream: &mut S, r: Refusal) -> io::Result<()> {
        encode_refusal(&mut self.out, r.status);
        write_out(stream, &mut self.out)?;
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} {}: {}", r.status, crate::reason(r.status), r.why),
        ))
    }

    /// Writes what waits and a 408; ends with `TimedOut`.
    fn refuse_timeout<S: Write + ?Sized>(&mut self, stream: &mut S) -> io::Result<()> {
        encode_refusal(&mut self.out, 408);
        write_out(stream, &mut self.out)?;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "408 Request Timeout: request not complete within the limit",
        ))
    }
}

/// Writes all of `out` and empties it (keeping a buffer of at most twice the usual size).
fn write_out<S: Write + ?Sized>(stream: &mut S, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out)?;
        out.clear();
    }
    if out.capacity() > 2 * crate::limits::DEFAULT_MAX_OUTPUT_BYTES {
        *out = Vec::new();
    }
    Ok(())
}

/// How much a body buffer grows by per read at most.
const BODY_CHUNK: usize = 64 * 1024;

/// Reads the rest of a body into `body` until it holds `len` bytes. Returns false if the
/// request took longer than [`Limits::request_timeout`] from `started`.
fn read_body<S: Read + ?Sized>(
    stream: &mut S,
    body: &mut Vec<u8>,
    len: usize,
    started: Instant,
    limits: &Limits,
) -> io::Result<bool> {
    // The buffer grows as the body arrives, not to the length the client claims: a client
    // that announces a large body and sends nothing holds little memory.
    let mut have = body.len();
    while have < len {
        if limits
            .request_timeout
            .is_some_and(|t| started.elapsed() > t)
        {
            return Ok(false);
        }
        body.resize(have + (len - have).min(BODY_CHUNK), 0);
        let r = stream.read(&mut body[have..]);
        body.truncate(have + *r.as_ref().unwrap_or(&0));
        match r {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed mid-body",
                ))
            }
            Ok(_) => have = body.len(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A connection in memory: what the client sent, what the server wrote.
    struct Mem {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Mem {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }

    impl Write for Mem {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn mem(input: Vec<u8>) -> Mem {
        Mem {
            input: Cursor::new(input),
            output: Vec::new(),
        }
    }

    /// A GET with `n` headers (Host and n - 1 others).
    fn request(n: usize) -> Vec<u8> {
        let mut r = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 1..n {
            r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r
    }

    #[test]
    fn a_request_with_more_headers_than_the_first_slots_is_parsed_again_up_to_the_limit() {
        let limits = Limits::default();
        assert_eq!(limits.max_headers, 100);
        let mut input = request(1);
        for n in [40, 100, 101] {
            input.extend(request(n));
        }
        let mut m = mem(input);
        let mut seen = Vec::new();
        let mut service = |req: &Request<'_>, rsp: &mut Response| {
            seen.push(req.headers().len());
            rsp.body("ok");
            Ok(())
        };
        let r = serve(&mut m, &mut service, &limits);
        assert_eq!(seen, [1, 40, 100]);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
        let out = String::from_utf8_lossy(&m.output);
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
        assert!(out.contains("HTTP/1.1 431"), "{out}");
    }

    #[test]
    fn a_connection_after_a_small_request_holds_small_buffers() {
        let limits = Limits::default();
        let mut conn = Conn {
            input: InBuf::new(limits.max_head_bytes),
            out: Vec::new(),
            body: Vec::new(),
            rsp: Response::default(),
            headers: Vec::new(),
            request_started: None,
        };
        let mut m = mem(request(3));
        let mut service = |_: &Request<'_>, rsp: &mut Response| {
            rsp.body("ok");
            Ok(())
        };
        assert!(conn.input.read_from(&mut m).unwrap().is_some());
        assert!(matches!(
            conn.batch(&mut m, &mut service, &limits).unwrap(),
            Next::Read
        ));
        // An idle keep-alive connection keeps these: 1 KiB and 16 slots (512 bytes), not the
        // 4 KiB and 100 slots (3.2 KiB) it had.
        assert_eq!(conn.input.size(), 1024);
        assert_eq!(conn.headers.capacity(), 16);
        // A head longer than the first buffer still fits: the buffer grows to the limit.
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 3000));
        big.extend_from_slice(b"\r\n\r\n");
        let mut m = mem(big);
        let mut service = |_: &Request<'_>, rsp: &mut Response| {
            rsp.body("ok");
            Ok(())
        };
        assert!(serve(&mut m, &mut service, &limits).is_ok());
        assert!(String::from_utf8_lossy(&m.output).starts_with("HTTP/1.1 200 OK"));
    }
}
