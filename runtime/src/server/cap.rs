//! [`Cap`]: the one convention for every count limit of a server (connections, connections
//! per peer, handlers at once): the owner's default, no limit, or at most N. Every builder
//! method, every `Options` field and every `--max-…` flag that caps a count takes one.
//!
//! On the command line and in [`From<u64>`], `0` means no limit (as every `--max-…` flag
//! here has always said); `none` says the same in words, `default` asks for the default.

use std::fmt;
use std::str::FromStr;

/// A limit on how many of something may be open or running at once.
///
/// ```
/// use mayfly::server::Cap;
///
/// assert_eq!("250".parse::<Cap>().unwrap(), Cap::AtMost(250));
/// assert_eq!("0".parse::<Cap>().unwrap(), Cap::Unlimited);
/// assert_eq!("none".parse::<Cap>().unwrap(), Cap::Unlimited);
/// assert_eq!("default".parse::<Cap>().unwrap(), Cap::Default);
/// assert_eq!(Cap::from(0), Cap::Unlimited);
///
/// // What is in force: the owner says what its default is.
/// assert_eq!(Cap::Default.limit(|| Some(1024)), Some(1024));
/// assert_eq!(Cap::Unlimited.limit(|| Some(1024)), None);
/// assert_eq!(Cap::AtMost(8).limit(|| Some(1024)), Some(8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cap {
    /// Whatever the owner documents as its default (which may itself be no limit).
    #[default]
    Default,
    /// No limit.
    Unlimited,
    /// At most this many (at least 1: `AtMost(0)` reads as [`Cap::Unlimited`]).
    AtMost(u64),
}

impl Cap {
    /// The limit in force: `default()` for [`Cap::Default`], `None` (no limit) for
    /// [`Cap::Unlimited`] and `AtMost(0)`.
    pub fn limit(self, default: impl FnOnce() -> Option<u64>) -> Option<u64> {
        match self {
            Cap::Default => default(),
            Cap::Unlimited | Cap::AtMost(0) => None,
            Cap::AtMost(n) => Some(n),
        }
    }

    /// A limit already worked out (`None`: no limit) as a cap.
    ///
    /// ```
    /// use mayfly::server::Cap;
    /// assert_eq!(Cap::from_limit(Some(3)), Cap::AtMost(3));
    /// assert_eq!(Cap::from_limit(None), Cap::Unlimited);
    /// ```
    pub fn from_limit(limit: Option<u64>) -> Cap {
        limit.map_or(Cap::Unlimited, Cap::from)
    }

    /// The number given explicitly, if any: `None` for [`Cap::Default`] and no limit.
    pub fn explicit(self) -> Option<u64> {
        match self {
            Cap::AtMost(n) if n > 0 => Some(n),
            _ => None,
        }
    }
}

impl From<u64> for Cap {
    /// `0`: no limit; `n`: at most `n`.
    fn from(n: u64) -> Cap {
        if n == 0 {
            Cap::Unlimited
        } else {
            Cap::AtMost(n)
        }
    }
}

impl fmt::Display for Cap {
    /// `default`, `none`, or the number: what [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cap::Default => f.write_str("default"),
            Cap::Unlimited | Cap::AtMost(0) => f.write_str("none"),
            Cap::AtMost(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Cap {
    type Err = String;

    /// A count (`0`: no limit; `10k` is 10,000 and `2M` 2,000,000, as the CLI's other
    /// counts), `none`, or `default`.
    fn from_str(s: &str) -> Result<Cap, String> {
        let bad =
            || format!("{s:?} is not a cap: a count (0: no limit; 10k, 2M), `none` or `default`");
        match s.trim() {
            "default" => Ok(Cap::Default),
            "none" | "unlimited" => Ok(Cap::Unlimited),
            n => {
                let (digits, scale) = match n.strip_suffix(['k', 'K']) {
                    Some(d) => (d, 1_000),
                    None => match n.strip_suffix(['m', 'M']) {
                        Some(d) => (d, 1_000_000),
                        None => (n, 1),
                    },
                };
                digits
                    .parse::<u64>()
                    .ok()
                    .and_then(|d| d.checked_mul(scale))
                    .map(Cap::from)
                    .ok_or_else(bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_back() {
        for cap in [
            Cap::Default,
            Cap::Unlimited,
            Cap::AtMost(1),
            Cap::AtMost(250),
        ] {
            assert_eq!(cap.to_string().parse::<Cap>().unwrap(), cap);
        }
        assert!("-1".parse::<Cap>().is_err());
        assert!("1.5k".parse::<Cap>().is_err());
        assert_eq!("10k".parse::<Cap>(), Ok(Cap::AtMost(10_000)));
        assert_eq!("2M".parse::<Cap>(), Ok(Cap::AtMost(2_000_000)));
        assert!("k".parse::<Cap>().is_err());
        assert!("99999999999999999999M".parse::<Cap>().is_err());
        assert_eq!(Cap::AtMost(0).limit(|| Some(5)), None);
        assert_eq!(Cap::Default.explicit(), None);
        assert_eq!(Cap::AtMost(4).explicit(), Some(4));
    }
}
