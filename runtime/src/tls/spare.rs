//! This thread's spare TLS record buffers. A [`TlsStream`](super::TlsStream) holds a buffer
//! only while bytes are in it (records arriving, records leaving); between requests it gives
//! the buffer back here, so an idle TLS connection holds none and the next connection to read
//! or write on this thread takes it without a trip to the allocator.
//!
//! One list per OS thread (a mayfly process runs its greenlets on one worker thread). The
//! `RefCell` is borrowed only inside [`take`] and [`give`], which never park, so two greenlets
//! never hold the borrow at once (a buffer taken may be held across parks; the borrow is not).

use std::cell::RefCell;

/// Buffers kept per thread. A greenlet parked in the middle of a record holds its own, so the
/// list runs dry only when more than this many connections are mid-record at once; then a
/// buffer is allocated, and given back (or freed) when its record is done.
const KEEP: usize = 16;

/// The largest buffer kept: a whole TLS 1.2 record (16 KiB of data, 2 KiB of expansion, the
/// 5-byte header) plus one read's margin. A larger one (a handshake message of up to 64 KiB
/// being joined) is freed when done.
pub(crate) const KEEP_MAX_LEN: usize = 16 * 1024 + 2048 + 5 + 4096;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer of this thread, or a new empty one. Its length is whatever it was given
/// back with (its bytes are stale, to be overwritten); the caller resizes it to what it needs.
pub(crate) fn take() -> Vec<u8> {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Gives `buf` back to this thread's list, or frees it (the list is full, the buffer is over
/// [`KEEP_MAX_LEN`], or the thread is ending).
pub(crate) fn give(buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > KEEP_MAX_LEN {
        return;
    }
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEEP {
            s.push(buf);
        }
    });
}

/// How many spare buffers this thread holds (tests).
#[cfg(test)]
pub(crate) fn count() -> usize {
    SPARE.with(|s| s.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_oversized_ones_are_freed() {
        std::thread::spawn(|| {
            assert_eq!(take().capacity(), 0, "a new thread has no spare buffer");
            let mut b = vec![7u8; 4096];
            let ptr = b.as_mut_ptr();
            give(b);
            let again = take();
            assert_eq!(
                again.as_ptr(),
                ptr as *const u8,
                "the same buffer comes back"
            );
            assert_eq!(again.len(), 4096, "with its length");
            give(vec![0u8; KEEP_MAX_LEN + 1]);
            assert_eq!(take().capacity(), 0, "an oversized buffer is not kept");
            for _ in 0..KEEP + 5 {
                give(vec![0u8; 16]);
            }
            let kept = (0..KEEP + 5).filter(|_| take().capacity() > 0).count();
            assert_eq!(kept, KEEP, "at most KEEP buffers are kept");
        })
        .join()
        .unwrap();
    }
}
