//! `mayfly::subprocess` with real child processes: gevent's `src/gevent/tests/test__subprocess.py`
//! ported where it applies (TestPopen and RunFuncTestCase; `sh` stands in for `sys.executable
//! -c`; the universal-newline, bufsize and Windows tests have no counterpart: there is no text
//! mode), and what the module promises besides: no zombie after a killed greenlet or a
//! dropped `Child`, outputs of several MiB without a deadlock, the active `Timeout`, and 100
//! children at once taking about the time of one.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::subprocess::{check_output, Command, Stdio, SubprocessError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

/// The state letter of `/proc/PID/stat` (`Z`: a zombie), or `None` once the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Waits (sleeping the greenlet) until `pid` is gone from `/proc`; false if still there
/// after `limit`, in any state.
fn gone_within(pid: u32, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if proc_state(pid).is_none() {
            return true;
        }
        mayfly::sleep(ms(10));
    }
    false
}

// --- TestPopen ---

#[test]
fn test_exit() {
    let st = mayfly::run(|| sh("exit 10").spawn().unwrap().wait().unwrap());
    assert_eq!(st.code(), Some(10));
}

#[test]
fn test_wait() {
    mayfly::run(|| {
        let mut p = sh("exit 11").spawn().unwrap();
        let ready = mayfly::wait(&[&p], Default::default());
        assert_eq!(ready, [0]);
        assert_eq!(p.try_wait().unwrap().and_then(|s| s.code()), Some(11));
    });
}

#[test]
fn test_child_exception_and_issue148() {
    mayfly::run(|| {
        for _ in 0..7 {
            let e = Command::new("this_name_must_not_exist")
                .spawn()
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        }
    });
}

#[test]
fn test_communicate() {
    let out = mayfly::run(|| {
        sh("printf pineapple >&2; cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
            .communicate(Some(b"banana"))
            .unwrap()
    });
    assert_eq!(out.stdout, b"banana");
    assert_eq!(out.stderr, b"pineapple");
    assert!(out.status.success());
}

#[test]
fn test_nonblock_removed() {
    // A pipe end handed to another child is blocking again (gevent issue #134): `grep` on a
    // nonblocking stdin would fail with EAGAIN instead of waiting for input.
    mayfly::run(|| {
        let mut writer = Command::new("sh")
            .args(["-c", "sleep 0.2; echo some text; echo other"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = writer.stdout.take().unwrap().into_stdio().unwrap();
        let mut grep = Command::new("grep")
            .arg("text")
            .stdin(pipe)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        mayfly::sleep(ms(100));
        assert!(grep.try_wait().unwrap().is_none(), "grep waits for input");
        let out = grep.communicate(None).unwrap();
        assert_eq!(out.stdout, b"some text\n");
        assert!(writer.wait().unwrap().success());

        // And directly: the flags a child sees on its stdin have no O_NONBLOCK.
        let mut a = sh("sleep 0.1").stdout(Stdio::piped()).spawn().unwrap();
        let flags = check_output(
            sh("grep flags /proc/self/fdinfo/0")
                .stdin(a.stdout.take().unwrap().into_stdio().unwrap()),
        )
        .unwrap();
        let flags = String::from_utf8(flags).unwrap();
        let octal = u32::from_str_radix(flags.split_whitespace().nth(1).unwrap(), 8).unwrap();
        assert_eq!(octal & libc::O_NONBLOCK as u32, 0, "{flags}");
        a.wait().unwrap();
    });
}

#[test]
fn test_check_output_keyword_error() {
    mayfly::run(|| match check_output(&mut sh("exit 44")) {
        Err(SubprocessError::Failed { status, .. }) => assert_eq!(status.code(), Some(44)),
        other => panic!("{other:?}"),
    });
}

#[test]
fn test_subprocess_in_native_thread() {
    // gevent refuses Popen in a native thread; here it works and blocks only that thread.
    let out = std::thread::spawn(|| sh("echo 123").output().unwrap())
        .join()
        .unwrap();
    assert_eq!(out.stdout, b"123\n");
}

#[test]
fn test_no_output_is_empty() {
    let out = mayfly::run(|| {
        sh(":")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
            .communicate(None)
            .unwrap()
    });
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

// --- RunFuncTestCase ---

#[test]
fn test_returncode_and_check() {
    mayfly::run(|| {
        let st = sh("exit 47").status().unwrap();
        assert_eq!(st.code(), Some(47));
        assert!(matches!(
            check_output(&mut sh("exit 47")),
            Err(SubprocessError::Failed { status, .. }) if status.code() == Some(47)
        ));
        assert!(check_output(&mut sh("exit 0")).unwrap().is_empty());
    });
}

#[test]
fn test_timeout_kills_the_child() {
    mayfly::run(|| {
        let mut p = sh("while :; do :; done").spawn().unwrap();
        let r = p.communicate_timeout(None, ms(100));
        assert!(matches!(r, Err(SubprocessError::TimedOut { .. })), "{r:?}");
        let st = p.wait_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
    });
}

#[test]
fn test_capture_stdout_and_stderr() {
    mayfly::run(|| {
        let out = sh("echo BDFL").output().unwrap();
        assert_eq!(out.stdout, b"BDFL\n");
        let out = sh("printf BDFL >&2").output().unwrap();
        assert_eq!(out.stderr, b"BDFL");
    });
}

#[test]
fn test_check_output_stdin_arg_and_input_arg() {
    mayfly::run(|| {
        let mut f = tempfile_with(b"pear");
        let out = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(f.take().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"PEAR");
        let out = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
            .communicate(Some(b"pear"))
            .unwrap();
        assert_eq!(out.stdout, b"PEAR");
    });
}

/// A file holding `data`, read from its start (unlinked at once).
fn tempfile_with(data: &[u8]) -> Option<std::fs::File> {
    use std::io::Seek;
    let path = std::env::temp_dir().join(format!("mayfly-subprocess-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f.write_all(data).unwrap();
    f.rewind().unwrap();
    Some(f)
}

#[test]
fn test_check_output_timeout_keeps_partial_output() {
    mayfly::run(|| {
        let mut p = sh("printf BDFL; exec sleep 3600")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        match p.communicate_timeout(None, ms(500)) {
            Err(SubprocessError::TimedOut { stdout, .. }) => assert_eq!(stdout, b"BDFL"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn test_run_kwargs() {
    let st = mayfly::run(|| {
        sh("[ \"$FRUIT\" = banana ] && exit 33; exit 31")
            .env("FRUIT", "banana")
            .status()
            .unwrap()
    });
    assert_eq!(st.code(), Some(33));
}

#[test]
fn test_run_with_shell_timeout_and_capture_output() {
    mayfly::run(|| {
        let t = Instant::now();
        let r = sh("exec sleep 3")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
            .communicate_timeout(None, ms(100));
        assert!(matches!(r, Err(SubprocessError::TimedOut { .. })));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    });
}

// --- what mayfly promises besides ---

#[test]
fn cwd_env_clear_and_env_remove() {
    mayfly::run(|| {
        let out = check_output(
            Command::new("/bin/sh")
                .args(["-c", "pwd; echo \"[$HOME]\""])
                .current_dir("/")
                .env_clear(),
        )
        .unwrap();
        assert_eq!(out, b"/\n[]\n");
        let out = check_output(sh("echo \"[$GONE]\"").env("GONE", "x").env_remove("GONE")).unwrap();
        assert_eq!(out, b"[]\n");
    });
}

#[test]
fn communicate_moves_several_mib_both_ways_without_deadlock() {
    // 4 MiB in through `cat`, 4 MiB back on stdout and 3 MiB on stderr: a reader that took one
    // pipe at a time, or wrote all of stdin first, would stall with every pipe full.
    const IN: usize = 4 << 20;
    const ERR: usize = 3 << 20;
    let input: Vec<u8> = (0..IN).map(|i| (i % 251) as u8).collect();
    let expect = input.clone();
    let out = mayfly::run(move || {
        mayfly::with_timeout(Duration::from_secs(60), || {
            sh(&format!("head -c {ERR} /dev/zero >&2; cat"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
                .communicate(Some(&input))
                .unwrap()
        })
        .expect("communicate deadlocked")
    });
    assert_eq!(out.stdout.len(), IN);
    assert!(out.stdout == expect, "stdout differs from the input");
    assert_eq!(out.stderr.len(), ERR);
    assert!(out.status.success());
}

#[test]
fn wait_does_not_block_the_worker() {
    mayfly::run(|| {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t2 = ticks.clone();
        let ticker = mayfly::spawn(move || loop {
            mayfly::sleep(ms(10));
            t2.fetch_add(1, Ordering::Relaxed);
        });
        let mut p = sh("sleep 0.3").spawn().unwrap();
        assert!(p.wait().unwrap().success());
        let mut out = sh("sleep 0.3; echo done")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut s = String::new();
        out.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "done\n");
        ticker.kill();
        // 600 ms of waiting at 10 ms a tick: far more than the handful a blocked worker allows.
        assert!(ticks.load(Ordering::Relaxed) >= 20, "{ticks:?}");
    });
}

#[test]
fn wait_timeout_try_wait_and_kill() {
    mayfly::run(|| {
        let mut p = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(p.try_wait().unwrap().is_none());
        let t = Instant::now();
        assert!(p.wait_timeout(ms(100)).unwrap().is_none());
        assert!(t.elapsed() >= ms(95));
        p.kill().unwrap();
        let st = p.wait().unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        assert_eq!(p.try_wait().unwrap(), Some(st));
        // Killing or signalling a reaped child is a no-op, never another process.
        p.kill().unwrap();
        p.terminate().unwrap();

        let mut p = Command::new("sleep").arg("30").spawn().unwrap();
        p.terminate().unwrap();
        assert_eq!(p.wait().unwrap().signal(), Some(libc::SIGTERM));
    });
}

#[test]
fn the_active_timeout_bounds_wait_and_pipe_reads() {
    mayfly::run(|| {
        let mut p = Command::new("sleep")
            .arg("30")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        assert!(mayfly::with_timeout(ms(100), || p.wait()).is_err());
        let mut out = p.stdout.take().unwrap();
        let mut buf = [0u8; 16];
        assert!(mayfly::with_timeout(ms(100), || out.read(&mut buf)).is_err());
        assert!(t.elapsed() < Duration::from_secs(2));
        // The child is still there and still waitable.
        assert!(p.try_wait().unwrap().is_none());
        p.kill().unwrap();
        assert!(p.wait().is_ok());
    });
}

#[test]
fn a_killed_greenlet_leaves_no_zombie() {
    mayfly::run(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let g = mayfly::spawn(move || {
            let mut p = Command::new("sleep").arg("0.2").spawn().unwrap();
            tx.send(p.id()).unwrap();
            p.wait().unwrap()
        });
        mayfly::sleep(ms(20));
        let pid = rx.recv().unwrap();
        g.kill();
        assert!(g.exception().is_some(), "killed before the child ended");
        // The child runs on (as in std) and is reaped when it exits: gone, not a zombie.
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "state {:?}",
            proc_state(pid)
        );

        // A leaked Child too.
        let p = Command::new("sleep").arg("0.1").spawn().unwrap();
        let pid = p.id();
        std::mem::forget(p);
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "state {:?}",
            proc_state(pid)
        );
    });
}

#[test]
fn kill_on_drop_takes_the_child_with_a_killed_greenlet() {
    mayfly::run(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let g = mayfly::spawn(move || {
            let mut p = Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            tx.send(p.id()).unwrap();
            p.wait().unwrap()
        });
        mayfly::sleep(ms(20));
        let pid = rx.recv().unwrap();
        assert_eq!(proc_state(pid).map(|s| s != 'Z'), Some(true));
        g.kill();
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "state {:?}",
            proc_state(pid)
        );
    });
}

#[test]
fn a_hundred_children_at_once_take_about_the_time_of_one() {
    let took = mayfly::run(|| {
        let t = Instant::now();
        let gs: Vec<_> = (0..100)
            .map(|_| mayfly::spawn(|| Command::new("sleep").arg("0.5").status().unwrap()))
            .collect();
        mayfly::joinall(&gs, Default::default()).unwrap();
        for g in &gs {
            assert!(g.get().unwrap().success());
        }
        t.elapsed()
    });
    // One after another would be 50 s; a generous bound for a loaded machine.
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn stdin_write_parks_until_the_child_reads() {
    mayfly::run(|| {
        // A 1 MiB write into a pipe of 64 KiB, read by a child that starts reading late.
        let mut p = sh("sleep 0.2; wc -c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = p.stdin.take().unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let t2 = ticks.clone();
        let ticker = mayfly::spawn(move || loop {
            mayfly::sleep(ms(10));
            t2.fetch_add(1, Ordering::Relaxed);
        });
        stdin.write_all(&vec![b'x'; 1 << 20]).unwrap();
        drop(stdin);
        let out = p.communicate(None).unwrap();
        ticker.kill();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
        assert!(
            ticks.load(Ordering::Relaxed) >= 5,
            "the write blocked the worker"
        );
    });
}
