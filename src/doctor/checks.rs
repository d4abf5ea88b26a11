//! The checks: which locations carry WebSocket traffic, and what in their effective
//! configuration stops an upgrade from reaching the backend.
//!
//! Finding ids are a contract (the README lists them; see docs/architecture.md): alerts, dashboards and users'
//! scripts key on them. Messages say what happens to the client; fixes are the exact lines.

use super::evidence::{describe_refusals, Evidence, Key, Logs};
use crate::nginx_conf::effective::{array, parse_time, scalar, Http, Location, Matcher, Server};
use crate::nginx_conf::{Config, Directive};
use crate::parse::format::Escape;
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem, where it is, and the lines that fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub(crate) id: &'static str,
    pub(crate) severity: Severity,
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) server: String,
    pub(crate) location: String,
    pub(crate) message: String,
    pub(crate) fix: String,
}

/// The nginx version the defaults depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version(pub(crate) u32, pub(crate) u32, pub(crate) u32);

impl Version {
    /// `X.Y.Z` (or `nginx/X.Y.Z`, `nginx version: nginx/X.Y.Z`).
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.rsplit('/').next().unwrap_or(s);
        let s = s.split_whitespace().next().unwrap_or(s);
        let mut it = s.split('.').map(|p| p.parse::<u32>().ok());
        let v = Version(it.next()??, it.next()??, it.next().unwrap_or(Some(0))?);
        it.next().is_none().then_some(v)
    }

    /// `proxy_http_version`'s default: 1.1 from nginx 1.29.7, 1.0 before.
    pub(crate) fn default_proxy_http_version(v: Option<Version>) -> &'static str {
        match v {
            Some(v) if (v.0, v.1, v.2) >= (1, 29, 7) => "1.1",
            _ => "1.0",
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Why a location counts as a WebSocket location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WsReason {
    Logs,
    Prefix(String),
    SetsUpgrade,
    /// A named location that this WebSocket location hands requests to (`try_files ... @app`;
    /// an `error_page ... @x` fallback is not the WebSocket path).
    Via(String),
}

/// Settings of a check run.
pub(crate) struct Checks<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) http: &'a Http<'a>,
    pub(crate) version: Option<Version>,
    pub(crate) ws_prefixes: &'a [String],
    pub(crate) logs: &'a Logs,
}

const MAP_FIX: &str =
    "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    ''      close;\n}";

/// The recommended log format (the `ws_timing` preset).
const WS_TIMING_FIX: &str = "log_format ws_timing '$remote_addr - $remote_user [$time_local] \"$request\" $status '\n                     '$body_bytes_sent \"$http_referer\" \"$http_user_agent\" '\n                     'rt=$request_time uct=\"$upstream_connect_time\" '\n                     'uht=\"$upstream_header_time\" urt=\"$upstream_response_time\" '\n                     'upgrade=\"$http_upgrade\"';";

/// nginx's built-in `combined` format.
const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

impl Checks<'_> {
    fn at(&self, d: &Directive) -> (String, u32) {
        (self.cfg.file(d.file).to_string(), d.line)
    }

    /// Whether location `i` of server `s` carries WebSocket traffic, and why.
    pub(crate) fn websocket(&self, s: usize, i: usize) -> Option<WsReason> {
        if let Some(r) = self.direct_websocket(s, i) {
            return Some(r);
        }
        // A named location that a WebSocket location hands its requests to.
        let server = &self.http.servers[s];
        let Matcher::Named = server.locations[i].matcher else {
            return None;
        };
        let name = server.locations[i].block.arg(0);
        server.locations.iter().enumerate().find_map(|(j, l)| {
            let hands_over = l
                .block
                .children()
                .iter()
                .any(|d| d.name == "try_files" && d.args.last().is_some_and(|a| a == name));
            (j != i && hands_over && self.direct_websocket(s, j).is_some())
                .then(|| WsReason::Via(l.text.clone()))
        })
    }

    fn direct_websocket(&self, s: usize, i: usize) -> Option<WsReason> {
        let server = &self.http.servers[s];
        let loc = &server.locations[i];
        if self
            .logs
            .by_location
            .get(&(s, Some(i)))
            .is_some_and(|e| e.upgrade_attempts > 0)
        {
            return Some(WsReason::Logs);
        }
        for p in self.ws_prefixes {
            let hit = match &loc.matcher {
                Matcher::Exact(u) | Matcher::Prefix(u) | Matcher::NoRegex(u) => {
                    u.starts_with(p.as_str()) || (u.len() > 1 && p.starts_with(u.as_str()))
                }
                // A regex that also matches an unrelated path is a catch-all (`~ ^/.*$`), not a
                // WebSocket location; its text may still name the prefix.
                Matcher::Regex(Some(re)) => {
                    loc.text.contains(p.as_str())
                        || ((re.is_match(p) || re.is_match(&format!("{p}x")))
                            && !re.is_match("/__nginxlog_probe__/x"))
                }
                Matcher::Regex(None) => loc.text.contains(p.as_str()),
                Matcher::Named => false,
            };
            if hit {
                return Some(WsReason::Prefix(p.clone()));
            }
        }
        let sets_upgrade = loc
            .block
            .children()
            .iter()
            .any(|d| d.name == "proxy_set_header" && d.arg(0).eq_ignore_ascii_case("upgrade"));
        sets_upgrade.then_some(WsReason::SetsUpgrade)
    }

    /// Every finding, errors first, then by file and line.
    pub(crate) fn run(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        self.misplaced(&mut out);
        self.map_missing(&mut out);
        let mut ws = Vec::new();
        for (s, server) in self.http.servers.iter().enumerate() {
            for i in 0..server.locations.len() {
                if let Some(reason) = self.websocket(s, i) {
                    ws.push((s, i));
                    self.location(s, i, &reason, &mut out);
                }
            }
        }
        self.log_format(&ws, &mut out);
        // Stable: a location's findings keep the order an operator fixes them in.
        out.sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
        out
    }

    /// The server and innermost location directive `id` sits in (names; empty outside).
    fn owner(&self, id: usize) -> (String, String) {
        match self.http.owner(id) {
            Some((s, loc)) => {
                let server = &self.http.servers[s];
                let loc = loc.map_or(String::new(), |i| server.locations[i].text.clone());
                (server.name.clone(), loc)
            }
            None => (String::new(), String::new()),
        }
    }

    fn misplaced(&self, out: &mut Vec<Finding>) {
        for m in &self.cfg.misplaced {
            let (server, location) = self.owner(m.id);
            let allowed = m.allowed.join(", ");
            let line = if m.args.is_empty() {
                format!("{};", m.name)
            } else {
                format!("{} {};", m.name, m.args.join(" "))
            };
            // The innermost enclosing context that allows it: moved further out, a
            // proxy_set_header would be dropped by the location's own ones.
            let enclosing: &[&str] = match m.context {
                "if in location" | "limit_except" => &["location", "server", "http"],
                "if in server" | "location" => &["server", "http"],
                "server" | "upstream" => &["http"],
                _ => &[],
            };
            let target = match enclosing.iter().find(|c| m.allowed.contains(c)) {
                Some(&"location") => format!("the enclosing location {location} {{}} block"),
                Some(&"server") if !server.is_empty() => {
                    format!("the server {{}} block of {server}")
                }
                Some(c) => format!("the enclosing {c} {{}} block"),
                None => match m.allowed.first() {
                    Some(first) => format!("a {first} {{}} block"),
                    None => "another block".to_string(),
                },
            };
            out.push(Finding {
                id: "directive_not_allowed_here",
                severity: Severity::Error,
                file: self.cfg.file(m.file).to_string(),
                line: m.line,
                server,
                location,
                message: format!(
                    "\"{}\" directive is not allowed here: nginx -t refuses this configuration and a reload keeps the old one; {} is allowed in {allowed}, not in {}",
                    m.name, m.name, m.context
                ),
                fix: format!("move this line out of the {} into {target}:\n    {line}", m.context),
            });
        }
    }

    /// `$connection_upgrade` (or any `$..._upgrade` the fix names) used without its map:
    /// nginx -t fails with `unknown "connection_upgrade" variable`.
    fn map_missing(&self, out: &mut Vec<Finding>) {
        if self.http.defines_variable("connection_upgrade") {
            return;
        }
        let mut uses = Vec::new();
        self.http.walk(|d| {
            let used = d
                .args
                .iter()
                .enumerate()
                .filter(|(i, _)| !(d.name == "map" && *i == 1))
                .any(|(_, a)| uses_variable(a, "connection_upgrade"));
            if used {
                uses.push(d);
            }
        });
        for d in uses {
            let (file, line) = self.at(d);
            let (server, location) = self.owner(d.id);
            out.push(Finding {
                id: "connection_upgrade_map_missing",
                severity: Severity::Error,
                file,
                line,
                server,
                location,
                message: "$connection_upgrade is used but no map defines it: nginx -t refuses the configuration (unknown \"connection_upgrade\" variable), so a reload keeps the old one".into(),
                fix: format!("add to the http {{}} block:\n{}", indent(MAP_FIX)),
            });
        }
    }

    fn evidence(&self, key: Key) -> Option<&Evidence> {
        self.logs
            .by_location
            .get(&key)
            .filter(|e| e.upgrade_attempts > 0)
    }

    /// "40 upgrade attempts on /ws/chat, 0 switched; the app answered all 40 (40x 403): it
    /// never saw the upgrade".
    fn evidence_text(&self, key: Key) -> String {
        let Some(e) = self.evidence(key) else {
            return String::new();
        };
        let path = e.main_path().unwrap_or("this location");
        let more = if e.paths.len() > 1 {
            " and other paths"
        } else {
            ""
        };
        let refusals = describe_refusals(e);
        format!(
            " Logs: {} upgrade attempts on {path}{more}, {} switched{}.",
            e.upgrade_attempts,
            e.switched,
            if refusals.is_empty() {
                String::new()
            } else {
                format!("; {refusals}")
            }
        )
    }

    fn location(&self, s: usize, i: usize, reason: &WsReason, out: &mut Vec<Finding>) {
        let server = &self.http.servers[s];
        let loc = &server.locations[i];
        let own = loc.block.children();
        // `if` in a location is a nested location inheriting this one's proxy settings.
        let proxies = own.iter().any(|d| {
            d.name == "proxy_pass"
                || (d.name == "if" && d.children().iter().any(|c| c.name == "proxy_pass"))
        });
        if !proxies {
            return;
        }
        let levels = server.levels(self.http, i);
        let key = (s, Some(i));
        let ev = self.evidence_text(key);
        let (lfile, lline) = self.at(loc.block);
        let why = match reason {
            WsReason::Logs => "it serves upgrade attempts in the access log".to_string(),
            WsReason::Prefix(p) => format!("its path is under {p}"),
            WsReason::SetsUpgrade => "it sets an Upgrade header".to_string(),
            WsReason::Via(from) => format!("location {from} hands its requests to it"),
        };
        let finding =
            |id: &'static str, sev: Severity, at: (String, u32), message: String, fix: String| {
                Finding {
                    id,
                    severity: sev,
                    file: at.0,
                    line: at.1,
                    server: server.name.clone(),
                    location: loc.text.clone(),
                    message,
                    fix,
                }
            };
        let loc_at = (lfile.clone(), lline);
        let add_here = format!("add inside location {} ({lfile}:{lline}):", loc.text);
        // The effective proxy_set_header list and its level. A missing header goes beside the
        // ones the location inherits (one of its own would drop them all), else into it.
        let headers = array(&levels, "proxy_set_header");
        let add_header = match &headers {
            Some((lvl, hs)) if *lvl + 1 < levels.len() => {
                let (f, l) = self.at(hs[0]);
                format!(
                    "add beside the proxy_set_header lines that location {} inherits from {} ({f}:{l}), so they stay inherited:",
                    loc.text,
                    level_name(&levels, *lvl, server, loc)
                )
            }
            _ => add_here.clone(),
        };

        let eff: Vec<&Directive> = headers.as_ref().map(|(_, h)| h.clone()).unwrap_or_default();
        fn find<'d>(hs: &[&'d Directive], name: &str) -> Option<&'d Directive> {
            hs.iter()
                .rev()
                .find(|d| d.arg(0).eq_ignore_ascii_case(name))
                .copied()
        }
        let upgrade = find(&eff, "upgrade");
        let connection = find(&eff, "connection");
        let mut lost_upgrade = false;
        let mut lost_connection = false;
        if let Some((lvl, own_headers)) = &headers {
            if *lvl > 0 {
                // What the enclosing levels would have given without the own ones.
                if let Some((outer_lvl, outer)) = array(&levels[..*lvl], "proxy_set_header") {
                    lost_upgrade = upgrade.is_none() && find(&outer, "upgrade").is_some();
                    lost_connection = connection.is_none() && find(&outer, "connection").is_some();
                    if lost_upgrade || lost_connection {
                        let first = own_headers[0];
                        let outer_at = self.at(outer[0]);
                        let lost = match (lost_upgrade, lost_connection) {
                            (true, true) => "the Upgrade and Connection headers",
                            (true, false) => "the Upgrade header",
                            _ => "the Connection header",
                        };

                        let lines: Vec<String> = outer
                            .iter()
                            .filter(|o| find(&eff, o.arg(0)).is_none())
                            .map(|o| format!("proxy_set_header {};", quote_args(&o.args)))
                            .collect();
                        out.push(finding(
                            "ws_headers_lost_by_inheritance",
                            Severity::Error,
                            self.at(first),
                            format!(
                                                                "{} sets its own proxy_set_header ({} at {}:{}), so nginx drops every proxy_set_header inherited from {} ({}:{}), {lost} included: the backend sees a plain GET.{ev}",
                                level_name(&levels, *lvl, server, loc), first.arg(0), self.cfg.file(first.file), first.line,
                                level_name(&levels, outer_lvl, server, loc), outer_at.0, outer_at.1
                            ),
                            format!("repeat the inherited headers beside this location's own proxy_set_header:\n{}", indent(&lines.join("\n"))),
                        ));
                    }
                }
            }
        }

        // Upgrade.
        match upgrade {
            None if !lost_upgrade => out.push(finding(
                "ws_upgrade_header_missing",
                Severity::Error,
                loc_at.clone(),
                format!(
                    "location {} proxies WebSocket traffic ({why}) without passing the client's Upgrade header: nginx drops hop-by-hop headers, the backend sees a plain GET and refuses it (403/404/426/400 depending on the framework).{ev}",
                    loc.text
                ),
                                format!("{add_header}\n    proxy_set_header Upgrade $http_upgrade;"),
            )),
            Some(d) if !self.carries_upgrade_value(d.arg(1)) => out.push(finding(
                "ws_upgrade_value_wrong",
                Severity::Error,
                self.at(d),
                format!(
                    "the Upgrade header is set to {:?}, not to the client's $http_upgrade: the backend is not asked to switch to WebSocket{}.{ev}",
                    d.arg(1),
                    if d.arg(1).contains("connection_upgrade") { " (Upgrade and Connection look swapped)" } else { "" }
                ),
                "change this line to:\n    proxy_set_header Upgrade $http_upgrade;".into(),
            )),
            _ => {}
        }

        // Connection.
        // The map the Connection fixes rely on, when the config lacks it.
        let map_tail = if self.http.defines_variable("connection_upgrade") {
            String::new()
        } else {
            format!("\nand in the http {{}} block:\n{}", indent(MAP_FIX))
        };
        match connection {
            None if !lost_connection => {
                let fix = format!(
                    "{add_header}\n    proxy_set_header Connection $connection_upgrade;{map_tail}"
                );
                out.push(finding(
                    "ws_connection_header_missing",
                    Severity::Error,
                    loc_at.clone(),
                    format!(
                        "location {} sends no Connection header carrying \"upgrade\" (nginx sends \"Connection: close\" by default), so the upgrade is not passed to the backend.{ev}",
                        loc.text
                    ),
                    fix,
                ));
            }
            Some(d) => match self.connection_value(d.arg(1)) {
                ConnValue::Ok => {}
                ConnValue::Hardcoded => out.push(finding(
                    "ws_connection_upgrade_hardcoded",
                    Severity::Info,
                    self.at(d),
                    "Connection \"upgrade\" is hard-coded: upgrades work, but plain requests to this location also ask the backend to upgrade and cannot reuse upstream keepalive connections".into(),
                                        format!("optional: use the map instead:\n    proxy_set_header Connection $connection_upgrade;{map_tail}"),
                )),
                                ConnValue::Undefined => {} // connection_upgrade_map_missing says it.
                ConnValue::Unknown(name) => out.push(finding(
                    "ws_connection_variable_unknown",
                    Severity::Warning,
                    self.at(d),
                    format!("the Connection header comes from ${name}, which nothing in this configuration defines: a typo of $connection_upgrade? (nginx -t refuses an unknown variable unless a module defines it)"),
                    "if it is a typo, change this line to:\n    proxy_set_header Connection $connection_upgrade;".to_string(),
                )),
                ConnValue::Wrong(why_wrong) => out.push(finding(
                    "ws_upgrade_value_wrong",
                    Severity::Error,
                    self.at(d),
                    format!("the Connection header is set to {:?}, {why_wrong}: the backend is not asked to upgrade.{ev}", d.arg(1)),
                    format!(
                        "change this line to:\n    proxy_set_header Connection $connection_upgrade;{}",
                                                map_tail
                    ),
                )),
            },
            None => {}
        }

        // HTTP version.
        let explicit = scalar(&levels, "proxy_http_version").map(|(_, d)| d);
        let version = explicit.map_or(Version::default_proxy_http_version(self.version), |d| {
            d.arg(0)
        });
        if version.trim() < "1.1" {
            let (at, why_v, fix) = match explicit {
                Some(d) => (
                    self.at(d),
                    format!("proxy_http_version is {version}"),
                    "change this line to:\n    proxy_http_version 1.1;".to_string(),
                ),
                None => (
                    loc_at.clone(),
                    match self.version {
                        Some(v) => format!("nginx {v} defaults proxy_http_version to 1.0 and nothing here sets it"),
                        None => "proxy_http_version is not set and nginx before 1.29.7 defaults it to 1.0 (version unknown: give --nginx-version)".to_string(),
                    },
                    format!("{add_here}\n    proxy_http_version 1.1;"),
                ),
            };
            out.push(finding(
                "ws_http_version_too_low",
                Severity::Error,
                at,
                format!("location {}: {why_v}; an upgrade needs HTTP/1.1 to the backend (many servers, e.g. Python websockets, refuse an HTTP/1.0 handshake).{ev}", loc.text),
                fix,
            ));
        }

        // Read timeout.
        let timeout = scalar(&levels, "proxy_read_timeout");
        let secs = timeout.map_or(Some(60.0), |(_, d)| parse_time(d.arg(0)));
        if let Some(secs) = secs.filter(|t| *t <= 60.0) {
            let at = timeout.map_or(loc_at.clone(), |(_, d)| self.at(d));
            let mut evidence = String::new();
            if let Some(e) = self.logs.by_location.get(&key) {
                if e.upstream_idle_timeouts > 0 {
                    evidence.push_str(&format!(
                        " Error log: {} \"upstream timed out ... while proxying upgraded connection\" lines.",
                        e.upstream_idle_timeouts
                    ));
                }
                let near = e.sessions_near(secs);
                if near > 0 {
                    evidence.push_str(&format!(
                        " {near} of {} sessions ended within 1 s of the {} timeout.",
                        e.switched,
                        fmt_secs(secs)
                    ));
                }
            }
            out.push(finding(
                "ws_read_timeout_short",
                Severity::Warning,
                at,
                format!(
                    "location {}: proxy_read_timeout is {}{}; nginx closes a WebSocket that is idle that long, so quiet sessions are cut unless the app pings more often.{evidence}",
                    loc.text,
                    fmt_secs(secs),
                    if timeout.is_none() { " (nginx's default)" } else { "" }
                ),
                format!("{add_here}\n    proxy_read_timeout 3600s;\n(or keep it and have the app ping more often than every {})", fmt_secs(secs)),
            ));
        }

        // Buffering settings that upgraded connections ignore.
        if let Some(d) = own
            .iter()
            .find(|d| d.name == "proxy_buffering" && d.arg(0) == "off")
        {
            out.push(finding(
                "ws_proxy_buffering_off_unneeded",
                Severity::Info,
                self.at(d),
                "proxy_buffering off is not needed for WebSocket: nginx relays an upgraded connection unbuffered anyway; here it only turns buffering off for plain responses".into(),
                "optional: remove this line".into(),
            ));
        }
    }

    /// Whether an Upgrade header value passes the client's upgrade on.
    fn carries_upgrade_value(&self, v: &str) -> bool {
        if v == "$http_upgrade" || v == "${http_upgrade}" || v.eq_ignore_ascii_case("websocket") {
            return true;
        }
        // A map of $http_upgrade into another variable.
        if let Some(name) = v.strip_prefix('$') {
            return self
                .http
                .maps_of(name)
                .iter()
                .any(|m| m.arg(0) == "$http_upgrade");
        }
        false
    }

    fn connection_value(&self, v: &str) -> ConnValue {
        let exact_var = v.strip_prefix('$').is_some_and(|n| {
            let n = n
                .strip_prefix('{')
                .and_then(|n| n.strip_suffix('}'))
                .unwrap_or(n);
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if v.contains('$') && !exact_var {
            // Several parts (`$connection_upgrade, keep-alive`): not evaluated.
            return ConnValue::Ok;
        }
        if let Some(name) = v
            .strip_prefix('$')
            .map(|n| n.trim_start_matches('{').trim_end_matches('}'))
        {
            if name == "http_connection" {
                return ConnValue::Ok;
            }
            if name == "http_upgrade" {
                return ConnValue::Wrong("the client's Upgrade value (\"websocket\"), not \"upgrade\" (Upgrade and Connection look swapped)".into());
            }
            let maps = self.http.maps_of(name);
            if maps.is_empty() {
                if self.http.defines_variable(name) || builtin_variable(name) {
                    return ConnValue::Ok;
                }
                return if name == "connection_upgrade" {
                    ConnValue::Undefined
                } else {
                    ConnValue::Unknown(name.to_string())
                };
            }
            let carries = maps.iter().any(|m| {
                m.children()
                    .iter()
                    .filter(|e| !matches!(e.name.as_str(), "hostnames" | "volatile" | "include"))
                    .any(|e| {
                        let value = e.args.last().map_or("", String::as_str);
                        value.to_ascii_lowercase().contains("upgrade")
                    })
            });
            return if carries {
                ConnValue::Ok
            } else {
                ConnValue::Wrong(format!("and the map of ${name} never gives \"upgrade\""))
            };
        }
        if v.to_ascii_lowercase()
            .split([',', ' '])
            .any(|t| t.trim() == "upgrade")
        {
            ConnValue::Hardcoded
        } else {
            ConnValue::Wrong("a value without \"upgrade\"".into())
        }
    }

    /// Servers with WebSocket locations whose access log cannot time handshakes or tell who
    /// answered.
    fn log_format(&self, ws: &[(usize, usize)], out: &mut Vec<Finding>) {
        // One finding per access_log directive (or per server logging to nginx's default).
        let mut seen = std::collections::HashSet::new();
        for &(s, i) in ws {
            let server: &Server<'_> = &self.http.servers[s];
            let levels = server.levels(self.http, i);
            let logs = array(&levels, "access_log")
                .map(|(_, l)| l)
                .unwrap_or_default();
            let (at, format_name, path, key) = match logs.iter().find(|d| d.arg(0) != "off") {
                Some(d) => (
                    self.at(d),
                    d.args.get(1).cloned().unwrap_or_else(|| "combined".into()),
                    d.arg(0).to_string(),
                    d.id,
                ),
                None if logs.is_empty() => (
                    self.at(server.block),
                    "combined".into(),
                    "logs/access.log".into(),
                    server.block.id,
                ),
                None => continue,
            };
            if !seen.insert(key) {
                continue;
            }
            let Some((template, _)) = log_format(self.http, &format_name) else {
                continue;
            };
            let lacks: Vec<&str> = ["$upstream_header_time", "$http_upgrade"]
                .into_iter()
                .filter(|v| {
                    !template.contains(v) && !template.contains(&format!("${{{}}}", &v[1..]))
                })
                .collect();
            if lacks.is_empty() {
                continue;
            }
            out.push(Finding {
                id: "log_format_lacks_ws_fields",
                severity: Severity::Warning,
                file: at.0,
                line: at.1,
                server: server.name.clone(),
                location: String::new(),
                message: format!(
                    "server {} has WebSocket locations but its access log format \"{format_name}\" lacks {}: the sidecar cannot {}",
                    server.name,
                    lacks.join(" and "),
                    match (lacks.contains(&"$upstream_header_time"), lacks.contains(&"$http_upgrade")) {
                        (true, true) => "time handshakes, tell whether nginx or the app answered, or see upgrade attempts outside --ws-path-prefix",
                        (true, false) => "time handshakes or tell whether nginx or the app answered",
                        _ => "see upgrade attempts outside --ws-path-prefix",
                    }
                ),
                fix: format!("add to the http {{}} block:\n{}\nand log with it:\n    access_log {path} ws_timing;", indent(WS_TIMING_FIX)),
            });
        }
    }
}

enum ConnValue {
    Ok,
    /// A variable nothing in this config defines and nginx does not provide (a typo?).
    Unknown(String),
    Hardcoded,
    Undefined,
    Wrong(String),
}

/// The template of `log_format NAME` in http (its strings joined) and its `escape=` mode;
/// `combined` is nginx's built-in one.
pub(crate) fn log_format(http: &Http<'_>, name: &str) -> Option<(String, Escape)> {
    if name == "combined" {
        return Some((COMBINED.to_string(), Escape::Default));
    }
    let d = http
        .settings
        .iter()
        .find(|d| d.name == "log_format" && d.arg(0) == name)?;
    let escape = match d.args.iter().find_map(|a| a.strip_prefix("escape=")) {
        Some("json") => Escape::Json,
        _ => Escape::Default,
    };
    let template = d.args[1..]
        .iter()
        .filter(|a| !a.starts_with("escape="))
        .cloned()
        .collect::<String>();
    Some((template, escape))
}

/// Whether `arg` uses `$name` itself (not `$name_more`).
fn uses_variable(arg: &str, name: &str) -> bool {
    if arg.contains(&format!("${{{name}}}")) {
        return true;
    }
    let pat = format!("${name}");
    arg.match_indices(&pat).any(|(i, _)| {
        arg[i + pat.len()..]
            .bytes()
            .next()
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
    })
}

/// nginx's own variables (core, proxy, upstream, ssl, realip, ... and the prefixed families),
/// so a typo in a header value can be told from a variable nginx provides.
fn builtin_variable(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "http_",
        "sent_http_",
        "sent_trailer_",
        "cookie_",
        "arg_",
        "upstream_http_",
        "upstream_cookie_",
        "upstream_trailer_",
        "ssl_",
        "proxy_",
        "realip_",
        "limit_",
        "upstream_",
        "jwt_",
        "geoip_",
        "secure_link",
        "invalid_referer",
        "memcached_",
    ];
    const NAMES: &[&str] = &[
        "args",
        "binary_remote_addr",
        "body_bytes_sent",
        "bytes_sent",
        "connection",
        "connection_requests",
        "connection_time",
        "content_length",
        "content_type",
        "document_root",
        "document_uri",
        "host",
        "hostname",
        "https",
        "is_args",
        "msec",
        "nginx_version",
        "pid",
        "pipe",
        "query_string",
        "realpath_root",
        "remote_addr",
        "remote_port",
        "remote_user",
        "request",
        "request_body",
        "request_body_file",
        "request_completion",
        "request_filename",
        "request_id",
        "request_length",
        "request_method",
        "request_time",
        "request_uri",
        "scheme",
        "server_addr",
        "server_name",
        "server_port",
        "server_protocol",
        "status",
        "tcpinfo_rtt",
        "tcpinfo_rttvar",
        "tcpinfo_snd_cwnd",
        "tcpinfo_rcv_space",
        "time_iso8601",
        "time_local",
        "uri",
        "gzip_ratio",
        "fastcgi_script_name",
        "fastcgi_path_info",
        "date_local",
        "date_gmt",
        "remote_addr",
        "server_addr",
        "auth_type",
        "mirror",
        "binary_remote_addr",
        "connections_active",
        "connections_reading",
        "connections_writing",
        "connections_waiting",
        "modern_browser",
        "ancient_browser",
        "msie",
        "uid_got",
        "uid_set",
        "uid_reset",
        "embedded_variable",
        "spdy",
        "http2",
        "http3",
        "request_port",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || NAMES.contains(&name)
        || name.bytes().all(|b| b.is_ascii_digit())
}

/// How a message names merge level `lvl` of a location's levels (http, server, locations).
fn level_name(
    levels: &[&[Directive]],
    lvl: usize,
    server: &Server<'_>,
    loc: &Location<'_>,
) -> String {
    match lvl {
        0 => "the http {} block".to_string(),
        1 => format!("the server {{}} block of {}", server.name),
        _ if lvl + 1 == levels.len() => format!("location {}", loc.text),
        _ => "an enclosing location".to_string(),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn quote_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', ';', '{', '}', '#', '"', '\'']) {
                format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse("1.22.1"), Some(Version(1, 22, 1)));
        assert_eq!(
            Version::parse("nginx version: nginx/1.29.7"),
            Some(Version(1, 29, 7))
        );
        assert_eq!(
            Version::parse("nginx/1.25.3 (Ubuntu)"),
            Some(Version(1, 25, 3))
        );
        assert_eq!(Version::parse("1.x"), None);
        assert_eq!(
            Version::default_proxy_http_version(Some(Version(1, 29, 7))),
            "1.1"
        );
        assert_eq!(
            Version::default_proxy_http_version(Some(Version(1, 29, 6))),
            "1.0"
        );
        assert_eq!(Version::default_proxy_http_version(None), "1.0");
    }
}
