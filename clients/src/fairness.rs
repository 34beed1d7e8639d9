//! How evenly a load run's round trips were spread over its connections.
//!
//! A server (or a load generator) can post a high request rate by serving a few connections
//! over and over while the rest wait. Requests per second hide that; the spread of requests
//! per connection shows it. [`Fairness::of`] takes one count per established connection and
//! gives the min / median / max, the connections that got no reply at all, and Jain's
//! fairness index.

use serde::{Deserialize, Serialize};

/// The spread of replies over connections in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Fairness {
    /// Fewest replies any connection got.
    pub min: u64,
    /// Median replies per connection.
    pub median: u64,
    /// Most replies any connection got.
    pub max: u64,
    /// Connections that were established but got no reply in the measured window.
    pub unanswered: u64,
    /// Jain's fairness index, (Σx)² / (n·Σx²): 1.0 when every connection got the same number
    /// of replies, 1/n when one connection got them all, 0 when none got any.
    pub jain: f64,
}

impl Fairness {
    /// The fairness of `replies`, one count per established connection.
    ///
    /// ```
    /// use mayfly_clients::fairness::Fairness;
    /// let even = Fairness::of(&[10, 10, 10, 10]);
    /// assert_eq!(even.jain, 1.0);
    /// let starved = Fairness::of(&[40, 0, 0, 0]);
    /// assert_eq!((starved.jain, starved.unanswered, starved.max), (0.25, 3, 40));
    /// ```
    pub fn of(replies: &[u64]) -> Fairness {
        if replies.is_empty() {
            return Fairness::default();
        }
        let mut sorted = replies.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        let sum: f64 = sorted.iter().map(|&x| x as f64).sum();
        let squares: f64 = sorted.iter().map(|&x| (x as f64) * (x as f64)).sum();
        Fairness {
            min: sorted[0],
            median,
            max: sorted[n - 1],
            unanswered: sorted.iter().take_while(|&&x| x == 0).count() as u64,
            jain: if squares > 0.0 {
                sum * sum / (n as f64 * squares)
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index_falls_with_skew_and_counts_the_unanswered() {
        assert_eq!(Fairness::of(&[]), Fairness::default());
        let f = Fairness::of(&[5, 1, 3]);
        assert_eq!((f.min, f.median, f.max, f.unanswered), (1, 3, 5, 0));
        // (9)² / (3 · 35)
        assert!((f.jain - 81.0 / 105.0).abs() < 1e-12);
        let g = Fairness::of(&[0, 0, 8, 2]);
        assert_eq!((g.min, g.median, g.max, g.unanswered), (0, 1, 8, 2));
        assert!((g.jain - 100.0 / (4.0 * 68.0)).abs() < 1e-12);
        assert_eq!(Fairness::of(&[0, 0]).jain, 0.0);
    }
}
