//! Cache prefetch hints for the scheduler (mayfly's patch: see PATCHED.md, "Prefetching the
//! next coroutine"). A hint never faults and changes nothing but timing.

/// Cache lines of a suspended stack loaded before its resume, from the saved stack pointer
/// up: the saved registers and the frames of the usual park path (a socket read in a
/// server's handler is about 600 bytes deep below its buffer; 12 lines is 768 bytes).
pub(crate) const FRAME_LINES: usize = 12;

/// Asks the CPU to load the line at `p`.
#[inline]
pub(crate) fn data(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing architecturally, whatever `p` is.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
