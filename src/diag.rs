//! Diagnostics as data: what is wrong in a rule file, where, and what was
//! probably meant. The library collects them; the CLI renders them.

use std::fmt;

use crate::yaml::{Node, Span};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The rule set cannot be compiled.
    Error,
    /// Suspicious but compiled.
    Warning,
}

/// One problem found in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// A stable code, such as `E012`, for documentation and tooling.
    pub code: &'static str,
    /// The file the problem is in, as it was given.
    pub file: String,
    /// Where in the file.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What was probably meant, if a close match exists.
    pub suggestion: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// Renders `file:line:col: error: message (did you mean 'x'?)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file,
            self.span.line,
            self.span.col,
            OneLine(&self.message)
        )?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, " (did you mean '{}'?)", OneLine(suggestion))?;
        }
        Ok(())
    }
}

/// Text quoted from a rule, written with its control characters escaped
/// (`\n`), so that a diagnostic stays one line and prints nothing raw to
/// the terminal.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The code of a YAML syntax error: the rest of its file is not read.
pub const SYNTAX_ERROR: &str = "E000";

/// Errors that name a list or rule that no file defines (E022: a rule's
/// list, E201: the rule of a test file, E217: a list a test replaces).
/// After a syntax error the definition may be in the part not read, so
/// they are not reported then.
const UNDEFINED_NAMES: [&str; 3] = ["E022", "E201", "E217"];

/// After a syntax error, drops the errors that may only mean it (see
/// [`UNDEFINED_NAMES`]).
pub fn drop_undefined_names_after_syntax_errors(items: &mut Vec<Diagnostic>) {
    if items.iter().any(|d| d.code == SYNTAX_ERROR) {
        items.retain(|d| !UNDEFINED_NAMES.contains(&d.code));
    }
}

/// Collects the diagnostics of one or more files.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error.
    pub fn error(&mut self, code: &'static str, file: &str, span: Span, message: String) {
        self.push(Level::Error, code, file, span, message, None);
    }

    /// Records an error with a suggestion.
    pub fn error_with(
        &mut self,
        code: &'static str,
        file: &str,
        span: Span,
        message: String,
        suggestion: Option<String>,
    ) {
        self.push(Level::Error, code, file, span, message, suggestion);
    }

    /// Records an error `code` for each key of `entries` that is not
    /// `known` (in `what`, such as "correlation"), with the nearest known
    /// key as suggestion.
    pub fn unknown_keys(
        &mut self,
        code: &'static str,
        file: &str,
        entries: &[(Node, Node)],
        known: &[&str],
        what: &str,
    ) {
        for (key, _) in entries {
            let name = key.as_str().unwrap_or_default();
            if !known.contains(&name) {
                self.error_with(
                    code,
                    file,
                    key.span,
                    format!("unknown key '{name}' in {what}"),
                    suggest(name, known.iter().copied()),
                );
            }
        }
    }

    /// Records a warning, with an optional suggestion.
    pub fn warning(
        &mut self,
        code: &'static str,
        file: &str,
        span: Span,
        message: String,
        suggestion: Option<String>,
    ) {
        self.push(Level::Warning, code, file, span, message, suggestion);
    }

    fn push(
        &mut self,
        level: Level,
        code: &'static str,
        file: &str,
        span: Span,
        message: String,
        suggestion: Option<String>,
    ) {
        self.items.push(Diagnostic {
            level,
            code,
            file: file.to_owned(),
            span,
            message,
            suggestion,
        });
    }

    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.level == Level::Error)
    }

    /// How many errors were recorded.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.level == Level::Error)
            .count()
    }

    /// All diagnostics, sorted by file and position; after a syntax error,
    /// without the errors that may only mean it (see [`UNDEFINED_NAMES`]).
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        drop_undefined_names_after_syntax_errors(&mut self.items);
        self.items
            .sort_by(|a, b| (&a.file, a.span, a.level).cmp(&(&b.file, b.span, b.level)));
        self.items.dedup();
        self.items
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c.to_owned())
}

/// Edit distance counting insertions, deletions, substitutions and swaps of
/// adjacent characters as one edit each, ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let mods = ["contains", "startswith", "endswith"];
        assert_eq!(suggest("contians", mods), Some("contains".into()));
        assert_eq!(suggest("startwith", mods), Some("startswith".into()));
        assert_eq!(suggest("regex", mods), None);
        assert_eq!(suggest("hgih", ["high", "low"]), Some("high".into()));
    }

    #[test]
    fn renders_the_contract_format() {
        let d = Diagnostic {
            level: Level::Error,
            code: "E012",
            file: "rules/x.yaml".into(),
            span: Span { line: 12, col: 5 },
            message: "unknown modifier 'contians'".into(),
            suggestion: Some("contains".into()),
        };
        assert_eq!(
            d.to_string(),
            "rules/x.yaml:12:5: error: unknown modifier 'contians' (did you mean 'contains'?)"
        );
        let quoted = Diagnostic {
            message: "unknown modifier 'a\nb\u{1b}[31m'".into(),
            suggestion: None,
            ..d
        };
        assert_eq!(
            quoted.to_string(),
            "rules/x.yaml:12:5: error: unknown modifier 'a\\nb\\u{1b}[31m'"
        );
    }
}
