//! copytruncate: the file shrinks under the sidecar, which must restart at byte 0.

mod support;
use support::*;

#[test]
fn copytruncate_is_detected_and_read_from_zero() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let series = r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#;
    append(&log, &vec![ws_line("/ws/chat", 101, "0.002"); 30]);
    sidecar.wait_value(series, 30.0);
    // logrotate copytruncate: copy, then truncate in place.
    std::fs::copy(&log, tmp.path().join("access.log.1")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .expect("truncate");
    sidecar.wait_value(
        &format!(r#"nginxlog_log_rotations_total{{log="{l}"}}"#),
        1.0,
    );
    append(&log, &vec![ws_line("/ws/chat", 101, "0.002"); 7]);
    sidecar.wait_value(series, 37.0);
    assert_eq!(
        sidecar.value(&format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#)),
        37.0
    );
}
