//! `compare` over rotated, gzipped, shuffled files gives the same report as over the single
//! file (only the list of inputs differs).

mod support;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;

// The same layout as in `backfill_rotated_gzip.rs`.
/// Writes the fixture logs as one file each into `single/`, and rotated into `rotated/`.
fn layout(root: &Path) {
    let fx = support::repo().join("fixtures/broken-then-fixed");
    let access = std::fs::read_to_string(fx.join("access.log")).expect("fixture");
    let error = std::fs::read_to_string(fx.join("error.log")).expect("fixture");
    let single = root.join("single");
    let rotated = root.join("rotated");
    std::fs::create_dir_all(&single).expect("mkdir");
    std::fs::create_dir_all(&rotated).expect("mkdir");
    std::fs::write(single.join("access.log"), &access).expect("write");
    std::fs::write(single.join("error.log"), &error).expect("write");

    let lines: Vec<&str> = access.lines().collect();
    assert!(lines.len() > 90, "fixture too short");
    let join = |l: &[&str]| l.iter().map(|s| format!("{s}\n")).collect::<String>();
    let mut gz = Vec::new();
    for part in [&lines[..20], &lines[20..40]] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(join(part).as_bytes()).expect("gzip");
        gz.extend(e.finish().expect("gzip"));
    }
    std::fs::write(rotated.join("access.log.2.gz"), gz).expect("write");
    std::fs::write(rotated.join("access.log.1"), join(&lines[40..80])).expect("write");
    std::fs::write(rotated.join("access.log"), join(&lines[80..])).expect("write");

    let elines: Vec<&str> = error.lines().collect();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(join(&elines[..9]).as_bytes()).expect("gzip");
    std::fs::write(rotated.join("error.log.1.gz"), e.finish().expect("gzip")).expect("write");
    std::fs::write(rotated.join("error.log"), join(&elines[9..])).expect("write");
}

/// Runs `compare` in `dir` with `args` and returns its JSON report.
fn compare_json(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(support::sidecar_bin())
        .current_dir(dir)
        .arg("compare")
        .args(args)
        .output()
        .expect("run compare");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn compare(dir: &Path, access: &str, error: &str) -> Value {
    let split = support::repo().join("fixtures/broken-then-fixed/SPLIT");
    let split = format!("--split=@{}", split.display());
    compare_json(
        dir,
        &[
            "--format",
            "ws_timing",
            "--report-format",
            "json",
            "--access-log",
            access,
            "--error-log",
            error,
            &split,
        ],
    )
}

#[test]
fn rotated_gzipped_shuffled_files_compare_like_the_single_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    layout(tmp.path());
    let single = compare(&tmp.path().join("single"), "access.log", "error.log");
    let rot = compare(
        &tmp.path().join("rotated"),
        "access.log,access.log.2.gz,access.log.1",
        "error.log.1.gz,error.log",
    );
    for key in [
        "paths", "verdicts", "errors", "before", "after", "timeline", "split",
    ] {
        assert_eq!(single[key], rot[key], "{key} differs");
    }
    let chat = rot["paths"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["path"] == "/ws/chat"))
        .expect("/ws/chat");
    assert_eq!(chat["after"]["switched_101"], 18);
    let inputs = rot["inputs"].as_array().expect("inputs");
    assert_eq!(inputs.len(), 5);
    let gz: Vec<&str> = inputs
        .iter()
        .filter(|i| i["gzip"] == true)
        .filter_map(|i| i["path"].as_str())
        .collect();
    assert_eq!(gz, ["access.log.2.gz", "error.log.1.gz"]);
    let lines: u64 = inputs.iter().filter_map(|i| i["lines"].as_u64()).sum();
    assert_eq!(lines, 114 + 18);
}

/// A file whose format changes midway (`combined` until nginx was reloaded with `ws_timing`),
/// read without a log format: the format its first lines show holds for the whole file in
/// every parser thread, so the report does not depend on --threads.
#[test]
fn auto_format_is_fixed_per_file_whatever_the_threads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let ws = support::ws_line("/ws/chat", 101, "0.002");
    let combined = ws
        .split(" rt=")
        .next()
        .expect("combined prefix")
        .to_string();
    let mut text = String::new();
    for _ in 0..1_500 {
        text.push_str(&combined);
        text.push('\n');
    }
    for _ in 0..40_000 {
        text.push_str(&ws);
        text.push('\n');
    }
    std::fs::write(&log, text).expect("write");
    let log = log.display().to_string();
    let report = |threads: &str| {
        compare_json(
            tmp.path(),
            &[
                "--split",
                "2026-11-28T00:00:00Z",
                "--format",
                "json",
                "--threads",
                threads,
                "--access-log",
                &log,
            ],
        )
    };
    let one = report("1");
    assert_eq!(one["after"]["access_lines"], 41_500, "{one:#}");
    for threads in ["2", "4"] {
        assert_eq!(report(threads), one, "--threads {threads}");
    }
}
