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
    /// An invisible formatting character (Unicode category Cf: a right-to-left override, a
    /// zero-width space, …), which makes a name look like another in `list`.
    #[error("filename {0:?} contains an invisible formatting character; names must look like what they are")]
    Format(String),
}

/// Unicode's format characters (general category Cf): invisible, and able to make a name
/// display as another (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
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
/// assert!(matches!(check("invoice\u{202E}fdp.exe"), Err(NameError::Format(_))));
/// assert!(matches!(check("zero\u{200B}width"), Err(NameError::Format(_))));
/// assert_eq!(check("café – 2024.txt"), Ok("café – 2024.txt"));
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
    if name.chars().any(is_format) {
        return Err(NameError::Format(name.to_owned()));
    }
    Ok(name)
}
