//! `tokenwatch serve`: the webhook service.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokenwatch::Options;
use tokenwatch::server::{self, Config, Limits, RuleLoader};
use tokenwatch::time::Span;

/// Arguments of `tokenwatch serve`. The webhook secret comes from the
/// environment variable `TOKENWATCH_WEBHOOK_SECRET` or `--secret-file`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, such as 127.0.0.1:8080 (port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// Rule files or directories (repeatable; default: the built-in pack).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Read the webhook secret from FILE (one trailing line break ignored).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Append findings to FILE (flushed per finding) instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Post each finding as JSON to URL, with retries.
    #[arg(long, value_name = "URL")]
    sink_webhook: Option<String>,
    /// Where findings the webhook sink could not take are kept.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tokenwatch-undelivered.ndjson"
    )]
    spool: PathBuf,
    /// Load state at start, checkpoint it, and save it at shutdown.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Seconds between state checkpoints.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    checkpoint_seconds: u64,
    /// Most connections served at once; more wait to be accepted. Each may
    /// hold a request body of up to twice --max-body-bytes while it arrives.
    #[arg(long, value_name = "N", default_value_t = server::MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Close a connection on which nothing arrives for this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = Span::parse)]
    idle_timeout: Span,
    /// Close a connection whose request has not arrived whole this long
    /// after its first byte (a client sending a byte now and then).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = Span::parse)]
    request_timeout: Span,
    /// Keep the bodies of rejected deliveries, each after a `# reason` line.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Largest accepted body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// How far out of event-time order a delivery may arrive.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = Span::parse_allowing_zero)]
    lateness: Span,
    /// How far ahead of the wall clock a delivery's time may be; one further
    /// ahead is an outlier, matched by stateless rules only.
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = Span::parse)]
    max_ahead: Span,
    /// Groups each correlation rule tracks unless it sets `max-groups`.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_groups,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_groups: usize,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

/// Runs the service until SIGTERM or SIGINT.
pub fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let secret = secret(&args)?;
    init_logs(args.log_json);
    let paths = args.rules.clone();
    let config = Config {
        rules: RuleLoader(Arc::new(move || super::read_sources(&paths))),
        secret,
        output: args.output,
        state: args.state,
        errors: args.errors,
        sink_webhook: args.sink_webhook,
        spool: args.spool,
        body_limit: args.max_body_bytes,
        checkpoint_every: Duration::from_secs(args.checkpoint_seconds.max(1)),
        limits: Limits {
            connections: args.max_connections as usize,
            idle: duration(args.idle_timeout),
            request: duration(args.request_timeout),
        },
        options: Options {
            max_line_bytes: args.max_body_bytes,
            lateness: args.lateness,
            max_groups: args.max_groups,
            max_ahead: args.max_ahead,
            live: true,
            ..Options::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let stop = stop_signal();
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        tokio::spawn(async move {
            let Ok(mut hangup) = hangup else {
                return;
            };
            while hangup.recv().await.is_some() {
                if reload_tx.send(()).await.is_err() {
                    break;
                }
            }
        });
        server::serve(config, listener, stop, reload_rx).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A positive span as a duration (spans parsed for flags are positive).
fn duration(span: Span) -> Duration {
    Duration::from_micros(span.0.max(1).unsigned_abs())
}

/// The text without one trailing line break (`\n` or `\r\n`), as an
/// editor leaves it; anything else is part of the secret.
fn without_line_break(text: &str) -> &str {
    text.strip_suffix('\n')
        .map_or(text, |line| line.strip_suffix('\r').unwrap_or(line))
}

fn secret(args: &ServeArgs) -> Result<Vec<u8>, String> {
    let secret = match &args.secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            without_line_break(&text).to_owned()
        }
        None => std::env::var("TOKENWATCH_WEBHOOK_SECRET").map_err(|_| {
            "set the webhook secret in TOKENWATCH_WEBHOOK_SECRET or pass --secret-file".to_owned()
        })?,
    };
    if secret.is_empty() {
        return Err("the webhook secret is empty".into());
    }
    Ok(secret.into_bytes())
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKENWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are in place when this
/// returns, before the server says it listens: a signal sent right after
/// never meets the default action, which would end the process unsaved.
fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut interrupt)) = handlers else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_line_break;

    #[test]
    fn one_trailing_line_break_is_ignored() {
        assert_eq!(without_line_break("s3cret\n"), "s3cret");
        assert_eq!(without_line_break("s3cret\r\n"), "s3cret");
        assert_eq!(without_line_break("s3cret\n\n"), "s3cret\n");
        assert_eq!(without_line_break("s3cret "), "s3cret ");
    }
}
