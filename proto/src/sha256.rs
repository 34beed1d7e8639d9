//! The protocol's integrity hash, sha256, as both ends compute it: [`HashSink`] to feed a
//! hash from `io::copy`, and [`HashPipeline`], which hashes chunk N on mayfly's thread pool
//! while the caller receives and writes chunk N+1, so a transfer costs max(hash, I/O) per
//! chunk, not the sum. On the wire a sha256 is 64 hex digits ([`is_hex`]).

use std::io;
use std::sync::Arc;

use mayfly::event::AsyncResult;
use sha2::{Digest, Sha256};

/// Chunks at least this long are hashed on the thread pool; shorter ones in place, where a
/// hop to another thread would cost more than the hash.
pub const PIPELINE_MIN: usize = 64 * 1024;

type Hashed = (Sha256, Vec<u8>);

/// True if `s` looks like a sha256 in hex (64 hex digits, any case).
///
/// ```
/// assert!(mayfly_proto::sha256::is_hex(&"aB".repeat(32)));
/// assert!(!mayfly_proto::sha256::is_hex("abc"));
/// ```
pub fn is_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `io::Write` into a running sha256, for `io::copy` from a file or a `take`.
///
/// ```
/// use sha2::{Digest, Sha256};
/// let mut h = Sha256::new();
/// std::io::copy(&mut &b"abc"[..], &mut mayfly_proto::sha256::HashSink(&mut h)).unwrap();
/// assert_eq!(h.finalize(), Sha256::digest(b"abc"));
/// ```
#[derive(Debug)]
pub struct HashSink<'a>(pub &'a mut Sha256);

impl io::Write for HashSink<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A running sha256 fed with owned buffers, one chunk in flight at a time.
///
/// The hash state is only ever in one place (here, or inside the one pending job), so the
/// chunks are hashed in the order they were fed. Works from a greenlet (the wait parks only
/// that greenlet) and from a plain thread.
///
/// ```
/// use mayfly_proto::sha256::HashPipeline;
/// use sha2::{Digest, Sha256};
///
/// let data = vec![7u8; 300_000];
/// let mut p = HashPipeline::new(Sha256::new());
/// let mut buf = vec![0u8; 100_000];
/// for chunk in data.chunks(100_000) {
///     buf[..chunk.len()].copy_from_slice(chunk);
///     buf = p.feed(buf, chunk.len()).unwrap(); // a free buffer for the next chunk
/// }
/// assert_eq!(p.finish().unwrap().finalize(), Sha256::digest(&data));
/// ```
pub struct HashPipeline {
    idle: Option<Sha256>,
    pending: Option<Arc<AsyncResult<Hashed>>>,
}

impl std::fmt::Debug for HashPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPipeline")
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

impl HashPipeline {
    /// Continues from `hasher` (a fresh one, or one that already saw a prefix).
    pub fn new(hasher: Sha256) -> Self {
        HashPipeline {
            idle: Some(hasher),
            pending: None,
        }
    }

    /// Hashes `buf[..n]` after everything fed before; returns a buffer of the same length to
    /// fill next (this one if it was hashed in place, else the previous chunk's).
    ///
    /// # Errors
    ///
    /// The previous chunk's job on the thread pool failed (its thread panicked).
    pub fn feed(&mut self, buf: Vec<u8>, n: usize) -> io::Result<Vec<u8>> {
        let (mut hasher, spare) = self.settle()?;
        if n < PIPELINE_MIN {
            hasher.update(&buf[..n]);
            self.idle = Some(hasher);
            return Ok(buf);
        }
        let spare = spare.unwrap_or_else(|| vec![0u8; buf.len()]);
        self.pending = Some(mayfly::threadpool::spawn(move || {
            hasher.update(&buf[..n]);
            (hasher, buf)
        }));
        Ok(spare)
    }

    /// Waits for the last chunk and returns the hash state.
    ///
    /// # Errors
    ///
    /// As [`feed`](HashPipeline::feed).
    pub fn finish(mut self) -> io::Result<Sha256> {
        Ok(self.settle()?.0)
    }

    fn settle(&mut self) -> io::Result<(Sha256, Option<Vec<u8>>)> {
        match self.pending.take() {
            Some(job) => {
                let (h, buf) = job
                    .take(None)
                    .map_err(|e| io::Error::other(format!("hashing: {e}")))?;
                Ok((h, Some(buf)))
            }
            None => Ok((self.idle.take().expect("hash state present"), None)),
        }
    }
}
