//! The coroutine build: a mayfly `StreamServer`, one greenlet per connection, one worker.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::{Bind, TcpStream};
use mayfly::server::{RunningServer, ServerStats, StreamServer};

use super::{Options, RunningEcho};

/// The course's `talk(conn)`, one greenlet per connection.
pub(crate) fn talk(mut conn: TcpStream, stats: &ServerStats) -> io::Result<()> {
    super::echo_until_closed(&mut conn, stats)
}

struct Running(RunningServer);

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn RunningEcho>> {
    let listener = Bind::new(opts.addr.as_str())
        .backlog(opts.backlog)
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let stats = Arc::new(ServerStats::new());
    let s2 = stats.clone();
    let server = StreamServer::new(listener, move |conn, _peer| talk(conn, &s2))
        .max_connections(opts.connection_cap())
        .max_per_peer(opts.peer_cap())
        .read_timeout(opts.read_timeout)
        .write_timeout(opts.write_timeout)
        .with_counters(stats);
    Ok(Box::new(Running(server.start())))
}

impl RunningEcho for Running {
    fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    fn shutdown(self: Box<Self>, grace: Duration) -> u64 {
        self.0.stop(grace)
    }

    fn stats(&self) -> Arc<ServerStats> {
        self.0.counters()
    }
}
