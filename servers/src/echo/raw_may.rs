//! The raw-may reference build: may's own `TcpListener`/`TcpStream` and one may coroutine per
//! connection on may's one worker, with no mayfly layer in between (no greenlet bookkeeping,
//! no `StreamServer`). It exists to measure what mayfly's layer costs over the crate it
//! stands on; it is the one place in servers/ that talks to `may` directly.
//!
//! The runtime is configured by mayfly ([`mayfly::Config`]: one worker, mayfly's stack size),
//! so the stats page can run beside it in the same process.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::Arc;

use mayfly::server::Running;

use crate::blocking_accept::{self, Accepting, Order, Shared};

use super::{Counted, Options};

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
    let o = opts.clone();
    blocking_accept::start(listener, addr, Order::JoinThenDrain, move |l, s| {
        // SAFETY (may's two conditions for `spawn`): the accept loop and the handlers it
        // spawns keep no thread-local across a switch (they touch only their own sockets and
        // the shared counters), and may's stacks have guard pages. They wait only on socket
        // I/O (resumed by the worker's event loop) and on `may::coroutine::sleep` between
        // accept retries.
        unsafe {
            may::coroutine::Builder::new()
                .name("raw-may-accept".into())
                .spawn(move || accept_loop(&l, &s, &o))
        }
    })
}

fn accept_loop(listener: &may::net::TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut accepting = Accepting::new(shared, "may", listener.local_addr(), may::coroutine::sleep)
        .capped(opts.explicit_cap(), None);
    while let Some((conn, _)) = accepting.next(|| listener.accept()) {
        let _ = conn.set_read_timeout(opts.read_timeout);
        let _ = conn.set_write_timeout(opts.write_timeout);
        let id = shared.opened(conn.as_raw_fd());
        let s = shared.clone();
        // SAFETY: as for the accept loop above.
        let spawned = unsafe {
            may::coroutine::Builder::new().spawn(move || {
                let bytes = s.stats.bytes();
                let mut conn = Counted::new(conn, &bytes);
                let outcome = super::echo_until_closed(&mut conn, &s.stats);
                s.closed(id, &outcome); // before `conn` closes at the end of this closure
            })
        };
        if let Err(e) = spawned {
            accepting.spawn_failed(id, "coroutine", &e);
        }
    }
}
