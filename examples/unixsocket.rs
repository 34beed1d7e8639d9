//! gevent's `examples/unixsocket_server.py` and `unixsocket_client.py`, ported into one
//! program: a `StreamServer` on a Unix-domain socket, and a client that connects to its path,
//! sends a request and prints the answer.
//!
//! gevent's server listens on `./unixsocket_server.py.sock` and answers each connection;
//! its client connects there, sends, and prints what came back. Here the socket is in the
//! temporary directory and removed at the end, and three clients connect at once.
//!
//! ```sh
//! cargo run --example unixsocket
//! ```

use std::path::Path;
use std::time::Duration;

use mayfly::net::UnixStream;
use mayfly::server::StreamServer;

/// unixsocket_server.py's `handle(conn)`.
fn handle(mut conn: UnixStream, _peer: std::os::unix::net::SocketAddr) -> std::io::Result<()> {
    let request = conn.recv(1024)?;
    let line = String::from_utf8_lossy(&request);
    let line = line.lines().next().unwrap_or("");
    conn.sendall(format!("HTTP/1.0 200 OK\r\n\r\nHello World (you asked: {line})").as_bytes())
}

/// unixsocket_client.py: connect, send, print the reply.
fn client(path: &Path, n: u32) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.sendall(format!("GET /{n} HTTP/1.0\r\n\r\n").as_bytes())
        .unwrap();
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut data).unwrap();
    let data = String::from_utf8(data).unwrap();
    println!("received {data:?}");
    data
}

pub fn main() {
    let path = std::env::temp_dir().join(format!("mayfly-unixsocket-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = path.clone();
    mayfly::run(move || {
        let server = StreamServer::bind_unix(&p, handle).unwrap().start();
        println!("serving on {}", p.display());
        let clients: Vec<_> = (0..3)
            .map(|n| {
                let p = p.clone();
                mayfly::spawn(move || client(&p, n))
            })
            .collect();
        for (n, c) in clients.iter().enumerate() {
            let reply = c.get().unwrap();
            assert!(
                reply.starts_with("HTTP/1.0 200 OK\r\n\r\nHello World"),
                "{reply:?}"
            );
            assert!(reply.ends_with(&format!("GET /{n} HTTP/1.0)")), "{reply:?}");
        }
        assert_eq!(server.stop(Duration::from_secs(5)), 0);
        assert_eq!(server.stats().accepted, 3);
    });
    std::fs::remove_file(&path).unwrap();
}
