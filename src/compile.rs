//! From rule files to a [`RuleSet`]: parse every file, read every document,
//! resolve lists and field paths, prepare matchers, and collect every
//! diagnostic on the way rather than stopping at the first.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use ipnetwork::IpNetwork;
use regex::RegexBuilder;

use crate::correlation::{self, Correlation, Kind};
use crate::diag::{Diagnostics, SYNTAX_ERROR, suggest};
use crate::event::{EventKind, shorten};
use crate::fields::FieldTable;
use crate::loader;
use crate::matcher::{Bound, Check, Cmp, EqSet, FieldTest, Pattern, Quantifier, RefOp};
use crate::prefilter::Prefilter;
use crate::rule::ast::{self, FieldTestAst, FileAst, ListAst, Located, RuleAst, Spanned};
use crate::rule::condition::{self, Expr};
use crate::rule::template::{self, Template};
use crate::ruleset::{CompileError, EventFilter, Rule, RuleSet, Selection, Source};
use crate::schema;
use crate::time::Timestamp;
use crate::yaml::{self, Node, ScalarValue, Span};

/// Every modifier the language knows.
pub const MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "re",
    "cidr",
    "exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "i",
    "all",
    "fieldref",
];

/// Largest compiled size of one regex, against hostile patterns.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Parses and reads the documents of every rule source (test files, named
/// `*.tests.yaml`, are left to the test runner).
pub fn read_sources(sources: &[Source], diags: &mut Diagnostics) -> Vec<FileAst> {
    sources
        .iter()
        .filter(|source| !loader::is_test_file(&source.name))
        .map(|source| {
            let documents = parse_source(source, diags);
            ast::read_file(&source.name, &source.text, &documents, diags)
        })
        .collect()
}

/// The YAML documents of a source; a syntax error is reported, and the
/// documents that ended before it are still read.
pub fn parse_source(source: &Source, diags: &mut Diagnostics) -> Vec<Node> {
    let (documents, error) = yaml::parse_documents_before_error(&source.text);
    if let Some(e) = error {
        diags.error(
            SYNTAX_ERROR,
            &source.name,
            e.span,
            format!("invalid YAML: {}", e.message),
        );
    }
    documents
}

/// Compiles the rules of `sources` that `keep` selects (with every list).
pub fn compile(
    sources: &[Source],
    keep: impl Fn(&RuleAst) -> bool,
) -> Result<RuleSet, CompileError> {
    let mut diags = Diagnostics::default();
    let files = read_sources(sources, &mut diags);
    compile_files(&files, diags, keep)
}

/// Compiles already-read files; `diags` holds what reading them found.
pub fn compile_files(
    files: &[FileAst],
    diags: Diagnostics,
    keep: impl Fn(&RuleAst) -> bool,
) -> Result<RuleSet, CompileError> {
    let mut compiler = Compiler {
        fields: FieldTable::default(),
        lists: HashMap::new(),
        diags,
    };
    compiler.collect_lists(files);
    let mut seen: HashMap<&str, &RuleAst> = HashMap::new();
    let mut rules = Vec::new();
    for rule in files.iter().flat_map(|f| &f.rules) {
        if rule.id.value.is_empty() {
            compiler.rule(rule);
            continue;
        }
        if let Some(first) = seen.insert(&rule.id.value, rule) {
            compiler.diags.error(
                "E020",
                &rule.file,
                rule.id.span,
                format!(
                    "duplicate rule id '{}' (first defined at {}:{})",
                    rule.id.value, first.file, first.id.span.line
                ),
            );
            continue;
        }
        if keep(rule)
            && let Some(compiled) = compiler.rule(rule)
        {
            rules.push(compiled);
        }
    }
    let has_errors = compiler.diags.has_errors();
    let diagnostics = compiler.diags.sorted();
    if has_errors {
        return Err(CompileError { diagnostics });
    }
    Ok(RuleSet {
        prefilter: Prefilter::new(&rules),
        rules,
        fields: compiler.fields,
        warnings: diagnostics,
    })
}

struct Compiler<'a> {
    fields: FieldTable,
    lists: HashMap<&'a str, &'a ListAst>,
    diags: Diagnostics,
}

/// A scalar from a rule value, resolved and with its position.
struct Literal {
    text: String,
    value: LiteralKind,
    span: Span,
}

enum LiteralKind {
    Null,
    Bool(bool),
    Number(f64),
    Str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Re,
    Cidr,
    Exists,
    Compare(Cmp),
}

/// The context of the rule being compiled.
struct RuleCx<'r> {
    file: &'r str,
    /// Event kinds the rule is limited to, when all are known kinds.
    kinds: Option<Vec<EventKind>>,
}

impl<'a> Compiler<'a> {
    /// Indexes the lists by name, and checks every list, used or not.
    fn collect_lists(&mut self, files: &'a [FileAst]) {
        for list in files.iter().flat_map(|f| &f.lists) {
            for item in &list.items {
                if literal(item).is_none() {
                    self.diags.error(
                        "E019",
                        &list.file,
                        item.span,
                        format!("list '{}': items must be scalars", list.name.value),
                    );
                }
            }
            if let Some(first) = self.lists.insert(&list.name.value, list) {
                self.diags.error(
                    "E021",
                    &list.file,
                    list.name.span,
                    format!(
                        "duplicate list '{}' (first defined at {}:{})",
                        list.name.value, first.file, first.name.span.line
                    ),
                );
            }
        }
    }

    fn rule(&mut self, rule: &RuleAst) -> Option<Rule> {
        let errors_before = self.diags.error_count();
        let (filter, kinds) = self.event_filter(rule);
        let cx = RuleCx {
            file: &rule.file,
            kinds,
        };
        let selections: Vec<Selection> = rule
            .selections
            .iter()
            .map(|s| Selection {
                name: s.name.value.clone(),
                alternatives: s
                    .alternatives
                    .iter()
                    .map(|tests| {
                        tests
                            .iter()
                            .filter_map(|t| self.field_test(&cx, t))
                            .collect()
                    })
                    .collect(),
            })
            .collect();
        let correlation = rule.correlation.as_ref().and_then(|node| {
            let names: Vec<&str> = rule
                .selections
                .iter()
                .map(|s| s.name.value.as_str())
                .collect();
            let context = correlation::Context {
                file: &rule.file,
                selections: &names,
            };
            let mut fields = std::mem::take(&mut self.fields);
            let mut diags = std::mem::take(&mut self.diags);
            let compiled = correlation::compile(
                node,
                &context,
                &mut fields,
                &mut diags,
                &mut |path, span, d| check_field(&cx, path, span, d),
            );
            self.fields = fields;
            self.diags = diags;
            compiled
        });
        let condition = self.condition(rule, correlation.as_ref());
        let output = rule
            .output
            .as_ref()
            .and_then(|o| self.template(&cx, o, correlation.as_ref()));
        if self.diags.error_count() != errors_before {
            return None;
        }
        Some(Rule {
            id: rule.id.value.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            tags: rule.tags.clone(),
            description: rule.description.clone(),
            falsepositives: rule.falsepositives.clone(),
            file: rule.file.clone(),
            line: rule.span.line,
            filter,
            selections,
            condition: condition?,
            output,
            suppress: rule.suppress,
            fingerprint: fingerprint(rule, correlation.as_ref()),
            correlation,
        })
    }

    fn event_filter(&mut self, rule: &RuleAst) -> (EventFilter, Option<Vec<EventKind>>) {
        let mut filter = EventFilter {
            all: rule.events.is_empty(),
            ..EventFilter::default()
        };
        let mut kinds = Vec::new();
        let mut only_known = !rule.events.is_empty();
        for Spanned { value, span } in &rule.events {
            match EventKind::of_type(value) {
                EventKind::Issued => filter.issued = true,
                EventKind::Revoked => filter.revoked = true,
                EventKind::Other => {
                    only_known = false;
                    self.diags.warning(
                        "W002",
                        &rule.file,
                        *span,
                        format!(
                            "event type '{value}' is not an OAuth token event type; \
                             the rule sees only events of exactly that type"
                        ),
                        suggest(value, schema::OAUTH_TYPES),
                    );
                    filter.others.push(value.as_str().into());
                }
            }
            kinds.push(EventKind::of_type(value));
        }
        (filter, only_known.then_some(kinds))
    }

    /// Checks a field path against the schema of the rule's event types.
    fn check_field(&mut self, cx: &RuleCx<'_>, path: &str, span: Span) {
        check_field(cx, path, span, &mut self.diags);
    }

    fn condition(&mut self, rule: &RuleAst, correlation: Option<&Correlation>) -> Option<Expr> {
        let names: Vec<&str> = rule
            .selections
            .iter()
            .map(|s| s.name.value.as_str())
            .collect();
        let expr = match &rule.condition {
            Some(text) => match condition::parse(&text.value, &names) {
                Ok(expr) => expr,
                Err(e) => {
                    self.diags.error_with(
                        "E040",
                        &rule.file,
                        text.at(e.offset),
                        e.message,
                        e.suggestion,
                    );
                    return None;
                }
            },
            None if names.len() == 1 => Expr::Sel(0),
            // A temporal correlation that did not compile was reported;
            // its steps are the condition.
            None if rule
                .correlation
                .as_ref()
                .is_some_and(|c| c.get("steps").is_some())
                && correlation.is_none() =>
            {
                return None;
            }
            None if correlation.and_then(Correlation::steps).is_some() => {
                let steps = correlation.and_then(Correlation::steps).unwrap_or_default();
                Expr::AtLeast(1, steps.to_vec())
            }
            None => {
                if !names.is_empty() {
                    // At the first selection: `match` itself has no position.
                    let at = rule.selections.first().map_or(rule.span, |s| s.name.span);
                    self.diags.error(
                        "E041",
                        &rule.file,
                        at,
                        format!("match has {} selections and no condition", names.len()),
                    );
                }
                return None;
            }
        };
        let mut used = Vec::new();
        expr.selections(&mut used);
        for (i, selection) in rule.selections.iter().enumerate() {
            if !used.contains(&i) {
                self.diags.warning(
                    "W004",
                    &rule.file,
                    selection.name.span,
                    format!(
                        "selection '{}' is not used by the condition",
                        selection.name.value
                    ),
                    None,
                );
            }
        }
        Some(expr)
    }

    fn template(
        &mut self,
        cx: &RuleCx<'_>,
        output: &Located,
        correlation: Option<&Correlation>,
    ) -> Option<Template> {
        // Group-by names that are aliases, not the path of the field read.
        let aliases: Vec<&str> = correlation
            .map(|c| c.group_by.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|g| {
                g.fields
                    .iter()
                    .any(|f| self.fields.get(&g.name) != Some(*f))
            })
            .map(|g| g.name.as_str())
            .collect();
        match template::parse(&output.value, &mut self.fields, &aliases) {
            Ok((template, uses)) => {
                for u in uses {
                    let span = output.at(u.offset);
                    let special = suggest(&u.path, template::SPECIALS.iter().copied());
                    match special {
                        Some(special) if !schema::oauth_paths().any(|p| p == u.path) => {
                            self.diags.warning(
                                "W007",
                                cx.file,
                                span,
                                format!(
                                    "'{{{{{}}}}}' is no property of a finding and no documented \
                                     field: it renders empty unless events have that field",
                                    u.path
                                ),
                                Some(format!("{{{{{special}}}}}")),
                            );
                        }
                        _ => self.check_field(cx, &u.path, span),
                    }
                }
                Some(template)
            }
            Err(e) => {
                self.diags.error(
                    "E050",
                    cx.file,
                    output.at(e.offset),
                    format!("output: {}", e.message),
                );
                None
            }
        }
    }

    fn field_test(&mut self, cx: &RuleCx<'_>, test: &FieldTestAst) -> Option<FieldTest> {
        let mut op = Op::Eq;
        let mut op_span: Option<Span> = None;
        let (mut ignore_case, mut all, mut fieldref) = (false, false, false);
        let mut ok = true;
        for Spanned { value, span } in &test.modifiers {
            let next = match value.as_str() {
                "contains" => Op::Contains,
                "startswith" => Op::StartsWith,
                "endswith" => Op::EndsWith,
                "re" => Op::Re,
                "cidr" => Op::Cidr,
                "exists" => Op::Exists,
                "gt" => Op::Compare(Cmp::Gt),
                "gte" => Op::Compare(Cmp::Gte),
                "lt" => Op::Compare(Cmp::Lt),
                "lte" => Op::Compare(Cmp::Lte),
                "i" => {
                    ignore_case = true;
                    continue;
                }
                "all" => {
                    all = true;
                    continue;
                }
                "fieldref" => {
                    fieldref = true;
                    continue;
                }
                other => {
                    self.diags.error_with(
                        "E012",
                        cx.file,
                        *span,
                        format!("unknown modifier '{other}'"),
                        suggest(other, MODIFIERS.iter().copied()),
                    );
                    ok = false;
                    continue;
                }
            };
            if op_span.is_some() {
                self.diags.error(
                    "E013",
                    cx.file,
                    *span,
                    format!("modifier '{value}' conflicts with an earlier one: a test has at most one of contains, startswith, endswith, re, cidr, exists, gt, gte, lt, lte"),
                );
                ok = false;
            }
            op = next;
            op_span = Some(*span);
        }
        let field = self.fields.intern(&test.field.value);
        self.check_field(cx, &test.field.value, test.field.span);
        let mut literals = self.literals(cx, test)?;
        if !ok {
            return None;
        }
        // Both spellings of an OAuth token type name the same kind of event.
        if test.field.value == "type" && op == Op::Eq && !all && !fieldref {
            let others: Vec<Literal> = literals
                .iter()
                .filter(|l| matches!(l.value, LiteralKind::Str))
                .filter_map(|l| {
                    Some(Literal {
                        text: schema::other_spelling(&l.text, ignore_case)?.to_owned(),
                        value: LiteralKind::Str,
                        span: l.span,
                    })
                })
                .collect();
            literals.extend(others);
        }
        let first_span = test.modifiers.first().map_or(test.field.span, |m| m.span);
        if op == Op::Exists {
            if ignore_case || all || fieldref {
                self.diags.error(
                    "E014",
                    cx.file,
                    first_span,
                    "'exists' takes no other modifier".into(),
                );
                return None;
            }
            return match literals.as_slice() {
                [
                    Literal {
                        value: LiteralKind::Bool(b),
                        ..
                    },
                ] if !test.listed => Some(FieldTest {
                    field,
                    check: Check::Exists(*b),
                }),
                _ => {
                    self.diags.error(
                        "E015",
                        cx.file,
                        test.value_span,
                        "'exists' takes true or false".into(),
                    );
                    None
                }
            };
        }
        if fieldref {
            return self.field_ref(cx, test, field, (op, ignore_case, all), &literals);
        }
        if ignore_case && matches!(op, Op::Cidr | Op::Compare(_)) {
            self.diags.error(
                "E014",
                cx.file,
                first_span,
                "modifier 'i' applies only to text tests".into(),
            );
            return None;
        }
        let listed = test.listed
            || literals.len() > 1
            || test.values.iter().any(|n| list_reference(n).is_some());
        let quantifier = match (all, listed) {
            (false, _) => Quantifier::Any,
            (true, true) => Quantifier::EveryPattern,
            (true, false) => Quantifier::EveryValue,
        };
        let patterns = self.patterns(cx, op, ignore_case, quantifier, &literals)?;
        Some(FieldTest {
            field,
            check: Check::Patterns(patterns, quantifier),
        })
    }

    fn field_ref(
        &mut self,
        cx: &RuleCx<'_>,
        test: &FieldTestAst,
        field: crate::fields::FieldId,
        (op, ignore_case, all): (Op, bool, bool),
        literals: &[Literal],
    ) -> Option<FieldTest> {
        let ref_op = match (op, ignore_case, all) {
            (Op::Eq, _, false) => RefOp::Eq { ignore_case },
            (Op::StartsWith, false, false) => RefOp::StartsWith,
            (Op::EndsWith, false, false) => RefOp::EndsWith,
            (Op::Contains, false, false) => RefOp::Contains,
            (Op::Compare(cmp), false, false) => RefOp::Compare(cmp),
            _ => {
                self.diags.error(
                    "E016",
                    cx.file,
                    test.field.span,
                    "'fieldref' combines only with 'i' (equality), contains, startswith, endswith, gt, gte, lt and lte".into(),
                );
                return None;
            }
        };
        let [Literal { text, span, .. }] = literals else {
            self.diags.error(
                "E017",
                cx.file,
                test.value_span,
                "'fieldref' takes exactly one field name".into(),
            );
            return None;
        };
        let other = self.fields.intern(text);
        self.check_field(cx, text, *span);
        Some(FieldTest {
            field,
            check: Check::FieldRef(other, ref_op),
        })
    }

    /// Resolves the test's values to literals, expanding `$list` references.
    fn literals(&mut self, cx: &RuleCx<'_>, test: &FieldTestAst) -> Option<Vec<Literal>> {
        let mut out = Vec::new();
        let mut ok = true;
        if test.values.is_empty() {
            self.diags.error(
                "E018",
                cx.file,
                test.value_span,
                "empty list of values".into(),
            );
            return None;
        }
        for node in &test.values {
            match list_reference(node) {
                Some(name) => match self.lists.get(name) {
                    Some(list) => {
                        // Items that are not scalars were reported with the list.
                        for item in &list.items {
                            match literal(item) {
                                Some(l) => out.push(l),
                                None => ok = false,
                            }
                        }
                    }
                    None => {
                        let names: Vec<&str> = self.lists.keys().copied().collect();
                        self.diags.error_with(
                            "E022",
                            cx.file,
                            node.text_start(),
                            format!("unknown list '${name}'"),
                            suggest(name, names).map(|s| format!("${s}")),
                        );
                        ok = false;
                    }
                },
                None => match literal(node) {
                    Some(l) => out.push(l),
                    None => {
                        self.diags.error(
                            "E019",
                            cx.file,
                            node.span,
                            format!(
                                "a value must be a scalar or a list of scalars, found {}",
                                node.shape()
                            ),
                        );
                        ok = false;
                    }
                },
            }
        }
        ok.then_some(out)
    }

    fn patterns(
        &mut self,
        cx: &RuleCx<'_>,
        op: Op,
        ignore_case: bool,
        quantifier: Quantifier,
        literals: &[Literal],
    ) -> Option<Vec<Pattern>> {
        let merge = quantifier == Quantifier::Any;
        let mut patterns = Vec::new();
        let mut ok = true;
        if matches!(op, Op::Eq | Op::Contains | Op::StartsWith | Op::EndsWith) {
            for l in literals {
                if matches!(l.value, LiteralKind::Str) && l.text.contains('*') {
                    self.diags.warning(
                        "W005",
                        cx.file,
                        l.span,
                        "'*' in a value is matched literally, not as a wildcard: \
                         use |contains, |startswith, |endswith or |re"
                            .into(),
                        None,
                    );
                }
            }
        }
        let has_null = literals
            .iter()
            .any(|l| matches!(l.value, LiteralKind::Null));
        if op == Op::Eq && !ignore_case && merge {
            let mut set = EqSet::default();
            let mut null = false;
            for l in literals {
                match l.value {
                    LiteralKind::Null => null = true,
                    LiteralKind::Bool(b) => set.insert_bool(b),
                    LiteralKind::Number(n) => set.insert_number(&l.text, n),
                    LiteralKind::Str => set.insert_text(&l.text),
                }
            }
            patterns.push(Pattern::Eq(set));
            if null {
                patterns.push(Pattern::Null);
            }
            return Some(patterns);
        }
        if op == Op::Contains && !ignore_case && merge && !has_null {
            let needles: Vec<&str> = literals.iter().map(|l| l.text.as_str()).collect();
            return match AhoCorasick::new(&needles) {
                Ok(ac) => Some(vec![Pattern::Contains(ac)]),
                Err(e) => {
                    self.diags.error(
                        "E023",
                        cx.file,
                        literals[0].span,
                        format!("cannot build matcher: {e}"),
                    );
                    None
                }
            };
        }
        let mut remaining: Vec<&Literal> = literals.iter().collect();
        if ignore_case && merge {
            remaining = merge_case_insensitive(op, remaining, &mut patterns);
        }
        for l in remaining {
            if matches!(l.value, LiteralKind::Null) {
                if op != Op::Eq {
                    self.diags.error(
                        "E024",
                        cx.file,
                        l.span,
                        "null can only be compared for equality".into(),
                    );
                    ok = false;
                }
                patterns.push(Pattern::Null);
                continue;
            }
            if let Some(p) = self.pattern(cx, op, ignore_case, l) {
                patterns.push(p);
            } else {
                ok = false;
            }
        }
        if op == Op::Cidr && merge && ok {
            // One pattern for the list: the address is parsed once.
            let networks = patterns
                .iter()
                .flat_map(|p| match p {
                    Pattern::Cidr(networks) => networks.to_vec(),
                    _ => Vec::new(),
                })
                .collect();
            patterns = vec![Pattern::Cidr(networks)];
        }
        // Joined, a `#` comment of a regex in `(?x)` mode would run on into
        // the regexes after it: a list with a `#` anywhere stays apart.
        let comments = literals.iter().any(|l| l.text.contains('#'));
        if op == Op::Re && merge && ok && patterns.len() > 1 && !comments {
            // One search for the list instead of one per regex; each was
            // compiled alone first, so that an error names its own.
            let sources: Vec<String> = patterns
                .iter()
                .filter_map(|p| match p {
                    Pattern::Regex(re) => Some(format!("(?:{})", re.as_str())),
                    _ => None,
                })
                .collect();
            if let Ok(re) = RegexBuilder::new(&sources.join("|"))
                .case_insensitive(ignore_case)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                patterns = vec![Pattern::Regex(re)];
            }
        }
        ok.then_some(patterns)
    }

    fn pattern(
        &mut self,
        cx: &RuleCx<'_>,
        op: Op,
        ignore_case: bool,
        l: &Literal,
    ) -> Option<Pattern> {
        let text = l.text.as_str();
        let regex_for = |source: String| {
            RegexBuilder::new(&source)
                .case_insensitive(ignore_case)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
        };
        let text_regex = |body: String| regex_for(body).map(Pattern::Regex);
        // Numbers and booleans have no case: `|i` leaves their equality as
        // it is.
        let case_insensitive = case_insensitive_anchors(op)
            .filter(|_| ignore_case && (op != Op::Eq || matches!(l.value, LiteralKind::Str)));
        let result = match op {
            _ if let Some(anchor) = case_insensitive => text_regex(anchor(&regex::escape(text))),
            Op::Eq => {
                let mut set = EqSet::default();
                match l.value {
                    LiteralKind::Bool(b) => set.insert_bool(b),
                    LiteralKind::Number(n) => set.insert_number(text, n),
                    _ => set.insert_text(text),
                }
                Ok(Pattern::Eq(set))
            }
            Op::Contains => AhoCorasick::new([text])
                .map(Pattern::Contains)
                .map_err(|e| regex::Error::Syntax(e.to_string())),
            Op::StartsWith => Ok(Pattern::StartsWith(text.into())),
            Op::EndsWith => Ok(Pattern::EndsWith(text.into())),
            Op::Re => match regex_for(text.to_owned()) {
                Ok(re) => Ok(Pattern::Regex(re)),
                Err(e) => {
                    let message = e.to_string();
                    let last = message.lines().last().unwrap_or(&message).trim();
                    let detail = last.strip_prefix("error: ").unwrap_or(last).to_owned();
                    self.diags.error(
                        "E025",
                        cx.file,
                        l.span,
                        format!("bad regex '{}': {detail}", shorten(text)),
                    );
                    return None;
                }
            },
            Op::Cidr => match text.parse::<IpNetwork>().ok() {
                Some(net) => Ok(Pattern::Cidr(Box::new([ipv4_if_mapped(net)]))),
                None => {
                    self.diags.error(
                            "E026",
                            cx.file,
                            l.span,
                            format!("bad CIDR '{}': expected an address or network such as 10.0.0.0/8 or 2001:db8::/32", shorten(text)),
                        );
                    return None;
                }
            },
            Op::Compare(cmp) => {
                let bound = match l.value {
                    LiteralKind::Number(n) => Some(Bound::Number(n)),
                    LiteralKind::Str => Timestamp::parse_rfc3339(text).map(Bound::Time),
                    _ => None,
                };
                match bound {
                    Some(b) => Ok(Pattern::Compare(cmp, b)),
                    None => {
                        self.diags.error(
                            "E027",
                            cx.file,
                            l.span,
                            format!("'{}' is not a number or an RFC 3339 time", shorten(text)),
                        );
                        return None;
                    }
                }
            }
            Op::Exists => unreachable!("exists is handled before patterns"),
        };
        match result {
            Ok(p) => Some(p),
            Err(e) => {
                self.diags.error(
                    "E023",
                    cx.file,
                    l.span,
                    format!("cannot build matcher: {e}"),
                );
                None
            }
        }
    }
}

/// Checks a field path against the schema of the rule's event types.
fn check_field(cx: &RuleCx<'_>, path: &str, span: Span, diags: &mut Diagnostics) {
    if path.starts_with('@') && !schema::DERIVED.contains(&path) {
        diags.error_with(
            "E028",
            cx.file,
            span,
            format!("unknown derived field '{path}'"),
            suggest(path, schema::DERIVED.iter().copied()),
        );
        return;
    }
    // A rule without `events:` may read any event type's fields.
    let known_to = |kinds: &[EventKind]| kinds.iter().any(|&k| schema::is_known(k, path));
    let rule_kinds = cx.kinds.as_deref();
    if known_to(rule_kinds.unwrap_or(&schema::OAUTH_KINDS)) {
        return;
    }
    // A near miss of a known field (of either type) is a typo, and a field
    // of the other OAuth token type a mix-up; any other field may be one
    // Qlik adds later, or tested for absence, so it is allowed.
    let hint = near_miss(path, schema::oauth_paths());
    match (rule_kinds, hint) {
        (Some(_), _) if known_to(&schema::OAUTH_KINDS) => diags.error(
            "E030",
            cx.file,
            span,
            format!(
                "field '{path}' belongs to the other OAuth token type, \
                 not to the rule's event types"
            ),
        ),
        (Some(_), Some(hint)) => diags.error_with(
            "E030",
            cx.file,
            span,
            format!("unknown field '{path}' for the rule's event types"),
            Some(hint),
        ),
        (Some(_), None) => diags.warning(
            "W003",
            cx.file,
            span,
            format!(
                "field '{path}' is not a documented field of the rule's event types: \
                 it is missing from their events"
            ),
            None,
        ),
        (None, Some(hint)) => diags.warning(
            "W003",
            cx.file,
            span,
            format!("field '{path}' is not a documented field of the OAuth token events"),
            Some(hint),
        ),
        (None, None) => {}
    }
}

/// The known field `path` is likely a typo of: a field beside it whose
/// last part is near its last part (`data.grantTyp`), or else a field
/// elsewhere near the whole path (`dta.grantType`). The objects the path
/// lies in are no candidates.
pub(crate) fn near_miss<'a>(path: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let split = |p: &'a str| p.rsplit_once('.').unwrap_or(("", p));
    let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let (beside, elsewhere): (Vec<&str>, Vec<&str>) = known
        .filter(|&k| {
            k != path
                && !path
                    .strip_prefix(k)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .partition(|&k| split(k).0 == parent);
    match suggest(leaf, beside.iter().map(|&k| split(k).1)) {
        Some(near) if parent.is_empty() => Some(near),
        Some(near) => Some(format!("{parent}.{near}")),
        None => suggest(path, elsewhere),
    }
}

/// The name of a `$list` reference, if the node is one.
fn list_reference(node: &Node) -> Option<&str> {
    let name = node.as_str()?.strip_prefix('$')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid.then_some(name)
}

fn literal(node: &Node) -> Option<Literal> {
    let span = node.text_start();
    let (text, value) = match node.scalar()? {
        ScalarValue::Null => (String::new(), LiteralKind::Null),
        ScalarValue::Bool(b) => (b.to_string(), LiteralKind::Bool(b)),
        ScalarValue::Number(n, text) => (text.to_owned(), LiteralKind::Number(n)),
        // `$$` stands for a literal `$`, so that a value such as `$name`
        // can be matched rather than refer to a list.
        ScalarValue::Str(s) => (
            s.strip_prefix("$$")
                .map_or_else(|| s.to_owned(), |rest| format!("${rest}")),
            LiteralKind::Str,
        ),
    };
    Some(Literal { text, value, span })
}

/// The IPv4 network an IPv4-mapped IPv6 network (inside `::ffff:0:0/96`)
/// stands for; any other network as it is. Event addresses are compared
/// unmapped too, so both spellings match both spellings.
fn ipv4_if_mapped(network: IpNetwork) -> IpNetwork {
    match network {
        IpNetwork::V6(v6) if v6.prefix() >= 96 => v6
            .network()
            .to_ipv4_mapped()
            .and_then(|ip| ipnetwork::Ipv4Network::new(ip, v6.prefix() - 96).ok())
            .map_or(network, IpNetwork::V4),
        other => other,
    }
}

/// Compiles the case-insensitive text literals of an `Eq`, `contains`,
/// `startswith` or `endswith` list into one regex (one search of each
/// value instead of one per literal) and returns the literals left for
/// patterns of their own: numbers and booleans of an equality, `null`,
/// and all of them when there is nothing to merge or the merged regex
/// is too large.
fn merge_case_insensitive<'l>(
    op: Op,
    literals: Vec<&'l Literal>,
    patterns: &mut Vec<Pattern>,
) -> Vec<&'l Literal> {
    let mergeable = |l: &&Literal| match l.value {
        LiteralKind::Null => false,
        LiteralKind::Str => true,
        LiteralKind::Bool(_) | LiteralKind::Number(_) => op != Op::Eq,
    };
    let (texts, rest): (Vec<&Literal>, Vec<&Literal>) =
        literals.iter().copied().partition(mergeable);
    let Some(anchor) = case_insensitive_anchors(op).filter(|_| texts.len() > 1) else {
        return literals;
    };
    let body: Vec<String> = texts.iter().map(|l| regex::escape(&l.text)).collect();
    let source = anchor(&body.join("|"));
    match RegexBuilder::new(&source)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(re) => {
            patterns.push(Pattern::Regex(re));
            rest
        }
        Err(_) => literals,
    }
}

/// How a case-insensitive text test of `op` anchors the alternation of its
/// escaped literals in a regex; `None` for tests that are not text tests.
fn case_insensitive_anchors(op: Op) -> Option<fn(&str) -> String> {
    match op {
        Op::Eq => Some(|body| format!(r"\A(?:{body})\z")),
        Op::Contains => Some(str::to_owned),
        Op::StartsWith => Some(|body| format!(r"\A(?:{body})")),
        Op::EndsWith => Some(|body| format!(r"(?:{body})\z")),
        _ => None,
    }
}

/// A hash of the parts of a rule that shape its state. Saved in state
/// files, so its hash is pinned (SipHash-1-3 with zero keys).
fn fingerprint(rule: &RuleAst, correlation: Option<&Correlation>) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = siphasher::sip::SipHasher13::new();
    rule.definition.hash(&mut hasher);
    // The state of a `new_value` rule with `prefix-v6` alone once held
    // IPv4 addresses as written; it holds them as /32 networks now, so a
    // state saved the old way starts fresh rather than seeing them as new.
    if let Some(Kind::NewValue {
        prefix_v4: None,
        prefix_v6: Some(_),
        ..
    }) = correlation.map(|c| &c.kind)
    {
        "ipv4 addresses as /32 networks".hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_value_with_an_ipv6_prefix_alone_starts_fresh_from_earlier_states() {
        let fingerprint = |prefix: &str| {
            let yaml = format!(
                "id: nv\ntitle: new ip\nseverity: low\nmatch:\n  a:\n    originip|exists: true\n\
                 correlation:\n  type: new_value\n  group-by: [tenantid]\n  field: originip\n  {prefix}\n"
            );
            RuleSet::from_yaml("nv.yaml", &yaml).unwrap().rules()[0]
                .fingerprint
                .clone()
        };
        // What builds that keyed IPv4 addresses as written saved.
        assert_ne!(fingerprint("prefix-v6: 48"), "251162936d9480b5");
        assert_eq!(fingerprint("prefix: 24"), "5c62a109dc7d5f49");
    }

    #[test]
    fn ipv4_mapped_networks_read_as_ipv4() {
        let read = |text: &str| ipv4_if_mapped(text.parse().unwrap()).to_string();
        assert_eq!(read("::ffff:10.1.2.3"), "10.1.2.3/32");
        assert_eq!(read("::ffff:10.1.0.0/112"), "10.1.0.0/16");
        assert_eq!(read("::ffff:0:0/96"), "0.0.0.0/0");
        assert_eq!(read("::ffff:0:0/95"), "::ffff:0.0.0.0/95");
        assert_eq!(read("2001:db8::/32"), "2001:db8::/32");
        assert_eq!(read("10.0.0.0/8"), "10.0.0.0/8");
    }
}
