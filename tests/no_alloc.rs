//! Once its buffers are warm, the stateless path (parse, validate, match)
//! does not allocate per event, nor does a correlation counting events of
//! groups it already tracks: counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use tokenwatch::matching::Matcher;
use tokenwatch::simulate::{Config, Simulation};
use tokenwatch::time::Span;
use tokenwatch::{Engine, Options, Outcome, RuleSet};

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run on threads of their own,
    /// beside the harness, which allocates as it reports).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Stateless rules of every matcher kind that stay quiet on normal traffic,
/// one of them reading inside `authclaims`.
const RULES: &str = r#"
id: equality
title: equality
severity: low
match:
  s:
    data.grantType: urn:ietf:params:oauth:grant-type:token-exchange
---
id: modifiers
title: modifiers
severity: low
match:
  contains:
    data.deviceType|contains: [Kali, Parrot]
  prefix:
    data.scopes|startswith|i: ADMIN.WRITE
  network:
    originip|cidr: [192.0.2.0/24, 2001:db8::/32]
  pattern:
    data.description|re: '^evil'
  condition: 1 of them
---
id: claims-and-fields
title: claims and fields
severity: low
match:
  claims:
    authclaims.subType: robot
  mismatch:
    tenantid|fieldref: data.tenantId
  time:
    data.issuedAt|lt: "2000-01-01T00:00:00Z"
  data:
    data.tenantId|exists: true
  condition: claims or time or (data and not mismatch)
"#;

#[test]
fn matching_does_not_allocate_once_warm() {
    let simulation = Simulation::new(Config {
        seed: 3,
        days: 2,
        ..Config::default()
    })
    .unwrap();
    let lines: Vec<String> = simulation.take(4000).collect();
    let rules = Arc::new(RuleSet::from_yaml("quiet.yaml", RULES).unwrap());
    let mut matcher = Matcher::new(rules, 1 << 20);
    let (warm, measured) = lines.split_at(2000);
    for line in warm {
        assert!(matcher.evaluate(line.as_bytes()).is_ok());
    }
    let before = allocations();
    let mut quiet = 0;
    for line in measured {
        let evaluated = matcher.evaluate(line.as_bytes());
        quiet += usize::from(evaluated.as_ref().is_ok_and(|e| e.is_empty()));
        std::mem::forget(evaluated);
    }
    let allocations = allocations() - before;
    assert_eq!(
        quiet,
        measured.len(),
        "the rules stay quiet on normal traffic"
    );
    assert_eq!(allocations, 0, "allocations over {} events", measured.len());
}

/// An event_count rule that never fires, over four clients of one tenant.
const COUNTING: &str = r#"
id: counting
title: counting
severity: low
match:
  s:
    data.issuedToClientId|exists: true
correlation:
  type: event_count
  group-by: [tenantid, data.issuedToClientId]
  timespan: 1m
  condition: {gte: 1000000}
"#;

#[test]
fn counting_on_known_groups_does_not_allocate_once_warm() {
    let lines: Vec<String> = (0..6000)
        .map(|i| {
            let minute = i / 60;
            format!(
                r#"{{"id":"e{i}","time":"2026-01-01T{:02}:{:02}:{:02}Z","type":"com.qlik.oauth-token.issued","source":"com.qlik/oauth","specversion":"1.0","tenantid":"t1","data":{{"issuedToClientId":"client-{}","grantType":"client_credentials"}}}}"#,
                minute / 60,
                minute % 60,
                i % 60,
                i % 4
            )
        })
        .collect();
    let rules = Arc::new(RuleSet::from_yaml("counting.yaml", COUNTING).unwrap());
    // The duplicate filter is off: its table is rebuilt now and then as old
    // identities leave it (amortised, and not what is counted here).
    let options = Options {
        dedup_capacity: 0,
        lateness: Span(10_000_000),
        ..Options::default()
    };
    let mut engine = Engine::with_options(rules, options);
    let mut findings = Vec::new();
    let (warm, measured) = lines.split_at(3000);
    for line in warm {
        assert_eq!(
            engine.process(line.as_bytes(), &mut findings),
            Ok(Outcome::Accepted)
        );
    }
    let before = allocations();
    for line in measured {
        assert_eq!(
            engine.process(line.as_bytes(), &mut findings),
            Ok(Outcome::Accepted)
        );
    }
    let allocations = allocations() - before;
    assert!(findings.is_empty());
    assert_eq!(engine.stats().accepted, 6000);
    assert_eq!(allocations, 0, "allocations over {} events", measured.len());
}
