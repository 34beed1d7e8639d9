//! How much greenlet stack the calls users make inside a greenlet take, measured by may
//! itself: a coroutine whose stack size is an odd number of words has its high-water mark
//! printed by may when it ends ("used size", in words). Each workload runs in its own
//! greenlet with a 1 MiB stack (plus one word, to make the size odd), so none overflows;
//! the table in docs/BENCHMARKS.md ("Stack depth") comes from this, in debug and release:
//!
//!   cargo run --example stack_depth            # debug build (the user's crate in debug)
//!   cargo run --release --example stack_depth  # release build
//!
//! may prints one line per greenlet on stdout, as `coroutine name = Some("WORKLOAD"), stack
//! size = 131073,  used size = N`: N × 8 bytes is what the workload needed.

use std::io::{Read, Write};
use std::time::Duration;

/// 1 MiB plus one word: an odd number of words turns on may's report.
const PROBE_STACK: usize = 1024 * 1024 + std::mem::size_of::<usize>();

fn probe(name: &str, work: impl FnOnce() + Send + 'static) {
    let g = mayfly::Builder::new()
        .name(name)
        .stack_size(PROBE_STACK)
        .spawn(work)
        .expect("spawn");
    g.join(None);
    // may prints when it recycles the coroutine, after the join returns.
    mayfly::sleep(Duration::from_millis(20));
}

fn main() {
    println!("greenlet stack high-water marks (may reports words of 8 bytes):");
    mayfly::run(|| {
        probe("baseline: an empty greenlet", || {});
        probe("format!: 100 lines with floats", || {
            let mut s = String::new();
            for i in 0..100 {
                s += &format!("{i:>5} {:>12.4} {:?}\n", i as f64 / 7.0, (i, "x"));
            }
            std::hint::black_box(s);
        });
        probe("serde_json: parse and print a nested document", || {
            let text = serde_json::json!({
                "builds": (0..50).map(|i| serde_json::json!({
                    "name": format!("b{i}"), "rounds": [1.0, 2.5, i], "nested": {"a": {"b": {"c": [i]}}}
                })).collect::<Vec<_>>()
            })
            .to_string();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            std::hint::black_box(serde_json::to_string_pretty(&v).unwrap());
        });
        probe("std::fs: write, read, metadata, read_dir", || {
            let dir = std::env::temp_dir().join(format!("mayfly-stack-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let f = dir.join("a.txt");
            std::fs::File::create(&f)
                .unwrap()
                .write_all(&[b'x'; 4096])
                .unwrap();
            let mut buf = Vec::new();
            std::fs::File::open(&f)
                .unwrap()
                .read_to_end(&mut buf)
                .unwrap();
            std::hint::black_box(std::fs::metadata(&f).unwrap().len());
            std::hint::black_box(std::fs::read_dir(&dir).unwrap().count());
            std::fs::remove_dir_all(&dir).unwrap();
        });
        probe("TcpStream: connect by name, write, read (loopback)", || {
            let l = mayfly::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let server = mayfly::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut b = [0u8; 5];
                s.read_exact(&mut b).unwrap();
                s.write_all(&b).unwrap();
            });
            let mut c = mayfly::net::TcpStream::connect(("localhost", port)).unwrap();
            c.write_all(b"hello").unwrap();
            let mut b = [0u8; 5];
            c.read_exact(&mut b).unwrap();
            server.join(None);
        });
        probe(
            "getaddrinfo (on the thread pool: the greenlet only waits)",
            || {
                let hints = mayfly::net::lookup::Hints::default();
                std::hint::black_box(
                    mayfly::net::getaddrinfo(Some("localhost"), Some("http"), hints).unwrap(),
                );
            },
        );
        probe(
            "regex: compile a URL pattern, rewrite the links of a page (webproxy)",
            || {
                let re = regex::Regex::new(
                    r#"(?i)(?P<attr>href|src|action)\s*=\s*["']?(?P<url>https?://[^"' >]+)"#,
                )
                .unwrap();
                let page: String = (0..200)
                    .map(|i| format!("<a href=\"http://example.com/p{i}?q=1\">{i}</a> <img src='https://x.org/{i}.png'>\n"))
                    .collect();
                let out = re.replace_all(&page, "$attr=\"/proxy/$url\"");
                std::hint::black_box(out.len());
            },
        );
        probe("a panic caught with its backtrace off", || {
            let r = std::panic::catch_unwind(|| panic!("caught"));
            std::hint::black_box(r.is_err());
        });
    });
}
