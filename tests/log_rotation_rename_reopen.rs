//! logrotate `create` + nginx `USR1` with a real nginx, mid-traffic: every request is counted
//! exactly once, including those nginx wrote to the renamed file before reopening.

mod support;
use support::*;

#[test]
fn rename_and_usr1_loses_and_repeats_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
            error_level: "error",
            ..Default::default()
        },
    );
    let access = nginx.access_log();
    let a = access.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &a]);
    let series = r#"nginxlog_http_requests_total{path="/api/items/:id",method="GET",status="200"}"#;

    for i in 0..20 {
        assert_eq!(http_get(nginx.port, &format!("/api/items/{i}")), 200);
    }
    sidecar.wait_value(series, 20.0);
    // Rename: nginx keeps writing to the renamed file until USR1.
    std::fs::rename(&access, tmp.path().join("logs/access.log.1")).expect("rename");
    for i in 0..15 {
        assert_eq!(http_get(nginx.port, &format!("/api/items/{i}")), 200);
    }
    nginx.signal("USR1");
    wait_for(
        "nginx to reopen the access log",
        std::time::Duration::from_secs(10),
        || access.exists(),
    );
    for i in 0..25 {
        assert_eq!(http_get(nginx.port, &format!("/api/items/{i}")), 200);
    }
    sidecar.wait_value(series, 60.0);
    sidecar.wait_value(
        &format!(r#"nginxlog_log_rotations_total{{log="{a}"}}"#),
        1.0,
    );
    // Nothing is counted twice after the old file has been drained and closed.
    std::thread::sleep(std::time::Duration::from_millis(5500));
    assert_eq!(sidecar.value(series), 60.0);
    assert_eq!(
        sidecar.value(&format!(r#"nginxlog_lines_malformed_total{{log="{a}"}}"#)),
        0.0
    );
}

/// logrotate renamed the log and created a new one, but nginx got its USR1 only after a quiet
/// spell longer than the drain grace: it kept writing to the old file meanwhile. The old file
/// stays open until the new one receives data, so those lines are not lost.
#[test]
fn the_old_file_is_read_until_nginx_writes_to_the_new_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let series = |p: &str| {
        format!(
            r#"nginxlog_ws_upgrade_requests_total{{path="{p}",status="101",answered_by="upstream"}}"#
        )
    };
    append(&log, &vec![ws_line("/ws/a", 101, "0.001"); 2]);
    sidecar.wait_value(&series("/ws/a"), 2.0);
    let rotated = tmp.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rename");
    append(&log, &[]); // logrotate `create`
    std::thread::sleep(std::time::Duration::from_millis(6500)); // longer than the 5 s grace
    append(&rotated, &vec![ws_line("/ws/late-in-old", 101, "0.001"); 5]); // before USR1
    append(&log, &vec![ws_line("/ws/new", 101, "0.001"); 5]); // after USR1
    sidecar.wait_value(&series("/ws/new"), 5.0);
    sidecar.wait_value(&series("/ws/late-in-old"), 5.0);
    assert_eq!(
        sidecar.value(&format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#)),
        12.0
    );
}
