//! Counters of the webhook service, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::engine::{RuleStats, Stats};

/// Upper bounds of the request latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// What a delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Evaluated.
    Accepted,
    /// A repeat of an earlier delivery, evaluated once.
    Duplicate,
    /// Signed correctly but not a valid event (400).
    Rejected,
    /// Missing or wrong signature (401).
    Unauthorized,
    /// Body over the limit (413).
    TooLarge,
    /// Body that did not arrive whole (cut off, timed out, bad chunking):
    /// never checked against the signature, so not an event rejected.
    Unread,
    /// Refused while the service shuts down (503).
    Unavailable,
}

impl Delivery {
    const ALL: [Delivery; 7] = [
        Delivery::Accepted,
        Delivery::Duplicate,
        Delivery::Rejected,
        Delivery::Unauthorized,
        Delivery::TooLarge,
        Delivery::Unread,
        Delivery::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            Delivery::Accepted => "accepted",
            Delivery::Duplicate => "duplicate",
            Delivery::Rejected => "rejected",
            Delivery::Unauthorized => "unauthorized",
            Delivery::TooLarge => "too_large",
            Delivery::Unread => "unread",
            Delivery::Unavailable => "unavailable",
        }
    }
}

/// A per-rule metric: name, type, help text, and how to read it.
type PerRule = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RuleStats) -> u64,
);

/// Shared counters; cheap to update from any request.
#[derive(Debug, Default)]
pub struct Metrics {
    deliveries: [AtomicU64; Delivery::ALL.len()],
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Findings the webhook sink delivered.
    pub sink_delivered: AtomicU64,
    /// Failed attempts to deliver a finding to the webhook sink.
    pub sink_failures: AtomicU64,
    /// Findings written to the spool file instead of the webhook sink.
    pub sink_spooled: AtomicU64,
    /// Rule-set reloads done and refused.
    pub reloads: [AtomicU64; 2],
    engine: Mutex<Stats>,
}

impl Metrics {
    /// Counts one delivery and how long it took.
    pub fn record(&self, delivery: Delivery, took: Duration) {
        let index = Delivery::ALL
            .iter()
            .position(|d| *d == delivery)
            .unwrap_or(0);
        self.deliveries[index].fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Replaces the engine's counts shown by `/metrics`.
    pub fn set_engine(&self, stats: Stats) {
        if let Ok(mut current) = self.engine.lock() {
            *current = stats;
        }
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP tokenwatch_events_total Webhook deliveries by outcome."
        );
        let _ = writeln!(out, "# TYPE tokenwatch_events_total counter");
        for (delivery, count) in Delivery::ALL.iter().zip(&self.deliveries) {
            let _ = writeln!(
                out,
                "tokenwatch_events_total{{outcome=\"{}\"}} {}",
                delivery.label(),
                count.load(Ordering::Relaxed)
            );
        }
        let stats = self.engine.lock().map(|s| s.clone()).unwrap_or_default();
        let engine_counts = [
            (
                "tokenwatch_late_events_total",
                "Accepted events older than the allowed lateness.",
                stats.late,
            ),
            (
                "tokenwatch_ahead_events_total",
                "Accepted events far ahead of the stream's clock, matched by stateless rules only.",
                stats.ahead,
            ),
            (
                "tokenwatch_untimed_events_total",
                "Accepted events without a time, matched by stateless rules only.",
                stats.untimed,
            ),
            (
                "tokenwatch_forced_events_total",
                "Events applied before their lateness ran out because the reorder buffer was full.",
                stats.forced,
            ),
            (
                "tokenwatch_dedup_forgotten_total",
                "Event identities the duplicate filter forgot to stay within its capacity.",
                stats.dedup_evictions,
            ),
        ];
        for (name, help, value) in engine_counts {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        let per_rule: [PerRule; 4] = [
            (
                "tokenwatch_findings_total",
                "counter",
                "Findings by rule.",
                |r| r.findings,
            ),
            (
                "tokenwatch_suppressed_total",
                "counter",
                "Findings withheld by suppress, by rule.",
                |r| r.suppressed,
            ),
            (
                "tokenwatch_state_groups",
                "gauge",
                "Correlation groups tracked, by rule.",
                |r| r.groups,
            ),
            (
                "tokenwatch_evictions_total",
                "counter",
                "Groups and values evicted to bound memory, by rule.",
                |r| r.evicted_groups + r.evicted_values,
            ),
        ];
        for (name, kind, help, value) in per_rule {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for rule in &stats.rules {
                let _ = writeln!(out, "{name}{{rule=\"{}\"}} {}", rule.id, value(rule));
            }
        }
        let _ = writeln!(
            out,
            "# HELP tokenwatch_request_duration_seconds Webhook request latency."
        );
        let _ = writeln!(out, "# TYPE tokenwatch_request_duration_seconds histogram");
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "tokenwatch_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tokenwatch_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tokenwatch_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "tokenwatch_request_duration_seconds_count {count}");
        let counters = [
            (
                "tokenwatch_sink_delivered_total",
                "Findings delivered to the webhook sink.",
                &self.sink_delivered,
            ),
            (
                "tokenwatch_sink_failures_total",
                "Failed webhook sink attempts.",
                &self.sink_failures,
            ),
            (
                "tokenwatch_sink_spooled_total",
                "Findings kept on disk after the webhook sink failed.",
                &self.sink_spooled,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP tokenwatch_reloads_total Rule reloads by result."
        );
        let _ = writeln!(out, "# TYPE tokenwatch_reloads_total counter");
        for (label, value) in ["done", "refused"].iter().zip(&self.reloads) {
            let _ = writeln!(
                out,
                "tokenwatch_reloads_total{{result=\"{label}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}
