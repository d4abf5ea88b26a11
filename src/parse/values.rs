//! Byte-level parsers for the values nginx writes: numbers, timestamps and upstream lists.
//!
//! They work on `&[u8]` without allocating, and treat nginx's `-` (an empty variable) as absent.

/// nginx writes an empty variable as `-`; an empty field is absent too.
#[inline]
pub(crate) fn present(v: &[u8]) -> Option<&[u8]> {
    if v.is_empty() || v == b"-" {
        None
    } else {
        Some(v)
    }
}

/// Parses an unsigned decimal integer (`body_bytes_sent`, `status`).
#[inline]
pub(crate) fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// Parses a non-negative decimal seconds value like `0.004` or `12`.
#[inline]
pub fn parse_seconds(v: &[u8]) -> Option<f64> {
    let (int, frac) = match memchr::memchr(b'.', v) {
        Some(p) => (&v[..p], &v[p + 1..]),
        None => (v, &[][..]),
    };
    if int.is_empty() || int.len() > 12 || frac.len() > 9 {
        return None;
    }
    let i = parse_u64(int)? as f64;
    if frac.is_empty() {
        return Some(i);
    }
    let f = parse_u64(frac)? as f64;
    Some(i + f / POW10[frac.len()])
}

const POW10: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Summary of an `$upstream_*_time` list such as `0.001, 0.002 : 0.003` or `-`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpstreamTimes {
    /// Sum of the numeric entries; `None` when no entry was a number.
    pub sum: Option<f64>,
    /// Whether the last entry is a number (the last upstream answered).
    pub(crate) last_is_number: bool,
}

/// Parses an upstream timing list: entries separated by `, ` (retries) or ` : ` (internal
/// redirects to another upstream group); `-` entries were not measured and are skipped.
#[inline]
pub fn parse_upstream_times(v: &[u8]) -> UpstreamTimes {
    let mut sum = 0.0;
    let mut any = false;
    let mut last_is_number = false;
    for entry in v.split(|&b| b == b',' || b == b':') {
        let e = trim(entry);
        if e.is_empty() {
            continue;
        }
        match parse_seconds(e) {
            Some(s) => {
                sum += s;
                any = true;
                last_is_number = true;
            }
            None => last_is_number = false,
        }
    }
    UpstreamTimes {
        sum: any.then_some(sum),
        last_is_number,
    }
}

/// Trims ASCII spaces and tabs.
#[inline]
pub(crate) fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[inline]
fn digits(v: &[u8]) -> Option<i64> {
    parse_u64(v).map(|n| n as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<f64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) as f64)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

fn month(m: &[u8]) -> Option<i64> {
    Some(match m {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// `+0330` / `-07:00` / `Z` -> seconds east of UTC.
fn offset(v: &[u8]) -> Option<i64> {
    if v == b"Z" {
        return Some(0);
    }
    let sign = match v.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &v[1..];
    let (h, m) = match rest.len() {
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
        _ => return None,
    };
    // Real zones lie within -12:00..+14:00; minutes below 60.
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Two ASCII digits at `v[i..i + 2]` (the hot path of timestamp parsing).
#[inline(always)]
fn d2(v: &[u8], i: usize) -> Option<i64> {
    let (a, b) = (
        v.get(i)?.wrapping_sub(b'0'),
        v.get(i + 1)?.wrapping_sub(b'0'),
    );
    (a < 10 && b < 10).then_some(i64::from(a) * 10 + i64::from(b))
}

/// `$time_local`: `28/Nov/2026:01:53:32 +0000` -> Unix seconds.
#[inline]
pub(crate) fn parse_time_local(v: &[u8]) -> Option<f64> {
    if v.len() != 26 || v[2] != b'/' || v[6] != b'/' || v[11] != b':' || v[20] != b' ' {
        return None;
    }
    let t = epoch(
        d2(v, 7)? * 100 + d2(v, 9)?,
        month(&v[3..6])?,
        d2(v, 0)?,
        d2(v, 12)?,
        d2(v, 15)?,
        d2(v, 18)?,
    )?;
    Some(t - offset(&v[21..])? as f64)
}

/// `$time_iso8601`: `2026-11-28T01:53:32+00:00` (fractions accepted) -> Unix seconds.
pub(crate) fn parse_time_iso8601(v: &[u8]) -> Option<f64> {
    if v.len() < 20 || v[4] != b'-' || v[7] != b'-' || !matches!(v[10], b'T' | b' ') {
        return None;
    }
    let mut t = epoch(
        digits(&v[0..4])?,
        digits(&v[5..7])?,
        digits(&v[8..10])?,
        digits(&v[11..13])?,
        digits(&v[14..16])?,
        digits(&v[17..19])?,
    )?;
    let mut rest = &v[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        let frac = &rest[1..1 + n];
        if let Some(f) = digits(&frac[..frac.len().min(9)]) {
            t += f as f64 / POW10[frac.len().min(9)];
        }
        rest = &rest[1 + n..];
    }
    Some(t - offset(rest)? as f64)
}

/// `$msec`: `1732758812.123` -> Unix seconds.
pub(crate) fn parse_msec(v: &[u8]) -> Option<f64> {
    parse_seconds(v)
}

/// Error-log time `2026/11/28 01:53:32` (nginx writes local time without a zone; read as UTC).
pub(crate) fn parse_error_time(v: &[u8]) -> Option<f64> {
    if v.len() != 19 || v[4] != b'/' || v[7] != b'/' || v[10] != b' ' {
        return None;
    }
    epoch(
        digits(&v[0..4])?,
        digits(&v[5..7])?,
        digits(&v[8..10])?,
        digits(&v[11..13])?,
        digits(&v[14..16])?,
        digits(&v[17..19])?,
    )
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-28T01:53:32Z`, millis when fractional). Cold
/// path (reports, summaries), so a maintained crate does the calendar; times outside what it
/// represents (years -9999 to 9999) are clamped, NaN is the epoch.
pub fn rfc3339(t: f64) -> String {
    let (min, max) = (
        jiff::Timestamp::MIN.as_millisecond(),
        jiff::Timestamp::MAX.as_millisecond(),
    );
    let ms = if t.is_finite() {
        ((t * 1000.0).round().clamp(min as f64, max as f64)) as i64
    } else {
        0
    };
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms > 0 {
        jiff::Timestamp::MAX
    } else {
        jiff::Timestamp::MIN
    });
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S");
    match ts.subsec_millisecond().rem_euclid(1000) {
        0 => format!("{base}Z"),
        f => format!("{base}.{f:03}Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_dates_and_zones_are_no_time() {
        assert_eq!(parse_time_local(b"31/Feb/2026:01:53:32 +0000"), None);
        assert_eq!(parse_time_local(b"28/Nov/2026:01:53:32 +9999"), None);
        assert!(parse_time_local(b"29/Feb/2024:01:53:32 +0000").is_some());
        assert_eq!(parse_time_local(b"29/Feb/2026:01:53:32 +0000"), None);
        assert_eq!(parse_time_iso8601(b"2026-04-31T00:00:00+00:00"), None);
        assert_eq!(parse_error_time(b"2026/06/31 00:00:00"), None);
    }

    #[test]
    fn upstream_lists() {
        let u = parse_upstream_times(b"0.001, 0.002 : 0.003");
        assert!((u.sum.unwrap_or(0.0) - 0.006).abs() < 1e-9);
        assert!(u.last_is_number);
        let u = parse_upstream_times(b"0.500, -");
        assert_eq!(u.sum, Some(0.5));
        assert!(!u.last_is_number);
        assert_eq!(
            parse_upstream_times(b"-"),
            UpstreamTimes {
                sum: None,
                last_is_number: false
            }
        );
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time_local(b"31/Mar/2021:12:04:07 +0000"),
            Some(1_617_192_247.0)
        );
        assert_eq!(
            parse_time_local(b"31/Mar/2021:15:34:07 +0330"),
            Some(1_617_192_247.0)
        );
        assert_eq!(
            parse_time_iso8601(b"2021-03-31T12:04:07+00:00"),
            Some(1_617_192_247.0)
        );
        assert_eq!(
            parse_time_iso8601(b"2021-03-31T12:04:07Z"),
            Some(1_617_192_247.0)
        );
        assert_eq!(
            parse_time_iso8601(b"2021-03-31T12:04:07.250Z"),
            Some(1_617_192_247.25)
        );
        assert_eq!(
            parse_error_time(b"2021/03/31 12:04:07"),
            Some(1_617_192_247.0)
        );
        assert_eq!(parse_msec(b"1617192247.123"), Some(1_617_192_247.123));
        assert_eq!(parse_time_local(b"31/Foo/2021:12:04:07 +0000"), None);
        assert_eq!(rfc3339(1_617_192_247.0), "2021-03-31T12:04:07Z");
        assert_eq!(rfc3339(1_617_192_247.5), "2021-03-31T12:04:07.500Z");
        assert_eq!(rfc3339(1_617_192_247.000_4), "2021-03-31T12:04:07Z");
        assert_eq!(rfc3339(1_617_192_247.999_6), "2021-03-31T12:04:08Z");
        assert_eq!(rfc3339(-0.5), "1969-12-31T23:59:59.500Z");
        assert_eq!(rfc3339(f64::NAN), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(f64::INFINITY), "1970-01-01T00:00:00Z");
        assert!(rfc3339(1e300).starts_with("9999-12-"), "{}", rfc3339(1e300));
        assert!(
            rfc3339(-1e300).starts_with("-9999-01-"),
            "{}",
            rfc3339(-1e300)
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_seconds(b"0.004"), Some(0.004));
        assert_eq!(parse_seconds(b"12"), Some(12.0));
        assert_eq!(parse_seconds(b"-"), None);
        assert_eq!(parse_seconds(b"1.2.3"), None);
        assert_eq!(parse_u64(b"612"), Some(612));
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(present(b"-"), None);
    }
}
