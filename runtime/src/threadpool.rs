//! A small pool of OS threads for calls that would block the worker (gevent's `ThreadPool`):
//! file I/O, DNS, subprocesses, CPU-heavy work. The calling greenlet parks until the result
//! (or the panic) comes back; every other greenlet keeps running meanwhile.
//!
//! ```
//! use std::time::Duration;
//! let pool = mayfly::threadpool::ThreadPool::new(2).unwrap();
//! let len = mayfly::run(move || {
//!     // std::fs would block the one worker thread; on the pool it parks only this greenlet.
//!     pool.apply(|| std::fs::read_to_string("/proc/self/status").map(|s| s.len()))
//! });
//! assert!(len.unwrap().unwrap() > 0);
//! ```

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use crate::event::{AsyncError, AsyncResult};
use crate::poison::MutexExt;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of OS threads running submitted functions in order of submission.
#[derive(Debug)]
pub struct ThreadPool {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Vec<JoinHandle<()>>,
}

/// Threads of the pool behind [`apply`].
pub const DEFAULT_THREADS: usize = 4;

impl ThreadPool {
    /// Starts `threads` OS threads (at least 1), named `mayfly-pool-<i>`.
    ///
    /// # Errors
    /// When an OS thread cannot be started.
    pub fn new(threads: usize) -> io::Result<ThreadPool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("mayfly-pool-{i}"))
                    .spawn(move || {
                        crate::idle::own_thread();
                        loop {
                            let job = rx.lock_unpoisoned().recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => return, // pool dropped
                            }
                        }
                    })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ThreadPool {
            tx: Mutex::new(Some(tx)),
            threads,
        })
    }

    /// Threads in the pool.
    pub fn size(&self) -> usize {
        self.threads.len()
    }

    /// Queues `f` and returns at once; the result (or the panic's message) arrives in the
    /// returned [`AsyncResult`].
    pub fn spawn<F, T>(&self, f: F) -> Arc<AsyncResult<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let result = Arc::new(AsyncResult::new());
        let r = result.clone();
        let job: Job = Box::new(move || {
            match panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(v) => r.set(v),
                Err(p) => r.set_exception(format!(
                    "the pool thread panicked: {}",
                    crate::context::panic_message(&*p)
                )),
            }
            // After the result is set: a LoopExit check that sees no job sees the result.
            crate::idle::job_done();
        });
        crate::idle::job_queued();
        let sent = self.tx.lock_unpoisoned().as_ref().map(|tx| tx.send(job));
        if !matches!(sent, Some(Ok(()))) {
            // The job was dropped unrun (or is dropped with the channel): count it done.
            crate::idle::job_done();
            result.set_exception("the thread pool is shut down");
        }
        result
    }

    /// Runs `f` on the pool and waits for it, parking only the calling greenlet. A panic in
    /// `f` comes back as [`AsyncError::Exception`].
    ///
    /// # Errors
    /// [`AsyncError::Exception`] with the panic's message if `f` panicked, or if the pool is
    /// shut down.
    pub fn apply<F, T>(&self, f: F) -> Result<T, AsyncError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(f).take(None)
    }

    /// Runs `f` over `items` on the pool's threads and returns the results in input order
    /// (gevent's `ThreadPool.map`), parking only the calling greenlet. Every item is queued
    /// at once; the threads take them in order.
    ///
    /// ```
    /// let pool = mayfly::threadpool::ThreadPool::new(2).unwrap();
    /// let lens = mayfly::run(move || pool.map(|s: &str| s.len(), ["a", "bb", "ccc"]));
    /// assert_eq!(lens.unwrap(), [1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// The [`AsyncError`] of the first item (in input order) whose call panicked, or
    /// [`AsyncError::Exception`] if the pool is shut down.
    pub fn map<I, F, R>(&self, f: F, items: I) -> Result<Vec<R>, AsyncError>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        let pending: Vec<_> = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.spawn(move || f(item))
            })
            .collect();
        pending.iter().map(|r| r.take(None)).collect()
    }
}

impl Drop for ThreadPool {
    /// Lets queued calls finish, then joins the threads.
    fn drop(&mut self) {
        self.tx.lock_unpoisoned().take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The shared pool of [`DEFAULT_THREADS`] threads behind [`apply`] and [`spawn`], started on
/// first use.
///
/// # Panics
/// If the shared pool's threads cannot be started (on first use).
pub fn shared() -> &'static ThreadPool {
    static SHARED: OnceLock<ThreadPool> = OnceLock::new();
    SHARED.get_or_init(|| ThreadPool::new(DEFAULT_THREADS).expect("start the shared thread pool"))
}

/// Runs `f` on the [`shared`] pool and waits for it, parking only the calling greenlet.
///
/// ```
/// let host = mayfly::run(|| mayfly::threadpool::apply(|| std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|mut a| a.next())));
/// assert!(host.unwrap().is_ok());
/// ```
///
/// # Errors
/// As [`ThreadPool::apply`].
///
/// # Panics
/// As [`shared`].
pub fn apply<F, T>(f: F) -> Result<T, AsyncError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    shared().apply(f)
}

/// Queues `f` on the [`shared`] pool and returns at once: the greenlet goes on working
/// while `f` runs (a pipeline: hash one chunk while receiving the next).
///
/// ```
/// let sum = mayfly::run(|| {
///     let pending = mayfly::threadpool::spawn(|| (1..=100u64).sum::<u64>());
///     // ... other work on the worker meanwhile ...
///     pending.take(None)
/// });
/// assert_eq!(sum.unwrap(), 5050);
/// ```
pub fn spawn<F, T>(f: F) -> Arc<AsyncResult<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    shared().spawn(f)
}
