//! The client commands (`file`, `cmd`, `stress`, `compare`, `file-bench`): each converts
//! its flags ([`convert`](super::convert)), calls the library, hands the result to
//! [`print`](super::print) and picks the exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use mayfly_clients::cmd::CmdClient;
use mayfly_clients::file::{self as file_client, FileClient, GetOptions};
use mayfly_clients::udp_stress::{self, Proto};
use mayfly_clients::{compare, file_bench, http_stress, server_cpu, stress};
use mayfly_proto::cmd::secret::load_secret;
use signal_hook::consts::{SIGINT, SIGTERM};

use super::args::{CmdArgs, CompareArgs, Demo, FileArgs, FileBenchArgs, FileOp, StressArgs};
use super::exit::{self, NO as EXIT_NO};
use super::{convert, print, reach};

/// `mayfly cmd`: the remote stdout on stdout, the remote stderr on stderr; exits with the
/// remote exit code, or [`exit::of_command`]'s code when the command was killed.
pub fn cmd(a: CmdArgs) -> Result<ExitCode> {
    let secret = load_secret(a.secret_file.as_deref())?;
    let tls = a.tls.client(&a.addr)?;
    let mut c = CmdClient::connect_tls(&a.addr, &secret, tls.as_ref())?;
    let out = c.run(&a.command.join(" "))?;
    print::cmd_output(&out)?;
    Ok(ExitCode::from(exit::of_command(&out)))
}

/// `mayfly file put|get|list|stat`: exits 1 if `stat` finds no such file.
pub fn file(a: FileArgs) -> Result<ExitCode> {
    if let FileOp::Adduser { name, users, quota } = &a.op {
        let secret = mayfly_servers::file::users::add_user(users, name, quota.0)?;
        print::new_user(name, &secret, users)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The local file first: a typo in its name is exit 9 whether or not the server is up.
    if let FileOp::Put { path, .. } = &a.op {
        std::fs::File::open(path).map_err(|source| file_client::FileError::Open {
            path: path.display().to_string(),
            source,
        })?;
    }
    let tls = a.tls.client(&a.addr)?;
    let mut c = FileClient::connect_tls(a.addr.as_str(), tls.as_ref())?;
    if let Some(user) = &a.login.user {
        let secret = convert::file_secret(a.login.secret_file.as_deref())?;
        mayfly_clients::file_user::login(&mut c, user, &secret)?;
    }
    match a.op {
        FileOp::Adduser { .. } => unreachable!("handled above"),
        FileOp::Shell => return super::shell::run(c, a.login.user.is_some()),
        FileOp::List => print::listing(&c.list()?, a.json)?,
        FileOp::Stat { name } => {
            let st = c.stat(&name)?;
            print::stat(&name, &st, a.json)?;
            if st.filesize.is_none() {
                return Ok(ExitCode::from(EXIT_NO));
            }
        }
        FileOp::Put {
            path,
            name,
            resumable,
            resume,
            no_prehash,
        } => {
            let (name, opts) = convert::put_options(&path, name, resumable, resume, no_prehash)?;
            let size = std::fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            if a.login.user.is_some() && !opts.resume {
                // Refused here, before a byte goes out, if the quota cannot hold it.
                mayfly_clients::file_user::check_room(&mut c, size)?;
            }
            let bar = print::progress_bar(size, a.json);
            let t = c.put_file(&path, &name, &opts, &mut |done, _| bar.set_position(done))?;
            bar.finish_and_clear();
            print::transfer("sent", &t, a.json)?;
        }
        FileOp::Get {
            name,
            out,
            resume,
            force,
        } => {
            let dest: PathBuf = match out {
                Some(p) => p,
                None => file_client::local_name(&name)?,
            };
            let bar = print::progress_bar(0, a.json);
            let opts = GetOptions {
                resume,
                overwrite: force,
            };
            let t = c.get_file(&name, &dest, &opts, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done)
            })?;
            bar.finish_and_clear();
            print::transfer("received", &t, a.json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mayfly file-bench`: progress lines on stderr unless `--json`.
pub fn file_bench(a: FileBenchArgs) -> Result<ExitCode> {
    let o = convert::file_bench_options(&a)?;
    let json = a.json;
    let r = file_bench::run_in_scratch(&o, &mut |line| {
        if !json {
            eprintln!("{line}");
        }
    })?;
    print::file_bench(&r, json)?;
    Ok(ExitCode::SUCCESS)
}

/// `mayfly stress`: exits 1 if any connection failed to connect, broke, got a wrong reply, or
/// got no reply at all.
pub fn stress(a: StressArgs) -> Result<ExitCode> {
    if a.proto != Proto::Tcp && (a.tls.tls || a.reconnect_every > 0) {
        return Err(super::exit::Usage(format!(
            "--tls and --reconnect-every are for the TCP echo load, not --proto {}",
            a.proto
        ))
        .into());
    }
    match a.proto {
        Proto::Udp => return udp_stress(a),
        Proto::Http => return http_stress(a),
        Proto::Tcp => {}
    }
    let o = convert::stress_options(&a)?;
    reach::probe(o.addr, a.probe_timeout.0)?;
    let before = stats_before(&a)?;
    let r = stress::run(&o);
    print::stress(&r, a.json)?;
    print::server_cpu(&server_cost(&a, before), a.json);
    if !r.ok {
        eprintln!(
            "mayfly: stress failed: {} of {} connections not established, {} broke, {} never answered, {} wrong replies{}",
            r.connect_errors,
            r.connections,
            r.io_errors,
            r.fairness.unanswered,
            r.wrong_replies,
            r.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(exit_no_if(!r.ok))
}

/// `mayfly stress --proto udp`: exits 1 if any answer was wrong or none came at all
/// (lost answers alone are UDP being UDP: reported, not failed on).
fn udp_stress(a: StressArgs) -> Result<ExitCode> {
    let o = convert::udp_stress_options(&a)?;
    let before = stats_before(&a)?;
    let r = udp_stress::run(&o);
    print::udp_stress(&r, a.json)?;
    print::server_cpu(&server_cost(&a, before), a.json);
    Ok(exit_no_if(r.wrong_replies > 0 || r.requests == 0))
}

/// `mayfly stress --proto http`: exits 1 unless every connection was up and answered and no
/// answer was non-2xx or had a wrong body, and no connection was reset or failed.
fn http_stress(a: StressArgs) -> Result<ExitCode> {
    let o = convert::http_stress_options(&a)?;
    reach::probe(o.addr, a.probe_timeout.0)?;
    let before = stats_before(&a)?;
    let r = http_stress::run(&o);
    print::http_stress(&r, a.json)?;
    print::server_cpu(&server_cost(&a, before), a.json);
    Ok(exit_no_if(!r.ok))
}

/// `mayfly compare`: exits 1 if any build gave a wrong reply or any run could not be
/// measured at all (the server would not start, died, or the client gave no report). Limits a
/// build hits under load (fds, threads) are findings: they are in the table, not the exit code.
/// On SIGINT or SIGTERM compare stops its children, prints and writes the runs measured so
/// far as a partial report, and exits 130 or 143.
pub fn compare(a: CompareArgs) -> Result<ExitCode> {
    let opts = convert::compare_options(&a)?;
    // The library takes no signals itself: the handlers store the signal where it looks.
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_usize(sig, Arc::clone(&opts.stop), sig as usize)
            .context("installing the SIGINT/SIGTERM handlers")?;
    }
    let mut shown = print::CompareProgress::new();
    let report = compare::run_with_progress(&opts, &mut |p| shown.on(p))?;
    drop(shown);
    print::compare(&report, a.json, a.out.as_deref())?;
    if let Some(p) = &report.settings.partial {
        eprintln!("mayfly: compare: partial: {p}");
        return Ok(ExitCode::from(exit::of_stop_signal(p.signal)));
    }
    let wrong: u64 = report.runs.iter().map(|r| r.wrong_replies).sum();
    let unmeasured: Vec<String> = report
        .runs
        .iter()
        .filter(|r| r.requests == 0)
        .map(|r| {
            format!(
                "{} @ {}: {}",
                r.build,
                r.connections,
                r.limit.as_deref().unwrap_or("no requests answered")
            )
        })
        .collect();
    if wrong > 0 {
        eprintln!("mayfly: compare: {wrong} wrong replies");
    }
    for u in &unmeasured {
        eprintln!("mayfly: compare: run not measured: {u}");
    }
    Ok(exit_no_if(wrong > 0 || !unmeasured.is_empty()))
}

/// The server's stats page read before the run (`--stats-addr`); a page that cannot be read
/// refuses the run, before it loads anything.
fn stats_before(a: &StressArgs) -> Result<Option<server_cpu::Reading>> {
    let Some(addr) = &a.stats_addr else {
        return Ok(None);
    };
    let r = server_cpu::read(addr, server_cpu::DEFAULT_TIMEOUT).context("--stats-addr")?;
    Ok(Some(r))
}

/// What the run cost the server: its CPU per request from the stats page, or why it is
/// not known.
fn server_cost(a: &StressArgs, before: Option<server_cpu::Reading>) -> print::ServerCost {
    let (Some(addr), Some(before)) = (&a.stats_addr, before) else {
        return print::ServerCost::NoStatsPage;
    };
    match server_cpu::read(addr, server_cpu::DEFAULT_TIMEOUT) {
        Ok(after) => match before.cpu_us_per_request(&after) {
            Some(us) => print::ServerCost::PerRequest {
                us,
                cpu_seconds: after.cpu_seconds - before.cpu_seconds,
                requests: after.requests - before.requests,
            },
            None => print::ServerCost::Unknown("the server counted no request".to_string()),
        },
        Err(e) => print::ServerCost::Unknown(format!("{:#}", anyhow::Error::new(e))),
    }
}

fn exit_no_if(no: bool) -> ExitCode {
    ExitCode::from(if no { EXIT_NO } else { exit::SUCCESS })
}

/// `mayfly demo …`.
pub fn demo(d: Demo) -> Result<ExitCode> {
    match d {
        Demo::Sticky { json } => {
            let steps = mayfly_clients::sticky::run().context("running the sticky-packet demo")?;
            print::sticky(&steps, json)?;
            Ok(if steps.iter().all(|s| s.as_predicted) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_NO)
            })
        }
    }
}
