//! Feeds arbitrary bytes as one event line through `EventBuf::parse` and
//! `Engine::process`, with a small rule set compiled once.
//!
//! Besides "no panic", it checks a few invariants that hold for any input:
//! the JSON scanner accepts exactly the texts serde_json accepts, the parser
//! does not panic whether or not rules read `authclaims` whole,
//! and the engine agree on accept/reject, an accepted event fed
//! a second time is a duplicate, the counters add up, and every finding
//! serialises to JSON.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use tokenwatch::event::EventBuf;
use tokenwatch::fields::FieldTable;
use tokenwatch::json::Scanner;
use tokenwatch::{Engine, Options, Outcome, RuleSet};

const RULES: &str = r#"
id: fuzz-impersonation
title: Impersonation with an admin scope from outside the corporate networks
severity: high
tags: [attack.t1550.001]
match:
  grant:
    data.grantType: urn:qlik:oauth:user-impersonation
  admin:
    - data.scopes|contains: admin
    - data.scopes|startswith|i: ADMIN.
  subject:
    authclaims.sub|exists: true
  corporate:
    originip|cidr: $corporate_networks
  self_revoke:
    data.revokedBy|fieldref: data.revokedContext.userId
  condition: (grant or admin or subject) and not (corporate and self_revoke)
output: "{{data.issuedToClientId}} as {{authclaims.sub}} in {{authclaims}} scopes {{data.scopes}} from {{originip}} {{data.revokedContext.userId}}"
---
id: fuzz-revocation
title: Tokens of another user revoked
severity: medium
events: [com.qlik.oauth-token.revoked]
match:
  targeted:
    data.revokedContext.userId|exists: true
  self:
    data.revokedContext.userId|fieldref: data.revokedBy
  subject:
    authclaims.sub|fieldref|i: data.revokedContext.userId
  recent:
    data.revokedAt|gte: 2020-01-01T00:00:00Z
  odd_grant:
    data.revokedContext.grantId|re: '^(tok|[0-9a-f]{24})-?'
  condition: targeted and not self and (subject or recent or 1 of odd_*)
output: "{{data.revokedBy}} revoked {{data.revokedContext.userId}} ({{authclaims.sub}})"
---
kind: list
name: corporate_networks
items: [10.0.0.0/8, 192.168.0.0/16, "2001:db8::/32", 198.51.100.20]
"#;

static RULESET: LazyLock<Arc<RuleSet>> = LazyLock::new(|| {
    Arc::new(RuleSet::from_yaml("fuzz.yaml", RULES).expect("the fuzz rule set compiles"))
});

fuzz_target!(|data: &[u8]| {
    let rules = Arc::clone(&RULESET);
    let options = Options::default();

    // The scanner against serde_json (which limits nesting to 128 levels).
    if let Ok(text) = std::str::from_utf8(data) {
        let mut open = Vec::new();
        let mut scanner = Scanner::new(text, &mut open);
        let ours = scanner.skip_value().and_then(|()| scanner.end());
        let theirs = serde_json::from_str::<serde::de::IgnoredAny>(text);
        let nesting = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
        if nesting < 100 {
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{ours:?} vs {theirs:?}");
        }
    }

    // The parser with a table that reads inside `authclaims` but not the
    // string itself (the claims then stay escaped until walked).
    let mut inside = FieldTable::default();
    inside.intern("authclaims.sub");
    inside.intern("data.scopes");
    let _ = EventBuf::new(Options::default().max_line_bytes).parse(data, &inside);

    // The parser on its own.
    let mut buf = EventBuf::new(options.max_line_bytes);
    let parsed = buf.parse(data, rules.fields());
    if let Err(rejection) = &parsed {
        let _ = rejection.to_string();
    }

    // The parser taking the line's buffer instead of copying it: the same
    // verdict, and the line handed back intact.
    let mut owned = data.to_vec();
    let taken = buf.parse_owned(&mut owned, rules.fields());
    assert_eq!(format!("{taken:?}"), format!("{parsed:?}"));
    buf.give_back(&mut owned);
    assert_eq!(owned, data, "the line is handed back");

    // The whole path, with a fresh engine so every input is independent.
    let mut engine = Engine::with_options(rules, options);
    let mut findings = Vec::new();
    let first = engine.process(data, &mut findings);
    engine.finish(&mut findings);
    assert_eq!(
        parsed.is_ok(),
        first.is_ok(),
        "EventBuf::parse and Engine::process disagree: {parsed:?} vs {first:?}"
    );
    for finding in &findings {
        serde_json::to_string(finding).expect("a finding serialises");
    }

    // The same line again: a duplicate if it was accepted, rejected again if not.
    let mut again = Vec::new();
    let second = engine.process(data, &mut again);
    engine.finish(&mut again);
    match first {
        Ok(outcome) => {
            assert_eq!(outcome, Outcome::Accepted);
            assert_eq!(second, Ok(Outcome::Duplicate));
            assert!(again.is_empty());
        }
        Err(rejection) => assert_eq!(second, Err(rejection)),
    }

    let stats = engine.stats();
    assert_eq!(stats.read, 2);
    assert_eq!(
        stats.read,
        stats.accepted + stats.rejected + stats.duplicates
    );
});
