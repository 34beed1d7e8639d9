//! The record layer under [`TlsStream`](super::TlsStream) and the handshake: rustls's
//! *unbuffered* connection, fed from and drained into buffers this module owns.
//!
//! rustls's buffered `Connection` keeps a 4 KiB read buffer for the connection's whole life
//! (and never gives it back): at 10,000 idle connections, 40 MB for nothing. Here the buffers
//! live only while bytes are in them. Records arriving are read into [`Incoming`], taken from
//! this thread's [spare list](super::spare) when a read starts and given back as soon as every
//! byte in it has been processed; records leaving are encoded into [`Outgoing`], given back
//! once sent. An idle connection holds no buffer at all.
//!
//! [`step`] is the one place that calls `process_tls_records` and answers each
//! [`ConnectionState`]: it encodes what rustls wants sent, sends it when rustls says so, hands
//! decrypted data to a reader (or keeps it in [`Plain`] for a later read), and, when rustls is
//! ready for application data, does what the caller came for (encrypt, `close_notify`).
//! Reading more from the socket is left to the caller: a drop must never wait for input.

use std::io::{self, Read, Write};

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedConnectionCommon,
    UnbufferedStatus,
};

use super::spare;
use crate::net::TcpStream;

/// Read at least this much at a time (rustls's buffered connection reads 4 KiB too).
const READ_SIZE: usize = 4096;

/// The largest record on the wire: 16 KiB of data, TLS 1.2's 2 KiB of expansion allowed, the
/// 5-byte header. Past the handshake nothing larger can be pending.
const MAX_WIRE_SIZE: usize = 16 * 1024 + 2048 + 5;

/// The largest handshake message rustls joins from several records (its buffered connection's
/// limit too).
const MAX_HANDSHAKE_SIZE: usize = 0xffff;

/// The plaintext one `write` call encrypts at most: one full record.
pub(crate) const MAX_WRITE: usize = 16 * 1024;

/// A server or client connection of rustls's unbuffered API.
pub(crate) enum Conn {
    /// A server's side.
    Server(UnbufferedServerConnection),
    /// A client's side.
    Client(UnbufferedClientConnection),
}

impl Conn {
    /// What both sides share: versions, suites, ALPN, certificates, the handshake's state.
    pub(crate) fn common(&self) -> &rustls::CommonState {
        match self {
            Conn::Server(c) => c,
            Conn::Client(c) => c,
        }
    }
}

/// `process_tls_records` for either side (rustls defines it once per side).
trait Process {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
}

impl Process for UnbufferedConnectionCommon<ServerConnectionData> {
    type Data = ServerConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
}

impl Process for UnbufferedConnectionCommon<ClientConnectionData> {
    type Data = ClientConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
}

/// Bytes read from the socket that rustls has not consumed yet: `buf[..used]`.
#[derive(Default)]
pub(crate) struct Incoming {
    buf: Vec<u8>,
    used: usize,
}

impl Incoming {
    /// Reads what the socket has into the buffer; parks the greenlet until something
    /// arrives. `Ok(0)` is the end of the TCP stream. A read that finds nothing gives the
    /// buffer back (if nothing is in it) before the greenlet parks
    /// ([`TcpStream::read_nowait`], [`TcpStream::wait_for_data`]), so a connection waiting
    /// for its next request holds none. (Off the socket's fast path — a `Timeout` pending,
    /// or timeouts not swept by a server — the read parks with the buffer.)
    ///
    /// # Errors
    /// The socket's error; `InvalidData` if the peer has sent more than a record (or, while
    /// `handshaking`, a handshake message) can be without completing one.
    pub(crate) fn fill(&mut self, tcp: &mut TcpStream, handshaking: bool) -> io::Result<usize> {
        let limit = if handshaking {
            MAX_HANDSHAKE_SIZE
        } else {
            MAX_WIRE_SIZE
        };
        if self.used >= limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "TLS: {} bytes received without a complete record",
                    self.used
                ),
            ));
        }
        if self.used == 0 && !tcp.reads_fast() {
            return self.fill_first_slowly(tcp);
        }
        loop {
            if self.used == 0 {
                tcp.wait_for_data()?;
            }
            if self.buf.capacity() == 0 {
                self.buf = spare::take();
            }
            if self.buf.len() < self.used + READ_SIZE {
                // `used < limit`, so there is room for at least one byte. Exactly this much:
                // `resize` alone would double the capacity, past what the spare list keeps.
                let want = (self.used + READ_SIZE).max(self.buf.len() * 2).min(limit);
                self.buf.reserve_exact(want - self.buf.len());
                self.buf.resize(want, 0);
            }
            match tcp.read_nowait(&mut self.buf[self.used..]) {
                Ok(n) => {
                    self.used += n;
                    self.release_if_empty();
                    return Ok(n);
                }
                // Nothing there yet: the buffer goes back (if it holds nothing) before the
                // greenlet parks for data.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.release_if_empty();
                    tcp.wait_for_data()?;
                }
                Err(e) => {
                    self.release_if_empty();
                    return Err(e);
                }
            }
        }
    }

    /// The first read into an empty buffer off the socket's fast path, where the read parks
    /// inside may's call with whatever buffer it was given: a 1 KiB one in this frame, not a
    /// record buffer from the heap. (A handshake waits this way, under its timeout, for the
    /// peer's next flight: 10,000 handshakes at once held 10,000 heap buffers, and the holes
    /// they left kept the server's heap 9 KiB a connection larger after.) Not inlined, so
    /// the array is on the stack only while this runs.
    #[inline(never)]
    fn fill_first_slowly(&mut self, tcp: &mut TcpStream) -> io::Result<usize> {
        let mut first = [0u8; 1024];
        let n = tcp.read(&mut first)?;
        if n > 0 {
            if self.buf.capacity() == 0 {
                self.buf = spare::take();
            }
            if self.buf.len() < READ_SIZE {
                self.buf.resize(READ_SIZE, 0);
            }
            self.buf[..n].copy_from_slice(&first[..n]);
            self.used = n;
        }
        Ok(n)
    }

    /// Drops the first `n` bytes (rustls has consumed them).
    fn discard(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.buf.copy_within(n..self.used, 0);
        self.used -= n;
        self.release_if_empty();
    }

    /// Gives the buffer back to the thread's spare list once nothing is in it: rustls keeps no
    /// reference into it between calls (its handshake joiner's positions are relative to the
    /// bytes not yet discarded, and there are none).
    fn release_if_empty(&mut self) {
        if self.used == 0 && self.buf.capacity() != 0 {
            spare::give(std::mem::take(&mut self.buf));
        }
    }

    /// The bytes waiting for rustls.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.used]
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        spare::give(std::mem::take(&mut self.buf));
    }
}

/// Records encoded and not yet sent: `buf[sent..filled]`.
#[derive(Default)]
pub(crate) struct Outgoing {
    buf: Vec<u8>,
    filled: usize,
    sent: usize,
}

impl Outgoing {
    /// Appends what `encode` writes, with `room` bytes free to start with and as many as
    /// rustls asks for if that is too few.
    fn append(
        &mut self,
        mut room: usize,
        mut encode: impl FnMut(&mut [u8]) -> Result<usize, Option<InsufficientSizeError>>,
    ) -> Result<(), ()> {
        if self.buf.capacity() == 0 {
            self.buf = spare::take();
        }
        loop {
            if self.buf.len() < self.filled + room {
                self.buf.reserve_exact(self.filled + room - self.buf.len());
                self.buf.resize(self.filled + room, 0);
            }
            match encode(&mut self.buf[self.filled..]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(Some(InsufficientSizeError { required_size })) if required_size > room => {
                    room = required_size;
                }
                Err(_) => return Err(()),
            }
        }
    }

    /// Sends every waiting record (parks on a full socket buffer if `wr` is a coroutine
    /// socket). What was not sent when an error comes stays for the next call.
    ///
    /// # Errors
    /// The socket's error (a write timeout, the peer gone); `WriteZero` if it took nothing.
    pub(crate) fn send(&mut self, wr: &mut impl Write) -> io::Result<()> {
        while self.sent < self.filled {
            match wr.write(&self.buf[self.sent..self.filled]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.sent = 0;
        self.filled = 0;
        spare::give(std::mem::take(&mut self.buf));
        Ok(())
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        spare::give(std::mem::take(&mut self.buf));
    }
}

/// Decrypted bytes a reader has not taken yet (a record larger than its buffer, or data that
/// arrived while the stream was writing): `buf[pos..]`.
#[derive(Default)]
pub(crate) struct Plain {
    buf: Vec<u8>,
    pos: usize,
}

impl Plain {
    fn keep(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Copies what it holds into `out`; the buffer is freed once it is all taken.
    pub(crate) fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = (self.buf.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        }
        n
    }
}

/// What the caller of [`step`] came for, once rustls can send application data.
pub(crate) enum Goal<'a> {
    /// Nothing: the handshake, or draining what is queued.
    Nothing,
    /// Decrypted data into this buffer.
    Read(&'a mut [u8]),
    /// This plaintext encrypted into [`Outgoing`] (at most [`MAX_WRITE`] bytes).
    Encrypt(&'a [u8]),
    /// A `close_notify` encoded into [`Outgoing`].
    CloseNotify,
}

/// What one [`step`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Something was encoded, sent or kept; step again.
    Again,
    /// This many decrypted bytes were put in the reader's buffer.
    Read(usize),
    /// The plaintext is encrypted into [`Outgoing`].
    Encrypted,
    /// `close_notify` is encoded into [`Outgoing`].
    Notified,
    /// rustls needs more bytes from the peer before it can go on with the handshake.
    NeedInput,
    /// Application data may be sent and nothing else is pending: for a reader, more bytes
    /// are needed from the peer.
    Writable,
    /// The peer sent `close_notify` (reported once).
    PeerClosed,
    /// Both sides sent `close_notify`.
    Closed,
}

/// A failure of a [`step`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// rustls refused what the peer sent (an alert saying why is queued: see
    /// [`Session::send_alert`]).
    Tls(rustls::Error),
    /// The socket failed while sending.
    Io(io::Error),
}

/// A rustls connection and its buffers, boxed together in a [`TlsStream`](super::TlsStream):
/// one pointer in every frame that holds the stream.
pub(crate) struct Session {
    pub(crate) conn: Conn,
    pub(crate) incoming: Incoming,
    pub(crate) out: Outgoing,
    pub(crate) plain: Plain,
    /// The peer's `close_notify` was processed: reads return the end from now on.
    pub(crate) peer_closed: bool,
    /// On a server, the name the client asked for ([`super::client_hello`]).
    pub(crate) server_name: Option<String>,
    /// The error rustls failed with: every later step fails with it too, once the alert it
    /// queued is out.
    failed: Option<rustls::Error>,
}

impl Session {
    pub(crate) fn new(conn: Conn) -> Session {
        Session {
            conn,
            incoming: Incoming::default(),
            out: Outgoing::default(),
            plain: Plain::default(),
            peer_closed: false,
            server_name: None,
            failed: None,
        }
    }

    /// One `process_tls_records` and the answer to the state it returns; records rustls
    /// asks to transmit are sent on `wr` (parking, if it is a coroutine socket).
    pub(crate) fn step(&mut self, goal: Goal<'_>, wr: &mut impl Write) -> Result<Step, Failure> {
        if let Some(e) = &self.failed {
            if !self.conn.common().wants_write() {
                return Err(Failure::Tls(e.clone()));
            }
        }
        let Session {
            conn,
            incoming,
            out,
            plain,
            peer_closed,
            failed,
            ..
        } = self;
        let (step, discard) = match conn {
            Conn::Server(c) => one_step(&mut **c, incoming, out, plain, goal, wr),
            Conn::Client(c) => one_step(&mut **c, incoming, out, plain, goal, wr),
        };
        incoming.discard(discard);
        match &step {
            Ok(Step::PeerClosed) => *peer_closed = true,
            Err(Failure::Tls(e)) => *failed = Some(e.clone()),
            _ => {}
        }
        step
    }

    /// Encodes `close_notify` into [`Outgoing`] (not sent yet); records rustls wants sent
    /// first go out on `wr`.
    ///
    /// # Errors
    /// The socket's error while sending those; `InvalidData` if rustls fails.
    pub(crate) fn queue_close_notify(&mut self, wr: &mut impl Write) -> io::Result<()> {
        loop {
            match self.step(Goal::CloseNotify, wr) {
                Ok(Step::Notified | Step::Closed) => return Ok(()),
                // Before the handshake is done there is no keyed record to send it in.
                Ok(Step::NeedInput) => return Ok(()),
                Ok(_) => {}
                Err(Failure::Io(e)) => return Err(e),
                Err(Failure::Tls(e)) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }

    /// After a [`Failure::Tls`]: encodes the alert rustls queued and tries to send it on
    /// `wr`, ignoring a failure to (the connection is failing anyway).
    pub(crate) fn send_alert(&mut self, wr: &mut impl Write) {
        // Only what rustls queued (the alert) is encoded: while records are queued,
        // `process_tls_records` hands them out before it looks at any input, and after a
        // failure it must not process input again (it would raise a second fatal alert, a
        // debug assertion in rustls, or read handshake bytes it has given up on).
        while self.conn.common().wants_write() {
            match self.step(Goal::Nothing, wr) {
                Ok(Step::Again) => {}
                _ => break,
            }
        }
        let _ = self.out.send(wr);
    }
}

/// [`Session::step`] for one side. Returns the step and the bytes rustls consumed.
fn one_step<C: Process>(
    conn: &mut C,
    incoming: &mut Incoming,
    out: &mut Outgoing,
    plain: &mut Plain,
    goal: Goal<'_>,
    wr: &mut impl Write,
) -> (Result<Step, Failure>, usize) {
    let used = incoming.used;
    let UnbufferedStatus { mut discard, state } = conn.process(&mut incoming.buf[..used]);
    let step = match state {
        Err(e) => Err(Failure::Tls(e)),
        Ok(ConnectionState::ReadTraffic(mut records)) => {
            let mut n = 0;
            let mut result = Ok(());
            if let Goal::Read(buf) = goal {
                // As much as the reader's buffer takes; the rest of a record is kept, and
                // later records stay queued in rustls for the next read.
                while n < buf.len() {
                    match records.next_record() {
                        None => break,
                        Some(Err(e)) => {
                            result = Err(e);
                            break;
                        }
                        Some(Ok(r)) => {
                            discard += r.discard;
                            let take = r.payload.len().min(buf.len() - n);
                            buf[n..n + take].copy_from_slice(&r.payload[..take]);
                            n += take;
                            if take < r.payload.len() {
                                plain.keep(&r.payload[take..]);
                                break;
                            }
                        }
                    }
                }
            } else {
                // Not reading: rustls offers nothing else until its queue is empty, so the
                // data is kept for the next read.
                while let Some(r) = records.next_record() {
                    match r {
                        Ok(r) => {
                            discard += r.discard;
                            plain.keep(r.payload);
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
            }
            match result {
                Err(e) => Err(Failure::Tls(e)),
                Ok(()) if n > 0 => Ok(Step::Read(n)),
                Ok(()) => Ok(Step::Again),
            }
        }
        // Never offered: no configuration here accepts early data.
        Ok(ConnectionState::ReadEarlyData(_)) => Err(Failure::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "TLS: early data, which this server does not accept",
        ))),
        Ok(ConnectionState::EncodeTlsData(mut enc)) => out
            .append(READ_SIZE, |b| match enc.encode(b) {
                Ok(n) => Ok(n),
                Err(EncodeError::InsufficientSize(e)) => Err(Some(e)),
                Err(_) => Ok(0),
            })
            .map(|()| Step::Again)
            .map_err(|()| Failure::Io(io::Error::other("TLS: a record could not be encoded"))),
        Ok(ConnectionState::TransmitTlsData(tx)) => {
            // What rustls consumed is dropped before sending parks: a `Timeout` or kill that
            // unwinds out of the send must not leave it to be processed a second time.
            incoming.discard(std::mem::take(&mut discard));
            match out.send(wr) {
                Ok(()) => {
                    tx.done();
                    Ok(Step::Again)
                }
                Err(e) => Err(Failure::Io(e)),
            }
        }
        Ok(ConnectionState::WriteTraffic(mut w)) => match goal {
            // A record's overhead is at most 5 + 16 + 1 bytes (TLS 1.3) or 5 + 8 + 16 (1.2).
            Goal::Encrypt(data) => out
                .append(data.len() + 64, |b| match w.encrypt(data, b) {
                    Ok(n) => Ok(n),
                    Err(EncryptError::InsufficientSize(e)) => Err(Some(e)),
                    Err(_) => Err(None),
                })
                .map(|()| Step::Encrypted)
                .map_err(|()| Failure::Io(io::Error::other("TLS: the record keys are used up"))),
            Goal::CloseNotify => out
                .append(64, |b| match w.queue_close_notify(b) {
                    Ok(n) => Ok(n),
                    Err(EncryptError::InsufficientSize(e)) => Err(Some(e)),
                    Err(_) => Err(None),
                })
                .map(|()| Step::Notified)
                .map_err(|()| Failure::Io(io::Error::other("TLS: the record keys are used up"))),
            Goal::Nothing | Goal::Read(_) => Ok(Step::Writable),
        },
        Ok(ConnectionState::BlockedHandshake) => Ok(Step::NeedInput),
        Ok(ConnectionState::PeerClosed) => Ok(Step::PeerClosed),
        Ok(ConnectionState::Closed) => Ok(Step::Closed),
        Ok(_) => Err(Failure::Io(io::Error::other(
            "TLS: a state this version does not know",
        ))),
    };
    (step, discard)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::net::TcpListener;

    /// A connected pair on loopback: (the side under test, its peer).
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (s, c)
    }

    /// The spare list is per thread and every test's coroutines run on the one worker, so the
    /// tests that take or give buffers run one at a time (under `cargo test` they would otherwise
    /// share the list with each other).
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static SPARE_USERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        SPARE_USERS.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn a_read_waiting_for_data_holds_no_buffer_and_one_with_bytes_keeps_them() {
        let _alone = one_at_a_time();
        crate::run(|| {
            let (mut tcp, mut peer) = pair();
            spare::give(vec![0u8; READ_SIZE]);
            // Earlier tests may have left buffers in the list: count from what is there now.
            let spares = spare::count();
            let reader = crate::spawn(move || {
                let mut inc = Incoming::default();
                // The first read finds nothing: its buffer goes back while it waits.
                let n = inc.fill(&mut tcp, false).unwrap();
                assert_eq!(inc.bytes(), b"hello");
                inc.discard(2);
                assert_eq!(inc.bytes(), b"llo", "the rest is kept");
                assert!(inc.buf.capacity() > 0);
                inc.discard(3);
                assert_eq!(inc.buf.capacity(), 0, "empty: given back");
                // And a second wait, after a short read, parks before taking one.
                let m = inc.fill(&mut tcp, false).unwrap();
                (n, m, inc.bytes().to_vec())
            });
            crate::sleep(Duration::from_millis(50));
            assert_eq!(spare::count(), spares, "the parked reader holds no buffer");
            peer.write_all(b"hello").unwrap();
            crate::sleep(Duration::from_millis(50));
            assert_eq!(
                spare::count(),
                spares,
                "parked again after a short read, without one"
            );
            peer.write_all(b"again").unwrap();
            let (n, m, rest) = reader.get().unwrap();
            assert_eq!((n, m, &rest[..]), (5, 5, &b"again"[..]));
        });
    }

    #[test]
    fn more_than_a_record_without_one_complete_is_refused() {
        let _alone = one_at_a_time();
        crate::run(|| {
            let (mut tcp, mut peer) = pair();
            // A header announcing the largest record, then more bytes than any record has.
            let junk = vec![23u8; MAX_WIRE_SIZE + 10];
            let writer = crate::spawn(move || peer.write_all(&junk));
            let mut inc = Incoming::default();
            let err = loop {
                match inc.fill(&mut tcp, false) {
                    Ok(_) => {}
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
            assert!(inc.used >= MAX_WIRE_SIZE);
            drop(tcp);
            let _ = writer.into_result();
        });
    }
}
