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

/// Why rule files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path given or found.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A file is not UTF-8 text; the position is that of its first bad byte.
    #[error("{}:{line}:{col}: error: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first bad byte.
        line: u32,
        /// 1-based column, in characters, of the first bad byte.
        col: u32,
    },
}

/// Reads the rule files at `paths`: files as given, directories searched
/// recursively for rule files, in sorted order.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Source>, ReadError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files, true).map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
    }
    // A file named twice (a directory and a file in it, or the same
    // directory twice) is read once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|path| seen.insert(fs::canonicalize(path).unwrap_or_else(|_| path.clone())));
    files.into_iter().map(read_file).collect()
}

fn read_file(path: PathBuf) -> Result<Source, ReadError> {
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(source) => return Err(ReadError::Io { path, source }),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source {
            name: path.display().to_string(),
            text,
        }),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
            let span = crate::yaml::span_at(text, valid);
            Err(ReadError::NotUtf8 {
                path,
                line: span.line,
                col: span.col,
            })
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_named_twice_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yaml");
        fs::write(&path, "id: a\n").unwrap();
        let twice = [dir.path().to_path_buf(), path, dir.path().join(".")];
        assert_eq!(read_paths(&twice).unwrap().len(), 1);
    }

    #[test]
    fn a_file_that_is_not_utf8_is_an_error_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        fs::write(&path, b"id: a\ntitle: \xc3\xa9t\xff\n").unwrap();
        let err = read_paths(std::slice::from_ref(&path)).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotUtf8 {
                    line: 2,
                    col: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("{}:2:10: error: not UTF-8 text", path.display())
        );
    }
}
