//! The subcommands' wiring: command-line types, `run` (sources, pipeline, HTTP server),
//! `parse`, and the healthcheck client.

pub mod backfill_cmd;
pub mod cli;
pub mod compare_cmd;
pub mod doctor_cmd;
pub mod flags;
pub mod healthcheck;
pub(crate) mod listen;
pub mod nginx_config;
pub mod parse_cmd;
pub mod run;
pub(crate) mod scrape;
pub(crate) mod server;
pub(crate) mod status;
pub mod web_config;
pub mod web_server;

/// The live sidecar's pipeline: the sources feed it, the HTTP server renders its registry.
/// Here, above `run` and `server`, so neither has to import the other for it.
pub(crate) type Shared = crate::pipeline::Shared<crate::sink::metrics::Metrics>;
