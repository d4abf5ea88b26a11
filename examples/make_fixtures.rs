//! Regenerates `fixtures/` with a real nginx (Debian's nginx-light) and real WebSocket traffic.
//!
//! `cargo run --example make_fixtures` (needs nginx; `.ci/run` installs it). It writes:
//! - `fixtures/{ws_timing,combined,main,json}/access.log`: one traffic mix logged by nginx in
//!   four formats at once, and `fixtures/ws_timing/error.log` (nginx at `info` level).
//! - `fixtures/broken-then-fixed/`: the same traffic through the broken `/ws/` location (no
//!   upgrade headers) and then through an nginx with the fixed location (`deploy/nginx`);
//!   `SPLIT` holds an RFC 3339 time between the two phases.
//!
//! The counts each phase produces are in `fixtures/README.md` (tests assert them).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

const JSON_FORMAT: &str = r#"escape=json '{"time_local":"$time_local","remote_addr":"$remote_addr","request":"$request","status":$status,"body_bytes_sent":$body_bytes_sent,"request_time":$request_time,"upstream_connect_time":"$upstream_connect_time","upstream_header_time":"$upstream_header_time","upstream_response_time":"$upstream_response_time","http_upgrade":"$http_upgrade","http_referer":"$http_referer","http_user_agent":"$http_user_agent"}'"#;

/// The traffic mix: returns a description of what was sent.
fn traffic(port: u16) {
    let base = format!("ws://127.0.0.1:{port}");
    for i in 0..6 {
        let hold = Duration::from_millis(200 + 150 * i);
        ws_client(&format!("{base}/ws/chat?token=good&session={i}"), hold);
    }
    for _ in 0..3 {
        ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO);
    }
    for _ in 0..2 {
        ws_client(
            &format!("{base}/ws/notifications?token=good"),
            Duration::from_millis(100),
        );
    }
    ws_client(&format!("{base}/denied/socket?token=good"), Duration::ZERO);
    for id in [17, 42, 42, 1001] {
        http_get(
            port,
            &format!("/api/users/{id}?token=eyJhbGciOiJIUzI1NiJ9.secret"),
        );
    }
    http_get(port, "/api/health");
    http_get(port, "/favicon.ico");
    http_get(port, "/down/status");
}

fn main() {
    let out = repo().join("fixtures");
    formats(&out);
    broken_then_fixed(&out.join("broken-then-fixed"));
    println!("fixtures written to {}", out.display());
}

fn formats(out: &Path) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let d = tmp.path().join("logs");
    let http_extra = format!(
        "log_format json {JSON_FORMAT};\n    access_log {d}/combined.log combined;\n    log_format main '$remote_addr - $remote_user [$time_local] \"$request\" '\n                    '$status $body_bytes_sent \"$http_referer\" '\n                    '\"$http_user_agent\" \"$http_x_forwarded_for\"';\n    access_log {d}/main.log main;\n    access_log {d}/json.log json;",
        d = d.display()
    );
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
            http_extra,
            error_level: "info",
            ..Default::default()
        },
    );
    traffic(nginx.port);
    std::thread::sleep(Duration::from_millis(500));
    drop(nginx);
    for (name, file) in [
        ("ws_timing", "access.log"),
        ("combined", "combined.log"),
        ("main", "main.log"),
        ("json", "json.log"),
    ] {
        std::fs::create_dir_all(out.join(name)).expect("mkdir");
        std::fs::copy(d.join(file), out.join(name).join("access.log")).expect("copy");
    }
    std::fs::copy(d.join("error.log"), out.join("ws_timing/error.log")).expect("copy");
}

fn broken_then_fixed(out: &Path) {
    std::fs::create_dir_all(out).expect("mkdir");
    let backend = Backend::start();
    let mut logs = Vec::new();
    let mut errors = Vec::new();
    let mut split = String::new();
    for (phase, broken) in [("broken", true), ("fixed", false)] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let nginx = Nginx::start(
            tmp.path(),
            &NginxSetup {
                backend: backend.port,
                broken_ws: broken,
                error_level: "error",
                ..Default::default()
            },
        );
        for _ in 0..3 {
            traffic(nginx.port);
        }
        std::thread::sleep(Duration::from_millis(500));
        drop(nginx);
        logs.push(std::fs::read(tmp.path().join("logs/access.log")).expect("read"));
        errors.push(std::fs::read(tmp.path().join("logs/error.log")).expect("read"));
        if phase == "broken" {
            std::thread::sleep(Duration::from_millis(1100));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs_f64();
            split = nginxlog_sidecar::parse::values::rfc3339(now.floor());
            std::thread::sleep(Duration::from_millis(1100));
        }
    }
    std::fs::write(out.join("access.log"), logs.concat()).expect("write");
    std::fs::write(out.join("error.log"), errors.concat()).expect("write");
    std::fs::write(out.join("SPLIT"), format!("{split}\n")).expect("write");
}
