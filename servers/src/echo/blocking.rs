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
use std::net::TcpListener;
use std::os::fd::AsRawFd;

use mayfly::server::Running;

use crate::blocking_accept::{self, Accepting, Order, Shared};

use super::ready_loop::FdIo;
use super::{Counted, Options};

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = super::bind_std(opts)?;
    let addr = listener.local_addr()?;
    let o = opts.clone();
    blocking_accept::start(listener, addr, Order::DrainThenJoin, move |l, s| {
        std::thread::Builder::new()
            .name("blocking".into())
            .spawn(move || serve_one_at_a_time(&l, &s, &o))
    })
}

fn serve_one_at_a_time(listener: &TcpListener, shared: &Shared, opts: &Options) {
    let mut accepting = Accepting::new(
        shared,
        "blocking",
        listener.local_addr(),
        std::thread::sleep,
    );
    // conn, addr = server.accept()
    while let Some((conn, _)) = accepting.next(|| listener.accept()) {
        let _ = conn.set_read_timeout(opts.read_timeout);
        let _ = conn.set_write_timeout(opts.write_timeout);
        let id = shared.opened(conn.as_raw_fd());
        // Registered before this check: a stop that set the flag after it finds the entry.
        let outcome = if shared.stopping() {
            Err(io::Error::other("accepted while stopping"))
        } else {
            let bytes = shared.stats.bytes();
            // while True: data = conn.recv(1024) … conn.send(data.upper())
            super::echo_until_closed(&mut Counted::new(FdIo(&conn), &bytes), &shared.stats)
        };
        shared.forget(id); // before `conn` closes
        drop(conn);
        shared.stats.conn_closed(&outcome);
    }
}
