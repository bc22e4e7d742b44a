//! Argument parsing and dispatch to the subcommands.

mod check;
mod pool;
mod run;
mod serve;
mod simulate;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokenwatch::{RuleSet, Source, loader};

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
    /// Run every rule's tests; JUnit XML for CI.
    Test(test::TestArgs),
    /// Receive Qlik webhooks over HTTP and evaluate them as they arrive.
    Serve(serve::ServeArgs),
    /// Generate realistic token traffic (NDJSON), optionally with attacks.
    Simulate(simulate::SimulateArgs),
    /// Print the rule catalogue (Markdown) generated from the rules.
    Catalogue {
        /// Rule files or directories (default: the built-in pack).
        paths: Vec<PathBuf>,
    },
}

/// Exit code for a fatal error (bad rules, unreadable input).
const FAILURE: u8 = 1;

/// Parses arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args),
        Command::Test(args) => test::test(args),
        Command::Serve(args) => serve::serve(args),
        Command::Simulate(args) => simulate::simulate(args),
        Command::Catalogue { paths } => catalogue(&paths),
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

/// Reads the rule (and test) files at `paths`, or the built-in pack when
/// there are none.
fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, String> {
    if paths.is_empty() {
        return Ok(loader::builtin());
    }
    loader::read_paths(paths).map_err(|e| match e {
        // Already in the form of every rule error.
        loader::ReadError::NotUtf8 { .. } => {
            eprintln!("{e}");
            String::new()
        }
        loader::ReadError::Io { .. } => e.to_string(),
    })
}

/// Loads and compiles the rules at `paths`, or the built-in pack when there
/// are none. Diagnostics are printed to stderr.
fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, String> {
    let sources = read_sources(paths)?;
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

/// Prints the catalogue of the rules at `paths`.
fn catalogue(paths: &[PathBuf]) -> Result<ExitCode, String> {
    let sources = read_sources(paths)?;
    let rules = load_rules(paths)?;
    let mut diags = tokenwatch::diag::Diagnostics::default();
    let files = tokenwatch::compile::read_sources(&sources, &mut diags);
    print!("{}", tokenwatch::catalogue::markdown(&rules, &files));
    Ok(ExitCode::SUCCESS)
}
