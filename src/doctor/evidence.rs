//! Evidence from the logs: every upgrade attempt, classified by the shared pipeline exactly as
//! `run` counts it, attributed to the server and location nginx chose for it.
//!
//! The access log gives the attempts and their outcome; the error log gives the idle timeouts
//! of upgraded connections. Lines are framed by [`LineBuffer`] and classified by
//! [`Classifier`], the same path as every other mode; only the sink (these counters) differs.

use crate::classify::{AnsweredBy, Classifier, ErrorLine};
use crate::framing::{Frame, LineBuffer};
use crate::nginx_conf::effective::Http;
use crate::nginx_conf::locations::{find_location, find_server, normalise_uri};
use crate::parse::format::Var;
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A server (index into [`Http::servers`]) and the location serving a request there (`None`:
/// no location matched, the server level serves).
pub(crate) type Key = (usize, Option<usize>);

/// Distinct request paths remembered per location (for the message; counts stay exact).
const MAX_PATHS: usize = 32;
/// Distinct (host, URI) pairs whose location is remembered.
const MAX_CACHE: usize = 65_536;

/// What the logs say about one location.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Evidence {
    pub(crate) upgrade_attempts: u64,
    pub(crate) switched: u64,
    pub(crate) by_status: BTreeMap<u16, u64>,
    pub(crate) answered_by: BTreeMap<&'static str, u64>,
    /// Upgrade attempts per path label (query removed, ids collapsed), at most [`MAX_PATHS`].
    pub(crate) paths: BTreeMap<String, u64>,
    /// Session lengths of 101 lines, in tenths of a second.
    pub(crate) sessions: BTreeMap<u64, u64>,
    /// `upstream timed out ... while proxying upgraded connection` lines.
    pub(crate) upstream_idle_timeouts: u64,
    /// `client timed out ... while proxying upgraded connection` lines.
    pub(crate) client_idle_timeouts: u64,
}

impl Evidence {
    /// The path with the most attempts, as the sidecar labels it.
    pub(crate) fn main_path(&self) -> Option<&str> {
        self.paths
            .iter()
            .max_by_key(|(p, n)| (**n, std::cmp::Reverse(p.as_str())))
            .map(|(p, _)| p.as_str())
    }

    /// Sessions whose length was within a second of `timeout` seconds.
    pub(crate) fn sessions_near(&self, timeout: f64) -> u64 {
        let lo = ((timeout - 1.0).max(0.0) * 10.0) as u64;
        let hi = ((timeout + 1.0) * 10.0) as u64;
        self.sessions.range(lo..=hi).map(|(_, n)| n).sum()
    }

    /// Attempts refused (not 101).
    pub(crate) fn refused(&self) -> u64 {
        self.upgrade_attempts - self.switched
    }
}

/// One log file read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct FileSummary {
    pub(crate) path: String,
    pub(crate) lines: u64,
    pub(crate) malformed: u64,
    /// The access format used (a preset name, `log_format NAME` from the config, or the flag).
    pub(crate) format: String,
}

/// Everything the logs said.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    pub(crate) by_location: HashMap<Key, Evidence>,
    pub(crate) files: Vec<FileSummary>,
    /// Upgrade attempts no server of the config could have served.
    pub(crate) unattributed: u64,
}

/// Frames every line of a (possibly gzip) file and hands it to `f`, which says whether it
/// parsed; counts lines and malformed ones (oversized lines included) into `summary`.
fn each_line(
    path: &Path,
    max_line: usize,
    summary: &mut FileSummary,
    mut f: impl FnMut(&[u8]) -> bool,
) -> anyhow::Result<()> {
    let shown = path.display().to_string();
    let (mut input, _) =
        crate::source::history::open(path).with_context(|| format!("cannot open {shown}"))?;
    let mut lb = LineBuffer::new(max_line);
    loop {
        let read = lb
            .fill_from(&mut input)
            .with_context(|| format!("cannot read {shown}"))?;
        loop {
            let frame = match lb.next_frame() {
                Some(f) => f,
                None if read == 0 => match lb.take_partial() {
                    Some(f) => f,
                    None => break,
                },
                None => break,
            };
            summary.lines += 1;
            let parsed = match frame {
                Frame::Line(line) => f(line),
                Frame::Oversized(_) => false,
            };
            if !parsed {
                summary.malformed += 1;
            }
        }
        if read == 0 {
            return Ok(());
        }
    }
}

/// Reads an access log; `candidates` are the servers that write it (all when unknown).
pub(crate) fn read_access(
    http: &Http<'_>,
    path: &Path,
    candidates: &[usize],
    classifier: &mut Classifier,
    format_name: String,
    max_line: usize,
    logs: &mut Logs,
) -> anyhow::Result<()> {
    let mut cache: HashMap<Vec<u8>, Option<Key>> = HashMap::new();
    let mut key_buf = Vec::new();
    let mut summary = FileSummary {
        path: path.display().to_string(),
        lines: 0,
        malformed: 0,
        format: format_name,
    };
    each_line(path, max_line, &mut summary, |line| {
        let Ok(ev) = classifier.access(line) else {
            return false;
        };
        if !ev.upgrade {
            return true;
        }
        let rec = classifier.record(line);
        let target = rec.request().target.unwrap_or(b"/");
        let path = crate::classify::route::path_of(target).unwrap_or(b"/");
        let host = rec.get(Var::Host);
        key_buf.clear();
        key_buf.extend_from_slice(host.unwrap_or(b""));
        key_buf.push(0);
        key_buf.extend_from_slice(path);
        let key = match cache.get(&key_buf) {
            Some(k) => *k,
            None => {
                let host = host.map(String::from_utf8_lossy);
                let uri = normalise_uri(path);
                // Without a logged Host, prefer the servers that have a location for it
                // (a port-80 redirect server beside the TLS one serves no /ws/ location).
                let serving: Vec<usize> = candidates
                    .iter()
                    .copied()
                    .filter(|&s| find_location(&http.servers[s], &uri).is_some())
                    .collect();
                let pool = if host.is_none() && !serving.is_empty() {
                    &serving[..]
                } else {
                    candidates
                };
                let k = find_server(&http.servers, pool, host.as_deref())
                    .map(|s| (s, find_location(&http.servers[s], &uri)));
                if cache.len() < MAX_CACHE {
                    cache.insert(key_buf.clone(), k);
                }
                k
            }
        };
        let Some(key) = key else {
            logs.unattributed += 1;
            return true;
        };
        let e = logs.by_location.entry(key).or_default();
        e.upgrade_attempts += 1;
        if ev.status == 101 {
            e.switched += 1;
            if let Some(s) = ev.session_seconds {
                *e.sessions.entry((s * 10.0).round() as u64).or_insert(0) += 1;
            }
        }
        *e.by_status.entry(ev.status).or_insert(0) += 1;
        *e.answered_by.entry(ev.answered_by.as_str()).or_insert(0) += 1;
        let label = classifier.labels.name(ev.path);
        if let Some(n) = e.paths.get_mut(label) {
            *n += 1;
        } else if e.paths.len() < MAX_PATHS {
            e.paths.insert(label.to_string(), 1);
        }
        true
    })?;
    if let Some(name) = classifier.detected() {
        summary.format = format!("{name} (detected)");
    }
    logs.files.push(summary);
    Ok(())
}

/// Reads an error log: idle timeouts of upgraded connections, attributed by the `server:` and
/// `request:` nginx writes with them.
pub(crate) fn read_error(
    http: &Http<'_>,
    path: &Path,
    classifier: &mut Classifier,
    max_line: usize,
    logs: &mut Logs,
) -> anyhow::Result<()> {
    let all: Vec<usize> = (0..http.servers.len()).collect();
    let mut summary = FileSummary {
        path: path.display().to_string(),
        lines: 0,
        malformed: 0,
        format: "error log".into(),
    };
    each_line(path, max_line, &mut summary, |line| {
        let ev = match classifier.error(line) {
            Ok(ErrorLine::Event(ev)) => ev,
            Ok(ErrorLine::Continuation) => return true,
            Err(_) => return false,
        };
        let sig = crate::classify::signature::name(ev.signature);
        let upstream = sig == "ws_upstream_idle_timeout";
        if !upstream && sig != "ws_client_idle_timeout" {
            return true;
        }
        let Ok(rec) = crate::parse::error_log::parse(line) else {
            return true;
        };
        let host = rec
            .server
            .or(rec.host)
            .map(|h| String::from_utf8_lossy(h).into_owned());
        let Some(server) = find_server(&http.servers, &all, host.as_deref()) else {
            logs.unattributed += 1;
            return true;
        };
        let target = rec
            .request
            .and_then(|r| crate::parse::access::split_request(r).target)
            .unwrap_or(b"/");
        let uri = normalise_uri(crate::classify::route::path_of(target).unwrap_or(b"/"));
        let loc = find_location(&http.servers[server], &uri);
        let e = logs.by_location.entry((server, loc)).or_default();
        if upstream {
            e.upstream_idle_timeouts += 1;
        } else {
            e.client_idle_timeouts += 1;
        }
        true
    })?;
    logs.files.push(summary);
    Ok(())
}

/// Summarises who answered: "the app answered all 40 with 403".
pub(crate) fn describe_refusals(e: &Evidence) -> String {
    let refused: Vec<(u16, u64)> = e
        .by_status
        .iter()
        .filter(|(s, _)| **s != 101)
        .map(|(s, n)| (*s, *n))
        .collect();
    if refused.is_empty() {
        return String::new();
    }
    let statuses = refused
        .iter()
        .map(|(s, n)| format!("{n}x {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let upstream = *e
        .answered_by
        .get(AnsweredBy::Upstream.as_str())
        .unwrap_or(&0);
    let nginx = *e.answered_by.get(AnsweredBy::Nginx.as_str()).unwrap_or(&0);
    let refused_n = e.refused();
    if e.switched == 0 && upstream == refused_n && refused_n > 0 {
        return format!("the app answered all {refused_n} ({statuses}): it never saw the upgrade");
    }
    if nginx == refused_n && refused_n > 0 {
        return format!("nginx answered all {refused_n} refusals itself ({statuses})");
    }
    format!("refused: {statuses}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_wording() {
        let mut e = Evidence {
            upgrade_attempts: 40,
            ..Default::default()
        };
        e.by_status.insert(403, 40);
        e.answered_by.insert("upstream", 40);
        assert_eq!(
            describe_refusals(&e),
            "the app answered all 40 (40x 403): it never saw the upgrade"
        );
        e.sessions.insert(600, 3);
        e.sessions.insert(595, 1);
        e.sessions.insert(10, 1);
        assert_eq!(e.sessions_near(60.0), 4);
    }
}
