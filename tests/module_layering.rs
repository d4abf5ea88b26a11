//! The stage folders depend on each other in one direction only (docs/architecture.md, "Stage
//! folders"): a module may name modules of its own stage or of a stage listed before it, and no
//! two files may name each other, directly or around a loop. The check reads the sources: every
//! `crate::a::b` path outside comments (in `use` lines and inline), `crate::{a, b::c}` groups
//! included, resolved to the file that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The dependency order, lowest first. A top-level module may depend only on modules of earlier
/// entries (and on itself). Sources come after the pipeline because they drive it: a source
/// frames its bytes and feeds a `Pipeline` over any `Sink`.
const LAYERS: &[&[&str]] = &[
    &["replace_file"],
    &["framing"],
    &["parse"],
    &["classify"],
    &["pipeline", "synth"],
    &["source"],
    &["sink"],
    &["report"],
    &["nginx_conf"],
    &["doctor"],
    &["app"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src/a/b.rs` -> `a::b`, `src/a/mod.rs` -> `a`, `src/x.rs` -> `x`.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] || parts.is_empty() {
        return None;
    }
    Some(parts.join("::"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments (line comments and doc comments; `//` inside strings such as
/// URLs is kept when a quote precedes it on the line) and without its unit tests (a trailing
/// `#[cfg(test)] mod tests`), which may use whatever they check against.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod tests"))
        {
            break;
        }
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let cut = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(cut);
        out.push('\n');
    }
    out
}

/// Every path written after `crate::`, as its segments (`crate::{a::b, c}` gives `a::b` and
/// `c`; nested groups are cut at the brace, which is enough to name the file).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `$crate::` in a macro, or an identifier ending in "crate"
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = group.len();
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let inner = &group[..end];
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(segments(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
        } else {
            out.push(segments(rest));
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn segments(s: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut cur = s.trim_start();
    loop {
        let n = cur
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(cur.len());
        if n == 0 {
            break;
        }
        v.push(cur[..n].to_string());
        match cur[n..].strip_prefix("::") {
            Some(r) if r.starts_with(|c: char| c.is_alphanumeric() || c == '_') => cur = r,
            _ => break,
        }
    }
    v
}

/// The longest module (file) a path names.
fn resolve(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// module -> modules it names (files only, itself excluded).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let by_module: BTreeMap<String, PathBuf> = files
        .iter()
        .filter_map(|f| Some((module_of(f)?, f.clone())))
        .collect();
    let modules: BTreeSet<String> = by_module.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (m, f) in &by_module {
        let text = std::fs::read_to_string(f).expect("read source");
        let deps: BTreeSet<String> = crate_paths(&code(&text))
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|d| d != m)
            .collect();
        g.insert(m.clone(), deps);
    }
    g
}

#[test]
fn every_top_level_module_has_a_layer() {
    let g = graph();
    let missing: BTreeSet<&str> = g
        .keys()
        .map(|m| top(m))
        .filter(|t| layer(t).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "add these to LAYERS (and to docs/architecture.md): {missing:?}"
    );
}

#[test]
fn stages_depend_only_on_earlier_stages() {
    let g = graph();
    let mut wrong = Vec::new();
    for (m, deps) in &g {
        let (Some(from), t) = (layer(top(m)), top(m)) else {
            continue;
        };
        for d in deps {
            if top(d) == t {
                continue;
            }
            if layer(top(d)).is_none_or(|to| to >= from) {
                wrong.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the stage order {LAYERS:?}:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_cycles() {
    let g = graph();
    // Depth-first search; a back edge is a cycle, reported as the loop of modules.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let mut c = stack[i..].to_vec();
            c.push(m.to_string());
            cycles.push(c.join(" -> "));
            return;
        }
        if done.contains(m) {
            return;
        }
        stack.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            visit(d, g, stack, done, cycles);
        }
        stack.pop();
        done.insert(m.to_string());
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(m, &g, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths() {
    let c = code(
        "use crate::a::{b, c};\nuse crate::{d::e, f::{g, h}};\n// crate::zz\nlet x = crate::i::j(1); // crate::yy\n#[cfg(test)]\nmod tests {\n    use crate::k;\n}\n",
    );
    let p: Vec<String> = crate_paths(&c).iter().map(|s| s.join("::")).collect();
    assert_eq!(p, ["a", "d::e", "f", "i::j"]);
}
