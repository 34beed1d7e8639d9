//! Number and date formats the report's text shares: the tables ([`super::table`]), the
//! legend's warnings ([`super::legend`]) and the verdict ([`super::verdict`]) write counts
//! alike; the metadata's date is [`rfc3339`]. A leaf: it imports nothing of the report.

/// `12345` as `12,345`.
///
/// ```
/// use mayfly_clients::report::format::thousands;
/// assert_eq!(thousands(9998), "9,998");
/// assert_eq!(thousands(1_000_000), "1,000,000");
/// assert_eq!(thousands(12), "12");
/// ```
pub fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time, `2023-11-14T22:13:20Z` (the civil
/// calendar, Howard Hinnant's days-to-civil algorithm; no library).
///
/// ```
/// use mayfly_clients::report::format::rfc3339;
/// assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
/// assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
/// assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
/// ```
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
