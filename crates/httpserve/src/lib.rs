//! # trustmeter-httpserve
//!
//! Serves an axum [`Router`] on a TCP listener within budgets that no number of clients can
//! exceed, so that an API shares a process with consensus without being able to starve it:
//!
//! - at most [`ServerLimits::max_connections`] connections at once, and at most
//!   [`ServerLimits::max_connections_per_ip`] from one address; one beyond either is accepted and
//!   closed at once (counted in [`ServerStats`]);
//! - a request's head must arrive within [`ServerLimits::header_read_timeout_ms`], which is also
//!   how long a keep-alive connection may sit idle; its whole body within
//!   [`ServerLimits::body_read_timeout_ms`] of the end of the head (a total deadline, not a gap
//!   between chunks: `408 {"code": "timeout"}` after it);
//! - a write to the client (a response, the TLS handshake) that makes no progress for
//!   [`ServerLimits::write_timeout_ms`] ends the connection, so a client that never reads cannot
//!   keep its connection and the response buffered for it;
//! - every refusal the server makes itself is `{code, message}` JSON with the code of its status
//!   ([`error_code`]), except those hyper writes before a request exists (a malformed or
//!   oversized head: a bare `400` or `431`, see [`MAX_HEADER_BYTES`]);
//! - [`fd_budget`] raises the soft limit of open files to the hard one and checks that the
//!   connections leave a reserve of descriptors for everything else in the process;
//! - an error accepting a connection (the process is out of descriptors) is logged and retried
//!   after [`ACCEPT_ERROR_PAUSE`], never fatal.
//!
//! HTTP/1.1 only (what the clients, gateways and browsers of this system speak to it).

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// A server's TLS identity and settings ([`load_tls`]).
pub type TlsConfig = rustls::ServerConfig;

/// Pause after a failed `accept` (out of file descriptors, or the kernel refusing), so a server
/// that cannot accept does not spin.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Longest a server waits, once told to stop, for its open connections to finish their requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest request head (start line and headers) read from a client, in bytes. hyper answers a
/// longer head (or one with more than 100 headers) with a bare `431` and closes the connection,
/// a malformed one (request line, method, header syntax) with a bare `400`: these refusals are
/// written before any request exists for the router to answer, and hyper offers no hook to give
/// them a body, so they are the only ones that are not `{code, message}` JSON.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The budgets of one server. `[api]` of a node's config and `[gateway]` of a gateway's set them;
/// the defaults suit a validator on a few cores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerLimits {
    /// Connections open at once, from all clients.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Milliseconds a client has to send a request's head, from the connection's start or the
    /// end of its previous response (the idle time of a keep-alive connection).
    pub header_read_timeout_ms: u64,
    /// Milliseconds a client has to send a request's whole body, from the end of its head (a
    /// total deadline: a client dribbling the body slowly is cut off all the same); after it the
    /// request is answered `408 {"code": "timeout"}` and the connection closed.
    pub body_read_timeout_ms: u64,
    /// Milliseconds a write to the client may make no progress (the client reads nothing) before
    /// the connection is closed, freeing its place and the response buffered for it.
    pub write_timeout_ms: u64,
    /// Requests per second one IP address may make, sustained (twice as many in a burst); one
    /// more gets `429 {"code": "too_many_requests"}` with `Retry-After: 1`.
    pub max_requests_per_s_per_ip: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            max_connections_per_ip: 256,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            write_timeout_ms: 30_000,
            max_requests_per_s_per_ip: 1_000,
        }
    }
}

/// Most connections a server may be configured for.
pub const MAX_CONNECTIONS: usize = 100_000;

impl ServerLimits {
    /// Checks each budget lies in its range: connections 1–[`MAX_CONNECTIONS`] (per address at most
    /// the total), timeouts 100 ms – 10 min.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!("max_connections = {} must be between 1 and {MAX_CONNECTIONS}", self.max_connections));
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_ip) {
            return Err(format!(
                "max_connections_per_ip = {} must be between 1 and max_connections ({})",
                self.max_connections_per_ip, self.max_connections
            ));
        }
        for (name, v) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("write_timeout_ms", self.write_timeout_ms),
        ] {
            if !(100..=600_000).contains(&v) {
                return Err(format!("{name} = {v} must be between 100 and 600000 (ten minutes)"));
            }
        }
        Ok(())
    }
}

/// What a server did with connections, for metrics. Shared; read at any time.
#[derive(Debug, Default)]
pub struct ServerStats {
    open: AtomicU64,
    accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
    accept_errors: AtomicU64,
    rate_limited: AtomicU64,
    body_timeouts: AtomicU64,
    write_timeouts: AtomicU64,
}

impl ServerStats {
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
    /// Connections accepted and served since the start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Connections closed at once because [`ServerLimits::max_connections`] were open.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }
    /// Connections closed at once because their address had
    /// [`ServerLimits::max_connections_per_ip`] open.
    pub fn refused_per_ip(&self) -> u64 {
        self.refused_per_ip.load(Ordering::Relaxed)
    }
    /// Requests answered `429` because their address went over
    /// [`ServerLimits::max_requests_per_s_per_ip`].
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
    /// Requests answered `408` because their body did not arrive within
    /// [`ServerLimits::body_read_timeout_ms`].
    pub fn body_timeouts(&self) -> u64 {
        self.body_timeouts.load(Ordering::Relaxed)
    }
    /// Connections closed because a write to the client made no progress for
    /// [`ServerLimits::write_timeout_ms`].
    pub fn write_timeouts(&self) -> u64 {
        self.write_timeouts.load(Ordering::Relaxed)
    }
    /// Failed `accept` calls (out of file descriptors, usually).
    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }
}

/// Connections open per address; an entry is removed when its last connection closes, so the map
/// holds at most [`ServerLimits::max_connections`] entries.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`PerIp`], given back when dropped.
struct IpSlot {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot { map: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenGuard(Arc<ServerStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `router` on `listener` within `limits` (over TLS when `tls` is given, see [`load_tls`])
/// until `shutdown` completes; then stops
/// accepting, lets open connections finish their current request (at most [`SHUTDOWN_GRACE`]),
/// and returns. Never returns early: an `accept` error is logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    stats: Arc<ServerStats>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let body_timeout = Duration::from_millis(limits.body_read_timeout_ms);
    let write_timeout = Duration::from_millis(limits.write_timeout_ms);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let rate = std::num::NonZeroU32::new(limits.max_requests_per_s_per_ip).unwrap_or(std::num::NonZeroU32::MIN);
    let burst = rate.saturating_mul(std::num::NonZeroU32::new(2).unwrap_or(std::num::NonZeroU32::MIN));
    let limiter: Arc<KeyedLimiter> =
        Arc::new(governor::RateLimiter::keyed(governor::Quota::per_second(rate).allow_burst(burst)));
    // The limiter keeps a cell per address seen; addresses idle for a while are forgotten.
    let mut forget = tokio::time::interval(LIMITER_RETENTION);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            _ = forget.tick() => {
                limiter.retain_recent();
                limiter.shrink_to_fit();
                continue;
            }
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    let n = stats.accept_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(error = %e, errors = n, "API: accepting a connection failed; pausing");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            stats.refused_total.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let Some(slot) = per_ip.take(peer.ip(), limits.max_connections_per_ip) else {
            stats.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let open = OpenGuard(stats.clone());
        let _ = stream.set_nodelay(true);
        let service = limited(router.clone(), limiter.clone(), peer.ip(), body_timeout, stats.clone());
        let stream = WriteDeadline::new(stream, write_timeout, stats.clone());
        let stop = stop_rx.clone();
        let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
        let tls = tls.clone();
        tasks.spawn(async move {
            let _held = (permit, slot, open);
            match tls {
                None => serve_connection(stream, service, header_timeout, stop).await,
                Some(acceptor) => {
                    // The handshake shares the head's deadline: a client that opens a connection
                    // and never finishes its handshake is cut off like one that sends half a head.
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => serve_connection(tls_stream, service, header_timeout, stop).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "API: TLS handshake failed"),
                        Err(_) => tracing::debug!("API: TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// Serves one connection (plain or TLS) until it ends, or finishes its request and closes when
/// the server stops.
async fn serve_connection<I, S>(io: I, service: S, header_timeout: Duration, mut stop: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    // `max_buf_size` alone lets a head through that arrives whole in one read of more than the
    // buffer's size; `max_header_size` checks every head's length.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .max_header_size(MAX_HEADER_BYTES);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "API connection ended with an error");
            }
        }
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A TLS server configuration from PEM files: the certificate chain (leaf first) and its private
/// key (PKCS#8, PKCS#1 or SEC1). HTTP/1.1 over TLS 1.2 or 1.3, no client certificates (clients
/// authenticate by signing requests).
pub fn load_tls(cert_pem: &std::path::Path, key_pem: &std::path::Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("reading the TLS certificate chain {}: {e}", cert_pem.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", cert_pem.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| format!("reading the TLS private key {}: {e}", key_pem.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "TLS: the certificate and key in {} and {} do not make a server identity: {e}",
                cert_pem.display(),
                key_pem.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Requests per address: a keyed GCRA limiter.
type KeyedLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

/// How often addresses that made no request lately are dropped from the rate limiter.
pub const LIMITER_RETENTION: Duration = Duration::from_secs(60);

tokio::task_local! {
    // The address of the client whose request is being served (see `client_ip`).
    static CLIENT_IP: IpAddr;
}

/// The IP address of the client whose request the calling handler serves, when called from a
/// handler [`serve`] runs (before it hands work to another task or thread); `None` elsewhere. For
/// budgets kept per client, such as the node's share of expensive requests per address.
pub fn client_ip() -> Option<IpAddr> {
    CLIENT_IP.try_with(|ip| *ip).ok()
}

/// The router as one connection's service: a request over its address's rate gets `429`; a
/// request's body must arrive whole within `body_timeout` of the end of its head, else the request
/// is answered `408`.
fn limited(
    router: Router,
    limiter: Arc<KeyedLimiter>,
    ip: IpAddr,
    body_timeout: Duration,
    stats: Arc<ServerStats>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        let stats = stats.clone();
        let over = limiter.check_key(&ip).is_err();
        if over {
            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        CLIENT_IP.scope(ip, async move {
            if over {
                let mut r = error_response(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "this address sends more requests per second than the server allows; slow down and retry after a second",
                );
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
                return Ok(r);
            }
            use hyper::body::Body as _;
            use tower::ServiceExt as _;
            if req.body().is_end_stream() {
                return router.oneshot(req.map(axum::body::Body::new)).await;
            }
            // The deadline runs from here: hyper calls the service once the head is read.
            let expired = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let body = {
                let expired = expired.clone();
                move |b| axum::body::Body::new(DeadlineBody::new(b, body_timeout, expired))
            };
            let resp = router.oneshot(req.map(body)).await?;
            // The handler failed reading a body that did not come in time: whatever it made of
            // that error, the answer is the timeout.
            if expired.load(Ordering::Relaxed) && (resp.status().is_client_error() || resp.status().is_server_error()) {
                stats.body_timeouts.fetch_add(1, Ordering::Relaxed);
                let mut r = error_response(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request's body did not arrive within {} ms of its head; send it faster, or a smaller one",
                        body_timeout.as_millis()
                    ),
                );
                r.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
                return Ok(r);
            }
            Ok(resp)
        })
    })
}

/// An error reading a request's body through [`serve`].
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body did not arrive whole within [`ServerLimits::body_read_timeout_ms`] of the head.
    #[error("the request body did not arrive within {0} ms (request body timeout)")]
    Timeout(u128),
    /// The connection failed or the body's framing was invalid.
    #[error(transparent)]
    Transport(#[from] hyper::Error),
}

/// A request's body that must end before a deadline: once it passes, the next read fails with
/// [`BodyError::Timeout`] and `expired` is set, however steadily bytes were coming.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    expired: Arc<std::sync::atomic::AtomicBool>,
    ended: bool,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, timeout: Duration, expired: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self { inner, deadline: Box::pin(tokio::time::sleep(timeout)), timeout, expired, ended: false }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyError::Timeout(this.timeout.as_millis()))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => Poll::Ready(Some(r.map_err(BodyError::Transport))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket whose writes must make progress: a write (or flush, or shutdown) that
/// stays pending for `timeout` fails with [`std::io::ErrorKind::TimedOut`], which ends the
/// connection. Reads pass through (their deadlines are hyper's header timeout and
/// [`DeadlineBody`]).
struct WriteDeadline<I> {
    io: I,
    timeout: Duration,
    /// Armed when a write first finds the socket full; disarmed by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    stats: Arc<ServerStats>,
}

impl<I> WriteDeadline<I> {
    fn new(io: I, timeout: Duration, stats: Arc<ServerStats>) -> Self {
        Self { io, timeout, stalled: None, stats }
    }

    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
                        Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("the client read nothing for {} ms", timeout.as_millis()),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, r)
    }
}

/// An error answer `{code, message}` with `status` and its [`error_code`].
pub fn error_response(status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    let body = serde_json::json!({ "code": error_code(status), "message": message }).to_string();
    axum::response::Response::builder()
        .status(status)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

/// Why [`read_body`] refused a body.
#[derive(Debug, thiserror::Error)]
pub enum BodyRefusal {
    /// The body is (or announces, by its `Content-Length`) more than the limit, in bytes.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body could not be read (the client went away, or its framing was invalid, or it came
    /// too slowly: [`serve`] then answers `408` whatever this becomes).
    #[error("the body could not be read: {0}")]
    Unreadable(String),
}

impl axum::response::IntoResponse for BodyRefusal {
    fn into_response(self) -> axum::response::Response {
        let status = match self {
            BodyRefusal::TooLarge(_) => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyRefusal::Unreadable(_) => axum::http::StatusCode::BAD_REQUEST,
        };
        error_response(status, &self.to_string())
    }
}

/// Reads a request's body of at most `limit` bytes. A body whose `Content-Length` says it is
/// larger is refused before a byte of it is read (`413 too_large` at once, not after the body
/// timeout); one without (chunked) as soon as it goes over.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, BodyRefusal> {
    use hyper::body::Body as _;
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyRefusal::TooLarge(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| BodyRefusal::Unreadable(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyRefusal::TooLarge(limit));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.into())
}

/// The open-file budget of a process: raises the soft limit of open files to the hard limit,
/// then checks that `max_connections` API connections leave `reserve` descriptors for the rest
/// of the process (consensus journals, p2p, storage). Returns the soft limit now in force, or
/// what to change.
pub fn fd_budget(max_connections: usize, reserve: u64) -> Result<u64, String> {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(l) => l,
        Err(e) => return Err(format!("reading the limit of open files failed: {e}")),
    };
    let needed = max_connections as u64 + reserve;
    if limit < needed {
        return Err(format!(
            "this process may open {limit} files (ulimit -n), but {max_connections} API connections and {reserve} descriptors kept for consensus and storage need {needed}: raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd) or lower max_connections"
        ));
    }
    Ok(limit)
}

/// Opens up to `n` connections from `from` to `addr` and sends each half a request head (a POST
/// announcing a 100 MB body that never comes), returning the connections held open: the
/// slow-client attack the budgets above are for. Used by the tests that attack a node's API and
/// for checking a deployment's limits by hand. Stops at the first socket this process cannot
/// open or bind; a refused connect is skipped.
pub async fn half_sent_requests(addr: std::net::SocketAddr, from: IpAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt as _;
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = match from {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        };
        let Ok(s) = socket else { break };
        if s.bind((from, 0).into()).is_err() {
            break;
        }
        let Ok(mut c) = s.connect(addr).await else { continue };
        let _ = c.write_all(b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n").await;
        held.push(c);
    }
    held
}

/// Reads one whole HTTP/1.1 answer (head and a body of `Content-Length`) from a raw connection
/// within 10 s: its status line and body; `None` if the connection closed first or nothing came
/// in time. For the tests that speak raw HTTP to a server, with [`half_sent_requests`].
pub async fn read_raw_answer<R: tokio::io::AsyncRead + Unpin>(c: &mut R) -> Option<(String, String)> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                return Some((head.lines().next().unwrap_or_default().to_string(), body));
            }
        }
        let n = tokio::time::timeout_at(deadline, c.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The stable `code` of an error answer with `status`, for servers whose errors are
/// `{code, message}` (the node's API and the gateway's): the one code of every refusal the server
/// makes itself (`408 timeout`, `429 too_many_requests`), of [`json_errors`] and of
/// [`error_response`]. Handlers may answer a more precise code of their own (`422 stale_nonce`).
pub fn error_code(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorised",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "too_many_requests",
        503 => "busy",
        _ if status.is_server_error() => "internal",
        _ => "error",
    }
}

/// Largest body of a non-JSON error that [`json_errors`] carries over as the message.
pub const MAX_ERROR_TEXT: usize = 4 * 1024;

/// Turns an error that is not already JSON — axum's refusals of a malformed query, path or body
/// (plain text), an unknown route or method (empty), a body over the limit or too slow — into
/// the API's error shape `{code, message}`, keeping its status and headers (`Allow`,
/// `Retry-After`). Stable codes by status: `bad_request`, `unauthorised`, `forbidden`,
/// `not_found`, `method_not_allowed`, `timeout`, `too_large`, `unsupported_media_type`,
/// `unprocessable`, `too_many_requests`, `busy`, `internal` ([`error_code`]). `not_found` is the message of a bare 404
/// (an unknown route).
pub async fn json_errors(resp: axum::response::Response, not_found: &'static str) -> axum::response::Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let code = error_code(status);
    let message = match (text.is_empty(), status.as_u16()) {
        (false, _) => text,
        (true, 404) => not_found.to_string(),
        (true, 405) => format!(
            "this route does not take this method{}",
            parts
                .headers
                .get(axum::http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .map(|a| format!("; it takes {a}"))
                .unwrap_or_default()
        ),
        (true, _) => status.canonical_reason().unwrap_or("error").to_string(),
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};

    /// Bytes of `GET /big`: more than a loopback socket's buffers hold at both ends.
    const BIG: usize = 16 << 20;

    fn router() -> Router {
        Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/echo", post(|b: axum::body::Bytes| async move { b }))
            .route("/big", get(|| async { vec![7u8; BIG] }))
            .route("/whoami", get(|| async { client_ip().map_or("none".to_string(), |ip| ip.to_string()) }))
            .route(
                "/small",
                post(|b: axum::body::Body| async move {
                    match read_body(b, 1_000).await {
                        Ok(b) => b.len().to_string().into_response(),
                        Err(e) => e.into_response(),
                    }
                }),
            )
    }

    use axum::response::IntoResponse as _;

    async fn start(limits: ServerLimits) -> (std::net::SocketAddr, Arc<ServerStats>, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ServerStats::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router(), limits, None, stats.clone(), async move {
            let _ = rx.await;
        }));
        (addr, stats, tx)
    }

    /// A connection from `source` (a loopback address: all of 127/8 is this machine).
    async fn connect_from(source: [u8; 4], addr: std::net::SocketAddr) -> TcpStream {
        let s = TcpSocket::new_v4().unwrap();
        s.bind((std::net::Ipv4Addr::from(source), 0).into()).unwrap();
        s.connect(addr).await.unwrap()
    }

    /// Sends a whole GET and returns the status line, or `None` if the server closed instead.
    async fn get_status(c: &mut TcpStream) -> Option<String> {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.ok()?.ok()?;
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string())
    }

    async fn until(what: &str, ok: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A handler learns the address of the client it serves (the node's per-client budgets).
    #[tokio::test]
    async fn a_handler_knows_its_clients_address() {
        let (addr, _stats, _stop) = start(ServerLimits::default()).await;
        for source in [[127, 0, 0, 7], [127, 0, 0, 9]] {
            let mut c = connect_from(source, addr).await;
            c.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.unwrap().unwrap();
            let text = String::from_utf8_lossy(&buf[..n]);
            let want = std::net::Ipv4Addr::from(source).to_string();
            assert!(text.starts_with("HTTP/1.1 200") && text.ends_with(&want), "{text}");
        }
        assert_eq!(client_ip(), None, "outside a request there is no client");
    }

    #[tokio::test]
    async fn connections_beyond_the_budgets_are_closed_and_others_still_served() {
        let limits = ServerLimits { max_connections: 8, max_connections_per_ip: 5, ..ServerLimits::default() };
        let (addr, stats, _stop) = start(limits).await;
        // Twenty idle connections from one address: five are held, fifteen closed at once.
        let mut idle = vec![];
        for _ in 0..20 {
            idle.push(connect_from([127, 0, 0, 2], addr).await);
        }
        until("the per-address refusals", || stats.refused_per_ip() == 15).await;
        assert_eq!(stats.open(), 5);
        // Another address is served while they sit there.
        let mut other = connect_from([127, 0, 0, 3], addr).await;
        assert_eq!(get_status(&mut other).await.as_deref(), Some("HTTP/1.1 200 OK"));
        // Fill the total: 5 + 1 + 2 more = 8; the ninth, from a fresh address, is closed.
        let a = connect_from([127, 0, 0, 4], addr).await;
        let b = connect_from([127, 0, 0, 5], addr).await;
        until("eight open", || stats.open() == 8).await;
        let mut ninth = connect_from([127, 0, 0, 6], addr).await;
        assert_eq!(get_status(&mut ninth).await, None, "the ninth connection must be closed");
        assert_eq!(stats.refused_total(), 1);
        // Closing connections frees their places.
        drop((a, b, idle));
        until("places freed", || stats.open() == 1).await;
        let mut again = connect_from([127, 0, 0, 2], addr).await;
        assert_eq!(get_status(&mut again).await.as_deref(), Some("HTTP/1.1 200 OK"));
    }

    #[tokio::test]
    async fn a_client_that_sends_half_a_head_or_no_body_is_cut_off() {
        let limits = ServerLimits { header_read_timeout_ms: 300, body_read_timeout_ms: 300, ..ServerLimits::default() };
        let (addr, stats, _stop) = start(limits).await;
        // Half a head, then silence: the server closes the connection after the timeout.
        let mut half = connect_from([127, 0, 0, 1], addr).await;
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let started = tokio::time::Instant::now();
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), half.read(&mut buf)).await.expect("closed in time");
        match n {
            Ok(0) | Err(_) => {}
            Ok(k) => panic!("half a head was answered: {:?}", String::from_utf8_lossy(&buf[..k])),
        }
        assert!(started.elapsed() >= Duration::from_millis(250), "closed after {:?}", started.elapsed());
        // A keep-alive connection idle after a response is closed the same way.
        let mut idle = connect_from([127, 0, 0, 1], addr).await;
        assert_eq!(get_status(&mut idle).await.as_deref(), Some("HTTP/1.1 200 OK"));
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await.expect("idle closed in time");
        assert_eq!(n.unwrap_or(0), 0);
        // A body announced and not sent: 408 timeout within the deadline, not a wait forever.
        let mut nobody = connect_from([127, 0, 0, 1], addr).await;
        nobody.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc").await.unwrap();
        let (status, body) = read_raw_answer(&mut nobody).await.expect("answered in time");
        assert_eq!(status, "HTTP/1.1 408 Request Timeout", "a body never sent: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "timeout", "{v}");
        assert_eq!(stats.body_timeouts(), 1);
        until("every connection closed", || stats.open() == 0).await;
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ServerStats::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server =
            tokio::spawn(serve(listener, router(), ServerLimits::default(), None, stats.clone(), async move {
                let _ = rx.await;
            }));
        let mut c = connect_from([127, 0, 0, 1], addr).await;
        assert_eq!(get_status(&mut c).await.as_deref(), Some("HTTP/1.1 200 OK"));
        tx.send(()).unwrap();
        tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(2), server).await.expect("returned").unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
    }

    #[tokio::test]
    async fn an_address_over_its_request_rate_gets_429_and_others_do_not() {
        let limits = ServerLimits { max_requests_per_s_per_ip: 5, ..ServerLimits::default() };
        let (addr, stats, _stop) = start(limits).await;
        // One keep-alive connection sends 40 requests at once: a burst of 10 passes (plus what
        // the rate refills meanwhile), the rest are refused.
        let mut c = connect_from([127, 0, 0, 7], addr).await;
        let mut statuses = vec![];
        for _ in 0..40 {
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let (status, body) = read_raw_answer(&mut c).await.expect("an answer");
            if status.contains("429") {
                // The 429's code is the one `error_code` gives 429 everywhere.
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["code"], "too_many_requests", "{v}");
                assert_eq!(v["code"], error_code(axum::http::StatusCode::TOO_MANY_REQUESTS), "{v}");
            }
            statuses.push(status);
        }
        let ok = statuses.iter().filter(|s| s.contains("200")).count();
        let limited = statuses.iter().filter(|s| s.contains("429")).count();
        assert!((10..=14).contains(&ok), "{ok} of 40 passed: {statuses:?}");
        assert_eq!(ok + limited, 40, "{statuses:?}");
        assert_eq!(stats.rate_limited(), limited as u64);
        // Another address is not slowed by it.
        let mut other = connect_from([127, 0, 0, 8], addr).await;
        assert_eq!(get_status(&mut other).await.as_deref(), Some("HTTP/1.1 200 OK"));
    }

    #[tokio::test]
    async fn a_client_dribbling_its_body_is_cut_off_at_the_total_deadline() {
        // One byte every 100 ms: never idle for the 600 ms deadline, but 200 bytes would take 20 s.
        let limits = ServerLimits { body_read_timeout_ms: 600, ..ServerLimits::default() };
        let (addr, stats, _stop) = start(limits).await;
        let c = connect_from([127, 0, 0, 9], addr).await;
        let (mut r, mut w) = c.into_split();
        w.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n").await.unwrap();
        let started = tokio::time::Instant::now();
        let dribble = tokio::spawn(async move {
            for _ in 0..200 {
                if w.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let (status, body) = read_raw_answer(&mut r).await.expect("answered");
        let took = started.elapsed();
        println!("a body dribbled at 10 B/s: {status} after {} ms (deadline 600 ms)", took.as_millis());
        assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "timeout", "{v}");
        assert!(took >= Duration::from_millis(550) && took < Duration::from_secs(3), "answered after {took:?}");
        // The connection is closed after the answer, freeing its place.
        assert!(read_raw_answer(&mut r).await.is_none());
        until("the dribbling connection closed", || stats.open() == 0).await;
        dribble.abort();
        assert_eq!(stats.body_timeouts(), 1);
        // A body sent in time is still served.
        let mut ok = connect_from([127, 0, 0, 9], addr).await;
        ok.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").await.unwrap();
        assert_eq!(read_raw_answer(&mut ok).await, Some(("HTTP/1.1 200 OK".into(), "abc".into())));
    }

    #[tokio::test]
    async fn a_client_that_never_reads_is_disconnected_after_the_write_timeout() {
        let limits = ServerLimits { write_timeout_ms: 500, ..ServerLimits::default() };
        let (addr, stats, _stop) = start(limits).await;
        // A client with a small receive window asks for 16 MiB and reads nothing.
        let s = TcpSocket::new_v4().unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.bind((std::net::Ipv4Addr::new(127, 0, 0, 10), 0).into()).unwrap();
        let mut c = s.connect(addr).await.unwrap();
        c.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        until("the connection open", || stats.open() == 1).await;
        let started = tokio::time::Instant::now();
        until("the stalled connection closed", || stats.open() == 0).await;
        let took = started.elapsed();
        println!(
            "a client reading nothing of 16 MiB: disconnected after {} ms (write timeout 500 ms)",
            took.as_millis()
        );
        assert!(took >= Duration::from_millis(400), "closed after {took:?}");
        assert_eq!(stats.write_timeouts(), 1);
        // What reached the client ends early: the connection was closed, not the answer finished.
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.expect("closed") {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert!(got < BIG, "{got} bytes read");
        // A client that reads gets all of it.
        let mut reader = connect_from([127, 0, 0, 10], addr).await;
        reader.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut total = 0usize;
        while total < BIG + 40 {
            match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf)).await.expect("read") {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(total > BIG, "{total} bytes");
        assert_eq!(stats.write_timeouts(), 1);
    }

    #[tokio::test]
    async fn a_body_over_its_limit_is_refused_413_at_once() {
        let (addr, _stats, _stop) = start(ServerLimits::default()).await;
        // Announced: refused before a byte of the body is sent.
        let mut c = connect_from([127, 0, 0, 11], addr).await;
        let started = tokio::time::Instant::now();
        c.write_all(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n").await.unwrap();
        let (status, body) = read_raw_answer(&mut c).await.expect("answered");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{body}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "too_large");
        // Chunked, no length announced: refused once it goes over.
        let mut c = connect_from([127, 0, 0, 11], addr).await;
        c.write_all(b"POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
        c.write_all(format!("{:x}\r\n{}\r\n", 1_500, "y".repeat(1_500)).as_bytes()).await.unwrap();
        let (status, body) = read_raw_answer(&mut c).await.expect("answered");
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{body}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "too_large");
        // Within the limit: read.
        let mut c = connect_from([127, 0, 0, 11], addr).await;
        c.write_all(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").await.unwrap();
        assert_eq!(read_raw_answer(&mut c).await, Some(("HTTP/1.1 200 OK".into(), "5".into())));
    }

    /// What hyper refuses before a request exists is not JSON (no hook to give it a body): a head
    /// over `MAX_HEADER_BYTES` gets a bare 431, a malformed request line a bare 400. Pinned here
    /// so the README's account of them stays true.
    #[tokio::test]
    async fn refusals_before_the_router_are_bare_400_and_431() {
        let (addr, stats, _stop) = start(ServerLimits::default()).await;
        let mut c = connect_from([127, 0, 0, 12], addr).await;
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "z".repeat(MAX_HEADER_BYTES));
        let _ = c.write_all(head.as_bytes()).await;
        let (status, body) = read_raw_answer(&mut c).await.expect("answered");
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 431 Request Header Fields Too Large", ""));
        let mut c = connect_from([127, 0, 0, 12], addr).await;
        c.write_all(b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n").await.unwrap();
        let (status, body) = read_raw_answer(&mut c).await.expect("answered");
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 400 Bad Request", ""));
        until("both closed", || stats.open() == 0).await;
    }

    #[test]
    fn limits_are_checked_and_the_fd_budget_names_what_to_change() {
        assert!(ServerLimits::default().validate().is_ok());
        assert!(ServerLimits { max_connections: 0, ..Default::default() }.validate().is_err());
        assert!(ServerLimits { max_connections_per_ip: 2_000, ..Default::default() }.validate().is_err());
        assert!(ServerLimits { header_read_timeout_ms: 10, ..Default::default() }.validate().is_err());
        assert!(ServerLimits { write_timeout_ms: 10, ..Default::default() }.validate().is_err());
        assert!(ServerLimits { write_timeout_ms: 700_000, ..Default::default() }.validate().is_err());
        let limit = fd_budget(1, 1).expect("a process may open two files");
        let e = fd_budget(MAX_CONNECTIONS, limit).unwrap_err();
        assert!(e.contains("ulimit"), "{e}");
    }

    fn data(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
    }

    #[tokio::test]
    async fn tls_serves_clients_that_trust_the_ca_and_nobody_in_the_clear() {
        // tests/data: a test CA (its key destroyed) and a certificate for localhost / 127.0.0.1
        // valid until 2126, made with openssl; see tests/data/README.md.
        let tls = load_tls(&data("server.pem"), &data("server.key")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(ServerStats::default());
        let limits = ServerLimits { header_read_timeout_ms: 300, ..ServerLimits::default() };
        tokio::spawn(serve(listener, router(), limits, Some(tls), stats.clone(), std::future::pending()));
        let ca = reqwest::Certificate::from_pem(&std::fs::read(data("ca.pem")).unwrap()).unwrap();
        let trusting = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
        for host in ["localhost", "127.0.0.1"] {
            let r = trusting.get(format!("https://{host}:{port}/")).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "ok", "{host}");
        }
        // A client that does not trust the CA, and one that speaks plain HTTP, get nothing.
        let stranger = reqwest::Client::builder().tls_certs_only([]).build().unwrap();
        assert!(stranger.get(format!("https://localhost:{port}/")).send().await.is_err());
        let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert!(get_status(&mut plain).await.is_none_or(|s| !s.contains("200")));
        // A connection that never finishes its handshake is cut off after the head's deadline.
        let silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        until("the silent connection cut off", || stats.open() == 0).await;
        drop(silent);
        // A key that does not match the certificate is refused when loaded.
        let e = load_tls(&data("ca.pem"), &data("server.key")).unwrap_err();
        assert!(e.contains("server identity") || e.contains("TLS"), "{e}");
    }
}
