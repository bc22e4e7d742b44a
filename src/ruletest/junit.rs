//! JUnit XML, as GitHub Actions, GitLab and Jenkins read it: one testcase
//! per rule test, a failure element with what was expected and what came.

use super::{Outcome, Report};
use crate::diag::{Diagnostic, Level};

/// Renders reports as a JUnit XML document.
pub fn junit_xml(reports: &[Report]) -> String {
    let failures = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail { .. }))
        .count();
    let errors = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count();
    let mut xml = header(reports.len(), failures, errors);
    for report in reports {
        let case = &report.case;
        xml.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\"",
            attribute(&case.rule),
            attribute(&case.name),
            attribute(&case.file),
            case.line
        ));
        match &report.outcome {
            Outcome::Pass => xml.push_str("/>\n"),
            Outcome::Fail { expected, got } => {
                xml.push_str(">\n");
                xml.push_str(&format!(
                    "      <failure message=\"expected {}\">expected: {}\ngot: {}</failure>\n",
                    attribute(expected),
                    escape(expected),
                    escape(got)
                ));
                xml.push_str("    </testcase>\n");
            }
            Outcome::Error(message) => {
                xml.push_str(">\n");
                xml.push_str(&format!(
                    "      <error message=\"{}\">{}</error>\n",
                    attribute(message),
                    escape(message)
                ));
                xml.push_str("    </testcase>\n");
            }
        }
    }
    xml.push_str(FOOTER);
    xml
}

/// Renders the errors in rules or tests that kept the tests from running,
/// one erroring testcase each, so that a CI report shows them instead of
/// finding no report at all.
pub fn junit_errors(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .collect();
    let mut xml = header(errors.len(), 0, errors.len());
    for d in errors {
        let place = format!("{}:{}:{}", d.file, d.span.line, d.span.col);
        xml.push_str(&format!(
            "    <testcase classname=\"check\" name=\"{}\" file=\"{}\" line=\"{}\">\n",
            attribute(&place),
            attribute(&d.file),
            d.span.line
        ));
        xml.push_str(&format!(
            "      <error message=\"{}\">{}</error>\n    </testcase>\n",
            attribute(&d.message),
            escape(&d.to_string())
        ));
    }
    xml.push_str(FOOTER);
    xml
}

fn header(tests: usize, failures: usize, errors: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"tokenwatch\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n"
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"rules\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">\n"
    ));
    xml
}

const FOOTER: &str = "  </testsuite>\n</testsuites>\n";

/// Escapes text for XML attributes and content, dropping characters XML 1.0
/// cannot hold.
/// Escapes text for an attribute value: line breaks and tabs as character
/// references too, since XML parsers turn them into spaces there.
fn attribute(text: &str) -> String {
    escape(text)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            // Not in XML 1.0's Char production.
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_kept_the_tests_from_running_are_erroring_testcases() {
        let mut diags = crate::diag::Diagnostics::default();
        let span = crate::yaml::Span { line: 3, col: 7 };
        diags.error("E009", "r.yaml", span, "bad <selection>".into());
        diags.warning("W001", "r.yaml", span, "unknown key".into(), None);
        let xml = junit_errors(&diags.sorted());
        assert!(
            xml.contains(r#"tests="1" failures="0" errors="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="r.yaml:3:7" file="r.yaml" line="3""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<error message="bad &lt;selection&gt;">"#),
            "{xml}"
        );
        assert!(!xml.contains("unknown key"), "{xml}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(escape("x\u{fffe}\u{ffff}\u{fffd}"), "x\u{fffd}");
        assert_eq!(attribute("a\n\tb\r"), "a&#10;&#9;b&#13;");
    }
}
