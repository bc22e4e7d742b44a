//! Matching on several threads with findings identical to one thread: the
//! input is cut into batches of lines; workers parse and match them
//! (stateless, one [`Matcher`] each); the main thread applies the results
//! batch by batch in input order, so duplicates, windows and output order
//! are exactly those of a sequential run.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use tokenwatch::RuleSet;
use tokenwatch::event::Rejection;
use tokenwatch::lines::Line;
use tokenwatch::matching::{Evaluated, Matcher};

/// Lines per batch: few enough that a batch's lines and what they
/// contribute stay in the processor's cache until they are applied (1,024
/// cost a fifth more cycles per event on one thread than 128).
pub const BATCH: usize = 128;

/// A batch of input lines and, once matched, their results.
#[derive(Default)]
pub struct Batch {
    /// The lines; only the first `count` are in use.
    pub lines: Vec<Line>,
    /// How many lines the batch holds.
    pub count: usize,
    /// The 1-based number of the first line in its input.
    pub first_number: u64,
    /// Which input the lines came from.
    pub input: usize,
    /// Per line: `None` for a blank line, else the matching result.
    pub results: Vec<Option<Result<Evaluated, Rejection>>>,
}

impl Batch {
    /// The next free line slot (growing the batch's storage once).
    pub fn slot(&mut self) -> &mut Line {
        if self.lines.len() == self.count {
            self.lines.push(Line::default());
        }
        &mut self.lines[self.count]
    }

    fn evaluate(&mut self, matcher: &mut Matcher) {
        self.results.clear();
        for line in &self.lines[..self.count] {
            let blank = !line.cut && line.bytes.iter().all(u8::is_ascii_whitespace);
            self.results
                .push((!blank).then(|| matcher.evaluate(&line.bytes)));
        }
    }
}

/// Matches batches inline (one thread) or on worker threads, handing them
/// back in the order they were submitted.
pub struct Pool {
    inline: Option<Matcher>,
    workers: Vec<(SyncSender<Batch>, Receiver<Batch>, JoinHandle<()>)>,
    sent: usize,
    received: usize,
    free: Vec<Batch>,
}

impl Pool {
    /// A pool of `threads` matchers (1 matches on the calling thread).
    pub fn new(rules: &Arc<RuleSet>, max_line: usize, threads: usize) -> Pool {
        if threads <= 1 {
            return Pool {
                inline: Some(Matcher::new(Arc::clone(rules), max_line)),
                workers: Vec::new(),
                sent: 0,
                received: 0,
                free: Vec::new(),
            };
        }
        let workers = (0..threads)
            .map(|_| {
                let (to_worker, jobs) = sync_channel::<Batch>(2);
                let (done, from_worker) = sync_channel::<Batch>(2);
                let mut matcher = Matcher::new(Arc::clone(rules), max_line);
                let handle = thread::spawn(move || {
                    for mut batch in jobs {
                        batch.evaluate(&mut matcher);
                        if done.send(batch).is_err() {
                            break;
                        }
                    }
                });
                (to_worker, from_worker, handle)
            })
            .collect();
        Pool {
            inline: None,
            workers,
            sent: 0,
            received: 0,
            free: Vec::new(),
        }
    }

    /// An empty batch, reusing a returned one's storage when possible.
    pub fn batch(&mut self, input: usize, first_number: u64) -> Batch {
        let mut batch = self.free.pop().unwrap_or_default();
        batch.count = 0;
        batch.input = input;
        batch.first_number = first_number;
        batch
    }

    /// Hands a used batch back for reuse.
    pub fn recycle(&mut self, batch: Batch) {
        self.free.push(batch);
    }

    /// Submits a batch; returns the batches whose results are ready, in
    /// submission order.
    pub fn submit(&mut self, mut batch: Batch) -> Vec<Batch> {
        if let Some(matcher) = &mut self.inline {
            batch.evaluate(matcher);
            return vec![batch];
        }
        let n = self.workers.len();
        let mut ready = Vec::new();
        if self.sent - self.received >= 2 * n {
            ready.extend(self.receive());
        }
        if self.workers[self.sent % n].0.send(batch).is_err() {
            return ready;
        }
        self.sent += 1;
        ready
    }

    /// Every batch still being matched, in submission order.
    pub fn drain(&mut self) -> Vec<Batch> {
        let mut ready = Vec::new();
        while self.received < self.sent {
            match self.receive() {
                Some(batch) => ready.push(batch),
                None => break,
            }
        }
        ready
    }

    fn receive(&mut self) -> Option<Batch> {
        let n = self.workers.len();
        let batch = self.workers[self.received % n].1.recv().ok()?;
        self.received += 1;
        Some(batch)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (sender, receiver, handle) in self.workers.drain(..) {
            drop(sender);
            drop(receiver);
            let _ = handle.join();
        }
    }
}
