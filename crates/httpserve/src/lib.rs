//! # trustmeter-httpserve
//!
//! Serves an axum [`Router`] on a TCP listener within budgets that no number of clients can
//! exceed, so that an API shares a process with consensus without being able to starve it:
//!
//! - at most [`ServerLimits::max_connections`] connections at once, and at most
//!   [`ServerLimits::max_connections_per_ip`] from one address; one beyond either is accepted and
//!   closed at once (counted in [`ServerStats`]);
//! - a request's head must arrive within [`ServerLimits::header_read_timeout_ms`], which is also
//!   how long a keep-alive connection may sit idle; its body within
//!   [`ServerLimits::body_read_timeout_ms`];
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_http::timeout::RequestBodyTimeoutLayer;

/// A server's TLS identity and settings ([`load_tls`]).
pub type TlsConfig = rustls::ServerConfig;

/// Pause after a failed `accept` (out of file descriptors, or the kernel refusing), so a server
/// that cannot accept does not spin.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Longest a server waits, once told to stop, for its open connections to finish their requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest request head (start line and headers) read from a client, in bytes.
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
    /// Milliseconds a client has to send a request's body, once its head is read.
    pub body_read_timeout_ms: u64,
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
    let router = router.layer(RequestBodyTimeoutLayer::new(Duration::from_millis(limits.body_read_timeout_ms)));
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
        let service = limited(router.clone(), limiter.clone(), peer.ip(), stats.clone());
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
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(MAX_HEADER_BYTES.max(8192));
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

/// The router as one connection's service: a request over its address's rate gets `429`.
fn limited(
    router: Router,
    limiter: Arc<KeyedLimiter>,
    ip: IpAddr,
    stats: Arc<ServerStats>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        let over = limiter.check_key(&ip).is_err();
        if over {
            stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        async move {
            if over {
                return Ok(too_many_requests());
            }
            use tower::ServiceExt as _;
            router.oneshot(req.map(axum::body::Body::new)).await
        }
    })
}

fn too_many_requests() -> axum::response::Response {
    let body = r#"{"code":"too_many_requests","message":"this address sends more requests per second than the server allows; slow down and retry after a second"}"#;
    axum::response::Response::builder()
        .status(axum::http::StatusCode::TOO_MANY_REQUESTS)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header(axum::http::header::RETRY_AFTER, "1")
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
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

/// The stable `code` of an error answer with `status`, for servers whose errors are
/// `{code, message}` (the node's API and the gateway's).
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
        429 | 503 => "busy",
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
/// `unprocessable`, `busy`, `internal` ([`error_code`]). `not_found` is the message of a bare 404
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

    fn router() -> Router {
        Router::new().route("/", get(|| async { "ok" })).route("/echo", post(|b: axum::body::Bytes| async move { b }))
    }

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
        // A body announced and not sent: an error response within the timeout, not a wait forever.
        let mut nobody = connect_from([127, 0, 0, 1], addr).await;
        nobody.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), nobody.read(&mut buf))
            .await
            .expect("answered in time")
            .unwrap();
        let status = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string();
        assert_eq!(status, "HTTP/1.1 400 Bad Request", "a body never sent");
        let rest = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(rest.contains("request body") && rest.contains("timeout"), "{rest}");
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
            statuses.push(get_status(&mut c).await.unwrap_or_default());
            if statuses.last().is_some_and(|s| s.contains("429")) {
                // Read the rest of the 429's body so the next status line is the next answer.
                let mut buf = vec![0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_millis(20), c.read(&mut buf)).await;
            }
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

    #[test]
    fn limits_are_checked_and_the_fd_budget_names_what_to_change() {
        assert!(ServerLimits::default().validate().is_ok());
        assert!(ServerLimits { max_connections: 0, ..Default::default() }.validate().is_err());
        assert!(ServerLimits { max_connections_per_ip: 2_000, ..Default::default() }.validate().is_err());
        assert!(ServerLimits { header_read_timeout_ms: 10, ..Default::default() }.validate().is_err());
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
