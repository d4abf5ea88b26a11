//! nginx's configuration as nginx reads it: tokens, includes, `nginx -T` dumps, directive
//! contexts, the effective value of a directive in a location, and which location serves a URI.
//!
//! `doctor` (and the live config checks) build on it. Only what changes the meaning of a WebSocket
//! location is modelled; everything else is kept as directives with their file and line.

pub(crate) mod directives;
pub mod effective;
pub mod lexer;
pub mod load;
pub mod locations;

pub use load::{load, load_rooted, Config, ConfigError, Directive, Misplaced, Source};
use std::path::{Path, PathBuf};

/// Where the sidecar reads `--nginx-config`: nginx's own path, re-rooted under
/// `--nginx-root-prefix` unless it already lies there.
pub fn config_path(p: &Path, root: Option<&Path>) -> PathBuf {
    match root {
        Some(r) if p.is_absolute() && !p.starts_with(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        _ => p.to_path_buf(),
    }
}
