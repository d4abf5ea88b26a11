//! Conformance against third-party nginx logs and the parse results other projects expect for
//! them (`../shared/corpus`, see its README): Vector's VRL, Turbot's tailpipe, Elastic's Filebeat,
//! CrowdSec, prometheus-nginxlog-exporter, NGINX Agent (v2 and v3), Datadog, fail2ban and lnav.
//!
//! Every file that states expected output is parsed with the preset or `log_format` it was
//! written with, and each field both sides have is compared: status, method, path, protocol,
//! bytes, times, client address, upstream timings, error level, message and context fields. For
//! error lines the signature must be the one the signature catalogue (`src/classify/signature.rs`, docs/architecture.md) names for the message (or the TSV id for
//! messages outside the contract table, `other` for messages nginx's HTTP module does not write).
//! Where we deliberately differ from the other tool, the comment at that place says why and the
//! test asserts our behaviour instead.
//!
//! Each test collects every mismatch before failing, so one run lists all of them with the input
//! line, what was expected and what we produced.
//!
//! The corpus is not part of this repository; when `../shared/corpus` is absent every test
//! prints `skipped: ../shared/corpus not found` and passes.

use nginxlog_sidecar::app::parse_cmd::{self, Summary};
use nginxlog_sidecar::classify::{Classifier, ClassifyConfig};
use nginxlog_sidecar::parse::error_log;
use nginxlog_sidecar::parse::format::{Fields, LineFormat};
use nginxlog_sidecar::parse::values;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Formats the corpus files were written with (beyond the presets).

/// The Common Log Format (no referer / user agent).
const COMMON: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;
/// `combined` with a leading `$host` (virtual-host logs).
const HOST_COMBINED: &str = r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// `main` with a leading `$host`.
const HOST_MAIN: &str = r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
/// ingress-nginx `upstreaminfo` (current: with the alternative upstream name).
const INGRESS: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#;
/// ingress-nginx `upstreaminfo`, older layout without the alternative upstream name.
const INGRESS_OLD: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#;
/// ingress-nginx `upstreaminfo`, oldest layout with `[$the_real_ip]`.
const INGRESS_REAL_IP: &str = r#"$remote_addr - [$the_real_ip] - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#;
/// The same without `$req_id`.
const INGRESS_REAL_IP_NO_REQ_ID: &str = r#"$remote_addr - [$the_real_ip] - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status"#;
/// The same with the alternative upstream name.
const INGRESS_REAL_IP_ALT: &str = r#"$remote_addr - [$the_real_ip] - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#;
/// Datadog's custom sample: `$request_time` right after the bytes.
const DD_REQUEST_TIME: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent""#;
/// Nginx Proxy Manager `proxy` format.
const NPM_PROXY: &str = r#"[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer""#;
/// Nginx Proxy Manager `standard` format.
const NPM_STANDARD: &str = r#"[$time_local] $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] "$http_user_agent" "$http_referer""#;
/// Hybrids that only CrowdSec's test file has (its grok makes both parts optional): the proxy
/// format without `[Sent-to ...]`, and the standard one with it.
const NPM_PROXY_NO_SENT_TO: &str = r#"[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] "$http_user_agent" "$http_referer""#;
const NPM_STANDARD_SENT_TO: &str = r#"[$time_local] $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer""#;
/// The vhost format of CrowdSec's `nginx_http-catch-npm` test (unquoted referer and agent).
const CATCH_NPM: &str = r#"[$time_local] $host $remote_addr $request_time "$request" $status $body_bytes_sent $bytes_sent $http_referer $http_user_agent"#;

// ---------------------------------------------------------------------------------------------
// Harness.

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus"));
    if p.is_dir() {
        Some(p)
    } else {
        println!("skipped: ../shared/corpus not found");
        None
    }
}

macro_rules! corpus_or_skip {
    () => {
        match corpus() {
            Some(dir) => dir,
            None => return,
        }
    };
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_str(dir: &Path, rel: &str) -> String {
    String::from_utf8(read(dir, rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_json(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&read(dir, rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_yaml(dir: &Path, rel: &str) -> serde_yaml::Value {
    serde_yaml::from_slice(&read(dir, rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Physical lines as nginx framing sees them (a missing final newline still ends a line).
fn lines_of(data: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Collects mismatches; `done` fails with all of them at once.
struct Check {
    name: &'static str,
    fails: Vec<String>,
    asserts: usize,
}

impl Check {
    fn new(name: &'static str) -> Check {
        Check {
            name,
            fails: Vec::new(),
            asserts: 0,
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, ctx: &str, what: &str, got: T, want: T) {
        self.asserts += 1;
        if got != want {
            self.fails
                .push(format!("{ctx}\n    {what}: expected {want:?}, got {got:?}"));
        }
    }

    fn ok(&mut self, ctx: &str, cond: bool, msg: impl FnOnce() -> String) {
        self.asserts += 1;
        if !cond {
            self.fails.push(format!("{ctx}\n    {}", msg()));
        }
    }

    fn near(&mut self, ctx: &str, what: &str, got: Option<f64>, want: f64) {
        self.asserts += 1;
        match got {
            Some(g) if (g - want).abs() <= 1e-6 * want.abs().max(1.0) => {}
            _ => self
                .fails
                .push(format!("{ctx}\n    {what}: expected {want}, got {got:?}")),
        }
    }

    fn done(self) {
        println!("{}: {} assertions", self.name, self.asserts);
        assert!(
            self.fails.is_empty(),
            "{}: {} of {} assertions failed:\n\n{}",
            self.name,
            self.fails.len(),
            self.asserts,
            self.fails.join("\n\n")
        );
    }
}

/// One parsed access line: the JSON object `parse` prints, and every variable as logged.
struct Rec {
    j: Value,
    raw: BTreeMap<String, String>,
}

impl Rec {
    fn s(&self, key: &str) -> Option<&str> {
        self.j.get(key).and_then(Value::as_str)
    }

    fn n(&self, key: &str) -> Option<f64> {
        self.j.get(key).and_then(Value::as_f64)
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.raw.get(name).map(String::as_str)
    }

    fn status(&self) -> Option<u64> {
        self.j.get("status").and_then(Value::as_u64)
    }
}

/// A classifier for one format, fed one line at a time.
struct Parser {
    c: Classifier,
}

impl Parser {
    fn new(spec: &str) -> Parser {
        let f = LineFormat::compile(spec).unwrap_or_else(|e| panic!("format {spec:?}: {e}"));
        Parser {
            c: Classifier::new(f, &ClassifyConfig::default()).expect("classifier"),
        }
    }

    fn access(&mut self, line: &[u8]) -> Result<Rec, String> {
        let ev = self
            .c
            .access(line)
            .map_err(|e| format!("{} (at byte {})", e.reason, e.offset))?;
        let rec = self.c.record(line);
        let j = parse_cmd::access_json(1, &rec, &ev, &self.c);
        let raw = self
            .c
            .format()
            .slots()
            .iter()
            .zip(&rec.fields().spans)
            .filter_map(|(slot, span)| {
                span.map(|s| {
                    (
                        slot.name.clone(),
                        String::from_utf8_lossy(s.of(line)).into_owned(),
                    )
                })
            })
            .collect();
        Ok(Rec { j, raw })
    }

    fn error(&mut self, line: &[u8]) -> Result<Value, String> {
        if let Err(e) = error_log::parse(line) {
            return Err(format!("{} (at byte {})", e.reason, e.offset));
        }
        parse_cmd::error_json(1, line, &mut self.c).ok_or_else(|| "no record".to_string())
    }
}

fn access_line(spec: &str, line: &str) -> Result<Rec, String> {
    Parser::new(spec).access(line.as_bytes())
}

fn error_line(line: &str) -> Result<Value, String> {
    Parser::new("combined").error(line.as_bytes())
}

/// A whole file through `parse_cmd::run` (the `parse` subcommand's loop, framing included).
struct FileRun {
    recs: Vec<Value>,
    malformed_lines: Vec<u64>,
    sum: Summary,
}

fn run_file(spec: &str, error_log: bool, data: &[u8]) -> FileRun {
    let f = LineFormat::compile(spec).unwrap_or_else(|e| panic!("format {spec:?}: {e}"));
    let mut c = Classifier::new(f, &ClassifyConfig::default()).expect("classifier");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let sum = parse_cmd::run(
        &mut c,
        error_log,
        64 * 1024,
        &mut &data[..],
        &mut out,
        &mut err,
    )
    .expect("in-memory io");
    let recs = String::from_utf8(out)
        .expect("parse output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("parse output is JSON"))
        .collect();
    let malformed_lines = String::from_utf8_lossy(&err)
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.split(':').next()?.parse().ok())
        .collect();
    FileRun {
        recs,
        malformed_lines,
        sum,
    }
}

fn js(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// nginx writes an empty variable as `-`; we report it as absent (null).
fn dash_is_none(v: &str) -> Option<&str> {
    (!v.is_empty() && v != "-").then_some(v)
}

fn strip_query(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or(target)
}

/// Sum of an upstream timing list the way docs/architecture.md ("Values") defines it (via the library's parser).
fn upstream_sum(raw: Option<&str>) -> Option<f64> {
    raw.and_then(|r| values::parse_upstream_times(r.as_bytes()).sum)
}

// Independent date arithmetic, so expectations do not come from the code under test.

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn num(s: &str) -> i64 {
    s.parse()
        .unwrap_or_else(|_| panic!("number expected: {s:?}"))
}

/// Unix seconds -> `2021-03-31T12:04:07Z` (the form `parse` prints for whole seconds).
fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `10/Oct/2024:13:55:36 -0700` -> Unix seconds.
fn epoch_time_local(v: &str) -> i64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == &v[3..6]).expect("month") as i64 + 1;
    let local = days_from_civil(num(&v[7..11]), m, num(&v[0..2])) * 86_400
        + num(&v[12..14]) * 3600
        + num(&v[15..17]) * 60
        + num(&v[18..20]);
    let sign = if &v[21..22] == "-" { -1 } else { 1 };
    local - sign * (num(&v[22..24]) * 3600 + num(&v[24..26]) * 60)
}

/// `2021/12/02 11:53:15` or `2021-12-02T11:53:15` (local time, read as UTC like the error parser).
fn epoch_wall(v: &str) -> i64 {
    days_from_civil(num(&v[0..4]), num(&v[5..7]), num(&v[8..10])) * 86_400
        + num(&v[11..13]) * 3600
        + num(&v[14..16]) * 60
        + num(&v[17..19])
}

/// `2024-10-10T13:55:36+00:00` -> Unix seconds.
fn epoch_iso8601(v: &str) -> i64 {
    let off = &v[19..];
    let o = if off == "Z" {
        0
    } else {
        let sign = if off.starts_with('-') { -1 } else { 1 };
        sign * (num(&off[1..3]) * 3600 + num(&off[4..6]) * 60)
    };
    epoch_wall(v) - o
}

/// The signature the catalogue (contract part, docs/architecture.md) or the corpus TSV (finer ids) names for a message;
/// `other` for messages nginx's HTTP module does not write (mail proxy, PAM module, made-up).
fn expected_signature(msg: &str) -> &'static str {
    let has = |s: &str| msg.contains(s);
    if has("while proxying upgraded connection") {
        if has("upstream timed out") {
            return "ws_upstream_idle_timeout";
        }
        if has("client timed out") {
            return "ws_client_idle_timeout";
        }
    }
    if (has("connect() failed") || has("connect() to ")) && has("(111: Connection refused)") {
        return "upstream_connect_refused";
    }
    if msg.starts_with("connect() failed") || msg.starts_with("connect() to ") {
        return "upstream_connect_failed";
    }
    if has("upstream timed out") {
        return "upstream_timed_out";
    }
    if has("upstream prematurely closed connection") {
        return "upstream_prematurely_closed";
    }
    if has("recv() failed (104: Connection reset by peer)")
        && (has("from upstream") || has("reading upstream"))
    {
        return "upstream_reset";
    }
    if has("no live upstreams") {
        return "no_live_upstreams";
    }
    if has("upstream sent too big header") {
        return "upstream_too_big_header";
    }
    if has("an upstream response is buffered to a temporary file") {
        return "upstream_buffered_to_temp_file";
    }
    if has("could not be resolved") {
        return "upstream_resolve_failed";
    }
    if msg.starts_with("FastCGI sent in stderr") {
        return "fastcgi_stderr";
    }
    if has("access forbidden by rule") {
        return "access_forbidden_by_rule";
    }
    if msg.starts_with("limiting requests") {
        return "limit_req_rejected";
    }
    if msg.starts_with("delaying request") {
        return "limit_req_delayed";
    }
    if msg.starts_with("limiting connections") {
        return "limit_conn_rejected";
    }
    if has("client prematurely closed connection") {
        return "client_prematurely_closed";
    }
    for s in [
        "client sent invalid method",
        "client sent invalid request",
        "client sent invalid header line",
        "client sent too long URI",
        "client sent too long header line",
        "client sent too large request",
    ] {
        if has(s) {
            return "client_request_invalid";
        }
    }
    if has("client intended to send too large body") {
        return "client_body_too_large";
    }
    if msg.starts_with("SSL_do_handshake() failed")
        || msg.starts_with("peer closed connection in SSL handshake")
    {
        return "ssl_handshake_failed";
    }
    if msg.starts_with("SSL_read() failed") {
        return "ssl_read_failed";
    }
    if msg.starts_with("open() \"") && has("(2: No such file or directory)") {
        return "file_not_found";
    }
    if msg.starts_with("open() \"") && has("(13: Permission denied)") {
        return "permission_denied";
    }
    if has("worker_connections are not enough") {
        return "worker_connections_not_enough";
    }
    if msg.starts_with('"') && has("\" is not found (") {
        return "index_not_found";
    }
    if msg.starts_with("directory index of \"") && has("\" is forbidden") {
        return "directory_index_forbidden";
    }
    // `user "%V" was not found in "%s"`: %V may itself hold quotes (an injected user name).
    if msg.starts_with("user \"") && has(" was not found in \"") {
        return "auth_basic_user_not_found";
    }
    if msg.starts_with("user \"") && msg.ends_with("\": password mismatch") {
        return "auth_basic_password_mismatch";
    }
    if msg.starts_with("client ") && msg.ends_with(" closed keepalive connection") {
        return "client_closed_keepalive";
    }
    if msg == "signal process started" {
        return "signal_process_started";
    }
    "other"
}

fn check_signature(ck: &mut Check, ctx: &str, rec: &Value) {
    let msg = js(rec, "message").unwrap_or_default();
    ck.eq(
        ctx,
        "signature",
        js(rec, "signature").as_deref(),
        Some(expected_signature(&msg)),
    );
}

// ---------------------------------------------------------------------------------------------
// Vector VRL: parse_nginx_log test table (24 cases) and its generated docs (4 examples).

fn vrl_case(ck: &mut Check, ctx: &str, format: &str, input: &str, exp: &Value) {
    let obj = exp.as_object().expect("expected object");
    let want_s = |k: &str| obj.get(k).and_then(Value::as_str);
    let want_n = |k: &str| obj.get(k).and_then(Value::as_f64);
    if format == "error" {
        let r = match error_line(input) {
            Ok(r) => r,
            Err(e) => return ck.ok(ctx, false, || format!("error line rejected: {e}")),
        };
        ck.eq(ctx, "time", js(&r, "time").as_deref(), want_s("timestamp"));
        ck.eq(ctx, "level", js(&r, "level").as_deref(), want_s("severity"));
        ck.eq(
            ctx,
            "pid",
            js(&r, "pid"),
            want_n("pid").map(|n| n.to_string()),
        );
        ck.eq(
            ctx,
            "tid",
            js(&r, "tid"),
            want_n("tid").map(|n| n.to_string()),
        );
        ck.eq(
            ctx,
            "connection",
            js(&r, "connection"),
            want_n("cid").map(|n| n.to_string()),
        );
        let msg = js(&r, "message").unwrap_or_default();
        match (want_n("excess"), want_s("zone")) {
            // VRL splits limit_req messages into message/excess/zone ("limiting requests" +
            // 50.416 + zone); we keep nginx's whole message, from which the signature is taken.
            (Some(excess), Some(zone)) => {
                let whole = format!(
                    "{}, excess: {excess:.3}{} by zone \"{zone}\"",
                    want_s("message").unwrap_or(""),
                    if input.contains("delaying") { "," } else { "" }
                );
                ck.eq(ctx, "message", msg.as_str(), whole.as_str());
            }
            _ => ck.eq(ctx, "message", Some(msg.as_str()), want_s("message")),
        }
        // VRL reports `server: ,` and `host: ""` as empty strings; an empty value is absent
        // (null) in our output, like `-` everywhere else.
        for (ours, theirs) in [
            ("client", "client"),
            ("server", "server"),
            ("request", "request"),
            ("upstream", "upstream"),
            ("host", "host"),
            ("referrer", "referer"),
        ] {
            let want = want_s(theirs).and_then(dash_is_none);
            ck.eq(ctx, ours, js(&r, ours).as_deref(), want);
        }
        check_signature(ck, ctx, &r);
        return;
    }
    let spec = match format {
        "combined" => "combined",
        "main" => "main",
        "ingress_upstreaminfo" => INGRESS,
        other => panic!("unknown VRL format {other}"),
    };
    let r = match access_line(spec, input) {
        Ok(r) => r,
        Err(e) => return ck.ok(ctx, false, || format!("line rejected by {format}: {e}")),
    };
    for (k, v) in obj {
        let vs = v.as_str();
        match k.as_str() {
            "client" | "remote_addr" => ck.eq(ctx, "remote_addr", r.s("remote_addr"), vs),
            "user" | "remote_user" => ck.eq(ctx, "remote_user", r.s("remote_user"), vs),
            "timestamp" => ck.eq(ctx, "time", r.s("time"), vs),
            "status" => ck.eq(ctx, "status", r.status(), v.as_u64()),
            "size" | "body_bytes_size" => ck.eq(ctx, "bytes", r.n("bytes"), v.as_f64()),
            "request" => {
                let req = vs.unwrap_or_default();
                ck.eq(ctx, "raw $request", r.raw("request"), Some(req));
                let mut parts = req.splitn(3, ' ');
                let (m, t, p) = (parts.next(), parts.next(), parts.next());
                if let (Some(m), Some(t), Some(p)) = (m, t, p) {
                    ck.eq(ctx, "method", r.s("method"), Some(m));
                    ck.eq(ctx, "path", r.s("path"), Some(strip_query(t)));
                    ck.eq(ctx, "protocol", r.s("protocol"), Some(p));
                } else {
                    // `""` and binary junk: no path, labelled __invalid__.
                    ck.eq(ctx, "path", r.s("path"), None);
                    ck.eq(ctx, "path_label", r.s("path_label"), Some("__invalid__"));
                }
            }
            "referer" | "http_referer" => {
                ck.eq(ctx, "raw $http_referer", r.raw("http_referer"), vs)
            }
            "agent" | "http_user_agent" => {
                ck.eq(ctx, "raw $http_user_agent", r.raw("http_user_agent"), vs)
            }
            "http_x_forwarded_for" => ck.eq(ctx, "raw $http_x_forwarded_for", r.raw(k), vs),
            // VRL's combined reads a trailing `"2.75"` (gzip ratio) that the combined format does
            // not have. We match the format nginx was given and ignore text after its last
            // literal, so the line parses and no such field exists.
            "compression" => ck.eq(ctx, "no gzip field in combined", r.raw("gzip_ratio"), None),
            "request_time" => ck.near(
                ctx,
                "request_seconds",
                r.n("request_seconds"),
                v.as_f64().unwrap_or(-1.0),
            ),
            "request_length" | "upstream_response_length" | "upstream_status" => ck.eq(
                ctx,
                k,
                r.raw(k).map(|s| s.parse::<f64>().ok()),
                Some(v.as_f64()),
            ),
            "upstream_response_time" => {
                ck.near(ctx, k, upstream_sum(r.raw(k)), v.as_f64().unwrap_or(-1.0))
            }
            "upstream_addr"
            | "req_id"
            | "proxy_upstream_name"
            | "proxy_alternative_upstream_name" => ck.eq(ctx, k, r.raw(k), vs),
            other => ck.ok(ctx, false, || format!("unhandled VRL key {other}")),
        }
    }
    // VRL omits fields that are `-`; those must be null in our output too.
    if format == "ingress_upstreaminfo" && !obj.contains_key("upstream_response_time") {
        ck.eq(
            ctx,
            "upstream_response_time",
            r.s("upstream_response_time"),
            None,
        );
        ck.eq(ctx, "upstream_status", r.s("upstream_status"), None);
    }
}

#[test]
fn vrl_parse_nginx_log_cases() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("vrl");
    let t = read_json(&dir, "vrl/parse_nginx_log-test-cases.json");
    let cases = t["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 24);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let format = c["format"].as_str().expect("format");
        let input = c["input"].as_str().expect("input");
        let ctx = format!("vrl {name} [{format}]: {input}");
        if c.get("expected_error").is_some() {
            // An error-log line given to `main`: VRL fails, so must we.
            let spec = if format == "main" { "main" } else { "combined" };
            ck.ok(&ctx, access_line(spec, input).is_err(), || {
                "must not parse".into()
            });
            continue;
        }
        vrl_case(&mut ck, &ctx, format, input, &c["expected"]);
    }
    let docs = read_json(&dir, "vrl/parse_nginx_log.json");
    for ex in docs["examples"].as_array().expect("examples") {
        let src = ex["source"].as_str().expect("source");
        let input = src.split('\'').nth(1).expect("s'...' literal");
        let format = src.rsplit('"').nth(1).expect("format name");
        let ctx = format!("vrl docs [{format}]: {input}");
        vrl_case(&mut ck, &ctx, format, input, &ex["return"]);
    }
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// Turbot tailpipe: log_format string -> line -> variables (13 cases).

#[test]
fn tailpipe_log_format_cases() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("tailpipe");
    let t = read_json(
        &dir,
        "tailpipe-plugin-nginx/access_log_table_format_test-cases.json",
    );
    let cases = t["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 13);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let fmt = c["log_format"].as_str().expect("log_format");
        let line = c["line"].as_str().expect("line");
        let ctx = format!("tailpipe {name:?}: {fmt} <- {line}");
        let compiled = LineFormat::compile(fmt);
        if c["expect_format_error"].as_bool() == Some(true) {
            if fmt.contains("$remote_usr") {
                // Intentional difference: tailpipe rejects the typo'd `$remote_usr`; we keep
                // unknown variables by name (nginx accepts any variable name, e.g. `$http_*`,
                // `$arg_*`, map results), so the format compiles and the value lands under
                // that name; `remote_user` is then simply not logged.
                let r = access_line(fmt, line);
                ck.ok(&ctx, r.is_ok(), || {
                    format!("must parse: {:?}", r.as_ref().err())
                });
                if let Ok(r) = r {
                    ck.eq(&ctx, "raw $remote_usr", r.raw("remote_usr"), Some("turbie"));
                    ck.eq(&ctx, "remote_user", r.s("remote_user"), None);
                    ck.eq(&ctx, "status", r.status(), Some(200));
                    ck.eq(&ctx, "path", r.s("path"), Some("/index.html"));
                }
            } else {
                // `$remote_addr$status`: no text between two variables, so their values cannot be
                // told apart. Rejected at compile time, like tailpipe.
                ck.ok(&ctx, compiled.is_err(), || "format must be rejected".into());
            }
            continue;
        }
        ck.ok(&ctx, compiled.is_ok(), || {
            format!("format rejected: {:?}", compiled.as_ref().err())
        });
        if !fmt.contains("$status") {
            // `"$remote_addr"` and `($remote_addr)`: the wrappers are matched as literals and
            // the value extracted, but an access record needs `$status` (every metric is
            // labelled by it), so `parse` reports the line as malformed, naming `$status`.
            let mut f = compiled.expect("compiles");
            let mut fields = Fields::default();
            ck.ok(
                &ctx,
                f.match_line(line.as_bytes(), &mut fields).is_ok(),
                || "format must match the line".into(),
            );
            let got = fields
                .spans
                .first()
                .copied()
                .flatten()
                .map(|sp| String::from_utf8_lossy(sp.of(line.as_bytes())).into_owned());
            let want = c["expected"]["remote_addr"].as_str().map(str::to_string);
            ck.eq(&ctx, "$remote_addr span", got, want);
            let err = access_line(fmt, line).err().unwrap_or_default();
            ck.ok(&ctx, err.contains("$status"), || {
                format!("expected a `$status` reason, got {err:?}")
            });
            continue;
        }
        let r = match access_line(fmt, line) {
            Ok(r) => r,
            Err(e) => {
                ck.ok(&ctx, false, || format!("line rejected: {e}"));
                continue;
            }
        };
        let exp = c["expected"].as_object().expect("expected");
        for (k, v) in exp {
            let v = v.as_str().expect("string");
            match k.as_str() {
                "request_method" => ck.eq(&ctx, "method", r.s("method"), Some(v)),
                "request_uri" => {
                    // The query string never leaves the parser in `path` (tokens ride there).
                    ck.eq(&ctx, "path", r.s("path"), Some(strip_query(v)));
                    ck.ok(
                        &ctx,
                        r.raw("request").is_some_and(|q| q.contains(v)),
                        || format!("raw $request {:?} lacks the target {v:?}", r.raw("request")),
                    );
                }
                "server_protocol" => ck.eq(&ctx, "protocol", r.s("protocol"), Some(v)),
                "status" => ck.eq(&ctx, "status", r.status(), v.parse().ok()),
                "body_bytes_sent" => ck.eq(&ctx, "bytes", r.n("bytes"), v.parse().ok()),
                "time_local" => {
                    ck.eq(&ctx, "raw", r.raw(k), Some(v));
                    ck.eq(
                        &ctx,
                        "time",
                        r.s("time").map(str::to_string),
                        Some(rfc3339(epoch_time_local(v))),
                    );
                }
                "time_iso8601" => {
                    ck.eq(&ctx, "raw", r.raw(k), Some(v));
                    ck.eq(
                        &ctx,
                        "time",
                        r.s("time").map(str::to_string),
                        Some(rfc3339(epoch_iso8601(v))),
                    );
                }
                "remote_addr" => ck.eq(&ctx, "remote_addr", r.s("remote_addr"), Some(v)),
                "remote_user" => ck.eq(&ctx, "remote_user", r.s("remote_user"), dash_is_none(v)),
                "host" | "http_host" => ck.eq(&ctx, "host", r.s("host"), Some(v)),
                "upstream_response_time" | "upstream_connect_time" | "upstream_header_time" => {
                    ck.eq(&ctx, k, r.s(k), Some(v));
                    ck.near(&ctx, k, upstream_sum(r.raw(k)), v.parse().expect("seconds"));
                }
                "upstream_status" => ck.eq(&ctx, k, r.s(k), Some(v)),
                _ => ck.eq(&ctx, &format!("raw ${k}"), r.raw(k), Some(v)),
            }
        }
        if exp.contains_key("upstream_header_time") {
            // The last (only) entry is a number: the backend answered.
            ck.eq(&ctx, "answered_by", r.s("answered_by"), Some("upstream"));
        }
    }
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// Elastic Filebeat: access/test.log + test.log-expected.json (10 events), and the other beats logs.

#[test]
fn elastic_beats_access_expected() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("beats");
    let data = read(&dir, "elastic-beats/access/test.log");
    let expected = read_json(&dir, "elastic-beats/access/test.log-expected.json");
    let events = expected.as_array().expect("array");
    assert_eq!(events.len(), 10);
    let mut by_offset = HashMap::new();
    let mut off = 0usize;
    for (i, l) in lines_of(&data).iter().enumerate() {
        by_offset.insert(off, (i + 1, *l));
        off += l.len() + 1;
    }
    let mut p = Parser::new("combined");
    for ev in events {
        let offset = ev["log.offset"].as_u64().expect("offset") as usize;
        let (n, line) = by_offset[&offset];
        let text = String::from_utf8_lossy(line).into_owned();
        let ctx = format!("beats test.log line {n}: {text}");
        ck.eq(
            &ctx,
            "event.original",
            ev["event.original"].as_str(),
            Some(text.as_str()),
        );
        // Every line fits `combined`: `$remote_addr` runs up to ` - `, so XFF-style lists and a
        // quoted list before the address stay in it verbatim (nginx's own variable can hold
        // what `real_ip_header`/a custom format put there). We do not pick an address out of
        // the list as Filebeat does; the address it picks must be in ours.
        let r = match p.access(line) {
            Ok(r) => r,
            Err(e) => {
                ck.ok(&ctx, false, || format!("rejected: {e}"));
                continue;
            }
        };
        let ts = ev["@timestamp"].as_str().expect("ts").replace(".000Z", "Z");
        ck.eq(&ctx, "time", r.s("time"), Some(ts.as_str()));
        ck.eq(
            &ctx,
            "status",
            r.status(),
            ev["http.response.status_code"].as_u64(),
        );
        ck.eq(
            &ctx,
            "bytes",
            r.n("bytes"),
            ev["http.response.body.bytes"].as_f64(),
        );
        let src = ev["source.address"].as_str().expect("source.address");
        let addr = r.s("remote_addr").unwrap_or_default().to_string();
        let tokens: Vec<&str> = addr
            .split([',', ' ', '"'])
            .filter(|t| !t.is_empty())
            .collect();
        ck.ok(&ctx, tokens.contains(&src), || {
            format!("source.address {src:?} not in remote_addr {addr:?}")
        });
        match ev.get("http.request.method").and_then(Value::as_str) {
            Some(m) => {
                ck.eq(&ctx, "method", r.s("method"), Some(m));
                ck.eq(&ctx, "path", r.s("path"), ev["url.path"].as_str());
                let version = ev["http.version"].as_str().map(|v| format!("HTTP/{v}"));
                ck.eq(
                    &ctx,
                    "protocol",
                    r.s("protocol").map(str::to_string),
                    version,
                );
                let original = ev["url.original"].as_str().unwrap_or_default();
                ck.ok(
                    &ctx,
                    r.raw("request").is_some_and(|q| q.contains(original)),
                    || format!("raw $request lacks {original:?}"),
                );
            }
            None => {
                // `""` and `"hello"` (400s): Filebeat sets no method; we keep the first word of
                // the request line as the method (labelled OTHER) and there is no path.
                ck.eq(&ctx, "method_label", r.s("method_label"), Some("OTHER"));
                ck.eq(&ctx, "path", r.s("path"), None);
                ck.eq(&ctx, "path_label", r.s("path_label"), Some("__invalid__"));
            }
        }
    }
    // The file ends with an empty line: nginx never writes one, so it is malformed.
    let run = run_file("combined", false, &data);
    ck.eq(
        "beats test.log",
        "summary",
        (run.sum.parsed, run.sum.malformed),
        (10, 1),
    );
    ck.eq(
        "beats test.log",
        "malformed lines",
        run.malformed_lines,
        vec![11],
    );
    ck.done();
}

#[test]
fn elastic_beats_other_logs() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("beats-other");
    // Host-prefixed lines: under `$host $remote_addr ...` the host and the address are split.
    let data = read(&dir, "elastic-beats/access/test-with-host.log");
    let run = run_file(HOST_COMBINED, false, &data);
    ck.eq(
        "test-with-host.log",
        "summary",
        (run.sum.parsed, run.sum.malformed),
        (10, 0),
    );
    let hosts: Vec<String> = run.recs.iter().filter_map(|r| js(r, "host")).collect();
    ck.eq(
        "test-with-host.log",
        "hosts",
        hosts,
        [
            "example.com",
            "example.com",
            "example.com",
            "example.com:80",
            "example.com:80",
            "1.2.3.4",
            "1.2.3.4:80",
            "example.com:80",
            "1.2.3.4",
            "example.com",
        ]
        .map(String::from)
        .to_vec(),
    );
    ck.eq(
        "test-with-host.log line 7",
        "remote_addr",
        js(&run.recs[6], "remote_addr"),
        Some("127.0.0.1".into()),
    );

    // access.log: 12 combined lines + 2 with a `$host` prefix. Under `combined` the prefixed
    // lines still parse (the prefix stays in `$remote_addr`, every other field is right), so
    // the file has no malformed line; under the host format only the prefixed ones parse.
    let data = read(&dir, "elastic-beats/access/access.log");
    let run = run_file("combined", false, &data);
    ck.eq(
        "access.log combined",
        "summary",
        (run.sum.parsed, run.sum.malformed),
        (14, 0),
    );
    let statuses: Vec<u64> = run
        .recs
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    ck.eq(
        "access.log combined",
        "statuses",
        statuses,
        vec![
            200, 404, 404, 200, 404, 404, 404, 404, 404, 304, 304, 404, 206, 206,
        ],
    );
    ck.eq(
        "access.log line 13",
        "remote_addr",
        js(&run.recs[12], "remote_addr"),
        Some("lessons.example.com 192.168.0.1".into()),
    );
    ck.eq(
        "access.log line 13",
        "bytes",
        run.recs[12]["bytes"].as_u64(),
        Some(7_648_063),
    );
    let run = run_file(HOST_COMBINED, false, &data);
    ck.eq(
        "access.log host format",
        "summary",
        (run.sum.parsed, run.sum.malformed),
        (2, 12),
    );
    for r in &run.recs {
        ck.eq(
            "access.log host format",
            "host",
            js(r, "host").as_deref(),
            Some("lessons.example.com"),
        );
        ck.eq(
            "access.log host format",
            "remote_addr",
            js(r, "remote_addr").as_deref(),
            Some("192.168.0.1"),
        );
    }
    // Percent-encoding is kept in the path (it is what nginx logged).
    ck.ok(
        "access.log line 14",
        js(&run.recs[1], "path").is_some_and(|p| p.starts_with("/%D0%A0%D1%83")),
        || format!("{:?}", run.recs[1]["path"]),
    );

    // error.log: 3 events + a FastCGI message continued over 2 physical lines.
    let data = read(&dir, "elastic-beats/error/error.log");
    let run = run_file("combined", true, &data);
    ck.eq(
        "beats error.log",
        "summary",
        (run.sum.parsed, run.sum.malformed, run.sum.continuation),
        (4, 0, 2),
    );
    for r in &run.recs {
        let ctx = format!("beats error.log line {}", r["line"]);
        ck.eq(&ctx, "level", js(r, "level").as_deref(), Some("error"));
        ck.eq(
            &ctx,
            "pid",
            js(r, "pid").as_deref(),
            Some(if r["line"] == 3 { "205860" } else { "54053" }),
        );
        check_signature(&mut ck, &ctx, r);
    }
    ck.eq(
        "beats error.log line 1",
        "referrer",
        js(&run.recs[0], "referrer"),
        Some("http://localhost:8080/".into()),
    );
    ck.eq(
        "beats error.log line 1",
        "path_label",
        js(&run.recs[0], "path_label"),
        Some("/favicon.ico".into()),
    );
    ck.eq(
        "beats error.log line 2",
        "referrer",
        js(&run.recs[1], "referrer"),
        None,
    );
    ck.eq(
        "beats error.log line 6",
        "time",
        js(&run.recs[3], "time"),
        Some("2019-11-05T14:50:44Z".into()),
    );

    // ingress_controller/test.log: ingress-nginx upstreaminfo with multi-upstream lists.
    ingress_controller_log(&dir, &mut ck);
    ck.done();
}

/// Expected upstream fields of beats' ingress log, by line: (addr, response_length,
/// response_time, status). Lists are what ingress-nginx writes for retries (`, `-separated).
fn ingress_expected(line: &str) -> [String; 4] {
    // The 4 upstream fields are the 4 space-separated *list* values before `$req_id`; a list
    // continues after `, `. This is independent of the parser under test.
    let tail = line.rsplit_once("] ").expect("] ").1;
    let mut vals: Vec<String> = Vec::new();
    let mut cur = String::new();
    let words: Vec<&str> = tail.split(' ').collect();
    for (i, w) in words.iter().enumerate() {
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
        if !w.ends_with(',') || i + 1 == words.len() {
            vals.push(std::mem::take(&mut cur));
        }
    }
    assert_eq!(vals.len(), 5, "upstream fields + req_id in {line}");
    [
        vals[0].clone(),
        vals[1].clone(),
        vals[2].clone(),
        vals[3].clone(),
    ]
}

fn ingress_controller_log(dir: &Path, ck: &mut Check) {
    let data = read(dir, "elastic-beats/ingress_controller/test.log");
    let lines = lines_of(&data);
    let run = run_file(INGRESS, false, &data);
    ck.eq(
        "ingress test.log",
        "summary",
        (run.sum.parsed, run.sum.malformed),
        (29, 0),
    );
    // ingress-nginx writes the upstream variables unquoted and space-separated, and a retried
    // request makes each of them a `, `-separated list (`172.17.0.6:8080, 172.17.0.7:8080 61, 100
    // 0.100, 0.004 200, 203`). A list never ends in `,`, so a field that stops right after a
    // comma has not ended yet; reading it as ending at the first space shifts every later
    // upstream field and puts a response *length* into `$upstream_response_time` (61 s instead
    // of 0.104 s). Lines 23, 24, 26, 27 and 29 have such lists.
    let mut p = Parser::new(INGRESS);
    for (i, line) in lines.iter().enumerate() {
        let text = String::from_utf8_lossy(line).into_owned();
        let ctx = format!("beats ingress test.log line {}: {text}", i + 1);
        let r = match p.access(line) {
            Ok(r) => r,
            Err(e) => {
                ck.ok(&ctx, false, || format!("rejected: {e}"));
                continue;
            }
        };
        let [addr, len, time, status] = ingress_expected(&text);
        let field = |k: &str| r.raw(k).unwrap_or("<absent>").to_string();
        ck.eq(
            &ctx,
            "raw ($upstream_addr, $upstream_response_length, $upstream_response_time, $upstream_status)",
            [
                field("upstream_addr"),
                field("upstream_response_length"),
                field("upstream_response_time"),
                field("upstream_status"),
            ],
            [addr, len, time.clone(), status],
        );
        // docs/architecture.md ("Values"): multi-upstream values are summed; `-` is skipped.
        let want: f64 = time.split(", ").filter_map(|t| t.parse::<f64>().ok()).sum();
        if time != "-" {
            ck.near(
                &ctx,
                "upstream_response_time sum",
                upstream_sum(r.raw("upstream_response_time")),
                want,
            );
        }
        ck.ok(
            &ctx,
            r.raw("req_id").is_some_and(|id| id.len() == 32),
            || format!("$req_id {:?}", r.raw("req_id")),
        );
    }
    // Spot checks: invalid methods (400), HTTP/2.0, IPv6 client, unix socket upstream.
    let rec = |n: usize| &run.recs[n - 1];
    ck.eq(
        "ingress line 5",
        "method",
        js(rec(5), "method"),
        Some("PATCHp".into()),
    );
    ck.eq(
        "ingress line 5",
        "method_label",
        js(rec(5), "method_label"),
        Some("OTHER".into()),
    );
    ck.eq(
        "ingress line 5",
        "status",
        rec(5)["status"].as_u64(),
        Some(400),
    );
    ck.eq(
        "ingress line 25",
        "remote_addr",
        js(rec(25), "remote_addr"),
        Some("2a02:cf40::".into()),
    );
    ck.eq(
        "ingress line 25",
        "remote_user",
        js(rec(25), "remote_user"),
        Some("remote_monitoring_user".into()),
    );
    ck.eq(
        "ingress line 26",
        "protocol",
        js(rec(26), "protocol"),
        Some("HTTP/2.0".into()),
    );
    ck.eq(
        "ingress line 26",
        "status",
        rec(26)["status"].as_u64(),
        Some(502),
    );
}

// ---------------------------------------------------------------------------------------------
// CrowdSec hub: parser.assert files (expected `Evt.Parsed` fields per line).

#[derive(Default, Debug)]
struct CsResult {
    success: Option<bool>,
    parsed: BTreeMap<String, String>,
}

/// Undoes Go string quoting as used in parser.assert (`\"` and `\\`; `\x..` stays literal text,
/// which is how nginx wrote it).
fn go_unquote(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `results["STAGE"]["PARSER"][IDX].Evt.Parsed["KEY"] == "VALUE"` and `.Success == BOOL`.
fn crowdsec_asserts(text: &str) -> BTreeMap<(String, String), BTreeMap<usize, CsResult>> {
    let mut out: BTreeMap<(String, String), BTreeMap<usize, CsResult>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("results[\"") else {
            continue;
        };
        let Some((stage, rest)) = rest.split_once("\"][\"") else {
            continue;
        };
        let Some((parser, rest)) = rest.split_once("\"][") else {
            continue;
        };
        let Some((idx, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(idx) = idx.parse::<usize>() else {
            continue;
        };
        let entry = out
            .entry((stage.to_string(), parser.to_string()))
            .or_default()
            .entry(idx)
            .or_default();
        if let Some(b) = rest.strip_prefix(".Success == ") {
            entry.success = Some(b.trim() == "true");
        } else if let Some(kv) = rest.strip_prefix(".Evt.Parsed[\"") {
            let (key, val) = kv.split_once("\"] == \"").expect("Parsed assertion");
            let val = val.strip_suffix('"').expect("quoted value");
            entry.parsed.insert(key.to_string(), go_unquote(val));
        }
    }
    out
}

/// The format a line of a CrowdSec test file was written with; `None` for error-log lines.
fn crowdsec_format(line: &str) -> Option<&'static str> {
    if error_log::starts_event(line.as_bytes()) {
        return None;
    }
    if let Some(rest) = line.strip_prefix('[') {
        let after = rest.split_once("] ").expect("] ").1;
        let words: Vec<&str> = after.split(' ').take(4).collect();
        let proxy = words.get(3) == Some(&"-");
        let sent_to = line.contains("[Sent-to ");
        if line.contains("[Client ") {
            return Some(match (proxy, sent_to) {
                (true, true) => NPM_PROXY,
                (false, false) => NPM_STANDARD,
                (true, false) => NPM_PROXY_NO_SENT_TO,
                (false, true) => NPM_STANDARD_SENT_TO,
            });
        }
        return Some(CATCH_NPM);
    }
    let words: Vec<&str> = line.splitn(4, ' ').collect();
    if words.len() == 4 && words[1] != "-" && words[2] == "-" {
        return Some(HOST_COMBINED);
    }
    Some("combined")
}

fn crowdsec_access(ck: &mut Check, ctx: &str, r: &Rec, parsed: &BTreeMap<String, String>) {
    let has_verb = parsed.contains_key("verb");
    for (k, v) in parsed {
        let v = v.as_str();
        match k.as_str() {
            "remote_addr" => ck.eq(ctx, "remote_addr", r.s("remote_addr"), Some(v)),
            "remote_user" => ck.eq(ctx, "raw $remote_user", r.raw("remote_user"), Some(v)),
            "time_local" => {
                ck.eq(ctx, "raw $time_local", r.raw("time_local"), Some(v));
                ck.eq(
                    ctx,
                    "time",
                    r.s("time").map(str::to_string),
                    Some(rfc3339(epoch_time_local(v))),
                );
            }
            "status" => ck.eq(ctx, "status", r.status(), v.parse().ok()),
            "body_bytes_sent" => ck.eq(ctx, "bytes", r.n("bytes"), v.parse().ok()),
            "bytes_sent" => ck.eq(ctx, "raw $bytes_sent", r.raw("bytes_sent"), Some(v)),
            "request" if has_verb => ck.eq(ctx, "path", r.s("path"), Some(strip_query(v))),
            // Without a verb CrowdSec puts the whole (junk) request line here, as logged.
            "request" => ck.eq(ctx, "raw $request", r.raw("request"), Some(v)),
            "verb" => ck.eq(ctx, "method", r.s("method"), Some(v)),
            "http_version" => ck.eq(
                ctx,
                "protocol",
                r.s("protocol").map(str::to_string),
                Some(format!("HTTP/{v}")),
            ),
            "http_user_agent"
            | "http_referer"
            | "upstream_status"
            | "upstream_cache_status"
            | "gzip_ratio"
            | "scheme" => ck.eq(ctx, &format!("raw ${k}"), r.raw(k), Some(v)),
            "request_time" => {
                ck.eq(ctx, "raw $request_time", r.raw(k), Some(v));
                ck.near(
                    ctx,
                    "request_seconds",
                    r.n("request_seconds"),
                    v.parse().expect("seconds"),
                );
            }
            "target_fqdn" => {
                let host = r.s("host").map(|h| h.split(':').next().unwrap_or(h));
                ck.eq(ctx, "host", host, Some(v));
            }
            "target_server" => ck.eq(ctx, "raw $server", r.raw("server"), Some(v)),
            // CrowdSec's own enrichment or copies of the line.
            _ => {}
        }
    }
}

fn crowdsec_error(ck: &mut Check, ctx: &str, r: &Value, parsed: &BTreeMap<String, String>) {
    let request = js(r, "request").unwrap_or_default();
    let mut req = request.splitn(3, ' ');
    let (method, target, proto) = (req.next(), req.next(), req.next());
    for (k, v) in parsed {
        let v = v.as_str();
        match k.as_str() {
            "time" => ck.eq(ctx, "time", js(r, "time"), Some(rfc3339(epoch_wall(v)))),
            "loglevel" => ck.eq(ctx, "level", js(r, "level").as_deref(), Some(v)),
            "pid" | "tid" => ck.eq(ctx, k, js(r, k).as_deref(), Some(v)),
            "cid" => ck.eq(ctx, "connection", js(r, "connection").as_deref(), Some(v)),
            // The mail parser leaves the whole line in `message` when it splits nothing off.
            "message" if !error_log::starts_event(v.as_bytes()) => {
                ck.eq(ctx, "message", js(r, "message").as_deref(), Some(v))
            }
            "remote_addr" => match js(r, "client") {
                // Mail lines write `client: 1.2.3.4 using starttls`; the address is the first word.
                Some(c) => ck.eq(ctx, "client", c.split(' ').next(), Some(v)),
                // `client 1.2.3.4:port connected to ...` has no context field.
                None => ck.ok(ctx, js(r, "message").is_some_and(|m| m.contains(v)), || {
                    format!("message lacks client {v}")
                }),
            },
            // CrowdSec turns an absolute-URI request `POST https://example.com/x` into
            // `//example.com/x`; our path is the URI's path, `/x`.
            "request" => {
                let want = match v.strip_prefix("//") {
                    Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => v,
                };
                let ours = target.map(|t| match t.split_once("://") {
                    Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => t,
                });
                ck.eq(ctx, "request target", ours, Some(strip_query(want)));
                ck.eq(
                    ctx,
                    "path_label",
                    js(r, "path_label").as_deref(),
                    Some(strip_query(want)),
                );
            }
            "verb" => ck.eq(ctx, "request method", method, Some(v)),
            "http_version" => ck.eq(
                ctx,
                "request protocol",
                proto.map(str::to_string),
                Some(format!("HTTP/{v}")),
            ),
            "target_fqdn" => ck.eq(ctx, "host", js(r, "host").as_deref(), Some(v)),
            _ => {}
        }
    }
    check_signature(ck, ctx, r);
}

#[test]
fn crowdsec_parser_asserts() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("crowdsec");
    let dirs = [
        ("nginx_http-logs", "nginx_http-logs.log"),
        ("nginx_req_limit_exceeded", "nginx_req_limit_exceeded.log"),
        ("nginx-http-malformed", "nginx_http-logs.log"),
        ("nginx-proxy-manager-malformed", "nginx_http-logs.log"),
        ("nginx-proxy-manager-logs", "nginx-proxy-manager-logs.log"),
        ("nginx_http-catch-npm", "nginx_http-catch-npm.log"),
        ("nginx-mail-logs", "nginx-mail-logs.log"),
    ];
    let mut checked = 0;
    for (d, log) in dirs {
        let data = read(&dir, &format!("crowdsec-hub/{d}/{log}"));
        let lines: Vec<String> = lines_of(&data)
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let asserts = crowdsec_asserts(&read_str(&dir, &format!("crowdsec-hub/{d}/parser.assert")));
        let raw = asserts
            .iter()
            .find(|((s, p), _)| s == "s00-raw" && p == "crowdsecurity/non-syslog");
        let (_, parse) = asserts
            .iter()
            .find(|((s, _), _)| s == "s01-parse")
            .expect("s01-parse results");
        // Which file line each s01 result is about.
        let mut line_of: BTreeMap<usize, usize> = BTreeMap::new();
        match raw {
            Some((_, raw)) => {
                assert_eq!(raw.len(), parse.len(), "{d}: s00/s01 result counts");
                for (i, res) in raw {
                    let msg = &res.parsed["message"];
                    let n = lines
                        .iter()
                        .position(|l| l == msg)
                        .unwrap_or_else(|| panic!("{d}: {msg} not in log"));
                    line_of.insert(*i, n);
                }
            }
            None => {
                // Mail logs: only the mail parser's results, for the mail lines, in file order.
                let mut from = 0;
                for (i, res) in parse {
                    let (Some(t), Some(cid)) = (res.parsed.get("time"), res.parsed.get("cid"))
                    else {
                        continue;
                    };
                    let n = (from..lines.len())
                        .find(|&n| {
                            lines[n].starts_with(t.as_str())
                                && lines[n].contains(&format!("*{cid} "))
                        })
                        .unwrap_or_else(|| panic!("{d}: no line for result {i}"));
                    line_of.insert(*i, n);
                    from = n + 1;
                }
            }
        }
        for (i, res) in parse {
            if res.success != Some(true) {
                continue;
            }
            let Some(&n) = line_of.get(i) else { continue };
            let line = &lines[n];
            let ctx = format!("crowdsec {d} line {}: {line}", n + 1);
            checked += 1;
            match crowdsec_format(line) {
                None => match error_line(line) {
                    Ok(r) => crowdsec_error(&mut ck, &ctx, &r, &res.parsed),
                    Err(e) => ck.ok(&ctx, false, || format!("error line rejected: {e}")),
                },
                Some(spec) => match access_line(spec, line) {
                    Ok(r) => crowdsec_access(&mut ck, &ctx, &r, &res.parsed),
                    Err(e) if line.starts_with("192.168.1.1 - [") => {
                        // Intentional difference: `192.168.1.1 - [08/Jun/...]` lacks the
                        // `- $remote_user` part, which no nginx format writes that way. CrowdSec's
                        // grok accepts it; for us it is a line in another format: malformed.
                        ck.ok(&ctx, !e.is_empty(), String::new);
                    }
                    Err(e) => ck.ok(&ctx, false, || format!("rejected by {spec}: {e}")),
                },
            }
        }
    }
    assert!(checked >= 60, "only {checked} CrowdSec results checked");
    // Host-prefixed lines under plain `combined`: they still parse (the host stays in
    // `$remote_addr`), every other field is right. Documented leniency of literal matching.
    let line = r#"www.crowdsec11.net:80 192.168.1.1 - - [08/Jun/2020:08:04:43 +0000] "GET /test/uppercase/extensions.JPG HTTP/1.1" 301 0 "-" "Mozilla/5.0""#;
    match access_line("combined", line) {
        Ok(r) => {
            ck.eq(
                line,
                "remote_addr",
                r.s("remote_addr"),
                Some("www.crowdsec11.net:80 192.168.1.1"),
            );
            ck.eq(line, "status", r.status(), Some(301));
        }
        Err(e) => ck.ok(line, false, || e),
    }
    ck.done();
}

/// `host nginx[983479]: ...` / `host nginx: ...`: a systemd-journal export line.
fn is_journal(line: &str) -> bool {
    line.split_once(' ')
        .is_some_and(|(_, rest)| rest.starts_with("nginx[") || rest.starts_with("nginx:"))
}

// ---------------------------------------------------------------------------------------------
// fail2ban: `# failJSON: {"time": ..., "host": ...}` before each line.

#[test]
fn fail2ban_fail_json() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("fail2ban");
    for (file, access_spec) in [
        ("nginx-limit-req", None),
        ("nginx-forbidden", None),
        ("nginx-http-auth", None),
        ("nginx-botsearch", Some("main")),
        ("nginx-bad-request", Some("main")),
    ] {
        let text = read_str(&dir, &format!("fail2ban/{file}"));
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(j) = l.strip_prefix("# failJSON: ") else {
                continue;
            };
            let Some(line) = lines.get(i + 1) else {
                continue;
            };
            let want: Value = serde_json::from_str(j).expect("failJSON");
            let ctx = format!("fail2ban {file} line {}: {line}", i + 2);
            if is_journal(line) {
                // systemd-journal exports (`host nginx[983479]: 2023/12/09 ... [notice] ...`):
                // fail2ban strips the journal prefix. nginx itself never writes it (its syslog
                // output is read by the syslog source), so the error parser rejects the line.
                ck.ok(&ctx, error_line(line).is_err(), || {
                    "journal line must be malformed".into()
                });
                continue;
            }
            // `match: false` lines (not a failure for fail2ban) carry no host.
            let host = want["host"].as_str();
            let time = want.get("time").and_then(Value::as_str);
            if error_log::starts_event(line.as_bytes()) {
                let r = match error_line(line) {
                    Ok(r) => r,
                    Err(e) => {
                        ck.ok(&ctx, false, || format!("rejected: {e}"));
                        continue;
                    }
                };
                // The client nginx appends after the message is the real one; text inside the
                // message (an attacker-chosen user name, path or header) can contain
                // `, client: ...` and must not be taken for it.
                if host.is_some() {
                    ck.eq(&ctx, "client", js(&r, "client").as_deref(), host);
                }
                if let Some(t) = time {
                    ck.eq(&ctx, "time", js(&r, "time"), Some(rfc3339(epoch_wall(t))));
                }
                if let Some(at) = line
                    .rfind(", client: ")
                    .filter(|_| line.contains("\": was not found in"))
                {
                    // The injection line: the message is everything before nginx's own
                    // (last) `, client: `, so it is a `was not found` line, not a mismatch.
                    let start = line.find("*3 ").expect("cid") + 3;
                    ck.eq(
                        &ctx,
                        "message",
                        js(&r, "message").as_deref(),
                        Some(&line[start..at]),
                    );
                    ck.eq(
                        &ctx,
                        "signature",
                        js(&r, "signature").as_deref(),
                        Some("auth_basic_user_not_found"),
                    );
                }
                check_signature(&mut ck, &ctx, &r);
            } else {
                let r = match access_line(access_spec.expect("access format"), line) {
                    Ok(r) => r,
                    Err(e) => {
                        ck.ok(&ctx, false, || format!("rejected: {e}"));
                        continue;
                    }
                };
                ck.eq(&ctx, "remote_addr", r.s("remote_addr"), host);
                if let Some(t) = time {
                    // fail2ban's time is the wall clock of `$time_local`.
                    let tl = r.raw("time_local").unwrap_or_default();
                    let offset = epoch_wall(t) - epoch_time_local(tl);
                    let sign = if &tl[21..22] == "-" { -1 } else { 1 };
                    let zone = sign * (num(&tl[22..24]) * 3600 + num(&tl[24..26]) * 60);
                    ck.eq(&ctx, "wall clock - UTC", offset, zone);
                    let utc = rfc3339(epoch_wall(t) - zone);
                    ck.eq(&ctx, "time", r.s("time"), Some(utc.as_str()));
                }
            }
        }
    }
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// prometheus-nginxlog-exporter: behave scenarios with expected Prometheus values.

fn lower_median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[(v.len() - 1) / 2])
}

/// `name{a="b",c="d"}` -> (name, labels).
fn metric_labels(m: &str) -> (&str, BTreeMap<String, String>) {
    let Some((name, rest)) = m.split_once('{') else {
        return (m, BTreeMap::new());
    };
    let labels = rest
        .trim_end_matches('}')
        .split("\",")
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once("=\"").expect("label");
            (k.to_string(), v.trim_end_matches('"').to_string())
        })
        .collect();
    (name, labels)
}

#[test]
fn prometheus_nginxlog_exporter_behave() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("prometheus-nginxlog-exporter");
    let t = read_json(
        &dir,
        "prometheus-nginxlog-exporter/behave-features-cases.json",
    );
    for c in t["cases"].as_array().expect("cases") {
        let scenario = c["scenario"].as_str().expect("scenario");
        let ctx = format!(
            "exporter {}: {scenario}",
            c["feature_file"].as_str().unwrap_or("")
        );
        let formats: Vec<&str> = match &c["log_format"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("log_format"),
        };
        if formats.iter().all(|f| !f.contains('$')) {
            // Issue 212: the configs use `foo`/`bar` as formats (literal text only) to produce
            // parse errors. A format with no variables can never yield a record, so we reject
            // it when it is compiled, before any line is read: nothing to count.
            for f in &formats {
                ck.ok(&ctx, LineFormat::compile(f).is_err(), || {
                    format!("format {f:?} must be rejected")
                });
            }
            continue;
        }
        for f in &formats {
            ck.ok(&ctx, LineFormat::compile(f).is_ok(), || {
                format!("format {f:?} rejected")
            });
        }
        // Every namespace in these scenarios uses the same format; lines of all inputs are
        // pooled and told apart by the labels the expectations name.
        let mut p = Parser::new(formats[0]);
        let mut recs = Vec::new();
        let mut malformed = 0u64;
        for input in c["inputs"].as_array().expect("inputs") {
            for l in input["lines"].as_array().expect("lines") {
                match p.access(l.as_str().expect("line").as_bytes()) {
                    Ok(r) => recs.push(r),
                    Err(_) => malformed += 1,
                }
            }
        }
        let expects = c["expect"].as_array().expect("expect");
        // Label values an expectation names; `other` (relabel default) and `` (no route
        // matched) stand for every value not named elsewhere in the scenario.
        let mut named: HashMap<String, BTreeSet<String>> = HashMap::new();
        for e in expects {
            for (k, v) in metric_labels(e["metric"].as_str().expect("metric")).1 {
                named.entry(k).or_default().insert(v);
            }
        }
        for e in expects {
            let metric = e["metric"].as_str().expect("metric");
            let want = e["value"].as_f64().expect("value");
            let (name, labels) = metric_labels(metric);
            let ctx = format!("{ctx} / {metric}");
            let matches = |r: &Rec| {
                labels.iter().all(|(k, v)| {
                    let ours = match k.as_str() {
                        "method" => r.s("method").unwrap_or("").to_string(),
                        "status" => r.status().map(|s| s.to_string()).unwrap_or_default(),
                        "request_uri" | "path" => r.s("path_label").unwrap_or("").to_string(),
                        "user" => r.raw("remote_user").unwrap_or("").to_string(),
                        _ => return true, // config-only labels (foo, test1, vhost, ...)
                    };
                    if v == "other" || v.is_empty() {
                        !named[k].contains(&ours)
                    } else {
                        &ours == v
                    }
                })
            };
            let sel: Vec<&Rec> = recs.iter().filter(|r| matches(r)).collect();
            let urt = |r: &&Rec| upstream_sum(r.raw("upstream_response_time"));
            let got = if name.ends_with("_http_response_count_total") {
                Some(sel.len() as f64)
            } else if name.ends_with("_http_response_size_bytes") {
                Some(sel.iter().filter_map(|r| r.n("bytes")).sum())
            } else if name.ends_with("_http_request_size_bytes") {
                Some(
                    sel.iter()
                        .filter_map(|r| r.raw("request_length")?.parse::<f64>().ok())
                        .sum(),
                )
            } else if name.ends_with("_http_upstream_time_seconds_sum") {
                Some(sel.iter().filter_map(urt).sum())
            } else if name.ends_with("_http_upstream_time_seconds_hist_count")
                || name.ends_with("_http_upstream_time_seconds_count")
            {
                Some(sel.iter().filter_map(urt).count() as f64)
            } else if name.ends_with("_http_response_time_seconds_hist_count")
                || name.ends_with("_http_response_time_seconds_count")
            {
                Some(sel.iter().filter_map(|r| r.n("request_seconds")).count() as f64)
            } else if name.ends_with("_http_upstream_time_seconds") {
                lower_median(sel.iter().filter_map(urt).collect())
            } else if name.ends_with("_http_upstream_connect_time_seconds") {
                lower_median(
                    sel.iter()
                        .filter_map(|r| upstream_sum(r.raw("upstream_connect_time")))
                        .collect(),
                )
            } else if name.ends_with("_http_response_time_seconds") {
                lower_median(sel.iter().filter_map(|r| r.n("request_seconds")).collect())
            } else if name.ends_with("_parse_errors_total") {
                Some(malformed as f64)
            } else {
                ck.ok(&ctx, false, || format!("unhandled metric {name}"));
                continue;
            };
            ck.near(&ctx, "value", got, want);
        }
        if scenario.starts_with("Issue 44") {
            // Intentional difference: the exporter takes the method only from `$request`
            // (method=""), we fall back to `$request_method` and `$request_uri`.
            ck.eq(&ctx, "method", recs[0].s("method"), Some("GET"));
            ck.eq(&ctx, "path", recs[0].s("path"), Some("/robots.txt"));
            ck.eq(
                &ctx,
                "time",
                recs[0].s("time"),
                Some("2018-07-19T20:21:56Z"),
            );
        }
        if scenario.contains("Response body sizes") {
            // The scenario writes its own format string as the first "line": malformed.
            ck.eq(&ctx, "malformed", malformed, 1);
        }
    }
    // textparser unit case.
    let u = &t["textparser_unit_case"];
    let line = u["line"].as_str().expect("line");
    let ctx = format!("exporter textparser: {line}");
    match access_line(u["log_format"].as_str().expect("format"), line) {
        Ok(r) => {
            for (k, v) in u["expected"].as_object().expect("expected") {
                ck.eq(&ctx, &format!("raw ${k}"), r.raw(k), v.as_str());
            }
            ck.eq(&ctx, "time", r.s("time"), Some("2021-02-03T03:22:33Z"));
            ck.eq(&ctx, "method", r.s("method"), Some("GET"));
            ck.eq(&ctx, "path_label", r.s("path_label"), Some("/order/:id"));
            ck.near(&ctx, "request_seconds", r.n("request_seconds"), 0.544);
        }
        Err(e) => ck.ok(&ctx, false, || e),
    }
    // jsonparser unit case: an `escape=json` line, read with the `json` preset.
    let u = &t["jsonparser_unit_case"];
    let line = u["line"].as_str().expect("line");
    let ctx = format!("exporter jsonparser: {line}");
    match access_line("json", line) {
        Ok(r) => {
            for (k, v) in u["expected"].as_object().expect("expected") {
                ck.eq(&ctx, &format!("raw ${k}"), r.raw(k), v.as_str());
            }
            ck.eq(&ctx, "status", r.status(), Some(200));
            ck.eq(&ctx, "bytes", r.n("bytes"), Some(518.0));
            ck.eq(&ctx, "path", r.s("path"), Some("/order/2145"));
            ck.near(&ctx, "request_seconds", r.n("request_seconds"), 0.544);
            // The test put an ISO 8601 value under `time_local`; nginx's `$time_local` is
            // always `03/Feb/2021:11:22:33 +0800`, so no time is read from it.
            ck.eq(&ctx, "time", r.s("time"), None);
        }
        Err(e) => ck.ok(&ctx, false, || e),
    }
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// NGINX Agent v3: test-access.log with the `log_format main` of default.conf; expected.yaml.

fn log_format_directive(conf: &str) -> String {
    let start = conf
        .lines()
        .position(|l| l.trim_start().starts_with("log_format"))
        .expect("log_format directive");
    let mut out = String::new();
    for l in conf.lines().skip(start) {
        out.push_str(l);
        out.push('\n');
        if l.trim_end().ends_with(';') {
            break;
        }
    }
    out
}

#[test]
fn nginx_agent_v3_status_classes() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("nginx-agent v3");
    let conf = read_str(&dir, "nginx-agent/v3-accesslog-testdata/default.conf");
    // The directive as written in nginx.conf (two quoted parts with no space between
    // `"$upstream_connect_time"` and `"$upstream_header_time"`, a trailing space).
    let spec = log_format_directive(&conf);
    let data = read(&dir, "nginx-agent/v3-accesslog-testdata/test-access.log");
    let run = run_file(&spec, false, &data);
    ck.eq(
        "v3 test-access.log",
        "summary",
        (run.sum.parsed, run.sum.malformed),
        (15, 0),
    );
    let y = read_yaml(&dir, "nginx-agent/v3-accesslog-testdata/expected.yaml");
    let points = &y["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"];
    let points = points.as_sequence().expect("dataPoints");
    assert_eq!(points.len(), 5);
    for p in points {
        let class = p["attributes"][0]["value"]["stringValue"]
            .as_str()
            .expect("class");
        let want = p["asInt"].as_u64().expect("asInt");
        let got = run
            .recs
            .iter()
            .filter(|r| {
                r["status"]
                    .as_u64()
                    .is_some_and(|s| s / 100 == u64::from(class.as_bytes()[0] - b'0'))
            })
            .count() as u64;
        ck.eq("v3 expected.yaml", class, got, want);
    }
    // Lines with upstream timings: answered by the backend, values as logged.
    for r in &run.recs {
        let ctx = format!("v3 line {}", r["line"]);
        let uht = js(r, "upstream_header_time");
        ck.eq(
            &ctx,
            "answered_by",
            js(r, "answered_by"),
            Some(if uht.is_some() { "upstream" } else { "nginx" }.into()),
        );
        ck.ok(&ctx, r["request_seconds"].as_f64().is_some(), || {
            "request_time".into()
        });
    }
    let r12 = &run.recs[11];
    ck.eq("v3 line 12", "status", r12["status"].as_u64(), Some(401));
    ck.eq(
        "v3 line 12",
        "upstream_connect_time",
        js(r12, "upstream_connect_time"),
        Some("0.297".into()),
    );
    ck.eq(
        "v3 line 12",
        "upstream_header_time",
        js(r12, "upstream_header_time"),
        Some("0.407".into()),
    );
    ck.eq(
        "v3 line 12",
        "request_seconds",
        r12["request_seconds"].as_f64(),
        Some(0.406),
    );
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// NGINX Agent v2: access/error cases with expected metrics, and its upstream-list unit tables.

#[test]
fn nginx_agent_v2_cases() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("nginx-agent v2");
    let t = read_json(
        &dir,
        "nginx-agent/v2-metrics-sources/nginx_access_error_log_test-cases.json",
    );
    for c in t["TestAccessLogStats"].as_array().expect("access cases") {
        let name = c["name"].as_str().expect("name");
        let mut p = Parser::new(c["log_format"].as_str().expect("format"));
        let mut recs = Vec::new();
        for l in c["lines"].as_array().expect("lines") {
            let bytes: Vec<u8> = match l["text"].as_str() {
                Some(s) => s.trim_end_matches('\n').as_bytes().to_vec(),
                None => {
                    // Raw bytes the Go test writes (a TLS ClientHello inside `$request`, NULs
                    // included). nginx would have escaped them; we still read the line.
                    let hex = l["hex"].as_str().expect("hex");
                    let mut b: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                        .collect();
                    if b.last() == Some(&b'\n') {
                        b.pop();
                    }
                    b
                }
            };
            match p.access(&bytes) {
                Ok(r) => recs.push(r),
                Err(e) => ck.ok(&format!("agent v2 {name}"), false, || {
                    format!("rejected: {e}")
                }),
            }
        }
        let ctx = format!("agent v2 {name}");
        let count = |f: &dyn Fn(&Rec) -> bool| recs.iter().filter(|r| f(r)).count() as f64;
        let avg = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let raw_num =
            |k: &str| -> Vec<f64> { recs.iter().filter_map(|r| r.raw(k)?.parse().ok()).collect() };
        let named_methods = ["get", "post", "put", "delete", "head", "options"];
        for m in c["expected_simplemetrics"].as_array().expect("metrics") {
            let metric = m["name"].as_str().expect("name");
            let want = m["value"].as_f64().expect("value");
            let key = metric.strip_prefix("nginx.").expect("nginx.");
            let got: Option<f64> = if let Some(meth) = key.strip_prefix("http.method.") {
                Some(if meth == "others" {
                    count(&|r| {
                        !named_methods
                            .iter()
                            .any(|n| r.s("method").is_some_and(|x| x.eq_ignore_ascii_case(n)))
                    })
                } else {
                    count(&|r| r.s("method").is_some_and(|x| x.eq_ignore_ascii_case(meth)))
                })
            } else if let Some(st) = key.strip_prefix("http.status.") {
                Some(match st {
                    "discarded" => count(&|r| r.status() == Some(499)),
                    s if s.ends_with("xx") => {
                        let class = u64::from(s.as_bytes()[0] - b'0');
                        count(&|r| r.status().is_some_and(|x| x / 100 == class))
                    }
                    s => count(&|r| r.status() == s.parse().ok()),
                })
            } else if let Some(v) = key.strip_prefix("http.v") {
                let proto = format!("HTTP/{}", v.replace('_', "."));
                Some(count(&|r| r.s("protocol") == Some(proto.as_str())))
            } else if let Some(st) = key.strip_prefix("upstream.status.") {
                let class = st.as_bytes()[0] - b'0';
                Some(count(&|r| {
                    r.raw("upstream_status")
                        .is_some_and(|s| s.as_bytes()[0] == b'0' + class)
                }))
            } else if let Some(cs) = key.strip_prefix("cache.") {
                Some(count(&|r| {
                    r.raw("upstream_cache_status")
                        .is_some_and(|s| s.eq_ignore_ascii_case(cs))
                }))
            } else {
                match key {
                    "http.request.body_bytes_sent" => {
                        Some(recs.iter().filter_map(|r| r.n("bytes")).sum())
                    }
                    "http.request.bytes_sent" => Some(raw_num("bytes_sent").iter().sum()),
                    "http.request.length" => Some(avg(raw_num("request_length"))),
                    "http.gzip.ratio" => Some(avg(raw_num("gzip_ratio"))),
                    "http.request.time" => Some(avg(recs
                        .iter()
                        .filter_map(|r| r.n("request_seconds"))
                        .collect())),
                    "http.request.time.count" => Some(count(&|r| r.n("request_seconds").is_some())),
                    "http.request.time.max" => recs
                        .iter()
                        .filter_map(|r| r.n("request_seconds"))
                        .reduce(f64::max),
                    "upstream.request.count" => Some(count(&|r| {
                        upstream_sum(r.raw("upstream_response_time")).is_some()
                    })),
                    // The agent records every entry of a multi-upstream list as its own sample
                    // (17 samples for 14 lines); docs/architecture.md sums a line's entries into one value.
                    // The totals agree: mean x count of theirs = sum of our per-line sums.
                    "upstream.connect.time" | "upstream.header.time" | "upstream.response.time" => {
                        let var = format!("upstream_{}_time", key.split('.').nth(1).expect("kind"));
                        let entries = t_count(&t, name, key);
                        let total: f64 =
                            recs.iter().filter_map(|r| upstream_sum(r.raw(&var))).sum();
                        Some(total / entries)
                    }
                    // Per-entry statistics (count/max/median/pctl95 of every list entry), the
                    // agent's "next upstream" count and its private `malformed` heuristic have
                    // no counterpart: we keep one summed value per line.
                    _ => None,
                }
            };
            if let Some(got) = got {
                ck.near(&ctx, metric, Some(got), want);
            }
        }
    }
    // The error-log case. The Go test appends its lines without newlines (one long line, a quirk
    // of that test); each is parsed as the separate line it stands for.
    let e = &t["TestErrorLogStats"][0];
    let mut sigs = Vec::new();
    for l in e["lines"].as_array().expect("lines") {
        let line = l["text"].as_str().expect("text");
        let ctx = format!("agent v2 error: {line}");
        match error_line(line) {
            Ok(r) => {
                check_signature(&mut ck, &ctx, &r);
                sigs.push(js(&r, "signature").unwrap_or_default());
            }
            Err(e) => ck.ok(&ctx, false, || format!("rejected: {e}")),
        }
    }
    // upstream.response.failed (timed out reading the header), upstream.request.failed (connect
    // refused), upstream.response.buffered, http.request.buffered (the made-up line: `other`).
    ck.eq(
        "agent v2 error signatures",
        "signatures",
        sigs,
        [
            "upstream_timed_out",
            "upstream_buffered_to_temp_file",
            "client_closed_keepalive",
            "upstream_connect_refused",
            "other",
        ]
        .map(String::from)
        .to_vec(),
    );
    let r = error_line(e["lines"][4]["text"].as_str().expect("text")).expect("parses");
    ck.eq(
        "agent v2 error line without *cid",
        "connection",
        js(&r, "connection"),
        None,
    );
    ck.eq(
        "agent v2 error line without *cid",
        "message",
        js(&r, "message"),
        Some("client request body is buffered.".into()),
    );
    let r = error_line(e["lines"][0]["text"].as_str().expect("text")).expect("parses");
    ck.eq(
        "agent v2 error line 1",
        "upstream",
        js(&r, "upstream"),
        Some("uwsgi://127.0.0.1:3131".into()),
    );
    ck.eq(
        "agent v2 error line 1",
        "path_label",
        js(&r, "path_label"),
        Some("/1.0/".into()),
    );
    // Unit tables for upstream lists and single timings.
    for c in t["parse_upstream_value_cases"].as_array().expect("cases") {
        let v = c["value"].as_str().expect("value");
        let appended: Vec<f64> = c["appended"]
            .as_array()
            .expect("appended")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let want = (!appended.is_empty()).then(|| appended.iter().sum::<f64>());
        let got = values::parse_upstream_times(v.as_bytes()).sum;
        ck.ok(
            &format!("agent v2 upstream list {v:?}"),
            match (got, want) {
                (Some(g), Some(w)) => (g - w).abs() < 1e-9,
                (g, w) => g == w,
            },
            || format!("sum {got:?}, want {want:?}"),
        );
    }
    for c in t["parse_float_time_cases"].as_array().expect("cases") {
        let v = c["value"].as_str().expect("value");
        let want = c["appended"][0].as_f64();
        ck.eq(
            &format!("agent v2 time {v:?}"),
            "seconds",
            values::parse_seconds(v.as_bytes()),
            want,
        );
    }
    for c in t["upstream_next_count_cases"].as_array().expect("cases") {
        let want = c["expected_upstream_request"].as_bool().expect("bool");
        for v in c["upstream_times"].as_array().expect("times") {
            let v = v.as_str().expect("time");
            let got = values::parse_upstream_times(v.as_bytes()).sum.is_some();
            ck.eq(
                &format!("agent v2 upstream request {v:?}"),
                "has a time",
                got,
                want,
            );
        }
    }
    ck.done();
}

/// Entry count behind the agent's mean of an upstream timing (its `.count` metric).
fn t_count(t: &Value, case: &str, key: &str) -> f64 {
    let c = t["TestAccessLogStats"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == case)
        .expect("case");
    let name = format!("nginx.{key}.count");
    c["expected_simplemetrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["name"] == name.as_str())
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_else(|| panic!("{name}"))
}

// ---------------------------------------------------------------------------------------------
// Datadog integrations-core: pipeline samples with expected attributes.

fn yaml_str(v: &serde_yaml::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    match cur {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn yaml_f64(v: &serde_yaml::Value, path: &[&str]) -> Option<f64> {
    yaml_str(v, path)?.parse().ok()
}

fn datadog_sample(ck: &mut Check, file: &str, i: usize, spec: Option<&str>, t: &serde_yaml::Value) {
    let sample = t["sample"].as_str().expect("sample");
    let res = &t["result"];
    let ctx = format!("datadog {file} sample {i}: {sample}");
    ck.eq(
        &ctx,
        "result.message",
        res["message"].as_str(),
        Some(sample),
    );
    let ts = res["timestamp"].as_i64().expect("timestamp");
    let c = &res["custom"];
    let Some(spec) = spec else {
        // `I1221 13:00:58.488494 7 controller.go:202] ...`: the ingress controller's own klog
        // output, not an nginx line: malformed for both parsers.
        ck.ok(&ctx, error_line(sample).is_err(), || {
            "must not parse as an error line".into()
        });
        ck.ok(&ctx, access_line(INGRESS, sample).is_err(), || {
            "must not parse as an access line".into()
        });
        return;
    };
    if spec == "error" {
        let r = match error_line(sample) {
            Ok(r) => r,
            Err(e) => return ck.ok(&ctx, false, || format!("rejected: {e}")),
        };
        ck.eq(&ctx, "time", js(&r, "time"), Some(rfc3339(ts / 1000)));
        ck.eq(&ctx, "level", js(&r, "level"), yaml_str(c, &["level"]));
        // Datadog's error.message keeps `pid#tid: *cid ` in front of nginx's message.
        let prefix = format!(
            "{}#{}: *{} ",
            js(&r, "pid").unwrap_or_default(),
            js(&r, "tid").unwrap_or_default(),
            js(&r, "connection").unwrap_or_default()
        );
        let want = yaml_str(c, &["error", "message"]).expect("error.message");
        ck.eq(
            &ctx,
            "message",
            js(&r, "message"),
            want.strip_prefix(&prefix).map(str::to_string),
        );
        ck.eq(
            &ctx,
            "client",
            js(&r, "client"),
            yaml_str(c, &["network", "client", "ip"]),
        );
        ck.eq(&ctx, "host", js(&r, "host"), yaml_str(c, &["host"]));
        ck.eq(&ctx, "server", js(&r, "server"), yaml_str(c, &["server"]));
        if let Some(url) = yaml_str(c, &["http", "url"]) {
            let want = format!(
                "{} {} HTTP/{}",
                yaml_str(c, &["http", "method"]).unwrap_or_default(),
                url,
                yaml_str(c, &["http", "version"]).unwrap_or_default()
            );
            ck.eq(&ctx, "request", js(&r, "request"), Some(want));
            let path = yaml_str(c, &["http", "url_details", "path"]);
            ck.eq(&ctx, "path_label", js(&r, "path_label"), path);
        }
        check_signature(ck, &ctx, &r);
        return;
    }
    let r = match access_line(spec, sample) {
        Ok(r) => r,
        Err(e) => return ck.ok(&ctx, false, || format!("rejected: {e}")),
    };
    ck.eq(
        &ctx,
        "time",
        r.s("time").map(str::to_string),
        Some(rfc3339(ts / 1000)),
    );
    ck.eq(
        &ctx,
        "method",
        r.s("method").map(str::to_string),
        yaml_str(c, &["http", "method"]),
    );
    ck.eq(
        &ctx,
        "status",
        r.status().map(|s| s as f64),
        yaml_f64(c, &["http", "status_code"]),
    );
    ck.eq(
        &ctx,
        "path",
        r.s("path").map(str::to_string),
        yaml_str(c, &["http", "url_details", "path"]),
    );
    let url = yaml_str(c, &["http", "url"]).unwrap_or_default();
    ck.ok(
        &ctx,
        r.raw("request").is_some_and(|q| q.contains(&url)),
        || format!("raw $request lacks {url:?}"),
    );
    let version = yaml_str(c, &["http", "version"]).map(|v| format!("HTTP/{v}"));
    ck.eq(
        &ctx,
        "protocol",
        r.s("protocol").map(str::to_string),
        version,
    );
    ck.eq(
        &ctx,
        "bytes",
        r.n("bytes"),
        yaml_f64(c, &["network", "bytes_written"]),
    );
    ck.eq(
        &ctx,
        "remote_addr",
        r.s("remote_addr").map(str::to_string),
        yaml_str(c, &["network", "client", "ip"]),
    );
    ck.eq(
        &ctx,
        "remote_user",
        r.s("remote_user").map(str::to_string),
        yaml_str(c, &["http", "auth"]),
    );
    if let Some(referer) = yaml_str(c, &["http", "referer"]) {
        ck.eq(
            &ctx,
            "raw $http_referer",
            r.raw("http_referer"),
            Some(referer.as_str()),
        );
    }
    if let Some(ua) = yaml_str(c, &["http", "useragent"]) {
        ck.eq(&ctx, "user_agent", r.s("user_agent"), Some(ua.as_str()));
    }
    if let Some(ns) = yaml_f64(c, &["duration"]) {
        ck.near(&ctx, "request_seconds", r.n("request_seconds"), ns / 1e9);
    }
    if let Some(first) = yaml_f64(c, &["http", "upstream_duration"]) {
        // Datadog keeps the first upstream's time; docs/architecture.md sums the list (`-` skipped). They
        // agree unless several upstreams answered with a time (`0.012, 0.013` -> 0.025 here).
        let raw = r
            .raw("upstream_response_time")
            .unwrap_or_default()
            .to_string();
        let want = if raw == "0.012, 0.013" { 0.025 } else { first };
        ck.ok(&ctx, raw.starts_with(&first.to_string()), || {
            format!("raw $upstream_response_time {raw:?}")
        });
        ck.near(
            &ctx,
            "upstream_response_time sum",
            upstream_sum(Some(&raw)),
            want,
        );
        let status = r.raw("upstream_status").unwrap_or_default();
        ck.eq(
            &ctx,
            "first $upstream_status",
            status
                .split(", ")
                .next()
                .and_then(|s| s.parse::<f64>().ok()),
            yaml_f64(c, &["http", "upstream_status_code"]),
        );
        let bytes_read = yaml_f64(c, &["network", "bytes_read"]);
        let len = r.raw("upstream_response_length").unwrap_or_default();
        ck.eq(
            &ctx,
            "first $upstream_response_length",
            len.split(", ").next().and_then(|s| s.parse().ok()),
            bytes_read,
        );
    }
}

#[test]
fn datadog_pipeline_samples() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("datadog");
    for (file, specs) in [
        (
            "datadog-integrations-core/nginx/nginx_tests.yaml",
            // Common log format, main, main + trailing text, error, error, custom format.
            vec![Some(COMMON), Some("main"), Some("main"), Some("error"), Some("error"), Some(DD_REQUEST_TIME)],
        ),
        (
            "datadog-integrations-core/nginx_ingress_controller/nginx-ingress-controller_tests.yaml",
            vec![
                Some(INGRESS_REAL_IP),
                Some(INGRESS_OLD),
                Some("error"),
                Some("error"),
                None,
                Some(INGRESS_REAL_IP_NO_REQ_ID),
                Some(INGRESS_REAL_IP),
                Some(INGRESS_REAL_IP),
                Some(INGRESS_REAL_IP),
                Some(INGRESS_REAL_IP_ALT),
                Some(INGRESS),
            ],
        ),
    ] {
        let y = read_yaml(&dir, file);
        let tests = y["tests"].as_sequence().expect("tests");
        assert_eq!(tests.len(), specs.len(), "{file}");
        for (i, (t, spec)) in tests.iter().zip(specs).enumerate() {
            datadog_sample(&mut ck, file, i, spec, t);
        }
    }
    // Datadog accepts `"-" those are random characters` after the last field of `main`; so do
    // we: text after the format's last literal is ignored (nginx appends nothing there, but a
    // format extended at the end still reads with the old one).
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// lnav: its `report-access-log` over 1000 lines of real production traffic (`main` format).

/// lnav's byte display: decimal units, one decimal.
fn lnav_bytes(b: f64) -> String {
    if b < 1000.0 {
        format!("{b:.1} B")
    } else if b < 1e6 {
        format!("{:.1}KB", b / 1e3)
    } else {
        format!("{:.1}MB", b / 1e6)
    }
}

/// Rows of the markdown table under `## title`.
fn md_table<'a>(report: &'a str, title: &str) -> Vec<Vec<&'a str>> {
    let start = report
        .find(&format!("## {title}\n"))
        .unwrap_or_else(|| panic!("section {title}"));
    report[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn lnav_access_log_report() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("lnav");
    let data = read(&dir, "lnav/logfile_shop_access_log.0");
    let report = read_str(
        &dir,
        "lnav/test_scripts.sh_361492d777ead4b66c51da1fcb4d54256a18cb66.out",
    );
    let run = run_file("main", false, &data);
    let recs = &run.recs;
    let dash = |k: &str| {
        let line = report
            .lines()
            .find(|l| l.starts_with("* ") && l.contains(k))
            .unwrap_or_else(|| panic!("{k}"));
        line[2..].split(' ').next().expect("number").to_string()
    };
    ck.eq(
        "lnav",
        "total requests",
        recs.len().to_string(),
        dash("Total requests"),
    );
    ck.eq(
        "lnav",
        "invalid requests",
        run.sum.malformed.to_string(),
        dash("Total invalid requests"),
    );
    let visitor = |r: &Value| (js(r, "remote_addr"), js(r, "user_agent"));
    let visitors: BTreeSet<_> = recs.iter().map(visitor).collect();
    ck.eq(
        "lnav",
        "unique visitors (address, agent)",
        visitors.len().to_string(),
        dash("Unique visitors"),
    );
    let paths: BTreeSet<_> = recs.iter().filter_map(|r| js(r, "path")).collect();
    ck.eq(
        "lnav",
        "requested files (distinct paths)",
        paths.len().to_string(),
        dash("Requested files"),
    );
    let not_found: BTreeSet<_> = recs
        .iter()
        .filter(|r| r["status"] == 404)
        .filter_map(|r| js(r, "path"))
        .collect();
    ck.eq(
        "lnav",
        "not found (distinct 404 paths)",
        not_found.len().to_string(),
        dash("Not found"),
    );
    let bytes =
        |rs: &mut dyn Iterator<Item = &Value>| rs.filter_map(|r| r["bytes"].as_f64()).sum::<f64>();
    ck.eq(
        "lnav",
        "Tx. amount",
        lnav_bytes(bytes(&mut recs.iter())),
        dash("Tx. amount"),
    );
    ck.eq(
        "lnav",
        "times",
        recs.iter()
            .all(|r| js(r, "time").is_some_and(|t| t.starts_with("2019-01-2"))),
        true,
    );
    for row in md_table(&report, "HTTP Status Codes") {
        let class = row[4].as_bytes()[0] - b'0';
        let sel: Vec<&Value> = recs
            .iter()
            .filter(|r| {
                r["status"]
                    .as_u64()
                    .is_some_and(|s| s / 100 == u64::from(class))
            })
            .collect();
        let ctx = format!("lnav status {}", row[4]);
        ck.eq(&ctx, "hits", sel.len().to_string(), row[0].to_string());
        let vis: BTreeSet<_> = sel.iter().map(|r| visitor(r)).collect();
        ck.eq(&ctx, "visitors", vis.len().to_string(), row[2].to_string());
        ck.eq(
            &ctx,
            "Tx",
            lnav_bytes(bytes(&mut sel.iter().copied())),
            row[3].to_string(),
        );
    }
    for row in md_table(&report, "Visitor IPs") {
        let sel: Vec<&Value> = recs
            .iter()
            .filter(|r| js(r, "remote_addr").as_deref() == Some(row[4]))
            .collect();
        let ctx = format!("lnav visitor {}", row[4]);
        ck.eq(&ctx, "hits", sel.len().to_string(), row[0].to_string());
        ck.eq(
            &ctx,
            "Tx",
            lnav_bytes(bytes(&mut sel.iter().copied())),
            row[3].to_string(),
        );
    }
    for row in md_table(&report, "Requested files") {
        let sel: Vec<&Value> = recs
            .iter()
            .filter(|r| {
                js(r, "path").as_deref() == Some(row[6])
                    && js(r, "method").as_deref() == Some(row[4])
            })
            .collect();
        let ctx = format!("lnav file {} {}", row[4], row[6]);
        ck.eq(&ctx, "hits", sel.len().to_string(), row[0].to_string());
        ck.ok(
            &ctx,
            sel.iter()
                .all(|r| js(r, "protocol").as_deref() == Some(row[5])),
            || "protocol".into(),
        );
        ck.eq(
            &ctx,
            "Tx",
            lnav_bytes(bytes(&mut sel.iter().copied())),
            row[3].to_string(),
        );
    }
    for row in md_table(&report, "Referring Sites") {
        let host = |r: &Value| {
            let re = js(r, "referer")?;
            let rest = re.split_once("://")?.1;
            Some(rest.split('/').next()?.to_string())
        };
        let hits = recs
            .iter()
            .filter(|r| host(r).as_deref() == Some(row[4]))
            .count();
        ck.eq(
            &format!("lnav referrer {}", row[4]),
            "hits",
            hits.to_string(),
            row[0].to_string(),
        );
    }
    ck.done();
}

// ---------------------------------------------------------------------------------------------
// Every log in the corpus through the format it was written with: no panic, exact counts.

#[test]
fn every_corpus_log_has_the_expected_counts() {
    let dir = corpus_or_skip!();
    let mut ck = Check::new("every log");
    // (file, format, error log?, parsed, malformed, continuation). The counts are what is right
    // for the file, worked out from its content (comments, blank lines, journal prefixes and
    // lines of the other log kind are malformed; a multi-line FastCGI message is a continuation).
    // In an error log a line that does not start an event is a continuation only while the
    // previous event's message is still open (FastCGI's `stderr: "...` whose closing quote comes
    // lines later). An access line, a `# comment` or a journal line after a complete event is a
    // line in another format and must be counted as malformed, not swallowed as a continuation
    // (it would then never reach `nginxlog_lines_malformed_total`).
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool, u64, u64, u64)] = &[
        ("crowdsec-hub/nginx-bad-user-agent/nginx-bad-user-agent.log", "combined", false, 3, 0, 0),
        ("crowdsec-hub/nginx-cve-2021-41773/cve-2021-41773.log", HOST_MAIN, false, 2, 0, 0),
        ("crowdsec-hub/nginx-http-backdoor/nginx-http-backdoor.log", "combined", false, 2, 0, 0),
        ("crowdsec-hub/nginx-http-generic-bf/nginx-http-generic-bf.log", "combined", false, 6, 16, 0),
        ("crowdsec-hub/nginx-http-generic-bf/nginx-http-generic-bf.log", "combined", true, 16, 6, 0),
        ("crowdsec-hub/nginx-http-malformed/nginx_http-logs.log", "combined", false, 12, 0, 0),
        ("crowdsec-hub/nginx-http-open-proxy/nginx-http-open-proxy.log", "combined", false, 2, 0, 0),
        ("crowdsec-hub/nginx-http-path-traversal/nginx-http-path-traversal.log", "combined", false, 9, 0, 0),
        ("crowdsec-hub/nginx-http-sensitive-files/nginx-http-sensitive-files.log", "combined", false, 9, 0, 0),
        ("crowdsec-hub/nginx-http-sqli-probing/nginx-http-sqli-probing.log", "combined", false, 16, 0, 0),
        ("crowdsec-hub/nginx-http-w00twoot/nginx-http-w00twoot.log", "combined", false, 2, 0, 0),
        ("crowdsec-hub/nginx-http-xss-probing/nginx-http-xss-probing.log", "combined", false, 26, 0, 0),
        ("crowdsec-hub/nginx-mail-bf/nginx-mail-bf.log", "combined", true, 11, 0, 0),
        ("crowdsec-hub/nginx-mail-logs/nginx-mail-logs.log", "combined", true, 15, 2, 0),
        ("crowdsec-hub/nginx-mail-logs/nginx-mail-logs.log", "combined", false, 2, 15, 0),
        ("crowdsec-hub/nginx-proxy-manager-logs/nginx-proxy-manager-logs.log", NPM_PROXY, false, 6, 8, 0),
        ("crowdsec-hub/nginx-proxy-manager-logs/nginx-proxy-manager-logs.log", NPM_STANDARD, false, 5, 9, 0),
        ("crowdsec-hub/nginx-proxy-manager-logs/nginx-proxy-manager-logs.log", "combined", false, 1, 13, 0),
        ("crowdsec-hub/nginx-proxy-manager-logs/nginx-proxy-manager-logs.log", "combined", true, 2, 12, 0),
        ("crowdsec-hub/nginx-proxy-manager-malformed/nginx_http-logs.log", "combined", false, 12, 0, 0),
        ("crowdsec-hub/nginx_http-catch-npm/nginx_http-catch-npm.log", CATCH_NPM, false, 4, 2, 0),
        // 4 plain + 3 host-prefixed lines parse (the prefix stays in $remote_addr); the line
        // without `- $remote_user` and the error line do not.
        ("crowdsec-hub/nginx_http-logs/nginx_http-logs.log", "combined", false, 7, 2, 0),
        ("crowdsec-hub/nginx_http-logs/nginx_http-logs.log", "combined", true, 1, 8, 0),
        ("crowdsec-hub/nginx_req_limit_exceeded/nginx_req_limit_exceeded.log", "combined", true, 9, 0, 0),
        ("fail2ban/nginx-bad-request", "main", false, 8, 15, 0),
        ("fail2ban/nginx-botsearch", "main", false, 8, 35, 0),
        ("fail2ban/nginx-botsearch", "main", true, 4, 39, 0),
        ("fail2ban/nginx-forbidden", "combined", true, 2, 3, 0),
        ("fail2ban/nginx-http-auth", "combined", true, 16, 33, 0),
        ("fail2ban/nginx-limit-req", "combined", true, 8, 21, 0),
        ("elastic-beats/access/access.log", "combined", false, 14, 0, 0),
        ("elastic-beats/access/test-with-host.log", HOST_COMBINED, false, 10, 0, 0),
        ("elastic-beats/access/test.log", "combined", false, 10, 1, 0),
        ("elastic-beats/error/error.log", "combined", true, 4, 0, 2),
        ("elastic-beats/ingress_controller/test.log", INGRESS, false, 29, 0, 0),
        ("opensearch-catalog/raw.log", "main", false, 1408, 0, 0),
        ("lnav/logfile_shop_access_log.0", "main", false, 1000, 0, 0),
        ("nginx-agent/v3-accesslog-testdata/test-access.log", "AGENT_V3", false, 15, 0, 0),
    ];
    let agent_v3 = log_format_directive(&read_str(
        &dir,
        "nginx-agent/v3-accesslog-testdata/default.conf",
    ));
    let mut seen = BTreeSet::new();
    let mut lines_total = 0usize;
    for &(file, spec, error, parsed, malformed, continuation) in cases {
        let spec = if spec == "AGENT_V3" {
            agent_v3.as_str()
        } else {
            spec
        };
        let data = read(&dir, file);
        lines_total += lines_of(&data).len();
        let run = run_file(spec, error, &data);
        let kind = if error { "error log" } else { "access log" };
        let label = if spec.len() > 20 { &spec[..20] } else { spec };
        let ctx = format!("{file} as {kind} ({label}...)");
        ck.eq(
            &ctx,
            "parsed, malformed, continuation",
            (run.sum.parsed, run.sum.malformed, run.sum.continuation),
            (parsed, malformed, continuation),
        );
        ck.eq(
            &ctx,
            "every line accounted for",
            (parsed + malformed + continuation) as usize,
            lines_of(&data).len(),
        );
        if error {
            for r in &run.recs {
                let c = format!("{ctx} line {}", r["line"]);
                check_signature(&mut ck, &c, r);
            }
        }
        seen.insert(file);
    }
    // Every log file in the corpus is covered above.
    let mut missing = Vec::new();
    for sub in [
        "crowdsec-hub",
        "fail2ban",
        "elastic-beats",
        "opensearch-catalog",
        "lnav",
        "nginx-agent",
    ] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p
                    .strip_prefix(&dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .replace('\\', "/");
                let is_log = rel.ends_with(".log")
                    || rel.starts_with("fail2ban/")
                    || rel.ends_with("access_log.0");
                if is_log && !seen.contains(rel.as_str()) {
                    missing.push(rel);
                }
            }
        }
    }
    ck.eq(
        "corpus",
        "log files without an expectation",
        missing,
        Vec::<String>::new(),
    );
    println!("every log: {} files, {lines_total} lines", seen.len());
    ck.done();
}
