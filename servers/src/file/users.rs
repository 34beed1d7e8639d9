//! The file server's users file (`mayfly serve file --users FILE`): who may log in, with
//! which secret, and how many bytes their home may hold.
//!
//! One user a line, `NAME:SECRET:QUOTA`; blank lines and lines starting with `#` are
//! skipped:
//!
//! ```text
//! # mayfly file server users: NAME:SECRET:QUOTA
//! alice:4f1c0a9e8d7b6c5a4f1c0a9e8d7b6c5a4f1c0a9e8d7b6c5a4f1c0a9e8d7b6c5a:100M
//! bob:correct horse battery staple:1G
//! ```
//!
//! - `NAME`: 1 to [`MAX_USER_NAME`] of `A-Z a-z 0-9 _ -`, not starting with `-`; also the
//!   name of the user's home directory under `--root`. Each name once.
//! - `SECRET`: the shared secret of the HMAC login (the command server's challenge), at
//!   least 16 bytes, no `:`. The client holds the same text in its `--secret-file`.
//!   [`add_user`] (`mayfly file adduser`) makes 64 random hex digits.
//! - `QUOTA`: bytes the home may hold, digits with an optional `K`, `M`, `G` or `T` (powers
//!   of 1024).
//!
//! The file holds secrets, so it is refused unless only its owner can read it (mode
//! `0600` or stricter).
//!
//! ```
//! use mayfly_servers::file::users::Users;
//! let u = Users::parse("alice:0123456789abcdef0123:10K\n# comment\n").unwrap();
//! let alice = u.get("alice").unwrap();
//! assert_eq!((alice.quota, alice.secret.as_slice()), (10 * 1024, &b"0123456789abcdef0123"[..]));
//! assert!(Users::parse("alice:short:1K").is_err());
//! ```

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use mayfly_proto::cmd::{auth, secret};

/// The quota `mayfly file adduser` gives without `--quota`: 100 MiB.
pub const DEFAULT_QUOTA: u64 = 100 << 20;
/// Longest user name.
pub const MAX_USER_NAME: usize = 32;

/// One user of the users file.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The name (and the home directory's).
    pub name: String,
    /// The login's shared secret.
    pub secret: Vec<u8>,
    /// Bytes the home may hold.
    pub quota: u64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("secret", &"…")
            .field("quota", &self.quota)
            .finish()
    }
}

/// Why a users file was refused.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// It cannot be read.
    #[error("users file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Others than its owner may read it.
    #[error("users file {path} holds secrets but its mode is {mode:o}; make it readable by its owner only (chmod 600)")]
    Readable {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A line is wrong.
    #[error("users file line {line}: {why}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

impl From<UsersError> for io::Error {
    fn from(e: UsersError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// The users of a users file, by name.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<String, User>,
}

/// Checks a user name (see the module docs).
///
/// # Errors
/// What is wrong with it, in words.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USER_NAME
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user name {name:?}: 1 to {MAX_USER_NAME} of A-Z a-z 0-9 _ -, not starting with -"
        ))
    }
}

/// A quota as written in the file: digits and an optional K, M, G or T.
///
/// # Errors
/// What is wrong with it, in words.
pub fn parse_quota(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        Some(b'T' | b't') => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("quota {s:?} is not a number of bytes (K, M, G, T suffixes)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("quota {s:?} is too large"))
}

impl Users {
    /// Parses the file's text.
    ///
    /// # Errors
    /// [`UsersError::Line`] for the first bad line.
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let mut by_name = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |why: String| UsersError::Line { line: i + 1, why };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(3, ':');
            let (Some(name), Some(secret), Some(quota)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected NAME:SECRET:QUOTA".into()));
            };
            check_name(name).map_err(bad)?;
            secret::check_secret(secret.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let quota = parse_quota(quota).map_err(bad)?;
            let user = User {
                name: name.to_owned(),
                secret: secret.as_bytes().to_vec(),
                quota,
            };
            if by_name.insert(name.to_owned(), user).is_some() {
                return Err(bad(format!("user {name:?} is listed twice")));
            }
        }
        Ok(Users { by_name })
    }

    /// Reads and parses `path`, refusing a file others may read.
    ///
    /// # Errors
    /// [`UsersError`].
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let shown = path.display().to_string();
        let read = |source| UsersError::Read {
            path: shown.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(UsersError::Readable { path: shown, mode });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Users::parse(&text)
    }

    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    /// Every user, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_name.values()
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// No users at all.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Adds `name` with `quota` bytes and a fresh secret (64 random hex digits) to the users
/// file at `path`, creating it (mode `0600`) if it does not exist; returns the secret, for
/// the user's `--secret-file`.
///
/// # Errors
/// A bad name, a name already there, a file that cannot be read or written (or that others
/// may read).
pub fn add_user(path: &Path, name: &str, quota: u64) -> Result<String, UsersError> {
    let shown = path.display().to_string();
    let io_err = |source| UsersError::Read {
        path: shown.clone(),
        source,
    };
    check_name(name).map_err(|why| UsersError::Line { line: 0, why })?;
    if path.exists() {
        let users = Users::load(path)?;
        if users.get(name).is_some() {
            return Err(UsersError::Line {
                line: 0,
                why: format!("user {name:?} exists already"),
            });
        }
    }
    let secret = mayfly_proto::hex(&auth::challenge().map_err(io_err)?);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    let q = if quota.is_multiple_of(1 << 20) && quota > 0 {
        format!("{}M", quota >> 20)
    } else {
        quota.to_string()
    };
    writeln!(f, "{name}:{secret}:{q}").map_err(io_err)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let cases = [
            ("alice", "NAME:SECRET:QUOTA"),
            ("../x:0123456789abcdef:1K", "user name"),
            ("al ice:0123456789abcdef:1K", "user name"),
            ("alice:short:1K", "at least 16"),
            ("alice:0123456789abcdef:lots", "quota"),
            (
                "alice:0123456789abcdef:1K\nalice:0123456789abcdef:1K",
                "twice",
            ),
        ];
        for (text, says) in cases {
            let e = Users::parse(text).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("line"), "{text:?}: {e}");
        }
        assert_eq!(parse_quota("3G").unwrap(), 3 << 30);
        assert!(parse_quota("99999999999T").is_err());
    }

    #[test]
    fn add_user_makes_an_owner_only_file_that_loads_and_refuses_a_readable_one() {
        let dir = std::env::temp_dir().join(format!("mayfly-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        let _ = std::fs::remove_file(&path);
        let s1 = add_user(&path, "alice", 1 << 20).unwrap();
        let s2 = add_user(&path, "bob", 5000).unwrap();
        assert_eq!(s1.len(), 64);
        assert_ne!(s1, s2);
        assert!(add_user(&path, "alice", 1)
            .unwrap_err()
            .to_string()
            .contains("exists"));
        let users = Users::load(&path).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users.get("alice").unwrap().secret, s1.as_bytes());
        assert_eq!(users.get("bob").unwrap().quota, 5000);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Users::load(&path).unwrap_err();
        assert!(matches!(e, UsersError::Readable { mode: 0o644, .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
