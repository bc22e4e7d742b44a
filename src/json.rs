//! A validating JSON scanner over one line of text.
//!
//! The event parser drives it token by token: it reads the members of the
//! objects it follows and asks the scanner to skip everything else. Skipping
//! still validates (the line is rejected for any JSON error, read or not) but
//! decodes nothing and keeps only one byte of state per open container, so
//! unread values of any depth cost no recursion. Strings are searched eight
//! bytes at a time for the bytes that end or interrupt them.
//!
//! Errors name what was wrong and the column (1-based byte offset) where it
//! was found, in the words serde_json uses.

use std::fmt;

/// A JSON syntax error: what was wrong and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    code: Code,
    /// Byte offset where it was found.
    at: u32,
}

/// What was wrong, one variant per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// EOF while parsing a list
    EofList,
    /// EOF while parsing a string
    EofString,
    /// EOF while parsing a value
    EofValue,
    /// EOF while parsing an object
    EofObject,
    /// expected `,` or `]`
    ExpectedListComma,
    /// expected `,` or `}`
    ExpectedObjectComma,
    /// expected `:`
    ExpectedColon,
    /// expected ident
    ExpectedIdent,
    /// expected value
    ExpectedValue,
    /// invalid escape
    InvalidEscape,
    /// invalid number
    InvalidNumber,
    /// key must be a string
    KeyNotString,
    /// trailing characters
    TrailingCharacters,
    /// trailing comma
    TrailingComma,
    /// control character (\u0000-\u001F) found while parsing a string
    ControlCharacter,
    /// recursion limit exceeded
    RecursionLimit,
}

impl JsonError {
    /// What was wrong.
    pub fn code(&self) -> Code {
        self.code
    }

    /// What was wrong, in the words serde_json uses (e.g. "expected `:`").
    pub fn message(&self) -> &'static str {
        match self.code {
            Code::EofList => "EOF while parsing a list",
            Code::EofString => "EOF while parsing a string",
            Code::EofValue => "EOF while parsing a value",
            Code::EofObject => "EOF while parsing an object",
            Code::ExpectedListComma => "expected `,` or `]`",
            Code::ExpectedObjectComma => "expected `,` or `}`",
            Code::ExpectedColon => "expected `:`",
            Code::ExpectedIdent => "expected ident",
            Code::ExpectedValue => "expected value",
            Code::InvalidEscape => "invalid escape",
            Code::InvalidNumber => "invalid number",
            Code::KeyNotString => "key must be a string",
            Code::TrailingCharacters => "trailing characters",
            Code::TrailingComma => "trailing comma",
            Code::ControlCharacter => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            Code::RecursionLimit => "recursion limit exceeded",
        }
    }

    /// The 1-based column (byte) where it was found.
    pub fn column(&self) -> usize {
        self.at as usize + 1
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line 1 column {}", self.message(), self.column())
    }
}

/// The body of a string, between its quotes, as byte offsets into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrSpan {
    /// Offset of the first byte after the opening quote.
    pub start: usize,
    /// Offset of the closing quote.
    pub end: usize,
    /// True when the body holds a backslash escape.
    pub escaped: bool,
}

/// The first token of a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token {
    /// `{`, consumed; read its members with [`Scanner::next_key`].
    Object,
    /// `[`, consumed; read its elements with [`Scanner::next_element`].
    Array,
    /// A whole string.
    Str(StrSpan),
    /// A whole number, as the span of its text; see [`Scanner::number`].
    Number(Span),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A byte range of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset after the last byte.
    pub end: usize,
}

/// A JSON number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX` that fits `u64`.
    UInt(u64),
    /// Any other number.
    Float(f64),
}

/// A cursor over one JSON text.
pub struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Open containers while skipping: true for an object, false for an array.
    open: &'a mut Vec<bool>,
}

type Result<T> = std::result::Result<T, JsonError>;

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`, keeping its skip state in `open`
    /// (cleared here, reused between texts to avoid allocating).
    pub fn new(text: &'a str, open: &'a mut Vec<bool>) -> Scanner<'a> {
        open.clear();
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            open,
        }
    }

    /// The text being scanned.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The first non-whitespace byte, without consuming it.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    /// An error found at the current position (at the end of the text, its
    /// last byte).
    #[cold]
    #[inline(never)]
    pub fn error(&self, code: Code) -> JsonError {
        let at = self.pos.min(self.bytes.len().saturating_sub(1));
        JsonError {
            code,
            at: u32::try_from(at).unwrap_or(u32::MAX),
        }
    }

    /// Checks that only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error(Code::TrailingCharacters)),
        }
    }

    /// Reads the first token of a value.
    #[inline(always)]
    pub fn value(&mut self) -> Result<Token> {
        let Some(byte) = self.peek() else {
            return Err(self.error(Code::EofValue));
        };
        match byte {
            b'{' => {
                self.pos += 1;
                Ok(Token::Object)
            }
            b'[' => {
                self.pos += 1;
                Ok(Token::Array)
            }
            b'"' => {
                self.pos += 1;
                self.string().map(Token::Str)
            }
            b't' => self.literal(b"true", Token::Bool(true)),
            b'f' => self.literal(b"false", Token::Bool(false)),
            b'n' => self.literal(b"null", Token::Null),
            b'-' | b'0'..=b'9' => self.number_text().map(Token::Number),
            _ => Err(self.error(Code::ExpectedValue)),
        }
    }

    /// Moves to the next key of the object being read (after `{` or after a
    /// member's value) and past its `:`; `None` after the closing `}`.
    #[inline(always)]
    pub fn next_key(&mut self, first: bool) -> Result<Option<StrSpan>> {
        let mut byte = self.peek().ok_or_else(|| self.error(Code::EofObject))?;
        if byte == b'}' {
            self.pos += 1;
            return Ok(None);
        }
        if !first {
            if byte != b',' {
                return Err(self.error(Code::ExpectedObjectComma));
            }
            self.pos += 1;
            byte = self.peek().ok_or_else(|| self.error(Code::EofValue))?;
            if byte == b'}' {
                return Err(self.error(Code::TrailingComma));
            }
        }
        if byte != b'"' {
            return Err(self.error(Code::KeyNotString));
        }
        self.pos += 1;
        let key = self.string()?;
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                Ok(Some(key))
            }
            Some(_) => Err(self.error(Code::ExpectedColon)),
            None => Err(self.error(Code::EofObject)),
        }
    }

    /// Moves to the next element of the array being read (after `[` or after
    /// an element); false after the closing `]`. The same steps as
    /// [`Scanner::next_key`], written out: shared, they cost every key one
    /// more look at the next byte (5% of the instructions of a parse).
    pub fn next_element(&mut self, first: bool) -> Result<bool> {
        let byte = self.peek().ok_or_else(|| self.error(Code::EofList))?;
        if byte == b']' {
            self.pos += 1;
            return Ok(false);
        }
        if !first {
            if byte != b',' {
                return Err(self.error(Code::ExpectedListComma));
            }
            self.pos += 1;
            if self.peek() == Some(b']') {
                return Err(self.error(Code::TrailingComma));
            }
        }
        Ok(true)
    }

    /// Skips one value, validating it. Iterative: the depth of what is
    /// skipped is bounded only by the length of the text.
    pub fn skip_value(&mut self) -> Result<()> {
        let base = self.open.len();
        loop {
            // At the start of a value.
            match self.value()? {
                Token::Object if self.next_key(true)?.is_some() => {
                    self.open.push(true);
                    continue;
                }
                Token::Array if self.next_element(true)? => {
                    self.open.push(false);
                    continue;
                }
                _ => {}
            }
            // After a complete value: close containers until one has more.
            loop {
                let Some(&in_object) = self.open.get(base..).and_then(<[bool]>::last) else {
                    return Ok(());
                };
                let more = if in_object {
                    self.next_key(false)?.is_some()
                } else {
                    self.next_element(false)?
                };
                if more {
                    break;
                }
                self.open.pop();
            }
        }
    }

    /// Reads a string body; the opening quote is consumed. Looks at sixteen
    /// bytes at a time and walks the special ones among them, so escapes do
    /// not restart the search.
    #[inline(always)]
    fn string(&mut self) -> Result<StrSpan> {
        let start = self.pos;
        let mut escaped = false;
        loop {
            let base = self.pos;
            let rest = &self.bytes[base..];
            let (mut hits, whole) = match rest.first_chunk::<16>() {
                Some(chunk) => (special_bytes(chunk), true),
                None => {
                    let mut padded = [b' '; 16];
                    padded[..rest.len()].copy_from_slice(rest);
                    (special_bytes(&padded), false)
                }
            };
            while hits != 0 {
                let at = base + hits.trailing_zeros() as usize;
                hits &= hits - 1;
                if at < self.pos {
                    // The character of the escape just read.
                    continue;
                }
                match self.bytes[at] {
                    b'"' => {
                        self.pos = at + 1;
                        return Ok(StrSpan {
                            start,
                            end: at,
                            escaped,
                        });
                    }
                    b'\\' => {
                        escaped = true;
                        self.pos = at + 1;
                        self.escape()?;
                    }
                    _ => {
                        self.pos = at;
                        return Err(self.error(Code::ControlCharacter));
                    }
                }
            }
            if !whole {
                self.pos = self.bytes.len();
                return Err(self.error(Code::EofString));
            }
            self.pos = self.pos.max(base + 16);
        }
    }

    /// Checks one escape after its backslash.
    fn escape(&mut self) -> Result<()> {
        match self.bytes.get(self.pos) {
            None => Err(self.error(Code::EofString)),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                for _ in 0..4 {
                    match self.bytes.get(self.pos) {
                        Some(byte) if byte.is_ascii_hexdigit() => self.pos += 1,
                        Some(_) => return Err(self.error(Code::InvalidEscape)),
                        None => return Err(self.error(Code::EofString)),
                    }
                }
                Ok(())
            }
            Some(_) => Err(self.error(Code::InvalidEscape)),
        }
    }

    fn literal(&mut self, word: &[u8], token: Token) -> Result<Token> {
        for &expected in word {
            match self.bytes.get(self.pos) {
                Some(&byte) if byte == expected => self.pos += 1,
                Some(_) => return Err(self.error(Code::ExpectedIdent)),
                None => return Err(self.error(Code::EofValue)),
            }
        }
        Ok(token)
    }

    /// Reads a number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number_text(&mut self) -> Result<Span> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(self.error(Code::InvalidNumber));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(self.error(Code::InvalidNumber)),
            None => return Err(self.error(Code::EofValue)),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        Ok(Span {
            start,
            end: self.pos,
        })
    }

    /// The value of a number read by [`Scanner::value`]: an integer when it
    /// is written as one and fits 64 bits, else the nearest `f64`, which is
    /// infinite beyond its range. A number is valid JSON however large, so
    /// whether an event is accepted never depends on which of its fields
    /// rules read.
    pub fn number(&self, span: Span) -> Number {
        let literal = &self.text[span.start..span.end];
        if !literal.contains(['.', 'e', 'E']) {
            if let Ok(n) = literal.parse::<i64>() {
                return Number::Int(n);
            }
            if let Ok(n) = literal.parse::<u64>() {
                return Number::UInt(n);
            }
        }
        // The scanner checked the grammar, so only the range can be off.
        Number::Float(literal.parse::<f64>().unwrap_or(f64::NAN))
    }

    fn digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<()> {
        match self.bytes.get(self.pos) {
            Some(byte) if byte.is_ascii_digit() => {
                self.digits();
                Ok(())
            }
            Some(_) => Err(self.error(Code::InvalidNumber)),
            None => Err(self.error(Code::EofValue)),
        }
    }
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `word` that is zero, exactly: adding 0x7F
/// to the low seven bits of a byte cannot carry into the next one.
fn zero_bytes(word: u64) -> u64 {
    const LOWS: u64 = !HIGHS;
    !(((word & LOWS) + LOWS) | word) & HIGHS
}

/// A bit per byte of `chunk` (bit 0 for its first) set where the byte is
/// special: three comparisons of 16 lanes with SSE2, which every x86-64
/// processor has.
#[cfg(target_arch = "x86_64")]
fn special_bytes(chunk: &[u8; 16]) -> u32 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let bytes = load_unaligned_m128i(chunk);
    let quote = cmp_eq_mask_i8_m128i(bytes, set_splat_i8_m128i(b'"' as i8));
    let backslash = cmp_eq_mask_i8_m128i(bytes, set_splat_i8_m128i(b'\\' as i8));
    // Control characters are the bytes that 0x1F does not lower.
    let control = cmp_eq_mask_i8_m128i(min_u8_m128i(bytes, set_splat_i8_m128i(0x1f)), bytes);
    move_mask_i8_m128i(bitor_m128i(bitor_m128i(quote, backslash), control)) as u32
}

/// [`special_bytes`] eight bytes at a time, for other processors.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn special_bytes_portable(chunk: &[u8; 16]) -> u32 {
    let half = |half: &[u8]| {
        let word = u64::from_le_bytes(half.try_into().unwrap_or_default());
        let flags = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')))
            | zero_bytes(word & (ONES * 0xE0));
        (0..8).fold(0u32, |mask, i| {
            mask | (((flags >> (8 * i + 7)) & 1) as u32) << i
        })
    };
    let (low, high) = chunk.split_at(8);
    half(low) | half(high) << 8
}

#[cfg(not(target_arch = "x86_64"))]
use special_bytes_portable as special_bytes;

/// Decodes the body of a JSON string (the text between its quotes) into
/// `out`. Leniently: an invalid escape yields the escaped character, and an
/// invalid or unpaired `\u` escape U+FFFD, so a text that was never checked
/// by a [`Scanner`] (a string inside a string) decodes too. Returns false
/// when some `\u` escape stood for no character (an unpaired surrogate)
/// and was decoded as U+FFFD.
pub fn decode_into(body: &str, out: &mut String) -> bool {
    let mut whole = true;
    let bytes = body.as_bytes();
    let mut run = 0;
    loop {
        let backslash = find_backslash(bytes, run);
        // Cut only at a backslash (ASCII), so the run is whole characters.
        out.push_str(&body[run..backslash]);
        let Some(&escape) = bytes.get(backslash + 1) else {
            return whole;
        };
        run = backslash + 2;
        let decoded = match escape {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let (decoded, used) = decode_unicode(&bytes[run..]);
                run += used;
                whole &= decoded.is_some();
                decoded.unwrap_or('\u{fffd}')
            }
            b'"' | b'\\' | b'/' => char::from(escape),
            _ => {
                // Anything else stands for itself: copy it with the next run.
                run = backslash + 1;
                continue;
            }
        };
        out.push(decoded);
    }
}

/// Decodes a text escaped twice (a JSON string inside a JSON string, as
/// `authclaims` often arrives) in one pass, when its only escapes are
/// escaped quotes (`\\\"`, a quote after both decodings). Returns false,
/// with `out` as it was, for any other escape.
pub fn decode_escaped_quotes(body: &str, out: &mut String) -> bool {
    let bytes = body.as_bytes();
    let mark = out.len();
    let mut run = 0;
    loop {
        let backslash = find_backslash(bytes, run);
        out.push_str(&body[run..backslash]);
        if backslash == bytes.len() {
            return true;
        }
        if bytes.get(backslash..backslash + 4) != Some(br#"\\\""#) {
            out.truncate(mark);
            return false;
        }
        out.push('"');
        run = backslash + 4;
    }
}

/// The character of a `\u` escape whose four hex digits start `rest`
/// (joined with a following low surrogate escape), or `None` for an
/// unpaired surrogate; and how many bytes it used after the `u`. Digits
/// that are not hex (in text no [`Scanner`] checked) give U+FFFD.
fn decode_unicode(rest: &[u8]) -> (Option<char>, usize) {
    let Some(high) = hex4(rest) else {
        return (Some('\u{fffd}'), 0);
    };
    if !(0xD800..=0xDBFF).contains(&high) {
        return (char::from_u32(high), 4);
    }
    let low = match rest.get(4..6) {
        Some(b"\\u") => hex4(&rest[6..]).filter(|low| (0xDC00..=0xDFFF).contains(low)),
        _ => None,
    };
    match low {
        Some(low) => {
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            (char::from_u32(code), 10)
        }
        None => (None, 4),
    }
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    digits.iter().try_fold(0, |value, &digit| {
        Some(value * 16 + char::from(digit).to_digit(16)?)
    })
}

/// The offset of the first backslash at or after `pos`, or the length.
fn find_backslash(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(chunk) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        let hits = zero_bytes(u64::from_le_bytes(*chunk) ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return pos + (hits.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while bytes.get(pos).is_some_and(|&byte| byte != b'\\') {
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    fn skip(text: &str) -> Result<()> {
        let mut open = Vec::new();
        let mut scanner = Scanner::new(text, &mut open);
        scanner.skip_value()?;
        scanner.end()
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        for text in [
            r#"{}"#,
            r#"[]"#,
            r#" {"a" : [1, -2.5e+3, true, false, null, {"b": {}}], "c": "d\"\\\/\b\f\n\r\t\u00e9"} "#,
            r#"0"#,
            r#"-0.0E-0"#,
            r#""\ud800""#,
            r#"[[[[[]]]],[{}]]"#,
            "\"\u{e9}\u{1f600}\"",
        ] {
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
                "{text}"
            );
            assert_eq!(skip(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for (text, message) in [
            ("", "EOF while parsing a value"),
            ("{", "EOF while parsing an object"),
            ("[1,]", "trailing comma"),
            (r#"{"a":1,}"#, "trailing comma"),
            (r#"{"a" 1}"#, "expected `:`"),
            (r#"{1:1}"#, "key must be a string"),
            (r#"{"a":1 "b":2}"#, "expected `,` or `}`"),
            ("[1 2]", "expected `,` or `]`"),
            ("[1", "EOF while parsing a list"),
            ("01", "invalid number"),
            ("1.", "EOF while parsing a value"),
            ("1.e3", "invalid number"),
            ("-", "EOF while parsing a value"),
            ("tru", "EOF while parsing a value"),
            ("trye", "expected ident"),
            (r#""\x""#, "invalid escape"),
            (r#""\u12g4""#, "invalid escape"),
            (
                "\"a\tb\"",
                "control character (\\u0000-\\u001F) found while parsing a string",
            ),
            ("\"abc", "EOF while parsing a string"),
            ("{} x", "trailing characters"),
            ("x", "expected value"),
        ] {
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(text).is_err(),
                "{text}"
            );
            assert_eq!(skip(text).map_err(|e| e.message()), Err(message), "{text}");
        }
    }

    #[test]
    fn columns_count_bytes_from_one() {
        assert_eq!(skip(r#"{"id":"#).unwrap_err().column(), 6);
        assert_eq!(skip("[1 2]").unwrap_err().column(), 4);
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!("{}0{}", "[{\"a\":".repeat(200_000), "}]".repeat(200_000));
        assert_eq!(skip(&deep), Ok(()));
        assert!(skip(&deep[..deep.len() - 1]).is_err());
    }

    #[test]
    fn both_searches_flag_every_special_byte() {
        let special = |byte: u8| byte == b'"' || byte == b'\\' || byte < 0x20;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut chunk = [0u8; 16];
            for byte in &mut chunk {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = [
                    b'a',
                    b'"',
                    b'\\',
                    0x00,
                    0x1f,
                    0x20,
                    0x7f,
                    0x80,
                    0xff,
                    (seed >> 8) as u8,
                ][(seed % 10) as usize];
            }
            let expected = (0..16).fold(0u32, |mask, i| mask | u32::from(special(chunk[i])) << i);
            assert_eq!(special_bytes(&chunk), expected, "{chunk:?}");
            assert_eq!(special_bytes_portable(&chunk), expected, "{chunk:?}");
        }
    }

    #[test]
    fn strings_end_where_serde_json_ends_them_at_every_offset() {
        for len in 0..40 {
            for insert in [
                "\\\"",
                "\\\\",
                "\\u00e9",
                "\\ud83d\\ude00",
                "\"",
                "\u{1}",
                "\\",
            ] {
                for at in 0..=len {
                    let mut body = "a".repeat(len);
                    body.insert_str(at, insert);
                    for text in [
                        format!("\"{body}\""),
                        format!("\"{body}"),
                        format!("[\"{body}\",1]"),
                    ] {
                        assert_eq!(skip(&text).is_ok(), serde_accepts(&text), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn unpaired_surrogates_are_found() {
        for unpaired in [
            r"\ud800",
            r"a\ud800b",
            r"\udc00",
            r"\ud800\u0041",
            r"x\uDBFF",
        ] {
            assert!(!decode_into(unpaired, &mut String::new()), "{unpaired}");
        }
        for fine in [
            r"\ud83d\ude00",
            r"\u00e9",
            r"\\ud800",
            r"plain",
            r"\u12",
            r"\ufffd",
        ] {
            assert!(decode_into(fine, &mut String::new()), "{fine}");
        }
    }

    #[test]
    fn escaped_quotes_decode_like_two_decodings() {
        let twice = |text: &str| {
            let mut once = String::new();
            decode_into(text, &mut once);
            let mut again = String::new();
            decode_into(&once, &mut again);
            again
        };
        for text in [
            r#"{\\\"sub\\\":\\\"alice\\\"}"#,
            r#"\\\""#,
            "no escapes at all, é",
            r#"{\\\"a\\\":\\\"\\\"}"#,
        ] {
            let mut out = String::from("kept ");
            assert!(decode_escaped_quotes(text, &mut out), "{text}");
            assert_eq!(out, format!("kept {}", twice(text)), "{text}");
        }
        for text in [r#"\\\\"#, r#"a\\n"#, r#"\\u0041"#, r#"\\\"#, r#"x\""#] {
            let mut out = String::from("kept");
            assert!(!decode_escaped_quotes(text, &mut out), "{text}");
            assert_eq!(out, "kept");
        }
    }

    #[test]
    fn numbers_keep_their_type() {
        let number = |text: &str| {
            let mut open = Vec::new();
            let mut scanner = Scanner::new(text, &mut open);
            match scanner.value() {
                Ok(Token::Number(span)) => scanner.number(span),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(number("-12"), Number::Int(-12));
        assert_eq!(number("18446744073709551615"), Number::UInt(u64::MAX));
        assert_eq!(
            number("18446744073709551616"),
            Number::Float(18446744073709551616.0)
        );
        assert_eq!(number("2.5e1"), Number::Float(25.0));
        assert_eq!(number("-0"), Number::Int(0));
        assert_eq!(number("1e999"), Number::Float(f64::INFINITY));
        assert_eq!(
            number(&format!("-1{}", "0".repeat(400))),
            Number::Float(f64::NEG_INFINITY)
        );
        assert_eq!(number("1e-999"), Number::Float(0.0));
    }
}
