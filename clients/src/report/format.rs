//! Number formats the report's text shares: the tables ([`super::table`]), the legend's
//! warnings ([`super::legend`]) and the verdict ([`super::verdict`]) write counts alike. A
//! leaf: it imports nothing of the report.

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
