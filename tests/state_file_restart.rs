//! `--state-file`: lines written while the sidecar was stopped are counted exactly once after a
//! restart, also when the log was rotated meanwhile (the old file is found by inode).

mod support;
use support::*;

#[test]
fn restart_counts_lines_written_while_stopped_once() {
    let dir = StateDir::new();
    let tmp = &dir.tmp;
    let log = &dir.log;
    let state = &dir.state;
    append(log, &vec![ws_line("/ws/old", 101, "0.001"); 9]); // history before the first start
    let args = dir.args(&["--state-interval", "200ms"]);

    let sidecar = Sidecar::start(&args);
    append(log, &chat(5));
    sidecar.wait_value(CHAT, 5.0);
    assert!(sidecar.terminate().success());
    assert!(state.exists(), "state file not written on shutdown");

    // While stopped: 3 more lines, then a rename rotation and 2 lines in the new file.
    append(log, &chat(3));
    std::fs::rename(log, tmp.path().join("access.log.1")).expect("rotate");
    append(log, &chat(2));

    let sidecar = Sidecar::start(&args);
    sidecar.wait_value(CHAT, 5.0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let m = sidecar.metrics();
    assert_eq!(sample(&m, CHAT), 5.0, "{m}");
    assert_eq!(
        sample(
            &m,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/old",status="101",answered_by="upstream"}"#
        ),
        0.0
    );
}

/// copytruncate (or a recreated file that got the old inode number back) while the sidecar was
/// stopped: same inode, but the first bytes changed, so the saved offset means nothing. The new
/// content is read from byte 0, not from the middle of a line.
#[test]
fn a_file_truncated_and_refilled_while_stopped_is_read_from_the_start() {
    let dir = StateDir::new();
    let log = &dir.log;
    let l = dir.log_name();
    append(log, &vec![ws_line("/ws/old", 101, "0.001"); 4]);
    let args = dir.args(&[]);
    let sidecar = Sidecar::start(&args);
    append(log, &chat(5));
    sidecar.wait_value(CHAT, 5.0);
    assert!(sidecar.terminate().success());

    // Stopped: copytruncate, then more new bytes than the saved offset.
    copytruncate(log);
    append(
        log,
        &vec![ws_line("/ws/new-after-the-copy", 403, "0.002"); 20],
    );

    let sidecar = Sidecar::start(&args);
    let new = r#"nginxlog_ws_upgrade_requests_total{path="/ws/new-after-the-copy",status="403",answered_by="upstream"}"#;
    sidecar.wait_value(new, 20.0);
    let m = sidecar.metrics();
    assert_eq!(
        log_metric(&m, "nginxlog_lines_malformed_total", l),
        0.0,
        "{m}"
    );
    assert_eq!(log_metric(&m, "nginxlog_lines_read_total", l), 20.0, "{m}");
}
