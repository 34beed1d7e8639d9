//! The coroutine HTTP build: mayfly-http's `HttpServer` (may_minihttp's loop, one greenlet
//! per connection on mayfly's `StreamServer`, one worker).

use std::io;
use std::sync::Arc;

use mayfly::net::Bind;
use mayfly::server::{Running, ServerStats};
use mayfly_http::HttpServer;

use super::routes::{answer, fill};
use super::Options;

/// mayfly-http's `RunningServer` is the running handle: it already implements [`Running`],
/// and its service counts every answer in `requests`.
pub(crate) fn start(opts: &Options) -> io::Result<Box<dyn Running>> {
    let listener = Bind::new(opts.addr.as_str())
        .backlog(opts.backlog)
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let server = HttpServer::new(listener, |req, rsp| {
        fill(rsp, answer(req.method(), req.path()));
        Ok(())
    })
    .options(opts.http.clone())
    .with_counters(Arc::new(ServerStats::new()));
    Ok(Box::new(server.start()))
}
