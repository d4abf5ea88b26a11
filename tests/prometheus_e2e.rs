//! Real Prometheus end to end: a real nginx proxies real WebSocket handshakes, the sidecar tails
//! its logs, and a real Prometheus on loopback scrapes the sidecar every second and evaluates
//! `alerts/nginxlog-rules.yml`. Then every dashboard query (Grafana's variables replaced) runs
//! through Prometheus's HTTP API and must succeed, and the headline panels and the recording
//! rules must return the series the traffic made: 101/403 per path, who answered, handshake
//! quantiles, success and 403 ratios.
//!
//! Needs Prometheus (Debian: `apt-get install prometheus`, `.ci/run` does; or set
//! `PROMETHEUS=/path/to/prometheus`). Without it the test fails.

#[path = "support/dashboards.rs"]
mod dashboards;
mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

const JOB: &str = "nginxlog-sidecar";
const UP: &str = "nginxlog_ws_upgrade_requests_total";

/// How long each WebSocket session is held open.
const HOLD: Duration = Duration::from_millis(100);

/// Values for Grafana's variables: every job/instance/path/log, a short window (Prometheus has
/// run for seconds, not hours).
const VALUES: &[(&str, &str)] = &[
    ("job", JOB),
    ("instance", ".*"),
    ("path", ".*"),
    ("log", ".*"),
    ("compare_offset", "1m"),
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__interval_ms", "15000"),
    ("__range", "5m"),
    ("__range_s", "300"),
    ("__range_ms", "300000"),
];

/// The same with the path variable set to the WebSocket path.
const WS_CHAT_VALUES: &[(&str, &str)] = &[
    ("job", JOB),
    ("instance", ".*"),
    ("path", "/ws/chat"),
    ("log", ".*"),
    ("compare_offset", "1m"),
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__interval_ms", "15000"),
    ("__range", "5m"),
    ("__range_s", "300"),
    ("__range_ms", "300000"),
];

/// One batch of traffic through nginx. Per batch: /ws/chat 3x 101 and 2x 403 (bad token, the
/// app refuses), /broken/chat 2x 426 (no upgrade headers), /denied/x 1x 403 from nginx's
/// `deny`, 3x 200 on /api/, 1x 301 on /api (nginx's redirect to the location with the slash),
/// 1x 502 on /down/ (connection refused).
fn traffic(port: u16) {
    let base = format!("ws://127.0.0.1:{port}");
    for _ in 0..3 {
        assert_eq!(ws_client(&format!("{base}/ws/chat?token=good"), HOLD), 101);
    }
    for _ in 0..2 {
        assert_eq!(
            ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO),
            403
        );
    }
    for _ in 0..2 {
        assert_eq!(
            ws_client(&format!("{base}/broken/chat?token=good"), Duration::ZERO),
            426
        );
    }
    assert_eq!(
        ws_client(&format!("{base}/denied/x?token=good"), Duration::ZERO),
        403
    );
    for id in [1, 2, 3] {
        assert_eq!(http_get(port, &format!("/api/users/{id}")), 200);
    }
    assert_eq!(http_get(port, "/api"), 301);
    assert_eq!(http_get(port, "/down/x"), 502);
}

/// Upgrade attempts after `batches` batches: (path, status, answered_by) -> count.
fn expected_upgrades(batches: u32) -> BTreeMap<(String, String, String), f64> {
    [
        ("/ws/chat", "101", "upstream", 3),
        ("/ws/chat", "403", "upstream", 2),
        ("/broken/chat", "426", "upstream", 2),
        ("/denied/x", "403", "nginx", 1),
    ]
    .into_iter()
    .map(|(p, s, a, n)| {
        (
            (p.to_string(), s.to_string(), a.to_string()),
            f64::from(n * batches),
        )
    })
    .collect()
}

/// Waits until the sidecar has counted `batches` batches.
fn wait_counted(sidecar: &Sidecar, batches: u32) {
    for ((path, status, by), n) in expected_upgrades(batches) {
        sidecar.wait_value(
            &format!(r#"{UP}{{path="{path}",status="{status}",answered_by="{by}"}}"#),
            n,
        );
    }
    let b = f64::from(batches);
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/api/users/:id",method="GET",status="200"}"#,
        3.0 * b,
    );
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/api",method="GET",status="301"}"#,
        b,
    );
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/down/x",method="GET",status="502"}"#,
        b,
    );
    sidecar.wait_value(
        r#"nginxlog_ws_session_duration_seconds_count{path="/ws/chat"}"#,
        3.0 * b,
    );
}

/// `PROMETHEUS`, `prometheus` on PATH, or Debian's /usr/bin/prometheus.
fn prometheus_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMETHEUS") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PROMETHEUS={} is not a file", p.display());
        return p;
    }
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("prometheus"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin/prometheus")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Prometheus is not installed (not on PATH, not at /usr/bin/prometheus): the \
                 dashboards and rules cannot be run against a real Prometheus. Install it \
                 (Debian: apt-get install prometheus; .ci/run does) or set \
                 PROMETHEUS=/path/to/prometheus. This test does not pass without it."
            )
        })
}

/// Percent-encodes a query-string value (everything but RFC 3986's unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A plain HTTP/1.0 GET on loopback (so the answer is neither chunked nor kept alive).
fn get(port: u16, target: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| format!("read: {e}"))?;
    let resp = String::from_utf8_lossy(&resp).to_string();
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {resp:?}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(format!("unexpected chunked answer to HTTP/1.0: {head}"));
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// One sample of an instant vector: labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// A real Prometheus on loopback with its config and TSDB in `dir`; killed on drop.
struct Prometheus {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, target_port: u16) -> Prometheus {
        std::fs::create_dir_all(dir.join("data")).expect("mkdir prometheus");
        let rules = repo().join("alerts/nginxlog-rules.yml");
        let quote = |s: &str| serde_json::to_string(s).expect("json string is a yaml string");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: {}\n    static_configs:\n      - targets: [{}]\n",
            quote(&rules.display().to_string()),
            quote(JOB),
            quote(&format!("127.0.0.1:{target_port}")),
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("create log");
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut p = Prometheus {
            port,
            dir: dir.to_path_buf(),
            child,
        };
        p.wait(
            "Prometheus /-/ready",
            Duration::from_secs(30),
            |p| match get(p.port, "/-/ready") {
                Ok((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        p
    }

    /// The end of Prometheus's own log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Polls `f` until it succeeds; panics after `timeout` with its last error and the log.
    fn wait<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Prometheus) -> Result<T, String>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("Prometheus exited ({st}):\n{}", self.log_tail());
            }
            match f(self) {
                Ok(v) => return v,
                Err(e) if start.elapsed() > timeout => panic!(
                    "timed out after {timeout:?} waiting for {what}; last: {e}\nPrometheus log:\n{}",
                    self.log_tail()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// GETs an API path and returns `data` of a `"status":"success"` answer.
    fn api(&self, target: &str) -> Result<Value, String> {
        let (status, body) = get(self.port, target)?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
        if status != 200 || v["status"] != "success" {
            return Err(format!(
                "HTTP {status} {}: {} {}",
                v["status"], v["errorType"], v["error"]
            ));
        }
        Ok(v["data"].clone())
    }

    /// An instant query (`/api/v1/query`); returns `data`.
    fn query(&self, q: &str) -> Result<Value, String> {
        self.api(&format!("/api/v1/query?query={}", encode(q)))
    }

    /// A range query over the last minute at a 1 s step (`/api/v1/query_range`).
    fn query_range(&self, q: &str) -> Result<Value, String> {
        let end = now_secs();
        self.api(&format!(
            "/api/v1/query_range?query={}&start={:.3}&end={:.3}&step=1",
            encode(q),
            end - 60.0,
            end
        ))
    }

    /// An instant query whose result is a vector (a scalar becomes one unlabelled sample).
    fn vector(&self, q: &str) -> Result<Vec<Sample>, String> {
        samples(&self.query(q)?).map_err(|e| format!("{e} (query: {q})"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number(v: &Value) -> Result<f64, String> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not a sample value: {v}"))
}

/// The samples of an instant query's `data`.
fn samples(data: &Value) -> Result<Vec<Sample>, String> {
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("vector without result")?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok((labels, number(&s["value"][1])?))
            })
            .collect(),
        Some("scalar") => Ok(vec![(BTreeMap::new(), number(&data["result"][1])?)]),
        other => Err(format!("unexpected result type {other:?}: {data}")),
    }
}

/// Label values of a sample, in the order asked for.
fn key(labels: &BTreeMap<String, String>, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| labels.get(*n).cloned().unwrap_or_default())
        .collect()
}

/// The samples by the given labels; panics on two samples with the same key.
fn by(samples: &[Sample], names: &[&str], what: &str) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for (labels, v) in samples {
        let k = key(labels, names);
        assert!(
            out.insert(k.clone(), *v).is_none(),
            "{what}: two samples for {k:?}: {samples:?}"
        );
    }
    out
}

fn keys(list: &[&[&str]]) -> BTreeSet<Vec<String>> {
    list.iter()
        .map(|k| k.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

#[test]
fn dashboards_and_rules_on_a_real_prometheus() {
    let started = Instant::now();
    let prometheus = prometheus_bin();
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let nginx = Nginx::start(
        &tmp.path().join("nginx"),
        &NginxSetup {
            backend: backend.port,
            error_level: "info",
            ..Default::default()
        },
    );
    let access = nginx.access_log().display().to_string();
    let error = nginx.error_log().display().to_string();
    // With nginx's config too: the config panels (findings of the bare /broken/ location,
    // which live traffic marks as a WebSocket location) have data.
    let config = nginx.dir.join("nginx.conf").display().to_string();
    // A syslog socket too (nothing sends to it), so the syslog drop panel has its series.
    let syslog = format!("syslog+udp://127.0.0.1:{}", free_udp_port());
    let sidecar = Sidecar::start(&[
        "--format",
        "ws_timing",
        "--access-log",
        &access,
        "--access-log",
        &syslog,
        "--error-log",
        &error,
        "--nginx-config",
        &config,
    ]);

    // Batch 1, counted before Prometheus starts: every series exists at the first scrape.
    traffic(nginx.port);
    wait_counted(&sidecar, 1);

    let mut prom = Prometheus::start(&prometheus, &tmp.path().join("prometheus"), sidecar.port);
    let up_q = format!(r#"up{{job="{JOB}"}}"#);
    let scrapes_q = format!(r#"count_over_time(up{{job="{JOB}"}}[1m])"#);
    prom.wait(
        "Prometheus to scrape the sidecar at least 5 times",
        Duration::from_secs(30),
        |p| {
            let up = p.vector(&up_q)?;
            let n = p.vector(&scrapes_q)?;
            match (up.as_slice(), n.as_slice()) {
                ([(_, u)], [(_, c)]) if *u == 1.0 && *c >= 5.0 => Ok(()),
                _ => Err(format!("up: {up:?}, scrapes: {n:?}")),
            }
        },
    );

    // Batch 2, after Prometheus has scraped batch 1: the counters rise between scrapes, so
    // rate() and increase() see it.
    traffic(nginx.port);
    wait_counted(&sidecar, 2);

    // Prometheus has the final counts and has evaluated the rules over them.
    let totals_q = format!(r#"sum by (path, status, answered_by) ({UP}{{job="{JOB}"}})"#);
    let want: BTreeMap<Vec<String>, f64> = expected_upgrades(2)
        .into_iter()
        .map(|((p, s, a), n)| (vec![p, s, a], n))
        .collect();
    prom.wait(
        "Prometheus to scrape the second batch",
        Duration::from_secs(20),
        |p| {
            let got = by(
                &p.vector(&totals_q)?,
                &["path", "status", "answered_by"],
                "totals",
            );
            if got == want {
                Ok(())
            } else {
                Err(format!("got {got:?}, want {want:?}"))
            }
        },
    );
    let ratio_q = r#"nginxlog:ws_upgrade_success_ratio:rate5m{path="/ws/chat"}"#;
    prom.wait(
        "the success-ratio recording rule over both batches",
        Duration::from_secs(20),
        |p| match p.vector(ratio_q)?.as_slice() {
            // Batch 2 on /ws/chat: 3 of 5 attempts switched protocols.
            [(_, v)] if close(*v, 0.6) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    check_every_dashboard_query(&prom);
    check_variables(&prom, &access);
    check_headline_panels(&prom);
    check_rules(&prom);

    drop(prom);
    assert!(sidecar.terminate().success());
    let took = started.elapsed();
    eprintln!("prometheus_e2e: {took:?}");
    assert!(took < Duration::from_secs(90), "took {took:?}");
}

/// Every panel query of every dashboard, as Grafana would run it (instant, range or both),
/// must succeed; those that look at the present (no `offset`) must also return data.
fn check_every_dashboard_query(prom: &Prometheus) {
    let targets = dashboards::targets();
    assert!(targets.len() > 40, "only {} panel queries", targets.len());
    let mut failures = Vec::new();
    for t in &targets {
        let q =
            dashboards::substitute(&t.expr, VALUES).unwrap_or_else(|e| panic!("{}: {e}", t.origin));
        match prom.query(&q) {
            Ok(data) => {
                let empty = data["result"].as_array().is_some_and(|r| r.is_empty());
                if empty && !q.contains(" offset ") {
                    failures.push(format!("{}: no data\n  query: {q}", t.origin));
                }
            }
            Err(e) => failures.push(format!("{}: {e}\n  query: {q}", t.origin)),
        }
        if t.range {
            if let Err(e) = prom.query_range(&q) {
                failures.push(format!("{} (range): {e}\n  query: {q}", t.origin));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries failed against Prometheus:\n{}",
        failures.len(),
        targets.len(),
        failures.join("\n")
    );
}

/// The `label_values(...)` variables, run the way Grafana runs them (label values API with a
/// `match[]` selector), list what the traffic made.
fn check_variables(prom: &Prometheus, access_log: &str) {
    for v in dashboards::variable_queries() {
        let selector = dashboards::substitute(&v.selector, VALUES)
            .unwrap_or_else(|e| panic!("{} variable {}: {e}", v.file, v.name));
        let data = prom
            .api(&format!(
                "/api/v1/label/{}/values?match[]={}",
                v.label,
                encode(&selector)
            ))
            .unwrap_or_else(|e| {
                panic!(
                    "{} variable {}: {e}\n  selector: {selector}",
                    v.file, v.name
                )
            });
        let values: BTreeSet<&str> = data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let must: &[&str] = match (v.file, v.name.as_str()) {
            (_, "job") => &[JOB],
            ("nginxlog-websocket.json", "path") => &["/ws/chat", "/broken/chat", "/denied/x"],
            ("nginxlog-http.json", "path") => &["/api/users/:id", "/down/x", "/ws/chat"],
            (_, "log") => &[access_log],
            _ => &[],
        };
        assert!(
            !values.is_empty(),
            "{} variable {}: no values for {selector}",
            v.file,
            v.name
        );
        for m in must {
            assert!(
                values.contains(m),
                "{} variable {}: {m} missing from {values:?}",
                v.file,
                v.name
            );
        }
    }
}

/// Finds a panel target by dashboard file, panel title and refId.
fn target(file: &str, title: &str, ref_id: &str) -> dashboards::Target {
    dashboards::targets()
        .into_iter()
        .find(|t| t.file == file && t.ref_id == ref_id && t.origin.contains(&format!("{title:?}")))
        .unwrap_or_else(|| panic!("{file} has no panel titled {title:?} with ref {ref_id}"))
}

/// Runs a panel's query with the given variable values.
fn panel(
    prom: &Prometheus,
    values: &[(&str, &str)],
    file: &str,
    title: &str,
    ref_id: &str,
) -> Vec<Sample> {
    let t = target(file, title, ref_id);
    let q = dashboards::substitute(&t.expr, values).expect("substitute");
    prom.vector(&q)
        .unwrap_or_else(|e| panic!("{}: {e}", t.origin))
}

fn check_headline_panels(prom: &Prometheus) {
    let ws = "nginxlog-websocket.json";

    // Exact 101/403 counts per path, straight from the scraped counters.
    let per_path = by(
        &prom
            .vector(&format!(
                r#"sum by (path, status) ({UP}{{job="{JOB}",path="/ws/chat"}})"#
            ))
            .expect("query"),
        &["path", "status"],
        "counts per path",
    );
    assert_eq!(
        per_path,
        [
            (vec!["/ws/chat".to_string(), "101".to_string()], 6.0),
            (vec!["/ws/chat".to_string(), "403".to_string()], 4.0),
        ]
        .into_iter()
        .collect::<BTreeMap<_, _>>()
    );

    // Upgrade attempts per path by outcome: 101s only on /ws/chat, 403s on /ws/chat (the app)
    // and /denied/x (nginx), the rest (426) on /broken/chat; all rising.
    let title = "Upgrade attempts per path by outcome";
    let ok = by(&panel(prom, VALUES, ws, title, "A"), &["path"], title);
    assert_eq!(
        ok.keys().cloned().collect::<BTreeSet<_>>(),
        keys(&[&["/ws/chat"]]),
        "{title} A: {ok:?}"
    );
    let refused = by(&panel(prom, VALUES, ws, title, "B"), &["path"], title);
    assert_eq!(
        refused.keys().cloned().collect::<BTreeSet<_>>(),
        keys(&[&["/denied/x"], &["/ws/chat"]]),
        "{title} B: {refused:?}"
    );
    let rest = by(
        &panel(prom, VALUES, ws, title, "C"),
        &["path", "status"],
        title,
    );
    assert_eq!(
        rest.keys().cloned().collect::<BTreeSet<_>>(),
        keys(&[&["/broken/chat", "426"]]),
        "{title} C: {rest:?}"
    );
    for (k, v) in ok.iter().chain(&refused).chain(&rest) {
        assert!(*v > 0.0, "{title}: {k:?} has rate {v}");
    }

    // Who refused: nginx (deny on /denied/x) and the upstream app (403 bad token, 426 broken).
    let title = "Who refused: nginx or the upstream app";
    let who = by(
        &panel(prom, VALUES, ws, title, "A"),
        &["answered_by", "status"],
        title,
    );
    assert_eq!(
        who.keys().cloned().collect::<BTreeSet<_>>(),
        keys(&[
            &["nginx", "403"],
            &["upstream", "403"],
            &["upstream", "426"]
        ]),
        "{title}: {who:?}"
    );
    assert!(who.values().all(|v| *v > 0.0), "{title}: {who:?}");

    // Failing paths over the selected range, with who answered.
    let title = "Failing paths (selected range)";
    let failing = by(
        &panel(prom, VALUES, ws, title, "A"),
        &["path", "status", "answered_by"],
        title,
    );
    assert_eq!(
        failing.keys().cloned().collect::<BTreeSet<_>>(),
        keys(&[
            &["/broken/chat", "426", "upstream"],
            &["/denied/x", "403", "nginx"],
            &["/ws/chat", "403", "upstream"],
        ]),
        "{title}: {failing:?}"
    );

    // Success ratio per path: the window saw batch 2's rise (3 of 5 on /ws/chat).
    let title = "Upgrade success ratio per path";
    let ratio = by(&panel(prom, VALUES, ws, title, "A"), &["path"], title);
    let want = [("/ws/chat", 0.6), ("/broken/chat", 0.0), ("/denied/x", 0.0)];
    assert_eq!(ratio.len(), want.len(), "{title}: {ratio:?}");
    for (path, w) in want {
        let v = ratio
            .get(&vec![path.to_string()])
            .copied()
            .unwrap_or(f64::NAN);
        assert!(close(v, w), "{title}: {path} is {v}, want {w}: {ratio:?}");
    }

    // Stat panels over the selected range: 3 of the 8 attempts per batch switched; 2 of the
    // 5 attempts on /ws/ paths were 403.
    for (title, w) in [
        ("Upgrade success share (selected range)", 3.0 / 8.0),
        ("403 share on /ws/ paths (selected range)", 0.4),
    ] {
        match panel(prom, VALUES, ws, title, "A").as_slice() {
            [(_, v)] => assert!(close(*v, w), "{title}: {v}, want {w}"),
            other => panic!("{title}: {other:?}"),
        }
    }

    // Handshake quantiles for /ws/chat: one finite number each (loopback: well under 1 s).
    for (title, refs) in [
        ("Handshake latency p50 / p95 / p99", &["A", "B", "C"][..]),
        ("Handshake p95 (selected range)", &["A"][..]),
        ("Handshake p95: now vs $compare_offset earlier", &["A"][..]),
    ] {
        for r in refs {
            match panel(prom, WS_CHAT_VALUES, ws, title, r).as_slice() {
                [(_, v)] => assert!(
                    v.is_finite() && (0.0..1.0).contains(v),
                    "{title} ref {r} for /ws/chat: {v}"
                ),
                other => panic!("{title} ref {r} for /ws/chat: {other:?}"),
            }
        }
    }

    // Average session length for /ws/chat: every session was held open at least HOLD.
    let title = "WebSocket session length";
    match panel(prom, WS_CHAT_VALUES, ws, title, "C").as_slice() {
        [(_, v)] => assert!(*v >= HOLD.as_secs_f64() && *v < 10.0, "{title}: {v}"),
        other => panic!("{title}: {other:?}"),
    }
}

/// The recording rules evaluate to what the traffic made, and every rule is healthy.
fn check_rules(prom: &Prometheus) {
    let rule = |name: &str, label: &[&str]| -> BTreeMap<Vec<String>, f64> {
        by(
            &prom.vector(name).unwrap_or_else(|e| panic!("{name}: {e}")),
            label,
            name,
        )
    };
    let path = |p: &str| vec![p.to_string()];

    let success = rule("nginxlog:ws_upgrade_success_ratio:rate5m", &["path"]);
    let ws = success.get(&path("/ws/chat")).copied().unwrap_or(f64::NAN);
    assert!(
        ws > 0.0 && ws < 1.0 && close(ws, 0.6),
        "success ratio /ws/chat: {success:?}"
    );
    assert_eq!(
        success.get(&path("/broken/chat")),
        Some(&0.0),
        "{success:?}"
    );
    assert_eq!(success.get(&path("/denied/x")), Some(&0.0), "{success:?}");

    let share403 = rule("nginxlog:ws_upgrade_403_ratio:rate5m", &["path"]);
    let ws = share403.get(&path("/ws/chat")).copied().unwrap_or(f64::NAN);
    assert!(close(ws, 0.4), "403 ratio /ws/chat: {share403:?}");
    assert_eq!(share403.get(&path("/denied/x")), Some(&1.0), "{share403:?}");
    assert_eq!(
        share403.get(&path("/broken/chat")),
        Some(&0.0),
        "{share403:?}"
    );

    let attempts = rule("nginxlog:ws_upgrade_attempts:rate5m", &["path"]);
    assert_eq!(
        attempts.keys().cloned().collect::<BTreeSet<_>>(),
        keys(&[&["/broken/chat"], &["/denied/x"], &["/ws/chat"]]),
        "{attempts:?}"
    );
    assert!(attempts.values().all(|v| *v > 0.0), "{attempts:?}");

    let answerer = rule(
        "nginxlog:ws_upgrade_requests_by_answerer:rate5m",
        &["path", "status", "answered_by"],
    );
    for k in [
        ["/denied/x", "403", "nginx"],
        ["/ws/chat", "403", "upstream"],
        ["/ws/chat", "101", "upstream"],
    ] {
        let k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        assert!(
            answerer.get(&k).is_some_and(|v| *v > 0.0),
            "{k:?} missing from {answerer:?}"
        );
    }

    let p95 = rule(
        "nginxlog:ws_handshake_duration_seconds:p95_rate5m",
        &["path"],
    );
    let v = p95.get(&path("/ws/chat")).copied().unwrap_or(f64::NAN);
    assert!(v.is_finite() && v >= 0.0, "handshake p95 /ws/chat: {p95:?}");

    let upstream = rule("nginxlog:upstream_error_events:rate5m", &["signature"]);
    assert!(
        upstream
            .get(&path("upstream_connect_refused"))
            .is_some_and(|v| *v > 0.0),
        "/down/ is refused: {upstream:?}"
    );

    let malformed = rule("nginxlog:lines_malformed_ratio:rate5m", &["log"]);
    assert!(!malformed.is_empty(), "no malformed ratio");
    // The idle syslog socket read nothing: its ratio is 0/0.
    assert!(
        malformed
            .iter()
            .filter(|(k, _)| !k.iter().any(|l| l.starts_with("syslog+udp://")))
            .all(|(_, v)| *v == 0.0),
        "{malformed:?}"
    );

    // Prometheus loaded every rule of the file and evaluates each without error.
    let data = prom.api("/api/v1/rules").expect("rules API");
    let mut seen = 0;
    for g in data["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            seen += 1;
            assert_eq!(
                r["health"], "ok",
                "rule {} in {}: {} {}",
                r["name"], g["name"], r["health"], r["lastError"]
            );
        }
    }
    let file = std::fs::read_to_string(repo().join("alerts/nginxlog-rules.yml")).expect("rules");
    let in_file = file
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("- record:") || l.starts_with("- alert:")
        })
        .count();
    assert_eq!(seen, in_file, "Prometheus loaded {seen} of {in_file} rules");
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free UDP port")
        .port()
}
