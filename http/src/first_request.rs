//! The first-request timeout ([`Options::first_request_timeout`](crate::Options::first_request_timeout)):
//! [`FirstRequest`] wraps a new connection's stream so that, until its first request has
//! arrived, every read shares one deadline; after it, reads get the idle timeout.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::stream::ConnStream;

/// A connection's stream with a deadline on its first request.
pub(crate) struct FirstRequest<'a, S: ConnStream> {
    stream: &'a mut S,
    /// Until the first request: when it must have arrived.
    deadline: Option<Instant>,
    /// The read timeout after the first request.
    idle: Option<Duration>,
    /// Set by the service when the first request has arrived.
    arrived: Rc<Cell<bool>>,
}

impl<'a, S: ConnStream> FirstRequest<'a, S> {
    /// `stream`, whose first request must arrive within `first` from now (`None`: no
    /// deadline), its later reads timing out after `idle`; `arrived` is set when it did.
    pub(crate) fn new(
        stream: &'a mut S,
        first: Option<Duration>,
        idle: Option<Duration>,
        arrived: Rc<Cell<bool>>,
    ) -> Self {
        if first.is_none() {
            stream.set_read_timeout(idle);
        }
        FirstRequest {
            deadline: first.map(|t| Instant::now() + t),
            stream,
            idle,
            arrived,
        }
    }
}

impl<S: ConnStream> Read for FirstRequest<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            if self.arrived.get() {
                self.deadline = None;
                self.stream.set_read_timeout(self.idle);
            } else {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no first request within the first-request timeout",
                    ));
                }
                self.stream.set_read_timeout(Some(left));
            }
        }
        self.stream.read(buf)
    }
}

impl<S: ConnStream> Write for FirstRequest<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.stream.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
