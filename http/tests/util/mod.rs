//! What the HTTP tests share: a server with a few routes, a std-socket client, answers read
//! back by their `Content-Length`.

#![allow(dead_code)] // each test file uses part of it

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use mayfly::server::RunningServer;
use mayfly_http::{HttpServer, Options};

/// Options for tests: small limits, short timeouts.
pub fn options() -> Options {
    Options {
        max_head_bytes: 4096,
        max_headers: 20,
        max_body_bytes: 1000,
        read_timeout: Some(Duration::from_secs(5)),
        write_timeout: Some(Duration::from_secs(1)),
        request_timeout: Some(Duration::from_secs(1)),
        ..Options::default()
    }
}

/// A server with routes: `/` hello, `/echo` the body back, `/panic` panics, `/sleep` sleeps
/// 200 ms (parking its greenlet), `/big` 4 KiB, anything else the target back.
pub fn server(options: Options) -> RunningServer {
    HttpServer::bind("127.0.0.1:0", |req, rsp| match req.path() {
        "/" => {
            rsp.header("Content-Type", "text/plain")
                .body("Hello, World!");
            Ok(())
        }
        "/echo" => {
            rsp.body(req.body());
            Ok(())
        }
        "/panic" => panic!("handler asked to panic"),
        "/big" => {
            rsp.body(vec![b'x'; 4096]);
            Ok(())
        }
        "/sleep" => {
            mayfly::sleep(Duration::from_millis(200));
            rsp.body("slept");
            Ok(())
        }
        _ => write!(rsp, "target {}", req.target()),
    })
    .unwrap()
    .options(options)
    .start()
}

/// A client connection with a 5 s read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// One answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads answers off one connection, keeping what comes after each.
pub struct Reader {
    pub conn: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(conn: TcpStream) -> Self {
        Reader {
            conn,
            buf: Vec::new(),
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The next answer.
    pub fn answer(&mut self) -> io::Result<Answer> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        while self.buf.len() < head_end + len {
            self.fill()?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Whether the server closed the connection (end of stream or reset) with nothing more.
    pub fn closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut b = [0u8; 1];
        match self.conn.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}

/// Sends `req` on a new connection and reads one answer.
pub fn exchange(addr: SocketAddr, req: &[u8]) -> (Answer, Reader) {
    let mut c = connect(addr);
    c.write_all(req).unwrap();
    let mut r = Reader::new(c);
    let a = r.answer().unwrap();
    (a, r)
}
