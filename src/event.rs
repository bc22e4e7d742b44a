//! Parsing and validating one CloudEvent line into a reusable buffer.
//!
//! The parser walks the JSON once with serde, following the [`FieldTable`]
//! trie: values under paths a rule or the validator reads are filed by
//! [`FieldId`]; everything else is skipped. Strings are kept as ranges into
//! the line (or into a scratch arena when JSON escapes had to be decoded), so
//! a warm [`EventBuf`] parses an event without allocating. `authclaims` is
//! parsed only when some rule reads inside it.
//!
//! Limits: a line longer than the configured maximum is refused before it is
//! parsed; JSON nesting deeper than 128 levels is refused by serde_json.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::fields::{FieldId, FieldTable, system};
use crate::time::Timestamp;

/// The two event kinds of the Qlik OAuth token family; any other type is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `com.qlik.oauth-token.issued` or `com.qlik.core.oauth-token.issued`.
    Issued,
    /// `com.qlik.oauth-token.revoked` or `com.qlik.core.oauth-token.revoked`.
    Revoked,
    /// Any other event type.
    Other,
}

impl EventKind {
    /// The kind of an event `type` string, accepting both spellings.
    pub fn of_type(event_type: &str) -> EventKind {
        match event_type {
            "com.qlik.oauth-token.issued" | "com.qlik.core.oauth-token.issued" => EventKind::Issued,
            "com.qlik.oauth-token.revoked" | "com.qlik.core.oauth-token.revoked" => {
                EventKind::Revoked
            }
            _ => EventKind::Other,
        }
    }
}

/// Why an event line was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The line is longer than the limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The line is not valid UTF-8.
    NotUtf8,
    /// The line is not well-formed JSON (message from the JSON parser).
    Json(String),
    /// The JSON value is not an object.
    NotObject,
    /// A required field is absent.
    Missing(&'static str),
    /// A field has the wrong JSON type.
    WrongType {
        /// The field's path.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// A field appears more than once.
    Repeated(&'static str),
    /// A time field is not RFC 3339.
    BadTime {
        /// The field's path.
        field: &'static str,
        /// The offending value, shortened.
        value: String,
    },
    /// `originip` is not an IPv4 or IPv6 address.
    BadIp(String),
    /// `data.revokedContext` has no property.
    EmptyRevokedContext,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
            Rejection::NotUtf8 => write!(f, "line is not valid UTF-8"),
            Rejection::Json(message) => write!(f, "invalid JSON: {message}"),
            Rejection::NotObject => write!(f, "event is not a JSON object"),
            Rejection::Missing(field) => write!(f, "missing required field '{field}'"),
            Rejection::WrongType { field, expected } => {
                write!(f, "field '{field}' must be {expected}")
            }
            Rejection::Repeated(field) => write!(f, "field '{field}' appears more than once"),
            Rejection::BadTime { field, value } => {
                write!(f, "field '{field}' is not an RFC 3339 time: {value:?}")
            }
            Rejection::BadIp(value) => {
                write!(f, "field 'originip' is not an IP address: {value:?}")
            }
            Rejection::EmptyRevokedContext => {
                write!(
                    f,
                    "field 'data.revokedContext' must have at least one property"
                )
            }
        }
    }
}

impl std::error::Error for Rejection {}

/// A value read from an event, borrowed from its [`EventBuf`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A JSON string.
    Str(&'a str),
    /// A JSON integer that fits `i64`.
    Int(i64),
    /// A JSON integer above `i64::MAX`.
    UInt(u64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
    /// JSON `null`.
    Null,
    /// A JSON object (its members are filed under their own paths).
    Object,
    /// A JSON array (its elements are filed under the same path).
    Array,
}

impl Value<'_> {
    /// The value as a number, for numeric comparisons.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(n) => Some(n as f64),
            Value::UInt(n) => Some(n as f64),
            Value::Float(n) => Some(n),
            _ => None,
        }
    }

    /// True for values that a matcher can compare (not containers or null).
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::Object | Value::Array | Value::Null)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Line,
    Arena,
    Claims,
}

#[derive(Debug, Clone, Copy)]
struct Text {
    base: Base,
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, Copy)]
enum Raw {
    Str(Text),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    Object(u32),
    Array,
}

/// Facts the validator establishes for every accepted event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meta {
    /// The event kind from `type`.
    pub kind: EventKind,
    /// The event time: `time`, else `data.issuedAt` / `data.revokedAt`.
    pub time: Option<Timestamp>,
}

/// A reusable buffer holding one parsed event.
///
/// ```
/// use tokenwatch::event::{EventBuf, Value};
/// use tokenwatch::fields::FieldTable;
///
/// let mut fields = FieldTable::default();
/// let grant = fields.intern("data.grantType");
/// let mut buf = EventBuf::new(1 << 20);
/// buf.parse(br#"{"id":"1","type":"com.qlik.oauth-token.issued","source":"s",
///     "specversion":"1.0","tenantid":"t","data":{"grantType":"client_credentials"}}"#, &fields)
///     .unwrap();
/// assert_eq!(buf.values(grant).next(), Some(Value::Str("client_credentials")));
/// ```
#[derive(Debug, Default)]
pub struct EventBuf {
    line: String,
    arena: String,
    claims: String,
    values: Vec<(FieldId, Raw)>,
    /// The values again, grouped by field (reused between events).
    grouped: Vec<(FieldId, Raw)>,
    slots: Vec<(u32, u32)>,
    max_line: usize,
}

impl EventBuf {
    /// An empty buffer that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> EventBuf {
        EventBuf {
            max_line,
            ..EventBuf::default()
        }
    }

    /// Parses and validates `line`, replacing the previous event.
    pub fn parse(&mut self, line: &[u8], fields: &FieldTable) -> Result<Meta, Rejection> {
        self.values.clear();
        self.arena.clear();
        self.claims.clear();
        self.line.clear();
        if line.len() > self.max_line {
            return Err(Rejection::TooLong {
                limit: self.max_line,
            });
        }
        let text = std::str::from_utf8(line).map_err(|_| Rejection::NotUtf8)?;
        self.line.push_str(text);
        self.walk_line(fields)?;
        self.index(fields.len());
        let meta = self.validate()?;
        let claims = fields.claims_node();
        if let Some(node) = claims {
            self.walk_claims(fields, node);
        }
        let derived = self.derive_time_fields(fields, meta.time);
        if claims.is_some() || derived {
            self.index(fields.len());
        }
        Ok(meta)
    }

    /// Files `@hour` and `@weekday` when rules read them; true if any was.
    fn derive_time_fields(&mut self, fields: &FieldTable, time: Option<Timestamp>) -> bool {
        use chrono::{Datelike, Timelike};
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let (hour, weekday) = fields.time_fields();
        if hour.is_none() && weekday.is_none() {
            return false;
        }
        let Some(time) = time.and_then(|t| chrono::DateTime::from_timestamp_micros(t.0)) else {
            return false;
        };
        if let Some(field) = hour {
            self.values.push((field, Raw::Int(i64::from(time.hour()))));
        }
        if let Some(field) = weekday {
            let start = self.arena.len() as u32;
            self.arena
                .push_str(DAYS[time.weekday().num_days_from_monday() as usize]);
            let text = Text {
                base: Base::Arena,
                start,
                end: self.arena.len() as u32,
            };
            self.values.push((field, Raw::Str(text)));
        }
        true
    }

    fn walk_line(&mut self, fields: &FieldTable) -> Result<(), Rejection> {
        let mut sink = Sink {
            fields,
            base: Base::Line,
            origin: self.line.as_ptr() as usize,
            len: self.line.len(),
            values: &mut self.values,
            arena: &mut self.arena,
        };
        let mut de = serde_json::Deserializer::from_str(&self.line);
        let result = Root { sink: &mut sink }
            .deserialize(&mut de)
            .and_then(|()| de.end());
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().starts_with(NOT_OBJECT) => Err(Rejection::NotObject),
            Err(e) => Err(Rejection::Json(e.to_string())),
        }
    }

    fn walk_claims(&mut self, fields: &FieldTable, node: u32) {
        let (start, end) = self.slots[system::AUTHCLAIMS.index()];
        let Some(&(_, Raw::Str(text))) = self.values[start as usize..end as usize].first() else {
            return;
        };
        let source = match text.base {
            Base::Line => &self.line,
            _ => &self.arena,
        };
        let trimmed = source[text.start as usize..text.end as usize].trim_start();
        let escaped = trimmed
            .strip_prefix('{')
            .is_some_and(|rest| rest.trim_start().starts_with("\\\""));
        if escaped {
            unescape_into(trimmed, &mut self.claims);
        } else {
            self.claims.push_str(trimmed);
        }
        let mut sink = Sink {
            fields,
            base: Base::Claims,
            origin: self.claims.as_ptr() as usize,
            len: self.claims.len(),
            values: &mut self.values,
            arena: &mut self.arena,
        };
        let mut de = serde_json::Deserializer::from_str(&self.claims);
        let mark = sink.values.len();
        let walked = Walk {
            sink: &mut sink,
            node,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if walked.is_err() {
            sink.values.truncate(mark);
        }
        // The claims string itself stays filed under `authclaims`; drop the
        // container marker the walk filed for it again.
        let claims_marker = self.values[mark..]
            .iter()
            .position(|(f, _)| *f == system::AUTHCLAIMS);
        if let Some(offset) = claims_marker {
            self.values.remove(mark + offset);
        }
    }

    /// Groups the values by field, keeping their order within a field (a
    /// counting sort), and records where each field's values are.
    fn index(&mut self, field_count: usize) {
        self.slots.clear();
        self.slots.resize(field_count, (0, 0));
        for (field, _) in &self.values {
            self.slots[field.index()].1 += 1;
        }
        let mut start = 0;
        for slot in &mut self.slots {
            let count = slot.1;
            *slot = (start, start);
            start += count;
        }
        self.grouped.clear();
        self.grouped.extend_from_slice(&self.values);
        for &value in &self.values {
            let end = &mut self.slots[value.0.index()].1;
            self.grouped[*end as usize] = value;
            *end += 1;
        }
        std::mem::swap(&mut self.values, &mut self.grouped);
    }

    /// Every value filed under `field`: one for a scalar, the elements for an
    /// array (after an `Array` marker), none when the field is absent.
    pub fn values(&self, field: FieldId) -> impl Iterator<Item = Value<'_>> + '_ {
        let (start, end) = self.slots.get(field.index()).copied().unwrap_or((0, 0));
        self.values[start as usize..end as usize]
            .iter()
            .map(|&(_, raw)| self.resolve(raw))
    }

    /// The comparable (non-container, non-null) values of `field`.
    pub fn scalars(&self, field: FieldId) -> impl Iterator<Item = Value<'_>> + '_ {
        self.values(field).filter(Value::is_scalar)
    }

    /// True when `field` is present with a value other than `null`.
    pub fn exists(&self, field: FieldId) -> bool {
        self.values(field).any(|v| v != Value::Null)
    }

    /// The first string value of `field`.
    pub fn str(&self, field: FieldId) -> Option<&str> {
        self.values(field).find_map(|v| match v {
            Value::Str(s) => Some(s),
            _ => None,
        })
    }

    /// The raw line of the last parsed event.
    pub fn line(&self) -> &str {
        &self.line
    }

    fn resolve(&self, raw: Raw) -> Value<'_> {
        match raw {
            Raw::Str(text) => {
                let base = match text.base {
                    Base::Line => &self.line,
                    Base::Arena => &self.arena,
                    Base::Claims => &self.claims,
                };
                Value::Str(&base[text.start as usize..text.end as usize])
            }
            Raw::Int(n) => Value::Int(n),
            Raw::UInt(n) => Value::UInt(n),
            Raw::Float(n) => Value::Float(n),
            Raw::Bool(b) => Value::Bool(b),
            Raw::Null => Value::Null,
            Raw::Object(_) => Value::Object,
            Raw::Array => Value::Array,
        }
    }

    fn single(&self, field: FieldId, name: &'static str) -> Result<Option<Value<'_>>, Rejection> {
        let (start, end) = self.slots[field.index()];
        match end - start {
            0 => Ok(None),
            1 => Ok(Some(self.resolve(self.values[start as usize].1))),
            _ => Err(Rejection::Repeated(name)),
        }
    }

    fn required_str(&self, field: FieldId, name: &'static str) -> Result<&str, Rejection> {
        match self.single(field, name)? {
            None => Err(Rejection::Missing(name)),
            Some(Value::Str(s)) => Ok(s),
            Some(_) => Err(Rejection::WrongType {
                field: name,
                expected: "a string",
            }),
        }
    }

    fn time_field(
        &self,
        field: FieldId,
        name: &'static str,
        required: bool,
    ) -> Result<Option<Timestamp>, Rejection> {
        match self.single(field, name)? {
            None if required => Err(Rejection::Missing(name)),
            None => Ok(None),
            Some(Value::Str(s)) => {
                Timestamp::parse_rfc3339(s)
                    .map(Some)
                    .ok_or_else(|| Rejection::BadTime {
                        field: name,
                        value: shorten(s),
                    })
            }
            Some(_) => Err(Rejection::WrongType {
                field: name,
                expected: "an RFC 3339 time string",
            }),
        }
    }

    fn validate(&self) -> Result<Meta, Rejection> {
        self.required_str(system::ID, "id")?;
        let kind = EventKind::of_type(self.required_str(system::TYPE, "type")?);
        self.required_str(system::SOURCE, "source")?;
        self.required_str(system::SPECVERSION, "specversion")?;
        self.required_str(system::TENANTID, "tenantid")?;
        match self.single(system::DATA, "data")? {
            None => return Err(Rejection::Missing("data")),
            Some(Value::Object) => {}
            Some(_) => {
                return Err(Rejection::WrongType {
                    field: "data",
                    expected: "an object",
                });
            }
        }
        let time = self.time_field(system::TIME, "time", false)?;
        match self.single(system::ORIGINIP, "originip")? {
            Some(Value::Str(s)) if s.parse::<std::net::IpAddr>().is_err() => {
                return Err(Rejection::BadIp(shorten(s)));
            }
            None | Some(Value::Str(_)) => {}
            Some(_) => {
                return Err(Rejection::WrongType {
                    field: "originip",
                    expected: "a string",
                });
            }
        }
        match self.single(system::AUTHCLAIMS, "authclaims")? {
            None | Some(Value::Str(_)) => {}
            Some(_) => {
                return Err(Rejection::WrongType {
                    field: "authclaims",
                    expected: "a string",
                });
            }
        }
        let issued = self.time_field(system::ISSUED_AT, "data.issuedAt", false)?;
        let revoked = self.time_field(
            system::REVOKED_AT,
            "data.revokedAt",
            kind == EventKind::Revoked,
        )?;
        if kind == EventKind::Revoked {
            self.validate_revocation()?;
        }
        Ok(Meta {
            kind,
            time: time.or(issued).or(revoked),
        })
    }

    fn validate_revocation(&self) -> Result<(), Rejection> {
        let (start, end) = self.slots[system::REVOKED_CONTEXT.index()];
        match end - start {
            0 => return Err(Rejection::Missing("data.revokedContext")),
            1 => {}
            _ => return Err(Rejection::Repeated("data.revokedContext")),
        }
        match self.values[start as usize].1 {
            Raw::Object(0) => return Err(Rejection::EmptyRevokedContext),
            Raw::Object(_) => {}
            _ => {
                return Err(Rejection::WrongType {
                    field: "data.revokedContext",
                    expected: "an object",
                });
            }
        }
        match self.single(system::REVOKED_BY_BEARER, "data.revokedByBearer")? {
            None => Err(Rejection::Missing("data.revokedByBearer")),
            Some(Value::Bool(_)) => Ok(()),
            Some(_) => Err(Rejection::WrongType {
                field: "data.revokedByBearer",
                expected: "a boolean",
            }),
        }
    }
}

/// Shortens a value for an error message.
pub fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

const NOT_OBJECT: &str = "tokenwatch: not an object";

struct Sink<'t, 'v> {
    fields: &'t FieldTable,
    base: Base,
    origin: usize,
    len: usize,
    values: &'v mut Vec<(FieldId, Raw)>,
    arena: &'v mut String,
}

impl Sink<'_, '_> {
    fn file(&mut self, node: u32, raw: Raw) {
        if let Some(field) = self.fields.node(node).capture {
            self.values.push((field, raw));
        }
    }

    /// True for nodes whose value is taken whole, as raw JSON: leaves, and
    /// `authclaims` (a string even when rules read inside it).
    fn reads_whole(&self, node: u32) -> bool {
        let node = self.fields.node(node);
        node.is_leaf() || node.capture == Some(system::AUTHCLAIMS)
    }

    /// Files a value given as raw JSON text (a slice of the input). Strings
    /// are kept in place, or decoded into the arena when they hold escapes;
    /// anything else is walked as usual.
    fn file_raw(&mut self, node: u32, raw: &str) -> Result<(), serde_json::Error> {
        if let Some(body) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let text = if body.contains('\\') {
                let start = self.arena.len();
                unescape_into(body, self.arena);
                Text {
                    base: Base::Arena,
                    start: start as u32,
                    end: self.arena.len() as u32,
                }
            } else {
                self.text(body, true)
            };
            self.file(node, Raw::Str(text));
            return Ok(());
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        Walk { sink: self, node }.deserialize(&mut de)
    }

    fn text(&mut self, s: &str, borrowed: bool) -> Text {
        let start = (s.as_ptr() as usize).wrapping_sub(self.origin);
        if borrowed && start <= self.len {
            return Text {
                base: self.base,
                start: start as u32,
                end: (start + s.len()) as u32,
            };
        }
        let start = self.arena.len();
        self.arena.push_str(s);
        Text {
            base: Base::Arena,
            start: start as u32,
            end: self.arena.len() as u32,
        }
    }
}

struct Root<'s, 't, 'v> {
    sink: &'s mut Sink<'t, 'v>,
}

impl<'de> DeserializeSeed<'de> for Root<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Root<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Walk {
            sink: self.sink,
            node: 0,
        }
        .visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(NOT_OBJECT))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(NOT_OBJECT))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(NOT_OBJECT))
    }
}

struct Walk<'s, 't, 'v> {
    sink: &'s mut Sink<'t, 'v>,
    node: u32,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        let text = self.sink.text(v, true);
        self.sink.file(self.node, Raw::Str(text));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let text = self.sink.text(v, false);
        self.sink.file(self.node, Raw::Str(text));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.sink.file(self.node, Raw::Int(v));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let raw = i64::try_from(v).map_or(Raw::UInt(v), Raw::Int);
        self.sink.file(self.node, raw);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.sink.file(self.node, Raw::Float(v));
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.sink.file(self.node, Raw::Bool(v));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.sink.file(self.node, Raw::Null);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.sink.file(self.node, Raw::Array);
        while seq
            .next_element_seed(Walk {
                sink: &mut *self.sink,
                node: self.node,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let marker = self.sink.values.len();
        let captured = self.sink.fields.node(self.node).capture.is_some();
        self.sink.file(self.node, Raw::Object(0));
        let mut members = 0u32;
        while let Some(child) = map.next_key_seed(Child {
            fields: self.sink.fields,
            node: self.node,
        })? {
            members = members.saturating_add(1);
            match child {
                Some(node) if self.sink.reads_whole(node) => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.sink
                        .file_raw(node, raw.get())
                        .map_err(de::Error::custom)?;
                }
                Some(node) => map.next_value_seed(Walk {
                    sink: &mut *self.sink,
                    node,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if captured {
            self.sink.values[marker].1 = Raw::Object(members);
        }
        Ok(())
    }
}

/// Looks a key up among a trie node's children while the key is still borrowed.
struct Child<'t> {
    fields: &'t FieldTable,
    node: u32,
}

impl<'de> DeserializeSeed<'de> for Child<'_> {
    type Value = Option<u32>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<u32>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Child<'_> {
    type Value = Option<u32>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<u32>, E> {
        Ok(self.fields.node(self.node).child(key))
    }
}

/// Decodes the body of a JSON string (the text between its quotes) into
/// `out`. serde_json would decode through a scratch buffer it allocates per
/// parse; this writes into a buffer the event reuses.
fn unescape_into(body: &str, out: &mut String) {
    let mut chars = body.chars();
    loop {
        // Copy the run up to the next escape whole.
        let rest = chars.as_str();
        let run = memchr::memchr(b'\\', rest.as_bytes()).unwrap_or(rest.len());
        out.push_str(&rest[..run]);
        chars = rest[run..].chars();
        if chars.next().is_none() {
            break;
        }
        let decoded = match chars.next() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('u') => {
                let high = hex4(&mut chars);
                match high {
                    Some(h @ 0xD800..=0xDBFF) => {
                        let mut rest = chars.clone();
                        let low = (rest.next() == Some('\\') && rest.next() == Some('u'))
                            .then(|| hex4(&mut rest))
                            .flatten()
                            .filter(|l| (0xDC00..=0xDFFF).contains(l));
                        match low {
                            Some(l) => {
                                chars = rest;
                                char::from_u32(0x10000 + ((h - 0xD800) << 10) + (l - 0xDC00))
                                    .unwrap_or('\u{fffd}')
                            }
                            None => '\u{fffd}',
                        }
                    }
                    Some(code) => char::from_u32(code).unwrap_or('\u{fffd}'),
                    None => '\u{fffd}',
                }
            }
            Some(other) => other,
            None => break,
        };
        out.push(decoded);
    }
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(extra: &[&str]) -> FieldTable {
        let mut t = FieldTable::default();
        for p in extra {
            t.intern(p);
        }
        t
    }

    const ISSUED: &str = r#"{"id":"e1","time":"2026-01-01T12:00:00Z","type":"com.qlik.oauth-token.issued","source":"s","specversion":"1.0","tenantid":"t1","originip":"10.1.2.3","authclaims":"{\"sub\":\"alice\",\"subType\":\"user\"}","data":{"scopes":["user_default","admin_classic"],"grantType":"urn:qlik:oauth:user-impersonation","note":"a\nb"}}"#;

    #[test]
    fn files_values_by_field() {
        let t = table(&[
            "data.scopes",
            "data.grantType",
            "data.note",
            "authclaims.sub",
        ]);
        let mut buf = EventBuf::new(1 << 20);
        let meta = buf.parse(ISSUED.as_bytes(), &t).unwrap();
        assert_eq!(meta.kind, EventKind::Issued);
        assert!(meta.time.is_some());
        let scopes: Vec<_> = buf.scalars(t.get("data.scopes").unwrap()).collect();
        assert_eq!(
            scopes,
            [Value::Str("user_default"), Value::Str("admin_classic")]
        );
        assert_eq!(buf.str(t.get("data.note").unwrap()), Some("a\nb"));
        assert_eq!(buf.str(t.get("authclaims.sub").unwrap()), Some("alice"));
        assert!(buf.str(system::AUTHCLAIMS).unwrap().contains("alice"));
    }

    #[test]
    fn doubly_escaped_claims_are_read() {
        let line = ISSUED.replace(
            r#""{\"sub\":\"alice\",\"subType\":\"user\"}""#,
            r#""{\\\"sub\\\":\\\"bob\\\"}""#,
        );
        let t = table(&["authclaims.sub"]);
        let mut buf = EventBuf::new(1 << 20);
        buf.parse(line.as_bytes(), &t).unwrap();
        assert_eq!(buf.str(t.get("authclaims.sub").unwrap()), Some("bob"));
    }

    #[test]
    fn rejections_name_their_reason() {
        let t = table(&[]);
        let mut buf = EventBuf::new(1 << 20);
        let cases = [
            ("[1]", Rejection::NotObject),
            ("\"x\"", Rejection::NotObject),
            (r#"{"id":"1"}"#, Rejection::Missing("type")),
            (
                &ISSUED.replace(r#""id":"e1""#, r#""id":5"#),
                Rejection::WrongType {
                    field: "id",
                    expected: "a string",
                },
            ),
            (
                &ISSUED.replace("10.1.2.3", "10.1.2.300"),
                Rejection::BadIp("10.1.2.300".into()),
            ),
            (
                &ISSUED.replace(r#""id":"e1""#, r#""id":"e1","id":"e2""#),
                Rejection::Repeated("id"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(buf.parse(line.as_bytes(), &t), Err(want), "{line}");
        }
        assert!(matches!(
            buf.parse(b"{\"id\":", &t),
            Err(Rejection::Json(_))
        ));
        assert!(matches!(buf.parse(b"{} x", &t), Err(Rejection::Json(_))));
        assert_eq!(buf.parse(&[0xff, b'{'], &t), Err(Rejection::NotUtf8));
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let t = table(&[]);
        let mut buf = EventBuf::new(1 << 22);
        let line = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(buf.parse(line.as_bytes(), &t), Err(Rejection::NotObject));
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let skipped = ISSUED.replace(r#""note":"a\nb""#, &format!(r#""deep":{deep}"#));
        assert!(
            buf.parse(skipped.as_bytes(), &t).is_ok(),
            "unread fields are skipped iteratively"
        );
        let t = table(&["data.note"]);
        let read = ISSUED.replace(r#""note":"a\nb""#, &format!(r#""note":{deep}"#));
        let rejection = buf.parse(read.as_bytes(), &t).unwrap_err();
        assert!(
            rejection.to_string().contains("recursion limit"),
            "{rejection}"
        );
    }

    #[test]
    fn revoked_events_need_their_data() {
        let t = table(&[]);
        let mut buf = EventBuf::new(1 << 20);
        let good = r#"{"id":"r","type":"com.qlik.core.oauth-token.revoked","source":"s","specversion":"1.0","tenantid":"t","data":{"revokedAt":"2026-01-01T00:00:00+01:00","revokedContext":{"userId":"u"},"revokedByBearer":false}}"#;
        assert_eq!(
            buf.parse(good.as_bytes(), &t).unwrap().kind,
            EventKind::Revoked
        );
        let empty = good.replace(r#"{"userId":"u"}"#, "{}");
        assert_eq!(
            buf.parse(empty.as_bytes(), &t),
            Err(Rejection::EmptyRevokedContext)
        );
        let no_bearer = good.replace(r#","revokedByBearer":false"#, "");
        assert_eq!(
            buf.parse(no_bearer.as_bytes(), &t),
            Err(Rejection::Missing("data.revokedByBearer"))
        );
        let bad_time = good.replace("2026-01-01T00:00:00+01:00", "yesterday");
        assert!(matches!(
            buf.parse(bad_time.as_bytes(), &t),
            Err(Rejection::BadTime { .. })
        ));
    }

    #[test]
    fn time_fields_are_derived_from_the_event_time() {
        let t = table(&["@hour", "@weekday"]);
        let mut buf = EventBuf::new(1 << 20);
        buf.parse(ISSUED.as_bytes(), &t).unwrap();
        assert_eq!(
            buf.values(t.get("@hour").unwrap()).next(),
            Some(Value::Int(12))
        );
        assert_eq!(buf.str(t.get("@weekday").unwrap()), Some("thu"));
    }

    #[test]
    fn escaped_strings_decode_like_serde_json() {
        let t = table(&["data.note"]);
        let mut buf = EventBuf::new(1 << 20);
        for body in [
            r#"plain"#,
            r#"a\"b\\c\/d\n\t\r\b\f"#,
            r#"\u00e9\u20ac"#,
            r#"\ud83d\ude00 x"#,
            r#"\"édgés\u0041\""#,
        ] {
            let line = ISSUED.replace(r#""note":"a\nb""#, &format!(r#""note":"{body}""#));
            buf.parse(line.as_bytes(), &t).unwrap();
            let expected: String = serde_json::from_str(&format!("\"{body}\"")).unwrap();
            assert_eq!(
                buf.str(t.get("data.note").unwrap()),
                Some(expected.as_str()),
                "{body}"
            );
        }
    }

    #[test]
    fn long_lines_are_refused() {
        let t = table(&[]);
        let mut buf = EventBuf::new(16);
        assert_eq!(
            buf.parse(ISSUED.as_bytes(), &t),
            Err(Rejection::TooLong { limit: 16 })
        );
    }
}
