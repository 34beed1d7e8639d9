//! The course's client authentication: the server sends random bytes, the client answers
//! with an HMAC of them under the shared secret, the server compares in constant time.
//! (The course used HMAC-MD5 over raw bytes; this is HMAC-SHA256 in hex inside frames.)

use std::io::{self, Read};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Random bytes per challenge.
pub const CHALLENGE_LEN: usize = 32;
/// The `algorithm` the server announces with its challenge.
pub const ALGORITHM: &str = "hmac-sha256";

type HmacSha256 = Hmac<Sha256>;

/// A fresh challenge from the kernel's CSPRNG.
///
/// # Errors
///
/// `/dev/urandom` cannot be opened or read.
pub fn challenge() -> io::Result<[u8; CHALLENGE_LEN]> {
    let mut c = [0u8; CHALLENGE_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut c)?;
    Ok(c)
}

/// The answer to `challenge` under `secret`: HMAC-SHA256, lowercase hex.
///
/// ```
/// use mayfly_proto::cmd::auth;
/// let a = auth::answer(b"0123456789abcdef", b"challenge");
/// assert!(auth::verify(b"0123456789abcdef", b"challenge", &a));
/// assert!(!auth::verify(b"another secret!!", b"challenge", &a));
/// ```
pub fn answer(secret: &[u8], challenge: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(challenge);
    crate::hex(&mac.finalize().into_bytes())
}

/// True if `answer_hex` is the right answer; compared in constant time.
pub fn verify(secret: &[u8], challenge: &[u8], answer_hex: &str) -> bool {
    let Some(bytes) = crate::unhex(answer_hex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(challenge);
    mac.verify_slice(&bytes).is_ok()
}
