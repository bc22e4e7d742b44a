//! Golden diagnostics: each broken rule file under `tests/diagnostics/` is
//! checked with `tokenwatch check`, and its stderr must equal the `.expected`
//! file next to it, byte for byte.
//!
//! Every case also lists what each diagnostic points at: the source text that
//! starts at the reported line and column. So a regenerated `.expected` file
//! cannot silently move a diagnostic to the wrong character.
//!
//! To regenerate the expected files after an intended change of wording, run
//! `TOKENWATCH_BLESS=1 cargo test --test diagnostics`, then read the diff.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DIR: &str = "tests/diagnostics";

/// One golden case: a rule file (or a directory of them) and, for each
/// expected diagnostic in order, the text its position must point at. A
/// snippet ending in `\n` must reach the end of the line.
struct Case {
    name: &'static str,
    path: &'static str,
    points_at: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "correlation_errors",
        path: "correlation_errors.yaml",
        points_at: &[
            "reisue]",
            "10 minutes\n",
            "{revoke: data.revokedContext.userId}",
            "new_valu\n",
            "type: new_value",
            "{gte: 3}",
        ],
    },
    Case {
        name: "missing_required_keys",
        path: "missing_required_keys.yaml",
        points_at: &[
            "description:",
            "description:",
            "description:",
            "description:",
        ],
    },
    Case {
        name: "severity_transposed",
        path: "severity_transposed.yaml",
        points_at: &["hgih\n"],
    },
    Case {
        name: "bad_severity_other_errors",
        path: "bad_severity_other_errors.yaml",
        points_at: &[
            "hgih\n",
            "data.grantTyp:",
            "startwith",
            "10.0.0.0/33\n",
            "nett\n",
        ],
    },
    Case {
        name: "empty_values",
        path: "empty_values.yaml",
        points_at: &["title:\n", "severity:\n", "sel:\n"],
    },
    Case {
        name: "test_errors_together",
        path: "test_errors_together.yaml",
        points_at: &["nolist: [x]}", "bogus\n"],
    },
    Case {
        name: "unknown_modifier",
        path: "unknown_modifier.yaml",
        points_at: &["contians"],
    },
    Case {
        name: "unknown_field",
        path: "unknown_field.yaml",
        points_at: &["data.grantTyp:"],
    },
    Case {
        name: "field_of_other_type",
        path: "field_of_other_type.yaml",
        points_at: &["data.revokedBy:"],
    },
    Case {
        name: "bad_regex",
        path: "bad_regex.yaml",
        points_at: &["admin(['\n"],
    },
    Case {
        name: "bad_cidr",
        path: "bad_cidr.yaml",
        points_at: &["300.1.2.0/24\n"],
    },
    Case {
        name: "unknown_list",
        path: "unknown_list.yaml",
        points_at: &["$corporate_network\n"],
    },
    Case {
        name: "duplicate_rule_id",
        path: "duplicate_rule_id.yaml",
        points_at: &["same-id\n"],
    },
    Case {
        name: "duplicate_list",
        path: "duplicate_list.yaml",
        points_at: &["networks\n"],
    },
    Case {
        name: "undefined_selection",
        path: "undefined_selection.yaml",
        points_at: &["admin_scop\n"],
    },
    Case {
        name: "unbalanced_parentheses",
        path: "unbalanced_parentheses.yaml",
        points_at: &["\n"],
    },
    Case {
        name: "unbalanced_parentheses_extra",
        path: "unbalanced_parentheses_extra.yaml",
        points_at: &[")\n"],
    },
    Case {
        name: "quantifier_matches_nothing",
        path: "quantifier_matches_nothing.yaml",
        points_at: &["x_*\n"],
    },
    Case {
        name: "quantifier_never_holds",
        path: "quantifier_never_holds.yaml",
        points_at: &["3 of sel_*"],
    },
    Case {
        name: "unnamed_test_other_errors",
        path: "unnamed_test_other_errors.yaml",
        points_at: &["events:", "nosuch"],
    },
    Case {
        name: "unknown_severity",
        path: "unknown_severity.yaml",
        points_at: &["medum\n"],
    },
    Case {
        name: "invalid_yaml",
        path: "invalid_yaml.yaml",
        points_at: &["]\n"],
    },
    Case {
        name: "syntax_error_mid_file",
        path: "syntax_error_mid_file",
        points_at: &["bogus\n", "]\n"],
    },
    Case {
        name: "duplicate_yaml_key",
        path: "duplicate_yaml_key.yaml",
        points_at: &["data.grantType: y\n"],
    },
    Case {
        name: "bad_suppress",
        path: "bad_suppress.yaml",
        points_at: &["30min\n"],
    },
    Case {
        name: "empty_selection",
        path: "empty_selection.yaml",
        points_at: &["{}\n", "- {}\n", "[]\n"],
    },
    Case {
        name: "multiline_condition",
        path: "multiline_condition.yaml",
        points_at: &["privat\n", "publc)\n", "{{originip\n"],
    },
    Case {
        name: "exists_not_boolean",
        path: "exists_not_boolean.yaml",
        points_at: &["yes\n"],
    },
    Case {
        name: "conflicting_modifiers",
        path: "conflicting_modifiers.yaml",
        points_at: &["startswith:"],
    },
    Case {
        name: "gt_not_number",
        path: "gt_not_number.yaml",
        points_at: &["yesterday\n"],
    },
    Case {
        name: "fieldref_list",
        path: "fieldref_list.yaml",
        points_at: &["[data.revokedContext.userId,", "data.scopes|fieldref|all:"],
    },
    Case {
        name: "unclosed_placeholder",
        path: "unclosed_placeholder.yaml",
        points_at: &["{{data.resourceOwner\"\n"],
    },
    Case {
        name: "placeholder_typo",
        path: "placeholder_typo.yaml",
        points_at: &["cuont}}", "timspan}}"],
    },
    Case {
        name: "unknown_top_level_key",
        path: "unknown_top_level_key.yaml",
        points_at: &["sevrity:"],
    },
    Case {
        name: "several_errors",
        path: "several_errors.yaml",
        points_at: &[
            "data.grantTyp:",
            "startwith:",
            "10.0.0.0/33\n",
            "nett\n",
            "10x\n",
            "data.resourceOwnr}}",
        ],
    },
    Case {
        name: "two_files",
        path: "two_files",
        points_at: &["endwith:", "critcal\n"],
    },
    Case {
        name: "bad_expect_file",
        path: "bad_expect_file",
        points_at: &["rule: burst\n", "test:", "oops\n", "[1, 2]\n"],
    },
    Case {
        name: "test_replaces_unknown_list",
        path: "test_replaces_unknown_list.yaml",
        points_at: &["wach:"],
    },
    Case {
        name: "bad_repeat",
        path: "bad_repeat.yaml",
        points_at: &["1q}", "0}", "evry:", "1.5h}", "3}", "{minutes: 1}"],
    },
    Case {
        name: "test_lists_do_not_compile",
        path: "test_lists_do_not_compile.yaml",
        points_at: &[
            "private_networks: [not",
            "private_networks: [10.0.0.0/33]",
            "198.51.100.0/24}",
        ],
    },
    Case {
        name: "escaped_condition",
        path: "escaped_condition.yaml",
        points_at: &["nativ\"", "{{data.grantType'"],
    },
    Case {
        name: "test_event_typos",
        path: "test_event_typos.yaml",
        points_at: &["data.grantTyp:", "tme:", "userI:", "repaet:"],
    },
    Case {
        name: "literal_wildcards",
        path: "literal_wildcards.yaml",
        points_at: &["*impersonation*\"", "admin*\"", "null]"],
    },
    Case {
        name: "undocumented_field",
        path: "undocumented_field.yaml",
        points_at: &["data.customField:", "data.x|exists:", "data.grantTyp:"],
    },
    Case {
        name: "ipv6_prefix",
        path: "ipv6_prefix.yaml",
        points_at: &["64\n"],
    },
    Case {
        name: "thresholds_never_met",
        path: "thresholds_never_met.yaml",
        points_at: &["{lt: 1}", "{field: data.resourceOwner, gte: 3, lte: 2}"],
    },
    Case {
        name: "unused_list_bad_items",
        path: "unused_list_bad_items.yaml",
        points_at: &["{a: 1}", "[x]"],
    },
    Case {
        name: "selections_without_condition",
        path: "selections_without_condition.yaml",
        points_at: &["native:"],
    },
    Case {
        name: "unknown_event_types",
        path: "unknown_event_types.yaml",
        points_at: &["5,", "com.qlik.oauth-token.isued]"],
    },
    Case {
        name: "misplaced_correlation_key",
        path: "misplaced_correlation_key.yaml",
        points_at: &["@houR\"", "prefix: 24"],
    },
    Case {
        name: "warnings_only",
        path: "warnings_only.yaml",
        points_at: &["unused:"],
    },
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenwatch"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .output()
        .expect("tokenwatch runs")
}

/// A diagnostic line split into file, line, column and level.
struct Located<'a> {
    file: &'a str,
    line: usize,
    col: usize,
    level: &'a str,
}

fn locate(line: &str) -> Option<Located<'_>> {
    let mut parts = line.splitn(5, ':');
    let file = parts.next()?;
    let line_no = parts.next()?.parse().ok()?;
    let col = parts.next()?.parse().ok()?;
    let level = parts.next()?.trim();
    parts.next()?;
    Some(Located {
        file,
        line: line_no,
        col,
        level,
    })
}

/// The diagnostic lines of a `check` run: all but the closing summary.
fn diagnostic_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("tokenwatch: "))
        .collect()
}

/// Checks that each diagnostic of `stderr` points at its snippet.
fn check_positions(case: &Case, stderr: &str) -> Result<(), String> {
    let lines = diagnostic_lines(stderr);
    if lines.len() != case.points_at.len() {
        return Err(format!(
            "{}: {} diagnostics but {} expected positions:\n{stderr}",
            case.name,
            lines.len(),
            case.points_at.len()
        ));
    }
    for (diagnostic, snippet) in lines.iter().zip(case.points_at) {
        let at = locate(diagnostic)
            .ok_or_else(|| format!("{}: not a diagnostic line: {diagnostic}", case.name))?;
        let text = fs::read_to_string(root().join(at.file))
            .map_err(|e| format!("{}: cannot read {}: {e}", case.name, at.file))?;
        let source_line = text
            .lines()
            .nth(at.line.wrapping_sub(1))
            .ok_or_else(|| format!("{}: no line {} in {}", case.name, at.line, at.file))?;
        let chars: Vec<char> = source_line.chars().collect();
        if at.col == 0 || at.col > chars.len() + 1 {
            return Err(format!(
                "{}: column {} is outside line {} ({} characters): {diagnostic}",
                case.name,
                at.col,
                at.line,
                chars.len()
            ));
        }
        let mut rest: String = chars[at.col - 1..].iter().collect();
        rest.push('\n');
        if !rest.starts_with(snippet) {
            return Err(format!(
                "{}: {diagnostic}\n  points at {rest:?}, expected it to start with {snippet:?}",
                case.name
            ));
        }
    }
    Ok(())
}

fn run_case(case: &Case) -> Result<(), String> {
    let path = format!("{DIR}/{}", case.path);
    let expected_path = root().join(DIR).join(format!("{}.expected", case.name));
    let output = check(&[&path]);
    let stderr = String::from_utf8(output.stderr).map_err(|e| e.to_string())?;
    if !output.stdout.is_empty() {
        return Err(format!(
            "{}: check wrote to stdout: {}",
            case.name,
            String::from_utf8_lossy(&output.stdout)
        ));
    }
    check_positions(case, &stderr)?;
    if std::env::var_os("TOKENWATCH_BLESS").is_some_and(|v| v == "1") {
        fs::write(&expected_path, &stderr).map_err(|e| e.to_string())?;
    }
    let expected = fs::read_to_string(&expected_path).map_err(|e| {
        format!(
            "{}: cannot read {}: {e}",
            case.name,
            expected_path.display()
        )
    })?;
    if stderr != expected {
        return Err(format!(
            "{}: stderr differs from {}\n--- expected\n{expected}--- actual\n{stderr}",
            case.name,
            expected_path.display()
        ));
    }
    let has_errors = diagnostic_lines(&expected)
        .iter()
        .any(|l| locate(l).is_some_and(|d| d.level == "error"));
    let want = if has_errors { 1 } else { 0 };
    if output.status.code() != Some(want) {
        return Err(format!(
            "{}: exit status {:?}, expected {want}",
            case.name,
            output.status.code()
        ));
    }
    Ok(())
}

#[test]
fn golden_diagnostics() {
    let failures: Vec<String> = CASES.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_case_file_is_listed() {
    let mut unlisted = Vec::new();
    for entry in fs::read_dir(root().join(DIR)).expect("case directory") {
        let path: PathBuf = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let listed = if let Some(stem) = name.strip_suffix(".expected") {
            CASES.iter().any(|c| c.name == stem)
        } else {
            CASES.iter().any(|c| c.path == name)
        };
        if !listed {
            unlisted.push(name.to_owned());
        }
    }
    unlisted.sort();
    assert!(unlisted.is_empty(), "files without a case: {unlisted:?}");
}

#[test]
fn warnings_alone_exit_zero() {
    let output = check(&[&format!("{DIR}/warnings_only.yaml")]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(": warning: "), "{stderr}");
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let output = check(&[&format!("{DIR}/two_files")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for file in ["two_files/a.yaml", "two_files/b.yaml"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(file) && l.contains(": error: ")),
            "no error for {file}:\n{stderr}"
        );
    }
}

#[test]
fn shipped_rule_pack_checks_clean() {
    let output = check(&["rules/"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(": error: "), "{stderr}");
}
