//! Disk quotas of the file server's users: how many bytes a home holds, and room reserved
//! for the uploads under way, so that an upload that would pass the user's quota is refused
//! before its bytes are read — never cut off half-written.
//!
//! An upload reserves every byte it will write (`filesize - offset`) until it ends: while
//! it runs, its temporary file and the file it replaces are both on disk. The home's bytes
//! are counted (regular files, partial uploads included; upload temporaries left out, they
//! are the reservations) by walking it through its open handle, symlinks not followed, on
//! the thread pool, for each upload. The walk stops past [`DEFAULT_MAX_HOME_ENTRIES`]
//! entries and the upload is refused: a home that big needs a real quota system.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default of the most entries a home's walk counts before it gives up
/// (`--max-home-entries`).
pub const DEFAULT_MAX_HOME_ENTRIES: u64 = 100_000;

/// Names of upload temporaries (the store's), left out of the count.
const UPLOAD_PREFIX: &str = ".mayfly-upload.";

/// Why an upload does not fit.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// Over the quota.
    #[error("quota exceeded: {user} may hold {quota} bytes and holds {used} (with {in_flight} being uploaded); {wanted} more do not fit")]
    Exceeded {
        /// The user.
        user: String,
        /// The quota.
        quota: u64,
        /// Bytes on disk now.
        used: u64,
        /// Bytes reserved by uploads under way.
        in_flight: u64,
        /// Bytes this upload would write.
        wanted: u64,
    },
    /// The home could not be measured.
    #[error("the home directory could not be measured: {0}")]
    Io(#[from] io::Error),
}

/// Bytes reserved by each user's uploads under way.
#[derive(Debug, Default)]
pub struct Quotas {
    in_flight: Mutex<HashMap<String, u64>>,
    max_entries: u64,
}

/// Room reserved for one upload; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    quotas: Arc<Quotas>,
    user: String,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut m = self.quotas.in_flight.lock().unwrap();
        if let Some(n) = m.get_mut(&self.user) {
            *n = n.saturating_sub(self.bytes);
            if *n == 0 {
                m.remove(&self.user);
            }
        }
    }
}

impl Quotas {
    /// No reservations; walks stop past `max_entries` entries.
    pub fn new(max_entries: u64) -> Arc<Quotas> {
        Arc::new(Quotas {
            in_flight: Mutex::default(),
            max_entries,
        })
    }

    /// Bytes `user`'s uploads under way have reserved.
    pub fn in_flight(&self, user: &str) -> u64 {
        self.in_flight
            .lock()
            .unwrap()
            .get(user)
            .copied()
            .unwrap_or(0)
    }

    /// Reserves `bytes` for an upload of `user` (whose home is `home`, quota `quota`).
    ///
    /// # Errors
    /// [`QuotaError::Exceeded`] if they do not fit; [`QuotaError::Io`] if the home cannot
    /// be walked.
    pub fn reserve(
        self: &Arc<Self>,
        user: &str,
        quota: u64,
        home: &File,
        bytes: u64,
    ) -> Result<Reservation, QuotaError> {
        let used = home_usage(home, self.max_entries)?;
        let mut m = self.in_flight.lock().unwrap();
        let in_flight = m.get(user).copied().unwrap_or(0);
        if used.saturating_add(in_flight).saturating_add(bytes) > quota {
            return Err(QuotaError::Exceeded {
                user: user.to_owned(),
                quota,
                used,
                in_flight,
                wanted: bytes,
            });
        }
        *m.entry(user.to_owned()).or_default() += bytes;
        Ok(Reservation {
            quotas: self.clone(),
            user: user.to_owned(),
            bytes,
        })
    }
}

/// Bytes the regular files under `home` hold (upload temporaries left out), walked on the
/// thread pool through the handle, symlinks not followed.
///
/// # Errors
/// The walk's error, or `Other` past `max_entries` entries.
pub fn home_usage(home: &File, max_entries: u64) -> io::Result<u64> {
    let dir = home.try_clone()?;
    mayfly::threadpool::apply(move || {
        let root = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        let mut entries = 0u64;
        let total = walk(&root, &mut entries, max_entries);
        drop(dir);
        total
    })
    .map_err(|e| io::Error::other(e.to_string()))?
}

fn walk(dir: &Path, entries: &mut u64, max: u64) -> io::Result<u64> {
    let mut total = 0u64;
    for e in fs::read_dir(dir)? {
        let e = e?;
        *entries += 1;
        if *entries > max {
            return Err(io::Error::other(format!(
                "more than {max} entries in the home"
            )));
        }
        // DirEntry::metadata does not follow symlinks. An entry that is gone by the time it
        // is looked at (another session's upload renamed into place, a temporary removed, a
        // directory removed) is skipped: it was moving, and the walk counts what is there.
        let meta = match e.metadata() {
            Ok(m) => m,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if meta.is_dir() {
            let sub = match walk(&e.path(), entries, max) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::NotFound => 0,
                Err(err) => return Err(err),
            };
            total = total.saturating_add(sub);
        } else if meta.is_file() && !e.file_name().to_string_lossy().starts_with(UPLOAD_PREFIX) {
            total = total.saturating_add(meta.len());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_until_dropped_and_the_walk_skips_symlinks_and_temporaries() {
        let root = std::env::temp_dir().join(format!("mayfly-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("home/a/b")).unwrap();
        std::fs::create_dir_all(root.join("big")).unwrap();
        std::fs::write(root.join("big/x"), vec![0u8; 10_000]).unwrap();
        std::fs::write(root.join("home/one"), b"12345").unwrap();
        std::fs::write(root.join("home/a/b/two"), b"123").unwrap();
        std::fs::write(root.join("home/.mayfly-upload.1.2"), b"in flight").unwrap();
        std::os::unix::fs::symlink(root.join("big"), root.join("home/a/link")).unwrap();
        let home = File::open(root.join("home")).unwrap();
        assert_eq!(home_usage(&home, 100).unwrap(), 8);
        assert!(home_usage(&home, 2).is_err(), "past the entry limit");

        let q = Quotas::new(100);
        let r = q.reserve("alice", 20, &home, 10).unwrap();
        assert_eq!(q.in_flight("alice"), 10);
        // 8 on disk + 10 reserved + 3 > 20.
        let e = q.reserve("alice", 20, &home, 3).unwrap_err();
        assert!(e.to_string().contains("quota exceeded"), "{e}");
        // Another user's room is their own.
        let _b = q.reserve("bob", 20, &home, 12).unwrap();
        drop(r);
        assert_eq!(q.in_flight("alice"), 0);
        assert!(q.reserve("alice", 20, &home, 3).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
