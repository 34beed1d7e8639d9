//! What `mayfly compare` starts: an echo build ([`Mode`]) run as one process, or as N worker
//! processes sharing the port (`mayfly serve echo --workers N`, written `coroutine×N`).

use std::fmt;
use std::str::FromStr;

use mayfly_proto::echo::Mode;

/// One server configuration in a comparison.
///
/// ```
/// use mayfly_clients::build::Build;
/// let b: Build = "coroutine×2".parse().unwrap();
/// assert_eq!((b.to_string(), b.workers), ("coroutine×2".to_string(), 2));
/// assert_eq!("coroutinex2".parse::<Build>().unwrap(), b);
/// assert_eq!("epoll".parse::<Build>().unwrap().workers, 1);
/// assert!("coroutine×0".parse::<Build>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Build {
    /// The echo build.
    pub mode: Mode,
    /// Processes serving the port: 1 is the build itself, N > 1 runs it under
    /// `serve --workers N`.
    pub workers: usize,
}

impl Build {
    /// `mode` as one process.
    pub fn single(mode: Mode) -> Build {
        Build { mode, workers: 1 }
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.workers == 1 {
            write!(f, "{}", self.mode)
        } else {
            write!(f, "{}×{}", self.mode, self.workers)
        }
    }
}

impl FromStr for Build {
    type Err = String;

    /// A build name, optionally followed by `×N` (or `xN`, `*N`) for N worker processes.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (name, workers) = match s.find(['×', 'x', '*']) {
            // `x` may only separate the count: no build name contains one (the registry,
            // `mayfly_proto::builds`, tests that).
            Some(i) => {
                let sep = s[i..].chars().next().map_or(1, char::len_utf8);
                let n: usize = s[i + sep..]
                    .parse()
                    .map_err(|_| format!("{s:?}: the count after × must be a number"))?;
                (&s[..i], n)
            }
            None => (s, 1),
        };
        if workers == 0 {
            return Err(format!("{s:?}: at least one worker"));
        }
        Ok(Build {
            mode: name.parse()?,
            workers,
        })
    }
}
