//! The end-to-end suite: the real `mayfly` binary over loopback, one test binary with one
//! helper module (tests/util, shared with the fault suite), one module per server:
//!
//! | module | what |
//! |---|---|
//! | [`echo`] | the echo builds, the stress client, compare |
//! | [`cli`] | exit codes people meet first (nothing listening, `:8080`, a port in use, a missing `--root` or local file), counts like `10k`, completions, the man page, `MAYFLY_ADDR` |
//! | [`compare`] | compare stopped by SIGTERM, SIGINT or SIGKILL: its children go with it |
//! | [`pace`] | the paced load: `stress --rate` in both client modes, `compare --rate` and its rate-short flag |
//! | [`report_page`] | the compare report's first screen in headless Chromium, report.json's schema and metadata |
//! | [`demo`] | `mayfly demo sticky`: the sticky-packet lesson |
//! | [`io_models`] | the IO-models chapter's builds (blocking, nonblocking, select, epoll-lt, epoll-et) |
//! | [`http`] | `mayfly serve http` (every HTTP build) and `mayfly stress --proto http` |
//! | [`file`] | `mayfly serve file` and `mayfly file` |
//! | [`file_shell`] | `mayfly file shell`: commands piped on stdin through the real binary |
//! | [`file_users`] | `mayfly serve file --users`: login, homes, quotas, `cd`/`mkdir`/`pwd` |
//! | [`logging`] | a server's log lines: `-q`, `-v`, `RUST_LOG`, `--log-format json`, timestamps |
//! | [`cmd`] | `mayfly serve cmd` and `mayfly cmd` |
//! | [`course_cmd`] | `mayfly serve cmd --course-protocol` and the course's Python client |
//! | [`stats_http`] | the stats page (`--stats-addr`) and its dashboard |
//! | [`haproxy`] | two `serve echo --workers 2` hosts behind HAProxy: one drained after its check port closed, no connection lost |
//! | [`drain`] | `--check-addr`, `--drain-delay`: the check port closes at SIGTERM, the service a delay later (one process and `--workers 2`) |
//! | [`workers`] | `mayfly serve echo --workers N`: the supervisor and its workers |
//! | [`udp`] | `mayfly serve udp-echo`, `mayfly serve time`, `mayfly stress --proto udp` |
//! | [`tls`] | `mayfly cert`, `mayfly serve echo --tls-cert/--tls-key` (coroutine, threads, tokio), `mayfly stress --tls` |
//!
//! The fault suite (tests/faults.rs: floods, fd exhaustion, slowloris, the soak) is a binary
//! of its own, so it can be run, and timed, apart.

#[path = "../util/mod.rs"]
mod util;

mod cli;
mod cmd;
mod compare;
mod course_cmd;
mod demo;
mod drain;
mod echo;
mod file;
mod file_shell;
mod file_users;
mod haproxy;
mod http;
mod io_models;
mod logging;
mod pace;
mod report_page;
mod stats_http;
mod tls;
mod udp;
mod workers;
