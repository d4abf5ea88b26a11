//! `--nginx-config`: the logs nginx's configuration writes, in the formats it writes them, and
//! the doctor's findings about it, kept current while the sidecar runs.
//!
//! Users copying a `log_format` by hand and getting it wrong is the commonest failure of log
//! exporters; nginx's config already says which files it writes and how. The same config,
//! re-read when it changes on disk, feeds `nginxlog_config_findings` and the status page.

use crate::classify::AnsweredBy;
/// The nginx version [`LiveConfig::new`] judges defaults by (`--nginx-version`, `nginx -v`).
pub use crate::doctor::checks::Version;
use crate::doctor::checks::{log_format, Checks, Finding};
use crate::doctor::evidence::{Evidence, Logs};
use crate::nginx_conf::effective::Http;
use crate::nginx_conf::locations::{find_location, find_server, normalise_uri};
use crate::nginx_conf::{load_rooted, Config, Directive, Source};
use crate::parse::format::{Escape, LineFormat};
use crate::pipeline::LogKind;
use crate::sink::metrics::{escape, Metrics};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the config files are checked for changes.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// Longest fix text carried in a label of `*_config_finding_info`.
const MAX_FIX_LABEL: usize = 1024;

/// A log the config writes that the sidecar can tail.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogTarget {
    pub(crate) kind: LogKind,
    /// The path as nginx names it.
    pub(crate) path: String,
    /// Where the sidecar reads it (`--nginx-root-prefix` applied).
    pub(crate) read_path: PathBuf,
    /// For access logs: the `log_format` name, its template and escape mode.
    pub(crate) format: Option<(String, String, Escape)>,
    /// The directive that names it (`file:line`).
    pub(crate) at: String,
}

impl LogTarget {
    /// The compiled access format.
    pub(crate) fn line_format(&self) -> Option<anyhow::Result<LineFormat>> {
        self.format.as_ref().map(|(name, t, e)| {
            LineFormat::compile_template(t, *e)
                .map_err(|err| anyhow::anyhow!("{}: log_format {name}: {err}", self.at))
        })
    }

    /// How the status page names its format.
    pub(crate) fn format_name(&self) -> String {
        match &self.format {
            Some((name, _, Escape::Json)) => format!("log_format {name} escape=json ({})", self.at),
            Some((name, _, _)) => format!("log_format {name} ({})", self.at),
            None => "error log".into(),
        }
    }
}

/// A log directive the sidecar cannot tail, with why and what to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Unusable {
    pub(crate) kind: &'static str,
    pub(crate) target: String,
    /// `file:line` of the directive.
    pub(crate) at: String,
    pub(crate) reason: String,
    pub(crate) todo: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}_log {}: {}; {}",
            self.at, self.kind, self.target, self.reason, self.todo
        )
    }
}

/// The logs of a config: what can be tailed, and what cannot.
#[derive(Clone, Debug, Default)]
pub(crate) struct Targets {
    pub(crate) logs: Vec<LogTarget>,
    pub(crate) unusable: Vec<Unusable>,
    /// Notes that are not errors (a relative path resolved, a file written in two formats).
    pub(crate) notes: Vec<String>,
}

/// Re-roots an absolute path of nginx's under `root`.
pub(crate) fn reroot(path: &str, root: Option<&Path>) -> PathBuf {
    match root {
        Some(r) if path.starts_with('/') => r.join(path.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

/// Why a log path cannot be tailed, if it cannot: (reason, what to do).
fn unusable_path(
    kind: LogKind,
    path: &str,
    read: &Path,
    syslog_source: bool,
) -> Option<(String, String)> {
    let directive = format!("{}_log", kind.as_str());
    let file_hint = match kind {
        LogKind::Access => "access_log /var/log/nginx/access.log FORMAT;",
        LogKind::Error => "error_log /var/log/nginx/error.log;",
    };
    if path == "off" {
        return Some((
            "nginx writes no log here".into(),
            "nothing to tail: remove `off` (or give --access-log) to have these requests counted"
                .into(),
        ));
    }
    if let Some(rest) = path.strip_prefix("syslog:") {
        if syslog_source {
            return None;
        }
        let server = rest
            .split(',')
            .find_map(|p| p.strip_prefix("server="))
            .unwrap_or("?");
        return Some((
            format!("nginx sends it to syslog (server={server}), not to a file"),
            format!(
                "receive it: --{}-log syslog+udp://0.0.0.0:PORT and point server= at the sidecar",
                kind.as_str()
            ),
        ));
    }
    if path == "stderr" || path.starts_with("memory:") {
        return Some((
            format!("nginx writes it to {path}, not to a file"),
            format!("write it to a file on a volume the sidecar mounts: {file_hint}"),
        ));
    }
    if path.contains('$') {
        return Some((
            "the path contains a variable: nginx opens one file per value, which the sidecar cannot know".into(),
            format!("use a fixed path ({file_hint}), or name the files with --{directive_flag}", directive_flag = directive.replace('_', "-")),
        ));
    }
    let std_stream = |p: &str| {
        matches!(
            p,
            "/dev/stdout" | "/dev/stderr" | "/proc/self/fd/1" | "/proc/self/fd/2"
        )
    };
    if std_stream(path) {
        return Some((
            format!("nginx writes it to its own {path}: the container runtime's log, not a file the sidecar can read"),
            format!("write it to a file on a shared volume: {file_hint}"),
        ));
    }
    if let Ok(link) = std::fs::read_link(read) {
        let l = link.display().to_string();
        if std_stream(&l) {
            return Some((
                format!("{} is a symlink to {l} (as in the official nginx image): nginx writes to its stdout/stderr, not to a file", read.display()),
                "mount a volume over the log directory (e.g. an emptyDir at /var/log/nginx in both containers) so nginx writes a real file there".into(),
            ));
        }
    }
    None
}

/// The simple `access_log`/`error_log` directives anywhere in the config, in config order.
fn log_directives(cfg: &Config) -> Vec<&Directive> {
    fn go<'c>(ds: &'c [Directive], out: &mut Vec<&'c Directive>) {
        for d in ds {
            if (d.name == "access_log" || d.name == "error_log") && d.block.is_none() {
                out.push(d);
            }
            go(d.children(), out);
        }
    }
    let mut out = Vec::new();
    go(&cfg.root, &mut out);
    out
}

/// The logs the config writes. `syslog_source`: a syslog source is configured, so `syslog:`
/// targets are received there.
pub(crate) fn targets(cfg: &Config, root: Option<&Path>, syslog_source: bool) -> Targets {
    let http = Http::of(cfg);
    let mut t = Targets::default();
    let conf_dir = Path::new(cfg.file(0))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for d in log_directives(cfg) {
        let kind = if d.name == "access_log" {
            LogKind::Access
        } else {
            LogKind::Error
        };
        let at = format!("{}:{}", cfg.file(d.file), d.line);
        let path = d.arg(0).to_string();
        if path.is_empty() {
            continue;
        }
        let mut read = reroot(&path, root);
        if let Some((reason, todo)) = unusable_path(kind, &path, &read, syslog_source) {
            t.unusable.push(Unusable {
                kind: kind.as_str(),
                target: path,
                at,
                reason,
                todo,
            });
            continue;
        }
        if path.starts_with("syslog:") {
            continue;
        }
        if read.is_relative() {
            read = conf_dir.join(&read);
            t.notes.push(format!(
                "{at}: {path} is relative: nginx resolves it against its prefix (-p); read as {}",
                read.display()
            ));
        }
        let format = match kind {
            LogKind::Error => None,
            LogKind::Access => {
                let name = d
                    .args
                    .get(1)
                    .filter(|a| !a.contains('='))
                    .cloned()
                    .unwrap_or_else(|| "combined".into());
                if d.args.iter().skip(1).any(|a| a.starts_with("gzip")) {
                    t.unusable.push(Unusable {
                        kind: "access",
                        target: path,
                        at,
                        reason: "gzip: nginx writes compressed blocks, which cannot be read line by line while it writes".into(),
                        todo: "drop `gzip` from this access_log (compress rotated files with logrotate instead)".into(),
                    });
                    continue;
                }
                match log_format(&http, &name) {
                    Some((template, esc)) => Some((name, template, esc)),
                    None => {
                        t.unusable.push(Unusable {
                            kind: "access",
                            target: path,
                            at,
                            reason: format!("log_format {name} is not defined in the http block (nginx -t: unknown log format)"),
                            todo: format!("define `log_format {name} '...';` in http, or use a defined format"),
                        });
                        continue;
                    }
                }
            }
        };
        if let Some(prev) = t
            .logs
            .iter()
            .find(|l| l.kind == kind && l.read_path == read)
        {
            let same =
                prev.format.as_ref().map(|f| (&f.1, f.2)) == format.as_ref().map(|f| (&f.1, f.2));
            if !same {
                t.notes.push(format!(
                    "{at}: {path} is also written by {} with another format: its lines are read with the first one",
                    prev.at
                ));
            }
            continue;
        }
        t.logs.push(LogTarget {
            kind,
            path,
            read_path: read,
            format,
            at,
        });
    }
    t
}

/// The access format the config writes `file` with (`same_log` as doctor matches names).
pub(crate) fn format_for<'t>(targets: &'t Targets, file: &Path) -> Option<&'t LogTarget> {
    targets
        .logs
        .iter()
        .filter(|l| l.kind == LogKind::Access)
        .find(|l| {
            l.read_path == file || crate::doctor::same_log(&l.read_path.display().to_string(), file)
        })
}

/// Loads a config from `--nginx-config` (a file or a saved `nginx -T`).
pub(crate) fn load_config(path: &str, root: Option<&Path>) -> anyhow::Result<Config> {
    let (source, _) = crate::doctor::config_source(path)?;
    let source = match source {
        Source::Path(p) => Source::Path(crate::nginx_conf::config_path(&p, root)),
        other => other,
    };
    load_rooted(&source, root).map_err(|e| anyhow::anyhow!("--nginx-config: {e}"))
}

/// The access format for `file` under `--format auto` with `--nginx-config`, for the one-file
/// and history modes: the directive's format for each file; the files must agree (those modes
/// read all files with one format).
pub(crate) fn history_format(
    config: &str,
    root: Option<&Path>,
    files: &[PathBuf],
) -> anyhow::Result<Option<LineFormat>> {
    let cfg = load_config(config, root)?;
    let t = targets(&cfg, root, false);
    let access: Vec<&LogTarget> = t
        .logs
        .iter()
        .filter(|l| l.kind == LogKind::Access)
        .collect();
    let mut chosen: Option<&LogTarget> = None;
    for f in files {
        let hit = format_for(&t, f).or_else(|| {
            // A file no directive names: the config's only format, if it has one.
            let first = access.first()?;
            access
                .iter()
                .all(|l| l.format == first.format)
                .then_some(*first)
        });
        let Some(hit) = hit else {
            anyhow::bail!(
                "--nginx-config {config}: no access_log names {} and the config writes several formats; give --format",
                f.display()
            );
        };
        if let Some(c) = chosen {
            if c.format != hit.format {
                anyhow::bail!(
                    "--nginx-config {config}: {} is written with {} but another file with {}; these are read with one format: run once per format, or give --format",
                    f.display(),
                    hit.format_name(),
                    c.format_name()
                );
            }
        }
        chosen = Some(hit);
    }
    chosen.and_then(LogTarget::line_format).transpose()
}

/// A source `run` opens: given by flag or named by the config.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) name: String,
    pub(crate) kind: LogKind,
    /// The access format the config writes it with (`--format auto` only).
    pub(crate) format: Option<LineFormat>,
    /// How the status page names the format (`None`: auto-detected).
    pub(crate) format_name: Option<String>,
}

/// What `run` reads, and the config it watches.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) sources: Vec<Planned>,
    pub(crate) live: Option<Arc<LiveConfig>>,
    pub(crate) unusable: Vec<Unusable>,
}

/// The sources of `run`: the flags', each access log with the format of the directive writing
/// it; or, without `--access-log`/`--error-log`, the logs the config names.
pub(crate) fn plan(args: &crate::app::cli::RunArgs) -> anyhow::Result<Plan> {
    use crate::source::syslog::SYSLOG_PREFIX;
    let auto = args.log_format.format.trim() == "auto" && args.classify.regex.is_none();
    let explicit = if args.classify.regex.is_some() {
        Some("--regex".to_string())
    } else if auto {
        None
    } else {
        Some(format!("--format {}", args.log_format.format))
    };
    let mut sources: Vec<Planned> = args
        .access_log
        .iter()
        .map(|s| (s, LogKind::Access))
        .chain(args.error_log.iter().map(|s| (s, LogKind::Error)))
        .map(|(name, kind)| Planned {
            name: name.clone(),
            kind,
            format: None,
            format_name: if kind == LogKind::Access {
                explicit.clone()
            } else {
                None
            },
        })
        .collect();
    let Some(path) = &args.nginx.nginx_config else {
        return Ok(Plan {
            sources,
            ..Plan::default()
        });
    };
    let root = args.nginx.nginx_root_prefix.as_deref();
    if let Some(r) = root {
        if !r.is_dir() {
            anyhow::bail!("--nginx-root-prefix {}: not a directory", r.display());
        }
    }
    let cfg = load_config(path, root)?;
    let syslog = args
        .access_log
        .iter()
        .chain(&args.error_log)
        .any(|s| s.starts_with(SYSLOG_PREFIX));
    let t = targets(&cfg, root, syslog);
    for u in &t.unusable {
        tracing::warn!("not read: {u}");
    }
    for n in &t.notes {
        tracing::info!("{n}");
    }
    if sources.is_empty() {
        if t.logs.is_empty() {
            let why: Vec<String> = t.unusable.iter().map(|u| format!("  {u}")).collect();
            anyhow::bail!(
                "--nginx-config {path}: no access_log or error_log the sidecar can tail{}{}",
                if why.is_empty() {
                    " (the config has none: give --access-log)"
                } else {
                    ":\n"
                },
                why.join("\n")
            );
        }
        for l in &t.logs {
            let format = match (auto, l.line_format()) {
                (true, Some(f)) => Some(f?),
                _ => None,
            };
            sources.push(Planned {
                name: l.read_path.display().to_string(),
                kind: l.kind,
                format_name: match l.kind {
                    LogKind::Access if auto => Some(l.format_name()),
                    LogKind::Access => explicit.clone(),
                    LogKind::Error => None,
                },
                format,
            });
        }
    } else if auto {
        for s in sources.iter_mut().filter(|s| s.kind == LogKind::Access) {
            if let Some(l) = format_for(&t, Path::new(&s.name)) {
                if let Some(f) = l.line_format() {
                    s.format = Some(f?);
                    s.format_name = Some(l.format_name());
                }
            }
        }
    }
    let (version, _) = crate::doctor::nginx_version(args.nginx.nginx_version.as_deref())?;
    let live = LiveConfig::new(
        path,
        root,
        version,
        args.classify.ws_path_prefix.clone(),
        syslog,
        cfg,
    );
    Ok(Plan {
        sources,
        live: Some(Arc::new(live)),
        unusable: t.unusable,
    })
}

/// What the config checks last found.
#[derive(Debug, Default)]
pub(crate) struct ConfigState {
    /// The last configuration that parsed (shared: the checks run on it outside this lock).
    pub(crate) cfg: Option<Arc<Config>>,
    pub(crate) findings: Vec<Finding>,
    /// Unix seconds of the last successful read.
    pub(crate) last_read: f64,
    pub(crate) read_errors: u64,
    /// The last read error, while the config on disk does not parse.
    pub(crate) last_error: Option<String>,
    pub(crate) unusable: Vec<Unusable>,
    /// Upgrade attempts the findings' evidence was computed from.
    evidence_total: u64,
    /// Where each path label is served in `cfg`, filled once per label and config: the watcher
    /// and the status page look labels up on every round, building nginx's effective config
    /// only for labels not seen yet. Bounded by the path labels (`--max-paths`).
    locs: HashMap<String, Option<Loc>>,
}

/// Where a path label is served in one config.
#[derive(Debug, Clone)]
struct Loc {
    /// doctor's evidence key: (server, location) indices.
    key: (usize, Option<usize>),
    server: String,
    /// (location text, `file:line`) when a location matches.
    location: Option<(String, String)>,
}

/// Fills `locs` for the `labels` it lacks, building `cfg`'s effective config once if any does.
fn resolve<'a>(
    cfg: &Config,
    locs: &mut HashMap<String, Option<Loc>>,
    labels: impl IntoIterator<Item = &'a str>,
) {
    let missing: Vec<&str> = labels
        .into_iter()
        .filter(|l| !locs.contains_key(*l))
        .collect();
    if missing.is_empty() {
        return;
    }
    let http = Http::of(cfg);
    let all: Vec<usize> = (0..http.servers.len()).collect();
    // Default server: the Host is not kept per path.
    let s = find_server(&http.servers, &all, None);
    for label in missing {
        let loc = s.zip(lookup_uri(label)).map(|(s, uri)| {
            let server = &http.servers[s];
            let i = find_location(server, &normalise_uri(uri.as_bytes()));
            Loc {
                key: (s, i),
                server: server.name.clone(),
                location: i.map(|i| {
                    let l = &server.locations[i];
                    (
                        l.text.clone(),
                        format!("{}:{}", cfg.file(l.block.file), l.block.line),
                    )
                }),
            }
        });
        locs.insert(label.to_string(), loc);
    }
}

/// Upgrade attempts per path label, copied out of the pipeline.
type Upgrades = Vec<(String, Vec<(u16, AnsweredBy, u64)>)>;

fn upgrades_by_label(metrics: &Metrics, labels: &crate::classify::route::PathLabels) -> Upgrades {
    let mut v = Vec::new();
    for (id, p) in metrics.paths.iter().enumerate() {
        let Some(p) = p else { continue };
        if p.upgrades.is_empty() {
            continue;
        }
        let Ok(id32) = u32::try_from(id) else {
            continue;
        };
        v.push((labels.name(id32).to_string(), p.upgrades.clone()));
    }
    v
}

/// doctor's evidence from live upgrade attempts, each label at its location in the config.
fn evidence(locs: &HashMap<String, Option<Loc>>, ups: &Upgrades) -> Logs {
    let mut logs = Logs::default();
    for (path, upgrades) in ups {
        let Some(Some(loc)) = locs.get(path) else {
            logs.unattributed += upgrades.iter().map(|u| u.2).sum::<u64>();
            continue;
        };
        let e: &mut Evidence = logs.by_location.entry(loc.key).or_default();
        for &(status, by, n) in upgrades {
            e.upgrade_attempts += n;
            if status == 101 {
                e.switched += n;
            }
            *e.by_status.entry(status).or_insert(0) += n;
            *e.answered_by.entry(by.as_str()).or_insert(0) += n;
            *e.paths.entry(path.clone()).or_insert(0) += n;
        }
    }
    logs
}

/// The config being watched.
#[derive(Debug)]
pub struct LiveConfig {
    pub(crate) path: String,
    pub(crate) root: Option<PathBuf>,
    pub(crate) version: Option<Version>,
    pub(crate) ws_prefixes: Vec<String>,
    pub(crate) syslog_source: bool,
    pub(crate) state: Mutex<ConfigState>,
    stamps: Mutex<Vec<(PathBuf, Option<Stamp>)>>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// (mtime, size, inode) of a file.
type Stamp = (SystemTime, u64, u64);

/// The [`Stamp`] of a path, following symlinks (Kubernetes ConfigMaps swap a link).
fn stamp(p: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// The URI to look a path label up with in the config, or `None` for a label that is no path.
/// `__other__` and `__invalid__` stand for many paths, so they have no location. A template
/// (`/ws/:id`, `/static/*`) is not a URI nginx sees: only its fixed prefix up to the first
/// templated segment is matched, which gives the prefix location serving it (a regex location
/// that only matches the full URIs is not seen).
fn lookup_uri(label: &str) -> Option<&str> {
    if !label.starts_with('/') {
        return None;
    }
    let mut end = 0;
    for seg in label.split_inclusive('/') {
        if seg.starts_with(':') || seg.starts_with('*') {
            return Some(&label[..end]);
        }
        end += seg.len();
    }
    Some(label)
}

/// Stamps for the files of a newly read config. A file watched before keeps the stamp taken
/// *before* the read, so an edit landing between that look and the read is seen by the next poll
/// instead of being recorded as already read; only files new to this config are stamped now.
fn restamp(
    before: &[(PathBuf, Option<Stamp>)],
    paths: Vec<PathBuf>,
) -> Vec<(PathBuf, Option<Stamp>)> {
    paths
        .into_iter()
        .map(|p| {
            let s = match before.iter().find(|(q, _)| *q == p) {
                Some((_, s)) => *s,
                None => stamp(&p),
            };
            (p, s)
        })
        .collect()
}

/// The files and directories whose change means the config may have changed: every file read
/// and its directory (a file added to an included glob changes the directory).
fn watched(cfg: &Config, main: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = vec![main.to_path_buf()];
    if !cfg.from_dump {
        for f in &cfg.files {
            v.push(PathBuf::from(f));
        }
    }
    let dirs: Vec<PathBuf> = v
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    v.extend(dirs);
    v.sort();
    v.dedup();
    v
}

impl LiveConfig {
    /// Starts from a config that loaded (the run refuses to start otherwise).
    pub fn new(
        path: &str,
        root: Option<&Path>,
        version: Option<Version>,
        ws_prefixes: Vec<String>,
        syslog_source: bool,
        cfg: Config,
    ) -> LiveConfig {
        let main = Self::main_path(path, root);
        let stamps = watched(&cfg, &main)
            .into_iter()
            .map(|p| {
                let s = stamp(&p);
                (p, s)
            })
            .collect();
        let live = LiveConfig {
            path: path.to_string(),
            root: root.map(Path::to_path_buf),
            version,
            ws_prefixes,
            syslog_source,
            state: Mutex::new(ConfigState::default()),
            stamps: Mutex::new(stamps),
        };
        live.install(Arc::new(cfg), &Logs::default(), HashMap::new());
        live
    }

    fn main_path(path: &str, root: Option<&Path>) -> PathBuf {
        crate::nginx_conf::config_path(Path::new(path), root)
    }

    /// Runs the checks on `cfg` and makes it the current config.
    fn install(&self, cfg: Arc<Config>, logs: &Logs, locs: HashMap<String, Option<Loc>>) {
        let findings = self.check(&cfg, logs);
        let unusable = targets(&cfg, self.root.as_deref(), self.syslog_source).unusable;
        if let Ok(mut st) = self.state.lock() {
            st.cfg = Some(cfg);
            st.locs = locs;
            st.findings = findings;
            st.unusable = unusable;
            st.last_read = unix_now();
            st.last_error = None;
        }
    }

    fn check(&self, cfg: &Config, logs: &Logs) -> Vec<Finding> {
        let http = Http::of(cfg);
        Checks {
            cfg,
            http: &http,
            version: self.version,
            ws_prefixes: &self.ws_prefixes,
            logs,
        }
        .run()
    }

    /// Whether a watched file changed since the last look.
    fn changed(&self) -> bool {
        let Ok(mut stamps) = self.stamps.lock() else {
            return false;
        };
        let mut changed = false;
        for (p, s) in stamps.iter_mut() {
            let now = stamp(p);
            if now != *s {
                *s = now;
                changed = true;
            }
        }
        changed
    }

    /// One round of the watcher: re-reads a changed config (keeping the last good one when the
    /// new one does not parse), and re-runs the checks when live traffic brought new evidence.
    /// The pipeline is locked only to copy the upgrade counts per label; mapping them to
    /// locations and the checks run outside it.
    pub(crate) fn poll(&self, shared: &crate::app::Shared) {
        let copy = || -> Option<(Upgrades, u64)> {
            let p = shared.lock().ok()?;
            Some((
                upgrades_by_label(&p.sink, &p.classifier.labels),
                p.sink.upgrades_total(),
            ))
        };
        if self.changed() {
            match load_config(&self.path, self.root.as_deref()) {
                Ok(cfg) => {
                    let (ups, total) = copy().unwrap_or_default();
                    let mut locs = HashMap::new();
                    resolve(&cfg, &mut locs, ups.iter().map(|u| u.0.as_str()));
                    let logs = evidence(&locs, &ups);
                    let main = Self::main_path(&self.path, self.root.as_deref());
                    if let Ok(mut stamps) = self.stamps.lock() {
                        *stamps = restamp(&stamps, watched(&cfg, &main));
                    }
                    self.install(Arc::new(cfg), &logs, locs);
                    if let Ok(mut st) = self.state.lock() {
                        st.evidence_total = total;
                    }
                    tracing::info!(config = %self.path, "nginx config re-read");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "nginx config changed but does not parse: keeping the last good one");
                    if let Ok(mut st) = self.state.lock() {
                        st.read_errors += 1;
                        st.last_error = Some(e.to_string());
                    }
                }
            }
            return;
        }
        let total = match shared.lock() {
            Ok(p) => p.sink.upgrades_total(),
            Err(_) => return,
        };
        match self.state.lock() {
            Ok(st) if st.evidence_total != total && st.cfg.is_some() => {}
            _ => return,
        }
        let Some((ups, total)) = copy() else { return };
        let (cfg, logs) = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let Some(cfg) = st.cfg.clone() else { return };
            resolve(&cfg, &mut st.locs, ups.iter().map(|u| u.0.as_str()));
            let logs = evidence(&st.locs, &ups);
            (cfg, logs)
        };
        let findings = self.check(&cfg, &logs);
        if let Ok(mut st) = self.state.lock() {
            // A reload installed meanwhile has its own findings.
            if st.cfg.as_ref().is_some_and(|c| Arc::ptr_eq(c, &cfg)) {
                st.evidence_total = total;
                st.findings = findings;
            }
        }
    }

    /// The location serving each path label in the current config: (server, location,
    /// `file:line`); one lock for all of them.
    pub(crate) fn locations_of(&self, paths: &[&str]) -> Vec<Option<(String, String, String)>> {
        let Ok(mut st) = self.state.lock() else {
            return vec![None; paths.len()];
        };
        let st = &mut *st;
        let Some(cfg) = st.cfg.clone() else {
            return vec![None; paths.len()];
        };
        resolve(&cfg, &mut st.locs, paths.iter().copied());
        paths
            .iter()
            .map(|p| {
                let loc = st.locs.get(*p)?.as_ref()?;
                let (text, at) = loc.location.clone()?;
                Some((loc.server.clone(), text, at))
            })
            .collect()
    }

    /// Appends the config metrics in the Prometheus text format.
    pub fn render(&self, ns: &str, out: &mut String) {
        let Ok(st) = self.state.lock() else { return };
        // Findings with the same labels (two misplaced directives in one location) are one
        // series; its value counts them.
        let mut series: BTreeMap<(&str, &str, &str, &str), (u64, &Finding)> = BTreeMap::new();
        for f in &st.findings {
            series
                .entry((f.id, f.severity.as_str(), &f.server, &f.location))
                .or_insert((0, f))
                .0 += 1;
        }
        use crate::sink::families::{
            Family, CONFIG_FINDINGS, CONFIG_FINDING_INFO, CONFIG_LAST_READ, CONFIG_READ_ERRORS,
        };
        let head = |out: &mut String, f: &Family| {
            let name = f.text_name();
            let _ = writeln!(out, "# HELP {ns}_{name} {}", f.help);
            let _ = writeln!(out, "# TYPE {ns}_{name} {}", f.kind.as_str());
        };
        head(out, &CONFIG_FINDINGS);
        for ((id, sev, server, loc), (n, _)) in &series {
            let _ = writeln!(
                out,
                "{ns}_config_findings{{id=\"{id}\",severity=\"{sev}\",server=\"{}\",location=\"{}\"}} {n}",
                escape(server),
                escape(loc)
            );
        }
        head(out, &CONFIG_FINDING_INFO);
        for ((id, sev, server, loc), (_, f)) in &series {
            let fix = truncate(&f.fix, MAX_FIX_LABEL);
            let _ = writeln!(
                out,
                "{ns}_config_finding_info{{id=\"{id}\",severity=\"{sev}\",server=\"{}\",location=\"{}\",file=\"{}\",line=\"{}\",fix=\"{}\"}} 1",
                escape(server),
                escape(loc),
                escape(&f.file),
                f.line,
                escape(fix)
            );
        }
        head(out, &CONFIG_LAST_READ);
        let _ = writeln!(
            out,
            "{ns}_config_last_read_timestamp_seconds {}",
            crate::sink::metrics::fmt_f64(st.last_read)
        );
        head(out, &CONFIG_READ_ERRORS);
        let _ = writeln!(out, "{ns}_config_read_errors_total {}", st.read_errors);
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Here rather than in `cli`, so the flag types do not depend on the config reader.
impl crate::app::cli::NginxConfigArgs {
    /// With `--nginx-config` and an `auto` format: the format the config writes `files` with.
    pub fn history_format(
        &self,
        format: &str,
        regex: bool,
        files: &[PathBuf],
    ) -> anyhow::Result<Option<crate::parse::format::LineFormat>> {
        match &self.nginx_config {
            Some(c) if format.trim() == "auto" && !regex => {
                history_format(c, self.nginx_root_prefix.as_deref(), files)
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        crate::nginx_conf::load(&Source::Bytes {
            name: "/etc/nginx/nginx.conf".into(),
            data: text.as_bytes().to_vec(),
        })
        .expect("parses")
    }

    #[test]
    fn each_unusable_target_has_its_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("var/log/nginx/access.log");
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink("/dev/stdout", &link).expect("symlink");
        let c = cfg(r#"error_log /dev/stderr;
http {
  log_format j escape=json '{"s":"$status"}';
  access_log off;
  access_log syslog:server=10.0.0.1:514,tag=nginx j;
  access_log /dev/stdout;
  access_log /var/log/nginx/access.log;
  access_log /var/log/nginx/$host.log j;
  access_log /var/log/nginx/z.log.gz combined gzip=4;
  access_log /var/log/nginx/u.log undefined_fmt;
  access_log /var/log/nginx/ok.log j buffer=32k;
  server { error_log /var/log/nginx/error.log warn; }
}
"#);
        let t = targets(&c, Some(dir.path()), false);
        let msgs: Vec<String> = t.unusable.iter().map(|u| u.to_string()).collect();
        let want = [
            ("/dev/stderr", "its own /dev/stderr"),
            ("off", "nginx writes no log here"),
            (
                "syslog:server=10.0.0.1:514,tag=nginx",
                "syslog+udp://0.0.0.0:PORT",
            ),
            ("/dev/stdout", "container runtime's log"),
            (
                "/var/log/nginx/access.log",
                "symlink to /dev/stdout (as in the official nginx image)",
            ),
            ("/var/log/nginx/$host.log", "contains a variable"),
            ("/var/log/nginx/z.log.gz", "gzip"),
            (
                "/var/log/nginx/u.log",
                "log_format undefined_fmt is not defined",
            ),
        ];
        assert_eq!(t.unusable.len(), want.len(), "{msgs:#?}");
        for (u, (target, words)) in t.unusable.iter().zip(want) {
            assert_eq!(u.target, target);
            assert!(u.to_string().contains(words), "{u}");
            assert!(u.at.starts_with("/etc/nginx/nginx.conf:"), "{u}");
            assert!(!u.todo.is_empty());
        }
        let paths: Vec<(LogKind, String)> = t
            .logs
            .iter()
            .map(|l| (l.kind, l.read_path.display().to_string()))
            .collect();
        assert_eq!(
            paths,
            vec![
                (
                    LogKind::Access,
                    dir.path()
                        .join("var/log/nginx/ok.log")
                        .display()
                        .to_string()
                ),
                (
                    LogKind::Error,
                    dir.path()
                        .join("var/log/nginx/error.log")
                        .display()
                        .to_string()
                ),
            ]
        );
        let (name, _, esc) = t.logs[0].format.clone().expect("format");
        assert_eq!((name.as_str(), esc), ("j", Escape::Json));
        // With a syslog source the syslog target is received there, not reported.
        let t = targets(&c, Some(dir.path()), true);
        assert!(t.unusable.iter().all(|u| !u.target.starts_with("syslog:")));
    }

    #[test]
    fn default_format_is_combined_and_duplicates_are_one_target() {
        let c = cfg("http { access_log /l/a.log; server { access_log /l/a.log; } server { access_log /l/b.log main; } log_format main '$remote_addr $status'; }");
        let t = targets(&c, None, false);
        let names: Vec<&str> = t
            .logs
            .iter()
            .map(|l| l.format.as_ref().map_or("", |f| f.0.as_str()))
            .collect();
        assert_eq!(names, ["combined", "main"]);
        assert!(t.unusable.is_empty() && t.notes.is_empty(), "{:?}", t.notes);
    }

    #[test]
    fn rendered_config_families_follow_the_table() {
        let c = cfg("http { server { location /ws/ { proxy_pass http://b; } } }");
        let live = LiveConfig::new(
            "/etc/nginx/nginx.conf",
            None,
            None,
            vec!["/ws/".into()],
            false,
            c,
        );
        let mut out = String::new();
        live.render("nginxlog", &mut out);
        crate::sink::families::assert_follows_table(crate::sink::families::CONFIG, &out);
        assert!(out.contains(r#"nginxlog_config_findings{id="ws_upgrade_header_missing",severity="error",server="*:80",location="/ws/"} 1"#), "{out}");
    }

    #[test]
    fn overflow_labels_have_no_location_and_templates_match_their_prefix() {
        assert_eq!(lookup_uri("__other__"), None);
        assert_eq!(lookup_uri("__invalid__"), None);
        assert_eq!(lookup_uri("/ws/chat"), Some("/ws/chat"));
        assert_eq!(lookup_uri("/ws/:id"), Some("/ws/"));
        assert_eq!(lookup_uri("/api/users/:id/orders/:id"), Some("/api/users/"));
        assert_eq!(lookup_uri("/static/*"), Some("/static/"));
        assert_eq!(lookup_uri("/"), Some("/"));

        let c = cfg("http { server { listen 80; location / { return 204; } \
                     location /ws/ { proxy_pass http://b; } } }");
        let http = Http::of(&c);
        let at = |label: &str| {
            lookup_uri(label).and_then(|u| {
                find_location(&http.servers[0], &normalise_uri(u.as_bytes()))
                    .map(|i| http.servers[0].locations[i].text.clone())
            })
        };
        assert_eq!(at("/ws/:id").as_deref(), Some("/ws/"));
        assert_eq!(at("__other__"), None);
    }

    #[test]
    fn labels_are_located_once_per_config_and_mapped_to_evidence() {
        let c = cfg("http { server { listen 80; location / { return 204; } \
                     location /ws/ { proxy_pass http://b; } } }");
        let mut locs = HashMap::new();
        resolve(&c, &mut locs, ["/ws/:id", "__other__", "/x"]);
        assert_eq!(locs.len(), 3);
        let ws = locs["/ws/:id"].clone().expect("served");
        assert_eq!(ws.location.as_ref().map(|l| l.0.as_str()), Some("/ws/"));
        assert!(locs["__other__"].is_none());
        // Known labels are not looked up again; a new one is added.
        locs.get_mut("/x")
            .expect("x")
            .as_mut()
            .expect("served")
            .server = "cached".into();
        resolve(&c, &mut locs, ["/x", "/ws/chat"]);
        assert_eq!(locs["/x"].as_ref().expect("x").server, "cached");
        assert_eq!(locs.len(), 4);

        let ups: Upgrades = vec![
            (
                "/ws/:id".into(),
                vec![
                    (101, AnsweredBy::Upstream, 2),
                    (400, AnsweredBy::Upstream, 1),
                ],
            ),
            ("/ws/chat".into(), vec![(400, AnsweredBy::Upstream, 3)]),
            ("__other__".into(), vec![(101, AnsweredBy::Upstream, 5)]),
        ];
        let logs = evidence(&locs, &ups);
        assert_eq!(logs.unattributed, 5);
        let e = &logs.by_location[&ws.key];
        assert_eq!((e.upgrade_attempts, e.switched), (6, 2));
        assert_eq!(e.paths.len(), 2);
    }

    #[test]
    fn an_edit_during_the_read_is_seen_by_the_next_poll() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("nginx.conf");
        let inc = dir.path().join("extra.conf");
        std::fs::write(&main, "events {}\n").unwrap();
        let before = vec![(main.clone(), stamp(&main))];
        // The config is edited after the watcher's look but before the stamps are stored.
        std::fs::write(&main, "events {}\nhttp {}\n").unwrap();
        std::fs::write(&inc, "").unwrap();
        let after = restamp(&before, vec![main.clone(), inc.clone()]);
        assert_eq!(after[0], before[0], "a known file keeps its pre-read stamp");
        assert_ne!(
            after[0].1,
            stamp(&main),
            "so the edit still reads as a change"
        );
        assert_eq!(
            after[1],
            (inc.clone(), stamp(&inc)),
            "a new include is stamped now"
        );
    }

    #[test]
    fn fix_labels_are_cut_at_a_char_boundary() {
        let s = "é".repeat(600);
        let t = truncate(&s, MAX_FIX_LABEL);
        assert!(t.len() <= MAX_FIX_LABEL && s.starts_with(t));
    }
}
