//! The threads HTTP build: `std::net`, one OS thread per connection, each running the same
//! parser as the coroutine build (may_minihttp's `serve` over a blocking `std` stream) —
//! Python's `http.server.ThreadingHTTPServer`.

use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use may_minihttp::{Limits, Request, Response};
use mayfly::server::{Running, ServerStats};

use super::routes::{answer, fill};
use super::Options;
use crate::blocking_accept::{self, Accepting, Order, Shared};
use crate::echo::Counted;

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = super::bind_std(opts)?;
    let addr = listener.local_addr()?;
    let o = opts.clone();
    blocking_accept::start(listener, addr, Order::JoinThenDrain, move |l, s| {
        std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(&l, &s, &o))
    })
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, opts: &Options) {
    let mut accepting = Accepting::new(
        shared,
        "http threads",
        listener.local_addr(),
        std::thread::sleep,
    )
    .capped(opts.http.connection_cap(), opts.http.peer_cap());
    let limits = Arc::new(opts.http.limits());
    while let Some((conn, slot)) = accepting.next(|| listener.accept()) {
        let _ = conn.set_read_timeout(opts.http.read_timeout);
        let _ = conn.set_write_timeout(opts.http.write_timeout);
        let _ = conn.set_nodelay(true);
        let id = shared.opened(conn.as_raw_fd());
        let (s, limits) = (shared.clone(), limits.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(opts.thread_stack)
            .spawn(move || {
                let outcome = talk(&conn, &s.stats, &limits);
                // The peer's slot first: the accept loop resumes once `closed` counts this
                // connection gone, and its peer's next client must find the slot free.
                drop(slot);
                s.closed(id, &outcome); // before `conn` closes at the end of this closure
            });
        if let Err(e) = spawned {
            accepting.spawn_failed(id, "thread", &e);
        }
    }
}

/// One connection: may_minihttp's loop on the blocking socket, every answer counted, then
/// a lingering close after a refusal (as mayfly-http does).
fn talk(conn: &TcpStream, stats: &ServerStats, limits: &Limits) -> io::Result<()> {
    let bytes = stats.bytes();
    let mut stream = Counted::new(conn, &bytes);
    let mut service = |req: &Request<'_>, rsp: &mut Response| {
        stats.requests(1);
        fill(rsp, answer(req.method(), req.path()));
        Ok(())
    };
    let r = may_minihttp::serve(&mut stream, &mut service, limits);
    if matches!(&r, Err(e) if e.kind() == io::ErrorKind::InvalidData) {
        linger(conn);
    }
    r
}

/// Shuts the write side and reads what the client still sends for at most
/// [`mayfly_http::DEFAULT_LINGER`], so it reads the refusal instead of a reset.
fn linger(mut conn: &TcpStream) {
    let _ = conn.shutdown(Shutdown::Write);
    let until = Instant::now() + mayfly_http::DEFAULT_LINGER;
    let mut sink = [0u8; 4096];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
