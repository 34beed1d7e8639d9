//! What a load test cost the server, read from the server's own stats page (`mayfly serve …
//! --stats-addr`): its CPU seconds and requests before and after the run, so `mayfly stress`
//! can print server CPU per request beside req/s. req/s alone measures the client as much as
//! the server (a thread-per-connection server can answer faster and still spend more CPU on
//! each answer); CPU per request is what `mayfly compare` ranks builds by.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a stats read may take (connect, send, the whole answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest `/stats` answer read (it holds five minutes of history).
pub const MAX_ANSWER: u64 = 4 << 20;

/// Why the stats page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The address resolves to nothing.
    #[error("{0}: no such address")]
    NoAddress(String),
    /// Connecting, sending or reading failed.
    #[error("reading http://{addr}/stats")]
    Io {
        /// The stats page.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The answer is not a stats page's (`HTTP/1.1 200` with `cpu_seconds` and `requests`).
    #[error("http://{0}/stats did not answer as a mayfly stats page (is it the address printed as `stats on ADDR`?)")]
    NotStats(String),
}

/// One reading of the server: its CPU time and the requests it answered, so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// User + system CPU seconds of the server (all its workers under `--workers`).
    pub cpu_seconds: f64,
    /// Requests the server answered.
    pub requests: u64,
}

impl Reading {
    /// Server CPU µs per request between `self` (before) and `after`; `None` if no request
    /// was answered in between.
    ///
    /// ```
    /// use mayfly_clients::server_cpu::Reading;
    /// let a = Reading { cpu_seconds: 1.0, requests: 1000 };
    /// let b = Reading { cpu_seconds: 3.0, requests: 201_000 };
    /// assert_eq!(a.cpu_us_per_request(&b), Some(10.0));
    /// assert_eq!(a.cpu_us_per_request(&a), None);
    /// ```
    pub fn cpu_us_per_request(&self, after: &Reading) -> Option<f64> {
        let n = after
            .requests
            .checked_sub(self.requests)
            .filter(|n| *n > 0)?;
        Some((after.cpu_seconds - self.cpu_seconds).max(0.0) * 1e6 / n as f64)
    }
}

/// Reads `GET /stats` at `addr` once.
///
/// # Errors
///
/// [`StatsError`]: the address, the connection, or an answer that is not a stats page.
pub fn read(addr: &str, timeout: Duration) -> Result<Reading, StatsError> {
    let to = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| StatsError::NoAddress(addr.to_string()))?;
    let io = |source| StatsError::Io {
        addr: addr.to_string(),
        source,
    };
    let body = get(to, timeout).map_err(io)?;
    parse(&body).ok_or_else(|| StatsError::NotStats(addr.to_string()))
}

fn get(to: SocketAddr, timeout: Duration) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&to, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(
        format!("GET /stats HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut out = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut out)?;
    Ok(out)
}

/// The reading in an HTTP answer (status line, headers, JSON body).
fn parse(answer: &[u8]) -> Option<Reading> {
    let text = std::str::from_utf8(answer).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    Some(Reading {
        cpu_seconds: v.get("cpu_seconds")?.as_f64()?,
        requests: v.get("requests")?.as_u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stats_answer_parses_and_anything_else_does_not() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"requests\":7,\"cpu_seconds\":0.5}";
        assert_eq!(
            parse(ok),
            Some(Reading {
                cpu_seconds: 0.5,
                requests: 7
            })
        );
        assert_eq!(parse(b"HTTP/1.1 404 Not Found\r\n\r\n{}"), None);
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n\r\n{\"requests\":7}"), None);
        assert_eq!(parse(b"garbage"), None);
    }
}
