//! Command line: flags, `NGINXLOG_*` environment variables, subcommands.

use crate::classify::{Classifier, ClassifyConfig};
use crate::framing::DEFAULT_MAX_LINE;
use crate::parse::format::LineFormat;
use crate::sink::metrics::{
    Buckets, DEFAULT_MAX_SERIES, HANDSHAKE_BUCKETS, HTTP_BUCKETS, SESSION_BUCKETS,
};
use crate::source::syslog::SYSLOG_RCVBUF;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Prometheus sidecar for nginx: WebSocket upgrade outcomes, handshake latency, HTTP and
/// error-log metrics from nginx's own logs.
#[derive(Parser, Debug)]
#[command(
    name = "nginxlog-sidecar",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands; without one, `run` is assumed.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Tail access and error logs and serve Prometheus metrics (the default).
    Run(Box<RunArgs>),
    /// Print every line of a log as JSON, to check that a log_format matches before deploying.
    Parse(ParseArgs),
    /// Exit 0 if the sidecar answers on /healthz (for container HEALTHCHECKs without curl).
    Healthcheck(HealthcheckArgs),
    /// Replay historical logs (plain or .gz, any order) into OpenMetrics text with timestamps,
    /// for `promtool tsdb create-blocks-from openmetrics`.
    Backfill(BackfillArgs),
    /// Replay historical logs and report WebSocket upgrade outcomes before vs after a change
    /// (a time split, or two sets of files).
    Compare(CompareArgs),
    /// Read nginx's configuration (and its logs) and name the directive that breaks WebSocket
    /// upgrades, with file, line and the lines to add. Exit 0: no error; 1: errors; 2: the
    /// config cannot be read.
    Doctor(DoctorArgs),
}

/// The access-log format flag of `run`, `parse` and `backfill` (`compare`'s `--format` is the
/// report format there, so it spells this one `--log-format`).
#[derive(Args, Debug, Clone)]
pub struct FormatArg {
    /// Access-log format: `auto` (the first line decides between ws_timing, main, combined and
    /// json), a preset (combined, main, ws_timing, json), a log_format string with $variables,
    /// or a whole `log_format name '...';` directive pasted from nginx.conf.
    #[arg(
        long = "format",
        visible_alias = "log-format",
        env = "NGINXLOG_FORMAT",
        default_value = "auto"
    )]
    pub format: String,
}

/// `--nginx-config` and friends, shared by `run`, `parse`, `backfill` and `compare`.
#[derive(Args, Debug, Clone, Default)]
pub struct NginxConfigArgs {
    /// nginx's configuration (nginx.conf, includes followed, or a saved `nginx -T`): the logs
    /// its access_log/error_log directives name are read, each with its log_format.
    #[arg(long = "nginx-config", env = "NGINXLOG_NGINX_CONFIG")]
    pub(crate) nginx_config: Option<String>,
    /// Where nginx's absolute paths (includes, logs) are mounted here: /etc/nginx/nginx.conf is
    /// read as DIR/etc/nginx/nginx.conf.
    #[arg(
        long = "nginx-root-prefix",
        env = "NGINXLOG_NGINX_ROOT_PREFIX",
        value_name = "DIR"
    )]
    pub(crate) nginx_root_prefix: Option<PathBuf>,
    /// The nginx version the config checks' defaults depend on (default: `nginx -v` on PATH).
    #[arg(long = "nginx-version", env = "NGINXLOG_NGINX_VERSION")]
    pub(crate) nginx_version: Option<String>,
}

/// How lines are parsed and labelled; shared by every mode.
#[derive(Args, Debug, Clone)]
pub struct ClassifyArgs {
    /// Escape hatch: a regex with named groups called after nginx variables (replaces --format).
    #[arg(long, env = "NGINXLOG_REGEX")]
    pub regex: Option<String>,
    /// Paths that mark an upgrade attempt when the format does not log $http_upgrade.
    #[arg(
        long = "ws-path-prefix",
        env = "NGINXLOG_WS_PATH_PREFIX",
        value_delimiter = ',',
        default_value = "/ws/"
    )]
    pub(crate) ws_path_prefix: Vec<String>,
    /// Route patterns for the path label, first match wins: /api/v1/users/:id, /static/*.
    #[arg(long, env = "NGINXLOG_ROUTE", value_delimiter = ',')]
    pub(crate) route: Vec<String>,
    /// Distinct path labels before new paths become __other__ (at least 1).
    #[arg(long, env = "NGINXLOG_MAX_PATHS", default_value_t = 200, value_parser = crate::app::flags::max_paths)]
    pub(crate) max_paths: usize,
    /// Longest line accepted; longer lines are counted as malformed and skipped.
    #[arg(
        long,
        env = "NGINXLOG_MAX_LINE_BYTES",
        default_value_t = DEFAULT_MAX_LINE,
        value_parser = crate::app::flags::max_line_bytes
    )]
    pub max_line_bytes: usize,
}

impl ClassifyArgs {
    /// Compiles `format` (or `--regex`) and builds the classifier, or explains what is wrong.
    pub(crate) fn classifier(&self, format: &str) -> anyhow::Result<Classifier> {
        let cfg = ClassifyConfig {
            ws_path_prefixes: self.ws_path_prefix.clone(),
            routes: self.route.clone(),
            max_paths: self.max_paths,
        };
        if self.regex.is_none() && format.trim() == "auto" {
            return Classifier::auto(&cfg).map_err(|e| anyhow::anyhow!(e));
        }
        let format = match &self.regex {
            Some(re) => LineFormat::compile_regex(re),
            None => LineFormat::compile(format),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Classifier::new(format, &cfg).map_err(|e| anyhow::anyhow!(e))
    }

    /// `format` when the config gave one (`--nginx-config`), else as `ClassifyArgs::classifier`.
    pub fn classifier_or(
        &self,
        from_config: Option<&LineFormat>,
        format: &str,
    ) -> anyhow::Result<Classifier> {
        match from_config {
            Some(f) => Classifier::new(f.clone(), &self.config()).map_err(|e| anyhow::anyhow!(e)),
            None => self.classifier(format),
        }
    }

    /// The classification settings.
    pub(crate) fn config(&self) -> ClassifyConfig {
        ClassifyConfig {
            ws_path_prefixes: self.ws_path_prefix.clone(),
            routes: self.route.clone(),
            max_paths: self.max_paths,
        }
    }
}

/// `run` flags.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Access log to follow: a file, `-` for stdin, or syslog+udp://ADDR:PORT. Repeatable.
    #[arg(
        long = "access-log",
        env = "NGINXLOG_ACCESS_LOG",
        value_delimiter = ','
    )]
    pub(crate) access_log: Vec<String>,
    /// Error log to follow: a file, `-` for stdin, or syslog+udp://ADDR:PORT. Repeatable.
    #[arg(long = "error-log", env = "NGINXLOG_ERROR_LOG", value_delimiter = ',')]
    pub(crate) error_log: Vec<String>,
    #[command(flatten)]
    pub(crate) log_format: FormatArg,
    #[command(flatten)]
    pub(crate) classify: ClassifyArgs,
    #[command(flatten)]
    pub(crate) nginx: NginxConfigArgs,
    /// Address for /metrics, /healthz, /readyz: HOST:PORT, [IPv6]:PORT or :PORT (every
    /// interface). Repeatable, or a comma list in the variable.
    #[arg(
        long = "listen",
        visible_alias = "web.listen-address",
        env = "NGINXLOG_LISTEN",
        value_delimiter = ',',
        default_value = "0.0.0.0:9680",
        value_parser = crate::app::listen::parse
    )]
    pub(crate) listen: Vec<crate::app::listen::ListenAddr>,
    /// Path of the metrics endpoint.
    #[arg(
        long = "web.telemetry-path",
        env = "NGINXLOG_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_parser = crate::app::flags::telemetry_path
    )]
    pub(crate) telemetry_path: String,
    /// TLS and basic auth for every endpoint, in the exporter-toolkit web config format
    /// (tls_server_config, basic_auth_users, http_server_config); re-read when it changes.
    #[arg(long = "web.config.file", env = "NGINXLOG_WEB_CONFIG_FILE")]
    pub(crate) web_config_file: Option<PathBuf>,
    /// Most connections served at once. At the cap a new connection takes the slot of the
    /// oldest idle one (or is closed at once if every slot is serving a request), so a flood of
    /// idle connections cannot lock a scraper out.
    #[arg(
        long = "web.max-connections",
        env = "NGINXLOG_WEB_MAX_CONNECTIONS",
        default_value = "256",
        value_parser = crate::app::flags::max_connections
    )]
    pub(crate) max_connections: usize,
    /// Read the files once to their end, print the metrics to stdout and exit (no server).
    /// For trying the sidecar on a log at hand, e.g. the shipped fixtures.
    #[arg(long)]
    pub once: bool,
    /// Read existing files from the start instead of from their end (env: 1/0, true/false,
    /// yes/no, on/off).
    #[arg(
        long,
        env = "NGINXLOG_FROM_START",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(crate) from_start: bool,
    /// Where to save read positions, so a restart counts lines written meanwhile exactly once.
    #[arg(long, env = "NGINXLOG_STATE_FILE")]
    pub(crate) state_file: Option<PathBuf>,
    /// How often the state file is saved (also saved on shutdown).
    #[arg(long, env = "NGINXLOG_STATE_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub(crate) state_interval: Duration,
    /// Fallback poll interval when no file-change event arrives.
    #[arg(long, env = "NGINXLOG_POLL_INTERVAL", default_value = "250ms", value_parser = parse_poll_interval)]
    pub(crate) poll_interval: Duration,
    /// Metric name prefix: letters, digits and `_`.
    #[arg(long, env = "NGINXLOG_NAMESPACE", default_value = "nginxlog", value_parser = crate::app::flags::namespace)]
    pub(crate) namespace: String,
    /// Series (label sets; a histogram counts its buckets, sum and count) the registry may
    /// hold; lines that would create more are counted in nginxlog_series_dropped_total.
    #[arg(long, env = "NGINXLOG_MAX_SERIES", default_value_t = DEFAULT_MAX_SERIES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) max_series: usize,
    /// Kernel receive buffer (bytes) asked for each syslog socket; the kernel caps it at
    /// net.core.rmem_max.
    #[arg(long, env = "NGINXLOG_SYSLOG_RECEIVE_BUFFER", default_value_t = SYSLOG_RCVBUF, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=(1 << 30)))]
    pub(crate) syslog_receive_buffer: usize,
    /// Bucket bounds (seconds) of the HTTP request-duration histogram, comma-separated.
    #[arg(long, env = "NGINXLOG_HTTP_BUCKETS", value_delimiter = ',', default_values_t = HTTP_BUCKETS.to_vec())]
    pub(crate) http_buckets: Vec<f64>,
    /// Bucket bounds (seconds) of the WebSocket handshake histogram.
    #[arg(long, env = "NGINXLOG_HANDSHAKE_BUCKETS", value_delimiter = ',', default_values_t = HANDSHAKE_BUCKETS.to_vec())]
    pub(crate) handshake_buckets: Vec<f64>,
    /// Bucket bounds (seconds) of the WebSocket session histogram.
    #[arg(long, env = "NGINXLOG_SESSION_BUCKETS", value_delimiter = ',', default_values_t = SESSION_BUCKETS.to_vec())]
    pub(crate) session_buckets: Vec<f64>,
    /// The sidecar's own log output: text or json.
    #[arg(long, env = "NGINXLOG_LOG_STYLE", default_value = "text", value_parser = ["text", "json"])]
    pub log_style: String,
    /// The sidecar's own log level: error, warn, info, debug, trace or off (or directives like
    /// info,nginxlog_sidecar::source::tail=debug).
    #[arg(long, env = "NGINXLOG_LOG_LEVEL", default_value = "info", value_parser = crate::app::flags::log_level)]
    pub log_level: String,
}

impl RunArgs {
    /// Histogram buckets, validated as increasing and positive.
    pub(crate) fn buckets(&self) -> anyhow::Result<Buckets> {
        for (name, b) in [
            ("--http-buckets", &self.http_buckets),
            ("--handshake-buckets", &self.handshake_buckets),
            ("--session-buckets", &self.session_buckets),
        ] {
            if b.is_empty()
                || b.windows(2).any(|w| w[0] >= w[1])
                || b.iter().any(|v| !v.is_finite() || *v <= 0.0)
            {
                anyhow::bail!("{name}: bounds must be positive and strictly increasing, got {b:?}");
            }
        }
        Ok(Buckets {
            http: self.http_buckets.clone(),
            handshake: self.handshake_buckets.clone(),
            session: self.session_buckets.clone(),
        })
    }
}

/// `parse` flags.
#[derive(Args, Debug)]
pub struct ParseArgs {
    #[command(flatten)]
    pub log_format: FormatArg,
    #[command(flatten)]
    pub classify: ClassifyArgs,
    #[command(flatten)]
    pub nginx: NginxConfigArgs,
    /// The input is an nginx error log.
    #[arg(long = "error-log")]
    pub error_log: bool,
    /// Exit with status 1 if any line is malformed.
    #[arg(long)]
    pub strict: bool,
    /// Log file to read, or `-` for stdin.
    pub file: String,
}

/// `healthcheck` flags.
#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// URL to check (default: /healthz on the port of NGINXLOG_LISTEN, else 9680, via 127.0.0.1).
    #[arg(long, env = "NGINXLOG_HEALTHCHECK_URL")]
    pub(crate) url: Option<String>,
    /// The sidecar's listen address, read so the default URL follows a changed port.
    #[arg(
        long,
        env = "NGINXLOG_LISTEN",
        default_value = "0.0.0.0:9680",
        hide = true
    )]
    pub(crate) listen: String,
    /// Give up after this long.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// The sidecar's web config, read so the default URL is https when it configures TLS.
    #[arg(
        long = "web.config.file",
        env = "NGINXLOG_WEB_CONFIG_FILE",
        hide = true
    )]
    pub(crate) web_config_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the sidecar's certificate, for an https URL.
    #[arg(long = "ca-file", env = "NGINXLOG_HEALTHCHECK_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Do not verify the sidecar's certificate (it is on the same host or pod).
    #[arg(
        long,
        env = "NGINXLOG_HEALTHCHECK_INSECURE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(crate) insecure: bool,
    /// Client certificate and key (PEM) when the web config requires client certificates.
    #[arg(
        long = "cert-file",
        env = "NGINXLOG_HEALTHCHECK_CERT_FILE",
        requires = "key_file"
    )]
    pub(crate) cert_file: Option<PathBuf>,
    /// Key of --cert-file.
    #[arg(
        long = "key-file",
        env = "NGINXLOG_HEALTHCHECK_KEY_FILE",
        requires = "cert_file"
    )]
    pub(crate) key_file: Option<PathBuf>,
    /// Basic auth user, when the web config has basic_auth_users.
    #[arg(long, env = "NGINXLOG_HEALTHCHECK_USERNAME")]
    pub(crate) username: Option<String>,
    /// Basic auth password; prefer the variable (a flag shows in `ps`).
    #[arg(
        long,
        env = "NGINXLOG_HEALTHCHECK_PASSWORD",
        hide_env_values = true,
        requires = "username"
    )]
    pub(crate) password: Option<String>,
}

impl HealthcheckArgs {
    /// `--url`, or `/healthz` on the (first) listen port via loopback; https when the web
    /// config sets up TLS.
    pub(crate) fn url(&self) -> String {
        if let Some(u) = &self.url {
            return u.clone();
        }
        let first = self.listen.split(',').next().unwrap_or("").trim();
        let addr = match crate::app::listen::parse(first) {
            Ok(a) => crate::app::listen::loopback_for(&a),
            Err(_) => first.to_string(),
        };
        let tls = self
            .web_config_file
            .as_deref()
            .and_then(|p| crate::app::web_config::WebConfig::load(p).ok())
            .is_some_and(|c| c.tls.is_some());
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{addr}/healthz")
    }
}

/// `backfill` flags.
#[derive(Args, Debug, Clone)]
pub struct BackfillArgs {
    /// Access logs to replay: plain or gzip, rotated files in any order; several after one flag
    /// (`--access-log access.log*`), the flag repeated, or a comma list in the env variable.
    #[arg(
        long = "access-log",
        env = "NGINXLOG_ACCESS_LOG",
        value_delimiter = ',',
        num_args = 1..
    )]
    pub(crate) access_log: Vec<PathBuf>,
    /// Error logs to replay: plain or gzip, rotated files in any order; several after one flag.
    #[arg(long = "error-log", env = "NGINXLOG_ERROR_LOG", value_delimiter = ',', num_args = 1..)]
    pub(crate) error_log: Vec<PathBuf>,
    /// OpenMetrics file to write (`-` for stdout); written to FILE.tmp, renamed when complete.
    #[arg(long, short = 'o', env = "NGINXLOG_BACKFILL_OUTPUT")]
    pub(crate) output: PathBuf,
    /// Sampling interval, like a scrape interval (at least 1s).
    #[arg(long, env = "NGINXLOG_STEP", default_value = "60s", value_parser = parse_duration)]
    pub(crate) step: Duration,
    #[command(flatten)]
    pub(crate) log_format: FormatArg,
    #[command(flatten)]
    pub(crate) classify: ClassifyArgs,
    #[command(flatten)]
    pub(crate) nginx: NginxConfigArgs,
    /// Metric name prefix (must match the live sidecar's for the dashboards).
    #[arg(long, env = "NGINXLOG_NAMESPACE", default_value = "nginxlog", value_parser = crate::app::flags::namespace)]
    pub(crate) namespace: String,
    /// Bucket bounds (seconds) of the HTTP request-duration histogram (as for `run`).
    #[arg(long, env = "NGINXLOG_HTTP_BUCKETS", value_delimiter = ',', default_values_t = HTTP_BUCKETS.to_vec())]
    pub(crate) http_buckets: Vec<f64>,
    /// Bucket bounds (seconds) of the WebSocket handshake histogram (as for `run`).
    #[arg(long, env = "NGINXLOG_HANDSHAKE_BUCKETS", value_delimiter = ',', default_values_t = HANDSHAKE_BUCKETS.to_vec())]
    pub(crate) handshake_buckets: Vec<f64>,
    /// Bucket bounds (seconds) of the WebSocket session histogram (as for `run`).
    #[arg(long, env = "NGINXLOG_SESSION_BUCKETS", value_delimiter = ',', default_values_t = SESSION_BUCKETS.to_vec())]
    pub(crate) session_buckets: Vec<f64>,
    /// Parser threads (default: the number of cores).
    #[arg(long, env = "NGINXLOG_THREADS", value_parser = crate::app::flags::threads)]
    pub(crate) threads: Option<usize>,
    /// A constant label on every series, NAME=VALUE (repeatable): `--label job=nginxlog
    /// --label instance=web-1` puts the past beside the live series in the dashboards.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub(crate) label: Vec<String>,
}

/// `compare` flags.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Access logs to replay, split at --split: plain or gzip, rotated files in any order;
    /// several after one flag (`--access-log access.log*`), or the flag repeated.
    #[arg(
        long = "access-log",
        env = "NGINXLOG_ACCESS_LOG",
        value_delimiter = ',',
        num_args = 1..
    )]
    pub(crate) access_log: Vec<PathBuf>,
    /// Error logs to replay, split at --split; several after one flag.
    #[arg(long = "error-log", env = "NGINXLOG_ERROR_LOG", value_delimiter = ',', num_args = 1..)]
    pub(crate) error_log: Vec<PathBuf>,
    /// The moment of the change: RFC 3339 / $time_iso8601 (2026-11-29T02:16:58Z, +01:00 offsets
    /// too), $time_local as nginx logs it (29/Nov/2026:02:16:58 +0000), `YYYY-MM-DD HH:MM:SS`
    /// (UTC), Unix seconds, or @FILE to read it from a file.
    #[arg(long, env = "NGINXLOG_SPLIT")]
    pub(crate) split: Option<String>,
    /// How much log time on each side of --split is compared.
    #[arg(long, env = "NGINXLOG_WINDOW", default_value = "24h", value_parser = parse_duration)]
    pub(crate) window: Duration,
    /// Access logs from before the change. With --before/--after, --access-log, --error-log
    /// and --split are not used (they may come from NGINXLOG_* variables meant for `run`).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub(crate) before: Vec<PathBuf>,
    /// Access logs from after the change (with --before).
    #[arg(long, value_delimiter = ',', num_args = 1.., requires = "before")]
    pub(crate) after: Vec<PathBuf>,
    /// Error logs from before the change (with --before).
    #[arg(long = "before-error-log", value_delimiter = ',', num_args = 1.., requires = "before")]
    pub(crate) before_error_log: Vec<PathBuf>,
    /// Error logs from after the change (with --before).
    #[arg(long = "after-error-log", value_delimiter = ',', num_args = 1.., requires = "before")]
    pub(crate) after_error_log: Vec<PathBuf>,
    /// Report format: table (aligned for a terminal), markdown, json (docs/compare-json-schema.md)
    /// or html (one self-contained file with SVG charts). A log format given here instead (a
    /// preset other than json, or a log_format string) is taken as --log-format.
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Report format, when --format is used for the log format (also --output-format).
    #[arg(
        long = "report-format",
        visible_alias = "output-format",
        env = "NGINXLOG_REPORT_FORMAT",
        value_parser = REPORT_FORMATS
    )]
    pub(crate) report_format: Option<String>,
    /// Access-log format, as `run`'s --format (default auto: detected from the first line).
    #[arg(long = "log-format", env = "NGINXLOG_FORMAT")]
    pub(crate) log_format: Option<String>,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o')]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) classify: ClassifyArgs,
    #[command(flatten)]
    pub(crate) nginx: NginxConfigArgs,
    /// Parser threads (default: the number of cores).
    #[arg(long, env = "NGINXLOG_THREADS", value_parser = crate::app::flags::threads)]
    pub(crate) threads: Option<usize>,
    /// CI gate: exit 3 when a gated path's 101 share after the change is below SHARE (0..1), or
    /// it has no upgrade attempts after; the report is printed either way.
    #[arg(long = "fail-under", value_name = "SHARE", value_parser = parse_share)]
    pub(crate) fail_under: Option<f64>,
    /// A path label the gate checks (repeatable); default: every path with attempts after.
    #[arg(long = "gate-path", value_name = "LABEL", requires = "fail_under")]
    pub(crate) gate_path: Vec<String>,
}

/// Reads `--fail-under`: a share between 0 and 1.
fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a share: give a number from 0 to 1 (0.9 = 90% of upgrade attempts get a 101)"
        )),
    }
}

/// `doctor` flags.
#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// nginx's configuration: nginx.conf (includes are followed), a saved `nginx -T` output, or
    /// `-` to read either from stdin (`docker exec nginx nginx -T | nginxlog-sidecar doctor --config -`).
    #[arg(
        long,
        visible_alias = "nginx-config",
        env = "NGINXLOG_NGINX_CONFIG",
        default_value = "/etc/nginx/nginx.conf"
    )]
    pub(crate) config: String,
    /// Where nginx's absolute paths (includes) are mounted here (as for `run`).
    #[arg(
        long = "nginx-root-prefix",
        env = "NGINXLOG_NGINX_ROOT_PREFIX",
        value_name = "DIR"
    )]
    pub(crate) nginx_root_prefix: Option<PathBuf>,
    /// Access logs whose upgrade attempts are evidence (plain or gzip); several after one flag.
    #[arg(long = "access-log", env = "NGINXLOG_ACCESS_LOG", value_delimiter = ',', num_args = 1..)]
    pub(crate) access_log: Vec<PathBuf>,
    /// Error logs (idle timeouts of upgraded connections); several after one flag.
    #[arg(long = "error-log", env = "NGINXLOG_ERROR_LOG", value_delimiter = ',', num_args = 1..)]
    pub(crate) error_log: Vec<PathBuf>,
    /// Report format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub(crate) format: String,
    /// Access-log format, as `run`'s --format; default: the log_format of the config's
    /// access_log that writes the file, else auto-detected.
    #[arg(long = "log-format")]
    pub(crate) log_format: Option<String>,
    /// The nginx version the defaults depend on (proxy_http_version is 1.1 from 1.29.7);
    /// default: `nginx -v` of the nginx on PATH.
    #[arg(long = "nginx-version")]
    pub(crate) nginx_version: Option<String>,
    #[command(flatten)]
    pub(crate) classify: ClassifyArgs,
}

/// The report formats of `compare`.
pub(crate) const REPORT_FORMATS: [&str; 4] = ["table", "markdown", "json", "html"];

impl CompareArgs {
    /// The report format and the log format, from --format, --report-format and --log-format.
    pub(crate) fn formats(&self) -> anyhow::Result<(&str, &str)> {
        let (report_in_format, log_in_format) = match self.format.as_deref() {
            Some(f) if REPORT_FORMATS.contains(&f) => (Some(f), None),
            Some(f) => (None, Some(f)),
            None => (None, None),
        };
        if let (Some(a), Some(b)) = (report_in_format, self.report_format.as_deref()) {
            if a != b {
                anyhow::bail!("--format {a} and --report-format {b} disagree: give one of them");
            }
        }
        Ok((
            report_in_format
                .or(self.report_format.as_deref())
                .unwrap_or("table"),
            log_in_format
                .or(self.log_format.as_deref())
                .unwrap_or("auto"),
        ))
    }
}

/// Parses `250ms`, `5s`, `10m`, `24h`, `7d` (a bare number is seconds).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (use e.g. 250ms, 5s, 10m, 24h)"))?;
    let mult = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m, h or d)"
            ))
        }
    };
    // Bounded: a huge value must be an error, not a panic or an overflowing deadline later.
    match Duration::try_from_secs_f64(n * mult) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!(
            "duration {s:?} is too long (at most 3650d; use e.g. 250ms, 5s, 10m, 24h, 7d)"
        )),
    }
}

/// Longest duration any flag accepts (ten years): every deadline computed from it fits.
const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// `--poll-interval`: a duration from 1ms to 60s (longer would delay shutdown by as much).
pub(crate) fn parse_poll_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
        return Err(format!(
            "poll interval {s:?} out of range (from 1ms to 60s, e.g. 250ms or 1s)"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration(&format!("{}h", "9".repeat(400))).is_err());
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    #[test]
    fn run_is_the_default_subcommand() {
        let c = Cli::try_parse_from([
            "nginxlog-sidecar",
            "--access-log",
            "a.log",
            "--format",
            "ws_timing",
        ])
        .expect("parses");
        assert!(c.command.is_none());
        assert_eq!(c.run.access_log, vec!["a.log"]);
        let c = Cli::try_parse_from([
            "nginxlog-sidecar",
            "parse",
            "--format",
            "json",
            "--strict",
            "-",
        ])
        .expect("parses");
        assert!(matches!(c.command, Some(Command::Parse(_))));
    }

    fn compare_args(argv: &[&str]) -> CompareArgs {
        let mut v = vec!["nginxlog-sidecar", "compare"];
        v.extend_from_slice(argv);
        match Cli::try_parse_from(v).expect("parses").command {
            Some(Command::Compare(a)) => a,
            other => panic!("not compare: {other:?}"),
        }
    }

    #[test]
    fn file_flags_take_several_values_and_repeat() {
        let a = compare_args(&[
            "--access-log",
            "a.log",
            "a.log.1",
            "a.log.2.gz",
            "--error-log",
            "e.log",
            "e.log.1",
            "--access-log",
            "b.log",
            "--split",
            "1795918618",
        ]);
        let paths = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(&a.access_log),
            ["a.log", "a.log.1", "a.log.2.gz", "b.log"]
        );
        assert_eq!(paths(&a.error_log), ["e.log", "e.log.1"]);
        assert_eq!(a.split.as_deref(), Some("1795918618"));
        let a = compare_args(&[
            "--before",
            "b1",
            "b2",
            "--after",
            "a1",
            "a2,a3",
            "--before-error-log",
            "be1",
            "be2",
            "--after-error-log",
            "ae1",
            "--fail-under",
            "0.9",
        ]);
        assert_eq!(paths(&a.before), ["b1", "b2"]);
        assert_eq!(paths(&a.after), ["a1", "a2", "a3"]);
        assert_eq!(paths(&a.before_error_log), ["be1", "be2"]);
        assert_eq!(paths(&a.after_error_log), ["ae1"]);
        assert_eq!(a.fail_under, Some(0.9));
        let c = Cli::try_parse_from([
            "nginxlog-sidecar",
            "backfill",
            "--access-log",
            "x.log",
            "x.log.1",
            "-o",
            "out.om",
            "--label",
            "job=nginxlog",
        ])
        .expect("parses");
        let Some(Command::Backfill(b)) = c.command else {
            panic!("not backfill")
        };
        assert_eq!(paths(&b.access_log), ["x.log", "x.log.1"]);
        assert_eq!(b.output, PathBuf::from("out.om"));
        assert_eq!(b.label, ["job=nginxlog"]);
        // A share outside 0..1 is refused by the parser.
        assert!(
            Cli::try_parse_from(["nginxlog-sidecar", "compare", "--fail-under", "1e309"]).is_err()
        );
    }
}
