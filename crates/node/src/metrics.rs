//! `GET /metrics`: Prometheus text exposition (`text/plain; version=0.0.4`) of
//!
//! 1. **Commonware's own registry** — p2p, Simplex, marshal, broadcast, resolver, storage and the
//!    runtime's task metrics — rendered by the runtime (`Metrics::encode` on any context renders
//!    the whole executor registry). When several nodes share one process (the demo, tests), that
//!    registry holds every node's series, told apart by the contexts' attributes (`index`,
//!    `chain`) and prefixed by their labels (`node_validator_…`).
//! 2. **The application's** ([`trustmeter_chain::metrics`]): admission, execution by phase,
//!    signature verification, finalized blocks/readings/height — this node's only.
//! 3. **The node's** ([`NodeMetrics`]): index time and lag, mempool size, API requests and latency
//!    — this node's only.
//!
//! Ours are in registries of their own, not the runtime's, so that their names are exactly the
//! documented ones however the node is embedded (the runtime prefixes names with the context's
//! label). Gauges that mirror a value held elsewhere (mempool, index lag) are read at scrape time.
//!
//! | name | type | what |
//! |---|---|---|
//! | `trustmeter_index_seconds_total` | counter | wall seconds writing finalized blocks to the index |
//! | `trustmeter_index_lag_blocks` | gauge | finalized height − indexed height, at scrape time |
//! | `trustmeter_mempool_transactions`, `trustmeter_mempool_readings` | gauge | waiting in this node's mempool |
//! | `trustmeter_store_bytes_written_total{store}` | counter | bytes written to the `state` store's and the `index`'s files since the node started |
//! | `trustmeter_store_syncs_total{store}` | counter | their fsyncs (`sync_data` calls) |
//! | `trustmeter_api_requests_total{route,status}` | counter | API requests by route template (`/v1/meters/{id}`) and status class (`2xx`…`5xx`) |
//! | `trustmeter_api_request_seconds{route,status}` | histogram | their latency (time to the response head; a stream's body is not counted) |
//! | `trustmeter_api_connections` | gauge | API connections open, at scrape time |
//! | `trustmeter_api_connections_accepted_total` | counter | API connections accepted and served |
//! | `trustmeter_api_connections_refused_total{reason}` | counter | API connections closed at once: `total` (`[api] max_connections` open) or `per_ip` (`max_connections_per_ip` from that address) |
//! | `trustmeter_api_rate_limited_total` | counter | API requests answered 429: their address went over `[api] max_requests_per_s_per_ip` |
//! | `trustmeter_api_accept_errors_total` | counter | failed accepts (out of file descriptors, usually) |
//! | `trustmeter_api_body_timeouts_total` | counter | API requests answered 408: their body did not arrive within `[api] body_read_timeout_ms` |
//! | `trustmeter_api_write_timeouts_total` | counter | API connections ended because the client read nothing for `[api] write_timeout_ms` |
//! | `trustmeter_alarm_passes_total{walk}` | counter | alarm passes; `walk="true"`: ones that looked at every meter (the first, or after a gap in the feed of touched meters) |
//! | `trustmeter_alarm_meters_evaluated_total` | counter | meters the alarm passes looked at (touched by blocks, due by time, or walked) |
//! | `trustmeter_alarm_seconds_total` | counter | wall seconds in alarm passes |
//!
//! Requests to paths no route matches are not counted (their label would be the raw path, an
//! unbounded set).

use crate::api::ApiState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;
use trustmeter_chain::metrics::{SecondsCounter, encode_without_eof, exposition};
use trustmeter_statedb::WriteCounters;

/// The content type of `GET /metrics` (Prometheus text format 0.0.4, as Commonware's own
/// telemetry server uses).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Upper bounds (seconds) of the API latency histogram's buckets: 0.5 ms to ~16 s.
pub const LATENCY_BUCKETS: [f64; 16] =
    [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];

/// Renders the runtime's (Commonware's) registry.
pub type RuntimeEncoder = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabels {
    walk: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The node's own metrics (index, mempool, API). Cheap to clone; clones share the counters.
#[derive(Clone)]
pub struct NodeMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    index_seconds: SecondsCounter,
    index_lag: Gauge,
    mempool_transactions: Gauge,
    mempool_readings: Gauge,
    api_requests: Family<RequestLabels, Counter>,
    api_seconds: Family<RequestLabels, Histogram, fn() -> Histogram>,
    store_bytes: Family<StoreLabels, Counter>,
    store_syncs: Family<StoreLabels, Counter>,
    alarm_passes: Family<PassLabels, Counter>,
    alarm_meters: Counter,
    alarm_seconds: SecondsCounter,
    /// The stores whose files are counted, by label.
    stores: std::sync::Mutex<Vec<(&'static str, Arc<WriteCounters>)>>,
    connections: Gauge,
    connections_accepted: Counter,
    connections_refused: Family<ReasonLabels, Counter>,
    accept_errors: Counter,
    rate_limited: Counter,
    body_timeouts: Counter,
    write_timeouts: Counter,
    server: Arc<trustmeter_httpserve::ServerStats>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMetrics").finish_non_exhaustive()
    }
}

impl NodeMetrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let index_seconds = SecondsCounter::default();
        let index_lag = Gauge::default();
        let mempool_transactions = Gauge::default();
        let mempool_readings = Gauge::default();
        let api_requests = Family::<RequestLabels, Counter>::default();
        let api_seconds =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "trustmeter_index_seconds",
            "Wall seconds writing finalized blocks to the query index",
            index_seconds.clone(),
        );
        registry.register(
            "trustmeter_index_lag_blocks",
            "Finalized height minus indexed height, at scrape time",
            index_lag.clone(),
        );
        registry.register(
            "trustmeter_mempool_transactions",
            "Transactions waiting in this node's mempool",
            mempool_transactions.clone(),
        );
        registry.register(
            "trustmeter_mempool_readings",
            "Readings waiting in this node's mempool",
            mempool_readings.clone(),
        );
        let store_bytes = Family::<StoreLabels, Counter>::default();
        let store_syncs = Family::<StoreLabels, Counter>::default();
        registry.register(
            "trustmeter_store_bytes_written",
            "Bytes written to a store's file (state, index) since the node started",
            store_bytes.clone(),
        );
        registry.register(
            "trustmeter_store_syncs",
            "fsyncs of a store's file since the node started",
            store_syncs.clone(),
        );
        let alarm_passes = Family::<PassLabels, Counter>::default();
        let alarm_meters = Counter::default();
        let alarm_seconds = SecondsCounter::default();
        registry.register(
            "trustmeter_alarm_passes",
            "Alarm passes; walk=true: ones that looked at every meter",
            alarm_passes.clone(),
        );
        registry.register(
            "trustmeter_alarm_meters_evaluated",
            "Meters the alarm passes looked at",
            alarm_meters.clone(),
        );
        registry.register("trustmeter_alarm_seconds", "Wall seconds in alarm passes", alarm_seconds.clone());
        registry.register(
            "trustmeter_api_requests",
            "API requests by route template and status class",
            api_requests.clone(),
        );
        registry.register(
            "trustmeter_api_request_seconds",
            "API request latency (to the response head) by route template and status class",
            api_seconds.clone(),
        );
        let connections = Gauge::default();
        let connections_accepted = Counter::default();
        let connections_refused = Family::<ReasonLabels, Counter>::default();
        let accept_errors = Counter::default();
        let rate_limited = Counter::default();
        let body_timeouts = Counter::default();
        let write_timeouts = Counter::default();
        registry.register(
            "trustmeter_api_body_timeouts",
            "API requests answered 408: the body did not arrive within body_read_timeout_ms",
            body_timeouts.clone(),
        );
        registry.register(
            "trustmeter_api_write_timeouts",
            "API connections ended because the client read nothing for write_timeout_ms",
            write_timeouts.clone(),
        );
        registry.register(
            "trustmeter_api_rate_limited",
            "API requests answered 429: their address went over max_requests_per_s_per_ip",
            rate_limited.clone(),
        );
        registry.register("trustmeter_api_connections", "API connections open, at scrape time", connections.clone());
        registry.register(
            "trustmeter_api_connections_accepted",
            "API connections accepted and served",
            connections_accepted.clone(),
        );
        registry.register(
            "trustmeter_api_connections_refused",
            "API connections closed at once: reason=total (max_connections open) or per_ip",
            connections_refused.clone(),
        );
        registry.register(
            "trustmeter_api_accept_errors",
            "Failed accepts of API connections (out of file descriptors, usually)",
            accept_errors.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                index_seconds,
                index_lag,
                mempool_transactions,
                mempool_readings,
                api_requests,
                api_seconds,
                store_bytes,
                store_syncs,
                alarm_passes,
                alarm_meters,
                alarm_seconds,
                stores: Default::default(),
                connections,
                connections_accepted,
                connections_refused,
                accept_errors,
                rate_limited,
                body_timeouts,
                write_timeouts,
                server: Default::default(),
            }),
        }
    }

    /// Reports the writes of a store's file under `store` (`state`, `index`).
    pub fn watch_store(&self, store: &'static str, counters: Arc<WriteCounters>) {
        self.inner.stores.lock().expect("stores lock").push((store, counters));
    }

    /// The API server's connection counts, which this node's `GET /metrics` reports.
    pub fn server_stats(&self) -> Arc<trustmeter_httpserve::ServerStats> {
        self.inner.server.clone()
    }

    /// Records one API request.
    pub fn request(&self, route: &str, status: StatusCode, seconds: f64) {
        let labels = RequestLabels { route: route.to_string(), status: status_class(status) };
        self.inner.api_requests.get_or_create(&labels).inc();
        self.inner.api_seconds.get_or_create(&labels).observe(seconds);
    }

    /// Records one alarm pass.
    pub fn alarm_pass(&self, walked_all: bool, meters: usize, seconds: f64) {
        let m = &self.inner;
        m.alarm_passes.get_or_create(&PassLabels { walk: if walked_all { "true" } else { "false" } }).inc();
        m.alarm_meters.inc_by(meters as u64);
        m.alarm_seconds.inc_by(seconds);
    }

    /// Adds time spent indexing.
    pub fn indexed(&self, seconds: f64) {
        self.inner.index_seconds.inc_by(seconds);
    }

    /// Sets the scrape-time gauges and renders the node's metrics (without `# EOF`).
    fn encode(&self, finalized: u64, indexed: u64, mempool: (usize, usize)) -> String {
        let m = &self.inner;
        m.index_lag.set(gauge(finalized.saturating_sub(indexed)));
        m.mempool_transactions.set(gauge(mempool.0 as u64));
        m.mempool_readings.set(gauge(mempool.1 as u64));
        let server = &m.server;
        m.connections.set(gauge(server.open()));
        // Counters only go up: add what happened since the last scrape.
        let up = |c: &Counter, now: u64| {
            c.inc_by(now.saturating_sub(c.get()));
        };
        up(&m.connections_accepted, server.accepted());
        up(&m.connections_refused.get_or_create(&ReasonLabels { reason: "total" }), server.refused_total());
        up(&m.connections_refused.get_or_create(&ReasonLabels { reason: "per_ip" }), server.refused_per_ip());
        up(&m.accept_errors, server.accept_errors());
        up(&m.rate_limited, server.rate_limited());
        up(&m.body_timeouts, server.body_timeouts());
        up(&m.write_timeouts, server.write_timeouts());
        for (store, c) in m.stores.lock().expect("stores lock").iter() {
            let labels = StoreLabels { store };
            // Counters only go up: add what the file wrote since the last scrape.
            let bytes = m.store_bytes.get_or_create(&labels);
            bytes.inc_by(c.bytes().saturating_sub(bytes.get()));
            let syncs = m.store_syncs.get_or_create(&labels);
            syncs.inc_by(c.syncs().saturating_sub(syncs.get()));
        }
        encode_without_eof(&m.registry)
    }
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `2xx`, `4xx`, …: the status class (bounded label values).
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Middleware (a route layer, so that the matched route template is known) counting and timing
/// every API request.
pub async fn track(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    if let Some(route) = route {
        s.node_metrics().request(&route, response.status(), started.elapsed().as_secs_f64());
    }
    response
}

/// Renders the whole exposition: the runtime's registry, then the application's, then the node's.
pub fn render(s: &ApiState) -> String {
    let runtime = s.runtime_metrics().map(|f| f()).unwrap_or_default();
    let chain = s.app().metrics().encode();
    let (txs, readings) = {
        let m = s.app().mempool();
        let m = m.lock().expect("mempool lock");
        (m.len(), m.readings())
    };
    let node = s.node_metrics().encode(s.app().metrics().finalized_height(), s.index().height(), (txs, readings));
    exposition(&[runtime, chain, node])
}

/// `GET /metrics`.
pub async fn metrics_handler(State(s): State<ApiState>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&s)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_are_bounded() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::ACCEPTED), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    #[test]
    fn requests_are_counted_by_route_and_class_with_latency() {
        let m = NodeMetrics::new();
        m.request("/v1/meters/{id}", StatusCode::OK, 0.003);
        m.request("/v1/meters/{id}", StatusCode::OK, 0.0004);
        m.request("/v1/meters/{id}", StatusCode::NOT_FOUND, 20.0);
        m.indexed(0.25);
        m.indexed(0.5);
        let text = m.encode(10, 7, (3, 1_200));
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has(r#"trustmeter_api_requests_total{route="/v1/meters/{id}",status="2xx"} 2"#), "{text}");
        assert!(has(r#"trustmeter_api_requests_total{route="/v1/meters/{id}",status="4xx"} 1"#), "{text}");
        // 0.0004 s falls in the first bucket (≤ 0.5 ms), 0.003 s in the ≤ 4 ms one; 20 s only in +Inf.
        assert!(
            has(r#"trustmeter_api_request_seconds_bucket{le="0.0005",route="/v1/meters/{id}",status="2xx"} 1"#)
                || has(r#"trustmeter_api_request_seconds_bucket{route="/v1/meters/{id}",status="2xx",le="0.0005"} 1"#),
            "{text}"
        );
        assert!(has(r#"trustmeter_api_request_seconds_count{route="/v1/meters/{id}",status="4xx"} 1"#), "{text}");
        assert!(has("trustmeter_index_seconds_total 0.75"), "{text}");
        assert!(has("trustmeter_index_lag_blocks 3"), "{text}");
        assert!(has("trustmeter_mempool_transactions 3"), "{text}");
        assert!(has("trustmeter_mempool_readings 1200"), "{text}");
    }

    #[test]
    fn store_writes_are_reported_from_the_files_counters() {
        let dir = tempfile::tempdir().unwrap();
        let store = trustmeter_statedb::DiskStore::open(&dir.path().join("s.redb"), Default::default()).unwrap();
        let m = NodeMetrics::new();
        m.watch_store("state", store.write_counters());
        let at_open = store.write_counters().bytes();
        assert!(at_open > 0, "creating the tables wrote the file");
        let text = m.encode(0, 0, (0, 0));
        let line = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}{{store=\"state\"}} ")))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing: {text}"))
        };
        assert_eq!(line("trustmeter_store_bytes_written_total"), at_open);
        assert_eq!(line("trustmeter_store_syncs_total"), store.write_counters().syncs());
        // A second scrape adds only what was written since (nothing here).
        let again = m.encode(0, 0, (0, 0));
        assert_eq!(text, again);
    }
}
