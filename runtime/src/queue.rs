//! Queues between greenlets (gevent's `gevent.queue`): [`Queue`] (FIFO), [`LifoQueue`],
//! [`PriorityQueue`] (smallest first) and [`Channel`] (rendezvous: `put` waits for a `get`).
//!
//! Built here rather than on may's channels, which are unbounded (and may's `spsc` has a known
//! race). A queue can be [closed](OrderedQueue::close) (gevent's and Python 3.13's
//! `shutdown`): puts fail with [`PutError::Closed`], gets drain what is left and then fail
//! with [`GetError::Closed`], and [`iter`](OrderedQueue::iter) ends. A bounded queue's `put` parks while it is full; `get` parks while it is empty;
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::park::WaitUntil;
use crate::poison::MutexExt;
use crate::wait::WaitList;

/// Why a get (`get_nowait`, `get_timeout`, [`recv`](OrderedQueue::recv), …) has no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// Nothing came (in time).
    #[error("the queue is empty")]
    Empty,
    /// The queue was [closed](OrderedQueue::close) and every item in it was taken.
    #[error("the queue is closed")]
    Closed,
}

pub use GetError::Empty;

/// Why a put (`put_nowait`, `put_timeout`, [`send`](OrderedQueue::send), …) did not store
/// the item; the item comes back.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutError<T> {
    /// No room (in time).
    #[error("the queue is full")]
    Full(T),
    /// The queue was [closed](OrderedQueue::close) (before the put, or while it waited).
    #[error("the queue is closed")]
    Closed(T),
}

pub use PutError::Full;

impl<T> PutError<T> {
    /// The item that was not stored.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
        }
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
    /// The item [`pop`](Store::pop) would take next, without taking it. (The default says
    /// none: a store that cannot peek makes [`OrderedQueue::peek`] wait.)
    fn peek(&self) -> Option<&T> {
        None
    }
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
    fn peek(&self) -> Option<&T> {
        self.0.front()
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
    fn peek(&self) -> Option<&T> {
        self.0.last()
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
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|Reverse(t)| t)
    }
}

struct State<S> {
    items: S,
    unfinished: usize,
    closed: bool,
}

/// A queue between greenlets; see the [module docs](self). `S` picks the order; use the
/// aliases [`Queue`], [`LifoQueue`] and [`PriorityQueue`].
pub struct OrderedQueue<T, S: Store<T>> {
    state: Mutex<State<S>>,
    maxsize: Option<usize>,
    getters: WaitList,
    putters: WaitList,
    all_done: WaitList,
    /// Greenlets in `peek`, woken by every put while there are any (`peeking` counts them,
    /// so a put pays nothing when nobody peeks).
    peekers: WaitList,
    peeking: AtomicUsize,
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
    /// A queue that holds at most `maxsize` items; a `maxsize` of 0 means no limit, as
    /// gevent's and Python's `Queue(0)` (the same as [`unbounded`](OrderedQueue::unbounded);
    /// for a queue where `put` waits for a `get`, use [`Channel`]).
    ///
    /// ```
    /// use mayfly::queue::Queue;
    /// assert_eq!(Queue::<u8>::bounded(2).maxsize(), Some(2));
    /// assert_eq!(Queue::<u8>::bounded(0).maxsize(), None); // gevent's Queue(0)
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        Self::with_maxsize(Some(maxsize).filter(|&m| m > 0))
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
                closed: false,
            }),
            maxsize,
            getters: WaitList::new(),
            putters: WaitList::new(),
            all_done: WaitList::new(),
            peekers: WaitList::new(),
            peeking: AtomicUsize::new(0),
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

    /// The limit, if bounded (`None` for [`unbounded`](OrderedQueue::unbounded) and for
    /// `bounded(0)`).
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
    /// [`PutError::Full`] with the item when the queue is full, [`PutError::Closed`] when it
    /// is closed.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        let mut st = self.lock();
        if st.closed {
            return Err(PutError::Closed(item));
        }
        if !self.has_room(&st) {
            return Err(Full(item));
        }
        st.items.push(item);
        st.unfinished += 1;
        drop(st);
        // Peekers first: they run before the getter takes the item, so they see it.
        if self.peeking.load(Ordering::Acquire) > 0 {
            self.peekers.wake_all();
        }
        self.getters.wake_one();
        Ok(())
    }

    /// Takes an item if there is one now.
    ///
    /// # Errors
    /// [`GetError::Empty`] when the queue is empty, [`GetError::Closed`] when it is also
    /// closed.
    pub fn get_nowait(&self) -> Result<T, GetError> {
        let mut st = self.lock();
        let item = match st.items.pop() {
            Some(item) => item,
            None if st.closed => return Err(GetError::Closed),
            None => return Err(Empty),
        };
        drop(st);
        self.putters.wake_one();
        Ok(item)
    }

    /// Adds `item`, waiting while the queue is full.
    ///
    /// # Panics
    /// If the queue is closed, or closes while this waits (the item cannot come back from
    /// `put`: use [`send`](OrderedQueue::send) on a queue that may be closed).
    pub fn put(&self, item: T) {
        // Without a deadline the wait only ends with the item stored or the queue closed (an
        // enclosing Timeout unwinds out of the wait instead of returning).
        if let Err(PutError::Closed(_)) = self.put_until(item, None) {
            panic!("put on a closed queue (use send() to get the item back)");
        }
    }

    /// Adds `item`, waiting while the queue is full; fails if the queue is closed, or closes
    /// while this waits (the closable form of [`put`](OrderedQueue::put)).
    ///
    /// ```
    /// use mayfly::queue::{PutError, Queue};
    /// let q = Queue::bounded(1);
    /// assert!(q.send(1).is_ok());
    /// q.close();
    /// assert_eq!(q.send(2), Err(PutError::Closed(2)));
    /// ```
    ///
    /// # Errors
    /// [`PutError::Closed`] with the item.
    pub fn send(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, None)
    }

    /// Adds `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`PutError::Full`] with the item if there was no room in time,
    /// [`PutError::Closed`] if the queue is (or becomes) closed.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, Some(Instant::now() + timeout))
    }

    /// Adds `item`, waiting until `deadline` at most for room.
    ///
    /// # Errors
    /// As [`put_timeout`](OrderedQueue::put_timeout).
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.put_until(item, Some(deadline))
    }

    fn put_until(&self, item: T, until: Option<Instant>) -> Result<(), PutError<T>> {
        let mut item = Some(item);
        let mut closed = None;
        self.putters.wait_until(until, || {
            match self.put_nowait(item.take().expect("item present until stored")) {
                Ok(()) => true,
                Err(Full(back)) => {
                    item = Some(back);
                    false
                }
                Err(PutError::Closed(back)) => {
                    closed = Some(back);
                    true
                }
            }
        });
        match (item, closed) {
            (_, Some(back)) => Err(PutError::Closed(back)),
            (None, None) => Ok(()),
            (Some(back), None) => Err(Full(back)),
        }
    }

    /// Takes an item, waiting while the queue is empty.
    ///
    /// # Panics
    /// If the queue is closed and empty, or closes while this waits (use
    /// [`recv`](OrderedQueue::recv) or [`iter`](OrderedQueue::iter) on a queue that may be
    /// closed). A wait without a deadline never times out (an enclosing
    /// [`crate::Timeout`] unwinds out of it instead).
    pub fn get(&self) -> T {
        match self.get_until(None) {
            Ok(item) => item,
            Err(_) => panic!("get on a closed, empty queue (use recv() or iter())"),
        }
    }

    /// Takes an item, waiting while the queue is empty; once the queue is closed and every
    /// item taken, fails (the closable form of [`get`](OrderedQueue::get)).
    ///
    /// # Errors
    /// [`GetError::Closed`] when the queue is closed and empty.
    pub fn recv(&self) -> Result<T, GetError> {
        self.get_until(None)
    }

    /// Takes an item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`GetError::Empty`] if no item came in time, [`GetError::Closed`] if the queue is
    /// (or becomes) closed and empty.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Takes an item, waiting until `deadline` at most.
    ///
    /// # Errors
    /// As [`get_timeout`](OrderedQueue::get_timeout).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.get_until(Some(deadline))
    }

    fn get_until(&self, until: Option<Instant>) -> Result<T, GetError> {
        let mut got = Err(Empty);
        self.getters.wait_until(until, || {
            got = self.get_nowait();
            !matches!(got, Err(Empty))
        });
        got
    }

    /// Iterates, taking items until the queue is closed and empty (gevent's `for item in
    /// queue`, with [`close`](OrderedQueue::close) in place of the `StopIteration` sentinel).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mayfly::queue::Queue;
    /// let got: Vec<u32> = mayfly::run(|| {
    ///     let q = Arc::new(Queue::bounded(2));
    ///     let producer = { let q = q.clone(); mayfly::spawn(move || {
    ///         for i in 0..5 { q.put(i); }
    ///         q.close();
    ///     }) };
    ///     let got = q.iter().collect();
    ///     producer.join(None);
    ///     got
    /// });
    /// assert_eq!(got, [0, 1, 2, 3, 4]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T, S> {
        Iter { queue: self }
    }

    /// Closes the queue (gevent's `shutdown`): every later put fails with
    /// [`PutError::Closed`] (a `put` panics), every blocked putter wakes with that error,
    /// and gets take what is left, then fail with [`GetError::Closed`] (a `get` panics).
    /// Idempotent.
    ///
    /// ```
    /// use mayfly::queue::{GetError, PutError, Queue};
    /// let q = Queue::unbounded();
    /// q.put(1);
    /// q.close();
    /// assert!(q.is_closed());
    /// assert_eq!(q.put_nowait(2), Err(PutError::Closed(2)));
    /// assert_eq!(q.get_nowait(), Ok(1)); // what was in it still comes out
    /// assert_eq!(q.get_nowait(), Err(GetError::Closed));
    /// ```
    pub fn close(&self) {
        self.lock().closed = true;
        self.getters.wake_all();
        self.putters.wake_all();
        self.peekers.wake_all();
    }

    /// Whether [`close`](OrderedQueue::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Items put and not yet marked [`task_done`](OrderedQueue::task_done) (gevent's
    /// `unfinished_tasks`).
    ///
    /// ```
    /// let q = mayfly::queue::Queue::unbounded();
    /// q.put('a');
    /// let _ = q.get();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// q.task_done();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.lock().unfinished
    }

    /// A clone of the item a get would take next, without taking it, if there is one now.
    ///
    /// # Errors
    /// As [`get_nowait`](OrderedQueue::get_nowait).
    pub fn peek_nowait(&self) -> Result<T, GetError>
    where
        T: Clone,
    {
        let st = self.lock();
        match st.items.peek() {
            Some(item) => Ok(item.clone()),
            None if st.closed => Err(GetError::Closed),
            None => Err(Empty),
        }
    }

    /// Waits until the queue holds an item and returns a clone of it without taking it
    /// (gevent's `peek()`).
    ///
    /// ```
    /// let q = mayfly::queue::Queue::unbounded();
    /// q.put("next");
    /// assert_eq!(q.peek(), Ok("next"));
    /// assert_eq!(q.qsize(), 1); // still there
    /// ```
    ///
    /// # Errors
    /// [`GetError::Closed`] if the queue is (or becomes) closed and empty.
    pub fn peek(&self) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_until(None)
    }

    /// Like [`peek`](OrderedQueue::peek), waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`get_timeout`](OrderedQueue::get_timeout).
    pub fn peek_timeout(&self, timeout: Duration) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_until(Some(Instant::now() + timeout))
    }

    fn peek_until(&self, until: Option<Instant>) -> Result<T, GetError>
    where
        T: Clone,
    {
        struct Peeking<'a>(&'a AtomicUsize);
        impl Drop for Peeking<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.peeking.fetch_add(1, Ordering::AcqRel);
        let _peeking = Peeking(&self.peeking);
        let mut got = Err(Empty);
        self.peekers.wait_until(until, || {
            got = self.peek_nowait();
            !matches!(got, Err(Empty))
        });
        got
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

/// The iterator of [`OrderedQueue::iter`]: takes items until the queue is closed and empty.
pub struct Iter<'a, T, S: Store<T>> {
    queue: &'a OrderedQueue<T, S>,
}

impl<T, S: Store<T>> fmt::Debug for Iter<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("queue", self.queue).finish()
    }
}

impl<T, S: Store<T>> Iterator for Iter<'_, T, S> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.queue.recv().ok()
    }
}

impl<'a, T, S: Store<T>> IntoIterator for &'a OrderedQueue<T, S> {
    type Item = T;
    type IntoIter = Iter<'a, T, S>;
    fn into_iter(self) -> Iter<'a, T, S> {
        self.iter()
    }
}

/// A rendezvous channel (gevent's `Channel`; `Queue(0)` before gevent 1.0): `put` returns
/// only once a `get` has taken the item.
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
    /// Who waits in [`peek`](Channel::peek) for a putter.
    peekers: WaitList,
    /// Getters blocked in `get` (for `put_nowait`).
    getters_waiting: AtomicUsize,
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Channel")
            .field("offered", &st.offered.len())
            .field("closed", &st.closed)
            .finish()
    }
}

struct ChannelState<T> {
    offered: VecDeque<(u64, T)>,
    next_ticket: u64,
    /// Tickets below this have all been taken.
    taken_upto: u64,
    /// Set by [`Channel::close`]: no hand-over happens any more.
    closed: bool,
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
                closed: false,
            }),
            getters: WaitList::new(),
            putters: WaitList::new(),
            peekers: WaitList::new(),
            getters_waiting: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ChannelState<T>> {
        self.state.lock_unpoisoned()
    }

    /// Hands `item` to a getter that is waiting now (gevent's `put_nowait` on a `Channel`:
    /// it succeeds only when a getter is blocked in `get`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mayfly::queue::{Channel, Full};
    /// mayfly::run(|| {
    ///     let ch = Arc::new(Channel::new());
    ///     assert_eq!(ch.put_nowait(1), Err(Full(1))); // nobody waits
    ///     let rx = ch.clone();
    ///     let g = mayfly::spawn(move || rx.get());
    ///     mayfly::yield_now(); // g is now blocked in get
    ///     assert!(ch.put_nowait(2).is_ok());
    ///     assert_eq!(g.get(), Ok(2));
    /// });
    /// ```
    ///
    /// # Errors
    /// [`PutError::Full`] with the item when no getter is waiting, [`PutError::Closed`] when
    /// the channel is closed.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        let mut st = self.lock();
        if st.closed {
            return Err(PutError::Closed(item));
        }
        // Getters waiting beyond the offers already queued for them.
        if self.getters_waiting.load(Ordering::Acquire) <= st.offered.len() {
            return Err(Full(item));
        }
        let t = st.next_ticket;
        st.next_ticket += 1;
        // This put does not wait for the getter to run: nobody watches its ticket.
        st.offered.push_back((t, item));
        drop(st);
        self.getters.wake_one();
        self.peekers.wake_all();
        Ok(())
    }

    /// Takes an item from a putter that is waiting now (gevent's `get_nowait` on a
    /// `Channel`).
    ///
    /// # Errors
    /// [`GetError::Empty`] when no putter is waiting, [`GetError::Closed`] when the channel
    /// is closed and no offer is left.
    pub fn get_nowait(&self) -> Result<T, GetError> {
        let got = self.take_offer()?;
        self.putters.wake_all();
        Ok(got)
    }

    fn take_offer(&self) -> Result<T, GetError> {
        let mut st = self.lock();
        // Offers made before the close may still be taken (a putter woken by the close
        // either finds its item taken or withdraws it): nothing is lost either way.
        let Some((t, item)) = st.offered.pop_front() else {
            return Err(if st.closed { GetError::Closed } else { Empty });
        };
        st.taken_upto = st.taken_upto.max(t + 1);
        Ok(item)
    }

    /// Hands `item` to a getter, waiting until one has taken it.
    ///
    /// # Panics
    /// If the channel is closed, or closes while this waits (the item cannot come back from
    /// `put`: use [`send`](Channel::send) on a channel that may be closed).
    pub fn put(&self, item: T) {
        if let Err(PutError::Closed(_)) = self.put_until(item, None) {
            panic!("put on a closed channel (use send() to get the item back)");
        }
    }

    /// Hands `item` to a getter, waiting until one has taken it; fails if the channel is
    /// closed, or closes while this waits (the closable form of [`put`](Channel::put)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mayfly::queue::{Channel, PutError};
    /// mayfly::run(|| {
    ///     let ch = Arc::new(Channel::new());
    ///     let closer = ch.clone();
    ///     let g = mayfly::spawn(move || closer.close());
    ///     assert_eq!(ch.send("never taken"), Err(PutError::Closed("never taken")));
    ///     g.join(None);
    /// });
    /// ```
    ///
    /// # Errors
    /// [`PutError::Closed`] with the item.
    pub fn send(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, None)
    }

    /// Like [`put`](Channel::put); after `timeout` with no taker, the item comes back.
    ///
    /// # Errors
    /// [`Full`] with the item if no getter took it in time, [`PutError::Closed`] if the
    /// channel is (or becomes) closed.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, Some(crate::timeout::deadline_after(timeout)))
    }

    /// Like [`put`](Channel::put); at `deadline` with no taker, the item comes back.
    ///
    /// # Errors
    /// As [`put_timeout`](Channel::put_timeout).
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.put_until(item, Some(deadline))
    }

    fn put_until(&self, item: T, until: Option<Instant>) -> Result<(), PutError<T>> {
        let ticket = {
            let mut st = self.lock();
            if st.closed {
                return Err(PutError::Closed(item));
            }
            let t = st.next_ticket;
            st.next_ticket += 1;
            st.offered.push_back((t, item));
            t
        };
        self.getters.wake_one();
        self.peekers.wake_all();
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
        let taken = self.putters.wait_until(until, || {
            let st = self.lock();
            st.taken_upto > ticket || st.closed
        });
        guard.2 = true;
        let mut st = self.lock();
        if taken && st.taken_upto > ticket {
            return Ok(());
        }
        match st.offered.iter().position(|(t, _)| *t == ticket) {
            Some(pos) => {
                let item = st.offered.remove(pos).expect("present").1;
                Err(if st.closed {
                    PutError::Closed(item)
                } else {
                    Full(item)
                })
            }
            None => Ok(()), // taken just now
        }
    }

    /// Takes an item, waiting for a putter.
    ///
    /// # Panics
    /// If the channel is closed, or closes while this waits (use [`recv`](Channel::recv) or
    /// [`iter`](Channel::iter) on a channel that may be closed). A wait without a deadline
    /// ends otherwise only with an item (an enclosing [`crate::Timeout`] unwinds out of it).
    pub fn get(&self) -> T {
        match self.get_until(None) {
            Ok(item) => item,
            Err(_) => panic!("get on a closed channel (use recv() or iter())"),
        }
    }

    /// Takes an item, waiting for a putter; fails once the channel is closed (the closable
    /// form of [`get`](Channel::get)).
    ///
    /// # Errors
    /// [`GetError::Closed`] when the channel is (or becomes) closed.
    pub fn recv(&self) -> Result<T, GetError> {
        self.get_until(None)
    }

    /// Takes an item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Empty`] if no item came in time, [`GetError::Closed`] if the channel is (or
    /// becomes) closed.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(Some(crate::timeout::deadline_after(timeout)))
    }

    /// Takes an item, waiting until `deadline` at most.
    ///
    /// # Errors
    /// As [`get_timeout`](Channel::get_timeout).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.get_until(Some(deadline))
    }

    fn get_until(&self, until: Option<Instant>) -> Result<T, GetError> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let mut got = Err(Empty);
        let mut waiting = None;
        self.getters.wait_until(until, || {
            got = self.take_offer();
            if matches!(got, Err(Empty)) && waiting.is_none() {
                // From the first miss on, this getter counts as waiting (for put_nowait).
                self.getters_waiting.fetch_add(1, Ordering::AcqRel);
                waiting = Some(Waiting(&self.getters_waiting));
            }
            !matches!(got, Err(Empty))
        });
        drop(waiting);
        if got.is_ok() {
            self.putters.wake_all();
        }
        got
    }

    /// A clone of the item the next get would take, without taking it, if a putter offers
    /// one now (gevent's `peek(block=False)`).
    ///
    /// # Errors
    /// As [`get_nowait`](Channel::get_nowait).
    pub fn peek_nowait(&self) -> Result<T, GetError>
    where
        T: Clone,
    {
        let st = self.lock();
        match st.offered.front() {
            Some((_, item)) => Ok(item.clone()),
            None if st.closed => Err(GetError::Closed),
            None => Err(Empty),
        }
    }

    /// Waits for a putter and returns a clone of its item without taking it (gevent's
    /// `peek()`): the putter still waits for a getter.
    ///
    /// ```
    /// use std::sync::Arc;
    /// mayfly::run(|| {
    ///     let ch = Arc::new(mayfly::queue::Channel::new());
    ///     let tx = ch.clone();
    ///     let putter = mayfly::spawn(move || tx.put("next"));
    ///     assert_eq!(ch.peek(), Ok("next"));
    ///     assert!(!putter.ready(), "peeking takes nothing");
    ///     assert_eq!(ch.get(), "next");
    ///     putter.join(None);
    /// });
    /// ```
    ///
    /// # Errors
    /// [`GetError::Closed`] if the channel is (or becomes) closed.
    pub fn peek(&self) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_until(None)
    }

    /// Like [`peek`](Channel::peek), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Empty`] if no putter came in time, else as [`peek`](Channel::peek).
    pub fn peek_timeout(&self, timeout: Duration) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_until(Some(crate::timeout::deadline_after(timeout)))
    }

    fn peek_until(&self, until: Option<Instant>) -> Result<T, GetError>
    where
        T: Clone,
    {
        let mut seen = Err(Empty);
        self.peekers.wait_until(until, || {
            seen = self.peek_nowait();
            !matches!(seen, Err(Empty))
        });
        seen
    }

    /// Closes the channel: no new offer is accepted (puts fail with [`PutError::Closed`] and
    /// give the item back). A putter waiting at the close either has its item taken by a
    /// getter that was already on its way or gets it back; getters and peekers get
    /// [`GetError::Closed`] once no offer is left, and [`iter`](Channel::iter) ends. No item
    /// is lost. Idempotent. (gevent's Channel has no
    /// close; its users put a `StopIteration` instead, which this replaces.)
    ///
    /// ```
    /// use mayfly::queue::{Channel, GetError, PutError};
    /// let ch = Channel::new();
    /// ch.close();
    /// assert!(ch.is_closed());
    /// assert_eq!(ch.put_nowait(1), Err(PutError::Closed(1)));
    /// assert_eq!(ch.get_nowait(), Err(GetError::Closed));
    /// ```
    pub fn close(&self) {
        self.lock().closed = true;
        self.getters.wake_all();
        self.putters.wake_all();
        self.peekers.wake_all();
    }

    /// Whether [`close`](Channel::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Always 0: a channel holds nothing (gevent's `Channel.qsize()`).
    pub fn qsize(&self) -> usize {
        0
    }

    /// Always true: a channel holds nothing (gevent's `Channel.empty()`).
    pub fn empty(&self) -> bool {
        true
    }

    /// Always true: a put waits for a getter (gevent's `Channel.full()`).
    pub fn full(&self) -> bool {
        true
    }

    /// Putters waiting minus getters waiting (gevent's `Channel.balance`): above 0, a get
    /// would not wait; below 0, a `put_nowait` would succeed.
    pub fn balance(&self) -> isize {
        let offered = self.lock().offered.len();
        let getters = self.getters_waiting.load(Ordering::Acquire);
        offered as isize - getters as isize
    }

    /// An iterator that takes items until the channel is closed (gevent's `for item in
    /// channel`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// mayfly::run(|| {
    ///     let ch = Arc::new(mayfly::queue::Channel::new());
    ///     let tx = ch.clone();
    ///     let producer = mayfly::spawn(move || {
    ///         for i in 1..=3 {
    ///             tx.put(i);
    ///         }
    ///         tx.close();
    ///     });
    ///     assert_eq!(ch.iter().sum::<i32>(), 6);
    ///     producer.join(None);
    /// });
    /// ```
    pub fn iter(&self) -> ChannelIter<'_, T> {
        ChannelIter { channel: self }
    }
}

/// Items taken from a [`Channel`] until it is closed; from [`Channel::iter`].
pub struct ChannelIter<'a, T> {
    channel: &'a Channel<T>,
}

impl<T> fmt::Debug for ChannelIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelIter")
            .field("channel", self.channel)
            .finish()
    }
}

impl<T> Iterator for ChannelIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.channel.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Channel<T> {
    type Item = T;
    type IntoIter = ChannelIter<'a, T>;
    fn into_iter(self) -> ChannelIter<'a, T> {
        self.iter()
    }
}
