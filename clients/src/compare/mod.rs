//! `mayfly compare`: each echo-server build as its own process, the same fair client against
//! it, and a verdict written from the data.
//!
//! By default it is rigorous: on two or more CPUs the server runs pinned to one CPU and the
//! client to the others, and the sweep runs [`DEFAULT_REPEAT`] rounds, interleaved (every
//! build at every connection count, then again), so slow drift of a noisy machine hits the
//! builds alike; the tables show medians and the spread. Server CPU time is read from `/proc`
//! exactly when the client's measured window opens and closes (the client prints marks), so
//! connection set-up is not billed to requests. The servers' and the client's own log lines
//! go to a log file named in the report, never into the output (the default one, in the
//! temporary directory, is removed after a sweep where nothing failed). While it runs it
//! reports [`Progress`]: the plan, then each run with the time left.
//!
//! It produces a typed [`Report`]; the verdict and ratios ([`crate::report::verdict`]), the
//! tables, the charts and the page are in [`crate::report`].

mod aggregate;
mod files;
mod one_run;
mod options;
mod placement;
pub mod progress;

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

use mayfly_proto::echo::Mode;

pub use crate::build::Build;
pub use aggregate::medians;
pub use mayfly::process::cpus_allowed;
pub use options::{
    CompareError, CompareOptions, CompareTls, COURSE_BUILDS, COURSE_CONNECTIONS, COURSE_DURATION,
    DEFAULT_CLIENT, DEFAULT_CLIENT_THREADS, DEFAULT_CONNECTIONS, DEFAULT_DURATION,
    DEFAULT_IDLE_WINDOW, DEFAULT_REPEAT, TLS_BUILD_NAMES,
};
pub use progress::Progress;

use crate::report::format::rfc3339;
use crate::report::Meta;
use crate::report::{legend, models, verdict, Partial, Report, Row, Settings, SCHEMA_VERSION};
use crate::stress::LATENCY_METHOD;
use files::write_files;
use mayfly::process::{self as procfs, PinnedThread};
use one_run::run_one;
use options::chain;
use placement::Placement;

/// Runs the sweep and returns the report (and writes files if `out` is set), telling nobody
/// how it goes: [`run_with_progress`] with a no-op.
///
/// # Errors
///
/// As [`run_with_progress`].
pub fn run(opts: &CompareOptions) -> Result<Report, CompareError> {
    run_with_progress(opts, &mut |_| {})
}

/// Runs the sweep and returns the report (and writes files if `out` is set); `progress`
/// hears the plan first, then each run as it starts and ends.
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
pub fn run_with_progress(
    opts: &CompareOptions,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Report, CompareError> {
    opts.validate()?;
    let began = std::time::SystemTime::now();
    let temp_log = opts.log.is_none() && opts.out.is_none();
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
        tls: opts.tls.is_some(),
        reconnect_every: opts.reconnect_every,
        rate: opts.rate,
    };
    let planned = opts.repeat * opts.connections.len() * opts.builds.len();
    let log_name = log_path.display().to_string();
    progress(&Progress::Plan {
        runs: planned,
        shape: (opts.builds.len(), opts.connections.len(), opts.repeat),
        estimate: progress::left(
            0,
            planned,
            Duration::ZERO,
            opts.duration + progress::RUN_OVERHEAD,
        ),
        log: &log_name,
    });
    let per_run = opts.duration + progress::RUN_OVERHEAD;
    let started = Instant::now();
    let mut runs = Vec::new();
    let mut k = 0;
    'sweep: for round in 1..=opts.repeat {
        for &n in &opts.connections {
            for &build in &opts.builds {
                if opts.stopped().is_some() {
                    break 'sweep;
                }
                let name = build.to_string();
                progress(&Progress::Start {
                    run: (k + 1, planned),
                    what: (&name, n, round, opts.repeat),
                    left: progress::left(k, planned, started.elapsed(), per_run),
                });
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
                        build: name.clone(),
                        connections: n as u64,
                        limit: Some(chain(&e)),
                        ..Row::default()
                    },
                };
                row.warnings = legend::warnings(&row);
                k += 1;
                progress(&Progress::Done {
                    run: (k, planned),
                    round: (round, opts.repeat),
                    row: &row,
                    left: progress::left(k, planned, started.elapsed(), per_run),
                });
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
    let rows = medians(&runs);
    let ratios = verdict::ratios(&rows, &runs);
    let mut verdict = verdict::of(&rows, &ratios);
    verdict.lines.extend(models::lines(&rows));
    if let Some(p) = &partial {
        let line = format!("partial: {p}; this verdict covers those runs only.");
        verdict.lines.insert(0, line);
    }
    let clean = partial.is_none()
        && runs
            .iter()
            .all(|r| r.requests > 0 && r.wrong_replies == 0 && r.limit.is_none());
    settings.partial = partial;
    if temp_log && clean {
        // Nothing failed: the servers' lines in the temporary directory are noise now.
        drop(place);
        if std::fs::remove_file(&log_path).is_ok() {
            settings.log = None;
        }
    }
    let meta = Meta {
        date: began
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| rfc3339(d.as_secs() as i64)),
        kernel: procfs::host::kernel(),
        cpu_model: procfs::host::cpu_model(),
        ..opts.meta.clone()
    };
    let report = Report {
        schema_version: SCHEMA_VERSION,
        meta,
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
