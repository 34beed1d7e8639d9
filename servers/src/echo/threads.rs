//! The threads build: `std::net`, one OS thread per connection — Python's
//! `socketserver.ThreadingTCPServer`, the model the coroutine build is compared against.
//! Over TLS, rustls's blocking `StreamOwned` on each connection's thread.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mayfly::server::{AcceptBackoff, PeerLimit, Running, ServerStats};

use super::registry::Connections;
use super::{Counted, Options};

struct Shared {
    stop: AtomicBool,
    /// A second handle to every open connection, so shutdown can close the stragglers.
    conns: Connections,
    spawn_errors: AtomicU64,
    stats: Arc<ServerStats>,
}

struct RunningThreads {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    /// The accept thread until the first stop takes it (a second stop finds `None`).
    accept: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = Arc::new(super::bind_std(opts)?);
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        conns: Connections::new(),
        spawn_errors: AtomicU64::new(0),
        stats: Arc::new(ServerStats::new()),
    });
    let (l, s, o) = (listener.clone(), shared.clone(), opts.clone());
    let accept = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept_loop(&l, &s, &o))?;
    Ok(Box::new(RunningThreads {
        addr,
        listener,
        accept: Mutex::new(Some(accept)),
        shared,
    }))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut backoff = AcceptBackoff::on("threads: accept", listener.local_addr());
    let max_connections = opts.connection_cap();
    let peers = opts.peer_cap().map(|n| Arc::new(PeerLimit::new(n)));
    loop {
        if let Some(max) = max_connections {
            while shared.stats.active() >= max && !shared.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let (conn, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                shared.stats.accept_error();
                if let Some(pause) = backoff.failed(&e) {
                    std::thread::sleep(pause);
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
        let _ = conn.set_read_timeout(opts.read_timeout);
        let _ = conn.set_write_timeout(opts.write_timeout);
        let id = shared.conns.insert(conn.as_raw_fd());
        shared.stats.conn_opened();
        let s = shared.clone();
        let tls = opts.tls.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(opts.thread_stack)
            .spawn(move || {
                let _slot = slot;
                let bytes = s.stats.bytes();
                let conn = Counted::new(conn, &bytes);
                let outcome = match &tls {
                    None => {
                        let mut conn = conn;
                        super::echo_until_closed(&mut conn, &s.stats)
                    }
                    Some(acc) => tls_echo(conn, acc, &s.stats),
                };
                s.conns.remove(id); // before `conn` closes at the end of this closure
                s.stats.conn_closed(&outcome);
            });
        if let Err(e) = spawned {
            // Out of threads (EAGAIN) or memory: this client is dropped, the server lives.
            // The closure (and the socket) is gone; nothing can drain concurrently: the
            // registry is drained only after this loop has stopped.
            shared.conns.remove(id);
            shared
                .stats
                .conn_closed(&Err(io::Error::other("no thread")));
            if shared.spawn_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                log::warn!(error:% = e; "threads: cannot start a thread per connection: {e}");
            }
            std::thread::sleep(backoff.pause());
        }
    }
}

/// The echo over TLS on this thread: rustls's blocking `StreamOwned`. The handshake runs
/// first, under the acceptor's handshake timeout (as the socket's timeouts, restored after),
/// and is counted as the coroutine build counts it; a clean end sends close_notify.
fn tls_echo(
    mut sock: Counted<'_, std::net::TcpStream>,
    acc: &mayfly::tls::TlsAcceptor,
    stats: &ServerStats,
) -> io::Result<()> {
    use mayfly::server::{tls_failed_gauge, GAUGE_TLS_HANDSHAKES};
    use mayfly::tls::HandshakeFailure;
    let mut conn = rustls::ServerConnection::new(acc.config().clone()).map_err(io::Error::other)?;
    let (rt, wt) = (
        sock.get_ref().read_timeout()?,
        sock.get_ref().write_timeout()?,
    );
    let deadline = std::time::Instant::now() + acc.timeout();
    let mut handshake = || -> io::Result<()> {
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            sock.get_ref().set_read_timeout(Some(left))?;
            sock.get_ref().set_write_timeout(Some(left))?;
            if conn.complete_io(&mut sock)? == (0, 0) {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    };
    let r = handshake();
    let gauge = match &r {
        Ok(()) => GAUGE_TLS_HANDSHAKES,
        Err(e) => tls_failed_gauge(match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HandshakeFailure::Timeout,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => HandshakeFailure::Closed,
            io::ErrorKind::InvalidData => HandshakeFailure::Protocol,
            _ => HandshakeFailure::Io,
        }),
    };
    stats.gauge(gauge).fetch_add(1, Ordering::Relaxed);
    r?;
    sock.get_ref().set_read_timeout(rt)?;
    sock.get_ref().set_write_timeout(wt)?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    super::echo_until_closed(&mut tls, stats)?;
    tls.conn.send_close_notify();
    tls.conn.complete_io(&mut tls.sock).map(|_| ())
}

impl Running for RunningThreads {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut accept = self.accept.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = accept.take() else {
            return 0;
        };
        self.shared.stop.store(true, Ordering::Release);
        // SAFETY: shutdown(2) on our own open listening fd; it wakes the blocked accept
        // (which then fails with EINVAL) and closes nothing.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = h.join();
        self.shared.conns.drain(&self.shared.stats, grace)
    }
}
