//! mayfly's demo servers. Policy lives here; mechanisms (greenlets, sockets, StreamServer)
//! live in the `mayfly` crate.
//!
//! - [`echo`]: the course's uppercase echo server in three builds of one handler —
//!   [`echo::Mode::Coroutine`] (greenlets on one thread), [`echo::Mode::Threads`] (one OS
//!   thread per connection) and [`echo::Mode::Epoll`] (a hand-written mio event loop).

#![warn(missing_docs)]

pub mod echo;
pub mod limits;
