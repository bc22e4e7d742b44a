//! Golden tests: run the built `tokenwatch` binary on every case directory
//! under `tests/golden/` and compare what it prints with the expected files.
//!
//! A case directory holds:
//!
//! - `rules.yaml`: the rules (`--rules`);
//! - `events.ndjson`: the input events;
//! - `expected.ndjson`: the exact findings on stdout, in order;
//! - `expected.stderr` (optional): the exact stderr;
//! - `expected.status` (optional): the exit status (0 when absent);
//! - `expected.errors` (optional): the exact `--errors` file; the run gets
//!   `--errors` pointing at a temporary file;
//! - `args` (optional): extra flags for `run`, one per line.
//!
//! The binary runs in `tests/golden/` as
//! `tokenwatch run --rules <case>/rules.yaml [args…] <case>/events.ndjson`,
//! so file names in messages read `<case>/events.ndjson:<line>`.
//!
//! `TOKENWATCH_BLESS=1 cargo test --test golden` rewrites `expected.ndjson`
//! and every optional expected file that exists from the actual output.
//! Expected files are written from the documented semantics; bless only
//! after reading that the new output is right.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn case_dirs() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(golden_root())
        .expect("tests/golden exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn read_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_optional(path: &Path) -> Option<String> {
    path.exists().then(|| read_text(path))
}

/// One comparison of an expected file with what the run produced.
struct Check {
    file: PathBuf,
    expected: String,
    actual: String,
}

/// Runs one case; returns its comparisons and the stderr of the run.
fn run_case(dir: &Path) -> (Vec<Check>, String) {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("case directory names are UTF-8")
        .to_owned();
    for required in ["rules.yaml", "events.ndjson", "expected.ndjson"] {
        assert!(
            dir.join(required).is_file(),
            "golden case '{name}' has no {required}"
        );
    }
    let rules = format!("{name}/rules.yaml");
    let events = format!("{name}/events.ndjson");
    let extra: Vec<String> = read_optional(&dir.join("args"))
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let errors_path = scratch.path().join("errors.txt");
    let errors_expected = dir.join("expected.errors");

    let mut args: Vec<String> = vec!["run".into(), "--rules".into(), rules];
    args.extend(extra);
    if errors_expected.exists() {
        args.push("--errors".into());
        args.push(errors_path.to_str().expect("UTF-8 temp path").to_owned());
    }
    args.push(events);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::run(&golden_root(), &args, None);

    let mut checks = vec![Check {
        file: dir.join("expected.ndjson"),
        expected: read_text(&dir.join("expected.ndjson")),
        actual: out.stdout_text(),
    }];
    let stderr_file = dir.join("expected.stderr");
    if let Some(expected) = read_optional(&stderr_file) {
        checks.push(Check {
            file: stderr_file,
            expected,
            actual: out.stderr_text(),
        });
    }
    let status_file = dir.join("expected.status");
    let expected_status = read_optional(&status_file).unwrap_or_else(|| "0\n".into());
    let actual_status = match out.status {
        Some(code) => format!("{code}\n"),
        None => "killed by a signal\n".into(),
    };
    if status_file.exists() || expected_status != actual_status {
        checks.push(Check {
            file: status_file,
            expected: expected_status,
            actual: actual_status,
        });
    }
    if errors_expected.exists() {
        checks.push(Check {
            expected: read_text(&errors_expected),
            actual: fs::read(&errors_path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| format!("<no errors file: {e}>\n")),
            file: errors_expected,
        });
    }
    (checks, out.stderr_text())
}

#[test]
fn golden_cases() {
    let bless = std::env::var("TOKENWATCH_BLESS").is_ok_and(|v| v == "1");
    let cases = case_dirs();
    assert!(!cases.is_empty(), "no golden cases under tests/golden");
    let mut failures = Vec::new();
    for dir in &cases {
        let (checks, stderr) = run_case(dir);
        let stderr_compared = checks.iter().any(|c| c.file.ends_with("expected.stderr"));
        for check in checks {
            if check.expected == check.actual {
                continue;
            }
            if bless {
                fs::write(&check.file, &check.actual)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", check.file.display()));
                eprintln!("blessed {}", check.file.display());
                continue;
            }
            let mut report = format!(
                "=== {} differs (- expected, + actual)\n{}",
                check.file.display(),
                common::diff(&check.expected, &check.actual)
            );
            if !stderr_compared {
                report.push_str(&format!("--- stderr of the run (not compared)\n{stderr}"));
            }
            failures.push(report);
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es) in {} cases:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
