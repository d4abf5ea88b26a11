//! A line counts the same in every mode at the framing edges: `run --once` (streaming framer)
//! and `backfill` (chunked history reader) agree on a line of exactly `--max-line-bytes` that
//! ends in CRLF (a line), one byte longer (oversized, malformed), and a last line without `\n`.

mod support;

use std::process::Command;

fn sidecar(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(support::sidecar_bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run sidecar");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// The value of `series` in the exposition, or the last sample of it in an OpenMetrics backfill.
fn last_value(text: &str, series: &str) -> f64 {
    text.lines()
        .rev()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .filter_map(|rest| rest.split(' ').next()?.parse::<f64>().ok())
        .next()
        .unwrap_or_else(|| panic!("{series} missing in:\n{text}"))
}

#[test]
fn crlf_at_the_limit_counts_the_same_in_run_and_backfill() {
    let fixture = std::fs::read_to_string(support::repo().join("fixtures/ws_timing/access.log"))
        .expect("fixture");
    let line = fixture.lines().next().expect("a line");
    let limit = line.len();
    let dir = tempfile::tempdir().expect("tempdir");
    // At the limit with CRLF; at the limit with LF; one byte over with CRLF; unterminated last.
    let long = line.replacen("GET /ws/chat", "GET /ws/chatt", 1);
    let body = format!("{line}\r\n{line}\n{long}\r\n{line}");
    std::fs::write(dir.path().join("access.log"), body).expect("write log");
    let max = limit.to_string();
    let common = [
        "--format",
        "ws_timing",
        "--max-line-bytes",
        &max,
        "--access-log",
        "access.log",
    ];
    let once = sidecar(dir.path(), &[&["run", "--once"][..], &common].concat());
    let backfill = sidecar(
        dir.path(),
        &[&["backfill", "--output", "-"][..], &common].concat(),
    );
    for (mode, text) in [("run --once", &once), ("backfill", &backfill)] {
        let read = last_value(text, r#"nginxlog_lines_read_total{log="access.log"}"#);
        let bad = last_value(text, r#"nginxlog_lines_malformed_total{log="access.log"}"#);
        assert_eq!((read, bad), (4.0, 1.0), "{mode}: lines read, malformed");
        let up = last_value(
            text,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#,
        );
        assert_eq!(
            up, 3.0,
            "{mode}: the three lines within the limit are parsed"
        );
    }
}
