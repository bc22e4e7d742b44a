//! Hostile input: malformed, oversized, deeply nested and binary lines,
//! generated at test time. Whatever comes in, `tokenwatch run` must not
//! panic, must exit 0, must report every rejected line with its line number,
//! and must account for every line: read = accepted + rejected + duplicates.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::{Output, summary_line};
use proptest::prelude::*;
use tokenwatch::{Engine, RuleSet};

/// Two rules: one reads `data.description`, one reads inside `authclaims`.
const RULES: &str = r#"
id: reads-description
title: reads-description
severity: low
match:
  sel:
    data.description|contains: needle
---
id: reads-claims
title: reads-claims
severity: low
match:
  sel:
    authclaims.sub: alice
"#;

const T0: &str = "2026-03-07T14:00:00Z";

/// A JSON object from members given as (key, raw JSON value).
fn obj<K: AsRef<str>>(members: &[(K, String)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{}\":{v}", k.as_ref()))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn s(text: &str) -> String {
    format!("\"{text}\"")
}

/// The members of a valid issued event.
fn issued_members(id: &str, data: &str) -> Vec<(String, String)> {
    [
        ("id", s(id)),
        ("type", s("com.qlik.oauth-token.issued")),
        ("source", s("s")),
        ("specversion", s("1.0")),
        ("tenantid", s("t")),
        ("time", s(T0)),
        ("data", data.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A valid issued event whose description contains the needle.
fn issued(id: &str) -> String {
    obj(&issued_members(id, r#"{"description":"a needle"}"#))
}

/// A valid issued event with the given `data`.
fn issued_with_data(id: &str, data: &str) -> String {
    obj(&issued_members(id, data))
}

/// An issued event with one member replaced (or removed when `value` is None).
fn issued_changed(id: &str, key: &str, value: Option<&str>) -> String {
    let mut members = issued_members(id, r#"{"description":"a needle"}"#);
    match value {
        Some(v) => {
            if let Some(slot) = members.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = v.to_owned();
            } else {
                members.push((key.to_owned(), v.to_owned()));
            }
        }
        None => members.retain(|(k, _)| *k != key),
    }
    obj(&members)
}

/// A revoked event with the given `data` members (raw JSON).
fn revoked_with(id: &str, data: &[(&str, String)]) -> String {
    obj(&[
        ("id", s(id)),
        ("type", s("com.qlik.core.oauth-token.revoked")),
        ("source", s("s")),
        ("specversion", s("1.0")),
        ("tenantid", s("t")),
        ("time", s(T0)),
        ("data", obj(data)),
    ])
}

fn revoked_data() -> Vec<(&'static str, String)> {
    vec![
        ("revokedAt", s(T0)),
        ("revokedContext", r#"{"userId":"u1"}"#.to_owned()),
        ("revokedByBearer", "false".to_owned()),
    ]
}

/// What must happen to one input line.
#[derive(Debug, Clone)]
enum Expect {
    /// Accepted, giving this many findings.
    Accepted(usize),
    /// Rejected; the reason mentions this text.
    Rejected(&'static str),
    /// Dropped as a duplicate.
    Duplicate,
    /// Blank: skipped and not counted.
    Skipped,
}

/// Input lines and what each must give.
#[derive(Default)]
struct Input {
    lines: Vec<(Vec<u8>, Expect)>,
}

impl Input {
    fn push(&mut self, line: impl Into<Vec<u8>>, expect: Expect) {
        let line = line.into();
        assert!(!line.contains(&b'\n'), "a generated line holds a newline");
        self.lines.push((line, expect));
    }

    /// The lines joined with `\n`; the last one without a newline unless
    /// `final_newline`.
    fn bytes(&self, final_newline: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (line, _)) in self.lines.iter().enumerate() {
            out.extend_from_slice(line);
            if final_newline || i + 1 < self.lines.len() {
                out.push(b'\n');
            }
        }
        out
    }

    fn count(&self, pick: impl Fn(&Expect) -> bool) -> u64 {
        self.lines.iter().filter(|(_, e)| pick(e)).count() as u64
    }

    fn accepted(&self) -> u64 {
        self.count(|e| matches!(e, Expect::Accepted(_)))
    }

    fn rejected(&self) -> u64 {
        self.count(|e| matches!(e, Expect::Rejected(_)))
    }

    fn duplicates(&self) -> u64 {
        self.count(|e| matches!(e, Expect::Duplicate))
    }

    fn read(&self) -> u64 {
        self.count(|e| !matches!(e, Expect::Skipped))
    }

    fn findings(&self) -> usize {
        self.lines
            .iter()
            .map(|(_, e)| match e {
                Expect::Accepted(n) => *n,
                _ => 0,
            })
            .sum()
    }

    /// Rejected line numbers (1-based) and the text each reason must hold.
    fn rejections(&self) -> BTreeMap<u64, &'static str> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, (_, e))| match e {
                Expect::Rejected(text) => Some((i as u64 + 1, *text)),
                _ => None,
            })
            .collect()
    }
}

/// The `<label>:<line>: rejected: <reason>` lines of stderr, by line number.
/// With no label (standard input, whose name is not fixed), any label.
fn reported_rejections(stderr: &str, label: Option<&str>) -> BTreeMap<u64, String> {
    let mut found = BTreeMap::new();
    for line in stderr.lines() {
        let Some((place, reason)) = line.split_once(": rejected: ") else {
            continue;
        };
        let Some((name, number)) = place.rsplit_once(':') else {
            continue;
        };
        if label.is_some_and(|label| label != name) {
            continue;
        }
        let number: u64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad line number in {line:?}"));
        assert!(
            found.insert(number, reason.to_owned()).is_none(),
            "line {number} reported twice"
        );
    }
    found
}

/// Checks a run against what the input lines must give.
fn check_run(out: &Output, label: Option<&str>, input: &Input) {
    let stderr = out.stderr_text();
    let stdout = out.stdout_text();
    assert!(
        !stderr.contains("panicked"),
        "the binary panicked:\n{stderr}"
    );
    assert_eq!(out.status, Some(0), "exit status; stderr:\n{stderr}");

    let want = summary_line(
        input.read(),
        input.accepted(),
        input.rejected(),
        input.duplicates(),
    );
    assert_eq!(
        input.read(),
        input.accepted() + input.rejected() + input.duplicates()
    );
    let summary = stderr
        .lines()
        .find(|l| l.contains(" events read: "))
        .unwrap_or_else(|| panic!("no summary line on stderr:\n{stderr}"));
    // Later fields (late events, …) may follow the four fixed counts.
    let rest = summary.strip_prefix(want.as_str()).unwrap_or_else(|| {
        panic!("summary line\n  {summary}\nshould start with\n  {want}\nstderr:\n{stderr}")
    });
    assert!(
        rest.is_empty() || rest.starts_with(','),
        "summary line {summary:?} has more digits than {want:?}"
    );

    let reported = reported_rejections(&stderr, label);
    let expected = input.rejections();
    let reported_lines: Vec<u64> = reported.keys().copied().collect();
    let expected_lines: Vec<u64> = expected.keys().copied().collect();
    assert_eq!(
        reported_lines, expected_lines,
        "rejected line numbers (reported vs expected); stderr:\n{stderr}"
    );
    for (number, text) in &expected {
        let reason = &reported[number];
        assert!(!reason.trim().is_empty(), "line {number}: empty reason");
        assert!(
            reason.contains(text),
            "line {number}: reason {reason:?} should mention {text:?}"
        );
    }

    let findings: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        findings.len(),
        input.findings(),
        "number of findings; stdout:\n{stdout}"
    );
    for finding in findings {
        assert!(
            finding.starts_with("{\"rule\":\"") && finding.ends_with('}'),
            "a finding is not one JSON object per line: {finding:?}"
        );
    }
}

/// Writes the rules and the input into `dir` and runs
/// `tokenwatch run --rules rules.yaml [extra…] <name>`.
fn run_file(dir: &Path, name: &str, bytes: &[u8], extra: &[&str]) -> Output {
    fs::write(dir.join("rules.yaml"), RULES).expect("write rules");
    fs::write(dir.join(name), bytes).expect("write input");
    let mut args = vec!["run", "--rules", "rules.yaml"];
    args.extend_from_slice(extra);
    args.push(name);
    common::run(dir, &args, None)
}

/// Peak resident memory of `tokenwatch ARGS` run in `dir`, in bytes, read
/// from `/proc` while it runs (its high-water mark only grows).
#[cfg(target_os = "linux")]
fn peak_memory(dir: &Path, args: &[&str]) -> u64 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokenwatch"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tokenwatch starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    while child.try_wait().expect("wait works").is_none() {
        let status = fs::read_to_string(&status_file).unwrap_or_default();
        let high_water = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        peak_kb = peak_kb.max(high_water.unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    peak_kb * 1024
}

#[test]
#[cfg(target_os = "linux")]
fn megabyte_lines_do_not_fill_memory_a_batch_at_a_time() {
    // 120 lines of 1 MB each: batches are cut by bytes too, so the lines
    // in flight stay a few megabytes, not 128 of them at once.
    let dir = tempfile::tempdir().unwrap();
    let pad = "p".repeat(1 << 20);
    let mut input = String::new();
    for i in 0..120 {
        input.push_str(&issued_with_data(
            &format!("m{i}"),
            &format!(r#"{{"pad":"{pad}"}}"#),
        ));
        input.push('\n');
    }
    fs::write(dir.path().join("rules.yaml"), RULES).unwrap();
    fs::write(dir.path().join("big.ndjson"), input).unwrap();
    for threads in ["1", "2"] {
        let args = [
            "run",
            "--rules",
            "rules.yaml",
            "--threads",
            threads,
            "big.ndjson",
        ];
        let peak = peak_memory(dir.path(), &args);
        assert!(peak < 80 << 20, "{threads} thread(s): {} MB", peak >> 20);
    }
}

#[test]
fn a_state_file_that_cannot_be_written_stops_the_run_before_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{}\n", issued("e1"));
    let out = run_file(
        dir.path(),
        "in.ndjson",
        input.as_bytes(),
        &["--state", "missing-directory/state.json"],
    );
    assert_eq!(out.status, Some(1));
    assert!(out.stdout.is_empty(), "no findings before the failure");
    assert!(
        out.stderr_text().contains("cannot save state"),
        "{}",
        out.stderr_text()
    );
}

fn mixed_input() -> Input {
    use Expect::*;
    let mut input = Input::default();
    input.push(issued("ok-1"), Accepted(1));

    // Truncated JSON and trailing garbage.
    let whole = issued("cut");
    for cut in [1, 10, whole.len() / 2, whole.len() - 1] {
        input.push(&whole.as_bytes()[..cut], Rejected(""));
    }
    input.push(format!("{} x", issued("garbage-after")), Rejected(""));
    input.push(format!("{}{{}}", issued("two-objects")), Rejected(""));

    // Well-formed JSON that is not an object.
    for value in [
        "[1,2]",
        "[]",
        "\"a string\"",
        "42",
        "-1.5e3",
        "null",
        "true",
    ] {
        input.push(value, Rejected(""));
    }

    // Each required field missing.
    for field in ["id", "type", "source", "specversion", "tenantid", "data"] {
        input.push(issued_changed("missing", field, None), Rejected(field));
    }
    for field in ["revokedAt", "revokedContext", "revokedByBearer"] {
        let mut data = revoked_data();
        data.retain(|(k, _)| *k != field);
        input.push(revoked_with("revoked-missing", &data), Rejected(field));
    }
    input.push(
        obj(&[
            ("id", s("other-no-data")),
            ("type", s("com.example.other")),
            ("source", s("s")),
            ("specversion", s("1.0")),
            ("tenantid", s("t")),
        ]),
        Rejected("data"),
    );

    // Wrong types.
    for (field, value) in [
        ("id", "5"),
        ("type", "null"),
        ("source", "[\"s\"]"),
        ("specversion", "1.0"),
        ("tenantid", "true"),
        ("data", "\"data\""),
        ("data", "[]"),
        ("time", "1772892000"),
        ("originip", "167772161"),
    ] {
        input.push(
            issued_changed("wrong-type", field, Some(value)),
            Rejected(field),
        );
    }
    for (field, value) in [
        ("revokedByBearer", "\"false\""),
        ("revokedByBearer", "0"),
        ("revokedContext", "[\"u1\"]"),
        ("revokedContext", "{}"),
        ("revokedAt", "1772892000"),
    ] {
        let mut data = revoked_data();
        for member in &mut data {
            if member.0 == field {
                member.1 = value.to_owned();
            }
        }
        input.push(revoked_with("revoked-wrong", &data), Rejected(field));
    }

    // Bad times.
    for value in [
        "2026-03-07T14:00:00",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "",
        "yesterday",
        "2026-03-07T14:00:00+25:00",
    ] {
        input.push(
            issued_changed("bad-time", "time", Some(&s(value))),
            Rejected("time"),
        );
    }
    input.push(
        issued_with_data("bad-issued-at", r#"{"issuedAt":"tomorrow"}"#),
        Rejected("issuedAt"),
    );
    let mut data = revoked_data();
    data[0].1 = s("2026-03-07");
    input.push(revoked_with("bad-revoked-at", &data), Rejected("revokedAt"));

    // Bad and good IP addresses.
    for value in [
        "10.0.0.256",
        "::gg",
        "1.2.3",
        "",
        "10.0.0.1/8",
        " 10.0.0.1",
        "localhost",
    ] {
        input.push(
            issued_changed("bad-ip", "originip", Some(&s(value))),
            Rejected("originip"),
        );
    }
    for (id, value) in [
        ("ip-v4", "10.0.0.1"),
        ("ip-v6", "2001:db8::1"),
        ("ip-mapped", "::ffff:10.0.0.1"),
        ("ip-any", "0.0.0.0"),
    ] {
        input.push(issued_changed(id, "originip", Some(&s(value))), Accepted(1));
    }

    // Control characters: raw ones inside strings are not JSON; escaped
    // ones are fine.
    for (n, raw) in [0x01u8, b'\t', 0x1f, 0x00].into_iter().enumerate() {
        let mut line = issued(&format!("raw-control-{n}")).into_bytes();
        let at = find(&line, b"a needle") + 1;
        line.insert(at, raw);
        input.push(line, Rejected(""));
    }
    input.push(
        issued_with_data(
            "escaped-control",
            r#"{"description":"\u0001\u001f\u0000 needle"}"#,
        ),
        Accepted(1),
    );
    input.push(issued(r"escaped-nul-\u0000-in-id"), Accepted(1));
    let mut nul_after = issued("nul-after").into_bytes();
    nul_after.push(0);
    input.push(nul_after, Rejected(""));
    input.push(vec![0u8; 16], Rejected(""));

    // Invalid UTF-8 (and valid multibyte text).
    for (n, bad) in [
        &[0xffu8][..],
        &[0xc0, 0xaf],
        &[0xed, 0xa0, 0x80],
        &[0xe2, 0x82],
    ]
    .into_iter()
    .enumerate()
    {
        let mut line = issued(&format!("bad-utf8-{n}")).into_bytes();
        let at = find(&line, b"a needle") + 1;
        line.splice(at..at, bad.iter().copied());
        input.push(line, Rejected(""));
    }
    input.push(
        issued_with_data("multibyte", r#"{"description":"Ärger 🎉 needle"}"#),
        Accepted(1),
    );

    // authclaims: a string that is not a JSON object leaves the claims
    // absent and the event accepted.
    let claims = |id: &str, claims: &str| issued_changed(id, "authclaims", Some(claims));
    input.push(
        claims("claims-alice", r#""{\"sub\":\"alice\"}""#),
        Accepted(2),
    );
    input.push(
        claims("claims-doubly-escaped", r#""{\\\"sub\\\":\\\"alice\\\"}""#),
        Accepted(2),
    );
    input.push(
        claims("claims-not-json", r#""{\"sub\":\"alice\"""#),
        Accepted(1),
    );
    input.push(claims("claims-array", r#""[\"alice\"]""#), Accepted(1));
    input.push(claims("claims-empty", r#""""#), Accepted(1));

    // Whitespace: blank lines are skipped, padding around JSON is fine, CRLF
    // line ends are accepted.
    input.push("", Skipped);
    input.push("   ", Skipped);
    input.push("\t", Skipped);
    input.push("\r", Skipped);
    input.push(format!("  {}\t ", issued("padded")), Accepted(1));
    input.push(format!("{}\r", issued("crlf")), Accepted(1));

    // Duplicates: same (source, id) whatever the content or line end; the
    // same id from another source is another event.
    input.push(issued("ok-1"), Duplicate);
    input.push(format!("{}\r", issued("crlf")), Duplicate);
    input.push(issued_with_data("ok-1", "{}"), Duplicate);
    input.push(
        issued_changed("ok-1", "source", Some("\"s2\"")),
        Accepted(1),
    );
    input.push(
        issued_changed("ok-1", "type", Some("\"com.qlik.oauth-token.revoked\"")),
        Rejected("revoked"),
    );

    // Other event types are valid input.
    input.push(
        issued_changed("other-type", "type", Some("\"com.example.other\"")),
        Accepted(1),
    );

    // The last line has no newline (see `bytes(false)` below).
    input.push(issued("last-line"), Accepted(1));
    input
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn every_hostile_line_is_accounted_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = mixed_input();
    let out = run_file(dir.path(), "mixed.ndjson", &input.bytes(false), &[]);
    check_run(&out, Some("mixed.ndjson"), &input);
}

#[test]
fn hostile_lines_from_stdin() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("rules.yaml"), RULES).expect("write rules");
    let input = mixed_input();
    let out = common::run(
        dir.path(),
        &["run", "--rules", "rules.yaml", "-"],
        Some(&input.bytes(false)),
    );
    check_run(&out, None, &input);
}

#[test]
fn two_megabyte_strings() {
    let big = "x".repeat(2 << 20);
    let mut input = Input::default();
    input.push(
        issued_with_data("big-read", &format!(r#"{{"description":"{big} needle"}}"#)),
        Expect::Rejected(""),
    );
    input.push(issued("small"), Expect::Accepted(1));
    input.push(
        issued_with_data(
            "big-unread",
            &format!(r#"{{"description":"needle","blob":"{big}"}}"#),
        ),
        Expect::Rejected(""),
    );
    input.push(
        issued_changed("big-claims", "authclaims", Some(&s(&big))),
        Expect::Rejected(""),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_file(dir.path(), "big.ndjson", &input.bytes(true), &[]);
    check_run(&out, Some("big.ndjson"), &input);

    // With a limit above the line length the same lines are accepted and
    // the 2 MB field is matched.
    let mut roomy = Input::default();
    for (line, _) in &input.lines {
        // Every line has a description with the needle; the 2 MB claims
        // string is not a JSON object, so it only leaves the claims absent.
        roomy.push(line.clone(), Expect::Accepted(1));
    }
    let out = run_file(
        dir.path(),
        "big.ndjson",
        &roomy.bytes(true),
        &["--max-line-bytes", "4000000"],
    );
    check_run(&out, Some("big.ndjson"), &roomy);
    assert!(
        out.stdout_text().contains(r#""events":["big-read"]"#),
        "the 2 MB description is matched"
    );
}

#[test]
fn hundred_thousand_levels_of_nesting() {
    const DEPTH: usize = 100_000;
    let arrays = format!("{}1{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(DEPTH), "}".repeat(DEPTH));
    let mut input = Input::default();
    // In a field a rule reads: refused.
    input.push(
        issued_with_data("deep-read", &format!(r#"{{"description":{arrays}}}"#)),
        Expect::Rejected(""),
    );
    // In fields no rule reads: skipped, the event is evaluated.
    input.push(
        issued_with_data(
            "deep-unread",
            &format!(r#"{{"unread":{arrays},"description":"needle"}}"#),
        ),
        Expect::Accepted(1),
    );
    input.push(
        issued_changed("deep-unread-top", "extension", Some(&objects)),
        Expect::Accepted(1),
    );
    // The whole line nested: not an object.
    input.push(arrays.clone(), Expect::Rejected(""));
    input.push(objects.clone(), Expect::Rejected(""));
    // Unbalanced: never closed.
    input.push("[".repeat(DEPTH), Expect::Rejected(""));
    input.push(
        format!(r#"{{"id":"open","data":{}"#, r#"{"a":"#.repeat(DEPTH)),
        Expect::Rejected(""),
    );
    input.push(issued("after-deep"), Expect::Accepted(1));

    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_file(dir.path(), "deep.ndjson", &input.bytes(true), &[]);
    check_run(&out, Some("deep.ndjson"), &input);
}

#[test]
fn lines_over_max_line_bytes_are_kept_verbatim_in_errors() {
    let mut input = Input::default();
    input.push(issued("short"), Expect::Accepted(1));
    let long = issued_with_data(
        "long",
        &format!(r#"{{"description":"needle {}"}}"#, "y".repeat(400)),
    );
    input.push(long, Expect::Rejected(""));
    let mut long_binary = b"\xff\xfe".to_vec();
    long_binary.extend(std::iter::repeat_n(0xc3u8, 500));
    long_binary.extend_from_slice(b"\x00\x01\x7f");
    input.push(long_binary, Expect::Rejected(""));
    input.push(b"{\"id\":\"\xff\"}".to_vec(), Expect::Rejected(""));
    input.push(b"{\x00}".to_vec(), Expect::Rejected(""));
    // Well-formed, but not an event: rejected after being read in full.
    input.push(
        br#"{"id":"x","type":"com.qlik.oauth-token.issued"}"#.to_vec(),
        Expect::Rejected(""),
    );
    input.push(issued("after"), Expect::Accepted(1));

    let dir = tempfile::tempdir().expect("temp dir");
    let errors = dir.path().join("rejected.txt");
    let out = run_file(
        dir.path(),
        "limits.ndjson",
        &input.bytes(true),
        &[
            "--max-line-bytes",
            "300",
            "--errors",
            errors.to_str().expect("UTF-8 path"),
        ],
    );
    check_run(&out, Some("limits.ndjson"), &input);

    // The errors file: for each rejected line a `# file:line: reason` line,
    // then the line's bytes exactly.
    let kept = fs::read(&errors).expect("errors file written");
    let stderr = out.stderr_text();
    let reasons = reported_rejections(&stderr, Some("limits.ndjson"));
    let mut want = Vec::new();
    for (number, reason) in &reasons {
        want.extend_from_slice(format!("# limits.ndjson:{number}: {reason}\n").as_bytes());
        want.extend_from_slice(&input.lines[*number as usize - 1].0);
        want.push(b'\n');
    }
    assert_eq!(reasons.len(), 5);
    assert!(
        kept == want,
        "errors file differs:\n{}",
        common::diff(
            &String::from_utf8_lossy(&want),
            &String::from_utf8_lossy(&kept)
        )
    );
}

fn engine() -> Engine {
    let rules = RuleSet::from_yaml("hostile.yaml", RULES).expect("rules compile");
    Engine::new(Arc::new(rules))
}

/// Feeds lines to a library engine; returns (accepted, rejected, duplicates)
/// after checking that every line was counted once.
fn feed(engine: &mut Engine, lines: &[Vec<u8>]) -> (u64, u64, u64) {
    let mut findings = Vec::new();
    for line in lines {
        let _ = engine.process(line, &mut findings);
    }
    let stats = engine.stats();
    assert_eq!(stats.read, lines.len() as u64);
    assert_eq!(
        stats.read,
        stats.accepted + stats.rejected + stats.duplicates
    );
    (stats.accepted, stats.rejected, stats.duplicates)
}

#[test]
fn library_rejects_every_truncation_of_an_event() {
    let whole = issued_with_data(
        "trunc",
        r#"{"description":"a needle","scopes":["a","b"],"revokedContext":{"userId":"u"}}"#,
    )
    .into_bytes();
    let mut lines: Vec<Vec<u8>> = (1..whole.len()).map(|n| whole[..n].to_vec()).collect();
    lines.push(whole.clone());
    lines.push(whole.clone());
    let (accepted, rejected, duplicates) = feed(&mut engine(), &lines);
    assert_eq!(
        (accepted, rejected, duplicates),
        (1, whole.len() as u64 - 1, 1)
    );
}

#[test]
fn library_survives_every_single_byte_corruption() {
    let whole = issued_changed(
        "flip",
        "authclaims",
        Some(r#""{\"sub\":\"alice\",\"n\":[1,{\"x\":null}]}""#),
    )
    .into_bytes();
    let mut lines = Vec::new();
    for at in 0..whole.len() {
        for byte in [0x00u8, 0xff, b'"', b'{', b'[', b'\\', b'\r', b'9'] {
            let mut line = whole.clone();
            line[at] = byte;
            lines.push(line);
        }
    }
    feed(&mut engine(), &lines);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn library_survives_arbitrary_bytes(lines in prop::collection::vec(
        prop::collection::vec(any::<u8>(), 0..200), 1..20)) {
        feed(&mut engine(), &lines);
    }

    #[test]
    fn library_survives_arbitrary_field_text(text in ".{0,64}", id in "[a-z]{1,8}") {
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '"' => vec!['\\', '"'],
                '\\' => vec!['\\', '\\'],
                c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32).chars().collect(),
                c => vec![c],
            })
            .collect();
        let line = issued_with_data(&id, &format!(r#"{{"description":"{escaped}"}}"#));
        let claims = issued_changed(&id, "authclaims", Some(&format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))));
        let (accepted, rejected, duplicates) = feed(&mut engine(), &[line.into_bytes(), claims.into_bytes()]);
        // Valid JSON with valid fields: the first is accepted, the second
        // is a duplicate of it (same source and id).
        prop_assert_eq!((accepted, rejected, duplicates), (1, 0, 1));
    }
}
