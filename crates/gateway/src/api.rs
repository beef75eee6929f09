//! The gateway's local HTTP API (loopback by default): status, queries and exports of the local
//! store, manual entry and file import. `trustmeter gateway status|readings|manual|import|rejected`
//! are thin clients of it.
//!
//! | Route | What |
//! |---|---|
//! | `GET /status` | [`StatusReport`]: points, destinations with backlog, alarms, clock |
//! | `GET /metrics` | Prometheus metrics ([`crate::metrics`]): backlog per destination, readings produced, batches sent/settled/refused, store size |
//! | `GET /readings?meter=&from=&to=&limit=&format=json\|csv` | stored readings |
//! | `GET /rejected?destination=&limit=` | readings a chain rejected, with reasons |
//! | `POST /manual` | `{meter, value, unit, timestamp_ms?}`: a hand-entered reading (手工填报) |
//! | `POST /import` | a CSV (`text/csv`) or JSON file of historical readings |
//!
//! The API is the operator's, not a web page's ([`ApiGuard`], on every route): a request must name
//! a `Host` the gateway answers to (loopback, `localhost`, its `listen` address, `api_hosts`), so
//! a web page cannot reach it through a DNS name rebound to 127.0.0.1; a request carrying an
//! `Origin` must come from one of `api_origins` (none by default), so a page open in a browser on
//! the enterprise's network cannot send it one; and the writes (`/manual`, `/import`) need the
//! operator token (`Authorization: Bearer`, from `operator.token` in the data directory) and
//! their declared content type (`application/json`; `text/csv` or `application/json`), never a
//! form or `text/plain` body a page may send without asking.

use crate::Runtime;
use crate::producer::{Item, Produced};
use crate::status::StatusReport;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trustmeter_types::{DeviceId, Quantity, ReadingOrigin, RegisterKind};

/// Largest request body (an import file), in bytes.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// An error answer: the same shape as the node API's, with the same stable codes
/// (`trustmeter_httpserve::error_code`: `bad_request`, `unauthorised`, `forbidden`, `not_found`,
/// `unsupported_media_type`, `too_large`, `internal`, …).
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code of the kind of error.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

fn err(status: StatusCode, e: impl std::fmt::Display) -> Response {
    let code = trustmeter_httpserve::error_code(status).to_string();
    (status, Json(ErrorBody { code, message: e.to_string() })).into_response()
}

/// Who may call the local API: its operator token and the hosts and origins it answers.
#[derive(Clone)]
pub struct ApiGuard {
    /// The operator token (`operator.token`).
    pub token: zeroize::Zeroizing<String>,
    /// The API's own address.
    pub listen: std::net::SocketAddr,
    /// Further host names it answers to (lowercase, `name` or `name:port`).
    pub hosts: Vec<String>,
    /// Web origins allowed (lowercase).
    pub origins: Vec<String>,
}

impl std::fmt::Debug for ApiGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiGuard").field("listen", &self.listen).field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

impl ApiGuard {
    /// Whether `host` (a `Host` header: `name`, `name:port`, `[v6]:port`) is one this API answers.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default().to_string(),
            None => host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n).to_string(),
        };
        name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip == self.listen.ip())
            || self.hosts.iter().any(|h| *h == host || *h == name)
    }

    /// What is wrong with a request's origin, host and (for writes) token and content type.
    fn check(&self, method: &axum::http::Method, path: &str, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
        let header = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
        match header(header::HOST) {
            Some(h) if self.host_allowed(h) => {}
            Some(h) => {
                return Err((
                    StatusCode::FORBIDDEN,
                    format!(
                        "this gateway does not answer to host {h:?}; reach it by a loopback address or a name listed in [gateway] api_hosts"
                    ),
                ));
            }
            None => return Err((StatusCode::BAD_REQUEST, "a request names its Host".into())),
        }
        if let Some(origin) = header(header::ORIGIN)
            && !self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin.trim()))
        {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "requests from web origin {origin:?} are refused: the gateway's API is its operator's (list an origin in [gateway] api_origins to allow it)"
                ),
            ));
        }
        if method == axum::http::Method::POST {
            let given = header(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
            if !trustmeter_keystore::token_matches(&self.token, given.trim()) {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "manual entry and import need the operator token: Authorization: Bearer <the contents of operator.token in the gateway's data directory>".into(),
                ));
            }
            let ctype = header(header::CONTENT_TYPE).unwrap_or_default().to_ascii_lowercase();
            let media = ctype.split(';').next().unwrap_or_default().trim().to_string();
            let allowed: &[&str] =
                if path == "/import" { &["text/csv", "application/json"] } else { &["application/json"] };
            if !allowed.contains(&media.as_str()) {
                return Err((
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{path} takes Content-Type {}, not {ctype:?}", allowed.join(" or ")),
                ));
            }
        }
        Ok(())
    }
}

async fn guard(State(rt): State<Arc<Runtime>>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match rt.guard.check(req.method(), req.uri().path(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err((status, why)) => err(status, why),
    }
}

/// Builds the router.
pub fn router(rt: Arc<Runtime>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/readings", get(readings))
        .route("/rejected", get(rejected))
        .route("/manual", post(manual))
        .route("/import", post(import))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(rt.clone(), guard))
        // The framework's own refusals (a malformed body or query, an unknown route) as JSON too.
        .layer(axum::middleware::map_response(|r| {
            trustmeter_httpserve::json_errors(
                r,
                "no such route; the gateway serves / (its status page), /status, /metrics, /readings, /rejected, /manual and /import",
            )
        }))
        .with_state(rt)
}

async fn status(State(rt): State<Arc<Runtime>>) -> Response {
    match tokio::task::spawn_blocking(move || rt.status()).await {
        Ok(Ok(s)) => Json::<StatusReport>(s).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /`: the status page (HTML, no script, refreshed every 5 s).
async fn status_page(State(rt): State<Arc<Runtime>>) -> Response {
    match tokio::task::spawn_blocking(move || rt.status()).await {
        Ok(Ok(s)) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            crate::status_page::render(&s),
        )
            .into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn metrics(State(rt): State<Arc<Runtime>>) -> Response {
    let r = rt.clone();
    match tokio::task::spawn_blocking(move || r.status()).await {
        Ok(Ok(s)) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], rt.metrics.render(&s)).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Query of `GET /readings`.
#[derive(Debug, Deserialize)]
pub struct ReadingsQuery {
    /// Only this meter.
    pub meter: Option<String>,
    /// From (Unix ms, inclusive).
    pub from: Option<i64>,
    /// To (Unix ms, exclusive).
    pub to: Option<i64>,
    /// Most rows.
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One stored reading, as exported.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone)]
pub struct ReadingRow {
    /// Store id.
    pub id: u64,
    /// Meter.
    pub meter: String,
    /// Sequence number.
    pub seq: u64,
    /// Collection time (Unix ms).
    pub timestamp_ms: i64,
    /// Collection time, Asia/Shanghai.
    pub local_time: String,
    /// Value (decimal text).
    pub value: String,
    /// Unit symbol.
    pub unit: String,
    /// `online`, `manual` or `imported`.
    pub origin: String,
    /// Clock suspect at collection.
    pub clock_suspect: bool,
    /// The 15-minute boundary it is aligned to, if on the grid.
    pub interval_boundary_ms: Option<i64>,
    /// Signature (`<scheme>:<hex>`).
    pub signature: String,
}

async fn readings(State(rt): State<Arc<Runtime>>, Query(q): Query<ReadingsQuery>) -> Response {
    let meter = match q.meter.as_deref().map(DeviceId::new).transpose() {
        Ok(m) => m,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return err(StatusCode::BAD_REQUEST, format!("format {other:?}: use json or csv")),
    };
    let store = rt.store.clone();
    let rows = tokio::task::spawn_blocking(move || {
        store.query(meter.as_ref(), q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX), q.limit.unwrap_or(100_000))
    })
    .await;
    let rows = match rows {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => return err(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let rows: Vec<ReadingRow> = rows
        .into_iter()
        .map(|(id, s)| {
            let r = &s.signed.reading;
            ReadingRow {
                id,
                meter: r.meter.to_string(),
                seq: r.seq,
                timestamp_ms: r.timestamp_ms,
                local_time: crate::time::local_text(r.timestamp_ms),
                value: r.value.to_string(),
                unit: r.unit.symbol().to_string(),
                origin: r.origin.as_str().to_string(),
                clock_suspect: r.clock_suspect,
                interval_boundary_ms: s.interval_start_ms,
                signature: s.signed.signature.to_text(),
            }
        })
        .collect();
    if csv {
        let mut out = String::from(
            "id,meter,seq,timestamp_ms,local_time,value,unit,origin,clock_suspect,interval_boundary_ms,signature\n",
        );
        for r in rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                r.id,
                r.meter,
                r.seq,
                r.timestamp_ms,
                r.local_time,
                r.value,
                r.unit,
                r.origin,
                r.clock_suspect,
                r.interval_boundary_ms.map(|v| v.to_string()).unwrap_or_default(),
                r.signature
            ));
        }
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    }
    Json(rows).into_response()
}

/// Query of `GET /rejected`.
#[derive(Debug, Deserialize)]
pub struct RejectedQuery {
    /// Destination name.
    pub destination: String,
    /// Most rows.
    pub limit: Option<usize>,
}

/// A rejected reading.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RejectedRow {
    /// Store id.
    pub id: u64,
    /// Meter, if the reading is still stored.
    pub meter: Option<String>,
    /// Sequence number.
    pub seq: Option<u64>,
    /// Rejection code.
    pub code: String,
    /// The chain's reason.
    pub message: String,
}

async fn rejected(State(rt): State<Arc<Runtime>>, Query(q): Query<RejectedQuery>) -> Response {
    let store = rt.store.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<Vec<RejectedRow>, crate::store::StoreError> {
        let mut out = Vec::new();
        for (id, rej) in store.rejected(&q.destination, q.limit.unwrap_or(10_000))? {
            let s = store.get(id)?;
            out.push(RejectedRow {
                id,
                meter: s.as_ref().map(|s| s.signed.reading.meter.to_string()),
                seq: s.as_ref().map(|s| s.signed.reading.seq),
                code: rej.code.as_str().to_string(),
                message: rej.message,
            });
        }
        Ok(out)
    })
    .await;
    match r {
        Ok(Ok(rows)) => Json(rows).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Body of `POST /manual`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManualEntry {
    /// Meter id.
    pub meter: String,
    /// Value, decimal text.
    pub value: String,
    /// Unit, by its symbol (`kWh`; the older name `kilowatt_hour` is still read).
    pub unit: String,
    /// When the value was read off the meter (Unix ms); default now.
    pub timestamp_ms: Option<i64>,
}

async fn manual(State(rt): State<Arc<Runtime>>, Json(m): Json<ManualEntry>) -> Response {
    let meter = match DeviceId::new(m.meter) {
        Ok(id) => id,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let value = match trustmeter_meters::parse_manual_value(&m.value) {
        Ok(v) => v,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let unit = match trustmeter_meters::import::parse_unit(&m.unit) {
        Ok(u) => u,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let now = rt.clock.now_ms();
    let item = Item {
        meter,
        value,
        unit,
        timestamp_ms: m.timestamp_ms.unwrap_or(now),
        origin: ReadingOrigin::Manual,
        stamped_by_gateway: m.timestamp_ms.is_none(),
        point: None,
        kind: if unit.is_rate() { RegisterKind::Instantaneous } else { RegisterKind::Cumulative },
        range: (None, None),
    };
    produce_answer(rt.produce(vec![item]).await)
}

fn produce_answer(r: Result<Produced, crate::GatewayError>) -> Response {
    match r {
        Ok(p) if !p.refused.is_empty() && p.ids.is_empty() => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(p)).into_response()
        }
        Ok(p) => Json(p).into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn import(State(rt): State<Arc<Runtime>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let rows = if json { trustmeter_meters::parse_json(&body[..]) } else { trustmeter_meters::parse_csv(&body[..]) };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let unit = match row.unit.or_else(|| rt.unit_of(&row.meter)) {
            Some(u) => u,
            None => {
                return err(
                    StatusCode::BAD_REQUEST,
                    format!("meter {} is not a configured point; give its unit in a `unit` column", row.meter),
                );
            }
        };
        items.push(Item {
            meter: row.meter,
            value: row.value,
            unit,
            timestamp_ms: row.timestamp_ms,
            origin: ReadingOrigin::Imported,
            stamped_by_gateway: false,
            point: None,
            kind: if unit.is_rate() { RegisterKind::Instantaneous } else { RegisterKind::Cumulative },
            range: (None, None),
        });
    }
    // A file is produced in time order per meter.
    items.sort_by(|a, b| a.meter.cmp(&b.meter).then(a.timestamp_ms.cmp(&b.timestamp_ms)));
    let mut total = Produced::default();
    for chunk in items.chunks(crate::producer::MAX_PRODUCE_BATCH) {
        match rt.produce(chunk.to_vec()).await {
            Ok(p) => {
                total.ids.extend(p.ids);
                total.duplicates += p.duplicates;
                total.refused.extend(p.refused);
            }
            Err(e) => return err(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }
    produce_answer(Ok(total))
}

/// Parses `Quantity` decimal text (re-exported for the CLI).
pub fn parse_quantity(s: &str) -> Result<Quantity, String> {
    trustmeter_meters::parse_manual_value(s).map_err(|e| e.to_string())
}
