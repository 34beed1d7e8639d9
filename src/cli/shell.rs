//! `mayfly file shell`: the FTP homework's interactive client. Lines come from a terminal
//! with rustyline's line editing and history (the course's `>>: ` prompt), or, when stdin is
//! not a terminal, one a line from it, each echoed after the prompt so the output reads as a
//! session. Results go to stdout, errors to stderr (`error: …`), progress bars to stderr on
//! a terminal. The commands are `mayfly_clients::file_shell`'s.
//!
//! Exit code: 0 after `quit` or the end of input on a terminal; from a pipe, the code of the
//! last command that failed (as `mayfly file` would exit for it), so a script sees failures.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use mayfly_clients::file::FileClient;
use mayfly_clients::file_shell::{parse, Command, Shell, ShellError, PROMPT};
use mayfly_clients::tls_conn::StdConn;
use rustyline::error::ReadlineError;

use super::{exit, print};

/// Where lines come from.
enum Lines {
    Terminal(Box<rustyline::DefaultEditor>),
    Pipe(std::io::StdinLock<'static>),
}

impl Lines {
    /// The next line, `None` at the end of input.
    fn next(&mut self) -> Result<Option<String>> {
        match self {
            Lines::Terminal(ed) => loop {
                match ed.readline(PROMPT) {
                    Ok(line) => {
                        let _ = ed.add_history_entry(line.as_str());
                        return Ok(Some(line));
                    }
                    // Ctrl-C drops the line, as a shell does; Ctrl-D leaves.
                    Err(ReadlineError::Interrupted) => continue,
                    Err(ReadlineError::Eof) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            },
            Lines::Pipe(stdin) => {
                let mut line = String::new();
                if stdin.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                let line = line.trim_end_matches(['\n', '\r']).to_owned();
                let mut out = std::io::stdout().lock();
                writeln!(out, "{PROMPT}{line}")?;
                out.flush()?;
                Ok(Some(line))
            }
        }
    }
}

/// The exit code `mayfly file` would have for this failure.
fn code_of(e: ShellError) -> u8 {
    match e {
        ShellError::File(f) => exit::of_error(&anyhow::Error::new(f)),
        ShellError::Line(_) | ShellError::NeedsUsers(_) | ShellError::Name(_) => exit::USAGE,
    }
}

/// Runs the shell on `client` (`user`: logged in) until `quit` or the end of input.
///
/// # Errors
/// The terminal cannot be read.
pub fn run(client: FileClient<StdConn>, user: bool) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    let mut lines = if interactive {
        Lines::Terminal(Box::new(rustyline::DefaultEditor::new()?))
    } else {
        Lines::Pipe(std::io::stdin().lock())
    };
    let mut shell = Shell::new(client, user);
    let mut failed: Option<u8> = None;
    while let Some(line) = lines.next()? {
        let cmd = match parse(&line) {
            Ok(Command::Quit) => break,
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                failed = Some(exit::USAGE);
                continue;
            }
        };
        let bar = print::progress_bar(0, false);
        let result = shell.run(&cmd, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
        match result {
            Ok(text) if text.is_empty() => {}
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                let fatal = e.is_fatal();
                failed = Some(code_of(e));
                if fatal {
                    eprintln!("error: the connection is gone; leaving");
                    break;
                }
            }
        }
    }
    Ok(ExitCode::from(if interactive {
        0
    } else {
        failed.unwrap_or(0)
    }))
}
