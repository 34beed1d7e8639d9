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

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mayfly_proto::child::{Window, WindowMark};
use serde::{Deserialize, Serialize};

/// How the client drives its connections (the names are the protocol's: `mayfly_proto::echo`).
pub use mayfly_proto::echo::ClientMode;

/// Default [`StressOptions::threads`] (and connections): the course's 500.
pub const DEFAULT_THREADS: usize = 500;
/// Default [`StressOptions::duration`].
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default [`StressOptions::mode`]: the course's client.
pub const DEFAULT_MODE: ClientMode = ClientMode::Threads;

/// [`StressOptions::disconnect_rate`] is not a probability.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("--disconnect-rate must be between 0 and 1")]
pub struct DisconnectRateError(pub f64);

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
        }
    }

    /// These options with at least one thread and one connection.
    ///
    /// # Errors
    ///
    /// [`DisconnectRateError`] if `disconnect_rate` is not within 0..=1.
    pub fn checked(mut self) -> Result<Self, DisconnectRateError> {
        self.threads = self.threads.max(1);
        self.connections = self.connections.max(1);
        if !(0.0..=1.0).contains(&self.disconnect_rate) {
            return Err(DisconnectRateError(self.disconnect_rate));
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
    /// Deliberate disconnects followed by a new connection (`disconnect_rate`).
    #[serde(default)]
    pub reconnects: u64,
    /// Round-trip times of correct requests.
    pub latency_us: Latency,
    /// Length of the measured window in seconds.
    pub seconds: f64,
    /// The first error seen, to say why connections failed.
    pub first_error: Option<String>,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    connected: AtomicU64,
    connect_errors: AtomicU64,
    io_errors: AtomicU64,
    wrong: AtomicU64,
    reconnects: AtomicU64,
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

/// One connection's request loop, generic over std and mayfly streams.
struct Session<S> {
    stream: S,
    index: usize,
    name: String,
    k: u64,
    out: Vec<u8>,
    inp: Vec<u8>,
}

enum Step {
    Ok(Duration),
    Wrong,
}

impl<S: Read + Write> Session<S> {
    fn new(stream: S, index: usize) -> Self {
        Session {
            stream,
            index,
            name: format!("Thread-{index}"),
            k: 0,
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
    let (hist, seconds) = match opts.mode {
        ClientMode::Threads => run_threads(opts, &tally),
        ClientMode::Coroutine => run_greenlets(opts, &tally),
    };
    done.store(true, Ordering::Release);
    if let Some(p) = progress {
        let _ = p.join();
    }
    let requests = tally.requests.load(Ordering::Relaxed);
    let first_error = tally.first_error.lock().unwrap().clone();
    let q = |p: f64| {
        if hist.is_empty() {
            0
        } else {
            hist.value_at_quantile(p)
        }
    };
    StressReport {
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
        latency_us: Latency {
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: hist.max(),
        },
        seconds,
        first_error,
    }
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

    fn open_when(&self, arrived: usize) -> Instant {
        let mut st = self.state.lock().unwrap();
        while st.0 < arrived {
            st = self.cv.wait(st).unwrap();
        }
        let t = Instant::now();
        st.1 = Some(t);
        self.cv.notify_all();
        t
    }
}

/// Threads mode: each thread connects its share, waits for all, then loops until the end.
fn run_threads(opts: &StressOptions, tally: &Arc<Tally>) -> (Histogram<u64>, f64) {
    let threads = opts.threads.max(1).min(opts.connections.max(1));
    let gate = Arc::new(Gate::default());
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let (o, t, g) = (opts.clone(), tally.clone(), gate.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("Thread-{i}"))
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
    let t0 = gate.open_when(handles.len());
    mark(opts, Window::Start);
    let mut hist = histogram();
    for h in handles {
        if let Ok(local) = h.join() {
            let _ = hist.add(&local);
        }
    }
    mark(opts, Window::End);
    let secs = t0.elapsed().as_secs_f64();
    (hist, secs)
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
) -> Histogram<u64> {
    let mut sessions = Vec::new();
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
    let mut hist = histogram();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    while !sessions.is_empty() && Instant::now() < end {
        let mut k = 0;
        while k < sessions.len() {
            match sessions[k].request() {
                Ok(Step::Ok(d)) => {
                    tally.requests.fetch_add(1, Ordering::Relaxed);
                    let _ = hist.record(d.as_micros().max(1) as u64);
                    if opts.disconnect_rate > 0.0 && rng.chance(opts.disconnect_rate) {
                        let how = rng.next() % 3;
                        match disconnect_and_reconnect(&mut sessions[k], how, opts) {
                            Ok(()) => {
                                tally.reconnects.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                tally.error(&tally.connect_errors, "reconnect", &e);
                                sessions.swap_remove(k);
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
                Err(e) => {
                    tally.error(&tally.io_errors, "i/o", &e);
                    sessions.swap_remove(k);
                }
            }
        }
    }
    hist
}

/// A threads-mode connection: connect timeout, TCP_NODELAY, the I/O timeout both ways.
fn connect_std(opts: &StressOptions) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&opts.addr, opts.connect_timeout)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(opts.io_timeout))?;
    s.set_write_timeout(Some(opts.io_timeout))?;
    Ok(s)
}

/// A tiny PRNG for the disconnect schedule (reproducible per thread).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Drops `s`'s connection — 0: clean close, 1: reset, 2: half a message then reset — and
/// puts a fresh connection in its place.
fn disconnect_and_reconnect(
    s: &mut Session<TcpStream>,
    how: u64,
    opts: &StressOptions,
) -> io::Result<()> {
    if how >= 1 {
        if how == 2 {
            let _ = s.stream.write_all(format!("{} say hel", s.name).as_bytes());
        }
        let _ = socket2::SockRef::from(&s.stream).set_linger(Some(Duration::ZERO));
    }
    let fresh = connect_std(opts)?;
    let k = s.k;
    *s = Session::new(fresh, s.index);
    s.k = k;
    Ok(())
}

/// Coroutine mode: one greenlet per connection on mayfly's one worker thread.
fn run_greenlets(opts: &StressOptions, tally: &Arc<Tally>) -> (Histogram<u64>, f64) {
    let opts = opts.clone();
    let tally = tally.clone();
    mayfly::run(move || {
        let go = Arc::new(mayfly::event::Event::new());
        let ready = Arc::new(AtomicU64::new(0));
        let end = Arc::new(Mutex::new(None::<Instant>));
        let hist = Arc::new(Mutex::new(histogram()));
        let mut gs = Vec::with_capacity(opts.connections);
        for c in 0..opts.connections {
            let (o, t, g, r, e, h) = (
                opts.clone(),
                tally.clone(),
                go.clone(),
                ready.clone(),
                end.clone(),
                hist.clone(),
            );
            let spawned = mayfly::Builder::new()
                .stack_size(32 * 1024)
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
        *end.lock().unwrap() = Some(t0 + opts.duration);
        mark(&opts, Window::Start);
        go.set();
        for g in &gs {
            g.join(None);
        }
        mark(&opts, Window::End);
        let secs = t0.elapsed().as_secs_f64();
        let h = hist.lock().unwrap().clone();
        (h, secs)
    })
}

fn client_greenlet(
    c: usize,
    opts: &StressOptions,
    tally: &Tally,
    go: &mayfly::event::Event,
    ready: &AtomicU64,
    end: &Mutex<Option<Instant>>,
    hist: &Mutex<Histogram<u64>>,
) {
    let stream = match mayfly::net::TcpStream::connect_timeout(&opts.addr, opts.connect_timeout) {
        Ok(mut s) => {
            let _ = s.set_nodelay(true);
            s.settimeout(Some(opts.io_timeout));
            tally.connected.fetch_add(1, Ordering::Relaxed);
            s
        }
        Err(e) => {
            tally.error(&tally.connect_errors, "connect", &e);
            ready.fetch_add(1, Ordering::AcqRel);
            return;
        }
    };
    ready.fetch_add(1, Ordering::AcqRel);
    go.wait(None);
    let end = end.lock().unwrap().expect("end set");
    let mut session = Session::new(stream, c);
    while Instant::now() < end {
        match session.request() {
            Ok(Step::Ok(d)) => {
                tally.requests.fetch_add(1, Ordering::Relaxed);
                let _ = hist.lock().unwrap().record(d.as_micros().max(1) as u64);
            }
            Ok(Step::Wrong) => {
                tally.wrong.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tally.error(&tally.io_errors, "i/o", &e);
                return;
            }
        }
    }
}
