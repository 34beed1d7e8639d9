//! `mayfly file-bench`: the file server's throughput, measured end to end. Starts
//! `mayfly serve file` as its own process on a scratch directory, then
//! 1. moves one big file (1 GiB by default) up and down `rounds` times after one warm-up
//!    round, timing each transfer (sha256 checked on both ends every time), and
//! 2. moves many small files from many greenlets on one client thread, all at once.
//!
//! It reports MB/s per round and their median, files per second, and the server's peak RSS.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use mayfly_proto::child::ServeFileCommand;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::child::{ChildError, ServerProcess};
use crate::file::{FileClient, FileError, GetOptions, PutOptions, PutRequest};

/// Why the benchmark failed.
#[derive(Debug, thiserror::Error)]
pub enum FileBenchError {
    /// The server child could not be started or did not stop cleanly.
    #[error(transparent)]
    Server(#[from] ChildError),
    /// A transfer failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// A local file or directory could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The server's address did not parse.
    #[error(transparent)]
    Addr(#[from] std::net::AddrParseError),
    /// A reply header lacks a field.
    #[error(transparent)]
    Frame(#[from] mayfly_proto::frame::FrameError),
    /// A small file came back different.
    #[error("{name}: sha256 mismatch")]
    Mismatch {
        /// The file.
        name: String,
    },
    /// A greenlet moving small files panicked or was killed.
    #[error("greenlet failed: {0}")]
    Greenlet(mayfly::GreenletError),
    /// A small-file transfer failed.
    #[error("small-file transfer")]
    SmallFile(#[source] Box<FileBenchError>),
}

type Result<T, E = FileBenchError> = std::result::Result<T, E>;

/// Default [`FileBenchOptions::size`]: 1 GiB.
pub const DEFAULT_SIZE: u64 = 1 << 30;
/// Default [`FileBenchOptions::rounds`].
pub const DEFAULT_ROUNDS: usize = 5;
/// Default [`FileBenchOptions::small_files`].
pub const DEFAULT_SMALL_FILES: usize = 1000;
/// Default [`FileBenchOptions::small_max`]: 64 KiB.
pub const DEFAULT_SMALL_MAX: usize = 64 << 10;
/// Default [`FileBenchOptions::greenlets`].
pub const DEFAULT_GREENLETS: usize = 100;

/// A scratch directory for one run, `mayfly-file-bench-PID` under `base` (default: the
/// system temp directory). [`run_in_scratch`] removes it afterwards.
pub fn scratch_dir(base: Option<&std::path::Path>) -> PathBuf {
    let base = base.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
    base.join(format!("mayfly-file-bench-{}", std::process::id()))
}

/// [`run`] with at least one round, one greenlet and small files of at least one byte,
/// then removes `o.dir` (a [`scratch_dir`]) whether or not the run succeeded.
///
/// # Errors
///
/// As [`run`].
pub fn run_in_scratch(o: &FileBenchOptions, log: &mut dyn FnMut(&str)) -> Result<FileBenchReport> {
    let mut o = o.clone();
    o.rounds = o.rounds.max(1);
    o.small_max = o.small_max.max(1);
    o.greenlets = o.greenlets.max(1);
    let r = run(&o, log);
    let _ = fs::remove_dir_all(&o.dir);
    r
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct FileBenchOptions {
    /// The `mayfly` binary (for `serve file`).
    pub exe: PathBuf,
    /// Scratch directory (the server's root and the local files go under it; removed after).
    pub dir: PathBuf,
    /// Size of the big file.
    pub size: u64,
    /// Timed rounds of the big file, each way.
    pub rounds: usize,
    /// Number of small files.
    pub small_files: usize,
    /// Largest small file (sizes are spread from 1 byte up to it).
    pub small_max: usize,
    /// Greenlets moving the small files at once.
    pub greenlets: usize,
}

/// The results.
#[derive(Debug, Clone, Serialize)]
pub struct FileBenchReport {
    /// Big file size, bytes.
    pub size: u64,
    /// MB/s (10^6 bytes) of each timed upload.
    pub put_mb_s: Vec<f64>,
    /// MB/s of each timed download.
    pub get_mb_s: Vec<f64>,
    /// Median of `put_mb_s`.
    pub put_median_mb_s: f64,
    /// Median of `get_mb_s`.
    pub get_median_mb_s: f64,
    /// Small files moved each way.
    pub small_files: usize,
    /// Greenlets moving them.
    pub greenlets: usize,
    /// Small-file bytes each way.
    pub small_bytes: u64,
    /// Uploads of all small files, per second.
    pub small_put_files_s: f64,
    /// Downloads of all small files, per second.
    pub small_get_files_s: f64,
    /// Server peak resident memory over the whole run, KiB.
    pub server_peak_rss_kib: u64,
}

fn median(v: &[f64]) -> f64 {
    crate::sample::median(v).unwrap_or(0.0)
}

/// Deterministic filler: xorshift, so runs move the same bytes.
fn fill(seed: u64, out: &mut [u8]) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// Runs the benchmark.
///
/// # Errors
///
/// The server could not be started or stopped, a transfer failed or came back different,
/// or the scratch files could not be written.
pub fn run(o: &FileBenchOptions, log: &mut dyn FnMut(&str)) -> Result<FileBenchReport> {
    let root = o.dir.join("root");
    let local = o.dir.join("local");
    fs::create_dir_all(&root)?;
    fs::create_dir_all(&local)?;
    let mut cmd = Command::new(&o.exe);
    cmd.args(ServeFileCommand::new(&root).args())
        .stderr(Stdio::inherit());
    let server = ServerProcess::spawn(cmd)?;
    let result = measure(o, &server, &local, log);
    let peak = mayfly::process::sample(server.pid()).map_or(0, |s| s.peak_rss_kib);
    server.stop()?;
    let _ = fs::remove_dir_all(&root);
    let _ = fs::remove_dir_all(&local);
    let mut r = result?;
    r.server_peak_rss_kib = peak;
    Ok(r)
}

fn measure(
    o: &FileBenchOptions,
    server: &ServerProcess,
    local: &std::path::Path,
    log: &mut dyn FnMut(&str),
) -> Result<FileBenchReport> {
    let big = local.join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(fs::File::create(&big)?);
        let mut buf = vec![0u8; 1 << 20];
        let mut left = o.size;
        let mut seed = 1;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            fill(seed, &mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n as u64;
            seed += 1;
        }
        f.flush()?;
    }
    let mut c = FileClient::connect(server.addr.as_str())?;
    let back = local.join("back.bin");
    let (mut puts, mut gets) = (Vec::new(), Vec::new());
    for round in 0..=o.rounds {
        let up = c.put_file(&big, "big.bin", &PutOptions::default(), &mut |_, _| {})?;
        let down = c.get_file(
            "big.bin",
            &back,
            &GetOptions {
                overwrite: true,
                ..Default::default()
            },
            &mut |_, _| {},
        )?;
        let (p, g) = (
            o.size as f64 / up.seconds / 1e6,
            o.size as f64 / down.seconds / 1e6,
        );
        if round == 0 {
            log(&format!("warm-up: put {p:.0} MB/s, get {g:.0} MB/s"));
        } else {
            log(&format!("round {round}: put {p:.0} MB/s, get {g:.0} MB/s"));
            puts.push(p);
            gets.push(g);
        }
    }
    let _ = fs::remove_file(&back);
    let (small_bytes, put_s, get_s) = small_files(o, &server.addr)?;
    let n = o.small_files as f64;
    log(&format!(
        "{} small files from {} greenlets: put {:.0} files/s, get {:.0} files/s",
        o.small_files,
        o.greenlets,
        n / put_s,
        n / get_s
    ));
    Ok(FileBenchReport {
        size: o.size,
        put_median_mb_s: median(&puts),
        get_median_mb_s: median(&gets),
        put_mb_s: puts,
        get_mb_s: gets,
        small_files: o.small_files,
        greenlets: o.greenlets,
        small_bytes,
        small_put_files_s: n / put_s,
        small_get_files_s: n / get_s,
        server_peak_rss_kib: 0,
    })
}

/// All small files up from `greenlets` greenlets at once, then all down; every hash checked.
/// Returns (bytes each way, upload seconds, download seconds).
fn small_files(o: &FileBenchOptions, addr: &str) -> Result<(u64, f64, f64)> {
    let files: Vec<(String, Vec<u8>)> = (0..o.small_files)
        .map(|i| {
            let len = 1 + (i * 7919) % o.small_max.max(1);
            let mut data = vec![0u8; len];
            fill(1000 + i as u64, &mut data);
            (format!("small-{i:05}.bin"), data)
        })
        .collect();
    let bytes = files.iter().map(|f| f.1.len() as u64).sum();
    let files = std::sync::Arc::new(files);
    let addr: std::net::SocketAddr = addr.parse()?;
    let greenlets = o.greenlets.max(1);
    let phase = |upload: bool| -> Result<f64> {
        let files = files.clone();
        mayfly::run(move || -> Result<f64> {
            let started = Instant::now();
            let workers: Vec<_> = (0..greenlets)
                .map(|g| {
                    let files = files.clone();
                    mayfly::spawn(move || -> Result<()> {
                        let conn = mayfly::net::TcpStream::connect(addr)?;
                        conn.set_nodelay(true)?;
                        let mut c = FileClient::new(conn);
                        for (name, data) in files.iter().skip(g).step_by(greenlets) {
                            let want = mayfly_proto::hex(&Sha256::digest(data));
                            if upload {
                                let req = PutRequest {
                                    sha256: Some(want.clone()),
                                    ..PutRequest::new(name, data.len() as u64)
                                };
                                c.put_stream(&req, &mut &data[..], &mut |_, _| {})?;
                            } else {
                                let mut got = Vec::with_capacity(data.len());
                                let mut h = Sha256::new();
                                let reply =
                                    c.get_stream(name, 0, &mut got, &mut h, &mut |_, _| {})?;
                                let sha = mayfly_proto::hex(&h.finalize());
                                if sha != want || reply.str("sha256")? != want {
                                    return Err(FileBenchError::Mismatch { name: name.clone() });
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for w in workers {
                w.into_result()
                    .map_err(FileBenchError::Greenlet)?
                    .map_err(|e| FileBenchError::SmallFile(Box::new(e)))?;
            }
            Ok(started.elapsed().as_secs_f64())
        })
    };
    let put_s = phase(true)?;
    let get_s = phase(false)?;
    Ok((bytes, put_s, get_s))
}
