//! Properties of correlations over whole streams:
//!
//! - events arriving out of order by less than the allowed lateness give
//!   exactly the findings (the same JSON lines, in the same order) of the
//!   stream sorted by event time;
//! - a stream split in two runs, with the state saved through JSON in
//!   between (as `--state` does), gives the findings of one run.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::json;
use tokenwatch::state::Snapshot;
use tokenwatch::time::{Span, Timestamp};
use tokenwatch::{Engine, Options, Outcome, RuleSet};

/// Every correlation type, one with `suppress`, and a stateless rule.
const RULES: &str = r#"
id: burst
title: Token burst per client
severity: medium
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: event_count
  group-by: [tenantid, data.issuedToClientId]
  timespan: 5m
  condition: {gte: 3}
suppress: 4m
output: "{{data.issuedToClientId}}: {{count}} in {{timespan}}"
---
id: fanout
title: One client, many users
severity: high
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: value_count
  group-by: [data.issuedToClientId]
  timespan: 10m
  condition: {field: data.resourceOwner, gte: 3}
output: "{{values}}"
---
id: revoke-then-reissue
title: Reissued after revocation
severity: medium
match:
  revoke:
    type: com.qlik.core.oauth-token.revoked
  reissue:
    type: com.qlik.core.oauth-token.issued
correlation:
  type: temporal_ordered
  steps: [revoke, reissue]
  aliases:
    user:
      revoke: data.revokedContext.userId
      reissue: data.resourceOwner
  group-by: [tenantid, user]
  timespan: 10m
---
id: both-ways
title: Issued and revoked
severity: low
match:
  revoke:
    type: com.qlik.core.oauth-token.revoked
  issue:
    type: com.qlik.core.oauth-token.issued
correlation:
  type: temporal
  steps: [revoke, issue]
  group-by: [data.issuedToClientId]
  timespan: 3m
---
id: new-origin
title: New origin for a user
severity: medium
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.resourceOwner|exists: true
correlation:
  type: new_value
  group-by: [data.resourceOwner]
  field: originip
  prefix: 24
  learning: 20m
  history: 1h
---
id: spike
title: Token spike
severity: low
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: spike
  group-by: [data.issuedToClientId]
  timespan: 10m
  baseline: 30m
  condition: {zscore: 1.5, min: 3}
---
id: impersonation
title: Impersonation grant
severity: high
match:
  grant:
    data.grantType: urn:qlik:oauth:user-impersonation
output: "{{data.issuedToClientId}} as {{data.resourceOwner}}"
"#;

/// 2026-03-07T00:00:00Z in microseconds.
const BASE: i64 = 1_772_841_600_000_000;
const LATENESS: i64 = 5 * 60_000_000;

/// One generated event: the gap before it and what it is.
#[derive(Debug, Clone)]
struct Spec {
    /// Microseconds after the previous event (at least 1: times are distinct).
    gap: i64,
    /// 0-2 issued, 3 impersonation, 4 revoked.
    kind: u8,
    client: u8,
    owner: u8,
    ip: u8,
    /// Arrival delay in [0, lateness): the event is delivered as if at
    /// time + delay.
    delay: i64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![1i64..2_000_000, 1i64..90_000_000, 1i64..400_000_000],
        0u8..5,
        0u8..3,
        0u8..4,
        0u8..4,
        0..LATENESS,
    )
        .prop_map(|(gap, kind, client, owner, ip, delay)| Spec {
            gap,
            kind,
            client,
            owner,
            ip,
            delay,
        })
}

/// Event lines with their times, in event-time order.
fn events(specs: &[Spec]) -> Vec<(i64, String)> {
    let mut time = BASE;
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            time += s.gap;
            let at = Timestamp(time).to_rfc3339();
            let client = format!("client-{}", s.client);
            let owner = format!("user-{}", s.owner);
            let ip = format!("192.0.{}.{}", s.ip / 2, 10 + s.ip);
            let event = if s.kind == 4 {
                json!({
                    "id": format!("e{i}"), "type": "com.qlik.core.oauth-token.revoked",
                    "source": "qlik", "specversion": "1.0", "tenantid": "t1", "time": at,
                    "data": {"revokedAt": at, "revokedContext": {"userId": owner},
                             "revokedByBearer": false, "issuedToClientId": client}
                })
            } else {
                let grant = if s.kind == 3 {
                    "urn:qlik:oauth:user-impersonation"
                } else {
                    "authorization_code"
                };
                json!({
                    "id": format!("e{i}"), "type": "com.qlik.core.oauth-token.issued",
                    "source": "qlik", "specversion": "1.0", "tenantid": "t1", "time": at,
                    "originip": ip,
                    "data": {"grantType": grant, "issuedToClientId": client,
                             "resourceOwner": owner}
                })
            };
            (time, event.to_string())
        })
        .collect()
}

fn rules() -> Arc<RuleSet> {
    Arc::new(RuleSet::from_yaml("props.yaml", RULES).expect("rules compile"))
}

fn engine(rules: &Arc<RuleSet>) -> Engine {
    Engine::with_options(
        rules.clone(),
        Options {
            lateness: Span(LATENESS),
            ..Options::default()
        },
    )
}

/// Feeds lines to an engine; returns the findings as JSON lines.
fn feed(engine: &mut Engine, lines: &[&str], finish: bool) -> Vec<String> {
    let mut findings = Vec::new();
    for line in lines {
        assert_eq!(
            engine.process(line.as_bytes(), &mut findings),
            Ok(Outcome::Accepted)
        );
    }
    if finish {
        engine.finish(&mut findings);
    }
    findings.iter().map(|f| f.to_json()).collect()
}

fn sorted_run(rules: &Arc<RuleSet>, events: &[(i64, String)]) -> Vec<String> {
    let lines: Vec<&str> = events.iter().map(|(_, l)| l.as_str()).collect();
    feed(&mut engine(rules), &lines, true)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arrival_within_the_lateness_gives_the_sorted_findings(
        specs in prop::collection::vec(spec(), 1..120),
    ) {
        let rules = rules();
        let events = events(&specs);
        let expected = sorted_run(&rules, &events);

        // Arrival order: by time + delay, delay < lateness. When an event
        // arrives, every earlier arrival has time < its time + lateness, so
        // it is never late.
        let mut arrival: Vec<usize> = (0..events.len()).collect();
        arrival.sort_by_key(|&i| (events[i].0 + specs[i].delay, i));
        let lines: Vec<&str> = arrival.iter().map(|&i| events[i].1.as_str()).collect();
        let mut shuffled = engine(&rules);
        let got = feed(&mut shuffled, &lines, true);
        prop_assert_eq!(shuffled.stats().late, 0);
        prop_assert_eq!(shuffled.stats().forced, 0);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn a_run_split_with_saved_state_gives_the_findings_of_one_run(
        specs in prop::collection::vec(spec(), 1..120),
        split in any::<prop::sample::Index>(),
    ) {
        let rules = rules();
        let events = events(&specs);
        let expected = sorted_run(&rules, &events);

        let lines: Vec<&str> = events.iter().map(|(_, l)| l.as_str()).collect();
        let at = split.index(lines.len() + 1);
        let mut first = engine(&rules);
        let mut got = feed(&mut first, &lines[..at], true);
        let saved = serde_json::to_string(&first.snapshot()).expect("state serialises");
        drop(first);
        let snapshot: Snapshot = serde_json::from_str(&saved).expect("state loads");
        let mut second = engine(&rules);
        let fresh = second.restore(snapshot).expect("the saved groups fit");
        prop_assert!(fresh.is_empty(), "no rule changed: {:?}", fresh);
        got.extend(feed(&mut second, &lines[at..], true));
        prop_assert_eq!(second.stats().late, 0);
        prop_assert_eq!(got, expected);
    }
}

/// The generated streams do make every rule fire, so the properties compare
/// findings and not just empty lists.
#[test]
fn generated_streams_exercise_every_rule() {
    let rules = rules();
    let mut fired = std::collections::BTreeSet::new();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(spec(), 60..120);
    for _ in 0..64 {
        let specs = strategy.new_tree(&mut runner).expect("a stream").current();
        for line in sorted_run(&rules, &events(&specs)) {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            fired.insert(value["rule"].as_str().unwrap().to_owned());
        }
    }
    let all: Vec<&str> = fired.iter().map(String::as_str).collect();
    assert_eq!(
        all,
        [
            "both-ways",
            "burst",
            "fanout",
            "impersonation",
            "new-origin",
            "revoke-then-reissue",
            "spike"
        ]
    );
}
