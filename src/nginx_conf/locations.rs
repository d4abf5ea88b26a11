//! Which server and location nginx chooses for a request, by nginx's rules.
//!
//! Location: an exact `=` match wins at once; otherwise the longest prefix is remembered and
//! its nested locations are searched; a `^~` prefix (or an exact match found there) ends the
//! search; otherwise the regexes of the level are tried in config order and the first match
//! wins (its nested locations are searched in turn); without one the longest prefix serves.
//! The URI is the normalised `$uri`: percent-decoded, `//` merged, `.`/`..` resolved.
//!
//! Server: by `server_name` against the Host (exact, longest `*.` wildcard, longest `.*`
//! wildcard, first regex), else the `default_server`, else the first server.

use super::effective::{Matcher, Server};

/// nginx's `$uri` of a request path: percent-decoded, slashes merged, dot segments resolved.
pub(crate) fn normalise_uri(path: &[u8]) -> String {
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&b| hex(b)),
                path.get(i + 2).and_then(|&b| hex(b)),
            ) {
                decoded.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        decoded.push(path[i]);
        i += 1;
    }
    let text = String::from_utf8_lossy(&decoded);
    let mut segs: Vec<&str> = Vec::new();
    let trailing = text.ends_with('/') || text.ends_with("/.") || text.ends_with("/..");
    for seg in text.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(text.len());
    for s in &segs {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

/// The location of `server` that serves `uri` (normalised), as an index into
/// [`Server::locations`]; `None` when no location matches (the server's own level serves).
pub(crate) fn find_location(server: &Server<'_>, uri: &str) -> Option<usize> {
    let mut chosen = None;
    find_in(server, &server.top, uri, &mut chosen);
    chosen
}

/// Searches one level; true when the search is over (an exact or a regex match). A `^~`
/// prefix only skips this level's regexes: an enclosing level's regexes still run, as in
/// nginx (its NGX_DONE stops at the level that matched).
fn find_in(server: &Server<'_>, level: &[usize], uri: &str, chosen: &mut Option<usize>) -> bool {
    let mut best: Option<(usize, usize, bool)> = None;
    for &i in level {
        match &server.locations[i].matcher {
            Matcher::Exact(u) if u == uri => {
                *chosen = Some(i);
                return true;
            }
            Matcher::Prefix(u) | Matcher::NoRegex(u) if uri.starts_with(u.as_str()) => {
                let noregex = matches!(server.locations[i].matcher, Matcher::NoRegex(_));
                if best.is_none_or(|(_, len, _)| u.len() > len) {
                    best = Some((i, u.len(), noregex));
                }
            }
            _ => {}
        }
    }
    if let Some((i, _, noregex)) = best {
        *chosen = Some(i);
        let nested = &server.locations[i].children;
        if !nested.is_empty() && find_in(server, nested, uri, chosen) {
            return true;
        }
        if noregex {
            return false;
        }
    }
    for &i in level {
        if let Matcher::Regex(Some(re)) = &server.locations[i].matcher {
            if re.is_match(uri) {
                *chosen = Some(i);
                let nested = &server.locations[i].children;
                if !nested.is_empty() {
                    find_in(server, nested, uri, chosen);
                }
                return true;
            }
        }
    }
    false
}

/// The server that answers a request for `host` (`None`: the Host is not logged), among
/// `candidates` (indices into `servers`).
pub(crate) fn find_server(
    servers: &[Server<'_>],
    candidates: &[usize],
    host: Option<&str>,
) -> Option<usize> {
    let fallback = || {
        candidates
            .iter()
            .copied()
            .find(|&i| servers[i].default_server)
            .or_else(|| candidates.first().copied())
    };
    let Some(host) = host else {
        return fallback();
    };
    let host = host
        .split(':')
        .next()
        .unwrap_or(host)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let names = |i: usize| servers[i].names.iter().map(|n| n.to_ascii_lowercase());
    if let Some(&i) = candidates.iter().find(|&&i| names(i).any(|n| n == host)) {
        return Some(i);
    }
    // Longest leading wildcard (`*.example.com`, `.example.com`), then longest trailing one.
    let mut best: Option<(usize, usize)> = None;
    for &i in candidates {
        for n in names(i) {
            let suffix = n
                .strip_prefix('*')
                .or_else(|| n.starts_with('.').then_some(n.as_str()));
            if let Some(suf) = suffix {
                let hit = host.ends_with(suf) || (n.starts_with('.') && host == suf[1..]);
                if hit && best.is_none_or(|(_, l)| suf.len() > l) {
                    best = Some((i, suf.len()));
                }
            }
        }
    }
    if best.is_none() {
        for &i in candidates {
            for n in names(i) {
                if let Some(pre) = n.strip_suffix('*') {
                    if host.starts_with(pre) && best.is_none_or(|(_, l)| pre.len() > l) {
                        best = Some((i, pre.len()));
                    }
                }
            }
        }
    }
    if let Some((i, _)) = best {
        return Some(i);
    }
    for &i in candidates {
        for n in &servers[i].names {
            if let Some(re) = n.strip_prefix('~') {
                if regex::RegexBuilder::new(re)
                    .case_insensitive(true)
                    .build()
                    .is_ok_and(|r| r.is_match(&host))
                {
                    return Some(i);
                }
            }
        }
    }
    fallback()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx_conf::effective::Http;
    use crate::nginx_conf::{load, Source};

    fn with_server(conf: &str, f: impl FnOnce(&Http<'_>)) {
        let c = load(&Source::Bytes {
            name: "t.conf".into(),
            data: conf.as_bytes().to_vec(),
        })
        .expect("parses");
        f(&Http::of(&c));
    }

    fn loc(http: &Http<'_>, uri: &str) -> String {
        let s = &http.servers[0];
        find_location(s, &normalise_uri(uri.as_bytes()))
            .map_or("-".into(), |i| s.locations[i].text.clone())
    }

    #[test]
    fn nginx_location_order() {
        with_server(
            "http { server {
                location / { }
                location /ws/ { location ~ /ws/nested/x$ { } }
                location = /ws/exact { }
                location ~ ^/ws/legacy { }
                location ^~ /static/ { }
                location ~* \\.(png|jpg)$ { }
            } }",
            |h| {
                assert_eq!(loc(h, "/ws/chat"), "/ws/");
                assert_eq!(loc(h, "/ws/exact"), "= /ws/exact");
                assert_eq!(loc(h, "/ws/legacy/room"), "~ ^/ws/legacy");
                assert_eq!(loc(h, "/ws/nested/x"), "~ /ws/nested/x$");
                assert_eq!(loc(h, "/static/a.png"), "^~ /static/");
                assert_eq!(loc(h, "/img/A.PNG"), "~* \\.(png|jpg)$");
                assert_eq!(loc(h, "/other"), "/");
                assert_eq!(loc(h, "//ws//legacy"), "~ ^/ws/legacy");
                assert_eq!(loc(h, "/x/../ws/%63hat"), "/ws/");
            },
        );
        // A nested ^~ skips only its own level's regexes (checked with a real nginx).
        with_server(
            "http { server { location /ws/ { location ^~ /ws/n/ { } } location ~ ^/ws/n/ { } } }",
            |h| {
                assert_eq!(loc(h, "/ws/n/a"), "~ ^/ws/n/");
                assert_eq!(loc(h, "/ws/x"), "/ws/");
            },
        );
    }

    #[test]
    fn server_names() {
        with_server(
            "http { server { server_name a.example.com; } server { listen 80 default_server; server_name *.example.com; } server { server_name ~^api\\d+\\.; } }",
            |h| {
                let all = [0, 1, 2];
                assert_eq!(find_server(&h.servers, &all, Some("a.example.com")), Some(0));
                assert_eq!(find_server(&h.servers, &all, Some("b.example.com:443")), Some(1));
                assert_eq!(find_server(&h.servers, &all, Some("api7.test")), Some(2));
                assert_eq!(find_server(&h.servers, &all, Some("unknown")), Some(1));
                assert_eq!(find_server(&h.servers, &all, None), Some(1));
            },
        );
    }

    #[test]
    fn uri_normalisation() {
        assert_eq!(normalise_uri(b"/a//b/./c/../d"), "/a/b/d");
        assert_eq!(normalise_uri(b"/ws/"), "/ws/");
        assert_eq!(normalise_uri(b"/%2e%2e/x%"), "/x%");
        assert_eq!(normalise_uri(b""), "/");
    }
}
