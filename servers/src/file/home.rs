//! A user's home directory and the paths inside it: openat-style resolution under the home's
//! open handle, one component at a time, so nothing outside the home is ever reached.
//!
//! - A path is `/`-separated; a leading `/` starts at the home, else at the current
//!   directory. Every component must be a plain name the anonymous server accepts
//!   ([`names::check`](super::names::check): no `/`, no leading `.`, no control or
//!   invisible characters).
//! - `..` is taken on the session's own path (a list of names), never handed to the
//!   kernel; above the home it is refused. `.` and empty components (`a//b`) are skipped.
//! - Each component is opened with `openat(dir, name, O_DIRECTORY | O_NOFOLLOW)` relative
//!   to the directory before it, starting from the home's handle: a symlink anywhere on the
//!   way is refused (`ELOOP`), never followed, and renaming or replacing the home's path
//!   after login changes nothing.
//!
//! ```
//! use mayfly_servers::file::home::{resolve, PathError};
//! let cwd = vec!["docs".to_string()];
//! assert_eq!(resolve(&cwd, "2024/jan").unwrap(), ["docs", "2024", "jan"]);
//! assert_eq!(resolve(&cwd, "/pics").unwrap(), ["pics"]);
//! assert_eq!(resolve(&cwd, "..").unwrap(), Vec::<String>::new());
//! assert!(matches!(resolve(&cwd, "../.."), Err(PathError::AboveHome)));
//! assert!(matches!(resolve(&cwd, ".hidden"), Err(PathError::Name(_))));
//! ```

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

use super::names::{self, NameError};

/// The deepest path accepted, in components.
pub const MAX_DEPTH: usize = 32;

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// `..` past the home.
    #[error("the path leads above your home directory")]
    AboveHome,
    /// A component is not a plain name.
    #[error(transparent)]
    Name(NameError),
    /// Deeper than [`MAX_DEPTH`].
    #[error("the path is deeper than {MAX_DEPTH} directories")]
    TooDeep,
}

/// `path` taken from `cwd` (both inside the home): the components of the result, checked.
///
/// # Errors
/// [`PathError`].
pub fn resolve(cwd: &[String], path: &str) -> Result<Vec<String>, PathError> {
    let mut out: Vec<String> = if path.starts_with('/') {
        Vec::new()
    } else {
        cwd.to_vec()
    };
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop().ok_or(PathError::AboveHome)?;
            }
            name => {
                names::check(name).map_err(PathError::Name)?;
                out.push(name.to_owned());
            }
        }
    }
    if out.len() > MAX_DEPTH {
        return Err(PathError::TooDeep);
    }
    Ok(out)
}

/// `/a/b` for `["a", "b"]`, `/` for the home itself.
pub fn display(path: &[String]) -> String {
    format!("/{}", path.join("/"))
}

/// Opens `name` inside the open directory `dir` as a directory, never following a symlink.
///
/// # Errors
/// `PermissionDenied` for a symlink or anything but a directory; the open error.
pub fn open_dir_at(dir: &File, name: &str) -> io::Result<File> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `dir` is an open directory for the call, `c` a NUL-terminated name; openat
    // returns a new fd we own, or -1.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{name:?} is not a directory (symlinks are not followed)"),
            ),
            _ => e,
        });
    }
    // SAFETY: `fd` was just returned by openat: open, and owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens `path` (components from [`resolve`]) under `home`, component by component.
///
/// # Errors
/// As [`open_dir_at`], for the first component that fails.
pub fn open_path(home: &File, path: &[String]) -> io::Result<File> {
    let mut dir = home.try_clone()?;
    for name in path {
        dir = open_dir_at(&dir, name)?;
    }
    Ok(dir)
}

/// Makes directory `name` (mode 0755) inside the open directory `dir`.
///
/// # Errors
/// The mkdirat error (`AlreadyExists` for a name taken).
pub fn make_dir_at(dir: &File, name: &str) -> io::Result<()> {
    make_dir_mode(dir, name, 0o755)
}

fn make_dir_mode(dir: &File, name: &str, mode: libc::mode_t) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `dir` is an open directory for the call, `c` a NUL-terminated name.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens (making it first if missing, mode 0700) the home `name` under the open `root`.
///
/// # Errors
/// As [`make_dir_at`] and [`open_dir_at`].
pub fn open_home(root: &File, name: &str) -> io::Result<File> {
    match make_dir_mode(root, name, 0o700) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    open_dir_at(root, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nested_traversal_is_refused_at_every_depth() {
        let cwd = owned(&["a", "b"]);
        assert_eq!(resolve(&cwd, "../../c").unwrap(), owned(&["c"]));
        for bad in ["../../..", "/..", "x/../../../..", "/a/../.."] {
            assert!(
                matches!(resolve(&cwd, bad), Err(PathError::AboveHome)),
                "{bad}"
            );
        }
        for bad in ["a/.mayfly-partial", "a/\u{202E}x", "a\\b", "a/b\0c"] {
            assert!(
                matches!(resolve(&cwd, bad), Err(PathError::Name(_))),
                "{bad:?}"
            );
        }
        let deep = vec!["d"; MAX_DEPTH + 1].join("/");
        assert!(matches!(resolve(&[], &deep), Err(PathError::TooDeep)));
        assert_eq!(display(&cwd), "/a/b");
        assert_eq!(display(&[]), "/");
    }

    #[test]
    fn symlinks_are_never_followed_on_the_way_down() {
        let root = std::env::temp_dir().join(format!("mayfly-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("home/sub")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("home/link")).unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("home/sub/deeper")).unwrap();
        let top = File::open(&root).unwrap();
        let home = open_home(&top, "home").unwrap();
        assert!(open_path(&home, &owned(&["sub"])).is_ok());
        for bad in [&["link"][..], &["sub", "deeper"]] {
            let e = open_path(&home, &owned(bad)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{bad:?}");
        }
        make_dir_at(&open_path(&home, &owned(&["sub"])).unwrap(), "new").unwrap();
        assert!(root.join("home/sub/new").is_dir());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
