//! `/metrics`: a server's [`Figures`] (its counters, latency histogram, build and `/proc`
//! readings, as plain data) rendered in the Prometheus text format by `prometheus-client`
//! ([`render`]). Families, each with HELP and TYPE:
//!
//! | family | type | what |
//! |---|---|---|
//! | `mayfly_build_info{mode,version}` | gauge (1) | the server build (`echo/coroutine`, `file`, …) and mayfly's version |
//! | `mayfly_uptime_seconds` | gauge | since the counters started |
//! | `mayfly_connections_active` | gauge | connections served now |
//! | `mayfly_connections_accepted_total`, `mayfly_connections_closed_total` | counter | |
//! | `mayfly_connection_errors_total{kind}` | counter | timeout, reset, protocol, other |
//! | `mayfly_requests_total` | counter | requests served (echo: replies) |
//! | `mayfly_request_duration_seconds` | histogram | echo: read to reply written; HTTP: the handler |
//! | `mayfly_received_bytes_total`, `mayfly_sent_bytes_total` | counter | |
//! | `mayfly_handler_panics_total`, `mayfly_accept_errors_total`, `mayfly_spawn_errors_total`, `mayfly_killed_at_shutdown_total` | counter | |
//! | `mayfly_greenlets_alive` | gauge | |
//! | `mayfly_NAME[_total]` | counter or gauge | each server-specific value (`mayfly::server::Metric`: `partials`, `udp_over_budget`, …) |
//! | `process_start_time_seconds`, `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads` | | the standard process metrics, from `/proc` |
//!
//! Under `--workers N` the supervisor's page fetches each worker's figures (`/metrics.json`)
//! and renders them in one registry: every family once, a sample per worker with
//! `worker="I"` (sum with `sum without (worker)`), then its own counters.

mod exposition;
mod figures;

pub use exposition::{render, OwnCounter, Source, CONTENT_TYPE};
pub use figures::{ConnectionErrors, Figures, Latency, Process, Value};
