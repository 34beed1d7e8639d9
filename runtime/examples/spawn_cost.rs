//! What one spawn+join costs in allocations, mayfly's `spawn` + `join` against raw may's
//! `go!` + `join` in the same program: a counting global allocator around the system one
//! counts the calls (and bytes) of `N` rounds after a warm-up, inside a greenlet on the
//! worker, so nothing crosses a thread.
//!
//! ```text
//! cargo run -p mayfly --release --example spawn_cost                 # both, 100,000 rounds
//! cargo run -p mayfly --release --example spawn_cost -- mayfly 1000  # one side, N rounds
//! cargo run -p mayfly --release --example spawn_cost -- mayfly 1 trace
//! cargo run -p mayfly --release --example spawn_cost -- may 100000 time
//! ```
//!
//! Counting costs two locked instructions an allocation, which flatters the side that
//! allocates less (mayfly: 4 a round against raw may's 8); `time` turns the counter off, for
//! wall-clock times only.
//!
//! `trace` prints, for each allocation of the measured rounds, its size and the first frames
//! of mayfly, may or generator that made it. Instructions per round are load-insensitive
//! under valgrind: `benches/spawn_cost.sh` runs this twice per side with different `N` and
//! divides the difference of `I refs` by the difference of rounds (start-up cancels out).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

static CALLS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);
/// Off with `time`: the allocator then only passes calls on.
static COUNT: AtomicBool = AtomicBool::new(true);

thread_local! {
    /// Set while the tracer itself allocates (its backtrace), so it is not traced.
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, counting every `alloc` and `realloc`.
struct Counting;

// SAFETY: every call is passed on to `System` unchanged; the counters and the tracer only
// read the layout, and the tracer's own allocations go to `System` untraced (IN_TRACE).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (every path here allocates there).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as `dealloc`, and the caller's new size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn note(size: usize) {
    if !COUNT.load(Ordering::Relaxed) {
        return;
    }
    CALLS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    if TRACE.load(Ordering::Relaxed) && !IN_TRACE.with(|t| t.replace(true)) {
        let bt = std::backtrace::Backtrace::force_capture().to_string();
        let frames: Vec<&str> = bt
            .lines()
            .map(str::trim)
            .filter(|l| {
                !l.starts_with("at ")
                    && ["mayfly::", "may::", "generator::", "spawn_cost::"]
                        .iter()
                        .any(|k| l.contains(k))
                    && !l.contains("spawn_cost::note")
                    && !l.contains("spawn_cost::Counting")
            })
            .take(3)
            .collect();
        println!("  alloc {size:>5} B  {}", frames.join("  <  "));
        IN_TRACE.with(|t| t.set(false));
    }
}

fn mayfly_round() {
    let g = mayfly::spawn(|| 1u64);
    g.join(None);
}

fn may_round() {
    // SAFETY: the body touches no thread-local and runs on the one worker.
    let h = unsafe { may::coroutine::spawn(|| 1u64) };
    h.join().unwrap();
}

/// Runs `round` `n` times after a warm-up; prints allocations per round.
fn measure(label: &str, n: u64, trace: bool, round: fn()) {
    for _ in 0..1000 {
        round();
    }
    let (c0, b0) = (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    TRACE.store(trace, Ordering::Relaxed);
    let t = Instant::now();
    for _ in 0..n {
        round();
    }
    let took = t.elapsed();
    TRACE.store(false, Ordering::Relaxed);
    let calls = CALLS.load(Ordering::Relaxed) - c0;
    let bytes = BYTES.load(Ordering::Relaxed) - b0;
    let each = took.as_nanos() as f64 / n as f64;
    if COUNT.load(Ordering::Relaxed) {
        println!(
            "{label:>6}: {n} rounds, {:.2} allocations and {:.0} bytes per spawn+join, {each:.0} ns each (wall clock, load-sensitive)",
            calls as f64 / n as f64,
            bytes as f64 / n as f64,
        );
    } else {
        println!("{label:>6}: {n} rounds, {each:.0} ns each (wall clock, load-sensitive; allocations not counted)");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("both", String::as_str).to_string();
    let n: u64 = args
        .get(1)
        .map_or(100_000, |s| s.parse().expect("N rounds"));
    let trace = args.get(2).is_some_and(|s| s == "trace");
    if args.get(2).is_some_and(|s| s == "time") {
        COUNT.store(false, Ordering::Relaxed);
    }
    mayfly::run(move || {
        if which == "mayfly" || which == "both" {
            measure("mayfly", n, trace, mayfly_round);
        }
        if which == "may" || which == "both" {
            measure("may", n, trace, may_round);
        }
    });
}
