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
use crate::pipeline::{LogId, LogKind, Outcome, Pipeline, Sink};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pipeline shared by the sources that feed it; any [`Sink`] (the live registry in `run`, a
/// test's recorder), so a source never depends on what consumes its lines.
pub type Shared<S> = Arc<Mutex<Pipeline<S>>>;

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
    pub fn poll_once<S: Sink>(&mut self, shared: &Mutex<Pipeline<S>>) -> bool {
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

    fn check_rotation<S: Sink>(&mut self, shared: &Mutex<Pipeline<S>>) {
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
    fn truncated<S: Sink>(&mut self, shared: &Mutex<Pipeline<S>>) {
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
    pub fn run<S: Sink>(mut self, shared: Shared<S>, stop: Arc<AtomicBool>) {
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

fn read_available<S: Sink>(
    f: &mut OpenFile,
    shared: &Mutex<Pipeline<S>>,
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

fn flush_partial<S: Sink>(
    f: &mut OpenFile,
    shared: &Mutex<Pipeline<S>>,
    log: LogId,
    kind: LogKind,
) {
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
pub fn read_stream<R: Read, S: Sink>(
    mut r: R,
    shared: &Mutex<Pipeline<S>>,
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

    use crate::classify::route::PathLabels;
    use crate::classify::{AccessEvent, Classifier, ClassifyConfig, ErrorEvent};
    use crate::parse::format::LineFormat;
    use std::io::Write;

    /// Records the id of every access line (its `$request_time` in ms) and every malformed one.
    #[derive(Default)]
    struct Record {
        ids: Vec<u64>,
        malformed: u64,
        rotations: u64,
    }

    impl Sink for Record {
        fn read(&mut self, _log: LogId) {}
        fn malformed(&mut self, _log: LogId) {
            self.malformed += 1;
        }
        fn access(&mut self, _log: LogId, ev: &AccessEvent, _labels: &PathLabels) {
            let rt = ev
                .request_seconds
                .expect("every test line logs $request_time");
            self.ids.push((rt * 1000.0).round() as u64);
        }
        fn error(&mut self, _log: LogId, _ev: &ErrorEvent, _labels: &PathLabels) {}
        fn rotated(&mut self, _log: LogId) {
            self.rotations += 1;
        }
    }

    fn pipeline() -> Mutex<Pipeline<Record>> {
        let c = Classifier::new(
            LineFormat::compile("ws_timing").expect("preset"),
            &ClassifyConfig::default(),
        )
        .expect("classifier");
        Mutex::new(Pipeline::new(c, Record::default()))
    }

    fn line(id: u64) -> Vec<u8> {
        format!(
            "10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /api/items HTTP/1.1\" 200 12 \"-\" \"t\" \
             rt={}.{:03} uct=\"0.000\" uht=\"0.001\" urt=\"0.001\" upgrade=\"-\"\n",
            id / 1000,
            id % 1000
        )
        .into_bytes()
    }

    fn cfg() -> TailConfig {
        TailConfig {
            from_start: true,
            drain_grace: Duration::ZERO,
            coalesce: Duration::ZERO,
            ..TailConfig::default()
        }
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open for append");
        f.write_all(bytes).expect("append");
    }

    fn poll(t: &mut Tailer, p: &Mutex<Pipeline<Record>>) {
        // A wake-up may take two polls: one notices the rotation, the next reads on.
        for _ in 0..3 {
            while t.poll_once(p) {}
        }
    }

    fn ids(p: &Mutex<Pipeline<Record>>) -> Vec<u64> {
        let mut v = p.lock().expect("lock").sink.ids.clone();
        v.sort_unstable();
        v
    }

    #[test]
    fn follower_reads_appends_partial_lines_and_a_rename_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &line(1));
        let p = pipeline();
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None);
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1]);
        // Half a line is held until its newline.
        let l2 = line(2);
        append(&path, &l2[..40]);
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1]);
        append(&path, &l2[40..]);
        // Written to the old file after the rename, before nginx reopens: still read.
        fs::rename(&path, dir.path().join("access.log.1")).expect("rename");
        append(&dir.path().join("access.log.1"), &line(3));
        append(&path, &line(4));
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3, 4]);
        let g = p.lock().expect("lock");
        assert_eq!((g.sink.malformed, g.sink.rotations), (0, 1));
    }

    #[test]
    fn follower_rereads_after_copytruncate_and_resumes_from_its_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &[line(1), line(2)].concat());
        let p = pipeline();
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None);
        poll(&mut t, &p);
        fs::copy(&path, dir.path().join("access.log.1")).expect("copy");
        fs::File::create(&path).expect("truncate");
        append(&path, &line(3));
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3]);
        // A restart resumes at the saved position: nothing twice, nothing lost.
        let pos = t.position.lock().expect("lock").expect("a position");
        drop(t);
        append(&path, &line(4));
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), Some(pos));
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3, 4]);
    }

    #[test]
    fn follower_follows_a_symlink_whose_target_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let link = dir.path().join("access.log");
        append(&a, &line(1));
        std::os::unix::fs::symlink(&a, &link).expect("symlink");
        let p = pipeline();
        let mut t = Tailer::new(link.clone(), 0, LogKind::Access, cfg(), None);
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1]);
        // Re-pointed (as a deploy that switches log directories does); the old target still gets
        // a late line before its writer moves on.
        append(&b, &line(3));
        let tmp_link = dir.path().join("access.log.new");
        std::os::unix::fs::symlink(&b, &tmp_link).expect("symlink");
        fs::rename(&tmp_link, &link).expect("swap link");
        append(&a, &line(2));
        poll(&mut t, &p);
        append(&b, &line(4));
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3, 4]);
        assert_eq!(p.lock().expect("lock").sink.rotations, 1);
    }

    /// One step of the model.
    #[derive(Clone, Debug)]
    enum Op {
        /// Append this many complete lines.
        Write(u8),
        /// Append the first half of a line (completed by the next write).
        Partial,
        /// The sidecar wakes up.
        Poll,
        /// `mv access.log access.log.N`, nginx reopens (a new file).
        RenameReopen,
        /// logrotate's copytruncate.
        CopyTruncate,
        /// `rm access.log`, a new file with the same name.
        DeleteRecreate,
        /// Truncated and refilled past the old offset before the sidecar looks.
        TruncateRefill,
        /// Stop (read what is left, save the position) and start again from the state.
        Restart,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (1u8..4).prop_map(Op::Write),
            2 => Just(Op::Partial),
            3 => Just(Op::Poll),
            1 => Just(Op::RenameReopen),
            1 => Just(Op::CopyTruncate),
            1 => Just(Op::DeleteRecreate),
            1 => Just(Op::TruncateRefill),
            1 => Just(Op::Restart),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Every complete line written is read exactly once. The model's one allowance is the
        /// copytruncate window (the rotation docs state it): lines written between the
        /// sidecar's last read and the truncation are lost, so the model lets the sidecar wake
        /// up just before a copytruncate or truncate-and-refill. It also wakes after each
        /// rotation, as a file it never opened (renamed away again before any wake-up) cannot
        /// be followed.
        #[test]
        fn every_complete_line_is_read_exactly_once(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("access.log");
            fs::File::create(&path).expect("create");
            let p = pipeline();
            let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None);
            let mut next = 0u64;
            let mut written = Vec::new();
            let mut rest: Option<Vec<u8>> = None;
            let mut rotated = 0;
            let write = |n: u8, rest: &mut Option<Vec<u8>>, next: &mut u64, written: &mut Vec<u64>| {
                let mut bytes = rest.take().unwrap_or_default();
                for _ in 0..n {
                    *next += 1;
                    written.push(*next);
                    bytes.extend(line(*next));
                }
                append(&path, &bytes);
            };
            for op in ops {
                // nginx writes whole lines: a pending half line is finished before a rotation.
                let rotation = !matches!(op, Op::Write(_) | Op::Partial | Op::Poll | Op::Restart);
                if rotation && rest.is_some() {
                    write(0, &mut rest, &mut next, &mut written);
                }
                match op {
                    Op::Write(n) => write(n, &mut rest, &mut next, &mut written),
                    Op::Partial => {
                        write(0, &mut rest, &mut next, &mut written);
                        next += 1;
                        written.push(next);
                        let l = line(next);
                        append(&path, &l[..l.len() / 2]);
                        rest = Some(l[l.len() / 2..].to_vec());
                    }
                    Op::Poll => poll(&mut t, &p),
                    Op::RenameReopen => {
                        rotated += 1;
                        fs::rename(&path, dir.path().join(format!("access.log.{rotated}"))).expect("rename");
                        fs::File::create(&path).expect("reopen");
                        poll(&mut t, &p);
                    }
                    Op::CopyTruncate => {
                        poll(&mut t, &p);
                        fs::copy(&path, dir.path().join("copy")).expect("copy");
                        fs::File::create(&path).expect("truncate");
                        poll(&mut t, &p);
                    }
                    Op::DeleteRecreate => {
                        fs::remove_file(&path).expect("rm");
                        fs::File::create(&path).expect("recreate");
                        poll(&mut t, &p);
                    }
                    Op::TruncateRefill => {
                        poll(&mut t, &p);
                        let old = fs::metadata(&path).expect("stat").len();
                        fs::File::create(&path).expect("truncate");
                        let mut refilled = 0;
                        while refilled <= old {
                            write(1, &mut rest, &mut next, &mut written);
                            refilled = fs::metadata(&path).expect("stat").len();
                        }
                        poll(&mut t, &p);
                    }
                    Op::Restart => {
                        poll(&mut t, &p);
                        let pos = *t.position.lock().expect("lock");
                        t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), pos);
                    }
                }
            }
            write(0, &mut rest, &mut next, &mut written);
            poll(&mut t, &p);
            proptest::prop_assert_eq!(ids(&p), written);
            proptest::prop_assert_eq!(p.lock().expect("lock").sink.malformed, 0);
        }
    }
}
