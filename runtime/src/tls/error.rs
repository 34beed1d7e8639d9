//! What can go wrong with TLS, typed: [`ConfigError`] (loading certificates and keys, building a
//! configuration: a bad certificate, key or chain, a key that does not match its certificate)
//! and [`HandshakeError`] (a handshake that failed, with its [`HandshakeFailure`] reason, the
//! label the server counts it under).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Loading a certificate, key or CA, or building a TLS configuration, failed.
///
/// ```
/// let err = mayfly::tls::TlsAcceptor::from_pem(b"not pem", b"not pem").unwrap_err();
/// assert!(matches!(err, mayfly::tls::ConfigError::NoPem { .. }), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A PEM file could not be read.
    #[error("cannot read the {what} file {}: {source}", path.display())]
    Read {
        /// What the file was for: `certificate`, `private key`, `CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The input held no PEM item of the kind needed.
    #[error(
        "no {what} found in {origin} (expected a PEM block such as '-----BEGIN {label}-----')"
    )]
    NoPem {
        /// What was looked for: `certificate`, `private key`, `CA certificate`.
        what: &'static str,
        /// Where: a file name, or `the given bytes`.
        origin: String,
        /// The PEM label expected.
        label: &'static str,
    },
    /// The input is not well-formed PEM (bad base64, a section without its end line).
    #[error("bad PEM in the {what} from {origin}: {detail}")]
    BadPem {
        /// What was being read.
        what: &'static str,
        /// Where: a file name, or `the given bytes`.
        origin: String,
        /// What the parser said.
        detail: String,
    },
    /// The private key does not belong to the certificate (its public key differs).
    #[error("the private key does not match the certificate (its public key is another one)")]
    KeyMismatch,
    /// The private key is not one the provider can use (encoding or algorithm).
    #[error("bad private key: {0}")]
    BadKey(#[source] rustls::Error),
    /// The certificate chain was refused (not X.509, or unusable).
    #[error("bad certificate chain: {0}")]
    BadChain(#[source] rustls::Error),
    /// A CA certificate could not be used as a trust anchor.
    #[error("bad CA certificate in {origin}: {detail}")]
    BadCa {
        /// Where: a file name, or `the given bytes`.
        origin: String,
        /// Why.
        detail: String,
    },
    /// The name to check the server's certificate against is not a DNS name or IP address.
    #[error("invalid TLS server name {0:?}: expected a DNS name or an IP address")]
    BadServerName(String),
    /// A client configuration with no CA to check the server against (and not insecure).
    #[error("no CA certificate to check the server against: give a CA file (or, for tests only, skip verification)")]
    NoTrust,
    /// rustls refused the configuration for another reason (say, no protocol version).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[source] rustls::Error),
}

/// Why a handshake failed, as a short label: the counter a server keeps for it
/// (`tls_failed_<label>` in its [`ServerStats`](crate::server::ServerStats) gauges).
///
/// ```
/// use mayfly::tls::HandshakeFailure;
/// assert_eq!(HandshakeFailure::NotTls.label(), "not_tls");
/// assert_eq!(HandshakeFailure::ALL.len(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeFailure {
    /// The handshake did not finish within its timeout.
    Timeout,
    /// The peer closed (or reset) the connection before the handshake finished.
    Closed,
    /// The peer does not speak TLS (plaintext sent to a TLS port, or the reverse).
    NotTls,
    /// A certificate was refused: this side's check of the peer's (wrong CA, expired, wrong
    /// name) or, for a server that asks for one, no client certificate.
    BadCertificate,
    /// The peer refused the handshake with an alert (often: it refused our certificate).
    AlertReceived,
    /// No protocol version or cipher suite in common.
    Incompatible,
    /// Any other TLS protocol violation.
    Protocol,
    /// An I/O error other than a close or a timeout.
    Io,
}

impl HandshakeFailure {
    /// Every reason, in a fixed order (the stats page shows them in it).
    pub const ALL: [HandshakeFailure; 8] = [
        HandshakeFailure::Timeout,
        HandshakeFailure::Closed,
        HandshakeFailure::NotTls,
        HandshakeFailure::BadCertificate,
        HandshakeFailure::AlertReceived,
        HandshakeFailure::Incompatible,
        HandshakeFailure::Protocol,
        HandshakeFailure::Io,
    ];

    /// The short label: `timeout`, `closed`, `not_tls`, `bad_certificate`, `alert_received`,
    /// `incompatible`, `protocol`, `io`.
    pub fn label(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Closed => "closed",
            HandshakeFailure::NotTls => "not_tls",
            HandshakeFailure::BadCertificate => "bad_certificate",
            HandshakeFailure::AlertReceived => "alert_received",
            HandshakeFailure::Incompatible => "incompatible",
            HandshakeFailure::Protocol => "protocol",
            HandshakeFailure::Io => "io",
        }
    }
}

/// A TLS handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// It did not finish within the handshake timeout.
    #[error("TLS handshake timed out after {0:?}")]
    Timeout(Duration),
    /// The peer closed the connection before it finished.
    #[error("the peer closed the connection during the TLS handshake")]
    Closed,
    /// What came is not TLS.
    #[error("the peer does not speak TLS ({0})")]
    NotTls(#[source] rustls::Error),
    /// A certificate was refused.
    #[error("certificate refused: {0}")]
    Certificate(#[source] rustls::Error),
    /// The peer sent a fatal alert.
    #[error("the peer refused the TLS handshake: alert {0:?}")]
    AlertReceived(rustls::AlertDescription),
    /// No version or cipher suite in common.
    #[error("no TLS version or cipher suite in common: {0}")]
    Incompatible(#[source] rustls::Error),
    /// Another TLS protocol error.
    #[error("TLS protocol error during the handshake: {0}")]
    Protocol(#[source] rustls::Error),
    /// An I/O error (a reset, a socket timeout, …).
    #[error("I/O error during the TLS handshake: {0}")]
    Io(#[source] io::Error),
}

impl HandshakeError {
    /// The reason label this failure is counted under.
    pub fn failure(&self) -> HandshakeFailure {
        match self {
            HandshakeError::Timeout(_) => HandshakeFailure::Timeout,
            HandshakeError::Closed => HandshakeFailure::Closed,
            HandshakeError::NotTls(_) => HandshakeFailure::NotTls,
            HandshakeError::Certificate(_) => HandshakeFailure::BadCertificate,
            HandshakeError::AlertReceived(_) => HandshakeFailure::AlertReceived,
            HandshakeError::Incompatible(_) => HandshakeFailure::Incompatible,
            HandshakeError::Protocol(_) => HandshakeFailure::Protocol,
            HandshakeError::Io(e) if is_close(e) => HandshakeFailure::Closed,
            HandshakeError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
                HandshakeFailure::Timeout
            }
            HandshakeError::Io(_) => HandshakeFailure::Io,
        }
    }

    /// Sorts a rustls error met while handshaking (a client that drives rustls itself, as
    /// `mayfly_clients::tls_conn` does, sorts its errors the same way).
    ///
    /// ```
    /// use mayfly::tls::HandshakeError;
    /// let e = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
    /// assert!(matches!(HandshakeError::from_rustls(e), HandshakeError::NotTls(_)));
    /// ```
    pub fn from_rustls(e: rustls::Error) -> HandshakeError {
        use rustls::{Error as E, InvalidMessage as M};
        match e {
            E::InvalidMessage(M::InvalidContentType | M::UnknownProtocolVersion)
            | E::InvalidMessage(M::MessageTooLarge) => HandshakeError::NotTls(e),
            E::InvalidCertificate(_) | E::NoCertificatesPresented | E::UnsupportedNameType => {
                HandshakeError::Certificate(e)
            }
            E::AlertReceived(a) => HandshakeError::AlertReceived(a),
            E::PeerIncompatible(_) => HandshakeError::Incompatible(e),
            other => HandshakeError::Protocol(other),
        }
    }

    /// Sorts an I/O error met while handshaking (a closed peer is [`HandshakeError::Closed`]).
    pub(crate) fn from_io(e: io::Error) -> HandshakeError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            HandshakeError::Closed
        } else {
            HandshakeError::Io(e)
        }
    }
}

fn is_close(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | UnexpectedEof
    )
}

impl From<HandshakeError> for io::Error {
    /// `TimedOut` for a timeout, `UnexpectedEof` for a close, `ConnectionReset` for a reset,
    /// `InvalidData` for every TLS refusal (so a server counts it as a protocol error).
    fn from(e: HandshakeError) -> io::Error {
        let kind = match &e {
            HandshakeError::Timeout(_) => io::ErrorKind::TimedOut,
            HandshakeError::Closed => io::ErrorKind::UnexpectedEof,
            HandshakeError::Io(inner) => inner.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

impl From<ConfigError> for io::Error {
    fn from(e: ConfigError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// The peer closed the connection without TLS's `close_notify`: what was read may be cut
/// short (an attacker can end a TCP connection; only `close_notify` proves the end came from
/// the peer). A read returns it inside an `io::Error` of kind `UnexpectedEof`; find it with
/// [`Truncated::is`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("TLS stream truncated: the peer closed the connection without close_notify")]
pub struct Truncated;

impl Truncated {
    /// Whether `e` is a truncation.
    ///
    /// ```
    /// use mayfly::tls::Truncated;
    /// let e: std::io::Error = Truncated.into();
    /// assert!(Truncated::is(&e));
    /// assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    /// ```
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<Truncated>())
    }
}

impl From<Truncated> for io::Error {
    fn from(t: Truncated) -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, t)
    }
}
