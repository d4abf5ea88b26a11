//! `--nginx-config` in every mode, on files (no nginx needed): the config names the logs and
//! their formats, `--nginx-root-prefix` re-roots its paths, and what cannot be read is a clear
//! error (exit 2) naming the directive, the reason and what to do.

mod support;
use std::path::Path;
use std::process::{Command, Output};
use support::*;

/// A custom format (not a preset) and an escape=json one.
const CONF: &str = r#"events { }
http {
    log_format live '$time_iso8601 $request_id "$request" $status $body_bytes_sent $request_time "$upstream_header_time" "$http_upgrade"';
    log_format j escape=json '{"t":"$time_iso8601","request":"$request","status":"$status","uht":"$upstream_header_time","upgrade":"$http_upgrade"}';
    include /etc/nginx/conf.d/*.conf;
}
"#;

const SERVERS: &str = r#"server {
    listen 80;
    access_log /var/log/nginx/live.log live;
    location /ws/ { proxy_pass http://app; }
}
server {
    listen 81;
    access_log /var/log/nginx/json.log j;
    error_log /var/log/nginx/error.log;
}
"#;

const LIVE_LINES: &str = "2026-12-01T10:00:00+00:00 0f1e2d3c4b5a69788796a5b4c3d2e1f0 \"GET /ws/chat?token=x HTTP/1.1\" 403 9 0.003 \"0.003\" \"websocket\"\n\
2026-12-01T10:00:01+00:00 1f1e2d3c4b5a69788796a5b4c3d2e1f0 \"GET /ws/chat?token=y HTTP/1.1\" 101 0 12.5 \"0.002\" \"websocket\"\n\
2026-12-01T10:00:02+00:00 2f1e2d3c4b5a69788796a5b4c3d2e1f0 \"GET /index.html HTTP/1.1\" 200 512 0.001 \"-\" \"\"\n";

const JSON_LINES: &str = "{\"t\":\"2026-12-01T10:00:00+00:00\",\"request\":\"GET /api/x HTTP/1.1\",\"status\":\"200\",\"uht\":\"0.010\",\"upgrade\":\"\"}\n\
{\"t\":\"2026-12-01T10:00:01+00:00\",\"request\":\"GET /api/\\\"q\\\" HTTP/1.1\",\"status\":\"404\",\"uht\":\"0.001\",\"upgrade\":\"\"}\n";

/// nginx's files under `root` as a sidecar mounting them would see them.
fn layout(root: &Path) {
    for (rel, text) in [
        ("etc/nginx/nginx.conf", CONF),
        ("etc/nginx/conf.d/app.conf", SERVERS),
        ("var/log/nginx/live.log", LIVE_LINES),
        ("var/log/nginx/json.log", JSON_LINES),
        ("var/log/nginx/error.log", "2026/12/01 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: _, request: \"GET /ws/chat?token=z HTTP/1.1\", upstream: \"http://127.0.0.1:8080/ws/chat\", host: \"x\"\n"),
    ] {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

fn sidecar(args: &[&str]) -> Output {
    Command::new(sidecar_bin())
        .args(args)
        .output()
        .expect("run the sidecar")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn run_once_reads_every_log_the_rerooted_config_names_in_its_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    layout(root);
    let root_s = root.to_str().expect("utf-8");
    let o = sidecar(&[
        "run",
        "--once",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        root_s,
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let live = root.join("var/log/nginx/live.log").display().to_string();
    let json = root.join("var/log/nginx/json.log").display().to_string();
    let error = root.join("var/log/nginx/error.log").display().to_string();
    assert_eq!(
        log_metric(&out, "nginxlog_lines_read_total", &live),
        3.0,
        "{out}"
    );
    assert_eq!(
        log_metric(&out, "nginxlog_lines_read_total", &json),
        2.0,
        "{out}"
    );
    assert_eq!(
        log_metric(&out, "nginxlog_lines_read_total", &error),
        1.0,
        "{out}"
    );
    for log in [&live, &json, &error] {
        assert_eq!(
            log_metric(&out, "nginxlog_lines_malformed_total", log),
            0.0,
            "{log}: {out}"
        );
    }
    assert_eq!(
        sample(
            &out,
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &out,
            r#"nginxlog_http_requests_total{path="/api/x",method="GET",status="200"}"#
        ),
        1.0
    );
    assert!(!out.contains("token="), "query strings never reach a label");
}

#[test]
fn given_access_logs_take_the_format_of_the_directive_writing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    layout(root);
    let live = root.join("var/log/nginx/live.log");
    let json = root.join("var/log/nginx/json.log");
    let conf = root.join("etc/nginx/nginx.conf");
    let o = sidecar(&[
        "run",
        "--once",
        "--access-log",
        json.to_str().expect("utf-8"),
        "--access-log",
        live.to_str().expect("utf-8"),
        "--nginx-config",
        conf.to_str().expect("utf-8"),
        "--nginx-root-prefix",
        root.to_str().expect("utf-8"),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for (log, n) in [(&live, 3.0), (&json, 2.0)] {
        let log = log.display().to_string();
        assert_eq!(
            log_metric(&out, "nginxlog_lines_read_total", &log),
            n,
            "{out}"
        );
        assert_eq!(
            log_metric(&out, "nginxlog_lines_malformed_total", &log),
            0.0,
            "{out}"
        );
    }
    // Without the config, auto-detection knows neither format.
    let o = sidecar(&[
        "run",
        "--once",
        "--access-log",
        live.to_str().expect("utf-8"),
    ]);
    let (out, _) = text(&o);
    assert_eq!(
        log_metric(
            &out,
            "nginxlog_lines_malformed_total",
            &live.display().to_string()
        ),
        3.0,
        "{out}"
    );
}

#[test]
fn parse_compare_backfill_and_doctor_take_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    layout(root);
    let r = root.to_str().expect("utf-8");
    let live = root.join("var/log/nginx/live.log");
    let json = root.join("var/log/nginx/json.log");
    let live_s = live.to_str().expect("utf-8");
    let json_s = json.to_str().expect("utf-8");
    let o = sidecar(&[
        "parse",
        "--strict",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        r,
        live_s,
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("\"status\":101"), "{out}");
    let o = sidecar(&[
        "parse",
        "--strict",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        r,
        json_s,
    ]);
    assert!(o.status.success(), "{}", text(&o).1);

    let om = root.join("out.om");
    let o = sidecar(&[
        "backfill",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        r,
        "--access-log",
        live_s,
        "-o",
        om.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let written = std::fs::read_to_string(&om).expect("openmetrics");
    assert!(
        written.contains("nginxlog_ws_upgrade_requests_total{path=\"/ws/chat\",status=\"101\""),
        "{written}"
    );

    let o = sidecar(&[
        "compare",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        r,
        "--access-log",
        live_s,
        "--split",
        "2026-12-01T10:00:01Z",
        "--report-format",
        "json",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("/ws/chat"), "{out}");

    // Files written in two formats cannot share one history pass: a clear exit 2.
    let o = sidecar(&[
        "compare",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        r,
        "--access-log",
        live_s,
        json_s,
        "--split",
        "2026-12-01T10:00:01Z",
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("log_format live") && err.contains("log_format j"),
        "{err}"
    );

    // doctor reads the re-rooted config (its include too) and finds the bare location.
    let o = sidecar(&[
        "doctor",
        "--nginx-config",
        "/etc/nginx/nginx.conf",
        "--nginx-root-prefix",
        r,
        "--nginx-version",
        "1.22.1",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("error[ws_upgrade_header_missing]"), "{out}");
}

#[test]
fn a_config_with_nothing_to_tail_is_exit_2_with_every_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        "error_log stderr;\nhttp {\n  access_log off;\n  server { access_log /dev/stdout; }\n  server { access_log syslog:server=unix:/dev/log; }\n  server { access_log /var/log/nginx/$host.log; }\n}\n",
    )
    .expect("write");
    let o = sidecar(&[
        "run",
        "--nginx-config",
        conf.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for want in [
        "nginx.conf:1: error_log stderr",
        "nginx.conf:3: access_log off",
        "nginx.conf:4: access_log /dev/stdout",
        "nginx.conf:5: access_log syslog:server=unix:/dev/log",
        "syslog+udp://",
        "nginx.conf:6: access_log /var/log/nginx/$host.log",
        "contains a variable",
    ] {
        assert!(err.contains(want), "{want:?} missing in:\n{err}");
    }
    // A config that does not parse: exit 2 with file and line.
    std::fs::write(&conf, "http {\n  server {\n").expect("write");
    let o = sidecar(&["run", "--nginx-config", conf.to_str().expect("utf-8")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nginx.conf:") && err.contains("unexpected end of file"),
        "{err}"
    );
}
