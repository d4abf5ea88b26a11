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
    copytruncate(&log);
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

/// Truncated and refilled past the old read position before the sidecar looked again (it is
/// stopped with SIGSTOP meanwhile): the changed first bytes give it away, nothing is lost and no
/// line is read from the middle.
#[test]
fn truncate_and_refill_between_two_looks_is_detected_by_the_first_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    append(&log, &vec![ws_line("/ws/before", 101, "0.002"); 3]);
    let before = r#"nginxlog_ws_upgrade_requests_total{path="/ws/before",status="101",answered_by="upstream"}"#;
    sidecar.wait_value(before, 3.0);
    let pid = sidecar.pid().to_string();
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill")
            .success())
    };
    signal("-STOP");
    truncate(&log);
    append(
        &log,
        &vec![ws_line("/ws/after-the-truncation", 101, "0.002"); 10],
    );
    signal("-CONT");
    let after = r#"nginxlog_ws_upgrade_requests_total{path="/ws/after-the-truncation",status="101",answered_by="upstream"}"#;
    sidecar.wait_value(after, 10.0);
    let m = sidecar.metrics();
    assert_eq!(sample(&m, before), 3.0, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_lines_malformed_total", &l),
        0.0,
        "{m}"
    );
    assert_eq!(
        log_metric(&m, "nginxlog_log_rotations_total", &l),
        1.0,
        "{m}"
    );
}

/// Truncated and refilled past the old read position while the sidecar was stopped, and the
/// first KiB is the same as before (the same first lines were written again): the start gives
/// nothing away, but the bytes before the read position changed. All 70 new lines are read.
#[test]
fn truncate_and_refill_with_an_identical_first_kib_is_caught() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let series = |path: &str| {
        format!(
            r#"nginxlog_ws_upgrade_requests_total{{path="{path}",status="101",answered_by="upstream"}}"#
        )
    };
    // 10 identical lines (more than 1 KiB), then 10 others.
    let head = vec![ws_line("/ws/head", 101, "0.001"); 10];
    assert!(head.iter().map(|l| l.len() + 1).sum::<usize>() > 1024);
    append(&log, &head);
    append(&log, &vec![ws_line("/ws/old", 101, "0.002"); 10]);
    sidecar.wait_value(&series("/ws/old"), 10.0);

    sidecar.signal("STOP");
    truncate(&log);
    append(&log, &head);
    append(&log, &vec![ws_line("/ws/new", 101, "0.003"); 60]);
    sidecar.signal("CONT");

    sidecar.wait_value(&series("/ws/new"), 60.0);
    let m = sidecar.metrics();
    assert_eq!(sample(&m, &series("/ws/head")), 20.0, "{m}");
    assert_eq!(sample(&m, &series("/ws/old")), 10.0, "{m}");
    assert_eq!(log_metric(&m, "nginxlog_lines_read_total", &l), 90.0, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_lines_malformed_total", &l),
        0.0,
        "{m}"
    );
    assert_eq!(
        log_metric(&m, "nginxlog_log_rotations_total", &l),
        1.0,
        "{m}"
    );
}
