//! Carbon methodologies (核算方法学) deployed on the chain: a paged list and one document. Public:
//! a methodology is a published standard every member computes with.

use super::{ApiError, ApiState};
use crate::api::paging::{
    DEFAULT_PAGE_LIMIT, ListKind, MAX_PAGE_LIMIT, PageQuery, decode_cursor, encode_cursor, page_limit,
};
use axum::extract::{Query, State as AxumState};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use trustmeter_energy::calendar::{day_label, parse_day};
use trustmeter_state::MethodologyRecord;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Longest methodology id a query may name (as the document format allows).
const MAX_ID_BYTES: usize = 64;

/// A deployed methodology version, without its text.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodologySummary {
    /// Methodology id (`GB/T 32151.29-2024`).
    pub id: String,
    /// Version.
    pub version: u32,
    /// Title.
    pub title: String,
    /// First day it applies to, `YYYY-MM-DD` (Asia/Shanghai).
    pub effective_from: String,
    /// Last day it applies to, if it ends.
    pub effective_to: Option<String>,
    /// Height of the block that deployed it (0: shipped with genesis).
    pub deployed_height: u64,
    /// The organisation that deployed it (`null`: shipped with genesis).
    pub deployed_by: Option<String>,
}

/// A deployed methodology version with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodologyView {
    /// What the list shows.
    #[serde(flatten)]
    pub summary: MethodologySummary,
    /// The document (TOML), verbatim.
    pub text: String,
}

/// A page of methodologies.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodologiesPage {
    /// By id, then version.
    pub items: Vec<MethodologySummary>,
    /// Cursor of the next page (`?after=`), `null` on the last page.
    pub next: Option<String>,
}

/// Which methodology document.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MethodologyQuery {
    /// Methodology id, e.g. `GB/T 32151.29-2024` (percent-encoded in a URL).
    pub id: String,
    /// A version; absent: the version in force on `day`, or the latest if no day is given.
    pub version: Option<u32>,
    /// `YYYY-MM-DD`: the version whose effective period contains this day.
    pub day: Option<String>,
}

fn summary(m: &MethodologyRecord) -> MethodologySummary {
    MethodologySummary {
        id: m.id.clone(),
        version: m.version,
        title: m.title.clone(),
        effective_from: day_label(m.effective_from),
        effective_to: m.effective_to.map(day_label),
        deployed_height: m.deployed_height,
        deployed_by: m.deployed_by.as_ref().map(|o| o.to_string()),
    }
}

fn cursor_key(id: &str, version: u32) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn parse_cursor(cursor: &str) -> Result<(String, u32), ApiError> {
    let key = decode_cursor(ListKind::Methodologies, cursor)?;
    let bad = || ApiError::bad_request("methodologies cursor: malformed; pass the `next` value unchanged");
    let split = key.len().checked_sub(5).ok_or_else(bad)?;
    let (id, rest) = key.split_at(split);
    if rest[0] != 0 {
        return Err(bad());
    }
    let version = u32::from_be_bytes(rest[1..5].try_into().map_err(|_| bad())?);
    let id = String::from_utf8(id.to_vec()).map_err(|_| bad())?;
    Ok((id, version))
}

/// Every deployed carbon methodology version, by id then version, a page at a time.
#[utoipa::path(get, path = "/v1/methodologies", params(PageQuery), responses((status = 200, body = MethodologiesPage), (status = 400, body = ApiError)))]
async fn methodologies(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<MethodologiesPage>, ApiError> {
    let limit = page_limit(q.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    let state = s.app().finalized_state();
    let mut items = state.methodologies(after.as_ref().map(|(id, v)| (id.as_str(), *v)), limit + 1);
    let more = items.len() > limit;
    items.truncate(limit);
    let next = match (more, items.last()) {
        (true, Some(m)) => Some(encode_cursor(ListKind::Methodologies, &cursor_key(&m.id, m.version))),
        _ => None,
    };
    Ok(Json(MethodologiesPage { items: items.iter().map(summary).collect(), next }))
}

/// One methodology document: a given version, the version in force on a day, or the latest.
#[utoipa::path(get, path = "/v1/methodology", params(MethodologyQuery), responses((status = 200, body = MethodologyView), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn methodology(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<MethodologyQuery>,
) -> Result<Json<MethodologyView>, ApiError> {
    if q.id.is_empty() || q.id.len() > MAX_ID_BYTES || q.id.contains('\0') {
        return Err(ApiError::bad_request(format!("id: 1 to {MAX_ID_BYTES} bytes, e.g. GB/T 32151.29-2024")));
    }
    let state = s.app().finalized_state();
    let found = match (q.version, q.day.as_deref()) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give a version or a day, not both")),
        (Some(v), None) => state.methodology(&q.id, v),
        (None, Some(d)) => {
            let day = parse_day(d).ok_or_else(|| ApiError::bad_request(format!("day {d:?} is not YYYY-MM-DD")))?;
            state.methodology_on(&q.id, day)
        }
        (None, None) => match state.latest_methodology_version(&q.id) {
            0 => None,
            v => state.methodology(&q.id, v),
        },
    };
    let m = found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no deployed methodology {} matches; GET /v1/methodologies lists every version",
            q.id
        ))
    })?;
    Ok(Json(MethodologyView { summary: summary(&m), text: m.text }))
}

/// The carbon routes (merged into the API router).
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/methodologies", get(methodologies)).route("/v1/methodology", get(methodology))
}

/// The carbon part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(methodologies, methodology),
    components(schemas(MethodologySummary, MethodologyView, MethodologiesPage))
)]
pub struct CarbonDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = encode_cursor(ListKind::Methodologies, &cursor_key("GB/T 32150-2015", 7));
        assert_eq!(parse_cursor(&c).unwrap(), ("GB/T 32150-2015".to_string(), 7));
        for bad in [
            "",
            "zz",
            &encode_cursor(ListKind::Methodologies, b"ab"),
            &encode_cursor(ListKind::Meters, b"x\0\0\0\0\x01"),
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
