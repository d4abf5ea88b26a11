//! Following log files like `tail -F`, without loss or double counting.
//!
//! Semantics, each covered by a test in `tests/`:
//! - **Start**: at the end of an existing file (nginx's history is not replayed), or from byte 0
//!   with `--from-start`. A file that does not exist yet is waited for and read from byte 0 when
//!   it appears.
//! - **Identity** of a file is its `(device, inode)` plus a fingerprint of its first KiB (inode
//!   numbers are reused at once on some filesystems). When the name points at a new identity
//!   (logrotate `create` + nginx `USR1`, or delete and recreate), the old file is kept open and
//!   drained: nginx may write to it until it reopens its logs, so it is read until it has been
//!   idle for a grace period, then closed. The new file is read from byte 0.
//! - **Truncation** (copytruncate): the size drops below what was read, or the first bytes changed
//!   (truncated and refilled past the read position between two looks); reading restarts at 0.
//!   Lines written between the last read and the truncation are lost, as with any tailer.
//! - **Drain**: a rotated-away file is read until the new file has received data (nginx reopened
//!   its logs after `USR1`) and the old one has been idle for a grace period, or until it has been
//!   idle for [`MAX_DRAIN`] (a rotation whose `USR1` never comes).
//! - **Partial lines** are held until their newline arrives; lines are bytes, not UTF-8.
//! - **Checkpoints**: the offset of the last complete line is published after every read; the
//!   state file stores it with the identity, and a restart resumes there, finding a rotated file by
//!   inode in the same directory when the name has moved on.
//!
//! Change detection uses `notify` (inotify) on the parent directory to wake up, with a periodic
//! poll as a fallback; reads are coalesced so a busy log costs a bounded number of wake-ups.
//! `linemux` was not used: it yields `String` lines (invalid UTF-8 fails) and exposes no
//! offsets or identities to checkpoint.

use crate::framing::LineBuffer;
use crate::pipeline::{LogId, LogKind, Outcome, Pipeline};
use crate::sink::metrics::Metrics;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared pipeline of the live sidecar.
pub type Shared = Arc<Mutex<Pipeline<Metrics>>>;

/// Where a file was read up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    /// How many leading bytes [`Position::fp_hash`] covers (0: no fingerprint, as in state
    /// files of older versions).
    #[serde(default)]
    pub fp_len: u32,
    /// FNV-1a of the file's first `fp_len` bytes: tells a reused inode from the file we read.
    #[serde(default)]
    pub fp_hash: u64,
}

/// Bytes at the start of a file that identify it together with its inode.
pub const FINGERPRINT_BYTES: usize = 1024;

/// How long a rotated-away file is kept open at most while nginx has not written to the new one.
pub const MAX_DRAIN: Duration = Duration::from_secs(600);

/// The identifying start of a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fingerprint {
    len: u32,
    hash: u64,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads the file's first bytes (without moving its read position) and checks them against
/// `known`: `None` when they differ (the file was replaced or truncated and refilled), else the
/// fingerprint over what is there now (it grows up to [`FINGERPRINT_BYTES`]).
fn check_start(file: &File, known: Fingerprint) -> Option<Fingerprint> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; FINGERPRINT_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(known), // cannot tell: trust the inode
        }
    }
    let old = known.len as usize;
    // A zero length is no fingerprint yet (a new or empty file, an older state file).
    if n < old || (old > 0 && fnv1a(&buf[..old]) != known.hash) {
        return None;
    }
    Some(Fingerprint {
        len: n as u32,
        hash: if n == old {
            known.hash
        } else {
            fnv1a(&buf[..n])
        },
    })
}

/// Tailing settings.
#[derive(Clone, Debug)]
pub struct TailConfig {
    pub from_start: bool,
    pub poll: Duration,
    pub max_line: usize,
    /// How long a rotated-away file must stay idle before it is closed.
    pub drain_grace: Duration,
    /// Minimum time between two wake-ups while the file is busy.
    pub coalesce: Duration,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            from_start: false,
            poll: Duration::from_millis(250),
            max_line: crate::framing::DEFAULT_MAX_LINE,
            drain_grace: Duration::from_secs(5),
            coalesce: Duration::from_millis(20),
        }
    }
}

struct OpenFile {
    file: File,
    dev: u64,
    ino: u64,
    fp: Fingerprint,
    /// Bytes read from the file so far (the read position).
    read_pos: u64,
    lb: LineBuffer,
    last_data: Instant,
}

impl OpenFile {
    fn open(path: &Path, offset: u64, max_line: usize) -> io::Result<OpenFile> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let offset = if meta.len() < offset { 0 } else { offset };
        file.seek(SeekFrom::Start(offset))?;
        let mut lb = LineBuffer::new(max_line);
        lb.reset(offset);
        let fp = check_start(&file, Fingerprint::default()).unwrap_or_default();
        Ok(OpenFile {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            fp,
            read_pos: offset,
            lb,
            last_data: Instant::now(),
        })
    }

    fn position(&self) -> Position {
        Position {
            dev: self.dev,
            ino: self.ino,
            offset: self.lb.consumed(),
            fp_len: self.fp.len,
            fp_hash: self.fp.hash,
        }
    }

    /// Whether this open file still starts as it did (else it was truncated and refilled);
    /// extends the fingerprint while the file is shorter than [`FINGERPRINT_BYTES`].
    fn same_start(&mut self) -> bool {
        match check_start(&self.file, self.fp) {
            Some(fp) => {
                self.fp = fp;
                true
            }
            None => false,
        }
    }
}

/// Whether the file at `path` is the one `p` was saved from: same inode and same first bytes.
fn is_same_file(path: &Path, p: &Position) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    (meta.dev(), meta.ino()) == (p.dev, p.ino)
        && meta.len() >= p.offset
        && check_start(
            &file,
            Fingerprint {
                len: p.fp_len,
                hash: p.fp_hash,
            },
        )
        .is_some()
}

/// Follows one file and feeds its lines to the pipeline.
pub struct Tailer {
    path: PathBuf,
    log: LogId,
    kind: LogKind,
    cfg: TailConfig,
    current: Option<OpenFile>,
    draining: Vec<OpenFile>,
    /// The position of the current file, for the state file.
    pub position: Arc<Mutex<Option<Position>>>,
    warned: u64,
}

impl Tailer {
    /// Opens (or prepares to wait for) `path`. `resume` is the position from the state file.
    pub fn new(
        path: PathBuf,
        log: LogId,
        kind: LogKind,
        cfg: TailConfig,
        resume: Option<Position>,
    ) -> Tailer {
        let mut t = Tailer {
            path,
            log,
            kind,
            cfg,
            current: None,
            draining: Vec::new(),
            position: Arc::new(Mutex::new(None)),
            warned: 0,
        };
        t.initial_open(resume);
        t
    }

    fn initial_open(&mut self, resume: Option<Position>) {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(_) => {
                tracing::info!(file = %self.path.display(), "log file does not exist yet; waiting for it");
                return;
            }
        };
        let start = match resume {
            Some(p) if (p.dev, p.ino) == (meta.dev(), meta.ino()) => {
                if is_same_file(&self.path, &p) {
                    p.offset
                } else {
                    tracing::warn!(file = %self.path.display(), "the file was truncated or replaced while the sidecar was stopped (its first bytes changed); reading it from the start");
                    0
                }
            }
            Some(p) => {
                // The name moved on while we were stopped: finish the rotated file first.
                match find_by_inode(&self.path, p) {
                    Some(old) => match OpenFile::open(&old, p.offset, self.cfg.max_line) {
                        Ok(f) => {
                            tracing::info!(file = %self.path.display(), rotated = %old.display(), "resuming in the rotated file");
                            self.draining.push(f);
                        }
                        Err(e) => {
                            tracing::warn!(file = %old.display(), error = %e, "cannot open rotated file")
                        }
                    },
                    None => tracing::warn!(
                        file = %self.path.display(),
                        "the file in the state file was rotated away and is gone; lines written to it after the last checkpoint are lost"
                    ),
                }
                0
            }
            None if self.cfg.from_start => 0,
            None => meta.len(),
        };
        self.open_current(start);
    }

    fn open_current(&mut self, offset: u64) -> bool {
        match OpenFile::open(&self.path, offset, self.cfg.max_line) {
            Ok(f) => {
                self.publish(Some(f.position()));
                self.current = Some(f);
                true
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(file = %self.path.display(), error = %e, "cannot open log file; will retry");
                }
                false
            }
        }
    }

    fn publish(&self, p: Option<Position>) {
        if let Ok(mut g) = self.position.lock() {
            *g = p;
        }
    }

    /// Reads everything available now; returns whether any byte was read.
    pub fn poll_once(&mut self, shared: &Shared) -> bool {
        let mut progressed = false;
        let mut i = 0;
        while i < self.draining.len() {
            let (log, kind) = (self.log, self.kind);
            let got = read_available(
                &mut self.draining[i],
                shared,
                log,
                kind,
                &self.path,
                &mut self.warned,
            );
            progressed |= got;
            // nginx writes to the old file until it reopens its logs: wait for data in the new
            // one (or a long silence) before closing the old.
            let idle = self.draining[i].last_data.elapsed();
            let reopened = self.current.as_ref().is_some_and(|c| c.read_pos > 0);
            if !got && idle >= self.cfg.drain_grace && (reopened || idle >= MAX_DRAIN) {
                let mut f = self.draining.remove(i);
                flush_partial(&mut f, shared, log, kind);
                continue;
            }
            i += 1;
        }
        match self.current.as_mut() {
            None => {
                if fs::metadata(&self.path).is_ok() && self.open_current(0) {
                    tracing::info!(file = %self.path.display(), "log file appeared; reading it from the start");
                    return true;
                }
            }
            Some(cur) => {
                if !cur.same_start() {
                    self.truncated(shared);
                }
                let Some(cur) = self.current.as_mut() else {
                    return progressed;
                };
                let got = read_available(
                    cur,
                    shared,
                    self.log,
                    self.kind,
                    &self.path,
                    &mut self.warned,
                );
                progressed |= got;
                let pos = cur.position();
                self.publish(Some(pos));
                if !got {
                    self.check_rotation(shared);
                }
            }
        }
        progressed
    }

    fn check_rotation(&mut self, shared: &Shared) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let Ok(meta) = fs::metadata(&self.path) else {
            return; // renamed or deleted, not yet recreated: keep reading the open file
        };
        if (meta.dev(), meta.ino()) != (cur.dev, cur.ino) {
            tracing::info!(file = %self.path.display(), "log file was replaced (rotation); draining the old one, reading the new one");
            if let Some(mut old) = self.current.take() {
                old.last_data = Instant::now();
                self.draining.push(old);
            }
            self.open_current(0);
            if let Ok(mut p) = shared.lock() {
                p.sink.rotated(self.log);
            }
        } else if meta.len() < cur.read_pos {
            self.truncated(shared);
        }
    }

    /// Copytruncate: read the current file again from byte 0.
    fn truncated(&mut self, shared: &Shared) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        tracing::info!(file = %self.path.display(), "log file was truncated (copytruncate); reading from the start");
        if cur.file.seek(SeekFrom::Start(0)).is_ok() {
            cur.read_pos = 0;
            cur.lb.reset(0);
            cur.fp = Fingerprint::default();
            if let Ok(mut p) = shared.lock() {
                p.sink.rotated(self.log);
            }
        }
    }

    /// Follows the file until `stop` is set, then reads what is left and returns.
    pub fn run(mut self, shared: Shared, stop: Arc<AtomicBool>) {
        let (tx, rx) = mpsc::channel();
        let _watcher = watch_dir(&self.path, tx);
        let mut last_wake = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if self.poll_once(&shared) {
                continue;
            }
            // Idle: wait for a change event or the poll interval, then coalesce bursts.
            if rx.recv_timeout(self.cfg.poll).is_ok() {
                let since = last_wake.elapsed();
                if since < self.cfg.coalesce {
                    std::thread::sleep(self.cfg.coalesce - since);
                }
                while rx.try_recv().is_ok() {}
            }
            last_wake = Instant::now();
        }
        while self.poll_once(&shared) {}
    }
}

fn read_available(
    f: &mut OpenFile,
    shared: &Shared,
    log: LogId,
    kind: LogKind,
    path: &Path,
    warned: &mut u64,
) -> bool {
    let mut any = false;
    loop {
        let n = match f.lb.fill_from(&mut f.file) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "read failed");
                0
            }
        };
        if n == 0 {
            return any;
        }
        any = true;
        f.read_pos += n as u64;
        f.last_data = Instant::now();
        let Ok(mut p) = shared.lock() else { return any };
        loop {
            let offset = f.lb.consumed();
            let Some(frame) = f.lb.next_frame() else {
                break;
            };
            if let Outcome::Malformed(reason) = p.feed(log, kind, frame) {
                report_malformed(path, offset, reason, warned);
            }
        }
    }
}

fn flush_partial(f: &mut OpenFile, shared: &Shared, log: LogId, kind: LogKind) {
    if let (Some(frame), Ok(mut p)) = (f.lb.take_partial(), shared.lock()) {
        p.feed(log, kind, frame);
    }
}

/// Logs a malformed line without its content (it may carry a token): file, byte offset, reason.
/// The first 10 per source are warnings, then every 10,000th.
pub fn report_malformed(path: &Path, offset: u64, reason: &str, warned: &mut u64) {
    *warned += 1;
    if *warned <= 10 || (*warned).is_multiple_of(10_000) {
        tracing::warn!(
            file = %path.display(),
            byte_offset = offset,
            malformed_so_far = *warned,
            "malformed line skipped: {reason}"
        );
    }
}

/// Finds a file in `path`'s directory with the identity in `p` (a rotated log).
fn find_by_inode(path: &Path, p: Position) -> Option<PathBuf> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|c| {
            fs::metadata(c).is_ok_and(|m| m.is_file() && m.dev() == p.dev && m.ino() == p.ino)
                && is_same_file(c, &p)
        })
}

fn watch_dir(path: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut w = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .ok()?;
    w.watch(dir, notify::RecursiveMode::NonRecursive).ok()?;
    Some(w)
}

/// Reads a non-file source (stdin, a pipe) to its end.
pub fn read_stream<R: Read>(
    mut r: R,
    shared: &Shared,
    log: LogId,
    kind: LogKind,
    max_line: usize,
    name: &Path,
) {
    let mut lb = LineBuffer::new(max_line);
    let mut warned = 0;
    loop {
        let n = match lb.fill_from(&mut r) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(source = %name.display(), error = %e, "read failed");
                0
            }
        };
        let Ok(mut p) = shared.lock() else { return };
        loop {
            let offset = lb.consumed();
            let Some(frame) = lb.next_frame() else { break };
            if let Outcome::Malformed(reason) = p.feed(log, kind, frame) {
                report_malformed(name, offset, reason, &mut warned);
            }
        }
        if n == 0 {
            if let Some(frame) = lb.take_partial() {
                p.feed(log, kind, frame);
            }
            return;
        }
    }
}

/// Version written into the state file; files without one (older releases) load as version 0,
/// whose layout is the same.
pub const STATE_VERSION: u32 = 1;

/// Positions of every tailed file, persisted as JSON.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    #[serde(default)]
    pub version: u32,
    pub files: std::collections::BTreeMap<String, Position>,
}

impl StateFile {
    /// An empty state of the current version.
    pub fn new() -> StateFile {
        StateFile {
            version: STATE_VERSION,
            files: Default::default(),
        }
    }

    /// Loads the state; a missing file is an empty state, a corrupt one or one from a newer
    /// release is reported and ignored (reading from the configured start instead).
    pub fn load(path: &Path) -> StateFile {
        let st = match fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "state file is not valid JSON; starting without it");
                StateFile::new()
            }),
            Err(_) => StateFile::new(),
        };
        if st.version > STATE_VERSION {
            tracing::warn!(file = %path.display(), version = st.version, supported = STATE_VERSION, "state file was written by a newer release; starting without it");
            return StateFile::new();
        }
        st
    }

    /// Writes atomically: a temp file, fsynced, renamed over the old one, then the directory
    /// fsynced so the rename survives a crash.
    pub fn save(&self, path: &Path) -> io::Result<()> {
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

        let mut st = StateFile::new();
        st.files.insert("a.log".into(), pos);
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
}
