//! Energy accounting in consensus state: daily figures from registers, late data correcting a
//! published day, arrival order never changing a figure, rollover, replacement, negative deltas,
//! time-of-use tiers (Hunan), standard coal, monthly reports, and audit policy deployment and
//! upgrade at its effective height. Expected values are computed by hand in the comments and
//! independently in the test, never read back from the code under test.

use crate::common::*;
use trustmeter_energy::calendar;
use trustmeter_policy::DEFAULT_AUDIT_TOML;
use trustmeter_state::{DailyKey, DailyTotal, State};
use trustmeter_types::tx::{ProductOutput, ReportedConsumption};
use trustmeter_types::{DeviceId, EnergyKind, Quantity, ReadingOutcome, RejectCode, TxPayload, Unit};

const H: i64 = 3_600_000;
const MIN: i64 = 60_000;

/// Local midnight (Asia/Shanghai) that starts 2026-01-02 = 2026-01-01T16:00Z.
const MIDNIGHT: i64 = T0 + 16 * H;

fn day_of(ts: i64) -> i32 {
    calendar::day_number(ts)
}

fn daily(state: &State, ts: i64) -> DailyTotal {
    let key = DailyKey { org: org_a(), day: day_of(ts), energy: EnergyKind::Electricity, unit: Unit::KilowattHour };
    state.daily(&key).unwrap_or_else(|| panic!("no daily figure for day {}", calendar::day_label(key.day)))
}

fn kwh_micros(kwh_thousandths: i64) -> i64 {
    kwh_thousandths * 1_000
}

/// Submits readings of A-EM1 (value in whole kWh) at the given times, one block each, the block
/// a minute after the reading.
fn feed(fx: &mut Fx, readings: &[(u64, i64, i64)]) -> Vec<ReadingOutcome> {
    let g = gw_a1();
    let mut out = vec![];
    for &(seq, ts, value) in readings {
        let block_ts = (ts + MIN).max(fx.next_ts());
        let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, seq, ts, value))]);
        let e = fx.exec_at(block_ts, vec![tx]);
        out.push(e.reading(0, 0).clone());
    }
    out
}

/// Registers `spec` (enterprise A), records its calibration and activates it, one block each.
fn onboard_meter(fx: &mut Fx, spec: trustmeter_types::tx::MeterSpec) {
    let id = spec.id.clone();
    let register = fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: spec });
    let certificate = format!("JD-{id}");
    let calibrate = fx.tx(
        &metrology(),
        TxPayload::RecordCalibration { meter: id.clone(), calibration: calibration(&certificate, CAL_FROM, CAL_UNTIL) },
    );
    let activate = fx.tx(&regulator(), TxPayload::ActivateDevice { device: id });
    for tx in [register, calibrate, activate] {
        let b = fx.exec(vec![tx]);
        assert_tx_accepted(&b.output.receipts[0]);
    }
}

fn ready_after(ts: i64) -> Fx {
    let fx = Fx::ready();
    assert!(fx.state.timestamp_ms < ts, "fixture setup must end before the test's readings");
    fx
}

#[test]
fn an_interval_across_midnight_is_split_by_time_and_marked_estimated() {
    let mut fx = ready_after(MIDNIGHT - 30 * MIN);
    // 23:30 → 00:30 local, 100 → 160 kWh: 60 kWh over an hour, half on each day; an hour is
    // more than twice the 15-minute interval, so the placement is an estimate.
    let out = feed(&mut fx, &[(1, MIDNIGHT - 30 * MIN, 100), (2, MIDNIGHT + 30 * MIN, 160)]);
    assert!(out.iter().all(ReadingOutcome::is_recorded), "{out:?}");
    let d1 = daily(&fx.state, MIDNIGHT - 1);
    let d2 = daily(&fx.state, MIDNIGHT);
    assert_eq!(d1.consumption.micros(), kwh_micros(30_000));
    assert_eq!(d2.consumption.micros(), kwh_micros(30_000));
    assert_eq!(d1.estimated, d1.consumption);
    assert_eq!((d1.points, d2.points), (1, 1));
    assert_eq!(d1.reference, trustmeter_types::genesis::DEFAULT_REFERENCE_SET);
}

#[test]
fn late_data_corrects_an_already_published_day() {
    let mut fx = ready_after(MIDNIGHT - 30 * MIN);
    feed(&mut fx, &[(1, MIDNIGHT - 30 * MIN, 100), (2, MIDNIGHT + 30 * MIN, 160)]);
    let before = daily(&fx.state, MIDNIGHT - 1);
    assert_eq!(before.consumption.micros(), kwh_micros(30_000));
    // Hours later the gateway delivers a reading it had missed: 23:50, 150 kWh.
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 3, MIDNIGHT - 10 * MIN, 150))]);
    let e = fx.exec_at(MIDNIGHT + 5 * H, vec![tx]);
    let ReadingOutcome::Flagged { flags } = e.reading(0, 0) else {
        panic!("a late reading is recorded with a flag, got {:?}", e.reading(0, 0))
    };
    assert!(flags.iter().any(|f| f.code == "late_reading"), "{flags:?}");
    // (23:30, 23:50) = 50 kWh all on day 1; (23:50, 00:30) = 10 kWh over 40 min: 10 min (2.5 kWh)
    // on day 1, 30 min (7.5 kWh) on day 2.
    let d1 = daily(&fx.state, MIDNIGHT - 1);
    let d2 = daily(&fx.state, MIDNIGHT);
    assert_eq!(d1.consumption.micros(), kwh_micros(52_500));
    assert_eq!(d2.consumption.micros(), kwh_micros(7_500));
    assert_eq!(d1.late, 1);
    assert_eq!(d1.points, 2);
    // Standard coal follows the corrected total: 52.5 kWh × 0.1229 kgce/kWh = 6.45225 kgce.
    assert_eq!(d1.kgce_equivalent.micros(), 6_452_250);
    // The total over both days is what the registers say: 160 − 100.
    assert_eq!(d1.consumption.micros() + d2.consumption.micros(), kwh_micros(60_000));
}

#[test]
fn the_order_readings_arrive_in_never_changes_a_figure() {
    let points = [
        (MIDNIGHT - 45 * MIN, 1_000),
        (MIDNIGHT - 30 * MIN, 1_010),
        (MIDNIGHT - 15 * MIN, 1_025),
        (MIDNIGHT, 1_027),
        (MIDNIGHT + 15 * MIN, 1_050),
        (MIDNIGHT + 60 * MIN, 1_090),
    ];
    let figures = |order: &[usize]| {
        let mut fx = ready_after(MIDNIGHT - H);
        let g = gw_a1();
        let readings: Vec<_> = order
            .iter()
            .enumerate()
            .map(|(i, &k)| by_gateway(&g, kwh(A_EM1, i as u64 + 1, points[k].0, points[k].1)))
            .collect();
        let tx = fx.submit(&g, A_GW1, readings);
        let e = fx.exec_at(MIDNIGHT + 2 * H, vec![tx]);
        assert!(e.receipt(0).readings.iter().all(ReadingOutcome::is_recorded), "{:?}", e.receipt(0).readings);
        let strip = |d: DailyTotal| (d.consumption, d.estimated, d.tiers, d.kgce_equivalent, d.kgce_equal_value);
        (strip(daily(&fx.state, MIDNIGHT - 1)), strip(daily(&fx.state, MIDNIGHT)))
    };
    let in_order = figures(&[0, 1, 2, 3, 4, 5]);
    assert_eq!(in_order.0.0.micros() + in_order.1.0.micros(), kwh_micros(90_000));
    for order in [[5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 3, 4], [3, 5, 0, 4, 2, 1]] {
        assert_eq!(figures(&order), in_order, "arrival order {order:?}");
    }
}

#[test]
fn hunan_tariff_tiers_split_electricity_by_the_hour() {
    // Hunan: 峰 15–19, 尖 19–22. 18:30 → 19:30 local, 10 kWh: 5 peak, 5 critical peak.
    let local_1830 = MIDNIGHT + 18 * H + 30 * MIN;
    let mut fx = ready_after(local_1830);
    feed(
        &mut fx,
        &[
            (1, local_1830, 500),
            (2, local_1830 + 15 * MIN, 502),
            (3, local_1830 + 30 * MIN, 505),
            (4, local_1830 + H, 510),
        ],
    );
    let d = daily(&fx.state, local_1830);
    let tiers: Vec<i64> = d.tiers.iter().map(|q| q.micros()).collect();
    assert_eq!(tiers, vec![kwh_micros(5_000), kwh_micros(5_000), 0, 0, 0], "尖/峰/平/谷/深谷");
    let refs = trustmeter_energy::reference::builtin(&fx.state.params.accounting.reference).expect("built-in set");
    let hunan = trustmeter_energy::tou::schedule_for(refs, 430_000, local_1830).expect("a Hunan schedule");
    assert_eq!(d.tou_schedule.as_deref(), Some(hunan.id.as_str()));
}

#[test]
fn a_tariff_register_is_kept_but_not_added_to_the_total() {
    // A-EM1 is the total register (正向有功总); A-EM1-T4 is its valley tariff register (谷).
    // Between 01:00 and 02:00 local (valley in Hunan) the total advances 10 kWh and the tariff
    // register 10 kWh too: the day consumed 10 kWh, not 20.
    const T4: &str = "A-EM1-T4";
    let local_0100 = MIDNIGHT + H;
    let mut fx = ready_after(local_0100);
    let mut spec = kwh_meter(T4, A_GW1);
    spec.tariff = Some(trustmeter_types::TariffRegister { total: dev(A_EM1), tariff: 4 });
    onboard_meter(&mut fx, spec);
    let g = gw_a1();
    for (seq, ts, value) in [(1, local_0100, 100), (2, local_0100 + H, 110)] {
        let block_ts = (ts + MIN).max(fx.next_ts());
        let tx = fx.submit(
            &g,
            A_GW1,
            vec![by_gateway(&g, kwh(A_EM1, seq, ts, value)), by_gateway(&g, kwh(T4, seq, ts, value - 60))],
        );
        let e = fx.exec_at(block_ts, vec![tx]);
        assert!(e.reading(0, 0).is_recorded() && e.reading(0, 1).is_recorded(), "{:?}", e.reading(0, 1));
    }
    let d = daily(&fx.state, local_0100);
    assert_eq!(d.consumption.micros(), kwh_micros(10_000), "the tariff register must not be counted again");
    // Points count readings (for completeness), of both registers: 2 + 2.
    assert_eq!(d.points, 4, "readings of the day");
    // Both registers' readings are on chain: the tariff register is recorded for reconciliation.
    assert_eq!(fx.state.progress(&dev(T4)).expect("recorded").last_seq, 2);
    // With progress and daily entries after them in key order, the registries are still whole.
    let meters: Vec<DeviceId> = fx.state.meters().map(|m| m.id).collect();
    assert_eq!(meters, ["A-EM1", "A-EM1-T4", "A-EM2", "A-PW3", "A-WM4", "B-EM1"].map(dev));
    assert_eq!(fx.state.gateways().count(), 3);
    assert_eq!(fx.state.organisations().count(), 4, "regulator, metrology authority, A and B");
}

/// A power meter (kW, instantaneous) whose power turns negative exports: consumption and export
/// stay apart in the daily figure, and standard coal counts consumption only.
#[test]
fn negative_power_is_export_not_negative_consumption() {
    let local_0100 = MIDNIGHT + H;
    let mut fx = ready_after(local_0100);
    let g = gw_a1();
    // +10 kW at 01:00, −10 kW at 02:00, −30 kW at 03:00 (local).
    for (seq, ts, kw) in [(1, local_0100, 10), (2, local_0100 + H, -10), (3, local_0100 + 2 * H, -30)] {
        let block_ts = (ts + MIN).max(fx.next_ts());
        let r = reading(A_PW3, seq, ts, kw * Quantity::SCALE, Unit::Kilowatt);
        let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, r)]);
        let e = fx.exec_at(block_ts, vec![tx]);
        assert!(e.reading(0, 0).is_recorded(), "{:?}", e.reading(0, 0));
    }
    // By hand: 01:00–02:00 crosses zero at 01:30, 10 kW × 0.5 h / 2 = 2.5 kWh each way;
    // 02:00–03:00 is all export, (10 + 30) / 2 × 1 h = 20 kWh.
    let d = daily(&fx.state, local_0100);
    assert_eq!(d.consumption.micros(), kwh_micros(2_500));
    assert_eq!(d.exported.micros(), kwh_micros(22_500));
    // Standard coal of the consumption alone: 2.5 kWh × 0.1229 kgce/kWh (当量值) = 0.30725 kgce.
    assert_eq!(d.kgce_equivalent.micros(), 307_250);
    // The tiers add up to the consumption, never to the export.
    assert_eq!(d.tiers.iter().map(|q| q.micros()).sum::<i64>(), kwh_micros(2_500));
}

/// A bidirectional meter is two registers: forward (cumulative) and reverse (cumulative_export).
/// The reverse register's differences are export; the forward one's consumption.
#[test]
fn a_reverse_register_is_export() {
    const REV: &str = "A-EM1-R";
    let local_0100 = MIDNIGHT + H;
    let mut fx = ready_after(local_0100);
    let mut spec = kwh_meter(REV, A_GW1);
    spec.register = trustmeter_types::RegisterKind::CumulativeExport;
    onboard_meter(&mut fx, spec);
    let g = gw_a1();
    // Forward 100 → 110 kWh, reverse 40 → 43.5 kWh between 01:00 and 02:00.
    for (seq, ts, fwd, rev) in [(1, local_0100, 100_000, 40_000), (2, local_0100 + H, 110_000, 43_500)] {
        let block_ts = (ts + MIN).max(fx.next_ts());
        let tx = fx.submit(
            &g,
            A_GW1,
            vec![
                by_gateway(&g, reading(A_EM1, seq, ts, kwh_micros(fwd), Unit::KilowattHour)),
                by_gateway(&g, reading(REV, seq, ts, kwh_micros(rev), Unit::KilowattHour)),
            ],
        );
        let e = fx.exec_at(block_ts, vec![tx]);
        assert!(e.reading(0, 0).is_recorded() && e.reading(0, 1).is_recorded(), "{:?}", e.reading(0, 1));
    }
    let d = daily(&fx.state, local_0100);
    assert_eq!(d.consumption.micros(), kwh_micros(10_000));
    assert_eq!(d.exported.micros(), kwh_micros(3_500));
    // Standard coal of the 10 kWh consumed only: 10 × 0.1229 = 1.229 kgce.
    assert_eq!(d.kgce_equivalent.micros(), 1_229_000);
    // A reverse register is audited as a totalising one: a value past its maximum is refused.
    let ts = local_0100 + 2 * H;
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, reading(REV, 3, ts, -kwh_micros(1_000), Unit::KilowattHour))]);
    let e = fx.exec_at((ts + MIN).max(fx.next_ts()), vec![tx]);
    assert!(!e.reading(0, 0).is_recorded(), "a negative reverse register value: {:?}", e.reading(0, 0));
}

#[test]
fn rollover_replacement_and_negative_deltas() {
    let mut fx = ready_after(MIDNIGHT - 4 * H);
    let max_kwh = KWH_MAX / Quantity::SCALE; // 1 000 000 kWh
    let t = MIDNIGHT - 4 * H;
    // Rollover: 999 990 → 15 is 25 kWh.
    feed(&mut fx, &[(1, t, max_kwh - 10), (2, t + 15 * MIN, 15)]);
    assert_eq!(daily(&fx.state, t).consumption.micros(), kwh_micros(25_000));
    // Replacement at t + 20 min: old meter ended at 20, new one started at 3; next reading 7:
    // (20 − 15) + (7 − 3) = 9 kWh. The enterprise alone may not record it: the metrology
    // authority attests the two values.
    let payload = |old_final: i64| TxPayload::ReplaceMeter {
        meter: dev(A_EM1),
        at_ms: t + 20 * MIN,
        old_final: Quantity::from_micros(old_final * Quantity::SCALE),
        new_initial: Quantity::from_micros(3 * Quantity::SCALE),
    };
    let by_owner = fx.tx(&ent_a(), payload(20));
    let e = fx.exec_at(t + 22 * MIN, vec![by_owner]);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::NotAuthorised);
    assert!(msg.contains("only a metrology authority records meter replacements"), "{msg}");
    let tx = fx.tx(
        &metrology(),
        TxPayload::ReplaceMeter {
            meter: dev(A_EM1),
            at_ms: t + 20 * MIN,
            old_final: Quantity::from_micros(20 * Quantity::SCALE),
            new_initial: Quantity::from_micros(3 * Quantity::SCALE),
        },
    );
    let e = fx.exec_at(t + 25 * MIN, vec![tx]);
    assert_tx_accepted(e.receipt(0));
    feed(&mut fx, &[(3, t + 30 * MIN, 7)]);
    assert_eq!(daily(&fx.state, t).consumption.micros(), kwh_micros(34_000));
    // A fall that is no rollover and no replacement: excluded, flagged, the total unchanged.
    let out = feed(&mut fx, &[(4, t + 45 * MIN, 2)]);
    let ReadingOutcome::Flagged { flags } = &out[0] else { panic!("{out:?}") };
    assert!(flags.iter().any(|f| f.code == "negative_delta_excluded"), "{flags:?}");
    let d = daily(&fx.state, t);
    assert_eq!(d.consumption.micros(), kwh_micros(34_000));
    assert_eq!(d.excluded_intervals, 1);
}

#[test]
fn replacements_are_bounded_per_late_window_and_room_frees_up_as_the_window_moves() {
    let mut fx = ready_after(MIDNIGHT - 4 * H);
    let t = MIDNIGHT - 4 * H;
    let bound = trustmeter_state::accounting::MAX_REPLACEMENTS;
    let replace = |fx: &mut Fx, at_ms: i64| {
        fx.tx(
            &metrology(),
            TxPayload::ReplaceMeter {
                meter: dev(A_EM1),
                at_ms,
                old_final: Quantity::from_micros(20 * Quantity::SCALE),
                new_initial: Quantity::from_micros(3 * Quantity::SCALE),
            },
        )
    };
    feed(&mut fx, &[(1, t, 10)]);
    // bound + 1 replacements at distinct minutes after the reading, in one block.
    let txs: Vec<_> = (1..=bound as i64 + 1).map(|i| replace(&mut fx, t + i * MIN)).collect();
    let e = fx.exec_at(t + 30 * MIN, txs);
    for i in 0..bound {
        assert_tx_accepted(e.receipt(i));
    }
    let msg = assert_tx_rejected(e.receipt(bound), RejectCode::LimitReached);
    assert!(msg.contains(&format!("already has {bound} replacements")), "{msg}");
    assert_eq!(fx.state.progress(&dev(A_EM1)).unwrap().replacements.len(), bound);
    // A reading after them, then one more than a late window later: the window moves past every
    // replacement (the oldest point kept is the one at t + 31 min), so there is room again.
    let late = fx.state.params.accounting.late_window_ms;
    feed(&mut fx, &[(2, t + 31 * MIN, 40), (3, t + late + 24 * H, 90)]);
    assert!(fx.state.progress(&dev(A_EM1)).unwrap().replacements.is_empty());
    let now = fx.next_ts();
    let again = replace(&mut fx, now - MIN);
    let e = fx.exec_at(now, vec![again]);
    assert_tx_accepted(e.receipt(0));
}

#[test]
fn an_old_out_of_order_reading_is_refused_but_an_old_backlog_in_order_is_not() {
    let mut fx = ready_after(MIDNIGHT - 30 * MIN);
    let late_window = fx.state.params.accounting.late_window_ms;
    // A backlog older than the late window, in order: recorded.
    let old = fx.state.timestamp_ms + MIN;
    let now = old + late_window + 2 * 24 * H;
    let g = gw_a1();
    let tx =
        fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 1, old, 10)), by_gateway(&g, kwh(A_EM1, 2, now - H, 20))]);
    let e = fx.exec_at(now, vec![tx]);
    assert!(e.receipt(0).readings.iter().all(ReadingOutcome::is_recorded), "{:?}", e.receipt(0).readings);
    // Behind the latest reading and outside the window: refused with a reason.
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 3, old + H, 12))]);
    let e = fx.exec_at(now + MIN, vec![tx]);
    let msg = assert_reading_rejected(e.reading(0, 0), RejectCode::BadTimestamp);
    assert!(msg.contains("late-data window"), "{msg}");
}

#[test]
fn monthly_reports_are_filed_by_enterprises_only() {
    let mut fx = Fx::ready();
    let report = TxPayload::MonthlyReport {
        month: 202601,
        consumption: vec![ReportedConsumption {
            energy: EnergyKind::Electricity,
            unit: Unit::KilowattHour,
            quantity: Quantity::from_micros(1_234 * Quantity::SCALE),
        }],
        production: vec![ProductOutput {
            product: "steel billet".into(),
            unit: "t".into(),
            quantity: Quantity::from_micros(56 * Quantity::SCALE),
        }],
        heating_values: vec![],
    };
    let by_a = fx.tx(&ent_a(), report.clone());
    let by_reg = fx.tx(&regulator(), report);
    let e = fx.exec(vec![by_a, by_reg]);
    assert_tx_accepted(e.receipt(0));
    assert_tx_rejected(e.receipt(1), RejectCode::NotAuthorised);
    let r = fx.state.monthly_report(&org_a(), 202601).expect("report recorded");
    assert_eq!(r.production[0].quantity.micros(), 56 * Quantity::SCALE);
}

fn stricter_policy(version: u32) -> String {
    let base = DEFAULT_AUDIT_TOML.replacen("version = 1", &format!("version = {version}"), 1);
    assert!(version == 1 || base != DEFAULT_AUDIT_TOML, "the default policy declares `version = 1`");
    format!(
        "{base}\n[[rules]]\nid = \"test_cap\"\ncode = \"above_test_cap\"\naction = \"reject\"\ncheck = \"reading.value <= 1000.0\"\nreason = \"value {{reading.value}} is above the test cap of 1000\"\ndescription = \"test\"\n"
    )
}

#[test]
fn a_policy_upgrade_takes_effect_at_its_height() {
    let mut fx = ready_after(MIDNIGHT - 3 * H);
    let effective = fx.state.height + 3;
    let deploy = fx.tx(&regulator(), TxPayload::DeployPolicy { text: stricter_policy(2), effective_height: effective });
    let e = fx.exec_at(MIDNIGHT - 3 * H, vec![deploy]);
    assert_tx_accepted(e.receipt(0));
    assert_eq!(fx.state.policy_at(fx.state.height).0.version, 1, "not yet in force");
    assert_eq!(fx.state.policy_at(effective).0.version, 2);
    // The cached lookup execution uses agrees, on either side of the effective height.
    for h in [fx.state.height, effective - 1, effective, effective + 10] {
        assert!(std::sync::Arc::ptr_eq(&fx.state.policy_in_force(h), &fx.state.policy_at(h).1), "height {h}");
    }
    assert!(!std::sync::Arc::ptr_eq(&fx.state.policy_in_force(effective - 1), &fx.state.policy_in_force(effective)));
    // Below the effective height the old policy admits 2 000 kWh …
    let t = MIDNIGHT - 2 * H;
    let out = feed(&mut fx, &[(1, t, 2_000)]);
    assert!(out[0].is_recorded(), "{out:?}");
    assert!(fx.state.height < effective);
    // … from the effective height on, the same kind of reading is refused by the new rule.
    while fx.state.height + 1 < effective {
        let ts = fx.next_ts();
        fx.exec_at(ts, vec![]);
    }
    let out = feed(&mut fx, &[(2, t + 15 * MIN, 2_010)]);
    let msg = assert_reading_rejected(&out[0], RejectCode::PolicyRejected);
    assert!(msg.contains("above_test_cap"), "{msg}");
}

#[test]
fn a_bad_policy_is_refused_at_deployment_and_only_regulators_deploy() {
    let mut fx = Fx::ready();
    let h = fx.state.height + 5;
    let broken = stricter_policy(2).replace("reading.value <= 1000.0", "reading.value <= (");
    let txs = vec![
        fx.tx(&regulator(), TxPayload::DeployPolicy { text: broken, effective_height: h }),
        fx.tx(&ent_a(), TxPayload::DeployPolicy { text: stricter_policy(2), effective_height: h }),
        fx.tx(&regulator(), TxPayload::DeployPolicy { text: stricter_policy(1), effective_height: h }),
        fx.tx(&regulator(), TxPayload::DeployPolicy { text: stricter_policy(2), effective_height: 1 }),
    ];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::InvalidPolicy);
    assert!(msg.contains("test_cap"), "the message names the broken rule: {msg}");
    assert_tx_rejected(e.receipt(1), RejectCode::NotAuthorised);
    let msg = assert_tx_rejected(e.receipt(2), RejectCode::InvalidPolicy);
    assert!(msg.contains("version"), "{msg}");
    assert_tx_rejected(e.receipt(3), RejectCode::InvalidPolicy);
    assert_eq!(fx.state.latest_policy_version(), 1);
}

#[test]
fn figures_survive_reopening_the_store() {
    // Two identical chains; one reopens its state from its store (a restart) before a late
    // reading: the late-data window came back with it, so the reading lands the same way on both.
    let mut fx = ready_after(MIDNIGHT - 30 * MIN);
    let mut twin = ready_after(MIDNIGHT - 30 * MIN);
    feed(&mut fx, &[(1, MIDNIGHT - 30 * MIN, 100), (2, MIDNIGHT + 30 * MIN, 160)]);
    feed(&mut twin, &[(1, MIDNIGHT - 30 * MIN, 100), (2, MIDNIGHT + 30 * MIN, 160)]);
    let reopened = State::open(&twin.genesis, twin.state.store().clone()).expect("reopens");
    assert_eq!(reopened.root(), fx.state.root());
    assert_eq!(reopened.window_points(&dev(A_EM1)), fx.state.window_points(&dev(A_EM1)));
    twin.state = reopened;
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 3, MIDNIGHT - 10 * MIN, 150))]);
    let tx2 = twin.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 3, MIDNIGHT - 10 * MIN, 150))]);
    fx.exec_at(MIDNIGHT + H, vec![tx]);
    twin.exec_at(MIDNIGHT + H, vec![tx2]);
    assert_eq!(twin.state.root(), fx.state.root());
    assert_eq!(daily(&twin.state, MIDNIGHT - 1).consumption.micros(), kwh_micros(52_500));
}

/// Window points are stored hour by hour and found by walking the hours a meter's window can
/// hold (`accounting::point_segments`). Over 300 blocks of a seeded mix — in-order readings,
/// outages of up to 12 days, late readings at random instants inside the window — the points
/// found that way are after every block exactly the meter's point entries in the store (read by
/// brute force over every entry), and the days add up to the register's rise over the readings
/// recorded (values are one increasing function of time, so intervals telescope whatever the
/// arrival order).
#[test]
fn points_found_hour_by_hour_are_every_stored_point_of_the_meter() {
    use trustmeter_state::StateKey;
    let mut fx = ready_after(MIDNIGHT - 2 * H);
    let g = gw_a1();
    let start = MIDNIGHT - 2 * H;
    // 10 micro-kWh per second: 36 Wh an hour, far from the register's end.
    let value = |ts: i64| (ts - start) / 1_000 * 10;
    let late_window = fx.state.params.accounting.late_window_ms;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64; // splitmix64, seed fixed
    let mut next = move |n: u64| {
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    };
    let (mut seq, mut last) = (0u64, start);
    let (mut first_ts, mut last_ts) = (None::<i64>, i64::MIN);
    let (mut late_recorded, mut late_refused, mut outages) = (0, 0, 0);
    for _ in 0..300 {
        let mut readings = vec![];
        let roll = next(100);
        if roll < 60 {
            // In order, 1–6 readings 15 minutes apart (a few seconds off the grid).
            for _ in 0..=next(6) {
                last += 15 * MIN + next(30) as i64 * 1_000;
                readings.push(last);
            }
        } else if roll < 67 {
            // Back from an outage of 1–12 days.
            last += (1 + next(12) as i64) * 24 * H;
            readings.push(last);
            outages += 1;
        } else {
            // Late: 1–3 readings at odd milliseconds inside the window, before the latest.
            let block_ts = fx.next_ts().max(last + MIN);
            let lo = (block_ts - late_window + H).max(start);
            for _ in 0..=next(3) {
                if last > lo {
                    readings.push(lo + (next((last - lo) as u64 / 2) as i64) * 2 + 1);
                }
            }
        }
        let block_ts = fx.next_ts().max(last + MIN);
        let signed: Vec<_> = readings
            .iter()
            .map(|&ts| {
                seq += 1;
                by_gateway(&g, reading(A_EM1, seq, ts, value(ts), Unit::KilowattHour))
            })
            .collect();
        if signed.is_empty() {
            continue;
        }
        let tx = fx.submit(&g, A_GW1, signed);
        let e = fx.exec_at(block_ts, vec![tx]);
        for (ts, outcome) in readings.iter().zip(&e.receipt(0).readings) {
            match outcome {
                o if o.is_recorded() => {
                    if *ts < last_ts {
                        late_recorded += 1;
                    }
                    first_ts = Some(first_ts.map_or(*ts, |f: i64| f.min(*ts)));
                    last_ts = last_ts.max(*ts);
                }
                // A late reading behind the oldest point kept after an outage.
                ReadingOutcome::Rejected(r) if r.code == RejectCode::BadTimestamp && *ts < last_ts => late_refused += 1,
                o => panic!("reading at {ts}: {o:?}"),
            }
        }
        let mut stored: Vec<_> = fx
            .state
            .entries()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::Point(m, ts, ord), trustmeter_state::StateValue::Point(p)) if m == dev(A_EM1) => {
                    Some((ts, ord, p))
                }
                _ => None,
            })
            .collect();
        stored.sort_by_key(|(ts, ord, _)| (*ts, *ord));
        let stored: Vec<_> = stored.into_iter().map(|(_, _, p)| p).collect();
        assert_eq!(fx.state.window_points(&dev(A_EM1)), stored, "after block {}", fx.state.height);
    }
    let total: i64 = fx
        .state
        .entries()
        .filter_map(|(k, v)| match (k, v) {
            (StateKey::Daily(k), trustmeter_state::StateValue::Daily(d)) if k.org == org_a() => {
                Some(d.consumption.micros())
            }
            _ => None,
        })
        .sum();
    assert_eq!(total, value(last_ts) - value(first_ts.expect("readings recorded")));
    // The mix did what it is for.
    eprintln!("late {late_recorded}, refused {late_refused}, outages {outages}");
    assert!(late_recorded > 50 && outages > 10, "late {late_recorded}, refused {late_refused}, outages {outages}");
}
