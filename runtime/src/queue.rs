//! Queues between greenlets (gevent's `gevent.queue`): [`Queue`] (FIFO), [`LifoQueue`],
//! [`PriorityQueue`] (smallest first) and [`Channel`] (rendezvous: `put` waits for a `get`).
//!
//! Built here rather than on may's channels, which are unbounded (and may's `spsc` has a known
//! race). A bounded queue's `put` parks while it is full; `get` parks while it is empty;
//! waiters are served in the order they started waiting. Every wait honours an enclosing
//! [`crate::Timeout`], and a greenlet killed while waiting leaves the queue consistent.
//!
//! The course's producer/consumer, with `None` as the sentinel:
//!
//! ```
//! use std::sync::Arc;
//! use mayfly::queue::Queue;
//!
//! let eaten = mayfly::run(|| {
//!     let q = Arc::new(Queue::bounded(2));
//!     let consumer = {
//!         let q = q.clone();
//!         mayfly::spawn(move || {
//!             let mut eaten = Vec::new();
//!             while let Some(baozi) = q.get() {
//!                 eaten.push(baozi);
//!                 q.task_done();
//!             }
//!             q.task_done();
//!             eaten
//!         })
//!     };
//!     for i in 0..5 {
//!         q.put(Some(i)); // parks while the consumer is two behind
//!     }
//!     q.put(None);
//!     q.join(None);
//!     consumer.into_result().unwrap()
//! });
//! assert_eq!(eaten, [0, 1, 2, 3, 4]);
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::park::WaitUntil;
use crate::poison::MutexExt;
use crate::wait::WaitList;

/// `get_nowait` / `get_timeout` found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue is empty")]
pub struct Empty;

/// `put_nowait` / `put_timeout` found no room; the item comes back.
#[derive(PartialEq, Eq, thiserror::Error)]
#[error("the queue is full")]
pub struct Full<T>(pub T);

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

/// The order a queue hands items out in.
pub trait Store<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// Items held.
    fn len(&self) -> usize;
    /// Whether it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out.
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);
/// Last in, first out.
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);
/// Smallest first (`T: Ord`), like Python's `heapq`.
#[derive(Debug)]
pub struct Smallest<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}
impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}
impl<T: Ord> Default for Smallest<T> {
    fn default() -> Self {
        Smallest(BinaryHeap::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T: Ord> Store<T> for Smallest<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(t)| t)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct State<S> {
    items: S,
    unfinished: usize,
}

/// A queue between greenlets; see the [module docs](self). `S` picks the order; use the
/// aliases [`Queue`], [`LifoQueue`] and [`PriorityQueue`].
pub struct OrderedQueue<T, S: Store<T>> {
    state: Mutex<State<S>>,
    maxsize: Option<usize>,
    getters: WaitList,
    putters: WaitList,
    all_done: WaitList,
    _t: std::marker::PhantomData<fn(T) -> T>,
}

/// A first-in, first-out queue (gevent's `Queue`).
///
/// ```
/// let q = mayfly::queue::Queue::bounded(8);
/// q.put("first"); q.put("second");
/// assert_eq!(q.get(), "first");
/// ```
pub type Queue<T> = OrderedQueue<T, Fifo<T>>;

/// A last-in, first-out queue (gevent's `LifoQueue`).
///
/// ```
/// let q = mayfly::queue::LifoQueue::unbounded();
/// q.put(1); q.put(2);
/// assert_eq!(q.get(), 2);
/// ```
pub type LifoQueue<T> = OrderedQueue<T, Lifo<T>>;

/// A queue that hands out the smallest item first (gevent's `PriorityQueue`).
///
/// ```
/// let q = mayfly::queue::PriorityQueue::unbounded();
/// for p in [(3, "low"), (1, "urgent"), (2, "normal")] { q.put(p); }
/// assert_eq!(q.get(), (1, "urgent"));
/// ```
pub type PriorityQueue<T> = OrderedQueue<T, Smallest<T>>;

impl<T, S: Store<T>> fmt::Debug for OrderedQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedQueue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize)
            .finish()
    }
}

impl<T, S: Store<T>> OrderedQueue<T, S> {
    /// A queue that holds at most `maxsize` items (at least 1).
    pub fn bounded(maxsize: usize) -> Self {
        Self::with_maxsize(Some(maxsize.max(1)))
    }

    /// A queue without a limit.
    pub fn unbounded() -> Self {
        Self::with_maxsize(None)
    }

    fn with_maxsize(maxsize: Option<usize>) -> Self {
        OrderedQueue {
            state: Mutex::new(State {
                items: S::default(),
                unfinished: 0,
            }),
            maxsize,
            getters: WaitList::new(),
            putters: WaitList::new(),
            all_done: WaitList::new(),
            _t: std::marker::PhantomData,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock_unpoisoned()
    }

    fn has_room(&self, st: &State<S>) -> bool {
        self.maxsize.is_none_or(|m| st.items.len() < m)
    }

    /// Items in the queue now.
    pub fn qsize(&self) -> usize {
        self.lock().items.len()
    }

    /// The limit, if bounded.
    pub fn maxsize(&self) -> Option<usize> {
        self.maxsize
    }

    /// Whether it holds nothing.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a `put` would wait.
    pub fn full(&self) -> bool {
        !self.has_room(&self.lock())
    }

    /// Adds `item` if there is room now.
    ///
    /// # Errors
    /// [`Full`] with the item when the queue is full.
    pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
        let mut st = self.lock();
        if !self.has_room(&st) {
            return Err(Full(item));
        }
        st.items.push(item);
        st.unfinished += 1;
        drop(st);
        self.getters.wake_one();
        Ok(())
    }

    /// Takes an item if there is one now.
    ///
    /// # Errors
    /// [`Empty`] when the queue is empty.
    pub fn get_nowait(&self) -> Result<T, Empty> {
        let item = self.lock().items.pop().ok_or(Empty)?;
        self.putters.wake_one();
        Ok(item)
    }

    /// Adds `item`, waiting while the queue is full.
    pub fn put(&self, item: T) {
        // Without a deadline the wait only ends with the item stored (an enclosing Timeout
        // unwinds out of the wait instead of returning).
        let stored = self.put_until(item, None);
        debug_assert!(stored.is_ok(), "put without a deadline cannot time out");
    }

    /// Adds `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`Full`] with the item if there was no room in time.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        self.put_until(item, Some(Instant::now() + timeout))
    }

    /// Adds `item`, waiting until `deadline` at most for room.
    ///
    /// # Errors
    /// [`Full`] with the item if there was no room in time.
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), Full<T>> {
        self.put_until(item, Some(deadline))
    }

    fn put_until(&self, item: T, until: Option<Instant>) -> Result<(), Full<T>> {
        let mut item = Some(item);
        self.putters.wait_until(until, || {
            match self.put_nowait(item.take().expect("item present until stored")) {
                Ok(()) => true,
                Err(Full(back)) => {
                    item = Some(back);
                    false
                }
            }
        });
        match item {
            None => Ok(()),
            Some(back) => Err(Full(back)),
        }
    }

    /// Takes an item, waiting while the queue is empty.
    ///
    /// # Panics
    /// Never in practice: a wait without a deadline ends only with an item (an enclosing
    /// [`crate::Timeout`] unwinds out of it instead).
    pub fn get(&self) -> T {
        self.get_until(None)
            .expect("get without a deadline cannot time out")
    }

    /// Takes an item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Empty`] if no item came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Takes an item, waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`Empty`] if no item came in time.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, Empty> {
        self.get_until(Some(deadline))
    }

    fn get_until(&self, until: Option<Instant>) -> Result<T, Empty> {
        let mut got = None;
        self.getters.wait_until(until, || {
            got = self.get_nowait().ok();
            got.is_some()
        });
        got.ok_or(Empty)
    }

    /// Marks one item taken with `get` as processed (for [`join`](OrderedQueue::join)).
    ///
    /// # Panics
    /// If called more times than items were put, like Python's `ValueError`.
    pub fn task_done(&self) {
        let mut st = self.lock();
        assert!(
            st.unfinished > 0,
            "task_done() called more times than items were put"
        );
        st.unfinished -= 1;
        let all = st.unfinished == 0;
        drop(st);
        if all {
            self.all_done.wake_all();
        }
    }

    /// Waits until every item put has been marked [`task_done`](OrderedQueue::task_done), or
    /// `timeout` passes. Returns whether all were done.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        self.join_until(timeout.map(|t| Instant::now() + t))
    }

    /// Like [`join`](OrderedQueue::join) with at most `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join(Some(timeout))
    }

    /// Like [`join`](OrderedQueue::join), waiting until `deadline` at most.
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.join_until(Some(deadline))
    }

    fn join_until(&self, until: Option<Instant>) -> bool {
        self.all_done
            .wait_until(until, || self.lock().unfinished == 0)
    }
}

/// A rendezvous channel (gevent's `Channel`, a queue of size 0): `put` returns only once a
/// `get` has taken the item.
///
/// ```
/// use std::sync::Arc;
/// mayfly::run(|| {
///     let ch = Arc::new(mayfly::queue::Channel::new());
///     let rx = ch.clone();
///     let g = mayfly::spawn(move || rx.get());
///     ch.put("hand-over"); // returns after g took it
///     assert_eq!(g.get(), Ok("hand-over"));
/// });
/// ```
pub struct Channel<T> {
    state: Mutex<ChannelState<T>>,
    getters: WaitList,
    putters: WaitList,
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("offered", &self.lock().offered.len())
            .finish()
    }
}

struct ChannelState<T> {
    offered: VecDeque<(u64, T)>,
    next_ticket: u64,
    /// Tickets below this have all been taken.
    taken_upto: u64,
}

impl<T, S: Store<T>> Default for OrderedQueue<T, S> {
    fn default() -> Self {
        Self::unbounded()
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Channel<T> {
    /// An empty channel.
    pub fn new() -> Self {
        Channel {
            state: Mutex::new(ChannelState {
                offered: VecDeque::new(),
                next_ticket: 0,
                taken_upto: 0,
            }),
            getters: WaitList::new(),
            putters: WaitList::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ChannelState<T>> {
        self.state.lock_unpoisoned()
    }

    /// Hands `item` to a getter, waiting until one has taken it.
    pub fn put(&self, item: T) {
        let _ = self.put_until(item, None);
    }

    /// Like [`put`](Channel::put); after `timeout` with no taker, the item comes back.
    ///
    /// # Errors
    /// [`Full`] with the item if no getter took it in time.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        self.put_until(item, Some(Instant::now() + timeout))
    }

    /// Like [`put`](Channel::put); at `deadline` with no taker, the item comes back.
    ///
    /// # Errors
    /// [`Full`] with the item if no getter took it in time.
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), Full<T>> {
        self.put_until(item, Some(deadline))
    }

    fn put_until(&self, item: T, until: Option<Instant>) -> Result<(), Full<T>> {
        let ticket = {
            let mut st = self.lock();
            let t = st.next_ticket;
            st.next_ticket += 1;
            st.offered.push_back((t, item));
            t
        };
        self.getters.wake_one();
        // If this putter is killed while waiting, withdraw its offer.
        struct Withdraw<'a, T>(&'a Channel<T>, u64, bool);
        impl<T> Drop for Withdraw<'_, T> {
            fn drop(&mut self) {
                if !self.2 {
                    self.0.lock().offered.retain(|(t, _)| *t != self.1);
                }
            }
        }
        let mut guard = Withdraw(self, ticket, false);
        let taken = self
            .putters
            .wait_until(until, || self.lock().taken_upto > ticket);
        guard.2 = true;
        if taken {
            return Ok(());
        }
        let mut st = self.lock();
        match st.offered.iter().position(|(t, _)| *t == ticket) {
            Some(pos) => Err(Full(st.offered.remove(pos).expect("present").1)),
            None => Ok(()), // taken just now
        }
    }

    /// Takes an item, waiting for a putter.
    ///
    /// # Panics
    /// Never in practice: a wait without a deadline ends only with an item (an enclosing
    /// [`crate::Timeout`] unwinds out of it instead).
    pub fn get(&self) -> T {
        self.get_until(None)
            .expect("get without a deadline cannot time out")
    }

    /// Takes an item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Empty`] if no item came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Takes an item, waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`Empty`] if no item came in time.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, Empty> {
        self.get_until(Some(deadline))
    }

    fn get_until(&self, until: Option<Instant>) -> Result<T, Empty> {
        let mut got = None;
        self.getters.wait_until(until, || {
            let mut st = self.lock();
            if let Some((t, item)) = st.offered.pop_front() {
                st.taken_upto = st.taken_upto.max(t + 1);
                got = Some(item);
            }
            got.is_some()
        });
        if got.is_some() {
            self.putters.wake_all();
        }
        got.ok_or(Empty)
    }
}
