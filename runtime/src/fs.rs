//! Files on the thread pool (gevent's `gevent.fileobject.FileObjectThread`): every call that
//! can wait for a disk runs on [`threadpool::shared`](crate::threadpool::shared), and the
//! calling greenlet parks until it returns, so a read from a slow disk, an NFS mount that
//! hangs or a FIFO nobody has opened yet never freezes the worker: the other greenlets go on
//! running meanwhile.
//!
//! The functions mirror `std::fs` ([`read`], [`write`](fn@write), [`metadata`], [`read_dir`],
//! [`create_dir`], [`rename`], [`remove_file`], …) and [`File`] wraps a `std::fs::File`
//! whose `read`, `write`, `metadata`, `set_len` and `sync_all` run on the pool ([`Seek`] and
//! [`File::try_clone`] stay on the caller: they never touch the disk). Called from a plain OS
//! thread (not a greenlet) they block that thread, like `std::fs`.
//!
//! Each call runs to completion on its pool thread: a greenlet killed (or whose
//! [`crate::Timeout`] expires) while it waits stops waiting at once, and the call's result is
//! dropped when it comes. Bytes cross between the greenlet and the pool thread by copy
//! (a read fills a buffer of its own, then copies it into yours), at most [`MAX_CHUNK`] per
//! call, so no pool thread ever holds a borrow of a buffer its greenlet may have dropped.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("mayfly-fs-doc-{}", std::process::id()));
//! let n = mayfly::run(move || -> std::io::Result<usize> {
//!     mayfly::fs::create_dir_all(&dir)?;
//!     mayfly::fs::write(dir.join("a.txt"), b"hello")?;
//!     mayfly::fs::rename(dir.join("a.txt"), dir.join("b.txt"))?;
//!     let text = mayfly::fs::read_to_string(dir.join("b.txt"))?;
//!     assert_eq!(text, "hello");
//!     let entries = mayfly::fs::read_dir(&dir)?.len();
//!     mayfly::fs::remove_dir_all(&dir)?;
//!     Ok(entries)
//! });
//! assert_eq!(n.unwrap(), 1);
//! ```

use std::fs::{DirEntry, Metadata, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most bytes one [`File`] read or write moves through the pool in one call (a longer
/// buffer is filled or written in part, as `read` and `write` may).
pub const MAX_CHUNK: usize = 1 << 20;

/// Runs `f` on the shared pool, parking the calling greenlet; a panic in `f` or a pool that
/// is shut down comes back as an error.
fn on_pool<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    crate::threadpool::apply(f).map_err(|e| io::Error::other(e.to_string()))?
}

/// Reads a whole file ([`std::fs::read`]) on the pool.
///
/// # Errors
/// As [`std::fs::read`]; a panic on the pool comes back as an `Other` error.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::read(path))
}

/// Reads a whole file as UTF-8 ([`std::fs::read_to_string`]) on the pool.
///
/// # Errors
/// As [`std::fs::read_to_string`] (`InvalidData` for bytes that are not UTF-8).
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::read_to_string(path))
}

/// Creates or truncates a file and writes `contents` ([`std::fs::write`]) on the pool.
///
/// # Errors
/// As [`std::fs::write`].
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let (path, contents) = (path.as_ref().to_path_buf(), contents.as_ref().to_vec());
    on_pool(move || std::fs::write(path, contents))
}

/// A path's metadata, following symlinks ([`std::fs::metadata`]), on the pool.
///
/// # Errors
/// As [`std::fs::metadata`].
pub fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::metadata(path))
}

/// A path's own metadata, not following a symlink ([`std::fs::symlink_metadata`]), on the
/// pool.
///
/// # Errors
/// As [`std::fs::symlink_metadata`].
pub fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::symlink_metadata(path))
}

/// Every entry of a directory ([`std::fs::read_dir`], read to the end on the pool), in the
/// order the directory gives them. An entry's [`file_type`](DirEntry::file_type) usually
/// needs no further system call; its `metadata` does (call [`symlink_metadata`] on its
/// [`path`](DirEntry::path) from a greenlet).
///
/// # Errors
/// As [`std::fs::read_dir`], or the first error reading an entry.
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::read_dir(path)?.collect())
}

/// Creates a directory ([`std::fs::create_dir`]) on the pool.
///
/// # Errors
/// As [`std::fs::create_dir`] (`AlreadyExists` if it does).
pub fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::create_dir(path))
}

/// Creates a directory and its missing parents ([`std::fs::create_dir_all`]) on the pool.
///
/// # Errors
/// As [`std::fs::create_dir_all`].
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::create_dir_all(path))
}

/// Renames `from` to `to`, replacing `to` if it is a file ([`std::fs::rename`]), on the pool.
///
/// # Errors
/// As [`std::fs::rename`].
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    on_pool(move || std::fs::rename(from, to))
}

/// Removes a file ([`std::fs::remove_file`]) on the pool; unlinking a big file can take a
/// while, which is why it is here.
///
/// # Errors
/// As [`std::fs::remove_file`].
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::remove_file(path))
}

/// Removes an empty directory ([`std::fs::remove_dir`]) on the pool.
///
/// # Errors
/// As [`std::fs::remove_dir`].
pub fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::remove_dir(path))
}

/// Removes a directory and everything in it ([`std::fs::remove_dir_all`]) on the pool.
///
/// # Errors
/// As [`std::fs::remove_dir_all`].
pub fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::remove_dir_all(path))
}

/// Sets a path's permissions ([`std::fs::set_permissions`]) on the pool.
///
/// # Errors
/// As [`std::fs::set_permissions`].
pub fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    on_pool(move || std::fs::set_permissions(path, perm))
}

/// How to open a [`File`] (`std::fs::OpenOptions`, with `open` on the pool).
///
/// ```
/// let path = std::env::temp_dir().join(format!("mayfly-fs-opts-{}", std::process::id()));
/// mayfly::run(move || {
///     let f = mayfly::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
///     assert!(f.is_ok());
///     let again = mayfly::fs::OpenOptions::new().write(true).create_new(true).open(&path);
///     assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
///     mayfly::fs::remove_file(&path).unwrap();
/// });
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions(std::fs::OpenOptions);

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Nothing set (as [`std::fs::OpenOptions::new`]).
    pub fn new() -> Self {
        OpenOptions(std::fs::OpenOptions::new())
    }
    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.0.read(on);
        self
    }
    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.0.write(on);
        self
    }
    /// Every write goes to the end.
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.0.append(on);
        self
    }
    /// Truncate to 0 bytes on open.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.0.truncate(on);
        self
    }
    /// Create the file if it does not exist.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.0.create(on);
        self
    }
    /// Create the file, failing with `AlreadyExists` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.0.create_new(on);
        self
    }
    /// The permission bits a created file gets (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.0.mode(mode);
        self
    }
    /// Extra `open(2)` flags (`libc::O_NOFOLLOW`, `O_DIRECTORY`, …).
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.0.custom_flags(flags);
        self
    }

    /// Opens `path` with these options on the pool.
    ///
    /// # Errors
    /// As [`std::fs::OpenOptions::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let (opts, path): (_, PathBuf) = (self.0.clone(), path.as_ref().to_path_buf());
        on_pool(move || opts.open(path)).map(File::from_std)
    }
}

/// An open file whose reads, writes, `metadata`, `set_len` and `sync_all` run on the thread
/// pool, parking only the calling greenlet (gevent's `FileObjectThread`).
///
/// [`Seek`] and [`try_clone`](File::try_clone) run on the caller (they never wait for a
/// disk). [`as_std`](File::as_std) lends the `std::fs::File` for calls that need it as such,
/// [`TcpStream::sendfile`](crate::net::TcpStream::sendfile) among them.
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
/// let path = std::env::temp_dir().join(format!("mayfly-fs-file-{}", std::process::id()));
/// let back = mayfly::run(move || -> std::io::Result<String> {
///     let mut f = mayfly::fs::File::create(&path)?;
///     f.write_all(b"hello, pool")?;
///     f.sync_all()?;
///     let mut f = mayfly::fs::File::open(&path)?;
///     f.seek(SeekFrom::Start(7))?;
///     let mut s = String::new();
///     f.read_to_string(&mut s)?;
///     mayfly::fs::remove_file(&path)?;
///     Ok(s)
/// });
/// assert_eq!(back.unwrap(), "pool");
/// ```
#[derive(Debug)]
pub struct File {
    /// Shared with the pool thread running a call on it (the fd stays open until both let go).
    inner: Arc<std::fs::File>,
}

impl File {
    /// Opens a file for reading ([`std::fs::File::open`]) on the pool.
    ///
    /// # Errors
    /// As [`std::fs::File::open`].
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Creates or truncates a file for writing ([`std::fs::File::create`]) on the pool.
    ///
    /// # Errors
    /// As [`std::fs::File::create`].
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Options to open a file with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open `std::fs::File`.
    pub fn from_std(file: std::fs::File) -> File {
        File {
            inner: Arc::new(file),
        }
    }

    /// The `std::fs::File` (its calls block the caller: use it for the ones that do not wait
    /// for a disk, or that park by themselves, such as `sendfile`).
    pub fn as_std(&self) -> &std::fs::File {
        &self.inner
    }

    /// Runs `f` with the file on the pool.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let file = self.inner.clone();
        on_pool(move || f(&file))
    }

    /// The file's metadata (`fstat`) on the pool.
    ///
    /// # Errors
    /// As [`std::fs::File::metadata`].
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.call(|f| f.metadata())
    }

    /// Truncates or extends the file to `len` bytes on the pool.
    ///
    /// # Errors
    /// As [`std::fs::File::set_len`].
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.call(move |f| f.set_len(len))
    }

    /// Flushes data and metadata to the disk (`fsync`) on the pool.
    ///
    /// # Errors
    /// As [`std::fs::File::sync_all`].
    pub fn sync_all(&self) -> io::Result<()> {
        self.call(|f| f.sync_all())
    }

    /// Flushes the data to the disk (`fdatasync`) on the pool.
    ///
    /// # Errors
    /// As [`std::fs::File::sync_data`].
    pub fn sync_data(&self) -> io::Result<()> {
        self.call(|f| f.sync_data())
    }

    /// Reads up to `buf.len()` bytes (at most [`MAX_CHUNK`]) at `offset` without moving the
    /// file's position (`pread`), on the pool.
    ///
    /// # Errors
    /// As [`FileExt::read_at`].
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let len = buf.len().min(MAX_CHUNK);
        let got = self.call(move |f| {
            let mut v = vec![0u8; len];
            let n = f.read_at(&mut v, offset)?;
            v.truncate(n);
            Ok(v)
        })?;
        buf[..got.len()].copy_from_slice(&got);
        Ok(got.len())
    }

    /// Writes up to `buf.len()` bytes (at most [`MAX_CHUNK`]) at `offset` without moving the
    /// file's position (`pwrite`), on the pool.
    ///
    /// # Errors
    /// As [`FileExt::write_at`].
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let data = buf[..buf.len().min(MAX_CHUNK)].to_vec();
        self.call(move |f| f.write_at(&data, offset))
    }

    /// Another handle to the same open file (`dup`; on the caller, no disk involved).
    ///
    /// # Errors
    /// As [`std::fs::File::try_clone`] (`EMFILE` out of descriptors).
    pub fn try_clone(&self) -> io::Result<File> {
        self.inner.try_clone().map(File::from_std)
    }
}

impl Read for File {
    /// Reads up to `buf.len()` bytes (at most [`MAX_CHUNK`]) on the pool, from the file's
    /// position, which moves.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len().min(MAX_CHUNK);
        let got = self.call(move |mut f| {
            let mut v = vec![0u8; len];
            let n = f.read(&mut v)?;
            v.truncate(n);
            Ok(v)
        })?;
        buf[..got.len()].copy_from_slice(&got);
        Ok(got.len())
    }
}

impl Write for File {
    /// Writes up to `buf.len()` bytes (at most [`MAX_CHUNK`]) on the pool, at the file's
    /// position, which moves.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let data = buf[..buf.len().min(MAX_CHUNK)].to_vec();
        self.call(move |mut f| f.write(&data))
    }

    /// Nothing to flush: the bytes went to the kernel (see [`File::sync_all`] for the disk).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    /// Moves the file's position (`lseek`, on the caller: it never waits for a disk).
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.inner).seek(pos)
    }
}

impl From<std::fs::File> for File {
    fn from(f: std::fs::File) -> Self {
        File::from_std(f)
    }
}

impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

impl std::os::fd::AsFd for File {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}
