//! The course's synchronous-vs-asynchronous demo: ten tasks that each wait 0.5 s take 5 s
//! one after another, and 0.5 s as greenlets joined with `joinall`.
//!
//! ```sh
//! cargo run --example sync_vs_async
//! ```

use std::time::{Duration, Instant};

fn task(pid: u32) {
    mayfly::sleep(Duration::from_millis(500));
    println!("task {pid} done");
}

fn main() {
    mayfly::run(|| {
        let t = Instant::now();
        for i in 0..10 {
            task(i);
        }
        let sync = t.elapsed();

        let t = Instant::now();
        let gs: Vec<_> = (0..10).map(|i| mayfly::spawn(move || task(i))).collect();
        mayfly::joinall(&gs, mayfly::JoinAll::default()).expect("no task fails");
        let asynchronous = t.elapsed();

        println!("synchronous: {sync:.2?}, asynchronous: {asynchronous:.2?}");
        assert!(asynchronous * 5 < sync);
    });
}
