//! The follower, through the real binary, with two things operators do to logs: a rotation
//! whose new file the sidecar cannot read for a while (`chmod 000`, then readable again), and a
//! symlinked log re-pointed to a new file (`ln -sfn`). Every line is counted exactly once, the
//! sidecar keeps running, and an unreadable file is logged, not fatal.

mod support;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn upgrades(path: &str) -> String {
    format!(
        r#"nginxlog_ws_upgrade_requests_total{{path="{path}",status="101",answered_by="upstream"}}"#
    )
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Root reads any file whatever its mode, so the sidecar runs as `nobody` (as the container
/// image does) for `chmod 000` to mean anything.
#[test]
fn new_file_unreadable_after_rotation_then_readable_is_read_once() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test needs root (to run the sidecar as nobody with setpriv); CI runs as root"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    chmod(tmp.path(), 0o777);
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    chmod(&log, 0o644);
    let l = log.display().to_string();
    let port = free_port();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(sidecar_bin())
        .args(["run", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--poll-interval", "20ms", "--format", "ws_timing"])
        .args(["--access-log", &l])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sidecar as nobody");
    wait_for("sidecar /readyz", Duration::from_secs(10), || {
        fetch(port, "/readyz").0 == 200
    });
    let value = |s: &str| sample(&fetch(port, "/metrics").1, s);

    append(&log, &vec![ws_line("/ws/old", 101, "0.001"); 2]);
    wait_for("the first lines", Duration::from_secs(10), || {
        value(&upgrades("/ws/old")) == 2.0
    });
    // Rotated; the new file is created unreadable, and nginx writes to it.
    let rotated = tmp.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    append(&rotated, &vec![ws_line("/ws/old", 101, "0.001"); 3]); // before nginx reopens
    append(&log, &[]);
    chmod(&log, 0o000);
    append(&log, &vec![ws_line("/ws/new", 101, "0.001"); 4]);
    wait_for("the old file drained", Duration::from_secs(10), || {
        value(&upgrades("/ws/old")) == 5.0
    });
    std::thread::sleep(Duration::from_secs(1)); // about 50 polls of the unreadable file
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the sidecar exited on an unreadable log"
    );
    assert_eq!(value(&upgrades("/ws/new")), 0.0);
    chmod(&log, 0o644);
    wait_for(
        "the new file, once readable",
        Duration::from_secs(10),
        || value(&upgrades("/ws/new")) == 4.0,
    );
    append(&log, &vec![ws_line("/ws/new", 101, "0.001"); 1]);
    wait_for("a later line", Duration::from_secs(10), || {
        value(&upgrades("/ws/new")) == 5.0
    });
    std::thread::sleep(Duration::from_millis(500));
    let m = fetch(port, "/metrics").1;
    assert_eq!(sample(&m, &upgrades("/ws/old")), 5.0, "{m}");
    assert_eq!(sample(&m, &upgrades("/ws/new")), 5.0, "{m}");
    assert_eq!(log_metric(&m, "nginxlog_lines_read_total", &l), 10.0, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_lines_malformed_total", &l),
        0.0,
        "{m}"
    );
    let err = terminate_and_stderr(child);
    assert!(
        err.contains("cannot open log file") && err.contains("access.log"),
        "no warning naming the unreadable file:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// `access.log -> a.log`, then `ln -sfn b.log access.log` (a deploy that switches log
/// directories): the new target is followed, and what the old target still gets before its
/// writer moves on is read too.
#[test]
fn symlinked_log_whose_target_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a.log"), tmp.path().join("b.log"));
    let link = tmp.path().join("access.log");
    append(&a, &[]);
    std::os::unix::fs::symlink(&a, &link).expect("symlink");
    let l = link.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    append(&a, &vec![ws_line("/ws/a", 101, "0.001"); 2]);
    sidecar.wait_value(&upgrades("/ws/a"), 2.0);

    append(&b, &vec![ws_line("/ws/b", 101, "0.001"); 3]);
    let st = Command::new("ln")
        .arg("-sfn")
        .arg(&b)
        .arg(&link)
        .status()
        .expect("ln");
    assert!(st.success());
    append(&a, &vec![ws_line("/ws/a", 101, "0.001"); 1]); // the old writer's last line
    sidecar.wait_value(&upgrades("/ws/b"), 3.0);
    sidecar.wait_value(&upgrades("/ws/a"), 3.0);
    append(&b, &vec![ws_line("/ws/b", 101, "0.001"); 2]);
    sidecar.wait_value(&upgrades("/ws/b"), 5.0);
    std::thread::sleep(Duration::from_millis(500));
    let m = sidecar.metrics();
    assert_eq!(sample(&m, &upgrades("/ws/a")), 3.0, "{m}");
    assert_eq!(sample(&m, &upgrades("/ws/b")), 5.0, "{m}");
    assert_eq!(log_metric(&m, "nginxlog_lines_read_total", &l), 8.0, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_log_rotations_total", &l),
        1.0,
        "{m}"
    );
}
