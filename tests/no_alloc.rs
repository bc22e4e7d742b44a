//! The stateless path (parse, validate, match) does not allocate per event
//! once its buffers are warm: counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokenwatch::RuleSet;
use tokenwatch::matching::Matcher;
use tokenwatch::simulate::{Config, Simulation};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut quiet = 0;
    for line in measured {
        let evaluated = matcher.evaluate(line.as_bytes());
        quiet += usize::from(evaluated.as_ref().is_ok_and(|e| e.is_empty()));
        std::mem::forget(evaluated);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        quiet,
        measured.len(),
        "the rules stay quiet on normal traffic"
    );
    assert_eq!(allocations, 0, "allocations over {} events", measured.len());
}
