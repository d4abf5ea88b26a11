//! Query-string redaction for everything the sidecar prints.
//!
//! WebSocket clients pass tokens in the query (`/ws/chat?token=...`): only the part before `?`
//! is ever shown, in `parse` output, reports and the sidecar's own logs. Values are cut on the
//! raw bytes, before nginx's escapes are decoded, so an escaped quote (`\x22`, `\u0022`) inside a
//! query cannot end the cut early; a query ends only where the value ends (or, in a request
//! line, at its protocol).

use std::borrow::Cow;

/// Variables and JSON keys whose whole value is query data or a credential; never printed.
pub fn is_secret_var(name: &str) -> bool {
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

/// Where the shown part of a target ends: the first `?`, `#` or `;` (`;jsessionid=` rides
/// after it), or a percent-encoded one (`%3F`, `%23`, `%3B`, any case), also re-encoded any
/// number of times (`%253F` decodes to a literal `%3F`, which a backend that decodes twice reads
/// as `?`). A token rides after every one of them, so all are cut the same: this is the one place
/// that decides it for labels, `parse` output, reports and logs.
#[inline]
pub fn query_start(raw: &[u8]) -> Option<usize> {
    let q = memchr::memchr3_iter(b'?', b'#', b'%', raw)
        .find(|&i| raw[i] != b'%' || encoded_delim(&raw[i..]));
    memchr::memchr(b';', &raw[..q.unwrap_or(raw.len())]).or(q)
}

/// `s` starts with `%`, any number of `25` (an encoded `%`), then `3F`, `23` or `3B` (any case).
#[inline]
fn encoded_delim(s: &[u8]) -> bool {
    let mut i = 1;
    while s.get(i..i + 2) == Some(b"25") {
        i += 2;
    }
    matches!(
        s.get(i..i + 2),
        Some([b'3', b'F' | b'f' | b'B' | b'b'] | [b'2', b'3'])
    )
}

/// Cuts `?query`, `#fragment` and `;params` (`;jsessionid=`) off a URL or path value:
/// everything from the first delimiter [`query_start`] finds.
pub fn strip_url(raw: &[u8]) -> Cow<'_, [u8]> {
    match query_start(raw) {
        Some(q) => Cow::Borrowed(&raw[..q]),
        None => Cow::Borrowed(raw),
    }
}

/// Cuts the query off a request line and keeps its protocol: `GET /a?t=1,2"x HTTP/1.1` ->
/// `GET /a HTTP/1.1`.
pub fn strip_request(raw: &[u8]) -> Cow<'_, [u8]> {
    let Some(q) = query_start(raw) else {
        return Cow::Borrowed(raw);
    };
    let proto = raw
        .windows(6)
        .rposition(|w| w == b" HTTP/")
        .filter(|&p| p > q && !raw[p + 1..].contains(&b' '));
    match proto {
        Some(p) => {
            let mut v = raw[..q].to_vec();
            v.extend_from_slice(&raw[p..]);
            Cow::Owned(v)
        }
        None => Cow::Borrowed(&raw[..q]),
    }
}

/// Whether a value of an unknown variable is a URL or path (it starts like one), so its query
/// is cut; text that merely mentions a URL (a crawler's user agent) is left alone.
fn looks_like_url(raw: &[u8]) -> bool {
    raw.first() == Some(&b'/')
        || raw
            .iter()
            .position(|b| !b.is_ascii_alphanumeric() && !matches!(b, b'+' | b'-' | b'.'))
            .is_some_and(|i| i > 0 && raw[i..].starts_with(b"://"))
}

/// Redacts a named field's raw value for printing; `None` when the field must not be printed.
/// Known URL variables and any value that looks like a URL or path lose their query.
pub fn field_raw<'a>(name: &str, raw: &'a [u8]) -> Option<Cow<'a, [u8]>> {
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

/// Removes `?query`, `#fragment` and `;params` (also their percent-encoded forms, see
/// [`query_start`]) from every URL-like word of free text (nginx's own message text); a word ends
/// at whitespace or a quote. `;` cuts only in a word that holds a `/` so far (a path), so prose
/// such as `(X11; Linux)` stays readable.
pub fn strip_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    let mut in_path = false;
    for (i, c) in text.char_indices() {
        let word_end = c.is_whitespace() || c == '"';
        if skipping {
            if word_end {
                skipping = false;
                in_path = false;
                out.push(c);
            }
            continue;
        }
        if c == '?'
            || c == '#'
            || (c == ';' && in_path)
            || (c == '%' && encoded_delim(&text.as_bytes()[i..]))
        {
            skipping = true;
            continue;
        }
        in_path = !word_end && (in_path || c == '/');
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
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

    /// Double (and deeper) encoded delimiters and `;params` in every form are cut wherever the
    /// text is shown.
    #[test]
    fn re_encoded_delimiters_and_params_are_cut() {
        for form in [
            "%253F", "%253f", "%2523", "%25253F", ";", "%3B", "%3b", "%253B", "?", "%3F",
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
        // `%25` alone, or followed by something else, is just a percent sign.
        assert_eq!(query_start(b"/a%2541/b%25"), None);
        assert_eq!(query_start(b"/a%2"), None);
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
