//! The `compare` report: one [`Report`] value, four renderings.
//!
//! - `table`: aligned plain text for a terminal;
//! - `markdown`: pastes into an incident review;
//! - `json`: the [`Report`] itself, a stable schema documented in `docs/compare-json-schema.md`
//!   (`schema_version` changes only when a field changes meaning or goes away);
//! - `html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched) with the
//!   upgrade outcomes over time, the split marked, and handshake quantiles before/after.
//!
//! Every field of the report types is described in `docs/compare-json-schema.md`, the contract
//! for scripts reading the JSON.
//!
//! Paths and signatures come from logs, i.e. from clients: everything is escaped for the format
//! it goes into, and query strings never get here (path labels are cut at `?`).

use crate::classify::signature;
use crate::parse::values::rfc3339;
use crate::sink::compare::{Compare, PathStats, PhaseStats, Split};
use crate::source::history::{History, Phase};
use serde::Serialize;
use std::fmt::Write;

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

fn share(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The cause of a phase's failed upgrade attempts, from who answered them and with what; with
/// several kinds of failure, the kind with most attempts (ties in the order below):
/// - `upgrade_not_forwarded`: the upstream refused and no attempt switched, i.e. the backend
///   never saw an upgrade (the headers are not forwarded);
/// - `app_refused`: the upstream refused some beside 101s (tokens, origin checks);
/// - `nginx_refused`: nginx answered with a 4xx itself (`deny`, `limit_req`, auth);
/// - `upstream_unavailable`: a 5xx, from nginx (502 refused, 504 timeout) or the backend;
/// - `unknown`: the format does not log `$upstream_header_time`, so who answered is unknown;
/// - `none`: no failed attempt.
pub fn cause(statuses: &std::collections::BTreeMap<u16, [u64; 3]>) -> &'static str {
    let switched = statuses.get(&101).map_or(0, |v| v.iter().sum::<u64>());
    // [upstream refusals (non-5xx), nginx 4xx (and other non-5xx), 5xx (nginx's or the
    // upstream's: a backend failing is not a missing header), unknown]
    let mut n = [0u64; 4];
    for (&st, v) in statuses {
        if st == 101 {
            continue;
        }
        if st >= 500 {
            n[2] += v[0] + v[1];
        } else {
            n[0] += v[0];
            n[1] += v[1];
        }
        n[3] += v[2];
    }
    let upstream = if switched == 0 {
        "upgrade_not_forwarded"
    } else {
        "app_refused"
    };
    let names = [upstream, "nginx_refused", "upstream_unavailable", "unknown"];
    let mut best = None;
    for (i, &c) in n.iter().enumerate() {
        if c > 0 && best.is_none_or(|b: usize| c > n[b]) {
            best = Some(i);
        }
    }
    best.map_or("none", |i| names[i])
}

/// A cause in words, for the table, markdown and HTML reports.
pub fn cause_words(cause: &str) -> &'static str {
    match cause {
        "none" => "no failed attempts",
        "upgrade_not_forwarded" => {
            "the backend answered every upgrade attempt without switching: it never saw an upgrade (nginx does not pass the Upgrade and Connection headers on)"
        }
        "app_refused" => {
            "the application refused some upgrades while others switched (tokens, origin checks)"
        }
        "nginx_refused" => "nginx refused them itself with a 4xx (deny, limit_req, auth)",
        "upstream_unavailable" => {
            "a 5xx: nginx could not reach the backend in time (502, 504) or the backend failed (5xx)"
        }
        _ => "the log format does not log $upstream_header_time, so who answered is not known",
    }
}

fn path_phase(s: Option<&PathStats>) -> PathPhase {
    let empty = PathStats::default();
    let s = s.unwrap_or(&empty);
    let total = |st: u16| s.statuses.get(&st).map_or(0, |v| v.iter().sum::<u64>());
    let ok = total(101);
    let forbidden = total(403);
    let mut by = AnsweredBy::default();
    for (&st, v) in &s.statuses {
        if st != 101 {
            by.upstream += v[0];
            by.nginx += v[1];
            by.unknown += v[2];
        }
    }
    PathPhase {
        requests: s.requests,
        upgrade_attempts: s.attempts,
        switched_101: ok,
        share_101: share(ok, s.attempts),
        forbidden_403: forbidden,
        share_403: share(forbidden, s.attempts),
        other_failures: s
            .statuses
            .iter()
            .filter(|(st, _)| !matches!(st, 101 | 403))
            .map(|(&status, v)| {
                let count = v.iter().sum();
                StatusCount {
                    status,
                    count,
                    share: share(count, s.attempts).unwrap_or(0.0),
                }
            })
            .collect(),
        failures_answered_by: by,
        cause: cause(&s.statuses),
        handshake_seconds: Quantiles {
            count: s.handshake.count(),
            p50: s.handshake.quantile(0.50),
            p95: s.handshake.quantile(0.95),
            p99: s.handshake.quantile(0.99),
        },
        session_seconds: SessionQuantiles {
            count: s.session.count(),
            p50: s.session.quantile(0.50),
        },
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

/// The one-line verdict of a path: `/ws/chat: 403 share 97.8% -> 0.3%, 101 share 1.9% -> 99.5%`,
/// the attempt counts, and what changed.
pub fn verdict(path: &str, b: &PathPhase, a: &PathPhase) -> String {
    if b.upgrade_attempts == 0 || a.upgrade_attempts == 0 {
        let (none, some, p) = if b.upgrade_attempts == 0 {
            ("before", "after", a)
        } else {
            ("after", "before", b)
        };
        return format!(
            "{path}: no upgrade attempts {none}; {some}: 403 share {}, 101 share {} ({} attempts)",
            pct(p.share_403),
            pct(p.share_101),
            p.upgrade_attempts
        );
    }
    let (b1, a1) = (b.share_101.unwrap_or(0.0), a.share_101.unwrap_or(0.0));
    let what = if b.switched_101 == 0 && a.switched_101 > 0 {
        "upgrades succeed now"
    } else if b.switched_101 > 0 && a.switched_101 == 0 {
        "upgrades fail now"
    } else if a1 - b1 >= 0.05 {
        "better"
    } else if b1 - a1 >= 0.05 {
        "worse"
    } else {
        "no change"
    };
    // Whatever the 101 share does, more of one failure (a 403 share 6% -> 50%) is a regression.
    // A fix that lets upgrades through shows the app's own refusals (bad tokens): when the 101
    // share rose by 5 points, a rising 403 share is not a regression.
    // 5xx rises stay regressions whatever the 101 share does.
    let improved = a1 - b1 >= 0.05 - 1e-9;
    let what = if what != "upgrades fail now" && failure_share_rose(b, a, improved) {
        "worse"
    } else {
        what
    };
    format!(
        "{path}: 403 share {} -> {}, 101 share {} -> {} ({} -> {} attempts: {what})",
        pct(b.share_403),
        pct(a.share_403),
        pct(b.share_101),
        pct(a.share_101),
        b.upgrade_attempts,
        a.upgrade_attempts
    )
}

/// Whether the share of any failure status rose by 5 points or more.
/// With `only_5xx` (the 101 share rose), 4xx rises are the app's own refusals and do not count.
fn failure_share_rose(b: &PathPhase, a: &PathPhase, only_5xx: bool) -> bool {
    let shares = |p: &PathPhase| {
        let mut v: Vec<(u16, f64)> = p
            .other_failures
            .iter()
            .map(|s| (s.status, s.share))
            .collect();
        v.push((403, p.share_403.unwrap_or(0.0)));
        v
    };
    let before = shares(b);
    shares(a)
        .into_iter()
        .filter(|(st, _)| !only_5xx || *st >= 500)
        .any(|(st, after)| {
            let was = before.iter().find(|x| x.0 == st).map_or(0.0, |x| x.1);
            // A hair below 0.05 so that 6% -> 11% counts despite binary fractions.
            after - was >= 0.05 - 1e-9
        })
}

fn phase_summary(p: &PhaseStats, window: Option<(f64, f64)>) -> PhaseSummary {
    PhaseSummary {
        from: window.map(|w| rfc3339(w.0)),
        to: window.map(|w| rfc3339(w.1)),
        first_line_time: p.first.map(rfc3339),
        last_line_time: p.last.map(rfc3339),
        access_lines: p.access_lines,
        error_lines: p.error_lines,
        malformed_lines: p.malformed,
        requests: p.requests,
        upgrade_attempts: p.paths.values().map(|s| s.attempts).sum(),
    }
}

/// Builds the report from the compare sink and the files read.
pub fn build(cmp: &Compare, hist: &History) -> Report {
    let [before, after] = &cmp.phases;
    let (mode, split_at, window) = match cmp.split {
        Split::Time { at, window } => ("split", Some(at), Some(window)),
        Split::Files => ("files", None, None),
    };
    let mut ids: Vec<u32> = before
        .paths
        .iter()
        .chain(after.paths.iter())
        .filter(|(_, s)| s.attempts > 0)
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut paths: Vec<PathReport> = ids
        .into_iter()
        .map(|id| {
            let name = hist.labels.name(id).to_string();
            let b = path_phase(before.paths.get(&id));
            let a = path_phase(after.paths.get(&id));
            PathReport {
                verdict: verdict(&name, &b, &a),
                path: name,
                before: b,
                after: a,
            }
        })
        .collect();
    paths.sort_by(|x, y| {
        let n = |p: &PathReport| p.before.upgrade_attempts + p.after.upgrade_attempts;
        n(y).cmp(&n(x)).then_with(|| x.path.cmp(&y.path))
    });
    let mut sigs: Vec<u16> = before
        .errors
        .keys()
        .chain(after.errors.keys())
        .copied()
        .collect();
    sigs.sort_unstable();
    sigs.dedup();
    let mut errors: Vec<ErrorRow> = sigs
        .into_iter()
        .map(|s| ErrorRow {
            signature: signature::name(s).to_string(),
            before: before.errors.get(&s).copied().unwrap_or(0),
            after: after.errors.get(&s).copied().unwrap_or(0),
        })
        .collect();
    errors.sort_by(|x, y| {
        (y.before + y.after)
            .cmp(&(x.before + x.after))
            .then_with(|| x.signature.cmp(&y.signature))
    });
    let mut tl = cmp.timeline.clone();
    tl.coarsen_to(1500);
    let mut points = Vec::new();
    if let (Some((&first, _)), Some((&last, _))) =
        (tl.buckets.first_key_value(), tl.buckets.last_key_value())
    {
        let mut t = first;
        while t <= last {
            let v = tl.buckets.get(&t).copied().unwrap_or([0; 3]);
            points.push(TimelinePoint {
                t,
                switched_101: v[0],
                forbidden_403: v[1],
                other: v[2],
            });
            t += tl.width;
        }
    }
    let inputs = hist
        .files
        .iter()
        .map(|f| InputRow {
            path: f.path.display().to_string(),
            log: f.meta.kind.as_str(),
            phase: match f.meta.phase {
                Phase::ByTime => "by_time",
                Phase::Before => "before",
                Phase::After => "after",
            },
            gzip: f.gzip,
            lines: f.lines,
            malformed: f.malformed,
        })
        .collect();
    Report {
        schema: SCHEMA,
        schema_version: SCHEMA_VERSION,
        generated_by: format!("nginxlog-sidecar {}", crate::VERSION),
        mode,
        split: split_at.map(rfc3339),
        split_unix: split_at,
        window_seconds: window,
        before: phase_summary(before, split_at.zip(window).map(|(s, w)| (s - w, s))),
        after: phase_summary(after, split_at.zip(window).map(|(s, w)| (s, s + w))),
        lines_outside_window: cmp.outside,
        verdicts: paths.iter().map(|p| p.verdict.clone()).collect(),
        paths,
        errors,
        timeline: TimelineReport {
            bucket_seconds: tl.width,
            marker_unix: split_at.or(after.first),
            points,
        },
        inputs,
    }
}

/// Renders `table`, `markdown`, `json` or `html`.
pub fn render(r: &Report, format: &str) -> anyhow::Result<String> {
    Ok(match format {
        "table" => table(r),
        "markdown" => markdown(r),
        "json" => {
            let mut s = serde_json::to_string_pretty(r)?;
            s.push('\n');
            s
        }
        "html" => html(r),
        other => anyhow::bail!("unknown report format {other:?} (table, markdown, json, html)"),
    })
}

/// Seconds for people: `0 ms`, `3 ms`, `1.25 s`, `42.1 s`, `2.5 h`.
pub fn human_secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 1.0 => format!("{} ms", (v * 1000.0).round()),
        Some(v) if v < 60.0 => format!("{} s", trim_float(v, 2)),
        Some(v) if v < 3600.0 => format!("{} min", trim_float(v / 60.0, 1)),
        Some(v) => format!("{} h", trim_float(v / 3600.0, 1)),
    }
}

fn trim_float(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A window for people: `24h`, `7d`, `90m`, `45s`.
pub fn human_window(secs: f64) -> String {
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

fn others(p: &PathPhase) -> String {
    if p.other_failures.is_empty() {
        return "-".into();
    }
    p.other_failures
        .iter()
        .map(|s| format!("{}x{}", s.count, s.status))
        .collect::<Vec<_>>()
        .join(" ")
}

fn phase_line(name: &str, p: &PhaseSummary) -> String {
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

const HEAD: [&str; 12] = [
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

fn row(path: &str, phase: &str, p: &PathPhase) -> [String; 12] {
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

fn rows(r: &Report) -> Vec<[String; 12]> {
    let mut out = Vec::new();
    for p in &r.paths {
        out.push(row(&p.path, "before", &p.before));
        out.push(row("", "after", &p.after));
    }
    out
}

fn header_text(r: &Report) -> String {
    match (&r.split, r.window_seconds) {
        (Some(s), Some(w)) => format!("split {s}, window {} each side", human_window(w)),
        _ => "before: --before files, after: --after files".into(),
    }
}

/// Columns padded to their widest cell; numbers right-aligned.
fn aligned(head: &[&str], body: &[Vec<String>], numeric: &[bool]) -> String {
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

fn table(r: &Report) -> String {
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
pub fn cause_lines(r: &Report) -> Vec<String> {
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
fn md(s: &str) -> String {
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

fn markdown(r: &Report) -> String {
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

/// Escapes text for HTML and SVG.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const GREEN: &str = "#1a7f37";
const RED: &str = "#cf222e";
const ORANGE: &str = "#bc4c00";
const GRAY: &str = "#8c959f";
const BLUE: &str = "#0969da";

fn clock(t: f64, long: bool) -> String {
    let s = rfc3339(t);
    let part = |r: std::ops::Range<usize>| s.get(r).unwrap_or("").to_string();
    if long {
        format!("{} {}", part(5..10), part(11..16))
    } else {
        part(11..19)
    }
}

fn nice_max(v: u64) -> u64 {
    let v = v.max(1);
    let mag = 10u64.pow((v as f64).log10().floor() as u32);
    for m in [1, 2, 5, 10] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10 * mag
}

fn bucket_name(w: i64) -> String {
    match w {
        1 => "second".into(),
        60 => "minute".into(),
        3600 => "hour".into(),
        86_400 => "day".into(),
        w if w % 3600 == 0 => format!("{} hours", w / 3600),
        w if w % 60 == 0 => format!("{} minutes", w / 60),
        w => format!("{w} seconds"),
    }
}

/// The timeline chart: 101, 403 and other outcomes per bucket, the split as a dashed line.
fn timeline_svg(r: &Report) -> String {
    let t = &r.timeline;
    let (w, h, l, rm, top, bot) = (1100.0, 340.0, 60.0, 50.0, 40.0, 50.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Upgrade outcomes per {}">"#,
        bucket_name(t.bucket_seconds)
    );
    if t.points.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{GRAY}">no upgrade attempts</text></svg>"#,
            w / 2.0,
            h / 2.0
        );
        return s;
    }
    let bw = t.bucket_seconds as f64;
    let mut x0 = t.points[0].t as f64;
    let mut x1 = t.points[t.points.len() - 1].t as f64 + bw;
    if let Some(m) = t.marker_unix {
        x0 = x0.min(m);
        x1 = x1.max(m);
    }
    let span = (x1 - x0).max(1.0);
    let ymax = nice_max(
        t.points
            .iter()
            .map(|p| p.switched_101.max(p.forbidden_403).max(p.other))
            .max()
            .unwrap_or(1),
    )
    .max(5) as f64;
    let px = |x: f64| l + (x - x0) / span * (w - l - rm);
    let py = |y: f64| top + (1.0 - y / ymax) * (h - top - bot);
    // Axes and grid.
    for k in 0..=5 {
        let y = ymax * k as f64 / 5.0;
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" font-size="12" fill="#57606a">{}</text>"##,
            w - rm,
            l - 6.0,
            py(y) + 4.0,
            trim_float(y, 1),
            py = py(y)
        );
    }
    let long = span > 86_400.0;
    for k in 0..=5 {
        let x = x0 + span * k as f64 / 5.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="12" fill="#57606a">{}</text>"##,
            px(x),
            h - bot + 18.0,
            clock(x, long)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#57606a">time (UTC), one point per {}</text>"##,
        (l + w - rm) / 2.0,
        h - 8.0,
        bucket_name(t.bucket_seconds)
    );
    type Series = (&'static str, &'static str, fn(&TimelinePoint) -> u64);
    let series: [Series; 3] = [
        (GREEN, "101 switched", |p| p.switched_101),
        (RED, "403 forbidden", |p| p.forbidden_403),
        (ORANGE, "other failures", |p| p.other),
    ];
    for (color, _, get) in series {
        let pts: Vec<String> = t
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.t as f64 + bw / 2.0), py(get(p) as f64)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        if t.points.len() <= 120 {
            for p in &t.points {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                    px(p.t as f64 + bw / 2.0),
                    py(get(p) as f64)
                );
            }
        }
    }
    if let Some(m) = t.marker_unix {
        let x = px(m);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#24292f" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{:.1}" y="{}" font-size="12" fill="#24292f">split {}</text>"##,
            h - bot,
            x + 4.0,
            top + 12.0,
            html_escape(&rfc3339(m))
        );
    }
    // Legend.
    let mut lx = l + 10.0;
    for (color, name, _) in series {
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}" font-size="12" fill="#24292f">{name}</text>"##,
            6.0,
            lx + 16.0,
            16.0
        );
        lx += 130.0;
    }
    s.push_str("</svg>");
    s
}

/// Handshake p50/p95/p99 per path, before (gray) and after (blue) bars.
fn handshake_svg(r: &Report) -> String {
    let paths: Vec<&PathReport> = r
        .paths
        .iter()
        .filter(|p| p.before.handshake_seconds.count + p.after.handshake_seconds.count > 0)
        .take(10)
        .collect();
    let w = 1100.0;
    let (label_w, right) = (260.0, 120.0);
    if paths.is_empty() {
        return format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} 40" width="{w}" height="40"><text x="10" y="25" fill="{GRAY}">no handshake times ($upstream_header_time is not in the log format, or no attempt reached a backend)</text></svg>"#
        );
    }
    let rows: Vec<(String, Option<f64>, Option<f64>)> = paths
        .iter()
        .flat_map(|p| {
            let (b, a) = (&p.before.handshake_seconds, &p.after.handshake_seconds);
            [
                ("p50", b.p50, a.p50),
                ("p95", b.p95, a.p95),
                ("p99", b.p99, a.p99),
            ]
            .into_iter()
            .map(move |(q, b, a)| (format!("{} {q}", p.path), b, a))
        })
        .collect();
    let max = rows
        .iter()
        .flat_map(|r| [r.1, r.2])
        .flatten()
        .fold(0.0f64, f64::max)
        .max(0.001);
    let row_h = 34.0;
    let h = 40.0 + rows.len() as f64 * row_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Handshake quantiles before and after">"#
    );
    let _ = write!(
        s,
        r##"<rect x="{label_w}" y="6" width="12" height="12" fill="{GRAY}"/><text x="{}" y="16" font-size="12" fill="#24292f">before</text><rect x="{}" y="6" width="12" height="12" fill="{BLUE}"/><text x="{}" y="16" font-size="12" fill="#24292f">after</text>"##,
        label_w + 16.0,
        label_w + 90.0,
        label_w + 106.0
    );
    let scale = |v: f64| v / max * (w - label_w - right);
    for (i, (name, b, a)) in rows.iter().enumerate() {
        let y = 30.0 + i as f64 * row_h;
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" font-size="12" fill="#24292f">{}</text>"##,
            label_w - 8.0,
            y + 17.0,
            html_escape(name)
        );
        for (k, (v, color)) in [(b, GRAY), (a, BLUE)].into_iter().enumerate() {
            let by = y + 3.0 + k as f64 * 14.0;
            match v {
                Some(v) => {
                    let bw = scale(*v).max(1.0);
                    let _ = write!(
                        s,
                        r##"<rect x="{label_w}" y="{by:.1}" width="{bw:.1}" height="12" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#24292f">{}</text>"##,
                        label_w + bw + 4.0,
                        by + 10.0,
                        human_secs(Some(*v))
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r##"<text x="{}" y="{:.1}" font-size="11" fill="{GRAY}">no data</text>"##,
                        label_w + 4.0,
                        by + 10.0
                    );
                }
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn html(r: &Report) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        out,
        "<title>WebSocket upgrades before/after: {}</title>",
        html_escape(&header_text(r))
    );
    out.push_str(
        "<style>body{font-family:-apple-system,BlinkMacSystemFont,\"Segoe UI\",Helvetica,Arial,sans-serif;\
         color:#24292f;margin:24px;max-width:1150px}h1{font-size:22px}h2{font-size:17px;margin-top:28px}\
         table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d0d7de;padding:4px 8px}\
         th{background:#f6f8fa;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
         .verdict{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:14px;padding:6px 10px;\
         border-left:4px solid #8c959f;background:#f6f8fa;margin:4px 0}.good{border-color:#1a7f37}\
         .bad{border-color:#cf222e}.meta{color:#57606a;font-size:13px}</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>WebSocket upgrades before/after</h1><p class=\"meta\">{} &middot; {}</p>",
        html_escape(&header_text(r)),
        html_escape(&r.generated_by)
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">{}<br>{}</p>",
        html_escape(&phase_line("before", &r.before)),
        html_escape(&phase_line("after", &r.after))
    );
    out.push_str("<h2>Verdict</h2>\n");
    for p in &r.paths {
        let class = if p.verdict.ends_with("succeed now)") || p.verdict.ends_with("better)") {
            "verdict good"
        } else if p.verdict.ends_with("fail now)") || p.verdict.ends_with("worse)") {
            "verdict bad"
        } else {
            "verdict"
        };
        let _ = writeln!(
            out,
            "<div class=\"{class}\">{}</div>",
            html_escape(&p.verdict)
        );
    }
    if r.paths.is_empty() {
        out.push_str("<p>No WebSocket upgrade attempts in either phase.</p>\n");
    }
    let causes = cause_lines(r);
    if !causes.is_empty() {
        out.push_str("<h2>Who answered the failed upgrades, and why</h2>\n<ul>\n");
        for c in causes {
            let _ = writeln!(out, "<li>{}</li>", html_escape(&c));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(
        out,
        "<h2>Upgrade outcomes per {}</h2>\n{}",
        bucket_name(r.timeline.bucket_seconds),
        timeline_svg(r)
    );
    let _ = writeln!(
        out,
        "<h2>Handshake time ($upstream_header_time) before/after</h2>\n{}",
        handshake_svg(r)
    );
    out.push_str("<h2>Upgrade attempts by path</h2>\n<table><tr>");
    for h in HEAD {
        let _ = write!(out, "<th>{}</th>", html_escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows(r) {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = if (2..7).contains(&i) || i >= 8 {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", html_escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n<h2>Error-log signatures</h2>\n");
    if r.errors.is_empty() {
        out.push_str("<p>No error-log events.</p>\n");
    } else {
        out.push_str("<table><tr><th>signature</th><th>before</th><th>after</th></tr>\n");
        for e in &r.errors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                html_escape(&e.signature),
                e.before,
                e.after
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Inputs</h2>\n<table><tr><th>file</th><th>log</th><th>phase</th><th>gzip</th><th>lines</th><th>malformed</th></tr>\n");
    for f in &r.inputs {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            html_escape(&f.path),
            f.log,
            f.phase,
            if f.gzip { "yes" } else { "no" },
            f.lines,
            f.malformed
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(attempts: u64, ok: u64, forbidden: u64) -> PathPhase {
        PathPhase {
            requests: attempts,
            upgrade_attempts: attempts,
            switched_101: ok,
            share_101: share(ok, attempts),
            forbidden_403: forbidden,
            share_403: share(forbidden, attempts),
            other_failures: Vec::new(),
            failures_answered_by: AnsweredBy::default(),
            cause: "none",
            handshake_seconds: Quantiles {
                count: 0,
                p50: None,
                p95: None,
                p99: None,
            },
            session_seconds: SessionQuantiles {
                count: 0,
                p50: None,
            },
        }
    }

    #[test]
    fn verdict_reads_like_the_issue() {
        assert_eq!(
            verdict("/ws/chat", &phase(1000, 19, 978), &phase(1000, 995, 3)),
            "/ws/chat: 403 share 97.8% -> 0.3%, 101 share 1.9% -> 99.5% (1000 -> 1000 attempts: better)"
        );
        assert!(
            verdict("/ws/x", &phase(5, 0, 5), &phase(5, 5, 0)).ends_with("upgrades succeed now)")
        );
        assert!(verdict("/ws/x", &phase(0, 0, 0), &phase(5, 5, 0))
            .contains("no upgrade attempts before"));
    }

    #[test]
    fn a_rising_failure_share_is_worse_whatever_the_101_share_does() {
        // 403 share 6% -> 50%, 101 share unchanged at 50% (the rest were 502s).
        let mut b = phase(100, 50, 6);
        b.other_failures.push(StatusCount {
            status: 502,
            count: 44,
            share: 0.44,
        });
        let a = phase(100, 50, 50);
        assert!(verdict("/ws/x", &b, &a).ends_with("attempts: worse)"));
        // 6% -> 11%: exactly 5 points.
        assert!(verdict("/ws/x", &phase(100, 94, 6), &phase(100, 89, 11)).ends_with("worse)"));
        // 6% -> 10%: below the threshold.
        assert!(verdict("/ws/x", &phase(100, 94, 6), &phase(100, 90, 10)).ends_with("no change)"));
        // A new failure status rising is worse too, and "fail now" stays "fail now".
        let mut a = phase(100, 90, 0);
        a.other_failures.push(StatusCount {
            status: 426,
            count: 10,
            share: 0.1,
        });
        assert!(verdict("/ws/x", &phase(100, 100, 0), &a).ends_with("worse)"));
        assert!(
            verdict("/ws/x", &phase(10, 10, 0), &phase(10, 0, 10)).ends_with("upgrades fail now)")
        );
    }

    #[test]
    fn causes_follow_who_answered() {
        use std::collections::BTreeMap;
        let m = |v: &[(u16, [u64; 3])]| v.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(cause(&m(&[])), "none");
        assert_eq!(cause(&m(&[(101, [5, 0, 0])])), "none");
        assert_eq!(cause(&m(&[(403, [27, 0, 0])])), "upgrade_not_forwarded");
        assert_eq!(
            cause(&m(&[(101, [18, 0, 0]), (403, [9, 0, 0])])),
            "app_refused"
        );
        assert_eq!(cause(&m(&[(403, [0, 3, 0])])), "nginx_refused");
        assert_eq!(
            cause(&m(&[(502, [0, 4, 0]), (403, [0, 1, 0])])),
            "upstream_unavailable"
        );
        assert_eq!(cause(&m(&[(403, [0, 0, 7])])), "unknown");
        // The most failures win.
        assert_eq!(cause(&m(&[(403, [2, 5, 0])])), "nginx_refused");
        // A backend answering 503 to everything is failing, not missing the upgrade headers.
        assert_eq!(cause(&m(&[(503, [6, 0, 0])])), "upstream_unavailable");
    }

    #[test]
    fn a_fix_that_lets_upgrades_through_is_not_worse_for_the_apps_own_refusals() {
        // Before: 10 refusals (upgrade not forwarded); after: 9 switched, 1 bad token.
        let v = verdict("/ws/chat", &phase(10, 0, 0), &phase(10, 9, 1));
        assert!(v.ends_with("upgrades succeed now)"), "{v}");
        let v = verdict("/ws/chat", &phase(100, 50, 0), &phase(100, 90, 10));
        assert!(v.ends_with("better)"), "{v}");
        // A 5xx rise stays a regression even when more upgrades switch.
        let mut a = phase(100, 56, 0);
        a.other_failures.push(StatusCount {
            status: 503,
            count: 44,
            share: 0.44,
        });
        let v = verdict("/ws/chat", &phase(100, 50, 0), &a);
        assert!(v.ends_with("worse)"), "{v}");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        assert_eq!(md("/a|b`c"), "/a\\|b\\`c");
        assert_eq!(human_secs(Some(0.003)), "3 ms");
        assert_eq!(human_secs(Some(42.118)), "42.12 s");
        assert_eq!(human_secs(Some(0.0)), "0 ms");
        assert_eq!(human_secs(None), "-");
    }
}
