//! Groups and pools of greenlets (gevent's `gevent.pool`): a [`Group`] tracks the greenlets
//! spawned through it (join them all, kill them all); a [`Pool`] is a group with a size limit
//! whose `spawn` waits while it is full.
//!
//! The course's `Pool(3)` over ten inputs:
//!
//! ```
//! use std::time::Duration;
//! use mayfly::pool::Pool;
//!
//! let squares = mayfly::run(|| {
//!     let pool = Pool::new(3);
//!     pool.map(|x: u64| { mayfly::sleep(Duration::from_millis(10)); x * x }, 0..10)
//! });
//! assert_eq!(squares.unwrap(), [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::context::CoreRef;
use crate::greenlet::{Builder, Greenlet, GreenletError, SpawnError};
use crate::park::WaitUntil;
use crate::poison::MutexExt;
use crate::wait::WaitList;

/// Results an [`imap`](Group::imap) keeps in flight or waiting to be read, unless
/// [`IMap::read_ahead`] says otherwise (a pool also caps it at its size in flight).
pub const DEFAULT_READ_AHEAD: usize = 1024;

/// How a member ended, read through its typed handle: `None` while it runs or if it
/// returned (for [`Group::join_raise`]).
type Outcome = Arc<dyn Fn() -> Option<GreenletError> + Send + Sync>;

/// A member's record, the link that removes it when it ends (for `discard`), and its outcome.
type Member = (CoreRef, Option<u64>, Outcome);

struct Members {
    live: Mutex<HashMap<u64, Member>>,
    /// Signalled whenever a member finishes.
    changed: WaitList,
}

impl Members {
    fn len(&self) -> usize {
        self.live.lock_unpoisoned().len()
    }

    fn remove(&self, id: u64) {
        self.live.lock_unpoisoned().remove(&id);
        self.changed.wake_all();
    }
}

/// A [`Pool`] had no free slot for a greenlet in time (gevent's `PoolFull`), from
/// [`Group::try_add`] and [`Group::add_timeout`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the pool is full: all {size} slots are taken")]
pub struct PoolFull {
    /// The pool's size.
    pub size: usize,
}

/// A set of greenlets spawned through it (gevent's `Group`).
///
/// ```
/// let g = mayfly::pool::Group::new();
/// let a = g.spawn(|| 1);
/// let b = g.spawn(|| 2);
/// assert!(g.join(None));
/// assert_eq!((a.get(), b.get(), g.len()), (Ok(1), Ok(2), 0));
/// ```
#[derive(Clone)]
pub struct Group {
    members: Arc<Members>,
    limit: Option<usize>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("len", &self.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl Default for Group {
    fn default() -> Self {
        Self::new()
    }
}

impl Group {
    /// An empty group without a size limit.
    pub fn new() -> Self {
        Group {
            members: Arc::new(Members {
                live: Mutex::new(HashMap::new()),
                changed: WaitList::new(),
            }),
            limit: None,
        }
    }

    /// Greenlets of the group still running.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no greenlet of the group is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spawns `f` into the group (waiting for a free slot in a [`Pool`]).
    ///
    /// # Panics
    /// If no stack can be allocated ([`spawn_with`](Group::spawn_with) returns the error
    /// instead).
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(Builder::new(), f)
            .unwrap_or_else(|e| panic!("mayfly::pool: {e}"))
    }

    /// Like [`spawn`](Group::spawn) with a [`Builder`] (name, stack size); returns the
    /// error instead of panicking when no stack can be had.
    ///
    /// # Errors
    /// [`SpawnError`] as [`Builder::spawn`].
    pub fn spawn_with<F, T>(&self, builder: Builder, f: F) -> Result<Greenlet<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if let Some(limit) = self.limit {
            self.members
                .changed
                .wait_until(None, || self.members.len() < limit);
        }
        let g = builder.spawn(f)?;
        self.insert(&g);
        Ok(g)
    }

    fn insert<T: Send + 'static>(&self, g: &Greenlet<T>) {
        let core = g.record();
        let id = core.id;
        let handle = g.clone();
        let outcome: Outcome = Arc::new(move || handle.exception());
        self.members
            .live
            .lock_unpoisoned()
            .insert(id, (core.clone(), None, outcome));
        // Leave the group however the greenlet ends: returned, panicked, killed, or killed
        // before it started (the link runs in every case; at once if it already ended).
        let members = self.members.clone();
        let link = core.add_link(Box::new(move || members.remove(id)));
        if let Some((_, l, _)) = self.members.live.lock_unpoisoned().get_mut(&id) {
            *l = link;
        }
    }

    /// Adds a greenlet spawned elsewhere to the group (gevent's `add`); in a [`Pool`] it
    /// waits for a free slot first. It leaves the group when it ends. Adding a member again
    /// changes nothing.
    ///
    /// ```
    /// let group = mayfly::pool::Group::new();
    /// mayfly::run(move || {
    ///     let g = mayfly::spawn(|| mayfly::sleep(std::time::Duration::from_millis(10)));
    ///     group.add(&g);
    ///     assert!(group.contains(&g));
    ///     group.discard(&g); // no longer tracked (and not killed)
    ///     assert!(group.is_empty() && !g.ready());
    /// });
    /// ```
    pub fn add<T: Send + 'static>(&self, g: &Greenlet<T>) {
        if self.contains(g) {
            return;
        }
        if let Some(limit) = self.limit {
            self.members
                .changed
                .wait_until(None, || self.members.len() < limit);
        }
        self.insert(g);
    }

    /// Adds `g` without waiting (gevent's `add(g, blocking=False)`): in a full [`Pool`] it
    /// fails at once. A group without a limit always has room.
    ///
    /// ```
    /// use mayfly::pool::{Pool, PoolFull};
    /// mayfly::run(|| {
    ///     let pool = Pool::new(1);
    ///     let busy = pool.spawn(|| mayfly::sleep(std::time::Duration::from_millis(50)));
    ///     let other = mayfly::Greenlet::new(|| ());
    ///     assert_eq!(pool.try_add(&other), Err(PoolFull { size: 1 }));
    ///     busy.join(None);
    ///     assert_eq!(pool.try_add(&other), Ok(()));
    /// #   other.start().unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    /// [`PoolFull`] if every slot is taken.
    pub fn try_add<T: Send + 'static>(&self, g: &Greenlet<T>) -> Result<(), PoolFull> {
        self.add_until(g, Some(Instant::now()))
    }

    /// Adds `g`, waiting at most `timeout` for a free slot in a [`Pool`] (gevent's
    /// `add(g, timeout=…)`).
    ///
    /// # Errors
    /// [`PoolFull`] if no slot came free in time.
    pub fn add_timeout<T: Send + 'static>(
        &self,
        g: &Greenlet<T>,
        timeout: Duration,
    ) -> Result<(), PoolFull> {
        self.add_until(g, Some(crate::timeout::deadline_after(timeout)))
    }

    fn add_until<T: Send + 'static>(
        &self,
        g: &Greenlet<T>,
        until: Option<Instant>,
    ) -> Result<(), PoolFull> {
        if self.contains(g) {
            return Ok(());
        }
        if let Some(limit) = self.limit {
            let room = self
                .members
                .changed
                .wait_until(until, || self.members.len() < limit);
            if !room {
                return Err(PoolFull { size: limit });
            }
        }
        self.insert(g);
        Ok(())
    }

    /// Adds a greenlet made with [`Greenlet::new`] and starts it (gevent's `Group.start`),
    /// waiting for a free slot first in a [`Pool`].
    ///
    /// ```
    /// mayfly::run(|| {
    ///     let group = mayfly::pool::Group::new();
    ///     let g = mayfly::Greenlet::new(|| 3);
    ///     group.start(&g).unwrap();
    ///     assert!(group.join(None));
    ///     assert_eq!(g.get(), Ok(3));
    /// });
    /// ```
    ///
    /// # Errors
    /// [`SpawnError`] from [`Greenlet::start`]; the greenlet then ends with that error and
    /// leaves the group.
    pub fn start<T: Send + 'static>(&self, g: &Greenlet<T>) -> Result<(), SpawnError> {
        self.add(g);
        g.start()
    }

    /// Kills `g` if it is a member, and waits until it is dead (gevent's `killone`); a
    /// greenlet of another group is left alone. Returns whether it was a member.
    ///
    /// ```
    /// use std::time::Duration;
    /// mayfly::run(|| {
    ///     let group = mayfly::pool::Group::new();
    ///     let g = group.spawn(|| mayfly::sleep(Duration::from_secs(30)));
    ///     let stranger = mayfly::spawn(|| mayfly::sleep(Duration::from_millis(10)));
    ///     assert!(group.killone(&g) && g.ready() && group.is_empty());
    ///     assert!(!group.killone(&stranger));
    ///     assert!(stranger.join(None) && stranger.successful());
    /// });
    /// ```
    pub fn killone<T>(&self, g: &Greenlet<T>) -> bool {
        if !self.contains(g) {
            return false;
        }
        g.kill();
        true
    }

    /// Removes a greenlet from the group without killing it (gevent's `discard`).
    pub fn discard<T>(&self, g: &Greenlet<T>) {
        let removed = self.members.live.lock_unpoisoned().remove(&g.id());
        if let Some((core, Some(link), _)) = removed {
            core.unlink(link);
        }
        self.members.changed.wake_all();
    }

    /// Whether `g` is a member now.
    pub fn contains<T>(&self, g: &Greenlet<T>) -> bool {
        self.members.live.lock_unpoisoned().contains_key(&g.id())
    }

    /// Whether a `spawn` would wait now: always false for a group without a limit
    /// (gevent's `full()`).
    pub fn full(&self) -> bool {
        self.limit.is_some_and(|l| self.len() >= l)
    }

    /// Whether the calling greenlet is a member.
    fn current_is_member(&self) -> bool {
        let me = crate::getcurrent().id;
        me != 0 && self.members.live.lock_unpoisoned().contains_key(&me)
    }

    /// Runs `f` in the group and waits for its value (gevent's `apply`). Called from a
    /// greenlet of this same group, it runs `f` inline instead: a member waiting for a free
    /// slot of its own full pool would wait for ever.
    ///
    /// ```
    /// use mayfly::pool::Pool;
    /// mayfly::run(|| {
    ///     let pool = Pool::new(1);
    ///     let p2 = pool.clone();
    ///     // The outer call holds the only slot; the nested one runs inline.
    ///     let v = pool.apply(move || p2.apply(|| 2).unwrap() * 10);
    ///     assert_eq!(v, Ok(20));
    /// });
    /// ```
    ///
    /// # Errors
    /// The [`GreenletError`] of the greenlet that ran `f` (inline, a panic propagates).
    pub fn apply<F, R>(&self, f: F) -> Result<R, GreenletError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.current_is_member() {
            return Ok(f());
        }
        self.spawn(f).into_result()
    }

    /// Spawns `f` in the group and returns its greenlet (gevent's `apply_async`); with a
    /// callback, see [`apply_async_then`](Group::apply_async_then).
    pub fn apply_async<F, R>(&self, f: F) -> Greenlet<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(f)
    }

    /// Spawns `f` in the group; when it returns, `callback` gets a clone of its value (after
    /// the greenlet finished, as a [`link_value`](Greenlet::link_value) callback; not called
    /// if `f` panics or is killed) — gevent's `apply_async(f, callback=cb)`. The value stays
    /// in the greenlet, so [`get`](Greenlet::get) reads it afterwards too (for a value that
    /// is costly to clone, return an `Arc`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// mayfly::run(|| {
    ///     let pool = mayfly::pool::Pool::new(2);
    ///     let out = Arc::new(mayfly::queue::Queue::unbounded());
    ///     let o = out.clone();
    ///     let g = pool.apply_async_then(|| 6 * 7, move |v| o.put(v));
    ///     assert_eq!(out.get(), 42);
    ///     assert_eq!(g.get(), Ok(42)); // still there
    /// });
    /// ```
    pub fn apply_async_then<F, R, C>(&self, f: F, callback: C) -> Greenlet<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Clone + Send + 'static,
        C: FnOnce(R) + Send + 'static,
    {
        let g = self.spawn(f);
        g.link_value(move |g| {
            if let Some(v) = g.value() {
                callback(v);
            }
        });
        g
    }

    /// [`map`](Group::map) in a greenlet of its own (gevent's `map_async`): returns at once;
    /// the greenlet's value is the map's result.
    ///
    /// ```
    /// mayfly::run(|| {
    ///     let pool = mayfly::pool::Pool::new(3);
    ///     let squares = pool.map_async(|x: u32| x * x, 0..5);
    ///     assert_eq!(squares.into_result().unwrap().unwrap(), [0, 1, 4, 9, 16]);
    /// });
    /// ```
    pub fn map_async<I, F, R>(&self, f: F, items: I) -> Greenlet<Result<Vec<R>, GreenletError>>
    where
        I: IntoIterator + Send + 'static,
        I::IntoIter: Send,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let group = self.clone();
        crate::spawn(move || group.map(f, items))
    }

    fn snapshot(&self) -> Vec<CoreRef> {
        self.members
            .live
            .lock_unpoisoned()
            .values()
            .map(|(c, _, _)| c.clone())
            .collect()
    }

    /// Waits until every greenlet of the group has finished, or `timeout` passes. Returns
    /// whether the group is empty.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        self.join_until(timeout.map(|t| Instant::now() + t))
    }

    /// [`join`](Group::join) that reports failures (gevent's `join(raise_error=True)`): waits
    /// as `join` does, then, if one of the greenlets that were members when it was called
    /// panicked or was killed, returns that error (the earliest spawned of them); otherwise
    /// whether the group is empty. A greenlet still running at the timeout has not failed.
    ///
    /// ```
    /// use mayfly::{pool::Group, GreenletError};
    /// mayfly::run(|| {
    ///     let group = Group::new();
    ///     group.spawn(|| 1);
    ///     group.spawn(|| -> u32 { panic!("boom") });
    ///     let e = group.join_raise(None).unwrap_err();
    ///     assert!(matches!(e, GreenletError::Panicked { .. }));
    ///     assert!(group.is_empty());
    ///     group.spawn(|| 2);
    ///     assert_eq!(group.join_raise(None), Ok(true)); // the old failure is not reported again
    /// });
    /// ```
    ///
    /// # Errors
    /// The [`GreenletError`] of the earliest-spawned member (at the call) that failed.
    pub fn join_raise(&self, timeout: Option<Duration>) -> Result<bool, GreenletError> {
        let mut at_call: Vec<(u64, Outcome)> = self
            .members
            .live
            .lock_unpoisoned()
            .iter()
            .map(|(id, (_, _, outcome))| (*id, outcome.clone()))
            .collect();
        at_call.sort_unstable_by_key(|(id, _)| *id);
        let empty = self.join(timeout);
        match at_call.iter().find_map(|(_, outcome)| outcome()) {
            Some(e) => Err(e),
            None => Ok(empty),
        }
    }

    /// Like [`join`](Group::join) with at most `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join(Some(timeout))
    }

    /// Like [`join`](Group::join), waiting until `deadline` at most.
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.join_until(Some(deadline))
    }

    fn join_until(&self, until: Option<Instant>) -> bool {
        self.members.changed.wait_until(until, || self.is_empty())
    }

    /// Kills every greenlet of the group and waits until they are gone.
    pub fn kill(&self) {
        let all = self.snapshot();
        for c in &all {
            c.kill_nowait(None);
        }
        for c in &all {
            c.join_until(None);
        }
    }

    /// Runs `f` over `items` in the group and returns the results in input order; the
    /// first failure (panic or kill) is returned instead.
    ///
    /// Called from a greenlet of this same [`Pool`], it runs `f` over the items inline, one
    /// after another, as [`apply`](Group::apply) does: the caller holds a slot, and on a full
    /// pool its items would wait for ever for one (gevent's map would too). A [`Group`] has
    /// no limit, so there a nested map still runs its items at once.
    ///
    /// ```
    /// use mayfly::pool::Pool;
    /// mayfly::run(|| {
    ///     let pool = Pool::new(1);
    ///     let p2 = pool.clone();
    ///     let v = pool.apply(move || p2.map(|x: u32| x + 1, [1, 2]).unwrap());
    ///     assert_eq!(v, Ok(vec![2, 3]));
    /// });
    /// ```
    ///
    /// # Errors
    /// The [`GreenletError`] of the first greenlet (in input order) that panicked or was killed.
    pub fn map<I, F, R>(&self, f: F, items: I) -> Result<Vec<R>, GreenletError>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        self.imap(f, items).collect()
    }

    /// Like [`map`](Group::map) but yields results as an iterator, in input order, starting
    /// greenlets only as the pool has room (at most its size at once). Made in a greenlet of
    /// this same [`Pool`], it runs `f` inline, one item per `next`, as [`map`](Group::map)
    /// does.
    pub fn imap<I, F, R>(&self, f: F, items: I) -> IMap<I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        IMap {
            group: self.clone(),
            f: Arc::new(f),
            items: items.into_iter(),
            pending: VecDeque::new(),
            ordered: true,
            read_ahead: DEFAULT_READ_AHEAD,
            inline: self.limit.is_some() && self.current_is_member(),
        }
    }

    /// Like [`imap`](Group::imap) but yields each result as soon as it is ready.
    ///
    /// ```
    /// use std::time::Duration;
    /// let order: Vec<u64> = mayfly::run(|| {
    ///     let pool = mayfly::pool::Pool::new(10);
    ///     // 100 ms apart, so a loaded machine cannot reorder them.
    ///     pool.imap_unordered(|ms: u64| { mayfly::sleep(Duration::from_millis(ms)); ms }, [300, 100, 200])
    ///         .map(Result::unwrap)
    ///         .collect()
    /// });
    /// assert_eq!(order, [100, 200, 300]);
    /// ```
    pub fn imap_unordered<I, F, R>(&self, f: F, items: I) -> IMap<I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let mut it = self.imap(f, items);
        it.ordered = false;
        it
    }
}

/// The iterator of [`Group::imap`] and [`Group::imap_unordered`].
pub struct IMap<I, F, R> {
    group: Group,
    f: Arc<F>,
    items: I,
    pending: VecDeque<Greenlet<R>>,
    ordered: bool,
    read_ahead: usize,
    /// Made inside its own pool: run `f` in the caller instead of waiting for a slot.
    inline: bool,
}

impl<I, F, R> IMap<I, F, R> {
    /// Keeps at most `n` results in flight or waiting to be read (at least 1; gevent's
    /// `imap(…, maxsize=n)`): a slow first item no longer lets finished results pile up
    /// without limit. Default [`DEFAULT_READ_AHEAD`]; a pool also caps it at its size in
    /// flight.
    ///
    /// ```
    /// let firsts: Vec<u64> = mayfly::run(|| {
    ///     let group = mayfly::pool::Group::new();
    ///     // An endless input is fine: only 4 items are ever started ahead of the reader.
    ///     group.imap(|x: u64| x * 2, 0..).read_ahead(4).take(3).map(Result::unwrap).collect()
    /// });
    /// assert_eq!(firsts, [0, 2, 4]);
    /// ```
    pub fn read_ahead(mut self, n: usize) -> Self {
        self.read_ahead = n.max(1);
        self
    }
}

impl<I, F, R> std::fmt::Debug for IMap<I, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMap")
            .field("group", &self.group)
            .field("pending", &self.pending.len())
            .field("ordered", &self.ordered)
            .field("read_ahead", &self.read_ahead)
            .field("inline", &self.inline)
            .finish_non_exhaustive()
    }
}

impl<I, F, R> Iterator for IMap<I, F, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    type Item = Result<R, GreenletError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.inline {
            return self.items.next().map(|item| Ok((self.f)(item)));
        }
        // Keep the pool busy: start work while it has room (at least one item in flight).
        let room = |g: &Group| g.limit.is_none_or(|l| g.len() < l);
        while self.pending.is_empty() || (room(&self.group) && self.pending.len() < self.read_ahead)
        {
            let Some(item) = self.items.next() else { break };
            let f = self.f.clone();
            self.pending.push_back(self.group.spawn(move || f(item)));
        }
        let g = if self.ordered {
            self.pending.pop_front()?
        } else {
            let gs: Vec<&Greenlet<R>> = self.pending.iter().collect();
            let pos = crate::join::wait_any(&gs, None)?;
            self.pending.remove(pos)?
        };
        Some(g.into_result())
    }
}

/// A group with a size limit (gevent's `Pool(n)`): `spawn` waits while `n` of its greenlets
/// are running.
///
/// ```
/// let pool = mayfly::pool::Pool::new(2);
/// assert_eq!(pool.free_count(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Pool(Group);

impl Pool {
    /// A pool of at most `size` concurrent greenlets (at least 1).
    pub fn new(size: usize) -> Self {
        let mut g = Group::new();
        g.limit = Some(size.max(1));
        Pool(g)
    }

    /// The size limit.
    ///
    /// # Panics
    /// Never: a pool always has a limit.
    pub fn size(&self) -> usize {
        self.0.limit.expect("a pool has a limit")
    }

    /// Slots free now.
    pub fn free_count(&self) -> usize {
        self.size().saturating_sub(self.0.len())
    }

    /// Waits until a slot is free, or `timeout` passes; returns whether one is.
    pub fn wait_available(&self, timeout: Option<Duration>) -> bool {
        self.wait_available_until(timeout.map(|t| Instant::now() + t))
    }

    /// Like [`wait_available`](Pool::wait_available) with at most `timeout`.
    pub fn wait_available_timeout(&self, timeout: Duration) -> bool {
        self.wait_available(Some(timeout))
    }

    /// Like [`wait_available`](Pool::wait_available), waiting until `deadline` at most.
    pub fn wait_available_deadline(&self, deadline: Instant) -> bool {
        self.wait_available_until(Some(deadline))
    }

    fn wait_available_until(&self, until: Option<Instant>) -> bool {
        self.0
            .members
            .changed
            .wait_until(until, || self.free_count() > 0)
    }
}

impl std::ops::Deref for Pool {
    type Target = Group;
    fn deref(&self) -> &Group {
        &self.0
    }
}
