//! Unix-domain stream sockets, with the same parking and timeout rules as TCP.

use std::io::{self, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;

use super::stream::StreamState;

/// A Unix-domain listening socket.
///
/// ```
/// use std::io::{Read, Write};
/// let dir = std::env::temp_dir().join(format!("mayfly-doc-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// mayfly::run(move || {
///     let l = mayfly::net::UnixListener::bind(&dir).unwrap();
///     let p = dir.clone();
///     let g = mayfly::spawn(move || {
///         let mut c = mayfly::net::UnixStream::connect(&p).unwrap();
///         c.write_all(b"hi").unwrap();
///     });
///     let mut s = l.accept().unwrap();
///     assert_eq!(&s.recv_exact(2).unwrap()[..], b"hi");
///     g.join(None);
///     let _ = std::fs::remove_file(&dir);
/// });
/// ```
#[derive(Debug)]
pub struct UnixListener {
    inner: may::os::unix::net::UnixListener,
}

impl UnixListener {
    /// Binds to a filesystem path.
    ///
    /// # Errors
    /// The error of `bind(2)`/`listen(2)` (`AddrInUse` if the path exists).
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`crate::hub::ensure_started`]).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        crate::start::ensure_started();
        Ok(UnixListener {
            inner: may::os::unix::net::UnixListener::bind(path)?,
        })
    }

    /// Waits for a connection, parking the greenlet.
    ///
    /// # Errors
    /// The error of `accept(2)`.
    pub fn accept(&self) -> io::Result<UnixStream> {
        let r = self.inner.accept();
        crate::worker::hop_to_worker();
        Ok(UnixStream {
            inner: r?.0,
            st: StreamState::new(),
        })
    }

    /// The path it is bound to (gevent's `getsockname()`).
    ///
    /// # Errors
    /// The OS error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Another handle to the same listening socket (a `dup(2)`).
    ///
    /// # Errors
    /// The OS error of the `dup`.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: self.inner.try_clone()?,
        })
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// A Unix-domain stream connection.
#[derive(Debug)]
pub struct UnixStream {
    inner: may::os::unix::net::UnixStream,
    st: StreamState,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// The error of `connect(2)` (`NotFound`, `ConnectionRefused`, …).
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`crate::hub::ensure_started`]).
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        crate::start::ensure_started();
        let inner = may::os::unix::net::UnixStream::connect(path)?;
        crate::worker::hop_to_worker();
        Ok(UnixStream {
            inner,
            st: StreamState::new(),
        })
    }

    /// A connected pair.
    ///
    /// # Errors
    /// The error of `socketpair(2)`.
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`crate::hub::ensure_started`]).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        crate::start::ensure_started();
        let (a, b) = may::os::unix::net::UnixStream::pair()?;
        Ok((
            UnixStream {
                inner: a,
                st: StreamState::new(),
            },
            UnixStream {
                inner: b,
                st: StreamState::new(),
            },
        ))
    }

    /// Reads at most `n` bytes; empty means closed.
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn recv(&mut self, n: usize) -> io::Result<Bytes> {
        super::stream::recv_bytes(self, n)
    }

    /// Reads exactly `n` bytes.
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    /// `UnexpectedEof` if the peer closes before `n` bytes came.
    pub fn recv_exact(&mut self, n: usize) -> io::Result<Bytes> {
        super::stream::recv_exact_bytes(self, n)
    }

    /// Writes all of `data`.
    ///
    /// # Errors
    /// The write error; `TimedOut` after the socket's write timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn sendall(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }

    /// Shuts down one or both directions.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Another handle to the same connection (a `dup(2)`), e.g. one greenlet reading while
    /// another writes, as on [`TcpStream::try_clone`](super::TcpStream::try_clone).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// mayfly::run(|| {
    ///     let (a, mut b) = mayfly::net::UnixStream::pair().unwrap();
    ///     let mut writer = a.try_clone().unwrap();
    ///     let g = mayfly::spawn(move || writer.write_all(b"via the clone"));
    ///     let mut got = [0u8; 13];
    ///     b.read_exact(&mut got).unwrap();
    ///     assert_eq!(&got, b"via the clone");
    ///     g.into_result().unwrap().unwrap();
    ///     drop(a);
    /// });
    /// ```
    ///
    /// # Errors
    /// The OS error of the `dup`.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.try_clone()?,
            st: self.st.for_clone(),
        })
    }

    /// This end's address (unnamed for a [`pair`](UnixStream::pair) or a client).
    ///
    /// # Errors
    /// The OS error of `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address (the listener's path, for a client; gevent's `getpeername()`).
    ///
    /// # Errors
    /// The OS error of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

super::stream_io::timed_stream_io!(UnixStream);

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
