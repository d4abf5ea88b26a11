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
    let out = Command::new(support::sidecar_bin())
        .args([
            "backfill",
            "--format",
            "ws_timing",
            "--step",
            "60s",
            "-o",
            "-",
            "--access-log",
        ])
        .arg(&log)
        .output()
        .expect("run backfill");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let om = String::from_utf8_lossy(&out.stdout);
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
