//! Flag values that used to be accepted and then broke things silently: each one now stops the
//! sidecar at startup with exit 2 and a message naming the flag and what it accepts.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::sidecar_bin;

/// Runs the sidecar; it must exit by itself (a value that slips through would start serving).
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    run_in(tmp.path(), args, env)
}

/// [`run`] in the working directory `dir`.
fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let log = dir.join("access.log");
    std::fs::write(&log, "").expect("log");
    let mut child = Command::new(sidecar_bin())
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("NGINXLOG_ACCESS_LOG", &log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} {env:?} was accepted: the sidecar kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read;
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    (status.code(), err)
}

fn refused(args: &[&str], env: &[(&str, &str)], flag: &str, hint: &str) {
    let (code, err) = run(args, env);
    assert_eq!(code, Some(2), "{args:?} {env:?}: exit {code:?}\n{err}");
    assert!(
        err.contains(flag),
        "{args:?}: the message does not name {flag}:\n{err}"
    );
    assert!(
        err.contains(hint),
        "{args:?}: the message does not say {hint:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes off a terminal:\n{err:?}"
    );
}

#[test]
fn namespace_must_be_a_metric_name_prefix() {
    refused(
        &["--namespace", "my-ns"],
        &[],
        "--namespace",
        "letters, digits and `_`",
    );
    refused(
        &["run", "--namespace", "9lives"],
        &[],
        "--namespace",
        "not starting with a digit",
    );
    refused(
        &[],
        &[("NGINXLOG_NAMESPACE", "a.b")],
        "--namespace",
        "metric-name prefix",
    );
    refused(
        &[
            "backfill",
            "--access-log",
            "x.log",
            "-o",
            "-",
            "--namespace",
            "my-ns",
        ],
        &[],
        "--namespace",
        "metric-name prefix",
    );
}

#[test]
fn log_level_and_style_are_checked() {
    for bad in ["verbose", "warning", "info,nginxlog_sidecar=loud"] {
        refused(
            &["--log-level", bad],
            &[],
            "--log-level",
            "error, warn, info, debug, trace or off",
        );
    }
    refused(
        &[],
        &[("NGINXLOG_LOG_LEVEL", "verbose")],
        "--log-level",
        "is not a log level",
    );
    refused(&["--log-style", "color"], &[], "--log-style", "text");
}

#[test]
fn listen_forms_and_lookup_errors() {
    refused(&["--listen", "0.0.0.0"], &[], "--listen", "has no port");
    refused(
        &["--web.listen-address", "localhost:http"],
        &[],
        "--listen",
        "not a number",
    );
    refused(&["--listen", "::1:9680"], &[], "--listen", "[::1]:PORT");
    // A host that does not resolve is a lookup error, not "port in use".
    let (code, err) = run(&["--listen", "no-such-host.invalid:19690"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--listen") && err.contains("cannot resolve host"),
        "{err}"
    );
    assert!(!err.contains("another process"), "{err}");
    // A port in use says so.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let (code, err) = run(&["--listen", &addr], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("another process is using the port"), "{err}");
}

#[test]
fn bucket_lists_must_increase() {
    refused(
        &["--http-buckets", "1,0.5"],
        &[],
        "--http-buckets",
        "strictly increasing",
    );
    refused(
        &["--handshake-buckets", "0,1"],
        &[],
        "--handshake-buckets",
        "positive",
    );
    refused(
        &["--session-buckets", "1,,2"],
        &[],
        "--session-buckets",
        "invalid",
    );
    refused(
        &[],
        &[("NGINXLOG_HTTP_BUCKETS", "nan")],
        "--http-buckets",
        "positive",
    );
}

#[test]
fn route_patterns_that_cannot_match() {
    refused(&["--route", "/api/{id}"], &[], "--route", "/api/users/:id");
    refused(
        &["--route", "/api/[0-9]+"],
        &[],
        "--route",
        "not regular expressions",
    );
    refused(&["--route", "/api/v1?x=1"], &[], "--route", "query strings");
    refused(&["--route", "/a/*/b"], &[], "--route", "last segment");
}

#[test]
fn threads_are_bounded() {
    for mode in ["backfill", "compare"] {
        for bad in ["0", "257", "18446744073709551615", "x"] {
            refused(
                &[mode, "--threads", bad, "--access-log", "a.log"],
                &[],
                "--threads",
                "from 1 to 256",
            );
        }
    }
    refused(
        &["backfill", "--access-log", "a.log"],
        &[("NGINXLOG_THREADS", "0")],
        "--threads",
        "from 1 to 256",
    );
}

#[test]
fn max_paths_zero_and_telemetry_path() {
    refused(&["--max-paths", "0"], &[], "--max-paths", "at least 1");
    refused(
        &["parse", "--max-paths", "0", "-"],
        &[],
        "--max-paths",
        "at least 1",
    );
    refused(
        &["--web.telemetry-path", "metrics"],
        &[],
        "--web.telemetry-path",
        "starting with /",
    );
    // Router capture syntax: these used to panic at startup instead of exiting 2.
    for bad in ["/:x", "/*x", "/{x}", "/metrics}"] {
        refused(
            &["--web.telemetry-path", bad],
            &[],
            "--web.telemetry-path",
            "letters, digits and . _ ~ - /",
        );
    }
    refused(
        &["--web.telemetry-path", "/healthz"],
        &[],
        "--web.telemetry-path",
        "another endpoint",
    );
}

#[test]
fn max_line_bytes_is_bounded() {
    let range = "from 16 to 67108864";
    for (mode, v) in [
        (&["run"][..], "18446744073709551615"),
        (&["run"][..], "18446744073709551614"),
        (&["run"][..], "67108865"),
        (&["run"][..], "15"),
        (&["run"][..], "0"),
        (&["run"][..], "-1"),
        (&["backfill", "--output", "-"][..], "18446744073709551615"),
        (
            &["compare", "--split", "1795918618"][..],
            "18446744073709551614",
        ),
        (&["parse", "-"][..], "99999999999999999999"),
    ] {
        let flag = format!("--max-line-bytes={v}");
        let args = [mode, &[flag.as_str()]].concat();
        refused(&args, &[], "--max-line-bytes", range);
    }
    refused(
        &["run"],
        &[("NGINXLOG_MAX_LINE_BYTES", "18446744073709551615")],
        "--max-line-bytes",
        range,
    );
    // Both ends are accepted: `run --once` reads the (empty) log and exits 0.
    for v in ["16", "67108864"] {
        let (code, err) = run(&["run", "--once", "--max-line-bytes", v], &[]);
        assert_eq!(code, Some(0), "--max-line-bytes {v}: {err}");
    }
}

#[test]
fn max_connections_must_be_at_least_one() {
    refused(
        &["--web.max-connections", "0"],
        &[],
        "--web.max-connections",
        "at least 1",
    );
    refused(
        &[],
        &[("NGINXLOG_WEB_MAX_CONNECTIONS", "many")],
        "--web.max-connections",
        "at least 1",
    );
}

#[test]
fn bad_web_config_files_name_the_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    file("c.pem", &cert.cert.pem());
    file("k.pem", &cert.signing_key.serialize_pem());
    let tls = "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n";
    let auth = format!("{tls}  client_auth_type: Always\n");
    let version = format!("{tls}  min_version: SSL3\n");
    let no_ca = format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n");
    let ca_no_policy = format!("{tls}  client_ca_file: c.pem\n");
    let cases: [(&str, &str, &str); 9] = [
        (
            "typo.yml",
            "tls_server_config:\n  certfile: a.pem\n",
            "unknown field `certfile`",
        ),
        (
            "nokey.yml",
            "tls_server_config:\n  cert_file: a.pem\n",
            "tls_server_config.key_file is missing",
        ),
        (
            "missing.yml",
            "tls_server_config:\n  cert_file: none.pem\n  key_file: none.key\n",
            "tls_server_config.cert_file",
        ),
        (
            "plain.yml",
            "basic_auth_users:\n  alice: hunter2\n",
            "basic_auth_users.alice: not a bcrypt hash",
        ),
        (
            "auth.yml",
            &auth,
            "tls_server_config.client_auth_type \"Always\": use one of NoClientCert",
        ),
        ("noca.yml", &no_ca, "needs tls_server_config.client_ca_file"),
        (
            "ca_no_policy.yml",
            &ca_no_policy,
            "client_ca_file is set but client_auth_type is missing",
        ),
        (
            "header.yml",
            "http_server_config:\n  headers:\n    Server: x\n",
            "http_server_config.headers.Server",
        ),
        (
            "version.yml",
            &version,
            "tls_server_config.min_version \"SSL3\": use TLS10, TLS11, TLS12 or TLS13",
        ),
    ];
    for (name, text, want) in cases {
        let path = file(name, text);
        refused(
            &["--web.config.file", &path],
            &[],
            "--web.config.file",
            want,
        );
    }
    refused(
        &[
            "--web.config.file",
            &tmp.path().join("absent.yml").display().to_string(),
        ],
        &[],
        "--web.config.file",
        "cannot read",
    );
}

/// The same log under two spellings, through a symlink, or as access and error log: refused,
/// naming both spellings (it would be read twice into two `log` series).
#[test]
fn the_same_log_given_twice_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::os::unix::fs::symlink(dir.join("access.log"), dir.join("link.log")).expect("symlink");
    std::fs::create_dir(dir.join("sub")).expect("sub");
    std::fs::write(dir.join("real.log"), "").expect("real");
    std::fs::hard_link(dir.join("real.log"), dir.join("hard.log")).expect("hard link");
    for (args, first, second) in [
        // A hard link: another path, the same inode.
        (
            vec!["--access-log", "real.log", "--access-log", "hard.log"],
            "real.log",
            "hard.log",
        ),
        (
            vec!["--access-log", "./access.log", "--access-log", "access.log"],
            "./access.log",
            "--access-log access.log",
        ),
        (
            vec!["--access-log", "access.log", "--access-log", "link.log"],
            "access.log",
            "link.log",
        ),
        (
            vec![
                "--access-log",
                "access.log",
                "--access-log",
                "sub/../access.log",
            ],
            "access.log",
            "sub/../access.log",
        ),
        (
            vec!["--access-log", "access.log", "--error-log", "./access.log"],
            "--access-log access.log",
            "--error-log ./access.log",
        ),
        // Not created yet: the same file by its directory.
        (
            vec![
                "--access-log",
                "later.log",
                "--access-log",
                "./sub/../later.log",
            ],
            "later.log",
            "./sub/../later.log",
        ),
        (vec!["--access-log", "-", "--access-log", "-"], "-", "-"),
    ] {
        let (code, err) = run_in(dir, &args, &[]);
        assert_eq!(code, Some(2), "{args:?}: exit {code:?}\n{err}");
        assert!(
            err.contains(first) && err.contains(second) && err.contains("same log"),
            "{args:?}: the message does not name both spellings:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Two different files are fine: the sidecar starts (and is stopped here).
    std::fs::write(dir.join("other.log"), "").expect("other");
    let port = support::free_port().to_string();
    let mut child = Command::new(sidecar_bin())
        .current_dir(dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--access-log",
            "access.log",
            "--access-log",
            "other.log",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    std::thread::sleep(Duration::from_millis(700));
    let still_running = child.try_wait().expect("wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "two distinct logs were refused");
}
