//! The stress client: the course's 500-thread load test, done carefully.
//!
//! Each connection loops: send `Thread-<i> say hello <k>`, read *exactly* as many bytes back
//! (TCP is a stream: one `recv` is not one message), check they are the uppercase of what was
//! sent, record the round-trip time. Two ways to drive the connections:
//!
//! - [`ClientMode::Threads`]: OS threads with `std::net` (the course's client); `connections`
//!   are spread over `threads` threads, each serving its share in turn.
//! - [`ClientMode::Coroutine`]: one mayfly greenlet per connection, all on one worker thread —
//!   10,000+ connections from one process.
//!
//! Either way the load is fair: every connection gets its turn, one round trip, then the next
//! connection. A thread walks its connections in order; a greenlet yields after every round
//! trip, so one whose reply is already waiting cannot loop again ahead of the others. The
//! report says how even the result was ([`Fairness`]: requests per connection and Jain's
//! index), so a server that starves some clients shows it.
//!
//! Latency ([`LATENCY_METHOD`]) is per round trip, from just before the first byte of the
//! request is written to just after the last byte of the reply is read.
//!
//! The measured window opens when every connection is up and lasts `duration`; only replies
//! that arrive inside it count (requests, latency, fairness). Requests still in flight when it
//! closes get [`DRAIN`] to finish, uncounted, so the run ends promptly and cleanly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub use crate::fairness::Fairness;
use mayfly_proto::child::{Window, WindowMark};

use crate::pace::Pacer;
use crate::stress_conn::{GreenConn, Timed};
use crate::tls_conn::{ClientTls, StdConn};
use serde::{Deserialize, Serialize};

/// How the client drives its connections (the names are the protocol's: `mayfly_proto::echo`).
pub use mayfly_proto::echo::ClientMode;

/// Default [`StressOptions::threads`] (and connections): the course's 500.
pub const DEFAULT_THREADS: usize = 500;
/// Default [`StressOptions::duration`].
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default [`StressOptions::mode`]: the course's client.
pub const DEFAULT_MODE: ClientMode = ClientMode::Threads;

/// How [`StressReport::latency_us`] is measured, in words (reports quote it).
pub const LATENCY_METHOD: &str = "per round trip, from just before the first byte of the \
request is written to just after the last byte of the reply is read, on the client";

/// Options that cannot run.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum StressOptionsError {
    /// [`StressOptions::disconnect_rate`] is not a probability.
    #[error("--disconnect-rate must be between 0 and 1, not {0}")]
    DisconnectRate(f64),
    /// No connections, or no threads to drive them.
    #[error("--{0} must be at least 1")]
    Zero(&'static str),
    /// [`StressOptions::rate`] cannot pace anything.
    #[error(transparent)]
    Rate(#[from] crate::pace::RateError),
    /// A paced window with fewer slots than connections.
    #[error(transparent)]
    Slots(#[from] crate::pace::SlotsError),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct StressOptions {
    /// The echo server.
    pub addr: SocketAddr,
    /// OS threads (threads mode).
    pub threads: usize,
    /// Connections in total (at least `threads` in threads mode).
    pub connections: usize,
    /// How long to send requests once every connection is up.
    pub duration: Duration,
    /// Threads or greenlets.
    pub mode: ClientMode,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// A reply that takes longer than this counts as an I/O error and closes the connection.
    pub io_timeout: Duration,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Print `mayfly-stress: window start|end` to stderr when the measured window opens and
    /// closes (`mayfly compare` reads the servers' CPU time at those instants).
    pub marks: bool,
    /// Threads mode: after each request, with this probability, drop the connection — a
    /// clean close, a reset (SO_LINGER 0) or a reset in the middle of a message, in turn —
    /// and connect again. 0 (default): never. For soak tests.
    pub disconnect_rate: f64,
    /// Speak TLS (`--tls`): every connection handshakes first.
    pub tls: Option<ClientTls>,
    /// After this many replies on a connection, close it and open a new one (with TLS, a new
    /// handshake): `--reconnect-every N`. 0 (default): keep each connection.
    pub reconnect_every: u64,
    /// Requests per second over all connections (`--rate`, [`crate::pace`]): each request
    /// waits for its slot. `None` (default): every connection sends its next request as soon
    /// as it has the reply.
    pub rate: Option<f64>,
}

impl StressOptions {
    /// The course's defaults: 500 threads, one connection each, 10 s.
    pub fn new(addr: SocketAddr) -> Self {
        StressOptions {
            addr,
            threads: DEFAULT_THREADS,
            connections: DEFAULT_THREADS,
            duration: DEFAULT_DURATION,
            mode: DEFAULT_MODE,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(10),
            progress: false,
            marks: false,
            disconnect_rate: 0.0,
            tls: None,
            reconnect_every: 0,
            rate: None,
        }
    }

    /// These options, if they can run.
    ///
    /// # Errors
    ///
    /// [`StressOptionsError::Zero`] for zero connections or threads,
    /// [`StressOptionsError::DisconnectRate`] if `disconnect_rate` is not within 0..=1,
    /// [`StressOptionsError::Rate`] for a `rate` that is not above zero,
    /// [`StressOptionsError::Slots`] for one that gives some connections no request.
    ///
    /// ```
    /// use mayfly_clients::stress::{StressOptions, StressOptionsError};
    /// let mut o = StressOptions::new("127.0.0.1:1".parse().unwrap());
    /// o.connections = 0;
    /// assert_eq!(o.checked().unwrap_err(), StressOptionsError::Zero("connections"));
    /// ```
    pub fn checked(self) -> Result<Self, StressOptionsError> {
        if self.connections == 0 {
            return Err(StressOptionsError::Zero("connections"));
        }
        if self.threads == 0 {
            return Err(StressOptionsError::Zero("threads"));
        }
        if !(0.0..=1.0).contains(&self.disconnect_rate) {
            return Err(StressOptionsError::DisconnectRate(self.disconnect_rate));
        }
        if let Some(rate) = self.rate {
            crate::pace::check_rate(rate)?;
            crate::pace::check_slots(rate, self.duration, self.connections)?;
        }
        Ok(self)
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

/// What happened. `--json` prints exactly this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StressReport {
    /// Requests answered correctly.
    pub requests: u64,
    /// Correct requests per second of the measured window.
    pub rps: f64,
    /// Connections asked for.
    pub connections: u64,
    /// Connections that were established.
    pub connected: u64,
    /// Connections that could not be established.
    pub connect_errors: u64,
    /// Connections that failed mid-run (reset, timeout, early close).
    pub io_errors: u64,
    /// Replies that were not the uppercase of the request.
    pub wrong_replies: u64,
    /// Replies that arrived after the window closed (requests in flight at its end): correct,
    /// but not counted in `requests`. The server did answer them.
    #[serde(default)]
    pub after_window: u64,
    /// Deliberate disconnects followed by a new connection (`disconnect_rate`).
    #[serde(default)]
    pub reconnects: u64,
    /// Round-trip times of correct requests ([`LATENCY_METHOD`]).
    pub latency_us: Latency,
    /// How the correct replies were spread over the established connections.
    #[serde(default)]
    pub fairness: Fairness,
    /// Length of the measured window in seconds.
    pub seconds: f64,
    /// The offered rate in requests per second when the load was paced (`--rate`); `rps`
    /// below it means the client or the server could not keep up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// The first error seen, to say why connections failed.
    pub first_error: Option<String>,
    /// True when every connection was established and answered, and no I/O error or wrong
    /// reply happened (`mayfly stress` exits non-zero otherwise).
    #[serde(default)]
    pub ok: bool,
}

impl StressReport {
    /// Whether the run had no failure: at least one connection, every connection up and
    /// answered at least once, no I/O error, no wrong reply.
    pub fn succeeded(&self) -> bool {
        self.connected > 0
            && self.connect_errors == 0
            && self.io_errors == 0
            && self.wrong_replies == 0
            && self.fairness.unanswered == 0
    }
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    connected: AtomicU64,
    connect_errors: AtomicU64,
    io_errors: AtomicU64,
    wrong: AtomicU64,
    reconnects: AtomicU64,
    after_window: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn error(&self, counter: &AtomicU64, what: &str, e: &dyn std::fmt::Display) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.note(what, e);
    }

    fn note(&self, what: &str, e: &dyn std::fmt::Display) {
        let mut f = self.first_error.lock().unwrap();
        if f.is_none() {
            *f = Some(format!("{what}: {e}"));
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// After the measured window closes, how long a request already sent may still take before
/// its connection is given up. Not an error: the window is over. It keeps a connection the
/// server never answers from holding the run for the whole I/O timeout.
pub const DRAIN: Duration = Duration::from_secs(2);

/// A stream whose read and write timeouts can be changed (std and mayfly streams).
/// One connection's request loop, generic over std and mayfly streams.
struct Session<S> {
    stream: S,
    index: usize,
    name: String,
    k: u64,
    /// Correct replies in the measured window.
    replies: u64,
    /// The I/O timeout the stream has now.
    timeout: Duration,
    out: Vec<u8>,
    inp: Vec<u8>,
}

enum Step {
    Ok(Duration),
    Wrong,
}

impl<S: Read + Write + Timed> Session<S> {
    /// Shortens the stream's timeout so that a request sent now waits no longer than
    /// `cutoff` (give or take half a second, so the timeout changes at most twice a second).
    fn wait_at_most_until(&mut self, cutoff: Instant) -> io::Result<()> {
        let left = cutoff
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if left + Duration::from_millis(500) < self.timeout {
            self.stream.set_io_timeout(left)?;
            self.timeout = left;
        }
        Ok(())
    }

    fn new(stream: S, index: usize) -> Self {
        Session {
            stream,
            index,
            // Numbered from 1, as Python names its threads (`Thread-1`, …).
            name: format!("Thread-{}", index + 1),
            k: 0,
            replies: 0,
            timeout: Duration::MAX,
            out: Vec::with_capacity(64),
            inp: Vec::with_capacity(64),
        }
    }

    fn request(&mut self) -> io::Result<Step> {
        use std::fmt::Write as _;
        self.out.clear();
        let mut line = String::with_capacity(48);
        let _ = write!(line, "{} say hello {}", self.name, self.k);
        self.k += 1;
        self.out.extend_from_slice(line.as_bytes());
        let t = Instant::now();
        self.stream.write_all(&self.out)?;
        self.inp.resize(self.out.len(), 0);
        self.stream.read_exact(&mut self.inp)?;
        let took = t.elapsed();
        self.out.make_ascii_uppercase();
        Ok(if self.inp == self.out {
            Step::Ok(took)
        } else {
            Step::Wrong
        })
    }
}

/// Runs the load and returns the report.
pub fn run(opts: &StressOptions) -> StressReport {
    let _ = mayfly::process::raise_nofile();
    let tally = Arc::new(Tally::default());
    let done = Arc::new(AtomicBool::new(false));
    let progress = opts.progress.then(|| {
        let (t, d) = (tally.clone(), done.clone());
        std::thread::spawn(move || progress_loop(&t, &d))
    });
    let Load {
        hist,
        seconds,
        replies,
    } = match opts.mode {
        ClientMode::Threads => run_threads(opts, &tally),
        ClientMode::Coroutine => run_greenlets(opts, &tally),
    };
    done.store(true, Ordering::Release);
    if let Some(p) = progress {
        let _ = p.join();
    }
    let requests = tally.requests.load(Ordering::Relaxed);
    let first_error = tally.first_error.lock().unwrap().clone();
    let fairness = Fairness::of(&replies);
    let q = |p: f64| {
        if hist.is_empty() {
            0
        } else {
            hist.value_at_quantile(p)
        }
    };
    let mut report = StressReport {
        requests,
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        connections: opts.connections as u64,
        connected: tally.connected.load(Ordering::Relaxed),
        connect_errors: tally.connect_errors.load(Ordering::Relaxed),
        io_errors: tally.io_errors.load(Ordering::Relaxed),
        wrong_replies: tally.wrong.load(Ordering::Relaxed),
        reconnects: tally.reconnects.load(Ordering::Relaxed),
        after_window: tally.after_window.load(Ordering::Relaxed),
        latency_us: Latency {
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: hist.max(),
        },
        seconds,
        rate: opts.rate,
        first_error,
        fairness,
        ok: false,
    };
    report.ok = report.succeeded();
    report
}

/// What a run measured: the latency histogram, the window's length, and the correct replies
/// of each established connection.
struct Load {
    hist: Histogram<u64>,
    seconds: f64,
    replies: Vec<u64>,
}

fn progress_loop(t: &Tally, done: &AtomicBool) {
    let mut last = 0;
    let mut tick = Instant::now();
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100));
        if tick.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let now = t.requests.load(Ordering::Relaxed);
        let rate = (now - last) as f64 / tick.elapsed().as_secs_f64();
        eprint!(
            "\r{:>10} requests  {:>9.0} req/s  {:>6} connected  {} errors ",
            now,
            rate,
            t.connected.load(Ordering::Relaxed),
            t.connect_errors.load(Ordering::Relaxed)
                + t.io_errors.load(Ordering::Relaxed)
                + t.wrong.load(Ordering::Relaxed)
        );
        last = now;
        tick = Instant::now();
    }
    eprintln!();
}

/// Where client threads meet: each reports when its connections are up, then waits for the
/// start time. Unlike `Barrier`, the count is the threads that actually started.
#[derive(Default)]
struct Gate {
    state: Mutex<(usize, Option<Instant>)>,
    cv: std::sync::Condvar,
    /// Set when the gate opens, if the load is paced.
    pacer: OnceLock<Pacer>,
}

impl Gate {
    fn arrive_and_wait(&self) -> Instant {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        self.cv.notify_all();
        loop {
            if let Some(t) = st.1 {
                return t;
            }
            st = self.cv.wait(st).unwrap();
        }
    }

    /// Opens the gate once `arrived` threads wait at it; a paced load's slots start then.
    fn open_when(&self, arrived: usize, rate: Option<f64>) -> Instant {
        let mut st = self.state.lock().unwrap();
        while st.0 < arrived {
            st = self.cv.wait(st).unwrap();
        }
        let t = Instant::now();
        if let Some(p) = rate.and_then(|r| Pacer::new(r, t).ok()) {
            let _ = self.pacer.set(p);
        }
        st.1 = Some(t);
        self.cv.notify_all();
        t
    }
}

/// Threads mode: each thread connects its share, waits for all, then loops until the end.
fn run_threads(opts: &StressOptions, tally: &Arc<Tally>) -> Load {
    let threads = opts.threads.max(1).min(opts.connections.max(1));
    let gate = Arc::new(Gate::default());
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let (o, t, g) = (opts.clone(), tally.clone(), gate.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("Thread-{}", i + 1))
            .stack_size(128 * 1024)
            .spawn(move || client_thread(i, threads, &o, &t, &g));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Out of threads: this thread's connections are never made.
                let share = (i..opts.connections).step_by(threads).count();
                tally
                    .connect_errors
                    .fetch_add(share as u64, Ordering::Relaxed);
                tally.note("thread spawn", &e);
            }
        }
    }
    let t0 = gate.open_when(handles.len(), opts.rate);
    mark(opts, Window::Start);
    let end = t0 + opts.duration;
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    mark(opts, Window::End);
    let mut hist = histogram();
    let mut replies = Vec::with_capacity(opts.connections);
    for h in handles {
        if let Ok((local, counts)) = h.join() {
            let _ = hist.add(&local);
            replies.extend(counts);
        }
    }
    Load {
        hist,
        seconds: opts.duration.as_secs_f64(),
        replies,
    }
}

/// Prints a [`WindowMark`] (`mayfly-stress: window <start|end> cpu_us=<this process's CPU
/// time>`): the reader (`mayfly compare`) gets the client's CPU at the mark even if the client
/// exits right after.
fn mark(opts: &StressOptions, window: Window) {
    if opts.marks {
        let cpu_us =
            mayfly::process::sample(std::process::id()).map_or(0, |s| s.cpu.as_micros() as u64);
        eprintln!("{}", WindowMark { window, cpu_us });
    }
}

fn client_thread(
    i: usize,
    threads: usize,
    opts: &StressOptions,
    tally: &Tally,
    gate: &Gate,
) -> (Histogram<u64>, Vec<u64>) {
    let mut sessions = Vec::new();
    let mut replies = Vec::new();
    for c in (i..opts.connections).step_by(threads) {
        match connect_std(opts) {
            Ok(s) => {
                tally.connected.fetch_add(1, Ordering::Relaxed);
                sessions.push(Session::new(s, c));
            }
            Err(e) => tally.error(&tally.connect_errors, "connect", &e),
        }
    }
    let end = gate.arrive_and_wait() + opts.duration;
    let cutoff = end + DRAIN;
    for s in &mut sessions {
        s.timeout = opts.io_timeout;
    }
    let mut hist = histogram();
    let mut rng = XorShift::seeded(i as u64);
    while !sessions.is_empty() && Instant::now() < end {
        let mut k = 0;
        while k < sessions.len() && Instant::now() < end {
            if let Some(p) = gate.pacer.get() {
                if !p.wait_thread(end) {
                    break;
                }
            }
            let step = sessions[k]
                .wait_at_most_until(cutoff)
                .and_then(|()| sessions[k].request());
            match step {
                Ok(Step::Ok(_)) if Instant::now() >= end => {
                    // Answered after the window closed: not counted, and this connection is done.
                    tally.after_window.fetch_add(1, Ordering::Relaxed);
                    replies.push(sessions.swap_remove(k).replies);
                }
                Ok(Step::Ok(d)) => {
                    tally.requests.fetch_add(1, Ordering::Relaxed);
                    sessions[k].replies += 1;
                    let _ = hist.record(d.as_micros().max(1) as u64);
                    if due_for_reconnect(opts, sessions[k].replies) {
                        // A clean close (with TLS, close_notify) and a fresh connection.
                        match disconnect_and_reconnect(&mut sessions[k], 0, opts) {
                            Ok(()) => {
                                tally.reconnects.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                tally.error(&tally.connect_errors, "reconnect", &e);
                                replies.push(sessions.swap_remove(k).replies);
                                continue;
                            }
                        }
                    } else if opts.disconnect_rate > 0.0 && rng.chance(opts.disconnect_rate) {
                        let how = rng.next() % 3;
                        match disconnect_and_reconnect(&mut sessions[k], how, opts) {
                            Ok(()) => {
                                tally.reconnects.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                tally.error(&tally.connect_errors, "reconnect", &e);
                                replies.push(sessions.swap_remove(k).replies);
                                continue;
                            }
                        }
                    }
                    k += 1;
                }
                Ok(Step::Wrong) => {
                    tally.wrong.fetch_add(1, Ordering::Relaxed);
                    k += 1;
                }
                Err(e) if cut_off(&e, end) => {
                    replies.push(sessions.swap_remove(k).replies);
                }
                Err(e) => {
                    tally.error(&tally.io_errors, "i/o", &e);
                    replies.push(sessions.swap_remove(k).replies);
                }
            }
        }
    }
    replies.extend(sessions.iter().map(|s| s.replies));
    (hist, replies)
}

/// A request that timed out after the window closed: cut off by [`DRAIN`], not an error.
pub(crate) fn cut_off(e: &io::Error, end: Instant) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) && Instant::now() >= end
}

/// A threads-mode connection: connect timeout, TCP_NODELAY, the I/O timeout both ways.
fn connect_std(opts: &StressOptions) -> io::Result<StdConn> {
    let s = TcpStream::connect_timeout(&opts.addr, opts.connect_timeout)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(opts.io_timeout))?;
    s.set_write_timeout(Some(opts.io_timeout))?;
    StdConn::open(s, opts.tls.as_ref())
}

/// Whether a connection that has just given its `replies`-th reply is due for a fresh one
/// (`--reconnect-every`).
fn due_for_reconnect(opts: &StressOptions, replies: u64) -> bool {
    opts.reconnect_every > 0 && replies.is_multiple_of(opts.reconnect_every)
}

/// A tiny PRNG for the disconnect schedule (reproducible per thread).
pub(crate) struct XorShift(u64);

impl XorShift {
    /// The generator for client thread (or connection) `i`.
    pub(crate) fn seeded(i: u64) -> Self {
        XorShift(0x9E37_79B9_7F4A_7C15 ^ (i + 1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Drops `s`'s connection — 0: clean close, 1: reset, 2: half a message then reset — and
/// puts a fresh connection in its place.
fn disconnect_and_reconnect(
    s: &mut Session<StdConn>,
    how: u64,
    opts: &StressOptions,
) -> io::Result<()> {
    if how >= 1 {
        if how == 2 {
            let _ = s.stream.write_all(format!("{} say hel", s.name).as_bytes());
        }
        let _ = socket2::SockRef::from(s.stream.tcp()).set_linger(Some(Duration::ZERO));
    }
    let fresh = connect_std(opts)?;
    let (k, replies) = (s.k, s.replies);
    *s = Session::new(fresh, s.index);
    s.k = k;
    s.replies = replies;
    s.timeout = opts.io_timeout;
    Ok(())
}

/// The measured window of a coroutine-mode load, set when it opens.
struct Opened {
    end: Instant,
    /// The slots of a paced load (`--rate`).
    pacer: Option<Pacer>,
}

/// Coroutine mode: one greenlet per connection on mayfly's one worker thread.
fn run_greenlets(opts: &StressOptions, tally: &Arc<Tally>) -> Load {
    let opts = opts.clone();
    let tally = tally.clone();
    mayfly::run(move || {
        let go = Arc::new(mayfly::event::Event::new());
        let ready = Arc::new(AtomicU64::new(0));
        let opened = Arc::new(OnceLock::<Opened>::new());
        let hist = Arc::new(Mutex::new(histogram()));
        let mut gs = Vec::with_capacity(opts.connections);
        for c in 0..opts.connections {
            let (o, t, g, r, e, h) = (
                opts.clone(),
                tally.clone(),
                go.clone(),
                ready.clone(),
                opened.clone(),
                hist.clone(),
            );
            // rustls needs up to 60 KiB of stack in an unoptimised build (docs/BENCHMARKS.md).
            let stack = if opts.tls.is_some() {
                mayfly::tls::TLS_STACK_SIZE
            } else {
                32 * 1024
            };
            let spawned = mayfly::Builder::new()
                .stack_size(stack)
                .spawn(move || client_greenlet(c, &o, &t, &g, &r, &e, &h));
            match spawned {
                Ok(g) => gs.push(g),
                Err(e) => {
                    tally.error(&tally.connect_errors, "spawn", &e);
                    ready.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        while ready.load(Ordering::Acquire) < opts.connections as u64 {
            mayfly::sleep(Duration::from_millis(5));
        }
        let t0 = Instant::now();
        let _ = opened.set(Opened {
            end: t0 + opts.duration,
            pacer: opts.rate.and_then(|r| Pacer::new(r, t0).ok()),
        });
        mark(&opts, Window::Start);
        go.set();
        mayfly::sleep_until(t0 + opts.duration);
        mark(&opts, Window::End);
        let replies: Vec<u64> = gs
            .into_iter()
            .filter_map(|g| g.get().ok().flatten())
            .collect();
        let hist = hist.lock().unwrap().clone();
        Load {
            hist,
            seconds: opts.duration.as_secs_f64(),
            replies,
        }
    })
}

fn client_greenlet(
    c: usize,
    opts: &StressOptions,
    tally: &Tally,
    go: &mayfly::event::Event,
    ready: &AtomicU64,
    opened: &OnceLock<Opened>,
    hist: &Mutex<Histogram<u64>>,
) -> Option<u64> {
    let stream = match connect_green(opts) {
        Ok(s) => {
            tally.connected.fetch_add(1, Ordering::Relaxed);
            s
        }
        Err(e) => {
            tally.error(&tally.connect_errors, "connect", &e);
            ready.fetch_add(1, Ordering::AcqRel);
            return None;
        }
    };
    ready.fetch_add(1, Ordering::AcqRel);
    go.wait(None);
    let Opened { end, pacer } = opened.get().expect("set before the go");
    let end = *end;
    let mut session = Session::new(stream, c);
    session.timeout = opts.io_timeout;
    let cutoff = end + DRAIN;
    while Instant::now() < end {
        if let Some(p) = pacer {
            if !p.wait_green(end) {
                break;
            }
        }
        let step = session
            .wait_at_most_until(cutoff)
            .and_then(|()| session.request());
        match step {
            // Answered after the window closed: not counted.
            Ok(Step::Ok(_)) if Instant::now() >= end => {
                tally.after_window.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(Step::Ok(d)) => {
                tally.requests.fetch_add(1, Ordering::Relaxed);
                session.replies += 1;
                let _ = hist.lock().unwrap().record(d.as_micros().max(1) as u64);
                if due_for_reconnect(opts, session.replies) {
                    match connect_green(opts) {
                        Ok(fresh) => {
                            // The old one closes here (with TLS, close_notify).
                            session.stream = fresh;
                            session.timeout = Duration::MAX;
                            tally.reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tally.error(&tally.connect_errors, "reconnect", &e);
                            break;
                        }
                    }
                }
            }
            Ok(Step::Wrong) => {
                tally.wrong.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if cut_off(&e, end) => break,
            Err(e) => {
                tally.error(&tally.io_errors, "i/o", &e);
                break;
            }
        }
        // One round trip per turn: a greenlet whose next reply is already waiting would
        // otherwise read it without parking and keep the worker from every other connection.
        mayfly::yield_now();
    }
    Some(session.replies)
}

/// A coroutine-mode connection: connect timeout, TCP_NODELAY, the I/O timeout, TLS if asked.
fn connect_green(opts: &StressOptions) -> io::Result<GreenConn> {
    let mut s = mayfly::net::TcpStream::connect_timeout(opts.addr, opts.connect_timeout)?;
    let _ = s.set_nodelay(true);
    s.settimeout(Some(opts.io_timeout));
    GreenConn::open(s, opts.tls.as_ref())
}
