//! The tokio reference build: tokio's current-thread runtime on one OS thread, one task per
//! connection, the same handler — what a Rust user would pick instead of mayfly. The read
//! buffer is the same 1 KiB ([`READ_BUF`]); read and write timeouts, the connection cap and
//! the counters are the same as the other builds'. Over TLS, tokio-rustls (ring).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mayfly::server::{Running, ServerStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Options, READ_BUF};
use crate::tokio_server::{self, Caps};

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = super::bind_std(opts)?;
    let caps = Caps {
        connections: opts.explicit_cap(),
        per_peer: None,
    };
    let tls = opts.tls.as_ref().map(|a| {
        (
            tokio_rustls::TlsAcceptor::from(a.config().clone()),
            a.timeout(),
        )
    });
    let (rt, wt) = (opts.read_timeout, opts.write_timeout);
    tokio_server::start(listener, "tokio-echo", caps, move |conn, stats, _| {
        let (s, tls) = (stats.clone(), tls.clone());
        async move {
            let outcome = match tls {
                None => talk(conn, &s, rt, wt).await,
                Some((acceptor, timeout)) => tls_talk(conn, &acceptor, timeout, &s, rt, wt).await,
            };
            s.conn_closed(&outcome);
        }
    })
}

/// The echo over TLS: tokio-rustls's handshake under the acceptor's timeout, counted as the
/// coroutine build counts it, then [`talk`]; a clean end sends close_notify.
async fn tls_talk(
    conn: TcpStream,
    acceptor: &tokio_rustls::TlsAcceptor,
    timeout: Duration,
    stats: &ServerStats,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
) -> io::Result<()> {
    use mayfly::server::{tls_failed_gauge, GAUGE_TLS_HANDSHAKES};
    use mayfly::tls::HandshakeFailure;
    use std::sync::atomic::Ordering;
    // The handshake's bytes are counted too, as mayfly's build counts them on the socket.
    let counted = CountedTcp {
        inner: conn,
        bytes: stats.bytes(),
    };
    let r = match tokio::time::timeout(timeout, acceptor.accept(counted)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    };
    let gauge = match &r {
        Ok(_) => GAUGE_TLS_HANDSHAKES,
        Err(e) => tls_failed_gauge(match e.kind() {
            io::ErrorKind::TimedOut => HandshakeFailure::Timeout,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => HandshakeFailure::Closed,
            io::ErrorKind::InvalidData => HandshakeFailure::Protocol,
            _ => HandshakeFailure::Io,
        }),
    };
    stats.gauge(gauge).fetch_add(1, Ordering::Relaxed);
    let mut tls = r?;
    talk_on(&mut tls, stats, None, read_timeout, write_timeout).await?;
    limit(write_timeout, tls.shutdown()).await
}

/// A tokio TCP stream that adds its bytes to a server's counters.
struct CountedTcp {
    inner: TcpStream,
    bytes: Arc<mayfly::net::ByteCounters>,
}

impl tokio::io::AsyncRead for CountedTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.bytes.add_read(n as u64);
        r
    }
}

impl tokio::io::AsyncWrite for CountedTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.bytes.add_written(*n as u64);
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The course's communication loop as a tokio task: recv → uppercase → sendall.
async fn talk(
    mut conn: TcpStream,
    stats: &ServerStats,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
) -> io::Result<()> {
    let bytes = stats.bytes();
    talk_on(&mut conn, stats, Some(&bytes), read_timeout, write_timeout).await
}

/// The loop on any stream; `bytes`: where to count the application bytes (`None`: the
/// stream counts its own, as the TLS one does on the wire).
async fn talk_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    conn: &mut S,
    stats: &ServerStats,
    bytes: Option<&mayfly::net::ByteCounters>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
) -> io::Result<()> {
    let mut buf = [0u8; READ_BUF];
    loop {
        let n = limit(read_timeout, conn.read(&mut buf)).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(b) = bytes {
            b.add_read(n as u64);
        }
        super::uppercase(&mut buf[..n]);
        limit(write_timeout, conn.write_all(&buf[..n])).await?;
        // TLS buffers records until a flush (a no-op on a plain TcpStream).
        limit(write_timeout, conn.flush()).await?;
        if let Some(b) = bytes {
            b.add_written(n as u64);
        }
        stats.requests(1);
    }
}

/// `fut` with an optional time limit; past it, a `TimedOut` error like a socket timeout's.
async fn limit<T>(
    t: Option<Duration>,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match t {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))?,
        None => fut.await,
    }
}
