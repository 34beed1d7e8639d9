//! The course's road to gevent, in Rust: the same work done three ways.
//!
//! Two tasks, A and B, each do three steps and let the other run between steps. Every way
//! prints `A1 B1 A2 B2 A3 B3`; what changes is *who decides* when to switch.
//!
//! 1. **Generators switched by hand** (Python's `yield` + `next()`): each task is a
//!    `generator` (the stackful generator crate `may` is built on) that yields after each
//!    step; `main` resumes them in turn. Nothing runs unless `main` resumes it.
//! 2. **Greenlets that switch explicitly** (the `greenlet` module's `gr.switch()`): each task
//!    hands control to the other by name. `may` has no "switch to that coroutine" call — its
//!    scheduler picks who runs — so the switch is a hand-over through two rendezvous
//!    [`Channel`](mayfly::queue::Channel)s: "wake B, then wait until someone wakes me".
//! 3. **gevent's spawn/join**: each task just says "let others run" (`gevent.sleep(0)`, here
//!    [`mayfly::yield_now`]); the hub decides who runs next, round-robin, and `joinall`
//!    waits for both. No task names the other — that is what gevent adds.
//!
//! Run it: `cargo run -p mayfly --example road_to_gevent`.

use std::sync::{Arc, Mutex};

use generator::Gn;
use mayfly::queue::Channel;

type Log = Arc<Mutex<Vec<String>>>;

fn step(log: &Log, task: &str, n: u32) {
    log.lock().unwrap().push(format!("{task}{n}"));
}

/// 1. Two generators, resumed by hand.
fn generators() -> Vec<String> {
    let log = Log::default();
    let task = |name: &'static str, log: Log| {
        Gn::<()>::new_scoped(move |mut s| {
            for n in 1..=3 {
                step(&log, name, n);
                s.yield_(()); // back to whoever resumed us (main)
            }
            generator::done!();
        })
    };
    let mut a = task("A", log.clone());
    let mut b = task("B", log.clone());
    // main is the scheduler: resume A, then B, until both are done.
    while !(a.is_done() && b.is_done()) {
        a.resume();
        b.resume();
    }
    let out = log.lock().unwrap().clone();
    out
}

/// 2. Two greenlets that hand control to each other explicitly.
fn explicit_switch() -> Vec<String> {
    let log = Log::default();
    let l = log.clone();
    mayfly::run(move || {
        // A "switch target" per greenlet: putting into it wakes that greenlet.
        let (to_a, to_b) = (Arc::new(Channel::new()), Arc::new(Channel::new()));
        // switch(): wake the other, then sleep until someone switches back to me.
        fn switch(to_other: &Channel<()>, to_me: &Channel<()>) {
            to_other.put(());
            to_me.get();
        }
        let a = {
            let (to_a, to_b, log) = (to_a.clone(), to_b.clone(), l.clone());
            mayfly::spawn(move || {
                to_a.get(); // wait for the first switch from main
                for n in 1..=3 {
                    step(&log, "A", n);
                    if n < 3 {
                        switch(&to_b, &to_a);
                    } else {
                        to_b.put(()); // last step: hand over for good
                    }
                }
            })
        };
        let b = {
            let (to_a, to_b, log) = (to_a.clone(), to_b.clone(), l.clone());
            mayfly::spawn(move || {
                to_b.get();
                for n in 1..=3 {
                    step(&log, "B", n);
                    if n < 3 {
                        switch(&to_a, &to_b);
                    }
                }
            })
        };
        to_a.put(()); // main: gr1.switch()
        a.join(None);
        b.join(None);
    });
    let out = log.lock().unwrap().clone();
    out
}

/// 3. gevent: spawn both, let the hub switch, join.
fn spawn_join() -> Vec<String> {
    let log = Log::default();
    let l = log.clone();
    mayfly::run(move || {
        let task = |name: &'static str| {
            let log = l.clone();
            mayfly::spawn(move || {
                for n in 1..=3 {
                    step(&log, name, n);
                    mayfly::yield_now(); // gevent.sleep(0): let the others run
                }
            })
        };
        let both = [task("A"), task("B")];
        mayfly::joinall(&both, Default::default()).unwrap();
    });
    let out = log.lock().unwrap().clone();
    out
}

fn main() {
    let expected = ["A1", "B1", "A2", "B2", "A3", "B3"];
    for (how, out) in [
        ("1. generators, resumed by hand", generators()),
        ("2. greenlets, explicit switch", explicit_switch()),
        ("3. gevent spawn/join        ", spawn_join()),
    ] {
        println!("{how}: {}", out.join(" "));
        assert_eq!(out, expected, "{how}");
    }
    println!(
        "\nSame output, three ways. (1) main decides every switch; (2) each task decides, \
         naming the other; (3) each task only says \"let others run\" and the hub decides — \
         gevent's model, and mayfly's."
    );
}
