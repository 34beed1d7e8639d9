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

mod stack_mem;

const CONNECTIONS: usize = 50;

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
        .map(|&a| stack_mem::stack_pages_at(a))
        .collect();
    drop(clients);
    acceptor.join(Some(Duration::from_secs(10)));
    assert!(
        pages.iter().all(|&p| p == 1),
        "resident stack pages per parked greenlet: {pages:?}"
    );
}
