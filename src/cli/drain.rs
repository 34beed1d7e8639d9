//! `--check-addr` and `--drain-delay`: a drain that loses no connection behind a load
//! balancer. At the first SIGINT/SIGTERM the check port
//! ([`mayfly_servers::check_port`]) stops listening, so the balancer's health check fails
//! and it sends nothing new here, while the service port keeps accepting for the delay;
//! then the server drains as without it (stops listening, open connections get `--grace`).
//! A second signal cuts the delay short. With `--workers` the supervisor holds the check
//! port and waits out the delay before it signals its workers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mayfly_servers::check_port::{self, CheckPort};
use signal_hook::iterator::Signals;

use super::human::HumanDuration;

/// How often the delay looks for a second signal.
const POLL: Duration = Duration::from_millis(20);

/// The flags of a drain behind a load balancer (the TCP servers).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Shutdown")]
pub struct DrainArgs {
    /// A TCP port for the load balancer's health check: it accepts while this server serves
    /// and stops listening at the first SIGINT/SIGTERM, before the service port does
    /// (HAProxy: `server … check port N`; docs/SCALING.md). Printed as `check on ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub check_addr: Option<String>,
    /// On SIGINT/SIGTERM, close --check-addr first and keep accepting on the service port
    /// for this long, so the balancer marks this host down before it stops listening (set
    /// it above the check's fall × interval); then drain for --grace. A second signal cuts
    /// it short. 0: stop listening at once.
    #[arg(long, default_value_t = HumanDuration(check_port::DEFAULT_DRAIN_DELAY), requires = "check_addr")]
    pub drain_delay: HumanDuration,
}

/// The check port while the server runs, and the drain delay once a signal came.
#[derive(Debug)]
pub struct Drain {
    check: Option<CheckPort>,
    delay: Duration,
    /// The first signal and when it came.
    first: Option<(i32, Instant)>,
}

impl Drain {
    /// Binds `--check-addr`, if given (`None`: a server without these flags, UDP: no check
    /// port, no delay).
    ///
    /// # Errors
    /// The check address has no host, or cannot be bound.
    pub fn start(a: Option<&DrainArgs>) -> Result<Drain> {
        let Some(a) = a else {
            return Ok(Drain {
                check: None,
                delay: Duration::ZERO,
                first: None,
            });
        };
        let check = match &a.check_addr {
            Some(addr) => {
                super::hint::check_addr("--check-addr", addr)?;
                let port = CheckPort::bind(addr)
                    .with_context(|| format!("serving the health check on {addr}"))
                    .map_err(|e| super::hint::start_failure(e, addr))?;
                Some(port)
            }
            None => None,
        };
        Ok(Drain {
            check,
            delay: a.drain_delay.0,
            first: None,
        })
    }

    /// Where the check port listens.
    pub fn check_addr(&self) -> Option<SocketAddr> {
        self.check.as_ref().map(CheckPort::local_addr)
    }

    /// One look: `got` is a signal that came since the last look (or `None`). Returns the
    /// first signal's number once the service should stop listening: at the first signal
    /// without a delay, else when the delay is over or a second signal came.
    pub fn poll(&mut self, got: Option<i32>) -> Option<i32> {
        match (self.first, got) {
            (None, None) => None,
            (None, Some(sig)) => {
                self.first = Some((sig, Instant::now()));
                if let Some(c) = self.check.take() {
                    c.close();
                    if !self.delay.is_zero() {
                        let d = HumanDuration(self.delay);
                        log::info!(signal = sig, delay:% = d; "signal {sig}; health check port closed, still accepting for {d}");
                    }
                }
                self.delay.is_zero().then_some(sig)
            }
            (Some((sig, _)), Some(_)) => Some(sig),
            (Some((sig, at)), None) => (at.elapsed() >= self.delay).then_some(sig),
        }
    }

    /// Waits for the first signal, then for the delay (or a second signal); returns the first
    /// signal's number (0 if the signal stream ended).
    pub fn wait(&mut self, signals: &mut Signals) -> i32 {
        let sig = signals.forever().next().unwrap_or(0);
        if let Some(s) = self.poll(Some(sig)) {
            return s;
        }
        loop {
            std::thread::sleep(POLL);
            if let Some(s) = self.poll(signals.pending().next()) {
                return s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(delay: Duration) -> Drain {
        Drain {
            check: None,
            delay,
            first: None,
        }
    }

    #[test]
    fn without_a_delay_the_first_signal_stops() {
        let mut d = drain(Duration::ZERO);
        assert_eq!(d.poll(None), None);
        assert_eq!(d.poll(Some(15)), Some(15));
    }

    #[test]
    fn with_a_delay_the_stop_waits_for_it_or_a_second_signal() {
        let mut d = drain(Duration::from_millis(200));
        assert_eq!(d.poll(Some(15)), None);
        assert_eq!(d.poll(None), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(d.poll(None), Some(15));

        let mut d = drain(Duration::from_secs(3600));
        assert_eq!(d.poll(Some(15)), None);
        assert_eq!(
            d.poll(Some(2)),
            Some(15),
            "a second signal cuts the delay short"
        );
    }

    #[test]
    fn the_check_port_closes_at_the_first_signal() {
        let mut d = Drain::start(Some(&DrainArgs {
            check_addr: Some("127.0.0.1:0".into()),
            drain_delay: HumanDuration(Duration::from_secs(3600)),
        }))
        .unwrap();
        let addr = d.check_addr().unwrap();
        assert!(std::net::TcpStream::connect(addr).is_ok());
        assert_eq!(d.poll(Some(15)), None);
        assert!(std::net::TcpStream::connect(addr).is_err());
        assert_eq!(d.check_addr(), None);
    }
}
