//! `mayfly`: the one front door. It parses flags ([`cli::args`]), dispatches each command to
//! one function in [`cli`], and maps errors to exit codes.
//!
//! ```text
//! mayfly serve echo --mode coroutine|threads|epoll --addr 127.0.0.1:8080
//! mayfly serve http --mode coroutine|threads|tokio --addr 127.0.0.1:8080
//! mayfly stress --addr 127.0.0.1:8080 --threads 500 --duration 10s
//! mayfly compare --connections 500,2000,10000 --duration 10s --pin --out report
//! mayfly serve file --root ./files --addr 127.0.0.1:9000
//! mayfly file --addr 127.0.0.1:9000 put ./big.iso
//! ```
//!
//! Exit codes: one per kind of failure, named in [`cli::exit`] (the table is in `--help`
//! and README.md); an error is printed as `mayfly: …` with its causes, on stderr.

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::args::{Cli, Commands, Serve};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (format, server) = match &cli.cmd {
        Commands::Serve { log, .. } => (log.log_format, true),
        _ => (cli::logging::LogFormat::Text, false),
    };
    cli::logging::init(&cli.log, format, server);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mayfly: {e:#}");
            ExitCode::from(cli::exit::of_error(&e))
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Commands::Serve { server, .. } => match server {
            Serve::Echo(a) => cli::serve::echo(*a),
            Serve::Http(a) => cli::serve::http(*a),
            Serve::File(a) => cli::serve::file(*a),
            Serve::Cmd(a) => cli::serve::cmd(*a),
            Serve::UdpEcho(a) => cli::serve::udp_echo(a),
            Serve::Time(a) => cli::serve::time(a),
        },
        Commands::Stress(a) => cli::run::stress(a),
        Commands::Compare(a) => cli::run::compare(a),
        Commands::File(a) => cli::run::file(a),
        Commands::FileBench(a) => cli::run::file_bench(a),
        Commands::Cmd(a) => cli::run::cmd(a),
        Commands::Demo { demo } => cli::run::demo(demo),
        Commands::Completions { shell } => cli::generate::completions(shell),
        Commands::Man { dir } => cli::generate::man(dir.as_deref()),
        Commands::Cert(a) => Ok(cli::cert::run(&a.options())),
    }
}
