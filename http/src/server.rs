//! [`HttpServer`]: a [`StreamServer`] whose connection handler is may_minihttp's loop over a
//! request handler, with the server's [`Options`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use mayfly::net::{TcpListener, TcpStream};
use mayfly::server::{Cap, RunningServer, ServerStats, StreamServer};

use crate::linger::linger;
use crate::options::Options;
use crate::service::{Handler, Service};
use may_minihttp::{Request, Response};

/// An HTTP/1.1 server: one greenlet per connection on mayfly's [`StreamServer`], so it has
/// its connection and per-peer caps, accept back-off, graceful stop and
/// [`ServerStats`] (every answered request is counted in `requests`).
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
    /// # Panics
    /// As [`start`](HttpServer::start).
    pub fn serve_forever(self) {
        self.stream_server().serve_forever();
    }

    fn stream_server(self) -> StreamServer {
        let stats = self.counters.unwrap_or_default();
        let limits = Arc::new(self.options.limits());
        let handler = self.handler;
        let counters = stats.clone();
        let o = self.options;
        StreamServer::new(self.listener, move |stream, _peer| {
            serve_connection(stream, &handler, &counters, &limits)
        })
        .with_counters(stats)
        .read_timeout(o.read_timeout)
        .write_timeout(o.write_timeout)
        .max_connections(Cap::from_limit(o.connection_cap()))
        .max_per_peer(Cap::from_limit(o.peer_cap()))
    }
}

/// One connection: may_minihttp's loop, then a lingering close after a refusal.
fn serve_connection(
    mut stream: TcpStream,
    handler: &Arc<Handler>,
    stats: &Arc<ServerStats>,
    limits: &may_minihttp::Limits,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut service = Service {
        handler: handler.clone(),
        stats: stats.clone(),
    };
    let r = may_minihttp::serve(&mut stream, &mut service, limits);
    if matches!(&r, Err(e) if e.kind() == io::ErrorKind::InvalidData) {
        linger(&mut stream);
    }
    r
}
