//! What `doctor` found, as `--format json` prints it and the text renderer reads it (a leaf, so
//! the renderer does not depend on the checks' driver).

use super::checks::Finding;
use super::evidence::{self, Evidence};
use serde::Serialize;

/// The whole result, as `--format json` prints it (a contract like the metric names of docs/architecture.md; fields only added).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) config: String,
    pub(crate) nginx_version: Option<String>,
    /// Where the version came from (`--nginx-version`, `nginx -v`) or why it is assumed.
    pub(crate) nginx_version_source: String,
    pub(crate) findings: Vec<Finding>,
    pub(crate) locations: Vec<LocationReport>,
    /// The log files read, with their line counts.
    pub(crate) logs: Vec<evidence::FileSummary>,
}

/// A location and what the logs say about it.
#[derive(Debug, Serialize)]
pub(crate) struct LocationReport {
    pub(crate) server: String,
    pub(crate) location: String,
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) websocket: bool,
    pub(crate) evidence: EvidenceReport,
}

/// The counts of a location's upgrade attempts.
#[derive(Debug, Default, Serialize)]
pub(crate) struct EvidenceReport {
    pub(crate) upgrade_attempts: u64,
    pub(crate) switched: u64,
    pub(crate) by_status: std::collections::BTreeMap<String, u64>,
    pub(crate) answered_by: std::collections::BTreeMap<String, u64>,
    /// Paths (as the sidecar labels them) with their attempts.
    pub(crate) paths: std::collections::BTreeMap<String, u64>,
    pub(crate) upstream_idle_timeouts: u64,
}

impl From<&Evidence> for EvidenceReport {
    fn from(e: &Evidence) -> Self {
        EvidenceReport {
            upgrade_attempts: e.upgrade_attempts,
            switched: e.switched,
            by_status: e
                .by_status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            answered_by: e
                .answered_by
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            paths: e.paths.clone(),
            upstream_idle_timeouts: e.upstream_idle_timeouts,
        }
    }
}
