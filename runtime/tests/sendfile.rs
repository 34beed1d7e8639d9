//! `TcpStream::sendfile` over loopback: a large file whole, offsets and lengths, a peer that
//! goes away mid-transfer (an error, not a hang), the write timeout, the active `Timeout`, a
//! server's swept timeout, a plain OS thread; on both paths (the readiness fast path and the
//! timed path an active `Timeout` or a timer-kept socket timeout takes).

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::net::{ByteCounters, TcpListener, TcpStream};
use mayfly::server::StreamServer;

/// The tests of this file one at a time: they share the one worker, and a test that times
/// the worker's other greenlets must not see another test's transfers.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A file in the temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(tag: &str, data: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "mayfly-sendfile-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        File::create(&path).unwrap().write_all(data).unwrap();
        TempFile(path)
    }

    /// `len` bytes of zeros that take no disk (a sparse file).
    fn sparse(tag: &str, len: u64) -> TempFile {
        let f = TempFile::with(tag, b"");
        File::options()
            .write(true)
            .open(&f.0)
            .unwrap()
            .set_len(len)
            .unwrap();
        f
    }

    fn open(&self) -> File {
        File::open(&self.0).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A connected pair: (the server's side, accepted; the client's side).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    (server, client)
}

/// How a test runs the sending call: on the fast path, or on the timed path (inside a
/// generous `with_timeout`, which takes every call off the fast path).
#[derive(Clone, Copy, Debug)]
enum Path {
    Fast,
    Timed,
}

impl Path {
    fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self {
            Path::Fast => f(),
            Path::Timed => mayfly::with_timeout(Duration::from_secs(60), f).expect("not a hang"),
        }
    }
}

#[test]
fn a_large_file_arrives_whole_and_every_byte_is_counted() {
    let _serial = serial();
    let data = random_bytes(1, 24 << 20);
    let file = TempFile::with("large", &data);
    for path in [Path::Fast, Path::Timed] {
        let mut f = file.open();
        let want = data.clone();
        mayfly::run(move || {
            let (mut server, mut client) = pair();
            let counters = Arc::new(ByteCounters::default());
            server.count_bytes(counters.clone());
            let len = want.len() as u64;
            let sender = mayfly::spawn(move || {
                path.run(|| server.sendfile_all(&f, 0, len)).unwrap();
                (f.stream_position().unwrap(), server)
            });
            // A slow reader: the sender fills the socket's buffer and parks again and again.
            let mut got = Vec::with_capacity(want.len());
            let mut buf = vec![0u8; 64 * 1024];
            while got.len() < want.len() {
                let n = client.read(&mut buf).unwrap();
                assert_ne!(n, 0, "{path:?}: closed after {} bytes", got.len());
                got.extend_from_slice(&buf[..n]);
                if got.len() % (1 << 20) < n {
                    mayfly::sleep(ms(1));
                }
            }
            let (pos, _server) = sender.into_result().unwrap();
            assert!(got == want, "{path:?}: the bytes differ");
            assert_eq!(counters.written(), len, "{path:?}: counted as written");
            assert_eq!(pos, 0, "{path:?}: the file's own position never moves");
        });
    }
}

#[test]
fn offset_and_len_pick_the_bytes_and_the_end_of_the_file_is_reported() {
    let _serial = serial();
    let data = random_bytes(2, 1 << 20);
    let file = TempFile::with("range", &data);
    for path in [Path::Fast, Path::Timed] {
        let f = file.open();
        let want = data.clone();
        mayfly::run(move || {
            let (mut server, mut client) = pair();
            let size = want.len() as u64;
            path.run(|| {
                // Part of a range: some bytes, never more than asked.
                let n = server.sendfile(&f, 1000, 5000).unwrap();
                assert!((1..=5000).contains(&n), "{path:?}: {n}");
                server
                    .sendfile_all(&f, 1000 + n as u64, 5000 - n as u64)
                    .unwrap();
                server.sendfile_all(&f, 123_457, 300_000).unwrap();
                // Nothing to send: len 0, the very end, past the end.
                assert_eq!(server.sendfile(&f, 0, 0).unwrap(), 0);
                assert_eq!(server.sendfile(&f, size, 10).unwrap(), 0);
                assert_eq!(server.sendfile(&f, size + 99, 10).unwrap(), 0);
                // A range the file does not hold: its bytes, then UnexpectedEof.
                let e = server.sendfile_all(&f, size - 10, 20).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{path:?}: {e}");
                let e = server.sendfile(&f, u64::MAX, 1).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{path:?}: {e}");
            });
            drop(server);
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            let mut expected = want[1000..6000].to_vec();
            expected.extend_from_slice(&want[123_457..423_457]);
            expected.extend_from_slice(&want[want.len() - 10..]);
            assert!(got == expected, "{path:?}: {} bytes", got.len());
        });
    }
}

#[test]
fn a_file_sendfile_cannot_read_is_an_error() {
    let _serial = serial();
    let file = TempFile::with("wronly", b"abc");
    let write_only = File::options().write(true).open(&file.0).unwrap();
    mayfly::run(move || {
        let (mut server, _client) = pair();
        let e = server.sendfile(&write_only, 0, 3).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    });
}

#[test]
fn a_peer_that_goes_away_mid_transfer_is_an_error_not_a_hang() {
    let _serial = serial();
    let file = TempFile::sparse("gone", 256 << 20);
    for path in [Path::Fast, Path::Timed] {
        let f = file.open();
        mayfly::run(move || {
            let (mut server, mut client) = pair();
            let sender = mayfly::spawn(move || path.run(|| server.sendfile_all(&f, 0, 256 << 20)));
            // Read a little, then close with the rest unread (a reset).
            let mut buf = vec![0u8; 64 * 1024];
            client.read_exact(&mut buf).unwrap();
            mayfly::sleep(ms(20));
            drop(client);
            let t = Instant::now();
            assert!(sender.join(Some(Duration::from_secs(10))), "{path:?}: hung");
            let e = sender.into_result().unwrap().unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
                "{path:?}: {e}"
            );
            assert!(t.elapsed() < Duration::from_secs(5), "{path:?}");
        });
    }
}

#[test]
fn the_write_timeout_ends_a_transfer_nobody_reads_and_other_greenlets_run_meanwhile() {
    let _serial = serial();
    let file = TempFile::sparse("timeout", 256 << 20);
    let f = file.open();
    mayfly::run(move || {
        let (mut server, _client) = pair();
        server.set_write_timeout(Some(ms(300)));
        let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let t2 = ticks.clone();
        // Stopped by a count, not killed: a kill of a sleeping greenlet can wait for the next
        // of may's I/O timers (another test's socket timeout), which is not what this times.
        let _ticker = mayfly::spawn(move || {
            for _ in 0..50 {
                mayfly::sleep(ms(10));
                t2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let t = Instant::now();
        let e = server.sendfile_all(&f, 0, 256 << 20).unwrap_err();
        let took = t.elapsed();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(took >= ms(290) && took < Duration::from_secs(5), "{took:?}");
        let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            ticks >= 5,
            "the worker ran other greenlets only {ticks} times"
        );
        // The stream stays usable after a timeout, as after a write's.
        server.set_write_timeout(None);
        assert_eq!(server.sendfile(&f, 0, 0).unwrap(), 0);
    });
}

#[test]
fn an_active_timeout_interrupts_a_parked_sendfile() {
    let _serial = serial();
    let file = TempFile::sparse("active", 256 << 20);
    let f = file.open();
    mayfly::run(move || {
        let (mut server, _client) = pair();
        let t = Instant::now();
        let r = mayfly::with_timeout(ms(300), || server.sendfile_all(&f, 0, 256 << 20));
        let took = t.elapsed();
        assert!(r.is_err(), "the Timeout fired: {r:?}");
        assert!(took >= ms(290) && took < Duration::from_secs(5), "{took:?}");
        // An expired Timeout stops a call before it starts.
        let r = mayfly::with_timeout(ms(50), || {
            mayfly::sleep(ms(100));
            server.sendfile(&f, 0, 10)
        });
        assert!(r.is_err());
    });
}

#[test]
fn a_servers_swept_write_timeout_ends_a_sendfile_nobody_reads() {
    let _serial = serial();
    let file = TempFile::sparse("swept", 256 << 20);
    let f = Arc::new(file.open());
    let outcome = Arc::new(mayfly::event::AsyncResult::new());
    let o2 = outcome.clone();
    mayfly::run(move || {
        let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _| {
            let t = Instant::now();
            let r = conn.sendfile_all(&f, 0, 256 << 20);
            o2.set((r.map_err(|e| e.kind()), t.elapsed()));
            Ok(())
        })
        .unwrap()
        .write_timeout(Some(ms(300)))
        .start();
        let _client = TcpStream::connect(server.local_addr()).unwrap();
        let (r, took) = outcome.get(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(r, Err(ErrorKind::TimedOut));
        assert!(took >= ms(290) && took < Duration::from_secs(5), "{took:?}");
        server.stop(ms(100));
    });
}

#[test]
fn a_plain_thread_sends_a_file_blocking_only_itself() {
    let _serial = serial();
    let data = random_bytes(3, 8 << 20);
    let file = TempFile::with("thread", &data);
    let f = file.open();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        got
    });
    // Not in a greenlet: the calls block this thread, like std::net.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30)));
    s.sendfile_all(&f, 0, data.len() as u64).unwrap();
    drop(s);
    assert!(reader.join().unwrap() == data);
}

#[test]
fn a_killed_sender_parked_in_sendfile_unwinds_at_once() {
    let _serial = serial();
    // The fast path only: on the timed path the wait is may's own write, which a kill does
    // not interrupt until its I/O timer fires (may's `SocketWrite` registers no cancel; the
    // same holds for every write under a timer-kept timeout).
    let file = TempFile::sparse("kill", 256 << 20);
    let f = file.open();
    mayfly::run(move || {
        let (mut server, client) = pair();
        let sender = mayfly::spawn(move || server.sendfile_all(&f, 0, 256 << 20));
        mayfly::sleep(ms(100));
        assert!(!sender.ready(), "parked");
        let t = Instant::now();
        sender.kill();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(matches!(
            sender.exception(),
            Some(mayfly::GreenletError::Killed { .. })
        ));
        drop(client);
    });
}
