//! A line written in two pieces is held until its newline arrives: counted once, never malformed.

mod support;
use std::io::Write;
use support::*;

#[test]
fn partial_line_is_held_until_complete() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let line = ws_line("/ws/chat", 101, "0.002");
    let (head, tail) = line.split_at(60);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    f.write_all(head.as_bytes()).expect("write head");
    f.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let m = sidecar.metrics();
    assert_eq!(
        sample(&m, &format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#)),
        0.0,
        "{m}"
    );
    f.write_all(format!("{tail}\n").as_bytes())
        .expect("write tail");
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#, 1.0);
    assert_eq!(
        sidecar.value(&format!(r#"nginxlog_lines_malformed_total{{log="{l}"}}"#)),
        0.0
    );
}
