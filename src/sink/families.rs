//! The metric contract as one table: every family's name, type, help text and label names.
//!
//! The live exposition (`metrics.rs`) and the OpenMetrics backfill (`backfill.rs`) both take
//! their `# HELP` / `# TYPE` lines from here, so the two cannot drift apart; the names and
//! labels are documented in docs/architecture.md and pinned by `tests/golden_exposition.rs`.

/// A family's metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug)]
pub(crate) struct Family {
    /// Name without the namespace and, for counters, without `_total` (the OpenMetrics family).
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
    /// Label names in the order samples carry them (histograms add `le`).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the declaration the unit tests hold each family's exposition to"
        )
    )]
    pub(crate) labels: &'static [&'static str],
}

impl Family {
    /// The name in the Prometheus text format's `# HELP`/`# TYPE` lines (counters end in `_total`).
    pub(crate) fn text_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            _ => self.name.to_string(),
        }
    }
}

pub(crate) const HTTP_REQUESTS: Family = Family {
    name: "http_requests",
    kind: Kind::Counter,
    help: "Access-log lines by path label, method and status.",
    labels: &["path", "method", "status"],
};

pub(crate) const HTTP_REQUEST_DURATION: Family = Family {
    name: "http_request_duration_seconds",
    kind: Kind::Histogram,
    help: "$request_time of non-upgrade requests.",
    labels: &["path"],
};

pub(crate) const HTTP_RESPONSE_BYTES: Family = Family {
    name: "http_response_bytes",
    kind: Kind::Counter,
    help: "$body_bytes_sent by path label.",
    labels: &["path"],
};

pub(crate) const WS_UPGRADE_REQUESTS: Family = Family {
    name: "ws_upgrade_requests",
    kind: Kind::Counter,
    help: "WebSocket upgrade attempts by final status and who answered (upstream app, nginx itself, or unknown).",
    labels: &["path", "status", "answered_by"],
};

pub(crate) const WS_HANDSHAKE_DURATION: Family = Family {
    name: "ws_handshake_duration_seconds",
    kind: Kind::Histogram,
    help: "$upstream_header_time of upgrade attempts: time until the backend's 101.",
    labels: &["path"],
};

pub(crate) const WS_SESSION_DURATION: Family = Family {
    name: "ws_session_duration_seconds",
    kind: Kind::Histogram,
    help: "$request_time of 101 lines: how long WebSocket sessions lasted.",
    labels: &["path"],
};

pub(crate) const ERROR_EVENTS: Family = Family {
    name: "error_events",
    kind: Kind::Counter,
    help: "Error-log events by level, signature and path label.",
    labels: &["level", "signature", "path"],
};

pub(crate) const LINES_READ: Family = Family {
    name: "lines_read",
    kind: Kind::Counter,
    help: "Lines read per log (parsed or not).",
    labels: &["log"],
};

pub(crate) const LINES_MALFORMED: Family = Family {
    name: "lines_malformed",
    kind: Kind::Counter,
    help: "Lines that did not parse, per log (also counted as read).",
    labels: &["log"],
};

pub(crate) const LOG_ROTATIONS: Family = Family {
    name: "log_rotations",
    kind: Kind::Counter,
    help: "Rotations (rename, truncation, delete and recreate) followed per log.",
    labels: &["log"],
};

pub(crate) const LINES_LOST: Family = Family {
    name: "lines_lost",
    kind: Kind::Counter,
    help: "Lines known lost, per log and reason (rotated_file_gone: a checkpointed rotated file was deleted before the lines in it that no scrape had seen could be read again).",
    labels: &["log", "reason"],
};

pub(crate) const OPEN_FILES: Family = Family {
    name: "open_files",
    kind: Kind::Gauge,
    help: "Log files held open by the tailers; deleted=\"true\": unlinked files still held, whose disk space is not free yet.",
    labels: &["deleted"],
};

pub(crate) const LOG_LAST_EVENT: Family = Family {
    name: "log_last_event_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Time written in the newest line of each log (Unix seconds).",
    labels: &["log"],
};

pub(crate) const PATH_OVERFLOW: Family = Family {
    name: "path_overflow",
    kind: Kind::Counter,
    help: "Lines whose path fell into __other__ because --max-paths was reached.",
    labels: &[],
};

pub(crate) const SERIES_DROPPED: Family = Family {
    name: "series_dropped",
    kind: Kind::Counter,
    help: "Lines not counted under a new label set because --max-series was reached.",
    labels: &[],
};

pub(crate) const SYSLOG_DROPPED: Family = Family {
    name: "syslog_dropped",
    kind: Kind::Counter,
    help: "Datagrams the kernel dropped on a syslog source's socket, for every cause it counts there (mostly a full receive buffer; also memory pressure and bad checksums).",
    labels: &["log"],
};

pub(crate) const BUILD_INFO: Family = Family {
    name: "build_info",
    kind: Kind::Gauge,
    help: "Constant 1, labelled with the sidecar's version and the git revision it was built from.",
    labels: &["version", "revision"],
};

/// Every family, in exposition order.
#[cfg(test)]
pub(crate) const ALL: &[&Family] = &[
    &HTTP_REQUESTS,
    &HTTP_REQUEST_DURATION,
    &HTTP_RESPONSE_BYTES,
    &WS_UPGRADE_REQUESTS,
    &WS_HANDSHAKE_DURATION,
    &WS_SESSION_DURATION,
    &ERROR_EVENTS,
    &LINES_READ,
    &LINES_MALFORMED,
    &LOG_ROTATIONS,
    &LINES_LOST,
    &OPEN_FILES,
    &LOG_LAST_EVENT,
    &PATH_OVERFLOW,
    &SERIES_DROPPED,
    &SYSLOG_DROPPED,
    &BUILD_INFO,
];

pub(crate) const CONFIG_FINDINGS: Family = Family {
    name: "config_findings",
    kind: Kind::Gauge,
    help: "Findings of the nginx config checks (--nginx-config): 1 per finding, gone when fixed.",
    labels: &["id", "severity", "server", "location"],
};

pub(crate) const CONFIG_FINDING_INFO: Family = Family {
    name: "config_finding_info",
    kind: Kind::Gauge,
    help: "Where each config finding is and the lines that fix it (for alert annotations); 1.",
    labels: &[
        "id", "severity", "server", "location", "file", "line", "fix",
    ],
};

pub(crate) const CONFIG_LAST_READ: Family = Family {
    name: "config_last_read_timestamp_seconds",
    kind: Kind::Gauge,
    help: "When the nginx config was last read and parsed (Unix seconds).",
    labels: &[],
};

pub(crate) const CONFIG_READ_ERRORS: Family = Family {
    name: "config_read_errors",
    kind: Kind::Counter,
    help: "Re-reads of the nginx config that failed to parse (the last good config stays in use).",
    labels: &[],
};

/// The families of `--nginx-config`, after [`ALL`] (only a sidecar with a config serves them).
#[cfg(test)]
pub(crate) const CONFIG: &[&Family] = &[
    &CONFIG_FINDINGS,
    &CONFIG_FINDING_INFO,
    &CONFIG_LAST_READ,
    &CONFIG_READ_ERRORS,
];
pub(crate) const WEB_CONNECTIONS: Family = Family {
    name: "web_connections",
    kind: Kind::Gauge,
    help: "Connections the metrics server holds, the scrape's own included (at most --web.max-connections over every listen address).",
    labels: &[],
};

pub(crate) const WEB_CONNECTIONS_EVICTED: Family = Family {
    name: "web_connections_evicted",
    kind: Kind::Counter,
    help: "Idle connections closed to admit a new one at --web.max-connections (never served first, then the oldest idle), by whether they had been served.",
    labels: &["served"],
};

pub(crate) const WEB_CONNECTIONS_REFUSED: Family = Family {
    name: "web_connections_refused",
    kind: Kind::Counter,
    help: "Connections closed at accept because every --web.max-connections slot was serving a request.",
    labels: &[],
};

/// The metrics server's own families, rendered per scrape by `run`'s server (not by
/// `run --once` or backfill, which serve no connections); its render is checked against them.
#[cfg(test)]
pub(crate) const SERVER: &[&Family] = &[
    &WEB_CONNECTIONS,
    &WEB_CONNECTIONS_EVICTED,
    &WEB_CONNECTIONS_REFUSED,
];

/// Families whose samples exist only with a kind of source (a syslog socket), so a file-only
/// exposition carries just their `# HELP`/`# TYPE` lines.
#[cfg(test)]
pub(crate) const SOURCE_DEPENDENT: &[&Family] = &[&SYSLOG_DROPPED];

/// Asserts that a text exposition under the `nginxlog` namespace carries every family of
/// `families`: its `# TYPE`, at least one sample, and on every sample the table's label names in
/// order. For the families rendered outside the registry (config, server).
#[cfg(test)]
pub(crate) fn assert_follows_table(families: &[&Family], out: &str) {
    for f in families {
        let name = format!("nginxlog_{}", f.text_name());
        assert!(
            out.contains(&format!("# TYPE {name} {}\n", f.kind.as_str())),
            "{name}: no # TYPE in\n{out}"
        );
        let samples: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect();
        assert!(!samples.is_empty(), "no sample of {name}:\n{out}");
        for sample in samples {
            let labels: Vec<&str> = sample
                .split_once('{')
                .map(|(_, rest)| {
                    rest.split("\",")
                        .filter_map(|kv| kv.split_once("=\"").map(|(k, _)| k))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(labels, f.labels, "{sample}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table matches the golden exposition: every family's TYPE, and every sample's label
    /// names in order (`le` aside), so the labels column is not documentation that can rot.
    #[test]
    fn table_matches_the_golden_exposition() {
        let golden = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/run_once_ws_timing.prom"
        ))
        .expect("golden file");
        for f in ALL {
            let name = format!("nginxlog_{}", f.text_name());
            let ty = format!("# TYPE {name} {}", f.kind.as_str());
            assert!(golden.lines().any(|l| l == ty), "{ty} missing");
            let samples: Vec<&str> = golden
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter(|l| {
                    let series = l.split([' ', '{']).next().unwrap_or("");
                    series == name
                        || (f.kind == Kind::Histogram
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|s| series == format!("{name}{s}")))
                })
                .collect();
            if samples.is_empty() && SOURCE_DEPENDENT.iter().any(|d| d.name == f.name) {
                continue;
            }
            assert!(!samples.is_empty(), "{name}: no samples in the golden file");
            for s in samples {
                let labels: Vec<&str> = match s.split_once('{') {
                    Some((_, rest)) => rest
                        .split("=\"")
                        .filter_map(|p| p.rsplit([',', '{']).next())
                        .filter(|n| !n.is_empty() && !n.contains('}'))
                        .filter(|n| *n != "le")
                        .collect(),
                    None => Vec::new(),
                };
                assert_eq!(labels, f.labels, "{name}: labels of {s}");
            }
        }
    }
}
