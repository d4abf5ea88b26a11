//! Error-log lines: `YYYY/MM/DD HH:MM:SS [level] pid#tid: *cid message, client: ..., ...`.
//!
//! The message ends where nginx starts appending its context fields (`, client: `); those fields
//! are then read in nginx's order (`client`, `server`, `request`, `subrequest`, `upstream`,
//! `host`, `referrer`). Everything is a span of the line; nothing is copied.

use crate::parse::format::Mismatch;
use crate::parse::values;

/// nginx's error-log levels, in severity order.
pub(crate) const LEVELS: &[&str] = &[
    "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
];

/// A parsed error-log line, borrowing the line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorRecord<'a> {
    pub(crate) time: Option<f64>,
    /// Index into [`LEVELS`].
    pub(crate) level: u8,
    pub(crate) pid: Option<&'a [u8]>,
    pub(crate) tid: Option<&'a [u8]>,
    pub(crate) connection: Option<&'a [u8]>,
    /// The message including ` while <action>`, without the context fields.
    pub(crate) message: &'a [u8],
    pub(crate) client: Option<&'a [u8]>,
    pub(crate) server: Option<&'a [u8]>,
    pub(crate) request: Option<&'a [u8]>,
    pub(crate) upstream: Option<&'a [u8]>,
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) referrer: Option<&'a [u8]>,
}

const CONTEXT_KEYS: &[&[u8]] = &[
    b"client: ",
    b"server: ",
    b"request: ",
    b"subrequest: ",
    b"upstream: ",
    b"host: ",
    b"referrer: ",
];

/// Whether a line starts like an error-log event (`YYYY/MM/DD `); other lines following an event
/// are continuations of a multi-line message (e.g. `FastCGI sent in stderr`).
#[inline]
pub fn starts_event(line: &[u8]) -> bool {
    line.len() >= 20
        && line[4] == b'/'
        && line[7] == b'/'
        && line[..4].iter().all(u8::is_ascii_digit)
}

/// Parses one error-log line.
pub fn parse(line: &[u8]) -> Result<ErrorRecord<'_>, Mismatch> {
    let bad = Mismatch::new;
    if line.len() < 22 || !starts_event(line) {
        return Err(bad(
            0,
            "expected an nginx error-log line starting `YYYY/MM/DD HH:MM:SS [level]`",
        ));
    }
    let time = values::parse_error_time(&line[..19]);
    if time.is_none() {
        return Err(bad(
            0,
            "invalid date/time at the start of the error-log line",
        ));
    }
    if &line[19..21] != b" [" {
        return Err(bad(19, "expected ` [level]` after the time"));
    }
    let close = memchr::memchr(b']', &line[21..]).ok_or(bad(21, "unterminated `[level]`"))? + 21;
    let level_text = &line[21..close];
    let level = LEVELS
        .iter()
        .position(|l| l.as_bytes() == level_text)
        .ok_or(bad(21, "unknown error-log level"))? as u8;
    let mut rec = ErrorRecord {
        time,
        level,
        ..Default::default()
    };
    let mut rest = line.get(close + 1..).unwrap_or(&[]);
    rest = rest.strip_prefix(b" ").unwrap_or(rest);
    // pid#tid:
    if let Some(colon) = memchr::memchr(b':', rest) {
        let head = &rest[..colon];
        if let Some(hash) = memchr::memchr(b'#', head) {
            if head[..hash].iter().all(u8::is_ascii_digit)
                && head[hash + 1..].iter().all(u8::is_ascii_digit)
            {
                rec.pid = Some(&head[..hash]);
                rec.tid = Some(&head[hash + 1..]);
                rest = rest.get(colon + 1..).unwrap_or(&[]);
                rest = rest.strip_prefix(b" ").unwrap_or(rest);
            }
        }
    }
    // *connection
    if rest.first() == Some(&b'*') {
        let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n > 0 {
            rec.connection = Some(&rest[1..1 + n]);
            rest = rest.get(1 + n..).unwrap_or(&[]);
            rest = rest.strip_prefix(b" ").unwrap_or(rest);
        }
    }
    // The message may itself contain `, client: ` (a user name or path an attacker chose): the
    // context starts at the first occurrence whose fields read through to the end of the line,
    // else at the last one.
    rec.message = rest;
    let mut last = None;
    for at in memchr::memmem::find_iter(rest, b", client: ") {
        let mut candidate = rec;
        candidate.message = &rest[..at];
        if parse_context(&rest[at + 2..], &mut candidate) {
            return Ok(candidate);
        }
        last = Some(candidate);
    }
    Ok(last.unwrap_or(rec))
}

/// Reads `client: a, server: b, request: "..."` in nginx's order; true when that consumed the
/// whole text.
fn parse_context<'a>(mut s: &'a [u8], rec: &mut ErrorRecord<'a>) -> bool {
    let mut k = 0;
    while k < CONTEXT_KEYS.len() {
        let key = CONTEXT_KEYS[k];
        if !s.starts_with(key) {
            k += 1;
            continue;
        }
        s = &s[key.len()..];
        let (value, rest) = if s.first() == Some(&b'"') {
            let mut i = 1;
            let end = loop {
                match memchr::memchr(b'"', &s[i..]) {
                    Some(p) if s[i + p - 1] == b'\\' => i += p + 1,
                    Some(p) => break Some(i + p),
                    None => break None,
                }
            };
            match end {
                Some(e) => (&s[1..e], &s[e + 1..]),
                None => (&s[1..], &[][..]),
            }
        } else {
            let e = memchr::memmem::find(s, b", ").unwrap_or(s.len());
            (&s[..e], &s[e..])
        };
        let value = values::present(value);
        match k {
            0 => rec.client = value,
            1 => rec.server = value,
            2 => rec.request = value,
            4 => rec.upstream = value,
            5 => rec.host = value,
            6 => rec.referrer = value,
            _ => {}
        }
        s = rest.strip_prefix(b", ").unwrap_or(rest);
        k += 1;
    }
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_line() {
        let l = br#"2026/11/28 01:53:32 [error] 1234#0: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /ws/chat?token=abc HTTP/1.1", upstream: "http://127.0.0.1:9/ws/chat?token=abc", host: "localhost:8080""#;
        let r = parse(l).expect("parses");
        assert_eq!(LEVELS[r.level as usize], "error");
        assert_eq!(r.pid, Some(&b"1234"[..]));
        assert_eq!(r.connection, Some(&b"5"[..]));
        assert_eq!(
            r.message,
            &b"connect() failed (111: Connection refused) while connecting to upstream"[..]
        );
        assert_eq!(r.client, Some(&b"127.0.0.1"[..]));
        assert_eq!(r.request, Some(&b"GET /ws/chat?token=abc HTTP/1.1"[..]));
        assert_eq!(
            r.upstream,
            Some(&b"http://127.0.0.1:9/ws/chat?token=abc"[..])
        );
        assert_eq!(r.host, Some(&b"localhost:8080"[..]));
    }

    #[test]
    fn empty_server_and_no_connection() {
        let r = parse(br#"2019/10/30 23:26:34 [notice] 1#1: signal process started"#).expect("ok");
        assert_eq!(r.message, &b"signal process started"[..]);
        assert_eq!(r.connection, None);
        let r = parse(br#"2021/04/01 13:02:31 [error] 31#31: *1 access forbidden by rule, client: ::1, server: , request: "GET / HTTP/1.1", host: """#).expect("ok");
        assert_eq!(r.server, None);
        assert_eq!(r.request, Some(&b"GET / HTTP/1.1"[..]));
        assert_eq!(r.host, None);
    }

    #[test]
    fn context_inside_the_message_is_not_trusted() {
        let l = br#"2014/04/03 22:20:40 [error] 30708#0: *3 user "test": password mismatch, client: 127.0.0.1, server: test, request: "GET / HTTP/1.1", host: "localhost:8443"": was not found in "/etc/nginx/.htpasswd", client: 192.0.2.2, server: , request: "GET / HTTP/1.1", host: "localhost:8443""#;
        let r = parse(l).expect("parses");
        assert_eq!(r.client, Some(&b"192.0.2.2"[..]));
        assert!(r
            .message
            .ends_with(br#"was not found in "/etc/nginx/.htpasswd""#));
    }

    #[test]
    fn rejects_other_lines() {
        assert!(parse(b"PHP message: PHP Warning: x").is_err());
        assert!(parse(b"2026/11/28 01:53:32 [bogus] 1#1: x").is_err());
        assert!(parse(b"2026/13/28 01:53:32 [error] 1#1: x").is_err());
        assert!(parse(b"").is_err());
    }
}
