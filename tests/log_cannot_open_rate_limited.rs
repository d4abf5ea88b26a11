//! A log the sidecar cannot open (permissions) is retried at every poll, but "cannot open log
//! file; will retry" is logged once, not at every retry; once readable it is followed. Runs the
//! sidecar as `nobody` (needs root for that; skipped with a printed reason otherwise).

mod support;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

#[test]
fn cannot_open_warning_is_rate_limited_and_the_log_is_followed_once_readable() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("SKIPPED cannot_open_warning_is_rate_limited: not root (needs setpriv to run as nobody)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let l = log.display().to_string();
    let port = free_port();
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(sidecar_bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--poll-interval",
            "20ms",
        ])
        .args(["--format", "ws_timing", "--access-log", &l])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sidecar as nobody");
    wait_for("sidecar /readyz", Duration::from_secs(10), || {
        fetch(port, "/readyz").0 == 200
    });

    // Rotated; the new file is not readable by the sidecar's user.
    std::fs::rename(&log, tmp.path().join("access.log.1")).expect("rotate");
    append(&log, &vec![ws_line("/ws/a", 101, "0.001"); 3]);
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::thread::sleep(Duration::from_secs(2)); // about 100 retries at --poll-interval 20ms
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let series =
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/a",status="101",answered_by="upstream"}"#;
    wait_for(
        "the readable log is followed",
        Duration::from_secs(10),
        || sample(&fetch(port, "/metrics").1, series) == 3.0,
    );
    let err = terminate_and_stderr(child);
    let warnings = err.matches("cannot open log file; will retry").count();
    assert_eq!(warnings, 1, "{err}");
}
