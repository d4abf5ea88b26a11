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

/// The kernel's drop count for the UDP socket bound to 127.0.0.1:`port`, from /proc/net/udp.
fn proc_udp_drops(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(1) == Some(&local.as_str()))
            .then(|| cols.get(12)?.parse().ok())
            .flatten()
    })
}

/// A burst above a small receive buffer while the sidecar is stopped: the drops the kernel
/// counts are exported as `nginxlog_syslog_dropped_total`, and every datagram is either read
/// or dropped.
#[test]
fn udp_burst_above_receive_buffer_counts_kernel_drops() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let src = format!("syslog+udp://127.0.0.1:{port}");
    let sidecar = Sidecar::start(&[
        "--format",
        "combined",
        "--syslog-receive-buffer",
        "4096",
        "--access-log",
        &src,
    ]);
    let dropped = format!(r#"nginxlog_syslog_dropped_total{{log="{src}"}}"#);
    // The drop counter is read by its own thread, at start and then every 500 ms.
    wait_for(
        "the drop counter at 0",
        std::time::Duration::from_secs(5),
        || sidecar.metrics().contains(&format!("{dropped} 0")),
    );
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let pid = sidecar.pid().to_string();
    let signal = |s: &str| {
        let st = std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .expect("kill");
        assert!(st.success());
    };
    const SENT: u64 = 2_000;
    signal("-STOP");
    for i in 0..SENT {
        let line = format!("<190>Nov 28 01:53:32 web-1 nginx: 10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /burst/{i} HTTP/1.1\" 200 5 \"-\" \"t\"");
        tx.send_to(line.as_bytes(), ("127.0.0.1", port))
            .expect("send");
    }
    let kernel = proc_udp_drops(port).expect("socket in /proc/net/udp");
    signal("-CONT");
    assert!(
        kernel > 0,
        "a 4 KiB buffer must overflow with {SENT} datagrams"
    );
    eprintln!("sent {SENT} datagrams while stopped; the kernel dropped {kernel}");
    sidecar.wait_value(&dropped, kernel as f64);
    sidecar.wait_value(
        &format!(r#"nginxlog_lines_read_total{{log="{src}"}}"#),
        (SENT - kernel) as f64,
    );
    assert_eq!(
        proc_udp_drops(port),
        Some(kernel),
        "no drops after the burst"
    );
}
