//! `mayfly compare`: each echo-server build as its own process, the same fair client against
//! it, and a verdict written from the data.
//!
//! By default it is rigorous: on two or more CPUs the server runs pinned to one CPU and the
//! client to the others, and the sweep runs [`DEFAULT_REPEAT`] rounds, interleaved (every
//! build at every connection count, then again), so slow drift of a noisy machine hits the
//! builds alike; the tables show medians and the spread. Server CPU time is read from `/proc`
//! exactly when the client's measured window opens and closes (the client prints marks), so
//! connection set-up is not billed to requests. The servers' and the client's own log lines
//! go to a log file named in the report, never into the output.
//!
//! It produces a typed [`Report`]; the verdict and ratios ([`crate::report::verdict`]), the
//! tables, the charts and the page are in [`crate::report`].

mod aggregate;
mod files;
mod one_run;
mod options;
mod placement;

use std::fs::File;
use std::io::Write;

use mayfly_proto::echo::Mode;

pub use crate::build::Build;
pub use aggregate::medians;
pub use mayfly::process::cpus_allowed;
pub use options::{
    CompareError, CompareOptions, CompareTls, DEFAULT_CLIENT, DEFAULT_CLIENT_THREADS,
    DEFAULT_CONNECTIONS, DEFAULT_DURATION, DEFAULT_REPEAT, TLS_BUILD_NAMES,
};

use crate::report::{legend, verdict, Partial, Report, Row, Settings};
use crate::stress::LATENCY_METHOD;
use aggregate::one_line;
use files::write_files;
use mayfly::process::{self as procfs, PinnedThread};
use one_run::run_one;
use options::chain;
use placement::Placement;

/// Runs the sweep and returns the report (and writes files if `out` is set).
///
/// A run that fails is a row with its reason in `limit`, not an error. When a signal is
/// stored in [`CompareOptions::stop`], the children are stopped and the report (and its
/// files) covers the runs done so far, with [`Settings::partial`] saying so.
///
/// # Errors
///
/// [`CompareError::Invalid`] for options that cannot run, [`CompareError::PinNeedsTwoCpus`],
/// [`CompareError::Log`] if the log file cannot be created, or the report files could not be
/// written.
pub fn run(opts: &CompareOptions) -> Result<Report, CompareError> {
    opts.validate()?;
    let allowed = procfs::cpus_allowed();
    let cpus = procfs::parallelism();
    if opts.pin && allowed.len() < 2 {
        return Err(CompareError::PinNeedsTwoCpus {
            cpus: allowed.len(),
        });
    }
    let log_path = opts.log.clone().unwrap_or_else(|| match &opts.out {
        Some(dir) => dir.join("compare.log"),
        None => std::env::temp_dir().join(format!("mayfly-compare-{}.log", std::process::id())),
    });
    if let Some(dir) = log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CompareError::CreateDir {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let log = File::create(&log_path).map_err(|source| CompareError::Log {
        path: log_path.display().to_string(),
        source,
    })?;
    let mut place = Placement {
        pin: opts.pin,
        allowed,
        log,
    };
    let (server_cpus, client_cpus) = place.split(Build::single(Mode::Coroutine));
    // This thread (and the mark readers it spawns) must not queue behind a server's threads:
    // with 10,000 of them runnable on the server's CPU, a mark read late stretched or
    // shrank the window the server's CPU is divided by (138% of one CPU, once).
    let _pinned = PinnedThread::to(&client_cpus);
    let mut settings = Settings {
        duration_s: opts.duration.as_secs_f64(),
        repeat: opts.repeat,
        pin: opts.pin,
        server_cpus,
        client_cpus,
        client: opts.client,
        cpus,
        log: Some(log_path.display().to_string()),
        partial: None,
    };
    let planned = opts.repeat * opts.connections.len() * opts.builds.len();
    let mut runs = Vec::new();
    'sweep: for round in 1..=opts.repeat {
        for &n in &opts.connections {
            for &build in &opts.builds {
                if opts.stopped().is_some() {
                    break 'sweep;
                }
                if opts.verbose {
                    eprintln!(
                        "compare: {build} with {n} connections (round {round} of {})…",
                        opts.repeat
                    );
                }
                let _ = writeln!(
                    place.log,
                    "== {build}, {n} connections, round {round} of {} ==",
                    opts.repeat
                );
                let mut row = match run_one(opts, &mut place, build, n) {
                    Ok(Some(row)) => row,
                    // Stopped within the run, or the run failed because the signal reached
                    // its children too (Ctrl-C goes to the whole process group): left out;
                    // the check above ends the sweep.
                    Ok(None) => continue,
                    Err(_) if opts.stopped().is_some() => continue,
                    Err(e) => Row {
                        build: build.to_string(),
                        connections: n as u64,
                        limit: Some(chain(&e)),
                        ..Row::default()
                    },
                };
                row.warnings = legend::warnings(&row);
                if opts.verbose {
                    eprintln!("compare:   {}", one_line(&row));
                }
                runs.push(row);
            }
        }
    }
    // Stopped before every run was done (a signal after the last one changes nothing).
    let partial = opts
        .stopped()
        .filter(|_| runs.len() < planned)
        .map(|signal| Partial {
            signal,
            runs: runs.len(),
            planned,
        });
    if let (Some(p), true) = (&partial, opts.verbose) {
        eprintln!("compare: {p}; writing what was measured");
    }
    let rows = medians(&runs);
    let ratios = verdict::ratios(&rows, &runs);
    let mut verdict = verdict::of(&rows, &ratios);
    if let Some(p) = &partial {
        let line = format!("partial: {p}; this verdict covers those runs only.");
        verdict.lines.insert(0, line);
    }
    settings.partial = partial;
    let report = Report {
        verdict,
        ratios,
        rows,
        runs,
        latency_method: LATENCY_METHOD.to_string(),
        settings,
    };
    if let Some(dir) = &opts.out {
        write_files(&report, dir)?;
    }
    Ok(report)
}
