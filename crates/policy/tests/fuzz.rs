//! Bounded fuzzing of audit policies, which a regulator deploys on chain (`DeployPolicy`) and
//! every validator then parses, checks and evaluates: the TOML document, its CEL expressions and
//! reason templates (`Policy::parse`), and evaluation (`Policy::evaluate`); and reward schedules
//! (`RewardSchedule::parse` and both formulas, `reward` below).
//!
//! Inputs: arbitrary text; the shipped default policy and generated valid documents with random
//! edits (bytes flipped, removed or duplicated, CEL and TOML fragments inserted); documents whose
//! rules are random CEL expressions over the identifiers a policy may use (well-typed and not,
//! with edge literals, every allowed function, comprehensions over params, deep nesting); random
//! readings with edge values (NaN, infinities, the ends of `i64`, odd strings).
//!
//! Properties: parsing never panics and returns within a time bound; a document over the size
//! limit is refused before anything else; a policy that parses evaluates any input without
//! panicking, to exactly the CEL interpreter's verdict (`evaluate_reference`), with reasons within
//! their length limit and never a rejection caused by an evaluation error.
//!
//! Bounded for `cargo test` (several seconds in the debug build) with a fixed seed, so a failure
//! replays as it is; the README's long run (Testing) multiplies every target's cases
//! (`FUZZ_SCALE`) and varies the seeds (`FUZZ_SEED`; the same value replays its failures).

use proptest::prelude::*;
use proptest::sample::Index;
use std::time::{Duration, Instant};
use trustmeter_policy::{
    AuditInput, BlockFacts, DEFAULT_AUDIT_TOML, MAX_POLICY_BYTES, MAX_REASON_BYTES, MeterFacts, POLICY_ERROR_CODE,
    Policy, PolicyError, PreviousFacts, ReadingFacts, Verdict,
};

/// The fixed seed of every property here (a failure in CI replays locally as it is).
const SEED: u64 = 0x706f_6c69_6379_2d31;

/// The longest `Policy::parse` may take on any document in this (unoptimised, loaded) test build.
/// The default policy, a full dry run of its 14 rules, takes a small fraction of it.
const PARSE_BOUND: Duration = Duration::from_secs(10);

/// The longest one evaluation may take in this test build (the cost limit makes it microseconds).
const EVALUATE_BOUND: Duration = Duration::from_secs(1);

fn fuzz_config(cases: u32) -> ProptestConfig {
    trustmeter_fuzzkit::config(cases, SEED)
}

/// Parses within [`PARSE_BOUND`]; a document over the size limit is refused as such.
fn parse_bounded(text: &str) -> Result<Result<Policy, PolicyError>, TestCaseError> {
    let started = Instant::now();
    let parsed = Policy::parse(text);
    let took = started.elapsed();
    prop_assert!(took < PARSE_BOUND, "parsing took {took:?}");
    if text.len() > MAX_POLICY_BYTES {
        prop_assert!(matches!(parsed, Err(PolicyError::TooLarge { .. })), "{parsed:?}");
    }
    if let Err(e) = &parsed {
        prop_assert!(!e.to_string().is_empty());
    }
    Ok(parsed)
}

/// The evaluator agrees with the interpreter, keeps reasons short, and an evaluation error never
/// rejects a reading.
fn evaluates_consistently(policy: &Policy, input: &AuditInput) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let verdict = policy.evaluate(input);
    let took = started.elapsed();
    prop_assert!(took < EVALUATE_BOUND, "evaluating took {took:?}");
    prop_assert_eq!(&verdict, &policy.evaluate_reference(input), "the compiled evaluator differs from CEL's");
    match &verdict {
        Verdict::Accepted => {}
        Verdict::Flagged(findings) => {
            prop_assert!(!findings.is_empty());
            for f in findings {
                prop_assert!(f.reason.len() <= MAX_REASON_BYTES);
            }
        }
        Verdict::Rejected(f) => {
            prop_assert!(f.reason.len() <= MAX_REASON_BYTES);
            prop_assert_ne!(f.code.as_str(), POLICY_ERROR_CODE, "an evaluation error rejected a reading");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

fn edge_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e7f64..1e7,
        1 => prop::sample::select(vec![
            0.0, -0.0, 1.0, -1.0, 0.1, 0.9, 1e300, -1e300, 9.2e12, f64::MAX, f64::MIN, f64::MIN_POSITIVE,
            f64::EPSILON, f64::NAN, f64::INFINITY, f64::NEG_INFINITY,
        ]),
        1 => any::<u64>().prop_map(f64::from_bits),
    ]
}

fn edge_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 1_600_000_000_000i64..1_900_000_000_000,
        1 => prop::sample::select(vec![0, 1, -1, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1, 3_600_000, 900_000]),
        1 => any::<i64>(),
    ]
}

fn name(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(known).prop_map(String::from), 1 => ".{0,12}"]
}

const ENERGIES: &[&str] = &["electricity", "steam", "water", "natural_gas", "coke", "heat"];
const UNITS: &[&str] = &["kWh", "kW", "t/h", "m3", "Nm3", "t", "GJ"];

fn audit_input() -> impl Strategy<Value = AuditInput> {
    let reading = (
        name(&["M-001", "BOOM", ""]),
        any::<u64>(),
        edge_i64(),
        edge_f64(),
        name(UNITS),
        name(&["online", "manual", "imported"]),
        any::<bool>(),
    )
        .prop_map(|(meter, seq, timestamp_ms, value, unit, origin, clock_suspect)| ReadingFacts {
            meter,
            seq,
            timestamp_ms,
            value,
            unit,
            origin,
            clock_suspect,
        });
    let meter =
        (name(ENERGIES), name(UNITS), name(&["cumulative", "instantaneous"]), edge_f64(), edge_f64(), edge_f64())
            .prop_map(|(energy, unit, register, register_max, rated_per_hour, accuracy_class)| MeterFacts {
                energy,
                unit,
                register,
                register_max,
                rated_per_hour,
                accuracy_class,
            });
    let previous = prop::option::of(
        (edge_i64(), edge_f64()).prop_map(|(timestamp_ms, value)| PreviousFacts { timestamp_ms, value }),
    );
    let block = (edge_i64(), edge_i64(), edge_i64()).prop_map(|(timestamp_ms, max_future_skew_ms, late_window_ms)| {
        BlockFacts { timestamp_ms, max_future_skew_ms, late_window_ms }
    });
    (reading, meter, previous, block).prop_map(|(reading, meter, previous, block)| AuditInput {
        reading,
        meter,
        previous,
        block,
    })
}

// ---------------------------------------------------------------------------------------------
// Random CEL expressions
// ---------------------------------------------------------------------------------------------

/// The params every generated document defines.
const PARAMS: &str = r#"x = 1.5
n = 10
big = 9223372036854775807
s = "kWh"
flag = true
list = [1.0, 2.5, 1e300]
names = ["online", "manual"]
empty = []
max = { electricity = 1000.0, steam = 50.0 }
nested = { deeper = { v = -0.5 } }
"odd key" = "v"
"#;

fn pick(items: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(items).prop_map(String::from).boxed()
}

fn double_expr() -> BoxedStrategy<String> {
    let leaf = pick(&[
        "reading.value",
        "meter.register_max",
        "meter.rated_per_hour",
        "meter.accuracy_class",
        "previous.value",
        "params.x",
        "params.list[0]",
        "params.max[meter.energy]",
        "params.nested.deeper.v",
        "0.0",
        "-0.0",
        "1.5",
        "1e308",
        "-1e308",
        "4.9e-324",
        "double(reading.timestamp_ms)",
        "double(reading.seq)",
        "double(block.late_window_ms)",
    ]);
    let leaf = prop_oneof![40 => leaf, 1 => pick(&["double('1.5')", "double(reading.meter)", "params.empty[0]", "params.list[7]"])];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/"]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (prop::sample::select(vec!["abs", "floor", "ceil", "round", "trunc", "sqrt", "sign"]), inner.clone())
                .prop_map(|(f, a)| format!("math.{f}({a})")),
            (prop::sample::select(vec!["greatest", "least"]), prop::collection::vec(inner.clone(), 1..4))
                .prop_map(|(f, args)| format!("math.{f}({})", args.join(", "))),
            (bool_leaf(), inner.clone(), inner).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

fn int_expr() -> BoxedStrategy<String> {
    let leaf = pick(&[
        "reading.timestamp_ms",
        "previous.timestamp_ms",
        "block.timestamp_ms",
        "block.max_future_skew_ms",
        "block.late_window_ms",
        "params.n",
        "params.big",
        "0",
        "1",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "size(reading.meter)",
        "size(params.list)",
    ]);
    let leaf = prop_oneof![40 => leaf, 1 => pick(&["int(reading.value)", "int(reading.seq)", "int('12')", "int(reading.unit)"])];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "%"]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("math.abs({a})")),
            (bool_leaf(), inner.clone(), inner).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

fn uint_expr() -> BoxedStrategy<String> {
    let leaf = pick(&[
        "reading.seq",
        "0u",
        "1u",
        "18446744073709551615u",
        "uint(block.late_window_ms)",
        "uint(reading.value)",
    ]);
    leaf.prop_recursive(2, 8, 2, |inner| {
        (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "%"]), inner)
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
    })
    .boxed()
}

fn string_expr() -> BoxedStrategy<String> {
    let leaf = pick(&[
        "reading.meter",
        "reading.unit",
        "reading.origin",
        "meter.energy",
        "meter.unit",
        "meter.register",
        "params.s",
        "params.names[1]",
        "'kWh'",
        "''",
        "'电表'",
        "'\\u0000'",
        "string(reading.value)",
        "string(reading.timestamp_ms)",
        "string(reading.seq)",
    ]);
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
            (bool_leaf(), inner.clone(), inner).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

fn bool_leaf() -> BoxedStrategy<String> {
    pick(&["has_previous", "reading.clock_suspect", "params.flag", "true", "false"])
}

fn bool_expr() -> BoxedStrategy<String> {
    let comparisons = prop_oneof![
        (double_expr(), cmp(), double_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (int_expr(), cmp(), int_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (uint_expr(), cmp(), uint_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (string_expr(), cmp(), string_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (string_expr(), prop::sample::select(vec!["startsWith", "endsWith", "contains"]), string_expr())
            .prop_map(|(a, f, b)| format!("{a}.{f}({b})")),
        (prop::sample::select(vec!["all", "exists", "exists_one"]), double_expr())
            .prop_map(|(f, a)| format!("params.list.{f}(l, l * 2.0 > {a})")),
        (prop::sample::select(vec!["all", "exists"]), string_expr())
            .prop_map(|(f, a)| format!("params.names.{f}(n, n == {a})")),
        string_expr().prop_map(|a| format!("{a} in params.names")),
        double_expr().prop_map(|a| format!("{a} in params.list")),
        double_expr().prop_map(|a| format!("math.isNaN({a}) || math.isInf({a}) || math.isFinite({a})")),
        Just("size(params.empty) == 0".to_string()),
        bool_leaf(),
        // Forms the checker may refuse: macros and functions beyond the allowed set, dynamic
        // keys, method-call forms, quoted params keys.
        pick(&[
            "has(params.x)",
            "has(reading.value)",
            "params['x'] > 1.0",
            "params['odd key'] == 'v'",
            "params.max[reading.unit] > 0.0",
            "params.max['steam'] > 0.0",
            "size(params.names.filter(n, n == reading.origin)) > 0",
            "params.names.map(n, n + 'x').exists(m, m == reading.origin)",
            "reading.meter.size() > 0",
            "type(reading.value) == double",
            "dyn(reading.value) > 0.0",
            "reading.meter.matches('^M')",
            "int(reading.timestamp_ms / 1000) > 0",
            "[1, 2, 3][reading.seq] == 2",
            "{'a': 1}['a'] == 1",
            "b'abc' == b'abc'",
            "null == null",
            "reading == reading",
            "math.greatest(params.list) > 0.0",
            "math.least([reading.value, previous.value, 1.0]) < 2.0",
            "math.greatest(params.empty) > 0",
        ]),
    ];
    comparisons
        .prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), prop::sample::select(vec!["&&", "||"]), inner.clone())
                    .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("!({a})")),
                (inner.clone(), inner.clone(), inner).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
            ]
        })
        .boxed()
}

fn cmp() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="])
}

/// Any expression: mostly well-typed bools, sometimes values of another type, sometimes broken.
fn expression() -> BoxedStrategy<String> {
    prop_oneof![
        24 => bool_expr(),
        1 => double_expr(),
        1 => int_expr(),
        1 => string_expr(),
        1 => (bool_expr(), prop::sample::select(&FRAGMENTS[..]), any::<Index>()).prop_map(|(e, f, at)| {
            let mut p = at.index(e.len() + 1);
            while !e.is_char_boundary(p) {
                p -= 1;
            }
            format!("{}{f}{}", &e[..p], &e[p..])
        }),
        1 => (1usize..130).prop_map(|depth| format!("{}true{}", "(".repeat(depth), ")".repeat(depth))),
        1 => (1usize..130).prop_map(|depth| format!("{}true", "!".repeat(depth))),
        1 => (1usize..60).prop_map(|depth| format!("{}1{} > 0", "[".repeat(depth), "]".repeat(depth))),
        1 => Just("params.empty.all(e, e == 1)".to_string()),
    ]
    .boxed()
}

/// CEL and TOML fragments inserted into expressions and documents.
const FRAGMENTS: [&str; 24] = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\\",
    ".",
    "?",
    ":",
    " / 0",
    " % 0",
    " 1e999",
    " 99999999999999999999",
    " -9223372036854775808",
    " && ",
    "size(",
    "timestamp('2026-01-01T00:00:00Z')",
    "duration('1h')",
    "'a'.matches('a*')",
    "\n[[rules]]\n",
    "\n[params]\nx = nan\n",
];

/// A reason template with up to three placeholders of any scalar type.
fn reason() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        6 => pick(&["reading.value", "reading.seq", "reading.timestamp_ms", "meter.unit", "params.x", "has_previous", "previous.value - reading.value"]),
        1 => double_expr(),
        1 => int_expr(),
        1 => uint_expr(),
        1 => string_expr(),
    ];
    prop::collection::vec(("[a-z ]{0,12}", scalar), 0..3).prop_map(|parts| {
        let mut out = String::from("reading {reading.meter}:");
        for (text, e) in parts {
            out.push_str(&format!(" {text} {{{e}}}"));
        }
        out
    })
}

fn rule_toml(i: usize, action: &str, when: Option<&str>, check: &str, reason: &str) -> String {
    let when = when.map(|w| format!("when = '''{w}'''\n")).unwrap_or_default();
    format!(
        "[[rules]]\nid = \"r{i}\"\ncode = \"c{i}\"\naction = \"{action}\"\n{when}check = '''{check}'''\nreason = '''{reason}'''\ndescription = \"rule {i}\"\n\n"
    )
}

/// A document of one or two random rules.
fn generated_document() -> impl Strategy<Value = String> {
    let rule = (prop::sample::select(vec!["flag", "reject"]), prop::option::of(bool_expr()), expression(), reason());
    prop::collection::vec(rule, 1..3).prop_map(|rules| {
        let mut text =
            format!("name = \"fuzz\"\nversion = 1\ndescription = \"a generated policy\"\n\n[params]\n{PARAMS}\n");
        for (i, (action, when, check, reason)) in rules.iter().enumerate() {
            text.push_str(&rule_toml(i, action, when.as_deref(), check, reason));
        }
        text
    })
}

// ---------------------------------------------------------------------------------------------
// Edits of whole documents
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum TextEdit {
    FlipBit { at: Index, bit: u8 },
    Remove { at: Index, len: usize },
    Duplicate { at: Index, len: usize },
    Truncate { at: Index },
    Insert { at: Index, fragment: &'static str },
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..7).prop_map(|(at, bit)| TextEdit::FlipBit { at, bit }),
        2 => (any::<Index>(), 1usize..40).prop_map(|(at, len)| TextEdit::Remove { at, len }),
        1 => (any::<Index>(), 1usize..200).prop_map(|(at, len)| TextEdit::Duplicate { at, len }),
        1 => any::<Index>().prop_map(|at| TextEdit::Truncate { at }),
        3 => (any::<Index>(), prop::sample::select(&FRAGMENTS[..])).prop_map(|(at, fragment)| TextEdit::Insert { at, fragment }),
    ]
}

/// Applies an edit to the bytes of `text`; the result is read as UTF-8, lossily (a deployment
/// carries a `String`).
fn apply_text_edit(text: &str, edit: &TextEdit) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let len = bytes.len();
    let pos = |at: &Index| if len == 0 { 0 } else { at.index(len) };
    match edit {
        TextEdit::FlipBit { at, bit } if len > 0 => bytes[pos(at)] ^= 1 << bit,
        TextEdit::Remove { at, len: n } if len > 0 => {
            let p = pos(at);
            bytes.drain(p..(p + n).min(len));
        }
        TextEdit::Duplicate { at, len: n } if len > 0 => {
            let p = pos(at);
            let copy = bytes[p..(p + n).min(len)].to_vec();
            bytes.splice(p..p, copy);
        }
        TextEdit::Truncate { at } => bytes.truncate(pos(at)),
        TextEdit::Insert { at, fragment } => {
            let p = if len == 0 { 0 } else { at.index(len + 1) };
            bytes.splice(p..p, fragment.bytes());
        }
        _ => {}
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(fuzz_config(1_500))]

    /// Random rules: whatever parses evaluates consistently on random readings.
    #[test]
    fn generated_policies_parse_or_are_refused_and_evaluate_consistently(
        text in generated_document(),
        inputs in prop::collection::vec(audit_input(), 4),
    ) {
        if let Ok(policy) = parse_bounded(&text)? {
            for input in &inputs {
                evaluates_consistently(&policy, input)?;
            }
        }
    }

    /// Edited documents (the default policy, generated ones): never a panic, always in bounds.
    #[test]
    fn edited_documents_never_panic(
        generated in generated_document(),
        default in any::<bool>(),
        edits in prop::collection::vec(text_edit(), 1..4),
        input in audit_input(),
    ) {
        let mut text = if default { DEFAULT_AUDIT_TOML.to_string() } else { generated };
        for e in &edits {
            text = apply_text_edit(&text, e);
        }
        if let Ok(policy) = parse_bounded(&text)? {
            evaluates_consistently(&policy, &input)?;
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(5_000))]

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![
        ".{0,400}",
        "[a-z_=\\[\\]\"' \n.{}()0-9<>!&|+*/-]{0,800}",
        (0usize..3).prop_map(|n| format!("{}{}", "# padding\n".repeat(1_700), "x".repeat(n * 10))),
    ]) {
        let _ = parse_bounded(&text)?;
    }
}

proptest! {
    #![proptest_config(fuzz_config(1_000))]

    /// TOML nested deeper than anything a parser should recurse into.
    #[test]
    fn deeply_nested_documents_are_refused(depth in 1usize..8_000, kind in 0u8..3) {
        let nested = match kind {
            0 => format!("[params]\nx = {}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            1 => format!("[params]\nx = {}1{}\n", "{a = ".repeat(depth), "}".repeat(depth)),
            _ => format!("[params.{}]\n", vec!["a"; depth].join(".")),
        };
        let text = format!("name = \"deep\"\nversion = 1\ndescription = \"d\"\n{nested}");
        let _ = parse_bounded(&text)?;
    }
}

proptest! {
    #![proptest_config(fuzz_config(10_000))]

    /// The shipped default policy on random readings: never a panic, the interpreter's verdict.
    #[test]
    fn the_default_policy_evaluates_any_input_consistently(input in audit_input()) {
        evaluates_consistently(&Policy::default_audit(), &input)?;
    }
}

/// The slowest documents a deployment can carry: rules at the cost limit (the dry run evaluates
/// each on every synthetic input), the interpreter's worst shapes, and the most rules, each with
/// the most placeholders. Each parses (or is refused) within [`PARSE_BOUND`].
#[test]
fn documents_at_the_limits_parse_within_the_bound() {
    let levels: Vec<String> = (0..70).map(|i| format!("{i}.5")).collect();
    let shapes = [
        (
            "f = 1.2".to_string(),
            "(reading.value - previous.value) * 3600000.0 <= meter.rated_per_hour * params.f \
             * (double(reading.timestamp_ms) - double(previous.timestamp_ms)) + 1.0e30"
                .to_string(),
            10,
        ),
        (String::new(), "reading.meter.startsWith('M') && size(meter.energy) > 0".to_string(), 18),
        (
            format!("levels = [{}]", levels.join(", ")),
            "!params.levels.exists(l, l == reading.value - 0.25)".to_string(),
            1,
        ),
        (String::new(), "true".to_string(), 1),
    ];
    for (params, clause, n) in shapes {
        let check = vec![clause.as_str(); n].join(" && ");
        let document = |rules: usize, reason: &str| {
            let rules: String = (0..rules).map(|i| rule_toml(i, "flag", None, &check, reason)).collect();
            format!("name = \"limit\"\nversion = 1\ndescription = \"d\"\n[params]\n{params}\n{rules}")
        };
        let one = Policy::parse(&document(1, "x")).expect("one rule of this shape is admitted");
        let many = usize::try_from(trustmeter_policy::MAX_TOTAL_COST / one.cost())
            .expect("a small count")
            .min(trustmeter_policy::MAX_RULES);
        let variants =
            [(many, "x".to_string(), true), (64, "{reading.value} ".repeat(8), false), (65, "x".into(), false)];
        for (rules, reason, admitted) in variants {
            let text = document(rules, &reason);
            let started = Instant::now();
            let parsed = Policy::parse(&text);
            let took = started.elapsed();
            assert!(took < PARSE_BOUND, "{rules} rules of `{clause}` took {took:?}");
            if admitted {
                let policy = parsed.unwrap_or_else(|e| panic!("{rules} rules of `{clause}`: {e}"));
                assert!(policy.cost() <= trustmeter_policy::MAX_TOTAL_COST);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reward schedules (`DeployRewardSchedule`: a regulator deploys one, every validator parses it
// and evaluates its two formulas on every reading batch and verification)
// ---------------------------------------------------------------------------------------------

mod reward {
    use super::{apply_text_edit, fuzz_config, text_edit};
    use proptest::prelude::*;
    use std::time::{Duration, Instant};
    use trustmeter_policy::reward::{
        DEFAULT_REWARD_TOML, DataFacts, MAX_POINTS, MAX_SCHEDULE_BYTES, RewardError, RewardSchedule, VerificationFacts,
    };

    /// The longest `RewardSchedule::parse` (compilation and the dry run) may take in this build.
    const PARSE_BOUND: Duration = Duration::from_secs(5);

    fn parse_bounded(text: &str) -> Result<Result<RewardSchedule, RewardError>, TestCaseError> {
        let started = Instant::now();
        let parsed = RewardSchedule::parse(text);
        prop_assert!(started.elapsed() < PARSE_BOUND, "parsing took {:?}", started.elapsed());
        if text.len() > MAX_SCHEDULE_BYTES {
            prop_assert!(matches!(parsed, Err(RewardError::Limit(_))), "{parsed:?}");
        }
        if let Err(e) = &parsed {
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(parsed)
    }

    const EDGE: [u64; 8] = [0, 1, 2, 96, 4_096, 1_000_001, i64::MAX as u64, u64::MAX];

    fn count() -> impl Strategy<Value = u64> {
        prop_oneof![prop::sample::select(&EDGE[..]), any::<u64>(), 0u64..200]
    }

    fn data_facts() -> impl Strategy<Value = DataFacts> {
        (count(), count(), count(), count()).prop_map(|(accepted, timely, flagged, rejected)| DataFacts {
            accepted,
            timely,
            flagged,
            rejected,
        })
    }

    fn verification_facts() -> impl Strategy<Value = VerificationFacts> {
        (any::<bool>(), count(), any::<bool>()).prop_map(|(on_time, findings, objected)| VerificationFacts {
            on_time,
            findings,
            objected,
        })
    }

    /// A schedule that parses gives points for any facts: never a panic, within `MAX_POINTS`, the
    /// same twice (every validator computes the same rewards).
    fn evaluates(
        s: &RewardSchedule,
        data: &[DataFacts],
        verification: &[VerificationFacts],
    ) -> Result<(), TestCaseError> {
        let shares = s.shares();
        prop_assert!(u32::from(shares.validators) + u32::from(shares.enterprises) + u32::from(shares.verifiers) <= 100);
        for d in data {
            let p = s.data_points(d);
            prop_assert!(p <= MAX_POINTS);
            prop_assert_eq!(p, s.data_points(d));
        }
        for v in verification {
            let p = s.verification_points(v);
            prop_assert!(p <= MAX_POINTS);
            prop_assert_eq!(p, s.verification_points(v));
        }
        Ok(())
    }

    /// Integer formulas over `input`'s fields and the params: arithmetic that overflows, divides by
    /// zero, converts; one in five also mixes types or reads what does not exist.
    fn formula(
        input: &'static str,
        ints: &'static [&'static str],
        bools: &'static [&'static str],
    ) -> BoxedStrategy<String> {
        let clean = prop_oneof![
            6 => prop::sample::select(ints).prop_map(move |f| format!("{input}.{f}")),
            3 => prop::sample::select(vec!["a", "b", "weight"]).prop_map(|p| format!("params.{p}")),
            3 => prop::sample::select(vec!["0", "1", "-1", "100", "9223372036854775807", "-9223372036854775807"])
                .prop_map(str::to_string),
        ];
        let dirty = prop_oneof![
            3 => clean.clone(),
            1 => prop::sample::select(vec![
                "1u", "2.5", "\"x\"", "true", "size(params)", "data", "params", "now", "params.missing",
                "reading.value", "data.other", "verification.other",
            ])
            .prop_map(str::to_string),
        ];
        let tree = move |leaf: BoxedStrategy<String>| {
            leaf.prop_recursive(4, 24, 3, move |inner| {
                let condition = prop_oneof![
                    2 => (inner.clone(), prop::sample::select(vec!["<", "<=", "==", "!=", ">"]), inner.clone())
                        .prop_map(|(a, cmp, b)| format!("{a} {cmp} {b}")),
                    1 => prop::sample::select(bools).prop_map(move |f| format!("{input}.{f}")),
                    1 => inner.clone().prop_map(|a| format!("params.all(k, params[k] < {a})")),
                ];
                prop_oneof![
                    4 => (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "%"]), inner.clone())
                        .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                    2 => (condition, inner.clone(), inner.clone()).prop_map(|(c, t, f)| format!("({c} ? {t} : {f})")),
                    1 => inner.clone().prop_map(|a| format!("int(uint({a}))")),
                    1 => inner.prop_map(|a| format!("-{a}")),
                ]
            })
            .boxed()
        };
        prop_oneof![4 => tree(clean.boxed()), 1 => tree(dirty.boxed())].boxed()
    }

    fn generated_schedule() -> impl Strategy<Value = String> {
        let shares = prop_oneof![9 => (0u8..=50, 0u8..=40, 0u8..=10), 1 => (0u8..=100, 0u8..=100, 0u8..=100)];
        // The usual params, always present (a formula may read them), and odd ones.
        let params = prop::collection::btree_map(
            prop_oneof![4 => "[a-z_]{1,6}", 1 => ".{0,4}"],
            prop_oneof![any::<i64>(), -3i64..100],
            0..3,
        )
        .prop_map(|mut m| {
            for (k, v) in [("a", 2), ("b", -1), ("weight", 3)] {
                m.entry(k.to_string()).or_insert(v);
            }
            m
        });
        (
            prop_oneof![9 => "[a-z-]{1,12}", 1 => ".{0,6}"],
            prop_oneof![9 => 1u64..4, 1 => Just(0), 1 => Just(u64::from(u32::MAX) + 1)],
            shares,
            params,
            formula("data", &["accepted", "timely", "flagged", "rejected"], &["accepted > 0"]),
            formula("verification", &["findings"], &["on_time", "objected"]),
        )
            .prop_map(|(name, version, (v, e, r), params, data, verification)| {
                // JSON strings are TOML basic strings.
                let quote = |t: &str| serde_json::to_string(t).expect("a string prints");
                let name = quote(&name);
                let params: String = params.iter().map(|(k, v)| format!("{} = {v}\n", quote(k))).collect();
                format!(
                    "[schedule]\nname = {name}\nversion = {version}\ndescription = \"fuzz\"\n\n[shares]\nvalidators = {v}\n\
                     enterprises = {e}\nverifiers = {r}\n\n[params]\n{params}\n[points]\ndata = '{data}'\nverification = '{verification}'\n"
                )
            })
    }

    proptest! {
        #![proptest_config(fuzz_config(600))]

        /// Generated schedules: whatever parses gives bounded, deterministic points for any facts.
        #[test]
        fn generated_reward_schedules_parse_or_are_refused_and_evaluate_in_bounds(
            text in generated_schedule(),
            data in prop::collection::vec(data_facts(), 4),
            verification in prop::collection::vec(verification_facts(), 3),
        ) {
            if let Ok(s) = parse_bounded(&text)? {
                evaluates(&s, &data, &verification)?;
            }
        }

        /// The default schedule and generated ones, edited: never a panic, always in bounds.
        #[test]
        fn edited_reward_schedules_never_panic(
            generated in generated_schedule(),
            default in any::<bool>(),
            edits in prop::collection::vec(text_edit(), 1..4),
            data in prop::collection::vec(data_facts(), 2),
            verification in prop::collection::vec(verification_facts(), 2),
        ) {
            let mut text = if default { DEFAULT_REWARD_TOML.to_string() } else { generated };
            for e in &edits {
                text = apply_text_edit(&text, e);
            }
            if let Ok(s) = parse_bounded(&text)? {
                evaluates(&s, &data, &verification)?;
            }
        }

        #[test]
        fn arbitrary_text_is_not_a_reward_schedule(text in prop_oneof![
            ".{0,300}",
            "[a-z_=\\[\\]\"' \n.{}()0-9<>!&|+*/-]{0,600}",
            (0usize..3).prop_map(|n| format!("{}{}", "# padding\n".repeat(820), "x".repeat(n * 10))),
        ]) {
            let _ = parse_bounded(&text)?;
        }
    }

    #[test]
    fn the_default_schedule_evaluates_the_edges() {
        let s = RewardSchedule::default_schedule();
        let all = |v: u64| DataFacts { accepted: v, timely: v, flagged: v, rejected: v };
        for v in EDGE {
            assert!(s.data_points(&all(v)) <= MAX_POINTS);
            assert!(
                s.verification_points(&VerificationFacts { on_time: v % 2 == 0, findings: v, objected: true })
                    <= MAX_POINTS
            );
        }
    }
}
