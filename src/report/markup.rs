//! What the HTML page and its SVG charts share (escaping, the palette, clock labels), kept in a
//! leaf so the page and the charts depend on it rather than on each other.

use crate::parse::values::rfc3339;

/// Escapes text for HTML and SVG.
pub(crate) fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub(super) const GREEN: &str = "#1a7f37";
pub(super) const RED: &str = "#cf222e";
pub(super) const ORANGE: &str = "#bc4c00";
pub(super) const GRAY: &str = "#8c959f";
pub(super) const BLUE: &str = "#0969da";

pub(super) fn clock(t: f64, long: bool) -> String {
    let s = rfc3339(t);
    let part = |r: std::ops::Range<usize>| s.get(r).unwrap_or("").to_string();
    if long {
        format!("{} {}", part(5..10), part(11..16))
    } else {
        part(11..19)
    }
}
