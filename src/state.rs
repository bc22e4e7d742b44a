//! Saving and restoring an engine's state, so that a restart keeps
//! detecting across the gap.
//!
//! The state file is JSON with a format name and version. Each rule's
//! state is stored with a fingerprint of its definition: a rule whose
//! definition changed, or that is new, starts fresh (and is named), while
//! the others carry on. Files are replaced atomically: written to a
//! temporary file beside the target, flushed to disk, then renamed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ruleset::RuleSet;
use crate::time::Timestamp;
use crate::window::{GroupKey, RuleState};

/// The format name written into every state file.
pub const FORMAT: &str = "tokenwatch-state";
/// The newest version of the state layout: 2 adds the events still
/// waiting and the watermark. A state without them is written as version
/// 1, which builds before version 2 read too; a build refuses any version
/// it does not know, rather than drop what it cannot read.
pub const VERSION: u32 = 2;

/// The oldest version of the state layout this build reads, and the one
/// it writes when no event waits.
pub const OLDEST: u32 = 1;

/// One rule's saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRule {
    /// The rule id.
    pub id: String,
    /// The fingerprint of the definition the state was built by.
    pub fingerprint: String,
    /// Correlation groups.
    pub state: RuleState,
    /// Suppressed groups and their recent suppressions (finding time, end).
    pub suppressed: Vec<(GroupKey, Vec<(Timestamp, Timestamp)>)>,
}

/// An event still waiting, when the state was saved, for its lateness to
/// run out (or, far ahead, for the next event): its line is evaluated again
/// on restore, so a state saved mid-stream loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    /// The event time.
    pub time: Timestamp,
    /// The event line as it arrived.
    pub line: String,
    /// Whether its stateless findings still wait too (they were written
    /// already in a live stream).
    #[serde(default)]
    pub findings_pending: bool,
    /// Whether it was held as far ahead of the stream.
    #[serde(default)]
    pub held: bool,
}

/// An engine's saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when events wait, else 1 (see [`VERSION`]).
    pub version: u32,
    /// The latest event time seen.
    pub max_time: Option<Timestamp>,
    /// The time before which an event is late (the latest time seen when
    /// absent, as in files saved after the end of the input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Timestamp>,
    /// Events still waiting, in the order they would be applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingEvent>,
    /// Remembered event identities, oldest first.
    pub dedup: Vec<(u64, u64)>,
    /// Per-rule state.
    pub rules: Vec<SavedRule>,
}

impl Snapshot {
    /// The ids of the saved rules that `rules` lacks: a restore into an
    /// engine of `rules` drops their state.
    pub fn rules_missing_from(&self, rules: &RuleSet) -> Vec<String> {
        self.rules
            .iter()
            .filter(|saved| rules.rules().iter().all(|rule| rule.id != saved.id))
            .map(|saved| saved.id.clone())
            .collect()
    }
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file is not a state file of a known version.
    #[error("not a usable state file: {0}")]
    Format(String),
}

/// Reads a state file; `Ok(None)` when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<Snapshot>, StateError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The header first, skipping the rest without building it, so that a
    // file of another format or version is refused with a clear reason;
    // then the whole, straight into its types (not through a JSON tree,
    // which would take several times the memory of the state).
    #[derive(Deserialize)]
    struct Header {
        format: Option<String>,
        version: Option<u64>,
    }
    let header: Header =
        serde_json::from_slice(&text).map_err(|e| StateError::Format(e.to_string()))?;
    let format = header.format.as_deref();
    let version = header.version;
    if format != Some(FORMAT) {
        return Err(StateError::Format(format!("format is not '{FORMAT}'")));
    }
    if !version.is_some_and(|v| (u64::from(OLDEST)..=u64::from(VERSION)).contains(&v)) {
        return Err(StateError::Format(format!(
            "version {} is not supported (this build reads versions {OLDEST} to {VERSION}); remove the file to start fresh",
            version.map_or("?".to_owned(), |v| v.to_string())
        )));
    }
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| StateError::Format(e.to_string()))
}

/// Writes a state file atomically: a crash leaves the old file or the new
/// one, never a torn one.
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), StateError> {
    let (directory, temporary) = temporary_beside(path);
    let result = (|| {
        let mut file = File::create(&temporary)?;
        serde_json::to_writer(io::BufWriter::new(&mut file), snapshot).map_err(io::Error::other)?;
        file.flush()?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        if let Ok(dir) = File::open(directory) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(StateError::Io)
}

/// Checks that a state file can be saved at `path` (its directory exists
/// and takes files), so that a run finds out before its work, not after.
pub fn check_writable(path: &Path) -> Result<(), StateError> {
    let (_, temporary) = temporary_beside(path);
    File::create(&temporary)?;
    fs::remove_file(&temporary)?;
    Ok(())
}

/// The directory of a state file and the temporary file a save writes
/// there before renaming it.
fn temporary_beside(path: &Path) -> (&Path, std::path::PathBuf) {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let temporary = directory.join(format!(".{name}.tmp{}", std::process::id()));
    (directory, temporary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_load_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let load_version = |version: u32| {
            let text = format!(
                r#"{{"format":"{FORMAT}","version":{version},"max_time":null,"dedup":[],"rules":[]}}"#
            );
            fs::write(&path, text).unwrap();
            load(&path)
        };
        for version in [1, 2] {
            assert!(
                matches!(load_version(version), Ok(Some(_))),
                "version {version}"
            );
        }
        let refused = load_version(3).unwrap_err().to_string();
        assert!(refused.contains("version 3 is not supported"), "{refused}");
    }

    #[test]
    fn rules_missing_from_a_rule_set_are_named() {
        let rule = |id: &str| {
            format!(
                "id: {id}\ntitle: t\nseverity: low\nmatch:\n  s:\n    data.appType|exists: true\n\
                 correlation:\n  type: event_count\n  group-by: [tenantid]\n  timespan: 5m\n  condition: {{gte: 2}}\n"
            )
        };
        let both = format!("{}---\n{}", rule("kept"), rule("removed"));
        let saved =
            crate::Engine::new(std::sync::Arc::new(RuleSet::from_yaml("r", &both).unwrap()))
                .snapshot();
        let now = RuleSet::from_yaml("r", &rule("kept")).unwrap();
        assert_eq!(saved.rules_missing_from(&now), ["removed"]);
    }
}
