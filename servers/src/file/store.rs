//! The file server's directory: opening files without following symlinks, uploads that
//! land atomically or not at all, resumable partial uploads, and a cache of content hashes.
//!
//! The root is opened once as a directory handle (`O_DIRECTORY | O_NOFOLLOW`) and every
//! file, finished, temporary or partial, is reached relative to it (`/proc/self/fd/N/NAME`,
//! the last component opened with `O_NOFOLLOW`): replacing the root's path with a symlink
//! after the start changes nothing. Files with more than one hard link are neither served
//! nor listed (the other link may be outside the root).
//!
//! Layout under the root:
//! - `NAME`: finished files, the only thing `list` shows and `get` serves.
//! - `.mayfly-upload.<pid>.<n>`: an upload in progress; removed on any failure, renamed
//!   onto `NAME` only when complete (and verified if the client sent a hash). Leftovers from
//!   a crashed server are removed when the store opens (at start; with `--users`, when a
//!   directory comes into use); those of another live process (a `--workers` sibling) are
//!   left to it.
//! - `.mayfly-partial/NAME`: a resumable upload that was cut off, kept for `put` with
//!   `offset`. Only uploads that ask for it (`"resumable": true`) leave one. The directory is
//!   opened once, refusing a symlink (`O_NOFOLLOW | O_DIRECTORY`), and every partial is
//!   reached through that open handle (`/proc/self/fd/N/NAME`), so a symlink planted as
//!   `.mayfly-partial` can never lead reads, writes or expiry outside the root.
//! - `.mayfly-partial/.mayfly-trash.<pid>.<n>`: an evicted partial, renamed there under the
//!   book's lock and unlinked on the thread pool (leftovers are removed at start).
//!
//! Partials are bounded ([`PartialLimits`]): at most `max_count` of them and `max_bytes` of
//! real bytes on disk together (a resumable upload declaring more than `max_bytes` is
//! refused before any byte; one declaring less reserves nothing, its bytes count as they
//! are written), and never written while the filesystem's free space is below
//! `min_free`. Over a cap, the least recently touched partial not being written is deleted
//! first; when deleting every one that may go still would not make room, none is deleted
//! and the upload fails at once (`busy` or `disk_full`). Space is checked before the count
//! cap evicts anything.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use mayfly_proto::file::Entry;
use mayfly_proto::hex;
use mayfly_proto::sha256::{HashPipeline, HashSink};

use super::hashes::Hashes;
use super::partials::Book;

/// The bounds on resumable partial uploads (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartialLimits {
    /// Most partials kept at once.
    pub max_count: usize,
    /// Most bytes all partials hold together; also the largest resumable upload.
    pub max_bytes: u64,
    /// Free space on the filesystem a partial must leave.
    pub min_free: u64,
}

const UPLOAD_PREFIX: &str = ".mayfly-upload.";
const PARTIAL_DIR: &str = ".mayfly-partial";
/// An evicted partial, renamed in the partial directory until the pool unlinks it (a name
/// no partial can have: names never start with a dot).
const TRASH_PREFIX: &str = ".mayfly-trash.";

/// How long one `statvfs` of the partials' filesystem is trusted, adjusted meanwhile by the
/// partial bytes reserved and evicted, so a partial upload does not call it per chunk.
pub const FREE_SPACE_TTL: Duration = Duration::from_secs(1);

fn mtime_ns(m: &Metadata) -> i128 {
    m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
}

/// The directory a file server serves.
pub(crate) struct Store {
    /// The root, opened once as a directory: every file is reached through this handle
    /// (`/proc/self/fd/N/NAME`), so the root's path being swapped for a symlink afterwards
    /// leads nowhere else.
    root_dir: File,
    /// `/proc/self/fd/N` of `root_dir`.
    root: PathBuf,
    fsync: bool,
    hashes: Hashes,
    limits: PartialLimits,
    /// Partials on disk and the ones being written now.
    book: Mutex<Book>,
    seq: AtomicU64,
    /// `list` requests running now.
    lists: AtomicUsize,
    /// `.mayfly-partial`, opened without following symlinks, and its inode.
    partial_dir: Mutex<Option<(File, u64)>>,
    /// The last `statvfs` of the partials' filesystem (bytes free) and when; locked only
    /// under `book`.
    free_cache: Mutex<Option<(Instant, u64)>>,
}

impl Store {
    /// Opens `root` (which must be a directory) and removes upload leftovers.
    pub fn open(
        root: &Path,
        fsync: bool,
        limits: PartialLimits,
        hashes: Hashes,
    ) -> io::Result<Arc<Store>> {
        let root = root
            .canonicalize()
            .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("root {} is not a directory", root.display()),
            ));
        }
        let root_dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(&root)?;
        Store::from_dir(root_dir, fsync, limits, hashes)
    }

    /// A store on a directory already open (`O_DIRECTORY`, reached without following
    /// symlinks: a user's directory resolved under the home's handle), removing upload
    /// leftovers as [`open`](Self::open) does.
    pub fn from_dir(
        root_dir: File,
        fsync: bool,
        limits: PartialLimits,
        hashes: Hashes,
    ) -> io::Result<Arc<Store>> {
        let root = PathBuf::from(format!("/proc/self/fd/{}", root_dir.as_raw_fd()));
        for entry in fs::read_dir(&root)?.flatten() {
            if is_leftover(&entry.file_name().to_string_lossy()) {
                let _ = fs::remove_file(entry.path());
            }
        }
        let store = Arc::new(Store {
            root_dir,
            root,
            fsync,
            hashes,
            limits,
            book: Mutex::new(Book::default()),
            seq: AtomicU64::new(0),
            lists: AtomicUsize::new(0),
            partial_dir: Mutex::new(None),
            free_cache: Mutex::new(None),
        });
        *store.book.lock().unwrap() = Book::load(store.partials_on_disk());
        Ok(store)
    }

    /// Shows the partials' count and bytes in these gauges.
    pub fn publish_partials(&self, count: Arc<AtomicU64>, bytes: Arc<AtomicU64>) {
        self.book.lock().unwrap().publish_to(count, bytes);
    }

    /// The partials in the partial directory, `(name, bytes)`, oldest first.
    fn partials_on_disk(&self) -> Vec<(String, u64)> {
        let Ok(dir) = self.partial_dir(false) else {
            return Vec::new();
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut found: Vec<(i128, String, u64)> = entries
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                let name = e.file_name().into_string().ok()?;
                if name.starts_with(TRASH_PREFIX) {
                    // Evicted before a crash: never a partial.
                    let _ = fs::remove_file(e.path());
                    return None;
                }
                Some((mtime_ns(&meta), name, meta.len()))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, n, b)| (n, b)).collect()
    }

    /// Deletes `name`'s partial (the caller checked nobody is writing it). Under the book's
    /// lock only a rename to a trash name happens; the unlink, which can take a while for a
    /// big file, runs on the thread pool.
    fn evict_partial(&self, book: &mut Book, name: &str) {
        let bytes = book.bytes(name);
        book.remove(name);
        if let Some((_, free)) = self.free_cache.lock().unwrap().as_mut() {
            // Freed as soon as the pool unlinks it.
            *free = free.saturating_add(bytes);
        }
        let Ok(dir) = self.partial_dir_handle() else {
            return;
        };
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let trash = format!("{TRASH_PREFIX}{}.{n}", std::process::id());
        let base = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        if fs::rename(base.join(name), base.join(&trash)).is_ok() {
            // `dir` (a handle of its own) goes along: `base` stays that directory's.
            mayfly::threadpool::spawn(move || {
                let _ = fs::remove_file(base.join(trash));
                drop(dir);
            });
        }
    }

    /// The partial directory's handle, duplicated (see [`partial_dir`](Self::partial_dir)).
    fn partial_dir_handle(&self) -> io::Result<File> {
        self.partial_dir(false)?;
        let cached = self.partial_dir.lock().unwrap();
        cached.as_ref().expect("just opened").0.try_clone()
    }

    /// Makes room for `n` more bytes of `name`'s partial: under the bytes cap and above the
    /// free-space headroom, evicting the oldest idle partials first. Counts the bytes in.
    fn reserve_partial(&self, name: &str, n: u64) -> io::Result<()> {
        let mut book = self.book.lock().unwrap();
        self.make_room(&mut book, name, n)?;
        book.grow(name, n);
        if let Some((_, free)) = self.free_cache.lock().unwrap().as_mut() {
            *free = free.saturating_sub(n);
        }
        Ok(())
    }

    /// Evicts the oldest idle partials (never `name`) until `n` more bytes fit under the
    /// bytes cap and above the free-space headroom. When evicting every idle partial could
    /// not get there, fails at once and evicts none.
    fn make_room(&self, book: &mut Book, name: &str, n: u64) -> io::Result<()> {
        let (_, idle_bytes) = book.idle(name);
        let over_cap = (book.total().saturating_add(n)).saturating_sub(self.limits.max_bytes);
        if over_cap > idle_bytes {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "partial uploads would hold more than {} bytes (--max-partial-bytes)",
                    self.limits.max_bytes
                ),
            ));
        }
        let full = |free: u64| {
            io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "disk full: {free} bytes free, partial uploads leave {} (--min-free-space)",
                    self.limits.min_free
                ),
            )
        };
        let free = self.free_space()?;
        let short = self.limits.min_free.saturating_add(n).saturating_sub(free);
        // Evicting frees what the cap needs and what the disk needs at once.
        if short.max(over_cap) > idle_bytes {
            return Err(full(free));
        }
        while book.total().saturating_add(n) > self.limits.max_bytes {
            let Some(victim) = book.oldest_idle(name) else {
                break; // not reached: the check above
            };
            self.evict_partial(book, &victim);
        }
        loop {
            let free = if short == 0 { free } else { self.free_space()? };
            if free >= self.limits.min_free.saturating_add(n) {
                return Ok(());
            }
            // Block rounding, or a file's bytes still held open elsewhere, can leave the
            // disk short after the count said otherwise.
            let Some(victim) = book.oldest_idle(name) else {
                return Err(full(free));
            };
            self.evict_partial(book, &victim);
        }
    }

    /// Bytes free for unprivileged users on the partial directory's filesystem: a `statvfs`
    /// at most [`FREE_SPACE_TTL`] old, adjusted by the partial bytes reserved and evicted
    /// since. Called under the book's lock.
    fn free_space(&self) -> io::Result<u64> {
        let mut cache = self.free_cache.lock().unwrap();
        if let Some((at, free)) = *cache {
            if at.elapsed() < FREE_SPACE_TTL {
                return Ok(free);
            }
        }
        let free = self.statvfs_free()?;
        *cache = Some((Instant::now(), free));
        Ok(free)
    }

    /// Bytes free for unprivileged users on the partial directory's filesystem, now.
    fn statvfs_free(&self) -> io::Result<u64> {
        let dir = self.partial_dir(true)?;
        let c = std::ffi::CString::new(dir.into_os_string().into_encoded_bytes())
            .map_err(io::Error::other)?;
        // SAFETY: statvfs is plain data, all-zero is a valid value; `c` is a NUL-terminated
        // path and `st` a valid, writable statvfs for the call.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }

    /// The partial-upload directory as a path through its open handle
    /// (`/proc/self/fd/N`), creating it first if `create`. A symlink (or anything but a
    /// directory) in its place is refused, never followed; a directory replaced since it was
    /// opened is opened again.
    fn partial_dir(&self, create: bool) -> io::Result<PathBuf> {
        let path = self.root.join(PARTIAL_DIR);
        if create {
            match fs::create_dir(&path) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        let meta = fs::symlink_metadata(&path)?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{PARTIAL_DIR} in the root is not a directory (a symlink?); refused"),
            ));
        }
        let mut cached = self.partial_dir.lock().unwrap();
        if cached.as_ref().is_none_or(|(_, ino)| *ino != meta.ino()) {
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(&path)?;
            let ino = dir.metadata()?.ino();
            *cached = Some((dir, ino));
        }
        let (dir, _) = cached.as_ref().expect("just set");
        Ok(PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())))
    }

    /// Removes resumable partial uploads untouched for `ttl` (except ones being resumed now).
    /// Returns how many went.
    pub fn expire_partials(&self, ttl: std::time::Duration) -> usize {
        let Ok(dir) = self.partial_dir(false) else {
            return 0;
        };
        let Ok(entries) = mayfly::fs::read_dir(dir) else {
            return 0;
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut book = self.book.lock().unwrap();
            if book.is_busy(&name) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= ttl);
            if old && fs::remove_file(entry.path()).is_ok() {
                book.remove(&name);
                removed += 1;
            }
        }
        removed
    }

    /// Opens a finished file for reading, relative to the root's handle. Symlinks are never
    /// followed (ELOOP becomes a refusal); anything but a regular file, and a file with
    /// other hard links (one may be outside the root), is refused.
    /// The open and the `fstat` run on the thread pool (`mayfly::fs`).
    pub fn open_file(&self, name: &str) -> io::Result<(mayfly::fs::File, Metadata)> {
        let file = mayfly::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(self.root.join(name))
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{name:?} is a symlink; symlinks are not served"),
                ),
                _ => e,
            })?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{name:?} is not a regular file"),
            ));
        }
        if meta.nlink() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{name:?} has other hard links (maybe outside the root); not served"),
            ));
        }
        Ok((file, meta))
    }

    /// The sha256 of an open file: cached if this version of it (inode, size, mtime) was
    /// hashed, else from the one job hashing it (see [`Hashes`]), never on the worker.
    pub fn sha256(&self, name: &str, file: &File, meta: &Metadata) -> io::Result<String> {
        self.hashes.sha256(name, file, meta)
    }

    fn remember(&self, name: &str, meta: &Metadata, sha256: &str) {
        self.hashes.remember(name, meta, sha256);
    }

    /// A slot for one `list` while fewer than `max` run; freed when the guard drops.
    pub fn list_slot(&self, max: usize) -> Option<ListSlot<'_>> {
        self.lists
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ListSlot(&self.lists))
    }

    /// One page of finished files in name order: at most `limit` after `after`, and
    /// whether more follow. Hidden entries, symlinks and directories are left out. Runs on
    /// the thread pool, never on the worker: a directory of 100,000 names takes a while.
    pub fn list(&self, after: Option<String>, limit: usize) -> io::Result<(Vec<Entry>, bool)> {
        // Its own handle: the pool thread may outlive this request.
        let dir = self.root_dir.try_clone()?;
        mayfly::threadpool::apply(move || {
            let root = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
            list_page(&root, after.as_deref(), limit)
        })
        .map_err(|e| io::Error::other(e.to_string()))?
    }

    fn partial_path(&self, name: &str) -> io::Result<PathBuf> {
        Ok(self.partial_dir(false)?.join(name))
    }

    /// Bytes kept from a cut-off resumable upload of `name`, if any.
    pub fn partial_len(&self, name: &str) -> Option<u64> {
        mayfly::fs::symlink_metadata(self.partial_path(name).ok()?)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Starts an upload of `name` (`filesize` bytes in all). A resumable upload writes to the
    /// partial file and, with `offset > 0`, continues one that holds exactly `offset` bytes.
    pub fn begin_upload(
        self: &Arc<Self>,
        name: &str,
        filesize: u64,
        resumable: bool,
        offset: u64,
    ) -> Result<Upload, UploadError> {
        if !resumable {
            if offset != 0 {
                return Err(UploadError::Offset(format!(
                    "offset {offset} needs \"resumable\": true"
                )));
            }
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let path = self
                .root
                // Not the name itself: a 255-byte name would make the temp name too long.
                .join(format!("{UPLOAD_PREFIX}{}.{n}", std::process::id()));
            let file = mayfly::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
                .map_err(UploadError::Io)?;
            return Ok(Upload {
                store: self.clone(),
                name: name.to_owned(),
                path,
                file,
                hashing: Some(HashPipeline::new(Sha256::new())),
                resumable,
                holds_partial: false,
                done: false,
            });
        }
        if filesize > self.limits.max_bytes {
            return Err(UploadError::TooLarge(format!(
                "a resumable upload is limited to {} bytes (--max-partial-bytes); \
                 send {filesize} bytes without \"resumable\"",
                self.limits.max_bytes
            )));
        }
        if !self.book.lock().unwrap().claim(name) {
            return Err(UploadError::Busy(name.to_owned()));
        }
        let release = BusyRelease(self.clone(), name.to_owned());
        let path = self.partial_dir(true).map_err(UploadError::Io)?.join(name);
        let have = self.partial_len(name).unwrap_or(0);
        if offset != have {
            return Err(UploadError::Offset(format!(
                "offset {offset} does not match the {have} bytes already received"
            )));
        }
        // Any failure from here on: a fresh partial (offset 0) leaves neither a file nor a
        // book entry (an entry with no file would take a --max-partials slot for ever); a
        // partial left earlier is started over anyway.
        let fresh = FreshPartial(self, name, offset == 0);
        {
            let mut book = self.book.lock().unwrap();
            // Space first: no partial is evicted for the count cap when the upload would
            // then fail for want of space anyway.
            self.make_room(&mut book, name, 0)
                .map_err(UploadError::Io)?;
            if !book.has(name) && book.count() >= self.limits.max_count {
                let (idle, _) = book.idle(name);
                if book.count() - idle >= self.limits.max_count {
                    return Err(UploadError::Full(format!(
                        "{} resumable uploads are being written now (--max-partials)",
                        book.count() - idle
                    )));
                }
                while book.count() >= self.limits.max_count {
                    let victim = book.oldest_idle(name).expect("counted above");
                    self.evict_partial(&mut book, &victim);
                }
            }
            book.set(name, offset);
        }
        let mut file = mayfly::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(offset == 0)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o644)
            .open(&path)
            .map_err(UploadError::Io)?;
        let mut hasher = Sha256::new();
        if offset > 0 {
            let mut dup = file.as_std().try_clone().map_err(UploadError::Io)?;
            hasher = mayfly::threadpool::apply(move || -> io::Result<Sha256> {
                let mut h = Sha256::new();
                dup.seek(SeekFrom::Start(0))?;
                io::copy(&mut (&mut dup).take(offset), &mut HashSink(&mut h))?;
                Ok(h)
            })
            .map_err(|e| UploadError::Io(io::Error::other(e.to_string())))?
            .map_err(UploadError::Io)?;
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(UploadError::Io)?;
        std::mem::forget(fresh);
        std::mem::forget(release);
        Ok(Upload {
            store: self.clone(),
            name: name.to_owned(),
            path,
            file,
            hashing: Some(HashPipeline::new(hasher)),
            resumable,
            holds_partial: true,
            done: false,
        })
    }
}

/// An upload temporary no upload is writing: this process's (a store is opened before any
/// upload of its own), or one of a process that is gone. Another live process's (a
/// `--workers` sibling's) is left alone.
fn is_leftover(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(UPLOAD_PREFIX) else {
        return false;
    };
    let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<i32>().ok()) else {
        return true;
    };
    if pid <= 0 || pid as u32 == std::process::id() {
        return true;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    !alive
}

/// [`Store::list`]'s work: the names first (no `stat`), then `stat` for the page only.
fn list_page(root: &Path, after: Option<&str>, limit: usize) -> io::Result<(Vec<Entry>, bool)> {
    let mut names = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if after.is_some_and(|a| name.as_str() <= a) || super::names::check(&name).is_err() {
            continue;
        }
        names.push(name);
    }
    names.sort_unstable();
    let mut out = Vec::with_capacity(limit.min(names.len()));
    let mut rest = names.into_iter();
    for name in rest.by_ref() {
        if out.len() == limit {
            return Ok((out, true));
        }
        let Ok(meta) = fs::symlink_metadata(root.join(&name)) else {
            continue;
        };
        // Not served (see `Store::open_file`), so not listed.
        if meta.is_file() && meta.nlink() == 1 {
            out.push(Entry {
                filename: name,
                filesize: meta.len(),
                mtime: meta.mtime(),
            });
        }
    }
    Ok((out, false))
}

/// A running `list`, counted until dropped.
pub(crate) struct ListSlot<'a>(&'a AtomicUsize);

impl Drop for ListSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Until forgotten: removes `name`'s partial, file and book entry, if the flag is set.
struct FreshPartial<'a>(&'a Store, &'a str, bool);

impl Drop for FreshPartial<'_> {
    fn drop(&mut self) {
        if self.2 {
            self.0
                .evict_partial(&mut self.0.book.lock().unwrap(), self.1);
        }
    }
}

struct BusyRelease(Arc<Store>, String);

impl Drop for BusyRelease {
    fn drop(&mut self) {
        self.0.book.lock().unwrap().release(&self.1);
    }
}

/// Why an upload did not land. Every variant leaves the old file, if any, untouched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    #[error("{0}")]
    Io(io::Error),
    #[error("{0}")]
    Offset(String),
    #[error("another upload of {0:?} is resuming right now")]
    Busy(String),
    #[error("{0}")]
    Full(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("sha256 mismatch: the client said {expected}, the bytes received hash to {got}")]
    HashMismatch { expected: String, got: String },
}

/// An upload in progress. Dropped without [`finish`](Upload::finish) (connection lost, write
/// error, the greenlet killed), it removes its temporary file, or keeps a resumable partial.
///
/// Hashing is pipelined ([`super::HashPipeline`]): the previous chunk is hashed on the thread
/// pool while this one is received and written.
pub(crate) struct Upload {
    store: Arc<Store>,
    name: String,
    path: PathBuf,
    /// Its writes, `fsync` and `fstat` run on the thread pool.
    file: mayfly::fs::File,
    hashing: Option<HashPipeline>,
    resumable: bool,
    holds_partial: bool,
    done: bool,
}

impl Upload {
    /// Writes `buf[..n]` and hashes it; returns a buffer to receive the next chunk into.
    pub fn write_chunk(&mut self, buf: Vec<u8>, n: usize) -> io::Result<Vec<u8>> {
        if self.holds_partial {
            self.store.reserve_partial(&self.name, n as u64)?;
        }
        self.file.write_all(&buf[..n])?;
        self.hashing
            .as_mut()
            .expect("upload not finished")
            .feed(buf, n)
    }

    /// Drops a resumable partial too: used when what was received is known to be bad.
    pub fn discard(mut self) {
        self.resumable = false;
    }

    /// Verifies against `expected` (if given) and renames the file into place.
    pub fn finish(mut self, expected: Option<&str>) -> Result<(String, u64), UploadError> {
        let pipeline = self.hashing.take().expect("upload not finished");
        let hasher = pipeline.finish().map_err(UploadError::Io)?;
        let got = hex(&hasher.finalize());
        if let Some(want) = expected {
            if !want.eq_ignore_ascii_case(&got) {
                self.resumable = false;
                return Err(UploadError::HashMismatch {
                    expected: want.to_owned(),
                    got,
                });
            }
        }
        if self.store.fsync {
            self.file.sync_all().map_err(UploadError::Io)?;
        }
        let meta = self.file.metadata().map_err(UploadError::Io)?;
        let dest = self.store.root.join(&self.name);
        mayfly::fs::rename(&self.path, &dest).map_err(UploadError::Io)?;
        self.done = true;
        if self.holds_partial {
            self.store.book.lock().unwrap().remove(&self.name);
        }
        self.store.remember(&self.name, &meta, &got);
        Ok((got, meta.len()))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.done && !self.resumable {
            // On the pool, unless the greenlet is unwinding (a kill), when it must not park.
            let _ = if std::thread::panicking() {
                fs::remove_file(&self.path)
            } else {
                mayfly::fs::remove_file(&self.path)
            };
        }
        if self.holds_partial {
            let mut book = self.store.book.lock().unwrap();
            if !self.done && !self.resumable {
                book.remove(&self.name);
            } else if !self.done {
                // Kept: the bytes that reached the file count, reserved ones that did not
                // (a failed write) do not.
                let len = self.file.as_std().metadata().map_or(0, |m| m.len());
                book.set(&self.name, len);
            }
            book.release(&self.name);
        }
    }
}

#[cfg(test)]
mod leftover_tests {
    use super::is_leftover;

    #[test]
    fn only_temporaries_no_live_process_writes_are_leftovers() {
        let me = std::process::id();
        assert!(is_leftover(&format!(".mayfly-upload.{me}.3")));
        // PID 1 is alive: another process's upload in progress.
        assert!(!is_leftover(".mayfly-upload.1.3"));
        assert!(
            is_leftover(".mayfly-upload.2147483646.0"),
            "no such process"
        );
        assert!(is_leftover(".mayfly-upload.junk"));
        assert!(!is_leftover("report.txt"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a fresh directory holding idle partials `a` and `b` of 30 bytes each
    /// (`a` the older); removed on drop.
    struct Fixture(Arc<Store>, PathBuf);

    impl Fixture {
        fn new(tag: &str, limits: PartialLimits) -> Fixture {
            let root = std::env::temp_dir().join(format!(
                "mayfly-store-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join(PARTIAL_DIR)).unwrap();
            fs::write(root.join(PARTIAL_DIR).join("a"), [1; 30]).unwrap();
            fs::write(root.join(PARTIAL_DIR).join("b"), [2; 30]).unwrap();
            let store = Store::open(&root, false, limits, Hashes::new(1).unwrap()).unwrap();
            Fixture(store, root)
        }

        /// The partials on disk, once every evicted one is unlinked.
        fn on_disk(&self) -> Vec<String> {
            for _ in 0..10_000 {
                let mut v: Vec<String> = fs::read_dir(self.1.join(PARTIAL_DIR))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect();
                v.sort();
                if !v.iter().any(|n| n.starts_with(TRASH_PREFIX)) {
                    return v;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            panic!("an evicted partial was never unlinked");
        }

        fn booked(&self) -> (usize, u64) {
            let b = self.0.book.lock().unwrap();
            (b.count(), b.total())
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.1);
        }
    }

    fn limits(max_count: usize, max_bytes: u64, min_free: u64) -> PartialLimits {
        PartialLimits {
            max_count,
            max_bytes,
            min_free,
        }
    }

    #[test]
    fn nothing_is_evicted_for_the_bytes_cap_when_it_cannot_help() {
        let f = Fixture::new("cap", limits(10, 100, 0));
        assert!(f.0.book.lock().unwrap().claim("a"));
        // 60 + 80 is 40 over the cap and only `b` (30) may go: refused, `b` kept.
        // Before: `b` was evicted, then the upload refused anyway.
        let e = f.0.reserve_partial("c", 80).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(f.on_disk(), ["a", "b"]);
        assert_eq!(f.booked(), (2, 60));
        // 10 over: evicting `b` helps, so it goes.
        f.0.reserve_partial("c", 50).unwrap();
        assert_eq!(f.on_disk(), ["a"]);
        assert_eq!(f.booked(), (2, 80));
    }

    #[test]
    fn an_evicted_partial_leaves_its_name_at_once_and_trash_is_cleared_at_start() {
        let f = Fixture::new("trash", limits(10, 1000, 0));
        let dir = f.1.join(PARTIAL_DIR);
        f.0.evict_partial(&mut f.0.book.lock().unwrap(), "a");
        assert!(!dir.join("a").exists(), "renamed away under the lock");
        assert_eq!(f.booked(), (1, 30));
        assert_eq!(f.on_disk(), ["b"], "and unlinked by the pool");
        // Trash left by a crash is removed at start, never taken for a partial.
        fs::write(dir.join(format!("{TRASH_PREFIX}1.2")), [0; 5]).unwrap();
        let again = Store::open(&f.1, false, limits(10, 1000, 0), Hashes::new(1).unwrap()).unwrap();
        assert_eq!(again.book.lock().unwrap().count(), 1);
        assert!(!dir.join(format!("{TRASH_PREFIX}1.2")).exists());
    }

    #[test]
    fn nothing_is_evicted_for_free_space_that_eviction_cannot_make() {
        let f = Fixture::new("disk", limits(10, 1000, u64::MAX / 2));
        let e = f.0.reserve_partial("c", 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(f.on_disk(), ["a", "b"]);
        assert_eq!(f.booked(), (2, 60));
    }

    #[test]
    fn the_count_cap_evicts_nothing_when_the_space_check_fails() {
        let f = Fixture::new("count", limits(2, 1000, u64::MAX / 2));
        // Before: `a` was evicted for the count cap, then the upload failed for space.
        assert!(f.0.begin_upload("c", 10, true, 0).is_err());
        assert_eq!(f.on_disk(), ["a", "b"]);
        assert_eq!(f.booked(), (2, 60));
        // With space, the count cap takes the oldest idle one.
        let f = Fixture::new("count2", limits(2, 1000, 0));
        let up = f.0.begin_upload("c", 10, true, 0).unwrap();
        drop(up);
        assert_eq!(f.on_disk(), ["b", "c"]);
    }
}
