//! Documented carbon entries and their evidence files.
//!
//! - `PUT /v1/enterprises/{org}/evidence`: an enterprise uploads a file (the raw bytes, up to
//!   16 MiB) to this node's evidence store (`trustmeter-evidence`) and gets its content hash,
//!   which its `record_carbon_entry` transaction then names. Only the enterprise itself (rule
//!   `upload`); bounded per enterprise by the store's quota and node-wide by `[api]
//!   max_concurrent_evidence`.
//! - `GET /v1/enterprises/{org}/evidence/{hash}`: the file, checked against its hash before it is
//!   served; read by whoever may read the enterprise's figures (the entries they prove are part
//!   of its carbon figures).
//! - `GET /v1/enterprises/{org}/carbon/entries?month=`: the month's documented entries as the
//!   chain recorded them (revision, recorder, height), the monitoring plan in force, and for each
//!   evidence file whether this node holds it.

use super::{ApiError, ApiState};
use crate::api::limits::RequestClass;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trustmeter_evidence::{EvidenceError, EvidenceStore};
use trustmeter_types::carbon::{CarbonEntry, MAX_EVIDENCE_BYTES, check_month};
use trustmeter_types::{Hash32, PublicKey, UnifiedSocialCreditCode};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// A file stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvidenceStored {
    /// Its content hash (the chain's hash algorithm), hex: what an entry's evidence names.
    pub hash: String,
    /// Its size, bytes.
    pub bytes: u64,
    /// `false` when the enterprise had stored the same bytes before.
    pub created: bool,
    /// The hash algorithm (`sha256` or `sm3`).
    pub alg: String,
}

/// A documented entry as recorded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonEntryView {
    /// The entry (its `data` is `null` once withdrawn).
    pub entry: CarbonEntry,
    /// 1 as first recorded, +1 per correction or withdrawal.
    pub revision: u32,
    /// The account key that recorded this revision.
    pub recorded_by: PublicKey,
    /// Height of the block that recorded it.
    pub height: u64,
    /// That block's time (Unix ms).
    pub time_ms: i64,
    /// For each evidence file, in order: whether this node's evidence store holds it.
    pub evidence_held: Vec<bool>,
}

/// An enterprise's documented entries of one month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonEntriesView {
    /// The enterprise.
    pub org: String,
    /// The month, `YYYYMM`.
    pub month: u32,
    /// The methodology of its monitoring plan for the month.
    pub methodology: String,
    /// The finalized height read.
    pub height: u64,
    /// By entry number.
    pub entries: Vec<CarbonEntryView>,
}

/// Which month.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EntriesQuery {
    /// `YYYYMM` (Asia/Shanghai).
    pub month: Option<String>,
}

fn parse_org(s: &str) -> Result<UnifiedSocialCreditCode, ApiError> {
    UnifiedSocialCreditCode::new(s.trim()).map_err(|e| ApiError::bad_request(format!("org: {e}")))
}

fn store(s: &ApiState) -> Result<Arc<EvidenceStore>, ApiError> {
    s.inner.evidence.clone().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "this node keeps no evidence store; ask a validator")
    })
}

fn store_error(e: EvidenceError) -> ApiError {
    match e {
        EvidenceError::Empty | EvidenceError::TooLarge { .. } => ApiError::bad_request(e.to_string()),
        EvidenceError::QuotaExceeded { .. } => {
            ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded", e.to_string())
        }
        EvidenceError::Corrupt { .. } | EvidenceError::Io { .. } => ApiError::internal(e),
    }
}

/// Uploads an evidence file (raw bytes, any type, 1 byte to 16 MiB) for the enterprise; answers
/// its content hash. Only the enterprise itself.
#[utoipa::path(put, path = "/v1/enterprises/{org}/evidence", params(("org" = String, Path, description = "Unified social credit code")), request_body(description = "The file's bytes", content(([u8] = "application/octet-stream"))), responses((status = 201, body = EvidenceStored), (status = 200, description = "already stored", body = EvidenceStored), (status = 400, body = ApiError), (status = 413, body = ApiError), (status = 507, description = "the enterprise's evidence quota is full", body = ApiError), (status = 503, body = ApiError)))]
async fn upload(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    signed: Option<axum::Extension<crate::api::access::SignedDigest>>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    let store = store(&s)?;
    // The permit first: at most `max_concurrent_evidence` files of 16 MiB are held in memory at
    // once, whatever the number of connections uploading.
    let _permit = s.limits().acquire(RequestClass::Evidence)?;
    let body: Bytes = super::read_limited(body, MAX_EVIDENCE_BYTES as usize).await?;
    super::check_signed_body(signed.as_ref().map(|e| &e.0), &body)?;
    let alg = store.alg();
    let stored = tokio::task::spawn_blocking(move || store.put(&org, &body))
        .await
        .map_err(ApiError::internal)?
        .map_err(store_error)?;
    let status = if stored.created { StatusCode::CREATED } else { StatusCode::OK };
    let view = EvidenceStored {
        hash: stored.hash.to_hex(),
        bytes: stored.bytes,
        created: stored.created,
        alg: alg.name().to_string(),
    };
    Ok((status, Json(view)).into_response())
}

/// An evidence file, checked against its hash before it is served.
#[utoipa::path(get, path = "/v1/enterprises/{org}/evidence/{hash}", params(("org" = String, Path, description = "Unified social credit code"), ("hash" = String, Path, description = "Content hash, 64 hex digits")), responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream", body = [u8]), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn download(
    AxumState(s): AxumState<ApiState>,
    Path((org, hash)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    let hash = Hash32::from_hex(hash.trim()).map_err(|e| ApiError::bad_request(format!("hash: {e}")))?;
    let store = store(&s)?;
    let _permit = s.limits().acquire(RequestClass::Evidence)?;
    let code = org.clone();
    let data = tokio::task::spawn_blocking(move || store.get(&code, &hash))
        .await
        .map_err(ApiError::internal)?
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("this node holds no evidence {hash} of {org}")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::ETAG, format!("\"{hash}\""))], data)
        .into_response())
}

/// An enterprise's documented carbon entries of a month (台账), as recorded on the chain.
#[utoipa::path(get, path = "/v1/enterprises/{org}/carbon/entries", params(("org" = String, Path, description = "Unified social credit code"), EntriesQuery), responses((status = 200, body = CarbonEntriesView), (status = 400, body = ApiError)))]
async fn entries(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<EntriesQuery>,
) -> Result<Json<CarbonEntriesView>, ApiError> {
    let org = parse_org(&org)?;
    let text = q.month.ok_or_else(|| ApiError::bad_request("month=YYYYMM is required, e.g. month=202611"))?;
    let month: u32 = text
        .trim()
        .parse()
        .ok()
        .filter(|m| check_month(*m).is_ok())
        .ok_or_else(|| ApiError::bad_request(format!("month={text:?} is not YYYYMM (e.g. 202611)")))?;
    let state = s.app().finalized_state();
    let store = s.inner.evidence.clone();
    let view = tokio::task::spawn_blocking(move || {
        let entries = state
            .carbon_entries(&org, month)
            .into_iter()
            .map(|r| CarbonEntryView {
                evidence_held: r
                    .entry
                    .evidence
                    .iter()
                    .map(|e| store.as_ref().is_some_and(|st| st.contains(&org, &e.hash)))
                    .collect(),
                entry: r.entry,
                revision: r.revision,
                recorded_by: r.recorded_by,
                height: r.height,
                time_ms: r.time_ms,
            })
            .collect();
        CarbonEntriesView {
            methodology: state.carbon_methodology_id(&org, month),
            org: org.to_string(),
            month,
            height: state.height,
            entries,
        }
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(view))
}

/// The evidence routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/enterprises/{org}/evidence",
            // The body limit is the file limit plus nothing: a larger body is cut off unread.
            put(upload).layer(DefaultBodyLimit::max(MAX_EVIDENCE_BYTES as usize)),
        )
        .route("/v1/enterprises/{org}/evidence/{hash}", get(download))
        .route("/v1/enterprises/{org}/carbon/entries", get(entries))
}

/// The OpenAPI document of these routes.
#[derive(OpenApi)]
#[openapi(paths(upload, download, entries), components(schemas(EvidenceStored, CarbonEntriesView, CarbonEntryView)))]
pub struct EvidenceDoc;
