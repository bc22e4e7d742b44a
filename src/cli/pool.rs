//! Matching on several threads with findings identical to one thread: the
//! input is cut into batches of lines; workers and the main thread parse and
//! match them (stateless, one [`Matcher`] each); the main thread applies the
//! results batch by batch in input order, so duplicates, windows and output
//! order are exactly those of a sequential run.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::{self, JoinHandle};

use tokenwatch::RuleSet;
use tokenwatch::event::Rejection;
use tokenwatch::lines::Line;
use tokenwatch::matching::{Evaluated, MAX_SPARE_BYTES, Matcher, Spares};

/// Lines per batch: few enough that a batch's lines and what they
/// contribute stay in the processor's cache until they are applied (1,024
/// cost a fifth more cycles per event on one thread than 128).
pub const BATCH: usize = 128;

/// Most bytes of lines per batch: a batch of long lines is cut short, so
/// that the batches in flight hold a bounded amount of input.
pub const BATCH_BYTES: usize = 1 << 20;

/// A batch of input lines and, once matched, their results.
#[derive(Default)]
pub struct Batch {
    /// The lines; only the first `count` are in use. Once matched, the
    /// bytes of an accepted line with correlation hits have moved on with
    /// the hits (see [`Matcher::evaluate_owned`]); rejected lines stay.
    pub lines: Vec<Line>,
    /// How many lines the batch holds.
    pub count: usize,
    /// How many bytes its lines hold.
    pub bytes: usize,
    /// The 1-based number of the first line in its input.
    pub first_number: u64,
    /// Which input the lines came from.
    pub input: usize,
    /// Per line: `None` for a blank line, else the matching result.
    pub results: Vec<Option<Result<Evaluated, Rejection>>>,
    /// Buffers of applied events, for the matcher to fill again.
    pub spares: Spares,
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
        matcher.reuse(&mut self.spares);
        self.results.clear();
        for line in &mut self.lines[..self.count] {
            let blank = line.is_blank();
            self.results
                .push((!blank).then(|| matcher.evaluate_owned(&mut line.bytes)));
        }
    }
}

/// Where the result of a submitted batch is: with a worker, or already
/// matched on the calling thread.
enum Pending {
    Worker(usize),
    Done(Batch),
}

/// Matches batches on the calling thread and `threads - 1` workers, handing
/// them back in the order they were submitted. The calling thread also reads
/// and applies; it matches a batch itself whenever every worker's queue is
/// full, so the work balances itself across the threads.
pub struct Pool {
    matcher: Matcher,
    workers: Vec<(SyncSender<Batch>, Receiver<Batch>, JoinHandle<()>)>,
    /// Submitted batches in order, until handed back.
    order: VecDeque<Pending>,
    next_worker: usize,
    free: Vec<Batch>,
}

/// Batches a worker may have queued.
const QUEUE: usize = 2;

impl Pool {
    /// A pool using `threads` threads in all (1: the calling thread alone).
    pub fn new(rules: &Arc<RuleSet>, max_line: usize, threads: usize) -> Pool {
        let workers = (1..threads)
            .map(|_| {
                let (to_worker, jobs) = sync_channel::<Batch>(QUEUE);
                let (done, from_worker) = sync_channel::<Batch>(QUEUE);
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
            matcher: Matcher::new(Arc::clone(rules), max_line),
            workers,
            order: VecDeque::new(),
            next_worker: 0,
            free: Vec::new(),
        }
    }

    /// An empty batch, reusing a returned one's storage when possible.
    pub fn batch(&mut self, input: usize, first_number: u64) -> Batch {
        let mut batch = self.free.pop().unwrap_or_default();
        batch.count = 0;
        batch.bytes = 0;
        batch.input = input;
        batch.first_number = first_number;
        batch
    }

    /// Hands a used batch back for reuse.
    pub fn recycle(&mut self, mut batch: Batch) {
        for line in &mut batch.lines {
            // Memory must not stay at the longest line times the slots.
            if line.bytes.capacity() > MAX_SPARE_BYTES {
                line.bytes = Vec::new();
            }
        }
        self.free.push(batch);
    }

    /// Submits a batch; returns the batches whose results are ready, in
    /// submission order.
    pub fn submit(&mut self, mut batch: Batch) -> Vec<Batch> {
        for _ in 0..self.workers.len() {
            let index = self.next_worker;
            self.next_worker = (index + 1) % self.workers.len();
            match self.workers[index].0.try_send(batch) {
                Ok(()) => {
                    self.order.push_back(Pending::Worker(index));
                    return self.ready(false);
                }
                Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => batch = back,
            }
        }
        batch.evaluate(&mut self.matcher);
        self.order.push_back(Pending::Done(batch));
        self.ready(false)
    }

    /// Every batch still being matched, in submission order.
    pub fn drain(&mut self) -> Vec<Batch> {
        self.ready(true)
    }

    /// The batches at the front of the order whose results are in; with
    /// `wait`, all of them.
    fn ready(&mut self, wait: bool) -> Vec<Batch> {
        let mut ready = Vec::new();
        // Bound what waits behind a slow batch.
        let limit = QUEUE * self.workers.len() + 2;
        while let Some(front) = self.order.pop_front() {
            let batch = match front {
                Pending::Done(batch) => batch,
                Pending::Worker(index) => {
                    let receiver = &self.workers[index].1;
                    // Err(true): the worker is gone (it panicked), and so is
                    // its batch; Err(false): not matched yet.
                    let received = if wait || self.order.len() >= limit {
                        receiver.recv().map_err(|_| true)
                    } else {
                        receiver
                            .try_recv()
                            .map_err(|e| e == TryRecvError::Disconnected)
                    };
                    match received {
                        Ok(batch) => batch,
                        Err(true) => continue,
                        Err(false) => {
                            self.order.push_front(Pending::Worker(index));
                            break;
                        }
                    }
                }
            };
            ready.push(batch);
        }
        ready
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
