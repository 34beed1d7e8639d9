//! mayfly's clients: the course's load test and the tool that compares the server builds.
//!
//! - [`stress`]: N OS threads (or greenlets) each looping `Thread-<i> say hello <k>` against
//!   an uppercase echo server, checking every reply and timing it.
//! - [`pace`]: a fixed request rate shared by every connection of a load (`--rate`).
//! - [`stress_conn`]: the stress client's connections, plaintext or TLS (`--tls`), std or
//!   mayfly.
//! - [`udp_stress`]: the same load over UDP (`--proto udp`), counting lost, late and wrong
//!   answers.
//! - [`http_stress`]: keep-alive GETs against an HTTP server (`--proto http`, `serve
//!   http`), counting non-2xx answers, wrong bodies and resets.
//! - [`compare`]: runs each echo-server build as its own process under the same load and
//!   produces a [`report::Report`]: a verdict, then CPU per request, throughput, latency,
//!   fairness, memory and threads side by side.
//! - [`server_cpu`]: the server's CPU per request during a load test, from its stats page.
//! - [`fairness`]: how evenly replies were spread over connections (Jain's index).
//! - [`report`]: the report's types, its verdict and legend, and its renderers (Markdown
//!   tables, SVG charts, the HTML page).
//! - [`file`](mod@file): the file server's client (put, get, list, stat, resume, sha256 check).
//! - [`file_user`]: the file server's user layer: login, `pwd`, `cd`, `mkdir`, `dirs`,
//!   `quota`.
//! - [`file_shell`]: `mayfly file shell`'s commands (`>>: put a.txt`), parsed and run.
//! - [`cmd`]: the remote-command client (HMAC challenge, then commands).
//! - [`file_bench`]: the file server's throughput, big files and many small ones.
//! - [`child`]: a `mayfly serve …` child process, started and stopped.
//! - [`sticky`]: the course's sticky-packet lesson, symptom and cures, run and checked.
//!
//! The clients stand on the runtime (`mayfly`) and the wire contracts (`mayfly_proto`), never
//! on the servers. Every fallible public function returns a typed error of its module.

#![warn(missing_docs, missing_debug_implementations)]

pub mod build;
pub mod child;
pub mod cmd;
pub mod compare;
pub mod fairness;
pub mod file;
pub mod file_bench;
pub mod file_shell;
pub mod file_user;
pub mod http_stress;
pub mod pace;
pub mod report;
pub mod sample;
pub mod server_cpu;
pub mod sticky;
pub mod stress;
pub mod stress_conn;
pub mod tls_conn;
pub mod udp_stress;
