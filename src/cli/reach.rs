//! Before a load test: is anything there? One TCP connect to the server (bounded by
//! `stress --probe-timeout`, [`PROBE_TIMEOUT`] by default) so that `stress` against nothing listening, or against port 0, fails at
//! once with [`Unreachable`] (exit 4) instead of loading nothing for the whole `--duration`.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long the probe waits for the server to accept, unless `--probe-timeout` says.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server could not be reached (exit 4).
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// Port 0 is what a server binds to get any port, never a port to connect to.
    #[error(
        "{0}: port 0 is not a server's port; give the port the server printed \
         (`listening on ADDR`)"
    )]
    PortZero(SocketAddr),
    /// Nothing accepted a connection.
    #[error("nothing answers on {addr} (is the server running? `mayfly serve echo --addr {addr}` starts one)")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Connects once to `addr`, waiting at most `timeout`, and closes the connection.
///
/// # Errors
///
/// [`Unreachable`] for port 0 or a connect that fails or takes over `timeout`.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), Unreachable> {
    if addr.port() == 0 {
        return Err(Unreachable::PortZero(addr));
    }
    TcpStream::connect_timeout(&addr, timeout)
        .map(drop)
        .map_err(|source| Unreachable::Connect { addr, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_and_a_closed_port_are_unreachable_and_a_listener_is_not() {
        let zero: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(matches!(
            probe(zero, PROBE_TIMEOUT),
            Err(Unreachable::PortZero(_))
        ));
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap();
        assert!(probe(open, PROBE_TIMEOUT).is_ok());
        drop(l);
        assert!(matches!(
            probe(open, PROBE_TIMEOUT),
            Err(Unreachable::Connect { .. })
        ));
    }
}
