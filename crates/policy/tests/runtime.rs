//! Evaluation: runtime errors, determinism, upgrades.

use crate::common::{Rng, base, doc, instantaneous, random_input, rule};
use trustmeter_policy::{DEFAULT_AUDIT_TOML, Finding, POLICY_ERROR_CODE, Policy, Verdict};

#[test]
fn a_runtime_error_becomes_a_policy_error_flag_never_a_rejection() {
    // the dry run never meets a meter called BOOM, so the division by zero is only found at run time
    let text = doc(
        "",
        &format!(
            "{}{}",
            rule(
                "boom",
                "reject",
                Some("reading.meter == 'BOOM'"),
                "reading.timestamp_ms / (block.late_window_ms - block.late_window_ms) == 0",
                "never shown"
            ),
            rule("manual", "flag", None, "reading.origin != 'manual'", "manual entry of {reading.value}")
        ),
    );
    let policy = Policy::parse(&text).unwrap();
    let mut input = base();
    assert_eq!(policy.evaluate(&input), Verdict::Accepted);
    input.reading.meter = "BOOM".into();
    input.reading.origin = "manual".into();
    assert_eq!(
        policy.evaluate(&input),
        Verdict::Flagged(vec![
            Finding {
                rule: "boom".into(),
                code: POLICY_ERROR_CODE.into(),
                reason:
                    "rule `boom` could not be evaluated (check: integer division by zero); the reading is recorded \
                         with this flag"
                        .into(),
            },
            Finding { rule: "manual".into(), code: "manual".into(), reason: "manual entry of 1010".into() },
        ])
    );
}

#[test]
fn inputs_outside_the_domain_never_panic_and_never_reject_through_an_error() {
    let policy = Policy::default_audit();
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut input = base();
        input.reading.value = value;
        input.meter.register_max = value;
        // whatever the verdict, it is reached without a panic, and errors are flags
        if let Verdict::Flagged(f) = policy.evaluate(&input) {
            assert!(f.iter().all(|f| !f.reason.is_empty()));
        }
    }
    let mut input = base();
    input.reading.value = f64::NAN;
    let v = policy.evaluate(&input);
    assert!(v.codes().contains(&POLICY_ERROR_CODE), "{v:?}");
    // strings a policy does not know are just strings
    let mut odd = instantaneous(1.0);
    odd.meter.energy = "plutonium".into();
    let v = policy.evaluate(&odd);
    assert_eq!(v.codes(), [POLICY_ERROR_CODE], "{v:?}");
    assert!(matches!(&v, Verdict::Flagged(f) if f[0].reason.contains("no such key `plutonium`")), "{v:?}");
}

#[test]
fn a_placeholder_that_fails_at_run_time_shows_as_a_question_mark() {
    let text = doc(
        "",
        &rule(
            "r1",
            "flag",
            None,
            "reading.origin != 'manual'",
            "{reading.meter == 'X' ? 1u / (reading.seq - reading.seq) : 0u}!",
        ),
    );
    let policy = Policy::parse(&text).unwrap();
    let mut input = base();
    input.reading.origin = "manual".into();
    input.reading.meter = "X".into();
    assert!(matches!(policy.evaluate(&input), Verdict::Flagged(f) if f[0].reason == "?!"));
}

#[test]
fn reasons_are_cut_to_the_receipt_limit() {
    let text = doc("", &rule("r1", "flag", None, "false", &format!("{}{{reading.meter}}", "x".repeat(260))));
    let policy = Policy::parse(&text).unwrap();
    let Verdict::Flagged(f) = policy.evaluate(&base()) else { panic!() };
    assert!(f[0].reason.len() <= trustmeter_policy::MAX_REASON_BYTES);
    assert!(f[0].reason.ends_with('…'));
}

#[test]
fn comprehensions_over_params_lists_evaluate() {
    let text = doc(
        "trusted = ['M-001', 'M-002']",
        &rule(
            "trusted",
            "flag",
            None,
            "params.trusted.exists(m, m == reading.meter)",
            "{reading.meter} is not trusted",
        ),
    );
    let policy = Policy::parse(&text).unwrap();
    assert_eq!(policy.evaluate(&base()), Verdict::Accepted);
    let mut other = base();
    other.reading.meter = "M-003".into();
    assert_eq!(policy.evaluate(&other).codes(), ["trusted"]);
}

#[test]
fn evaluation_is_deterministic() {
    let policy = Policy::default_audit();
    let reparsed = Policy::parse(DEFAULT_AUDIT_TOML).unwrap();
    let mut rng = Rng(20_260_101);
    let inputs: Vec<_> = (0..10_000).map(|_| random_input(&mut rng)).collect();
    let first: Vec<Verdict> = inputs.iter().map(|i| policy.evaluate(i)).collect();
    let second: Vec<Verdict> = inputs.iter().map(|i| policy.evaluate(i)).collect();
    let third: Vec<Verdict> = inputs.iter().map(|i| reparsed.evaluate(i)).collect();
    let clone = policy.clone();
    let on_another_thread: Vec<Verdict> =
        std::thread::spawn(move || inputs.iter().map(|i| clone.evaluate(i)).collect()).join().unwrap();
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert_eq!(first, on_another_thread);
    assert_eq!(serde_json::to_string(&first).unwrap(), serde_json::to_string(&third).unwrap());
    // the random inputs reach every kind of verdict, and no rule of the default policy fails to evaluate
    let count = |f: fn(&Verdict) -> bool| first.iter().filter(|v| f(v)).count();
    assert!(count(|v| *v == Verdict::Accepted) > 0);
    assert!(count(|v| matches!(v, Verdict::Flagged(_))) > 1_000);
    assert!(count(|v| matches!(v, Verdict::Rejected(_))) > 1_000);
    assert!(first.iter().all(|v| !v.codes().contains(&POLICY_ERROR_CODE)), "a rule of the default policy failed");
}

#[test]
fn an_upgrade_with_a_stricter_range_changes_the_verdict() {
    let v1 = Policy::default_audit();
    let v2_text = DEFAULT_AUDIT_TOML.replacen("version = 1", "version = 2", 1).replacen(
        "electricity = 1_000_000.0",
        "electricity = 500.0",
        1,
    );
    let v2 = Policy::parse(&v2_text).unwrap();
    assert_eq!(v2.version(), 2);
    v1.check_upgrade(&v2).unwrap();
    assert!(v2.check_upgrade(&v1).is_err());
    assert!(v1.check_upgrade(&v1).is_err());
    let input = instantaneous(800.0);
    assert_eq!(v1.evaluate(&input), Verdict::Accepted);
    match v2.evaluate(&input) {
        Verdict::Rejected(f) => {
            assert_eq!((f.rule.as_str(), f.code.as_str()), ("instantaneous_range", "value_out_of_range"));
            assert_eq!(f.reason, "electricity value 800 kW is outside ±500");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn what_the_type_check_allows_evaluates_as_expected() {
    // numbers of different types compare (but never mix in arithmetic); strings and bools order
    let checks = [
        "1 < 2u && 2u > 1 && 1.0 < 2u && 2u > 1.5 && 1 < 2.5 && 2.5 > 1 && 1 == 1u && 1u == 1.0 && 1.0 == 1",
        "1 in [1.0, 2.0] && 2u in [1, 2] && !(3 in [1.0, 2.0])",
        "'a' < 'b' && false < true && 'kWh' in ['kWh', 'MWh']",
        "-9223372036854775807 - 1 < 0 && 7 % 3 == 1 && -7 % 3 == -1 && 7 / 2 == 3",
        "string(1.5) == '1.5' && string(12) == '12' && string(true) == 'true'",
        "math.greatest([1.0, 3.0, 2.0]) == 3.0 && math.least(4, 2, 3) == 2 && math.round(2.5) == 3.0",
        "reading.seq == 7u && reading.timestamp_ms > 0 && reading.value == 1010.0 && meter.accuracy_class == 0.5",
        "has_previous && previous.value == 1000.0 && block.late_window_ms == 2592000000",
    ];
    for check in checks {
        let policy = Policy::parse(&doc("", &rule("r1", "reject", None, check, "x"))).unwrap();
        assert_eq!(policy.evaluate(&base()), Verdict::Accepted, "{check}");
    }
    // previous is zeroed, never missing
    let mut first = base();
    first.previous = None;
    let policy = Policy::parse(&doc(
        "",
        &rule("r1", "reject", None, "!has_previous && previous.value == 0.0 && previous.timestamp_ms == 0", "x"),
    ))
    .unwrap();
    assert_eq!(policy.evaluate(&first), Verdict::Accepted);
}

#[test]
fn a_policy_is_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}
    shareable::<Policy>();
    shareable::<Verdict>();
}
