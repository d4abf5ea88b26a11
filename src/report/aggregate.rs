//! From `compare`'s aggregates to the [`Report`](super::Report): shares, causes, verdicts, the
//! timeline.

use super::model::{
    AnsweredBy, ErrorRow, InputRow, PathPhase, PathReport, PhaseSummary, Quantiles, Report,
    SessionQuantiles, StatusCount, TimelinePoint, TimelineReport, SCHEMA, SCHEMA_VERSION,
};
use crate::classify::signature;
use crate::parse::values::rfc3339;
use crate::sink::compare::{Compare, PathStats, PhaseStats, Split};
use crate::source::history::{History, Phase};

pub(super) fn share(n: u64, d: u64) -> Option<f64> {
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
pub(crate) fn cause(statuses: &std::collections::BTreeMap<u16, [u64; 3]>) -> &'static str {
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
pub(crate) fn cause_words(cause: &str) -> &'static str {
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

pub(super) fn path_phase(s: Option<&PathStats>) -> PathPhase {
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

pub(super) fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

/// The one-line verdict of a path: `/ws/chat: 403 share 97.8% -> 0.3%, 101 share 1.9% -> 99.5%`,
/// the attempt counts, and what changed.
pub(crate) fn verdict(path: &str, b: &PathPhase, a: &PathPhase) -> String {
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
pub(super) fn failure_share_rose(b: &PathPhase, a: &PathPhase, only_5xx: bool) -> bool {
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

pub(super) fn phase_summary(p: &PhaseStats, window: Option<(f64, f64)>) -> PhaseSummary {
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
pub(crate) fn build(cmp: &Compare, hist: &History) -> Report {
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
