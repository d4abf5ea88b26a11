//! Long WebSocket sessions across a breaking reload: a working `/ws/chat` on a real nginx, ten
//! sessions opened (two short ones closed, eight held idle), then `nginx -s reload` (HUP) to a
//! config without the upgrade headers while the eight are still open, then ten refused attempts,
//! then the eight close. nginx writes a 101 line when the session closes, so in the log eight 101
//! lines come *after* the refusals. History places an attempt at its handshake (logged time
//! minus `$request_time`): `compare --split <reload>` puts all ten 101s before and reports
//! `upgrades fail now` with cause `upgrade_not_forwarded` after; backfill's 101 counter reaches
//! ten before the split while the session histogram stays at close time; `--fail-under 0.9`
//! exits 3 and still prints the report; rotated and gzipped pieces after one `--access-log`
//! agree with the single file.

mod support;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

fn sidecar(args: &[&str]) -> Output {
    Command::new(support::sidecar_bin())
        .args(args)
        .output()
        .expect("run sidecar")
}

fn compare_json(args: &[&str]) -> Value {
    let mut a = vec![
        "compare",
        "--log-format",
        "ws_timing",
        "--report-format",
        "json",
    ];
    a.extend_from_slice(args);
    let out = sidecar(&a);
    assert!(
        out.status.success(),
        "compare failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn chat(r: &Value) -> &Value {
    r["paths"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["path"] == "/ws/chat"))
        .unwrap_or_else(|| panic!("no /ws/chat in {r:#}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `29/Nov/2026:02:16:58 +0000` from Unix seconds, as nginx's `$time_local` in UTC.
fn time_local(t: f64) -> String {
    let iso = nginxlog_sidecar::parse::values::rfc3339(t);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m: usize = iso[5..7].parse().expect("month");
    format!(
        "{}/{}/{}:{} +0000",
        &iso[8..10],
        months[m - 1],
        &iso[0..4],
        &iso[11..19]
    )
}

/// (timestamp, value) samples of one series in an OpenMetrics file.
fn samples(om: &str, series: &str) -> Vec<(f64, f64)> {
    om.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|rest| {
            let mut it = rest.split(' ');
            let v: f64 = it.next().and_then(|x| x.parse().ok()).expect("value");
            let t: f64 = it.next().and_then(|x| x.parse().ok()).expect("timestamp");
            (t, v)
        })
        .collect()
}

fn gzip(path: &Path, lines: &[&str]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for l in lines {
        e.write_all(format!("{l}\n").as_bytes()).expect("gzip");
    }
    std::fs::write(path, e.finish().expect("gzip")).expect("write");
}

#[test]
fn sessions_open_across_a_breaking_reload_count_at_their_handshake() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = support::Backend::start();
    let setup = support::NginxSetup {
        backend: backend.port,
        ..Default::default()
    };
    let nginx = support::Nginx::start(tmp.path(), &setup);
    let url = format!("ws://127.0.0.1:{}/ws/chat?token=good", nginx.port);

    // Before: two short sessions, closed at once, and eight held open across the reload.
    for _ in 0..2 {
        assert_eq!(support::ws_client(&url, Duration::from_millis(50)), 101);
    }
    let idle: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || support::ws_client_idle(&url, Duration::from_secs(6)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    // The split: a whole second ($time_local has second resolution) after every handshake.
    let split = now().ceil() + 1.0;
    std::thread::sleep(Duration::from_secs_f64((split - now()).max(0.0) + 0.05));

    // The breaking reload: the same nginx, `/ws/` proxied without the upgrade headers.
    nginx.rewrite_config(&support::NginxSetup {
        backend: backend.port,
        broken_ws: true,
        ..Default::default()
    });
    nginx.signal("HUP");
    // New connections go to the new workers once the old ones are shutting down.
    support::wait_for("the reload", Duration::from_secs(10), || {
        std::fs::read_to_string(nginx.error_log())
            .is_ok_and(|t| t.contains("gracefully shutting down"))
    });
    for _ in 0..10 {
        assert_eq!(support::ws_client(&url, Duration::ZERO), 403);
    }
    for t in idle {
        let (status, _) = t.join().expect("idle client");
        assert_eq!(
            status, 101,
            "the sessions opened before the reload switched"
        );
    }
    let log = nginx.access_log();
    support::wait_for("20 upgrade lines", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= 20)
    });
    let text = std::fs::read_to_string(&log).expect("access log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20, "{text}");
    // The point of the test: most 101 lines are written after the refusals.
    let first_403 = lines
        .iter()
        .position(|l| l.contains("\" 403 "))
        .expect("a 403 line");
    let late_101 = lines[first_403..]
        .iter()
        .filter(|l| l.contains("\" 101 "))
        .count();
    assert_eq!(late_101, 8, "{text}");

    let log_s = log.display().to_string();
    let split_s = format!("{split}");
    let r = compare_json(&["--access-log", &log_s, "--split", &split_s]);
    let c = chat(&r);
    assert_eq!(n(&c["before"]["upgrade_attempts"]), 10);
    assert_eq!(n(&c["before"]["switched_101"]), 10);
    assert_eq!(c["before"]["cause"], "none");
    assert_eq!(n(&c["after"]["upgrade_attempts"]), 10);
    assert_eq!(n(&c["after"]["switched_101"]), 0);
    assert_eq!(n(&c["after"]["forbidden_403"]), 10);
    assert_eq!(n(&c["after"]["failures_answered_by"]["upstream"]), 10);
    assert_eq!(c["after"]["cause"], "upgrade_not_forwarded");
    assert_eq!(
        c["verdict"],
        "/ws/chat: 403 share 0.0% -> 100.0%, 101 share 100.0% -> 0.0% (10 -> 10 attempts: upgrades fail now)"
    );
    // The timeline agrees: every 101 before the marker.
    let marker = r["timeline"]["marker_unix"].as_f64().expect("marker");
    for p in r["timeline"]["points"].as_array().expect("points") {
        let t = p["t"].as_f64().expect("t");
        if n(&p["switched_101"]) > 0 {
            assert!(t < marker, "101s at {t}, split {marker}");
        }
        if n(&p["forbidden_403"]) > 0 {
            assert!(t >= marker, "403s at {t}, split {marker}");
        }
    }
    // nginx's own timestamp form gives the same split.
    let local = time_local(split);
    let r2 = compare_json(&["--access-log", &log_s, "--split", &local]);
    assert_eq!(r2["paths"], r["paths"], "--split {local}");

    // The table says it in words and points at doctor.
    let out = sidecar(&[
        "compare",
        "--log-format",
        "ws_timing",
        "--access-log",
        &log_s,
        "--split",
        &split_s,
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("upgrades fail now"), "{table}");
    assert!(
        table.contains("/ws/chat after: 10 of 10 attempts failed, answered by the upstream (10); cause upgrade_not_forwarded"),
        "{table}"
    );
    assert!(
        table.contains("nginxlog-sidecar doctor --config /etc/nginx/nginx.conf --access-log"),
        "{table}"
    );

    // The CI gate fails closed and still prints the report (to stdout, and to --output).
    let out = sidecar(&[
        "compare",
        "--log-format",
        "ws_timing",
        "--access-log",
        &log_s,
        "--split",
        &split_s,
        "--report-format",
        "json",
        "--fail-under",
        "0.9",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let gated: Value = serde_json::from_slice(&out.stdout).expect("report printed");
    assert_eq!(gated["paths"], r["paths"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gate failed: /ws/chat: 101 share after 0.0% is below 90.0%"),
        "{err}"
    );
    let report = tmp.path().join("report.md");
    let out = sidecar(&[
        "compare",
        "--log-format",
        "ws_timing",
        "--access-log",
        &log_s,
        "--split",
        &split_s,
        "--report-format",
        "markdown",
        "--fail-under",
        "0.9",
        "--gate-path",
        "/ws/chat",
        "--output",
        &report.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let md = std::fs::read_to_string(&report).expect("report written");
    assert!(md.contains("upgrades fail now"), "{md}");
    // Gating only the "before" side's share would pass; a path without attempts after fails.
    let out = sidecar(&[
        "compare",
        "--log-format",
        "ws_timing",
        "--access-log",
        &log_s,
        "--split",
        &split_s,
        "--fail-under",
        "0",
        "--gate-path",
        "/ws/none",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = sidecar(&[
        "compare",
        "--log-format",
        "ws_timing",
        "--access-log",
        &log_s,
        "--split",
        &split_s,
        "--fail-under",
        "0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Rotated and gzipped pieces, given after one --access-log (in shuffled order).
    let rot = tmp.path().join("rotated");
    std::fs::create_dir_all(&rot).expect("mkdir");
    gzip(&rot.join("access.log.2.gz"), &lines[..6]);
    std::fs::write(
        rot.join("access.log.1"),
        lines[6..13]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .expect("write");
    std::fs::write(
        rot.join("access.log"),
        lines[13..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .expect("write");
    let p = |name: &str| rot.join(name).display().to_string();
    let (a, b, c) = (p("access.log"), p("access.log.2.gz"), p("access.log.1"));
    let rr = compare_json(&["--access-log", &a, &b, &c, "--split", &split_s]);
    assert_eq!(rr["paths"], r["paths"]);
    assert_eq!(
        rr["before"]["upgrade_attempts"],
        r["before"]["upgrade_attempts"]
    );
    assert_eq!(
        rr["after"]["upgrade_attempts"],
        r["after"]["upgrade_attempts"]
    );
    assert_eq!(rr["timeline"], r["timeline"]);

    // Backfill: the 101 counter reaches its final value before the split.
    let backfill = |out: &Path, files: &[&str]| -> String {
        let mut a = vec![
            "backfill",
            "--format",
            "ws_timing",
            "--step",
            "1s",
            "--access-log",
        ];
        a.extend_from_slice(files);
        let o = out.display().to_string();
        a.extend(["--output", &o]);
        let res = sidecar(&a);
        assert!(
            res.status.success(),
            "backfill failed: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        std::fs::read_to_string(out).expect("backfill output")
    };
    let om = backfill(&tmp.path().join("single.om"), &[&log_s]);
    let ok = samples(
        &om,
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#,
    );
    let last = ok.last().expect("101 samples").1;
    assert_eq!(last, 10.0, "{ok:?}");
    let reached = ok.iter().find(|s| s.1 == 10.0).expect("reaches 10").0;
    assert!(
        reached <= split,
        "101 counter reaches 10 at {reached}, split {split}: {ok:?}"
    );
    assert!(
        ok.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0),
        "{ok:?}"
    );
    let refused = samples(
        &om,
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#,
    );
    assert_eq!(refused.last().expect("403 samples").1, 10.0);
    assert!(
        refused.iter().filter(|s| s.0 <= split).all(|s| s.1 == 0.0),
        "{refused:?}"
    );
    // The request counter of the 101s is back-dated with it; the session histogram is not.
    let req = samples(
        &om,
        r#"nginxlog_http_requests_total{path="/ws/chat",method="GET",status="101"}"#,
    );
    assert_eq!(req.iter().find(|s| s.1 == 10.0).map(|s| s.0), Some(reached));
    let sessions = samples(
        &om,
        r#"nginxlog_ws_session_duration_seconds_count{path="/ws/chat"}"#,
    );
    let closed = sessions
        .iter()
        .find(|s| s.1 == 10.0)
        .expect("10 sessions")
        .0;
    assert!(
        closed > split,
        "sessions closed after the reload: {sessions:?}"
    );
    // The same from the rotated pieces after one flag.
    let om2 = backfill(&tmp.path().join("rotated.om"), &[&a, &b, &c]);
    let ok2 = samples(
        &om2,
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#,
    );
    assert_eq!(ok2, ok);
    drop(nginx);
}
