//! The course's producer/consumer: a cook makes baozi into a queue of 3, two eaters take them,
//! and `None` tells each eater the cook is done.
//!
//! ```sh
//! cargo run --example baozi
//! ```

use std::sync::Arc;
use std::time::Duration;

use mayfly::queue::Queue;

fn main() {
    mayfly::run(|| {
        let q: Arc<Queue<Option<u32>>> = Arc::new(Queue::bounded(3));
        let eaters: Vec<_> = ["alex", "egon"]
            .into_iter()
            .map(|name| {
                let q = q.clone();
                mayfly::spawn(move || {
                    let mut eaten = 0;
                    while let Some(n) = q.get() {
                        println!("{name} eats baozi {n}");
                        mayfly::sleep(Duration::from_millis(30));
                        eaten += 1;
                    }
                    eaten
                })
            })
            .collect();
        for n in 0..10 {
            q.put(Some(n)); // parks while 3 are waiting to be eaten
            println!("cook made baozi {n} ({} waiting)", q.qsize());
        }
        for _ in &eaters {
            q.put(None);
        }
        let total: u32 = eaters.iter().map(|e| e.get().unwrap()).sum();
        println!("eaten: {total}");
        assert_eq!(total, 10);
    });
}
