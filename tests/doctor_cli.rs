//! `doctor` as a user runs it: the shipped configs pass, text output reads like a compiler's,
//! several logs after one flag, versions, and bad input (exit 2 naming the file and line, never
//! a panic). The real-nginx verdicts are in `doctor_real_nginx.rs`.

mod support;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::*;

fn doctor(args: &[&str]) -> Output {
    Command::new(sidecar_bin())
        .arg("doctor")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run doctor")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code (not a signal)")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, body).expect("write");
    p.display().to_string()
}

/// The shipped nginx configs, laid out as the deployment guide installs them (the location
/// snippet under snippets/, mime.types beside nginx.conf), have no finding at all.
#[test]
fn shipped_configs_are_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let ws = std::fs::read_to_string(repo().join("deploy/nginx/ws-location.conf")).expect("read");
    write(d, "snippets/ws-location.conf", &ws);
    write(d, "mime.types", "types { text/html html; }\n");
    for conf in ["nginx.conf", "nginx-syslog.conf"] {
        let body = std::fs::read_to_string(repo().join("deploy/nginx").join(conf)).expect("read");
        let main = write(d, conf, &body);
        let o = doctor(&[
            "--config",
            &main,
            "--format",
            "json",
            "--nginx-version",
            "1.22.1",
        ]);
        let (out, err) = text(&o);
        assert_eq!(code(&o), 0, "{conf}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["findings"], serde_json::json!([]), "{conf}: {out}");
        let ws_locs: Vec<_> = v["locations"]
            .as_array()
            .expect("locations")
            .iter()
            .filter(|l| l["websocket"] == true)
            .collect();
        assert_eq!(ws_locs.len(), 1, "{out}");
        assert_eq!(ws_locs[0]["location"], "/ws/");
        assert!(ws_locs[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("snippets/ws-location.conf")));
    }
}

/// The incident: text output names file:line, the id, and the lines to add; the access log's
/// evidence is cited with the path as the sidecar labels it and never the token.
#[test]
fn text_report_cites_evidence_without_tokens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let conf = write(
        d,
        "nginx.conf",
        "events {}\nhttp {\n  log_format ws_timing '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" rt=$request_time uct=\"$upstream_connect_time\" uht=\"$upstream_header_time\" urt=\"$upstream_response_time\" upgrade=\"$http_upgrade\"';\n  server {\n    listen 443;\n    server_name api.example.com;\n    access_log logs/a.log ws_timing;\n    location /ws/ {\n      proxy_pass http://127.0.0.1:8000;\n    }\n  }\n}\n",
    );
    let lines: Vec<String> = (0..40)
        .map(|i| ws_line(&format!("/ws/chat?token=SECRET{i}"), 403, "0.002"))
        .collect();
    let a1 = d.join("a.log.1");
    let a2 = d.join("a.log");
    append(&a1, &lines[..25]);
    append(&a2, &lines[25..]);
    let o = doctor(&[
        "--config",
        &conf,
        "--nginx-version",
        "1.22.1",
        "--access-log",
        &a1.display().to_string(),
        &a2.display().to_string(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 1, "{out}{err}");
    assert!(
        out.contains(&format!("{conf}:8: error[ws_upgrade_header_missing]: ")),
        "{out}"
    );
    assert!(
        out.contains("proxy_set_header Upgrade $http_upgrade;"),
        "{out}"
    );
    assert!(
        out.contains("map $http_upgrade $connection_upgrade {"),
        "{out}"
    );
    assert!(
        out.contains("40 upgrade attempts on /ws/chat, 0 switched; the app answered all 40 (40x 403): it never saw the upgrade"),
        "{out}"
    );
    assert!(
        out.contains("log_format ws_timing (from the config)"),
        "{out}"
    );
    assert!(
        !out.contains("SECRET") && !err.contains("SECRET"),
        "{out}{err}"
    );
    assert!(!out.contains("token="), "{out}");
}

/// From nginx 1.29.7 proxy_http_version defaults to 1.1: no version finding without the
/// directive; an unknown version is said to be assumed older.
#[test]
fn http_version_default_follows_nginx_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = write(
        tmp.path(),
        "nginx.conf",
        "http {\n map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n server {\n  location /ws/ {\n   proxy_pass http://b;\n   proxy_set_header Upgrade $http_upgrade;\n   proxy_set_header Connection $connection_upgrade;\n   proxy_read_timeout 1h;\n  }\n }\n}\n",
    );
    let new = doctor(&[
        "--config",
        &conf,
        "--nginx-version",
        "1.29.7",
        "--format",
        "json",
    ]);
    assert_eq!(code(&new), 0, "{:?}", text(&new));
    let old = doctor(&[
        "--config",
        &conf,
        "--nginx-version",
        "1.29.6",
        "--format",
        "json",
    ]);
    assert_eq!(code(&old), 1);
    let v: serde_json::Value = serde_json::from_slice(&old.stdout).expect("json");
    assert_eq!(v["findings"][0]["id"], "ws_http_version_too_low");
    assert_eq!(v["findings"][0]["line"], 4);
    let bad = doctor(&["--config", &conf, "--nginx-version", "one.two"]);
    assert_eq!(code(&bad), 2);
    assert!(text(&bad).1.contains("expected X.Y.Z"), "{:?}", text(&bad));
}

/// Every way a config can be unusable: exit 2, `file:line: what nginx would say`, no panic.
#[test]
fn bad_configs_exit_2_with_file_and_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let cases: Vec<(String, &str)> = vec![
        (
            write(d, "eof.conf", "http {\n  server {\n    listen 80;\n"),
            ":4: unexpected end of file, expecting \"}\"",
        ),
        (
            write(d, "brace.conf", "http {\n}\n}\n"),
            ":3: unexpected \"}\"",
        ),
        (
            write(d, "semi.conf", "http {\n server {\n  location / {\n   proxy_pass http://b\n  }\n }\n}\n"),
            ":5: unexpected \"}\"",
        ),
        (
            write(d, "args.conf", "http {\n server {\n  location / {\n   proxy_pass http://b\n   proxy_set_header A b;\n  }\n }\n}\n"),
            ":5: invalid number of arguments in \"proxy_pass\" directive",
        ),
        (
            write(d, "apache.conf", "<VirtualHost *:80>\n  ServerName example.com\n  DocumentRoot /var/www\n</VirtualHost>\n"),
            "Apache",
        ),
        (
            write(d, "missing.conf", "http {\n  include /nonexistent/x.conf;\n}\n"),
            ":2: open() \"/nonexistent/x.conf\" failed (2: No such file or directory)",
        ),
        (
            write(d, "loop.conf", "include loop2.conf;\n"),
            "include loop",
        ),
        (d.display().to_string(), "is a directory"),
        (d.join("absent.conf").display().to_string(), "absent.conf"),
    ];
    write(d, "loop2.conf", "include loop.conf;\n");
    let bin = d.join("binary.conf");
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&bin, junk).expect("write");
    for (path, want) in cases
        .iter()
        .map(|(p, w)| (p.clone(), *w))
        .chain([(bin.display().to_string(), "binary data")])
    {
        for format in ["text", "json"] {
            let o = doctor(&[
                "--config",
                &path,
                "--format",
                format,
                "--nginx-version",
                "1.22.1",
            ]);
            let (out, err) = text(&o);
            assert_eq!(code(&o), 2, "{path} ({format}): {out}{err}");
            assert!(err.contains(want), "{path}: want {want:?} in: {err}");
            assert!(!err.contains("panicked"), "{err}");
            if format == "json" && !path.ends_with("absent.conf") {
                let v: serde_json::Value = serde_json::from_str(&out).expect("json on stdout");
                assert_eq!(v["findings"][0]["id"], "config_syntax", "{out}");
            }
        }
    }
}

/// A 10 MB configuration with includes and ~60,000 WebSocket locations: parsed and checked
/// (in linear time: the debug binary takes a few seconds), the one broken location found.
#[test]
fn large_config_parses() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    // Every server has a WebSocket location (each is checked), all correct but the included one.
    let mut body = String::from(
        "http {\n  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n",
    );
    let mut n = 0;
    while body.len() < 10 << 20 {
        body.push_str(&format!(
                        "  server {{\n    listen 80;\n    server_name s{n}.example.com;\n    location /ws/{n}/ {{ proxy_pass http://127.0.0.1:8000; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_read_timeout 1h; }}\n  }}\n"
        ));
        n += 1;
    }
    body.push_str("  include extra/*.conf;\n}\n");
    write(
        d,
        "extra/ws.conf",
        "server {\n  server_name ws.example.com;\n  location /ws/ { proxy_pass http://b; }\n}\n",
    );
    let conf = write(d, "nginx.conf", &body);
    let o = doctor(&[
        "--config",
        &conf,
        "--format",
        "json",
        "--nginx-version",
        "1.22.1",
    ]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let f = &v["findings"][0];
    assert!(
        f["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("extra/ws.conf")),
        "{f}"
    );
    assert_eq!(f["server"], "ws.example.com");
    assert_eq!(v["locations"].as_array().map(Vec::len), Some(n + 1));
}

/// Without --nginx-version the version comes from `nginx -v` of the nginx on PATH; with no
/// nginx on PATH it is unknown, the older default is assumed and the report says so.
#[test]
fn nginx_version_from_path_or_assumed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = write(
        tmp.path(),
        "nginx.conf",
        "http { server { location /ws/ { proxy_pass http://b; } } }\n",
    );
    let nginx_dir = nginx_bin()
        .parent()
        .expect("nginx's directory")
        .display()
        .to_string();
    let run = |path: &str| -> serde_json::Value {
        let o = Command::new(sidecar_bin())
            .args(["doctor", "--format", "json", "--config", &conf])
            .env("PATH", path)
            .output()
            .expect("run doctor");
        assert_eq!(code(&o), 1, "{:?}", text(&o));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let real = nginx_version();
    let v = run(&nginx_dir);
    assert_eq!(v["nginx_version"], real.as_str(), "{v}");
    assert_eq!(v["nginx_version_source"], "nginx -v on this machine");
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("mkdir");
    let v = run(&empty.display().to_string());
    assert_eq!(v["nginx_version"], serde_json::Value::Null);
    assert!(
        v["nginx_version_source"]
            .as_str()
            .is_some_and(|s| s.contains("assuming a version before 1.29.7")),
        "{v}"
    );
    assert!(v["findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["id"] == "ws_http_version_too_low")));
}
