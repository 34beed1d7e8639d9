//! Error types shared by the runtime's modules.

use std::fmt;
use std::time::Duration;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The runtime already runs with another configuration.
    #[error("the mayfly runtime already runs with {running:?}; configure it before first use")]
    AlreadyStarted {
        /// The configuration in force.
        running: crate::Config,
    },
    /// A coroutine could not be created.
    #[error("could not create a coroutine: {0}")]
    Spawn(std::io::Error),
}

/// Why a greenlet did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GreenletError {
    /// The greenlet panicked; the message names it.
    #[error("greenlet {name:?} (#{id}) panicked: {message}")]
    Panicked {
        /// The greenlet's name.
        name: String,
        /// Its id.
        id: u64,
        /// The panic message.
        message: String,
    },
    /// The greenlet was killed before it finished.
    #[error("greenlet {name:?} (#{id}) was killed")]
    Killed {
        /// The greenlet's name.
        name: String,
        /// Its id.
        id: u64,
    },
    /// Waiting for the greenlet timed out (it may still be running).
    #[error("timed out after {0:?} waiting for a greenlet")]
    Timeout(Duration),
}

/// A greenlet could not be spawned: out of memory mappings, or out of memory.
///
/// may panics inside its spawn when `mmap`/`mprotect` of a stack fails (each greenlet costs
/// two mappings, so `vm.max_map_count` caps a process near 30k greenlets); mayfly turns that
/// into this error.
#[derive(Debug, thiserror::Error)]
#[error("could not spawn a greenlet: {reason}")]
pub struct SpawnError {
    /// What failed, as may reported it.
    pub reason: String,
}

/// A [`crate::with_timeout`] deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The duration that was allowed.
    pub after: Duration,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.after)
    }
}

impl std::error::Error for Timeout {}

impl From<Timeout> for std::io::Error {
    fn from(t: Timeout) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, t)
    }
}
