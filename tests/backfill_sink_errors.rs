//! A backfill that cannot be written fails with the reason and exit 2, and leaves no output file
//! behind: the sink's error stops the read (it is returned by the sink, not kept aside).

mod support;
use std::process::Command;

#[test]
fn too_many_steps_fails_at_once_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let line = |t: &str| format!("127.0.0.1 - - [{t}] \"GET /a HTTP/1.1\" 200 1 \"-\" \"ua\"\n");
    // A year apart: 31.5 M steps of 1 s, more than backfill keeps.
    let mut text = line("28/Nov/2025:01:53:32 +0000");
    for _ in 0..1000 {
        text.push_str(&line("28/Nov/2026:01:53:32 +0000"));
    }
    std::fs::write(&log, text).expect("write");
    let out = dir.path().join("backfill.om");
    let backfill = |step: &str| {
        Command::new(support::sidecar_bin())
            .args([
                "backfill",
                "--format",
                "combined",
                "--step",
                step,
                "--access-log",
            ])
            .arg(&log)
            .arg("--output")
            .arg(&out)
            .output()
            .expect("run backfill")
    };
    let o = backfill("1s");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the logs span more than 20000000 steps of 1s: use a larger --step"),
        "{err}"
    );
    assert!(!out.exists(), "a failed backfill left {}", out.display());
    // The same logs with a step that fits are written.
    let o = backfill("1h");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&out)
        .expect("output")
        .ends_with("# EOF\n"));
}
