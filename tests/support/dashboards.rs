//! The Grafana dashboards' queries, for tests that run them: every panel target and every
//! `label_values(...)` query variable of `dashboards/*.json`, with Grafana's variables replaced
//! by the values a test chooses (the same `$name` / `${name}` / `${name:format}` rules as
//! `tests/dashboards_alerts.rs`, which checks the queries statically).
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

/// The dashboard files.
pub const DASHBOARD_FILES: &[&str] = &[
    "nginxlog-websocket.json",
    "nginxlog-http.json",
    "nginxlog-sidecar-health.json",
];

/// One query of a panel.
#[derive(Debug, Clone)]
pub struct Target {
    /// `file panel <id> "<title>" ref <refId>`, for messages.
    pub origin: String,
    pub file: &'static str,
    pub panel_id: i64,
    pub ref_id: String,
    /// The expression as written in the dashboard (variables not replaced).
    pub expr: String,
    /// Grafana runs it as an instant query.
    pub instant: bool,
    /// Grafana runs it as a range query.
    pub range: bool,
}

/// A `label_values(SELECTOR, LABEL)` query variable.
#[derive(Debug, Clone)]
pub struct VariableQuery {
    pub file: &'static str,
    pub name: String,
    /// The selector as written (variables not replaced).
    pub selector: String,
    pub label: String,
}

fn load(file: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("dashboards")
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every panel target of every dashboard (panels inside rows included).
pub fn targets() -> Vec<Target> {
    fn walk(file: &'static str, list: &Value, out: &mut Vec<Target>) {
        for p in list.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                let panel_id = p["id"].as_i64().unwrap_or(-1);
                let ref_id = t["refId"].as_str().unwrap_or("?").to_string();
                out.push(Target {
                    origin: format!(
                        "{file} panel {panel_id} {:?} ref {ref_id}",
                        p["title"].as_str().unwrap_or("")
                    ),
                    file,
                    panel_id,
                    ref_id,
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                    instant: t["instant"].as_bool().unwrap_or(false),
                    range: t["range"].as_bool().unwrap_or(true),
                });
            }
            if let Some(inner) = p.get("panels") {
                walk(file, inner, out);
            }
        }
    }
    let mut out = Vec::new();
    for file in DASHBOARD_FILES {
        walk(file, &load(file)["panels"], &mut out);
    }
    out
}

/// Every `label_values(SELECTOR, LABEL)` query variable of every dashboard.
pub fn variable_queries() -> Vec<VariableQuery> {
    let mut out = Vec::new();
    for file in DASHBOARD_FILES {
        let d = load(file);
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] != "query" {
                continue;
            }
            let name = v["name"].as_str().unwrap_or_default().to_string();
            let def = v["definition"].as_str().unwrap_or_default();
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{file} variable {name}: unexpected query {def}"));
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("{file} variable {name}: no selector in {def}"));
            out.push(VariableQuery {
                file,
                name,
                selector: selector.trim().to_string(),
                label: label.trim().to_string(),
            });
        }
    }
    out
}

/// Replaces Grafana's `$name`, `${name}` and `${name:format}` with `values`. Fails on a
/// variable without a value, so an undefined variable cannot slip through.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {expr}"))?;
            (braced[..end].split(':').next().unwrap_or(""), end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("no value for variable ${name} in {expr}"))?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}
