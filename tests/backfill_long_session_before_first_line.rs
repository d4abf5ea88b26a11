//! A 101 whose session began before the log's first line (nginx writes it at close): backfill
//! back-dates its upgrade counter to the step of its handshake, before the first line's step,
//! with a leading 0 sample so `rate()` counts it; the session histogram stays at close time.

mod support;

use std::process::Command;

#[test]
fn a_session_older_than_the_log_is_counted_at_its_handshake() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let line = |t: &str, status: u16, rt: &str| {
        format!("127.0.0.1 - - [29/Nov/2026:{t} +0000] \"GET /ws/a?token=x HTTP/1.1\" {status} 0 \"-\" \"t\" rt={rt} uct=\"0.000\" uht=\"0.001\" urt=\"1\" upgrade=\"websocket\"\n")
    };
    // Closed at 02:16:58 after 300 s: the handshake was at 02:11:58.
    std::fs::write(
        &log,
        format!(
            "{}{}",
            line("02:16:58", 101, "300.000"),
            line("02:16:59", 403, "0.001")
        ),
    )
    .expect("write");
    let om = backfill(&log, "60s");
    let series = |s: &str| -> Vec<String> {
        om.lines()
            .filter_map(|l| l.strip_prefix(s)?.strip_prefix(' ').map(str::to_string))
            .collect()
    };
    let ok = series(
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/a",status="101",answered_by="upstream"}"#,
    );
    // 02:11:00 -> 0, 02:12:00 (the first sample after the handshake) -> 1, ... 02:17:00 -> 1.
    assert_eq!(
        ok.first().map(String::as_str),
        Some("0 1795918260"),
        "{ok:?}"
    );
    assert_eq!(
        ok.get(1).map(String::as_str),
        Some("1 1795918320"),
        "{ok:?}"
    );
    assert_eq!(
        ok.last().map(String::as_str),
        Some("1 1795918620"),
        "{ok:?}"
    );
    let sessions = series(r#"nginxlog_ws_session_duration_seconds_count{path="/ws/a"}"#);
    assert_eq!(sessions, ["0 1795918560", "1 1795918620"]);
    assert!(
        !om.contains("token"),
        "query strings never reach the output"
    );
}

fn backfill(log: &std::path::Path, step: &str) -> String {
    let out = Command::new(support::sidecar_bin())
        .args([
            "backfill",
            "--format",
            "ws_timing",
            "--step",
            step,
            "-o",
            "-",
            "--access-log",
        ])
        .arg(log)
        .output()
        .expect("run backfill");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ws(t: &str, status: u16, rt: &str, uht: &str) -> String {
    format!("127.0.0.1 - - [29/Nov/2026:{t} +0000] \"GET /ws/a HTTP/1.1\" {status} 0 \"-\" \"t\" rt={rt} uct=\"0.000\" uht=\"{uht}\" urt=\"1\" upgrade=\"websocket\"\n")
}

/// A handshake in the step just before the first line's: still a leading 0, so `increase()`
/// over the whole range counts it.
#[test]
fn a_handshake_one_step_before_the_first_line_keeps_its_leading_zero() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let text = [
        ws("02:00:30", 403, "0.001", "0.001"),
        ws("02:01:30", 101, "120.000", "0.002"),
        ws("02:02:30", 403, "0.001", "0.001"),
    ]
    .concat();
    std::fs::write(&log, text).expect("write");
    let om = backfill(&log, "60s");
    let ok: Vec<&str> = om
        .lines()
        .filter_map(|l| {
            l.strip_prefix(r#"nginxlog_ws_upgrade_requests_total{path="/ws/a",status="101",answered_by="upstream"} "#)
        })
        .collect();
    assert_eq!(
        ok.first().map(|s| s.split(' ').next()),
        Some(Some("0")),
        "{ok:?}"
    );
    assert_eq!(
        ok.last().map(|s| s.split(' ').next()),
        Some(Some("1")),
        "{ok:?}"
    );
}

/// Many overlapping sessions of different lengths, one with an absurd `$request_time`: every
/// counter (histogram buckets, `_count` and `_sum` included) only rises, no timestamp lies
/// before the log's first day, and the absurd one stays at its close time.
#[test]
fn back_dated_counters_never_dip_and_absurd_sessions_stay_put() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let mut text = String::new();
    for i in 0..300u32 {
        let (m, s) = (10 + i / 60, i % 60);
        let rt = format!("{}.{:03}", (i * 37) % 900, (i * 7919) % 1000);
        text.push_str(&ws(
            &format!("02:{m:02}:{s:02}"),
            101,
            &rt,
            &format!("0.0{:02}", i % 97),
        ));
    }
    text.push_str(&ws("02:16:00", 101, "400000000.000", "0.003"));
    std::fs::write(&log, text).expect("write");
    let om = backfill(&log, "15s");
    let mut last: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    let day_start = 1_795_910_400.0; // 2026-11-29T00:00:00Z
    for l in om.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = l.rsplitn(3, ' ');
        let (Some(ts), Some(v), Some(series)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (ts, v): (f64, f64) = (ts.parse().expect("timestamp"), v.parse().expect("value"));
        assert!(ts >= day_start, "sample before the log's day: {l}");
        if series.contains("_total")
            || series.contains("_bucket")
            || series.contains("_count")
            || series.contains("_sum")
        {
            if let Some(prev) = last.insert(series, v) {
                assert!(v >= prev, "{series} dipped from {prev} to {v}");
            }
        }
    }
    let total = last
        .get(r#"nginxlog_ws_upgrade_requests_total{path="/ws/a",status="101",answered_by="upstream"}"#)
        .copied();
    assert_eq!(total, Some(301.0));
}

/// A format without `$request_time` cannot place a 101 at its handshake: compare and backfill
/// say so instead of silently placing it at close time.
#[test]
fn a_format_without_request_time_is_said_to_keep_close_time() {
    let log = support::repo().join("fixtures/combined/access.log");
    for args in [
        vec!["compare", "--split", "1795918615", "--access-log"],
        vec!["backfill", "-o", "-", "--access-log"],
    ] {
        let out = Command::new(support::sidecar_bin())
            .args(&args)
            .arg(&log)
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "does not log $request_time, so its 101 lines (if any) are placed at their close time"
            ),
            "{args:?}: {err}"
        );
    }
}
