//! The file server's login (`--users`): the command server's HMAC challenge
//! (`mayfly_proto::cmd::auth`), answered with the user's name and the HMAC of the challenge
//! under that user's secret (`mayfly_proto::file_users`).
//!
//! The whole handshake has one deadline (`--login-timeout`, [`DEFAULT_LOGIN_TIMEOUT`]). A wrong answer, or an
//! unknown user (checked against a secret of the same length, so both take as long), is
//! answered `auth` after [`AUTH_FAIL_DELAY`] and the connection closes. A peer with too many
//! failed logins lately is answered `rate_limited` before any challenge (the command
//! server's `LoginFailures`, `--max-login-failures` per `--login-lockout`).

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mayfly_proto::cmd::{self as cmd_proto, auth};
use mayfly_proto::file_users as proto;
use mayfly_proto::frame;
use mayfly_proto::reply::{code, Refusal};

use super::session::Reader;
use super::users::{User, Users};
use crate::cmd::limits::LoginFailures;

/// Default time from accept to a logged-in connection, for the whole handshake.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default failed logins of one peer per [`DEFAULT_LOGIN_LOCKOUT`] (the command server's).
pub const DEFAULT_MAX_LOGIN_FAILURES: u32 = 10;
/// Default window of the failed logins counted per peer.
pub const DEFAULT_LOGIN_LOCKOUT: Duration = Duration::from_secs(60);
/// Pause before answering a failed login (the command server's).
pub const AUTH_FAIL_DELAY: Duration = Duration::from_millis(500);

/// Runs the handshake on `r`: the user who logged in, or `None` (refused and answered, or
/// the client went away).
///
/// # Errors
/// The deadline passed, or the connection broke.
pub(crate) fn login<'u>(
    r: &mut Reader,
    users: &'u Users,
    deadline: Instant,
    failures: &LoginFailures,
    peer: IpAddr,
) -> io::Result<Option<&'u User>> {
    if let Some(wait) = failures.locked_out(peer) {
        let msg = format!(
            "too many failed logins from {peer}; try again in {} s",
            wait.as_secs() + 1
        );
        frame::write_header(r.get_mut(), &Refusal::new(code::RATE_LIMITED, msg).header())?;
        return Ok(None);
    }
    let verdict = mayfly::with_deadline(deadline, || -> io::Result<Option<Option<&'u User>>> {
        let challenge = auth::challenge()?;
        frame::write_header(r.get_mut(), &cmd_proto::challenge_header(&challenge))?;
        let Some((h, _)) = r.read_header()? else {
            return Ok(None);
        };
        let name = h.opt_str(proto::USER).ok().flatten().unwrap_or("");
        let answer = h.opt_str(cmd_proto::HMAC).ok().flatten().unwrap_or("");
        Ok(Some(match users.get(name) {
            Some(u) if auth::verify(&u.secret, &challenge, answer) => Some(u),
            Some(_) => None,
            None => {
                // The same work for a name that does not exist.
                let _ = auth::verify(&[0u8; 64], &challenge, answer);
                None
            }
        }))
    });
    match verdict.map_err(io::Error::from)?? {
        None => Ok(None),
        Some(Some(user)) => Ok(Some(user)),
        Some(None) => {
            failures.failed(peer);
            mayfly::sleep(AUTH_FAIL_DELAY);
            let refusal = Refusal::new(code::AUTH, "login failed: unknown user or wrong secret");
            frame::write_header(r.get_mut(), &refusal.header())?;
            Ok(None)
        }
    }
}
