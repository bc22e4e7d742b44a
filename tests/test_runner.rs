//! The output of `tokenwatch test` itself: passing, failing and erroring
//! rule tests, the exit status, and the JUnit XML file.

use std::fs;
use std::process::Command;

fn tokenwatch(args: &[&str]) -> (String, String, Option<i32>) {
    let output = Command::new(env!("CARGO_BIN_EXE_tokenwatch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("tokenwatch runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code(),
    )
}

fn expected(name: &str) -> String {
    fs::read_to_string(format!(
        "{}/tests/test_runner/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("expected output file")
}

#[test]
fn passing_tests_exit_zero() {
    let (stdout, _, status) = tokenwatch(&["test", "tests/test_runner/passing.yaml"]);
    assert_eq!(stdout, expected("passing.expected"));
    assert_eq!(status, Some(0));
}

#[test]
fn failures_and_errors_are_explained_and_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (stdout, _, status) = tokenwatch(&[
        "test",
        "tests/test_runner/failing.yaml",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(stdout, expected("failing.expected"));
    assert_eq!(status, Some(1));
    let xml = fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuites name="tokenwatch" tests="5" failures="2" errors="2">"#),
        "{xml}"
    );
    assert!(xml.contains(r#"<testcase classname="burst" name="five tokens in a minute fire" file="tests/test_runner/failing.yaml" line="15"/>"#), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(
        xml.contains(r#"<failure message="expected 1 finding(s)">expected: 1 finding(s)"#),
        "{xml}"
    );
    assert!(xml.contains("<error message=\"event 1 was rejected: missing required field &apos;data.revokedByBearer&apos;\">"), "{xml}");
}

#[test]
fn filter_selects_tests_by_name() {
    let (stdout, _, status) = tokenwatch(&[
        "test",
        "tests/test_runner/failing.yaml",
        "--filter",
        "five tokens",
    ]);
    assert_eq!(
        stdout,
        "ok      burst: five tokens in a minute fire\ntests: 1 passed, 0 failed\n"
    );
    assert_eq!(status, Some(0));
}

#[test]
fn strict_check_names_rules_without_quiet_tests_and_github_format() {
    let (stdout, stderr, status) = tokenwatch(&[
        "check",
        "--strict",
        "--format",
        "github",
        "tests/test_runner/failing.yaml",
    ]);
    assert_eq!(status, Some(1));
    assert!(stdout.contains("::error file=tests/test_runner/failing.yaml,line=1,col=1::rule 'burst' has no description\n"), "{stdout}");
    assert!(stdout.contains("::error file=tests/test_runner/failing.yaml,line=1,col=1::rule 'burst' has no ATT&CK technique tag"), "{stdout}");
    assert!(!stdout.contains("no test that stays quiet"), "{stdout}");
    assert!(stderr.contains("error(s)"), "{stderr}");
    let (_, _, status) = tokenwatch(&["check", "tests/test_runner/failing.yaml"]);
    assert_eq!(status, Some(0), "without --strict the lint does not apply");
}

#[test]
fn test_files_beside_rules_read_events_and_expectations_from_files() {
    let (stdout, _, status) = tokenwatch(&["test", "tests/test_runner/scenario"]);
    assert_eq!(
        stdout,
        "ok      fanout: the recorded scenario fires once\nok      fanout: two users stay quiet\ntests: 2 passed, 0 failed\n"
    );
    assert_eq!(status, Some(0));
    let (_, stderr, status) = tokenwatch(&["check", "tests/test_runner/scenario"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("1 rule(s) and 2 test(s) in 2 file(s) checked"),
        "{stderr}"
    );
}

#[test]
fn a_test_does_not_depend_on_the_day_it_runs() {
    // `run` takes a last event dated far past the wall clock for a skewed
    // clock; a test must give the same result whenever CI runs it.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("future.yaml");
    fs::write(
        &rules,
        "id: any-grant\ntitle: Any grant\nseverity: low\nmatch:\n  s:\n    data.grantType|exists: true\ncorrelation:\n  type: event_count\n  group-by: [tenantid]\n  timespan: 1m\n  condition: {gte: 1}\ntests:\n  - name: an event in 2999 counts\n    events:\n      - {base: issued, time: '2999-01-01T00:00:00Z'}\n    expect: {findings: 1}\n",
    )
    .unwrap();
    let (stdout, _, status) = tokenwatch(&["test", rules.to_str().unwrap()]);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.contains("tests: 1 passed, 0 failed"), "{stdout}");
}
