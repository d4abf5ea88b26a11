//! The status page (`/`) and its JSON twin (`/status.json`): what an operator reads first.
//!
//! Per WebSocket path: the last 5 and 60 minutes of upgrade attempts (from the per-minute rings
//! the registry keeps), who answered, the cause in `compare`'s words, the location nginx serves
//! it from and the config findings there with their fix; then the sources. Everything is built
//! from state that exists anyway; nothing here runs per log line. Paths are the sidecar's
//! labels (query strings never kept), so no query string or token reaches the page.

use crate::app::nginx_config::{LiveConfig, Unusable};
use crate::app::Shared;
use crate::doctor::checks::{Finding, Severity};
use crate::pipeline::LogKind;
use crate::report::{cause, cause_words};
use crate::sink::minutes::{now_minute, Window};
use crate::source::state::LogCheckpoint;
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Seconds between the page's refreshes.
pub(crate) const REFRESH_SECONDS: u32 = 10;
/// Failure statuses shown per path.
const TOP_STATUSES: usize = 3;

/// One source as `run` opened it.
#[derive(Clone, Debug)]
pub(crate) struct SourceInfo {
    /// The format given or derived (`None`: `--format auto`, see the classifier).
    pub(crate) format: Option<String>,
    /// The tailed file and its read position (`None` for stdin and syslog).
    pub(crate) file: Option<(PathBuf, Arc<Mutex<LogCheckpoint>>)>,
}

/// What the page needs beyond the pipeline.
#[derive(Debug, Default)]
pub(crate) struct StatusContext {
    pub(crate) live: Option<Arc<LiveConfig>>,
    /// Indexed by log id.
    pub(crate) sources: Vec<SourceInfo>,
    /// Config log targets that could not be tailed, as reported at startup.
    pub(crate) unusable: Vec<Unusable>,
}

/// The page's content (`/status.json`).
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub(crate) version: String,
    /// Unix seconds.
    pub(crate) generated_at: u64,
    /// One line: is anything broken, where, and why.
    pub(crate) verdict: String,
    /// `ok`, `failing` (upgrades fail now) or `config_broken` (error findings, no failing traffic).
    pub(crate) state: &'static str,
    pub(crate) paths: Vec<PathStatus>,
    pub(crate) findings: Vec<FindingStatus>,
    pub(crate) config: Option<ConfigStatus>,
    pub(crate) sources: Vec<SourceStatus>,
    pub(crate) unusable_log_targets: Vec<Unusable>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PathStatus {
    pub(crate) path: String,
    pub(crate) last_5m: WindowStatus,
    pub(crate) last_60m: WindowStatus,
    /// The location nginx serves it from (with `--nginx-config`).
    pub(crate) location: Option<LocationStatus>,
    /// Findings of that location.
    pub(crate) findings: Vec<FindingStatus>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LocationStatus {
    pub(crate) server: String,
    pub(crate) location: String,
    /// `file:line` of the `location` block.
    pub(crate) at: String,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct WindowStatus {
    pub(crate) attempts: u64,
    pub(crate) switched: u64,
    /// 101s / attempts; `None` without attempts.
    pub(crate) share_101: Option<f64>,
    /// The most frequent failure statuses, (status, count).
    pub(crate) top_failures: Vec<(u16, u64)>,
    /// Failed attempts by who answered them.
    pub(crate) failures_answered_by: std::collections::BTreeMap<&'static str, u64>,
    /// `compare`'s cause id and its words.
    pub(crate) cause: &'static str,
    pub(crate) cause_words: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FindingStatus {
    pub(crate) id: &'static str,
    pub(crate) severity: &'static str,
    pub(crate) at: String,
    pub(crate) server: String,
    pub(crate) location: String,
    pub(crate) message: String,
    pub(crate) fix: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ConfigStatus {
    pub(crate) path: String,
    pub(crate) last_read: f64,
    pub(crate) read_errors: u64,
    pub(crate) last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SourceStatus {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) lines_read: u64,
    pub(crate) malformed: u64,
    /// Bytes written to the file and not read yet (files only).
    pub(crate) lag_bytes: Option<u64>,
    /// Seconds since the time of the last line read.
    pub(crate) last_line_age_seconds: Option<f64>,
    pub(crate) format: String,
}

fn window(w: &Window) -> WindowStatus {
    let mut fails: Vec<(u16, u64)> = w
        .statuses
        .iter()
        .filter(|(s, _)| **s != 101)
        .map(|(s, v)| (*s, v.iter().sum::<u64>()))
        .collect();
    fails.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    fails.truncate(TOP_STATUSES);
    let mut by = std::collections::BTreeMap::new();
    for (s, v) in &w.statuses {
        if *s == 101 {
            continue;
        }
        for (i, name) in ["upstream", "nginx", "unknown"].iter().enumerate() {
            if v[i] > 0 {
                *by.entry(*name).or_insert(0) += v[i];
            }
        }
    }
    let c = cause(&w.statuses);
    WindowStatus {
        attempts: w.attempts,
        switched: w.switched,
        share_101: (w.attempts > 0).then(|| w.switched as f64 / w.attempts as f64),
        top_failures: fails,
        failures_answered_by: by,
        cause: c,
        cause_words: cause_words(c),
    }
}

fn finding(f: &Finding) -> FindingStatus {
    FindingStatus {
        id: f.id,
        severity: f.severity.as_str(),
        at: format!("{}:{}", f.file, f.line),
        server: f.server.clone(),
        location: f.location.clone(),
        message: f.message.clone(),
        fix: f.fix.clone(),
    }
}

/// Gathers the page's content.
pub(crate) fn collect(shared: &Shared, ctx: &StatusContext, version: &str) -> Status {
    let now_min = now_minute();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut paths = Vec::new();
    let mut sources = Vec::new();
    if let Ok(p) = shared.lock() {
        for (id, series) in p.sink.paths.iter().enumerate() {
            let Some(ring) = series.as_ref().and_then(|s| s.minutes.as_ref()) else {
                continue;
            };
            if !ring.active(now_min, 60) {
                continue;
            }
            let Ok(id32) = u32::try_from(id) else {
                continue;
            };
            paths.push(PathStatus {
                path: p.classifier.labels.name(id32).to_string(),
                last_5m: window(&ring.window(now_min, 5)),
                last_60m: window(&ring.window(now_min, 60)),
                location: None,
                findings: Vec::new(),
            });
        }
        for (i, l) in p.sink.logs.iter().enumerate() {
            let info = ctx.sources.get(i);
            let lag = info.and_then(|s| s.file.as_ref()).and_then(|(path, pos)| {
                let offset = pos.lock().ok().and_then(|g| g.current.map(|p| p.offset))?;
                let len = std::fs::metadata(path).ok()?.len();
                Some(len.saturating_sub(offset))
            });
            let format = match (l.kind, info.and_then(|s| s.format.clone())) {
                (LogKind::Error, _) => "error log".to_string(),
                (_, Some(f)) => f,
                (_, None) => match p.classifier.detected_for(i) {
                    Some(d) => format!("auto: detected {d}"),
                    None => "auto: not detected yet".to_string(),
                },
            };
            sources.push(SourceStatus {
                name: l.name.clone(),
                kind: l.kind.as_str(),
                lines_read: l.read,
                malformed: l.malformed,
                lag_bytes: lag,
                last_line_age_seconds: l.last_event.map(|t| (now - t).max(0.0)),
                format,
            });
        }
    }
    // Worst first: lowest 101 share of the last 5 minutes, then most attempts.
    paths.sort_by(|a, b| {
        let key = |p: &PathStatus| p.last_5m.share_101.unwrap_or(2.0);
        key(a)
            .total_cmp(&key(b))
            .then(b.last_60m.attempts.cmp(&a.last_60m.attempts))
            .then(a.path.cmp(&b.path))
    });
    let mut findings = Vec::new();
    let mut config = None;
    // The config's current targets: a reload may have fixed or broken one since startup.
    let mut unusable = None;
    if let Some(live) = &ctx.live {
        let names: Vec<&str> = paths.iter().map(|p| p.path.as_str()).collect();
        let locs = live.locations_of(&names);
        for (p, loc) in paths.iter_mut().zip(locs) {
            if let Some((server, location, at)) = loc {
                p.location = Some(LocationStatus {
                    server,
                    location,
                    at,
                });
            }
        }
        if let Ok(st) = live.state.lock() {
            unusable = Some(st.unusable.clone());
            findings = st.findings.iter().map(finding).collect();
            config = Some(ConfigStatus {
                path: live.path.clone(),
                last_read: st.last_read,
                read_errors: st.read_errors,
                last_error: st.last_error.clone(),
            });
        }
        for p in &mut paths {
            if let Some(loc) = &p.location {
                p.findings = findings
                    .iter()
                    .filter(|f| f.server == loc.server && f.location == loc.location)
                    .cloned()
                    .collect();
            }
        }
    }
    let (state, verdict) = verdict(&paths, &findings);
    Status {
        version: version.to_string(),
        generated_at: now as u64,
        verdict,
        state,
        paths,
        findings,
        config,
        sources,
        unusable_log_targets: unusable.unwrap_or_else(|| ctx.unusable.clone()),
    }
}

fn verdict(paths: &[PathStatus], findings: &[FindingStatus]) -> (&'static str, String) {
    let failing: Vec<&PathStatus> = paths
        .iter()
        .filter(|p| p.last_5m.attempts > 0 && p.last_5m.share_101.unwrap_or(1.0) < 0.5)
        .collect();
    if let Some(p) = failing.first() {
        let w = &p.last_5m;
        let who = w
            .failures_answered_by
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut v = format!(
            "WebSocket upgrades on {} are failing: {} of {} switched in the last 5 minutes (answered by {who}); cause {}: {}",
            p.path, w.switched, w.attempts, w.cause, w.cause_words
        );
        if let Some(f) = p.findings.iter().find(|f| f.severity == "error") {
            let _ = write!(v, ". Config: {} error[{}] (fix below)", f.at, f.id);
        }
        if failing.len() > 1 {
            let _ = write!(v, "; {} more failing path(s)", failing.len() - 1);
        }
        return ("failing", v);
    }
    let errors: Vec<&FindingStatus> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error.as_str())
        .collect();
    if let Some(f) = errors.first() {
        return (
            "config_broken",
            format!(
                "nginx config: {} error finding(s) will break WebSocket upgrades, first {} error[{}] in location {}",
                errors.len(),
                f.at,
                f.id,
                f.location
            ),
        );
    }
    let n: u64 = paths.iter().map(|p| p.last_5m.attempts).sum();
    ("ok", format!("OK: {n} WebSocket upgrade attempt(s) in the last 5 minutes, no failing path, no config error"))
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn pct(s: Option<f64>) -> String {
    s.map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

fn window_cell(w: &WindowStatus) -> String {
    if w.attempts == 0 {
        return "no attempts".into();
    }
    format!(
        "{} attempts, {} switched ({})",
        w.attempts,
        w.switched,
        pct(w.share_101)
    )
}

fn findings_html(out: &mut String, fs: &[FindingStatus]) {
    for f in fs {
        let _ = write!(
            out,
            "<div class=\"f {sev}\"><b>{at}: {sev}[{id}]</b> {msg}",
            sev = html_escape(f.severity),
            at = html_escape(&f.at),
            id = html_escape(f.id),
            msg = html_escape(&f.message)
        );
        if !f.fix.is_empty() {
            let _ = write!(out, "<pre>{}</pre>", html_escape(&f.fix));
        }
        out.push_str("</div>");
    }
}

/// The HTML page: plain tables, no JavaScript, refreshed by `<meta http-equiv=refresh>`.
/// The page; `metrics_path` is `--web.telemetry-path`, which the footer links to.
pub(crate) fn html(s: &Status, metrics_path: &str) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>nginxlog-sidecar: {state}</title><style>\
         body{{font-family:sans-serif;margin:1.5em;max-width:80em}}table{{border-collapse:collapse;margin:.5em 0}}\
         td,th{{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}}\
         .verdict{{font-size:1.3em;padding:.6em;border-radius:.3em}}.ok{{background:#dfd}}\
         .failing,.config_broken{{background:#fdd}}.f{{margin:.4em 0}}.f.error b{{color:#a00}}\
         .f.warning b{{color:#850}}pre{{background:#f4f4f4;padding:.4em;margin:.2em 0}}</style></head><body>\
         <h1>nginxlog-sidecar {version}</h1><p class=\"verdict {state}\">{verdict}</p>",
        state = s.state,
        version = html_escape(&s.version),
        verdict = html_escape(&s.verdict)
    );
    o.push_str("<h2>WebSocket paths</h2>");
    if s.paths.is_empty() {
        o.push_str("<p>No upgrade attempt in the last 60 minutes.</p>");
    } else {
        o.push_str("<table><tr><th>path</th><th>last 5 min</th><th>last 60 min</th><th>top failures (5 min)</th><th>who answered the failures</th><th>cause</th><th>location</th></tr>");
        let mut shown: Vec<(Option<(&String, &String)>, &String)> = Vec::new();
        for p in &s.paths {
            let w = if p.last_5m.attempts > 0 {
                &p.last_5m
            } else {
                &p.last_60m
            };
            let tops = w
                .top_failures
                .iter()
                .map(|(st, n)| format!("{st} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let who = w
                .failures_answered_by
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let loc = p.location.as_ref().map_or("–".to_string(), |l| {
                format!("location {} ({})", l.location, l.at)
            });
            let _ = write!(
                o,
                "<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b>: {}</td><td>{}</td></tr>",
                html_escape(&p.path),
                window_cell(&p.last_5m),
                window_cell(&p.last_60m),
                html_escape(&tops),
                html_escape(&who),
                w.cause,
                html_escape(w.cause_words),
                html_escape(&loc)
            );
            // A location's findings once, under its first (worst) path.
            let key = p.location.as_ref().map(|l| (&l.server, &l.location));
            if !p.findings.is_empty() {
                o.push_str("<tr><td></td><td colspan=\"6\">");
                match shown.iter().find(|(k, _)| *k == key) {
                    Some((_, first)) => {
                        let _ = write!(
                            o,
                            "same location as {}: its findings are above",
                            html_escape(first)
                        );
                    }
                    None => {
                        findings_html(&mut o, &p.findings);
                        shown.push((key, &p.path));
                    }
                }
                o.push_str("</td></tr>");
            }
        }
        o.push_str("</table>");
    }
    if let Some(c) = &s.config {
        let _ = write!(
            o,
            "<h2>Config findings</h2><p>{}: {} finding(s); read {} s ago, {} failed re-read(s)</p>",
            html_escape(&c.path),
            s.findings.len(),
            (s.generated_at as f64 - c.last_read).max(0.0).round(),
            c.read_errors
        );
        if let Some(e) = &c.last_error {
            let _ = write!(
                o,
                "<p class=\"f error\"><b>The config on disk does not parse; the last good one is in use:</b> {}</p>",
                html_escape(e)
            );
        }
        findings_html(&mut o, &s.findings);
    }
    if !s.unusable_log_targets.is_empty() {
        o.push_str("<h2>Log targets not read</h2><table><tr><th>directive</th><th>target</th><th>why</th><th>what to do</th></tr>");
        for u in &s.unusable_log_targets {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}_log {}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&u.at),
                u.kind,
                html_escape(&u.target),
                html_escape(&u.reason),
                html_escape(&u.todo)
            );
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Sources</h2><table><tr><th>source</th><th>kind</th><th>lines read</th><th>malformed</th><th>lag</th><th>last line</th><th>format</th></tr>");
    for src in &s.sources {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&src.name),
            src.kind,
            src.lines_read,
            src.malformed,
            src.lag_bytes.map_or("–".into(), |b| format!("{b} bytes")),
            src.last_line_age_seconds
                .map_or("–".into(), |a| format!("{a:.0} s ago")),
            html_escape(&src.format)
        );
    }
    let _ = write!(
        o,
        "</table><p><a href=\"{}\">metrics</a> · <a href=\"/status.json\">status.json</a> · \
         <a href=\"/healthz\">healthz</a> · <a href=\"/readyz\">readyz</a> · refreshes every {REFRESH_SECONDS} s</p></body></html>",
        html_escape(metrics_path)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn verdict_names_the_failing_path_and_cause() {
        let mut w = Window {
            attempts: 4,
            ..Window::default()
        };
        w.statuses.insert(403, [4, 0, 0]);
        let p = PathStatus {
            path: "/ws/chat".into(),
            last_5m: window(&w),
            last_60m: window(&w),
            location: None,
            findings: Vec::new(),
        };
        let (state, v) = verdict(&[p], &[]);
        assert_eq!(state, "failing");
        assert!(
            v.contains("/ws/chat") && v.contains("0 of 4") && v.contains("upgrade_not_forwarded"),
            "{v}"
        );
        let (state, _) = verdict(&[], &[]);
        assert_eq!(state, "ok");
    }
}
