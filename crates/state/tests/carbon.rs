//! Carbon methodologies in consensus state: the two shipped with genesis, deployment by a
//! regulator (or an industry association), refusals, and an upgrade that takes effect on its
//! effective date.

use crate::common::*;
use trustmeter_carbon::shipped;
use trustmeter_energy::calendar::parse_day;
use trustmeter_types::{RejectCode, TxPayload};

const MACHINERY: &str = "GB/T 32151.29-2024";

fn machinery(version: u32, effective_from: &str) -> String {
    shipped::MACHINERY_V1.replacen("version = 1", &format!("version = {version}"), 1).replacen(
        "effective_from = \"2025-04-01\"",
        &format!("effective_from = \"{effective_from}\""),
        1,
    )
}

fn day(s: &str) -> i32 {
    parse_day(s).unwrap()
}

#[test]
fn genesis_ships_both_methodologies() {
    let fx = Fx::ready();
    let all = fx.state.methodologies(None, 100);
    let ids: Vec<(&str, u32)> = all.iter().map(|m| (m.id.as_str(), m.version)).collect();
    assert_eq!(ids, vec![("GB/T 32150-2015", 1), (MACHINERY, 1)], "by id, then version");
    let m = &all[1];
    assert_eq!((m.deployed_height, m.deployed_by.as_ref(), m.text.as_str()), (0, None, shipped::MACHINERY_V1));
    assert_eq!(m.effective_from, day("2025-04-01"));
    // Paging: after the first, the second.
    let next = fx.state.methodologies(Some(("GB/T 32150-2015", 1)), 1);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, MACHINERY);
    assert_eq!(fx.state.latest_methodology_version(MACHINERY), 1);
    assert_eq!(fx.state.methodology_on(MACHINERY, day("2025-03-31")), None, "before its effective date");
}

#[test]
fn an_upgrade_takes_effect_on_its_effective_date() {
    let mut fx = Fx::ready();
    let root = fx.state.root();
    // The chain's day is 2026-01-01 (T0); version 2 takes effect on 2026-02-01.
    let deploy = fx.tx(&regulator(), TxPayload::DeployMethodology { text: machinery(2, "2026-02-01") });
    let e = fx.exec(vec![deploy]);
    assert_tx_accepted(e.receipt(0));
    assert_ne!(fx.state.root(), root);
    let v2 = fx.state.methodology(MACHINERY, 2).expect("deployed");
    assert_eq!(v2.deployed_by, Some(org_regulator()));
    assert_eq!(v2.deployed_height, fx.state.height);
    assert_eq!(fx.state.methodology_on(MACHINERY, day("2026-01-31")).unwrap().version, 1);
    assert_eq!(fx.state.methodology_on(MACHINERY, day("2026-02-01")).unwrap().version, 2);
    assert_eq!(fx.state.latest_methodology_version(MACHINERY), 2);
}

#[test]
fn broken_unauthorised_or_out_of_order_methodologies_are_refused() {
    let mut fx = Fx::ready();
    let broken = machinery(2, "2026-02-01").replace("fuel.oxidation * co2_per_c\"", "fuel.oxidation\"");
    let new_id = shipped::GENERAL_V1.replacen("id = \"GB/T 32150-2015\"", "id = \"GB/T 32150-2015 local\"", 1);
    let txs = vec![
        fx.tx(&regulator(), TxPayload::DeployMethodology { text: broken }),
        fx.tx(&ent_a(), TxPayload::DeployMethodology { text: machinery(2, "2026-02-01") }),
        fx.tx(&regulator(), TxPayload::DeployMethodology { text: machinery(3, "2026-02-01") }),
        fx.tx(&regulator(), TxPayload::DeployMethodology { text: machinery(2, "2025-12-01") }),
        fx.tx(&regulator(), TxPayload::DeployMethodology { text: machinery(1, "2026-02-01") }),
        // A new id's first version may describe the past (a standard already in force).
        fx.tx(&regulator(), TxPayload::DeployMethodology { text: new_id }),
        fx.tx(&regulator(), TxPayload::DeployMethodology { text: "id = 1".into() }),
    ];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::InvalidMethodology);
    assert!(msg.contains("source combustion") && msg.contains("tC"), "names the source and the unit: {msg}");
    let msg = assert_tx_rejected(e.receipt(1), RejectCode::NotAuthorised);
    assert!(msg.contains("industry association or a regulator"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(2), RejectCode::InvalidMethodology);
    assert!(msg.contains("does not follow the latest deployed version 1"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(3), RejectCode::InvalidMethodology);
    assert!(msg.contains("2025-12-01") && msg.contains("2026-01-01"), "{msg}");
    assert_tx_rejected(e.receipt(4), RejectCode::InvalidMethodology);
    assert_tx_accepted(e.receipt(5));
    assert_tx_rejected(e.receipt(6), RejectCode::InvalidMethodology);
    assert_eq!(fx.state.latest_methodology_version(MACHINERY), 1);
    assert_eq!(fx.state.methodologies(None, 100).len(), 3);
}
