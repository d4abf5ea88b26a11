//! The state file: every followed file's identity and offset, saved so a restart resumes each
//! log (the current file and rotated files still draining) where the last checkpoint left it.
//! When a checkpoint is taken and saved (the scrape acknowledgement) is `checkpoint`'s concern.

use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::Duration;

/// Where a file was read up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) offset: u64,
    /// How many leading bytes [`Position::fp_hash`] covers (0: no fingerprint, as in state
    /// files of older versions).
    #[serde(default)]
    pub(crate) fp_len: u32,
    /// FNV-1a of the file's first `fp_len` bytes: tells a reused inode from the file we read.
    #[serde(default)]
    pub(crate) fp_hash: u64,
    /// Lines between this position and the read position when the state was saved: known lost
    /// if the file is gone at the restart.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) unscraped_lines: u64,
    /// Lines fed from this file so far (in memory only).
    #[serde(skip)]
    pub(crate) lines: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Every file of one log that is still being read, as of the last batch of lines fed to the
/// pipeline. Updated while the pipeline lock is held, so a copy taken under that lock matches
/// the counters rendered under it exactly (the scrape acknowledgement relies on this).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogCheckpoint {
    pub(crate) current: Option<Position>,
    #[serde(default)]
    pub(crate) draining: Vec<Position>,
    /// Unix time when the name was last seen pointing at `current`: a rotated file modified
    /// after it, and not listed here, was created after that look and is read from its start.
    #[serde(default)]
    pub(crate) confirmed_at: f64,
    /// Files drained and closed lately (identity and final offset): a rotated sibling among
    /// them has been read and is not a file created between two looks, also after a restart.
    #[serde(default)]
    pub(crate) closed: Vec<Position>,
}

/// Version written into the state file; files without one (older releases) load as version 0,
/// whose layout is the same.
pub(crate) const STATE_VERSION: u32 = 1;

/// Longest scrape gap taken from a state file.
pub(crate) const MAX_SCRAPE_GAP: Duration = Duration::from_secs(86_400);

/// Positions of every tailed file, persisted as JSON: per log, the current file (`files`, as
/// in earlier versions) and the rotated files still being drained, recently closed ones and
/// when the name was last checked, whether a scrape acknowledged them and the last scrape gap.
/// The additions are optional fields, so the version stays 1: an older release reads the current
/// files and ignores the rest, and files of older releases load with the defaults.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateFile {
    #[serde(default)]
    pub(crate) version: u32,
    pub(crate) files: std::collections::BTreeMap<String, Position>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) draining: std::collections::BTreeMap<String, Vec<Position>>,
    #[serde(default)]
    pub(crate) confirmed_at: std::collections::BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) closed: std::collections::BTreeMap<String, Vec<Position>>,
    /// Whether the positions are those of the last scrape (else the read positions).
    #[serde(default)]
    pub(crate) acknowledged_by_scrape: bool,
    /// Seconds between the last two scrapes: after a restart, how long the acknowledged
    /// positions are kept while waiting for the first scrape (0 in files of older releases).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub(crate) scrape_gap_seconds: f64,
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

impl StateFile {
    /// An empty state of the current version.
    pub(crate) fn new() -> StateFile {
        StateFile {
            version: STATE_VERSION,
            ..StateFile::default()
        }
    }

    /// The entry of log `name` (one without files: the log was being waited for).
    pub(crate) fn checkpoint(&self, name: &str) -> Option<LogCheckpoint> {
        let current = self.files.get(name).copied();
        let draining = self.draining.get(name).cloned().unwrap_or_default();
        let listed = current.is_some() || self.confirmed_at.contains_key(name);
        listed.then(|| LogCheckpoint {
            current,
            draining,
            confirmed_at: self.confirmed_at.get(name).copied().unwrap_or(0.0),
            closed: self.closed.get(name).cloned().unwrap_or_default(),
        })
    }

    /// Whether `other` holds the same positions, differing at most in when the names were last
    /// checked and in the scrape gap (which change on an idle sidecar without moving anything).
    pub(crate) fn same_positions(&self, other: &StateFile) -> bool {
        self.version == other.version
            && self.files == other.files
            && self.draining == other.draining
            && self.closed == other.closed
            && self.acknowledged_by_scrape == other.acknowledged_by_scrape
            && self.confirmed_at.keys().eq(other.confirmed_at.keys())
    }

    /// The scrape gap saved with the state, at most [`MAX_SCRAPE_GAP`] (a hand-edited or
    /// corrupt value must not stretch the wait for the first scrape, or overflow it).
    pub(crate) fn scrape_gap(&self) -> Duration {
        Duration::try_from_secs_f64(self.scrape_gap_seconds)
            .unwrap_or_default()
            .min(MAX_SCRAPE_GAP)
    }

    /// Adds log `name`'s entry.
    pub(crate) fn insert(&mut self, name: &str, ck: LogCheckpoint) {
        if let Some(c) = ck.current {
            self.files.insert(name.to_string(), c);
        }
        if !ck.draining.is_empty() {
            self.draining.insert(name.to_string(), ck.draining);
        }
        self.confirmed_at.insert(name.to_string(), ck.confirmed_at);
        if !ck.closed.is_empty() {
            self.closed.insert(name.to_string(), ck.closed);
        }
    }

    /// Loads the state; a missing file is an empty state, a corrupt one or one from a newer
    /// release is reported and ignored (reading from the configured start instead).
    pub(crate) fn load(path: &Path) -> StateFile {
        let st = match fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "state file is not valid JSON; starting without it");
                StateFile::new()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => StateFile::new(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the state file; starting without it (logs start at their end, or at 0 with --from-start)");
                StateFile::new()
            }
        };
        if st.version > STATE_VERSION {
            tracing::warn!(file = %path.display(), version = st.version, supported = STATE_VERSION, "state file was written by a newer release; starting without it");
            return StateFile::new();
        }
        st
    }

    /// Writes atomically: a temp file, fsynced, renamed over the old one, then the directory
    /// fsynced so the rename survives a crash.
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let body = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        crate::replace_file::write_replacing(path, |f| {
            io::Write::write_all(f, &body)?;
            f.sync_data()
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_is_versioned_and_old_files_still_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        // As written by releases before the version field.
        fs::write(
            &path,
            r#"{"files":{"/var/log/nginx/access.log":{"dev":1,"ino":2,"offset":3}}}"#,
        )
        .expect("write");
        let old = StateFile::load(&path);
        assert_eq!(old.version, 0);
        let pos = old.files["/var/log/nginx/access.log"];
        assert_eq!((pos.dev, pos.ino, pos.offset, pos.fp_len), (1, 2, 3, 0));
        assert!(!old.acknowledged_by_scrape);
        assert_eq!(old.scrape_gap(), Duration::ZERO);

        let mut st = StateFile::new();
        st.files.insert("a.log".into(), pos);
        st.scrape_gap_seconds = 15.25;
        st.save(&path).expect("save");
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.contains(r#""version": 1"#), "{text}");
        assert_eq!(StateFile::load(&path), st);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| n != "state.json")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

        // A newer release's file is not misread: reading starts over, as without a state file.
        fs::write(
            &path,
            r#"{"version":99,"files":{"a.log":{"dev":1,"ino":2,"offset":3}}}"#,
        )
        .expect("write");
        assert!(StateFile::load(&path).files.is_empty());
    }

    #[test]
    fn a_corrupt_scrape_gap_is_bounded() {
        for v in [1e19, f64::MAX, -5.0, f64::NAN, f64::INFINITY] {
            let st = StateFile {
                scrape_gap_seconds: v,
                ..StateFile::new()
            };
            assert!(st.scrape_gap() <= MAX_SCRAPE_GAP, "{v}");
            // What the checkpointer computes from it must not overflow.
            let _ = st
                .scrape_gap()
                .max(Duration::from_secs(10))
                .saturating_mul(2);
        }
        let st: StateFile =
            serde_json::from_str(r#"{"files":{},"scrape_gap_seconds":1e19}"#).expect("json");
        assert_eq!(st.scrape_gap(), MAX_SCRAPE_GAP);
    }

    #[test]
    fn an_unreadable_state_file_is_an_empty_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: read fails with something other than NotFound.
        assert!(StateFile::load(dir.path()).files.is_empty());
    }
}
