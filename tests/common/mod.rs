//! Helpers shared by the integration tests that run the built binary.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Path of the `tokenwatch` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_tokenwatch");

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None` when killed by a signal).
    pub status: Option<i32>,
    /// Bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Bytes written to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs the binary with `args` in directory `cwd`, feeding `stdin` (or
/// nothing) on standard input.
pub fn run(cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tokenwatch binary starts");
    {
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(bytes) = stdin {
            // A write error means the binary stopped reading; its output
            // tells why.
            let _ = input.write_all(bytes);
        }
    }
    let out = child
        .wait_with_output()
        .expect("the tokenwatch binary runs");
    Output {
        status: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// A line diff of `expected` against `actual`: unchanged lines start with
/// two spaces, missing ones with `- `, unexpected ones with `+ `. Line ends
/// are made visible when the texts differ only there.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    // Longest common subsequence table, from the ends.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let show = |line: &str| {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let mut shown: String = body
            .chars()
            .map(|c| match c {
                '\r' => "\\r".to_owned(),
                c if c.is_control() && c != '\t' => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect();
        if !line.ends_with('\n') {
            shown.push_str("  (no newline at end)");
        }
        shown
    };
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", show(a[i])));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", show(a[i])));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", show(b[j])));
            j += 1;
        }
    }
    out
}

/// The summary line `run` prints on stderr, for the given counts.
pub fn summary_line(read: u64, accepted: u64, rejected: u64, duplicates: u64) -> String {
    format!(
        "tokenwatch: {read} events read: {accepted} accepted, {rejected} rejected, {duplicates} duplicates"
    )
}
