//! MQTT driver against an embedded rumqttd broker, with a real rumqttc publisher.

use crate::common::*;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::time::Duration;
use trustmeter_meters::emulator::MqttBroker;
use trustmeter_meters::limits::MAX_MQTT_PAYLOAD_BYTES;
use trustmeter_meters::{DriverError, DriverEvent, MqttSource, Scale, SourceConfig};
use trustmeter_types::{Quantity, RegisterKind, Unit};

async fn publisher(broker: &MqttBroker, id: &str) -> AsyncClient {
    let mut o = MqttOptions::new(id, "127.0.0.1", broker.local_addr().port());
    o.set_max_packet_size(4 * MAX_MQTT_PAYLOAD_BYTES, 4 * MAX_MQTT_PAYLOAD_BYTES);
    let (client, mut eventloop) = AsyncClient::new(o, 64);
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    client
}

fn mqtt(broker: &MqttBroker, topic: &str, field: &str, ts: Option<&str>) -> SourceConfig {
    SourceConfig::Mqtt(MqttSource {
        broker: broker.address(),
        topic: topic.into(),
        field: field.into(),
        timestamp_field: ts.map(Into::into),
        client_id: None,
    })
}

/// Publishes `payload` every 100 ms until point `point` reports something: the gateway's
/// subscription is then in place.
async fn until_subscribed(run: &mut Run, pubc: &AsyncClient, topic: &str, payload: &str, point: usize) -> DriverEvent {
    for _ in 0..50 {
        pubc.publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec()).await.unwrap();
        if let Some(ev) = run.try_next(Duration::from_millis(100)).await
            && ev.point() == Some(point)
        {
            return ev;
        }
    }
    panic!("the driver never subscribed");
}

async fn publish(c: &AsyncClient, topic: &str, payload: impl Into<Vec<u8>>) {
    c.publish(topic, QoS::AtLeastOnce, false, payload.into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_pick_their_fields_from_json() {
    let broker = MqttBroker::start(0).await.unwrap();
    let mut power = point("P-1", mqtt(&broker, "plant/ws1/meter1", "power", None));
    power.kind = RegisterKind::Instantaneous;
    power.unit = Unit::Kilowatt;
    let mut scaled = point("E-2", mqtt(&broker, "plant/+/meter2", "/raw", Some("/ts")));
    scaled.scale = Scale::parse("0.01").unwrap();
    let points = vec![
        point("E-1", mqtt(&broker, "plant/ws1/meter1", "/energy/total", None)),
        power,
        scaled,
        point("E-3", mqtt(&broker, "plant/#", "/energy/total", Some("time"))),
    ];
    let clock = fast_clock();
    let mut run = run(points, clock.clone());
    let pubc = publisher(&broker, "test-pub-1").await;
    until_subscribed(
        &mut run,
        &pubc,
        "plant/ws1/meter1",
        r#"{"energy":{"total":1},"power":0,"time":"2026-01-05T09:00:00+08:00"}"#,
        0,
    )
    .await;
    // Drain what the warm-up produced.
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.drain().await;

    let before = clock.now_ms();
    publish(
        &pubc,
        "plant/ws1/meter1",
        r#"{"energy":{"total":1234.56},"power":"87.125","time":"2026-01-05T10:15:00+08:00"}"#,
    )
    .await;
    let s0 = run.sample_with(0, Quantity::from_micros(1_234_560_000), 5).await;
    assert!(!s0.source_timestamp && s0.collected_at_ms >= before);
    run.sample_with(1, Quantity::from_micros(87_125_000), 5).await;
    let s3 = run.sample_with(3, Quantity::from_micros(1_234_560_000), 5).await;
    assert!(s3.source_timestamp);
    assert_eq!(s3.collected_at_ms, MONDAY_MS + (10 * 60 + 15) * 60_000);

    // Wildcard topic, nested pointer, integer Unix-ms timestamp, scale 0.01.
    publish(&pubc, "plant/ws2/meter2", r#"{"raw":123456,"ts":1767580200000,"energy":{"total":5}}"#).await;
    let s2 = run.sample_of(2, 5).await;
    assert_eq!(s2.value, Quantity::from_micros(1_234_560_000));
    assert_eq!((s2.collected_at_ms, s2.source_timestamp), (1_767_580_200_000, true));
    // The same message also matches plant/# but has no "time" field: an error naming it.
    match run.error_of(3, 5).await {
        DriverError::Payload { topic, field, reason } => {
            assert_eq!((topic.as_str(), field.as_str()), ("plant/ws2/meter2", "time"));
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_missing_and_oversize_messages_are_errors() {
    let broker = MqttBroker::start(0).await.unwrap();
    let points = vec![
        point("E-1", mqtt(&broker, "site/m1", "/energy/total", None)),
        point("E-2", mqtt(&broker, "site/m1", "total", Some("/ts"))),
    ];
    let mut run = run(points, fast_clock());
    let pubc = publisher(&broker, "test-pub-2").await;
    until_subscribed(&mut run, &pubc, "site/m1", r#"{"energy":{"total":1},"total":1,"ts":1767580200000}"#, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.drain().await;

    publish(&pubc, "site/m1", "this is not json").await;
    for (i, field) in [(0, "/energy/total"), (1, "total")] {
        let e = run.error_of(i, 5).await;
        let text = e.to_string();
        assert!(text.contains("\"site/m1\"") && text.contains(field) && text.contains("not valid JSON"), "{text}");
    }

    publish(&pubc, "site/m1", r#"{"energy":{},"total":"12,5","ts":1767580200000}"#).await;
    let e0 = run.error_of(0, 5).await;
    assert!(e0.to_string().contains("missing"), "{e0}");
    let e1 = run.error_of(1, 5).await;
    assert!(e1.to_string().contains("not a decimal number"), "{e1}");

    publish(&pubc, "site/m1", r#"{"energy":{"total":true},"total":1,"ts":1767580200}"#).await;
    assert!(run.error_of(0, 5).await.to_string().contains("boolean"));
    assert!(run.error_of(1, 5).await.to_string().contains("seconds"));

    // One byte over the limit, otherwise valid JSON.
    let head = r#"{"energy":{"total":1},"total":1,"ts":1767580200000,"pad":""#;
    let pad = MAX_MQTT_PAYLOAD_BYTES + 1 - head.len() - 2;
    let big = format!("{head}{}\"}}", "x".repeat(pad));
    assert_eq!(big.len(), MAX_MQTT_PAYLOAD_BYTES + 1);
    publish(&pubc, "site/m1", big).await;
    for i in 0..2 {
        match run.error_of(i, 5).await {
            DriverError::PayloadTooLarge { topic, size, max } => {
                assert_eq!(
                    (topic.as_str(), size, max),
                    ("site/m1", MAX_MQTT_PAYLOAD_BYTES + 1, MAX_MQTT_PAYLOAD_BYTES)
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // The connection survived: a good message still arrives.
    publish(&pubc, "site/m1", r#"{"energy":{"total":"7.000001"},"total":8,"ts":1767580200000}"#).await;
    run.sample_with(0, Quantity::from_micros(7_000_001), 5).await;
    run.sample_with(1, Quantity::from_micros(8_000_000), 5).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_reported_and_retried() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = SourceConfig::Mqtt(MqttSource {
        broker: format!("127.0.0.1:{port}"),
        topic: "x".into(),
        field: "v".into(),
        timestamp_field: None,
        client_id: Some("gw-test".into()),
    });
    let mut run = run(vec![point("E-1", src)], fast_clock());
    for _ in 0..2 {
        match run.error_of(0, 5).await {
            DriverError::Mqtt { broker, .. } => assert_eq!(broker, format!("127.0.0.1:{port}")),
            other => panic!("{other:?}"),
        }
    }
    run.stop().await;
}

/// Waits for the next sample of `point`, skipping its errors; panics after `secs`.
async fn next_sample(run: &mut Run, point: usize, secs: u64) -> Quantity {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match run.try_next(left).await {
            Some(DriverEvent::Sample(s)) if s.point == point => return s.value,
            Some(_) => {}
            None => panic!("no sample of point {point} within {secs} s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_message_costs_no_later_reading_and_the_session_outlives_the_gateway() {
    let broker = MqttBroker::start(0).await.unwrap();
    let cfg = || vec![point("E-1", mqtt(&broker, "site/m9", "v", None))];
    let mut run1 = run(cfg(), fast_clock());
    let pubc = publisher(&broker, "test-pub-9").await;
    until_subscribed(&mut run1, &pubc, "site/m9", r#"{"v":0}"#, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    run1.drain().await;

    // 200 KiB (over the payload limit, and over the 128 KiB packet limit that used to break the
    // connection), then at once five valid readings: the oversize one is refused by name, every
    // valid one arrives, in order.
    let big = format!(r#"{{"v":1,"pad":"{}"}}"#, "x".repeat(200 * 1024));
    publish(&pubc, "site/m9", big).await;
    for n in 1..=5 {
        publish(&pubc, "site/m9", format!(r#"{{"v":{n}}}"#)).await;
    }
    match run1.error_of(0, 5).await {
        DriverError::PayloadTooLarge { topic, .. } => assert_eq!(topic, "site/m9"),
        other => panic!("{other:?}"),
    }
    for n in 1..=5 {
        assert_eq!(next_sample(&mut run1, 0, 5).await, Quantity::from_micros(n * 1_000_000));
    }

    // The gateway goes away; readings published meanwhile wait in its session at the broker and
    // arrive when it is back (the same configuration: the same client id).
    run1.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 6..=8 {
        publish(&pubc, "site/m9", format!(r#"{{"v":{n}}}"#)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut run2 = run(cfg(), fast_clock());
    for n in 6..=8 {
        assert_eq!(next_sample(&mut run2, 0, 10).await, Quantity::from_micros(n * 1_000_000));
    }
    run2.stop().await;
}

/// A gateway that crashes after receiving messages but before storing them (it never
/// acknowledges them) gets them again on its next connection; once acknowledged, they never come
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_not_taken_comes_again_and_a_taken_one_does_not() {
    let broker = MqttBroker::start(0).await.unwrap();
    let cfg = || vec![point("E-1", mqtt(&broker, "site/m7", "v", Some("ts")))];
    let ts = |n: i64| 1_767_225_600_000 + n * 60_000;
    let msg = |n: i64| format!(r#"{{"v":{n},"ts":{}}}"#, ts(n));
    let pubc = publisher(&broker, "test-pub-7").await;

    let mut run1 = run(cfg(), fast_clock());
    until_subscribed(&mut run1, &pubc, "site/m7", &msg(0), 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    run1.drain().await;
    // From here on the consumer holds every acknowledgement: it "crashes" before storing.
    run1.hold_acks = true;
    for n in 1..=3 {
        publish(&pubc, "site/m7", msg(n)).await;
    }
    for n in 1..=3 {
        assert_eq!(next_sample(&mut run1, 0, 5).await, Quantity::from_micros(n * 1_000_000));
    }
    run1.stop().await;

    // Back: the three come again, in order, with their source timestamps; this consumer takes them.
    let mut run2 = run(cfg(), fast_clock());
    for n in 1..=3 {
        let s = run2.sample_of(0, 10).await;
        assert_eq!((s.value, s.collected_at_ms), (Quantity::from_micros(n * 1_000_000), ts(n)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    run2.stop().await;

    // Taken and acknowledged: a third connection sees only what is published after.
    let mut run3 = run(cfg(), fast_clock());
    tokio::time::sleep(Duration::from_millis(500)).await;
    publish(&pubc, "site/m7", msg(4)).await;
    assert_eq!(next_sample(&mut run3, 0, 10).await, Quantity::from_micros(4_000_000));
    run3.stop().await;
}

/// Reads one MQTT packet from `s`: its first byte and its body.
async fn read_packet(s: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
    use tokio::io::AsyncReadExt as _;
    let first = s.read_u8().await.unwrap();
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let b = s.read_u8().await.unwrap();
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.unwrap();
    (first, body)
}

/// Accepts one connection of the driver, answers its CONNECT and SUBSCRIBE, and returns the
/// connection and whether the CONNECT asked for a clean session.
async fn fake_session(listener: &tokio::net::TcpListener) -> (tokio::net::TcpStream, bool) {
    use tokio::io::AsyncWriteExt as _;
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept()).await.unwrap().unwrap();
    let (kind, connect) = read_packet(&mut s).await;
    assert_eq!(kind >> 4, 1, "CONNECT first");
    // Protocol name (2 + 4 bytes), level, then the connect flags: bit 1 is "clean session".
    let clean = connect[7] & 0x02 != 0;
    s.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap();
    let (kind, subscribe) = read_packet(&mut s).await;
    assert_eq!(kind >> 4, 8, "then SUBSCRIBE");
    s.write_all(&[0x90, 0x03, subscribe[0], subscribe[1], 0x01]).await.unwrap();
    (s, clean)
}

/// A packet over the client's packet limit (16 MiB) cannot be read at all: the driver reports it
/// as a refused message of that size (its topic cannot be known: the client refuses the packet on
/// its fixed header), naming the broker, and reconnects with a clean session so that the broker
/// stops sending it. A fake broker speaks just enough MQTT 3.1.1 to announce such a packet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_over_the_packet_limit_is_reported_as_refused_and_the_session_restarts_clean() {
    use tokio::io::AsyncWriteExt as _;
    use trustmeter_meters::limits::MAX_MQTT_PACKET_BYTES;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker = listener.local_addr().unwrap().to_string();
    let src = SourceConfig::Mqtt(MqttSource {
        broker: broker.clone(),
        topic: "site/huge".into(),
        field: "v".into(),
        timestamp_field: None,
        client_id: Some("gw-huge".into()),
    });
    let mut run = run(vec![point("E-1", src)], fast_clock());
    let (mut s, clean) = fake_session(&listener).await;
    assert!(!clean, "the first session is persistent");
    // A QoS 1 PUBLISH announcing 17 MiB: remaining length as a 4-byte variable integer.
    let size = MAX_MQTT_PACKET_BYTES + (1 << 20);
    let mut head = vec![0x32];
    let mut n = size;
    for _ in 0..4 {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        head.push(if n > 0 { b | 0x80 } else { b });
    }
    head.extend_from_slice(b"\x00\x09site/huge\x00\x01");
    s.write_all(&head).await.unwrap();
    match run.error_of(0, 10).await {
        DriverError::PayloadTooLarge { topic, size: got, max } => {
            assert_eq!((got, max), (size, MAX_MQTT_PACKET_BYTES));
            assert!(topic.contains(&broker) && topic.contains("not known"), "{topic}");
        }
        other => panic!("{other:?}"),
    }
    let (_s2, clean) = fake_session(&listener).await;
    assert!(clean, "after the oversize packet the session restarts clean");
    run.stop().await;
}
