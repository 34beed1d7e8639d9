//! Synchronisation costs, to set beside gevent's published figures (CPython: a Queue round
//! trip ~3.5 µs, a `sleep(0)` switch ~1 µs). Measured inside greenlets with `iter_custom`.
//!
//! ```sh
//! cargo bench --bench sync
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mayfly::event::Event;
use mayfly::lock::Semaphore;
use mayfly::pool::Pool;
use mayfly::queue::Queue;

/// `iters` round trips: A puts into `ping`, B gets it and puts into `pong`, A gets it.
fn queue_round_trip(iters: u64) -> Duration {
    mayfly::run(move || {
        let (ping, pong) = (Arc::new(Queue::unbounded()), Arc::new(Queue::unbounded()));
        let (p2, q2) = (ping.clone(), pong.clone());
        let echo = mayfly::spawn(move || {
            for _ in 0..iters {
                let v: u64 = p2.get();
                q2.put(v);
            }
        });
        let t = Instant::now();
        for i in 0..iters {
            ping.put(i);
            pong.get();
        }
        let d = t.elapsed();
        echo.join(None);
        d
    })
}

/// `iters` wake-ups: A sets `go`, B wakes, clears it and sets `back`; A wakes.
fn event_wake(iters: u64) -> Duration {
    mayfly::run(move || {
        let (go, back) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let (g2, b2) = (go.clone(), back.clone());
        let other = mayfly::spawn(move || {
            for _ in 0..iters {
                g2.wait(None);
                g2.clear();
                b2.set();
            }
        });
        mayfly::sleep(Duration::from_millis(1));
        let t = Instant::now();
        for _ in 0..iters {
            go.set();
            back.wait(None);
            back.clear();
        }
        let d = t.elapsed();
        other.join(None);
        d / 2 // two wake-ups per round
    })
}

fn semaphore(iters: u64) -> Duration {
    mayfly::run(move || {
        let s = Semaphore::new(1);
        let t = Instant::now();
        for _ in 0..iters {
            drop(std::hint::black_box(s.acquire()));
        }
        t.elapsed()
    })
}

/// Per item of `Pool(100).map` over 10,000 items.
fn pool_map(iters: u64) -> Duration {
    mayfly::run(move || {
        let pool = Pool::new(100);
        let t = Instant::now();
        for _ in 0..iters {
            let out = pool.map(|x: u64| x + 1, 0..10_000).unwrap();
            std::hint::black_box(out);
        }
        t.elapsed() / 10_000
    })
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync");
    g.bench_function("queue_round_trip", |b| b.iter_custom(queue_round_trip));
    g.bench_function("event_wake", |b| b.iter_custom(event_wake));
    g.bench_function("semaphore_acquire_release", |b| b.iter_custom(semaphore));
    g.bench_function("pool_map_per_item_10k", |b| b.iter_custom(pool_map));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
