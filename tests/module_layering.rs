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

/// The source as code only: comments (line, doc and block) removed, string and char literal
/// contents blanked (so a `"crate::x"` or a `'{'` neither counts as a path nor upsets brace
/// matching), and the bodies of `#[cfg(test)] mod ...` removed wherever they appear: unit tests
/// may use whatever they check against, and code after them is still scanned.
fn code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            // Block comments nest in Rust.
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if text[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if text[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            out.push(' ');
            i = j;
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let open = 2 + hashes; // r, hashes, quote
            let body = &rest[open..];
            let len = body.find(&close).map_or(body.len(), |k| k + close.len());
            out.push_str("\"\"");
            out.extend(body[..len].chars().filter(|&c| c == '\n'));
            i += open + len;
        } else if rest.starts_with('"') {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            out.extend(text[i..j.min(b.len())].chars().filter(|&c| c == '\n'));
            i = (j + 1).min(b.len());
        } else if let Some(lit) = rest.strip_prefix('\'') {
            // A char literal ('x', '\n', '\'', '\u{7f}'), else a lifetime or label.
            let mut chars = lit.char_indices();
            let len = match (chars.next(), chars.next()) {
                (Some((_, '\\')), _) => lit.get(2..).and_then(|t| t.find('\'')).map(|k| k + 4),
                (Some(_), Some((k, '\''))) => Some(k + 2),
                _ => None,
            };
            match len {
                Some(n) => {
                    out.push_str("' '");
                    i += n;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    skip_test_modules(&out)
}

/// `r"`, `r#"`, `br##"`...: the number of hashes, when a raw string starts here.
fn raw_string_start(s: &str) -> Option<usize> {
    let s = s.strip_prefix('b').unwrap_or(s);
    let s = s.strip_prefix('r')?;
    let hashes = s.len() - s.trim_start_matches('#').len();
    s[hashes..].starts_with('"').then_some(hashes)
}

/// Removes `#[cfg(test)] mod name { ... }` (and `#[cfg(test)] mod name;`), keeping the rest.
/// Runs on code whose comments and literals are already gone, so braces balance.
fn skip_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let Some(m) = item.strip_prefix("mod ") else {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        };
        let name_end = m.find(['{', ';']).unwrap_or(m.len());
        let body = &m[name_end..];
        rest = if body.starts_with('{') {
            let mut depth = 0usize;
            let mut end = body.len();
            for (j, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            &body[end..]
        } else {
            body.get(1..).unwrap_or("")
        };
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that starts with `crate::`, `super::` or `self::`, or (for the child modules the
/// caller names) with `child::`, expanded through `{...}` groups, as written: `crate::a::{b,
/// c::{d, self}}` gives `crate::a::b`, `crate::a::c::d` and `crate::a::c`. A `*` glob ends the
/// path at the module it globs.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let Some(c) = rest.chars().next() else { break };
        if !is_ident(c) {
            i += c.len_utf8();
            continue;
        }
        let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let word = &rest[..n];
        let before = code[..i].trim_end();
        let starts_path = !(before.ends_with("::") || before.ends_with('$'))
            && rest[n..].starts_with("::")
            && (matches!(word, "crate" | "super" | "self") || children.contains(word));
        if starts_path {
            let mut tree = Vec::new();
            let used = use_tree(rest, &mut Vec::new(), &mut tree);
            out.extend(tree);
            i += used.max(n);
        } else {
            i += n;
        }
    }
    out
}

/// Parses one use tree (`a::b`, `a::{b, c::d}`, `a::*`) from the start of `s`, pushing each
/// full path (prefix included) to `out`; returns the bytes read.
fn use_tree(s: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let depth0 = prefix.len();
    let mut i = s.len() - s.trim_start().len();
    loop {
        let rest = &s[i..];
        if let Some(group) = rest.strip_prefix('{') {
            i += 1;
            let mut g = group;
            loop {
                let lead = g.len() - g.trim_start_matches([' ', '\n', '\t', '\r', ',']).len();
                i += lead;
                g = &g[lead..];
                if g.is_empty() {
                    break;
                }
                if let Some(r) = g.strip_prefix('}') {
                    i += 1;
                    let _ = r;
                    break;
                }
                let used = use_tree(g, prefix, out);
                if used == 0 {
                    // Not a path item (e.g. stray punctuation): step over one char.
                    let step = g.chars().next().map_or(1, char::len_utf8);
                    i += step;
                    g = &g[step..];
                } else {
                    i += used;
                    g = &g[used..];
                }
            }
            prefix.truncate(depth0);
            return i;
        }
        if rest.starts_with('*') {
            out.push(prefix.clone());
            prefix.truncate(depth0);
            return i + 1;
        }
        let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if n == 0 {
            if prefix.len() > depth0 {
                out.push(prefix.clone());
            }
            prefix.truncate(depth0);
            return i;
        }
        let word = &rest[..n];
        if word != "self" || prefix.is_empty() {
            prefix.push(word.to_string());
        }
        i += n;
        match s[i..].strip_prefix("::") {
            Some(_) => i += 2,
            None => {
                out.push(prefix.clone());
                prefix.truncate(depth0);
                return i;
            }
        }
    }
}

/// A path as written in module `m`, made absolute (segments from the crate root). `None` for
/// a `super` above the crate root.
fn absolute(m: &str, path: &[String], children: &BTreeSet<String>) -> Option<Vec<String>> {
    let here: Vec<String> = m.split("::").map(str::to_string).collect();
    let first = path.first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" | "super" => here.clone(),
        c if children.contains(c) => here.clone(),
        _ => return None,
    };
    let mut rest = path;
    if first == "crate" || first == "self" {
        rest = &rest[1..];
    }
    while let Some(("super", r)) = rest.split_first().map(|(a, r)| (a.as_str(), r)) {
        base.pop()?;
        rest = r;
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
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

/// The crate's sources: module path -> text.
fn sources() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .iter()
        .filter_map(|f| {
            let m = module_of(f)?;
            Some((m, std::fs::read_to_string(f).expect("read source")))
        })
        .collect()
}

/// module -> modules (files) it names, itself excluded.
fn graph_of(sources: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (m, text) in sources {
        let prefix = format!("{m}::");
        let children: BTreeSet<String> = modules
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix))
            .filter(|c| !c.contains("::"))
            .map(str::to_string)
            .collect();
        let deps: BTreeSet<String> = paths(&code(text), &children)
            .iter()
            .filter_map(|p| absolute(m, p, &children))
            .filter_map(|p| resolve(&p, &modules))
            .filter(|d| d != m)
            .collect();
        g.insert(m.clone(), deps);
    }
    g
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    graph_of(&sources())
}

/// Every loop of modules, found as back edges of a depth-first search.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
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
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(m, g, &mut Vec::new(), &mut done, &mut found);
    }
    found
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

/// Known loops, as the edge that closes them (from, to), to be removed, not added to: the
/// doctor's renderer reads `Report`/`Severity` from `doctor/mod.rs`, which calls the renderer.
/// Moving those types to a leaf file removes the loop (and then this entry must go: the test
/// fails while an entry names an edge that no longer exists).
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[];

#[test]
fn no_module_cycles() {
    let mut g = graph();
    for (from, to) in KNOWN_BACK_EDGES {
        let removed = g.get_mut(*from).is_some_and(|d| d.remove(*to));
        assert!(
            removed,
            "KNOWN_BACK_EDGES lists {from} -> {to}, which is gone: drop the entry"
        );
    }
    let found = cycles(&g);
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths() {
    let c = code(concat!(
        "use crate::a::{b, c};\nuse crate::{d::e, f::{g, h}};\n// crate::zz\n",
        "let x = crate::i::j(1); /* crate::yy */ let s = \"crate::ww\"; let q = '{'; let e = '\\''; let r = r#\"crate::vv\"#;\n",
        "#[cfg(test)]\nmod tests {\n    use crate::k;\n    fn f() { let _ = '}'; }\n}\n",
        "use crate::l::{self, M};\n",
    ));
    let p: Vec<String> = paths(&c, &BTreeSet::new())
        .iter()
        .map(|s| s.join("::"))
        .collect();
    assert_eq!(
        p,
        [
            "crate::a::b",
            "crate::a::c",
            "crate::d::e",
            "crate::f::g",
            "crate::f::h",
            "crate::i::j",
            "crate::l",
            "crate::l::M"
        ]
    );
}

fn fixture(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect()
}

fn set(ms: &[&str]) -> BTreeSet<String> {
    ms.iter().map(|m| m.to_string()).collect()
}

/// Two files of one folder naming each other through `super::` (one inside a nested group,
/// one after a test module) are a cycle; imports inside a test module are not.
#[test]
fn the_cycle_check_sees_super_paths_and_groups() {
    let parent = ("x", "mod a;\nmod b;\nmod model;\npub use a::*;\n");
    let a = ("x::a", "use super::{b::{g, h}, model::T};\nfn f() {}\n");
    let model = ("x::model", "pub struct T;\n");
    let b = "#[cfg(test)]\nmod tests {\n    use super::*;\n}\nfn g() { self::super::a::f() }\n";
    let g = graph_of(&fixture(&[parent, a, ("x::b", b), model]));
    assert_eq!(g["x"], set(&["x::a"]));
    assert_eq!(g["x::a"], set(&["x::b", "x::model"]));
    assert_eq!(g["x::b"], set(&["x::a"]));
    assert_eq!(cycles(&g), ["x::a -> x::b -> x::a"]);

    let b = "#[cfg(test)]\nmod tests {\n    use super::super::a::f;\n}\nuse super::model::T;\n";
    let g = graph_of(&fixture(&[parent, a, ("x::b", b), model]));
    assert_eq!(g["x::b"], set(&["x::model"]));
    assert!(cycles(&g).is_empty(), "{g:?}");

    // A child importing from its parent while the parent re-exports the child.
    let a = ("x::a", "use super::Item;\n");
    let g = graph_of(&fixture(&[parent, a, ("x::b", ""), model]));
    assert_eq!(cycles(&g), ["x -> x::a -> x"]);
}
