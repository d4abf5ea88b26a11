//! The state file, acknowledged by the scrape.
//!
//! Counters start at zero after a restart (Prometheus sees a counter reset), so "exactly once, as
//! Prometheus sees it" means: the positions saved are those whose lines are included in the last
//! exposition served. Each `/metrics` response takes a copy of every log's checkpoint under the
//! same pipeline lock as the counters it renders; once the response has been delivered (every
//! byte accepted by the client's TCP stack, see `app::web_server::Delivery`), that copy
//! becomes the checkpoint and is saved at once. A restart, graceful or
//! `kill -9`, then re-reads exactly the lines no scrape saw.
//!
//! Snapshots carry a sequence number taken under the pipeline lock: responses finish in any
//! order (a shared render, a slow reader), and an older snapshot never replaces a newer one.
//!
//! A restart from a state file a scrape acknowledged keeps the positions it resumed from as the
//! checkpoint until the first scrape of the new process: a crash before that scrape re-reads
//! the same lines again, none of which any scrape saw.
//!
//! When nothing scrapes for longer than twice the longer of `--state-interval` and the interval
//! between the last two scrapes (kept in the state file across restarts), the read positions are
//! saved instead, as a sidecar nobody scrapes must not re-read its whole history at every
//! restart. So are they before the first scrape of a process that did not inherit an
//! acknowledged state.
//!
//! A change of `confirmed_at` or of the scrape gap alone (nothing moved) is saved at most
//! every [`CONFIRMED_ONLY_EVERY`], so an idle sidecar does not rewrite and fsync the state file at
//! every scrape.

use crate::pipeline::Shared;
use crate::source::state::{LogCheckpoint, Position, StateFile};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Every log's checkpoint at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// Order of the snapshot among those taken by this process (0: inherited from the state
    /// file); taken under the pipeline lock, so it orders the counters too.
    pub(crate) seq: u64,
    pub(crate) logs: Vec<(String, LogCheckpoint)>,
}

/// How often a state that differs from the saved one only in `confirmed_at` (or the scrape gap)
/// is written: an older `confirmed_at` only widens, by this much, the window in which a restart
/// looks for rotated files it has not read.
pub(crate) const CONFIRMED_ONLY_EVERY: Duration = Duration::from_secs(60);

/// Scrape intervals remembered for the fallback bound.
const GAPS_KEPT: usize = 4;

/// What a restart inherits from the state file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inherited {
    /// The positions the tailers resumed from, when the state file was acknowledged by a scrape.
    pub(crate) acked: Option<Snapshot>,
    /// The interval between the last two scrapes of the previous process.
    pub(crate) scrape_gap: Duration,
}

/// Owns the state file: the last acknowledged snapshot and when to fall back to read positions.
pub(crate) struct Checkpointer<S> {
    shared: Shared<S>,
    logs: Vec<(String, Arc<Mutex<LogCheckpoint>>)>,
    path: PathBuf,
    interval: Duration,
    inner: Mutex<Acks>,
    wake: Condvar,
    /// Sequence number of the next snapshot.
    seq: AtomicU64,
    /// What was saved last and when: an unchanged state is not written (and fsynced) again.
    last_saved: Mutex<Option<(StateFile, Instant)>>,
}

struct Acks {
    acked: Option<Snapshot>,
    last_scrape: Option<Instant>,
    /// The longest of the last [`GAPS_KEPT`] intervals between two scrapes (the inherited one
    /// to begin with): with two Prometheus servers scraping at nearly the same moment every
    /// other interval is tiny, and the bound must follow the real wait for the next scrape.
    scrape_gap: Duration,
    gaps: std::collections::VecDeque<Duration>,
    /// When this process started: an inherited acknowledgement lasts from here.
    started: Instant,
    unsaved: bool,
}

impl<S> Checkpointer<S> {
    /// `logs`: each followed file's name and its tailer's checkpoint.
    pub(crate) fn new(
        shared: Shared<S>,
        logs: Vec<(String, Arc<Mutex<LogCheckpoint>>)>,
        path: PathBuf,
        interval: Duration,
        inherited: Inherited,
    ) -> Checkpointer<S> {
        Checkpointer {
            shared,
            logs,
            path,
            interval,
            inner: Mutex::new(Acks {
                acked: inherited.acked.map(|s| Snapshot { seq: 0, ..s }),
                last_scrape: None,
                scrape_gap: inherited.scrape_gap,
                gaps: std::collections::VecDeque::from([inherited.scrape_gap]),
                started: Instant::now(),
                unsaved: false,
            }),
            wake: Condvar::new(),
            seq: AtomicU64::new(1),
            last_saved: Mutex::new(None),
        }
    }

    /// Copies every checkpoint. Call it with the pipeline lock held, so the copy matches the
    /// counters rendered under that lock (and the sequence number orders it with them).
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            logs: self
                .logs
                .iter()
                .map(|(n, c)| (n.clone(), relock(c).clone()))
                .collect(),
        }
    }

    /// The exposition rendered with `snap` was delivered: its positions are the new checkpoint,
    /// unless a newer snapshot was acknowledged already (responses finish out of order).
    pub(crate) fn acknowledge(&self, snap: Snapshot) {
        {
            let mut a = relock(&self.inner);
            if let Some(t) = a.last_scrape {
                if a.gaps.len() >= GAPS_KEPT {
                    a.gaps.pop_front();
                }
                a.gaps.push_back(t.elapsed());
                a.scrape_gap = a.gaps.iter().copied().max().unwrap_or_default();
            }
            a.last_scrape = Some(Instant::now());
            if a.acked.as_ref().is_none_or(|old| snap.seq > old.seq) {
                a.acked = Some(snap);
            }
            a.unsaved = true;
        }
        self.wake.notify_one();
    }

    fn read_positions(&self) -> Snapshot {
        let _pipeline = self.shared.lock();
        self.snapshot()
    }

    /// The acknowledged snapshot while scrapes keep coming (or, before the first scrape, the
    /// inherited one, for as long as a scrape could still be due), else `None`.
    fn fresh_ack(a: &Acks, interval: Duration) -> Option<Snapshot> {
        let bound = interval.max(a.scrape_gap).saturating_mul(2);
        let since = a.last_scrape.unwrap_or(a.started);
        (since.elapsed() <= bound)
            .then(|| a.acked.clone())
            .flatten()
    }

    /// The state to save: the fresh acknowledgement (if any) and the scrape gap to persist.
    fn pending(&self) -> (Option<Snapshot>, Duration) {
        let a = relock(&self.inner);
        (Self::fresh_ack(&a, self.interval), a.scrape_gap)
    }

    /// Saves the acknowledged positions after each scrape and every `--state-interval`, until
    /// `stop` is set.
    pub(crate) fn run(&self, stop: &AtomicBool) {
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let a = relock(&self.inner);
            let (mut a, _) = self
                .wake
                .wait_timeout(a, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if a.unsaved || last.elapsed() >= self.interval {
                a.unsaved = false;
                drop(a);
                self.save();
                last = Instant::now();
            }
        }
    }

    /// The save at shutdown.
    pub(crate) fn save_final(&self) {
        self.save();
    }

    /// Saves the acknowledged (or read) positions now, unless nothing that matters changed.
    pub(crate) fn save(&self) {
        let (ack, gap) = self.pending();
        let read = self.read_positions();
        let acknowledged = ack.is_some();
        let mut snap = ack.unwrap_or_else(|| read.clone());
        if acknowledged {
            // Lines read but not scraped: known lost if their file is gone at the restart.
            for (name, ck) in &mut snap.logs {
                let Some((_, now)) = read.logs.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                // Also files closed since the snapshot: what was read from them after it.
                let now: Vec<&Position> = now
                    .current
                    .iter()
                    .chain(&now.draining)
                    .chain(now.closed.iter().rev())
                    .collect();
                for p in ck.current.iter_mut().chain(ck.draining.iter_mut()) {
                    if let Some(r) = now.iter().find(|r| (r.dev, r.ino) == (p.dev, p.ino)) {
                        p.unscraped_lines = r.lines.saturating_sub(p.lines);
                    }
                }
            }
        }
        let mut st = StateFile {
            acknowledged_by_scrape: acknowledged,
            scrape_gap_seconds: (gap.as_secs_f64() * 1000.0).round() / 1000.0,
            ..StateFile::new()
        };
        for (name, ck) in snap.logs {
            st.insert(&name, ck);
        }
        let mut last = relock(&self.last_saved);
        if let Some((old, at)) = last.as_ref() {
            if *old == st
                || (old.same_positions(&st)
                    && at.elapsed() < CONFIRMED_ONLY_EVERY.max(self.interval))
            {
                return;
            }
        }
        match st.save(&self.path) {
            Ok(()) => *last = Some((st, Instant::now())),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot save state file")
            }
        }
    }
}

/// Locks `m` even if a thread panicked holding it: what these locks guard (copies of positions,
/// scrape times) stays valid, and refusing would silently stop acknowledgements or drop a log
/// from the saved state.
pub(crate) fn relock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, ClassifyConfig};
    use crate::parse::format::LineFormat;
    use crate::pipeline::Pipeline;
    use crate::sink::metrics::{Buckets, Metrics};

    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        log: Arc<Mutex<LogCheckpoint>>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        Fixture {
            _dir: dir,
            path,
            log: Arc::new(Mutex::new(at(0))),
        }
    }

    fn at(offset: u64) -> LogCheckpoint {
        LogCheckpoint {
            current: Some(Position {
                dev: 1,
                ino: 2,
                offset,
                fp_len: 0,
                fp_hash: 0,
                unscraped_lines: 0,
                lines: offset,
            }),
            confirmed_at: 1000.0,
            ..LogCheckpoint::default()
        }
    }

    /// As a tailer resumed at `offset`: no line fed yet.
    fn resumed(offset: u64) -> LogCheckpoint {
        let mut c = at(offset);
        if let Some(p) = c.current.as_mut() {
            p.lines = 0;
        }
        c
    }

    fn checkpointer(
        f: &Fixture,
        interval: Duration,
        inherited: Inherited,
    ) -> Checkpointer<Metrics> {
        let c = Classifier::new(
            LineFormat::compile("combined").expect("format"),
            &ClassifyConfig::default(),
        )
        .expect("classifier");
        let shared = Arc::new(Mutex::new(Pipeline::new(
            c,
            Metrics::new("nginxlog", Buckets::default()),
        )));
        Checkpointer::new(
            shared,
            vec![("a.log".into(), f.log.clone())],
            f.path.clone(),
            interval,
            inherited,
        )
    }

    fn set(f: &Fixture, offset: u64) {
        *f.log.lock().expect("lock") = at(offset);
    }

    fn saved(f: &Fixture) -> (u64, bool) {
        let st = StateFile::load(&f.path);
        (st.files["a.log"].offset, st.acknowledged_by_scrape)
    }

    fn age_start(c: &Checkpointer<Metrics>, by: Duration) {
        let mut a = c.inner.lock().expect("lock");
        a.started = Instant::now().checked_sub(by).expect("uptime");
    }

    #[test]
    fn an_older_snapshot_does_not_replace_a_newer_one() {
        let f = fixture();
        let c = checkpointer(&f, Duration::from_secs(5), Inherited::default());
        set(&f, 10);
        let older = c.snapshot();
        set(&f, 20);
        let newer = c.snapshot();
        set(&f, 30);
        // The response with the newer render finishes first.
        c.acknowledge(newer);
        c.acknowledge(older);
        c.save();
        assert_eq!(saved(&f), (20, true));
    }

    #[test]
    fn an_inherited_acknowledgement_lasts_until_the_first_scrape() {
        let f = fixture();
        let inherited = Inherited {
            acked: Some(Snapshot {
                seq: 0,
                logs: vec![("a.log".into(), resumed(10))],
            }),
            scrape_gap: Duration::ZERO,
        };
        let c = checkpointer(&f, Duration::from_secs(1), inherited);
        // 20 lines read since the restart, never scraped.
        *f.log.lock().expect("lock") = at(30);
        if let Some(p) = f.log.lock().expect("lock").current.as_mut() {
            p.lines = 20;
        }
        c.save();
        assert_eq!(saved(&f), (10, true));
        let st = StateFile::load(&f.path);
        assert_eq!(st.files["a.log"].unscraped_lines, 20);
        // No scrape at all for twice the state interval: the read positions.
        age_start(&c, Duration::from_millis(2500));
        c.save();
        assert_eq!(saved(&f), (30, false));
        // The first scrape of this process takes over.
        set(&f, 40);
        c.acknowledge(c.snapshot());
        set(&f, 50);
        c.save();
        assert_eq!(saved(&f), (40, true));
    }

    #[test]
    fn the_scrape_gap_of_the_previous_process_bounds_the_wait_for_the_first_scrape() {
        let f = fixture();
        let inherited = Inherited {
            acked: Some(Snapshot {
                seq: 0,
                logs: vec![("a.log".into(), resumed(10))],
            }),
            scrape_gap: Duration::from_secs(15),
        };
        let c = checkpointer(&f, Duration::from_secs(1), inherited);
        set(&f, 30);
        age_start(&c, Duration::from_secs(20));
        c.save();
        assert_eq!(saved(&f), (10, true));
        assert_eq!(
            StateFile::load(&f.path).scrape_gap(),
            Duration::from_secs(15)
        );
        age_start(&c, Duration::from_secs(31));
        c.save();
        assert_eq!(saved(&f), (30, false));
    }

    #[test]
    fn two_scrapers_at_nearly_the_same_moment_do_not_shorten_the_bound() {
        let f = fixture();
        let c = checkpointer(&f, Duration::from_secs(1), Inherited::default());
        let ago = |d: u64| {
            Instant::now()
                .checked_sub(Duration::from_secs(d))
                .expect("uptime")
        };
        set(&f, 10);
        c.acknowledge(c.snapshot());
        c.inner.lock().expect("lock").last_scrape = Some(ago(15));
        c.acknowledge(c.snapshot()); // server A, 15 s after the previous round
        c.acknowledge(c.snapshot()); // server B, a moment later
        set(&f, 30);
        c.inner.lock().expect("lock").last_scrape = Some(ago(20));
        c.save();
        assert_eq!(saved(&f), (10, true));
    }

    #[test]
    fn a_new_confirmed_at_alone_does_not_rewrite_the_state_file() {
        let f = fixture();
        let c = checkpointer(&f, Duration::from_secs(5), Inherited::default());
        set(&f, 10);
        c.save();
        let first = std::fs::read_to_string(&f.path).expect("state");
        f.log.lock().expect("lock").confirmed_at = 2000.0;
        c.save();
        assert_eq!(std::fs::read_to_string(&f.path).expect("state"), first);
        // A position that moved is saved at once, with the new confirmed_at.
        set(&f, 20);
        f.log.lock().expect("lock").confirmed_at = 3000.0;
        c.save();
        let st = StateFile::load(&f.path);
        assert_eq!(
            (st.files["a.log"].offset, st.confirmed_at["a.log"]),
            (20, 3000.0)
        );
        // And confirmed_at alone, once CONFIRMED_ONLY_EVERY has passed.
        f.log.lock().expect("lock").confirmed_at = 4000.0;
        if let Some((_, at)) = c.last_saved.lock().expect("lock").as_mut() {
            *at = Instant::now()
                .checked_sub(CONFIRMED_ONLY_EVERY)
                .expect("uptime");
        }
        c.save();
        assert_eq!(StateFile::load(&f.path).confirmed_at["a.log"], 4000.0);
    }
}
