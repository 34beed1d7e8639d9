//! Which datagrams a [`DatagramServer`](super::DatagramServer) must never answer, whatever
//! they hold: the old rule against reflection loops (RFC 862's echo against chargen, RFC
//! 5452's advice to DNS servers). A UDP source address can be forged by anyone, so a server
//! that answers every datagram can be told to answer
//!
//! - **itself** (a datagram claiming to come from the server's own address): every answer is
//!   a new request, forever;
//! - **another service** on a well-known port ([`RESERVED_PORTS`]: echo, chargen, daytime,
//!   time, DNS, NTP, …) that answers too: the two bounce datagrams at each other forever;
//! - **port 0**, which no real client sends from.
//!
//! [`SourceFilter::refuses`] says which rule a source breaks, if any. The check is a few
//! comparisons: it runs before a datagram takes a handler.
//!
//! ```
//! use mayfly::server::{Refused, SourceFilter};
//! let local = "127.0.0.1:8080".parse().unwrap();
//! let filter = SourceFilter::default();
//! assert_eq!(filter.refuses("127.0.0.1:8080".parse().unwrap(), local), Some(Refused::OwnAddress));
//! assert_eq!(filter.refuses("127.0.0.1:19".parse().unwrap(), local), Some(Refused::ReservedPort));
//! assert_eq!(filter.refuses("127.0.0.1:0".parse().unwrap(), local), Some(Refused::PortZero));
//! assert_eq!(filter.refuses("127.0.0.1:40000".parse().unwrap(), local), None);
//! ```

use std::net::SocketAddr;

/// Well-known UDP ports of services that answer datagrams (or send them unasked): a
/// datagram "from" one of them is a reflection attempt, never a client. tcpmux 1, echo 7,
/// discard 9, systat 11, daytime 13, netstat 15, qotd 17, chargen 19, time 37, nameserver
/// 42, DNS 53, bootps/bootpc 67/68, TFTP 69, NTP 123, NetBIOS 137/138, SNMP 161/162, LDAP
/// 389, syslog 514, RIP 520, SSDP 1900, memcached 11211 (a 50,000× reflector), mDNS 5353,
/// WS-Discovery 3702.
pub const RESERVED_PORTS: &[u16] = &[
    1, 7, 9, 11, 13, 15, 17, 19, 37, 42, 53, 67, 68, 69, 123, 137, 138, 161, 162, 389, 514, 520,
    1900, 3702, 5353, 11211,
];

/// Why a datagram's source is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The source is the server's own address: answering would loop forever.
    OwnAddress,
    /// The source port is one of [`RESERVED_PORTS`].
    ReservedPort,
    /// The source port is 0.
    PortZero,
}

/// The rules a datagram's source is checked against. The default checks all three; a
/// server that talks to such services on purpose turns [`reserved_ports`](Self::reserved_ports)
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFilter {
    /// Refuse sources on a [`RESERVED_PORTS`] port (default: yes).
    pub reserved_ports: bool,
}

impl Default for SourceFilter {
    fn default() -> Self {
        SourceFilter {
            reserved_ports: true,
        }
    }
}

impl SourceFilter {
    /// Which rule `source` breaks for a server bound to `local`, if any. "Own address": the
    /// same port, and the same IP — any IP when the server is bound to the wildcard
    /// (`0.0.0.0`, `::`), as it then owns every local address (an unrelated peer that
    /// happens to use the server's port number is refused too: it would be a server
    /// itself, the loop this rule exists for). IPv4-mapped IPv6 addresses compare as IPv4.
    pub fn refuses(&self, source: SocketAddr, local: SocketAddr) -> Option<Refused> {
        let port = source.port();
        if port == 0 {
            return Some(Refused::PortZero);
        }
        if port == local.port() {
            let (src, own) = (source.ip().to_canonical(), local.ip().to_canonical());
            if own.is_unspecified() || src == own {
                return Some(Refused::OwnAddress);
            }
        }
        if self.reserved_ports && RESERVED_PORTS.contains(&port) {
            return Some(Refused::ReservedPort);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_address_reserved_ports_and_port_zero_are_refused() {
        let f = SourceFilter::default();
        let local = a("127.0.0.1:8080");
        assert_eq!(
            f.refuses(a("127.0.0.1:8080"), local),
            Some(Refused::OwnAddress)
        );
        assert_eq!(
            f.refuses(a("[::ffff:127.0.0.1]:8080"), local),
            Some(Refused::OwnAddress)
        );
        // Another host on the same port is not the server (it is bound to one address).
        assert_eq!(f.refuses(a("127.0.0.2:8080"), local), None);
        for p in RESERVED_PORTS {
            let src = SocketAddr::new(local.ip(), *p);
            assert_eq!(f.refuses(src, local), Some(Refused::ReservedPort), "{p}");
        }
        assert_eq!(f.refuses(a("10.0.0.1:0"), local), Some(Refused::PortZero));
        assert_eq!(f.refuses(a("127.0.0.1:8081"), local), None);
        assert_eq!(f.refuses(a("127.0.0.1:54321"), local), None);
    }

    #[test]
    fn a_wildcard_bind_owns_every_address_and_reserved_ports_can_be_allowed() {
        let f = SourceFilter::default();
        for local in [a("0.0.0.0:9000"), a("[::]:9000")] {
            assert_eq!(
                f.refuses(a("192.0.2.7:9000"), local),
                Some(Refused::OwnAddress)
            );
            assert_eq!(f.refuses(a("192.0.2.7:9001"), local), None);
        }
        let open = SourceFilter {
            reserved_ports: false,
        };
        let local = a("127.0.0.1:8081");
        assert_eq!(open.refuses(a("127.0.0.1:53"), local), None);
        assert_eq!(
            open.refuses(a("127.0.0.1:0"), local),
            Some(Refused::PortZero)
        );
        assert_eq!(
            open.refuses(a("127.0.0.1:8081"), local),
            Some(Refused::OwnAddress)
        );
    }
}
