//! gevent's `examples/portforwarder.py`, ported: a `StreamServer` that forwards every
//! connection to another address, two greenlets per connection (one per direction).
//!
//! gevent's `PortForwarder.handle` connects to the destination, spawns `forward(source,
//! dest)` and `forward(dest, source)`, and `joinall`s them; `forward` copies until one side
//! closes, then shuts both down. Here the destination is a local upper-casing echo server
//! the example starts itself (gevent's forwards to a host you name), and three clients talk
//! to it through the forwarder at once.
//!
//! ```sh
//! cargo run --example portforwarder
//! ```

use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mayfly::net::TcpStream;
use mayfly::server::StreamServer;
use mayfly::{joinall, spawn, JoinAll};

/// gevent's `forward(source, dest, server)`: copies until `source` ends, then shuts down both
/// directions of both (so the other copier ends too).
fn forward(mut source: TcpStream, mut dest: TcpStream) -> std::io::Result<u64> {
    let mut copied = 0u64;
    loop {
        let Ok(data) = source.recv(1024) else {
            break; // reset, or shut down by the other copier
        };
        if data.is_empty() {
            break;
        }
        if dest.sendall(&data).is_err() {
            break;
        }
        copied += data.len() as u64;
    }
    let _ = source.shutdown(Shutdown::Both);
    let _ = dest.shutdown(Shutdown::Both);
    Ok(copied)
}

/// gevent's `PortForwarder.handle(source, address)`.
fn handle(source: TcpStream, peer: SocketAddr, dest: SocketAddr) -> std::io::Result<()> {
    let dest_conn = TcpStream::connect_timeout(dest, Duration::from_secs(5))?;
    println!("{peer} accepted; forwarding to {dest}");
    let forwarders = [
        spawn({
            let (s, d) = (source.try_clone()?, dest_conn.try_clone()?);
            move || forward(s, d)
        }),
        spawn(move || forward(dest_conn, source)),
    ];
    joinall(&forwarders, JoinAll::default()).map_err(std::io::Error::other)?;
    println!("{peer} closed");
    Ok(())
}

fn upper_echo(mut conn: TcpStream, _: SocketAddr) -> std::io::Result<()> {
    loop {
        let data = conn.recv(1024)?;
        if data.is_empty() {
            return Ok(());
        }
        conn.sendall(&data.to_ascii_uppercase())?;
    }
}

pub fn main() {
    mayfly::run(|| {
        let echo = StreamServer::bind("127.0.0.1:0", upper_echo)
            .unwrap()
            .start();
        let dest = echo.local_addr();
        let forwarder =
            StreamServer::bind("127.0.0.1:0", move |conn, peer| handle(conn, peer, dest))
                .unwrap()
                .start();
        let via = forwarder.local_addr();
        println!("Starting port forwarder {via} -> {dest}");
        let clients: Vec<_> = (0..3)
            .map(|i| {
                spawn(move || {
                    let mut c = TcpStream::connect(via).unwrap();
                    for round in 0..3 {
                        let msg = format!("client {i} round {round}");
                        c.sendall(msg.as_bytes()).unwrap();
                        let got = c.recv_exact(msg.len()).unwrap();
                        assert_eq!(&got[..], msg.to_ascii_uppercase().as_bytes());
                    }
                })
            })
            .collect();
        joinall(&clients, JoinAll::default().raise_error(true)).unwrap();
        assert_eq!(
            forwarder.stop(Duration::from_secs(5)),
            0,
            "a forwarder was left hanging"
        );
        assert_eq!(forwarder.stats().accepted, 3);
        assert_eq!(echo.stop(Duration::from_secs(5)), 0);
        println!("3 clients served through the forwarder");
    });
}
