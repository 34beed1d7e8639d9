//! The flags of the course's own formats, apart from [`args`](super::args) so that they stay
//! together: `mayfly serve cmd --course-protocol` (the course's command client, no login).

use mayfly_servers::cmd::course_protocol;

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
