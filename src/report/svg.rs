//! The HTML page's charts: upgrade outcomes over time and handshake quantiles, as inline SVG.

use super::markup::{clock, html_escape, BLUE, GRAY, GREEN, ORANGE, RED};
use super::model::{PathReport, Report, TimelinePoint};
use super::text::{human_secs, trim_float};
use crate::parse::values::rfc3339;
use std::fmt::Write;

pub(super) fn nice_max(v: u64) -> u64 {
    let v = v.max(1);
    let mag = 10u64.pow((v as f64).log10().floor() as u32);
    for m in [1, 2, 5, 10] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10 * mag
}

pub(super) fn bucket_name(w: i64) -> String {
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
pub(super) fn timeline_svg(r: &Report) -> String {
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
pub(super) fn handshake_svg(r: &Report) -> String {
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
