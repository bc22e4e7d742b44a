//! A tokio adapter: an engine on its own task that turns a stream of event
//! lines into a stream of findings (and of rejected lines, so nothing is
//! lost), and gives the engine back at the end.
//!
//! ```
//! use std::sync::Arc;
//! use tokenwatch::stream::{Output, Running, spawn};
//! use tokenwatch::{Engine, RuleSet, loader};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let rules = RuleSet::from_sources(&loader::builtin()).unwrap();
//! let Running { events, mut outputs, engine } = spawn(Engine::new(Arc::new(rules)), 1024);
//! events.send(b"not json".to_vec()).await.unwrap();
//! drop(events); // end of input: what waits for late events is applied
//! while let Some(output) = outputs.recv().await {
//!     match output {
//!         Output::Finding(finding) => println!("{}", finding.to_json()),
//!         Output::Rejected { reason, .. } => eprintln!("rejected: {reason}"),
//!     }
//! }
//! let engine = engine.await.expect("the engine task ends"); // for stats or a snapshot
//! assert_eq!(engine.stats().rejected, 1);
//! # });
//! ```

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::event::Rejection;
use crate::finding::Finding;
use crate::time::Timestamp;

/// What comes out of the engine task.
#[derive(Debug)]
pub enum Output {
    /// A finding.
    Finding(Box<Finding>),
    /// A line the engine rejected, with the reason.
    Rejected {
        /// The line as it was sent.
        line: Vec<u8>,
        /// Why it was rejected.
        reason: Rejection,
    },
}

/// An engine running on a tokio task.
#[derive(Debug)]
pub struct Running {
    /// Where to send event lines; drop it to end the input.
    pub events: mpsc::Sender<Vec<u8>>,
    /// Findings and rejections, in stream order; closed after the last.
    pub outputs: mpsc::Receiver<Output>,
    /// The engine, once the input ended and every output was sent (or the
    /// receiver was dropped): for its stats, or a snapshot to save.
    pub engine: JoinHandle<Engine>,
}

/// Moves `engine` onto a tokio task. Send event lines on
/// [`Running::events`]; findings and rejections arrive on
/// [`Running::outputs`] in stream order. Dropping the sender ends the input:
/// the task applies what waits in the reorder buffer, sends the last
/// findings, closes the receiver and hands the engine back. A live engine
/// ([`Options::live`](crate::Options::live)) is moved along the wall clock
/// every second, so its findings come without waiting for the next event.
/// Must be called inside a tokio runtime (with its timer enabled for a
/// live engine).
pub fn spawn(mut engine: Engine, capacity: usize) -> Running {
    let (events, mut inbox) = mpsc::channel::<Vec<u8>>(capacity.max(1));
    let (outputs, receiver) = mpsc::channel(capacity.max(1));
    let task = tokio::spawn(async move {
        // Only a live engine needs the runtime's timer.
        let mut clock = engine
            .options()
            .live
            .then(|| tokio::time::interval(Duration::from_secs(1)));
        let mut findings = Vec::new();
        loop {
            tokio::select! {
                line = inbox.recv() => {
                    let Some(line) = line else { break };
                    if let Err(reason) = engine.process(&line, &mut findings)
                        && outputs.send(Output::Rejected { line, reason }).await.is_err()
                    {
                        return engine;
                    }
                }
                () = tick(&mut clock) => engine.advance_to(Timestamp::now(), &mut findings),
            }
            if !send_all(&outputs, &mut findings).await {
                return engine;
            }
        }
        engine.finish(&mut findings);
        send_all(&outputs, &mut findings).await;
        engine
    });
    Running {
        events,
        outputs: receiver,
        engine: task,
    }
}

/// The next tick of the clock; never, without one.
async fn tick(clock: &mut Option<tokio::time::Interval>) {
    match clock {
        Some(clock) => {
            clock.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Sends the findings in order; false when the receiver is gone.
async fn send_all(outputs: &mpsc::Sender<Output>, findings: &mut Vec<Finding>) -> bool {
    for finding in findings.drain(..) {
        if outputs
            .send(Output::Finding(Box::new(finding)))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::RuleSet;

    #[tokio::test]
    async fn lines_in_findings_and_rejections_out() {
        let rules = RuleSet::from_yaml(
            "t.yaml",
            "id: cc\ntitle: cc\nseverity: low\nmatch:\n  s:\n    data.grantType: client_credentials\n",
        )
        .unwrap();
        let Running {
            events,
            mut outputs,
            engine,
        } = spawn(Engine::new(Arc::new(rules)), 8);
        let event = r#"{"id":"1","type":"x","source":"s","specversion":"1.0","tenantid":"t","time":"2026-01-01T00:00:00Z","data":{"grantType":"client_credentials"}}"#;
        events.send(b"{".to_vec()).await.unwrap();
        events.send(event.as_bytes().to_vec()).await.unwrap();
        drop(events);
        let mut seen = Vec::new();
        while let Some(output) = outputs.recv().await {
            seen.push(match output {
                Output::Finding(f) => f.rule,
                Output::Rejected { line, .. } => String::from_utf8(line).unwrap(),
            });
        }
        assert_eq!(seen, ["{", "cc"]);
        let stats = engine.await.unwrap().stats();
        assert_eq!((stats.accepted, stats.rejected), (1, 1));
    }

    #[tokio::test]
    async fn a_live_engine_moves_with_the_wall_clock() {
        // A correlation finding waits for the lateness to pass; in a live
        // stream the clock passes it without a further event.
        let rules = RuleSet::from_yaml(
            "t.yaml",
            "id: burst\ntitle: burst\nseverity: low\nmatch:\n  s:\n    data.grantType: client_credentials\n\
             correlation:\n  type: event_count\n  group-by: [tenantid]\n  timespan: 1m\n  condition: {gte: 1}\n",
        )
        .unwrap();
        let options = crate::Options {
            live: true,
            lateness: crate::time::Span(1_000_000),
            ..crate::Options::default()
        };
        let Running {
            events,
            mut outputs,
            ..
        } = spawn(Engine::with_options(Arc::new(rules), options), 8);
        let now = Timestamp::now().to_rfc3339();
        let event = format!(
            r#"{{"id":"1","type":"x","source":"s","specversion":"1.0","tenantid":"t","time":"{now}","data":{{"grantType":"client_credentials"}}}}"#
        );
        events.send(event.into_bytes()).await.unwrap();
        let output = tokio::time::timeout(Duration::from_secs(10), outputs.recv())
            .await
            .expect("a finding while the input stays open");
        assert!(matches!(output, Some(Output::Finding(f)) if f.rule == "burst"));
        drop(events);
    }
}
