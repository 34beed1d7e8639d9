//! What the course's hand-written readiness loops share — the non-blocking, `select` and raw
//! epoll builds ([`Mode::Nonblocking`](super::Mode::Nonblocking),
//! [`Mode::Select`](super::Mode::Select), [`Mode::EpollLt`](super::Mode::EpollLt),
//! [`Mode::EpollEt`](super::Mode::EpollEt)): each build keeps only its own way of waiting
//! (none, `select(2)`, `epoll_wait(2)`), and these parts are the same for all:
//!
//! | module | job |
//! |---|---|
//! | `stop` | `StopFd`: an eventfd that turns readable when the server is asked to stop, and a flag for the loop that never waits |
//! | `accept` | [`Acceptor`]: the non-blocking listener, the connection and per-peer caps, accept errors |
//! | `conns` | [`Conn`] and [`Table`]: the connection table keyed by fd (Python's `fd_to_socket`), the uppercase-and-reply step, the idle and stuck-writer sweep |
//! | `handle` | [`LoopHandle`]: the loop's thread behind [`mayfly::server::Running`], and [`Drain`], the stop-with-grace every loop runs |
//!
//! | `fd_io` | [`FdIo`]: `read(2)` and `write(2)` on a connection (what `/proc/PID/io` counts) |
//!
//! The sockets are `std::net`'s in non-blocking mode (`accept` is `accept4(2)`), read and
//! written with `read(2)`/`write(2)` through [`FdIo`]; `EAGAIN` is
//! [`io::ErrorKind::WouldBlock`](std::io::ErrorKind::WouldBlock) — Python's `BlockingIOError`.
//! The calls the chapter is about (`select`, `epoll_ctl`, `epoll_wait`) are libc's, in the
//! builds' own modules.

mod accept;
mod conns;
mod fd_io;
mod handle;
mod stop;

pub(crate) use accept::{Accepted, Acceptor};
pub(crate) use conns::{Conn, Reads, Table};
pub(crate) use fd_io::FdIo;
pub(crate) use handle::{Drain, LoopHandle, Shared};
