//! End to end: a real nginx proxies real WebSocket handshakes to a real backend; the sidecar
//! tails nginx's logs and must report exact counts per path, status and `answered_by`.

mod support;
use std::time::Duration;
use support::*;

#[test]
fn upgrade_outcomes_from_real_nginx() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
            error_level: "info",
            ..Default::default()
        },
    );
    let access = nginx.access_log().display().to_string();
    let error = nginx.error_log().display().to_string();
    let sidecar = Sidecar::start(&[
        "--format",
        "ws_timing",
        "--access-log",
        &access,
        "--error-log",
        &error,
    ]);

    let base = format!("ws://127.0.0.1:{}", nginx.port);
    for _ in 0..3 {
        assert_eq!(
            ws_client(
                &format!("{base}/ws/chat?token=good"),
                Duration::from_millis(150)
            ),
            101
        );
    }
    for _ in 0..2 {
        assert_eq!(
            ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO),
            403
        );
    }
    // The misconfigured location: the backend never sees the upgrade and answers 426.
    for _ in 0..2 {
        assert_eq!(
            ws_client(&format!("{base}/broken/chat?token=good"), Duration::ZERO),
            426
        );
    }
    assert_eq!(
        ws_client(&format!("{base}/denied/chat?token=good"), Duration::ZERO),
        403
    );
    for id in [123, 456] {
        assert_eq!(
            http_get(nginx.port, &format!("/api/users/{id}?token=secret")),
            200
        );
    }

    let up = "nginxlog_ws_upgrade_requests_total";
    sidecar.wait_value(
        &format!(r#"{up}{{path="/ws/chat",status="101",answered_by="upstream"}}"#),
        3.0,
    );
    sidecar.wait_value(
        &format!(r#"{up}{{path="/ws/chat",status="403",answered_by="upstream"}}"#),
        2.0,
    );
    sidecar.wait_value(
        &format!(r#"{up}{{path="/broken/chat",status="426",answered_by="upstream"}}"#),
        2.0,
    );
    sidecar.wait_value(
        &format!(r#"{up}{{path="/denied/chat",status="403",answered_by="nginx"}}"#),
        1.0,
    );
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/api/users/:id",method="GET",status="200"}"#,
        2.0,
    );
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/ws/chat",method="GET",status="101"}"#,
        3.0,
    );
    sidecar.wait_value(
        r#"nginxlog_ws_handshake_duration_seconds_count{path="/ws/chat"}"#,
        5.0,
    );
    sidecar.wait_value(
        r#"nginxlog_ws_session_duration_seconds_count{path="/ws/chat"}"#,
        3.0,
    );
    sidecar.wait_value(
        r#"nginxlog_error_events_total{level="error",signature="access_forbidden_by_rule",path="/denied/chat"}"#,
        1.0,
    );

    let m = sidecar.metrics();
    // Sessions were held >= 150 ms: the session histogram must not count them as instant.
    assert_eq!(
        sample(
            &m,
            r#"nginxlog_ws_session_duration_seconds_bucket{path="/ws/chat",le="1"}"#
        ),
        3.0
    );
    assert!(
        sample(
            &m,
            r#"nginxlog_ws_session_duration_seconds_sum{path="/ws/chat"}"#
        ) >= 0.45,
        "{m}"
    );
    // Upgrade attempts (101 or refused) never enter the HTTP duration histogram (docs/architecture.md,
    // "Values"); they are in the handshake and session histograms.
    assert!(
        !m.contains(r#"nginxlog_http_request_duration_seconds_count{path="/ws/chat"}"#),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="{access}"}}"#)
        ),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_read_total{{log="{access}"}}"#)
        ),
        10.0
    );
    assert!(!m.contains("token"), "a query string reached a label:\n{m}");
    assert!(
        !m.contains("secret"),
        "a query string reached a label:\n{m}"
    );
    assert!(sidecar.terminate().success());
}
