//! `doctor`: reads nginx's configuration and, when given, its logs, and names the directive that
//! breaks WebSocket upgrades, with its file, line and the lines to add.
//!
//! The configuration is read as nginx reads it ([`crate::nginx_conf`]); the logs go through the
//! shared classifier, so an attempt counted here is one `run` would count; each attempt is
//! attributed to the location nginx would choose for it.

pub(crate) mod checks;
pub(crate) mod evidence;
pub(crate) mod render;
pub(crate) mod report;

use crate::classify::{Classifier, ClassifyConfig};
use crate::nginx_conf::effective::{array, Http};
use crate::nginx_conf::{ConfigError, Directive, Source};
use crate::parse::format::LineFormat;
use anyhow::{bail, Context};
use checks::{log_format, Checks, Finding, Severity, Version};
use evidence::Logs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) use report::{EvidenceReport, LocationReport, Report};

/// What `doctor` is asked to check, from its flags (`app` turns the flags into this, so the
/// checks do not depend on the command line).
pub(crate) struct Options<'a> {
    /// `--config`: a path, a saved `nginx -T`, or `-`.
    pub(crate) config: &'a str,
    pub(crate) nginx_root_prefix: Option<&'a Path>,
    pub(crate) access_log: &'a [PathBuf],
    pub(crate) error_log: &'a [PathBuf],
    /// `--format json`.
    pub(crate) json: bool,
    /// `--log-format`, when given.
    pub(crate) log_format: Option<&'a str>,
    pub(crate) nginx_version: Option<&'a str>,
    pub(crate) classify: ClassifyConfig,
    /// `--regex` was given: the format is explicit even when `auto`.
    pub(crate) regex: bool,
    pub(crate) max_line_bytes: usize,
    /// The classifier for an explicit format (the same flags as every mode).
    pub(crate) explicit: &'a dyn Fn(&str) -> anyhow::Result<Classifier>,
}

/// Runs `doctor`: prints the report, returns 0 without error findings, 1 with any.
pub(crate) fn run(args: &Options<'_>) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let (source, shown) = config_source(args.config)?;
    let root = args.nginx_root_prefix;
    let source = match source {
        Source::Path(p) => Source::Path(crate::nginx_conf::config_path(&p, root)),
        other => other,
    };
    let cfg = match crate::nginx_conf::load_rooted(&source, root) {
        Ok(c) => c,
        Err(e) => return Ok(config_failed(&e, &shown, json)),
    };
    let (version, version_source) = nginx_version(args.nginx_version)?;
    let http = Http::of(&cfg);
    let mut logs = Logs::default();
    let ccfg = &args.classify;
    for path in args.access_log {
        let candidates = servers_writing(&http, path);
        let (mut classifier, name) = access_classifier(args, ccfg, &http, path, &candidates)?;
        evidence::read_access(
            &http,
            path,
            &candidates,
            &mut classifier,
            name,
            args.max_line_bytes,
            &mut logs,
        )?;
    }
    for path in args.error_log {
        let mut classifier = Classifier::new(
            LineFormat::compile("combined").map_err(|e| anyhow::anyhow!("{e}"))?,
            ccfg,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        evidence::read_error(&http, path, &mut classifier, args.max_line_bytes, &mut logs)?;
    }
    let checks = Checks {
        cfg: &cfg,
        http: &http,
        version,
        ws_prefixes: &args.classify.ws_path_prefixes,
        logs: &logs,
    };
    let findings = checks.run();
    let mut locations = Vec::new();
    for (s, server) in http.servers.iter().enumerate() {
        for (i, loc) in server.locations.iter().enumerate() {
            if matches!(loc.matcher, crate::nginx_conf::effective::Matcher::Named) {
                continue;
            }
            locations.push(LocationReport {
                server: server.name.clone(),
                location: loc.text.clone(),
                file: cfg.file(loc.block.file).to_string(),
                line: loc.block.line,
                websocket: checks.websocket(s, i).is_some(),
                evidence: logs
                    .by_location
                    .get(&(s, Some(i)))
                    .map(EvidenceReport::from)
                    .unwrap_or_default(),
            });
        }
        if let Some(e) = logs.by_location.get(&(s, None)) {
            locations.push(LocationReport {
                server: server.name.clone(),
                location: String::new(),
                file: cfg.file(server.block.file).to_string(),
                line: server.block.line,
                websocket: e.upgrade_attempts > 0,
                evidence: EvidenceReport::from(e),
            });
        }
    }
    let report = Report {
        config: shown,
        nginx_version: version.map(|v| v.to_string()),
        nginx_version_source: version_source,
        findings,
        locations,
        logs: logs.files.clone(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render::text(&report, &cfg, logs.unattributed, &mut out)?;
    }
    out.flush()?;
    let errors = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    Ok(ExitCode::from(u8::from(errors)))
}

/// `--config`: a path, or `-` for stdin (read whole; a dump or a config).
pub(crate) fn config_source(config: &str) -> anyhow::Result<(Source, String)> {
    if config == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .lock()
            .take(64 << 20)
            .read_to_end(&mut data)
            .context("cannot read the configuration from stdin")?;
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            bail!("--config -: stdin is empty (pipe `nginx -T` into it, e.g. `docker exec nginx nginx -T | nginxlog-sidecar doctor --config -`)");
        }
        return Ok((
            Source::Bytes {
                name: "-".into(),
                data,
            },
            "-".into(),
        ));
    }
    Ok((Source::Path(PathBuf::from(config)), config.to_string()))
}

/// Prints a config error the way the chosen format does and returns exit code 2.
fn config_failed(e: &ConfigError, shown: &str, json: bool) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {e}");
    if json {
        let report = Report {
            config: shown.to_string(),
            nginx_version: None,
            nginx_version_source: String::new(),
            findings: vec![Finding {
                id: "config_syntax",
                severity: Severity::Error,
                file: e.file.clone(),
                line: e.line.unwrap_or(0),
                server: String::new(),
                location: String::new(),
                message: e.message.clone(),
                fix: String::new(),
            }],
            locations: Vec::new(),
            logs: Vec::new(),
        };
        if let Ok(text) = serde_json::to_string_pretty(&report) {
            let _ = writeln!(std::io::stdout(), "{text}");
        }
    }
    ExitCode::from(2)
}

/// The nginx version: the flag, else `nginx -v` of the nginx on PATH, else unknown.
pub(crate) fn nginx_version(flag: Option<&str>) -> anyhow::Result<(Option<Version>, String)> {
    if let Some(v) = flag {
        let Some(parsed) = Version::parse(v) else {
            bail!("--nginx-version {v:?}: expected X.Y.Z (e.g. 1.22.1), as `nginx -v` prints it");
        };
        return Ok((Some(parsed), "--nginx-version".into()));
    }
    if let Ok(out) = std::process::Command::new("nginx").arg("-v").output() {
        let text = String::from_utf8_lossy(&out.stderr);
        if let Some(v) = text
            .lines()
            .find_map(|l| l.split("nginx/").nth(1))
            .and_then(Version::parse)
        {
            return Ok((Some(v), "nginx -v on this machine".into()));
        }
    }
    Ok((
        None,
        "unknown (no --nginx-version, no nginx on PATH): assuming a version before 1.29.7, where proxy_http_version defaults to 1.0".into(),
    ))
}

/// Whether an `access_log` path names `file` (same file, or the same name when the config's
/// paths are another machine's or relative to nginx's prefix).
pub(crate) fn same_log(config_path: &str, file: &Path) -> bool {
    let cp = Path::new(config_path);
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(cp), std::fs::canonicalize(file)) {
        if a == b {
            return true;
        }
    }
    cp.file_name().is_some() && cp.file_name() == file.file_name()
}

/// The `access_log` directives of server `s` (its own level or http's, and its locations').
fn access_logs_of<'c>(http: &'c Http<'c>, s: usize) -> Vec<&'c Directive> {
    let server = &http.servers[s];
    let levels: [&[Directive]; 2] = [&http.settings, &server.settings];
    let mut out: Vec<&Directive> = array(&levels, "access_log")
        .map(|(_, l)| l)
        .unwrap_or_default();
    for loc in &server.locations {
        out.extend(
            loc.block
                .children()
                .iter()
                .filter(|d| d.name == "access_log"),
        );
    }
    out
}

/// The servers whose `access_log` writes `file`; all servers when none names it.
fn servers_writing(http: &Http<'_>, file: &Path) -> Vec<usize> {
    let hits: Vec<usize> = (0..http.servers.len())
        .filter(|&s| {
            access_logs_of(http, s)
                .iter()
                .any(|d| same_log(d.arg(0), file))
        })
        .collect();
    if hits.is_empty() {
        (0..http.servers.len()).collect()
    } else {
        hits
    }
}

/// The first non-empty line of a (possibly gzip) file.
fn first_line(file: &Path) -> Option<Vec<u8>> {
    let (input, _) = crate::source::history::open(file).ok()?;
    let mut head = Vec::new();
    input.take(64 * 1024).read_to_end(&mut head).ok()?;
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
}

/// The classifier for an access log: `--log-format` when given; else the `log_format` of the
/// `access_log` directive that writes the file, if it reads the file's first line; else `auto`.
fn access_classifier(
    args: &Options<'_>,
    ccfg: &ClassifyConfig,
    http: &Http<'_>,

    file: &Path,
    candidates: &[usize],
) -> anyhow::Result<(Classifier, String)> {
    let chosen = args.log_format.unwrap_or("auto");
    if chosen != "auto" || args.regex {
        return Ok(((args.explicit)(chosen)?, chosen.to_string()));
    }

    let named: Option<String> = candidates
        .iter()
        .flat_map(|&s| access_logs_of(http, s))
        .find(|d| same_log(d.arg(0), file))
        .map(|d| d.args.get(1).cloned().unwrap_or_else(|| "combined".into()));
    if let Some(name) = named {
        let format = log_format(http, &name)
            .and_then(|(t, escape)| LineFormat::compile_template(&t, escape).ok());
        if let Some(format) = format {
            let mut c = Classifier::new(format.clone(), ccfg).map_err(|e| anyhow::anyhow!(e))?;
            // The config may be newer or older than the log: its format must read the first line.
            if first_line(file).is_none_or(|l| c.access(&l).is_ok()) {
                let c = Classifier::new(format, ccfg).map_err(|e| anyhow::anyhow!(e))?;
                return Ok((c, format!("log_format {name} (from the config)")));
            }
        }
    }
    Ok((
        Classifier::auto(ccfg).map_err(|e| anyhow::anyhow!(e))?,
        "auto".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx_conf::load;
    use crate::nginx_conf::locations::{find_location, normalise_uri};
    use proptest::prelude::*;

    /// Tokens that make configs nginx-like enough to reach the checks.
    const VOCAB: &[&str] = &[
        "http",
        "server",
        "location",
        "if",
        "map",
        "upstream",
        "events",
        "{",
        "}",
        ";",
        " ",
        "\n",
        "'",
        "\"",
        "\\",
        "#",
        "$",
        "${x}",
        "~",
        "~*",
        "=",
        "^~",
        "/ws/",
        "/",
        "@n",
        "^/ws/(a|b)$",
        "proxy_pass",
        "http://b",
        "proxy_set_header",
        "Upgrade",
        "Connection",
        "$http_upgrade",
        "$connection_upgrade",
        "upgrade",
        "proxy_http_version",
        "1.0",
        "1.1",
        "proxy_read_timeout",
        "60s",
        "large_client_header_buffers",
        "4",
        "32k",
        "access_log",
        "log_format",
        "off",
        "include",
        "*.conf",
        "content_by_lua_block",
        "listen",
        "server_name",
        "default",
        "$http_upgrade $connection_upgrade",
        "x",
        "(",
        ")",
    ];

    fn check_all(data: Vec<u8>) {
        let Ok(cfg) = load(&Source::Bytes {
            name: "fuzz.conf".into(),
            data,
        }) else {
            return;
        };
        let http = Http::of(&cfg);
        let logs = Logs::default();
        let prefixes = vec!["/ws/".to_string()];
        let checks = Checks {
            cfg: &cfg,
            http: &http,
            version: None,
            ws_prefixes: &prefixes,
            logs: &logs,
        };
        for f in checks.run() {
            assert!(!f.id.is_empty());
        }
        for s in &http.servers {
            for uri in ["/", "/ws/chat", "/ws/a", "//x/../ws/"] {
                if let Some(i) = find_location(s, &normalise_uri(uri.as_bytes())) {
                    assert!(i < s.locations.len());
                }
            }
        }
    }

    /// (id, line, server, location) of every finding of `conf`.
    fn ids(conf: &str) -> Vec<(String, u32, String, String)> {
        let cfg = load(&Source::Bytes {
            name: "t.conf".into(),
            data: conf.as_bytes().to_vec(),
        })
        .expect("parses");
        let http = Http::of(&cfg);
        let logs = Logs::default();
        let prefixes = vec!["/ws/".to_string()];
        Checks {
            cfg: &cfg,
            http: &http,
            version: Some(Version(1, 22, 1)),
            ws_prefixes: &prefixes,
            logs: &logs,
        }
        .run()
        .into_iter()
        .map(|f| (f.id.to_string(), f.line, f.server, f.location))
        .collect()
    }

    fn has(found: &[(String, u32, String, String)], id: &str) -> bool {
        found.iter().any(|f| f.0 == id)
    }

    const GOOD: &str = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_read_timeout 1h;";

    #[test]
    fn review_cases() {
        // A map of another name is not $connection_upgrade.
        let f = ids(&format!("http {{ map $http_upgrade $connection_upgrade_ws {{ default upgrade; '' close; }} server {{ location /ws/ {{ proxy_pass http://b; {} }} }} }}",
            GOOD.replace("$connection_upgrade", "$connection_upgrade_ws")));
        assert!(
            f.iter().all(|x| x.0 == "log_format_lacks_ws_fields"),
            "{f:?}"
        );
        // A catch-all regex is not a WebSocket location by itself; a regex for the prefix is.
        let f = ids("http { server { location ~ ^/.*$ { proxy_pass http://b; } } }");
        assert!(f.is_empty(), "{f:?}");
        let f = ids("http { server { location ~ ^/(ws|socket)/ { proxy_pass http://b; } } }");
        assert!(has(&f, "ws_upgrade_header_missing"), "{f:?}");
        // An error_page fallback is not the WebSocket path.
        let f = ids(&format!("http {{ map $http_upgrade $connection_upgrade {{ default upgrade; }} server {{ location /ws/ {{ error_page 502 = @maint; proxy_pass http://b; {GOOD} }} location @maint {{ proxy_pass http://m; }} }} }}"));
        assert!(
            f.iter().all(|x| x.0 == "log_format_lacks_ws_fields"),
            "{f:?}"
        );
        // Values of several parts are not judged; an unknown variable is only a warning.
        let f = ids(&format!("http {{ map $http_upgrade $connection_upgrade {{ default upgrade; }} server {{ location /ws/ {{ proxy_pass http://b; {} }} }} }}",
            GOOD.replace("Connection $connection_upgrade", "Connection \"$connection_upgrade, keep-alive\"")));
        assert!(
            f.iter().all(|x| x.0 == "log_format_lacks_ws_fields"),
            "{f:?}"
        );
        // One-line config: each misplaced directive in its own server and location.
        let f = ids("http { server { server_name a; location /x/ { large_client_header_buffers 4 8k; } } server { server_name b; location /y/ { large_client_header_buffers 4 8k; } } }");
        let owners: Vec<(&str, &str)> = f.iter().map(|x| (x.2.as_str(), x.3.as_str())).collect();
        assert_eq!(owners, vec![("a", "/x/"), ("b", "/y/")]);
        // proxy_pass inside `if` still proxies without the headers.
        let f = ids(
            "http { server { location /ws/ { if ($http_upgrade) { proxy_pass http://b; } } } }",
        );
        assert!(has(&f, "ws_upgrade_header_missing"), "{f:?}");
        // A named location a WebSocket location hands over to.
        let f = ids("http { server { location /ws/ { try_files /x @app; } location @app { proxy_pass http://b; } } }");
        assert!(
            f.iter()
                .any(|x| x.0 == "ws_upgrade_header_missing" && x.3 == "@app"),
            "{f:?}"
        );
        // A typo in the Connection variable: nginx -t refuses it.
        let f = ids(&format!("http {{ map $http_upgrade $connection_upgrade {{ default upgrade; }} server {{ location /ws/ {{ proxy_pass http://b; {} }} }} }}",
            GOOD.replace("Connection $connection_upgrade", "Connection $conection_upgrade")));
        assert!(
            has(&f, "ws_connection_variable_unknown") && !has(&f, "ws_upgrade_value_wrong"),
            "{f:?}"
        );
        // The location's own access_log decides the format warning.
        let f = ids(&format!("http {{ log_format ws '$upstream_header_time $http_upgrade'; map $http_upgrade $connection_upgrade {{ default upgrade; }} server {{ location /ws/ {{ access_log /l/ws.log ws; proxy_pass http://b; {GOOD} }} }} }}"));
        assert!(f.is_empty(), "{f:?}");
        // Headers inherited from the server: the fix goes beside them, not into the location.
        let cfg = "http {\n map $http_upgrade $connection_upgrade { default upgrade; }\n server {\n  proxy_http_version 1.1;\n  proxy_set_header Host $host;\n  proxy_set_header Connection $connection_upgrade;\n  location /ws/ { proxy_pass http://b; proxy_read_timeout 1h; }\n }\n}\n";
        let c = load(&Source::Bytes {
            name: "t.conf".into(),
            data: cfg.as_bytes().to_vec(),
        })
        .expect("parses");
        let http = Http::of(&c);
        let logs = Logs::default();
        let prefixes = vec!["/ws/".to_string()];
        let found = Checks {
            cfg: &c,
            http: &http,
            version: None,
            ws_prefixes: &prefixes,
            logs: &logs,
        }
        .run();
        let up = found
            .iter()
            .find(|f| f.id == "ws_upgrade_header_missing")
            .expect("finding");
        assert!(
            up.fix.contains("inherits from the server {} block") && up.fix.contains("t.conf:5"),
            "{}",
            up.fix
        );
    }

    #[test]
    fn includes_in_map_and_dotfiles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = dir.path().join("nginx.conf");
        std::fs::write(
            dir.path().join("m.map"),
            "default upgrade; '' close; index 1; root 2;\n",
        )
        .expect("write");
        std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
        std::fs::write(dir.path().join("conf.d/.off.conf"), "this is { broken\n").expect("write");
        std::fs::write(&main, format!("http {{ map $http_upgrade $connection_upgrade {{ include m.map; }} include conf.d/*.conf; server {{ location /ws/ {{ proxy_pass http://b; {GOOD} }} }} }}\n")).expect("write");
        let cfg = load(&Source::Path(main))
            .expect("parses: map entries are not directives, dotfiles are not globbed");
        assert!(cfg.misplaced.is_empty(), "{:?}", cfg.misplaced);
    }

    #[test]
    fn unquoted_regex_with_braces_is_an_unknown_directive() {
        let e = load(&Source::Bytes {
            name: "t.conf".into(),
            data: b"http {\n server {\n  location ~ ^/a{1,2}$ { return 200; }\n }\n}\n".to_vec(),
        })
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.starts_with("unknown directive \"1,2}$\""), "{e}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            check_all(data);
        }

        #[test]
        fn config_like_tokens_never_panic(words in proptest::collection::vec(0..VOCAB.len(), 0..300)) {
            let text: String = words.iter().map(|&i| VOCAB[i]).collect::<Vec<_>>().join(" ");
            check_all(text.into_bytes());
        }
    }
}
