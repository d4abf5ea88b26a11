//! nginxlog-sidecar: turns nginx access and error logs into Prometheus metrics, with WebSocket
//! upgrade outcomes per path as the headline.
//!
//! One pipeline serves every mode: [`lines`] frames bytes, [`format`] and [`error_log`] parse,
//! [`classify`] turns a line into a compact event, and a sink consumes events ([`metrics`] for the
//! live registry).

pub mod access;
pub mod backfill;
pub mod classify;
pub mod cli;
pub mod compare;
pub mod doctor;
pub mod error_log;
pub mod format;
pub mod healthcheck;
pub mod history;
pub mod lines;
pub mod metrics;
pub mod nginx_conf;
pub mod parse_cmd;
pub mod pipeline;
pub mod redact;
pub mod replace_file;
pub mod report;
pub mod route;
pub mod run;
pub mod server;
pub mod signature;
pub mod sources;
pub mod synth;
pub mod tail;
pub mod values;
