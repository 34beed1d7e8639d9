//! One [`Store`] per directory a logged-in session works in, shared by every session in that
//! directory (so two uploads of one name there still exclude each other, and a partial
//! upload is found by the session that resumes it), kept while some session uses it.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::hashes::Hashes;
use super::store::{PartialLimits, Store};

/// The stores of the directories in use, by (device, inode).
pub(crate) struct DirStores {
    open: Mutex<HashMap<(u64, u64), Weak<Store>>>,
    fsync: bool,
    limits: PartialLimits,
    partial_ttl: Duration,
    hashes: Hashes,
}

impl DirStores {
    /// No store open yet; each one made will have these settings and a hash cache on
    /// `hashes`' pool.
    pub fn new(fsync: bool, limits: PartialLimits, partial_ttl: Duration, hashes: Hashes) -> Self {
        DirStores {
            open: Mutex::default(),
            fsync,
            limits,
            partial_ttl,
            hashes,
        }
    }

    /// Deletes the partial uploads older than the partial TTL in every directory in use (the
    /// others are checked when they next come into use).
    pub fn expire_partials(&self) {
        let open = self.open.lock().unwrap();
        for store in open.values().filter_map(Weak::upgrade) {
            store.expire_partials(self.partial_ttl);
        }
    }

    /// The store of the open directory `dir`: the one in use, or a new one (which deletes
    /// the directory's partial uploads older than the partial TTL).
    ///
    /// # Errors
    /// `fstat` or the store's open fails.
    pub fn get(&self, dir: File) -> io::Result<Arc<Store>> {
        let meta = dir.metadata()?;
        let key = (meta.dev(), meta.ino());
        let mut open = self.open.lock().unwrap();
        if let Some(store) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(store);
        }
        open.retain(|_, w| w.strong_count() > 0);
        let store = Store::from_dir(dir, self.fsync, self.limits, self.hashes.sibling())?;
        store.expire_partials(self.partial_ttl);
        open.insert(key, Arc::downgrade(&store));
        Ok(store)
    }
}
