//! SIGTERM while the sidecar is catching up on a large backlog (`--from-start`, or a restart far
//! behind its checkpoint) exits within 5 s instead of reading to the end first; the checkpoint
//! covers only the lines fed, so the restart reads the rest: every line once.

mod support;
use std::io::Write;
use std::time::{Duration, Instant};
use support::*;

const LINES: u64 = 1_000_000;

#[test]
fn sigterm_during_a_large_catch_up_exits_within_5s_and_the_restart_reads_the_rest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let state = tmp.path().join("state.json");
    // Fixed-length lines, so the saved offset tells how many lines the first run read.
    let line = "1.2.3.4 - - [28/Nov/2026:01:53:32 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"x\"\n";
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&log).expect("create"));
        for _ in 0..LINES {
            w.write_all(line.as_bytes()).expect("write");
        }
        w.flush().expect("flush");
    }
    let (l, s) = (log.display().to_string(), state.display().to_string());
    let args = [
        "--format",
        "combined",
        "--access-log",
        &l,
        "--state-file",
        &s,
        "--from-start",
    ];
    let sidecar = Sidecar::start(&args);
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &sidecar.pid().to_string()])
        .status();
    let exited = {
        let mut s = sidecar;
        loop {
            if s.try_exited() {
                break start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit 30 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(
        exited < Duration::from_secs(5),
        "exit took {exited:?} after SIGTERM"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state file")).expect("json");
    let offset = saved["files"][&l]["offset"].as_u64().expect("offset");
    assert_eq!(
        offset % line.len() as u64,
        0,
        "offset {offset} is not at a line end"
    );
    let first = offset / line.len() as u64;
    assert!(
        first < LINES,
        "the first run read everything: nothing tested"
    );

    let sidecar = Sidecar::start(&args);
    let series = format!("nginxlog_lines_read_total{{log=\"{l}\"}}");
    sidecar.wait_value_within(&series, (LINES - first) as f64, Duration::from_secs(120));
}
