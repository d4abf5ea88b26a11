//! `run --nginx-config` against a real nginx: a sidecar given nothing but nginx's config finds
//! the logs, reads each in the `log_format` its directive names (a custom one with
//! `$time_iso8601` and `$request_id`, and an `escape=json` one on a second server), counts real
//! handshakes and plain requests exactly, exports the findings of the incident's bare `/ws/`
//! location, and its status page names the failing path, who answered and the lines to add.
//! Then the config is fixed and nginx reloaded: the findings go without a sidecar restart and
//! new sessions count as 101. A config that stops parsing keeps the last good one and is
//! counted as a read error.

mod support;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::*;

const TIMEOUT: Duration = Duration::from_secs(15);

/// Not a preset: ISO time, request id, the upgrade fields the sidecar needs.
const LIVE_FORMAT: &str = r#"'$time_iso8601 $request_id $remote_addr "$request" $status $body_bytes_sent $request_time "$upstream_header_time" "$http_upgrade" "$http_user_agent"'"#;
/// A JSON format with `escape=json`.
const JSON_FORMAT: &str = r#"escape=json '{"time":"$time_iso8601","id":"$request_id","request":"$request","status":"$status","rt":"$request_time","uht":"$upstream_header_time","upgrade":"$http_upgrade"}'"#;

/// With a syslog target the sidecar cannot read; the fixed config drops it.
const BARE_WS: &str = "        location /ws/ {
            proxy_pass http://backend;
        }
        location /audit/ {
            access_log syslog:server=127.0.0.1:9 live;
            return 204;
        }";

const FIXED_WS: &str = "        location /ws/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
        }";

fn conf(dir: &Path, port: u16, port2: u16, backend: u16, ws: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
{temp}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    log_format live {LIVE_FORMAT};
    log_format jsonl {JSON_FORMAT};
    upstream backend {{ server 127.0.0.1:{backend}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        access_log {d}/logs/access.log live;
{ws}
        location /plain/ {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{port2};
        server_name other;
        access_log {d}/logs/other.json jsonl;
        location / {{ return 204; }}
    }}
}}
"#,
        temp = nginx_temp_paths(dir),
    )
}

/// `tests/support/ws_backend.py` (Debian's python3-websockets): 101 for `token=good`, its own
/// refusal for what is not an HTTP/1.1 upgrade. Killed on drop.
struct PyBackend {
    port: u16,
    child: Child,
}

impl PyBackend {
    fn start(log: &Path) -> PyBackend {
        let stderr = std::fs::File::create(log).expect("create backend log");
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/support/ws_backend.py"))
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("run /usr/bin/python3 (python3-websockets)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(TIMEOUT).unwrap_or_default();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "backend did not start ({line:?}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        PyBackend { port, child }
    }
}

impl Drop for PyBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nginx -s reload` on the test prefix.
fn reload(dir: &Path) {
    let out = Command::new(nginx_bin())
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-s", "reload"])
        .output()
        .expect("nginx -s reload");
    assert!(
        out.status.success(),
        "nginx -s reload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn status_json(sidecar: &Sidecar) -> Value {
    let (code, body) = fetch(sidecar.port, "/status.json");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status.json is JSON")
}

fn finding_series(scrape: &str, severity: &str) -> Vec<String> {
    scrape
        .lines()
        .filter(|l| {
            l.starts_with("nginxlog_config_findings{")
                && l.contains(&format!("severity=\"{severity}\""))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn sidecar_with_only_the_nginx_config_counts_diagnoses_and_follows_a_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let backend = PyBackend::start(&d.join("backend.log"));
    let (port, port2) = (free_port(), free_port());
    write_prefix(
        d,
        &[("nginx.conf", &conf(d, port, port2, backend.port, BARE_WS))],
    );
    let check = nginx_check(d);
    assert!(check.ok, "nginx -t: {}", check.stderr);
    let nginx = Nginx::start_written(d, port);
    let _ = nginx.port;

    let config = d.join("nginx.conf");
    let sidecar = Sidecar::start(&["--nginx-config", config.to_str().expect("utf-8")]);
    let access = d.join("logs/access.log").display().to_string();
    let json = d.join("logs/other.json").display().to_string();
    let error = d.join("logs/error.log").display().to_string();

    // Sources come from the config, with the formats their directives name.
    let st = status_json(&sidecar);
    let sources: Vec<(String, String)> = st["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").to_string(),
                s["format"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(sources.len(), 3, "{sources:?}");
    let format_of = |name: &str| {
        sources
            .iter()
            .find(|s| s.0 == name)
            .map(|s| s.1.clone())
            .unwrap_or_else(|| panic!("{name} not among {sources:?}"))
    };
    assert!(
        format_of(&access).starts_with("log_format live ("),
        "{sources:?}"
    );
    assert!(
        format_of(&json).starts_with("log_format jsonl escape=json"),
        "{sources:?}"
    );
    assert_eq!(format_of(&error), "error log");
    let unusable = |st: &Value| -> Vec<String> {
        st["unusable_log_targets"]
            .as_array()
            .expect("unusable_log_targets")
            .iter()
            .map(|u| u["target"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(unusable(&st), ["syslog:server=127.0.0.1:9"], "{st}");

    // Findings exist before any traffic.
    let m = sidecar.metrics();
    let errors = finding_series(&m, "error");
    for id in [
        "ws_upgrade_header_missing",
        "ws_connection_header_missing",
        "ws_http_version_too_low",
    ] {
        let series = format!(
            r#"nginxlog_config_findings{{id="{id}",severity="error",server="localhost",location="/ws/"}} 1"#
        );
        assert!(
            errors.contains(&series),
            "{series} missing in:\n{errors:#?}"
        );
    }
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(sample(&m, "nginxlog_config_last_read_timestamp_seconds") > 1.7e9);
    assert_eq!(sample(&m, "nginxlog_config_read_errors_total"), 0.0);
    let info = m
        .lines()
        .find(|l| l.starts_with(r#"nginxlog_config_finding_info{id="ws_upgrade_header_missing""#))
        .expect("finding info");
    assert!(
        info.contains(r#"fix=""#) && info.contains("proxy_set_header Upgrade $http_upgrade;"),
        "{info}"
    );

    // Real traffic: 3 upgrades on the bare location, 2 plain requests, 2 on the second server.
    let mut refused = Vec::new();
    for i in 0..3 {
        let url = format!("ws://127.0.0.1:{port}/ws/chat?token=good&secret=s3cr3t{i}");
        refused.push(ws_client(&url, Duration::ZERO));
    }
    let status = refused[0];
    assert!(
        refused.iter().all(|&s| s == status && s != 101),
        "{refused:?}"
    );
    for _ in 0..2 {
        assert_eq!(http_get(port, "/plain/x?token=abc"), 200);
        assert_eq!(http_get(port2, "/y"), 204);
    }
    sidecar.wait_value(
        &format!(r#"nginxlog_ws_upgrade_requests_total{{path="/ws/chat",status="{status}",answered_by="upstream"}}"#),
        3.0,
    );
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/plain/x",method="GET",status="200"}"#,
        2.0,
    );
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/y",method="GET",status="204"}"#,
        2.0,
    );
    let m = sidecar.metrics();
    assert_eq!(log_metric(&m, "nginxlog_lines_read_total", &access), 5.0);
    assert_eq!(log_metric(&m, "nginxlog_lines_read_total", &json), 2.0);
    for log in [&access, &json, &error] {
        assert_eq!(
            log_metric(&m, "nginxlog_lines_malformed_total", log),
            0.0,
            "{log}"
        );
    }
    assert_eq!(
        sample(
            &m,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#
        ),
        0.0
    );

    // The page names the failing path, who answered, the cause, the location and the fix.
    let (code, page) = fetch(sidecar.port, "/");
    assert_eq!(code, 200);
    assert!(
        page.contains("<meta http-equiv=\"refresh\""),
        "no auto-refresh"
    );
    assert!(!page.contains("<script"), "the page needs no JavaScript");
    for want in [
        "WebSocket upgrades on /ws/chat are failing: 0 of 3 switched",
        "answered by upstream 3",
        "upgrade_not_forwarded",
        "it never saw an upgrade",
        &format!("{status} ×3"),
        &format!("location /ws/ ({}:", config.display()),
        "error[ws_upgrade_header_missing]",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_http_version 1.1;",
        "log_format live (",
    ] {
        assert!(page.contains(want), "page lacks {want:?}:\n{page}");
    }
    // No query string anywhere the sidecar shows: page, JSON twin, metrics.
    for target in ["/", "/status.json", "/metrics"] {
        let (code, body) = fetch(sidecar.port, target);
        assert_eq!(code, 200, "{target}");
        for secret in ["s3cr3t", "token="] {
            assert!(!body.contains(secret), "{secret:?} in {target}:\n{body}");
        }
    }
    let st = status_json(&sidecar);
    assert_eq!(st["state"], "failing");
    let p = &st["paths"][0];
    assert_eq!(p["path"], "/ws/chat");
    assert_eq!(p["last_5m"]["attempts"], 3);
    assert_eq!(p["last_5m"]["switched"], 0);
    assert_eq!(p["last_60m"]["attempts"], 3);
    assert_eq!(p["last_5m"]["cause"], "upgrade_not_forwarded");
    assert_eq!(p["last_5m"]["failures_answered_by"]["upstream"], 3);
    assert_eq!(p["location"]["location"], "/ws/");
    let ids: Vec<&str> = p["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"ws_upgrade_header_missing"), "{ids:?}");
    // The location's line in the config.
    let text = std::fs::read_to_string(&config).expect("read");
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("location /ws/"))
        .expect("ws location")
        + 1;
    assert_eq!(p["location"]["at"], format!("{}:{line}", config.display()));

    // Fix the config and reload nginx: the findings go, the sidecar keeps running.
    write_prefix(
        d,
        &[("nginx.conf", &conf(d, port, port2, backend.port, FIXED_WS))],
    );
    let check = nginx_check(d);
    assert!(check.ok, "nginx -t: {}", check.stderr);
    reload(d);
    wait_for("error findings gone", Duration::from_secs(10), || {
        finding_series(&sidecar.metrics(), "error").is_empty()
    });
    // nginx applies a reload asynchronously: probe until a handshake switches, keeping count.
    let (mut probe_ok, mut probe_refused) = (0u64, 0u64);
    wait_for("reloaded nginx switches", TIMEOUT, || {
        let s = ws_client(
            &format!("ws://127.0.0.1:{port}/ws/chat?token=good"),
            Duration::ZERO,
        );
        if s == 101 {
            probe_ok += 1;
        } else {
            assert_eq!(s, status, "an old worker refuses as before");
            probe_refused += 1;
        }
        s == 101
    });
    for _ in 0..4 {
        assert_eq!(
            ws_client(
                &format!("ws://127.0.0.1:{port}/ws/chat?token=good"),
                Duration::ZERO
            ),
            101
        );
    }
    sidecar.wait_value(
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#,
        (probe_ok + 4) as f64,
    );
    sidecar.wait_value(
        &format!(r#"nginxlog_ws_upgrade_requests_total{{path="/ws/chat",status="{status}",answered_by="upstream"}}"#),
        (3 + probe_refused) as f64,
    );
    let m = sidecar.metrics();
    for log in [&access, &json, &error] {
        assert_eq!(
            log_metric(&m, "nginxlog_lines_malformed_total", log),
            0.0,
            "{log}"
        );
    }
    let st = status_json(&sidecar);
    assert!(
        st["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["severity"] != "error"),
        "{}",
        st["findings"]
    );
    assert!(
        unusable(&st).is_empty(),
        "the reload dropped the syslog target: {st}"
    );
    let (_, page) = fetch(sidecar.port, "/");
    assert!(!page.contains("error[ws_"), "{page}");
    assert!(!page.contains("syslog:server"), "{page}");

    // A broken edit: counted, reported, the last good config stays.
    let ids_of = |st: &Value| -> Vec<String> {
        let mut v: Vec<String> = st["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| format!("{} {} {}", f["id"], f["server"], f["location"]))
            .collect();
        v.sort();
        v
    };
    let good = ids_of(&st);
    let good_read = st["config"]["last_read"].clone();
    let last_read = sample(
        &sidecar.metrics(),
        "nginxlog_config_last_read_timestamp_seconds",
    );
    std::fs::write(&config, "http { server { location /ws/ {\n").expect("write");
    sidecar.wait_value("nginxlog_config_read_errors_total", 1.0);
    let m = sidecar.metrics();
    assert!(finding_series(&m, "error").is_empty());
    assert_eq!(
        sample(&m, "nginxlog_config_last_read_timestamp_seconds"),
        last_read,
        "a config that does not parse is not a successful read"
    );
    let st = status_json(&sidecar);
    assert_eq!(ids_of(&st), good, "the last good config's findings stay");
    assert_eq!(st["config"]["last_read"], good_read, "{}", st["config"]);
    assert!(
        st["config"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("nginx.conf")),
        "{}",
        st["config"]
    );
    assert_eq!(st["paths"][0]["location"]["location"], "/ws/");
    drop(nginx);
}
