//! `output` message templates: text with `{{placeholders}}` for event fields
//! and for what a finding knows (`count`, `timespan`, …).

use crate::fields::{FieldId, FieldTable};

/// Placeholders that name a property of the finding rather than a field.
pub const SPECIALS: &[&str] = &[
    "count", "timespan", "rule", "title", "severity", "value", "values", "network", "mean",
    "stddev",
];

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// The value(s) of an event field, comma-separated.
    Field(FieldId),
    /// A property of the finding, one of [`SPECIALS`].
    Special(&'static str),
    /// A `group-by` alias of the rule's correlation: its value in the
    /// finding's group.
    Group(String),
}

/// A parsed template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    /// The pieces in order.
    pub parts: Vec<Part>,
}

/// A template problem at a character offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Offset in characters from the template start.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// A placeholder that names a field, with its offset, for schema checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldUse {
    /// The dotted path.
    pub path: String,
    /// Offset in characters from the template start.
    pub offset: usize,
}

/// Parses `text`, interning the field paths it names; a name in `groups`
/// (the correlation's `group-by` aliases) is a group value, not a field.
pub fn parse(
    text: &str,
    fields: &mut FieldTable,
    groups: &[&str],
) -> Result<(Template, Vec<FieldUse>), TemplateError> {
    let mut parts = Vec::new();
    let mut uses = Vec::new();
    let mut rest = text;
    let mut consumed = 0usize;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(TemplateError {
                offset: consumed + rest[..open].chars().count(),
                message: "'{{' without a closing '}}'".into(),
            });
        };
        let name = after[..close].trim();
        let offset = consumed + rest[..open + 2].chars().count();
        if name.is_empty() {
            return Err(TemplateError {
                offset,
                message: "empty placeholder '{{}}'".into(),
            });
        }
        match SPECIALS.iter().find(|s| **s == name) {
            Some(special) => parts.push(Part::Special(special)),
            None if groups.contains(&name) => parts.push(Part::Group(name.to_owned())),
            None => {
                parts.push(Part::Field(fields.intern(name)));
                uses.push(FieldUse {
                    path: name.to_owned(),
                    offset,
                });
            }
        }
        let used = open + 2 + close + 2;
        consumed += rest[..used].chars().count();
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok((Template { parts }, uses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_fields_and_specials() {
        let mut fields = FieldTable::default();
        let (t, uses) = parse(
            "client {{data.issuedToClientId}} made {{ count }}",
            &mut fields,
            &[],
        )
        .unwrap();
        let client = fields.get("data.issuedToClientId").unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Text("client ".into()),
                Part::Field(client),
                Part::Text(" made ".into()),
                Part::Special("count"),
            ]
        );
        assert_eq!(uses[0].offset, 9);
    }

    #[test]
    fn reports_unclosed_placeholders() {
        let mut fields = FieldTable::default();
        assert_eq!(parse("ab {{x", &mut fields, &[]).unwrap_err().offset, 3);
        assert!(parse("{{ }}", &mut fields, &[]).is_err());
    }
}
