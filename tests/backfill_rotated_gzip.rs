//! Rotated and gzipped history reads like the one file it was rotated from: the fixture log cut
//! into `access.log.2.gz` (two concatenated gzip members, as `gzip -c >>` writes),
//! `access.log.1` and `access.log`, given in shuffled order, backfills to the same OpenMetrics
//! samples as the single file, except `nginxlog_log_rotations_total`, which counts the two
//! rotations. Worker count does not change the output either.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

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

fn backfill(dir: &Path, access: &str, error: &str, extra: &[&str]) -> String {
    let out = Command::new(support::sidecar_bin())
        .current_dir(dir)
        .args(["backfill", "--format", "ws_timing", "--step", "1s"])
        .args([
            "--access-log",
            access,
            "--error-log",
            error,
            "--output",
            "-",
        ])
        .args(extra)
        .output()
        .expect("run backfill");
    assert!(
        out.status.success(),
        "backfill in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// Last value of every series.
fn last_values(om: &str) -> BTreeMap<String, String> {
    om.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.rsplitn(3, ' ');
            let _ts = parts.next()?;
            let v = parts.next()?;
            Some((parts.next()?.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn rotated_gzipped_shuffled_files_backfill_like_the_single_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    layout(tmp.path());
    let single = backfill(&tmp.path().join("single"), "access.log", "error.log", &[]);
    let rotated = backfill(
        &tmp.path().join("rotated"),
        "access.log.1,access.log,access.log.2.gz",
        "error.log,error.log.1.gz",
        &[],
    );
    let strip = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.contains("log_rotations"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert!(single.contains("nginxlog_ws_upgrade_requests_total"));
    assert_eq!(
        strip(&single),
        strip(&rotated),
        "rotated files must give the same samples"
    );
    let last = last_values(&rotated);
    assert_eq!(
        last.get("nginxlog_log_rotations_total{log=\"access.log\"}"),
        Some(&"2".to_string())
    );
    assert_eq!(
        last.get("nginxlog_log_rotations_total{log=\"error.log\"}"),
        Some(&"1".to_string())
    );
    assert_eq!(
        last.get("nginxlog_lines_read_total{log=\"access.log\"}"),
        Some(&"114".to_string())
    );
    let one_thread = backfill(
        &tmp.path().join("rotated"),
        "access.log.2.gz,access.log,access.log.1",
        "error.log.1.gz,error.log",
        &["--threads", "1"],
    );
    assert_eq!(
        one_thread, rotated,
        "output must not depend on threads or order"
    );
}
