//! `backfill`: historical logs -> OpenMetrics text with timestamps, for
//! `promtool tsdb create-blocks-from openmetrics FILE.om DATA_DIR`.
//!
//! The merged history (see [`crate::source::history`]) is recorded into the same [`Metrics`] registry the
//! live sidecar serves, so every counter means exactly what it means in `run`. Every `--step`
//! of log time the registry is sampled, the way Prometheus would have scraped it: cumulative
//! counters and histograms, each sample stamped with the step's end. The result is what the
//! dashboards would show had the sidecar been running, with these differences:
//! - a series gets one extra `0` sample one step before its first non-zero one, so `rate()` and
//!   `increase()` count the first events (a live counter starts at its first scrape);
//! - `nginxlog_log_rotations_total` counts the switches between the rotated files of a log;
//! - the `log` label is the file name without rotation suffixes (`access.log` for
//!   `access.log.2.gz`), so a log's counters continue across its rotated files;
//! - a line older than the step being built (nginx writes lines at request end, so they are not
//!   strictly ordered) is counted in that step, as a scrape would have seen it;
//! - except a 101: nginx writes it when the WebSocket closes, possibly hours after the handshake.
//!   Its request and upgrade counters and its handshake histogram are back-dated to the step of
//!   its handshake (logged time minus `$request_time`, [`crate::classify::AccessEvent::handshake_time`]),
//!   before the first line's step too; the session histogram and the bytes stay at close time
//!   (that is when they are known). Back-dated increments are kept in memory per series and
//!   pair of steps, and added to the spooled samples when the file is written;
//! - `--label NAME=VALUE` adds constant labels (`job`, `instance`) to every series, so backfilled
//!   series sit beside the scraped ones in the dashboards.
//!
//! OpenMetrics forbids interleaving metric families, and a series' samples must come together in
//! time order, while sampling produces one time step of every series at a time. Samples are
//! therefore spooled to an unlinked temporary file, one record per step, and transposed at the
//! end in passes of at most [`TRANSPOSE_BUDGET`] bytes: memory stays bounded for any input
//! length, and the spool costs a tenth of the output's size on disk.

use crate::classify::route::{PathLabels, OTHER};
use crate::classify::signature;
use crate::classify::{AnsweredBy, METHODS};
use crate::parse::error_log::LEVELS;
use crate::pipeline::{Counted, Event, LogId, Notice, Origin, Sink};
use crate::sink::families::{self, Kind};
use crate::sink::metrics::{escape, fmt_f64, Buckets, Histogram, Metrics, StatusLabel};
use crate::source::history::LogGroup;
use anyhow::{bail, Context};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Bytes of sample values held in memory while transposing the spool.
pub(crate) const TRANSPOSE_BUDGET: usize = 16 << 20;

/// Most steps one backfill may produce (a guard against a mistyped `--step`).
pub(crate) const MAX_STEPS: u64 = 20_000_000;

/// A series of the registry: family first (the output order), then its labels as ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Requests {
        path: u32,
        method: u8,
        status: u16,
    },
    Duration(u32),
    Bytes(u32),
    Upgrades(u32, u16, AnsweredBy),
    Handshake(u32),
    Session(u32),
    Errors {
        level: u8,
        sig: u16,
        path: u32,
    },
    LinesRead(usize),
    Malformed(usize),
    Rotations(usize),
    /// (log, index in `LOST_REASONS`)
    LinesLost(usize, usize),
    /// `deleted` label
    OpenFiles(bool),
    LastEvent(usize),
    Overflow,
    BuildInfo,
}

/// (family name without namespace, type, help) of a key's family, from the one table.
fn family(k: &Key) -> (&'static str, Kind, &'static str) {
    let f = match k {
        Key::Requests { .. } => &families::HTTP_REQUESTS,
        Key::Duration(_) => &families::HTTP_REQUEST_DURATION,
        Key::Bytes(_) => &families::HTTP_RESPONSE_BYTES,
        Key::Upgrades(..) => &families::WS_UPGRADE_REQUESTS,
        Key::Handshake(_) => &families::WS_HANDSHAKE_DURATION,
        Key::Session(_) => &families::WS_SESSION_DURATION,
        Key::Errors { .. } => &families::ERROR_EVENTS,
        Key::LinesRead(_) => &families::LINES_READ,
        Key::Malformed(_) => &families::LINES_MALFORMED,
        Key::Rotations(_) => &families::LOG_ROTATIONS,
        Key::LinesLost(..) => &families::LINES_LOST,
        Key::OpenFiles(_) => &families::OPEN_FILES,
        Key::LastEvent(_) => &families::LOG_LAST_EVENT,
        Key::Overflow => &families::PATH_OVERFLOW,
        Key::BuildInfo => &families::BUILD_INFO,
    };
    (f.name, f.kind, f.help)
}

struct Meta {
    key: Key,
    /// Values per sample: 1, or for a histogram its buckets, `+Inf`/count and sum.
    width: usize,
    /// Offset of the series' values in a spool record.
    off: usize,
    /// First spool record the series is in.
    first: u64,
}

/// Increments of one series back-dated to the steps `from..to` (a 101 whose handshake lies
/// before the step it was read in), as a difference array: `+delta` at `from`, `-delta` at
/// `to`, so memory is one entry per step and not per (from, to) pair. Values are in integer
/// micro-units, so the running sum returns to exactly 0 at `to` (floats would leave residues
/// that make a counter dip, which Prometheus reads as a reset); a sum is floored to the
/// micro-unit so the back-dated part never exceeds what the registry counts from `to` on.
/// Step indices may be negative (before the first line).
type Late = HashMap<Key, BTreeMap<i64, Vec<i64>>, ahash::RandomState>;

/// Back-dated values are kept in millionths.
const MICRO: f64 = 1e6;

/// What a backfill wrote.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Summary {
    /// Distinct series as Prometheus counts them: each histogram bucket, `_sum` and `_count` is
    /// one (what `promtool tsdb create-blocks-from openmetrics` reports).
    pub(crate) series: usize,
    /// Sample lines written.
    pub(crate) samples: u64,
    /// Sampling instants.
    pub(crate) steps: u64,
    /// Time of the first sampling instant (Unix seconds).
    pub(crate) first_timestamp: f64,
    /// Time of the last sampling instant (Unix seconds), after the last line.
    pub(crate) last_timestamp: f64,
}

/// The backfill sink: the live registry, sampled every step into a spool.
pub(crate) struct Backfill {
    metrics: Metrics,
    buckets: Buckets,
    namespace: String,
    version: String,
    step: f64,
    t0: Option<f64>,
    next: f64,
    steps: u64,
    /// Looked up for every line: ahash, as the path labels (route.rs), not SipHash.
    index: HashMap<Key, usize, ahash::RandomState>,
    metas: Vec<Meta>,
    cur: Vec<f64>,
    scratch: Vec<f64>,
    widths: Vec<u32>,
    spool: BufWriter<File>,
    late: Late,
    /// The handshake histogram's delta of the 101 being back-dated.
    late_scratch: Vec<f64>,
    /// Constant labels (`name="value",...`, escaped), from `--label`.
    constant: String,
}

impl Backfill {
    /// A sink for the given logs (the `log` label values), sampling every `step` seconds.
    pub(crate) fn new(
        logs: &[LogGroup],
        step: f64,
        namespace: &str,
        buckets: Buckets,
        version: &str,
    ) -> anyhow::Result<Backfill> {
        if !(step.is_finite() && step >= 1.0) {
            bail!("--step must be at least 1s");
        }
        // Offline: the series are bounded by --max-paths and the bounded statuses, and a
        // budget would silently drop history.
        let mut metrics = Metrics::new(namespace, buckets.clone()).with_max_series(usize::MAX);
        for l in logs {
            metrics.add_log(&l.name, l.kind);
        }
        Ok(Backfill {
            metrics,
            buckets,
            namespace: namespace.to_string(),
            version: version.to_string(),
            step,
            t0: None,
            next: 0.0,
            steps: 0,
            index: HashMap::default(),
            metas: Vec::new(),
            cur: Vec::new(),
            scratch: Vec::new(),
            widths: Vec::new(),
            spool: BufWriter::with_capacity(1 << 20, spool_file()?),
            late: HashMap::default(),
            late_scratch: Vec::new(),
            constant: String::new(),
        })
    }

    /// Adds constant labels to every series (validated by [`parse_labels`]).
    pub(crate) fn with_labels(mut self, labels: &[(String, String)]) -> Backfill {
        self.constant = labels
            .iter()
            .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        self
    }

    /// The step (spool record index) whose sample first includes an event at `t`: samples at
    /// `t0 + j * step` include what happened before that instant.
    fn step_of(&self, t: f64) -> i64 {
        let t0 = self.t0.unwrap_or(t);
        let j = ((t - t0) / self.step).floor() + 1.0;
        // Clamped: a nonsense time cannot ask for billions of steps (MAX_STEPS guards below).
        j.clamp(-(MAX_STEPS as f64), MAX_STEPS as f64) as i64
    }

    /// Back-dates the handshake part of a 101 read after its handshake's step was sampled.
    fn back_date(&mut self, ev: &crate::classify::AccessEvent, at: f64) {
        let from = self.step_of(at);
        let to = self.steps as i64;
        if from >= to {
            return;
        }
        let add = |late: &mut Late, key: Key, delta: &[f64]| {
            let diffs = late.entry(key).or_default();
            for (step, sign) in [(from, 1i64), (to, -1i64)] {
                let d = diffs.entry(step).or_insert_with(|| vec![0; delta.len()]);
                for (a, b) in d.iter_mut().zip(delta) {
                    *a += sign * (b * MICRO).floor() as i64;
                }
            }
        };
        add(
            &mut self.late,
            Key::Requests {
                path: ev.path,
                method: ev.method,
                status: crate::sink::metrics::bounded_status(ev.status),
            },
            &[1.0],
        );
        add(
            &mut self.late,
            Key::Upgrades(
                ev.path,
                crate::sink::metrics::bounded_status(ev.status),
                ev.answered_by,
            ),
            &[1.0],
        );
        if let Some(h) = ev.handshake_seconds {
            let bounds = &self.buckets.handshake;
            let i = bounds.partition_point(|b| *b < h);
            // Reused: no allocation per line.
            let mut d = std::mem::take(&mut self.late_scratch);
            d.clear();
            d.extend((0..bounds.len()).map(|k| if k >= i { 1.0 } else { 0.0 }));
            d.push(1.0);
            d.push(h);
            add(&mut self.late, Key::Handshake(ev.path), &d);
            self.late_scratch = d;
        }
    }

    fn put(&mut self, key: Key, values: &[f64]) {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let off = self.cur.len();
                self.cur.resize(off + values.len(), 0.0);
                self.metas.push(Meta {
                    key,
                    width: values.len(),
                    off,
                    first: self.steps,
                });
                self.index.insert(key, self.metas.len() - 1);
                self.metas.len() - 1
            }
        };
        let m = &self.metas[i];
        self.cur[m.off..m.off + m.width].copy_from_slice(values);
    }

    fn put_hist(&mut self, key: Key, h: &Histogram) {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        let mut cum = 0;
        for c in &h.counts {
            cum += c;
            v.push(cum as f64);
        }
        v.push(h.count as f64);
        v.push(h.sum);
        self.put(key, &v);
        self.scratch = v;
    }

    /// Samples the registry as of the current step boundary into the spool.
    fn snapshot(&mut self) -> anyhow::Result<()> {
        let m = std::mem::replace(
            &mut self.metrics,
            Metrics::new("", Buckets::default()).with_max_series(usize::MAX),
        );
        for (i, p) in m.paths.iter().enumerate() {
            let Some(p) = p.as_deref() else { continue };
            let path = i as u32;
            for &(method, status, c) in &p.requests {
                self.put(
                    Key::Requests {
                        path,
                        method,
                        status,
                    },
                    &[c as f64],
                );
            }
            if let Some(h) = &p.duration {
                self.put_hist(Key::Duration(path), h);
            }
            if !p.requests.is_empty() {
                self.put(Key::Bytes(path), &[p.bytes as f64]);
            }
            for &(status, by, c) in &p.upgrades {
                self.put(Key::Upgrades(path, status, by), &[c as f64]);
            }
            if let Some(h) = &p.handshake {
                self.put_hist(Key::Handshake(path), h);
            }
            if let Some(h) = &p.session {
                self.put_hist(Key::Session(path), h);
            }
        }
        for (&(level, sig, path), &c) in &m.errors {
            self.put(Key::Errors { level, sig, path }, &[c as f64]);
        }
        for (i, l) in m.logs.iter().enumerate() {
            self.put(Key::LinesRead(i), &[l.read as f64]);
            self.put(Key::Malformed(i), &[l.malformed as f64]);
            self.put(Key::Rotations(i), &[l.rotations as f64]);
            for (r, &n) in l.lost.iter().enumerate() {
                self.put(Key::LinesLost(i, r), &[n as f64]);
            }
            if let Some(t) = l.last_event {
                self.put(Key::LastEvent(i), &[t]);
            }
        }
        // A live gauge (files held open); always 0 here, kept so both expositions hold the
        // same families.
        let (live, deleted) = m
            .logs
            .iter()
            .fold((0, 0), |(a, b), l| (a + l.open_files.0, b + l.open_files.1));
        self.put(Key::OpenFiles(false), &[live as f64]);
        self.put(Key::OpenFiles(true), &[deleted as f64]);
        self.put(Key::Overflow, &[m.overflow as f64]);
        self.put(Key::BuildInfo, &[1.0]);
        self.metrics = m;
        let mut bytes = Vec::with_capacity(self.cur.len() * 8);
        for v in &self.cur {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.spool
            .write_all(&bytes)
            .context("cannot write the temporary spool file")?;
        self.widths.push(self.cur.len() as u32);
        self.steps += 1;
        Ok(())
    }

    /// Takes the last sample and writes the OpenMetrics text (ending with `# EOF`) to `out`.
    pub(crate) fn finish<W: Write>(
        mut self,
        labels: &PathLabels,
        out: W,
    ) -> anyhow::Result<Summary> {
        let Some(t0) = self.t0 else {
            bail!("no line had a time ($time_local, $time_iso8601 or $msec): nothing to backfill");
        };
        self.snapshot()?;
        let mut spool = self
            .spool
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write the temporary spool file: {e}"))?;
        spool.seek(SeekFrom::Start(0))?;
        let ctx = Writer {
            ns: &self.namespace,
            version: &self.version,
            buckets: &self.buckets,
            labels,
            logs: &self.metrics.logs,
            t0,
            step: self.step,
            constant: &self.constant,
        };
        let steps = self.steps;
        // Each series starts at its first spool record, or earlier when a 101 was back-dated;
        // the whole output starts at the earliest of them (`lead` steps before the first line).
        let firsts: Vec<i64> = self
            .metas
            .iter()
            .map(|m| {
                let late = self.late.get(&m.key).and_then(|d| d.keys().next().copied());
                late.map_or(m.first as i64, |l| l.min(m.first as i64))
            })
            .collect();
        // One more step before a back-dated start, for the series' leading 0 sample (rate()
        // and increase() then count its first events).
        let back_dated_to_start = self
            .late
            .values()
            .filter_map(|d| d.keys().next().copied())
            .any(|from| from <= 0);
        let gfirst = match firsts.iter().copied().min() {
            Some(f) if f < 0 || back_dated_to_start => f.min(0) - 1,
            _ => 0,
        };
        if (steps as i64 - gfirst) as u64 > MAX_STEPS {
            bail!(
                "the logs span more than {MAX_STEPS} steps of {}s: use a larger --step",
                self.step
            );
        }
        let mut order: Vec<usize> = (0..self.metas.len()).collect();
        order.sort_by_key(|&i| self.metas[i].key);
        let mut out = BufWriter::with_capacity(1 << 20, out);
        let mut samples = 0u64;
        let mut last_family = None;
        let mut start = 0;
        let len = |i: usize| (steps as i64 - firsts[i]) as usize;
        while start < order.len() {
            // One pass: as many series (in output order) as fit the budget.
            let mut end = start;
            let mut cost = 0usize;
            while end < order.len() {
                let i = order[end];
                let c = self.metas[i].width * len(i) * 8;
                if end > start && cost + c > TRANSPOSE_BUDGET {
                    break;
                }
                cost += c;
                end += 1;
            }
            let pass = &order[start..end];
            let mut bufs: Vec<Vec<f64>> = pass
                .iter()
                .map(|&i| {
                    let m = &self.metas[i];
                    let mut b = Vec::with_capacity(m.width * len(i));
                    // Steps before the first spool record: only back-dated increments.
                    b.resize(m.width * (m.first as i64 - firsts[i]) as usize, 0.0);
                    b
                })
                .collect();
            spool.seek(SeekFrom::Start(0))?;
            let mut r = BufReader::with_capacity(1 << 20, &mut spool);
            let mut rec = Vec::new();
            let mut vals: Vec<f64> = Vec::new();
            for (j, &w) in self.widths.iter().enumerate() {
                rec.resize(w as usize * 8, 0);
                r.read_exact(&mut rec)
                    .context("cannot read back the temporary spool file")?;
                vals.clear();
                vals.extend(
                    rec.chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
                );
                for (k, &i) in pass.iter().enumerate() {
                    let m = &self.metas[i];
                    if m.first <= j as u64 {
                        bufs[k].extend_from_slice(&vals[m.off..m.off + m.width]);
                    }
                }
            }
            drop(r);
            for (k, &i) in pass.iter().enumerate() {
                let m = &self.metas[i];
                if let Some(diffs) = self.late.get(&m.key) {
                    let mut run = vec![0i64; m.width];
                    let mut next = diffs.iter().peekable();
                    for j in firsts[i]..steps as i64 {
                        while let Some((_, d)) = next.next_if(|(&s, _)| s <= j) {
                            for (r, d) in run.iter_mut().zip(d) {
                                *r += d;
                            }
                        }
                        if run.iter().all(|&r| r == 0) {
                            if next.peek().is_none() {
                                break;
                            }
                            continue;
                        }
                        let at = (j - firsts[i]) as usize * m.width;
                        if let Some(v) = bufs[k].get_mut(at..at + m.width) {
                            for (v, r) in v.iter_mut().zip(&run) {
                                *v += *r as f64 / MICRO;
                            }
                        }
                    }
                }
                let fam = family(&m.key);
                if last_family != Some(fam.0) {
                    ctx.header(&mut out, fam)?;
                    last_family = Some(fam.0);
                }
                samples += ctx.series(&mut out, m, fam.1, firsts[i], gfirst, &bufs[k])?;
            }
            start = end;
        }
        out.write_all(b"# EOF\n")?;
        out.flush()?;
        let series = self
            .metas
            .iter()
            .map(|m| match family(&m.key).1 {
                // Buckets (+Inf included), _count and _sum.
                Kind::Histogram => m.width + 1,
                Kind::Counter | Kind::Gauge => 1,
            })
            .sum();
        Ok(Summary {
            series,
            samples,
            steps: (steps as i64 - gfirst) as u64,
            first_timestamp: t0 + gfirst as f64 * self.step,
            last_timestamp: t0 + (steps - 1) as f64 * self.step,
        })
    }
}

impl Sink for Backfill {
    type Error = anyhow::Error;

    #[inline]
    fn line(&mut self, at: &Origin, event: &Event) -> anyhow::Result<Counted> {
        // Steps advance with the times written in the lines (they are nearly sorted); a 101 is
        // then back-dated to its handshake (`at.time`).
        if let Some(t) = at.clock.filter(|t| t.is_finite()) {
            if self.t0.is_none() {
                let t0 = (t / self.step).floor() * self.step;
                self.t0 = Some(t0);
                self.next = t0 + self.step;
                self.snapshot()?;
            }
            if t >= self.next {
                let needed = ((t - self.next) / self.step).floor() as u64 + 1;
                if self.steps + needed > MAX_STEPS {
                    bail!(
                        "the logs span more than {MAX_STEPS} steps of {}s: use a larger --step",
                        self.step
                    );
                }
                while t >= self.next {
                    self.snapshot()?;
                    self.next += self.step;
                }
            }
        }
        // Paths past --max-paths arrive as `__other__` from the merge, which sends no overflow
        // notice: counted here. A 101 is placed back at its handshake.
        match event {
            Event::Access(ev) => {
                if ev.path == OTHER {
                    self.metrics.overflow += 1;
                }
                if ev.upgrade && ev.status == 101 {
                    if let Some(h) = at.time.filter(|h| h.is_finite()) {
                        self.back_date(ev, h);
                    }
                }
            }
            Event::Error(ev) if ev.path == Some(OTHER) => self.metrics.overflow += 1,
            Event::Error(_) | Event::Malformed | Event::Continuation => {}
        }
        let Ok(counted) = self.metrics.line(at, event);
        Ok(counted)
    }

    fn notice(&mut self, log: LogId, notice: Notice) -> anyhow::Result<()> {
        let Ok(()) = self.metrics.notice(log, notice);
        Ok(())
    }
}

/// A temporary file that disappears when closed (unlinked right after creation).
fn spool_file() -> anyhow::Result<File> {
    tempfile::tempfile().with_context(|| {
        format!(
            "cannot create a temporary file in {} (set TMPDIR)",
            std::env::temp_dir().display()
        )
    })
}

struct Writer<'a> {
    ns: &'a str,
    version: &'a str,
    buckets: &'a Buckets,
    labels: &'a PathLabels,
    logs: &'a [crate::sink::metrics::LogStats],
    t0: f64,
    step: f64,
    /// `--label` pairs, rendered.
    constant: &'a str,
}

impl Writer<'_> {
    fn header<W: Write>(
        &self,
        out: &mut W,
        (name, kind, help): (&str, Kind, &str),
    ) -> io::Result<()> {
        let ty = kind.as_str();
        writeln!(out, "# TYPE {}_{name} {ty}", self.ns)?;
        writeln!(out, "# HELP {}_{name} {}", self.ns, help_escape(help))
    }

    fn path(&self, id: u32) -> String {
        escape(self.labels.name(id))
    }

    fn log(&self, i: usize) -> String {
        escape(self.logs.get(i).map_or("", |l| l.name.as_str()))
    }

    /// The sample name and label text of a series (`le` is added for buckets).
    fn name_labels(&self, key: &Key) -> (String, String) {
        let (fam, kind, _) = family(key);
        let name = match kind {
            Kind::Counter => format!("{}_{fam}_total", self.ns),
            _ => format!("{}_{fam}", self.ns),
        };
        let labels = match *key {
            Key::Requests {
                path,
                method,
                status,
            } => format!(
                "path=\"{}\",method=\"{}\",status=\"{}\"",
                self.path(path),
                METHODS.get(method as usize).unwrap_or(&"OTHER"),
                StatusLabel(status)
            ),
            Key::Duration(p) | Key::Bytes(p) | Key::Handshake(p) | Key::Session(p) => {
                format!("path=\"{}\"", self.path(p))
            }
            Key::Upgrades(p, status, by) => format!(
                "path=\"{}\",status=\"{}\",answered_by=\"{}\"",
                self.path(p),
                StatusLabel(status),
                by.as_str()
            ),
            Key::Errors { level, sig, path } => format!(
                "level=\"{}\",signature=\"{}\",path=\"{}\"",
                LEVELS.get(level as usize).unwrap_or(&"error"),
                signature::name(sig),
                if path == u32::MAX {
                    String::new()
                } else {
                    self.path(path)
                }
            ),
            Key::LinesRead(i) | Key::Malformed(i) | Key::Rotations(i) | Key::LastEvent(i) => {
                format!("log=\"{}\"", self.log(i))
            }
            Key::LinesLost(i, r) => format!(
                "log=\"{}\",reason=\"{}\"",
                self.log(i),
                crate::sink::metrics::LOST_REASONS
                    .get(r)
                    .unwrap_or(&"other")
            ),
            Key::OpenFiles(d) => format!("deleted=\"{d}\""),
            Key::Overflow => String::new(),
            Key::BuildInfo => format!(
                "version=\"{}\",revision=\"{}\"",
                escape(self.version),
                escape(crate::sink::metrics::REVISION)
            ),
        };
        (name, labels)
    }

    /// Writes every sample of one series, from step `first` (the output starts at `gfirst`);
    /// returns how many lines were written.
    fn series<W: Write>(
        &self,
        out: &mut W,
        m: &Meta,
        kind: Kind,
        first: i64,
        gfirst: i64,
        values: &[f64],
    ) -> io::Result<u64> {
        let (name, labels) = self.name_labels(&m.key);
        let braces = |extra: &str| -> String {
            let parts: Vec<&str> = [labels.as_str(), self.constant, extra]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", parts.join(","))
            }
        };
        let mut lines = 0u64;
        match kind {
            Kind::Counter | Kind::Gauge => {
                let series = format!("{name}{}", braces(""));
                if kind == Kind::Counter && first > gfirst {
                    writeln!(out, "{series} 0 {}", self.ts(first - 1))?;
                    lines += 1;
                }
                for (j, v) in values.iter().enumerate() {
                    let v = *v;
                    writeln!(out, "{series} {} {}", fmt_f64(v), self.ts(first + j as i64))?;
                    lines += 1;
                }
            }
            Kind::Histogram => {
                let bounds: &[f64] = match m.key {
                    Key::Duration(_) => &self.buckets.http,
                    Key::Handshake(_) => &self.buckets.handshake,
                    _ => &self.buckets.session,
                };
                let mut heads: Vec<String> = bounds
                    .iter()
                    .map(|b| {
                        format!(
                            "{name}_bucket{}",
                            braces(&format!(
                                "le=\"{}\"",
                                crate::sink::exposition::openmetrics_float(&fmt_f64(*b))
                            ))
                        )
                    })
                    .collect();
                heads.push(format!("{name}_bucket{}", braces("le=\"+Inf\"")));
                let count = format!("{name}_count{}", braces(""));
                let sum = format!("{name}_sum{}", braces(""));
                let n = bounds.len();
                let zero = vec![0.0; n + 2];
                let points = std::iter::once((first - 1, zero.as_slice()))
                    .filter(|_| first > gfirst)
                    .chain(
                        values
                            .chunks_exact(m.width)
                            .enumerate()
                            .map(|(j, v)| (first + j as i64, v)),
                    );
                // `_sum` is a float total: a back-dated part (floored to micro-units) and the
                // registry's own running sum may differ in the last bits, and Prometheus reads
                // any dip as a reset. Only such rounding dips are evened out; counts are exact.
                let mut sum_high = f64::NEG_INFINITY;
                let mut row = vec![0.0; n + 2];
                for (step, v) in points {
                    let ts = self.ts(step);
                    row.copy_from_slice(v);
                    let s = row[n + 1];
                    if s < sum_high && sum_high - s <= 1e-6 * sum_high.abs().max(1.0) {
                        row[n + 1] = sum_high;
                    }
                    sum_high = sum_high.max(row[n + 1]);
                    let v = &row;
                    for (h, c) in heads.iter().zip(v) {
                        writeln!(out, "{h} {} {ts}", fmt_f64(*c))?;
                    }
                    writeln!(out, "{count} {} {ts}", fmt_f64(v[n]))?;
                    writeln!(out, "{sum} {} {ts}", fmt_f64(v[n + 1]))?;
                    lines += n as u64 + 3;
                }
            }
        }
        Ok(lines)
    }

    fn ts(&self, step: i64) -> String {
        fmt_f64(self.t0 + step as f64 * self.step)
    }
}

/// OpenMetrics HELP escaping: `\`, newline, `"`.
fn help_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

/// Labels the backfilled metrics carry themselves (and `le` of histogram buckets): a constant
/// label of the same name would make two different series look alike.
pub(crate) const OWN_LABELS: &[&str] = &[
    "path",
    "method",
    "status",
    "answered_by",
    "level",
    "signature",
    "log",
    "version",
    "le",
];

/// Reads `--label NAME=VALUE` flags. NAME is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`,
/// not `__` reserved, not one of [`OWN_LABELS`]), given once; VALUE is non-empty text without
/// control characters (quotes and backslashes are escaped in the output).
pub(crate) fn parse_labels(flags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in flags {
        let Some((name, value)) = f.split_once('=') else {
            bail!("--label {f:?}: expected NAME=VALUE, e.g. --label job=nginxlog --label instance=web-1");
        };
        let valid_name = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name {
            bail!("--label {f:?}: {name:?} is not a Prometheus label name (a letter or _, then letters, digits or _)");
        }
        if name.starts_with("__") {
            bail!("--label {f:?}: names starting with __ are reserved by Prometheus");
        }
        if OWN_LABELS.contains(&name) {
            bail!(
                "--label {f:?}: {name} is a label of the metrics themselves ({}); choose another name (job, instance, cluster, ...)",
                OWN_LABELS.join(", ")
            );
        }
        if value.is_empty() || value.chars().any(char::is_control) {
            bail!("--label {f:?}: the value must be non-empty text without control characters (newlines, tabs)");
        }
        if out.iter().any(|(n, _)| n == name) {
            bail!("--label {name} is given twice");
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// The inputs of a `backfill` or `compare` run, access logs first.
pub(crate) fn inputs(
    access: &[std::path::PathBuf],
    error: &[std::path::PathBuf],
    phase: crate::source::history::Phase,
) -> Vec<crate::source::history::Input> {
    use crate::pipeline::LogKind;
    access
        .iter()
        .map(|p| (p, LogKind::Access))
        .chain(error.iter().map(|p| (p, LogKind::Error)))
        .map(|(p, kind)| crate::source::history::Input {
            path: p.clone(),
            kind,
            phase,
        })
        .collect()
}
