//! The command line as people already know it from ripgrep, curl and cargo: each mistake
//! exits with its own code at once and says what to type instead; counts take `10k`; the
//! completions and the man page come from the same flags as `--help`; per-machine flags come
//! from the environment.

use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::util::mayfly;

fn run(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = mayfly()
        .args(args)
        .env_remove("MAYFLY_ADDR")
        .output()
        .unwrap();
    (out, t.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port nothing listens on (bound, read back, closed).
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn stress_against_port_0_or_nothing_listening_exits_4_at_once() {
    let closed = closed_port();
    for addr in ["localhost:0", "127.0.0.1:0", closed.as_str()] {
        for proto in ["tcp", "http"] {
            let mut args = vec![
                "stress",
                "--addr",
                addr,
                "--duration",
                "30s",
                "--threads",
                "2",
            ];
            args.extend(["--proto", proto]);
            let (out, took) = run(&args);
            assert_eq!(
                out.status.code(),
                Some(4),
                "{addr} {proto}: {}",
                stderr(&out)
            );
            assert!(took < Duration::from_secs(5), "{addr}: {took:?}");
            let e = stderr(&out);
            assert!(e.contains("port 0") || e.contains("nothing answers"), "{e}");
        }
    }
}

#[test]
fn an_address_without_a_host_exits_2_with_the_fix() {
    for args in [
        &["serve", "echo", "--addr", ":8080"][..],
        &["stress", "--addr", ":8080"],
    ] {
        let (out, took) = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(took < Duration::from_secs(5));
        let e = stderr(&out);
        assert!(
            e.contains("HOST:PORT") && e.contains("127.0.0.1:8080"),
            "{e}"
        );
    }
}

#[test]
fn a_port_in_use_exits_2_with_a_hint() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    for extra in [&[][..], &["--workers", "2"]] {
        let mut args = vec!["serve", "echo", "--addr", addr.as_str()];
        args.extend_from_slice(extra);
        let (out, _) = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains("another program holds") && e.contains("127.0.0.1:0"),
            "{e}"
        );
    }
}

#[test]
fn a_missing_root_exits_2_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let (out, _) = run(&[
        "serve",
        "file",
        "--addr",
        "127.0.0.1:0",
        "--root",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such directory"),
        "{}",
        stderr(&out)
    );
    // No --root at all: clap's usage error, 2 as well.
    let out = mayfly()
        .args(["serve", "file", "--addr", "127.0.0.1:0"])
        .env_remove("MAYFLY_FILE_ROOT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--root"), "{}", stderr(&out));
}

#[test]
fn file_put_checks_the_local_file_before_the_server() {
    let closed = closed_port();
    let (out, _) = run(&["file", "--addr", &closed, "put", "/no/such/file.iso"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/no/such/file.iso"),
        "{}",
        stderr(&out)
    );
    // The file is there, the server is not: unreachable.
    let f = tempfile::NamedTempFile::new().unwrap();
    let (out, _) = run(&["file", "--addr", &closed, "put", f.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn stress_holds_its_duration_against_a_server_that_accepts_and_never_answers() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    // Accept every connection and hold it, never reading or answering, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_holder = stop.clone();
    let holder = std::thread::spawn(move || {
        l.set_nonblocking(true).unwrap();
        let mut held: Vec<TcpStream> = Vec::new();
        let until = Instant::now() + Duration::from_secs(90);
        while Instant::now() < until && !stop_holder.load(std::sync::atomic::Ordering::Relaxed) {
            match l.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    // Every client the stress command has: TCP by threads and by greenlets, HTTP by both.
    let shapes: [&[&str]; 4] = [
        &["--threads", "4"],
        &["--mode", "coroutine", "--connections", "4"],
        &["--proto", "http", "--threads", "4", "--connections", "4"],
        &[
            "--proto",
            "http",
            "--mode",
            "coroutine",
            "--connections",
            "4",
        ],
    ];
    for shape in shapes {
        let mut args = vec!["stress", "--addr", &addr, "--duration", "2s"];
        args.extend_from_slice(shape);
        let (out, took) = run(&args);
        // Nothing answered: the answer is no (1), after the window and its 2 s drain, not
        // the 10 s I/O timeout.
        assert_eq!(out.status.code(), Some(1), "{shape:?}: {}", stderr(&out));
        assert!(took < Duration::from_secs(8), "{shape:?}: {took:?}");
        if shape.contains(&"http") {
            // Counted as never answered, not as I/O errors (the cut-off is not a failure of
            // the connection).
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("none 4"), "{shape:?}: {stdout}");
            assert!(stdout.contains(" 0 i/o errors"), "{shape:?}: {stdout}");
        } else {
            assert!(
                stderr(&out).contains("4 never answered"),
                "{shape:?}: {}",
                stderr(&out)
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    holder.join().unwrap();
}

#[test]
fn the_probe_gives_up_after_probe_timeout_on_a_server_that_never_accepts() {
    // A listener whose accept queue is full: Linux drops further SYNs, so a connect hangs
    // (retransmitting) instead of being refused.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen(2) again on a socket `l` owns and keeps open: it only lowers the backlog.
    assert_eq!(
        unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&l), 0) },
        0
    );
    let addr = l.local_addr().unwrap();
    let mut queued = Vec::new();
    let full =
        (0..16).any(
            |_| match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => {
                    queued.push(s);
                    false
                }
                Err(_) => true,
            },
        );
    assert!(full, "the accept queue never filled");
    let addr = addr.to_string();
    let (out, took) = run(&[
        "stress",
        "--addr",
        &addr,
        "--probe-timeout",
        "300ms",
        "--duration",
        "30s",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing answers on"),
        "{}",
        stderr(&out)
    );
    // The probe's bound, not the 5 s default nor the 30 s run.
    assert!(took < Duration::from_secs(4), "{took:?}");
    drop(queued);
}

#[test]
fn counts_take_thousands_and_sizes_say_what_is_wrong() {
    // `1k` parses (the run itself then finds nothing listening: 4, not 2).
    let closed = closed_port();
    let (out, _) = run(&["stress", "--addr", &closed, "--connections", "1k"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let (out, _) = run(&["compare", "--connections", "500,1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a count like 500, 10k or 2M"),
        "{}",
        stderr(&out)
    );
    let (out, _) = run(&["serve", "file", "--root", ".", "--max-file-size", "1.5M"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("sizes are whole numbers; write 1536K"),
        "{}",
        stderr(&out)
    );
    let (out, _) = run(&["stress", "--addr", &closed, "--duration", "5x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a bare number is seconds"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let (out, _) = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["compare", "stress", "--connections", "file-bench"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    if std::path::Path::new("/bin/bash").exists() {
        // The bash script loads in bash and registers the completion.
        let (out, _) = run(&["completions", "bash"]);
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &out.stdout).unwrap();
        let st = std::process::Command::new("/bin/bash")
            .arg("-c")
            .arg(format!(
                "source {} && complete -p mayfly",
                f.path().display()
            ))
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        assert!(String::from_utf8_lossy(&st.stdout).contains("mayfly"));
    }
    let (out, _) = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = run(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH mayfly 1"),
        "{}",
        &page[..200]
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for page in ["mayfly.1", "mayfly-compare.1", "mayfly-serve-echo.1"] {
        assert!(dir.path().join(page).exists(), "{page}");
    }
}

#[test]
fn the_address_can_come_from_the_environment() {
    let closed = closed_port();
    let out = mayfly()
        .args(["stress", "--duration", "1s"])
        .env("MAYFLY_ADDR", &closed)
        .output()
        .unwrap();
    // Taken from MAYFLY_ADDR: nothing listens there (4), not a missing --addr (2).
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(&closed), "{}", stderr(&out));
}

#[test]
fn stress_prints_the_servers_cpu_per_request_from_its_stats_page_or_says_why_not() {
    let mut cmd = mayfly();
    cmd.args([
        "serve",
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--stats-addr",
        "127.0.0.1:0",
    ]);
    let s = crate::util::ServerChild::spawn(cmd, true);
    let stats = s.stats.clone().unwrap();
    let (out, _) = run(&[
        "stress",
        "--addr",
        &s.addr,
        "--stats-addr",
        &stats,
        "--duration",
        "1s",
        "--threads",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("server CPU: "))
        .unwrap_or_else(|| panic!("{text}"));
    let us: f64 = line["server CPU: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(us > 0.0 && us < 10_000.0, "{line}");
    // Without the page: the line says why there is no figure and what to give.
    let (out, _) = run(&[
        "stress",
        "--addr",
        &s.addr,
        "--duration",
        "500ms",
        "--threads",
        "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("server CPU per request: not measured") && text.contains("--stats-addr"),
        "{text}"
    );
}
