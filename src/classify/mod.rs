//! The shared parse + classify stage: a line in, a compact event out.
//!
//! Live tailing, `parse`, `backfill` and `compare` all go through [`Classifier`], so a number means
//! the same thing in every mode. Events are small `Copy` structs of ids and numbers; the labels
//! they point to live in the classifier's [`PathLabels`].

pub mod route;
pub(crate) mod signature;

use crate::classify::route::{LabelId, PathLabels};
use crate::classify::signature::{Catalogue, SignatureId};
use crate::parse::access::AccessRecord;
use crate::parse::error_log::{self, ErrorRecord};
use crate::parse::format::{Fields, LineFormat, Mismatch, Var};
use crate::parse::values;

/// Who produced the final status of a request (the `answered_by` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum AnsweredBy {
    /// The backend sent the final answer (last `$upstream_header_time` entry is a number).
    Upstream = 0,
    /// nginx answered itself (`deny`, `limit_req`, 502 connect refused, 504 timeout).
    Nginx = 1,
    /// The format does not log `$upstream_header_time`.
    Unknown = 2,
}

impl AnsweredBy {
    /// Label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AnsweredBy::Upstream => "upstream",
            AnsweredBy::Nginx => "nginx",
            AnsweredBy::Unknown => "unknown",
        }
    }
}

/// HTTP methods kept as label values; anything else (typos, scanners) is `OTHER`.
pub(crate) const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "PROPFIND",
    "OTHER",
];

/// Index of a method in [`METHODS`].
#[inline]
pub(crate) fn method_id(m: Option<&[u8]>) -> u8 {
    let other = (METHODS.len() - 1) as u8;
    match m {
        Some(m) => METHODS[..METHODS.len() - 1]
            .iter()
            .position(|k| k.as_bytes() == m)
            .map_or(other, |i| i as u8),
        None => other,
    }
}

/// Classification settings shared by every mode.
#[derive(Clone, Debug)]
pub struct ClassifyConfig {
    /// Path prefixes that mark an upgrade attempt when the format does not log `$http_upgrade`.
    pub ws_path_prefixes: Vec<String>,
    /// `--route` patterns.
    pub routes: Vec<String>,
    /// `--max-paths` cap.
    pub max_paths: usize,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            ws_path_prefixes: vec!["/ws/".into()],
            routes: Vec::new(),
            max_paths: 200,
        }
    }
}

/// A classified access line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccessEvent {
    pub(crate) time: Option<f64>,
    pub(crate) status: u16,
    pub(crate) method: u8,
    pub(crate) path: LabelId,
    pub upgrade: bool,
    pub(crate) answered_by: AnsweredBy,
    /// Sum of `$upstream_header_time` entries of an upgrade attempt.
    pub(crate) handshake_seconds: Option<f64>,
    /// `$request_time` of a 101 line (nginx logs it when the WebSocket closes).
    pub(crate) session_seconds: Option<f64>,
    pub(crate) request_seconds: Option<f64>,
    pub(crate) bytes: u64,
}

impl AccessEvent {
    /// When the request began, where history modes (`compare`, `backfill`) place it. nginx
    /// writes a proxied WebSocket's line when the session closes, so for a 101 line this is the
    /// logged time minus `$request_time` (the session length): the handshake. Any other line is
    /// written as soon as it is answered and keeps its logged time. Live counters cannot be
    /// back-dated and count at read time; the session-length histogram stays at close time.
    #[inline]
    pub(crate) fn handshake_time(&self) -> Option<f64> {
        match (self.time, self.status, self.request_seconds) {
            // A session longer than a week is a broken clock or value, not a handshake to
            // back-date (it would stretch a backfill over years).
            (Some(t), 101, Some(rt)) if rt.is_finite() && (0.0..=MAX_BACKDATE).contains(&rt) => {
                Some(t - rt)
            }
            (t, _, _) => t,
        }
    }
}

/// The longest `$request_time` a 101 line is back-dated by (a week).
pub(crate) const MAX_BACKDATE: f64 = 7.0 * 86_400.0;

/// A classified error line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorEvent {
    pub(crate) time: Option<f64>,
    pub(crate) level: u8,
    pub(crate) signature: SignatureId,
    pub(crate) path: Option<LabelId>,
}

/// What an error-log line turned out to be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ErrorLine {
    Event(ErrorEvent),
    /// A continuation line of a multi-line message (not an event, not malformed).
    Continuation,
}

/// Parses and classifies lines; owns the reusable buffers and the path labels.
#[derive(Debug)]
pub struct Classifier {
    format: LineFormat,
    fields: Fields,
    pub labels: PathLabels,
    catalogue: Catalogue,
    ws_prefixes: Vec<Vec<u8>>,
    logs_upgrade: bool,
    logs_header_time: bool,
    /// The last error event left a quote open (`FastCGI sent in stderr: "...`): the lines that
    /// follow, up to the closing quote, continue it.
    open_quote: bool,
    /// `--format auto` before the first access line that a preset reads: the presets still to
    /// try. Empty once the format is known.
    candidates: Vec<(&'static str, LineFormat)>,
    detected: Option<&'static str>,
    /// `--format auto` with several access logs: each log detects its own format; the state of
    /// the logs not being read right now is parked here, indexed by log.
    parked: Vec<Option<FormatState>>,
    active_log: usize,
    auto: bool,
}

/// One access log's format under `--format auto`, while another log's lines are classified.
#[derive(Debug)]
struct FormatState {
    format: LineFormat,
    logs_upgrade: bool,
    logs_header_time: bool,
    candidates: Vec<(&'static str, LineFormat)>,
    detected: Option<&'static str>,
}

impl FormatState {
    /// A log whose format is known to be the preset `name`.
    fn settled(name: &'static str, format: LineFormat) -> FormatState {
        FormatState {
            logs_upgrade: format.logs(Var::HttpUpgrade),
            logs_header_time: format.logs(Var::UpstreamHeaderTime),
            format,
            candidates: Vec::new(),
            detected: Some(name),
        }
    }
}

/// Presets `--format auto` tries, most specific first: a `ws_timing` or `main` line also
/// satisfies `combined`, which reads the common prefix and ignores what follows.
pub(crate) const AUTO_PRESETS: [&str; 4] = ["ws_timing", "main", "combined", "json"];

impl Classifier {
    /// Builds a classifier for an access-log format.
    pub fn new(format: LineFormat, cfg: &ClassifyConfig) -> Result<Classifier, String> {
        let labels = PathLabels::new(&cfg.routes, cfg.max_paths)?;
        Ok(Classifier {
            logs_upgrade: format.logs(Var::HttpUpgrade),
            logs_header_time: format.logs(Var::UpstreamHeaderTime),
            format,
            fields: Fields::default(),
            labels,
            catalogue: Catalogue::new(),
            ws_prefixes: cfg
                .ws_path_prefixes
                .iter()
                .map(|p| p.as_bytes().to_vec())
                .collect(),
            open_quote: false,
            candidates: Vec::new(),
            detected: None,
            parked: Vec::new(),
            active_log: 0,
            auto: false,
        })
    }

    /// A classifier for `--format auto`: the first access line that one of `AUTO_PRESETS`
    /// reads (with a valid status) fixes the format for every later line.
    pub fn auto(cfg: &ClassifyConfig) -> Result<Classifier, String> {
        let mut candidates = Vec::with_capacity(AUTO_PRESETS.len());
        for name in AUTO_PRESETS {
            let f = LineFormat::compile(name).map_err(|e| e.to_string())?;
            candidates.push((name, f));
        }
        let first = candidates
            .first()
            .map(|(_, f)| f.clone())
            .ok_or("no presets")?;
        let mut c = Classifier::new(first, cfg)?;
        c.candidates = candidates;
        c.auto = true;
        Ok(c)
    }

    /// Makes `log`'s format the active one before its lines are classified. Only `--format
    /// auto` keeps a format per log (each detects its own); otherwise one format serves all, and
    /// with a single log nothing ever moves.
    #[inline]
    pub(crate) fn select_log(&mut self, log: usize) {
        if self.auto && log != self.active_log {
            self.switch_log(log);
        }
    }

    /// `--format auto`: fixes `log`'s format to a preset found beforehand (history probes each
    /// file's first lines), so it does not depend on which of its lines a worker sees first.
    pub(crate) fn fix_log_format(&mut self, log: usize, name: &'static str) {
        let Some(format) = self.auto.then(|| LineFormat::compile(name).ok()).flatten() else {
            return;
        };
        let state = FormatState::settled(name, format);
        if log == self.active_log {
            self.install(state);
        } else {
            if self.parked.len() <= log {
                self.parked.resize_with(log + 1, || None);
            }
            self.parked[log] = Some(state);
        }
    }

    /// Gives `log` its own format (the `log_format` nginx's config writes it with), so several
    /// access logs of different formats share one classifier; the others keep theirs.
    pub(crate) fn set_log_format(&mut self, log: usize, format: LineFormat) {
        let state = FormatState {
            logs_upgrade: format.logs(Var::HttpUpgrade),
            logs_header_time: format.logs(Var::UpstreamHeaderTime),
            format,
            candidates: Vec::new(),
            detected: None,
        };
        if !self.auto {
            // Per-log formats ride on the auto machinery; the shared format becomes log 0's
            // until log 0 is given one.
            self.auto = true;
            self.active_log = 0;
        }
        if log == self.active_log {
            self.install(state);
        } else {
            if self.parked.len() <= log {
                self.parked.resize_with(log + 1, || None);
            }
            self.parked[log] = Some(state);
        }
    }

    /// The preset `--format auto` detected for `log`, once one of its lines was read.
    pub(crate) fn detected_for(&self, log: usize) -> Option<&'static str> {
        if log == self.active_log {
            self.detected
        } else {
            self.parked.get(log)?.as_ref()?.detected
        }
    }

    #[cold]
    fn switch_log(&mut self, log: usize) {
        let slots = self.parked.len().max(self.active_log + 1).max(log + 1);
        self.parked.resize_with(slots, || None);
        let incoming = match self.parked[log].take() {
            Some(state) => state,
            None => {
                // Not seen yet: start from the presets (the active log's list may be used up).
                let candidates: Vec<(&'static str, LineFormat)> = AUTO_PRESETS
                    .iter()
                    .filter_map(|&n| LineFormat::compile(n).ok().map(|f| (n, f)))
                    .collect();
                FormatState {
                    format: self.format.clone(),
                    logs_upgrade: self.logs_upgrade,
                    logs_header_time: self.logs_header_time,
                    candidates,
                    detected: None,
                }
            }
        };
        let outgoing = self.install(incoming);
        self.parked[self.active_log] = Some(outgoing);
        self.active_log = log;
    }

    /// Makes `incoming` the active format state and returns the one it replaces.
    fn install(&mut self, incoming: FormatState) -> FormatState {
        FormatState {
            format: std::mem::replace(&mut self.format, incoming.format),
            logs_upgrade: std::mem::replace(&mut self.logs_upgrade, incoming.logs_upgrade),
            logs_header_time: std::mem::replace(
                &mut self.logs_header_time,
                incoming.logs_header_time,
            ),
            candidates: std::mem::replace(&mut self.candidates, incoming.candidates),
            detected: std::mem::replace(&mut self.detected, incoming.detected),
        }
    }

    /// The preset `--format auto` settled on, once an access line has been read.
    pub(crate) fn detected(&self) -> Option<&'static str> {
        self.detected
    }

    /// Whether the access format is still to be detected (`--format auto`, no line read yet).
    pub(crate) fn detecting(&self) -> bool {
        !self.candidates.is_empty()
    }

    #[cold]
    fn detect(&mut self, line: &[u8]) -> Result<(), Mismatch> {
        let hit = self.candidates.iter_mut().position(|(_, f)| {
            f.match_line(line, &mut self.fields).is_ok()
                && AccessRecord::new(line, f, &self.fields).status().is_some()
        });
        let Some(i) = hit else {
            return Err(Mismatch::new(
                0,
                "--format auto: the line matches none of the presets ws_timing, main, combined, json; give --format nginx's log_format",
            ));
        };
        let (name, format) = self.candidates.swap_remove(i);
        self.install(FormatState::settled(name, format));
        tracing::info!(format = name, "access log format detected");
        Ok(())
    }

    /// The access format.
    pub fn format(&self) -> &LineFormat {
        &self.format
    }

    /// The record view of the line last passed to a successful [`Classifier::access`] (for
    /// `parse`'s full output).
    pub fn record<'s>(&'s self, line: &'s [u8]) -> AccessRecord<'s> {
        AccessRecord::new(line, &self.format, &self.fields)
    }

    /// Parses and classifies an access line. No allocation once the path label is known.
    #[inline]
    pub fn access(&mut self, line: &[u8]) -> Result<AccessEvent, Mismatch> {
        if !self.candidates.is_empty() {
            self.detect(line)?;
        }
        self.format.match_line(line, &mut self.fields)?;
        let rec = AccessRecord::new(line, &self.format, &self.fields);
        let status = rec.status().ok_or(Mismatch::new(
            0,
            "$status is missing or not a 3-digit number",
        ))?;
        let req = rec.request();
        let path = match req.target {
            Some(t) => self.labels.label_escaped(t, Some(self.format.escape())),
            None => crate::classify::route::INVALID,
        };
        // A JSON line may lack the key even though the format "logs" it: then the path decides.
        let upgrade = status == 101
            || match rec.raw(Var::HttpUpgrade).filter(|_| self.logs_upgrade) {
                Some(v) => values::present(v).is_some(),
                None => req
                    .target
                    .is_some_and(|t| self.ws_prefixes.iter().any(|p| t.starts_with(p))),
            };
        let (answered_by, header) = if self.logs_header_time {
            match rec.raw(Var::UpstreamHeaderTime) {
                Some(v) => {
                    let u = values::parse_upstream_times(v);
                    let by = if u.last_is_number {
                        AnsweredBy::Upstream
                    } else {
                        AnsweredBy::Nginx
                    };
                    (by, u.sum)
                }
                None => (AnsweredBy::Unknown, None),
            }
        } else {
            (AnsweredBy::Unknown, None)
        };
        let request_seconds = rec.request_time();
        Ok(AccessEvent {
            time: rec.time(),
            status,
            method: method_id(req.method),
            path,
            upgrade,
            answered_by,
            handshake_seconds: if upgrade { header } else { None },
            session_seconds: if status == 101 { request_seconds } else { None },
            request_seconds,
            bytes: rec.bytes().unwrap_or(0),
        })
    }

    /// Parses and classifies an error-log line.
    #[inline]
    pub fn error(&mut self, line: &[u8]) -> Result<ErrorLine, Mismatch> {
        match error_log::parse(line) {
            Ok(rec) => {
                // Only an event without context fields can go on: nginx appends them at the very end.
                self.open_quote = rec.client.is_none() && unescaped_quotes(rec.message) % 2 == 1;
                Ok(ErrorLine::Event(self.error_event(&rec)))
            }
            Err(_) if self.open_quote && !error_log::starts_event(line) => {
                if unescaped_quotes(line) % 2 == 1 {
                    self.open_quote = false;
                }
                Ok(ErrorLine::Continuation)
            }
            Err(e) => {
                self.open_quote = false;
                Err(e)
            }
        }
    }

    /// Classifies a parsed error record.
    #[inline]
    pub(crate) fn error_event(&mut self, rec: &ErrorRecord<'_>) -> ErrorEvent {
        let path = rec
            .request
            .map(|r| match crate::parse::access::split_request(r).target {
                Some(t) => self.labels.label(t),
                None => crate::classify::route::INVALID,
            });
        ErrorEvent {
            time: rec.time,
            level: rec.level,
            signature: self.catalogue.classify(rec.message),
            path,
        }
    }
}

/// Number of `"` not preceded by a backslash.
fn unescaped_quotes(s: &[u8]) -> usize {
    s.iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'"' && (i == 0 || s[i - 1] != b'\\'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Classifier {
        Classifier::new(
            LineFormat::compile("ws_timing").expect("preset"),
            &ClassifyConfig::default(),
        )
        .expect("classifier")
    }

    const WS_LINE: &[u8] = br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/chat?token=abc HTTP/1.1" 101 2 "-" "py" rt=12.500 uct="0.001" uht="0.003" urt="12.500" upgrade="websocket""#;

    #[test]
    fn auto_detects_the_most_specific_preset_and_keeps_it() {
        let cases: [(&[u8], &str); 4] = [
            (WS_LINE, "ws_timing"),
            (br#"10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl" "203.0.113.9""#, "main"),
            (br#"10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl""#, "combined"),
            (br#"{"status":"200","request":"GET /a HTTP/1.1","time_local":"28/Nov/2026:01:53:32 +0000"}"#, "json"),
        ];
        for (line, want) in cases {
            let mut c = Classifier::auto(&ClassifyConfig::default()).expect("auto");
            assert!(c.detecting());
            assert!(
                c.access(b"not a log line").is_err(),
                "garbage does not decide"
            );
            assert!(c.detecting());
            let e = c.access(line).expect("parses");
            assert_eq!(c.detected(), Some(want));
            assert!(!c.detecting());
            if want == "ws_timing" {
                assert_eq!(e.handshake_seconds, Some(0.003));
                assert_eq!(e.answered_by, AnsweredBy::Upstream);
            }
            // Fixed from now on: a line of another preset is malformed, not re-detected.
            let other = if want == "json" {
                WS_LINE
            } else {
                &br#"{"status":"200"}"#[..]
            };
            assert!(c.access(other).is_err());
            assert_eq!(c.detected(), Some(want));
        }
    }

    #[test]
    fn json_lines_without_http_upgrade_fall_back_to_the_path_prefix() {
        let mut c = Classifier::new(
            LineFormat::compile("json").expect("preset"),
            &ClassifyConfig {
                ws_path_prefixes: vec!["/ws/".into()],
                ..ClassifyConfig::default()
            },
        )
        .expect("classifier");
        let e = c
            .access(br#"{"status":"403","request":"GET /ws/chat?token=x HTTP/1.1"}"#)
            .expect("parses");
        assert!(e.upgrade);
        assert_eq!(e.answered_by, AnsweredBy::Unknown);
        let e = c
            .access(br#"{"status":"200","request":"GET /ws/chat HTTP/1.1","http_upgrade":""}"#)
            .expect("parses");
        assert!(!e.upgrade, "the key is there and empty: not an upgrade");
        let e = c
            .access(br#"{"status":"403","request":"GET /api HTTP/1.1","http_upgrade":"websocket"}"#)
            .expect("parses");
        assert!(e.upgrade);
    }

    #[test]
    fn upgrade_101_answered_by_upstream() {
        let mut c = ws();
        let e = c
            .access(br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/chat?token=abc HTTP/1.1" 101 2 "-" "py" rt=12.500 uct="0.001" uht="0.003" urt="12.500" upgrade="websocket""#)
            .expect("parses");
        assert_eq!(e.status, 101);
        assert!(e.upgrade);
        assert_eq!(e.answered_by, AnsweredBy::Upstream);
        assert_eq!(e.handshake_seconds, Some(0.003));
        assert_eq!(e.session_seconds, Some(12.5));
        assert_eq!(c.labels.name(e.path), "/ws/chat");
    }

    #[test]
    fn denied_upgrade_answered_by_nginx() {
        let mut c = ws();
        let e = c
            .access(br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/denied HTTP/1.1" 403 153 "-" "py" rt=0.000 uct="-" uht="-" urt="-" upgrade="websocket""#)
            .expect("parses");
        assert!(e.upgrade);
        assert_eq!(e.answered_by, AnsweredBy::Nginx);
        assert_eq!(e.handshake_seconds, None);
        assert_eq!(e.session_seconds, None);
    }

    #[test]
    fn plain_get_is_not_upgrade_when_upgrade_logged() {
        let mut c = ws();
        let e = c
            .access(br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/x HTTP/1.1" 200 1 "-" "curl" rt=0.010 uct="0.001" uht="0.009" urt="0.010" upgrade="-""#)
            .expect("parses");
        assert!(!e.upgrade);
        assert_eq!(e.handshake_seconds, None);
    }

    #[test]
    fn prefix_decides_without_upgrade_field() {
        let mut c = Classifier::new(
            LineFormat::compile("combined").expect("p"),
            &ClassifyConfig::default(),
        )
        .expect("c");
        let e = c
            .access(
                br#"::1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/chat HTTP/1.1" 403 0 "-" "-""#,
            )
            .expect("parses");
        assert!(e.upgrade);
        assert_eq!(e.answered_by, AnsweredBy::Unknown);
        let e = c
            .access(br#"::1 - - [28/Nov/2026:01:53:32 +0000] "-" 400 0 "-" "-""#)
            .expect("parses");
        assert_eq!(e.path, crate::classify::route::INVALID);
        assert_eq!(METHODS[e.method as usize], "OTHER");
    }

    #[test]
    fn dashes_everywhere_and_http2_without_upstream() {
        let mut c = ws();
        let e = c
            .access(br#"- - - [28/Nov/2026:01:53:32 +0000] "-" 400 0 "-" "-" rt=0.000 uct="-" uht="-" urt="-" upgrade="-""#)
            .expect("parses");
        assert_eq!(e.path, crate::classify::route::INVALID);
        assert!(!e.upgrade);
        assert_eq!(e.answered_by, AnsweredBy::Nginx);
        assert_eq!(e.handshake_seconds, None);
        let e = c
            .access(br#"2001:db8::2 - alice [28/Nov/2026:01:53:32 +0100] "GET /ws/chat HTTP/2.0" 200 5 "-" "Mozilla/5.0 ("quoted")" rt=0.100 uct="0.001, 0.002" uht="0.010 : 0.020" urt="0.100" upgrade="-""#)
            .expect("parses");
        assert_eq!(e.time, Some(1_795_827_212.0));
        assert!(
            !e.upgrade,
            "HTTP/2 GET without an Upgrade header is not an upgrade attempt"
        );
        assert_eq!(e.answered_by, AnsweredBy::Upstream);
    }

    #[test]
    fn bad_status_is_malformed() {
        let mut c = ws();
        assert!(c
            .access(br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET / HTTP/1.1" abc 1 "-" "x" rt=0 uct="-" uht="-" urt="-" upgrade="-""#)
            .is_err());
    }

    #[test]
    fn error_continuations() {
        let mut c = ws();
        assert!(matches!(
            c.error(
                br#"2019/10/30 23:26:34 [error] 1#1: *1 FastCGI sent in stderr: "PHP message: x"#
            ),
            Ok(ErrorLine::Event(_))
        ));
        assert_eq!(
            c.error(b"PHP message: PHP Warning: y"),
            Ok(ErrorLine::Continuation)
        );
        assert!(c.error(b"2019/13/30 23:26:34 [error] bad").is_err());
        assert!(c.error(b"garbage").is_err());
    }
}
