//! HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, the status page `/` and `/status.json`.

use crate::app::scrape::ScrapeCache;
use crate::app::web_server::Delivery;
use crate::app::Shared;
use crate::sink::exposition;
use crate::sink::metrics::Metrics;
use crate::source::checkpoint::Checkpointer;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the handlers need.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) shared: Shared,
    /// Sources that are open or being waited for.
    pub(crate) ready: Arc<AtomicUsize>,
    /// Sources configured.
    pub(crate) sources: usize,
    pub(crate) version: &'static str,
    /// `--web.telemetry-path`.
    pub(crate) telemetry_path: String,
    /// Metric name prefix (the config metrics are rendered here).
    pub(crate) namespace: Arc<str>,
    /// The status page's context: sources' positions and formats, the live config.
    pub(crate) status: Arc<crate::app::status::StatusContext>,
    /// The state file, acknowledged by each scrape (with `--state-file`).
    pub(crate) checkpoints: Option<Arc<Checkpointer<Metrics>>>,
    /// Renders shared between scrapes, so slow readers cannot multiply the exposition.
    pub(crate) scrapes: Arc<ScrapeCache>,
    /// The server's connections (`--web.max-connections`), whose counts every scrape shows.
    pub(crate) connections: Arc<crate::app::web_server::Registry>,
}

/// The router.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(status_page))
        .route("/status.json", get(status_json))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = exposition::negotiate(accept);
    let Some(scrape) = s
        .scrapes
        .exposition(&s.shared, s.version, s.checkpoints.as_deref(), format)
    else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "pipeline lock poisoned\n",
        )
            .into_response();
    };
    // What changes at every scrape is rendered per scrape, after the shared registry part.
    let mut tail = String::with_capacity(4096);
    if let Some(live) = &s.status.live {
        live.render(&s.namespace, &mut tail);
    }
    s.connections.render(&s.namespace, &mut tail);
    crate::sink::process_metrics::render(&mut tail);
    let (content_type, tail) = match format {
        exposition::Format::OpenMetrics => {
            let mut t = exposition::to_openmetrics_part(&tail);
            t.push_str("# EOF\n");
            (exposition::OPENMETRICS_TEXT, t)
        }
        exposition::Format::Prometheus => (exposition::PROMETHEUS_TEXT, tail),
    };
    // The snapshot becomes the checkpoint once the client has accepted the whole response:
    // the server runs this then (see `Delivery`), or drops it if the connection ends first.
    let ack = s
        .checkpoints
        .clone()
        .zip(scrape.ack)
        .map(|(c, snap)| Delivery::new(move || c.acknowledge(snap)));
    let mut resp = (
        [(header::CONTENT_TYPE, content_type)],
        axum::body::Body::new(AckBody {
            data: [scrape.registry, tail.into()].into(),
            ack: ack.clone(),
        }),
    )
        .into_response();
    if let Some(a) = ack {
        resp.extensions_mut().insert(a);
    }
    resp
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

/// The `/metrics` body. Served by [`crate::app::web_server`], its acknowledgement is claimed by
/// the connection and runs once the client's TCP stack has accepted every byte. Served any other
/// way (in-process tests), nobody claims it and it runs when the body has been taken to its
/// end (hyper stops polling a body of known length after its last byte and drops it); a body
/// dropped before its data was taken acknowledges nothing either way.
struct AckBody {
    /// Chunks not yet taken by the connection.
    data: std::collections::VecDeque<axum::body::Bytes>,
    ack: Option<Delivery>,
}

impl AckBody {
    fn acknowledge(&mut self) {
        if self.data.is_empty() {
            if let Some(a) = self.ack.take() {
                a.run_unclaimed();
            }
        }
    }
}

impl Drop for AckBody {
    fn drop(&mut self) {
        self.acknowledge();
    }
}

impl http_body::Body for AckBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(d) = this.data.pop_front() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(d))));
        }
        this.acknowledge();
        std::task::Poll::Ready(None)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        // Exact, so the response has a Content-Length.
        let n = self.data.iter().map(|d| d.len() as u64).sum();
        http_body::SizeHint::with_exact(n)
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
