//! The gateway's Prometheus metrics, served by the local API as `GET /metrics`
//! (`text/plain; version=0.0.4`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `trustmeter_gateway_readings_produced_total` | counter | readings signed and durably stored by this process |
//! | `trustmeter_gateway_batches_sent_total{destination}` | counter | transactions submitted (a resubmission of the same bytes after a node forgot it counts again) |
//! | `trustmeter_gateway_batches_settled_total{destination}` | counter | batches settled on a finalized receipt (every reading acknowledged or rejected with a reason) |
//! | `trustmeter_gateway_batches_refused_total{destination}` | counter | batches refused as a whole (at admission, or executed and refused), to be retried |
//! | `trustmeter_gateway_proofs_invalid_total{destination}` | counter | proofs (receipts, policy, meter records) a node served that did not verify; nothing was acted on |
//! | `trustmeter_gateway_backlog_readings{destination}` | gauge | readings stored but not yet settled for the destination |
//! | `trustmeter_gateway_in_flight_readings{destination}` | gauge | readings in the transaction in flight |
//! | `trustmeter_gateway_oldest_unsettled_age_seconds{destination}` | gauge | age of the oldest unsettled reading (0 without backlog) |
//! | `trustmeter_gateway_acknowledged_readings{destination}` | gauge | readings the chain recorded or acknowledged (durable total from the store) |
//! | `trustmeter_gateway_rejected_readings{destination}` | gauge | readings the chain (or the pre-audit) rejected (durable total) |
//! | `trustmeter_gateway_store_readings` | gauge | readings held in the local store |
//! | `trustmeter_gateway_alarms` | gauge | active alarms |
//! | `trustmeter_gateway_mqtt_messages_refused_total{topic}` | counter | MQTT messages refused (over the payload or packet limit, not JSON, a field missing or bad), by the topic filter of the point it was for; a message refused for two points counts twice |
//! | `trustmeter_gateway_api_connections` | gauge | local API connections open, at scrape time |
//! | `trustmeter_gateway_api_connections_accepted_total` | counter | local API connections accepted and served |
//! | `trustmeter_gateway_api_connections_refused_total{reason}` | counter | local API connections closed at once: `total` (`[gateway.http] max_connections` open) or `per_ip` (`max_connections_per_ip` from that address) |
//! | `trustmeter_gateway_api_rate_limited_total` | counter | local API requests answered 429 (`max_requests_per_s_per_ip`) |
//! | `trustmeter_gateway_api_body_timeouts_total` | counter | local API requests answered 408: the body did not arrive within `body_read_timeout_ms` |
//! | `trustmeter_gateway_api_write_timeouts_total` | counter | local API connections closed: a write made no progress for `write_timeout_ms` |
//! | `trustmeter_gateway_api_accept_errors_total` | counter | failed accepts of local API connections (out of file descriptors, usually) |
//!
//! Counters count since the process started; the gauges are read from the store and the live
//! status at scrape time. Destinations are the configured ones (at most `MAX_DESTINATIONS`), and
//! topics the configured points' filters (at most `MAX_POINTS`), so label values are bounded.

use crate::status::StatusReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The content type of `GET /metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabel {
    destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The gateway's metrics. Cheap to clone; clones share the counters.
#[derive(Clone)]
pub struct GatewayMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    produced: Counter,
    sent: Family<DestinationLabel, Counter>,
    settled: Family<DestinationLabel, Counter>,
    refused: Family<DestinationLabel, Counter>,
    proofs_invalid: Family<DestinationLabel, Counter>,
    backlog: Family<DestinationLabel, Gauge>,
    in_flight: Family<DestinationLabel, Gauge>,
    oldest_age: Family<DestinationLabel, Gauge>,
    acknowledged: Family<DestinationLabel, Gauge>,
    rejected: Family<DestinationLabel, Gauge>,
    stored: Gauge,
    alarms: Gauge,
    mqtt_refused: Family<TopicLabel, Counter>,
    server: Arc<trustmeter_httpserve::ServerStats>,
    connections: Gauge,
    connections_accepted: Counter,
    connections_refused: Family<ReasonLabel, Counter>,
    rate_limited: Counter,
    body_timeouts: Counter,
    write_timeouts: Counter,
    accept_errors: Counter,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMetrics").finish_non_exhaustive()
    }
}

impl GatewayMetrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let produced = Counter::default();
        let [sent, settled, refused, proofs_invalid] =
            std::array::from_fn(|_| Family::<DestinationLabel, Counter>::default());
        let [backlog, in_flight, oldest_age, acknowledged, rejected] =
            std::array::from_fn(|_| Family::<DestinationLabel, Gauge>::default());
        let stored = Gauge::default();
        let alarms = Gauge::default();
        r.register(
            "trustmeter_gateway_readings_produced",
            "Readings signed and durably stored by this process",
            produced.clone(),
        );
        r.register(
            "trustmeter_gateway_batches_sent",
            "Transactions of readings submitted to a destination (resubmissions included)",
            sent.clone(),
        );
        r.register("trustmeter_gateway_batches_settled", "Batches settled on a finalized receipt", settled.clone());
        r.register(
            "trustmeter_gateway_batches_refused",
            "Batches a destination refused as a whole (kept and retried)",
            refused.clone(),
        );
        r.register(
            "trustmeter_gateway_proofs_invalid",
            "Proofs a destination's node served that did not verify against its genesis (not acted on)",
            proofs_invalid.clone(),
        );
        r.register(
            "trustmeter_gateway_backlog_readings",
            "Readings stored but not yet settled for the destination",
            backlog.clone(),
        );
        r.register(
            "trustmeter_gateway_in_flight_readings",
            "Readings in the destination's transaction in flight",
            in_flight.clone(),
        );
        r.register(
            "trustmeter_gateway_oldest_unsettled_age_seconds",
            "Age of the destination's oldest unsettled reading (0 without backlog)",
            oldest_age.clone(),
        );
        r.register(
            "trustmeter_gateway_acknowledged_readings",
            "Readings the destination recorded or acknowledged (durable total)",
            acknowledged.clone(),
        );
        r.register(
            "trustmeter_gateway_rejected_readings",
            "Readings the destination or the pre-audit rejected (durable total)",
            rejected.clone(),
        );
        r.register("trustmeter_gateway_store_readings", "Readings held in the local store", stored.clone());
        r.register("trustmeter_gateway_alarms", "Active alarms", alarms.clone());
        let mqtt_refused = Family::<TopicLabel, Counter>::default();
        r.register(
            "trustmeter_gateway_mqtt_messages_refused",
            "MQTT messages refused (oversize, not JSON, a field missing or bad), by the topic filter of the point it was for",
            mqtt_refused.clone(),
        );
        let connections = Gauge::default();
        let [connections_accepted, rate_limited, body_timeouts, write_timeouts, accept_errors] =
            std::array::from_fn(|_| Counter::default());
        let connections_refused = Family::<ReasonLabel, Counter>::default();
        r.register("trustmeter_gateway_api_connections", "Local API connections open", connections.clone());
        r.register(
            "trustmeter_gateway_api_connections_accepted",
            "Local API connections accepted and served",
            connections_accepted.clone(),
        );
        r.register(
            "trustmeter_gateway_api_connections_refused",
            "Local API connections closed at once: reason=total (max_connections open) or per_ip",
            connections_refused.clone(),
        );
        r.register(
            "trustmeter_gateway_api_rate_limited",
            "Local API requests answered 429 (max_requests_per_s_per_ip)",
            rate_limited.clone(),
        );
        r.register(
            "trustmeter_gateway_api_body_timeouts",
            "Local API requests answered 408: the body did not arrive in time",
            body_timeouts.clone(),
        );
        r.register(
            "trustmeter_gateway_api_write_timeouts",
            "Local API connections closed: a write made no progress in time",
            write_timeouts.clone(),
        );
        r.register(
            "trustmeter_gateway_api_accept_errors",
            "Failed accepts of local API connections (out of file descriptors, usually)",
            accept_errors.clone(),
        );
        for reason in ["total", "per_ip"] {
            let _ = connections_refused.get_or_create(&ReasonLabel { reason });
        }
        Self {
            inner: Arc::new(Inner {
                registry: r,
                produced,
                sent,
                settled,
                refused,
                proofs_invalid,
                backlog,
                in_flight,
                oldest_age,
                acknowledged,
                rejected,
                stored,
                alarms,
                mqtt_refused,
                server: Default::default(),
                connections,
                connections_accepted,
                connections_refused,
                rate_limited,
                body_timeouts,
                write_timeouts,
                accept_errors,
            }),
        }
    }

    fn label(destination: &str) -> DestinationLabel {
        DestinationLabel { destination: destination.to_string() }
    }

    /// Readings signed and stored.
    pub fn produced(&self, n: usize) {
        self.inner.produced.inc_by(n as u64);
    }

    /// A transaction submitted to `destination`.
    pub fn sent(&self, destination: &str) {
        self.inner.sent.get_or_create(&Self::label(destination)).inc();
    }

    /// A batch settled on a finalized receipt.
    pub fn settled(&self, destination: &str) {
        self.inner.settled.get_or_create(&Self::label(destination)).inc();
    }

    /// A batch refused as a whole.
    pub fn refused(&self, destination: &str) {
        self.inner.refused.get_or_create(&Self::label(destination)).inc();
    }

    /// A proof that did not verify.
    pub fn proof_invalid(&self, destination: &str) {
        self.inner.proofs_invalid.get_or_create(&Self::label(destination)).inc();
    }

    /// An MQTT message refused for a point reading topic filter `topic`.
    pub fn mqtt_refused(&self, topic: &str) {
        self.inner.mqtt_refused.get_or_create(&TopicLabel { topic: topic.to_string() }).inc();
    }

    /// Makes the refused-message counter of topic filter `topic` appear (at 0).
    pub fn mqtt_topic(&self, topic: &str) {
        let _ = self.inner.mqtt_refused.get_or_create(&TopicLabel { topic: topic.to_string() });
    }

    /// The local API server's connection counts, which `GET /metrics` reports (give it to
    /// `trustmeter_httpserve::serve`).
    pub fn server_stats(&self) -> Arc<trustmeter_httpserve::ServerStats> {
        self.inner.server.clone()
    }

    /// Makes every counter of `destination` appear (at 0) before anything happened to it.
    pub fn destination(&self, destination: &str) {
        let l = Self::label(destination);
        for f in [&self.inner.sent, &self.inner.settled, &self.inner.refused, &self.inner.proofs_invalid] {
            let _ = f.get_or_create(&l);
        }
    }

    /// Sets the gauges from `status` (taken now) and renders the exposition.
    pub fn render(&self, status: &StatusReport) -> String {
        let m = &self.inner;
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for d in &status.destinations {
            let l = Self::label(&d.name);
            m.backlog.get_or_create(&l).set(g(d.backlog));
            m.in_flight.get_or_create(&l).set(g(d.in_flight));
            let age_s = d.oldest_unsettled_ms.map_or(0, |t| (status.now_ms - t).max(0) / 1_000);
            m.oldest_age.get_or_create(&l).set(age_s);
            m.acknowledged.get_or_create(&l).set(g(d.acknowledged));
            m.rejected.get_or_create(&l).set(g(d.rejected));
        }
        m.stored.set(g(status.stored_readings));
        m.alarms.set(g(status.alarms.len() as u64));
        let server = &m.server;
        m.connections.set(g(server.open()));
        // Counters only go up: add what happened since the last scrape.
        let up = |c: &Counter, now: u64| {
            c.inc_by(now.saturating_sub(c.get()));
        };
        up(&m.connections_accepted, server.accepted());
        up(&m.connections_refused.get_or_create(&ReasonLabel { reason: "total" }), server.refused_total());
        up(&m.connections_refused.get_or_create(&ReasonLabel { reason: "per_ip" }), server.refused_per_ip());
        up(&m.rate_limited, server.rate_limited());
        up(&m.body_timeouts, server.body_timeouts());
        up(&m.write_timeouts, server.write_timeouts());
        up(&m.accept_errors, server.accept_errors());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &m.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::DestinationStatus;

    fn empty_status() -> StatusReport {
        StatusReport {
            gateway: "g".into(),
            public_key: "k".into(),
            now_ms: 0,
            now_local: String::new(),
            clock: "good".into(),
            stored_readings: 0,
            oldest_stored_ms: None,
            next_id: 1,
            points: vec![],
            destinations: vec![],
            alarms: vec![],
        }
    }

    #[test]
    fn refused_mqtt_messages_are_counted_per_topic() {
        let m = GatewayMetrics::new();
        m.mqtt_topic("site/quiet");
        m.mqtt_refused("site/m1");
        m.mqtt_refused("site/m1");
        m.mqtt_refused("plant/+/energy");
        let text = m.render(&empty_status());
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has(r#"trustmeter_gateway_mqtt_messages_refused_total{topic="site/m1"} 2"#), "{text}");
        assert!(has(r#"trustmeter_gateway_mqtt_messages_refused_total{topic="plant/+/energy"} 1"#), "{text}");
        assert!(has(r#"trustmeter_gateway_mqtt_messages_refused_total{topic="site/quiet"} 0"#), "{text}");
    }

    #[test]
    fn counters_and_gauges_per_destination() {
        let m = GatewayMetrics::new();
        m.destination("national");
        m.produced(5);
        m.produced(7);
        m.sent("provincial");
        m.sent("provincial");
        m.settled("provincial");
        m.refused("national");
        let status = StatusReport {
            gateway: "g".into(),
            public_key: "k".into(),
            now_ms: 100_000,
            now_local: String::new(),
            clock: "good".into(),
            stored_readings: 12,
            oldest_stored_ms: None,
            next_id: 13,
            points: vec![],
            destinations: vec![
                DestinationStatus {
                    name: "provincial".into(),
                    backlog: 4,
                    oldest_unsettled_ms: Some(40_000),
                    acknowledged: 8,
                    in_flight: 2,
                    ..Default::default()
                },
                DestinationStatus { name: "national".into(), backlog: 12, rejected: 1, ..Default::default() },
            ],
            alarms: vec![],
        };
        let text = m.render(&status);
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has("trustmeter_gateway_readings_produced_total 12"), "{text}");
        assert!(has(r#"trustmeter_gateway_batches_sent_total{destination="provincial"} 2"#), "{text}");
        assert!(has(r#"trustmeter_gateway_batches_sent_total{destination="national"} 0"#), "{text}");
        assert!(has(r#"trustmeter_gateway_batches_settled_total{destination="provincial"} 1"#), "{text}");
        assert!(has(r#"trustmeter_gateway_batches_refused_total{destination="national"} 1"#), "{text}");
        assert!(has(r#"trustmeter_gateway_backlog_readings{destination="provincial"} 4"#), "{text}");
        assert!(has(r#"trustmeter_gateway_backlog_readings{destination="national"} 12"#), "{text}");
        assert!(has(r#"trustmeter_gateway_in_flight_readings{destination="provincial"} 2"#), "{text}");
        assert!(has(r#"trustmeter_gateway_oldest_unsettled_age_seconds{destination="provincial"} 60"#), "{text}");
        assert!(has(r#"trustmeter_gateway_oldest_unsettled_age_seconds{destination="national"} 0"#), "{text}");
        assert!(has(r#"trustmeter_gateway_acknowledged_readings{destination="provincial"} 8"#), "{text}");
        assert!(has(r#"trustmeter_gateway_rejected_readings{destination="national"} 1"#), "{text}");
        assert!(has("trustmeter_gateway_store_readings 12"), "{text}");
        assert!(has("trustmeter_gateway_api_connections 0"), "{text}");
        assert!(has("trustmeter_gateway_api_connections_accepted_total 0"), "{text}");
        assert!(has(r#"trustmeter_gateway_api_connections_refused_total{reason="per_ip"} 0"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
