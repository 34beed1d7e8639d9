//! Content hashes of finished files, computed once per version of a file: a cache by name
//! checked against (inode, size, mtime), and a map of hashing jobs in flight by
//! (device, inode, size, mtime), so concurrent `get`s and `stat`s of one unhashed file wait
//! for one job instead of each reading the whole file again. The jobs run on a pool of
//! their own ([`Hashes::new`]'s `threads`), so hashing never takes the shared pool's
//! threads from other work, and at most that many files are read for hashing at once.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mayfly::event::AsyncResult;
use mayfly::threadpool::ThreadPool;
use sha2::{Digest, Sha256};

use mayfly_proto::hex;
use mayfly_proto::sha256::HashSink;

/// One version of a file: what a hash is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Version {
    fn of(m: &Metadata) -> Version {
        Version {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        }
    }
}

type Job = Arc<AsyncResult<Result<String, String>>>;

/// A cached hash: the version it is for, the hash, and when it was stored (a sequence
/// number, so a job that started before a newer entry was stored never overwrites it).
type Cached = (Version, String, u64);

#[derive(Default)]
struct Shared {
    cache: Mutex<HashMap<String, Cached>>,
    /// Lock order: `in_flight`, then `cache`.
    in_flight: Mutex<HashMap<Version, Job>>,
    /// The next sequence number for [`Cached`].
    seq: AtomicU64,
    /// Jobs run (each one reads a whole file).
    computed: Arc<AtomicU64>,
}

impl Shared {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The cached hash of `name` if it is for `version`.
    fn cached(&self, name: &str, version: Version) -> Option<String> {
        match self.cache.lock().unwrap().get(name) {
            Some((v, sha, _)) if *v == version => Some(sha.clone()),
            _ => None,
        }
    }

    /// Caches `sha` for `name` at `version`, unless an entry stored at or after `since`
    /// (by a newer upload, or a newer job) is there.
    fn store(&self, name: &str, version: Version, sha: &str, since: u64) {
        let mut cache = self.cache.lock().unwrap();
        if cache.get(name).is_some_and(|(_, _, seq)| *seq >= since) {
            return;
        }
        let seq = self.next_seq();
        cache.insert(name.to_owned(), (version, sha.to_owned(), seq));
    }
}

/// The hashes of a file server's files.
pub(crate) struct Hashes {
    pool: Arc<ThreadPool>,
    shared: Arc<Shared>,
}

impl Hashes {
    /// A cache and a pool of `threads` OS threads for the jobs.
    pub fn new(threads: usize) -> io::Result<Hashes> {
        Ok(Hashes {
            pool: Arc::new(ThreadPool::new(threads)?),
            shared: Arc::new(Shared::default()),
        })
    }

    /// Another cache on the same pool, counting jobs in the same gauge: for another
    /// directory (the cache is by name).
    pub fn sibling(&self) -> Hashes {
        Hashes {
            pool: self.pool.clone(),
            shared: Arc::new(Shared {
                computed: self.shared.computed.clone(),
                ..Shared::default()
            }),
        }
    }

    /// Counts every hashing job in this gauge.
    pub fn count_jobs_in(&mut self, gauge: Arc<AtomicU64>) {
        Arc::get_mut(&mut self.shared)
            .expect("set up before any job")
            .computed = gauge;
    }

    /// Records the hash of `name` as it is now (an upload hashed on its way in).
    pub fn remember(&self, name: &str, meta: &Metadata, sha256: &str) {
        let seq = self.shared.next_seq();
        self.shared
            .cache
            .lock()
            .unwrap()
            .insert(name.to_owned(), (Version::of(meta), sha256.to_owned(), seq));
    }

    /// The sha256 of `file` (open as `name`): cached if this version was hashed, else the
    /// result of the job hashing it now, started by this call if there is none.
    pub fn sha256(&self, name: &str, file: &File, meta: &Metadata) -> io::Result<String> {
        let version = Version::of(meta);
        if let Some(sha) = self.shared.cached(name, version) {
            return Ok(sha);
        }
        let job = {
            let mut in_flight = self.shared.in_flight.lock().unwrap();
            // Again under the `in_flight` lock: a job caches its hash before it leaves the
            // map (under this lock too), so a request finds one or the other, never
            // neither, and never starts a second job.
            if let Some(sha) = self.shared.cached(name, version) {
                return Ok(sha);
            }
            match in_flight.get(&version) {
                Some(job) => job.clone(),
                None => {
                    let mut dup = file.try_clone()?;
                    let (shared, name) = (self.shared.clone(), name.to_owned());
                    let since = shared.next_seq();
                    let job = self.pool.spawn(move || {
                        shared.computed.fetch_add(1, Ordering::Relaxed);
                        let sha = hash_whole(&mut dup).map_err(|e| e.to_string());
                        let mut in_flight = shared.in_flight.lock().unwrap();
                        if let Ok(s) = &sha {
                            shared.store(&name, version, s, since);
                        }
                        in_flight.remove(&version);
                        sha
                    });
                    in_flight.insert(version, job.clone());
                    job
                }
            }
        };
        match job.get(None) {
            Ok(sha) => sha.map_err(io::Error::other),
            Err(e) => {
                // The job panicked and never left the map: take it out for the next try,
                // unless another request already did and a new job is in its place.
                let mut in_flight = self.shared.in_flight.lock().unwrap();
                if in_flight
                    .get(&version)
                    .is_some_and(|j| Arc::ptr_eq(j, &job))
                {
                    in_flight.remove(&version);
                }
                Err(io::Error::other(e.to_string()))
            }
        }
    }
}

fn hash_whole(f: &mut File) -> io::Result<String> {
    f.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    io::copy(f, &mut HashSink(&mut h))?;
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ino: u64) -> Version {
        Version {
            dev: 1,
            ino,
            len: 3,
            mtime_ns: 0,
        }
    }

    #[test]
    fn a_late_job_never_overwrites_a_newer_entry() {
        let s = Shared::default();
        // A job for version 1 starts…
        let since = s.next_seq();
        // …an upload lands version 2 meanwhile…
        let seq = s.next_seq();
        s.cache
            .lock()
            .unwrap()
            .insert("f".into(), (v(2), "new".into(), seq));
        // …then the job finishes: version 2's hash stays.
        s.store("f", v(1), "old", since);
        assert_eq!(s.cached("f", v(2)).as_deref(), Some("new"));
        assert_eq!(s.cached("f", v(1)), None);
        // A job started after that entry replaces it.
        let since = s.next_seq();
        s.store("f", v(3), "newer", since);
        assert_eq!(s.cached("f", v(3)).as_deref(), Some("newer"));
    }
}
