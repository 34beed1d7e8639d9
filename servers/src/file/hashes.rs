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

#[derive(Default)]
struct Shared {
    cache: Mutex<HashMap<String, (Version, String)>>,
    in_flight: Mutex<HashMap<Version, Job>>,
    /// Jobs run (each one reads a whole file).
    computed: Arc<AtomicU64>,
}

/// The hashes of a file server's files.
pub(crate) struct Hashes {
    pool: ThreadPool,
    shared: Arc<Shared>,
}

impl Hashes {
    /// A cache and a pool of `threads` OS threads for the jobs.
    pub fn new(threads: usize) -> io::Result<Hashes> {
        Ok(Hashes {
            pool: ThreadPool::new(threads)?,
            shared: Arc::new(Shared::default()),
        })
    }

    /// Counts every hashing job in this gauge.
    pub fn count_jobs_in(&mut self, gauge: Arc<AtomicU64>) {
        Arc::get_mut(&mut self.shared)
            .expect("set up before any job")
            .computed = gauge;
    }

    /// Records the hash of `name` as it is now (an upload hashed on its way in).
    pub fn remember(&self, name: &str, meta: &Metadata, sha256: &str) {
        self.shared
            .cache
            .lock()
            .unwrap()
            .insert(name.to_owned(), (Version::of(meta), sha256.to_owned()));
    }

    /// The sha256 of `file` (open as `name`): cached if this version was hashed, else the
    /// result of the job hashing it now, started by this call if there is none.
    pub fn sha256(&self, name: &str, file: &File, meta: &Metadata) -> io::Result<String> {
        let version = Version::of(meta);
        if let Some((v, sha)) = self.shared.cache.lock().unwrap().get(name) {
            if *v == version {
                return Ok(sha.clone());
            }
        }
        let job = {
            let mut in_flight = self.shared.in_flight.lock().unwrap();
            match in_flight.get(&version) {
                Some(job) => job.clone(),
                None => {
                    let mut dup = file.try_clone()?;
                    let (shared, name) = (self.shared.clone(), name.to_owned());
                    let job = self.pool.spawn(move || {
                        shared.computed.fetch_add(1, Ordering::Relaxed);
                        let sha = hash_whole(&mut dup).map_err(|e| e.to_string());
                        // Cached before the job leaves the map: a request in between finds
                        // one or the other, never starts a second job.
                        if let Ok(s) = &sha {
                            shared
                                .cache
                                .lock()
                                .unwrap()
                                .insert(name, (version, s.clone()));
                        }
                        shared.in_flight.lock().unwrap().remove(&version);
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
                // The job panicked and never left the map: take it out for the next try.
                self.shared.in_flight.lock().unwrap().remove(&version);
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
