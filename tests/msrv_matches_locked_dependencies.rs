//! The declared `rust-version` must be at least what every locked dependency of the build
//! declares, so users of an older toolchain get cargo's clear "requires rustc X" message
//! instead of a compile error deep inside a dependency. Read from `cargo metadata`; only the
//! dependencies a release build compiles on Linux count (dev-dependencies do not).

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

fn version(v: &str) -> (u64, u64, u64) {
    let mut it = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

#[test]
fn declared_rust_version_covers_the_locked_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let packages: HashMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let root = meta["resolve"]["root"].as_str().expect("root package");
    let declared = packages[root]["rust_version"]
        .as_str()
        .expect("Cargo.toml declares rust-version");
    // Walk normal and build dependencies from the root.
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let kinds = dep["dep_kinds"].as_array().cloned().unwrap_or_default();
            let built = kinds.iter().any(|k| k["kind"].as_str() != Some("dev"));
            if built {
                if let Some(d) = dep["pkg"].as_str() {
                    todo.push(d);
                }
            }
        }
    }
    assert!(
        seen.len() > 20,
        "too few dependencies found: {}",
        seen.len()
    );
    let mut too_new = Vec::new();
    let mut max = (0, 0, 0);
    for id in &seen {
        if let Some(rv) = packages[id]["rust_version"].as_str() {
            let v = version(rv);
            max = max.max(v);
            if v > version(declared) {
                too_new.push(format!(
                    "{} {} needs {rv}",
                    packages[id]["name"], packages[id]["version"]
                ));
            }
        }
    }
    assert!(
        too_new.is_empty(),
        "Cargo.toml declares rust-version {declared}, but locked dependencies need more:\n{}",
        too_new.join("\n")
    );
    eprintln!(
        "rust-version {declared}; highest of {} dependencies: {max:?}",
        seen.len()
    );
}
