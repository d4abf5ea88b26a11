//! The self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched).

use super::markup::html_escape;
use super::model::Report;
use super::svg::{bucket_name, handshake_svg, timeline_svg};
use super::text::{cause_lines, header_text, phase_line, rows, HEAD};
use std::fmt::Write;

pub(super) fn html(r: &Report) -> String {
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
