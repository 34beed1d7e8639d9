//! The command line behind `mayfly`: what [`main`](crate) dispatches to.
//!
//! | module | its one job |
//! |---|---|
//! | [`args`] | the clap structs: every flag, its help text, its default (from the libraries' constants) |
//! | [`course_args`] | the flags of the course's own formats (`serve cmd --course-protocol`) |
//! | [`generate`] | `mayfly completions bash\|zsh\|fish` and `mayfly man`, from the clap structs |
//! | [`hint`] | a server start refused for its `--addr` or `--root`: a usage error that says what to type |
//! | [`reach`] | one connect before a load test, so nothing listening fails at once (exit 4) |
//! | [`human`] | durations and sizes as people type them (`300s`, `16G`), with typed errors |
//! | [`logging`] | the one logger: `-v`/`-q`, `RUST_LOG`, text or JSON lines on stderr |
//! | [`convert`] | the one conversion from each command's flags to the library's options |
//! | [`serve`] | `mayfly serve …`: signals, the stats page, `listening on`, drain on stop |
//! | [`supervise`] | `--workers N`: the supervisor of N server processes sharing the port |
//! | [`drain`] | `--check-addr`, `--drain-delay`: the health-check port closed at the signal, the service kept accepting for the delay |
//! | [`run`] | the client commands: call the library, print, pick the exit code |
//! | [`shell`] | `mayfly file shell`: the FTP homework's `>>:` prompt (rustyline on a terminal, lines from a pipe) |
//! | [`exit`] | every exit code, named, with the table `--help` and README.md show |
//! | [`print`] | every line the commands print (stdout results, stderr notes, compare's progress) |
//! | [`version`] | the version, the git commit `build.rs` recorded, the command line as typed |
//! | [`cert`] | `mayfly cert`: a local CA, server and client certificates (rcgen) |
//! | [`tls_args`] | the TLS flags (`mayfly cert`'s, a server's `--tls-cert`…, a client's `--tls`…) and their conversions |

pub mod args;
pub mod cert;
pub mod convert;
pub mod course_args;
pub mod drain;
pub mod exit;
pub mod generate;
pub mod hint;
pub mod human;
pub mod logging;
pub mod print;
pub mod reach;
pub mod run;
pub mod serve;
pub mod shell;
pub mod supervise;
pub mod tls_args;
pub mod version;
