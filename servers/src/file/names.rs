//! Which filenames the file server accepts: plain names inside its root, nothing else.

/// Longest accepted name, in bytes (Linux's NAME_MAX).
pub const MAX_NAME: usize = 255;

/// Why a filename was refused. The text goes into the error reply as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty string.
    #[error("filename is empty")]
    Empty,
    /// Over [`MAX_NAME`] bytes.
    #[error("filename is {0} bytes long; the limit is 255")]
    TooLong(usize),
    /// Contains `/` or `\`: a path, not a name (covers absolute paths and `a/../b`).
    #[error("filename {0:?} contains a path separator; only plain names are allowed")]
    Separator(String),
    /// `.`, `..`, or a name starting with `.` (hidden names are reserved for the server).
    #[error("filename {0:?} starts with '.'; hidden names and '..' are not allowed")]
    Dot(String),
    /// A NUL or other control character.
    #[error("filename {0:?} contains a control character")]
    Control(String),
}

/// Checks `name` is a plain file name the server may create or serve under its root.
///
/// Symlinks are handled where files are opened (never followed), not here.
///
/// ```
/// use mayfly_servers::file::names::{check, NameError};
/// assert_eq!(check("report 2024.txt"), Ok("report 2024.txt"));
/// assert!(matches!(check("../etc/passwd"), Err(NameError::Separator(_))));
/// assert!(matches!(check("/etc/passwd"), Err(NameError::Separator(_))));
/// assert!(matches!(check(".."), Err(NameError::Dot(_))));
/// assert!(matches!(check("a\0b"), Err(NameError::Control(_))));
/// ```
pub fn check(name: &str) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong(name.len()));
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator(name.to_owned()));
    }
    if name.starts_with('.') {
        return Err(NameError::Dot(name.to_owned()));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control(name.to_owned()));
    }
    Ok(name)
}
