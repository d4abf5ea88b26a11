//! The shipped fixtures (one real nginx traffic mix logged in four formats) parse without a
//! malformed line, and every format yields the same request counts.

mod support;
use std::process::Command;
use support::*;

fn once(format: &str, dir: &str) -> String {
    let access = repo().join("fixtures").join(dir).join("access.log");
    let out = Command::new(sidecar_bin())
        .args(["run", "--once", "--format", format, "--access-log"])
        .arg(&access)
        .output()
        .expect("run --once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = String::from_utf8(out.stdout).expect("utf-8 metrics");
    nginxlog_sidecar::sink::unique_series::assert_unique_series(&m);
    m
}

fn series(m: &str, prefix: &str) -> Vec<String> {
    m.lines()
        .filter(|l| l.starts_with(prefix))
        .map(String::from)
        .collect()
}

#[test]
fn four_formats_agree() {
    let ws = once("ws_timing", "ws_timing");
    let requests = series(&ws, "nginxlog_http_requests_total{");
    assert_eq!(requests.len(), 8, "{ws}");
    assert_eq!(
        sample(
            &ws,
            r#"nginxlog_http_requests_total{path="/ws/chat",method="GET",status="101"}"#
        ),
        6.0
    );
    assert_eq!(
        sample(
            &ws,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &ws,
            r#"nginxlog_ws_upgrade_requests_total{path="/denied/socket",status="403",answered_by="nginx"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &ws,
            r#"nginxlog_ws_session_duration_seconds_count{path="/ws/chat"}"#
        ),
        6.0
    );
    for (format, dir) in [("combined", "combined"), ("main", "main"), ("json", "json")] {
        let m = once(format, dir);
        assert_eq!(
            series(&m, "nginxlog_http_requests_total{"),
            requests,
            "{format}"
        );
        assert!(
            m.lines()
                .any(|l| l.starts_with("nginxlog_lines_malformed_total{") && l.ends_with(" 0")),
            "{format}: {m}"
        );
    }
    // JSON logs carry the same variables as ws_timing: identical upgrade outcomes.
    let json = once("json", "json");
    assert_eq!(
        series(&json, "nginxlog_ws_upgrade_requests_total{"),
        series(&ws, "nginxlog_ws_upgrade_requests_total{")
    );
    // Without $http_upgrade and $upstream_header_time, the /ws/ prefix decides and nobody is known.
    let combined = once("combined", "combined");
    assert_eq!(
        sample(
            &combined,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="unknown"}"#
        ),
        6.0
    );
}

#[test]
fn parse_strict_accepts_every_fixture() {
    for (format, file, error) in [
        ("ws_timing", "ws_timing/access.log", false),
        ("combined", "combined/access.log", false),
        ("main", "main/access.log", false),
        ("json", "json/access.log", false),
        ("ws_timing", "broken-then-fixed/access.log", false),
        ("ws_timing", "ws_timing/error.log", true),
        ("ws_timing", "broken-then-fixed/error.log", true),
    ] {
        let mut cmd = Command::new(sidecar_bin());
        cmd.args(["parse", "--strict", "--format", format]);
        if error {
            cmd.arg("--error-log");
        }
        let out = cmd
            .arg(repo().join("fixtures").join(file))
            .output()
            .expect("parse");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {stderr}");
        assert!(stderr.contains("malformed 0"), "{file}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("token="),
            "{file}: a query string was printed"
        );
        for line in stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            assert!(v["line"].as_u64().is_some());
        }
    }
}

/// Without --format, every access log detects its own format: the four fixture logs (the same
/// traffic in four formats) read by one sidecar give four times the requests of one, with no
/// malformed line, and the ws_timing log still knows who answered.
#[test]
fn auto_detects_each_log_on_its_own() {
    let mut cmd = Command::new(sidecar_bin());
    cmd.args(["run", "--once"]);
    for dir in ["combined", "ws_timing", "main", "json"] {
        cmd.arg("--access-log")
            .arg(repo().join("fixtures").join(dir).join("access.log"));
    }
    let out = cmd.output().expect("run --once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = String::from_utf8(out.stdout).expect("utf-8 metrics");
    nginxlog_sidecar::sink::unique_series::assert_unique_series(&m);
    let total = |m: &str| -> f64 {
        series(m, "nginxlog_http_requests_total{")
            .iter()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let one = once("ws_timing", "ws_timing");
    assert!(total(&one) > 0.0);
    assert_eq!(total(&m), 4.0 * total(&one), "{m}");
    assert!(
        series(&m, "nginxlog_lines_malformed_total{")
            .iter()
            .all(|l| l.ends_with(" 0")),
        "{m}"
    );
    assert!(m.contains(r#"answered_by="upstream""#), "{m}");
}

/// History too: `backfill` without --format reads files of three formats in one run, each file
/// detecting its own, and counts every request.
#[test]
fn backfill_auto_detects_each_file_on_its_own() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let om = tmp.path().join("mix.om");
    let mut cmd = Command::new(sidecar_bin());
    cmd.arg("backfill");
    for dir in ["ws_timing", "combined", "json"] {
        cmd.arg("--access-log")
            .arg(repo().join("fixtures").join(dir).join("access.log"));
    }
    let out = cmd.arg("--output").arg(&om).output().expect("run backfill");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&om).expect("read the OpenMetrics file");
    // The last sample of each request counter is its total.
    let mut last = std::collections::BTreeMap::new();
    for l in text
        .lines()
        .filter(|l| l.starts_with("nginxlog_http_requests_total{"))
    {
        let mut parts = l.rsplitn(3, ' ');
        let _ts = parts.next();
        let value: f64 = parts.next().and_then(|v| v.parse().ok()).expect("a value");
        last.insert(parts.next().expect("a series").to_string(), value);
    }
    let one: f64 = series(
        &once("ws_timing", "ws_timing"),
        "nginxlog_http_requests_total{",
    )
    .iter()
    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    .sum();
    assert_eq!(last.values().sum::<f64>(), 3.0 * one, "{text}");
}
