//! A file in another format is reported, not silently mixed in: the command fails naming the
//! file and its first bad line, and writes nothing. A few malformed lines in a good file are
//! counted (`nginxlog_lines_malformed_total`) and listed on stderr as `FILE:LINE: reason`,
//! without their content (it may carry tokens).

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn backfill(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::sidecar_bin())
        .current_dir(dir)
        .args(["backfill", "--format", "ws_timing"])
        .args(args)
        .output()
        .expect("run backfill")
}

fn ws_line(sec: u32) -> String {
    format!(
        "127.0.0.1 - - [29/Nov/2026:02:{:02}:{:02} +0000] \"GET /ws/chat?token=s3cret HTTP/1.1\" 101 0 \"-\" \"t\" rt=1.000 uct=\"0.000\" uht=\"0.002\" urt=\"1.000\" upgrade=\"websocket\"\n",
        sec / 60 % 60,
        sec % 60
    )
}

#[test]
fn a_log_in_another_format_is_named_with_its_first_bad_line() {
    let fx = support::repo().join("fixtures");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out.om");
    let json = fx.join("json/access.log");
    let o = backfill(
        tmp.path(),
        &[
            "--access-log",
            fx.join("ws_timing/access.log").to_str().expect("utf8"),
            "--access-log",
            json.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "must fail: {err}");
    assert!(err.contains("json/access.log"), "names the file: {err}");
    assert!(err.contains("line 1:"), "names the first bad line: {err}");
    assert!(!out.exists(), "nothing written");

    // An error log given as an access log, and the other way round.
    let o = backfill(
        tmp.path(),
        &[
            "--access-log",
            fx.join("ws_timing/error.log").to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("ws_timing/error.log"),
        "{err}"
    );
    let o = backfill(
        tmp.path(),
        &[
            "--error-log",
            fx.join("ws_timing/access.log").to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("not nginx error-log lines"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_format_change_later_in_the_file_fails_after_the_read() {
    // The first lines pass the probe, but most of the file is another format.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    for s in 0..1200 {
        text.push_str(&ws_line(s));
    }
    for _ in 0..3000 {
        text.push_str(
            "::1 - - [29/Nov/2026:03:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n",
        );
    }
    std::fs::write(tmp.path().join("access.log"), text).expect("write");
    let o = backfill(
        tmp.path(),
        &["--access-log", "access.log", "--output", "out.om"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "must fail: {err}");
    assert!(
        err.contains("access.log: 3000 of 4200 lines did not parse (first: line 1201:"),
        "{err}"
    );
    assert!(!tmp.path().join("out.om").exists(), "nothing written");
}

#[test]
fn a_few_bad_lines_are_counted_and_listed_without_content() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    for s in 0..50 {
        text.push_str(&ws_line(s));
        if s == 9 || s == 30 {
            text.push_str("garbage with token=s3cret\n");
        }
    }
    std::fs::write(tmp.path().join("access.log"), text).expect("write");
    let o = backfill(tmp.path(), &["--access-log", "access.log", "--output", "-"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("access.log:11: "), "{err}");
    assert!(err.contains("access.log:33: "), "{err}");
    assert!(
        err.contains("access.log: 2 of 52 lines did not parse"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "line content never printed: {err}");
    let om = String::from_utf8_lossy(&o.stdout);
    let last = om
        .lines()
        .rfind(|l| l.starts_with("nginxlog_lines_malformed_total{log=\"access.log\"}"))
        .expect("malformed counter");
    assert!(last.contains("} 2 "), "{last}");
    assert!(!om.contains("s3cret"));
}
