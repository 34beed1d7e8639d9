//! Giving a greenlet's dead stack back to the OS: [`release_unused`].
//!
//! A greenlet's stack is memory mapped once; a page it touched stays resident for as long as
//! the stack lives (and may pools finished stacks), even after the frames that touched it
//! returned. A connection that went deep once — a TLS handshake (about 18 KiB of frames in an
//! optimised build), a large parse — and then waits for its client keeps those pages for the
//! life of the connection. [`release_unused`] hands back every page wholly below the caller's
//! frame; [`StreamServer`](crate::server::StreamServer) calls it for a connection whose read
//! or write has been parked for [`IDLE_STACK_RELEASE`] (see
//! [`StreamServer::release_idle_stack`](crate::server::StreamServer::release_idle_stack)).
//!
//! # Soundness
//! The released range is `[bottom, floor_to_page(sp - HEADROOM))`, where `bottom` is the
//! lowest usable address of the running greenlet's stack (generator's [`stack_range`](generator::stack_range),
//! just above its guard page) and `sp` the address of a local of [`release_unused`] itself:
//! - Nothing below a function's frame is live by the ABI. The only exceptions are the x86-64
//!   red zone (128 bytes a *leaf* function may use below its stack pointer) and the frames of
//!   the functions this one calls (the `madvise` wrapper: its return address; the system call
//!   runs on the kernel's stack). The 512 bytes of headroom cover both; a signal handler that runs
//!   meanwhile pushes its frame below the stack pointer and simply faults the pages back in.
//! - `MADV_DONTNEED` on the private anonymous mapping a stack is gives back the pages'
//!   memory; the next touch maps a zero-filled page. Dead stack is only ever written before it
//!   is read (a function's frame is its own from its prologue on; stack probes only touch).
//! - Frames above the caller's (every live one) and the closures generator keeps at the
//!   stack's high end are above `sp` and never in the range.
//! - A stack whose size was requested odd tracks its usage with a sentinel in every unused
//!   word; zeroing it would read as an overflow when the greenlet ends, so `stack_range` is
//!   `None` for it and nothing is released. Off a greenlet (a thread's own stack) it is
//!   `None` too.
//!
//! `runtime/tests/stack_release.rs` backs this: a greenlet that went 48 KiB deep, released,
//! has at most two resident pages left and goes as deep again with its values intact.

use std::time::Duration;

/// How long a [`StreamServer`](crate::server::StreamServer) connection's read or write stays
/// parked before its dead stack is handed back ([`release_unused`]): 1 s. A busy connection
/// never waits this long between requests, so it never pays for faulting the pages back in.
pub const IDLE_STACK_RELEASE: Duration = Duration::from_secs(1);

/// Hands the pages of the running greenlet's stack that lie wholly below the caller's frame
/// back to the OS, and returns how many bytes of address range that covered (resident or
/// not). Off a greenlet, and on a stack that tracks its usage, it does nothing and returns 0.
/// The greenlet's stack stays as large as it was: the pages come back, zeroed, when touched.
///
/// ```
/// mayfly::run(|| {
///     fn deep(n: usize) -> u8 {
///         let buf = std::hint::black_box([n as u8; 4096]);
///         if n == 0 { buf[0] } else { deep(n - 1).wrapping_add(buf[1]) }
///     }
///     deep(8); // 32 KiB of frames, resident from now on
///     assert!(mayfly::stack::release_unused() > 0);
///     deep(8); // as deep again: the pages come back as they are touched
/// });
/// assert_eq!(mayfly::stack::release_unused(), 0); // not on a greenlet
/// ```
#[inline(never)]
pub fn release_unused() -> usize {
    let Some(stack) = generator::stack_range() else {
        return 0;
    };
    let page = page_size();
    let here = 0u8;
    let sp = std::hint::black_box(&here) as *const u8 as usize;
    let lo = stack.start.next_multiple_of(page);
    let hi = sp.saturating_sub(HEADROOM) & !(page - 1);
    if !stack.contains(&sp) || hi <= lo {
        return 0;
    }
    // SAFETY: `lo..hi` is page-aligned and lies inside the running greenlet's own stack
    // mapping, wholly below this function's frame with HEADROOM bytes to spare: no live frame,
    // red zone or callee frame is in it, and the stack does not track its usage (see the
    // module docs' soundness argument). MADV_DONTNEED on that private anonymous memory only
    // drops its pages; later touches map zeroed ones.
    let r = unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
    if r != 0 {
        return 0;
    }
    hi - lo
}

/// Bytes kept below the caller's frame: more than the x86-64 red zone (128) and the frame of
/// the `madvise` wrapper (its return address) together.
const HEADROOM: usize = 512;

fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the system; no memory is passed.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
    })
}
