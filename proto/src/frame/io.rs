//! The codec over blocking I/O: [`FrameReader`] reads frames from any `Read`, with the body
//! as a bounded [`io::Read`]; [`write_header`] and [`write_frame`] send them.
//!
//! With [`mayfly::net::TcpStream`] every read parks only the calling greenlet, so one
//! `FrameReader` per connection is the whole per-connection state of a framed server.

use std::io::{self, Read, Write};

use bytes::{Buf, BytesMut};

use super::{encode_header, BodyLen, Decoder, FrameError, Header, Item, Limits};

/// Bytes asked for per read while looking for a header.
const HEADER_READ: usize = 8 * 1024;
/// Bodies up to this size go out in the same write as their header.
const COALESCE: usize = 64 * 1024;

/// Reads frames from `R`.
///
/// ```
/// use std::io::Read;
/// use mayfly_proto::frame::{self, FrameReader, Header, Limits};
///
/// let mut wire = Vec::new();
/// frame::write_frame(&mut wire, &Header::new().with("total_size", 3), b"abc").unwrap();
/// frame::write_frame(&mut wire, &Header::new().with("total_size", 0), b"").unwrap();
///
/// let mut r = FrameReader::new(&wire[..], Limits::default(), frame::body_from("total_size"));
/// let (h, len) = r.read_header().unwrap().unwrap();
/// assert_eq!((h.u64("total_size").unwrap(), len), (3, 3));
/// let mut body = String::new();
/// r.body().read_to_string(&mut body).unwrap();
/// assert_eq!(body, "abc");
/// assert_eq!(r.read_header().unwrap().unwrap().1, 0);
/// assert!(r.read_header().unwrap().is_none()); // clean end of stream
/// ```
pub struct FrameReader<R, F = fn(&Header) -> Result<u64, FrameError>> {
    inner: R,
    buf: BytesMut,
    decoder: Decoder<F>,
}

impl<R: std::fmt::Debug, F> std::fmt::Debug for FrameReader<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("inner", &self.inner)
            .field("buffered", &self.buf.len())
            .field("decoder", &self.decoder)
            .finish()
    }
}

impl<R: Read, F: BodyLen> FrameReader<R, F> {
    /// A reader over `inner` with `limits`, asking `rule` how long each body is.
    pub fn new(inner: R, limits: Limits, rule: F) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::new(),
            decoder: Decoder::new(limits, rule),
        }
    }

    /// The underlying reader (to write replies on the same socket, say).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The decoder's limits.
    pub fn limits(&self) -> Limits {
        self.decoder.limits()
    }

    /// The next header and its body length. `Ok(None)` means the peer closed cleanly
    /// between frames. Whatever is left of the previous body is read and dropped first.
    ///
    /// A protocol error comes back as `InvalidData` wrapping a [`FrameError`]; after a
    /// non-fatal one the next call reads the next frame. A close in mid-frame is
    /// `UnexpectedEof`.
    pub fn read_header(&mut self) -> io::Result<Option<(Header, u64)>> {
        loop {
            match self.decoder.decode(&mut self.buf)? {
                Some(Item::Header { header, body_len }) => return Ok(Some((header, body_len))),
                Some(Item::Body(_)) | Some(Item::End) => continue,
                None => {}
            }
            let remaining = self.decoder.body_remaining();
            if remaining > 0 {
                // Skipping an unread body: read it in big pieces without keeping it.
                self.body().skip()?;
                continue;
            }
            if self.fill(HEADER_READ)? == 0 {
                if self.decoder.is_idle() && self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed in the middle of a frame header ({} bytes of it arrived)",
                        self.buf.len()
                    ),
                ));
            }
        }
    }

    /// The current frame's body, as a reader that ends where the body ends.
    pub fn body(&mut self) -> BodyReader<'_, R, F> {
        BodyReader { r: self }
    }

    /// Reads the whole current body into memory. For small bodies (listings, command
    /// output): the decoder's `max_body` bounds it.
    pub fn read_body_to_vec(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.decoder.body_remaining().min(1 << 20) as usize);
        self.body().read_to_end(&mut out)?;
        Ok(out)
    }

    fn fill(&mut self, n: usize) -> io::Result<usize> {
        let start = self.buf.len();
        self.buf.resize(start + n, 0);
        let got = loop {
            match self.inner.read(&mut self.buf[start..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
                Ok(got) => break got,
            }
        };
        self.buf.truncate(start + got);
        Ok(got)
    }
}

/// The body of the frame a [`FrameReader`] is in: reads end at the body's end. Bytes already
/// buffered are served first; the rest is read straight into the caller's buffer, so a large
/// body is copied once.
pub struct BodyReader<'a, R, F> {
    r: &'a mut FrameReader<R, F>,
}

impl<R: std::fmt::Debug, F> std::fmt::Debug for BodyReader<'_, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader")
            .field("frame", &self.r)
            .finish()
    }
}

impl<R: Read, F: BodyLen> BodyReader<'_, R, F> {
    /// Body bytes not read yet.
    pub fn remaining(&self) -> u64 {
        self.r.decoder.body_remaining()
    }

    /// Reads and drops the rest of the body; returns how many bytes that was.
    pub fn skip(&mut self) -> io::Result<u64> {
        let mut scratch = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match self.read(&mut scratch)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    }
}

impl<R: Read, F: BodyLen> Read for BodyReader<'_, R, F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let left = self.r.decoder.body_remaining();
        if left == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = (out.len() as u64).min(left) as usize;
        let n = if !self.r.buf.is_empty() {
            let n = want.min(self.r.buf.len());
            out[..n].copy_from_slice(&self.r.buf[..n]);
            self.r.buf.advance(n);
            n
        } else {
            let n = loop {
                match self.r.inner.read(&mut out[..want]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed with {left} body bytes still to come"),
                ));
            }
            n
        };
        self.r.decoder.advance_body(n as u64);
        Ok(n)
    }
}

/// Writes a length prefix and `header` (at most [`super::MAX_HEADER`] bytes of JSON).
pub fn write_header(w: &mut impl Write, header: &Header) -> io::Result<()> {
    let mut out = BytesMut::new();
    encode_header(header, super::MAX_HEADER, &mut out)?;
    w.write_all(&out)
}

/// Writes a whole frame; a small body goes out in the same write as its header.
/// The header must say the body's length in whatever field the reader's rule uses.
pub fn write_frame(w: &mut impl Write, header: &Header, body: &[u8]) -> io::Result<()> {
    let mut out = BytesMut::new();
    encode_header(header, super::MAX_HEADER, &mut out)?;
    if body.len() <= COALESCE {
        out.extend_from_slice(body);
        w.write_all(&out)
    } else {
        w.write_all(&out)?;
        w.write_all(body)
    }
}
