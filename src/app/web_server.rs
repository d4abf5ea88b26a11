//! Serves the router on every `--web.listen-address`, with TLS, basic auth and extra headers
//! from `--web.config.file` (see [`crate::app::web_config`]). Each connection takes the settings in
//! force when it is accepted, so a rotated certificate is used without a restart.

use crate::app::web_config::{AuthVerdict, Live};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a client may take to send a request head (from the connection's start or its first
/// byte) or to finish the TLS handshake. Scrapers send theirs at once; a slow or half-sent head
/// only holds a slot.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a keep-alive connection may wait for its next request. Longer than the usual
/// scrape intervals, so Prometheus keeps its connection.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one request may take, response written included (a reader that stalls).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests get at shutdown before their connections are closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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

/// Serves `app` on `listeners` until `shutdown` completes, then gives in-flight requests
/// [`SHUTDOWN_GRACE`] and closes whatever is still open.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    web: Live,
    max_connections: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = app.layer(axum::middleware::from_fn_with_state(web.clone(), guard));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let conns = Arc::new(Registry::new(max_connections));
    let mut loops = Vec::new();
    for l in listeners {
        loops.push(tokio::spawn(accept_loop(
            l,
            app.clone(),
            web.clone(),
            conns.clone(),
            stop_rx.clone(),
        )));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    // Each connection stops itself within the grace; this bounds the wait whatever happens.
    let deadline = Instant::now() + SHUTDOWN_GRACE + Duration::from_millis(500);
    while conns.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    web: Live,
    conns: Arc<Registry>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
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
            _ = stopped(&mut stop) => break,
        };
        let Some(conn) = conns.admit() else {
            // Every slot is serving a request: a quick close tells the client to retry.
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (app, tls, stop) = (app.clone(), web.get().tls.clone(), stop.clone());
        tokio::spawn(async move {
            let _slot = Slot(conn.clone());
            match tls {
                None => drive(tcp, app, conn, stop).await,
                Some(cfg) => {
                    let hs = tokio::select! {
                        s = handshake(tcp, cfg) => s,
                        _ = conn.evict.notified() => None,
                    };
                    if let Some(stream) = hs {
                        drive(stream, app, conn, stop).await;
                    }
                }
            }
        });
    }
}

/// Runs one HTTP/1 connection until it ends, is evicted, outlives a timeout, or shutdown's grace
/// is over.
async fn drive<I>(io: I, app: Router, conn: Arc<Conn>, mut stop: tokio::sync::watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = TowerToHyperService::new(app);
    let c = conn.clone();
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        c.begin_request();
        let busy = Busy(c.clone());
        let fut = inner.call(req);
        async move {
            let resp = fut.await?;
            // The request counts as in flight until hyper has written (and dropped) the body.
            Ok::<_, std::convert::Infallible>(resp.map(|b| {
                axum::body::Body::new(Tracked {
                    inner: b,
                    _busy: busy,
                })
            }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header timer runs from the end of a response to the next complete head, i.e. it
    // is the keep-alive idle timeout; the stricter head timeout is `Conn::expired`.
    http.timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT);
    let served = http.serve_connection(
        TokioIo::new(Watched {
            inner: io,
            conn: conn.clone(),
        }),
        svc,
    );
    tokio::pin!(served);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = served.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = conn.evict.notified() => return,
            _ = stopped(&mut stop) => {
                served.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, served.as_mut()).await;
                return;
            }
            _ = tick.tick() => if let Some(why) = conn.expired() {
                tracing::debug!(reason = why, "closing a connection");
                return;
            },
        }
    }
}

/// Resolves once shutdown has begun (at once if it already has).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Milliseconds since the registry started, plus one so that 0 can mean "not set".
fn now_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64 + 1
}

/// One admitted connection's clocks, read by its own watchdog and by eviction.
struct Conn {
    id: u64,
    epoch: Instant,
    /// When the request being served started (0: none, the connection is idle).
    busy_since: AtomicU64,
    /// When the client started sending a request head that is not complete yet (0: none).
    head_since: AtomicU64,
    evict: Notify,
    registry: std::sync::Weak<Registry>,
}

impl Conn {
    fn begin_request(&self) {
        self.busy_since.store(now_ms(self.epoch), Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn end_request(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    fn is_idle(&self) -> bool {
        self.busy_since.load(Ordering::Relaxed) == 0
    }

    /// Bytes arrived: while idle they start a request head, whose clock starts now.
    fn on_read(&self) {
        if self.is_idle() && self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(now_ms(self.epoch), Ordering::Relaxed);
        }
    }

    fn expired(&self) -> Option<&'static str> {
        let now = now_ms(self.epoch);
        let busy = self.busy_since.load(Ordering::Relaxed);
        if busy != 0 {
            return (now.saturating_sub(busy) > REQUEST_TIMEOUT.as_millis() as u64)
                .then_some("request timeout");
        }
        let head = self.head_since.load(Ordering::Relaxed);
        (head != 0 && now.saturating_sub(head) > HEAD_TIMEOUT.as_millis() as u64)
            .then_some("request head not complete in time")
    }
}

/// Clears the connection's in-flight mark when the response body is done with.
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// Removes the connection from the registry when its task ends.
struct Slot(Arc<Conn>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(r) = self.0.registry.upgrade() {
            r.remove(self.0.id);
        }
    }
}

/// The open connections, oldest first (ids only grow), so that at the cap the oldest idle one
/// makes room: a flood of idle or half-sent connections cannot lock a scraper out.
struct Registry {
    max: usize,
    epoch: Instant,
    next: AtomicU64,
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn new(max: usize) -> Registry {
        Registry {
            max: max.max(1),
            epoch: Instant::now(),
            next: AtomicU64::new(0),
            conns: Mutex::new(BTreeMap::new()),
        }
    }

    fn len(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut c) = self.conns.lock() {
            c.remove(&id);
        }
    }

    /// A slot for a new connection: free, or taken from the oldest idle connection; `None`
    /// when every connection is serving a request.
    fn admit(self: &Arc<Self>) -> Option<Arc<Conn>> {
        let mut conns = self.conns.lock().ok()?;
        if conns.len() >= self.max {
            let victim = conns.iter().find(|(_, c)| c.is_idle()).map(|(id, _)| *id)?;
            if let Some(c) = conns.remove(&victim) {
                // notify_one keeps a permit, so the task sees it even if not waiting yet.
                c.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            epoch: self.epoch,
            busy_since: AtomicU64::new(0),
            head_since: AtomicU64::new(now_ms(self.epoch)),
            evict: Notify::new(),
            registry: Arc::downgrade(self),
        });
        conns.insert(id, conn.clone());
        Some(conn)
    }
}

/// The response body, holding the connection's in-flight mark until it is dropped.
struct Tracked {
    inner: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's stream, noting when request bytes arrive (for the head timeout).
struct Watched<I> {
    inner: I,
    conn: Arc<Conn>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            me.conn.on_read();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
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
