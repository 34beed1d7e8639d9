//! The answers every HTTP build sends, byte for byte: TechEmpower's plaintext and JSON
//! tests, and a 404 for anything else. Each build writes [`Answer`]'s status, headers (in
//! [`Answer::headers`]' order, after `Server` and `Date`) and body onto its own wire.

pub use mayfly_proto::plaintext::{JSON_BODY, JSON_PATH, PLAINTEXT_BODY, PLAINTEXT_PATH};

/// The body of a 404.
pub const NOT_FOUND_BODY: &[u8] = b"Not Found\n";
/// The `Server` header's value, the same from every build.
pub const SERVER: &str = "mayfly";

/// What one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static [u8],
}

/// The answer to `method` `path` (the target without its query).
///
/// ```
/// use mayfly_servers::plaintext::{answer, PLAINTEXT_BODY};
/// assert_eq!(answer("GET", "/plaintext").body, PLAINTEXT_BODY);
/// assert_eq!(answer("GET", "/json").content_type, "application/json");
/// assert_eq!(answer("POST", "/json").status, 404);
/// ```
pub fn answer(method: &str, path: &str) -> Answer {
    match (method, path) {
        ("GET", PLAINTEXT_PATH) => Answer {
            status: 200,
            content_type: "text/plain",
            body: PLAINTEXT_BODY,
        },
        ("GET", JSON_PATH) => Answer {
            status: 200,
            content_type: "application/json",
            body: JSON_BODY,
        },
        _ => Answer {
            status: 404,
            content_type: "text/plain",
            body: NOT_FOUND_BODY,
        },
    }
}

/// Writes `a` into a may_minihttp response (the coroutine and threads builds), which adds
/// `Server`, `Date` and `Content-Length` before these.
pub(crate) fn fill(rsp: &mut may_minihttp::Response, a: Answer) {
    rsp.status(a.status)
        .header("Content-Type", a.content_type)
        .body(a.body);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_json_body_is_what_serde_json_writes() {
        let v = serde_json::json!({"message": "Hello, World!"});
        assert_eq!(serde_json::to_vec(&v).unwrap(), super::JSON_BODY);
    }
}
