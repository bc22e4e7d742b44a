//! `tokenwatch check`: compile rules (and their tests), print every
//! diagnostic; with `--strict`, lint them for shipping.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tokenwatch::diag::{Diagnostic, Level};
use tokenwatch::lint::lint;
use tokenwatch::ruletest::Suite;

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `file:line:col: error: message` on stderr.
    Text,
    /// GitHub Actions annotations (`::error file=…,line=…::…`) on stdout.
    Github,
}

/// Arguments of `tokenwatch check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rule files or directories (default: the built-in pack).
    paths: Vec<PathBuf>,
    /// Also fail on rules without a test that fires and one that stays
    /// quiet, without a description or ATT&CK tag, or with a duplicate title.
    #[arg(long)]
    strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Compiles the rules and prints each diagnostic.
pub fn check(args: CheckArgs) -> Result<ExitCode, String> {
    let sources = super::read_sources(&args.paths)?;
    let suite = Suite::load(&sources);
    let mut diagnostics = suite.diagnostics.clone();
    if args.strict {
        diagnostics.extend(lint(&suite));
        diagnostics.sort_by(|a, b| (&a.file, a.span).cmp(&(&b.file, b.span)));
    }
    for d in &diagnostics {
        match args.format {
            Format::Text => eprintln!("{d}"),
            Format::Github => println!("{}", github(d)),
        }
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let rules = suite.files().iter().map(|f| f.rules.len()).sum::<usize>();
    if errors > 0 {
        eprintln!(
            "tokenwatch: {errors} error(s), {warnings} warning(s) in {} file(s)",
            sources.len()
        );
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "tokenwatch: {rules} rule(s) and {} test(s) in {} file(s) checked, {warnings} warning(s)",
        suite.cases.len(),
        sources.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A GitHub Actions workflow command for a diagnostic.
fn github(d: &Diagnostic) -> String {
    let level = match d.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let mut message = d.message.clone();
    if let Some(s) = &d.suggestion {
        message.push_str(&format!(" (did you mean '{s}'?)"));
    }
    format!(
        "::{level} file={},line={},col={}::{}",
        escape_property(&d.file),
        d.span.line,
        d.span.col,
        escape_data(&message)
    )
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
