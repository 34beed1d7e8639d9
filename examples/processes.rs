//! gevent's `examples/processes.py`: two child processes run side by side, waited for
//! together with a time limit, then their output printed if they finished.
//!
//! ```sh
//! cargo run --example processes
//! ```
//!
//! ```text
//! uname: "Linux\n"
//! ls: "Cargo.lock\nCargo.toml\n…"
//! ```
//!
//! `mayfly::subprocess::Child` is `Waitable`, so `mayfly::wait` takes the two children as
//! gevent's `gevent.wait([p1, p2], timeout=2)` does; `try_wait` is `poll()`. Their pipes are
//! coroutine streams, and the waiting parks the main greenlet only.

use std::io::{self, Read};
use std::time::Duration;

use mayfly::subprocess::{Child, Command, Stdio};

/// Runs the two jobs; returns the lines gevent's example prints.
pub fn report() -> io::Result<Vec<String>> {
    mayfly::run(|| {
        // Run 2 jobs in parallel.
        let p1 = Command::new("uname").stdout(Stdio::piped()).spawn()?;
        let p2 = Command::new("ls").stdout(Stdio::piped()).spawn()?;
        let mut jobs = [("uname", p1), ("ls", p2)];
        let children: Vec<&Child> = jobs.iter().map(|(_, p)| p).collect();
        mayfly::wait(
            &children,
            mayfly::WaitOpts::default().timeout(Duration::from_secs(2)),
        );
        // Print the results (if available).
        let mut lines = Vec::new();
        for (name, p) in &mut jobs {
            if p.try_wait()?.is_some() {
                let mut text = Vec::new();
                if let Some(mut stdout) = p.stdout.take() {
                    stdout.read_to_end(&mut text)?;
                }
                lines.push(format!("{name}: {:?}", String::from_utf8_lossy(&text)));
            } else {
                lines.push(format!("{name}: job is still running"));
            }
        }
        Ok(lines)
    })
}

fn main() -> io::Result<()> {
    for line in report()? {
        println!("{line}");
    }
    Ok(())
}
