//! `Policy::evaluate` (the specialised evaluator, falling back to the interpreter) against
//! `Policy::evaluate_reference` (the CEL interpreter alone): identical verdicts, findings and
//! reasons on every input, for the default policy and for policies that mix covered and uncovered
//! expression shapes and fail at run time.

use crate::common::{DAY, Rng, T0, base, doc, instantaneous, random_input, rule};
use std::collections::BTreeSet;
use trustmeter_policy::{AuditInput, POLICY_ERROR_CODE, Policy, PreviousFacts, Verdict};

/// Inputs well outside what a chain produces, on top of `random_input`: NaN and infinite values,
/// extreme timestamps and sequence numbers, unknown energy kinds, empty strings.
fn edge_input(rng: &mut Rng) -> AuditInput {
    let mut input = random_input(rng);
    let doubles = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e308, -9.2e12, 9.2e18, f64::MIN_POSITIVE];
    let ints = [i64::MIN, i64::MAX, 0, -1, 1];
    match rng.below(10) {
        0 => input.reading.value = *rng.pick(&doubles),
        1 => input.meter.register_max = *rng.pick(&doubles),
        2 => input.meter.rated_per_hour = *rng.pick(&doubles),
        3 => input.previous = Some(PreviousFacts { timestamp_ms: *rng.pick(&ints), value: *rng.pick(&doubles) }),
        4 => input.block.timestamp_ms = *rng.pick(&ints),
        5 => input.block.max_future_skew_ms = *rng.pick(&ints),
        6 => input.meter.energy = (*rng.pick(&["plutonium", "", "steam", "electricity"])).into(),
        7 => input.reading.seq = *rng.pick(&[0, u64::MAX, 1 << 63]),
        8 => input.previous = None,
        _ => {}
    }
    input
}

fn inputs(seed: u64, n: usize) -> Vec<AuditInput> {
    let mut rng = Rng(seed);
    (0..n).map(|i| if i % 2 == 0 { random_input(&mut rng) } else { edge_input(&mut rng) }).collect()
}

/// Asserts both paths agree on every input (verdicts compared whole, and as the JSON a receipt
/// would carry); returns the verdicts.
fn agree(policy: &Policy, inputs: &[AuditInput]) -> Vec<Verdict> {
    inputs
        .iter()
        .map(|input| {
            let fast = policy.evaluate(input);
            let reference = policy.evaluate_reference(input);
            assert_eq!(fast, reference, "on {input:?}");
            assert_eq!(serde_json::to_string(&fast).unwrap(), serde_json::to_string(&reference).unwrap());
            fast
        })
        .collect()
}

/// Every rule id that appears in some finding.
fn fired(verdicts: &[Verdict]) -> BTreeSet<String> {
    verdicts
        .iter()
        .flat_map(|v| match v {
            Verdict::Accepted => vec![],
            Verdict::Flagged(f) => f.iter().map(|f| f.rule.clone()).collect(),
            Verdict::Rejected(f) => vec![f.rule.clone()],
        })
        .collect()
}

#[test]
fn the_default_policy_runs_entirely_on_the_compiled_evaluator() {
    let policy = Policy::default_audit();
    let (compiled, total) = policy.compiled_expressions();
    assert_eq!(compiled, total, "every expression of the default policy is compiled");
    assert!(total > 9, "{total} expressions (guards, checks, reason placeholders)");
}

#[test]
fn the_default_policy_gives_the_interpreters_verdicts_on_random_and_edge_inputs() {
    let policy = Policy::default_audit();
    let verdicts = agree(&policy, &inputs(20_260_102, 40_000));
    // every rule of the default policy fired on some input, and the inputs reach every kind of
    // verdict, including policy errors (NaN values cannot be ordered)
    let fired = fired(&verdicts);
    for r in policy.rules() {
        assert!(fired.contains(&r.id), "rule {} never fired; fired: {fired:?}", r.id);
    }
    assert!(verdicts.contains(&Verdict::Accepted));
    assert!(verdicts.iter().any(|v| matches!(v, Verdict::Rejected(_))));
    assert!(verdicts.iter().any(|v| v.codes().contains(&POLICY_ERROR_CODE)));
}

#[test]
fn every_default_rule_fires_alone_on_a_hand_made_input_with_the_same_reason_both_ways() {
    let policy = Policy::default_audit();
    let mut cases: Vec<(&str, AuditInput)> = Vec::new();
    let mut i = base();
    i.reading.timestamp_ms = T0 + 300_001;
    cases.push(("future_timestamp", i));
    cases.push(("instantaneous_range", instantaneous(1_000_000.5)));
    let mut i = base();
    i.reading.value = 100_000.0;
    cases.push(("cumulative_range", i));
    let mut i = base();
    i.reading.value = 1_000.0 + 100.0 * 12.0 / 4.0 + 0.001;
    cases.push(("implausible_rate", i));
    let mut i = base();
    i.reading.value = 1_000.0 + 100.0 * 1.2 / 4.0 + 0.001;
    cases.push(("rate_exceeds_capacity", i));
    let mut i = base();
    i.reading.value = 999.0;
    cases.push(("monotonic_register", i));
    let mut i = base();
    i.reading.clock_suspect = true;
    cases.push(("clock_suspect", i));
    let mut i = base();
    i.reading.origin = "manual".into();
    cases.push(("manual_entry", i));
    let mut i = base();
    i.reading.origin = "imported".into();
    cases.push(("imported_entry", i));
    // equal timestamps with growth: the rate rules divide by a zero interval (infinite rate)
    let mut i = base();
    i.previous = Some(PreviousFacts { timestamp_ms: T0, value: 1_000.0 });
    cases.push(("implausible_rate", i));
    // no previous reading: no rate or monotonic rule applies
    let mut i = base();
    i.previous = None;
    i.reading.origin = "manual".into();
    cases.push(("manual_entry", i));
    assert_eq!(cases.iter().map(|(r, _)| *r).collect::<BTreeSet<_>>().len(), policy.rules().len());
    for (rule, input) in &cases {
        let fast = policy.evaluate(input);
        assert_eq!(fast, policy.evaluate_reference(input), "{rule}");
        assert_eq!(fired(std::slice::from_ref(&fast)), BTreeSet::from([rule.to_string()]), "{rule}: {fast:?}");
    }
    // a reason filled in by the compiled evaluator, checked by hand
    let Verdict::Rejected(f) = policy.evaluate(&cases[3].1) else { panic!("implausible_rate rejects") };
    assert_eq!(f.reason, "the register grew by 300.001 kWh in 0.25 h, more than 12 × the rated 100 kWh/h", "{f:?}");
}

/// A policy mixing compiled shapes with shapes only the interpreter runs, rules that fail at run
/// time (becoming `policy_error` flags), placeholders that fail (`?`) and every action.
fn mixed_policy() -> Policy {
    let params = "limit = 2.5\ncodes = ['M-1', 'M-2']\nfactors = [1.0, 2.0, 4.0]\n[params.per_unit]\nkWh = 10.0\n\
                  kW = 20.0\n[params.offsets]\nkWh = 3\nm3 = -9223372036854775807";
    let rules = [
        rule(
            "per_unit",
            "reject",
            Some("reading.unit in params.per_unit"),
            "reading.value <= params.per_unit[reading.unit] * 1000000.0",
            "{reading.value} {reading.unit} above {params.per_unit[reading.unit]}",
        ),
        // an int overflow on some inputs: a policy error, never a rejection
        rule(
            "overflow",
            "reject",
            Some("reading.meter == 'M-7' && meter.unit in params.offsets"),
            "reading.timestamp_ms + params.offsets[meter.unit] != 0",
            "offset {reading.timestamp_ms + params.offsets[meter.unit]}",
        ),
        // a NaN ordering error on some inputs; a placeholder with a computed missing key
        rule(
            "nan",
            "flag",
            Some("reading.meter == 'M-7'"),
            "reading.value >= 0.0",
            "negative {reading.value} (limit {params.per_unit[meter.unit]})",
        ),
        // shapes the interpreter runs: comprehension, math, string()
        rule(
            "factors",
            "flag",
            Some("has_previous"),
            "params.factors.exists(f, math.abs(reading.value - previous.value) <= f * params.limit)",
            "step {string(reading.value - previous.value)} beyond every factor",
        ),
        rule(
            "codes",
            "flag",
            None,
            "reading.meter in params.codes || reading.meter.startsWith('M-')",
            "unknown meter {reading.meter} (seq {reading.seq}, {size(reading.meter)} characters)",
        ),
        rule(
            "conversions",
            "flag",
            Some("reading.seq < 1000u && reading.timestamp_ms >= 0"),
            "uint(reading.timestamp_ms) % 7u != reading.seq % 7u || int(reading.seq) * 2 < 3",
            "seq {reading.seq} matches {reading.timestamp_ms % 7}",
        ),
        rule(
            "ternary",
            "flag",
            None,
            "(has_previous ? double(reading.timestamp_ms) - double(previous.timestamp_ms) : 900000.0) >= 0.0",
            "went back {has_previous ? previous.timestamp_ms : 0} ms",
        ),
    ]
    .concat();
    Policy::parse(&doc(params, &rules)).expect("the mixed policy parses")
}

#[test]
fn a_policy_mixing_compiled_and_interpreted_shapes_gives_the_interpreters_verdicts() {
    let policy = mixed_policy();
    let (compiled, total) = policy.compiled_expressions();
    assert!(compiled > 0 && compiled < total, "{compiled} of {total} compiled");
    let mut all = inputs(77, 20_000);
    // inputs that reach the failing rules
    for k in 0..200 {
        let mut i = base();
        i.reading.meter = if k % 2 == 0 { "M-7".into() } else { "X-9".into() };
        i.meter.unit = ["kWh", "m3", "t"][k % 3].into();
        i.reading.unit = ["kWh", "kW", "m3"][k % 3].into();
        i.reading.timestamp_ms = [i64::MIN, i64::MAX, -3, 9_223_372_036_854_775_807 - 2, T0][k % 5];
        i.reading.value = [f64::NAN, -1.0, 1.0, 3e7][k % 4];
        i.reading.seq = (k % 9) as u64;
        all.push(i);
    }
    let verdicts = agree(&policy, &all);
    let fired = fired(&verdicts);
    for r in policy.rules() {
        assert!(fired.contains(&r.id), "rule {} never fired; fired: {fired:?}", r.id);
    }
    let errors: BTreeSet<&str> = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Flagged(f) => Some(f),
            _ => None,
        })
        .flatten()
        .filter(|f| f.code == POLICY_ERROR_CODE)
        .map(|f| f.rule.as_str())
        .collect();
    assert!(errors.contains("overflow") && errors.contains("nan"), "{errors:?}");
    // a failing placeholder shows as `?` on both paths
    assert!(
        verdicts.iter().any(|v| matches!(v, Verdict::Flagged(f) if f.iter().any(|f| f.reason.contains("(limit ?)")))),
        "no failing placeholder met"
    );
}

#[test]
fn a_first_reading_sees_a_zeroed_previous_on_both_paths() {
    let text = doc(
        "",
        &rule(
            "first",
            "flag",
            None,
            "has_previous || (previous.value == 0.0 && previous.timestamp_ms == 0)",
            "{previous.value} {previous.timestamp_ms}",
        ),
    );
    let policy = Policy::parse(&text).unwrap();
    assert_eq!(policy.compiled_expressions(), (3, 3));
    let mut i = base();
    i.previous = None;
    assert_eq!(policy.evaluate(&i), Verdict::Accepted);
    assert_eq!(policy.evaluate_reference(&i), Verdict::Accepted);
    i.previous = Some(PreviousFacts { timestamp_ms: T0 - DAY, value: 1.0 });
    assert_eq!(policy.evaluate(&i), policy.evaluate_reference(&i));
}

#[test]
fn verdicts_are_deterministic_when_expressions_fall_back_to_the_interpreter() {
    // the mixed policy takes every path: compiled, never compiled, compiled but deferring at run time
    let policy = mixed_policy();
    let reparsed = Policy::parse(policy.text()).expect("the deployed text parses again");
    let all = inputs(4_242, 5_000);
    let first: Vec<Verdict> = all.iter().map(|i| policy.evaluate(i)).collect();
    let again: Vec<Verdict> = all.iter().map(|i| policy.evaluate(i)).collect();
    let from_text: Vec<Verdict> = all.iter().map(|i| reparsed.evaluate(i)).collect();
    let clone = policy.clone();
    let on_another_thread: Vec<Verdict> =
        std::thread::spawn(move || all.iter().map(|i| clone.evaluate(i)).collect()).join().unwrap();
    assert_eq!(first, again);
    assert_eq!(first, from_text);
    assert_eq!(first, on_another_thread);
    assert_eq!(serde_json::to_string(&first).unwrap(), serde_json::to_string(&from_text).unwrap());
    assert!(first.iter().any(|v| v.codes().contains(&POLICY_ERROR_CODE)), "no input reached a failing rule");
}
