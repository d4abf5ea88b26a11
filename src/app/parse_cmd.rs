//! `nginxlog-sidecar parse`: print every line as a JSON object, to check a `log_format` before
//! deploying. Malformed lines go to stderr as `line N: reason`, then a summary.

use crate::classify::signature;
use crate::classify::{AccessEvent, Classifier, ErrorLine, METHODS};
use crate::framing::{Frame, LineBuffer};
use crate::parse::access::AccessRecord;
use crate::parse::error_log::{self, LEVELS};
use crate::parse::format::{decode, Escape};
use crate::parse::redact;
use crate::parse::values;
use serde_json::{json, Map, Value};
use std::io::{self, Read, Write};

/// Counts printed at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub parsed: u64,
    pub malformed: u64,
    /// Continuation lines of multi-line error messages.
    pub continuation: u64,
    /// The reader closed the output (`parse ... | head`): counts cover the lines read so far.
    pub(crate) closed: bool,
}

/// Every printed access-log value goes through here: nginx's escapes are decoded *first*, then
/// the value is redacted by its name ([`redact::field_raw`]), so an escaped `?` (`\x3F`,
/// `\u003f`) or `%` (`\x25` then `3F`) is cut like a logged one, as the label code does.
fn shown(name: &str, v: &[u8], escape: Escape) -> Option<String> {
    let d = decode(v, escape);
    redact::field_raw(name, &d).map(|v| String::from_utf8_lossy(&v).into_owned())
}

fn opt_shown(name: &str, v: Option<&[u8]>, escape: Escape) -> Value {
    v.and_then(|v| shown(name, v, escape))
        .map_or(Value::Null, Value::String)
}

/// The request target's path: decoded, then reduced to its path (query, fragment and an
/// absolute URI's scheme and host cut), then without `;params`.
fn shown_path(target: &[u8], escape: Escape) -> Option<String> {
    let d = decode(target, escape);
    let p = crate::classify::route::path_of(&d)?;
    Some(String::from_utf8_lossy(&redact::strip_params(p)).into_owned())
}

fn num(v: Option<f64>) -> Value {
    v.and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// JSON object for an access line.
pub fn access_json(n: u64, rec: &AccessRecord<'_>, ev: &AccessEvent, c: &Classifier) -> Value {
    use crate::parse::format::Var;
    let esc = c.format().escape();
    let req = rec.request();
    let path = req.target.and_then(|t| shown_path(t, esc));
    let mut fields = Map::new();
    for (slot, span) in c.format().slots().iter().zip(&rec.fields().spans) {
        if let Some(span) = span {
            if let Some(v) = shown(&slot.name, span.of(rec.line()), esc) {
                fields.insert(slot.name.clone(), Value::String(v));
            }
        }
    }
    json!({
        "line": n,
        "time": ev.time.map(values::rfc3339),
        "remote_addr": opt_shown("remote_addr", rec.get(Var::RemoteAddr), esc),
        "remote_user": opt_shown("remote_user", rec.get(Var::RemoteUser), esc),
        "method": opt_shown("request_method", req.method, esc),
        "path": path,
        "protocol": opt_shown("server_protocol", req.protocol, esc),
        "path_label": c.labels.name(ev.path),
        "status": ev.status,
        "upgrade": ev.upgrade,
        "answered_by": ev.answered_by.as_str(),
        "handshake_seconds": num(ev.handshake_seconds),
        "session_seconds": num(ev.session_seconds),
        "request_seconds": num(ev.request_seconds),
        "bytes": rec.bytes(),
        "upstream_connect_time": opt_shown("upstream_connect_time", rec.get(Var::UpstreamConnectTime), esc),
        "upstream_header_time": opt_shown("upstream_header_time", rec.get(Var::UpstreamHeaderTime), esc),
        "upstream_response_time": opt_shown("upstream_response_time", rec.get(Var::UpstreamResponseTime), esc),
        "upstream_status": opt_shown("upstream_status", rec.get(Var::UpstreamStatus), esc),
        "http_upgrade": opt_shown("http_upgrade", rec.get(Var::HttpUpgrade), esc),
        "host": opt_shown("host", rec.get(Var::Host), esc),
        "referer": opt_shown("http_referer", rec.get(Var::HttpReferer), esc),
        "user_agent": opt_shown("http_user_agent", rec.get(Var::HttpUserAgent), esc),
        "method_label": METHODS[ev.method as usize],
        "fields": fields,
    })
}

/// JSON object for an error line.
pub fn error_json(n: u64, line: &[u8], c: &mut Classifier) -> Option<Value> {
    let rec = error_log::parse(line).ok()?;
    let ev = c.error_event(&rec);
    let s = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
    let url =
        |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(&redact::strip_url(v)).into_owned());
    Some(json!({
        "line": n,
        "time": rec.time.map(values::rfc3339),
        "level": LEVELS[rec.level as usize],
        "pid": s(rec.pid),
        "tid": s(rec.tid),
        "connection": s(rec.connection),
        "signature": signature::name(ev.signature),
        "message": redact::strip_queries(&String::from_utf8_lossy(rec.message)),
        "client": s(rec.client),
        "server": s(rec.server),
        "request": rec.request.map(|v| String::from_utf8_lossy(&redact::strip_request(v)).into_owned()),
        "upstream": url(rec.upstream),
        "host": s(rec.host),
        "referrer": url(rec.referrer),
        "path_label": ev.path.map(|p| c.labels.name(p).to_string()),
    }))
}

/// Reads `input` to the end, printing records to `out` and problems to `err`.
pub fn run(
    c: &mut Classifier,
    error_log: bool,
    max_line: usize,
    input: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Summary> {
    let mut lb = LineBuffer::new(max_line);
    let mut sum = Summary::default();
    let mut n = 0u64;
    // A closed output stops the run quietly; the counts so far still decide `--strict`.
    let closed = |r: io::Result<()>, sum: &mut Summary| match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            sum.closed = true;
            Ok(true)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(false),
    };
    loop {
        let read = lb.fill_from(input)?;
        while let Some(frame) = lb.next_frame() {
            n += 1;
            let r = handle(c, error_log, n, frame, &mut sum, out, err);
            if closed(r, &mut sum)? {
                return Ok(sum);
            }
        }
        if read == 0 {
            if let Some(frame) = lb.take_partial() {
                n += 1;
                let r = handle(c, error_log, n, frame, &mut sum, out, err);
                if closed(r, &mut sum)? {
                    return Ok(sum);
                }
            }
            break;
        }
    }
    if let Some(name) = c.detected() {
        writeln!(err, "format: {name} (detected by --format auto)")?;
    } else if c.detecting() && !error_log {
        writeln!(
            err,
            "format: not detected (no line matched a preset; give --format nginx's log_format)"
        )?;
    }
    writeln!(
        err,
        "parsed {}, malformed {}{}",
        sum.parsed,
        sum.malformed,
        if sum.continuation > 0 {
            format!(", continuation {}", sum.continuation)
        } else {
            String::new()
        }
    )?;
    Ok(sum)
}

fn handle(
    c: &mut Classifier,
    error_log: bool,
    n: u64,
    frame: Frame<'_>,
    sum: &mut Summary,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let line = match frame {
        Frame::Line(l) => l,
        Frame::Oversized(len) => {
            sum.malformed += 1;
            return writeln!(
                err,
                "line {n}: line of {len} bytes exceeds --max-line-bytes; skipped"
            );
        }
    };
    if error_log {
        match c.error(line) {
            Ok(ErrorLine::Event(_)) => {
                if let Some(v) = error_json(n, line, c) {
                    sum.parsed += 1;
                    writeln!(out, "{v}")?;
                }
            }
            Ok(ErrorLine::Continuation) => sum.continuation += 1,
            Err(e) => {
                sum.malformed += 1;
                writeln!(err, "line {n}: {} (at byte {})", e.reason, e.offset)?;
            }
        }
        return Ok(());
    }
    match c.access(line) {
        Ok(ev) => {
            let v = access_json(n, &c.record(line), &ev, c);
            sum.parsed += 1;
            writeln!(out, "{v}")
        }
        Err(e) => {
            sum.malformed += 1;
            writeln!(err, "line {n}: {}", c.format().explain(&e))
        }
    }
}
