//! The subcommands' wiring: command-line types, `run` (sources, pipeline, HTTP server),
//! `parse`, and the healthcheck client.

pub mod cli;
pub mod healthcheck;
pub mod parse_cmd;
pub mod run;
pub mod scrape;
pub mod server;
