//! The child's pipes as coroutine streams: [`ChildStdin`] (`Write`), [`ChildStdout`] and
//! [`ChildStderr`] (`Read`). Our ends are made nonblocking and registered with may's reactor
//! (`may::io::CoIo`), so a read or write that would block parks only the calling greenlet;
//! each call runs under the same timed loop as the coroutine sockets
//! (`net::stream::timed`), so the active [`crate::Timeout`] bounds it and a kill unwinds it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::Stdio;

use may::io::CoIo;

use crate::net::stream::timed;

/// One of our ends of a child's pipes, registered with may's reactor.
#[derive(Debug)]
struct Pipe(CoIo<File>);

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        crate::start::ensure_started();
        Ok(Pipe(CoIo::new(File::from(fd))?))
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let io = &mut self.0;
        timed(None, |limit| {
            io.set_read_timeout(limit)?;
            io.read(buf)
        })
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let io = &mut self.0;
        timed(None, |limit| {
            io.set_write_timeout(limit)?;
            io.write(buf)
        })
    }

    /// Back to a plain blocking fd, for another child's stdio.
    fn into_stdio(self) -> io::Result<Stdio> {
        let file = self.0.into_inner();
        set_blocking(file.as_raw_fd())?;
        Ok(Stdio::from(file))
    }
}

/// Clears `O_NONBLOCK`: a child given this end expects ordinary blocking stdio.
fn set_blocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(2) F_GETFL/F_SETFL on an fd the caller owns; no memory.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(Pipe);

        impl $name {
            pub(crate) fn from_std(p: $std) -> io::Result<Self> {
                Ok($name(Pipe::new(OwnedFd::from(p))?))
            }

            /// The same kind of coroutine stream over any pipe end (or FIFO, or socket) you
            /// own: one you passed to the child yourself, say. It is made nonblocking.
            ///
            /// # Errors
            /// may's reactor refuses the fd (a regular file: epoll does not take them).
            pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
                Ok($name(Pipe::new(fd)?))
            }

            /// Turns this end back into a blocking fd another child can take as its stdio
            /// (`Command::stdin(Stdio::try_from(out)?)`: a pipeline).
            ///
            /// # Errors
            /// `fcntl` fails.
            pub fn into_stdio(self) -> io::Result<Stdio> {
                self.0.into_stdio()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0 .0.as_raw_fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0 .0.inner().as_fd()
            }
        }

        impl TryFrom<$name> for Stdio {
            type Error = io::Error;
            fn try_from(p: $name) -> io::Result<Stdio> {
                p.into_stdio()
            }
        }
    };
}

pipe_type!(
    /// The child's standard input, written by a greenlet: a write into a full pipe parks the
    /// greenlet until the child reads. Drop it to close the child's stdin (end of file).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use mayfly::subprocess::{Command, Stdio};
    /// mayfly::run(|| {
    ///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let mut stdin = child.stdin.take().unwrap();
    ///     stdin.write_all(b"meow").unwrap();
    ///     drop(stdin);
    ///     let mut out = String::new();
    ///     child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    ///     assert_eq!(out, "meow");
    ///     assert!(child.wait().unwrap().success());
    /// });
    /// ```
    ChildStdin,
    std::process::ChildStdin
);
pipe_type!(
    /// The child's standard output, read by a greenlet: a read of an empty pipe parks the
    /// greenlet until the child writes or exits (a read of 0: end of file).
    ChildStdout,
    std::process::ChildStdout
);
pipe_type!(
    /// The child's standard error, read as [`ChildStdout`] is.
    ChildStderr,
    std::process::ChildStderr
);

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
