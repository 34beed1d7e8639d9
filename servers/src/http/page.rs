//! What the stats page says: a server's counters plus process readings, as JSON (`/stats`)
//! and as Prometheus text (`/metrics`, rendered by [`crate::metrics`]; its figures as JSON at
//! `/metrics.json` for a supervisor), and the last minutes of history for the dashboard.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly::server::ServerStats;
use serde_json::json;

use crate::metrics::{self, Figures, Source};

/// Samples kept: one per second, five minutes.
pub const HISTORY: usize = 300;
/// Time between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One point of the dashboard's charts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the server started.
    pub t: f64,
    /// Connections open.
    pub active: u64,
    /// Requests per second over the last sample period.
    pub rps: f64,
}

/// The stats page's state: the server's counters and a ring of recent samples.
pub struct Page {
    server: String,
    stats: Arc<ServerStats>,
    history: Mutex<VecDeque<Sample>>,
    last: Mutex<(Instant, u64)>,
}

impl Page {
    /// A page for `stats`, naming the server (`echo/coroutine`, `file`, …).
    pub fn new(server: impl Into<String>, stats: Arc<ServerStats>) -> Arc<Page> {
        let requests = stats.snapshot().requests;
        Arc::new(Page {
            server: server.into(),
            stats,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            last: Mutex::new((Instant::now(), requests)),
        })
    }

    /// Takes a sample (called every [`SAMPLE_EVERY`] by the page's sampler greenlet).
    pub fn sample(&self) {
        let s = self.stats.snapshot();
        let now = Instant::now();
        let mut last = self.last.lock().unwrap();
        let dt = now.duration_since(last.0).as_secs_f64();
        let rps = if dt > 0.0 {
            s.requests.saturating_sub(last.1) as f64 / dt
        } else {
            0.0
        };
        *last = (now, s.requests);
        let mut h = self.history.lock().unwrap();
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(Sample {
            t: s.uptime_ms as f64 / 1000.0,
            active: s.active,
            rps,
        });
    }

    /// Requests per second averaged over the last `n` samples.
    fn recent_rps(&self, n: usize) -> f64 {
        let h = self.history.lock().unwrap();
        let k = h.len().min(n);
        if k == 0 {
            return 0.0;
        }
        h.iter().rev().take(k).map(|s| s.rps).sum::<f64>() / k as f64
    }

    /// `/stats`: everything, as one JSON object.
    pub fn json(&self) -> Vec<u8> {
        let s = self.stats.snapshot();
        let proc = mayfly::process::sample(std::process::id()).unwrap_or_default();
        let history: Vec<Sample> = self.history.lock().unwrap().iter().copied().collect();
        let v = json!({
            "server": self.server,
            "uptime_s": s.uptime_ms as f64 / 1000.0,
            "connections": {"active": s.active, "accepted": s.accepted, "closed": s.closed},
            "requests": s.requests,
            "requests_per_s": {"last_1s": self.recent_rps(1), "last_10s": self.recent_rps(10)},
            "bytes": {"in": s.bytes_in, "out": s.bytes_out},
            "errors": {
                "timeout": s.timeouts, "reset": s.resets, "protocol": s.protocol_errors,
                "other": s.other_errors, "panic": s.panics, "accept": s.accept_errors,
                "spawn": s.spawn_errors,
            },
            "killed_at_shutdown": s.killed,
            "gauges": self.stats.gauges().into_iter()
                .map(|(n, v)| (n.to_owned(), serde_json::Value::from(v)))
                .collect::<serde_json::Map<_, _>>(),
            "greenlets_alive": mayfly::greenlets_alive(),
            "rss_bytes": proc.rss_kib * 1024,
            "cpu_seconds": proc.cpu.as_secs_f64(),
            "os_threads": proc.threads,
            "history": history,
        });
        serde_json::to_vec(&v).expect("JSON values serialize")
    }

    /// The figures `/metrics` renders, now (a supervisor fetches them as `/metrics.json`).
    pub fn figures(&self) -> Figures {
        Figures::of(&self.server, &self.stats)
    }

    /// `/metrics`: Prometheus text exposition format 0.0.4 ([`crate::metrics`]).
    pub fn prometheus(&self) -> Vec<u8> {
        let f = self.figures();
        metrics::render(
            &[Source {
                worker: None,
                figures: &f,
            }],
            &[],
        )
        .into_bytes()
    }
}
