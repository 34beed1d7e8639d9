//! What a parsed request head says about its framing and its connection: the body length,
//! keep-alive, `Expect: 100-continue`, or the refusal a bad head gets. Nothing here reads
//! the stream.

/// How the connection frames and treats one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    /// The body's length (`Content-Length`, or 0).
    pub(crate) body_len: usize,
    /// Whether the connection stays open after the answer.
    pub(crate) keep_alive: bool,
    /// Whether the client waits for `100 Continue` before it sends the body.
    pub(crate) expect_continue: bool,
}

/// A head that is answered with `status` and then the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) why: &'static str,
}

const fn refuse(status: u16, why: &'static str) -> Refusal {
    Refusal { status, why }
}

/// Reads the framing of a request of HTTP/1.`version` with `headers`, bodies limited to
/// `max_body` bytes (0: no bodies).
///
/// # Errors
/// The refusal: 400 for a bad `Content-Length` (not digits, two different values, or one
/// beside a `Transfer-Encoding`: no request smuggling), 501 for `Transfer-Encoding` alone
/// (chunked bodies are not decoded), 413 for a body over `max_body`. With `max_body` 0 a
/// `Content-Length` that is not a number and a `Transfer-Encoding` alone announce a body
/// too: 413.
pub(crate) fn framing(
    version: u8,
    headers: &[httparse::Header<'_>],
    max_body: usize,
) -> Result<Framing, Refusal> {
    let mut length: Option<u64> = None;
    let mut transfer_encoding = false;
    // A length that is not a number, where no body is allowed anyway: refused as a body.
    let mut unreadable_length = false;
    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let Some(n) = parse_length(h.value) else {
                if max_body == 0 {
                    unreadable_length = true;
                    continue;
                }
                return Err(refuse(400, "bad Content-Length"));
            };
            if length.is_some_and(|l| l != n) {
                return Err(refuse(400, "two different Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }
    if transfer_encoding {
        return Err(match length {
            Some(_) => refuse(400, "Content-Length and Transfer-Encoding"),
            None if max_body == 0 => refuse(413, "no bodies accepted"),
            None => refuse(501, "Transfer-Encoding (chunked bodies) not supported"),
        });
    }
    if unreadable_length {
        return Err(refuse(413, "no bodies accepted"));
    }
    let body_len = match length {
        None => 0,
        Some(n) if n > max_body as u64 => return Err(refuse(413, "body over the limit")),
        Some(n) => n as usize,
    };
    Ok(Framing {
        body_len,
        keep_alive: !close && (version >= 1 || keep_alive),
        expect_continue: expect_continue && version >= 1,
    })
}

/// A `Content-Length` value: ASCII digits only (optional surrounding blanks), no overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a str) -> httparse::Header<'a> {
        httparse::Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(parse_length(b" 12 "), Some(12));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1 2",
            b"0x10",
            b"99999999999999999999",
            b"1,1",
        ] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn smuggling_is_refused() {
        let cl_te = [h("Content-Length", "3"), h("Transfer-Encoding", "chunked")];
        assert_eq!(framing(1, &cl_te, 10).unwrap_err().status, 400);
        let two = [h("Content-Length", "3"), h("content-length", "4")];
        assert_eq!(framing(1, &two, 10).unwrap_err().status, 400);
        let same = [h("Content-Length", "3"), h("content-length", "3")];
        assert_eq!(framing(1, &same, 10).unwrap().body_len, 3);
        let te = [h("Transfer-Encoding", "chunked")];
        assert_eq!(framing(1, &te, 10).unwrap_err().status, 501);
        assert_eq!(
            framing(1, &[h("Content-Length", "11")], 10)
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn with_no_bodies_every_announced_body_is_413_but_two_lengths_are_400() {
        let status = |hs: &[httparse::Header<'_>]| framing(1, hs, 0).map_err(|r| r.status);
        assert_eq!(status(&[h("Content-Length", "banana")]), Err(413));
        assert_eq!(status(&[h("Content-Length", "5")]), Err(413));
        assert_eq!(status(&[h("Transfer-Encoding", "chunked")]), Err(413));
        let two = [h("Content-Length", "0"), h("Content-Length", "5")];
        assert_eq!(status(&two), Err(400));
        let cl_te = [h("Content-Length", "0"), h("Transfer-Encoding", "chunked")];
        assert_eq!(status(&cl_te), Err(400));
        assert_eq!(status(&[h("Content-Length", "0")]).unwrap().body_len, 0);
        // With bodies allowed, a length that is not a number is a bad request.
        assert_eq!(framing(1, &[h("Content-Length", "banana")], 10).unwrap_err().status, 400);
    }

    #[test]
    fn keep_alive_by_version_and_header() {
        assert!(framing(1, &[], 0).unwrap().keep_alive);
        assert!(!framing(0, &[], 0).unwrap().keep_alive);
        assert!(
            framing(0, &[h("Connection", "Keep-Alive")], 0)
                .unwrap()
                .keep_alive
        );
        assert!(
            !framing(1, &[h("Connection", "foo, close")], 0)
                .unwrap()
                .keep_alive
        );
        assert!(
            framing(1, &[h("Expect", "100-Continue")], 0)
                .unwrap()
                .expect_continue
        );
    }
}
