//! The exposition of a real scrape: a real nginx proxies WebSocket and HTTP traffic (101s,
//! refusals, nginx's own 403 and 502, an error log), the sidecar tails it, and `promtool check
//! metrics` reports nothing on the full `/metrics`. With `Accept: application/openmetrics-text`
//! the same scrape comes as OpenMetrics (`# EOF`, counters named without `_total`, samples with
//! it); the process self-metrics and `nginxlog_build_info{version,revision}` are in both.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

/// `PROMTOOL`, `promtool` on PATH, or Debian's /usr/bin/promtool.
fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("promtool")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin/promtool")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("promtool is not installed (apt-get install prometheus, as .ci/run does, or set PROMTOOL=...): this test does not pass without it"))
}

/// GET with an `Accept` header; (content type, body).
fn get_accept(port: u16, path: &str, accept: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (ctype, body.to_string())
}

#[test]
fn promtool_accepts_a_full_scrape_and_openmetrics_is_served_on_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
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
    assert_eq!(http_get(nginx.port, "/api/users/7?token=secret"), 200);
    assert_eq!(http_get(nginx.port, "/down/x"), 502);
    sidecar.wait_value(
        r#"nginxlog_lines_read_total{log="ACCESS"}"#.replace("ACCESS", &access).as_str(),
        5.0,
    );
    support::wait_for("an error-log event", Duration::from_secs(15), || {
        sidecar
            .metrics()
            .lines()
            .any(|l| l.starts_with("nginxlog_error_events_total{"))
    });

    // Prometheus text: every family present, promtool silent.
    let (ctype, text) = get_accept(sidecar.port, "/metrics", "text/plain;version=0.0.4");
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "nginxlog_http_requests_total{",
        "nginxlog_http_request_duration_seconds_bucket{",
        "nginxlog_ws_upgrade_requests_total{",
        "nginxlog_ws_handshake_duration_seconds_bucket{",
        "nginxlog_ws_session_duration_seconds_bucket{",
        "nginxlog_error_events_total{",
        "nginxlog_build_info{version=\"",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
        "nginxlog_web_connections ",
        "nginxlog_web_connections_evicted_total{served=\"false\"} ",
        "nginxlog_web_connections_refused_total ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "no {family} in\n{text}"
        );
    }
    let revision = text
        .lines()
        .find(|l| l.starts_with("nginxlog_build_info{"))
        .and_then(|l| l.split("revision=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .expect("revision label");
    assert!(
        revision == "unknown" || revision.chars().all(|c| c.is_ascii_hexdigit()),
        "revision {revision:?}"
    );
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );

    // OpenMetrics, as Prometheus asks for it.
    let (ctype, om) = get_accept(
        sidecar.port,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    );
    assert_eq!(
        ctype,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "no # EOF at the end:\n{om}");
    assert_eq!(om.matches("# EOF").count(), 1);
    assert!(
        om.contains("# TYPE nginxlog_ws_upgrade_requests counter\n"),
        "{om}"
    );
    assert!(om.contains("# TYPE process_cpu_seconds counter\n"), "{om}");
    // The server's own connection families, rendered per scrape like the process metrics.
    assert!(
        om.contains("# TYPE nginxlog_web_connections_evicted counter\n")
            && om.contains("\nnginxlog_web_connections_refused_total 0\n"),
        "{om}"
    );
    assert!(om.contains("\nnginxlog_ws_upgrade_requests_total{path=\"/ws/chat\",status=\"101\",answered_by=\"upstream\"} 1\n"), "{om}");
    assert!(
        !om.contains("# TYPE nginxlog_ws_upgrade_requests_total"),
        "{om}"
    );
    // Every counter family's samples end in _total; nothing but metadata and samples.
    for l in om.lines() {
        if let Some(t) = l.strip_prefix("# TYPE ") {
            if let Some(name) = t.strip_suffix(" counter") {
                assert!(!name.ends_with("_total"), "{l}");
            }
        } else if !l.starts_with("# HELP ") && l != "# EOF" {
            assert!(
                !l.is_empty() && !l.starts_with('#'),
                "unexpected line {l:?}"
            );
        }
    }
    // Bucket bounds in canonical float form, as OpenMetrics requires (and Prometheus 3 stores).
    assert!(
        om.contains("nginxlog_ws_session_duration_seconds_bucket{path=\"/ws/chat\",le=\"1.0\"}"),
        "{om}"
    );
    assert!(!om.contains(",le=\"1\"}"), "{om}");
    // Each family's # HELP follows its # TYPE.
    let lines: Vec<&str> = om.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if let Some(h) = l.strip_prefix("# HELP ") {
            let name = h.split(' ').next().unwrap_or("");
            let prev = if i > 0 { lines[i - 1] } else { "" };
            assert!(
                prev.strip_prefix("# TYPE ")
                    .is_some_and(|t| t.split(' ').next() == Some(name)),
                "{l:?} does not follow its # TYPE (after {prev:?})"
            );
        }
    }
    // Without an OpenMetrics preference: Prometheus text, no # EOF.
    let (ctype, text) = get_accept(sidecar.port, "/metrics", "*/*");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    assert!(!text.contains("# EOF"));
}
