//! The rule file as written: documents read from YAML nodes into rules and
//! lists that keep the position of every part, for diagnostics. Nothing here
//! is resolved (lists, fields, regexes); that is the compiler's job.

use crate::diag::{Diagnostics, suggest};
use crate::time::Span as Duration;
use crate::yaml::{Node, NodeKind, ScalarValue, SourceText, Span};

/// A value with the position it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it starts.
    pub span: Span,
}

/// Text written in a rule, with where each of its characters stands, for
/// errors found inside it (a condition, an output template) that may be
/// written over several lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The text.
    pub value: String,
    /// Where its first character stands.
    pub span: Span,
    /// Where each source line of it starts, when it takes several (see
    /// [`SourceText::scalar_lines`]).
    pub lines: Vec<(usize, Span)>,
}

impl Located {
    /// Where the character at `offset` (in characters) stands.
    pub fn at(&self, offset: usize) -> Span {
        crate::yaml::position_in(self.span, &self.lines, offset)
    }
}

/// Finding severities, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name used in rule files and findings.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One `field|modifier…: value` entry of a selection.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTestAst {
    /// The dotted field path.
    pub field: Spanned<String>,
    /// The modifiers after the field, in order.
    pub modifiers: Vec<Spanned<String>>,
    /// The values; more than one means any (or all, with `|all`).
    pub values: Vec<Node>,
    /// True when the values were written as a YAML list.
    pub listed: bool,
    /// Where the value starts.
    pub value_span: Span,
}

/// A named selection: alternatives (OR) of field-test conjunctions (AND).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionAst {
    /// The selection's name.
    pub name: Spanned<String>,
    /// Any one alternative must hold; each holds when all its tests do.
    pub alternatives: Vec<Vec<FieldTestAst>>,
}

/// A rule document.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAst {
    /// The file it came from.
    pub file: String,
    /// Where the document starts.
    pub span: Span,
    /// Unique id.
    pub id: Spanned<String>,
    /// One-line title.
    pub title: String,
    /// Severity of its findings.
    pub severity: Severity,
    /// Longer description.
    pub description: Option<String>,
    /// Tags such as ATT&CK technique ids.
    pub tags: Vec<String>,
    /// Event types the rule is limited to; empty means all.
    pub events: Vec<Spanned<String>>,
    /// The named selections of `match`.
    pub selections: Vec<SelectionAst>,
    /// The `match.condition` expression, if written.
    pub condition: Option<Located>,
    /// The `correlation` block, kept as written.
    pub correlation: Option<Node>,
    /// The `suppress` duration.
    pub suppress: Option<Duration>,
    /// The `output` message template.
    pub output: Option<Located>,
    /// Known false positives, for the catalogue.
    pub falsepositives: Vec<String>,
    /// The `tests` block, kept as written.
    pub tests: Option<Node>,
    /// The parts that shape the rule's state (`events`, `match`,
    /// `correlation`) as canonical JSON, to tell whether saved state fits.
    pub definition: String,
}

/// A `kind: list` document.
#[derive(Debug, Clone, PartialEq)]
pub struct ListAst {
    /// The file it came from.
    pub file: String,
    /// The list's name, referenced as `$name`.
    pub name: Spanned<String>,
    /// The items.
    pub items: Vec<Node>,
}

/// The documents of one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileAst {
    /// Rule documents.
    pub rules: Vec<RuleAst>,
    /// List documents.
    pub lists: Vec<ListAst>,
}

const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "description",
    "tags",
    "events",
    "match",
    "correlation",
    "suppress",
    "output",
    "tests",
    "falsepositives",
    "kind",
    "author",
    "date",
    "modified",
    "status",
    "references",
    "license",
    "notes",
];

const LIST_KEYS: &[&str] = &["kind", "name", "items", "description"];

/// Reads the documents of one file, reporting every problem found;
/// `source` is the file's text, for positions inside values written over
/// several lines.
pub fn read_file(file: &str, source: &str, documents: &[Node], diags: &mut Diagnostics) -> FileAst {
    let mut ast = FileAst::default();
    let source = SourceText::new(source);
    for doc in documents {
        let mut reader = Reader {
            file,
            source: &source,
            diags,
        };
        let doc = &Node {
            span: doc
                .as_map()
                .and_then(|entries| entries.first())
                .map_or(doc.span, |(key, _)| key.span),
            ..doc.clone()
        };
        let Some(entries) = doc.as_map() else {
            if doc.scalar() != Some(ScalarValue::Null) {
                reader.error(
                    "E001",
                    doc.span,
                    format!("a document must be a mapping, found {}", doc.shape()),
                );
            }
            continue;
        };
        match doc.get("kind").map(|k| (k, k.as_str())) {
            None | Some((_, Some("rule"))) => {
                if let Some(rule) = reader.rule(doc, entries) {
                    ast.rules.push(rule);
                }
            }
            Some((_, Some("list"))) => {
                if let Some(list) = reader.list(doc, entries) {
                    ast.lists.push(list);
                }
            }
            Some((node, text)) => reader.error_with(
                "E002",
                node.span,
                format!(
                    "unknown kind '{}': expected 'rule' or 'list'",
                    text.unwrap_or("?")
                ),
                text.and_then(|t| suggest(t, ["rule", "list"])),
            ),
        }
    }
    ast
}

struct Reader<'a> {
    file: &'a str,
    source: &'a SourceText<'a>,
    diags: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn error(&mut self, code: &'static str, span: Span, message: String) {
        self.diags.error(code, self.file, span, message);
    }

    fn error_with(
        &mut self,
        code: &'static str,
        span: Span,
        message: String,
        suggestion: Option<String>,
    ) {
        self.diags
            .error_with(code, self.file, span, message, suggestion);
    }

    fn check_keys(&mut self, entries: &[(Node, Node)], known: &[&str], what: &str) {
        for (key, _) in entries {
            let name = key.as_str().unwrap_or_default();
            if !known.contains(&name) {
                let hint = suggest(name, known.iter().copied());
                if hint.is_some() {
                    self.error_with(
                        "E003",
                        key.span,
                        format!("unknown key '{name}' in {what}"),
                        hint,
                    );
                } else {
                    self.diags.warning(
                        "W001",
                        self.file,
                        key.span,
                        format!("unknown key '{name}' in {what} is ignored"),
                        None,
                    );
                }
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar() {
            Some(ScalarValue::Str(s)) if !s.is_empty() => Some(s.to_owned()),
            Some(ScalarValue::Number(_, s)) => Some(s.to_owned()),
            _ => {
                self.error(
                    "E004",
                    node.span,
                    format!("{what} must be a non-empty string"),
                );
                None
            }
        }
    }

    fn required<'n>(&mut self, doc: &'n Node, key: &str) -> Option<&'n Node> {
        let node = doc.get(key);
        if node.is_none() {
            self.error("E005", doc.span, format!("missing required key '{key}'"));
        }
        node
    }

    fn strings(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Scalar { .. } => vec![node],
            NodeKind::Map(_) => {
                self.error(
                    "E004",
                    node.span,
                    format!("{what} must be a list of strings"),
                );
                return Vec::new();
            }
        };
        items
            .into_iter()
            .filter_map(|item| {
                self.string(item, what).map(|value| Spanned {
                    value,
                    span: item.span,
                })
            })
            .collect()
    }

    fn rule(&mut self, doc: &Node, entries: &[(Node, Node)]) -> Option<RuleAst> {
        self.check_keys(entries, RULE_KEYS, "a rule");
        let id = self.required(doc, "id").and_then(|n| {
            self.string(n, "id").map(|value| Spanned {
                value,
                span: n.span,
            })
        });
        let title = self
            .required(doc, "title")
            .and_then(|n| self.string(n, "title"));
        let severity = self
            .required(doc, "severity")
            .and_then(|n| self.severity(n));
        let description = doc
            .get("description")
            .and_then(|n| self.string(n, "description"));
        let tags = doc
            .get("tags")
            .map(|n| self.strings(n, "tags"))
            .unwrap_or_default();
        let events = doc
            .get("events")
            .map(|n| {
                if matches!(&n.kind, NodeKind::Seq(items) if items.is_empty()) {
                    // Read literally it admits nothing; most likely a slip.
                    self.error(
                        "E004",
                        n.span,
                        "events must name at least one event type (leave it out for every type)"
                            .into(),
                    );
                }
                self.strings(n, "events")
            })
            .unwrap_or_default();
        let falsepositives = doc
            .get("falsepositives")
            .map(|n| self.strings(n, "falsepositives"))
            .unwrap_or_default();
        let suppress = doc
            .get("suppress")
            .and_then(|n| self.duration(n, "suppress"));
        let output = doc
            .get("output")
            .and_then(|n| self.string(n, "output").map(|value| self.located(value, n)));
        let (selections, condition) = match self.required(doc, "match") {
            Some(m) => self.match_block(m),
            None => (Vec::new(), None),
        };
        // A rule with a bad required key is still read to the end, so that
        // its other errors are reported too; the missing parts are already
        // errors, so the placeholders never reach a rule set.
        Some(RuleAst {
            file: self.file.to_owned(),
            span: doc.span,
            id: id.unwrap_or(Spanned {
                value: String::new(),
                span: doc.span,
            }),
            title: title.unwrap_or_default(),
            severity: severity.unwrap_or(Severity::Info),
            description,
            tags: tags.into_iter().map(|t| t.value).collect(),
            events,
            selections,
            condition,
            correlation: doc.get("correlation").cloned(),
            suppress,
            output,
            falsepositives: falsepositives.into_iter().map(|t| t.value).collect(),
            tests: doc.get("tests").cloned(),
            definition: definition(doc),
        })
    }

    fn severity(&mut self, node: &Node) -> Option<Severity> {
        let text = node.as_str().unwrap_or_default();
        let found = Severity::ALL.into_iter().find(|s| s.name() == text);
        if found.is_none() {
            self.error_with(
                "E006",
                node.span,
                format!("unknown severity '{text}': expected info, low, medium, high or critical"),
                suggest(text, Severity::ALL.map(Severity::name)),
            );
        }
        found
    }

    /// Reads a duration such as `30m`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = node.as_str().unwrap_or_default();
        match Duration::parse(text) {
            Ok(d) => Some(d),
            Err(message) => {
                self.error("E007", node.span, format!("{what}: {message}"));
                None
            }
        }
    }

    fn located(&self, value: String, node: &Node) -> Located {
        Located {
            value,
            span: node.text_start(),
            lines: self.source.scalar_lines(node),
        }
    }

    fn match_block(&mut self, node: &Node) -> (Vec<SelectionAst>, Option<Located>) {
        let Some(entries) = node.as_map() else {
            self.error(
                "E008",
                node.span,
                "match must be a mapping of selections and a condition".into(),
            );
            return (Vec::new(), None);
        };
        let mut selections = Vec::new();
        let mut condition = None;
        let mut named = false;
        for (key, value) in entries {
            let name = key.as_str().unwrap_or_default();
            if name == "condition" {
                condition = self
                    .string(value, "condition")
                    .map(|text| self.located(text, value));
                continue;
            }
            named = true;
            let empty = match &value.kind {
                NodeKind::Map(tests) => tests.is_empty(),
                NodeKind::Seq(items) => items
                    .iter()
                    .any(|item| item.as_map().is_some_and(<[_]>::is_empty)),
                NodeKind::Scalar { .. } => false,
            };
            if empty {
                // An empty mapping holds for every event: most likely a slip.
                self.error(
                    "E009",
                    value.span,
                    format!(
                        "selection '{name}' has an empty mapping, which would match every event"
                    ),
                );
            }
            // A broken selection is kept without alternatives, so that the
            // condition naming it gives no second error.
            let alternatives = match &value.kind {
                _ if empty => Vec::new(),
                NodeKind::Map(tests) => vec![self.field_tests(tests)],
                NodeKind::Seq(items) if !items.is_empty() => items
                    .iter()
                    .filter_map(|item| match item.as_map() {
                        Some(tests) => Some(self.field_tests(tests)),
                        None => {
                            self.error("E009", item.span, format!("selection '{name}': each alternative must be a mapping of fields"));
                            None
                        }
                    })
                    .collect(),
                _ => {
                    self.error("E009", value.span, format!("selection '{name}' must be a mapping of fields or a list of such mappings"));
                    Vec::new()
                }
            };
            selections.push(SelectionAst {
                name: Spanned {
                    value: name.to_owned(),
                    span: key.span,
                },
                alternatives,
            });
        }
        if !named {
            self.error(
                "E008",
                node.span,
                "match needs at least one selection".into(),
            );
        }
        (selections, condition)
    }

    fn field_tests(&mut self, entries: &[(Node, Node)]) -> Vec<FieldTestAst> {
        let mut tests = Vec::new();
        for (key, value) in entries {
            let text = key.as_str().unwrap_or_default();
            let start = key.text_start();
            let mut parts = text.split('|');
            let field = parts.next().unwrap_or_default();
            if field.is_empty() {
                self.error("E010", start, "empty field name".into());
                continue;
            }
            let mut offset = field.chars().count() + 1;
            let mut modifiers = Vec::new();
            for part in parts {
                modifiers.push(Spanned {
                    value: part.to_owned(),
                    span: start.shifted(offset),
                });
                offset += part.chars().count() + 1;
            }
            let (values, listed) = match &value.kind {
                NodeKind::Seq(items) => (items.clone(), true),
                _ => (vec![value.clone()], false),
            };
            tests.push(FieldTestAst {
                field: Spanned {
                    value: field.to_owned(),
                    span: start,
                },
                modifiers,
                values,
                listed,
                value_span: value.span,
            });
        }
        tests
    }

    fn list(&mut self, doc: &Node, entries: &[(Node, Node)]) -> Option<ListAst> {
        self.check_keys(entries, LIST_KEYS, "a list");
        let name = self.required(doc, "name").and_then(|n| {
            self.string(n, "name").map(|value| Spanned {
                value,
                span: n.span,
            })
        })?;
        let items = match self.required(doc, "items") {
            Some(Node {
                kind: NodeKind::Seq(items),
                ..
            }) => items.clone(),
            Some(n) if n.scalar() == Some(ScalarValue::Null) => Vec::new(),
            Some(n) => {
                self.error(
                    "E011",
                    n.span,
                    format!("list '{}': items must be a list", name.value),
                );
                return None;
            }
            None => return None,
        };
        Some(ListAst {
            file: self.file.to_owned(),
            name,
            items,
        })
    }
}

fn definition(doc: &Node) -> String {
    let parts: serde_json::Map<String, serde_json::Value> = ["events", "match", "correlation"]
        .into_iter()
        .filter_map(|key| doc.get(key).map(|n| (key.to_owned(), n.to_json())))
        .collect();
    serde_json::Value::Object(parts).to_string()
}
