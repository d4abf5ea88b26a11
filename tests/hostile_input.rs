//! Hostile input: random paths cannot grow series past the cap or memory without bound; random
//! bytes, NUL bytes, invalid UTF-8 and 1 MiB lines are counted as malformed; the lines around
//! them still count and the process keeps serving.

mod support;
use std::io::Write;
use support::*;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn million_random_paths_stay_at_the_cap() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).expect("create"));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            writeln!(f, "10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /probe/{x:x}z/{} HTTP/1.1\" 404 0 \"-\" \"scanner\"", x % 977).expect("write");
        }
    }
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&[
        "--format",
        "combined",
        "--access-log",
        &l,
        "--from-start",
        "--max-paths",
        "100",
    ]);
    // A million lines take 5-30 s in a debug build depending on the machine's load.
    sidecar.wait_value_within(
        &format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#),
        1_000_000.0,
        std::time::Duration::from_secs(120),
    );
    let m = sidecar.metrics();
    let paths: std::collections::BTreeSet<&str> = m
        .lines()
        .filter(|l| l.starts_with("nginxlog_http_requests_total{"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert_eq!(paths.len(), 101, "100 labels plus __other__");
    assert!(paths.contains("__other__"));
    assert_eq!(
        sample(&m, "nginxlog_path_overflow_total"),
        1_000_000.0 - 100.0
    );
    let rss = rss_kib(sidecar.pid());
    assert!(
        rss > 0 && rss < 64 * 1024,
        "RSS {rss} KiB after 1,000,000 distinct paths"
    );
}

#[test]
fn garbage_is_malformed_and_neighbours_count() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    append(&log, &[]);
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let good = ws_line("/ws/chat", 101, "0.002");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    let mut x: u32 = 7;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let b = (x >> 16) as u8;
            if b == b'\n' {
                0
            } else {
                b
            }
        })
        .collect();
    f.write_all(format!("{good}\n").as_bytes()).expect("w");
    f.write_all(&random).expect("w"); // 1 malformed line
    f.write_all(b"\n").expect("w");
    f.write_all(format!("{good}\n").as_bytes()).expect("w");
    f.write_all(&vec![b'A'; 1024 * 1024]).expect("w"); // oversized: 1 malformed
    f.write_all(b"\n").expect("w");
    f.write_all(b"\xff\xfe\x00 not utf-8 \x00\n").expect("w"); // 1 malformed
    let nul = good.replace("\"test\"", "\"te\0t\"");
    f.write_all(nul.as_bytes()).expect("w"); // NUL inside the user agent: the line still parses
    f.write_all(b"\n").expect("w");
    f.write_all(format!("{good}\n").as_bytes()).expect("w");
    drop(f);
    let series = r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#;
    sidecar.wait_value(&format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#), 7.0);
    let m = sidecar.metrics();
    assert_eq!(sample(&m, series), 4.0, "{m}");
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="{l}"}}"#)
        ),
        3.0,
        "{m}"
    );
    assert_eq!(fetch(sidecar.port, "/healthz").0, 200);
}
