//! `compare` on `fixtures/broken-then-fixed/` (a real nginx, first without the WebSocket upgrade
//! headers, then with `deploy/nginx/ws-location.conf`) shows the 403 -> 101 flip with the exact
//! counts of the traffic script (fixtures/README.md): before, 33 upgrade attempts on `/ws/*`, all
//! 403 answered by the backend; after, 24 x 101 and 9 x 403 (bad tokens); 3 nginx `deny` 403s on
//! `/denied/socket` in each phase. Every report format carries the same numbers, `--before`/
//! `--after` files give the same result as `--split`, and the HTML is self-contained and escapes
//! what clients put in paths.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    support::repo()
        .join("fixtures/broken-then-fixed")
        .join(name)
}

fn compare(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(support::sidecar_bin())
        .arg("compare")
        .args(["--format", "ws_timing"])
        .args(args)
        .output()
        .expect("run sidecar compare");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn split_args() -> Vec<String> {
    vec![
        "--access-log".into(),
        fixture("access.log").display().to_string(),
        "--error-log".into(),
        fixture("error.log").display().to_string(),
        "--split".into(),
        format!("@{}", fixture("SPLIT").display()),
    ]
}

fn json(args: &[String]) -> Value {
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--report-format", "json"]);
    let (ok, out, err) = compare(&a);
    assert!(ok, "compare failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn path<'a>(r: &'a Value, p: &str) -> &'a Value {
    r["paths"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["path"] == p))
        .unwrap_or_else(|| panic!("no path {p} in report: {r:#}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Sums a counter over the `/ws/` paths of a phase.
fn ws_sum(r: &Value, phase: &str, field: &str) -> u64 {
    r["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .filter(|p| p["path"].as_str().is_some_and(|s| s.starts_with("/ws/")))
        .map(|p| n(&p[phase][field]))
        .sum()
}

fn check_flip(r: &Value) {
    // Before: every /ws/ attempt refused by the backend (it never saw the upgrade).
    assert_eq!(ws_sum(r, "before", "upgrade_attempts"), 33);
    assert_eq!(ws_sum(r, "before", "forbidden_403"), 33);
    assert_eq!(ws_sum(r, "before", "switched_101"), 0);
    // After: good tokens switch, bad tokens are still refused by the app.
    assert_eq!(ws_sum(r, "after", "upgrade_attempts"), 33);
    assert_eq!(ws_sum(r, "after", "switched_101"), 24);
    assert_eq!(ws_sum(r, "after", "forbidden_403"), 9);

    let chat = path(r, "/ws/chat");
    assert_eq!(n(&chat["before"]["upgrade_attempts"]), 27);
    assert_eq!(n(&chat["before"]["failures_answered_by"]["upstream"]), 27);
    assert_eq!(chat["before"]["share_403"], 1.0);
    assert_eq!(n(&chat["after"]["switched_101"]), 18);
    assert_eq!(n(&chat["after"]["forbidden_403"]), 9);
    assert_eq!(chat["after"]["other_failures"], serde_json::json!([]));
    assert_eq!(n(&chat["after"]["session_seconds"]["count"]), 18);
    // Sessions were held 0.2 to 0.95 s by the traffic script.
    let p50 = chat["after"]["session_seconds"]["p50"]
        .as_f64()
        .expect("p50");
    assert!((0.2..=0.95).contains(&p50), "session p50 {p50}");
    assert_eq!(chat["before"]["session_seconds"]["p50"], Value::Null);
    assert_eq!(
        chat["verdict"],
        "/ws/chat: 403 share 100.0% -> 33.3%, 101 share 0.0% -> 66.7% (27 -> 27 attempts: upgrades succeed now)"
    );
    let notif = path(r, "/ws/notifications");
    assert_eq!(
        (
            n(&notif["before"]["forbidden_403"]),
            n(&notif["after"]["switched_101"])
        ),
        (6, 6)
    );
    // nginx's own `deny all` is unaffected by the fix.
    let denied = path(r, "/denied/socket");
    for phase in ["before", "after"] {
        assert_eq!(n(&denied[phase]["forbidden_403"]), 3);
        assert_eq!(n(&denied[phase]["failures_answered_by"]["nginx"]), 3);
        assert_eq!(denied[phase]["handshake_seconds"]["p50"], Value::Null);
    }
}

#[test]
fn split_shows_the_exact_403_to_101_flip() {
    let r = json(&split_args());
    assert_eq!(r["schema"], "nginxlog-sidecar/compare");
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["mode"], "split");
    assert_eq!(r["split"], "2026-11-29T02:16:58Z");
    check_flip(&r);
    assert_eq!(n(&r["before"]["access_lines"]), 57);
    assert_eq!(n(&r["after"]["access_lines"]), 57);
    assert_eq!(n(&r["before"]["malformed_lines"]), 0);
    // Error-log signatures before vs after: the same three per phase (deny, favicon, port 1).
    let errors = r["errors"].as_array().expect("errors");
    for sig in [
        "access_forbidden_by_rule",
        "file_not_found",
        "upstream_connect_refused",
    ] {
        let row = errors
            .iter()
            .find(|e| e["signature"] == sig)
            .unwrap_or_else(|| panic!("no {sig}: {errors:?}"));
        assert_eq!((n(&row["before"]), n(&row["after"])), (3, 3), "{sig}");
    }
    // The timeline holds every attempt, and the 403s all sit before the marker.
    let points = r["timeline"]["points"].as_array().expect("points");
    let marker = r["timeline"]["marker_unix"].as_f64().expect("marker");
    let sum = |f: &dyn Fn(&Value) -> bool, k: &str| -> u64 {
        points.iter().filter(|p| f(p)).map(|p| n(&p[k])).sum()
    };
    let before = |p: &Value| (p["t"].as_f64().unwrap_or(0.0)) < marker;
    assert_eq!(sum(&before, "forbidden_403"), 36);
    assert_eq!(sum(&before, "switched_101"), 0);
    assert_eq!(sum(&|p| !before(p), "switched_101"), 24);
    assert_eq!(sum(&|p| !before(p), "forbidden_403"), 12);
}

#[test]
fn before_after_files_match_the_split() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let split = json(&split_args())["split_unix"]
        .as_f64()
        .expect("split_unix") as u64;
    // Cut the fixture at SPLIT into two files, as two log directories would hold them.
    let text = std::fs::read_to_string(fixture("access.log")).expect("read fixture");
    let (mut b, mut a) = (String::new(), String::new());
    for line in text.lines() {
        let t = line_time(line);
        if t < split {
            b.push_str(line);
            b.push('\n');
        } else {
            a.push_str(line);
            a.push('\n');
        }
    }
    let (bp, ap) = (tmp.path().join("before.log"), tmp.path().join("after.log"));
    std::fs::write(&bp, b).expect("write");
    std::fs::write(&ap, a).expect("write");
    let r = json(&[
        "--before".into(),
        bp.display().to_string(),
        "--after".into(),
        ap.display().to_string(),
    ]);
    assert_eq!(r["mode"], "files");
    check_flip(&r);
    let s = json(&split_args());
    assert_eq!(r["paths"], s["paths"]);
    assert_eq!(r["verdicts"], s["verdicts"]);
}

/// Unix time of a ws_timing line's `[$time_local]` (fixtures are +0000).
fn line_time(line: &str) -> u64 {
    let t = &line[line.find('[').expect("[") + 1..line.find(']').expect("]")];
    // 29/Nov/2026:02:16:57 +0000 -> seconds since midnight are enough within one day.
    let hms: Vec<u64> = t[12..20]
        .split(':')
        .map(|x| x.parse().expect("digits"))
        .collect();
    1_795_910_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

#[test]
fn table_and_markdown_carry_the_same_numbers() {
    let args = split_args();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, table, err) = compare(&a);
    assert!(ok, "{err}");
    assert!(table.contains(
        "/ws/chat: 403 share 100.0% -> 33.3%, 101 share 0.0% -> 66.7% (27 -> 27 attempts: upgrades succeed now)"
    ), "{table}");
    // Aligned: the header's columns start where the rows' columns start.
    let lines: Vec<&str> = table.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.starts_with("path "))
        .expect("table header");
    let col = |l: &str, name: &str| l.find(name).unwrap_or(usize::MAX);
    let attempts_end = col(lines[head], "attempts") + "attempts".len();
    for row in &lines[head + 2..head + 8] {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(cells.len() >= 10, "short row {row:?}");
        let n = if row.starts_with(' ') {
            cells[1]
        } else {
            cells[2]
        };
        let end = row.find(&format!(" {n} ")).map(|i| i + 1 + n.len());
        assert_eq!(end, Some(attempts_end), "misaligned row {row:?}\n{table}");
    }
    let row = lines
        .iter()
        .find(|l| l.starts_with("/ws/chat "))
        .expect("chat row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..8],
        ["/ws/chat", "before", "27", "0", "0.0%", "27", "100.0%", "-"]
    );

    let mut m = a.clone();
    m.extend(["--report-format", "markdown"]);
    let (ok, md, err) = compare(&m);
    assert!(ok, "{err}");
    assert!(
        md.contains("| /ws/chat | before | 27 | 0 | 0.0% | 27 | 100.0% | - |"),
        "{md}"
    );
    assert!(
        md.contains("|  | after | 27 | 18 | 66.7% | 9 | 33.3% | - |"),
        "{md}"
    );
    assert!(md.contains("| access_forbidden_by_rule | 3 | 3 |"), "{md}");
}

#[test]
fn html_is_one_self_contained_file_with_both_charts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report.html");
    let mut args = split_args();
    args.extend([
        "--output-format".into(),
        "html".into(),
        "--output".into(),
        out.display().to_string(),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, stdout, err) = compare(&a);
    assert!(ok, "{err}");
    assert!(stdout.is_empty(), "report went to stdout despite --output");
    let html = std::fs::read_to_string(&out).expect("report written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "timeline and handshake charts"
    );
    assert!(html.contains("split 2026-11-29T02:16:58Z"), "split marker");
    assert!(html.contains("<polyline"), "outcome lines");
    assert!(html.contains("/ws/chat p95"), "handshake bars");
    assert_self_contained(&html);
}

fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no scripts");
    assert!(!lower.contains("<link"), "no external stylesheets");
    assert!(!lower.contains("src="), "nothing loaded from anywhere");
    for (i, _) in lower.match_indices("http") {
        let rest = &lower[i..];
        assert!(
            rest.starts_with("http://www.w3.org/2000/svg"),
            "external reference at {}",
            &rest[..rest.len().min(60)]
        );
    }
}

#[test]
fn client_controlled_paths_are_escaped_in_html_and_markdown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let evil = "/ws/<script>alert(1)</script>|x";
    let line = |sec: u32, status: u16| {
        format!("10.0.0.1 - - [29/Nov/2026:02:16:{sec:02} +0000] \"GET {evil}?token=secret HTTP/1.1\" {status} 0 \"-\" \"-\" rt=0.001 uct=\"0.000\" uht=\"0.001\" urt=\"0.001\" upgrade=\"websocket\"\n")
    };
    std::fs::write(&log, format!("{}{}", line(10, 403), line(50, 101))).expect("write");
    let base = [
        "--access-log",
        log.to_str().expect("utf8"),
        "--split",
        "2026-11-29T02:16:30Z",
    ];
    let mut h = base.to_vec();
    h.extend(["--report-format", "html"]);
    let (ok, html, err) = compare(&h);
    assert!(ok, "{err}");
    assert!(html.contains("&lt;script&gt;"), "path shown escaped");
    assert!(
        !html.contains("secret"),
        "query strings never reach a report"
    );
    assert_self_contained(&html);
    let mut m = base.to_vec();
    m.extend(["--report-format", "markdown"]);
    let (ok, md, _) = compare(&m);
    assert!(ok);
    assert!(
        md.contains(r"/ws/\<script>alert(1)\</script>\|x"),
        "pipe and tags escaped: {md}"
    );
    assert!(!md.contains("secret"));
}

#[test]
fn bad_split_and_missing_inputs_are_explained() {
    let (ok, _, err) = compare(&["--access-log", "x.log", "--split", "yesterday"]);
    assert!(!ok);
    assert!(err.contains("--split") && err.contains("RFC 3339"), "{err}");
    let (ok, _, err) = compare(&["--split", "2026-11-29T02:16:58Z"]);
    assert!(!ok);
    assert!(err.contains("--access-log"), "{err}");
    let fx = fixture("access.log");
    let (ok, _, err) = compare(&[
        "--access-log",
        fx.to_str().expect("utf8"),
        "--split",
        "2025-01-01T00:00:00Z",
    ]);
    assert!(!ok);
    assert!(
        err.contains("no line falls within --window 24h")
            && err.contains("the logs run from 2026-11-29T02:16:57Z to 2026-11-29T02:17:10Z"),
        "{err}"
    );
    let missing = Path::new("/nonexistent/access.log");
    let (ok, _, err) = compare(&[
        "--access-log",
        missing.to_str().expect("utf8"),
        "--split",
        "2026-11-29T02:16:58Z",
    ]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/access.log"), "{err}");
}

/// The CLI exactly as the README spells it (docs/architecture.md, "Values"): no log format given (detected from the first line),
/// `--format json` is the report format, and the numbers are those of the explicit spelling.
#[test]
fn design_spelling_detects_the_log_format_and_takes_format_as_the_report_format() {
    let out = Command::new(support::sidecar_bin())
        .arg("compare")
        .args(split_args())
        .args(["--format", "json"])
        .output()
        .expect("run sidecar compare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compare failed: {stderr}");
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    check_flip(&r);
    assert_eq!(r, json(&split_args()));
    // A log format in --format still works (older spelling), with --report-format for the report.
    let mut a: Vec<String> = split_args();
    a.extend([
        "--format".into(),
        "ws_timing".into(),
        "--output-format".into(),
        "markdown".into(),
    ]);
    let out = Command::new(support::sidecar_bin())
        .arg("compare")
        .args(&a)
        .output()
        .expect("run sidecar compare");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("| /ws/chat |"));
}

/// Causes: before the fix the backend refused every upgrade and none switched
/// (`upgrade_not_forwarded`); after it the bad tokens are refused beside 101s (`app_refused`);
/// nginx's own `deny` is `nginx_refused` in both. JSON carries them per path and phase, the
/// table, markdown and HTML say who answered and why, and point at `doctor` for the headers.
#[test]
fn causes_name_who_answered_in_every_format() {
    let r = json(&split_args());
    let chat = path(&r, "/ws/chat");
    assert_eq!(chat["before"]["cause"], "upgrade_not_forwarded");
    assert_eq!(chat["after"]["cause"], "app_refused");
    let notif = path(&r, "/ws/notifications");
    assert_eq!(notif["before"]["cause"], "upgrade_not_forwarded");
    assert_eq!(notif["after"]["cause"], "none");
    let denied = path(&r, "/denied/socket");
    assert_eq!(denied["before"]["cause"], "nginx_refused");
    assert_eq!(denied["after"]["cause"], "nginx_refused");

    let args = split_args();
    let base: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = "/ws/chat before: 27 of 27 attempts failed, answered by the upstream (27); cause upgrade_not_forwarded";
    let after =
        "/ws/chat after: 9 of 27 attempts failed, answered by the upstream (9); cause app_refused";
    let doctor = "nginxlog-sidecar doctor --config /etc/nginx/nginx.conf --access-log";
    let deny =
        "/denied/socket after: 3 of 3 attempts failed, answered by nginx (3); cause nginx_refused";
    for format in ["table", "markdown", "html"] {
        let mut a = base.clone();
        a.extend(["--report-format", format]);
        let (ok, out, err) = compare(&a);
        assert!(ok, "{err}");
        for want in [before, after, doctor, deny] {
            assert!(out.contains(want), "{format}: no {want:?} in\n{out}");
        }
        assert_eq!(
            out.matches(doctor).count(),
            2,
            "{format}: doctor only for the headers"
        );
    }
}
