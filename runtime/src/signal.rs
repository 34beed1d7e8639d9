//! Unix signals delivered to greenlets (gevent's `signal_handler`): [`Signals`], a stream of
//! the signals asked for that a greenlet reads, parking until one comes, and
//! [`signal_handler`], which runs a callback in a greenlet of its own for each delivery.
//!
//! How: the OS handler, registered through signal-hook's process-wide registry (so it chains
//! with every other handler instead of replacing it), only writes the signal's number as one
//! byte to a socket pair; the greenlet reads the other end as a coroutine socket. Writing
//! to a socket is async-signal-safe; nothing else happens inside the handler. When the pair's
//! buffer is full (thousands of signals not read), further bytes are dropped, as the kernel
//! itself merges pending signals of one number.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use crate::greenlet::Greenlet;
use crate::net::UnixStream;

/// The signals asked for, as a stream a greenlet reads (gevent's `signal_handler` in its
/// "wait for it" form; Python's `signal.sigwait`, without blocking the worker).
///
/// ```
/// mayfly::run(|| {
///     let mut signals = mayfly::signal::Signals::new(&[libc::SIGUSR1]).unwrap();
///     // SAFETY (doc example): raise(3) sends SIGUSR1 to this process, whose handler the
///     // line above registered.
///     unsafe { libc::raise(libc::SIGUSR1) };
///     assert_eq!(signals.recv().unwrap(), libc::SIGUSR1);
/// });
/// ```
#[derive(Debug)]
pub struct Signals {
    reader: UnixStream,
    /// The write end the OS handlers write to; kept open while they are registered.
    _writer: UnixStream,
    ids: Vec<signal_hook_registry::SigId>,
}

impl Signals {
    /// Starts catching `signals` (their default action, such as ending the process for
    /// SIGTERM, no longer happens while this lives; other handlers registered through
    /// signal-hook still run).
    ///
    /// # Errors
    /// `InvalidInput` for a signal that cannot be caught (SIGKILL, SIGSTOP, SIGSEGV and the
    /// other fault signals, or a number out of range); the socket pair's error.
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        let (reader, writer) = UnixStream::pair()?;
        let fd = writer.as_raw_fd();
        let mut out = Signals {
            reader,
            _writer: writer,
            ids: Vec::new(),
        };
        for &sig in signals {
            if signal_hook_registry::FORBIDDEN.contains(&sig) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "signal {sig} cannot be caught (SIGKILL, SIGSTOP and the fault signals)"
                    ),
                ));
            }
            let byte = u8::try_from(sig).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("no signal {sig}"))
            })?;
            // SAFETY: signal-hook-registry's contract for `register` is that the action is
            // async-signal-safe. It makes one write(2) of one byte from a stack variable to
            // `fd`, which stays open until the SigIds are unregistered (in Drop, before the
            // write end closes); write(2) is async-signal-safe and touches no lock or
            // allocation. A full socket buffer makes the nonblocking write fail with EAGAIN:
            // the signal is dropped, nothing blocks. errno is saved and restored so the
            // interrupted code does not see it change.
            let id = unsafe {
                signal_hook_registry::register(sig, move || {
                    let saved = *libc::__errno_location();
                    libc::write(fd, (&byte as *const u8).cast(), 1);
                    *libc::__errno_location() = saved;
                })
            }
            .map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("signal {sig}: {e}"))
            })?;
            out.ids.push(id);
        }
        Ok(out)
    }

    /// Waits for the next signal and returns its number, parking only this greenlet (an
    /// enclosing [`crate::Timeout`] and a kill interrupt it).
    ///
    /// # Errors
    /// The socket's error (none is expected); `UnexpectedEof` if the pair was closed.
    pub fn recv(&mut self) -> io::Result<i32> {
        let mut b = [0u8; 1];
        self.reader.read_exact(&mut b)?;
        Ok(i32::from(b[0]))
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook_registry::unregister(id);
        }
    }
}

/// A callback run in a greenlet of its own at each delivery of a signal (gevent's
/// `gevent.signal_handler(signum, handler)`); from [`signal_handler`]. Dropping it (or
/// [`cancel`](SignalHandler::cancel)) stops catching the signal.
#[derive(Debug)]
#[must_use = "a SignalHandler stops catching the signal when dropped"]
pub struct SignalHandler {
    listener: Greenlet<()>,
}

impl SignalHandler {
    /// Stops catching the signal: its OS handler is removed before this returns.
    pub fn cancel(self) {}
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.listener.kill();
    }
}

/// Runs `handler` in a new greenlet each time `signum` is delivered (gevent's
/// `signal_handler`): unlike a raw signal handler, it may do anything a greenlet does —
/// block, lock, allocate. A handler that panics is reported like any greenlet and does not
/// stop the next delivery.
///
/// ```
/// use std::sync::Arc;
/// use mayfly::event::Event;
/// mayfly::run(|| {
///     let got = Arc::new(Event::new());
///     let g2 = got.clone();
///     let _h = mayfly::signal::signal_handler(libc::SIGUSR2, move || g2.set()).unwrap();
///     // SAFETY (doc example): raise(3) sends SIGUSR2 to this process, caught above.
///     unsafe { libc::raise(libc::SIGUSR2) };
///     assert!(got.wait(Some(std::time::Duration::from_secs(5))));
/// });
/// ```
///
/// # Errors
/// As [`Signals::new`]; [`crate::SpawnError`]'s message as `Other` if its greenlet cannot be
/// spawned.
pub fn signal_handler(
    signum: i32,
    handler: impl Fn() + Send + Sync + 'static,
) -> io::Result<SignalHandler> {
    let mut signals = Signals::new(&[signum])?;
    let handler = Arc::new(handler);
    let listener = crate::greenlet::Builder::new()
        .name(format!("signal-{signum}"))
        .spawn(move || {
            while signals.recv().is_ok() {
                let h = handler.clone();
                let _reported_by_the_hook = crate::greenlet::Builder::new()
                    .name(format!("signal-{signum}-handler"))
                    .spawn(move || h());
            }
        })
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(SignalHandler { listener })
}
