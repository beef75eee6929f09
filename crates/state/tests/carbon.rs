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

// ---------------------------------------------------------------------------------------------
// Monitoring plans, documented entries and green-certificate claims.

use trustmeter_types::carbon::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind, GasFilling};
use trustmeter_types::{Hash32, Quantity};

fn q(micros: i64) -> Quantity {
    Quantity::from_micros(micros)
}

fn evidence(kind: EvidenceKind, seed: u8) -> Vec<Evidence> {
    vec![Evidence { hash: Hash32([seed; 32]), bytes: 1_000, kind, name: format!("file-{seed}.pdf") }]
}

fn entry(month: u32, number: u32, data: CarbonEntryData) -> TxPayload {
    TxPayload::RecordCarbonEntry {
        entry: CarbonEntry {
            month,
            number,
            data: Some(data),
            evidence: evidence(EvidenceKind::Invoice, number as u8),
            note: String::new(),
        },
    }
}

fn certificates(batch: &str, first: u64, count: u32) -> CarbonEntryData {
    CarbonEntryData::GreenCertificates { batch: batch.into(), first, count, vintage: 202_512 }
}

fn sf6() -> CarbonEntryData {
    CarbonEntryData::Fgas {
        gas: "SF6".into(),
        opening_t: q(1_200_000),
        closing_t: q(800_000),
        purchased_t: q(500_000),
        sold_t: q(0),
        fills: 12,
        filling: GasFilling::Containers { before_t: q(3_000_000), after_t: q(2_100_000) },
    }
}

#[test]
fn entries_are_checked_against_the_enterprises_plan() {
    let mut fx = Fx::ready();
    // No plan: the general frame, which has no fluorinated-gas source.
    assert_eq!(fx.state.carbon_methodology_id(&org_a(), 202_601), "GB/T 32150-2015");
    let t = fx.tx(&ent_a(), entry(202_601, 1, sf6()));
    let e = fx.exec(vec![t]);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::InvalidCarbonEntry);
    assert!(msg.contains("SF6 is not a fluorinated gas of methodology GB/T 32150-2015 v1"), "{msg}");
    // A plan may not reach back into a month begun (the chain is in 2026-01), nor name an
    // undeployed methodology, nor be set by a regulator.
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::SetCarbonPlan { methodology: MACHINERY.into(), from_month: 202_512 }),
        fx.tx(&ent_a(), TxPayload::SetCarbonPlan { methodology: "ISO 14064-1".into(), from_month: 202_601 }),
        fx.tx(&regulator(), TxPayload::SetCarbonPlan { methodology: MACHINERY.into(), from_month: 202_601 }),
        fx.tx(&ent_a(), TxPayload::SetCarbonPlan { methodology: MACHINERY.into(), from_month: 202_601 }),
    ];
    let e = fx.exec(txs);
    assert!(assert_tx_rejected(e.receipt(0), RejectCode::InvalidCarbonEntry).contains("month begun"));
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::InvalidCarbonEntry).contains("ISO 14064-1"));
    assert_tx_rejected(e.receipt(2), RejectCode::NotAuthorised);
    assert_tx_accepted(e.receipt(3));
    assert_eq!(fx.state.carbon_methodology_id(&org_a(), 202_601), MACHINERY);
    assert_eq!(fx.state.carbon_methodology_id(&org_a(), 202_512), "GB/T 32150-2015", "the past keeps its plan");
    assert_eq!(fx.state.carbon_methodology_id(&org_b(), 202_601), "GB/T 32150-2015", "plans are per enterprise");

    let unknown_fuel = CarbonEntryData::Fuel { fuel: "whale_oil".into(), amount: q(1) };
    let no_lab_report = TxPayload::RecordCarbonEntry {
        entry: CarbonEntry {
            month: 202_601,
            number: 4,
            data: Some(CarbonEntryData::FuelAnalysis {
                fuel: "diesel".into(),
                ncv: Some(q(43_100_000)),
                carbon_content: None,
            }),
            evidence: evidence(EvidenceKind::Invoice, 4),
            note: String::new(),
        },
    };
    let txs = vec![
        fx.tx(&ent_a(), entry(202_601, 1, sf6())),
        fx.tx(&ent_a(), entry(202_601, 2, unknown_fuel)),
        fx.tx(&ent_a(), entry(202_602, 3, sf6())),
        fx.tx(&metrology(), entry(202_601, 5, sf6())),
        fx.tx(
            &ent_a(),
            TxPayload::RecordCarbonEntry {
                entry: CarbonEntry { month: 202_601, number: 9, data: None, evidence: vec![], note: String::new() },
            },
        ),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    let msg = assert_tx_rejected(e.receipt(1), RejectCode::InvalidCarbonEntry);
    assert!(msg.contains("whale_oil") && msg.contains("diesel"), "names the fuel and lists the known ones: {msg}");
    assert!(assert_tx_rejected(e.receipt(2), RejectCode::InvalidCarbonEntry).contains("has not begun"));
    assert_tx_rejected(e.receipt(3), RejectCode::NotAuthorised);
    assert!(assert_tx_rejected(e.receipt(4), RejectCode::InvalidCarbonEntry).contains("nothing to withdraw"));
    // A measured factor without its lab report never reaches a block: the transaction itself is
    // invalid.
    use trustmeter_types::codec::Validate;
    let t = fx.tx(&ent_a(), no_lab_report);
    let why = t.validate().unwrap_err();
    assert!(why.contains("lab report"), "{why}");
    let rec = fx.state.carbon_entry(&org_a(), 202_601, 1).expect("recorded");
    assert_eq!((rec.revision, rec.entry.data, rec.recorded_by), (1, Some(sf6()), ent_a().public_key()));
    // A correction bumps the revision; the registry tree keeps the first version provable.
    let t = fx.tx(
        &ent_a(),
        entry(
            202_601,
            1,
            CarbonEntryData::Output { product: "switchgear".into(), unit: "unit".into(), amount: q(40_000_000) },
        ),
    );
    let e = fx.exec(vec![t]);
    assert_tx_accepted(e.receipt(0));
    let rec = fx.state.carbon_entry(&org_a(), 202_601, 1).unwrap();
    assert_eq!(rec.revision, 2);
    assert_eq!(fx.state.carbon_entries(&org_a(), 202_601).len(), 1);
}

#[test]
fn a_certificate_serial_is_claimed_once_on_the_chain() {
    let mut fx = Fx::ready();
    let txs = vec![
        fx.tx(&ent_a(), entry(202_601, 1, certificates("GEC-HN-7", 1_000, 500))), // 1000..=1499
        // Another enterprise: overlapping at either end, or inside, is refused.
        fx.tx(&ent_b(), entry(202_601, 1, certificates("GEC-HN-7", 1_499, 10))),
        fx.tx(&ent_b(), entry(202_601, 2, certificates("GEC-HN-7", 990, 11))),
        fx.tx(&ent_b(), entry(202_601, 3, certificates("GEC-HN-7", 1_100, 1))),
        // Adjacent ranges and another batch are fine.
        fx.tx(&ent_b(), entry(202_601, 4, certificates("GEC-HN-7", 1_500, 100))),
        fx.tx(&ent_b(), entry(202_601, 5, certificates("GEC-HN-7", 900, 100))),
        fx.tx(&ent_b(), entry(202_601, 6, certificates("GEC-HN-8", 1_000, 500))),
        // The same enterprise cannot count them twice either.
        fx.tx(&ent_a(), entry(202_601, 2, certificates("GEC-HN-7", 1_200, 1))),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    let msg = assert_tx_rejected(e.receipt(1), RejectCode::CertificateClaimed);
    assert!(msg.contains("1499..=1499"), "names the overlap: {msg}");
    assert!(assert_tx_rejected(e.receipt(2), RejectCode::CertificateClaimed).contains("1000..=1000"));
    assert_tx_rejected(e.receipt(3), RejectCode::CertificateClaimed);
    for i in 4..=6 {
        assert_tx_accepted(e.receipt(i));
    }
    assert_tx_rejected(e.receipt(7), RejectCode::CertificateClaimed);
    assert_eq!(fx.state.certificate_claim("GEC-HN-7", 1_499).map(|(f, c)| (f, c.org)), Some((1_000, org_a())));
    assert_eq!(fx.state.certificate_claim("GEC-HN-7", 1_500).map(|(f, c)| (f, c.org)), Some((1_500, org_b())));
    assert_eq!(fx.state.certificate_claim("GEC-HN-7", 899), None);

    // A correction of the claiming entry releases its old range and may overlap it; a
    // withdrawal releases it for anyone.
    let t = fx.tx(&ent_a(), entry(202_601, 1, certificates("GEC-HN-7", 1_000, 400))); // 1000..=1399
    let e = fx.exec(vec![t]);
    assert_tx_accepted(e.receipt(0));
    assert_eq!(fx.state.certificate_claim("GEC-HN-7", 1_450), None, "released by the correction");
    let withdraw = TxPayload::RecordCarbonEntry {
        entry: CarbonEntry { month: 202_601, number: 1, data: None, evidence: vec![], note: "sold on".into() },
    };
    let txs = vec![fx.tx(&ent_a(), withdraw), fx.tx(&ent_b(), entry(202_601, 7, certificates("GEC-HN-7", 1_000, 500)))];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert_tx_accepted(e.receipt(1));
    assert_eq!(fx.state.carbon_entry(&org_a(), 202_601, 1).map(|r| (r.revision, r.entry.data)), Some((3, None)));
    assert_eq!(fx.state.certificate_claim("GEC-HN-7", 1_200).map(|(_, c)| c.org), Some(org_b()));

    // Certificates are valid 24 months from their vintage, never before it.
    let stale = CarbonEntryData::GreenCertificates { batch: "GEC-OLD".into(), first: 1, count: 1, vintage: 202_401 };
    let early = CarbonEntryData::GreenCertificates { batch: "GEC-NEW".into(), first: 1, count: 1, vintage: 202_602 };
    let edge = CarbonEntryData::GreenCertificates { batch: "GEC-EDGE".into(), first: 1, count: 1, vintage: 202_402 };
    let txs = vec![
        fx.tx(&ent_a(), entry(202_601, 10, stale)),
        fx.tx(&ent_a(), entry(202_601, 11, early)),
        fx.tx(&ent_a(), entry(202_601, 12, edge)),
    ];
    let e = fx.exec(txs);
    assert!(assert_tx_rejected(e.receipt(0), RejectCode::InvalidCarbonEntry).contains("24 months"));
    assert_tx_rejected(e.receipt(1), RejectCode::InvalidCarbonEntry);
    assert_tx_accepted(e.receipt(2));
}

mod claims_model {
    //! Random claims, corrections and withdrawals against a model that keeps every claimed
    //! serial in a set: the chain accepts exactly what leaves no serial claimed twice.
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Claim { ent: bool, number: u32, first: u64, count: u32 },
        Withdraw { ent: bool, number: u32 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), 1u32..6, 0u64..60, 1u32..15).prop_map(|(ent, number, first, count)| Op::Claim { ent, number, first, count }),
            1 => (any::<bool>(), 1u32..6).prop_map(|(ent, number)| Op::Withdraw { ent, number }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn no_serial_is_ever_held_by_two_entries(ops in prop::collection::vec(op(), 1..24)) {
            let mut fx = Fx::ready();
            // The model: (enterprise, entry number) -> the serials its entry claims.
            let mut model: BTreeMap<(bool, u32), (u64, u64)> = BTreeMap::new();
            for op in ops {
                let (ent, number) = match &op { Op::Claim { ent, number, .. } | Op::Withdraw { ent, number } => (*ent, *number) };
                let key = if ent { ent_a() } else { ent_b() };
                let payload = match &op {
                    Op::Claim { first, count, .. } => entry(202_601, number, certificates("B", *first, *count)),
                    Op::Withdraw { .. } => TxPayload::RecordCarbonEntry {
                        entry: CarbonEntry { month: 202_601, number, data: None, evidence: vec![], note: String::new() },
                    },
                };
                let expected_ok = match &op {
                    Op::Claim { first, count, .. } => {
                        let last = first + u64::from(*count) - 1;
                        model.iter().all(|(k, (f, l))| *k == (ent, number) || last < *f || *first > *l)
                    }
                    Op::Withdraw { .. } => fx.state.carbon_entry(&(if ent { org_a() } else { org_b() }), 202_601, number).is_some(),
                };
                let t = fx.tx(&key, payload);
                let e = fx.exec(vec![t]);
                let accepted = matches!(e.receipt(0).outcome, trustmeter_types::TxOutcome::Accepted);
                prop_assert_eq!(accepted, expected_ok, "{:?}", op);
                if accepted {
                    match op {
                        Op::Claim { first, count, .. } => { model.insert((ent, number), (first, first + u64::from(count) - 1)); }
                        Op::Withdraw { .. } => { model.remove(&(ent, number)); }
                    }
                }
                // Every serial the model holds is found in the state, held by the right entry.
                for ((e2, n2), (f, l)) in &model {
                    for s in [*f, *l, (f + l) / 2] {
                        let held = fx.state.certificate_claim("B", s).map(|(_, c)| (c.org, c.number));
                        let org = if *e2 { org_a() } else { org_b() };
                        prop_assert_eq!(held, Some((org, *n2)));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results in consensus state.

/// Submits a reading of A-EM1 (whole kWh) at `ts` in a block a minute later.
fn read_a(fx: &mut Fx, seq: u64, ts: i64, kwh_value: i64) {
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, seq, ts, kwh_value))]);
    let at = (ts + 60_000).max(fx.next_ts());
    let e = fx.exec_at(at, vec![tx]);
    assert!(e.reading(0, 0).is_recorded(), "{:?}", e.reading(0, 0));
}

#[test]
fn every_validator_keeps_the_months_results_and_recomputes_them_when_inputs_change() {
    let mut fx = Fx::ready();
    let h = 3_600_000;
    let t1 = fx.state.timestamp_ms + h;
    // 100 → 1 100 kWh in January 2026: 1 MWh bought. Enterprise A is in Changsha (430100,
    // central grid); 2026 reads the latest factors, 2023's: location 0.5271, standard (national)
    // 0.5306, market (excluding market non-fossil) 0.6096 t/MWh.
    read_a(&mut fx, 1, t1, 100);
    read_a(&mut fx, 2, t1 + h, 1_100);
    let r = fx.state.carbon_result(&org_a(), 202_601).expect("computed at the end of the block");
    assert_eq!((r.methodology.as_str(), r.version, r.error.as_deref()), ("GB/T 32150-2015", 1, None));
    assert_eq!((r.scope1_ut, r.scope2_location_ut, r.standard_ut, r.scope2_market_ut), (0, 527_100, 530_600, 609_600));
    assert_eq!(r.height, fx.state.height);
    assert_eq!(fx.state.carbon_result(&org_b(), 202_601), None, "B has no data");
    // Lines sum to each view's total: bit 0 standard, bit 1 location, bit 2 market.
    let sum = |bit: u8| r.lines.iter().filter(|l| l.views & bit != 0 && !l.biogenic).map(|l| l.co2e_ut).sum::<i64>();
    assert_eq!((sum(1), sum(2) - r.scope1_ut, sum(4) - r.scope1_ut), (r.standard_ut, 527_100, 609_600));

    // More energy: 1.5 MWh. Recomputed in the block that recorded it.
    read_a(&mut fx, 3, t1 + 2 * h, 1_600);
    let r = fx.state.carbon_result(&org_a(), 202_601).unwrap();
    assert_eq!((r.scope2_location_ut, r.height), (790_650, fx.state.height));

    // A documented entry: 2 t of diesel (2 × 43.33 × 0.0202 × 0.98 × 44/12 = 6.290244986… t)
    // and one green certificate (1 MWh: the market view falls by 0.6096 t, the location view
    // stays).
    let txs = vec![
        fx.tx(&ent_a(), entry(202_601, 1, CarbonEntryData::Fuel { fuel: "diesel".into(), amount: q(2_000_000) })),
        fx.tx(&ent_a(), entry(202_601, 2, certificates("GEC-R", 1, 1))),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert_tx_accepted(e.receipt(1));
    let r = fx.state.carbon_result(&org_a(), 202_601).unwrap();
    assert_eq!((r.scope1_ut, r.scope2_location_ut, r.scope2_market_ut), (6_290_245, 790_650, 304_800));
    assert_eq!((r.entries, r.height), (2, fx.state.height));
    // A block that changes nothing of the month leaves the result as it was.
    let before = r.clone();
    let t = fx.tx(&ent_b(), TxPayload::SetCarbonPlan { methodology: MACHINERY.into(), from_month: 202_602 });
    fx.exec(vec![t]);
    assert_eq!(fx.state.carbon_result(&org_a(), 202_601), Some(before.clone()));
    assert_eq!(fx.state.carbon_result(&org_b(), 202_602), None, "a plan for a month not begun computes nothing");
    // Withdrawing the diesel entry recomputes the month.
    let withdraw = TxPayload::RecordCarbonEntry {
        entry: CarbonEntry { month: 202_601, number: 1, data: None, evidence: vec![], note: "double-counted".into() },
    };
    let t = fx.tx(&ent_a(), withdraw);
    fx.exec(vec![t]);
    let r = fx.state.carbon_result(&org_a(), 202_601).unwrap();
    assert_eq!((r.scope1_ut, r.entries), (0, 1));
    // The result is committed in the activity tree: provable like a daily figure.
    let key = trustmeter_state::StateKey::CarbonResult(org_a(), 202_601);
    assert_eq!(key.tree(), Some(trustmeter_state::Tree::Activity));
}

#[test]
fn a_regulator_voids_a_claim_on_serials_that_were_not_the_claimants() {
    let mut fx = Fx::ready();
    let void =
        |org, number, reason: &str| TxPayload::VoidCarbonEntry { org, month: 202_601, number, reason: reason.into() };
    // B claims serials that A bought; A is refused.
    let txs = vec![
        fx.tx(&ent_b(), entry(202_601, 1, certificates("GEC-HN-9", 100, 50))),
        fx.tx(&ent_a(), entry(202_601, 1, certificates("GEC-HN-9", 100, 50))),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert_tx_rejected(e.receipt(1), RejectCode::CertificateClaimed);
    // Only a regulator covering B's region may void B's entry, and only an entry in force.
    let txs = vec![
        fx.tx(&ent_a(), void(org_b(), 1, "these are ours")),
        fx.tx(&metrology(), void(org_b(), 1, "x")),
        fx.tx(&regulator(), void(org_b(), 2, "no such entry")),
        fx.tx(&regulator(), void(org_b(), 1, "serials 100-149 were transferred to A (record GEC-T-88)")),
    ];
    let e = fx.exec(txs);
    assert_tx_rejected(e.receipt(0), RejectCode::NotAuthorised);
    assert_tx_rejected(e.receipt(1), RejectCode::NotAuthorised);
    assert!(assert_tx_rejected(e.receipt(2), RejectCode::InvalidCarbonEntry).contains("nothing to void"));
    assert_tx_accepted(e.receipt(3));
    let rec = fx.state.carbon_entry(&org_b(), 202_601, 1).unwrap();
    assert_eq!((rec.revision, rec.entry.data.is_none(), rec.recorded_by), (2, true, regulator().public_key()));
    assert!(
        rec.entry.note.starts_with(&format!("voided by {}: serials 100-149", org_regulator())),
        "{}",
        rec.entry.note
    );
    assert_eq!(fx.state.certificate_claim("GEC-HN-9", 120), None, "released");
    // Now A claims them; voiding again finds nothing in force.
    let txs = vec![
        fx.tx(&ent_a(), entry(202_601, 1, certificates("GEC-HN-9", 100, 50))),
        fx.tx(&regulator(), void(org_b(), 1, "again")),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert_tx_rejected(e.receipt(1), RejectCode::InvalidCarbonEntry);
    assert_eq!(fx.state.certificate_claim("GEC-HN-9", 149).map(|(_, c)| c.org), Some(org_a()));
}
