//! [`Response`]: what a service fills in (status, headers, body), and how it goes on the
//! wire (`encode_head`, `encode_refusal`).

use std::io;

use crate::status::reason;

/// The answer a service fills in. Starts as `200 OK` with no headers and an empty body;
/// `Server`, `Date` and `Content-Length` are added when it is sent (a `Content-Length` or
/// `Transfer-Encoding` the service sets is dropped; `Connection: close` closes the connection
/// after this answer). It implements [`io::Write`], appending to the body.
///
/// ```
/// use std::io::Write;
/// let mut rsp = may_minihttp::Response::default();
/// rsp.status(201).header("Content-Type", "text/plain");
/// write!(rsp, "made {}", 1).unwrap();
/// assert_eq!(rsp.body_bytes(), b"made 1");
/// ```
#[derive(Debug)]
pub struct Response {
    status: u16,
    reason: &'static str,
    /// Encoded `Name: value\r\n` lines.
    headers: Vec<u8>,
    body: Vec<u8>,
    close: bool,
    /// Set when a service passed a header that cannot go on the wire: the answer is a 500.
    invalid: bool,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: 200,
            reason: "OK",
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
            invalid: false,
        }
    }
}

/// A body capacity kept between requests at most: a larger one is freed after its answer.
const KEEP_BODY_CAPACITY: usize = 64 * 1024;

impl Response {
    /// Sets the status code, with its standard reason phrase ([`reason`]).
    pub fn status(&mut self, code: u16) -> &mut Self {
        self.status_reason(code, reason(code))
    }

    /// Sets the status code and a reason phrase of your own.
    pub fn status_reason(&mut self, code: u16, reason: &'static str) -> &mut Self {
        if !(100..=999).contains(&code) || reason.bytes().any(|b| b == b'\r' || b == b'\n') {
            self.invalid = true;
        }
        self.status = code;
        self.reason = reason;
        self
    }

    /// The status code set so far.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// Adds a header. A name that is not a token, or a value with CR, LF or NUL (header
    /// injection), makes the answer a 500 instead.
    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        let value_ok = !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !name_ok || !value_ok {
            self.invalid = true;
            return self;
        }
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return self;
        }
        if name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
        {
            self.close = true;
            return self;
        }
        self.headers.extend_from_slice(name.as_bytes());
        self.headers.extend_from_slice(b": ");
        self.headers.extend_from_slice(value.as_bytes());
        self.headers.extend_from_slice(b"\r\n");
        self
    }

    /// Replaces the body.
    pub fn body(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.body.clear();
        self.body.extend_from_slice(bytes.as_ref());
        self
    }

    /// The body, to fill in place.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// The body so far.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Closes the connection after this answer (as a `Connection: close` header does).
    pub fn close(&mut self) -> &mut Self {
        self.close = true;
        self
    }

    pub(crate) fn wants_close(&self) -> bool {
        self.close
    }

    pub(crate) fn is_invalid(&self) -> bool {
        self.invalid
    }

    /// Back to `200 OK`, no headers, empty body (keeping small buffers).
    pub(crate) fn reset(&mut self) {
        self.status = 200;
        self.reason = "OK";
        self.headers.clear();
        self.body.clear();
        if self.body.capacity() > KEEP_BODY_CAPACITY {
            self.body = Vec::new();
        }
        self.close = false;
        self.invalid = false;
    }

    /// Turns this answer into a plain `500 Internal Server Error` (a failed or broken service).
    pub(crate) fn fail(&mut self) {
        let close = self.close;
        self.reset();
        self.close = close;
        self.status(500).body(b"Internal Server Error\n");
    }

    /// Whether this status carries no body (1xx, 204, 304).
    fn bodiless(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }

    /// Appends the status line and headers to `out`; returns the body bytes to send after
    /// them (none for `HEAD` and bodiless statuses). `version` is the request's minor
    /// version, `keep_alive` whether the connection stays open.
    pub(crate) fn encode_head(
        &self,
        out: &mut Vec<u8>,
        head_only: bool,
        version: u8,
        keep_alive: bool,
    ) -> &[u8] {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\nServer: mayfly\r\nDate: ");
        crate::date::append_date(out);
        out.extend_from_slice(b"\r\n");
        if !self.bodiless() {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(self.body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if version == 0 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(&self.headers);
        out.extend_from_slice(b"\r\n");
        if head_only || self.bodiless() {
            &[]
        } else {
            &self.body
        }
    }
}

impl io::Write for Response {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends a complete refusal (`status`, a one-line body, `Connection: close`) to `out`.
pub(crate) fn encode_refusal(out: &mut Vec<u8>, status: u16) {
    let mut rsp = Response::default();
    rsp.status(status);
    let body = format!("{} {}\n", status, reason(status));
    rsp.body(body.as_bytes());
    let body = rsp.encode_head(out, false, 1, false);
    out.extend_from_slice(body);
}
