//! `mayfly::stack::release_unused` and the server's idle stack release: a greenlet that went
//! deep once gives the dead pages back and still runs correctly (the soundness argument in
//! `runtime/src/stack.rs`), a usage-tracked stack is left alone, and a `StreamServer`
//! connection parked past its idle time keeps only the pages its parked frames use.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use mayfly::server::StreamServer;

mod stack_mem;

/// Recurses `n` frames of 4 KiB each, writing every byte, and returns a checksum that depends
/// on every frame's contents (so a page zeroed while live would change it).
#[inline(never)]
fn deep(n: usize) -> u64 {
    let mut buf = [0u8; 4096];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(n as u8);
    }
    let buf = std::hint::black_box(buf);
    let below = if n == 0 { 0 } else { deep(n - 1) };
    let here: u64 = buf.iter().map(|&b| u64::from(b)).sum();
    below.wrapping_mul(7).wrapping_add(here)
}

#[test]
fn a_greenlet_that_went_deep_gives_the_dead_pages_back_and_goes_deep_again() {
    let (pages_deep, pages_released, released, again, first) = mayfly::run(|| {
        let here = 0u8;
        let at = std::hint::black_box(&here) as *const u8 as usize;
        let first = deep(12); // 48 KiB of frames
        let pages_deep = stack_mem::stack_pages_at(at);
        let released = mayfly::stack::release_unused();
        let pages_released = stack_mem::stack_pages_at(at);
        let again = deep(12);
        (pages_deep, pages_released, released, again, first)
    });
    assert!(pages_deep >= 12, "the recursion left {pages_deep} pages");
    assert!(released >= 48 * 1024, "released only {released} bytes");
    assert!(
        pages_released <= 2,
        "{pages_released} pages resident after the release (from {pages_deep})"
    );
    assert_eq!(
        again, first,
        "the stack's contents changed under a live frame"
    );
}

#[test]
fn nothing_is_released_off_a_greenlet_or_on_a_usage_tracked_stack() {
    assert_eq!(mayfly::stack::release_unused(), 0);
    // An odd number of words asks generator to track the stack's usage with a sentinel in
    // every unused word: releasing them would read as an overflow when the greenlet ends
    // (may stops the process). The greenlet must end normally instead.
    let r = mayfly::run(|| {
        mayfly::Builder::new()
            .stack_size(8 * (2 * 8192 + 1))
            .spawn(|| {
                deep(4);
                mayfly::stack::release_unused()
            })
            .unwrap()
            .get()
            .unwrap()
    });
    assert_eq!(r, 0);
}

/// A server whose handler goes 40 KiB deep, reports an address on its stack, then echoes.
fn deep_server(
    release: Option<Duration>,
) -> (mayfly::server::RunningServer, mpsc::Receiver<usize>) {
    let (tx, rx) = mpsc::channel::<usize>();
    let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _peer| {
        let mut buf = [0u8; 64];
        std::hint::black_box(deep(10));
        let _ = tx.send(buf.as_ptr() as usize);
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            conn.write_all(&buf[..n])?;
        }
    })
    .unwrap()
    // The release rides on the timeout sweep: a 2 s timeout sweeps every 250 ms.
    .read_timeout(Some(Duration::from_secs(2)))
    .release_idle_stack(release)
    .start();
    (server, rx)
}

fn resident_after_idle(release: Option<Duration>) -> Vec<usize> {
    let (server, rx) = deep_server(release);
    let mut clients: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    let stacks: Vec<usize> = (0..clients.len())
        .map(|_| rx.recv_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(800)); // parked past the idle time, and a tick
    let pages = stacks
        .iter()
        .map(|&a| stack_mem::stack_pages_at(a))
        .collect();
    // Still serving: the released pages come back as the frames touch them.
    for c in &mut clients {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
    }
    drop(clients);
    assert_eq!(
        server.stop(Duration::from_secs(10)),
        0,
        "a handler was killed"
    );
    pages
}

#[test]
fn a_server_connection_parked_past_its_idle_time_keeps_only_its_parked_frames_pages() {
    let released = resident_after_idle(Some(Duration::from_millis(100)));
    let kept = resident_after_idle(None);
    assert!(
        kept.iter().all(|&p| p >= 10),
        "without the release the deep pages should stay: {kept:?}"
    );
    assert!(
        released.iter().all(|&p| p <= 2),
        "resident stack pages after the idle release: {released:?} (without it: {kept:?})"
    );
}
