//! The hub, gevent's name for the loop: a facade over the runtime's start-up and worker
//! identity, kept so `mayfly::hub::…` paths stay valid. The items live in `config` (the
//! configuration), `start` (start-up) and `worker` (which thread is the worker).

pub use crate::config::{Config, DEFAULT_STACK_SIZE, STACK_SIZE_ENV};
pub use crate::start::{ensure_started, worker_thread};
pub use crate::worker::on_worker;
