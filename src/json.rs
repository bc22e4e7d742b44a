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

/// A JSON syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// What was wrong, e.g. "expected `:`".
    pub message: &'static str,
    /// The 1-based column (byte) where it was found.
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line 1 column {}", self.message, self.column)
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
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    /// An error found at the current position.
    pub fn error(&self, message: &'static str) -> JsonError {
        JsonError {
            message,
            column: (self.pos + 1).min(self.bytes.len()).max(1),
        }
    }

    /// Checks that only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Reads the first token of a value.
    pub fn value(&mut self) -> Result<Token> {
        let Some(byte) = self.peek() else {
            return Err(self.error("EOF while parsing a value"));
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
            _ => Err(self.error("expected value")),
        }
    }

    /// Moves to the next key of the object being read (after `{` or after a
    /// member's value) and past its `:`; `None` after the closing `}`.
    pub fn next_key(&mut self, first: bool) -> Result<Option<StrSpan>> {
        let mut byte = self
            .peek()
            .ok_or_else(|| self.error("EOF while parsing an object"))?;
        if byte == b'}' {
            self.pos += 1;
            return Ok(None);
        }
        if !first {
            if byte != b',' {
                return Err(self.error("expected `,` or `}`"));
            }
            self.pos += 1;
            byte = self
                .peek()
                .ok_or_else(|| self.error("EOF while parsing a value"))?;
            if byte == b'}' {
                return Err(self.error("trailing comma"));
            }
        }
        if byte != b'"' {
            return Err(self.error("key must be a string"));
        }
        self.pos += 1;
        let key = self.string()?;
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                Ok(Some(key))
            }
            Some(_) => Err(self.error("expected `:`")),
            None => Err(self.error("EOF while parsing an object")),
        }
    }

    /// Moves to the next element of the array being read (after `[` or after
    /// an element); false after the closing `]`.
    pub fn next_element(&mut self, first: bool) -> Result<bool> {
        let byte = self
            .peek()
            .ok_or_else(|| self.error("EOF while parsing a list"))?;
        if byte == b']' {
            self.pos += 1;
            return Ok(false);
        }
        if !first {
            if byte != b',' {
                return Err(self.error("expected `,` or `]`"));
            }
            self.pos += 1;
            if self.peek() == Some(b']') {
                return Err(self.error("trailing comma"));
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

    /// Reads a string body; the opening quote is consumed.
    fn string(&mut self) -> Result<StrSpan> {
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = find_special(self.bytes, self.pos);
            match self.bytes.get(self.pos) {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(StrSpan {
                        start,
                        end: self.pos - 1,
                        escaped,
                    });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    self.escape()?;
                }
                Some(_) => {
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
    }

    /// Checks one escape after its backslash.
    fn escape(&mut self) -> Result<()> {
        match self.bytes.get(self.pos) {
            None => Err(self.error("EOF while parsing a string")),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                for _ in 0..4 {
                    match self.bytes.get(self.pos) {
                        Some(byte) if byte.is_ascii_hexdigit() => self.pos += 1,
                        Some(_) => return Err(self.error("invalid escape")),
                        None => return Err(self.error("EOF while parsing a string")),
                    }
                }
                Ok(())
            }
            Some(_) => Err(self.error("invalid escape")),
        }
    }

    fn literal(&mut self, word: &[u8], token: Token) -> Result<Token> {
        for &expected in word {
            match self.bytes.get(self.pos) {
                Some(&byte) if byte == expected => self.pos += 1,
                Some(_) => return Err(self.error("expected ident")),
                None => return Err(self.error("EOF while parsing a value")),
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
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(self.error("invalid number")),
            None => return Err(self.error("EOF while parsing a value")),
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
    /// is written as one and fits 64 bits, else the nearest `f64`; an error
    /// when that is infinite.
    pub fn number(&self, span: Span) -> Result<Number> {
        let literal = &self.text[span.start..span.end];
        if !literal.contains(['.', 'e', 'E']) {
            if let Ok(n) = literal.parse::<i64>() {
                return Ok(Number::Int(n));
            }
            if let Ok(n) = literal.parse::<u64>() {
                return Ok(Number::UInt(n));
            }
        }
        match literal.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Number::Float(n)),
            _ => Err(JsonError {
                message: "number out of range",
                column: span.start + 1,
            }),
        }
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
            Some(_) => Err(self.error("invalid number")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }
}

/// The offset of the first byte at or after `pos` that ends or interrupts a
/// string (`"`, `\` or a control character), or the length of `bytes`.
fn find_special(bytes: &[u8], mut pos: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // A byte's high bit is set in `has_zero(w)` where that byte of `w` is
    // zero; bytes above a true hit may be flagged falsely, but the lowest
    // flagged byte is always a true hit, and it is the only one used.
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    while let Some(chunk) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let hits = has_zero(word ^ (ONES * u64::from(b'"')))
            | has_zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if hits != 0 {
            return pos + (hits.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&byte) = bytes.get(pos) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(skip(text).map_err(|e| e.message), Err(message), "{text}");
        }
    }

    #[test]
    fn columns_count_bytes_from_one() {
        assert_eq!(skip(r#"{"id":"#).unwrap_err().column, 6);
        assert_eq!(skip("[1 2]").unwrap_err().column, 4);
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!("{}0{}", "[{\"a\":".repeat(200_000), "}]".repeat(200_000));
        assert_eq!(skip(&deep), Ok(()));
        assert!(skip(&deep[..deep.len() - 1]).is_err());
    }

    #[test]
    fn special_bytes_are_found_in_every_lane() {
        for len in 0..40 {
            for special in [b'"', b'\\', 0x01, 0x1f] {
                let mut bytes = vec![b'a'; len];
                bytes.extend_from_slice("é€".as_bytes());
                let at = bytes.len();
                bytes.push(special);
                bytes.extend_from_slice(b"\"\\");
                assert_eq!(find_special(&bytes, 0), at);
                assert_eq!(find_special(&bytes[..at], 0), at);
            }
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
        assert_eq!(number("-12"), Ok(Number::Int(-12)));
        assert_eq!(number("18446744073709551615"), Ok(Number::UInt(u64::MAX)));
        assert_eq!(
            number("18446744073709551616"),
            Ok(Number::Float(18446744073709551616.0))
        );
        assert_eq!(number("2.5e1"), Ok(Number::Float(25.0)));
        assert_eq!(number("-0"), Ok(Number::Int(0)));
        assert_eq!(
            number("1e999").map_err(|e| e.message),
            Err("number out of range")
        );
    }
}
