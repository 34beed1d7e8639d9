//! The book of resumable partial uploads: which exist, how many bytes each really holds on
//! disk, which is being written now, and which to evict first (the least recently touched
//! one not in use). Pure bookkeeping; [`super::store`] does the file operations.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One partial: real bytes on disk and when it was last touched (a sequence number, so
/// the order is exact even when file times are coarse).
#[derive(Debug, Clone, Copy)]
struct Slot {
    bytes: u64,
    seq: u64,
}

/// Every partial upload the server keeps, with totals published to two gauges.
#[derive(Debug, Default)]
pub(crate) struct Book {
    slots: HashMap<String, Slot>,
    busy: HashSet<String>,
    total: u64,
    seq: u64,
    gauges: Option<(Arc<AtomicU64>, Arc<AtomicU64>)>,
}

impl Book {
    /// A book of the partials found on disk: `(name, bytes)`, oldest first.
    pub fn load(found: impl IntoIterator<Item = (String, u64)>) -> Book {
        let mut b = Book::default();
        for (name, bytes) in found {
            b.set(&name, bytes);
        }
        b
    }

    /// Publishes the count and the bytes to these gauges from now on.
    pub fn publish_to(&mut self, count: Arc<AtomicU64>, bytes: Arc<AtomicU64>) {
        self.gauges = Some((count, bytes));
        self.publish();
    }

    fn publish(&self) {
        if let Some((c, b)) = &self.gauges {
            c.store(self.slots.len() as u64, Ordering::Relaxed);
            b.store(self.total, Ordering::Relaxed);
        }
    }

    /// Partials kept.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// Their bytes on disk.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bytes of `name`'s partial (0 if it has none).
    pub fn bytes(&self, name: &str) -> u64 {
        self.slots.get(name).map_or(0, |s| s.bytes)
    }

    /// Whether `name` has a partial.
    pub fn has(&self, name: &str) -> bool {
        self.slots.contains_key(name)
    }

    /// Records that `name` holds `bytes` now, and touches it (it becomes the newest).
    pub fn set(&mut self, name: &str, bytes: u64) {
        self.seq += 1;
        let seq = self.seq;
        let old = self
            .slots
            .insert(name.to_owned(), Slot { bytes, seq })
            .map_or(0, |s| s.bytes);
        self.total = self.total - old + bytes;
        self.publish();
    }

    /// Adds `n` bytes to `name`'s partial (which must be in the book).
    pub fn grow(&mut self, name: &str, n: u64) {
        let bytes = self.slots.get(name).map_or(0, |s| s.bytes) + n;
        self.set(name, bytes);
    }

    /// Forgets `name`'s partial.
    pub fn remove(&mut self, name: &str) {
        if let Some(s) = self.slots.remove(name) {
            self.total -= s.bytes;
            self.publish();
        }
    }

    /// Marks `name` as being written; false if it already is.
    pub fn claim(&mut self, name: &str) -> bool {
        self.busy.insert(name.to_owned())
    }

    /// Unmarks `name`.
    pub fn release(&mut self, name: &str) {
        self.busy.remove(name);
    }

    /// Whether `name` is being written now.
    pub fn is_busy(&self, name: &str) -> bool {
        self.busy.contains(name)
    }

    /// How many partials nobody is writing, other than `except`, and their bytes: what
    /// evicting every one that may go would free.
    pub fn idle(&self, except: &str) -> (usize, u64) {
        self.slots
            .iter()
            .filter(|(n, _)| n.as_str() != except && !self.busy.contains(n.as_str()))
            .fold((0, 0), |(c, b), (_, s)| (c + 1, b + s.bytes))
    }

    /// The least recently touched partial that nobody is writing, other than `except`.
    pub fn oldest_idle(&self, except: &str) -> Option<String> {
        self.slots
            .iter()
            .filter(|(n, _)| n.as_str() != except && !self.busy.contains(n.as_str()))
            .min_by_key(|(_, s)| s.seq)
            .map(|(n, _)| n.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_sets_grows_and_removes() {
        let mut b = Book::load([("a".to_owned(), 5), ("b".to_owned(), 7)]);
        assert_eq!((b.count(), b.total()), (2, 12));
        b.grow("a", 3);
        b.set("b", 1);
        assert_eq!((b.count(), b.total()), (2, 9));
        b.remove("a");
        b.remove("nosuch");
        assert_eq!((b.count(), b.total()), (1, 1));
    }

    #[test]
    fn the_oldest_idle_partial_goes_first_never_a_busy_one() {
        let mut b = Book::load([("old".to_owned(), 1), ("mid".to_owned(), 1)]);
        b.set("new", 1);
        assert_eq!(b.oldest_idle("x").as_deref(), Some("old"));
        assert!(b.claim("old"));
        assert!(!b.claim("old"));
        assert_eq!(b.oldest_idle("x").as_deref(), Some("mid"));
        assert_eq!(b.oldest_idle("mid").as_deref(), Some("new"));
        b.grow("mid", 1); // touched: now the newest
        assert_eq!(b.oldest_idle("x").as_deref(), Some("new"));
        b.release("old");
        assert_eq!(b.oldest_idle("x").as_deref(), Some("old"));
    }

    #[test]
    fn idle_counts_what_eviction_could_free() {
        let mut b = Book::load([("a".to_owned(), 5), ("b".to_owned(), 7)]);
        b.set("c", 11);
        assert_eq!(b.idle("x"), (3, 23));
        assert!(b.claim("b"));
        assert_eq!(b.idle("x"), (2, 16));
        assert_eq!(b.idle("c"), (1, 5));
    }

    #[test]
    fn gauges_show_the_count_and_the_bytes() {
        let (c, n) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut b = Book::load([("a".to_owned(), 5)]);
        b.publish_to(c.clone(), n.clone());
        b.set("b", 10);
        assert_eq!(
            (c.load(Ordering::Relaxed), n.load(Ordering::Relaxed)),
            (2, 15)
        );
        b.remove("a");
        assert_eq!(
            (c.load(Ordering::Relaxed), n.load(Ordering::Relaxed)),
            (1, 10)
        );
    }
}
