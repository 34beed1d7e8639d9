//! `mayfly serve udp-echo`: the course's UDP server. Each datagram is answered, to its
//! sender, with the same bytes uppercased (`mayfly_proto::udp::echo_reply`).
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use mayfly_servers::udp::{echo, Options};
//!
//! let server = echo::start(&Options::new("127.0.0.1:0")).unwrap();
//! let client = UdpSocket::bind("127.0.0.1:0").unwrap();
//! client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
//! client.send_to(b"hello", server.local_addr()).unwrap();
//! let mut buf = [0u8; 1024];
//! let (n, _) = client.recv_from(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"HELLO");
//! server.stop(Duration::from_secs(1));
//! ```

use std::io;
use std::sync::Arc;

use mayfly::server::{RunningDatagramServer, ServerStats};
use mayfly_proto::udp;

use super::Options;

/// Default address: the course's port, loopback (UDP ports are apart from TCP's).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Binds and starts the UDP echo server.
///
/// # Errors
/// The bind error (`AddrInUse` for a port in use).
pub fn start(opts: &Options) -> io::Result<RunningDatagramServer> {
    let stats = Arc::new(ServerStats::new());
    let counters = stats.clone();
    super::start(opts, false, stats, move |data, peer, sock| {
        sock.send_to(&udp::echo_reply(&data), peer)?;
        counters.requests(1);
        Ok(())
    })
}
