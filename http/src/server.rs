//! [`HttpServer`]: a [`StreamServer`] whose connection handler is may_minihttp's loop over a
//! request handler, with the server's [`Options`].

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::TcpListener;
use mayfly::server::{Cap, RunningServer, ServerStats, StreamServer};

use crate::first_request::FirstRequest;
use crate::linger::linger;
use crate::options::Options;
use crate::rate::RateLimit;
use crate::service::{Handler, Service};
use crate::stream::ConnStream;
use may_minihttp::{Request, Response};

/// What a connection over its peer's cap is told, in the accept loop, before it is closed.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 24\r\nRetry-After: 1\r\nConnection: close\r\n\r\n503 Service Unavailable\n";

/// An HTTP/1.1 server: one greenlet per connection on mayfly's [`StreamServer`], so it has
/// its connection and per-peer caps (a peer over its cap is answered 503 at once), accept
/// back-off, graceful stop and [`ServerStats`] (every answered request is counted in
/// `requests`).
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
///
/// let server = mayfly_http::HttpServer::bind("127.0.0.1:0", |req, rsp| {
///     rsp.header("Content-Type", "text/plain");
///     write!(rsp, "Hello, {}!", req.query())
/// })
/// .unwrap()
/// .start();
///
/// let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// c.write_all(b"GET /?World HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
/// let mut answer = String::new();
/// c.read_to_string(&mut answer).unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(answer.ends_with("\r\n\r\nHello, World!"));
/// server.stop(Duration::from_secs(1));
/// assert_eq!(server.stats().requests, 1);
/// ```
pub struct HttpServer {
    listener: TcpListener,
    handler: Arc<Handler>,
    options: Options,
    counters: Option<Arc<ServerStats>>,
    tls: Option<mayfly::tls::TlsAcceptor>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// A server on an already-bound listener, with default [`Options`].
    pub fn new<F>(listener: TcpListener, handler: F) -> Self
    where
        F: Fn(&Request<'_>, &mut Response) -> io::Result<()> + Send + Sync + 'static,
    {
        HttpServer {
            listener,
            handler: Arc::new(handler),
            options: Options::default(),
            counters: None,
            tls: None,
        }
    }

    /// Binds `addr` (SO_REUSEADDR, see [`mayfly::net::Bind`]) and makes a server.
    ///
    /// # Errors
    /// As [`mayfly::net::Bind::tcp`] (`AddrInUse` for a port in use).
    pub fn bind<F>(addr: impl ToSocketAddrs, handler: F) -> io::Result<Self>
    where
        F: Fn(&Request<'_>, &mut Response) -> io::Result<()> + Send + Sync + 'static,
    {
        Ok(Self::new(TcpListener::bind(addr)?, handler))
    }

    /// Replaces the options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Serves HTTPS: each connection's TLS handshake runs in its greenlet
    /// ([`StreamServer::new_tls`]: counted in the server's stats, bounded by the acceptor's
    /// handshake timeout), then the same HTTP loop with the same limits. A peer over its
    /// cap still gets the plaintext 503 before the close (the handshake would cost more).
    pub fn tls(mut self, acceptor: mayfly::tls::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Records into `counters` instead of fresh ones (to share them with a stats page).
    pub fn with_counters(mut self, counters: Arc<ServerStats>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts accepting in a greenlet and returns at once. The handle implements
    /// [`mayfly::server::Running`]: address, counters, graceful `stop`.
    ///
    /// # Panics
    /// If the accept greenlet cannot be spawned (no stack).
    pub fn start(self) -> RunningServer {
        self.stream_server().start()
    }

    /// Starts and serves until the server is stopped (see
    /// [`StreamServer::serve_forever`]).
    ///
    /// # Errors
    /// As [`StreamServer::serve_forever`]: the accept greenlet could not be spawned.
    pub fn serve_forever(self) -> std::io::Result<()> {
        self.stream_server().serve_forever()
    }

    fn stream_server(self) -> StreamServer {
        let stats = self.counters.unwrap_or_default();
        let limits = Arc::new(self.options.limits());
        let handler = self.handler;
        let counters = stats.clone();
        let o = self.options;
        let conn = Arc::new(ConnOptions {
            first_request_timeout: o.first_read_timeout(),
            read_timeout: o.read_timeout,
            linger: o.linger,
            rate: o.max_rps.map(|r| Arc::new(RateLimit::new(r))),
        });
        let server = match self.tls {
            None => StreamServer::new(self.listener, move |stream, _peer| {
                serve_connection(stream, &handler, &counters, &limits, &conn)
            }),
            Some(acceptor) => StreamServer::new_tls(self.listener, acceptor, move |stream, _| {
                serve_connection(stream, &handler, &counters, &limits, &conn)
            }),
        };
        server
            .with_counters(stats)
            // The shortest read timeout: the server's sweep ticks by it.
            .read_timeout(o.first_read_timeout())
            .write_timeout(o.write_timeout)
            .max_connections(Cap::from_limit(o.connection_cap()))
            .max_per_peer(Cap::from_limit(o.peer_cap()))
            .refuse_with(BUSY)
    }
}

/// What each connection needs of the [`Options`] besides may_minihttp's limits.
struct ConnOptions {
    first_request_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    linger: Duration,
    rate: Option<Arc<RateLimit>>,
}

/// One connection: may_minihttp's loop (the first request under its own timeout), then a
/// lingering close after the last answer when the server closes (a refusal, or as asked).
fn serve_connection(
    mut stream: impl ConnStream,
    handler: &Arc<Handler>,
    stats: &Arc<ServerStats>,
    limits: &may_minihttp::Limits,
    conn: &ConnOptions,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let arrived = Rc::new(Cell::new(false));
    let mut service = Service {
        handler: handler.clone(),
        stats: stats.clone(),
        rate: conn.rate.clone(),
        arrived: arrived.clone(),
    };
    let r = {
        let mut first = FirstRequest::new(
            &mut stream,
            conn.first_request_timeout,
            conn.read_timeout,
            arrived,
        );
        may_minihttp::serve(&mut first, &mut service, limits)
    };
    match &r {
        Ok(()) => linger(&mut stream, conn.linger),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => linger(&mut stream, conn.linger),
        Err(_) => {}
    }
    r
}
