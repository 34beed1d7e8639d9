//! The file client: `put`, `get`, `list` and `stat` against `mayfly serve file`, with resume
//! and an end-to-end sha256 check. Generic over the stream, so the same client runs on a
//! `std::net::TcpStream` (the CLI) or a `mayfly::net::TcpStream` inside greenlets.
//!
//! ```no_run
//! use mayfly_clients::file::FileClient;
//! let mut c = FileClient::connect("127.0.0.1:9000").unwrap();
//! let sent = c.put_file("notes.txt".as_ref(), "notes.txt", &Default::default(), &mut |_, _| {}).unwrap();
//! let got = c.get_file("notes.txt", "copy.txt".as_ref(), false, &mut |_, _| {}).unwrap();
//! assert_eq!(sent.sha256, got.sha256);
//! for e in c.list().unwrap() {
//!     println!("{} {}", e.filename, e.filesize);
//! }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use mayfly::frame::{self, FrameReader, Header, Limits};
use mayfly_servers::file::{hex, read_full, Entry, HashPipeline, HashSink, CHUNK};
use sha2::{Digest, Sha256};

/// Largest reply body the client accepts for `list` (a transfer's body is streamed instead).
pub const MAX_LISTING: u64 = 256 << 20;
/// Default timeout for each read or write on the connection.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl ServerError {
    /// The refusal in a reply header, or `None` if its `status` is `"ok"`.
    ///
    /// ```
    /// use mayfly::frame::Header;
    /// use mayfly_clients::file::ServerError;
    /// assert!(ServerError::from_reply(&Header::new().with("status", "ok")).is_none());
    /// let e = ServerError::from_reply(&Header::new().with("status", "error").with("code", "auth")).unwrap();
    /// assert_eq!((e.code.as_str(), e.error.as_str()), ("auth", "no reason given"));
    /// ```
    pub fn from_reply(h: &Header) -> Option<ServerError> {
        if h.get("status").and_then(|s| s.as_str()) == Some("ok") {
            return None;
        }
        let field = |name: &str, default: &str| {
            h.get(name)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_owned()
        };
        Some(ServerError {
            code: field("code", "unknown"),
            error: field("error", "no reason given"),
        })
    }
}

/// The server refused a request; `code` is machine-readable (`not_found`, `bad_name`,
/// `hash_mismatch`, `disk_full`, `too_large`, `bad_frame`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server refused: {error} ({code})")]
pub struct ServerError {
    /// Machine-readable reason.
    pub code: String,
    /// Human-readable reason.
    pub error: String,
}

/// The local and remote sides disagree on the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sha256 mismatch: local {local}, server {remote}")]
pub struct HashMismatch {
    /// What the client computed.
    pub local: String,
    /// What the server said.
    pub remote: String,
}

/// A local path has no file name that can name it on the server.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} has no usable file name; pass --name", .0.display())]
pub struct NoRemoteName(pub std::path::PathBuf);

/// The name an upload of `path` gets on the server when none is given: its file name.
///
/// # Errors
///
/// [`NoRemoteName`] if `path` has no file name (`..`, `/`) or it is not UTF-8.
///
/// ```
/// use std::path::Path;
/// use mayfly_clients::file::remote_name;
/// assert_eq!(remote_name(Path::new("/tmp/big.iso")).unwrap(), "big.iso");
/// assert!(remote_name(Path::new("/")).is_err());
/// ```
pub fn remote_name(path: &std::path::Path) -> Result<String, NoRemoteName> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| NoRemoteName(path.to_path_buf()))
}

/// How to upload.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Hash the file first and send the hash, so the server refuses a damaged upload
    /// instead of storing it (the file is read twice). Without it the client still
    /// compares the server's hash with one computed while sending.
    pub no_prehash: bool,
    /// Ask the server to keep the bytes if the upload is cut off.
    pub resumable: bool,
    /// Continue a cut-off resumable upload from where the server has it.
    pub resume: bool,
}

/// One `put` request, as it goes on the wire.
///
/// ```
/// let req = mayfly_clients::file::PutRequest::new("a.txt", 5);
/// assert_eq!((req.offset, req.resumable, req.sha256), (0, false, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    /// Name on the server.
    pub name: String,
    /// Size of the whole file.
    pub filesize: u64,
    /// Where this upload starts (a resumed one: the bytes the server already has).
    pub offset: u64,
    /// The whole file's sha256 in hex: the server refuses the upload if it differs.
    pub sha256: Option<String>,
    /// Ask the server to keep the bytes if the upload is cut off.
    pub resumable: bool,
}

impl PutRequest {
    /// A plain upload of `filesize` bytes as `name` (what the course's client sends).
    pub fn new(name: &str, filesize: u64) -> Self {
        PutRequest {
            name: name.to_owned(),
            filesize,
            offset: 0,
            sha256: None,
            resumable: false,
        }
    }
}

/// What a finished transfer moved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Transfer {
    /// The remote name.
    pub filename: String,
    /// Size of the whole file.
    pub filesize: u64,
    /// Bytes that crossed the network this time (less than `filesize` after a resume).
    pub transferred: u64,
    /// sha256 of the whole file, checked on both ends.
    pub sha256: String,
    /// Wall time of the transfer, in seconds.
    pub seconds: f64,
}

/// What `stat` says of a name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stat {
    /// The name.
    pub filename: String,
    /// Size, if the file exists.
    pub filesize: Option<u64>,
    /// Modification time (seconds since the epoch), if it exists.
    pub mtime: Option<i64>,
    /// Content hash, if it exists.
    pub sha256: Option<String>,
    /// Bytes of a cut-off resumable upload the server keeps for this name.
    pub partial_size: Option<u64>,
}

/// A connection to a file server.
pub struct FileClient<S: Read + Write> {
    r: FrameReader<S>,
}

impl FileClient<std::net::TcpStream> {
    /// Connects with [`DEFAULT_TIMEOUT`] on every read and write.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self> {
        let addrs: Vec<_> = addr.to_socket_addrs()?.collect();
        let mut last = None;
        for a in addrs {
            match std::net::TcpStream::connect_timeout(&a, DEFAULT_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
                    s.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    return Ok(FileClient::new(s));
                }
                Err(e) => last = Some(anyhow!(e).context(format!("connecting to {a}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("address resolves to nothing")))
    }
}

impl<S: Read + Write> FileClient<S> {
    /// A client on an open stream.
    pub fn new(stream: S) -> Self {
        FileClient {
            r: FrameReader::new(
                stream,
                Limits::default().max_body(u64::MAX),
                frame::total_size as _,
            ),
        }
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut S {
        self.r.get_mut()
    }

    fn read_reply(&mut self) -> Result<(Header, u64)> {
        let (h, len) = self
            .r
            .read_header()
            .context("reading the reply")?
            .ok_or_else(|| anyhow!("the server closed the connection without a reply"))?;
        if let Some(err) = ServerError::from_reply(&h) {
            self.r.body().skip()?;
            return Err(err.into());
        }
        Ok((h, len))
    }

    fn request(&mut self, h: &Header) -> Result<(Header, u64)> {
        frame::write_header(self.r.get_mut(), h).context("sending the request")?;
        self.read_reply()
    }

    /// The server's files.
    pub fn list(&mut self) -> Result<Vec<Entry>> {
        let (_, len) = self.request(&Header::new().with("cmd", "list"))?;
        if len > MAX_LISTING {
            bail!("listing of {len} bytes is over the client's limit of {MAX_LISTING}");
        }
        let body = self.r.read_body_to_vec()?;
        serde_json::from_slice(&body).context("parsing the listing")
    }

    /// What the server has under `name` (file and/or a partial upload).
    pub fn stat(&mut self, name: &str) -> Result<Stat> {
        frame::write_header(
            self.r.get_mut(),
            &Header::new().with("cmd", "stat").with("filename", name),
        )?;
        let (h, _) = self
            .r
            .read_header()?
            .ok_or_else(|| anyhow!("the server closed the connection without a reply"))?;
        // Not found is an answer here (a partial upload may still exist), not a failure.
        if let Some(err) = ServerError::from_reply(&h).filter(|e| e.code != "not_found") {
            return Err(err.into());
        }
        Ok(Stat {
            filename: name.to_owned(),
            filesize: h.opt_u64("filesize")?,
            mtime: h.get("mtime").and_then(|v| v.as_i64()),
            sha256: h.opt_str("sha256")?.map(str::to_owned),
            partial_size: h.opt_u64("partial_size")?,
        })
    }

    /// Sends `req` and then `req.filesize - req.offset` bytes from `src`; returns the
    /// server's reply header. `progress(done, total)` is called after every chunk with the
    /// bytes of the whole file done so far and its size (so also in the other methods).
    pub fn put_stream(
        &mut self,
        req: &PutRequest,
        src: &mut impl Read,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Header> {
        let (filesize, offset) = (req.filesize, req.offset);
        let mut h = Header::new()
            .with("cmd", "put")
            .with("filename", req.name.as_str())
            .with("filesize", filesize);
        if let Some(s) = &req.sha256 {
            h.set("sha256", s.as_str());
        }
        if req.resumable {
            h.set("resumable", true);
        }
        if offset > 0 {
            h.set("offset", offset);
        }
        let sent = (|| -> io::Result<()> {
            // The header and the first chunk go out in one write: a small file is one
            // segment, never a header held back by Nagle waiting for a delayed ACK.
            let mut head = bytes::BytesMut::new();
            frame::encode_header(&h, frame::MAX_HEADER, &mut head)?;
            let mut buf = head.to_vec();
            let mut start = buf.len();
            buf.resize(start + CHUNK, 0);
            let mut left = filesize - offset;
            loop {
                let want = ((buf.len() - start) as u64).min(left) as usize;
                let (n, failed) = read_full(src, &mut buf[start..start + want]);
                if let Some(e) = failed {
                    return Err(e);
                }
                if n < want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the local file shrank during the upload",
                    ));
                }
                self.r.get_mut().write_all(&buf[..start + n])?;
                left -= n as u64;
                progress(filesize - left, filesize);
                if left == 0 {
                    return Ok(());
                }
                start = 0;
            }
        })();
        match sent {
            Ok(()) => Ok(self.read_reply()?.0),
            // The server may have refused and closed: its reason is worth more than EPIPE.
            Err(e) => match self.read_reply() {
                Err(reply) if reply.is::<ServerError>() => Err(reply),
                _ => Err(anyhow!(e).context("sending the file")),
            },
        }
    }

    /// Uploads the file at `path` as `name`, checks the server's sha256 against the local one.
    pub fn put_file(
        &mut self,
        path: &Path,
        name: &str,
        opts: &PutOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Transfer> {
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let filesize = file.metadata()?.len();
        let prehash = if opts.no_prehash {
            None
        } else {
            Some(hash_prefix(&mut file, filesize)?)
        };
        let offset = if opts.resume {
            let have = self.stat(name)?.partial_size.unwrap_or(0);
            if have > filesize {
                bail!("the server holds {have} bytes of {name:?}, more than the local {filesize}");
            }
            have
        } else {
            0
        };
        // Hash what is sent if there was no hash up front: the prefix first when resuming.
        let mut running = Sha256::new();
        if prehash.is_none() && offset > 0 {
            file.seek(SeekFrom::Start(0))?;
            io::copy(&mut (&mut file).take(offset), &mut HashSink(&mut running))?;
        }
        file.seek(SeekFrom::Start(offset))?;
        let started = Instant::now();
        let mut tee = HashingReader {
            inner: &mut file,
            hasher: prehash.is_none().then_some(&mut running),
        };
        let req = PutRequest {
            name: name.to_owned(),
            filesize,
            offset,
            sha256: prehash.clone(),
            resumable: opts.resumable || opts.resume,
        };
        let reply = self.put_stream(&req, &mut tee, progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let local = prehash.unwrap_or_else(|| hex(&running.finalize()));
        let remote = reply.str("sha256")?.to_owned();
        if !local.eq_ignore_ascii_case(&remote) {
            return Err(HashMismatch { local, remote }.into());
        }
        Ok(Transfer {
            filename: name.to_owned(),
            filesize: reply.u64("filesize")?,
            transferred: filesize - offset,
            sha256: local,
            seconds,
        })
    }

    /// Downloads `name` from `offset` into `dst`, feeding every byte through `hasher`.
    /// Returns the reply header (`filesize`, `sha256` of the whole file).
    pub fn get_stream(
        &mut self,
        name: &str,
        offset: u64,
        dst: &mut impl Write,
        hasher: &mut Sha256,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Header> {
        let mut h = Header::new().with("cmd", "get").with("filename", name);
        if offset > 0 {
            h.set("offset", offset);
        }
        let (reply, len) = self.request(&h)?;
        let filesize = reply.u64("filesize")?;
        if offset + len != filesize {
            bail!("the server sent {len} bytes from {offset} of a {filesize}-byte file");
        }
        let mut buf = vec![0u8; CHUNK];
        let mut done = offset;
        let mut body = self.r.body();
        let mut pipeline = HashPipeline::new(std::mem::take(hasher));
        loop {
            let (n, cut) = read_full(&mut body, &mut buf);
            // Bytes that arrived before a cut are kept, so a resume starts after them.
            dst.write_all(&buf[..n]).context("writing the local file")?;
            if let Some(e) = cut {
                return Err(anyhow!(e).context("receiving the file"));
            }
            if n == 0 {
                break;
            }
            buf = pipeline.feed(buf, n)?;
            done += n as u64;
            progress(done, filesize);
        }
        *hasher = pipeline.finish()?;
        Ok(reply)
    }

    /// Downloads `name` to `dest` through `dest.part`, renamed only once the sha256 matches.
    /// With `resume`, an existing `dest.part` is continued instead of started over.
    pub fn get_file(
        &mut self,
        name: &str,
        dest: &Path,
        resume: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Transfer> {
        let part = part_path(dest);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(!resume)
            .open(&part)
            .with_context(|| format!("opening {}", part.display()))?;
        let offset = file.metadata()?.len();
        let mut hasher = Sha256::new();
        if offset > 0 {
            io::copy(&mut (&mut file).take(offset), &mut HashSink(&mut hasher))?;
        }
        file.seek(SeekFrom::Start(offset))?;
        let started = Instant::now();
        let mut out = io::BufWriter::with_capacity(CHUNK, &mut file);
        let reply = self.get_stream(name, offset, &mut out, &mut hasher, progress)?;
        out.flush()?;
        drop(out);
        let seconds = started.elapsed().as_secs_f64();
        let local = hex(&hasher.finalize());
        let remote = reply.str("sha256")?.to_owned();
        if !local.eq_ignore_ascii_case(&remote) {
            let _ = fs::remove_file(&part);
            return Err(HashMismatch { local, remote }.into());
        }
        fs::rename(&part, dest).with_context(|| format!("renaming into {}", dest.display()))?;
        Ok(Transfer {
            filename: name.to_owned(),
            filesize: reply.u64("filesize")?,
            transferred: reply.u64("filesize")? - offset,
            sha256: local,
            seconds,
        })
    }
}

/// Where a download in progress goes: `dest` with `.part` appended.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// sha256 of the first `len` bytes of `file` (from its start), as hex.
pub fn hash_prefix(file: &mut File, len: u64) -> io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    io::copy(&mut file.take(len), &mut HashSink(&mut h))?;
    Ok(hex(&h.finalize()))
}

struct HashingReader<'a, R> {
    inner: R,
    hasher: Option<&'a mut Sha256>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}
