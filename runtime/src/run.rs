//! `mayfly::run`: a program's main function as a greenlet, so it reads like a gevent script.

use std::panic;

/// Runs `main` as a greenlet named `main`, waits for it from the calling thread and returns
/// its value. If `main` panics, the panic continues in the caller (the program fails as a
/// plain `main` would). Called from inside a greenlet, it just calls `main`.
///
/// ```
/// use std::time::Duration;
/// let total = mayfly::run(|| {
///     let a = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(10)); 1 });
///     let b = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(10)); 2 });
///     a.get().unwrap() + b.get().unwrap()
/// });
/// assert_eq!(total, 3);
/// ```
///
/// # Panics
/// If `main` panics (the same panic continues in the caller), if it is killed, or if no
/// greenlet can be spawned for it.
pub fn run<F, T>(main: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::start::ensure_started();
    if may::coroutine::is_coroutine() {
        return main();
    }
    // This thread only waits for `main` from here on: it wakes no greenlet (`loop_exit`).
    let caller = crate::idle::tid();
    crate::idle::own(caller);
    let g = crate::greenlet::Builder::new()
        .name("main")
        .spawn(move || {
            crate::loop_exit::main_started(crate::greenlet::getcurrent().id);
            let r = match panic::catch_unwind(panic::AssertUnwindSafe(main)) {
                Ok(v) => Ok(v),
                Err(p) => Err(crate::greenlet::SendPayload(p)),
            };
            crate::loop_exit::main_ended();
            r
        })
        .unwrap_or_else(|e| panic!("mayfly::run: {e}"));
    let result = g.into_result();
    crate::idle::disown(caller);
    match result {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => panic::resume_unwind(p.0),
        Err(e) => panic!("{e}"),
    }
}
