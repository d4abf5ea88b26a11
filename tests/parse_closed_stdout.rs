//! `nginxlog-sidecar parse FILE | head -1`, the README's own example: when the reader closes
//! the pipe, parse stops quietly with exit 0 (no "Broken pipe" error, no exit 2); with
//! `--strict`, a malformed line seen before the pipe closed still means exit 1.

mod support;

use std::process::Command;
use support::*;

#[test]
fn parse_into_head_exits_0_silently() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("access.log");
    // Far more than a pipe buffer and the writer's buffer, so parse is still writing when
    // head exits.
    let lines: Vec<String> = (0..20_000)
        .map(|i| ws_line(&format!("/ws/room{i}"), 101, "0.002"))
        .collect();
    append(&log, &lines);
    let script = format!(
        "set -o pipefail; '{}' parse --format ws_timing '{}' | head -1",
        sidecar_bin().display(),
        log.display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr:\n{stderr}",
        out.status.code()
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("{\"line\":1,") || stdout.contains("\"line\":1"),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "parse was not quiet:\n{stderr}");
}

#[test]
fn strict_parse_into_head_still_exits_1_after_a_malformed_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("access.log");
    let mut lines = vec!["this is not an nginx log line".to_string()];
    lines.extend((0..20_000).map(|i| ws_line(&format!("/ws/room{i}"), 101, "0.002")));
    append(&log, &lines);
    let script = format!(
        "set -o pipefail; '{}' parse --strict --format ws_timing '{}' | head -1 >/dev/null",
        sidecar_bin().display(),
        log.display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("run bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
