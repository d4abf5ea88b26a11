//! nginxlog-sidecar: turns nginx access and error logs into Prometheus metrics, with WebSocket
//! upgrade outcomes per path as the headline.
//!
//! The folders are the stages, in the order data flows through them, and each depends only on
//! the ones before it: `source` yields bytes, [`framing`] cuts them into lines, [`parse`] and
//! [`classify`] turn a line into a compact event, [`pipeline`] drives those stages into a sink,
//! [`sink`] consumes events (the live registry, backfill, compare), and `report` renders
//! `compare`'s result. [`app`] wires the subcommands; [`nginx_conf`] and `doctor` read nginx's
//! configuration.
//!
//! # Public face
//!
//! Everything is `pub(crate)` unless something outside the library uses it. The binary needs
//! [`app`] (its flags and subcommand drivers). The integration tests and benches drive the
//! stages directly, to hold them to real logs, real nginx configs and the golden exposition
//! without a process in between: [`framing`], [`parse`], [`classify`], [`pipeline`], [`sink`],
//! [`nginx_conf`] and [`synth`] (generated traffic). Within those only the items they name are
//! `pub`. `source`, `report`, `doctor` and `replace_file` are reached only through the binary's
//! subcommands, so they stay crate-private. A new item starts `pub(crate)`; `unreachable_pub`
//! (an error under clippy's `-D warnings`) flags a `pub` that the crate root does not reach,
//! such as one inside a crate-private module.

#![warn(unreachable_pub)]

/// The sidecar's version, reported in `nginxlog_build_info` and in reports.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) mod source;

pub mod framing;

pub mod parse;

pub mod classify;

pub mod pipeline;

pub mod sink;

pub(crate) mod report;

pub mod app;

pub(crate) mod doctor;
pub mod nginx_conf;
pub(crate) mod replace_file;
pub mod synth;
