//! `tokenwatch check`: compile rules, print every diagnostic.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokenwatch::compile;
use tokenwatch::diag::Level;
use tokenwatch::loader;

/// Arguments of `tokenwatch check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rule files or directories (default: the built-in pack).
    paths: Vec<PathBuf>,
}

/// Compiles the rules and prints each diagnostic as `file:line:col: level: message`.
pub fn check(args: CheckArgs) -> Result<ExitCode, String> {
    let sources = if args.paths.is_empty() {
        loader::builtin()
    } else {
        loader::read_paths(&args.paths)
            .map_err(|(path, e)| format!("cannot read {}: {e}", path.display()))?
    };
    let (rules, diagnostics) = match compile::compile(&sources, |_| true) {
        Ok(set) => (set.rules().len(), set.warnings().to_vec()),
        Err(e) => (0, e.diagnostics),
    };
    for d in &diagnostics {
        eprintln!("{d}");
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        eprintln!(
            "tokenwatch: {errors} error(s), {warnings} warning(s) in {} file(s)",
            sources.len()
        );
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "tokenwatch: {rules} rule(s) in {} file(s) compiled, {warnings} warning(s)",
        sources.len()
    );
    Ok(ExitCode::SUCCESS)
}
