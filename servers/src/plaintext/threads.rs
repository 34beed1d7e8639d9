//! The threads HTTP build: `std::net`, one OS thread per connection, each running the same
//! parser as the coroutine build (may_minihttp's `serve` over a blocking `std` stream) —
//! Python's `http.server.ThreadingHTTPServer`.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use may_minihttp::{Limits, Request, Response};
use mayfly::server::{AcceptBackoff, PeerLimit, Running, ServerStats};

use super::routes::{answer, fill};
use super::Options;
use crate::echo::registry::Connections;
use crate::echo::Counted;

struct Shared {
    stop: AtomicBool,
    /// Every open connection's fd, so shutdown can close the stragglers.
    conns: Connections,
    spawn_errors: AtomicU64,
    stats: Arc<ServerStats>,
    limits: Limits,
}

struct RunningThreads {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    /// The accept thread until the first stop takes it (a second stop finds `None`).
    accept: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = Arc::new(super::bind_std(opts)?);
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        conns: Connections::new(),
        spawn_errors: AtomicU64::new(0),
        stats: Arc::new(ServerStats::new()),
        limits: opts.http.limits(),
    });
    let (l, s, o) = (listener.clone(), shared.clone(), opts.clone());
    let accept = std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || accept_loop(&l, &s, &o))?;
    Ok(Box::new(RunningThreads {
        addr,
        listener,
        accept: Mutex::new(Some(accept)),
        shared,
    }))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut backoff = AcceptBackoff::on("http threads: accept", listener.local_addr());
    let max_connections = opts.http.connection_cap();
    let peers = opts.http.peer_cap().map(|n| Arc::new(PeerLimit::new(n)));
    loop {
        if let Some(max) = max_connections {
            while shared.stats.active() >= max && !shared.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let (conn, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                shared.stats.accept_error();
                if let Some(pause) = backoff.failed(&e) {
                    std::thread::sleep(pause);
                }
                continue;
            }
        };
        backoff.succeeded();
        let slot = match &peers {
            Some(p) => match p.admit(peer.ip()) {
                Some(slot) => Some(slot),
                None => continue, // over its peer's cap: closed at once
            },
            None => None,
        };
        let _ = conn.set_read_timeout(opts.http.read_timeout);
        let _ = conn.set_write_timeout(opts.http.write_timeout);
        let _ = conn.set_nodelay(true);
        let id = shared.conns.insert(conn.as_raw_fd());
        shared.stats.conn_opened();
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(opts.thread_stack)
            .spawn(move || {
                let _slot = slot;
                let outcome = talk(&conn, &s);
                s.conns.remove(id); // before `conn` closes at the end of this closure
                s.stats.conn_closed(&outcome);
            });
        if let Err(e) = spawned {
            // Out of threads (EAGAIN) or memory: this client is dropped, the server lives.
            shared.conns.remove(id);
            shared
                .stats
                .conn_closed(&Err(io::Error::other("no thread")));
            if shared.spawn_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                log::warn!(error:% = e; "http threads: cannot start a thread per connection: {e}");
            }
            std::thread::sleep(backoff.pause());
        }
    }
}

/// One connection: may_minihttp's loop on the blocking socket, every answer counted, then
/// a lingering close after a refusal (as mayfly-http does).
fn talk(conn: &TcpStream, shared: &Shared) -> io::Result<()> {
    let bytes = shared.stats.bytes();
    let mut stream = Counted::new(conn, &bytes);
    let mut service = |req: &Request<'_>, rsp: &mut Response| {
        shared.stats.requests(1);
        fill(rsp, answer(req.method(), req.path()));
        Ok(())
    };
    let r = may_minihttp::serve(&mut stream, &mut service, &shared.limits);
    if matches!(&r, Err(e) if e.kind() == io::ErrorKind::InvalidData) {
        linger(conn);
    }
    r
}

/// Shuts the write side and reads what the client still sends for at most
/// [`mayfly_http::DEFAULT_LINGER`], so it reads the refusal instead of a reset.
fn linger(mut conn: &TcpStream) {
    let _ = conn.shutdown(Shutdown::Write);
    let until = Instant::now() + mayfly_http::DEFAULT_LINGER;
    let mut sink = [0u8; 4096];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

impl Running for RunningThreads {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut accept = self.accept.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = accept.take() else {
            return 0;
        };
        self.shared.stop.store(true, Ordering::Release);
        // SAFETY: shutdown(2) on our own open listening fd; it wakes the blocked accept
        // (which then fails with EINVAL) and closes nothing.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = h.join();
        self.shared.conns.drain(&self.shared.stats, grace)
    }
}
