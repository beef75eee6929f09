//! `GET /v1/alarms` on a real 4-validator consortium (tokio, p2p and HTTP on loopback): meters
//! whose calibration is missing, expired or about to expire are reported by every validator from
//! its finalized state; recording a new certificate or revoking the meter clears the alarm.

use anyhow::{Context as _, Result, ensure};
use commonware_runtime::Runner as _;
use serde_json::Value;
use std::time::Instant;
use trustmeter_chain::devnet::Member;
use trustmeter_crypto::SigningKey;
use trustmeter_plant::TxSigner;
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Calibration, DeviceId, EnergyKind, LocationPath, Quantity, RegisterKind, Transaction, TxPayload,
    Unit,
};

mod common;

use common::*;

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
    for n in 0..VALIDATORS {
        api.wait_status(n, &format!("finalized height {height}"), |s| {
            s["finalized_height"].as_u64().unwrap_or(0) >= height
        })
        .await?;
    }
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
