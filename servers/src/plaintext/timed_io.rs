//! [`TimedIo`]: a tokio stream whose reads and writes give up after a time without
//! progress, and whose bytes are added to a server's counters — what the other builds get
//! from their sockets (swept read and write timeouts, `ByteCounters`), for hyper.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use mayfly::net::ByteCounters;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

/// A stream with a read and a write timeout (each: the longest wait without progress).
pub(crate) struct TimedIo<S> {
    inner: S,
    bytes: Arc<ByteCounters>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Armed when a read waits, disarmed when one makes progress.
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> TimedIo<S> {
    pub(crate) fn new(
        inner: S,
        bytes: Arc<ByteCounters>,
        read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> Self {
        TimedIo {
            inner,
            bytes,
            read_timeout,
            write_timeout,
            read_deadline: None,
            write_deadline: None,
        }
    }
}

/// A pending operation: arms `deadline` (once per wait) and fails with `TimedOut` past it.
fn check(
    deadline: &mut Option<Pin<Box<Sleep>>>,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<io::Error> {
    let Some(t) = timeout else {
        return Poll::Pending;
    };
    let d = deadline.get_or_insert_with(|| Box::pin(sleep(t)));
    match d.as_mut().poll(cx) {
        Poll::Ready(()) => {
            *deadline = None;
            Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        }
        Poll::Pending => Poll::Pending,
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read_deadline = None;
                this.bytes.add_read((buf.filled().len() - before) as u64);
                Poll::Ready(r)
            }
            Poll::Pending => check(&mut this.read_deadline, this.read_timeout, cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.write_deadline = None;
                if let Ok(n) = r {
                    this.bytes.add_written(n as u64);
                }
                Poll::Ready(r)
            }
            Poll::Pending => check(&mut this.write_deadline, this.write_timeout, cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
