//! Records the git revision for `nginxlog_build_info{revision}`: `GIT_REVISION` when set
//! (a container build without `.git` can pass it), else `git rev-parse` of this checkout, else
//! `unknown`. Never fails the build.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// A missing file would make cargo rerun this script (and rebuild the crate) every time.
fn watch(f: &Path) {
    if f.exists() {
        println!("cargo:rerun-if-changed={}", f.display());
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let from_env = std::env::var("GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty());
    // Only this checkout's revision: a source tree copied inside another repository is not it.
    let top = git(&dir, &["rev-parse", "--show-toplevel"]);
    let ours =
        top.is_some_and(|t| std::fs::canonicalize(t).ok() == std::fs::canonicalize(&dir).ok());
    let revision = from_env
        .or_else(|| {
            if !ours {
                return None;
            }
            for p in ["HEAD", "packed-refs"] {
                if let Some(f) = git(&dir, &["rev-parse", "--git-path", p]) {
                    watch(&dir.join(f));
                }
            }
            if let Some(r) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
                if let Some(f) = git(&dir, &["rev-parse", "--git-path", &r]) {
                    watch(&dir.join(f));
                }
            }
            git(&dir, &["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_string());
    // Label-safe: a revision is hex, an override is kept to a plain token.
    let revision: String = revision
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        .take(64)
        .collect();
    println!("cargo:rustc-env=NGINXLOG_REVISION={revision}");
}
