//! The JSON scanner against serde_json: on well-formed documents and on
//! documents with a few bytes changed, both accept the same texts, and the
//! values the event parser files are the values serde_json reads.

use proptest::prelude::*;
use serde_json::Value as Json;
use tokenwatch::event::{EventBuf, Value};
use tokenwatch::fields::FieldTable;
use tokenwatch::json::Scanner;

fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        (-1e300f64..1e300).prop_map(Json::from),
        "[a-c\"\\\\/\u{e9}\u{1f600}\u{1} \t]{0,6}".prop_map(Json::String),
    ]
}

fn document() -> impl Strategy<Value = Json> {
    scalar().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec(("[abn]{1,2}", inner), 0..5)
                .prop_map(|members| Json::Object(members.into_iter().collect())),
        ]
    })
}

/// Bytes that change what a JSON text means.
const SIGNIFICANT: &[u8] = b"{}[]:,\"\\ 0-.eE+tfnu1\t\x01";

/// `text` with a few bytes inserted, removed or replaced.
fn mutated() -> impl Strategy<Value = String> {
    (
        document(),
        prop::collection::vec(
            (any::<prop::sample::Index>(), 0..3u8, 0..SIGNIFICANT.len()),
            1..4,
        ),
    )
        .prop_map(|(document, edits)| {
            let mut bytes = document.to_string().into_bytes();
            for (at, edit, byte) in edits {
                let at = at.index(bytes.len() + 1);
                match edit {
                    0 => bytes.insert(at, SIGNIFICANT[byte]),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ if at < bytes.len() => bytes[at] = SIGNIFICANT[byte],
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
}

fn scanner_accepts(text: &str) -> bool {
    let mut open = Vec::new();
    let mut scanner = Scanner::new(text, &mut open);
    scanner.skip_value().and_then(|()| scanner.end()).is_ok()
}

fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// An event around `data`, with every field the validator requires.
fn event(data: &Json) -> String {
    serde_json::json!({
        "id": "e", "type": "x", "source": "s", "specversion": "1.0", "tenantid": "t",
        "data": {"note": data, "n": {"a": data, "b": [data, data]}},
    })
    .to_string()
}

/// What serde_json reads at `path`, flattened the way the parser files it:
/// containers as a marker, array elements after their array's marker.
fn flatten(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Array(items) => {
            out.push("array".into());
            for item in items {
                flatten(item, out);
            }
        }
        Json::Object(_) => out.push("object".into()),
        Json::String(s) => out.push(format!("str {s}")),
        Json::Number(n) => out.push(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => format!("int {i}"),
            (None, Some(u)) => format!("uint {u}"),
            _ => format!("float {}", n.as_f64().unwrap_or(f64::NAN)),
        }),
        Json::Bool(b) => out.push(format!("bool {b}")),
        Json::Null => out.push("null".into()),
    }
}

fn filed(buf: &EventBuf, fields: &FieldTable, path: &str) -> Vec<String> {
    let Some(field) = fields.get(path) else {
        return Vec::new();
    };
    buf.values(field)
        .map(|value| match value {
            Value::Str(s) => format!("str {s}"),
            Value::Int(i) => format!("int {i}"),
            Value::UInt(u) => format!("uint {u}"),
            Value::Float(f) => format!("float {f}"),
            Value::Bool(b) => format!("bool {b}"),
            Value::Null => "null".into(),
            Value::Object => "object".into(),
            Value::Array => "array".into(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn well_formed_documents_are_accepted(document in document()) {
        let text = document.to_string();
        prop_assert!(scanner_accepts(&text), "{}", text);
        let pretty = serde_json::to_string_pretty(&document).unwrap_or_default();
        prop_assert!(scanner_accepts(&pretty), "{}", pretty);
    }

    #[test]
    fn changed_documents_are_judged_like_serde_json(text in mutated()) {
        prop_assert_eq!(scanner_accepts(&text), serde_accepts(&text), "{}", text);
    }

    #[test]
    fn filed_values_are_what_serde_json_reads(data in document()) {
        let mut fields = FieldTable::default();
        for path in ["data.note", "data.n.a", "data.n.b"] {
            fields.intern(path);
        }
        let mut buf = EventBuf::new(1 << 20);
        let line = event(&data);
        prop_assert!(buf.parse(line.as_bytes(), &fields).is_ok(), "{}", line);
        let mut expected = Vec::new();
        flatten(&data, &mut expected);
        prop_assert_eq!(&filed(&buf, &fields, "data.note"), &expected);
        prop_assert_eq!(&filed(&buf, &fields, "data.n.a"), &expected);
        let mut both = vec!["array".to_owned()];
        both.extend(expected.iter().cloned());
        both.extend(expected.iter().cloned());
        prop_assert_eq!(filed(&buf, &fields, "data.n.b"), both);
    }
}
