//! What the log says when a handler returns an error: gevent prints a greenlet's traceback;
//! here a handler's `Err` is one log event naming its greenlet (the connection, `conn-PEER`),
//! the error and its [`ErrorClass`]. A peer's doing (a timeout, a reset, bad input) is a
//! `debug` event, anything else a `warn`; both held to one line a second ([`LogLimit`]),
//! the line's `similar_held_back` field saying how many more it stands for, since a flood of
//! failing connections must not turn into a flood of writes to stderr.

use std::io;

use crate::log_limit::{LogLimit, DEFAULT_LOG_EVERY};

use super::stats::ErrorClass;

static PEER_FAULTS: LogLimit = LogLimit::new(DEFAULT_LOG_EVERY);
static SERVER_FAULTS: LogLimit = LogLimit::new(DEFAULT_LOG_EVERY);

/// Logs the error `e` a handler returned in the current greenlet.
pub(crate) fn failed(e: &io::Error) {
    let class = ErrorClass::of(e);
    let (level, limit) = match class {
        ErrorClass::Other => (log::Level::Warn, &SERVER_FAULTS),
        ErrorClass::Timeout | ErrorClass::Reset | ErrorClass::Protocol => {
            (log::Level::Debug, &PEER_FAULTS)
        }
    };
    if !log::log_enabled!(level) {
        return;
    }
    let Some(held) = limit.allow() else {
        return;
    };
    let g = crate::getcurrent();
    let kind = format!("{class:?}").to_lowercase();
    let name = g.name.as_str();
    log::log!(level,
        greenlet = name, id = g.id, class = kind.as_str(), error:% = e, similar_held_back = held;
        "greenlet {name:?} (#{}) failed: {e}", g.id);
}
