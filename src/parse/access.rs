//! Access records: a typed, borrowed view over a matched line.
//!
//! Nothing is copied: every accessor returns bytes of the line or a number parsed from them, and
//! nginx's `-` reads as absent.

use crate::parse::format::{Fields, LineFormat, Var};
use crate::parse::values::{self, present};

/// The request line split into its parts. `target` still carries the query string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestLine<'a> {
    pub(crate) method: Option<&'a [u8]>,
    pub(crate) target: Option<&'a [u8]>,
    pub(crate) protocol: Option<&'a [u8]>,
}

/// Splits `$request` (`GET /ws/chat?token=x HTTP/1.1`, `GET /`, `-`, garbage).
#[inline]
pub(crate) fn split_request(req: &[u8]) -> RequestLine<'_> {
    let Some(req) = present(req) else {
        return RequestLine::default();
    };
    let Some(sp1) = memchr::memchr(b' ', req) else {
        // "GET" alone or binary junk: no target.
        return RequestLine {
            method: Some(req),
            target: None,
            protocol: None,
        };
    };
    let method = &req[..sp1];
    let rest = &req[sp1 + 1..];
    let (target, protocol) = match memchr::memrchr(b' ', rest) {
        Some(sp2) if rest[sp2 + 1..].starts_with(b"HTTP/") => {
            (&rest[..sp2], Some(&rest[sp2 + 1..]))
        }
        _ => (rest, None),
    };
    RequestLine {
        method: Some(method),
        target: (!target.is_empty()).then_some(target),
        protocol,
    }
}

/// A matched access-log line.
#[derive(Clone, Copy)]
pub struct AccessRecord<'a> {
    line: &'a [u8],
    format: &'a LineFormat,
    fields: &'a Fields,
}

impl<'a> AccessRecord<'a> {
    /// Wraps a line that `format` matched into `fields`.
    #[inline]
    pub(crate) fn new(line: &'a [u8], format: &'a LineFormat, fields: &'a Fields) -> Self {
        AccessRecord {
            line,
            format,
            fields,
        }
    }

    /// Raw bytes of a variable as logged (`-` included); `None` when the format lacks it.
    #[inline]
    pub(crate) fn raw(&self, var: Var) -> Option<&'a [u8]> {
        let slot = self.format.slot_of(var)?;
        let span = (*self.fields.spans.get(slot)?)?;
        Some(span.of(self.line))
    }

    /// A variable's value, absent when not logged or `-`.
    #[inline]
    pub(crate) fn get(&self, var: Var) -> Option<&'a [u8]> {
        self.raw(var).and_then(present)
    }

    /// The request line, from `$request` or from `$request_method` + `$request_uri`/`$uri`.
    #[inline]
    pub(crate) fn request(&self) -> RequestLine<'a> {
        if let Some(r) = self.raw(Var::Request) {
            return split_request(r);
        }
        RequestLine {
            method: self.get(Var::RequestMethod),
            target: self.get(Var::RequestUri).or_else(|| self.get(Var::Uri)),
            protocol: self.get(Var::ServerProtocol),
        }
    }

    /// `$status`.
    #[inline]
    pub(crate) fn status(&self) -> Option<u16> {
        let s = values::parse_u64(self.get(Var::Status)?)?;
        (100..=999).contains(&s).then_some(s as u16)
    }

    /// `$body_bytes_sent`, else `$bytes_sent`.
    #[inline]
    pub(crate) fn bytes(&self) -> Option<u64> {
        self.get(Var::BodyBytesSent)
            .or_else(|| self.get(Var::BytesSent))
            .and_then(values::parse_u64)
    }

    /// `$request_time` in seconds.
    #[inline]
    pub(crate) fn request_time(&self) -> Option<f64> {
        self.get(Var::RequestTime).and_then(values::parse_seconds)
    }

    /// Event time from `$time_local`, `$time_iso8601` or `$msec`, as Unix seconds.
    #[inline]
    pub(crate) fn time(&self) -> Option<f64> {
        if let Some(v) = self.get(Var::TimeLocal) {
            return values::parse_time_local(v);
        }
        if let Some(v) = self.get(Var::TimeIso8601) {
            return values::parse_time_iso8601(v);
        }
        self.get(Var::Msec).and_then(values::parse_msec)
    }

    /// The line's bytes.
    pub(crate) fn line(&self) -> &'a [u8] {
        self.line
    }

    /// The fields matched, for printing every variable.
    pub fn fields(&self) -> &'a Fields {
        self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = split_request(b"GET /ws/chat?token=x HTTP/1.1");
        assert_eq!(r.method, Some(&b"GET"[..]));
        assert_eq!(r.target, Some(&b"/ws/chat?token=x"[..]));
        assert_eq!(r.protocol, Some(&b"HTTP/1.1"[..]));
        let r = split_request(b"GET /");
        assert_eq!(r.target, Some(&b"/"[..]));
        assert_eq!(r.protocol, None);
        assert_eq!(split_request(b"-"), RequestLine::default());
        assert_eq!(split_request(b""), RequestLine::default());
        let r = split_request(b"\\x16\\x03\\x01\\x00");
        assert_eq!(r.target, None);
        let r = split_request(b"GET /a b c HTTP/2.0");
        assert_eq!(r.target, Some(&b"/a b c"[..]));
    }
}
