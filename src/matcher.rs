//! Compiled field tests: what one `field|modifier…: value` entry became, and
//! how it is evaluated against the values of an event.
//!
//! Equality lists are hashed, `contains` lists become one Aho-Corasick
//! automaton, regexes and networks are prepared once. Evaluation borrows the
//! event's values and does not allocate.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use aho_corasick::AhoCorasick;
use ipnetwork::IpNetwork;
use regex::Regex;

use crate::event::{EventBuf, Value};
use crate::fields::FieldId;
use crate::time::Timestamp;

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Cmp::Gt => left > right,
            Cmp::Gte => left >= right,
            Cmp::Lt => left < right,
            Cmp::Lte => left <= right,
        }
    }
}

/// The right-hand side of an ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// A number; event numbers and numeric strings compare with it.
    Number(f64),
    /// An instant; event strings in RFC 3339 compare with it.
    Time(Timestamp),
}

/// Literals compared for equality: text with text (numbers and booleans
/// of the event in their JSON text form), and rule numbers with event
/// numbers by value.
#[derive(Debug, Clone, Default)]
pub struct EqSet {
    texts: TextSet,
    /// Rule integers in the range of event integers (`i64` and `u64`).
    ints: Vec<i128>,
    floats: Vec<f64>,
    bools: [bool; 2],
}

impl EqSet {
    /// Adds a text literal (a quoted or non-numeric rule value).
    pub fn insert_text(&mut self, text: &str) {
        self.texts.insert(text.into());
    }

    /// Adds a rule number, written as `text`.
    pub fn insert_number(&mut self, text: &str, value: f64) {
        self.texts.insert(text.into());
        match text.parse::<i128>() {
            Ok(int) if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&int) => {
                self.ints.push(int);
            }
            _ => self.floats.push(value),
        }
    }

    /// Adds a rule boolean.
    pub fn insert_bool(&mut self, value: bool) {
        self.texts.insert(value.to_string().into());
        self.bools[usize::from(value)] = true;
    }

    fn matches(&self, value: Value<'_>) -> bool {
        let by_value = match value {
            Value::Str(s) => return self.texts.contains(s),
            Value::Bool(b) => self.bools[usize::from(b)],
            Value::Int(n) => self.has_integer(i128::from(n)),
            Value::UInt(n) => self.has_integer(i128::from(n)),
            Value::Float(x) => {
                self.floats.contains(&x) || self.ints.iter().any(|&i| float_is_integer(x, i))
            }
            Value::Null | Value::Object | Value::Array => return false,
        };
        by_value || with_text(value, |text| self.texts.contains(text))
    }

    /// The texts of a set of text literals alone: such a set holds a
    /// scalar exactly when it holds the scalar's text form (see
    /// [`with_text`]). `None` when numbers or booleans compare by value.
    pub(crate) fn only_texts(&self) -> Option<Vec<&str>> {
        let by_value = !self.ints.is_empty() || !self.floats.is_empty() || self.bools != [false; 2];
        (!by_value).then(|| self.texts.iter().collect())
    }

    fn has_integer(&self, n: i128) -> bool {
        self.ints.contains(&n) || self.floats.iter().any(|&x| float_is_integer(x, n))
    }
}

/// True when the float `x` is exactly the integer `n` (a float holds large
/// integers only approximately, so converting `n` to a float would make
/// neighbours equal).
fn float_is_integer(x: f64, n: i128) -> bool {
    // 2^127: beyond it `as` saturates.
    x.fract() == 0.0 && x.abs() < 1.7e38 && x as i128 == n
}

/// True when two event values are equal numbers, exactly; `None` unless
/// both are numbers.
fn numbers_equal(a: Value<'_>, b: Value<'_>) -> Option<bool> {
    let integer = |v: Value<'_>| match v {
        Value::Int(n) => Some(i128::from(n)),
        Value::UInt(n) => Some(i128::from(n)),
        _ => None,
    };
    Some(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Float(x), other) | (other, Value::Float(x)) => float_is_integer(x, integer(other)?),
        _ => integer(a)? == integer(b)?,
    })
}

/// Texts compared for equality: a few are scanned (most values already
/// differ in length), more are hashed.
#[derive(Debug, Clone)]
enum TextSet {
    Few(Vec<Box<str>>),
    Many(foldhash::HashSet<Box<str>>),
}

/// Most texts a [`TextSet`] scans.
const SCAN_UP_TO: usize = 8;

impl Default for TextSet {
    fn default() -> TextSet {
        TextSet::Few(Vec::new())
    }
}

impl TextSet {
    fn insert(&mut self, text: Box<str>) {
        match self {
            TextSet::Few(texts) if texts.contains(&text) => {}
            TextSet::Few(texts) if texts.len() < SCAN_UP_TO => texts.push(text),
            TextSet::Few(texts) => {
                let mut hashed: foldhash::HashSet<Box<str>> = texts.drain(..).collect();
                hashed.insert(text);
                *self = TextSet::Many(hashed);
            }
            TextSet::Many(texts) => {
                texts.insert(text);
            }
        }
    }

    fn contains(&self, text: &str) -> bool {
        match self {
            TextSet::Few(texts) => texts.iter().any(|t| **t == *text),
            TextSet::Many(texts) => texts.contains(text),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            TextSet::Few(texts) => Box::new(texts.iter().map(|t| &**t)),
            TextSet::Many(texts) => Box::new(texts.iter().map(|t| &**t)),
        }
    }
}

/// One prepared pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Equality with any literal of the set.
    Eq(EqSet),
    /// The text contains any of the needles.
    Contains(AhoCorasick),
    /// The text starts with the literal.
    StartsWith(Box<str>),
    /// The text ends with the literal.
    EndsWith(Box<str>),
    /// The regex finds a match (also used for case-insensitive text tests).
    Regex(Regex),
    /// The value is an IP address inside any of the networks.
    Cidr(Box<[IpNetwork]>),
    /// The value compares with the bound.
    Compare(Cmp, Bound),
    /// The value is JSON `null`.
    Null,
}

impl Pattern {
    /// True when `value` matches.
    pub fn matches(&self, value: Value<'_>) -> bool {
        match self {
            Pattern::Eq(set) => set.matches(value),
            Pattern::Contains(ac) => with_text(value, |s| ac.is_match(s)),
            Pattern::StartsWith(p) => with_text(value, |s| s.starts_with(&**p)),
            Pattern::EndsWith(p) => with_text(value, |s| s.ends_with(&**p)),
            Pattern::Regex(re) => with_text(value, |s| re.is_match(s)),
            Pattern::Cidr(networks) => match value {
                // An address is tried in both spellings, IPv4 and
                // IPv4-mapped IPv6, so that `::fffe:0:0/95` holds
                // `10.1.2.3` as it holds `::ffff:10.1.2.3`.
                Value::Str(s) => parse_ip(s).is_some_and(|unmapped| {
                    let mapped = match unmapped {
                        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                        v6 => v6,
                    };
                    networks
                        .iter()
                        .any(|net| net.contains(unmapped) || net.contains(mapped))
                }),
                _ => false,
            },
            Pattern::Compare(cmp, Bound::Number(bound)) => {
                number_of(value).is_some_and(|n| cmp.holds(n, *bound))
            }
            Pattern::Compare(cmp, Bound::Time(bound)) => match value {
                Value::Str(s) => Timestamp::parse_rfc3339(s).is_some_and(|t| cmp.holds(t, *bound)),
                _ => false,
            },
            Pattern::Null => value == Value::Null,
        }
    }
}

/// Parses an address, seeing IPv4-mapped IPv6 addresses as IPv4.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Some(ip) = parse_dotted_quad(text) {
        return Some(IpAddr::V4(ip));
    }
    text.parse().ok().map(unmapped)
}

/// Parses the usual IPv4 form (`10.1.2.3`) faster than the standard
/// parser; `None` for anything else, which the standard parser then
/// judges. Accepts only what it accepts: four parts of one to three
/// digits, no leading zero, each at most 255.
fn parse_dotted_quad(text: &str) -> Option<Ipv4Addr> {
    if text.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut part = 0;
    let (mut value, mut digits) = (0u32, 0);
    for &byte in text.as_bytes() {
        match byte {
            b'0'..=b'9' if !(digits == 1 && value == 0) => {
                value = value * 10 + u32::from(byte - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && part < 3 => {
                octets[part] = u8::try_from(value).ok()?;
                part += 1;
                (value, digits) = (0, 0);
            }
            _ => return None,
        }
        if digits > 3 {
            return None;
        }
    }
    if part != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// The IPv4 address an IPv4-mapped IPv6 address stands for; any other
/// address as it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The number a value holds: event numbers, and strings written as decimal
/// numbers (not `inf` or `NaN`).
fn number_of(value: Value<'_>) -> Option<f64> {
    match value {
        Value::Str(s) => {
            let s = s.trim();
            let decimal = !s.is_empty()
                && s.bytes().any(|b| b.is_ascii_digit())
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
            decimal.then(|| s.parse().ok()).flatten()
        }
        other => other.as_f64(),
    }
}

/// Runs `f` on the text form of a scalar (numbers and booleans as JSON
/// writes them) without allocating.
pub(crate) fn with_text(value: Value<'_>, f: impl FnOnce(&str) -> bool) -> bool {
    let mut buf = [0u8; 40];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let written = match value {
        Value::Str(s) => return f(s),
        Value::Bool(b) => return f(if b { "true" } else { "false" }),
        Value::Int(n) => write!(cursor, "{n}"),
        Value::UInt(n) => write!(cursor, "{n}"),
        Value::Float(n) => write!(cursor, "{n}"),
        Value::Null | Value::Object | Value::Array => return false,
    };
    if written.is_err() {
        return false;
    }
    let len = cursor.position() as usize;
    std::str::from_utf8(&buf[..len]).is_ok_and(f)
}

/// How the values of an array field and the listed patterns combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// Some value matches some pattern.
    Any,
    /// Every pattern is matched by some value (`|all` with a list).
    EveryPattern,
    /// Every value matches the pattern (`|all` with a single value); an
    /// absent or empty field does not match.
    EveryValue,
}

/// What a field test checks.
#[derive(Debug, Clone)]
pub enum Check {
    /// Presence (`exists: true`) or absence (`exists: false`).
    Exists(bool),
    /// The field's values against prepared patterns.
    Patterns(Vec<Pattern>, Quantifier),
    /// The field's values against another field's values.
    FieldRef(FieldId, RefOp),
}

/// How a `fieldref` test compares the two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefOp {
    /// Equal text (or equal numbers), optionally ignoring case.
    Eq {
        /// Ignore case.
        ignore_case: bool,
    },
    /// Starts with the other field's value.
    StartsWith,
    /// Ends with the other field's value.
    EndsWith,
    /// Contains the other field's value.
    Contains,
    /// Orders before or after the other field's value (numbers or times).
    Compare(Cmp),
}

/// One compiled `field|modifier…: value` test.
#[derive(Debug, Clone)]
pub struct FieldTest {
    /// The field read.
    pub field: FieldId,
    /// What is checked.
    pub check: Check,
}

impl FieldTest {
    /// Evaluates the test on the event in `event`.
    pub fn matches(&self, event: &EventBuf) -> bool {
        match &self.check {
            Check::Exists(expected) => event.exists(self.field) == *expected,
            Check::Patterns(patterns, quantifier) => {
                let values = || {
                    event
                        .values(self.field)
                        .filter(|v| !matches!(v, Value::Array | Value::Object))
                };
                match quantifier {
                    Quantifier::Any => values().any(|v| patterns.iter().any(|p| p.matches(v))),
                    Quantifier::EveryPattern => {
                        !patterns.is_empty()
                            && patterns.iter().all(|p| values().any(|v| p.matches(v)))
                    }
                    Quantifier::EveryValue => {
                        // An object element is a value that matches no
                        // pattern; array markers only open (nested) arrays.
                        let mut seen = false;
                        let all =
                            event
                                .values(self.field)
                                .filter(|v| *v != Value::Array)
                                .all(|v| {
                                    seen = true;
                                    patterns.iter().all(|p| p.matches(v))
                                });
                        seen && all
                    }
                }
            }
            Check::FieldRef(other, op) => event.scalars(self.field).any(|left| {
                event
                    .scalars(*other)
                    .any(|right| compare_fields(left, right, *op))
            }),
        }
    }
}

fn compare_fields(left: Value<'_>, right: Value<'_>, op: RefOp) -> bool {
    match op {
        RefOp::Compare(cmp) => match (number_of(left), number_of(right)) {
            (Some(a), Some(b)) => cmp.holds(a, b),
            _ => match (left, right) {
                (Value::Str(a), Value::Str(b)) => {
                    match (Timestamp::parse_rfc3339(a), Timestamp::parse_rfc3339(b)) {
                        (Some(a), Some(b)) => cmp.holds(a, b),
                        _ => false,
                    }
                }
                _ => false,
            },
        },
        RefOp::Eq { ignore_case } => {
            if let Some(equal) = numbers_equal(left, right) {
                return equal;
            }
            with_text(left, |a| {
                with_text(right, |b| {
                    if ignore_case {
                        a.chars()
                            .flat_map(char::to_lowercase)
                            .eq(b.chars().flat_map(char::to_lowercase))
                    } else {
                        a == b
                    }
                })
            })
        }
        RefOp::StartsWith => with_text(left, |a| with_text(right, |b| a.starts_with(b))),
        RefOp::EndsWith => with_text(left, |a| with_text(right, |b| a.ends_with(b))),
        RefOp::Contains => with_text(left, |a| with_text(right, |b| a.contains(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_fast_ipv4_parser_agrees_with_the_standard_one(
            text in "[0-9.]{0,16}|[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}"
        ) {
            if let Some(fast) = parse_dotted_quad(&text) {
                prop_assert_eq!(Some(fast), text.parse::<Ipv4Addr>().ok());
            }
            let standard = text.parse::<IpAddr>().ok().map(unmapped);
            prop_assert_eq!(parse_ip(&text), standard);
        }
    }

    #[test]
    fn the_fast_ipv4_parser_takes_the_usual_forms() {
        for text in ["0.0.0.0", "10.1.2.3", "255.255.255.255", "192.168.100.1"] {
            assert_eq!(parse_dotted_quad(text), text.parse().ok(), "{text}");
        }
        for text in [
            "256.1.1.1",
            "01.1.1.1",
            "1.1.1",
            "1.1.1.1.",
            ".1.1.1",
            "1..1.1",
            "1.1.1.1000",
        ] {
            assert_eq!(parse_dotted_quad(text), None, "{text}");
        }
    }

    #[test]
    fn equality_reads_numbers_and_booleans() {
        let mut set = EqSet::default();
        set.insert_number("5", 5.0);
        set.insert_bool(false);
        set.insert_number("9007199254740993", 9007199254740993.0);
        set.insert_text("007");
        let eq = Pattern::Eq(set);
        assert!(eq.matches(Value::Int(5)));
        assert!(eq.matches(Value::Float(5.0)));
        assert!(eq.matches(Value::Str("5")));
        assert!(eq.matches(Value::Bool(false)));
        assert!(eq.matches(Value::Str("false")));
        assert!(!eq.matches(Value::Bool(true)));
        assert!(!eq.matches(Value::Str("05")));
        assert!(!eq.matches(Value::Null));
        assert!(!eq.matches(Value::Int(9007199254740992)));
        assert!(
            !eq.matches(Value::Float(9007199254740992.0)),
            "floats compare exactly"
        );
        let mut big = EqSet::default();
        big.insert_number("10000000000000001", 1e16);
        big.insert_number("18446744073709551615", 18446744073709551615.0);
        big.insert_number("1e16", 1e16);
        let big = Pattern::Eq(big);
        assert!(big.matches(Value::Int(10000000000000001)));
        assert!(big.matches(Value::UInt(u64::MAX)));
        assert!(!big.matches(Value::UInt(u64::MAX - 1)));
        assert!(
            big.matches(Value::Int(10000000000000000)),
            "1e16 is that integer"
        );
        assert!(!big.matches(Value::Int(10000000000000002)));
        assert!(!eq.matches(Value::Int(7)), "quoted text compares as text");
        let mut quoted = EqSet::default();
        quoted.insert_text("true");
        assert!(Pattern::Eq(quoted).matches(Value::Bool(true)));
    }

    #[test]
    fn text_sets_answer_alike_scanned_or_hashed() {
        for size in [0, 1, SCAN_UP_TO - 1, SCAN_UP_TO, SCAN_UP_TO + 1, 50] {
            let mut set = TextSet::default();
            for i in 0..size {
                // Each text twice, and texts of equal length.
                set.insert(format!("v{i:03}").into());
                set.insert(format!("v{i:03}").into());
            }
            assert_eq!(matches!(set, TextSet::Many(_)), size > SCAN_UP_TO);
            for i in 0..size {
                assert!(set.contains(&format!("v{i:03}")), "{size}: v{i:03}");
            }
            for absent in ["", "v", &format!("v{size:03}"), "v0000"] {
                assert!(!set.contains(absent), "{size}: {absent}");
            }
        }
    }

    #[test]
    fn text_patterns_see_numbers_as_text() {
        let p = Pattern::StartsWith("12".into());
        assert!(p.matches(Value::Int(123)));
        assert!(!p.matches(Value::Bool(true)));
    }

    #[test]
    fn cidr_accepts_mapped_addresses() {
        let p = Pattern::Cidr(Box::new(["10.0.0.0/8".parse().unwrap()]));
        assert!(p.matches(Value::Str("10.2.3.4")));
        assert!(p.matches(Value::Str("::ffff:10.2.3.4")));
        assert!(!p.matches(Value::Str("11.2.3.4")));
        assert!(!p.matches(Value::Str("not an ip")));
        let v6 = Pattern::Cidr(Box::new(["2001:db8::/32".parse().unwrap()]));
        assert!(v6.matches(Value::Str("2001:db8::1")));
        assert!(!v6.matches(Value::Str("10.2.3.4")));
        let mapped = Pattern::Cidr(Box::new(["::ffff:0:0/96".parse().unwrap()]));
        assert!(mapped.matches(Value::Str("::ffff:10.0.0.1")));
        let wider = Pattern::Cidr(Box::new(["::fffe:0:0/95".parse().unwrap()]));
        assert!(wider.matches(Value::Str("::ffff:10.1.2.3")));
        assert!(wider.matches(Value::Str("10.1.2.3")));
        assert!(!wider.matches(Value::Str("2001:db8::1")));
        let list = Pattern::Cidr(Box::new([
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]));
        assert!(list.matches(Value::Str("::ffff:10.2.3.4")));
        assert!(list.matches(Value::Str("2001:db8::1")));
        assert!(!list.matches(Value::Str("192.168.0.1")));
    }

    #[test]
    fn comparisons_on_numbers_and_times() {
        let gt = Pattern::Compare(Cmp::Gt, Bound::Number(10.0));
        assert!(gt.matches(Value::Int(11)));
        assert!(gt.matches(Value::Str("10.5")));
        assert!(!gt.matches(Value::Str("inf")));
        assert!(!gt.matches(Value::Int(10)));
        let t = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let before = Pattern::Compare(Cmp::Lt, Bound::Time(t));
        assert!(before.matches(Value::Str("2025-12-31T23:59:59Z")));
        assert!(before.matches(Value::Str("2026-01-01T00:30:00+01:00")));
        assert!(!before.matches(Value::Str("2026-01-01T00:00:00Z")));
        assert!(!before.matches(Value::Str("garbage")));
    }

    #[test]
    fn fieldref_compares_values() {
        assert!(compare_fields(
            Value::Str("a"),
            Value::Str("a"),
            RefOp::Eq { ignore_case: false }
        ));
        assert!(!compare_fields(
            Value::Str("A"),
            Value::Str("a"),
            RefOp::Eq { ignore_case: false }
        ));
        assert!(compare_fields(
            Value::Str("Ä"),
            Value::Str("ä"),
            RefOp::Eq { ignore_case: true }
        ));
        assert!(compare_fields(
            Value::Int(3),
            Value::Float(3.0),
            RefOp::Eq { ignore_case: false }
        ));
        let same = |a, b| compare_fields(a, b, RefOp::Eq { ignore_case: false });
        assert!(!same(
            Value::Int(10000000000000001),
            Value::Int(10000000000000000)
        ));
        assert!(!same(Value::UInt(u64::MAX), Value::UInt(u64::MAX - 1)));
        assert!(!same(Value::Float(1e16), Value::Int(10000000000000001)));
        assert!(same(Value::Float(1e16), Value::Int(10000000000000000)));
        assert!(same(Value::Int(7), Value::UInt(7)));
        assert!(compare_fields(
            Value::Int(3),
            Value::Str("2"),
            RefOp::Compare(Cmp::Gt)
        ));
    }
}
