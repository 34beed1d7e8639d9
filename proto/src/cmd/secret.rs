//! The command protocol's shared secret, which the server and its client both load the same
//! way: a file named on the command line, else the [`SECRET_ENV`] variable; either way at
//! least [`MIN_SECRET_LEN`] bytes. The challenge and its HMAC answer are in
//! [`super::auth`].

use std::io;
use std::path::Path;

/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// Reads a secret from a file (a trailing newline is dropped) and checks its length.
///
/// # Errors
///
/// The file cannot be read (the error names it), or the secret is too short
/// ([`check_secret`]).
pub fn read_secret(path: &std::path::Path) -> io::Result<Vec<u8>> {
    let mut s = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("secret file {}: {e}", path.display())))?;
    while s.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        s.pop();
    }
    check_secret(&s)?;
    Ok(s)
}

/// Refuses a secret shorter than [`MIN_SECRET_LEN`] bytes.
///
/// # Errors
///
/// `InvalidInput`, saying how long the secret is and how long it must be.
pub fn check_secret(secret: &[u8]) -> io::Result<()> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the shared secret is {} bytes; at least {MIN_SECRET_LEN} are required",
                secret.len()
            ),
        ));
    }
    Ok(())
}

/// The variable read when no secret file is given.
pub const SECRET_ENV: &str = "MAYFLY_CMD_SECRET";

/// Why no usable secret was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// No file was given and [`SECRET_ENV`] is unset (or not UTF-8).
    #[error("no secret: pass --secret-file FILE or set MAYFLY_CMD_SECRET")]
    Missing,
    /// The file could not be read, or holds a secret that is too short (the message names
    /// the file, or the length).
    #[error(transparent)]
    File(io::Error),
    /// The variable holds a secret that is too short.
    #[error(transparent)]
    TooShort(io::Error),
}

/// The shared secret from `file` (a trailing newline dropped), or else from the
/// [`SECRET_ENV`] variable.
///
/// # Errors
///
/// [`SecretError::Missing`] if there is neither; [`SecretError::File`] if the file cannot
/// be read or its secret is shorter than [`MIN_SECRET_LEN`];
/// [`SecretError::TooShort`] if the variable's is.
///
/// ```
/// use mayfly_proto::cmd::secret::{load_secret, SecretError};
/// let dir = std::env::temp_dir().join(format!("mayfly-secret-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let f = dir.join("secret");
/// std::fs::write(&f, "0123456789abcdef\n").unwrap();
/// assert_eq!(load_secret(Some(&f)).unwrap(), b"0123456789abcdef");
/// std::fs::write(&f, "short").unwrap();
/// assert!(matches!(load_secret(Some(&f)), Err(SecretError::File(_))));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn load_secret(file: Option<&Path>) -> Result<Vec<u8>, SecretError> {
    match file {
        Some(p) => read_secret(p).map_err(SecretError::File),
        None => {
            let s = std::env::var(SECRET_ENV).map_err(|_| SecretError::Missing)?;
            check_secret(s.as_bytes()).map_err(SecretError::TooShort)?;
            Ok(s.into_bytes())
        }
    }
}
