//! The gateway's local HTTP API (loopback by default): status, queries and exports of the local
//! store, manual entry and file import. `trustmeter gateway status|readings|manual|import|rejected`
//! are thin clients of it.
//!
//! | Route | What |
//! |---|---|
//! | `GET /status` | [`StatusReport`]: points, destinations with backlog, alarms, clock |
//! | `GET /metrics` | Prometheus metrics ([`crate::metrics`]): backlog per destination, readings produced, batches sent/settled/refused, store size |
//! | `GET /readings?meter=&from=&to=&after=&limit=&format=json\|csv` | stored readings, a page at a time |
//! | `GET /rejected?destination=&after=&limit=` | readings a chain rejected, with reasons, a page at a time |
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
//!
//! **Paging** (the node API's parameter names): `/readings` and `/rejected` answer one page of at
//! most `limit` rows (default [`DEFAULT_PAGE_LIMIT`], at most [`MAX_PAGE_LIMIT`]; a larger
//! `limit` is served as a page of [`MAX_PAGE_LIMIT`], `0` is refused). When more rows may follow,
//! the answer carries the header [`NEXT_HEADER`] (`trustmeter-next: <cursor>`); the next page is
//! the same request with `after=<cursor>`. The body keeps its shape (a JSON array, or CSV). A
//! cursor is opaque (hex of a version byte, the list it belongs to and the last key served) and
//! names a position, not an offset: pages neither repeat nor skip readings. A page of
//! `/readings` examines at most [`MAX_QUERY_SCAN`](crate::store::MAX_QUERY_SCAN) stored readings,
//! so a time filter matching few of them can give a short (even empty) page with a cursor.

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
/// Rows per page of `/readings` and `/rejected` when `limit` is not given.
pub const DEFAULT_PAGE_LIMIT: usize = 1_000;
/// Most rows per page of `/readings` and `/rejected`.
pub const MAX_PAGE_LIMIT: usize = 10_000;
/// The response header carrying the cursor of the next page (absent on the last page).
pub const NEXT_HEADER: &str = "trustmeter-next";

/// Version byte of every cursor.
const CURSOR_VERSION: u8 = 1;
/// Longest cursor accepted (hex of the version, the list and a 64-byte name after 8 bytes).
const MAX_CURSOR_CHARS: usize = 2 * (2 + 8 + 128);

/// Which list a cursor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum ListKind {
    /// `/readings` of every meter: the key is the last reading id.
    Readings = 1,
    /// `/readings?meter=`: the key is the last sequence number, then the meter.
    MeterReadings = 2,
    /// `/rejected?destination=`: the key is the last reading id, then the destination.
    Rejected = 3,
}

/// The cursor after `key` (8 bytes, big-endian) in list `kind` of `scope` (a meter or a
/// destination; empty for every meter).
fn encode_cursor(kind: ListKind, key: u64, scope: &str) -> String {
    let mut bytes = vec![CURSOR_VERSION, kind as u8];
    bytes.extend_from_slice(&key.to_be_bytes());
    bytes.extend_from_slice(scope.as_bytes());
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of a cursor of list `kind` of `scope`; what is wrong with it otherwise.
fn decode_cursor(kind: ListKind, scope: &str, cursor: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!(
            "after={cursor:?} is not a cursor of this list: {why}; pass the {NEXT_HEADER} header of the previous page unchanged"
        )
    };
    if cursor.len() > MAX_CURSOR_CHARS || !cursor.len().is_multiple_of(2) {
        return Err(bad("wrong length"));
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| cursor.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| bad("not hex"))?;
    match bytes.as_slice() {
        [CURSOR_VERSION, k, rest @ ..] if *k == kind as u8 => {
            let (key, name) = rest.split_at_checked(8).ok_or_else(|| bad("too short"))?;
            if name != scope.as_bytes() {
                return Err(bad("it belongs to another meter or destination"));
            }
            Ok(u64::from_be_bytes(key.try_into().map_err(|_| bad("too short"))?))
        }
        [CURSOR_VERSION, _, ..] => Err(bad("it belongs to another list")),
        _ => Err(bad("unknown version")),
    }
}

/// The page size asked for: default when absent, at most [`MAX_PAGE_LIMIT`], `0` refused.
fn page_limit(limit: Option<usize>) -> Result<usize, String> {
    match limit {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(0) => Err("limit must be at least 1".into()),
        Some(n) => Ok(n.min(MAX_PAGE_LIMIT)),
    }
}

/// `response` with the next page's cursor, if any.
fn with_next(mut response: Response, next: Option<String>) -> Response {
    if let Some(v) = next.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(NEXT_HEADER, v);
    }
    response
}

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
    /// The cursor of the previous page's `trustmeter-next` header; absent for the first page.
    pub after: Option<String>,
    /// Rows per page: default 1 000, at most 10 000.
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
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let (kind, scope) = match &meter {
        Some(m) => (ListKind::MeterReadings, m.as_str().to_string()),
        None => (ListKind::Readings, String::new()),
    };
    let after = match q.after.as_deref().map(|c| decode_cursor(kind, &scope, c)).transpose() {
        Ok(a) => a.unwrap_or(0),
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let store = rt.store.clone();
    let page = tokio::task::spawn_blocking(move || {
        store.query(meter.as_ref(), q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX), after, limit)
    })
    .await;
    let page = match page {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => return err(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let next = page.next.map(|k| encode_cursor(kind, k, &scope));
    let rows: Vec<ReadingRow> = page
        .rows
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
        return with_next(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response(), next);
    }
    with_next(Json(rows).into_response(), next)
}

/// Query of `GET /rejected`.
#[derive(Debug, Deserialize)]
pub struct RejectedQuery {
    /// Destination name.
    pub destination: String,
    /// The cursor of the previous page's `trustmeter-next` header; absent for the first page.
    pub after: Option<String>,
    /// Rows per page: default 1 000, at most 10 000.
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
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let after = match q.after.as_deref().map(|c| decode_cursor(ListKind::Rejected, &q.destination, c)).transpose() {
        Ok(a) => a.unwrap_or(0),
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let store = rt.store.clone();
    let destination = q.destination.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<Vec<RejectedRow>, crate::store::StoreError> {
        let mut out = Vec::new();
        for (id, rej) in store.rejected_after(&q.destination, after, limit)? {
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
        Ok(Ok(rows)) => {
            // A full page: more may follow.
            let next = (rows.len() == limit)
                .then(|| rows.last().map(|r| encode_cursor(ListKind::Rejected, r.id, &destination)))
                .flatten();
            with_next(Json(rows).into_response(), next)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Method};

    const TOKEN: &str = "5f1c0e9a7b3d2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";

    fn guard() -> ApiGuard {
        ApiGuard {
            token: zeroize::Zeroizing::new(TOKEN.to_string()),
            listen: "127.0.0.1:7070".parse().unwrap(),
            hosts: vec!["gw.plant.internal".into()],
            origins: vec!["http://ops.plant.internal".into()],
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn status(method: Method, path: &str, pairs: &[(header::HeaderName, &str)]) -> Option<StatusCode> {
        guard().check(&method, path, &headers(pairs)).err().map(|(s, _)| s)
    }

    const BEARER: &str = "Bearer 5f1c0e9a7b3d2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";

    #[test]
    fn reads_need_a_host_the_gateway_answers_to_and_no_foreign_origin() {
        use header::{HOST, ORIGIN};
        for host in ["127.0.0.1:7070", "localhost:7070", "[::1]:7070", "gw.plant.internal", "GW.plant.internal:7070"] {
            assert_eq!(status(Method::GET, "/status", &[(HOST, host)]), None, "{host}");
        }
        // A name rebound to 127.0.0.1 by a web page's DNS.
        assert_eq!(status(Method::GET, "/readings", &[(HOST, "attacker.example:7070")]), Some(StatusCode::FORBIDDEN));
        assert_eq!(status(Method::GET, "/status", &[(HOST, "10.0.0.9")]), Some(StatusCode::FORBIDDEN));
        assert_eq!(status(Method::GET, "/status", &[]), Some(StatusCode::BAD_REQUEST));
        // A page in a browser: only the listed origin.
        let cross = [(HOST, "127.0.0.1:7070"), (ORIGIN, "http://intranet.example")];
        assert_eq!(status(Method::GET, "/status", &cross), Some(StatusCode::FORBIDDEN));
        let listed = [(HOST, "127.0.0.1:7070"), (ORIGIN, "http://ops.plant.internal")];
        assert_eq!(status(Method::GET, "/status", &listed), None);
    }

    #[test]
    fn writes_need_the_operator_token_and_their_content_type() {
        use header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
        let host = (HOST, "127.0.0.1:7070");
        let json = (CONTENT_TYPE, "application/json");
        let csv = (CONTENT_TYPE, "text/csv; charset=utf-8");
        let auth = (AUTHORIZATION, BEARER);
        assert_eq!(status(Method::POST, "/manual", &[host.clone(), auth.clone(), json.clone()]), None);
        assert_eq!(status(Method::POST, "/import", &[host.clone(), auth.clone(), csv.clone()]), None);
        assert_eq!(status(Method::POST, "/import", &[host.clone(), auth.clone(), json.clone()]), None);
        for path in ["/manual", "/import"] {
            // Missing, wrong, or not a bearer token.
            assert_eq!(status(Method::POST, path, &[host.clone(), json.clone()]), Some(StatusCode::UNAUTHORIZED));
            let wrong = (AUTHORIZATION, "Bearer 0000000000000000000000000000000000000000000000000000000000000000");
            assert_eq!(
                status(Method::POST, path, &[host.clone(), wrong, json.clone()]),
                Some(StatusCode::UNAUTHORIZED)
            );
            let basic = (AUTHORIZATION, "Basic 5f1c0e9a7b3d2c4e");
            assert_eq!(
                status(Method::POST, path, &[host.clone(), basic, json.clone()]),
                Some(StatusCode::UNAUTHORIZED)
            );
            // What a web form may send without asking.
            for ctype in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let h = [host.clone(), auth.clone(), (CONTENT_TYPE, ctype)];
                assert_eq!(status(Method::POST, path, &h), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE), "{path} {ctype}");
            }
            assert_eq!(
                status(Method::POST, path, &[host.clone(), auth.clone()]),
                Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            );
            // With everything right but a rebound host name, or from a foreign page.
            let rebound = [(HOST, "attacker.example:7070"), auth.clone(), json.clone()];
            assert_eq!(status(Method::POST, path, &rebound), Some(StatusCode::FORBIDDEN), "{path}");
            let foreign = [host.clone(), (ORIGIN, "http://intranet.example"), auth.clone(), json.clone()];
            assert_eq!(status(Method::POST, path, &foreign), Some(StatusCode::FORBIDDEN), "{path}");
        }
        // A CSV manual entry is not a manual entry.
        assert_eq!(status(Method::POST, "/manual", &[host, auth, csv]), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let c = encode_cursor(ListKind::MeterReadings, 42, "M-1");
        assert_eq!(decode_cursor(ListKind::MeterReadings, "M-1", &c), Ok(42));
        assert!(decode_cursor(ListKind::MeterReadings, "M-2", &c).unwrap_err().contains("another meter"));
        assert!(decode_cursor(ListKind::Readings, "", &c).unwrap_err().contains("another list"));
        assert!(decode_cursor(ListKind::Rejected, "prov", "zz").unwrap_err().contains("not hex"));
        assert!(decode_cursor(ListKind::Rejected, "prov", &"00".repeat(400)).is_err());
        let r = encode_cursor(ListKind::Rejected, u64::MAX, "provincial");
        assert_eq!(decode_cursor(ListKind::Rejected, "provincial", &r), Ok(u64::MAX));
        assert_eq!(page_limit(None), Ok(DEFAULT_PAGE_LIMIT));
        assert_eq!(page_limit(Some(1_000_000)), Ok(MAX_PAGE_LIMIT));
        assert!(page_limit(Some(0)).is_err());
    }
}
