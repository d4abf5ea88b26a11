//! Where a log's files are: the real file behind a symlink, rotated siblings next to it, a file
//! found again by identity after a rotation, and the directory watch that wakes the tailer.

use crate::source::fingerprint::is_same_file;
use crate::source::state::Position;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The file a (possibly symlinked) log name leads to, also when the target no longer exists:
/// rotated files are next to the target, not next to the link.
pub(crate) fn real_target(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..8 {
        match fs::read_link(&p) {
            Ok(t) if t.is_absolute() => p = t,
            Ok(t) => p = parent_dir(&p).join(t),
            Err(_) => break,
        }
    }
    p
}

pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The name and the file it leads to (once when they are the same).
pub(crate) fn names(path: &Path) -> Vec<PathBuf> {
    let target = real_target(path);
    if target == path {
        vec![target]
    } else {
        vec![target, path.to_path_buf()]
    }
}

/// Finds the file saved in `p` (same inode and first bytes) in the directory of the log's
/// real file or of its name: where rotation moved it.
pub(crate) fn find_by_identity(path: &Path, p: &Position) -> Option<PathBuf> {
    names(path).iter().find_map(|n| {
        fs::read_dir(parent_dir(n))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|c| {
                fs::metadata(c).is_ok_and(|m| m.is_file() && m.dev() == p.dev && m.ino() == p.ino)
                    && is_same_file(c, p)
            })
    })
}

/// Rotated siblings of the log's real file: `NAME.1`, `NAME-20261201`, `NAME.1-x`, ...
/// (a suffix starting with a digit, made of digits and `.-_`, not compressed), so another log
/// that shares a prefix (`access.log.ws`) is never taken for a rotated one.
pub(crate) fn rotated_siblings(path: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    let mut out = Vec::new();
    for n in names(path) {
        let Some(base) = n.file_name().and_then(|b| b.to_str()) else {
            continue;
        };
        let Ok(rd) = fs::read_dir(parent_dir(&n)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(base) else {
                continue;
            };
            let Some(suffix) = rest.strip_prefix('.').or_else(|| rest.strip_prefix('-')) else {
                continue;
            };
            let rotated_like = suffix.starts_with(|c: char| c.is_ascii_digit())
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
            if !rotated_like {
                continue;
            }
            let p = e.path();
            if let Ok(m) = fs::metadata(&p) {
                if m.is_file()
                    && !out.iter().any(|(_, o): &(PathBuf, fs::Metadata)| {
                        o.ino() == m.ino() && o.dev() == m.dev()
                    })
                {
                    out.push((p, m));
                }
            }
        }
    }
    out
}

pub(crate) fn watch_dir(path: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .ok()?;
    let mut any = false;
    for n in names(path) {
        any |= w
            .watch(&parent_dir(&n), notify::RecursiveMode::NonRecursive)
            .is_ok();
    }
    any.then_some(w)
}
