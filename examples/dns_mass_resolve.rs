//! gevent's `examples/dns_mass_resolve.py`, ported: many name lookups at once from a pool of
//! greenlets, each under a `Timeout`, counted as they finish.
//!
//! gevent's script resolves `10.com` … `999.com` through `gethostbyname` in a `Pool(10)`,
//! each under `gevent.Timeout(2)`, and prints how many finished and how many timed out.
//! Here the names are local ones — `localhost` and every name in `/etc/hosts` — so the run
//! needs no network and each answer can be checked against the hosts file. The lookups run
//! on mayfly's thread pool (the C library's resolver blocks), so the greenlets and the
//! worker stay free.
//!
//! ```sh
//! cargo run --example dns_mass_resolve
//! ```

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly::net::gethostbyname;
use mayfly::pool::Pool;

/// Lookups in all: each local name over and over.
const LOOKUPS: usize = 300;

/// The IPv4 names of the hosts file (`localhost` at least), with their addresses.
fn local_names() -> HashMap<String, Vec<Ipv4Addr>> {
    let mut names: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<Ipv4Addr>) else {
            continue; // blank, a comment, or an IPv6 line
        };
        for name in fields {
            names.entry(name.to_string()).or_default().push(ip);
        }
    }
    names.entry("localhost".into()).or_default();
    names
}

pub fn main() {
    let names = local_names();
    let list: Vec<String> = names.keys().cloned().collect();
    mayfly::run(move || {
        let pool = Pool::new(10);
        let finished = Arc::new(Mutex::new(0usize));
        let answers: Arc<Mutex<Vec<(String, Ipv4Addr)>>> = Arc::default();
        let start = Instant::now();
        for i in 0..LOOKUPS {
            let name = list[i % list.len()].clone();
            let (finished, answers) = (finished.clone(), answers.clone());
            // gevent's `job(url)`: the lookup under a Timeout of 2 seconds.
            pool.spawn(move || {
                match mayfly::with_timeout(Duration::from_secs(2), || gethostbyname(&name)) {
                    Ok(Ok(ip)) => answers.lock().unwrap().push((name, ip)),
                    Ok(Err(e)) => println!("{name} failed with {e}"),
                    Err(timeout) => println!("{name} failed with {timeout}"),
                }
                *finished.lock().unwrap() += 1;
            });
        }
        let done = pool.join(Some(Duration::from_secs(30)));
        let took = start.elapsed();
        let finished = *finished.lock().unwrap();
        let answers = answers.lock().unwrap();
        println!(
            "finished within {took:.2?}: {finished}/{LOOKUPS}, resolved {} ({} names)",
            answers.len(),
            list.len()
        );
        assert!(
            done && finished == LOOKUPS,
            "lookups still running after 30 s"
        );
        assert_eq!(answers.len(), LOOKUPS, "every local name resolves");
        for (name, ip) in answers.iter() {
            let listed = &names[name];
            assert!(
                listed.contains(ip) || (listed.is_empty() && ip.is_loopback()),
                "{name} resolved to {ip}, the hosts file says {listed:?}"
            );
        }
    });
}
