//! # mayfly: gevent's green threads, in Rust, on one `may` worker thread
//!
//! mayfly gives Rust the gevent programming model — spawn a greenlet per task or per
//! connection, write plain blocking code, let the hub switch on every blocking call — on the
//! stackful coroutines of [`may`](https://docs.rs/may), with exactly one worker thread. There
//! is no monkey-patching: the blocking calls that switch are mayfly's own ([`sleep`],
//! [`Greenlet::join`], [`net`] sockets, …).
//!
//! | gevent | mayfly |
//! |---|---|
//! | `gevent.spawn(f, *args)` | [`spawn(move \|\| f(args))`](spawn) → [`Greenlet<T>`] |
//! | `gevent.spawn_later(s, f)` | [`spawn_later(dur, f)`](spawn_later) |
//! | `g = Greenlet(f)`, `g.start()`, `g.start_later(s)`, `g.started` | [`Greenlet::new(f)`](Greenlet::new) (or [`Builder::build`]), [`g.start()`](Greenlet::start), [`g.start_later(dur)`](Greenlet::start_later), [`g.started()`](Greenlet::started); killed before it starts, it never runs |
//! | `Greenlet(run=f, name=…)` | [`Builder::new().name(…).spawn(f)`](Builder) |
//! | `g.join(timeout)` | [`g.join(timeout)`](Greenlet::join) → `bool` (finished?) |
//! | `g.get()`, `g.get(timeout=…)` | [`g.get()`](Greenlet::get), [`g.get_timeout(d)`](Greenlet::get_timeout) → `Result<T, GreenletError>` |
//! | `g.value`, `g.exception` | [`g.value()`](Greenlet::value), [`g.exception()`](Greenlet::exception) |
//! | `g.ready()`, `g.successful()`, `g.dead` | [`g.ready()`](Greenlet::ready), [`g.successful()`](Greenlet::successful) |
//! | `g.kill()`, `g.kill(block=False)` | [`g.kill()`](Greenlet::kill), [`g.kill_nowait()`](Greenlet::kill_nowait) |
//! | `g.kill(exception=E("why"))`, `except E as e` in the greenlet | [`g.kill_with("why")`](Greenlet::kill_with); inside, [`kill_reason()`](kill_reason) while it unwinds; [`GreenletError::Killed`]`{ reason, .. }` |
//! | `gevent.killall(gs, block, timeout)` | [`killall(&gs, KillAll { block, timeout, reason })`](killall) → all dead? |
//! | `g.link(cb)`, `g.link_value(cb)`, `g.link_exception(cb)`, `g.unlink(cb)`, `g.unlink_all()`, `g.has_links()` | [`g.link(\|g\| …)`](Greenlet::link), [`link_value`](Greenlet::link_value), [`link_exception`](Greenlet::link_exception) → [`LinkId`], [`g.unlink(id)`](Greenlet::unlink), [`g.unlink_all()`](Greenlet::unlink_all), [`g.has_links()`](Greenlet::has_links); the callbacks run one after another in link order, in a greenlet of their own, so one that unlinks a later one stops it |
//! | `g.name`, `id(g)` | [`g.name()`](Greenlet::name), [`g.id()`](Greenlet::id) |
//! | `gevent.getcurrent()` | [`getcurrent()`](getcurrent) → [`Current`] `{ id, name }` |
//! | `gevent.joinall(gs, timeout, raise_error, count)` | [`joinall(&gs, JoinAll { timeout, raise_error, count })`](joinall) |
//! | `gevent.iwait(gs)` | [`iwait(&gs)`](iwait) (completion order) |
//! | `gevent.wait(objects, timeout, count)`, `iwait(objects)` over greenlets, `Event`, `AsyncResult`, `Semaphore` | [`wait(&[&g as &dyn Waitable, &ev, &res, &sem], WaitOpts { timeout, count })`](wait) → indices in ready order; [`iwait`] over any [`Waitable`] |
//! | `gevent.wait()` with no objects (until nothing else runs) | [`wait_others(timeout)`](wait_others) → `bool` (none left?) |
//! | `gevent.sleep(s)`, `gevent.sleep(0)` | [`sleep(dur)`](sleep), [`yield_now()`](yield_now) |
//! | `gevent.Timeout(s)`, `with_timeout(s, f)` | [`Timeout::new(d).run(f)`](Timeout), [`with_timeout(d, f)`](with_timeout) → `Result<R, Timeout>` |
//! | `t = Timeout.start_new(s)`, `t.pending`, `t.cancel()`, `except Timeout as e: if e is t` | [`let t = Timeout::start_new(d)`](Timeout::start_new) → [`ActiveTimeout`]: [`t.pending()`](ActiveTimeout::pending), [`t.cancel()`](ActiveTimeout::cancel) (or drop: it is `#[must_use]`, a discarded one is disarmed at once), [`t.catch(f)`](ActiveTimeout::catch) |
//! | `Timeout(None)`, `Timeout._start_new_or_dummy(None)` (no limit) | [`Timeout::start_new(None)`](Timeout::start_new): never fires |
//! | `t.start()` again after it fired or was cancelled, a wait's `timeout=` bounded by what is left of `t` | [`t.restart()`](ActiveTimeout::restart), [`t.remaining()`](ActiveTimeout::remaining) |
//! | `gevent.event.Event`, `AsyncResult` | [`event::Event`], [`event::AsyncResult`] |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore`, `Lock`, `RLock` | [`lock::Semaphore`], [`lock::BoundedSemaphore`], [`lock::Lock`], [`lock::RLock`] (guards release on drop) |
//! | a `Lock` guarding shared data (`with lock: data.append(x)`) | [`lock::Mutex<T>`](lock::Mutex): [`m.lock()`](lock::Mutex::lock) → guard with `&mut T`; safe to hold across blocking calls (a `std::sync::Mutex` is not, see below) |
//! | `gevent.local.local()` | [`local::Local::new(init)`](local::Local): [`get`](local::Local::get), [`set`](local::Local::set), [`with`](local::Local::with); one value per greenlet, dropped when it ends or with the `Local`, whichever comes first (a dropped `Local` leaves no link in a living greenlet) |
//! | `gevent.queue.Queue(n)`, `Queue()` and `Queue(0)` (no limit), `LifoQueue`, `PriorityQueue`, `Channel` (the rendezvous: `put` waits for a `get`) | [`queue::Queue::bounded(n)`](queue::OrderedQueue::bounded), [`Queue::unbounded()`](queue::OrderedQueue::unbounded) and `bounded(0)`, [`queue::LifoQueue`], [`queue::PriorityQueue`], [`queue::Channel`] |
//! | `q.peek(timeout=…)`, `q.unfinished_tasks`, `for item in q`, `q.shutdown()` (blocked putters and getters raise `ShutDown`) | [`q.peek()`](queue::OrderedQueue::peek), [`peek_timeout`](queue::OrderedQueue::peek_timeout), [`q.unfinished_tasks()`](queue::OrderedQueue::unfinished_tasks), [`for item in &q`](queue::OrderedQueue::iter), [`q.close()`](queue::OrderedQueue::close) (→ [`queue::PutError::Closed`], [`queue::GetError::Closed`]; the closable forms [`send`](queue::OrderedQueue::send)/[`recv`](queue::OrderedQueue::recv)) |
//! | `Channel.put_nowait`, `get_nowait` | [`ch.put_nowait(x)`](queue::Channel::put_nowait) (a getter must be waiting), [`ch.get_nowait()`](queue::Channel::get_nowait) (a putter must be waiting) |
//! | `Channel.peek()`, `qsize()`/`empty()`/`full()` (0, true, true), `balance`, `for x in channel` (ended by a `StopIteration` put) | [`ch.peek()`](queue::Channel::peek), [`peek_nowait`](queue::Channel::peek_nowait), [`qsize`](queue::Channel::qsize)/[`empty`](queue::Channel::empty)/[`full`](queue::Channel::full), [`balance`](queue::Channel::balance), [`ch.iter()`](queue::Channel::iter) ended by [`ch.close()`](queue::Channel::close) (waiting putters get their item back: [`send`](queue::Channel::send), [`recv`](queue::Channel::recv)) |
//! | `gevent.pool.Pool(n)`, `Group` (`spawn`, `map`, `imap`, `imap_unordered`, `join`, `kill`, `free_count`, `wait_available`) | [`pool::Pool`], [`pool::Group`] |
//! | `group.join(timeout, raise_error=True)` | [`group.join_raise(timeout)`](pool::Group::join_raise) → `Err(GreenletError)` of a member (at the call) that failed, else `Ok(empty?)` |
//! | `pool.apply(f)` (inline when called from inside the pool; here `pool.map`/`imap` too, on a [`pool::Pool`]), `apply_async(f, callback=cb)`, `map_async`, `imap(…, maxsize=n)`, `full()`, `add(g)`, `add(g, blocking=False)`, `add(g, timeout=t)` → `PoolFull`, `start(g)`, `killone(g)`, `discard(g)` | [`apply`](pool::Group::apply), [`apply_async`](pool::Group::apply_async), [`apply_async_then(f, cb)`](pool::Group::apply_async_then) (`cb` gets a clone of the value, which stays readable), [`map_async`](pool::Group::map_async), [`imap(…).read_ahead(n)`](pool::IMap::read_ahead), [`full`](pool::Group::full), [`add`](pool::Group::add), [`try_add`](pool::Group::try_add), [`add_timeout`](pool::Group::add_timeout) → [`pool::PoolFull`], [`start`](pool::Group::start), [`killone`](pool::Group::killone), [`discard`](pool::Group::discard) |
//! | `gevent.signal_handler(signum, handler)`, waiting for a signal | [`signal::signal_handler(signum, f)`](signal::signal_handler) (each delivery runs `f` in a greenlet: it may block) → [`signal::SignalHandler`]; [`signal::Signals`] to `recv()` them in a greenlet |
//! | `gevent.threadpool.ThreadPool`, `get_hub().threadpool.apply(f)` | [`threadpool::ThreadPool`], [`threadpool::apply(f)`](threadpool::apply) |
//! | `gevent.subprocess`: `Popen`, `communicate`, `wait(timeout)`, `check_output` | [`subprocess::Command`] → [`subprocess::Child`] (coroutine pipes, an exit wait that parks the greenlet, no zombies), [`communicate`](subprocess::Child::communicate), [`wait_timeout`](subprocess::Child::wait_timeout), [`subprocess::check_output`]; the full table in [`subprocess`] |
//! | `ThreadPool.map(f, items)` | [`ThreadPool::map(f, items)`](threadpool::ThreadPool::map) |
//! | `gevent.fileobject.FileObjectThread(f)`, `open()` on a slow disk without freezing the hub | [`fs::File::open(path)`](fs::File) (`Read`/`Write` on the thread pool), [`fs::read`], [`fs::write`], [`fs::metadata`], [`fs::read_dir`], [`fs::create_dir`], [`fs::rename`], [`fs::remove_file`], [`fs::OpenOptions`] |
//! | `gevent.config.monitor_thread`, `max_blocking_time` | [`monitor::start(threshold)`](monitor::start), `MAYFLY_MONITOR_MS=100` |
//! | `gevent.socket.socket` (patched) | [`net::TcpStream`], [`net::TcpListener`], [`net::UdpSocket`], [`net::UnixStream`] |
//! | `sock.dup()`, `getpeername()`, `getsockname()` on `AF_UNIX` | [`UnixStream::try_clone`](net::UnixStream::try_clone), [`peer_addr`](net::UnixStream::peer_addr), [`local_addr`](net::UnixStream::local_addr); [`UnixListener::local_addr`](net::UnixListener::local_addr), [`try_clone`](net::UnixListener::try_clone) |
//! | `sock.recv(n)`, `sendall`, `settimeout` | [`recv(n)`](net::TcpStream::recv) → `Bytes`, [`sendall`](net::TcpStream::sendall), [`settimeout`](net::TcpStream::settimeout), plus [`recv_exact`](net::TcpStream::recv_exact) |
//! | `socket.create_connection(("host", port))`, gevent's thread-pool resolver | [`net::TcpStream::connect("host:port")`](net::TcpStream::connect): names resolved on the thread pool (a [`Timeout`] bounds the lookup), numeric addresses parsed on the spot; [`net::resolve`] |
//! | `socket.getaddrinfo(host, port, family, type)` (service names such as `"http"`), `gethostbyname`, `getnameinfo`, `create_connection(addr, timeout)` with a name | [`net::getaddrinfo`] with [`net::lookup::Hints`] → [`net::lookup::AddrInfo`], [`net::gethostbyname`], [`net::getnameinfo`]: the C library's calls on the thread pool; [`TcpStream::connect_timeout("host:port", t)`](net::TcpStream::connect_timeout) (the lookup within `t`) |
//! | `socket.sendfile(file, offset, count)`, gevent's `examples/geventsendfile.py` (`sendfile` looped on `EAGAIN` with `wait_write`) | [`net::TcpStream::sendfile(&file, offset, len)`](net::TcpStream::sendfile) (parks on a full send buffer, under the socket's write timeout and the active [`Timeout`]), [`sendfile_all`](net::TcpStream::sendfile_all); `examples/geventsendfile.rs` |
//! | `gevent.socket.wait_read(fileno, timeout)`, `wait_write(fileno, timeout)` on any fd | [`net::wait_read(&fd, timeout)`](net::wait_read), [`net::wait_write`] (any `AsFd`: a pipe, a socket pair, a FIFO; mayfly's sockets too) → `TimedOut` after `timeout`, the active [`Timeout`] unwinds; a regular file is an `InvalidInput` error (epoll refuses it) |
//! | `f = sock.makefile(); f.readline()`, `for line in f` | [`net::LineReader::new(conn)`](net::LineReader): [`readline()`](net::LineReader::readline) (keeps `\n`), [`lines()`](net::LineReader::lines); a timeout keeps the partial line; [`net::DEFAULT_MAX_LINE`] |
//! | `gevent.server.StreamServer(addr, handle)` | [`server::StreamServer::bind(addr, handle)`](server::StreamServer) |
//! | `StreamServer(unix_listener, handle)` (an `AF_UNIX` listener) | [`StreamServer::bind_unix(path, handle)`](server::StreamServer::bind_unix) → [`server::UnixStreamServer`] (`max_connections`, `pool`, timeouts, `start` → [`server::RunningUnixServer`]: `stats`, `stop(grace)`, `serve_forever`); no per-peer cap |
//! | `gevent.server.DatagramServer(addr, handle)` | [`server::DatagramServer::bind(addr, \|data, peer, sock\| …)`](server::DatagramServer) |
//! | `server.serve_forever()` (stopped by `server.stop()` or by killing its greenlet), `stop_accepting()`, `start_accepting()`, `started` | [`StreamServer::serve_forever`](server::StreamServer::serve_forever), [`RunningServer::serve_forever`](server::RunningServer::serve_forever) on a clone of the handle, [`stop`](server::RunningServer::stop), [`stop_accepting`](server::RunningServer::stop_accepting), [`start_accepting`](server::RunningServer::start_accepting), [`started`](server::RunningServer::started); [`server::DEFAULT_STOP_GRACE`]; [`StreamServer::serve_forever`](server::StreamServer::serve_forever) and [`DatagramServer::serve_forever`](server::DatagramServer::serve_forever) both return `io::Result<()>` |
//! | `gevent.ssl`, `ssl.SSLContext.wrap_socket`, `StreamServer(..., ssl_context=ctx)` | [`tls`]: [`tls::TlsAcceptor`], [`tls::TlsConnector`], [`tls::TlsStream`], [`server::StreamServer::bind_tls`] (the module's own table maps the rest) |
//! | a script's top level | [`run(\|\| main())`](run) |
//! | `LoopExit` in the main greenlet ("This operation would block forever") | `run`'s main greenlet, about to wait without a deadline on a mayfly primitive (join, event, queue, lock, pool) when it is the only greenlet left, no thread-pool job or child process is in flight and every thread of the process is mayfly's own, panics with `LoopExit: greenlet "main" (#1) would wait for ever: …`, which [`run`] carries to its caller. Not detected: a deadlock among several greenlets (gevent's hub sees it; here each waiter's wake-up sources are not tracked), and any process with a thread mayfly did not start (a test harness's, your own: it could hold a handle and wake the greenlet at any time, since mayfly's primitives are `Send + Sync`) — there the wait hangs as before |
//! | gevent's `examples/`: `portforwarder.py`, `concurrent_download.py`, `threadpool.py`, `unixsocket_server.py` + `unixsocket_client.py`, `dns_mass_resolve.py`, `processes.py`, `geventsendfile.py` | `examples/portforwarder.rs`, `concurrent_download.rs` (a local HTTP server instead of the network), `threadpool.rs`, `unixsocket.rs` (both sides), `dns_mass_resolve.rs` (local names), `processes.rs`, `geventsendfile.rs`: `cargo run --example NAME`, each run by `tests/examples.rs` or its own test |
//!
//! ```
//! use std::time::{Duration, Instant};
//! // The course's eat/play example: two tasks that each sleep, run concurrently.
//! let took = mayfly::run(|| {
//!     let t = Instant::now();
//!     let eat = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(200)); "ate" });
//!     let play = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(100)); "played" });
//!     mayfly::joinall(&[eat, play], Default::default()).unwrap();
//!     t.elapsed()
//! });
//! assert!(took < Duration::from_millis(290)); // the longest, not the sum
//! ```
//!
//! The course's road to gevent — two generators resumed by hand, two greenlets that switch
//! to each other explicitly, then spawn/join — is `runtime/examples/road_to_gevent.rs`
//! (`cargo run -p mayfly --example road_to_gevent`): the same work three ways, the output
//! explained.
//!
//! ## Waits: plain, `_timeout`, `_deadline`
//!
//! Every blocking wait comes in three forms, as in `event-listener`: the plain name waits
//! without limit (or, where gevent's signature takes `timeout=None`, takes an
//! `Option<Duration>`: [`Greenlet::join`], [`event::Event::wait`], [`queue::Queue::join`],
//! [`pool::Group::join`]); `name_timeout(Duration)` waits at most that long;
//! `name_deadline(Instant)` waits until that instant. For example [`Greenlet::get`],
//! [`Greenlet::get_timeout`], [`Greenlet::get_deadline`]; [`lock::Semaphore::acquire`],
//! [`acquire_timeout`](lock::Semaphore::acquire_timeout),
//! [`acquire_deadline`](lock::Semaphore::acquire_deadline); [`sleep`] and [`sleep_until`];
//! [`with_timeout`] and [`with_deadline`].
//!
//! ## One worker thread
//!
//! The runtime configures `may` with one worker before anything touches `may`: the first call
//! that spawns, parks, sleeps or opens a socket starts it ([`Config`] sets the stack size
//! first, or the `MAYFLY_STACK_SIZE` environment variable). Creating a primitive (a queue, a
//! lock, an event, a pool) does not start it, so they can be made before [`Config::start`]. A process has the worker, may's timer thread (idle:
//! mayfly never uses it), mayfly's timer thread, and your own threads. Use several processes sharing a port
//! ([`net::Bind::reuse_port`]) to use several cores — "multi-process + coroutines".
//!
//! Greenlets are cooperative: one that computes for a long time, or calls a blocking
//! function that is not mayfly's (`std::thread::sleep`, `std::fs`, `std::net`), stops every
//! other greenlet until it returns.
//!
//! ## Differences from gevent
//!
//! Deliberate, or forced by Rust or by `may`:
//!
//! - **A killed greenlet is not "successful".** gevent treats `GreenletExit` as success
//!   (`successful()` is true, `value` is the exception); here [`Greenlet::successful`] is
//!   false and [`Greenlet::exception`] is [`GreenletError::Killed`] (with the
//!   [`kill_with`](Greenlet::kill_with) reason, if any). Kills raise no exception object the
//!   greenlet could catch and ignore: it unwinds (destructors run) and ends; it reads the
//!   reason with [`kill_reason`] while unwinding.
//! - **A greenlet that is unwinding from a kill cannot block**: may does not park a
//!   cancelled coroutine, so a destructor that waits would spin. Spawn a greenlet for
//!   clean-up that must wait (link callbacks already run in a greenlet of their own).
//! - **A pool of size 0 is a pool of one**: [`pool::Pool::new(0)`](pool::Pool::new) (gevent's
//!   `Pool(0)` is always full). A queue of size 0 is unbounded, as in gevent
//!   ([`queue::Queue::bounded(0)`](queue::OrderedQueue::bounded) is gevent's and Python's
//!   `Queue(0)`); the size-0 hand-over is [`queue::Channel`].
//! - **Timeouts are caught by scope, not by `except`**: an expiry unwinds to the
//!   [`with_timeout`] or [`ActiveTimeout::catch`] that owns it; one nobody catches ends the
//!   greenlet as [`GreenletError::Panicked`] with a message that says so. There is no
//!   `Timeout(seconds, exception)`: the error is always [`Timeout`].
//! - **[`wait`] returns indices** into the slice it was given (the objects are of different
//!   types); [`iwait`] yields the objects, and [`IWait::next_index`] their indices.
//! - **A closed queue fails loudly**: gevent's `shutdown` raises `ShutDown`; here
//!   [`close`](queue::OrderedQueue::close) makes the plain `put`/`get` panic and the
//!   closable forms ([`send`](queue::OrderedQueue::send), [`recv`](queue::OrderedQueue::recv),
//!   the `_timeout`/`_nowait` forms) return [`queue::PutError::Closed`] /
//!   [`queue::GetError::Closed`].
//! - **No monkey-patching**: `std::net`, `std::fs` and `std::thread::sleep` block the one
//!   worker. Use [`net`], [`fs`], [`threadpool`] and [`sleep`].
//! - **No `rawlink`**: [`Greenlet::link`] callbacks always run in a greenlet of their own
//!   (one for all of a greenlet's callbacks, in turn: a callback that blocks delays the next,
//!   where gevent starts the next one when it blocks).
//! - **`yield_now` and sockets**: [`yield_now`] lets every ready greenlet run, including
//!   just-spawned ones and those woken by timers or other threads, but socket readiness is
//!   polled only when no greenlet is ready — a greenlet spinning on `yield_now` delays I/O
//!   (gevent's loop polls between rounds). Block on the socket instead of polling it.
//! - **One worker, several processes**: multi-core is N processes sharing a port
//!   ([`net::Bind::reuse_port`]), not threads; `panic = "abort"` is refused (below).
//!
//! ## `std::sync::Mutex` and the worker
//!
//! A `std::sync::Mutex` guard held across a blocking mayfly call can freeze the whole
//! process. Greenlet A locks it, then parks (it writes to a slow socket, puts into a full
//! [`queue::Queue`], sleeps); greenlet B tries to lock it and *blocks the one worker thread*
//! in the OS — so A never runs again to unlock it, and nothing else runs either. (Tried as a
//! new user would: a broadcast that held a std mutex over its client list while putting into
//! each client's full queue deadlocked the whole server.) The [`monitor`] reports it as B
//! blocking the worker and says this is the likely cause. Use [`lock::Mutex`] for anything
//! held across a blocking call; a std mutex is fine for short sections without one.
//!
//! ## `panic = "unwind"` only
//!
//! [`Greenlet::kill`] and an expired [`Timeout`] unwind the greenlet's stack (so its
//! destructors run). With `panic = "abort"` the first of them would end the process without a
//! word, so mayfly refuses to compile under it (a `compile_error!` names the fix: remove
//! `panic = "abort"` from your `[profile.*]` sections).
//!
//! ## Soundness
//!
//! [`spawn`] is a safe function wrapping may's `unsafe` spawn. may states two hazards:
//!
//! 1. **Thread-local storage across a switch.** A coroutine resumed on another OS thread than
//!    the one it yielded on would read another thread's thread-locals (the compiler may even
//!    cache a thread-local's address across the switch). With one worker, the only ways a
//!    coroutine can be resumed elsewhere are may's *timer thread*, which resumes coroutines
//!    whose `sleep`/`park_timeout` expired, and may's cancellation, which resumes where it is
//!    called from. mayfly closes both:
//!    - No greenlet ever waits on may's timer. Every mayfly wait parks without a timeout and
//!      registers its deadline with mayfly's own timer thread (`mayfly-timer`), which never
//!      runs a coroutine: when a deadline passes it only *unparks* the greenlet, and an
//!      unpark from a thread that is not a may worker pushes the greenlet onto the worker's
//!      global queue. Socket timeouts use may's I/O timers, which the worker itself runs in
//!      its event loop, or, for a `StreamServer`'s connections, a sweep greenlet that wakes
//!      the parked reader through may's `WaitIoWaker` (which queues it on the worker).
//!    - [`Greenlet::kill`] (may's cancel) only queues the victim: on the worker's local queue
//!      when called from a greenlet, on the worker's global queue when called from another OS
//!      thread. Either way it resumes, and unwinds, on the worker.
//!    - A new greenlet is queued for the worker too: on its local queue when spawned on
//!      the worker (vendor/may PATCHED.md, "Spawning onto the spawner's run queue"), on its
//!      global queue when spawned from another OS thread.
//!    - Other OS threads only ever *unpark* greenlets (which queues them for the worker).
//!
//!    Every blocking primitive additionally checks, after it resumes, that it is on the worker
//!    and hops back if it is not (a no-op by the argument above). The test
//!    `runtime/tests/thread_identity.rs` records the OS thread before and after every
//!    blocking primitive — sleep, timeouts, joins with timeouts, socket timeouts, kills — and
//!    asserts it is always the worker.
//! 2. **Stack overflow.** may's stacks have a guard page below them; overflowing faults there
//!    instead of writing over other memory. The default stack is 64 KiB
//!    in an optimised build and 256 KiB in a debug one ([`hub::DEFAULT_STACK_SIZE`]: the
//!    same calls need several times the stack at opt-level 0); deep recursion needs [`Builder::stack_size`] (one
//!    greenlet) or [`Config::stack_size`] / `MAYFLY_STACK_SIZE` (all of them), in bytes. A
//!    stack costs only the pages a greenlet touches, so a larger one is cheap until used. An
//!    overflow stops the whole process (exit status 1): the frames on the stack were cut off
//!    mid-call, so nothing in them can be trusted; stderr says "coroutine has overflowed its
//!    stack" and then which greenlet (by its [`Builder::name`]) used how many bytes. Debug
//!    builds use several times the stack of release builds for the same calls: size for the
//!    build you ship, and test in it.
//!
//! You may still break the first rule yourself by calling `may`'s own timed APIs
//! (`may::coroutine::sleep`, may's channels' `recv_timeout`) inside a greenlet: use mayfly's.
//!
//! ## Errors instead of may's panics
//!
//! may panics inside spawn when a stack cannot be mapped (each greenlet costs two of the
//! process's `vm.max_map_count` mappings, ~30k greenlets at the default 65530):
//! [`Builder::spawn`] returns [`SpawnError`] instead. A panicking greenlet never takes down
//! another greenlet or the process; its message names it (`greenlet "conn-…" (#12)
//! panicked at …`) and [`Greenlet::get`] returns [`GreenletError::Panicked`].

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

// Greenlet::kill and Timeout unwind the greenlet's stack; with panic = "abort" the first kill
// or expired Timeout would end the whole process, silently. Refuse to build instead.
#[cfg(panic = "abort")]
compile_error!(
    "mayfly needs panic = \"unwind\": Greenlet::kill and Timeout unwind the greenlet's stack, \
     and with panic = \"abort\" the first kill or expired Timeout aborts the process. \
     Remove `panic = \"abort\"` from your [profile.*] sections in Cargo.toml \
     (and `-C panic=abort` from RUSTFLAGS)."
);

// Stock may 0.3.51 has a wake-up race that spins the worker forever, and stock generator
// keeps a second stack page resident per greenlet; `[patch.crates-io]` applies only inside
// the workspace that says it, so a crate depending on mayfly gets the stock ones silently.
// Their patched copies publish a marker (build.rs); refuse to build without it.
#[cfg(not(all(mayfly_patched_may, mayfly_patched_generator)))]
compile_error!(
    "mayfly needs its patched may and generator (stock may 0.3.51 has a wake-up race that \
     spins the worker at 100% CPU forever; stock generator keeps an extra stack page resident \
     per greenlet). `[patch.crates-io]` applies only in the workspace that says it, so add \
     these two lines to YOUR workspace's Cargo.toml, pointing at mayfly's checkout:\n\n\
     [patch.crates-io]\n\
     may = { path = \"PATH/TO/mayfly/vendor/may\" }\n\
     generator = { path = \"PATH/TO/mayfly/vendor/generator\" }\n\n\
     (README.md, \"Using mayfly in your own crate\"; vendor/may/PATCHED.md says what they fix)."
);

// Layers, bottom to top (a module only uses modules below it):
// - leaves: `poison` (the unpoisoned lock), `config` (plain data), `wait` (the wait list),
//   `once_slot` (a greenlet's result: written once without a lock);
// - `context` (who is running: the greenlet record, kept in may's word for the coroutine,
//   counters), `loop_watch` (switch recording, the watching thread), `worker` (the worker's identity, the hop back),
//   `worker_counter` (counters the worker adds to without a locked instruction),
//   `timer` (the timer thread), `panic_hook`;
// - `start` (start-up wiring: Config::start, ensure_started);
// - `timeout`, `park` (park_until and the shared wait loop), `sleep`, `waitable`, `greenlet`,
//   `join`, `run`;
// - the primitives: `event`, `lock`, `local`, `queue`, `pool`, `threadpool`, then `fs` (on
//   the thread pool);
// - `net`, then `server` and `signal` (signals read through a coroutine socket pair);
// - facades on top: `hub` and `monitor` (the public paths).
mod config;
mod context;
pub mod event;
pub mod fs;
mod greenlet;
pub mod hub;
mod idle;
mod join;
pub mod local;
pub mod lock;
pub mod log_limit;
mod loop_exit;
mod loop_watch;
pub mod monitor;
pub mod net;
mod once_slot;
mod panic_hook;
mod park;
mod poison;
pub mod pool;
pub mod process;
pub mod queue;
mod run;
pub mod server;
pub mod signal;
mod sleep;
pub mod stack;
mod start;
pub mod subprocess;
pub mod threadpool;
mod timeout;
mod timer;
pub mod tls;
mod wait;
mod waitable;
mod worker;
mod worker_counter;

pub use config::Config;
pub use greenlet::{
    getcurrent, greenlets_alive, kill_reason, killall, spawn, spawn_later, Builder, Current,
    Greenlet, GreenletError, KillAll, LinkId, SpawnError,
};
pub use join::{
    iwait, iwait_deadline, iwait_timeout, joinall, wait, wait_others, IWait, JoinAll, WaitOpts,
};
pub use run::run;
pub use sleep::{sleep, sleep_until, yield_now};
pub use start::StartError;
pub use timeout::{deadline_after, with_deadline, with_timeout, ActiveTimeout, Timeout};
pub use waitable::{Subscription, Waitable};
