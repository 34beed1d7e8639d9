//! The panic hook: a greenlet's panic is reported with the greenlet's name and id.
//!
//! may's default output names only the OS thread (always the worker). This hook prints
//! `greenlet "conn-127.0.0.1:5000" (#12) panicked at src/x.rs:3:5: boom` instead, stays quiet
//! for kills (may's `Cancel` unwinds) and for may's failed stack allocations (which
//! `Builder::spawn` returns as an error), and defers to the previous hook everywhere else.
//! The line is a `log` error event (fields `greenlet`, `id`, `at`); with no logger installed
//! it goes to stderr as it is, so a panic is never silent.
//! Installed once, by start-up.

use std::panic;

use crate::context::{current_core, panic_message, SPAWNING};

pub(crate) fn install() {
    let prev = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<generator::Error>().is_some() {
            return;
        }
        if SPAWNING.with(|s| s.get()) {
            return;
        }
        if let Some(core) = current_core() {
            let loc = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "<unknown>".into());
            let msg = panic_message(info.payload());
            let (name, id) = (core.name(), core.id);
            if log::max_level() == log::LevelFilter::Off {
                // No logger (or logging turned off): a panic is still never silent.
                eprintln!("greenlet {name:?} (#{id}) panicked at {loc}: {msg}");
            } else {
                log::error!(greenlet = name, id = id, at = loc.as_str();
                    "greenlet {name:?} (#{id}) panicked at {loc}: {msg}");
            }
            core.set_panic_location(loc);
            return;
        }
        prev(info);
    }));
}
