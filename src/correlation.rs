//! The `correlation:` block: what a stateful rule counts, per which group,
//! over which event-time window, and when it fires. This module compiles
//! the block; [`crate::window`] holds the state it runs on.

use crate::diag::{Diagnostics, suggest};
use crate::fields::{FieldId, FieldTable, system};
use crate::time::Span;
use crate::yaml::{Node, NodeKind, ScalarValue};

/// The correlation types.
pub const TYPES: &[&str] = &[
    "event_count",
    "value_count",
    "temporal_ordered",
    "temporal",
    "new_value",
    "spike",
];

const KEYS: &[&str] = &[
    "type",
    "group-by",
    "timespan",
    "condition",
    "steps",
    "aliases",
    "field",
    "history",
    "learning",
    "prefix",
    "prefix-v6",
    "baseline",
    "max-groups",
];

/// Keys that only some correlation types read, with those types: given to
/// another type they would be ignored, so they are errors.
const KEYS_OF_TYPES: &[(&str, &[&str])] = &[
    ("field", &["new_value"]),
    ("history", &["new_value"]),
    ("prefix", &["new_value"]),
    ("prefix-v6", &["new_value"]),
    ("learning", &["new_value", "spike"]),
    ("baseline", &["spike"]),
    ("condition", &["event_count", "value_count", "spike"]),
];

/// Most baseline buckets a `spike` correlation may keep per group.
pub const MAX_SPIKE_BUCKETS: u32 = 100_000;

/// A count threshold: every bound given must hold (`{gte: 5, lte: 10}` is a range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Threshold {
    /// `gt`
    pub gt: Option<u64>,
    /// `gte`
    pub gte: Option<u64>,
    /// `lt`
    pub lt: Option<u64>,
    /// `lte`
    pub lte: Option<u64>,
    /// `eq`
    pub eq: Option<u64>,
}

impl Threshold {
    /// True when `n` satisfies every bound.
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
            && self.eq.is_none_or(|b| n == b)
    }

    /// True when some count of at least 1 (a group counts the event that
    /// checks it) satisfies every bound: the bounds make an interval, so
    /// the smallest count every lower bound allows decides.
    pub fn can_hold(&self) -> bool {
        let lowest = [self.gt.map(|b| b.saturating_add(1)), self.gte, self.eq]
            .into_iter()
            .flatten()
            .fold(1, u64::max);
        self.holds(lowest)
    }
}

/// What a correlation computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Matching events per group within the timespan.
    EventCount(Threshold),
    /// Distinct values of a field per group within the timespan.
    ValueCount {
        /// The field whose distinct values are counted.
        field: FieldId,
        /// The threshold on the number of distinct values.
        threshold: Threshold,
    },
    /// Selections matched in this order within the timespan.
    Ordered(Vec<usize>),
    /// Selections all matched, in any order, within the timespan.
    Unordered(Vec<usize>),
    /// A value (or combination) not seen for the group within `history`.
    NewValue {
        /// The fields whose combined value is tracked.
        fields: Vec<FieldId>,
        /// How long a value is remembered after it was last seen.
        history: Span,
        /// How long a group is observed before it may raise findings.
        learning: Span,
        /// IPv4 prefix length to compare addresses by network.
        prefix_v4: Option<u8>,
        /// IPv6 prefix length to compare addresses by network.
        prefix_v6: Option<u8>,
    },
    /// The count in the current bucket against the group's own baseline.
    Spike {
        /// Smallest z-score that fires.
        zscore: f64,
        /// Smallest bucket count that fires.
        min: u64,
        /// How many past buckets form the baseline.
        buckets: u32,
        /// How many buckets a group is observed before it may fire
        /// (`learning`, by default the whole baseline).
        learning: u32,
    },
}

/// One group-by entry: a field, or an alias naming a field per step.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupField {
    /// The name written in `group-by`.
    pub name: String,
    /// The field read for each step (one entry when there are no steps).
    pub fields: Vec<FieldId>,
}

impl GroupField {
    /// True for `tenantid` itself (not an alias of that name for other
    /// fields): a finding carries the tenant in its own field.
    pub fn is_tenant(&self) -> bool {
        self.name == "tenantid" && self.fields.iter().all(|&f| f == system::TENANTID)
    }
}

/// A compiled `correlation:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// What is computed.
    pub kind: Kind,
    /// The group-by entries.
    pub group_by: Vec<GroupField>,
    /// The window (or bucket, for `spike`) length; `new_value` has none.
    pub timespan: Option<Span>,
    /// A per-rule cap on tracked groups; `None` takes the engine default.
    pub max_groups: Option<usize>,
}

impl Correlation {
    /// The step selections of a temporal correlation.
    pub fn steps(&self) -> Option<&[usize]> {
        match &self.kind {
            Kind::Ordered(steps) | Kind::Unordered(steps) => Some(steps),
            _ => None,
        }
    }

    /// How long a group's state stays useful after its last event. A
    /// `new_value` or `spike` group stays useful however long it is quiet:
    /// it remembers when it was first seen, so it does not learn again
    /// when it comes back (a dormant account from a new network, a dormant
    /// client in a burst). Such groups leave only when the rule is at its
    /// cap, least recently active first, and are counted.
    pub fn retention(&self) -> Span {
        match &self.kind {
            Kind::NewValue { .. } | Kind::Spike { .. } => Span(i64::MAX),
            _ => self.timespan.unwrap_or_default(),
        }
    }
}

/// The pieces of the rule the block refers to.
pub struct Context<'a> {
    /// The rule's file, for diagnostics.
    pub file: &'a str,
    /// The rule's selection names, in order.
    pub selections: &'a [&'a str],
}

/// Compiles a `correlation:` block, reporting every problem. Field paths
/// are interned in `fields`; `check_field` is called on each with its span.
pub fn compile(
    node: &Node,
    cx: &Context<'_>,
    fields: &mut FieldTable,
    diags: &mut Diagnostics,
    check_field: &mut dyn FnMut(&str, crate::yaml::Span, &mut Diagnostics),
) -> Option<Correlation> {
    let Some(entries) = node.as_map() else {
        diags.error(
            "E101",
            cx.file,
            node.span,
            "correlation must be a mapping".into(),
        );
        return None;
    };
    let errors = diags.error_count();
    diags.unknown_keys("E102", cx.file, entries, KEYS, "correlation");
    let type_name = match node.get("type") {
        Some(t) => {
            let name = t.as_str().unwrap_or_default();
            if !TYPES.contains(&name) {
                diags.error_with(
                    "E103",
                    cx.file,
                    t.span,
                    format!("unknown correlation type '{name}'"),
                    suggest(name, TYPES.iter().copied()),
                );
                return None;
            }
            name
        }
        None => {
            diags.error(
                "E103",
                cx.file,
                node.span,
                "correlation needs a 'type'".into(),
            );
            return None;
        }
    };
    let timespan = duration(node, "timespan", cx, diags);
    let needs_timespan = type_name != "new_value";
    if needs_timespan && timespan.is_none() && node.get("timespan").is_none() {
        diags.error(
            "E104",
            cx.file,
            node.span,
            format!("a {type_name} correlation needs a 'timespan'"),
        );
    }
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if let Some((_, types)) = KEYS_OF_TYPES.iter().find(|(k, _)| *k == name)
            && TYPES.contains(&type_name)
            && !types.contains(&type_name)
        {
            diags.error(
                "E105",
                cx.file,
                key.span,
                format!(
                    "'{name}' belongs to {} correlations, not {type_name}",
                    types.join(" and ")
                ),
            );
        }
    }
    let steps = if matches!(type_name, "temporal_ordered" | "temporal") {
        steps(node, cx, diags)
    } else {
        if let Some(s) = node.get("steps") {
            diags.error(
                "E105",
                cx.file,
                s.span,
                format!("'steps' belongs to temporal correlations, not {type_name}"),
            );
        }
        Vec::new()
    };
    let group_by = group_by(node, cx, &steps, fields, diags, check_field);
    let max_groups = node
        .get("max-groups")
        .and_then(|n| match positive_integer(n) {
            Some(v) => Some(v as usize),
            None => {
                diags.error(
                    "E106",
                    cx.file,
                    n.span,
                    "max-groups must be a positive integer".into(),
                );
                None
            }
        });
    let kind = match type_name {
        "event_count" => Kind::EventCount(threshold(node, cx, diags, false)?.0),
        "value_count" => {
            let (threshold, field) = threshold(node, cx, diags, true)?;
            let field = field?;
            check_field(&field.0, field.1, diags);
            Kind::ValueCount {
                field: fields.intern(&field.0),
                threshold,
            }
        }
        "temporal_ordered" => Kind::Ordered(steps),
        "temporal" => Kind::Unordered(steps),
        "new_value" => new_value(node, cx, fields, diags, check_field)?,
        _ => spike(node, cx, timespan, diags)?,
    };
    if diags.error_count() != errors {
        return None;
    }
    Some(Correlation {
        kind,
        group_by,
        timespan,
        max_groups,
    })
}

fn duration(node: &Node, key: &str, cx: &Context<'_>, diags: &mut Diagnostics) -> Option<Span> {
    let value = node.get(key)?;
    match Span::parse(value.as_str().unwrap_or_default()) {
        Ok(span) => Some(span),
        Err(message) => {
            diags.error("E107", cx.file, value.span, format!("{key}: {message}"));
            None
        }
    }
}

fn positive_integer(node: &Node) -> Option<u64> {
    match node.scalar()? {
        ScalarValue::Number(n, text) if n >= 1.0 => text.parse().ok(),
        _ => None,
    }
}

fn non_negative_integer(node: &Node) -> Option<u64> {
    match node.scalar()? {
        ScalarValue::Number(_, text) => text.parse().ok(),
        _ => None,
    }
}

fn string_list(node: &Node) -> Vec<&Node> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    }
}

fn steps(node: &Node, cx: &Context<'_>, diags: &mut Diagnostics) -> Vec<usize> {
    let Some(list) = node.get("steps") else {
        diags.error(
            "E108",
            cx.file,
            node.span,
            "a temporal correlation needs 'steps': the selections in order".into(),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    let items = string_list(list);
    for item in &items {
        let name = item.as_str().unwrap_or_default();
        match cx.selections.iter().position(|s| *s == name) {
            Some(i) => out.push(i),
            None => diags.error_with(
                "E109",
                cx.file,
                item.text_start(),
                format!("step '{name}' is not a selection of this rule"),
                suggest(name, cx.selections.iter().copied()),
            ),
        }
    }
    if items.len() < 2 {
        diags.error(
            "E108",
            cx.file,
            list.span,
            "a temporal correlation needs at least two steps".into(),
        );
    }
    out
}

fn group_by(
    node: &Node,
    cx: &Context<'_>,
    steps: &[usize],
    fields: &mut FieldTable,
    diags: &mut Diagnostics,
    check_field: &mut dyn FnMut(&str, crate::yaml::Span, &mut Diagnostics),
) -> Vec<GroupField> {
    let aliases = node.get("aliases");
    if let Some(a) = aliases
        && a.as_map().is_none()
    {
        diags.error(
            "E110",
            cx.file,
            a.span,
            "aliases must map each alias to {step: field}".into(),
        );
    }
    let alias_entries = aliases.and_then(Node::as_map).unwrap_or_default();
    let mut out = Vec::new();
    let Some(list) = node.get("group-by") else {
        for (alias, _) in alias_entries {
            diags.warning(
                "W101",
                cx.file,
                alias.span,
                format!(
                    "alias '{}' is not used in group-by",
                    alias.as_str().unwrap_or_default()
                ),
                None,
            );
        }
        return out;
    };
    let step_count = steps.len().max(1);
    for item in string_list(list) {
        let name = item.as_str().unwrap_or_default().to_owned();
        if name.is_empty() {
            diags.error(
                "E111",
                cx.file,
                item.span,
                "group-by entries must be field names".into(),
            );
            continue;
        }
        let alias = alias_entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(&name));
        let ids = match alias {
            Some((_, per_step)) => {
                alias_fields(&name, per_step, cx, steps, fields, diags, check_field)
            }
            None => {
                check_field(&name, item.text_start(), diags);
                vec![fields.intern(&name); step_count]
            }
        };
        out.push(GroupField { name, fields: ids });
    }
    for (alias, _) in alias_entries {
        let name = alias.as_str().unwrap_or_default();
        if !out.iter().any(|g| g.name == name) {
            diags.warning(
                "W101",
                cx.file,
                alias.span,
                format!("alias '{name}' is not used in group-by"),
                None,
            );
        }
    }
    out
}

fn alias_fields(
    name: &str,
    per_step: &Node,
    cx: &Context<'_>,
    steps: &[usize],
    fields: &mut FieldTable,
    diags: &mut Diagnostics,
    check_field: &mut dyn FnMut(&str, crate::yaml::Span, &mut Diagnostics),
) -> Vec<FieldId> {
    let Some(entries) = per_step.as_map() else {
        diags.error(
            "E110",
            cx.file,
            per_step.span,
            format!("alias '{name}' must map each step to a field"),
        );
        return Vec::new();
    };
    if steps.is_empty() {
        diags.error(
            "E112",
            cx.file,
            per_step.span,
            format!("alias '{name}': aliases need a temporal correlation with steps"),
        );
        return Vec::new();
    }
    for (step, _) in entries {
        let step_name = step.as_str().unwrap_or_default();
        if !steps.iter().any(|&s| cx.selections[s] == step_name) {
            diags.error_with(
                "E113",
                cx.file,
                step.span,
                format!("alias '{name}' names '{step_name}', which is not a step"),
                suggest(step_name, steps.iter().map(|&s| cx.selections[s])),
            );
        }
    }
    let mut ids = Vec::new();
    for &s in steps {
        let step_name = cx.selections[s];
        match entries.iter().find(|(k, _)| k.as_str() == Some(step_name)) {
            Some((_, field)) => {
                let path = field.as_str().unwrap_or_default();
                check_field(path, field.text_start(), diags);
                ids.push(fields.intern(path));
            }
            None => diags.error(
                "E114",
                cx.file,
                per_step.span,
                format!("alias '{name}' has no field for step '{step_name}'"),
            ),
        }
    }
    ids
}

type FieldName = (String, crate::yaml::Span);

fn threshold(
    node: &Node,
    cx: &Context<'_>,
    diags: &mut Diagnostics,
    with_field: bool,
) -> Option<(Threshold, Option<FieldName>)> {
    let Some(cond) = node.get("condition") else {
        diags.error(
            "E115",
            cx.file,
            node.span,
            "correlation needs a 'condition' such as {gte: 10}".into(),
        );
        return None;
    };
    let Some(entries) = cond.as_map() else {
        diags.error(
            "E115",
            cx.file,
            cond.span,
            "condition must be a mapping such as {gte: 10}".into(),
        );
        return None;
    };
    let mut t = Threshold::default();
    let mut field = None;
    let mut any = false;
    let mut ok = true;
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let slot = match name {
            "gt" => &mut t.gt,
            "gte" => &mut t.gte,
            "lt" => &mut t.lt,
            "lte" => &mut t.lte,
            "eq" => &mut t.eq,
            "field" if with_field => {
                match value.as_str() {
                    Some(path) if !path.is_empty() => {
                        field = Some((path.to_owned(), value.text_start()))
                    }
                    _ => {
                        diags.error(
                            "E116",
                            cx.file,
                            value.span,
                            "condition field must be a field name".into(),
                        );
                        ok = false;
                    }
                }
                continue;
            }
            _ => {
                let known: &[&str] = if with_field {
                    &["gt", "gte", "lt", "lte", "eq", "field"]
                } else {
                    &["gt", "gte", "lt", "lte", "eq"]
                };
                diags.error_with(
                    "E117",
                    cx.file,
                    key.span,
                    format!("unknown condition key '{name}'"),
                    suggest(name, known.iter().copied()),
                );
                ok = false;
                continue;
            }
        };
        match non_negative_integer(value) {
            Some(n) => {
                *slot = Some(n);
                any = true;
            }
            None => {
                diags.error(
                    "E118",
                    cx.file,
                    value.span,
                    format!("'{name}' takes a whole number"),
                );
                ok = false;
            }
        }
    }
    if !any && ok {
        diags.error(
            "E115",
            cx.file,
            cond.span,
            "condition needs a bound: gt, gte, lt, lte or eq".into(),
        );
        ok = false;
    }
    if ok && any && !t.can_hold() {
        diags.warning(
            "W006",
            cx.file,
            cond.span,
            "no count of one or more satisfies this condition: the rule never fires".into(),
            None,
        );
    }
    if with_field && field.is_none() && ok {
        diags.error(
            "E116",
            cx.file,
            cond.span,
            "a value_count condition needs 'field': the field whose distinct values are counted"
                .into(),
        );
        ok = false;
    }
    ok.then_some((t, field))
}

fn new_value(
    node: &Node,
    cx: &Context<'_>,
    fields: &mut FieldTable,
    diags: &mut Diagnostics,
    check_field: &mut dyn FnMut(&str, crate::yaml::Span, &mut Diagnostics),
) -> Option<Kind> {
    let Some(field_node) = node.get("field") else {
        diags.error(
            "E119",
            cx.file,
            node.span,
            "a new_value correlation needs 'field' (one field or a list)".into(),
        );
        return None;
    };
    let mut ids = Vec::new();
    for item in string_list(field_node) {
        match item.as_str() {
            Some(path) if !path.is_empty() => {
                check_field(path, item.text_start(), diags);
                ids.push(fields.intern(path));
            }
            _ => diags.error(
                "E119",
                cx.file,
                item.span,
                "field must name event fields".into(),
            ),
        }
    }
    if string_list(field_node).is_empty() {
        diags.error(
            "E119",
            cx.file,
            field_node.span,
            "field must name at least one event field".into(),
        );
    }
    let history = duration(node, "history", cx, diags).unwrap_or(Span(30 * 86_400_000_000));
    let learning = duration(node, "learning", cx, diags).unwrap_or(Span(86_400_000_000));
    let prefix = |key: &str, max: u64, diags: &mut Diagnostics| -> Option<u8> {
        let n = node.get(key)?;
        match non_negative_integer(n) {
            Some(v) if v <= max => Some(v as u8),
            other => {
                // An IPv6 length given as `prefix` means `prefix-v6`.
                let hint = (key == "prefix" && other.is_some_and(|v| v <= 128))
                    .then(|| "prefix-v6".to_owned());
                diags.error_with(
                    "E120",
                    cx.file,
                    n.span,
                    format!("{key} must be a whole number from 0 to {max}"),
                    hint,
                );
                None
            }
        }
    };
    let prefix_v4 = prefix("prefix", 32, diags);
    let prefix_v6 = prefix("prefix-v6", 128, diags).or(prefix_v4.map(|_| 64));
    Some(Kind::NewValue {
        fields: ids,
        history,
        learning,
        prefix_v4,
        prefix_v6,
    })
}

fn spike(
    node: &Node,
    cx: &Context<'_>,
    timespan: Option<Span>,
    diags: &mut Diagnostics,
) -> Option<Kind> {
    let bucket = timespan?;
    let Some(baseline_node) = node.get("baseline") else {
        diags.error(
            "E121",
            cx.file,
            node.span,
            "a spike correlation needs 'baseline', such as 7d".into(),
        );
        return None;
    };
    let baseline = duration(node, "baseline", cx, diags)?;
    if baseline.0 % bucket.0 != 0 || baseline.0 / bucket.0 < 2 {
        diags.error(
            "E122",
            cx.file,
            baseline_node.span,
            format!("baseline {baseline} must be a whole number (at least 2) of timespan buckets of {bucket}"),
        );
        return None;
    }
    let buckets = baseline.0 / bucket.0;
    if buckets > i64::from(MAX_SPIKE_BUCKETS) {
        diags.error(
            "E122",
            cx.file,
            baseline_node.span,
            format!(
                "baseline {baseline} is {buckets} buckets of {bucket}; at most {MAX_SPIKE_BUCKETS} are kept per group: use a longer timespan or a shorter baseline"
            ),
        );
        return None;
    }
    let buckets = buckets as u32;
    let Some(cond) = node.get("condition").and_then(Node::as_map) else {
        diags.error(
            "E123",
            cx.file,
            node.span,
            "a spike correlation needs condition: {zscore: N, min: M}".into(),
        );
        return None;
    };
    let mut zscore = None;
    let mut min = 1;
    for (key, value) in cond {
        match key.as_str().unwrap_or_default() {
            "zscore" => match value.scalar() {
                Some(ScalarValue::Number(z, _)) if z > 0.0 => zscore = Some(z),
                _ => diags.error(
                    "E124",
                    cx.file,
                    value.span,
                    "zscore must be a positive number".into(),
                ),
            },
            "min" => match non_negative_integer(value) {
                Some(m) => min = m,
                None => diags.error(
                    "E124",
                    cx.file,
                    value.span,
                    "min must be a whole number".into(),
                ),
            },
            other => diags.error_with(
                "E117",
                cx.file,
                key.span,
                format!("unknown spike condition key '{other}'"),
                suggest(other, ["zscore", "min"]),
            ),
        }
    }
    let Some(zscore) = zscore else {
        diags.error(
            "E123",
            cx.file,
            node.span,
            "a spike condition needs 'zscore'".into(),
        );
        return None;
    };
    let learning = match node.get("learning") {
        None => buckets,
        Some(_) => {
            let learning = duration(node, "learning", cx, diags)?;
            u32::try_from(learning.0.saturating_add(bucket.0 - 1) / bucket.0)
                .unwrap_or(u32::MAX)
                .max(1)
        }
    };
    Some(Kind::Spike {
        zscore,
        min,
        buckets,
        learning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_that_no_count_satisfies_are_found() {
        let t = |gt, gte, lt, lte, eq| Threshold {
            gt,
            gte,
            lt,
            lte,
            eq,
        };
        assert!(t(None, Some(3), None, Some(5), None).can_hold());
        assert!(t(None, None, Some(2), None, None).can_hold());
        assert!(t(Some(0), None, None, None, None).can_hold());
        assert!(t(None, None, None, None, Some(4)).can_hold());
        assert!(!t(None, None, Some(1), None, None).can_hold());
        assert!(!t(None, None, None, Some(0), None).can_hold());
        assert!(!t(None, None, None, None, Some(0)).can_hold());
        assert!(!t(None, Some(3), None, Some(2), None).can_hold());
        assert!(!t(Some(4), None, Some(5), None, None).can_hold());
        assert!(!t(Some(u64::MAX), None, None, None, None).can_hold());
        assert!(!t(None, Some(2), None, None, Some(1)).can_hold());
    }

    #[test]
    fn thresholds_are_ranges() {
        let t = Threshold {
            gte: Some(5),
            lte: Some(7),
            ..Threshold::default()
        };
        assert!(!t.holds(4));
        assert!(t.holds(5));
        assert!(t.holds(7));
        assert!(!t.holds(8));
    }

    fn spike_rule(timespan: &str, baseline: &str) -> String {
        format!(
            "id: s\ntitle: s\nseverity: low\nmatch:\n  a:\n    data.grantType|exists: true\n\
             correlation:\n  type: spike\n  timespan: {timespan}\n  baseline: {baseline}\n  \
             condition: {{zscore: 3, min: 5}}\n"
        )
    }

    #[test]
    fn a_spike_baseline_over_the_bucket_limit_is_an_error_not_shortened() {
        // 7d of 1s buckets is 604,800 buckets: refused, where it used to be
        // cut to the last 100,000 buckets (under 28 hours) without a word.
        let error = crate::RuleSet::from_yaml("s.yaml", &spike_rule("1s", "7d"))
            .expect_err("too many buckets");
        let d = &error.diagnostics[0];
        assert_eq!(d.code, "E122");
        assert!(d.message.contains("604800 buckets"), "{}", d.message);
        // At the limit it compiles, with every bucket kept.
        let rules = crate::RuleSet::from_yaml("s.yaml", &spike_rule("1s", "100000s"))
            .expect("100,000 buckets are allowed");
        let kind = &rules.rules[0].correlation.as_ref().unwrap().kind;
        assert!(
            matches!(
                kind,
                Kind::Spike {
                    buckets: 100_000,
                    ..
                }
            ),
            "{kind:?}"
        );
        let rules = crate::RuleSet::from_yaml("s.yaml", &spike_rule("1h", "7d")).unwrap();
        let kind = &rules.rules[0].correlation.as_ref().unwrap().kind;
        assert!(matches!(kind, Kind::Spike { buckets: 168, .. }), "{kind:?}");
    }

    #[test]
    fn a_new_value_field_list_must_name_a_field() {
        let yaml = "id: n\ntitle: n\nseverity: low\nmatch:\n  s:\n    type|exists: true\n\
                    correlation:\n  type: new_value\n  field: []\n";
        let error = crate::RuleSet::from_yaml("n.yaml", yaml).expect_err("no field");
        assert_eq!(error.diagnostics[0].code, "E119");
        assert_eq!(error.diagnostics[0].span.line, 9);
    }
}
