//! `mayfly stress --proto udp`: the course's load test over UDP, against `mayfly serve
//! udp-echo` (or any server that answers a datagram with its uppercase).
//!
//! Each socket loops: send `Thread-<i> say hello <k>` as one datagram, wait at most
//! [`UdpStressOptions::reply_timeout`] for the answer, check it is the uppercase of what was
//! sent. UDP is not TCP, so the client counts what TCP would have hidden:
//!
//! - **lost**: no answer within the timeout (the request or its answer was dropped, or the
//!   server never answered). The client cannot tell which — there is no handshake — and
//!   moves on to the next request.
//! - **late**: an answer to an earlier request of the same socket, arriving after it was
//!   counted lost. It is set aside and the client keeps waiting for the current one.
//! - **wrong**: any other answer (not the uppercase of the request: a refusal, garbage).
//!
//! A datagram is one message, so one `recv` is one whole answer: no reading "exactly the
//! reply's length" as over TCP. Sockets are `connect`ed to the server, so datagrams from
//! anyone else are not read, and a closed port shows up as `ECONNREFUSED` (counted as an I/O
//! error). `threads` OS threads (`std::net`, as the course's client) each serve their share
//! of the `sockets` in turn, one request in flight per socket.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Default [`UdpStressOptions::threads`] (and sockets): the course's 500.
pub const DEFAULT_THREADS: usize = 500;
/// Default [`UdpStressOptions::duration`].
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default [`UdpStressOptions::reply_timeout`]: an answer later than this counts as lost.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer read: an answer is one datagram, at most this long.
pub const MAX_REPLY: usize = 65_536;

/// Which protocol `mayfly stress` loads: the echo server over TCP, the UDP echo server, or
/// an HTTP server ([`crate::http_stress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// TCP (`mayfly serve echo`), the default.
    #[default]
    Tcp,
    /// UDP (`mayfly serve udp-echo`).
    Udp,
    /// HTTP/1.1 keep-alive GETs (`mayfly serve http`).
    Http,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Http => "http",
        })
    }
}

/// `--proto` was not `tcp`, `udp` or `http`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?} (known: tcp, udp, http)")]
pub struct UnknownProto(pub String);

impl FromStr for Proto {
    type Err = UnknownProto;

    /// ```
    /// use mayfly_clients::udp_stress::Proto;
    /// assert_eq!("udp".parse::<Proto>().unwrap(), Proto::Udp);
    /// assert_eq!(Proto::Tcp.to_string(), "tcp");
    /// assert!("sctp".parse::<Proto>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, UnknownProto> {
        match s {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "http" => Ok(Proto::Http),
            other => Err(UnknownProto(other.to_owned())),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct UdpStressOptions {
    /// The UDP echo server.
    pub addr: SocketAddr,
    /// OS threads.
    pub threads: usize,
    /// Sockets in total (each with one request in flight), spread over the threads.
    pub sockets: usize,
    /// How long to send requests.
    pub duration: Duration,
    /// An answer that has not come after this long counts as lost.
    pub reply_timeout: Duration,
}

impl UdpStressOptions {
    /// The course's defaults: 500 threads, one socket each, 10 s, answers within 1 s.
    ///
    /// ```
    /// use mayfly_clients::udp_stress::{UdpStressOptions, DEFAULT_REPLY_TIMEOUT};
    /// let o = UdpStressOptions::new("127.0.0.1:8080".parse().unwrap());
    /// assert_eq!((o.threads, o.sockets, o.reply_timeout), (500, 500, DEFAULT_REPLY_TIMEOUT));
    /// ```
    pub fn new(addr: SocketAddr) -> Self {
        UdpStressOptions {
            addr,
            threads: DEFAULT_THREADS,
            sockets: DEFAULT_THREADS,
            duration: DEFAULT_DURATION,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        }
    }
}

/// What happened. `--json` prints exactly this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UdpStressReport {
    /// Requests answered correctly in time.
    pub requests: u64,
    /// Correct answers per second of the run.
    pub rps: f64,
    /// Sockets asked for.
    pub sockets: u64,
    /// Sockets that could be opened.
    pub opened: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Requests with no answer within the reply timeout.
    pub lost: u64,
    /// Answers to earlier requests that came after those were counted lost.
    pub late_replies: u64,
    /// Answers that were not the uppercase of the request.
    pub wrong_replies: u64,
    /// Failed sends and receives (`ECONNREFUSED`: nothing listens on the port).
    pub io_errors: u64,
    /// `lost / sent`.
    pub loss_rate: f64,
    /// Median round trip of correct answers, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Slowest correct answer, µs.
    pub max_us: u64,
    /// Length of the run in seconds.
    pub seconds: f64,
    /// The first error seen.
    pub first_error: Option<String>,
}

#[derive(Default)]
struct Counts {
    requests: u64,
    opened: u64,
    sent: u64,
    lost: u64,
    late: u64,
    wrong: u64,
    io_errors: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.opened += o.opened;
        self.sent += o.sent;
        self.lost += o.lost;
        self.late += o.late;
        self.wrong += o.wrong;
        self.io_errors += o.io_errors;
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One socket's request loop state.
struct Peer {
    sock: UdpSocket,
    /// `THREAD-<i> SAY HELLO `: what every answer of this socket starts with.
    upper_prefix: String,
    name: String,
    k: u64,
}

enum Outcome {
    Ok(Duration),
    Lost,
    Wrong,
}

impl Peer {
    fn open(addr: SocketAddr, index: usize) -> io::Result<Peer> {
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local)?;
        sock.connect(addr)?;
        let name = format!("Thread-{}", index + 1); // from 1, as Python names threads
        Ok(Peer {
            sock,
            upper_prefix: format!("{} SAY HELLO ", name.to_ascii_uppercase()),
            name,
            k: 0,
        })
    }

    /// Sends request k and waits for its answer; `late` counts answers to earlier ones.
    fn request(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
        late: &mut u64,
    ) -> io::Result<Outcome> {
        let k = self.k;
        self.k += 1;
        let msg = format!("{} say hello {k}", self.name);
        let want = msg.to_ascii_uppercase();
        let t = Instant::now();
        self.sock.send(msg.as_bytes())?;
        let deadline = t + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Outcome::Lost);
            }
            self.sock.set_read_timeout(Some(left))?;
            let n = match self.sock.recv(buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(Outcome::Lost)
                }
                Err(e) => return Err(e),
            };
            let got = &buf[..n];
            if got == want.as_bytes() {
                return Ok(Outcome::Ok(t.elapsed()));
            }
            if self.is_earlier(got, k) {
                *late += 1;
                continue;
            }
            return Ok(Outcome::Wrong);
        }
    }

    /// An answer to one of this socket's requests before `k`?
    fn is_earlier(&self, got: &[u8], k: u64) -> bool {
        got.strip_prefix(self.upper_prefix.as_bytes())
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|rest| rest.parse::<u64>().ok())
            .is_some_and(|j| j < k && j.to_string().len() == got.len() - self.upper_prefix.len())
    }
}

/// Runs the load and returns the report. Threads that cannot be started are reported in
/// `first_error`; their sockets count as not opened.
pub fn run(opts: &UdpStressOptions) -> UdpStressReport {
    let sockets = opts.sockets.max(1);
    let threads = opts.threads.clamp(1, sockets);
    let first_error = Mutex::new(None::<String>);
    let note = |what: &str, e: &dyn std::fmt::Display| {
        let mut f = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(format!("{what}: {e}"));
        }
    };
    let start = Instant::now();
    let end = start + opts.duration;
    let mut total = Counts::default();
    let mut hist = histogram();
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let note = &note;
            let spawned = std::thread::Builder::new()
                .name(format!("udp-stress-{t}"))
                .stack_size(64 * 1024)
                .spawn_scoped(s, move || {
                    let mine: Vec<usize> = (t..sockets).step_by(threads).collect();
                    one_thread(opts, &mine, end, note)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => note("starting a thread", &e),
            }
        }
        for h in handles {
            if let Ok((c, h)) = h.join() {
                total.add(&c);
                let _ = hist.add(&h);
            }
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let q = |p: f64| {
        if hist.is_empty() {
            0
        } else {
            hist.value_at_quantile(p)
        }
    };
    UdpStressReport {
        requests: total.requests,
        rps: if seconds > 0.0 {
            total.requests as f64 / seconds
        } else {
            0.0
        },
        sockets: sockets as u64,
        opened: total.opened,
        sent: total.sent,
        lost: total.lost,
        late_replies: total.late,
        wrong_replies: total.wrong,
        io_errors: total.io_errors,
        loss_rate: if total.sent > 0 {
            total.lost as f64 / total.sent as f64
        } else {
            0.0
        },
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: hist.max(),
        seconds,
        first_error: first_error.into_inner().unwrap_or_else(|p| p.into_inner()),
    }
}

/// One thread: opens its sockets, then asks on each in turn until `end`.
fn one_thread(
    opts: &UdpStressOptions,
    indexes: &[usize],
    end: Instant,
    note: &dyn Fn(&str, &dyn std::fmt::Display),
) -> (Counts, Histogram<u64>) {
    let mut c = Counts::default();
    let mut hist = histogram();
    let mut peers: Vec<Peer> = Vec::with_capacity(indexes.len());
    for &i in indexes {
        match Peer::open(opts.addr, i) {
            Ok(p) => peers.push(p),
            Err(e) => note("opening a socket", &e),
        }
    }
    c.opened = peers.len() as u64;
    if peers.is_empty() {
        return (c, hist);
    }
    let mut buf = vec![0u8; MAX_REPLY];
    'run: loop {
        for p in &mut peers {
            if Instant::now() >= end {
                break 'run;
            }
            c.sent += 1;
            match p.request(&mut buf, opts.reply_timeout, &mut c.late) {
                Ok(Outcome::Ok(took)) => {
                    c.requests += 1;
                    let _ = hist.record((took.as_micros() as u64).max(1));
                }
                Ok(Outcome::Lost) => c.lost += 1,
                Ok(Outcome::Wrong) => c.wrong += 1,
                Err(e) => {
                    c.io_errors += 1;
                    note("socket error", &e);
                    // Nothing listens (ECONNREFUSED) or the network is down: don't spin.
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    (c, hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_answer_is_told_from_a_wrong_one() {
        // Socket index 6 is `Thread-7` (names count from 1).
        let p = Peer::open("127.0.0.1:9".parse().unwrap(), 6).unwrap();
        assert!(p.is_earlier(b"THREAD-7 SAY HELLO 3", 5));
        assert!(!p.is_earlier(b"THREAD-7 SAY HELLO 5", 5)); // the current one, not earlier
        assert!(!p.is_earlier(b"THREAD-7 SAY HELLO 9", 5)); // from the future: wrong
        assert!(!p.is_earlier(b"THREAD-8 SAY HELLO 3", 5)); // another socket's
        assert!(!p.is_earlier(b"THREAD-7 SAY HELLO +3", 5));
        assert!(!p.is_earlier(b"thread-7 say hello 3", 5)); // not uppercased
    }
}
