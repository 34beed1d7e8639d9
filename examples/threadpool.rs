//! gevent's `examples/threadpool.py`, ported: four blocking sleeps on a pool of three OS
//! threads take two rounds, and the greenlets stay free meanwhile.
//!
//! gevent's script: `pool = ThreadPool(3)`, `pool.spawn(time.sleep, 1)` four times,
//! `gevent.wait()`, "takes 2 seconds". Here a round is 200 ms, and `mayfly::wait` waits on
//! the four jobs' `AsyncResult`s (a `ThreadPool::spawn` result is a `Waitable`). A ticker
//! greenlet runs all along: the blocking calls are on the pool's threads, not the worker.
//!
//! ```sh
//! cargo run --example threadpool
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::threadpool::ThreadPool;
use mayfly::{WaitOpts, Waitable};

const ROUND: Duration = Duration::from_millis(200);

pub fn main() {
    mayfly::run(|| {
        let pool = ThreadPool::new(3).unwrap();
        let ticks = Arc::new(AtomicU32::new(0));
        let t2 = ticks.clone();
        let ticker = mayfly::spawn(move || loop {
            mayfly::sleep(Duration::from_millis(20));
            t2.fetch_add(1, Ordering::Relaxed);
        });
        let start = Instant::now();
        let jobs: Vec<_> = (0..4)
            .map(|_| pool.spawn(|| std::thread::sleep(ROUND)))
            .collect();
        let objects: Vec<&dyn Waitable> = jobs.iter().map(|j| &**j as &dyn Waitable).collect();
        let ready = mayfly::wait(&objects, WaitOpts::default());
        let delay = start.elapsed();
        ticker.kill();
        println!(
            "Running {} jobs on 3 threads took {delay:.2?} (two rounds of {ROUND:?})",
            ready.len()
        );
        assert_eq!(ready.len(), 4);
        assert!(
            delay >= ROUND * 2 - Duration::from_millis(10),
            "{delay:?}: not two rounds"
        );
        assert!(delay < ROUND * 4, "{delay:?}: ran one after another");
        assert!(
            ticks.load(Ordering::Relaxed) >= 5,
            "the greenlets were blocked meanwhile"
        );
    });
}
