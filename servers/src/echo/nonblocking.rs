//! The course's non-blocking IO: the listener and every connection in `O_NONBLOCK` mode
//! (`setblocking(False)`), and one loop that never waits — try `accept`, then try `recv`
//! on every connection in turn, skipping each that has nothing (`EAGAIN`, Python's
//! `BlockingIOError`), and start again. It serves many clients on one thread, and it keeps
//! one core busy even when no client is connected: that busy core is the lesson
//! (`mayfly compare` reports it as idle CPU).
//!
//! As in the course, it accepts at most one connection per pass. It keeps the echo
//! [`Options`]: the connection and per-peer caps, [`Options::max_pending`] (a connection
//! past it is not read until it drains), the read and write timeouts (checked by a sweep at
//! most every [`SWEEP_MAX`](super::ready_loop) late). It never sleeps, so it notices a stop
//! on the next pass (the flag, not the eventfd).

use std::io;

use mayfly::server::Running;

use super::ready_loop::{Accepted, Acceptor, Drain, LoopHandle, Reads, Shared, Table};
use super::{Options, READ_BUF};

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let (acceptor, addr) = Acceptor::bind(opts, "nonblocking")?;
    let shared = Shared::new()?;
    let (s, o) = (shared.clone(), opts.clone());
    LoopHandle::spawn("nonblocking", addr, shared, move || {
        busy_loop(acceptor, &s, &o)
    })
}

fn busy_loop(mut acceptor: Acceptor, shared: &Shared, opts: &Options) -> u64 {
    let stats = &shared.stats;
    let mut table = Table::new(opts);
    let mut drain = Drain::default();
    let mut buf = [0u8; READ_BUF];
    loop {
        drain.begins(shared, &mut acceptor);
        if drain.over(&table) {
            return table.kill_all(stats);
        }
        // try: conn, addr = server.accept()  except BlockingIOError: pass
        if acceptor.wants(table.len()) {
            if let Accepted::Conn(c) = acceptor.accept(stats) {
                table.insert(c);
            }
        }
        // for conn in conn_list: try: data = conn.recv(1024) …  except BlockingIOError: pass
        for fd in table.fds() {
            let Some(c) = table.get_mut(fd) else { continue };
            let r = c
                .flush(stats)
                .and_then(|()| c.read_and_reply(&mut buf, Reads::Once, opts.max_pending, stats));
            match r {
                Err(e) => table.close(fd, Some(e), stats),
                Ok(()) if c.done() => table.close(fd, None, stats),
                Ok(()) => {}
            }
        }
        table.sweep(opts, stats, |_| {});
    }
}
