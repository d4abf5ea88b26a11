//! The subcommands' wiring: command-line types, `run` (sources, pipeline, HTTP server),
//! `parse`, and the healthcheck client.

pub mod cli;
pub mod flags;
pub mod healthcheck;
pub mod listen;
pub mod nginx_config;
pub mod parse_cmd;
pub mod run;
pub mod scrape;
pub mod server;
pub mod status;
pub mod web_config;
pub mod web_server;
