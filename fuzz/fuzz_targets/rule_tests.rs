//! Feeds arbitrary bytes (as lossy UTF-8) to the rule-test runner as a
//! rule file with tests: reading the tests, building their events, running
//! them when everything compiles, and writing the JUnit report.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenwatch::Source;
use tokenwatch::ruletest::{Suite, junit_errors, junit_xml};

fuzz_target!(|data: &[u8]| {
    let source = Source {
        name: "fuzz.yaml".into(),
        text: String::from_utf8_lossy(data).into_owned(),
    };
    let suite = Suite::load(&[source]);
    for diagnostic in &suite.diagnostics {
        let line = diagnostic.to_string();
        assert!(!line.contains('\n'), "a diagnostic is one line: {line:?}");
    }
    if suite.has_errors() {
        let _ = junit_errors(&suite.diagnostics);
        return;
    }
    let reports = suite.run("");
    assert_eq!(reports.len(), suite.cases.len(), "every test reports once");
    let _ = junit_xml(&reports);
});
