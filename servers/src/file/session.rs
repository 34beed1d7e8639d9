//! One connection of the file server: read a request frame, answer it, repeat.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::frame::{self, FrameError, FrameReader, Header, Limits};
use mayfly::net::TcpStream;
use mayfly::server::ServerStats;

use super::store::{is_sha256_hex, Store, UploadError};
use super::Options;
use super::{names, read_full};

/// Bytes moved per read/write of a body.
pub const CHUNK: usize = 256 * 1024;
/// After a fatal protocol error the server reads and drops at most this much for at most
/// [`LINGER_TIME`] before closing, so the client sees the error reply instead of a reset.
pub const LINGER_BYTES: u64 = 4 << 20;
/// See [`LINGER_BYTES`].
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// How long the body of a request is: `filesize - offset` for `put`, nothing otherwise.
pub fn request_body_len(h: &Header) -> Result<u64, FrameError> {
    if h.get("cmd").and_then(|c| c.as_str()) != Some("put") {
        return Ok(0);
    }
    let size = h.u64("filesize")?;
    let offset = h.opt_u64("offset")?.unwrap_or(0);
    if offset > size {
        return Err(FrameError::WrongType {
            field: "offset".into(),
            expected: "at most filesize",
        });
    }
    Ok(size - offset)
}

type Reader = FrameReader<TcpStream, fn(&Header) -> Result<u64, FrameError>>;

/// A reply that went wrong: machine-readable `code`, human-readable `error`.
struct Refusal {
    code: &'static str,
    error: String,
}

fn refuse(code: &'static str, error: impl ToString) -> Refusal {
    Refusal {
        code,
        error: error.to_string(),
    }
}

fn error_header(r: &Refusal) -> Header {
    Header::new()
        .with("status", "error")
        .with("code", r.code)
        .with("error", r.error.as_str())
}

fn io_refusal(e: &io::Error) -> Refusal {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => refuse("disk_full", format!("disk full: {e}")),
        Some(libc::EFBIG) => refuse("too_large", format!("file too large for the server: {e}")),
        _ if e.kind() == io::ErrorKind::NotFound => refuse("not_found", "no such file"),
        _ if e.kind() == io::ErrorKind::PermissionDenied => refuse("forbidden", e),
        _ => refuse("io", e),
    }
}

/// Serves one connection until the client closes, idles out, or breaks the protocol.
pub(crate) fn serve(
    store: Arc<Store>,
    settings: Arc<Options>,
    stats: &ServerStats,
    conn: TcpStream,
) -> io::Result<()> {
    let _ = conn.set_nodelay(true);
    let limits = Limits::default().max_body(settings.max_file_size);
    let rule: fn(&Header) -> Result<u64, FrameError> = request_body_len;
    let mut r: Reader = FrameReader::new(conn, limits, rule);
    loop {
        r.get_mut().settimeout(Some(settings.idle_timeout));
        let (h, _body_len) = match r.read_header() {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(()),
            Err(e) => {
                let Some(fe) = FrameError::from_io(&e) else {
                    // Reset, idle timeout, close in mid-header: nothing to answer. The
                    // StreamServer counts it by kind.
                    return Err(e);
                };
                let fatal = fe.is_fatal();
                let refusal = refuse(
                    if matches!(fe, FrameError::BodyTooLong { .. }) {
                        "too_large"
                    } else {
                        "bad_frame"
                    },
                    fe,
                );
                frame::write_header(r.get_mut(), &error_header(&refusal))?;
                if fatal {
                    lingering_close(r.get_mut());
                    return Ok(());
                }
                continue;
            }
        };
        r.get_mut().settimeout(Some(settings.io_timeout));
        stats.requests(1);
        let cmd = h.get("cmd").and_then(|c| c.as_str()).unwrap_or("");
        let outcome = match cmd {
            "put" => put(&store, &mut r, &h),
            "get" => get(&store, &mut r, &h),
            "list" => list(&store, &mut r),
            "stat" => Ok(stat(&store, &h)),
            "" => Ok(Outcome::Refused(refuse(
                "bad_request",
                "header field \"cmd\" is missing",
            ))),
            other => Ok(Outcome::Refused(refuse(
                "bad_request",
                format!("unknown command {other:?} (known: put, get, list, stat)"),
            ))),
        };
        match outcome {
            Ok(Outcome::Sent) => {}
            Ok(Outcome::Reply(h)) => frame::write_header(r.get_mut(), &h)?,
            Ok(Outcome::Refused(x)) => frame::write_header(r.get_mut(), &error_header(&x))?,
            Err(e) => return Err(e),
        }
    }
}

/// What a command did.
enum Outcome {
    /// It sent its reply itself (a header and a body).
    Sent,
    /// Send this header.
    Reply(Header),
    /// Send this error.
    Refused(Refusal),
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
fn lingering_close(conn: &mut TcpStream) {
    let _ = conn.shutdown(std::net::Shutdown::Write);
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
    let name = h.str("filename").map_err(|e| refuse("bad_request", e))?;
    names::check(name).map_err(|e| refuse("bad_name", e))
}

/// `put`: stream the body into an upload; the reply comes after the whole body was read,
/// whatever happened, so the connection stays usable.
fn put(store: &Arc<Store>, r: &mut Reader, h: &Header) -> io::Result<Outcome> {
    let prepared = (|| {
        let name = checked_name(h)?;
        let expected = match h.opt_str("sha256").map_err(|e| refuse("bad_request", e))? {
            Some(s) if !is_sha256_hex(s) => {
                return Err(refuse(
                    "bad_request",
                    "header field \"sha256\" must be 64 hex digits",
                ))
            }
            other => other.map(str::to_owned),
        };
        let offset = h
            .opt_u64("offset")
            .map_err(|e| refuse("bad_request", e))?
            .unwrap_or(0);
        let resumable = h.flag("resumable").map_err(|e| refuse("bad_request", e))?;
        let upload = store
            .begin_upload(name, resumable, offset)
            .map_err(|e| upload_refusal(&e))?;
        Ok((name.to_owned(), expected, upload))
    })();
    let (name, expected, mut upload) = match prepared {
        Ok(x) => x,
        Err(refusal) => {
            r.body().skip()?;
            return Ok(Outcome::Refused(refusal));
        }
    };
    let mut buf = vec![0u8; CHUNK.min(r.body().remaining() as usize).max(1)];
    let mut write_error = None;
    loop {
        let (n, cut) = read_full(&mut r.body(), &mut buf);
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
            Header::new()
                .with("status", "ok")
                .with("filename", name)
                .with("filesize", len)
                .with("sha256", sha256),
        ),
        Err(e) => Outcome::Refused(upload_refusal(&e)),
    })
}

fn upload_refusal(e: &UploadError) -> Refusal {
    match e {
        UploadError::Io(e) => io_refusal(e),
        UploadError::Offset(m) => refuse("bad_offset", m),
        UploadError::Busy(_) => refuse("busy", e),
        UploadError::HashMismatch { .. } => refuse("hash_mismatch", e),
    }
}

/// `get`: a header with `total_size`, then the file from `offset`.
fn get(store: &Store, r: &mut Reader, h: &Header) -> io::Result<Outcome> {
    let name = or_refuse!(checked_name(h));
    let offset = or_refuse!(h.opt_u64("offset").map_err(|e| refuse("bad_request", e))).unwrap_or(0);
    let (mut file, meta) = or_refuse!(store.open_file(name).map_err(|e| io_refusal(&e)));
    let size = meta.len();
    if offset > size {
        let msg = format!("offset {offset} is past the end ({size} bytes)");
        return Ok(refuse("bad_offset", msg).into());
    }
    let sha256 = or_refuse!(store.sha256(name, &file, &meta).map_err(|e| io_refusal(&e)));
    let header = Header::new()
        .with("status", "ok")
        .with("filename", name)
        .with("filesize", size)
        .with("offset", offset)
        .with("sha256", sha256)
        .with("total_size", size - offset);
    frame::write_header(r.get_mut(), &header)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut left = size - offset;
    let mut buf = vec![0u8; CHUNK.min(left as usize)];
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            // The file shrank under us: the promised length cannot be kept; close.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            ));
        }
        r.get_mut().sendall(&buf[..n])?;
        left -= n as u64;
    }
    Ok(Outcome::Sent)
}

/// `list`: a header with `count` and `total_size`, then a JSON array of entries.
fn list(store: &Store, r: &mut Reader) -> io::Result<Outcome> {
    let entries = or_refuse!(store.list().map_err(|e| io_refusal(&e)));
    let body = serde_json::to_vec(&entries).expect("entries serialize");
    let header = Header::new()
        .with("status", "ok")
        .with("count", entries.len())
        .with("total_size", body.len());
    frame::write_frame(r.get_mut(), &header, &body)?;
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
            h.set("partial_size", p);
        }
        h
    };
    match store.open_file(name) {
        Ok((file, meta)) => {
            let sha256 = match store.sha256(name, &file, &meta) {
                Ok(s) => s,
                Err(e) => return io_refusal(&e).into(),
            };
            use std::os::unix::fs::MetadataExt;
            Outcome::Reply(with_partial(
                Header::new()
                    .with("status", "ok")
                    .with("filename", name)
                    .with("filesize", meta.len())
                    .with("mtime", meta.mtime())
                    .with("sha256", sha256),
            ))
        }
        Err(e) => Outcome::Reply(with_partial(error_header(&io_refusal(&e)))),
    }
}
