//! Throughput of tokenwatch against the floor of its job, parsing JSON.
//!
//! Every group runs over the same deterministic events from
//! `tokenwatch::simulate` (seed 7, realistic Qlik OAuth traffic of about 1 KB
//! an event), so the numbers compare side by side:
//!
//! - `floor/typed_borrowed`: serde_json into a typed struct with borrowed
//!   strings: the physical floor.
//! - `floor/value`: serde_json into a `serde_json::Value` tree.
//! - `engine/pack`: the default pack (21 rules: 8 stateless, 13 correlations).
//! - `engine/pack20`: `benches/pack20.yaml` (20 rules: 14 stateless of
//!   realistic selectivity, 6 correlations).
//! - `stateless/<kind>`: one stateless rule of each kind of matcher.
//! - `correlation/<type>`: one rule of each correlation type.
//! - `scaling/<n>`: n stateless rules of realistic selectivity, each
//!   looking for its own values.
//!
//! Run with `cargo bench --bench engine`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokenwatch::simulate::{Config, Simulation};
use typed::TypedEvent;

mod typed;
use tokenwatch::{Engine, Options, RuleSet, loader};

/// Events per measured iteration.
const EVENTS: usize = 20_000;

fn events() -> Vec<String> {
    let mut simulation = Simulation::new(Config {
        seed: 7,
        days: 30,
        tenants: 5,
        users: 200,
        ..Config::default()
    })
    .expect("simulation config");
    let mut lines = Vec::with_capacity(EVENTS);
    let mut line = String::new();
    while lines.len() < EVENTS && simulation.next_line(&mut line) {
        lines.push(std::mem::take(&mut line));
    }
    lines
}

fn engine_over(rules: &Arc<RuleSet>, lines: &[String]) -> usize {
    let options = Options {
        lateness: tokenwatch::time::Span(0),
        ..Options::default()
    };
    let mut engine = Engine::with_options(Arc::clone(rules), options);
    let mut findings = Vec::new();
    for line in lines {
        let _ = engine.process(line.as_bytes(), &mut findings);
        findings.clear();
    }
    engine.finish(&mut findings);
    findings.len()
}

fn compile(yaml: &str) -> Arc<RuleSet> {
    Arc::new(RuleSet::from_yaml("bench.yaml", yaml).expect("bench rules compile"))
}

fn rule(id: &str, body: &str) -> String {
    format!("id: {id}\ntitle: {id}\nseverity: low\n{body}\n---\n")
}

const STATELESS: &[(&str, &str)] = &[
    (
        "equality",
        "match:\n  s:\n    data.grantType: urn:qlik:oauth:user-impersonation",
    ),
    (
        "list",
        "match:\n  s:\n    data.grantType: [client_credentials, urn:qlik:oauth:anonymous-embed, urn:ietf:params:oauth:grant-type:token-exchange]",
    ),
    (
        "contains",
        "match:\n  s:\n    data.deviceType|contains: [Linux, Android]",
    ),
    (
        "startswith_i",
        "match:\n  s:\n    data.scopes|startswith|i: ADMIN",
    ),
    (
        "regex",
        "match:\n  s:\n    data.description|re: '^(?i)unknown.*device$'",
    ),
    (
        "cidr",
        "match:\n  s:\n    originip|cidr: [10.0.0.0/8, 192.168.0.0/16, 2001:db8::/32]",
    ),
    (
        "fieldref",
        "match:\n  s:\n    tenantid|fieldref: data.tenantId\n  condition: not s",
    ),
    (
        "authclaims",
        "match:\n  s:\n    authclaims.subType: service",
    ),
];

const CORRELATIONS: &[(&str, &str)] = &[
    (
        "event_count",
        "match:\n  s:\n    data.issuedToClientId|exists: true\ncorrelation:\n  type: event_count\n  group-by: [tenantid, data.issuedToClientId]\n  timespan: 5m\n  condition: {gte: 100}",
    ),
    (
        "value_count",
        "match:\n  s:\n    data.resourceOwner|exists: true\ncorrelation:\n  type: value_count\n  group-by: [tenantid, data.issuedToClientId]\n  timespan: 10m\n  condition: {field: data.resourceOwner, gte: 50}",
    ),
    (
        "temporal_ordered",
        "match:\n  revoke:\n    data.revokedContext.userId|exists: true\n  reissue:\n    data.resourceOwner|exists: true\ncorrelation:\n  type: temporal_ordered\n  steps: [revoke, reissue]\n  group-by: [tenantid, user]\n  aliases:\n    user: {revoke: data.revokedContext.userId, reissue: data.resourceOwner}\n  timespan: 1h",
    ),
    (
        "new_value",
        "match:\n  s:\n    data.resourceOwner|exists: true\ncorrelation:\n  type: new_value\n  field: originip\n  prefix: 24\n  group-by: [tenantid, data.resourceOwner]\n  learning: 7d",
    ),
    (
        "spike",
        "match:\n  s:\n    data.issuedToClientId|exists: true\ncorrelation:\n  type: spike\n  group-by: [tenantid, data.issuedToClientId]\n  timespan: 1h\n  baseline: 7d\n  condition: {zscore: 4, min: 50}",
    ),
];

/// `n` stateless rules: the kinds above, then variations of them that look
/// for other values (as a real pack's rules do), so that most events match
/// few of them.
fn many_rules(n: usize) -> String {
    (0..n)
        .map(|i| {
            let (_, body) = STATELESS[i % STATELESS.len()];
            let body = if i < STATELESS.len() {
                body.to_owned()
            } else {
                vary(body, i)
            };
            rule(&format!("r{i}"), &body)
        })
        .collect()
}

/// A rule body looking for other values than `body`, numbered `i`.
fn vary(body: &str, i: usize) -> String {
    let replacements = [
        ("user-impersonation", format!("user-impersonation-{i}")),
        ("client_credentials", format!("client_credentials-{i}")),
        ("token-exchange", format!("token-exchange-{i}")),
        ("Linux", format!("Linux{i}")),
        ("ADMIN", format!("ADMIN{i}")),
        ("unknown", format!("unknown{i}")),
        ("10.0.0.0/8", format!("10.{}.{}.0/24", i % 256, i / 256)),
        ("service", format!("service{i}")),
    ];
    replacements
        .iter()
        .fold(body.to_owned(), |body, (from, to)| body.replace(from, to))
}

/// A group `group` with one benchmark per (name, rule body) of `cases`.
fn one_rule_each(c: &mut Criterion, group: &str, cases: &[(&str, &str)], lines: &[String]) {
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(lines.len() as u64));
    for (name, body) in cases {
        let rules = compile(&rule(name, body));
        group.bench_function(*name, |b| b.iter(|| black_box(engine_over(&rules, lines))));
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let lines = events();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "{} events, {:.0} bytes each on average",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );

    let mut floor = c.benchmark_group("floor");
    floor.throughput(Throughput::Elements(lines.len() as u64));
    floor.bench_function("typed_borrowed", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| serde_json::from_str::<TypedEvent>(l).is_ok())
                .count()
        })
    });
    floor.bench_function("value", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
                .count()
        })
    });
    floor.finish();

    let mut engine = c.benchmark_group("engine");
    engine.throughput(Throughput::Elements(lines.len() as u64));
    let pack = Arc::new(RuleSet::from_sources(&loader::builtin()).expect("the pack compiles"));
    engine.bench_function("pack", |b| b.iter(|| black_box(engine_over(&pack, &lines))));
    let pack20 = compile(include_str!("pack20.yaml"));
    engine.bench_function("pack20", |b| {
        b.iter(|| black_box(engine_over(&pack20, &lines)))
    });
    engine.finish();

    one_rule_each(c, "stateless", STATELESS, &lines);
    one_rule_each(c, "correlation", CORRELATIONS, &lines);

    let mut scaling = c.benchmark_group("scaling");
    scaling.throughput(Throughput::Elements(lines.len() as u64));
    for n in [1, 20, 100, 500] {
        let rules = compile(&many_rules(n));
        scaling.bench_with_input(BenchmarkId::from_parameter(n), &rules, |b, rules| {
            b.iter(|| black_box(engine_over(rules, &lines)))
        });
    }
    scaling.finish();
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(engine);
