//! HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, the status page `/` and `/status.json`.

use crate::app::run::Shared;
use crate::sink::exposition;
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
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// Metric name prefix (the config metrics are rendered here).
    pub namespace: Arc<str>,
    /// The status page's context: sources' positions and formats, the live config.
    pub status: Arc<crate::app::status::StatusContext>,
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(status_page))
        .route("/status.json", get(status_json))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let mut out = String::with_capacity(64 * 1024);
    match s.shared.lock() {
        Ok(p) => {
            p.sink.render(&p.classifier.labels, s.version, &mut out);
            drop(p);
            if let Some(live) = &s.status.live {
                live.render(&s.namespace, &mut out);
            }
        }
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "pipeline lock poisoned\n",
            )
                .into_response()
        }
    }
    crate::sink::process_metrics::render(&mut out);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match exposition::negotiate(accept) {
        exposition::Format::OpenMetrics => (
            [(header::CONTENT_TYPE, exposition::OPENMETRICS_TEXT)],
            exposition::to_openmetrics(&out),
        )
            .into_response(),
        exposition::Format::Prometheus => {
            ([(header::CONTENT_TYPE, exposition::PROMETHEUS_TEXT)], out).into_response()
        }
    }
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

async fn status_page(State(s): State<AppState>) -> Html<String> {
    let st = crate::app::status::collect(&s.shared, &s.status, s.version);
    Html(crate::app::status::html(&st, &s.telemetry_path))
}

async fn status_json(State(s): State<AppState>) -> Response {
    let st = crate::app::status::collect(&s.shared, &s.status, s.version);
    match serde_json::to_string_pretty(&st) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the status\n",
        )
            .into_response(),
    }
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
