//! `backfill` output goes into a real Prometheus: `promtool tsdb create-blocks-from openmetrics`
//! accepts it, and a Prometheus started on the created blocks answers PromQL for the 403 (and
//! 101) counts and rates before and after the fix with the values of
//! `fixtures/broken-then-fixed/` (fixtures/README.md): before the split, 33 upgrade attempts on
//! `/ws/*`, all 403; after it, 24 x 101 and 9 x 403.
//!
//! Needs Debian's `prometheus` package (promtool and prometheus; `.ci/run` installs it), or
//! `PROMTOOL=` / `PROMETHEUS=`. Without them the test fails: it never skips.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tool(env: &str, name: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin").join(name)])
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "{name} is not installed (not on PATH, not in /usr/bin): install Debian's prometheus \
             package (.ci/run does) or set {env}=/path/to/{name}. This test does not pass without it."
        )
    })
}

/// A Prometheus serving a TSDB directory on a free loopback port; killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(data: &Path, dir: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1h\nscrape_configs: []\n",
        )
        .expect("write config");
        let log = dir.join("prometheus.log");
        let port = support::free_port();
        let child = Command::new(tool("PROMETHEUS", "prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { child, port, log };
        let start = Instant::now();
        while support::fetch(port, "/-/ready").0 != 200 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "Prometheus not ready after 30 s:\n{}",
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// The value of a scalar-or-single-sample instant query at `time` (0 when the vector is empty).
    fn value(&self, q: &str, time: f64) -> f64 {
        let target = format!("/api/v1/query?query={}&time={time}", encode(q));
        let (status, body) = support::fetch(self.port, &target);
        assert_eq!(status, 200, "{q}: HTTP {status}: {body}");
        let body = body.split_once("\r\n\r\n").map_or(body.as_str(), |b| b.1);
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["status"], "success", "{q}: {v}");
        let data = &v["data"];
        let pair = match data["resultType"].as_str() {
            Some("scalar") => data["result"].clone(),
            Some("vector") => match data["result"].as_array().map(Vec::as_slice) {
                Some([]) => return 0.0,
                Some([one]) => one["value"].clone(),
                other => panic!("{q}: expected one sample, got {other:?}"),
            },
            other => panic!("{q}: unexpected result type {other:?}"),
        };
        pair[1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{q}: no number in {pair}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn promtool_accepts_backfill_and_prometheus_answers_before_and_after() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fx = support::repo().join("fixtures/broken-then-fixed");
    let om = tmp.path().join("history.om");
    let out = Command::new(support::sidecar_bin())
        .args(["backfill", "--format", "ws_timing", "--step", "1s"])
        .arg("--access-log")
        .arg(fx.join("access.log"))
        .arg("--error-log")
        .arg(fx.join("error.log"))
        .arg("--output")
        .arg(&om)
        .output()
        .expect("run backfill");
    assert!(
        out.status.success(),
        "backfill failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&om).expect("output written");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert!(text.contains("# TYPE nginxlog_ws_upgrade_requests counter\n"));
    assert!(
        !tmp.path().join("history.om.tmp").exists(),
        "temp file renamed"
    );

    let data = tmp.path().join("data");
    create_blocks(&om, &data);

    let split: f64 = 1_795_918_618.0; // fixtures/broken-then-fixed/SPLIT, 2026-11-29T02:16:58Z
    let split_text = std::fs::read_to_string(fx.join("SPLIT")).expect("SPLIT");
    assert_eq!(split_text.trim(), "2026-11-29T02:16:58Z");
    let end = split + 60.0; // after the last line (02:17:10), within the 5 m lookback

    let prom = Prometheus::start(&data, tmp.path());
    let sel = |status: &str| {
        format!("nginxlog_ws_upgrade_requests_total{{path=~\"/ws/.*\",status=\"{status}\"}}")
    };
    let ws = |status: &str| format!("sum({})", sel(status));
    // Counts as of the split (the "before" phase) and after everything.
    assert_eq!(prom.value(&ws("403"), split), 33.0);
    assert_eq!(prom.value(&ws("101"), split), 0.0);
    assert_eq!(prom.value(&ws("403"), end), 42.0);
    assert_eq!(prom.value(&ws("101"), end), 24.0);
    // After the split alone: the increase between the two instants, and as a rate per second.
    let d = end - split;
    // (`or vector(0)`: before its first 101 a series does not exist, so its sum is empty.)
    let after = |s: &str| format!("{} - (sum({} offset {d}s) or vector(0))", ws(s), sel(s));
    assert_eq!(prom.value(&after("403"), end), 9.0);
    assert_eq!(prom.value(&after("101"), end), 24.0);
    let rate = prom.value(&format!("({}) / {d}", after("403")), end);
    assert!(
        (rate - 9.0 / d).abs() < 1e-9,
        "403 rate after the split: {rate}"
    );
    // Prometheus's own rate(): 403s are arriving at the split, 101s are not yet.
    assert!(prom.value(&format!("sum(rate({}[5s]))", sel("403")), split) > 0.0);
    assert_eq!(
        prom.value(&format!("sum(rate({}[5s]))", sel("101")), split),
        0.0
    );
    // Before: every /ws/ attempt refused by the backend, nginx's own deny separate.
    assert_eq!(
        prom.value(
            "sum(nginxlog_ws_upgrade_requests_total{path=~\"/ws/.*\",status=\"403\",answered_by=\"upstream\"})",
            split
        ),
        33.0
    );
    assert_eq!(
        prom.value(
            "sum(nginxlog_ws_upgrade_requests_total{path=\"/denied/socket\",answered_by=\"nginx\"})",
            end
        ),
        6.0
    );
    // The histogram and error-log families made it too.
    assert_eq!(
        prom.value(
            "sum(nginxlog_ws_session_duration_seconds_count{path=~\"/ws/.*\"})",
            end
        ),
        24.0
    );
    assert_eq!(
        prom.value(
            "sum(nginxlog_error_events_total{signature=\"upstream_connect_refused\"})",
            end
        ),
        6.0
    );
    assert_eq!(
        prom.value("sum(nginxlog_lines_read_total)", end),
        (114 + 18) as f64
    );
}

/// `--label job=... --label instance=...` puts constant labels on every series, so a query
/// filtered on them (what the dashboards' `job`/`instance` variables do) finds the backfilled
/// history in a real Prometheus; the summary counts series as promtool does (each histogram
/// bucket, `_sum` and `_count` is one). A bad label exits 2 and names what is accepted.
#[test]
fn backfill_labels_select_the_history_in_prometheus() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fx = support::repo().join("fixtures/broken-then-fixed");
    let om = tmp.path().join("history.om");
    let out = Command::new(support::sidecar_bin())
        .args(["backfill", "--format", "ws_timing", "--step", "1s"])
        .args([
            "--label",
            "job=nginxlog-history",
            "--label",
            "instance=web-1 \"a\"",
        ])
        .arg("--access-log")
        .arg(fx.join("access.log"))
        .arg("--error-log")
        .arg(fx.join("error.log"))
        .arg("--output")
        .arg(&om)
        .output()
        .expect("run backfill");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "backfill failed: {stderr}");
    let text = std::fs::read_to_string(&om).expect("output written");
    // Every sample line carries both labels (escaped).
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!samples.is_empty());
    for l in &samples {
        assert!(
            l.contains(r#"job="nginxlog-history",instance="web-1 \"a\"""#),
            "{l}"
        );
    }
    // The series count is the number of distinct sample names + label sets.
    let mut distinct: Vec<&str> = samples
        .iter()
        .filter_map(|l| l.rsplitn(3, ' ').nth(2))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        stderr.contains(&format!("-> {} series,", distinct.len())),
        "{stderr}"
    );

    let data = tmp.path().join("data");
    create_blocks(&om, &data);
    let end = 1_795_918_618.0 + 60.0;
    let prom = Prometheus::start(&data, tmp.path());
    let sel = r#"job="nginxlog-history",instance="web-1 \"a\"""#;
    assert_eq!(
        prom.value(
            &format!(
                "sum(nginxlog_ws_upgrade_requests_total{{{sel},path=~\"/ws/.*\",status=\"101\"}})"
            ),
            end
        ),
        24.0
    );
    assert_eq!(
        prom.value(
            &format!(
                "sum(nginxlog_ws_upgrade_requests_total{{{sel},path=~\"/ws/.*\",status=\"403\"}})"
            ),
            end
        ),
        42.0
    );
    // The dashboards' variables come from nginxlog_build_info's job label.
    assert_eq!(
        prom.value(&format!("count(nginxlog_build_info{{{sel}}})"), end),
        1.0
    );
    assert_eq!(
        prom.value(
            r#"count(nginxlog_build_info{job="other"}) or vector(0)"#,
            end
        ),
        0.0
    );

    for (bad, says) in [
        ("path=/x", "label of the metrics themselves"),
        ("1job=x", "not a Prometheus label name"),
        ("__name__=x", "reserved"),
        ("job", "NAME=VALUE"),
        ("job=", "non-empty text without control characters"),
        ("job=a\nb", "non-empty text without control characters"),
    ] {
        let out = Command::new(support::sidecar_bin())
            .args(["backfill", "--format", "ws_timing", "--label", bad])
            .arg("--access-log")
            .arg(fx.join("access.log"))
            .arg("--output")
            .arg(tmp.path().join("bad.om"))
            .output()
            .expect("run backfill");
        assert_eq!(out.status.code(), Some(2), "--label {bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "--label {bad:?}: {err}");
    }
}

/// Loads an OpenMetrics backfill into TSDB blocks with promtool, which must accept it.
fn create_blocks(om: &std::path::Path, data: &std::path::Path) {
    let pt = Command::new(tool("PROMTOOL", "promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(om)
        .arg(data)
        .output()
        .expect("run promtool");
    assert!(
        pt.status.success(),
        "promtool rejected the backfill: {}{}",
        String::from_utf8_lossy(&pt.stdout),
        String::from_utf8_lossy(&pt.stderr)
    );
}
