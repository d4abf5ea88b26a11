//! `nginxlog-sidecar run`: wires sources, the shared pipeline, the state file and the HTTP server.

use crate::app::cli::RunArgs;
use crate::app::server::{self, AppState};
use crate::pipeline::{LogKind, Pipeline};
use crate::sink::metrics::Metrics;

/// The live sidecar's pipeline: the sources feed it, the HTTP server renders its registry.
pub type Shared = crate::source::tail::Shared<Metrics>;
use crate::source::syslog::{self, SYSLOG_PREFIX};
use crate::source::tail::{self, Position, StateFile, TailConfig, Tailer};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The sidecar's version, reported in `nginxlog_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type Positions = Vec<(String, Arc<Mutex<Option<Position>>>)>;

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

/// Runs until SIGTERM/SIGINT: stop reading, save state, then finish in-flight scrapes.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.access_log.is_empty() && args.error_log.is_empty() {
        anyhow::bail!("nothing to read: give at least one --access-log or --error-log (or NGINXLOG_ACCESS_LOG / NGINXLOG_ERROR_LOG)");
    }
    let classifier = args.classify.classifier(&args.log_format.format)?;
    let metrics = Metrics::new(&args.namespace, args.buckets()?).with_max_series(args.max_series);
    let shared: Shared = Arc::new(Mutex::new(Pipeline::new(classifier, metrics)));
    if args.once {
        return once(&args, &shared);
    }
    check_sources(&args)?;
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
    if args.listen.parse::<std::net::SocketAddr>().is_err() && !args.listen.contains(':') {
        anyhow::bail!(
            "--listen {:?} has no port: give ADDRESS:PORT, e.g. 0.0.0.0:9680",
            args.listen
        );
    }
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&args.listen))
        .with_context(|| {
            format!(
                "cannot listen on {} (is another process using the port? choose one with --listen)",
                args.listen
            )
        })?;

    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut positions: Positions = Vec::new();
    let mut names = Vec::new();
    let sources: Vec<(String, LogKind)> = args
        .access_log
        .iter()
        .map(|s| (s.clone(), LogKind::Access))
        .chain(args.error_log.iter().map(|s| (s.clone(), LogKind::Error)))
        .collect();
    for (src, kind) in &sources {
        let log = shared
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?
            .sink
            .add_log(src, *kind);
        names.push(src.clone());
        let (shared, stop, ready) = (shared.clone(), stop.clone(), ready.clone());
        let max_line = cfg.max_line;
        if src == "-" {
            // Not joined at shutdown: a read from stdin cannot be interrupted.
            let kind = *kind;
            std::thread::spawn(move || {
                ready.fetch_add(1, Ordering::Relaxed);
                tail::read_stream(
                    std::io::stdin().lock(),
                    &shared,
                    log,
                    kind,
                    max_line,
                    std::path::Path::new("stdin"),
                );
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
        } else {
            let path = PathBuf::from(src);
            if path.exists() {
                std::fs::File::open(&path).with_context(|| {
                    format!(
                        "cannot read {src}: check the file's permissions and the sidecar's user"
                    )
                })?;
            }
            let tailer = Tailer::new(path, log, *kind, cfg.clone(), state.files.get(src).copied());
            positions.push((src.clone(), tailer.position.clone()));
            ready.fetch_add(1, Ordering::Relaxed);
            threads.push(std::thread::spawn(move || tailer.run(shared, stop)));
        }
    }
    tracing::info!(listen = %args.listen, sources = ?names, "nginxlog-sidecar {VERSION} started");

    let saver = args.state_file.clone().map(|path| {
        let (positions, stop, every) = (positions.clone(), stop.clone(), args.state_interval);
        std::thread::spawn(move || {
            let mut last = std::time::Instant::now();
            let mut saved = None;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if last.elapsed() >= every {
                    save_state(&path, &positions, &mut saved);
                    last = std::time::Instant::now();
                }
            }
            saved
        })
    });

    let app = server::router(AppState {
        shared: shared.clone(),
        ready,
        sources: sources.len(),
        source_names: Arc::new(names),
        version: VERSION,
        scrapes: Default::default(),
    });
    let stop_for_signal = stop.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let serve = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = done_rx.await;
            })
            .await
    };
    rt.block_on(async move {
        let server = tokio::spawn(serve);
        shutdown_signal().await;
        tracing::info!("shutting down: reading what is left, saving state");
        stop_for_signal.store(true, Ordering::Relaxed);
        let _ = done_tx.send(());
        let _ = server.await;
    });
    for t in threads {
        let _ = t.join();
    }
    let mut saved = saver.and_then(|s| s.join().ok()).flatten();
    if let Some(path) = &args.state_file {
        save_state(path, &positions, &mut saved);
    }
    Ok(())
}

/// `--once`: every file source read whole, metrics printed to stdout.
fn once(args: &RunArgs, shared: &Shared) -> anyhow::Result<()> {
    let sources = args
        .access_log
        .iter()
        .map(|s| (s, LogKind::Access))
        .chain(args.error_log.iter().map(|s| (s, LogKind::Error)));
    for (src, kind) in sources {
        let log = shared
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?
            .sink
            .add_log(src, kind);
        let path = std::path::Path::new(src);
        if src == "-" {
            tail::read_stream(
                std::io::stdin().lock(),
                shared,
                log,
                kind,
                args.classify.max_line_bytes,
                path,
            );
        } else {
            let f = std::fs::File::open(path).with_context(|| format!("cannot read {src}"))?;
            tail::read_stream(f, shared, log, kind, args.classify.max_line_bytes, path);
        }
    }
    let mut out = String::new();
    let p = shared.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    p.sink.render(&p.classifier.labels, VERSION, &mut out);
    use std::io::Write;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// Saves the positions unless they equal what was last saved (`saved`), so an idle sidecar
/// does not rewrite and fsync the file every interval.
fn save_state(path: &std::path::Path, positions: &Positions, saved: &mut Option<StateFile>) {
    let mut st = StateFile::new();
    for (name, p) in positions {
        if let Some(pos) = p.lock().ok().and_then(|g| *g) {
            st.files.insert(name.clone(), pos);
        }
    }
    if saved.as_ref() == Some(&st) {
        return;
    }
    match st.save(path) {
        Ok(()) => *saved = Some(st),
        Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot save state file"),
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
