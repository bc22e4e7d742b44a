//! YAML documents as a tree of nodes that remember where they came from.
//!
//! Rule authors need errors that point at the exact key or value, so the rule
//! loader works on this tree rather than on a serde model: serde-based YAML
//! crates drop source positions once a value is deserialised. The tree is built
//! from the event stream of `yaml-rust2` (a maintained, pure-Rust YAML 1.2
//! parser) with an explicit stack, so deep nesting cannot overflow the call
//! stack, and with limits on depth and on alias expansion, so a hostile file
//! cannot exhaust memory ("billion laughs").

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of sequences and mappings a rule file may use.
pub const MAX_DEPTH: usize = 64;
/// Most nodes one file may expand to, counting every alias expansion.
pub const MAX_NODES: usize = 1_000_000;

/// A position in a source file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number, counted in characters.
    pub col: u32,
}

impl Span {
    fn from_marker(marker: Marker) -> Span {
        Span {
            line: saturate(marker.line()),
            col: saturate(marker.col() + 1),
        }
    }

    /// The span `offset` characters to the right on the same line.
    pub fn shifted(self, offset: usize) -> Span {
        Span {
            line: self.line,
            col: self.col.saturating_add(saturate(offset)),
        }
    }
}

fn saturate(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// One YAML value with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where the node starts in its file.
    pub span: Span,
}

/// The shape of a YAML node. Scalars keep their source text; the consumer
/// decides whether `5` is a number or a string.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar with its text and whether it was written quoted or as a block.
    Scalar {
        /// The scalar's text after YAML unescaping.
        text: String,
        /// True for plain (unquoted) scalars, whose type is resolved from the text.
        plain: bool,
    },
    /// A sequence of nodes.
    Seq(Vec<Node>),
    /// A mapping, in source order, with unique keys.
    Map(Vec<(Node, Node)>),
}

/// A typed reading of a plain or quoted scalar under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue<'a> {
    /// `null`, `~` or an empty plain scalar.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or float, with its source text.
    Number(f64, &'a str),
    /// Anything else, including every quoted scalar.
    Str(&'a str),
}

impl Node {
    /// Where the text of a scalar starts: one column after an opening
    /// quote or block indicator.
    pub fn text_start(&self) -> Span {
        match self.kind {
            NodeKind::Scalar { plain: false, .. } => self.span.shifted(1),
            _ => self.span,
        }
    }

    /// The scalar text, if this node is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The mapping entries, if this node is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The sequence items, if this node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The scalar resolved to a typed value; `None` for collections.
    pub fn scalar(&self) -> Option<ScalarValue<'_>> {
        let NodeKind::Scalar { text, plain } = &self.kind else {
            return None;
        };
        if !plain {
            return Some(ScalarValue::Str(text));
        }
        Some(resolve_plain(text))
    }

    /// A short word for the node's shape, for error messages.
    pub fn shape(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Converts the node to JSON, resolving plain scalars to their types.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { .. } => match self.scalar() {
                Some(ScalarValue::Bool(b)) => Value::Bool(b),
                Some(ScalarValue::Number(n, text)) => text
                    .parse::<i64>()
                    .map(Value::from)
                    .ok()
                    .or_else(|| serde_json::Number::from_f64(n).map(Value::Number))
                    .unwrap_or_else(|| Value::String(text.to_owned())),
                Some(ScalarValue::Str(s)) => Value::String(s.to_owned()),
                Some(ScalarValue::Null) | None => Value::Null,
            },
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn resolve_plain(text: &str) -> ScalarValue<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarValue::Null,
        "true" | "True" | "TRUE" => return ScalarValue::Bool(true),
        "false" | "False" | "FALSE" => return ScalarValue::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
    if looks_numeric
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && let Ok(value) = text.parse::<f64>()
    {
        return ScalarValue::Number(value, text);
    }
    ScalarValue::Str(text)
}

/// A YAML syntax error or a breach of a loader limit.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// Where the problem was found.
    pub span: Span,
    /// What is wrong.
    pub message: String,
}

/// Parses every document of a YAML stream. An empty stream has no documents.
/// A byte-order mark at the start is skipped, as YAML allows.
pub fn parse_documents(source: &str) -> Result<Vec<Node>, YamlError> {
    match parse_documents_before_error(source) {
        (documents, None) => Ok(documents),
        (_, Some(error)) => Err(error),
    }
}

/// Like [`parse_documents`], but on an error also gives the documents that
/// ended before it, so that their own problems can be reported with it.
pub fn parse_documents_before_error(source: &str) -> (Vec<Node>, Option<YamlError>) {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if let Some(at) = source.find('\0') {
        // The YAML reader would take it for the end of the text and drop
        // the rest without a word.
        let error = YamlError {
            span: span_at(source, at),
            message: "a NUL character is not allowed in YAML".into(),
        };
        return (Vec::new(), Some(error));
    }
    let mut builder = TreeBuilder::default();
    let error = builder.run(source).err();
    (builder.documents, error)
}

/// A source text with the start of each of its lines, to find where
/// positions are.
#[derive(Debug)]
pub struct SourceText<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    /// Indexes the lines of `text`.
    pub fn new(text: &'a str) -> SourceText<'a> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceText { text, line_starts }
    }

    /// Where a scalar's characters stand when its value does not follow its
    /// source one character to one column from the start of its text: for
    /// the first character of each run that does (each source line, and
    /// after each escape of quoted text), (its character offset in the
    /// value, its position). Empty when the value follows its text's start
    /// throughout; a position is then that start shifted by the offset.
    pub fn scalar_lines(&self, node: &Node) -> Vec<(usize, Span)> {
        let NodeKind::Scalar { text, plain } = &node.kind else {
            return Vec::new();
        };
        let Some(start) = self.byte_at(node.span) else {
            return Vec::new();
        };
        let mut cursor = self.text[start..].chars().peekable();
        let mut at = node.span;
        let mut quote = None;
        if !plain {
            match cursor.peek() {
                // A block scalar starts on the line after its indicator.
                Some('|' | '>') => {
                    for c in cursor.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                    at = Span {
                        line: at.line.saturating_add(1),
                        col: 1,
                    };
                }
                Some(&q @ ('"' | '\'')) => {
                    quote = Some(q);
                    cursor.next();
                    at = at.shifted(1);
                }
                _ => {}
            }
        }
        let mut lines: Vec<(usize, Span)> = Vec::new();
        for (offset, wanted) in text.chars().enumerate() {
            if wanted.is_whitespace() {
                continue;
            }
            loop {
                let Some(found) = cursor.next() else {
                    return Vec::new();
                };
                let (produced, width) = match (quote, found) {
                    (Some('"'), '\\')
                        if cursor.peek().is_some_and(|c| *c == '\n' || *c == '\r') =>
                    {
                        // An escaped line break: the value goes on at the
                        // next line's first character that is not blank.
                        (None, 1)
                    }
                    (Some('"'), '\\') => match unescape(&mut cursor) {
                        Some((c, width)) => (Some(c), 1 + width),
                        None => return Vec::new(),
                    },
                    (Some('\''), '\'') if cursor.peek() == Some(&'\'') => {
                        cursor.next();
                        (Some('\''), 2)
                    }
                    _ => (Some(found), 1),
                };
                if produced == Some(wanted) {
                    let follows = lines
                        .last()
                        .is_some_and(|&(first, span)| span.shifted(offset - first) == at);
                    if !follows {
                        lines.push((offset, at));
                    }
                    at = at.shifted(width);
                    break;
                }
                match (found, produced) {
                    ('\n', _) => {
                        at = Span {
                            line: at.line.saturating_add(1),
                            col: 1,
                        }
                    }
                    (' ' | '\t' | '\r', _) | ('\\', None) => at = at.shifted(width),
                    (_, Some(c)) if c.is_whitespace() => at = at.shifted(width),
                    _ => return Vec::new(),
                }
            }
        }
        // One run from the first character of the text needs no table.
        if lines.len() == 1 && lines[0] == (0, node.text_start()) {
            lines.clear();
        }
        lines
    }

    /// The byte offset of a position.
    fn byte_at(&self, span: Span) -> Option<usize> {
        let line_start = *self.line_starts.get((span.line as usize).checked_sub(1)?)?;
        let col = (span.col as usize).checked_sub(1)?;
        let rest = &self.text[line_start..];
        Some(line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i))
    }
}

/// The position `offset` characters into a scalar's value, from its start
/// and its [`SourceText::scalar_lines`].
pub fn position_in(start: Span, lines: &[(usize, Span)], offset: usize) -> Span {
    match lines.iter().rev().find(|(first, _)| *first <= offset) {
        Some(&(first, span)) => span.shifted(offset - first),
        None => start.shifted(offset),
    }
}

/// The character a double-quoted escape stands for (the backslash read
/// already), and how many characters after the backslash it takes.
fn unescape(cursor: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<(char, usize)> {
    let c = cursor.next()?;
    let digits = match c {
        'x' => 2,
        'u' => 4,
        'U' => 8,
        _ => {
            let plain = match c {
                '0' => '\0',
                'a' => '\x07',
                'b' => '\x08',
                't' | '\t' => '\t',
                'n' => '\n',
                'v' => '\x0b',
                'f' => '\x0c',
                'r' => '\r',
                'e' => '\x1b',
                'N' => '\u{85}',
                '_' => '\u{a0}',
                'L' => '\u{2028}',
                'P' => '\u{2029}',
                ' ' | '"' | '/' | '\\' => c,
                _ => return None,
            };
            return Some((plain, 1));
        }
    };
    let mut code = 0;
    for _ in 0..digits {
        code = code * 16 + cursor.next()?.to_digit(16)?;
    }
    Some((char::from_u32(code)?, 1 + digits))
}

/// The line and column of byte `at` of `source`.
pub fn span_at(source: &str, at: usize) -> Span {
    let before = &source[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Span {
        line: saturate(before.matches('\n').count() + 1),
        col: saturate(before[line_start..].chars().count() + 1),
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        span: Span,
        anchor: usize,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
    nodes: usize,
}

impl TreeBuilder {
    /// Builds the documents of `source` into `self.documents`, up to the
    /// first error.
    fn run(&mut self, source: &str) -> Result<(), YamlError> {
        let mut parser = Parser::new_from_str(source);
        loop {
            let (event, marker) = parser.next_token().map_err(|e| YamlError {
                span: Span::from_marker(*e.marker()),
                message: e.info().to_owned(),
            })?;
            let span = Span::from_marker(marker);
            match event {
                Event::StreamEnd => return Ok(()),
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::DocumentStart => self.anchors.clear(),
                Event::Scalar(text, style, anchor, _) => {
                    let plain = matches!(style, TScalarStyle::Plain);
                    let node = Node {
                        kind: NodeKind::Scalar { text, plain },
                        span,
                    };
                    self.remember(anchor, &node);
                    self.push(node)?;
                }
                Event::Alias(id) => {
                    let Some(node) = self.anchors.get(&id).cloned() else {
                        return Err(YamlError {
                            span,
                            message: "alias to an unknown anchor".into(),
                        });
                    };
                    self.count(count_nodes(&node), span)?;
                    self.push(Node { span, ..node })?;
                }
                Event::SequenceStart(anchor, _) => self.open(
                    Frame::Seq {
                        items: Vec::new(),
                        span,
                        anchor,
                    },
                    span,
                )?,
                Event::MappingStart(anchor, _) => self.open(
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        span,
                        anchor,
                    },
                    span,
                )?,
                Event::SequenceEnd | Event::MappingEnd => {
                    let (node, anchor) = match self.stack.pop() {
                        Some(Frame::Seq {
                            items,
                            span,
                            anchor,
                        }) => (
                            Node {
                                kind: NodeKind::Seq(items),
                                span,
                            },
                            anchor,
                        ),
                        Some(Frame::Map {
                            entries,
                            span,
                            anchor,
                            ..
                        }) => (
                            // A block mapping is reported where its first
                            // key starts (the parser marks the first ':').
                            Node {
                                span: entries.first().map_or(span, |(k, _)| k.span.min(span)),
                                kind: NodeKind::Map(entries),
                            },
                            anchor,
                        ),
                        None => continue,
                    };
                    self.remember(anchor, &node);
                    self.push(node)?;
                }
            }
        }
    }

    fn open(&mut self, frame: Frame, span: Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError {
                span,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        self.count(1, span)?;
        self.stack.push(frame);
        Ok(())
    }

    fn count(&mut self, nodes: usize, span: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                span,
                message: format!("file expands to more than {MAX_NODES} nodes (alias bomb?)"),
            });
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn push(&mut self, node: Node) -> Result<(), YamlError> {
        if matches!(node.kind, NodeKind::Scalar { .. }) {
            self.count(1, node.span)?;
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar { .. }) {
                        return Err(YamlError {
                            span: node.span,
                            message: "mapping keys must be scalars".into(),
                        });
                    }
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.kind == node.kind) {
                        return Err(YamlError {
                            span: node.span,
                            message: format!(
                                "duplicate key '{}' (first at line {})",
                                node.as_str().unwrap_or_default(),
                                first.span.line
                            ),
                        });
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    // The parser marks an empty value where the next token
                    // starts, often lines later: it is reported at its key.
                    let empty = matches!(&node.kind, NodeKind::Scalar { text, plain: true } if text.is_empty());
                    let span = if empty && node.span.line > k.span.line {
                        k.span
                    } else {
                        node.span
                    };
                    entries.push((k, Node { span, ..node }));
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    let mut total = 0usize;
    let mut pending = vec![node];
    while let Some(n) = pending.pop() {
        total += 1;
        match &n.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => pending.extend(items),
            NodeKind::Map(entries) => pending.extend(entries.iter().flat_map(|(k, v)| [k, v])),
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_one_based() {
        let docs = parse_documents("a: 1\nb:\n  - x\n").unwrap();
        let map = docs[0].as_map().unwrap();
        assert_eq!(map[0].0.span, Span { line: 1, col: 1 });
        assert_eq!(map[1].1.as_seq().unwrap()[0].span, Span { line: 3, col: 5 });
    }

    #[test]
    fn multiple_documents() {
        let docs = parse_documents("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].get("b").unwrap().span.line, 3);
    }

    #[test]
    fn documents_before_a_syntax_error_are_kept() {
        let (docs, error) = parse_documents_before_error("a: 1\n---\nb: [2]]\n---\nc: 3\n");
        assert_eq!(docs.len(), 1);
        assert!(docs[0].get("a").is_some());
        assert_eq!(error.map(|e| e.span.line), Some(3));
    }

    #[test]
    fn plain_scalars_resolve_quoted_do_not() {
        let docs =
            parse_documents("a: 5\nb: '5'\nc: true\nd: ~\ne: 1.5e3\nf: 10.0.0.0/8\n").unwrap();
        let d = &docs[0];
        assert!(matches!(
            d.get("a").unwrap().scalar(),
            Some(ScalarValue::Number(5.0, "5"))
        ));
        assert_eq!(d.get("b").unwrap().scalar(), Some(ScalarValue::Str("5")));
        assert_eq!(d.get("c").unwrap().scalar(), Some(ScalarValue::Bool(true)));
        assert_eq!(d.get("d").unwrap().scalar(), Some(ScalarValue::Null));
        assert!(matches!(
            d.get("e").unwrap().scalar(),
            Some(ScalarValue::Number(1500.0, _))
        ));
        assert_eq!(
            d.get("f").unwrap().scalar(),
            Some(ScalarValue::Str("10.0.0.0/8"))
        );
    }

    #[test]
    fn scalars_over_several_lines_are_followed_through_the_source() {
        let source = "a: one\n  two\nb: >-\n    x y\n    z\nc: \"p\\tq\n  r\"\nd: one two\n";
        let docs = parse_documents(source).unwrap();
        let text = SourceText::new(source);
        let lines = |key: &str| text.scalar_lines(docs[0].get(key).unwrap());
        let at = |line, col| Span { line, col };
        assert_eq!(lines("a"), [(0, at(1, 4)), (4, at(2, 3))]);
        assert_eq!(lines("b"), [(0, at(4, 5)), (4, at(5, 5))]);
        assert_eq!(position_in(at(3, 4), &lines("b"), 4), at(5, 5));
        // After an escape the value runs one column behind its source.
        assert_eq!(lines("c"), [(0, at(6, 5)), (2, at(6, 8)), (4, at(7, 3))]);
        // One line without escapes needs no table.
        assert!(lines("d").is_empty());
        // One run that starts on the next line does.
        let source = "e: \"\\\n    nope\"\nf: |\n    nope\n";
        let docs = parse_documents(source).unwrap();
        let text = SourceText::new(source);
        let lines = |key: &str| text.scalar_lines(docs[0].get(key).unwrap());
        assert_eq!(lines("e"), [(0, at(2, 5))]);
        assert_eq!(lines("f"), [(0, at(4, 5))]);
        assert_eq!(position_in(at(8, 4), &[], 4), at(8, 8));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let docs = parse_documents("\u{feff}id: a\nb: 2\n").unwrap();
        let id = docs[0].get("id").unwrap();
        assert_eq!(id.scalar(), Some(ScalarValue::Str("a")));
    }

    #[test]
    fn a_nul_character_is_an_error_where_it_stands() {
        let err = parse_documents("a: 1\nb: x\0y\n---\nc: 3\n").unwrap_err();
        assert_eq!(err.span, Span { line: 2, col: 5 });
        assert!(err.message.contains("NUL"), "{}", err.message);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.span, Span { line: 2, col: 1 });
        assert!(err.message.contains("duplicate key 'a'"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(100_000);
        let err = parse_documents(&text).unwrap_err();
        assert!(
            err.message.contains("nesting") || err.message.contains("recursion limit"),
            "{}",
            err.message
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents(&text).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }
}
