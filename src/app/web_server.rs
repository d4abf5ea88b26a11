//! Serves the router on every `--web.listen-address`, with TLS, basic auth and extra headers
//! from `--web.config.file` (see [`crate::app::web_config`]). Each connection takes the settings in
//! force when it is accepted, so a rotated certificate is used without a restart.

use crate::app::web_config::{AuthVerdict, Live};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long a client may take to send its request head or finish the TLS handshake.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Basic auth and the configured headers, for every path (`/healthz` included, as in
/// exporter-toolkit).
async fn guard(State(web): State<Live>, req: Request, next: Next) -> Response {
    let cfg = web.get();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let verdict = web.check(&cfg, auth).await;
    let mut resp = match verdict {
        AuthVerdict::Allowed => next.run(req).await,
        AuthVerdict::Denied => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic")],
            "Unauthorized\n",
        )
            .into_response(),
        AuthVerdict::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "Too many authentication attempts in flight\n",
        )
            .into_response(),
    };
    for (name, value) in &cfg.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// Serves `app` on `listeners` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    web: Live,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = app.layer(axum::middleware::from_fn_with_state(web.clone(), guard));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut loops = Vec::new();
    for l in listeners {
        loops.push(tokio::spawn(accept_loop(
            l,
            app.clone(),
            web.clone(),
            stop_rx.clone(),
        )));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    web: Live,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let tls = web.get().tls.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT);
            let result = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(tcp), svc))
                        .await
                }
                Some(cfg) => {
                    let Some(stream) = handshake(tcp, cfg).await else {
                        return;
                    };
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), svc))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// The TLS handshake; a client speaking plain HTTP to the TLS port gets a plain 400 saying so
/// (as Go's servers answer) and the connection is closed.
async fn handshake(
    tcp: TcpStream,
    cfg: std::sync::Arc<rustls::ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HEAD_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    // A TLS record starts with 0x16 (handshake); an HTTP request with a method's letter.
    if first[0].is_ascii_alphabetic() {
        use tokio::io::AsyncWriteExt;
        let mut tcp = tcp;
        let _ = tcp
            .write_all(
                b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
                  Client sent an HTTP request to an HTTPS server.\n",
            )
            .await;
        let _ = tcp.shutdown().await;
        // Read what the client sent (bounded in bytes and time) before closing: closing with
        // unread data makes the kernel send a reset, which can discard the 400 unread.
        use tokio::io::AsyncReadExt;
        let mut sink = [0u8; 4096];
        let mut left = sink.len();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while left > 0 {
                match tcp.read(&mut sink[..left]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left -= n,
                }
            }
        })
        .await;
        return None;
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}
