//! `compare`: did the nginx change work? Historical logs are replayed through the shared
//! pipeline (see [`crate::source::history`]) into before/after aggregates, and `report`
//! renders them as a terminal table, markdown, JSON or a self-contained HTML page.
//!
//! Phases come either from a time split (`--split TIME`, lines within `--window` on each side;
//! lines outside are counted and ignored) or from two sets of files (`--before`, `--after`).
//! Everything kept is bounded by the number of path labels (`--max-paths`), not by the input:
//! per path and phase, counters by status plus quantile sketches of the handshake and session
//! times, and a timeline of upgrade outcomes whose bucket width grows (1 s, 5 s, 10 s, 30 s,
//! 1 min, ...) so it never holds more than a few thousand points.

use crate::classify::route::LabelId;
use crate::classify::AnsweredBy;
use crate::pipeline::{Counted, Event, LogKind, Origin, Phase, Sink};
use anyhow::{bail, Context};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

/// Relative accuracy of the quantile sketches (0.5 %); quantiles are then rounded to nginx's
/// millisecond resolution, which makes them exact below 100 ms.
pub(crate) const SKETCH_ALPHA: f64 = 0.005;

/// A log-bucketed quantile sketch (DDSketch-style): bounded memory, relative error
/// [`SKETCH_ALPHA`], mergeable. Values at or below 1 µs (nginx's `0.000`) count as zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sketch {
    zero: u64,
    offset: i32,
    bins: Vec<u64>,
    count: u64,
}

const MIN_INDEX: i32 = -3000;
const MAX_INDEX: i32 = 3000;

fn ln_gamma() -> f64 {
    ((1.0 + SKETCH_ALPHA) / (1.0 - SKETCH_ALPHA)).ln()
}

impl Sketch {
    /// Records a value (seconds).
    pub(crate) fn insert(&mut self, v: f64) {
        if !v.is_finite() || v < 0.0 {
            return;
        }
        self.count += 1;
        if v <= 1e-6 {
            self.zero += 1;
            return;
        }
        let i = ((v.ln() / ln_gamma()).ceil() as i32).clamp(MIN_INDEX, MAX_INDEX);
        if self.bins.is_empty() {
            self.offset = i;
            self.bins.push(0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        } else if (i - self.offset) as usize >= self.bins.len() {
            self.bins.resize((i - self.offset) as usize + 1, 0);
        }
        self.bins[(i - self.offset) as usize] += 1;
    }

    /// Number of values recorded.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (nearest rank), rounded to milliseconds; `None` without values.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = self.zero;
        if seen >= rank {
            return Some(0.0);
        }
        let gamma = ln_gamma().exp();
        for (k, &c) in self.bins.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let i = self.offset + k as i32;
                let v = 2.0 * gamma.powi(i) / (gamma + 1.0);
                return Some((v * 1000.0).round() / 1000.0);
            }
        }
        None
    }
}

/// Upgrade outcomes of one path in one phase.
#[derive(Clone, Debug, Default)]
pub(crate) struct PathStats {
    /// Access lines with this path label.
    pub(crate) requests: u64,
    /// Upgrade attempts among them.
    pub(crate) attempts: u64,
    /// Final status of upgrade attempts -> count by `answered_by` (upstream, nginx, unknown).
    pub(crate) statuses: BTreeMap<u16, [u64; 3]>,
    /// `$upstream_header_time` of attempts.
    pub(crate) handshake: Sketch,
    /// `$request_time` of 101 lines.
    pub(crate) session: Sketch,
}

/// Everything counted for one phase.
#[derive(Clone, Debug, Default)]
pub(crate) struct PhaseStats {
    /// Access-log lines (malformed included).
    pub(crate) access_lines: u64,
    /// Error-log lines (continuations included).
    pub(crate) error_lines: u64,
    /// Lines that did not parse.
    pub(crate) malformed: u64,
    /// Parsed access lines.
    pub(crate) requests: u64,
    /// Time of the phase's first line.
    pub(crate) first: Option<f64>,
    /// Time of the phase's last line.
    pub(crate) last: Option<f64>,
    /// Per path label.
    pub(crate) paths: HashMap<LabelId, PathStats>,
    /// Error signature id -> events.
    pub(crate) errors: BTreeMap<u16, u64>,
}

/// Timeline widths: each divides the next, so buckets merge exactly when the width grows.
const WIDTHS: &[i64] = &[1, 5, 10, 30, 60, 300, 600, 1800, 3600, 21_600, 86_400];
/// Most timeline buckets kept before the width grows.
const MAX_BUCKETS: usize = 3000;

/// Upgrade outcomes over time: bucket start -> [101, 403, other].
#[derive(Clone, Debug)]
pub(crate) struct Timeline {
    /// Bucket width in seconds (one of 1, 5, 10, 30, 60, ... 86400).
    pub(crate) width: i64,
    /// Bucket start (Unix seconds) -> [101, 403, other] upgrade attempts.
    pub(crate) buckets: BTreeMap<i64, [u64; 3]>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            width: 1,
            buckets: BTreeMap::new(),
        }
    }
}

impl Timeline {
    fn add(&mut self, t: f64, status: u16) {
        let slot = match status {
            101 => 0,
            403 => 1,
            _ => 2,
        };
        let key = (t.floor() as i64).div_euclid(self.width) * self.width;
        self.buckets.entry(key).or_insert([0; 3])[slot] += 1;
        if self.buckets.len() > MAX_BUCKETS {
            self.coarsen_to(self.buckets.len() / 2);
        }
    }

    /// Grows the width until at most `max` buckets span the data; at least a minute when the
    /// data spans 30 minutes or more (the chart is "per minute" for real traffic).
    pub(crate) fn coarsen_to(&mut self, max: usize) {
        loop {
            let (Some((&a, _)), Some((&b, _))) = (
                self.buckets.first_key_value(),
                self.buckets.last_key_value(),
            ) else {
                return;
            };
            let span = (b - a) / self.width + 1;
            let want_minute = b - a >= 1800 && self.width < 60;
            if (span as usize <= max && !want_minute) || self.width >= 86_400 {
                return;
            }
            let next = WIDTHS
                .iter()
                .copied()
                .find(|w| *w > self.width)
                .unwrap_or(86_400);
            let mut merged: BTreeMap<i64, [u64; 3]> = BTreeMap::new();
            for (k, v) in std::mem::take(&mut self.buckets) {
                let e = merged.entry(k.div_euclid(next) * next).or_insert([0; 3]);
                for i in 0..3 {
                    e[i] += v[i];
                }
            }
            self.buckets = merged;
            self.width = next;
        }
    }
}

/// How lines are assigned to phases.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Split {
    /// `--split T --window W`: before is [T-W, T), after is [T, T+W).
    Time {
        /// The split, Unix seconds.
        at: f64,
        /// Seconds compared on each side.
        window: f64,
    },
    /// `--before FILES --after FILES`.
    Files,
}

/// The compare sink.
#[derive(Debug)]
pub(crate) struct Compare {
    /// How lines are assigned to phases.
    pub(crate) split: Split,
    /// [before, after]
    pub(crate) phases: [PhaseStats; 2],
    /// Upgrade outcomes over time, both phases.
    pub(crate) timeline: Timeline,
    /// Lines outside the window (or without any time).
    pub(crate) outside: u64,
    /// First and last time of any line read, to explain an empty window.
    pub(crate) span: Option<(f64, f64)>,
}

impl Compare {
    /// An empty comparison.
    pub(crate) fn new(split: Split) -> Compare {
        Compare {
            split,
            phases: Default::default(),
            timeline: Timeline::default(),
            outside: 0,
            span: None,
        }
    }

    fn phase_of(&self, at: &Origin) -> Option<usize> {
        let time = at.time;
        match (at.phase, self.split) {
            (Phase::Before, _) => Some(0),
            (Phase::After, _) => Some(1),
            (Phase::ByTime, Split::Time { at, window }) => match time {
                Some(t) if t >= at - window && t < at => Some(0),
                Some(t) if t >= at && t < at + window => Some(1),
                _ => None,
            },
            (Phase::ByTime, Split::Files) => None,
        }
    }
}

impl Sink for Compare {
    type Error = Infallible;

    #[inline]
    fn line(&mut self, at: &Origin, event: &Event) -> Result<Counted, Infallible> {
        if let Some(t) = event.time() {
            self.span = Some(self.span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        }
        let Some(ph) = self.phase_of(at) else {
            self.outside += 1;
            return Ok(Counted::Yes);
        };
        let p = &mut self.phases[ph];
        match at.kind {
            LogKind::Access => p.access_lines += 1,
            LogKind::Error => p.error_lines += 1,
        }
        if let Some(t) = event.time() {
            p.first = Some(p.first.map_or(t, |f| f.min(t)));
            p.last = Some(p.last.map_or(t, |l| l.max(t)));
        }
        match event {
            Event::Access(ev) => {
                p.requests += 1;
                let s = p.paths.entry(ev.path).or_default();
                s.requests += 1;
                if ev.upgrade {
                    s.attempts += 1;
                    s.statuses.entry(ev.status).or_insert([0; 3])[match ev.answered_by {
                        AnsweredBy::Upstream => 0,
                        AnsweredBy::Nginx => 1,
                        AnsweredBy::Unknown => 2,
                    }] += 1;
                    if let Some(h) = ev.handshake_seconds {
                        s.handshake.insert(h);
                    }
                    if let Some(d) = ev.session_seconds {
                        s.session.insert(d);
                    }
                    if let Some(t) = ev.handshake_time() {
                        self.timeline.add(t, ev.status);
                    }
                }
            }
            Event::Error(ev) => *p.errors.entry(ev.signature).or_insert(0) += 1,
            Event::Malformed => p.malformed += 1,
            Event::Continuation => {}
        }
        Ok(Counted::Yes)
    }
}

/// Latest `--split` accepted (9999-12-31T23:59:59Z): beyond it no log time can follow.
const MAX_SPLIT: f64 = 253_402_300_799.0;

/// Unix seconds of a timestamp, with its fraction.
fn seconds(t: jiff::Timestamp) -> f64 {
    t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9
}

/// Reads a `--split` value: RFC 3339 / `$time_iso8601`, `$time_local` as nginx writes it
/// (`29/Nov/2026:02:16:58 +0000`, with or without the log's brackets: users copy it from a
/// line), `YYYY-MM-DD HH:MM:SS` (UTC), Unix seconds, or `@FILE` holding one of these.
pub(crate) fn parse_split(s: &str) -> anyhow::Result<f64> {
    let owned;
    let s = match s.strip_prefix('@') {
        Some(path) => {
            owned = std::fs::read_to_string(path)
                .with_context(|| format!("--split @{path}: cannot read the file"))?;
            owned.trim()
        }
        None => s.trim(),
    };
    // Brackets as copied from a log line, either or both.
    let bare = s.strip_prefix('[').unwrap_or(s);
    let bare = bare.strip_suffix(']').unwrap_or(bare).trim();
    // `$time_local` without its offset (`29/Nov/2026:02:16:58`) is taken as UTC.
    let with_zone;
    let bare = if bare.len() == 20 && bare.as_bytes().get(2) == Some(&b'/') {
        with_zone = format!("{bare} +0000");
        with_zone.as_str()
    } else {
        bare
    };
    // A cold path (one flag): the calendar is jiff's, not the log parsers'.
    let t = if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        bare.parse::<f64>().ok()
    } else if bare.len() == 19 {
        // `YYYY-MM-DD HH:MM:SS` (or with a `T`), no offset: UTC.
        bare.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .map(seconds)
    } else {
        bare.parse::<jiff::Timestamp>()
            .or_else(|_| {
                jiff::fmt::strtime::parse("%d/%b/%Y:%H:%M:%S %z", bare)
                    .and_then(|p| p.to_timestamp())
            })
            .ok()
            .map(seconds)
    };
    match t {
        Some(t) if t.is_finite() && (0.0..=MAX_SPLIT).contains(&t) => Ok(t),
        _ => bail!(
            "--split {:?}: expected RFC 3339 or $time_iso8601 (2026-11-29T02:16:58Z, 2026-11-29T03:16:58+01:00), $time_local (29/Nov/2026:02:16:58 +0000), `YYYY-MM-DD HH:MM:SS` or `DD/Mon/YYYY:HH:MM:SS` (both UTC), Unix seconds (up to year 9999), or @FILE",
            s.chars().take(80).collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_quantiles_are_exact_at_millisecond_resolution() {
        let mut s = Sketch::default();
        for ms in 1..=100 {
            s.insert(ms as f64 / 1000.0);
        }
        s.insert(0.0);
        assert_eq!(s.count(), 101);
        assert_eq!(s.quantile(0.5), Some(0.050));
        assert_eq!(s.quantile(0.95), Some(0.095));
        assert_eq!(s.quantile(0.99), Some(0.099));
        assert_eq!(s.quantile(0.0), Some(0.0));
        assert_eq!(Sketch::default().quantile(0.5), None);
        let mut big = Sketch::default();
        big.insert(3600.0);
        let v = big.quantile(0.5).expect("value");
        assert!((v - 3600.0).abs() / 3600.0 <= SKETCH_ALPHA, "{v}");
    }

    #[test]
    fn split_times() {
        let want = 1_795_918_618.0;
        assert_eq!(parse_split("2026-11-29T02:16:58Z").ok(), Some(want));
        assert_eq!(parse_split("2026-11-29T03:16:58+01:00").ok(), Some(want));
        assert_eq!(parse_split("2026-11-29 02:16:58").ok(), Some(want));
        assert_eq!(parse_split("1795918618").ok(), Some(want));
        assert_eq!(parse_split("29/Nov/2026:02:16:58 +0000").ok(), Some(want));
        assert_eq!(parse_split("[29/Nov/2026:02:16:58 +0000").ok(), Some(want));
        assert_eq!(parse_split("29/Nov/2026:02:16:58 +0000]").ok(), Some(want));
        assert_eq!(parse_split("29/Nov/2026:02:16:58").ok(), Some(want));
        assert_eq!(parse_split("[29/Nov/2026:03:16:58 +0100]").ok(), Some(want));
        assert_eq!(parse_split("2026-11-29T02:16:58+00:00").ok(), Some(want));
        assert_eq!(parse_split("1795918618.5").ok(), Some(want + 0.5));
        assert_eq!(parse_split("2026-11-29T02:16:58.5Z").ok(), Some(want + 0.5));
        assert_eq!(parse_split("2026-11-29T02:16:58").ok(), Some(want));
        assert_eq!(parse_split("2026-11-29T04:46:58+02:30").ok(), Some(want));
        assert_eq!(parse_split("29/Nov/2026:02:16:58 -0000").ok(), Some(want));
        assert_eq!(parse_split(" 2026-11-29T02:16:58Z\n").ok(), Some(want));
        // ISO 8601 lets the seconds go.
        assert_eq!(parse_split("2026-11-29T02:16Z").ok(), Some(want - 58.0));
        for bad in [
            "yesterday",
            "",
            ".",
            "1.2.3",
            &"9".repeat(400),
            "99999999999999999999",
            "253402300800",
            "32/Nov/2026:02:16:58 +0000",
            "29/Nov/2026:02:16:58 +9999",
            "-5",
            "1e400",
            "2026-11-29T02:16:58+99:00",
            "2026-02-30T00:00:00Z",
            "2026-02-30 00:00:00",
            "2026-11-29 24:00:00",
            "2026-11-29",
            "29/Nov/2026:25:16:58 +0000",
            "29/Foo/2026:02:16:58 +0000",
            "29/Nov/2026:02:16:58 +0000 trailing",
            "29/Nov/2026 02:16:58 +0000",
            "1969-12-31T23:59:59Z",
            "10000-01-01T00:00:00Z",
        ] {
            let e = parse_split(bad).expect_err(bad).to_string();
            assert!(e.contains("$time_local"), "{e}");
        }
    }

    #[test]
    fn timeline_coarsens_on_exact_multiples() {
        let mut t = Timeline::default();
        for s in 0..7200 {
            t.add(
                1_795_910_400.0 + s as f64,
                if s % 2 == 0 { 101 } else { 403 },
            );
        }
        assert!(t.buckets.len() <= MAX_BUCKETS);
        t.coarsen_to(1500);
        assert_eq!(t.width, 60);
        let total: u64 = t.buckets.values().map(|v| v[0] + v[1]).sum();
        assert_eq!(total, 7200);
        assert_eq!(t.buckets.len(), 120);
    }
}
