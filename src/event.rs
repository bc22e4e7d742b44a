//! Parsing and validating one CloudEvent line into a reusable buffer.
//!
//! The parser walks the JSON once with a [`Scanner`], following the [`FieldTable`]
//! trie: values under paths a rule or the validator reads are filed by
//! [`FieldId`]; everything else is skipped. Strings are kept as ranges into
//! the line (or into a scratch arena when JSON escapes had to be decoded), so
//! a warm [`EventBuf`] parses an event without allocating. `authclaims` is
//! parsed only when some rule reads inside it.
//!
//! Limits: a line longer than the configured maximum is refused before it is
//! parsed; values that rules read may nest 128 levels deep, values they do
//! not read any depth.

use std::fmt;

use crate::fields::{FieldId, FieldTable, system};
use crate::json::{
    Code, JsonError, Number, Scanner, StrSpan, Token, decode_escaped_quotes, decode_into,
};
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
    /// A CloudEvents attribute that must not be empty (`id`, `type`,
    /// `source`, `specversion`) is.
    Empty(&'static str),
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
    /// An identity field (`id`, `source`) holds an unpaired surrogate
    /// escape: decoded, it would be the same as other identities.
    UnpairedSurrogate(&'static str),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
            Rejection::NotUtf8 => write!(f, "line is not valid UTF-8"),
            Rejection::Json(message) => write!(f, "invalid JSON: {message}"),
            Rejection::NotObject => write!(f, "event is not a JSON object"),
            Rejection::Missing(field) => write!(f, "missing required field '{field}'"),
            Rejection::Empty(field) => write!(f, "required field '{field}' is empty"),
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
            Rejection::UnpairedSurrogate(field) => write!(
                f,
                "field '{field}' holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is no character"
            ),
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
    /// The scanner's skip state (reused between events).
    open: Vec<bool>,
    /// What the walk of the line noted beside the values.
    notes: LineNotes,
    max_line: usize,
}

/// What a walk of the line notes beside the values it files.
#[derive(Debug, Default, Clone, Copy)]
struct LineNotes {
    /// `authclaims` was filed still escaped (see [`Walker::text`]).
    claims_escaped: bool,
    /// The identity field (`id` or `source`) whose text holds an unpaired
    /// surrogate escape, which no character can stand for.
    unpaired_surrogate: Option<&'static str>,
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
        self.start(line.len())?;
        let text = std::str::from_utf8(line).map_err(|_| Rejection::NotUtf8)?;
        self.line.push_str(text);
        self.parse_line(fields)
    }

    /// Like [`EventBuf::parse`], but takes the line's buffer instead of
    /// copying the line, leaving `line` empty until
    /// [`EventBuf::give_back`].
    pub fn parse_owned(
        &mut self,
        line: &mut Vec<u8>,
        fields: &FieldTable,
    ) -> Result<Meta, Rejection> {
        self.start(line.len())?;
        match String::from_utf8(std::mem::take(line)) {
            Ok(text) => *line = std::mem::replace(&mut self.line, text).into_bytes(),
            Err(not_utf8) => {
                *line = not_utf8.into_bytes();
                return Err(Rejection::NotUtf8);
            }
        }
        self.parse_line(fields)
    }

    /// Hands the line taken by [`EventBuf::parse_owned`] back, or an
    /// empty buffer if it went on with [`EventBuf::swap_line`]. A line that
    /// was not taken (too long, not UTF-8) is not empty and stays.
    pub fn give_back(&mut self, line: &mut Vec<u8>) {
        if line.is_empty() {
            let text = std::mem::take(&mut self.line);
            let mut spare = std::mem::replace(line, text.into_bytes());
            spare.clear();
            self.line = String::from_utf8(spare).unwrap_or_default();
        }
    }

    /// Forgets the previous event and its line; refuses a line longer than
    /// the limit.
    fn start(&mut self, len: usize) -> Result<(), Rejection> {
        self.forget_values();
        self.line.clear();
        if len > self.max_line {
            return Err(Rejection::TooLong {
                limit: self.max_line,
            });
        }
        Ok(())
    }

    /// Parses and validates the line in `self.line`.
    fn parse_line(&mut self, fields: &FieldTable) -> Result<Meta, Rejection> {
        self.walk_line(fields)?;
        if let Some(node) = fields.claims_node() {
            self.walk_claims(fields, node)?;
        }
        self.index(fields.len());
        let meta = self.validate()?;
        self.derive_time_fields(fields, meta.time);
        Ok(meta)
    }

    /// Files `@hour` and `@weekday` when rules read them, after the values
    /// were grouped: each is the only value of its field.
    fn derive_time_fields(&mut self, fields: &FieldTable, time: Option<Timestamp>) {
        use chrono::{Datelike, Timelike};
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let (hour, weekday) = fields.time_fields();
        if hour.is_none() && weekday.is_none() {
            return;
        }
        let Some(time) = time.and_then(|t| chrono::DateTime::from_timestamp_micros(t.0)) else {
            return;
        };
        if let Some(field) = hour {
            self.file_last(field, Raw::Int(i64::from(time.hour())));
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
            self.file_last(field, Raw::Str(text));
        }
    }

    /// Files `raw` as the only value of `field`, after the grouping.
    fn file_last(&mut self, field: FieldId, raw: Raw) {
        let at = self.values.len() as u32;
        self.values.push((field, raw));
        self.slots[field.index()] = (at, at + 1);
    }

    fn walk_line(&mut self, fields: &FieldTable) -> Result<(), Rejection> {
        let mut walker = Walker {
            scanner: Scanner::new(&self.line, &mut self.open),
            fields,
            base: Base::Line,
            values: &mut self.values,
            arena: &mut self.arena,
            notes: Some(&mut self.notes),
        };
        match walker.scanner.peek() {
            Some(b'{') => walker.root(0).map_err(|e| Rejection::Json(e.to_string())),
            Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
                Err(Rejection::NotObject)
            }
            // Not the start of a value: the scanner says why.
            _ => Err(match walker.scanner.value() {
                Err(e) => Rejection::Json(e.to_string()),
                Ok(_) => Rejection::NotObject,
            }),
        }
    }

    /// Files the fields read inside `authclaims`, a JSON object serialised
    /// into a string (sometimes escaped twice). A string that is not such an
    /// object files nothing; one whose values that rules read nest too
    /// deep is refused, as in the event itself.
    fn walk_claims(&mut self, fields: &FieldTable, node: u32) -> Result<(), Rejection> {
        let claims = self.values.iter().find(|(f, _)| *f == system::AUTHCLAIMS);
        let Some(&(_, Raw::Str(text))) = claims else {
            return Ok(());
        };
        let (start, end) = (text.start as usize, text.end as usize);
        let source = if self.notes.claims_escaped {
            // Filed as it stands in the line (see `Walker::text`); escaped
            // twice with only quotes, it decodes in one pass.
            let raw = self.line[start..end].trim_start();
            if opens_object_with(raw, r#"\\\""#) && decode_escaped_quotes(raw, &mut self.claims) {
                return self.walk_claims_text(fields, node);
            }
            let decoded = self.arena.len();
            decode_into(raw, &mut self.arena);
            &self.arena[decoded..]
        } else if text.base == Base::Line {
            &self.line[start..end]
        } else {
            &self.arena[start..end]
        };
        let trimmed = source.trim_start();
        // Inside an object's `{` only a quote or `}` may follow: a
        // backslash (`\"`, `\n`, `\u0022`) means the text is escaped again,
        // unless a quote stands unescaped in it.
        if opens_object_with(trimmed, "\\") && !has_bare_quote(trimmed) {
            decode_into(trimmed, &mut self.claims);
        } else {
            self.claims.push_str(trimmed);
        }
        self.walk_claims_text(fields, node)
    }

    /// Walks the decoded claims; files nothing unless they are a JSON
    /// object, and refuses them when a value that rules read nests too deep.
    fn walk_claims_text(&mut self, fields: &FieldTable, node: u32) -> Result<(), Rejection> {
        let mark = self.values.len();
        let mut walker = Walker {
            scanner: Scanner::new(&self.claims, &mut self.open),
            fields,
            base: Base::Claims,
            values: &mut self.values,
            arena: &mut self.arena,
            notes: None,
        };
        if walker.scanner.peek() != Some(b'{') {
            return Ok(());
        }
        match walker.root(node) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.values.truncate(mark);
                if e.code() == Code::RecursionLimit {
                    return Err(Rejection::Json(format!("in authclaims: {}", e.message())));
                }
                Ok(())
            }
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

    /// Hands the line over in exchange for `other` (emptied), instead of
    /// copying it; the buffer is empty afterwards, as if no event had been
    /// parsed.
    pub fn swap_line(&mut self, other: &mut String) {
        other.clear();
        std::mem::swap(&mut self.line, other);
        self.forget_values();
    }

    /// Forgets what was read from the line (the line itself stays).
    fn forget_values(&mut self) {
        self.values.clear();
        self.slots.clear();
        self.arena.clear();
        self.claims.clear();
        self.notes = LineNotes::default();
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
            // An array files its elements under its own field too: it is
            // one value, of the wrong type for every caller.
            _ if matches!(self.values[start as usize].1, Raw::Array) => Ok(Some(Value::Array)),
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

    /// A required string that CloudEvents does not allow to be empty.
    fn non_empty_str(&self, field: FieldId, name: &'static str) -> Result<&str, Rejection> {
        match self.required_str(field, name)? {
            "" => Err(Rejection::Empty(name)),
            text => Ok(text),
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
        self.non_empty_str(system::ID, "id")?;
        if let Some(field) = self.notes.unpaired_surrogate {
            return Err(Rejection::UnpairedSurrogate(field));
        }
        let kind = EventKind::of_type(self.non_empty_str(system::TYPE, "type")?);
        self.non_empty_str(system::SOURCE, "source")?;
        self.non_empty_str(system::SPECVERSION, "specversion")?;
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
            Some(Value::Str(s)) if crate::matcher::parse_ip(s).is_none() => {
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
        match self.single(system::REVOKED_CONTEXT, "data.revokedContext")? {
            None => return Err(Rejection::Missing("data.revokedContext")),
            Some(Value::Object) => {
                let (start, _) = self.slots[system::REVOKED_CONTEXT.index()];
                if matches!(self.values[start as usize].1, Raw::Object(0)) {
                    return Err(Rejection::EmptyRevokedContext);
                }
            }
            Some(_) => {
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

/// True when `text` opens an object whose first key starts with `quote`
/// (an escaped quote: the object is still escaped).
fn opens_object_with(text: &str, quote: &str) -> bool {
    text.strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with(quote))
}

/// True when `text` holds a `"` that no backslash escapes.
fn has_bare_quote(text: &str) -> bool {
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'\\' => {
                bytes.next();
            }
            b'"' => return true,
            _ => {}
        }
    }
    false
}

/// Shortens a value for an error message.
pub fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// How deep the containers of values that rules read may nest.
const MAX_DEPTH: usize = 128;

/// Follows the field trie through one JSON text, filing the values of the
/// paths it holds and skipping the rest.
struct Walker<'a, 'v> {
    scanner: Scanner<'a>,
    fields: &'a FieldTable,
    base: Base,
    values: &'v mut Vec<(FieldId, Raw)>,
    arena: &'v mut String,
    /// Where to note what the line holds beside its values; `None` inside
    /// the claims.
    notes: Option<&'v mut LineNotes>,
}

impl Walker<'_, '_> {
    /// Walks the object the text consists of; its members are children of
    /// trie node `node`.
    fn root(&mut self, node: u32) -> Result<(), JsonError> {
        self.scanner.value()?;
        self.members(node, 1)?;
        self.scanner.end()
    }

    /// Walks the members of an object whose `{` was read; returns how many
    /// there were.
    fn members(&mut self, node: u32, depth: usize) -> Result<u32, JsonError> {
        let mut count = 0u32;
        while let Some(key) = self.scanner.next_key(count == 0)? {
            count = count.saturating_add(1);
            match self.child(node, key) {
                Some(child) => self.value(child, depth)?,
                None => self.scanner.skip_value()?,
            }
        }
        Ok(count)
    }

    fn child(&mut self, node: u32, key: StrSpan) -> Option<u32> {
        let parent = self.fields.node(node);
        if parent.is_leaf() {
            return None;
        }
        let body = &self.scanner.text()[key.start..key.end];
        if !key.escaped {
            return parent.child(body);
        }
        let mark = self.arena.len();
        decode_into(body, self.arena);
        let child = parent.child(&self.arena[mark..]);
        self.arena.truncate(mark);
        child
    }

    /// Walks one value under trie node `node`, at nesting `depth`.
    fn value(&mut self, node: u32, depth: usize) -> Result<(), JsonError> {
        let capture = self.fields.node(node).capture;
        let raw = match self.scanner.value()? {
            Token::Object | Token::Array if depth >= MAX_DEPTH => {
                return Err(self.scanner.error(Code::RecursionLimit));
            }
            Token::Object => {
                let marker = self.values.len();
                self.file(capture, Raw::Object(0));
                let members = self.members(node, depth + 1)?;
                if capture.is_some() {
                    self.values[marker].1 = Raw::Object(members);
                }
                return Ok(());
            }
            Token::Array => {
                self.file(capture, Raw::Array);
                let mut first = true;
                while self.scanner.next_element(first)? {
                    first = false;
                    self.value(node, depth + 1)?;
                }
                return Ok(());
            }
            Token::Str(_) if capture.is_none() => return Ok(()),
            Token::Str(span) => Raw::Str(self.text(span, capture)),
            Token::Number(span) => match self.scanner.number(span) {
                Number::Int(n) => Raw::Int(n),
                Number::UInt(n) => Raw::UInt(n),
                Number::Float(n) => Raw::Float(n),
            },
            Token::Bool(b) => Raw::Bool(b),
            Token::Null => Raw::Null,
        };
        self.file(capture, raw);
        Ok(())
    }

    fn file(&mut self, capture: Option<FieldId>, raw: Raw) {
        if let Some(field) = capture {
            self.values.push((field, raw));
        }
    }

    /// A string body kept in place, or decoded into the arena when it holds
    /// escapes. `authclaims` stays escaped unless something reads it whole:
    /// the validator needs only its type, and the claims walk decodes it.
    fn text(&mut self, span: StrSpan, capture: Option<FieldId>) -> Text {
        let raw = Text {
            base: self.base,
            start: span.start as u32,
            end: span.end as u32,
        };
        if !span.escaped {
            return raw;
        }
        if capture == Some(system::AUTHCLAIMS)
            && !self.fields.reads_claims_text()
            && let Some(notes) = self.notes.as_deref_mut()
        {
            notes.claims_escaped = true;
            return raw;
        }
        let start = self.arena.len();
        let whole = decode_into(&self.scanner.text()[span.start..span.end], self.arena);
        let identity = match capture {
            Some(system::ID) => Some("id"),
            Some(system::SOURCE) => Some("source"),
            _ => None,
        };
        if !whole
            && identity.is_some()
            && let Some(notes) = self.notes.as_deref_mut()
        {
            notes.unpaired_surrogate = notes.unpaired_surrogate.or(identity);
        }
        Text {
            base: Base::Arena,
            start: start as u32,
            end: self.arena.len() as u32,
        }
    }
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
    fn numbers_beyond_f64_are_accepted_whether_read_or_not() {
        let huge = format!("1{}", "0".repeat(400));
        for n in ["1e999999999", huge.as_str(), "-1e999"] {
            let line = ISSUED.replace(r#""note":"a\nb""#, &format!(r#""n":{n}"#));
            assert_ne!(line, ISSUED);
            for t in [table(&[]), table(&["data.n"])] {
                let mut buf = EventBuf::new(1 << 20);
                assert!(buf.parse(line.as_bytes(), &t).is_ok(), "{n}");
                if let Some(field) = t.get("data.n") {
                    let value = buf.values(field).next();
                    assert!(
                        matches!(value, Some(Value::Float(x)) if x.is_infinite()),
                        "{value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn files_values_by_field() {
        let t = table(&[
            "data.scopes",
            "data.grantType",
            "data.note",
            "authclaims",
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
        assert_eq!(
            buf.str(system::AUTHCLAIMS),
            Some(r#"{"sub":"alice","subType":"user"}"#)
        );
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
    fn claims_escaped_twice_are_read_whatever_escape_opens_them() {
        let t = table(&["authclaims.sub"]);
        let mut buf = EventBuf::new(1 << 20);
        for claims in [
            r#""{\\n\\\"sub\\\":\\\"bob\\\"}""#,
            r#""{\\t \\\"sub\\\":\\\"bob\\\"}""#,
            r#""{\\u0022sub\\u0022:\\u0022bob\\u0022}""#,
        ] {
            let line = ISSUED.replace(r#""{\"sub\":\"alice\",\"subType\":\"user\"}""#, claims);
            buf.parse(line.as_bytes(), &t).unwrap();
            assert_eq!(
                buf.str(t.get("authclaims.sub").unwrap()),
                Some("bob"),
                "{claims}"
            );
        }
    }

    #[test]
    fn claims_escaped_once_with_a_stray_escape_are_not_decoded_again() {
        let t = table(&["authclaims.sub"]);
        let mut buf = EventBuf::new(1 << 20);
        let line = ISSUED.replace(
            r#""{\"sub\":\"alice\",\"subType\":\"user\"}""#,
            r#""{\\n \"sub\":\"bob\"}""#,
        );
        buf.parse(line.as_bytes(), &t).unwrap();
        assert_eq!(buf.str(t.get("authclaims.sub").unwrap()), None);
    }

    #[test]
    fn claims_nested_too_deep_are_refused_when_read() {
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let claims = format!(r#""{{\"pad\":{deep},\"sub\":\"bob\"}}""#);
        let line = ISSUED.replace(r#""{\"sub\":\"alice\",\"subType\":\"user\"}""#, &claims);
        let mut buf = EventBuf::new(1 << 20);
        let only_sub = table(&["authclaims.sub"]);
        buf.parse(line.as_bytes(), &only_sub).unwrap();
        assert_eq!(
            buf.str(only_sub.get("authclaims.sub").unwrap()),
            Some("bob")
        );
        let with_pad = table(&["authclaims.sub", "authclaims.pad"]);
        let refused = buf.parse(line.as_bytes(), &with_pad).unwrap_err();
        assert_eq!(
            refused,
            Rejection::Json("in authclaims: recursion limit exceeded".into())
        );
    }

    #[test]
    fn claims_read_whole_and_inside_are_both_decoded() {
        let t = table(&["authclaims", "authclaims.sub"]);
        let mut buf = EventBuf::new(1 << 20);
        for claims in [r#""{\"sub\":\"bob\"}""#, r#""{\\\"sub\\\":\\\"bob\\\"}""#] {
            // Multi-byte characters early in the line, where offsets into
            // the decoded claims would fall inside a character.
            let line = ISSUED
                .replace(r#""id":"e1""#, r#""id":"aéééééééééééééééé""#)
                .replace(r#""{\"sub\":\"alice\",\"subType\":\"user\"}""#, claims);
            buf.parse(line.as_bytes(), &t).unwrap();
            assert_eq!(buf.str(t.get("authclaims.sub").unwrap()), Some("bob"));
            assert!(buf.str(system::AUTHCLAIMS).unwrap().contains("bob"));
        }
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
            (
                &ISSUED.replace(r#""id":"e1""#, r#""id":["e1","e2"]"#),
                Rejection::WrongType {
                    field: "id",
                    expected: "a string",
                },
            ),
            (
                &ISSUED.replace(r#""id":"e1""#, r#""id":"e\ud800""#),
                Rejection::UnpairedSurrogate("id"),
            ),
            (
                &ISSUED.replace(r#""id":"e1""#, r#""id":"\udc00""#),
                Rejection::UnpairedSurrogate("id"),
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
        for array in [r#"["x"]"#, "[]", r#"[{"userId":"u"}]"#] {
            let listed = good.replace(r#"{"userId":"u"}"#, array);
            assert_eq!(
                buf.parse(listed.as_bytes(), &t),
                Err(Rejection::WrongType {
                    field: "data.revokedContext",
                    expected: "an object",
                }),
                "{array}"
            );
        }
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
