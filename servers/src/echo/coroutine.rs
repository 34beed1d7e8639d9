//! The coroutine build: a mayfly `StreamServer`, one greenlet per connection, one worker.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mayfly::net::{Bind, TcpStream};
use mayfly::server::{RunningServer, StreamServer};

use super::{Options, RunningEcho};

/// The course's `talk(conn)`, one greenlet per connection.
pub(crate) fn talk(mut conn: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    super::echo_until_closed(&mut conn)
}

struct Running(RunningServer);

pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn RunningEcho>> {
    let listener = Bind::new(opts.addr.as_str()).backlog(opts.backlog).tcp()?;
    let server = StreamServer::new(listener, talk).max_connections(opts.max_connections);
    Ok(Box::new(Running(server.start())))
}

impl RunningEcho for Running {
    fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    fn shutdown(self: Box<Self>, grace: Duration) -> u64 {
        self.0.stop(grace)
    }
}
