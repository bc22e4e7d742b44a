//! Reading NDJSON input line by line with a bound on memory.
//!
//! A line is kept whole up to a hard cap, so that a rejected line can be
//! written out verbatim; past the cap, the rest of the line is read and
//! dropped, and the line is marked as cut.

use std::io::{self, BufRead};

/// Most bytes of one line kept in memory; longer lines are cut.
pub const HARD_CAP: usize = 64 << 20;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// One line of input, without its line terminator.
#[derive(Debug, Default)]
pub struct Line {
    /// The bytes kept (all of them unless `cut`).
    pub bytes: Vec<u8>,
    /// Total length of the line in bytes.
    pub len: usize,
    /// True when the line was longer than [`HARD_CAP`] and was cut there.
    pub cut: bool,
    /// True when the line ended with `\r\n`: the `\r` is not in `bytes`
    /// (nor in `len`), and is written back with a line kept verbatim.
    pub crlf: bool,
}

impl Line {
    /// True for a line of nothing but whitespace, which `run` skips
    /// without counting it as an event.
    pub fn is_blank(&self) -> bool {
        !self.cut && self.bytes.iter().all(u8::is_ascii_whitespace)
    }
}

/// Reads lines from `input`, reusing one buffer.
#[derive(Debug)]
pub struct LineReader<R> {
    input: R,
    cap: usize,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// A reader keeping at most [`HARD_CAP`] bytes of a line.
    pub fn new(input: R) -> LineReader<R> {
        LineReader::with_cap(input, HARD_CAP)
    }

    /// A reader keeping at most `cap` bytes of a line.
    pub fn with_cap(input: R, cap: usize) -> LineReader<R> {
        LineReader {
            input,
            cap,
            number: 0,
        }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.input
    }

    /// The 1-based number of the last line read.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// Reads the next line into `line`; false at end of input.
    pub fn next_line(&mut self, line: &mut Line) -> io::Result<bool> {
        line.bytes.clear();
        line.len = 0;
        line.cut = false;
        line.crlf = false;
        let mut any = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (body, found) = match memchr::memchr(b'\n', chunk) {
                Some(at) => (&chunk[..at], Some(at)),
                None => (chunk, None),
            };
            let room = self.cap.saturating_sub(line.bytes.len());
            let keep = body.len().min(room);
            line.bytes.extend_from_slice(&body[..keep]);
            line.cut |= keep < body.len();
            line.len += body.len();
            let consumed = found.map_or(chunk.len(), |at| at + 1);
            self.input.consume(consumed);
            if found.is_some() {
                break;
            }
        }
        if !any {
            return Ok(false);
        }
        if !line.cut && line.bytes.last() == Some(&b'\r') {
            line.bytes.pop();
            line.len -= 1;
            line.crlf = true;
        }
        // A byte-order mark some editors write at the start of a file.
        if self.number == 0 && line.bytes.starts_with(BOM) {
            line.bytes.drain(..BOM.len());
            line.len -= BOM.len();
        }
        self.number += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str, cap: usize) -> Vec<(String, usize, bool, bool)> {
        let mut reader =
            LineReader::with_cap(io::BufReader::with_capacity(4, input.as_bytes()), cap);
        let mut line = Line::default();
        let mut out = Vec::new();
        while reader.next_line(&mut line).unwrap() {
            out.push((
                String::from_utf8(line.bytes.clone()).unwrap(),
                line.len,
                line.cut,
                line.crlf,
            ));
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        assert_eq!(
            lines("ab\r\ncd\n\nlast", 100),
            [
                ("ab".into(), 2, false, true),
                ("cd".into(), 2, false, false),
                (String::new(), 0, false, false),
                ("last".into(), 4, false, false)
            ]
        );
    }

    #[test]
    fn skips_a_byte_order_mark_at_the_start_only() {
        assert_eq!(
            lines("\u{feff}{}\n\u{feff}x\n", 100),
            [
                ("{}".into(), 2, false, false),
                ("\u{feff}x".into(), 4, false, false)
            ]
        );
    }

    #[test]
    fn blank_lines_are_whitespace_only_and_whole() {
        let line = |bytes: &[u8], cut| Line {
            bytes: bytes.to_vec(),
            len: bytes.len(),
            cut,
            crlf: false,
        };
        assert!(line(b"", false).is_blank());
        assert!(line(b" \t\r", false).is_blank());
        assert!(!line(b" {}", false).is_blank());
        assert!(!line(b"   ", true).is_blank());
    }

    #[test]
    fn cuts_long_lines_but_counts_them() {
        assert_eq!(
            lines("abcdefghij\nk\n", 3),
            [
                ("abc".into(), 10, true, false),
                ("k".into(), 1, false, false)
            ]
        );
    }
}
