//! Reconciling computed tier energy with the meter's DL/T 645 tariff registers (费率1..4 = 尖/峰/平/谷).

use trustmeter_energy::tou::{Tier, reconcile};

const KWH: i64 = 1_000_000;

#[test]
fn a_3_percent_shift_fails_at_1_percent_and_half_a_percent_passes() {
    let computed = [100 * KWH, 300 * KWH, 300 * KWH, 300 * KWH, 0];
    // 30 kWh (3 % of 1 000) counted as flat by the meter instead of peak.
    let reported = [100 * KWH, 270 * KWH, 330 * KWH, 300 * KWH, 0];
    let r = reconcile(&computed, &reported, 100);
    assert!(r.mismatch);
    assert_eq!(r.diff_bp, [0, 300, -300, 0, 0]);
    let reason = r.reason.unwrap();
    assert!(reason.contains("peak (高峰) +300 bp") && reason.contains("flat (平) -300 bp"), "{reason}");
    assert!(!reason.contains("valley"), "{reason}");
    assert_eq!((r.computed, r.reported), (computed, reported));

    let reported = [100 * KWH, 295 * KWH, 305 * KWH, 300 * KWH, 0];
    let r = reconcile(&computed, &reported, 100);
    assert!(!r.mismatch && r.reason.is_none());
    assert_eq!(r.diff_bp, [0, 50, -50, 0, 0]);
}

#[test]
fn the_tolerance_is_inclusive_and_exact() {
    let computed = [0, 0, 1_000 * KWH, 0, 0];
    let exactly_1pc = [0, 10 * KWH, 990 * KWH, 0, 0];
    assert!(!reconcile(&computed, &exactly_1pc, 100).mismatch);
    let just_over = [0, 10 * KWH + 1, 990 * KWH - 1, 0, 0];
    assert!(reconcile(&computed, &just_over, 100).mismatch);
    assert!(reconcile(&computed, &exactly_1pc, 99).mismatch);
    assert!(!reconcile(&computed, &computed, 0).mismatch);
}

#[test]
fn a_total_difference_shows_in_the_tiers() {
    // The meter lost 5 % of valley energy (e.g. a missed register increment).
    let computed = [0, 400 * KWH, 300 * KWH, 300 * KWH, 0];
    let reported = [0, 400 * KWH, 300 * KWH, 250 * KWH, 0];
    let r = reconcile(&computed, &reported, 100);
    assert!(r.mismatch);
    assert_eq!(r.diff_bp, [0, 0, 0, 500, 0]);
    assert!(r.reason.unwrap().contains(Tier::Valley.chinese_name()));
}

#[test]
fn deep_valley_is_folded_into_valley_when_the_meter_has_no_such_register() {
    let computed = [0, 300 * KWH, 300 * KWH, 250 * KWH, 150 * KWH];
    let reported = [0, 300 * KWH, 300 * KWH, 400 * KWH, 0];
    let r = reconcile(&computed, &reported, 10);
    assert!(!r.mismatch, "{:?}", r.reason);
    assert_eq!(r.diff_bp, [0; 5]);
    assert_eq!(r.computed, computed);
    // With a mismatch elsewhere, the reason says the fold happened.
    let reported = [0, 330 * KWH, 270 * KWH, 400 * KWH, 0];
    let reason = reconcile(&computed, &reported, 10).reason.unwrap();
    assert!(reason.contains("folded"), "{reason}");
    // A meter with a deep-valley register is compared tier by tier.
    let reported = [0, 300 * KWH, 300 * KWH, 250 * KWH, 150 * KWH];
    assert!(!reconcile(&computed, &reported, 0).mismatch);
}

#[test]
fn zeros_and_extremes() {
    let r = reconcile(&[0; 5], &[0; 5], 100);
    assert!(!r.mismatch);
    assert_eq!(r.diff_bp, [0; 5]);
    let r = reconcile(&[0; 5], &[0, 0, 1, 0, 0], 100);
    assert!(r.mismatch);
    assert_eq!(r.diff_bp, [0, 0, -10_000, 0, 0]);
    let r = reconcile(&[i64::MAX; 5], &[0; 5], 100);
    assert!(r.mismatch);
    assert_eq!(r.diff_bp[0], 2_000);
}
