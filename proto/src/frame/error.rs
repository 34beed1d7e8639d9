//! `FrameError`: every way a frame can be wrong, each naming the problem.

use std::io;

/// A protocol error: the peer sent something the framed protocol does not allow.
///
/// [`is_fatal`](FrameError::is_fatal) tells whether the stream is still in step after it: a
/// bad header of known length is skipped and the next frame can be read; a bad length
/// prefix or a body of unknown or refused length leaves no way to find the next frame.
///
/// Over I/O ([`super::FrameReader`]) these arrive as `io::ErrorKind::InvalidData`;
/// [`FrameError::from_io`] gets them back.
///
/// ```
/// use mayfly_proto::frame::{Decoder, FrameError, Limits, no_body};
/// let mut d = Decoder::new(Limits::default(), no_body);
/// let mut input = bytes::BytesMut::from(&(-1i32).to_le_bytes()[..]);
/// let err = d.decode(&mut input).unwrap_err();
/// assert!(matches!(err, FrameError::NegativeLength(-1)));
/// assert_eq!(err.to_string(), "header length -1 is negative");
/// assert!(err.is_fatal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The 4-byte prefix is negative.
    #[error("header length {0} is negative")]
    NegativeLength(i32),
    /// The 4-byte prefix is over [`super::Limits::max_header`].
    #[error("header length {len} is over the limit of {limit} bytes")]
    HeaderTooLong {
        /// Claimed length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The header bytes are not UTF-8.
    #[error("header is not UTF-8 (invalid byte at offset {offset})")]
    BadUtf8 {
        /// Offset of the first bad byte within the header.
        offset: usize,
    },
    /// The header is UTF-8 but not JSON.
    #[error("header is not valid JSON: {0}")]
    BadJson(String),
    /// The header is JSON but not an object (`{...}`).
    #[error("header is JSON but not an object")]
    NotAnObject,
    /// A required field is absent.
    #[error("header field {0:?} is missing")]
    MissingField(String),
    /// A field has the wrong JSON type or range.
    #[error("header field {field:?} must be {expected}")]
    WrongType {
        /// The field.
        field: String,
        /// What it must be, in words.
        expected: &'static str,
    },
    /// The body is longer than [`super::Limits::max_body`].
    #[error("body of {len} bytes is over the limit of {limit} bytes")]
    BodyTooLong {
        /// Claimed length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The header is fine but the [`super::BodyLen`] rule could not tell how long its body
    /// is (a missing or bad size field), so the next frame cannot be found.
    #[error("cannot tell the body's length: {0}")]
    UnknownBodyLength(Box<FrameError>),
    /// An earlier fatal error left the stream out of step; nothing more can be decoded.
    #[error("stream is out of step after an earlier protocol error")]
    Desynced,
}

impl FrameError {
    /// True if the stream cannot be read past this error (see the type's docs).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FrameError::NegativeLength(_)
                | FrameError::HeaderTooLong { .. }
                | FrameError::BodyTooLong { .. }
                | FrameError::UnknownBodyLength(_)
                | FrameError::Desynced
        )
    }

    /// True if the refused length prefix is the head of a TLS record: a first byte of 0x15
    /// (alert) or 0x16 (handshake), then version 0x03 0x00..=0x04. A TLS peer's first bytes
    /// read as a frame's length are always over the header limit, so this is how a
    /// plaintext end learns that the other one speaks TLS.
    ///
    /// ```
    /// use mayfly_proto::frame::{FrameError, MAX_HEADER};
    /// // A TLS 1.2 alert record: 15 03 03 00 02 ...
    /// let len = u32::from_le_bytes([0x15, 0x03, 0x03, 0x00]) as usize;
    /// assert!(FrameError::HeaderTooLong { len, limit: MAX_HEADER }.is_tls_record());
    /// let len = u32::from_le_bytes([b'G', b'E', b'T', b' ']) as usize;
    /// assert!(!FrameError::HeaderTooLong { len, limit: MAX_HEADER }.is_tls_record());
    /// ```
    pub fn is_tls_record(&self) -> bool {
        let FrameError::HeaderTooLong { len, .. } = self else {
            return false;
        };
        u32::try_from(*len)
            .is_ok_and(|n| matches!(n.to_le_bytes(), [0x15 | 0x16, 0x03, 0x00..=0x04, _]))
    }

    /// The `FrameError` inside an I/O error from [`super::FrameReader`], if it is one.
    pub fn from_io(e: &io::Error) -> Option<&FrameError> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}
