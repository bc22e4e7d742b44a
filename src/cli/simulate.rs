//! `tokenwatch simulate`: realistic Qlik OAuth token traffic as NDJSON on
//! stdout, optionally with injected attacks (listed on stderr or in a file).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokenwatch::simulate::{ATTACK_DAYS, Config, Simulation};
use tokenwatch::time::Timestamp;

/// Days simulated when `--events` is given without `--days`: enough for
/// any number of events.
const UNBOUNDED_DAYS: u32 = 36_500;

/// Arguments of `tokenwatch simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Seed of the generator; the same arguments give the same events.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Days of traffic [default: 7, or as many as `--events` needs].
    #[arg(long, value_name = "D")]
    days: Option<u32>,
    /// Number of tenants.
    #[arg(long, value_name = "T", default_value_t = 3)]
    tenants: u32,
    /// Users per tenant (at least 4).
    #[arg(long, value_name = "U", default_value_t = 40)]
    users: u32,
    /// Inject attacks, one for each rule of the default pack (all of them
    /// need 18 days or more).
    #[arg(long)]
    attacks: bool,
    /// Stop after N events.
    #[arg(long, value_name = "N")]
    events: Option<u64>,
    /// Write the injected attacks to FILE as NDJSON instead of a summary on stderr.
    #[arg(long, value_name = "FILE")]
    attacks_file: Option<PathBuf>,
    /// Also impersonate a watched administrator, and write the
    /// administrators (the items of the admin_watchlist list) to FILE, one
    /// user id a line.
    #[arg(long, value_name = "FILE")]
    watchlist: Option<PathBuf>,
    /// Start of the traffic (RFC 3339).
    #[arg(long, value_name = "TIME", default_value = "2026-03-02T00:00:00Z")]
    start: String,
}

/// Writes the simulated traffic to stdout.
pub fn simulate(args: SimulateArgs) -> Result<ExitCode, String> {
    let start = Timestamp::parse_rfc3339(&args.start)
        .map(|t| t.0.div_euclid(1_000_000))
        .ok_or_else(|| format!("--start: not an RFC 3339 time: {}", args.start))?;
    let days = match (args.days, args.events) {
        (Some(days), _) => days,
        (None, Some(_)) => UNBOUNDED_DAYS,
        (None, None) => 7,
    };
    let config = Config {
        seed: args.seed,
        start,
        days,
        tenants: args.tenants,
        users: args.users,
        attacks: args.attacks,
        watchlist: args.attacks && args.watchlist.is_some(),
    };
    let mut sim = Simulation::new(config)?;
    if let Some(path) = &args.watchlist {
        let mut text = sim.admin_watchlist().join("\n");
        text.push('\n');
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if args.attacks && days < ATTACK_DAYS {
        eprintln!(
            "tokenwatch: {days} day(s) leave out the attacks planned after them; \
             --days {ATTACK_DAYS} injects all"
        );
    }
    let stdout = io::stdout().lock();
    match sim.write_ndjson(BufWriter::with_capacity(1 << 16, stdout), args.events) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(format!("cannot write events: {e}")),
    }
    if !args.attacks {
        return Ok(ExitCode::SUCCESS);
    }
    match &args.attacks_file {
        Some(path) => {
            let write = || -> io::Result<()> {
                let mut out = BufWriter::new(File::create(path)?);
                for attack in sim.emitted_attacks() {
                    writeln!(out, "{}", attack.to_json())?;
                }
                out.flush()
            };
            write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => {
            for attack in sim.emitted_attacks() {
                eprintln!(
                    "attack {} {} {}: {}",
                    attack.time, attack.tenant, attack.rule, attack.description
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
