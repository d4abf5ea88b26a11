//! A log that does not exist yet is waited for (the sidecar is ready meanwhile) and read from
//! its first byte when it appears.

mod support;
use support::*;

#[test]
fn missing_file_is_waited_for_and_read_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("later/access.log");
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    assert_eq!(fetch(sidecar.port, "/readyz").0, 200);
    std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    append(&log, &vec![ws_line("/ws/late", 101, "0.004"); 5]);
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/late",status="101",answered_by="upstream"}"#, 5.0);
    assert_eq!(
        sidecar.value(&format!(r#"nginxlog_log_rotations_total{{log="{l}"}}"#)),
        0.0
    );
}
