//! The text report: findings like a compiler's diagnostics (`file:line: error[id]: message`,
//! then the lines to add), then the WebSocket locations with their evidence.

use super::checks::Severity;
use super::report::Report;
use crate::nginx_conf::Config;
use std::io::{self, Write};

/// Writes the text report.
pub(crate) fn text(
    r: &Report,
    cfg: &Config,
    unattributed: u64,
    out: &mut dyn Write,
) -> io::Result<()> {
    for f in &r.findings {
        writeln!(
            out,
            "{}:{}: {}[{}]: {}",
            f.file,
            f.line,
            f.severity.as_str(),
            f.id,
            f.message
        )?;
        if !f.fix.is_empty() {
            let mut lines = f.fix.lines();
            if let Some(first) = lines.next() {
                writeln!(out, "  fix: {first}")?;
            }
            for l in lines {
                writeln!(out, "       {l}")?;
            }
        }
        writeln!(out)?;
    }
    let ws: Vec<_> = r.locations.iter().filter(|l| l.websocket).collect();
    if ws.is_empty() {
        writeln!(
            out,
            "no WebSocket location found (none under --ws-path-prefix, none sets Upgrade{})",
            if r.logs.is_empty() {
                "; give --access-log to find them from upgrade attempts"
            } else {
                ", no upgrade attempt in the logs"
            }
        )?;
    } else {
        writeln!(out, "WebSocket locations:")?;
        for l in &ws {
            let name = if l.location.is_empty() {
                "(no location)".to_string()
            } else {
                format!("location {}", l.location)
            };
            write!(out, "  {} {name} ({}:{})", l.server, l.file, l.line)?;
            let e = &l.evidence;
            if r.logs.is_empty() {
                writeln!(out)?;
                continue;
            }
            let statuses = e
                .by_status
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let by = e
                .answered_by
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                out,
                ": {} upgrade attempts, {} switched{}{}",
                e.upgrade_attempts,
                e.switched,
                if statuses.is_empty() {
                    String::new()
                } else {
                    format!(" [{statuses}]")
                },
                if by.is_empty() {
                    String::new()
                } else {
                    format!(" answered by {by}")
                }
            )?;
        }
    }
    for f in &r.logs {
        writeln!(
            out,
            "log {}: {} lines, {} malformed ({})",
            f.path, f.lines, f.malformed, f.format
        )?;
    }
    if unattributed > 0 {
        writeln!(
            out,
            "{unattributed} upgrade attempts matched no server of the config"
        )?;
    }
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "doctor: {}, {}, {}; {} read{}; nginx {}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Info), "note"),
        plural(cfg.files.len(), "file"),
        if cfg.from_dump { " from nginx -T" } else { "" },
        match &r.nginx_version {
            Some(v) => format!("{v} ({})", r.nginx_version_source),
            None => r.nginx_version_source.clone(),
        }
    )
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
