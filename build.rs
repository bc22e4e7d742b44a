//! Embeds the default rule pack (`rules/`) into the binary.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=rules");
    let mut files = Vec::new();
    collect(Path::new("rules"), &mut files);
    files.sort();
    let mut code = String::from("&[\n");
    for file in &files {
        let absolute = fs::canonicalize(file).expect("rule file path");
        println!("cargo:rerun-if-changed={}", file.display());
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            file.display().to_string(),
            absolute.display().to_string()
        ));
    }
    code.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_rules.rs");
    fs::write(out, code).expect("write builtin_rules.rs");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) && !path.to_string_lossy().contains(".tests.")
        {
            out.push(path);
        }
    }
}
