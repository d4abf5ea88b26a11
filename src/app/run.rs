//! `nginxlog-sidecar run`: wires sources, the shared pipeline, the state file and the HTTP server.

use crate::app::cli::RunArgs;
use crate::app::nginx_config;
use crate::app::server::{self, AppState};
use crate::app::status::{SourceInfo, StatusContext};
use crate::pipeline::Pipeline;
use crate::sink::metrics::Metrics;
use crate::source::checkpoint::{Checkpointer, Inherited, Snapshot};
use crate::source::state::{LogCheckpoint, StateFile};
use crate::source::syslog::{self, SYSLOG_PREFIX};
use crate::source::tail::{TailConfig, Tailer};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::app::Shared;
use crate::VERSION;

type Positions = Vec<(String, Arc<Mutex<LogCheckpoint>>)>;

/// Startup checks that would otherwise look healthy and count nothing: a source URL with a
/// scheme the sidecar does not speak, a directory given as a log, a state file whose directory
/// does not exist.
fn check_sources(args: &RunArgs) -> anyhow::Result<()> {
    for src in args.access_log.iter().chain(&args.error_log) {
        if src.contains("://") && !src.starts_with(SYSLOG_PREFIX) {
            anyhow::bail!(
                "{src}: unknown source; give a file path, `-` (stdin) or {SYSLOG_PREFIX}ADDR:PORT"
            );
        }
        if std::path::Path::new(src).is_dir() {
            anyhow::bail!("{src} is a directory; give the log file's path (e.g. {src}/access.log)");
        }
    }
    if let Some(state) = &args.state_file {
        let dir = state
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            anyhow::bail!(
                "--state-file {}: directory {} does not exist",
                state.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// What a source is, whatever its spelling: the resolved file (symlinks, `./`, `..` and the
/// working directory taken out; a file that does not exist yet by its resolved directory),
/// or the stdin / syslog address as given.
fn source_identity(name: &str) -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    if name == "-" || name.starts_with(SYSLOG_PREFIX) {
        return PathBuf::from(name);
    }
    let path = Path::new(name);
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (abs.parent().map(std::fs::canonicalize), abs.file_name()) {
        (Some(Ok(dir)), Some(file)) => dir.join(file),
        _ => abs,
    }
}

/// The same log given twice (`./a.log` and `a.log`, a symlink to it, or as both an access and
/// an error log) would be read twice and give two `log` series counting every line twice.
fn check_distinct_sources(sources: &[nginx_config::Planned]) -> anyhow::Result<()> {
    let flag = |s: &nginx_config::Planned| match s.kind {
        crate::pipeline::LogKind::Access => "--access-log",
        crate::pipeline::LogKind::Error => "--error-log",
    };
    let ids: Vec<std::path::PathBuf> = sources.iter().map(|s| source_identity(&s.name)).collect();
    // A second name for the same file (a hard link, a bind mount) has another path: an
    // existing file is also told by its device and inode.
    let inode = |s: &nginx_config::Planned| {
        use std::os::unix::fs::MetadataExt;
        (s.name != "-" && !s.name.starts_with(SYSLOG_PREFIX))
            .then(|| std::fs::metadata(&s.name).ok())
            .flatten()
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino()))
    };
    let inodes: Vec<Option<(u64, u64)>> = sources.iter().map(inode).collect();
    for (i, a) in sources.iter().enumerate() {
        let same = |j: usize| ids[j] == ids[i] || (inodes[i].is_some() && inodes[j] == inodes[i]);
        if let Some(j) = (0..i).find(|&j| same(j)) {
            let b = &sources[j];
            anyhow::bail!(
                "{} {} and {} {} are the same log ({}); give each log once",
                flag(b),
                b.name,
                flag(a),
                a.name,
                ids[i].display()
            );
        }
    }
    Ok(())
}

/// Runs until SIGTERM/SIGINT: stop reading, save state, then finish in-flight scrapes.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = nginx_config::plan(&args)?;
    if plan.sources.is_empty() {
        anyhow::bail!("nothing to read: give at least one --access-log or --error-log (or NGINXLOG_ACCESS_LOG / NGINXLOG_ERROR_LOG), or --nginx-config");
    }
    check_distinct_sources(&plan.sources)?;
    let classifier = args.classify.classifier(&args.log_format.format)?;
    let mut metrics =
        Metrics::new(&args.namespace, args.buckets()?).with_max_series(args.max_series);
    metrics.minutes = !args.once;
    let shared: Shared = Arc::new(Mutex::new(Pipeline::new(classifier, metrics)));
    if args.once {
        return once(&args, &plan.sources, &shared);
    }
    check_sources(&args)?;
    raise_nofile_limit();
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let state = args
        .state_file
        .as_deref()
        .map(StateFile::load)
        .unwrap_or_default();
    let cfg = TailConfig {
        from_start: args.from_start,
        poll: args.poll_interval,
        max_line: args.classify.max_line_bytes,
        ..TailConfig::default()
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let web = match &args.web_config_file {
        Some(path) => {
            crate::app::web_config::Live::fixed(crate::app::web_config::WebConfig::load(path)?)
        }
        None => crate::app::web_config::Live::fixed(crate::app::web_config::WebConfig::plain()),
    };
    let listeners = {
        let _guard = rt.enter();
        crate::app::listen::check_distinct(&args.listen)?;
        let mut v = Vec::new();
        for a in &args.listen {
            v.push(tokio::net::TcpListener::from_std(
                crate::app::listen::bind(a)?,
            )?);
        }
        v
    };
    if let Some(path) = &args.web_config_file {
        web.watch(
            path.clone(),
            std::time::Duration::from_secs(1),
            stop.clone(),
        );
    }
    let listen: Vec<String> = args.listen.iter().map(|a| a.to_string()).collect();

    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut positions: Positions = Vec::new();
    let mut resumed = Vec::new();
    let mut names = Vec::new();
    let sources = &plan.sources;
    let mut infos = Vec::new();
    for s in sources {
        let src = &s.name;
        let kind = &s.kind;
        let log = register(&shared, s)?;
        names.push(src.clone());
        let (shared, stop, ready) = (shared.clone(), stop.clone(), ready.clone());
        let max_line = cfg.max_line;
        if src == "-" {
            // Not joined at shutdown: a read from stdin cannot be interrupted.
            let kind = *kind;
            std::thread::spawn(move || {
                ready.fetch_add(1, Ordering::Relaxed);
                crate::source::stdin::read_stream(
                    std::io::stdin().lock(),
                    &shared,
                    log,
                    kind,
                    max_line,
                    std::path::Path::new("stdin"),
                );
            });
            infos.push(SourceInfo {
                format: s.format_name.clone(),
                file: None,
            });
        } else if let Some(addr) = src.strip_prefix(SYSLOG_PREFIX) {
            let sock = std::net::UdpSocket::bind(addr)
                .with_context(|| format!("cannot listen for syslog on {addr} ({src})"))?;
            syslog::set_receive_buffer(&sock, src, args.syslog_receive_buffer);
            let kind = *kind;
            threads.push(std::thread::spawn(move || {
                ready.fetch_add(1, Ordering::Relaxed);
                syslog::run_syslog(sock, shared, log, kind, max_line, stop);
            }));
            infos.push(SourceInfo {
                format: s.format_name.clone(),
                file: None,
            });
        } else {
            let path = PathBuf::from(src);
            if path.exists() {
                std::fs::File::open(&path).with_context(|| {
                    format!(
                        "cannot read {src}: check the file's permissions and the sidecar's user"
                    )
                })?;
            }
            let tailer = Tailer::new(
                path,
                log,
                *kind,
                cfg.clone(),
                state.checkpoint(src),
                &shared,
            );
            positions.push((src.clone(), tailer.checkpoint.clone()));
            // Before the thread reads on: the positions this process resumed from.
            if let Ok(c) = tailer.checkpoint.lock() {
                resumed.push((src.clone(), c.clone()));
            }
            infos.push(SourceInfo {
                format: s.format_name.clone(),
                file: Some((PathBuf::from(src), tailer.checkpoint.clone())),
            });
            ready.fetch_add(1, Ordering::Relaxed);
            threads.push(std::thread::spawn(move || tailer.run(shared, stop)));
        }
    }
    tracing::info!(listen = ?listen, tls = web.get().tls.is_some(), sources = ?names, "nginxlog-sidecar {VERSION} started");

    let checkpoints = args.state_file.clone().map(|path| {
        Arc::new(Checkpointer::new(
            shared.clone(),
            positions.clone(),
            path,
            args.state_interval,
            Inherited {
                acked: state.acknowledged_by_scrape.then_some(Snapshot {
                    seq: 0,
                    logs: resumed,
                }),
                scrape_gap: state.scrape_gap(),
            },
        ))
    });
    let saver = checkpoints.clone().map(|c| {
        let stop = stop.clone();
        std::thread::spawn(move || c.run(&stop))
    });

    let live = plan.live.clone();
    let watcher = live.clone().map(|live| {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last = std::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if last.elapsed() >= nginx_config::WATCH_INTERVAL {
                    live.poll(&shared);
                    last = std::time::Instant::now();
                }
            }
        })
    });
    let connections = Arc::new(crate::app::web_server::Registry::new(args.max_connections));
    let app = server::router(AppState {
        shared: shared.clone(),
        ready,
        sources: sources.len(),
        version: VERSION,
        telemetry_path: args.telemetry_path.clone(),
        namespace: Arc::from(args.namespace.as_str()),
        status: Arc::new(StatusContext {
            live,
            sources: infos,
            unusable: plan.unusable.clone(),
        }),
        checkpoints: checkpoints.clone(),
        scrapes: Default::default(),
        connections: connections.clone(),
    });
    let stop_for_signal = stop.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let serve = crate::app::web_server::serve(listeners, app, web, connections, async move {
        let _ = done_rx.await;
    });
    rt.block_on(async move {
        let server = tokio::spawn(serve);
        shutdown_signal().await;
        tracing::info!("shutting down: reading what is left, saving state");
        stop_for_signal.store(true, Ordering::Relaxed);
        let _ = done_tx.send(());
        let _ = server.await;
    });
    // Connection tasks still parked (a client that ignored the shutdown) must not hold up the
    // exit and the state save.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    for t in threads {
        let _ = t.join();
    }
    if let Some(s) = saver {
        let _ = s.join();
    }
    if let Some(w) = watcher {
        let _ = w.join();
    }
    if let Some(c) = &checkpoints {
        c.save_final();
    }
    Ok(())
}

/// Registers a source's log with the sink and gives it its config-derived format.
fn register(shared: &Shared, s: &nginx_config::Planned) -> anyhow::Result<crate::pipeline::LogId> {
    let mut p = shared.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let log = p.sink.add_log(&s.name, s.kind);
    if let Some(f) = &s.format {
        p.classifier.set_log_format(log, f.clone());
    }
    Ok(log)
}

/// `--once`: every file source read whole, metrics printed to stdout.
fn once(args: &RunArgs, sources: &[nginx_config::Planned], shared: &Shared) -> anyhow::Result<()> {
    for s in sources {
        let log = register(shared, s)?;
        let (src, kind) = (&s.name, s.kind);
        let path = std::path::Path::new(src);
        if src == "-" {
            crate::source::stdin::read_stream(
                std::io::stdin().lock(),
                shared,
                log,
                kind,
                args.classify.max_line_bytes,
                path,
            );
        } else {
            let f = std::fs::File::open(path).with_context(|| format!("cannot read {src}"))?;
            crate::source::stdin::read_stream(
                f,
                shared,
                log,
                kind,
                args.classify.max_line_bytes,
                path,
            );
        }
    }
    let mut out = String::new();
    let p = shared.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    p.sink.render(&p.classifier.labels, VERSION, &mut out);
    use std::io::Write;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// Raises the soft open-files limit to the hard one, as Go programs do at startup: the usual
/// soft 1,024 is for programs using `select`, and otherwise makes tailed files, syslog sockets
/// and HTTP connections compete for a small budget.
fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit (RLIMIT_NOFILE)"),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
