//! Reading a Prometheus text exposition back: the check that no two samples name the same
//! series (Prometheus keeps one of them and silently loses the others' counts).
//!
//! Used by the tests on every exposition they scrape or render; it parses label values with
//! their escapes, so `a="x\"y"` and `a="x\\"` are told apart, and label order does not matter.

use std::collections::HashMap;

/// A sample's series identity: metric name and sorted (name, unescaped value) labels.
pub(crate) type SeriesKey = (String, Vec<(String, String)>);

/// Parses a sample line's series (`name{a="b"} 1`); `None` for comments, blank and
/// unparseable lines.
pub(crate) fn series_of(line: &str) -> Option<SeriesKey> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = line[..name_end].to_string();
    let mut labels = Vec::new();
    if line[name_end..].starts_with('{') {
        let mut rest = &line[name_end + 1..];
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(r) = rest.strip_prefix('}') {
                let _ = r;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].trim().to_string();
            rest = rest[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            };
            rest = &rest[end + 1..];
            labels.push((key, value));
        }
    }
    labels.sort();
    Some((name, labels))
}

/// Every series that appears more than once in `text`, with its count.
pub fn duplicate_series(text: &str) -> Vec<(String, usize)> {
    let mut seen: HashMap<SeriesKey, usize> = HashMap::new();
    for key in text.lines().filter_map(series_of) {
        *seen.entry(key).or_insert(0) += 1;
    }
    let mut dups: Vec<(String, usize)> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((name, labels), n)| (format!("{name}{labels:?}"), n))
        .collect();
    dups.sort();
    dups
}

/// Panics naming the repeated series if `text` holds any series twice.
pub fn assert_unique_series(text: &str) {
    let dups = duplicate_series(text);
    assert!(
        dups.is_empty(),
        "exposition holds {} series more than once: {dups:?}",
        dups.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeated_series_whatever_the_label_order() {
        let text =
            "# HELP x y\nm{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 3\nm{a=\"1\"} 1\nn 1\nn 2\n";
        let d = duplicate_series(text);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(duplicate_series("m{a=\"x\\\"y\"} 1\nm{a=\"x\\\\\"} 1\n").is_empty());
        assert_eq!(
            series_of(r#"m{path="/a\"b",le="+Inf"} 2"#),
            Some((
                "m".into(),
                vec![
                    ("le".into(), "+Inf".into()),
                    ("path".into(), "/a\"b".into())
                ]
            ))
        );
    }
}
