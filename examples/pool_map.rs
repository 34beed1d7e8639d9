//! The course's `Pool(3)` mapping a task over ten inputs: never more than three at a time,
//! results in input order.
//!
//! ```sh
//! cargo run --example pool_map
//! ```

use std::time::{Duration, Instant};

fn task(n: u64) -> u64 {
    println!(
        "{:>6.0?}  task {n} starts on {}",
        START.with(|s| s.elapsed()),
        mayfly::getcurrent().name
    );
    mayfly::sleep(Duration::from_millis(100));
    n * n
}

thread_local! { static START: Instant = Instant::now(); }

fn main() {
    START.with(|_| ());
    let squares = mayfly::run(|| mayfly::pool::Pool::new(3).map(task, 0..10)).unwrap();
    println!("{squares:?}");
    assert_eq!(squares[9], 81);
}
