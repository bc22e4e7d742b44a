//! Property tests of the condition language: random conditions are rendered
//! to text, parsed by `tokenwatch::rule::condition::parse`, and evaluated
//! against a plain reference evaluator over the generated tree, for every
//! truth assignment of the selections. And the parser never panics, whatever
//! text it is given.

use proptest::prelude::*;
use tokenwatch::rule::condition::{MAX_NESTING, parse};

/// Selection names to draw from: case differences, `_`-prefixed names that
/// `them` leaves out, and the other characters a name may hold.
const POOL: &[&str] = &[
    "sel_a", "sel_b", "sel_c", "Sel_A", "filter_a", "filter_b", "_meta", "x", "x1", "a-b", "net.v4",
];

/// How many of the matched selections an `of` needs.
#[derive(Debug, Clone, Copy)]
enum Count {
    All,
    Any,
    AtLeast(usize),
}

/// A condition as generated, before it is rendered to text.
#[derive(Debug, Clone)]
enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// Explicit parentheses around the inner condition.
    Group(Box<Cond>),
    /// `N of pattern`, `any of …`, `all of …`; the target `them` is kept
    /// as the word.
    Of(Count, String),
}

/// A glob match written the obvious (exponential) way.
fn glob(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The selections an `of` target names.
fn targets(target: &str, names: &[&str]) -> Vec<usize> {
    let pattern: Vec<char> = target.chars().collect();
    (0..names.len())
        .filter(|&i| {
            if target == "them" {
                !names[i].starts_with('_')
            } else {
                glob(&pattern, &names[i].chars().collect::<Vec<_>>())
            }
        })
        .collect()
}

/// True when every `of` of the condition names at least one selection, and
/// at least as many as it needs, so that the condition must parse.
fn valid(cond: &Cond, names: &[&str]) -> bool {
    match cond {
        Cond::Sel(_) => true,
        Cond::Not(inner) | Cond::Group(inner) => valid(inner, names),
        Cond::And(a, b) | Cond::Or(a, b) => valid(a, names) && valid(b, names),
        Cond::Of(count, target) => {
            let named = targets(target, names).len();
            named > 0 && !matches!(count, Count::AtLeast(n) if *n > named)
        }
    }
}

/// The reference meaning of a condition.
fn reference(cond: &Cond, names: &[&str], truth: &[bool]) -> bool {
    match cond {
        Cond::Sel(i) => truth[*i],
        Cond::Not(inner) => !reference(inner, names, truth),
        Cond::Group(inner) => reference(inner, names, truth),
        Cond::And(a, b) => reference(a, names, truth) && reference(b, names, truth),
        Cond::Or(a, b) => reference(a, names, truth) || reference(b, names, truth),
        Cond::Of(count, target) => {
            let hits = targets(target, names)
                .into_iter()
                .filter(|&i| truth[i])
                .count();
            let total = targets(target, names).len();
            match count {
                Count::All => hits == total,
                Count::Any => hits >= 1,
                Count::AtLeast(n) => hits >= *n,
            }
        }
    }
}

/// Binding strength of a condition's outermost operator.
fn strength(cond: &Cond) -> u8 {
    match cond {
        Cond::Or(..) => 1,
        Cond::And(..) => 2,
        Cond::Not(_) => 3,
        Cond::Sel(_) | Cond::Group(_) | Cond::Of(..) => 4,
    }
}

enum Token {
    Open,
    Close,
    Word(String),
}

/// Renders conditions to text, with the spelling of keywords and the
/// whitespace between tokens chosen from `style`.
struct Renderer<'a> {
    names: &'a [&'a str],
    style: &'a [u8],
    next: usize,
    tokens: Vec<Token>,
}

impl Renderer<'_> {
    fn pick(&mut self) -> u8 {
        let b = self.style[self.next % self.style.len()];
        self.next += 1;
        b
    }

    fn keyword(&mut self, word: &str) {
        let spelled = match self.pick() % 3 {
            0 => word.to_owned(),
            1 => word.to_uppercase(),
            _ => {
                let mut chars = word.chars();
                let first = chars.next().map(|c| c.to_ascii_uppercase());
                first.into_iter().chain(chars).collect()
            }
        };
        self.tokens.push(Token::Word(spelled));
    }

    fn cond(&mut self, cond: &Cond, min_strength: u8) {
        if strength(cond) < min_strength {
            self.tokens.push(Token::Open);
            self.cond(cond, 0);
            self.tokens.push(Token::Close);
            return;
        }
        match cond {
            Cond::Sel(i) => self.tokens.push(Token::Word(self.names[*i].to_owned())),
            Cond::Not(inner) => {
                self.keyword("not");
                self.cond(inner, 3);
            }
            Cond::And(a, b) => {
                self.cond(a, 2);
                self.keyword("and");
                self.cond(b, 2);
            }
            Cond::Or(a, b) => {
                self.cond(a, 1);
                self.keyword("or");
                self.cond(b, 1);
            }
            Cond::Group(inner) => {
                self.tokens.push(Token::Open);
                self.cond(inner, 0);
                self.tokens.push(Token::Close);
            }
            Cond::Of(count, target) => {
                match count {
                    Count::All => self.keyword("all"),
                    Count::Any => self.keyword("any"),
                    Count::AtLeast(n) => self.tokens.push(Token::Word(n.to_string())),
                }
                self.keyword("of");
                if target == "them" {
                    self.keyword("them");
                } else {
                    self.tokens.push(Token::Word(target.clone()));
                }
            }
        }
    }

    fn text(mut self, cond: &Cond) -> String {
        self.cond(cond, 0);
        let tokens = std::mem::take(&mut self.tokens);
        let mut out = String::new();
        if self.pick().is_multiple_of(8) {
            out.push(' ');
        }
        let mut previous: Option<bool> = None;
        for token in tokens {
            let is_word = matches!(token, Token::Word(_));
            if let Some(previous_is_word) = previous {
                let separator = match self.pick() % 6 {
                    0 | 1 => " ",
                    2 => "  ",
                    3 => "\t",
                    4 => "\n  ",
                    _ => "",
                };
                if separator.is_empty() && previous_is_word && is_word {
                    out.push(' ');
                } else {
                    out.push_str(separator);
                }
            }
            match token {
                Token::Open => out.push('('),
                Token::Close => out.push(')'),
                Token::Word(w) => out.push_str(&w),
            }
            previous = Some(is_word);
        }
        if self.pick().is_multiple_of(8) {
            out.push('\n');
        }
        out
    }
}

fn render(cond: &Cond, names: &[&str], style: &[u8]) -> String {
    Renderer {
        names,
        style,
        next: 0,
        tokens: Vec::new(),
    }
    .text(cond)
}

/// An `of` target: `them`, or a pattern made from one of the names, or now
/// and then a pattern that matches nothing.
fn target(names: Vec<&'static str>) -> impl Strategy<Value = String> {
    let n = names.len();
    prop_oneof![
        2 => Just("them".to_owned()),
        8 => (0..n, 0u8..5, any::<usize>()).prop_map(move |(i, kind, k)| {
            let chars: Vec<char> = names[i].chars().collect();
            let len = chars.len();
            match kind {
                0 => names[i].to_owned(),
                1 => chars[..k % (len + 1)].iter().chain(['*'].iter()).collect(),
                2 => ['*'].iter().chain(chars[k % (len + 1)..].iter()).collect(),
                3 => {
                    let mut c = chars.clone();
                    c[k % len] = '?';
                    c.into_iter().collect()
                }
                _ => "*".to_owned(),
            }
        }),
        1 => Just("nothing_*".to_owned()),
    ]
}

fn count() -> impl Strategy<Value = Count> {
    prop_oneof![
        Just(Count::All),
        Just(Count::Any),
        (1usize..=7).prop_map(Count::AtLeast),
    ]
}

fn cond(names: Vec<&'static str>) -> impl Strategy<Value = Cond> {
    let n = names.len();
    let leaf = prop_oneof![
        4 => (0..n).prop_map(Cond::Sel),
        1 => (count(), target(names)).prop_map(|(c, t)| Cond::Of(c, t)),
    ];
    leaf.prop_recursive(6, 40, 2, |inner| {
        prop_oneof![
            2 => inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            1 => inner.prop_map(|c| Cond::Group(Box::new(c))),
        ]
    })
}

fn names() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(POOL.to_vec(), 1..=6).prop_shuffle()
}

fn case() -> impl Strategy<Value = (Vec<&'static str>, Cond, Vec<u8>)> {
    names().prop_flat_map(|names| {
        (
            Just(names.clone()),
            cond(names),
            prop::collection::vec(any::<u8>(), 1..64),
        )
    })
}

/// Text that looks like a condition, to reach deeper into the parser than
/// arbitrary strings do.
fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "and",
        "or",
        "not",
        "of",
        "them",
        "all",
        "any",
        "AND",
        "0",
        "1",
        "2",
        "99999999999999999999",
        "(",
        ")",
        " ",
        "  ",
        "\t",
        "sel_a",
        "sel_*",
        "*",
        "?",
        "_meta",
        "x",
        "-",
        ".",
        "&",
        "é",
        "|",
        "\"",
        "ǅ",
    ]);
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn parsed_conditions_evaluate_like_the_reference((names, cond, style) in case()) {
        let text = render(&cond, &names, &style);
        let must_parse = valid(&cond, &names);
        match parse(&text, &names) {
            Ok(expr) => {
                prop_assert!(must_parse, "{text:?} parsed though an 'of' matches nothing");
                let mut read = Vec::new();
                expr.selections(&mut read);
                prop_assert!(read.iter().all(|&i| i < names.len()));
                for bits in 0u32..(1 << names.len()) {
                    let truth: Vec<bool> = (0..names.len()).map(|i| bits & (1 << i) != 0).collect();
                    let mut out_of_range = false;
                    let got = expr.eval(&mut |i| match truth.get(i) {
                        Some(&t) => t,
                        None => {
                            out_of_range = true;
                            false
                        }
                    });
                    prop_assert!(!out_of_range, "{text:?} asked for a selection that does not exist");
                    prop_assert_eq!(
                        got,
                        reference(&cond, &names, &truth),
                        "{:?} over {:?} with {:?}", text, names, truth
                    );
                }
            }
            Err(e) => {
                prop_assert!(!must_parse, "{text:?} over {names:?} did not parse: {e:?}");
                prop_assert!(
                    e.message.contains("matches no selection") || e.message.contains("can never hold"),
                    "{text:?}: {e:?}"
                );
                prop_assert!(e.offset < text.chars().count());
            }
        }
    }

    #[test]
    fn parser_never_panics(
        text in prop_oneof![any::<String>(), token_soup()],
        names in prop::sample::subsequence(POOL.to_vec(), 0..=6),
    ) {
        if let Err(e) = parse(&text, &names) {
            prop_assert!(
                e.offset <= text.chars().count(),
                "offset {} beyond {:?}", e.offset, text
            );
        }
    }

    #[test]
    fn nesting_is_limited_not_fatal(depth in 0usize..2_000, with_not in any::<bool>()) {
        let text = if with_not {
            format!("{}x", "not ".repeat(depth))
        } else {
            format!("{}x{}", "(".repeat(depth), ")".repeat(depth))
        };
        let result = parse(&text, &["x"]);
        prop_assert_eq!(result.is_ok(), depth <= MAX_NESTING, "depth {}", depth);
        if let Ok(expr) = result {
            let negations = if with_not { depth } else { 0 };
            prop_assert_eq!(expr.eval(&mut |_| true), negations % 2 == 0);
        }
    }
}
