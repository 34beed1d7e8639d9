//! The `Date` header value, formatted once a second per thread.
//!
//! The published crate kept one date in an `UnsafeCell` that a coroutine rewrote every 500 ms
//! while other threads read it (a data race); here each thread keeps its own copy and
//! reformats it when the second changes.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `"Sun, 06 Nov 1994 08:49:37 GMT".len()`
const DATE_LEN: usize = 29;

thread_local! {
    static CACHED: RefCell<(u64, [u8; DATE_LEN])> = const { RefCell::new((u64::MAX, [b' '; DATE_LEN])) };
}

/// Appends the current date (IMF-fixdate) to `dst`.
pub(crate) fn append_date(dst: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let s = httpdate::fmt_http_date(now);
            let b = s.as_bytes();
            if b.len() == DATE_LEN {
                c.1.copy_from_slice(b);
            }
            c.0 = secs;
        }
        dst.extend_from_slice(&c.1);
    });
}
