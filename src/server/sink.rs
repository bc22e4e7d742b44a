//! Where findings go: NDJSON on stdout or an appended file (flushed per
//! finding), and optionally a webhook that receives each finding as JSON.
//!
//! The webhook is served by a worker thread behind a bounded queue, so a
//! slow or failing endpoint never blocks ingestion: when the queue is full,
//! or a finding still fails after its retries, it is appended to a spool
//! file and counted. At shutdown the worker gets [`DRAIN_GRACE`] to deliver
//! what is queued; what is left then is spooled without trying, so a
//! hanging endpoint cannot hold shutdown for long.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use crate::finding::Finding;

/// Findings waiting for the webhook worker.
pub const QUEUE: usize = 10_000;
/// Attempts per finding before it is spooled.
const ATTEMPTS: u32 = 5;
/// The first retry's delay; each next one doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// How long the worker may go on delivering once shutdown began.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Longest one delivery may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured sinks.
pub struct Sinks {
    out: Box<dyn Write + Send>,
    webhook: Option<Webhook>,
}

struct Webhook {
    queue: SyncSender<String>,
    worker: JoinHandle<()>,
    /// Set at shutdown: until when the worker may still deliver.
    drain_until: Arc<OnceLock<Instant>>,
    spool: PathBuf,
}

impl Sinks {
    /// Findings to stdout, or appended to `output`; and to `webhook` if set,
    /// spooling what it cannot take to `spool`.
    pub fn open(
        output: Option<&Path>,
        webhook: Option<String>,
        spool: PathBuf,
        metrics: Arc<Metrics>,
    ) -> io::Result<Sinks> {
        let out: Box<dyn Write + Send> = match output {
            Some(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
            None => Box::new(io::stdout()),
        };
        let webhook = webhook.map(|url| {
            let (queue, receiver) = mpsc::sync_channel(QUEUE);
            let drain_until = Arc::new(OnceLock::new());
            let worker = {
                let drain_until = Arc::clone(&drain_until);
                let spool = spool.clone();
                thread::spawn(move || deliver(&url, &receiver, &drain_until, &spool, &metrics))
            };
            Webhook {
                queue,
                worker,
                drain_until,
                spool,
            }
        });
        Ok(Sinks { out, webhook })
    }

    /// Writes one finding to every sink.
    pub fn send(&mut self, finding: &Finding, metrics: &Metrics) -> io::Result<()> {
        let json = finding.to_json();
        self.out.write_all(json.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        if let Some(webhook) = &self.webhook {
            match webhook.queue.try_send(json) {
                Ok(()) => {}
                Err(TrySendError::Full(json) | TrySendError::Disconnected(json)) => {
                    spool(&webhook.spool, &json)?;
                    metrics.sink_spooled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Delivers what is queued within [`DRAIN_GRACE`] (one attempt each),
    /// spools the rest and failures, and stops the worker.
    pub fn close(mut self) -> io::Result<()> {
        self.out.flush()?;
        if let Some(webhook) = self.webhook.take() {
            let _ = webhook.drain_until.set(Instant::now() + DRAIN_GRACE);
            drop(webhook.queue);
            let _ = webhook.worker.join();
        }
        Ok(())
    }
}

fn deliver(
    url: &str,
    queue: &Receiver<String>,
    drain_until: &OnceLock<Instant>,
    spool_path: &Path,
    metrics: &Metrics,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(true)
        .build()
        .into();
    for json in queue {
        let mut delay = FIRST_BACKOFF;
        let mut delivered = false;
        let out_of_time = drain_until
            .get()
            .is_some_and(|&until| Instant::now() >= until);
        let attempts = if out_of_time { 0 } else { ATTEMPTS };
        for attempt in 1..=attempts {
            let sent = agent
                .post(url)
                .header("Content-Type", "application/json")
                .send(json.as_bytes());
            if sent.is_ok() {
                delivered = true;
                break;
            }
            metrics.sink_failures.fetch_add(1, Ordering::Relaxed);
            if attempt == ATTEMPTS || drain_until.get().is_some() {
                break;
            }
            thread::sleep(delay);
            delay *= 2;
        }
        if delivered {
            metrics.sink_delivered.fetch_add(1, Ordering::Relaxed);
        } else if spool(spool_path, &json).is_ok() {
            metrics.sink_spooled.fetch_add(1, Ordering::Relaxed);
        } else {
            tracing::error!(spool = %spool_path.display(), "cannot write the spool file; a finding was lost");
        }
    }
}

fn spool(path: &Path, json: &str) -> io::Result<()> {
    let mut file: File = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(json.as_bytes())?;
    file.write_all(b"\n")
}
