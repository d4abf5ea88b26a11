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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a client may take to send a request head: one bound from the connection's accept
/// (TLS handshake included) for its first request, from its first byte for a later one.
/// Scrapers send theirs at once; a slow or half-sent head only holds a slot.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a keep-alive connection may wait for its next request. Longer than the usual
/// scrape intervals, so Prometheus keeps its connection.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one request may take, response written included (a reader that stalls).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection's close waits for a written response's bytes to be accepted by the
/// client (its acknowledgement runs only then): about a round trip for a reading client.
pub(crate) const DELIVERY_LINGER: Duration = Duration::from_secs(1);
/// How long in-flight requests get at shutdown before their connections are closed.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What to run once a response has been delivered: its bytes all written by hyper and all
/// accepted by the client's TCP stack (the socket's send queue empty), not merely handed to
/// hyper, which queues the body without copying and may still hold it when it is dropped.
/// A handler puts one in its response's extensions; the server here claims it, and drops it
/// unrun if the connection ends first. Served some other way (a test's in-process router),
/// nobody claims it and the body runs it at its end ([`Delivery::run_unclaimed`]).
#[derive(Clone)]
pub(crate) struct Delivery(Arc<Mutex<Option<Ack>>>);

/// A delivery acknowledgement.
type Ack = Box<dyn FnOnce() + Send>;

impl Delivery {
    pub(crate) fn new(f: impl FnOnce() + Send + 'static) -> Delivery {
        Delivery(Arc::new(Mutex::new(Some(Box::new(f)))))
    }

    fn claim(&self) -> Option<Ack> {
        self.0.lock().ok().and_then(|mut a| a.take())
    }

    /// For the body, at its end: runs the acknowledgement unless a server claimed it.
    pub(crate) fn run_unclaimed(&self) {
        if let Some(f) = self.claim() {
            f();
        }
    }
}

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
pub(crate) async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    web: Live,
    conns: Arc<Registry>,
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
            conns.refused.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // The TCP socket under TLS too: its send queue says what the client has accepted.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
        let (app, tls, stop) = (app.clone(), web.get().tls.clone(), stop.clone());
        tokio::spawn(async move {
            let _slot = Slot(conn.clone());
            match tls {
                None => drive(tcp, fd, app, conn, stop).await,
                Some(cfg) => {
                    // The handshake spends the head timeout's time (the head clock started at
                    // accept), so handshake and head together get one HEAD_TIMEOUT.
                    let hs = tokio::select! {
                        s = tokio::time::timeout(HEAD_TIMEOUT, handshake(tcp, cfg)) => s.ok().flatten(),
                        _ = conn.evict.notified() => None,
                    };
                    if let Some(stream) = hs {
                        drive(stream, fd, app, conn, stop).await;
                    }
                }
            }
        });
    }
}

/// Runs one HTTP/1 connection until it ends, is evicted, outlives a timeout, or shutdown's grace
/// is over. `fd`: the TCP socket under `io`, open as long as `io` is.
async fn drive<I>(
    io: I,
    fd: std::os::fd::RawFd,
    app: Router,
    conn: Arc<Conn>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = TowerToHyperService::new(app);
    let c = conn.clone();
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        c.begin_request();
        let busy = Busy(c.clone());
        let fut = inner.call(req);
        async move {
            let mut resp = fut.await?;
            let ack = resp
                .extensions_mut()
                .remove::<Delivery>()
                .and_then(|d| d.claim());
            // The request counts as in flight until hyper has written (and dropped) the body.
            Ok::<_, std::convert::Infallible>(resp.map(|b| {
                let left = http_body::Body::size_hint(&b).exact();
                axum::body::Body::new(Tracked {
                    inner: b,
                    left,
                    ack,
                    busy,
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
            fd,
            conn: conn.clone(),
            linger_since: None,
            linger: None,
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
            _ = tick.tick() => {
                // `served` owns the stream here, so `fd` is open.
                conn.deliver(fd);
                if let Some(why) = conn.expired() {
                    tracing::debug!(reason = why, "closing a connection");
                    return;
                }
            }
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

/// Bytes written to the TCP socket `fd` that its peer has not acknowledged yet (Linux SIOCOUTQ:
/// sent or not, they count until the client's TCP stack has accepted them; a reset leaves them
/// counted). `None` if the socket cannot say.
#[cfg(target_os = "linux")]
fn unacknowledged(fd: std::os::fd::RawFd) -> Option<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: the caller keeps `fd` open; SIOCOUTQ (TIOCOUTQ's number) writes one int to `n`.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if r == 0 {
        u64::try_from(n).ok()
    } else {
        None
    }
}

/// Elsewhere nothing tells: a response counts as accepted once written to the socket.
#[cfg(not(target_os = "linux"))]
fn unacknowledged(_fd: std::os::fd::RawFd) -> Option<u64> {
    Some(0)
}

/// One admitted connection's clocks, read by its own watchdog and by eviction.
struct Conn {
    id: u64,
    epoch: Instant,
    /// When the request being served started (0: none, the connection is idle).
    busy_since: AtomicU64,
    /// When the client started sending a request head that is not complete yet (0: none).
    head_since: AtomicU64,
    /// The response body is done with, but its bytes may still wait in hyper's buffer: the
    /// request stays in flight until the next flush of the stream has written them.
    flushing: AtomicBool,
    /// A response was written completely at least once (a scraper, not a flood's idle socket).
    served: AtomicBool,
    /// Acknowledgements of responses whose bodies hyper has taken completely, each with whether
    /// a flush has written hyper's buffer since: run once the socket's send queue is empty too.
    acks: Mutex<Vec<(Ack, bool)>>,
    evict: Notify,
    registry: std::sync::Weak<Registry>,
}

impl Conn {
    fn begin_request(&self) {
        self.busy_since.store(now_ms(self.epoch), Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        self.flushing.store(false, Ordering::Relaxed);
    }

    /// The body was taken; the request ends with the flush that writes its last bytes.
    fn body_taken(&self) {
        self.flushing.store(true, Ordering::Relaxed);
    }

    /// The stream was flushed with hyper's buffer empty: a taken body is fully written.
    fn flushed(&self) {
        if self.flushing.swap(false, Ordering::Relaxed) {
            self.served.store(true, Ordering::Relaxed);
            self.busy_since.store(0, Ordering::Relaxed);
        }
        if let Ok(mut acks) = self.acks.lock() {
            // All written now: the newest one supersedes the rest (acknowledging keeps the
            // newest snapshot only), so at most one written entry is kept.
            let newest = acks.pop();
            acks.clear();
            if let Some((a, _)) = newest {
                acks.push((a, true));
            }
        }
    }

    /// A body with an acknowledgement was taken to its last byte.
    fn body_complete(&self, ack: Ack) {
        if let Ok(mut acks) = self.acks.lock() {
            // A newer response supersedes unwritten older ones: bounded to one written and one
            // unwritten entry, however long the send queue stays full.
            acks.retain(|(_, written)| *written);
            acks.push((ack, false));
        }
    }

    /// Runs the acknowledgements of the responses written out, if the client's TCP stack has
    /// accepted every byte of them. `fd` must be the connection's open socket.
    fn deliver(&self, fd: std::os::fd::RawFd) {
        let ready: Vec<Ack> = {
            let Ok(mut acks) = self.acks.lock() else {
                return;
            };
            if !acks.iter().any(|(_, written)| *written) || unacknowledged(fd) != Some(0) {
                return;
            }
            let (ready, waiting) = std::mem::take(&mut *acks)
                .into_iter()
                .partition(|(_, written)| *written);
            *acks = waiting;
            ready.into_iter().map(|(a, _)| a).collect()
        };
        for a in ready {
            a();
        }
    }

    /// A response with an acknowledgement is written but not yet accepted by the client.
    fn awaiting_delivery(&self) -> bool {
        self.acks
            .lock()
            .is_ok_and(|a| a.iter().any(|(_, written)| *written))
    }

    /// The connection is closing: what was not delivered is never acknowledged.
    fn forget_acks(&self) {
        if let Ok(mut acks) = self.acks.lock() {
            acks.clear();
        }
    }

    fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
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

/// Marks the response body done with; the in-flight mark lasts until it is written out.
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.body_taken();
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

/// The open connections, oldest first (ids only grow), so that at the cap an idle one makes
/// room: the oldest that never got a response (a flood's idle or half-sent sockets), else the
/// oldest idle one, so a scraper's keep-alive connection outlives a flood. Its counts are
/// exported; an eviction of a connection that had been served (a scraper's keep-alive one,
/// say) is told apart from a never-served one's.
pub struct Registry {
    max: usize,
    epoch: Instant,
    next: AtomicU64,
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
    /// Idle connections closed to make room: [never served, served].
    evicted: [AtomicU64; 2],
    /// Connections closed at accept because every slot was serving a request.
    refused: AtomicU64,
}

impl Registry {
    /// Room for `max` connections (`--web.max-connections`).
    pub fn new(max: usize) -> Registry {
        Registry {
            max: max.max(1),
            epoch: Instant::now(),
            next: AtomicU64::new(0),
            conns: Mutex::new(BTreeMap::new()),
            evicted: Default::default(),
            refused: AtomicU64::new(0),
        }
    }

    /// Appends the server's connection families in the Prometheus text format.
    pub fn render(&self, ns: &str, out: &mut String) {
        use crate::sink::families::{
            Family, WEB_CONNECTIONS, WEB_CONNECTIONS_EVICTED, WEB_CONNECTIONS_REFUSED,
        };
        use std::fmt::Write;
        let mut family = |f: &Family, samples: &[(&str, u64)]| {
            let name = f.text_name();
            let _ = writeln!(out, "# HELP {ns}_{name} {}", f.help);
            let _ = writeln!(out, "# TYPE {ns}_{name} {}", f.kind.as_str());
            for (labels, v) in samples {
                let _ = writeln!(out, "{ns}_{name}{labels} {v}");
            }
        };
        family(&WEB_CONNECTIONS, &[("", self.len() as u64)]);
        let evicted = |i: usize| self.evicted[i].load(Ordering::Relaxed);
        family(
            &WEB_CONNECTIONS_EVICTED,
            &[
                ("{served=\"false\"}", evicted(0)),
                ("{served=\"true\"}", evicted(1)),
            ],
        );
        family(
            &WEB_CONNECTIONS_REFUSED,
            &[("", self.refused.load(Ordering::Relaxed))],
        );
    }

    /// The map, also after a panic while it was held: every change to it is one insert or
    /// remove, so it is consistent whatever panicked, and refusing every later connection
    /// would be worse.
    fn conns(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.conns().len()
    }

    fn remove(&self, id: u64) {
        self.conns().remove(&id);
    }

    /// A slot for a new connection: free, or taken from the oldest idle connection; `None`
    /// when every connection is serving a request.
    fn admit(self: &Arc<Self>) -> Option<Arc<Conn>> {
        let mut conns = self.conns();
        if conns.len() >= self.max {
            let victim = conns
                .iter()
                .find(|(_, c)| c.is_idle() && !c.served())
                .or_else(|| conns.iter().find(|(_, c)| c.is_idle()))
                .map(|(id, _)| *id)?;
            if let Some(c) = conns.remove(&victim) {
                // notify_one keeps a permit, so the task sees it even if not waiting yet.
                c.evict.notify_one();
                self.evicted[usize::from(c.served())].fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            epoch: self.epoch,
            busy_since: AtomicU64::new(0),
            head_since: AtomicU64::new(now_ms(self.epoch)),
            flushing: AtomicBool::new(false),
            served: AtomicBool::new(false),
            acks: Mutex::new(Vec::new()),
            evict: Notify::new(),
            registry: Arc::downgrade(self),
        });
        conns.insert(id, conn.clone());
        Some(conn)
    }
}

/// The response body, holding the connection's in-flight mark until it is dropped, and the
/// response's acknowledgement until the body has been taken to its end.
struct Tracked {
    inner: axum::body::Body,
    /// Bytes still to come, when the length is known: hyper stops polling after the last one.
    left: Option<u64>,
    ack: Option<Ack>,
    busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_frame(cx);
        let end = match &r {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(f))) => match (f.data_ref(), &mut me.left) {
                (Some(d), Some(left)) => {
                    *left = left.saturating_sub(d.len() as u64);
                    *left == 0
                }
                _ => false,
            },
            _ => false,
        };
        if end {
            if let Some(a) = me.ack.take() {
                me.busy.0.body_complete(a);
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's stream, noting when request bytes arrive (for the head timeout) and when
/// responses have been written and accepted (for their acknowledgements).
struct Watched<I> {
    inner: I,
    /// The TCP socket under `inner` (open as long as `inner` is).
    fd: std::os::fd::RawFd,
    conn: Arc<Conn>,
    /// When a close began waiting for a written response to be accepted, and its timer.
    linger_since: Option<Instant>,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> Drop for Watched<I> {
    /// The last look at the send queue, with the socket still open.
    fn drop(&mut self) {
        self.conn.deliver(self.fd);
        self.conn.forget_acks();
    }
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

    /// hyper flushes the stream only once its own buffer is written, so a finished flush after
    /// the body was taken means the whole response has left.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            me.conn.flushed();
            me.conn.deliver(me.fd);
        }
        r
    }

    /// Checked before the FIN (or TLS close_notify) joins the send queue. With a response written
    /// but not yet accepted (`Connection: close`: hyper shuts down right after the flush), the
    /// close waits up to [`DELIVERY_LINGER`] for the client's TCP stack to take it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        loop {
            me.conn.deliver(me.fd);
            if !me.conn.awaiting_delivery() {
                break;
            }
            let since = *me.linger_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= DELIVERY_LINGER {
                break;
            }
            let next = tokio::time::Instant::now() + Duration::from_millis(10);
            let sleep = me
                .linger
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if std::future::Future::poll(sleep.as_mut(), cx).is_pending() {
                return Poll::Pending;
            }
            sleep.as_mut().reset(next);
        }
        Pin::new(&mut me.inner).poll_shutdown(cx)
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

/// The TLS handshake (bounded by the caller); a client speaking plain HTTP to the TLS port gets a plain 400 saying so
/// (as Go's servers answer) and the connection is closed.
async fn handshake(
    tcp: TcpStream,
    cfg: std::sync::Arc<rustls::ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => {}
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
    match acceptor.accept(tcp).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::web_config::WebConfig;
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;

    /// `app` served on a free loopback port until the returned sender is dropped.
    struct Running {
        port: u16,
        conns: Arc<Registry>,
        _stop: tokio::sync::oneshot::Sender<()>,
        rt: Option<tokio::runtime::Runtime>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(rt) = self.rt.take() {
                rt.shutdown_background();
            }
        }
    }

    fn start(app: Router, web: WebConfig, max: usize) -> Running {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let conns = Arc::new(Registry::new(max));
        rt.spawn(serve(
            vec![listener],
            app,
            Live::fixed(web),
            conns.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Running {
            port,
            conns,
            _stop: tx,
            rt: Some(rt),
        }
    }

    fn connect(port: u16) -> StdStream {
        let s = StdStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }

    /// One keep-alive `GET path` on `s`; the status line and the body length.
    fn get(s: &mut StdStream, path: &str) -> std::io::Result<(String, usize)> {
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body)?;
        Ok((head.lines().next().unwrap_or_default().to_string(), len))
    }

    /// Whether the server closed `s` (without answering) within its read timeout.
    fn closed(s: &mut StdStream) -> bool {
        let mut b = [0u8; 64];
        matches!(s.read(&mut b), Ok(0))
            || matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }

    const BIG: usize = 48 << 20;

    fn app() -> Router {
        Router::new()
            .route("/ok", axum::routing::get(|| async { "ok\n" }))
            .route("/big", axum::routing::get(|| async { vec![b'x'; BIG] }))
    }

    /// A reader that stalls in the middle of a large response holds its slot until the
    /// response is written: hyper took (and dropped) the one-frame body long before.
    #[test]
    fn a_slow_reader_mid_response_is_not_evicted_as_idle() {
        let srv = start(app(), WebConfig::plain(), 1);
        let mut slow = connect(srv.port);
        slow.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut buf = vec![0u8; 1 << 16];
        let mut got = slow.read(&mut buf).expect("first bytes");
        // The kernel's buffers fill (a few MiB on loopback); the rest waits in hyper's.
        std::thread::sleep(Duration::from_millis(500));
        let mut other = connect(srv.port);
        assert!(
            closed(&mut other),
            "the cap is 1 and the slow reader is busy"
        );
        assert_eq!(srv.conns.refused.load(Ordering::Relaxed), 1);
        assert_eq!(
            srv.conns
                .evicted
                .each_ref()
                .map(|e| e.load(Ordering::Relaxed)),
            [0, 0]
        );
        loop {
            match slow.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    if buf[..n].ends_with(b"x") && got > BIG {
                        break;
                    }
                }
                Err(e) => panic!("slow reader cut off after {got} bytes: {e}"),
            }
        }
        assert!(got > BIG, "slow reader got {got} of {BIG} body bytes");
        // Written out: the connection is idle (and served) now, so a new one takes its slot.
        let mut next = connect(srv.port);
        assert_eq!(get(&mut next, "/ok").expect("served").0, "HTTP/1.1 200 OK");
        // The slow reader, served and idle, made room.
        assert_eq!(
            srv.conns
                .evicted
                .each_ref()
                .map(|e| e.load(Ordering::Relaxed)),
            [0, 1]
        );
    }

    /// At the cap, never-served connections (a flood) make room before a keep-alive
    /// connection that completed a scrape, even though that one is the oldest idle.
    #[test]
    fn a_served_keep_alive_connection_outlives_a_flood_of_idle_ones() {
        let srv = start(app(), WebConfig::plain(), 4);
        let mut scraper = connect(srv.port);
        assert_eq!(
            get(&mut scraper, "/ok").expect("first").0,
            "HTTP/1.1 200 OK"
        );
        let flood: Vec<StdStream> = (0..20).map(|_| connect(srv.port)).collect();
        std::thread::sleep(Duration::from_millis(300));
        let again = get(&mut scraper, "/ok");
        assert_eq!(
            again.as_ref().map(|r| r.0.as_str()).ok(),
            Some("HTTP/1.1 200 OK"),
            "{again:?}"
        );
        drop(flood);
    }

    #[test]
    fn eviction_prefers_never_served_then_oldest_idle() {
        let r = Arc::new(Registry::new(3));
        let served = r.admit().expect("slot");
        served.begin_request();
        served.body_taken();
        assert!(!served.is_idle(), "busy until written out");
        served.flushed();
        assert!(served.is_idle() && served.served());
        let (b, c) = (r.admit().expect("b"), r.admit().expect("c"));
        let ids = |r: &Registry| r.conns().keys().copied().collect::<Vec<_>>();
        let d = r.admit().expect("d");
        assert_eq!(
            ids(&r),
            [served.id, c.id, d.id],
            "never-served b went first"
        );
        // A busy connection is never a victim; with only served idle ones, the oldest goes.
        c.begin_request();
        d.begin_request();
        d.body_taken();
        d.flushed();
        let e = r.admit().expect("e");
        assert_eq!(ids(&r), [c.id, d.id, e.id], "the oldest idle (served) went");
        // Every slot busy: no room.
        for x in [&d, &e] {
            x.begin_request();
        }
        assert!(r.admit().is_none());
        let _ = (b, e);
        // b and then served were evicted; the refusal is counted where the socket is closed.
        let mut out = String::new();
        r.render("nginxlog", &mut out);
        for want in [
            "nginxlog_web_connections 3\n",
            "nginxlog_web_connections_evicted_total{served=\"false\"} 1\n",
            "nginxlog_web_connections_evicted_total{served=\"true\"} 1\n",
            "nginxlog_web_connections_refused_total 0\n",
        ] {
            assert!(out.contains(want), "{want} in\n{out}");
        }
        // Every family of the table, with its type and its labels in order.
        crate::sink::families::assert_follows_table(crate::sink::families::SERVER, &out);
    }

    /// A panic while the registry's lock was held does not make every later connection fail.
    #[test]
    fn a_poisoned_registry_still_admits() {
        let r = Arc::new(Registry::new(2));
        let r2 = r.clone();
        let _ = std::thread::spawn(move || {
            let _held = r2.conns.lock();
            panic!("poisoning the registry on purpose");
        })
        .join();
        assert!(r.conns.is_poisoned());
        let a = r.admit().expect("admitted after a poisoning panic");
        assert_eq!(r.len(), 1);
        r.remove(a.id);
        assert_eq!(r.len(), 0);
    }

    /// The TLS handshake and the request head share one 5 s bound: a client that starts its
    /// ClientHello after 4 s and stalls is closed about 5 s after accept, not 4 + 5 s.
    #[test]
    fn a_stalled_tls_handshake_shares_the_head_timeout() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let der = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der)
            .expect("server config");
        let mut web = WebConfig::plain();
        web.tls = Some(Arc::new(tls));
        let srv = start(app(), web, 4);
        let start = Instant::now();
        let mut s = connect(srv.port);
        std::thread::sleep(Duration::from_secs(4));
        s.write_all(&[0x16, 0x03, 0x01])
            .expect("a ClientHello's first bytes");
        assert!(closed(&mut s), "still open after {:?}", start.elapsed());
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(8),
            "closed {took:?} after connect; the bound is 5 s from accept"
        );
    }
}
