//! The course's blocking IO: one thread, and `accept` → serve that client until it closes →
//! `accept` the next. While one client is served, the others' connections complete in the
//! kernel and wait in the listen backlog, unanswered: under `mayfly compare`'s load one
//! connection gets every reply (fairness near 0) and the rest are reported unanswered.
//!
//! The calls are the blocking ones the course makes: `accept4(2)` (`std::net`'s `accept`),
//! then `read(2)` and `write(2)` on the blocking socket. Of the
//! echo [`Options`] it keeps the read and write timeouts (as `SO_RCVTIMEO`/`SO_SNDTIMEO`,
//! Python's `settimeout`: a client that sends nothing for [`Options::read_timeout`] is
//! closed and the next one accepted); the connection caps cannot apply (it holds one
//! connection at most), nor does [`Options::max_pending`] (a reply is written before the
//! next read).
//!
//! A stop shuts the listener down (the blocked `accept` returns), gives the client being
//! served the grace period, then shuts its socket down (its blocked `read` returns).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mayfly::server::{AcceptBackoff, Running, ServerStats};

use super::ready_loop::FdIo;
use super::registry::Connections;
use super::{Counted, Options};

struct Shared {
    stop: AtomicBool,
    /// The one connection being served (so a stop can shut it down).
    conns: Connections,
    stats: Arc<ServerStats>,
}

struct RunningBlocking {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    /// The serving thread until the first stop takes it (a second stop finds `None`).
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = Arc::new(super::bind_std(opts)?);
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        conns: Connections::new(),
        stats: Arc::new(ServerStats::new()),
    });
    let (l, s, o) = (listener.clone(), shared.clone(), opts.clone());
    let thread = std::thread::Builder::new()
        .name("blocking".into())
        .spawn(move || serve_one_at_a_time(&l, &s, &o))?;
    Ok(Box::new(RunningBlocking {
        addr,
        listener,
        thread: Mutex::new(Some(thread)),
        shared,
    }))
}

fn serve_one_at_a_time(listener: &TcpListener, shared: &Shared, opts: &Options) {
    let mut backoff = AcceptBackoff::on("blocking: accept", listener.local_addr());
    loop {
        // conn, addr = server.accept()
        let (conn, _peer) = match listener.accept() {
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
        let _ = conn.set_read_timeout(opts.read_timeout);
        let _ = conn.set_write_timeout(opts.write_timeout);
        let id = shared.conns.insert(conn.as_raw_fd());
        shared.stats.conn_opened();
        // Registered before this check: a stop that set the flag after it finds the entry.
        let outcome = if shared.stop.load(Ordering::Acquire) {
            Err(io::Error::other("accepted while stopping"))
        } else {
            let bytes = shared.stats.bytes();
            // while True: data = conn.recv(1024) … conn.send(data.upper())
            super::echo_until_closed(&mut Counted::new(FdIo(&conn), &bytes), &shared.stats)
        };
        shared.conns.remove(id); // before `conn` closes
        drop(conn);
        shared.stats.conn_closed(&outcome);
    }
}

impl Running for RunningBlocking {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = thread.take() else {
            return 0;
        };
        self.shared.stop.store(true, Ordering::Release);
        // SAFETY: shutdown(2) on our own open listening fd (the Arc keeps it open); it wakes
        // the blocked accept (which then fails with EINVAL) and closes nothing.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let killed = self.shared.conns.drain(&self.shared.stats, grace);
        let _ = h.join();
        killed
    }
}
