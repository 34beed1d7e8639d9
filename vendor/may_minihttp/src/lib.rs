//! may_minihttp, patched for mayfly (see `PATCHED.md` beside `Cargo.toml`): an HTTP/1.1
//! server loop that serves one connection someone else accepted.
//!
//! [`serve`] takes any blocking `Read + Write` stream (a coroutine stream such as mayfly's
//! `TcpStream` or may's, whose reads park only the calling coroutine), an [`HttpService`]
//! and [`Limits`], and answers requests until the connection ends. It keeps the published
//! crate's fast path: every complete request already read is answered before the next read
//! (pipelining), their responses go out in one write, and a read parks only when nothing is
//! left to answer. Every input is bounded by [`Limits`]: a head over `max_head_bytes` or with
//! more than `max_headers` headers gets 431, a body over `max_body_bytes` 413, a bad framing
//! (a bad or doubled `Content-Length`, `Content-Length` with `Transfer-Encoding`) 400, a
//! chunked body 501; each of those closes the connection. Nothing is logged: what ended a
//! connection is the returned error.
//!
//! ```
//! use std::io::{self, Cursor, Read, Write};
//! use may_minihttp::{serve, HttpService, Limits, Request, Response};
//!
//! struct Hello;
//! impl HttpService for Hello {
//!     fn call(&mut self, _req: &Request<'_>, rsp: &mut Response) -> io::Result<()> {
//!         rsp.header("Content-Type", "text/plain").body(b"Hello, World!");
//!         Ok(())
//!     }
//! }
//!
//! // A stream that reads a request and keeps what is written.
//! struct Pipe(Cursor<Vec<u8>>, Vec<u8>);
//! impl Read for Pipe {
//!     fn read(&mut self, b: &mut [u8]) -> io::Result<usize> { self.0.read(b) }
//! }
//! impl Write for Pipe {
//!     fn write(&mut self, b: &[u8]) -> io::Result<usize> { self.1.write(b) }
//!     fn flush(&mut self) -> io::Result<()> { Ok(()) }
//! }
//!
//! let mut pipe = Pipe(Cursor::new(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()), Vec::new());
//! serve(&mut pipe, &mut Hello, &Limits::default()).unwrap();
//! let out = String::from_utf8(pipe.1).unwrap();
//! assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(out.ends_with("\r\n\r\nHello, World!"));
//! ```

mod buffer;
mod conn;
mod date;
mod head;
mod limits;
mod request;
mod response;
mod status;

pub use conn::{serve, HttpService};
pub use limits::{
    Limits, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES,
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TOO_MANY_HEADERS_STATUS,
};
pub use request::Request;
pub use response::Response;
pub use status::reason;
