//! `StreamServer::bind_unix` (`UnixStreamServer`): gevent's StreamServer over a Unix
//! listener, with the TCP server's cap, stats, timeouts and graceful stop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::net::UnixStream;
use mayfly::server::StreamServer;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sock_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("mayfly-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn echo(mut conn: UnixStream, _: std::os::unix::net::SocketAddr) -> std::io::Result<()> {
    loop {
        let data = conn.recv(1024)?;
        if data.is_empty() {
            return Ok(());
        }
        conn.sendall(&data.to_ascii_uppercase())?;
    }
}

#[test]
fn echo_with_a_connection_cap_and_stats() {
    let path = sock_path("unix-cap");
    let p = path.clone();
    mayfly::run(move || {
        let server = StreamServer::bind_unix(&p, echo)
            .unwrap()
            .max_connections(1)
            .start();
        assert_eq!(server.path(), Some(p.as_path()));
        let mut a = UnixStream::connect(&p).unwrap();
        a.sendall(b"one").unwrap();
        assert_eq!(&a.recv_exact(3).unwrap()[..], b"ONE");
        // The cap holds the second client in the backlog until the first leaves.
        let p2 = p.clone();
        let second = mayfly::spawn(move || {
            let mut b = UnixStream::connect(&p2).unwrap();
            b.sendall(b"two").unwrap();
            b.recv_exact(3).unwrap()
        });
        mayfly::sleep(ms(50));
        assert!(!second.ready(), "served past the cap of 1");
        drop(a);
        assert_eq!(&second.into_result().unwrap()[..], b"TWO");
        assert_eq!(server.stop(Duration::from_secs(1)), 0);
        let st = server.stats();
        assert_eq!(st.accepted, 2);
        assert_eq!((st.bytes_in, st.bytes_out), (6, 6));
        assert!(!server.started());
        // Stopped: the listener is closed.
        assert!(UnixStream::connect(&p).is_err());
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stop_kills_handlers_past_the_grace_and_a_read_timeout_ends_an_idle_one() {
    let path = sock_path("unix-stop");
    let p = path.clone();
    mayfly::run(move || {
        let timed_out = Arc::new(AtomicU32::new(0));
        let t2 = timed_out.clone();
        let server = StreamServer::bind_unix(&p, move |mut conn, _| {
            let r = conn.recv(16);
            if r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
            {
                t2.fetch_add(1, Ordering::Relaxed);
                mayfly::sleep(Duration::from_secs(30)); // then hangs: the stop kills it
            }
            r.map(|_| ())
        })
        .unwrap()
        .read_timeout(Some(ms(30)))
        .start();
        let _idle = UnixStream::connect(&p).unwrap();
        let t = Instant::now();
        while timed_out.load(Ordering::Relaxed) == 0 && t.elapsed() < Duration::from_secs(5) {
            mayfly::sleep(ms(5));
        }
        assert_eq!(timed_out.load(Ordering::Relaxed), 1);
        assert_eq!(server.stop(ms(50)), 1, "the hanging handler is killed");
        assert_eq!(server.stats().killed, 1);
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn killing_serve_forever_stops_the_server() {
    let path = sock_path("unix-forever");
    let p = path.clone();
    mayfly::run(move || {
        let server = StreamServer::bind_unix(&p, echo).unwrap();
        let g = mayfly::spawn(move || server.serve_forever());
        mayfly::sleep(ms(10));
        let mut c = UnixStream::connect(&p).unwrap();
        c.sendall(b"x").unwrap();
        assert_eq!(&c.recv_exact(1).unwrap()[..], b"X");
        g.kill();
        let t = Instant::now();
        while UnixStream::connect(&p).is_ok() && t.elapsed() < Duration::from_secs(5) {
            mayfly::sleep(ms(5));
        }
        assert!(
            UnixStream::connect(&p).is_err(),
            "still accepting after the kill"
        );
    });
    std::fs::remove_file(&path).unwrap();
}
