//! Multi-process + greenlets (`mayfly serve … --workers N`): a supervisor that runs N
//! single-worker server processes sharing one port with SO_REUSEPORT, restarts a worker that
//! dies (with back-off, giving up when workers die in a loop), and stops them all with
//! SIGTERM so each drains for its grace period. A worker that sends no heartbeat for
//! [`Options::worker_timeout`] (its one thread stuck: a handler that spins or blocks it, a
//! SIGSTOP) is killed with SIGKILL and restarted like a worker that died
//! ([`crate::supervisor_heartbeat`]).
//!
//! The supervisor binds the address first ([`hold_port`], SO_REUSEPORT on, never listening)
//! so port 0 resolves to one port the workers then bind, and the port stays ours while a
//! worker restarts. A port held by another program without SO_REUSEPORT (or by another user)
//! makes that first bind fail with `AddrInUse`: never a silent share. The kernel spreads new
//! connections over the workers' listening sockets by a hash of the connection's addresses;
//! the bound, non-listening socket of the supervisor gets none.
//!
//! What the workers are is the caller's business: [`Supervisor::start`] takes a function
//! that builds the command of one worker (the binary re-executes itself with a hidden
//! flag). Each worker must print `listening on ADDR` ([`mayfly_proto::child::Announce`]) on
//! stdout when it accepts, stop on SIGTERM, and, unless `worker_timeout` is zero, beat on
//! the descriptor it is given ([`crate::supervisor_heartbeat::start_from_env`]).
//!
//! ```no_run
//! use std::process::Command;
//! use mayfly_servers::supervisor::{hold_port, Options, Supervisor};
//! let held = hold_port("127.0.0.1:0")?;
//! let addr = held.local_addr()?.as_socket().unwrap();
//! let opts = Options::new(2);
//! let mut sup = Supervisor::start(&opts, move || {
//!     let mut c = Command::new("mayfly");
//!     c.args(["serve", "echo", "--worker", "--addr", &addr.to_string()]);
//!     c
//! })?;
//! println!("listening on {addr}");
//! sup.run(|| None::<i32>)?; // until a stop is asked for, or workers die in a loop
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly_proto::child::Announce;
use socket2::{Domain, Socket, Type};

use crate::supervisor_heartbeat::{self as heartbeat, Channel};

/// Default [`Options::max_deaths`]: this many worker deaths within
/// [`DEFAULT_DEATH_WINDOW`] and the supervisor gives up.
pub const DEFAULT_MAX_DEATHS: u32 = 5;
/// Default [`Options::death_window`].
pub const DEFAULT_DEATH_WINDOW: Duration = Duration::from_secs(10);
/// Default [`Options::restart_backoff`]: the wait before the first restart; it doubles
/// with each death still inside the window.
pub const DEFAULT_RESTART_BACKOFF: Duration = Duration::from_millis(100);
/// Default [`Options::max_restart_backoff`].
pub const DEFAULT_MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);
/// Default [`Options::start_timeout`]: how long a worker has to say `listening on`.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Options::stop_slack`]: after SIGTERM, a worker gets its grace period plus this
/// before it is killed.
pub const DEFAULT_STOP_SLACK: Duration = Duration::from_secs(5);
/// Default [`Options::worker_timeout`] (gunicorn's `--timeout`).
pub const DEFAULT_WORKER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the supervisor checks for a stop request and dead workers.
const TICK: Duration = Duration::from_millis(50);

/// How to supervise.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker processes (at least 1).
    pub workers: usize,
    /// Give up after this many deaths within `death_window`.
    pub max_deaths: u32,
    /// The window deaths are counted in.
    pub death_window: Duration,
    /// Wait before restarting after the first death in the window.
    pub restart_backoff: Duration,
    /// Longest wait before a restart.
    pub max_restart_backoff: Duration,
    /// How long a starting worker has to print `listening on`.
    pub start_timeout: Duration,
    /// The workers' drain period (`--grace`); a stopping worker gets this plus `stop_slack`.
    pub grace: Duration,
    /// See [`DEFAULT_STOP_SLACK`].
    pub stop_slack: Duration,
    /// Kill (SIGKILL) and restart a worker that sent no heartbeat for this long; zero: no
    /// heartbeats. The silence of a new worker is counted from its start.
    pub worker_timeout: Duration,
}

impl Options {
    /// Defaults for `workers` workers (and [`crate::DEFAULT_GRACE`]).
    pub fn new(workers: usize) -> Options {
        Options {
            workers: workers.max(1),
            max_deaths: DEFAULT_MAX_DEATHS,
            death_window: DEFAULT_DEATH_WINDOW,
            restart_backoff: DEFAULT_RESTART_BACKOFF,
            max_restart_backoff: DEFAULT_MAX_RESTART_BACKOFF,
            start_timeout: DEFAULT_START_TIMEOUT,
            grace: crate::DEFAULT_GRACE,
            stop_slack: DEFAULT_STOP_SLACK,
            worker_timeout: DEFAULT_WORKER_TIMEOUT,
        }
    }
}

/// Why supervising failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A worker could not be started.
    #[error("starting worker {worker}: {source}")]
    Spawn {
        /// Its index.
        worker: usize,
        /// The spawn error.
        source: io::Error,
    },
    /// A worker exited, or said nothing, before it listened.
    #[error("worker {worker} did not start: {reason}")]
    NotReady {
        /// Its index.
        worker: usize,
        /// What happened instead.
        reason: String,
    },
    /// Workers died `deaths` times within `window`: the supervisor stopped the rest.
    #[error(
        "workers died {deaths} times within {window:?}; giving up (last: worker {worker} {status})"
    )]
    DeathLoop {
        /// Deaths counted.
        deaths: u32,
        /// The window.
        window: Duration,
        /// The last worker that died.
        worker: usize,
        /// How it died.
        status: ExitStatus,
    },
    /// After SIGTERM, some workers did not exit cleanly (status not 0, or killed at the limit).
    #[error("{0} worker(s) did not stop cleanly")]
    UncleanStop(usize),
}

/// The number of CPUs this process may run on ([`mayfly::process::cpus_allowed`]), at least
/// 1: what `--workers auto` means.
///
/// ```
/// assert!(mayfly_servers::supervisor::cpus() >= 1);
/// ```
pub fn cpus() -> usize {
    mayfly::process::cpus_allowed().len().max(1)
}

/// Binds `addr` (SO_REUSEADDR and SO_REUSEPORT, not listening) and returns the socket: keep
/// it while the workers run. Its `local_addr` is the port the workers must bind.
///
/// # Errors
/// The resolution error, or the bind error of the first address: `AddrInUse` when another
/// socket holds the port without SO_REUSEPORT or belongs to another user.
pub fn hold_port(addr: &str) -> io::Result<Socket> {
    let a: SocketAddr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
    let s = Socket::new(Domain::for_address(a), Type::STREAM, None)?;
    s.set_cloexec(true)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&a.into())?;
    Ok(s)
}

/// What [`DeathBook::record`] decides after a worker dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart it after this wait.
    Restart(Duration),
    /// Too many deaths within the window: give up.
    GiveUp(u32),
}

/// The deaths within the window, and the back-off they call for.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mayfly_servers::supervisor::{DeathBook, Options, Verdict};
/// let mut book = DeathBook::new(&Options::new(2));
/// let t = Instant::now();
/// assert_eq!(book.record(t), Verdict::Restart(Duration::from_millis(100)));
/// assert_eq!(book.record(t), Verdict::Restart(Duration::from_millis(200)));
/// ```
#[derive(Debug)]
pub struct DeathBook {
    deaths: VecDeque<Instant>,
    max: u32,
    window: Duration,
    backoff: Duration,
    max_backoff: Duration,
}

impl DeathBook {
    /// An empty book with the limits of `opts`.
    pub fn new(opts: &Options) -> DeathBook {
        DeathBook {
            deaths: VecDeque::new(),
            max: opts.max_deaths.max(1),
            window: opts.death_window,
            backoff: opts.restart_backoff,
            max_backoff: opts.max_restart_backoff,
        }
    }

    /// Records a death at `now`: restart after a back-off that doubles with each death in
    /// the window, or give up once the window holds `max_deaths`.
    pub fn record(&mut self, now: Instant) -> Verdict {
        while let Some(&t) = self.deaths.front() {
            if now.saturating_duration_since(t) >= self.window {
                self.deaths.pop_front();
            } else {
                break;
            }
        }
        self.deaths.push_back(now);
        let n = self.deaths.len() as u32;
        if n >= self.max {
            return Verdict::GiveUp(n);
        }
        let factor = 1u32 << (n - 1).min(16);
        Verdict::Restart(self.backoff.saturating_mul(factor).min(self.max_backoff))
    }
}

/// What the supervisor knows of one worker slot, shared with its stats page
/// ([`crate::supervisor_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The live worker's pid (`None` while it restarts).
    pub pid: Option<u32>,
    /// Where its stats page listens, once it said `stats on ADDR`.
    pub stats: Option<SocketAddr>,
}

/// The workers by slot, updated as they start, announce and die.
pub type Roster = Arc<Mutex<Vec<WorkerInfo>>>;

/// What the supervisor counts, shared with its stats page.
#[derive(Debug, Default)]
pub struct Counters {
    /// Workers that died (or were killed) while the supervisor ran, before any stop.
    pub worker_exits: AtomicU64,
    /// Workers killed for sending no heartbeat within [`Options::worker_timeout`] (each is
    /// also a worker exit).
    pub worker_timeouts: AtomicU64,
}

/// A line (or the end) of a worker's stdout: slot, pid, what it said.
type Said = (usize, u32, io::Result<Announce>);

/// One worker slot: its process, or when it restarts.
struct Slot {
    child: Option<Child>,
    restart_at: Option<Instant>,
    /// SIGKILLed for its silence; not yet reaped.
    killed: bool,
    /// The worker said `listening on`. One stopped before it had was still starting: a
    /// mayfly worker takes its stop signals before it listens, so until then SIGTERM simply
    /// ends it, with nothing to drain.
    listening: bool,
}

/// The running workers.
pub struct Supervisor {
    opts: Options,
    make: Box<dyn FnMut() -> Command>,
    slots: Vec<Slot>,
    book: DeathBook,
    ready: mpsc::Receiver<Said>,
    ready_tx: mpsc::Sender<Said>,
    roster: Roster,
    counters: Arc<Counters>,
    beats: heartbeat::Listener,
}

impl Supervisor {
    /// Starts `opts.workers` workers, each the command `make` builds, and waits until each
    /// prints `listening on ADDR`. Each worker gets SIGTERM if the supervisor dies.
    ///
    /// # Errors
    /// [`Error::Spawn`] or [`Error::NotReady`] (the workers already started are stopped).
    pub fn start(
        opts: &Options,
        make: impl FnMut() -> Command + 'static,
    ) -> Result<Supervisor, Error> {
        let (ready_tx, ready) = mpsc::channel();
        let mut sup = Supervisor {
            opts: opts.clone(),
            make: Box::new(make),
            slots: Vec::new(),
            book: DeathBook::new(opts),
            ready,
            ready_tx,
            roster: Arc::new(Mutex::new(vec![WorkerInfo::default(); opts.workers])),
            counters: Arc::new(Counters::default()),
            beats: heartbeat::Listener::new(opts.workers),
        };
        for i in 0..sup.opts.workers {
            let child = match sup.spawn(i) {
                Ok(c) => c,
                Err(e) => {
                    sup.kill_all();
                    return Err(e);
                }
            };
            sup.set_info(i, Some(child.id()), None);
            sup.slots.push(Slot {
                child: Some(child),
                restart_at: None,
                killed: false,
                listening: false,
            });
        }
        if let Err(e) = sup.wait_ready() {
            sup.kill_all();
            return Err(e);
        }
        // Each worker beat before it said `listening on`: take those beats now, so a start
        // slower than the worker timeout is not taken for silence.
        sup.beats.poll(Duration::ZERO);
        Ok(sup)
    }

    /// The PIDs of the live workers, by slot.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.slots
            .iter()
            .map(|s| s.child.as_ref().map(Child::id))
            .collect()
    }

    /// The workers as they are now (shared: it follows restarts).
    pub fn roster(&self) -> Roster {
        self.roster.clone()
    }

    /// The supervisor's counters (shared: they follow the run).
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    fn set_info(&self, i: usize, pid: Option<u32>, stats: Option<SocketAddr>) {
        if let Some(w) = self
            .roster
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(i)
        {
            *w = WorkerInfo { pid, stats };
        }
    }

    /// Notes a worker's `stats on ADDR` and `listening on ADDR` (if that worker still runs);
    /// returns what it said.
    fn note(&mut self, said: Said) -> Said {
        match &said {
            (i, pid, Ok(Announce::Stats(a))) => {
                let mut r = self.roster.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = r.get_mut(*i).filter(|w| w.pid == Some(*pid)) {
                    w.stats = Some(*a);
                }
            }
            (i, pid, Ok(Announce::Listening(_))) => {
                if let Some(s) = self.slots.get_mut(*i) {
                    if s.child.as_ref().map(Child::id) == Some(*pid) {
                        s.listening = true;
                    }
                }
            }
            _ => {}
        }
        said
    }

    fn spawn(&mut self, i: usize) -> Result<Child, Error> {
        let mut cmd = (self.make)();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        // The death signal follows the thread that forked: the supervisor forks only from the
        // thread that runs it, which lives as long as it supervises. SIGTERM: a worker drains.
        mayfly::process::signal_when_parent_dies(&mut cmd, libc::SIGTERM);
        let channel = if self.opts.worker_timeout.is_zero() {
            None
        } else {
            let c = Channel::new().map_err(|source| Error::Spawn { worker: i, source })?;
            c.prepare(&mut cmd, heartbeat::interval_for(self.opts.worker_timeout));
            Some(c)
        };
        let mut child = cmd
            .spawn()
            .map_err(|source| Error::Spawn { worker: i, source })?;
        // The worker's end closes here: only the worker holds it now.
        match channel {
            Some(c) => self
                .beats
                .connect(i, c.into_supervisor_end(), Instant::now()),
            None => self.beats.disconnect(i),
        }
        let out = child.stdout.take().expect("stdout is piped");
        let tx = self.ready_tx.clone();
        let pid = child.id();
        // Reads the worker's announcements, then keeps its stdout drained until it exits.
        let _ = std::thread::Builder::new()
            .name(format!("worker-{i}-stdout"))
            .spawn(move || {
                let mut sent = false;
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Some(a) = Announce::parse_line(&line) {
                        sent |= matches!(a, Announce::Listening(_));
                        let _ = tx.send((i, pid, Ok(a)));
                    }
                }
                if !sent {
                    let e = io::Error::other("stdout closed before `listening on`");
                    let _ = tx.send((i, pid, Err(e)));
                }
            });
        Ok(child)
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = mayfly::deadline_after(self.opts.start_timeout);
        let mut waiting: Vec<bool> = vec![true; self.slots.len()];
        while waiting.iter().any(|w| *w) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ready.recv_timeout(left).map(|m| self.note(m)) {
                Ok((_, _, Ok(Announce::Stats(_)))) => {}
                Ok((i, _, Ok(_))) => waiting[i] = false,
                Ok((i, _, Err(e))) => {
                    let soon = Instant::now() + Duration::from_secs(1);
                    let status = self.slots[i]
                        .child
                        .as_mut()
                        .and_then(|c| wait_until(c, soon));
                    let reason = match status {
                        Some(st) => format!("{e}; it exited with {st}"),
                        None => e.to_string(),
                    };
                    return Err(Error::NotReady { worker: i, reason });
                }
                Err(_) => {
                    let worker = waiting.iter().position(|w| *w).unwrap_or(0);
                    return Err(Error::NotReady {
                        worker,
                        reason: format!("no `listening on` within {:?}", self.opts.start_timeout),
                    });
                }
            }
        }
        Ok(())
    }

    /// Supervises until `stop` returns a signal number (then SIGTERMs every worker, waits for
    /// them to drain, and returns `Ok`), restarting workers that die.
    ///
    /// # Errors
    /// [`Error::DeathLoop`] when workers die too often (the rest are stopped first);
    /// [`Error::UncleanStop`] when a worker did not exit with status 0 after SIGTERM.
    pub fn run(&mut self, mut stop: impl FnMut() -> Option<i32>) -> Result<(), Error> {
        loop {
            if stop().is_some() {
                return self.stop_all();
            }
            let now = Instant::now();
            for i in 0..self.slots.len() {
                self.reap(i, now)?;
                self.kill_if_silent(i, now);
                if self.slots[i].restart_at.is_some_and(|t| t <= now) {
                    match self.spawn(i) {
                        Ok(c) => {
                            log::info!(worker = i, worker_pid = c.id(); "worker {i} restarted as pid {}", c.id());
                            self.set_info(i, Some(c.id()), None);
                            self.slots[i].child = Some(c);
                            self.slots[i].restart_at = None;
                            self.slots[i].killed = false;
                            self.slots[i].listening = false;
                        }
                        Err(e) => {
                            log::error!(worker = i, error:% = e; "{e}");
                            self.schedule(i, now, ExitStatus::from_raw(1 << 8))?;
                        }
                    }
                }
            }
            // Restarted workers' stats pages and `listening on`; nobody waits for them.
            self.note_announcements();
            // The tick's wait, cut short by any worker's beat.
            self.beats.poll(TICK);
        }
    }

    /// SIGKILLs slot `i`'s worker if it has been silent for the worker timeout (the next
    /// [`Supervisor::reap`] restarts it as a death).
    fn kill_if_silent(&mut self, i: usize, now: Instant) {
        let timeout = self.opts.worker_timeout;
        let slot = &mut self.slots[i];
        let Some(child) = slot.child.as_ref() else {
            return;
        };
        if timeout.is_zero() || slot.killed {
            return;
        }
        if self.beats.silent_for(i, now).is_some_and(|s| s >= timeout) {
            signal(child, libc::SIGKILL);
            slot.killed = true;
            self.counters
                .worker_timeouts
                .fetch_add(1, Ordering::Relaxed);
            log::warn!(worker = i, worker_pid = child.id(), timeout:? = timeout;
                "worker {i} (pid {}) sent no heartbeat for {timeout:?}: killed",
                child.id()
            );
        }
    }

    fn reap(&mut self, i: usize, now: Instant) -> Result<(), Error> {
        let Some(child) = self.slots[i].child.as_mut() else {
            return Ok(());
        };
        let status = match child.try_wait() {
            Ok(Some(st)) => st,
            Ok(None) | Err(_) => return Ok(()),
        };
        let pid = child.id();
        self.slots[i].child = None;
        self.set_info(i, None, None);
        self.beats.disconnect(i);
        self.counters.worker_exits.fetch_add(1, Ordering::Relaxed);
        log::warn!(worker = i, worker_pid = pid, status:% = status; "worker {i} (pid {pid}) exited: {status}");
        self.schedule(i, now, status)
    }

    fn schedule(&mut self, i: usize, now: Instant, status: ExitStatus) -> Result<(), Error> {
        match self.book.record(now) {
            Verdict::Restart(wait) => {
                log::info!(worker = i, wait:? = wait; "restarting worker {i} in {wait:?}");
                self.slots[i].restart_at = Some(now + wait);
                Ok(())
            }
            Verdict::GiveUp(deaths) => {
                log::error!(deaths = deaths, worker = i;
                    "workers died {deaths} times within {:?}; stopping the rest",
                    self.opts.death_window
                );
                let _ = self.stop_all();
                Err(Error::DeathLoop {
                    deaths,
                    window: self.opts.death_window,
                    worker: i,
                    status,
                })
            }
        }
    }

    /// Takes what the workers have said since the last call.
    fn note_announcements(&mut self) {
        while let Ok(m) = self.ready.try_recv() {
            let _ = self.note(m);
        }
    }

    /// SIGTERM to every live worker, then waits up to grace + slack for each (SIGKILL after).
    /// A worker ended by the SIGTERM before it said `listening on` (a restart still starting)
    /// stopped cleanly: it had no connections to drain.
    fn stop_all(&mut self) -> Result<(), Error> {
        self.note_announcements();
        for s in &mut self.slots {
            s.restart_at = None;
            if let Some(c) = &s.child {
                signal(c, libc::SIGTERM);
            }
        }
        let deadline = mayfly::deadline_after(self.opts.grace.saturating_add(self.opts.stop_slack));
        let mut unclean = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(mut c) = s.child.take() else {
                continue;
            };
            match wait_until(&mut c, deadline) {
                Some(st) if st.success() => {}
                Some(st) if !s.listening && st.signal() == Some(libc::SIGTERM) => {
                    log::info!(worker = i, worker_pid = c.id();
                        "worker {i} (pid {}) was still starting: stopped", c.id());
                }
                _ => unclean += 1,
            }
        }
        if unclean > 0 {
            return Err(Error::UncleanStop(unclean));
        }
        Ok(())
    }

    fn kill_all(&mut self) {
        for s in &mut self.slots {
            if let Some(mut c) = s.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn signal(c: &Child, sig: i32) {
    if let Ok(pid) = i32::try_from(c.id()) {
        // SAFETY: kill(2) with the pid of a child we have not reaped yet (so not reused).
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Waits for `c` until `deadline`, then kills it; `None` if it had to be killed.
fn wait_until(c: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = c.kill();
            let _ = c.wait();
            return None;
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max: u32) -> Options {
        let mut o = Options::new(2);
        o.max_deaths = max;
        o.death_window = Duration::from_secs(10);
        o.restart_backoff = Duration::from_millis(100);
        o.max_restart_backoff = Duration::from_millis(350);
        o
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_then_gives_up() {
        let mut b = DeathBook::new(&opts(5));
        let t = Instant::now();
        assert_eq!(b.record(t), Verdict::Restart(Duration::from_millis(100)));
        assert_eq!(b.record(t), Verdict::Restart(Duration::from_millis(200)));
        assert_eq!(b.record(t), Verdict::Restart(Duration::from_millis(350)));
        assert_eq!(b.record(t), Verdict::Restart(Duration::from_millis(350)));
        assert_eq!(b.record(t), Verdict::GiveUp(5));
    }

    #[test]
    fn deaths_outside_the_window_are_forgotten() {
        let mut b = DeathBook::new(&opts(3));
        let t = Instant::now();
        assert!(matches!(b.record(t), Verdict::Restart(_)));
        assert!(matches!(b.record(t), Verdict::Restart(_)));
        // Ten seconds later the two old deaths no longer count: back to the first back-off.
        let later = t + Duration::from_secs(10);
        assert_eq!(
            b.record(later),
            Verdict::Restart(Duration::from_millis(100))
        );
        assert_eq!(
            b.record(later),
            Verdict::Restart(Duration::from_millis(200))
        );
        assert_eq!(b.record(later), Verdict::GiveUp(3));
    }

    #[test]
    fn a_port_held_without_reuseport_is_refused() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = other.local_addr().unwrap().to_string();
        let e = hold_port(&addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_held_port_admits_reuseport_listeners_and_resolves_port_zero() {
        let held = hold_port("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap().as_socket().unwrap();
        assert_ne!(addr.port(), 0);
        let l = mayfly::net::Bind::new(addr).reuse_port(true).tcp().unwrap();
        assert_eq!(l.local_addr().unwrap(), addr);
        // Without SO_REUSEPORT the port is refused.
        assert!(mayfly::net::Bind::new(addr).tcp().is_err());
    }

    #[test]
    fn a_worker_that_never_listens_is_reported() {
        let e = match Supervisor::start(&Options::new(1), || {
            let mut c = Command::new("sh");
            c.args(["-c", "echo hello; exit 3"]);
            c
        }) {
            Err(e) => e,
            Ok(_) => panic!("started"),
        };
        assert!(matches!(e, Error::NotReady { worker: 0, .. }), "{e}");
        assert!(e.to_string().contains("exit status: 3"), "{e}");
    }

    #[test]
    fn a_worker_silent_past_the_start_timeout_is_reported() {
        let mut o = Options::new(1);
        o.start_timeout = Duration::from_millis(200);
        let e = match Supervisor::start(&o, || {
            let mut c = Command::new("sleep");
            c.arg("30");
            c
        }) {
            Err(e) => e,
            Ok(_) => panic!("started"),
        };
        assert!(e.to_string().contains("no `listening on` within"), "{e}");
    }

    #[test]
    fn workers_that_die_in_a_loop_make_it_give_up() {
        let mut o = Options::new(2);
        o.restart_backoff = Duration::from_millis(1);
        o.max_restart_backoff = Duration::from_millis(1);
        o.death_window = Duration::from_secs(3600);
        o.max_deaths = 4;
        let mut sup = Supervisor::start(&o, || {
            let mut c = Command::new("sh");
            c.args(["-c", "echo listening on 127.0.0.1:1; exit 7"]);
            c
        })
        .unwrap();
        let e = sup.run(|| None).unwrap_err();
        assert!(matches!(e, Error::DeathLoop { deaths: 4, .. }), "{e}");
    }

    /// A worker that exits 0 on SIGTERM and never beats.
    fn silent_worker() -> Command {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "trap 'exit 0' TERM; echo listening on 127.0.0.1:1; while :; do sleep 0.05; done",
        ]);
        c
    }

    #[test]
    fn a_silent_worker_is_killed_counted_and_restarted() {
        let mut o = Options::new(1);
        o.worker_timeout = Duration::from_millis(300);
        let mut sup = Supervisor::start(&o, silent_worker).unwrap();
        let first = sup.pids()[0].unwrap();
        let counters = sup.counters();
        let roster = sup.roster();
        let t = Instant::now();
        sup.run(|| {
            let now = roster.lock().unwrap()[0].pid;
            let replaced = now.is_some_and(|p| p != first);
            let done = counters.worker_timeouts.load(Ordering::Relaxed) >= 1 && replaced;
            (done || t.elapsed() > Duration::from_secs(10)).then_some(libc::SIGTERM)
        })
        .unwrap();
        assert_eq!(counters.worker_timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(counters.worker_exits.load(Ordering::Relaxed), 1);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn without_a_worker_timeout_a_silent_worker_lives() {
        let mut o = Options::new(1);
        o.worker_timeout = Duration::ZERO;
        let mut sup = Supervisor::start(&o, silent_worker).unwrap();
        let t = Instant::now();
        sup.run(|| (t.elapsed() > Duration::from_millis(500)).then_some(libc::SIGTERM))
            .unwrap();
        assert_eq!(sup.counters().worker_timeouts.load(Ordering::Relaxed), 0);
        assert_eq!(sup.counters().worker_exits.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_stop_while_a_restarted_worker_is_still_starting_is_clean() {
        // The first run listens then exits; the restart never gets to `listening on` and takes
        // no SIGTERM handler (a mayfly worker before it registers its signals): the stop ends
        // it, and that is a clean stop. One that had listened and died by SIGTERM is not.
        let dir = std::env::temp_dir().join(format!("mayfly-sup-start-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let marker = dir.display().to_string();
        let script = format!(
            "if [ -e {marker} ]; then exec sleep 30; fi; touch {marker}; \
             echo listening on 127.0.0.1:1; exit 1"
        );
        let mut o = Options::new(1);
        o.restart_backoff = Duration::from_millis(1);
        let mut sup = Supervisor::start(&o, move || {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        })
        .unwrap();
        let first = sup.pids()[0].unwrap();
        let roster = sup.roster();
        let t = Instant::now();
        let r = sup.run(|| {
            let now = roster.lock().unwrap()[0].pid;
            (now.is_some_and(|p| p != first) || t.elapsed() > Duration::from_secs(10))
                .then_some(libc::SIGTERM)
        });
        let _ = std::fs::remove_file(&dir);
        assert!(t.elapsed() < Duration::from_secs(10), "never restarted");
        r.unwrap();

        // A worker that listened and has no handler: SIGTERM ends it, and that is unclean.
        let mut sup = Supervisor::start(&Options::new(1), || {
            let mut c = Command::new("sh");
            c.args(["-c", "echo listening on 127.0.0.1:1; exec sleep 30"]);
            c
        })
        .unwrap();
        let e = sup.run(|| Some(libc::SIGTERM)).unwrap_err();
        assert!(matches!(e, Error::UncleanStop(1)), "{e}");
    }

    #[test]
    fn a_stop_terminates_every_worker_and_is_clean() {
        let mut sup = Supervisor::start(&Options::new(2), || {
            let mut c = Command::new("sh");
            // A worker that exits 0 on SIGTERM.
            c.args([
                "-c",
                "trap 'exit 0' TERM; echo listening on 127.0.0.1:1; while :; do sleep 0.05; done",
            ]);
            c
        })
        .unwrap();
        let pids: Vec<u32> = sup.pids().into_iter().flatten().collect();
        assert_eq!(pids.len(), 2);
        sup.run(|| Some(libc::SIGTERM)).unwrap();
        for p in pids {
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(p as i32, 0) } == 0;
            assert!(!alive, "worker {p} still runs");
        }
    }
}
