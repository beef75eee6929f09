//! The specialised evaluator against the CEL interpreter, expression by expression: random
//! well-typed expressions over every covered operator (and some shapes it does not cover), on
//! random inputs full of edge values, must give the interpreter's exact result — the same value
//! (doubles bit for bit) or, where the interpreter fails, a deferral to it.

use crate::document::params_value;
use crate::eval::{self, Failure, Scope, Shown};
use crate::fast::{self, Defer};
use crate::input::{AuditInput, BlockFacts, MeterFacts, PreviousFacts, ReadingFacts};
use crate::policy::{compile, shown};
use cel::common::value::Val;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const PARAMS: &str = r#"
f = 1.5
i = 7
s = "kWh"
big = 9.2e18
dlist = [1.0, 2.5, -0.0, 9.2e12]
ilist = [1, 2, 3]
slist = ["online", "manual"]
[tbl]
electricity = 1000.0
steam = 5000.0
water = -0.5
[itbl]
kWh = 1
"t/h" = -9223372036854775807
m3 = 0
[stbl]
electricity = "kW"
steam = ""
[nested.electricity]
limit = 1.0
[nested.steam]
limit = 2.0
"#;

fn params() -> toml::Value {
    toml::Value::Table(toml::from_str(PARAMS).expect("test params"))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum T {
    Bool,
    Int,
    UInt,
    Double,
    Str,
}

const NUMBERS: [T; 3] = [T::Int, T::UInt, T::Double];

struct Gen {
    rng: Rng,
}

impl Gen {
    fn leaf(&mut self, t: T) -> String {
        let options: &[&str] = match t {
            T::Double => &[
                "reading.value",
                "previous.value",
                "meter.register_max",
                "meter.rated_per_hour",
                "meter.accuracy_class",
                "0.0",
                "1.5",
                "-2.25",
                "1e308",
                "3600000.0",
                "0.1",
                "9223372036854775807.0",
                "18446744073709551615.0",
                "params.f",
                "params.big",
                "params.tbl[meter.energy]",
                "params.tbl['steam']",
                "params.dlist[reading.timestamp_ms % 5]",
            ],
            T::Int => &[
                "reading.timestamp_ms",
                "previous.timestamp_ms",
                "block.timestamp_ms",
                "block.max_future_skew_ms",
                "block.late_window_ms",
                "0",
                "1",
                "-1",
                "7",
                "9223372036854775807",
                "(-9223372036854775807 - 1)",
                "params.i",
                "params.itbl[reading.unit]",
                "size(reading.meter)",
                "reading.origin.size()",
                "size(params.ilist)",
                "size(params.tbl)",
                "params.ilist[2]",
            ],
            T::UInt => &["reading.seq", "0u", "1u", "3u", "18446744073709551615u", "9223372036854775808u"],
            T::Str => &[
                "reading.meter",
                "reading.unit",
                "reading.origin",
                "meter.energy",
                "meter.unit",
                "meter.register",
                "'kWh'",
                "'online'",
                "''",
                "'能'",
                "'M-1'",
                "params.s",
                "params.stbl[meter.energy]",
            ],
            T::Bool => &["has_previous", "reading.clock_suspect", "true", "false"],
        };
        self.rng.pick(options).to_owned()
    }

    fn expr(&mut self, t: T, depth: u32) -> String {
        if depth == 0 || self.rng.below(4) == 0 {
            return self.leaf(t);
        }
        let d = depth - 1;
        match t {
            T::Double | T::Int | T::UInt => match self.rng.below(8) {
                0..=3 => {
                    let ops: &[&str] = if t == T::Double { &["+", "-", "*", "/"] } else { &["+", "-", "*", "/", "%"] };
                    let op = self.rng.pick(ops);
                    format!("({} {op} {})", self.expr(t, d), self.expr(t, d))
                }
                4 if t != T::UInt => format!("-({})", self.expr(t, d)),
                5 => {
                    let from = self.rng.pick(&NUMBERS);
                    let f = match t {
                        T::Double => "double",
                        T::Int => "int",
                        _ => "uint",
                    };
                    format!("{f}({})", self.expr(from, d))
                }
                6 => format!("({} ? {} : {})", self.expr(T::Bool, d), self.expr(t, d), self.expr(t, d)),
                // not covered: the interpreter runs these
                _ if t == T::Double => format!("math.abs({})", self.expr(T::Double, d)),
                _ if t == T::Int => format!("math.greatest({}, {})", self.expr(T::Int, d), self.expr(T::Int, d)),
                _ => self.leaf(t),
            },
            T::Str => match self.rng.below(3) {
                0 => format!("({} ? {} : {})", self.expr(T::Bool, d), self.expr(t, d), self.expr(t, d)),
                1 => {
                    let from = self.rng.pick(&NUMBERS);
                    format!("string({})", self.expr(from, d))
                }
                _ => format!("({} + {})", self.expr(T::Str, d), self.expr(T::Str, d)),
            },
            T::Bool => match self.rng.below(16) {
                0 => format!("!({})", self.expr(T::Bool, d)),
                1 => format!("({} && {})", self.expr(T::Bool, d), self.expr(T::Bool, d)),
                2 => format!("({} || {})", self.expr(T::Bool, d), self.expr(T::Bool, d)),
                3..=5 => {
                    let op = self.rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
                    let (a, b) = (self.rng.pick(&NUMBERS), self.rng.pick(&NUMBERS));
                    format!("({} {op} {})", self.expr(a, d), self.expr(b, d))
                }
                6 => {
                    let op = self.rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
                    let t = self.rng.pick(&[T::Str, T::Bool]);
                    format!("({} {op} {})", self.expr(t, d), self.expr(t, d))
                }
                7 => {
                    let f = self.rng.pick(&["startsWith", "endsWith", "contains"]);
                    format!("{}.{f}({})", self.expr(T::Str, d), self.expr(T::Str, d))
                }
                8 => format!("({} in params.stbl)", self.expr(T::Str, d)),
                9 => format!("({} in ['kWh', 'online', {}])", self.expr(T::Str, d), self.expr(T::Str, d)),
                10 => {
                    let t = self.rng.pick(&NUMBERS);
                    format!("({} in params.dlist)", self.expr(t, d))
                }
                11 => {
                    let from = self.rng.pick(&NUMBERS);
                    format!("({} in [1, {}, 3])", self.expr(from, d), self.expr(T::Int, d))
                }
                12 => format!("({} ? {} : {})", self.expr(T::Bool, d), self.expr(T::Bool, d), self.expr(T::Bool, d)),
                13 => format!("({} in params.slist)", self.expr(T::Str, d)),
                // not covered: comprehensions, has(), math, list equality, nested tables
                14 => format!("params.dlist.exists(x, x > {})", self.expr(T::Double, d)),
                _ => self
                    .rng
                    .pick(&[
                        "has(params.f)",
                        "math.isNaN(reading.value)",
                        "[1, 2] == [1, 2]",
                        "params.nested[meter.energy].limit > 0.0",
                    ])
                    .to_owned(),
            },
        }
    }
}

fn random_input(rng: &mut Rng) -> AuditInput {
    let doubles = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1010.0,
        99_999_999.99,
        9.2e12,
        -9.2e12,
        1e308,
        -1e308,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        9_223_372_036_854_775_807.0,
        -9_223_372_036_854_775_808.0,
        18_446_744_073_709_551_615.0,
        0.1 + 0.2,
    ];
    let ints = [0, 1, -1, 7, 900_000, 1_735_689_600_000, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1, 3, -3];
    let d = |rng: &mut Rng| {
        if rng.below(3) == 0 { (rng.next() as i64) as f64 / 1e6 } else { rng.pick(&doubles) }
    };
    let i = |rng: &mut Rng| if rng.below(4) == 0 { rng.next() as i64 } else { rng.pick(&ints) };
    let text = ["", "kWh", "kW", "t/h", "m3", "online", "manual", "能耗", "M-1", "electricity", "steam", "plutonium"];
    let meter = match rng.below(4) {
        0 => "M-1".to_owned(),
        1 => String::new(),
        2 => "电表-01".to_owned(),
        _ => "M".repeat(64),
    };
    let any = rng.next();
    AuditInput {
        reading: ReadingFacts {
            meter,
            seq: rng.pick(&[0, 1, 7, u64::MAX, 1 << 63, any]),
            timestamp_ms: i(rng),
            value: d(rng),
            unit: rng.pick(&text).to_owned(),
            origin: rng.pick(&["online", "manual", "imported", ""]).to_owned(),
            clock_suspect: rng.below(2) == 0,
        },
        meter: MeterFacts {
            energy: rng.pick(&["electricity", "steam", "water", "plutonium", ""]).to_owned(),
            unit: rng.pick(&text).to_owned(),
            register: rng.pick(&["cumulative", "instantaneous"]).to_owned(),
            register_max: d(rng),
            rated_per_hour: d(rng),
            accuracy_class: d(rng),
        },
        previous: (rng.below(4) != 0).then(|| PreviousFacts { timestamp_ms: i(rng), value: d(rng) }),
        block: BlockFacts { timestamp_ms: i(rng), max_future_skew_ms: i(rng), late_window_ms: i(rng) },
    }
}

/// Equal results, doubles compared bit for bit (NaN with NaN, 0.0 apart from -0.0).
fn same(a: &Result<Shown, Failure>, b: &Result<Shown, Failure>) -> bool {
    match (a, b) {
        (Ok(Shown::Double(x)), Ok(Shown::Double(y))) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[test]
fn every_input_field_has_a_compiled_reader() {
    assert!(fast::covers_every_field());
}

#[test]
fn random_expressions_give_the_interpreters_results() {
    let params_root = params();
    let params: Box<dyn Val> = params_value(&params_root).try_into().expect("params convert");
    let mut generator = Gen { rng: Rng(2026) };
    let mut inputs_rng = Rng(7);
    let inputs: Vec<AuditInput> = (0..64).map(|_| random_input(&mut inputs_rng)).collect();
    let (mut checked, mut compiled, mut decided, mut deferred, mut compared) = (0, 0, 0usize, 0usize, 0usize);
    for n in 0..6_000 {
        let t = [T::Bool, T::Bool, T::Double, T::Int, T::UInt, T::Str][n % 6];
        let source = generator.expr(t, 1 + (n % 4) as u32);
        let Ok((expression, _, _)) = compile("r", "check", &source, &params_root) else { continue };
        checked += 1;
        // compiled and run directly, not through the policy's `catch_unwind`: a panic of the
        // evaluator fails the test instead of passing for a deferral
        let program = fast::compile(&expression.reference, &params_root);
        assert_eq!(program.is_some(), expression.fast.is_some(), "`{source}`");
        let Some(program) = program else { continue };
        compiled += 1;
        for input in &inputs {
            let scope = Scope::new(input, params.as_ref());
            let ctx = eval::context(&scope);
            let reference = eval::run_scalar(&expression.reference, &ctx);
            match program.run(input) {
                Ok(v) => {
                    decided += 1;
                    let fast = Ok(shown(v));
                    assert!(
                        same(&fast, &reference),
                        "`{source}` on {input:?}: the compiled evaluator gave {fast:?}, the interpreter {reference:?}"
                    );
                }
                // the interpreter decides (here: gives `reference`)
                Err(Defer) => deferred += 1,
            }
            compared += 1;
        }
    }
    eprintln!(
        "{checked} expressions checked, {compiled} compiled; {decided} of {compared} evaluations decided, {deferred} deferred"
    );
    // the generator reaches every part of the language that matters, and the test compares real results
    assert!(checked > 3_000, "{checked} expressions passed the checks");
    assert!(compiled > checked / 2 && compiled < checked, "{compiled} of {checked} compiled");
    assert!(decided > compared / 2, "{decided} of {compared} decided");
    assert!(deferred > 1_000, "{deferred} deferred");
}

#[test]
fn deferrals_are_exactly_the_interpreters_failures_on_covered_shapes() {
    // on expressions made only of covered operations the evaluator defers only when the
    // interpreter fails: it never leaves a computable case to the interpreter for no reason
    let params_root = params();
    let params: Box<dyn Val> = params_value(&params_root).try_into().expect("params convert");
    let cases = [
        ("reading.timestamp_ms + block.timestamp_ms > 0", true),
        ("reading.timestamp_ms / block.late_window_ms == 0", true),
        ("reading.timestamp_ms % block.late_window_ms == 0", true),
        ("-reading.timestamp_ms < 0", true),
        ("reading.value < previous.value", true),
        ("int(reading.value) > 0", true),
        ("uint(reading.value) > 0u", true),
        ("uint(reading.timestamp_ms) > 0u", true),
        ("int(reading.seq) > 0", true),
        ("reading.seq * reading.seq > 0u", true),
        ("reading.seq - 1u > 0u", true),
        ("params.tbl[meter.energy] > 0.0", true),
        ("params.itbl[reading.unit] > 0", true),
        ("params.dlist[reading.timestamp_ms % 5] > 0.0", true),
        ("reading.value == previous.value", false),
        ("meter.energy in params.stbl", false),
        ("reading.value in params.dlist", false),
        ("reading.timestamp_ms in [1, 2, 3]", false),
    ];
    let mut rng = Rng(11);
    let inputs: Vec<AuditInput> = (0..2_000).map(|_| random_input(&mut rng)).collect();
    for (source, can_fail) in cases {
        let (expression, _, _) =
            compile("r", "check", source, &params_root).unwrap_or_else(|e| panic!("{source}: {e}"));
        let program = expression.fast.as_ref().unwrap_or_else(|| panic!("`{source}` is covered"));
        let mut failures = 0;
        for input in &inputs {
            let scope = Scope::new(input, params.as_ref());
            let ctx = eval::context(&scope);
            let reference = eval::run_bool(&expression.reference, &ctx);
            match program.run(input) {
                Ok(v) => assert_eq!(Ok(shown(v)), reference.map(Shown::Bool), "`{source}` on {input:?}"),
                Err(Defer) => {
                    assert!(reference.is_err(), "`{source}` deferred on {input:?}, the interpreter gave {reference:?}");
                    failures += 1;
                }
            }
        }
        assert_eq!(failures > 0, can_fail, "`{source}`: {failures} failures");
    }
}

#[test]
fn uncovered_shapes_are_not_compiled() {
    let params_root = params();
    for source in [
        "params.dlist.exists(x, x > reading.value)",
        "math.abs(reading.value) > 1.0",
        "string(reading.seq) == '1'",
        "has(params.f)",
        "[1, 2] == [1, 2]",
        "reading.unit + 'x' == 'kWhx'",
        "params.nested[meter.energy].limit > 0.0",
    ] {
        let (expression, _, _) =
            compile("r", "check", source, &params_root).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert!(expression.fast.is_none(), "`{source}` should run on the interpreter");
    }
    // constant subexpressions are folded; a constant that fails is left for run time
    let (e, _, _) = compile("r", "check", "reading.value > 2.0 * 3.0 + params.f", &params_root).unwrap();
    assert!(format!("{:?}", e.fast).contains("Double(7.5)"), "{:?}", e.fast);
    let (e, _, _) = compile("r", "check", "reading.timestamp_ms > 9223372036854775807 + 1", &params_root).unwrap();
    assert!(e.fast.is_some_and(|p| p.run(&random_input(&mut Rng(1))) == Err(Defer)));
}

#[test]
fn hand_picked_edge_values_give_the_interpreters_results() {
    // numbers of different kinds compare after converting the int side to a double, rounding (as
    // cel 0.15 does); a NaN equals nothing and cannot be ordered; sizes count code points
    let params_root = params();
    let params: Box<dyn Val> = params_value(&params_root).try_into().expect("params convert");
    let mut input = random_input(&mut Rng(3));
    input.block.timestamp_ms = i64::MAX;
    input.reading.seq = u64::MAX;
    input.reading.value = f64::NAN;
    input.reading.meter = "电表-01".into();
    input.previous = None;
    let cases: [(&str, Option<Shown>); 12] = [
        ("block.timestamp_ms == 9223372036854775808.0", Some(Shown::Bool(true))),
        ("block.timestamp_ms < 9223372036854775808.0", Some(Shown::Bool(false))),
        ("reading.seq == 18446744073709551616.0", Some(Shown::Bool(true))),
        ("reading.seq > block.timestamp_ms", Some(Shown::Bool(true))),
        ("reading.value == reading.value", Some(Shown::Bool(false))),
        ("reading.value != reading.value", Some(Shown::Bool(true))),
        ("reading.value < 1.0", None),
        ("size(reading.meter)", Some(Shown::Int(5))),
        ("previous.value", Some(Shown::Double(0.0))),
        ("int(double(block.timestamp_ms))", None),
        ("block.timestamp_ms + 1", None),
        ("reading.value < 1.0 || true", Some(Shown::Bool(true))),
    ];
    let scope = Scope::new(&input, params.as_ref());
    let ctx = eval::context(&scope);
    for (source, expected) in cases {
        let (expression, _, _) =
            compile("r", "check", source, &params_root).unwrap_or_else(|e| panic!("{source}: {e}"));
        let reference = eval::run_scalar(&expression.reference, &ctx);
        assert_eq!(reference.clone().ok(), expected, "`{source}`: the interpreter gave {reference:?}");
        let program = fast::compile(&expression.reference, &params_root).unwrap_or_else(|| panic!("`{source}`"));
        match program.run(&input) {
            Ok(v) => assert!(same(&Ok(shown(v)), &reference), "`{source}`: {v:?}, the interpreter {reference:?}"),
            // only where the interpreter fails, or (`error || true`) absorbs an error
            Err(Defer) => assert!(reference.is_err() || source.ends_with("|| true"), "`{source}` deferred"),
        }
    }
}
