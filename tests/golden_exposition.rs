//! Golden exposition: `run --once` over `fixtures/ws_timing` prints exactly
//! `tests/golden/run_once_ws_timing.prom` (families, HELP and TYPE texts, label sets, order and
//! values), so any change to the metric contract shows up as a diff to review. The sidecar's
//! version is replaced by `VERSION` and the git revision by `REVISION`. To accept a deliberate change:
//! `UPDATE_GOLDEN=1 cargo test --test golden_exposition`.

mod support;

use std::process::Command;

#[test]
fn run_once_exposition_matches_the_golden_file() {
    let out = Command::new(support::sidecar_bin())
        .current_dir(support::repo().join("fixtures/ws_timing"))
        .args(["run", "--once", "--format", "ws_timing"])
        .args(["--access-log", "access.log", "--error-log", "error.log"])
        .output()
        .expect("run sidecar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).expect("utf8").replace(
        &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
        "version=\"VERSION\"",
    );
    // The git revision changes with every commit.
    let got = regex::Regex::new(r#"revision="[^"]*""#)
        .expect("regex")
        .replace_all(&got, r#"revision="REVISION""#)
        .into_owned();
    let golden = support::repo().join("tests/golden/run_once_ws_timing.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (w, g))| w != g)
            .take(10)
            .map(|(i, (w, g))| format!("line {}:\n  golden: {w}\n  now:    {g}", i + 1))
            .collect();
        panic!(
            "exposition differs from {} ({} vs {} lines); first differences:\n{}\n\
             If the change is intended: UPDATE_GOLDEN=1 cargo test --test golden_exposition",
            golden.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}
