//! Lowercase hex, the form hashes (`sha256`) and challenges (`challenge`, `hmac`) take in
//! frame headers.

/// Bytes as lowercase hex.
///
/// ```
/// assert_eq!(mayfly_proto::hex(&[0x00, 0xab, 0x7f]), "00ab7f");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Hex (either case) to bytes; `None` if it is not even-length hex.
///
/// ```
/// assert_eq!(mayfly_proto::unhex("00AB7f"), Some(vec![0x00, 0xab, 0x7f]));
/// assert_eq!(mayfly_proto::unhex("abc"), None);
/// assert_eq!(mayfly_proto::unhex("zz"), None);
/// ```
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
