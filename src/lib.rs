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
//! Everything is `pub(crate)` unless something outside the library needs it. The binary needs
//! [`app`] (its flags and subcommand drivers). The integration tests, benches and examples drive
//! the stages directly, to hold them to real logs, real nginx configs and the golden exposition
//! without a process in between: [`framing`], [`parse`], [`classify`], [`pipeline`], [`sink`],
//! [`nginx_conf`], [`synth`] (generated traffic) and parts of [`app`] (the live config, the web
//! config, the connection registry, `parse`'s driver). Within those, `pub` marks what those users
//! name and what the signatures of those items need (the [`pipeline::Sink`] trait and its
//! `Origin`, `Event`, `Counted` and `Notice` behind `Pipeline`, for one); the rest is
//! `pub(crate)`. `source`, `report`, `doctor` and `replace_file` are reached only through the
//! subcommands, so they are crate-private (the nginx version type `LiveConfig::new` takes is
//! re-exported by [`app::nginx_config`]). A new item starts `pub(crate)`; `unreachable_pub` (an
//! error under clippy's `-D warnings`) flags a `pub` that nothing outside can reach, such as one
//! inside a crate-private module that no public signature exposes.

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
