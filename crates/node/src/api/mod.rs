//! The HTTP/JSON API. `GET /openapi.json` serves its OpenAPI document.
//!
//! Errors are JSON `{ "code": ..., "message": ... }` with a machine-readable code and a sentence a
//! person can act on.

pub mod access;
pub mod alarms;
pub mod carbon;
pub mod compliance;
pub mod evidence;
pub mod figures;
pub mod limits;
pub mod paging;
pub mod proofs;
pub mod staking;
pub mod web;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use commonware_codec::Decode;
use commonware_consensus::types::Height;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use trustmeter_chain::app::MarshalMailbox;
use trustmeter_chain::{App, BlockFinalization};
use trustmeter_crypto::tx_hash;
use trustmeter_index::Index;
use trustmeter_types::limits::MAX_TX_BYTES;
use trustmeter_types::{BlockHeader, DeviceId, Genesis, Hash32, Transaction, UnifiedSocialCreditCode, decode};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::limits::{RequestClass, RequestLimits};
use crate::api::paging::{
    DEFAULT_PAGE_LIMIT, DEFAULT_READINGS_LIMIT, DeviceListQuery, ListKind, MAX_PAGE_LIMIT, MAX_READINGS_LIMIT,
    PageQuery, RecordsPage, device_cursor, encode_cursor, organisation_cursor, page_gateways, page_limit, page_meters,
    page_organisations, page_readings, readings_cursor, readings_cursor_of,
};
use crate::metrics::{NodeMetrics, RuntimeEncoder};
use trustmeter_analytics::alarms::{
    AlarmConfig, AlarmEvent, AlarmHub, AlarmKind, AlarmView, AlarmsView, EventKind, Severity,
};

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    genesis: Genesis,
    genesis_hash: Hash32,
    app: App,
    index: Index,
    /// Marshal's mailbox on a validator (block headers for the tip); `None` on a follower.
    marshal: Option<MarshalMailbox>,
    /// On a follower: the validators' APIs it follows (transactions go there).
    upstream: Option<Vec<String>>,
    alarms: AlarmHub,
    limits: RequestLimits,
    metrics: NodeMetrics,
    runtime_metrics: Option<RuntimeEncoder>,
    /// The latest finalized header's figures `/v1/status` serves (cached per height).
    tip: Mutex<Tip>,
    /// Who may read what, and the log of reads.
    access: crate::api::access::Access,
    evidence: Option<Arc<trustmeter_evidence::EvidenceStore>>,
}

/// What `/v1/status` says about the latest finalized block, from its header.
#[derive(Clone, Debug)]
struct Tip {
    height: u64,
    digest: Hash32,
    state_root: Hash32,
    timestamp_ms: i64,
}

impl Tip {
    fn of(alg: trustmeter_crypto::HashAlg, header: &BlockHeader) -> Self {
        Tip {
            height: header.height,
            digest: trustmeter_crypto::block_digest(alg, header),
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        }
    }
}

/// Optional parts of the API state (defaults: default limits, fresh node metrics, no runtime
/// metrics).
#[derive(Clone, Default)]
pub struct ApiOptions {
    /// Bounds on concurrent expensive requests.
    pub limits: RequestLimits,
    /// The node's metrics (index, mempool, API).
    pub metrics: NodeMetrics,
    /// Renders the runtime's (Commonware's) metrics registry for `GET /metrics`.
    pub runtime_metrics: Option<RuntimeEncoder>,
    /// Set on a follower node: the validators' APIs it follows. Its API then refuses
    /// transactions (naming these) and says `"role": "follower"` in its status.
    pub upstream: Option<Vec<String>>,
    /// Access rules (open or enforced) and the access log.
    pub access: crate::api::access::Access,
    /// The node's evidence store (files behind documented carbon entries), if it keeps one.
    pub evidence: Option<Arc<trustmeter_evidence::EvidenceStore>>,
}

impl ApiState {
    /// Builds the API state, with an alarm engine of the default configuration.
    pub fn new(name: String, genesis: Genesis, app: App, index: Index, marshal: MarshalMailbox) -> Self {
        Self::with_alarms(name, genesis, app, index, marshal, AlarmHub::new(AlarmConfig::default()))
    }

    /// Builds the API state around an alarm engine (whose passes `alarms::run` drives).
    pub fn with_alarms(
        name: String,
        genesis: Genesis,
        app: App,
        index: Index,
        marshal: MarshalMailbox,
        alarms: AlarmHub,
    ) -> Self {
        Self::with_options(name, genesis, app, index, Some(marshal), alarms, ApiOptions::default())
    }

    /// Builds the API state around an alarm engine, with request limits and metrics.
    pub fn with_options(
        name: String,
        genesis: Genesis,
        app: App,
        index: Index,
        marshal: Option<MarshalMailbox>,
        alarms: AlarmHub,
        options: ApiOptions,
    ) -> Self {
        let alg = genesis.params.hash;
        let genesis_hash = trustmeter_crypto::genesis_hash(&genesis);
        let tip = Mutex::new(Tip::of(alg, &App::genesis_block(&genesis).block.header));
        Self {
            inner: Arc::new(Inner {
                name,
                genesis,
                genesis_hash,
                app,
                index,
                marshal,
                upstream: options.upstream,
                alarms,
                limits: options.limits,
                metrics: options.metrics,
                runtime_metrics: options.runtime_metrics,
                tip,
                access: options.access,
                evidence: options.evidence,
            }),
        }
    }

    /// The bounds on concurrent expensive requests.
    pub fn limits(&self) -> &RequestLimits {
        &self.inner.limits
    }

    /// The node's metrics (index, mempool, API).
    pub fn node_metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// Renders the runtime's metrics registry, when the node runs on one.
    pub fn runtime_metrics(&self) -> Option<&RuntimeEncoder> {
        self.inner.runtime_metrics.as_ref()
    }

    /// The latest finalized block's header figures at `height`: from the cache, else from the
    /// header marshal (a follower: the index) stores for that height (one lookup per height); if
    /// it cannot give it,
    /// the latest cached ones (an older height, still consistent). Never walks the state.
    async fn tip(&self, height: u64) -> Tip {
        {
            let tip = self.inner.tip.lock().expect("tip lock");
            if tip.height >= height {
                return tip.clone();
            }
        }
        let header = match &self.inner.marshal {
            Some(marshal) => marshal.get_block(Height::new(height)).await.map(|b| b.inner().block.header.clone()),
            None => self.inner.index.block(height).ok().flatten().map(|b| b.header),
        };
        if let Some(header) = &header
            && header.height == height
        {
            let fresh = Tip::of(self.inner.genesis.params.hash, header);
            let mut tip = self.inner.tip.lock().expect("tip lock");
            if fresh.height > tip.height {
                *tip = fresh;
            }
            return tip.clone();
        }
        self.inner.tip.lock().expect("tip lock").clone()
    }

    /// The application (finalized state, mempool).
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The alarm engine.
    pub fn alarms(&self) -> &AlarmHub {
        &self.inner.alarms
    }

    /// The query index (readings, blocks, finalization certificates).
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// The access rules and log.
    pub fn access(&self) -> &crate::api::access::Access {
        &self.inner.access
    }

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.inner.genesis
    }
}

/// An API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// Machine-readable code.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
    /// The transaction concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(skip)]
    status: u16,
    #[serde(skip)]
    retry_after_s: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), tx_hash: None, status: status.as_u16(), retry_after_s: None }
    }
    /// The same error, telling the client to retry after `seconds` (`Retry-After`).
    pub(crate) fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }
    /// The `Retry-After` this error carries, if any.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after_s
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

/// A query's error as the API answers it: the kind's code, and its status (400 for a malformed
/// parameter or one beyond a bound, 404, 503, 500).
impl From<trustmeter_analytics::Error> for ApiError {
    fn from(e: trustmeter_analytics::Error) -> Self {
        use trustmeter_analytics::Error as E;
        let status = match &e {
            E::Invalid(_) | E::Limit(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.code(), e.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.retry_after_s {
            Some(s) => (status, [(header::RETRY_AFTER, s.to_string())], Json(self)).into_response(),
            None => (status, Json(self)).into_response(),
        }
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Chain status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// Node name.
    pub node: String,
    /// `validator` (votes in consensus) or `follower` (follows finalized blocks from validators,
    /// checking every finalization certificate; serves reads, refuses transactions).
    pub role: String,
    /// Chain id.
    pub chain_id: String,
    /// Hash of the genesis document (with the chain's hash algorithm).
    pub genesis_hash: String,
    /// The chain's hash algorithm for its data (`sha256` or `sm3`): transaction ids, block
    /// digests, Merkle roots and proofs.
    pub hash_alg: String,
    /// Latest finalized height (applied to state).
    pub finalized_height: u64,
    /// Digest of the latest finalized block.
    pub finalized_digest: String,
    /// State root after it.
    pub state_root: String,
    /// Timestamp of the latest finalized block (Unix ms).
    pub finalized_time_ms: i64,
    /// Height the query index has reached.
    pub indexed_height: u64,
    /// Consensus epoch.
    pub epoch: u64,
    /// Validators (from genesis).
    pub validators: Vec<ValidatorView>,
    /// Transactions waiting in this node's mempool.
    pub mempool_txs: usize,
    /// Readings waiting in this node's mempool.
    pub mempool_readings: usize,
    /// Proposed blocks this node refused as invalid.
    pub refused_blocks: u64,
    /// Finalized blocks this node re-executed at start-up because its state store had not
    /// committed them (at most one group commit's after a restart; every block after the store
    /// was lost).
    pub replayed_blocks: u64,
    /// Whether the start-up re-execution is done (until then the node neither votes nor proposes,
    /// and `finalized_height` is still rising to where it stopped).
    pub ready: bool,
    /// Height of the state this node's store holds (group commit: at most 16 blocks, or one
    /// second of block time, below `finalized_height`); proofs are made from it.
    pub committed_height: u64,
    /// Entries in the two state trees (registry and activity) at the finalized height.
    pub state_entries: u64,
    /// How far a reading may lie after its block's time (ms): the audit policy's `block.max_future_skew_ms`.
    pub max_future_skew_ms: i64,
    /// The late-data window (ms): how far behind the block time an out-of-order reading may lie.
    pub late_window_ms: i64,
    /// The reference data set the chain's energy figures are computed with.
    pub reference: String,
}

/// A validator.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidatorView {
    /// Name.
    pub name: String,
    /// Operating organisation.
    pub org: String,
    /// Consensus key (hex).
    pub consensus_key: String,
    /// p2p address.
    pub p2p_address: String,
}

/// A block.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockView {
    /// Block digest.
    pub digest: String,
    /// Header fields.
    pub header: trustmeter_types::BlockHeader,
    /// Transaction hashes, in order.
    pub txs: Vec<String>,
    /// Always `true`: a block is served only once finalized.
    pub finalized: bool,
    /// How its finality is proven: `own` (this node stores its finalization certificate) or
    /// `descendant` (its view gathered no quorum of finalize votes; it is final through a later
    /// certified block, and proofs of its readings carry the headers in between).
    pub certificate: CertificateKind,
}

/// How a block's finality is proven ([`BlockView::certificate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// Its own finalization certificate.
    Own,
    /// A later certified block's, through the parent links.
    Descendant,
}

/// Accepted for inclusion.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitView {
    /// Transaction hash: poll `GET /v1/transactions/{hash}`.
    pub tx_hash: String,
    /// Always `pending`: a transaction is acknowledged only once its block is finalized.
    pub status: String,
}

/// Where a transaction stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    /// Transaction hash.
    pub tx_hash: String,
    /// `pending`, `rejected` (at admission, never in a block) or `finalized`.
    pub status: String,
    /// Height of the finalized block that includes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Position in that block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The execution receipt (outcome and per-reading outcomes) for a finalized transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<trustmeter_types::Receipt>,
    /// The admission rejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<trustmeter_types::Rejection>,
}

/// A recorded reading.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingView {
    /// Meter.
    pub meter: String,
    /// Sequence number.
    pub seq: u64,
    /// Collection time (Unix ms).
    pub timestamp_ms: i64,
    /// Value, decimal text (exact fixed-point).
    pub value: String,
    /// Value in millionths of the unit.
    pub value_micros: i64,
    /// Unit symbol.
    pub unit: String,
    /// `online`, `manual` (entered by hand) or `imported` (from a history file).
    pub origin: String,
    /// The gateway's clock was suspect when the reading was collected.
    pub clock_suspect: bool,
    /// `meter` or `gateway`.
    pub signer: String,
    /// Block height.
    pub height: u64,
    /// Proof bundle URL.
    pub proof: String,
}

/// Range query parameters of a meter's readings.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RangeQuery {
    /// From (Unix ms, inclusive); default 0.
    pub from: Option<i64>,
    /// To (Unix ms, exclusive); default unbounded.
    pub to: Option<i64>,
    /// The `next` cursor of the previous page; absent for the first page.
    pub after: Option<String>,
    /// Readings per page: default 1 000, at most 10 000.
    pub limit: Option<usize>,
}

/// A page of a meter's readings, in time order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingsPage {
    /// The readings.
    pub items: Vec<ReadingView>,
    /// Cursor of the next page (`?after=`, same `from`/`to`), `null` on the last page.
    pub next: Option<String>,
}

/// A meter with its reading progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeterView {
    /// The registry record.
    pub meter: trustmeter_types::Meter,
    /// What the chain recorded of its readings.
    pub progress: Option<trustmeter_state::MeterProgress>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trustmeter node API",
        description = "Chain status, blocks, transaction submission and receipts, registry lookups, readings and offline-verifiable proofs."
    ),
    paths(
        web::root,
        web::page,
        web::file,
        status,
        genesis_document,
        block,
        finalized_block,
        submit,
        receipt,
        readings,
        meter,
        meters,
        gateway,
        gateways,
        organisation,
        organisations,
        disclosures,
        published,
        account,
        proposal,
        access_log,
        grants,
        grants_received,
        proof,
        metrics,
        alarms::alarms,
        alarms::alarm_stream
    ),
    components(schemas(
        StatusView,
        ValidatorView,
        BlockView,
        CertificateKind,
        SubmitView,
        ReceiptView,
        AccountView,
        RevokedAccount,
        crate::api::access::AccessEntry,
        GrantView,
        ReceivedGrantView,
        ReceivedGrantsPage,
        ReadingView,
        DisclosureView,
        PublishedView,
        PublishedPage,
        RegionDisclosure,
        ReadingsPage,
        MeterView,
        AlarmsView,
        AlarmView,
        AlarmKind,
        Severity,
        AlarmEvent,
        EventKind,
        ApiError
    ))
)]
struct ApiDoc;

/// Checks a request's body against the `Content-Digest` its signature covers, if it covers one
/// (`access::SignedDigest`): a body changed on the way is refused before it is used.
pub(crate) fn check_signed_body(signed: Option<&access::SignedDigest>, body: &[u8]) -> Result<(), ApiError> {
    match signed {
        Some(d) => trustmeter_httpsig::check_digest(&d.0, body).map_err(|e| ApiError::bad_request(e.to_string())),
        None => Ok(()),
    }
}

/// The validator set of the epoch of `height` (the genesis validators until one is elected).
fn current_validators(s: &ApiState, height: u64) -> Vec<ValidatorView> {
    let state = s.inner.app.finalized_state();
    let epoch = state.params.economy.staking.epoch_of(height);
    match trustmeter_state::economy::validator_set(&state, epoch) {
        Some(set) => set
            .members
            .into_iter()
            .map(|m| ValidatorView {
                name: m.name,
                org: m.org.to_string(),
                consensus_key: hex::encode(&m.consensus_key.bytes),
                p2p_address: m.p2p_address,
            })
            .collect(),
        None => s
            .inner
            .genesis
            .validators
            .iter()
            .map(|v| ValidatorView {
                name: v.name.clone(),
                org: v.org.to_string(),
                consensus_key: v.consensus_key.clone(),
                p2p_address: v.p2p_address.clone(),
            })
            .collect(),
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(<figures::FiguresDoc as OpenApi>::openapi());
    doc.merge(<proofs::ProofsDoc as OpenApi>::openapi());
    doc.merge(<carbon::CarbonDoc as OpenApi>::openapi());
    doc.merge(<evidence::EvidenceDoc as OpenApi>::openapi());
    doc.merge(<compliance::ComplianceDoc as OpenApi>::openapi());
    doc.merge(<staking::StakingDoc as OpenApi>::openapi());
    doc
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(web::root))
        .route("/app/", get(web::page))
        .route("/app/{file}", get(web::file))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/genesis", get(genesis_document))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/chain/finalized/{height}", get(finalized_block))
        .route("/v1/transactions", post(submit))
        .route("/v1/transactions/{hash}", get(receipt))
        .route("/v1/meters", get(meters))
        .route("/v1/meters/{id}", get(meter))
        .route("/v1/meters/{id}/readings", get(readings))
        .route("/v1/meters/{id}/readings/{seq}/proof", get(proof))
        .route("/v1/gateways", get(gateways))
        .route("/v1/gateways/{id}", get(gateway))
        .route("/v1/organisations", get(organisations))
        .route("/v1/organisations/{id}", get(organisation))
        .route("/v1/disclosures/{region}", get(disclosures))
        .route("/v1/published", get(published))
        .route("/v1/accounts/{public_key}", get(account))
        .route("/v1/proposals/{id}", get(proposal))
        .route("/v1/access-log", get(access_log))
        .route("/v1/grants", get(grants))
        .route("/v1/grants/received", get(grants_received))
        .route("/v1/alarms", get(alarms::alarms))
        .route("/v1/alarms/stream", get(alarms::alarm_stream))
        .merge(figures::routes())
        .merge(proofs::routes())
        .merge(carbon::routes())
        .merge(evidence::routes())
        .merge(compliance::routes())
        .merge(staking::routes())
        // Who may read what: every route, before anything else runs.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::api::access::authorise))
        // Counted and timed per route template (a route layer: unmatched paths are not counted).
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        // One error shape for everything, the framework's own refusals included.
        .layer(axum::middleware::map_response(|r| {
            trustmeter_httpserve::json_errors(r, "no such route; GET /openapi.json lists every route")
        }))
        .layer(compression())
        .with_state(state)
}

/// Smallest answer worth compressing, in bytes (below it gzip's header and a round of deflate cost
/// more than they save).
pub const COMPRESS_ABOVE_BYTES: u16 = 1_024;

/// Gzip of the answers of clients that accept it (`Accept-Encoding`, with `Vary` set): JSON, CSV, HTML
/// of at least [`COMPRESS_ABOVE_BYTES`], at the fastest level (a year of an enterprise's daily
/// figures, ~1.6 MB of JSON, shrinks ~10×). Not the event streams (each event must reach the client
/// when it happens), not the web bundle (stored gzipped, `web::serve`), not what is already encoded.
fn compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{NotForContentType, Predicate as _, SizeAbove};
    tower_http::compression::CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest).compress_when(
        SizeAbove::new(COMPRESS_ABOVE_BYTES)
            .and(NotForContentType::SSE)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::const_new("application/wasm"))
            .and(NotForContentType::const_new("application/octet-stream")),
    )
}

/// Prometheus metrics: Commonware's registry (p2p, consensus, marshal, storage, runtime), then the
/// application's and the node's (`trustmeter_*`); see the `metrics` module.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(state: State<ApiState>) -> Response {
    crate::metrics::metrics_handler(state).await
}

/// Chain status. O(1): the height, digest, state root and time come from the latest finalized
/// block's header (cached per height), never from walking the state.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = StatusView)))]
async fn status(State(s): State<ApiState>) -> ApiResult<StatusView> {
    let tip = s.tip(s.inner.app.finalized_state().height).await;
    let params = &s.inner.genesis.params;
    let (txs, readings) = {
        let m = s.inner.app.mempool();
        let m = m.lock().expect("mempool lock");
        (m.len(), m.readings())
    };
    Ok(Json(StatusView {
        node: s.inner.name.clone(),
        role: if s.inner.upstream.is_some() { "follower" } else { "validator" }.into(),
        chain_id: s.inner.genesis.chain_id.to_string(),
        genesis_hash: s.inner.genesis_hash.to_hex(),
        hash_alg: s.inner.genesis.params.hash.to_string(),
        finalized_height: tip.height,
        finalized_digest: tip.digest.to_hex(),
        state_root: tip.state_root.to_hex(),
        finalized_time_ms: tip.timestamp_ms,
        indexed_height: s.inner.index.height(),
        epoch: params.economy.staking.epoch_of(tip.height),
        validators: current_validators(&s, tip.height),
        mempool_txs: txs,
        mempool_readings: readings,
        refused_blocks: s.inner.app.refused_blocks(),
        replayed_blocks: s.inner.app.replayed_blocks(),
        ready: s.inner.app.is_ready(),
        committed_height: s.inner.app.committed_state().height,
        state_entries: s.inner.app.finalized_state().len(),
        max_future_skew_ms: params.max_future_skew_ms,
        late_window_ms: params.accounting.late_window_ms,
        reference: params.accounting.reference.clone(),
    }))
}

#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "Block height")), responses((status = 200, body = BlockView), (status = 404, body = ApiError)))]
async fn block(State(s): State<ApiState>, Path(height): Path<u64>) -> ApiResult<BlockView> {
    let b = s
        .inner
        .index
        .block(height)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("block {height} is not finalized (or not indexed yet)")))?;
    Ok(Json(BlockView {
        digest: trustmeter_crypto::block_digest(s.inner.genesis.params.hash, &b.header).to_hex(),
        txs: b.txs.iter().map(|t| tx_hash(s.inner.genesis.params.hash, t).to_hex()).collect(),
        finalized: true,
        certificate: match s.inner.index.finalization(height).map_err(ApiError::internal)? {
            Some(_) => CertificateKind::Own,
            None => CertificateKind::Descendant,
        },
        header: b.header,
    }))
}

/// A finalized block's canonical bytes and its finalization certificate, for follower nodes
/// (`crate::follow`): `u32` big-endian length of the block, the block (canonical encoding), then
/// the certificate (Commonware encoding), or nothing when no certificate names this height (a
/// later certified block finalizes it through the parent links).
#[utoipa::path(get, path = "/v1/chain/finalized/{height}", params(("height" = u64, Path, description = "Block height")), responses((status = 200, content_type = "application/octet-stream", description = "length-prefixed block, then the certificate"), (status = 404, body = ApiError), (status = 503, description = "busy: too many blocks being served; retry after `Retry-After` seconds", body = ApiError)))]
async fn finalized_block(State(s): State<ApiState>, Path(height): Path<u64>) -> Response {
    let permit = match s.inner.limits.acquire(RequestClass::Blocks) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let index = s.inner.index.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<_, trustmeter_index::IndexError> {
        let _permit = permit;
        Ok(index.raw_block(height)?.map(|b| (b, index.finalization(height))))
    })
    .await;
    let (block, finalization) = match found {
        Ok(Ok(Some((block, Ok(fin))))) => (block, fin),
        Ok(Ok(None)) => {
            return ApiError::not_found(format!("block {height} is not finalized (or not indexed yet)"))
                .into_response();
        }
        Ok(Ok(Some((_, Err(e))))) | Ok(Err(e)) => return ApiError::internal(e).into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut body = Vec::with_capacity(4 + block.len() + finalization.as_ref().map_or(0, Vec::len));
    body.extend_from_slice(&(block.len() as u32).to_be_bytes());
    body.extend_from_slice(&block);
    body.extend_from_slice(finalization.as_deref().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// Reads a request body of at most `limit` bytes: one announcing more is refused `413
/// too_large` before a byte of it is read, a chunked one as soon as it goes over.
pub(crate) async fn read_limited(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    trustmeter_httpserve::read_body(body, limit).await.map_err(|e| match e {
        trustmeter_httpserve::BodyRefusal::TooLarge(n) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            trustmeter_httpserve::error_code(StatusCode::PAYLOAD_TOO_LARGE),
            format!("the body is larger than {n} bytes, the most this route takes"),
        ),
        e => ApiError::bad_request(e.to_string()),
    })
}

/// Largest body `POST /v1/transactions` reads, in bytes: a transaction of [`MAX_TX_BYTES`] in
/// its canonical encoding, with room for its JSON form.
pub const MAX_SUBMIT_BYTES: usize = MAX_TX_BYTES + 1024 * 1024;

/// Submit a signed transaction: JSON (`application/json`) or its canonical encoding
/// (`application/octet-stream`).
#[utoipa::path(post, path = "/v1/transactions", request_body(description = "A signed transaction: as JSON (the `Transaction` schema), or as its canonical bytes (borsh, docs/proof-format.md §4) with `Content-Type: application/octet-stream`. The signature covers the canonical bytes of `body` (`TxBody`) under the sender's key.", content((trustmeter_types::Transaction = "application/json"), ([u8] = "application/octet-stream"))), responses((status = 202, body = SubmitView), (status = 422, body = ApiError), (status = 400, body = ApiError), (status = 408, description = "timeout: the body did not arrive within `[api] body_read_timeout_ms`", body = ApiError), (status = 413, description = "too_large: a body over `MAX_SUBMIT_BYTES` (2 MiB)", body = ApiError), (status = 503, body = ApiError)))]
async fn submit(State(s): State<ApiState>, headers: HeaderMap, body: axum::body::Body) -> Response {
    // A body announcing more is refused before it is read (413 at once, not after the body
    // timeout); a chunked one as soon as it goes over.
    let body = match trustmeter_httpserve::read_body(body, MAX_SUBMIT_BYTES).await {
        Ok(b) => b,
        Err(trustmeter_httpserve::BodyRefusal::TooLarge(_)) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                trustmeter_httpserve::error_code(StatusCode::PAYLOAD_TOO_LARGE),
                format!(
                    "the body is larger than {MAX_SUBMIT_BYTES} bytes (a transaction is at most {MAX_TX_BYTES} bytes in its canonical encoding)"
                ),
            )
            .into_response();
        }
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("application/octet-stream"))
        .unwrap_or(false);
    let tx: Transaction = if binary {
        match decode(&body, MAX_TX_BYTES) {
            Ok(t) => t,
            Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, "malformed", e.to_string()).into_response(),
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(t) => t,
            Err(e) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    format!("the body is not a transaction: {e}"),
                )
                .into_response();
            }
        }
    };
    if let Some(upstream) = &s.inner.upstream {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "follower",
            format!(
                "this node is a follower and does not take transactions; submit to a validator: {}",
                upstream.join(", ")
            ),
        )
        .into_response();
    }
    let h = tx_hash(s.inner.genesis.params.hash, &tx);
    let app = s.inner.app.clone();
    // Admission verifies every signature in the transaction: off the async threads. Admitted
    // transactions are gossiped to the other validators.
    let result = tokio::task::spawn_blocking(move || app.admit(tx, true)).await;
    match result {
        Ok(Ok(h)) => {
            (StatusCode::ACCEPTED, Json(SubmitView { tx_hash: h.to_hex(), status: "pending".into() })).into_response()
        }
        Ok(Err(r)) => {
            let status = if r.code == trustmeter_types::RejectCode::MempoolFull {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let mut e = ApiError::new(status, r.code.as_str(), r.message);
            e.tx_hash = Some(h.to_hex());
            e.into_response()
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[utoipa::path(get, path = "/v1/transactions/{hash}", params(("hash" = String, Path, description = "Transaction hash (hex)")), responses((status = 200, body = ReceiptView), (status = 404, body = ApiError)))]
async fn receipt(State(s): State<ApiState>, Path(hash): Path<String>) -> ApiResult<ReceiptView> {
    let h = Hash32::from_hex(&hash).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut view = ReceiptView {
        tx_hash: h.to_hex(),
        status: String::new(),
        height: None,
        index: None,
        receipt: None,
        rejection: None,
    };
    // How many times to let the index catch up before answering "unknown" (see below).
    const INDEX_WAITS: u32 = 4;
    let mut waited_for_index = 0;
    loop {
        if let Some(r) = s.inner.index.receipt(&h).map_err(ApiError::internal)? {
            // The index records a block (a durable hook) a moment before the finalized state
            // moves past it. "finalized" promises that this node's state includes the
            // transaction, so the sender's next transaction, which may depend on it (a meter's
            // calibration after its registration), is checked against a state that has it.
            if !wait_for_state(&s, r.height).await {
                view.status = "pending".into();
                return Ok(Json(view));
            }
            view.status = "finalized".into();
            view.height = Some(r.height);
            view.index = Some(r.index);
            view.receipt = Some(r.receipt);
            return Ok(Json(view));
        }
        {
            let mempool = s.inner.app.mempool();
            let m = mempool.lock().expect("mempool lock");
            if m.contains(&h) {
                view.status = "pending".into();
                return Ok(Json(view));
            } else if let Some(r) = m.rejection(&h) {
                view.status = "rejected".into();
                view.rejection = Some(r.clone());
                return Ok(Json(view));
            }
        }
        if waited_for_index >= INDEX_WAITS {
            return Err(ApiError::not_found(
                "this node never received that transaction, or forgot its rejection; submit it again",
            ));
        }
        // A transaction leaves the mempool as soon as its block is finalized, a moment before the
        // finalized state and the index record that block: before answering "unknown", let the
        // index reach the finalized height and look again, a few times (a loaded machine can
        // widen that moment past one look; seen as a rare 404 in the node e2e test under load).
        wait_for_index(&s, s.inner.app.finalized_state().height).await;
        tokio::time::sleep(std::time::Duration::from_millis(25 << waited_for_index)).await;
        waited_for_index += 1;
    }
}

/// Waits (two seconds at most) until this node's finalized state has reached `height`; whether it
/// did.
async fn wait_for_state(s: &ApiState, height: u64) -> bool {
    wait_for_height(s, height, App::finalized_height).await
}

/// Waits (two seconds at most: group commits happen at least once a second of block time) until
/// this node's state store holds `height`; whether it does.
pub(crate) async fn wait_for_commit(s: &ApiState, height: u64) -> bool {
    wait_for_height(s, height, |app| app.committed_state().height).await
}

/// Polls `height_of` this node's app until it reaches `height`, two seconds at most.
async fn wait_for_height(s: &ApiState, height: u64, height_of: impl Fn(&App) -> u64) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if height_of(&s.inner.app) >= height {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Waits (a few seconds at most) until the index has reached `height`.
pub(crate) async fn wait_for_index(s: &ApiState, height: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.inner.index.height() < height && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub(crate) fn device(id: &str) -> Result<DeviceId, ApiError> {
    DeviceId::new(id).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A meter's recorded readings over a time range, a page at a time.
#[utoipa::path(get, path = "/v1/meters/{id}/readings", params(("id" = String, Path, description = "Meter id"), RangeQuery), responses((status = 200, body = ReadingsPage), (status = 400, body = ApiError)))]
async fn readings(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<ReadingsPage> {
    let meter = device(&id)?;
    let limit = page_limit(q.limit, DEFAULT_READINGS_LIMIT, MAX_READINGS_LIMIT)?;
    let after = q.after.as_deref().map(readings_cursor).transpose()?;
    let index = s.inner.index.clone();
    let page = tokio::task::spawn_blocking(move || {
        page_readings(&index, &meter, q.from.unwrap_or(0), q.to.unwrap_or(i64::MAX), after, limit)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let items = page
        .items
        .into_iter()
        .map(|r| {
            let rd = &r.reading.reading;
            ReadingView {
                meter: rd.meter.to_string(),
                seq: rd.seq,
                timestamp_ms: rd.timestamp_ms,
                value: rd.value.to_string(),
                value_micros: rd.value.micros(),
                unit: rd.unit.symbol().into(),
                origin: rd.origin.as_str().to_string(),
                clock_suspect: rd.clock_suspect,
                signer: match r.reading.signer {
                    trustmeter_types::ReadingSigner::Meter => "meter".into(),
                    trustmeter_types::ReadingSigner::Gateway => "gateway".into(),
                },
                height: r.height,
                proof: format!("/v1/meters/{}/readings/{}/proof", rd.meter, rd.seq),
            }
        })
        .collect();
    Ok(Json(ReadingsPage { items, next: page.next.map(|(ts, seq)| readings_cursor_of(ts, seq)) }))
}

#[utoipa::path(get, path = "/v1/meters/{id}", params(("id" = String, Path, description = "Meter id")), responses((status = 200, body = MeterView), (status = 404, body = ApiError)))]
async fn meter(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<MeterView> {
    let id = device(&id)?;
    let st = s.inner.app.finalized_state();
    let m = st.meter(&id).ok_or_else(|| ApiError::not_found(format!("meter {id} is not registered")))?;
    Ok(Json(MeterView { meter: m, progress: st.progress(&id) }))
}

/// A credit code from a query or path parameter (400 when it is not one).
fn org_param(code: &str) -> Result<UnifiedSocialCreditCode, ApiError> {
    UnifiedSocialCreditCode::new(code).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Registered meters (finalized state), in id order, a page at a time; `org=` lists one
/// enterprise's.
#[utoipa::path(get, path = "/v1/meters", params(DeviceListQuery), responses((status = 200, body = RecordsPage<trustmeter_types::Meter>), (status = 400, body = ApiError)))]
async fn meters(
    State(s): State<ApiState>,
    Query(q): Query<DeviceListQuery>,
) -> ApiResult<RecordsPage<trustmeter_types::Meter>> {
    let limit = page_limit(q.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let after = q.after.as_deref().map(|c| device_cursor(ListKind::Meters, c)).transpose()?;
    let owner = q.org.as_deref().map(org_param).transpose()?;
    let page = page_meters(&s.inner.app.finalized_state(), owner.as_ref(), after.as_ref(), limit);
    Ok(Json(RecordsPage {
        items: page.items,
        next: page.next.map(|k| encode_cursor(ListKind::Meters, k.as_str().as_bytes())),
    }))
}

/// Registered gateways (finalized state), in id order, a page at a time; `org=` lists one
/// enterprise's.
#[utoipa::path(get, path = "/v1/gateways", params(DeviceListQuery), responses((status = 200, body = RecordsPage<trustmeter_types::Gateway>), (status = 400, body = ApiError)))]
async fn gateways(
    State(s): State<ApiState>,
    Query(q): Query<DeviceListQuery>,
) -> ApiResult<RecordsPage<trustmeter_types::Gateway>> {
    let limit = page_limit(q.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let after = q.after.as_deref().map(|c| device_cursor(ListKind::Gateways, c)).transpose()?;
    let owner = q.org.as_deref().map(org_param).transpose()?;
    let page = page_gateways(&s.inner.app.finalized_state(), owner.as_ref(), after.as_ref(), limit);
    Ok(Json(RecordsPage {
        items: page.items,
        next: page.next.map(|k| encode_cursor(ListKind::Gateways, k.as_str().as_bytes())),
    }))
}

/// Member organisations (finalized state), in credit-code order, a page at a time.
#[utoipa::path(get, path = "/v1/organisations", params(PageQuery), responses((status = 200, body = RecordsPage<trustmeter_types::Organisation>), (status = 400, body = ApiError)))]
async fn organisations(
    State(s): State<ApiState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<RecordsPage<trustmeter_types::Organisation>> {
    let limit = page_limit(q.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let after = q.after.as_deref().map(organisation_cursor).transpose()?;
    let page = page_organisations(&s.inner.app.finalized_state(), after.as_ref(), limit);
    Ok(Json(RecordsPage {
        items: page.items,
        next: page.next.map(|k| encode_cursor(ListKind::Organisations, k.as_str().as_bytes())),
    }))
}

#[utoipa::path(get, path = "/v1/gateways/{id}", params(("id" = String, Path, description = "Gateway id")), responses((status = 200, body = trustmeter_types::Gateway), (status = 404, body = ApiError)))]
async fn gateway(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<trustmeter_types::Gateway> {
    let id = device(&id)?;
    s.inner
        .app
        .finalized_state()
        .gateway(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("gateway {id} is not registered")))
}

#[utoipa::path(get, path = "/v1/organisations/{id}", params(("id" = String, Path, description = "Unified social credit code")), responses((status = 200, description = "The organisation record with its `membership` (status active / suspended / removed, since, reason, active account keys)", body = OrganisationView), (status = 404, body = ApiError)))]
async fn organisation(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<OrganisationView> {
    let id = UnifiedSocialCreditCode::new(id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let state = s.inner.app.finalized_state();
    let org =
        state.organisation(&id).ok_or_else(|| ApiError::not_found(format!("organisation {id} is not a member")))?;
    Ok(Json(OrganisationView::new(org, state.membership(&id))))
}

/// An organisation's record with its standing (`GET /v1/organisations/{id}`): the record's
/// fields, then `membership`. (Not a `flatten` of the record: its schema allows no other
/// property, so the composition would describe no value.)
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationView {
    /// Unified social credit code (统一社会信用代码).
    pub id: UnifiedSocialCreditCode,
    /// Registered name.
    pub name: String,
    /// Role in the consortium.
    pub kind: trustmeter_types::OrgKind,
    /// Administrative region code (GB/T 2260, six digits).
    pub region: u32,
    /// Its standing: active, suspended or removed, since when, why, its active account keys.
    pub membership: Option<trustmeter_types::Membership>,
}

impl OrganisationView {
    /// The view of `org` with its standing (every field of the record: a field added to
    /// `Organisation` fails to compile here until the view has it).
    pub fn new(org: trustmeter_types::Organisation, membership: Option<trustmeter_types::Membership>) -> Self {
        let trustmeter_types::Organisation { id, name, kind, region } = org;
        OrganisationView { id, name, kind, region, membership }
    }
}

/// What the public may read of a region (信息公开): the disclosure in force in the region and in
/// each region enclosing it, and their effect (a switch on in any of them applies).
#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureView {
    /// The region asked about (GB/T 2260).
    pub region: u32,
    /// Rankings of the region's enterprises are public.
    pub rankings: bool,
    /// The region's aggregate figures are public.
    pub regional_figures: bool,
    /// The records behind it, nearest region first; regions without one are left out.
    pub records: Vec<RegionDisclosure>,
}

/// One region's disclosure record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDisclosure {
    /// Its region.
    pub region: u32,
    /// The record.
    pub record: trustmeter_types::DisclosureRecord,
}

/// What a region's disclosure (and its enclosing regions') makes public; public, so a page knows
/// what it may show without being refused.
#[utoipa::path(get, path = "/v1/disclosures/{region}", params(("region" = u32, Path, description = "Region code (GB/T 2260), e.g. 430000")), responses((status = 200, body = DisclosureView), (status = 400, body = ApiError)))]
async fn disclosures(State(s): State<ApiState>, Path(region): Path<String>) -> ApiResult<DisclosureView> {
    let region: u32 = region
        .parse()
        .ok()
        .filter(|r| (100_000..=999_999).contains(r))
        .ok_or_else(|| ApiError::bad_request(format!("{region:?} is not a region code (six digits, GB/T 2260)")))?;
    let state = s.inner.app.finalized_state();
    let records: Vec<RegionDisclosure> = trustmeter_types::membership::enclosing_regions(region)
        .into_iter()
        .filter_map(|r| state.disclosure(r).map(|record| RegionDisclosure { region: r, record }))
        .collect();
    Ok(Json(DisclosureView {
        region,
        rankings: records.iter().any(|r| r.record.disclosure.rankings),
        regional_figures: records.iter().any(|r| r.record.disclosure.regional_figures),
        records,
    }))
}

/// Query of `GET /v1/published`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PublishedQuery {
    /// Only enterprises this region covers (GB/T 2260: a province its cities and counties).
    pub region: Option<String>,
    /// The `next` of the previous page (a credit code); absent for the first page.
    pub after: Option<String>,
    /// Publications looked at per page: default 100, at most 1 000 (a page holds those of them
    /// in force and in the region, so it may hold fewer).
    pub limit: Option<usize>,
}

/// An enterprise whose figures anyone may read now (公开承诺, `tx publish-figures`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedView {
    /// The enterprise.
    pub org: String,
    /// Its name.
    pub name: String,
    /// Its region (GB/T 2260).
    pub region: u32,
    /// Block time it published.
    pub published_at_ms: i64,
    /// Until when its figures are public (Unix ms).
    pub until_ms: i64,
}

/// A page of publications.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedPage {
    /// The publications in force on this page.
    pub items: Vec<PublishedView>,
    /// The `after` of the next page, if more publications follow.
    pub next: Option<String>,
}

/// The enterprises whose energy figures are public now (they published them, until a date):
/// public, so a page can show their figures to anyone without asking for what would be refused.
#[utoipa::path(get, path = "/v1/published", params(PublishedQuery), responses((status = 200, body = PublishedPage), (status = 400, body = ApiError)))]
async fn published(State(s): State<ApiState>, Query(q): Query<PublishedQuery>) -> ApiResult<PublishedPage> {
    let limit = page_limit(q.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let region = q
        .region
        .map(|r| {
            let r = r.trim();
            r.parse::<u32>().ok().filter(|c| (100_000..=999_999).contains(c)).ok_or_else(|| {
                ApiError::bad_request(format!("region {r:?} is not a region code (six digits, GB/T 2260)"))
            })
        })
        .transpose()?;
    let after = q
        .after
        .map(|a| UnifiedSocialCreditCode::new(a.trim()).map_err(|e| ApiError::bad_request(format!("after: {e}"))))
        .transpose()?;
    let state = s.inner.app.finalized_state();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let scanned = state.published_after(after.as_ref(), limit);
    let next = (scanned.len() == limit).then(|| scanned.last().map(|(o, _)| o.to_string())).flatten();
    let items = scanned
        .into_iter()
        .filter(|(_, g)| g.expires_at_ms > now_ms)
        .filter_map(|(o, g)| {
            let org = state.organisation(&o)?;
            region.is_none_or(|r| trustmeter_types::membership::jurisdiction_covers(r, org.region)).then(|| {
                PublishedView {
                    org: o.to_string(),
                    name: org.name,
                    region: org.region,
                    published_at_ms: g.granted_at_ms,
                    until_ms: g.expires_at_ms,
                }
            })
        })
        .collect();
    Ok(Json(PublishedPage { items, next }))
}

/// A membership proposal: its action, approvals so far, the approvals it needs, and whether it
/// executed.
#[utoipa::path(get, path = "/v1/proposals/{id}", params(("id" = String, Path, description = "Hash of the proposing transaction (hex)")), responses((status = 200, body = trustmeter_types::Proposal), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn proposal(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<trustmeter_types::Proposal> {
    let h = trustmeter_types::Hash32::from_hex(&id)
        .map_err(|e| ApiError::bad_request(format!("proposal id must be 64 hex characters: {e}")))?;
    s.inner.app.finalized_state().proposal(&h).map(Json).ok_or_else(|| ApiError::not_found(format!("no proposal {id}")))
}

/// Access log query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AccessLogQuery {
    /// The enterprise whose data was read (credit code).
    pub org: String,
    /// Most entries, newest first (default 100, at most 1 000).
    pub limit: Option<usize>,
    /// Only entries older than this id (the `id` of the last entry of the previous page).
    pub before: Option<u64>,
}

/// Who read an enterprise's data, and when (newest first; page with `before=` the last entry's
/// `id`). Kept when the node enforces access rules (`[api] access = "enforced"`), for
/// `[api] access_log_days` (default 366); read by the enterprise and the regulators of its region.
#[utoipa::path(get, path = "/v1/access-log", params(AccessLogQuery), responses((status = 200, body = [crate::api::access::AccessEntry]), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn access_log(
    State(s): State<ApiState>,
    Query(q): Query<AccessLogQuery>,
) -> ApiResult<Vec<crate::api::access::AccessEntry>> {
    let org = UnifiedSocialCreditCode::new(q.org.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Some(log) = s.inner.access.log.clone() else {
        return Err(ApiError::not_found("this node keeps no access log: its API is open ([api] access = \"open\")"));
    };
    let limit = q.limit.unwrap_or(100).min(crate::api::access::MAX_ACCESS_LOG_PAGE);
    let rows = tokio::task::spawn_blocking(move || log.read(org.as_str(), q.before, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(rows))
}

/// Grants query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct GrantsQuery {
    /// The organisation whose grants (credit code).
    pub org: String,
}

/// A grant in force, as `GET /v1/grants` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// Who may read.
    pub grantee: String,
    /// What: `registry`, `readings`, `figures` or `alarms`.
    pub scope: String,
    /// Block time it was issued, Unix ms.
    pub granted_at_ms: i64,
    /// When it ends, Unix ms.
    pub expires_at_ms: i64,
}

/// The grants an organisation has in force (read by it and the regulators covering it).
#[utoipa::path(get, path = "/v1/grants", params(GrantsQuery), responses((status = 200, body = [GrantView]), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
async fn grants(State(s): State<ApiState>, Query(q): Query<GrantsQuery>) -> ApiResult<Vec<GrantView>> {
    let org = UnifiedSocialCreditCode::new(q.org).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let rows = s
        .inner
        .app
        .finalized_state()
        .grants_of(&org)
        .into_iter()
        .map(|(grantee, scope, g)| GrantView {
            grantee: grantee.to_string(),
            scope: scope.name().into(),
            granted_at_ms: g.granted_at_ms,
            expires_at_ms: g.expires_at_ms,
        })
        .collect();
    Ok(Json(rows))
}

/// Query of the grants made to an organisation.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReceivedGrantsQuery {
    /// The grantee (credit code).
    pub org: String,
    /// The `next` cursor of the previous page; absent for the first page.
    pub after: Option<String>,
    /// Grants per page: default 100, at most 1 000.
    pub limit: Option<usize>,
}

/// A grant made to an organisation, as `GET /v1/grants/received` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedGrantView {
    /// Whose data (the owner's credit code).
    pub owner: String,
    /// What: `registry`, `readings`, `figures` or `alarms`.
    pub scope: String,
    /// Block time it was issued, Unix ms.
    pub granted_at_ms: i64,
    /// When it ends, Unix ms (an expired grant is listed until its owner revokes it, and no
    /// longer lets anything be read).
    pub expires_at_ms: i64,
}

/// A page of the grants made to an organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedGrantsPage {
    /// The grants, by owner then scope.
    pub items: Vec<ReceivedGrantView>,
    /// Cursor of the next page (`?after=`, same `org`), `null` on the last page.
    pub next: Option<String>,
}

/// The grants other organisations made to `org` (read by it and the regulators covering it), a
/// page at a time.
#[utoipa::path(get, path = "/v1/grants/received", params(ReceivedGrantsQuery), responses((status = 200, body = ReceivedGrantsPage), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
async fn grants_received(
    State(s): State<ApiState>,
    Query(q): Query<ReceivedGrantsQuery>,
) -> ApiResult<ReceivedGrantsPage> {
    let org = UnifiedSocialCreditCode::new(q.org).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = page_limit(q.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let after = q.after.as_deref().map(crate::api::paging::grants_received_cursor).transpose()?;
    let page = crate::api::paging::page_grants_received(&s.inner.app.finalized_state(), &org, after.as_ref(), limit);
    let items = page
        .items
        .into_iter()
        .map(|(owner, scope, g)| ReceivedGrantView {
            owner: owner.to_string(),
            scope: scope.name().into(),
            granted_at_ms: g.granted_at_ms,
            expires_at_ms: g.expires_at_ms,
        })
        .collect();
    Ok(Json(ReceivedGrantsPage { items, next: page.next }))
}

/// A sender key: its organisation (if it is a member account) and its last accepted nonce.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// The key, as `<scheme>:<hex>`.
    pub public_key: String,
    /// The organisation the key is an account of; absent for a device key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// Last nonce accepted from this key in a finalized block (0 if none): the next transaction
    /// must carry a higher one.
    pub last_nonce: u64,
    /// For a revoked account key: its former organisation and the block time of the revocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<RevokedAccount>,
}

/// A revoked account key's former organisation and revocation time.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedAccount {
    /// The organisation it was an account of.
    pub organisation: String,
    /// Block time of the revocation, Unix ms.
    pub at_ms: i64,
}

/// A sender key's organisation and last finalized nonce.
#[utoipa::path(get, path = "/v1/accounts/{public_key}", params(("public_key" = String, Path, description = "Key as <scheme>:<hex>")), responses((status = 200, body = AccountView), (status = 400, body = ApiError)))]
async fn account(State(s): State<ApiState>, Path(key): Path<String>) -> ApiResult<AccountView> {
    let pk = trustmeter_types::PublicKey::from_text(&key).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let st = s.inner.app.finalized_state();
    Ok(Json(AccountView {
        public_key: pk.to_text(),
        organisation: st.account_org(&pk).map(|o| o.to_string()),
        last_nonce: st.nonce(&pk),
        revoked: st
            .account(&pk)
            .and_then(|a| a.revoked_at_ms.map(|at_ms| RevokedAccount { organisation: a.org.to_string(), at_ms })),
    }))
}

/// The chain's genesis document, verbatim. Trust it only after comparing its hash (`genesis_hash`
/// in `/v1/status`, `trustmeter_crypto::genesis_hash`) with the one the consortium published: a
/// gateway pins it on first contact unless its configuration names the file or the hash.
#[utoipa::path(get, path = "/v1/genesis", responses((status = 200, description = "The genesis document (JSON)", body = trustmeter_types::Genesis)))]
async fn genesis_document(State(s): State<ApiState>) -> Json<Genesis> {
    Json(s.inner.genesis.clone())
}

/// The epoch chain (docs/proof-format.md §14) from the genesis set to the set that finalized the
/// block at `certified`: for each epoch `k` from 2 to its epoch, the boundary block `last(k − 1)`
/// with its own certificate (from the index) and the proof of `ValidatorSet(k)` in the state after
/// it. Empty for blocks of epochs 0 and 1. A boundary whose certificate the index does not hold
/// yet is a 503 (retry).
pub(crate) fn epoch_chain(
    genesis: &trustmeter_types::Genesis,
    index: &trustmeter_index::Index,
    state: &trustmeter_state::State,
    certified: u64,
) -> Result<Vec<trustmeter_client::EpochLink>, ApiError> {
    epoch_chain_after(genesis, index, state, 1, certified)
}

/// [`epoch_chain`]'s links after epoch `after` only (a verifier that already knows the sets up to
/// it: `trustmeter_client::KnownSets`).
pub(crate) fn epoch_chain_after(
    genesis: &trustmeter_types::Genesis,
    index: &trustmeter_index::Index,
    state: &trustmeter_state::State,
    after: u64,
    certified: u64,
) -> Result<Vec<trustmeter_client::EpochLink>, ApiError> {
    let epoch = certified / genesis.params.economy.staking.epoch_length.max(1);
    let mut failed = None;
    let links = trustmeter_client::EpochLink::chain_after(genesis, state, after, epoch, |h| {
        let found = index.header(h).and_then(|header| Ok(header.zip(index.finalization(h)?)));
        found.unwrap_or_else(|e| {
            failed = Some(e);
            None
        })
    });
    if let Some(e) = failed {
        return Err(ApiError::internal(e));
    }
    links.map_err(|e| match e {
        trustmeter_client::EpochChainBuildError::MissingBoundary { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()).with_retry_after(1)
        }
        e => ApiError::internal(e),
    })
}

/// A reading's proof bundle, checkable offline with `trustmeter verify`.
#[utoipa::path(get, path = "/v1/meters/{id}/readings/{seq}/proof", params(("id" = String, Path, description = "Meter id"), ("seq" = u64, Path, description = "Sequence number")), responses((status = 200, body = trustmeter_client::ProofBundle), (status = 404, body = ApiError), (status = 503, description = "busy: too many proofs being built; retry after `Retry-After` seconds", body = ApiError)))]
async fn proof(
    State(s): State<ApiState>,
    Path((id, seq)): Path<(String, u64)>,
) -> Result<Json<trustmeter_client::ProofBundle>, ApiError> {
    let meter = device(&id)?;
    let permit = s.inner.limits.acquire(RequestClass::Proofs)?;
    let index = s.inner.index.clone();
    let genesis = s.inner.genesis.clone();
    // Proofs come from the state the store holds (group commit: it trails the finalized state by
    // at most a second of blocks). A reading finalized since is proven once that state has it.
    let _permit = permit;
    let mut waited = false;
    loop {
        let state = s.inner.app.committed_state();
        let (index, genesis, meter) = (index.clone(), genesis.clone(), meter.clone());
        let built = tokio::task::spawn_blocking(move || {
            let r = index.reading(&meter, seq).map_err(ApiError::internal)?.ok_or_else(|| {
                ApiError::not_found(format!("meter {meter} has no recorded reading with sequence {seq}"))
            })?;
            if r.height > state.height {
                return Ok(Err(r.height));
            }
            // The block's own certificate or, for a block final through a descendant (its view
            // gathered no quorum of finalize votes), the next certified block's and the headers
            // linking the two.
            let (descendants, fin_bytes) = match index.finalization(r.height).map_err(ApiError::internal)? {
                Some(fin) => (Vec::new(), fin),
                None => index
                    .certified_descendant(r.height, trustmeter_client::MAX_DESCENDANTS as u64)
                    .map_err(ApiError::internal)?
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "unavailable",
                            format!(
                                "no finalization certificate is stored for height {} or the {} heights after it; retry later or ask another node",
                                r.height,
                                trustmeter_client::MAX_DESCENDANTS
                            ),
                        )
                        .with_retry_after(1)
                    })?,
            };
            // The certificate's signers are the set of its epoch: at most the chain's seats (or
            // the genesis set, if larger).
            let participants =
                genesis.validators.len().max(genesis.params.economy.staking.validators as usize);
            let fin = BlockFinalization::decode_cfg(fin_bytes, &participants)
                .map_err(|e| ApiError::internal(format!("stored finalization does not decode: {e:?}")))?;
            let (block, _, recorded) = index.recorded_at(r.height).map_err(ApiError::internal)?;
            let certified = descendants.last().map_or(r.height, |d| d.height);
            let epochs = epoch_chain(&genesis, &index, &state, certified)?;
            trustmeter_client::ProofBundle::build_through(
                &genesis,
                &block,
                &recorded,
                &state,
                &descendants,
                &fin,
                epochs,
                r.position as usize,
            )
            .map(|b| Ok(Json(b)))
            .map_err(ApiError::internal)
        })
        .await
        .map_err(ApiError::internal)??;
        match built {
            Ok(bundle) => return Ok(bundle),
            Err(height) if !waited && wait_for_commit(&s, height).await => waited = true,
            Err(height) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!(
                        "the reading was finalized at height {height}, which this node's state store does not hold yet; retry in a second"
                    ),
                )
                .with_retry_after(1));
            }
        }
    }
}
