//! Socket reads and writes that are not pthread cancellation points: the three system calls
//! of the streams' fast path (`ready`), made with `syscall(2)` instead of glibc's `recv`,
//! `send` and `writev`.
//!
//! In a process with more than one thread (every mayfly process: may's worker, its timer
//! thread, the main thread), glibc wraps each call that POSIX makes a cancellation point in
//! `__pthread_enable_asynccancel` and `__pthread_disable_asynccancel`, in glibc 2.36 (the
//! version this was measured on; other versions and C libraries may do less) one locked
//! compare-and-swap each on the thread's cancel word: four locked instructions per echo
//! round trip, for a `pthread_cancel` that nothing in a Rust program calls (std has no way
//! to, and neither has may nor mayfly). `syscall(2)` is not a cancellation point, so the
//! calls below make the same system call without them (issue 24: what an echo request costs
//! in user space). The calls and flags are std's: `recvfrom` with no flags and no address
//! (std's `recv`), `sendto` with `MSG_NOSIGNAL` (std's `send` on Linux), `writev`.
//!
//! Each call is one attempt: `EINTR` and `EAGAIN` come back as errors (`Interrupted`,
//! `WouldBlock`) for the caller's loop, as from std.

use std::io;
use std::os::fd::RawFd;

/// A `syscall(2)` result as std returns it: `-1` is the error in `errno`.
fn result(r: libc::c_long) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        // A count of bytes moved: never more than the buffer's length, so it fits.
        Ok(r as usize)
    }
}

/// One `recvfrom(fd, buf, len, 0, NULL, NULL)`: what std's `TcpStream::read` calls.
///
/// # Errors
/// The system call's error (`WouldBlock` on an empty nonblocking socket).
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call (a unique
    // borrow), and the kernel writes at most that many into it, whatever `fd` is (a closed
    // fd is `EBADF`, a non-socket `ENOTSOCK`); the two address arguments are null, which
    // `recvfrom` accepts as "no address wanted". All integer arguments are passed as
    // `c_long`, the width `syscall` reads them at.
    let r = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd as libc::c_long,
            buf.as_mut_ptr(),
            buf.len(),
            0 as libc::c_long,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    result(r)
}

/// One `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`: what std's `TcpStream::write` calls
/// (a peer that is gone gives `EPIPE`, never `SIGPIPE`).
///
/// # Errors
/// The system call's error (`WouldBlock` on a full send buffer, `BrokenPipe`).
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call; the kernel
    // only reads it. A null address of length 0 is what `send` passes for a connected
    // socket. A bad `fd` is an error return, not a memory access.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd as libc::c_long,
            buf.as_ptr(),
            buf.len(),
            libc::MSG_NOSIGNAL as libc::c_long,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::c_long,
        )
    };
    result(r)
}

/// One `writev(fd, bufs, n)`: what std's `TcpStream::write_vectored` calls, with at most
/// `UIO_MAXIOV` (1024) buffers as std caps them.
///
/// # Errors
/// The system call's error (`WouldBlock` on a full send buffer, `BrokenPipe`).
pub(crate) fn sendv(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let n = bufs.len().min(libc::UIO_MAXIOV as usize);
    // SAFETY: `IoSlice` is guaranteed ABI-compatible with `struct iovec` on Unix (std's
    // docs), so `bufs` is `n` valid iovecs, each pointing at bytes borrowed for the whole
    // call; the kernel only reads them. A bad `fd` is an error return.
    let r = unsafe {
        libc::syscall(
            libc::SYS_writev,
            fd as libc::c_long,
            bufs.as_ptr(),
            n as libc::c_long,
        )
    };
    result(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{IoSlice, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn the_calls_move_bytes_both_ways_like_std() {
        let (mut a, b) = pair();
        a.write_all(b"hello").unwrap();
        let mut buf = [0u8; 16];
        let n = recv(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(send(b.as_raw_fd(), b"HELLO").unwrap(), 5);
        let parts = [
            IoSlice::new(b", "),
            IoSlice::new(b""),
            IoSlice::new(b"world"),
        ];
        assert_eq!(sendv(b.as_raw_fd(), &parts).unwrap(), 7);
        let mut got = [0u8; 12];
        a.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"HELLO, world");
    }

    #[test]
    fn an_empty_nonblocking_socket_would_block_and_a_closed_one_reads_zero() {
        let (a, b) = pair();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4];
        let e = recv(b.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        b.set_nonblocking(false).unwrap();
        assert_eq!(recv(b.as_raw_fd(), &mut buf).unwrap(), 0);
    }

    #[test]
    fn writing_to_a_reset_peer_is_an_error_not_a_signal() {
        let (a, b) = pair();
        // SO_LINGER 0: closing `a` sends a reset, not a FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid `linger` for `a`'s open fd, with its exact size.
        let rc = unsafe {
            libc::setsockopt(
                a.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        drop(a);
        std::thread::sleep(std::time::Duration::from_millis(50));
        // The first write may still be accepted before the reset is seen; the next fails.
        // (Rust's runtime ignores SIGPIPE in this test binary, so this checks the error
        // kinds; MSG_NOSIGNAL is what spares a program that restores SIGPIPE.)
        let errs: Vec<io::ErrorKind> = (0..3)
            .filter_map(|_| send(b.as_raw_fd(), b"x").err().map(|e| e.kind()))
            .collect();
        assert!(!errs.is_empty(), "every write to a reset peer succeeded");
        assert!(
            errs.iter().all(|k| matches!(
                k,
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            )),
            "{errs:?}"
        );
    }

    #[test]
    fn a_bad_fd_is_an_error() {
        let mut buf = [0u8; 1];
        assert_eq!(
            recv(-1, &mut buf).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(
            send(-1, b"x").unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        let parts = [IoSlice::new(b"x")];
        assert_eq!(
            sendv(-1, &parts).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
