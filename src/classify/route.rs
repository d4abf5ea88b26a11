//! Path labels: the bounded, token-free `path` label of every metric.
//!
//! The query string and fragment are dropped first (tokens ride there, they never reach a label),
//! and so is every `;param` (`;jsessionid=`), from its `;` to the end of its segment.
//! The first matching `--route` pattern names the path; otherwise numeric, UUID, long-hex and
//! long-token segments collapse to `:id`. Past `--max-paths` distinct labels, new paths share
//! `__other__`, so attacker-chosen paths cannot grow memory or series without bound. A request
//! line nginx could not parse gets `__invalid__`.
//!
//! Labels are interned: the hot path normalises into a reused buffer and looks the bytes up, so
//! a known path costs one hash lookup and no allocation.

use crate::parse::format::{decode_into, Escape};
use crate::parse::redact;
use std::collections::HashMap;

/// Fast keyed hashing; randomly seeded, so crafted paths cannot force collisions.
type Hasher = ahash::RandomState;

/// Index of an interned label; stable for the life of the process.
pub(crate) type LabelId = u32;

/// Label for paths past the `--max-paths` cap.
pub(crate) const OTHER: LabelId = 0;
/// Label for request lines that have no parseable path.
pub(crate) const INVALID: LabelId = 1;

/// Longest label kept; longer normalised paths are cut here.
const MAX_LABEL_BYTES: usize = 256;

/// A `--route` pattern: `/api/v1/users/:id`, `/static/*`.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    segments: Vec<RouteSegment>,
    label: LabelId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RouteSegment {
    Exact(Vec<u8>),
    Param,
    Rest,
}

/// Interns path labels under a cap, and applies `--route` patterns.
#[derive(Debug)]
pub struct PathLabels {
    routes: Vec<Route>,
    ids: HashMap<Box<[u8]>, LabelId, Hasher>,
    names: Vec<String>,
    max_paths: usize,
    dynamic: usize,
    scratch: Vec<u8>,
    /// The decoded, UTF-8-sanitised path of a line that needed it (reused, never per line).
    clean: Vec<u8>,
    decoded: Vec<u8>,
    /// Lines whose path fell into `__other__` (the `nginxlog_path_overflow_total` counter).
    pub overflow: u64,
}

impl PathLabels {
    /// Builds the labeler; route patterns are validated and get their labels up front, outside
    /// the `max_paths` budget.
    pub fn new(routes: &[String], max_paths: usize) -> Result<PathLabels, String> {
        let mut labels = PathLabels {
            routes: Vec::new(),
            ids: HashMap::with_hasher(Hasher::new()),
            names: vec!["__other__".into(), "__invalid__".into()],
            max_paths,
            dynamic: 0,
            scratch: Vec::with_capacity(MAX_LABEL_BYTES),
            clean: Vec::new(),
            decoded: Vec::new(),
            overflow: 0,
        };
        for pattern in routes {
            if !pattern.starts_with('/') {
                return Err(format!("--route {pattern:?}: a route must start with `/`"));
            }
            let parts: Vec<&str> = pattern[1..].split('/').collect();
            let mut segments = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                segments.push(match *part {
                    "*" if i + 1 == parts.len() => RouteSegment::Rest,
                    "*" => {
                        return Err(format!(
                            "--route {pattern:?}: `*` is only allowed as the last segment"
                        ))
                    }
                    p if p.starts_with(':') && p.len() > 1 => RouteSegment::Param,
                    p => {
                        check_exact_segment(pattern, p)?;
                        RouteSegment::Exact(p.as_bytes().to_vec())
                    }
                });
            }
            let label = labels.names.len() as LabelId;
            labels.names.push(pattern.clone());
            labels.routes.push(Route { segments, label });
        }
        Ok(labels)
    }

    /// The label text of an id.
    #[inline]
    pub(crate) fn name(&self, id: LabelId) -> &str {
        self.names
            .get(id as usize)
            .map_or("__other__", |s| s.as_str())
    }

    /// Number of labels that exist (including `__other__` and `__invalid__`).
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Removes the labels created since there were `len` of them (newest first), giving their
    /// `--max-paths` slots back; only for labels nothing has counted under yet.
    pub(crate) fn forget_since(&mut self, len: usize) {
        let floor = len.max(2 + self.routes.len());
        while self.names.len() > floor {
            if let Some(name) = self.names.pop() {
                self.ids.remove(name.as_bytes());
                self.dynamic -= 1;
            }
        }
    }

    /// Labels a request target (`/ws/chat?token=...`, or an absolute URI) given as plain bytes
    /// (an error log's request line, or a label text read back).
    #[inline]
    pub(crate) fn label(&mut self, target: &[u8]) -> LabelId {
        self.label_escaped(target, None)
    }

    /// Labels a target as an access log wrote it: nginx's escapes (`\xHH`, JSON `\uXXXX`) are
    /// decoded and invalid UTF-8 becomes U+FFFD *before* the label is looked up, so the key is
    /// the label text itself: paths that print the same are one series and one `--max-paths`
    /// slot (`/a\xFF` and `/a\xFE` are both `/a\u{FFFD}`).
    #[inline]
    pub(crate) fn label_escaped(&mut self, target: &[u8], escape: Option<Escape>) -> LabelId {
        let Some(path) = path_of(target) else {
            return INVALID;
        };
        // One branch-free pass (it vectorises; a third accumulator stops that, measured): printable
        // ASCII without `\`, `;` or `%` (which may be an encoded `;`), the common case, is
        // already its own label text. The same pass notes digits (every id-like segment has
        // one): a path without any needs no normalising.
        let (plain, no_ids) = path.iter().fold((true, true), |(ok, no_ids), &b| {
            (
                ok & (b.wrapping_sub(0x20) < 0x5F) & (b != b'\\') & (b != b';') & (b != b'%'),
                no_ids & !b.is_ascii_digit(),
            )
        });
        if plain {
            return self.label_clean(path, no_ids);
        }
        let needs_decode = escape.is_some() && memchr::memchr(b'\\', path).is_some();
        let mut clean = std::mem::take(&mut self.clean);
        let mut decoded = std::mem::take(&mut self.decoded);
        let src = match escape.filter(|_| needs_decode) {
            Some(e) => {
                decode_into(path, e, &mut decoded);
                decoded.as_slice()
            }
            None => path,
        };
        sanitize_utf8(src, &mut clean);
        // A decoded `\x3F` (or `\x25` then `3F`) starts a query as much as a logged `?` does.
        if let Some(q) = redact::query_start(&clean) {
            clean.truncate(q);
        }
        // `;params` go segment by segment (decoded ones too); `decoded` is free again.
        let label = if redact::param_start(&clean).is_some() {
            decoded.clear();
            redact::push_without_params(&clean, &mut decoded);
            &decoded
        } else {
            &clean
        };
        let no_ids = !label.iter().any(u8::is_ascii_digit);
        let id = self.label_clean(label, no_ids);
        self.clean = clean;
        self.decoded = decoded;
        id
    }

    /// Labels a path that is valid UTF-8 and has no escapes left; `no_ids` when it has no
    /// digit.
    #[inline]
    fn label_clean(&mut self, path: &[u8], no_ids: bool) -> LabelId {
        if let Some(id) = self.match_route(path) {
            return id;
        }
        // Every id-like segment contains a digit: a path without digits is its own label.
        if path.len() <= MAX_LABEL_BYTES && no_ids {
            return self.intern(path);
        }
        let mut buf = std::mem::take(&mut self.scratch);
        normalise(path, &mut buf);
        let id = self.intern(&buf);
        self.scratch = buf;
        id
    }

    fn match_route(&self, path: &[u8]) -> Option<LabelId> {
        'routes: for r in &self.routes {
            let mut segs = path[1..].split(|&b| b == b'/');
            for s in &r.segments {
                match s {
                    RouteSegment::Rest => return Some(r.label),
                    RouteSegment::Param => match segs.next() {
                        Some(seg) if !seg.is_empty() => {}
                        _ => continue 'routes,
                    },
                    RouteSegment::Exact(e) => {
                        if segs.next() != Some(e.as_slice()) {
                            continue 'routes;
                        }
                    }
                }
            }
            if segs.next().is_none() {
                return Some(r.label);
            }
        }
        None
    }

    fn intern(&mut self, label: &[u8]) -> LabelId {
        if let Some(&id) = self.ids.get(label) {
            return id;
        }
        if self.dynamic >= self.max_paths {
            self.overflow += 1;
            return OTHER;
        }
        let id = self.names.len() as LabelId;
        // Valid UTF-8 by construction (sanitised, cut on a character boundary): the text is the
        // key, so no two ids print alike.
        self.names.push(String::from_utf8_lossy(label).into_owned());
        self.ids.insert(label.into(), id);
        self.dynamic += 1;
        id
    }
}

/// A literal route segment that no logged path can match is a mistake in the pattern: regex or
/// `{param}` syntax from another tool, or a part the labeler strips before matching.
fn check_exact_segment(pattern: &str, seg: &str) -> Result<(), String> {
    let syntax =
        "use :name for one segment and * as the last segment, e.g. /api/users/:id or /static/*";
    if seg == ":" {
        return Err(format!(
            "--route {pattern:?}: `:` needs a name (:id); {syntax}"
        ));
    }
    if seg.contains(['{', '}']) {
        return Err(format!(
            "--route {pattern:?}: `{{...}}` is not a parameter here and would never match; {syntax}"
        ));
    }
    // `(`, `)` and `*` are valid in a path (RFC 3986 sub-delims) and match themselves; these are
    // not, so they can only be regex syntax.
    if seg.contains(['[', ']', '\\', '^', '|']) {
        return Err(format!(
            "--route {pattern:?}: route patterns are not regular expressions, {seg:?} would never match; {syntax}"
        ));
    }
    if seg.contains(['?', '#', ';']) {
        return Err(format!(
            "--route {pattern:?}: query strings, fragments and ;parameters are removed before matching, so {seg:?} never matches; {syntax}"
        ));
    }
    Ok(())
}

/// The path part of a request target: query and fragment removed, absolute URIs reduced to their
/// path (`;params` stay: removing them needs a copy, see [`redact::push_without_params`]).
/// `None` when there is no path (`-`, `*`, `host:443`, garbage).
#[inline]
pub(crate) fn path_of(target: &[u8]) -> Option<&[u8]> {
    let end = redact::query_start(target).unwrap_or(target.len());
    let mut p = &target[..end];
    if p.first() != Some(&b'/') {
        let lower_http = p.len() > 8
            && (p[..7].eq_ignore_ascii_case(b"http://")
                || p[..8].eq_ignore_ascii_case(b"https://"));
        if !lower_http {
            return None;
        }
        let after_scheme = memchr::memmem::find(p, b"//").map_or(0, |i| i + 2);
        p = match memchr::memchr(b'/', &p[after_scheme..]) {
            Some(i) => &p[after_scheme + i..],
            None => b"/",
        };
    }
    Some(p)
}

/// Writes the normalised path (id-like segments as `:id`, at most [`MAX_LABEL_BYTES`]) to `out`.
fn normalise(path: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for (i, seg) in path.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        if is_id(seg) {
            out.extend_from_slice(b":id");
        } else {
            out.extend_from_slice(seg);
        }
        if out.len() >= MAX_LABEL_BYTES {
            // Cut on a character boundary: a split character would print as U+FFFD and make
            // two labels that differ only in the cut bytes look alike.
            let mut end = MAX_LABEL_BYTES;
            while end > 0 && end < out.len() && out[end] & 0xC0 == 0x80 {
                end -= 1;
            }
            out.truncate(end);
            break;
        }
    }
}

/// Copies `raw` to `out` with every invalid UTF-8 sequence replaced by U+FFFD, the way
/// `String::from_utf8_lossy` does, and so is every control character (a decoded `\x00` or
/// `\x0A` has no business in a label a scraper must parse), without allocating.
fn sanitize_utf8(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            let c = if c.is_control() { '\u{FFFD}' } else { c };
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Numeric, UUID, long-hex (16+) and long-token (24+ with digits and letters) segments. Only
/// segments with a digit are ids (a UUID or hex string without one is vanishingly rare).
fn is_id(seg: &[u8]) -> bool {
    if seg.is_empty() || !seg.iter().any(u8::is_ascii_digit) {
        return false;
    }
    if seg.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if seg.len() == 36
        && seg.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
    {
        return true;
    }
    if seg.len() >= 16 && seg.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    seg.len() >= 24
        && seg.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'~' | b'%')
        })
        && seg.iter().any(u8::is_ascii_digit)
        && seg.iter().any(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_params_never_reach_a_label() {
        let mut l = PathLabels::new(&["/api/v1/users/:id".into()], 10).expect("labels");
        let a = l.label(b"/ws/chat;jsessionid=SECRET12?x=1");
        assert_eq!(l.name(a), "/ws/chat");
        // A parameter goes up to the end of its segment: matrix-versioned paths keep theirs.
        let b = l.label(b"/api/v1;v=2/users/42;x=y");
        assert_eq!(l.name(b), "/api/v1/users/:id");
        let c = l.label(b"/shop;jsessionid=ABC/cart");
        assert_eq!(l.name(c), "/shop/cart");
        assert_eq!(l.label(b"/shop%3Bjsessionid=S/cart"), c);
        assert_eq!(l.label(b"/shop%25%33%42jsessionid=S/cart"), c);
        let d = l.label(b"/files;v=1/7");
        assert_eq!(l.name(d), "/files/:id");
        for form in [
            "%3B",
            "%3b",
            "%253B",
            "%253F",
            "%2523",
            "%25253f",
            "%25%33%46",
            "%253%46",
            "%%33F",
            "%25%33%42",
        ] {
            let t = format!("/ws/chat{form}jsessionid=SECRET");
            assert_eq!(l.label(t.as_bytes()), a, "{form}");
        }
        // Decoded from nginx's escapes, too.
        assert_eq!(
            l.label_escaped(br"/ws/chat\x3Bjsessionid=S", Some(Escape::Default)),
            a
        );
        assert_eq!(l.label_escaped(br"/ws/chat\u003bS", Some(Escape::Json)), a);
        assert_eq!(
            l.label_escaped(br"/ws/chat\x253FS", Some(Escape::Default)),
            a
        );
        assert_eq!(
            l.label_escaped(br"/shop\x3Bs=S/cart", Some(Escape::Default)),
            c
        );
        assert!((0..l.len() as LabelId).all(|i| !l.name(i).contains('S')));
    }

    #[test]
    fn query_never_reaches_label() {
        let mut l = PathLabels::new(&[], 10).expect("ok");
        let id = l.label(b"/ws/chat?token=eyJhbGciOiJIUzI1NiJ9.secret");
        assert_eq!(l.name(id), "/ws/chat");
        assert_eq!(l.label(b"/ws/chat#frag"), id);
    }

    #[test]
    fn ids_collapse() {
        let mut l = PathLabels::new(&[], 10).expect("ok");
        let a = l.label(b"/api/users/123/orders/550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(l.name(a), "/api/users/:id/orders/:id");
        let b = l.label(b"/files/0123456789abcdef0123/x");
        assert_eq!(l.name(b), "/files/:id/x");
        let c = l.label(b"/s/aB3dE5fG7hJ9kL1mN3pQ5rS7tU");
        assert_eq!(l.name(c), "/s/:id");
        let d = l.label(b"/api/health");
        assert_eq!(l.name(d), "/api/health");
    }

    #[test]
    fn routes_win_and_do_not_count_toward_cap() {
        let mut l =
            PathLabels::new(&["/api/v1/users/:id".into(), "/static/*".into()], 1).expect("ok");
        let id = l.label(b"/api/v1/users/alice");
        assert_eq!(l.name(id), "/api/v1/users/:id");
        let id = l.label(b"/static/css/a.css");
        assert_eq!(l.name(id), "/static/*");
        let id = l.label(b"/api/v1/users/alice/x");
        assert_eq!(l.name(id), "/api/v1/users/alice/x");
        assert_eq!(l.label(b"/another"), OTHER);
        assert_eq!(l.overflow, 1);
        assert!(PathLabels::new(&["/a/*/b".into()], 1).is_err());
        assert!(PathLabels::new(&["nope".into()], 1).is_err());
        // Valid path characters match themselves; only regex-only characters are refused.
        let mut l = PathLabels::new(&["/wiki/Foo_(bar)".into(), "/files/a*b".into()], 1)
            .expect("( ) * are path characters");
        let w = l.label(b"/wiki/Foo_(bar)");
        assert_eq!(l.name(w), "/wiki/Foo_(bar)");
        for bad in ["/api/[0-9]+", "/a|b", "/^api", "/a\\d"] {
            assert!(PathLabels::new(&[bad.into()], 1).is_err(), "{bad}");
        }
        for bad in [
            "/api/{id}",
            "/api/[0-9]+",
            "/api/\\d+",
            "/a?x=1",
            "/a/:",
            "/a;v=1",
        ] {
            let e = PathLabels::new(&[bad.into()], 1).expect_err(bad);
            assert!(e.contains("--route") && e.contains(":id"), "{bad}: {e}");
        }
        assert!(PathLabels::new(&["/static/app.v2.js".into(), "/a//b".into()], 1).is_ok());
    }

    #[test]
    fn invalid_and_absolute_targets() {
        let mut l = PathLabels::new(&[], 10).expect("ok");
        assert_eq!(l.label(b"-"), INVALID);
        assert_eq!(l.label(b"example.com:443"), INVALID);
        assert_eq!(l.label(b"\\x16\\x03\\x01"), INVALID);
        let id = l.label(b"http://example.com/ws/chat?token=x");
        assert_eq!(l.name(id), "/ws/chat");
    }

    #[test]
    fn labels_are_keyed_by_their_sanitised_text() {
        let mut l = PathLabels::new(&[], 10).expect("ok");
        let a = l.label_escaped(br"/a/\xFFb", Some(Escape::Default));
        let b = l.label_escaped(br"/a/\xFEb", Some(Escape::Default));
        let c = l.label(b"/a/\xC0b");
        let d = l.label_escaped(b"/a/\xF0\x9Fb", Some(Escape::Json));
        assert_eq!(l.name(a), "/a/\u{FFFD}b");
        assert_eq!([a, a, a], [b, c, d]);
        // Escapes that decode to valid UTF-8 are the character itself, in any format.
        let e = l.label_escaped(br"/caf\xC3\xA9", Some(Escape::Default));
        let f = l.label_escaped(br"/caf\u00e9", Some(Escape::Json));
        assert_eq!((l.name(e), e), ("/caf\u{e9}", f));
        // A long path is cut on a character boundary: the two differ only past the cut.
        let long = "/".to_string() + &"\u{e9}".repeat(200) + "1";
        let g = l.label(long.as_bytes());
        let h = l.label((long.clone() + "x").as_bytes());
        assert_eq!(g, h);
        assert!(!l.name(g).contains('\u{FFFD}'));
        // `%3F` / `%23` start the query, so a token there never reaches a label.
        let q = l.label(b"/ws/chat%3Ftoken=SECRET");
        assert_eq!(l.name(q), "/ws/chat");
        assert_eq!(l.label(b"/ws/chat%3ftoken=S"), q);
        assert_eq!(l.label(b"/ws/chat%23S"), q);
        assert_eq!(l.label_escaped(br"/ws/chat\x3FS", Some(Escape::Default)), q);
    }

    /// The same path logged with either escape style is one label: JSON's `\n`-style escapes
    /// and surrogate pairs decode exactly as `\xHH` bytes do.
    #[test]
    fn both_escape_styles_give_one_label() {
        let mut l = PathLabels::new(&[], 10).expect("ok");
        let d = Some(Escape::Default);
        let j = Some(Escape::Json);
        let emoji = l.label_escaped(br"/e/\xF0\x9F\x98\x80", d);
        assert_eq!(l.name(emoji), "/e/\u{1F600}");
        assert_eq!(l.label_escaped(br"/e/\ud83d\ude00", j), emoji);
        assert_eq!(l.label_escaped(br"/e/\uD83D\uDE00", j), emoji);
        assert_eq!(l.label_escaped("/e/\u{1F600}".as_bytes(), j), emoji);
        let nl = l.label_escaped(br"/n/a\x0Ab", d);
        assert_eq!(l.name(nl), "/n/a\u{FFFD}b");
        assert_eq!(l.label_escaped(br"/n/a\nb", j), nl);
        assert_eq!(l.label_escaped(br"/n/a\u000ab", j), nl);
        let q = l.label_escaped(br#"/q/a\x22\x5Cb"#, d);
        assert_eq!(l.label_escaped(br#"/q/a\"\\b"#, j), q);
        assert_eq!(l.label_escaped(br"/q/a\u0022\u005cb", j), q);
        // A lone surrogate is U+FFFD, like an invalid byte.
        let bad = l.label_escaped(br"/b/\xFFx", d);
        assert_eq!(l.label_escaped(br"/b/\ud83dx", j), bad);
        assert_eq!(l.len(), 2 + 4);
    }

    #[test]
    fn cap_holds_under_random_paths() {
        let mut l = PathLabels::new(&[], 50).expect("ok");
        for i in 0..10_000u32 {
            l.label(format!("/p{}x/q", i).as_bytes());
        }
        assert_eq!(l.len(), 52);
        assert_eq!(l.overflow, 10_000 - 50);
    }
}
