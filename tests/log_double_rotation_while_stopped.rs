//! Two rotations faster than the sidecar wakes up: it is stopped (SIGSTOP) while the log is
//! rotated, written, rotated again. The file that moved twice (`access.log` -> `.1` -> `.2` is the
//! one it had open; the one created in between is now `.1`) is found among the rotated siblings
//! and read from its start: every line is counted exactly once.

mod support;
use std::time::Duration;
use support::*;

#[test]
fn double_rotation_while_stopped_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let rotated = |n: u32| tmp.path().join(format!("access.log.{n}"));
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let read = format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#);
    append(&log, &vec![ws_line("/ws/a", 101, "0.001"); 100]);
    sidecar.wait_value(&read, 100.0);

    sidecar.signal("STOP");
    let started = std::time::Instant::now();
    append(&log, &vec![ws_line("/ws/a", 101, "0.001"); 600]);
    std::fs::rename(&log, rotated(1)).expect("rotate 1");
    append(&log, &vec![ws_line("/ws/b", 101, "0.001"); 700]);
    std::fs::rename(rotated(1), rotated(2)).expect("rotate 2: .1 -> .2");
    std::fs::rename(&log, rotated(1)).expect("rotate 2: log -> .1");
    append(&log, &vec![ws_line("/ws/c", 101, "0.001"); 1100]);
    let stopped = started.elapsed();
    std::thread::sleep(Duration::from_millis(100).saturating_sub(stopped));
    sidecar.signal("CONT");

    sidecar.wait_value(&read, 2500.0);
    std::thread::sleep(Duration::from_millis(700)); // nothing read twice later either
    let m = sidecar.metrics();
    assert_eq!(sample(&m, &read), 2500.0, "{m}");
    for (path, n) in [("/ws/a", 700.0), ("/ws/b", 700.0), ("/ws/c", 1100.0)] {
        let s = format!(
            r#"nginxlog_ws_upgrade_requests_total{{path="{path}",status="101",answered_by="upstream"}}"#
        );
        assert_eq!(sample(&m, &s), n, "{path}: {m}");
    }
    assert_eq!(
        log_metric(&m, "nginxlog_log_rotations_total", &l),
        2.0,
        "{m}"
    );
}
