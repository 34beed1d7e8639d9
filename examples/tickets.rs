//! The course's ticket office: ten buyers check the stock, think, and buy. Without the lock
//! they all see "1 left" and oversell; with it exactly one buys.
//!
//! This refines the notes' "coroutines need no lock": greenlets on one thread never run at
//! the same instant, so a read-then-write with no switch between is safe without a lock. But
//! any call that parks (here the buyer's `sleep` while it thinks; in real code a socket read,
//! a queue, a database call) lets the others run between the check and the buy, and then
//! the lock is needed exactly as with threads.
//!
//! ```sh
//! cargo run --example tickets
//! ```

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mayfly::lock::Lock;

fn sell(locked: bool) -> i32 {
    mayfly::run(move || {
        let stock = Arc::new(AtomicI32::new(1));
        let lock = Arc::new(Lock::new());
        let buyers: Vec<_> = (0..10)
            .map(|i| {
                let (stock, lock) = (stock.clone(), lock.clone());
                mayfly::spawn(move || {
                    let _held = locked.then(|| lock.acquire());
                    if stock.load(Ordering::SeqCst) > 0 {
                        mayfly::sleep(Duration::from_millis(10)); // talking to the "database"
                        stock.fetch_sub(1, Ordering::SeqCst);
                        println!("  buyer {i} got a ticket");
                    }
                })
            })
            .collect();
        mayfly::joinall(&buyers, Default::default()).unwrap();
        stock.load(Ordering::SeqCst)
    })
}

fn main() {
    println!("without a lock:");
    let left = sell(false);
    println!("tickets left: {left} (oversold by {})", -left);
    println!("with a lock:");
    let left = sell(true);
    println!("tickets left: {left}");
    assert_eq!(left, 0);
}
