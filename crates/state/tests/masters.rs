//! Master meters (上级表 / 总表): which masters the chain admits when an enterprise registers a
//! meter (each refusal with its code), that a meter's master is recorded and survives a
//! replacement, and that a sub-meter's energy is counted once in the enterprise's daily figures,
//! through its master. Expected values are worked out by hand in the comments.

use crate::common::*;
use trustmeter_energy::calendar;
use trustmeter_state::{DailyKey, SignatureVerdicts, exec::check_includable};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{EnergyKind, Quantity, RejectCode, TariffRegister, TxPayload, Unit};

fn with_master(mut spec: MeterSpec, master: &str) -> MeterSpec {
    spec.master = Some(dev(master));
    spec
}

/// Registers (enterprise A), calibrates and activates each spec, one block per step.
fn onboard(fx: &mut Fx, specs: Vec<MeterSpec>) {
    let ids: Vec<_> = specs.iter().map(|s| s.id.clone()).collect();
    let txs: Vec<_> = specs.into_iter().map(|m| fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: m })).collect();
    let b = fx.exec(txs);
    b.output.receipts.iter().for_each(assert_tx_accepted);
    let txs: Vec<_> = ids
        .iter()
        .map(|id| {
            fx.tx(
                &metrology(),
                TxPayload::RecordCalibration {
                    meter: id.clone(),
                    calibration: calibration(&format!("JD-{id}"), CAL_FROM, CAL_UNTIL),
                },
            )
        })
        .collect();
    fx.exec(txs).output.receipts.iter().for_each(assert_tx_accepted);
    let txs: Vec<_> =
        ids.iter().map(|id| fx.tx(&regulator(), TxPayload::ActivateDevice { device: id.clone() })).collect();
    fx.exec(txs).output.receipts.iter().for_each(assert_tx_accepted);
}

#[test]
fn a_master_of_the_same_enterprise_kind_and_unit_is_recorded() {
    let mut fx = Fx::ready();
    let tx = fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: with_master(kwh_meter("A-EM5", A_GW1), A_EM1) });
    assert_tx_accepted(fx.exec(vec![tx]).receipt(0));
    let m = fx.state.meter(&dev("A-EM5")).expect("registered");
    assert_eq!(m.master, Some(dev(A_EM1)));
    // A sub-meter may itself be a master (three levels: site, workshop, line).
    let tx = fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: with_master(kwh_meter("A-EM6", A_GW1), "A-EM5") });
    assert_tx_accepted(fx.exec(vec![tx]).receipt(0));
    assert_eq!(fx.state.meter(&dev("A-EM6")).unwrap().master, Some(dev("A-EM5")));
    // Meters without a master keep `None`.
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().master, None);
}

#[test]
fn every_master_the_chain_cannot_accept_is_refused_with_invalid_master() {
    let mut fx = Fx::ready();
    // A tariff register of A-EM1 (a meter the chain holds, but never a master) and a MWh meter.
    let mut tariff = kwh_meter("A-EM1T4", A_GW1);
    tariff.tariff = Some(TariffRegister { total: dev(A_EM1), tariff: 4 });
    let mwh = meter_spec("A-EM7", A_GW1, EnergyKind::Electricity, Unit::MegawattHour, None);
    let revoked = kwh_meter("A-EM8", A_GW1);
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: tariff }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: mwh }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: revoked }),
    ];
    fx.exec(txs).output.receipts.iter().for_each(assert_tx_accepted);
    let tx = fx.tx(&ent_a(), TxPayload::RevokeDevice { device: dev("A-EM8"), reason: "taken out of service".into() });
    assert_tx_accepted(fx.exec(vec![tx]).receipt(0));

    let cases: Vec<(&str, MeterSpec, &str)> = vec![
        ("unknown", with_master(kwh_meter("A-S1", A_GW1), "A-EM99"), "not registered"),
        ("another enterprise's", with_master(kwh_meter("A-S2", A_GW1), B_EM1), "belongs to"),
        ("revoked", with_master(kwh_meter("A-S3", A_GW1), "A-EM8"), "revoked"),
        (
            "another energy kind",
            with_master(meter_spec("A-S4", A_GW2, EnergyKind::Water, Unit::CubicMetre, None), A_EM1),
            "same energy",
        ),
        ("another unit", with_master(kwh_meter("A-S5", A_GW1), "A-EM7"), "same unit"),
        (
            "an instantaneous register",
            with_master(meter_spec("A-S6", A_GW1, EnergyKind::Electricity, Unit::Kilowatt, None), A_PW3),
            "instantaneous",
        ),
        ("a tariff register", with_master(kwh_meter("A-S7", A_GW1), "A-EM1T4"), "tariff register"),
    ];
    let txs: Vec<_> =
        cases.iter().map(|(_, spec, _)| fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: spec.clone() })).collect();
    let b = fx.exec(txs);
    for (i, (what, spec, says)) in cases.iter().enumerate() {
        let msg = assert_tx_rejected(b.receipt(i), RejectCode::InvalidMaster);
        assert!(msg.contains(says), "{what}: {msg:?} should say {says:?}");
        assert!(fx.state.meter(&spec.id).is_none(), "{what}: the meter must not be registered");
    }
}

#[test]
fn a_meter_cannot_be_its_own_master_nor_a_tariff_register_have_one() {
    let mut fx = Fx::ready();
    let own = with_master(kwh_meter("A-S1", A_GW1), "A-S1");
    let mut tariff = with_master(kwh_meter("A-S2", A_GW1), A_EM1);
    tariff.tariff = Some(TariffRegister { total: dev(A_EM1), tariff: 1 });
    for spec in [own, tariff] {
        let tx = fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: spec });
        let rej = check_includable(&fx.state, &tx, &SignatureVerdicts::none()).expect_err("stateless check");
        assert_eq!(rej.code, RejectCode::Malformed, "{}", rej.message);
    }
}

#[test]
fn a_replacement_keeps_the_master_and_the_sub_meters_link() {
    let mut fx = Fx::ready();
    onboard(&mut fx, vec![with_master(kwh_meter("A-EM5", A_GW1), A_EM1)]);
    let g = gw_a1();
    let t = fx.next_ts() + 60_000;
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 1, t, 10)), by_gateway(&g, kwh("A-EM5", 1, t, 5))]);
    fx.exec_at(t + 60_000, vec![tx]);
    // The master's physical meter is swapped (ReplaceMeter keeps the id), then the sub's.
    for meter in [A_EM1, "A-EM5"] {
        let tx = fx.tx(
            &metrology(),
            TxPayload::ReplaceMeter {
                meter: dev(meter),
                at_ms: t + 90_000,
                old_final: Quantity::from_micros(12 * Quantity::SCALE),
                new_initial: Quantity::from_micros(0),
            },
        );
        assert_tx_accepted(fx.exec(vec![tx]).receipt(0));
    }
    assert_eq!(fx.state.meter(&dev("A-EM5")).unwrap().master, Some(dev(A_EM1)));
    assert!(fx.state.meter(&dev(A_EM1)).is_some());
}

#[test]
fn a_sub_meters_energy_is_counted_once_through_its_master() {
    let mut fx = Fx::ready();
    onboard(&mut fx, vec![with_master(kwh_meter("A-EM5", A_GW1), A_EM1)]);
    let g = gw_a1();
    // Two readings 15 minutes apart, well inside one local day: the master goes 1 000 → 1 100 kWh
    // (100 kWh), its sub 500 → 540 kWh (40 kWh, part of the master's 100). The enterprise used
    // 100 kWh, not 140.
    let t1 = fx.next_ts() + 60_000;
    let t2 = t1 + 15 * 60_000;
    assert_eq!(calendar::day_number(t1), calendar::day_number(t2), "the fixture's time must not cross midnight");
    for (seq, ts, master, sub) in [(1, t1, 1_000, 500), (2, t2, 1_100, 540)] {
        let tx = fx.submit(
            &g,
            A_GW1,
            vec![by_gateway(&g, kwh(A_EM1, seq, ts, master)), by_gateway(&g, kwh("A-EM5", seq, ts, sub))],
        );
        let b = fx.exec_at(ts + 1_000, vec![tx]);
        assert!(b.output.receipts[0].readings.iter().all(|o| o.is_recorded()), "{:?}", b.output.receipts[0]);
    }
    let key = DailyKey {
        org: org_a(),
        day: calendar::day_number(t1),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
    };
    let d = fx.state.daily(&key).expect("a daily figure");
    assert_eq!(d.consumption.micros(), 100 * Quantity::SCALE);
}
