//! The report as data: what `--report-format json` prints (documented field by field in
//! `docs/compare-json-schema.md`) and every renderer reads.

use serde::Serialize;

/// Identifies the JSON document.
pub const SCHEMA: &str = "nginxlog-sidecar/compare";
/// Bumped only for incompatible changes (a field removed or changing meaning).
pub const SCHEMA_VERSION: u32 = 1;

/// The whole comparison (the JSON document).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub schema: &'static str,
    pub schema_version: u32,
    pub generated_by: String,
    /// `split` (one set of logs cut at a time) or `files` (`--before` / `--after`).
    pub mode: &'static str,
    /// RFC 3339 split time (`split` mode), else null.
    pub split: Option<String>,
    pub split_unix: Option<f64>,
    /// Log time compared on each side of the split (`split` mode), else null.
    pub window_seconds: Option<f64>,
    pub before: PhaseSummary,
    pub after: PhaseSummary,
    /// Lines outside the window (or without a time) that were not compared.
    pub lines_outside_window: u64,
    /// Paths with at least one WebSocket upgrade attempt, most attempts first.
    pub paths: Vec<PathReport>,
    /// One line per path in `paths`.
    pub verdicts: Vec<String>,
    /// Error-log events by signature, most frequent first.
    pub errors: Vec<ErrorRow>,
    pub timeline: TimelineReport,
    pub inputs: Vec<InputRow>,
}

/// Totals of one phase.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PhaseSummary {
    /// Start of the phase's window (`split` mode), else null.
    pub from: Option<String>,
    /// End of the phase's window, exclusive (`split` mode), else null.
    pub to: Option<String>,
    pub first_line_time: Option<String>,
    pub last_line_time: Option<String>,
    pub access_lines: u64,
    pub error_lines: u64,
    pub malformed_lines: u64,
    pub requests: u64,
    pub upgrade_attempts: u64,
}

/// One path, before and after.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PathReport {
    pub path: String,
    pub before: PathPhase,
    pub after: PathPhase,
    pub verdict: String,
}

/// One path in one phase.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PathPhase {
    /// Access lines with this path label (upgrades or not).
    pub requests: u64,
    pub upgrade_attempts: u64,
    pub switched_101: u64,
    /// `switched_101 / upgrade_attempts` (0..1), null without attempts.
    pub share_101: Option<f64>,
    pub forbidden_403: u64,
    pub share_403: Option<f64>,
    /// Upgrade attempts with any other final status, by status.
    pub other_failures: Vec<StatusCount>,
    /// Who answered the attempts that did not get a 101.
    pub failures_answered_by: AnsweredBy,
    /// Why the failed attempts failed: `none`, `upgrade_not_forwarded`, `app_refused`,
    /// `nginx_refused`, `upstream_unavailable` or `unknown` (see [`cause`]).
    pub cause: &'static str,
    pub handshake_seconds: Quantiles,
    pub session_seconds: SessionQuantiles,
}

/// A status and how often it was the final answer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StatusCount {
    pub status: u16,
    pub count: u64,
    pub share: f64,
}

/// Counts by the `answered_by` label.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AnsweredBy {
    pub upstream: u64,
    pub nginx: u64,
    pub unknown: u64,
}

/// Handshake quantiles (seconds, rounded to ms), null without values.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Quantiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// Session length median (seconds), null without 101 lines.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SessionQuantiles {
    pub count: u64,
    pub p50: Option<f64>,
}

/// An error signature before and after.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ErrorRow {
    pub signature: String,
    pub before: u64,
    pub after: u64,
}

/// Upgrade outcomes over time (all paths in `paths` together).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelineReport {
    pub bucket_seconds: i64,
    /// Where the split is drawn: the split time, or the first "after" line (`files` mode).
    pub marker_unix: Option<f64>,
    /// Every bucket from the first to the last attempt (empty ones included).
    pub points: Vec<TimelinePoint>,
}

/// One bucket of the timeline.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelinePoint {
    /// Bucket start, Unix seconds.
    pub t: i64,
    pub switched_101: u64,
    pub forbidden_403: u64,
    pub other: u64,
}

/// A file that was read.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InputRow {
    pub path: String,
    /// `access` or `error`.
    pub log: &'static str,
    /// `by_time`, `before` or `after`.
    pub phase: &'static str,
    pub gzip: bool,
    pub lines: u64,
    pub malformed: u64,
}
