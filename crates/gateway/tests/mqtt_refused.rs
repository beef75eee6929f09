//! A refused MQTT message (issue 11): its loss stays visible. The gateway reads one MQTT point;
//! a message that is not JSON is refused, and a good message follows at once (usually in the
//! same batch of driver events). The `message_refused` alarm names the topic and the point and is
//! still raised after the good value is stored (a value was lost whatever came after), and the
//! refused message is counted under the point's topic in `GET /metrics`.

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_meters::emulator::MqttBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_raises_a_held_alarm_and_is_counted_per_topic() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let broker = MqttBroker::start(0).await.unwrap();
    let cfg = GatewayConfig::parse(&format!(
        r#"
[gateway]
id = "91350100M000100Y43-GW-01"
data_dir = "{dir}"
listen = "127.0.0.1:0"

[[destination]]
name = "provincial"
nodes = ["http://127.0.0.1:9"]
max_backoff_ms = 1000

[[point]]
meter = "91350100M000100Y43-GAS-1"
driver = "mqtt"
broker = "{broker}"
topic = "plant/+/gas"
field = "v"
unit = "Nm3"
"#,
        dir = dir.path().display(),
        broker = broker.address(),
    ))
    .expect("config parses");
    let key = trustmeter_crypto::SigningKey::ed25519_from_seed([53; 32]);
    let handle = trustmeter_gateway::start(cfg, key, Arc::new(trustmeter_meters::SystemClock)).await.expect("starts");
    let api = format!("http://{}", handle.api_addr);

    let mut o = rumqttc::MqttOptions::new("test-refused-pub", "127.0.0.1", broker.local_addr().port());
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (mq, mut ev) = rumqttc::AsyncClient::new(o, 16);
    tokio::spawn(async move {
        loop {
            if ev.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let publish = |payload: &'static str| {
        let mq = mq.clone();
        async move { mq.publish("plant/boiler1/gas", rumqttc::QoS::AtLeastOnce, false, payload).await.unwrap() }
    };
    // Until the subscription is in place, good values only.
    eventually("the first MQTT value stored", || async {
        publish(r#"{"v":1}"#).await;
        (status(&api).await.points[0].samples > 0).then_some(())
    })
    .await;

    // A message that is not JSON, then at once a good one.
    let before = status(&api).await.points[0].samples;
    publish("not json").await;
    publish(r#"{"v":2}"#).await;
    let s = eventually("the good value after the refused one", || async {
        let s = status(&api).await;
        (s.points[0].samples > before && s.points[0].errors > 0).then_some(s)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let s2 = status(&api).await;
    for s in [&s, &s2] {
        let alarm = s.alarms.iter().find(|a| a.kind == "message_refused").unwrap_or_else(|| panic!("{:?}", s.alarms));
        assert_eq!(alarm.subject, "91350100M000100Y43-GAS-1");
        assert!(
            alarm.message.contains("topic plant/boiler1/gas")
                && alarm.message.contains("point 0")
                && alarm.message.contains("not valid JSON"),
            "{}",
            alarm.message
        );
        // The connection-level alarm, cleared by a good value, is not used for it.
        assert!(!s.alarms.iter().any(|a| a.kind == "driver_error"), "{:?}", s.alarms);
    }
    let metrics = reqwest::get(format!("{api}/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == r#"trustmeter_gateway_mqtt_messages_refused_total{topic="plant/+/gas"} 1"#),
        "{metrics}"
    );
    handle.stop().await;
}
