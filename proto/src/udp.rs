//! The datagram protocols: the course's UDP echo server and its time server, and the error
//! datagram both send instead of an answer. One request is one datagram, one answer is one
//! datagram: datagrams never stick together, so there is no framing. They may be lost: a
//! client waits for its answer a bounded time and counts it lost after that.
//!
//! - **UDP echo** (`mayfly serve udp-echo`): the answer is the request uppercased (ASCII),
//!   [`echo_reply`].
//! - **Time** (`mayfly serve time`): the request is a strftime format in UTF-8 (empty: the
//!   course's [`DEFAULT_TIME_FORMAT`]); the answer is the server's local time in that format.
//!   [`time_format`] reads a request.
//! - **Refusals**: a request the server will not answer — a datagram over its limit, a
//!   format that is not valid or too long — gets a refusal datagram, the JSON object of
//!   every mayfly refusal: `{"status": "error", "code": …, "error": …}` ([`refusal`],
//!   read back with [`parse_refusal`]). An echo answer is never one (it has no lowercase
//!   letters); the time server refuses a format whose answer would read as one.
//! - **Reply size**: an answer is never more than [`DEFAULT_MAX_REPLY_RATIO`] times its
//!   request, counted in bytes on the wire (IP and UDP headers included: what a forged
//!   request costs its sender and what its answer costs whoever receives it), so the
//!   servers cannot amplify a flood sent in someone else's name. [`max_reply`] is the
//!   limit; a refusal that would exceed it is sent without its words ([`short_refusal`]:
//!   `{"code":"bad_request","status":"error"}`), or not at all ([`refusal_within`]).
//!
//! ```
//! use mayfly_proto::reply::code;
//! use mayfly_proto::udp::{self, echo_reply, time_format, DEFAULT_TIME_FORMAT};
//! assert_eq!(echo_reply(b"say hello"), b"SAY HELLO");
//! assert_eq!(time_format(b"", 256).unwrap(), DEFAULT_TIME_FORMAT);
//! assert_eq!(time_format(b"%H:%M", 256).unwrap(), "%H:%M");
//! let too_long = time_format(&[b'%'; 300], 256).unwrap_err();
//! assert_eq!(too_long.code, code::TOO_LARGE);
//! let sent = udp::refusal(&too_long);
//! assert_eq!(udp::parse_refusal(&sent), Some(too_long));
//! assert_eq!(udp::parse_refusal(b"2024-01-01 12:00:00"), None);
//! ```

use crate::frame::Header;
use crate::reply::{code, Refusal, STATUS, STATUS_ERROR};

/// The time server's format when the request is empty (the course's `'%Y-%m-%d %X'`).
pub const DEFAULT_TIME_FORMAT: &str = "%Y-%m-%d %X";

/// Default ratio of an answer's bytes to its request's, on the wire: QUIC's rule for a
/// peer whose address is not verified (RFC 9000, 8.1), and every UDP peer here is one.
pub const DEFAULT_MAX_REPLY_RATIO: u64 = 3;
/// Bytes of IPv4 and UDP header on every datagram over IPv4.
pub const WIRE_OVERHEAD_V4: usize = 20 + 8;
/// Bytes of IPv6 and UDP header on every datagram over IPv6.
pub const WIRE_OVERHEAD_V6: usize = 40 + 8;

/// The longest answer, in payload bytes, to a request of `request_len` payload bytes
/// under `ratio` (0: no limit): the answer on the wire is at most `ratio` times the
/// request on the wire.
///
/// ```
/// use mayfly_proto::udp::max_reply;
/// assert_eq!(max_reply(0, false, 3), 56);   // an empty request: 28 bytes on the wire
/// assert_eq!(max_reply(11, false, 3), 89);  // the course's "%Y-%m-%d %X": 19 bytes back
/// assert_eq!(max_reply(2, true, 3), 102);
/// assert_eq!(max_reply(1, false, 0), usize::MAX);
/// ```
pub fn max_reply(request_len: usize, ipv6: bool, ratio: u64) -> usize {
    if ratio == 0 {
        return usize::MAX;
    }
    let overhead = if ipv6 {
        WIRE_OVERHEAD_V6
    } else {
        WIRE_OVERHEAD_V4
    };
    let ratio = usize::try_from(ratio).unwrap_or(usize::MAX);
    request_len
        .saturating_add(overhead)
        .saturating_mul(ratio)
        .saturating_sub(overhead)
}

/// A refusal with its code only: `{"code":…,"status":"error"}` (it reads back with the
/// reason "no reason given").
///
/// ```
/// use mayfly_proto::udp::{parse_refusal, short_refusal};
/// let sent = short_refusal("bad_request");
/// assert_eq!(sent, br#"{"code":"bad_request","status":"error"}"#);
/// assert_eq!(parse_refusal(&sent).unwrap().code, "bad_request");
/// ```
pub fn short_refusal(code: &str) -> Vec<u8> {
    Header::new()
        .with(STATUS, STATUS_ERROR)
        .with(crate::reply::CODE, code)
        .to_bytes()
}

/// The refusal datagram for `r` in at most `limit` bytes: the whole one ([`refusal`]) if
/// it fits, else [`short_refusal`] if that fits, else `None` (send nothing).
///
/// ```
/// use mayfly_proto::reply::{code, Refusal};
/// use mayfly_proto::udp::{refusal, refusal_within, short_refusal};
/// let r = Refusal::new(code::BAD_REQUEST, "\"%Q\" is not a valid strftime format");
/// assert_eq!(refusal_within(&r, 1000), Some(refusal(&r)));
/// assert_eq!(refusal_within(&r, 60), Some(short_refusal(code::BAD_REQUEST)));
/// assert_eq!(refusal_within(&r, 20), None);
/// ```
pub fn refusal_within(r: &Refusal, limit: usize) -> Option<Vec<u8>> {
    let whole = refusal(r);
    if whole.len() <= limit {
        return Some(whole);
    }
    Some(short_refusal(&r.code)).filter(|s| s.len() <= limit)
}

/// The UDP echo server's answer to `request`: the same bytes, ASCII letters uppercased.
pub fn echo_reply(request: &[u8]) -> Vec<u8> {
    request.to_ascii_uppercase()
}

/// The format a time request asks for: the request as UTF-8, or [`DEFAULT_TIME_FORMAT`]
/// when it is empty.
///
/// # Errors
/// A [`Refusal`]: `too_large` for a format longer than `max_format` bytes, `bad_request`
/// for one that is not UTF-8. (Whether it is a valid strftime format is the server's to
/// say, with its clock.)
pub fn time_format(request: &[u8], max_format: usize) -> Result<&str, Refusal> {
    if request.len() > max_format {
        return Err(Refusal::new(
            code::TOO_LARGE,
            format!(
                "the format is {} bytes; at most {max_format} are accepted",
                request.len()
            ),
        ));
    }
    if request.is_empty() {
        return Ok(DEFAULT_TIME_FORMAT);
    }
    std::str::from_utf8(request)
        .map_err(|e| Refusal::new(code::BAD_REQUEST, format!("the format is not UTF-8: {e}")))
}

/// The refusal datagram: `{"status": "error", "code": …, "error": …}` as JSON.
pub fn refusal(r: &Refusal) -> Vec<u8> {
    r.header().to_bytes()
}

/// The refusal in `datagram`, if it is one (a JSON object whose `status` is `"error"`).
pub fn parse_refusal(datagram: &[u8]) -> Option<Refusal> {
    if datagram.first() != Some(&b'{') {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(datagram).ok()?;
    let h = Header::from(map);
    if h.get(STATUS).and_then(|s| s.as_str()) != Some(STATUS_ERROR) {
        return None;
    }
    Refusal::from_reply(&h)
}

/// The refusal a server sends for a datagram over its limit of `max_datagram` bytes.
///
/// ```
/// let r = mayfly_proto::udp::oversize_refusal(8192);
/// assert_eq!(r.code, "too_large");
/// ```
pub fn oversize_refusal(max_datagram: usize) -> Refusal {
    Refusal::new(
        code::TOO_LARGE,
        format!("datagram over {max_datagram} bytes; it was not read"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_survives_the_round_trip_and_nothing_else_reads_as_one() {
        let r = Refusal::new(code::BAD_REQUEST, "bad format \"%Q\"");
        assert_eq!(parse_refusal(&refusal(&r)), Some(r));
        for not in [
            &b""[..],
            b"{",
            b"{}",
            b"[1]",
            br#"{"status":"ok"}"#,
            b"{\"STATUS\":\"ERROR\"}",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_refusal(not), None, "{not:?}");
        }
    }

    #[test]
    fn an_echo_reply_never_reads_as_a_refusal() {
        let r = refusal(&Refusal::new(code::TOO_LARGE, "x"));
        assert_eq!(parse_refusal(&echo_reply(&r)), None);
    }

    #[test]
    fn a_short_refusal_fits_the_default_ratio_for_any_request() {
        for c in [code::BAD_REQUEST, code::TOO_LARGE] {
            let limit = max_reply(1, false, DEFAULT_MAX_REPLY_RATIO);
            assert!(short_refusal(c).len() <= limit, "{c}");
        }
        // And the course's default format's answer (19 bytes) fits an empty request's.
        assert!("2024-02-29 13:05:09".len() <= max_reply(0, false, DEFAULT_MAX_REPLY_RATIO));
    }

    #[test]
    fn formats_at_the_limit_pass_and_bad_utf8_is_refused() {
        assert_eq!(time_format(&[b'a'; 4], 4).unwrap(), "aaaa");
        assert_eq!(
            time_format(&[b'a'; 5], 4).unwrap_err().code,
            code::TOO_LARGE
        );
        assert_eq!(
            time_format(b"%Y\xff", 64).unwrap_err().code,
            code::BAD_REQUEST
        );
    }
}
