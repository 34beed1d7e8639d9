//! The two summaries of a sample of measurements the clients report: its median and its range.
//! Leaf module: `compare`, its report and `file_bench` all take these from here.

/// The median of `v` (the mean of the middle two for an even count); `None` if empty.
///
/// ```
/// use mayfly_clients::sample::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(median(&[]), None);
/// ```
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    match s.len() {
        0 => None,
        n if n % 2 == 1 => Some(s[m]),
        _ => Some((s[m - 1] + s[m]) / 2.0),
    }
}

/// The lowest and the highest of `v`; `None` if empty.
///
/// ```
/// use mayfly_clients::sample::range;
/// assert_eq!(range(&[0.7, 0.6, 0.9]), Some((0.6, 0.9)));
/// assert_eq!(range(&[]), None);
/// ```
pub fn range(v: &[f64]) -> Option<(f64, f64)> {
    let first = *v.first()?;
    Some(
        v.iter()
            .fold((first, first), |(lo, hi), &x| (lo.min(x), hi.max(x))),
    )
}
