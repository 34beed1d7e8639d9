//! `mayfly stress --proto http`: keep-alive GETs against `mayfly serve http` (or any HTTP/1.1
//! server), checking every answer.
//!
//! Two ways to drive the connections, as the TCP stress client has
//! ([`HttpStressOptions::mode`]): `threads` OS threads (`std::net`) each own their share of
//! the `connections` and walk them in turn; or ([`ClientMode::Coroutine`]) one mayfly
//! greenlet per connection on one worker thread, each yielding after its turn (10,000+
//! connections from one process). On each connection one turn writes
//! [`HttpStressOptions::pipeline`] requests (`GET <path> HTTP/1.1`, keep-alive) in one write
//! and reads as many answers back, then the next connection gets its turn — one in flight per
//! connection by default, so the load is fair and the report says how fair it came out
//! ([`Fairness`]). Every answer is checked:
//!
//! - **non-2xx**: a status outside 200–299;
//! - **wrong body**: for `/plaintext` and `/json`, a body that is not the test's
//!   ([`mayfly_proto::plaintext`]); for any other path the body is not checked;
//! - **resets**: the server reset or closed the connection (`ECONNRESET`, `EPIPE`, an end of
//!   stream mid-answer or between answers); **I/O errors**: anything else (a timeout, an
//!   answer that is not HTTP). Either way the connection is opened again on its next turn.
//!
//! Latency is per turn: from just before the requests are written to just after the last
//! answer is read. The measured window opens when every connection is up. Near its end each
//! connection's timeout is shortened so that no turn waits past the window and
//! [`DRAIN`](crate::stress::DRAIN): against a server that accepts and never answers the run
//! still ends on time, those connections counted as never answered, not as I/O errors.
//!
//! [`HttpStressOptions::disconnect_rate`] (soak tests, as the TCP client's): after a good
//! turn, with that probability, the connection is dropped — a clean close, a reset
//! (SO_LINGER 0) or half a request then a reset, at random — and opened again; counted in
//! `reconnects`, not as an error.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mayfly_proto::child::{Window, WindowMark};
use serde::{Deserialize, Serialize};

use crate::fairness::Fairness;
use crate::stress::{cut_off, DRAIN};
use crate::stress::{ClientMode, Latency, StressOptionsError, XorShift};

/// Default [`HttpStressOptions::path`]: the plaintext test.
pub const DEFAULT_PATH: &str = mayfly_proto::plaintext::PLAINTEXT_PATH;
/// Default [`HttpStressOptions::pipeline`]: one request in flight per connection.
pub const DEFAULT_PIPELINE: usize = 1;
/// The longest answer head read (status line and headers), bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// The longest answer body read, bytes.
pub const MAX_BODY: usize = 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct HttpStressOptions {
    /// The HTTP server.
    pub addr: SocketAddr,
    /// OS threads.
    pub threads: usize,
    /// Keep-alive connections in total, spread over the threads.
    pub connections: usize,
    /// How long to send requests once every connection is up.
    pub duration: Duration,
    /// The path every request asks for.
    pub path: String,
    /// Requests sent at once on a connection (HTTP pipelining), at least 1.
    pub pipeline: usize,
    /// A connect, write or answer taking longer than this is an I/O error.
    pub io_timeout: Duration,
    /// Print `mayfly-stress: window start|end` on stderr (as `mayfly compare` reads them).
    pub marks: bool,
    /// OS threads (`threads` of them), or one greenlet per connection on one thread.
    pub mode: ClientMode,
    /// After each good turn, with this probability, drop the connection (a clean close, a
    /// reset, or half a request then a reset) and connect again. 0 (default): never.
    pub disconnect_rate: f64,
}

impl HttpStressOptions {
    /// 500 threads, one connection each, 10 s, `GET /plaintext`, one in flight.
    ///
    /// ```
    /// use mayfly_clients::http_stress::{HttpStressOptions, DEFAULT_PATH};
    /// let o = HttpStressOptions::new("127.0.0.1:8080".parse().unwrap());
    /// assert_eq!((o.connections, o.pipeline, o.path.as_str()), (500, 1, DEFAULT_PATH));
    /// ```
    pub fn new(addr: SocketAddr) -> Self {
        HttpStressOptions {
            addr,
            threads: crate::stress::DEFAULT_THREADS,
            connections: crate::stress::DEFAULT_THREADS,
            duration: crate::stress::DEFAULT_DURATION,
            path: DEFAULT_PATH.to_string(),
            pipeline: DEFAULT_PIPELINE,
            io_timeout: Duration::from_secs(10),
            marks: false,
            mode: ClientMode::Threads,
            disconnect_rate: 0.0,
        }
    }

    /// These options, if they can run.
    ///
    /// # Errors
    /// [`StressOptionsError::Zero`] for zero connections or threads,
    /// [`StressOptionsError::DisconnectRate`] if `disconnect_rate` is not within 0..=1.
    ///
    /// ```
    /// use mayfly_clients::http_stress::HttpStressOptions;
    /// use mayfly_clients::stress::StressOptionsError;
    /// let mut o = HttpStressOptions::new("127.0.0.1:1".parse().unwrap());
    /// o.disconnect_rate = 1.5;
    /// assert_eq!(o.checked().unwrap_err(), StressOptionsError::DisconnectRate(1.5));
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
        Ok(self)
    }
}

/// What happened. `--json` prints exactly this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpStressReport {
    /// The path asked for.
    pub path: String,
    /// Requests sent at once per connection.
    pub pipeline: u64,
    /// Answers that were 2xx with the right body, in the window.
    pub requests: u64,
    /// `requests` per second of the window.
    pub rps: f64,
    /// Connections asked for.
    pub connections: u64,
    /// Connections established at the start.
    pub connected: u64,
    /// Connects that failed (at the start or reconnecting).
    pub connect_errors: u64,
    /// Answers with a status outside 200–299.
    pub non_2xx: u64,
    /// 2xx answers whose body was not the test's.
    pub wrong_bodies: u64,
    /// Connections the server reset or closed.
    pub resets: u64,
    /// Other failed connections (timeouts, answers that are not HTTP).
    pub io_errors: u64,
    /// Connections opened again after a reset, an error or a deliberate disconnect
    /// ([`HttpStressOptions::disconnect_rate`]).
    pub reconnects: u64,
    /// Turn times (`pipeline` requests out, their answers in), µs.
    pub latency_us: Latency,
    /// How the good answers were spread over the connections.
    pub fairness: Fairness,
    /// Length of the window, seconds.
    pub seconds: f64,
    /// The first error seen.
    pub first_error: Option<String>,
    /// Every connection up and answered, and no non-2xx, wrong body, reset or I/O error.
    pub ok: bool,
}

impl From<HttpStressReport> for crate::stress::StressReport {
    /// The HTTP report in the TCP client's shape, as `mayfly compare` tabulates it: resets
    /// count as I/O errors, non-2xx answers and wrong bodies as wrong replies.
    fn from(r: HttpStressReport) -> Self {
        crate::stress::StressReport {
            requests: r.requests,
            rps: r.rps,
            connections: r.connections,
            connected: r.connected,
            connect_errors: r.connect_errors,
            io_errors: r.io_errors + r.resets,
            wrong_replies: r.non_2xx + r.wrong_bodies,
            after_window: 0,
            reconnects: r.reconnects,
            latency_us: r.latency_us,
            fairness: r.fairness,
            seconds: r.seconds,
            rate: None,
            first_error: r.first_error,
            ok: r.ok,
        }
    }
}

/// One answer's head as the client checks it.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes of head, including the blank line.
    len: usize,
    body_len: usize,
}

/// Parses the first answer head in `buf`: `Ok(None)` if it is not all there yet.
fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(bad("an answer head over 16K"));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("a head that is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad("not an HTTP/1.x status line"))?;
    let mut body_len = None;
    for l in lines {
        if let Some((name, value)) = l.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                body_len = value.trim().parse::<usize>().ok();
            }
        }
    }
    let body_len = body_len.ok_or_else(|| bad("an answer without a Content-Length"))?;
    if body_len > MAX_BODY {
        return Err(bad("an answer body over 1M"));
    }
    Ok(Some(Head {
        status,
        len: end + 4,
        body_len,
    }))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Whether an error means the server reset or closed the connection.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// What one turn's answers were.
#[derive(Default)]
struct Turn {
    good: u64,
    non_2xx: u64,
    wrong: u64,
}

/// A client socket the load can drive: std's (threads mode) or mayfly's (coroutine mode).
trait Client: Read + Write + AsRawFd + Sized {
    /// Connects with `timeout` for the connect and for every read and write after it.
    fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Self>;
    /// Waits `d` (the thread, or only the greenlet).
    fn pause(d: Duration);
    /// Sets the read and write timeout.
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()>;
}

impl Client for TcpStream {
    fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(s)
    }

    fn pause(d: Duration) {
        std::thread::sleep(d);
    }

    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

impl Client for mayfly::net::TcpStream {
    fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let mut s = mayfly::net::TcpStream::connect_timeout(addr, timeout)?;
        s.set_nodelay(true)?;
        s.settimeout(Some(timeout));
        Ok(s)
    }

    fn pause(d: Duration) {
        mayfly::sleep(d);
    }

    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.settimeout(Some(t));
        Ok(())
    }
}

/// Makes `s`'s close send a reset (SO_LINGER {1, 0}).
fn reset_on_close(s: &impl AsRawFd) {
    // SAFETY: the descriptor belongs to `s`, which is borrowed (so open) for as long as the
    // borrowed handle lives: this one call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(s.as_raw_fd()) };
    let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
}

/// One keep-alive connection.
struct Conn<S> {
    stream: Option<S>,
    /// The I/O timeout the stream has now (shortened near the window's end).
    timeout: Duration,
    buf: Vec<u8>,
    /// Good answers in the window.
    answered: u64,
}

impl<S: Client> Conn<S> {
    /// A connection opened now, counted in `c` (or its failure, noted).
    fn first(
        opts: &HttpStressOptions,
        c: &mut Counts,
        note: &dyn Fn(&str, &dyn std::fmt::Display),
    ) -> Self {
        Conn {
            stream: match S::open(opts.addr, opts.io_timeout) {
                Ok(s) => {
                    c.connected += 1;
                    Some(s)
                }
                Err(e) => {
                    c.connect_errors += 1;
                    note("connecting", &e);
                    None
                }
            },
            timeout: opts.io_timeout,
            buf: Vec::new(),
            answered: 0,
        }
    }

    /// Shortens the stream's timeout so that a turn started now waits no longer than
    /// `cutoff` (give or take half a second, so the timeout changes at most twice a second):
    /// a server that never answers cannot hold the run past its window and the drain.
    fn wait_at_most_until(&mut self, cutoff: Instant) -> io::Result<()> {
        let left = cutoff
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if let Some(s) = self.stream.as_mut() {
            if left + Duration::from_millis(500) < self.timeout {
                s.set_io_timeout(left)?;
                self.timeout = left;
            }
        }
        Ok(())
    }

    /// Drops the connection — `how` 0: a clean close, 1: a reset, 2: half a request, then a
    /// reset — for the next turn to open a new one.
    fn disconnect(&mut self, how: u64, request: &[u8]) {
        if let Some(mut s) = self.stream.take() {
            if how >= 1 {
                if how == 2 {
                    let _ = s.write_all(&request[..request.len() / 2]);
                }
                reset_on_close(&s);
            }
        }
        self.buf.clear();
    }

    /// Writes `requests` and reads `n` answers, checking each against `want`.
    fn turn(&mut self, requests: &[u8], n: usize, want: Option<&[u8]>) -> io::Result<Turn> {
        let s = self.stream.as_mut().expect("an open connection");
        s.write_all(requests)?;
        let mut t = Turn::default();
        let mut chunk = [0u8; 8192];
        let mut got = 0;
        while got < n {
            if let Some(h) = parse_head(&self.buf)? {
                if self.buf.len() >= h.len + h.body_len {
                    let body = &self.buf[h.len..h.len + h.body_len];
                    if !(200..300).contains(&h.status) {
                        t.non_2xx += 1;
                    } else if want.is_some_and(|w| w != body) {
                        t.wrong += 1;
                    } else {
                        t.good += 1;
                    }
                    self.buf.drain(..h.len + h.body_len);
                    got += 1;
                    continue;
                }
            }
            let r = s.read(&mut chunk)?;
            if r == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..r]);
        }
        Ok(t)
    }
}

#[derive(Default, Clone)]
struct Counts {
    requests: u64,
    connected: u64,
    connect_errors: u64,
    non_2xx: u64,
    wrong: u64,
    resets: u64,
    io_errors: u64,
    reconnects: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.connected += o.connected;
        self.connect_errors += o.connect_errors;
        self.non_2xx += o.non_2xx;
        self.wrong += o.wrong;
        self.resets += o.resets;
        self.io_errors += o.io_errors;
        self.reconnects += o.reconnects;
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Runs the load and returns the report.
pub fn run(opts: &HttpStressOptions) -> HttpStressReport {
    let _ = mayfly::process::raise_nofile();
    let connections = opts.connections.max(1);
    let pipeline = opts.pipeline.max(1);
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", opts.path, opts.addr);
    let requests: Arc<[u8]> = request.repeat(pipeline).into_bytes().into();
    let first_error = Arc::new(Mutex::new(None::<String>));
    let ran = match opts.mode {
        ClientMode::Threads => run_threads(opts, connections, pipeline, &requests, &first_error),
        ClientMode::Coroutine => {
            run_greenlets(opts, connections, pipeline, requests, first_error.clone())
        }
    };
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    report(opts, connections, pipeline, ran, first_error)
}

/// What the connections did: their counts, turn times and good answers each.
struct Ran {
    total: Counts,
    hist: Histogram<u64>,
    per_conn: Vec<u64>,
}

/// Keeps the first error seen, with what was being done.
fn note_first(first: &Mutex<Option<String>>, what: &str, e: &dyn std::fmt::Display) {
    let mut f = first.lock().unwrap_or_else(|p| p.into_inner());
    if f.is_none() {
        *f = Some(format!("{what}: {e}"));
    }
}

/// Threads mode: each thread connects its share, then walks it in turn until the end.
fn run_threads(
    opts: &HttpStressOptions,
    connections: usize,
    pipeline: usize,
    requests: &[u8],
    first_error: &Mutex<Option<String>>,
) -> Ran {
    let threads = opts.threads.clamp(1, connections);
    let want = mayfly_proto::plaintext::expected_body(&opts.path);
    let note = |what: &str, e: &dyn std::fmt::Display| note_first(first_error, what, e);
    // Every thread connects, then the window opens for all at once.
    let gate = Gate::default();
    let mut ran = Ran {
        total: Counts::default(),
        hist: histogram(),
        per_conn: Vec::with_capacity(connections),
    };
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let (note, gate) = (&note, &gate);
            let spawned = std::thread::Builder::new()
                .name(format!("http-stress-{t}"))
                .stack_size(128 * 1024)
                .spawn_scoped(s, move || {
                    let mine = (t..connections).step_by(threads).count();
                    let mut c = Counts::default();
                    let mut conns: Vec<Conn<TcpStream>> =
                        (0..mine).map(|_| Conn::first(opts, &mut c, note)).collect();
                    let end = gate.ready_then_wait() + opts.duration;
                    let load = Load {
                        opts,
                        requests,
                        pipeline,
                        want,
                        end,
                        note,
                    };
                    let mut rng = XorShift::seeded(t as u64);
                    let mut hist = histogram();
                    'run: while !conns.is_empty() {
                        for conn in conns.iter_mut() {
                            if Instant::now() >= end {
                                break 'run;
                            }
                            if let Some(us) = load.turn(conn, &mut c, &mut rng) {
                                let _ = hist.record(us);
                            }
                        }
                    }
                    let answered: Vec<u64> = conns.iter().map(|c| c.answered).collect();
                    (c, hist, answered)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => note("starting a thread", &e),
            }
        }
        gate.open_when(handles.len(), || mark(opts, Window::Start));
        for h in handles {
            if let Ok((c, h, answered)) = h.join() {
                ran.total.add(&c);
                let _ = ran.hist.add(&h);
                ran.per_conn.extend(answered);
            }
        }
        mark(opts, Window::End);
    });
    ran
}

/// Coroutine mode: one greenlet per connection on mayfly's one worker thread, each
/// yielding after its turn so that one whose answer is already waiting cannot go again
/// ahead of the others.
fn run_greenlets(
    opts: &HttpStressOptions,
    connections: usize,
    pipeline: usize,
    requests: Arc<[u8]>,
    first_error: Arc<Mutex<Option<String>>>,
) -> Ran {
    let opts = Arc::new(opts.clone());
    mayfly::run(move || {
        let go = Arc::new(mayfly::event::Event::new());
        let ready = Arc::new(AtomicU64::new(0));
        let end = Arc::new(Mutex::new(None::<Instant>));
        // One histogram for all (10,000 of their own would take hundreds of MiB); never
        // locked across a park.
        let hist = Arc::new(Mutex::new(histogram()));
        let mut ran = Ran {
            total: Counts::default(),
            hist: histogram(),
            per_conn: Vec::with_capacity(connections),
        };
        let mut gs = Vec::with_capacity(connections);
        for i in 0..connections {
            let (o, go, up, end) = (opts.clone(), go.clone(), ready.clone(), end.clone());
            let (requests, first, hist) = (requests.clone(), first_error.clone(), hist.clone());
            let spawned = mayfly::Builder::new().stack_size(32 * 1024).spawn(move || {
                let note = |what: &str, e: &dyn std::fmt::Display| note_first(&first, what, e);
                let mut c = Counts::default();
                let mut conn = Conn::<mayfly::net::TcpStream>::first(&o, &mut c, &note);
                up.fetch_add(1, Ordering::AcqRel);
                go.wait(None);
                let end = end
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .expect("end set");
                let load = Load {
                    opts: &o,
                    requests: &requests,
                    pipeline,
                    want: mayfly_proto::plaintext::expected_body(&o.path),
                    end,
                    note: &note,
                };
                let mut rng = XorShift::seeded(i as u64);
                while Instant::now() < end {
                    if let Some(us) = load.turn(&mut conn, &mut c, &mut rng) {
                        let _ = hist.lock().unwrap_or_else(|p| p.into_inner()).record(us);
                    }
                    mayfly::yield_now();
                }
                (c, conn.answered)
            });
            match spawned {
                Ok(g) => gs.push(g),
                Err(e) => {
                    ran.total.connect_errors += 1;
                    note_first(&first_error, "starting a greenlet", &e);
                    ready.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        while ready.load(Ordering::Acquire) < connections as u64 {
            mayfly::sleep(Duration::from_millis(5));
        }
        let t0 = Instant::now();
        *end.lock().unwrap_or_else(|p| p.into_inner()) = Some(t0 + opts.duration);
        mark(&opts, Window::Start);
        go.set();
        mayfly::sleep_until(t0 + opts.duration);
        mark(&opts, Window::End);
        for g in gs {
            if let Ok((c, answered)) = g.get() {
                ran.total.add(&c);
                ran.per_conn.push(answered);
            }
        }
        ran.hist = hist.lock().unwrap_or_else(|p| p.into_inner()).clone();
        ran
    })
}

/// Where the threads wait for each other: each says it is connected, then waits for the
/// window's start, which the caller sets once every thread is ready.
#[derive(Default)]
struct Gate {
    state: Mutex<(usize, Option<Instant>)>,
    changed: Condvar,
}

impl Gate {
    /// One thread is connected; returns when the window opens, with its start.
    fn ready_then_wait(&self) -> Instant {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 += 1;
        self.changed.notify_all();
        loop {
            if let Some(start) = st.1 {
                return start;
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits for `threads` to be ready, calls `at_start`, opens the window.
    fn open_when(&self, threads: usize, at_start: impl FnOnce()) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while st.0 < threads {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        at_start();
        st.1 = Some(Instant::now());
        self.changed.notify_all();
    }
}

/// What every turn of a run shares.
struct Load<'a> {
    opts: &'a HttpStressOptions,
    /// The `pipeline` requests, written at once.
    requests: &'a [u8],
    pipeline: usize,
    /// The body every answer must have, if the path has one.
    want: Option<&'a [u8]>,
    /// The window's end.
    end: Instant,
    note: &'a dyn Fn(&str, &dyn std::fmt::Display),
}

impl Load<'_> {
    /// One turn on `conn` (opened again first if it is closed), counted in `c`, and then
    /// maybe a deliberate disconnect. Returns the turn's time in µs if it ended in the window.
    fn turn<S: Client>(
        &self,
        conn: &mut Conn<S>,
        c: &mut Counts,
        rng: &mut XorShift,
    ) -> Option<u64> {
        if conn.stream.is_none() {
            match S::open(self.opts.addr, self.opts.io_timeout) {
                Ok(s) => {
                    conn.stream = Some(s);
                    conn.timeout = self.opts.io_timeout;
                    conn.buf.clear();
                    c.reconnects += 1;
                }
                Err(e) => {
                    c.connect_errors += 1;
                    (self.note)("connecting again", &e);
                    S::pause(Duration::from_millis(10));
                    return None;
                }
            }
        }
        let t0 = Instant::now();
        let mut took = None;
        let turn = conn
            .wait_at_most_until(self.end + DRAIN)
            .and_then(|()| conn.turn(self.requests, self.pipeline, self.want));
        match turn {
            Ok(t) => {
                if Instant::now() <= self.end {
                    c.requests += t.good;
                    conn.answered += t.good;
                    took = Some((t0.elapsed().as_micros() as u64).max(1));
                }
                c.non_2xx += t.non_2xx;
                c.wrong += t.wrong;
                let rate = self.opts.disconnect_rate;
                if rate > 0.0 && rng.chance(rate) {
                    conn.disconnect(rng.next() % 3, self.requests);
                }
            }
            // Timed out after the window closed: cut off by the drain, not an error (a
            // connection that never answered shows in the fairness count).
            Err(e) if cut_off(&e, self.end) => conn.stream = None,
            Err(e) => {
                if is_reset(&e) {
                    c.resets += 1;
                } else {
                    c.io_errors += 1;
                }
                (self.note)("a connection failed", &e);
                conn.stream = None;
            }
        }
        took
    }
}

/// Prints a window mark on stderr if asked (`mayfly compare` reads the client's CPU there).
fn mark(opts: &HttpStressOptions, window: Window) {
    if opts.marks {
        let cpu_us =
            mayfly::process::sample(std::process::id()).map_or(0, |s| s.cpu.as_micros() as u64);
        eprintln!("{}", WindowMark { window, cpu_us });
    }
}

fn report(
    opts: &HttpStressOptions,
    connections: usize,
    pipeline: usize,
    ran: Ran,
    first_error: Option<String>,
) -> HttpStressReport {
    let Ran {
        total,
        hist,
        per_conn,
    } = ran;
    let seconds = opts.duration.as_secs_f64();
    let q = |p: f64| {
        if hist.is_empty() {
            0
        } else {
            hist.value_at_quantile(p)
        }
    };
    let fairness = Fairness::of(&per_conn);
    let ok = total.connected as usize == connections
        && total.connect_errors == 0
        && total.non_2xx == 0
        && total.wrong == 0
        && total.resets == 0
        && total.io_errors == 0
        && fairness.unanswered == 0;
    HttpStressReport {
        path: opts.path.clone(),
        pipeline: pipeline as u64,
        requests: total.requests,
        rps: if seconds > 0.0 {
            total.requests as f64 / seconds
        } else {
            0.0
        },
        connections: connections as u64,
        connected: total.connected,
        connect_errors: total.connect_errors,
        non_2xx: total.non_2xx,
        wrong_bodies: total.wrong,
        resets: total.resets,
        io_errors: total.io_errors,
        reconnects: total.reconnects,
        latency_us: Latency {
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: hist.max(),
        },
        fairness,
        seconds,
        first_error,
        ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_only_when_whole() {
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(
            parse_head(a).unwrap(),
            Some(Head {
                status: 200,
                len: a.len() - 13,
                body_len: 13
            })
        );
        assert_eq!(parse_head(&a[..20]).unwrap(), None);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        let h = parse_head(b"HTTP/1.0 404 Not Found\r\ncontent-length: 0\r\n\r\n").unwrap();
        assert_eq!(h.map(|h| h.status), Some(404));
    }
}
