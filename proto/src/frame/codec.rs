//! The sans-I/O codec: [`Decoder`] turns any split of the byte stream into [`Item`]s;
//! [`encode_header`] writes a length prefix and a header.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde_json::Value;

use super::{FrameError, Header, Limits, PREFIX_LEN};

/// How many body bytes follow a header. An error here is fatal (it comes back as
/// [`FrameError::UnknownBodyLength`]): the stream cannot be followed past that header.
pub trait BodyLen: Fn(&Header) -> Result<u64, FrameError> {}
impl<F: Fn(&Header) -> Result<u64, FrameError>> BodyLen for F {}

/// A rule for frames that never carry a body.
pub fn no_body(_: &Header) -> Result<u64, FrameError> {
    Ok(0)
}

/// A rule: the body is as long as `field` says, or empty when the field is absent.
///
/// ```
/// use mayfly_proto::frame::{body_from, Header};
/// let rule = body_from("total_size");
/// assert_eq!(rule(&Header::new().with("total_size", 9)).unwrap(), 9);
/// assert_eq!(rule(&Header::new()).unwrap(), 0);
/// assert!(rule(&Header::new().with("total_size", -1)).is_err());
/// ```
pub fn body_from(field: &'static str) -> impl Fn(&Header) -> Result<u64, FrameError> + Clone {
    move |h| Ok(h.opt_u64(field)?.unwrap_or(0))
}

/// The course's rule for replies (command output, and mayfly's file server): a body of
/// `total_size` bytes when the field is there, none otherwise. A plain function, so it fits
/// [`Decoder`]'s and [`super::FrameReader`]'s default rule type.
///
/// ```
/// use mayfly_proto::frame::{total_size, Header};
/// assert_eq!(total_size(&Header::new().with("total_size", 3)).unwrap(), 3);
/// assert_eq!(total_size(&Header::new().with("status", "ok")).unwrap(), 0);
/// ```
pub fn total_size(h: &Header) -> Result<u64, FrameError> {
    Ok(h.opt_u64("total_size")?.unwrap_or(0))
}

/// One decoded piece of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A header, and how many body bytes follow it.
    Header {
        /// The JSON object.
        header: Header,
        /// Body bytes that follow (as the [`BodyLen`] rule decided).
        body_len: u64,
    },
    /// Some of the body, in arrival order. Never empty.
    Body(Bytes),
    /// The frame is complete (also sent at once after a header with an empty body).
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Prefix,
    Header(usize),
    Body(u64),
    Broken,
}

/// An incremental frame decoder.
///
/// Feed it whatever arrived with [`decode`](Decoder::decode); it takes what it can use from
/// the front of the buffer and returns one [`Item`] per call, or `None` when it needs more
/// bytes. A header is parsed only once all of it is there and only if its length is within
/// [`Limits::max_header`]; body bytes are handed out as they come, never gathered.
///
/// After a non-fatal error (a bad header of known length) the decoder has skipped that
/// header and goes on with the next frame; after a fatal one every call returns
/// [`FrameError::Desynced`].
pub struct Decoder<F = fn(&Header) -> Result<u64, FrameError>> {
    limits: Limits,
    rule: F,
    state: State,
}

impl<F> std::fmt::Debug for Decoder<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("limits", &self.limits)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<F: BodyLen> Decoder<F> {
    /// A decoder with `limits`, asking `rule` how long each body is.
    pub fn new(limits: Limits, rule: F) -> Self {
        Decoder {
            limits,
            rule,
            state: State::Prefix,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Body bytes still to come in the current frame (0 outside a body).
    pub fn body_remaining(&self) -> u64 {
        match self.state {
            State::Body(n) => n,
            _ => 0,
        }
    }

    /// True between frames: nothing of a frame has been consumed.
    pub fn is_idle(&self) -> bool {
        self.state == State::Prefix
    }

    /// Records `n` body bytes that the caller read straight from the source, bypassing the
    /// buffer (see [`super::BodyReader`]). `n` must not exceed [`body_remaining`](Self::body_remaining).
    pub fn advance_body(&mut self, n: u64) {
        match &mut self.state {
            State::Body(left) => {
                assert!(n <= *left, "advance_body({n}) past the end of the body");
                *left -= n;
            }
            _ => assert_eq!(n, 0, "advance_body outside a body"),
        }
    }

    /// Decodes the next item from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, FrameError> {
        loop {
            match self.state {
                State::Broken => return Err(FrameError::Desynced),
                State::Prefix => {
                    if buf.len() < PREFIX_LEN {
                        return Ok(None);
                    }
                    let n = buf.get_i32_le();
                    if n < 0 {
                        return Err(self.fatal(FrameError::NegativeLength(n)));
                    }
                    let n = n as usize;
                    if n > self.limits.max_header {
                        return Err(self.fatal(FrameError::HeaderTooLong {
                            len: n,
                            limit: self.limits.max_header,
                        }));
                    }
                    self.state = State::Header(n);
                }
                State::Header(n) => {
                    if buf.len() < n {
                        buf.reserve(n - buf.len());
                        return Ok(None);
                    }
                    let raw = buf.split_to(n);
                    self.state = State::Prefix;
                    let header = parse_header(&raw)?;
                    let body_len = (self.rule)(&header)
                        .map_err(|e| self.fatal(FrameError::UnknownBodyLength(Box::new(e))))?;
                    if body_len > self.limits.max_body {
                        return Err(self.fatal(FrameError::BodyTooLong {
                            len: body_len,
                            limit: self.limits.max_body,
                        }));
                    }
                    self.state = State::Body(body_len);
                    return Ok(Some(Item::Header { header, body_len }));
                }
                State::Body(0) => {
                    self.state = State::Prefix;
                    return Ok(Some(Item::End));
                }
                State::Body(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = left.min(buf.len() as u64) as usize;
                    self.state = State::Body(left - take as u64);
                    return Ok(Some(Item::Body(buf.split_to(take).freeze())));
                }
            }
        }
    }

    fn fatal(&mut self, e: FrameError) -> FrameError {
        self.state = State::Broken;
        e
    }
}

fn parse_header(raw: &[u8]) -> Result<Header, FrameError> {
    let text = std::str::from_utf8(raw).map_err(|e| FrameError::BadUtf8 {
        offset: e.valid_up_to(),
    })?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(Header(m)),
        Ok(_) => Err(FrameError::NotAnObject),
        Err(e) => Err(FrameError::BadJson(e.to_string())),
    }
}

/// Appends `header`'s length prefix and JSON to `dst`. Fails, writing nothing, if the JSON
/// is longer than `max_header`.
///
/// ```
/// use mayfly_proto::frame::{encode_header, Header, MAX_HEADER};
/// let mut out = bytes::BytesMut::new();
/// encode_header(&Header::new().with("total_size", 2), MAX_HEADER, &mut out).unwrap();
/// assert_eq!(&out[..4], &16i32.to_le_bytes());
/// assert_eq!(&out[4..], br#"{"total_size":2}"#);
/// ```
pub fn encode_header(
    header: &Header,
    max_header: usize,
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    let json = header.to_bytes();
    let limit = max_header.min(super::MAX_HEADER);
    if json.len() > limit {
        return Err(FrameError::HeaderTooLong {
            len: json.len(),
            limit,
        });
    }
    dst.reserve(PREFIX_LEN + json.len());
    dst.put_i32_le(json.len() as i32);
    dst.put_slice(&json);
    Ok(())
}
