//! The tokio HTTP reference build: hyper 1.x (`http1`, one task per connection) on tokio's
//! current-thread runtime — the server a Rust user would pick instead of mayfly-http. The
//! same answers, header for header ([`super::routes`]); the same limits where hyper has
//! them: the connection and per-peer caps, read and write timeouts ([`TimedIo`]), the
//! request-head timeout, head size and header count.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use mayfly::server::Running;

use super::routes::{answer, Answer, SERVER as SERVER_NAME};
use super::timed_io::TimedIo;
use super::Options;
use crate::tokio_server::{self, Caps};

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = super::bind_std(opts)?;
    let caps = Caps {
        connections: opts.http.connection_cap(),
        per_peer: opts.http.peer_cap(),
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .title_case_headers(true)
        .auto_date_header(false)
        .header_read_timeout(opts.http.request_timeout)
        .max_headers(opts.http.max_headers)
        .max_buf_size(opts.http.max_head_bytes.max(8192));
    let (rt, wt) = (opts.http.read_timeout, opts.http.write_timeout);
    tokio_server::start(listener, "hyper", caps, move |conn, stats, stop| {
        let _ = conn.set_nodelay(true);
        let io = TimedIo::new(conn, stats.bytes(), rt, wt);
        let s = stats.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            s.requests(1);
            let a = answer(req.method().as_str(), req.uri().path());
            let close = asks_close(&req);
            async move { Ok::<_, Infallible>(response(a, close)) }
        });
        let conn = http.serve_connection(TokioIo::new(io), service);
        let (s, mut stop) = (stats.clone(), stop.clone());
        async move {
            tokio::pin!(conn);
            let outcome = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    // Stopping: finish the request in flight, then close (idle ones at once).
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            s.conn_closed(&outcome.map_err(io::Error::other));
        }
    })
}

/// Whether the request says `Connection: close`.
fn asks_close<B>(req: &Request<B>) -> bool {
    req.headers().get_all(CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    })
}

/// `a` as hyper sends it: `Server`, `Date`, `Content-Length`, `Connection: close` (when the
/// client asked), `Content-Type`, in the order may_minihttp writes them (title-cased by the
/// connection's builder).
fn response(a: Answer, close: bool) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(a.body)));
    *rsp.status_mut() =
        hyper::StatusCode::from_u16(a.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = rsp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    h.insert(DATE, date());
    h.insert(CONTENT_LENGTH, HeaderValue::from(a.body.len()));
    if close {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    rsp
}

thread_local! {
    /// The `Date` value, formatted once a second (the runtime has one thread).
    static DATE_CACHE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// Now, as an IMF-fixdate `Date` value.
fn date() -> HeaderValue {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let formatted = httpdate::fmt_http_date(now);
            c.1 = HeaderValue::from_str(&formatted).unwrap_or(HeaderValue::from_static(""));
            c.0 = secs;
        }
        c.1.clone()
    })
}
