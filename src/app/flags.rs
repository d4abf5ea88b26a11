//! Value parsers for flags whose wrong values would otherwise be accepted and break things
//! later (a metric prefix Prometheus rejects, a log level that silences every log). Used by
//! clap, so a bad value exits 2 with the flag's name and what is accepted.

/// `--namespace`: a metric-name prefix, `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn namespace(s: &str) -> Result<String, String> {
    let ok = s
        .bytes()
        .enumerate()
        .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
    if s.is_empty() || !ok {
        return Err(format!(
            "{s:?} is not a metric-name prefix: use letters, digits and `_`, not starting with a digit (e.g. nginxlog, my_ns)"
        ));
    }
    Ok(s.to_string())
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `--log-level`: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`), or per-module
/// directives `info,nginxlog_sidecar::source::tail=debug`. A bare word that is no level would be taken
/// by tracing as a module name and silence everything else.
pub(crate) fn log_level(s: &str) -> Result<String, String> {
    let accepted = "give error, warn, info, debug, trace or off (or directives like info,nginxlog_sidecar::source::tail=debug)";
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let level = match part.rsplit_once('=') {
            Some((target, level)) if !target.is_empty() => {
                out.push(format!("{target}={}", level.to_ascii_lowercase()));
                level
            }
            Some(_) => return Err(format!("{s:?}: {part:?} has no module name; {accepted}")),
            None => {
                out.push(part.to_ascii_lowercase());
                part
            }
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!("{level:?} is not a log level; {accepted}"));
        }
    }
    let directives = out.join(",");
    tracing_subscriber::EnvFilter::try_new(&directives)
        .map_err(|e| format!("{s:?}: {e}; {accepted}"))?;
    Ok(directives)
}

/// `--max-paths`: at least 1 (0 would put every path into `__other__`).
pub(crate) fn max_paths(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{s:?}: give the number of distinct path labels to keep, at least 1 (default 200)"
        )),
    }
}

/// `--threads` of `backfill`/`compare`: 1 to 256 (more than cores only adds memory; a huge
/// value would overflow the queue sizes derived from it).
pub(crate) fn threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?}: give the number of parser threads, from 1 to 256 (default: the number of cores)"
        )),
    }
}

/// Accepted `--max-line-bytes`: at least the shortest line nginx writes, at most what a
/// follower's buffer may take (one buffer of this size per followed file).
pub(crate) const MAX_LINE_BYTES: std::ops::RangeInclusive<usize> = 16..=64 << 20;

/// `--max-line-bytes`: within [`MAX_LINE_BYTES`], so the framing's `max + 2` buffer cannot
/// overflow and a typo cannot ask for gigabytes per file.
pub(crate) fn max_line_bytes(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if MAX_LINE_BYTES.contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?}: give the longest line to parse in bytes, from {} to {} (64 MiB; default 65536)",
            MAX_LINE_BYTES.start(),
            MAX_LINE_BYTES.end()
        )),
    }
}

/// `--web.max-connections`: at least 1 (0 would refuse every scrape).
pub(crate) fn max_connections(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{s:?}: give the number of HTTP connections to serve at once, at least 1 (default 256)"
        )),
    }
}

/// `--web.telemetry-path`: an absolute path that is not one of the other endpoints. Only
/// unreserved characters: the router reads `:`, `*` and braces as captures (and panics on
/// some), and nothing else is needed for a scrape path.
pub(crate) fn telemetry_path(s: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._~/-".contains(c);
    if !s.starts_with('/') || !s.chars().all(plain) {
        return Err(format!(
            "{s:?}: give a path starting with / made of letters, digits and . _ ~ - / (default /metrics)"
        ));
    }
    if ["/", "/healthz", "/readyz"].contains(&s) {
        return Err(format!("{s:?} is taken by another endpoint; e.g. /metrics"));
    }
    Ok(s.to_string())
}

/// Whether colour codes may be written to stderr: only to a terminal, never with `NO_COLOR`.
pub fn stderr_colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!(namespace("nginxlog").is_ok());
        assert!(namespace("my_ns2").is_ok());
        assert!(namespace("my-ns").is_err());
        assert!(namespace("2ns").is_err());
        assert!(namespace("").is_err());
        assert_eq!(log_level("INFO").as_deref(), Ok("info"));
        assert!(log_level("info,nginxlog_sidecar::source::tail=debug").is_ok());
        assert!(log_level("verbose").is_err());
        assert!(log_level("warning").is_err());
        assert!(log_level("x=loud").is_err());
        assert!(max_paths("0").is_err());
        assert_eq!(max_paths("5"), Ok(5));
        assert!(telemetry_path("metrics").is_err());
        assert!(telemetry_path("/healthz").is_err());
        assert!(telemetry_path("/probe/metrics").is_ok());
        assert!(telemetry_path("/v1.0/metrics_x-y~z").is_ok());
        for bad in ["/:x", "/*x", "/{x}", "/a}", "/a b", "/m?x", "/%41"] {
            assert!(telemetry_path(bad).is_err(), "{bad}");
        }
    }
}
