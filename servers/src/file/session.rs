//! One connection of the file server: read a request frame, answer it, repeat. The frames,
//! field names and refusal codes are the protocol's (`mayfly_proto::file`, `reply`).

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use mayfly::server::ServerStats;
use mayfly_proto::file::{self as proto, request_body_len, CHUNK};
use mayfly_proto::frame::{self, FrameError, FrameReader, Header, Limits};
use mayfly_proto::reply::{self, code, Refusal};

use super::names;
use super::rate::RateGuard;
use super::store::{Store, UploadError};
use super::transfer;
use super::Options;
/// After a fatal protocol error the server reads and drops at most this much for at most
/// [`LINGER_TIME`] before closing, so the client sees the error reply instead of a reset.
/// A refused `put` with a body larger than this gets its reply and the same close; a
/// smaller body is read and dropped (under the minimum rate) and the connection goes on.
pub const LINGER_BYTES: u64 = 4 << 20;
/// See [`LINGER_BYTES`].
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// A connection's request reader.
pub(crate) type Reader = FrameReader<Conn, fn(&Header) -> Result<u64, FrameError>>;

fn refuse(code: &str, error: impl ToString) -> Refusal {
    Refusal::new(code, error)
}

fn io_refusal(e: &io::Error) -> Refusal {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            refuse(code::DISK_FULL, format!("disk full: {e}"))
        }
        None if e.kind() == io::ErrorKind::StorageFull => refuse(code::DISK_FULL, e),
        Some(libc::EFBIG) => refuse(
            code::TOO_LARGE,
            format!("file too large for the server: {e}"),
        ),
        _ if e.kind() == io::ErrorKind::NotFound => refuse(code::NOT_FOUND, "no such file"),
        _ if e.kind() == io::ErrorKind::PermissionDenied => refuse(code::FORBIDDEN, e),
        _ => refuse(code::IO, e),
    }
}

/// Serves one connection until the client closes, idles out, or breaks the protocol.
pub(crate) fn serve(
    store: Arc<Store>,
    settings: Arc<Options>,
    stats: &ServerStats,
    conn: Conn,
) -> io::Result<()> {
    let mut r = reader(conn, &settings);
    loop {
        match next_request(&mut r, &settings)? {
            Next::Request(h) => {
                stats.requests(1);
                if !answer(&store, &mut r, &h, &settings)? {
                    return Ok(());
                }
            }
            Next::Again => continue,
            Next::Close => return Ok(()),
        }
    }
}

/// The request reader of a connection: frames with the file protocol's body rule, bodies up
/// to [`Options::max_file_size`].
pub(crate) fn reader(conn: Conn, settings: &Options) -> Reader {
    let _ = conn.set_nodelay(true);
    let limits = Limits::default().max_body(settings.max_file_size);
    let rule: fn(&Header) -> Result<u64, FrameError> = request_body_len;
    FrameReader::new(conn, limits, rule)
}

/// What [`next_request`] read.
pub(crate) enum Next {
    /// A request header (its body, if any, is next on the stream).
    Request(Header),
    /// A bad header was answered and the stream is still in step: read again.
    Again,
    /// The client closed, or a fatal error was answered: close.
    Close,
}

/// Reads the next request header (waiting at most [`Options::idle_timeout`]); a bad one is
/// answered here. Afterwards reads and writes wait at most [`Options::io_timeout`].
///
/// # Errors
/// A reset, an idle timeout, a close in mid-header (nothing to answer: the StreamServer
/// counts them by kind), or the error of sending a refusal.
pub(crate) fn next_request(r: &mut Reader, settings: &Options) -> io::Result<Next> {
    r.get_mut().settimeout(Some(settings.idle_timeout));
    let h = match r.read_header() {
        Ok(Some((h, _body_len))) => h,
        Ok(None) => return Ok(Next::Close),
        Err(e) => {
            let Some(fe) = FrameError::from_io(&e) else {
                return Err(e);
            };
            let fatal = fe.is_fatal();
            let refusal = refuse(
                if matches!(fe, FrameError::BodyTooLong { .. }) {
                    code::TOO_LARGE
                } else {
                    code::BAD_FRAME
                },
                fe,
            );
            frame::write_header(r.get_mut(), &refusal.header())?;
            if fatal {
                lingering_close(r.get_mut());
                return Ok(Next::Close);
            }
            return Ok(Next::Again);
        }
    };
    r.get_mut().settimeout(Some(settings.io_timeout));
    Ok(Next::Request(h))
}

/// Answers one request of the file protocol (`put`, `get`, `list`, `stat`) against `store`.
/// `Ok(false)`: the connection must close (the refusal was sent).
///
/// # Errors
/// A broken connection.
pub(crate) fn answer(
    store: &Arc<Store>,
    r: &mut Reader,
    h: &Header,
    settings: &Options,
) -> io::Result<bool> {
    let cmd = h.get(proto::CMD).and_then(|c| c.as_str()).unwrap_or("");
    let outcome = match cmd {
        proto::PUT => put(store, r, h, settings),
        proto::GET => get(store, r, h, settings),
        proto::LIST => list(store, r, h, settings),
        proto::STAT => Ok(stat(store, h)),
        "" => Ok(Outcome::Refused(refuse(
            code::BAD_REQUEST,
            "header field \"cmd\" is missing",
        ))),
        other => Ok(Outcome::Refused(refuse(
            code::BAD_REQUEST,
            format!("unknown command {other:?} (known: put, get, list, stat)"),
        ))),
    };
    send_outcome(r, outcome?)
}

/// Sends what a command's outcome says; `Ok(false)`: close.
fn send_outcome(r: &mut Reader, outcome: Outcome) -> io::Result<bool> {
    match outcome {
        Outcome::Sent => {}
        Outcome::Reply(h) => frame::write_header(r.get_mut(), &h)?,
        Outcome::Refused(x) => frame::write_header(r.get_mut(), &x.header())?,
        Outcome::RefusedThenClose(x) => {
            frame::write_header(r.get_mut(), &x.header())?;
            lingering_close(r.get_mut());
            return Ok(false);
        }
    }
    Ok(true)
}

/// Refuses a `put` before any byte of its body is written, as `put` refuses a bad header:
/// a small body is read and dropped (under the minimum rate) so the connection goes on, a
/// big one is not read and the connection closes after the refusal. `Ok(false)`: closed.
///
/// # Errors
/// A broken connection.
pub(crate) fn refuse_put(r: &mut Reader, refusal: Refusal, o: &Options) -> io::Result<bool> {
    if r.body().remaining() > LINGER_BYTES {
        return send_outcome(r, Outcome::RefusedThenClose(refusal));
    }
    drain_guarded(r, &mut rate_guard(o))?;
    send_outcome(r, Outcome::Refused(refusal))
}

/// What a command did.
enum Outcome {
    /// It sent its reply itself (a header and a body).
    Sent,
    /// Send this header.
    Reply(Header),
    /// Send this error.
    Refused(Refusal),
    /// Send this error, then close (the request's body was left unread).
    RefusedThenClose(Refusal),
}

impl From<Refusal> for Outcome {
    fn from(r: Refusal) -> Self {
        Outcome::Refused(r)
    }
}

/// `?` on a refusal inside a command: answer with it.
macro_rules! or_refuse {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        }
    };
}

/// Half-closes, then reads and drops a bounded amount before the socket is closed.
fn lingering_close(conn: &mut Conn) {
    let _ = conn.shutdown_write();
    let until = Instant::now() + LINGER_TIME;
    let mut dropped = 0u64;
    let mut scratch = [0u8; 16 * 1024];
    while dropped < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        conn.settimeout(Some(left));
        match conn.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += n as u64,
        }
    }
}

fn checked_name(h: &Header) -> Result<&str, Refusal> {
    let name = h
        .str(proto::FILENAME)
        .map_err(|e| refuse(code::BAD_REQUEST, e))?;
    names::check(name).map_err(|e| refuse(code::BAD_NAME, e))
}

/// `put`: stream the body into an upload; the reply comes after the whole body was read,
/// whatever happened, so the connection stays usable.
fn put(store: &Arc<Store>, r: &mut Reader, h: &Header, o: &Options) -> io::Result<Outcome> {
    let prepared = (|| {
        let name = checked_name(h)?;
        let expected = match h
            .opt_str(proto::SHA256)
            .map_err(|e| refuse(code::BAD_REQUEST, e))?
        {
            Some(s) if !mayfly_proto::sha256::is_hex(s) => {
                return Err(refuse(
                    code::BAD_REQUEST,
                    "header field \"sha256\" must be 64 hex digits",
                ))
            }
            other => other.map(str::to_owned),
        };
        let offset = h
            .opt_u64(proto::OFFSET)
            .map_err(|e| refuse(code::BAD_REQUEST, e))?
            .unwrap_or(0);
        let resumable = h
            .flag(proto::RESUMABLE)
            .map_err(|e| refuse(code::BAD_REQUEST, e))?;
        let filesize = h
            .u64(proto::FILESIZE)
            .map_err(|e| refuse(code::BAD_REQUEST, e))?;
        let upload = store
            .begin_upload(name, filesize, resumable, offset)
            .map_err(|e| upload_refusal(&e))?;
        Ok((name.to_owned(), expected, upload))
    })();
    let (name, expected, mut upload) = match prepared {
        Ok(x) => x,
        Err(refusal) => {
            // A big body is not read just to be dropped (a client may trickle 16 GiB at one
            // byte per read timeout); a small one is, under the minimum rate, so the
            // connection stays usable.
            if r.body().remaining() > LINGER_BYTES {
                return Ok(Outcome::RefusedThenClose(refusal));
            }
            drain_guarded(r, &mut rate_guard(o))?;
            return Ok(Outcome::Refused(refusal));
        }
    };
    let mut buf = vec![0u8; CHUNK.min(r.body().remaining() as usize).max(1)];
    let mut write_error = None;
    let mut guard = rate_guard(o);
    loop {
        let (n, cut) = read_guarded(r, &mut buf, &mut guard);
        if n > 0 && write_error.is_none() {
            match upload.write_chunk(buf, n) {
                Ok(next) => buf = next,
                Err(e) => {
                    write_error = Some(e);
                    buf = vec![0u8; CHUNK];
                }
            }
        }
        if let Some(e) = cut {
            // Reset, timeout, close: dropping `upload` removes its temp file (the old file
            // stays) or, for a resumable upload, keeps every byte that arrived.
            return Err(e);
        }
        if n == 0 {
            break;
        }
    }
    if let Some(e) = write_error {
        upload.discard();
        return Ok(Outcome::Refused(io_refusal(&e)));
    }
    Ok(match upload.finish(expected.as_deref()) {
        Ok((sha256, len)) => Outcome::Reply(
            reply::ok()
                .with(proto::FILENAME, name)
                .with(proto::FILESIZE, len)
                .with(proto::SHA256, sha256),
        ),
        Err(e) => Outcome::Refused(upload_refusal(&e)),
    })
}

fn rate_guard(o: &Options) -> RateGuard {
    RateGuard::new(o.min_rate, o.rate_window, o.io_timeout, Instant::now())
}

/// [`read_full`] of the body under the minimum rate: each read's timeout ends when the
/// guard's window does, so a trickling or stalled client is cut when it falls behind.
fn read_guarded(r: &mut Reader, buf: &mut [u8], g: &mut RateGuard) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        r.get_mut().set_read_timeout(g.timeout(Instant::now()));
        let got = r.body().read(&mut buf[n..]);
        let now = Instant::now();
        match got {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if let Err(e) = g.progress(k, now) {
                    return (n, Some(e));
                }
            }
            Err(e) if is_timeout(&e) => {
                if let Err(e) = g.timed_out(now) {
                    return (n, Some(e));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// Reads and drops the rest of the body under the minimum rate (see [`read_guarded`]).
fn drain_guarded(r: &mut Reader, g: &mut RateGuard) -> io::Result<()> {
    let mut scratch = vec![0u8; 16 * 1024];
    loop {
        match read_guarded(r, &mut scratch, g) {
            (_, Some(e)) => return Err(e),
            (0, None) => return Ok(()),
            _ => {}
        }
    }
}

/// Sends all of `data` under the minimum rate (see [`read_guarded`]).
fn send_guarded(conn: &mut Conn, mut data: &[u8], g: &mut RateGuard) -> io::Result<()> {
    while !data.is_empty() {
        conn.set_write_timeout(g.timeout(Instant::now()));
        let sent = conn.send(data);
        let now = Instant::now();
        match sent {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => {
                data = &data[k..];
                g.progress(k, now)?;
            }
            Err(e) if is_timeout(&e) => g.timed_out(now)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn upload_refusal(e: &UploadError) -> Refusal {
    match e {
        UploadError::Io(e) => io_refusal(e),
        UploadError::Offset(m) => refuse(code::BAD_OFFSET, m),
        UploadError::Busy(_) | UploadError::Full(_) => refuse(code::BUSY, e),
        UploadError::TooLarge(_) => refuse(code::TOO_LARGE, e),
        UploadError::HashMismatch { .. } => refuse(code::HASH_MISMATCH, e),
    }
}

/// `get`: a header with `total_size`, then the file from `offset`.
fn get(store: &Store, r: &mut Reader, h: &Header, o: &Options) -> io::Result<Outcome> {
    let name = or_refuse!(checked_name(h));
    let offset = or_refuse!(h
        .opt_u64(proto::OFFSET)
        .map_err(|e| refuse(code::BAD_REQUEST, e)))
    .unwrap_or(0);
    let (file, meta) = or_refuse!(store.open_file(name).map_err(|e| io_refusal(&e)));
    let size = meta.len();
    if offset > size {
        let msg = format!("offset {offset} is past the end ({size} bytes)");
        return Ok(refuse(code::BAD_OFFSET, msg).into());
    }
    let sha256 = or_refuse!(store
        .sha256(name, file.as_std(), &meta)
        .map_err(|e| io_refusal(&e)));
    let header = reply::ok()
        .with(proto::FILENAME, name)
        .with(proto::FILESIZE, size)
        .with(proto::OFFSET, offset)
        .with(proto::SHA256, sha256)
        .with(proto::TOTAL_SIZE, size - offset);
    frame::write_header(r.get_mut(), &header)?;
    // A file that shrank under us cannot keep the promised length: the error closes.
    transfer::send_file(
        r.get_mut(),
        &file,
        offset,
        size - offset,
        &mut rate_guard(o),
    )?;
    Ok(Outcome::Sent)
}

/// `list`: one page, a header with `count`, `total_size`, `more` (and `next` when there
/// is more), then a JSON array of entries. At most [`Options::max_concurrent_lists`] at
/// once (more: `busy`).
fn list(store: &Store, r: &mut Reader, h: &Header, o: &Options) -> io::Result<Outcome> {
    let after = or_refuse!(h
        .opt_str(proto::AFTER)
        .map_err(|e| refuse(code::BAD_REQUEST, e)))
    .map(str::to_owned);
    let limit = or_refuse!(h
        .opt_u64(proto::LIMIT)
        .map_err(|e| refuse(code::BAD_REQUEST, e)))
    .map_or(super::DEFAULT_LIST_PAGE, |l| {
        l.clamp(1, super::MAX_LIST_PAGE as u64) as usize
    });
    let Some(slot) = store.list_slot(o.max_concurrent_lists) else {
        let msg = format!(
            "{} lists are running (--max-concurrent-lists); try again",
            o.max_concurrent_lists
        );
        return Ok(refuse(code::BUSY, msg).into());
    };
    let page = store.list(after, limit);
    // The slot bounds directory reads, not replies: a client that never reads its reply
    // must not hold it (the write is bounded by the minimum rate and --io-timeout).
    drop(slot);
    let (entries, more) = or_refuse!(page.map_err(|e| io_refusal(&e)));
    let body = serde_json::to_vec(&entries).expect("entries serialize");
    let mut header = reply::ok()
        .with(proto::COUNT, entries.len())
        .with(proto::TOTAL_SIZE, body.len())
        .with(proto::MORE, more);
    if let (true, Some(last)) = (more, entries.last()) {
        header.set(proto::NEXT, last.filename.as_str());
    }
    frame::write_header(r.get_mut(), &header)?;
    send_guarded(r.get_mut(), &body, &mut rate_guard(o))?;
    Ok(Outcome::Sent)
}

/// `stat`: size, mtime and sha256 of a file, and `partial_size` if a resumable upload of it
/// was cut off.
fn stat(store: &Store, h: &Header) -> Outcome {
    let name = match checked_name(h) {
        Ok(n) => n,
        Err(refusal) => return refusal.into(),
    };
    let partial = store.partial_len(name);
    let with_partial = |mut h: Header| {
        if let Some(p) = partial {
            h.set(proto::PARTIAL_SIZE, p);
        }
        h
    };
    match store.open_file(name) {
        Ok((file, meta)) => {
            let sha256 = match store.sha256(name, file.as_std(), &meta) {
                Ok(s) => s,
                Err(e) => return io_refusal(&e).into(),
            };
            use std::os::unix::fs::MetadataExt;
            Outcome::Reply(with_partial(
                reply::ok()
                    .with(proto::FILENAME, name)
                    .with(proto::FILESIZE, meta.len())
                    .with(proto::MTIME, meta.mtime())
                    .with(proto::SHA256, sha256),
            ))
        }
        Err(e) => Outcome::Reply(with_partial(io_refusal(&e).header())),
    }
}
