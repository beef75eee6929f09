//! # trustmeter-api-client
//!
//! A typed HTTP client for a Trustmeter node's API (see the node crate's `api` module and
//! `/openapi.json`). One [`NodeClient`] talks to the nodes of one chain and fails over between
//! them. See the README for what it does not do.

#![deny(missing_docs)]

use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use trustmeter_types::{
    DeviceId, Gateway, Hash32, Meter, Organisation, PublicKey, Receipt, Rejection, Transaction, encode,
};

/// Most node URLs one client fails over between.
pub const MAX_NODES: usize = 16;
/// Most pages one `*_all` call walks (a bound on the work a hostile or broken node can cause).
pub const MAX_PAGES: usize = 10_000;
/// Largest response body read from a node (a page of 10 000 readings is a few MB); a node that
/// sends more is treated as failed, so a hostile node cannot fill the client's memory.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Reads a response body, refusing one over [`MAX_RESPONSE_BYTES`] (announced or streamed).
async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("the response is larger than {MAX_RESPONSE_BYTES} bytes");
    if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What can go wrong talking to nodes.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node could be reached or every node answered with a server error.
    #[error("no node of {tried} answered ({last}); check that the chain's nodes are running and reachable")]
    Unreachable {
        /// How many nodes were tried.
        tried: usize,
        /// The last error seen.
        last: String,
    },
    /// A node answered with something this client does not understand.
    #[error("node {url} answered {status} with an unexpected body: {detail}")]
    Protocol {
        /// The node.
        url: String,
        /// HTTP status.
        status: u16,
        /// What did not parse.
        detail: String,
    },
    /// The client was configured wrongly.
    #[error("client configuration: {0}")]
    Config(String),
    /// A node served a proof that does not verify against the genesis the client holds: it lies,
    /// or serves another chain. Every other node was tried and none served one that verifies.
    #[error("node {url} served a proof that does not verify ({reason}); no other node served a valid one")]
    Unverified {
        /// The node.
        url: String,
        /// Why the proof does not verify.
        reason: String,
    },
    /// No node served the proof (not finalized yet, no certificate yet, or unreachable); the
    /// answers, node by node.
    #[error("no node served a proof: {detail}")]
    NoProof {
        /// What each node answered.
        detail: String,
    },
    /// A node refused the request with an API error (`{code, message}`), e.g. `bad_request` for
    /// a malformed cursor or `busy` when it serves too many expensive requests at once.
    #[error("node {url} answered {status} {code}: {message}")]
    Api {
        /// The node.
        url: String,
        /// HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// What went wrong and what to do.
        message: String,
    },
}

/// One page of a node list (`{items, next}`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the list's order (ids; a meter's readings by time).
    pub items: Vec<T>,
    /// The cursor of the next page (pass it as `after`), `None` on the last page.
    pub next: Option<String>,
}

/// A recorded reading as `GET /v1/meters/{id}/readings` serves it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct RecordedReading {
    /// Meter.
    pub meter: String,
    /// Sequence number.
    pub seq: u64,
    /// Collection time (Unix ms).
    pub timestamp_ms: i64,
    /// Value, decimal text.
    pub value: String,
    /// Value in millionths of the unit.
    pub value_micros: i64,
    /// Unit symbol.
    pub unit: String,
    /// `online`, `manual` or `imported`.
    pub origin: String,
    /// The gateway's clock was suspect at collection.
    pub clock_suspect: bool,
    /// `meter` or `gateway`.
    pub signer: String,
    /// Height of the block that recorded it.
    pub height: u64,
    /// Path of its proof bundle.
    pub proof: String,
}

/// The answer to a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Admitted to a mempool; follow it with [`NodeClient::status_of`]. Not an acknowledgement.
    Pending(Hash32),
    /// Refused at admission, with the chain's reason. `MempoolFull` is worth retrying later.
    Rejected(Rejection),
}

/// Where a transaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Waiting in the node's mempool.
    Pending,
    /// Included in a finalized block: the acknowledgement.
    Finalized {
        /// Block height.
        height: u64,
        /// The execution receipt.
        receipt: Receipt,
    },
    /// Refused at admission.
    Rejected(Rejection),
    /// The node does not know it (never received, or forgotten after a restart): submit again.
    Unknown,
}

/// Signs a built request with a member's account (or a gateway's device) key: RFC 9421 headers
/// over its method, path and query, created now (`trustmeter-httpsig`); a request with a body
/// gets its `Content-Digest` header and the signature covers it.
pub fn sign_request(req: &mut reqwest::Request, key: &trustmeter_crypto::SigningKey) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let url = req.url();
    let body = req.body().and_then(|b| b.as_bytes());
    let signed = match body {
        // A body is covered through its Content-Digest (RFC 9530), sent with it.
        Some(bytes) => {
            let (signed, digest) =
                trustmeter_httpsig::sign_body(key, req.method().as_str(), url.path(), url.query(), bytes, now);
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&digest) {
                req.headers_mut().insert(trustmeter_httpsig::CONTENT_DIGEST, v);
            }
            signed
        }
        None => trustmeter_httpsig::sign(key, req.method().as_str(), url.path(), url.query(), now),
    };
    let headers = req.headers_mut();
    for (name, value) in [
        (trustmeter_httpsig::SIGNATURE_INPUT, signed.signature_input),
        (trustmeter_httpsig::SIGNATURE, signed.signature),
    ] {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// A sender key as the chain sees it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Account {
    /// The key.
    pub public_key: String,
    /// Its organisation, for a member account.
    pub organisation: Option<String>,
    /// Last finalized nonce.
    pub last_nonce: u64,
}

/// Chain status (a subset of `GET /v1/status`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ChainStatus {
    /// Node name.
    pub node: String,
    /// Chain id.
    pub chain_id: String,
    /// Latest finalized height.
    pub finalized_height: u64,
    /// Timestamp of the latest finalized block (Unix ms).
    pub finalized_time_ms: i64,
    /// Readings waiting in the node's mempool.
    pub mempool_readings: usize,
    /// The chain's hash algorithm (`sha256` or `sm3`); transaction ids are computed with it.
    #[serde(default)]
    pub hash_alg: trustmeter_types::HashAlg,
    /// How far a reading may be ahead of the block time (ms), if the node says.
    #[serde(default)]
    pub max_future_skew_ms: Option<i64>,
    /// How far a reading may be behind the block time (ms), if the node says.
    #[serde(default)]
    pub late_window_ms: Option<i64>,
}

/// One version of a chain's audit policy (from `GET /v1/policy`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PolicyInForce {
    /// The document's version.
    pub version: u32,
    /// The document (TOML), verbatim: parse it with `trustmeter_policy::Policy::parse`.
    pub text: String,
    /// First height whose readings it audits.
    pub effective_height: u64,
    /// The document's name, if the node says.
    #[serde(default)]
    pub name: Option<String>,
    /// `in_force`, `pending` or `superseded`, if the node says.
    #[serde(default)]
    pub status: Option<String>,
}

/// A chain's audit policy: the version in force for the next block and those deployed to take
/// effect at a later height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPolicy {
    /// The version in force.
    pub in_force: PolicyInForce,
    /// Versions deployed with a later effective height.
    pub pending: Vec<PolicyInForce>,
}

#[derive(Deserialize)]
struct PolicyBody {
    #[serde(alias = "in_force")]
    active: PolicyInForce,
    #[serde(default)]
    versions: Vec<PolicyInForce>,
}

#[derive(Deserialize)]
struct ReceiptBody {
    status: String,
    height: Option<u64>,
    receipt: Option<Receipt>,
    rejection: Option<Rejection>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    tx_hash: Option<String>,
}

#[derive(Deserialize)]
struct SubmitBody {
    tx_hash: String,
}

#[derive(Deserialize)]
struct MeterBody {
    meter: Meter,
}

/// An HTTP client for the nodes of one chain.
#[derive(Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    urls: Vec<String>,
    preferred: AtomicUsize,
    /// The member account key every request is signed with (RFC 9421), if any.
    signer: Option<std::sync::Arc<trustmeter_crypto::SigningKey>>,
}

/// Environment variable naming a PEM file of the CA certificates that sign the nodes' TLS
/// certificates (a consortium's own CA). Every client of this crate, the CLI and followers
/// honour it; a gateway's destination may name one in its configuration instead (`ca_file`).
pub const CA_FILE_ENV: &str = "TRUSTMETER_CA_FILE";

/// How long a client keeps an idle keep-alive connection to a node for reuse. A node closes a
/// connection idle for its `[api] header_read_timeout_ms` (10 s by default); a client that reuses
/// one at that very moment races the close and its request fails ("connection closed before
/// message completed"). Half the node's default keeps every reuse clear of the race.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client builder that verifies `https://` nodes against the CA certificates in
/// `ca_file`, or else in the file `TRUSTMETER_CA_FILE` names, and only those; with neither, against
/// the platform's roots. Idle connections are dropped after [`POOL_IDLE_TIMEOUT`]. Callers add
/// their timeouts.
pub fn http_builder(ca_file: Option<&std::path::Path>) -> Result<reqwest::ClientBuilder, ClientError> {
    let from_env = std::env::var_os(CA_FILE_ENV).map(std::path::PathBuf::from);
    let builder = reqwest::Client::builder().pool_idle_timeout(POOL_IDLE_TIMEOUT);
    let Some(path) = ca_file.map(std::path::Path::to_path_buf).or(from_env) else {
        return Ok(builder);
    };
    let pem = std::fs::read(&path)
        .map_err(|e| ClientError::Config(format!("reading the CA certificates {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| ClientError::Config(format!("{} is not a PEM bundle of certificates: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ClientError::Config(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(builder.tls_certs_only(certs))
}

impl NodeClient {
    /// A client for `urls` (e.g. `http://127.0.0.1:8080`), each request bounded by `timeout`
    /// (`https://` nodes verified as [`http_builder`] says).
    pub fn new(urls: Vec<String>, timeout: Duration) -> Result<Self, ClientError> {
        Self::with_ca(urls, timeout, None)
    }

    /// [`NodeClient::new`], trusting the CA certificates in `ca_file` for `https://` nodes.
    pub fn with_ca(
        urls: Vec<String>,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        if urls.is_empty() || urls.len() > MAX_NODES {
            return Err(ClientError::Config(format!("give between 1 and {MAX_NODES} node URLs, not {}", urls.len())));
        }
        let urls: Vec<String> = urls.into_iter().map(|u| u.trim_end_matches('/').to_string()).collect();
        for u in &urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ClientError::Config(format!("node URL {u:?} must start with http:// or https://")));
            }
        }
        let http = http_builder(ca_file)?
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self { http, urls, preferred: AtomicUsize::new(0), signer: None })
    }

    /// The same client, signing every request with a member's account key (RFC 9421 HTTP
    /// message signatures, `trustmeter-httpsig`): a node that enforces access rules then knows
    /// which organisation asks.
    pub fn with_signer(mut self, key: trustmeter_crypto::SigningKey) -> Self {
        self.signer = Some(std::sync::Arc::new(key));
        self
    }

    /// Builds a request, signed when the client has a signer.
    fn prepare(&self, builder: reqwest::RequestBuilder) -> Result<reqwest::Request, reqwest::Error> {
        let mut req = builder.build()?;
        if let Some(key) = &self.signer {
            sign_request(&mut req, key);
        }
        Ok(req)
    }

    /// The node URLs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Sends one request to the preferred node, failing over to the others on connection errors
    /// and 5xx answers (except 503 "mempool full", which is an answer). Returns the URL, status
    /// and body of the first real answer.
    async fn request(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<(String, u16, Vec<u8>), ClientError> {
        let n = self.urls.len();
        let start = self.preferred.load(Ordering::Relaxed) % n;
        let mut last = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let url = &self.urls[idx];
            let sent = match self.prepare(build(&self.http, url)) {
                Ok(req) => self.http.execute(req).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = match read_body(resp).await {
                        Ok(b) => b,
                        Err(e) => {
                            last = format!("{url}: {e}");
                            continue;
                        }
                    };
                    if status >= 500 && status != 503 {
                        last = format!("{url}: HTTP {status}");
                        continue;
                    }
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok((url.clone(), status, body));
                }
                Err(e) => {
                    last = format!("{url}: {e}");
                    tracing::debug!(%url, error = %e, "node unreachable, trying the next");
                }
            }
        }
        Err(ClientError::Unreachable { tried: n, last })
    }

    fn parse<T: serde::de::DeserializeOwned>(url: &str, status: u16, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::Protocol {
            url: url.to_string(),
            status,
            detail: format!("{e}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])),
        })
    }

    /// Submits a signed transaction (its canonical bytes).
    pub async fn submit(&self, tx: &Transaction) -> Result<Submitted, ClientError> {
        let bytes = encode(tx);
        let (url, status, body) = self
            .request(|c, u| {
                c.post(format!("{u}/v1/transactions"))
                    .header("content-type", "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        match status {
            202 => {
                let b: SubmitBody = Self::parse(&url, status, &body)?;
                let h = Hash32::from_hex(&b.tx_hash).map_err(|e| ClientError::Protocol {
                    url,
                    status,
                    detail: format!("tx_hash: {e}"),
                })?;
                Ok(Submitted::Pending(h))
            }
            _ => {
                let e: ErrorBody = Self::parse(&url, status, &body)?;
                let code =
                    trustmeter_types::RejectCode::from_str_code(&e.code).ok_or_else(|| ClientError::Protocol {
                        url: url.clone(),
                        status,
                        detail: format!("unknown rejection code {:?}: {}", e.code, e.message),
                    })?;
                // Already pending or included: follow the existing one.
                if code == trustmeter_types::RejectCode::DuplicateTx
                    && let Some(h) = e.tx_hash.as_deref().and_then(|h| Hash32::from_hex(h).ok())
                {
                    return Ok(Submitted::Pending(h));
                }
                Ok(Submitted::Rejected(Rejection::new(code, e.message)))
            }
        }
    }

    /// Where transaction `hash` stands.
    pub async fn status_of(&self, hash: &Hash32) -> Result<TxStatus, ClientError> {
        let h = hash.to_hex();
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/transactions/{h}"))).await?;
        if status == 404 {
            return Ok(TxStatus::Unknown);
        }
        let b: ReceiptBody = Self::parse(&url, status, &body)?;
        let bad = |detail: &str| ClientError::Protocol { url: url.clone(), status, detail: detail.to_string() };
        match b.status.as_str() {
            "pending" => Ok(TxStatus::Pending),
            "finalized" => Ok(TxStatus::Finalized {
                height: b.height.ok_or_else(|| bad("finalized without height"))?,
                receipt: b.receipt.ok_or_else(|| bad("finalized without receipt"))?,
            }),
            "rejected" => Ok(TxStatus::Rejected(b.rejection.ok_or_else(|| bad("rejected without reason"))?)),
            other => Err(bad(&format!("unknown status {other:?}"))),
        }
    }

    /// Sends one request (signed when the client has a signer) to the node at `url`: its status
    /// and body, or why it could not be had (for the caller to try the next node).
    async fn send_to(&self, url: &str, builder: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), String> {
        let req = self.prepare(builder).map_err(|e| format!("{url}: {e}"))?;
        let resp = self.http.execute(req).await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = read_body(resp).await.map_err(|e| format!("{url}: HTTP {status}: {e}"))?;
        Ok((status, body))
    }

    /// Uploads an evidence file of `org` to every node (each keeps its own evidence store, so a
    /// verifier finds the file on whichever node it asks), checking that each names it by
    /// `expected`, the hash the caller computed itself. Returns the nodes that stored it; an
    /// error if none did, or if a node names the file by another hash (it lies, or runs another
    /// chain).
    pub async fn put_evidence(
        &self,
        org: &trustmeter_types::UnifiedSocialCreditCode,
        data: &[u8],
        expected: &Hash32,
    ) -> Result<Vec<String>, ClientError> {
        #[derive(Deserialize)]
        struct Stored {
            hash: String,
        }
        let mut stored = Vec::new();
        let mut last = String::new();
        for url in &self.urls {
            let builder = self
                .http
                .put(format!("{url}/v1/enterprises/{org}/evidence"))
                .header("content-type", "application/octet-stream")
                .body(data.to_vec());
            let (status, body) = match self.send_to(url, builder).await {
                Ok(answer) => answer,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            if !(200..300).contains(&status) {
                return Err(Self::api_error(url.clone(), status, &body));
            }
            let s: Stored = Self::parse(url, status, &body)?;
            if s.hash != expected.to_hex() {
                return Err(ClientError::Protocol {
                    url: url.clone(),
                    status,
                    detail: format!("the node names the file {} but its bytes hash to {expected}", s.hash),
                });
            }
            stored.push(url.clone());
        }
        if stored.is_empty() {
            return Err(ClientError::Unreachable { tried: self.urls.len(), last });
        }
        Ok(stored)
    }

    /// An evidence file of `org` by its hash, from the first node that holds it (each node keeps
    /// its own store: a 404 from one sends the client to the next); `None` if no node does. The
    /// caller checks the bytes against the hash.
    pub async fn get_evidence(
        &self,
        org: &trustmeter_types::UnifiedSocialCreditCode,
        hash: &Hash32,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let h = hash.to_hex();
        let mut last = String::new();
        let mut answered = false;
        for url in &self.urls {
            let builder = self.http.get(format!("{url}/v1/enterprises/{org}/evidence/{h}"));
            let (status, body) = match self.send_to(url, builder).await {
                Ok(answer) => answer,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match status {
                200 => return Ok(Some(body)),
                404 => answered = true,
                _ if status >= 500 => last = format!("{url}: HTTP {status}"),
                _ => return Err(Self::api_error(url.clone(), status, &body)),
            }
        }
        if answered { Ok(None) } else { Err(ClientError::Unreachable { tried: self.urls.len(), last }) }
    }

    /// The report document of `org` for `period` (`2026-03` or `2026`) as a node generates it from
    /// its finalized state now: the canonical bytes, for the caller to hash and sign.
    pub async fn carbon_report(
        &self,
        org: &trustmeter_types::UnifiedSocialCreditCode,
        period: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let (url, status, body) =
            self.request(|c, u| c.get(format!("{u}/v1/enterprises/{org}/carbon/report?period={period}"))).await?;
        if status != 200 {
            return Err(Self::api_error(url, status, &body));
        }
        Ok(body)
    }

    /// Any JSON answer of the API at `path` (with its query), from the first node that answers.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}{path}"))).await?;
        Self::parse(&url, status, &body)
    }

    /// An enterprise's compliance year (`GET /v1/enterprises/{org}/carbon/compliance`) as JSON.
    pub async fn compliance(
        &self,
        org: &trustmeter_types::UnifiedSocialCreditCode,
        year: u32,
    ) -> Result<serde_json::Value, ClientError> {
        let (url, status, body) =
            self.request(|c, u| c.get(format!("{u}/v1/enterprises/{org}/carbon/compliance?year={year}"))).await?;
        Self::parse(&url, status, &body)
    }

    /// An enterprise's master/sub-meter balance (`GET /v1/enterprises/{org}/balance`, 总分表平衡)
    /// over the Asia/Shanghai days `from..=to` (`YYYY-MM-DD`) as JSON.
    pub async fn balance(
        &self,
        org: &trustmeter_types::UnifiedSocialCreditCode,
        from: &str,
        to: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let (from, to) = (percent(from), percent(to));
        let (url, status, body) =
            self.request(|c, u| c.get(format!("{u}/v1/enterprises/{org}/balance?from={from}&to={to}"))).await?;
        Self::parse(&url, status, &body)
    }

    /// The chain's view of a sender key (its last finalized nonce).
    pub async fn account(&self, key: &PublicKey) -> Result<Account, ClientError> {
        let k = key.to_text();
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/accounts/{k}"))).await?;
        Self::parse(&url, status, &body)
    }

    /// A gateway's registry record, if registered.
    pub async fn gateway(&self, id: &DeviceId) -> Result<Option<Gateway>, ClientError> {
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/gateways/{id}"))).await?;
        if status == 404 {
            return Ok(None);
        }
        Self::parse(&url, status, &body).map(Some)
    }

    /// A meter's registry record, if registered.
    pub async fn meter(&self, id: &DeviceId) -> Result<Option<Meter>, ClientError> {
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/meters/{id}"))).await?;
        if status == 404 {
            return Ok(None);
        }
        Self::parse::<MeterBody>(&url, status, &body).map(|b| Some(b.meter))
    }

    /// The audit policy in force on the chain, with any pending versions. `None` when the node
    /// does not serve `GET /v1/policy` (HTTP 404: an older node).
    pub async fn policy(&self) -> Result<Option<ChainPolicy>, ClientError> {
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/policy"))).await?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(ClientError::Protocol {
                url,
                status,
                detail: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        Self::parse::<PolicyBody>(&url, status, &body).map(|b| {
            let pending = b
                .versions
                .into_iter()
                .filter(|v| v.status.as_deref() == Some("pending") && v.version > b.active.version)
                .collect();
            Some(ChainPolicy { in_force: b.active, pending })
        })
    }

    /// Fetches the proof document at `path` node by node, from the preferred one, and returns the
    /// first that `check` accepts. A node whose proof `check` refuses is passed over (and the
    /// next one preferred): one lying node cannot make the client act, only slow it down.
    async fn proven<T: serde::de::DeserializeOwned + serde::Serialize, V>(
        &self,
        path: &str,
        check: impl Fn(T) -> Result<V, trustmeter_client::VerifyError>,
    ) -> Result<V, ClientError> {
        let n = self.urls.len();
        let start = self.preferred.load(Ordering::Relaxed) % n;
        let mut answers = Vec::with_capacity(n);
        let mut lie: Option<(String, String)> = None;
        for i in 0..n {
            let idx = (start + i) % n;
            let url = &self.urls[idx];
            let sent = match self.prepare(self.http.get(format!("{url}{path}"))) {
                Ok(req) => self.http.execute(req).await,
                Err(e) => Err(e),
            };
            let (status, body) = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match read_body(resp).await {
                        Ok(b) => (status, b),
                        Err(e) => {
                            answers.push(format!("{url}: {e}"));
                            continue;
                        }
                    }
                }
                Err(e) => {
                    answers.push(format!("{url}: {e}"));
                    continue;
                }
            };
            if status != 200 {
                let why = serde_json::from_slice::<ErrorBody>(&body)
                    .map(|e| format!("{} {}", e.code, e.message))
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
                answers.push(format!("{url}: HTTP {status} {why}"));
                continue;
            }
            let doc: T = match trustmeter_client::strict::parse(&String::from_utf8_lossy(&body)) {
                Ok(d) => d,
                Err(e) => {
                    lie.get_or_insert((url.clone(), format!("malformed: {e}")));
                    continue;
                }
            };
            match check(doc) {
                Ok(v) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) => {
                    tracing::warn!(%url, error = %e, "node served a proof that does not verify; trying another node");
                    lie.get_or_insert((url.clone(), e.to_string()));
                }
            }
        }
        // Prefer an honest node next time.
        if lie.is_some() {
            self.preferred.store((start + 1) % n, Ordering::Relaxed);
        }
        match lie {
            Some((url, reason)) => Err(ClientError::Unverified { url, reason }),
            None => Err(ClientError::NoProof { detail: answers.join("; ") }),
        }
    }

    /// The chain's genesis document as a node serves it (`GET /v1/genesis`). Not a proof of
    /// anything: compare its hash (`trustmeter_crypto::genesis_hash`) with the one the
    /// consortium published before trusting it.
    pub async fn genesis(&self) -> Result<trustmeter_types::Genesis, ClientError> {
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/genesis"))).await?;
        if status != 200 {
            return Err(ClientError::Protocol {
                url,
                status,
                detail: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        Self::parse(&url, status, &body)
    }

    /// The receipt of finalized transaction `hash`, proven against `genesis`: it is in a block a
    /// quorum of the genesis validators finalized. What a gateway settles readings on.
    pub async fn receipt_proven(
        &self,
        hash: &Hash32,
        genesis: &trustmeter_types::Genesis,
    ) -> Result<trustmeter_client::VerifiedReceipt, ClientError> {
        self.receipt_proven_with(hash, genesis, None).await
    }

    /// [`NodeClient::receipt_proven`] for a verifier that keeps the validator sets it has followed
    /// (`known`, one per genesis): the node is asked only for the epoch links after the last
    /// known set, and each new set is added to `known`.
    pub async fn receipt_proven_known(
        &self,
        hash: &Hash32,
        genesis: &trustmeter_types::Genesis,
        known: &std::sync::Mutex<trustmeter_client::KnownSets>,
    ) -> Result<trustmeter_client::VerifiedReceipt, ClientError> {
        self.receipt_proven_with(hash, genesis, Some(known)).await
    }

    async fn receipt_proven_with(
        &self,
        hash: &Hash32,
        genesis: &trustmeter_types::Genesis,
        known: Option<&std::sync::Mutex<trustmeter_client::KnownSets>>,
    ) -> Result<trustmeter_client::VerifiedReceipt, ClientError> {
        let path = format!("/v1/transactions/{}/proof{}", hash.to_hex(), epochs_from(known));
        self.proven(&path, |p: trustmeter_client::ReceiptProof| match known {
            Some(k) => trustmeter_client::verify_receipt_known(&p, genesis, hash, &mut k.lock().expect("known sets")),
            None => trustmeter_client::verify_receipt(&p, genesis, hash),
        })
        .await
    }

    /// The audit policy set (the version in force and the pending ones, in version order),
    /// proven complete against `genesis`, with the finalized block it is proven at.
    pub async fn policy_proven(
        &self,
        genesis: &trustmeter_types::Genesis,
    ) -> Result<(trustmeter_client::FinalHeader, Vec<trustmeter_client::certified::PolicyRecord>), ClientError> {
        self.policy_proven_with(genesis, None).await
    }

    /// [`NodeClient::policy_proven`] with the validator sets already followed (see
    /// [`NodeClient::receipt_proven_known`]).
    pub async fn policy_proven_known(
        &self,
        genesis: &trustmeter_types::Genesis,
        known: &std::sync::Mutex<trustmeter_client::KnownSets>,
    ) -> Result<(trustmeter_client::FinalHeader, Vec<trustmeter_client::certified::PolicyRecord>), ClientError> {
        self.policy_proven_with(genesis, Some(known)).await
    }

    async fn policy_proven_with(
        &self,
        genesis: &trustmeter_types::Genesis,
        known: Option<&std::sync::Mutex<trustmeter_client::KnownSets>>,
    ) -> Result<(trustmeter_client::FinalHeader, Vec<trustmeter_client::certified::PolicyRecord>), ClientError> {
        let path = format!("/v1/policy/proof{}", epochs_from(known));
        self.proven(&path, |p: trustmeter_client::StateProofs| {
            let v = verify_state_with(&p, genesis, known)?;
            Ok((v.block, v.policies()?))
        })
        .await
    }

    /// A meter's registry record (`None`: proven not registered), proven against `genesis`, with
    /// the finalized block it is proven at.
    pub async fn meter_proven(
        &self,
        id: &DeviceId,
        genesis: &trustmeter_types::Genesis,
    ) -> Result<(trustmeter_client::FinalHeader, Option<Meter>), ClientError> {
        self.meter_proven_with(id, genesis, None).await
    }

    /// [`NodeClient::meter_proven`] with the validator sets already followed (see
    /// [`NodeClient::receipt_proven_known`]).
    pub async fn meter_proven_known(
        &self,
        id: &DeviceId,
        genesis: &trustmeter_types::Genesis,
        known: &std::sync::Mutex<trustmeter_client::KnownSets>,
    ) -> Result<(trustmeter_client::FinalHeader, Option<Meter>), ClientError> {
        self.meter_proven_with(id, genesis, Some(known)).await
    }

    async fn meter_proven_with(
        &self,
        id: &DeviceId,
        genesis: &trustmeter_types::Genesis,
        known: Option<&std::sync::Mutex<trustmeter_client::KnownSets>>,
    ) -> Result<(trustmeter_client::FinalHeader, Option<Meter>), ClientError> {
        let key = trustmeter_client::certified::StateKey::Meter(id.clone());
        self.proven(&format!("/v1/meters/{id}/proof{}", epochs_from(known)), |p: trustmeter_client::StateProofs| {
            let v = verify_state_with(&p, genesis, known)?;
            match v.lookup(&key) {
                Some(Some(trustmeter_client::certified::StateValue::Meter(m))) => Ok((v.block, Some(m.clone()))),
                Some(None) => Ok((v.block, None)),
                _ => Err(trustmeter_client::VerifyError::StateKeyMismatch {
                    which: "meter",
                    expected: format!("meter/{id}"),
                    found: "a document that proves nothing of it".into(),
                }),
            }
        })
        .await
    }

    /// One page of a list at `path` (which already carries its other query parameters after
    /// `?`, or none), after `after`, at most `limit` items (the node's default when `None`).
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<T>, ClientError> {
        let mut query: Vec<String> = Vec::new();
        if let Some(a) = after {
            query.push(format!("after={}", percent(a)));
        }
        if let Some(n) = limit {
            query.push(format!("limit={n}"));
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        let full = if query.is_empty() { path.to_string() } else { format!("{path}{sep}{}", query.join("&")) };
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}{full}"))).await?;
        if status != 200 {
            return Err(Self::api_error(url, status, &body));
        }
        Self::parse(&url, status, &body)
    }

    fn api_error(url: String, status: u16, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(e) => ClientError::Api { url, status, code: e.code, message: e.message },
            Err(_) => ClientError::Protocol {
                url,
                status,
                detail: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            },
        }
    }

    /// Walks every page of a list from the start, up to `max_items` items (and at most
    /// [`MAX_PAGES`] pages).
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        page_size: Option<usize>,
        max_items: usize,
    ) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page: Page<T> = self.page(path, after.as_deref(), page_size).await?;
            out.extend(page.items);
            if out.len() >= max_items {
                out.truncate(max_items);
                return Ok(out);
            }
            match page.next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// A page of the registered meters (in id order).
    pub async fn meters_page(&self, after: Option<&str>, limit: Option<usize>) -> Result<Page<Meter>, ClientError> {
        self.page("/v1/meters", after, limit).await
    }

    /// A page of the registered gateways (in id order).
    pub async fn gateways_page(&self, after: Option<&str>, limit: Option<usize>) -> Result<Page<Gateway>, ClientError> {
        self.page("/v1/gateways", after, limit).await
    }

    /// A page of the member organisations (in credit-code order).
    pub async fn organisations_page(
        &self,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<Organisation>, ClientError> {
        self.page("/v1/organisations", after, limit).await
    }

    /// A page of `meter`'s readings with `from <= timestamp < to` (Unix ms), in time order.
    pub async fn readings_page(
        &self,
        meter: &DeviceId,
        from: Option<i64>,
        to: Option<i64>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<RecordedReading>, ClientError> {
        self.page(&readings_path(meter, from, to), after, limit).await
    }

    /// Every registered meter, page by page, at most `max_items`.
    pub async fn meters_all(&self, max_items: usize) -> Result<Vec<Meter>, ClientError> {
        self.all("/v1/meters", None, max_items).await
    }

    /// Every reading of `meter` in `[from, to)`, page by page, at most `max_items`.
    pub async fn readings_all(
        &self,
        meter: &DeviceId,
        from: Option<i64>,
        to: Option<i64>,
        max_items: usize,
    ) -> Result<Vec<RecordedReading>, ClientError> {
        self.all(&readings_path(meter, from, to), None, max_items).await
    }

    /// Chain status from the preferred node.
    pub async fn status(&self) -> Result<ChainStatus, ClientError> {
        let (url, status, body) = self.request(|c, u| c.get(format!("{u}/v1/status"))).await?;
        Self::parse(&url, status, &body)
    }

    /// Submits `tx` and waits until it is finalized or rejected, polling every `poll`, for at most
    /// `deadline`. Resubmits if a node forgot it. For one-off commands; the gateway's senders
    /// run their own loop.
    pub async fn submit_and_wait(
        &self,
        tx: &Transaction,
        poll: Duration,
        deadline: Duration,
    ) -> Result<TxStatus, ClientError> {
        let end = std::time::Instant::now() + deadline;
        let hash = match self.submit(tx).await? {
            Submitted::Pending(h) => h,
            Submitted::Rejected(r) if r.code == trustmeter_types::RejectCode::StaleNonce => {
                // Perhaps this very transaction was finalized already (a resubmission after a
                // crash): its receipt is the answer, not the nonce complaint.
                let alg = self.status().await?.hash_alg;
                let h = trustmeter_crypto::tx_hash(alg, tx);
                return match self.status_of(&h).await? {
                    done @ TxStatus::Finalized { .. } => Ok(done),
                    _ => Ok(TxStatus::Rejected(r)),
                };
            }
            Submitted::Rejected(r) => return Ok(TxStatus::Rejected(r)),
        };
        loop {
            match self.status_of(&hash).await? {
                TxStatus::Pending => {}
                TxStatus::Unknown => {
                    if let Submitted::Rejected(r) = self.submit(tx).await? {
                        return Ok(TxStatus::Rejected(r));
                    }
                }
                done => return Ok(done),
            }
            if std::time::Instant::now() >= end {
                return Ok(TxStatus::Pending);
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// The readings path of `meter` with its time range.
fn readings_path(meter: &DeviceId, from: Option<i64>, to: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(f) = from {
        q.push(format!("from={f}"));
    }
    if let Some(t) = to {
        q.push(format!("to={t}"));
    }
    let base = format!("/v1/meters/{}/readings", percent(meter.as_str()));
    if q.is_empty() { base } else { format!("{base}?{}", q.join("&")) }
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
fn percent(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `?epochs_from=` of a proof request for a verifier that knows the sets in `known` (empty
/// when it keeps none or knows only the genesis's).
fn epochs_from(known: Option<&std::sync::Mutex<trustmeter_client::KnownSets>>) -> String {
    match known.and_then(|k| k.lock().expect("known sets").highest()) {
        Some(e) => format!("?epochs_from={e}"),
        None => String::new(),
    }
}

/// [`trustmeter_client::verify_state`], with the known sets when the verifier keeps them.
fn verify_state_with(
    p: &trustmeter_client::StateProofs,
    genesis: &trustmeter_types::Genesis,
    known: Option<&std::sync::Mutex<trustmeter_client::KnownSets>>,
) -> Result<trustmeter_client::VerifiedState, trustmeter_client::VerifyError> {
    match known {
        Some(k) => trustmeter_client::verify_state_known(p, genesis, &mut k.lock().expect("known sets")),
        None => trustmeter_client::verify_state(p, genesis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded() {
        let m = DeviceId::new("91430100MA4L0001XA-EM_1.a").unwrap();
        assert_eq!(readings_path(&m, None, None), "/v1/meters/91430100MA4L0001XA-EM_1.a/readings");
        assert_eq!(readings_path(&m, Some(5), Some(-1)), "/v1/meters/91430100MA4L0001XA-EM_1.a/readings?from=5&to=-1");
        assert_eq!(percent("a/b&c"), "a%2Fb%26c");
    }
}
