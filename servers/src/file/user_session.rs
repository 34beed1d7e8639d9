//! One connection of the file server with `--users`: the login, then the file protocol's
//! requests inside the user's current directory, and the directory commands (`pwd`, `cd`,
//! `mkdir`, `dirs`, `quota`: `mayfly_proto::file_users`). Uploads are checked against the
//! user's quota before their bytes are read ([`quota`](super::quota)); `put`, `get`,
//! `list` and `stat` themselves are the anonymous server's, on the current directory's
//! store.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use crate::conn::Conn;
use mayfly::server::ServerStats;
use mayfly_proto::file as file_proto;
use mayfly_proto::file_users as proto;
use mayfly_proto::frame::{self, Header};
use mayfly_proto::reply::{self, code, Refusal};

use super::dir_stores::DirStores;
use super::home::{self, PathError};
use super::login;
use super::quota::{self, QuotaError, Quotas};
use super::session::{self, Next, Reader};
use super::store::Store;
use super::users::{User, Users};
use super::Options;

/// What every logged-in connection shares.
pub(crate) struct UserServer {
    /// The directory holding the homes (`--root`), opened once.
    pub root: File,
    /// Who may log in.
    pub users: Users,
    /// Uploads under way, per user.
    pub quotas: Arc<Quotas>,
    /// Failed logins per peer.
    pub failures: crate::cmd::limits::LoginFailures,
    /// The stores of the directories in use.
    pub stores: DirStores,
    /// The server's options.
    pub settings: Arc<Options>,
}

/// A logged-in session: its user, home and current directory.
struct Session<'a> {
    user: &'a User,
    home: File,
    cwd: Vec<String>,
    store: Arc<Store>,
}

fn refusal(code: &str, msg: impl ToString) -> Header {
    Refusal::new(code, msg).header()
}

fn path_refusal(e: &PathError) -> Header {
    refusal(code::BAD_NAME, e)
}

fn io_refusal(e: &io::Error) -> Header {
    match e.kind() {
        io::ErrorKind::NotFound => refusal(code::NOT_FOUND, "no such directory"),
        io::ErrorKind::AlreadyExists => refusal(code::BAD_REQUEST, "that name exists already"),
        io::ErrorKind::PermissionDenied => refusal(code::FORBIDDEN, e),
        _ => refusal(code::IO, e),
    }
}

/// Serves one connection: login, then requests until the client closes.
pub(crate) fn serve(
    srv: &UserServer,
    stats: &ServerStats,
    conn: Conn,
    peer: std::net::SocketAddr,
) -> io::Result<()> {
    let settings = &srv.settings;
    let mut r = session::reader(conn, settings);
    let deadline = mayfly::deadline_after(settings.login_timeout);
    let Some(user) = login::login(&mut r, &srv.users, deadline, &srv.failures, peer.ip())? else {
        return Ok(());
    };
    let home = home::open_home(&srv.root, &user.name)?;
    let store = srv.stores.get(home.try_clone()?)?;
    let mut s = Session {
        user,
        home,
        cwd: Vec::new(),
        store,
    };
    let used = quota::home_usage(&s.home, settings.max_home_entries).unwrap_or(0);
    frame::write_header(
        r.get_mut(),
        &reply::ok()
            .with(proto::USER, user.name.as_str())
            .with(proto::PATH, "/")
            .with(proto::QUOTA, user.quota)
            .with(proto::USED, used),
    )?;
    loop {
        let h = match session::next_request(&mut r, settings)? {
            Next::Request(h) => h,
            Next::Again => continue,
            Next::Close => return Ok(()),
        };
        stats.requests(1);
        let cmd = h
            .get(file_proto::CMD)
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let reply = match cmd {
            proto::PWD => reply::ok().with(proto::PATH, home::display(&s.cwd)),
            proto::CD => cd(srv, &mut s, &h),
            proto::MKDIR => mkdir(&s, &h),
            proto::QUOTA_CMD => match quota::home_usage(&s.home, settings.max_home_entries) {
                Ok(used) => reply::ok()
                    .with(proto::QUOTA, s.user.quota)
                    .with(proto::USED, used),
                Err(e) => refusal(code::IO, e),
            },
            proto::DIRS => {
                dirs(&mut r, &s)?;
                continue;
            }
            file_proto::PUT => {
                if !put(srv, &mut r, &s, &h)? {
                    return Ok(());
                }
                continue;
            }
            _ => {
                if !session::answer(&s.store, &mut r, &h, settings)? {
                    return Ok(());
                }
                continue;
            }
        };
        frame::write_header(r.get_mut(), &reply)?;
    }
}

/// `cd PATH`: the new directory opened under the home, component by component.
fn cd(srv: &UserServer, s: &mut Session<'_>, h: &Header) -> Header {
    let Ok(path) = h.str(proto::PATH) else {
        return refusal(code::BAD_REQUEST, "header field \"path\" must be a string");
    };
    let target = match home::resolve(&s.cwd, path) {
        Ok(t) => t,
        Err(e) => return path_refusal(&e),
    };
    let store = home::open_path(&s.home, &target).and_then(|dir| srv.stores.get(dir));
    match store {
        Ok(store) => {
            s.store = store;
            s.cwd = target;
            reply::ok().with(proto::PATH, home::display(&s.cwd))
        }
        Err(e) => io_refusal(&e),
    }
}

/// `mkdir PATH`: its parent opened under the home, the directory made inside it.
fn mkdir(s: &Session<'_>, h: &Header) -> Header {
    let Ok(path) = h.str(proto::PATH) else {
        return refusal(code::BAD_REQUEST, "header field \"path\" must be a string");
    };
    let target = match home::resolve(&s.cwd, path) {
        Ok(t) => t,
        Err(e) => return path_refusal(&e),
    };
    let Some((name, parent)) = target.split_last() else {
        return refusal(code::BAD_REQUEST, "that is your home directory");
    };
    match home::open_path(&s.home, parent).and_then(|dir| home::make_dir_at(&dir, name)) {
        Ok(()) => reply::ok().with(proto::PATH, home::display(&target)),
        Err(e) => io_refusal(&e),
    }
}

/// `dirs`: the current directory's subdirectories (not hidden ones, not symlinks), in name
/// order, at most [`proto::MAX_DIRS`]: a header with `count`, `total_size`, `more`, then
/// the names as a JSON array.
fn dirs(r: &mut Reader, s: &Session<'_>) -> io::Result<()> {
    let listed = s.store_dir().and_then(|dir| {
        mayfly::threadpool::apply(move || -> io::Result<Vec<String>> {
            let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
            let mut names = Vec::new();
            for e in fs::read_dir(path)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') && e.file_type()?.is_dir() {
                    names.push(name);
                }
            }
            names.sort();
            Ok(names)
        })
        .map_err(|e| io::Error::other(e.to_string()))?
    });
    let mut names = match listed {
        Ok(n) => n,
        Err(e) => return frame::write_header(r.get_mut(), &io_refusal(&e)),
    };
    let more = names.len() > proto::MAX_DIRS;
    names.truncate(proto::MAX_DIRS);
    let body = serde_json::to_vec(&names).expect("names serialize");
    let header = reply::ok()
        .with(file_proto::COUNT, names.len())
        .with(file_proto::TOTAL_SIZE, body.len())
        .with(file_proto::MORE, more);
    frame::write_frame(r.get_mut(), &header, &body)
}

impl Session<'_> {
    /// The current directory, opened again under the home.
    fn store_dir(&self) -> io::Result<File> {
        home::open_path(&self.home, &self.cwd)
    }
}

/// `put`: room for its bytes reserved under the user's quota first, or a refusal before any
/// byte is written; then the anonymous server's `put` in the current directory.
fn put(srv: &UserServer, r: &mut Reader, s: &Session<'_>, h: &Header) -> io::Result<bool> {
    let size = h.u64(file_proto::FILESIZE).ok();
    let offset = h.opt_u64(file_proto::OFFSET).ok().flatten().unwrap_or(0);
    let Some(bytes) = size.map(|n| n.saturating_sub(offset)) else {
        // A bad header: the anonymous put says what is wrong.
        return session::answer(&s.store, r, h, &srv.settings);
    };
    let reservation = srv
        .quotas
        .reserve(&s.user.name, s.user.quota, &s.home, bytes);
    match reservation {
        Ok(room) => {
            let go_on = session::answer(&s.store, r, h, &srv.settings);
            drop(room);
            go_on
        }
        Err(e) => {
            let code = match e {
                QuotaError::Exceeded { .. } => code::DISK_FULL,
                QuotaError::Io(_) => code::IO,
            };
            session::refuse_put(r, Refusal::new(code, e), &srv.settings)
        }
    }
}
