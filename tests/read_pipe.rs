//! `--access-log -`: lines piped on stdin are counted; the sidecar keeps serving after EOF.

mod support;
use std::io::Write;
use std::process::{Command, Stdio};
use support::*;

#[test]
fn stdin_source() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nginxlog-sidecar"))
        .args([
            "--format",
            "ws_timing",
            "--access-log",
            "-",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for _ in 0..4 {
            writeln!(stdin, "{}", ws_line("/ws/pipe", 101, "0.003")).expect("write");
        }
        writeln!(stdin, "not a log line").expect("write");
    }
    wait_for(
        "4 upgrades from stdin",
        std::time::Duration::from_secs(10),
        || {
            sample(
                &fetch(port, "/metrics").1,
                r#"nginxlog_ws_upgrade_requests_total{path="/ws/pipe",status="101",answered_by="upstream"}"#,
            ) == 4.0
        },
    );
    let m = fetch(port, "/metrics").1;
    assert_eq!(
        sample(&m, r#"nginxlog_lines_malformed_total{log="-"}"#),
        1.0,
        "{m}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
