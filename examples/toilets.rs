//! The course's semaphore: 13 people, 5 toilets. At most five are ever inside.
//!
//! ```sh
//! cargo run --example toilets
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mayfly::lock::Semaphore;

fn main() {
    mayfly::run(|| {
        let toilets = Arc::new(Semaphore::new(5));
        let inside = Arc::new(AtomicUsize::new(0));
        let people: Vec<_> = (0..13u64)
            .map(|i| {
                let (t, inside) = (toilets.clone(), inside.clone());
                mayfly::spawn(move || {
                    let _door = t.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    println!("person {i:2} goes in ({now} inside)");
                    assert!(now <= 5);
                    mayfly::sleep(Duration::from_millis(20 + i * 7 % 30));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    println!("person {i:2} comes out");
                })
            })
            .collect();
        mayfly::joinall(&people, Default::default()).unwrap();
    });
}
