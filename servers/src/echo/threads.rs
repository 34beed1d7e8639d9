//! The threads build: `std::net`, one OS thread per connection — Python's
//! `socketserver.ThreadingTCPServer`, the model the coroutine build is compared against.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mayfly::net::ByteCounters;
use mayfly::server::{AcceptBackoff, ServerStats};

use super::{Options, RunningEcho};

struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// A second handle to every open connection, so shutdown can close the stragglers.
    conns: Mutex<HashMap<u64, TcpStream>>,
    spawn_errors: AtomicU64,
    stats: Arc<ServerStats>,
}

/// A std stream that adds its bytes to a server's counters.
struct Counted<'a> {
    inner: TcpStream,
    bytes: &'a ByteCounters,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.add_read(n as u64);
        Ok(n)
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.add_written(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Running {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    accept: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn RunningEcho>> {
    let listener = Arc::new(super::bind_std(opts)?);
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        next_id: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
        spawn_errors: AtomicU64::new(0),
        stats: Arc::new(ServerStats::new()),
    });
    let (l, s, o) = (listener.clone(), shared.clone(), opts.clone());
    let accept = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept_loop(&l, &s, &o))?;
    Ok(Box::new(Running {
        addr,
        listener,
        accept: Some(accept),
        shared,
    }))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut backoff = AcceptBackoff::new(format!(
        "threads: accept on {:?}",
        listener.local_addr().ok()
    ));
    loop {
        if let Some(max) = opts.max_connections {
            while shared.stats.active() >= max && !shared.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let (conn, _) = match listener.accept() {
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
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(second) = conn.try_clone() {
            shared.conns.lock().unwrap().insert(id, second);
        }
        shared.stats.conn_opened();
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(opts.thread_stack)
            .spawn(move || {
                let bytes = s.stats.bytes();
                let mut conn = Counted {
                    inner: conn,
                    bytes: &bytes,
                };
                let outcome = super::echo_until_closed(&mut conn, &s.stats);
                s.conns.lock().unwrap().remove(&id);
                s.stats.conn_closed(&outcome);
            });
        if let Err(e) = spawned {
            // Out of threads (EAGAIN) or memory: this client is dropped, the server lives.
            shared.conns.lock().unwrap().remove(&id);
            shared
                .stats
                .conn_closed(&Err(io::Error::other("no thread")));
            if shared.spawn_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("threads: cannot start a thread per connection: {e}");
            }
            std::thread::sleep(backoff.pause());
        }
    }
}

impl RunningEcho for Running {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn shutdown(mut self: Box<Self>, grace: Duration) -> u64 {
        self.shared.stop.store(true, Ordering::Release);
        // SAFETY: shutdown(2) on our own open listening fd; it wakes the blocked accept
        // (which then fails with EINVAL) and closes nothing.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let until = Instant::now() + grace;
        while self.shared.stats.active() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let left: Vec<TcpStream> = self
            .shared
            .conns
            .lock()
            .unwrap()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in &left {
            let _ = c.shutdown(Shutdown::Both);
        }
        let until = Instant::now() + Duration::from_secs(2);
        while self.shared.stats.active() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.shared.stats.killed(left.len() as u64);
        left.len() as u64
    }

    fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }
}
