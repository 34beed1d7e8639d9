//! The coroutine build: a mayfly `StreamServer`, one greenlet per connection, one worker;
//! over TLS, `StreamServer::new_tls` (the handshake in the connection's greenlet).

use std::io;
use std::sync::Arc;

use mayfly::net::{Bind, TcpStream};
use mayfly::server::{Cap, Running, ServerStats, StreamServer};

use super::Options;

/// The course's `talk(conn)`, one greenlet per connection.
pub(crate) fn talk(mut conn: TcpStream, stats: &ServerStats) -> io::Result<()> {
    super::echo_until_closed(&mut conn, stats)
}

/// The runtime's own `RunningServer` is the running handle: it already implements [`Running`].
pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = Bind::new(opts.addr.as_str())
        .backlog(opts.backlog)
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let stats = Arc::new(ServerStats::new());
    let s2 = stats.clone();
    let server = match &opts.tls {
        None => StreamServer::new(listener, move |conn, _peer| talk(conn, &s2)),
        Some(acceptor) => StreamServer::new_tls(listener, acceptor.clone(), move |mut tls, _| {
            super::echo_until_closed(&mut tls, &s2)
        }),
    };
    let server = server
        .max_connections(Cap::from_limit(opts.connection_cap()))
        .max_per_peer(Cap::from_limit(opts.peer_cap()))
        .read_timeout(opts.read_timeout)
        .write_timeout(opts.write_timeout)
        .with_counters(stats);
    Ok(Box::new(server.start()))
}
