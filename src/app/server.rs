//! HTTP endpoints: `/metrics`, `/healthz`, `/readyz` and a small landing page.

use crate::app::run::Shared;
use crate::app::scrape::ScrapeCache;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the handlers need.
#[derive(Clone)]
pub struct AppState {
    pub shared: Shared,
    /// Sources that are open or being waited for.
    pub ready: Arc<AtomicUsize>,
    /// Sources configured.
    pub sources: usize,
    pub source_names: Arc<Vec<String>>,
    pub version: &'static str,
    /// Renders shared between scrapes, so slow readers cannot multiply the exposition.
    pub scrapes: Arc<ScrapeCache>,
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(landing))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    let Some(body) = s.scrapes.exposition(&s.shared, s.version) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "pipeline lock poisoned\n",
        )
            .into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn healthz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    health(&s.shared)
}

/// Healthy unless the pipeline lock is poisoned: a thread panicked while counting, and every
/// source stops at its next line, so the process must be restarted rather than left serving
/// frozen counters.
fn health<T>(shared: &std::sync::Mutex<T>) -> (StatusCode, &'static str) {
    if shared.is_poisoned() {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "pipeline lock poisoned: a thread panicked while counting; restart the sidecar\n",
        )
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    let ready = s.ready.load(Ordering::Relaxed);
    if ready >= s.sources {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{ready} of {} sources open\n", s.sources),
        )
            .into_response()
    }
}

async fn landing(State(s): State<AppState>) -> Html<String> {
    let lines: Vec<(String, u64, u64)> = match s.shared.lock() {
        Ok(p) => p
            .sink
            .logs
            .iter()
            .map(|l| (l.name.clone(), l.read, l.malformed))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut rows = String::new();
    for (name, read, bad) in lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{read}</td><td>{bad}</td></tr>",
            html_escape(&name)
        ));
    }
    Html(format!(
        "<!doctype html><html><head><title>nginxlog-sidecar</title></head><body>\
         <h1>nginxlog-sidecar {}</h1><p><a href=\"/metrics\">Metrics</a> · \
         <a href=\"/healthz\">healthz</a> · <a href=\"/readyz\">readyz</a></p>\
         <table border=1><tr><th>source</th><th>lines read</th><th>malformed</th></tr>{rows}</table>\
         <p>{} source(s) configured.</p></body></html>",
        s.version,
        s.source_names.len()
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_poisoned_pipeline_lock_fails_the_health_check() {
        let shared = Arc::new(Mutex::new(0u64));
        assert_eq!(health(&shared).0, StatusCode::OK);
        let s = shared.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = s.lock().expect("lock");
            panic!("a sink bug while counting");
        })
        .join();
        assert!(panicked.is_err());
        let (code, body) = health(&shared);
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("poisoned"), "{body}");
    }
}
