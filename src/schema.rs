//! The fields Qlik documents for the OAuth token events, used to check rule
//! field paths at compile time and to suggest the intended name for a typo.

use crate::event::EventKind;

/// The OAuth token event types, in both spellings: the first two are the
/// original names, the last two their current ones.
pub const OAUTH_TYPES: [&str; 4] = [
    "com.qlik.oauth-token.issued",
    "com.qlik.oauth-token.revoked",
    "com.qlik.core.oauth-token.issued",
    "com.qlik.core.oauth-token.revoked",
];

/// The other spelling of an OAuth token event type (the original name for
/// the current one and back), since both name the same kind of event;
/// `ignore_case` compares regardless of ASCII case.
pub fn other_spelling(event_type: &str, ignore_case: bool) -> Option<&'static str> {
    let at = OAUTH_TYPES.iter().position(|&t| match ignore_case {
        true => t.eq_ignore_ascii_case(event_type),
        false => t == event_type,
    })?;
    Some(OAUTH_TYPES[(at + 2) % 4])
}

/// Envelope fields of every CloudEvent of the family.
const ENVELOPE: &[&str] = &[
    "id",
    "time",
    "type",
    "source",
    "specversion",
    "datacontenttype",
    "userid",
    "authtype",
    "originip",
    "tenantid",
    "sessionid",
    "authclaims",
    "data",
    "meta",
    "meta.userAgent",
    "traceparent",
    "tracestate",
];

/// `data` fields of the issued event.
const ISSUED: &[&str] = &[
    "data.id",
    "data.scopes",
    "data.appType",
    "data.ownerId",
    "data.issuedAt",
    "data.tenantId",
    "data.createdBy",
    "data.grantType",
    "data.deviceType",
    "data.description",
    "data.resourceOwner",
    "data.issuedToClientId",
    "data.userType",
];

/// `data` fields of the revoked event.
const REVOKED: &[&str] = &[
    "data.revokedAt",
    "data.revokedBy",
    "data.revokedContext",
    "data.revokedContext.userId",
    "data.revokedContext.grantId",
    "data.revokedContext.clientId",
    "data.revokedContext.tenantId",
    "data.revokedByBearer",
    "data.userType",
];

/// Fields derived from the event time, for every kind.
pub const DERIVED: &[&str] = &[crate::fields::HOUR, crate::fields::WEEKDAY];

/// The documented paths of an event kind; `None` for other event types,
/// whose fields are not known.
pub fn known_paths(kind: EventKind) -> Option<impl Iterator<Item = &'static str>> {
    let data = match kind {
        EventKind::Issued => ISSUED,
        EventKind::Revoked => REVOKED,
        EventKind::Other => return None,
    };
    Some(ENVELOPE.iter().chain(data).chain(DERIVED).copied())
}

/// The two OAuth token event kinds.
pub const OAUTH_KINDS: [EventKind; 2] = [EventKind::Issued, EventKind::Revoked];

/// The documented paths of both OAuth token event kinds (those they share
/// twice).
pub fn oauth_paths() -> impl Iterator<Item = &'static str> {
    OAUTH_KINDS.into_iter().filter_map(known_paths).flatten()
}

/// True when `path` is documented for `kind`. Paths inside `authclaims` are
/// free-form claims and always accepted.
pub fn is_known(kind: EventKind, path: &str) -> bool {
    if path.starts_with("authclaims.") || DERIVED.contains(&path) {
        return true;
    }
    known_paths(kind).is_some_and(|mut paths| paths.any(|p| p == path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_each_kind() {
        assert!(is_known(EventKind::Issued, "data.grantType"));
        assert!(!is_known(EventKind::Revoked, "data.grantType"));
        assert!(is_known(EventKind::Revoked, "data.revokedContext.userId"));
        assert!(is_known(EventKind::Issued, "authclaims.anything"));
        assert!(!is_known(EventKind::Other, "data.grantType"));
    }
}
