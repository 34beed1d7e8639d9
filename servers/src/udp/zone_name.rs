//! The local time zone's name at an instant, as Python's `time.strftime('%Z')` prints it:
//! the C library's abbreviation (`UTC`, `CET` or `CEST`, `JST`), from `localtime_r`'s
//! `tm_zone`, which follows `TZ` (or `/etc/localtime` without it) the way Python does.
//!
//! chrono cannot give it: its `%Z` for [`chrono::Local`] prints the offset (`+01:00`),
//! because chrono's `Local` knows offsets, not names. The time server puts this name where
//! `%Z` stands instead.
//!
//! ```
//! use mayfly_servers::udp::zone_name::local_zone_name;
//! let name = local_zone_name(0).unwrap();
//! assert!(!name.is_empty() && !name.contains('\0'));
//! ```

use std::ffi::CStr;

/// The local zone's abbreviation at `unix_secs` (seconds since the epoch): daylight saving
/// time included, so `CET` in January and `CEST` in July for `TZ=Europe/Berlin`.
///
/// `None` if the C library cannot convert the instant (out of its range) or names no zone.
///
/// Sound on glibc and musl alike: `localtime_r` writes only into the `tm` passed, and the
/// name it points to is copied out before anything else can run `tzset`; glibc never frees
/// those names, and this process never changes `TZ` while it runs.
pub fn local_zone_name(unix_secs: i64) -> Option<String> {
    // time_t is i64 here, 32 bits on some targets.
    #[allow(clippy::useless_conversion)]
    let t: libc::time_t = unix_secs.try_into().ok()?;
    // SAFETY: `tm` is plain old data (integers and one pointer), for which all-zero bytes
    // are a valid value; localtime_r overwrites it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call: `t` for reads, `tm` for writes of a
    // whole `struct tm`. localtime_r is the reentrant form: it keeps no pointer to either.
    let out = unsafe { libc::localtime_r(&t, &mut tm) };
    if out.is_null() || tm.tm_zone.is_null() {
        return None;
    }
    // SAFETY: a non-null `tm_zone` from localtime_r points to a NUL-terminated string the C
    // library keeps alive (its table of zone names); it is copied out here at once.
    let name = unsafe { CStr::from_ptr(tm.tm_zone) };
    let name = name.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_zone_for_now_and_for_the_epoch_and_none_out_of_range() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for t in [0, now] {
            let name = local_zone_name(t).expect("a zone name");
            // An abbreviation ("UTC", "CEST", "+03"), never an empty or odd string.
            assert!(
                (2..=10).contains(&name.len()) && name.chars().all(|c| c.is_ascii_graphic()),
                "{name:?}"
            );
        }
        // Past what a 32-bit year holds: glibc reports EOVERFLOW.
        assert_eq!(local_zone_name(i64::MAX), None);
    }
}
