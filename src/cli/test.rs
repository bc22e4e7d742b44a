//! `tokenwatch test`: run every rule's tests, print failures with what was
//! expected and what came, optionally write JUnit XML.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokenwatch::ruletest::{Outcome, Suite, junit_errors, junit_xml};

/// Arguments of `tokenwatch test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rule files, test files or directories (default: the built-in pack).
    paths: Vec<PathBuf>,
    /// Write JUnit XML results to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run only tests whose "rule-id: test name" contains TEXT.
    #[arg(long, value_name = "TEXT", default_value = "")]
    filter: String,
}

/// Runs the tests; exit 1 on any failure or error.
pub fn test(args: TestArgs) -> Result<ExitCode, String> {
    let sources = super::read_sources(&args.paths)?;
    let suite = Suite::load(&sources);
    if suite.has_errors() {
        for d in &suite.diagnostics {
            eprintln!("{d}");
        }
        if let Some(path) = &args.junit {
            write_junit(path, &junit_errors(&suite.diagnostics))?;
        }
        return Err("rules or tests have errors; nothing was run".into());
    }
    let reports = suite.run(&args.filter);
    let (mut passed, mut failed) = (0, 0);
    for report in &reports {
        let case = &report.case;
        let title = format!("{}: {}", case.rule, case.name);
        match &report.outcome {
            Outcome::Pass => {
                passed += 1;
                println!("ok      {title}");
            }
            Outcome::Fail { expected, got } => {
                failed += 1;
                println!("FAILED  {title} ({}:{})", case.file, case.line);
                println!("        expected: {expected}");
                for (i, line) in got.lines().enumerate() {
                    let label = if i == 0 { "got:     " } else { "         " };
                    println!("        {label}{line}");
                }
            }
            Outcome::Error(message) => {
                failed += 1;
                println!("ERROR   {title} ({}:{})", case.file, case.line);
                println!("        {message}");
            }
        }
    }
    if let Some(path) = &args.junit {
        write_junit(path, &junit_xml(&reports))?;
    }
    println!("tests: {passed} passed, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_junit(path: &std::path::Path, xml: &str) -> Result<(), String> {
    std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
