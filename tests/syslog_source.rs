//! nginx's own `access_log syslog:server=...` output, received over UDP without a shared volume.

mod support;
use std::time::Duration;
use support::*;

#[test]
fn nginx_syslog_access_and_error_logs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = udp.local_addr().expect("addr").port();
    let eport = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    drop(udp);
    let extra = format!(
        "access_log syslog:server=127.0.0.1:{port},tag=nginx ws_timing;\n        error_log syslog:server=127.0.0.1:{eport} error;"
    );
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
            extra,
            error_level: "error",
            ..Default::default()
        },
    );
    let sidecar = Sidecar::start(&[
        "--format",
        "ws_timing",
        "--access-log",
        &format!("syslog+udp://127.0.0.1:{port}"),
        "--error-log",
        &format!("syslog+udp://127.0.0.1:{eport}"),
    ]);
    let base = format!("ws://127.0.0.1:{}", nginx.port);
    assert_eq!(
        ws_client(
            &format!("{base}/ws/chat?token=good"),
            Duration::from_millis(50)
        ),
        101
    );
    assert_eq!(
        ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO),
        403
    );
    assert_eq!(ws_client(&format!("{base}/denied/x"), Duration::ZERO), 403);
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#, 1.0);
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#, 1.0);
    sidecar.wait_value(
        r#"nginxlog_ws_upgrade_requests_total{path="/denied/x",status="403",answered_by="nginx"}"#,
        1.0,
    );
    sidecar.wait_value(r#"nginxlog_error_events_total{level="error",signature="access_forbidden_by_rule",path="/denied/x"}"#, 1.0);
    let m = sidecar.metrics();
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="syslog+udp://127.0.0.1:{port}"}}"#)
        ),
        0.0,
        "{m}"
    );
}
