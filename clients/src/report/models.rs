//! The IO-models chapter's verdict: when a comparison ran any of the chapter's builds
//! (`mayfly compare --course`, or `--builds` naming one), one sentence per build that a
//! student can read — what was measured, then why the model behaves so. Each sentence is
//! written from the build's own rows (at the largest connection count it ran, unless it
//! says otherwise) and names the figure that shows the model's lesson: blocking's
//! unanswered connections and fairness, non-blocking's idle CPU, select's CPU per request
//! as connections grow, epoll-lt and epoll-et's `read`/`write` calls per request.

use mayfly_proto::echo::Mode;

use super::format::thousands;
use super::model::Row;

/// The line that opens the chapter's sentences.
pub const HEADING: &str = "The IO models, one sentence each:";

/// The chapter's sentences for `rows` (median rows), in row order; empty when no lesson
/// build ran.
///
/// ```
/// use mayfly_clients::report::{models, Row};
/// let idle = Row { build: "nonblocking".into(), connections: 10, requests: 9, idle_cpu: 0.98, ..Row::default() };
/// let lines = models::lines(&[idle]);
/// assert_eq!(lines[0], models::HEADING);
/// assert!(lines[1].starts_with("nonblocking used 98% of a core with no client connected"), "{}", lines[1]);
/// assert!(models::lines(&[Row { build: "threads".into(), ..Row::default() }]).is_empty());
/// ```
pub fn lines(rows: &[Row]) -> Vec<String> {
    let mut builds: Vec<Mode> = Vec::new();
    for r in rows {
        if let Ok(m) = r.build.parse::<Mode>() {
            if !builds.contains(&m) {
                builds.push(m);
            }
        }
    }
    if !builds.iter().any(|m| m.info().lesson) {
        return Vec::new();
    }
    let mut out = vec![HEADING.to_string()];
    for m in builds {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.build == m.name()).collect();
        if let Some(s) = sentence(m, &mine, rows) {
            out.push(s);
        }
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// One build's sentence from its rows (`all`: every build's, for epoll-et against epoll-lt).
fn sentence(m: Mode, mine: &[&Row], all: &[Row]) -> Option<String> {
    let top = *mine
        .iter()
        .filter(|r| r.requests > 0)
        .max_by_key(|r| r.connections)?;
    let low = *mine
        .iter()
        .filter(|r| r.requests > 0)
        .min_by_key(|r| r.connections)?;
    let n = thousands(top.connections);
    let cpu = |r: &Row| format!("{:.1} µs", r.cpu_us_per_req);
    let idle = |r: &Row| format!("{} of a core while idle", pct(r.idle_cpu));
    Some(match m {
        Mode::Blocking => {
            let answered = top.connected.saturating_sub(top.fairness.unanswered);
            format!(
                "blocking answered {} of {} connections at {n} (fairness {:.2}): it serves one \
                 client until that client closes, and every other connection waits in the \
                 listen backlog, unanswered.",
                thousands(answered),
                thousands(top.connected),
                top.fairness.jain
            )
        }
        Mode::Nonblocking => format!(
            "nonblocking used {} of a core with no client connected (and {} at {n} \
             connections): its loop tries every socket again at once, catching EAGAIN \
             (BlockingIOError), instead of sleeping until one is ready.",
            pct(top.idle_cpu.max(low.idle_cpu)),
            pct(top.server_cpu)
        ),
        Mode::Select => format!(
            "select spent {} of CPU per request at {} connections and {} at {n} ({:.1}×): \
             every call hands the kernel the whole read and write lists and the loop then \
             checks every socket, so each request pays for all the idle ones (and no fd \
             past FD_SETSIZE = 1024 can be watched at all).",
            cpu(low),
            thousands(low.connections),
            cpu(top),
            top.cpu_us_per_req / low.cpu_us_per_req.max(1e-9)
        ),
        Mode::EpollLt => format!(
            "epoll-lt made {:.1} read/write calls per request and spent {} per request at \
             {n}: level-triggered epoll reports a socket again while bytes are left, so one \
             read per report is enough, and epoll_wait returns only the ready sockets.",
            top.rw_calls_per_req,
            cpu(top)
        ),
        Mode::EpollEt => {
            let lt = all
                .iter()
                .find(|r| r.build == Mode::EpollLt.name() && r.connections == top.connections);
            let versus = lt.map_or(String::new(), |lt| {
                format!(
                    " ({:+.1} against epoll-lt)",
                    top.rw_calls_per_req - lt.rw_calls_per_req
                )
            });
            format!(
                "epoll-et made {:.1} read/write calls per request{versus} at {n}: \
                 edge-triggered epoll reports new bytes only once, so the loop must read \
                 until EAGAIN, and that last read finds nothing.",
                top.rw_calls_per_req
            )
        }
        Mode::Epoll => format!(
            "epoll (the mio loop) spent {} per request at {n} and {}: the same \
             readiness loop as epoll-et, the production way (mio registers once, \
             edge-triggered).",
            cpu(top),
            idle(top)
        ),
        Mode::Threads => format!(
            "threads ran {} OS threads at {n} connections and spent {} per request: each \
             connection blocks in its own thread and the kernel switches between them, \
             which costs a stack and a switch per client.",
            thousands(top.server_threads),
            cpu(top)
        ),
        Mode::Coroutine => format!(
            "coroutine spent {} per request at {n} on {} threads and {}: a greenlet per \
             connection, written like the blocking server, switched by the hub when epoll \
             says a socket is ready (the asynchronous model).",
            cpu(top),
            thousands(top.server_threads),
            idle(top)
        ),
        Mode::Tokio | Mode::May => format!(
            "{m} (a reference build) spent {} per request at {n}.",
            cpu(top)
        ),
        Mode::HttpCoroutine | Mode::HttpThreads | Mode::HttpTokio => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fairness::Fairness;

    fn row(build: &str, n: u64) -> Row {
        Row {
            build: build.into(),
            connections: n,
            connected: n,
            requests: 100,
            cpu_us_per_req: 10.0,
            ..Row::default()
        }
    }

    #[test]
    fn each_model_gets_its_lesson_from_its_own_numbers() {
        let mut blocking = row("blocking", 100);
        blocking.fairness = Fairness {
            unanswered: 99,
            jain: 0.01,
            ..Fairness::default()
        };
        let mut select10 = row("select", 10);
        select10.cpu_us_per_req = 5.0;
        let select1000 = row("select", 1000);
        let mut lt = row("epoll-lt", 1000);
        lt.rw_calls_per_req = 2.0;
        let mut et = row("epoll-et", 1000);
        et.rw_calls_per_req = 3.0;
        let lines = lines(&[blocking, select10, select1000, lt, et, row("threads", 1000)]);
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(
            lines[1].starts_with("blocking answered 1 of 100 connections at 100 (fairness 0.01)")
        );
        assert!(lines[2].starts_with(
            "select spent 5.0 µs of CPU per request at 10 connections and 10.0 µs at 1,000 (2.0×)"
        ));
        assert!(lines[3].starts_with("epoll-lt made 2.0 read/write calls per request"));
        assert!(lines[4]
            .starts_with("epoll-et made 3.0 read/write calls per request (+1.0 against epoll-lt)"));
        assert!(lines[5].starts_with("threads ran 0 OS threads at 1,000"));
    }

    #[test]
    fn a_build_that_answered_nothing_gets_no_sentence() {
        let mut dead = row("select", 10);
        dead.requests = 0;
        assert_eq!(lines(&[dead]), [HEADING]);
    }
}
