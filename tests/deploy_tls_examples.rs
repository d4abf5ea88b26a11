//! The shipped TLS examples work as written: the compose overlay's web config, password and
//! Prometheus config (paths mapped to a temp dir, a certificate made like the openssl command
//! in the file) let a real Prometheus scrape a real sidecar over https with basic auth, and the
//! overlay's healthcheck variables pass; the Kubernetes overlay's web config loads and its
//! paths are where the patch mounts the Secrets.

mod support;

use serde_yaml::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A certificate for the compose service name, as the documented openssl command makes.
fn certificate(dir: &Path, cert: &str, key: &str) {
    let names = ["nginxlog-sidecar", "localhost", "127.0.0.1"].map(String::from);
    let c = rcgen::generate_simple_self_signed(names.to_vec()).expect("cert");
    std::fs::write(dir.join(cert), c.cert.pem()).expect("cert");
    std::fs::write(dir.join(key), c.signing_key.serialize_pem()).expect("key");
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn compose_tls_overlay_is_scraped_by_prometheus_with_its_own_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    // The overlay mounts tls/ at /etc/nginxlog (sidecar) and /etc/prometheus/nginxlog.
    let overlay = yaml("deploy/compose/docker-compose.tls.yml");
    let sc = &overlay["services"]["nginxlog-sidecar"];
    let vols: Vec<&str> = sc["volumes"]
        .as_sequence()
        .expect("sidecar volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(vols.contains(&"./tls:/etc/nginxlog:ro"), "{vols:?}");
    let env = sc["environment"].as_mapping().expect("environment");
    let var = |k: &str| -> String {
        env.get(k)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{k} not set in the overlay"))
            .replace("/etc/nginxlog/", &format!("{}/", tmp.path().display()))
    };
    for f in ["web-config.yml", "prometheus-password"] {
        std::fs::copy(
            repo().join("deploy/compose/tls").join(f),
            tmp.path().join(f),
        )
        .expect("copy");
    }
    certificate(tmp.path(), "sidecar.crt", "sidecar.key");

    let log = tmp.path().join("access.log");
    append(
        &log,
        &[
            ws_line("/ws/chat", 101, "0.002"),
            ws_line("/ws/chat", 403, "0.001"),
        ],
    );
    let port = free_port();
    let sidecar = Killed(
        Command::new(sidecar_bin())
            .args([
                "run",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--format",
                "ws_timing",
            ])
            .args(["--from-start", "--access-log"])
            .arg(&log)
            .env("NGINXLOG_WEB_CONFIG_FILE", var("NGINXLOG_WEB_CONFIG_FILE"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sidecar"),
    );
    // The overlay's healthcheck variables: https from the web config, CA and credentials.
    let hc = || {
        Command::new(sidecar_bin())
            .arg("healthcheck")
            .env("NGINXLOG_LISTEN", format!("127.0.0.1:{port}"))
            .env("NGINXLOG_WEB_CONFIG_FILE", var("NGINXLOG_WEB_CONFIG_FILE"))
            .env(
                "NGINXLOG_HEALTHCHECK_CA_FILE",
                var("NGINXLOG_HEALTHCHECK_CA_FILE"),
            )
            .env(
                "NGINXLOG_HEALTHCHECK_USERNAME",
                var("NGINXLOG_HEALTHCHECK_USERNAME"),
            )
            .env(
                "NGINXLOG_HEALTHCHECK_PASSWORD",
                var("NGINXLOG_HEALTHCHECK_PASSWORD"),
            )
            .output()
            .expect("healthcheck")
    };
    wait_for("the overlay's healthcheck", Duration::from_secs(15), || {
        hc().status.success()
    });
    let _ = &sidecar;

    // Prometheus with the overlay's config: rules from alerts/, its mount from the temp dir,
    // the target on loopback (server_name still checks the certificate's service name).
    let prom_dir = tmp.path().join("prometheus");
    std::fs::create_dir_all(prom_dir.join("data")).expect("mkdir");
    let text = read("deploy/compose/tls/prometheus.yml")
        .replace(
            "/etc/prometheus/rules/",
            &format!("{}/", repo().join("alerts").display()),
        )
        .replace(
            "/etc/prometheus/nginxlog/",
            &format!("{}/", tmp.path().display()),
        )
        .replace("nginxlog-sidecar:9680", &format!("127.0.0.1:{port}"))
        .replace("alertmanager:9093", "127.0.0.1:1");
    std::fs::write(prom_dir.join("prometheus.yml"), text).expect("config");
    let check = Command::new("promtool")
        .args(["check", "config"])
        .arg(prom_dir.join("prometheus.yml"))
        .output()
        .expect("promtool (apt-get install prometheus, as .ci/run does)");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let prom_port = free_port();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prom_dir.join("log")).expect("log"))
            .spawn()
            .expect("start prometheus (apt-get install prometheus, as .ci/run does)"),
    );
    // The shipped config scrapes every 15 s: the first scrape comes within one interval.
    let q = "/api/v1/query?query=sum%28nginxlog_ws_upgrade_requests_total%7Bjob%3D%22nginxlog-sidecar%22%7D%29";
    let up = "/api/v1/query?query=up%7Bjob%3D%22nginxlog-sidecar%22%7D";
    wait_for(
        "Prometheus scraping the compose TLS target",
        Duration::from_secs(40),
        || {
            let (_, a) = fetch(prom_port, q);
            let (_, b) = fetch(prom_port, up);
            a.contains("\"2\"]") && b.contains("\"1\"]")
        },
    );
}

#[test]
fn kubernetes_tls_overlay_mounts_what_its_web_config_names() {
    let k = yaml("deploy/kubernetes/tls/kustomization.yaml");
    for r in k["resources"].as_sequence().expect("resources") {
        let r = r.as_str().expect("path");
        assert!(
            repo().join("deploy/kubernetes/tls").join(r).exists(),
            "missing {r}"
        );
    }
    let secret = yaml("deploy/kubernetes/tls/web-config-secret.yaml");
    let web = secret["stringData"]["web-config.yml"]
        .as_str()
        .expect("web-config.yml");
    let patch = yaml("deploy/kubernetes/tls/deployment-tls-patch.yaml");
    let c = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"].as_str(), Some("nginxlog-sidecar"));
    let mounts: Vec<(String, String)> = c["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_string(),
                m["mountPath"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let env: Vec<(String, String)> = c["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_string(),
                e["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let cfg_path = env
        .iter()
        .find(|(n, _)| n == "NGINXLOG_WEB_CONFIG_FILE")
        .map(|(_, v)| v.clone())
        .expect("NGINXLOG_WEB_CONFIG_FILE");
    // Map every mount to a temp dir, with the Secret's files in it, and load the config.
    let tmp = tempfile::tempdir().expect("tmp");
    let local = |p: &str| -> std::path::PathBuf {
        let (_, mount) = mounts
            .iter()
            .find(|(_, m)| p.starts_with(&format!("{m}/")))
            .unwrap_or_else(|| panic!("{p} is under no volumeMount of the patch: {mounts:?}"));
        tmp.path()
            .join(mount.trim_start_matches('/'))
            .join(&p[mount.len() + 1..])
    };
    let cfg_local = local(&cfg_path);
    let mut text = web.to_string();
    for key in ["cert_file", "key_file"] {
        let p = web
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key}"));
        let l = local(p);
        std::fs::create_dir_all(l.parent().expect("dir")).expect("mkdir");
        text = text.replace(p, &l.display().to_string());
    }
    let crt = local("/etc/nginxlog/tls/tls.crt");
    certificate(crt.parent().expect("dir"), "tls.crt", "tls.key");
    std::fs::create_dir_all(cfg_local.parent().expect("dir")).expect("mkdir");
    // As shipped, the placeholder refuses to load: no one runs with a published password.
    std::fs::write(&cfg_local, &text).expect("write");
    let e = nginxlog_sidecar::app::web_config::WebConfig::load(&cfg_local)
        .expect_err("the shipped placeholder must not load");
    assert!(
        format!("{e:#}").contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{e:#}"
    );
    // With a hash put in its place, as the comment says, it loads.
    let hash = bcrypt::hash("a-password", 4).expect("hash");
    std::fs::write(&cfg_local, text.replace("REPLACE-WITH-BCRYPT-HASH", &hash)).expect("write");
    let cfg = nginxlog_sidecar::app::web_config::WebConfig::load(&cfg_local)
        .unwrap_or_else(|e| panic!("the Secret's web config does not load: {e:#}"));
    assert!(cfg.tls.is_some() && cfg.users.contains_key("prometheus"));
    // The liveness probe is the healthcheck, which has its credentials.
    let probe = &c["livenessProbe"];
    assert!(probe["httpGet"].is_null());
    assert_eq!(probe["exec"]["command"][1].as_str(), Some("healthcheck"));
    for v in [
        "NGINXLOG_HEALTHCHECK_USERNAME",
        "NGINXLOG_HEALTHCHECK_PASSWORD",
    ] {
        assert!(env.iter().any(|(n, _)| n == v), "{v} not set");
    }
}

#[test]
fn compose_gives_prometheus_the_certificate_and_password_but_not_the_key() {
    let compose = yaml("deploy/compose/docker-compose.tls.yml");
    let mounts: Vec<&str> = compose["services"]["prometheus"]["volumes"]
        .as_sequence()
        .expect("prometheus volumes")
        .iter()
        .map(|v| v.as_str().expect("short volume syntax"))
        .collect();
    for m in &mounts {
        let source = m.split(':').next().unwrap_or("");
        assert!(
            source != "./tls" && source != "./tls/" && !source.ends_with(".key"),
            "Prometheus gets the sidecar's key: {m}"
        );
    }
    // Every file Prometheus' config names under the mount is mounted.
    let prom = read("deploy/compose/tls/prometheus.yml");
    let named: Vec<&str> = prom
        .split_whitespace()
        .filter(|w| w.starts_with("/etc/prometheus/nginxlog/"))
        .collect();
    assert!(!named.is_empty());
    for n in named {
        assert!(
            mounts.iter().any(|m| m.split(':').nth(1) == Some(n)),
            "{n} is not mounted into Prometheus: {mounts:?}"
        );
    }
}
