//! The remote-command client: answers the server's HMAC challenge, then runs commands.
//!
//! ```no_run
//! use mayfly_clients::cmd::CmdClient;
//! let mut c = CmdClient::connect("127.0.0.1:9100", b"the shared secret!").unwrap();
//! let out = c.run("uname -a").unwrap();
//! print!("{}", String::from_utf8_lossy(&out.output));
//! ```

use std::net::TcpStream;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use mayfly::frame::{self, FrameReader, Header, Limits};
use mayfly_servers::cmd::auth;

use crate::file::ServerError;

/// What a remote command produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CmdOutput {
    /// stdout and stderr, as the server captured them.
    pub output: Vec<u8>,
    /// Exit code; `None` if it was killed (timeout, output cap, signal).
    pub exit_code: Option<i32>,
    /// The server killed it at its time limit.
    pub timed_out: bool,
    /// The server cut the output at its cap.
    pub truncated: bool,
}

/// An authenticated connection to `mayfly serve cmd`.
pub struct CmdClient {
    r: FrameReader<TcpStream>,
}

impl CmdClient {
    /// Connects and authenticates with `secret`.
    pub fn connect(addr: &str, secret: &[u8]) -> Result<CmdClient> {
        let s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        s.set_nodelay(true)?;
        let mut r = FrameReader::new(s, Limits::default(), frame::total_size as _);
        let (h, _) = r
            .read_header()?
            .ok_or_else(|| anyhow!("the server closed before its challenge"))?;
        let challenge = auth::unhex(h.str("challenge")?)
            .ok_or_else(|| anyhow!("the server's challenge is not hex"))?;
        frame::write_header(
            r.get_mut(),
            &Header::new().with("hmac", auth::answer(secret, &challenge)),
        )?;
        let mut c = CmdClient { r };
        c.reply()?;
        Ok(c)
    }

    fn reply(&mut self) -> Result<Header> {
        let (h, _) = self
            .r
            .read_header()?
            .ok_or_else(|| anyhow!("the server closed the connection"))?;
        if let Some(err) = ServerError::from_reply(&h) {
            self.r.body().skip()?;
            return Err(err.into());
        }
        Ok(h)
    }

    /// Runs `command` on the server.
    pub fn run(&mut self, command: &str) -> Result<CmdOutput> {
        if command.trim().is_empty() {
            bail!("empty command");
        }
        frame::write_header(
            self.r.get_mut(),
            &Header::new().with("cmd", "run").with("command", command),
        )?;
        let h = self.reply()?;
        let output = self.r.read_body_to_vec()?;
        Ok(CmdOutput {
            output,
            exit_code: h
                .get("exit_code")
                .and_then(|v| v.as_i64())
                .map(|c| c as i32),
            timed_out: h.flag("timed_out")?,
            truncated: h.flag("truncated")?,
        })
    }
}
