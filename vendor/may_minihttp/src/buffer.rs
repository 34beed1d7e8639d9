//! The read buffer of one connection: initialised bytes (no reads into uninitialised
//! memory, as the published crate did), read into at `end`, consumed from `start`, grown up
//! to the head limit only while a head does not fit.

use std::io::{self, Read};

/// The size a connection's read buffer starts at: room for a typical request head (wrk's and
/// curl's are under 100 bytes, a browser's with cookies 0.5–2 KiB) and a batch of small
/// pipelined ones. A longer head doubles it, up to the head limit. Kept small because every
/// idle keep-alive connection holds one (it was 4 KiB: a third of an idle connection's RSS).
pub(crate) const INITIAL: usize = 1024;

pub(crate) struct InBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl InBuf {
    /// A buffer that grows to at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(1);
        InBuf {
            data: vec![0; INITIAL.min(max)],
            start: 0,
            end: 0,
            max,
        }
    }

    /// The buffer's size now.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.data.len()
    }

    /// The bytes read and not consumed.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` pending bytes consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room at the end: moves pending bytes to the front, grows up to the limit.
    /// Returns false if the pending bytes already fill `max` (a head too large).
    fn make_room(&mut self) -> bool {
        if self.end < self.data.len() {
            return true;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return true;
        }
        if self.data.len() < self.max {
            let len = (self.data.len() * 2).min(self.max);
            self.data.resize(len, 0);
            return true;
        }
        false
    }

    /// One read from `stream` into the free room. `Ok(None)`: no room (the pending bytes
    /// fill the limit); `Ok(Some(0))`: end of stream.
    pub(crate) fn read_from(
        &mut self,
        stream: &mut (impl Read + ?Sized),
    ) -> io::Result<Option<usize>> {
        if !self.make_room() {
            return Ok(None);
        }
        let n = stream.read(&mut self.data[self.end..])?;
        self.end += n.min(self.data.len() - self.end);
        Ok(Some(n))
    }
}
