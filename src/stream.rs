//! A tokio adapter: an engine on its own task that turns a stream of event
//! lines into a stream of findings (and of rejected lines, so nothing is
//! lost).
//!
//! ```
//! use std::sync::Arc;
//! use tokenwatch::stream::{Output, spawn};
//! use tokenwatch::{Engine, RuleSet, loader};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let rules = RuleSet::from_sources(&loader::builtin()).unwrap();
//! let (events, mut outputs) = spawn(Engine::new(Arc::new(rules)), 1024);
//! events.send(b"not json".to_vec()).await.unwrap();
//! drop(events); // end of input: what waits for late events is applied
//! while let Some(output) = outputs.recv().await {
//!     match output {
//!         Output::Finding(finding) => println!("{}", finding.to_json()),
//!         Output::Rejected { reason, .. } => eprintln!("rejected: {reason}"),
//!     }
//! }
//! # });
//! ```

use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::event::Rejection;
use crate::finding::Finding;

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

/// Moves `engine` onto a tokio task. Send event lines on the returned
/// sender; findings and rejections arrive on the receiver in stream order.
/// Dropping the sender ends the input: the task applies what waits in the
/// reorder buffer, sends the last findings and closes the receiver.
/// Must be called inside a tokio runtime.
pub fn spawn(
    mut engine: Engine,
    capacity: usize,
) -> (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Output>) {
    let (events, mut inbox) = mpsc::channel::<Vec<u8>>(capacity.max(1));
    let (outputs, receiver) = mpsc::channel(capacity.max(1));
    tokio::spawn(async move {
        let mut findings = Vec::new();
        while let Some(line) = inbox.recv().await {
            if let Err(reason) = engine.process(&line, &mut findings)
                && outputs
                    .send(Output::Rejected { line, reason })
                    .await
                    .is_err()
            {
                return;
            }
            for finding in findings.drain(..) {
                if outputs
                    .send(Output::Finding(Box::new(finding)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        engine.finish(&mut findings);
        for finding in findings {
            if outputs
                .send(Output::Finding(Box::new(finding)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    (events, receiver)
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
        let (events, mut outputs) = spawn(Engine::new(Arc::new(rules)), 8);
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
    }
}
