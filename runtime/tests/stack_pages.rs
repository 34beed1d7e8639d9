//! What a parked connection's greenlet costs in stack memory: exactly one resident page.
//!
//! The patched generator (vendor/generator/PATCHED.md) no longer writes a sentinel into the
//! bottom of every stack, which kept the bottom page resident beside the top page the frames
//! use. This file holds one test so that its process has no other greenlets whose pooled,
//! deeper-used stacks could be handed out again.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use mayfly::net::TcpListener;

const CONNECTIONS: usize = 50;
const PAGE: usize = 4096;

/// The mapping of /proc/self/maps that contains `addr`: (start, end).
fn mapping_of(addr: usize) -> (usize, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap();
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            usize::from_str_radix(a, 16).unwrap(),
            usize::from_str_radix(b, 16).unwrap(),
        );
        if (a..b).contains(&addr) {
            return (a, b);
        }
    }
    panic!("no mapping holds {addr:#x}");
}

/// Resident pages of the mapping `start..end`.
fn resident_pages(start: usize, end: usize) -> usize {
    let mut vec = vec![0u8; (end - start) / PAGE];
    // SAFETY: `start` is page-aligned (a mapping's start), the range is one whole mapping of
    // this process, and `vec` has one byte per page of it, which is all mincore writes.
    let r = unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 == 1).count()
}

#[test]
fn a_greenlet_parked_in_a_read_keeps_one_stack_page_resident() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<usize>();
    let acceptor = mayfly::spawn(move || {
        for _ in 0..CONNECTIONS {
            let (mut conn, _) = listener.accept().unwrap();
            let tx = tx.clone();
            mayfly::spawn(move || {
                // The course's handler: a 1 KiB buffer on the stack, parked in recv.
                let mut buf = [0u8; 1024];
                let _ = tx.send(buf.as_ptr() as usize);
                while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
            });
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let stacks: Vec<usize> = (0..CONNECTIONS)
        .map(|_| rx.recv_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200)); // all parked in read
    let pages: Vec<usize> = stacks
        .iter()
        .map(|&a| {
            let (start, end) = mapping_of(a);
            assert!(
                end - start >= 16 * PAGE,
                "not a greenlet stack: {start:#x}-{end:#x}"
            );
            resident_pages(start, end)
        })
        .collect();
    drop(clients);
    acceptor.join(Some(Duration::from_secs(10)));
    assert!(
        pages.iter().all(|&p| p == 1),
        "resident stack pages per parked greenlet: {pages:?}"
    );
}
