//! The two text formats of `/metrics`: Prometheus text 0.0.4 by default, OpenMetrics 1.0.0 when
//! the scraper's `Accept` prefers it (Prometheus sends
//! `application/openmetrics-text;version=1.0.0,...;q=0.75,text/plain;version=0.0.4;q=0.5,...`).
//!
//! The registry renders the Prometheus text; [`to_openmetrics`] rewrites it: a counter family is
//! named without `_total` in `# TYPE`/`# HELP` (its samples keep it), `# TYPE` comes first, bucket
//! bounds are canonical floats and the text ends in `# EOF`.

/// `Content-Type` of the Prometheus text format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics text.
pub(crate) const OPENMETRICS_TEXT: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The format a scrape asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Prometheus,
    OpenMetrics,
}

/// Picks the format from an `Accept` header: the supported media range with the highest `q`
/// wins (earlier on ties); nothing acceptable, or no header, means Prometheus text, unless the
/// client refused it (`text/plain;q=0`) and not OpenMetrics.
pub(crate) fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Prometheus;
    };
    let mut best: Option<(f32, Format, bool)> = None;
    let mut refused = (false, false); // (Prometheus, OpenMetrics)
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1.0f32;
        let mut version = None;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = v.parse().unwrap_or(0.0),
                "version" => version = Some(v.to_string()),
                _ => {}
            }
        }
        let format = match media.as_str() {
            "application/openmetrics-text"
                if version
                    .as_deref()
                    .is_none_or(|v| v == "1.0.0" || v == "0.0.1") =>
            {
                Format::OpenMetrics
            }
            "text/plain" if version.as_deref().is_none_or(|v| v == "0.0.4") => Format::Prometheus,
            "*/*" | "text/*" => {
                if q > 0.0 && best.is_none_or(|(bq, _, _)| q > bq) {
                    best = Some((q, Format::Prometheus, true));
                }
                continue;
            }
            _ => continue,
        };
        if q <= 0.0 {
            match format {
                Format::Prometheus => refused.0 = true,
                Format::OpenMetrics => refused.1 = true,
            }
        } else if best.is_none_or(|(bq, _, _)| q > bq) {
            best = Some((q, format, false));
        }
    }
    match best {
        // A wildcard stands for what was not refused.
        Some((_, Format::Prometheus, true)) if refused.0 && !refused.1 => Format::OpenMetrics,
        Some((_, f, _)) => f,
        None if refused.0 && !refused.1 => Format::OpenMetrics,
        None => Format::Prometheus,
    }
}

/// Rewrites Prometheus text (as the registry renders it: `# HELP` then `# TYPE` before each
/// family's samples) into OpenMetrics text: `# TYPE` before `# HELP`, `"` escaped in HELP,
/// `le`/`quantile` values in canonical float form (`1.0`, not `1`).
#[cfg(test)]
pub(crate) fn to_openmetrics(text: &str) -> String {
    let mut out = to_openmetrics_part(text);
    out.push_str("# EOF\n");
    out
}

/// [`to_openmetrics`] without the closing `# EOF`, for one part of an exposition whose
/// families are all in `text`.
pub(crate) fn to_openmetrics_part(text: &str) -> String {
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let family = |name: &str| -> String {
        match name
            .strip_suffix("_total")
            .filter(|_| counters.contains(name))
        {
            Some(f) => f.to_string(),
            None => name.to_string(),
        }
    };
    let mut out = String::with_capacity(text.len() + 16);
    // A HELP line waits for its family's TYPE line, which OpenMetrics wants first.
    let mut help: Option<(String, String)> = None;
    let flush = |out: &mut String, help: &mut Option<(String, String)>| {
        if let Some((name, text)) = help.take() {
            out.push_str(format!("# HELP {name} {text}").trim_end());
            out.push('\n');
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush(&mut out, &mut help);
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            // Prometheus text escapes `\\` and newlines in HELP; OpenMetrics also `"`.
            help = Some((family(name), tail.replace('"', "\\\"")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = family(name);
            out.push_str(format!("# TYPE {name} {tail}").trim_end());
            out.push('\n');
            if help.as_ref().is_some_and(|(h, _)| *h == name) {
                flush(&mut out, &mut help);
            }
            continue;
        }
        flush(&mut out, &mut help);
        if line.starts_with('#') {
            out.push_str(line);
        } else {
            canonical_bounds(line, &mut out);
        }
        out.push('\n');
    }
    flush(&mut out, &mut help);
    out
}

/// Copies a sample line, writing `le` and `quantile` values as OpenMetrics canonical floats.
/// Only `{le="` / `,le="` starts such a value: inside a label value `"` is escaped.
fn canonical_bounds(line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(at) = ["{le=\"", ",le=\"", "{quantile=\"", ",quantile=\""]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
        .min()
    {
        let (i, len) = at;
        let start = i + len;
        let Some(end) = rest[start..].find('"').map(|e| start + e) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&openmetrics_float(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
}

/// A bucket bound or quantile as OpenMetrics writes it: `1` becomes `1.0`; `0.5`, `1e-05`,
/// `+Inf` and anything that is not a number stay as they are.
pub(crate) fn openmetrics_float(v: &str) -> std::borrow::Cow<'_, str> {
    let integral = !v.is_empty()
        && v.bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
        && v.bytes().any(|b| b.is_ascii_digit());
    if integral {
        std::borrow::Cow::Owned(format!("{v}.0"))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        let prom3 = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate(Some(prom3)), Format::OpenMetrics);
        let prom2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom2)), Format::OpenMetrics);
        assert_eq!(
            negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("text/plain;version=0.0.4")),
            Format::Prometheus
        );
        assert_eq!(negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(negotiate(None), Format::Prometheus);
        assert_eq!(
            negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Prometheus
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;version=2.0.0")),
            Format::Prometheus
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0")),
            Format::Prometheus
        );
        assert_eq!(
            negotiate(Some("application/vnd.google.protobuf")),
            Format::Prometheus
        );
        // An explicit refusal is honoured, also when nothing else is listed.
        assert_eq!(
            negotiate(Some("text/plain;q=0,application/vnd.google.protobuf")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("*/*;q=0.1,text/plain;version=0.0.4;q=0")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0,*/*")),
            Format::Prometheus
        );
    }

    #[test]
    fn counters_lose_total_in_metadata_only() {
        let text = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n# HELP b Gauge.\n# TYPE b gauge\nb 1\n# HELP h_seconds H.\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"+Inf\"} 0\nh_seconds_sum 0\nh_seconds_count 0\n";
        let om = to_openmetrics(text);
        assert!(
            om.starts_with("# TYPE a counter\n# HELP a Things.\na_total{x=\"1\"} 3\n"),
            "{om}"
        );
        assert!(om.contains("# TYPE b gauge\n# HELP b Gauge.\nb 1\n"));
        assert!(om.contains("# TYPE h_seconds histogram\n"));
        assert!(om.ends_with("h_seconds_count 0\n# EOF\n"));
    }

    #[test]
    fn type_before_help_quotes_escaped_canonical_bounds() {
        let text = "# HELP h_seconds Says \"hi\" \\\\ ok.\n# TYPE h_seconds histogram\nh_seconds_bucket{path=\"/a\\\"le=\\\"1\",le=\"1\"} 2\nh_seconds_bucket{le=\"0.25\"} 1\nh_seconds_bucket{le=\"+Inf\"} 3\n# HELP q Q.\n# TYPE q summary\nq{quantile=\"1\"} 4\n";
        let om = to_openmetrics(text);
        assert!(
            om.starts_with(
                "# TYPE h_seconds histogram\n# HELP h_seconds Says \\\"hi\\\" \\\\ ok.\n"
            ),
            "{om}"
        );
        assert!(
            om.contains("h_seconds_bucket{path=\"/a\\\"le=\\\"1\",le=\"1.0\"} 2\n"),
            "{om}"
        );
        assert!(om.contains("h_seconds_bucket{le=\"0.25\"} 1\n"), "{om}");
        assert!(om.contains("h_seconds_bucket{le=\"+Inf\"} 3\n"), "{om}");
        assert!(
            om.contains("# TYPE q summary\n# HELP q Q.\nq{quantile=\"1.0\"} 4\n"),
            "{om}"
        );
        assert_eq!(openmetrics_float("10"), "10.0");
        assert_eq!(openmetrics_float("1e-05"), "1e-05");
    }
}
