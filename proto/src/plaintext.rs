//! The HTTP plaintext and JSON tests' wire pieces (TechEmpower's): the paths, and the bodies
//! `mayfly serve http` answers on them, which `mayfly stress --proto http` checks.
//!
//! ```
//! use mayfly_proto::plaintext::{expected_body, PLAINTEXT_BODY};
//! assert_eq!(expected_body("/plaintext"), Some(PLAINTEXT_BODY));
//! assert_eq!(expected_body("/other"), None);
//! ```

/// The plaintext test's path.
pub const PLAINTEXT_PATH: &str = "/plaintext";
/// The JSON test's path.
pub const JSON_PATH: &str = "/json";
/// `GET /plaintext`'s body (`text/plain`).
pub const PLAINTEXT_BODY: &[u8] = b"Hello, World!";
/// `GET /json`'s body (`application/json`), as serde_json writes
/// `{"message": "Hello, World!"}`.
pub const JSON_BODY: &[u8] = br#"{"message":"Hello, World!"}"#;

/// The body a `GET` of `path` must get, for the two tests' paths (`None`: any body).
pub fn expected_body(path: &str) -> Option<&'static [u8]> {
    match path {
        PLAINTEXT_PATH => Some(PLAINTEXT_BODY),
        JSON_PATH => Some(JSON_BODY),
        _ => None,
    }
}
