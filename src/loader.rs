//! Finding rule files on disk, and the default pack built into the binary.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ruleset::Source;

/// The files of `rules/` at build time, as (path, text).
const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The default rule pack.
pub fn builtin() -> Vec<Source> {
    BUILTIN
        .iter()
        .map(|(name, text)| Source {
            name: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}

/// True for files that hold rules: `*.yaml` and `*.yml`.
pub fn is_rule_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// True for rule-test files (`*.tests.yaml`, `*.tests.yml`), which hold
/// long test scenarios rather than rules.
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".tests.yaml") || name.ends_with(".tests.yml")
}

/// Reads the rule files at `paths`: files as given, directories searched
/// recursively for rule files, in sorted order.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Source>, (PathBuf, io::Error)> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files, true).map_err(|e| (path.clone(), e))?;
    }
    files
        .into_iter()
        .map(|path| match fs::read_to_string(&path) {
            Ok(text) => Ok(Source {
                name: path.display().to_string(),
                text,
            }),
            Err(e) => Err((path, e)),
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, given: bool) -> io::Result<()> {
    if fs::metadata(path)?.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        for entry in entries {
            collect(&entry, out, false)?;
        }
    } else if given || is_rule_file(path) {
        out.push(path.to_path_buf());
    }
    Ok(())
}
