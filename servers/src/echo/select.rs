//! The course's `select`: one thread, and each pass hands the kernel a read list (the
//! listener and every connection it may read from) and a write list (every connection with
//! replies waiting) as `fd_set`s, then walks every connection to see which `select(2)`
//! marked. Both the kernel's scan and the walk grow with the number of connections — the
//! cost `mayfly compare` shows climbing from 10 to 1,000 connections.
//!
//! An `fd_set` is a bitmap of [`FD_SETSIZE`] (1024) bits: a file descriptor numbered 1024
//! or more cannot be watched at all. A connection whose fd is at or past the limit
//! ([`Options::select_fds`], at most [`FD_SETSIZE`]) is closed as soon as it is accepted
//! and counted in the `select_refused` gauge (the stats page shows it); the first such
//! refusal is logged once. It keeps the other echo [`Options`] as the non-blocking build
//! does (caps, `max_pending`, timeouts).

use mayfly::server::Metric;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

use mayfly::server::Running;

use super::ready_loop::{Accepted, Acceptor, Drain, LoopHandle, Reads, Shared, Table};
use super::{Options, READ_BUF};

/// The bits in an `fd_set`: `select(2)` cannot watch an fd numbered this or more.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;
/// Default [`Options::select_fds`]: all of [`FD_SETSIZE`].
pub const DEFAULT_SELECT_FDS: usize = FD_SETSIZE;

/// The gauge counting connections refused for an fd past the limit.
pub const REFUSED_GAUGE: Metric = Metric::counter(
    "select_refused",
    "Connections the select build closed because their fd was at or past --select-fds.",
);

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let limit = opts.select_fds;
    if limit == 0 || limit > FD_SETSIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("select watches fds below at most FD_SETSIZE ({FD_SETSIZE}), not {limit}"),
        ));
    }
    let (acceptor, addr) = Acceptor::bind(opts, "select")?;
    let shared = Shared::new()?;
    for fd in [acceptor.fd().unwrap_or(0), shared.stop.raw()] {
        if fd as usize >= limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("select: the server's own fd {fd} is past the fd limit of {limit}"),
            ));
        }
    }
    let (s, o) = (shared.clone(), opts.clone());
    LoopHandle::spawn("select", addr, shared, move || {
        select_loop(acceptor, &s, &o, limit)
    })
}

/// A zeroed (empty) `fd_set`.
fn empty_set() -> libc::fd_set {
    // SAFETY: fd_set is a plain bitmap; all zeroes is the empty set (what FD_ZERO writes).
    unsafe { std::mem::zeroed() }
}

/// `FD_SET(fd, set)`, for an fd the loop checked is below [`FD_SETSIZE`].
fn add(set: &mut libc::fd_set, fd: RawFd, max: &mut RawFd) {
    debug_assert!((fd as usize) < FD_SETSIZE);
    // SAFETY: `set` is a live fd_set and `fd` is in 0..FD_SETSIZE (every fd put in a set is
    // the listener, the stop fd or a connection, each checked against the limit).
    unsafe { libc::FD_SET(fd, set) };
    *max = (*max).max(fd);
}

/// `FD_ISSET(fd, set)`.
fn has(set: &libc::fd_set, fd: RawFd) -> bool {
    // SAFETY: as for `add`: a live fd_set, and `fd` below FD_SETSIZE.
    unsafe { libc::FD_ISSET(fd, set) }
}

fn select_loop(mut acceptor: Acceptor, shared: &Shared, opts: &Options, limit: usize) -> u64 {
    let stats = &shared.stats;
    let refused = stats.gauge(REFUSED_GAUGE);
    let mut table = Table::new(opts);
    let mut drain = Drain::default();
    let mut buf = [0u8; READ_BUF];
    loop {
        drain.begins(shared, &mut acceptor);
        if drain.over(&table) {
            return table.kill_all(stats);
        }
        // rlist, wlist = [server, *readers], [*writers]
        let (mut rset, mut wset) = (empty_set(), empty_set());
        let mut max: RawFd = -1;
        let listener = acceptor.fd().filter(|_| acceptor.wants(table.len()));
        if let Some(l) = listener {
            add(&mut rset, l, &mut max);
        }
        if !drain.draining() {
            add(&mut rset, shared.stop.raw(), &mut max);
        }
        for (&fd, c) in table.iter() {
            if c.wants_read(opts.max_pending) {
                add(&mut rset, fd, &mut max);
            }
            if c.wants_write() {
                add(&mut wset, fd, &mut max);
            }
        }
        let wait = drain.wait(table.until_sweep(), acceptor.paused_until());
        let mut tv = wait.map(|d| libc::timeval {
            tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_usec: d.subsec_micros() as libc::suseconds_t,
        });
        let tvp = tv
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
        // SAFETY: both sets are live fd_sets holding fds below FD_SETSIZE, `max + 1` bounds
        // them, no except set, and `tvp` is null or points at a live timeval.
        let n = unsafe { libc::select(max + 1, &mut rset, &mut wset, std::ptr::null_mut(), tvp) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            log::error!("select: select failed: {e}");
            return table.kill_all(stats);
        }
        if listener.is_some_and(|l| has(&rset, l)) {
            while acceptor.wants(table.len()) {
                match acceptor.accept(stats) {
                    Accepted::Conn(c) if c.fd() as usize >= limit => {
                        if refused.fetch_add(1, Ordering::Relaxed) == 0 {
                            log::warn!(
                                "select: connection on fd {} refused: select(2) watches only fds \
                                 below {limit} (FD_SETSIZE is {FD_SETSIZE}); closing every \
                                 connection past it (counted in the {} counter, logged once)",
                                c.fd(),
                                REFUSED_GAUGE.name
                            );
                        }
                        let fd = c.fd();
                        table.insert(c);
                        table.close(fd, Some(io::Error::other("past FD_SETSIZE")), stats);
                    }
                    Accepted::Conn(c) => table.insert(c),
                    Accepted::Refused => {}
                    Accepted::Nothing => break,
                }
            }
        }
        // for s in readable: …  for s in writable: …
        for fd in table.fds() {
            let (r, w) = (has(&rset, fd), has(&wset, fd));
            if !(r || w) {
                continue;
            }
            let Some(c) = table.get_mut(fd) else { continue };
            let mut step = Ok(());
            if w {
                step = c.flush(stats);
            }
            if r && step.is_ok() {
                step = c.read_and_reply(&mut buf, Reads::Once, opts.max_pending, stats);
            }
            match step {
                Err(e) => table.close(fd, Some(e), stats),
                Ok(()) if c.done() => table.close(fd, None, stats),
                Ok(()) => {}
            }
        }
        table.sweep(opts, stats, |_| {});
    }
}
