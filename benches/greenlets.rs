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
    // The other greenlet says it runs, and only then does the timed loop start: both are
    // then on the worker's run queue and every yield switches to the other one.
    let started = std::sync::Arc::new(mayfly::event::Event::new());
    let s2 = started.clone();
    let other = mayfly::spawn(move || {
        s2.set();
        for _ in 0..iters {
            mayfly::yield_now();
        }
    });
    started.wait(None);
    let t = Instant::now();
    for _ in 0..iters {
        mayfly::yield_now();
    }
    let d = t.elapsed();
    other.join(None);
    d / 2 // two switches per round
}

fn may_switch(iters: u64) -> Duration {
    // As above, with may's own channel: a plain sleep here would let the new coroutine run
    // all its yields alone (may keeps a yielder on the worker's local queue, and a woken
    // sleeper waits on the global one), so the loop measured yields to itself.
    let (tx, rx) = may::sync::mpsc::channel::<()>();
    // SAFETY: as above.
    let h = unsafe {
        may::coroutine::spawn(move || {
            let _ = tx.send(());
            for _ in 0..iters {
                may::coroutine::yield_now();
            }
        })
    };
    rx.recv().unwrap();
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
