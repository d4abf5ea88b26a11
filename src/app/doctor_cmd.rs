//! `nginxlog-sidecar doctor`: its flags turned into `doctor::Options`.

use crate::app::cli::DoctorArgs;
use crate::classify::ClassifyConfig;
use crate::doctor;
use std::process::ExitCode;

/// Runs `doctor` with the flags given.
pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let explicit = |format: &str| args.classify.classifier(format);
    doctor::run(&doctor::Options {
        config: &args.config,
        nginx_root_prefix: args.nginx_root_prefix.as_deref(),
        access_log: &args.access_log,
        error_log: &args.error_log,
        json: args.format == "json",
        log_format: args.log_format.as_deref(),
        nginx_version: args.nginx_version.as_deref(),
        classify: ClassifyConfig {
            ws_path_prefixes: args.classify.ws_path_prefix.clone(),
            routes: args.classify.route.clone(),
            max_paths: args.classify.max_paths,
        },
        regex: args.classify.regex.is_some(),
        max_line_bytes: args.classify.max_line_bytes,
        explicit: &explicit,
    })
}
