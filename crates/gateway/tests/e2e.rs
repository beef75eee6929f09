//! The gateway end to end, with real components only: a provincial chain (4 validators) and a
//! national chain (1 validator) on loopback, a real Modbus TCP server, a DL/T 645 meter emulator
//! on a TCP socket, an embedded MQTT broker, and the gateway reading them, signing, storing and
//! sending to both chains (一端双发). Values are checked on chain against what the devices were
//! set to; rejected readings (unregistered, uncalibrated meters) are kept with reasons while the
//! valid ones next to them are recorded; the national chain refuses the gateway until it is
//! onboarded there, and then receives the whole backlog, in order.

use crate::common::*;
use commonware_runtime::Runner as _;
use std::collections::BTreeMap;
use std::time::Duration;
use trustmeter_crypto::SigningKey;
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_meters::emulator::{Dlt645Server, ModbusServer, MqttBroker};
use trustmeter_meters::{DataType, Dlt645Address, Dlt645Register, RawValue, RegisterTable, WordOrder, parse_quantity};
use trustmeter_types::{DeviceId, Quantity, Unit};

fn q(s: &str) -> Quantity {
    parse_quantity(s).unwrap()
}

struct Meters {
    modbus_u32: DeviceId,
    modbus_f32: DeviceId,
    dlt_total: DeviceId,
    dlt_peak: DeviceId,
    mqtt_gas: DeviceId,
    sim: DeviceId,
    unregistered: DeviceId,
    uncalibrated: DeviceId,
    manual: DeviceId,
    history: DeviceId,
}

#[allow(clippy::too_many_arguments)] // one test config, every address spelled out
fn config(
    gw: &DeviceId,
    data_dir: &std::path::Path,
    m: &Meters,
    modbus: &str,
    dlt: &str,
    dlt_addr: &str,
    mqtt: &str,
    provincial: &[String],
    national: &[String],
) -> GatewayConfig {
    let list = |v: &[String]| v.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ");
    let text = format!(
        r#"
[gateway]
id = "{gw}"
data_dir = "{dir}"
listen = "127.0.0.1:0"

[alarms]
no_data_polls = 5

[[destination]]
name = "provincial"
nodes = [{prov}]
max_backoff_ms = 1000

[[destination]]
name = "national"
nodes = [{nat}]
max_backoff_ms = 1000

[[point]]
meter = "{mb32}"
driver = "modbus"
address = "{modbus}"
register = 0
data_type = "u32"
word_order = "big"
scale = "0.01"
unit = "kWh"
poll_interval_s = 1

[[point]]
meter = "{mbf}"
driver = "modbus"
address = "{modbus}"
table = "input"
register = 10
data_type = "f32"
word_order = "little"
unit = "kW"
kind = "instantaneous"
poll_interval_s = 1
max = "10"

[[point]]
meter = "{dltt}"
driver = "dlt645"
address = "{dlt}"
meter_address = "{dlt_addr}"
register = "total"
unit = "kWh"
poll_interval_s = 1

[[point]]
meter = "{dltp}"
driver = "dlt645"
address = "{dlt}"
meter_address = "{dlt_addr}"
register = "peak"
unit = "kWh"
poll_interval_s = 1

[[point]]
meter = "{gas}"
driver = "mqtt"
broker = "{mqtt}"
topic = "plant/boiler1/gas"
field = "/totals/volume"
unit = "Nm3"

[[point]]
meter = "{sim}"
driver = "simulator"
seed = 7
rated_per_hour = 3600
start = "1000"
unit = "kWh"
poll_interval_s = 1

[[point]]
meter = "{unreg}"
driver = "simulator"
seed = 8
rated_per_hour = 10
start = "5"
unit = "kWh"
poll_interval_s = 1

[[point]]
meter = "{uncal}"
driver = "simulator"
seed = 9
rated_per_hour = 10
start = "5"
unit = "kWh"
poll_interval_s = 1
"#,
        dir = data_dir.display(),
        prov = list(provincial),
        nat = list(national),
        mb32 = m.modbus_u32,
        mbf = m.modbus_f32,
        dltt = m.dlt_total,
        dltp = m.dlt_peak,
        gas = m.mqtt_gas,
        sim = m.sim,
        unreg = m.unregistered,
        uncal = m.uncalibrated,
    );
    GatewayConfig::parse(&text).expect("test config parses")
}

/// Values of a meter's readings on a chain.
async fn values(chain: &TestChain, m: &DeviceId) -> Vec<i64> {
    chain.readings(m).await.into_iter().map(|r| r.2).collect()
}

#[test]
fn gateway_reads_real_devices_and_sends_to_both_chains() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path());
    let data_dir = dir.path().join("gateway");
    runner.start(|ctx| async move {
        let mut prov = TestChain::start(&ctx, dir.path(), "hunan-1", 4, 11).await;
        let mut nat = TestChain::start(&ctx, dir.path(), "national-1", 1, 11).await;

        // Devices on loopback.
        let modbus = ModbusServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        modbus.set_value(RegisterTable::Holding, 0, RawValue::Unsigned(1_234_567), DataType::U32, WordOrder::BigEndian).unwrap();
        modbus.set_value(RegisterTable::Input, 10, RawValue::F32(12.5), DataType::F32, WordOrder::LittleEndian).unwrap();
        let dlt = Dlt645Server::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dlt_addr = Dlt645Address::parse("000012345678").unwrap();
        dlt.add_meter(dlt_addr);
        dlt.set_energy(dlt_addr, Dlt645Register::Total, q("1000.25")).unwrap();
        dlt.set_energy(dlt_addr, Dlt645Register::Peak, q("300.5")).unwrap();
        let broker = MqttBroker::start(0).await.unwrap();

        let gw = dev(&prov, "GW-01");
        // The same enterprise code on both chains (the devnets share the seed-derived layout
        // only per chain; use the provincial enterprise's code for device ids everywhere).
        let m = Meters {
            modbus_u32: dev(&prov, "EM-MB32"),
            modbus_f32: dev(&prov, "PW-MBF"),
            dlt_total: dev(&prov, "EM-645T"),
            dlt_peak: dev(&prov, "EM-645P"),
            mqtt_gas: dev(&prov, "GAS-MQ"),
            sim: dev(&prov, "EM-SIM"),
            unregistered: dev(&prov, "EM-UNREG"),
            uncalibrated: dev(&prov, "EM-UNCAL"),
            manual: dev(&prov, "WM-MAN"),
            history: dev(&prov, "EM-HIST"),
        };
        let gw_key = SigningKey::ed25519_from_seed([42; 32]);
        let registered: Vec<(DeviceId, Unit)> = vec![
            (m.modbus_u32.clone(), Unit::KilowattHour),
            (m.modbus_f32.clone(), Unit::Kilowatt),
            (m.dlt_total.clone(), Unit::KilowattHour),
            (m.dlt_peak.clone(), Unit::KilowattHour),
            (m.mqtt_gas.clone(), Unit::NormalCubicMetre),
            (m.sim.clone(), Unit::KilowattHour),
            (m.uncalibrated.clone(), Unit::KilowattHour),
            (m.manual.clone(), Unit::CubicMetre),
            (m.history.clone(), Unit::KilowattHour),
        ];
        let now = now_ms();
        let cal = (now - 400 * DAY_MS, now + 365 * DAY_MS);
        prov.onboard(&gw, &gw_key, &registered, cal, std::slice::from_ref(&m.uncalibrated), &[]).await;

        let cfg = config(
            &gw,
            &data_dir,
            &m,
            &modbus.address(),
            &dlt.address(),
            "000012345678",
            &broker.address(),
            &prov.urls,
            &nat.urls,
        );
        let handle = trustmeter_gateway::start(cfg, gw_key.clone(), std::sync::Arc::new(trustmeter_meters::SystemClock))
            .await
            .expect("gateway starts");
        let api = format!("http://{}", handle.api_addr);

        // MQTT values are pushed; publish every 300 ms.
        let (mq, mut ev) = rumqttc::AsyncClient::new(
            rumqttc::MqttOptions::new("test-publisher", broker.local_addr().ip().to_string(), broker.local_addr().port()),
            16,
        );
        tokio::spawn(async move { while ev.poll().await.is_ok() {} });
        let publisher = tokio::spawn(async move {
            loop {
                let _ = mq
                    .publish("plant/boiler1/gas", rumqttc::QoS::AtLeastOnce, false, r#"{"totals":{"volume":456.789}}"#)
                    .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });

        // Every device's exact value reaches the provincial chain.
        let expect: BTreeMap<&DeviceId, i64> = [
            (&m.modbus_u32, q("12345.67").micros()),
            (&m.modbus_f32, q("12.5").micros()),
            (&m.dlt_total, q("1000.25").micros()),
            (&m.dlt_peak, q("300.5").micros()),
            (&m.mqtt_gas, q("456.789").micros()),
        ]
        .into_iter()
        .collect();
        for (meter, v) in &expect {
            let got = eventually(&format!("{meter} on the provincial chain"), || async {
                let vs = values(&prov, meter).await;
                (!vs.is_empty()).then_some(vs)
            })
            .await;
            assert!(got.iter().all(|x| x == v), "{meter}: chain has {got:?}, device holds {v}");
        }
        // The national chain does not know the gateway yet: it refuses, nothing is lost.
        let s = status(&api).await;
        let nat_status = s.destinations.iter().find(|d| d.name == "national").unwrap();
        assert!(nat_status.backlog > 0 && nat_status.acknowledged == 0, "{nat_status:?}");
        assert!(
            s.alarms.iter().any(|a| a.kind == "destination_refusing" && a.subject == "national"),
            "alarms: {:?}",
            s.alarms
        );
        // An out-of-range value (12.5 kW over the point's max of 10) raised an edge alarm.
        assert!(s.alarms.iter().any(|a| a.kind == "out_of_range" && a.subject == m.modbus_f32.as_str()), "{:?}", s.alarms);

        // Change a register: the new value follows.
        modbus.set_value(RegisterTable::Holding, 0, RawValue::Unsigned(1_234_667), DataType::U32, WordOrder::BigEndian).unwrap();
        eventually("the new Modbus value on chain", || async {
            values(&prov, &m.modbus_u32).await.contains(&q("12346.67").micros()).then_some(())
        })
        .await;

        // The local API is the operator's: what a web page or a stranger sends is refused.
        let token = std::fs::read_to_string(data_dir.join("operator.token")).unwrap().trim().to_string();
        let http = reqwest::Client::new();
        let history_rows = || async {
            let v: Vec<serde_json::Value> = reqwest::Client::new()
                .get(format!("{api}/readings?meter={}", m.history))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v.len()
        };
        assert_eq!(history_rows().await, 0);
        let refused = |r: reqwest::Response, status: u16, what: &str| {
            assert_eq!(r.status().as_u16(), status, "{what}");
        };
        let row = format!("meter,timestamp,value,unit\n{},2026-11-02 00:00,1,kWh\n", m.history);
        // No token.
        let r = http.post(format!("{api}/import")).header("content-type", "text/csv").body(row.clone()).send().await.unwrap();
        refused(r, 401, "an import without the operator token");
        // A wrong token.
        let r = http.post(format!("{api}/manual")).bearer_auth("0".repeat(64)).json(&serde_json::json!({"meter": m.manual.as_str(), "value": "1", "unit": "m3"})).send().await.unwrap();
        refused(r, 401, "a manual entry with a wrong token");
        // What any web page can send: a cross-origin text/plain POST (even with the token).
        let r = http.post(format!("{api}/import")).bearer_auth(&token).header("origin", "http://intranet.example").header("content-type", "text/plain").body(row.clone()).send().await.unwrap();
        refused(r, 403, "a cross-origin import");
        let r = http.post(format!("{api}/import")).bearer_auth(&token).header("content-type", "text/plain").body(row.clone()).send().await.unwrap();
        refused(r, 415, "a text/plain import");
        // DNS rebinding: a name that resolves to 127.0.0.1 but is not the gateway's.
        let r = http.get(format!("{api}/readings?meter={}", m.history)).header("host", "attacker.example:80").send().await.unwrap();
        refused(r, 403, "a read through a rebound host name");
        // A write through a rebound host name is refused too, with the token and the right type.
        let r = http.post(format!("{api}/manual")).bearer_auth(&token).header("host", "attacker.example:80").json(&serde_json::json!({"meter": m.manual.as_str(), "value": "1", "unit": "m3"})).send().await.unwrap();
        refused(r, 403, "a manual entry through a rebound host name");
        let r = http.get(format!("{api}/status")).header("origin", "http://attacker.example").send().await.unwrap();
        refused(r, 403, "a cross-origin read");
        assert_eq!(history_rows().await, 0, "a refused request stored a reading");
        // The status page: HTML for the operator, the same figures as /status, no script.
        let page = http.get(format!("{api}/")).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = page.text().await.unwrap();
        let report = status(&api).await;
        assert!(page.contains(&report.gateway), "the page names the gateway");
        assert!(page.contains(&format!("({})", report.points.len())), "the page counts the points");
        assert!(!page.contains("<script"));

        // Readings a page at a time: `limit`, then `after` = the previous page's cursor; the
        // pages neither repeat nor skip, and the last one carries no cursor.
        let page = |after: Option<String>| {
            let http = http.clone();
            let api = api.clone();
            async move {
                let url = match after {
                    Some(c) => format!("{api}/readings?limit=2&after={c}"),
                    None => format!("{api}/readings?limit=2"),
                };
                let r = http.get(url).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let next = r.headers().get("trustmeter-next").map(|v| v.to_str().unwrap().to_string());
                let rows: Vec<trustmeter_gateway::api::ReadingRow> = r.json().await.unwrap();
                (rows, next)
            }
        };
        let (first, next) = page(None).await;
        assert_eq!(first.len(), 2);
        let (second, _) = page(Some(next.clone().expect("more readings follow"))).await;
        assert!(!second.is_empty() && second[0].id > first[1].id, "{first:?} {second:?}");
        let mut ids: Vec<u64> = Vec::new();
        let mut cursor = None;
        for _ in 0..10_000 {
            let (rows, next) = page(cursor).await;
            ids.extend(rows.iter().map(|r| r.id));
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        assert!(cursor.is_none(), "the walk never ended");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids.len() >= 3 && ids[..2] == [first[0].id, first[1].id], "{ids:?}");
        let r = http.get(format!("{api}/readings?limit=0")).send().await.unwrap();
        refused(r, 400, "a page of no readings");
        let r = http.get(format!("{api}/readings?meter={}&after={}", m.manual, next.unwrap())).send().await.unwrap();
        refused(r, 400, "a cursor of another list");
        // The local API's connections are counted in its metrics.
        let metrics = http.get(format!("{api}/metrics")).send().await.unwrap().text().await.unwrap();
        let accepted = metrics
            .lines()
            .find_map(|l| l.strip_prefix("trustmeter_gateway_api_connections_accepted_total "))
            .and_then(|v| v.parse::<u64>().ok());
        assert!(accepted.is_some_and(|n| n > 0), "{metrics}");
        let r = http.get(format!("{api}/")).header("origin", "http://attacker.example").send().await.unwrap();
        refused(r, 403, "a cross-origin read of the status page");
        // Every error is `{code, message}`, the framework's own refusals included.
        let shape = |r: reqwest::Response, status: u16, code: &'static str, what: &'static str| async move {
            assert_eq!(r.status().as_u16(), status, "{what}");
            let v: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
            assert_eq!(v["code"], code, "{what}: {v}");
            assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {v}");
        };
        let r = http.post(format!("{api}/manual")).bearer_auth(&token).header("content-type", "application/json").body("{not json").send().await.unwrap();
        shape(r, 400, "bad_request", "a malformed manual entry").await;
        let r = http.get(format!("{api}/no-such-route")).send().await.unwrap();
        shape(r, 404, "not_found", "an unknown route").await;
        let r = http.post(format!("{api}/import")).header("content-type", "text/csv").body(row.clone()).send().await.unwrap();
        shape(r, 401, "unauthorised", "an import without the operator token").await;

        // Manual entry and a history import, by the operator.
        let t_manual = now_ms() - 60_000;
        let r = reqwest::Client::new()
            .post(format!("{api}/manual"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"meter": m.manual.as_str(), "value": "87.5", "unit": "m3", "timestamp_ms": t_manual}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let csv = format!(
            "meter,timestamp,value,unit\n{h},2026-11-01 00:00,100.5,kWh\n{h},2026-11-01 00:15,101.25,kWh\n{h},2026-11-01 00:30,102,kWh\n",
            h = m.history
        );
        let r = reqwest::Client::new()
            .post(format!("{api}/import"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(csv.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        // The same file again: every row is recognised as already stored (not refused as out of
        // order), nothing stored twice.
        let again: serde_json::Value = reqwest::Client::new()
            .post(format!("{api}/import"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(again["ids"].as_array().unwrap().len(), 0, "{again}");
        assert_eq!((again["duplicates"].as_u64(), again["refused"].as_array().map(Vec::len)), (Some(3), Some(0)), "{again}");
        let hist = eventually("imported history on chain", || async {
            let r = prov.readings(&m.history).await;
            (r.len() == 3).then_some(r)
        })
        .await;
        assert!(hist.iter().all(|r| r.3 == "imported"));
        assert_eq!(hist.iter().map(|r| r.2).collect::<Vec<_>>(), vec![q("100.5").micros(), q("101.25").micros(), q("102").micros()]);
        let man = eventually("manual entry on chain", || async {
            let r = prov.readings(&m.manual).await;
            (!r.is_empty()).then_some(r)
        })
        .await;
        assert_eq!((man[0].1, man[0].2, man[0].3.as_str()), (t_manual, q("87.5").micros(), "manual"));

        // Now onboard on the national chain: the backlog drains there, in order.
        let nat_gw = gw.clone();
        nat.onboard(&nat_gw, &gw_key, &registered, cal, std::slice::from_ref(&m.uncalibrated), &[]).await;
        publisher.abort();
        // Stop producing new online values only by waiting for a quiet backlog: compare stores.
        let settled = eventually("both destinations to settle everything", || async {
            let s = status(&api).await;
            s.destinations.iter().all(|d| d.backlog == 0 && d.acknowledged > 0).then_some(s)
        })
        .await;
        // Pause the gateway so the store and the chains can be compared at rest.
        let api2 = api.clone();
        handle.stop().await;
        let _ = api2;
        let store = trustmeter_gateway::store::Store::open(&data_dir.join("gateway.redb")).unwrap();
        let all = store.after(0, 1_000_000).unwrap();
        let mut by_meter: BTreeMap<String, Vec<(u64, i64, i64)>> = BTreeMap::new();
        for (_, s) in &all {
            let r = &s.signed.reading;
            by_meter.entry(r.meter.to_string()).or_default().push((r.seq, r.timestamp_ms, r.value.micros()));
        }
        let rejected_meters = [m.unregistered.to_string(), m.uncalibrated.to_string()];
        for chain in [&prov, &nat] {
            for (meter, stored) in &by_meter {
                let id = DeviceId::new(meter.clone()).unwrap();
                let on_chain: Vec<(u64, i64, i64)> =
                    chain.readings(&id).await.into_iter().map(|r| (r.0, r.1, r.2)).collect();
                if rejected_meters.contains(meter) {
                    assert!(on_chain.is_empty(), "{meter} must have nothing on chain");
                } else {
                    // Every stored reading exactly once, in sequence order, nothing else.
                    assert_eq!(&on_chain, stored, "{meter} on {}", chain.chain_id());
                }
            }
        }
        // The rejections are kept, with the chain's reasons, on both destinations.
        for d in ["provincial", "national"] {
            let rej = store.rejected(d, 1_000_000).unwrap();
            let unreg = by_meter[&m.unregistered.to_string()].len();
            let uncal = by_meter[&m.uncalibrated.to_string()].len();
            assert_eq!(rej.len(), unreg + uncal, "{d}");
            for (id, r) in rej {
                let meter = store.get(id).unwrap().unwrap().signed.reading.meter.to_string();
                let code = r.code.as_str();
                if meter == m.unregistered.to_string() {
                    assert_eq!(code, "unknown_device", "{}", r.message);
                } else {
                    assert_eq!(code, "calibration_invalid", "{}", r.message);
                }
            }
        }
        assert!(settled.destinations.iter().all(|d| d.rejected > 0));
    });
}
