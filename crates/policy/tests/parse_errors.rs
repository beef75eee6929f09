//! What `Policy::parse` refuses, and that the messages name the rule and what to change.

use crate::common;

use crate::common::{doc, rule};
use trustmeter_policy::{MAX_EXPRESSION_NODES, MAX_POLICY_BYTES, MAX_RULES, MAX_TOTAL_COST, Policy, PolicyError};

fn refuse(text: &str) -> PolicyError {
    match Policy::parse(text) {
        Ok(p) => panic!("expected a refusal, parsed {p:?}"),
        Err(e) => e,
    }
}

fn one(check: &str) -> String {
    doc("", &rule("r1", "flag", None, check, "bad"))
}

fn expression_error(e: &PolicyError) -> &str {
    match e {
        PolicyError::Expression { rule, message } => {
            assert_eq!(rule, "r1");
            message
        }
        other => panic!("expected an expression error, got {other:?}"),
    }
}

#[test]
fn a_minimal_policy_parses_and_so_does_the_default() {
    let p = Policy::parse(&one("reading.value >= 0.0")).unwrap();
    assert_eq!((p.name(), p.version(), p.rules().len()), ("test", 1, 1));
    Policy::parse(trustmeter_policy::DEFAULT_AUDIT_TOML).unwrap();
}

#[test]
fn bad_toml_and_unknown_fields_are_refused() {
    assert!(matches!(refuse("name = "), PolicyError::Toml(_)));
    let typo = one("true").replace("check =", "chekc =");
    let PolicyError::Toml(m) = refuse(&typo) else { panic!() };
    assert!(m.contains("chekc"), "{m}");
    let missing =
        doc("", "[[rules]]\nid = \"a\"\ncode = \"a\"\naction = \"flag\"\nreason = \"x\"\ndescription = \"d\"\n");
    let PolicyError::Toml(m) = refuse(&missing) else { panic!() };
    assert!(m.contains("check"), "{m}");
    let action = one("true").replace("\"flag\"", "\"warn\"");
    assert!(matches!(refuse(&action), PolicyError::Toml(_)));
}

#[test]
fn bad_cel_syntax_is_refused_naming_the_rule() {
    let e = refuse(&one("reading.value >"));
    assert!(expression_error(&e).starts_with("check does not compile"), "{e}");
    assert!(e.to_string().starts_with("rule `r1`: check does not compile"), "{e}");
    let e = refuse(&doc("", &rule("r1", "flag", Some("has_previous &&"), "true", "x")));
    assert!(expression_error(&e).starts_with("when does not compile"), "{e}");
}

#[test]
fn unknown_identifiers_and_fields_are_refused() {
    for (check, name) in [
        ("reading.valeu > 0.0", "reading.valeu"),
        ("foo > 1", "foo"),
        ("meter.kind == 'x'", "meter.kind"),
        ("previous.seq > 0u", "previous.seq"),
        // params are data: a path the document does not define is found statically
        ("params.nope > 1", "params.nope"),
        ("now > 0", "now"),
    ] {
        match refuse(&one(check)) {
            PolicyError::UnknownIdentifier { rule, name: n } => {
                assert_eq!((rule.as_str(), n.as_str()), ("r1", name), "{check}")
            }
            other => panic!("{check}: {other:?}"),
        }
    }
    let e = refuse(&one("reading.valeu > 0.0"));
    assert!(e.to_string().contains("rule `r1`: unknown identifier `reading.valeu`"), "{e}");
}

#[test]
fn oversize_documents_and_expressions_are_refused() {
    let big = format!("{}\n# {}", one("true"), "x".repeat(MAX_POLICY_BYTES));
    assert!(matches!(refuse(&big), PolicyError::TooLarge { max: MAX_POLICY_BYTES, .. }));
    let long = format!("reading.value >= 0.0 || '{}' == reading.unit", "k".repeat(2_100));
    let PolicyError::TooLarge { what, max, .. } = refuse(&one(&long)) else { panic!() };
    assert_eq!((what.as_str(), max), ("rule `r1`: check", trustmeter_policy::MAX_EXPRESSION_BYTES));
}

#[test]
fn too_many_rules_are_refused() {
    let rules: String = (0..=MAX_RULES).map(|i| rule(&format!("r{i}"), "flag", None, "true", "x")).collect();
    assert_eq!(refuse(&doc("", &rules)), PolicyError::TooManyRules { count: MAX_RULES + 1, max: MAX_RULES });
    let rules: String = (0..MAX_RULES).map(|i| rule(&format!("r{i}"), "flag", None, "true", "x")).collect();
    assert_eq!(Policy::parse(&doc("", &rules)).unwrap().rules().len(), MAX_RULES);
}

#[test]
fn too_many_nodes_are_refused() {
    let check = format!("reading.value > 0.0{}", " && reading.value > 0.0".repeat(60));
    match refuse(&one(&check)) {
        PolicyError::TooComplex { rule, expression, nodes, max } => {
            assert_eq!((rule.as_str(), expression.as_str(), max), ("r1", "check", MAX_EXPRESSION_NODES));
            assert_eq!(nodes, 61 * 5 - 1);
        }
        other => panic!("{other:?}"),
    }
    let check = format!("reading.value > 0.0{}", " && reading.value > 0.0".repeat(45));
    Policy::parse(&one(&check)).unwrap();
}

#[test]
fn the_total_cost_is_limited() {
    // many rules near the node limit
    let check = format!("reading.value > 0.0{}", " && reading.value > 0.0".repeat(45));
    let rules: String = (0..10).map(|i| rule(&format!("r{i}"), "flag", None, &check, "x")).collect();
    match refuse(&doc("", &rules)) {
        PolicyError::CostLimit { cost, max, rule, rule_cost } => {
            assert_eq!((max, rule.as_str()), (MAX_TOTAL_COST, "r0"));
            assert_eq!(cost, 10 * rule_cost);
        }
        other => panic!("{other:?}"),
    }
    // a comprehension costs its body times the length of the list it ranges over
    let list: Vec<String> = (0..600).map(|i| format!("{i}.5")).collect();
    let params = format!("levels = [{}]", list.join(", "));
    let e = refuse(&doc(&params, &rule("r1", "flag", None, "params.levels.exists(l, l == reading.value)", "x")));
    assert!(matches!(e, PolicyError::CostLimit { .. }), "{e}");
    let small = "levels = [1.5, 2.5, 3.5]";
    let p = Policy::parse(&doc(small, &rule("r1", "flag", None, "params.levels.exists(l, l == reading.value)", "x")))
        .unwrap();
    assert!(p.cost() > 3 && p.cost() < 60, "{}", p.cost());
    // `x in list` costs the list's length
    let rules: String = std::iter::once(rule("r0", "flag", None, &check, "x"))
        .chain((1..=3).map(|i| rule(&format!("r{i}"), "flag", None, "reading.value in params.levels", "x")))
        .collect();
    let e = refuse(&doc(&params, &rules));
    assert!(matches!(e, PolicyError::CostLimit { .. }), "{e}");
}

#[test]
fn dry_run_errors_are_refused_naming_the_rule_and_the_input() {
    // a table indexed by energy kind that lacks kinds
    let params = "[params.limit]\nelectricity = 1.0\nsteam = 2.0";
    match refuse(&doc(params, &rule("limits", "flag", None, "reading.value <= params.limit[meter.energy]", "x"))) {
        PolicyError::DryRun { rule, message } => {
            assert_eq!(rule, "limits");
            assert!(message.starts_with("check fails on the dry-run input"), "{message}");
            assert!(message.contains("no such key `water`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // ... fine when guarded
    Policy::parse(&doc(
        params,
        &rule(
            "limits",
            "flag",
            Some("meter.energy in params.limit"),
            "reading.value <= params.limit[meter.energy]",
            "x",
        ),
    ))
    .unwrap();
    // integer division by a window that can be 0
    let e = refuse(&one("reading.timestamp_ms / block.late_window_ms < 100"));
    assert!(matches!(&e, PolicyError::DryRun { message, .. } if message.contains("division by zero")), "{e}");
    // integer overflow on extreme timestamps
    let e = refuse(&one("reading.timestamp_ms - previous.timestamp_ms < 3600000"));
    assert!(matches!(&e, PolicyError::DryRun { message, .. } if message.contains("integer overflow")), "{e}");
    // ... in a reason placeholder too
    let e = refuse(&doc(
        "",
        &rule("r1", "flag", Some("has_previous"), "true", "{double(reading.timestamp_ms - previous.timestamp_ms)} ms"),
    ));
    assert!(matches!(&e, PolicyError::DryRun { message, .. } if message.starts_with("a reason placeholder")), "{e}");
    // NaN cannot be ordered: 0/0 with an unknown rating
    let e = refuse(&one("reading.value / meter.rated_per_hour < 1.0e30"));
    assert!(matches!(&e, PolicyError::DryRun { message, .. } if message.contains("NaN")), "{e}");
    // double to int out of range
    let e = refuse(&one("int(reading.value * 1.0e9) > 0"));
    assert!(matches!(&e, PolicyError::DryRun { message, .. } if message.contains("int")), "{e}");
}

#[test]
fn results_that_are_not_bools_are_refused() {
    let e = refuse(&one("reading.value + 1.0"));
    assert!(expression_error(&e).contains("must give a bool"), "{e}");
    let e = refuse(&doc("", &rule("r1", "flag", Some("reading.seq"), "true", "x")));
    assert!(expression_error(&e).starts_with("when must give a bool"), "{e}");
    let e = refuse(&doc("", &rule("r1", "flag", None, "true", "{reading}")));
    assert!(expression_error(&e).contains("single value"), "{e}");
}

#[test]
fn type_errors_are_found_in_every_branch() {
    // never reached by the dry run (no meter is called BOOM), still refused
    let e = refuse(&one("reading.meter != 'BOOM' || reading.value * 2 > 10.0"));
    let m = expression_error(&e);
    assert!(m.contains("double and int") && m.contains("does not mix number types"), "{m}");
    let e = refuse(&one("reading.timestamp_ms / 3600000.0 > 1.0"));
    assert!(expression_error(&e).contains("int and double"), "{e}");
    let e = refuse(&one("reading.unit == 1"));
    assert!(expression_error(&e).contains("never equal"), "{e}");
    let e = refuse(&one("reading.unit < 1.0"));
    assert!(expression_error(&e).contains("cannot be ordered"), "{e}");
    let e = refuse(&one("(has_previous ? previous.value : 0) > 1.0"));
    assert!(expression_error(&e).contains("branches of `? :`"), "{e}");
    let e = refuse(&one("reading.value in [1, 2.5]"));
    assert!(expression_error(&e).contains("list literal mixes"), "{e}");
    let e = refuse(&one("reading.clock_suspect && 1"));
    assert!(expression_error(&e).contains("bool operands"), "{e}");
    let e = refuse(&one("double(reading.unit) > 1.0"));
    assert!(expression_error(&e).contains("converts numbers only"), "{e}");
    let e = refuse(&doc(
        "[params.lim]\nelectricity = 1.0\nsteam = 2",
        &rule("r1", "flag", None, "reading.value <= params.lim[meter.energy]", "x"),
    ));
    assert!(expression_error(&e).contains("`params.lim` mixes values of type double and int"), "{e}");
    // statically known entries of a mixed table are fine
    Policy::parse(&doc(
        "[params.lim]\nelectricity = 1.0\nsteam = 2",
        &rule("r1", "flag", None, "params.lim.steam > 1", "x"),
    ))
    .unwrap();
}

#[test]
fn null_and_disallowed_constructs_are_refused() {
    let e = refuse(&one("previous != null"));
    assert!(expression_error(&e).contains("has_previous"), "{e}");
    for (check, needle) in [
        ("reading.unit.matches('k.*')", "not allowed"),
        ("type(reading.value) == 1", "not allowed"),
        ("{'a': 1}['a'] == 1", "map literals"),
        ("[1.0, 2.0].exists(x, x > reading.value)", "only range over a list in params"),
        ("size(params.units.map(u, u + 'x')) > 0", "map() and filter()"),
        ("params.max.exists(k, k == 'a')", "is a table"),
        ("params.units.exists(reading, reading == 'kWh')", "hides another name"),
        ("b'abc' == b'abc'", "bytes"),
        ("math.bitAnd(1, 3) == 1", "math.bitAnd"),
    ] {
        let text = doc("units = ['kWh', 'MWh']\n[params.max]\na = 1.0", &rule("r1", "flag", None, check, "x"));
        let e = refuse(&text);
        assert!(expression_error(&e).contains(needle), "{check}: {e}");
    }
}

#[test]
fn allowed_functions_and_macros_work() {
    let checks = [
        "params.units.exists(u, u == reading.unit) || reading.unit == 'm3'",
        "params.units.all(u, size(u) >= 1)",
        "params.units.exists_one(u, u == 'kWh')",
        "reading.unit in params.units || !(reading.unit in ['kWh'])",
        "has(params.max.a) && !has(params.max.b)",
        "meter.energy.startsWith('e') || meter.energy.endsWith('s') || meter.energy.contains('a') || true",
        "math.greatest(reading.value, 0.0) >= 0.0 || math.least(reading.value, 0.0) <= 0.0",
        "math.abs(reading.value) >= 0.0 && math.floor(1.5) == 1.0 && math.isFinite(reading.value)",
        "int(3.7) == 3 && double(reading.seq) >= 0.0 && string(reading.seq) != '' && uint(1) == 1u",
        "reading.seq >= 0u && reading.seq > 0 || reading.seq == 0u",
        "reading.value >= 0.0 ? true : reading.value < 0.0",
        "-reading.value <= math.abs(reading.value)",
        "params.max['a'] == 1.0 && params.units[0] == 'kWh' && size(params.units) == 2",
    ];
    for check in checks {
        let text = doc("units = ['kWh', 'MWh']\n[params.max]\na = 1.0", &rule("r1", "flag", None, check, "x"));
        if let Err(e) = Policy::parse(&text) {
            panic!("{check}: {e}");
        }
    }
}

#[test]
fn document_fields_are_checked() {
    let base = one("true");
    for (text, field) in [
        (base.replace("version = 1", "version = 0"), "version"),
        (base.replace("name = \"test\"", "name = \"Bad Name\""), "name"),
        (base.replace("id = \"r1\"", "id = \"R-1\""), "rules[0].id"),
        (base.replace("code = \"r1\"", "code = \"policy_error\""), "rule `r1`: code"),
        (base.replace("description = \"test rule r1\"", "description = \"\""), "rule `r1`: description"),
        (base.replace("[params]", "[params]\nf = nan"), "params.f"),
        (base.replace("[params]", "[params]\nd = 2025-01-01T00:00:00Z"), "params.d"),
        (base.replace("[params]", "[params]\nd = [[[[[1]]]]]"), "params.d[0][0][0]"),
        (base.replace("reason = '''bad'''", "reason = '''a {b'''"), "rule `r1`: reason"),
    ] {
        match refuse(&text) {
            PolicyError::InvalidField { field: f, .. } => assert_eq!(f, field, "{text}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    let twice = doc("", &format!("{}{}", rule("r1", "flag", None, "true", "x"), rule("r1", "flag", None, "true", "x")));
    assert!(matches!(refuse(&twice), PolicyError::InvalidField { field, .. } if field == "rules[1].id"));
    let e = refuse(&doc("", &rule("r1", "flag", None, "true", "{reading.nope}")));
    assert!(matches!(e, PolicyError::UnknownIdentifier { name, .. } if name == "reading.nope"));
}

#[test]
fn refusals_are_deterministic() {
    let texts = [
        one("reading.value >"),
        one("reading.valeu > 0.0"),
        doc(
            "[params.limit]\nelectricity = 1.0",
            &rule("r1", "flag", None, "reading.value <= params.limit[meter.energy]", "x"),
        ),
    ];
    for text in texts {
        assert_eq!(refuse(&text).to_string(), refuse(&text).to_string());
    }
}

#[test]
fn random_expressions_never_panic_the_parser_or_the_checks() {
    const TOKENS: [&str; 48] = [
        "reading.value",
        "previous.value",
        "meter.register_max",
        "reading.timestamp_ms",
        "reading.seq",
        "has_previous",
        "params.xs",
        "params.t",
        "params.f",
        "1",
        "2.5",
        "0u",
        "'kWh'",
        "true",
        "null",
        "+",
        "-",
        "*",
        "/",
        "%",
        "(",
        ")",
        "[",
        "]",
        "&&",
        "||",
        "!",
        "?",
        ":",
        "==",
        "<",
        ">=",
        "in",
        ".",
        ",",
        "exists(",
        "x",
        "has(",
        "size(",
        "double(",
        "int(",
        "math.greatest(",
        "math.abs(",
        "{",
        "}",
        "b'x'",
        "`",
        "@",
    ];
    let mut rng = common::Rng(99);
    let mut parsed = 0;
    for _ in 0..3_000 {
        let n = 1 + rng.below(12) as usize;
        let expr: Vec<&str> = (0..n).map(|_| *rng.pick(&TOKENS)).collect();
        let text = doc("xs = [1.0, 2.0]\nf = 0.5\n[params.t]\na = 1", &rule("r1", "flag", None, &expr.join(" "), "x"));
        if Policy::parse(&text).is_ok() {
            parsed += 1;
        }
    }
    assert!(parsed > 10, "{parsed}");
}
