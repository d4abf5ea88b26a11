//! One series per label set, bounded: invalid UTF-8 paths, made-up statuses, a `%3F` query and
//! a series budget, through real nginx where the bytes come from a client.

mod support;
use nginxlog_sidecar::classify::{Classifier, ClassifyConfig};
use nginxlog_sidecar::framing::Frame;
use nginxlog_sidecar::parse::format::LineFormat;
use nginxlog_sidecar::pipeline::{LogKind, Pipeline};
use nginxlog_sidecar::sink::metrics::{Buckets, Metrics};
use nginxlog_sidecar::sink::unique_series::{assert_unique_series, duplicate_series};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

/// Sends one raw HTTP/1.0 request (bytes as given, no encoding) and returns the status.
fn raw_request(port: u16, target: &[u8]) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.0\r\nHost: localhost\r\n\r\n");
    s.write_all(&req).expect("send");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    std::str::from_utf8(resp.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn series_with(scrape: &str, metric: &str, needle: &str) -> Vec<String> {
    scrape
        .lines()
        .filter(|l| l.starts_with(metric) && l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// `\xFF`, `\xFE`, `\xC3` paths sent to real nginx, logged both escaped (default) and raw
/// (escape=json), give one series and one `--max-paths` slot.
#[test]
fn three_distinct_invalid_utf8_paths_give_one_series() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let d = tmp.path().display();
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
            http_extra: format!(
                "log_format j escape=json '{{\"status\":\"$status\",\"request\":\"$request\"}}';\n    access_log {d}/logs/json.log j;"
            ),
            extra: "location /p/ { return 200 \"ok\\n\"; }".into(),
            ..Default::default()
        },
    );
    let (access, json) = (nginx.access_log(), tmp.path().join("logs/json.log"));
    let sidecar = Sidecar::start(&[
        "--access-log",
        &access.display().to_string(),
        "--access-log",
        &json.display().to_string(),
        "--from-start",
        "--max-paths",
        "1",
    ]);
    for b in [0xFF, 0xFE, 0xC3] {
        assert_eq!(
            raw_request(nginx.port, &[b"/p/".as_slice(), &[b], b"x"].concat()),
            200
        );
    }
    let logged = std::fs::read(&json).expect("json log");
    assert!(logged.contains(&0xFF), "escape=json logs the raw byte");
    let path = "/p/\u{FFFD}x";
    let series =
        format!(r#"nginxlog_http_requests_total{{path="{path}",method="GET",status="200"}}"#);
    sidecar.wait_value(&series, 6.0);
    let m = sidecar.metrics();
    assert_eq!(
        series_with(&m, "nginxlog_http_requests_total", "/p/").len(),
        1,
        "{m}"
    );
    assert_eq!(
        sample(&m, "nginxlog_path_overflow_total"),
        0.0,
        "one slot used\n{m}"
    );
}

/// A percent-encoded `?` starts the query: no token in a label, a `compare` report, `parse`
/// output or the sidecar's own log lines.
#[test]
fn percent_encoded_query_reaches_no_label_report_or_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let nginx = Nginx::start(
        tmp.path(),
        &NginxSetup {
            backend: backend.port,
            ..Default::default()
        },
    );
    let access = nginx.access_log();
    let base = format!("ws://127.0.0.1:{}", nginx.port);
    ws_client(&format!("{base}/ws/chat%3Ftoken=SECRET1"), Duration::ZERO);
    ws_client(&format!("{base}/ws/chat%3ftoken=SECRET2"), Duration::ZERO);
    raw_request(nginx.port, b"/nope%23SECRET3");
    raw_request(nginx.port, b"/api/x%3Fkey=SECRET4");
    // Re-encoded delimiters (a backend that decodes twice reads `%253F` as `?`) and `;params`.
    for target in [
        "/api/x%253Fkey=SECRET6",
        "/nope%2523SECRET7",
        "/api/x;jsessionid=SECRET8",
        "/api/x%3Bjsessionid=SECRET9",
        "/api/x%253bjsessionid=SECRET10",
        // Encoded again in other shapes (a backend decoding twice reads `?` in each).
        "/api/x%25%33%46key=SECRET11",
        "/api/x%253%46key=SECRET12",
        "/api/x%%33Fkey=SECRET13",
        // A parameter ends at its segment: the path goes on after it.
        "/shop;jsessionid=SECRET14/cart",
        "/api/v1;v=SECRET15/users/42",
    ] {
        raw_request(nginx.port, target.as_bytes());
    }
    wait_for("nginx logged 14 lines", Duration::from_secs(5), || {
        std::fs::read_to_string(&access).is_ok_and(|t| t.lines().count() >= 14)
    });
    // A malformed line with a token: the warning names the file, not the content.
    append(
        &access,
        &["garbage GET /ws/chat%3Ftoken=SECRET5".to_string()],
    );
    let text = std::fs::read_to_string(&access).expect("log");
    for n in [1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        assert!(
            text.contains(&format!("SECRET{n}")),
            "nginx logged token {n}: {text}"
        );
    }

    let port = free_port();
    let child = Command::new(sidecar_bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--from-start",
        ])
        .args([
            "--format",
            "ws_timing",
            "--log-level",
            "debug",
            "--access-log",
        ])
        .arg(&access)
        .arg("--error-log")
        .arg(nginx.error_log())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sidecar");
    wait_for("lines read", Duration::from_secs(10), || {
        let (st, m) = fetch(port, "/metrics");
        st == 200
            && log_metric(
                &m,
                "nginxlog_lines_read_total",
                &access.display().to_string(),
            ) >= 15.0
    });
    let (_, m) = fetch(port, "/metrics");
    assert_unique_series(&m);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(m.contains(r#"path="/ws/chat""#), "{m}");
    assert!(m.contains(r#"path="/api/x""#), "{m}");
    assert!(m.contains(r#"path="/shop/cart""#), "{m}");
    assert!(m.contains(r#"path="/api/v1/users/:id""#), "{m}");
    assert!(!m.contains("SECRET") && !m.contains("token"), "{m}");
    assert!(!logs.contains("SECRET"), "sidecar log: {logs}");

    let after = tmp.path().join("after.log");
    std::fs::copy(&access, &after).expect("copy");
    let report = Command::new(sidecar_bin())
        .args([
            "compare",
            "--format",
            "ws_timing",
            "--report-format",
            "json",
            "--before",
        ])
        .arg(&access)
        .arg("--after")
        .arg(&after)
        .output()
        .expect("compare");
    let r = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(r.contains("/ws/chat"), "{r}");
    assert!(
        !r.contains("SECRET") && !String::from_utf8_lossy(&report.stderr).contains("SECRET"),
        "{r}"
    );

    let parsed = Command::new(sidecar_bin())
        .args(["parse", "--format", "ws_timing"])
        .arg(&access)
        .output()
        .expect("parse");
    let p = String::from_utf8_lossy(&parsed.stdout);
    assert!(p.contains("/ws/chat"), "{p}");
    assert!(
        !p.contains("SECRET") && !String::from_utf8_lossy(&parsed.stderr).contains("SECRET"),
        "{p}"
    );

    // nginx's own error log names the paths it could not open, tokens and all.
    let error_text = std::fs::read_to_string(nginx.error_log()).expect("error log");
    assert!(error_text.contains("SECRET14"), "{error_text}");
    let parsed = Command::new(sidecar_bin())
        .args(["parse", "--error-log"])
        .arg(nginx.error_log())
        .output()
        .expect("parse --error-log");
    let p = String::from_utf8_lossy(&parsed.stdout);
    assert!(p.contains("/shop/cart"), "{p}");
    assert!(
        !p.contains("SECRET") && !String::from_utf8_lossy(&parsed.stderr).contains("SECRET"),
        "{p}"
    );
}

/// 200 lines with random statuses 100-999 on one path, read by the binary: a bounded set of
/// status values, every line still counted.
#[test]
fn random_statuses_give_a_bounded_number_of_status_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let lines: Vec<String> = (0..200)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let status = 100 + x % 900;
            format!("10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /api/x HTTP/1.1\" {status} 0 \"-\" \"t\"")
        })
        .collect();
    append(&log, &lines);
    let out = Command::new(sidecar_bin())
        .args(["run", "--once", "--format", "combined", "--access-log"])
        .arg(&log)
        .output()
        .expect("run --once");
    assert!(out.status.success());
    let m = String::from_utf8_lossy(&out.stdout);
    assert_unique_series(&m);
    let rows = series_with(&m, "nginxlog_http_requests_total{", "/api/x");
    let total: f64 = rows
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 200.0);
    // 76 possible values (70 registered and nginx codes, 5 classes, other); random statuses
    // hit far fewer registered ones.
    assert!(
        rows.len() <= 76,
        "{} status values:\n{}",
        rows.len(),
        rows.join("\n")
    );
    assert!(rows.iter().any(|r| r.contains(r#"status="other""#)), "{m}");
    assert!(rows.iter().any(|r| r.contains(r#"xx""#)), "{m}");
}

/// Past `--max-series`, new label sets are counted in `nginxlog_series_dropped_total`; a bad
/// value is a clear error.
#[test]
fn series_budget_counts_new_label_sets_past_max_series() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let lines: Vec<String> = (0..50)
        .map(|i| format!("10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /p{i}x HTTP/1.1\" 200 0 \"-\" \"t\""))
        .collect();
    append(&log, &lines);
    let out = Command::new(sidecar_bin())
        .args([
            "run",
            "--once",
            "--format",
            "combined",
            "--max-series",
            "30",
            "--access-log",
        ])
        .arg(&log)
        .output()
        .expect("run --once");
    assert!(out.status.success());
    let m = String::from_utf8_lossy(&out.stdout);
    assert_unique_series(&m);
    // Each path takes a request row and a bytes series (combined logs no $request_time).
    assert_eq!(sample(&m, "nginxlog_series_dropped_total"), 35.0, "{m}");
    assert_eq!(
        series_with(&m, "nginxlog_http_requests_total{", "path=").len(),
        15
    );
    assert_eq!(
        log_metric(&m, "nginxlog_lines_read_total", &log.display().to_string()),
        50.0
    );

    let bad = Command::new(sidecar_bin())
        .args(["run", "--once", "--max-series", "0", "--access-log"])
        .arg(&log)
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-series"));
}

/// Fresh pipelines for one case (combined, the `json` preset, an escape=json format): a shared
/// one would fill `--max-paths` after a few cases and test nothing but `__other__` from then on.
fn pipelines() -> Vec<Pipeline<Metrics>> {
    [
        "combined",
        "json",
        r#"log_format j escape=json '{"s":"$status","r":"$request"}';"#,
    ]
    .iter()
    .map(|f| {
        let c = Classifier::new(
            LineFormat::compile(f).expect("format"),
            &ClassifyConfig {
                max_paths: 40,
                ..ClassifyConfig::default()
            },
        )
        .expect("classifier");
        let mut p = Pipeline::new(
            c,
            Metrics::new("nginxlog", Buckets::default()).with_max_series(5_000),
        );
        p.sink.add_log("a", LogKind::Access);
        p
    })
    .collect()
}

/// Path segments that collide after decoding, sanitising, id collapsing or cutting.
fn segment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"ws".to_vec()),
        Just(br"\xFF".to_vec()),
        Just(br"\xC3\xA9".to_vec()),
        Just("\u{e9}".as_bytes().to_vec()),
        Just(br"\u00e9".to_vec()),
        Just(vec![0xFE]),
        Just(b"%3Ftoken=S".to_vec()),
        Just(b"123".to_vec()),
        Just(b":id".to_vec()),
        Just(br#"a\"b"#.to_vec()),
        Just(b"x;jsessionid=1".to_vec()),
        Just(b"%253Ftoken=S".to_vec()),
        Just(br"\ud83d\ude00".to_vec()),
        Just("\u{1F600}".as_bytes().to_vec()),
        // Random bytes a log line can hold unescaped in every format: no quote, backslash,
        // space or control byte (nginx escapes those), anything else including invalid UTF-8.
        proptest::collection::vec(
            any::<u8>().prop_filter("unescaped", |b| *b > b' '
                && !matches!(b, b'"' | b'\\' | 0x7F)),
            0..4
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever the lines, no exposition holds a series twice; every line parses and is
    /// counted under a real label (no budget or `__other__` hides a duplicate).
    #[test]
    fn no_exposition_holds_a_series_twice(
        lines in proptest::collection::vec(
            (proptest::collection::vec(segment(), 1..5), 100u16..1000, 0usize..3), 1..40)
    ) {
        let mut ps = pipelines();
        {
            for (segs, status, method) in &lines {
                let mut target = Vec::new();
                for s in segs {
                    target.push(b'/');
                    target.extend_from_slice(s);
                }
                let m = ["GET", "POST", "BREW"][*method];
                let mut combined = format!("1.2.3.4 - - [28/Nov/2026:01:53:32 +0000] \"{m} ").into_bytes();
                combined.extend_from_slice(&target);
                combined.extend_from_slice(format!(" HTTP/1.1\" {status} 5 \"-\" \"x\"").as_bytes());
                let mut json = format!("{{\"status\":\"{status}\",\"request\":\"{m} ").into_bytes();
                json.extend_from_slice(&target);
                json.extend_from_slice(b" HTTP/1.1\"}");
                for (p, line) in ps.iter_mut().zip([&combined, &json, &json]) {
                    p.feed(0, LogKind::Access, Frame::Line(line));
                }
            }
            for p in ps.iter() {
                let mut out = String::new();
                p.sink.render(&p.classifier.labels, "t", &mut out);
                prop_assert!(duplicate_series(&out).is_empty(), "{:?}", duplicate_series(&out));
                prop_assert!(!out.contains("token=S"));
                prop_assert_eq!(p.sink.logs[0].malformed, 0, "{:?}", p.classifier.format());
                prop_assert_eq!(p.sink.logs[0].read, lines.len() as u64);
                prop_assert_eq!(p.sink.series_dropped, 0);
                prop_assert_eq!(p.classifier.labels.overflow, 0);
            }
        }
    }
}
