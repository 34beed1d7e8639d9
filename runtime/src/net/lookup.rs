//! gevent.socket's resolver functions — `getaddrinfo` (with family, socket type and service
//! names such as `"http"`), `gethostbyname` and `getnameinfo` — run by the C library on the
//! shared [`crate::threadpool`], so only the calling greenlet parks: its active
//! [`crate::Timeout`] and a kill interrupt the wait, and the worker goes on serving.
//!
//! [`resolve`](super::resolve) is the short form `connect` uses (`"host:port"` to socket
//! addresses); this module is for callers that need what gevent's functions return: the
//! socket type and protocol of each address, the canonical name, a service looked up by
//! name, or the reverse lookup.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// An address family to ask [`getaddrinfo`] for (`AF_UNSPEC`, `AF_INET`, `AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Either (`AF_UNSPEC`, gevent's `0`).
    #[default]
    Any,
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
}

/// A socket type to ask [`getaddrinfo`] for (`0`, `SOCK_STREAM`, `SOCK_DGRAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketType {
    /// Any type: the C library answers once per type it knows for the service.
    #[default]
    Any,
    /// `SOCK_STREAM` (TCP).
    Stream,
    /// `SOCK_DGRAM` (UDP).
    Datagram,
    /// Another type the C library reported, by its number.
    Other(i32),
}

/// What [`getaddrinfo`] is asked for, beyond the host and the service (its `hints`).
///
/// ```
/// use mayfly::net::lookup::{Family, Hints, SocketType};
/// let hints = Hints::default().family(Family::Inet).socket_type(SocketType::Stream);
/// assert_eq!(hints.family, Family::Inet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hints {
    /// The family (default: either).
    pub family: Family,
    /// The socket type (default: any).
    pub socket_type: SocketType,
    /// Ask for the host's canonical name (`AI_CANONNAME`), given on the first answer.
    pub canonical_name: bool,
    /// Addresses to bind a server to (`AI_PASSIVE`): with no host, the wildcard address.
    pub passive: bool,
}

impl Hints {
    /// Sets [`family`](Hints::family).
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }
    /// Sets [`socket_type`](Hints::socket_type).
    pub fn socket_type(mut self, t: SocketType) -> Self {
        self.socket_type = t;
        self
    }
    /// Sets [`canonical_name`](Hints::canonical_name).
    pub fn canonical_name(mut self, yes: bool) -> Self {
        self.canonical_name = yes;
        self
    }
    /// Sets [`passive`](Hints::passive).
    pub fn passive(mut self, yes: bool) -> Self {
        self.passive = yes;
        self
    }
}

/// One answer of [`getaddrinfo`]: gevent's `(family, type, proto, canonname, sockaddr)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address's family ([`Family::Inet`] or [`Family::Inet6`]).
    pub family: Family,
    /// The socket type this answer is for.
    pub socket_type: SocketType,
    /// The protocol number (`IPPROTO_TCP` = 6, `IPPROTO_UDP` = 17).
    pub protocol: i32,
    /// The canonical name, on the first answer when [`Hints::canonical_name`] asked for it.
    pub canonical_name: Option<String>,
    /// The address and port.
    pub addr: SocketAddr,
}

/// Flags of [`getnameinfo`] (`NI_NUMERICHOST`, `NI_NUMERICSERV`, `NI_NAMEREQD`, `NI_DGRAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameInfoFlags {
    /// Give the host as a number, no lookup.
    pub numeric_host: bool,
    /// Give the port as a number, no service lookup.
    pub numeric_service: bool,
    /// Fail if the host has no name (instead of giving the number).
    pub name_required: bool,
    /// Look the port up as a UDP service.
    pub datagram: bool,
}

/// Resolves `host` and `service` as the C library's `getaddrinfo` does (gevent's
/// `socket.getaddrinfo(host, port, family, type, proto, flags)`), on the thread pool. Either
/// may be `None` (not both): no host means the loopback address, or the wildcard with
/// [`Hints::passive`]; no service means port 0. A service is a number (`"8080"`) or a
/// name from the services database (`"http"`).
///
/// ```
/// use mayfly::net::lookup::{getaddrinfo, Family, Hints, SocketType};
/// mayfly::run(|| {
///     let hints = Hints::default().family(Family::Inet).socket_type(SocketType::Stream);
///     let answers = getaddrinfo(Some("127.0.0.1"), Some("http"), hints).unwrap();
///     assert_eq!(answers[0].addr, "127.0.0.1:80".parse().unwrap());
///     assert_eq!(answers[0].protocol, 6); // TCP
/// });
/// ```
///
/// # Errors
/// `InvalidInput` when both are `None` or one holds a NUL byte; the lookup's failure as an
/// error whose message is `gai_strerror`'s (`NotFound` for an unknown name or service);
/// `Other` if the thread pool could not run it. An enclosing [`crate::Timeout`] interrupts
/// the wait as it does every wait.
pub fn getaddrinfo(
    host: Option<&str>,
    service: Option<&str>,
    hints: Hints,
) -> io::Result<Vec<AddrInfo>> {
    if host.is_none() && service.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "getaddrinfo needs a host or a service",
        ));
    }
    let host = host.map(c_string).transpose()?;
    let service = service.map(c_string).transpose()?;
    on_pool(move || lookup(host.as_deref(), service.as_deref(), hints))
}

/// The first IPv4 address of `name` (gevent's `socket.gethostbyname`), on the thread pool.
///
/// ```
/// mayfly::run(|| {
///     let ip = mayfly::net::lookup::gethostbyname("localhost").unwrap();
///     assert!(ip.is_loopback());
/// });
/// ```
///
/// # Errors
/// As [`getaddrinfo`]; `NotFound` if the name has no IPv4 address.
pub fn gethostbyname(name: &str) -> io::Result<Ipv4Addr> {
    let hints = Hints::default()
        .family(Family::Inet)
        .socket_type(SocketType::Stream);
    getaddrinfo(Some(name), None, hints)?
        .into_iter()
        .find_map(|a| match a.addr.ip() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no IPv4 address for the name"))
}

/// The host and service names of `addr` (gevent's `socket.getnameinfo`), on the thread pool.
///
/// ```
/// use mayfly::net::lookup::{getnameinfo, NameInfoFlags};
/// mayfly::run(|| {
///     let flags = NameInfoFlags { numeric_host: true, ..Default::default() };
///     let (host, service) = getnameinfo("127.0.0.1:80".parse().unwrap(), flags).unwrap();
///     assert_eq!((host.as_str(), service.as_str()), ("127.0.0.1", "http"));
/// });
/// ```
///
/// # Errors
/// The lookup's failure with `gai_strerror`'s message (`NotFound` with
/// [`NameInfoFlags::name_required`] and no name); `Other` as [`getaddrinfo`].
pub fn getnameinfo(addr: SocketAddr, flags: NameInfoFlags) -> io::Result<(String, String)> {
    on_pool(move || reverse(addr, flags))
}

fn c_string(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))
}

/// Runs a lookup on the shared thread pool, parking only the calling greenlet.
fn on_pool<R: Send + 'static>(f: impl FnOnce() -> io::Result<R> + Send + 'static) -> io::Result<R> {
    // An enclosing Timeout unwinds out of the wait (to its with_timeout), as every wait does.
    crate::threadpool::spawn(f)
        .take(None)
        .map_err(|e| io::Error::other(format!("name resolution: {e}")))?
}

/// `gai_strerror`'s message for an `EAI_*` code, as an `io::Error` of a fitting kind.
fn gai_error(code: libc::c_int) -> io::Error {
    if code == libc::EAI_SYSTEM {
        return io::Error::last_os_error();
    }
    // SAFETY: gai_strerror returns a pointer to a static, NUL-terminated message for any
    // code (an "unknown error" text for codes it does not know); it is never freed.
    let msg = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
        .to_string_lossy()
        .into_owned();
    let kind = match code {
        libc::EAI_NONAME | libc::EAI_SERVICE | libc::EAI_NODATA => io::ErrorKind::NotFound,
        libc::EAI_AGAIN => io::ErrorKind::WouldBlock,
        libc::EAI_FAMILY | libc::EAI_SOCKTYPE | libc::EAI_BADFLAGS => io::ErrorKind::InvalidInput,
        libc::EAI_MEMORY => io::ErrorKind::OutOfMemory,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, msg)
}

fn lookup(host: Option<&CStr>, service: Option<&CStr>, hints: Hints) -> io::Result<Vec<AddrInfo>> {
    // SAFETY: an all-zero addrinfo is the documented "no hints" value (every pointer null).
    let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
    h.ai_family = match hints.family {
        Family::Any => libc::AF_UNSPEC,
        Family::Inet => libc::AF_INET,
        Family::Inet6 => libc::AF_INET6,
    };
    h.ai_socktype = match hints.socket_type {
        SocketType::Any => 0,
        SocketType::Stream => libc::SOCK_STREAM,
        SocketType::Datagram => libc::SOCK_DGRAM,
        SocketType::Other(t) => t,
    };
    if hints.canonical_name {
        h.ai_flags |= libc::AI_CANONNAME;
    }
    if hints.passive {
        h.ai_flags |= libc::AI_PASSIVE;
    }
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: host and service are NUL-terminated strings or null (at least one is not,
    // checked by the caller); `h` is a valid hints struct; `res` receives a list that is
    // freed below with freeaddrinfo, exactly once, on success only (on failure nothing is
    // allocated).
    let rc = unsafe {
        libc::getaddrinfo(
            host.map_or(std::ptr::null(), CStr::as_ptr),
            service.map_or(std::ptr::null(), CStr::as_ptr),
            &h,
            &mut res,
        )
    };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: `cur` walks the list getaddrinfo returned, which stays valid until the
        // freeaddrinfo below; each node's ai_addr points to ai_addrlen bytes of a sockaddr
        // of the node's family, and ai_canonname is null or a NUL-terminated string.
        let ai = unsafe { &*cur };
        if let Some(addr) = unsafe { sockaddr_to_std(ai.ai_addr, ai.ai_addrlen) } {
            let canonical_name = (!ai.ai_canonname.is_null()).then(|| {
                // SAFETY: as above: non-null and NUL-terminated.
                unsafe { CStr::from_ptr(ai.ai_canonname) }
                    .to_string_lossy()
                    .into_owned()
            });
            out.push(AddrInfo {
                family: if addr.is_ipv4() {
                    Family::Inet
                } else {
                    Family::Inet6
                },
                socket_type: match ai.ai_socktype {
                    libc::SOCK_STREAM => SocketType::Stream,
                    libc::SOCK_DGRAM => SocketType::Datagram,
                    t => SocketType::Other(t),
                },
                protocol: ai.ai_protocol,
                canonical_name,
                addr,
            });
        }
        cur = ai.ai_next;
    }
    // SAFETY: `res` is the list getaddrinfo allocated; nothing refers to it any more.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// The std form of a C socket address of family AF_INET or AF_INET6 (others: `None`).
///
/// # Safety
/// `sa` must point to at least `len` readable bytes holding a sockaddr.
unsafe fn sockaddr_to_std(sa: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY (all three reads): the caller guarantees `len` bytes at `sa`; each cast is
    // checked against the family and the length first, and read_unaligned needs no
    // alignment.
    match i32::from(unsafe { (*sa).sa_family }) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            let v4 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            let v6 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                v6.sin6_addr.s6_addr.into(),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn reverse(addr: SocketAddr, flags: NameInfoFlags) -> io::Result<(String, String)> {
    let sock = socket2::SockAddr::from(addr);
    let mut host = vec![0 as libc::c_char; libc::NI_MAXHOST as usize];
    let mut service = vec![0 as libc::c_char; 32];
    let mut f = 0;
    if flags.numeric_host {
        f |= libc::NI_NUMERICHOST;
    }
    if flags.numeric_service {
        f |= libc::NI_NUMERICSERV;
    }
    if flags.name_required {
        f |= libc::NI_NAMEREQD;
    }
    if flags.datagram {
        f |= libc::NI_DGRAM;
    }
    // SAFETY: `sock` holds a valid sockaddr of `sock.len()` bytes; the two buffers are
    // writable for the lengths passed, and getnameinfo NUL-terminates what it writes.
    let rc = unsafe {
        libc::getnameinfo(
            sock.as_ptr().cast(),
            sock.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            service.as_mut_ptr(),
            service.len() as libc::socklen_t,
            f,
        )
    };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    // SAFETY: both buffers were NUL-terminated by getnameinfo (they were zeroed, too).
    let text = |b: &[libc::c_char]| {
        unsafe { CStr::from_ptr(b.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((text(&host), text(&service)))
}
