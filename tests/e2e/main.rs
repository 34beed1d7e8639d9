//! The end-to-end suite: the real `mayfly` binary over loopback, one test binary with one
//! helper module (tests/util, shared with the fault suite), one module per server:
//!
//! | module | what |
//! |---|---|
//! | [`echo`] | the echo builds, the stress client, compare |
//! | [`compare`] | compare stopped by SIGTERM, SIGINT or SIGKILL: its children go with it |
//! | [`demo`] | `mayfly demo sticky`: the sticky-packet lesson |
//! | [`http`] | `mayfly serve http` (every HTTP build) and `mayfly stress --proto http` |
//! | [`file`] | `mayfly serve file` and `mayfly file` |
//! | [`cmd`] | `mayfly serve cmd` and `mayfly cmd` |
//! | [`stats_http`] | the stats page (`--stats-addr`) and its dashboard |
//! | [`workers`] | `mayfly serve echo --workers N`: the supervisor and its workers |
//! | [`udp`] | `mayfly serve udp-echo`, `mayfly serve time`, `mayfly stress --proto udp` |
//! | [`tls`] | `mayfly cert`, `mayfly serve echo --tls-cert/--tls-key` (coroutine, threads, tokio), `mayfly stress --tls` |
//!
//! The fault suite (tests/faults.rs: floods, fd exhaustion, slowloris, the soak) is a binary
//! of its own, so it can be run, and timed, apart.

#[path = "../util/mod.rs"]
mod util;

mod cmd;
mod compare;
mod demo;
mod echo;
mod file;
mod http;
mod stats_http;
mod tls;
mod udp;
mod workers;
