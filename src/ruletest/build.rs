//! Building test events: a named base event plus overrides, times relative
//! to the previous event, and `repeat` to expand a burst.

use serde_json::{Map, Value as Json};

use crate::diag::Diagnostics;
use crate::schema;
use crate::time::{Span, Timestamp};
use crate::yaml::Node;

/// When the first test event happens unless it says otherwise (a Monday,
/// 09:00 UTC).
pub const START: &str = "2026-03-02T09:00:00Z";

const TENANT: &str = "TiQ8GPVr8qI714Lp5ChAAFFaU24MJy69";
const USER: &str = "605a18af2ab08cdbfad09259";
const CLIENT: &str = "3e7651d5-98d9-467c-be0b-09623e6aa551";

/// The base events tests can start from.
pub fn base_event(name: &str) -> Option<Json> {
    let claims =
        format!(r#"{{"iss":"qlik.api.internal/edge-auth","sub":"{USER}","subType":"user"}}"#);
    let envelope = |kind: &str| {
        serde_json::json!({
            "id": "",
            "time": START,
            "type": format!("com.qlik.oauth-token.{kind}"),
            "source": "com.qlik/edge-auth",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "userid": USER,
            "authtype": "user",
            "originip": "198.51.100.23",
            "tenantid": TENANT,
            "sessionid": "WZhiEfgW2bLd7HgR-jjzAh6VnicipweT",
            "authclaims": claims,
        })
    };
    let (mut event, data) = match name {
        "issued" => (
            envelope("issued"),
            serde_json::json!({
                "id": "601abc3fe95f07dbb73ce50f",
                "scopes": ["user_default"],
                "appType": "web",
                "ownerId": USER,
                "issuedAt": START,
                "tenantId": TENANT,
                "createdBy": CLIENT,
                "grantType": "authorization_code",
                "deviceType": "Dell XPS 15",
                "description": "browser session",
                "resourceOwner": USER,
                "issuedToClientId": CLIENT,
            }),
        ),
        "revoked" => (
            envelope("revoked"),
            serde_json::json!({
                "revokedAt": START,
                "revokedBy": USER,
                "revokedContext": {"userId": USER, "grantId": "601abc3fe95f07dbb73ce50f"},
                "revokedByBearer": true,
            }),
        ),
        _ => return None,
    };
    event["data"] = data;
    Some(event)
}

/// Keys of a test event that are instructions, not fields.
const DIRECTIVES: &[&str] = &["base", "repeat", "unset"];

/// The running state while a test's events are built.
#[derive(Debug, Default)]
pub struct EventBuilder {
    previous: Option<Timestamp>,
}

/// A built test event, and whether it still needs a generated `id`.
struct Built {
    event: Json,
    needs_id: bool,
}

/// Builds the event lines of a test's `events:` list.
pub fn build_events(
    list: &Node,
    builder: &mut EventBuilder,
    file: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    let Some(items) = list.as_seq() else {
        diags.error("E210", file, list.span, "events must be a list".into());
        return None;
    };
    let errors = diags.error_count();
    let mut built = Vec::new();
    for item in items {
        builder.expand(item, file, diags, &mut built);
    }
    (diags.error_count() == errors).then(|| with_ids(built))
}

/// Gives each base event without an `id` a unique one (`test-1`,
/// `test-2`, …), skipping the ids that the test's events set themselves,
/// and writes each event as a line.
fn with_ids(built: Vec<Built>) -> Vec<String> {
    let taken: std::collections::HashSet<String> = built
        .iter()
        .filter(|b| !b.needs_id)
        .filter_map(|b| b.event.get("id")?.as_str().map(str::to_owned))
        .collect();
    let mut generated = (1u64..)
        .map(|n| format!("test-{n}"))
        .filter(|id| !taken.contains(id));
    built
        .into_iter()
        .map(|mut b| {
            if b.needs_id {
                b.event["id"] = Json::String(generated.next().unwrap_or_default());
            }
            b.event.to_string()
        })
        .collect()
}

impl EventBuilder {
    fn expand(&mut self, item: &Node, file: &str, diags: &mut Diagnostics, out: &mut Vec<Built>) {
        let Some(entries) = item.as_map() else {
            diags.error(
                "E211",
                file,
                item.span,
                "a test event must be a mapping".into(),
            );
            return;
        };
        let base = item
            .get("base")
            .map(|b| (b, b.as_str().unwrap_or_default()));
        let mut event = match base {
            Some((node, name)) => match base_event(name) {
                Some(e) => e,
                None => {
                    diags.error_with(
                        "E212",
                        file,
                        node.span,
                        format!("unknown base event '{name}'"),
                        crate::diag::suggest(name, ["issued", "revoked"]),
                    );
                    return;
                }
            },
            None => Json::Object(Map::new()),
        };
        let (count, every) = match item.get("repeat") {
            None => (1, Span(1_000_000)),
            Some(r) => match repeat(r) {
                Ok(c) => c,
                Err((at, message)) => {
                    diags.error("E213", file, at, message);
                    return;
                }
            },
        };
        let written_time = item.get("time");
        let first_time = match written_time {
            Some(node) => match self.time(node) {
                Some(t) => Some(t),
                None => {
                    diags.error(
                        "E214",
                        file,
                        node.span,
                        "time must be RFC 3339 or relative to the previous event (+30s, -1m)"
                            .into(),
                    );
                    return;
                }
            },
            None if base.is_some() => Some(
                self.previous
                    .map_or_else(start, |p| p.plus(Span(1_000_000))),
            ),
            None => None,
        };
        // The fields of other event types are not known: only an OAuth
        // token event is checked for typos.
        let oauth = item
            .get("type")
            .and_then(Node::as_str)
            .is_none_or(|t| schema::OAUTH_TYPES.contains(&t));
        for (key, value) in entries {
            let name = key.as_str().unwrap_or_default();
            if !DIRECTIVES.contains(&name) && name != "time" {
                if base.is_some() && oauth {
                    warn_near_misses(name, key, value, file, diags);
                }
                set_path(&mut event, name, value.to_json());
            }
        }
        let unset: Vec<&str> = item
            .get("unset")
            .map(|u| match u.as_seq() {
                Some(items) => items.iter().filter_map(Node::as_str).collect(),
                None => u.as_str().into_iter().collect(),
            })
            .unwrap_or_default();
        let needs_id = base.is_some()
            && !unset.contains(&"id")
            && !entries.iter().any(|(k, _)| k.as_str() == Some("id"));
        for n in 1..=count {
            let mut copy = substitute(&event, n);
            let time = first_time.map(|t| {
                t.plus(Span(
                    every
                        .0
                        .saturating_mul(i64::try_from(n - 1).unwrap_or(i64::MAX)),
                ))
            });
            if let Some(t) = time {
                copy["time"] = Json::String(t.to_rfc3339());
                self.previous = Some(t);
                if base.is_some() {
                    sync_data_time(&mut copy, entries, &t.to_rfc3339());
                }
            }
            for path in &unset {
                remove_path(&mut copy, path);
            }
            out.push(Built {
                event: copy,
                needs_id,
            });
        }
    }

    fn time(&self, node: &Node) -> Option<Timestamp> {
        let text = node.as_str()?.trim();
        let reference = self.previous.unwrap_or_else(start);
        if let Some(rest) = text.strip_prefix('+') {
            return Span::parse_allowing_zero(rest)
                .ok()
                .map(|s| reference.plus(s));
        }
        if let Some(rest) = text.strip_prefix('-') {
            return Span::parse_allowing_zero(rest)
                .ok()
                .map(|s| reference.minus(s));
        }
        Timestamp::parse_rfc3339(text)
    }
}

/// Warns of a field a base event sets that is likely a typo of a known
/// field or of a directive (`data.grantTyp`, `tme`): the test would pass
/// for the wrong reason. Mappings are followed into their fields.
fn warn_near_misses(path: &str, key: &Node, value: &Node, file: &str, diags: &mut Diagnostics) {
    if schema::OAUTH_KINDS
        .iter()
        .any(|&k| schema::is_known(k, path))
    {
        for (inner, value) in value.as_map().unwrap_or_default() {
            let name = inner.as_str().unwrap_or_default();
            warn_near_misses(&format!("{path}.{name}"), inner, value, file, diags);
        }
        return;
    }
    let known = schema::oauth_paths();
    let directives = DIRECTIVES.iter().chain(&["time"]).copied();
    if let Some(hint) = crate::compile::near_miss(path, known.chain(directives)) {
        diags.warning(
            "W201",
            file,
            key.span,
            format!("test event sets '{path}', which is not a field of the OAuth token events"),
            Some(hint),
        );
    }
}

fn start() -> Timestamp {
    Timestamp::parse_rfc3339(START).unwrap_or(Timestamp(0))
}

/// Most events one `repeat` may expand to.
const MAX_REPEAT: u64 = 100_000;

/// Reads `repeat: {count: N, every: DURATION}`; an error points at the
/// part that is wrong.
fn repeat(node: &Node) -> Result<(u64, Span), (crate::yaml::Span, String)> {
    let usage = "repeat takes {count: N, every: DURATION}";
    let Some(entries) = node.as_map() else {
        return Err((node.span, usage.into()));
    };
    if let Some((key, _)) = entries
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), Some("count" | "every")))
    {
        let name = key.as_str().unwrap_or_default();
        return Err((key.span, format!("unknown key '{name}' in repeat: {usage}")));
    }
    let Some(count) = node.get("count") else {
        return Err((node.span, format!("repeat needs a count: {usage}")));
    };
    let count = count
        .to_json()
        .as_u64()
        .filter(|c| (1..=MAX_REPEAT).contains(c))
        .ok_or_else(|| {
            (
                count.span,
                format!("repeat count must be a whole number from 1 to {MAX_REPEAT}"),
            )
        })?;
    let every = match node.get("every") {
        Some(e) => match e.as_str() {
            Some(text) => Span::parse_allowing_zero(text)
                .map_err(|reason| (e.span, format!("repeat every: {reason}")))?,
            None => return Err((e.span, "repeat every must be a duration (2s, 1m)".into())),
        },
        None => Span(1_000_000),
    };
    Ok((count, every))
}

/// Keeps `data.issuedAt` / `data.revokedAt` of a base event at its time,
/// unless the test sets them.
fn sync_data_time(event: &mut Json, entries: &[(Node, Node)], time: &str) {
    for field in ["issuedAt", "revokedAt"] {
        let dotted = format!("data.{field}");
        let written = entries.iter().any(|(k, v)| {
            k.as_str() == Some(dotted.as_str())
                || (k.as_str() == Some("data") && v.get(field).is_some())
        });
        if !written
            && let Some(data) = event.get_mut("data").and_then(Json::as_object_mut)
            && data.contains_key(field)
        {
            data.insert(field.to_owned(), Json::String(time.to_owned()));
        }
    }
}

/// Sets a dotted path, merging mappings into existing objects.
fn set_path(event: &mut Json, path: &str, value: Json) {
    let mut target = event;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if !target.is_object() {
            *target = Json::Object(Map::new());
        }
        let Json::Object(map) = target else { return };
        if segments.peek().is_none() {
            match (map.get_mut(segment), value) {
                (Some(Json::Object(existing)), Json::Object(new)) => {
                    for (k, v) in new {
                        let mut holder = Json::Object(std::mem::take(existing));
                        set_path(&mut holder, &k, v);
                        if let Json::Object(merged) = holder {
                            *existing = merged;
                        }
                    }
                }
                (_, value) => {
                    map.insert(segment.to_owned(), value);
                }
            }
            return;
        }
        target = map
            .entry(segment.to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
    }
}

fn remove_path(event: &mut Json, path: &str) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (Some(parent), last),
        None => (None, path),
    };
    let mut target = event;
    if let Some(parent) = parent {
        for segment in parent.split('.') {
            match target.get_mut(segment) {
                Some(next) => target = next,
                None => return,
            }
        }
    }
    if let Json::Object(map) = target {
        map.remove(last);
    }
}

/// Replaces `{{n}}` in every string with the repetition number.
fn substitute(value: &Json, n: u64) -> Json {
    match value {
        Json::String(s) if s.contains("{{n}}") => Json::String(s.replace("{{n}}", &n.to_string())),
        Json::Array(items) => Json::Array(items.iter().map(|v| substitute(v, n)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, n)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;

    fn build(yaml: &str) -> Vec<Json> {
        let doc = parse_documents(yaml).unwrap().remove(0);
        let mut diags = Diagnostics::default();
        let lines = build_events(&doc, &mut EventBuilder::default(), "t.yaml", &mut diags).unwrap();
        assert!(!diags.has_errors(), "{:?}", diags.sorted());
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn bases_overrides_and_relative_times() {
        let events = build(
            "- base: issued\n  data.grantType: client_credentials\n- base: revoked\n  time: +30s\n  data:\n    revokedByBearer: false\n  unset: [originip]\n",
        );
        assert_eq!(events[0]["data"]["grantType"], "client_credentials");
        assert_eq!(events[0]["time"], START);
        assert_eq!(events[0]["data"]["issuedAt"], START);
        assert_eq!(events[1]["time"], "2026-03-02T09:00:30Z");
        assert_eq!(events[1]["data"]["revokedAt"], "2026-03-02T09:00:30Z");
        assert_eq!(events[1]["data"]["revokedByBearer"], false);
        assert_eq!(events[1]["data"]["revokedContext"]["userId"], USER);
        assert!(events[1].get("originip").is_none());
        assert_ne!(events[0]["id"], events[1]["id"]);
    }

    #[test]
    fn repeat_expands_a_burst() {
        let events = build(
            "- base: issued\n  time: +1m\n  data.resourceOwner: user-{{n}}\n  repeat: {count: 3, every: 2s}\n",
        );
        assert_eq!(events.len(), 3);
        assert_eq!(events[2]["time"], "2026-03-02T09:01:04Z");
        assert_eq!(events[2]["data"]["resourceOwner"], "user-3");
    }

    #[test]
    fn generated_ids_skip_the_ids_a_test_sets() {
        let events = build(
            "- {base: issued, id: test-2}\n- {base: issued}\n- {base: issued, repeat: {count: 2}}\n- {base: issued, unset: [id]}\n",
        );
        let ids: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.get("id").and_then(Json::as_str))
            .collect();
        assert_eq!(
            ids,
            [
                Some("test-2"),
                Some("test-1"),
                Some("test-3"),
                Some("test-4"),
                None
            ]
        );
    }
}
