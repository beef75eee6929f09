//! The gateway's pre-audit, end to end on two real chains (loopback, one validator each): the
//! provincial chain's regulator deploys a tight audit policy (values above 500 kWh are rejected),
//! the national chain keeps the default one. The gateway fetches each chain's policy and, before
//! sending, evaluates every reading with that chain's meter record and the previous reading it
//! sent there: the reading the tight policy rejects is settled for the provincial chain as
//! `policy_rejected` with the policy's rule, code and reason and never sent there (the batch is cut
//! before it), while the national chain records it; the readings around it reach both chains.

use crate::common::*;
use commonware_runtime::Runner as _;
use std::time::Duration;
use trustmeter_crypto::SigningKey;
use trustmeter_gateway::api::RejectedRow;
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_types::{DeviceId, Quantity, TxPayload, Unit};

/// A regulator's tight policy: a register above 500 kWh is refused.
const TIGHT: &str = r#"
name = "tight-cap"
version = 2
description = "Test policy: register values above a cap are refused."

[params]
cap = 500.0

[[rules]]
id = "value_cap"
code = "value_above_cap"
action = "reject"
check = "reading.value <= params.cap"
reason = "register value {reading.value} {reading.unit} is above the cap of {params.cap}"
description = "A register above the cap cannot be right on this test site."
"#;

fn config(gw: &DeviceId, data_dir: &std::path::Path, provincial: &[String], national: &[String]) -> GatewayConfig {
    let list = |v: &[String]| v.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ");
    GatewayConfig::parse(&format!(
        r#"
[gateway]
id = "{gw}"
data_dir = "{dir}"
listen = "127.0.0.1:0"

[[destination]]
name = "provincial"
nodes = [{prov}]
max_backoff_ms = 1000

[[destination]]
name = "national"
nodes = [{nat}]
max_backoff_ms = 1000
"#,
        dir = data_dir.display(),
        prov = list(provincial),
        nat = list(national),
    ))
    .expect("test config parses")
}

async fn manual(api: &str, token: &str, meter: &DeviceId, value: &str, at_ms: i64) {
    let r = reqwest::Client::new()
        .post(format!("{api}/manual"))
        .bearer_auth(token)
        .json(&serde_json::json!({"meter": meter.as_str(), "value": value, "unit": "kWh", "timestamp_ms": at_ms}))
        .send()
        .await
        .expect("manual entry");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
}

fn kwh(v: i64) -> i64 {
    v * Quantity::SCALE
}

#[test]
fn a_reading_the_destination_policy_rejects_is_settled_locally_and_never_sent() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path());
    let data_dir = dir.path().join("gateway");
    runner.start(|ctx| async move {
        let mut prov = TestChain::start(&ctx, dir.path(), "hunan-audit-1", 1, 21).await;
        let mut nat = TestChain::start(&ctx, dir.path(), "national-audit-1", 1, 21).await;

        // The provincial regulator deploys the tight policy; wait until it is in force.
        let reg = prov.devnet.regulator.key.clone();
        let height = prov.client.status().await.expect("status").finalized_height;
        let effective = height + 5;
        prov.ok(&reg, TxPayload::DeployPolicy { text: TIGHT.into(), effective_height: effective }).await;
        eventually("the tight policy in force on the provincial chain", || async {
            let p = prov.client.policy().await.ok().flatten()?;
            (p.in_force.version == 2 && p.pending.is_empty()).then_some(())
        })
        .await;
        let p = nat.client.policy().await.expect("national policy").expect("served");
        assert_eq!(p.in_force.version, 1, "the national chain keeps the default policy");

        let gw = dev(&prov, "GW-01");
        let meter = dev(&prov, "EM-01");
        let gw_key = SigningKey::ed25519_from_seed([43; 32]);
        let now = now_ms();
        let cal = (now - 400 * DAY_MS, now + 365 * DAY_MS);
        let meters = vec![(meter.clone(), Unit::KilowattHour)];
        prov.onboard(&gw, &gw_key, &meters, cal, &[], &[]).await;
        nat.onboard(&gw, &gw_key, &meters, cal, &[], &[]).await;

        let cfg = config(&gw, &data_dir, &prov.urls, &nat.urls);
        let handle =
            trustmeter_gateway::start(cfg, gw_key.clone(), std::sync::Arc::new(trustmeter_meters::SystemClock))
                .await
                .expect("gateway starts");
        let api = format!("http://{}", handle.api_addr);
        // The gateway knows both policies before anything is produced.
        let s = eventually("both policies fetched", || async {
            let s = status(&api).await;
            // Both destinations listed (an empty list would pass `all`), each with its policy.
            (s.destinations.len() == 2 && s.destinations.iter().all(|d| d.audit_policy.is_some())).then_some(s)
        })
        .await;
        let policy_of = |name: &str| s.destinations.iter().find(|d| d.name == name).unwrap().audit_policy.clone();
        assert_eq!(policy_of("provincial").as_deref(), Some("tight-cap v2"));
        assert_eq!(policy_of("national").as_deref(), Some("default-audit v1"));

        // Three readings a minute apart: 100, 700 (above the cap), 450.
        let t0 = now_ms() - 3 * 60_000;
        let token = std::fs::read_to_string(data_dir.join("operator.token")).unwrap();
        let token = token.trim();
        manual(&api, token, &meter, "100", t0).await;
        manual(&api, token, &meter, "700", t0 + 60_000).await;
        manual(&api, token, &meter, "450", t0 + 120_000).await;

        // The national chain (default policy) records all three.
        let on_nat = eventually("three readings on the national chain", || async {
            let r = nat.readings(&meter).await;
            (r.len() == 3).then_some(r)
        })
        .await;
        assert_eq!(
            on_nat.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
            vec![(1, kwh(100)), (2, kwh(700)), (3, kwh(450))]
        );

        // Provincial: the first and the third are recorded, the second never reached the chain.
        let settled = eventually("the provincial backlog settled", || async {
            let s = status(&api).await;
            let d = s.destinations.iter().find(|d| d.name == "provincial")?.clone();
            (d.backlog == 0 && d.acknowledged == 2).then_some(d)
        })
        .await;
        assert_eq!((settled.rejected, settled.rejected_before_sending), (1, 1), "{settled:?}");
        let on_prov = prov.readings(&meter).await;
        assert_eq!(on_prov.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(), vec![(1, kwh(100)), (3, kwh(450))]);

        // The rejection is kept with the policy's rule, code and reason (`gateway rejected`).
        let rows: Vec<RejectedRow> =
            reqwest::get(format!("{api}/rejected?destination=provincial")).await.unwrap().json().await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(
            (row.meter.as_deref(), row.seq, row.code.as_str()),
            (Some(meter.as_str()), Some(2), "policy_rejected")
        );
        assert!(
            row.message.starts_with("rule value_cap (value_above_cap): register value 700 kWh is above the cap of 500")
                && row.message.contains(
                    "refused by the gateway before sending, under provincial's audit policy tight-cap version 2"
                ),
            "{}",
            row.message
        );
        let nat_rows: Vec<RejectedRow> =
            reqwest::get(format!("{api}/rejected?destination=national")).await.unwrap().json().await.unwrap();
        assert!(nat_rows.is_empty(), "{nat_rows:?}");

        // No batch was refused as a whole; the rejection shows as an alarm with the command to see it.
        let s = status(&api).await;
        assert!(
            !s.alarms.iter().any(|a| a.kind == "destination_refusing" || a.kind == "policy_unavailable"),
            "{:?}",
            s.alarms
        );
        assert!(s.alarms.iter().any(|a| a.kind == "readings_rejected" && a.subject == "provincial"), "{:?}", s.alarms);

        // Stay a moment: nothing more goes to the provincial chain.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(prov.readings(&meter).await.len(), 2);
        handle.stop().await;
    });
}
