//! JUnit XML, as GitHub Actions, GitLab and Jenkins read it: one testcase
//! per rule test, a failure element with what was expected and what came.

use super::{Outcome, Report};

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
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"tokenwatch\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        reports.len()
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"rules\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">\n",
        reports.len()
    ));
    for report in reports {
        let case = &report.case;
        xml.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\"",
            escape(&case.rule),
            escape(&case.name),
            escape(&case.file),
            case.line
        ));
        match &report.outcome {
            Outcome::Pass => xml.push_str("/>\n"),
            Outcome::Fail { expected, got } => {
                xml.push_str(">\n");
                xml.push_str(&format!(
                    "      <failure message=\"expected {}\">expected: {}\ngot: {}</failure>\n",
                    escape(expected),
                    escape(expected),
                    escape(got)
                ));
                xml.push_str("    </testcase>\n");
            }
            Outcome::Error(message) => {
                xml.push_str(">\n");
                xml.push_str(&format!(
                    "      <error message=\"{}\">{}</error>\n",
                    escape(message),
                    escape(message)
                ));
                xml.push_str("    </testcase>\n");
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0
/// cannot hold.
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
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
