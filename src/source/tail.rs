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
//! - **Truncation** (copytruncate): the size drops below what was read or below the size at the
//!   previous look, the first bytes changed, or the bytes just before the read position changed
//!   (truncated and refilled past the read position between two looks, even with an identical
//!   first KiB); reading restarts at 0. Lines written between the last read and the truncation
//!   are lost, as with any tailer.
//! - **Drain**: a rotated-away file is read until the new file has received data (nginx reopened
//!   its logs after `USR1`) and the old one has been idle for a grace period, or until it has been
//!   idle for [`MAX_DRAIN`] (a rotation whose `USR1` never comes). A rotated-away file that has
//!   been deleted (link count 0) is closed after [`TailConfig::unlinked_grace`] of silence even if
//!   the new file has no data yet: holding it keeps its blocks allocated, and on a full disk
//!   nginx could not write the new file.
//! - **Rotations faster than a look**: when the name has moved on, rotated siblings of the log's
//!   real file (`NAME.1`, `NAME-DATE`, ..., next to a symlink's target) modified after the last
//!   look and not read before are files that were created and rotated away in between; they are
//!   read from byte 0. While the name is missing the directory is listed at most once a second
//!   ([`MISSING_SEARCH_EVERY`]); when the name is back, and at shutdown, always.
//! - **Partial lines** are held until their newline arrives; lines are bytes, not UTF-8.
//! - **Checkpoints** ([`LogCheckpoint`]): the current file and every rotated file still draining,
//!   each with its identity and the offset of the last complete line fed, updated under the
//!   pipeline lock. A restart resumes every one of them, finding rotated files by inode next to
//!   the real file, then reads files created and rotated away while it was stopped from 0. A
//!   checkpointed file is recognised by inode, first bytes and size together, never by the inode
//!   alone: a new file that got its inode number is read from 0, and a copy of it (copytruncate
//!   while stopped: same first KiB, another inode) is read on from the saved offset.
//!
//! Change detection uses `notify` (inotify) on the parent directory to wake up, with a periodic
//! poll as a fallback; reads are coalesced so a busy log costs a bounded number of wake-ups.
//! `linemux` was not used: it yields `String` lines (invalid UTF-8 fails) and exposes no
//! offsets or identities to checkpoint.

use crate::framing::LineBuffer;
use crate::pipeline::Shared;
use crate::pipeline::{LogId, LogKind, Notice, Outcome, Pipeline, Sink};
use crate::source::checkpoint::relock;
use crate::source::fingerprint::{check_start, is_same_file, Fingerprint, FINGERPRINT_BYTES};
use crate::source::state::{LogCheckpoint, Position};
use crate::source::watch::{find_by_identity, rotated_siblings, watch_dir};
use std::convert::Infallible;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a rotated-away file is kept open at most while nginx has not written to the new one.
pub(crate) const MAX_DRAIN: Duration = Duration::from_secs(600);

/// Tailing settings.
#[derive(Clone, Debug)]
pub(crate) struct TailConfig {
    pub(crate) from_start: bool,
    pub(crate) poll: Duration,
    pub(crate) max_line: usize,
    /// How long a rotated-away file must stay idle before it is closed.
    pub(crate) drain_grace: Duration,
    /// How long a rotated-away file that has been deleted (link count 0) must stay idle before
    /// it is closed, even if the new file has no data yet: its blocks stay allocated while we
    /// hold it, and on a full disk nginx cannot write the new file until we let go.
    pub(crate) unlinked_grace: Duration,
    /// Minimum time between two wake-ups while the file is busy.
    pub(crate) coalesce: Duration,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            from_start: false,
            poll: Duration::from_millis(250),
            max_line: crate::framing::DEFAULT_MAX_LINE,
            drain_grace: Duration::from_secs(5),
            unlinked_grace: Duration::from_secs(1),
            coalesce: Duration::from_millis(20),
        }
    }
}

/// Closed files remembered per log: more than the rotations that can happen within the
/// timestamp slack of one look (the model test found 18 in one second re-reading a file once
/// the list, then 16, had forgotten it).
const MAX_CLOSED: usize = 64;

/// Seconds of filesystem timestamp slack when telling files created after a look.
const MTIME_SLACK: f64 = 1.0;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn mtime(meta: &fs::Metadata) -> f64 {
    meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9
}

struct OpenFile {
    file: File,
    /// Where it was opened (for log messages).
    name: PathBuf,
    dev: u64,
    ino: u64,
    fp: Fingerprint,
    /// Bytes read from the file so far (the read position).
    read_pos: u64,
    /// File size at the last look: a smaller size later means truncation even when the file
    /// was refilled past the read position with the same first KiB.
    last_size: u64,
    /// The last bytes read (up to [`TAIL_CHECK`]): checked against the file to catch a
    /// truncate-and-refill whose first KiB is identical.
    tail: [u8; TAIL_CHECK],
    tail_len: usize,
    /// Lines fed from this file (for lines known lost when a checkpointed file is gone).
    lines: u64,
    lb: LineBuffer,
    last_data: Instant,
}

/// Bytes before the read position compared at each look.
const TAIL_CHECK: usize = 128;

impl OpenFile {
    fn open(path: &Path, offset: u64, max_line: usize) -> io::Result<OpenFile> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let offset = if meta.len() < offset { 0 } else { offset };
        file.seek(SeekFrom::Start(offset))?;
        let mut lb = LineBuffer::new(max_line);
        lb.reset(offset);
        let fp = check_start(&file, Fingerprint::default()).unwrap_or_default();
        let mut f = OpenFile {
            file,
            name: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            fp,
            read_pos: offset,
            last_size: meta.len(),
            tail: [0; TAIL_CHECK],
            tail_len: 0,
            lines: 0,
            lb,
            last_data: Instant::now(),
        };
        f.remember_tail();
        Ok(f)
    }

    fn position(&self) -> Position {
        Position {
            dev: self.dev,
            ino: self.ino,
            offset: self.lb.consumed(),
            fp_len: self.fp.len,
            fp_hash: self.fp.hash,
            unscraped_lines: 0,
            lines: self.lines,
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

    /// Records the bytes just before the read position (one `pread` per batch, not per line).
    fn remember_tail(&mut self) {
        use std::os::unix::fs::FileExt;
        let n = self.read_pos.min(TAIL_CHECK as u64) as usize;
        self.tail_len = match self
            .file
            .read_at(&mut self.tail[..n], self.read_pos - n as u64)
        {
            Ok(k) if k == n => n,
            _ => 0,
        };
    }

    /// Whether the file was truncated since the last look although its start is unchanged: it
    /// got shorter, or the bytes before the read position differ from those read.
    fn truncated_since_last_look(&mut self) -> bool {
        use std::os::unix::fs::FileExt;
        let Ok(meta) = self.file.metadata() else {
            return false;
        };
        let size = meta.len();
        let shrunk = size < self.last_size || size < self.read_pos;
        self.last_size = size;
        if shrunk {
            return true;
        }
        let n = self.tail_len;
        if n == 0 || size == self.read_pos {
            return false; // nothing new to read: the next look catches a refill
        }
        let mut buf = [0u8; TAIL_CHECK];
        match self.file.read_at(&mut buf[..n], self.read_pos - n as u64) {
            Ok(k) => k != n || buf[..n] != self.tail[..n],
            Err(_) => false,
        }
    }

    fn deleted(&self) -> bool {
        self.file.metadata().is_ok_and(|m| m.nlink() == 0)
    }
}

/// Follows one file and feeds its lines to the pipeline.
pub(crate) struct Tailer {
    path: PathBuf,
    log: LogId,
    kind: LogKind,
    cfg: TailConfig,
    current: Option<OpenFile>,
    draining: Vec<OpenFile>,
    /// Every file still being read, for the state file (see [`LogCheckpoint`]).
    pub(crate) checkpoint: Arc<Mutex<LogCheckpoint>>,
    confirmed_at: f64,
    /// Identities of files closed lately: a rotated sibling among them was read already.
    closed: std::collections::VecDeque<Position>,
    /// When the name was last compared with the current file.
    last_check: Instant,
    open_counts: (u64, u64),
    /// Whether the name led to the current file at the last look.
    name_matches: bool,
    /// Whether a file of this log was followed (not only waited for) since the start.
    followed: bool,
    warned: u64,
    open_warned: RateLimit,
    /// Sibling searches (directory listings) done, for tests.
    searches: u64,
    /// When the directory was last listed while the name was missing.
    last_missing_search: Option<Instant>,
}

/// Least time between two directory listings while the log's name is missing.
const MISSING_SEARCH_EVERY: Duration = Duration::from_secs(1);

/// At most one warning per interval, with the number suppressed since the last one.
#[derive(Default)]
struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    const EVERY: Duration = Duration::from_secs(60);

    /// `Some(suppressed)` when a warning may be logged now.
    fn allow(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.suppressed))
    }
}

impl Tailer {
    /// Opens (or prepares to wait for) `path`. `resume` is this log's entry in the state file.
    pub(crate) fn new<S: Sink<Error = Infallible>>(
        path: PathBuf,
        log: LogId,
        kind: LogKind,
        cfg: TailConfig,
        resume: Option<LogCheckpoint>,
        shared: &Mutex<Pipeline<S>>,
    ) -> Tailer {
        let mut t = Tailer {
            path,
            log,
            kind,
            cfg,
            current: None,
            draining: Vec::new(),
            checkpoint: Arc::new(Mutex::new(LogCheckpoint::default())),
            confirmed_at: unix_now(),
            closed: std::collections::VecDeque::new(),
            last_check: Instant::now(),
            open_counts: (0, 0),
            followed: false,
            name_matches: false,
            warned: 0,
            open_warned: RateLimit::default(),
            searches: 0,
            last_missing_search: None,
        };
        t.initial_open(resume, shared);
        t.publish(shared);
        t.update_open_counts(shared);
        t
    }

    fn initial_open<S: Sink<Error = Infallible>>(
        &mut self,
        resume: Option<LogCheckpoint>,
        shared: &Mutex<Pipeline<S>>,
    ) {
        let at_name = fs::metadata(&self.path).ok();
        // An entry without files: the log was waited for; a file there now appeared meanwhile.
        let waited = resume
            .as_ref()
            .is_some_and(|c| c.current.is_none() && c.draining.is_empty());
        let Some(ck) = resume.filter(|_| !waited) else {
            match at_name {
                None => {
                    tracing::info!(file = %self.path.display(), "log file does not exist yet; waiting for it")
                }
                Some(m) => {
                    let start = if self.cfg.from_start || waited {
                        0
                    } else {
                        m.len()
                    };
                    self.open_current(start);
                }
            }
            return;
        };
        let name_id = at_name.as_ref().map(|m| (m.dev(), m.ino()));
        for p in &ck.closed {
            self.remember_closed(*p);
        }
        let mut current_start = None;
        // The checkpointed file whose inode number the name has, with other first bytes (or
        // shorter): truncated, or deleted and a new file got the inode number.
        let mut replaced = None;
        let mut lost = 0;
        for p in ck.current.iter().chain(&ck.draining) {
            if current_start.is_none() && name_id == Some((p.dev, p.ino)) {
                current_start = Some(if is_same_file(&self.path, p) {
                    p.offset
                } else {
                    replaced = Some(*p);
                    0
                });
                continue;
            }
            match find_by_identity(&self.path, p) {
                Some(old) => match OpenFile::open(&old, p.offset, self.cfg.max_line) {
                    Ok(f) => {
                        tracing::info!(file = %self.path.display(), rotated = %old.display(), offset = p.offset, "resuming in the rotated file");
                        self.draining.push(f);
                        self.followed = true;
                    }
                    Err(e) => {
                        tracing::warn!(file = %old.display(), error = %e, "cannot open rotated file")
                    }
                },
                None => {
                    lost += p.unscraped_lines;
                    tracing::warn!(
                        file = %self.path.display(),
                        lines_known_lost = p.unscraped_lines,
                        "a file in the state file was rotated away and is gone; lines written to it after the last checkpoint are lost"
                    )
                }
            }
        }
        let mut rotations = 0;
        if ck.current.is_some_and(|c| name_id != Some((c.dev, c.ino))) || replaced.is_some() {
            rotations += 1;
        }
        if current_start.is_none() || replaced.is_some() {
            // Rotated (or replaced) while stopped: files created after the last look and
            // already rotated away (two rotations during the downtime) are read from their
            // start, a copy of a checkpointed file (copytruncate) from its offset.
            let known: Vec<Position> = ck.current.iter().chain(&ck.draining).copied().collect();
            let (opened, copies) = self.open_intermediates(ck.confirmed_at, &known, name_id);
            rotations += opened;
            if let Some(p) = replaced.filter(|p| !copies.contains(&(p.dev, p.ino))) {
                // The lines read but never scraped are gone with the old content.
                lost += p.unscraped_lines;
                tracing::warn!(file = %self.path.display(), lines_known_lost = p.unscraped_lines, "the file was truncated or replaced while the sidecar was stopped (its first bytes changed); reading it from the start");
            }
        }
        if let Ok(mut p) = shared.lock() {
            for _ in 0..rotations {
                p.notice(self.log, Notice::Rotated);
            }
            if lost > 0 {
                p.notice(
                    self.log,
                    Notice::Lost {
                        reason: "rotated_file_gone",
                        lines: lost,
                    },
                );
            }
        }
        if at_name.is_some() {
            self.open_current(current_start.unwrap_or(0));
        } else {
            tracing::info!(file = %self.path.display(), "log file does not exist (rotated and not yet recreated); waiting for it");
        }
    }

    /// Opens rotated siblings modified since `since` that are not the file at the name (inode
    /// `at_name`), nor open, nor one of the checkpointed files `known`, as draining files: a
    /// copy of a `known` file (same first bytes, at least as long, another inode: what
    /// copytruncate leaves) from that file's offset, any other from byte 0 (or where it was
    /// closed lately). A `known` file is told by its inode *and* its first bytes and size, as
    /// inode numbers are reused. Returns how many files were opened other than copies, and the
    /// identities of the `known` files whose copy was opened.
    fn open_intermediates(
        &mut self,
        since: f64,
        known: &[Position],
        at_name: Option<(u64, u64)>,
    ) -> (usize, Vec<(u64, u64)>) {
        self.searches += 1;
        let mut n = 0;
        let mut copies = Vec::new();
        for (sib, meta) in rotated_siblings(&self.path) {
            let id = (meta.dev(), meta.ino());
            if at_name == Some(id) || mtime(&meta) < since - MTIME_SLACK || self.is_open(id) {
                continue;
            }
            let same = |p: &&Position| {
                meta.len() >= p.offset
                    && File::open(&sib).is_ok_and(|f| {
                        check_start(
                            &f,
                            Fingerprint {
                                len: p.fp_len,
                                hash: p.fp_hash,
                            },
                        )
                        .is_some()
                    })
            };
            if known.iter().any(|p| (p.dev, p.ino) == id && same(&p)) {
                continue; // the checkpointed file itself (resumed, or could not be opened)
            }
            let closed = self.closed_offset(&sib, id);
            // A copy is told by a whole fingerprint only: short files (a line or two) of one
            // log often start with the same bytes (client, timestamp).
            let copy_of = known
                .iter()
                .filter(|p| p.fp_len as usize == FINGERPRINT_BYTES)
                .find(same)
                .filter(|_| closed.is_none());
            if let Some(p) = copy_of {
                match OpenFile::open(&sib, p.offset, self.cfg.max_line) {
                    Ok(f) => {
                        tracing::info!(file = %self.path.display(), copy = %sib.display(), offset = p.offset, "the file was copied and truncated while the sidecar was stopped; resuming in the copy");
                        self.draining.push(f);
                        copies.push((p.dev, p.ino));
                    }
                    Err(e) => {
                        tracing::warn!(file = %sib.display(), error = %e, "cannot open rotated file")
                    }
                }
                continue;
            }
            // A file closed lately is read on from where it was closed (nothing, usually); an
            // inode number reused by a new file fails the fingerprint, or had none (closed empty)
            // and is read from 0 either way.
            let start = closed.unwrap_or(0);
            if closed.is_some() && meta.len() <= start {
                continue; // closed, and nothing written since
            }
            match OpenFile::open(&sib, start, self.cfg.max_line) {
                Ok(f) => {
                    tracing::info!(file = %self.path.display(), rotated = %sib.display(), "a file was created and rotated away between two looks; reading it from the start");
                    self.draining.push(f);
                    n += 1;
                }
                Err(e) => {
                    tracing::warn!(file = %sib.display(), error = %e, "cannot open rotated file")
                }
            }
        }
        (n, copies)
    }

    /// While the name is missing, reads files created at it and rotated away since the last
    /// look; lists the directory at most every [`MISSING_SEARCH_EVERY`] (a name missing for
    /// long must not cost a directory listing per wake-up). The search when the name is back
    /// is not limited, so no such file is missed.
    fn search_while_missing<S: Sink<Error = Infallible>>(
        &mut self,
        shared: &Mutex<Pipeline<S>>,
    ) -> usize {
        if self
            .last_missing_search
            .is_some_and(|t| t.elapsed() < MISSING_SEARCH_EVERY)
        {
            return 0;
        }
        self.last_missing_search = Some(Instant::now());
        let (extra, _) = self.open_intermediates(self.confirmed_at, &[], None);
        if extra > 0 {
            if let Ok(mut p) = shared.lock() {
                for _ in 0..extra {
                    p.notice(self.log, Notice::Rotated);
                }
            }
        }
        extra
    }

    fn is_open(&self, id: (u64, u64)) -> bool {
        self.current
            .iter()
            .chain(&self.draining)
            .any(|f| (f.dev, f.ino) == id)
    }

    /// Where a file closed lately that is (by inode and first bytes) the one at `path` was
    /// closed.
    fn closed_offset(&self, path: &Path, id: (u64, u64)) -> Option<u64> {
        self.closed
            .iter()
            .rev()
            .find(|p| (p.dev, p.ino) == id && is_same_file(path, p))
            .map(|p| p.offset)
    }

    fn remember_closed(&mut self, p: Position) {
        self.closed.push_back(p);
        if self.closed.len() > MAX_CLOSED {
            self.closed.pop_front();
        }
    }

    fn open_current(&mut self, offset: u64) -> bool {
        match OpenFile::open(&self.path, offset, self.cfg.max_line) {
            Ok(f) => {
                self.current = Some(f);
                self.followed = true;
                self.name_matches = true;
                self.confirmed_at = unix_now();
                self.open_warned = RateLimit::default();
                true
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    if let Some(suppressed) = self.open_warned.allow() {
                        tracing::warn!(file = %self.path.display(), error = %e, suppressed_since_last = suppressed, "cannot open log file; will retry");
                    }
                }
                false
            }
        }
    }

    /// Rewrites the checkpoint from the open files; takes the pipeline lock first so that a
    /// scrape sees the file set and the counters change together.
    fn publish<S: Sink<Error = Infallible>>(&self, shared: &Mutex<Pipeline<S>>) {
        let _guard = shared.lock();
        {
            let mut c = relock(&self.checkpoint);
            c.current = self.current.as_ref().map(OpenFile::position);
            c.draining = self.draining.iter().map(OpenFile::position).collect();
            c.confirmed_at = self.confirmed_at;
            c.closed = self.closed.iter().copied().collect();
        }
    }

    /// Updates `open_files` when the number of files held (or of deleted ones) changed.
    fn update_open_counts<S: Sink<Error = Infallible>>(&mut self, shared: &Mutex<Pipeline<S>>) {
        let files = self.current.iter().chain(&self.draining);
        let open = files.clone().count() as u64;
        let deleted = files.filter(|f| f.deleted()).count() as u64;
        if (open, deleted) != self.open_counts {
            self.open_counts = (open, deleted);
            if let Ok(mut p) = shared.lock() {
                p.notice(self.log, Notice::OpenFiles { open, deleted });
            }
        }
    }

    /// Reads everything available now; returns whether any byte was read.
    pub(crate) fn poll_once<S: Sink<Error = Infallible>>(
        &mut self,
        shared: &Mutex<Pipeline<S>>,
    ) -> bool {
        let mut progressed = false;
        let mut changed = false;
        let mut i = 0;
        while i < self.draining.len() {
            let got = read_available(
                &mut self.draining[i],
                shared,
                self.log,
                self.kind,
                &self.checkpoint,
                Slot::Draining(i),
                &mut self.warned,
            );
            progressed |= got;
            // nginx writes to the old file until it reopens its logs: wait for data in the new
            // one (or a long silence) before closing the old. A deleted one is let go after a
            // short silence: holding it keeps its disk space allocated.
            let f = &self.draining[i];
            let idle = f.last_data.elapsed();
            // (While the name is gone, the current file is a renamed one, not nginx's new file.)
            let reopened =
                self.name_matches && self.current.as_ref().is_some_and(|c| c.read_pos > 0);
            // Written to since the read just made (a race): read it first. What nginx writes
            // after the file is closed is not seen by anyone (README, rotation semantics).
            let grew = || f.file.metadata().is_ok_and(|m| m.len() > f.read_pos);
            let done = !got
                && ((idle >= self.cfg.drain_grace && (reopened || idle >= MAX_DRAIN))
                    || (idle >= self.cfg.unlinked_grace && f.deleted()))
                && !grew();
            if done {
                self.release(i, shared);
                changed = true;
                continue;
            }
            i += 1;
        }
        match self.current.as_mut() {
            None => {
                let Ok(meta) = fs::metadata(&self.path) else {
                    if self.followed && self.search_while_missing(shared) > 0 {
                        self.publish(shared);
                        return true;
                    }
                    return progressed;
                };
                self.last_missing_search = None;
                // The name was gone (renamed, not yet reopened): files created and rotated away
                // since are read too. Not on a first start: history is not replayed.
                let extra = if self.followed {
                    self.open_intermediates(self.confirmed_at, &[], Some((meta.dev(), meta.ino())))
                        .0
                } else {
                    0
                };
                if extra > 0 {
                    if let Ok(mut p) = shared.lock() {
                        for _ in 0..extra {
                            p.notice(self.log, Notice::Rotated);
                        }
                    }
                    changed = true;
                }
                if self.open_current(0) {
                    tracing::info!(file = %self.path.display(), "log file appeared; reading it from the start");
                    self.publish(shared);
                    self.update_open_counts(shared);
                    return true;
                }
            }
            Some(cur) => {
                if !cur.same_start() || cur.truncated_since_last_look() {
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
                    &self.checkpoint,
                    Slot::Current,
                    &mut self.warned,
                );
                progressed |= got;
                // Also while busy, now and then: keeps `confirmed_at` recent.
                if !got || self.last_check.elapsed() >= Duration::from_secs(1) {
                    self.last_check = Instant::now();
                    changed |= self.check_rotation(shared);
                }
            }
        }
        if changed {
            self.publish(shared);
        }
        if !progressed {
            self.update_open_counts(shared);
        }
        progressed
    }

    /// Closes draining file `i`, in one step with the checkpoint so no scrape sees one without
    /// the other. Its partial last line (nginx writes whole lines: a write cut short) is fed as
    /// a line, as at the end of a stream, and counted in the file's lines, so the closed
    /// position accounts for every byte read. The checkpoint drops the file even if the
    /// pipeline lock is poisoned (nothing is fed then), so no entry of it outlives the file.
    fn release<S: Sink<Error = Infallible>>(&mut self, i: usize, shared: &Mutex<Pipeline<S>>) {
        let mut f = self.draining.remove(i);
        tracing::debug!(file = %self.path.display(), rotated = %f.name.display(), "closing the drained rotated file");
        let mut pipeline = shared.lock();
        if let Ok(p) = pipeline.as_mut() {
            let offset = f.lb.consumed();
            if let Some(frame) = f.lb.take_partial() {
                f.lines += 1;
                if let Outcome::Malformed(reason) = p.feed(self.log, self.kind, frame) {
                    report_malformed(&f.name, offset, reason, &mut self.warned);
                }
            }
        }
        {
            let mut c = relock(&self.checkpoint);
            if i < c.draining.len() {
                c.draining.remove(i);
            }
            c.closed.push(f.position());
            if c.closed.len() > MAX_CLOSED {
                c.closed.remove(0);
            }
        }
        drop(pipeline);
        self.remember_closed(f.position());
    }

    /// Returns whether the set of open files changed.
    fn check_rotation<S: Sink<Error = Infallible>>(&mut self, shared: &Mutex<Pipeline<S>>) -> bool {
        let Some(cur) = self.current.as_mut() else {
            return false;
        };
        let Ok(meta) = fs::metadata(&self.path) else {
            // Renamed or deleted, not yet recreated: keep reading the open file, and read files
            // that were created at the name and rotated away since the last look.
            self.name_matches = false;
            return self.search_while_missing(shared) > 0;
        };
        self.last_missing_search = None;
        // The file we hold being deleted, the name cannot lead to it whatever its inode number
        // (a filesystem that reuses the number of an open file).
        if (meta.dev(), meta.ino()) == (cur.dev, cur.ino) && !cur.deleted() {
            self.name_matches = true;
            self.confirmed_at = unix_now();
            {
                let mut c = relock(&self.checkpoint);
                c.confirmed_at = self.confirmed_at;
            }
            return false;
        }
        tracing::info!(file = %self.path.display(), "log file was replaced (rotation); draining the old one, reading the new one");
        if let Some(mut old) = self.current.take() {
            old.last_data = Instant::now();
            self.draining.push(old);
        }
        let since = self.confirmed_at;
        let (extra, _) = self.open_intermediates(since, &[], Some((meta.dev(), meta.ino())));
        self.open_current(0);
        if let Ok(mut p) = shared.lock() {
            for _ in 0..=extra {
                p.notice(self.log, Notice::Rotated);
            }
        }
        true
    }

    /// Copytruncate: read the current file again from byte 0.
    fn truncated<S: Sink<Error = Infallible>>(&mut self, shared: &Mutex<Pipeline<S>>) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        tracing::info!(file = %self.path.display(), "log file was truncated (copytruncate); reading from the start");
        if cur.file.seek(SeekFrom::Start(0)).is_ok() {
            cur.read_pos = 0;
            cur.lb.reset(0);
            cur.fp = Fingerprint::default();
            cur.tail_len = 0;
            cur.last_size = 0;
            if let Ok(mut p) = shared.lock() {
                p.notice(self.log, Notice::Rotated);
                {
                    let mut c = relock(&self.checkpoint);
                    c.current = Some(cur.position());
                }
            }
        }
    }

    /// Follows the file until `stop` is set, then reads what is left and returns.
    pub(crate) fn run<S: Sink<Error = Infallible>>(
        mut self,
        shared: Shared<S>,
        stop: Arc<AtomicBool>,
    ) {
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
        // What is left, files rotated away in the last second while the name was missing too;
        // bounded, so a large backlog does not hold up the exit (the checkpoint covers only
        // lines fed, so the rest is read after the restart).
        self.last_missing_search = None;
        let deadline = Instant::now() + FINAL_DRAIN;
        while Instant::now() < deadline && self.poll_once(&shared) {}
    }
}

/// Bytes one read may take before it returns to the caller (at least one buffer fill).
const MAX_BYTES_PER_READ: usize = 4 << 20;

/// How long the last read after `stop` may take.
const FINAL_DRAIN: Duration = Duration::from_secs(2);

/// Which entry of the checkpoint a file is.
#[derive(Clone, Copy)]
enum Slot {
    Current,
    Draining(usize),
}

fn read_available<S: Sink<Error = Infallible>>(
    f: &mut OpenFile,
    shared: &Mutex<Pipeline<S>>,
    log: LogId,
    kind: LogKind,
    ck: &Mutex<LogCheckpoint>,
    slot: Slot,
    warned: &mut u64,
) -> bool {
    let mut any = false;
    let mut taken = 0usize;
    loop {
        if taken >= MAX_BYTES_PER_READ {
            // A backlog: give the caller a chance to see `stop` (SIGTERM must not wait for
            // the whole catch-up); the next call goes on from here.
            f.remember_tail();
            return any;
        }
        let n = match f.lb.fill_from(&mut f.file) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(file = %f.name.display(), error = %e, "read failed");
                0
            }
        };
        if n == 0 {
            if any {
                f.remember_tail();
            }
            return any;
        }
        any = true;
        taken += n;
        f.read_pos += n as u64;
        f.last_size = f.last_size.max(f.read_pos);
        f.last_data = Instant::now();
        let Ok(mut p) = shared.lock() else { return any };
        loop {
            let offset = f.lb.consumed();
            let Some(frame) = f.lb.next_frame() else {
                break;
            };
            f.lines += 1;
            if let Outcome::Malformed(reason) = p.feed(log, kind, frame) {
                report_malformed(&f.name, offset, reason, warned);
            }
        }
        // Still under the pipeline lock: the checkpoint moves with the counters.
        {
            let mut c = relock(ck);
            let pos = Some(f.position());
            match slot {
                Slot::Current => c.current = pos,
                Slot::Draining(i) => {
                    if let (Some(e), Some(pos)) = (c.draining.get_mut(i), pos) {
                        *e = pos;
                    }
                }
            }
        }
    }
}

/// Logs a malformed line without its content (it may carry a token): file, byte offset, reason.
/// The first 10 per source are warnings, then every 10,000th.
pub(crate) fn report_malformed(path: &Path, offset: u64, reason: &str, warned: &mut u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::state::StateFile;

    use crate::classify::{Classifier, ClassifyConfig};
    use crate::parse::format::LineFormat;
    use crate::pipeline::{Counted, Event, Origin};
    use std::io::Write;

    /// Records the id of every access line (its `$request_time` in ms) and every malformed one.
    #[derive(Default)]
    struct Record {
        ids: Vec<u64>,
        malformed: u64,
        rotations: u64,
        lost: u64,
    }

    impl Sink for Record {
        type Error = Infallible;
        fn line(&mut self, _at: &Origin, event: &Event) -> Result<Counted, Infallible> {
            match event {
                Event::Malformed => self.malformed += 1,
                Event::Access(ev) => {
                    let rt = ev
                        .request_seconds
                        .expect("every test line logs $request_time");
                    self.ids.push((rt * 1000.0).round() as u64);
                }
                Event::Error(_) | Event::Continuation => {}
            }
            Ok(Counted::Yes)
        }
        fn notice(&mut self, _log: LogId, notice: Notice) -> Result<(), Infallible> {
            match notice {
                Notice::Rotated => self.rotations += 1,
                Notice::Lost { lines, .. } => self.lost += lines,
                _ => {}
            }
            Ok(())
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
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
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
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        fs::copy(&path, dir.path().join("access.log.1")).expect("copy");
        fs::File::create(&path).expect("truncate");
        append(&path, &line(3));
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3]);
        // A restart resumes at the saved position: nothing twice, nothing lost.
        let ck = t.checkpoint.lock().expect("lock").clone();
        assert!(ck.current.is_some(), "a position");
        drop(t);
        append(&path, &line(4));
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), Some(ck), &p);
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
        let mut t = Tailer::new(link.clone(), 0, LogKind::Access, cfg(), None, &p);
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

    fn stopped(t: Tailer) -> LogCheckpoint {
        let ck = t.checkpoint.lock().expect("lock").clone();
        drop(t);
        ck
    }

    /// Overwrites the file in place: same inode, other first bytes. Seen from the state file,
    /// this is also a deleted file whose inode number a new file got.
    fn rewrite_in_place(path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).expect("rewrite");
    }

    #[test]
    fn a_new_file_with_the_checkpointed_inode_at_the_name_does_not_hide_rotated_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &line(1));
        let p = pipeline();
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        let ck = stopped(t);
        // While stopped: a file created, written and rotated away, and the name now a new file
        // with the old inode number.
        append(
            &dir.path().join("access.log.1"),
            &[line(2), line(3)].concat(),
        );
        rewrite_in_place(&path, &line(4));
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), Some(ck), &p);
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3, 4]);
    }

    #[test]
    fn a_rotated_file_with_a_checkpointed_inode_but_other_bytes_is_read_from_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &line(1));
        let p = pipeline();
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        let ck = stopped(t);
        // While stopped: the checkpointed file deleted, a new one at the name got its inode
        // number, was written and rotated away; then a new file at the name.
        rewrite_in_place(&path, &[line(2), line(3)].concat());
        fs::rename(&path, dir.path().join("access.log.1")).expect("rename");
        append(&path, &line(4));
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), Some(ck), &p);
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3, 4]);
    }

    #[test]
    fn a_copytruncate_while_stopped_resumes_in_the_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &line(1));
        let p = pipeline();
        // More than the fingerprint's KiB.
        append(&path, &(2..=10).flat_map(line).collect::<Vec<u8>>());
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        let ck = stopped(t);
        append(&path, &line(11));
        fs::copy(&path, dir.path().join("access.log.1")).expect("copy");
        fs::File::create(&path).expect("truncate");
        append(&path, &line(12));
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), Some(ck), &p);
        poll(&mut t, &p);
        assert_eq!(ids(&p), (1..=12).collect::<Vec<u64>>());
        assert_eq!(p.lock().expect("lock").sink.rotations, 1);
    }

    #[test]
    fn a_missing_name_is_searched_for_at_most_once_a_second_and_again_when_it_is_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &line(1));
        let p = pipeline();
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        fs::rename(&path, dir.path().join("access.log.1")).expect("rename");
        let before = t.searches;
        for _ in 0..50 {
            t.poll_once(&p);
        }
        assert!(
            t.searches - before <= 2,
            "{} directory listings in 50 wake-ups",
            t.searches - before
        );
        // Created, written and rotated away while the name is missing, within the second.
        append(&path, &line(2));
        fs::rename(&path, dir.path().join("access.log.2")).expect("rename");
        t.poll_once(&p);
        append(&path, &line(3));
        poll(&mut t, &p);
        assert_eq!(ids(&p), [1, 2, 3]);
    }

    /// A rotated file still draining when a scrape took its snapshot, then read on and closed
    /// (with a partial last line) before the state is saved: the lines read from it after the
    /// scrape, the partial one included, are known in the state file as not scraped.
    #[test]
    fn lines_read_from_a_file_closed_after_the_scrape_are_known_unscraped() {
        use crate::source::checkpoint::{Checkpointer, Inherited};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        let rotated = dir.path().join("access.log.1");
        let state = dir.path().join("state.json");
        append(&path, &line(1));
        let p = Arc::new(pipeline());
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        fs::rename(&path, &rotated).expect("rename");
        fs::File::create(&path).expect("reopen");
        poll(&mut t, &p);
        let c = Checkpointer::new(
            p.clone(),
            vec![("a".into(), t.checkpoint.clone())],
            state.clone(),
            Duration::from_secs(5),
            Inherited::default(),
        );
        let snap = {
            let _pipeline = p.lock().expect("lock");
            c.snapshot()
        };
        assert_eq!(snap.logs[0].1.draining.len(), 1, "{snap:?}");
        c.acknowledge(snap);
        // After the scrape: a line and a cut-short one in the rotated file, then nginx writes
        // to the new file and the rotated one is closed.
        let l5 = line(5);
        append(&rotated, &[line(4), l5[..l5.len() / 2].to_vec()].concat());
        poll(&mut t, &p);
        append(&path, &line(3));
        poll(&mut t, &p);
        assert!(t.draining.is_empty(), "the rotated file is closed");
        assert_eq!(ids(&p), [1, 3, 4]);
        assert_eq!(
            p.lock().expect("lock").sink.malformed,
            1,
            "the partial line"
        );
        c.save();
        let st = StateFile::load(&state);
        assert_eq!(st.draining["a"][0].unscraped_lines, 2, "{st:?}");
        assert_eq!(st.files["a"].unscraped_lines, 1, "{st:?}");
    }

    #[test]
    fn a_file_closed_while_the_pipeline_lock_is_poisoned_leaves_the_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        append(&path, &line(1));
        let p = Arc::new(pipeline());
        let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
        poll(&mut t, &p);
        fs::rename(&path, dir.path().join("access.log.1")).expect("rename");
        fs::File::create(&path).expect("reopen");
        poll(&mut t, &p);
        assert_eq!(t.checkpoint.lock().expect("lock").draining.len(), 1);
        let q = p.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = q.lock().expect("lock");
            panic!("a sink bug while counting");
        })
        .join();
        assert!(panicked.is_err() && p.is_poisoned());
        t.release(0, &p);
        let ck = t.checkpoint.lock().expect("lock").clone();
        assert!(ck.draining.is_empty(), "{ck:?}");
        assert_eq!(ck.closed.len(), 1, "{ck:?}");
    }

    /// nginx as both models see it: it writes whole lines (a pending half line is finished
    /// before a rotation, and it reopens its logs before the next one), renames, reopens.
    struct Nginx {
        dir: PathBuf,
        path: PathBuf,
        /// Where nginx writes: the name, or the renamed file until it reopens.
        target: PathBuf,
        next: u64,
        written: Vec<u64>,
        rest: Option<Vec<u8>>,
        rotated: u32,
    }

    impl Nginx {
        fn new(dir: &Path) -> Nginx {
            let path = dir.join("access.log");
            fs::File::create(&path).expect("create");
            Nginx {
                dir: dir.to_path_buf(),
                target: path.clone(),
                path,
                next: 0,
                written: Vec::new(),
                rest: None,
                rotated: 0,
            }
        }

        /// Finishes a pending half line, then appends `n` lines to `to`.
        fn write_to(&mut self, to: &Path, n: u8) {
            let mut bytes = self.rest.take().unwrap_or_default();
            for _ in 0..n {
                self.next += 1;
                self.written.push(self.next);
                bytes.extend(line(self.next));
            }
            append(to, &bytes);
        }

        fn write(&mut self, n: u8) {
            let to = self.target.clone();
            self.write_to(&to, n);
        }

        /// The first half of a line (finished by the next write).
        fn partial(&mut self) {
            self.write(0);
            self.next += 1;
            self.written.push(self.next);
            let l = line(self.next);
            append(&self.target, &l[..l.len() / 2]);
            self.rest = Some(l[l.len() / 2..].to_vec());
        }

        /// What nginx has done before a rotation or a reopen happens.
        fn before(&mut self, rotation: bool, reopen: bool) {
            if (rotation || reopen) && self.rest.is_some() {
                self.write(0);
            }
            if rotation && self.target != self.path {
                fs::File::create(&self.path).expect("reopen");
                self.target = self.path.clone();
            }
        }

        fn next_rotated_name(&mut self) -> PathBuf {
            self.rotated += 1;
            self.dir.join(format!("access.log.{}", self.rotated))
        }

        /// `mv access.log access.log.N` and nginx reopens.
        fn rename_reopen(&mut self) {
            let to = self.next_rotated_name();
            fs::rename(&self.path, to).expect("rename");
            fs::File::create(&self.path).expect("reopen");
        }

        /// Two rotations with `n` lines written in between.
        fn double_rotation(&mut self, n: u8) {
            self.rename_reopen();
            let path = self.path.clone();
            self.write_to(&path, n);
            self.rename_reopen();
        }

        /// `mv access.log access.log.N`; nginx keeps writing to the renamed file.
        fn rename(&mut self) {
            self.target = self.next_rotated_name();
            fs::rename(&self.path, &self.target).expect("rename");
        }

        /// USR1: a new file at the name.
        fn reopen(&mut self) {
            if self.target != self.path {
                fs::File::create(&self.path).expect("reopen");
                self.target = self.path.clone();
            }
        }
    }

    /// What nginx does to its log, in both models.
    #[derive(Clone, Copy, Debug)]
    enum NginxOp {
        /// Append this many complete lines.
        Write(u8),
        /// Append the first half of a line (completed by the next write).
        Partial,
        /// `mv access.log access.log.N`, nginx reopens (a new file).
        RenameReopen,
        /// Two rename rotations, this many lines written to the file in between, before the
        /// sidecar wakes up: the file in between was never opened.
        DoubleRotation(u8),
        /// `mv access.log access.log.N`; nginx keeps writing to the renamed file until
        /// [`NginxOp::Reopen`].
        Rename,
        /// nginx reopens its logs (USR1): a new file at the name.
        Reopen,
    }

    impl Nginx {
        fn apply(&mut self, op: NginxOp) {
            use NginxOp::*;
            let rotation = matches!(op, RenameReopen | DoubleRotation(_) | Rename);
            self.before(rotation, matches!(op, Reopen));
            match op {
                Write(n) => self.write(n),
                Partial => self.partial(),
                RenameReopen => self.rename_reopen(),
                DoubleRotation(n) => self.double_rotation(n),
                Rename => self.rename(),
                Reopen => self.reopen(),
            }
        }
    }

    /// One step of the model.
    #[derive(Clone, Debug)]
    enum Op {
        /// nginx writes, rotates or reopens (a rename+reopen is looked at at once).
        N(NginxOp),
        /// The sidecar wakes up.
        Poll,
        /// logrotate's copytruncate.
        CopyTruncate,
        /// `rm access.log`, a new file with the same name.
        DeleteRecreate,
        /// Truncated and refilled past the old offset before the sidecar looks.
        TruncateRefill,
        /// Stop (read what is left, save the position) and start again from the state.
        Restart,
        /// `kill -9` and start again from the checkpoint as it is (mid-drain, say).
        Crash,
    }

    /// The arms, their order and weights are those the saved regression seeds were found with.
    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (1u8..4).prop_map(|n| Op::N(NginxOp::Write(n))),
            2 => Just(Op::N(NginxOp::Partial)),
            3 => Just(Op::Poll),
            1 => Just(Op::N(NginxOp::RenameReopen)),
            1 => Just(Op::CopyTruncate),
            1 => Just(Op::DeleteRecreate),
            1 => Just(Op::TruncateRefill),
            1 => Just(Op::Restart),
            1 => Just(Op::Crash),
            1 => (0u8..4).prop_map(|n| Op::N(NginxOp::DoubleRotation(n))),
            1 => Just(Op::N(NginxOp::Rename)),
            1 => Just(Op::N(NginxOp::Reopen)),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Every complete line written is read exactly once. The model's one allowance is the
        /// copytruncate window (the rotation docs state it): lines written between the
        /// sidecar's last read and the truncation are lost, so the model lets the sidecar wake
        /// up just before a copytruncate or truncate-and-refill, and before a delete (a file
        /// created and deleted before any wake-up cannot be read). Rotations need no wake-up:
        /// a file created and rotated away before any (`DoubleRotation`) is found among the
        /// rotated siblings, and restarts (`Restart`, `Crash`) may come between a rename and
        /// nginx's reopen, the renamed file resumed from the checkpoint.
        #[test]
        fn every_complete_line_is_read_exactly_once(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut nginx = Nginx::new(dir.path());
            let path = nginx.path.clone();
            let p = pipeline();
            let mut t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), None, &p);
            let restart = |t: Tailer, p: &Mutex<Pipeline<Record>>| {
                let ck = t.checkpoint.lock().expect("lock").clone();
                drop(t);
                Tailer::new(path.clone(), 0, LogKind::Access, cfg(), Some(ck), p)
            };
            for op in ops {
                if matches!(op, Op::CopyTruncate | Op::DeleteRecreate | Op::TruncateRefill) {
                    nginx.before(true, false);
                }
                match op {
                    Op::N(op) => {
                        nginx.apply(op);
                        if matches!(op, NginxOp::RenameReopen) {
                            poll(&mut t, &p);
                        }
                    }
                    Op::Poll => poll(&mut t, &p),
                    Op::CopyTruncate => {
                        poll(&mut t, &p);
                        fs::copy(&path, dir.path().join("copy")).expect("copy");
                        fs::File::create(&path).expect("truncate");
                        poll(&mut t, &p);
                    }
                    Op::DeleteRecreate => {
                        // A file deleted before the sidecar ever opened it cannot be read.
                        poll(&mut t, &p);
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
                            nginx.write_to(&path, 1);
                            refilled = fs::metadata(&path).expect("stat").len();
                        }
                        poll(&mut t, &p);
                    }
                    Op::Restart => {
                        poll(&mut t, &p);
                        t = restart(t, &p);
                    }
                    Op::Crash => t = restart(t, &p),
                }
            }
            nginx.write(0);
            // As after a second more of running (the name-missing search is rate-limited).
            t.last_missing_search = None;
            poll(&mut t, &p);
            proptest::prop_assert_eq!(ids(&p), nginx.written);
            proptest::prop_assert_eq!(p.lock().expect("lock").sink.malformed, 0);
        }
    }

    /// One step of the acknowledgement model.
    #[derive(Clone, Debug)]
    enum AckOp {
        /// nginx writes, rotates or reopens (a rename+reopen is looked at at once).
        N(NginxOp),
        Poll,
        /// Prometheus scrapes: the counters and the checkpoint taken under one lock, then the
        /// response is acknowledged.
        Scrape,
        /// The state is saved (as after a scrape or at `--state-interval`), then `kill -9`, and
        /// the sidecar starts again from the state file; its counters start at 0.
        Crash,
    }

    fn ack_op() -> impl proptest::strategy::Strategy<Value = AckOp> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (1u8..4).prop_map(|n| AckOp::N(NginxOp::Write(n))),
            2 => Just(AckOp::N(NginxOp::Partial)),
            3 => Just(AckOp::Poll),
            1 => Just(AckOp::N(NginxOp::RenameReopen)),
            1 => (0u8..4).prop_map(|n| AckOp::N(NginxOp::DoubleRotation(n))),
            1 => Just(AckOp::N(NginxOp::Rename)),
            1 => Just(AckOp::N(NginxOp::Reopen)),
            3 => Just(AckOp::Scrape),
            2 => Just(AckOp::Crash),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Exactly once, as Prometheus sees it: what the scrapes saw before each crash plus
        /// what the last process counted is every line written, each once. Rotations (renames,
        /// a rename before nginx's reopen, two rotations between two looks) and crashes at any
        /// point in them, crashes before the first scrape of a process included.
        #[test]
        fn every_line_is_exported_exactly_once_as_scraped(ops in proptest::collection::vec(ack_op(), 1..40)) {
            use crate::source::checkpoint::{Checkpointer, Inherited, Snapshot};
            let dir = tempfile::tempdir().expect("tempdir");
            let mut nginx = Nginx::new(dir.path());
            let path = nginx.path.clone();
            let state = dir.path().join("state.json");
            let p = Arc::new(pipeline());
            let start = |resume: Option<LogCheckpoint>, inherited: &dyn Fn(&Tailer) -> Inherited| {
                let t = Tailer::new(path.clone(), 0, LogKind::Access, cfg(), resume, &p);
                let c = Checkpointer::new(
                    p.clone(),
                    vec![("a".into(), t.checkpoint.clone())],
                    state.clone(),
                    Duration::from_secs(3600),
                    inherited(&t),
                );
                (t, c)
            };
            let (mut t, mut c) = start(None, &|_| Inherited::default());
            let scrape = |c: &Checkpointer<Record>| {
                let g = p.lock().expect("lock");
                let seen = g.sink.ids.clone();
                let snap = c.snapshot();
                drop(g);
                c.acknowledge(snap);
                seen
            };
            // The first scrape comes before any line.
            let mut scraped = scrape(&c);
            let mut exported: Vec<u64> = Vec::new();
            for op in ops {
                match op {
                    AckOp::N(op) => {
                        nginx.apply(op);
                        if matches!(op, NginxOp::RenameReopen) {
                            poll(&mut t, &p);
                        }
                    }
                    AckOp::Poll => poll(&mut t, &p),
                    AckOp::Scrape => scraped = scrape(&c),
                    AckOp::Crash => {
                        c.save();
                        drop((t, c));
                        exported.extend(std::mem::take(&mut scraped));
                        p.lock().expect("lock").sink.ids.clear();
                        let st = StateFile::load(&state);
                        let acked = st.acknowledged_by_scrape;
                        let gap = st.scrape_gap();
                        (t, c) = start(st.checkpoint("a"), &|t: &Tailer| Inherited {
                            acked: acked.then(|| Snapshot {
                                seq: 0,
                                logs: vec![("a".into(), t.checkpoint.lock().expect("lock").clone())],
                            }),
                            scrape_gap: gap,
                        });
                    }
                }
            }
            nginx.write(0);
            // As after a second more of running (the name-missing search is rate-limited).
            t.last_missing_search = None;
            poll(&mut t, &p);
            let g = p.lock().expect("lock");
            exported.extend(&g.sink.ids);
            exported.sort_unstable();
            proptest::prop_assert_eq!(exported, nginx.written);
            proptest::prop_assert_eq!((g.sink.malformed, g.sink.lost), (0, 0));
        }
    }
}
