//! What a parked connection of a [`StreamServer`] costs in stack memory: exactly one resident
//! page, as for a greenlet spawned by hand (`stack_pages.rs`).
//!
//! Everything the server puts between the greenlet's entry and the user's handler (the slot's
//! bookkeeping, the caught panic, the handler's dispatch) sits on the same stack as the
//! handler's frames: one more frame there (a wrapper closure around the plain handler, as
//! once) made each parked echo connection touch a second page, 4.37 → 8.37 KiB of RSS each.
//! This file holds one test so that its process has no other greenlets whose pooled,
//! deeper-used stacks could be handed out again.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use mayfly::server::StreamServer;

mod stack_mem;

const CONNECTIONS: usize = 50;

#[test]
fn a_stream_server_connection_parked_in_a_read_keeps_one_stack_page_resident() {
    let (tx, rx) = mpsc::channel::<usize>();
    let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _peer| {
        // The echo server's handler: a 1 KiB buffer on the stack (servers' READ_BUF), parked
        // in read.
        let mut buf = [0u8; 1024];
        let _ = tx.send(buf.as_ptr() as usize);
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
        Ok(())
    })
    .unwrap()
    .start();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| std::net::TcpStream::connect(server.local_addr()).unwrap())
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
    assert_eq!(
        server.stop(Duration::from_secs(10)),
        0,
        "a handler was killed"
    );
    assert!(
        pages.iter().all(|&p| p == 1),
        "resident stack pages per parked StreamServer connection: {pages:?}"
    );
}
