//! [`Request`]: one parsed request as a service sees it, borrowed from the connection's
//! buffers (nothing is copied for a request whose body arrived with its head).

use std::fmt;

/// A request: method, target (path and query), version, headers and the whole body (its
/// length at most [`Limits::max_body_bytes`](crate::Limits::max_body_bytes)).
///
/// The target is UTF-8 (a request whose target is not gets 400 before a service sees it).
pub struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) version: u8,
    pub(crate) headers: &'a [httparse::Header<'a>],
    pub(crate) body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The method (`"GET"`, `"POST"`, …), as sent (methods are case-sensitive).
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target as sent: path and query (`/search?q=x`).
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path: the target up to a `?` (not percent-decoded).
    pub fn path(&self) -> &'a str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The query: the target after the first `?`, or `""` (not decoded).
    pub fn query(&self) -> &'a str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Every header in the order sent (names as sent; values are bytes).
    pub fn headers(&self) -> &'a [httparse::Header<'a>] {
        self.headers
    }

    /// The value of the first header named `name` (any case), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    }

    /// The body (empty without a `Content-Length`).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<HTTP Request {} {} ({} body bytes)>",
            self.method,
            self.target,
            self.body.len()
        )
    }
}
