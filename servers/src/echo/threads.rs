//! The threads build: `std::net`, one OS thread per connection — Python's
//! `socketserver.ThreadingTCPServer`, the model the coroutine build is compared against.
//! Over TLS, rustls's blocking `StreamOwned` on each connection's thread.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mayfly::server::{Running, ServerStats};

use crate::blocking_accept::{self, Accepting, Order, Shared};

use super::{Counted, Options};

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = super::bind_std(opts)?;
    let addr = listener.local_addr()?;
    let o = opts.clone();
    blocking_accept::start(listener, addr, Order::JoinThenDrain, move |l, s| {
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(&l, &s, &o))
    })
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut accepting =
        Accepting::new(shared, "threads", listener.local_addr(), std::thread::sleep)
            .capped(opts.connection_cap(), opts.peer_cap());
    while let Some((conn, slot)) = accepting.next(|| listener.accept()) {
        let _ = conn.set_read_timeout(opts.read_timeout);
        let _ = conn.set_write_timeout(opts.write_timeout);
        let id = shared.opened(conn.as_raw_fd());
        let s = shared.clone();
        let tls = opts.tls.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(opts.thread_stack)
            .spawn(move || {
                let bytes = s.stats.bytes();
                let conn = Counted::new(conn, &bytes);
                let outcome = match &tls {
                    None => {
                        let mut conn = conn;
                        super::echo_until_closed(&mut conn, &s.stats)
                    }
                    Some(acc) => tls_echo(conn, acc, &s.stats),
                };
                // The peer's slot first: the accept loop resumes once `closed` counts this
                // connection gone, and its peer's next client must find the slot free.
                drop(slot);
                s.closed(id, &outcome); // before `conn` closes at the end of this closure
            });
        if let Err(e) = spawned {
            accepting.spawn_failed(id, "thread", &e);
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
