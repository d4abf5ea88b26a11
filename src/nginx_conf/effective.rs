//! The http part of a configuration as nginx merges it: servers, their locations (nested ones
//! too), and the effective value of a directive in a location.
//!
//! nginx merges each level into the next: a scalar directive (`proxy_http_version`,
//! `proxy_read_timeout`) comes from the innermost level that sets it; an array directive
//! (`proxy_set_header`, `access_log`, `add_header`) comes *whole* from the innermost level that
//! has any of it, so one `proxy_set_header` in a location drops every inherited one. `if` blocks
//! are not levels of this model (nginx's `if` is its own location and a known trap).

use super::load::{Config, Directive};
use std::collections::HashMap;

/// How a location matches, from its modifier.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    /// `location = /uri`
    Exact(String),
    /// `location /uri`
    Prefix(String),
    /// `location ^~ /uri`: a match stops the regex search.
    NoRegex(String),
    /// `location ~ re` / `~* re`: `None` when the pattern does not compile here (PCRE only).
    Regex(Option<regex::Regex>),
    /// `location @name`: never chosen for a request URI.
    Named,
}

/// A location block.
#[derive(Clone, Debug)]
pub(crate) struct Location<'c> {
    pub(crate) block: &'c Directive,
    pub(crate) matcher: Matcher,
    /// Its arguments as written (`/ws/`, `= /x`, `~* \.php$`).
    pub(crate) text: String,
    /// Index of the enclosing location in [`Server::locations`].
    pub(crate) parent: Option<usize>,
    /// Indices of nested locations, in config order.
    pub(crate) children: Vec<usize>,
    /// Its simple directives (no blocks): what merging looks up, without scanning nested
    /// locations again for every lookup.
    pub(crate) settings: Vec<Directive>,
}

/// A `server` block of `http`.
#[derive(Clone, Debug)]
pub(crate) struct Server<'c> {
    pub(crate) block: &'c Directive,
    /// How findings name it: the first `server_name`, else the first `listen`, else nginx's default `*:80`.
    pub(crate) name: String,
    pub(crate) names: Vec<String>,
    pub(crate) default_server: bool,
    /// Every location, nested ones included, in config order.
    pub(crate) locations: Vec<Location<'c>>,
    /// Indices of the server's own (outermost) locations.
    pub(crate) top: Vec<usize>,
    /// The server's own simple directives (see [`Location::settings`]).
    pub(crate) settings: Vec<Directive>,
}

/// The `http` context.
#[derive(Clone, Debug, Default)]
pub(crate) struct Http<'c> {
    /// The http block's own directives (empty without an http block).
    pub(crate) directives: &'c [Directive],
    /// The http block's own simple directives: a lookup need not pass every server block.
    pub(crate) settings: Vec<Directive>,
    pub(crate) servers: Vec<Server<'c>>,
    /// Variables defined by `map`, `geo`, `split_clients` or `set` anywhere in http (names
    /// without `$`), with the `map` blocks that define them.
    defined: HashMap<String, Vec<&'c Directive>>,
    /// Which server and innermost location each directive (by [`Directive::id`]) sits in.
    owners: HashMap<usize, (usize, Option<usize>)>,
}

impl<'c> Http<'c> {
    /// The http context of `cfg`.
    pub(crate) fn of(cfg: &'c Config) -> Http<'c> {
        let Some(http) = cfg
            .root
            .iter()
            .find(|d| d.name == "http" && d.block.is_some())
        else {
            return Http::default();
        };
        let servers: Vec<Server<'c>> = http
            .children()
            .iter()
            .filter(|d| d.name == "server" && d.block.is_some())
            .map(Server::of)
            .collect();
        let mut h = Http {
            directives: http.children(),
            settings: simple(http.children()),
            servers,
            defined: HashMap::new(),
            owners: HashMap::new(),
        };
        let mut defined: HashMap<String, Vec<&'c Directive>> = HashMap::new();
        h.walk(|d| {
            let var = match d.name.as_str() {
                "map" | "split_clients" => d.args.get(1),
                "geo" => d.args.last(),
                "set" | "set_by_lua_block" | "set_by_lua" => d.args.first(),
                _ => None,
            };
            if let Some(name) = var.and_then(|v| v.strip_prefix('$')) {
                let maps = defined.entry(name.to_string()).or_default();
                if d.name == "map" {
                    maps.push(d);
                }
            }
        });
        h.defined = defined;
        let mut owners = HashMap::new();
        for (s, server) in h.servers.iter().enumerate() {
            fn own(
                ds: &[Directive],
                s: usize,
                loc: Option<usize>,
                locs: &HashMap<usize, usize>,
                out: &mut HashMap<usize, (usize, Option<usize>)>,
            ) {
                for d in ds {
                    out.insert(d.id, (s, loc));
                    let inner = locs.get(&d.id).copied().or(loc);
                    own(d.children(), s, inner, locs, out);
                }
            }
            let locs: HashMap<usize, usize> = server
                .locations
                .iter()
                .enumerate()
                .map(|(i, l)| (l.block.id, i))
                .collect();
            own(server.block.children(), s, None, &locs, &mut owners);
        }
        h.owners = owners;
        h
    }

    /// The server (index into [`Http::servers`]) and innermost location a directive sits in.
    pub(crate) fn owner(&self, d: usize) -> Option<(usize, Option<usize>)> {
        self.owners.get(&d).copied()
    }

    /// Every directive of the http context, at any depth, with its block path (for searches
    /// such as "is this variable defined by a map anywhere").
    pub(crate) fn walk(&self, mut f: impl FnMut(&'c Directive)) {
        fn go<'c>(ds: &'c [Directive], f: &mut impl FnMut(&'c Directive)) {
            for d in ds {
                f(d);
                go(d.children(), f);
            }
        }
        go(self.directives, &mut f);
    }

    /// Whether `$name` is defined by a `map`, `geo`, `split_clients` or `set` anywhere in http.
    pub(crate) fn defines_variable(&self, name: &str) -> bool {
        self.defined.contains_key(name)
    }

    /// The `map` blocks that define `$name`.
    pub(crate) fn maps_of(&self, name: &str) -> &[&'c Directive] {
        self.defined.get(name).map_or(&[], Vec::as_slice)
    }
}

impl<'c> Server<'c> {
    fn of(block: &'c Directive) -> Server<'c> {
        let names: Vec<String> = block
            .children()
            .iter()
            .filter(|d| d.name == "server_name")
            .flat_map(|d| d.args.iter().cloned())
            .collect();
        let listen_dirs: Vec<&Directive> = block
            .children()
            .iter()
            .filter(|d| d.name == "listen")
            .collect();
        let listens: Vec<String> = listen_dirs.iter().map(|d| d.arg(0).to_string()).collect();
        let default_server = listen_dirs.iter().any(|d| {
            d.args
                .iter()
                .any(|a| a == "default_server" || a == "default")
        });
        let name = names
            .first()
            .or(listens.first())
            .cloned()
            .unwrap_or_else(|| "*:80".to_string());
        let mut s = Server {
            block,
            name,
            names,
            default_server,
            locations: Vec::new(),
            top: Vec::new(),
            settings: simple(block.children()),
        };
        s.top = s.collect(block.children(), None);
        s
    }

    fn collect(&mut self, ds: &'c [Directive], parent: Option<usize>) -> Vec<usize> {
        let mut mine = Vec::new();
        for d in ds
            .iter()
            .filter(|d| d.name == "location" && d.block.is_some())
        {
            let i = self.locations.len();
            self.locations.push(Location {
                block: d,
                matcher: matcher(&d.args),
                text: d.args.join(" "),
                parent,
                children: Vec::new(),
                settings: simple(d.children()),
            });
            let kids = self.collect(d.children(), Some(i));
            self.locations[i].children = kids;
            mine.push(i);
        }
        mine
    }

    /// The levels whose directives location `loc` merges, outermost first: http, server, then
    /// each enclosing location down to `loc`.
    pub(crate) fn levels<'a>(&'a self, http: &'a Http<'c>, loc: usize) -> Vec<&'a [Directive]> {
        let mut chain: Vec<&'a [Directive]> = Vec::new();
        let mut at = Some(loc);
        while let Some(i) = at {
            chain.push(&self.locations[i].settings);
            at = self.locations[i].parent;
        }
        chain.push(&self.settings);
        chain.push(&http.settings);
        chain.reverse();
        chain
    }
}

/// The simple (non-block) directives of a block.
fn simple(ds: &[Directive]) -> Vec<Directive> {
    ds.iter().filter(|d| d.block.is_none()).cloned().collect()
}

/// The location modifier and URI of a `location` directive's arguments.
fn matcher(args: &[String]) -> Matcher {
    let (m, uri) = match args {
        [m, uri, ..] => (m.as_str(), uri.as_str()),
        [one] => {
            // `location =/x` and `location ~^/x` are accepted by nginx too.
            let one = one.as_str();
            if let Some(rest) = one.strip_prefix("^~") {
                ("^~", rest)
            } else if let Some(rest) = one.strip_prefix("~*") {
                ("~*", rest)
            } else if let Some(rest) = one.strip_prefix('~') {
                ("~", rest)
            } else if let Some(rest) = one.strip_prefix('=') {
                ("=", rest)
            } else {
                ("", one)
            }
        }
        [] => ("", ""),
    };
    match m {
        "=" => Matcher::Exact(uri.to_string()),
        "^~" => Matcher::NoRegex(uri.to_string()),
        "~" => Matcher::Regex(regex::Regex::new(uri).ok()),
        "~*" => Matcher::Regex(
            regex::RegexBuilder::new(uri)
                .case_insensitive(true)
                .build()
                .ok(),
        ),
        _ if uri.starts_with('@') => Matcher::Named,
        _ => Matcher::Prefix(uri.to_string()),
    }
}

/// The directives named `name` of the innermost level that has any (array inheritance), with
/// that level's index in `levels`.
pub(crate) fn array<'c>(
    levels: &[&'c [Directive]],
    name: &str,
) -> Option<(usize, Vec<&'c Directive>)> {
    levels.iter().enumerate().rev().find_map(|(i, ds)| {
        let own: Vec<&Directive> = ds.iter().filter(|d| d.name == name).collect();
        (!own.is_empty()).then_some((i, own))
    })
}

/// The last `name` directive of the innermost level that sets it (scalar inheritance).
pub(crate) fn scalar<'c>(levels: &[&'c [Directive]], name: &str) -> Option<(usize, &'c Directive)> {
    levels
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, ds)| ds.iter().rev().find(|d| d.name == name).map(|d| (i, d)))
}

/// nginx's time syntax (`60s`, `1m30s`, `90`, `500ms`, `1h`), in seconds.
pub(crate) fn parse_time(v: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    if v.is_empty() {
        return None;
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c == b' ' {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            num.push(c as char);
            i += 1;
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let (mult, len) = match (c, bytes.get(i + 1)) {
            (b'm', Some(b's')) => (0.001, 2),
            (b'y', _) => (365.0 * 86400.0, 1),
            (b'M', _) => (30.0 * 86400.0, 1),
            (b'w', _) => (7.0 * 86400.0, 1),
            (b'd', _) => (86400.0, 1),
            (b'h', _) => (3600.0, 1),
            (b'm', _) => (60.0, 1),
            (b's', _) => (1.0, 1),
            _ => return None,
        };
        total += n * mult;
        i += len;
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx_conf::{load, Source};

    fn cfg(text: &str) -> Config {
        load(&Source::Bytes {
            name: "t.conf".into(),
            data: text.as_bytes().to_vec(),
        })
        .expect("parses")
    }

    #[test]
    fn array_directives_inherit_only_when_none_own() {
        let c = cfg("http { proxy_set_header Upgrade $http_upgrade; proxy_http_version 1.1;\n server { server_name a;\n location /ws/ { proxy_pass http://b; }\n location /x/ { proxy_set_header X-Real-IP $remote_addr; proxy_pass http://b; } } }");
        let http = Http::of(&c);
        let s = &http.servers[0];
        assert_eq!(s.name, "a");
        let ws = s.levels(&http, 0);
        let (lvl, hs) = array(&ws, "proxy_set_header").expect("inherited");
        assert_eq!((lvl, hs[0].arg(0)), (0, "Upgrade"));
        let x = s.levels(&http, 1);
        let (lvl, hs) = array(&x, "proxy_set_header").expect("own");
        assert_eq!((lvl, hs.len(), hs[0].arg(0)), (2, 1, "X-Real-IP"));
        assert_eq!(
            scalar(&x, "proxy_http_version").map(|(_, d)| d.arg(0)),
            Some("1.1")
        );
    }

    #[test]
    fn nested_locations_and_modifiers() {
        let c = cfg("http { server { location /a/ { location ~ \\.php$ { } } location = /x { } location ^~ /s/ { } location @n { } location ~*/Y { } } }");
        let http = Http::of(&c);
        let s = &http.servers[0];
        assert_eq!(s.top.len(), 5);
        assert_eq!(s.locations[1].parent, Some(0));
        assert!(matches!(s.locations[2].matcher, Matcher::Exact(_)));
        assert!(matches!(s.locations[3].matcher, Matcher::NoRegex(_)));
        assert!(matches!(s.locations[4].matcher, Matcher::Named));
        assert!(matches!(s.locations[5].matcher, Matcher::Regex(Some(_))));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("60s"), Some(60.0));
        assert_eq!(parse_time("60"), Some(60.0));
        assert_eq!(parse_time("1m30s"), Some(90.0));
        assert_eq!(parse_time("500ms"), Some(0.5));
        assert_eq!(parse_time("1h"), Some(3600.0));
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time("1m 30s"), Some(90.0));
    }
}
