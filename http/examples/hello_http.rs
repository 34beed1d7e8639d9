//! A hello-world HTTP server on mayfly-http: `cargo run -p mayfly-http --example hello_http
//! [ADDR]`, then `curl http://127.0.0.1:8080/` (or `/json`). Stops on Ctrl-C (the process
//! ends).

use std::io::Write;

use mayfly_http::HttpServer;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let server = HttpServer::bind(&addr, |req, rsp| match req.path() {
        "/json" => {
            rsp.header("Content-Type", "application/json");
            rsp.write_all(br#"{"message":"Hello, World!"}"#)
        }
        _ => {
            rsp.header("Content-Type", "text/plain");
            rsp.write_all(b"Hello, World!")
        }
    })?;
    println!("listening on {}", server.local_addr()?);
    server.serve_forever()
}
