//! Human-readable durations ("300s", "500ms", "2m", "24h"; a bare number is seconds), sizes
//! ("1048576", "512K", "16G", powers of 1024) and counts ("500", "10k", "1.5M", powers of
//! 1000): parsing with typed errors that say what is wrong and what is accepted, and the
//! [`HumanDuration`] and [`HumanSize`] flag types whose `Display` prints a library constant
//! the way `--help` shows it, so clap's defaults come from the constants
//! (`default_value_t`). [`UNITS`] is the note `--help` carries.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What every command's `--help` says about the values it takes.
pub const UNITS: &str = "Values: durations as 10s, 500ms, 2m, 24h (a bare number is seconds); \
sizes as 4096, 512K, 16G (powers of 1024); counts as 500, 10k, 2M (powers of 1000).";

/// Why a duration flag was refused. Each variant holds the (trimmed) text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// No number before the unit (empty, negative, `abc`, `1.2.3s`).
    #[error("{0:?} is not a duration like 10s, 500ms, 2m or 24h")]
    NotANumber(String),
    /// A unit other than ms, s, m or h.
    #[error("{0:?}: unknown unit: durations take ms, s, m or h (a bare number is seconds)")]
    UnknownUnit(String),
    /// A number too big to be a float at all.
    #[error("{0:?} is not a valid duration")]
    Invalid(String),
    /// More seconds than a `Duration` holds.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Why a size flag was refused. Each variant holds the (trimmed) text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSizeError {
    /// No whole number before the unit (empty, negative, beyond u64).
    #[error("{0:?} is not a size like 1048576, 512K, 16G")]
    NotANumber(String),
    /// A fraction (`1.5M`): sizes are whole bytes; `.1` holds the same size in a smaller
    /// unit when there is one (`1536K`).
    #[error("{0:?}: sizes are whole numbers{hint}", hint = fraction_hint(.1))]
    Fraction(String, Option<String>),
    /// A unit other than K, M, G or T (optionally followed by B or iB).
    #[error("{0:?}: unknown unit: sizes take K, M, G or T (powers of 1024, optionally followed by B or iB), or none for bytes")]
    UnknownUnit(String),
    /// The number times the unit does not fit in 64 bits.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// `; write 1536K` for a fraction that has a whole equivalent.
fn fraction_hint(whole: &Option<String>) -> String {
    whole
        .as_ref()
        .map(|w| format!("; write {w}"))
        .unwrap_or_default()
}

/// Parses `10s`, `500ms`, `1.5m`, `24h`; a bare number is seconds.
///
/// # Errors
///
/// [`ParseDurationError`] says which part is wrong.
pub fn parse_duration(s: &str) -> Result<Duration, ParseDurationError> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| ParseDurationError::NotANumber(s.to_owned()))?;
    let secs = match unit {
        "s" | "" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(ParseDurationError::UnknownUnit(s.to_owned())),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(ParseDurationError::Invalid(s.to_owned()));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| ParseDurationError::TooLarge(s.to_owned()))
}

/// Why a count flag was refused. Each variant holds the (trimmed) text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseCountError {
    /// No number before the unit, or a number that is not a whole count.
    #[error("{0:?} is not a count like 500, 10k or 2M")]
    NotANumber(String),
    /// A unit other than k, M or G.
    #[error("{0:?}: unknown unit: counts take k (thousand), M (million) or G (billion), or none")]
    UnknownUnit(String),
    /// Too large for this machine's counts.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses `500`, `10k`, `10K`, `1.5k`, `2M`, `1G` (powers of 1000) into a whole count.
///
/// ```text
/// "10k" → 10000    "1.5k" → 1500    "2M" → 2000000    "1.5" → error (not whole)
/// ```
///
/// # Errors
///
/// [`ParseCountError`] says which part is wrong.
pub fn parse_count(s: &str) -> Result<u64, ParseCountError> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, ""), |i| (&s[..i], &s[i..]));
    if num.is_empty() {
        return Err(ParseCountError::NotANumber(s.to_owned()));
    }
    let scale: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" | "m" => 1_000_000,
        "G" | "g" => 1_000_000_000,
        _ => return Err(ParseCountError::UnknownUnit(s.to_owned())),
    };
    let bad = || ParseCountError::NotANumber(s.to_owned());
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    // The fraction in units of `scale`: exact, or refused (`1.5` is not a count).
    let mut part = 0u64;
    let mut unit_left = scale;
    for d in frac.bytes() {
        unit_left /= 10;
        if unit_left == 0 {
            if d != b'0' {
                return Err(bad());
            }
            continue;
        }
        part += u64::from(d - b'0') * unit_left;
    }
    whole
        .checked_mul(scale)
        .and_then(|n| n.checked_add(part))
        .ok_or_else(|| ParseCountError::TooLarge(s.to_owned()))
}

/// A count flag's value parser: [`parse_count`] as a `usize`.
///
/// # Errors
///
/// [`ParseCountError`]'s message.
pub fn count(s: &str) -> Result<usize, String> {
    let n = parse_count(s).map_err(|e| e.to_string())?;
    usize::try_from(n).map_err(|_| ParseCountError::TooLarge(s.trim().to_owned()).to_string())
}

/// Parses `1048576`, `512K`, `16G`, `1MiB`, `8kb` (units are powers of 1024, any case).
///
/// # Errors
///
/// [`ParseSizeError`] says which part is wrong.
pub fn parse_size(s: &str) -> Result<u64, ParseSizeError> {
    let s = s.trim();
    if let Some((whole, rest)) = s.split_once('.') {
        // A fraction of a unit: refused, with the same size in the next smaller unit when it
        // comes out whole (1.5M is 1536K).
        let frac_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[frac_len..];
        let hint = (|| {
            let n: f64 = format!("{whole}.{}", &rest[..frac_len]).parse().ok()?;
            let units = ["", "K", "M", "G", "T"];
            let u = unit.trim().to_ascii_uppercase();
            let i = units
                .iter()
                .position(|x| u.starts_with(x) && !x.is_empty())?;
            let smaller = n * 1024.0;
            (smaller.fract() == 0.0).then(|| format!("{smaller:.0}{}", units[i - 1]))
        })();
        return Err(ParseSizeError::Fraction(s.to_owned(), hint));
    }
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| (&s[..i], &s[i..]));
    let n: u64 = num
        .parse()
        .map_err(|_| ParseSizeError::NotANumber(s.to_owned()))?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(ParseSizeError::UnknownUnit(s.to_owned())),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| ParseSizeError::TooLarge(s.to_owned()))
}

/// A duration flag: parsed by [`parse_duration`], shown in whole hours, seconds or
/// milliseconds (`24h`, `300s`, `60s`, `500ms`), whichever is exact first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            let s = d.as_secs();
            if s > 0 && s.is_multiple_of(3600) {
                write!(f, "{}h", s / 3600)
            } else {
                write!(f, "{s}s")
            }
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}s", d.as_secs_f64())
        }
    }
}

impl FromStr for HumanDuration {
    type Err = ParseDurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(HumanDuration)
    }
}

/// A size flag: parsed by [`parse_size`], shown in the largest unit that is exact (`16G`,
/// `1M`, `256K`, `1000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            if n > 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

impl FromStr for HumanSize {
    type Err = ParseSizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size(s).map(HumanSize)
    }
}

/// `items` joined with commas: the default of a comma-separated list flag.
pub fn comma_list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("10s"), Ok(secs(10)));
        assert_eq!(parse_duration("10"), Ok(secs(10)));
        assert_eq!(parse_duration(" 5s "), Ok(secs(5)));
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("2m"), Ok(secs(120)));
        assert_eq!(parse_duration("1.5m"), Ok(secs(90)));
        assert_eq!(parse_duration("24h"), Ok(secs(86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn durations_refused_with_the_reason() {
        use ParseDurationError::*;
        assert_eq!(parse_duration(""), Err(NotANumber(String::new())));
        assert_eq!(parse_duration("  "), Err(NotANumber(String::new())));
        assert_eq!(parse_duration("-1s"), Err(NotANumber("-1s".into())));
        assert_eq!(parse_duration("abc"), Err(NotANumber("abc".into())));
        assert_eq!(parse_duration("1.2.3s"), Err(NotANumber("1.2.3s".into())));
        assert_eq!(parse_duration("5x"), Err(UnknownUnit("5x".into())));
        assert_eq!(parse_duration("5 s"), Err(UnknownUnit("5 s".into())));
        assert_eq!(parse_duration("1e3s"), Err(UnknownUnit("1e3s".into())));
        let huge = "9".repeat(400);
        assert_eq!(parse_duration(&huge), Err(Invalid(huge.clone())));
        // Finite but past u64::MAX seconds: an error, not a panic.
        let big = "99999999999999999999999h";
        assert_eq!(parse_duration(big), Err(TooLarge(big.into())));
    }

    #[test]
    fn duration_messages_are_the_flags_messages() {
        let msg = |s: &str| parse_duration(s).unwrap_err().to_string();
        assert_eq!(
            msg("abc"),
            r#""abc" is not a duration like 10s, 500ms, 2m or 24h"#
        );
        assert_eq!(
            msg("5x"),
            r#""5x": unknown unit: durations take ms, s, m or h (a bare number is seconds)"#
        );
        assert!(msg(&"9".repeat(310)).ends_with("is not a valid duration"));
    }

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("8k"), Ok(8 << 10));
        assert_eq!(parse_size("1KiB"), Ok(1 << 10));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("7B"), Ok(7));
        assert_eq!(parse_size("1 G"), Ok(1 << 30));
        assert_eq!(parse_size(" 64K "), Ok(64 << 10));
    }

    #[test]
    fn sizes_refused_with_the_reason() {
        use ParseSizeError::*;
        assert_eq!(parse_size(""), Err(NotANumber(String::new())));
        assert_eq!(parse_size("-1K"), Err(NotANumber("-1K".into())));
        assert_eq!(
            parse_size("1.5G"),
            Err(Fraction("1.5G".into(), Some("1536M".into())))
        );
        assert_eq!(parse_size("1.5"), Err(Fraction("1.5".into(), None)));
        assert_eq!(parse_size("K"), Err(NotANumber("K".into())));
        assert_eq!(parse_size("1P"), Err(UnknownUnit("1P".into())));
        assert_eq!(
            parse_size("99999999999999999999"),
            Err(NotANumber("99999999999999999999".into()))
        );
        assert_eq!(parse_size("16777216T"), Err(TooLarge("16777216T".into())));
        assert_eq!(
            parse_size("17179869184G"),
            Err(TooLarge("17179869184G".into()))
        );
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
    }

    #[test]
    fn size_messages_are_the_flags_messages() {
        let msg = |s: &str| parse_size(s).unwrap_err().to_string();
        assert_eq!(msg(""), r#""" is not a size like 1048576, 512K, 16G"#);
        assert_eq!(
            msg("1P"),
            r#""1P": unknown unit: sizes take K, M, G or T (powers of 1024, optionally followed by B or iB), or none for bytes"#
        );
        assert_eq!(
            msg("1.5M"),
            r#""1.5M": sizes are whole numbers; write 1536K"#
        );
        assert_eq!(msg("17179869184G"), r#""17179869184G" is too large"#);
    }

    #[test]
    fn defaults_print_as_before_and_parse_back() {
        for (d, text) in [
            (secs(300), "300s"),
            (secs(60), "60s"),
            (secs(30), "30s"),
            (secs(10), "10s"),
            (secs(5), "5s"),
            (secs(86_400), "24h"),
            (secs(3600), "1h"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(10), "10ms"),
        ] {
            assert_eq!(HumanDuration(d).to_string(), text);
            assert_eq!(text.parse::<HumanDuration>(), Ok(HumanDuration(d)));
        }
        assert_eq!(
            HumanDuration(Duration::from_micros(1500)).to_string(),
            "0.0015s"
        );
        for (n, text) in [
            (16 << 30, "16G"),
            (1 << 30, "1G"),
            (1 << 20, "1M"),
            (256 << 10, "256K"),
            (64 << 10, "64K"),
            (8 << 10, "8K"),
            (3 << 40, "3T"),
            (1000, "1000"),
            (0, "0"),
        ] {
            assert_eq!(HumanSize(n).to_string(), text);
            assert_eq!(text.parse::<HumanSize>(), Ok(HumanSize(n)));
        }
    }

    #[test]
    fn counts_take_thousands_and_millions() {
        use ParseCountError::*;
        for (text, n) in [
            ("500", 500),
            ("10k", 10_000),
            ("10K", 10_000),
            ("1.5k", 1_500),
            ("2M", 2_000_000),
            ("0.25M", 250_000),
            ("1G", 1_000_000_000),
            (" 7 ", 7),
            ("1.000", 1),
        ] {
            assert_eq!(parse_count(text), Ok(n), "{text}");
        }
        assert_eq!(parse_count("1.5"), Err(NotANumber("1.5".into())));
        assert_eq!(parse_count("1.0001k"), Err(NotANumber("1.0001k".into())));
        assert_eq!(parse_count(""), Err(NotANumber(String::new())));
        assert_eq!(parse_count("-1"), Err(NotANumber("-1".into())));
        assert_eq!(parse_count("k"), Err(NotANumber("k".into())));
        assert_eq!(parse_count("5x"), Err(UnknownUnit("5x".into())));
        assert_eq!(
            parse_count("99999999999G"),
            Err(TooLarge("99999999999G".into()))
        );
        assert_eq!(
            count("5x").unwrap_err(),
            r#""5x": unknown unit: counts take k (thousand), M (million) or G (billion), or none"#
        );
    }

    #[test]
    fn comma_lists() {
        assert_eq!(comma_list(&[500, 2000, 10000]), "500,2000,10000");
        assert_eq!(comma_list::<u8>(&[]), "");
    }
}
