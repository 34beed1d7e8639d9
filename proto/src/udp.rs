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
