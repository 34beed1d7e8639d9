#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "epoll.rs"]
mod select;

#[cfg(any(
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "ios",
    target_os = "macos",
    target_os = "netbsd",
    target_os = "openbsd"
))]
#[path = "kqueue.rs"]
mod select;

#[cfg(feature = "io_cancel")]
pub mod cancel;
pub mod co_io;
pub mod net;
pub mod wait_io;

#[cfg(feature = "io_timeout")]
use std::cell::RefCell;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
#[cfg(feature = "io_timeout")]
use std::time::Duration;
use std::{fmt, io};

use crate::coroutine_impl::{run_coroutine, CoroutineImpl};
#[cfg(feature = "io_cancel")]
use crate::coroutine_impl::co_cancel_data;
use crate::io::thread::ASSOCIATED_IO_RET;
use crate::likely::likely;
use crate::scheduler::get_scheduler;
#[cfg(feature = "io_timeout")]
use crate::scheduler::Scheduler;
use crate::sync::AtomicOption;
#[cfg(feature = "io_timeout")]
use crate::timeout_list::{now, TimeOutList, TimeoutHandle};
use crate::yield_now::get_co_para;
#[cfg(feature = "io_timeout")]
use crate::yield_now::set_co_para;

pub(crate) use self::select::{Selector, SysEvent};

#[inline]
pub fn add_socket<T: AsRawFd + ?Sized>(t: &T) -> io::Result<IoData> {
    get_scheduler().get_selector().add_fd(IoData::new(t))
}

#[inline]
pub fn mod_socket(io: &IoData, is_read: bool) -> io::Result<()> {
    get_scheduler().get_selector().mod_fd(io, is_read)
}

#[inline]
fn del_socket(io: &IoData) {
    // transfer the io to the selector
    get_scheduler().get_selector().del_fd(io);
}

// deal with the io result
#[inline]
fn co_io_result(is_coroutine: bool) -> io::Result<()> {
    if likely(is_coroutine) {
        match get_co_para() {
            None => Ok(()),
            Some(err) => Err(err),
        }
    } else {
        let err = ASSOCIATED_IO_RET.with(|io_ret| io_ret.take());
        match err {
            None => Ok(()),
            Some(err) => Err(*err),
        }
    }
}

#[inline]
fn from_nix_error(err: nix::Error) -> ::std::io::Error {
    std::io::Error::from_raw_os_error(err as i32)
}

/// Takes the coroutine an expired I/O timer belongs to, with its `TimedOut` result set.
#[cfg(feature = "io_timeout")]
fn timed_out(data: TimerData) -> Option<CoroutineImpl> {
    if data.event_data.is_null() {
        return None;
    }

    let event_data = unsafe { &mut *data.event_data };
    // remove the event timer
    event_data.timer.borrow_mut().take();

    // get and check the coroutine
    let mut co = event_data.co.take()?;
    set_co_para(&mut co, io::Error::new(io::ErrorKind::TimedOut, "timeout"));
    Some(co)
}

/// The event loop's timer pass: every expired I/O timer queues its coroutine (with its
/// `TimedOut` result) on worker `id`'s local queue. Returns how long the next `select` may
/// wait: `Some(0)` when anything was queued, else the time to the next timer.
///
/// mayfly patch (see PATCHED.md): may resumed these coroutines inline, here, after the
/// worker had run its ready queue. Whatever they woke in turn (an unpark, a kill's cancel,
/// a `yield_now`) went onto that local queue, which nothing signals: it waited in the queue
/// while the loop slept in `epoll_wait` until the next I/O timer of any socket fired.
#[cfg(feature = "io_timeout")]
fn expire_io_timers(timer_list: &TimerList, scheduler: &Scheduler, id: usize) -> Option<u64> {
    let queued = std::cell::Cell::new(false);
    let next = timer_list.schedule_timer(now(), &|data| {
        if let Some(co) = timed_out(data) {
            scheduler.schedule_with_id(co, id);
            queued.set(true);
        }
    });
    if queued.get() {
        Some(0)
    } else {
        next
    }
}

// the timeout data
#[cfg(feature = "io_timeout")]
pub struct TimerData {
    event_data: *mut EventData,
}

#[cfg(feature = "io_timeout")]
pub type TimerList = TimeOutList<TimerData>;
#[cfg(feature = "io_timeout")]
pub type TimerHandle = TimeoutHandle<TimerData>;

// event associated io data, must be construct in
// each file handle, the epoll event.data would point to it
pub struct EventData {
    pub fd: RawFd,
    pub io_flag: AtomicUsize,
    #[cfg(feature = "io_timeout")]
    pub timer: RefCell<Option<TimerHandle>>,
    pub co: AtomicOption<CoroutineImpl>,
}

unsafe impl Send for EventData {}
unsafe impl Sync for EventData {}

impl EventData {
    pub fn new(fd: RawFd) -> EventData {
        EventData {
            fd,
            io_flag: AtomicUsize::new(0),
            #[cfg(feature = "io_timeout")]
            timer: RefCell::new(None),
            co: AtomicOption::none(),
        }
    }

    #[cfg(feature = "io_timeout")]
    pub fn timer_data(&self) -> TimerData {
        TimerData {
            event_data: self as *const _ as *mut _,
        }
    }

    #[inline]
    pub fn schedule(&self) {
        let co = match self.co.take() {
            Some(co) => co,
            None => return, // it's already take by selector
        };

        // it's safe to remove the timer since we are running the timer_list in the same thread
        #[cfg(feature = "io_timeout")]
        self.timer.borrow_mut().take().map(|h| {
            unsafe {
                // tell the timer function not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        // schedule the coroutine
        get_scheduler().schedule(co);
    }

    /// used by local re-schedule that in `subscribe`
    #[inline]
    pub fn fast_schedule(&self) {
        let co = match self.co.take() {
            Some(co) => co,
            None => return, // it's already take by selector
        };

        // it's safe to remove the timer since we are running the timer_list in the same thread
        #[cfg(feature = "io_timeout")]
        self.timer.borrow_mut().take().map(|h| {
            unsafe {
                // tell the timer function not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        // run the coroutine
        run_coroutine(co);
    }
}

/// Parks `co` on `io_data` for one I/O call: arms the call's timeout, stores the coroutine,
/// resumes it at once if an event came meanwhile, and otherwise registers the I/O as what a
/// cancel of the coroutine wakes (as every read, accept and connect does).
///
/// mayfly patch (see PATCHED.md): the write calls (`write`, `write_vectored`, `send_to`)
/// registered no cancel, so a coroutine cancelled while parked in one stayed parked until
/// the socket became writable or the write's own timeout fired.
pub(crate) fn subscribe_io(
    io_data: &IoData,
    #[cfg(feature = "io_timeout")] timeout: Option<Duration>,
    co: CoroutineImpl,
) {
    #[cfg(feature = "io_cancel")]
    let cancel = co_cancel_data(&co);

    #[cfg(feature = "io_timeout")]
    if let Some(dur) = timeout {
        get_scheduler().get_selector().add_io_timer(io_data, dur);
    }
    io_data.co.store(co);

    // there is event, re-run the coroutine
    if io_data.io_flag.load(Ordering::Acquire) != 0 {
        return io_data.fast_schedule();
    }

    #[cfg(feature = "io_cancel")]
    {
        // register the cancel io data
        cancel.set_io((*io_data).clone());
        // re-check the cancel status
        if cancel.is_canceled() {
            unsafe { cancel.cancel() };
        }
    }
}

// each file associated data
pub struct IoData(Arc<EventData>);

impl IoData {
    pub fn new<T: AsRawFd + ?Sized>(t: &T) -> Self {
        let fd = t.as_raw_fd();
        let event_data = Arc::new(EventData::new(fd));
        IoData(event_data)
    }

    // clear the io flag
    #[inline]
    pub fn reset(&self) -> usize {
        self.io_flag.swap(0, Ordering::AcqRel)
    }
}

impl Deref for IoData {
    type Target = Arc<EventData>;

    fn deref(&self) -> &Arc<EventData> {
        &self.0
    }
}

impl fmt::Debug for IoData {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IoData = {{ ... }}")
    }
}

impl Drop for IoData {
    fn drop(&mut self) {
        del_socket(self);
    }
}

impl AsFd for IoData {
    fn as_fd(&self) -> BorrowedFd<'_> {
        unsafe { BorrowedFd::borrow_raw(self.0.fd) }
    }
}

unsafe impl Send for IoData {}
