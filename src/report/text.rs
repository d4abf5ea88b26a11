//! The terminal table and the markdown rendering, and the human forms of numbers both use.

use super::aggregate::{cause_words, pct};
use super::model::{PathPhase, PhaseSummary, Report};
use std::fmt::Write;

/// Seconds for people: `0 ms`, `3 ms`, `1.25 s`, `42.1 s`, `2.5 h`.
pub(crate) fn human_secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 1.0 => format!("{} ms", (v * 1000.0).round()),
        Some(v) if v < 60.0 => format!("{} s", trim_float(v, 2)),
        Some(v) if v < 3600.0 => format!("{} min", trim_float(v / 60.0, 1)),
        Some(v) => format!("{} h", trim_float(v / 3600.0, 1)),
    }
}

pub(super) fn trim_float(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A window for people: `24h`, `7d`, `90m`, `45s`.
pub(crate) fn human_window(secs: f64) -> String {
    let s = secs.round() as u64;
    if s.is_multiple_of(86_400) && s >= 7 * 86_400 {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub(super) fn others(p: &PathPhase) -> String {
    if p.other_failures.is_empty() {
        return "-".into();
    }
    p.other_failures
        .iter()
        .map(|s| format!("{}x{}", s.count, s.status))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn phase_line(name: &str, p: &PhaseSummary) -> String {
    let range = match (&p.from, &p.to) {
        (Some(f), Some(t)) => format!("{f} .. {t}"),
        _ => match (&p.first_line_time, &p.last_line_time) {
            (Some(f), Some(t)) => format!("{f} .. {t} (first .. last line)"),
            _ => "no lines".into(),
        },
    };
    format!(
        "{name}: {range}: {} access lines, {} error lines, {} malformed, {} upgrade attempts",
        p.access_lines, p.error_lines, p.malformed_lines, p.upgrade_attempts
    )
}

pub(super) const HEAD: [&str; 12] = [
    "path",
    "phase",
    "attempts",
    "101",
    "101 share",
    "403",
    "403 share",
    "other failures",
    "handshake p50",
    "p95",
    "p99",
    "session p50",
];

pub(super) fn row(path: &str, phase: &str, p: &PathPhase) -> [String; 12] {
    [
        path.to_string(),
        phase.to_string(),
        p.upgrade_attempts.to_string(),
        p.switched_101.to_string(),
        pct(p.share_101),
        p.forbidden_403.to_string(),
        pct(p.share_403),
        others(p),
        human_secs(p.handshake_seconds.p50),
        human_secs(p.handshake_seconds.p95),
        human_secs(p.handshake_seconds.p99),
        human_secs(p.session_seconds.p50),
    ]
}

pub(super) fn rows(r: &Report) -> Vec<[String; 12]> {
    let mut out = Vec::new();
    for p in &r.paths {
        out.push(row(&p.path, "before", &p.before));
        out.push(row("", "after", &p.after));
    }
    out
}

pub(super) fn header_text(r: &Report) -> String {
    match (&r.split, r.window_seconds) {
        (Some(s), Some(w)) => format!("split {s}, window {} each side", human_window(w)),
        _ => "before: --before files, after: --after files".into(),
    }
}

/// Columns padded to their widest cell; numbers right-aligned.
pub(super) fn aligned(head: &[&str], body: &[Vec<String>], numeric: &[bool]) -> String {
    let n = head.len();
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in body {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i].saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    line(
        w.iter()
            .map(|x| "-".repeat(*x))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
        &mut out,
    );
    for r in body {
        line(r.iter().map(|s| s.as_str()).collect(), &mut out);
    }
    out
}

pub(super) fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "nginxlog-sidecar compare ({})", header_text(r));
    let _ = writeln!(out, "{}", phase_line("before", &r.before));
    let _ = writeln!(out, "{}", phase_line("after ", &r.after));
    if r.lines_outside_window > 0 {
        let _ = writeln!(
            out,
            "{} lines outside the window were not compared",
            r.lines_outside_window
        );
    }
    out.push('\n');
    let _ = writeln!(out, "WebSocket upgrade attempts by path");
    if r.paths.is_empty() {
        out.push_str("(no upgrade attempts in either phase)\n");
    } else {
        let body: Vec<Vec<String>> = rows(r).into_iter().map(|x| x.to_vec()).collect();
        let numeric = [
            false, false, true, true, true, true, true, false, true, true, true, true,
        ];
        out.push_str(&aligned(&HEAD, &body, &numeric));
    }
    out.push('\n');
    let _ = writeln!(out, "Error-log signatures");
    if r.errors.is_empty() {
        out.push_str("(no error-log events)\n");
    } else {
        let body: Vec<Vec<String>> = r
            .errors
            .iter()
            .map(|e| {
                vec![
                    e.signature.clone(),
                    e.before.to_string(),
                    e.after.to_string(),
                ]
            })
            .collect();
        out.push_str(&aligned(
            &["signature", "before", "after"],
            &body,
            &[false, true, true],
        ));
    }
    out.push('\n');
    let _ = writeln!(out, "Verdict");
    for v in &r.verdicts {
        let _ = writeln!(out, "{v}");
    }
    if r.verdicts.is_empty() {
        out.push_str("(no WebSocket paths)\n");
    }
    let causes = cause_lines(r);
    if !causes.is_empty() {
        let _ = writeln!(out, "\nWho answered the failed upgrades, and why");
        for c in causes {
            let _ = writeln!(out, "{c}");
        }
    }
    out
}

/// One sentence per path and phase with failed attempts: who answered them and the cause in
/// words; `upgrade_not_forwarded` points at `doctor`, which names the directive to fix.
pub(crate) fn cause_lines(r: &Report) -> Vec<String> {
    let access: Vec<&str> = r
        .inputs
        .iter()
        .filter(|f| f.log == "access")
        .map(|f| f.path.as_str())
        .collect();
    // Shell-quoted, so the command can be pasted as it is.
    let quote = |p: &str| format!("'{}'", p.replace('\'', "'\\''"));
    let files = access
        .iter()
        .take(3)
        .map(|p| quote(p))
        .collect::<Vec<_>>()
        .join(" ");
    let more = match access.len() {
        n if n > 3 => format!(" (the first 3 of {n} access logs)"),
        _ => String::new(),
    };
    let mut out = Vec::new();
    for p in &r.paths {
        for (phase, x) in [("before", &p.before), ("after", &p.after)] {
            let failed = x.upgrade_attempts.saturating_sub(x.switched_101);
            if failed == 0 {
                continue;
            }
            let by = &x.failures_answered_by;
            let who: Vec<String> = [
                ("the upstream", by.upstream),
                ("nginx", by.nginx),
                ("unknown", by.unknown),
            ]
            .into_iter()
            .filter(|w| w.1 > 0)
            .map(|(w, n)| format!("{w} ({n})"))
            .collect();
            let mut line = format!(
                "{} {phase}: {failed} of {} attempts failed, answered by {}; cause {}: {}.",
                p.path,
                x.upgrade_attempts,
                who.join(", "),
                x.cause,
                cause_words(x.cause)
            );
            if x.cause == "upgrade_not_forwarded" {
                let _ = write!(
                    line,
                                                            " Find the directive{more}: nginxlog-sidecar doctor --config /etc/nginx/nginx.conf --access-log {files}"
                );
            }
            out.push(line);
        }
    }
    out
}

/// Escapes a markdown table cell (pipes, backticks, brackets, HTML).
pub(super) fn md(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '`' | '*' | '[' | ']' | '<' | '\\' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

pub(super) fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## WebSocket upgrades before/after ({})\n",
        md(&header_text(r))
    );
    let _ = writeln!(out, "- {}", md(&phase_line("before", &r.before)));
    let _ = writeln!(out, "- {}", md(&phase_line("after", &r.after)));
    out.push_str("\n### Verdict\n\n");
    for v in &r.verdicts {
        let _ = writeln!(out, "- {}", md(v));
    }
    if r.verdicts.is_empty() {
        out.push_str("- no WebSocket paths\n");
    }
    let causes = cause_lines(r);
    if !causes.is_empty() {
        out.push_str("\n### Who answered the failed upgrades, and why\n\n");
        for c in causes {
            let _ = writeln!(out, "- {}", md(&c));
        }
    }
    out.push_str("\n### Upgrade attempts by path\n\n");
    let _ = writeln!(out, "| {} |", HEAD.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        HEAD.iter()
            .enumerate()
            .map(|(i, _)| if i < 2 || i == 7 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for row in rows(r) {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\n### Error-log signatures\n\n");
    if r.errors.is_empty() {
        out.push_str("No error-log events.\n");
    } else {
        out.push_str("| signature | before | after |\n|---|---:|---:|\n");
        for e in &r.errors {
            let _ = writeln!(out, "| {} | {} | {} |", md(&e.signature), e.before, e.after);
        }
    }
    out
}
