//! The course's UDP chat between several named peers, on loopback: a chat room on
//! `DatagramServer` relays each line to everyone else in the room, and three named peers —
//! greenlets with a UDP socket each — join, talk, and listen. It runs a few rounds and stops
//! by itself.
//!
//! ```sh
//! cargo run --example udp_chat
//! ```
//!
//! What UDP means here, as the course says: each `send_to` arrives as one datagram (a line
//! is never glued to the next), but a datagram may be lost — so each peer listens with a
//! timeout and reports what it heard instead of waiting forever — and there is no
//! connection: the room only knows a peer from the address its datagrams come from, and
//! cannot tell when one goes away (a peer says `/leave`, or is simply never heard from again).
//!
//! The datagrams: `/join NAME` (answered `welcome NAME`), `/leave`, or a line of text, which
//! the room sends to every other member as `[NAME] text`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mayfly::net::UdpSocket;
use mayfly::server::DatagramServer;

const PEERS: [&str; 3] = ["alex", "egon", "wupeiqi"];
const LINES: usize = 3;
/// How long a peer listens for a line before it counts the rest as lost.
const LISTEN: Duration = Duration::from_secs(2);

/// The room: who is here (address → name), shared by the handlers.
type Room = Arc<Mutex<HashMap<SocketAddr, String>>>;

fn open_room() -> std::io::Result<(mayfly::server::RunningDatagramServer, Room)> {
    let room: Room = Arc::default();
    let members = room.clone();
    let server = DatagramServer::bind("127.0.0.1:0", move |data, peer, sock| {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(name) = text.strip_prefix("/join ") {
            members.lock().unwrap().insert(peer, name.to_owned());
            sock.send_to(format!("welcome {name}").as_bytes(), peer)?;
            return Ok(());
        }
        if text == "/leave" {
            members.lock().unwrap().remove(&peer);
            return Ok(());
        }
        // Relay to everyone else; an unknown sender (never joined) is ignored.
        let (from, others): (Option<String>, Vec<SocketAddr>) = {
            let m = members.lock().unwrap();
            (
                m.get(&peer).cloned(),
                m.keys().copied().filter(|a| *a != peer).collect(),
            )
        };
        if let Some(from) = from {
            let line = format!("[{from}] {text}");
            for to in others {
                sock.send_to(line.as_bytes(), to)?;
            }
        }
        Ok(())
    })?
    .start()?;
    Ok((server, room))
}

fn main() -> std::io::Result<()> {
    mayfly::run(|| {
        let (server, room) = open_room()?;
        let addr = server.local_addr();
        println!("chat room on {addr} (UDP)");

        // Everyone joins first, so nobody misses a line sent before they were in the room.
        let joined: Vec<_> = PEERS
            .iter()
            .map(|&name| {
                mayfly::spawn(move || -> std::io::Result<UdpSocket> {
                    let mut sock = UdpSocket::bind("127.0.0.1:0")?;
                    sock.settimeout(Some(LISTEN));
                    sock.send_to(format!("/join {name}").as_bytes(), addr)?;
                    let (welcome, _) = sock.recvfrom(1024)?;
                    println!("{name}: {}", String::from_utf8_lossy(&welcome));
                    Ok(sock)
                })
            })
            .collect();
        let sockets: Vec<UdpSocket> = joined
            .into_iter()
            .map(|g| g.into_result().expect("join greenlet").expect("joined"))
            .collect();
        println!("{} in the room", room.lock().unwrap().len());

        // Then everyone talks and listens at once, one greenlet each.
        let talkers: Vec<_> = PEERS
            .iter()
            .zip(sockets)
            .map(|(&name, sock)| {
                mayfly::spawn(move || {
                    for k in 1..=LINES {
                        let _ = sock.send_to(format!("hello #{k} from {name}").as_bytes(), addr);
                        mayfly::sleep(Duration::from_millis(10));
                    }
                    let expected = (PEERS.len() - 1) * LINES;
                    let mut heard = 0;
                    while heard < expected {
                        match sock.recvfrom(1024) {
                            Ok((line, _)) => {
                                println!("  {name} hears {}", String::from_utf8_lossy(&line));
                                heard += 1;
                            }
                            Err(_) => break, // lost on the way, or never sent: UDP won't say
                        }
                    }
                    let _ = sock.send_to(b"/leave", addr);
                    (name, heard, expected)
                })
            })
            .collect();
        for g in talkers {
            let (name, heard, expected) = g.into_result().expect("talker");
            println!("{name} heard {heard} of {expected} lines");
        }

        // No handshake: the room learns that peers left only because they said so.
        mayfly::sleep(Duration::from_millis(50));
        println!("{} left in the room", room.lock().unwrap().len());
        server.stop(Duration::from_secs(1));
        let s = server.stats();
        println!(
            "room: {} datagrams handled, {} bytes relayed",
            s.accepted, s.bytes_out
        );
        Ok(())
    })
}
