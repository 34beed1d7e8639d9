//! `read(2)` and `write(2)` on a connection's fd, the calls the chapter's builds make for
//! each `recv` and `send`. `std::net` uses `recv(2)` and `send(2)` instead, which
//! `/proc/PID/io` does not count; with these, its `syscr` and `syscw` are exactly the
//! builds' reads (those that found nothing, `EAGAIN`, included) and writes, which is how
//! `mayfly compare` shows epoll-et's extra read per request against epoll-lt's.
//!
//! [`FdIo`] is a `Read + Write` over a borrowed stream; `SIGPIPE` is ignored in Rust
//! programs, so a write to a closed peer fails with `EPIPE` as `send` with `MSG_NOSIGNAL`
//! would.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// A borrowed socket read and written with `read(2)`/`write(2)`.
pub(crate) struct FdIo<'a>(pub(crate) &'a TcpStream);

impl io::Read for FdIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the fd is open for as long as the borrowed stream lives, and `buf` is a
        // live, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl io::Write for FdIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: the fd is open for as long as the borrowed stream lives, and `buf` is a
        // live buffer of `buf.len()` bytes that the kernel only reads.
        let n = unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn reads_and_writes_count_in_proc_io() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let me = std::process::id();
        let before = mayfly::process::io_calls(me).unwrap();
        FdIo(&a).write_all(b"hi").unwrap();
        let mut got = [0u8; 2];
        FdIo(&b).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
        let after = mayfly::process::io_calls(me).unwrap();
        assert!(after.writes > before.writes && after.reads > before.reads);
        // A non-blocking read that finds nothing is EAGAIN (BlockingIOError).
        b.set_nonblocking(true).unwrap();
        let e = FdIo(&b).read(&mut got).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
