//! `/metrics` in the Prometheus text format (0.0.4), written by `prometheus-client`: one
//! registry whose collector emits each family once, with one sample per source. A single
//! server is one unlabelled source; a supervisor's page passes each worker's [`Figures`]
//! with `worker="I"`, so every family is one group (HELP, TYPE, then each worker's sample),
//! and adds its own counters without the label.

use std::borrow::Cow;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::figures::Figures;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Whose figures these are: `worker` is the `worker` label's value (`None`: no label).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The `worker` label, if any.
    pub worker: Option<usize>,
    /// The figures.
    pub figures: &'a Figures,
}

/// A counter of the supervisor itself (no `worker` label): its name without `_total`, its
/// help line, its value.
pub type OwnCounter = (&'static str, &'static str, u64);

/// The exposition of `sources` (one family group each, a sample per source) followed by
/// `own` counters.
///
/// ```
/// use mayfly::server::ServerStats;
/// use mayfly_servers::metrics::{render, Figures, Source};
/// let f = Figures::of("echo/coroutine", &ServerStats::new());
/// let text = render(&[Source { worker: Some(0), figures: &f }, Source { worker: Some(1), figures: &f }], &[]);
/// assert!(text.contains("# TYPE mayfly_requests_total counter\nmayfly_requests_total{worker=\"0\"} 0\nmayfly_requests_total{worker=\"1\"} 0\n"));
/// assert!(text.contains("mayfly_build_info{worker=\"0\",mode=\"echo/coroutine\",version="));
/// ```
pub fn render(sources: &[Source<'_>], own: &[OwnCounter]) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        sources: sources
            .iter()
            .map(|s| (s.worker, s.figures.clone()))
            .collect(),
        own: own.to_vec(),
    }));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

/// One scrape's figures, encoded on [`Collector::encode`].
#[derive(Debug)]
struct Scrape {
    sources: Vec<(Option<usize>, Figures)>,
    own: Vec<OwnCounter>,
}

/// A sample's value.
enum V<'a> {
    Counter(u64),
    CounterF(f64),
    Gauge(u64),
    GaugeF(f64),
    Histogram(&'a super::figures::Latency),
    Info,
}

type Labels = Vec<(Cow<'static, str>, Cow<'static, str>)>;

/// One source's samples of a family: extra labels and value each.
type Samples<'f> = Vec<(Labels, V<'f>)>;

impl Scrape {
    /// One family: `name` (a counter without `_total`), `help`, and per source its extra
    /// labels and value (`None`: that source has none).
    fn family<'f>(
        &'f self,
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        ty: MetricType,
        samples: impl Fn(&'f Figures) -> Samples<'f>,
    ) -> Result<(), std::fmt::Error> {
        let per: Vec<(Option<usize>, Samples<'f>)> = self
            .sources
            .iter()
            .map(|(w, f)| (*w, samples(f)))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        if per.is_empty() {
            return Ok(());
        }
        let mut m = enc.encode_descriptor(name, help, None, ty)?;
        for (worker, samples) in per {
            for (extra, v) in samples {
                let mut labels: Labels = Vec::new();
                if let Some(w) = worker {
                    labels.push(("worker".into(), w.to_string().into()));
                }
                labels.extend(extra);
                let fm = m.encode_family(&labels)?;
                encode(fm, &v)?;
            }
        }
        Ok(())
    }
}

fn encode(
    mut m: prometheus_client::encoding::MetricEncoder<'_>,
    v: &V<'_>,
) -> Result<(), std::fmt::Error> {
    match v {
        V::Counter(n) => ConstCounter::new(*n).encode(m),
        V::CounterF(x) => ConstCounter::new(*x).encode(m),
        V::Gauge(n) => ConstGauge::new(*n as i64).encode(m),
        V::GaugeF(x) => ConstGauge::new(*x).encode(m),
        V::Histogram(h) => {
            let buckets: Vec<(f64, u64)> = h
                .bounds_s
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(h.buckets.iter().copied())
                .collect();
            m.encode_histogram::<NoLabelSet>(h.sum_s, h.count, &buckets, None)
        }
        V::Info => m.encode_info(&Vec::<(&str, &str)>::new()),
    }
}

/// A sample with no labels of its own.
fn one(v: V<'_>) -> Samples<'_> {
    vec![(Vec::new(), v)]
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge, Histogram, Info};
        let e = &mut enc;
        self.family(
            e,
            "mayfly_build",
            "The server build and mayfly version.",
            Info,
            |f| {
                vec![(
                    vec![
                        ("mode".into(), f.server.clone().into()),
                        ("version".into(), f.version.clone().into()),
                    ],
                    V::Info,
                )]
            },
        )?;
        self.family(
            e,
            "mayfly_uptime_seconds",
            "Seconds since the server started.",
            Gauge,
            |f| one(V::GaugeF(f.uptime_s)),
        )?;
        self.family(
            e,
            "mayfly_connections_active",
            "Connections being served now.",
            Gauge,
            |f| one(V::Gauge(f.connections_active)),
        )?;
        self.family(
            e,
            "mayfly_connections_accepted",
            "Connections accepted.",
            Counter,
            |f| one(V::Counter(f.connections_accepted)),
        )?;
        self.family(
            e,
            "mayfly_connections_closed",
            "Connections finished, any way.",
            Counter,
            |f| one(V::Counter(f.connections_closed)),
        )?;
        self.family(
            e,
            "mayfly_connection_errors",
            "Connections ended by an error, by kind.",
            Counter,
            |f| {
                let c = f.connection_errors;
                [
                    ("timeout", c.timeout),
                    ("reset", c.reset),
                    ("protocol", c.protocol),
                    ("other", c.other),
                ]
                .into_iter()
                .map(|(k, n)| (vec![("kind".into(), k.into())], V::Counter(n)))
                .collect()
            },
        )?;
        self.family(
            e,
            "mayfly_requests",
            "Requests served (echo: replies sent).",
            Counter,
            |f| one(V::Counter(f.requests)),
        )?;
        self.family(
            e,
            "mayfly_request_duration_seconds",
            "Time to answer a request (echo: from its read to its reply written; HTTP: the handler).",
            Histogram,
            |f| one(V::Histogram(&f.latency)),
        )?;
        self.family(
            e,
            "mayfly_received_bytes",
            "Bytes read from clients.",
            Counter,
            |f| one(V::Counter(f.bytes_in)),
        )?;
        self.family(
            e,
            "mayfly_sent_bytes",
            "Bytes written to clients.",
            Counter,
            |f| one(V::Counter(f.bytes_out)),
        )?;
        self.family(
            e,
            "mayfly_handler_panics",
            "Connection handlers that panicked.",
            Counter,
            |f| one(V::Counter(f.panics)),
        )?;
        self.family(
            e,
            "mayfly_accept_errors",
            "Failed accept calls (EMFILE and friends).",
            Counter,
            |f| one(V::Counter(f.accept_errors)),
        )?;
        self.family(
            e,
            "mayfly_spawn_errors",
            "Connections dropped because no greenlet or thread could start for them.",
            Counter,
            |f| one(V::Counter(f.spawn_errors)),
        )?;
        self.family(
            e,
            "mayfly_killed_at_shutdown",
            "Connections closed at shutdown after the grace period.",
            Counter,
            |f| one(V::Counter(f.killed_at_shutdown)),
        )?;
        self.family(
            e,
            "mayfly_greenlets_alive",
            "Greenlets alive in the process.",
            Gauge,
            |f| one(V::Gauge(f.greenlets_alive)),
        )?;
        // The server's own values, each its own family (the first source's list names them).
        let names: Vec<(String, bool, String)> = self
            .sources
            .first()
            .map(|(_, f)| {
                f.values
                    .iter()
                    .map(|v| (v.name.clone(), v.counter, v.help.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (name, counter, help) in &names {
            let ty = if *counter { Counter } else { Gauge };
            self.family(e, &format!("mayfly_{name}"), help, ty, |f| {
                f.values
                    .iter()
                    .filter(|v| &v.name == name)
                    .map(|v| {
                        let value = if v.counter {
                            V::Counter(v.value)
                        } else {
                            V::Gauge(v.value)
                        };
                        (Vec::new(), value)
                    })
                    .collect()
            })?;
        }
        self.family(
            e,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Gauge,
            |f| one(V::GaugeF(f.process.start_time_s)),
        )?;
        self.family(
            e,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            Counter,
            |f| one(V::CounterF(f.process.cpu_s)),
        )?;
        self.family(
            e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Gauge,
            |f| one(V::Gauge(f.process.resident_bytes)),
        )?;
        self.family(
            e,
            "process_open_fds",
            "Number of open file descriptors.",
            Gauge,
            |f| one(V::Gauge(f.process.open_fds)),
        )?;
        self.family(
            e,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            Gauge,
            |f| {
                f.process
                    .max_fds
                    .map(|n| one(V::Gauge(n)))
                    .unwrap_or_default()
            },
        )?;
        self.family(
            e,
            "process_threads",
            "Number of OS threads in the process.",
            Gauge,
            |f| one(V::Gauge(f.process.threads)),
        )?;
        for (name, help, value) in &self.own {
            let c = ConstCounter::new(*value);
            let m = enc.encode_descriptor(name, help, None, Counter)?;
            c.encode(m)?;
        }
        Ok(())
    }
}
