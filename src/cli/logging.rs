//! The binary's one logger: every library crate logs through the `log` facade (with
//! key=value fields), and this module installs the logger that writes those events, one
//! line each, to stderr (never stdout: that is for results and the `listening on` contract).
//!
//! - The level: `info` by default; `-v` debug, `-vv` trace; `-q` warnings and errors only,
//!   `-qq` errors only ([`LogArgs`], global flags on every command).
//! - `RUST_LOG` (env_logger's syntax: `warn`, `mayfly::server=debug`, `info,mayfly_servers=trace`)
//!   is honoured: it sets the level when no `-v`/`-q` is given, and its per-module directives
//!   apply either way (a flag replaces only its catch-all level). may's own `info` lines (one
//!   per registered fd) are held to `warn` unless RUST_LOG names `may`.
//! - The format: `--log-format text` (the default) writes
//!   `LEVEL target: message key=value …`; a server's lines (`mayfly serve …`) start with an
//!   RFC 3339 UTC timestamp and the process id (workers of a supervisor share its stderr).
//!   `--log-format json` (servers) writes one JSON object a line: `ts`, `level`, `target`,
//!   `pid`, `msg`, then the event's fields as keys of their own.
//!
//! ```text
//! 2026-12-02T03:35:18.123Z WARN  [4242] mayfly::server::backoff: mayfly: accept on 127.0.0.1:8080 failed: Too many open files (os error 24); backing off (10 ms doubling to 1 s) accept="mayfly: accept on 127.0.0.1:8080" error="Too many open files (os error 24)"
//! {"ts":"2026-12-02T03:35:19.001Z","level":"INFO","target":"mayfly_servers::supervisor","pid":4240,"msg":"worker 1 restarted as pid 4250","worker":1,"worker_pid":4250}
//! ```

use std::fmt::Write as _;
use std::io::Write as _;

use clap::{ArgAction, ValueEnum};
use log::kv::{Key, Value, VisitSource};
use log::{LevelFilter, Record};
use serde_json::Value as Json;

/// The environment variable whose filter directives are honoured.
pub const ENV: &str = "RUST_LOG";

/// The keys of a JSON line's own; an event field of the same name is written `field_NAME`.
const LINE_KEYS: [&str; 5] = ["ts", "level", "target", "pid", "msg"];

/// Modules whose `info` is chatter (may logs each fd it registers): `warn` unless RUST_LOG
/// names them.
const QUIET_MODULES: [&str; 1] = ["may"];

/// `-v`/`-q`: global flags, accepted before or after any command.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// More log detail on stderr: -v debug, -vv trace (RUST_LOG can also pick modules).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log detail on stderr: -q warnings and errors only, -qq errors only.
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
}

impl LogArgs {
    /// The level the flags ask for; `None` when neither is given (RUST_LOG or `info` then).
    pub fn level(&self) -> Option<LevelFilter> {
        match (self.verbose, self.quiet) {
            (0, 0) => None,
            (1, _) => Some(LevelFilter::Debug),
            (v, _) if v >= 2 => Some(LevelFilter::Trace),
            (_, 1) => Some(LevelFilter::Warn),
            _ => Some(LevelFilter::Error),
        }
    }
}

/// How a log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// `LEVEL target: message key=value …`.
    #[default]
    Text,
    /// One JSON object a line: `ts`, `level`, `target`, `pid`, `msg` and the event's fields.
    Json,
}

/// `--log-format`: a flag of `mayfly serve` and every server under it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogFormatArgs {
    /// Log lines on stderr as text or as one JSON object a line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Where a line goes besides its format: a server's lines carry a timestamp and the pid.
#[derive(Debug, Clone, Copy)]
struct Style {
    format: LogFormat,
    server: bool,
}

/// Installs the logger for this process: the level from `args` over `RUST_LOG` over
/// `info`, lines in `format`, with timestamps when `server` (a `mayfly serve …`).
pub fn init(args: &LogArgs, format: LogFormat, server: bool) {
    let mut b = env_logger::Builder::new();
    b.filter_level(LevelFilter::Info);
    let spec = std::env::var(ENV).unwrap_or_default();
    for m in QUIET_MODULES {
        if !names_module(&spec, m) {
            // `m::`: a directive matches by prefix, and plain `may` would take in `mayfly`.
            b.filter_module(&format!("{m}::"), LevelFilter::Warn);
        }
    }
    b.parse_filters(&spec);
    if let Some(level) = args.level() {
        b.filter_level(level);
    }
    let style = Style { format, server };
    b.format(move |buf, record| {
        let ts = style.server.then(timestamp);
        writeln!(
            buf,
            "{}",
            line(record, style, ts.as_deref(), std::process::id())
        )
    });
    b.target(env_logger::Target::Stderr);
    // A second init (there is none in the binary) keeps the first logger.
    let _ = b.try_init();
}

/// True if the RUST_LOG `spec` has a directive for `module` or one of its submodules.
fn names_module(spec: &str, module: &str) -> bool {
    let directives = spec.split('/').next().unwrap_or("");
    directives.split(',').any(|d| {
        let name = d.split('=').next().unwrap_or("").trim();
        name == module || name.starts_with(&format!("{module}::"))
    })
}

/// Now, as RFC 3339 in UTC with milliseconds: `2026-12-02T03:35:18.123Z`.
fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One record as its line (without the newline).
fn line(record: &Record<'_>, style: Style, ts: Option<&str>, pid: u32) -> String {
    let mut fields = Fields(Vec::new());
    let _ = record.key_values().visit(&mut fields);
    match style.format {
        LogFormat::Text => {
            let mut out = String::new();
            if let Some(ts) = ts {
                let _ = write!(out, "{ts} ");
            }
            let _ = write!(out, "{:<5} ", record.level());
            if style.server {
                let _ = write!(out, "[{pid}] ");
            }
            let _ = write!(out, "{}: {}", record.target(), record.args());
            for (k, v) in &fields.0 {
                let _ = write!(out, " {k}={}", text_value(v));
            }
            out
        }
        LogFormat::Json => {
            // Written key by key, so the line's own keys come first, in this order.
            let mut out = String::from("{");
            let mut put = |k: &str, v: &Json| {
                if out.len() > 1 {
                    out.push(',');
                }
                let _ = write!(out, "{}:{v}", Json::from(k));
            };
            if let Some(ts) = ts {
                put("ts", &ts.into());
            }
            put("level", &record.level().as_str().into());
            put("target", &record.target().into());
            put("pid", &pid.into());
            put("msg", &record.args().to_string().into());
            for (k, v) in &fields.0 {
                // A field never replaces the line's own keys.
                if LINE_KEYS.contains(&k.as_str()) {
                    put(&format!("field_{k}"), v);
                } else {
                    put(k, v);
                }
            }
            out.push('}');
            out
        }
    }
}

/// A field's value in a text line: bare if it is one plain word, else quoted.
fn text_value(v: &Json) -> String {
    match v {
        Json::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control()) =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

/// An event's fields, in order, as JSON values (numbers and booleans kept as such).
struct Fields(Vec<(String, Json)>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let v = if let Some(n) = value.to_u64() {
            Json::from(n)
        } else if let Some(n) = value.to_i64() {
            Json::from(n)
        } else if let Some(b) = value.to_bool() {
            Json::from(b)
        } else if let Some(f) = value.to_f64() {
            Json::from(f)
        } else {
            Json::from(value.to_string())
        };
        self.0.push((key.as_str().to_owned(), v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    fn with_record(f: impl FnOnce(&Record<'_>)) {
        let kvs: [(&str, Value<'_>); 3] = [
            ("worker", Value::from(1u64)),
            ("error", Value::from("Too many open files")),
            ("msg", Value::from("clash")),
        ];
        f(&Record::builder()
            .args(format_args!("worker {} exited", 1))
            .level(Level::Warn)
            .target("mayfly_servers::supervisor")
            .key_values(&kvs)
            .build());
    }

    #[test]
    fn text_lines_carry_level_target_message_and_fields() {
        with_record(|r| {
            let client = Style {
                format: LogFormat::Text,
                server: false,
            };
            assert_eq!(
                line(r, client, None, 7),
                "WARN  mayfly_servers::supervisor: worker 1 exited worker=1 \
                 error=\"Too many open files\" msg=clash"
            );
            let server = Style {
                server: true,
                ..client
            };
            assert_eq!(
                line(r, server, Some("2026-12-02T03:35:18.123Z"), 7),
                "2026-12-02T03:35:18.123Z WARN  [7] mayfly_servers::supervisor: worker 1 exited \
                 worker=1 error=\"Too many open files\" msg=clash"
            );
        });
    }

    #[test]
    fn json_lines_parse_with_typed_fields_that_never_replace_the_line_keys() {
        with_record(|r| {
            let style = Style {
                format: LogFormat::Json,
                server: true,
            };
            let v: Json =
                serde_json::from_str(&line(r, style, Some("2026-12-02T03:35:18.123Z"), 7)).unwrap();
            assert_eq!(v["ts"], "2026-12-02T03:35:18.123Z");
            assert_eq!(v["level"], "WARN");
            assert_eq!(v["target"], "mayfly_servers::supervisor");
            assert_eq!(v["pid"], 7);
            assert_eq!(v["msg"], "worker 1 exited");
            assert_eq!(v["worker"], 1);
            assert_eq!(v["error"], "Too many open files");
            assert_eq!(v["field_msg"], "clash");
            let line = line(r, style, Some("t"), 7);
            assert!(
                line.starts_with(r#"{"ts":"t","level":"WARN","target":"#),
                "{line}"
            );
        });
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let ts = timestamp();
        let parsed = chrono::DateTime::parse_from_rfc3339(&ts).unwrap();
        assert_eq!(parsed.offset().local_minus_utc(), 0);
        assert!(ts.ends_with('Z'), "{ts}");
    }

    #[test]
    fn rust_log_naming_may_lifts_its_default() {
        assert!(names_module("info,may=debug", "may"));
        assert!(names_module("may::io=trace", "may"));
        assert!(!names_module("mayfly=debug", "may"));
        assert!(!names_module("", "may"));
    }

    #[test]
    fn flags_pick_the_level() {
        let l = |verbose, quiet| LogArgs { verbose, quiet }.level();
        assert_eq!(l(0, 0), None);
        assert_eq!(l(1, 0), Some(LevelFilter::Debug));
        assert_eq!(l(2, 0), Some(LevelFilter::Trace));
        assert_eq!(l(0, 1), Some(LevelFilter::Warn));
        assert_eq!(l(0, 2), Some(LevelFilter::Error));
    }
}
