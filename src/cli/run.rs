//! `tokenwatch run`: evaluate NDJSON events, findings to stdout, a summary
//! and every rejected line to stderr.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokenwatch::lines::{HARD_CAP, LineReader};

use super::pool::{BATCH, BATCH_BYTES, Batch, Pool};
use tokenwatch::state;
use tokenwatch::time::Span;
use tokenwatch::{Engine, Finding, Options, Stats};

/// Arguments of `tokenwatch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Rule files or directories (repeatable; default: the built-in pack).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// NDJSON event files; `-` or nothing reads stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<String>,
    /// Write each rejected line verbatim, after a `# input:line: reason` line.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Longest accepted event line in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Options::default().max_line_bytes)]
    max_line_bytes: usize,
    /// How many recent event identities are remembered to drop duplicates.
    #[arg(long, value_name = "N", default_value_t = Options::default().dedup_capacity)]
    dedup_capacity: usize,
    /// How far out of event-time order an event may arrive and still be
    /// evaluated as if in order (e.g. 5m, 30s, 0s).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = Span::parse_allowing_zero)]
    lateness: Span,
    /// How far ahead of the stream's time one event may move it; an event
    /// further ahead that the next event does not follow is an outlier,
    /// matched by stateless rules only (e.g. 1d, 12h).
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = Span::parse)]
    max_ahead: Span,
    /// Groups each correlation rule tracks unless it sets `max-groups`.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_groups,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_groups: usize,
    /// Load window state from FILE at start and save it there at exit.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Threads in all (default: available cores): the main thread reads,
    /// applies and matches when the others are busy, the others parse and
    /// match; findings are identical, in the same order, for any number.
    #[arg(long, value_name = "N", default_value_t = default_threads())]
    threads: usize,
    /// Exit with status 2 when any input line was rejected.
    #[arg(long)]
    fail_on_reject: bool,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Exit status when lines were rejected and `--fail-on-reject` is set.
const REJECTED: u8 = 2;

/// Runs the rules over the inputs.
pub fn run(args: RunArgs) -> Result<ExitCode, String> {
    let rules = super::load_rules(&args.rules)?;
    let options = Options {
        max_line_bytes: args.max_line_bytes.min(HARD_CAP),
        dedup_capacity: args.dedup_capacity,
        lateness: args.lateness,
        max_groups: args.max_groups,
        max_ahead: args.max_ahead,
        ..Options::default()
    };
    let mut engine = Engine::with_options(Arc::new(rules), options);
    if let Some(path) = &args.state {
        state::check_writable(path)
            .map_err(|e| format!("cannot save state to {}: {e}", path.display()))?;
        let snapshot =
            state::load(path).map_err(|e| format!("state file {}: {e}", path.display()))?;
        if let Some(snapshot) = snapshot {
            let missing = snapshot.rules_missing_from(engine.rules());
            let fresh = engine
                .restore(snapshot)
                .map_err(|e| format!("state file {}: {e}", path.display()))?;
            for id in missing {
                eprintln!(
                    "tokenwatch: rule '{id}' of the state file is not loaded; its state is dropped"
                );
            }
            for id in fresh {
                eprintln!(
                    "tokenwatch: rule '{id}' changed since the state was saved; it starts fresh"
                );
            }
        }
    }
    let inputs = if args.inputs.is_empty() {
        vec!["-".to_owned()]
    } else {
        args.inputs.clone()
    };
    let mut errors = match &args.errors {
        Some(path) => {
            Some(BufWriter::new(File::create(path).map_err(|e| {
                format!("cannot create {}: {e}", path.display())
            })?))
        }
        None => None,
    };
    let progress = progress_bar(&inputs);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut sink = Sink {
        out: &mut out,
        errors: errors.as_mut().map(|w| w as &mut dyn Write),
        progress: &progress,
    };
    let mut pool = Pool::new(engine.rules(), options.max_line_bytes, args.threads.max(1));
    for (index, input) in inputs.iter().enumerate() {
        let source: Box<dyn Read> = if input == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(input).map_err(|e| format!("cannot open {input}: {e}"))?)
        };
        let reader = BufReader::with_capacity(1 << 16, source);
        match feed(&mut engine, &mut pool, &inputs, index, reader, &mut sink) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(format!("{input}: {e}")),
        }
    }
    for done in pool.drain() {
        match apply(&mut engine, &mut pool, &inputs, done, &mut sink) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e.to_string()),
        }
    }
    progress.finish_and_clear();
    let mut findings = Vec::new();
    engine.finish(&mut findings);
    if let Err(e) = write_findings(&mut out, &mut findings) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(format!("cannot write findings: {e}"));
    }
    if let Some(path) = &args.state {
        state::save(path, &engine.snapshot())
            .map_err(|e| format!("cannot save state to {}: {e}", path.display()))?;
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.map_err(|e| format!("cannot write findings: {e}"))?,
    }
    if let Some(w) = errors.as_mut() {
        w.flush()
            .map_err(|e| format!("cannot write the errors file: {e}"))?;
    }
    let stats = engine.stats();
    eprint!("{}", summary(&stats));
    if args.fail_on_reject && stats.rejected > 0 {
        return Ok(ExitCode::from(REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}

struct Sink<'a> {
    out: &'a mut dyn Write,
    errors: Option<&'a mut dyn Write>,
    progress: &'a ProgressBar,
}

fn feed(
    engine: &mut Engine,
    pool: &mut Pool,
    inputs: &[String],
    index: usize,
    reader: BufReader<Box<dyn Read>>,
    sink: &mut Sink<'_>,
) -> io::Result<()> {
    // A live stream (stdin) is matched as soon as no more input is
    // waiting, so findings are not held back until a batch fills.
    let live = inputs[index] == "-";
    let mut lines = LineReader::new(reader);
    let mut batch = pool.batch(index, 1);
    loop {
        let slot = batch.slot();
        let more = lines.next_line(slot)?;
        if more {
            batch.bytes += slot.bytes.len();
            batch.count += 1;
        }
        let waiting = !lines.get_ref().buffer().is_empty();
        let filled = batch.count == BATCH || batch.bytes >= BATCH_BYTES;
        if filled || (batch.count > 0 && (!more || (live && !waiting))) {
            let next = pool.batch(index, lines.line_number() + 1);
            let full = std::mem::replace(&mut batch, next);
            for done in pool.submit(full) {
                apply(engine, pool, inputs, done, sink)?;
            }
        }
        if !more {
            break;
        }
    }
    pool.recycle(batch);
    Ok(())
}

/// How many events ahead of the one applied [`Engine::prefetch`] is asked
/// for: an event takes far longer than memory to answer, and a line
/// fetched much earlier may have left the cache again.
const PREFETCH_DISTANCE: usize = 2;

/// Applies a matched batch in order: counts, rejections, findings.
fn apply(
    engine: &mut Engine,
    pool: &mut Pool,
    inputs: &[String],
    mut batch: Batch,
    sink: &mut Sink<'_>,
) -> io::Result<()> {
    let input = &inputs[batch.input];
    let mut findings: Vec<Finding> = Vec::new();
    let mut bytes = 0u64;
    let mut results = std::mem::take(&mut batch.results);
    for offset in 0..results.len() {
        if let Some(Some(Ok(ahead))) = results.get(offset + PREFETCH_DISTANCE) {
            engine.prefetch(ahead);
        }
        let line = &batch.lines[offset];
        bytes += line.len as u64 + 1;
        let Some(result) = results[offset].take() else {
            continue;
        };
        if let Err(reason) = engine.apply_evaluated(result, &mut findings) {
            let number = batch.first_number + offset as u64;
            let reason = if line.cut {
                format!(
                    "{reason} (line of {} bytes; first {HARD_CAP} bytes kept)",
                    line.len
                )
            } else {
                reason.to_string()
            };
            sink.progress
                .suspend(|| eprintln!("{input}:{number}: rejected: {reason}"));
            if let Some(errors) = sink.errors.as_mut() {
                writeln!(errors, "# {input}:{number}: {reason}")?;
                errors.write_all(&line.bytes)?;
                errors.write_all(if line.crlf { b"\r\n" } else { b"\n" })?;
            }
        }
        if !findings.is_empty() {
            write_findings(sink.out, &mut findings)?;
        }
    }
    results.clear();
    batch.results = results;
    sink.out.flush()?;
    sink.progress.inc(bytes);
    batch.spares.take_from(engine.spares());
    pool.recycle(batch);
    Ok(())
}

fn write_findings(out: &mut dyn Write, findings: &mut Vec<Finding>) -> io::Result<()> {
    for finding in findings.drain(..) {
        out.write_all(finding.to_json().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn progress_bar(inputs: &[String]) -> ProgressBar {
    if !io::stderr().is_terminal() || inputs.iter().any(|i| i == "-") {
        return ProgressBar::hidden();
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| std::fs::metadata(i).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn summary(stats: &Stats) -> String {
    use std::fmt::Write as _;
    let mut text = format!(
        "tokenwatch: {} events read: {} accepted, {} rejected, {} duplicates, {} late\n",
        stats.read, stats.accepted, stats.rejected, stats.duplicates, stats.late
    );
    let notes = [
        (
            stats.untimed,
            "events without a time were matched by stateless rules only",
        ),
        (
            stats.ahead,
            "events dated far ahead (of the events after them, or for the last one of the wall clock) were matched by stateless rules only (--max-ahead)",
        ),
        (
            stats.forced,
            "events applied before their lateness ran out (reorder buffer full)",
        ),
        (
            stats.dedup_evictions,
            "event identities forgotten by the duplicate filter (--dedup-capacity)",
        ),
    ];
    for (count, what) in notes {
        if count > 0 {
            let _ = writeln!(text, "tokenwatch: {count} {what}");
        }
    }
    let total: u64 = stats.rules.iter().map(|r| r.findings).sum();
    let _ = writeln!(text, "tokenwatch: {total} findings");
    for rule in &stats.rules {
        let extras = [
            (rule.suppressed, "suppressed"),
            (rule.evicted_groups, "groups evicted (max-groups)"),
            (rule.evicted_values, "remembered values evicted"),
        ];
        if rule.findings == 0 && extras.iter().all(|(count, _)| *count == 0) {
            continue;
        }
        let _ = write!(text, "  {}: {}", rule.id, rule.findings);
        for (count, what) in extras {
            if count > 0 {
                let _ = write!(text, ", {count} {what}");
            }
        }
        text.push('\n');
    }
    text
}
