//! The shipped deployment files work: every nginx config in `deploy/` passes a real `nginx -t`
//! and the reference configs serve real WebSocket traffic that the sidecar counts; the compose
//! stack's Prometheus config passes `promtool check config` with the repository's rule file;
//! every YAML file parses; compose, Kubernetes, systemd and the Dockerfile are wired to each
//! other and to the sidecar's real flags; the Docker build context holds what cargo needs.
//!
//! nginx and promtool are required (`.ci/run` installs Debian's nginx-light and prometheus):
//! without them these tests fail, they never pass silently. The demo-backend test needs Node.js.
//!
//! Templating for `nginx -t`: nginx resolves upstream and syslog host names when it reads its
//! config, and the shipped paths (/var/log/nginx, /usr/share/nginx/html, the pid file) belong to
//! the host. [`Templated`] copies a config into a temp prefix and maps those paths into it, the
//! compose service names (`ws-backend`, `nginxlog-sidecar`) to 127.0.0.1 and ports the test
//! chooses, drops `user` (tests may run as root, and the image's `nginx` user may not exist
//! here) and sets `listen` to a free loopback port. Nothing else is changed.

mod support;

use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

// ---------------------------------------------------------------------------------------------
// helpers

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

/// All documents of a (possibly multi-document) YAML file.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            serde::Deserialize::deserialize(d)
                .unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
        })
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// Lines that are not comments or blank, with trailing comments removed and whitespace trimmed.
fn code_lines(conf: &str) -> Vec<String> {
    conf.lines()
        .map(|l| match l.find('#') {
            // `#` inside quotes does not occur in the shipped configs outside comments.
            Some(i) => &l[..i],
            None => l,
        })
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whitespace collapsed, comments dropped: for comparing directives across files.
fn normalized(conf: &str) -> String {
    code_lines(conf)
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn promtool() -> PathBuf {
    for c in ["/usr/bin/promtool", "/usr/local/bin/promtool"] {
        if Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    if let Ok(out) = Command::new("promtool").arg("--version").output() {
        if out.status.success() {
            return PathBuf::from("promtool");
        }
    }
    panic!("promtool is not installed: run .ci/run (it installs Debian's prometheus package, which ships /usr/bin/promtool)");
}

fn sidecar_help(sub: &str) -> String {
    let out = Command::new(sidecar_bin())
        .args([sub, "--help"])
        .output()
        .expect("run nginxlog-sidecar --help");
    assert!(out.status.success(), "nginxlog-sidecar {sub} --help failed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `NGINXLOG_*` names in a text.
fn env_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("NGINXLOG_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].trim_end_matches('_');
        if name.len() > "NGINXLOG".len() {
            out.insert(name.to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// The format string nginx compiles from the `log_format ws_timing '...' '...';` directive of a
/// config: the quoted pieces concatenated, exactly as nginx joins them (whitespace matters).
fn ws_timing_format(conf: &str) -> Option<String> {
    let code = code_lines(conf).join("\n");
    let start = code.find("log_format ws_timing ")?;
    let mut out = String::new();
    let mut quoted = false;
    for c in code[start + "log_format ws_timing ".len()..].chars() {
        match (quoted, c) {
            (false, ';') => return Some(out),
            (_, '\'') => quoted = !quoted,
            (true, c) => out.push(c),
            (false, _) => {}
        }
    }
    None
}

/// The format the sidecar's `ws_timing` preset expects (the README's text, docs/architecture.md "Values").
fn design_log_format() -> String {
    ws_timing_format(&format!("log_format ws_timing {WS_TIMING};")).expect("the harness's format")
}

/// The full nginx configs shipped under deploy/ (name, text, ws-location.conf text to include).
fn shipped_nginx_configs() -> Vec<(String, String, String)> {
    let ws_location = read("deploy/nginx/ws-location.conf");
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(repo().join("deploy/nginx"))
        .expect("deploy/nginx")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    entries.sort();
    for p in entries {
        let text = std::fs::read_to_string(&p).expect("read");
        let name = format!(
            "deploy/nginx/{}",
            p.file_name().expect("name").to_string_lossy()
        );
        if code_lines(&text).iter().any(|l| l.starts_with("events")) {
            out.push((name, text, ws_location.clone()));
        } else {
            // A snippet: it must be included by a full config, which is how it gets tested.
            let file = p.file_name().expect("name").to_string_lossy().to_string();
            let included = std::fs::read_dir(repo().join("deploy/nginx"))
                .expect("dir")
                .any(|e| {
                    let t = std::fs::read_to_string(e.expect("entry").path()).unwrap_or_default();
                    code_lines(&t)
                        .iter()
                        .any(|l| l.starts_with("include") && l.contains(&file))
                });
            assert!(included, "{name} is a snippet that no full config in deploy/nginx includes, so nginx -t never checks it");
        }
    }
    let cm = k8s_configmap();
    out.push((
        "deploy/kubernetes/nginx-configmap.yaml".to_string(),
        s(&cm["data"]["nginx.conf"]).to_string(),
        s(&cm["data"]["ws-location.conf"]).to_string(),
    ));
    assert!(
        out.len() >= 3,
        "expected nginx.conf, nginx-syslog.conf and the Kubernetes ConfigMap"
    );
    out
}

fn k8s_configmap() -> Value {
    yaml_docs("deploy/kubernetes/nginx-configmap.yaml")
        .into_iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap in deploy/kubernetes/nginx-configmap.yaml")
}

fn k8s_deployment() -> Value {
    yaml_docs("deploy/kubernetes/deployment.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment in deploy/kubernetes/deployment.yaml")
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["containers"]
        .as_sequence()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env_of(c: &Value) -> BTreeMap<String, String> {
    c["env"]
        .as_sequence()
        .map(|e| {
            e.iter()
                .map(|v| (s(&v["name"]).to_string(), s(&v["value"]).to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `access_log` / `error_log` targets of an nginx config (first argument).
fn log_targets(conf: &str, directive: &str) -> Vec<String> {
    code_lines(conf)
        .iter()
        .filter_map(|l| l.strip_prefix(directive).filter(|r| r.starts_with(' ')))
        .map(|r| {
            r.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches(';')
                .to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// nginx in a temp prefix

/// Ports a templated config is given.
#[derive(Clone, Copy)]
struct Ports {
    listen: u16,
    backend: u16,
    syslog_access: u16,
    syslog_error: u16,
}

impl Ports {
    /// Free ports for everything (for `nginx -t`, where nothing is contacted).
    fn any() -> Ports {
        Ports {
            listen: free_port(),
            backend: free_port(),
            syslog_access: free_udp_port(),
            syslog_error: free_udp_port(),
        }
    }
}

/// A shipped nginx config copied into a temp prefix with its host paths and names mapped in.
struct Templated {
    dir: PathBuf,
    conf: PathBuf,
}

impl Templated {
    fn new(dir: &Path, conf: &str, ws_location: &str, ports: Ports) -> Templated {
        for d in ["conf/snippets", "logs", "tmp", "html"] {
            std::fs::create_dir_all(dir.join(d)).expect("mkdir");
        }
        // The official image's and Debian's mime.types; a stand-in keeps the test off /etc.
        std::fs::write(
            dir.join("conf/mime.types"),
            "types {\n    text/html html;\n    application/javascript js;\n}\n",
        )
        .expect("write");
        std::fs::write(dir.join("conf/snippets/ws-location.conf"), ws_location).expect("write");
        std::fs::write(
            dir.join("html/index.html"),
            "<!doctype html><title>t</title>\n",
        )
        .expect("write");
        let mut out = String::new();
        let mut has_temp_paths = false;
        for line in conf.lines() {
            let code = line.split('#').next().unwrap_or("").trim();
            let indent = &line[..line.len() - line.trim_start().len()];
            if code.starts_with("user ") {
                continue;
            } else if code.starts_with("pid ") {
                out.push_str(&format!("{indent}pid @PREFIX@/nginx.pid;\n"));
            } else if code.starts_with("worker_processes ") {
                out.push_str(&format!("{indent}worker_processes 1;\n"));
            } else if code.starts_with("listen ") {
                out.push_str(&format!("{indent}listen 127.0.0.1:{};\n", ports.listen));
            } else {
                has_temp_paths |= code.starts_with("client_body_temp_path");
                let l = line
                    .replace("/var/log/nginx/", "@PREFIX@/logs/")
                    .replace("/usr/share/nginx/html", "@PREFIX@/html")
                    .replace("/tmp/", "@PREFIX@/tmp/")
                    .replace("ws-backend:8080", &format!("127.0.0.1:{}", ports.backend))
                    .replace(
                        "nginxlog-sidecar:5514",
                        &format!("127.0.0.1:{}", ports.syslog_access),
                    )
                    .replace(
                        "nginxlog-sidecar:5515",
                        &format!("127.0.0.1:{}", ports.syslog_error),
                    );
                out.push_str(&l);
                out.push('\n');
            }
        }
        if !has_temp_paths {
            // The distribution's compiled-in temp paths (/var/lib/nginx/...) are not ours.
            let temp = "\n    client_body_temp_path @PREFIX@/tmp/body;\n    proxy_temp_path @PREFIX@/tmp/proxy;\n    fastcgi_temp_path @PREFIX@/tmp/fastcgi;\n    uwsgi_temp_path @PREFIX@/tmp/uwsgi;\n    scgi_temp_path @PREFIX@/tmp/scgi;\n";
            let i = out.find("http {").expect("an http block") + "http {".len();
            out.insert_str(i, temp);
        }
        let out = out.replace("@PREFIX@", &dir.display().to_string());
        // Nothing of the host may remain in a directive (comments may mention anything).
        for l in code_lines(&out) {
            for host in ["/var/", "/etc/", "/usr/", "ws-backend", "nginxlog-sidecar"] {
                assert!(
                    !l.contains(host),
                    "templating left a host path or name in: {l}"
                );
            }
        }
        let conf = dir.join("conf/nginx.conf");
        std::fs::write(&conf, out).expect("write nginx.conf");
        Templated {
            dir: dir.to_path_buf(),
            conf,
        }
    }

    fn nginx_args(&self) -> Vec<String> {
        vec![
            "-p".into(),
            format!("{}/", self.dir.display()),
            "-c".into(),
            self.conf.display().to_string(),
            "-e".into(),
            self.dir
                .join("logs/startup-error.log")
                .display()
                .to_string(),
        ]
    }

    /// `nginx -t`: Ok or nginx's complaint.
    fn test(&self) -> Result<(), String> {
        let out = Command::new(nginx_bin())
            .arg("-t")
            .args(self.nginx_args())
            .output()
            .expect("run nginx -t");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// Starts nginx in the foreground; stopped (TERM, then KILL) on drop.
    fn start(&self, port: u16) -> RunningNginx {
        self.test()
            .unwrap_or_else(|e| panic!("nginx -t failed:\n{e}"));
        let mut child = Command::new(nginx_bin())
            .args(self.nginx_args())
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        wait_nginx_up(
            &mut child,
            &self.dir.join("nginx.pid"),
            port,
            &self.dir.join("logs/startup-error.log"),
        );
        RunningNginx { child }
    }
}

struct RunningNginx {
    child: Child,
}

impl Drop for RunningNginx {
    fn drop(&mut self) {
        // TERM lets the master stop its workers; KILL would orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind udp")
}

/// Waits until a series is positive; returns the scrape.
fn wait_positive(sidecar: &Sidecar, series: &str) -> f64 {
    let start = Instant::now();
    loop {
        let v = sidecar.value(series);
        if v > 0.0 {
            return v;
        }
        if start.elapsed() > Duration::from_secs(15) {
            panic!("{series} stayed 0; last scrape:\n{}", sidecar.metrics());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// nginx configs

#[test]
fn every_shipped_nginx_config_passes_nginx_t() {
    let mut failures = Vec::new();
    for (name, conf, ws_location) in shipped_nginx_configs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = Templated::new(tmp.path(), &conf, &ws_location, Ports::any());
        if let Err(e) = t.test() {
            failures.push(format!("{name}:\n{e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "nginx -t failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn shipped_nginx_configs_carry_what_the_sidecar_needs() {
    let format = design_log_format();
    for (name, conf, ws_location) in shipped_nginx_configs() {
        let n = normalized(&conf);
        assert_eq!(
            ws_timing_format(&conf).as_deref(),
            Some(format.as_str()),
            "{name}: the ws_timing log_format differs from the sidecar's preset (docs/architecture.md)"
        );
        assert!(
            n.contains("map $http_upgrade $connection_upgrade { default upgrade; '' close; }"),
            "{name}: the $connection_upgrade map is missing"
        );
        assert!(
            n.contains("include snippets/ws-location.conf;"),
            "{name}: does not include the WebSocket location"
        );
        assert_eq!(
            ws_location,
            read("deploy/nginx/ws-location.conf"),
            "{name}: its ws-location.conf drifted from deploy/nginx/ws-location.conf"
        );
        let access = log_targets(&conf, "access_log");
        assert!(
            access.len() == 1 && !access[0].contains("/var/log/nginx/access.log"),
            "{name}: access_log {access:?}: one log, not the official image's stdout link"
        );
        assert!(
            code_lines(&conf)
                .iter()
                .any(|l| l.starts_with("access_log")
                    && l.trim_end_matches(';').ends_with(" ws_timing")),
            "{name}: access_log must use the ws_timing format"
        );
        let error: Vec<_> = code_lines(&conf)
            .into_iter()
            .filter(|l| l.starts_with("error_log"))
            .collect();
        assert!(
            error.len() == 1 && error[0].ends_with(" info;"),
            "{name}: error_log must be at level info (WebSocket idle timeouts are info): {error:?}"
        );
        assert!(
            !error[0].contains("/var/log/nginx/error.log"),
            "{name}: error.log is the official image's stderr link"
        );
        // large_client_header_buffers belongs to the server block, never to a location.
        assert!(
            n.contains("large_client_header_buffers"),
            "{name}: large_client_header_buffers missing"
        );
        assert!(!normalized(&ws_location).contains("large_client_header_buffers"));
    }
}

#[test]
fn syslog_variant_differs_from_nginx_conf_only_in_its_log_lines() {
    let files = code_lines(&read("deploy/nginx/nginx.conf"));
    let syslog = code_lines(&read("deploy/nginx/nginx-syslog.conf"));
    let strip = |v: &[String]| {
        v.iter()
            .filter(|l| !l.starts_with("access_log") && !l.starts_with("error_log"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&files),
        strip(&syslog),
        "nginx-syslog.conf must be nginx.conf with other log lines"
    );
    let syslog_text = read("deploy/nginx/nginx-syslog.conf");
    assert_eq!(
        log_targets(&syslog_text, "access_log"),
        ["syslog:server=nginxlog-sidecar:5514,tag=nginx"]
    );
    assert_eq!(
        log_targets(&syslog_text, "error_log"),
        ["syslog:server=nginxlog-sidecar:5515,tag=nginx"]
    );
}

#[test]
fn large_client_header_buffers_inside_location_is_rejected_by_nginx() {
    // What the comment in nginx.conf claims: only http and server level are allowed.
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = read("deploy/nginx/nginx.conf").replace(
        "location / {",
        "location / {\n            large_client_header_buffers 4 16k;",
    );
    let t = Templated::new(
        tmp.path(),
        &conf,
        &read("deploy/nginx/ws-location.conf"),
        Ports {
            listen: free_port(),
            ..Ports::any()
        },
    );
    let err = t
        .test()
        .expect_err("nginx must reject large_client_header_buffers inside location");
    assert!(
        err.contains("\"large_client_header_buffers\" directive is not allowed here"),
        "{err}"
    );
}

/// The reference config for real: WebSocket handshakes through it, the sidecar reading its two
/// log files, exact counts, no malformed lines, and the optional limit_req answering 429.
#[test]
fn reference_config_serves_websockets_and_the_sidecar_counts_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let port = free_port();
    let t = Templated::new(
        tmp.path(),
        &read("deploy/nginx/nginx.conf"),
        &read("deploy/nginx/ws-location.conf"),
        Ports {
            listen: port,
            backend: backend.port,
            ..Ports::any()
        },
    );
    let access = t.dir.join("logs/nginxlog-access.log").display().to_string();
    let error = t.dir.join("logs/nginxlog-error.log").display().to_string();
    let _nginx = t.start(port);
    let sidecar = Sidecar::start(&[
        "--format",
        "ws_timing",
        "--access-log",
        &access,
        "--error-log",
        &error,
    ]);

    let base = format!("ws://127.0.0.1:{port}");
    assert_eq!(
        ws_client(
            &format!("{base}/ws/chat?token=good"),
            Duration::from_millis(100)
        ),
        101
    );
    assert_eq!(
        ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO),
        403
    );
    assert_eq!(http_get(port, "/index.html"), 200);
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#, 1.0);
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#, 1.0);
    sidecar.wait_value(
        r#"nginxlog_http_requests_total{path="/index.html",method="GET",status="200"}"#,
        1.0,
    );

    // limit_req: 10 r/s, burst 20, per client address, /ws/ only. 40 quick attempts overflow it.
    let mut limited = 0.0;
    for _ in 0..40 {
        match ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO) {
            429 => limited += 1.0,
            403 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(limited > 0.0, "limit_req never answered 429");
    sidecar.wait_value(
        r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="429",answered_by="nginx"}"#,
        limited,
    );
    sidecar.wait_value(r#"nginxlog_error_events_total{level="error",signature="limit_req_rejected",path="/ws/chat"}"#, limited);
    // Plain pages are never limited (empty key outside /ws/).
    for _ in 0..30 {
        assert_eq!(http_get(port, "/index.html"), 200);
    }

    let m = sidecar.metrics();
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="{access}"}}"#)
        ),
        0.0,
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="{error}"}}"#)
        ),
        0.0,
        "{m}"
    );
    assert!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_read_total{{log="{error}"}}"#)
        ) > 0.0,
        "error log not read: {m}"
    );
}

/// nginx-syslog.conf for real: no files, the sidecar listens on two UDP ports.
#[test]
fn syslog_variant_delivers_both_logs_to_the_sidecar() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start();
    let port = free_port();
    let (pa, pe) = (free_udp_port(), free_udp_port());
    let t = Templated::new(
        tmp.path(),
        &read("deploy/nginx/nginx-syslog.conf"),
        &read("deploy/nginx/ws-location.conf"),
        Ports {
            listen: port,
            backend: backend.port,
            syslog_access: pa,
            syslog_error: pe,
        },
    );
    let (access, error) = (
        format!("syslog+udp://127.0.0.1:{pa}"),
        format!("syslog+udp://127.0.0.1:{pe}"),
    );
    let sidecar = Sidecar::start(&[
        "--format",
        "ws_timing",
        "--access-log",
        &access,
        "--error-log",
        &error,
    ]);
    let _nginx = t.start(port);
    let base = format!("ws://127.0.0.1:{port}");
    assert_eq!(
        ws_client(
            &format!("{base}/ws/chat?token=good"),
            Duration::from_millis(50)
        ),
        101
    );
    assert_eq!(
        ws_client(&format!("{base}/ws/chat?token=bad"), Duration::ZERO),
        403
    );
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#, 1.0);
    sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#, 1.0);
    // The error log (level info: the closed WebSocket connections) arrives on its own port.
    wait_positive(
        &sidecar,
        &format!(r#"nginxlog_lines_read_total{{log="{error}"}}"#),
    );
    let m = sidecar.metrics();
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="{access}"}}"#)
        ),
        0.0,
        "{m}"
    );
    assert!(
        !t.dir.join("logs/nginxlog-access.log").exists(),
        "the syslog variant must not write log files"
    );
}

// ---------------------------------------------------------------------------------------------
// compose demo backend

struct NodeBackend {
    port: u16,
    child: Child,
}

impl NodeBackend {
    fn start() -> NodeBackend {
        let node = ["/usr/bin/node", "/usr/local/bin/node"].into_iter().find(|p| Path::new(p).exists()).map(PathBuf::from).unwrap_or_else(|| {
            match Command::new("node").arg("--version").output() {
                Ok(o) if o.status.success() => PathBuf::from("node"),
                _ => panic!("Node.js is not installed: it runs deploy/compose/ws-backend/server.js (Debian: apt-get install nodejs)"),
            }
        });
        // PORT=0: the kernel picks the port while node binds it, so no other process can take
        // it between a free-port probe and node's bind; node prints the port it got.
        let mut child = Command::new(node)
            .arg(repo().join("deploy/compose/ws-backend/server.js"))
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().expect("node's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(p) = line
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    let _ = tx.send(p);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the demo backend to print its port within 10 s");
        wait_for(
            "the demo backend to listen",
            Duration::from_secs(10),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        NodeBackend { port, child }
    }
}

impl Drop for NodeBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects, sends `msg`, returns the handshake status and the echoed text (if any).
fn ws_echo(url: &str, msg: &str) -> (u16, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::{Error, Message};
        match tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .expect("handshake timed out")
        {
            Ok((mut ws, resp)) => {
                ws.send(Message::text(msg)).await.expect("send");
                let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
                    .await
                    .expect("no echo within 5 s");
                let text = match reply {
                    Some(Ok(Message::Text(t))) => Some(t.to_string()),
                    other => panic!("expected a text echo, got {other:?}"),
                };
                ws.close(None).await.expect("close");
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                (resp.status().as_u16(), text)
            }
            Err(Error::Http(resp)) => (resp.status().as_u16(), None),
            Err(e) => panic!("{url}: {e}"),
        }
    })
}

/// The compose stack's demo backend behind the reference config: 101 + echo with the good
/// token, 403 from the app with a bad one, and the misconfiguration the demo page describes
/// (the Upgrade/Connection lines commented out) turns every upgrade into a 403 from the app.
#[test]
fn compose_demo_backend_behind_the_reference_config() {
    let backend = NodeBackend::start();
    let conf = read("deploy/nginx/nginx.conf");
    let good_location = read("deploy/nginx/ws-location.conf");
    let broken_location: String = good_location
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("proxy_set_header Upgrade")
                || l.trim_start().starts_with("proxy_set_header Connection")
            {
                format!("# {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(broken_location, good_location);

    for (location, want_good) in [(&good_location, 101), (&broken_location, 403)] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let t = Templated::new(
            tmp.path(),
            &conf,
            location,
            Ports {
                listen: port,
                backend: backend.port,
                ..Ports::any()
            },
        );
        let access = t.dir.join("logs/nginxlog-access.log").display().to_string();
        let _nginx = t.start(port);
        let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &access]);
        let base = format!("ws://127.0.0.1:{port}");
        let (status, echo) = ws_echo(&format!("{base}/ws/chat?token=good"), "hello");
        assert_eq!(
            status,
            want_good,
            "nginx error log:\n{}",
            std::fs::read_to_string(t.dir.join("logs/nginxlog-error.log")).unwrap_or_default()
        );
        if want_good == 101 {
            assert_eq!(echo.as_deref(), Some("hello"));
            assert_eq!(ws_echo(&format!("{base}/ws/chat?token=bad"), "x").0, 403);
            sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#, 1.0);
            sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#, 1.0);
        } else {
            sidecar.wait_value(r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="403",answered_by="upstream"}"#, 1.0);
        }
        assert_eq!(http_get(backend.port, "/healthz"), 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus and YAML

#[test]
fn compose_prometheus_config_passes_promtool_with_the_repository_rules() {
    let promtool = promtool();
    let cfg = yaml("deploy/compose/prometheus.yml");
    let rule_files: Vec<String> = cfg["rule_files"]
        .as_sequence()
        .expect("rule_files")
        .iter()
        .map(|v| s(v).to_string())
        .collect();
    assert!(
        rule_files.contains(&"/etc/prometheus/rules/nginxlog-rules.yml".to_string()),
        "rule_files: {rule_files:?}"
    );
    // The compose file mounts ../../alerts at /etc/prometheus/rules: point there instead.
    let alerts = repo().join("alerts");
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = read("deploy/compose/prometheus.yml")
        .replace("/etc/prometheus/rules/", &format!("{}/", alerts.display()));
    for f in &rule_files {
        let local = alerts.join(
            f.strip_prefix("/etc/prometheus/rules/")
                .expect("rule files come from the alerts/ mount"),
        );
        assert!(
            local.exists(),
            "{} does not exist: the compose stack would load no rules",
            local.display()
        );
    }
    let path = tmp.path().join("prometheus.yml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(promtool)
        .args(["check", "config"])
        .arg(&path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_yaml_file_parses() {
    let mut files = Vec::new();
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, files);
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(p);
            }
        }
    }
    for d in ["deploy", "dashboards", "alerts"] {
        walk(&repo().join(d), &mut files);
    }
    assert!(files.len() >= 10, "found only {files:?}");
    for f in files {
        let rel = f
            .strip_prefix(repo())
            .expect("in repo")
            .display()
            .to_string();
        let docs = yaml_docs(&rel);
        assert!(!docs.is_empty(), "{rel} is empty");
    }
}

// ---------------------------------------------------------------------------------------------
// compose wiring

/// A short-syntax compose volume: (source, target, read_only).
fn volumes(svc: &Value) -> Vec<(String, String, bool)> {
    svc["volumes"]
        .as_sequence()
        .map(|v| {
            v.iter()
                .map(|e| {
                    let parts: Vec<&str> = s(e).split(':').collect();
                    assert!(parts.len() >= 2, "volume {e:?}: use SRC:DST[:ro]");
                    (
                        parts[0].to_string(),
                        parts[1].to_string(),
                        parts.get(2) == Some(&"ro"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn mount_covering<'a>(
    vols: &'a [(String, String, bool)],
    path: &str,
) -> Option<&'a (String, String, bool)> {
    vols.iter()
        .find(|(_, dst, _)| path.starts_with(&format!("{}/", dst.trim_end_matches('/'))))
}

#[test]
fn compose_mounts_the_repository_dashboards_and_alerts_not_copies() {
    let c = yaml("deploy/compose/docker-compose.yml");
    let prom = volumes(&c["services"]["prometheus"]);
    assert!(
        prom.iter()
            .any(|(src, dst, ro)| src == "../../alerts" && dst == "/etc/prometheus/rules" && *ro),
        "prometheus must mount ../../alerts: {prom:?}"
    );
    let graf = volumes(&c["services"]["grafana"]);
    assert!(
        graf.iter()
            .any(|(src, dst, ro)| src == "../../dashboards/provisioning"
                && dst == "/etc/grafana/provisioning"
                && *ro),
        "grafana must mount ../../dashboards/provisioning: {graf:?}"
    );
    let dash_dst = "/var/lib/grafana/dashboards/nginxlog";
    assert!(
        graf.iter()
            .any(|(src, dst, ro)| src == "../../dashboards" && dst == dash_dst && *ro),
        "grafana must mount ../../dashboards: {graf:?}"
    );

    // Every bind source exists (Docker would silently create an empty directory).
    for (name, svc) in c["services"].as_mapping().expect("services") {
        for (src, _, _) in volumes(svc) {
            if src.starts_with('.') {
                let p = repo().join("deploy/compose").join(&src);
                assert!(
                    p.exists(),
                    "service {name:?} mounts {src}, which does not exist"
                );
            }
        }
    }
    // The provisioning that is mounted agrees with the stack: the datasource points at the
    // compose Prometheus, the dashboard provider at the directory the dashboards are mounted in.
    let ds = yaml("dashboards/provisioning/datasources/prometheus.yml");
    let urls: Vec<&str> = ds["datasources"]
        .as_sequence()
        .expect("datasources")
        .iter()
        .map(|d| s(&d["url"]))
        .collect();
    assert!(
        urls.contains(&"http://prometheus:9090"),
        "datasource urls {urls:?}: compose's Prometheus is http://prometheus:9090"
    );
    // Grafana's minimum interval is the compose Prometheus' scrape interval, so that
    // $__rate_interval neither leaves gaps nor smooths more than needed.
    let scrape = yaml("deploy/compose/prometheus.yml")["global"]["scrape_interval"].clone();
    for d in ds["datasources"].as_sequence().expect("datasources") {
        assert_eq!(
            s(&d["jsonData"]["timeInterval"]),
            s(&scrape),
            "datasource timeInterval must match deploy/compose/prometheus.yml's scrape_interval"
        );
    }
    assert!(c["services"]["prometheus"]["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .any(|p| s(p).ends_with(":9090")));
    let prov = yaml("dashboards/provisioning/dashboards/nginxlog.yml");
    let paths: Vec<&str> = prov["providers"]
        .as_sequence()
        .expect("providers")
        .iter()
        .map(|p| s(&p["options"]["path"]))
        .collect();
    assert!(
        paths.contains(&dash_dst),
        "dashboard provider paths {paths:?}, mounted at {dash_dst}"
    );
    let n_json = std::fs::read_dir(repo().join("dashboards"))
        .expect("dashboards/")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert!(n_json > 0, "dashboards/ has no dashboard JSON to provision");

    // No copies under deploy/: no dashboard JSON, no rule file.
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("deploy"), &mut files);
    for f in files {
        let name = f.display().to_string();
        assert!(
            !name.ends_with(".json"),
            "{name}: dashboards live in dashboards/, mount them"
        );
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            let text = std::fs::read_to_string(&f).expect("read");
            assert!(
                !(text.contains("groups:") && text.contains("expr:")),
                "{name}: looks like a copy of a rule file; mount alerts/ instead"
            );
        }
    }
}

#[test]
fn compose_services_are_wired_to_each_other() {
    let c = yaml("deploy/compose/docker-compose.yml");
    let svc = &c["services"];
    let nginx_conf = read("deploy/nginx/nginx.conf");

    // nginx runs the reference config and the shared location block from deploy/nginx.
    let nginx = &svc["nginx"];
    assert!(
        s(&nginx["image"]).starts_with("nginx:"),
        "the official nginx image"
    );
    let nv = volumes(nginx);
    assert!(
        nv.contains(&(
            "../nginx/nginx.conf".into(),
            "/etc/nginx/nginx.conf".into(),
            true
        )),
        "{nv:?}"
    );
    let snip = mount_covering(&nv, "/etc/nginx/snippets/ws-location.conf").expect("snippets mount");
    assert!(
        repo()
            .join("deploy/compose")
            .join(&snip.0)
            .join("ws-location.conf")
            .exists(),
        "{snip:?}"
    );

    // The sidecar reads the files nginx writes, through the same volume at the same path.
    let sc = &svc["nginxlog-sidecar"];
    assert_eq!(s(&sc["build"]["context"]), "../..");
    assert_eq!(s(&sc["build"]["dockerfile"]), "Dockerfile");
    let env = sc["environment"]
        .as_mapping()
        .expect("environment as a mapping");
    let get = |k: &str| {
        env.get(k)
            .map(s)
            .unwrap_or_else(|| panic!("sidecar env {k} missing"))
    };
    assert_eq!(get("NGINXLOG_FORMAT"), "ws_timing");
    let sv = volumes(sc);
    for (var, directive) in [
        ("NGINXLOG_ACCESS_LOG", "access_log"),
        ("NGINXLOG_ERROR_LOG", "error_log"),
    ] {
        let path = get(var);
        assert_eq!(
            log_targets(&nginx_conf, directive),
            [path],
            "{var} vs nginx.conf's {directive}"
        );
        let (vs, _, ro) =
            mount_covering(&sv, path).unwrap_or_else(|| panic!("{path} is on no sidecar volume"));
        assert!(*ro, "the sidecar mounts the logs read-only");
        let (ns, _, _) =
            mount_covering(&nv, path).unwrap_or_else(|| panic!("{path} is on no nginx volume"));
        assert_eq!(
            vs, ns,
            "nginx and the sidecar must share the volume holding {path}"
        );
        assert!(
            c["volumes"].get(vs.as_str()).is_some(),
            "{vs} is not a named volume"
        );
    }
    if let Some(state) = env.get("NGINXLOG_STATE_FILE") {
        assert!(
            mount_covering(&sv, s(state)).is_some_and(|m| !m.2),
            "the state file needs a writable volume"
        );
    }

    // Prometheus scrapes the sidecar by its service name and port; the upstream is the backend.
    let prom = yaml("deploy/compose/prometheus.yml");
    let targets: Vec<String> = prom["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .flat_map(|j| {
            j["static_configs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|sc| sc["targets"].as_sequence().cloned().unwrap_or_default())
        .map(|t| s(&t).to_string())
        .collect();
    assert!(
        targets.contains(&"nginxlog-sidecar:9680".to_string()),
        "{targets:?}"
    );
    assert!(svc["nginxlog-sidecar"]["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .any(|p| s(p) == "9680:9680"));
    assert!(normalized(&nginx_conf).contains("upstream ws_backend { server ws-backend:8080; }"));
    assert!(
        svc["ws-backend"].is_mapping(),
        "the upstream ws-backend:8080 needs a ws-backend service"
    );
    assert_eq!(s(&svc["ws-backend"]["environment"]["PORT"]), "8080");
    assert!(svc["alertmanager"].is_mapping());
    assert!(normalized(&read("deploy/compose/prometheus.yml")).contains("alertmanager:9093"));

    // The syslog override: nginx-syslog.conf and the ports it sends to.
    let o = yaml("deploy/compose/docker-compose.syslog.yml");
    let ov = volumes(&o["services"]["nginx"]);
    assert!(
        ov.contains(&(
            "../nginx/nginx-syslog.conf".into(),
            "/etc/nginx/nginx.conf".into(),
            true
        )),
        "{ov:?}"
    );
    assert_eq!(
        s(&o["services"]["nginxlog-sidecar"]["environment"]["NGINXLOG_ACCESS_LOG"]),
        "syslog+udp://0.0.0.0:5514"
    );
    assert_eq!(
        s(&o["services"]["nginxlog-sidecar"]["environment"]["NGINXLOG_ERROR_LOG"]),
        "syslog+udp://0.0.0.0:5515"
    );
    let deps: Vec<&str> = o["services"]["nginx"]["depends_on"]
        .as_sequence()
        .expect("depends_on")
        .iter()
        .map(s)
        .collect();
    assert!(
        deps.contains(&"nginxlog-sidecar"),
        "nginx resolves the sidecar's name at start: {deps:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

#[test]
fn kubernetes_pod_shares_the_logs_and_is_scraped_and_probed() {
    let d = k8s_deployment();
    let pod_labels = d["spec"]["template"]["metadata"]["labels"].clone();
    assert_eq!(d["spec"]["selector"]["matchLabels"], pod_labels);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::Bool(true));
    let nginx = container(pod, "nginx");
    let sc = container(pod, "nginxlog-sidecar");

    // Both mount one emptyDir at the same path; the sidecar read-only.
    let mounts = |c: &Value| -> Vec<(String, String, bool)> {
        c["volumeMounts"]
            .as_sequence()
            .expect("volumeMounts")
            .iter()
            .map(|m| {
                (
                    s(&m["name"]).to_string(),
                    s(&m["mountPath"]).to_string(),
                    m["readOnly"] == Value::Bool(true),
                )
            })
            .collect()
    };
    let (nm, sm) = (mounts(nginx), mounts(sc));
    let cm = k8s_configmap();
    let conf = s(&cm["data"]["nginx.conf"]);
    let env = env_of(sc);
    for (var, directive) in [
        ("NGINXLOG_ACCESS_LOG", "access_log"),
        ("NGINXLOG_ERROR_LOG", "error_log"),
    ] {
        let path = env.get(var).unwrap_or_else(|| panic!("{var} missing"));
        assert_eq!(
            log_targets(conf, directive),
            [path.as_str()],
            "{var} vs the ConfigMap's {directive}"
        );
        let under = |m: &[(String, String, bool)]| {
            m.iter()
                .find(|(_, p, _)| path.starts_with(&format!("{p}/")))
                .cloned()
        };
        let (sv, sp, sro) = under(&sm).unwrap_or_else(|| panic!("{path}: no sidecar mount"));
        let (nv, np, nro) = under(&nm).unwrap_or_else(|| panic!("{path}: no nginx mount"));
        assert_eq!(
            (&sv, &sp),
            (&nv, &np),
            "nginx and the sidecar must mount the same volume at the same path"
        );
        assert!(sro && !nro, "sidecar read-only, nginx read-write");
        let vol = pod["volumes"]
            .as_sequence()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == sv.as_str())
            .expect("volume");
        assert!(vol["emptyDir"].is_mapping(), "{sv} must be an emptyDir");
    }
    if let Some(state) = env.get("NGINXLOG_STATE_FILE") {
        assert!(
            sm.iter()
                .any(|(_, p, ro)| state.starts_with(&format!("{p}/")) && !ro),
            "state file {state} needs a writable mount"
        );
    }

    // Probes, port, resources.
    let port = sc["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a port named metrics");
    assert_eq!(port["containerPort"].as_u64(), Some(9680));
    // Liveness only: a readiness probe on the sidecar would take nginx out of the Service
    // whenever the sidecar is unready.
    assert!(
        sc.get("readinessProbe").is_none(),
        "the sidecar must not have a readinessProbe: a sidecar problem would take nginx out of the Service"
    );
    assert_eq!(s(&sc["livenessProbe"]["httpGet"]["path"]), "/healthz");
    assert_eq!(s(&sc["livenessProbe"]["httpGet"]["port"]), "metrics");
    let mem = |v: &Value| -> u64 {
        let t = s(v);
        t.strip_suffix("Mi")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("memory {t}: write it in Mi"))
    };
    let limit = mem(&sc["resources"]["limits"]["memory"]);
    let request = mem(&sc["resources"]["requests"]["memory"]);
    assert!(
        request <= 40 && (40..=128).contains(&limit),
        "sidecar memory request {request}Mi, limit {limit}Mi (target < 40 MB RSS)"
    );
    assert!(sc["resources"]["requests"]["cpu"].is_string());

    // Every container: non-root, read-only root filesystem, no privilege escalation.
    for c in pod["containers"].as_sequence().expect("containers") {
        let name = s(&c["name"]);
        let ctx = &c["securityContext"];
        assert_eq!(ctx["readOnlyRootFilesystem"], Value::Bool(true), "{name}");
        assert_eq!(
            ctx["allowPrivilegeEscalation"],
            Value::Bool(false),
            "{name}"
        );
        assert!(
            ctx["runAsUser"].as_u64().is_some_and(|u| u != 0),
            "{name}: numeric non-root runAsUser"
        );
        assert!(
            c["resources"]["limits"]["memory"].is_string(),
            "{name}: memory limit"
        );
    }
    assert_eq!(
        sc["securityContext"]["runAsUser"].as_u64(),
        Some(65532),
        "the image's nonroot user"
    );

    // nginx listens where the Deployment says.
    let http = nginx["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == "http")
        .expect("http port");
    let listen = http["containerPort"].as_u64().expect("containerPort");
    assert!(
        code_lines(conf)
            .iter()
            .any(|l| l.starts_with(&format!("listen {listen};"))),
        "ConfigMap nginx.conf must listen on {listen}"
    );

    // Scraping: annotations on the pod, or the PodMonitor selecting the same pods and port.
    let ann = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(s(&ann["prometheus.io/scrape"]), "true");
    assert_eq!(s(&ann["prometheus.io/port"]), "9680");
    assert_eq!(s(&ann["prometheus.io/path"]), "/metrics");
    let pm = yaml_docs("deploy/kubernetes/podmonitor.yaml")
        .into_iter()
        .find(|d| d["kind"] == "PodMonitor")
        .expect("PodMonitor");
    assert_eq!(s(&pm["apiVersion"]), "monitoring.coreos.com/v1");
    for (k, v) in pm["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels")
    {
        assert_eq!(
            &pod_labels[s(k)],
            v,
            "PodMonitor selector {k:?} does not match the pod"
        );
    }
    let ep = &pm["spec"]["podMetricsEndpoints"][0];
    assert_eq!(s(&ep["port"]), "metrics");
    assert_eq!(s(&ep["path"]), "/metrics");

    // The Service selects the pods and targets named ports that exist.
    let svc = yaml_docs("deploy/kubernetes/service.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Service")
        .expect("Service");
    for (k, v) in svc["spec"]["selector"].as_mapping().expect("selector") {
        assert_eq!(
            &pod_labels[s(k)],
            v,
            "Service selector {k:?} does not match the pod"
        );
    }
    let names: BTreeSet<String> = pod["containers"]
        .as_sequence()
        .expect("containers")
        .iter()
        .flat_map(|c| c["ports"].as_sequence().cloned().unwrap_or_default())
        .map(|p| s(&p["name"]).to_string())
        .collect();
    for p in svc["spec"]["ports"].as_sequence().expect("ports") {
        assert!(
            names.contains(s(&p["targetPort"])),
            "Service targetPort {:?} names no container port",
            p["targetPort"]
        );
    }

    // kustomization lists files that exist, and leaves the CRD-dependent PodMonitor out.
    let k = yaml("deploy/kubernetes/kustomization.yaml");
    let res: Vec<&str> = k["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(s)
        .collect();
    for r in &res {
        assert!(
            repo().join("deploy/kubernetes").join(r).exists(),
            "kustomization lists missing {r}"
        );
    }
    assert!(!res.contains(&"podmonitor.yaml"));
    assert!(
        res.contains(&"deployment.yaml")
            && res.contains(&"nginx-configmap.yaml")
            && res.contains(&"service.yaml")
    );
}

// ---------------------------------------------------------------------------------------------
// environment variables, Dockerfile, build context

#[test]
fn every_nginxlog_variable_in_deploy_files_is_a_real_flag() {
    let known: BTreeSet<String> = env_names(&sidecar_help("run"))
        .union(&env_names(&sidecar_help("healthcheck")))
        .cloned()
        .collect();
    assert!(
        known.contains("NGINXLOG_ACCESS_LOG") && known.contains("NGINXLOG_HEALTHCHECK_URL"),
        "{known:?}"
    );
    let mut files = vec![
        "Dockerfile".to_string(),
        "deploy/systemd/nginxlog-sidecar.service".to_string(),
        "docs/deployment.md".to_string(),
    ];
    for d in ["deploy/compose", "deploy/kubernetes"] {
        for e in std::fs::read_dir(repo().join(d)).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_file() {
                files.push(p.strip_prefix(repo()).expect("rel").display().to_string());
            }
        }
    }
    let mut seen = 0;
    for f in files {
        for name in env_names(&read(&f)) {
            seen += 1;
            assert!(
                known.contains(&name),
                "{f} uses {name}, which no flag reads (known: {known:?})"
            );
        }
    }
    assert!(seen > 10);
}

/// Dockerfile instructions with continuation lines joined: (INSTRUCTION, rest).
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        cur.push_str(t.trim_end_matches('\\'));
        cur.push(' ');
        if !t.ends_with('\\') {
            let c = cur.trim().to_string();
            let (ins, rest) = c.split_once(' ').unwrap_or((&c, ""));
            out.push((ins.to_ascii_uppercase(), rest.trim().to_string()));
            cur.clear();
        }
    }
    out
}

#[test]
fn dockerfile_builds_like_ci_and_runs_as_a_non_root_sidecar() {
    let ins = dockerfile();
    let froms: Vec<&String> = ins
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, r)| r)
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let builder = froms[0];
    let last = froms[froms.len() - 1];
    assert!(
        builder.starts_with("rust:") && builder.ends_with(" AS builder"),
        "builder stage: {builder}"
    );
    // A glibc build (the only target here, the one CI builds) runs on distroless/cc, and on the
    // same Debian release it was built on (bookworm = Debian 12): same glibc.
    assert!(
        last.starts_with("gcr.io/distroless/cc-debian12"),
        "final stage: {last}"
    );
    assert!(
        builder.contains("-bookworm"),
        "builder must be Debian 12 like the final image: {builder}"
    );

    let runs: Vec<&String> = ins
        .iter()
        .filter(|(i, _)| i == "RUN")
        .map(|(_, r)| r)
        .collect();
    let build = runs
        .iter()
        .find(|r| r.contains("cargo build"))
        .expect("a RUN with cargo build");
    let cmd: Vec<&str> = build[build.find("cargo build").expect("cargo build")..]
        .split("&&")
        .next()
        .expect("cmd")
        .split_whitespace()
        .collect();
    assert_eq!(
        cmd,
        ["cargo", "build", "--release", "--locked"],
        "same command, profile and features as CI's release build"
    );
    assert!(build.contains("target/release/nginxlog-sidecar"));

    let get = |name: &str| {
        ins.iter()
            .filter(|(i, _)| i == name)
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("EXPOSE"), ["9680"]);
    let user = get("USER");
    assert!(
        user.len() == 1 && !user[0].starts_with("root") && !user[0].starts_with("0"),
        "USER {user:?}"
    );
    let hc = get("HEALTHCHECK");
    assert!(
        hc.len() == 1 && hc[0].ends_with(r#"CMD ["/nginxlog-sidecar","healthcheck"]"#),
        "{hc:?}"
    );
    assert_eq!(get("ENTRYPOINT"), [r#"["/nginxlog-sidecar"]"#]);
    let env = get("ENV").join(" ");
    assert!(env.contains("NGINXLOG_LISTEN=0.0.0.0:9680"), "{env}");

    // The toolchain is at least the crate's rust-version.
    let arg = get("ARG")
        .into_iter()
        .find(|a| a.starts_with("RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    let ver = |v: &str| {
        v.split('.')
            .take(2)
            .map(|x| x.parse::<u32>().expect("number"))
            .collect::<Vec<_>>()
    };
    let manifest = read("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"');
    assert!(
        ver(&arg["RUST_VERSION=".len()..]) >= ver(msrv),
        "{arg} < rust-version {msrv}"
    );
}

/// A .dockerignore pattern (Docker's rules, the subset the file uses: `*`, `**`, leading `!`).
fn ignore_match(pattern: &str, path: &str) -> bool {
    fn seg(p: &str, s: &str) -> bool {
        match p.split_once('*') {
            None => p == s,
            Some((pre, post)) => {
                s.starts_with(pre)
                    && (0..=s.len() - pre.len()).any(|i| {
                        s.is_char_boundary(pre.len() + i) && seg(post, &s[pre.len() + i..])
                    })
            }
        }
    }
    fn m(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(a), Some(b)) => seg(a, b) && m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    // A pattern that matches a directory excludes everything below it.
    (1..=s.len()).any(|n| m(&p, &s[..n]))
}

fn ignored(rules: &[(bool, String)], path: &str) -> bool {
    let mut out = false;
    for (negate, pat) in rules {
        if ignore_match(pat, path) {
            out = !negate;
        }
    }
    out
}

#[test]
fn docker_build_context_holds_what_cargo_build_needs() {
    let rules: Vec<(bool, String)> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(r) => (true, r.to_string()),
            None => (false, l.to_string()),
        })
        .collect();
    assert!(
        ignore_match("**/*.swp", "src/a.swp")
            && ignore_match("target/", "target/debug/x")
            && !ignore_match("tests/", "src/tests.rs")
    );
    for must_go in ["target/release/nginxlog-sidecar", ".git/HEAD"] {
        assert!(
            ignored(&rules, must_go),
            "{must_go} must not be sent to the Docker daemon"
        );
    }
    for must_stay in ["Cargo.toml", "Cargo.lock", "src/main.rs", "src/lib.rs"] {
        assert!(
            !ignored(&rules, must_stay),
            ".dockerignore drops {must_stay}"
        );
    }
    // Rebuild the context the way `docker build .` sends it (without target/ and .git/ and
    // everything else ignored) and let cargo check that the manifest's targets and the lock
    // file are complete there: `cargo fetch --locked` fails on a missing [[bench]] file or a
    // Cargo.lock out of date, without compiling anything.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut copied = 0u64;
    fn walk(root: &Path, dir: &Path, rules: &[(bool, String)], dst: &Path, copied: &mut u64) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let rel = p.strip_prefix(root).expect("rel").display().to_string();
            if ignored(rules, &rel) {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, rules, dst, copied);
            } else {
                let to = dst.join(&rel);
                std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
                *copied += std::fs::copy(&p, &to).expect("copy");
            }
        }
    }
    walk(&repo(), &repo(), &rules, tmp.path(), &mut copied);
    assert!(
        copied < 20 << 20,
        "the build context is {copied} bytes: is target/ ignored?"
    );
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args([
            "fetch",
            "--locked",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--manifest-path",
        ])
        .arg(tmp.path().join("Cargo.toml"))
        .output()
        .expect("run cargo fetch");
    assert!(
        out.status.success(),
        "cargo rejects the Docker build context:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The binary the Dockerfile ships needs only what distroless/cc-debian12 has: glibc (2.36),
/// libgcc_s, and nothing else (no OpenSSL, no libz).
#[test]
fn binary_links_only_what_distroless_cc_provides() {
    let out = match Command::new("readelf")
        .args(["-d", "-V", "-W"])
        .arg(sidecar_bin())
        .output()
    {
        Ok(o) if o.status.success() => o,
        _ => panic!("readelf (binutils) is needed to inspect the binary's dynamic dependencies"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let allowed = [
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "ld-linux-x86-64.so.2",
    ];
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1))
        .map(|l| l.trim_end_matches(']'))
        .collect();
    assert!(!needed.is_empty(), "no NEEDED entries: {text}");
    for n in &needed {
        assert!(
            allowed.contains(n),
            "the binary needs {n}, which distroless/cc does not have"
        );
    }
    // Highest GLIBC_x.y symbol version required must exist in Debian 12's glibc 2.36.
    let mut max = (0u32, 0u32);
    for w in text.split_whitespace() {
        if let Some(v) = w.strip_prefix("GLIBC_") {
            let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
            let ver = (it.next().unwrap_or(0), it.next().unwrap_or(0));
            max = max.max(ver);
        }
    }
    assert!(
        max <= (2, 36),
        "the binary needs GLIBC_{}.{}; distroless/cc-debian12 has 2.36",
        max.0,
        max.1
    );
}

#[test]
fn systemd_unit_runs_the_sidecar_unprivileged() {
    let unit = read("deploy/systemd/nginxlog-sidecar.service");
    let kv: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |k: &str| {
        kv.iter()
            .filter(|(a, _)| *a == k)
            .map(|(_, b)| *b)
            .collect::<Vec<_>>()
    };
    assert_eq!(get("ExecStart"), ["/usr/local/bin/nginxlog-sidecar run"]);
    assert_eq!(get("DynamicUser"), ["yes"]);
    assert_eq!(get("StateDirectory"), ["nginxlog-sidecar"]);
    let env = get("Environment").join("\n");
    assert!(
        env.contains("NGINXLOG_STATE_FILE=/var/lib/nginxlog-sidecar/"),
        "state file inside StateDirectory"
    );
    let nginx_conf = read("deploy/nginx/nginx.conf");
    for (var, directive) in [
        ("NGINXLOG_ACCESS_LOG", "access_log"),
        ("NGINXLOG_ERROR_LOG", "error_log"),
    ] {
        let path = env
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=")))
            .unwrap_or_else(|| panic!("{var}"));
        assert_eq!(log_targets(&nginx_conf, directive), [path]);
    }
}
