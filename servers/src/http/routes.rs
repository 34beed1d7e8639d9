//! What the stats page answers each request, as a mayfly-http handler: `GET` of one of the
//! [`ROUTES`] gets its page, another path 404, another method 405.

use std::io;

use mayfly_http::{Request, Response};

use crate::http::page::Page;

/// Paths the stats page serves.
pub const ROUTES: [&str; 4] = ["/", "/stats", "/metrics", "/metrics.json"];

/// The dashboard page.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// Fills `rsp` for `req` from `page`.
///
/// # Errors
/// None: every request gets an answer (the `Result` is the handler's signature).
pub(crate) fn answer(page: &Page, req: &Request<'_>, rsp: &mut Response) -> io::Result<()> {
    let path = req.path();
    if !ROUTES.contains(&path) {
        simple(rsp, 404);
    } else if req.method() != "GET" {
        simple(rsp, 405).header("Allow", "GET");
    } else {
        match path {
            "/stats" => rsp
                .header("Content-Type", "application/json")
                .header("Cache-Control", "no-store")
                .body(page.json()),
            "/metrics" => rsp
                .header("Content-Type", crate::metrics::CONTENT_TYPE)
                .body(page.prometheus()),
            "/metrics.json" => rsp
                .header("Content-Type", "application/json")
                .header("Cache-Control", "no-store")
                .body(serde_json::to_vec(&page.figures()).expect("figures serialize")),
            _ => rsp
                .header("Content-Type", "text/html; charset=utf-8")
                .body(DASHBOARD),
        };
    }
    Ok(())
}

/// A plain-text answer whose body is its status line (`404 Not Found`).
fn simple(rsp: &mut Response, status: u16) -> &mut Response {
    rsp.status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(format!("{status} {}\n", mayfly_http::reason(status)))
}
