//! Edge cases of every correlation type, through the library API: thresholds
//! exactly met and one short, inclusive windows, windows across hour and day
//! boundaries, identical timestamps, reset after firing, `suppress`, group
//! keys, and the explanation fields each finding carries.

use std::sync::Arc;

use serde_json::{Value, json};
use tokenwatch::time::{Span, Timestamp};
use tokenwatch::{Engine, Finding, Options, Outcome, Rejection, RuleSet};

const ISSUED: &str = "com.qlik.oauth-token.issued";
const REVOKED: &str = "com.qlik.core.oauth-token.revoked";

/// `2026-03-07T<hms>Z`.
fn t(hms: &str) -> String {
    format!("2026-03-07T{hms}Z")
}

/// `2026-03-08T<hms>Z`, the next day.
fn t8(hms: &str) -> String {
    format!("2026-03-08T{hms}Z")
}

/// `minutes` after 2026-03-07T00:00:00Z (a whole hour since the epoch).
fn at_minute(minutes: i64) -> String {
    const BASE: i64 = 1_772_841_600_000_000; // 2026-03-07T00:00:00Z
    Timestamp(BASE + minutes * 60_000_000).to_rfc3339()
}

/// An event under construction.
#[derive(Clone, Debug)]
struct Ev(Value);

impl Ev {
    /// An issued token for client `c1`, owner `u1`, from 10.0.0.1, tenant `t1`.
    fn issued(id: &str, time: &str) -> Ev {
        Ev(json!({
            "id": id,
            "type": ISSUED,
            "source": "com.qlik/edge-auth",
            "specversion": "1.0",
            "tenantid": "t1",
            "time": time,
            "originip": "10.0.0.1",
            "data": {
                "grantType": "authorization_code",
                "issuedToClientId": "c1",
                "resourceOwner": "u1",
                "scopes": ["user_default"],
                "deviceType": "Pixel"
            }
        }))
    }

    /// A revocation of `user`'s tokens in tenant `t1`.
    fn revoked(id: &str, time: &str, user: &str) -> Ev {
        Ev(json!({
            "id": id,
            "type": REVOKED,
            "source": "com.qlik/edge-auth",
            "specversion": "1.0",
            "tenantid": "t1",
            "time": time,
            "data": {
                "revokedAt": time,
                "revokedContext": {"userId": user},
                "revokedByBearer": false,
                "issuedToClientId": "c1"
            }
        }))
    }

    /// Sets a dotted field, creating objects on the way.
    fn set(mut self, path: &str, value: impl Into<Value>) -> Ev {
        let mut node = &mut self.0;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node
                .as_object_mut()
                .expect("an object on the path")
                .entry(part.to_string())
                .or_insert_with(|| json!({}));
        }
        node.as_object_mut()
            .expect("an object holds the field")
            .insert(parts[parts.len() - 1].to_owned(), value.into());
        self
    }

    /// Removes a dotted field.
    fn without(mut self, path: &str) -> Ev {
        let mut node = &mut self.0;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node.get_mut(*part).expect("the path exists");
        }
        node.as_object_mut()
            .expect("an object holds the field")
            .remove(parts[parts.len() - 1]);
        self
    }

    fn client(self, client: &str) -> Ev {
        self.set("data.issuedToClientId", client)
    }

    fn owner(self, owner: &str) -> Ev {
        self.set("data.resourceOwner", owner)
    }

    fn tenant(self, tenant: &str) -> Ev {
        self.set("tenantid", tenant)
    }

    fn ip(self, ip: &str) -> Ev {
        self.set("originip", ip)
    }

    fn line(&self) -> String {
        self.0.to_string()
    }
}

fn engine(yaml: &str) -> Engine {
    let rules = RuleSet::from_yaml("correlations.yaml", yaml)
        .unwrap_or_else(|e| panic!("rules compile: {e:?}\n{yaml}"));
    Engine::with_options(
        Arc::new(rules),
        Options {
            lateness: Span(60_000_000),
            ..Options::default()
        },
    )
}

/// Feeds every event (each must be accepted) and flushes the reorder buffer.
fn feed(engine: &mut Engine, events: &[Ev]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for event in events {
        let outcome = engine.process(event.line().as_bytes(), &mut findings);
        assert_eq!(outcome, Ok(Outcome::Accepted), "{}", event.line());
    }
    engine.finish(&mut findings);
    findings
}

fn run(yaml: &str, events: &[Ev]) -> Vec<Finding> {
    feed(&mut engine(yaml), events)
}

fn ids(finding: &Finding) -> Vec<&str> {
    finding.events.iter().map(String::as_str).collect()
}

/// The finding's `group` (which leaves out `tenantid`: that is the
/// finding's own field).
fn group(finding: &Finding) -> Vec<(&str, &str)> {
    finding
        .group
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or("<null>")))
        .collect()
}

fn window(finding: &Finding) -> (&str, &str) {
    let w = finding
        .window
        .as_ref()
        .expect("correlation findings have a window");
    (w.start.as_str(), w.end.as_str())
}

/// `n` issued events one minute apart from `start` (a `t()` minute), ids `<prefix>1…`.
fn burst(prefix: &str, start_minute: i64, n: usize) -> Vec<Ev> {
    (0..n)
        .map(|i| {
            Ev::issued(
                &format!("{prefix}{}", i + 1),
                &at_minute(start_minute + i as i64),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// event_count

fn event_count(condition: &str, extra: &str) -> String {
    format!(
        r#"
id: burst
title: Token burst
severity: high
tags: [attack.t1550.001]
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: event_count
  group-by: [tenantid, data.issuedToClientId]
  timespan: 10m
  condition: {condition}
{extra}
output: "client {{{{data.issuedToClientId}}}} minted {{{{count}}}} tokens in {{{{timespan}}}}"
"#
    )
}

#[test]
fn event_count_fires_exactly_at_the_threshold_with_every_contract_field() {
    let rules = event_count("{gte: 3}", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("e2", &t("10:01:00")),
            Ev::issued("e3", &t("10:02:30")),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.rule, "burst");
    assert_eq!(f.title, "Token burst");
    assert_eq!(f.severity, "high");
    assert_eq!(f.tags, ["attack.t1550.001"]);
    assert_eq!(f.count, 3);
    assert_eq!(f.time.as_deref(), Some("2026-03-07T10:02:30Z"));
    assert_eq!(f.tenantid, "t1");
    assert_eq!(group(f), [("data.issuedToClientId", "c1")]);
    assert_eq!(window(f), ("2026-03-07T10:00:00Z", "2026-03-07T10:02:30Z"));
    assert_eq!(ids(f), ["e1", "e2", "e3"]);
    assert_eq!(f.message, "client c1 minted 3 tokens in 10m");
    assert_eq!(
        (&f.values, &f.value, &f.network, f.mean, f.stddev),
        (&None, &None, &None, None, None)
    );

    // The JSON line has the contract's keys, in the contract's order.
    assert_eq!(
        f.to_json(),
        concat!(
            r#"{"rule":"burst","title":"Token burst","severity":"high","tags":["attack.t1550.001"],"#,
            r#""time":"2026-03-07T10:02:30Z","tenantid":"t1","#,
            r#""group":{"data.issuedToClientId":"c1"},"count":3,"#,
            r#""window":{"start":"2026-03-07T10:00:00Z","end":"2026-03-07T10:02:30Z"},"#,
            r#""events":["e1","e2","e3"],"message":"client c1 minted 3 tokens in 10m"}"#
        )
    );

    // One event short stays quiet.
    let quiet = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("e2", &t("10:01:00")),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
}

#[test]
fn event_count_gt_needs_one_more_than_the_bound() {
    let rules = event_count("{gt: 3}", "");
    assert!(run(&rules, &burst("e", 600, 3)).is_empty());
    let findings = run(&rules, &burst("e", 600, 4));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 4);
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3", "e4"]);
}

#[test]
fn event_count_eq_fires_at_the_value() {
    let rules = event_count("{eq: 3}", "");
    assert!(run(&rules, &burst("e", 600, 2)).is_empty());
    let findings = run(&rules, &burst("e", 600, 3));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 3);
}

#[test]
fn event_count_ranges_need_every_bound() {
    // gt 1 and lt 3: fires at 2 events.
    let findings = run(&event_count("{gt: 1, lt: 3}", ""), &burst("e", 600, 2));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 2);
    // gte 3 and lte 4: the first count to satisfy it is 3.
    let findings = run(&event_count("{gte: 3, lte: 4}", ""), &burst("e", 600, 3));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 3);
    // An empty range never fires.
    assert!(run(&event_count("{gte: 4, lt: 4}", ""), &burst("e", 600, 8)).is_empty());
}

#[test]
fn event_count_lt_alone_is_met_by_the_first_event_of_a_group() {
    // Counts are checked as each event arrives, so an upper bound alone is
    // met at once (count 1), and every event fires after the reset.
    let findings = run(&event_count("{lt: 3}", ""), &burst("e", 600, 2));
    assert_eq!(findings.len(), 2);
    assert!(findings.iter().all(|f| f.count == 1));
    let findings = run(&event_count("{lte: 2}", ""), &burst("e", 600, 1));
    assert_eq!(findings.len(), 1);
}

#[test]
fn event_count_window_is_inclusive_to_the_microsecond() {
    let rules = event_count("{gte: 3}", "");
    // The first event exactly 10m before the third still counts.
    let findings = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("e2", &t("10:05:00")),
            Ev::issued("e3", &t("10:10:00")),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(window(&findings[0]).0, "2026-03-07T10:00:00Z");
    // One microsecond later it has left the window.
    let quiet = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("e2", &t("10:05:00")),
            Ev::issued("e3", &t("10:10:00.000001")),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
    // And one second later, too.
    let quiet = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("e2", &t("10:05:00")),
            Ev::issued("e3", &t("10:10:01")),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
}

#[test]
fn event_count_window_straddles_hour_and_day_boundaries() {
    let rules = event_count("{gte: 3}", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("h1", &t("10:57:00")),
            Ev::issued("h2", &t("10:59:59")),
            Ev::issued("h3", &t("11:03:00")),
            Ev::issued("d1", &t("23:55:00")),
            Ev::issued("d2", &t("23:59:59.999999")),
            Ev::issued("d3", &t8("00:04:00")),
        ],
    );
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert_eq!(
        window(&findings[0]),
        ("2026-03-07T10:57:00Z", "2026-03-07T11:03:00Z")
    );
    assert_eq!(
        window(&findings[1]),
        ("2026-03-07T23:55:00Z", "2026-03-08T00:04:00Z")
    );
    assert_eq!(findings[1].time.as_deref(), Some("2026-03-08T00:04:00Z"));
    assert_eq!(ids(&findings[1]), ["d1", "d2", "d3"]);
}

#[test]
fn event_count_counts_events_at_identical_timestamps() {
    let rules = event_count("{gte: 3}", "");
    let same = t("10:00:00");
    let findings = run(
        &rules,
        &[
            Ev::issued("a", &same),
            Ev::issued("b", &same),
            Ev::issued("c", &same),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(
        ids(&findings[0]),
        ["a", "b", "c"],
        "arrival order among ties"
    );
    assert_eq!(window(&findings[0]), (same.as_str(), same.as_str()));
}

#[test]
fn event_count_follows_the_readme_timeline() {
    // README "Timeline": 00:55, 00:59, 01:04 fire; 01:06 and 01:20 do not.
    let findings = run(
        &event_count("{gte: 3}", ""),
        &[
            Ev::issued("e1", &t("00:55:00")),
            Ev::issued("e2", &t("00:59:00")),
            Ev::issued("e3", &t("01:04:00")),
            Ev::issued("e4", &t("01:06:00")),
            Ev::issued("e5", &t("01:20:00")),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(
        window(&findings[0]),
        ("2026-03-07T00:55:00Z", "2026-03-07T01:04:00Z")
    );
}

#[test]
fn event_count_resets_after_firing() {
    let rules = event_count("{gte: 3}", "");
    // e1..e3 fire; e4 and e5 alone are not three, though e2..e5 all lie
    // within 10m; e6 completes a fresh window of e4, e5, e6.
    let findings = run(&rules, &burst("e", 600, 6));
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3"]);
    assert_eq!(ids(&findings[1]), ["e4", "e5", "e6"]);
    let findings = run(&rules, &burst("e", 600, 5));
    assert_eq!(findings.len(), 1);
}

#[test]
fn event_count_suppress_silences_the_same_group_only() {
    let rules = event_count("{gte: 2}", "suppress: 30m");
    let mut engine = engine(&rules);
    let findings = feed(
        &mut engine,
        &[
            // c1 fires at 10:01.
            Ev::issued("a1", &t("10:00:00")),
            Ev::issued("a2", &t("10:01:00")),
            // c1 again: suppressed (within 30m of 10:01).
            Ev::issued("a3", &t("10:10:00")),
            Ev::issued("a4", &t("10:11:00")),
            // c2 is another group: fires.
            Ev::issued("b1", &t("10:12:00")).client("c2"),
            Ev::issued("b2", &t("10:13:00")).client("c2"),
            // c1 at 10:31, exactly 30m after its finding: no longer suppressed.
            Ev::issued("a5", &t("10:30:00")),
            Ev::issued("a6", &t("10:31:00")),
        ],
    );
    let got: Vec<(Vec<&str>, &str)> = findings
        .iter()
        .map(|f| (ids(f), f.group[0].1.as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (vec!["a1", "a2"], "c1"),
            (vec!["b1", "b2"], "c2"),
            (vec!["a5", "a6"], "c1"),
        ]
    );
    let stats = engine.stats();
    assert_eq!(stats.rules[0].findings, 3);
    assert_eq!(stats.rules[0].suppressed, 1);
}

#[test]
fn restored_suppression_follows_the_rule_as_it_is_now() {
    let before = engine_after(
        &event_count("{gte: 2}", "suppress: 30m"),
        &[
            Ev::issued("a1", &t("10:00:00")),
            Ev::issued("a2", &t("10:01:00")),
        ],
    );
    let later = [
        Ev::issued("a3", &t("10:10:00")),
        Ev::issued("a4", &t("10:11:00")),
    ];
    // Still 30m: the finding at 10:11 is suppressed.
    let mut same = engine(&event_count("{gte: 2}", "suppress: 30m"));
    same.restore(before.snapshot()).unwrap();
    assert!(feed(&mut same, &later).is_empty());
    // Now 5m: 10:11 is past 10:01 + 5m, so it is reported.
    let mut shorter = engine(&event_count("{gte: 2}", "suppress: 5m"));
    assert_eq!(
        shorter.restore(before.snapshot()).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(feed(&mut shorter, &later).len(), 1);
}

#[test]
fn one_event_far_ahead_of_the_stream_does_not_make_the_rest_late() {
    // A skewed clock dates one event decades ahead; the burst around it is
    // still found, and the outlier is counted.
    let yaml = event_count("{gte: 3}", "");
    let mut engine = engine(&yaml);
    let findings = feed(
        &mut engine,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("skewed", "2099-01-01T00:00:00Z"),
            Ev::issued("e2", &t("10:01:00")),
            Ev::issued("e3", &t("10:02:00")),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3"]);
    assert_eq!((engine.stats().ahead, engine.stats().late), (1, 0));

    // Nothing follows it: it is the last event, evaluated whole.
    let mut engine = engine_after(&yaml, &[Ev::issued("e1", &t("10:00:00"))]);
    let mut findings = Vec::new();
    let last = Ev::issued("last", "2026-03-20T00:00:00Z").line();
    engine.process(last.as_bytes(), &mut findings).unwrap();
    engine.finish(&mut findings);
    assert_eq!((engine.stats().ahead, engine.stats().late), (0, 0));

    // Unless it is dated far past the wall clock: then it is an outlier,
    // and a run resumed from the saved state still counts what follows.
    let mut engine = engine_after(&yaml, &[Ev::issued("e1", &t("10:00:00"))]);
    let future = Ev::issued("future", "2099-01-01T00:00:00Z").line();
    engine.process(future.as_bytes(), &mut findings).unwrap();
    engine.finish(&mut findings);
    assert_eq!((engine.stats().ahead, engine.stats().late), (1, 0));
    let mut resumed = self::engine(&yaml);
    resumed.restore(engine.snapshot()).unwrap();
    let findings = feed(
        &mut resumed,
        &[
            Ev::issued("e2", &t("10:01:00")),
            Ev::issued("e3", &t("10:02:00")),
        ],
    );
    assert_eq!(resumed.stats().late, 0);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3"]);
}

#[test]
fn a_stream_that_moves_far_ahead_is_followed() {
    // Two days without events, then a burst: the first event after the gap
    // waits for the next, which shows the stream moved on.
    let yaml = event_count("{gte: 3}", "");
    let mut engine = engine(&yaml);
    let findings = feed(
        &mut engine,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("e2", "2026-03-09T10:00:00Z"),
            Ev::issued("e3", "2026-03-09T10:01:00Z"),
            Ev::issued("e4", "2026-03-09T10:02:00Z"),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e2", "e3", "e4"]);
    assert_eq!((engine.stats().ahead, engine.stats().late), (0, 0));
}

#[test]
fn an_event_far_ahead_of_the_clock_is_an_outlier() {
    // A live stream's clock (the wall clock) settles it without waiting.
    let yaml = event_count("{gte: 1}", "");
    let mut engine = engine(&yaml);
    let mut findings = Vec::new();
    let now = Timestamp::parse_rfc3339(&t("10:00:00")).unwrap();
    engine.advance_to(now, &mut findings);
    let skewed = Ev::issued("skewed", "2099-01-01T00:00:00Z").line();
    engine.process(skewed.as_bytes(), &mut findings).unwrap();
    engine.advance_to(now.plus(Span(1_000_000)), &mut findings);
    assert_eq!(engine.stats().ahead, 1);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_live_stream_does_not_run_ahead_of_the_wall_clock() {
    // A delivery dated ten minutes ahead (a fast clock, well within
    // `max_ahead`) must not make the deliveries dated now late: it waits
    // until its time comes.
    let rules = Arc::new(RuleSet::from_yaml("r.yaml", &event_count("{gte: 3}", "")).unwrap());
    let options = |live| Options {
        lateness: Span(60_000_000),
        live,
        ..Options::default()
    };
    let now = Timestamp::now();
    let at = |seconds: i64| now.plus(Span(seconds * 1_000_000)).to_rfc3339();
    let events = [
        Ev::issued("ahead", &at(600)).client("other"),
        Ev::issued("e1", &at(0)),
        Ev::issued("e2", &at(1)),
        Ev::issued("e3", &at(2)),
    ];
    let mut live = Engine::with_options(Arc::clone(&rules), options(true));
    let findings = feed(&mut live, &events);
    assert_eq!(live.stats().late, 0);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3"]);
    // A file replayed is its own clock: there the first event moved it.
    let mut replay = Engine::with_options(rules, options(false));
    feed(&mut replay, &events);
    assert_eq!(replay.stats().late, 3);
}

#[test]
fn a_live_stream_judges_each_delivery_by_the_wall_clock() {
    // Deliveries dated days ahead, back to back: each is an outlier, not
    // only the first; none reaches a correlation window.
    let rules = Arc::new(RuleSet::from_yaml("r.yaml", &event_count("{gte: 3}", "")).unwrap());
    let options = Options {
        live: true,
        ..Options::default()
    };
    let ahead = Timestamp::now().plus(Span(3 * 86_400_000_000)).to_rfc3339();
    let events: Vec<Ev> = (1..=4)
        .map(|n| Ev::issued(&format!("f{n}"), &ahead))
        .collect();
    let mut live = Engine::with_options(rules, options);
    let findings = feed(&mut live, &events);
    assert_eq!(live.stats().ahead, 4);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn the_reorder_buffer_is_bounded_in_bytes() {
    let yaml = event_count("{gte: 3}", "");
    let rules = Arc::new(RuleSet::from_yaml("r.yaml", &yaml).unwrap());
    let options = |max_pending_bytes| Options {
        lateness: Span(3_600_000_000),
        max_pending_bytes,
        ..Options::default()
    };
    let events = burst("e", 0, 3);
    let mut roomy = Engine::with_options(rules.clone(), options(1 << 20));
    let mut tight = Engine::with_options(rules, options(1));
    let mut held = Vec::new();
    for event in &events {
        roomy.process(event.line().as_bytes(), &mut held).unwrap();
    }
    // An hour of lateness holds every event back, unless memory is short:
    // then the oldest are applied at once, and counted.
    assert!(held.is_empty());
    assert_eq!(roomy.stats().forced, 0);
    let mut applied = Vec::new();
    for event in &events {
        tight
            .process(event.line().as_bytes(), &mut applied)
            .unwrap();
    }
    assert_eq!(applied.len(), 1, "{applied:#?}");
    assert_eq!(tight.stats().forced, 3);
}

/// An engine for `yaml` that has applied `events` (and finished).
fn engine_after(yaml: &str, events: &[Ev]) -> Engine {
    let mut engine = engine(yaml);
    feed(&mut engine, events);
    engine
}

#[test]
fn parsed_events_give_the_findings_of_their_lines() {
    let yaml = event_count("{gte: 2}", "");
    let events = [
        Ev::issued("e1", &t("10:00:00")),
        Ev::issued("e2", &t("10:01:00")),
    ];
    let from_lines = run(&yaml, &events);
    let mut engine = engine(&yaml);
    let mut from_values = Vec::new();
    for event in &events {
        assert_eq!(
            engine.process_json(&event.0, &mut from_values),
            Ok(Outcome::Accepted)
        );
    }
    engine.finish(&mut from_values);
    assert_eq!(from_values.len(), 1);
    assert_eq!(from_values, from_lines);
}

#[test]
fn a_value_nested_past_the_limit_is_rejected_not_written_out() {
    // Writing out a value nested this deep would exhaust a thread's stack.
    // Building and dropping one recurses too: the test runs on a thread
    // with room for that, while the engine must not need it.
    let test = || {
        let mut deep = json!(1);
        for _ in 0..200_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut event = Ev::issued("e1", &t("10:00:00")).0;
        event["data"]["extra"] = deep;
        let mut engine = engine(&event_count("{gte: 1}", ""));
        let outcome = engine.process_json(&event, &mut Vec::new());
        assert!(
            matches!(&outcome, Err(Rejection::Json(reason)) if reason.contains("nesting deeper")),
            "{outcome:?}"
        );
        assert_eq!(engine.stats().rejected, 1);
    };
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(test)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn an_event_before_what_was_applied_and_saved_is_late() {
    // e1 and e3 were applied before the state was saved; e2, between them
    // and within the lateness, arrives after the restart. The saved window
    // already holds e3, so e2 cannot be counted as if in order: it is late.
    let yaml = event_count("{gte: 3}", "");
    let mut first = engine(&yaml);
    let before = feed(
        &mut first,
        &[
            Ev::issued("e1", &t("09:00:00")),
            Ev::issued("e3", &t("09:00:40")),
        ],
    );
    assert!(before.is_empty());
    let mut second = engine(&yaml);
    assert_eq!(second.restore(first.snapshot()).ok(), Some(Vec::new()));
    let mut findings = Vec::new();
    let late = Ev::issued("e2", &t("09:00:20")).line();
    assert_eq!(
        second.process(late.as_bytes(), &mut findings),
        Ok(Outcome::Accepted)
    );
    assert_eq!(second.stats().late, 1);
    // An event at the saved stream time or after is in order.
    let after = feed(&mut second, &[Ev::issued("e4", &t("09:00:40"))]);
    assert_eq!(second.stats().late, 1);
    assert_eq!(after.len(), 1);
    assert_eq!(ids(&after[0]), ["e1", "e3", "e4"]);
    assert_eq!(
        window(&after[0]),
        (t("09:00:00").as_str(), t("09:00:40").as_str())
    );
}

#[test]
fn event_count_suppressed_firing_still_resets_the_window() {
    // The window starts again empty when the rule fires, whether or not the
    // finding is suppressed: after the suppressed a3, a4 pair, a5 (past the
    // suppression) needs a complete burst of its own.
    let rules = event_count("{gte: 2}", "suppress: 5m");
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("10:00:00")),
            Ev::issued("a2", &t("10:01:00")), // fires
            Ev::issued("a3", &t("10:02:00")),
            Ev::issued("a4", &t("10:03:00")), // fires, suppressed; window emptied
            Ev::issued("a5", &t("10:07:00")), // alone in its window
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["a1", "a2"]);
}

#[test]
fn event_count_event_without_a_group_by_field_does_not_take_part() {
    let rules = event_count("{gte: 3}", "");
    let mut engine = engine(&rules);
    let findings = feed(
        &mut engine,
        &[
            Ev::issued("e1", &t("10:00:00")),
            Ev::issued("x1", &t("10:00:30")).without("data.issuedToClientId"),
            Ev::issued("e2", &t("10:01:00")),
            Ev::issued("x2", &t("10:01:30")).without("data.issuedToClientId"),
            Ev::issued("x3", &t("10:01:40")).without("data.issuedToClientId"),
        ],
    );
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(engine.stats().rules[0].groups, 1);
    let findings = feed(&mut engine, &[Ev::issued("e3", &t("10:02:00"))]);
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3"]);
}

#[test]
fn event_count_groups_are_isolated_by_tenant_and_client() {
    let rules = event_count("{gte: 3}", "");
    let mut engine = engine(&rules);
    let findings = feed(
        &mut engine,
        &[
            Ev::issued("a1", &t("10:00:00")),
            Ev::issued("b1", &t("10:00:10")).tenant("t2"),
            Ev::issued("c1", &t("10:00:20")).client("c2"),
            Ev::issued("a2", &t("10:01:00")),
            Ev::issued("b2", &t("10:01:10")).tenant("t2"),
            Ev::issued("c2", &t("10:01:20")).client("c2"),
        ],
    );
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(engine.stats().rules[0].groups, 3);
    let findings = feed(
        &mut engine,
        &[Ev::issued("b3", &t("10:02:00")).tenant("t2")],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(group(&findings[0]), [("data.issuedToClientId", "c1")]);
    assert_eq!(findings[0].tenantid, "t2");
    assert_eq!(ids(&findings[0]), ["b1", "b2", "b3"]);
}

#[test]
fn long_group_values_are_shortened_but_kept_apart() {
    // Two clients whose 2,000-byte ids differ only in their last byte.
    let rules = event_count("{gte: 2}", "");
    let client = |last: char| format!("{}{last}", "x".repeat(2000));
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("10:00:00")).client(&client('a')),
            Ev::issued("b1", &t("10:00:10")).client(&client('b')),
            Ev::issued("a2", &t("10:00:20")).client(&client('a')),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["a1", "a2"]);
    let shown = group(&findings[0])[0].1;
    assert!(shown.len() <= 263 && shown.starts_with("xxxx") && shown.contains('…'));
}

#[test]
fn event_count_without_group_by_has_one_group() {
    let rules = r#"
id: all-tokens
title: Any three tokens
severity: low
match:
  issued:
    data.grantType|exists: true
correlation:
  type: event_count
  timespan: 1m
  condition: {gte: 3}
"#;
    let findings = run(
        rules,
        &[
            Ev::issued("a", &t("10:00:00")),
            Ev::issued("b", &t("10:00:10")).tenant("t2"),
            Ev::issued("c", &t("10:00:20")).client("c9"),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert!(findings[0].group.is_empty());
    assert_eq!(
        findings[0].message, "Any three tokens",
        "the title without output"
    );
}

#[test]
fn event_count_counts_only_events_the_rule_matches() {
    let rules = r#"
id: impersonation-burst
title: Impersonation burst
severity: high
match:
  impersonation:
    data.grantType: urn:qlik:oauth:user-impersonation
correlation:
  type: event_count
  group-by: [data.issuedToClientId]
  timespan: 10m
  condition: {gte: 2}
"#;
    let imp = |id: &str, time: &str| {
        Ev::issued(id, time).set("data.grantType", "urn:qlik:oauth:user-impersonation")
    };
    let findings = run(
        rules,
        &[
            imp("i1", &t("10:00:00")),
            Ev::issued("n1", &t("10:01:00")),
            Ev::revoked("r1", &t("10:01:30"), "u1"),
            imp("i2", &t("10:02:00")),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["i1", "i2"]);
}

#[test]
fn event_count_evidence_is_capped_at_twenty() {
    let findings = run(&event_count("{gte: 25}", ""), &burst("e", 0, 25));
    assert_eq!(findings.len(), 0, "25 one-minute steps do not fit 10m");
    let events: Vec<Ev> = (0..25)
        .map(|i| Ev::issued(&format!("e{i}"), &t(&format!("10:00:{i:02}"))))
        .collect();
    let findings = run(&event_count("{gte: 25}", ""), &events);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 25);
    assert_eq!(findings[0].events.len(), 20);
    assert_eq!(findings[0].events[0], "e0");
    assert_eq!(findings[0].events[18], "e18");
    assert_eq!(findings[0].events[19], "e24", "the completing event");
}

// ---------------------------------------------------------------------------
// value_count

fn value_count(condition: &str, extra: &str) -> String {
    format!(
        r#"
id: fanout
title: One client, many users
severity: high
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: value_count
  group-by: [tenantid, data.issuedToClientId]
  timespan: 10m
  condition: {condition}
{extra}
output: "client {{{{data.issuedToClientId}}}} served {{{{count}}}} users in {{{{timespan}}}}: {{{{values}}}}"
"#
    )
}

#[test]
fn value_count_evidence_keeps_the_completing_event() {
    let events: Vec<Ev> = (0..25)
        .map(|i| Ev::issued(&format!("e{i}"), &t(&format!("10:00:{i:02}"))).owner(&format!("u{i}")))
        .collect();
    let findings = run(
        &value_count("{field: data.resourceOwner, gte: 25}", ""),
        &events,
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 25);
    assert_eq!(findings[0].events.len(), 20);
    assert_eq!(findings[0].events[18], "e18");
    assert_eq!(findings[0].events[19], "e24", "the completing event");
}

#[test]
fn value_count_events_and_values_at_one_time_keep_arrival_order() {
    // 25 users at one instant, arriving in reverse alphabetical order.
    let same = t("10:00:00");
    let events: Vec<Ev> = (0..25)
        .map(|i| Ev::issued(&format!("e{i}"), &same).owner(&format!("u{:02}", 25 - i)))
        .collect();
    let findings = run(
        &value_count("{field: data.resourceOwner, gte: 25}", ""),
        &events,
    );
    assert_eq!(findings.len(), 1);
    let expected: Vec<String> = (0..19)
        .map(|i| format!("e{i}"))
        .chain(["e24".into()])
        .collect();
    assert_eq!(ids(&findings[0]), expected);
    let values: Vec<String> = (0..19)
        .map(|i| format!("u{:02}", 25 - i))
        .chain(["u01".into()])
        .collect();
    assert_eq!(findings[0].values.as_deref(), Some(&values[..]));
}

fn users(spec: &[(&str, &str, &str)]) -> Vec<Ev> {
    spec.iter()
        .map(|(id, time, owner)| Ev::issued(id, time).owner(owner))
        .collect()
}

#[test]
fn value_count_fires_at_the_threshold_of_distinct_values() {
    let rules = value_count("{field: data.resourceOwner, gte: 3}", "");
    let findings = run(
        &rules,
        &users(&[
            ("e1", &t("10:00:00"), "u1"),
            ("e2", &t("10:01:00"), "u2"),
            ("e3", &t("10:02:00"), "u2"),
            ("e4", &t("10:03:00"), "u3"),
        ]),
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.count, 3);
    assert_eq!(
        f.values.as_deref(),
        Some(&["u1".to_owned(), "u2".to_owned(), "u3".to_owned()][..])
    );
    assert_eq!(ids(f), ["e1", "e3", "e4"], "the latest event of each value");
    assert_eq!(window(f), ("2026-03-07T10:00:00Z", "2026-03-07T10:03:00Z"));
    assert_eq!(f.time.as_deref(), Some("2026-03-07T10:03:00Z"));
    assert_eq!(group(f), [("data.issuedToClientId", "c1")]);
    assert_eq!(f.message, "client c1 served 3 users in 10m: u1, u2, u3");
    let json: Value = serde_json::from_str(&f.to_json()).unwrap();
    assert_eq!(json["values"], json!(["u1", "u2", "u3"]));

    // Repeats of a value do not count: four events, two users.
    let quiet = run(
        &rules,
        &users(&[
            ("e1", &t("10:00:00"), "u1"),
            ("e2", &t("10:01:00"), "u2"),
            ("e3", &t("10:02:00"), "u1"),
            ("e4", &t("10:03:00"), "u2"),
        ]),
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
}

#[test]
fn value_count_gt_eq_and_ranges() {
    let spec = |n: usize| -> Vec<Ev> {
        (0..n)
            .map(|i| {
                Ev::issued(&format!("e{i}"), &at_minute(600 + i as i64)).owner(&format!("u{i}"))
            })
            .collect()
    };
    let gt = value_count("{field: data.resourceOwner, gt: 3}", "");
    assert!(run(&gt, &spec(3)).is_empty());
    assert_eq!(run(&gt, &spec(4))[0].count, 4);
    let eq = value_count("{field: data.resourceOwner, eq: 2}", "");
    assert!(run(&eq, &spec(1)).is_empty());
    assert_eq!(run(&eq, &spec(2))[0].count, 2);
    let range = value_count("{field: data.resourceOwner, gt: 2, lte: 5}", "");
    assert!(run(&range, &spec(2)).is_empty());
    let findings = run(&range, &spec(3));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 3);
}

#[test]
fn value_count_window_is_inclusive_and_uses_each_values_latest_time() {
    let rules = value_count("{field: data.resourceOwner, gte: 3}", "");
    let findings = run(
        &rules,
        &users(&[
            ("e1", &t("10:00:00"), "u1"),
            ("e2", &t("10:05:00"), "u2"),
            ("e3", &t("10:10:00"), "u3"),
        ]),
    );
    assert_eq!(findings.len(), 1, "u1 exactly 10m before counts");
    let quiet = run(
        &rules,
        &users(&[
            ("e1", &t("10:00:00"), "u1"),
            ("e2", &t("10:05:00"), "u2"),
            ("e3", &t("10:10:00.000001"), "u3"),
        ]),
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
    // u1 seen again at 10:04 keeps it inside the window ending at 10:12.
    let findings = run(
        &rules,
        &users(&[
            ("e1", &t("10:00:00"), "u1"),
            ("e2", &t("10:04:00"), "u1"),
            ("e3", &t("10:05:00"), "u2"),
            ("e4", &t("10:12:00"), "u3"),
        ]),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["e2", "e3", "e4"]);
    assert_eq!(window(&findings[0]).0, "2026-03-07T10:04:00Z");
}

#[test]
fn value_count_straddles_midnight_and_counts_identical_timestamps() {
    let rules = value_count("{field: data.resourceOwner, gte: 3}", "");
    let findings = run(
        &rules,
        &users(&[
            ("e1", &t("23:55:00"), "u1"),
            ("e2", &t8("00:00:00"), "u2"),
            ("e3", &t8("00:04:59"), "u3"),
        ]),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(
        window(&findings[0]),
        ("2026-03-07T23:55:00Z", "2026-03-08T00:04:59Z")
    );
    let same = t("10:00:00");
    let findings = run(
        &rules,
        &users(&[("a", &same, "u1"), ("b", &same, "u2"), ("c", &same, "u3")]),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["a", "b", "c"]);
}

#[test]
fn value_count_resets_after_firing_and_respects_suppress() {
    let rules = value_count("{field: data.resourceOwner, gte: 2}", "suppress: 1h");
    let mut engine = engine(&rules);
    let findings = feed(
        &mut engine,
        &users(&[
            ("e1", &t("10:00:00"), "u1"),
            ("e2", &t("10:01:00"), "u2"), // fires
            ("e3", &t("10:02:00"), "u2"), // window restarted: one value
            ("x1", &t("10:02:30"), "u7"),
        ]),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].values.as_ref().unwrap(), &["u1", "u2"]);
    // e3 (u2) and x1 (u7) completed a second window: suppressed for c1.
    assert_eq!(engine.stats().rules[0].suppressed, 1);
    // Another client is not suppressed.
    let findings = feed(
        &mut engine,
        &[
            Ev::issued("o1", &t("10:03:00")).client("c2").owner("u1"),
            Ev::issued("o2", &t("10:04:00")).client("c2").owner("u2"),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(group(&findings[0])[0], ("data.issuedToClientId", "c2"));
}

#[test]
fn value_count_event_without_the_field_or_group_does_not_take_part() {
    let rules = value_count("{field: data.resourceOwner, gte: 2}", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")).owner("u1"),
            Ev::issued("x1", &t("10:00:30")).without("data.resourceOwner"),
            Ev::issued("x2", &t("10:00:40"))
                .owner("u9")
                .without("data.issuedToClientId"),
        ],
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn value_count_counts_each_element_of_an_array_field() {
    let rules = value_count("{field: data.scopes, gte: 3}", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("e1", &t("10:00:00")).set("data.scopes", json!(["a", "b"])),
            Ev::issued("e2", &t("10:00:01")).set("data.scopes", json!(["b", "c"])),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 3);
    assert_eq!(findings[0].values.as_ref().unwrap(), &["a", "b", "c"]);
}

#[test]
fn value_count_groups_are_isolated() {
    let rules = value_count("{field: data.resourceOwner, gte: 2}", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("a", &t("10:00:00")).owner("u1"),
            Ev::issued("b", &t("10:00:01")).owner("u2").tenant("t2"),
            Ev::issued("c", &t("10:00:02")).owner("u3").client("c2"),
        ],
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

// ---------------------------------------------------------------------------
// temporal_ordered and temporal

fn sequence(kind: &str, timespan: &str, extra: &str) -> String {
    format!(
        r#"
id: revoke-then-reissue
title: Token reissued after revocation
severity: medium
match:
  revoke:
    type: [com.qlik.oauth-token.revoked, com.qlik.core.oauth-token.revoked]
  reissue:
    type: [com.qlik.oauth-token.issued, com.qlik.core.oauth-token.issued]
correlation:
  type: {kind}
  steps: [revoke, reissue]
  aliases:
    user:
      revoke: data.revokedContext.userId
      reissue: data.resourceOwner
  group-by: [tenantid, user]
  timespan: {timespan}
{extra}
output: "{{{{count}}}} steps for {{{{data.resourceOwner}}}} ({{{{user}}}}) within {{{{timespan}}}}"
"#
    )
}

#[test]
fn ordered_alias_joins_a_revoke_with_a_later_issue() {
    let rules = sequence("temporal_ordered", "1h", "");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("10:30:00")).owner("u1"),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.count, 2);
    assert_eq!(ids(f), ["r1", "i1"]);
    assert_eq!(group(f), [("user", "u1")]);
    assert_eq!(window(f), ("2026-03-07T10:00:00Z", "2026-03-07T10:30:00Z"));
    assert_eq!(f.time.as_deref(), Some("2026-03-07T10:30:00Z"));
    // `user` is a group-by alias: its value in the group.
    assert_eq!(f.message, "2 steps for u1 (u1) within 1h");
}

#[test]
fn an_alias_named_tenantid_stays_in_the_group() {
    let rules = sequence("temporal_ordered", "1h", "")
        .replace("    user:\n", "    tenantid:\n")
        .replace("group-by: [tenantid, user]", "group-by: [tenantid]");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("10:30:00")).owner("u1"),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(group(&findings[0]), [("tenantid", "u1")]);
    assert_eq!(findings[0].tenantid, "t1");
}

#[test]
fn ordered_wrong_order_or_other_user_stays_quiet() {
    let rules = sequence("temporal_ordered", "1h", "");
    let quiet = run(
        &rules,
        &[
            Ev::issued("i1", &t("10:00:00")).owner("u1"),
            Ev::revoked("r1", &t("10:30:00"), "u1"),
            Ev::revoked("r2", &t("10:31:00"), "u2"),
            Ev::issued("i2", &t("10:32:00")).owner("u3"),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
    // The same events in another tenant do not join.
    let quiet = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("10:01:00")).owner("u1").tenant("t2"),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
}

#[test]
fn ordered_window_is_inclusive() {
    let rules = sequence("temporal_ordered", "1h", "");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("11:00:00")).owner("u1"),
        ],
    );
    assert_eq!(findings.len(), 1);
    let quiet = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("11:00:00.000001")).owner("u1"),
        ],
    );
    assert!(quiet.is_empty());
    let quiet = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("11:00:01")).owner("u1"),
        ],
    );
    assert!(quiet.is_empty());
}

#[test]
fn ordered_straddles_midnight_and_a_later_revoke_restarts_the_sequence() {
    let rules = sequence("temporal_ordered", "10m", "");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r0", &t("23:40:00"), "u1"),
            Ev::revoked("r1", &t("23:55:00"), "u1"),
            Ev::issued("i1", &t8("00:04:00")).owner("u1"),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["r1", "i1"]);
    assert_eq!(
        window(&findings[0]),
        ("2026-03-07T23:55:00Z", "2026-03-08T00:04:00Z")
    );
}

#[test]
fn ordered_identical_timestamps_follow_arrival_order() {
    let rules = sequence("temporal_ordered", "10m", "");
    let same = t("10:00:00");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r1", &same, "u1"),
            Ev::issued("i1", &same).owner("u1"),
        ],
    );
    assert_eq!(findings.len(), 1, "a step at the same time comes after");
    let quiet = run(
        &rules,
        &[
            Ev::issued("i1", &same).owner("u1"),
            Ev::revoked("r1", &same, "u1"),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
}

#[test]
fn ordered_resets_after_firing() {
    let rules = sequence("temporal_ordered", "1h", "");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("10:01:00")).owner("u1"),
            // The revoke was used up: a second issue needs a new revoke.
            Ev::issued("i2", &t("10:02:00")).owner("u1"),
            Ev::revoked("r2", &t("10:03:00"), "u1"),
            Ev::issued("i3", &t("10:04:00")).owner("u1"),
        ],
    );
    let got: Vec<Vec<&str>> = findings.iter().map(ids).collect();
    assert_eq!(got, [vec!["r1", "i1"], vec!["r2", "i3"]]);
}

#[test]
fn ordered_suppress_is_per_group() {
    let rules = sequence("temporal_ordered", "1h", "suppress: 1h");
    let findings = run(
        &rules,
        &[
            Ev::revoked("r1", &t("10:00:00"), "u1"),
            Ev::issued("i1", &t("10:01:00")).owner("u1"),
            Ev::revoked("r2", &t("10:02:00"), "u1"),
            Ev::issued("i2", &t("10:03:00")).owner("u1"), // suppressed
            Ev::revoked("r3", &t("10:04:00"), "u2"),
            Ev::issued("i3", &t("10:05:00")).owner("u2"),
        ],
    );
    let got: Vec<Vec<&str>> = findings.iter().map(ids).collect();
    assert_eq!(got, [vec!["r1", "i1"], vec!["r3", "i3"]]);
}

#[test]
fn ordered_event_missing_its_alias_field_does_not_take_part() {
    let rules = sequence("temporal_ordered", "1h", "");
    let findings = run(
        &rules,
        &[
            // A revocation by client id only: no userId, so no user group.
            Ev::revoked("r1", &t("10:00:00"), "u1")
                .set("data.revokedContext", json!({"clientId": "c1"})),
            Ev::issued("i1", &t("10:01:00")).owner("u1"),
            Ev::issued("i2", &t("10:01:30")).without("data.resourceOwner"),
        ],
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn ordered_three_steps_need_the_middle_one() {
    let rules = r#"
id: three
title: a then b then c
severity: low
match:
  a:
    data.grantType: a
  b:
    data.grantType: b
  c:
    data.grantType: c
correlation:
  type: temporal_ordered
  steps: [a, b, c]
  group-by: [data.issuedToClientId]
  timespan: 10m
"#;
    let g = |id: &str, time: &str, grant: &str| Ev::issued(id, time).set("data.grantType", grant);
    let quiet = run(
        rules,
        &[
            g("1", &t("10:00:00"), "a"),
            g("2", &t("10:01:00"), "c"),
            g("3", &t("10:02:00"), "b"),
        ],
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
    let findings = run(
        rules,
        &[
            g("1", &t("10:00:00"), "a"),
            g("2", &t("10:01:00"), "b"),
            g("3", &t("10:02:00"), "a"),
            g("4", &t("10:03:00"), "c"),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 3);
    assert_eq!(ids(&findings[0]), ["1", "2", "4"]);
}

/// Two steps that one event can both fit: `a` (a grant type) and `b` (an
/// owner).
fn overlapping_steps(kind: &str) -> String {
    format!(
        r#"
id: overlapping
title: a and b
severity: low
match:
  a:
    data.grantType: a
  b:
    data.resourceOwner: u1
correlation:
  type: {kind}
  steps: [a, b]
  group-by: [data.issuedToClientId]
  timespan: 10m
"#
    )
}

#[test]
fn temporal_gives_an_event_fitting_two_steps_the_one_its_group_lacks() {
    let a = |id: &str, time: &str, owner: &str| {
        Ev::issued(id, time).set("data.grantType", "a").owner(owner)
    };
    // e1 fits only `a`; e2 fits both, and stands for `b`, which is lacking.
    let findings = run(
        &overlapping_steps("temporal"),
        &[a("e1", &t("10:00:00"), "u2"), a("e2", &t("10:01:00"), "u1")],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e1", "e2"]);
    // Alone, an event fitting both steps is still one event: no finding.
    let alone = run(
        &overlapping_steps("temporal"),
        &[a("e1", &t("10:00:00"), "u1")],
    );
    assert!(alone.is_empty(), "{alone:#?}");
}

#[test]
fn temporal_steps_keyed_by_aliases_stand_in_for_one_another_within_a_group() {
    let rules = r#"
id: aliased
title: a and b by user
severity: low
match:
  a:
    data.grantType: a
  b:
    data.description: b
correlation:
  type: temporal
  steps: [a, b]
  group-by: [user]
  aliases:
    user: {a: data.resourceOwner, b: data.createdBy}
  timespan: 10m
"#;
    let both = |id: &str, time: &str, owner: &str, creator: &str| {
        Ev::issued(id, time)
            .set("data.grantType", "a")
            .set("data.description", "b")
            .owner(owner)
            .set("data.createdBy", creator)
    };
    // Both steps key the events to user u1: e2 stands for `b`.
    let findings = run(
        rules,
        &[
            both("e1", &t("10:00:00"), "u1", "u1"),
            both("e2", &t("10:01:00"), "u1", "u1"),
        ],
    );
    let got: Vec<Vec<&str>> = findings.iter().map(ids).collect();
    assert_eq!(got, [vec!["e1", "e2"]]);
    // Keyed to two users, an event takes part in both groups, once each.
    let findings = run(
        rules,
        &[
            both("e1", &t("10:00:00"), "u1", "u2"),
            both("e2", &t("10:01:00"), "u2", "u1"),
        ],
    );
    let mut got: Vec<(Vec<&str>, &str)> = findings
        .iter()
        .map(|f| (ids(f), f.group[0].1.as_deref().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, [(vec!["e1", "e2"], "u1"), (vec!["e1", "e2"], "u2")]);
}

#[test]
fn an_event_that_completes_a_sequence_does_not_start_the_next() {
    let a = |id: &str, time: &str| Ev::issued(id, time).set("data.grantType", "a").owner("u1");
    let events = [
        a("e1", &t("10:00:00")),
        a("e2", &t("10:01:00")),
        a("e3", &t("10:02:00")),
    ];
    for kind in ["temporal_ordered", "temporal"] {
        let findings = run(&overlapping_steps(kind), &events);
        let got: Vec<Vec<&str>> = findings.iter().map(ids).collect();
        assert_eq!(got, [vec!["e1", "e2"]], "{kind}");
    }
}

#[test]
fn saved_groups_that_do_not_fit_their_rule_are_refused() {
    let rules = sequence("temporal_ordered", "1h", "");
    let first = engine_after(&rules, &[Ev::revoked("r1", &t("10:00:00"), "u1")]);
    let mut saved = serde_json::to_value(first.snapshot()).unwrap();
    let partial = &mut saved["rules"][0]["state"]["groups"][0][1]["state"]["Ordered"];
    assert_eq!(partial.as_array().map(Vec::len), Some(2), "{saved:#}");
    *partial = json!([null]);
    let mut second = engine(&rules);
    let error = second
        .restore(serde_json::from_value(saved).unwrap())
        .unwrap_err();
    assert!(error.to_string().contains("do not fit"), "{error}");
}

#[test]
fn temporal_fires_in_any_order() {
    let rules = sequence("temporal", "1h", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("i1", &t("10:00:00")).owner("u1"),
            Ev::revoked("r1", &t("10:20:00"), "u1"),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.count, 2);
    assert_eq!(ids(f), ["i1", "r1"], "in time order");
    assert_eq!(group(f), [("user", "u1")]);
    assert_eq!(window(f), ("2026-03-07T10:00:00Z", "2026-03-07T10:20:00Z"));
    assert_eq!(
        run(
            &rules,
            &[
                Ev::revoked("r1", &t("10:00:00"), "u1"),
                Ev::issued("i1", &t("10:20:00")).owner("u1"),
            ],
        )
        .len(),
        1
    );
}

#[test]
fn temporal_window_is_inclusive_and_straddles_midnight() {
    let rules = sequence("temporal", "10m", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("i1", &t("23:55:00")).owner("u1"),
            Ev::revoked("r1", &t8("00:05:00"), "u1"),
        ],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(
        window(&findings[0]),
        ("2026-03-07T23:55:00Z", "2026-03-08T00:05:00Z")
    );
    let quiet = run(
        &rules,
        &[
            Ev::issued("i1", &t("23:55:00")).owner("u1"),
            Ev::revoked("r1", &t8("00:05:00.000001"), "u1"),
        ],
    );
    assert!(quiet.is_empty());
}

#[test]
fn temporal_identical_timestamps_fire_either_way() {
    let rules = sequence("temporal", "10m", "");
    let same = t("10:00:00");
    for events in [
        [
            Ev::issued("i1", &same).owner("u1"),
            Ev::revoked("r1", &same, "u1"),
        ],
        [
            Ev::revoked("r1", &same, "u1"),
            Ev::issued("i1", &same).owner("u1"),
        ],
    ] {
        assert_eq!(run(&rules, &events).len(), 1);
    }
}

#[test]
fn temporal_resets_after_firing_and_keeps_groups_apart() {
    let rules = sequence("temporal", "1h", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("i1", &t("10:00:00")).owner("u1"),
            Ev::revoked("r1", &t("10:01:00"), "u1"), // fires
            Ev::issued("i2", &t("10:02:00")).owner("u1"), // needs a new revoke
            Ev::revoked("x1", &t("10:03:00"), "u2"), // another user
            Ev::issued("i3", &t("10:04:00")).owner("u1"),
            Ev::revoked("r2", &t("10:05:00"), "u1"), // fires with i3
        ],
    );
    let got: Vec<Vec<&str>> = findings.iter().map(ids).collect();
    assert_eq!(got, [vec!["i1", "r1"], vec!["i3", "r2"]]);
}

// ---------------------------------------------------------------------------
// new_value

fn new_value(field: &str, extra: &str) -> String {
    format!(
        r#"
id: new-origin
title: Token from a new origin
severity: medium
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: new_value
  group-by: [tenantid, data.resourceOwner]
  field: {field}
  learning: 1h
  history: 1d
{extra}
output: "{{{{data.resourceOwner}}}} from new {{{{value}}}} ({{{{network}}}})"
"#
    )
}

#[test]
fn new_value_learns_per_group_from_its_own_first_event() {
    let rules = new_value("originip", "");
    let mut engine = engine(&rules);
    let findings = feed(
        &mut engine,
        &[
            // u1 learns from 10:00 to 11:00.
            Ev::issued("a1", &t("10:00:00")).ip("10.0.0.1"),
            Ev::issued("a2", &t("10:30:00")).ip("10.0.0.2"),
            // u2 appears at 10:45: a brand-new group is learning, not anomalous.
            Ev::issued("b1", &t("10:45:00")).owner("u2").ip("10.9.9.9"),
            // One microsecond before the end of u1's learning.
            Ev::issued("a3", &t("10:59:59.999999")).ip("10.0.0.3"),
            // 11:00 exactly: u1 has learned; a known value stays quiet...
            Ev::issued("a4", &t("11:00:00")).ip("10.0.0.2"),
            // ...and a new one fires.
            Ev::issued("a5", &t("11:00:00")).ip("10.0.0.4"),
            // u2 is still learning at 11:30 (its own first event was 10:45).
            Ev::issued("b2", &t("11:30:00")).owner("u2").ip("10.9.9.8"),
            // u2 learned at 11:45.
            Ev::issued("b3", &t("11:45:00")).owner("u2").ip("10.9.9.7"),
        ],
    );
    let got: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.events[0].as_str(), f.value.as_deref().unwrap()))
        .collect();
    assert_eq!(got, [("a5", "10.0.0.4"), ("b3", "10.9.9.7")]);
    let f = &findings[0];
    assert_eq!(f.count, 1);
    assert_eq!(f.network, None);
    assert_eq!(group(f), [("data.resourceOwner", "u1")]);
    assert_eq!(window(f), ("2026-03-07T11:00:00Z", "2026-03-07T11:00:00Z"));
    assert_eq!(f.time.as_deref(), Some("2026-03-07T11:00:00Z"));
    assert_eq!(f.message, "u1 from new 10.0.0.4 ()");
    let json: Value = serde_json::from_str(&f.to_json()).unwrap();
    assert_eq!(json["value"], "10.0.0.4");
    assert!(json.get("network").is_none());
    // A value is new only once.
    let findings = feed(
        &mut engine,
        &[Ev::issued("a6", &t("11:10:00")).ip("10.0.0.4")],
    );
    assert!(findings.is_empty());
}

#[test]
fn new_value_group_that_only_ever_sees_one_value_never_fires() {
    let rules = new_value("originip", "");
    let events: Vec<Ev> = (0..48)
        .map(|i| Ev::issued(&format!("e{i}"), &at_minute(i * 30)))
        .collect();
    assert!(run(&rules, &events).is_empty());
}

#[test]
fn new_value_history_expiry_makes_an_old_value_new_again() {
    let rules = new_value("originip", "");
    let base = [
        Ev::issued("a1", &t("00:00:00")).ip("10.0.0.1"),
        Ev::issued("a2", &t("00:30:00")).ip("10.0.0.2"),
    ];
    // 10.0.0.1 last seen at 00:00; exactly 1d later it is still known.
    let mut events = base.to_vec();
    events.push(Ev::issued("a3", &t8("00:00:00")).ip("10.0.0.1"));
    assert!(run(&rules, &events).is_empty());
    // One microsecond past the history it is new again.
    let mut events = base.to_vec();
    events.push(Ev::issued("a3", &t8("00:00:00.000001")).ip("10.0.0.1"));
    let findings = run(&rules, &events);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].value.as_deref(), Some("10.0.0.1"));
    // Seeing a value again renews it: 23:00 keeps 10.0.0.1 known on the 8th.
    let mut events = base.to_vec();
    events.push(Ev::issued("a3", &t("23:00:00")).ip("10.0.0.1"));
    events.push(Ev::issued("a4", &t8("12:00:00")).ip("10.0.0.1"));
    assert!(run(&rules, &events).is_empty());
}

#[test]
fn new_value_prefix_compares_by_network_and_reports_it() {
    let rules = new_value("originip", "  prefix: 24");
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("10:00:00")).ip("192.0.2.10"),
            Ev::issued("a2", &t("12:00:00")).ip("192.0.2.200"),
            Ev::issued("a3", &t("12:01:00")).ip("192.0.3.1"),
            Ev::issued("a4", &t("12:02:00")).ip("192.0.3.99"),
            Ev::issued("a5", &t("12:03:00")).ip("2001:db8:1:2::1"),
            Ev::issued("a6", &t("12:04:00")).ip("2001:db8:1:2:ffff::9"),
            Ev::issued("a7", &t("12:05:00")).ip("2001:db8:1:3::1"),
        ],
    );
    let got: Vec<(&str, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f.events[0].as_str(),
                f.value.as_deref().unwrap(),
                f.network.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a3", "192.0.3.1", "192.0.3.0/24"),
            ("a5", "2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("a7", "2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ]
    );
    assert_eq!(findings[0].message, "u1 from new 192.0.3.1 (192.0.3.0/24)");
    let json: Value = serde_json::from_str(&findings[0].to_json()).unwrap();
    assert_eq!(json["value"], "192.0.3.1");
    assert_eq!(json["network"], "192.0.3.0/24");
}

#[test]
fn new_value_with_an_ipv6_prefix_alone_compares_ipv4_addresses_whole() {
    let rules = new_value("originip", "  prefix-v6: 48");
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("10:00:00")).ip("10.0.0.2"),
            Ev::issued("a2", &t("10:00:01")).ip("2001:db8:1:2::1"),
            // The same address in its IPv4-mapped spelling is not new.
            Ev::issued("a3", &t("12:00:00")).ip("::ffff:10.0.0.2"),
            Ev::issued("a4", &t("12:01:00")).ip("2001:db8:1:ffff::9"),
            Ev::issued("a5", &t("12:02:00")).ip("10.0.0.3"),
        ],
    );
    let got: Vec<(&str, Option<&str>)> = findings
        .iter()
        .map(|f| (f.events[0].as_str(), f.network.as_deref()))
        .collect();
    assert_eq!(got, [("a5", Some("10.0.0.3/32"))]);
}

#[test]
fn new_value_of_a_list_of_fields_tracks_the_combination() {
    let rules = new_value("[originip, data.deviceType]", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("10:00:00")),
            Ev::issued("a2", &t("10:10:00")).set("data.deviceType", "Laptop"),
            // Both parts known, but not together: a new combination.
            Ev::issued("a3", &t("12:00:00"))
                .ip("10.0.0.2")
                .set("data.deviceType", "Laptop"),
            Ev::issued("a4", &t("12:01:00")).set("data.deviceType", "Laptop"),
            Ev::issued("a5", &t("12:02:00"))
                .ip("10.0.0.2")
                .set("data.deviceType", "Pixel"),
        ],
    );
    let got: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.events[0].as_str(), f.value.as_deref().unwrap()))
        .collect();
    assert_eq!(got, [("a3", "10.0.0.2|Laptop"), ("a5", "10.0.0.2|Pixel")]);
    // An event missing one of the fields does not take part.
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("10:00:00")),
            Ev::issued("a2", &t("12:00:00"))
                .ip("10.0.0.9")
                .without("data.deviceType"),
        ],
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn new_value_groups_are_isolated_and_need_their_group_by_fields() {
    let rules = new_value("originip", "");
    let mut engine = engine(&rules);
    let findings = feed(
        &mut engine,
        &[
            Ev::issued("a1", &t("08:00:00")).ip("10.0.0.1"),
            Ev::issued("b1", &t("08:00:00")).tenant("t2").ip("10.0.0.2"),
            // 10.0.0.2 is known for t2/u1 but new for t1/u1.
            Ev::issued("a2", &t("10:00:00")).ip("10.0.0.2"),
            Ev::issued("b2", &t("10:00:00")).tenant("t2").ip("10.0.0.2"),
            // No owner: no group, no part in the correlation.
            Ev::issued("x1", &t("10:00:00"))
                .without("data.resourceOwner")
                .ip("10.0.0.3"),
        ],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].events, ["a2"]);
    assert_eq!(engine.stats().rules[0].groups, 2);
}

#[test]
fn new_value_group_quiet_past_its_history_stays_learned_however_many_groups_there_are() {
    // u1 is seen on the 7th, then not for over a day (history 1d, learning
    // 1h). Its values are forgotten but not its first event: whether or not
    // sweeps ran meanwhile (they run as the number of groups grows), u1 is
    // no longer learning, and every address it comes back from is new.
    let rules = new_value("originip", "");
    let mut quiet_stream = vec![Ev::issued("a1", &t("10:00:00")).ip("10.0.0.1")];
    let mut busy_stream = quiet_stream.clone();
    // 1,500 other users appear on the 8th, after u1's state expired.
    busy_stream.extend(
        (0..1500).map(|i| Ev::issued(&format!("o{i}"), &t8("11:00:00")).owner(&format!("x{i}"))),
    );
    for stream in [&mut quiet_stream, &mut busy_stream] {
        stream.push(Ev::issued("a2", &t8("12:00:00")).ip("10.0.0.2"));
        stream.push(Ev::issued("a3", &t8("12:30:00")).ip("10.0.0.3"));
        stream.push(Ev::issued("a4", &t8("13:00:00")).ip("10.0.0.4"));
    }
    for stream in [&quiet_stream, &busy_stream] {
        let got: Vec<String> = run(&rules, stream)
            .iter()
            .map(|f| f.events[0].clone())
            .collect();
        assert_eq!(got, ["a2", "a3", "a4"], "{} events", stream.len());
    }
}

#[test]
fn spike_group_quiet_past_its_baseline_fires_on_a_burst_however_many_groups_there_are() {
    // 1h buckets, 6h baseline: a client quiet for more than 7h has a
    // baseline of zeros, and a burst of 5 fires, however many other groups
    // came and went.
    let rules = spike("{zscore: 3, min: 5}");
    let mut quiet_stream = hourly("e", &[1]);
    let mut busy_stream = quiet_stream.clone();
    busy_stream.extend(
        (0..1500).map(|i| Ev::issued(&format!("o{i}"), &at_minute(500)).client(&format!("x{i}"))),
    );
    for stream in [&mut quiet_stream, &mut busy_stream] {
        stream.extend((0..10).map(|k| Ev::issued(&format!("b{k}"), &at_minute(600 + k))));
    }
    for stream in [&quiet_stream, &busy_stream] {
        let findings = run(&rules, stream);
        let fired: Vec<&str> = findings.iter().map(|f| f.events[0].as_str()).collect();
        assert_eq!(fired, ["b4"], "{} events", stream.len());
        let json = findings[0].to_json();
        assert!(json.contains(r#""mean":0.0,"stddev":0.0"#), "{json}");
    }
}

#[test]
fn new_value_suppress_silences_the_same_group_only() {
    let rules = new_value("originip", "suppress: 1h");
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("08:00:00")),
            Ev::issued("b1", &t("08:00:00")).owner("u2"),
            Ev::issued("a2", &t("10:00:00")).ip("10.0.0.2"),
            Ev::issued("a3", &t("10:10:00")).ip("10.0.0.3"), // suppressed
            Ev::issued("b2", &t("10:20:00")).owner("u2").ip("10.0.0.3"),
            Ev::issued("a4", &t("11:00:00")).ip("10.0.0.4"), // 1h after a2
        ],
    );
    let got: Vec<&str> = findings.iter().map(|f| f.events[0].as_str()).collect();
    assert_eq!(got, ["a2", "b2", "a4"]);
}

// ---------------------------------------------------------------------------
// spike

fn spike(condition: &str) -> String {
    format!(
        r#"
id: token-spike
title: Token spike
severity: medium
events: [com.qlik.oauth-token.issued]
match:
  issued:
    data.grantType|exists: true
correlation:
  type: spike
  group-by: [tenantid, data.issuedToClientId]
  timespan: 1h
  baseline: 6h
  condition: {condition}
output: "{{{{count}}}} tokens in {{{{timespan}}}}, baseline {{{{mean}}}} ± {{{{stddev}}}}"
"#
    )
}

/// Events of one client: `counts[h]` events spread over hour `h` of
/// 2026-03-07, ids `<prefix><hour>-<n>`.
fn hourly(prefix: &str, counts: &[usize]) -> Vec<Ev> {
    let mut out = Vec::new();
    for (hour, &n) in counts.iter().enumerate() {
        for k in 0..n {
            let minute = hour as i64 * 60 + 5 + k as i64;
            out.push(Ev::issued(
                &format!("{prefix}{hour}-{k}"),
                &at_minute(minute),
            ));
        }
    }
    out
}

#[test]
fn spike_fires_on_a_burst_over_a_steady_baseline() {
    // Baseline hours 0-5: 1,3,1,3,1,3 → mean 2, stddev 1. Hour 6: z = c - 2.
    let rules = spike("{zscore: 3, min: 5}");
    let findings = run(&rules, &hourly("e", &[1, 3, 1, 3, 1, 3, 8]));
    assert_eq!(findings.len(), 1, "at most once per bucket: {findings:#?}");
    let f = &findings[0];
    assert_eq!(f.count, 5, "fires at the fifth event of hour 6");
    assert_eq!(ids(f), ["e6-4"]);
    assert_eq!(f.mean, Some(2.0));
    assert_eq!(f.stddev, Some(1.0));
    assert_eq!(f.time.as_deref(), Some("2026-03-07T06:09:00Z"));
    assert_eq!(window(f), ("2026-03-07T06:00:00Z", "2026-03-07T06:09:00Z"));
    assert_eq!(group(f), [("data.issuedToClientId", "c1")]);
    assert_eq!(f.message, "5 tokens in 1h, baseline 2 ± 1");
    let json: Value = serde_json::from_str(&f.to_json()).unwrap();
    assert_eq!(json["mean"], json!(2.0));
    assert_eq!(json["stddev"], json!(1.0));
    // One event short of the z-score stays quiet.
    assert!(run(&rules, &hourly("e", &[1, 3, 1, 3, 1, 3, 4])).is_empty());
}

#[test]
fn spike_below_min_does_not_fire() {
    // z = c - 2 reaches 3 at c = 5, but min is 7.
    let rules = spike("{zscore: 3, min: 7}");
    assert!(run(&rules, &hourly("e", &[1, 3, 1, 3, 1, 3, 6])).is_empty());
    let findings = run(&rules, &hourly("e", &[1, 3, 1, 3, 1, 3, 7]));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 7);
}

#[test]
fn spike_burst_in_a_groups_first_bucket_does_not_fire() {
    let rules = spike("{zscore: 2, min: 3}");
    assert!(run(&rules, &hourly("e", &[40])).is_empty());
    // A group that starts later has its own first bucket.
    let mut events = hourly("a", &[1, 1, 1]);
    events.extend((0..40).map(|k| Ev::issued(&format!("b{k}"), &at_minute(120 + k)).client("c2")));
    events.sort_by_key(|e| e.0["time"].as_str().unwrap().to_owned());
    assert!(run(&rules, &events).is_empty());
}

#[test]
fn spike_baseline_counts_empty_buckets_as_zero() {
    // One event in hour 0, nothing in hours 1-5: mean 1/6, stddev 0.373
    // (taken as at least 1), so min decides.
    let rules = spike("{zscore: 3, min: 4}");
    let findings = run(&rules, &hourly("e", &[1, 0, 0, 0, 0, 0, 4]));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].count, 4);
    assert_eq!(findings[0].mean, Some(0.167));
    assert_eq!(findings[0].stddev, Some(0.373));
    // By default a group learns for the whole baseline: a burst in its
    // second hour is quiet.
    assert!(run(&rules, &hourly("e", &[1, 4])).is_empty());
    // With `learning: 1h`, only the hours since its start count: hour 0 has
    // 1 event, hour 1 has 4 → mean 1, stddev 0, z = 3.
    let learning = rules.replace("  baseline: 6h\n", "  baseline: 6h\n  learning: 1h\n");
    let findings = run(&learning, &hourly("e", &[1, 4]));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].mean, Some(1.0));
    assert_eq!(findings[0].stddev, Some(0.0));
}

#[test]
fn spike_learning_may_be_longer_than_the_baseline() {
    // Hours 0-7 steady, a burst in hour 8: a 6h baseline has been seen by
    // hour 6, but `learning: 9h` keeps the group quiet until hour 9.
    let steady = [1, 3, 1, 3, 1, 3, 1, 3];
    let rules = spike("{zscore: 3, min: 5}");
    let burst: Vec<usize> = steady.iter().copied().chain([8]).collect();
    assert_eq!(run(&rules, &hourly("e", &burst)).len(), 1);
    let learning = rules.replace("  baseline: 6h\n", "  baseline: 6h\n  learning: 9h\n");
    assert!(run(&learning, &hourly("e", &burst)).is_empty());
    let later: Vec<usize> = steady.iter().copied().chain([1, 8]).collect();
    assert_eq!(run(&learning, &hourly("e", &later)).len(), 1);
}

#[test]
fn spike_groups_are_isolated() {
    let rules = spike("{zscore: 3, min: 5}");
    let mut events = hourly("a", &[1, 3, 1, 3, 1, 3, 0]);
    // c2's events in hour 6 do not add to c1's count.
    events.extend((0..6).map(|k| Ev::issued(&format!("b{k}"), &at_minute(360 + k)).client("c2")));
    events.extend((0..4).map(|k| Ev::issued(&format!("c{k}"), &at_minute(400 + k))));
    assert!(run(&rules, &events).is_empty());
}

#[test]
fn spike_counts_events_at_identical_timestamps_and_splits_at_bucket_edges() {
    let rules = spike("{zscore: 3, min: 5}");
    // Baseline 1,3,1,3,1,3 as before, then five events at one instant.
    let mut events = hourly("e", &[1, 3, 1, 3, 1, 3]);
    events.extend((0..5).map(|k| Ev::issued(&format!("s{k}"), &t("06:30:00"))));
    let findings = run(&rules, &events);
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["s4"]);
    // Buckets are fixed hours: 05:59:59.999999 belongs to hour 5, so two
    // events there and three from 06:00:00 make no hour of five.
    let mut events = hourly("e", &[1, 3, 1, 3, 1, 1]);
    events.push(Ev::issued("x1", &t("05:59:59.999999")));
    events.push(Ev::issued("x2", &t("05:59:59.999999")));
    events.extend((0..3).map(|k| Ev::issued(&format!("y{k}"), &t("06:00:00"))));
    assert!(run(&rules, &events).is_empty());
}

#[test]
fn new_value_learning_and_history_run_across_midnight() {
    let rules = new_value("originip", "");
    let findings = run(
        &rules,
        &[
            Ev::issued("a1", &t("23:30:00")).ip("10.0.0.1"),
            Ev::issued("a2", &t8("00:29:59")).ip("10.0.0.2"),
            Ev::issued("a3", &t8("00:30:00")).ip("10.0.0.3"),
            Ev::issued("a4", &t8("00:31:00")).ip("10.0.0.1"),
        ],
    );
    let got: Vec<&str> = findings.iter().map(|f| f.events[0].as_str()).collect();
    assert_eq!(got, ["a3"]);
}

#[test]
fn temporal_needs_an_event_for_each_step() {
    let rules = r#"
id: both
title: a and b in any order
severity: low
match:
  a:
    data.grantType|startswith: x
  b:
    data.grantType|endswith: y
correlation:
  type: temporal
  steps: [a, b]
  group-by: [data.issuedToClientId]
  timespan: 10m
"#;
    let g = |id: &str, time: &str, grant: &str| Ev::issued(id, time).set("data.grantType", grant);
    // "xy" matches both steps but stands for one.
    let alone = run(rules, &[g("1", &t("10:00:00"), "xy")]);
    assert!(alone.is_empty(), "{alone:#?}");
    let findings = run(
        rules,
        &[g("1", &t("10:00:00"), "xy"), g("2", &t("10:01:00"), "zy")],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(ids(&findings[0]), ["1", "2"]);
}

// ---------------------------------------------------------------------------
// State saved mid-stream

/// A new engine of the same rules and options holding `engine`'s state,
/// taken without finishing, through its JSON form.
fn reloaded(yaml: &str, engine: &Engine, options: Options) -> Engine {
    let saved = serde_json::to_string(&engine.snapshot()).unwrap();
    let rules = Arc::new(RuleSet::from_yaml("correlations.yaml", yaml).unwrap());
    let mut restored = Engine::with_options(rules, options);
    assert_eq!(
        restored.restore(serde_json::from_str(&saved).unwrap()).ok(),
        Some(Vec::new())
    );
    restored
}

#[test]
fn a_state_saved_mid_stream_keeps_the_events_still_waiting() {
    // Two events wait for their lateness when the state is saved; the
    // restored engine completes the burst with the third, and a repeat
    // of the first is still a duplicate.
    let yaml = event_count("{gte: 3}", "");
    let options = Options {
        lateness: Span(5 * 60_000_000),
        ..Options::default()
    };
    let rules = Arc::new(RuleSet::from_yaml("correlations.yaml", &yaml).unwrap());
    let mut first = Engine::with_options(rules, options);
    let events = burst("e", 0, 3);
    let mut findings = Vec::new();
    for event in &events[..2] {
        first
            .process(event.line().as_bytes(), &mut findings)
            .unwrap();
    }
    assert!(findings.is_empty());
    let saved = first.snapshot();
    // Builds that read only version 1 refuse it rather than drop the two.
    assert_eq!((saved.pending.len(), saved.version), (2, 2));
    let mut restored = reloaded(&yaml, &first, options);
    assert_eq!(
        restored.process(events[0].line().as_bytes(), &mut findings),
        Ok(Outcome::Duplicate)
    );
    restored
        .process(events[2].line().as_bytes(), &mut findings)
        .unwrap();
    restored.finish(&mut findings);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(ids(&findings[0]), ["e1", "e2", "e3"]);
    assert_eq!(restored.stats().late, 0);
    // With nothing waiting, the state keeps the layout earlier builds read.
    let finished = restored.snapshot();
    assert_eq!((finished.pending.len(), finished.version), (0, 1));
}

#[test]
fn a_state_saved_mid_stream_writes_each_stateless_finding_once() {
    let yaml = "id: cc\ntitle: cc\nseverity: low\nmatch:\n  s:\n    data.grantType|exists: true\n";
    let event = Ev::issued("e1", &at_minute(0)).line();
    for live in [false, true] {
        let options = Options {
            live,
            ..Options::default()
        };
        let rules = Arc::new(RuleSet::from_yaml("correlations.yaml", yaml).unwrap());
        let mut first = Engine::with_options(rules, options);
        let mut before = Vec::new();
        first.process(event.as_bytes(), &mut before).unwrap();
        let mut restored = reloaded(yaml, &first, options);
        let mut after = Vec::new();
        restored.finish(&mut after);
        // A live stream wrote it at once; a replay writes it in event-time
        // order, so the restored engine does.
        assert_eq!(
            (before.len(), after.len()),
            if live { (1, 0) } else { (0, 1) }
        );
    }
}

#[test]
fn a_held_event_that_matches_nothing_keeps_its_time_across_a_save() {
    // H, days ahead, matches no rule but is held until the next event shows
    // whether the stream moved on. Saved while held, it must still decide
    // that B follows it and C is late, as in one uninterrupted run.
    let yaml = "id: pair\ntitle: pair\nseverity: low\nmatch:\n  s:\n    data.grantType: client_credentials\n\
                correlation:\n  type: event_count\n  group-by: [tenantid]\n  timespan: 1h\n  condition: {gte: 2}\n";
    let event = |id: &str, time: &str, grant: &str| {
        Ev::issued(id, time).set("data.grantType", grant).line()
    };
    let before = [
        event("e1", "2026-03-01T00:00:00Z", "client_credentials"),
        event("e2", "2026-03-01T00:01:00Z", "other"),
        event("h", "2026-03-04T00:00:00Z", "other"),
    ];
    let after = [
        event("b", "2026-03-04T00:01:00Z", "client_credentials"),
        event("c", "2026-03-01T00:30:00Z", "client_credentials"),
    ];
    let options = Options::default();
    let fresh = || {
        let rules = Arc::new(RuleSet::from_yaml("correlations.yaml", yaml).unwrap());
        Engine::with_options(rules, options)
    };
    let mut whole = fresh();
    let mut split = fresh();
    let (mut expected, mut got) = (Vec::new(), Vec::new());
    for line in before.iter().chain(&after) {
        whole.process(line.as_bytes(), &mut expected).unwrap();
    }
    whole.finish(&mut expected);
    for line in &before {
        split.process(line.as_bytes(), &mut got).unwrap();
    }
    let mut split = reloaded(yaml, &split, options);
    for line in &after {
        split.process(line.as_bytes(), &mut got).unwrap();
    }
    split.finish(&mut got);
    assert_eq!(got, expected);
    assert_eq!(
        (split.stats().late, split.stats().ahead),
        (whole.stats().late, whole.stats().ahead)
    );
}
