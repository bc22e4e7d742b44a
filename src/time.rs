//! Event time: instants in microseconds since the Unix epoch, and the
//! durations rules write (`30s`, `10m`, `2h`, `7d`, `1w`).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// An instant in event time, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The wall clock.
    pub fn now() -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }

    /// Parses an RFC 3339 time with any offset; `None` also for an instant
    /// outside the years 0000 to 9999 in UTC (`9999-12-31T23:30:00-01:00`),
    /// which RFC 3339 could not write back.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        if let Some(time) = parse_utc_fast(text.as_bytes()) {
            return Some(time);
        }
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        let time = Timestamp(parsed.timestamp_micros());
        (WRITABLE.0..=WRITABLE.1).contains(&time.0).then_some(time)
    }

    /// The instant as an RFC 3339 string in UTC (`Z`), with as many fraction
    /// digits as it needs.
    pub fn to_rfc3339(self) -> String {
        match DateTime::<Utc>::from_timestamp_micros(self.0) {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            None => self.0.to_string(),
        }
    }

    /// The instant `span` later (saturating).
    pub fn plus(self, span: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(span.0))
    }

    /// The instant `span` earlier (saturating).
    pub fn minus(self, span: Span) -> Timestamp {
        Timestamp(self.0.saturating_sub(span.0))
    }
}

/// The first and the last instant RFC 3339 can write in UTC:
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds.
const WRITABLE: (i64, i64) = (-62_167_219_200_000_000, 253_402_300_799_999_999);

/// The common shape of event times, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`,
/// without a general parser; `None` for anything else (which the general
/// parser then judges), including seconds of 60 and invalid dates.
fn parse_utc_fast(text: &[u8]) -> Option<Timestamp> {
    let (head, rest) = text.split_first_chunk::<19>()?;
    let number = |range: std::ops::Range<usize>| {
        head[range].iter().try_fold(0i64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(at, byte)| head[at] != byte) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let (micros, rest) = match rest.split_first() {
        Some((b'.', fraction)) => {
            let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let micros = fraction[..digits.min(6)]
                .iter()
                .fold(0i64, |n, &b| n * 10 + i64::from(b - b'0'))
                * 10i64.pow(6 - digits.min(6) as u32);
            (micros, &fraction[digits..])
        }
        _ => (0, rest),
    };
    if rest != b"Z" {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(Timestamp(seconds * 1_000_000 + micros))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A length of event time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub i64);

const UNITS: [(&str, i64); 7] = [
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
    ("w", 604_800_000_000),
    ("us", 1),
];

impl Span {
    /// Parses `<number><unit>` with unit `ms`, `s`, `m`, `h`, `d` or `w`,
    /// or several of them in a row (`1h30m`). The result must be positive.
    pub fn parse(text: &str) -> Result<Span, String> {
        let span = Span::parse_allowing_zero(text)?;
        if span.0 <= 0 {
            return Err(format!("'{text}' must be longer than zero"));
        }
        Ok(span)
    }

    /// Like [`Span::parse`], but `0s` (or `0`) is accepted.
    pub fn parse_allowing_zero(text: &str) -> Result<Span, String> {
        if text.trim() == "0" {
            return Ok(Span(0));
        }
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err("empty duration".into());
        }
        let mut total: i64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!(
                    "'{text}' is not a duration: expected a number like 30s, 10m, 2h, 7d"
                ));
            }
            let number: i64 = rest[..digits]
                .parse()
                .map_err(|_| format!("'{text}' is too large"))?;
            rest = rest[digits..].trim_start();
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            if rest.starts_with(['.', ',']) {
                return Err(format!(
                    "'{text}' is not a duration: use whole numbers of a unit (1h30m, not 1.5h)"
                ));
            }
            if unit.is_empty() {
                return Err(format!(
                    "'{text}' needs a unit after {number}: ms, s, m, h, d or w"
                ));
            }
            let Some(&(_, micros)) = UNITS.iter().find(|(name, _)| *name == unit) else {
                return Err(format!(
                    "'{text}' has unknown unit '{unit}': use ms, s, m, h, d or w"
                ));
            };
            rest = &rest[unit_len..];
            total = number
                .checked_mul(micros)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("'{text}' is too large"))?;
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    /// Writes the span in the largest unit that divides it (`10m`, `90s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = [
            ("w", 604_800_000_000),
            ("d", 86_400_000_000),
            ("h", 3_600_000_000),
            ("m", 60_000_000),
            ("s", 1_000_000),
            ("ms", 1_000),
        ];
        for (unit, micros) in order {
            if self.0 != 0 && self.0 % micros == 0 {
                return write!(f, "{}{unit}", self.0 / micros);
            }
        }
        write!(f, "{}us", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_parse(text: &str) -> Option<Timestamp> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        Some(Timestamp(parsed.timestamp_micros()))
    }

    #[test]
    fn utc_times_are_read_like_chrono_reads_them() {
        // Every 7,919 minutes and 13 seconds from 1600 to 2500: every month
        // length, leap days and century years.
        let (first, last) = (-11_676_096_000i64, 16_725_225_600i64);
        let fractions = ["", ".5", ".123456", ".123456789", ".000001"];
        let mut second = first;
        let mut count = 0;
        while second < last {
            let time = DateTime::<Utc>::from_timestamp(second, 0).unwrap();
            let text = format!(
                "{}{}Z",
                time.format("%Y-%m-%dT%H:%M:%S"),
                fractions[count % fractions.len()]
            );
            let fast = parse_utc_fast(text.as_bytes());
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, chrono_parse(&text), "{text}");
            second += 7_919 * 60 + 13;
            count += 1;
        }
        assert!(count > 50_000);
    }

    #[test]
    fn other_shapes_are_left_to_chrono() {
        for text in [
            "2026-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+01:00",
            "2026-01-01t00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00ZZ",
            "+026-01-01T00:00:00Z",
            "2026-01-01T00:00:0\u{e9}Z",
        ] {
            assert_eq!(parse_utc_fast(text.as_bytes()), None, "{text}");
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29T23:59:60Z"),
            chrono_parse("2024-02-29T23:59:60Z")
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-01-01T01:00:00+01:00"),
            Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn only_instants_rfc_3339_can_write_are_read() {
        let last = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(last.0, WRITABLE.1);
        assert_eq!(last.to_rfc3339(), "9999-12-31T23:59:59.999999Z");
        let first = Timestamp::parse_rfc3339("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(
            (first.0, first.to_rfc3339().as_str()),
            (WRITABLE.0, "0000-01-01T00:00:00Z")
        );
        for beyond in ["9999-12-31T23:30:00-01:00", "0000-01-01T00:30:00+01:00"] {
            assert_eq!(Timestamp::parse_rfc3339(beyond), None, "{beyond}");
        }
        assert!(Timestamp::parse_rfc3339("9999-12-31T23:30:00+01:00").is_some());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(Span::parse("30s"), Ok(Span(30_000_000)));
        assert_eq!(Span::parse("1h30m"), Ok(Span(5_400_000_000)));
        assert_eq!(Span::parse("7d"), Ok(Span(7 * 86_400_000_000)));
        assert!(Span::parse("10").is_err());
        assert!(Span::parse("10x").is_err());
        assert!(Span::parse("0s").is_err());
        assert!(Span::parse("m").is_err());
        assert!(Span::parse("99999999999999999999d").is_err());
        let fraction = Span::parse("1.5h").unwrap_err();
        assert!(fraction.contains("whole numbers"), "{fraction}");
        let bare = Span::parse("10").unwrap_err();
        assert!(bare.contains("needs a unit after 10"), "{bare}");
    }

    #[test]
    fn displays_in_the_largest_unit() {
        assert_eq!(Span::parse("600s").unwrap().to_string(), "10m");
        assert_eq!(Span::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Span::parse("1d").unwrap().to_string(), "1d");
    }

    #[test]
    fn times_round_trip_in_utc() {
        let t = Timestamp::parse_rfc3339("2026-03-07T15:08:40+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-07T14:08:40Z");
        let t = Timestamp::parse_rfc3339("2026-03-07T14:08:40.250Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-07T14:08:40.250Z");
        assert!(Timestamp::parse_rfc3339("2026-03-07 14:08").is_none());
    }
}
