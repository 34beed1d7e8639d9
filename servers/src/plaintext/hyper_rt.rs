//! The tokio HTTP reference build: hyper 1.x (`http1`, one task per connection) on tokio's
//! current-thread runtime — the server a Rust user would pick instead of mayfly-http. The
//! same answers, header for header ([`super::routes`]); the same limits where hyper has
//! them: the connection and per-peer caps, read and write timeouts ([`TimedIo`]), the
//! request-head timeout, head size and header count.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use mayfly::server::{AcceptBackoff, PeerLimit, Running, ServerStats};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::routes::{answer, Answer, SERVER as SERVER_NAME};
use super::timed_io::TimedIo;
use super::Options;

struct RunningHyper {
    addr: SocketAddr,
    /// Sending the grace period stops the server; the thread returns how many it closed.
    stop: watch::Sender<Option<Duration>>,
    /// The runtime's thread until the first stop takes it (a second stop finds `None`).
    thread: Mutex<Option<JoinHandle<u64>>>,
    stats: Arc<ServerStats>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = super::bind_std(opts)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let (stop, stop_rx) = watch::channel(None);
    let (s, o) = (stats.clone(), opts.clone());
    let thread = std::thread::Builder::new()
        .name("hyper".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Ok::<u64, io::Error>(serve(listener, s, o, stop_rx).await)
            })
            .unwrap_or_else(|e| {
                log::error!(error:% = e; "hyper: {e}");
                0
            })
        })?;
    Ok(Box::new(RunningHyper {
        addr,
        stop,
        thread: Mutex::new(Some(thread)),
        stats,
    }))
}

async fn serve(
    listener: tokio::net::TcpListener,
    stats: Arc<ServerStats>,
    opts: Options,
    mut stop: watch::Receiver<Option<Duration>>,
) -> u64 {
    let mut backoff = AcceptBackoff::on("hyper: accept", listener.local_addr());
    let cap = opts
        .http
        .connection_cap()
        .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS as u64) as usize)));
    let peers = opts.http.peer_cap().map(|n| Arc::new(PeerLimit::new(n)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .title_case_headers(true)
        .auto_date_header(false)
        .header_read_timeout(opts.http.request_timeout)
        .max_headers(opts.http.max_headers)
        .max_buf_size(opts.http.max_head_bytes.max(8192));
    let mut tasks = JoinSet::new();
    loop {
        let permit = match &cap {
            Some(cap) => tokio::select! {
                _ = stop.changed() => break,
                p = cap.clone().acquire_owned() => Some(p.expect("never closed")),
            },
            None => None,
        };
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            r = listener.accept() => r,
        };
        let (conn, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                stats.accept_error();
                if let Some(pause) = backoff.failed(&e) {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        backoff.succeeded();
        let slot = match &peers {
            Some(p) => match p.admit(peer.ip()) {
                Some(slot) => Some(slot),
                None => continue, // over its peer's cap: closed at once
            },
            None => None,
        };
        let _ = conn.set_nodelay(true);
        stats.conn_opened();
        let io = TimedIo::new(
            conn,
            stats.bytes(),
            opts.http.read_timeout,
            opts.http.write_timeout,
        );
        let s = stats.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            s.requests(1);
            let a = answer(req.method().as_str(), req.uri().path());
            let close = asks_close(&req);
            async move { Ok::<_, Infallible>(response(a, close)) }
        });
        let conn = http.serve_connection(TokioIo::new(io), service);
        let (s, mut stop) = (stats.clone(), stop.clone());
        tasks.spawn(async move {
            let _held = (permit, slot);
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
        });
    }
    drop(listener);
    let grace = (*stop.borrow()).unwrap_or_default();
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    let left = tasks.len() as u64;
    tasks.shutdown().await;
    for _ in 0..left {
        // Aborted handlers never reached their own `conn_closed`.
        stats.conn_closed(&Ok(()));
    }
    stats.killed(left);
    left
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

impl Running for RunningHyper {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = thread.take() else {
            return 0;
        };
        let _ = self.stop.send(Some(grace));
        t.join().unwrap_or_default()
    }
}
