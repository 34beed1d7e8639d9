//! What the end-to-end suites share (ripgrep's tests/util.rs): the `mayfly` binary, and a
//! server child that says where it listens. The child itself is `mayfly_clients::child::
//! ServerProcess`, the one compare drives; this wraps it with the /proc readings the tests
//! check and panics instead of errors. (Each suite uses a part of it.)
#![allow(dead_code)]

use std::net::TcpStream;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use mayfly_clients::child::ServerProcess;

pub mod chromium;

/// The `mayfly` binary built for these tests, or the one `MAYFLY_TEST_BIN` names (to run
/// the suite against another build: an older one, to see a new test fail on it).
pub fn mayfly() -> Command {
    match std::env::var_os("MAYFLY_TEST_BIN") {
        Some(bin) => Command::new(bin),
        None => Command::new(env!("CARGO_BIN_EXE_mayfly")),
    }
}

/// A `mayfly serve …` child. Its first stdout line must be `listening on ADDR` (and, when
/// asked for, the second `stats on ADDR`). Killed when dropped.
pub struct ServerChild {
    process: ServerProcess,
    /// Where the server listens.
    pub addr: String,
    /// Where its stats page listens, if started with `--stats-addr`.
    pub stats: Option<String>,
    /// Where its health-check port listens, if spawned with [`ServerChild::spawn_with_check`].
    pub check: Option<String>,
}

impl ServerChild {
    /// Spawns `cmd` with stdout piped (stderr as the caller set it) and reads its address.
    pub fn spawn(cmd: Command, with_stats: bool) -> ServerChild {
        let process = if with_stats {
            ServerProcess::spawn_with_stats(cmd)
        } else {
            ServerProcess::spawn(cmd)
        }
        .unwrap_or_else(|e| panic!("mayfly serve did not start: {e}"));
        Self::from_process(process)
    }

    /// Spawns `cmd`, started with `--check-addr` (and no `--stats-addr`), and reads its
    /// address and its check port's.
    pub fn spawn_with_check(cmd: Command) -> ServerChild {
        let process = ServerProcess::spawn_with_check(cmd)
            .unwrap_or_else(|e| panic!("mayfly serve did not start: {e}"));
        Self::from_process(process)
    }

    fn from_process(process: ServerProcess) -> ServerChild {
        ServerChild {
            addr: process.addr.clone(),
            stats: process.stats.clone(),
            check: process.check.clone(),
            process,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.process.alive().unwrap()
    }

    /// Open file descriptors of the process.
    pub fn fds(&self) -> usize {
        mayfly::process::fd_count(self.pid()).unwrap()
    }

    /// The PIDs of its child processes (`/proc/PID/task/*/children`), sorted.
    pub fn children(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid())).unwrap();
        for t in tasks.flatten() {
            let list = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        out.sort_unstable();
        out
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`) or a count (`Threads:`).
    pub fn status(&self, field: &str) -> u64 {
        mayfly::process::status_field(self.pid(), field)
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// SIGTERM, then the exit status (panics if it takes longer than `within`).
    pub fn sigterm_and_wait(&mut self, within: Duration) -> ExitStatus {
        match self.process.sigterm_and_wait(within).unwrap() {
            Some(st) => st,
            None => panic!("no exit within {within:?} of SIGTERM"),
        }
    }
}

/// A TCP connection to `addr` from the loopback address `ip` (127.0.0.2, say: another peer
/// to a server's per-peer cap), connecting for at most 5 s.
///
/// # Errors
/// The bind or connect error.
pub fn connect_from(ip: &str, addr: &str) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let from: std::net::SocketAddr = format!("{ip}:0").parse().unwrap();
    s.bind(&from.into())?;
    let to: std::net::SocketAddr = addr.parse().unwrap();
    s.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(s.into())
}

/// Sends one UDP datagram to `to` that claims to come from `from` (both IPv4), through a
/// raw socket with a hand-made IP header: what an attacker who forges source addresses
/// sends. The kernel fills in the IP checksum and length; the UDP checksum is 0 (none,
/// allowed over IPv4).
///
/// # Errors
/// `PermissionDenied` unless run as root (or with CAP_NET_RAW); the send error.
pub fn send_spoofed_udp(
    from: std::net::SocketAddrV4,
    to: std::net::SocketAddrV4,
    payload: &[u8],
) -> std::io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))?;
    s.set_header_included_v4(true)?;
    let udp_len = u16::try_from(8 + payload.len()).expect("a small payload");
    let total = 20 + udp_len;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]); // IPv4, 5-word header; no TOS
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0]); // id (the kernel picks one), no fragments
    packet.extend_from_slice(&[64, 17, 0, 0]); // TTL, UDP, checksum (the kernel's)
    packet.extend_from_slice(&from.ip().octets());
    packet.extend_from_slice(&to.ip().octets());
    packet.extend_from_slice(&from.port().to_be_bytes());
    packet.extend_from_slice(&to.port().to_be_bytes());
    packet.extend_from_slice(&udp_len.to_be_bytes());
    packet.extend_from_slice(&[0, 0]); // no UDP checksum
    packet.extend_from_slice(payload);
    let dest = std::net::SocketAddr::V4(std::net::SocketAddrV4::new(*to.ip(), 0));
    s.send_to(&packet, &dest.into())?;
    Ok(())
}

/// Runs `promtool check metrics` (Debian's `prometheus` package) on `text`, the body of a
/// `/metrics` page named `what`, and panics with its findings if it is not clean. Without
/// promtool it prints a visible `skipped` line and returns false, except on CI (`CI` set),
/// where .ci/run installs it and its absence fails the test.
pub fn promtool_check(what: &str, text: &str) -> bool {
    use std::io::Write as _;
    use std::process::Stdio;
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("promtool").is_file()));
    if !found {
        let why = "promtool not found (apt-get install prometheus; .ci/run does this)";
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
            panic!("{what}: the /metrics check needs promtool on CI: {why}");
        }
        // Written to the stderr handle itself, which the test harness does not capture.
        let _ = writeln!(std::io::stderr(), "skipped: {what}: {why}");
        return false;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && findings.trim().is_empty(),
        "{what}: promtool check metrics is not clean ({}):\n{findings}\n--- the page:\n{text}",
        out.status
    );
    true
}
