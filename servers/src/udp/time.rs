//! `mayfly serve time`: the course's UDP time server. The client sends a strftime format
//! (UTF-8; empty: `%Y-%m-%d %X`, `mayfly_proto::udp::DEFAULT_TIME_FORMAT`); the answer is
//! the server's local time in that format. Any number of clients, no state kept about them.
//!
//! A request is checked, never trusted: a format longer than [`TimeOptions::max_format`]
//! (`too_large`), not UTF-8, not a valid strftime format (chrono's
//! [`StrftimeItems`] reports `%Q`, a lone `%`, …) or whose answer would not fit a datagram
//! or would itself read as a refusal (`bad_request`) gets a refusal datagram instead of an
//! answer, and is counted as a protocol error. The server never panics on a format.
//!
//! No answer is more than `max_reply_ratio` (3) times its request on the wire, headers
//! included (see `mayfly_proto::udp::max_reply`): an answer longer than that is refused
//! (`too_large`), and a refusal longer than that goes without its words, or not at all. The
//! course's use is well inside it: an empty request (28 bytes on the wire) may get 56 bytes,
//! and its answer, `%Y-%m-%d %X`, is 19; `%c` (2 bytes) may get 62 and is 24. What it stops
//! is `%c` repeated: 256 bytes in, 3,072 out.
//!
//! `%Z` is the zone's name, as Python's `time.strftime` gives it (`UTC`, `CET`, `JST`:
//! [`zone_name`](super::zone_name)), not chrono's offset; `%z` stays the offset (`+0100`).
//! The socket binds with SO_REUSEADDR, as the course's does (`server.setsockopt(SOL_SOCKET,
//! SO_REUSEADDR, 1)`); a port in use is still an error ([`mayfly::net::Bind::reuse_address`]).
//!
//! ```
//! use mayfly_servers::udp::time::format_now;
//! assert_eq!(format_now("%%", 256).unwrap(), "%");
//! assert!(!format_now("%Z", 256).unwrap().starts_with(['+', '-']));
//! assert_eq!(format_now("%Q", 256).unwrap_err().code, "bad_request");
//! assert_eq!(format_now(&"%Y".repeat(200), 256).unwrap_err().code, "too_large");
//! ```

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;

use chrono::format::{Fixed, Item, StrftimeItems};
use chrono::{DateTime, Local, TimeZone};
use mayfly::server::{RunningDatagramServer, ServerStats};
use mayfly_proto::reply::{code, Refusal};
use mayfly_proto::udp;

use super::reply_ratio::RatioGuard;
use super::zone_name::local_zone_name;
use super::{Options, MAX_UDP_PAYLOAD};

/// Default address, loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8081";
/// Default [`TimeOptions::max_format`]: 256 bytes of format, far more than any real one.
pub const DEFAULT_MAX_FORMAT: usize = 256;

/// The time server's options: the UDP server's, and the longest format.
#[derive(Debug, Clone)]
pub struct TimeOptions {
    /// Address and datagram limits.
    pub udp: Options,
    /// The longest format accepted, bytes; a longer one gets a `too_large` refusal.
    pub max_format: usize,
}

impl TimeOptions {
    /// Defaults for `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        TimeOptions {
            udp: Options::new(addr),
            max_format: DEFAULT_MAX_FORMAT,
        }
    }
}

/// Binds and starts the time server.
///
/// # Errors
/// The bind error (`AddrInUse` for a port in use).
///
/// ```
/// use std::net::UdpSocket;
/// use std::time::Duration;
/// use mayfly_servers::udp::time::{self, TimeOptions};
///
/// let server = time::start(&TimeOptions::new("127.0.0.1:0")).unwrap();
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
/// client.send_to(b"%Y", server.local_addr()).unwrap();
/// let mut buf = [0u8; 1024];
/// let (n, _) = client.recv_from(&mut buf).unwrap();
/// assert_eq!(n, 4); // the year
/// server.stop(Duration::from_secs(1));
/// ```
pub fn start(opts: &TimeOptions) -> io::Result<RunningDatagramServer> {
    let stats = Arc::new(ServerStats::new());
    let counters = stats.clone();
    let ratio = RatioGuard::new(opts.udp.max_reply_ratio, &stats);
    let max_format = opts.max_format;
    let reuse_address = true;
    super::start(&opts.udp, reuse_address, stats, move |data, peer, sock| {
        let limit = ratio.limit(data.len(), peer);
        let answer = udp::time_format(&data, max_format)
            .and_then(|fmt| format_local(&Local::now(), fmt, max_format))
            .and_then(|text| {
                if text.len() <= limit {
                    return Ok(text);
                }
                ratio.over();
                Err(Refusal::new(
                    code::TOO_LARGE,
                    format!(
                        "the answer would be {} bytes; a {}-byte request gets at most {limit}",
                        text.len(),
                        data.len()
                    ),
                ))
            });
        match answer {
            Ok(text) => {
                sock.send_to(text.as_bytes(), peer)?;
                counters.requests(1);
                Ok(())
            }
            Err(refusal) => {
                if let Some(sent) = ratio.refusal(&refusal, limit) {
                    sock.send_to(&sent, peer)?;
                }
                Err(io::Error::new(io::ErrorKind::InvalidData, refusal))
            }
        }
    })
}

/// The local time now in `format`, as the server answers it.
///
/// # Errors
/// A [`Refusal`], as the server would send it (see the module docs).
pub fn format_now(format: &str, max_format: usize) -> Result<String, Refusal> {
    udp::time_format(format.as_bytes(), max_format)
        .and_then(|f| format_local(&Local::now(), f, max_format))
}

/// `t` in `format` with the local zone's name for `%Z` (its offset if the C library names
/// none).
fn format_local(t: &DateTime<Local>, format: &str, max_format: usize) -> Result<String, Refusal> {
    let zone = local_zone_name(t.timestamp()).unwrap_or_else(|| t.offset().to_string());
    format_time(t, &zone, format, max_format)
}

/// `t` in `format`, checked: every directive must be one chrono knows, the answer must fit
/// a datagram and must not read as a refusal. `%Z` gives `zone` (the zone's name, which
/// chrono does not know: see [`zone_name`](super::zone_name)).
///
/// ```
/// use chrono::{FixedOffset, TimeZone};
/// use mayfly_servers::udp::time::format_time;
/// let t = FixedOffset::east_opt(9 * 3600).unwrap()
///     .with_ymd_and_hms(2024, 2, 29, 13, 5, 9).unwrap();
/// assert_eq!(format_time(&t, "JST", "%H:%M %Z %z", 256).unwrap(), "13:05 JST +0900");
/// ```
///
/// # Errors
/// A [`Refusal`]: `bad_request` for an invalid format, `too_large` for a format over
/// `max_format` bytes or an answer over [`MAX_UDP_PAYLOAD`].
pub fn format_time<Tz: TimeZone>(
    t: &DateTime<Tz>,
    zone: &str,
    format: &str,
    max_format: usize,
) -> Result<String, Refusal>
where
    Tz::Offset: std::fmt::Display,
{
    if format.len() > max_format {
        return Err(Refusal::new(
            code::TOO_LARGE,
            format!(
                "the format is {} bytes; at most {max_format} are accepted",
                format.len()
            ),
        ));
    }
    let items: Vec<Item<'_>> = StrftimeItems::new(format)
        .map(|i| match i {
            Item::Fixed(Fixed::TimezoneName) => Item::Literal(zone),
            other => other,
        })
        .collect();
    let bad = || {
        Refusal::new(
            code::BAD_REQUEST,
            format!("{format:?} is not a valid strftime format"),
        )
    };
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(bad());
    }
    let mut out = String::new();
    // Formatting can still fail (a directive the value cannot give): an error, not a panic,
    // because we write into a String instead of calling to_string().
    write!(out, "{}", t.format_with_items(items.iter())).map_err(|_| bad())?;
    if out.len() > MAX_UDP_PAYLOAD {
        return Err(Refusal::new(
            code::TOO_LARGE,
            format!(
                "the answer would be {} bytes; a datagram carries at most {MAX_UDP_PAYLOAD}",
                out.len()
            ),
        ));
    }
    if udp::parse_refusal(out.as_bytes()).is_some() {
        return Err(Refusal::new(
            code::BAD_REQUEST,
            "the answer would read as a refusal",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, TimeZone};

    use super::*;

    fn t() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2024, 2, 29, 13, 5, 9)
            .unwrap()
    }

    #[test]
    fn the_course_default_and_common_formats() {
        let f = |s| format_time(&t(), "UTC", s, DEFAULT_MAX_FORMAT);
        assert_eq!(f(udp::DEFAULT_TIME_FORMAT).unwrap(), "2024-02-29 13:05:09");
        // Python's time.strftime: %Z the zone's name, %z its offset.
        assert_eq!(f("%Z|%z").unwrap(), "UTC|+0000");
        assert_eq!(f("%Z%%Z").unwrap(), "UTC%Z");
        assert_eq!(f("%H:%M").unwrap(), "13:05");
        assert_eq!(f("%a %d %b %Y").unwrap(), "Thu 29 Feb 2024");
        assert_eq!(f("no directives").unwrap(), "no directives");
    }

    #[test]
    fn bad_formats_are_refused_not_panicked_on() {
        for bad in ["%Q", "%", "abc %", "%E", "%.9", "%:", "%#"] {
            let r = format_time(&t(), "UTC", bad, DEFAULT_MAX_FORMAT);
            assert_eq!(r.unwrap_err().code, code::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn too_long_formats_and_answers_are_refused() {
        let long = "x".repeat(DEFAULT_MAX_FORMAT + 1);
        assert_eq!(
            format_time(&t(), "UTC", &long, DEFAULT_MAX_FORMAT)
                .unwrap_err()
                .code,
            code::TOO_LARGE
        );
        // A short format can still ask for a long answer: %c is 24 bytes.
        let big = "%c".repeat(3000);
        assert_eq!(
            format_time(&t(), "UTC", &big, 10_000).unwrap_err().code,
            code::TOO_LARGE
        );
    }

    #[test]
    fn an_answer_that_would_read_as_a_refusal_is_refused() {
        let sneaky = r#"{"status":"error","code":"x","error":"%Y"}"#;
        let r = format_time(&t(), "UTC", sneaky, DEFAULT_MAX_FORMAT).unwrap_err();
        assert_eq!(r.code, code::BAD_REQUEST);
    }
}
