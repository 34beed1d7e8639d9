//! The raw-may reference build: may's own `TcpListener`/`TcpStream` and one may coroutine per
//! connection on may's one worker, with no mayfly layer in between (no greenlet bookkeeping,
//! no `StreamServer`). It exists to measure what mayfly's layer costs over the crate it
//! stands on; it is the one place in servers/ that talks to `may` directly.
//!
//! The runtime is configured by mayfly ([`mayfly::Config`]: one worker, mayfly's stack size),
//! so the stats page can run beside it in the same process.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mayfly::server::{AcceptBackoff, Running, ServerStats};

use super::registry::Connections;
use super::{Counted, Options};

struct Shared {
    stop: AtomicBool,
    conns: Connections,
    stats: Arc<ServerStats>,
}

struct RunningMay {
    addr: SocketAddr,
    listener_fd: i32,
    /// The accept coroutine until the first stop takes it (a second stop finds `None`).
    accept: Mutex<Option<may::coroutine::JoinHandle<()>>>,
    shared: Arc<Shared>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    // One worker, before may's scheduler exists (a no-op if mayfly already started it).
    let _ = mayfly::Config::current();
    let std_listener = super::bind_std(opts)?;
    let addr = std_listener.local_addr()?;
    // SAFETY: the fd comes from `into_raw_fd`, so it is an open listening socket that nothing
    // else owns; may's listener takes ownership of it (and registers it with may's epoll).
    let listener = unsafe {
        <may::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(std_listener.into_raw_fd())
    };
    let listener_fd = listener.as_raw_fd();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        conns: Connections::new(),
        stats: Arc::new(ServerStats::new()),
    });
    let (s, o) = (shared.clone(), opts.clone());
    // SAFETY (may's two conditions for `spawn`): the accept loop and the handlers it spawns
    // keep no thread-local across a switch (they touch only their own sockets and the shared
    // counters), and may's stacks have guard pages. They wait only on socket I/O (resumed by
    // the worker's event loop) and on `may::coroutine::sleep` between accept retries.
    let accept = unsafe {
        may::coroutine::Builder::new()
            .name("raw-may-accept".into())
            .spawn(move || accept_loop(listener, &s, &o))
    }?;
    Ok(Box::new(RunningMay {
        addr,
        listener_fd,
        accept: Mutex::new(Some(accept)),
        shared,
    }))
}

fn accept_loop(listener: may::net::TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut backoff = AcceptBackoff::on("may: accept", listener.local_addr());
    loop {
        if let Some(max) = opts.explicit_cap() {
            while shared.stats.active() >= max && !shared.stop.load(Ordering::Acquire) {
                may::coroutine::sleep(Duration::from_millis(1));
            }
        }
        let conn = match listener.accept() {
            Ok((conn, _)) => conn,
            Err(e) => {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                shared.stats.accept_error();
                if let Some(pause) = backoff.failed(&e) {
                    may::coroutine::sleep(pause);
                }
                continue;
            }
        };
        backoff.succeeded();
        let _ = conn.set_read_timeout(opts.read_timeout);
        let _ = conn.set_write_timeout(opts.write_timeout);
        let id = shared.conns.insert(conn.as_raw_fd());
        shared.stats.conn_opened();
        let s = shared.clone();
        // SAFETY: as for the accept loop above.
        let spawned = unsafe {
            may::coroutine::Builder::new().spawn(move || {
                let bytes = s.stats.bytes();
                let mut conn = Counted::new(conn, &bytes);
                let outcome = super::echo_until_closed(&mut conn, &s.stats);
                s.conns.remove(id); // before `conn` closes at the end of this closure
                s.stats.conn_closed(&outcome);
            })
        };
        if spawned.is_err() {
            // No stack (out of memory mappings): this client is dropped, the server lives.
            shared.conns.remove(id);
            shared
                .stats
                .conn_closed(&Err(io::Error::other("no coroutine")));
            may::coroutine::sleep(backoff.pause());
        }
    }
}

impl Running for RunningMay {
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
        // SAFETY: shutdown(2) on the listening fd the accept loop still owns (it only closes
        // it when the loop returns, after we set `stop`); it wakes the parked accept, which
        // then fails, sees `stop` and returns. It closes nothing.
        unsafe { libc::shutdown(self.listener_fd, libc::SHUT_RDWR) };
        let _ = h.join();
        self.shared.conns.drain(&self.shared.stats, grace)
    }
}
