//! Loading a configuration: the main file and its includes, or an `nginx -T` dump, into one tree
//! of directives that keep their file and line.
//!
//! Includes follow nginx: a relative path is taken against the directory of the main config
//! (nginx's conf prefix), a pattern with `*?[` is a glob whose matches are read in sorted order
//! and may match nothing, a plain path must exist. In a dump, the files are the sections after
//! `# configuration file PATH:` and an include is resolved against their paths.

use super::directives::{self, ctx};
use super::lexer::{End, LexError, Lexer, Statement};
use std::fmt;
use std::path::{Path, PathBuf};

/// Most bytes read over all files (a 10 MB config is fine; a runaway glob is not).
const MAX_BYTES: usize = 64 << 20;
/// POSIX glob(3) as nginx calls it: `*` does not cross `/` nor match a leading dot.
const GLOB: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};
/// Most files (includes) read.
const MAX_FILES: usize = 4096;
/// Deepest include chain and block nesting.
const MAX_DEPTH: usize = 64;

/// A directive with its file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) name: String,
    pub(crate) args: Vec<String>,
    /// Index into [`Config::files`].
    pub(crate) file: usize,
    /// Line of the directive's name.
    pub(crate) line: u32,
    /// Unique in its [`Config`] (directives of a one-line config share file and line).
    pub(crate) id: usize,
    /// The body of a block directive (includes spliced in); `None` for a simple directive.
    pub(crate) block: Option<Vec<Directive>>,
}

impl Directive {
    /// The directives of the block (empty for a simple directive).
    pub(crate) fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// The first argument, or "".
    pub(crate) fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }
}

/// A directive in a context nginx rejects ("... directive is not allowed here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Misplaced {
    /// The directive's [`Directive::id`].
    pub(crate) id: usize,
    pub(crate) name: String,
    pub(crate) args: Vec<String>,
    pub(crate) file: usize,
    pub(crate) line: u32,
    /// nginx's name for the context it is in (`location`, `if in location`, ...).
    pub(crate) context: &'static str,
    /// Where nginx's documentation allows it.
    pub(crate) allowed: Vec<&'static str>,
}

/// A loaded configuration.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// File names as nginx names them (the main file first).
    pub(crate) files: Vec<String>,
    /// The main context's directives.
    pub(crate) root: Vec<Directive>,
    /// Read from an `nginx -T` dump.
    pub(crate) from_dump: bool,
    /// Directives in contexts nginx rejects.
    pub(crate) misplaced: Vec<Misplaced>,
}

impl Config {
    /// The name of file `i`.
    pub(crate) fn file(&self, i: usize) -> &str {
        self.files.get(i).map_or("?", String::as_str)
    }
}

/// Why a configuration could not be read: `file:line: message`, as nginx reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub(crate) file: String,
    pub(crate) line: Option<u32>,
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where the configuration comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file: nginx.conf (includes followed) or a saved `nginx -T` dump.
    Path(PathBuf),
    /// Bytes already read (stdin), named `name`: a dump, or a config whose includes resolve
    /// against the working directory.
    Bytes { name: String, data: Vec<u8> },
}

/// Loads and parses a configuration.
pub fn load(source: &Source) -> Result<Config, ConfigError> {
    load_rooted(source, None)
}

/// Loads a configuration whose absolute include paths live under `root` on this machine (a
/// sidecar that mounts nginx's `/etc/nginx` at `ROOT/etc/nginx`).
pub(crate) fn load_rooted(source: &Source, root: Option<&Path>) -> Result<Config, ConfigError> {
    let (name, data) = match source {
        Source::Path(p) => {
            let name = p.display().to_string();
            (name.clone(), read_file(p, &name, None)?)
        }
        Source::Bytes { name, data } => (name.clone(), data.clone()),
    };
    let mut loader = Loader {
        cfg: Config::default(),
        dump: Vec::new(),
        prefix: PathBuf::new(),
        root: root.map(Path::to_path_buf),
        stack: Vec::new(),
        bytes: 0,
        next_id: 0,
    };
    match split_dump(&data) {
        Some(files) => {
            let main = files.first().map(|(n, _)| n.clone()).unwrap_or_default();
            loader.prefix = Path::new(&main)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            loader.cfg.from_dump = true;
            loader.dump = files;
            let body = loader
                .dump
                .first()
                .map(|(_, b)| b.clone())
                .unwrap_or_default();
            loader.cfg.root = loader.parse_file(main, &body, Body::Directives(ctx::MAIN), 0)?;
        }
        None => {
            loader.prefix = match source {
                Source::Path(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
                Source::Bytes { .. } => PathBuf::new(),
            };
            loader.cfg.root = loader.parse_file(name, &data, Body::Directives(ctx::MAIN), 0)?;
        }
    }
    Ok(loader.cfg)
}

/// Reads a file, with the message nginx gives when it cannot (`open() "..." failed`).
fn read_file(p: &Path, name: &str, from: Option<(&str, u32)>) -> Result<Vec<u8>, ConfigError> {
    let at = |message: String| match from {
        Some((file, line)) => ConfigError {
            file: file.to_string(),
            line: Some(line),
            message,
        },
        None => ConfigError {
            file: name.to_string(),
            line: None,
            message,
        },
    };
    if p.is_dir() {
        return Err(at(format!(
            "\"{name}\" is a directory, not a configuration file (give nginx.conf, or the output of `nginx -T`)"
        )));
    }
    let meta = std::fs::metadata(p)
        .map_err(|e| at(format!("open() \"{name}\" failed ({})", os_error(&e))))?;
    if meta.len() as usize > MAX_BYTES {
        return Err(at(format!(
            "\"{name}\" is {} bytes, more than the {MAX_BYTES} read for a configuration",
            meta.len()
        )));
    }
    std::fs::read(p).map_err(|e| at(format!("open() \"{name}\" failed ({})", os_error(&e))))
}

/// An I/O error as nginx prints it: `2: No such file or directory`.
fn os_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            format!("{code}: {text}")
        }
        None => e.to_string(),
    }
}

/// Splits an `nginx -T` dump into its files, or `None` when `data` is not one. stderr lines
/// that a `2>&1` mixed in (`nginx: the configuration file ... syntax is ok`) are dropped.
fn split_dump(data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    const MARK: &[u8] = b"# configuration file ";
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut seen_marker = false;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if let Some(rest) = bare.strip_prefix(MARK) {
            if let Some(path) = rest.strip_suffix(b":") {
                seen_marker = true;
                files.push((String::from_utf8_lossy(path).into_owned(), Vec::new()));
                continue;
            }
        }
        if bare.starts_with(b"nginx: ") {
            continue;
        }
        match files.last_mut() {
            Some((_, body)) => body.extend_from_slice(line),
            // Before the first marker only blank lines and nginx's stderr lines may appear.
            None if bare.iter().all(|b| b.is_ascii_whitespace()) => {}
            None => return None,
        }
    }
    seen_marker.then_some(files)
}

struct Loader {
    cfg: Config,
    /// The files of a dump.
    dump: Vec<(String, Vec<u8>)>,
    /// nginx's conf prefix: the main config's directory.
    prefix: PathBuf,
    /// Where absolute include paths are re-rooted (`--nginx-root-prefix`).
    root: Option<PathBuf>,
    /// Files being read (include loop detection).
    stack: Vec<String>,
    bytes: usize,
    /// Directives made so far (the next [`Directive::id`]).
    next_id: usize,
}

/// How the body of a block is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Directives in context `ctx` (a `ctx::*` bit).
    Directives(u32),
    /// `map`, `types`, `geo`, ...: `key value;` entries, not directives.
    Entries,
    /// A block of a module we do not know: its directives are kept but not checked.
    Unknown,
}

/// nginx's name of a context bit for messages.
fn context_name(c: u32) -> &'static str {
    directives::context_names(c)
        .first()
        .copied()
        .unwrap_or("this context")
}

/// The context a block directive opens, given the context it is in.
fn body_of(name: &str, outer: Body) -> Body {
    let Body::Directives(c) = outer else {
        return Body::Unknown;
    };
    let inner = match (c, name) {
        (ctx::MAIN, "http") => ctx::HTTP,
        (ctx::MAIN, "events") => ctx::EVENTS,
        (ctx::MAIN, "stream") => ctx::STREAM,
        (ctx::MAIN, "mail") => ctx::MAIL,
        (ctx::HTTP, "server") => ctx::SERVER,
        (ctx::HTTP, "upstream") => ctx::UPSTREAM,
        (ctx::SERVER | ctx::LOCATION, "location") => ctx::LOCATION,
        (ctx::SERVER, "if") => ctx::SIF,
        (ctx::LOCATION, "if") => ctx::LIF,
        (ctx::LOCATION, "limit_except") => ctx::LMT,
        (ctx::STREAM, "server") => ctx::STREAM_SERVER,
        (ctx::STREAM, "upstream") => ctx::STREAM_UPSTREAM,
        (ctx::MAIL, "server") => ctx::MAIL_SERVER,
        (
            _,
            "map" | "types" | "geo" | "split_clients" | "charset_map" | "match" | "geoip2"
            | "upstream_conf",
        ) => return Body::Entries,
        _ => return Body::Unknown,
    };
    Body::Directives(inner)
}

impl Loader {
    fn error(&self, file: &str, e: LexError) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: Some(e.line),
            message: e.message,
        }
    }

    /// Parses one file's bytes in context `c`.
    fn parse_file(
        &mut self,
        name: String,
        data: &[u8],
        body: Body,
        depth: usize,
    ) -> Result<Vec<Directive>, ConfigError> {
        self.bytes += data.len();
        if self.bytes > MAX_BYTES {
            return Err(ConfigError {
                file: name,
                line: None,
                message: format!(
                    "the configuration is larger than {MAX_BYTES} bytes with its includes"
                ),
            });
        }
        if self.cfg.files.len() >= MAX_FILES {
            return Err(ConfigError {
                file: name,
                line: None,
                message: format!("more than {MAX_FILES} files included"),
            });
        }
        let index = match self.cfg.files.iter().position(|f| *f == name) {
            Some(i) => i,
            None => {
                self.cfg.files.push(name.clone());
                self.cfg.files.len() - 1
            }
        };
        self.stack.push(name.clone());
        let mut lexer = Lexer::new(data);
        let mut out = Vec::new();
        let r = self.parse_body(&mut lexer, index, body, depth, false, &mut out);
        self.stack.pop();
        r.map_err(|e| self.hint(e, data))?;
        Ok(out)
    }

    /// A syntax error in what looks like another server's configuration says so.
    fn hint(&self, mut e: ConfigError, data: &[u8]) -> ConfigError {
        if data.starts_with(b"\xEF\xBB\xBF") {
            e.message.push_str(
                " (the file starts with a UTF-8 byte order mark, which nginx reads as part of the first directive: save it without one)",
            );
            return e;
        }
        let text = String::from_utf8_lossy(&data[..data.len().min(64 * 1024)]);
        if [
            "<VirtualHost",
            "<Directory",
            "<IfModule",
            "ServerName ",
            "DocumentRoot ",
        ]
        .iter()
        .any(|m| text.contains(m))
        {
            e.message
                .push_str(" (this looks like an Apache httpd configuration, not nginx's)");
        } else if data.iter().take(4096).filter(|&&b| b == 0).count() > 0 {
            e.message
                .push_str(" (the file holds binary data: is it really nginx.conf?)");
        }
        e
    }

    fn parse_body(
        &mut self,
        lx: &mut Lexer<'_>,
        file: usize,
        body: Body,
        depth: usize,
        in_block: bool,
        out: &mut Vec<Directive>,
    ) -> Result<(), ConfigError> {
        let fname = self.cfg.files[file].clone();
        if depth > MAX_DEPTH {
            return Err(ConfigError {
                file: fname,
                line: Some(lx.line()),
                message: format!("blocks or includes nested more than {MAX_DEPTH} deep"),
            });
        }
        loop {
            let st: Statement = lx.next_statement().map_err(|e| self.error(&fname, e))?;
            match st.end {
                End::Eof if in_block => {
                    return Err(ConfigError {
                        file: fname,
                        line: Some(st.end_line),
                        message: "unexpected end of file, expecting \"}\"".into(),
                    })
                }
                End::Eof => return Ok(()),
                End::BlockClose if in_block => return Ok(()),
                End::BlockClose => {
                    return Err(ConfigError {
                        file: fname,
                        line: Some(st.end_line),
                        message: "unexpected \"}\"".into(),
                    })
                }
                End::Semicolon | End::BlockOpen => {}
            }
            let mut words = st.words.into_iter();
            let Some(first) = words.next() else {
                continue;
            };
            let name = first.text;
            let args: Vec<String> = words.map(|w| w.text).collect();
            let line = first.line;
            let at = |message: String| ConfigError {
                file: fname.clone(),
                line: Some(st.end_line),
                message,
            };
            let id = self.next_id;
            self.next_id += 1;
            if let Body::Directives(c) = body {
                // Every directive of nginx and its modules is a word of [a-z0-9_]; anything else
                // is a stray token, typically an unquoted regex with `{`: `~ ^/a{1,2}$`.
                if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(ConfigError {
                        file: fname.clone(),
                        line: Some(line),
                        message: format!(
                            "unknown directive \"{name}\" (a regex with {{ or ; must be quoted)"
                        ),
                    });
                }
                if let Some(allowed) = Self::check(&name, &args, c, st.end).map_err(at)? {
                    self.cfg.misplaced.push(Misplaced {
                        id,
                        name: name.clone(),
                        args: args.clone(),
                        file,
                        line,
                        context: context_name(c),
                        allowed: directives::context_names(allowed),
                    });
                }
            }
            if st.end == End::Semicolon && name == "include" && body != Body::Unknown {
                if args.len() != 1 {
                    return Err(at(
                        "invalid number of arguments in \"include\" directive".into()
                    ));
                }
                self.include(&args[0], &fname, line, body, depth, out)?;
                continue;
            }
            let block = match st.end {
                End::BlockOpen if name.ends_with("_by_lua_block") => {
                    lx.opaque_block().map_err(|e| self.error(&fname, e))?;
                    Some(Vec::new())
                }
                End::BlockOpen => {
                    let inner = body_of(&name, body);
                    let mut children = Vec::new();
                    self.parse_body(lx, file, inner, depth + 1, true, &mut children)?;
                    Some(children)
                }
                _ => None,
            };
            out.push(Directive {
                name,
                args,
                file,
                line,
                id,
                block,
            });
        }
    }

    /// nginx's checks of a known directive: its block form and argument count (an error, as
    /// nginx -t fails), then its context (`Some(allowed contexts)` when nginx rejects it here,
    /// reported as a finding so every misplaced directive is listed, not only the first).
    fn check(name: &str, args: &[String], c: u32, end: End) -> Result<Option<u32>, String> {
        let Some(spec) = directives::lookup(name) else {
            return Ok(None);
        };
        if spec.contexts & c == 0 {
            return Ok(Some(spec.contexts));
        }
        // `server` is a block in http, stream and mail and a simple directive in upstream.
        let block = match name {
            "server" => matches!(c, ctx::HTTP | ctx::STREAM | ctx::MAIL),
            _ => spec.block,
        };
        if !block && end == End::BlockOpen {
            return Err(format!("directive \"{name}\" is not terminated by \";\""));
        }
        if block && end != End::BlockOpen {
            return Err(format!("directive \"{name}\" has no opening \"{{\""));
        }
        if name != "server" && !directives::args_ok(spec, args.len()) {
            return Err(format!(
                "invalid number of arguments in \"{name}\" directive"
            ));
        }
        Ok(None)
    }

    /// Reads the files an `include` names into `out`.
    fn include(
        &mut self,
        pattern: &str,
        from: &str,
        line: u32,
        body: Body,
        depth: usize,
        out: &mut Vec<Directive>,
    ) -> Result<(), ConfigError> {
        let full = if Path::new(pattern).is_absolute() {
            match &self.root {
                Some(root) if !self.cfg.from_dump => root.join(pattern.trim_start_matches('/')),
                _ => PathBuf::from(pattern),
            }
        } else {
            self.prefix.join(pattern)
        };
        let full_s = full.display().to_string();
        let is_glob = pattern.contains(['*', '?', '[']);
        let err = |message: String| ConfigError {
            file: from.to_string(),
            line: Some(line),
            message,
        };
        let names: Vec<String> = if self.cfg.from_dump {
            if is_glob {
                let pat = glob::Pattern::new(&full_s)
                    .map_err(|e| err(format!("include \"{pattern}\": invalid pattern ({e})")))?;
                let opts = GLOB;
                let mut m: Vec<String> = self
                    .dump
                    .iter()
                    .map(|(n, _)| n.clone())
                    .filter(|n| pat.matches_with(n, opts))
                    .collect();
                m.sort();
                m.dedup();
                m
            } else if self.dump.iter().any(|(n, _)| *n == full_s) {
                vec![full_s.clone()]
            } else {
                return Err(err(format!(
                    "include \"{pattern}\": \"{full_s}\" is not in the nginx -T output (was the dump cut short?)"
                )));
            }
        } else if is_glob {
            let paths = glob::glob_with(&full_s, GLOB)
                .map_err(|e| err(format!("include \"{pattern}\": invalid pattern ({e})")))?;
            let mut m: Vec<String> = paths
                .filter_map(Result::ok)
                .filter(|p| !p.is_dir())
                .map(|p| p.display().to_string())
                .collect();
            m.sort();
            m
        } else {
            vec![full_s.clone()]
        };
        for name in names {
            if self.stack.contains(&name) {
                return Err(err(format!(
                    "include loop: \"{name}\" includes itself (through {})",
                    self.stack.join(" -> ")
                )));
            }
            if depth + self.stack.len() > MAX_DEPTH {
                return Err(err(format!("includes nested more than {MAX_DEPTH} deep")));
            }
            let data = if self.cfg.from_dump {
                self.dump
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default()
            } else {
                read_file(Path::new(&name), &name, Some((from, line)))?
            };
            let mut part = self.parse_file(name, &data, body, depth + 1)?;
            out.append(&mut part);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        load(&Source::Bytes {
            name: "nginx.conf".into(),
            data: text.as_bytes().to_vec(),
        })
    }

    #[test]
    fn tree_with_lines() {
        let c = parse("events {}\nhttp {\n  server {\n    location /ws/ {\n      proxy_pass http://b;\n    }\n  }\n}\n")
            .expect("parses");
        let http = &c.root[1];
        assert_eq!(http.name, "http");
        let loc = &http.children()[0].children()[0];
        assert_eq!(
            (loc.name.as_str(), loc.arg(0), loc.line),
            ("location", "/ws/", 4)
        );
        assert_eq!(loc.children()[0].line, 5);
    }

    #[test]
    fn misplaced_directive() {
        let c = parse("http { server { location / { large_client_header_buffers 4 32k; } } }")
            .expect("parses");
        assert_eq!(c.misplaced.len(), 1);
        assert_eq!(c.misplaced[0].name, "large_client_header_buffers");
        assert_eq!(c.misplaced[0].context, "location");
    }

    #[test]
    fn syntax_errors_like_nginx() {
        let e = parse("http {\n server {\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "nginx.conf:3: unexpected end of file, expecting \"}\""
        );
        let e = parse("http { }\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "nginx.conf:2: unexpected \"}\"");
        let e = parse("http {\n server {\n  location / {\n   proxy_pass http://a\n   proxy_set_header A b;\n  }\n }\n}\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "nginx.conf:5: invalid number of arguments in \"proxy_pass\" directive"
        );
        let e = parse("http;").unwrap_err();
        assert!(e.message.contains("has no opening"), "{e}");
        let e = parse("<VirtualHost *:80>\nServerName x\n</VirtualHost>\n").unwrap_err();
        assert!(e.message.contains("Apache"), "{e}");
    }

    #[test]
    fn dump_files_and_includes() {
        let dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n# configuration file /etc/nginx/nginx.conf:\nhttp {\n  include conf.d/*.conf;\n}\n\n# configuration file /etc/nginx/conf.d/ws.conf:\nserver {\n  listen 80;\n  location /ws/ { proxy_pass http://b; }\n}\n\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n";
        let c = parse(dump).expect("parses");
        assert!(c.from_dump);
        assert_eq!(
            c.files,
            vec!["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/ws.conf"]
        );
        let server = &c.root[0].children()[0];
        assert_eq!(server.file, 1);
        assert_eq!(server.children()[1].line, 3);
    }

    #[test]
    fn include_loop_and_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = dir.path().join("nginx.conf");
        std::fs::write(&main, "include a.conf;\n").expect("write");
        std::fs::write(dir.path().join("a.conf"), "include nginx.conf;\n").expect("write");
        let e = load(&Source::Path(main.clone())).unwrap_err();
        assert!(e.message.contains("include loop"), "{e}");
        std::fs::write(&main, "include missing.conf;\ninclude none/*.conf;\n").expect("write");
        let e = load(&Source::Path(main)).unwrap_err();
        assert!(e.message.contains("missing.conf"), "{e}");
        assert_eq!(e.line, Some(1));
    }
}
