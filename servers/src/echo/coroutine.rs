//! The coroutine build: a mayfly `StreamServer`, one greenlet per connection, one worker.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mayfly::net::{Bind, TcpStream};
use mayfly::server::{RunningServer, StreamServer};

use super::{Options, RunningEcho, READ_BUF};

/// The course's `talk(conn)`: recv → uppercase → sendall, until the client closes.
pub(crate) fn talk(mut conn: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    let mut buf = [0u8; READ_BUF];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        super::uppercase(&mut buf[..n]);
        conn.write_all(&buf[..n])?;
    }
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
