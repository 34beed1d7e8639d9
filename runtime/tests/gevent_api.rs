//! The gevent API beyond the basics: the Timeout object, queue shut-down, links and killall,
//! wait/iwait over mixed objects, the pool extras, greenlet-local storage and the greenlet
//! Mutex. Checks ported from gevent's tests name the test they come from.

use std::time::Duration;

use mayfly::{spawn, GreenletError, Timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Bounds every wait below: a regression fails instead of hanging.
const BOUND: Duration = Duration::from_secs(5);
/// A timeout that should expire (test__timeout.py's SHOULD_EXPIRE).
const SHOULD_EXPIRE: Duration = Duration::from_millis(10);
/// A wait that should outlast SHOULD_EXPIRE (test__timeout.py's SHOULD_NOT_EXPIRE).
const SHOULD_NOT_EXPIRE: Duration = Duration::from_millis(40);

/// test__timeout.py, test_expires: a started Timeout interrupts the blocking call, is caught
/// as itself, and is no longer pending.
#[test]
fn timeout_object_expires_and_is_caught_as_itself() {
    mayfly::run(|| {
        let t = Timeout::start_new(SHOULD_EXPIRE);
        assert!(t.pending());
        assert_eq!(t.after(), Some(SHOULD_EXPIRE));
        let r = t.catch(|| mayfly::sleep(BOUND));
        assert_eq!(
            r,
            Err(Timeout {
                after: SHOULD_EXPIRE
            })
        );
        assert!(!t.pending());
        // It fired once: later calls are no longer interrupted by it.
        assert_eq!(t.catch(|| mayfly::sleep(ms(1))), Ok(()));
    });
}

/// test__timeout.py, test_cancel: a cancelled Timeout never fires.
#[test]
fn timeout_object_cancel_disarms_it() {
    mayfly::run(|| {
        let t = Timeout::start_new(SHOULD_EXPIRE);
        t.cancel();
        assert!(!t.pending());
        assert_eq!(t.catch(|| mayfly::sleep(SHOULD_NOT_EXPIRE)), Ok(()));
        t.cancel(); // idempotent
                    // Dropping disarms too.
        {
            let _dropped = Timeout::start_new(SHOULD_EXPIRE);
        }
        mayfly::sleep(SHOULD_NOT_EXPIRE);
    });
}

/// Nesting: an inner timeout's expiry is not caught by an outer one's `catch`, and the other
/// way round; `Timeout::start_new(None)` never fires.
#[test]
fn timeout_objects_nest_and_none_is_no_limit() {
    mayfly::run(|| {
        let outer = Timeout::start_new(BOUND);
        let r = outer.catch(|| {
            let inner = Timeout::start_new(SHOULD_EXPIRE);
            inner.catch(|| mayfly::sleep(BOUND))
        });
        assert_eq!(
            r,
            Ok(Err(Timeout {
                after: SHOULD_EXPIRE
            }))
        );
        assert!(outer.pending());
        outer.cancel();

        let outer = Timeout::start_new(SHOULD_EXPIRE);
        let r = outer.catch(|| {
            let inner = Timeout::start_new(BOUND);
            inner.catch(|| mayfly::sleep(BOUND)) // the outer one fires: passes through
        });
        assert_eq!(
            r,
            Err(Timeout {
                after: SHOULD_EXPIRE
            })
        );

        let none = Timeout::start_new(None);
        assert!(!none.pending() && none.after().is_none());
        assert_eq!(
            none.catch(|| {
                mayfly::sleep(ms(5));
                3
            }),
            Ok(3)
        );
    });
}

/// A Timeout object bounds socket calls too, and an uncaught expiry ends the greenlet with a
/// message that says what happened.
#[test]
fn uncaught_timeout_object_names_itself_in_the_error() {
    mayfly::run(|| {
        let g = spawn(|| {
            let _t = Timeout::start_new(SHOULD_EXPIRE);
            mayfly::sleep(BOUND);
        });
        match g.get_timeout(BOUND) {
            Err(GreenletError::Panicked { message, .. }) => {
                assert!(
                    message.contains("Timeout") && message.contains("nothing caught it"),
                    "{message}"
                )
            }
            other => panic!("expected an uncaught-timeout error, got {other:?}"),
        }
    });
}
