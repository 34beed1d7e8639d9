//! The stats page of a supervisor (`mayfly serve … --workers N --stats-addr ADDR`): each
//! worker serves its own page on a loopback port ([`crate::http`]); this page fetches each
//! worker's `/stats` JSON and `/metrics` text over loopback on every request and serves
//!
//! - `/stats`: the sum over the workers ([`sum`]: counters and gauges add up, `uptime_s` is
//!   the longest, text is the first worker's; `history` summed sample by sample,
//!   [`sum_history`]), plus
//!   `workers` (how many answered), `per_worker` (`worker`, `pid` and that worker's JSON),
//!   and the supervisor's own [`Counters`]: `worker_exits`, `worker_timeouts`;
//! - `/metrics`: one exposition ([`crate::metrics::render`]) of every worker's figures (their
//!   `/metrics.json`): each family once, a sample per worker with `worker="I"` (Prometheus
//!   sums them with `sum without (worker)`), then the supervisor's counters
//!   (`mayfly_worker_exits_total`, `mayfly_worker_timeouts_total`, no label);
//! - `/`: the live dashboard, the same page one process serves, charting the summed history.
//!
//! One plain thread answers one request at a time: it is a page for people and scrapers,
//! bounded by [`Options`], never in the path of the server's clients.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use mayfly_servers::supervisor::{Counters, WorkerInfo};
//! use mayfly_servers::supervisor_stats::{start, Options};
//! let roster = Arc::new(Mutex::new(vec![WorkerInfo::default(); 2]));
//! let page = start(&Options::new("127.0.0.1:0"), roster, Arc::new(Counters::default()))?;
//! println!("stats on {}", page.local_addr());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::metrics::{self, Figures, OwnCounter, Source};
use crate::supervisor::{Counters, Roster, WorkerInfo};

/// Default [`Options::fetch_timeout`]: a worker that does not answer within this is shown as
/// unavailable.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(1);
/// Default [`Options::request_timeout`]: time a client gets to send its request head.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`Options::max_request`]: the longest request head read, bytes.
pub const DEFAULT_MAX_REQUEST: usize = 8 * 1024;
/// Default [`Options::max_body`]: the largest worker reply read, bytes.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// How to serve the supervisor's page.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// See [`DEFAULT_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// See [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`DEFAULT_MAX_REQUEST`].
    pub max_request: usize,
    /// See [`DEFAULT_MAX_BODY`].
    pub max_body: usize,
}

impl Options {
    /// Defaults for `addr`.
    pub fn new(addr: impl Into<String>) -> Options {
        Options {
            addr: addr.into(),
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_request: DEFAULT_MAX_REQUEST,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// The running page (it runs until the process exits).
#[derive(Debug)]
pub struct RunningPage {
    addr: SocketAddr,
}

impl RunningPage {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `opts.addr` and serves the page for the workers in `roster`, with the supervisor's
/// `counters`, on a thread.
///
/// # Errors
/// The bind error (`AddrInUse` for a port in use), or the thread's spawn error.
pub fn start(opts: &Options, roster: Roster, counters: Arc<Counters>) -> io::Result<RunningPage> {
    let listener = TcpListener::bind(opts.addr.as_str())?;
    let addr = listener.local_addr()?;
    let opts = opts.clone();
    std::thread::Builder::new()
        .name("supervisor-stats".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = answer(conn, &opts, &roster, &counters);
            }
        })?;
    Ok(RunningPage { addr })
}

fn answer(
    mut conn: TcpStream,
    opts: &Options,
    roster: &Roster,
    counters: &Counters,
) -> io::Result<()> {
    conn.set_read_timeout(Some(opts.request_timeout))?;
    conn.set_write_timeout(Some(opts.request_timeout))?;
    let mut head = BufReader::new((&conn).take(opts.max_request as u64));
    let mut first = String::new();
    head.read_line(&mut first)?;
    // Read the rest of the head: closing with unread bytes would reset the reply.
    let mut line = String::new();
    while head.read_line(&mut line)? > 0 && !line.trim().is_empty() {
        line.clear();
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    let workers: Vec<WorkerInfo> = roster.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (status, ctype, body) = match path.split('?').next().unwrap_or("/") {
        "/stats" => (
            "200 OK",
            "application/json",
            stats_json(&workers, counters, opts).to_string(),
        ),
        "/metrics" => (
            "200 OK",
            metrics::CONTENT_TYPE,
            metrics_text(&workers, counters, opts),
        ),
        // The same dashboard as one process's page: it reads /stats, whose history is
        // summed over the workers.
        "/" => (
            "200 OK",
            "text/html; charset=utf-8",
            crate::http::DASHBOARD.to_string(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// `/stats`: the sum, `workers`, `per_worker` and the supervisor's counters.
fn stats_json(workers: &[WorkerInfo], counters: &Counters, opts: &Options) -> Value {
    let mut per = Vec::new();
    let mut answered = Vec::new();
    for (i, w) in workers.iter().enumerate() {
        let stats = w
            .stats
            .and_then(|a| get(a, "/stats", opts).ok())
            .and_then(|b| serde_json::from_str::<Value>(&b).ok());
        if let Some(s) = &stats {
            answered.push(s.clone());
        }
        per.push(serde_json::json!({
            "worker": i,
            "pid": w.pid,
            "stats": stats,
        }));
    }
    let mut total = sum(&answered);
    if let Value::Object(m) = &mut total {
        m.insert("history".into(), sum_history(&answered));
        m.insert("workers".into(), Value::from(answered.len()));
        m.insert("per_worker".into(), Value::Array(per));
        for (name, _, _, c) in supervisor_counters(counters) {
            m.insert(name.into(), Value::from(c));
        }
    }
    total
}

/// The supervisor's own counters: JSON name, `/metrics` family (without `_total`), help
/// text, value.
fn supervisor_counters(c: &Counters) -> [(&'static str, &'static str, &'static str, u64); 2] {
    [
        (
            "worker_exits",
            "mayfly_worker_exits",
            "Workers that died or were killed while the supervisor ran.",
            c.worker_exits.load(Ordering::Relaxed),
        ),
        (
            "worker_timeouts",
            "mayfly_worker_timeouts",
            "Workers killed for sending no heartbeat within --worker-timeout.",
            c.worker_timeouts.load(Ordering::Relaxed),
        ),
    ]
}

/// `/metrics`: the workers' figures (each worker's `/metrics.json`) rendered as one
/// exposition, every family once with a sample per worker (`worker="I"`), then the
/// supervisor's counters (no label). A worker that does not answer has no samples.
fn metrics_text(workers: &[WorkerInfo], counters: &Counters, opts: &Options) -> String {
    let figures: Vec<(usize, Figures)> = workers
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let body = w.stats.and_then(|a| get(a, "/metrics.json", opts).ok())?;
            Some((i, serde_json::from_str(&body).ok()?))
        })
        .collect();
    let sources: Vec<Source<'_>> = figures
        .iter()
        .map(|(i, f)| Source {
            worker: Some(*i),
            figures: f,
        })
        .collect();
    let own: Vec<OwnCounter> = supervisor_counters(counters)
        .into_iter()
        .map(|(_, name, help, value)| (name, help, value))
        .collect();
    metrics::render(&sources, &own)
}

/// The sum of the workers' `/stats` objects: numbers add up (`uptime_s`: the largest),
/// objects merge key by key, other values are the first worker's, arrays are left out.
///
/// ```
/// use serde_json::json;
/// let a = json!({"requests": 3, "bytes": {"in": 1}, "server": "echo", "uptime_s": 2.0});
/// let b = json!({"requests": 4, "bytes": {"in": 2}, "server": "echo", "uptime_s": 5.0});
/// let s = mayfly_servers::supervisor_stats::sum(&[a, b]);
/// assert_eq!(s, json!({"requests": 7, "bytes": {"in": 3}, "server": "echo", "uptime_s": 5.0}));
/// ```
pub fn sum(values: &[Value]) -> Value {
    let mut acc = Value::Object(Map::new());
    for v in values {
        acc = merge(acc, v, "");
    }
    acc
}

/// The workers' `history` lists (one sample a second: `t`, `active`, `rps`) summed sample by
/// sample, aligned on the newest; `t` is the longest list's.
///
/// ```
/// use serde_json::json;
/// let a = json!({"history": [{"t": 1.0, "active": 1, "rps": 10.0}, {"t": 2.0, "active": 2, "rps": 20.0}]});
/// let b = json!({"history": [{"t": 0.5, "active": 5, "rps": 1.0}]});
/// let h = mayfly_servers::supervisor_stats::sum_history(&[a, b]);
/// assert_eq!(h, json!([{"t": 1.0, "active": 1, "rps": 10.0}, {"t": 2.0, "active": 7, "rps": 21.0}]));
/// ```
pub fn sum_history(values: &[Value]) -> Value {
    let lists: Vec<&Vec<Value>> = values
        .iter()
        .filter_map(|v| v.get("history").and_then(Value::as_array))
        .collect();
    let Some(longest) = lists.iter().max_by_key(|l| l.len()) else {
        return Value::Array(Vec::new());
    };
    let n = longest.len();
    let out = (0..n)
        .map(|i| {
            let mut point = serde_json::json!({"t": longest[i]["t"].clone()});
            for key in ["active", "rps"] {
                let parts: Vec<Value> = lists
                    .iter()
                    .filter_map(|l| {
                        // Newest samples line up: the i-th of the longest is this one's
                        // (i - (n - len))-th.
                        let j = i.checked_sub(n - l.len())?;
                        Some(l[j][key].clone())
                    })
                    .collect();
                let total = parts.iter().fold(Value::Null, |acc, v| merge(acc, v, key));
                point[key] = if total.is_null() {
                    Value::from(0)
                } else {
                    total
                };
            }
            point
        })
        .collect();
    Value::Array(out)
}

fn merge(acc: Value, v: &Value, key: &str) -> Value {
    match (acc, v) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, bv) in b {
                if bv.is_array() {
                    continue;
                }
                let av = a.remove(k).unwrap_or(Value::Null);
                a.insert(k.clone(), merge(av, bv, k));
            }
            Value::Object(a)
        }
        (Value::Null, b) => b.clone(),
        (Value::Number(a), Value::Number(b)) => add(&a, b, key == "uptime_s"),
        (a, _) => a,
    }
}

fn add(a: &serde_json::Number, b: &serde_json::Number, take_max: bool) -> Value {
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Value::from(if take_max {
            x.max(y)
        } else {
            x.saturating_add(y)
        });
    }
    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    let r = if take_max { x.max(y) } else { x + y };
    // Rounded to microunits: sums of rates and seconds should not print float noise.
    serde_json::Number::from_f64((r * 1e6).round() / 1e6).map_or(Value::Null, Value::Number)
}

/// GET `path` from a worker's page: the body of a 200 reply.
fn get(addr: SocketAddr, path: &str, opts: &Options) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, opts.fetch_timeout)?;
    s.set_read_timeout(Some(opts.fetch_timeout))?;
    s.set_write_timeout(Some(opts.fetch_timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut r = BufReader::new(s.take(opts.max_body as u64));
    let mut line = String::new();
    r.read_line(&mut line)?;
    if line.split_whitespace().nth(1) != Some("200") {
        return Err(io::Error::other(format!("worker page answered {line:?}")));
    }
    let mut len = None;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let len = len.ok_or_else(|| io::Error::other("worker page sent no Content-Length"))?;
    let mut body = vec![0; len.min(opts.max_body)];
    r.read_exact(&mut body)?;
    String::from_utf8(body).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_numbers_merges_objects_and_drops_lists() {
        let a = json!({"requests": 1, "cpu_seconds": 0.5, "history": [1], "errors": {"reset": 2}});
        let b = json!({"requests": 2, "cpu_seconds": 0.25, "history": [2], "errors": {"reset": 1, "timeout": 4}});
        assert_eq!(
            sum(&[a, b]),
            json!({"requests": 3, "cpu_seconds": 0.75, "errors": {"reset": 3, "timeout": 4}})
        );
        assert_eq!(sum(&[]), json!({}));
    }
}
