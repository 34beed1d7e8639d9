//! The threads build: `std::net`, one OS thread per connection — Python's
//! `socketserver.ThreadingTCPServer`, the model the coroutine build is compared against.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Options, RunningEcho};

struct Shared {
    stop: AtomicBool,
    active: AtomicU64,
    next_id: AtomicU64,
    /// A second handle to every open connection, so shutdown can close the stragglers.
    conns: Mutex<HashMap<u64, TcpStream>>,
    spawn_errors: AtomicU64,
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
        active: AtomicU64::new(0),
        next_id: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
        spawn_errors: AtomicU64::new(0),
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
    let mut backoff = Duration::from_millis(10);
    loop {
        if let Some(max) = opts.max_connections {
            while shared.active.load(Ordering::Acquire) >= max
                && !shared.stop.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let (conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                eprintln!("threads: accept failed: {e}; retrying in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(second) = conn.try_clone() {
            shared.conns.lock().unwrap().insert(id, second);
        }
        shared.active.fetch_add(1, Ordering::AcqRel);
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(opts.thread_stack)
            .spawn(move || {
                let mut conn = conn;
                let _ = super::echo_until_closed(&mut conn);
                s.conns.lock().unwrap().remove(&id);
                s.active.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            // Out of threads (EAGAIN) or memory: this client is dropped, the server lives.
            shared.conns.lock().unwrap().remove(&id);
            shared.active.fetch_sub(1, Ordering::AcqRel);
            if shared.spawn_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("threads: cannot start a thread per connection: {e}");
            }
            std::thread::sleep(backoff);
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
        while self.shared.active.load(Ordering::Acquire) > 0 && Instant::now() < until {
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
        while self.shared.active.load(Ordering::Acquire) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        left.len() as u64
    }
}
