//! The remote-command client: answers the server's HMAC challenge, then runs commands. The
//! frames are `mayfly_proto::cmd`'s.
//!
//! ```no_run
//! use mayfly_clients::cmd::CmdClient;
//! let mut c = CmdClient::connect("127.0.0.1:9100", b"the shared secret!").unwrap();
//! let out = c.run("uname -a").unwrap();
//! print!("{}", String::from_utf8_lossy(&out.stdout));
//! eprint!("{}", String::from_utf8_lossy(&out.stderr));
//! ```

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use mayfly_proto::cmd::{self as proto, auth};
use mayfly_proto::frame::{self, FrameError, FrameReader, Header, Limits};
use mayfly_proto::Refusal;

use crate::tls_conn::{self, ClientTls, StdConn};

/// What a remote command produced: the protocol's type, as the server ran it.
pub use mayfly_proto::cmd::CommandOutput as CmdOutput;

/// Why connecting to the command server or running a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The TCP connection could not be made.
    #[error("connecting to {addr}")]
    Connect {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed: the server's certificate refused here, this client's
    /// refused (or missing) there, a server that does not speak TLS.
    #[error("TLS with {addr}")]
    Tls {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The connection failed (reset, timeout, a frame the limits refuse).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A reply header lacks a field or has the wrong type.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The server closed the connection before it sent its challenge. A TLS port does that
    /// to a plaintext client (its handshake timeout passes with no ClientHello), so the
    /// message says which flag would help.
    #[error(
        "the server closed before its challenge (a TLS port closes so after its handshake \
         timeout: if this port speaks TLS, add --tls)"
    )]
    NoChallenge,
    /// The challenge is not hex.
    #[error("the server's challenge is not hex")]
    ChallengeNotHex,
    /// The server closed the connection instead of replying.
    #[error("the server closed the connection")]
    Closed,
    /// The server refused: code `auth` (the secret is wrong), `rate_limited` (too many
    /// failed logins from this address), `busy` (too many connections waiting to log in, or
    /// every command thread taken).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The command is empty or only whitespace.
    #[error("empty command")]
    EmptyCommand,
}

/// An authenticated connection to `mayfly serve cmd`.
#[derive(Debug)]
pub struct CmdClient {
    r: FrameReader<StdConn>,
}

impl CmdClient {
    /// Connects and authenticates with `secret`.
    ///
    /// # Errors
    ///
    /// [`CmdError::Connect`], a broken connection, or [`CmdError::Refused`] with code
    /// `auth` when the secret is wrong (see [`CmdError::Refused`] for the others).
    pub fn connect(addr: &str, secret: &[u8]) -> Result<CmdClient, CmdError> {
        Self::connect_tls(addr, secret, None)
    }

    /// [`connect`](CmdClient::connect), over TLS when `tls` is set (the handshake before
    /// the login).
    ///
    /// # Errors
    ///
    /// As [`connect`](CmdClient::connect); [`CmdError::Tls`] when the handshake fails (a
    /// certificate refused on either side, a plaintext server).
    pub fn connect_tls(
        addr: &str,
        secret: &[u8],
        tls: Option<&ClientTls>,
    ) -> Result<CmdClient, CmdError> {
        let s = TcpStream::connect(addr).map_err(|source| CmdError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
        let tls_err = |source| CmdError::Tls {
            addr: addr.to_owned(),
            source,
        };
        let conn = StdConn::open(s, tls).map_err(tls_err)?;
        // Over TLS 1.3 a server that refuses the client's certificate (or its lack) says so
        // with an alert the client reads after its side of the handshake: at the challenge.
        match Self::login(conn, secret) {
            Err(CmdError::Io(e)) if tls.is_some() && e.kind() == io::ErrorKind::InvalidData => {
                Err(tls_err(e))
            }
            other => other,
        }
    }

    /// Authenticates on a connected stream (one made from a chosen source address, say).
    ///
    /// # Errors
    ///
    /// As [`connect`](CmdClient::connect), but for the connecting.
    pub fn login(s: impl Into<StdConn>, secret: &[u8]) -> Result<CmdClient, CmdError> {
        let s = s.into();
        s.tcp().set_read_timeout(Some(Duration::from_secs(120)))?;
        s.tcp().set_nodelay(true)?;
        let mut r = FrameReader::new(s, Limits::default(), frame::total_size as _);
        let (h, _) = r
            .read_header()
            .map_err(tls_conn::hint_server_speaks_tls)?
            .ok_or(CmdError::NoChallenge)?;
        // A server that will not let us try (busy, rate_limited) says so instead.
        if h.get(mayfly_proto::reply::STATUS).is_some() {
            if let Some(err) = Refusal::from_reply(&h) {
                return Err(err.into());
            }
        }
        let challenge =
            mayfly_proto::unhex(h.str(proto::CHALLENGE)?).ok_or(CmdError::ChallengeNotHex)?;
        frame::write_header(
            r.get_mut(),
            &proto::answer_header(&auth::answer(secret, &challenge)),
        )?;
        let mut c = CmdClient { r };
        c.reply()?;
        Ok(c)
    }

    fn reply(&mut self) -> Result<Header, CmdError> {
        let (h, _) = self
            .r
            .read_header()
            .map_err(tls_conn::hint_server_speaks_tls)?
            .ok_or(CmdError::Closed)?;
        if let Some(err) = Refusal::from_reply(&h) {
            self.r.body().skip()?;
            return Err(err.into());
        }
        Ok(h)
    }

    /// Runs `command` on the server.
    ///
    /// # Errors
    ///
    /// [`CmdError::EmptyCommand`], a broken connection, or the server's refusal.
    pub fn run(&mut self, command: &str) -> Result<CmdOutput, CmdError> {
        if command.trim().is_empty() {
            return Err(CmdError::EmptyCommand);
        }
        frame::write_header(self.r.get_mut(), &proto::run_request(command))?;
        let h = self.reply()?;
        let body = self.r.read_body_to_vec()?;
        Ok(CmdOutput::from_frame(&h, body)?)
    }
}
