//! The course's own remote-command wire format (`mayfly serve cmd --course-protocol`), for
//! the course's client as the notes write it: no frames, no login.
//!
//! | from | bytes |
//! |---|---|
//! | client | the command, raw (`client.send(cmd.encode('utf-8'))`); the server takes one `recv` of at most [`COURSE_RECV`] bytes as one command, as the course's `conn.recv(1024)` does |
//! | server | `struct.pack('i', N)`: N as a 4-byte little-endian `i32`, then N bytes: the command's stderr, then its stdout |
//!
//! The client reads the 4 bytes, then loops on `recv` until N bytes arrived. Nothing marks
//! where stderr ends: the course prints the two together.
//!
//! ```
//! use mayfly_proto::cmd::course;
//! let wire = course::reply(b"err\n", b"out\n").unwrap();
//! assert_eq!(&wire[..4], &8i32.to_le_bytes());
//! assert_eq!(&wire[4..], b"err\nout\n");
//! assert_eq!(course::reply_len(wire[..4].try_into().unwrap()), Some(8));
//! ```

/// The most bytes one `recv` takes as a command: the course's `conn.recv(1024)`.
pub const COURSE_RECV: usize = 1024;

/// A reply longer than a 4-byte `i32` can say.
#[derive(Debug, thiserror::Error)]
#[error("{0} bytes of output do not fit struct.pack('i')'s 2 GiB")]
pub struct TooLong(pub usize);

/// The server's reply: the 4-byte length of `stderr` and `stdout` together, then both, in
/// that order.
///
/// # Errors
/// [`TooLong`] past `i32::MAX` bytes.
pub fn reply(stderr: &[u8], stdout: &[u8]) -> Result<Vec<u8>, TooLong> {
    let n = stderr.len() + stdout.len();
    let len = i32::try_from(n).map_err(|_| TooLong(n))?;
    let mut wire = Vec::with_capacity(4 + n);
    wire.extend_from_slice(&len.to_le_bytes());
    wire.extend_from_slice(stderr);
    wire.extend_from_slice(stdout);
    Ok(wire)
}

/// The body length a reply's 4 bytes announce (`struct.unpack('i', header)[0]`); `None` for
/// a negative one.
pub fn reply_len(prefix: [u8; 4]) -> Option<usize> {
    usize::try_from(i32::from_le_bytes(prefix)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_is_struct_pack_i_of_both_parts_and_stderr_comes_first() {
        // struct.pack('i', 258) on a little-endian host.
        let wire = reply(b"e", &[b'o'; 257]).unwrap();
        assert_eq!(&wire[..4], &[2, 1, 0, 0]);
        assert_eq!(wire[4], b'e');
        assert_eq!(wire.len(), 4 + 258);
        assert_eq!(reply(b"", b"").unwrap(), vec![0, 0, 0, 0]);
        assert_eq!(reply_len((-1i32).to_le_bytes()), None);
    }
}
