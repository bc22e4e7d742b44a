//! `tokenwatch serve`: receives Qlik webhook deliveries over HTTP, checks
//! their signature, evaluates them as they arrive, writes findings to the
//! sinks, checkpoints state, and exposes health and metrics.
//!
//! One task owns the [`Engine`]; request handlers send it the verified
//! bodies over a channel and wait for the verdict, so the engine needs no
//! lock and deliveries are evaluated in arrival order. The wall clock moves
//! the stream time forward once a second, so correlation findings do not
//! wait for the next delivery on a quiet stream.

mod guard;
mod metrics;
pub mod signature;
mod sink;

pub use guard::{Limits, MAX_CONNECTIONS};
pub use metrics::{Delivery, Metrics};

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Engine, Options, Outcome};
use crate::finding::Finding;
use crate::ruleset::{RuleSet, Source};
use crate::state;
use crate::time::Timestamp;
use sink::Sinks;

/// Everything `serve` needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Reads the rule files (again on reload).
    pub rules: RuleLoader,
    /// The webhook secret.
    pub secret: Vec<u8>,
    /// Append findings here instead of stdout.
    pub output: Option<PathBuf>,
    /// Load state at start, checkpoint it, save it at shutdown.
    pub state: Option<PathBuf>,
    /// Keep the bodies of rejected deliveries here.
    pub errors: Option<PathBuf>,
    /// Post each finding to this URL.
    pub sink_webhook: Option<String>,
    /// Findings the webhook sink could not take are appended here.
    pub spool: PathBuf,
    /// Largest accepted body in bytes.
    pub body_limit: usize,
    /// How often state is checkpointed.
    pub checkpoint_every: Duration,
    /// How long a connection may stay silent, and a request take to
    /// arrive, before the connection is closed.
    pub limits: Limits,
    /// Engine options.
    pub options: Options,
}

/// Reads the rule sources, at start and on every reload.
#[derive(Clone)]
pub struct RuleLoader(pub Arc<dyn Fn() -> Result<Vec<Source>, String> + Send + Sync>);

impl std::fmt::Debug for RuleLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuleLoader")
    }
}

/// What the engine task is asked to do.
enum Command {
    Event(Bytes, oneshot::Sender<Verdict>),
    Reload(oneshot::Sender<Result<usize, String>>),
    /// Connections outlived the shutdown's grace: stop without waiting for
    /// them.
    Stop,
}

/// How long open connections may take to finish after a shutdown signal;
/// one still open then (a client sending a request slowly) is dropped, so
/// that the reorder buffer is applied and the state saved in time.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The engine's answer to a delivery.
enum Verdict {
    Accepted,
    Duplicate,
    Rejected(String),
}

#[derive(Clone)]
struct AppState {
    commands: mpsc::Sender<Command>,
    secret: Arc<Vec<u8>>,
    metrics: Arc<Metrics>,
    body_limit: usize,
}

/// Compiles the rules, restores state, and serves on `listener` until
/// `shutdown` resolves; then drains requests, applies what waits, saves
/// state and flushes the sinks. `reload` resolving (repeatedly) reloads
/// the rules, as SIGHUP does.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut reload: mpsc::Receiver<()>,
) -> Result<(), String> {
    let rules = compile(&config)?;
    let mut engine = Engine::with_options(Arc::new(rules), config.options);
    // A state file that cannot be written is found now, not at the first
    // checkpoint.
    if let Some(path) = &config.state {
        state::check_writable(path)
            .map_err(|e| format!("cannot save state to {}: {e}", path.display()))?;
    }
    if let Some(path) = &config.state
        && let Some(snapshot) =
            state::load(path).map_err(|e| format!("state file {}: {e}", path.display()))?
    {
        let missing = snapshot.rules_missing_from(engine.rules());
        let fresh = engine
            .restore(snapshot)
            .map_err(|e| format!("state file {}: {e}", path.display()))?;
        for id in missing {
            tracing::warn!(rule = %id, "rule of the state file is not loaded; its state is dropped");
        }
        for id in fresh {
            tracing::warn!(rule = %id, "rule changed since the state was saved; it starts fresh");
        }
    }
    let metrics = Arc::new(Metrics::default());
    let sinks = Sinks::open(
        config.output.as_deref(),
        config.sink_webhook.clone(),
        config.spool.clone(),
        metrics.clone(),
    )
    .map_err(|e| format!("cannot open the findings output: {e}"))?;
    let (commands, inbox) = mpsc::channel(1024);
    let worker = tokio::spawn(run_engine(
        engine,
        inbox,
        sinks,
        config.clone(),
        metrics.clone(),
    ));
    let reloader = {
        let commands = commands.clone();
        tokio::spawn(async move {
            while reload.recv().await.is_some() {
                let (reply, answer) = oneshot::channel();
                if commands.send(Command::Reload(reply)).await.is_err() {
                    break;
                }
                let _ = answer.await;
            }
        })
    };
    let stopper = commands.clone();
    let app_state = AppState {
        commands,
        secret: Arc::new(config.secret.clone()),
        metrics,
        body_limit: config.body_limit,
    };
    let app = Router::new()
        .route(
            "/webhook",
            post(webhook).layer(axum::middleware::from_fn_with_state(
                app_state.clone(),
                refuse_declared_oversize,
            )),
        )
        .route("/admin/reload", post(admin_reload))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_page))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(app_state);
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, "listening on {address}");
    let (signalled, on_signal) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = signalled.send(());
    };
    let grace_over = async {
        match on_signal.await {
            Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
            Err(_) => std::future::pending().await,
        }
    };
    let server = axum::serve(guard::GuardedListener::new(listener, config.limits), app)
        .with_graceful_shutdown(signal);
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => {
            served.map_err(|e| format!("server: {e}"))?;
        }
        () = grace_over => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after the signal are dropped");
            let _ = stopper.send(Command::Stop).await;
        }
    }
    // With the router, the reload forwarder and the stopper gone, no
    // command sender is left: the engine task sees its inbox close,
    // applies what waits, saves and flushes.
    drop(stopper);
    reloader.abort();
    let _ = reloader.await;
    worker.await.map_err(|e| format!("engine task: {e}"))?
}

fn compile(config: &Config) -> Result<RuleSet, String> {
    let sources = (config.rules.0)()?;
    RuleSet::from_sources(&sources).map_err(|e| e.to_string())
}

async fn run_engine(
    mut engine: Engine,
    mut inbox: mpsc::Receiver<Command>,
    mut sinks: Sinks,
    config: Config,
    metrics: Arc<Metrics>,
) -> Result<(), String> {
    let mut findings: Vec<Finding> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut checkpoint = tokio::time::interval(config.checkpoint_every);
    checkpoint.tick().await;
    loop {
        tokio::select! {
            command = inbox.recv() => match command {
                Some(Command::Event(body, reply)) => {
                    let verdict = match engine.process(&body, &mut findings) {
                        Ok(Outcome::Accepted) => Verdict::Accepted,
                        Ok(Outcome::Duplicate) => Verdict::Duplicate,
                        Err(reason) => {
                            keep_rejected(&config, &body, &reason.to_string());
                            Verdict::Rejected(reason.to_string())
                        }
                    };
                    let _ = reply.send(verdict);
                }
                Some(Command::Reload(reply)) => {
                    let _ = reply.send(reload(&mut engine, &config, &metrics));
                }
                Some(Command::Stop) | None => break,
            },
            _ = tick.tick() => {
                engine.advance_to(Timestamp::now(), &mut findings);
                metrics.set_engine(engine.stats());
            }
            _ = checkpoint.tick() => {
                if let Err(e) = save(&engine, &config) {
                    tracing::error!("{e}");
                }
            }
        }
        emit(&mut sinks, &mut findings, &metrics);
    }
    engine.finish(&mut findings);
    emit(&mut sinks, &mut findings, &metrics);
    let saved = save(&engine, &config);
    metrics.set_engine(engine.stats());
    sinks
        .close()
        .map_err(|e| format!("cannot flush findings: {e}"))?;
    // A supervisor must see that the state was lost: the exit is not clean.
    saved?;
    tracing::info!(state = config.state.is_some(), "stopped");
    Ok(())
}

fn emit(sinks: &mut Sinks, findings: &mut Vec<Finding>, metrics: &Metrics) {
    for finding in findings.drain(..) {
        if let Err(e) = sinks.send(&finding, metrics) {
            tracing::error!(error = %e, rule = %finding.rule, "cannot write a finding");
        }
    }
}

fn reload(engine: &mut Engine, config: &Config, metrics: &Metrics) -> Result<usize, String> {
    use std::sync::atomic::Ordering;
    let rules = match compile(config) {
        Ok(rules) => rules,
        Err(e) => {
            metrics.reloads[1].fetch_add(1, Ordering::Relaxed);
            tracing::error!(errors = %e.trim_end(), "reload refused; the old rules keep running");
            return Err(e);
        }
    };
    // The snapshot holds the deliveries still waiting: the new rules
    // evaluate them again, in order, without making later ones late.
    let snapshot = engine.snapshot();
    let count = rules.rules().len();
    let mut next = Engine::with_options(Arc::new(rules), engine.options());
    // The snapshot comes from the running engine, so its groups fit the
    // rules whose fingerprints are unchanged.
    let removed = snapshot.rules_missing_from(next.rules());
    let fresh = next.restore(snapshot).map_err(|e| e.to_string())?;
    for id in removed {
        tracing::info!(rule = %id, "rule removed; its state is dropped");
    }
    for id in fresh {
        tracing::info!(rule = %id, "rule changed; it starts fresh");
    }
    *engine = next;
    metrics.reloads[0].fetch_add(1, Ordering::Relaxed);
    tracing::info!(rules = count, "rules reloaded");
    Ok(count)
}

/// Saves the state, if a state file is configured.
fn save(engine: &Engine, config: &Config) -> Result<(), String> {
    match &config.state {
        Some(path) => state::save(path, &engine.snapshot())
            .map_err(|e| format!("cannot save state to {}: {e}", path.display())),
        None => Ok(()),
    }
}

fn keep_rejected(config: &Config, body: &[u8], reason: &str) {
    let Some(path) = &config.errors else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| {
            writeln!(file, "# webhook: {reason}")?;
            file.write_all(body)?;
            file.write_all(b"\n")
        });
    if let Err(e) = written {
        tracing::error!(error = %e, path = %path.display(), "cannot keep a rejected delivery");
    }
}

fn signed(state: &AppState, headers: &HeaderMap, body: &[u8]) -> bool {
    headers
        .get("qlik-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sig| signature::verify(&state.secret, body, sig))
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Answers 413 at once to a delivery that declares a body over the limit,
/// before reading it: a client waiting for `100 Continue` sends none.
async fn refuse_declared_oversize(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > state.body_limit as u64) {
        state.metrics.record(Delivery::TooLarge, Duration::ZERO);
        return too_large();
    }
    next.run(request).await
}

fn too_large() -> Response {
    let message = serde_json::json!({"error": "body larger than the limit"});
    reply(StatusCode::PAYLOAD_TOO_LARGE, message)
}

async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (delivery, response) = handle(&state, &headers, body).await;
    state.metrics.record(delivery, started.elapsed());
    response
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (Delivery, Response) {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (Delivery::TooLarge, too_large());
        }
        Err(rejection) => {
            let message = serde_json::json!({"error": rejection.body_text()});
            return (Delivery::Unread, reply(rejection.status(), message));
        }
    };
    if !signed(state, headers, &body) {
        let message = serde_json::json!({"error": "missing or invalid Qlik-Signature"});
        return (
            Delivery::Unauthorized,
            reply(StatusCode::UNAUTHORIZED, message),
        );
    }
    let (answer, verdict) = oneshot::channel();
    if state
        .commands
        .send(Command::Event(body, answer))
        .await
        .is_err()
    {
        let message = serde_json::json!({"error": "shutting down"});
        return (
            Delivery::Unavailable,
            reply(StatusCode::SERVICE_UNAVAILABLE, message),
        );
    }
    match verdict.await {
        Ok(Verdict::Accepted) => (
            Delivery::Accepted,
            reply(StatusCode::OK, serde_json::json!({"status": "accepted"})),
        ),
        Ok(Verdict::Duplicate) => (
            Delivery::Duplicate,
            reply(StatusCode::OK, serde_json::json!({"status": "duplicate"})),
        ),
        Ok(Verdict::Rejected(reason)) => (
            Delivery::Rejected,
            reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": reason}),
            ),
        ),
        Err(_) => (
            Delivery::Unavailable,
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "shutting down"}),
            ),
        ),
    }
}

async fn admin_reload(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !signed(&state, &headers, &body) {
        return reply(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "missing or invalid Qlik-Signature"}),
        );
    }
    let (answer, result) = oneshot::channel();
    if state.commands.send(Command::Reload(answer)).await.is_err() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "shutting down"}),
        );
    }
    match result.await {
        Ok(Ok(rules)) => reply(
            StatusCode::OK,
            serde_json::json!({"status": "reloaded", "rules": rules}),
        ),
        Ok(Err(errors)) => reply(
            StatusCode::CONFLICT,
            serde_json::json!({"error": "rules refused; the old rules keep running", "diagnostics": errors}),
        ),
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "shutting down"}),
        ),
    }
}

async fn metrics_page(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
