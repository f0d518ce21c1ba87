//! Finding plugins on disk: a plugin directory, and the default directory with its
//! immediate subdirectories (§8.1).

use std::path::{Path, PathBuf};

use crate::process::check_executable;

/// Plugins in `dir` (not recursive): regular files with an execute bit, names of
/// letters, digits, `-`, `_`, `.`, and not `README.md`. Sorted by name.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "README.md"
            || name.starts_with('.')
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            continue;
        }
        let path = e.path();
        if check_executable(&path).is_ok() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The default plugin dir and each of its immediate subdirectories (§8.1). A missing
/// directory yields nothing.
pub fn scan_default_dir(dir: &Path) -> Vec<PathBuf> {
    let mut out = scan_dir(dir).unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for s in subs {
            out.extend(scan_dir(&s).unwrap_or_default());
        }
    }
    out
}

pub(crate) fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}
