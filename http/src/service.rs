//! The per-connection service: waits for the server's rate cap, runs the server's handler
//! for each request with its panic caught (a 500; the server goes on) and counts each
//! answered request and how long its handler took; a handler's `Err` (also a 500) is a log
//! event.

use std::cell::Cell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use mayfly::log_limit::{LogLimit, DEFAULT_LOG_EVERY};
use mayfly::server::{RequestStart, ServerStats};

use crate::rate::RateLimit;
use may_minihttp::{Request, Response};

/// What answers requests: reads the [`Request`], fills the [`Response`]. Runs in the
/// connection's greenlet, so blocking calls (mayfly sockets, sleeps, locks) park only it. An
/// `Err` or a panic answers 500 and the connection goes on.
pub type Handler = dyn Fn(&Request<'_>, &mut Response) -> io::Result<()> + Send + Sync + 'static;

/// One connection's service over the shared handler.
pub(crate) struct Service {
    pub(crate) handler: Arc<Handler>,
    pub(crate) stats: Arc<ServerStats>,
    /// The server's rate cap, if it has one.
    pub(crate) rate: Option<Arc<RateLimit>>,
    /// Set at the first request (it ends the first-request timeout).
    pub(crate) arrived: Rc<Cell<bool>>,
}

impl may_minihttp::HttpService for Service {
    fn call(&mut self, req: &Request<'_>, rsp: &mut Response) -> io::Result<()> {
        self.arrived.set(true);
        if let Some(rate) = &self.rate {
            let wait = rate.delay();
            if !wait.is_zero() {
                mayfly::sleep(wait);
            }
        }
        self.stats.requests(1);
        let started = RequestStart::now();
        let answered = panic::catch_unwind(AssertUnwindSafe(|| (self.handler)(req, rsp)));
        self.stats.request_done(started);
        match answered {
            Ok(r) => r.inspect_err(|e| handler_failed(req, e)),
            Err(p) => {
                if p.downcast_ref::<generator::Error>().is_some() {
                    // A kill: the greenlet must die as killed, not answer.
                    panic::resume_unwind(p);
                }
                self.stats.panicked();
                Err(io::Error::other("handler panicked"))
            }
        }
    }
}

/// A handler's `Err` (answered 500) as a `warn` event naming the greenlet and the request, at
/// most one a second (a handler failing every request must not flood stderr).
fn handler_failed(req: &Request<'_>, e: &io::Error) {
    static FAILED: LogLimit = LogLimit::new(DEFAULT_LOG_EVERY);
    if !log::log_enabled!(log::Level::Warn) {
        return;
    }
    if let Some(held) = FAILED.allow() {
        let g = mayfly::getcurrent();
        let (name, path) = (g.name.as_str(), req.path());
        log::warn!(greenlet = name, id = g.id, path = path, error:% = e, similar_held_back = held;
            "greenlet {name:?} (#{}): the handler failed on {path} (answered 500): {e}", g.id);
    }
}
