//! `mayfly::fs` on real files, directories and FIFOs: every call's result, and the worker
//! running other greenlets while a call waits (a FIFO nobody writes yet stands for a slow disk).

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A fresh directory in the temp directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "mayfly-fs-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn me() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

#[test]
fn the_path_functions_do_what_std_fs_does() {
    let d = TempDir::new("paths");
    let root = d.0.clone();
    mayfly::run(move || {
        use mayfly::fs;
        fs::create_dir(root.join("sub")).unwrap();
        assert_eq!(
            fs::create_dir(root.join("sub")).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::write(root.join("sub/x"), b"12345").unwrap();
        assert_eq!(fs::read(root.join("sub/x")).unwrap(), b"12345");
        assert_eq!(fs::metadata(root.join("sub/x")).unwrap().len(), 5);
        std::os::unix::fs::symlink(root.join("sub/x"), root.join("link")).unwrap();
        assert!(fs::symlink_metadata(root.join("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::metadata(root.join("link")).unwrap().is_file());
        fs::rename(root.join("sub/x"), root.join("sub/y")).unwrap();
        assert_eq!(fs::read_to_string(root.join("sub/y")).unwrap(), "12345");
        let mut names: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .into_iter()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "link", "sub"]);
        fs::write(root.join("bad"), [0xff, 0xfe]).unwrap();
        assert_eq!(
            fs::read_to_string(root.join("bad")).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root.join("bad"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            fs::metadata(root.join("bad")).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_file(root.join("sub/y")).unwrap();
        assert_eq!(
            fs::read(root.join("sub/y")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        fs::remove_dir(root.join("sub")).unwrap();
        fs::remove_dir_all(root.join("a")).unwrap();
        assert!(!root.join("a").exists());
        assert_eq!(
            fs::read_dir(root.join("nope")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

#[test]
fn a_file_reads_writes_seeks_and_syncs_on_the_pool() {
    let d = TempDir::new("file");
    let path = d.0.join("f");
    mayfly::run(move || {
        use mayfly::fs::{File, OpenOptions, MAX_CHUNK};
        let mut f = File::create(&path).unwrap();
        let big: Vec<u8> = (0..3 * MAX_CHUNK + 17).map(|i| (i % 251) as u8).collect();
        f.write_all(&big).unwrap();
        // One write moves at most MAX_CHUNK.
        assert_eq!(f.write(&big).unwrap(), MAX_CHUNK);
        f.sync_all().unwrap();
        f.sync_data().unwrap();
        assert_eq!(f.metadata().unwrap().len(), (big.len() + MAX_CHUNK) as u64);
        f.set_len(big.len() as u64).unwrap();
        let mut r = File::open(&path).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert!(back == big);
        // One read moves at most MAX_CHUNK; seek is the file's position.
        r.seek(SeekFrom::Start(5)).unwrap();
        let mut buf = vec![0u8; 2 * MAX_CHUNK];
        assert_eq!(r.read(&mut buf).unwrap(), MAX_CHUNK);
        assert_eq!(buf[..10], big[5..15]);
        assert_eq!(r.stream_position().unwrap(), 5 + MAX_CHUNK as u64);
        // pread/pwrite leave the position alone.
        let mut four = [0u8; 4];
        assert_eq!(r.read_at(&mut four, 100).unwrap(), 4);
        assert_eq!(four, big[100..104]);
        assert_eq!(f.write_at(b"ABCD", 0).unwrap(), 4);
        assert_eq!(r.read_at(&mut four, 0).unwrap(), 4);
        assert_eq!(&four, b"ABCD");
        assert_eq!(r.stream_position().unwrap(), 5 + MAX_CHUNK as u64);
        // A clone shares the position (a dup).
        let mut c = r.try_clone().unwrap();
        assert_eq!(c.stream_position().unwrap(), 5 + MAX_CHUNK as u64);
        assert_eq!(r.read(&mut []).unwrap(), 0);
        // Options: create_new, mode, custom flags; errors are std's.
        let e = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        std::os::unix::fs::symlink(&path, path.with_extension("ln")).unwrap();
        let e = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path.with_extension("ln"))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        let n = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path.with_extension("new"))
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(n.metadata().unwrap().permissions().mode() & 0o077, 0);
        // The std file for sendfile and friends.
        assert_eq!(n.as_std().metadata().unwrap().len(), 0);
        let _ = c.seek(SeekFrom::End(0)).unwrap();
    });
}

#[test]
fn the_worker_runs_other_greenlets_while_a_call_waits_and_resumes_on_the_worker() {
    // A FIFO's open for reading waits for a writer, and its read for data: the slow disk.
    let d = TempDir::new("fifo");
    let fifo = d.0.join("fifo");
    mkfifo(&fifo);
    let writer_path = fifo.clone();
    mayfly::run(move || {
        let ticks = Arc::new(AtomicU32::new(0));
        let t2 = ticks.clone();
        let _ticker = mayfly::spawn(move || {
            for _ in 0..100 {
                mayfly::sleep(ms(5));
                t2.fetch_add(1, Ordering::Relaxed);
            }
        });
        // The writer comes 300 ms later, from a plain thread, and writes 200 ms after opening.
        std::thread::spawn(move || {
            std::thread::sleep(ms(300));
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            std::thread::sleep(ms(200));
            w.write_all(b"at last").unwrap();
        });
        let worker = mayfly::hub::worker_thread();
        let t = Instant::now();
        let mut f = mayfly::fs::File::open(&fifo).unwrap();
        assert!(t.elapsed() >= ms(250), "open waited for the writer");
        assert_eq!(me(), worker, "resumed on the worker after open");
        let opened = ticks.load(Ordering::Relaxed);
        assert!(
            opened >= 20,
            "the worker ran the ticker only {opened} times"
        );
        let mut buf = [0u8; 16];
        let n = f.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"at last");
        assert_eq!(me(), worker, "resumed on the worker after read");
        let read = ticks.load(Ordering::Relaxed) - opened;
        assert!(
            read >= 15,
            "the ticker ran only {read} times during the read"
        );
    });
}

#[test]
fn a_timeout_stops_the_wait_and_the_call_finishes_on_the_pool() {
    let d = TempDir::new("timeout");
    let fifo = d.0.join("fifo");
    mkfifo(&fifo);
    let p = fifo.clone();
    mayfly::run(move || {
        let t = Instant::now();
        let r = mayfly::with_timeout(ms(200), || mayfly::fs::File::open(&p));
        assert!(r.is_err(), "the Timeout fired");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // The open still waits on its pool thread: a writer lets it finish, and the pool is
        // free again for the next call.
        let w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        drop(w);
        use std::os::unix::fs::FileTypeExt;
        assert!(mayfly::fs::metadata(&p).unwrap().file_type().is_fifo());
    });
}
