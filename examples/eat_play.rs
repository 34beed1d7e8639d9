//! The course's first gevent program: `eat` and `play` each sleep; spawned as greenlets they
//! run concurrently, so the total time is the longest task, not the sum.
//!
//! ```sh
//! cargo run --example eat_play
//! ```

use std::time::{Duration, Instant};

fn eat(name: &str) -> &'static str {
    println!("{name} eat 1");
    mayfly::sleep(Duration::from_secs(2));
    println!("{name} eat 2");
    "eat done"
}

fn play(name: &str) -> &'static str {
    println!("{name} play 1");
    mayfly::sleep(Duration::from_secs(1));
    println!("{name} play 2");
    "play done"
}

fn main() {
    mayfly::run(|| {
        let start = Instant::now();
        let g1 = mayfly::spawn(|| eat("egon"));
        let g2 = mayfly::spawn(|| play("egon"));
        g1.join(None);
        g2.join(None);
        println!("{:?} {:?}", g1.value(), g2.value());
        let took = start.elapsed();
        println!("main: {took:.2?} (2 s + 1 s of sleeping, run concurrently)");
        assert!(took < Duration::from_millis(2900));
    });
}
