//! The command server's shared secret: loading it and refusing one too short to be safe.
//! The challenge and its HMAC answer are the protocol's, in `mayfly_proto::cmd::auth`.

use std::io;

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
