//! MQTT: JSON messages pushed by data collectors (数据采集器).
//!
//! One connection per broker carries every topic of its points (MQTT 3.1.1, QoS 1 subscriptions,
//! no TLS in this version). The session is **persistent** (`clean_session = false`) under a
//! client id that stays the same across reconnects and restarts (the configured `client_id`, or
//! one derived from the broker and the topics), so the broker keeps every QoS 1 message that
//! arrives while the gateway is away and delivers it when it is back. A bad message is refused on
//! its own — malformed JSON, a missing field, a payload over [`MAX_MQTT_PAYLOAD_BYTES`] — with an
//! error event naming its topic and the point, and never costs the connection or a later
//! message; only a packet over [`MAX_MQTT_PACKET_BYTES`] breaks the connection, and the next one
//! starts a clean session so that the broker stops redelivering it. That packet is reported to
//! every point of the broker as [`DriverError::PayloadTooLarge`] with `max` =
//! [`MAX_MQTT_PACKET_BYTES`] and its size; its topic cannot be named (the client refuses the
//! packet on its fixed header, before the topic is read, and MQTT 3.1.1 cannot ask the broker to
//! drop such packets), so `topic` says so and names the broker. Messages the broker held for the
//! session until the clean start are lost with it. Acknowledgements are **manual**: the driver sends a message's
//! events, then [`DriverEvent::Taken`]; the broker gets its PUBACK only when the consumer (the
//! gateway, once the readings are in its store) calls [`Ack::ack`](crate::Ack::ack). A gateway
//! that crashes or fails to store leaves the message with the broker, which delivers it again on
//! the next connection (at least once: a repeat with a source timestamp is recognised by the
//! gateway, one stamped on arrival is a new reading). Each message is parsed once and every point whose topic filter
//! matches picks its field:
//!
//! - `field` is a JSON pointer (`"/energy/total"`) or a plain top-level key (`"total"`). The value
//!   is a JSON number or a string of decimal text. Integers and decimal strings are exact; other
//!   numbers are read as `f64` and taken at their shortest decimal form, which is the text that was
//!   sent whenever it had at most 15 significant digits. Send decimal strings for more.
//! - `timestamp_field`, when configured, must hold Unix milliseconds (an integer between the years
//!   2000 and 2100) or RFC 3339 text; a missing or bad timestamp is an error, never silently
//!   replaced by the gateway clock. Without `timestamp_field` the gateway clock stamps arrival.
//! - Payloads above [`MAX_MQTT_PAYLOAD_BYTES`] are refused with an error event per point.

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::{MqttSource, PointConfig, SourceConfig, split_host_port};
use crate::decimal::{RawValue, parse_decimal};
use crate::error::DriverError;
use crate::limits::{
    MAX_MQTT_PACKET_BYTES, MAX_MQTT_PAYLOAD_BYTES, MAX_MQTT_PENDING_ACKS, MAX_MQTT_TOPICS_PER_BROKER, MQTT_CLOSE_GRACE,
};
use crate::runner::{Ack, AckId, DriverEvent, Sample, emit, stopped};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, Publish, QoS, SubscribeFilter, SubscribeReasonCode,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use trustmeter_types::Quantity;

/// Earliest payload timestamp accepted: 2000-01-01T00:00:00Z.
const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// Latest payload timestamp accepted: 2100-01-01T00:00:00Z.
const MAX_TIMESTAMP_MS: i64 = 4_102_444_800_000;

/// Whether `topic` matches the subscription `filter` (`+` one level, `#` the rest; topics starting
/// with `$` are not matched by a leading wildcard).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn lookup<'a>(json: &'a Value, path: &str) -> Option<&'a Value> {
    if path.starts_with('/') { json.pointer(path) } else { json.get(path) }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The raw value of `field` in a message.
pub fn extract_value(json: &Value, field: &str) -> Result<RawValue, String> {
    let v = lookup(json, field).ok_or("the field is missing from the message")?;
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(RawValue::Unsigned(u))
            } else if let Some(i) = n.as_i64() {
                Ok(RawValue::Signed(i))
            } else {
                n.as_f64().map(RawValue::F64).ok_or_else(|| format!("{n} is not a usable number"))
            }
        }
        Value::String(s) => parse_decimal(s)
            .map(|d| RawValue::Decimal { mantissa: d.mantissa, decimals: d.exp })
            .map_err(|e| e.to_string()),
        other => Err(format!("the field is {}, not a number", json_kind(other))),
    }
}

/// The Unix-millisecond timestamp in `field` of a message.
pub fn extract_timestamp(json: &Value, field: &str) -> Result<i64, String> {
    let v = lookup(json, field).ok_or("the timestamp field is missing from the message")?;
    match v {
        Value::Number(n) => {
            let ms = n.as_i64().ok_or_else(|| format!("timestamp {n} is not an integer of Unix milliseconds"))?;
            if (MIN_TIMESTAMP_MS / 1000..MAX_TIMESTAMP_MS / 1000).contains(&ms) {
                return Err(format!("timestamp {ms} looks like Unix seconds; send milliseconds ({ms}000)"));
            }
            if !(MIN_TIMESTAMP_MS..MAX_TIMESTAMP_MS).contains(&ms) {
                return Err(format!("timestamp {ms} is not Unix milliseconds between the years 2000 and 2100"));
            }
            Ok(ms)
        }
        Value::String(s) => crate::import::parse_rfc3339_ms(s),
        other => Err(format!("the timestamp is {}, expected Unix milliseconds or RFC 3339 text", json_kind(other))),
    }
}

fn mqtt_source(p: &PointConfig) -> Option<&MqttSource> {
    match &p.source {
        SourceConfig::Mqtt(m) => Some(m),
        _ => None,
    }
}

/// The value and optional source timestamp one point takes from one message.
fn read_point(
    topic: &str,
    json: &Value,
    point: &PointConfig,
    src: &MqttSource,
) -> Result<(Quantity, Option<i64>), DriverError> {
    let payload_err =
        |field: &str, reason: String| DriverError::Payload { topic: topic.to_owned(), field: field.to_owned(), reason };
    let raw = extract_value(json, &src.field).map_err(|r| payload_err(&src.field, r))?;
    let ts = match &src.timestamp_field {
        Some(f) => Some(extract_timestamp(json, f).map_err(|r| payload_err(f, r))?),
        None => None,
    };
    Ok((point.scale.apply(raw)?, ts))
}

/// The client id of a broker connection without a configured one: the same for the same broker
/// and topics across restarts (a persistent session is found by its client id), different for
/// another gateway's topics. FNV-1a 64 of the broker and the sorted filters.
fn derived_client_id(broker: &str, filters: &[String]) -> String {
    let mut sorted: Vec<&String> = filters.iter().collect();
    sorted.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in std::iter::once(broker).chain(sorted.iter().map(|s| s.as_str())) {
        for b in part.bytes().chain(std::iter::once(0)) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("trustmeter-{h:016x}")
}

/// Runs one broker connection for `points` until shutdown.
pub(crate) async fn run_broker(
    broker: String,
    mut points: Vec<(usize, PointConfig)>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<DriverEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (host, port) = match split_host_port(&broker) {
        Ok(hp) => hp,
        Err(_) => return, // validated before; unreachable in practice
    };
    // Distinct topic filters, in order of first use, up to the limit.
    let mut filters: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut refused = Vec::new();
    points.retain(|(i, p)| {
        let Some(src) = mqtt_source(p) else { return false };
        if seen.contains(&src.topic) {
            return true;
        }
        if filters.len() >= MAX_MQTT_TOPICS_PER_BROKER {
            refused.push((*i, p.meter.clone()));
            return false;
        }
        seen.insert(src.topic.clone());
        filters.push(src.topic.clone());
        true
    });
    for (point, meter) in refused {
        let error = DriverError::Mqtt {
            broker: broker.clone(),
            message: format!(
                "more than {MAX_MQTT_TOPICS_PER_BROKER} topics on one broker; this point is not subscribed"
            ),
        };
        if !emit(&events, DriverEvent::Error { point, meter, error }, &mut shutdown).await {
            return;
        }
    }
    let client_id = points
        .iter()
        .find_map(|(_, p)| mqtt_source(p).and_then(|s| s.client_id.clone()))
        .unwrap_or_else(|| derived_client_id(&broker, &filters));
    let mut options = MqttOptions::new(client_id.clone(), host, port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(false);
    options.set_max_packet_size(MAX_MQTT_PACKET_BYTES, 64 * 1024);
    options.set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    // Acknowledgements go out from their own task: `client.ack` waits for room in the request
    // queue, which only this loop's `poll` drains.
    let (ack_tx, ack_rx) = mpsc::channel::<AckId>(MAX_MQTT_PENDING_ACKS);
    // A `JoinSet` aborts its task when dropped, on every way out of this function.
    let mut acker = tokio::task::JoinSet::new();
    acker.spawn(send_acks(client.clone(), ack_rx));
    let mut backoff = Backoff::default();
    tracing::info!(%broker, %client_id, topics = filters.len(), "MQTT: connecting");

    loop {
        let polled = tokio::select! {
            e = eventloop.poll() => e,
            _ = stopped(&mut shutdown) => break,
        };
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                if ack.code == ConnectReturnCode::Success {
                    backoff.succeeded();
                    // Back to a persistent session after a clean start (below).
                    eventloop.mqtt_options.set_clean_session(false);
                    tracing::info!(%broker, session_present = ack.session_present, "MQTT: connected, subscribing");
                    let subs = filters.iter().map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(e) = client.try_subscribe_many(subs) {
                        tracing::warn!(%broker, error = %e, "MQTT: could not queue the subscription");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                for (filter, code) in filters.iter().zip(ack.return_codes.iter()) {
                    if matches!(code, SubscribeReasonCode::Failure) {
                        for (point, p) in
                            points.iter().filter(|(_, p)| mqtt_source(p).is_some_and(|s| &s.topic == filter))
                        {
                            let error = DriverError::Mqtt {
                                broker: broker.clone(),
                                message: format!(
                                    "the broker refused the subscription to {filter:?}; check its access rules"
                                ),
                            };
                            let ev = DriverEvent::Error { point: *point, meter: p.meter.clone(), error };
                            if !emit(&events, ev, &mut shutdown).await {
                                return;
                            }
                        }
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let now = clock.now_ms();
                let mut evs = handle_message(&publish.topic, &publish.payload, &points, now);
                if publish.qos != QoS::AtMostOnce {
                    let id = AckId { qos: publish.qos, pkid: publish.pkid };
                    evs.push(DriverEvent::Taken(Ack::new(ack_tx.clone(), id)));
                }
                for ev in evs {
                    if !emit(&events, ev, &mut shutdown).await {
                        return;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                backoff.failed(e.to_string());
                let delay = backoff.current_delay();
                tracing::warn!(%broker, error = %e, retry_in_ms = delay.as_millis() as u64, "MQTT: connection failed");
                let oversize = match &e {
                    rumqttc::ConnectionError::MqttState(rumqttc::StateError::Deserialization(
                        rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(size),
                    )) => Some(*size),
                    _ => None,
                };
                if oversize.is_some() {
                    // The broker would send the same packet again and again in this session:
                    // start a clean one (what it costs is documented above and in the event).
                    eventloop.mqtt_options.set_clean_session(true);
                }
                for (point, p) in &points {
                    let error = match oversize {
                        // A refused message, not a connection fault: its loss is reported as such.
                        Some(size) => DriverError::PayloadTooLarge {
                            topic: format!(
                                "(not known: a packet on broker {broker} refused before its topic was read; the session was started clean, so messages the broker held for it are lost too)"
                            ),
                            size,
                            max: MAX_MQTT_PACKET_BYTES,
                        },
                        None => DriverError::Mqtt { broker: broker.clone(), message: e.to_string() },
                    };
                    if !emit(
                        &events,
                        DriverEvent::Error { point: *point, meter: p.meter.clone(), error },
                        &mut shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped(&mut shutdown) => break,
                }
            }
        }
    }
    // Closing: the consumer stops too, storing or dropping what it holds; send the
    // acknowledgements it releases meanwhile, then DISCONNECT, all within the grace period.
    // Messages arriving now are not taken; the broker keeps them for the next connection.
    drop(ack_tx);
    let close = async {
        loop {
            tokio::select! {
                _ = acker.join_next() => break,
                e = eventloop.poll() => if e.is_err() { return },
            }
        }
        if client.try_disconnect().is_err() {
            return;
        }
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    if tokio::time::timeout(MQTT_CLOSE_GRACE, close).await.is_err() {
        tracing::warn!(%broker, "MQTT: closed before every stored message was acknowledged; the broker will deliver those again");
    }
}

/// Sends the acknowledgements the consumer releases, in the order it releases them, until every
/// [`Ack`] is gone (acknowledged or dropped) or the connection's client is.
async fn send_acks(client: AsyncClient, mut acks: mpsc::Receiver<AckId>) {
    while let Some(id) = acks.recv().await {
        let mut p = Publish::new("", id.qos, Vec::<u8>::new());
        p.pkid = id.pkid;
        if client.ack(&p).await.is_err() {
            return;
        }
    }
}

/// The events one message yields for the points of one broker.
pub(crate) fn handle_message(
    topic: &str,
    payload: &[u8],
    points: &[(usize, PointConfig)],
    now_ms: i64,
) -> Vec<DriverEvent> {
    let matching: Vec<(&usize, &PointConfig, &MqttSource)> = points
        .iter()
        .filter_map(|(i, p)| mqtt_source(p).filter(|s| topic_matches(&s.topic, topic)).map(|s| (i, p, s)))
        .collect();
    if matching.is_empty() {
        return Vec::new();
    }
    let error_all = |make: &dyn Fn(&MqttSource) -> DriverError| {
        matching
            .iter()
            .map(|(i, p, s)| DriverEvent::Error { point: **i, meter: p.meter.clone(), error: make(s) })
            .collect::<Vec<_>>()
    };
    if payload.len() > MAX_MQTT_PAYLOAD_BYTES {
        tracing::warn!(topic, size = payload.len(), "MQTT: payload over the limit refused");
        return error_all(&|_| DriverError::PayloadTooLarge {
            topic: topic.to_owned(),
            size: payload.len(),
            max: MAX_MQTT_PAYLOAD_BYTES,
        });
    }
    let json: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("payload is not valid JSON: {e}");
            return error_all(&|s| DriverError::Payload {
                topic: topic.to_owned(),
                field: s.field.clone(),
                reason: reason.clone(),
            });
        }
    };
    matching
        .into_iter()
        .map(|(i, p, s)| match read_point(topic, &json, p, s) {
            Ok((value, ts)) => DriverEvent::Sample(Sample {
                point: *i,
                meter: p.meter.clone(),
                value,
                collected_at_ms: ts.unwrap_or(now_ms),
                source_timestamp: ts.is_some(),
            }),
            Err(error) => DriverEvent::Error { point: *i, meter: p.meter.clone(), error },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filters() {
        assert!(topic_matches("a/b", "a/b"));
        assert!(!topic_matches("a/b", "a/b/c"));
        assert!(topic_matches("a/+/c", "a/x/c"));
        assert!(!topic_matches("a/+/c", "a/x/d"));
        assert!(topic_matches("a/#", "a"));
        assert!(topic_matches("a/#", "a/b/c"));
        assert!(topic_matches("#", "x/y"));
        assert!(!topic_matches("#", "$SYS/x"));
    }

    #[test]
    fn fields_and_timestamps() {
        let j: Value = serde_json::from_str(
            r#"{"energy":{"total":1234.56,"text":"99.125"},"n":-3,"ts":1767225600000,"iso":"2026-01-01T08:00:00+08:00","sec":1767225600}"#,
        )
        .unwrap();
        assert_eq!(extract_value(&j, "/energy/total").unwrap(), RawValue::F64(1234.56));
        assert_eq!(extract_value(&j, "/energy/text").unwrap(), RawValue::Decimal { mantissa: 99125, decimals: 3 });
        assert_eq!(extract_value(&j, "n").unwrap(), RawValue::Signed(-3));
        assert!(extract_value(&j, "energy").unwrap_err().contains("object"));
        assert!(extract_value(&j, "/missing").unwrap_err().contains("missing"));
        assert_eq!(extract_timestamp(&j, "ts").unwrap(), 1_767_225_600_000);
        assert_eq!(extract_timestamp(&j, "/iso").unwrap(), 1_767_225_600_000);
        assert!(extract_timestamp(&j, "sec").unwrap_err().contains("seconds"));
    }
}
