//! Names are resolved on the thread pool, numeric addresses on the spot. (Own test binary:
//! it checks that the shared thread pool is not started by numeric connects; nothing else in
//! this file may use the pool.)

use std::time::Duration;

use mayfly::net::{ConnectAddr, TcpListener, TcpStream};

/// OS threads of this process named `mayfly-pool-*` (the shared thread pool's).
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("mayfly-pool"))
        .count()
}

#[test]
fn numeric_addresses_skip_the_pool_and_names_use_it() {
    mayfly::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let accepter = mayfly::spawn(move || {
            for _ in 0..5 {
                let _ = listener.accept().unwrap();
            }
        });
        // The numeric forms: connected without any lookup, so the pool never starts.
        TcpStream::connect(addr).unwrap();
        TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(
            pool_threads(),
            0,
            "a numeric address must not need the thread pool"
        );
        // A name: resolved on the pool (which starts now), then connected over loopback.
        TcpStream::connect(format!("localhost:{port}")).unwrap();
        TcpStream::connect(("localhost", port)).unwrap();
        assert!(pool_threads() > 0, "a name is resolved on the thread pool");
        // A lookup that cannot succeed (no port) is an error, not a hang.
        assert!(TcpStream::connect("no port here").is_err());
        // The active Timeout bounds the lookup: with every pool thread busy for 500 ms, a
        // lookup queued behind them is abandoned when the 20 ms Timeout fires.
        let busy: Vec<_> = (0..mayfly::threadpool::DEFAULT_THREADS)
            .map(|_| mayfly::threadpool::spawn(|| std::thread::sleep(Duration::from_millis(500))))
            .collect();
        let r = mayfly::with_timeout(Duration::from_millis(20), || {
            TcpStream::connect(format!("localhost:{port}"))
        });
        assert!(
            r.is_err(),
            "the Timeout interrupts a lookup that waits for the pool"
        );
        for b in busy {
            b.take(None).unwrap();
        }
        assert!(accepter.join(Duration::from_secs(5)));
        assert!(accepter.successful());
    });
}

#[test]
fn numeric_forms_parse_and_names_do_not() {
    assert!("127.0.0.1:80".numeric().is_some());
    assert!("[::1]:80".numeric().is_some());
    assert!(("::1", 80).numeric().is_some());
    assert!("localhost:80".numeric().is_none());
    assert_eq!(("example.invalid", 80).to_lookup(), "example.invalid:80");
}
