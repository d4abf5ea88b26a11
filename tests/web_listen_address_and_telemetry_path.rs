//! `--web.listen-address` is repeatable and `:PORT` binds every interface (reachable on
//! loopback); `--web.telemetry-path` moves the metrics endpoint (the old path is 404, the
//! landing page links to the new one).

mod support;

use support::*;

#[test]
fn listen_on_two_addresses_one_of_them_any_interface() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("access.log");
    append(&log, &[ws_line("/ws/chat", 101, "0.002")]);
    let any_port = free_port();
    let log_arg = log.display().to_string();
    let any = format!(":{any_port}");
    // Sidecar::start listens on 127.0.0.1:<its port> with --listen; the alias adds a second one.
    let sidecar = Sidecar::start(&[
        "--web.listen-address",
        &any,
        "--web.telemetry-path",
        "/probe/metrics",
        "--access-log",
        &log_arg,
        "--from-start",
        "--format",
        "ws_timing",
    ]);
    for port in [sidecar.port, any_port] {
        let (status, body) = fetch(port, "/probe/metrics");
        assert_eq!(status, 200, "port {port}");
        assert!(
            body.contains(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"} 1"#),
            "{body}"
        );
        assert_eq!(
            fetch(port, "/metrics").0,
            404,
            "port {port}: /metrics moved"
        );
        assert_eq!(fetch(port, "/healthz").0, 200);
        let (_, landing) = fetch(port, "/");
        assert!(landing.contains("href=\"/probe/metrics\""), "{landing}");
    }
    // :PORT is every interface: IPv6 loopback reaches it too where the host has IPv6.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert!(
            std::net::TcpStream::connect(("::1", any_port)).is_ok(),
            ":{any_port} does not accept on [::1]"
        );
    }
}
