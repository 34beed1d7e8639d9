//! The command line behind `mayfly`: what [`main`](crate) dispatches to.
//!
//! | module | its one job |
//! |---|---|
//! | [`args`] | the clap structs: every flag, its help text, its default (from the libraries' constants) |
//! | [`human`] | durations and sizes as people type them (`300s`, `16G`), with typed errors |
//! | [`convert`] | the one conversion from each command's flags to the library's options |
//! | [`serve`] | `mayfly serve …`: signals, the stats page, `listening on`, drain on stop |
//! | [`supervise`] | `--workers N`: the supervisor of N server processes sharing the port |
//! | [`run`] | the client commands: call the library, print, pick the exit code |
//! | [`exit`] | every exit code, named, with the table `--help` and README.md show |
//! | [`print`] | every line the commands print (stdout results, stderr notes) |
//! | [`cert`] | `mayfly cert`: a local CA, server and client certificates (rcgen) |
//! | [`tls_args`] | the TLS flags (`mayfly cert`'s, a server's `--tls-cert`…, a client's `--tls`…) and their conversions |

pub mod args;
pub mod cert;
pub mod convert;
pub mod exit;
pub mod human;
pub mod print;
pub mod run;
pub mod serve;
pub mod supervise;
pub mod tls_args;
