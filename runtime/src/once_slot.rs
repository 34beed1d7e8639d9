//! A slot written once by its one producer and then read, or taken, by any number of
//! consumers: a greenlet's result. The write is a plain store and a release flag, no lock
//! (a greenlet's end is on every spawn's path: a mutex there costs two locked instructions,
//! issue 24); the consumers lock among themselves, and only once it is written.
//!
//! A leaf: it knows nothing of greenlets.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::poison::MutexExt;

/// A value written at most once ([`OnceSlot::write`]), then read under a lock.
///
/// Sound because the value is touched in two phases that never overlap: before the
/// `written` flag is set, only the one writer touches it (its caller's promise, see
/// [`write`](OnceSlot::write)) and every reader sees `None` without touching it; the
/// writer's release store of the flag comes after its write, and a reader's acquire load
/// that sees the flag comes before its read, so the write happens before every read; from
/// then on the writer is done and readers touch it only while holding `readers`.
pub(crate) struct OnceSlot<V> {
    written: AtomicBool,
    value: UnsafeCell<Option<V>>,
    readers: Mutex<()>,
}

// SAFETY: the value moves between threads (written on one, taken on another): `V: Send`.
// Shared access is exclusive per phase (see the type's docs), so `&OnceSlot` across threads
// needs no more than `V: Send`, as for `Mutex<V>`.
unsafe impl<V: Send> Sync for OnceSlot<V> {}

impl<V> OnceSlot<V> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        OnceSlot {
            written: AtomicBool::new(false),
            value: UnsafeCell::new(None),
            readers: Mutex::new(()),
        }
    }

    /// Stores the value and makes it visible to readers.
    ///
    /// # Safety
    /// Called at most once per slot, and never concurrently with itself: the slot's one
    /// producer calls it (a greenlet's result is written by the greenlet's own end, or, for
    /// one that never ran, by whoever ended it instead; never both).
    pub(crate) unsafe fn write(&self, value: V) {
        // SAFETY: no reader touches the value before `written` is set (the type's docs), and
        // there is no other writer (the caller's promise).
        unsafe { *self.value.get() = Some(value) };
        self.written.store(true, Ordering::Release);
    }

    /// Runs `f` on the value: `None` while nothing was written (or after a reader took it).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Option<V>) -> R) -> R {
        if !self.written.load(Ordering::Acquire) {
            return f(&mut None);
        }
        let _only_reader = self.readers.lock_unpoisoned();
        // SAFETY: written (the acquire load above pairs with `write`'s release store), the
        // writer is done, and this is the only reader while it holds the lock.
        f(unsafe { &mut *self.value.get() })
    }
}

impl<V> std::fmt::Debug for OnceSlot<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceSlot")
            .field("written", &self.written.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::OnceSlot;
    use std::sync::Arc;

    #[test]
    fn nothing_is_seen_before_the_write_and_the_value_after_it() {
        let slot = OnceSlot::new();
        assert_eq!(slot.with(|v| v.clone()), None);
        // SAFETY: the only write to this slot.
        unsafe { slot.write(String::from("done")) };
        assert_eq!(slot.with(|v| v.clone()).as_deref(), Some("done"));
        assert_eq!(slot.with(Option::take).as_deref(), Some("done"));
        assert_eq!(slot.with(|v| v.clone()), None, "taken by the reader before");
    }

    #[test]
    fn readers_on_other_threads_see_the_whole_value_once_written() {
        let slot = Arc::new(OnceSlot::new());
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let slot = slot.clone();
                std::thread::spawn(move || loop {
                    if let Some(v) = slot.with(|v: &mut Option<Vec<u64>>| v.clone()) {
                        return v;
                    }
                    std::thread::yield_now();
                })
            })
            .collect();
        // SAFETY: the only write to this slot.
        unsafe { slot.write((0..1000).collect()) };
        for r in readers {
            assert_eq!(r.join().unwrap(), (0..1000).collect::<Vec<_>>());
        }
    }
}
