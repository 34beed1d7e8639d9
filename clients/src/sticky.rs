//! `mayfly demo sticky`: the course's sticky-packet (粘包) lesson, symptom first, over
//! loopback. TCP is a byte stream: it keeps no message boundaries, so two quick sends can
//! arrive as one read, and one read can take part of a message. Then the course's three
//! cures, each run and checked: the length sent as text with a `recv_ready` answer (correct,
//! but one extra round trip per message), a fixed 4-byte length (`struct.pack('i', n)`),
//! and a 4-byte length of a JSON header that says how long the body is (the framed protocol
//! of [`mayfly_proto::frame`]).
//!
//! Each [`Step`] says what the course predicts and what happened. Plain blocking sockets on
//! two threads, as the course writes them in Python.
//!
//! ```
//! let steps = mayfly_clients::sticky::run().unwrap();
//! assert_eq!(steps.len(), 5);
//! assert!(steps.iter().all(|s| s.as_predicted), "{steps:#?}");
//! assert_eq!(steps[0].got, "one recv returned \"helloegg\"");
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mayfly_proto::frame::{self, FrameReader, Header, Limits};

/// Messages cures 2 and 3 send.
pub const MESSAGES: usize = 200;
/// Messages cure 1 sends: each waits for a round trip, and with Nagle's algorithm on (the
/// course's sockets) for the peer's delayed ACK too, about 40 ms on Linux.
pub const READY_MESSAGES: usize = 20;

/// How long the receiving side waits before its first `recv`, so that everything the sender
/// wrote is in the receive buffer: what a busy server looks like, and what makes the symptom
/// show every time instead of now and then.
const SETTLE: Duration = Duration::from_millis(50);

/// One step of the lesson.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    /// What it shows.
    pub title: &'static str,
    /// What the course predicts.
    pub course_says: &'static str,
    /// What happened here.
    pub got: String,
    /// Whether that is what the course predicts.
    pub as_predicted: bool,
}

/// Runs the five steps, each over a new loopback connection.
///
/// # Errors
///
/// A socket call failed (binding 127.0.0.1, connecting, reading or writing).
pub fn run() -> io::Result<Vec<Step>> {
    Ok(vec![
        two_sends_one_recv()?,
        short_recv()?,
        length_then_ready()?,
        fixed_length()?,
        json_header()?,
    ])
}

/// Runs `client` on a thread against a fresh loopback listener, `server` on this thread on
/// the accepted connection; returns what `server` returns.
fn pair<T>(
    client: impl FnOnce(TcpStream) -> io::Result<()> + Send + 'static,
    server: impl FnOnce(TcpStream) -> io::Result<T>,
) -> io::Result<T> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let peer = thread::spawn(move || client(TcpStream::connect(addr)?));
    let (conn, _) = listener.accept()?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let out = server(conn);
    let sent = peer
        .join()
        .map_err(|_| io::Error::other("the sending thread panicked"))?;
    sent?;
    out
}

fn two_sends_one_recv() -> io::Result<Step> {
    let got = pair(
        |mut c| {
            // Nagle on (the default): two small sends in a row.
            c.write_all(b"hello")?;
            c.write_all(b"egg")?;
            thread::sleep(SETTLE * 2);
            Ok(())
        },
        |mut s| {
            thread::sleep(SETTLE);
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        },
    )?;
    Ok(Step {
        title: "two quick sends, one recv",
        course_says:
            "send(\"hello\") then send(\"egg\"): the receiver's recv(1024) gets \"helloegg\"",
        as_predicted: got == "helloegg",
        got: format!("one recv returned {got:?}"),
    })
}

fn short_recv() -> io::Result<Step> {
    let (first, rest) = pair(
        |mut c| {
            c.write_all(b"hello egg")?;
            thread::sleep(SETTLE * 2);
            Ok(())
        },
        |mut s| {
            thread::sleep(SETTLE);
            let mut two = [0u8; 2];
            let n = s.read(&mut two)?;
            let mut buf = [0u8; 1024];
            let m = s.read(&mut buf)?;
            Ok((
                String::from_utf8_lossy(&two[..n]).into_owned(),
                String::from_utf8_lossy(&buf[..m]).into_owned(),
            ))
        },
    )?;
    Ok(Step {
        title: "a short recv takes part of a message",
        course_says: "send(\"hello egg\"), recv(2): \"he\"; the rest waits for the next recv",
        as_predicted: first == "he" && rest == "llo egg",
        got: format!("recv(2) returned {first:?}, the next recv {rest:?}"),
    })
}

/// The message the cures send: different lengths, so a boundary in the wrong place shows.
fn message(i: usize) -> Vec<u8> {
    format!("message {i} {}", "x".repeat(i % 17)).into_bytes()
}

/// Reads `n` messages with `read_one`; returns how many were intact.
fn count_intact(n: usize, mut read_one: impl FnMut() -> io::Result<Vec<u8>>) -> io::Result<usize> {
    let mut intact = 0;
    for i in 0..n {
        if read_one()? == message(i) {
            intact += 1;
        }
    }
    Ok(intact)
}

fn length_then_ready() -> io::Result<Step> {
    let t = Instant::now();
    let intact = pair(
        |mut c| {
            let mut ready = [0u8; 10];
            for i in 0..READY_MESSAGES {
                let m = message(i);
                c.write_all(m.len().to_string().as_bytes())?;
                // Wait for the server's go-ahead: the length cannot stick to the data.
                c.read_exact(&mut ready)?;
                c.write_all(&m)?;
            }
            Ok(())
        },
        |mut s| {
            count_intact(READY_MESSAGES, || {
                let mut buf = [0u8; 32];
                let n = s.read(&mut buf)?;
                let len: usize = std::str::from_utf8(&buf[..n])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| io::Error::other("the length was not a number"))?;
                s.write_all(b"recv_ready")?;
                let mut m = vec![0u8; len];
                s.read_exact(&mut m)?;
                Ok(m)
            })
        },
    )?;
    let each = t.elapsed().as_secs_f64() * 1e3 / READY_MESSAGES as f64;
    // The data, then at once the next length: two small writes with no read between, so
    // Nagle's algorithm holds the length until the data is ACKed, and the peer, which has
    // nothing to send, delays its ACK.
    let nagle = if each > 10.0 {
        " (Nagle's algorithm waiting for the peer's delayed ACK each time)"
    } else {
        ""
    };
    Ok(Step {
        title: "cure 1: the length as text, wait for recv_ready, then the data",
        course_says: "every message arrives whole, but each costs one more round trip",
        as_predicted: intact == READY_MESSAGES,
        got: format!(
            "{intact} of {READY_MESSAGES} messages whole, {READY_MESSAGES} waits for recv_ready, {each:.2} ms a message{nagle}"
        ),
    })
}

fn fixed_length() -> io::Result<Step> {
    let t = Instant::now();
    let intact = pair(
        |mut c| {
            let mut out = Vec::new();
            for i in 0..MESSAGES {
                let m = message(i);
                // Python's struct.pack('i', len(m)) on a little-endian host.
                out.extend_from_slice(&(m.len() as i32).to_le_bytes());
                out.extend_from_slice(&m);
            }
            c.write_all(&out) // all at once: they stick, and the lengths cut them apart
        },
        |mut s| {
            count_intact(MESSAGES, || {
                let mut len = [0u8; 4];
                s.read_exact(&mut len)?;
                let len = i32::from_le_bytes(len);
                let len = usize::try_from(len).map_err(|_| io::Error::other("negative length"))?;
                let mut m = vec![0u8; len];
                s.read_exact(&mut m)?;
                Ok(m)
            })
        },
    )?;
    let each = t.elapsed().as_secs_f64() * 1e3 / MESSAGES as f64;
    Ok(Step {
        title: "cure 2: a 4-byte length before each message (struct.pack('i'))",
        course_says: "every message arrives whole, sent back to back, no extra round trip",
        as_predicted: intact == MESSAGES,
        got: format!(
            "{intact} of {MESSAGES} messages whole, sent in one write, 0 waits, {each:.3} ms a message"
        ),
    })
}

fn json_header() -> io::Result<Step> {
    let (intact, names) = pair(
        |mut c| {
            let mut out = Vec::new();
            for i in 0..MESSAGES {
                let m = message(i);
                let h = Header::new()
                    .with("filename", format!("m{i}.txt"))
                    .with("total_size", m.len());
                frame::write_frame(&mut out, &h, &m)?;
            }
            c.write_all(&out)
        },
        |s| {
            let mut r = FrameReader::new(s, Limits::default(), frame::total_size);
            let mut names = 0;
            let intact = count_intact(MESSAGES, || {
                let (h, _) = r
                    .read_header()?
                    .ok_or_else(|| io::Error::other("the sender closed early"))?;
                if h.get("filename").and_then(|v| v.as_str()).is_some() {
                    names += 1;
                }
                r.read_body_to_vec()
            })?;
            Ok((intact, names))
        },
    )?;
    Ok(Step {
        title: "cure 3: a 4-byte length of a JSON header, the header, then the body",
        course_says: "every message arrives whole, and the header can say more than the length (a file name, a hash)",
        as_predicted: intact == MESSAGES && names == MESSAGES,
        got: format!("{intact} of {MESSAGES} messages whole, {names} headers with a file name"),
    })
}
