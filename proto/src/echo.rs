//! The echo protocol's build names: which server build ([`Mode`], from the build registry
//! [`crate::builds`]) and which client mode ([`ClientMode`]), spelled as on the command line
//! (`--mode coroutine`) and in reports.
//!
//! The echo protocol itself has no framing: the client sends bytes, the server answers each
//! read with the same bytes uppercased (ASCII), until the client closes. The stress client
//! sends `Thread-<i> say hello <k>` and reads exactly as many bytes back.
//!
//! ```
//! use mayfly_proto::echo::{ClientMode, Mode};
//! assert_eq!("epoll".parse::<Mode>().unwrap(), Mode::Epoll);
//! assert_eq!(Mode::Threads.to_string(), "threads");
//! assert_eq!("coroutine".parse::<ClientMode>().unwrap().name(), "coroutine");
//! ```

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which build of the echo server: defined with every build's facts in the registry
/// ([`crate::builds`]), re-exported here where the protocol's names live.
pub use crate::builds::Mode;

/// How the stress client drives its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientMode {
    /// OS threads, `std::net`.
    Threads,
    /// mayfly greenlets on one worker thread.
    Coroutine,
}

impl std::fmt::Display for ClientMode {
    /// The mode's name on the command line (what `from_str` reads).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ClientMode {
    /// The mode's name on the command line (`mayfly stress --mode …`).
    pub fn name(self) -> &'static str {
        match self {
            ClientMode::Threads => "threads",
            ClientMode::Coroutine => "coroutine",
        }
    }
}

impl FromStr for ClientMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "threads" => Ok(ClientMode::Threads),
            "coroutine" => Ok(ClientMode::Coroutine),
            o => Err(format!(
                "unknown client mode {o:?}: expected threads or coroutine"
            )),
        }
    }
}
