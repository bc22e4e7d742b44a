//! Feeds arbitrary bytes (as lossy UTF-8) to `RuleSet::from_yaml`; when the
//! text compiles, runs a fixed stream of valid events through an engine
//! built from it, then saves and restores the engine's state.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use tokenwatch::state::Snapshot;
use tokenwatch::{Engine, Outcome, RuleSet};

/// An issued event in the current spelling, with `authclaims`, scopes and
/// an origin address, so that most field tests have something to read.
/// `@ID@`, `@TIME@`, `@OWNER@` and `@IP@` are filled in per event.
const ISSUED: &str = r#"{"id":"@ID@","time":"@TIME@","type":"com.qlik.core.oauth-token.issued","source":"com.qlik/edge-auth","specversion":"1.0","datacontenttype":"application/json","userid":"9f1c2b3a-1111-4c2d-8e9f-0a1b2c3d4e5f","authtype":"user","originip":"@IP@","tenantid":"TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69","sessionid":"sess-3d4e5f","authclaims":"{\"iss\": \"qlik.api.internal/edge-auth\", \"sub\": \"9f1c2b3a-1111-4c2d-8e9f-0a1b2c3d4e5f\", \"subType\": \"user\"}","data":{"id":"tok-@ID@","scopes":["user_default","admin_classic"],"appType":"web","ownerId":"@OWNER@","issuedAt":"@TIME@","tenantId":"TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69","createdBy":"3e7651d5-98d9-467c-be0b-09623e6aa551","grantType":"urn:qlik:oauth:user-impersonation","userType":"bot","expiresIn":3600,"resourceOwner":"@OWNER@","issuedToClientId":"9f1c2b3a-1111-4c2d-8e9f-0a1b2c3d4e5f"},"meta":{"userAgent":"Mozilla/5.0"},"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#;

/// A revoked event in the older spelling.
const REVOKED: &str = r#"{"id":"@ID@","time":"@TIME@","type":"com.qlik.oauth-token.revoked","source":"com.qlik/edge-auth","specversion":"1.0","userid":"63d4e5f6a7b8c9d0e1f2a3b4","authtype":"user","originip":"@IP@","tenantid":"TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69","authclaims":"{\"sub\": \"63d4e5f6a7b8c9d0e1f2a3b4\"}","data":{"revokedAt":"@TIME@","revokedBy":"63d4e5f6a7b8c9d0e1f2a3b4","revokedContext":{"userId":"@OWNER@","tenantId":"TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69"},"revokedByBearer":false}}"#;

/// A short stream that gives correlations something to count: a burst of
/// issued tokens, a revocation, a reissue, and later events from new
/// addresses (past the default one-day `new_value` learning period).
static EVENTS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let stream: &[(&str, &str, &str, &str, &str)] = &[
        (ISSUED, "e1", "2026-03-07T09:00:00Z", "u1", "203.0.113.77"),
        (ISSUED, "e2", "2026-03-07T09:01:00Z", "u2", "203.0.113.78"),
        (ISSUED, "e3", "2026-03-07T09:02:30+01:00", "u3", "10.1.2.3"),
        (REVOKED, "e4", "2026-03-07T09:03:00Z", "u1", "2001:db8::17"),
        (ISSUED, "e5", "2026-03-07T09:04:00Z", "u1", "198.51.100.20"),
        (ISSUED, "e6", "2026-03-09T09:00:00Z", "u1", "192.0.2.1"),
        (
            REVOKED,
            "e7",
            "2026-03-09T09:10:00.250Z",
            "u2",
            "::ffff:10.9.9.9",
        ),
    ];
    stream
        .iter()
        .map(|(template, id, time, owner, ip)| {
            template
                .replace("@ID@", id)
                .replace("@TIME@", time)
                .replace("@OWNER@", owner)
                .replace("@IP@", ip)
                .into_bytes()
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let rules = match RuleSet::from_yaml("fuzz.yaml", &text) {
        Ok(rules) => Arc::new(rules),
        Err(error) => {
            assert!(
                !error.diagnostics.is_empty(),
                "a compile error carries at least one diagnostic"
            );
            let _ = error.to_string();
            return;
        }
    };
    for warning in rules.warnings() {
        let _ = warning.to_string();
    }

    let mut engine = Engine::new(Arc::clone(&rules));
    let mut findings = Vec::new();
    for event in EVENTS.iter() {
        let outcome = engine.process(event, &mut findings);
        assert_eq!(
            outcome,
            Ok(Outcome::Accepted),
            "a fixed valid event is accepted"
        );
    }
    engine.finish(&mut findings);
    for finding in &findings {
        serde_json::to_string(finding).expect("a finding serialises");
    }

    let stats = engine.stats();
    assert_eq!(stats.accepted, EVENTS.len() as u64);
    assert_eq!(stats.rules.len(), rules.rules().len());
    assert_eq!(
        stats.rules.iter().map(|r| r.findings).sum::<u64>(),
        findings.len() as u64,
        "per-rule finding counts add up to the findings emitted"
    );

    // The saved state survives a JSON round trip and restores into a fresh
    // engine of the same rules without any rule starting over.
    let snapshot = engine.snapshot();
    let json = serde_json::to_string(&snapshot).expect("a snapshot serialises");
    let loaded: Snapshot = serde_json::from_str(&json).expect("a saved snapshot loads");
    let mut restored = Engine::new(rules);
    let fresh = restored.restore(loaded);
    assert!(
        fresh.as_ref().is_ok_and(Vec::is_empty),
        "rules restarted, or were refused, after restoring their own state: {fresh:?}"
    );
});
