//! The course's client authentication: the server sends random bytes, the client answers
//! with an HMAC of them under the shared secret, the server compares in constant time.
//! (The course used HMAC-MD5 over raw bytes; this is HMAC-SHA256 in hex inside frames.)

use std::io::{self, Read};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Random bytes per challenge.
pub const CHALLENGE_LEN: usize = 32;
/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A fresh challenge from the kernel's CSPRNG.
pub fn challenge() -> io::Result<[u8; CHALLENGE_LEN]> {
    let mut c = [0u8; CHALLENGE_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut c)?;
    Ok(c)
}

/// The answer to `challenge` under `secret`: HMAC-SHA256, lowercase hex.
///
/// ```
/// use mayfly_servers::cmd::auth;
/// let a = auth::answer(b"0123456789abcdef", b"challenge");
/// assert!(auth::verify(b"0123456789abcdef", b"challenge", &a));
/// assert!(!auth::verify(b"another secret!!", b"challenge", &a));
/// ```
pub fn answer(secret: &[u8], challenge: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(challenge);
    crate::file::hex(&mac.finalize().into_bytes())
}

/// True if `answer_hex` is the right answer; compared in constant time.
pub fn verify(secret: &[u8], challenge: &[u8], answer_hex: &str) -> bool {
    let Some(bytes) = unhex(answer_hex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(challenge);
    mac.verify_slice(&bytes).is_ok()
}

/// Hex to bytes; `None` if it is not even-length hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads a secret from a file (a trailing newline is dropped) and checks its length.
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
