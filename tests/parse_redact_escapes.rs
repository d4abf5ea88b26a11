//! Queries and `;params` written as nginx escapes (`\x3F`, `\u003f`, `\x25` then `3F`) or
//! percent-encoded more than once (`%25%33%46`, `%253%46`, `%%33F`) never reach `parse` output
//! (access and error logs) or a `run --once` label: values are decoded first, then cut.

mod support;

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use support::sidecar_bin;

fn run(args: &[&str], input: &str) -> (String, String) {
    let mut child = Command::new(sidecar_bin())
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sidecar");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?}: {e}");
    (o, e)
}

fn combined(request: &str, referer: &str) -> String {
    format!("10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"{request}\" 200 5 \"{referer}\" \"ua\"\n")
}

fn records(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn escaped_and_re_encoded_queries_never_reach_parse_output() {
    let input = [
        combined(
            r"GET /ws/chat\x3Ftoken=SECRET1 HTTP/1.1",
            r"https://x/p\x3Ftoken=SECRET2",
        ),
        combined(r"GET /ws/chat\x253Ftoken=SECRET5 HTTP/1.1", "-"),
        combined(
            "GET /ws/x%25%33%46t=SECRET6 HTTP/1.1",
            "https://x/a%253%46t=SECRET7",
        ),
        combined("GET /ws/x%%33Ft=SECRET8 HTTP/1.1", "-"),
        combined(
            "GET /shop;jsessionid=SECRET9/cart HTTP/1.1",
            r"https://x/a\x3Bs=SECRET10/b",
        ),
        combined("GET /api/v1%253Bv=SECRET11/users/42 HTTP/1.1", "-"),
    ]
    .concat();
    let (out, err) = run(&["parse", "--format", "combined"], &input);
    assert!(
        !out.contains("SECRET") && !err.contains("SECRET"),
        "{out}\n{err}"
    );
    let r = records(&out);
    assert_eq!(r.len(), 6, "{out}\n{err}");
    assert_eq!(r[0]["path"], "/ws/chat");
    assert_eq!(r[0]["referer"], "https://x/p");
    assert_eq!(r[0]["fields"]["request"], "GET /ws/chat HTTP/1.1");
    assert_eq!(r[0]["fields"]["http_referer"], "https://x/p");
    assert_eq!(r[1]["path"], "/ws/chat");
    assert_eq!(r[2]["path"], "/ws/x");
    assert_eq!(r[2]["referer"], "https://x/a");
    assert_eq!(r[3]["fields"]["request"], "GET /ws/x HTTP/1.1");
    assert_eq!(r[4]["path"], "/shop/cart");
    assert_eq!(r[4]["path_label"], "/shop/cart");
    assert_eq!(r[4]["referer"], "https://x/a/b");
    assert_eq!(r[5]["path_label"], "/api/v1/users/:id");
}

#[test]
fn json_escaped_query_never_reaches_parse_output() {
    let line = concat!(
        r#"{"time_local":"28/Nov/2026:01:53:32 +0000","remote_addr":"10.0.0.1","#,
        r#""request":"GET /ws/chat\u003ftoken=SECRET1 HTTP/1.1","status":"101","#,
        r#""request_uri":"/ws/chat\u003Ftoken=SECRET2","#,
        r#""http_referer":"https://x/p\u0025253ft=SECRET3"}"#,
        "\n"
    );
    let (out, err) = run(&["parse", "--format", "json"], line);
    assert!(
        !out.contains("SECRET") && !err.contains("SECRET"),
        "{out}\n{err}"
    );
    let r = records(&out);
    assert_eq!(r.len(), 1, "{out}\n{err}");
    assert_eq!(r[0]["path"], "/ws/chat");
    assert_eq!(r[0]["fields"]["request"], "GET /ws/chat HTTP/1.1");
}

#[test]
fn re_encoded_queries_never_reach_error_log_parse_output() {
    let msgs = [
        ("%25%33%46", "SECRET1"),
        ("%253%46", "SECRET2"),
        ("%%33F", "SECRET3"),
        (";jsessionid=", "SECRET4"),
    ];
    let input: String = msgs
        .iter()
        .enumerate()
        .map(|(i, (form, secret))| {
            format!(
                "2026/11/28 01:53:32 [error] 12#12: *{i} open() \"/srv/html/ws/x{form}t={secret}/y\" failed (2: No such file or directory), client: 10.0.0.1, server: _, request: \"GET /ws/x{form}t={secret}/y HTTP/1.1\", host: \"h\"\n"
            )
        })
        .collect();
    let (out, err) = run(&["parse", "--error-log"], &input);
    assert!(
        !out.contains("SECRET") && !err.contains("SECRET"),
        "{out}\n{err}"
    );
    let r = records(&out);
    assert_eq!(r.len(), 4, "{out}\n{err}");
    assert_eq!(r[0]["request"], "GET /ws/x HTTP/1.1");
    // A parameter ends at its segment; the rest of the path stays.
    assert_eq!(r[3]["request"], "GET /ws/x/y HTTP/1.1");
    let m = r[3]["message"].as_str().unwrap_or_default();
    assert!(m.contains("\"/srv/html/ws/x/y\""), "{m}");
}

#[test]
fn re_encoded_queries_never_reach_run_once_labels() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    let input = [
        combined("GET /ws/x%25%33%46t=SECRET1 HTTP/1.1", "-"),
        combined("GET /ws/x%253%46t=SECRET2 HTTP/1.1", "-"),
        combined("GET /ws/x%%33Ft=SECRET3 HTTP/1.1", "-"),
        combined(r"GET /ws/x\x25%33Ft=SECRET4 HTTP/1.1", "-"),
        combined("GET /api/v1;v=SECRET5/users/42 HTTP/1.1", "-"),
        combined("GET /shop;jsessionid=SECRET6/cart HTTP/1.1", "-"),
    ]
    .concat();
    std::fs::write(&log, input).expect("write");
    let out = Command::new(sidecar_bin())
        .args(["run", "--once", "--format", "combined", "--access-log"])
        .arg(&log)
        .args(["--route", "/api/v1/users/:id"])
        .output()
        .expect("run --once");
    let m = String::from_utf8_lossy(&out.stdout);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(!m.contains("SECRET") && !e.contains("SECRET"), "{m}\n{e}");
    assert!(m.contains(r#"path="/ws/x""#), "{m}");
    assert!(m.contains(r#"path="/api/v1/users/:id""#), "{m}");
    assert!(m.contains(r#"path="/shop/cart""#), "{m}");
}
