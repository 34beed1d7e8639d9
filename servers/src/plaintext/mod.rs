//! TechEmpower's plaintext and JSON tests (`mayfly serve http`): `GET /plaintext` answers
//! `Hello, World!` as `text/plain`, `GET /json` answers `{"message":"Hello, World!"}` as
//! `application/json`, anything else 404 — the same bytes from every build ([`routes`]:
//! `Server: mayfly`, `Date`, `Content-Length`, `Content-Type`, in that order), keep-alive and
//! pipelining. Three builds, rows of the build registry ([`mayfly_proto::builds`], serving
//! [`Serves::Http`](mayfly_proto::builds::Serves::Http)):
//!
//! | build | model | parser | threads |
//! |---|---|---|---|
//! | [`Mode::HttpCoroutine`] | mayfly-http: `HttpServer` on `StreamServer`, one greenlet per connection | may_minihttp | one worker (+ timers) |
//! | [`Mode::HttpThreads`] | `std::net`, one OS thread per connection (`ThreadingHTTPServer`) | may_minihttp, the same `serve` | one per connection |
//! | [`Mode::HttpTokio`] | reference: hyper 1.x, tokio's current-thread runtime | hyper | one |
//!
//! Every build holds its clients to the same [`Options`] (mayfly-http's limits): the
//! connection and per-peer caps, the read (idle) and write timeouts, the request timeout,
//! the head size and header count (hyper: `header_read_timeout`, `max_buf_size`,
//! `max_headers`). Each answer counts one request in its [`ServerStats`](mayfly::server::ServerStats).
//!
//! ```
//! use std::io::{Read, Write};
//! use mayfly_servers::plaintext::{self, Mode, Options};
//! use mayfly_proto::builds::Serves;
//!
//! for mode in Serves::Http.builds() {
//!     let server = plaintext::start(mode, &Options::new("127.0.0.1:0")).unwrap();
//!     let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
//!     c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//!     let mut answer = String::new();
//!     c.read_to_string(&mut answer).unwrap();
//!     assert!(answer.ends_with("\r\n\r\nHello, World!"), "{mode}: {answer}");
//!     drop(c); // else a lingering close may still wait on it when the grace ends
//!     assert_eq!(server.stop(std::time::Duration::from_secs(1)), 0);
//! }
//! ```

mod coroutine;
mod hyper_rt;
mod routes;
mod threads;
mod timed_io;

use std::io;

use mayfly::server::Running;

pub use mayfly_proto::builds::Mode;
pub use routes::{answer, Answer, JSON_BODY, NOT_FOUND_BODY, PLAINTEXT_BODY, SERVER};

/// Default address: TechEmpower's port, loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The options of every HTTP build.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// Listen backlog.
    pub backlog: i32,
    /// The limits every build applies (caps, timeouts, head and header bounds).
    pub http: mayfly_http::Options,
    /// Stack size of each connection's thread (threads build).
    pub thread_stack: usize,
    /// Set SO_REUSEPORT so several processes share the port (`mayfly serve --workers N`).
    pub reuse_port: bool,
}

impl Options {
    /// Defaults for `addr`: mayfly-http's default limits.
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            backlog: crate::DEFAULT_BACKLOG,
            http: mayfly_http::Options::default(),
            thread_stack: 64 * 1024,
            reuse_port: false,
        }
    }
}

/// Binds and starts the chosen HTTP build (a [`Serves::Http`](mayfly_proto::builds::Serves)
/// row): one arm per build of the registry.
///
/// # Errors
/// `InvalidInput` for a build that does not serve HTTP; binding the address, or starting
/// the build's thread or runtime, failed.
pub fn start(mode: Mode, opts: &Options) -> io::Result<Box<dyn Running>> {
    match mode {
        Mode::HttpCoroutine => coroutine::start(opts),
        Mode::HttpThreads => threads::start(opts),
        Mode::HttpTokio => hyper_rt::start(opts),
        Mode::Coroutine
        | Mode::Threads
        | Mode::Epoll
        | Mode::Tokio
        | Mode::May
        | Mode::Blocking
        | Mode::Nonblocking
        | Mode::Select
        | Mode::EpollLt
        | Mode::EpollEt => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("echo build {mode} serves no HTTP"),
        )),
    }
}

/// A listening socket: SO_REUSEADDR, SO_REUSEPORT only if [`Options::reuse_port`], the
/// backlog (threads and tokio builds).
fn bind_std(opts: &Options) -> io::Result<std::net::TcpListener> {
    crate::listen::bind_std(&opts.addr, opts.backlog, opts.reuse_port)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use mayfly_proto::builds::Serves;

    use super::*;

    #[test]
    fn every_build_stops_once_and_a_second_stop_is_harmless() {
        for mode in Serves::Http.builds() {
            let server = start(mode, &Options::new("127.0.0.1:0")).unwrap();
            let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
            c.write_all(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut b = [0u8; 64];
            assert!(c.read(&mut b).unwrap() > 0, "{mode}");
            assert_eq!(server.stats().requests, 1, "{mode}");
            server.stop(Duration::from_millis(50));
            assert_eq!(server.stop(Duration::from_millis(50)), 0, "{mode}");
        }
    }

    #[test]
    fn echo_builds_are_refused() {
        let Err(e) = start(Mode::Epoll, &Options::new("127.0.0.1:0")) else {
            panic!("an echo build started as HTTP");
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
