//! The state file, acknowledged by the scrape.
//!
//! Counters start at zero after a restart (Prometheus sees a counter reset), so "exactly once, as
//! Prometheus sees it" means: the positions saved are those whose lines are included in the last
//! exposition served. Each `/metrics` response takes a copy of every log's checkpoint under the
//! same pipeline lock as the counters it renders; once the response body has been handed to the
//! connection, that copy becomes the checkpoint and is saved at once. A restart, graceful or
//! `kill -9`, then re-reads exactly the lines no scrape saw.
//!
//! When nothing scrapes for longer than twice the longer of `--state-interval` and the interval
//! between the last two scrapes (or before the first scrape), the read positions are saved
//! instead, as a sidecar nobody scrapes must not re-read its whole history at every restart.

use crate::source::tail::{LogCheckpoint, Position, Shared, StateFile};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Every log's checkpoint at one moment.
pub type Snapshot = Vec<(String, LogCheckpoint)>;

/// Owns the state file: the last acknowledged snapshot and when to fall back to read positions.
pub struct Checkpointer<S> {
    shared: Shared<S>,
    logs: Vec<(String, Arc<Mutex<LogCheckpoint>>)>,
    path: PathBuf,
    interval: Duration,
    inner: Mutex<Acks>,
    wake: Condvar,
    /// What was saved last: an unchanged state is not written (and fsynced) again.
    last_saved: Mutex<Option<StateFile>>,
}

#[derive(Default)]
struct Acks {
    acked: Option<Snapshot>,
    last_scrape: Option<Instant>,
    scrape_gap: Duration,
    unsaved: bool,
}

impl<S> Checkpointer<S> {
    /// `logs`: each followed file's name and its tailer's checkpoint.
    pub fn new(
        shared: Shared<S>,
        logs: Vec<(String, Arc<Mutex<LogCheckpoint>>)>,
        path: PathBuf,
        interval: Duration,
    ) -> Checkpointer<S> {
        Checkpointer {
            shared,
            logs,
            path,
            interval,
            inner: Mutex::new(Acks::default()),
            wake: Condvar::new(),
            last_saved: Mutex::new(None),
        }
    }

    /// Copies every checkpoint. Call it with the pipeline lock held, so the copy matches the
    /// counters rendered under that lock.
    pub fn snapshot(&self) -> Snapshot {
        self.logs
            .iter()
            .filter_map(|(n, c)| c.lock().ok().map(|c| (n.clone(), c.clone())))
            .collect()
    }

    /// The exposition rendered with `snap` was sent: its positions are the new checkpoint.
    pub fn acknowledge(&self, snap: Snapshot) {
        if let Ok(mut a) = self.inner.lock() {
            if let Some(t) = a.last_scrape {
                a.scrape_gap = t.elapsed();
            }
            a.last_scrape = Some(Instant::now());
            a.acked = Some(snap);
            a.unsaved = true;
        }
        self.wake.notify_one();
    }

    fn read_positions(&self) -> Snapshot {
        let _pipeline = self.shared.lock();
        self.snapshot()
    }

    /// The acknowledged snapshot while scrapes keep coming, else `None`.
    fn fresh_ack(a: &Acks, interval: Duration) -> Option<Snapshot> {
        let bound = 2 * interval.max(a.scrape_gap);
        a.last_scrape
            .filter(|t| t.elapsed() <= bound)
            .and(a.acked.clone())
    }

    /// Saves the acknowledged positions after each scrape and every `--state-interval`, until
    /// `stop` is set.
    pub fn run(&self, stop: &AtomicBool) {
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let Ok(a) = self.inner.lock() else { return };
            let Ok((mut a, _)) = self.wake.wait_timeout(a, Duration::from_millis(100)) else {
                return;
            };
            if a.unsaved || last.elapsed() >= self.interval {
                a.unsaved = false;
                let ack = Self::fresh_ack(&a, self.interval);
                drop(a);
                self.save(ack);
                last = Instant::now();
            }
        }
    }

    /// The save at shutdown.
    pub fn save_final(&self) {
        let ack = self
            .inner
            .lock()
            .ok()
            .and_then(|a| Self::fresh_ack(&a, self.interval));
        self.save(ack);
    }

    fn save(&self, ack: Option<Snapshot>) {
        let read = self.read_positions();
        let acknowledged = ack.is_some();
        let mut snap = ack.unwrap_or_else(|| read.clone());
        if acknowledged {
            // Lines read but not scraped: known lost if their file is gone at the restart.
            for (name, ck) in &mut snap {
                let Some((_, now)) = read.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                let now: Vec<&Position> = now.current.iter().chain(&now.draining).collect();
                for p in ck.current.iter_mut().chain(ck.draining.iter_mut()) {
                    if let Some(r) = now.iter().find(|r| (r.dev, r.ino) == (p.dev, p.ino)) {
                        p.unscraped_lines = r.lines.saturating_sub(p.lines);
                    }
                }
            }
        }
        let mut st = StateFile {
            acknowledged_by_scrape: acknowledged,
            ..StateFile::new()
        };
        for (name, ck) in snap {
            st.insert(&name, ck);
        }
        let Ok(mut last) = self.last_saved.lock() else {
            return;
        };
        if last.as_ref() == Some(&st) {
            return;
        }
        match st.save(&self.path) {
            Ok(()) => *last = Some(st),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot save state file")
            }
        }
    }
}
