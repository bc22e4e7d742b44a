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
    /// Parses an RFC 3339 time with any offset.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        Some(Timestamp(parsed.timestamp_micros()))
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
