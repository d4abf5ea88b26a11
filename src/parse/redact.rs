//! Query-string redaction for everything the sidecar prints.
//!
//! WebSocket clients pass tokens in the query (`/ws/chat?token=...`): only the part before `?`
//! is ever shown, in `parse` output, reports and the sidecar's own logs, and `;params`
//! (`;jsessionid=`) are removed from the segment that carries them. Printed values are decoded
//! from nginx's escapes *first* and cut after, like labels: an escaped `?` (`\x3F`, `\u003f`) or
//! `%` (`\x25` then `3F`) is a delimiter as much as a logged one. A decoded quote is just a
//! character of the whole value, so a query ends only where the value ends (or, in a request
//! line, at its protocol).

use std::borrow::Cow;

/// Variables and JSON keys whose whole value is query data or a credential; never printed.
pub(crate) fn is_secret_var(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "args"
        || n == "query_string"
        || n.starts_with("arg_")
        || n == "request_body"
        || n.starts_with("cookie_")
        || [
            "query", "token", "auth", "cookie", "secret", "password", "passwd", "api_key", "apikey",
        ]
        .iter()
        .any(|w| n.contains(w))
}

/// Values shaped like a request line (`GET /a?b HTTP/1.1`), whatever their key is called:
/// `$request`, or a JSON key such as `req`.
fn is_request_line(name: &str, raw: &[u8]) -> bool {
    if name == "request" {
        return true;
    }
    let method = raw.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (3..=10).contains(&method)
        && raw.get(method) == Some(&b' ')
        && matches!(raw.get(method + 1), Some(b'/' | b'h' | b'H'))
}

/// Percent-decoding rounds a delimiter is looked for through: a backend (or a chain of them)
/// that decodes more than once reads `%253F`, `%25%33%46`, `%253%46` or `%%33F` as `?`.
const ROUNDS: usize = 3;
/// Raw bytes that can become one character over [`ROUNDS`] rounds (3 per round).
const WINDOW: usize = 27;

#[inline]
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The delimiter (`?`, `#` or `;`) that `s`, which starts with `%`, turns into within
/// [`ROUNDS`] rounds of percent-decoding, if any. Decodes a fixed stack window: no allocation.
#[inline]
fn encoded_delim(s: &[u8]) -> Option<u8> {
    // The common case (`%20`, `%3F`, `%2F`): one escape that is not `%25` decides at once.
    if let (Some(h), Some(l)) = (
        s.get(1).and_then(|&b| hex(b)),
        s.get(2).and_then(|&b| hex(b)),
    ) {
        match (h << 4) | l {
            c @ (b'?' | b'#' | b';') => return Some(c),
            b'%' => {}
            _ => return None,
        }
    }
    let mut a = [0u8; WINDOW];
    let mut b = [0u8; WINDOW];
    let mut len = s.len().min(WINDOW);
    a[..len].copy_from_slice(&s[..len]);
    for _ in 0..ROUNDS {
        let (mut i, mut o) = (0, 0);
        while i < len {
            let c = a[i];
            let pair = if c == b'%' && i + 2 < len {
                hex(a[i + 1]).zip(hex(a[i + 2]))
            } else {
                None
            };
            b[o] = match pair {
                Some((h, l)) => {
                    i += 3;
                    (h << 4) | l
                }
                None => {
                    i += 1;
                    c
                }
            };
            o += 1;
        }
        match (o > 0).then_some(b[0]) {
            Some(c @ (b'?' | b'#' | b';')) => return Some(c),
            Some(b'%') => {}
            _ => return None,
        }
        std::mem::swap(&mut a, &mut b);
        len = o;
    }
    None
}

/// Where the shown part of a target ends: the first `?` or `#`, or a percent-encoded one
/// (`%3F`, `%23`, any case, also re-encoded, see [`ROUNDS`]). A token rides after every one of
/// them, so all are cut the same: this is the one place that decides it for labels, `parse`
/// output, reports and logs. `;params` are not a query: see [`param_start`].
#[inline]
pub(crate) fn query_start(raw: &[u8]) -> Option<usize> {
    memchr::memchr3_iter(b'?', b'#', b'%', raw)
        .find(|&i| raw[i] != b'%' || matches!(encoded_delim(&raw[i..]), Some(b'?' | b'#')))
}

/// The first `;` (or an encoded one: `%3B`, `%253B`, ...) of a path whose query is cut
/// already: a parameter (`;jsessionid=`) that runs to the end of its segment.
#[inline]
pub(crate) fn param_start(path: &[u8]) -> Option<usize> {
    memchr::memchr2_iter(b';', b'%', path)
        .find(|&i| path[i] == b';' || encoded_delim(&path[i..]) == Some(b';'))
}

/// Appends `path` to `out` without its `;params`: each runs from its `;` to the next `/`, so
/// `/api/v1;v=2/users/42` is `/api/v1/users/42` and `/shop;jsessionid=S/cart` is `/shop/cart`
/// (a parameter cannot hold a literal `/`).
pub(crate) fn push_without_params(path: &[u8], out: &mut Vec<u8>) {
    let mut rest = path;
    while let Some(p) = param_start(rest) {
        out.extend_from_slice(&rest[..p]);
        rest = match memchr::memchr(b'/', &rest[p..]) {
            Some(s) => &rest[p + s..],
            None => b"",
        };
    }
    out.extend_from_slice(rest);
}

/// `path` without its `;params` (borrowed when it has none).
pub(crate) fn strip_params(path: &[u8]) -> Cow<'_, [u8]> {
    if param_start(path).is_none() {
        return Cow::Borrowed(path);
    }
    let mut v = Vec::with_capacity(path.len());
    push_without_params(path, &mut v);
    Cow::Owned(v)
}

/// Cuts `?query` and `#fragment` off a URL or path value and removes its `;params`
/// (`;jsessionid=`) segment by segment.
pub(crate) fn strip_url(raw: &[u8]) -> Cow<'_, [u8]> {
    strip_params(&raw[..query_start(raw).unwrap_or(raw.len())])
}

/// Cuts the query off a request line, removes its `;params` and keeps its protocol:
/// `GET /a;s=1?t=1,2"x HTTP/1.1` -> `GET /a HTTP/1.1`.
pub(crate) fn strip_request(raw: &[u8]) -> Cow<'_, [u8]> {
    let q = query_start(raw);
    let proto = raw
        .windows(6)
        .rposition(|w| w == b" HTTP/")
        .filter(|&p| !raw[p + 1..].contains(&b' ') && q.is_none_or(|q| p > q));
    let end = q.or(proto).unwrap_or(raw.len());
    let tail = proto.map_or(&b""[..], |p| &raw[p..]);
    if end + tail.len() == raw.len() && param_start(&raw[..end]).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut v = Vec::with_capacity(raw.len());
    push_without_params(&raw[..end], &mut v);
    v.extend_from_slice(tail);
    Cow::Owned(v)
}

/// Whether a value of an unknown variable is a URL or path (it starts like one), so its query
/// is cut; text that merely mentions a URL (a crawler's user agent) is left alone.
fn looks_like_url(raw: &[u8]) -> bool {
    raw.first() == Some(&b'/')
        || raw
            .iter()
            .position(|b| !b.is_ascii_alphanumeric() && !matches!(b, b'+' | b'-' | b'.'))
            .is_some_and(|i| i > 0 && raw[i..].starts_with(b"://"))
        || host_and_query(raw)
}

/// `example.com/a?token=...` (a JSON key built from `$host$request_uri`): a word with a `/`
/// before a `?` or `#`, no whitespace in between.
fn host_and_query(raw: &[u8]) -> bool {
    let word = raw
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .map_or(raw, |i| &raw[..i]);
    match (word.iter().position(|&b| b == b'/'), query_start(word)) {
        (Some(slash), Some(q)) => slash < q,
        _ => false,
    }
}

/// Redacts a named field's value, already decoded from nginx's escapes, for printing; `None`
/// when the field must not be printed. Known URL variables and any value that looks like a URL
/// or path lose their query and `;params`.
pub(crate) fn field_raw<'a>(name: &str, raw: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    if is_secret_var(name) {
        return None;
    }
    if is_request_line(name, raw) {
        return Some(strip_request(raw));
    }
    let urlish = matches!(
        name,
        "request_uri" | "uri" | "document_uri" | "http_referer" | "upstream" | "referrer"
    ) || looks_like_url(raw);
    Some(if urlish {
        strip_url(raw)
    } else {
        Cow::Borrowed(raw)
    })
}

/// Removes `?query` and `#fragment` from every URL-like word of free text (nginx's own message
/// text), and `;params` up to the next `/` (also their percent-encoded forms, see
/// [`query_start`]); a word ends at whitespace or a quote. A literal `;` is a parameter only in
/// a word that holds a `/` so far (a path), so prose such as `(X11; Linux)` stays readable.
pub(crate) fn strip_queries(text: &str) -> String {
    #[derive(PartialEq)]
    enum Skip {
        No,
        Param,
        Word,
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut skip = Skip::No;
    let mut in_path = false;
    for (i, c) in text.char_indices() {
        let word_end = c.is_whitespace() || c == '"';
        let enc = if c == '%' {
            encoded_delim(&bytes[i..])
        } else {
            None
        };
        if word_end {
            skip = Skip::No;
        } else if skip == Skip::Word {
            continue;
        } else if c == '?' || c == '#' || matches!(enc, Some(b'?' | b'#')) {
            skip = Skip::Word;
            continue;
        } else if (c == ';' && in_path) || enc == Some(b';') {
            skip = Skip::Param;
            continue;
        } else if skip == Skip::Param {
            if c != '/' {
                continue;
            }
            skip = Skip::No;
        }
        in_path = !word_end && (in_path || c == '/');
        out.push(c);
    }
    out
}
#[cfg(test)]
mod tests {
    #[test]
    fn host_prefixed_urls_lose_their_query() {
        for v in [
            &b"example.com/a?token=S"[..],
            b"example.com/a%3Ftoken=S",
            b"h/x#frag",
        ] {
            let out = field_raw("url", v).expect("printed");
            assert!(!String::from_utf8_lossy(&out).contains("token"), "{out:?}");
            assert!(!String::from_utf8_lossy(&out).contains("frag"), "{out:?}");
        }
        // Not a URL: left as it is.
        assert_eq!(
            field_raw("content_type", b"text/html; charset=utf-8")
                .expect("printed")
                .as_ref(),
            b"text/html; charset=utf-8"
        );
    }

    use super::*;

    fn s(v: Option<Cow<'_, [u8]>>) -> Option<String> {
        v.map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn request_lines_keep_method_and_protocol_only() {
        assert_eq!(
            &*strip_request(b"GET /ws/chat?token=eyJ.a.b HTTP/1.1"),
            b"GET /ws/chat HTTP/1.1"
        );
        // Commas, spaces, escaped quotes and fake protocols inside the query are all cut.
        assert_eq!(
            &*strip_request(br"GET /ws/chat?ids=1,S1&t=a\x22S2 x HTTP/1.0 y&z=S3 HTTP/1.1"),
            b"GET /ws/chat HTTP/1.1"
        );
        assert_eq!(&*strip_request(b"GET /a?t=S"), b"GET /a");
        assert_eq!(
            &*strip_request(b"GET /ws/chat;jsessionid=S?x=1 HTTP/1.1"),
            b"GET /ws/chat HTTP/1.1"
        );
        assert_eq!(
            &*strip_request(b"GET /ws;a=S/chat;b=S HTTP/1.1"),
            b"GET /ws/chat HTTP/1.1"
        );
        assert_eq!(&*strip_request(b"GET /a HTTP/2.0"), b"GET /a HTTP/2.0");
    }

    #[test]
    fn url_fields_and_url_looking_values_lose_their_query() {
        assert_eq!(
            s(field_raw(
                "upstream",
                b"http://127.0.0.1:8080/ws/chat?ids=1,S3&token=S4"
            )),
            Some("http://127.0.0.1:8080/ws/chat".into())
        );
        assert_eq!(
            s(field_raw("http_referer", b"https://x/page?a=1,S5")),
            Some("https://x/page".into())
        );
        assert_eq!(
            s(field_raw("http_x_original_uri", b"/ws/chat?token=S")),
            Some("/ws/chat".into())
        );
        assert_eq!(
            s(field_raw("url", br"https://x/ws?token=a\u0022S")),
            Some("https://x/ws".into())
        );
        assert_eq!(s(field_raw("http_user_agent", b"a?b")), Some("a?b".into()));
        assert_eq!(
            s(field_raw("req", b"GET /ws/chat?token=S HTTP/1.1")),
            Some("GET /ws/chat HTTP/1.1".into())
        );
        let bot = b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(
            s(field_raw("http_user_agent", bot)),
            Some(String::from_utf8_lossy(bot).into_owned())
        );
    }

    #[test]
    fn secrets_are_never_printed() {
        for name in [
            "arg_token",
            "args",
            "query_string",
            "query",
            "http_authorization",
            "authorization",
            "http_cookie",
            "x_api_key",
            "access_token",
        ] {
            assert_eq!(field_raw(name, b"x"), None, "{name}");
        }
    }

    #[test]
    fn percent_encoded_query_starts_are_cut() {
        assert_eq!(
            &*strip_request(b"GET /ws/chat%3Ftoken=SECRET HTTP/1.1"),
            b"GET /ws/chat HTTP/1.1"
        );
        assert_eq!(&*strip_url(b"/ws/chat%3ftoken=SECRET"), b"/ws/chat");
        assert_eq!(&*strip_url(b"/ws/chat%23token=SECRET"), b"/ws/chat");
        assert_eq!(&*strip_url(b"/a%20b%3"), b"/a%20b%3");
        assert_eq!(query_start(b"/a%2F%3Fx?y"), Some(5));
        assert_eq!(
            strip_queries("upstream: \"http://u/ws%3Ftoken=SECRET\", x"),
            "upstream: \"http://u/ws\", x"
        );
    }

    /// Double (and deeper, up to three rounds) encoded delimiters in every form are cut wherever
    /// the text is shown; `;params` go up to the end of their segment.
    #[test]
    fn re_encoded_delimiters_and_params_are_cut() {
        for form in [
            "%253F",
            "%253f",
            "%2523",
            "%25253F",
            "%25%33%46",
            "%253%46",
            "%%33F",
            "%25%32%35%33%46",
            "%%32%35%33F",
            "?",
            "%3F",
        ] {
            let url = format!("/ws/chat{form}token=SECRET");
            assert_eq!(&*strip_url(url.as_bytes()), b"/ws/chat", "{form}");
            assert_eq!(query_start(url.as_bytes()), Some(8), "{form}");
            let req = format!("GET {url} HTTP/1.1");
            assert_eq!(&*strip_request(req.as_bytes()), b"GET /ws/chat HTTP/1.1");
            let msg = format!("open() failed, request: \"GET {url} HTTP/1.1\", x");
            let m = strip_queries(&msg);
            assert!(
                !m.contains("SECRET") && m.contains("/ws/chat HTTP/1.1"),
                "{m}"
            );
        }
        for form in [";", "%3B", "%3b", "%253B", "%25%33%42", "%%33b", "%253%42"] {
            let url = format!("/shop{form}jsessionid=SECRET/cart");
            assert_eq!(query_start(url.as_bytes()), None, "{form}");
            assert_eq!(param_start(url.as_bytes()), Some(5), "{form}");
            assert_eq!(&*strip_url(url.as_bytes()), b"/shop/cart", "{form}");
            let req = format!("GET {url}?t=SECRET2 HTTP/1.1");
            assert_eq!(&*strip_request(req.as_bytes()), b"GET /shop/cart HTTP/1.1");
            let m = strip_queries(&format!("request: \"GET {url} HTTP/1.1\", x"));
            assert_eq!(m, "request: \"GET /shop/cart HTTP/1.1\", x", "{form}");
        }
        assert_eq!(
            &*strip_url(b"/api/v1;v=2/users/42;x=y"),
            b"/api/v1/users/42"
        );
        assert_eq!(&*strip_request(b"GET /a;s=S HTTP/1.1"), b"GET /a HTTP/1.1");
        // `%25` alone, or followed by something else, is just a percent sign; four rounds are
        // past what is looked through.
        assert_eq!(query_start(b"/a%2541/b%25"), None);
        assert_eq!(query_start(b"/a%2"), None);
        assert_eq!(query_start(b"/a%%%"), None);
        assert_eq!(query_start(b"/a%2525253F"), None);
        assert_eq!(param_start(b"/a%20b%2F"), None);
        assert_eq!(strip_queries("agent (X11; Linux)"), "agent (X11; Linux)");
    }

    #[test]
    fn free_text_loses_queries() {
        assert_eq!(
            strip_queries(r#"request: "GET /a?t=1,2 HTTP/1.1", upstream: "http://u/a?t=1""#),
            r#"request: "GET /a HTTP/1.1", upstream: "http://u/a""#
        );
    }
}
