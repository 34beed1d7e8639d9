//! mayfly's wire contracts: everything a server and its client must agree on, in one crate
//! that both stand on, so neither depends on the other and neither parses the other's text
//! ad hoc. The byte-level description is `docs/PROTOCOL.md`.
//!
//! - [`frame`]: the framed protocol (4-byte length, JSON header, body) as a bounded,
//!   incremental codec.
//! - [`reply`]: the reply shape every framed server uses — `status`, and on a refusal `code`
//!   and `error` — built by servers and read back by clients through one type, [`Refusal`].
//! - [`file`](mod@file): the file protocol's commands and field names, [`file::Entry`],
//!   [`file::PutRequest`], the request body rule and the transfer chunk size.
//! - [`file_users`]: the file server's user layer: the login, `pwd`, `cd`, `mkdir`,
//!   `quota`.
//! - [`cmd`]: the remote-command protocol: the shared secret ([`cmd::secret`]), the HMAC challenge ([`cmd::auth`]) and the
//!   request and reply of `run`.
//! - [`sha256`]: the integrity hash both ends compute: [`sha256::HashSink`],
//!   [`sha256::HashPipeline`] (hashing on mayfly's thread pool).
//! - [`builds`]: the build registry, one table of every server build ([`builds::BUILDS`]):
//!   its name, what it serves, reference or compare default, how many threads do its work;
//!   [`builds::Mode`] is generated from it.
//! - [`echo`]: the names of the echo server's builds ([`echo::Mode`]) and of the stress
//!   client's modes ([`echo::ClientMode`]), as they appear on the command line and in reports.
//! - [`child`]: the contract of the `mayfly` binary as a child process: the lines it prints
//!   (`listening on ADDR`, `stats on ADDR`, the stress client's window marks) and typed
//!   builders for the command lines that start it.
//! - [`plaintext`]: the HTTP plaintext and JSON tests' paths and bodies (`serve http`,
//!   `stress --proto http`).
//! - [`udp`]: the datagram protocols (UDP echo, the time server) and their refusal
//!   datagram.
//! - [`hex`] / [`unhex`]: lowercase hex, as hashes and challenges travel.
//!
//! This crate stands on the runtime (`mayfly`) only for [`sha256::HashPipeline`]; the runtime
//! never depends on it.

#![warn(missing_docs, missing_debug_implementations)]

pub mod builds;
pub mod child;
pub mod cmd;
pub mod echo;
pub mod file;
pub mod file_users;
pub mod frame;
mod hex;
pub mod plaintext;
pub mod reply;
pub mod sha256;
pub mod udp;

pub use hex::{hex, unhex};
pub use reply::Refusal;
