//! Memory of correlation state, measured with a counting allocator.
//!
//! One million events with distinct client ids each open a group of an
//! `event_count` rule grouped by `data.issuedToClientId`; `value_count` and
//! `new_value` are measured the same way. The test prints the bytes each
//! tracked group costs (the README's figures come from here) and asserts
//! that the peak stays under bounds derived from such a measurement, with
//! about 30% headroom. A second run with `max-groups: 10000` shows the cap
//! holding and every eviction counted.
//!
//! The duplicate filter is turned off (`dedup_capacity: 0`) and the
//! lateness is zero, so what is measured is the correlation state alone,
//! not remembered event ids or events waiting in the reorder buffer.
//!
//! Run with `cargo test --release --test memory -- --nocapture` to see the
//! figures for one million groups of each type. A debug build measures
//! `value_count` and `new_value` with 200,000 groups, and the capped runs
//! with 50,000 events, to stay quick.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokenwatch::time::Span;
use tokenwatch::{Engine, Options, RuleSet};

/// Counts live heap bytes and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Events (and so groups) in the `event_count` run.
const EVENTS: usize = 1_000_000;

/// Events in the `value_count` and `new_value` runs: one million in an
/// optimised build; fewer in a debug build, where parsing a million events
/// per type takes over a minute.
const EVENTS_OTHER: usize = if cfg!(debug_assertions) {
    200_000
} else {
    1_000_000
};

/// Events in the runs with `max-groups: 10000`.
const EVENTS_CAPPED: usize = if cfg!(debug_assertions) {
    50_000
} else {
    1_000_000
};

/// Upper bounds on the peak heap growth per tracked group while the groups
/// are built, in bytes: 1.2 × the peak measured with one million groups on
/// x86_64 Linux (event_count 494, value_count 580, new_value 435 bytes per
/// group at the peak). The peak includes the group table's growth, when the
/// old and the new table briefly coexist; one million groups is a costly
/// point, just after the table doubled at 917,504 groups.
const PEAK_BOUND: [(&str, usize); 3] = [
    ("event_count", 593),
    ("value_count", 696),
    ("new_value", 522),
];

/// Fixed overhead allowed on top of the per-group bound (engine, rule set,
/// parse buffer, the test's own line buffer).
const OVERHEAD: usize = 4 << 20;

fn rule(kind: &str, max_groups: Option<usize>) -> String {
    let correlation = match kind {
        "event_count" => "  type: event_count\n  timespan: 1d\n  condition: {gte: 5}\n",
        "value_count" => {
            "  type: value_count\n  timespan: 1d\n  condition: {field: data.resourceOwner, gte: 5}\n"
        }
        "new_value" => "  type: new_value\n  field: originip\n  history: 30d\n  learning: 1d\n",
        other => panic!("no rule for {other}"),
    };
    let cap = max_groups.map_or(String::new(), |n| format!("  max-groups: {n}\n"));
    format!(
        "id: {kind}\ntitle: {kind} per client\nseverity: low\n\
         events: [com.qlik.oauth-token.issued]\n\
         match:\n  issued:\n    data.grantType|exists: true\n\
         correlation:\n  group-by: [data.issuedToClientId]\n{correlation}{cap}"
    )
}

/// Writes event `i` into `line`: a distinct client id, one millisecond
/// after event `i - 1`.
fn event(line: &mut String, i: usize) {
    line.clear();
    let ms = i % 1000;
    let s = i / 1000;
    let _ = write!(
        line,
        concat!(
            r#"{{"id":"evt-{i:07}","type":"com.qlik.oauth-token.issued","source":"qlik","#,
            r#""specversion":"1.0","tenantid":"t1","#,
            r#""time":"2026-03-07T{h:02}:{m:02}:{s:02}.{ms:03}Z","originip":"10.{a}.{b}.{c}","#,
            r#""data":{{"grantType":"authorization_code","issuedToClientId":"client-{i:07}","#,
            r#""resourceOwner":"user-{u:05}"}}}}"#
        ),
        i = i,
        h = s / 3600,
        m = (s / 60) % 60,
        s = s % 60,
        ms = ms,
        a = (i >> 16) & 255,
        b = (i >> 8) & 255,
        c = i & 255,
        u = i % 50_000,
    );
}

struct Measured {
    groups: u64,
    evicted: u64,
    /// Heap growth at the peak, from just before the first event.
    peak: usize,
    /// Heap still held by the engine after the last event.
    retained: usize,
    seconds: f64,
}

fn measure(kind: &str, events: usize, max_groups: Option<usize>) -> Measured {
    let rules = RuleSet::from_yaml("memory.yaml", &rule(kind, max_groups)).expect("rule compiles");
    let mut engine = Engine::with_options(
        Arc::new(rules),
        Options {
            lateness: Span(0),
            dedup_capacity: 0,
            max_groups: 2_000_000,
            ..Options::default()
        },
    );
    let mut findings = Vec::new();
    let mut line = String::with_capacity(512);
    let started = Instant::now();
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut most_groups = 0;
    for i in 0..events {
        event(&mut line, i);
        engine
            .process(line.as_bytes(), &mut findings)
            .expect("a valid event");
        if max_groups.is_some() && i % 997 == 0 {
            most_groups = most_groups.max(engine.stats().rules[0].groups);
        }
    }
    engine.finish(&mut findings);
    let seconds = started.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let retained = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    assert!(findings.is_empty(), "no group reaches its threshold");
    let stats = engine.stats();
    let rule = &stats.rules[0];
    if let Some(cap) = max_groups {
        assert!(
            most_groups.max(rule.groups) <= cap as u64,
            "{kind}: {most_groups} groups tracked with max-groups {cap}"
        );
    }
    drop(engine);
    Measured {
        groups: rule.groups,
        evicted: rule.evicted_groups,
        peak,
        retained,
        seconds,
    }
}

#[test]
fn correlation_state_per_group_is_bounded() {
    // Everything in one test: the allocator's counters are process-wide.
    let mut report = Vec::new();
    for (kind, bound) in PEAK_BOUND {
        let events = if kind == "event_count" {
            EVENTS
        } else {
            EVENTS_OTHER
        };
        let m = measure(kind, events, None);
        assert_eq!(m.groups, events as u64, "{kind}: one group per client");
        assert_eq!(
            m.evicted, 0,
            "{kind}: nothing evicted under the default cap"
        );
        let per_group = m.retained as f64 / m.groups as f64;
        let peak_per_group = m.peak as f64 / m.groups as f64;
        report.push(format!(
            "{kind:12} {groups} groups: {per_group:.0} bytes per tracked group \
             ({retained:.1} MiB held), peak {peak:.1} MiB ({peak_per_group:.0} bytes per group), {secs:.1} s",
            groups = m.groups,
            retained = m.retained as f64 / 1048576.0,
            peak = m.peak as f64 / 1048576.0,
            secs = m.seconds,
        ));
        let limit = bound * events + OVERHEAD;
        assert!(
            m.peak <= limit,
            "{kind}: peak {} bytes over the bound {limit} ({peak_per_group:.0} bytes per group)",
            m.peak
        );
    }

    // With a cap, the group count stays at or under it and every group
    // dropped to make room is counted: each client's group was created once,
    // so evicted + tracked = clients.
    for (kind, bound) in PEAK_BOUND {
        let m = measure(kind, EVENTS_CAPPED, Some(10_000));
        assert!(m.groups <= 10_000, "{kind}: {} groups", m.groups);
        assert_eq!(m.evicted + m.groups, EVENTS_CAPPED as u64, "{kind}");
        assert!(m.evicted >= (EVENTS_CAPPED - 10_000) as u64);
        let limit = bound * 10_000 + OVERHEAD;
        assert!(
            m.peak <= limit,
            "{kind}: capped peak {} over {limit}",
            m.peak
        );
        report.push(format!(
            "{kind:12} max-groups 10000: {groups} tracked, {evicted} evicted, peak {peak:.2} MiB, {secs:.1} s",
            groups = m.groups,
            evicted = m.evicted,
            peak = m.peak as f64 / 1048576.0,
            secs = m.seconds,
        ));
    }
    report.push(state_load_report());
    for line in report {
        println!("{line}");
    }
}

/// Loads a saved state of many groups: the peak is the file and what it
/// becomes, not a JSON tree several times the size of both.
fn state_load_report() -> String {
    let rules = Arc::new(
        RuleSet::from_yaml("memory.yaml", &rule("event_count", None)).expect("rule compiles"),
    );
    let options = Options {
        lateness: Span(0),
        max_groups: 2_000_000,
        ..Options::default()
    };
    let mut engine = Engine::with_options(Arc::clone(&rules), options);
    let (mut line, mut findings) = (String::new(), Vec::new());
    for i in 0..EVENTS_OTHER {
        event(&mut line, i);
        engine
            .process(line.as_bytes(), &mut findings)
            .expect("a valid event");
    }
    engine.finish(&mut findings);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("state.json");
    tokenwatch::state::save(&path, &engine.snapshot()).expect("state saves");
    drop(engine);
    let file = std::fs::metadata(&path).expect("state file").len() as usize;

    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let snapshot = tokenwatch::state::load(&path)
        .expect("state loads")
        .expect("it exists");
    let mut restored = Engine::with_options(rules, options);
    assert_eq!(restored.restore(snapshot).ok(), Some(Vec::new()));
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let held = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    let limit = file + 2 * held + OVERHEAD;
    assert!(
        peak <= limit,
        "loading a {file}-byte state peaked at {peak} bytes, over {limit} ({held} held after)"
    );
    format!(
        "state load   {EVENTS_OTHER} groups: {:.1} MiB file, peak {:.1} MiB, {:.1} MiB held",
        file as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        held as f64 / 1048576.0
    )
}
