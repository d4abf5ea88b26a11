//! `--web.config.file` against real clients: a real Prometheus scrapes the sidecar over TLS with
//! basic auth (a self-signed certificate made here) and stores its series; requests without or
//! with wrong credentials get 401 and `WWW-Authenticate`, `/healthz` included; plain HTTP on the
//! TLS port is refused; a certificate replaced on disk is served without a restart (and
//! Prometheus keeps scraping); a broken file on reload keeps the last good settings; the
//! `healthcheck` subcommand checks the secured port; client certificates are enforced.
//!
//! Needs Prometheus (Debian: `apt-get install prometheus`, `.ci/run` does; or set
//! `PROMETHEUS=/path/to/prometheus`). Without it the test fails.

mod support;

use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{append, free_port, sidecar_bin, wait_for, ws_line};

const USER: &str = "prometheus";
const PASSWORD: &str = "s3cret-scrape";

/// A certificate for 127.0.0.1 and localhost, PEM (cert, key) and DER.
fn self_signed(name: &str) -> (String, String, Vec<u8>) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// Writes a file by rename, as a certificate manager (or Kubernetes) replaces it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The sidecar, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What an HTTPS request got: status, raw head, body, the server's certificate.
struct Answer {
    status: u16,
    head: String,
    body: String,
    peer: Vec<u8>,
}

fn client(roots: &[&[u8]], identity: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(CertificateDer::from(r.to_vec()))
            .expect("root cert");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store);
    Arc::new(match identity {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let certs = vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert pem")];
            let key =
                rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key pem");
            b.with_client_auth_cert(certs, key).expect("client cert")
        }
    })
}

/// GET over TLS; `Err` when the handshake or the exchange fails.
fn https_get(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
    path: &str,
    auth: Option<(&str, &str)>,
    accept: Option<&str>,
) -> Result<Answer, String> {
    use base64::Engine;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some((u, p)) = auth {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req.push_str(&format!("Authorization: Basic {b}\r\n"));
    }
    if let Some(a) = accept {
        req.push_str(&format!("Accept: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // The server closes without close_notify after `Connection: close`: what was read counts.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let peer = s
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
        peer,
    })
}

fn start_sidecar(args: &[&str], web: &Path, port: u16) -> Running {
    let child = Command::new(sidecar_bin())
        .args(["run", "--web.listen-address", &format!("127.0.0.1:{port}")])
        .arg("--web.config.file")
        .arg(web)
        .args(["--poll-interval", "50ms"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sidecar");
    Running(child)
}

/// Plain HTTP on the port: the bytes that come back (until the server closes).
fn plain_http(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

fn healthcheck(port: u16, web: &Path, extra: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(sidecar_bin())
        .arg("healthcheck")
        .args(extra)
        .env_remove("NGINXLOG_HEALTHCHECK_USERNAME")
        .env_remove("NGINXLOG_HEALTHCHECK_PASSWORD")
        .env("NGINXLOG_LISTEN", format!("127.0.0.1:{port}"))
        .env("NGINXLOG_WEB_CONFIG_FILE", web)
        .envs(env.iter().copied())
        .output()
        .expect("run healthcheck");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn prometheus_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMETHEUS") {
        return PathBuf::from(p);
    }
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("Prometheus is not installed (apt-get install prometheus, as .ci/run does, or set PROMETHEUS=...): this test does not pass without it")
        })
}

/// A real Prometheus on loopback, killed on drop.
struct Prometheus {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, target_port: u16, ca: &Path) -> Prometheus {
        std::fs::create_dir_all(dir.join("data")).expect("mkdir");
        let q = |s: &str| serde_json::to_string(s).expect("json");
        std::fs::write(dir.join("password"), PASSWORD).expect("password file");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: nginxlog-tls\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {}\n\
             \x20   basic_auth:\n      username: {}\n      password_file: {}\n\
             \x20   static_configs:\n      - targets: [{}]\n",
            q(&ca.display().to_string()),
            q(USER),
            q(&dir.join("password").display().to_string()),
            q(&format!("127.0.0.1:{target_port}")),
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("config");
        let log = dir.join("prometheus.log");
        let port = free_port();
        let child = Command::new(prometheus_bin())
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { port, child, log };
        wait_for("Prometheus ready", Duration::from_secs(30), || {
            support::fetch(p.port, "/-/ready").0 == 200
        });
        p
    }

    fn api(&self, path: &str) -> Value {
        let (status, body) = support::fetch(self.port, path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// The target's health and last error.
    fn target(&self) -> (String, String) {
        let v = self.api("/api/v1/targets?state=active");
        let t = &v["data"]["activeTargets"][0];
        (
            t["health"].as_str().unwrap_or("").to_string(),
            t["lastError"].as_str().unwrap_or("").to_string(),
        )
    }

    /// Sum of an instant query's samples.
    fn sum(&self, q: &str) -> f64 {
        let enc: String = q
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let v = self.api(&format!("/api/v1/query?query={enc}"));
        v["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(0.0)
    }

    fn log_tail(&self) -> String {
        let t = std::fs::read_to_string(&self.log).unwrap_or_default();
        let l: Vec<&str> = t.lines().collect();
        l[l.len().saturating_sub(20)..].join("\n")
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth_and_rotation_needs_no_restart() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (cert_a, key_a, der_a) = self_signed("sidecar-a");
    let (cert_b, key_b, der_b) = self_signed("sidecar-b");
    std::fs::write(dir.join("cert.pem"), &cert_a).expect("cert");
    std::fs::write(dir.join("key.pem"), &key_a).expect("key");
    // Prometheus trusts both, so it keeps scraping across the rotation.
    std::fs::write(dir.join("ca.pem"), format!("{cert_a}{cert_b}")).expect("ca bundle");
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    // The same hash with the $2y$ (htpasswd) and $2a$ prefixes: all three are accepted.
    let hash_y = format!("$2y${}", &hash[4..]);
    let hash_a = format!("$2a${}", &hash[4..]);
    // Relative paths are relative to the file's directory, as in exporter-toolkit.
    let web_text = format!(
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS12\n\
         basic_auth_users:\n  {USER}: {hash_y}\n  ops: {hash_a}\n  dev: {hash}\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    );
    let web = dir.join("web.yml");
    std::fs::write(&web, &web_text).expect("web config");
    let log = dir.join("access.log");
    let lines: Vec<String> = (0..5)
        .map(|i| ws_line("/ws/chat", if i < 3 { 101 } else { 403 }, "0.003"))
        .collect();
    append(&log, &lines);

    let port = free_port();
    let log_arg = log.display().to_string();
    let mut sidecar = start_sidecar(
        &[
            "--access-log",
            &log_arg,
            "--from-start",
            "--format",
            "ws_timing",
        ],
        &web,
        port,
    );
    let trust_a = client(&[&der_a], None);
    let good = Some((USER, PASSWORD));
    wait_for("sidecar over https", Duration::from_secs(15), || {
        assert!(
            sidecar.0.try_wait().expect("try_wait").is_none(),
            "sidecar exited"
        );
        https_get(&trust_a, port, "/readyz", good, None).is_ok_and(|a| a.status == 200)
    });

    // Credentials: none, wrong password, unknown user -> 401 with a Basic challenge; on every
    // endpoint.
    for (path, auth) in [
        ("/metrics", None),
        ("/healthz", None),
        ("/", None),
        ("/metrics", Some((USER, "wrong"))),
        ("/healthz", Some((USER, "wrong"))),
        ("/metrics", Some(("mallory", PASSWORD))),
    ] {
        let a = https_get(&trust_a, port, path, auth, None).expect("https");
        assert_eq!(a.status, 401, "{path} {auth:?}: {}", a.head);
        assert!(
            a.head
                .to_ascii_lowercase()
                .contains("www-authenticate: basic"),
            "{path}: no challenge in {}",
            a.head
        );
        assert!(!a.body.contains("nginxlog_"), "{path} leaked metrics");
    }
    for user in [USER, "ops", "dev"] {
        let a = https_get(&trust_a, port, "/healthz", Some((user, PASSWORD)), None).expect("https");
        assert_eq!(a.status, 200, "{user}: {}", a.head);
    }
    let m = https_get(&trust_a, port, "/metrics", good, None).expect("scrape");
    assert_eq!(m.status, 200);
    assert!(
        m.head
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{}",
        m.head
    );
    assert!(
        m.body.contains(
            r#"nginxlog_ws_upgrade_requests_total{path="/ws/chat",status="101",answered_by="upstream"} 3"#
        ),
        "{}",
        m.body
    );
    assert_eq!(m.peer, der_a);

    // Plain HTTP on the TLS port: a 400 saying so, never the metrics.
    let plain = plain_http(port, "/metrics");
    assert!(plain.starts_with("HTTP/1.0 400"), "{plain:?}");
    assert!(
        plain.contains("HTTPS") && !plain.contains("nginxlog_"),
        "{plain:?}"
    );

    // The healthcheck subcommand: https (from the web config), CA and credentials from the
    // environment; --insecure instead of the CA; without credentials it fails with a hint.
    let ca_a = dir.join("a.pem");
    std::fs::write(&ca_a, &cert_a).expect("ca a");
    let creds = [
        ("NGINXLOG_HEALTHCHECK_USERNAME", USER),
        ("NGINXLOG_HEALTHCHECK_PASSWORD", PASSWORD),
    ];
    let ca_env = ca_a.display().to_string();
    let mut env = creds.to_vec();
    env.push(("NGINXLOG_HEALTHCHECK_CA_FILE", &ca_env));
    let (ok, err) = healthcheck(port, &web, &[], &env);
    assert!(ok, "healthcheck with CA and credentials: {err}");
    let (ok, err) = healthcheck(port, &web, &["--insecure"], &creds);
    assert!(ok, "healthcheck --insecure: {err}");
    let (ok, err) = healthcheck(port, &web, &["--ca-file", &ca_env], &[]);
    assert!(
        !ok && err.contains("401") && err.contains("NGINXLOG_HEALTHCHECK_USERNAME"),
        "{err}"
    );
    let (ok, err) = healthcheck(port, &web, &[], &creds);
    assert!(!ok && err.contains("--ca-file"), "{err}");

    // A real Prometheus: https, tls_config, basic_auth. The target is up and the series arrive.
    let prom = Prometheus::start(&dir.join("prometheus"), port, &dir.join("ca.pem"));
    wait_for(
        "Prometheus target up with data",
        Duration::from_secs(30),
        || {
            prom.sum("nginxlog_ws_upgrade_requests_total{job=\"nginxlog-tls\"}") == 5.0
                && prom.sum("up{job=\"nginxlog-tls\"}") == 1.0
        },
    );
    assert!(prom.sum("process_resident_memory_bytes{job=\"nginxlog-tls\"}") > 0.0);
    assert_eq!(prom.sum("nginxlog_build_info{job=\"nginxlog-tls\"}"), 1.0);
    let (health, error) = prom.target();
    assert_eq!(health, "up", "last error: {error}\n{}", prom.log_tail());

    // Rotation: key and certificate replaced on disk; new handshakes present the new one.
    let rotated_at = now();
    replace(&dir.join("key.pem"), &key_b);
    replace(&dir.join("cert.pem"), &cert_b);
    let trust_b = client(&[&der_b], None);
    wait_for(
        "the new certificate served",
        Duration::from_secs(15),
        || {
            https_get(&trust_b, port, "/healthz", good, None)
                .is_ok_and(|a| a.status == 200 && a.peer == der_b)
        },
    );
    assert!(
        https_get(&trust_a, port, "/healthz", good, None).is_err(),
        "the old certificate is still served"
    );
    assert!(
        sidecar.0.try_wait().expect("try_wait").is_none(),
        "the sidecar restarted"
    );
    wait_for(
        "Prometheus scrapes after the rotation",
        Duration::from_secs(20),
        || {
            // timestamp(up): when the last scrape happened.
            prom.sum("up{job=\"nginxlog-tls\"}") == 1.0
                && prom.sum("timestamp(up{job=\"nginxlog-tls\"})") > rotated_at + 1.0
        },
    );

    // A broken file on reload: logged, and the last good settings stay in force.
    replace(&web, "tls_server_config:\n  cert_file: [oops\n");
    std::thread::sleep(Duration::from_millis(2500));
    let a = https_get(&trust_b, port, "/healthz", good, None).expect("still TLS");
    assert_eq!(a.status, 200);
    assert_eq!(
        https_get(&trust_b, port, "/healthz", None, None)
            .expect("https")
            .status,
        401
    );
    // Users change with the file: a new password is required once it is re-read.
    let new_hash = bcrypt::hash("rotated-password", 4).expect("bcrypt");
    replace(
        &web,
        &format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  {USER}: {new_hash}\n"
        ),
    );
    wait_for("new credentials in force", Duration::from_secs(15), || {
        https_get(&trust_b, port, "/healthz", good, None).is_ok_and(|a| a.status == 401)
    });
    let a = https_get(
        &trust_b,
        port,
        "/healthz",
        Some((USER, "rotated-password")),
        None,
    )
    .expect("https");
    assert_eq!(a.status, 200);
    eprintln!("web_config_tls_basic_auth: {:?}", started.elapsed());
}

#[test]
fn client_certificates_are_required_and_checked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (server_cert, server_key, server_der) = self_signed("sidecar");
    std::fs::write(dir.join("server.pem"), &server_cert).expect("w");
    std::fs::write(dir.join("server.key"), &server_key).expect("w");
    // A CA and a client certificate it signed; a second, self-signed client it did not.
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test client CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let client_key = rcgen::KeyPair::generate().expect("key");
    let client_params =
        rcgen::CertificateParams::new(vec!["prometheus".to_string()]).expect("client params");
    let client_cert = client_params
        .signed_by(&client_key, &issuer)
        .expect("client cert");
    std::fs::write(dir.join("clients-ca.pem"), ca_cert.pem()).expect("w");
    let (stranger_cert, stranger_key, _) = self_signed("stranger");
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.pem\n",
    )
    .expect("w");
    let log = dir.join("access.log");
    std::fs::write(&log, "").expect("w");
    let port = free_port();
    let log_arg = log.display().to_string();
    let mut sidecar = start_sidecar(&["--access-log", &log_arg], &web, port);
    let (cpem, kpem) = (client_cert.pem(), client_key.serialize_pem());
    let with_cert = client(&[&server_der], Some((&cpem, &kpem)));
    wait_for("sidecar over https", Duration::from_secs(15), || {
        assert!(
            sidecar.0.try_wait().expect("try").is_none(),
            "sidecar exited"
        );
        https_get(&with_cert, port, "/healthz", None, None).is_ok_and(|a| a.status == 200)
    });
    let without = client(&[&server_der], None);
    assert!(
        https_get(&without, port, "/metrics", None, None).is_err_and(|e| !e.is_empty()),
        "no client certificate must fail the handshake"
    );
    let stranger = client(&[&server_der], Some((&stranger_cert, &stranger_key)));
    assert!(
        https_get(&stranger, port, "/metrics", None, None).is_err(),
        "a client certificate from another CA must fail the handshake"
    );
    // healthcheck presents the client certificate.
    std::fs::write(dir.join("client.pem"), &cpem).expect("w");
    std::fs::write(dir.join("client.key"), &kpem).expect("w");
    std::fs::write(dir.join("server-ca.pem"), &server_cert).expect("w");
    let (ok, err) = healthcheck(
        port,
        &web,
        &[
            "--ca-file",
            &dir.join("server-ca.pem").display().to_string(),
            "--cert-file",
            &dir.join("client.pem").display().to_string(),
            "--key-file",
            &dir.join("client.key").display().to_string(),
        ],
        &[],
    );
    assert!(ok, "healthcheck with a client certificate: {err}");
}

/// The state file as `(offset of log, acknowledged_by_scrape)`, once it exists.
fn saved_state(state: &Path, log: &str) -> Option<(u64, bool)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(state).ok()?).ok()?;
    Some((
        v["files"][log]["offset"].as_u64()?,
        v["acknowledged_by_scrape"].as_bool()?,
    ))
}

/// Over TLS, too, a scrape acknowledges the state file once the client has accepted the whole
/// response (the send queue of the TCP socket under the TLS stream is empty): a client that
/// sends `GET /metrics`, never reads and resets acknowledges nothing; a full read does.
#[test]
fn over_tls_only_a_delivered_scrape_acknowledges_the_state_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (cert, key, der) = self_signed("sidecar");
    std::fs::write(dir.join("cert.pem"), &cert).expect("cert");
    std::fs::write(dir.join("key.pem"), &key).expect("key");
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    )
    .expect("web config");
    let log = dir.join("access.log");
    append(&log, &vec![ws_line("/ws/chat", 101, "0.003"); 50]);
    let len = std::fs::metadata(&log).expect("log").len();
    let state = dir.join("state.json");
    let (l, s) = (log.display().to_string(), state.display().to_string());
    let port = free_port();
    let _sidecar = start_sidecar(
        &[
            "--access-log",
            &l,
            "--from-start",
            "--state-file",
            &s,
            "--state-interval",
            "100ms",
        ],
        &web,
        port,
    );
    let cfg = client(&[&der], None);
    // Before any scrape the read positions are saved, not acknowledged.
    wait_for("read positions saved", Duration::from_secs(10), || {
        saved_state(&state, &l) == Some((len, false))
    });

    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(1024).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&addr.into()).expect("connect");
    let tcp: TcpStream = sock.into();
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(cfg.clone(), name).expect("client");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("handshake and request");
    std::thread::sleep(Duration::from_millis(800));
    socket2::SockRef::from(&tls.sock)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(tls);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        saved_state(&state, &l),
        Some((len, false)),
        "a response the client never read acknowledged the state file"
    );

    let a = https_get(&cfg, port, "/metrics", None, None).expect("scrape");
    assert_eq!(a.status, 200, "{}", a.head);
    wait_for("the scrape acknowledged", Duration::from_secs(3), || {
        saved_state(&state, &l) == Some((len, true))
    });
}
