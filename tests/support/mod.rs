//! Test harness: a real nginx on loopback with its own prefix, a WebSocket backend, clients, and
//! the sidecar binary. Shared by the integration tests and `examples/make_fixtures.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `ws_upgrade_requests_total` series of 101s on `/ws/chat`, the traffic of the state tests.
pub const CHAT: &str =
    r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"}"#;

/// `n` access lines of 101s on `/ws/chat` (counted in [`CHAT`]).
pub fn chat(n: usize) -> Vec<String> {
    vec![ws_line("/ws/chat", 101, "0.002"); n]
}

/// A temp dir with `access.log` (not created) and `state.json`, for the state-file tests.
pub struct StateDir {
    pub tmp: tempfile::TempDir,
    pub log: PathBuf,
    pub state: PathBuf,
    log_arg: String,
    state_arg: String,
}

impl StateDir {
    pub fn new() -> StateDir {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (log, state) = (tmp.path().join("access.log"), tmp.path().join("state.json"));
        StateDir {
            log_arg: log.display().to_string(),
            state_arg: state.display().to_string(),
            tmp,
            log,
            state,
        }
    }

    /// The log as the sidecar names it (its `log` label and status-page source).
    pub fn log_name(&self) -> &str {
        &self.log_arg
    }

    /// `run`'s flags: the log as `ws_timing` with the state file, then `extra`.
    pub fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "--format",
            "ws_timing",
            "--access-log",
            &self.log_arg,
            "--state-file",
            &self.state_arg,
        ];
        v.extend_from_slice(extra);
        v
    }
}

/// SIGTERM to a sidecar started with a piped stderr, and what it wrote there until it exited.
pub fn terminate_and_stderr(mut child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    err
}

/// The recommended format (same text as the `ws_timing` preset).
pub const WS_TIMING: &str = "'$remote_addr - $remote_user [$time_local] \"$request\" $status '\n                     '$body_bytes_sent \"$http_referer\" \"$http_user_agent\" '\n                     'rt=$request_time uct=\"$upstream_connect_time\" '\n                     'uht=\"$upstream_header_time\" urt=\"$upstream_response_time\" '\n                     'upgrade=\"$http_upgrade\"'";

/// A free TCP port on 127.0.0.1, never the same one twice in this test process: the kernel may
/// hand a just-released port to a concurrent test before the first one's server has bound it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind an ephemeral port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Waits until the nginx just spawned is the one serving `port`: its pid file exists (nginx
/// writes it only after binding its listeners) and the port accepts. Panics with nginx's own
/// startup errors if it exited instead.
pub fn wait_nginx_up(child: &mut Child, pid_file: &Path, port: u16, startup_log: &Path) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "nginx exited ({status}) instead of listening on 127.0.0.1:{port}:\n{}",
                std::fs::read_to_string(startup_log).unwrap_or_default()
            );
        }
        if pid_file.exists() && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for nginx to listen on 127.0.0.1:{port}");
}

/// nginx binary: `$NGINX` or `nginx` on PATH or /usr/sbin/nginx.
pub fn nginx_bin() -> PathBuf {
    if let Ok(p) = std::env::var("NGINX") {
        return PathBuf::from(p);
    }
    for c in ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"] {
        if Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    panic!("nginx is not installed: run .ci/run (it installs Debian's nginx-light), or set NGINX=/path/to/nginx");
}

/// The version of [`nginx_bin`] as `nginx -v` reports it (`1.22.1`).
pub fn nginx_version() -> String {
    let out = Command::new(nginx_bin())
        .arg("-v")
        .output()
        .expect("run nginx -v");
    let text = String::from_utf8_lossy(&out.stderr);
    text.split_once("nginx/")
        .map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("no version in `nginx -v` output: {text:?}"))
}

/// Creates an nginx prefix in `dir`: `logs/`, `tmp/` and `files` (paths relative to `dir`,
/// parent directories created). The main config is `nginx.conf`.
pub fn write_prefix(dir: &Path, files: &[(&str, &str)]) {
    for d in ["logs", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// The http-level temp paths that keep nginx inside its prefix `dir`.
pub fn nginx_temp_paths(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;"
    )
}

/// What `nginx -t` said about `<dir>/nginx.conf`.
pub struct NginxCheck {
    /// nginx accepted the config.
    pub ok: bool,
    /// nginx's stderr (`nginx: [emerg] ... in FILE:LINE`, `... test failed`).
    pub stderr: String,
}

/// Runs `nginx -t` on `<dir>/nginx.conf` with prefix `dir`.
pub fn nginx_check(dir: &Path) -> NginxCheck {
    let out = Command::new(nginx_bin())
        .args(["-t", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("logs/startup-error.log"))
        .output()
        .expect("run nginx -t");
    NginxCheck {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The sidecar binary Cargo built for the tests.
pub fn sidecar_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_nginxlog-sidecar") {
        Some(p) => PathBuf::from(p),
        None => repo().join("target/debug/nginxlog-sidecar"),
    }
}

/// Repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Waits until `f` is true or panics after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running nginx (`daemon off`) in a temp prefix; stopped on drop.
pub struct Nginx {
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

/// What the test nginx serves.
pub struct NginxSetup {
    /// Port of the WebSocket/HTTP backend.
    pub backend: u16,
    /// Extra `server {}` directives.
    pub extra: String,
    /// Extra `http {}` directives (more `log_format`/`access_log` lines).
    pub http_extra: String,
    /// `error_log` level.
    pub error_level: &'static str,
    /// Serve `/ws/` without the upgrade headers (the misconfiguration) instead of
    /// `deploy/nginx/ws-location.conf`.
    pub broken_ws: bool,
}

impl Default for NginxSetup {
    fn default() -> Self {
        NginxSetup {
            backend: 0,
            extra: String::new(),
            http_extra: String::new(),
            error_level: "info",
            broken_ws: false,
        }
    }
}

impl Nginx {
    /// Writes the config into `dir` and starts nginx; waits until it accepts connections.
    pub fn start(dir: &Path, setup: &NginxSetup) -> Nginx {
        let port = free_port();
        write_prefix(dir, &[("nginx.conf", &Self::config(dir, port, setup))]);
        let check = nginx_check(dir);
        assert!(check.ok, "nginx -t failed: {}", check.stderr);
        Nginx::start_written(dir, port)
    }

    /// Starts nginx on the `nginx.conf` already in `dir` (see [`write_prefix`]), which must
    /// `listen 127.0.0.1:<port>`, `daemon off` and write its pid to `<dir>/nginx.pid`; waits
    /// until it accepts connections.
    pub fn start_written(dir: &Path, port: u16) -> Nginx {
        let mut child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/startup-error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        wait_nginx_up(
            &mut child,
            &dir.join("nginx.pid"),
            port,
            &dir.join("logs/startup-error.log"),
        );
        Nginx {
            dir: dir.to_path_buf(),
            port,
            child,
        }
    }

    fn config(dir: &Path, port: u16, s: &NginxSetup) -> String {
        let d = dir.display();
        let ws_location = if s.broken_ws {
            "location /ws/ { proxy_pass http://ws_backend; }".to_string()
        } else {
            format!(
                "include {};",
                repo().join("deploy/nginx/ws-location.conf").display()
            )
        };
        format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log {level};
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    log_format ws_timing {fmt};
    access_log {d}/logs/access.log ws_timing;
    upstream ws_backend {{ server 127.0.0.1:{backend}; }}
    {http_extra}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {d}/html;
        {ws_location}
        # The misconfiguration: proxied without the upgrade headers.
        location /broken/ {{ proxy_pass http://ws_backend; }}
        location /denied/ {{ deny all; }}
        location /api/ {{ proxy_pass http://ws_backend; }}
        # An upstream that refuses connections: nginx answers 502 itself.
        location /down/ {{ proxy_pass http://127.0.0.1:1; }}
        {extra}
    }}
}}
"#,
            level = s.error_level,
            fmt = WS_TIMING,
            backend = s.backend,
            extra = s.extra,
            http_extra = s.http_extra,
        )
    }

    /// Rewrites `nginx.conf` for `setup` on the same port and checks it with `nginx -t`; send
    /// `HUP` ([`Nginx::signal`]) to apply it, as `nginx -s reload` does.
    pub fn rewrite_config(&self, setup: &NginxSetup) {
        write_prefix(
            &self.dir,
            &[("nginx.conf", &Self::config(&self.dir, self.port, setup))],
        );
        let check = nginx_check(&self.dir);
        assert!(check.ok, "nginx -t failed: {}", check.stderr);
    }

    /// Path of the access log.
    pub fn access_log(&self) -> PathBuf {
        self.dir.join("logs/access.log")
    }

    /// Path of the error log.
    pub fn error_log(&self) -> PathBuf {
        self.dir.join("logs/error.log")
    }

    /// Sends a signal to the master (`USR1` reopens logs).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
    }
}

impl Drop for Nginx {
    /// SIGTERM first, so the master stops its workers; SIGKILL only if it does not exit.
    fn drop(&mut self) {
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

/// A WebSocket backend that behaves like an app with an auth check: an upgrade with `token=good`
/// gets `101` and an echo session, any other token `403`. A plain GET (the upgrade headers were
/// lost) gets `403` under `/ws/` (the auth check refuses non-WebSocket requests) and `426` (Node
/// `ws` style) elsewhere. `/api/*` answers `200`.
pub struct Backend {
    pub port: u16,
    rt: tokio::runtime::Runtime,
}

impl Backend {
    /// Starts the backend on a free loopback port.
    pub fn start() -> Backend {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind backend");
        let port = listener.local_addr().expect("addr").port();
        rt.spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve_conn(sock));
            }
        });
        Backend { port, rt }
    }
}

async fn serve_conn(mut sock: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 65_536 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let header = |name: &str| {
        text.lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .map(|l| {
                l.split_once(':')
                    .map(|x| x.1)
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
    };
    if target.starts_with("/api/") {
        let body = "{\"ok\":true}";
        let _ = sock
            .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
            .await;
        return;
    }
    let upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if !upgrade && target.starts_with("/ws/") {
        let _ = sock.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nForbidden").await;
        return;
    }
    if !upgrade {
        let _ = sock
            .write_all(
                b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    if !target.contains("token=good") {
        let _ = sock.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nForbidden").await;
        return;
    }
    let key = header("sec-websocket-key").unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    if sock.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        sock,
        tokio_tungstenite::tungstenite::protocol::Role::Server,
        None,
    )
    .await;
    use futures_util::{SinkExt, StreamExt};
    let (mut tx, mut rx) = ws.split();
    while let Some(Ok(msg)) = rx.next().await {
        if msg.is_close() {
            break;
        }
        if msg.is_text() || msg.is_binary() {
            let _ = tx.send(msg).await;
        }
    }
    let _ = tx.close().await;
}

/// A single-threaded runtime for one blocking client call.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Performs a WebSocket handshake at `url`, holds the session for `hold`, sends one echo
/// message and closes. Returns the HTTP status of the handshake (101 on success).
pub fn ws_client(url: &str, hold: Duration) -> u16 {
    client_runtime().block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let fut = tokio_tungstenite::connect_async(url);
        match tokio::time::timeout(Duration::from_secs(10), fut).await {
            Ok(Ok((mut ws, resp))) => {
                let _ = ws.send(Message::text("ping")).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
                tokio::time::sleep(hold).await;
                let _ = ws.close(None).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                resp.status().as_u16()
            }
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => resp.status().as_u16(),
            Ok(Err(e)) => panic!("websocket client error at {url}: {e}"),
            Err(_) => panic!("websocket handshake timed out at {url}"),
        }
    })
}

/// Performs a WebSocket handshake at `url` and then stays idle (sends nothing) for up to
/// `idle`. Returns the handshake status and whether the peer closed the session (close frame,
/// EOF or reset) before `idle` was over; a session still open then is closed by the client.
pub fn ws_client_idle(url: &str, idle: Duration) -> (u16, bool) {
    client_runtime().block_on(async {
        use futures_util::StreamExt;
        let fut = tokio_tungstenite::connect_async(url);
        match tokio::time::timeout(Duration::from_secs(10), fut).await {
            Ok(Ok((mut ws, resp))) => {
                let closed = async {
                    loop {
                        match ws.next().await {
                            Some(Ok(msg)) if !msg.is_close() => continue,
                            _ => return,
                        }
                    }
                };
                let closed_by_peer = tokio::time::timeout(idle, closed).await.is_ok();
                if !closed_by_peer {
                    let _ = ws.close(None).await;
                }
                (resp.status().as_u16(), closed_by_peer)
            }
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                (resp.status().as_u16(), false)
            }
            Ok(Err(e)) => panic!("websocket client error at {url}: {e}"),
            Err(_) => panic!("websocket handshake timed out at {url}"),
        }
    })
}

/// A plain HTTP/1.1 GET; returns the status.
pub fn http_get(port: u16, path: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Fetches `path` from a local HTTP server and returns (status, body).
pub fn fetch(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return (0, String::new());
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).to_string();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The sidecar binary under test, running `run` with `args`; killed on drop.
pub struct Sidecar {
    pub port: u16,
    child: Child,
}

impl Sidecar {
    /// Starts the sidecar on a free port and waits until `/readyz` answers 200.
    pub fn start(args: &[&str]) -> Sidecar {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(sidecar_bin())
            .args(["run", "--listen", &listen, "--poll-interval", "50ms"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sidecar");
        let s = Sidecar { port, child };
        wait_for("sidecar /readyz", Duration::from_secs(10), || {
            fetch(port, "/readyz").0 == 200
        });
        s
    }

    /// Scrapes `/metrics`; every scrape is checked to hold each series once.
    pub fn metrics(&self) -> String {
        let (status, body) = fetch(self.port, "/metrics");
        assert_eq!(status, 200, "/metrics answered {status}");
        nginxlog_sidecar::sink::unique_series::assert_unique_series(&body);
        body
    }

    /// Value of the sample whose name and labels match exactly (`name{a="b",...}`), or 0.
    pub fn value(&self, series: &str) -> f64 {
        sample(&self.metrics(), series)
    }

    /// Waits until `series` reaches `want` (or panics with the last scrape).
    pub fn wait_value(&self, series: &str, want: f64) {
        self.wait_value_within(series, want, Duration::from_secs(15));
    }

    /// As `wait_value`, for inputs whose reading takes long in a debug build on a loaded machine.
    pub fn wait_value_within(&self, series: &str, want: f64, timeout: Duration) {
        let start = Instant::now();
        loop {
            let m = self.metrics();
            let v = sample(&m, series);
            if v == want {
                return;
            }
            if start.elapsed() > timeout {
                panic!("{series} is {v}, want {want}; last scrape:\n{m}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("sidecar did not exit within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Process id (for RSS checks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Value of one sample in a scrape (`0` when absent).
pub fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Truncates a file in place (what logrotate's `copytruncate` does after copying).
pub fn truncate(path: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("truncate");
}

/// logrotate's `copytruncate`: copy the log beside it as `<name>.1`, then truncate it in place.
pub fn copytruncate(path: &Path) {
    let mut copy = path.as_os_str().to_owned();
    copy.push(".1");
    std::fs::copy(path, PathBuf::from(copy)).expect("copy");
    truncate(path);
}

/// A per-log self-metric (`nginxlog_lines_read_total`, `..._malformed_total`, ...) of `log`.
pub fn log_metric(scrape: &str, metric: &str, log: &str) -> f64 {
    sample(scrape, &format!(r#"{metric}{{log="{log}"}}"#))
}

/// Appends lines to a file (one write per line, like nginx).
pub fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    for l in lines {
        f.write_all(format!("{l}\n").as_bytes()).expect("append");
    }
}

/// A `ws_timing` line with the given path, status and upstream header time.
pub fn ws_line(path: &str, status: u16, uht: &str) -> String {
    format!(
        "127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET {path} HTTP/1.1\" {status} 0 \"-\" \"test\" rt=0.010 uct=\"0.001\" uht=\"{uht}\" urt=\"0.010\" upgrade=\"websocket\""
    )
}

impl Sidecar {
    /// Sends a signal (`STOP`, `CONT`, `KILL`, ...) to the sidecar.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// `kill -9` and reap.
    /// Whether the process has exited (without waiting).
    pub fn try_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn kill9(mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Lines read from `log` so far, from `/status.json`: unlike `/metrics`, reading it is no
    /// scrape, so it acknowledges nothing in the state file.
    /// Waits until the status page (no scrape) says `want` lines of `log` were read.
    pub fn wait_lines_read_unscraped(&self, log: &str, want: u64) {
        wait_for("lines read (status page)", Duration::from_secs(10), || {
            self.lines_read_unscraped(log) == want
        });
    }

    pub fn lines_read_unscraped(&self, log: &str) -> u64 {
        let (_, body) = fetch(self.port, "/status.json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == log)
            .and_then(|s| s["lines_read"].as_u64())
            .unwrap_or(0)
    }
}
