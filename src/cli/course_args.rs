//! The flags of the course's own formats, apart from [`args`](super::args) so that they stay
//! together: `mayfly serve cmd --course-protocol` (the course's command client, no login),
//! and the FTP homework's user layer (`serve file --users`, `file --user`, `file adduser`).

use std::path::PathBuf;

use mayfly_servers::cmd::course_protocol;
use mayfly_servers::file;

use super::human::{HumanDuration, HumanSize};

/// `mayfly serve cmd --course-protocol` and its limits.
#[derive(clap::Args)]
#[command(next_help_heading = "The course's own protocol")]
pub struct CourseProtocolArgs {
    /// Speak the course's own format instead of frames: the command raw (one read), answered
    /// with a 4-byte length (struct.pack('i')) and the output, stderr then stdout. There is
    /// no login: anyone who can connect runs commands, so only a loopback --addr is allowed.
    #[arg(long, conflicts_with_all = ["allow_remote", "secret_file"])]
    pub course_protocol: bool,
    /// --course-protocol: the most bytes one read takes as one command (the course's
    /// recv(1024)).
    #[arg(long, requires = "course_protocol", default_value_t = HumanSize(course_protocol::DEFAULT_MAX_COMMAND as u64))]
    pub course_max_command: HumanSize,
    /// --course-protocol: close a connection that sends no command for this long; 0: never
    /// (as the course's server).
    #[arg(long, requires = "course_protocol", default_value_t = HumanDuration(course_protocol::DEFAULT_IDLE_TIMEOUT))]
    pub course_idle_timeout: HumanDuration,
}

/// `mayfly serve file --users FILE`.
#[derive(clap::Args)]
#[command(next_help_heading = "Users (the FTP homework)")]
pub struct FileUsersArgs {
    /// Users file (NAME:SECRET:QUOTA a line, mode 0600; `mayfly file adduser` writes one):
    /// every connection must log in (the HMAC challenge) and works in its home, ROOT/NAME,
    /// under its quota. Without it the server is anonymous.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// --users: time a client has for the whole login (challenge to answer).
    #[arg(long, requires = "users", default_value_t = HumanDuration(file::login::DEFAULT_LOGIN_TIMEOUT))]
    pub login_timeout: HumanDuration,
    /// --users: a home with more entries than this is not measured for its quota, and
    /// uploads to it are refused.
    #[arg(long, requires = "users", default_value_t = file::quota::DEFAULT_MAX_HOME_ENTRIES)]
    pub max_home_entries: u64,
    /// --users: failed logins one peer (IP address) may make per --login-lockout before it
    /// is refused (`rate_limited`) until that window ends; 0: no limit.
    #[arg(long, requires = "users", default_value_t = file::login::DEFAULT_MAX_LOGIN_FAILURES)]
    pub max_login_failures: u32,
    /// --users: the window of --max-login-failures.
    #[arg(long, requires = "users", default_value_t = HumanDuration(file::login::DEFAULT_LOGIN_LOCKOUT))]
    pub login_lockout: HumanDuration,
}

/// `mayfly file --user U --secret-file F …`: log in first.
#[derive(clap::Args)]
#[command(next_help_heading = "Login (a server started with --users)")]
pub struct FileLoginArgs {
    /// Log in as this user (a server started with --users).
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// File holding the user's secret (what `mayfly file adduser` printed).
    #[arg(long, global = true)]
    pub secret_file: Option<PathBuf>,
}
