//! The Grafana dashboards (`dashboards/`) and Prometheus rules (`alerts/`) are part of the
//! product, so they are tested like code:
//!
//! - dashboard JSON: valid, stable and unique `uid`s, current schema, the datasource / job /
//!   instance / path variables, unique panel ids, `gridPos` rectangles inside the 24-column grid
//!   and not overlapping, a unit and a description on every panel, every query through the
//!   `${datasource}` variable;
//! - every PromQL expression (dashboard panels and variables, with Grafana's variables replaced
//!   by sample values, and every rule) parses, and every metric it names is one the sidecar
//!   exports (histograms through `_bucket`/`_sum`/`_count`), a recording rule of
//!   `alerts/nginxlog-rules.yml`, or `up`; the exported names are checked against the registry
//!   that serves `/metrics`;
//! - `promtool check rules` and `promtool test rules alerts/tests/*.yml` pass, and the dashboard
//!   queries pass `promtool check rules` too. Without promtool this test fails: install Debian's
//!   `prometheus` package (`.ci/run` does).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nginxlog_sidecar::classify::route::PathLabels;
use nginxlog_sidecar::sink::metrics::{Buckets, Metrics};
use promql_parser::parser::{self, Expr, VectorSelector};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_json::Value;

/// Dashboard files and the `uid` each must keep (links and bookmarks use it).
const DASHBOARDS: &[(&str, &str)] = &[
    ("nginxlog-websocket.json", "nginxlog-websocket"),
    ("nginxlog-http.json", "nginxlog-http"),
    ("nginxlog-sidecar-health.json", "nginxlog-sidecar-health"),
];

/// The metric contract of docs/architecture.md: name and type.
const CONTRACT: &[(&str, &str)] = &[
    ("nginxlog_http_requests_total", "counter"),
    ("nginxlog_http_request_duration_seconds", "histogram"),
    ("nginxlog_http_response_bytes_total", "counter"),
    ("nginxlog_ws_upgrade_requests_total", "counter"),
    ("nginxlog_ws_handshake_duration_seconds", "histogram"),
    ("nginxlog_ws_session_duration_seconds", "histogram"),
    ("nginxlog_error_events_total", "counter"),
    ("nginxlog_lines_read_total", "counter"),
    ("nginxlog_lines_malformed_total", "counter"),
    ("nginxlog_log_rotations_total", "counter"),
    ("nginxlog_lines_lost_total", "counter"),
    ("nginxlog_open_files", "gauge"),
    ("nginxlog_log_last_event_timestamp_seconds", "gauge"),
    ("nginxlog_path_overflow_total", "counter"),
    ("nginxlog_series_dropped_total", "counter"),
    ("nginxlog_syslog_dropped_total", "counter"),
    ("nginxlog_build_info", "gauge"),
    // Served with --nginx-config.
    ("nginxlog_config_findings", "gauge"),
    ("nginxlog_config_finding_info", "gauge"),
    ("nginxlog_config_last_read_timestamp_seconds", "gauge"),
    ("nginxlog_config_read_errors_total", "counter"),
    // Served by run's metrics server (not by run --once).
    ("nginxlog_web_connections", "gauge"),
    ("nginxlog_web_connections_evicted_total", "counter"),
    ("nginxlog_web_connections_refused_total", "counter"),
];

const RULES: &str = "alerts/nginxlog-rules.yml";
/// Every alert's runbook_url is this plus the anchor of a README heading named after the alert.
const RUNBOOK_BASE: &str =
    "https://github.com/nginxlog-sidecar/nginxlog-sidecar/blob/main/README.md#";

/// Alerts that must exist.
const ALERTS: &[&str] = &[
    "NginxWebSocketUpgrade403Spike",
    "NginxWebSocketUpgradeSuccessLow",
    "NginxWebSocketHandshakeSlow",
    "NginxUpstreamErrors",
    "NginxLogSidecarStale",
    "NginxLogMalformedLines",
    "NginxLogPathOverflow",
    "NginxWebSocketConfigBroken",
    "NginxLogSyslogDrops",
    "NginxLogSeriesBudgetExhausted",
    "NginxLogLinesLost",
    "NginxLogMetricsServerFull",
];

/// Grafana unit ids the dashboards may use (a subset of Grafana's own list).
const GRAFANA_UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "s",
    "ms",
    "reqps",
    "ops",
    "cps",
    "bytes",
    "decbytes",
    "Bps",
    "dateTimeAsIso",
];

/// Sample values for Grafana's variables, as the issue asks: enough to make a valid query.
const SAMPLE_VALUES: &[(&str, &str)] = &[
    ("job", ".*"),
    ("instance", ".*"),
    ("path", ".*"),
    ("log", ".*"),
    ("compare_offset", "1h"),
    ("__rate_interval", "5m"),
    ("__interval", "1m"),
    ("__interval_ms", "60000"),
    ("__range", "1h"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn load_dashboard(file: &str) -> Value {
    let rel = format!("dashboards/{file}");
    serde_json::from_str(&read(&rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// Every panel, rows included, with the panels nested in collapsed rows.
fn panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(inner) = p.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

fn is_row(p: &Value) -> bool {
    p["type"] == "row"
}

fn title(p: &Value) -> String {
    format!("panel {} {:?}", p["id"], p["title"].as_str().unwrap_or(""))
}

fn variables(d: &Value) -> Vec<&Value> {
    d["templating"]["list"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default()
}

fn variable<'a>(d: &'a Value, name: &str) -> Option<&'a Value> {
    variables(d).into_iter().find(|v| v["name"] == name)
}

/// Replaces Grafana's `$name`, `${name}` and `${name:format}` with sample values. Fails on a
/// variable it has no value for, so a typo or an undefined variable cannot slip through.
fn substitute(expr: &str) -> Result<String, String> {
    let values: BTreeMap<&str, &str> = SAMPLE_VALUES.iter().copied().collect();
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {expr}"))?;
            let inner = &braced[..end];
            (inner.split(':').next().unwrap_or(""), end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = values
            .get(name)
            .ok_or_else(|| format!("no sample value for variable ${name} in {expr}"))?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    if out.contains("[[") {
        return Err(format!("deprecated [[var]] syntax in {expr}"));
    }
    Ok(out)
}

/// Variable names a Grafana expression refers to.
fn referenced_variables(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let name: String = after
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name);
        rest = after;
    }
    names
}

/// Metric names selected anywhere in an expression.
#[derive(Default)]
struct Selectors {
    names: Vec<String>,
    unnamed: usize,
}

impl Selectors {
    fn add(&mut self, vs: &VectorSelector) {
        match &vs.name {
            Some(n) => self.names.push(n.clone()),
            None => self.unnamed += 1,
        }
    }
}

impl ExprVisitor for Selectors {
    type Error = Infallible;
    fn pre_visit(&mut self, e: &Expr) -> Result<bool, Infallible> {
        match e {
            Expr::VectorSelector(vs) => self.add(vs),
            Expr::MatrixSelector(ms) => self.add(&ms.vs),
            _ => {}
        }
        Ok(true)
    }
}

/// Parses a PromQL expression and returns the metric names it selects.
fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    let ast = parser::parse(expr).map_err(|e| format!("does not parse: {e}\n  query: {expr}"))?;
    let mut v = Selectors::default();
    walk_expr(&mut v, &ast).expect("infallible");
    if v.unnamed > 0 {
        return Err(format!("selector without a metric name in {expr}"));
    }
    Ok(v.names)
}

/// Names a query may use: the contract (histograms through their series suffixes), the
/// recording rules, and `up`.
fn allowed_names(records: &BTreeSet<String>) -> BTreeSet<String> {
    let mut ok: BTreeSet<String> = records.clone();
    ok.insert("up".into());
    for (name, kind) in CONTRACT {
        if *kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                ok.insert(format!("{name}{suffix}"));
            }
        } else {
            ok.insert((*name).into());
        }
    }
    ok
}

struct Rule {
    group: String,
    record: Option<String>,
    alert: Option<String>,
    expr: String,
    raw: serde_yaml::Value,
}

fn rules() -> Vec<Rule> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&read(RULES)).unwrap_or_else(|e| panic!("{RULES}: {e}"));
    let mut out = Vec::new();
    for g in doc["groups"].as_sequence().expect("groups") {
        let group = g["name"].as_str().expect("group name").to_string();
        for r in g["rules"].as_sequence().expect("rules") {
            out.push(Rule {
                group: group.clone(),
                record: r["record"].as_str().map(str::to_string),
                alert: r["alert"].as_str().map(str::to_string),
                expr: r["expr"].as_str().expect("expr is a string").to_string(),
                raw: r.clone(),
            });
        }
    }
    out
}

fn recording_names() -> BTreeSet<String> {
    rules().into_iter().filter_map(|r| r.record).collect()
}

/// Every PromQL expression in the dashboards, after substitution, with where it came from.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (file, _) in DASHBOARDS {
        let d = load_dashboard(file);
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let raw = t["expr"].as_str().unwrap_or_default();
                let q = substitute(raw).unwrap_or_else(|e| panic!("{file} {}: {e}", title(p)));
                out.push((format!("{file} {} ref {}", title(p), t["refId"]), q));
            }
        }
        for v in variables(&d) {
            if v["type"] != "query" {
                continue;
            }
            let def = v["definition"].as_str().unwrap_or_default();
            // label_values(SELECTOR, label): the selector is PromQL.
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{file} variable {}: unexpected query {def}", v["name"]));
            if let Some((selector, _label)) = inner.rsplit_once(',') {
                let q = substitute(selector.trim()).unwrap_or_else(|e| panic!("{file}: {e}"));
                out.push((format!("{file} variable {}", v["name"]), q));
            }
            let query_text = v["query"]["query"].as_str().unwrap_or(def);
            assert_eq!(
                query_text, def,
                "{file} variable {}: query and definition differ",
                v["name"]
            );
        }
    }
    out
}

#[test]
fn dashboards_have_stable_unique_uids_current_schema_and_variables() {
    let mut uids = BTreeSet::new();
    for (file, uid) in DASHBOARDS {
        let d = load_dashboard(file);
        assert_eq!(d["uid"], *uid, "{file}: the uid is stable, links use it");
        assert!(uids.insert(d["uid"].to_string()), "{file}: uid used twice");
        assert!(
            uid.len() <= 40,
            "{file}: Grafana uids are at most 40 characters"
        );
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        assert!(schema >= 39, "{file}: schemaVersion {schema} < 39");
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
        assert!(
            d["id"].is_null(),
            "{file}: id must be null so imports do not clash"
        );

        let ds =
            variable(&d, "datasource").unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(ds["type"], "datasource", "{file}: datasource variable type");
        assert_eq!(
            ds["query"], "prometheus",
            "{file}: datasource variable plugin"
        );
        let mut wanted = vec!["job", "instance"];
        if *file != "nginxlog-sidecar-health.json" {
            wanted.push("path");
        }
        for name in wanted {
            let v = variable(&d, name).unwrap_or_else(|| panic!("{file}: no {name} variable"));
            assert_eq!(v["type"], "query", "{file}: {name} variable type");
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{file}: {name} variable datasource"
            );
            assert_eq!(v["includeAll"], true, "{file}: {name} offers All");
            assert_eq!(
                v["allValue"], ".*",
                "{file}: {name} All is .* so =~ matches every value"
            );
        }
        let mut names = BTreeSet::new();
        for v in variables(&d) {
            let n = v["name"].as_str().expect("variable name");
            assert!(
                names.insert(n.to_string()),
                "{file}: variable {n} defined twice"
            );
        }
    }
    let ws = load_dashboard("nginxlog-websocket.json");
    let offset = variable(&ws, "compare_offset").expect("compare_offset variable");
    assert_eq!(offset["type"], "custom");
    let choices: Vec<&str> = offset["query"]
        .as_str()
        .expect("query")
        .split(',')
        .map(str::trim)
        .collect();
    for want in ["1h", "1d", "7d"] {
        assert!(
            choices.contains(&want),
            "compare_offset offers {want}: {choices:?}"
        );
    }
}

#[test]
fn panels_have_unique_ids_units_descriptions_datasource_and_do_not_overlap() {
    for (file, _) in DASHBOARDS {
        let d = load_dashboard(file);
        let all = panels(&d);
        assert!(all.len() > 5, "{file}: suspiciously few panels");
        let mut ids = BTreeSet::new();
        let mut rects: Vec<(String, [i64; 4])> = Vec::new();
        for p in &all {
            let name = title(p);
            let id = p["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{file} {name}: no numeric id"));
            assert!(ids.insert(id), "{file}: panel id {id} used twice");
            assert!(
                p["title"].as_str().is_some_and(|t| !t.is_empty()),
                "{file} {name}: title"
            );
            let desc = p["description"].as_str().unwrap_or_default();
            assert!(
                desc.len() >= 40,
                "{file} {name}: needs a description saying what it means and what to do"
            );

            let g = &p["gridPos"];
            let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
                g[k].as_i64()
                    .unwrap_or_else(|| panic!("{file} {name}: gridPos.{k}"))
            });
            assert!(
                w > 0 && h > 0 && x >= 0 && y >= 0,
                "{file} {name}: gridPos {g}"
            );
            assert!(x + w <= 24, "{file} {name}: wider than the 24-column grid");
            for (other, [ox, oy, ow, oh]) in &rects {
                let overlap = x < ox + ow && ox < &(x + w) && y < oy + oh && oy < &(y + h);
                assert!(!overlap, "{file}: {name} overlaps {other}");
            }
            rects.push((name.clone(), [x, y, w, h]));

            if is_row(p) {
                assert!(
                    p.get("targets").is_none(),
                    "{file} {name}: a row has no queries"
                );
                continue;
            }
            let unit = p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default();
            assert!(
                GRAFANA_UNITS.contains(&unit),
                "{file} {name}: unit {unit:?} is not one of {GRAFANA_UNITS:?}"
            );
            assert_eq!(
                p["datasource"]["type"], "prometheus",
                "{file} {name}: datasource type"
            );
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{file} {name}: datasource variable"
            );
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{file} {name}: no targets"));
            assert!(!targets.is_empty(), "{file} {name}: no targets");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{file} {name}: target datasource"
                );
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{file} {name}: empty expr"
                );
                let r = t["refId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file} {name}: refId"));
                assert!(refs.insert(r.to_string()), "{file} {name}: refId {r} twice");
            }
        }
    }
}

#[test]
fn dashboard_variables_used_are_defined() {
    for (file, _) in DASHBOARDS {
        let d = load_dashboard(file);
        let defined: BTreeSet<String> = variables(&d)
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .collect();
        let mut texts: Vec<String> = Vec::new();
        for p in panels(&d) {
            texts.push(p["title"].as_str().unwrap_or_default().to_string());
            for t in p["targets"].as_array().into_iter().flatten() {
                texts.push(t["expr"].as_str().unwrap_or_default().to_string());
            }
        }
        for v in variables(&d) {
            texts.push(v["definition"].as_str().unwrap_or_default().to_string());
        }
        for text in texts {
            for name in referenced_variables(&text) {
                assert!(
                    name.starts_with("__") || defined.contains(&name),
                    "{file}: ${name} is used but not defined (in {text})"
                );
            }
        }
    }
}

#[test]
fn dashboard_queries_parse_and_use_exported_metrics() {
    let allowed = allowed_names(&recording_names());
    let mut used = BTreeSet::new();
    let queries = dashboard_queries();
    assert!(
        queries.len() > 40,
        "only {} dashboard queries found",
        queries.len()
    );
    for (origin, q) in &queries {
        let names = metric_names(q).unwrap_or_else(|e| panic!("{origin}: {e}"));
        assert!(!names.is_empty(), "{origin}: selects no metric: {q}");
        for n in names {
            assert!(
                allowed.contains(&n),
                "{origin}: unknown metric {n} (not exported by the sidecar)"
            );
            used.insert(n);
        }
    }
    // Every exported metric is on some dashboard.
    for (name, _) in CONTRACT {
        assert!(
            used.iter()
                .any(|u| u == name || u.strip_prefix(name).is_some_and(|s| s.starts_with('_'))),
            "no dashboard shows {name}"
        );
    }
}

#[test]
fn rules_parse_use_exported_metrics_and_carry_severity_and_runbook() {
    let rules = rules();
    let records = recording_names();
    let allowed = allowed_names(&records);
    let readme_anchors = markdown_anchors(&read("README.md"));
    let mut alerts = BTreeSet::new();
    for r in &rules {
        let what = r
            .record
            .clone()
            .or_else(|| r.alert.clone())
            .expect("record or alert");
        let names = metric_names(&r.expr).unwrap_or_else(|e| panic!("{RULES} {what}: {e}"));
        for n in names {
            assert!(allowed.contains(&n), "{RULES} {what}: unknown metric {n}");
        }
        if let Some(rec) = &r.record {
            assert_eq!(
                rec.split(':').count(),
                3,
                "{rec}: recording rules are named level:metric:operations"
            );
            assert!(
                rec.starts_with("nginxlog:"),
                "{rec}: recording rules start with nginxlog:"
            );
        }
        if let Some(alert) = &r.alert {
            alerts.insert(alert.clone());
            assert_eq!(
                r.group, "nginxlog-alerts",
                "{alert}: alerts live in the nginxlog-alerts group"
            );
            let sev = r.raw["labels"]["severity"].as_str().unwrap_or_default();
            assert!(
                ["critical", "warning", "info"].contains(&sev),
                "{alert}: severity {sev:?}"
            );
            for key in ["summary", "description"] {
                let text = r.raw["annotations"][key].as_str().unwrap_or_default();
                assert!(
                    text.len() > 20,
                    "{alert}: annotation {key} missing or too short"
                );
            }
            let runbook = r.raw["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_default();
            let anchor = runbook.strip_prefix(RUNBOOK_BASE).unwrap_or_else(|| {
                panic!("{alert}: runbook_url {runbook:?} must start with {RUNBOOK_BASE}")
            });
            assert!(
                readme_anchors.contains(anchor),
                "{alert}: runbook_url anchor #{anchor} is not a heading of README.md"
            );
            assert_eq!(
                anchor,
                github_anchor(alert),
                "{alert}: runbook_url should point at the README section named after the alert"
            );
            assert!(
                r.raw["for"].as_str().is_some(),
                "{alert}: needs a for: duration"
            );
            // Traffic alerts sum over instances; only the sidecar's own health keeps them.
            let health = alert.starts_with("NginxLog");
            if !health {
                assert!(
                    !r.expr.contains("instance") && !r.expr.contains("job"),
                    "{alert}: traffic alerts aggregate job and instance away"
                );
            }
        }
    }
    for want in ALERTS {
        assert!(
            alerts.contains(*want),
            "alert {want} is missing from {RULES}"
        );
    }
    for want in [
        "nginxlog:ws_upgrade_success_ratio:rate5m",
        "nginxlog:ws_upgrade_403_ratio:rate5m",
        "nginxlog:ws_handshake_duration_seconds:p95_rate5m",
    ] {
        assert!(records.contains(want), "recording rule {want} is missing");
    }
}

/// The anchor GitHub gives a Markdown heading: lowercase, spaces become `-`, punctuation other
/// than `-` and `_` is dropped.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Anchors of the ATX headings of a Markdown text (fenced code blocks skipped), with GitHub's
/// `-1`, `-2`, ... suffixes for repeated headings.
fn markdown_anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || line.starts_with(' ') {
            continue;
        }
        let hashes = t.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !t[hashes..].starts_with(' ') {
            continue;
        }
        let base = github_anchor(t[hashes..].trim().trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

#[test]
fn github_anchors_follow_githubs_rules() {
    assert_eq!(
        github_anchor("NginxWebSocketUpgrade403Spike"),
        "nginxwebsocketupgrade403spike"
    );
    assert_eq!(
        github_anchor("403 on /ws/ while plain HTTPS works"),
        "403-on-ws-while-plain-https-works"
    );
    assert_eq!(
        github_anchor("Troubleshooting: 403 on /ws/ while HTTPS works"),
        "troubleshooting-403-on-ws-while-https-works"
    );
    assert_eq!(github_anchor("`--max_paths` (a-b)"), "--max_paths-a-b");
    let md = "# T\n## A b\n```sh\n# not a heading\n```\n## A b\n#nope\n";
    let got = markdown_anchors(md);
    let want: BTreeSet<String> = ["t", "a-b", "a-b-1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn contract_names_match_the_registry_behind_metrics() {
    let labels = PathLabels::new(&[], 200).expect("path labels");
    let metrics = Metrics::new("nginxlog", Buckets::default());
    let mut out = String::new();
    metrics.render(&labels, "test", &mut out);
    // The config families, as a sidecar with --nginx-config appends them.
    let cfg = nginxlog_sidecar::nginx_conf::load(&nginxlog_sidecar::nginx_conf::Source::Bytes {
        name: "nginx.conf".into(),
        data: b"http { server { location /ws/ { proxy_pass http://b; } } }".to_vec(),
    })
    .expect("config parses");
    nginxlog_sidecar::app::nginx_config::LiveConfig::new(
        "nginx.conf",
        None,
        None,
        vec!["/ws/".into()],
        false,
        cfg,
    )
    .render("nginxlog", &mut out);
    // The server's connection families, as run's server appends them to every scrape.
    nginxlog_sidecar::app::web_server::Registry::new(4).render("nginxlog", &mut out);
    let exported: BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, k)| (n.to_string(), k.trim().to_string()))
        .collect();
    let contract: BTreeMap<String, String> = CONTRACT
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    assert_eq!(
        exported, contract,
        "the metric families /metrics serves differ from the names the dashboards and rules use"
    );
}

fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PROMTOOL={} is not a file", p.display());
        return p;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("promtool"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/promtool")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool not found on PATH or at /usr/bin/promtool: the alert rules cannot be \
                 checked. Install it (Debian: apt-get install prometheus; .ci/run does) or set \
                 PROMTOOL=/path/to/promtool. This test does not pass without it."
            )
        })
}

fn run_promtool(args: &[&Path]) -> (bool, String) {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running promtool: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let (ok, text) = run_promtool(&[Path::new("check"), Path::new("rules"), Path::new(RULES)]);
    assert!(ok, "promtool check rules {RULES} failed:\n{text}");

    let mut tests: Vec<PathBuf> = fs::read_dir(root().join("alerts/tests"))
        .expect("alerts/tests")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no promtool unit tests in alerts/tests");
    let mut args: Vec<&Path> = vec![Path::new("test"), Path::new("rules")];
    args.extend(tests.iter().map(PathBuf::as_path));
    let (ok, text) = run_promtool(&args);
    assert!(ok, "promtool test rules failed:\n{text}");
    assert_eq!(
        text.matches("SUCCESS").count(),
        tests.len(),
        "every unit-test file reports SUCCESS:\n{text}"
    );
}

#[test]
fn promtool_accepts_every_dashboard_query() {
    // Prometheus's own parser has the last word: every panel query goes into a throwaway rule
    // file that promtool checks.
    let mut yaml = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    for (i, (origin, q)) in dashboard_queries().iter().enumerate() {
        yaml.push_str(&format!(
            "      # {}\n      - record: dashboard_query_{i}\n        expr: {}\n",
            origin.replace('\n', " "),
            serde_json::to_string(q).expect("json string is a yaml string")
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dashboard-queries.yml");
    fs::write(&file, yaml).expect("write");
    let (ok, text) = run_promtool(&[Path::new("check"), Path::new("rules"), &file]);
    assert!(ok, "promtool rejects a dashboard query:\n{text}");
}

#[test]
fn grafana_provisioning_points_at_the_dashboards() {
    let ds: serde_yaml::Value =
        serde_yaml::from_str(&read("dashboards/provisioning/datasources/prometheus.yml"))
            .expect("yaml");
    assert_eq!(ds["apiVersion"], serde_yaml::Value::from(1));
    assert_eq!(ds["datasources"][0]["type"].as_str(), Some("prometheus"));
    let prov: serde_yaml::Value =
        serde_yaml::from_str(&read("dashboards/provisioning/dashboards/nginxlog.yml"))
            .expect("yaml");
    let p = &prov["providers"][0];
    assert_eq!(p["type"].as_str(), Some("file"));
    assert_eq!(
        p["options"]["path"].as_str(),
        Some("/var/lib/grafana/dashboards/nginxlog")
    );
}

#[test]
fn substitution_rejects_unknown_variables() {
    assert_eq!(
        substitute("rate(x{path=~\"$path\"}[$__rate_interval] offset ${compare_offset})").unwrap(),
        "rate(x{path=~\".*\"}[5m] offset 1h)"
    );
    assert!(substitute("x{a=\"$nope\"}").is_err());
    assert!(metric_names("sum(rate(x[5m])").is_err());
    assert_eq!(
        metric_names("a / on() max_over_time(b[5m:1m])").unwrap_or_default(),
        ["a", "b"]
    );
}
