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
