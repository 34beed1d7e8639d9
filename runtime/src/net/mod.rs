//! Coroutine sockets: `TcpListener`, `TcpStream`, `UdpSocket`, `UnixStream`, `UnixListener`.
//!
//! No monkey-patching: these are the sockets. Every blocking call parks only the calling
//! greenlet; the worker goes on running the others. Called from a plain OS thread they block
//! that thread, like `std::net`.
//!
//! Python-socket conveniences are there: `recv(n)` returning [`bytes::Bytes`], `send`,
//! `sendall`, `recv_exact`, `settimeout`, `connect_timeout`, and `sendfile` (a file's bytes
//! straight from the page cache: [`TcpStream::sendfile`]); for any fd you own,
//! [`wait_read`] / [`wait_write`] (gevent.socket's: park until it is readable or writable).
//! Each socket's own timeout and the greenlet's active [`crate::Timeout`] both bound every
//! call: a socket timeout returns `ErrorKind::TimedOut`; an expired `Timeout` unwinds to its
//! `with_timeout`.
//!
//! ```
//! use std::io::Write;
//! use mayfly::net::{TcpListener, TcpStream};
//!
//! mayfly::run(|| -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = mayfly::spawn(move || -> std::io::Result<()> {
//!         let (mut conn, _) = listener.accept()?;
//!         let data = conn.recv(1024)?;
//!         conn.sendall(&data.to_ascii_uppercase())
//!     });
//!     let mut client = TcpStream::connect(addr)?;
//!     client.sendall(b"hello")?;
//!     assert_eq!(&client.recv_exact(5)?[..], b"HELLO");
//!     server.into_result().unwrap()
//! }).unwrap();
//! ```

mod bind;
mod lines;
pub mod lookup;
mod nocancel;
mod ready;
mod resolve;
mod sendfile;
pub(crate) mod stream;
mod stream_io;
pub(crate) mod sweep;
mod tcp;
mod udp;
mod unix;
mod wait_fd;

pub use bind::{Bind, DEFAULT_BACKLOG};
pub use lines::{LineReader, Lines, DEFAULT_MAX_LINE};
pub use lookup::{getaddrinfo, gethostbyname, getnameinfo};
pub use resolve::{resolve, ConnectAddr};
pub use sendfile::SENDFILE_PROBE_BYTES;
pub use stream::ByteCounters;
pub(crate) use tcp::Accepted;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
pub use wait_fd::{wait_read, wait_write};
