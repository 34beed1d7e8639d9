//! [`Running`]: what every started server offers, whatever runs it: its address, its
//! counters, a graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::stats::{ServerStats, StatsSnapshot};

/// What every started server offers, whatever runs it (a [`StreamServer`](super::StreamServer)'s greenlets, a
/// thread per connection, an epoll loop): where it listens, its counters, and a graceful
/// stop. Object safe, so a program can hold any build as a `Box<dyn Running>`.
///
/// An implementation whose stop needs to join threads keeps their handles behind a mutex:
/// `stop` takes `&self` so it can be called from a signal-handling thread while other
/// threads still read the counters.
///
/// ```
/// use std::time::Duration;
/// use mayfly::server::{Running, StreamServer};
///
/// fn drain(server: &dyn Running) -> u64 {
///     println!("stopping {} after {} connections", server.local_addr(), server.stats().accepted);
///     server.stop(Duration::from_millis(100))
/// }
///
/// mayfly::run(|| {
///     let server = StreamServer::bind("127.0.0.1:0", |_conn, _peer| Ok(())).unwrap().start();
///     let counters = server.counters(); // live: a stats page can keep reading them
///     assert_eq!(drain(&server), 0);
///     assert_eq!(counters.snapshot().active, 0);
/// });
/// ```
pub trait Running: Send {
    /// The address it listens on.
    fn local_addr(&self) -> SocketAddr;

    /// The live counters (shared: they keep counting after this call).
    fn counters(&self) -> Arc<ServerStats>;

    /// A copy of the counters now.
    fn stats(&self) -> StatsSnapshot {
        self.counters().snapshot()
    }

    /// Stops accepting at once, lets open connections finish for up to `grace`, then closes
    /// (kills) the rest. Returns how many had to be closed.
    fn stop(&self, grace: Duration) -> u64;
}
