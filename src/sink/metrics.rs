//! The metrics registry of docs/architecture.md (the metric contract), rendered in the Prometheus text format.
//!
//! Series are stored by ids, not label strings: per path label a small struct with the request
//! counters, histograms and upgrade outcomes; methods, statuses and `answered_by` are small
//! integers. Recording a line is a few array lookups and additions; label text is only produced
//! when `/metrics` is rendered.

use crate::classify::route::PathLabels;
use crate::classify::signature;
use crate::classify::{AccessEvent, AnsweredBy, ErrorEvent, METHODS};
use crate::parse::error_log::LEVELS;
use crate::pipeline::{Counted, Event, LogId, LogKind, Notice, Origin, Sink};
use crate::sink::families;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write;

/// Default `le` bounds of `*_http_request_duration_seconds`.
pub(crate) const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Default `le` bounds of `*_ws_handshake_duration_seconds`.
pub(crate) const HANDSHAKE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Default `le` bounds of `*_ws_session_duration_seconds` (up to 24 h).
pub(crate) const SESSION_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// Git revision of the build (`unknown` outside a git checkout; see build.rs).
pub(crate) const REVISION: &str = env!("NGINXLOG_REVISION");

/// Histogram bucket bounds, configurable by flag.
#[derive(Clone, Debug)]
pub struct Buckets {
    pub(crate) http: Vec<f64>,
    pub(crate) handshake: Vec<f64>,
    pub(crate) session: Vec<f64>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            http: HTTP_BUCKETS.to_vec(),
            handshake: HANDSHAKE_BUCKETS.to_vec(),
            session: SESSION_BUCKETS.to_vec(),
        }
    }
}

/// A histogram with per-bucket (non-cumulative) counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) counts: Vec<u64>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    #[inline]
    fn observe(&mut self, bounds: &[f64], v: f64) {
        let i = bounds.partition_point(|b| *b < v);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// Everything recorded for one path label.
#[derive(Clone, Debug, Default)]
pub(crate) struct PathSeries {
    /// (method id, status, count)
    pub(crate) requests: Vec<(u8, u16, u64)>,
    pub(crate) duration: Option<Histogram>,
    pub(crate) bytes: u64,
    /// (status, answered_by, count)
    pub(crate) upgrades: Vec<(u16, AnsweredBy, u64)>,
    pub(crate) handshake: Option<Histogram>,
    pub(crate) session: Option<Histogram>,
    /// The last hour of upgrade attempts per minute (status page); only with `minutes` on.
    pub(crate) minutes: Option<crate::sink::minutes::MinuteRing>,
}

/// Self-metrics of one log source.
#[derive(Clone, Debug)]
pub struct LogStats {
    pub(crate) name: String,
    pub(crate) kind: LogKind,
    pub read: u64,
    pub malformed: u64,
    pub(crate) rotations: u64,
    pub(crate) last_event: Option<f64>,
    /// Files of this log held open: (not deleted, deleted).
    pub(crate) open_files: (u64, u64),
    /// Lines known lost, per reason (see [`LOST_REASONS`]).
    pub(crate) lost: [u64; LOST_REASONS.len()],
    /// Datagrams the kernel dropped on a syslog source's socket (`None` for files and stdin).
    pub(crate) syslog_dropped: Option<u64>,
}

/// Status codes kept as their own `status` label value: the IANA HTTP status code registry
/// and nginx's own (444 closed without response, 494-499). Anything else an upstream or a
/// scanner makes up would multiply the series of every path.
#[inline]
pub(crate) fn is_registered_status(s: u16) -> bool {
    matches!(
        s,
        100..=103
            | 200..=208
            | 226
            | 300..=308
            | 400..=418
            | 421..=426
            | 428
            | 429
            | 431
            | 444
            | 451
            | 494..=499
            | 500..=508
            | 510
            | 511
    )
}

/// The `status` label a status is counted under, as a small code: the status itself when
/// registered, its class `1`..`5` (`1xx`..`5xx`) otherwise, `0` (`other`) outside 100-599.
/// Bounded before storage, so two unregistered statuses of a class are one series.
#[inline]
pub(crate) fn bounded_status(s: u16) -> u16 {
    if is_registered_status(s) {
        s
    } else if (100..=599).contains(&s) {
        s / 100
    } else {
        0
    }
}

/// Label text of a [`bounded_status`] code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StatusLabel(pub(crate) u16);

impl std::fmt::Display for StatusLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("other"),
            c @ 1..=9 => write!(f, "{c}xx"),
            c => write!(f, "{c}"),
        }
    }
}

/// Default `--max-series`: what fits the shipped deployments' memory limits (64 MiB in the
/// Kubernetes example, 128 MB in the systemd unit) with room for the process itself; see
/// BENCHMARKS.md for the bytes per series it is sized from.
pub(crate) const DEFAULT_MAX_SERIES: usize = 100_000;

/// The global series budget: each new label set (a histogram counts as its bucket, sum and
/// count series) takes from it; past it, lines that would create one are counted instead.
#[derive(Clone, Copy, Debug)]
struct Budget {
    used: usize,
    max: usize,
}

impl Budget {
    #[inline]
    fn take(&mut self, n: usize) -> bool {
        if self.used + n > self.max {
            return false;
        }
        self.used += n;
        true
    }
}

/// Reasons of `lines_lost_total`: a checkpointed rotated file was deleted before the lines in
/// it that no scrape had seen could be read again.
pub(crate) const LOST_REASONS: [&str; 1] = ["rotated_file_gone"];

/// The registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    namespace: String,
    buckets: Buckets,
    pub(crate) paths: Vec<Option<Box<PathSeries>>>,
    /// (level, signature, path label or u32::MAX) -> count
    pub(crate) errors: BTreeMap<(u8, u16, u32), u64>,
    pub logs: Vec<LogStats>,
    pub(crate) overflow: u64,
    /// Keep per-minute upgrade rings for the status page (the live sidecar).
    pub minutes: bool,
    budget: Budget,
    /// Lines that would have created a series past `--max-series`.
    pub series_dropped: u64,
    /// Changes other than lines read and rotations (open files, losses, drops, overflow), for
    /// [`Metrics::generation`].
    changes: u64,
}

const NO_PATH: u32 = u32::MAX;

impl Metrics {
    /// An empty registry with metric names under `namespace`.
    pub fn new(namespace: &str, buckets: Buckets) -> Metrics {
        Metrics {
            namespace: namespace.to_string(),
            buckets,
            paths: Vec::new(),
            errors: BTreeMap::new(),
            logs: Vec::new(),
            overflow: 0,
            minutes: false,
            budget: Budget {
                used: 0,
                max: DEFAULT_MAX_SERIES,
            },
            series_dropped: 0,
            changes: 0,
        }
    }

    /// Sets the `--max-series` budget.
    pub fn with_max_series(mut self, max: usize) -> Metrics {
        self.budget.max = max;
        self
    }

    /// Series held by label sets so far (what `--max-series` bounds).
    #[cfg(test)]
    pub(crate) fn series_used(&self) -> usize {
        self.budget.used
    }

    /// Changes whenever anything rendered may have changed (lines read, rotations, drops), so
    /// an unchanged registry's exposition can be shared instead of rendered again.
    pub(crate) fn generation(&self) -> u64 {
        self.changes + self.logs.iter().map(|l| l.read + l.rotations).sum::<u64>()
    }

    /// Registers a log source; its id indexes the `log` label.
    pub fn add_log(&mut self, name: &str, kind: LogKind) -> LogId {
        self.logs.push(LogStats {
            name: name.to_string(),
            kind,
            read: 0,
            malformed: 0,
            rotations: 0,
            last_event: None,
            open_files: (0, 0),
            lost: [0; LOST_REASONS.len()],
            syslog_dropped: None,
        });
        self.logs.len() - 1
    }

    #[inline]
    fn seen(&mut self, log: LogId, t: Option<f64>) {
        if let (Some(l), Some(t)) = (self.logs.get_mut(log), t) {
            if l.last_event.is_none_or(|old| t > old) {
                l.last_event = Some(t);
            }
        }
    }

    /// Renders the Prometheus text exposition.
    pub fn render(&self, labels: &PathLabels, version: &str, out: &mut String) {
        let ns = &self.namespace;
        let path_name = |i: usize| escape(labels.name(i as u32));

        header(out, ns, &families::HTTP_REQUESTS);
        for (i, p) in self.series() {
            let mut rows = p.requests.clone();
            rows.sort_unstable();
            for (m, s, c) in rows {
                let _ = writeln!(
                    out,
                    "{ns}_http_requests_total{{path=\"{}\",method=\"{}\",status=\"{}\"}} {c}",
                    path_name(i),
                    METHODS[m as usize],
                    StatusLabel(s)
                );
            }
        }
        header(out, ns, &families::HTTP_REQUEST_DURATION);
        for (i, p) in self.series() {
            if let Some(h) = &p.duration {
                histogram(
                    out,
                    &format!("{ns}_http_request_duration_seconds"),
                    &format!("path=\"{}\"", path_name(i)),
                    &self.buckets.http,
                    h,
                );
            }
        }
        header(out, ns, &families::HTTP_RESPONSE_BYTES);
        for (i, p) in self.series() {
            if !p.requests.is_empty() {
                let _ = writeln!(
                    out,
                    "{ns}_http_response_bytes_total{{path=\"{}\"}} {}",
                    path_name(i),
                    p.bytes
                );
            }
        }
        header(out, ns, &families::WS_UPGRADE_REQUESTS);
        for (i, p) in self.series() {
            let mut rows = p.upgrades.clone();
            rows.sort_unstable_by_key(|(s, a, _)| (*s, *a));
            for (s, a, c) in rows {
                let _ = writeln!(out, "{ns}_ws_upgrade_requests_total{{path=\"{}\",status=\"{}\",answered_by=\"{}\"}} {c}", path_name(i), StatusLabel(s), a.as_str());
            }
        }
        header(out, ns, &families::WS_HANDSHAKE_DURATION);
        for (i, p) in self.series() {
            if let Some(h) = &p.handshake {
                histogram(
                    out,
                    &format!("{ns}_ws_handshake_duration_seconds"),
                    &format!("path=\"{}\"", path_name(i)),
                    &self.buckets.handshake,
                    h,
                );
            }
        }
        header(out, ns, &families::WS_SESSION_DURATION);
        for (i, p) in self.series() {
            if let Some(h) = &p.session {
                histogram(
                    out,
                    &format!("{ns}_ws_session_duration_seconds"),
                    &format!("path=\"{}\"", path_name(i)),
                    &self.buckets.session,
                    h,
                );
            }
        }
        header(out, ns, &families::ERROR_EVENTS);
        for (&(level, sig, path), c) in &self.errors {
            let p = if path == NO_PATH {
                String::new()
            } else {
                path_name(path as usize)
            };
            let _ = writeln!(
                out,
                "{ns}_error_events_total{{level=\"{}\",signature=\"{}\",path=\"{p}\"}} {c}",
                LEVELS[level as usize],
                signature::name(sig)
            );
        }
        header(out, ns, &families::LINES_READ);
        for l in &self.logs {
            let _ = writeln!(
                out,
                "{ns}_lines_read_total{{log=\"{}\"}} {}",
                escape(&l.name),
                l.read
            );
        }
        header(out, ns, &families::LINES_MALFORMED);
        for l in &self.logs {
            let _ = writeln!(
                out,
                "{ns}_lines_malformed_total{{log=\"{}\"}} {}",
                escape(&l.name),
                l.malformed
            );
        }
        header(out, ns, &families::LOG_ROTATIONS);
        for l in &self.logs {
            let _ = writeln!(
                out,
                "{ns}_log_rotations_total{{log=\"{}\"}} {}",
                escape(&l.name),
                l.rotations
            );
        }
        header(out, ns, &families::LINES_LOST);
        for l in &self.logs {
            for (reason, n) in LOST_REASONS.iter().zip(l.lost) {
                let _ = writeln!(
                    out,
                    "{ns}_lines_lost_total{{log=\"{}\",reason=\"{reason}\"}} {n}",
                    escape(&l.name),
                );
            }
        }
        header(out, ns, &families::OPEN_FILES);
        let (live, deleted) = self
            .logs
            .iter()
            .fold((0, 0), |(a, b), l| (a + l.open_files.0, b + l.open_files.1));
        let _ = writeln!(out, "{ns}_open_files{{deleted=\"false\"}} {live}");
        let _ = writeln!(out, "{ns}_open_files{{deleted=\"true\"}} {deleted}");
        header(out, ns, &families::LOG_LAST_EVENT);
        for l in &self.logs {
            if let Some(t) = l.last_event {
                let _ = writeln!(
                    out,
                    "{ns}_log_last_event_timestamp_seconds{{log=\"{}\"}} {}",
                    escape(&l.name),
                    fmt_f64(t)
                );
            }
        }
        header(out, ns, &families::PATH_OVERFLOW);
        let _ = writeln!(out, "{ns}_path_overflow_total {}", self.overflow);
        header(out, ns, &families::SERIES_DROPPED);
        let _ = writeln!(out, "{ns}_series_dropped_total {}", self.series_dropped);
        header(out, ns, &families::SYSLOG_DROPPED);
        for l in &self.logs {
            if let Some(d) = l.syslog_dropped {
                let _ = writeln!(
                    out,
                    "{ns}_syslog_dropped_total{{log=\"{}\"}} {d}",
                    escape(&l.name)
                );
            }
        }
        header(out, ns, &families::BUILD_INFO);
        let _ = writeln!(
            out,
            "{ns}_build_info{{version=\"{}\",revision=\"{}\"}} 1",
            escape(version),
            escape(REVISION)
        );
    }

    fn series(&self) -> impl Iterator<Item = (usize, &PathSeries)> {
        self.paths
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_deref().map(|p| (i, p)))
    }

    /// Total of a counter over every series, for tests and reports.
    pub fn upgrades_total(&self) -> u64 {
        self.series()
            .flat_map(|(_, p)| p.upgrades.iter().map(|r| r.2))
            .sum()
    }
}

/// Counting, one method per event; [`Sink`] dispatches to them.
impl Metrics {
    /// A line (or oversized fragment) was read from `log`.
    #[inline]
    fn read(&mut self, log: LogId) {
        if let Some(l) = self.logs.get_mut(log) {
            l.read += 1;
        }
    }

    /// The line did not parse.
    #[inline]
    fn malformed(&mut self, log: LogId) {
        if let Some(l) = self.logs.get_mut(log) {
            l.malformed += 1;
        }
    }

    /// A classified access line: counted in every series it belongs to, or refused whole.
    #[inline]
    fn access(&mut self, log: LogId, ev: &AccessEvent) -> Counted {
        self.seen(log, ev.time);
        let status = bounded_status(ev.status);
        // The line's whole cost first: it is counted in every series it belongs to, or (when
        // the budget cannot create all the new ones) in none, so no line is half-counted.
        let (cost, rows) = access_cost(
            self.paths.get(ev.path as usize).and_then(|p| p.as_deref()),
            ev,
            status,
            &self.buckets,
        );
        if cost > 0 && !self.budget.take(cost) {
            self.series_dropped += 1;
            return Counted::Refused;
        }
        let Metrics {
            paths,
            buckets,
            minutes,
            ..
        } = self;
        let Buckets {
            http,
            handshake,
            session,
        } = buckets;
        let p = path_series(paths, ev.path);
        debug_assert!(rows
            .request
            .is_none_or(|i| p.requests[i].0 == ev.method && p.requests[i].1 == status));
        debug_assert!(rows
            .upgrade
            .is_none_or(|i| p.upgrades[i].0 == status && p.upgrades[i].1 == ev.answered_by));
        bump_row(&mut p.requests, rows.request, (ev.method, status, 1));
        p.bytes += ev.bytes;
        if ev.upgrade {
            bump_row(&mut p.upgrades, rows.upgrade, (status, ev.answered_by, 1));
            if *minutes {
                use crate::sink::minutes::{event_minute, now_minute};
                if let Some(m) = event_minute(now_minute(), ev.time) {
                    p.minutes.get_or_insert_with(Default::default).record(
                        m,
                        ev.status,
                        ev.answered_by,
                    );
                }
            }
            if let Some(h) = ev.handshake_seconds {
                observe(&mut p.handshake, handshake, h);
            }
            if let Some(s) = ev.session_seconds {
                observe(&mut p.session, session, s);
            }
        }
        // Upgrade attempts are measured by the handshake and session histograms; a 101's
        // $request_time is the session length, and a refused upgrade is not an HTTP request the
        // service meant to serve.
        if !ev.upgrade {
            if let Some(d) = ev.request_seconds {
                observe(&mut p.duration, http, d);
            }
        }
        Counted::Yes
    }

    /// A classified error line: counted, or refused when its series would pass the budget.
    #[inline]
    fn error(&mut self, log: LogId, ev: &ErrorEvent) -> Counted {
        self.seen(log, ev.time);
        let key = (ev.level, ev.signature, ev.path.unwrap_or(NO_PATH));
        match self.errors.get_mut(&key) {
            Some(c) => *c += 1,
            None if self.budget.take(1) => {
                self.errors.insert(key, 1);
            }
            None => {
                self.series_dropped += 1;
                return Counted::Refused;
            }
        }
        Counted::Yes
    }

    /// Lines fell into `__other__`: the new overflow total.
    fn overflow(&mut self, total: u64) {
        if self.overflow != total {
            self.overflow = total;
            self.changes += 1;
        }
    }

    /// The kernel dropped `total` datagrams so far on `log`'s syslog socket.
    fn syslog_dropped(&mut self, log: LogId, total: u64) {
        if let Some(l) = self.logs.get_mut(log) {
            if l.syslog_dropped != Some(total) {
                l.syslog_dropped = Some(total);
                self.changes += 1;
            }
        }
    }

    /// The source of `log` was rotated.
    fn rotated(&mut self, log: LogId) {
        if let Some(l) = self.logs.get_mut(log) {
            l.rotations += 1;
        }
    }

    /// The source of `log` holds `open` files, `deleted` of them unlinked.
    fn open_files(&mut self, log: LogId, open: u64, deleted: u64) {
        if let Some(l) = self.logs.get_mut(log) {
            let now = (open - deleted.min(open), deleted);
            if l.open_files != now {
                l.open_files = now;
                self.changes += 1;
            }
        }
    }

    /// `lines` of `log` are known lost, for `reason`.
    fn lost(&mut self, log: LogId, reason: &'static str, lines: u64) {
        let i = LOST_REASONS.iter().position(|r| *r == reason);
        if let (Some(l), Some(i)) = (self.logs.get_mut(log), i) {
            l.lost[i] += lines;
        }
        self.changes += 1;
    }
}

impl Sink for Metrics {
    type Error = Infallible;

    #[inline]
    fn line(&mut self, at: &Origin, event: &Event) -> Result<Counted, Infallible> {
        self.read(at.log);
        Ok(match event {
            Event::Access(ev) => self.access(at.log, ev),
            Event::Error(ev) => self.error(at.log, ev),
            Event::Malformed => {
                self.malformed(at.log);
                Counted::Yes
            }
            Event::Continuation => Counted::Yes,
        })
    }

    fn notice(&mut self, log: LogId, notice: Notice) -> Result<(), Infallible> {
        match notice {
            Notice::Rotated => self.rotated(log),
            Notice::OpenFiles { open, deleted } => self.open_files(log, open, deleted),
            Notice::Lost { reason, lines } => self.lost(log, reason, lines),
            Notice::SyslogDropped(total) => self.syslog_dropped(log, total),
            Notice::PathsOverflow(total) => self.overflow(total),
        }
        Ok(())
    }
}

#[inline]
fn path_series(paths: &mut Vec<Option<Box<PathSeries>>>, id: u32) -> &mut PathSeries {
    let i = id as usize;
    if i >= paths.len() {
        paths.resize_with(i + 1, || None);
    }
    paths[i].get_or_insert_with(Default::default)
}

/// Where an access line's rows already are in its path's series (`None`: a new row).
struct Rows {
    request: Option<usize>,
    upgrade: Option<usize>,
}

/// Series an access line would create: a new request row (plus the path's bytes series with
/// its first row), a new upgrade row, each histogram it observes into for the first time; and
/// where its existing rows are, so counting does not search for them again.
#[inline]
fn access_cost(
    p: Option<&PathSeries>,
    ev: &AccessEvent,
    status: u16,
    b: &Buckets,
) -> (usize, Rows) {
    let hist = |h: Option<&Histogram>, bounds: &[f64], v: Option<f64>| {
        if v.is_some() && h.is_none() {
            bounds.len() + 3
        } else {
            0
        }
    };
    let requests = p.map_or(&[][..], |p| &p.requests[..]);
    let mut rows = Rows {
        request: requests
            .iter()
            .position(|r| r.0 == ev.method && r.1 == status),
        upgrade: None,
    };
    let mut cost = 0;
    if rows.request.is_none() {
        cost += 1 + usize::from(requests.is_empty());
    }
    if ev.upgrade {
        let ups = p.map_or(&[][..], |p| &p.upgrades[..]);
        rows.upgrade = ups
            .iter()
            .position(|r| r.0 == status && r.1 == ev.answered_by);
        cost += usize::from(rows.upgrade.is_none());
        cost += hist(
            p.and_then(|p| p.handshake.as_ref()),
            &b.handshake,
            ev.handshake_seconds,
        );
        cost += hist(
            p.and_then(|p| p.session.as_ref()),
            &b.session,
            ev.session_seconds,
        );
    } else {
        cost += hist(
            p.and_then(|p| p.duration.as_ref()),
            &b.http,
            ev.request_seconds,
        );
    }
    (cost, rows)
}

/// Observes `v` into a histogram, creating it (already paid for by [`access_cost`]).
#[inline]
fn observe(h: &mut Option<Histogram>, bounds: &[f64], v: f64) {
    h.get_or_insert_with(|| Histogram::new(bounds))
        .observe(bounds, v);
}

/// Adds one to the row found by [`access_cost`], or appends `new` (its count 1).
#[inline]
fn bump_row<A, B>(v: &mut Vec<(A, B, u64)>, found: Option<usize>, new: (A, B, u64)) {
    match found.and_then(|i| v.get_mut(i)) {
        Some(r) => r.2 += 1,
        None => v.push(new),
    }
}

fn header(out: &mut String, ns: &str, f: &families::Family) {
    let (name, help, kind) = (f.text_name(), f.help, f.kind.as_str());
    let _ = writeln!(out, "# HELP {ns}_{name} {help}");
    let _ = writeln!(out, "# TYPE {ns}_{name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, bounds: &[f64], h: &Histogram) {
    let mut cum = 0;
    for (b, c) in bounds.iter().zip(&h.counts) {
        cum += c;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{}\"}} {cum}",
            fmt_f64(*b)
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_f64(h.sum));
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

/// Formats a float the way Prometheus clients do (`0.005`, `1`, `86400`).
pub(crate) fn fmt_f64(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Escapes a label value (`\`, `"`, newline).
pub(crate) fn escape(v: &str) -> String {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return v.to_string();
    }
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, ClassifyConfig};
    use crate::framing::Frame;
    use crate::parse::format::LineFormat;
    use crate::pipeline::{Outcome, Pipeline};

    #[test]
    fn renders_contract_names_and_cumulative_buckets() {
        let c = Classifier::new(
            LineFormat::compile("ws_timing").expect("p"),
            &ClassifyConfig::default(),
        )
        .expect("c");
        let mut p = Pipeline::new(c, Metrics::new("nginxlog", Buckets::default()));
        let log = p.sink.add_log("access.log", LogKind::Access);
        let ok = br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/chat?token=abc HTTP/1.1" 101 2 "-" "py" rt=12.500 uct="0.001" uht="0.003" urt="12.500" upgrade="websocket""#;
        let denied = br#"127.0.0.1 - - [28/Nov/2026:01:53:33 +0000] "GET /ws/chat?token=bad HTTP/1.1" 403 10 "-" "py" rt=0.002 uct="0.000" uht="0.002" urt="0.002" upgrade="websocket""#;
        p.feed(log, LogKind::Access, Frame::Line(ok));
        p.feed(log, LogKind::Access, Frame::Line(denied));
        p.feed(log, LogKind::Access, Frame::Line(b"junk"));
        let mut out = String::new();
        p.sink.render(&p.classifier.labels, "0.1.0", &mut out);
        for want in [
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"} 1"#,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"} 1"#,
            r#"nginxlog_http_requests_total{path="/ws/chat",method="GET",status="101"} 1"#,
            r#"nginxlog_ws_handshake_duration_seconds_bucket{path="/ws/chat",le="0.0025"} 1"#,
            r#"nginxlog_ws_handshake_duration_seconds_bucket{path="/ws/chat",le="+Inf"} 2"#,
            r#"nginxlog_ws_handshake_duration_seconds_count{path="/ws/chat"} 2"#,
            r#"nginxlog_ws_session_duration_seconds_count{path="/ws/chat"} 1"#,
            r#"nginxlog_http_response_bytes_total{path="/ws/chat"} 12"#,
            r#"nginxlog_lines_read_total{log="access.log"} 3"#,
            r#"nginxlog_lines_malformed_total{log="access.log"} 1"#,
            r#"nginxlog_log_last_event_timestamp_seconds{log="access.log"} 1795830813"#,
            "nginxlog_path_overflow_total 0",
            r#"nginxlog_build_info{version="0.1.0",revision="#,
        ] {
            assert!(out.contains(want), "missing {want}\n{out}");
        }
        assert!(!out.contains("token"));
        assert!(
            !out.contains(r#"nginxlog_http_request_duration_seconds_count{path="/ws/chat"}"#),
            "upgrade attempts are not HTTP request durations\n{out}"
        );
    }

    fn pipeline(format: &str, max_series: usize) -> (Pipeline<Metrics>, LogId) {
        let c = Classifier::new(
            LineFormat::compile(format).expect("format"),
            &ClassifyConfig::default(),
        )
        .expect("classifier");
        let mut p = Pipeline::new(
            c,
            Metrics::new("nginxlog", Buckets::default()).with_max_series(max_series),
        );
        let log = p.sink.add_log("access.log", LogKind::Access);
        (p, log)
    }

    fn render(p: &Pipeline<Metrics>) -> String {
        let mut out = String::new();
        p.sink.render(&p.classifier.labels, "t", &mut out);
        crate::sink::unique_series::assert_unique_series(&out);
        out
    }

    fn combined(path: &str, status: u16) -> Vec<u8> {
        format!(
            "1.2.3.4 - - [28/Nov/2026:01:53:32 +0000] \"GET {path} HTTP/1.1\" {status} 5 \"-\" \"x\""
        )
        .into_bytes()
    }

    #[test]
    fn statuses_100_to_999_give_a_bounded_label_set() {
        let (mut p, log) = pipeline("combined", usize::MAX);
        let mut x: u32 = 12345;
        for i in 0..200u32 {
            // Every status 100-999 once per 900, here 200 spread over the range.
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let status = 100 + ((x >> 8) + i) % 900;
            p.feed(
                log,
                LogKind::Access,
                Frame::Line(&combined("/api/x", status as u16)),
            );
        }
        let out = render(&p);
        let statuses: std::collections::BTreeSet<&str> = out
            .lines()
            .filter(|l| l.starts_with("nginxlog_http_requests_total{"))
            .filter_map(|l| l.split("status=\"").nth(1)?.split('"').next())
            .collect();
        assert!(
            statuses.len() <= 76,
            "{} values: {statuses:?}",
            statuses.len()
        );
        for s in &statuses {
            let known = s.parse::<u16>().is_ok_and(is_registered_status);
            assert!(
                known || ["1xx", "2xx", "3xx", "4xx", "5xx", "other"].contains(s),
                "{s}"
            );
        }
        assert!(
            statuses.contains("other"),
            "600-999 are `other`: {statuses:?}"
        );
        let total: u64 = out
            .lines()
            .filter(|l| l.starts_with("nginxlog_http_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert_eq!(total, 200, "every line is still counted");
        assert_eq!(StatusLabel(bounded_status(299)).to_string(), "2xx");
        assert_eq!(StatusLabel(bounded_status(444)).to_string(), "444");
        assert_eq!(StatusLabel(bounded_status(499)).to_string(), "499");
        assert_eq!(StatusLabel(bounded_status(600)).to_string(), "other");
        assert_eq!(StatusLabel(bounded_status(101)).to_string(), "101");
    }

    #[test]
    fn series_budget_counts_lines_past_it() {
        // combined logs no $request_time: a path's first line takes a request row and its
        // bytes series.
        let (mut p, log) = pipeline("combined", 3);
        p.feed(log, LogKind::Access, Frame::Line(&combined("/a", 200)));
        assert_eq!(p.sink.series_used(), 2);
        // A second status on the same path: one more series, fits.
        p.feed(log, LogKind::Access, Frame::Line(&combined("/a", 404)));
        assert_eq!(p.sink.series_used(), 3);
        // A new path needs 2: refused, counted, nothing half-created.
        p.feed(log, LogKind::Access, Frame::Line(&combined("/b", 200)));
        p.feed(log, LogKind::Access, Frame::Line(&combined("/c", 200)));
        // Known label sets keep counting.
        p.feed(log, LogKind::Access, Frame::Line(&combined("/a", 200)));
        assert_eq!(p.sink.series_dropped, 2);
        assert_eq!(p.sink.series_used(), 3);
        let out = render(&p);
        assert!(out.contains("nginxlog_series_dropped_total 2"), "{out}");
        assert!(
            out.contains(r#"nginxlog_http_requests_total{path="/a",method="GET",status="200"} 2"#)
        );
        assert!(!out.contains(r#"path="/b""#), "{out}");
        let samples = out.lines().filter(|l| !l.starts_with('#')).count();
        let own = out
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("path=\""))
            .count();
        assert_eq!(
            samples - own,
            3,
            "the budget is what the exposition holds\n{out}"
        );
    }

    fn ws_timing_line(path: &str, status: u16, rt: &str, upgrade: &str) -> Vec<u8> {
        format!(
            "1.2.3.4 - - [28/Nov/2026:01:53:32 +0000] \"GET {path} HTTP/1.1\" {status} 5 \"-\" \"x\" rt={rt} uct=\"0.001\" uht=\"0.002\" urt=\"{rt}\" upgrade=\"{upgrade}\""
        )
        .into_bytes()
    }

    /// A line that needs a request row, a bytes series and a histogram is counted in all of
    /// them or (past the budget) in none: never half-created, bytes only for a kept row.
    #[test]
    fn a_line_is_charged_its_whole_cost_or_refused() {
        let hist = Buckets::default().http.len() + 3;
        let (mut p, log) = pipeline(crate::parse::format::WS_TIMING, 2 + hist);
        let before = p.classifier.labels.len();
        // Fits exactly: row + bytes + duration histogram.
        p.feed(
            log,
            LogKind::Access,
            Frame::Line(&ws_timing_line("/a", 200, "0.010", "-")),
        );
        assert_eq!(p.sink.series_used(), 2 + hist);
        // The same cost again does not fit: nothing of the line may appear.
        let o = p.feed(
            log,
            LogKind::Access,
            Frame::Line(&ws_timing_line("/b", 200, "0.010", "-")),
        );
        assert_eq!(o, Outcome::Parsed);
        assert_eq!(p.sink.series_used(), 2 + hist);
        assert_eq!(p.sink.series_dropped, 1);
        let out = render(&p);
        assert!(!out.contains(r#"path="/b""#), "half-created\n{out}");
        assert!(
            out.contains(r#"nginxlog_http_response_bytes_total{path="/a"} 5"#),
            "{out}"
        );
        // A known path needing one new row (cost 1) is refused whole as well: its request
        // count and bytes stay as they were.
        p.feed(
            log,
            LogKind::Access,
            Frame::Line(&ws_timing_line("/a", 404, "0.010", "-")),
        );
        assert_eq!(p.sink.series_dropped, 2);
        let out = render(&p);
        assert!(
            out.contains(r#"nginxlog_http_response_bytes_total{path="/a"} 5"#),
            "{out}"
        );
        assert!(!out.contains(r#"status="404""#), "{out}");
        assert!(
            out.contains(r#"nginxlog_http_request_duration_seconds_count{path="/a"} 1"#),
            "{out}"
        );
        // One series short of the whole cost: the row and bytes would fit, the histogram not.
        let (mut q, qlog) = pipeline(crate::parse::format::WS_TIMING, 2 + hist - 1);
        q.feed(
            qlog,
            LogKind::Access,
            Frame::Line(&ws_timing_line("/a", 200, "0.010", "-")),
        );
        assert_eq!((q.sink.series_used(), q.sink.series_dropped), (0, 1));
        assert!(!render(&q).contains(r#"path="/a""#));
        // The refused /b took no --max-paths slot.
        assert_eq!(p.classifier.labels.len(), before + 1);
        // Known label sets keep counting.
        p.feed(
            log,
            LogKind::Access,
            Frame::Line(&ws_timing_line("/a", 200, "0.020", "-")),
        );
        let out = render(&p);
        assert!(
            out.contains(r#"nginxlog_http_response_bytes_total{path="/a"} 10"#),
            "{out}"
        );
        assert_eq!(p.sink.series_dropped, 2);
    }

    /// Lines refused by the series budget leave the path slots for lines that will count.
    #[test]
    fn refused_lines_take_no_path_slot() {
        let c = Classifier::new(
            LineFormat::compile("combined").expect("format"),
            &ClassifyConfig {
                max_paths: 2,
                ..ClassifyConfig::default()
            },
        )
        .expect("classifier");
        let mut p = Pipeline::new(
            c,
            Metrics::new("nginxlog", Buckets::default()).with_max_series(2),
        );
        let log = p.sink.add_log("access.log", LogKind::Access);
        p.feed(log, LogKind::Access, Frame::Line(&combined("/a", 200)));
        for i in 0..50 {
            p.feed(
                log,
                LogKind::Access,
                Frame::Line(&combined(&format!("/flood{i}x"), 200)),
            );
        }
        assert_eq!(p.sink.series_dropped, 50);
        assert_eq!(p.classifier.labels.overflow, 0, "no slot was used up");
        // The budget grows (a restart with a larger one would do the same): the second slot
        // is still free for a real path.
        p.sink = p.sink.with_max_series(4);
        p.feed(log, LogKind::Access, Frame::Line(&combined("/b", 200)));
        let out = render(&p);
        assert!(out.contains(r#"path="/b""#), "{out}");
        assert_eq!(p.classifier.labels.overflow, 0);
    }

    #[test]
    fn invalid_utf8_paths_are_one_series_and_one_path_slot() {
        // nginx's default escape writes bytes >= 0x80 as \xHH; escape=json writes them raw.
        let (mut p, log) = pipeline("combined", usize::MAX);
        for b in [r"\xFF", r"\xFE", r"\xC3"] {
            p.feed(
                log,
                LogKind::Access,
                Frame::Line(&combined(&format!("/p/{b}x"), 200)),
            );
        }
        let mut raw = combined("/p/", 200);
        let at = raw.windows(4).position(|w| w == b"/p/ ").expect("path") + 3;
        raw.splice(at..at, [0xFD, b'x']);
        p.feed(log, LogKind::Access, Frame::Line(&raw));
        let out = render(&p);
        assert!(
            out.contains("nginxlog_http_requests_total{path=\"/p/\u{FFFD}x\",method=\"GET\",status=\"200\"} 4"),
            "{out}"
        );
        // __other__, __invalid__ and the one path.
        assert_eq!(p.classifier.labels.len(), 3);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(fmt_f64(0.005), "0.005");
        assert_eq!(fmt_f64(86400.0), "86400");
    }
}
