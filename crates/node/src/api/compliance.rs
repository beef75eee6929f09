//! The compliance routes (履约): an enterprise's carbon report document, its compliance year and
//! what-if scenarios. Read by whoever may read the enterprise's figures (a verifier with the
//! enterprise's grant, the regulators of its region).
//!
//! - `GET /v1/enterprises/{org}/carbon/report?period=2026-03|2026[&format=json|html|csv][&filed=true]`:
//!   the report document the chain's finalized data give now (a draft: what a filing must sign),
//!   or with `filed=true` the document as filed, read from this node's evidence store by the hash
//!   the chain recorded. JSON is the canonical bytes (their hash is the `Trustmeter-Report-Hash`
//!   header); HTML and CSV render them.
//! - `GET /v1/enterprises/{org}/carbon/compliance?year=`: filed reports (stale ones marked), the
//!   verification, the quota position with its forecast, the calendar.
//! - `POST /v1/enterprises/{org}/carbon/what-if?year=`: a scenario (JSON body) through the
//!   enterprise's methodology; nothing is written.
//! - `GET /v1/carbon/compliance?year=&org=A&org=B…`: the compliance years of up to
//!   [`MAX_COMPLIANCE_BATCH`] enterprises in one request (a regulator's page of its region); the
//!   access rules check every `org` named, as for one.

use super::figures::{blocking, csv_response};
use super::{ApiError, ApiState};
use crate::api::limits::RequestClass;
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxumState};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use trustmeter_analytics::figures::{ComplianceView, WhatIfView, compliance, report_csv, report_html, what_if};
use trustmeter_carbon::report::ReportDocument;
use trustmeter_carbon::scenario::Scenario;
use trustmeter_types::UnifiedSocialCreditCode;
use trustmeter_types::compliance::ReportPeriod;
use utoipa::{IntoParams, OpenApi};

/// Largest what-if body, bytes (a scenario is at most 64 measures).
const MAX_SCENARIO_BYTES: usize = 64 * 1024;

/// Enterprises one `GET /v1/carbon/compliance` answers for (a regulator page's top 50).
pub const MAX_COMPLIANCE_BATCH: usize = 50;

/// Which report.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `2026-03` (a monthly deposit) or `2026` (an annual report).
    pub period: Option<String>,
    /// `json` (default: the canonical bytes), `html` or `csv`.
    pub format: Option<String>,
    /// `true`: the document as filed (from this node's evidence store), not a draft.
    pub filed: Option<bool>,
}

/// Which year.
#[derive(Debug, Deserialize, IntoParams)]
pub struct YearQuery {
    /// `YYYY`.
    pub year: Option<String>,
}

fn parse_org(s: &str) -> Result<UnifiedSocialCreditCode, ApiError> {
    UnifiedSocialCreditCode::new(s.trim()).map_err(|e| ApiError::bad_request(format!("org: {e}")))
}

fn parse_year(q: &YearQuery) -> Result<u32, ApiError> {
    let text = q.year.as_deref().ok_or_else(|| ApiError::bad_request("year=YYYY is required, e.g. year=2026"))?;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|y| trustmeter_types::compliance::check_year(*y).is_ok())
        .ok_or_else(|| ApiError::bad_request(format!("year={text:?} is not YYYY (e.g. 2026)")))
}

/// An enterprise's carbon report document (monthly deposit or annual report): a draft from the
/// chain's current data, or the filed version.
#[utoipa::path(get, path = "/v1/enterprises/{org}/carbon/report", params(("org" = String, Path, description = "Unified social credit code"), ReportQuery), responses((status = 200, description = "the document: canonical JSON (`Trustmeter-Report-Hash` header), HTML or CSV", content_type = "application/json", body = ReportDocument), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn report(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    let text = q.period.as_deref().ok_or_else(|| ApiError::bad_request("period=YYYY-MM or YYYY is required"))?;
    let period = ReportPeriod::parse(text.trim()).map_err(ApiError::bad_request)?;
    let format = match q.format.as_deref().map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        None | Some("json") => "json",
        Some("html") => "html",
        Some("csv") => "csv",
        Some(other) => {
            return Err(ApiError::bad_request(format!("format={other:?} is not supported; use json, html or csv")));
        }
    };
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    let store = s.inner.evidence.clone();
    let alg = state.hash_alg();
    let filed = q.filed.unwrap_or(false);
    let (bytes, record) = blocking(move || {
        let record = state.carbon_report(&org, period);
        if filed {
            let r = record.ok_or_else(|| {
                trustmeter_analytics::Error::NotFound(format!("{org} has filed no {} report", period.label()))
            })?;
            let bytes = store.as_ref().and_then(|st| st.get(&org, &r.hash).ok().flatten()).ok_or_else(|| {
                trustmeter_analytics::Error::NotFound(format!(
                    "this node holds no copy of the filed document {}; ask another node or the enterprise",
                    r.hash
                ))
            })?;
            Ok((bytes, Some(r)))
        } else {
            let built = trustmeter_state::compliance::build_report(&state, &org, period)
                .map_err(|e| trustmeter_analytics::Error::NotFound(e.to_string()))?;
            Ok((built.bytes, record.filter(|r| r.hash == built.hash)))
        }
    })
    .await?;
    let hash = trustmeter_crypto::hash(alg, &bytes).to_hex();
    let name = format!("carbon-report-{}", text.trim());
    Ok(match format {
        "json" => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (header::HeaderName::from_static("trustmeter-report-hash"), hash),
            ],
            bytes,
        )
            .into_response(),
        _ => {
            let doc = ReportDocument::from_bytes(&bytes).map_err(ApiError::internal)?;
            if format == "csv" {
                csv_response(&name, report_csv(&doc))
            } else {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8".to_string())],
                    report_html(&doc, &hash, record.as_ref()),
                )
                    .into_response()
            }
        }
    })
}

/// An enterprise's compliance year: filed reports, verification, quota position and forecast,
/// calendar.
#[utoipa::path(get, path = "/v1/enterprises/{org}/carbon/compliance", params(("org" = String, Path, description = "Unified social credit code"), YearQuery), responses((status = 200, body = ComplianceView), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn compliance_year(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<YearQuery>,
) -> Result<Json<ComplianceView>, ApiError> {
    let org = parse_org(&org)?;
    let year = parse_year(&q)?;
    let state = s.app().finalized_state();
    Ok(Json(blocking(move || compliance(&state, &org, year)).await?))
}

/// Query of `GET /v1/carbon/compliance` (documentation; the handler reads the raw query, since
/// `org` repeats).
#[derive(Debug, Deserialize, IntoParams)]
#[allow(dead_code)]
pub struct BatchQuery {
    /// `YYYY`.
    pub year: Option<String>,
    /// An enterprise (unified social credit code); repeated, at most 50.
    pub org: Option<String>,
}

/// The compliance years of several enterprises.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ComplianceBatch {
    /// The year.
    pub year: u32,
    /// One per enterprise asked, in the order asked (duplicates once).
    pub items: Vec<ComplianceView>,
}

/// The compliance years (as `GET /v1/enterprises/{org}/carbon/compliance`) of up to 50
/// enterprises, each named by an `org=` parameter: one request for a regulator's page instead
/// of one per enterprise. Every enterprise named must be readable by the caller (the access
/// rules check each); one that is not a member refuses the whole request (404), naming it.
#[utoipa::path(get, path = "/v1/carbon/compliance", params(BatchQuery), responses((status = 200, body = ComplianceBatch), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn compliance_batch(
    AxumState(s): AxumState<ApiState>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Json<ComplianceBatch>, ApiError> {
    let raw = raw.unwrap_or_default();
    let mut orgs: Vec<UnifiedSocialCreditCode> = Vec::new();
    let mut year = None;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "org" if !v.trim().is_empty() => {
                let o = parse_org(&v)?;
                if !orgs.contains(&o) {
                    if orgs.len() == MAX_COMPLIANCE_BATCH {
                        return Err(ApiError::bad_request(format!(
                            "at most {MAX_COMPLIANCE_BATCH} enterprises (org=) per request"
                        )));
                    }
                    orgs.push(o);
                }
            }
            "org" => {}
            "year" if year.is_none() => year = Some(v.into_owned()),
            "year" => return Err(ApiError::bad_request("year= is given more than once")),
            other => return Err(ApiError::bad_request(format!("unknown parameter {other:?}: year and org are read"))),
        }
    }
    if orgs.is_empty() {
        return Err(ApiError::bad_request("name the enterprises: org=CODE, repeated (at most 50)"));
    }
    let year = parse_year(&YearQuery { year })?;
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    let items =
        blocking(move || orgs.iter().map(|o| compliance(&state, o, year)).collect::<Result<Vec<_>, _>>()).await?;
    Ok(Json(ComplianceBatch { year, items }))
}

/// A what-if scenario over a year (a share of green power, efficiency gains, fuel switches, more
/// certificates): baseline and scenario through the same methodology, and the quota position of
/// each. Nothing is written.
#[utoipa::path(post, path = "/v1/enterprises/{org}/carbon/what-if", params(("org" = String, Path, description = "Unified social credit code"), YearQuery), request_body(content = Scenario, description = "A scenario: green_power_share, extra_certificates_mwh, efficiency [{target, gain}], fuel_switch [{from, to, share, efficiency_ratio}], decimals as strings"), responses((status = 200, body = WhatIfView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn what_if_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<YearQuery>,
    signed: Option<axum::Extension<crate::api::access::SignedDigest>>,
    body: axum::body::Body,
) -> Result<Json<WhatIfView>, ApiError> {
    let org = parse_org(&org)?;
    let body = super::read_limited(body, MAX_SCENARIO_BYTES).await?;
    super::check_signed_body(signed.as_ref().map(|e| &e.0), &body)?;
    let year = parse_year(&q)?;
    let scenario: Scenario =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("scenario: {e}")))?;
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    Ok(Json(blocking(move || what_if(&state, &org, year, &scenario)).await?))
}

/// Which verified figure.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ProofQuery {
    /// The reporting year, `YYYY`.
    pub year: Option<String>,
    /// Days whose daily figures to include as samples, `YYYY-MM-DD`, comma-separated (≤ 31).
    pub days: Option<String>,
}

/// The carbon proof of an enterprise's verified emissions of a year: state proofs of the
/// verification, the filed report's record, the month results, entries and methodologies under one
/// finalized block, the filed report document, and the daily figures of the days asked for;
/// checked offline by `trustmeter verify --carbon`.
#[utoipa::path(get, path = "/v1/enterprises/{org}/carbon/proof", params(("org" = String, Path, description = "Unified social credit code"), ProofQuery), responses((status = 200, description = "a trustmeter-carbon-proof/v1 document", body = trustmeter_client::CarbonProof), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn carbon_proof_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Result<Json<trustmeter_client::CarbonProof>, ApiError> {
    let org = parse_org(&org)?;
    let year = parse_year(&YearQuery { year: q.year.clone() })?;
    let mut days = Vec::new();
    for d in q.days.as_deref().unwrap_or("").split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if days.len() >= 31 {
            return Err(ApiError::bad_request("days: at most 31 days"));
        }
        days.push(
            trustmeter_energy::calendar::parse_day(d)
                .ok_or_else(|| ApiError::bad_request(format!("days: {d:?} is not YYYY-MM-DD")))?,
        );
    }
    let _permit = s.limits().acquire(RequestClass::Proofs)?;
    let state = s.app().committed_state();
    let record = state.carbon_report(&org, ReportPeriod::Year(year)).ok_or_else(|| {
        ApiError::not_found(format!("{org} has no filed {year} annual report in this node's committed state"))
    })?;
    let store = s.inner.evidence.clone().ok_or_else(|| ApiError::not_found("this node keeps no evidence store"))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while s.index().height() < state.height && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (index, genesis) = (s.index().clone(), s.genesis().clone());
    let mut proof = blocking(move || {
        let report = store.get(&org, &record.hash).map_err(|e| trustmeter_analytics::Error::Internal(e.to_string()))?;
        let report = report.ok_or_else(|| {
            trustmeter_analytics::Error::NotFound(format!(
                "this node holds no copy of the filed report {}; ask another node",
                record.hash
            ))
        })?;
        trustmeter_analytics::figures::carbon_proof(&genesis, &index, &state, (&org, year), report, &days)
    })
    .await?;
    // Each certified block's chain of validator sets from the genesis (none in epochs 0 and 1).
    for p in &mut proof.state {
        p.block.epochs = super::proofs::epochs_to(&s, 1, p.block.certified_height()).await?;
    }
    for f in &mut proof.figures {
        f.epochs = super::proofs::epochs_to(&s, 1, f.header.height).await?;
    }
    for b in &mut proof.readings {
        let certified = b.descendants.last().map_or(b.header.height, |d| d.height);
        b.epochs = super::proofs::epochs_to(&s, 1, certified).await?;
    }
    Ok(Json(proof))
}

/// The compliance routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/enterprises/{org}/carbon/proof", get(carbon_proof_handler))
        .route("/v1/enterprises/{org}/carbon/report", get(report))
        .route("/v1/enterprises/{org}/carbon/compliance", get(compliance_year))
        .route("/v1/carbon/compliance", get(compliance_batch))
        .route(
            "/v1/enterprises/{org}/carbon/what-if",
            post(what_if_handler).layer(DefaultBodyLimit::max(MAX_SCENARIO_BYTES)),
        )
}

/// The OpenAPI document of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(report, compliance_year, compliance_batch, what_if_handler, carbon_proof_handler),
    components(schemas(
        ComplianceView,
        ComplianceBatch,
        WhatIfView,
        trustmeter_analytics::figures::FiledReportView,
        trustmeter_analytics::figures::DeadlineView,
        trustmeter_analytics::figures::QuotaPositionView,
        trustmeter_analytics::figures::TotalsView
    ))
)]
pub struct ComplianceDoc;
