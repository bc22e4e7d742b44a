//! tokenwatch: an anomaly-detection rules engine for the OAuth token events of
//! Qlik Cloud tenants.
//!
//! Rules are written in YAML, compiled once into an immutable [`RuleSet`],
//! and run by an [`Engine`] that owns the mutable state. Findings come out as
//! [`Finding`] values that serialise to the NDJSON shape of the contract.
//!
//! ```
//! use std::sync::Arc;
//! use tokenwatch::{Engine, RuleSet};
//!
//! // Load and compile rules (from files: `RuleSet::from_sources(&loader::read_paths(..)?)`).
//! let rules = RuleSet::from_yaml("inline.yaml", r#"
//! id: admin-impersonation
//! title: Impersonation grant with an admin scope
//! severity: critical
//! events: [com.qlik.oauth-token.issued]
//! match:
//!   impersonation:
//!     data.grantType: urn:qlik:oauth:user-impersonation
//!   admin:
//!     data.scopes|startswith: [admin_classic, admin.]
//!   condition: impersonation and admin
//! output: "{{data.issuedToClientId}} impersonated {{data.resourceOwner}}"
//! "#).expect("rules compile");
//!
//! // Evaluate events (raw NDJSON lines) and collect findings.
//! let mut engine = Engine::new(Arc::new(rules));
//! let mut findings = Vec::new();
//! let event = br#"{"id":"e1","type":"com.qlik.core.oauth-token.issued","source":"qlik",
//!   "specversion":"1.0","tenantid":"t1","time":"2026-03-07T14:08:40Z",
//!   "data":{"grantType":"urn:qlik:oauth:user-impersonation","scopes":["admin_classic"],
//!           "issuedToClientId":"c1","resourceOwner":"u1"}}"#;
//! engine.process(event, &mut findings).expect("a valid event");
//! engine.finish(&mut findings); // end of input: apply what waits for late events
//!
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].message, "c1 impersonated u1");
//! assert_eq!(findings[0].time.as_deref(), Some("2026-03-07T14:08:40Z"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod catalogue;
pub mod compile;
pub mod correlation;
pub mod dedup;
pub mod diag;
pub mod engine;
pub mod event;
pub mod event_id;
pub mod fields;
pub mod finding;
mod group_table;
pub mod json;
pub mod lines;
pub mod lint;
pub mod loader;
pub mod matcher;
pub mod matching;
pub mod packed;
mod prefetch;
pub mod prefilter;
pub mod reorder;
pub mod rule;
pub mod ruleset;
pub mod ruletest;
pub mod schema;
pub mod server;
pub mod simulate;
pub mod state;
pub mod stream;
mod tag_index;
pub mod time;
pub mod window;
pub mod yaml;

pub use diag::Diagnostic;
pub use engine::{Engine, Options, Outcome, Stats};
pub use event::Rejection;
pub use finding::Finding;
pub use ruleset::{CompileError, RuleSet, Source};
pub use state::{Snapshot, StateError};
pub use time::{Span, Timestamp};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
