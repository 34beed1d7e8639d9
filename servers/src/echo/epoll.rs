//! The epoll build: one thread, a hand-written mio event loop — the course's IO-multiplexing
//! server, and the one-thread limit the coroutine build is measured against.
//!
//! Each connection keeps the replies it could not send yet; when they exceed
//! [`Options::max_pending`] the loop stops reading from that client until it drains, so a
//! client that sends and never reads costs bounded memory, and after
//! [`Options::write_timeout`] without progress it is closed. A client that sends nothing for
//! [`Options::read_timeout`] is closed too. Timeouts are checked by a sweep at most every
//! [`SWEEP_MAX`], so they fire up to that late.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use mayfly::server::{accept_error_is_transient, PeerLimit, PeerSlot, Running, ServerStats};

use super::{Options, READ_BUF};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

/// Longest gap between two timeout sweeps.
pub const SWEEP_MAX: Duration = Duration::from_millis(250);

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    interest: Interest,
    /// Last time bytes arrived (or the connection opened).
    last_read: Instant,
    /// Last time replies moved out (or the backlog became non-empty).
    last_write: Instant,
    /// Its peer's slot under the per-peer cap, freed when the connection goes.
    _slot: Option<PeerSlot>,
}

struct RunningEpoll {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    grace: Arc<Mutex<Duration>>,
    waker: Arc<Waker>,
    /// The loop's thread until the first stop takes it (a second stop finds `None`).
    thread: Mutex<Option<JoinHandle<u64>>>,
    stats: Arc<ServerStats>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let std_listener = super::bind_std(opts)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let mut listener = TcpListener::from_std(std_listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let stop = Arc::new(AtomicBool::new(false));
    let grace = Arc::new(Mutex::new(Duration::ZERO));
    let stats = Arc::new(ServerStats::new());
    let (s, g, o, st) = (stop.clone(), grace.clone(), opts.clone(), stats.clone());
    let thread = std::thread::Builder::new()
        .name("epoll".into())
        .spawn(move || event_loop(poll, listener, &s, &g, &o, &st))?;
    Ok(Box::new(RunningEpoll {
        addr,
        stop,
        grace,
        waker,
        thread: Mutex::new(Some(thread)),
        stats,
    }))
}

fn event_loop(
    mut poll: Poll,
    listener: TcpListener,
    stop: &AtomicBool,
    grace: &Mutex<Duration>,
    opts: &Options,
    stats: &ServerStats,
) -> u64 {
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    // Closed (not just deregistered) on stop, so the kernel stops completing handshakes.
    let mut listener = Some(listener);
    let mut listening = true;
    let mut accept_paused_until: Option<Instant> = None;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; READ_BUF];
    let sweep_every = [opts.read_timeout, opts.write_timeout]
        .into_iter()
        .flatten()
        .min()
        .map(|t| (t / 4).clamp(Duration::from_millis(10), SWEEP_MAX));
    let mut next_sweep = sweep_every.map(|d| Instant::now() + d);
    let max_connections = opts.connection_cap();
    let peers = opts.peer_cap().map(|n| Arc::new(PeerLimit::new(n)));
    loop {
        if stop.load(Ordering::Acquire) && listening {
            if let Some(mut l) = listener.take() {
                let _ = poll.registry().deregister(&mut l);
            }
            listening = false;
            deadline = Some(mayfly::deadline_after(*grace.lock().unwrap()));
        }
        if !listening && (conns.is_empty() || deadline.is_some_and(|d| Instant::now() >= d)) {
            stats.killed(conns.len() as u64);
            return conns.len() as u64;
        }
        if let (Some(at), Some(every)) = (next_sweep, sweep_every) {
            if Instant::now() >= at {
                sweep(&mut poll, &mut conns, opts, stats);
                next_sweep = Some(Instant::now() + every);
            }
        }
        let timeout = if listening {
            None
        } else {
            Some(Duration::from_millis(20))
        };
        let timeout = match accept_paused_until {
            Some(t) => Some(t.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        let timeout = match (timeout, next_sweep) {
            (t, None) => t,
            (None, Some(s)) => Some(s.saturating_duration_since(Instant::now())),
            (Some(t), Some(s)) => Some(t.min(s.saturating_duration_since(Instant::now()))),
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            log::error!(error:% = e; "epoll: poll failed: {e}");
            return conns.len() as u64;
        }
        if accept_paused_until.is_some_and(|t| Instant::now() >= t) {
            accept_paused_until = None;
        }
        let full = |n: usize| max_connections.is_some_and(|m| n as u64 >= m);
        let mut try_accept = listening && accept_paused_until.is_none() && !full(conns.len());
        for ev in events.iter() {
            match ev.token() {
                LISTENER => {}
                WAKER => {}
                Token(id) => {
                    let r = service(&mut poll, &mut conns, id, &mut buf, opts.max_pending, stats);
                    if let Err(e) = r {
                        if let Some(mut c) = conns.remove(&id) {
                            let _ = poll.registry().deregister(&mut c.stream);
                            let clean =
                                e.kind() == io::ErrorKind::UnexpectedEof && c.pending.is_empty();
                            stats.conn_closed(&if clean { Ok(()) } else { Err(e) });
                        }
                        try_accept = listening && accept_paused_until.is_none();
                    }
                }
            }
        }
        // Accept everything waiting (edge-triggered: drain until WouldBlock).
        while let (true, false, Some(l)) = (try_accept, full(conns.len()), listener.as_ref()) {
            match l.accept() {
                Ok((mut stream, peer)) => {
                    let slot = match &peers {
                        Some(p) => match p.admit(peer.ip()) {
                            Some(slot) => Some(slot),
                            None => continue, // over its peer's cap: closed at once
                        },
                        None => None,
                    };
                    stats.conn_opened();
                    let id = next;
                    next = next.wrapping_add(1) % (usize::MAX - 3);
                    match poll
                        .registry()
                        .register(&mut stream, Token(id), Interest::READABLE)
                    {
                        Ok(()) => {
                            let now = Instant::now();
                            conns.insert(
                                id,
                                Conn {
                                    stream,
                                    pending: Vec::new(),
                                    interest: Interest::READABLE,
                                    last_read: now,
                                    last_write: now,
                                    _slot: slot,
                                },
                            );
                        }
                        Err(e) => stats.conn_closed(&Err(e)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if accept_error_is_transient(&e) => stats.accept_error(),
                Err(e) => {
                    stats.accept_error();
                    // EMFILE and friends: pause accepting instead of spinning on the error.
                    log::warn!(error:% = e; "epoll: accept failed: {e}; pausing accept for 100 ms");
                    accept_paused_until = Some(Instant::now() + Duration::from_millis(100));
                    break;
                }
            }
        }
    }
}

/// Closes connections idle past the read timeout or stuck past the write timeout.
fn sweep(poll: &mut Poll, conns: &mut HashMap<usize, Conn>, opts: &Options, stats: &ServerStats) {
    let now = Instant::now();
    let expired = |c: &Conn| {
        let idle =
            c.pending.is_empty() && opts.read_timeout.is_some_and(|t| now - c.last_read >= t);
        let stuck =
            !c.pending.is_empty() && opts.write_timeout.is_some_and(|t| now - c.last_write >= t);
        idle || stuck
    };
    let dead: Vec<usize> = conns
        .iter()
        .filter(|(_, c)| expired(c))
        .map(|(id, _)| *id)
        .collect();
    for id in dead {
        if let Some(mut c) = conns.remove(&id) {
            let _ = poll.registry().deregister(&mut c.stream);
            stats.conn_closed(&Err(io::ErrorKind::TimedOut.into()));
        }
    }
}

/// Reads what is there, answers it, and keeps what could not be written.
fn service(
    poll: &mut Poll,
    conns: &mut HashMap<usize, Conn>,
    id: usize,
    buf: &mut [u8],
    max_pending: usize,
    stats: &ServerStats,
) -> io::Result<()> {
    let Some(c) = conns.get_mut(&id) else {
        return Ok(());
    };
    let bytes = stats.bytes();
    let had = c.pending.len();
    flush(c)?;
    if c.pending.len() < had {
        bytes.add_written((had - c.pending.len()) as u64);
        c.last_write = Instant::now();
    }
    while c.pending.len() < max_pending {
        match c.stream.read(buf) {
            Ok(0) => {
                if c.pending.is_empty() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                break;
            }
            Ok(n) => {
                bytes.add_read(n as u64);
                stats.requests(1);
                c.last_read = Instant::now();
                super::uppercase(&mut buf[..n]);
                if c.pending.is_empty() {
                    c.last_write = c.last_read;
                    match c.stream.write(&buf[..n]) {
                        Ok(w) => {
                            bytes.add_written(w as u64);
                            c.pending.extend_from_slice(&buf[w..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            c.pending.extend_from_slice(&buf[..n])
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    c.pending.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    // Read only while the backlog of replies is bounded; write when there is a backlog.
    let want = match (c.pending.len() < max_pending, c.pending.is_empty()) {
        (true, true) => Interest::READABLE,
        (true, false) => Interest::READABLE | Interest::WRITABLE,
        (false, _) => Interest::WRITABLE,
    };
    if want != c.interest {
        poll.registry().reregister(&mut c.stream, Token(id), want)?;
        c.interest = want;
    }
    Ok(())
}

fn flush(c: &mut Conn) -> io::Result<()> {
    while !c.pending.is_empty() {
        match c.stream.write(&c.pending) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                c.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Running for RunningEpoll {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = thread.take() else {
            return 0;
        };
        *self.grace.lock().unwrap() = grace;
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        t.join().unwrap_or(0)
    }
}
