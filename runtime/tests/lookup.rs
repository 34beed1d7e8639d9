//! gevent.socket's resolver functions on the thread pool: `getaddrinfo` with families,
//! socket types and service names, `gethostbyname`, `getnameinfo`, and `connect_timeout`
//! with a name. Only names from /etc/hosts and the services database: no network.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mayfly::net::lookup::{
    getaddrinfo, gethostbyname, getnameinfo, Family, Hints, NameInfoFlags, SocketType,
};

#[test]
fn getaddrinfo_takes_service_names_families_and_socket_types() {
    mayfly::run(|| {
        let tcp = Hints::default().socket_type(SocketType::Stream);
        let http = getaddrinfo(Some("localhost"), Some("http"), tcp).unwrap();
        assert!(!http.is_empty());
        for a in &http {
            assert_eq!(a.addr.port(), 80, "{a:?}");
            assert!(a.addr.ip().is_loopback(), "{a:?}");
            assert_eq!(
                (a.socket_type, a.protocol),
                (SocketType::Stream, libc::IPPROTO_TCP)
            );
        }
        // No socket type: one answer per type (stream, datagram, raw) for a numeric port.
        let any = getaddrinfo(Some("127.0.0.1"), Some("8080"), Hints::default()).unwrap();
        let types: Vec<_> = any.iter().map(|a| a.socket_type).collect();
        assert!(types.contains(&SocketType::Stream) && types.contains(&SocketType::Datagram));
        // Families.
        let v6 = getaddrinfo(Some("::1"), Some("53"), tcp.family(Family::Inet6)).unwrap();
        assert_eq!(v6[0].addr, "[::1]:53".parse::<SocketAddr>().unwrap());
        assert_eq!(v6[0].family, Family::Inet6);
        let wrong = getaddrinfo(Some("::1"), None, Hints::default().family(Family::Inet));
        assert!(
            wrong.is_err(),
            "an IPv6 literal has no IPv4 answer: {wrong:?}"
        );
        // Passive with no host: the wildcard address to bind a server to.
        let bind = getaddrinfo(None, Some("9000"), tcp.family(Family::Inet).passive(true)).unwrap();
        assert_eq!(bind[0].addr, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        // The canonical name on the first answer.
        let canon = getaddrinfo(Some("localhost"), None, tcp.canonical_name(true)).unwrap();
        assert_eq!(canon[0].canonical_name.as_deref(), Some("localhost"));
    });
}

#[test]
fn lookups_that_fail_say_why() {
    mayfly::run(|| {
        let e =
            getaddrinfo(Some("localhost"), Some("no-such-service"), Hints::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(!e.to_string().is_empty());
        let e = getaddrinfo(None, None, Hints::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = getaddrinfo(Some("a\0b"), None, Hints::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn gethostbyname_and_getnameinfo() {
    mayfly::run(|| {
        assert_eq!(gethostbyname("localhost").unwrap(), Ipv4Addr::LOCALHOST);
        assert_eq!(
            gethostbyname("10.1.2.3").unwrap(),
            Ipv4Addr::new(10, 1, 2, 3)
        );
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let numeric = NameInfoFlags {
            numeric_host: true,
            numeric_service: true,
            ..Default::default()
        };
        assert_eq!(
            getnameinfo(addr, numeric).unwrap(),
            ("127.0.0.1".into(), "80".into())
        );
        let named = NameInfoFlags {
            name_required: true,
            ..Default::default()
        };
        let (host, service) = getnameinfo(addr, named).unwrap();
        assert_eq!(service, "http");
        assert!(
            matches!(gethostbyname(&host), Ok(ip) if IpAddr::V4(ip) == addr.ip()),
            "{host} is a name of 127.0.0.1"
        );
    });
}

#[test]
fn connect_timeout_takes_a_name() {
    mayfly::run(|| {
        let l = mayfly::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let accepter = mayfly::spawn(move || l.accept().map(|_| ()).is_ok());
        let c = mayfly::net::TcpStream::connect_timeout(
            format!("localhost:{port}"),
            Duration::from_secs(5),
        );
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(accepter.get(), Ok(true));
        let e = mayfly::net::TcpStream::connect_timeout(
            "localhost:no-such-port",
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert_ne!(
            e.kind(),
            ErrorKind::TimedOut,
            "a bad port fails at once: {e}"
        );
    });
}
