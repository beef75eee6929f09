//! `GET /v1/alarms` and `GET /v1/alarms/stream` on a real 4-validator consortium (tokio, p2p and
//! HTTP on loopback): meters whose calibration is missing, expired or about to expire are reported
//! by every validator from its finalized state; recording a new certificate or revoking the meter
//! clears the alarm. A meter that stops reporting raises `missing_data` on the server-sent event
//! feed, and its next reading clears it; a low threshold raises `over_use`.

use anyhow::{Context as _, Result, ensure};
use commonware_runtime::Runner as _;
use serde_json::Value;
use std::time::Instant;
use trustmeter_chain::devnet::Member;
use trustmeter_crypto::{SigningKey, sign_reading};
use trustmeter_plant::TxSigner;
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Calibration, DeviceId, EnergyKind, LocationPath, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, Transaction, TxPayload, Unit,
};

use crate::common::*;

const DAY_MS: i64 = 86_400_000;

fn gateway_id(m: &Member) -> DeviceId {
    DeviceId::new(format!("{}-GW01", m.org.id)).expect("valid id")
}

fn meter(m: &Member, n: u32) -> MeterSpec {
    MeterSpec {
        id: DeviceId::new(format!("{}-EM{n:04}", m.org.id)).expect("valid id"),
        gateway: gateway_id(m),
        name: format!("main feeder {n}"),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["plant".into(), "workshop-1".into()]),
        register_max: Quantity::from_micros(99_999_999_990_000),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: None,
    }
}

/// Submits transactions (each to its sender's validator), waits until all are finalized and
/// accepted, then until every validator has finalized that far. Returns the highest height.
async fn run(api: &Api, txs: Vec<Transaction>) -> Result<u64> {
    for tx in &txs {
        api.submit(tx, Encoding::Json).await?;
    }
    let mut height = 0;
    for tx in &txs {
        height = height.max(u64_of(&api.wait_accepted(tx).await?["height"]));
    }
    api.wait_finalized_everywhere(height).await?;
    Ok(height)
}

/// `(kind, severity, meter)` of every alarm, in the order served.
fn summary(v: &Value) -> Vec<(String, String, String)> {
    v["alarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["kind"].as_str().unwrap_or("?").to_string(),
                        x["severity"].as_str().unwrap_or("?").to_string(),
                        x["meter"].as_str().unwrap_or("?").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn alarm(kind: &str, severity: &str, meter: &MeterSpec) -> (String, String, String) {
    (kind.to_string(), severity.to_string(), meter.id.to_string())
}

#[test]
fn calibration_alarms_appear_and_clear() {
    init_logs();
    let started = Instant::now();
    let cluster = Cluster::with_enterprises("hunan-alarms-1", 31, 2);
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            scenario(&api, cluster).await
        })
        .expect("alarms run");
    eprintln!("calibration alarms: {:.1} s", started.elapsed().as_secs_f64());
}

async fn scenario(api: &Api, cluster: &Cluster) -> Result<()> {
    let devnet = &cluster.devnet;
    let chain = devnet.genesis.chain_id.clone();
    let (e0, e1) = (&devnet.enterprises[0], &devnet.enterprises[1]);
    let mut ent0 = TxSigner::new(e0.key.clone(), chain.clone(), 1);
    let mut ent1 = TxSigner::new(e1.key.clone(), chain.clone(), 1);
    let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
    let issuer = devnet.metrology.org.id.clone();

    // Before any meter: no alarms, and the window is the genesis parameter.
    api.wait_status(0, "first finalized block", |s| s["finalized_height"].as_u64().unwrap_or(0) >= 1).await?;
    let v = api.get_ok(0, "/v1/alarms").await?;
    ensure!(v["alarms"].as_array().is_some_and(Vec::is_empty), "{v}");
    ensure!(v["calibration_warning_ms"] == 30 * DAY_MS && u64_of(&v["height"]) >= 1, "{v}");
    ensure!(v["block_time_ms"].as_i64().is_some_and(|t| t >= devnet.genesis.genesis_time_ms), "{v}");
    let doc = api.get_ok(0, "/openapi.json").await?;
    ensure!(doc["paths"]["/v1/alarms"]["get"].is_object(), "OpenAPI does not document /v1/alarms");
    ensure!(
        doc["components"]["schemas"]["AlarmsView"].is_object() && doc["components"]["schemas"]["AlarmView"].is_object()
    );

    // Enterprise 0: meter 1 expires within the window, meter 2 is valid for a year, meter 3 is
    // never calibrated. Enterprise 1: meter 1's certificate has expired.
    let (expiring, valid, missing, expired) = (meter(e0, 1), meter(e0, 2), meter(e0, 3), meter(e1, 1));
    let gw_key = |b: u8| SigningKey::ed25519_from_seed([b; 32]).public_key();
    run(
        api,
        vec![
            ent0.sign(TxPayload::RegisterGateway { id: gateway_id(e0), public_key: gw_key(1) }),
            ent1.sign(TxPayload::RegisterGateway { id: gateway_id(e1), public_key: gw_key(2) }),
        ],
    )
    .await
    .context("gateways")?;
    let mut txs: Vec<Transaction> = [&expiring, &valid, &missing]
        .into_iter()
        .map(|m| ent0.sign(TxPayload::RegisterMeter { meter: m.clone() }))
        .collect();
    txs.push(ent1.sign(TxPayload::RegisterMeter { meter: expired.clone() }));
    run(api, txs).await.context("meters")?;
    let now = now_ms();
    let cal = |no: &str, from: i64, until: i64| Calibration {
        certificate_no: no.into(),
        issuer: issuer.clone(),
        valid_from_ms: from,
        valid_until_ms: until,
    };
    // Ten and a half days left: "expires in 10 days" for the next twelve hours.
    let expiring_until = now + 10 * DAY_MS + DAY_MS / 2;
    let txs = vec![
        metro.sign(TxPayload::RecordCalibration {
            meter: expiring.id.clone(),
            calibration: cal("JD-2026-001", now - 300 * DAY_MS, expiring_until),
        }),
        metro.sign(TxPayload::RecordCalibration {
            meter: valid.id.clone(),
            calibration: cal("JD-2026-002", now - DAY_MS, now + 365 * DAY_MS),
        }),
        metro.sign(TxPayload::RecordCalibration {
            meter: expired.id.clone(),
            calibration: cal("JD-2025-101", now - 400 * DAY_MS, now - 2 * DAY_MS),
        }),
    ];
    run(api, txs).await.context("calibrations")?;

    // Every validator reports the same alarms: critical first (missing, then expired), then the
    // expiring certificate; the valid one is not there.
    let want = vec![
        alarm("calibration_missing", "critical", &missing),
        alarm("calibration_expired", "critical", &expired),
        alarm("calibration_expiring", "warning", &expiring),
    ];
    for n in 0..VALIDATORS {
        let v = api.get_ok(n, "/v1/alarms").await?;
        ensure!(summary(&v) == want, "validator {n}: {:?} != {want:?}: {v}", summary(&v));
        let a = &v["alarms"][2];
        ensure!(
            a["owner"] == e0.org.id.as_str()
                && a["certificate_no"] == "JD-2026-001"
                && a["valid_until_ms"] == expiring_until,
            "{a}"
        );
        let msg = a["message"].as_str().context("message")?;
        ensure!(
            msg.starts_with(&format!(
                "calibration certificate JD-2026-001 of meter {} expires in 10 days",
                expiring.id
            )) && msg.contains("have the metrology authority record a new certificate"),
            "{msg}"
        );
        let e = &v["alarms"][1];
        ensure!(e["owner"] == e1.org.id.as_str() && e["certificate_no"] == "JD-2025-101", "{e}");
        ensure!(e["message"].as_str().is_some_and(|m| m.contains("expired 2 days ago")), "{e}");
        let m = &v["alarms"][0];
        ensure!(m["certificate_no"].is_null() && m["valid_until_ms"].is_null(), "{m}");
    }
    // Filtered by owner.
    let v = api.get_ok(1, &format!("/v1/alarms?owner={}", e1.org.id)).await?;
    ensure!(summary(&v) == vec![alarm("calibration_expired", "critical", &expired)], "{v}");
    let (s, e) = api.get(1, "/v1/alarms?owner=not-a-credit-code").await?;
    ensure!(s == 400 && e["code"] == "bad_request", "{s} {e}");

    // A new certificate for the expiring meter and the revocation of the expired one clear
    // their alarms; the meter without a certificate is still reported.
    run(
        api,
        vec![
            metro.sign(TxPayload::RecordCalibration {
                meter: expiring.id.clone(),
                calibration: cal("JD-2026-003", now - DAY_MS, now + 365 * DAY_MS),
            }),
            ent1.sign(TxPayload::RevokeDevice { device: expired.id.clone(), reason: "replaced".into() }),
        ],
    )
    .await
    .context("renewal and revocation")?;
    for n in 0..VALIDATORS {
        let v = api.get_ok(n, "/v1/alarms").await?;
        ensure!(summary(&v) == vec![alarm("calibration_missing", "critical", &missing)], "validator {n}: {v}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The alarm feed (`GET /v1/alarms/stream`): a meter stops reporting, then reports again.

/// One server-sent event: its type, id and JSON data.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// Reads `GET url` as server-sent events into a channel, until the stream ends; with `last`, as
/// a client reconnecting after the event with that id.
async fn sse_after(url: String, last: Option<u64>) -> Result<tokio::sync::mpsc::UnboundedReceiver<Sse>> {
    // No overall timeout: the stream lives as long as the test.
    let http = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(5)).build()?;
    // As a browser asks: an event stream must not be compressed (deflate would hold events back).
    let mut req = http.get(&url).header("accept-encoding", "gzip");
    if let Some(id) = last {
        req = req.header("last-event-id", id.to_string());
    }
    let mut resp = req.send().await.with_context(|| format!("GET {url}"))?;
    ensure!(resp.status() == 200, "GET {url}: HTTP {}", resp.status());
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    ensure!(ct.starts_with("text/event-stream"), "GET {url}: content type {ct}");
    ensure!(resp.headers().get("content-encoding").is_none(), "GET {url}: the event stream is compressed");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                if tx.send(Sse { event, id, data }).is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// Reads `GET url` as server-sent events from the start (a snapshot first).
async fn sse(url: String) -> Result<tokio::sync::mpsc::UnboundedReceiver<Sse>> {
    sse_after(url, None).await
}

/// The next event of any kind, within the patience.
async fn next_any(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>) -> Result<Sse> {
    tokio::time::timeout(PATIENCE, rx.recv()).await.context("no event")?.context("the alarm stream ended")
}

/// The next event whose alarm key is `key` and type `event` (others are skipped), within 60 s.
async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>, event: &str, key: &str) -> Result<Sse> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, rx.recv())
            .await
            .with_context(|| format!("no `{event}` event for {key} within {PATIENCE:?}"))?
            .context("the alarm stream ended")?;
        if e.event == event && e.data["alarm"]["key"] == key {
            return Ok(e);
        }
    }
}

#[test]
fn alarm_stream_raises_and_clears_missing_data() {
    init_logs();
    let started = Instant::now();
    let mut cluster = Cluster::with_enterprises("hunan-alarms-2", 32, 2);
    // A 2-second collection interval, so that a meter is missing data after 4 seconds; passes
    // every 200 ms.
    cluster.devnet.genesis.params.accounting.nominal_interval_ms = 2_000;
    cluster.alarms.interval_ms = 200;
    let e0 = cluster.devnet.enterprises[0].org.id.clone();
    let m = DeviceId::new(format!("{e0}-EM0001")).expect("valid id");
    cluster.alarms.thresholds = vec![
        // 100 kWh in a day is over 50: raised by the second reading, cleared only tomorrow.
        toml::from_str(&format!("meter = \"{m}\"\nenergy = \"electricity\"\nperiod = \"day\"\nlimit = 50"))
            .expect("threshold"),
    ];
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            stream_scenario(&api, cluster).await
        })
        .expect("alarm stream run");
    eprintln!("alarm stream: {:.1} s", started.elapsed().as_secs_f64());
}

async fn stream_scenario(api: &Api, cluster: &Cluster) -> Result<()> {
    let devnet = &cluster.devnet;
    let chain = devnet.genesis.chain_id.clone();
    let (e0, e1) = (&devnet.enterprises[0], &devnet.enterprises[1]);
    let mut ent = TxSigner::new(e0.key.clone(), chain.clone(), 1);
    let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
    let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
    let gw_key = SigningKey::ed25519_from_seed([9; 32]);
    let mut gw = TxSigner::new(gw_key.clone(), chain.clone(), 1);
    let spec = meter(e0, 1);
    api.wait_status(1, "first finalized block", |s| s["finalized_height"].as_u64().unwrap_or(0) >= 1).await?;

    // Subscribe (validator 1, enterprise 0 only; another stream for enterprise 1) before anything
    // happens: the first event is the snapshot of the active set.
    let mut feed = sse(format!("{}/v1/alarms/stream?org={}", api.urls[1], e0.org.id)).await?;
    let mut other = sse(format!("{}/v1/alarms/stream?org={}", api.urls[2], e1.org.id)).await?;
    // A regulator's view of its region (the enterprises are in Hunan, 430000), and of another
    // province: one stream per jurisdiction, filtered by the region the chain records.
    let mut regional = sse(format!("{}/v1/alarms/stream?region=430000", api.urls[1])).await?;
    let mut elsewhere = sse(format!("{}/v1/alarms/stream?region=440000", api.urls[1])).await?;
    let first = tokio::time::timeout(PATIENCE, feed.recv()).await?.context("stream ended")?;
    ensure!(first.event == "snapshot" && first.data["alarms"].is_array(), "{first:?}");
    let doc = api.get_ok(0, "/openapi.json").await?;
    ensure!(doc["paths"]["/v1/alarms/stream"]["get"].is_object(), "OpenAPI does not document /v1/alarms/stream");

    // Onboard a gateway and a meter, calibrated and active.
    let now = now_ms();
    run(api, vec![ent.sign(TxPayload::RegisterGateway { id: gateway_id(e0), public_key: gw_key.public_key() })])
        .await?;
    run(api, vec![ent.sign(TxPayload::RegisterMeter { meter: spec.clone() })]).await?;
    run(
        api,
        vec![metro.sign(TxPayload::RecordCalibration {
            meter: spec.id.clone(),
            calibration: Calibration {
                certificate_no: "JD-SSE-1".into(),
                issuer: devnet.metrology.org.id.clone(),
                valid_from_ms: now - DAY_MS,
                valid_until_ms: now + 365 * DAY_MS,
            },
        })],
    )
    .await?;
    run(
        api,
        vec![
            reg.sign(TxPayload::ActivateDevice { device: spec.id.clone() }),
            reg.sign(TxPayload::ActivateDevice { device: gateway_id(e0) }),
        ],
    )
    .await?;
    let mut seq = 0;
    let mut report = |value_kwh: i64| {
        seq += 1;
        let r = Reading {
            meter: spec.id.clone(),
            seq,
            timestamp_ms: now_ms(),
            value: Quantity::from_micros(value_kwh * Quantity::SCALE),
            unit: Unit::KilowattHour,
            origin: ReadingOrigin::Online,
            clock_suspect: false,
        };
        gw.sign(TxPayload::SubmitReadings {
            gateway: gateway_id(e0),
            readings: vec![sign_reading(&gw_key, r, ReadingSigner::Gateway)],
        })
    };

    // One reading, then silence: after two 2-second intervals the meter is missing data.
    run(api, vec![report(100)]).await.context("first reading")?;
    let key = format!("missing_data/{}", spec.id);
    let raised = next_event(&mut feed, "raised", &key).await?;
    let a = &raised.data["alarm"];
    ensure!(
        a["kind"] == "missing_data" && a["severity"] == "warning" && a["owner"] == e0.org.id.as_str(),
        "{raised:?}"
    );
    ensure!(a["meter"] == spec.id.as_str() && a["message"].as_str().is_some_and(|m| m.contains("has sent no reading")));
    ensure!(raised.id.is_some_and(|id| raised.data["id"] == id), "SSE id and event id differ: {raised:?}");
    ensure!(a["region"] == 430_000, "{raised:?}");
    let in_region = next_event(&mut regional, "raised", &key).await?;
    ensure!(in_region.id == raised.id, "the regional feed's event {in_region:?} is not {raised:?}");
    let v = api.get_ok(1, "/v1/alarms?region=430000").await?;
    ensure!(v["alarms"].as_array().is_some_and(|a| a.iter().any(|x| x["key"] == key.as_str())), "{v}");
    let v = api.get_ok(1, "/v1/alarms?region=440000").await?;
    ensure!(v["alarms"].as_array().is_some_and(|a| a.is_empty()), "{v}");
    for bad in
        ["/v1/alarms?region=43", "/v1/alarms?region=hunan", &format!("/v1/alarms?region=430000&org={}", e0.org.id)]
    {
        let (s, e) = api.get(1, bad).await?;
        ensure!(s == 400 && e["code"] == "bad_request", "{bad}: {s} {e}");
    }
    // The active set agrees, filtered by org (and the other enterprise sees none of it).
    let v = api.get_ok(1, &format!("/v1/alarms?org={}", e0.org.id)).await?;
    ensure!(v["alarms"].as_array().is_some_and(|a| a.iter().any(|x| x["key"] == key.as_str())), "{v}");
    let v = api.get_ok(1, &format!("/v1/alarms?org={}", e1.org.id)).await?;
    ensure!(v["alarms"].as_array().is_some_and(|a| a.iter().all(|x| x["owner"] == e1.org.id.as_str())), "{v}");

    // The meter reports again: the alarm clears (same key, later id). The second reading puts
    // the day at 100 kWh, over the configured 50: over-use is raised too.
    run(api, vec![report(200)]).await.context("second reading")?;
    let cleared = next_event(&mut feed, "cleared", &key).await?;
    ensure!(cleared.id > raised.id, "{cleared:?} after {raised:?}");
    let day = trustmeter_energy_day_start(now_ms());
    let over = format!("over_use/{}/electricity/kWh/day/{day}", spec.id);
    let o = next_event(&mut feed, "raised", &over).await?;
    ensure!(
        o.data["alarm"]["message"].as_str().is_some_and(|m| m.contains("used 100 kWh of electricity so far")),
        "{o:?}"
    );
    // A client that lost its connection after the `raised` event reconnects with its id and gets
    // exactly what it missed (on another validator the ids differ: resuming is per node).
    let stream_url = format!("{}/v1/alarms/stream?org={}", api.urls[1], e0.org.id);
    let mut again = sse_after(stream_url.clone(), raised.id).await?;
    let resumed = next_any(&mut again).await?;
    ensure!(resumed.event == "resumed" && resumed.data["after"] == raised.id.context("raised id")?, "{resumed:?}");
    let missed = u64_of(&resumed.data["missed"]);
    ensure!(missed >= 2, "cleared and over-use were missed: {resumed:?}");
    let replay_1 = next_any(&mut again).await?;
    ensure!(replay_1.event == "cleared" && replay_1.id == cleared.id, "{replay_1:?} vs {cleared:?}");
    let mut replayed = vec![replay_1.id];
    for _ in 1..missed {
        replayed.push(next_any(&mut again).await?.id);
    }
    ensure!(replayed.contains(&o.id), "the over-use event was not replayed: {replayed:?}");
    ensure!(replayed.windows(2).all(|w| w[0] < w[1]), "replay out of order: {replayed:?}");
    // An id this node never gave out (e.g. from before a restart) gets a fresh snapshot.
    let mut fresh = sse_after(stream_url.clone(), Some(7)).await?;
    let snap = next_any(&mut fresh).await?;
    ensure!(
        snap.event == "snapshot" && snap.data["alarms"].as_array().is_some_and(|a| a.iter().any(|x| x["key"] == over)),
        "{snap:?}"
    );
    let (s, e) = api.get_with(1, "/v1/alarms/stream", &[("last-event-id", "yesterday")]).await?;
    ensure!(s == 400 && e["message"].as_str().is_some_and(|m| m.contains("Last-Event-ID")), "{s} {e}");

    // Enterprise 1's stream saw none of enterprise 0's events, Guangdong's none of Hunan's.
    while let Ok(e) = other.try_recv() {
        ensure!(e.event == "snapshot" || e.data["alarm"]["owner"] == e1.org.id.as_str(), "{e:?}");
    }
    while let Ok(e) = elsewhere.try_recv() {
        ensure!(e.event == "snapshot" && e.data["alarms"].as_array().is_some_and(|a| a.is_empty()), "{e:?}");
    }
    Ok(())
}

/// Start (Unix ms) of the Asia/Shanghai day containing `t`.
fn trustmeter_energy_day_start(t: i64) -> i64 {
    const OFFSET: i64 = 8 * 3_600_000;
    (t + OFFSET).div_euclid(DAY_MS) * DAY_MS - OFFSET
}
