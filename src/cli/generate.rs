//! `mayfly completions SHELL` and `mayfly man`: shell completions (clap_complete) and man
//! pages (clap_mangen) generated from the same clap structs as `--help`, so they cannot
//! drift from the flags.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use super::args::Cli;

/// Prints the completion script for `shell` on stdout.
///
/// ```text
/// mayfly completions bash > ~/.local/share/bash-completion/completions/mayfly
/// mayfly completions zsh > ~/.zfunc/_mayfly
/// mayfly completions fish > ~/.config/fish/completions/mayfly.fish
/// ```
pub fn completions(shell: Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics on a write error, and a reader that stops
    // early (`| head`) is not one.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mayfly", &mut script);
    emit(&script)
}

/// `bytes` on stdout; a reader that went away (`| head`) is not an error.
fn emit(bytes: &[u8]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The man page of `mayfly` on stdout (roff: `mayfly man | man -l -`), or with `dir` one
/// page per command written there (`mayfly.1`, `mayfly-serve-echo.1`, …).
pub fn man(dir: Option<&Path>) -> Result<ExitCode> {
    let cmd = Cli::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            return emit(&page);
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
