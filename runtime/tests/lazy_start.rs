//! Creating primitives does not start the runtime: a program may build its queues, locks and
//! pools first and configure the runtime afterwards. (Its own test binary: the runtime is
//! configured once per process.)

use std::sync::Arc;
use std::time::Duration;

#[test]
fn primitives_made_before_config_start_leave_the_configuration_open() {
    // Every constructor of a primitive, before the runtime is configured.
    let sem = mayfly::lock::Semaphore::new(2);
    let bounded = mayfly::lock::BoundedSemaphore::new(1);
    let lock = mayfly::lock::Lock::new();
    let rlock = mayfly::lock::RLock::new();
    let queue = mayfly::queue::Queue::<u32>::bounded(4);
    let unbounded = mayfly::queue::Queue::<u32>::unbounded();
    let lifo = mayfly::queue::LifoQueue::<u32>::unbounded();
    let prio = mayfly::queue::PriorityQueue::<u32>::bounded(2);
    let channel = Arc::new(mayfly::queue::Channel::<u32>::new());
    let event = Arc::new(mayfly::event::Event::new());
    let result = Arc::new(mayfly::event::AsyncResult::<u32>::new());
    let group = mayfly::pool::Group::new();
    let pool = mayfly::pool::Pool::new(3);
    let threads = mayfly::threadpool::ThreadPool::new(1).unwrap();
    let unstarted = mayfly::Greenlet::new(|| 8);
    let _link = unstarted.link(|_| ());
    // Non-blocking use does not start it either.
    assert!(sem.try_acquire().is_some());
    queue.put_nowait(1).unwrap();
    assert_eq!(queue.get_nowait(), Ok(1));
    assert!(!event.is_set());

    // A non-default configuration still applies.
    let stack = 256 * 1024;
    mayfly::Config::new()
        .stack_size(stack)
        .start()
        .expect("no primitive constructor may start the runtime");
    assert_eq!(mayfly::Config::current().stack_size, stack);

    // And the primitives made before work with the runtime started after.
    let (c2, e2, r2) = (channel.clone(), event.clone(), result.clone());
    let got = mayfly::run(move || {
        let g = mayfly::spawn(move || {
            e2.wait(None);
            r2.set(c2.get());
        });
        event.set();
        channel.put(7); // returns once g took it
        let _a = bounded.acquire();
        let _b = lock.acquire();
        let _c = rlock.acquire();
        unbounded.put(1);
        lifo.put(2);
        prio.put(3);
        let member = group.spawn(|| 4);
        let pooled = pool.spawn(|| 5);
        assert!(group.join(Some(Duration::from_secs(5))));
        assert_eq!((member.get(), pooled.get()), (Ok(4), Ok(5)));
        assert_eq!(threads.apply(|| 6), Ok(6));
        unstarted.start().unwrap();
        assert_eq!(unstarted.get(), Ok(8));
        g.join(None);
        result.get(None)
    });
    assert_eq!(got, Ok(7));
}
