//! The course's `epoll`, on the raw calls: `epoll_create1`, then `epoll_ctl` to register a
//! socket (`EPOLL_CTL_ADD`), modify what it waits for (`EPOLL_CTL_MOD`: `EPOLLOUT` added
//! while replies wait, removed when they are written) and unregister it (`EPOLL_CTL_DEL`)
//! before it is closed; `epoll_wait` returns only the sockets that are ready, so the cost
//! of a pass does not grow with idle connections as `select`'s does. Two builds, one loop,
//! differing in one flag:
//!
//! - [`Trigger::Level`] (`epoll-lt`, epoll's default): a socket with unread bytes is
//!   reported on every `epoll_wait`, so one `recv(1024)` per report is enough, as in the
//!   course's code.
//! - [`Trigger::Edge`] (`epoll-et`, `EPOLLIN|EPOLLET`): a socket is reported once per
//!   arrival, so the loop must read until `EAGAIN` or strand what is left — one more
//!   `read(2)` per request (the one that finds nothing), the syscall difference `mayfly
//!   compare` counts. The listener is edge-triggered too: accept until `EAGAIN`.
//!
//! Fewer `epoll_wait`s and no scan is what the production `epoll` build (mio) does; this
//! one shows the calls mio hides. It keeps the echo [`Options`] as the non-blocking build
//! does (caps, `max_pending`, timeouts); at the connection cap it unregisters the listener
//! and registers it again when a slot frees.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use mayfly::server::Running;

use super::ready_loop::{Accepted, Acceptor, Drain, LoopHandle, Reads, Shared, Table};
use super::{Options, READ_BUF};

/// Level- or edge-triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// `epoll-lt`.
    Level,
    /// `epoll-et`.
    Edge,
}

impl Trigger {
    fn flag(self) -> u32 {
        match self {
            Trigger::Level => 0,
            Trigger::Edge => libc::EPOLLET as u32,
        }
    }

    fn reads(self) -> Reads {
        match self {
            Trigger::Level => Reads::Once,
            Trigger::Edge => Reads::UntilWouldBlock,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Trigger::Level => "epoll-lt",
            Trigger::Edge => "epoll-et",
        }
    }
}

/// Events one `epoll_wait` returns at most.
const MAX_EVENTS: usize = 1024;

/// An epoll instance.
struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1(2) takes no pointers; it returns a new fd or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by epoll_create1, is open and owned by nothing else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// `epoll_ctl(op, fd, events)`, the fd itself as the event's data.
    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: fd as u64,
        };
        // SAFETY: our own epoll fd, an fd the caller holds open, and a live epoll_event (the
        // kernel ignores it for EPOLL_CTL_DEL, but old kernels want it non-null).
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn register(&self, fd: RawFd, events: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events)
    }

    fn modify(&self, fd: RawFd, events: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events)
    }

    fn unregister(&self, fd: RawFd) {
        // Fails only for an fd not registered, which changes nothing.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0);
    }

    /// `epoll_wait` into `events`; the ready ones are the first `n`.
    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: `events` is a live, writable buffer of `events.len()` epoll_events.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

pub(crate) fn start(opts: &Options, trigger: Trigger) -> io::Result<Box<dyn Running>> {
    let (acceptor, addr) = Acceptor::bind(opts, trigger.name())?;
    let shared = Shared::new()?;
    let ep = Epoll::new()?;
    let listen = libc::EPOLLIN as u32 | trigger.flag();
    ep.register(acceptor.fd().expect("just bound"), listen)?;
    ep.register(shared.stop.raw(), libc::EPOLLIN as u32)?;
    let (s, o) = (shared.clone(), opts.clone());
    LoopHandle::spawn(trigger.name(), addr, shared, move || {
        epoll_loop(&ep, acceptor, &s, &o, trigger)
    })
}

/// What a connection should wait for now.
fn interest(c: &super::ready_loop::Conn, opts: &Options, trigger: Trigger) -> u32 {
    let mut ev = trigger.flag();
    if c.wants_read(opts.max_pending) {
        ev |= libc::EPOLLIN as u32;
    }
    if c.wants_write() {
        ev |= libc::EPOLLOUT as u32;
    }
    ev
}

fn epoll_loop(
    ep: &Epoll,
    mut acceptor: Acceptor,
    shared: &Shared,
    opts: &Options,
    trigger: Trigger,
) -> u64 {
    let stats = &shared.stats;
    let mut table = Table::new(opts);
    let mut drain = Drain::default();
    let mut buf = [0u8; READ_BUF];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    let listener = acceptor.fd().expect("just bound");
    let mut listening = true; // the listener is registered
    loop {
        if drain.begins(shared, &mut acceptor) {
            ep.unregister(shared.stop.raw()); // readable for good now
            ep.unregister(listener);
            listening = false;
        }
        if drain.over(&table) {
            return table.kill_all(stats);
        }
        // At the cap: unregister the listener; register it again when a slot frees (an
        // edge-triggered registration reports a listener that is already readable).
        let wants = acceptor.wants(table.len());
        if listening != wants && !drain.draining() {
            if wants {
                if let Err(e) = ep.register(listener, libc::EPOLLIN as u32 | trigger.flag()) {
                    log::error!(
                        "{}: cannot register the listener again: {e}",
                        trigger.name()
                    );
                    return table.kill_all(stats);
                }
            } else {
                ep.unregister(listener);
            }
            listening = wants;
        }
        let wait = drain.wait(table.until_sweep(), acceptor.paused_until());
        let timeout_ms = wait.map_or(-1, |d| d.as_millis().clamp(1, i32::MAX as u128) as i32);
        let n = match ep.wait(&mut events, timeout_ms) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!("{}: epoll_wait failed: {e}", trigger.name());
                return table.kill_all(stats);
            }
        };
        for ev in &events[..n] {
            let fd = ev.u64 as RawFd;
            let flags = ev.events;
            if fd == shared.stop.raw() {
                continue; // seen at the top of the next pass
            }
            if fd == listener {
                if listening {
                    accept_ready(ep, &mut acceptor, &mut table, opts, trigger, stats);
                }
                continue;
            }
            let Some(c) = table.get_mut(fd) else { continue };
            let mut step = Ok(());
            if flags & libc::EPOLLOUT as u32 != 0 || c.wants_write() {
                step = c.flush(stats);
            }
            let readable = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32;
            if flags & readable != 0 && step.is_ok() {
                step = c.read_and_reply(&mut buf, trigger.reads(), opts.max_pending, stats);
            }
            let step = step.and_then(|()| {
                let want = interest(c, opts, trigger);
                if !c.done() && want != c.interest {
                    ep.modify(fd, want)?;
                    c.interest = want;
                }
                Ok(())
            });
            match step {
                Err(e) => {
                    ep.unregister(fd);
                    table.close(fd, Some(e), stats);
                }
                Ok(()) if c.done() => {
                    ep.unregister(fd);
                    table.close(fd, None, stats);
                }
                Ok(()) => {}
            }
        }
        table.sweep(opts, stats, |fd| ep.unregister(fd));
    }
}

/// The listener is readable: accept one connection (level-triggered: it is reported again
/// while more wait) or every waiting one (edge-triggered), and register each.
fn accept_ready(
    ep: &Epoll,
    acceptor: &mut Acceptor,
    table: &mut Table,
    opts: &Options,
    trigger: Trigger,
    stats: &mayfly::server::ServerStats,
) {
    while acceptor.wants(table.len()) {
        match acceptor.accept(stats) {
            Accepted::Conn(mut c) => {
                let want = interest(&c, opts, trigger);
                match ep.register(c.fd(), want) {
                    Ok(()) => {
                        c.interest = want;
                        table.insert(c);
                    }
                    Err(e) => {
                        let fd = c.fd();
                        table.insert(c);
                        table.close(fd, Some(e), stats);
                    }
                }
                if trigger == Trigger::Level {
                    return;
                }
            }
            Accepted::Refused => {}
            Accepted::Nothing => return,
        }
    }
}
