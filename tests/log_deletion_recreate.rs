//! A deleted and recreated log is followed: lines in the new file are counted from its start.

mod support;
use support::*;

#[test]
fn deleted_then_recreated_file_is_followed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let series =
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/a",status="403",answered_by="nginx"}"#;
    append(&log, &vec![ws_line("/ws/a", 403, "-"); 4]);
    sidecar.wait_value(series, 4.0);
    std::fs::remove_file(&log).expect("delete");
    std::thread::sleep(std::time::Duration::from_millis(200));
    append(&log, &vec![ws_line("/ws/a", 403, "-"); 6]);
    sidecar.wait_value(series, 10.0);
    sidecar.wait_value(
        &format!(r#"nginxlog_log_rotations_total{{log="{l}"}}"#),
        1.0,
    );
}
