//! `mayfly`: the one front door. It parses flags ([`cli::args`]), dispatches each command to
//! one function in [`cli`], and maps errors to exit codes.
//!
//! ```text
//! mayfly serve echo --mode coroutine|threads|epoll --addr 127.0.0.1:8080
//! mayfly stress --addr 127.0.0.1:8080 --threads 500 --duration 10s
//! mayfly compare --connections 500,2000,10000 --duration 10s --pin --out report
//! mayfly serve file --root ./files --addr 127.0.0.1:9000
//! mayfly file --addr 127.0.0.1:9000 put ./big.iso
//! ```
//!
//! Exit codes: 0 success; 1 a wrong reply (`stress`, `compare`) or no such file
//! (`file stat`); 2 bad flags (clap) or any error, printed as `mayfly: …` with its causes;
//! `mayfly cmd` exits with the remote command's code (124: killed at the server's time
//! limit, 125: killed otherwise).

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::args::{Cli, Commands, Serve};

/// Exit code for every error that reaches `main` (clap uses the same for bad flags).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mayfly: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Commands::Serve { server } => match server {
            Serve::Echo(a) => cli::serve::echo(a),
            Serve::File(a) => cli::serve::file(a),
            Serve::Cmd(a) => cli::serve::cmd(a),
            Serve::UdpEcho(a) => cli::serve::udp_echo(a),
            Serve::Time(a) => cli::serve::time(a),
        },
        Commands::Stress(a) => cli::run::stress(a),
        Commands::Compare(a) => cli::run::compare(a),
        Commands::File(a) => cli::run::file(a),
        Commands::FileBench(a) => cli::run::file_bench(a),
        Commands::Cmd(a) => cli::run::cmd(a),
    }
}
