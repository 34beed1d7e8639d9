//! Wake-ups that must not wait for may's next I/O timer: a kill of a greenlet parked in a
//! sleep, a read or a write, and a join after a `connect_timeout` that succeeded, each while an
//! unrelated socket holds a long socket timeout (the timer may's event loop sleeps until).
//!
//! Each case must end within [`PROMPT`]; before the fix (vendor/may/PATCHED.md, "Wake-ups
//! queued while the event loop runs its timers") they took as long as the unrelated timer
//! (60 s) or for ever. The tests hold one lock so they run one at a time: a neighbour test's
//! traffic would wake may's event loop and hide a missing wake-up.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mayfly::net::{TcpListener, TcpStream};
use mayfly::{spawn, Greenlet, GreenletError};

/// How long a wake-up may take here (generous: the machine is loaded). A missing wake-up
/// waits for [`LONG`].
const PROMPT: Duration = Duration::from_secs(3);
/// The unrelated socket's timeout: what may's event loop would sleep until.
const LONG: Duration = Duration::from_secs(60);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A connected loopback pair: (client, accepted side).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// A greenlet reading, under a [`LONG`] socket timeout, from a peer that never writes: its
/// I/O timer is the only one may's event loop has. Returns it and the silent peer.
fn long_timer_reader() -> (Greenlet<std::io::Result<usize>>, TcpStream) {
    let (mut c, s) = pair();
    let g = spawn(move || {
        c.settimeout(Some(LONG));
        c.read(&mut [0u8; 16])
    });
    mayfly::sleep(ms(20));
    assert!(!g.ready(), "the long reader is parked");
    (g, s)
}

/// Kills `victim` (parked by now) and asserts it died within [`PROMPT`].
fn kill_promptly<T: Send + 'static>(victim: &Greenlet<T>, what: &str) {
    let t = Instant::now();
    victim.kill();
    let took = t.elapsed();
    assert!(took < PROMPT, "the kill of a greenlet {what} took {took:?}");
    assert!(matches!(
        victim.exception(),
        Some(GreenletError::Killed { .. })
    ));
}

/// The killer's own last wake-up came from a socket timeout that fired (may's event loop runs
/// it while it handles its timers).
fn wake_by_a_socket_timeout() {
    let (mut c, _s) = pair();
    c.settimeout(Some(ms(30)));
    let e = c.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn a_kill_of_a_sleeper_is_prompt() {
    let _one = serial();
    mayfly::run(|| {
        let (reader, _peer) = long_timer_reader();
        let sleeper = spawn(|| mayfly::sleep(LONG));
        mayfly::sleep(ms(20));
        kill_promptly(&sleeper, "in sleep");
        let sleeper = spawn(|| mayfly::sleep(LONG));
        wake_by_a_socket_timeout();
        kill_promptly(&sleeper, "in sleep, killed after a socket timeout");
        kill_promptly(&reader, "in a read under a socket timeout");
    });
}

#[test]
fn a_kill_of_a_reader_is_prompt() {
    let _one = serial();
    mayfly::run(|| {
        let (reader, _peer) = long_timer_reader();
        let (mut c, _s) = pair();
        let plain = spawn(move || c.read(&mut [0u8; 16]));
        mayfly::sleep(ms(20));
        kill_promptly(&plain, "in a read without a timeout");
        let (mut c, _s) = pair();
        let plain = spawn(move || c.read(&mut [0u8; 16]));
        wake_by_a_socket_timeout();
        kill_promptly(&plain, "in a read, killed after a socket timeout");
        kill_promptly(&reader, "in a read under a socket timeout");
    });
}

/// A greenlet writing to a peer that never reads, until its buffers are full and it parks.
fn stuck_writer(timeout: Option<Duration>) -> (Greenlet<std::io::Result<()>>, TcpStream) {
    let (mut c, s) = pair();
    let g = spawn(move || {
        c.settimeout(timeout);
        let chunk = vec![7u8; 1 << 16];
        loop {
            c.write_all(&chunk)?;
        }
    });
    // Loopback buffers fill in a few MiB; the writer then parks.
    mayfly::sleep(ms(200));
    assert!(!g.ready(), "the writer is parked on a full socket");
    (g, s)
}

#[test]
fn a_kill_of_a_writer_is_prompt() {
    let _one = serial();
    mayfly::run(|| {
        let (reader, _peer) = long_timer_reader();
        let (writer, _silent) = stuck_writer(Some(LONG));
        kill_promptly(&writer, "in a write under a socket timeout");
        let (writer, _silent) = stuck_writer(None);
        kill_promptly(&writer, "in a write without a timeout");
        let (writer, _silent) = stuck_writer(Some(LONG));
        wake_by_a_socket_timeout();
        kill_promptly(&writer, "in a write, killed after a socket timeout");
        kill_promptly(&reader, "in a read under a socket timeout");
    });
}

/// The shape the stress client met: a `connect_timeout` that succeeded (its timer stays in
/// may's timer heap until its time), then a join of greenlets that end after a socket
/// timeout of theirs fired.
#[test]
fn a_join_of_a_greenlet_ended_by_a_socket_timeout_is_prompt() {
    let _one = serial();
    mayfly::run(|| {
        // A std listener: the accepted side is not in may's epoll set, so the greenlet's
        // close of its end wakes nothing there.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        for round in 0..3 {
            let c = TcpStream::connect_timeout(addr, LONG).unwrap();
            // Already in the backlog: this does not block the worker.
            let (_s, _) = l.accept().unwrap();
            let g = spawn(move || {
                let mut c = c;
                c.settimeout(Some(ms(30)));
                c.read(&mut [0u8; 16]).map_err(|e| e.kind())
            });
            let t = Instant::now();
            assert_eq!(g.get(), Ok(Err(std::io::ErrorKind::TimedOut)));
            let took = t.elapsed();
            assert!(took < PROMPT, "round {round}: the join took {took:?}");
        }
    });
}
