//! mayfly-http: HTTP/1.1 on mayfly's greenlets — gevent.pywsgi's role. A handler gets each
//! [`Request`] (method, path, query, headers, body) and fills a [`Response`] (status,
//! headers, body); every connection is one greenlet on mayfly's
//! [`StreamServer`](mayfly::server::StreamServer), so the server has its connection and
//! per-peer caps, accept back-off, graceful stop and counters. The protocol is
//! may_minihttp's loop (patched in `vendor/may_minihttp`): keep-alive and pipelining, every
//! input bounded ([`Options`]).
//!
//! | gevent.pywsgi | mayfly-http |
//! |---|---|
//! | `WSGIServer(('', 8080), app)` | [`HttpServer::bind`]`("0.0.0.0:8080", handler)` |
//! | `server.serve_forever()` | [`HttpServer::serve_forever`] |
//! | `server.start()` / `server.stop(timeout)` | [`HttpServer::start`] → `RunningServer`; `.stop(grace)` |
//! | `def app(environ, start_response)` | `Fn(&Request, &mut Response) -> io::Result<()>` |
//! | `environ['REQUEST_METHOD']`, `PATH_INFO`, `QUERY_STRING` | [`Request::method`], [`Request::path`], [`Request::query`] |
//! | `environ['HTTP_X_NAME']` | [`Request::header`]`("X-Name")`, [`Request::headers`] |
//! | `environ['wsgi.input'].read()` | [`Request::body`] (the whole body, at most [`Options::max_body_bytes`]) |
//! | `start_response('404 Not Found', headers)` | [`Response::status`]`(404)`, [`Response::header`] |
//! | `return [b'body']` | [`Response::body`], or `write!` (it is `io::Write`) |
//! | an exception in the app → 500 | an `Err` or a panic → 500, the server goes on |
//! | `WSGIServer(..., spawn=Pool(n))` | [`Options::max_connections`], [`Options::max_per_peer`] |
//! | `MAX_REQUEST_LINE` (8192) | [`Options::max_head_bytes`], [`Options::max_headers`] (431) |
//! | `Transfer-Encoding: chunked` input decoded | not decoded: 501 (both it and `Content-Length`: 400) |
//! | `WSGIServer(..., ssl_context=ctx)` (HTTPS) | [`HttpServer::tls`]`(acceptor)`: the handshake in each connection's greenlet, the same loop and limits after it |
//!
//! What each bad input gets: a head over [`Options::max_head_bytes`] or with more than
//! [`Options::max_headers`] headers, 431; a body over [`Options::max_body_bytes`], 413 (before
//! it is read; `Expect: 100-continue` is answered with 100 only for a body that fits); a bad
//! `Content-Length`, two different ones, or one beside `Transfer-Encoding`, 400 (no request
//! smuggling); a target that is not UTF-8 or any other malformed head, 400; a chunked body,
//! 501; a request not all in within [`Options::request_timeout`] (slowloris), 408. Each of
//! those closes the connection, after a lingering read of at most [`Options::linger`] so
//! the client sees the answer (as does every close after `Connection: close`). A client
//! idle past [`Options::read_timeout`] (a new one: past
//! [`Options::first_request_timeout`]) or not reading past [`Options::write_timeout`] is
//! cut off; a peer over [`Options::max_per_peer`] gets 503 at once; [`Options::max_rps`]
//! caps the requests per second the whole server answers ([`RateLimit`]). HTTP/1.0 closes after each answer unless the client
//! asked for `Connection: keep-alive`; `Connection: close` closes.
//!
//! Hello world:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use mayfly_http::HttpServer;
//!
//! let server = HttpServer::bind("127.0.0.1:0", |_req, rsp| {
//!     rsp.header("Content-Type", "text/plain").body("Hello, World!");
//!     Ok(())
//! })
//! .unwrap()
//! .start();
//! # let answer = get(server.local_addr(), "GET / HTTP/1.0\r\n\r\n");
//! # assert!(answer.ends_with("Hello, World!"));
//! server.stop(Duration::from_secs(1));
//! # fn get(addr: std::net::SocketAddr, req: &str) -> String {
//! #     let mut c = std::net::TcpStream::connect(addr).unwrap();
//! #     c.write_all(req.as_bytes()).unwrap();
//! #     let mut s = String::new();
//! #     c.read_to_string(&mut s).unwrap();
//! #     s
//! # }
//! ```
//!
//! JSON, with routes by method and path:
//!
//! ```
//! # use std::io::{Read, Write};
//! use mayfly_http::HttpServer;
//!
//! let server = HttpServer::bind("127.0.0.1:0", |req, rsp| {
//!     match (req.method(), req.path()) {
//!         ("GET", "/json") => {
//!             rsp.header("Content-Type", "application/json");
//!             serde_json::to_writer(rsp, &serde_json::json!({"message": "Hello, World!"}))?;
//!         }
//!         _ => {
//!             rsp.status(404).body("not found\n");
//!         }
//!     }
//!     Ok(())
//! })
//! .unwrap()
//! .start();
//! # let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
//! # c.write_all(b"GET /json HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
//! # let mut s = String::new();
//! # c.read_to_string(&mut s).unwrap();
//! # assert!(s.ends_with(r#"{"message":"Hello, World!"}"#), "{s}");
//! # server.stop(std::time::Duration::from_secs(1));
//! ```
//!
//! A form POST (`application/x-www-form-urlencoded`; the body arrives whole):
//!
//! ```
//! # use std::io::{Read, Write};
//! use mayfly_http::HttpServer;
//!
//! let server = HttpServer::bind("127.0.0.1:0", |req, rsp| {
//!     if req.method() != "POST" {
//!         rsp.status(405).header("Allow", "POST");
//!         return Ok(());
//!     }
//!     let form = String::from_utf8_lossy(req.body());
//!     let name = form
//!         .split('&')
//!         .find_map(|kv| kv.strip_prefix("name="))
//!         .unwrap_or("nobody");
//!     write!(rsp, "thanks, {name}")
//! })
//! .unwrap()
//! .start();
//! # let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
//! # c.write_all(b"POST /f HTTP/1.1\r\nContent-Length: 13\r\nConnection: close\r\n\r\nname=ann&x=1\n").unwrap();
//! # let mut s = String::new();
//! # c.read_to_string(&mut s).unwrap();
//! # assert!(s.ends_with("thanks, ann"), "{s}");
//! # server.stop(std::time::Duration::from_secs(1));
//! ```
//!
//! Serving a file: the handler copies it into the body (a blocking file read; for large
//! files use [`mayfly::threadpool`] so the worker does not wait on the disk). Bodies larger
//! than [`Options::max_output_bytes`] are written straight from the response, not copied.
//!
//! ```
//! # use std::io::{Read, Write};
//! use mayfly_http::HttpServer;
//!
//! let dir = std::env::temp_dir().join(format!("mayfly-http-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("a.txt"), b"file contents\n").unwrap();
//! let root = dir.clone();
//! let server = HttpServer::bind("127.0.0.1:0", move |req, rsp| {
//!     let name = req.path().trim_start_matches('/');
//!     if name.is_empty() || name.contains('/') || name.starts_with('.') {
//!         rsp.status(404);
//!         return Ok(());
//!     }
//!     match std::fs::File::open(root.join(name)) {
//!         Ok(mut f) => {
//!             rsp.header("Content-Type", "application/octet-stream");
//!             std::io::copy(&mut f, rsp)?;
//!         }
//!         Err(_) => {
//!             rsp.status(404);
//!         }
//!     }
//!     Ok(())
//! })
//! .unwrap()
//! .start();
//! # let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
//! # c.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").unwrap();
//! # let mut s = String::new();
//! # c.read_to_string(&mut s).unwrap();
//! # assert!(s.ends_with("\r\n\r\nfile contents\n"), "{s}");
//! # server.stop(std::time::Duration::from_secs(1));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod first_request;
mod linger;
mod options;
mod rate;
mod server;
mod service;
mod stream;

pub use may_minihttp::{reason, Request, Response};
pub use options::{
    Options, DEFAULT_FIRST_REQUEST_TIMEOUT, DEFAULT_LINGER, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_RPS,
    DEFAULT_READ_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TOO_MANY_HEADERS_STATUS,
    DEFAULT_WRITE_TIMEOUT,
};
pub use rate::RateLimit;
pub use server::HttpServer;
pub use service::Handler;
