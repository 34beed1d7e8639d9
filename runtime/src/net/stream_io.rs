//! The `Read` and `Write` implementation every coroutine stream type (`TcpStream`,
//! `UnixStream`) gets, with its timeout and counter setters: one macro, so the readiness fast
//! path ([`super::ready`]) and the timed slow path ([`super::stream::timed`]) are written once.

/// `Read` and `Write` for a stream wrapper with fields `inner` (a may stream with
/// `set_read_timeout`/`set_write_timeout`) and `st` (a [`StreamState`](super::stream::StreamState)): every call runs
/// under [`timed`](super::stream::timed) and counts its bytes; and the timeout/counter setters.
macro_rules! timed_stream_io {
    ($ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let (inner, st) = (&mut self.inner, &mut self.st);
                let n = if $crate::net::ready::usable(st) {
                    $crate::net::ready::read(inner, st, buf)?
                } else {
                    st.may_owns_flag();
                    $crate::net::stream::timed(st.read_timeout, |limit| {
                        st.applied_read
                            .apply(limit, |t| inner.set_read_timeout(t))?;
                        std::io::Read::read(inner, buf)
                    })?
                };
                if let Some(c) = &st.counters {
                    c.add_read(n as u64);
                }
                Ok(n)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $crate::net::stream_io::timed_write!(self, write, buf)
            }

            /// All the buffers in one `writev(2)` (std's default would write only the
            /// first): a TLS handshake's flight of records leaves in one call and one
            /// segment, as over tokio's streams. One non-empty buffer (a TLS record on a
            /// long connection) is a plain `write(2)`, which the kernel does for less.
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
                if let (Some(only), None) = (non_empty.next(), non_empty.next()) {
                    return std::io::Write::write(self, only);
                }
                $crate::net::stream_io::timed_write!(self, write_vectored, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl $ty {
            /// Parks until a read would find data (or the end, or an error) when the fast
            /// path applies and the last read emptied the socket; otherwise returns at once
            /// and the read waits. Bounded by the read timeout like a read. For a caller
            /// that takes a buffer only once there is data to put in it (`tls/records.rs`).
            #[allow(dead_code)] // UnixStream has no TLS
            pub(crate) fn wait_for_data(&mut self) -> std::io::Result<()> {
                let (inner, st) = (&mut self.inner, &mut self.st);
                if $crate::net::ready::usable(st) {
                    $crate::net::ready::wait_for_data(inner, st)
                } else {
                    Ok(())
                }
            }

            /// Whether reads take the readiness fast path now (see [`super::ready`]): in a
            /// greenlet, no `Timeout` pending, the timeouts unset or swept.
            #[allow(dead_code)] // UnixStream has no TLS
            pub(crate) fn reads_fast(&self) -> bool {
                $crate::net::ready::usable(&self.st)
            }

            /// One read that does not park on the fast path: `WouldBlock` if the socket has
            /// nothing now (then [`wait_for_data`](Self::wait_for_data) waits for it). Off
            /// the fast path, a plain read (it may park).
            #[allow(dead_code)] // UnixStream has no TLS
            pub(crate) fn read_nowait(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let (inner, st) = (&mut self.inner, &mut self.st);
                if !$crate::net::ready::usable(st) {
                    return std::io::Read::read(self, buf);
                }
                let n = $crate::net::ready::read_nowait(inner, st, buf)?;
                if let Some(c) = &st.counters {
                    c.add_read(n as u64);
                }
                Ok(n)
            }

            /// Sets the timeout of every later read and write (`None`: wait forever), like
            /// Python's `settimeout`. An operation that exceeds it fails with
            /// `ErrorKind::TimedOut`.
            pub fn settimeout(&mut self, t: Option<std::time::Duration>) {
                self.set_read_timeout(t);
                self.set_write_timeout(t);
            }

            /// The read timeout (what [`settimeout`](Self::settimeout) set, unless
            /// [`set_write_timeout`](Self::set_write_timeout) changed writes since).
            pub fn gettimeout(&self) -> Option<std::time::Duration> {
                self.st.read_timeout
            }

            /// Sets the timeout of every later read only: a peer that sends nothing for
            /// this long makes the read fail with `ErrorKind::TimedOut`.
            pub fn set_read_timeout(&mut self, t: Option<std::time::Duration>) {
                self.st.read_timeout = t.filter(|d| !d.is_zero());
            }

            /// Sets the timeout of every later write only: a peer that reads nothing for
            /// this long (its window and our buffer full) makes the write fail.
            pub fn set_write_timeout(&mut self, t: Option<std::time::Duration>) {
                self.st.write_timeout = t.filter(|d| !d.is_zero());
            }

            /// Adds every byte read and written from now on to `counters` (clones share them).
            pub fn count_bytes(
                &mut self,
                counters: std::sync::Arc<$crate::net::stream::ByteCounters>,
            ) {
                self.st.counters = Some(counters);
            }

            /// Has `sweep` enforce this stream's read and write timeouts instead of a timer
            /// per parked call (this handle only; a clone gets timers).
            #[allow(dead_code)]
            pub(crate) fn sweep_timeouts(&mut self, sweep: &$crate::net::sweep::Sweep) {
                self.st.watch = Some(sweep.watch(&self.inner));
            }
        }
    };
}
pub(crate) use timed_stream_io;

/// The body of a write-direction call of [`timed_stream_io`]'s wrappers: `ready::$call` on the
/// fast path, else `Write::$call` on the may stream under the write timeout; the bytes
/// counted. `write` and `write_vectored` differ only in the call and its argument.
macro_rules! timed_write {
    ($self:ident, $call:ident, $data:expr) => {{
        let (inner, st) = (&mut $self.inner, &mut $self.st);
        let n = if $crate::net::ready::usable(st) {
            $crate::net::ready::$call(inner, st, $data)?
        } else {
            st.may_owns_flag();
            $crate::net::stream::timed(st.write_timeout, |limit| {
                st.applied_write
                    .apply(limit, |t| inner.set_write_timeout(t))?;
                std::io::Write::$call(inner, $data)
            })?
        };
        if let Some(c) = &st.counters {
            c.add_written(n as u64);
        }
        Ok(n)
    }};
}
pub(crate) use timed_write;
