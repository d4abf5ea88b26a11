//! nginx's configuration as nginx reads it: tokens, includes, `nginx -T` dumps, directive
//! contexts, the effective value of a directive in a location, and which location serves a URI.
//!
//! `doctor` (and the live config checks) build on it. Only what changes the meaning of a WebSocket
//! location is modelled; everything else is kept as directives with their file and line.

pub(crate) mod directives;
pub(crate) mod effective;
pub(crate) mod lexer;
pub mod load;
pub(crate) mod locations;

pub use load::{load, Source};
pub(crate) use load::{load_rooted, Config, ConfigError, Directive};
use std::path::{Path, PathBuf};

/// Where the sidecar reads `--nginx-config`: nginx's own path, re-rooted under
/// `--nginx-root-prefix` unless it already lies there.
pub(crate) fn config_path(p: &Path, root: Option<&Path>) -> PathBuf {
    match root {
        Some(r) if p.is_absolute() && !p.starts_with(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        _ => p.to_path_buf(),
    }
}
