//! Bounds on concurrent expensive API requests.
//!
//! Each class of expensive request has its own semaphore; a request that finds its class full is
//! answered at once with `503 {code: "busy"}` and a `Retry-After` header instead of queueing
//! (a queue would only turn overload into latency for everyone). Cheap requests (status, registry
//! lookups, pages of lists, submissions) never wait for these, so the node keeps answering them
//! while the expensive ones are saturated.
//!
//! | class | requests |
//! |---|---|
//! | `proofs` | a reading's proof bundle, a daily figure's proof |
//! | `series` | `/v1/figures/series` (JSON) |
//! | `exports` | any `format=csv` answer |
//! | `evidence` | an evidence file uploaded or read |
//! | `rollups` | `/v1/figures/{daily,breakdown,ranking,tou}`, `/v1/quality`, `/v1/enterprises/{org}/energy` (JSON) |

use crate::api::ApiError;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest value any of the limits may be set to.
pub const MAX_CONCURRENCY: usize = 1_024;

/// Most threads of either kind the API's runtime may be given (`[api] worker_threads`,
/// `blocking_threads`).
pub const MAX_API_THREADS: usize = 256;

/// A class of expensive request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestClass {
    /// Proof bundles (a reading's, a daily figure's).
    Proofs,
    /// Time series.
    Series,
    /// CSV exports.
    Exports,
    /// Figure rollups (daily figures, breakdowns, rankings, TOU, quality, an enterprise's month).
    Rollups,
    /// Raw finalized blocks with their certificates (what followers fetch; up to 8 MiB each).
    Blocks,
    /// Evidence files uploaded or read (up to 16 MiB each, held in memory while they pass).
    Evidence,
}

impl RequestClass {
    /// The class's name (as in the configuration and the 503 message).
    pub fn name(self) -> &'static str {
        match self {
            RequestClass::Proofs => "proofs",
            RequestClass::Series => "series",
            RequestClass::Exports => "exports",
            RequestClass::Rollups => "rollups",
            RequestClass::Blocks => "blocks",
            RequestClass::Evidence => "evidence",
        }
    }
}

/// `[api]` of the node config: how many expensive requests of each class run at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Proof bundles at once (each may read and re-execute blocks).
    pub max_concurrent_proofs: usize,
    /// Series at once (a derived series reads up to 2 000 000 readings).
    pub max_concurrent_series: usize,
    /// CSV exports at once.
    pub max_concurrent_exports: usize,
    /// Figure rollups at once.
    pub max_concurrent_rollups: usize,
    /// Raw finalized blocks at once (followers fetch one at a time each).
    pub max_concurrent_blocks: usize,
    /// Evidence files uploaded or read at once (each up to 16 MiB in memory).
    pub max_concurrent_evidence: usize,
    /// Seconds a refused client is told to wait (`Retry-After`).
    pub retry_after_s: u32,
    /// `enforced` (every route's access rule applies and reads of members' data are logged; see
    /// `access`) or `open` (nothing refused or logged). Unset: enforced on a real chain, open on
    /// a devnet (a genesis with `devnet_seed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<crate::api::access::AccessMode>,
    /// Days an access-log entry is kept before it is deleted (default 366).
    pub access_log_days: u32,
    /// API connections open at once, from all clients (default 1 024); one more is closed at
    /// once. Bounds the file descriptors the API can take from consensus and storage.
    pub max_connections: usize,
    /// API connections open at once from one IP address (default 256).
    pub max_connections_per_ip: usize,
    /// Milliseconds a client has to send a request's head, and the longest a keep-alive
    /// connection may sit idle (default 10 000).
    pub header_read_timeout_ms: u64,
    /// Milliseconds a client has to send a request's whole body, from the end of its head (a
    /// total deadline; default 30 000); after it: `408 timeout`.
    pub body_read_timeout_ms: u64,
    /// Milliseconds a write to a client may make no progress (it reads nothing) before its
    /// connection is closed (default 30 000).
    pub write_timeout_ms: u64,
    /// Requests per second from one IP address, sustained, twice as many in a burst (default
    /// 1 000); beyond: `429 too_many_requests`.
    pub max_requests_per_s_per_ip: u32,
    /// PEM certificate chain (leaf first) of the API's TLS identity; with `tls_key`, the API
    /// serves HTTPS only. Relative paths are relative to the node's config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Worker threads of the API's own tokio runtime (default 2). The API and the alarm engine
    /// run there, apart from consensus, p2p and storage, so no request load can take their
    /// threads.
    pub worker_threads: usize,
    /// Threads the API's runtime may run blocking work on at once (index reads, proofs, the
    /// alarm passes; default 32); more waits in line.
    pub blocking_threads: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        // A node runs on a few cores shared with consensus: a handful of each at once keeps the
        // blocking pool and the CPU for consensus and cheap requests.
        let server = trustmeter_httpserve::ServerLimits::default();
        Self {
            max_concurrent_proofs: 4,
            max_concurrent_series: 4,
            max_concurrent_exports: 2,
            max_concurrent_rollups: 8,
            max_concurrent_blocks: 8,
            max_concurrent_evidence: 4,
            retry_after_s: 1,
            access: None,
            access_log_days: crate::api::access::DEFAULT_ACCESS_LOG_DAYS,
            max_connections: server.max_connections,
            max_connections_per_ip: server.max_connections_per_ip,
            header_read_timeout_ms: server.header_read_timeout_ms,
            body_read_timeout_ms: server.body_read_timeout_ms,
            write_timeout_ms: server.write_timeout_ms,
            max_requests_per_s_per_ip: server.max_requests_per_s_per_ip,
            tls_cert: None,
            tls_key: None,
            worker_threads: 2,
            blocking_threads: 32,
        }
    }
}

impl ApiConfig {
    /// The TLS identity of `tls_cert` and `tls_key`, if both are given.
    pub fn tls(&self) -> Result<Option<std::sync::Arc<trustmeter_httpserve::TlsConfig>>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => trustmeter_httpserve::load_tls(cert, key).map(Some),
            (None, None) => Ok(None),
            _ => Err("[api] tls_cert and tls_key go together: give both (HTTPS) or neither (HTTP)".into()),
        }
    }

    /// The HTTP server's budgets (connections, timeouts).
    pub fn server_limits(&self) -> trustmeter_httpserve::ServerLimits {
        trustmeter_httpserve::ServerLimits {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            header_read_timeout_ms: self.header_read_timeout_ms,
            body_read_timeout_ms: self.body_read_timeout_ms,
            write_timeout_ms: self.write_timeout_ms,
            max_requests_per_s_per_ip: self.max_requests_per_s_per_ip,
        }
    }

    /// Checks every limit is between 1 and [`MAX_CONCURRENCY`], the retry delay 1–3 600 s and the
    /// access log's retention 1–36 600 days.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("max_concurrent_proofs", self.max_concurrent_proofs),
            ("max_concurrent_series", self.max_concurrent_series),
            ("max_concurrent_exports", self.max_concurrent_exports),
            ("max_concurrent_rollups", self.max_concurrent_rollups),
            ("max_concurrent_blocks", self.max_concurrent_blocks),
            ("max_concurrent_evidence", self.max_concurrent_evidence),
        ] {
            if !(1..=MAX_CONCURRENCY).contains(&v) {
                return Err(format!("[api] {name} = {v} must be between 1 and {MAX_CONCURRENCY}"));
            }
        }
        if !(1..=MAX_API_THREADS).contains(&self.worker_threads) {
            return Err(format!(
                "[api] worker_threads = {} must be between 1 and {MAX_API_THREADS}",
                self.worker_threads
            ));
        }
        if !(1..=MAX_API_THREADS).contains(&self.blocking_threads) {
            return Err(format!(
                "[api] blocking_threads = {} must be between 1 and {MAX_API_THREADS}",
                self.blocking_threads
            ));
        }
        if !(1..=3_600).contains(&self.retry_after_s) {
            return Err(format!("[api] retry_after_s = {} must be between 1 and 3600", self.retry_after_s));
        }
        self.server_limits().validate().map_err(|e| format!("[api] {e}"))?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("[api] tls_cert and tls_key go together: give both (HTTPS) or neither (HTTP)".into());
        }
        if !(1..=36_600).contains(&self.access_log_days) {
            return Err(format!(
                "[api] access_log_days = {} must be between 1 and 36600 (a hundred years)",
                self.access_log_days
            ));
        }
        Ok(())
    }
}

/// The semaphores of every class. Cheap to clone; clones share the permits.
#[derive(Clone, Debug)]
pub struct RequestLimits {
    proofs: Arc<Semaphore>,
    series: Arc<Semaphore>,
    exports: Arc<Semaphore>,
    rollups: Arc<Semaphore>,
    blocks: Arc<Semaphore>,
    evidence: Arc<Semaphore>,
    retry_after_s: u32,
    /// Permits held per (class, client address): one address may hold all of a class's permits
    /// but one, so a client flooding one class never locks everyone else out of it.
    held: Arc<Mutex<HashMap<(RequestClass, IpAddr), usize>>>,
    /// The permits of each class, in [`RequestClass`] order.
    sizes: [usize; 6],
}

type Held = Arc<Mutex<HashMap<(RequestClass, IpAddr), usize>>>;

/// One permit counted against a client's address, until dropped.
#[derive(Debug)]
struct ClientSlot {
    key: (RequestClass, IpAddr),
    held: Held,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// A permit of a class of expensive request, held while the request runs; it counts against its
/// client's address until dropped.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    _client: Option<ClientSlot>,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self::new(&ApiConfig::default())
    }
}

impl RequestLimits {
    /// Semaphores sized by `config`.
    pub fn new(config: &ApiConfig) -> Self {
        Self {
            proofs: Arc::new(Semaphore::new(config.max_concurrent_proofs)),
            series: Arc::new(Semaphore::new(config.max_concurrent_series)),
            exports: Arc::new(Semaphore::new(config.max_concurrent_exports)),
            rollups: Arc::new(Semaphore::new(config.max_concurrent_rollups)),
            blocks: Arc::new(Semaphore::new(config.max_concurrent_blocks)),
            evidence: Arc::new(Semaphore::new(config.max_concurrent_evidence)),
            retry_after_s: config.retry_after_s,
            held: Arc::default(),
            sizes: [
                config.max_concurrent_proofs,
                config.max_concurrent_series,
                config.max_concurrent_exports,
                config.max_concurrent_rollups,
                config.max_concurrent_blocks,
                config.max_concurrent_evidence,
            ],
        }
    }

    /// The semaphore of `class`.
    pub fn semaphore(&self, class: RequestClass) -> &Arc<Semaphore> {
        match class {
            RequestClass::Proofs => &self.proofs,
            RequestClass::Series => &self.series,
            RequestClass::Exports => &self.exports,
            RequestClass::Rollups => &self.rollups,
            RequestClass::Blocks => &self.blocks,
            RequestClass::Evidence => &self.evidence,
        }
    }

    /// A permit of `class` for the client whose request the caller serves
    /// ([`trustmeter_httpserve::client_ip`]), held while the request runs; `503 busy` with
    /// `Retry-After` when the class is full, or when that client already holds all of the
    /// class's permits but one.
    pub fn acquire(&self, class: RequestClass) -> Result<Permit, ApiError> {
        self.acquire_as(class, trustmeter_httpserve::client_ip())
    }

    /// [`RequestLimits::acquire`] for the client at `client` (`None`: not counted per client).
    pub fn acquire_as(&self, class: RequestClass, client: Option<IpAddr>) -> Result<Permit, ApiError> {
        let busy = |why: String| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", why).with_retry_after(self.retry_after_s)
        };
        let slot = match client {
            None => None,
            Some(ip) => {
                // All permits but one (at least one) per address.
                let share = self.sizes[class as usize].saturating_sub(1).max(1);
                let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let n = held.entry((class, ip)).or_insert(0);
                if *n >= share {
                    return Err(busy(format!(
                        "this address already has {n} {} requests running here, as many as one client may; retry in {} s",
                        class.name(),
                        self.retry_after_s
                    )));
                }
                *n += 1;
                // Counted from here; the slot's drop undoes it (on refusal below, or with the permit).
                Some(ClientSlot { key: (class, ip), held: self.held.clone() })
            }
        };
        match self.semaphore(class).clone().try_acquire_owned() {
            Ok(permit) => Ok(Permit { _permit: permit, _client: slot }),
            Err(_) => Err(busy(format!(
                "this node is already serving as many {} requests as it is configured to; retry in {} s, or ask another node",
                class.name(),
                self.retry_after_s
            ))),
        }
    }

    /// The permit of a request that is an export when `csv`, else of class `class`.
    pub fn acquire_for(&self, class: RequestClass, csv: bool) -> Result<Permit, ApiError> {
        self.acquire(if csv { RequestClass::Exports } else { class })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_class_refuses_with_retry_after_and_other_classes_still_run() {
        let limits =
            RequestLimits::new(&ApiConfig { max_concurrent_proofs: 2, retry_after_s: 7, ..Default::default() });
        let a = limits.acquire(RequestClass::Proofs).unwrap();
        let _b = limits.acquire(RequestClass::Proofs).unwrap();
        let e = limits.acquire(RequestClass::Proofs).unwrap_err();
        assert_eq!(e.code, "busy");
        assert_eq!(e.retry_after(), Some(7));
        assert!(e.message.contains("proofs"), "{}", e.message);
        let _s = limits.acquire(RequestClass::Series).unwrap();
        let _x = limits.acquire_for(RequestClass::Series, true).unwrap();
        drop(a);
        assert!(limits.acquire(RequestClass::Proofs).is_ok(), "a finished request frees its permit");
    }

    /// One address flooding a class keeps at most all of its permits but one: another address is
    /// still served, and the flooder's count is given back when its requests end or are refused.
    #[test]
    fn one_address_cannot_take_a_whole_class() {
        let limits = RequestLimits::new(&ApiConfig { max_concurrent_proofs: 4, ..Default::default() });
        let (flooder, other): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let held: Vec<Permit> =
            (0..3).map(|_| limits.acquire_as(RequestClass::Proofs, Some(flooder)).unwrap()).collect();
        let e = limits.acquire_as(RequestClass::Proofs, Some(flooder)).unwrap_err();
        assert_eq!((e.code.as_str(), e.retry_after().is_some()), ("busy", true));
        assert!(e.message.contains("this address already has 3 proofs requests"), "{}", e.message);
        // The last permit is the other clients'.
        let theirs = limits.acquire_as(RequestClass::Proofs, Some(other)).unwrap();
        // The class is now full for everyone, and a refusal there counts nothing against `other`.
        assert!(limits.acquire_as(RequestClass::Proofs, Some(other)).unwrap_err().message.contains("this node"));
        drop(theirs);
        drop(held);
        assert!(limits.held.lock().unwrap().is_empty(), "every count is given back");
        // A class of one permit: one request per address, and no starvation of the class itself.
        let one = RequestLimits::new(&ApiConfig { max_concurrent_exports: 1, ..Default::default() });
        let p = one.acquire_as(RequestClass::Exports, Some(flooder)).unwrap();
        assert!(one.acquire_as(RequestClass::Exports, Some(other)).is_err());
        drop(p);
        assert!(one.acquire_as(RequestClass::Exports, Some(other)).is_ok());
    }

    #[test]
    fn config_bounds() {
        assert!(ApiConfig::default().validate().is_ok());
        assert!(ApiConfig { max_concurrent_series: 0, ..Default::default() }.validate().is_err());
        assert!(ApiConfig { max_concurrent_exports: MAX_CONCURRENCY + 1, ..Default::default() }.validate().is_err());
        assert!(ApiConfig { retry_after_s: 0, ..Default::default() }.validate().is_err());
        let c: ApiConfig = toml::from_str("max_concurrent_proofs = 9").unwrap();
        assert_eq!(c, ApiConfig { max_concurrent_proofs: 9, ..Default::default() });
        assert!(toml::from_str::<ApiConfig>("max_concurrent_proof = 9").is_err(), "typos are refused");
    }
}
