//! The figures routes (能耗数据查询): parse the query, take a permit of the request's class
//! ([`crate::limits`]), run the computation of [`trustmeter_analytics::figures`] on a blocking
//! thread over the finalized state and the index, and answer JSON or CSV. Who may ask is decided
//! before a handler runs ([`crate::access`]).

use super::{ApiError, ApiState};
use crate::api::limits::RequestClass;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::time::Duration;
use trustmeter_analytics::figures::*;
use trustmeter_client::FigureProof;
use trustmeter_energy::calendar::Period;
use trustmeter_state::accounting::DailyKey;
use trustmeter_types::DeviceId;
use utoipa::{IntoParams, OpenApi};

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn parse_format(s: Option<&str>) -> Result<Format, ApiError> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(bad(format!("format={other:?} is not supported; use json (default) or csv"))),
    }
}

pub(super) fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        body,
    )
        .into_response()
}

/// Daily figures query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DailyQuery {
    /// The enterprise (unified social credit code).
    pub org: Option<String>,
    /// First day, `YYYY-MM-DD` (Asia/Shanghai).
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`); at most `MAX_RANGE_DAYS` (3 660) days.
    pub to: Option<String>,
    /// Only this energy kind (`electricity`, `water`, `natural_gas`, ...).
    pub energy: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// An enterprise's consensus daily figures (日能耗), each with its proof link.
#[utoipa::path(get, path = "/v1/figures/daily", params(DailyQuery), responses((status = 200, body = DailyFiguresView), (status = 200, description = "format=csv: text/csv with a header row", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn daily_handler(AxumState(s): AxumState<ApiState>, Query(q): Query<DailyQuery>) -> Result<Response, ApiError> {
    let org = parse_org(q.org.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let energy = q.energy.as_deref().map(parse_energy).transpose()?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = blocking(move || daily(&state, &org, range, energy)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("daily-{}-{}-{}", v.org, v.from, v.to), daily_csv(&v)),
    })
}

/// Runs a computation on a blocking thread (it may read the index and take seconds).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, trustmeter_analytics::Error> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)??)
}

/// Series query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SeriesQuery {
    /// `meter`, `location`, `org` or `region`.
    pub scope: Option<String>,
    /// Meter id, location path prefix (`site-01/stamping`), credit code or region code.
    pub id: Option<String>,
    /// The enterprise of a location path (required for `scope=location`).
    pub org: Option<String>,
    /// Energy kind (required except for `scope=meter`).
    pub energy: Option<String>,
    /// Unit, when the kind appears in several (e.g. `Nm3`).
    pub unit: Option<String>,
    /// `15m`, `hour`, `day` (default), `month` or `year`; `org`/`region` series: day or coarser.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`). Derived series: at most 366 days; others 3 660.
    pub to: Option<String>,
    /// Most points (default 2 000, at most 50 000); more periods coarsen the period.
    pub max_points: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Parses a series query into a request.
pub fn series_request(q: &SeriesQuery) -> Result<SeriesRequest, ApiError> {
    let id = q.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let need_id = |what: &str| id.ok_or_else(|| bad(format!("id=<{what}> is required for this scope")));
    let scope = match q.scope.as_deref().map(str::trim) {
        Some("meter") => {
            Scope::Meter(DeviceId::new(need_id("meter id")?).map_err(|e| bad(format!("id is not a meter id: {e}")))?)
        }
        Some("location") => {
            let org = parse_org(q.org.as_deref()).map_err(|e| {
                bad(format!(
                    "scope=location needs org=<credit code>: location paths are per enterprise ({})",
                    e.message()
                ))
            })?;
            let prefix: Vec<String> = need_id("location path such as site-01/stamping")?
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Scope::Location { org, prefix }
        }
        Some("org") => Scope::Org(parse_org(Some(need_id("credit code")?))?),
        Some("region") => Scope::Region(Region::parse(Some(need_id("region code")?))?),
        Some(other) => return Err(bad(format!("scope={other:?} is not one of meter, location, org, region"))),
        None => return Err(bad("scope= is required: meter, location, org or region")),
    };
    let derived = matches!(scope, Scope::Meter(_) | Scope::Location { .. });
    let period = match q.period.as_deref() {
        None => Period::Day,
        Some(p) => Period::parse(p.trim())
            .ok_or_else(|| bad(format!("period={p:?} is not one of 15m, hour, day, month, year")))?,
    };
    Ok(SeriesRequest {
        scope,
        energy: q.energy.as_deref().map(parse_energy).transpose()?,
        unit: q.unit.as_deref().map(parse_unit).transpose()?,
        period,
        range: DayRange::parse(
            q.from.as_deref(),
            q.to.as_deref(),
            if derived { MAX_DERIVED_RANGE_DAYS } else { MAX_RANGE_DAYS },
        )?,
        max_points: q.max_points.unwrap_or(DEFAULT_MAX_POINTS),
    })
}

/// A time series per 15 minutes, hour, day, month or year: of a meter or a location (derived from
/// readings) or of an enterprise or a region (sums of consensus daily figures, with proof links).
/// More periods than `max_points` coarsen the period, and the response says so.
#[utoipa::path(get, path = "/v1/figures/series", params(SeriesQuery), responses((status = 200, body = SeriesView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn series_handler(AxumState(s): AxumState<ApiState>, Query(q): Query<SeriesQuery>) -> Result<Response, ApiError> {
    let req = series_request(&q)?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Series, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    let v = blocking(move || series(&state, &index, &req)).await?;
    Ok(match format {
        Format::Json => ([(header::CONTENT_TYPE, "application/json")], series_json(v)).into_response(),
        Format::Csv => csv_response(&format!("series-{}-{}-{}", v.scope, v.period, v.from), series_csv(&v)),
    })
}

/// Breakdown query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BreakdownQuery {
    /// The enterprise.
    pub org: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`).
    pub to: Option<String>,
    /// `energy` (default), `location` or `tier`.
    pub by: Option<String>,
    /// Location depth 1–4 (site, workshop, line, equipment); default 2.
    pub depth: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// An enterprise's consumption by energy kind or tariff tier (sums of consensus daily figures), or
/// by location (derived from its meters' readings, grouped by location path at `depth`).
#[utoipa::path(get, path = "/v1/figures/breakdown", params(BreakdownQuery), responses((status = 200, body = BreakdownView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn breakdown_handler(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<BreakdownQuery>,
) -> Result<Response, ApiError> {
    let org = parse_org(q.org.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let by = match q.by.as_deref().map(str::trim) {
        None | Some("energy") => BreakdownBy::Energy,
        Some("tier") => BreakdownBy::Tier,
        Some("location") => {
            let d = q.depth.unwrap_or(DEFAULT_LOCATION_DEPTH);
            if !(1..=4).contains(&d) {
                return Err(bad(format!("depth={d} must be 1 (site) to 4 (equipment)")));
            }
            BreakdownBy::Location(d)
        }
        Some(other) => return Err(bad(format!("by={other:?} is not one of energy, location, tier"))),
    };
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    let v = blocking(move || breakdown(&state, &index, &org, range, by)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("breakdown-{}-{}-{}", v.org, v.by, v.from), breakdown_csv(&v)),
    })
}

/// Ranking query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RankingQuery {
    /// Region code: `430000` (province, matches 43xxxx), `430100` (city, 4301xx) or a county.
    pub region: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`).
    pub to: Option<String>,
    /// `equivalent` (default) or `equal_value`.
    pub basis: Option<String>,
    /// Most entries (default 100, at most 1 000).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Enterprises of a region (province 430000 matches 43xxxx, city 430100 matches 4301xx) ranked by
/// comprehensive energy consumption in standard coal, from consensus daily figures.
#[utoipa::path(get, path = "/v1/figures/ranking", params(RankingQuery), responses((status = 200, body = RankingView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn ranking_handler(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<RankingQuery>,
) -> Result<Response, ApiError> {
    let region = Region::parse(q.region.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let basis = parse_basis(q.basis.as_deref())?;
    let n = q.limit.unwrap_or(DEFAULT_RANKING_LIMIT);
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = blocking(move || ranking(&state, region, range, basis, n)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("ranking-{}-{}-{}", v.region, v.from, v.to), ranking_csv(&v)),
    })
}

/// Enterprise energy query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EnterpriseEnergyQuery {
    /// The month, `YYYYMM` (Asia/Shanghai).
    pub month: Option<String>,
}

/// An enterprise's comprehensive energy consumption (综合能耗) in a month on both bases, per kind,
/// unit-product consumption (单位产品能耗) per product of its monthly report, and the deviation of
/// the daily figures from that report per kind (5 % rule).
#[utoipa::path(get, path = "/v1/enterprises/{org}/energy", params(("org" = String, Path, description = "Unified social credit code"), EnterpriseEnergyQuery), responses((status = 200, body = EnterpriseEnergyView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn enterprise_energy_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<EnterpriseEnergyQuery>,
) -> Result<Json<EnterpriseEnergyView>, ApiError> {
    let org = parse_org(Some(&org))?;
    let text = q.month.ok_or_else(|| bad("month=YYYYMM is required, e.g. month=202611"))?;
    let month: u32 = text.trim().parse().map_err(|_| bad(format!("month={text:?} is not YYYYMM (e.g. 202611)")))?;
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    blocking(move || enterprise_energy(&state, &org, month)).await.map(Json)
}

/// Enterprise carbon query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EnterpriseCarbonQuery {
    /// The month, `YYYYMM` (Asia/Shanghai).
    pub month: Option<String>,
    /// Methodology id (default `GB/T 32150-2015`), in the version in force on the month's first day.
    pub methodology: Option<String>,
}

/// An enterprise's emissions in a month from its metered energy (derived from the consensus daily
/// figures, with the methodology version the chain has in force): per source and gas, the
/// standard's total and the dual Scope 2, every factor with its source, and the metered energy
/// that could not be converted, with why.
#[utoipa::path(get, path = "/v1/enterprises/{org}/carbon", params(("org" = String, Path, description = "Unified social credit code"), EnterpriseCarbonQuery), responses((status = 200, body = CarbonMonthView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn enterprise_carbon_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<EnterpriseCarbonQuery>,
) -> Result<Json<CarbonMonthView>, ApiError> {
    let org = parse_org(Some(&org))?;
    let text = q.month.ok_or_else(|| bad("month=YYYYMM is required, e.g. month=202611"))?;
    let month: u32 = text.trim().parse().map_err(|_| bad(format!("month={text:?} is not YYYYMM (e.g. 202611)")))?;
    if q.methodology.as_ref().is_some_and(|m| m.is_empty() || m.len() > 64) {
        return Err(bad("methodology: 1 to 64 bytes, e.g. GB/T 32151.29-2024"));
    }
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    blocking(move || carbon_month(&state, &org, month, q.methodology.as_deref())).await.map(Json)
}

/// Carbon year query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CarbonYearQuery {
    /// The year, `YYYY`.
    pub year: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// An enterprise's carbon year: the chain's twelve month results (`carbon_result`, each
/// provable) and their sums; `format=csv` for a spreadsheet (one row per month and a total).
#[utoipa::path(get, path = "/v1/enterprises/{org}/carbon/year", params(("org" = String, Path, description = "Unified social credit code"), CarbonYearQuery), responses((status = 200, body = CarbonYearView), (status = 200, description = "format=csv: text/csv with a header row", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn enterprise_carbon_year_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<CarbonYearQuery>,
) -> Result<Response, ApiError> {
    let org = parse_org(Some(&org))?;
    let text = q.year.ok_or_else(|| bad("year=YYYY is required, e.g. year=2026"))?;
    let year: i32 = text.trim().parse().map_err(|_| bad(format!("year={text:?} is not YYYY (e.g. 2026)")))?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = blocking(move || carbon_year(&state, &org, year)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("carbon-{}-{}", v.org, v.year), carbon_year_csv(&v)),
    })
}

/// Shifts query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ShiftsQuery {
    /// First production day, `YYYY-MM-DD` (Asia/Shanghai).
    pub from: Option<String>,
    /// Last production day, inclusive (default: `from`); at most 366 days (derived from readings).
    pub to: Option<String>,
    /// Only this energy kind (`electricity`, `natural_gas`, …); standard coal and unit consumption
    /// then count it alone.
    pub energy: Option<String>,
    /// `json` (default) or `csv` (one row per shift instance and product).
    pub format: Option<String>,
}

/// Per-shift and per-team unit consumption (班次、班组单耗): every shift instance of the
/// enterprise's calendar (排班表) over the days — its window, team (班组, as recorded or from the
/// rotation), energy per kind in the window derived from the enterprise's indexed readings with
/// the chain's interval rules (`derived: true`), standard coal on both bases, the output the
/// enterprise recorded per product and the unit consumption (kgce per unit, kWh per unit) — and a
/// comparison per shift and per team over the range (totals, mean unit consumption, best and
/// worst). Bounded like the derived series (366 days, 1 000 meters, 2 000 000 readings).
#[utoipa::path(get, path = "/v1/enterprises/{org}/shifts", params(("org" = String, Path, description = "Unified social credit code"), ShiftsQuery), responses((status = 200, body = ShiftsView), (status = 200, description = "format=csv: text/csv with a header row, one row per shift instance and product", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, description = "not a member, or no shift calendar", body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn shifts_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<ShiftsQuery>,
) -> Result<Response, ApiError> {
    let org = parse_org(Some(&org))?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_DERIVED_RANGE_DAYS)?;
    let energy = q.energy.as_deref().map(parse_energy).transpose()?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Series, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    let req = ShiftsRequest { org, range, energy };
    let v = blocking(move || shifts(&state, &index, &req)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("shifts-{}-{}-{}", v.org, v.from, v.to), shifts_csv(&v)),
    })
}

/// Balance query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BalanceQuery {
    /// First day, `YYYY-MM-DD` (Asia/Shanghai).
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`); at most 92 days (a figure per meter and day).
    pub to: Option<String>,
    /// `json` (default) or `csv` (one row per master meter and day, then its range total).
    pub format: Option<String>,
}

/// Master/sub-meter balance (总分表平衡): for each master meter of the enterprise (a meter other
/// meters name as their master), per day and over the range, the master's consumption, the sum of
/// its sub-meters', the difference and the loss rate (difference ÷ master, percent, exact to
/// 0.0001), each sub-meter's figures, and whether the data behind each number are complete (the
/// day over, covered by readings on both sides, no gap, ≥ 90 % of the collection points).
/// Derived from the indexed readings with the chain's interval rules (`derived: true`); bounded by
/// 92 days, 1 000 meters and 2 000 000 readings, and a series permit.
#[utoipa::path(get, path = "/v1/enterprises/{org}/balance", params(("org" = String, Path, description = "Unified social credit code"), BalanceQuery), responses((status = 200, body = BalanceView), (status = 200, description = "format=csv: text/csv with a header row, one row per master meter and day", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, description = "not a member", body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn balance_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<BalanceQuery>,
) -> Result<Response, ApiError> {
    let org = parse_org(Some(&org))?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_BALANCE_RANGE_DAYS)?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Series, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    let req = BalanceRequest { org, range };
    let v = blocking(move || balance(&state, &index, &req)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("balance-{}-{}-{}", v.org, v.from, v.to), balance_csv(&v)),
    })
}

/// Quality query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QualityQuery {
    /// One enterprise (give `org` or `region`).
    pub org: Option<String>,
    /// All enterprises of a region.
    pub region: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Data-quality indices per enterprise and summed for a region: completeness against the 90 % rule
/// (points in daily figures vs active meters × nominal slots, as of the finalized state),
/// timeliness, accuracy (meters calibrated at the end of the range) and the deviation of daily
/// figures from monthly reports of whole months in the range (5 % rule).
#[utoipa::path(get, path = "/v1/quality", params(QualityQuery), responses((status = 200, body = QualityView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn quality_handler(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<QualityQuery>,
) -> Result<Response, ApiError> {
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = match (q.org.as_deref(), q.region.as_deref()) {
        (Some(o), None) => {
            let org = parse_org(Some(o))?;
            blocking(move || quality(&state, QualityScope::Org(&org), range)).await?
        }
        (None, Some(r)) => {
            let region = Region::parse(Some(r))?;
            blocking(move || quality(&state, QualityScope::Region(region), range)).await?
        }
        _ => return Err(bad("give either org=<credit code> or region=<region code>, not both")),
    };
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("quality-{}-{}", v.from, v.to), quality_csv(&v)),
    })
}

/// TOU query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TouQuery {
    /// The enterprise.
    pub org: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`); at most 366 days.
    pub to: Option<String>,
}

/// Time-of-use (分时) electricity of an enterprise: kWh and cost per tier from consensus daily
/// figures (cost when the schedule gives prices, else `null` with a note), and for multi-rate
/// meters the reconciliation of their tariff registers against the schedule's split of the total
/// register (derived from readings), flagging a mismatch.
#[utoipa::path(get, path = "/v1/figures/tou", params(TouQuery), responses((status = 200, body = TouView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn tou_handler(AxumState(s): AxumState<ApiState>, Query(q): Query<TouQuery>) -> Result<Json<TouView>, ApiError> {
    let org = parse_org(q.org.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_DERIVED_RANGE_DAYS)?;
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    blocking(move || tou(&state, &index, &org, range)).await.map(Json)
}

/// The audit policy (审核规则) in force and all deployed versions.
#[utoipa::path(get, path = "/v1/policy", responses((status = 200, body = PolicyView)))]
async fn policy_handler(AxumState(s): AxumState<ApiState>) -> Json<PolicyView> {
    Json(policy(&s.app().finalized_state()))
}

/// A daily figure's proof: the state proof of `StateKey::Daily` against the state root of a
/// finalized block, with that block's header and finalization certificate. Check it offline with
/// `trustmeter verify --figure FILE`.
#[utoipa::path(get, path = "/v1/proofs/daily/{org}/{day}/{energy}/{unit}", params(("org" = String, Path, description = "Unified social credit code"), ("day" = String, Path, description = "Local date YYYY-MM-DD"), ("energy" = String, Path, description = "Energy kind, e.g. electricity"), ("unit" = String, Path, description = "Unit symbol, e.g. kWh")), responses((status = 200, description = "A FigureProof (JSON)", body = trustmeter_client::FigureProof), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn proof_handler(
    AxumState(s): AxumState<ApiState>,
    Path((org, day, energy, unit)): Path<(String, String, String, String)>,
) -> Result<Json<FigureProof>, ApiError> {
    let key = DailyKey {
        org: parse_org(Some(&org))?,
        day: parse_date(&day, "day")?,
        energy: parse_energy(&energy)?,
        unit: parse_unit(&unit)?,
    };
    let _permit = s.limits().acquire(RequestClass::Proofs)?;
    // Proven from the state the store holds (group commit: it trails the finalized state by at
    // most a second of blocks; a figure first finalized since is proven once the store has it).
    let mut state = s.app().committed_state();
    if state.daily(&key).is_none() {
        let finalized = s.app().finalized_state();
        if finalized.daily(&key).is_some() {
            if !super::wait_for_commit(&s, finalized.height).await {
                return Err(ApiError::unavailable(
                    "the figure was finalized a moment ago and is not in this node's state store yet; retry in a second",
                )
                .with_retry_after(1));
            }
            state = s.app().committed_state();
        }
    }
    if state.daily(&key).is_none() {
        return Err(ApiError::not_found(format!(
            "the chain has no {} figure in {} for {} on {day}; list the enterprise's figures with /v1/figures/daily?org={}&from={day}",
            energy_name(key.energy),
            key.unit.symbol(),
            key.org,
            key.org
        )));
    }
    let deadline = tokio::time::Instant::now() + INDEX_WAIT;
    while s.index().height() < state.height && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let index = s.index().clone();
    let genesis = s.genesis().clone();
    let mut proof = blocking(move || figure_proof(&genesis, &index, &state, &key)).await?;
    // The chain of validator sets from the genesis to the block's epoch (none in epochs 0 and 1).
    proof.epochs = super::proofs::epochs_to(&s, 1, proof.header.height).await?;
    Ok(Json(proof))
}

/// The figures routes (merged into the API router).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/figures/daily", get(daily_handler))
        .route("/v1/figures/series", get(series_handler))
        .route("/v1/figures/breakdown", get(breakdown_handler))
        .route("/v1/figures/ranking", get(ranking_handler))
        .route("/v1/figures/tou", get(tou_handler))
        .route("/v1/enterprises/{org}/energy", get(enterprise_energy_handler))
        .route("/v1/enterprises/{org}/carbon", get(enterprise_carbon_handler))
        .route("/v1/enterprises/{org}/carbon/year", get(enterprise_carbon_year_handler))
        .route("/v1/enterprises/{org}/shifts", get(shifts_handler))
        .route("/v1/enterprises/{org}/balance", get(balance_handler))
        .route("/v1/quality", get(quality_handler))
        .route("/v1/policy", get(policy_handler))
        .route("/v1/proofs/daily/{org}/{day}/{energy}/{unit}", get(proof_handler))
}

/// The figures part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        daily_handler,
        series_handler,
        breakdown_handler,
        ranking_handler,
        tou_handler,
        enterprise_energy_handler,
        enterprise_carbon_handler,
        enterprise_carbon_year_handler,
        shifts_handler,
        balance_handler,
        quality_handler,
        policy_handler,
        proof_handler
    ),
    components(schemas(
        TierAmount,
        DailyFigureView,
        DailyFiguresView,
        SeriesPoint,
        SeriesView,
        BreakdownRow,
        BreakdownView,
        KindTotal,
        RankingEntry,
        RankingView,
        MonthKind,
        UnitProductView,
        EnterpriseEnergyView,
        CarbonMonthView,
        CarbonLineView,
        CarbonYearView,
        CarbonYearMonthView,
        CarbonFactorView,
        UnconvertedView,
        DeviationView,
        QualityEntry,
        QualityView,
        TouTier,
        TouReconciliationView,
        TouView,
        PolicyVersionView,
        PolicyView,
        ShiftsView,
        ShiftInstanceView,
        ShiftEnergy,
        ShiftProductView,
        ShiftComparisonView,
        ShiftGroupView,
        ShiftGroupProduct,
        ShiftBestWorst,
        ShiftPick,
        ShiftCalendarView,
        ShiftDefView,
        BalanceView,
        MasterBalance,
        BalanceRow,
        BalanceFigure,
        BalanceMeter,
        BalanceSubMeter
    ))
)]
pub struct FiguresDoc;
