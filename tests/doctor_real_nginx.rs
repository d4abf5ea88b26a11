//! A real nginx is the judge of `doctor`. For each WebSocket configuration variant the test
//! writes a whole nginx.conf into its own prefix, asks `nginx -t` whether nginx accepts it, and
//! if so starts nginx and makes real WebSocket handshakes through it to a backend. That verdict
//! is asserted first (so the test also fails when nginx behaves differently than we think).
//! Then `doctor` must agree: an error finding with the expected id at the right file and line
//! where the upgrade fails or nginx refuses the config, no error finding (exit 0) where it
//! works, and with `--access-log` the exact counts of the handshakes made as the evidence of
//! the location nginx chose for them.

mod support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

/// Every wait in this file (doctor, nginx -T, backends, log lines) gives up after this.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Defines `$connection_upgrade` (http level).
const MAP: &str = "    map $http_upgrade $connection_upgrade { default upgrade; '' close; }";

/// The misconfiguration: proxied without any of the upgrade directives.
const BARE_WS: &str = "        location /ws/ {
            proxy_pass http://backend;
        }";

/// The recommended WebSocket location (needs [`MAP`]).
const RECOMMENDED_WS: &str = "        location /ws/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
        }";

/// Two accepted tokens and one refused: 101, 101, 403 where the upgrade reaches the backend.
const GOOD_GOOD_BAD: [&str; 3] = ["good", "good", "bad"];

/// The three errors of a location proxied without any upgrade directive.
const BARE_ERRORS: [&str; 3] = [
    "ws_upgrade_header_missing",
    "ws_connection_header_missing",
    "ws_http_version_too_low",
];

// ---------------------------------------------------------------------------------------------
// Config text

/// A whole `nginx.conf` for prefix `dir`: `daemon off`, pid and logs in `dir` (error log at
/// `info`, access log in `ws_timing`), `upstream backend` on 127.0.0.1:`backend`, and `http`
/// (more http-level text: a map, server blocks, includes) at the end of the http block.
fn main_conf(dir: &Path, backend: u16, http: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    {temp}
    log_format ws_timing {fmt};
    access_log {d}/logs/access.log ws_timing;
    upstream backend {{ server 127.0.0.1:{backend}; }}
{http}
}}
"#,
        temp = nginx_temp_paths(dir),
        fmt = WS_TIMING,
    )
}

/// A `server {}` on 127.0.0.1:`port` named `localhost` holding `body`.
fn server_block(port: u16, body: &str) -> String {
    format!(
        "    server {{\n        listen 127.0.0.1:{port};\n        server_name localhost;\n{body}\n    }}"
    )
}

/// 1-based number of the one line of `text` containing `marker` (panics unless exactly one).
fn line_of(text: &str, marker: &str) -> u64 {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "marker {marker:?} must be on exactly one line of:\n{text}"
    );
    hits[0] as u64
}

// ---------------------------------------------------------------------------------------------
// One nginx prefix per variant

/// A variant's nginx prefix in its own tempdir, and the port its server listens on.
struct Lab {
    tmp: tempfile::TempDir,
    port: u16,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            tmp: tempfile::tempdir().expect("tempdir"),
            port: free_port(),
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `<dir>/nginx.conf`, the path doctor is given.
    fn conf(&self) -> PathBuf {
        self.dir().join("nginx.conf")
    }

    /// Writes the config files (paths relative to the prefix; `nginx.conf` is the main one).
    fn write(&self, files: &[(&str, &str)]) {
        write_prefix(self.dir(), files);
    }

    /// `nginx -t` must accept the config; then nginx is started on it.
    fn start(&self) -> Nginx {
        let check = nginx_check(self.dir());
        assert!(
            check.ok,
            "nginx -t refused a config this variant expects it to accept:\n{}",
            check.stderr
        );
        Nginx::start_written(self.dir(), self.port)
    }
}

/// Real handshakes at `path?token=T` for each token; returns the statuses (101 = switched).
fn handshakes(nginx: &Nginx, path: &str, tokens: &[&str]) -> Vec<u16> {
    tokens
        .iter()
        .map(|t| {
            ws_client(
                &format!("ws://127.0.0.1:{}{path}?token={t}", nginx.port),
                Duration::ZERO,
            )
        })
        .collect()
}

/// Waits until nginx has written `n` access-log lines (it writes a WebSocket session's line when
/// the session closes), then asserts there are exactly `n`.
fn wait_access_lines(nginx: &Nginx, n: usize) {
    let count = || {
        std::fs::read_to_string(nginx.access_log())
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    wait_for(&format!("{n} access-log lines"), TIMEOUT, || count() >= n);
    assert_eq!(
        count(),
        n,
        "access log:\n{}",
        std::fs::read_to_string(nginx.access_log()).unwrap_or_default()
    );
}

// ---------------------------------------------------------------------------------------------
// The strict backend

/// `tests/support/ws_backend.py` on Debian's python3-websockets 10.4 (`/usr/bin/python3`):
/// 101 for `token=good`, 403 for other tokens, and websockets' own refusal (400 for HTTP/1.0,
/// 426 without an Upgrade header) before that. Killed on drop.
struct PyBackend {
    port: u16,
    child: Child,
}

impl PyBackend {
    /// Starts it on a free loopback port; its stderr goes to `log`.
    fn start(log: &Path) -> PyBackend {
        let port = free_port();
        let stderr = std::fs::File::create(log).expect("create backend log");
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/support/ws_backend.py"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("run /usr/bin/python3 (Debian's python3 with python3-websockets)");
        let stdout = child.stdout.take().expect("backend stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let backend = PyBackend { port, child };
        match rx.recv_timeout(TIMEOUT) {
            Ok(line) if line.trim() == format!("PORT {port}") => backend,
            other => panic!(
                "python websockets backend did not start ({other:?}; is python3-websockets \
                 installed?):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }
}

impl Drop for PyBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// doctor

/// The version of the nginx that judges (passed to doctor as `--nginx-version`).
fn real_nginx_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(nginx_version)
}

/// Runs `cmd` with `stdin`, waiting at most [`TIMEOUT`] (then kills it and panics).
fn run_bounded(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish within {TIMEOUT:?}");
        }
    };
    let _ = writer.join();
    out
}

/// `nginxlog-sidecar doctor --format json --nginx-version <real> ARGS`: exit code and report.
fn doctor(args: &[&str]) -> (i32, Value) {
    doctor_stdin(args, b"")
}

/// [`doctor`] with `stdin` as its standard input (for `--config -`).
fn doctor_stdin(args: &[&str], stdin: &[u8]) -> (i32, Value) {
    let out = run_bounded(
        Command::new(sidecar_bin())
            .args(["doctor", "--format", "json", "--nginx-version"])
            .arg(real_nginx_version())
            .args(args),
        stdin,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor {args:?} exited {:?} without a JSON report ({e}):\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("doctor killed by a signal: {:?}", out.status));
    (code, report)
}

/// doctor on `conf` without logs, then with `access`: `[(code, report); 2]`.
fn doctor_runs(conf: &Path, access: &Path) -> [(i32, Value); 2] {
    let conf = conf.display().to_string();
    let access = access.display().to_string();
    [
        doctor(&["--config", &conf]),
        doctor(&["--config", &conf, "--access-log", &access]),
    ]
}

fn pretty(report: &Value) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

fn findings(report: &Value) -> &[Value] {
    report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("report without a findings array:\n{}", pretty(report)))
}

fn errors(report: &Value) -> Vec<&Value> {
    findings(report)
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect()
}

/// The finding `id` (of `severity`) for `location` of server `localhost`, whose file is `file`
/// and whose line is one of `lines`; panics with the report if there is none.
fn find<'a>(
    report: &'a Value,
    id: &str,
    severity: &str,
    file: &Path,
    lines: &[u64],
    location: &str,
) -> &'a Value {
    let file = file.display().to_string();
    findings(report)
        .iter()
        .find(|f| {
            f["id"] == id
                && f["severity"] == severity
                && f["file"] == file.as_str()
                && f["line"].as_u64().is_some_and(|l| lines.contains(&l))
                && f["server"] == "localhost"
                && f["location"] == location
        })
        .unwrap_or_else(|| {
            panic!(
                "want {severity} {id} at {file}:{lines:?} (server localhost, location \
                 {location:?}); report:\n{}",
                pretty(report)
            )
        })
}

/// Exit 1 and the error finding `id` at `file:line` for `location`.
fn assert_error(run: &(i32, Value), id: &str, file: &Path, line: u64, location: &str) {
    assert_eq!(
        run.0,
        1,
        "exit code with errors; report:\n{}",
        pretty(&run.1)
    );
    find(&run.1, id, "error", file, &[line], location);
}

/// No finding `id` at all.
fn assert_absent(report: &Value, id: &str) {
    assert!(
        findings(report).iter().all(|f| f["id"] != id),
        "{id} must not be reported; report:\n{}",
        pretty(report)
    );
}

/// Exit 0 and no error finding (warnings and infos are allowed).
fn assert_no_errors(run: &(i32, Value)) {
    assert!(
        errors(&run.1).is_empty(),
        "the upgrade works through real nginx, yet doctor reports errors:\n{}",
        pretty(&run.1)
    );
    assert_eq!(
        run.0,
        0,
        "exit code without errors; report:\n{}",
        pretty(&run.1)
    );
}

/// The non-zero counts of an evidence map (`by_status`, `answered_by`).
fn counts(map: &Value) -> BTreeMap<String, u64> {
    map.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .filter(|(_, v)| *v > 0)
                .collect()
        })
        .unwrap_or_default()
}

/// The evidence of `location` (server `localhost`) is exactly: `attempts` upgrade attempts,
/// `switched` of them 101, these statuses, all answered by the upstream.
fn assert_evidence(
    report: &Value,
    location: &str,
    attempts: u64,
    switched: u64,
    by_status: &[(&str, u64)],
) {
    let loc = report["locations"]
        .as_array()
        .and_then(|ls| {
            ls.iter()
                .find(|l| l["server"] == "localhost" && l["location"] == location)
        })
        .unwrap_or_else(|| panic!("no location {location:?} in report:\n{}", pretty(report)));
    let ev = &loc["evidence"];
    let want: BTreeMap<String, u64> = by_status.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    let ctx = || format!("evidence of {location:?}; report:\n{}", pretty(report));
    assert_eq!(loc["websocket"], true, "{}", ctx());
    assert_eq!(ev["upgrade_attempts"].as_u64(), Some(attempts), "{}", ctx());
    assert_eq!(ev["switched"].as_u64(), Some(switched), "{}", ctx());
    assert_eq!(counts(&ev["by_status"]), want, "{}", ctx());
    assert_eq!(
        counts(&ev["answered_by"]),
        BTreeMap::from([("upstream".to_string(), attempts)]),
        "{}",
        ctx()
    );
}

// ---------------------------------------------------------------------------------------------
// Variants

/// a. `location /ws/ { proxy_pass ...; }` and nothing else: nginx sends the backend a plain
/// HTTP/1.0 GET without Upgrade/Connection; the upgrade fails with the backend's refusal.
fn bare_location(backend: u16, plain_get_status: u16) {
    let lab = Lab::new();
    let conf = main_conf(lab.dir(), backend, &server_block(lab.port, BARE_WS));
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    let s = plain_get_status;
    assert_eq!(handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD), [s, s, s]);
    wait_access_lines(&nginx, 3);

    let line = line_of(&conf, "location /ws/ {");
    let status = s.to_string();
    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for run in &runs {
        for id in BARE_ERRORS {
            assert_error(run, id, &lab.conf(), line, "/ws/");
        }
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 0, &[(&status, 3)]);
}

#[test]
fn a_bare_location_fails() {
    let backend = Backend::start();
    // The Rust backend refuses a plain GET under /ws/ with 403 (its auth check).
    bare_location(backend.port, 403);
}

#[test]
fn a_bare_location_fails_strict_backend() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = PyBackend::start(&tmp.path().join("backend.log"));
    // websockets refuses the HTTP/1.0 request line before looking at headers: 400.
    bare_location(backend.port, 400);
}

/// b. The incident's written fix: `large_client_header_buffers` inside the location. nginx -t
/// refuses the whole config, so nothing is served at all.
#[test]
fn b_large_client_header_buffers_in_location_is_refused() {
    let lab = Lab::new();
    let body = "        location /ws/ {
            proxy_pass http://backend;
            large_client_header_buffers 4 32k;
        }";
    let conf = main_conf(lab.dir(), 9, &server_block(lab.port, body));
    lab.write(&[("nginx.conf", &conf)]);
    let check = nginx_check(lab.dir());
    let lcb_line = line_of(&conf, "large_client_header_buffers");
    assert!(!check.ok, "nginx -t accepted:\n{conf}");
    assert!(
        check
            .stderr
            .contains("\"large_client_header_buffers\" directive is not allowed here"),
        "nginx -t said:\n{}",
        check.stderr
    );
    assert!(
        check
            .stderr
            .contains(&format!("{}:{lcb_line}", lab.conf().display())),
        "nginx -t names another line than {lcb_line}:\n{}",
        check.stderr
    );

    let run = doctor(&["--config", &lab.conf().display().to_string()]);
    assert_error(
        &run,
        "directive_not_allowed_here",
        &lab.conf(),
        lcb_line,
        "/ws/",
    );
    let loc_line = line_of(&conf, "location /ws/ {");
    for id in BARE_ERRORS {
        assert_error(&run, id, &lab.conf(), loc_line, "/ws/");
    }
}

/// c. The recommended block: switches; doctor finds no error.
fn recommended(backend: u16) {
    let lab = Lab::new();
    let http = format!("{MAP}\n{}", server_block(lab.port, RECOMMENDED_WS));
    let conf = main_conf(lab.dir(), backend, &http);
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [101, 101, 403]
    );
    wait_access_lines(&nginx, 3);

    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for run in &runs {
        assert_no_errors(run);
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 2, &[("101", 2), ("403", 1)]);
}

#[test]
fn c_recommended_location_switches() {
    let backend = Backend::start();
    recommended(backend.port);
}

#[test]
fn c_recommended_location_switches_strict_backend() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = PyBackend::start(&tmp.path().join("backend.log"));
    recommended(backend.port);
}

/// d. `Connection "upgrade"` hard-coded, no map: switches; no error (an info is allowed).
#[test]
fn d_hardcoded_connection_upgrade_switches() {
    let backend = Backend::start();
    let lab = Lab::new();
    let body = "        location /ws/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_read_timeout 3600s;
        }";
    let conf = main_conf(lab.dir(), backend.port, &server_block(lab.port, body));
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [101, 101, 403]
    );
    wait_access_lines(&nginx, 3);

    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for run in &runs {
        assert_no_errors(run);
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 2, &[("101", 2), ("403", 1)]);
}

/// The upgrade directives at server level (a location without proxy_set_header of its own
/// inherits them), followed by `location`.
fn server_level_headers(location: &str) -> String {
    format!(
        "        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 3600s;
{location}"
    )
}

/// e. Headers at server level, bare location: inheritance works, the upgrade switches; a
/// grep for proxy_set_header inside the location would cry wolf here.
#[test]
fn e_server_level_headers_are_inherited() {
    let backend = Backend::start();
    let lab = Lab::new();
    let server = server_block(lab.port, &server_level_headers(BARE_WS));
    let conf = main_conf(lab.dir(), backend.port, &format!("{MAP}\n{server}"));
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [101, 101, 403]
    );
    wait_access_lines(&nginx, 3);

    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for run in &runs {
        assert_no_errors(run);
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 2, &[("101", 2), ("403", 1)]);
}

/// f. The inheritance trap: as e, but one proxy_set_header in the location drops every
/// inherited one; the backend gets a plain GET (HTTP/1.1: proxy_http_version is still
/// inherited) and refuses it.
#[test]
fn f_location_proxy_set_header_drops_inherited_headers() {
    let backend = Backend::start();
    let lab = Lab::new();
    let location = "        location /ws/ {
            proxy_pass http://backend;
            proxy_set_header X-Real-IP $remote_addr;
        }";
    let server = server_block(lab.port, &server_level_headers(location));
    let conf = main_conf(lab.dir(), backend.port, &format!("{MAP}\n{server}"));
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [403, 403, 403]
    );
    wait_access_lines(&nginx, 3);

    let lines = [
        line_of(&conf, "location /ws/ {"),
        line_of(&conf, "proxy_set_header X-Real-IP"),
    ];
    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for (code, report) in &runs {
        assert_eq!(*code, 1, "report:\n{}", pretty(report));
        find(
            report,
            "ws_headers_lost_by_inheritance",
            "error",
            &lab.conf(),
            &lines,
            "/ws/",
        );
        // The lost headers are reported once, as lost, not also as missing; the inherited
        // proxy_http_version 1.1 is not lost.
        for id in [
            "ws_upgrade_header_missing",
            "ws_connection_header_missing",
            "ws_http_version_too_low",
        ] {
            assert_absent(report, id);
        }
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 0, &[("403", 3)]);
}

/// g. Upgrade headers without `proxy_http_version 1.1`: nginx speaks HTTP/1.0 to the backend.
/// A strict backend (python websockets) refuses that with 400. The lenient Rust `Backend` does
/// not look at the request's HTTP version, answers 101, and nginx relays the switch: so a test
/// against it alone would call this config fine. doctor reports the error either way.
#[test]
fn g_http_1_0_to_backend() {
    // Both verdicts first, then doctor on both configs (they differ only in the backend port).
    let serve = |backend: u16, want: [u16; 3]| {
        let lab = Lab::new();
        let body = "        location /ws/ {
            proxy_pass http://backend;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
        }";
        let http = format!("{MAP}\n{}", server_block(lab.port, body));
        let conf = main_conf(lab.dir(), backend, &http);
        lab.write(&[("nginx.conf", &conf)]);
        let nginx = lab.start();
        assert_eq!(handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD), want);
        wait_access_lines(&nginx, 3);
        (lab, nginx, line_of(&conf, "location /ws/ {"))
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let python = PyBackend::start(&tmp.path().join("backend.log"));
    let strict = serve(python.port, [400, 400, 400]);
    let rust = Backend::start();
    let lenient = serve(rust.port, [101, 101, 403]);

    for ((lab, nginx, line), by_status) in [
        (&strict, &[("400", 3)][..]),
        (&lenient, &[("101", 2), ("403", 1)][..]),
    ] {
        let runs = doctor_runs(&lab.conf(), &nginx.access_log());
        for run in &runs {
            assert_error(run, "ws_http_version_too_low", &lab.conf(), *line, "/ws/");
        }
        let switched = by_status
            .iter()
            .filter(|(s, _)| *s == "101")
            .map(|(_, n)| n)
            .sum();
        assert_evidence(&runs[1].1, "/ws/", 3, switched, by_status);
    }
}

/// h. Upgrade and Connection values swapped: the backend sees `Upgrade: upgrade` and refuses.
#[test]
fn h_swapped_upgrade_and_connection_values() {
    let backend = Backend::start();
    let lab = Lab::new();
    let body = "        location /ws/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $connection_upgrade;
            proxy_set_header Connection $http_upgrade;
            proxy_read_timeout 3600s;
        }";
    let http = format!("{MAP}\n{}", server_block(lab.port, body));
    let conf = main_conf(lab.dir(), backend.port, &http);
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [403, 403, 403]
    );
    wait_access_lines(&nginx, 3);

    let lines = [
        line_of(&conf, "proxy_set_header Upgrade $connection_upgrade"),
        line_of(&conf, "proxy_set_header Connection $http_upgrade"),
    ];
    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for (code, report) in &runs {
        assert_eq!(*code, 1, "report:\n{}", pretty(report));
        find(
            report,
            "ws_upgrade_value_wrong",
            "error",
            &lab.conf(),
            &lines,
            "/ws/",
        );
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 0, &[("403", 3)]);
}

/// i. The recommended location without the map: nginx -t refuses the config (and names no
/// file or line).
#[test]
fn i_connection_upgrade_map_missing_is_refused() {
    let lab = Lab::new();
    let conf = main_conf(lab.dir(), 9, &server_block(lab.port, RECOMMENDED_WS));
    lab.write(&[("nginx.conf", &conf)]);
    let check = nginx_check(lab.dir());
    assert!(!check.ok, "nginx -t accepted:\n{conf}");
    assert!(
        check
            .stderr
            .contains("unknown \"connection_upgrade\" variable"),
        "nginx -t said:\n{}",
        check.stderr
    );

    let line = line_of(&conf, "proxy_set_header Connection $connection_upgrade");
    let run = doctor(&["--config", &lab.conf().display().to_string()]);
    assert_error(
        &run,
        "connection_upgrade_map_missing",
        &lab.conf(),
        line,
        "/ws/",
    );
}

/// j. A regex location wins over the `/ws/` prefix for `/ws/legacy`: `/ws/chat` switches,
/// `/ws/legacy` does not; only the regex location has errors, and the evidence follows nginx's
/// choice of location.
#[test]
fn j_regex_location_wins_over_prefix() {
    let backend = Backend::start();
    let lab = Lab::new();
    let body = format!(
        "{RECOMMENDED_WS}
        location ~ ^/ws/legacy {{
            proxy_pass http://backend;
        }}"
    );
    let http = format!("{MAP}\n{}", server_block(lab.port, &body));
    let conf = main_conf(lab.dir(), backend.port, &http);
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [101, 101, 403]
    );
    assert_eq!(
        handshakes(&nginx, "/ws/legacy", &["good", "good"]),
        [403, 403]
    );
    wait_access_lines(&nginx, 5);

    let regex = "~ ^/ws/legacy";
    let line = line_of(&conf, "location ~ ^/ws/legacy {");
    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for run in &runs {
        for id in BARE_ERRORS {
            assert_error(run, id, &lab.conf(), line, regex);
        }
        for e in errors(&run.1) {
            assert!(
                e["location"] == regex && e["line"] == line,
                "only the regex location is broken; report:\n{}",
                pretty(&run.1)
            );
        }
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 2, &[("101", 2), ("403", 1)]);
    assert_evidence(&runs[1].1, regex, 2, 0, &[("403", 2)]);
}

/// The files of k and l: nginx.conf includes `conf.d/*.conf` (relative: nginx resolves it
/// against the directory of nginx.conf) and conf.d/ws.conf holds the server with the bare
/// location. Returns (nginx.conf, ws.conf).
fn included_bare_location(lab: &Lab, backend: u16) -> (String, String) {
    let main = main_conf(lab.dir(), backend, "    include conf.d/*.conf;");
    let ws = format!("{}\n", server_block(lab.port, BARE_WS));
    lab.write(&[("nginx.conf", &main), ("conf.d/ws.conf", &ws)]);
    (main, ws)
}

/// k. The broken location in an included file: findings name that file and its line.
#[test]
fn k_broken_location_in_included_file() {
    let backend = Backend::start();
    let lab = Lab::new();
    let (_, ws) = included_bare_location(&lab, backend.port);
    let nginx = lab.start();
    assert_eq!(
        handshakes(&nginx, "/ws/chat", &GOOD_GOOD_BAD),
        [403, 403, 403]
    );
    wait_access_lines(&nginx, 3);

    let ws_conf = lab.dir().join("conf.d/ws.conf");
    let line = line_of(&ws, "location /ws/ {");
    let runs = doctor_runs(&lab.conf(), &nginx.access_log());
    for run in &runs {
        for id in BARE_ERRORS {
            assert_error(run, id, &ws_conf, line, "/ws/");
        }
    }
    assert_evidence(&runs[1].1, "/ws/", 3, 0, &[("403", 3)]);
}

/// l. The config of k as the real `nginx -T` prints it, on doctor's stdin: the same findings,
/// files named as in nginx -T's `# configuration file PATH:` markers.
#[test]
fn l_nginx_dash_t_on_stdin() {
    let lab = Lab::new();
    let (_, ws) = included_bare_location(&lab, 9);
    let dump = run_bounded(
        Command::new(nginx_bin())
            .arg("-T")
            .arg("-p")
            .arg(lab.dir())
            .arg("-c")
            .arg(lab.conf())
            .arg("-e")
            .arg(lab.dir().join("logs/startup-error.log")),
        b"",
    );
    assert!(
        dump.status.success(),
        "nginx -T: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let ws_conf = lab.dir().join("conf.d/ws.conf");
    let text = String::from_utf8_lossy(&dump.stdout);
    for file in [lab.conf(), ws_conf.clone()] {
        let marker = format!("# configuration file {}:", file.display());
        assert!(text.contains(&marker), "no {marker:?} in nginx -T:\n{text}");
    }

    let line = line_of(&ws, "location /ws/ {");
    let piped = doctor_stdin(&["--config", "-"], &dump.stdout);
    for id in BARE_ERRORS {
        assert_error(&piped, id, &ws_conf, line, "/ws/");
    }
    let read = doctor(&["--config", &lab.conf().display().to_string()]);
    assert_eq!(piped.0, read.0, "exit codes differ");
    assert_eq!(
        findings(&piped.1),
        findings(&read.1),
        "findings from nginx -T on stdin:\n{}\nfrom the files:\n{}",
        pretty(&piped.1),
        pretty(&read.1)
    );
}

/// Whether `text` mentions the count `n` as a number of its own (not a digit of `1.1`, `60s`...).
fn mentions_count(text: &str, n: u64) -> bool {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|w| w == n.to_string())
}

/// m. `proxy_read_timeout 2s` on the recommended location: nginx cuts an idle session after
/// 2 s ("upstream timed out ... while proxying upgraded connection" at info level). doctor
/// warns (exit 0: warnings are not errors), and with the logs the warning counts the cut.
#[test]
fn m_short_read_timeout_cuts_idle_session() {
    let backend = Backend::start();
    let lab = Lab::new();
    let location = RECOMMENDED_WS.replace("proxy_read_timeout 3600s;", "proxy_read_timeout 2s;");
    let http = format!("{MAP}\n{}", server_block(lab.port, &location));
    let conf = main_conf(lab.dir(), backend.port, &http);
    lab.write(&[("nginx.conf", &conf)]);
    let nginx = lab.start();
    let url = format!("ws://127.0.0.1:{}/ws/chat?token=good", nginx.port);
    let start = Instant::now();
    let (status, closed_by_peer) = ws_client_idle(&url, Duration::from_secs(5));
    let held = start.elapsed();
    assert_eq!(status, 101);
    assert!(closed_by_peer, "nginx kept an idle session open for 5 s");
    assert!(
        held >= Duration::from_millis(1900),
        "the session ended after {held:?}, before the 2 s read timeout"
    );
    let timed_out = || {
        std::fs::read_to_string(nginx.error_log())
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("upstream timed out") && l.contains("while proxying upgraded connection")
            })
            .count()
    };
    wait_for("nginx's upstream timed out line", TIMEOUT, || {
        timed_out() >= 1
    });
    assert_eq!(timed_out(), 1);
    wait_access_lines(&nginx, 1);

    let line = line_of(&conf, "proxy_read_timeout 2s;");
    let conf_arg = lab.conf().display().to_string();
    let access = nginx.access_log().display().to_string();
    let error = nginx.error_log().display().to_string();
    let plain = doctor(&["--config", &conf_arg]);
    let with_logs = doctor(&[
        "--config",
        &conf_arg,
        "--access-log",
        &access,
        "--error-log",
        &error,
    ]);
    for run in [&plain, &with_logs] {
        assert_no_errors(run);
        find(
            &run.1,
            "ws_read_timeout_short",
            "warning",
            &lab.conf(),
            &[line],
            "/ws/",
        );
    }
    let warning = find(
        &with_logs.1,
        "ws_read_timeout_short",
        "warning",
        &lab.conf(),
        &[line],
        "/ws/",
    );
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(
        mentions_count(message, 1),
        "the warning should count the 1 session nginx timed out: {message:?}"
    );
    assert_evidence(&with_logs.1, "/ws/", 1, 1, &[("101", 1)]);
}
