//! Greenlet costs against raw may in the same process: spawn+join, and a context switch
//! (two greenlets ping-ponging with yield). Measured inside a greenlet with `iter_custom`,
//! so no cross-thread wake-up is counted.
//!
//! ```sh
//! cargo bench --bench greenlets
//! ```

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

/// Runs `f(iters)` inside a greenlet and returns what it measured.
fn in_greenlet(iters: u64, f: fn(u64) -> Duration) -> Duration {
    mayfly::run(move || f(iters))
}

fn mayfly_spawn_join(iters: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        let g = mayfly::spawn(|| 1u64);
        g.join(None);
    }
    t.elapsed()
}

fn may_spawn_join(iters: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        // SAFETY: the coroutine body touches no thread-locals and runs on the one worker.
        let h = unsafe { may::coroutine::spawn(|| 1u64) };
        h.join().unwrap();
    }
    t.elapsed()
}

fn mayfly_switch(iters: u64) -> Duration {
    let other = mayfly::spawn(move || {
        for _ in 0..iters {
            mayfly::yield_now();
        }
    });
    mayfly::sleep(Duration::from_millis(1)); // let it start (same as the raw case)
    let t = Instant::now();
    for _ in 0..iters {
        mayfly::yield_now();
    }
    let d = t.elapsed();
    other.join(None);
    d / 2 // two switches per round
}

fn may_switch(iters: u64) -> Duration {
    // SAFETY: as above.
    let h = unsafe {
        may::coroutine::spawn(move || {
            for _ in 0..iters {
                may::coroutine::yield_now();
            }
        })
    };
    mayfly::sleep(Duration::from_millis(1)); // let it start
    let t = Instant::now();
    for _ in 0..iters {
        may::coroutine::yield_now();
    }
    let d = t.elapsed();
    h.join().unwrap();
    d / 2
}

fn bench(c: &mut Criterion) {
    mayfly::Config::new()
        .start()
        .expect("mayfly configures may first");
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("mayfly", |b| {
        b.iter_custom(|n| in_greenlet(n, mayfly_spawn_join))
    });
    g.bench_function("may_raw", |b| {
        b.iter_custom(|n| in_greenlet(n, may_spawn_join))
    });
    g.finish();
    let mut g = c.benchmark_group("switch");
    g.bench_function("mayfly_yield_now", |b| {
        b.iter_custom(|n| in_greenlet(n, mayfly_switch))
    });
    g.bench_function("may_raw_yield_now", |b| {
        b.iter_custom(|n| in_greenlet(n, may_switch))
    });
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
