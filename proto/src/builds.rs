//! The build registry: every server build in one table ([`BUILDS`]) — its name, what it
//! serves, whether it is a reference build or one of `compare`'s defaults, how many threads
//! do its work, and its words in help text. [`Mode`] is generated from the same table, and
//! everything said about a build derives from it: [`Mode::ALL`], [`Mode::REFERENCE`],
//! [`Mode::name`], parsing and its error, [`Mode::every`], the `--mode` and `--builds` help,
//! the test loops. A new build is one entry here, plus its module in `servers/src/echo/` (or
//! `servers/src/plaintext/` for HTTP) and its arm in that module's `start`
//! (docs/ARCHITECTURE.md, "Where to add…").
//!
//! A build's name is unique among the builds that serve the same thing ([`Serves`]), not in
//! the whole table: `mayfly serve echo --mode coroutine` and `mayfly serve http --mode
//! coroutine` name two builds ([`Mode::Coroutine`], [`Mode::HttpCoroutine`]), each looked up
//! by [`Serves::parse`]. [`Mode`]'s own `FromStr`, [`Mode::ALL`] and [`Mode::REFERENCE`] are
//! the echo builds' (what `serve echo --mode`, `compare --builds` and compare's defaults
//! have always meant).
//!
//! ```
//! use mayfly_proto::builds::{Mode, Serves, WorkThreads};
//! assert_eq!("epoll".parse::<Mode>().unwrap(), Mode::Epoll);
//! assert_eq!(Mode::Threads.info().work_threads, WorkThreads::PerConnection);
//! assert_eq!(Serves::Echo.builds().count(), 10);
//! let production = |m: &Mode| !m.info().reference && !m.info().lesson;
//! let course: Vec<Mode> = Serves::Echo.builds().filter(production).collect();
//! assert_eq!(course, [Mode::Coroutine, Mode::Threads, Mode::Epoll]);
//! assert_eq!(Mode::LESSONS.len(), 5);
//! assert_eq!(Serves::Http.parse("coroutine"), Ok(Mode::HttpCoroutine));
//! assert_eq!(Mode::HttpTokio.name(), "tokio");
//! assert_eq!(Serves::Http.builds().count(), 3);
//! ```

use std::fmt;
use std::str::FromStr;

/// What a build serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serves {
    /// The uppercase echo protocol ([`crate::echo`]), started by `mayfly serve echo --mode`.
    Echo,
    /// TechEmpower's plaintext and JSON tests over HTTP/1.1 (`GET /plaintext`, `GET /json`),
    /// started by `mayfly serve http --mode`.
    Http,
}

impl Serves {
    /// Every kind, in the registry's order.
    pub const ALL: [Serves; 2] = [Serves::Echo, Serves::Http];

    /// Its name on the command line (`serve echo`, `stress --proto http`).
    pub const fn name(self) -> &'static str {
        match self {
            Serves::Echo => "echo",
            Serves::Http => "http",
        }
    }

    /// The build of this kind named `name`; the error names every build of this kind.
    ///
    /// # Errors
    /// No build of this kind has that name.
    pub fn parse(self, name: &str) -> Result<Mode, String> {
        self.builds().find(|m| m.name() == name).ok_or_else(|| {
            let names: Vec<&str> = self.builds().map(Mode::name).collect();
            format!(
                "unknown build {name:?}: expected {}",
                spoken_list(&names, "or")
            )
        })
    }

    /// Every build that serves this, in report order: what a test of this server loops over.
    pub fn builds(self) -> impl Iterator<Item = Mode> + Clone {
        Mode::every().filter(move |m| m.info().serves == self)
    }
}

/// How many threads do a build's work in one process: what `compare` counts as the most
/// server CPU a build can use before the server, not the client, is the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkThreads {
    /// One thread (a worker, an event loop, a runtime's thread), however many connections:
    /// one CPU per process.
    One,
    /// One OS thread per connection: every CPU the server may use.
    PerConnection,
}

/// One build's row in [`BUILDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The build.
    pub mode: Mode,
    /// Its name on the command line (`--mode`, `--builds`) and in reports, unique among the
    /// builds with the same [`serves`](BuildInfo::serves). No name contains `x`, `×` or `*`:
    /// they separate a worker count (`coroutine×2`).
    pub name: &'static str,
    /// What it serves.
    pub serves: Serves,
    /// A reference build: what a Rust user would pick instead (tokio, raw may). It stays as
    /// such a user would write it: no default connection cap, no per-peer cap.
    pub reference: bool,
    /// A build of the course's IO-models chapter (blocking, non-blocking, `select`, raw
    /// epoll level- and edge-triggered), written as the course writes it with the model's
    /// cost left in (one client at a time, a busy loop, `FD_SETSIZE`): `compare --course`
    /// measures them; tests of production behaviour (floods, `--workers`, hundreds of
    /// concurrent clients) leave them out.
    pub lesson: bool,
    /// One of the course's builds that `mayfly compare` runs by default.
    pub compare_default: bool,
    /// How many threads do its work.
    pub work_threads: WorkThreads,
    /// A few words for help text: `coroutine (greenlets, one thread)`.
    pub about: &'static str,
}

/// Generates [`Mode`] (one variant per row, with the row's doc comment) and [`BUILDS`] (the
/// rows, in the variants' order) from one table.
macro_rules! builds {
    ($($(#[$doc:meta])* $variant:ident { $($field:ident: $value:expr),+ $(,)? })+) => {
        /// Which server build: one variant per row of [`BUILDS`], generated from it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Mode {
            $($(#[$doc])* $variant,)+
        }

        /// Every build, in report order; [`Mode::info`] is a build's row.
        pub const BUILDS: &[BuildInfo] = &[
            $(BuildInfo { mode: Mode::$variant, $($field: $value),+ },)+
        ];
    };
}

builds! {
    /// mayfly greenlets on one worker thread.
    Coroutine {
        name: "coroutine",
        serves: Serves::Echo,
        reference: false,
        lesson: false,
        compare_default: true,
        work_threads: WorkThreads::One,
        about: "greenlets, one thread",
    }
    /// One OS thread per connection.
    Threads {
        name: "threads",
        serves: Serves::Echo,
        reference: false,
        lesson: false,
        compare_default: true,
        work_threads: WorkThreads::PerConnection,
        about: "one per connection",
    }
    /// One thread running a mio (epoll) event loop.
    Epoll {
        name: "epoll",
        serves: Serves::Echo,
        reference: false,
        lesson: false,
        compare_default: true,
        work_threads: WorkThreads::One,
        about: "mio loop",
    }
    /// Reference: tokio's current-thread runtime, one task per connection.
    Tokio {
        name: "tokio",
        serves: Serves::Echo,
        reference: true,
        lesson: false,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "current-thread runtime",
    }
    /// Reference: raw may coroutines on one worker, without mayfly's layer.
    May {
        name: "may",
        serves: Serves::Echo,
        reference: true,
        lesson: false,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "raw may, one worker",
    }
    /// The course's blocking IO: one client at a time — accept, serve it until it closes,
    /// then the next (the others wait in the backlog).
    Blocking {
        name: "blocking",
        serves: Serves::Echo,
        reference: false,
        lesson: true,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "one client at a time",
    }
    /// The course's non-blocking IO: `O_NONBLOCK` sockets polled in a busy loop, `EAGAIN`
    /// (Python's `BlockingIOError`) skipped — a core burnt even with no client.
    Nonblocking {
        name: "nonblocking",
        serves: Serves::Echo,
        reference: false,
        lesson: true,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "busy loop over O_NONBLOCK sockets",
    }
    /// The course's `select` with read and write lists; fds past `FD_SETSIZE` (1024) are
    /// refused.
    Select {
        name: "select",
        serves: Serves::Echo,
        reference: false,
        lesson: true,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "select(2), at most FD_SETSIZE fds",
    }
    /// The course's `epoll`, level-triggered: raw `epoll_ctl` register/modify/unregister, one
    /// read per event.
    EpollLt {
        name: "epoll-lt",
        serves: Serves::Echo,
        reference: false,
        lesson: true,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "raw epoll, level-triggered",
    }
    /// The course's `epoll`, edge-triggered: `EPOLLIN|EPOLLET`, read until `EAGAIN`.
    EpollEt {
        name: "epoll-et",
        serves: Serves::Echo,
        reference: false,
        lesson: true,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "raw epoll, edge-triggered",
    }
    /// HTTP: mayfly-http, greenlets on one worker thread (may_minihttp's loop).
    HttpCoroutine {
        name: "coroutine",
        serves: Serves::Http,
        reference: false,
        lesson: false,
        compare_default: true,
        work_threads: WorkThreads::One,
        about: "mayfly-http, greenlets, one thread",
    }
    /// HTTP: one OS thread per connection on `std::net`, the same parser (Python's
    /// `ThreadingHTTPServer`).
    HttpThreads {
        name: "threads",
        serves: Serves::Http,
        reference: false,
        lesson: false,
        compare_default: true,
        work_threads: WorkThreads::PerConnection,
        about: "one per connection, the same parser",
    }
    /// HTTP reference: hyper 1.x on tokio's current-thread runtime.
    HttpTokio {
        name: "tokio",
        serves: Serves::Http,
        reference: true,
        lesson: false,
        compare_default: false,
        work_threads: WorkThreads::One,
        about: "hyper, current-thread runtime",
    }
}

impl Mode {
    /// The course's echo builds that `mayfly compare` runs by default, in report order (the
    /// echo rows with [`BuildInfo::compare_default`]).
    pub const ALL: [Mode; Pick::CompareDefault.count()] = Pick::CompareDefault.modes();
    /// The echo reference builds a Rust user would pick instead (the echo rows with
    /// [`BuildInfo::reference`]).
    pub const REFERENCE: [Mode; Pick::Reference.count()] = Pick::Reference.modes();
    /// The IO-models chapter's echo builds (the echo rows with [`BuildInfo::lesson`]), in
    /// the chapter's order: blocking, non-blocking, `select`, epoll level- and
    /// edge-triggered.
    pub const LESSONS: [Mode; Pick::Lesson.count()] = Pick::Lesson.modes();

    /// Every build, in report order. Loops over builds use this (filtered by a property of
    /// [`info`](Mode::info) for a subset), so a new build is never left out silently.
    pub fn every() -> impl Iterator<Item = Mode> + Clone {
        BUILDS.iter().map(|b| b.mode)
    }

    /// The build's row in [`BUILDS`].
    pub const fn info(self) -> &'static BuildInfo {
        // The macro emits the rows in the variants' order.
        &BUILDS[self as usize]
    }

    /// The build's name on the command line.
    pub const fn name(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    /// An echo build by its name ([`Serves::Echo`]`.parse`); the error names every echo
    /// build. Other kinds' builds are parsed by their [`Serves::parse`].
    fn from_str(s: &str) -> Result<Self, String> {
        Serves::Echo.parse(s)
    }
}

/// `items` as a sentence writes a list: `a`, `a or b`, `a, b or c` (with `conj` "or"), as
/// build lists appear in errors and help text.
///
/// ```
/// use mayfly_proto::builds::spoken_list;
/// assert_eq!(spoken_list(&["tokio", "may"], "and"), "tokio and may");
/// assert_eq!(spoken_list(&["a", "b", "c"], "or"), "a, b or c");
/// ```
pub fn spoken_list<S: AsRef<str>>(items: &[S], conj: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} {conj} {}", init.join(", "), last.as_ref())
        }
    }
}

/// Which rows a derived constant ([`Mode::ALL`], [`Mode::REFERENCE`]) takes (echo rows
/// only); evaluated at compile time.
#[derive(Clone, Copy)]
enum Pick {
    CompareDefault,
    Reference,
    Lesson,
}

impl Pick {
    const fn takes(self, b: &BuildInfo) -> bool {
        if !matches!(b.serves, Serves::Echo) {
            return false;
        }
        match self {
            Pick::CompareDefault => b.compare_default,
            Pick::Reference => b.reference,
            Pick::Lesson => b.lesson,
        }
    }

    /// How many rows it takes.
    const fn count(self) -> usize {
        let (mut i, mut n) = (0, 0);
        while i < BUILDS.len() {
            if self.takes(&BUILDS[i]) {
                n += 1;
            }
            i += 1;
        }
        n
    }

    /// The builds of the rows it takes, in table order; `N` is [`count`](Pick::count).
    const fn modes<const N: usize>(self) -> [Mode; N] {
        let mut out = [BUILDS[0].mode; N];
        let (mut i, mut n) = (0, 0);
        while i < BUILDS.len() {
            if self.takes(&BUILDS[i]) {
                out[n] = BUILDS[i].mode;
                n += 1;
            }
            i += 1;
        }
        assert!(n == N, "N must be the count of rows taken");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_belongs_to_its_variant_and_parses_back_from_its_name() {
        for (i, b) in BUILDS.iter().enumerate() {
            assert_eq!(b.mode as usize, i);
            assert_eq!(b.mode.info(), b);
            assert_eq!(b.serves.parse(b.name), Ok(b.mode));
            if b.serves == Serves::Echo {
                assert_eq!(b.name.parse::<Mode>(), Ok(b.mode));
            }
            assert_eq!(b.mode.to_string(), b.name);
            // `Build` parses `coroutine×2`: a name must not contain a count separator.
            assert!(!b.name.contains(['x', '×', '*']), "{}", b.name);
            assert!(!b.about.is_empty(), "{}", b.name);
        }
    }

    #[test]
    fn the_derived_lists_are_the_table_filtered() {
        assert_eq!(Mode::ALL, [Mode::Coroutine, Mode::Threads, Mode::Epoll]);
        assert_eq!(Mode::REFERENCE, [Mode::Tokio, Mode::May]);
        assert_eq!(
            Mode::LESSONS,
            [
                Mode::Blocking,
                Mode::Nonblocking,
                Mode::Select,
                Mode::EpollLt,
                Mode::EpollEt
            ]
        );
        let every: Vec<Mode> = Mode::every().collect();
        assert_eq!(every.len(), BUILDS.len());
        for m in Serves::Echo.builds() {
            assert_eq!(Mode::ALL.contains(&m), m.info().compare_default, "{m}: ALL");
            assert_eq!(
                Mode::REFERENCE.contains(&m),
                m.info().reference,
                "{m}: REFERENCE"
            );
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_every_build_named() {
        assert_eq!(
            "fibers".parse::<Mode>(),
            Err(
                "unknown build \"fibers\": expected coroutine, threads, epoll, tokio, may, \
                 blocking, nonblocking, select, epoll-lt or epoll-et"
                    .to_string()
            )
        );
    }

    #[test]
    fn names_are_unique_within_what_they_serve() {
        for a in BUILDS {
            let same = BUILDS
                .iter()
                .filter(|b| b.serves == a.serves && b.name == a.name)
                .count();
            assert_eq!(same, 1, "{} {}", a.serves.name(), a.name);
        }
        let http: Vec<&str> = Serves::Http.builds().map(Mode::name).collect();
        assert_eq!(http, ["coroutine", "threads", "tokio"]);
        assert_eq!(
            Serves::Http.parse("epoll"),
            Err("unknown build \"epoll\": expected coroutine, threads or tokio".to_string())
        );
    }

    #[test]
    fn lists_are_spoken() {
        assert_eq!(spoken_list::<&str>(&[], "or"), "");
        assert_eq!(spoken_list(&["a"], "or"), "a");
        assert_eq!(spoken_list(&["a", "b"], "or"), "a or b");
        assert_eq!(spoken_list(&["a", "b", "c", "d"], "and"), "a, b, c and d");
    }
}
