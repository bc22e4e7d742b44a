//! Argument parsing and dispatch to the subcommands.

mod check;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokenwatch::{RuleSet, loader};

/// Anomaly detection rules for Qlik Cloud OAuth token events.
#[derive(Debug, Parser)]
#[command(name = "tokenwatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate NDJSON events from files or stdin; findings go to stdout.
    Run(run::RunArgs),
    /// Compile rules and report every error as file:line:col.
    Check(check::CheckArgs),
}

/// Exit code for a fatal error (bad rules, unreadable input).
const FAILURE: u8 = 1;

/// Parses arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("tokenwatch: {message}");
            }
            ExitCode::from(FAILURE)
        }
    }
}

/// Loads and compiles the rules at `paths`, or the built-in pack when there
/// are none. Diagnostics are printed to stderr.
fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, String> {
    let sources = if paths.is_empty() {
        loader::builtin()
    } else {
        loader::read_paths(paths)
            .map_err(|(path, e)| format!("cannot read {}: {e}", path.display()))?
    };
    match RuleSet::from_sources(&sources) {
        Ok(rules) => {
            for warning in rules.warnings() {
                eprintln!("{warning}");
            }
            Ok(rules)
        }
        Err(e) => {
            eprint!("{e}");
            Err(String::new())
        }
    }
}
