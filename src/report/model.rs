//! The report as data: what `--report-format json` prints (documented field by field in
//! `docs/compare-json-schema.md`) and every renderer reads.

use serde::Serialize;

/// Identifies the JSON document.
pub(crate) const SCHEMA: &str = "nginxlog-sidecar/compare";
/// Bumped only for incompatible changes (a field removed or changing meaning).
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// The whole comparison (the JSON document).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Report {
    pub(crate) schema: &'static str,
    pub(crate) schema_version: u32,
    pub(crate) generated_by: String,
    /// `split` (one set of logs cut at a time) or `files` (`--before` / `--after`).
    pub(crate) mode: &'static str,
    /// RFC 3339 split time (`split` mode), else null.
    pub(crate) split: Option<String>,
    pub(crate) split_unix: Option<f64>,
    /// Log time compared on each side of the split (`split` mode), else null.
    pub(crate) window_seconds: Option<f64>,
    pub(crate) before: PhaseSummary,
    pub(crate) after: PhaseSummary,
    /// Lines outside the window (or without a time) that were not compared.
    pub(crate) lines_outside_window: u64,
    /// Paths with at least one WebSocket upgrade attempt, most attempts first.
    pub(crate) paths: Vec<PathReport>,
    /// One line per path in `paths`.
    pub(crate) verdicts: Vec<String>,
    /// Error-log events by signature, most frequent first.
    pub(crate) errors: Vec<ErrorRow>,
    pub(crate) timeline: TimelineReport,
    pub(crate) inputs: Vec<InputRow>,
}

/// Totals of one phase.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct PhaseSummary {
    /// Start of the phase's window (`split` mode), else null.
    pub(crate) from: Option<String>,
    /// End of the phase's window, exclusive (`split` mode), else null.
    pub(crate) to: Option<String>,
    pub(crate) first_line_time: Option<String>,
    pub(crate) last_line_time: Option<String>,
    pub(crate) access_lines: u64,
    pub(crate) error_lines: u64,
    pub(crate) malformed_lines: u64,
    pub(crate) requests: u64,
    pub(crate) upgrade_attempts: u64,
}

/// One path, before and after.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct PathReport {
    pub(crate) path: String,
    pub(crate) before: PathPhase,
    pub(crate) after: PathPhase,
    pub(crate) verdict: String,
}

/// One path in one phase.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct PathPhase {
    /// Access lines with this path label (upgrades or not).
    pub(crate) requests: u64,
    pub(crate) upgrade_attempts: u64,
    pub(crate) switched_101: u64,
    /// `switched_101 / upgrade_attempts` (0..1), null without attempts.
    pub(crate) share_101: Option<f64>,
    pub(crate) forbidden_403: u64,
    pub(crate) share_403: Option<f64>,
    /// Upgrade attempts with any other final status, by status.
    pub(crate) other_failures: Vec<StatusCount>,
    /// Who answered the attempts that did not get a 101.
    pub(crate) failures_answered_by: AnsweredBy,
    /// Why the failed attempts failed: `none`, `upgrade_not_forwarded`, `app_refused`,
    /// `nginx_refused`, `upstream_unavailable` or `unknown` (see [`cause`]).
    pub(crate) cause: &'static str,
    pub(crate) handshake_seconds: Quantiles,
    pub(crate) session_seconds: SessionQuantiles,
}

/// A status and how often it was the final answer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct StatusCount {
    pub(crate) status: u16,
    pub(crate) count: u64,
    pub(crate) share: f64,
}

/// Counts by the `answered_by` label.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub(crate) struct AnsweredBy {
    pub(crate) upstream: u64,
    pub(crate) nginx: u64,
    pub(crate) unknown: u64,
}

/// Handshake quantiles (seconds, rounded to ms), null without values.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Quantiles {
    pub(crate) count: u64,
    pub(crate) p50: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) p99: Option<f64>,
}

/// Session length median (seconds), null without 101 lines.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct SessionQuantiles {
    pub(crate) count: u64,
    pub(crate) p50: Option<f64>,
}

/// An error signature before and after.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct ErrorRow {
    pub(crate) signature: String,
    pub(crate) before: u64,
    pub(crate) after: u64,
}

/// Upgrade outcomes over time (all paths in `paths` together).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct TimelineReport {
    pub(crate) bucket_seconds: i64,
    /// Where the split is drawn: the split time, or the first "after" line (`files` mode).
    pub(crate) marker_unix: Option<f64>,
    /// Every bucket from the first to the last attempt (empty ones included).
    pub(crate) points: Vec<TimelinePoint>,
}

/// One bucket of the timeline.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct TimelinePoint {
    /// Bucket start, Unix seconds.
    pub(crate) t: i64,
    pub(crate) switched_101: u64,
    pub(crate) forbidden_403: u64,
    pub(crate) other: u64,
}

/// A file that was read.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct InputRow {
    pub(crate) path: String,
    /// `access` or `error`.
    pub(crate) log: &'static str,
    /// `by_time`, `before` or `after`.
    pub(crate) phase: &'static str,
    pub(crate) gzip: bool,
    pub(crate) lines: u64,
    pub(crate) malformed: u64,
}
