//! The shipped default audit policy, rule by rule, with hand-built inputs and exact codes.

use crate::common::{DAY, Q, T0, base, instantaneous};
use trustmeter_policy::{AuditInput, DEFAULT_AUDIT_TOML, Finding, Policy, PreviousFacts, Verdict};

fn eval(input: &AuditInput) -> Verdict {
    Policy::default_audit().evaluate(input)
}

fn rejected(input: &AuditInput) -> Finding {
    match eval(input) {
        Verdict::Rejected(f) => f,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn codes(input: &AuditInput) -> Vec<String> {
    eval(input).codes().into_iter().map(str::to_owned).collect()
}

#[test]
fn the_default_policy_is_the_shipped_document() {
    let p = Policy::default_audit();
    assert_eq!(p.name(), "default-audit");
    assert_eq!(p.version(), 1);
    assert_eq!(p.text(), DEFAULT_AUDIT_TOML);
    let ids: Vec<&str> = p.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "future_timestamp",
            "instantaneous_range",
            "cumulative_range",
            "implausible_rate",
            "rate_exceeds_capacity",
            "monotonic_register",
            "clock_suspect",
            "manual_entry",
            "imported_entry",
        ]
    );
    assert!(p.cost() > 0 && p.cost() <= trustmeter_policy::MAX_TOTAL_COST);
}

#[test]
fn an_ordinary_reading_and_a_first_reading_are_accepted() {
    assert_eq!(eval(&base()), Verdict::Accepted);
    let mut first = base();
    first.previous = None;
    assert_eq!(eval(&first), Verdict::Accepted);
}

#[test]
fn future_timestamps_are_rejected_beyond_the_skew() {
    let mut i = base();
    i.reading.timestamp_ms = T0 + 300_001;
    let f = rejected(&i);
    assert_eq!((f.rule.as_str(), f.code.as_str()), ("future_timestamp", "future_timestamp"));
    assert_eq!(f.reason, "reading time 1735689900001 is more than 300000 ms after the block time 1735689600000");
    // at the skew exactly: not rejected
    i.reading.timestamp_ms = T0 + 300_000;
    assert_eq!(eval(&i), Verdict::Accepted);
}

#[test]
fn old_readings_are_not_the_policys_business() {
    // A gateway back from a long outage sends its backlog in order: the policy has no age limit;
    // the chain itself bounds only out-of-order data (its late-data window).
    let mut i = base();
    i.previous = None;
    i.reading.timestamp_ms = T0 - 90 * DAY;
    assert_eq!(eval(&i), Verdict::Accepted);
}

#[test]
fn instantaneous_values_must_be_in_the_range_of_their_energy_kind() {
    assert_eq!(eval(&instantaneous(0.0)), Verdict::Accepted);
    assert_eq!(eval(&instantaneous(999_999.0)), Verdict::Accepted);
    assert_eq!(eval(&instantaneous(-2.5)), Verdict::Accepted, "negative power is export");
    for bad in [-1_000_000.5, 1_000_000.5] {
        let f = rejected(&instantaneous(bad));
        assert_eq!((f.rule.as_str(), f.code.as_str()), ("instantaneous_range", "value_out_of_range"));
    }
    assert_eq!(rejected(&instantaneous(-1_000_002.5)).reason, "electricity value -1000002.5 kW is outside ±1000000");
    // steam in t/h has its own bound
    let mut steam = instantaneous(5_000.5);
    steam.meter.energy = "steam".into();
    steam.meter.unit = "t/h".into();
    steam.reading.unit = "t/h".into();
    assert_eq!(rejected(&steam).reason, "steam value 5000.5 t/h is outside ±5000");
    steam.reading.value = 4_999.0;
    assert_eq!(eval(&steam), Verdict::Accepted);
}

#[test]
fn cumulative_values_must_be_below_the_register_maximum() {
    let mut i = base();
    i.reading.value = 100_000.0;
    let f = rejected(&i);
    assert_eq!((f.rule.as_str(), f.code.as_str()), ("cumulative_range", "value_out_of_range"));
    assert_eq!(f.reason, "register value 100000 kWh is outside [0, 100000)");
    i.reading.value = -0.5;
    assert_eq!(rejected(&i).code, "value_out_of_range");
}

#[test]
fn growth_is_checked_against_the_rated_capacity() {
    // rated 100 kWh/h over 15 minutes: 25 kWh; flagged above 30 (× 1.2), rejected above 300 (× 12)
    let mut i = base();
    i.reading.value = 1_000.0 + 29.0;
    assert_eq!(eval(&i), Verdict::Accepted);
    i.reading.value = 1_000.0 + 31.0;
    assert_eq!(codes(&i), ["rate_exceeds_capacity"]);
    let Verdict::Flagged(f) = eval(&i) else { unreachable!() };
    assert_eq!(f[0].reason, "the register grew by 31 kWh in 0.25 h, more than 1.2 × the rated 100 kWh/h");
    i.reading.value = 1_000.0 + 299.0;
    assert_eq!(codes(&i), ["rate_exceeds_capacity"]);
    i.reading.value = 1_000.0 + 301.0;
    let f = rejected(&i);
    assert_eq!((f.rule.as_str(), f.code.as_str()), ("implausible_rate", "implausible_rate"));
    assert_eq!(f.reason, "the register grew by 301 kWh in 0.25 h, more than 12 × the rated 100 kWh/h");
    // growth at an equal timestamp is an infinite rate
    let mut same = base();
    same.previous = Some(PreviousFacts { timestamp_ms: T0, value: 1_000.0 });
    same.reading.value = 1_000.001;
    assert_eq!(rejected(&same).code, "implausible_rate");
    same.reading.value = 1_000.0;
    assert_eq!(eval(&same), Verdict::Accepted);
    // unknown capacity: no rate check
    i.meter.rated_per_hour = 0.0;
    i.reading.value = 90_000.0;
    assert_eq!(eval(&i), Verdict::Accepted);
}

#[test]
fn a_decrease_is_flagged_unless_it_is_a_rollover() {
    let mut i = base();
    i.reading.value = 900.0;
    assert_eq!(codes(&i), ["register_decreased"]);
    let Verdict::Flagged(f) = eval(&i) else { unreachable!() };
    assert_eq!(f[0].rule, "monotonic_register");
    assert_eq!(
        f[0].reason,
        "register went from 1000 to 900 kWh without a plausible rollover (register maximum 100000)"
    );
    // rollover: from the top 10 % to the bottom 10 %
    i.previous = Some(PreviousFacts { timestamp_ms: T0 - Q, value: 99_990.0 });
    i.reading.value = 5.0;
    assert_eq!(eval(&i), Verdict::Accepted);
    i.previous = Some(PreviousFacts { timestamp_ms: T0 - Q, value: 80_000.0 });
    assert_eq!(codes(&i), ["register_decreased"]);
}

/// The default policy plus a grid-alignment rule, as a regulator could deploy it.
fn with_grid_rule() -> Policy {
    let text = DEFAULT_AUDIT_TOML.replacen("version = 1", "version = 2", 1)
        + r#"
[[rules]]
id = "off_grid"
code = "off_grid"
action = "flag"
check = """
(reading.timestamp_ms % 900000 + 900000) % 900000 <= 60000
  || (reading.timestamp_ms % 900000 + 900000) % 900000 >= 840000"""
reason = "reading time {reading.timestamp_ms} is {(reading.timestamp_ms % 900000 + 900000) % 900000} ms past a 15-minute grid point (tolerance ±60000 ms)"
description = "Readings are taken on the 15-minute grid; one far from it was not collected on schedule."
"#;
    Policy::parse(&text).expect("the extended policy parses")
}

#[test]
fn a_deployed_grid_rule_flags_readings_off_the_grid() {
    let p = with_grid_rule();
    assert!(p.check_upgrade(&p).is_err(), "the same version is no upgrade");
    for (offset, flagged) in [(60_000, false), (-60_000, false), (61_000, true), (-61_000, true), (450_000, true)] {
        let mut i = base();
        i.block.timestamp_ms = T0 + Q;
        i.reading.timestamp_ms = T0 + offset;
        i.previous = Some(PreviousFacts { timestamp_ms: T0 - 2 * Q, value: 1_000.0 });
        let expected: Vec<&str> = if flagged { vec!["off_grid"] } else { vec![] };
        assert_eq!(p.evaluate(&i).codes(), expected, "offset {offset}");
        assert_eq!(eval(&i), Verdict::Accepted, "the default policy has no grid rule");
    }
    let mut i = base();
    i.reading.timestamp_ms = T0 - 61_000;
    i.previous = Some(PreviousFacts { timestamp_ms: T0 - 2 * Q, value: 1_000.0 });
    let Verdict::Flagged(f) = p.evaluate(&i) else { unreachable!() };
    assert_eq!(
        f[0].reason,
        "reading time 1735689539000 is 839000 ms past a 15-minute grid point (tolerance ±60000 ms)"
    );
}

#[test]
fn clock_trouble_and_manual_or_imported_data_are_flagged_in_document_order() {
    let mut i = base();
    i.reading.clock_suspect = true;
    assert_eq!(codes(&i), ["clock_suspect"]);
    i.reading.origin = "manual".into();
    i.reading.timestamp_ms = T0 + 120_000;
    assert_eq!(codes(&i), ["clock_suspect", "manual_entry"]);
    let Verdict::Flagged(f) = eval(&i) else { unreachable!() };
    assert_eq!(f[1].reason, "value 1010 kWh was entered by hand (手工填报)");
    assert_eq!(
        f[0].reason,
        "the gateway's clock was suspect when reading 7 was collected, so its time 1735689720000 may be wrong"
    );
    let mut imported = base();
    imported.reading.origin = "imported".into();
    assert_eq!(codes(&imported), ["imported_entry"]);
}

#[test]
fn a_rejection_wins_over_flags_and_is_the_first_in_document_order() {
    let mut i = base();
    i.reading.origin = "manual".into();
    i.reading.clock_suspect = true;
    i.reading.value = -1.0; // out of range, and a decrease
    i.reading.timestamp_ms = T0 + 400_000; // and in the future
    let f = rejected(&i);
    assert_eq!(f.rule, "future_timestamp");
}

#[test]
fn verdicts_serialize_with_a_tag() {
    let json = serde_json::to_value(Verdict::Accepted).unwrap();
    assert_eq!(json, serde_json::json!({"verdict": "accepted"}));
    let mut i = base();
    i.reading.origin = "manual".into();
    let v = eval(&i);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["verdict"], "flagged");
    assert_eq!(json["detail"][0]["code"], "manual_entry");
    assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), v);
    i.reading.value = -1.0;
    let json = serde_json::to_value(eval(&i)).unwrap();
    assert_eq!(json["verdict"], "rejected");
    assert_eq!(json["detail"]["rule"], "cumulative_range");
}

#[test]
fn facts_built_from_the_domain_types_use_the_names_policies_see() {
    use trustmeter_policy::input::{energy_name, register_name};
    use trustmeter_types::{EnergyKind, RegisterKind};
    for kind in EnergyKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(energy_name(kind)));
    }
    for kind in [RegisterKind::Cumulative, RegisterKind::Instantaneous, RegisterKind::CumulativeExport] {
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(register_name(kind)));
    }
}
