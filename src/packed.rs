//! Several texts packed into one string, so that a list of values (the key
//! of a correlation group, the values a hit counts) is a single allocation,
//! hashes and compares as one string, and is found in a map by a borrowed
//! `&str`.
//!
//! Texts are separated by U+001F; a U+001E or U+001F inside a text is
//! preceded by U+001E, so any texts pack and unpack exactly.

use std::borrow::Cow;
use std::fmt;

const SEPARATOR: char = '\u{1f}';
const ESCAPE: char = '\u{1e}';

/// Writes a packed list of texts at the end of a string.
#[derive(Debug)]
pub struct Packer<'a> {
    out: &'a mut String,
    texts: usize,
}

impl<'a> Packer<'a> {
    /// A packer appending to `out`.
    pub fn new(out: &'a mut String) -> Packer<'a> {
        Packer { out, texts: 0 }
    }

    /// Starts the next text; what is written after belongs to it.
    pub fn begin(&mut self) {
        if self.texts > 0 {
            self.out.push(SEPARATOR);
        }
        self.texts += 1;
    }

    /// Where the next byte written goes: the length of the string so far.
    pub fn end(&self) -> usize {
        self.out.len()
    }

    /// What was written from byte `start` on.
    pub fn since(&self, start: usize) -> &str {
        self.out.get(start..).unwrap_or_default()
    }

    /// Takes back what was written from byte `len` on (a `len` inside the
    /// current text).
    pub fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }
}

impl fmt::Write for Packer<'_> {
    /// Appends to the current text.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if memchr::memchr2(SEPARATOR as u8, ESCAPE as u8, s.as_bytes()).is_none() {
            self.out.push_str(s);
            return Ok(());
        }
        for c in s.chars() {
            if c == SEPARATOR || c == ESCAPE {
                self.out.push(ESCAPE);
            }
            self.out.push(c);
        }
        Ok(())
    }
}

/// Packs `texts` into a new string.
pub fn pack<'t>(texts: impl IntoIterator<Item = &'t str>) -> String {
    use fmt::Write as _;
    let mut out = String::new();
    let mut packer = Packer::new(&mut out);
    for text in texts {
        packer.begin();
        let _ = packer.write_str(text);
    }
    out
}

/// The texts of a packed string, in order. An empty string holds one
/// empty text.
pub fn unpack(packed: &str) -> Unpack<'_> {
    Unpack { rest: Some(packed) }
}

/// Iterator over the texts of a packed string; see [`unpack`].
#[derive(Debug, Clone)]
pub struct Unpack<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Unpack<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        let rest = self.rest?;
        if memchr::memchr(ESCAPE as u8, rest.as_bytes()).is_none() {
            return Some(Cow::Borrowed(match rest.split_once(SEPARATOR) {
                Some((text, after)) => {
                    self.rest = Some(after);
                    text
                }
                None => {
                    self.rest = None;
                    rest
                }
            }));
        }
        let mut text = String::new();
        let mut chars = rest.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                ESCAPE => text.extend(chars.next().map(|(_, c)| c)),
                SEPARATOR => {
                    self.rest = Some(&rest[at + c.len_utf8()..]);
                    return Some(Cow::Owned(text));
                }
                c => text.push(c),
            }
        }
        self.rest = None;
        Some(Cow::Owned(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(texts: &[&str]) -> Vec<String> {
        unpack(&pack(texts.iter().copied()))
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn plain_texts_are_joined_by_the_separator() {
        assert_eq!(pack(["t1", "c1"]), "t1\u{1f}c1");
        assert_eq!(round_trip(&["t1", "c1"]), ["t1", "c1"]);
        assert_eq!(round_trip(&["", ""]), ["", ""]);
        assert_eq!(round_trip(&[""]), [""]);
    }

    #[test]
    fn separators_and_escapes_inside_texts_survive() {
        let texts = ["a\u{1f}b", "\u{1e}", "\u{1e}\u{1f}", "é\u{1f}"];
        assert_eq!(round_trip(&texts), texts);
        // Lists that would collide if joined plainly stay apart.
        assert_ne!(pack(["a\u{1f}b", "c"]), pack(["a", "b\u{1f}c"]));
    }

    proptest! {
        #[test]
        fn any_texts_round_trip(texts in prop::collection::vec("[a\u{1e}\u{1f}é,]{0,6}", 1..5)) {
            let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
            prop_assert_eq!(round_trip(&borrowed), texts);
        }
    }
}
