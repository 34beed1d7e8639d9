//! The skeleton of the reference builds on tokio (the tokio echo build, hyper's HTTP build):
//! tokio's current-thread runtime on an OS thread of its own; the stop, a watch channel that
//! carries the grace period; the accept loop under the connection cap (a semaphore) and the
//! per-peer cap, with the accept back-off; one task per connection in a `JoinSet`; and the
//! drain: stop listening, wait up to the grace for the tasks, abort the rest and count them
//! killed. A build supplies only what one connection's task does ([`start`]'s `handler`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mayfly::server::{AcceptBackoff, PeerLimit, Running, ServerStats};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The stop as a connection's task sees it: it changes (to the grace period) when the server
/// stops.
pub(crate) type Stopping = watch::Receiver<Option<Duration>>;

/// What caps a tokio build's accept loop.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caps {
    /// Accept waits while this many connections are open.
    pub(crate) connections: Option<u64>,
    /// A connection over its peer's count is closed at once.
    pub(crate) per_peer: Option<u64>,
}

struct RunningTokio {
    addr: SocketAddr,
    /// Sending the grace period stops the server; the thread returns how many it closed.
    stop: watch::Sender<Option<Duration>>,
    /// The runtime's thread until the first stop takes it (a second stop finds `None`).
    thread: Mutex<Option<JoinHandle<u64>>>,
    stats: Arc<ServerStats>,
}

/// Starts a tokio build on `listener` (a blocking one, made non-blocking here) in a thread
/// called `name` (also its log lines' prefix). Each accepted connection is counted open and
/// handed to `handler` with the server's counters and the stop; the future it returns runs
/// as the connection's task and must count the connection closed when it ends (an aborted
/// task is counted by the drain).
///
/// # Errors
/// Making the listener non-blocking, building the runtime or starting its thread failed.
pub(crate) fn start<F, Fut>(
    listener: std::net::TcpListener,
    name: &'static str,
    caps: Caps,
    handler: F,
) -> io::Result<Box<dyn Running>>
where
    F: FnMut(TcpStream, &Arc<ServerStats>, &Stopping) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let (stop, stop_rx) = watch::channel(None);
    let s = stats.clone();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                Ok::<u64, io::Error>(serve(listener, name, s, caps, stop_rx, handler).await)
            })
            .unwrap_or_else(|e| {
                log::error!(error:% = e; "{name}: {e}");
                0
            })
        })?;
    Ok(Box::new(RunningTokio {
        addr,
        stop,
        thread: Mutex::new(Some(thread)),
        stats,
    }))
}

/// The accept loop until the stop, then the drain; returns how many connections it closed.
async fn serve<F, Fut>(
    listener: TcpListener,
    name: &str,
    stats: Arc<ServerStats>,
    caps: Caps,
    mut stop: Stopping,
    mut handler: F,
) -> u64
where
    F: FnMut(TcpStream, &Arc<ServerStats>, &Stopping) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = AcceptBackoff::on(&format!("{name}: accept"), listener.local_addr());
    let cap = caps
        .connections
        .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS as u64) as usize)));
    let peers = caps.per_peer.map(|n| Arc::new(PeerLimit::new(n)));
    let mut tasks = JoinSet::new();
    loop {
        let permit = match &cap {
            Some(cap) => tokio::select! {
                _ = stop.changed() => break,
                p = cap.clone().acquire_owned() => Some(p.expect("never closed")),
            },
            None => None,
        };
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            r = listener.accept() => r,
        };
        let (conn, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                stats.accept_error();
                if let Some(pause) = backoff.failed(&e) {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        backoff.succeeded();
        let slot = match &peers {
            Some(p) => match p.admit(peer.ip()) {
                Some(slot) => Some(slot),
                None => continue, // over its peer's cap: closed at once
            },
            None => None,
        };
        stats.conn_opened();
        let task = handler(conn, &stats, &stop);
        tasks.spawn(async move {
            // Dropped in this order: the peer's slot is free before the connection's
            // permit lets the accept loop take the peer's next client.
            let _held = (slot, permit);
            task.await;
        });
    }
    drop(listener);
    let grace = (*stop.borrow()).unwrap_or_default();
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    let left = tasks.len() as u64;
    tasks.shutdown().await;
    for _ in 0..left {
        // Aborted handlers never reached their own `conn_closed`.
        stats.conn_closed(&Ok(()));
    }
    stats.killed(left);
    left
}

impl Running for RunningTokio {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = thread.take() else {
            return 0;
        };
        let _ = self.stop.send(Some(grace));
        t.join().unwrap_or_default()
    }
}
