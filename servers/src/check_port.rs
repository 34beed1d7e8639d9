//! A health-check port for a load balancer (`mayfly serve … --check-addr ADDR`): a TCP
//! listener that accepts, and at once closes, every connection while the server is healthy,
//! and stops listening at the first moment of a drain. The balancer's TCP check then fails
//! and it marks the host down, while the service port still accepts for the drain delay
//! (`--drain-delay`), so no connection is left in the service's listen queue when that one
//! stops listening (Linux resets those). docs/SCALING.md configures HAProxy for it.
//!
//! ```
//! use std::net::TcpStream;
//! use mayfly_servers::check_port::CheckPort;
//!
//! let check = CheckPort::bind("127.0.0.1:0")?;
//! let addr = check.local_addr();
//! assert!(TcpStream::connect(addr).is_ok()); // healthy: the check connects
//! check.close();
//! assert!(TcpStream::connect(addr).is_err()); // draining: refused
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Default `--drain-delay`: none, the service stops listening at the signal.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::ZERO;

/// The check port's listen backlog: a balancer's checks, a few at a time.
pub const CHECK_BACKLOG: i32 = 64;

/// How long the accept thread pauses after a failed accept (out of fds, say).
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// A listening check port and the thread that accepts on it; closed by [`close`](Self::close)
/// or when dropped.
#[derive(Debug)]
pub struct CheckPort {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CheckPort {
    /// Binds `addr` (port 0: any free port, read back with [`local_addr`](Self::local_addr))
    /// and starts accepting on it.
    ///
    /// # Errors
    /// The address does not resolve or cannot be bound, or the thread cannot start.
    pub fn bind(addr: &str) -> io::Result<CheckPort> {
        let listener = Arc::new(crate::listen::bind_std(addr, CHECK_BACKLOG, false)?);
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (listener.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("check-port".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    match l.accept() {
                        Ok((conn, _)) => drop(conn), // the connect was the check
                        Err(_) if s.load(Ordering::Acquire) => return,
                        Err(e) => {
                            log::debug!(error:% = e; "check port: accept: {e}");
                            std::thread::sleep(RETRY_PAUSE);
                        }
                    }
                }
            })?;
        Ok(CheckPort {
            addr: local,
            listener,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening: a check's connect is refused from now on.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        // SAFETY: shutdown(2) on our own open listening fd (the Arc keeps it open); it wakes
        // the blocked accept and makes new connects fail, and closes nothing.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = t.join();
    }
}

impl Drop for CheckPort {
    fn drop(&mut self) {
        self.shut();
    }
}
