//! The course's gevent uppercase echo server, in twenty lines: one greenlet per connection,
//! all on one OS thread.
//!
//! ```sh
//! cargo run --example echo_server -- 127.0.0.1:8080
//! # in another terminal:  nc 127.0.0.1 8080
//! ```

use mayfly::net::TcpStream;
use mayfly::server::StreamServer;

fn talk(mut conn: TcpStream, peer: std::net::SocketAddr) -> std::io::Result<()> {
    loop {
        let data = conn.recv(1024)?; // parks this greenlet only
        if data.is_empty() {
            println!("{peer} left");
            return Ok(());
        }
        conn.sendall(&data.to_ascii_uppercase())?;
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    mayfly::run(move || {
        let server = StreamServer::bind(addr, talk)?;
        println!("listening on {}", server.local_addr()?);
        server.serve_forever()
    })
}
