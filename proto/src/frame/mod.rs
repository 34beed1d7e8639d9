//! The framed protocol (`docs/PROTOCOL.md` in the repository): the course's answer to sticky
//! packets.
//!
//! ```text
//! +---------------------+-----------------------------+--------------------------+
//! | header length: 4 B  | header: JSON object, UTF-8  | body: exactly N bytes     |
//! | i32 little-endian   | (that many bytes)           | N decided by the header   |
//! +---------------------+-----------------------------+--------------------------+
//! ```
//!
//! Byte-compatible with the course's Python (`struct.pack('i', len(h))` on a little-endian
//! host, `json.dumps(dict).encode('utf-8')`), so its programs are real peers.
//!
//! Three layers, each usable alone:
//! - [`Header`]: the JSON object, with typed accessors that name a missing or mistyped field.
//! - [`Decoder`] / [`encode_header`]: a sans-I/O codec over [`bytes::BytesMut`]. It accepts
//!   any split of its input (one byte at a time, many frames in one read), enforces
//!   [`Limits`] before allocating anything, and hands the body out in chunks as it arrives,
//!   so a 4 GiB upload never sits in memory.
//! - [`FrameReader`] / [`write_frame`]: the codec over any `Read`/`Write`, such as
//!   [`mayfly::net::TcpStream`], with the body exposed as an [`io::Read`](std::io::Read).
//!
//! Which header field gives the body's length is the application's call (the course uses
//! `filesize` for an upload and `total_size` for command output), so decoders take a
//! [`BodyLen`] rule; [`body_from`] covers the common "this field, if present" case.
//!
//! ```
//! use bytes::BytesMut;
//! use mayfly_proto::frame::{self, Decoder, Header, Item, Limits};
//!
//! let mut wire = BytesMut::new();
//! let h = Header::new().with("cmd", "put").with("filename", "a.txt").with("filesize", 5);
//! frame::encode_header(&h, Limits::default().max_header, &mut wire).unwrap();
//! wire.extend_from_slice(b"hello");
//!
//! let mut dec = Decoder::new(Limits::default(), frame::body_from("filesize"));
//! let mut input = BytesMut::new();
//! let mut items = Vec::new();
//! for byte in wire.iter() {            // one byte at a time: still the same frame
//!     input.extend_from_slice(&[*byte]);
//!     while let Some(item) = dec.decode(&mut input).unwrap() {
//!         items.push(item);
//!     }
//! }
//! assert!(matches!(&items[0], Item::Header { header, body_len: 5 } if header.str("filename").unwrap() == "a.txt"));
//! let body: Vec<u8> = items.iter().filter_map(|i| match i { Item::Body(b) => Some(&b[..]), _ => None }).flatten().copied().collect();
//! assert_eq!(body, b"hello");
//! assert!(matches!(items.last(), Some(Item::End)));
//! ```

mod codec;
mod error;
mod header;
mod io;

pub use codec::{body_from, encode_header, no_body, total_size, BodyLen, Decoder, Item};
pub use error::FrameError;
pub use header::Header;
pub use io::{write_frame, write_header, BodyReader, FrameReader};

/// Bytes in the length prefix.
pub const PREFIX_LEN: usize = 4;
/// The protocol's ceiling on a header: 64 KiB.
pub const MAX_HEADER: usize = 64 * 1024;
/// Default ceiling on one body: 64 GiB. Servers usually set their own.
pub const DEFAULT_MAX_BODY: u64 = 64 << 30;

/// What a decoder accepts before it refuses a frame.
///
/// ```
/// let l = mayfly_proto::frame::Limits::default().max_body(1 << 20);
/// assert_eq!(l.max_header, 64 * 1024);
/// assert_eq!(l.max_body, 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest header accepted, in bytes ([`MAX_HEADER`] by default; never more).
    pub max_header: usize,
    /// Longest body accepted, in bytes ([`DEFAULT_MAX_BODY`] by default).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header: MAX_HEADER,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl Limits {
    /// Sets the header limit, capped at [`MAX_HEADER`].
    pub fn max_header(mut self, n: usize) -> Self {
        self.max_header = n.min(MAX_HEADER);
        self
    }

    /// Sets the body limit.
    pub fn max_body(mut self, n: u64) -> Self {
        self.max_body = n;
        self
    }
}
