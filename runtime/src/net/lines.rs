//! [`LineReader`]: a buffered reader with `readline` over any coroutine stream (gevent's
//! `sock.makefile().readline()`), that loses nothing to a timeout.
//!
//! `std::io::BufReader` works over mayfly's streams too, but a `read_line` interrupted by a
//! socket timeout or an expired [`crate::Timeout`] drops the part of the line it had already
//! read. Here the partial line stays in the reader's buffer: call `readline` again and it
//! continues where it stopped.

use std::io::{self, Read};

use bytes::{Buf, Bytes, BytesMut};

/// The longest line [`LineReader::readline`] accepts unless told otherwise
/// ([`LineReader::max_line`]): 64 KiB. A peer that sends more without a newline gets
/// `InvalidData` instead of our memory.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 8 * 1024;

/// A buffered line reader over a stream: `readline` that loses nothing to a timeout.
///
/// ```
/// use mayfly::net::{LineReader, TcpListener, TcpStream};
/// mayfly::run(|| {
///     let l = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = l.local_addr().unwrap();
///     let server = mayfly::spawn(move || {
///         let (conn, _) = l.accept().unwrap();
///         let mut r = LineReader::new(conn);
///         (r.readline().unwrap(), r.lines().map(Result::unwrap).collect::<Vec<_>>())
///     });
///     let mut c = TcpStream::connect(addr).unwrap();
///     c.sendall(b"HELO me\r\nMAIL from\nQUIT").unwrap();
///     drop(c);
///     let (first, rest) = server.into_result().unwrap();
///     assert_eq!(&first[..], b"HELO me\r\n"); // readline keeps the ending, as Python's does
///     assert_eq!(rest, [&b"MAIL from"[..], &b"QUIT"[..]]); // lines() strips it, as std's does
/// });
/// ```
#[derive(Debug)]
pub struct LineReader<S> {
    inner: S,
    buf: BytesMut,
    max_line: usize,
    eof: bool,
}

impl<S: Read> LineReader<S> {
    /// A reader over `inner`, lines up to [`DEFAULT_MAX_LINE`].
    pub fn new(inner: S) -> Self {
        LineReader {
            inner,
            buf: BytesMut::new(),
            max_line: DEFAULT_MAX_LINE,
            eof: false,
        }
    }

    /// Accepts lines up to `bytes` long (at least 1), ending included.
    pub fn max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes.max(1);
        self
    }

    /// The next line, its `\n` included (Python's `readline`); at the end of the stream, what
    /// is left (no newline), then empty.
    ///
    /// A read that fails — the socket's timeout, an expired [`crate::Timeout`], a kill —
    /// keeps what was read of the line: the next call continues it.
    ///
    /// # Errors
    /// The stream's read error (`TimedOut` after its timeout); `InvalidData` for a line
    /// longer than [`max_line`](LineReader::max_line) (the bytes stay buffered).
    pub fn readline(&mut self) -> io::Result<Bytes> {
        let mut searched = 0;
        loop {
            if let Some(pos) = self.buf[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + pos + 1;
                return Ok(self.buf.split_to(end).freeze());
            }
            searched = self.buf.len();
            if self.buf.len() >= self.max_line {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line longer than {} bytes", self.max_line),
                ));
            }
            if self.eof {
                return Ok(self.buf.split().freeze());
            }
            self.fill()?;
        }
    }

    /// Reads once from the stream into the buffer. Nothing is lost if the read unwinds: it
    /// returned no data then.
    fn fill(&mut self) -> io::Result<()> {
        let want = READ_CHUNK.min(self.max_line + 1 - self.buf.len().min(self.max_line));
        /// Cuts the buffer back to what holds data, also when the read unwinds (an expired
        /// Timeout, a kill) — the zeroed room must not pass for bytes read.
        struct Keep<'a> {
            buf: &'a mut BytesMut,
            len: usize,
        }
        impl Drop for Keep<'_> {
            fn drop(&mut self) {
                self.buf.truncate(self.len);
            }
        }
        let start = self.buf.len();
        self.buf.resize(start + want.max(1), 0);
        let mut keep = Keep {
            buf: &mut self.buf,
            len: start,
        };
        let r = self.inner.read(&mut keep.buf[start..]);
        if let Ok(n) = r {
            keep.len = start + n;
        }
        drop(keep);
        if matches!(r, Ok(0)) {
            self.eof = true;
        }
        r.map(|_| ())
    }

    /// The lines that follow, without their `\n` or `\r\n` (std's `lines()`), until the end
    /// of the stream or the first error.
    pub fn lines(&mut self) -> Lines<'_, S> {
        Lines { reader: self }
    }

    /// Bytes read from the stream and not yet returned.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The stream (reading from it directly skips what is buffered).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream, mutably (to write replies on the same connection).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The stream and whatever was buffered but not returned.
    pub fn into_parts(self) -> (S, Bytes) {
        (self.inner, self.buf.freeze())
    }
}

/// Reads drain the buffer first, then go to the stream (for a body after the header lines).
impl<S: Read> Read for LineReader<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buf.is_empty() {
            return self.inner.read(out);
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.advance(n);
        Ok(n)
    }
}

/// The iterator of [`LineReader::lines`].
#[derive(Debug)]
pub struct Lines<'a, S> {
    reader: &'a mut LineReader<S>,
}

impl<S: Read> Iterator for Lines<'_, S> {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.readline() {
            Ok(line) if line.is_empty() => None,
            Ok(mut line) => {
                if line.ends_with(b"\n") {
                    line.truncate(line.len() - 1);
                    if line.ends_with(b"\r") {
                        line.truncate(line.len() - 1);
                    }
                }
                Some(Ok(line))
            }
            Err(e) => Some(Err(e)),
        }
    }
}
