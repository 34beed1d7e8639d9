//! mayfly's clients: the course's load test and the tool that compares the server builds.
//!
//! - [`stress`]: N OS threads (or greenlets) each looping `Thread-<i> say hello <k>` against
//!   an uppercase echo server, checking every reply and timing it.
//! - [`compare`]: runs each echo-server build as its own process under the same load and
//!   reports throughput, latency, CPU per request, memory and threads side by side.
//! - [`file`](mod@file): the file server's client (put, get, list, stat, resume, sha256 check).
//! - [`cmd`]: the remote-command client (HMAC challenge, then commands).
//! - [`file_bench`]: the file server's throughput, big files and many small ones.

#![warn(missing_docs)]

pub mod chart;
pub mod child;
pub mod cmd;
pub mod compare;
pub mod file;
pub mod file_bench;
pub mod html;
/// Process readings from /proc (moved to `mayfly_servers`, which the stats page needs).
pub use mayfly_servers::procfs;
pub mod stress;
