//! The condition language: `and`, `or`, `not`, parentheses, `1 of sel_*`,
//! `all of sel_*`, `1 of them`, `all of them`, over named selections.
//!
//! Conditions are parsed straight to an expression over selection indexes;
//! precedence is `not` over `and` over `or`. Nesting is limited so that a
//! hostile condition cannot exhaust the stack, here or when evaluated.

use crate::diag::suggest;

/// Deepest nesting of parentheses and `not` a condition may use.
pub const MAX_NESTING: usize = 64;

/// A compiled condition over the selections of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// The selection with this index holds.
    Sel(usize),
    /// The inner expression does not hold.
    Not(Box<Expr>),
    /// Every part holds.
    And(Vec<Expr>),
    /// Some part holds.
    Or(Vec<Expr>),
    /// At least `n` of the selections hold.
    AtLeast(usize, Vec<usize>),
    /// Every one of the selections holds.
    All(Vec<usize>),
}

impl Expr {
    /// Evaluates the expression, asking `selection` for each selection's
    /// truth at most once per call path and only when needed.
    pub fn eval(&self, selection: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Expr::Sel(i) => selection(*i),
            Expr::Not(inner) => !inner.eval(selection),
            Expr::And(parts) => parts.iter().all(|p| p.eval(selection)),
            Expr::Or(parts) => parts.iter().any(|p| p.eval(selection)),
            Expr::AtLeast(n, sels) => {
                let mut hits = 0;
                for &s in sels {
                    if selection(s) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                false
            }
            Expr::All(sels) => sels.iter().all(|&s| selection(s)),
        }
    }

    /// Every selection index the expression reads.
    pub fn selections(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Sel(i) => out.push(*i),
            Expr::Not(inner) => inner.selections(out),
            Expr::And(parts) | Expr::Or(parts) => parts.iter().for_each(|p| p.selections(out)),
            Expr::AtLeast(_, sels) | Expr::All(sels) => out.extend(sels),
        }
    }
}

/// A condition error at a character offset in the condition text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// Offset in characters from the start of the condition.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// What was probably meant.
    pub suggestion: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ConditionError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push((Token::Open, i));
            i += 1;
        } else if c == ')' {
            tokens.push((Token::Close, i));
            i += 1;
        } else if c.is_alphanumeric() || matches!(c, '_' | '-' | '*' | '.' | '?') {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '*' | '.' | '?'))
            {
                i += 1;
            }
            tokens.push((Token::Word(chars[start..i].iter().collect()), start));
        } else {
            return Err(ConditionError {
                offset: i,
                message: format!("unexpected character '{c}' in condition"),
                suggestion: None,
            });
        }
    }
    Ok(tokens)
}

/// Parses `text` against the selection names of a rule.
pub fn parse(text: &str, names: &[&str]) -> Result<Expr, ConditionError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        names,
        end: text.chars().count(),
        depth: 0,
    };
    let expr = parser.or()?;
    if let Some((token, offset)) = parser.tokens.get(parser.pos) {
        return Err(ConditionError {
            offset: *offset,
            message: match token {
                Token::Close => "unbalanced ')'".into(),
                Token::Open => "expected 'and' or 'or' before '('".into(),
                Token::Word(w) => format!("expected 'and' or 'or' before '{w}'"),
            },
            suggestion: None,
        });
    }
    Ok(expr)
}

struct Parser<'n> {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    names: &'n [&'n str],
    end: usize,
    depth: usize,
}

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

impl Parser<'_> {
    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some((Token::Word(w), _)) if is_keyword(w, keyword))
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |&(_, o)| o)
    }

    fn error(&self, message: impl Into<String>) -> ConditionError {
        ConditionError {
            offset: self.offset(),
            message: message.into(),
            suggestion: None,
        }
    }

    fn enter(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(format!("condition nested deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut parts = vec![self.and()?];
        while self.peek_keyword("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut parts = vec![self.unary()?];
        while self.peek_keyword("and") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        let Some((token, offset)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("condition ends too early: expected a selection"));
        };
        match token {
            Token::Open => {
                self.pos += 1;
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.tokens.get(self.pos) {
                    Some((Token::Close, _)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error("missing ')'")),
                }
            }
            Token::Close => Err(self.error("unexpected ')': expected a selection")),
            Token::Word(word) => {
                let followed_by_of = matches!(self.tokens.get(self.pos + 1), Some((Token::Word(w), _)) if is_keyword(w, "of"));
                if followed_by_of {
                    return self.quantified(&word, offset);
                }
                if ["and", "or", "of", "them"]
                    .iter()
                    .any(|k| is_keyword(&word, k))
                {
                    return Err(self.error(format!("unexpected '{word}': expected a selection")));
                }
                self.pos += 1;
                match self.names.iter().position(|n| *n == word) {
                    Some(index) => Ok(Expr::Sel(index)),
                    None => Err(ConditionError {
                        offset,
                        message: format!("undefined selection '{word}'"),
                        suggestion: suggest(&word, self.names.iter().copied()),
                    }),
                }
            }
        }
    }

    fn quantified(&mut self, quantifier: &str, offset: usize) -> Result<Expr, ConditionError> {
        let count = if is_keyword(quantifier, "all") {
            None
        } else if is_keyword(quantifier, "any") {
            Some(1)
        } else {
            match quantifier.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(ConditionError {
                        offset,
                        message: format!(
                            "'{quantifier} of': expected a positive number, 'any' or 'all' before 'of'"
                        ),
                        suggestion: None,
                    });
                }
            }
        };
        self.pos += 2;
        let Some((Token::Word(target), target_offset)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("expected 'them' or a selection pattern after 'of'"));
        };
        self.pos += 1;
        let matched: Vec<usize> = if is_keyword(&target, "them") {
            (0..self.names.len())
                .filter(|&i| !self.names[i].starts_with('_'))
                .collect()
        } else {
            (0..self.names.len())
                .filter(|&i| wildcard_match(&target, self.names[i]))
                .collect()
        };
        if matched.is_empty() {
            return Err(ConditionError {
                offset: target_offset,
                message: format!("'{target}' matches no selection"),
                suggestion: suggest(&target, self.names.iter().copied()),
            });
        }
        Ok(match count {
            None => Expr::All(matched),
            Some(n) if n > matched.len() => {
                return Err(ConditionError {
                    offset,
                    message: format!(
                        "'{n} of {target}' can never hold: '{target}' names {} selection(s)",
                        matched.len()
                    ),
                    suggestion: None,
                });
            }
            Some(n) => Expr::AtLeast(n, matched),
        })
    }
}

/// Glob match with `*` (any run) and `?` (one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["sel_a", "sel_b", "filter"];

    fn eval(text: &str, truth: [bool; 3]) -> bool {
        parse(text, NAMES).unwrap().eval(&mut |i| truth[i])
    }

    #[test]
    fn precedence_is_not_and_or() {
        assert!(eval("sel_a or sel_b and filter", [true, false, false]));
        assert!(!eval("(sel_a or sel_b) and filter", [true, false, false]));
        assert!(eval("not sel_a and sel_b", [false, true, false]));
        assert!(!eval("not (sel_a or sel_b)", [false, true, false]));
        assert!(eval("sel_a AND NOT filter", [true, false, false]));
    }

    #[test]
    fn quantifiers() {
        assert!(eval("1 of sel_*", [false, true, false]));
        assert!(!eval("all of sel_*", [false, true, true]));
        assert!(eval("all of sel_* and not filter", [true, true, false]));
        assert!(eval("2 of them", [true, false, true]));
        assert!(!eval("all of them", [true, true, false]));
        assert!(eval("any of them", [false, false, true]));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("sel_a and sel_c", NAMES).unwrap_err();
        assert_eq!(e.offset, 10);
        assert_eq!(e.suggestion.as_deref(), Some("sel_a"));
        assert_eq!(parse("(sel_a", NAMES).unwrap_err().message, "missing ')'");
        assert_eq!(parse("sel_a)", NAMES).unwrap_err().offset, 5);
        assert!(
            parse("1 of x_*", NAMES)
                .unwrap_err()
                .message
                .contains("matches no selection")
        );
        let e = parse("sel_a or 3 of sel_*", NAMES).unwrap_err();
        assert_eq!(e.offset, 9);
        assert_eq!(
            e.message,
            "'3 of sel_*' can never hold: 'sel_*' names 2 selection(s)"
        );
        assert!(parse("2 of sel_*", NAMES).is_ok());
        assert!(parse("sel_a and", NAMES).is_err());
        assert!(parse("sel_a sel_b", NAMES).is_err());
        assert!(parse("sel_a & sel_b", NAMES).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}sel_a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&text, NAMES).unwrap_err().message.contains("nested"));
        let text = format!("{}sel_a", "not ".repeat(10_000));
        assert!(parse(&text, NAMES).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("sel_*", "sel_a"));
        assert!(wildcard_match("*a*", "banana"));
        assert!(!wildcard_match("sel_?", "sel_ab"));
        assert!(wildcard_match("*", ""));
    }
}
