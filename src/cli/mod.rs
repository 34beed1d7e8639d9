//! The command line behind `mayfly`: what [`main`](crate) dispatches to.
//!
//! | module | its one job |
//! |---|---|
//! | [`args`] | the clap structs: every flag, its help text, its default (from the libraries' constants) |
//! | [`human`] | durations and sizes as people type them (`300s`, `16G`), with typed errors |
//! | [`logging`] | the one logger: `-v`/`-q`, `RUST_LOG`, text or JSON lines on stderr |
//! | [`convert`] | the one conversion from each command's flags to the library's options |
//! | [`serve`] | `mayfly serve …`: signals, the stats page, `listening on`, drain on stop |
//! | [`supervise`] | `--workers N`: the supervisor of N server processes sharing the port |
//! | [`run`] | the client commands: call the library, print, pick the exit code |
//! | [`exit`] | every exit code, named, with the table `--help` and README.md show |
//! | [`print`] | every line the commands print (stdout results, stderr notes) |

pub mod args;
pub mod convert;
pub mod exit;
pub mod human;
pub mod logging;
pub mod print;
pub mod run;
pub mod serve;
pub mod supervise;
