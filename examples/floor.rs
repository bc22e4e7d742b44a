//! The parse floor on a file: reads NDJSON lines and deserialises each into
//! a typed struct with borrowed strings (serde_json), on one thread. What
//! `tokenwatch run` on the same file is compared with in the README.
//!
//! ```sh
//! cargo run --release --example floor -- FILE
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::Instant;

#[path = "../benches/typed.rs"]
mod typed;

fn main() {
    let path = std::env::args().nth(1).expect("usage: floor FILE");
    let mut input = BufReader::with_capacity(1 << 16, File::open(&path).expect("open input"));
    let started = Instant::now();
    let (mut parsed, mut failed) = (0u64, 0u64);
    let mut line = Vec::new();
    while input.read_until(b'\n', &mut line).expect("read input") > 0 {
        match serde_json::from_slice::<typed::TypedEvent>(&line) {
            Ok(_) => parsed += 1,
            Err(_) => failed += 1,
        }
        line.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{parsed} events parsed ({failed} failed) in {seconds:.2}s: {:.0} events/s",
        parsed as f64 / seconds
    );
}
