//! Greenlet-local storage (gevent's `gevent.local.local`): one [`Local<T>`] object, a separate
//! value for each greenlet that touches it.
//!
//! Each greenlet sees its own value, made by the `init` function on first use; the value is
//! dropped when the greenlet ends, or with the `Local` if that goes first. Outside a
//! greenlet, each OS thread has its own value (kept until the `Local` is dropped).
//!
//! A greenlet's first touch links a clean-up to its end (gevent's `rawlink`); dropping the
//! `Local` unlinks it again, so a long-lived greenlet that touches many short-lived `Local`s
//! does not grow (gevent's test__local.py checks the same). Unlike `may::coroutine_local!` (a static per coroutine),
//! a `Local` is an ordinary object: make as many as needed, share them with `Arc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::context::{CoreRef, WeakCore};
use crate::poison::{unpoison, MutexExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Greenlet(u64),
    Thread(std::thread::ThreadId),
}

struct Inner<T> {
    values: Mutex<HashMap<Owner, T>>,
    init: Box<dyn Fn() -> T + Send + Sync>,
    /// For each living greenlet that holds a value: its record and the id of the link that
    /// drops the value when it ends, to unlink when the `Local` goes first.
    links: Mutex<HashMap<u64, (WeakCore, u64)>>,
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        let links = std::mem::take(unpoison(self.links.get_mut()));
        for (core, link) in links.into_values() {
            if let Some(core) = core.upgrade() {
                core.unlink(link);
            }
        }
    }
}

/// A value per greenlet (gevent's `local()`).
///
/// ```
/// use std::sync::Arc;
/// use mayfly::local::Local;
///
/// let request_id = Arc::new(Local::new(|| 0u64));
/// let ids = mayfly::run(move || {
///     let gs: Vec<_> = (1..=3u64).map(|n| {
///         let request_id = request_id.clone();
///         mayfly::spawn(move || {
///             request_id.set(n * 100);
///             mayfly::yield_now(); // the others set theirs meanwhile
///             request_id.get()
///         })
///     }).collect();
///     gs.iter().map(|g| g.get().unwrap()).collect::<Vec<_>>()
/// });
/// assert_eq!(ids, [100, 200, 300]);
/// ```
pub struct Local<T> {
    inner: Arc<Inner<T>>,
}

impl<T> std::fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("values", &self.inner.values.lock_unpoisoned().len())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Local<T> {
    /// A local whose value starts as `init()` in each greenlet (and each OS thread).
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Local {
            inner: Arc::new(Inner {
                values: Mutex::new(HashMap::new()),
                init: Box::new(init),
                links: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn owner() -> (Owner, Option<CoreRef>) {
        match crate::context::current_core() {
            Some(core) => (Owner::Greenlet(core.id), Some(core)),
            None => (Owner::Thread(std::thread::current().id()), None),
        }
    }

    /// Runs `f` on the caller's value (made with `init` on first use). `f` must not block:
    /// the values are behind one short lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let (owner, core) = Self::owner();
        let mut values = self.inner.values.lock_unpoisoned();
        let fresh = match values.entry(owner) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((self.inner.init)());
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
        };
        if fresh {
            if let Some(core) = core {
                drop(values);
                self.link_to_end(&core, owner);
                values = self.inner.values.lock_unpoisoned();
            }
        }
        let mut fallback;
        let value = match values.get_mut(&owner) {
            Some(v) => v,
            None => {
                // Only if the greenlet ended between the insert and here: a fresh value.
                fallback = (self.inner.init)();
                &mut fallback
            }
        };
        f(value)
    }

    /// Drops the value of `core` (the calling greenlet) when it ends (at once if it already
    /// has), and remembers the link so that dropping the `Local` first removes it.
    fn link_to_end(&self, core: &CoreRef, owner: Owner) {
        let weak: Weak<Inner<T>> = Arc::downgrade(&self.inner);
        let id = core.id;
        let link = core.add_link(Box::new(move || {
            let Some(inner) = weak.upgrade() else { return };
            let value = inner.values.lock_unpoisoned().remove(&owner);
            inner.links.lock_unpoisoned().remove(&id);
            // Outside the locks: the value's destructor, and the Local's if this was the last
            // handle, may use them.
            drop(value);
            drop(inner);
        }));
        // `core` is the caller, so it cannot end (and run the link) before this insert.
        if let Some(link) = link {
            self.inner
                .links
                .lock_unpoisoned()
                .insert(id, (core.downgrade(), link));
        }
    }

    /// A clone of the caller's value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(|v| v.clone())
    }

    /// Replaces the caller's value; returns the old one.
    pub fn set(&self, value: T) -> T {
        self.with(|v| std::mem::replace(v, value))
    }

    /// How many greenlets (and threads) hold a value now.
    pub fn len(&self) -> usize {
        self.inner.values.lock_unpoisoned().len()
    }

    /// Whether no greenlet holds a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
