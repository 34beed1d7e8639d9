//! mayfly's demo servers. Policy lives here; mechanisms (greenlets, sockets, StreamServer)
//! live in the `mayfly` crate.
//!
//! - [`echo`]: the course's uppercase echo server in three builds of one handler —
//!   [`echo::Mode::Coroutine`] (greenlets on one thread), [`echo::Mode::Threads`] (one OS
//!   thread per connection) and [`echo::Mode::Epoll`] (a hand-written mio event loop).
//! - [`file`](mod@file): the course's FTP homework over the framed protocol: put, get, list, stat,
//!   atomic uploads, resume, integrity hashes.
//! - [`http`]: the stats page every server can publish (`/stats`, `/metrics`, a dashboard),
//!   served in-process by a small HTTP/1.1 loop that enforces limits; [`metrics`]: what
//!   `/metrics` exposes, in the Prometheus text format (`prometheus-client`).
//! - [`plaintext`]: TechEmpower's plaintext and JSON tests over HTTP/1.1 in three builds —
//!   mayfly-http (greenlets), one OS thread per connection on the same parser, and hyper on
//!   tokio (`mayfly serve http`).
//! - [`cmd`]: the course's remote-command server behind an HMAC challenge, with a time
//!   limit and an output cap per command.
//! - [`udp`]: the course's UDP servers on `DatagramServer`: [`udp::echo`] (uppercase) and
//!   [`udp::time`] (the local time in the strftime format the client sends).
//! - [`conn`]: a connection that is plain TCP or TLS, and the file and command servers'
//!   one way to make their `StreamServer` on either path.
//! - [`supervisor`]: multi-process + greenlets (`--workers N`): N server processes sharing
//!   one port with SO_REUSEPORT, restarted when they die, drained together on SIGTERM;
//!   [`supervisor_stats`]: its stats page, the sum over the workers' pages;
//!   [`supervisor_heartbeat`]: how a worker tells it that its thread still runs.
//! - [`check_port`]: a health-check port for a load balancer, closed at the start of a drain
//!   (`--check-addr`, `--drain-delay`).

#![warn(missing_docs)]

mod blocking_accept;
pub mod check_port;
pub mod cmd;
pub mod conn;
pub mod echo;
pub mod file;
pub mod http;
mod listen;
pub mod metrics;
pub mod plaintext;
pub mod supervisor;
pub mod supervisor_heartbeat;
pub mod supervisor_stats;
mod tokio_server;
pub mod udp;
/// Default listen backlog of every TCP server here: the runtime's, `mayfly::net::Bind`'s.
pub use mayfly::net::DEFAULT_BACKLOG;
/// Default time a stopping server gives open connections to finish before it closes them.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
