//! The file client: `put`, `get`, `list` and `stat` against `mayfly serve file`, with resume
//! and an end-to-end sha256 check. Generic over the stream, so the same client runs on a
//! `std::net::TcpStream` (the CLI) or a `mayfly::net::TcpStream` inside greenlets. The
//! requests and replies are `mayfly_proto::file`'s.
//!
//! ```no_run
//! use mayfly_clients::file::FileClient;
//! let mut c = FileClient::connect("127.0.0.1:9000").unwrap();
//! let sent = c.put_file("notes.txt".as_ref(), "notes.txt", &Default::default(), &mut |_, _| {}).unwrap();
//! let got = c.get_file("notes.txt", "copy.txt".as_ref(), &Default::default(), &mut |_, _| {}).unwrap();
//! assert_eq!(sent.sha256, got.sha256);
//! for e in c.list().unwrap() {
//!     println!("{} {}", e.filename, e.filesize);
//! }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mayfly_proto::file::{self as proto, read_full, Entry, CHUNK};
use mayfly_proto::frame::{self, FrameError, FrameReader, Header, Limits};
use mayfly_proto::reply::code;
use mayfly_proto::sha256::{HashPipeline, HashSink};
use mayfly_proto::{hex, Refusal};
use sha2::{Digest, Sha256};

use crate::tls_conn::{ClientTls, StdConn};

/// One `put` request, as it goes on the wire (defined by the protocol).
pub use mayfly_proto::file::PutRequest;

/// Largest reply body the client accepts for `list` (a transfer's body is streamed instead).
pub const MAX_LISTING: u64 = 256 << 20;
/// Default timeout for each read or write on the connection.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a file request failed. The messages are what `mayfly file` prints (with the causes
/// after them).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The address resolved to no socket address.
    #[error("address resolves to nothing")]
    NoAddress,
    /// The TCP connection could not be made.
    #[error("connecting to {addr}")]
    Connect {
        /// The address tried (the last one, if it resolved to several).
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed: the server's certificate refused here, this client's
    /// refused (or missing) there, a server that does not speak TLS.
    #[error("TLS with {addr}")]
    Tls {
        /// The address connected to.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The request could not be sent.
    #[error("sending the request")]
    SendRequest(#[source] io::Error),
    /// The reply could not be read (reset, timeout, a frame the limits refuse).
    #[error("reading the reply")]
    ReadReply(#[source] io::Error),
    /// The server closed the connection instead of replying.
    #[error("the server closed the connection without a reply")]
    NoReply,
    /// The server refused the request ([`Refusal::code`] says why: `not_found`, `bad_name`,
    /// `hash_mismatch`, `disk_full`, `too_large`, `bad_frame`, …).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A reply header lacks a field or has the wrong type.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Another I/O error on the connection or a local file.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The listing is bigger than [`MAX_LISTING`].
    #[error("listing of {len} bytes is over the client's limit of {MAX_LISTING}")]
    ListingTooLong {
        /// Its length.
        len: u64,
    },
    /// The listing is not a JSON array of entries.
    #[error("parsing the listing")]
    Listing(#[source] serde_json::Error),
    /// The upload's bytes could not be sent (the server gave no reason).
    #[error("sending the file")]
    SendFile(#[source] io::Error),
    /// A download was cut off.
    #[error("receiving the file")]
    Receive(#[source] io::Error),
    /// A local file could not be opened.
    #[error("opening {path}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing the downloaded bytes failed.
    #[error("writing the local file")]
    WriteLocal(#[source] io::Error),
    /// The finished download could not be renamed into place.
    #[error("renaming into {path}")]
    Rename {
        /// The destination.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A resume found more bytes on the server than the local file has.
    #[error("the server holds {have} bytes of {name:?}, more than the local {filesize}")]
    PartialTooLong {
        /// The remote name.
        name: String,
        /// Bytes the server keeps.
        have: u64,
        /// The local file's size.
        filesize: u64,
    },
    /// The `get` reply's length does not add up to the file's size.
    #[error("the server sent {len} bytes from {offset} of a {filesize}-byte file")]
    WrongLength {
        /// The body's length.
        len: u64,
        /// Where it starts.
        offset: u64,
        /// The whole file's size.
        filesize: u64,
    },
    /// The hashes on the two ends differ.
    #[error(transparent)]
    HashMismatch(#[from] HashMismatch),
    /// A download's destination exists with other content ([`GetOptions::overwrite`]
    /// replaces it).
    #[error("{path} exists and differs from the server's file; pass --force to replace it")]
    Exists {
        /// The destination.
        path: String,
    },
    /// A download's destination has a `.part` file from an earlier download that was cut
    /// off ([`GetOptions::resume`] continues it, [`GetOptions::overwrite`] starts over).
    #[error(
        "{path} holds {len} bytes of an earlier download; pass --resume to continue it or \
         --force to start over"
    )]
    PartExists {
        /// The `.part` file.
        path: String,
        /// Its length.
        len: u64,
    },
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

/// A remote name has no safe local file name to download it to.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not a plain file name to write locally; pass --out PATH")]
pub struct NoLocalName(pub String);

/// The local path a download of `name` gets when none is given: `name` itself, in the
/// current directory, if it is one plain file name (no directory part, not `.` or `..`).
///
/// # Errors
///
/// [`NoLocalName`] otherwise: the remote name is never used as a path.
///
/// ```
/// use mayfly_clients::file::local_name;
/// assert_eq!(local_name("big.iso").unwrap(), std::path::Path::new("big.iso"));
/// assert!(local_name("../x").is_err());
/// assert!(local_name("/etc/passwd").is_err());
/// assert!(local_name("..").is_err());
/// ```
pub fn local_name(name: &str) -> Result<PathBuf, NoLocalName> {
    use std::path::Component;
    let p = Path::new(name);
    let mut parts = p.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) if !name.contains(['/', '\\', '\0']) => {
            Ok(p.to_path_buf())
        }
        _ => Err(NoLocalName(name.to_owned())),
    }
}

/// How to download.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetOptions {
    /// Continue an existing `DEST.part` from its length instead of refusing to touch it.
    pub resume: bool,
    /// Replace an existing `DEST` with other content, and start an existing `DEST.part`
    /// over, instead of refusing.
    pub overwrite: bool,
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
    /// A download found the same file (size and sha256) already at its destination and
    /// moved nothing.
    pub up_to_date: bool,
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
#[derive(Debug)]
pub struct FileClient<S: Read + Write> {
    r: FrameReader<S>,
}

impl FileClient<std::net::TcpStream> {
    /// Connects with [`DEFAULT_TIMEOUT`] on every read and write.
    ///
    /// # Errors
    ///
    /// [`FileError::Connect`] (the last address's error), [`FileError::NoAddress`].
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self, FileError> {
        connect_tcp(addr).map(|(s, _)| FileClient::new(s))
    }
}

impl FileClient<StdConn> {
    /// [`connect`](FileClient::connect), over TLS when `tls` is set (the handshake right
    /// after the TCP connect). Over TLS a body the server's close cuts without
    /// `close_notify` fails ([`FileError::Receive`] with [`mayfly::tls::Truncated`]).
    ///
    /// # Errors
    ///
    /// As [`connect`](FileClient::connect); [`FileError::Tls`] when the handshake fails.
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        tls: Option<&ClientTls>,
    ) -> Result<Self, FileError> {
        let (s, a) = connect_tcp(addr)?;
        let conn = StdConn::open(s, tls).map_err(|source| FileError::Tls { addr: a, source })?;
        Ok(FileClient::new(conn))
    }
}

/// The first address of `addr` that connects, with [`DEFAULT_TIMEOUT`] on every read and
/// write.
fn connect_tcp(addr: impl ToSocketAddrs) -> Result<(std::net::TcpStream, SocketAddr), FileError> {
    let addrs: Vec<_> = addr.to_socket_addrs()?.collect();
    let mut last = None;
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, DEFAULT_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
                s.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
                s.set_nodelay(true)?;
                return Ok((s, a));
            }
            Err(source) => last = Some(FileError::Connect { addr: a, source }),
        }
    }
    Err(last.unwrap_or(FileError::NoAddress))
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

    /// The body of the reply just read, whole (at most `max` bytes, else
    /// [`FileError::ListingTooLong`]).
    ///
    /// # Errors
    /// A broken connection, or a body over `max`.
    pub fn read_body(&mut self, len: u64, max: u64) -> Result<Vec<u8>, FileError> {
        if len > max {
            return Err(FileError::ListingTooLong { len });
        }
        Ok(self.r.read_body_to_vec()?)
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut S {
        self.r.get_mut()
    }

    /// Reads one frame's header as it is (no `status` check): a login challenge, say.
    ///
    /// # Errors
    /// A broken connection, or no frame.
    pub fn read_frame_header(&mut self) -> Result<(Header, u64), FileError> {
        self.header()
            .map_err(FileError::ReadReply)?
            .ok_or(FileError::NoReply)
    }

    /// The next frame's header; a TLS record where a frame should be is
    /// [`ServerSpeaksTls`](crate::tls_conn::ServerSpeaksTls).
    fn header(&mut self) -> io::Result<Option<(Header, u64)>> {
        self.r
            .read_header()
            .map_err(crate::tls_conn::hint_server_speaks_tls)
    }

    /// Reads one reply: its header and body length (a refusal is an error, its body
    /// skipped). For requests this client has no method for (`mayfly_clients::file_user`).
    ///
    /// # Errors
    /// A broken connection, no reply, or the server's refusal.
    pub fn read_reply(&mut self) -> Result<(Header, u64), FileError> {
        let (h, len) = self
            .header()
            .map_err(FileError::ReadReply)?
            .ok_or(FileError::NoReply)?;
        if h.get("challenge").is_some() {
            // A server started with --users greets with its login challenge.
            return Err(Refusal::new(
                code::AUTH,
                "the server asks for a login (it runs with --users): pass --user and --secret-file",
            )
            .into());
        }
        if let Some(err) = Refusal::from_reply(&h) {
            self.r.body().skip()?;
            return Err(err.into());
        }
        Ok((h, len))
    }

    /// Sends `h` and reads the reply (see [`read_reply`](Self::read_reply)).
    ///
    /// # Errors
    /// As [`read_reply`](Self::read_reply), or the request could not be sent.
    pub fn request(&mut self, h: &Header) -> Result<(Header, u64), FileError> {
        frame::write_header(self.r.get_mut(), h).map_err(FileError::SendRequest)?;
        self.read_reply()
    }

    /// The server's files: every page of `list`, one request per page.
    ///
    /// # Errors
    ///
    /// A broken connection, the server's refusal, [`FileError::ListingTooLong`],
    /// [`FileError::Listing`].
    pub fn list(&mut self) -> Result<Vec<Entry>, FileError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (h, len) = self.request(&proto::list_page_request(after.as_deref(), None))?;
            if len > MAX_LISTING {
                return Err(FileError::ListingTooLong { len });
            }
            let body = self.r.read_body_to_vec()?;
            let page: Vec<Entry> = serde_json::from_slice(&body).map_err(FileError::Listing)?;
            all.extend(page);
            // A server without paging sends no `more`: its one page is everything.
            let next = h.opt_str(proto::NEXT)?.map(str::to_owned);
            match next {
                Some(n) if h.flag(proto::MORE)? && after.as_deref() < Some(n.as_str()) => {
                    after = Some(n)
                }
                _ => return Ok(all),
            }
        }
    }

    /// What the server has under `name` (file and/or a partial upload).
    ///
    /// # Errors
    ///
    /// A broken connection, or the server's refusal other than `not_found` (which is an
    /// answer here: a partial upload may still exist).
    pub fn stat(&mut self, name: &str) -> Result<Stat, FileError> {
        frame::write_header(self.r.get_mut(), &proto::stat_request(name))?;
        let (h, _) = self.header()?.ok_or(FileError::NoReply)?;
        // Not found is an answer here (a partial upload may still exist), not a failure.
        if let Some(err) = Refusal::from_reply(&h).filter(|e| e.code != code::NOT_FOUND) {
            return Err(err.into());
        }
        Ok(Stat {
            filename: name.to_owned(),
            filesize: h.opt_u64(proto::FILESIZE)?,
            mtime: h.get(proto::MTIME).and_then(|v| v.as_i64()),
            sha256: h.opt_str(proto::SHA256)?.map(str::to_owned),
            partial_size: h.opt_u64(proto::PARTIAL_SIZE)?,
        })
    }

    /// Sends `req` and then `req.filesize - req.offset` bytes from `src`; returns the
    /// server's reply header. `progress(done, total)` is called after every chunk with the
    /// bytes of the whole file done so far and its size (so also in the other methods).
    ///
    /// # Errors
    ///
    /// The server's refusal (also when it refused and closed while the bytes were going
    /// out), [`FileError::SendFile`], or a broken connection while reading the reply.
    pub fn put_stream(
        &mut self,
        req: &PutRequest,
        src: &mut impl Read,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Header, FileError> {
        let (filesize, offset) = (req.filesize, req.offset);
        let h = req.header();
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
                Err(FileError::Refused(reply)) => Err(FileError::Refused(reply)),
                _ => Err(FileError::SendFile(e)),
            },
        }
    }

    /// Uploads the file at `path` as `name`, checks the server's sha256 against the local one.
    ///
    /// # Errors
    ///
    /// [`FileError::Open`], [`FileError::PartialTooLong`] on a resume,
    /// [`FileError::HashMismatch`], and those of [`put_stream`](Self::put_stream).
    pub fn put_file(
        &mut self,
        path: &Path,
        name: &str,
        opts: &PutOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Transfer, FileError> {
        let mut file = File::open(path).map_err(|source| FileError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let filesize = file.metadata()?.len();
        let prehash = if opts.no_prehash {
            None
        } else {
            Some(hash_prefix(&mut file, filesize)?)
        };
        let offset = if opts.resume {
            let have = self.stat(name)?.partial_size.unwrap_or(0);
            if have > filesize {
                return Err(FileError::PartialTooLong {
                    name: name.to_owned(),
                    have,
                    filesize,
                });
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
        let remote = reply.str(proto::SHA256)?.to_owned();
        if !local.eq_ignore_ascii_case(&remote) {
            return Err(HashMismatch { local, remote }.into());
        }
        Ok(Transfer {
            filename: name.to_owned(),
            filesize: reply.u64(proto::FILESIZE)?,
            transferred: filesize - offset,
            sha256: local,
            seconds,
            up_to_date: false,
        })
    }

    /// Downloads `name` from `offset` into `dst`, feeding every byte through `hasher`.
    /// Returns the reply header (`filesize`, `sha256` of the whole file).
    ///
    /// # Errors
    ///
    /// The server's refusal, [`FileError::WrongLength`], [`FileError::Receive`] when the
    /// download is cut off, [`FileError::WriteLocal`].
    pub fn get_stream(
        &mut self,
        name: &str,
        offset: u64,
        dst: &mut impl Write,
        hasher: &mut Sha256,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Header, FileError> {
        let (reply, _) = self.begin_get(name, offset)?;
        self.receive(&reply, offset, dst, hasher, progress)?;
        Ok(reply)
    }

    /// Sends `get` and reads the reply header; the body (`len` bytes) follows.
    fn begin_get(&mut self, name: &str, offset: u64) -> Result<(Header, u64), FileError> {
        let (reply, len) = self.request(&proto::get_request(name, offset))?;
        let filesize = reply.u64(proto::FILESIZE)?;
        if offset + len != filesize {
            return Err(FileError::WrongLength {
                len,
                offset,
                filesize,
            });
        }
        Ok((reply, len))
    }

    /// Receives the body of a `get` reply into `dst`.
    fn receive(
        &mut self,
        reply: &Header,
        offset: u64,
        dst: &mut impl Write,
        hasher: &mut Sha256,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), FileError> {
        let filesize = reply.u64(proto::FILESIZE)?;
        let mut buf = vec![0u8; CHUNK];
        let mut done = offset;
        let mut body = self.r.body();
        let mut pipeline = HashPipeline::new(std::mem::take(hasher));
        loop {
            let (n, cut) = read_full(&mut body, &mut buf);
            // Bytes that arrived before a cut are kept, so a resume starts after them.
            dst.write_all(&buf[..n]).map_err(FileError::WriteLocal)?;
            if let Some(e) = cut {
                return Err(FileError::Receive(e));
            }
            if n == 0 {
                break;
            }
            buf = pipeline.feed(buf, n)?;
            done += n as u64;
            progress(done, filesize);
        }
        *hasher = pipeline.finish()?;
        Ok(())
    }

    /// Downloads `name` to `dest` through `dest.part`, renamed only once the sha256 matches.
    /// Nothing local is created or changed before the server has said yes. An existing
    /// `dest` with the same size and sha256 as the server's is left alone
    /// ([`Transfer::up_to_date`]); one with other content is refused unless
    /// [`GetOptions::overwrite`]; an existing `dest.part` is refused unless
    /// [`GetOptions::resume`] (continue it) or [`GetOptions::overwrite`] (start over).
    ///
    /// # Errors
    ///
    /// [`FileError::Exists`], [`FileError::PartExists`], [`FileError::Open`],
    /// [`FileError::HashMismatch`] (the `.part` file is removed), [`FileError::Rename`],
    /// and those of [`get_stream`](Self::get_stream).
    pub fn get_file(
        &mut self,
        name: &str,
        dest: &Path,
        opts: &GetOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Transfer, FileError> {
        let started = Instant::now();
        let local_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| FileError::Open { path, source }
        };
        if !opts.overwrite && fs::symlink_metadata(dest).is_ok() {
            let st = self.stat(name)?;
            let same = match (st.filesize, &st.sha256) {
                (Some(size), Some(sha)) => {
                    let mut f = File::open(dest).map_err(local_err(dest))?;
                    let len = f.metadata().map_err(local_err(dest))?.len();
                    len == size
                        && hash_prefix(&mut f, len)
                            .map_err(local_err(dest))?
                            .eq_ignore_ascii_case(sha)
                }
                // Not on the server: the request below gets the server's refusal.
                _ => false,
            };
            if same {
                return Ok(Transfer {
                    filename: name.to_owned(),
                    filesize: st.filesize.unwrap_or(0),
                    transferred: 0,
                    sha256: st.sha256.unwrap_or_default(),
                    seconds: started.elapsed().as_secs_f64(),
                    up_to_date: true,
                });
            }
            if st.filesize.is_some() {
                return Err(FileError::Exists {
                    path: dest.display().to_string(),
                });
            }
        }
        let part = part_path(dest);
        let have = fs::metadata(&part).map(|m| m.len()).ok();
        if let (Some(len), false, false) = (have, opts.resume, opts.overwrite) {
            return Err(FileError::PartExists {
                path: part.display().to_string(),
                len,
            });
        }
        let offset = if opts.resume { have.unwrap_or(0) } else { 0 };
        // Ask first: a refused request (no such file, a bad name) leaves nothing behind.
        let (reply, _) = self.begin_get(name, offset)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(offset == 0)
            .open(&part)
            .map_err(local_err(&part))?;
        let mut hasher = Sha256::new();
        if offset > 0 {
            io::copy(&mut (&mut file).take(offset), &mut HashSink(&mut hasher))
                .map_err(local_err(&part))?;
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(local_err(&part))?;
        let mut out = io::BufWriter::with_capacity(CHUNK, &mut file);
        self.receive(&reply, offset, &mut out, &mut hasher, progress)?;
        out.flush().map_err(FileError::WriteLocal)?;
        drop(out);
        let seconds = started.elapsed().as_secs_f64();
        let local = hex(&hasher.finalize());
        let remote = reply.str(proto::SHA256)?.to_owned();
        if !local.eq_ignore_ascii_case(&remote) {
            let _ = fs::remove_file(&part);
            return Err(HashMismatch { local, remote }.into());
        }
        fs::rename(&part, dest).map_err(|source| FileError::Rename {
            path: dest.display().to_string(),
            source,
        })?;
        Ok(Transfer {
            filename: name.to_owned(),
            filesize: reply.u64(proto::FILESIZE)?,
            transferred: reply.u64(proto::FILESIZE)? - offset,
            sha256: local,
            seconds,
            up_to_date: false,
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
///
/// # Errors
///
/// Seeking or reading `file` failed.
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
