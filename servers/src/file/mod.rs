//! The course's FTP homework, done properly: a file server over the framed protocol
//! (`docs/PROTOCOL.md`; the field names and types are `mayfly_proto::file`'s), one greenlet
//! per connection on the one worker. It needs `/proc` mounted: every file is reached through
//! an open directory handle as `/proc/self/fd/N/NAME` (see the store module); without it
//! the server fails at start.
//!
//! Every request is a frame; only `put` carries a body. Replies always have `status`
//! (`"ok"` or `"error"`); errors add `code` (machine-readable) and `error` (words), as
//! `mayfly_proto::reply` defines.
//!
//! | request header | body | reply header | reply body |
//! |---|---|---|---|
//! | `{"cmd":"put","filename","filesize"[,"sha256"][,"resumable"][,"offset"]}` | `filesize - offset` bytes | `filename`, `filesize`, `sha256` | — |
//! | `{"cmd":"get","filename"[,"offset"]}` | — | `filename`, `filesize`, `offset`, `sha256`, `total_size` | `total_size` bytes from `offset` |
//! | `{"cmd":"list"[,"after"][,"limit"]}` | — | `count`, `total_size`, `more`[, `next`] | JSON array of `{filename, filesize, mtime}` |
//! | `{"cmd":"stat","filename"}` | — | `filename`, `filesize`, `mtime`, `sha256`[, `partial_size`] | — |
//!
//! A `put` is exactly what the course's client sends (`{"cmd":"put","filename","filesize"}`
//! and the bytes). What the server promises:
//! - **Nothing half-written is ever visible.** An upload goes to a temporary file and is
//!   renamed onto its name only when every byte arrived and, if the client sent `sha256`,
//!   matched it. A cut connection, a write error (disk full), a hash mismatch or a killed
//!   greenlet removes the temporary file and leaves the old file as it was.
//! - **Resume.** `"resumable": true` keeps a cut-off upload's bytes (for
//!   [`Options::partial_ttl`]); `stat` reports them as `partial_size` and `put` with that
//!   `offset` sends only the rest. `get` with `offset`
//!   sends the file from there; `sha256` is always of the whole file.
//! - **Partials are bounded**: at most [`Options::max_partials`] of them holding at most
//!   [`Options::max_partial_bytes`] of real bytes, never written below
//!   [`Options::min_free_space`] of free disk; the least recently touched idle one is
//!   deleted first. The stats page shows them as the gauges [`GAUGE_PARTIALS`] and
//!   [`GAUGE_PARTIAL_BYTES`].
//! - **Names.** Plain names only (see [`names::check`]); symlinks are never followed and
//!   anything but a regular file is refused, so nothing outside `--root` is reachable. The
//!   root is opened once and every file reached relative to that handle; a file with more
//!   than one hard link is neither served nor listed.
//! - **Limits.** Headers ≤ 64 KiB, files ≤ [`Options::max_file_size`]; a client idle
//!   between requests for [`Options::idle_timeout`], stalled inside one for
//!   [`Options::io_timeout`], or moving a body slower than [`Options::min_rate`] (averaged
//!   over each [`Options::rate_window`]), is disconnected. Connections are capped in all
//!   ([`Options::connection_cap`], by default from the fd limit) and per peer
//!   ([`Options::peer_cap`]). A bad header gets an error reply and the
//!   connection goes on when the stream is still in step; otherwise the error reply is sent,
//!   the rest is drained for a moment, and the connection closed. The server goes on.
//! - **`list` is paged**: at most `limit` names after `after` ([`DEFAULT_LIST_PAGE`] without
//!   `limit`, never more than [`MAX_LIST_PAGE`]); `more` says whether names follow and
//!   `next` is the `after` of the next page, so a client that sends a plain `{"cmd":"list"}`
//!   gets the first page. The directory is read on the thread pool, and at most
//!   [`Options::max_concurrent_lists`] lists run at once (more get `busy`).
//! - A `get` body goes with `sendfile(2)`: from the page cache to the socket, with no buffer
//!   of the connection's own, so a client that never reads costs the kernel's socket
//!   buffer and nothing more (a file `sendfile` cannot read, and every body over TLS
//!   ([`Options::tls`]), goes through [`BUFFERED_CHUNK`] bytes at a time).
//! - **TLS** ([`Options::tls`]): the same protocol inside TLS. A peer that closes without
//!   `close_notify` in the middle of a body is a truncation: the upload is dropped as for a
//!   cut connection (nothing half-written is visible). Opening and `stat`ing a file, an upload's writes,
//!   `fsync`, rename and removal run on the thread pool (`mayfly::fs`); hashing a file not
//!   seen before runs on a pool of its own ([`Options::hash_threads`]), once per version
//!   (inode, size, mtime): concurrent requests for it share the one job.
//!
//! ```
//! use mayfly_servers::file::{self, Options};
//! let dir = std::env::temp_dir().join(format!("mayfly-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let server = file::start(&Options::new("127.0.0.1:0", &dir)).unwrap();
//! assert_ne!(server.local_addr().port(), 0);
//! server.stop(std::time::Duration::from_secs(1));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod dir_stores;
mod hashes;
pub mod home;
pub mod login;
pub mod names;
mod partials;
pub mod quota;
mod rate;
mod session;
mod store;
mod transfer;
mod user_session;
pub mod users;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::Bind;
use mayfly::server::{
    default_max_connections, default_max_per_peer, Cap, Metric, RunningServer, ServerStats,
};

pub use session::{LINGER_BYTES, LINGER_TIME};
pub use transfer::BUFFERED_CHUNK;

/// Default address, loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9000";
/// Default [`Options::max_file_size`]: 16 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 << 30;
/// File descriptors one connection may hold at once (its socket, the file it sends or the
/// upload it writes, and a duplicate being hashed): the default connection cap divides the
/// fd limit by this.
pub const FDS_PER_CONNECTION: u64 = 3;
/// Default [`Options::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default [`Options::io_timeout`].
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Options::partial_ttl`]: a day.
pub const DEFAULT_PARTIAL_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default [`Options::min_rate`]: 1 KiB/s.
pub const DEFAULT_MIN_RATE: u64 = 1024;
/// Default [`Options::rate_window`].
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(20);
/// Entries in one `list` page when the request has no `limit`.
pub const DEFAULT_LIST_PAGE: usize = 1000;
/// The most entries one `list` page has, whatever `limit` asks.
pub const MAX_LIST_PAGE: usize = 10_000;
/// Default [`Options::max_concurrent_lists`].
pub const DEFAULT_MAX_CONCURRENT_LISTS: usize = 4;
/// Default [`Options::hash_threads`].
pub const DEFAULT_HASH_THREADS: usize = 2;
/// The stats page's gauge: files hashed (each read whole) since the start.
pub const GAUGE_HASHES_COMPUTED: Metric = Metric::counter(
    "hashes_computed",
    "Files hashed (each read whole) since the start.",
);
/// Default [`Options::max_partials`].
pub const DEFAULT_MAX_PARTIALS: usize = 100;
/// Default [`Options::max_partial_bytes`]: 16 GiB (so every file `put` accepts by default
/// can be resumable).
pub const DEFAULT_MAX_PARTIAL_BYTES: u64 = 16 << 30;
/// Default [`Options::min_free_space`]: 256 MiB.
pub const DEFAULT_MIN_FREE_SPACE: u64 = 256 << 20;
/// The stats page's gauge: resumable partial uploads kept.
pub const GAUGE_PARTIALS: Metric = Metric::gauge("partials", "Resumable partial uploads kept.");
/// The stats page's gauge: bytes they hold on disk.
pub const GAUGE_PARTIAL_BYTES: Metric = Metric::gauge(
    "partial_bytes",
    "Bytes the resumable partial uploads hold on disk.",
);

/// How to run the file server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// Directory served; must exist.
    pub root: PathBuf,
    /// Listen backlog.
    pub backlog: i32,
    /// Stop accepting while this many connections are open (new clients wait in the
    /// backlog). [`Cap::Default`]: the fd limit less a reserve, divided by
    /// [`FDS_PER_CONNECTION`]. See [`Options::connection_cap`].
    pub max_connections: Cap,
    /// Close a peer's (an IP address's, IPv6: /64) new connections at once while it holds
    /// this many. [`Cap::Default`]: 75% of the connection cap.
    pub max_per_peer: Cap,
    /// Largest file accepted by `put`; a bigger `filesize` is refused before any byte.
    pub max_file_size: u64,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A request whose next bytes do not arrive (or cannot be sent) for this long is dropped.
    pub io_timeout: Duration,
    /// A `put` or `get` body moving fewer than this many bytes per second, averaged over
    /// each [`Options::rate_window`], is cut off (0: no minimum). `io_timeout` is per read,
    /// so without it one byte every few seconds holds a connection for ever.
    pub min_rate: u64,
    /// The window [`Options::min_rate`] is averaged over; the first one is a body's grace
    /// to get going.
    pub rate_window: Duration,
    /// fsync every upload before it is renamed into place (durable, slower).
    pub fsync: bool,
    /// A cut-off resumable upload not resumed for this long is deleted (checked at start and
    /// every `partial_ttl / 4`, at most hourly).
    pub partial_ttl: Duration,
    /// `list` requests reading the directory at once (on the thread pool); more are
    /// answered `busy`, and 0 refuses every list. The slot is given back before the reply
    /// is sent, so a client that does not read its reply holds none.
    pub max_concurrent_lists: usize,
    /// OS threads hashing files not hashed before (a pool of the file server's own): at
    /// most this many files are read for hashing at once; concurrent requests for one
    /// version of a file wait for one job. 0 is taken as 1.
    pub hash_threads: usize,
    /// Most resumable partial uploads kept; a new one past it deletes the least recently
    /// touched one not being written (or is refused with `busy` if all are; with 0 every
    /// resumable upload is).
    pub max_partials: usize,
    /// Most bytes all partials hold on disk together (real bytes, not declared sizes), and
    /// the largest `filesize` a resumable upload may declare (`too_large` above it). Past
    /// it, the oldest idle partials are deleted; if deleting every idle one would not be
    /// enough, none is and the upload fails.
    pub max_partial_bytes: u64,
    /// A partial upload is never written while the filesystem has less than this free:
    /// the oldest idle partials are deleted first when that can make room, else the upload
    /// fails with `disk_full` and none is deleted.
    pub min_free_space: u64,
    /// Set SO_REUSEPORT so several processes share the port (`mayfly serve --workers N`).
    pub reuse_port: bool,
    /// The users file (see [`users`]): with it every connection must log in and works in
    /// its user's home, `root/NAME`; without it the server is anonymous.
    pub users: Option<PathBuf>,
    /// With [`users`](Options::users): time from accept to a logged-in connection, for the
    /// whole handshake.
    pub login_timeout: Duration,
    /// With [`users`](Options::users): the most entries a home may have for its quota to
    /// be measured; past it uploads are refused.
    pub max_home_entries: u64,
    /// With [`users`](Options::users): failed logins one peer may make per
    /// [`login_lockout`](Options::login_lockout) before it is refused until that window
    /// ends (0: no limit).
    pub max_login_failures: u32,
    /// The window of [`max_login_failures`](Options::max_login_failures).
    pub login_lockout: Duration,
    /// Serve TLS with this acceptor (`--tls-cert`/`--tls-key`): the handshake runs in each
    /// connection's greenlet and is counted in the stats; a `get` body then goes through the
    /// buffered path, never `sendfile`. `None`: plain TCP.
    pub tls: Option<mayfly::tls::TlsAcceptor>,
}

impl Options {
    /// Defaults for serving `root` on `addr`.
    pub fn new(addr: impl Into<String>, root: impl AsRef<Path>) -> Self {
        Options {
            addr: addr.into(),
            root: root.as_ref().to_path_buf(),
            backlog: crate::DEFAULT_BACKLOG,
            max_connections: Cap::Default,
            max_per_peer: Cap::Default,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            min_rate: DEFAULT_MIN_RATE,
            rate_window: DEFAULT_RATE_WINDOW,
            fsync: false,
            partial_ttl: DEFAULT_PARTIAL_TTL,
            max_concurrent_lists: DEFAULT_MAX_CONCURRENT_LISTS,
            hash_threads: DEFAULT_HASH_THREADS,
            max_partials: DEFAULT_MAX_PARTIALS,
            max_partial_bytes: DEFAULT_MAX_PARTIAL_BYTES,
            min_free_space: DEFAULT_MIN_FREE_SPACE,
            reuse_port: false,
            users: None,
            login_timeout: login::DEFAULT_LOGIN_TIMEOUT,
            max_home_entries: quota::DEFAULT_MAX_HOME_ENTRIES,
            max_login_failures: login::DEFAULT_MAX_LOGIN_FAILURES,
            login_lockout: login::DEFAULT_LOGIN_LOCKOUT,
            tls: None,
        }
    }
}

impl Options {
    /// The connection cap applied (`None`: no cap).
    ///
    /// ```
    /// let mut o = mayfly_servers::file::Options::new("127.0.0.1:0", ".");
    /// assert!(o.connection_cap().is_some_and(|n| n >= 1), "a cap by default");
    /// o.max_connections = mayfly::server::Cap::Unlimited;
    /// assert_eq!(o.connection_cap(), None);
    /// ```
    pub fn connection_cap(&self) -> Option<u64> {
        self.max_connections
            .limit(|| Some(default_max_connections(FDS_PER_CONNECTION)))
    }

    /// The per-peer cap applied (`None`: no cap).
    ///
    /// ```
    /// let mut o = mayfly_servers::file::Options::new("127.0.0.1:0", ".");
    /// o.max_connections = mayfly::server::Cap::AtMost(100);
    /// assert_eq!(o.peer_cap(), Some(75));
    /// o.max_per_peer = mayfly::server::Cap::Unlimited;
    /// assert_eq!(o.peer_cap(), None);
    /// ```
    pub fn peer_cap(&self) -> Option<u64> {
        self.max_per_peer
            .limit(|| self.connection_cap().map(default_max_per_peer))
    }
}

/// Starts the file server; it runs on the mayfly worker until stopped.
///
/// # Errors
/// The root cannot be opened, the users file is refused, or the address cannot be bound.
pub fn start(opts: &Options) -> io::Result<RunningServer> {
    if let Some(users) = &opts.users {
        return start_with_users(opts, users);
    }
    let limits = store::PartialLimits {
        max_count: opts.max_partials,
        max_bytes: opts.max_partial_bytes,
        min_free: opts.min_free_space,
    };
    let stats = Arc::new(ServerStats::new());
    let mut hashes = hashes::Hashes::new(opts.hash_threads)?;
    hashes.count_jobs_in(stats.gauge(GAUGE_HASHES_COMPUTED));
    let store = store::Store::open(&opts.root, opts.fsync, limits, hashes)?;
    store.publish_partials(
        stats.gauge(GAUGE_PARTIALS),
        stats.gauge(GAUGE_PARTIAL_BYTES),
    );
    store.expire_partials(opts.partial_ttl);
    let (weak, ttl) = (Arc::downgrade(&store), opts.partial_ttl);
    mayfly::Builder::new()
        .name("file-partial-expiry")
        .spawn(move || loop {
            mayfly::sleep((ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600)));
            match weak.upgrade() {
                Some(store) => store.expire_partials(ttl),
                None => return, // the server is gone
            };
        })
        .map_err(io::Error::other)?;
    let settings = Arc::new(opts.clone());
    let listener = Bind::new(opts.addr.as_str())
        .backlog(opts.backlog)
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let s2 = stats.clone();
    let server = crate::conn::stream_server(listener, opts.tls.as_ref(), move |conn, _peer| {
        session::serve(store.clone(), settings.clone(), &s2, conn)
    })
    .max_connections(Cap::from_limit(opts.connection_cap()))
    .max_per_peer(Cap::from_limit(opts.peer_cap()))
    .with_counters(stats);
    Ok(server.start())
}

/// [`start`] with a users file: every user's home made (mode 0700) under the root at start,
/// one store per directory in use.
fn start_with_users(opts: &Options, users_file: &Path) -> io::Result<RunningServer> {
    use std::os::unix::fs::OpenOptionsExt;
    let users = users::Users::load(users_file)?;
    let root = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(&opts.root)
        .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", opts.root.display())))?;
    for u in users.iter() {
        home::open_home(&root, &u.name)
            .map_err(|e| io::Error::new(e.kind(), format!("home of {}: {e}", u.name)))?;
    }
    let limits = store::PartialLimits {
        max_count: opts.max_partials,
        max_bytes: opts.max_partial_bytes,
        min_free: opts.min_free_space,
    };
    let stats = Arc::new(ServerStats::new());
    let mut hashes = hashes::Hashes::new(opts.hash_threads)?;
    hashes.count_jobs_in(stats.gauge(GAUGE_HASHES_COMPUTED));
    let srv = Arc::new(user_session::UserServer {
        root,
        users,
        quotas: quota::Quotas::new(opts.max_home_entries),
        failures: crate::cmd::limits::LoginFailures::new(
            opts.max_login_failures,
            opts.login_lockout,
        ),
        stores: dir_stores::DirStores::new(opts.fsync, limits, opts.partial_ttl, hashes),
        settings: Arc::new(opts.clone()),
    });
    let (weak, ttl) = (Arc::downgrade(&srv), opts.partial_ttl);
    mayfly::Builder::new()
        .name("file-partial-expiry")
        .spawn(move || loop {
            mayfly::sleep((ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600)));
            match weak.upgrade() {
                Some(srv) => srv.stores.expire_partials(),
                None => return, // the server is gone
            };
        })
        .map_err(io::Error::other)?;
    let listener = Bind::new(opts.addr.as_str())
        .backlog(opts.backlog)
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let s2 = stats.clone();
    let server = crate::conn::stream_server(listener, opts.tls.as_ref(), move |conn, peer| {
        user_session::serve(&srv, &s2, conn, peer)
    })
    .max_connections(Cap::from_limit(opts.connection_cap()))
    .max_per_peer(Cap::from_limit(opts.peer_cap()))
    .with_counters(stats);
    Ok(server.start())
}
