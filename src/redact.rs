//! Query-string redaction for everything the sidecar prints.
//!
//! WebSocket clients pass tokens in the query (`/ws/chat?token=...`): only the part before `?`
//! is ever shown, in `parse` output, reports and the sidecar's own logs.

/// Variables whose whole value is query data; never printed.
pub fn is_secret_var(name: &str) -> bool {
    name == "args"
        || name == "query_string"
        || name.starts_with("arg_")
        || name == "request_body"
        || name == "http_authorization"
        || name == "http_cookie"
        || name.starts_with("cookie_")
}

/// Removes `?query` and `#fragment` from every URL-like word in `text` (space or quote ends one).
pub fn strip_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for c in text.chars() {
        if skipping {
            if c == ' ' || c == '"' || c == ',' {
                skipping = false;
                out.push(c);
            }
            continue;
        }
        if c == '?' || c == '#' {
            skipping = true;
            continue;
        }
        out.push(c);
    }
    out
}

/// Redacts a named field's value for printing; `None` when the field must not be printed.
pub fn field(name: &str, value: &str) -> Option<String> {
    if is_secret_var(name) {
        return None;
    }
    let urlish = matches!(
        name,
        "request"
            | "request_uri"
            | "uri"
            | "document_uri"
            | "http_referer"
            | "upstream"
            | "referrer"
    );
    Some(if urlish {
        strip_queries(value)
    } else {
        value.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_queries_everywhere() {
        assert_eq!(
            strip_queries("GET /ws/chat?token=eyJ.a.b HTTP/1.1"),
            "GET /ws/chat HTTP/1.1"
        );
        assert_eq!(
            strip_queries(r#"request: "GET /a?t=1 HTTP/1.1", upstream: "http://u/a?t=1""#),
            r#"request: "GET /a HTTP/1.1", upstream: "http://u/a""#
        );
        assert_eq!(field("arg_token", "x"), None);
        assert_eq!(
            field("http_referer", "https://x/?t=1").as_deref(),
            Some("https://x/")
        );
        assert_eq!(field("http_user_agent", "a?b").as_deref(), Some("a?b"));
    }
}
