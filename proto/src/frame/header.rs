//! `Header`: the frame's JSON object, with accessors that name what is missing or wrong.

use serde_json::{Map, Value};

use super::FrameError;

/// A frame header: a JSON object. Unknown fields are kept and ignored, as the protocol asks.
///
/// ```
/// use mayfly_proto::frame::{FrameError, Header};
/// let h = Header::new().with("cmd", "put").with("filesize", 3);
/// assert_eq!(h.str("cmd").unwrap(), "put");
/// assert_eq!(h.u64("filesize").unwrap(), 3);
/// assert_eq!(h.u64("offset").unwrap_err(), FrameError::MissingField("offset".into()));
/// assert_eq!(h.opt_u64("offset").unwrap(), None);
/// assert!(h.u64("cmd").is_err()); // wrong type, and the error says so
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header(pub Map<String, Value>);

impl Header {
    /// An empty header.
    pub fn new() -> Self {
        Header(Map::new())
    }

    /// Adds (or replaces) a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// Sets a field.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// A field's raw value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A required string field.
    pub fn str(&self, key: &str) -> Result<&str, FrameError> {
        self.opt_str(key)?
            .ok_or_else(|| FrameError::MissingField(key.to_owned()))
    }

    /// An optional string field (absent or `null`: `None`).
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, FrameError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong(key, "a string")),
        }
    }

    /// A required non-negative integer field.
    pub fn u64(&self, key: &str) -> Result<u64, FrameError> {
        self.opt_u64(key)?
            .ok_or_else(|| FrameError::MissingField(key.to_owned()))
    }

    /// An optional non-negative integer field (absent or `null`: `None`).
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, FrameError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong(key, "a non-negative integer")),
        }
    }

    /// An optional boolean field (absent or `null`: `false`).
    pub fn flag(&self, key: &str) -> Result<bool, FrameError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(wrong(key, "true or false")),
        }
    }

    /// The header as JSON bytes (what goes after the length prefix).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("a JSON map always serializes")
    }
}

impl From<Map<String, Value>> for Header {
    fn from(m: Map<String, Value>) -> Self {
        Header(m)
    }
}

fn wrong(key: &str, expected: &'static str) -> FrameError {
    FrameError::WrongType {
        field: key.to_owned(),
        expected,
    }
}
