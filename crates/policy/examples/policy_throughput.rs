//! Evaluations per second of the default audit policy on one core.
//!
//! `cargo run --release --example policy_throughput -p trustmeter-policy [N]`
//!
//! Generates N (default 100 000) plausible inputs — mostly ordinary 15-minute readings, with a
//! share of rollovers, decreases, late, off-grid, manual and out-of-range ones — then evaluates
//! the default policy on all of them and prints evaluations per second and the verdict mix, with
//! `Policy::evaluate` (compiled) and with `Policy::evaluate_reference` (the CEL interpreter alone),
//! and the same for policies at the cost limit.

use std::collections::BTreeMap;
use std::time::Instant;
use trustmeter_policy::{
    AuditInput, BlockFacts, MAX_TOTAL_COST, MeterFacts, Policy, PreviousFacts, ReadingFacts, Verdict,
};

/// SplitMix64: a small deterministic generator, so every run sees the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn input(rng: &mut Rng, i: u64) -> AuditInput {
    const T0: i64 = 1_735_689_600_000;
    const Q: i64 = 900_000;
    let block_ts = T0 + (i as i64 / 100) * 2_000;
    let (energy, unit, register, max) = match rng.below(4) {
        0 => ("electricity", "kWh", "cumulative", 99_999_999.99),
        1 => ("natural_gas", "Nm3", "cumulative", 9_999_999.0),
        2 => ("steam", "t/h", "instantaneous", 99_999.0),
        _ => ("electricity", "kW", "instantaneous", 99_999.0),
    };
    let rated = if rng.below(10) == 0 { 0.0 } else { 500.0 };
    let ts = block_ts - (block_ts % Q) - Q * rng.below(4) as i64;
    let prev_value = rng.unit() * max * 0.8;
    let step = rated / 4.0 * rng.unit();
    let (mut value, mut prev_ts) = (prev_value + step, ts - Q);
    let origin = match rng.below(50) {
        0 => "manual",
        1 => "imported",
        _ => "online",
    };
    let mut ts = ts;
    match rng.below(40) {
        0 => value = prev_value - 10.0,        // decrease
        1 => value = prev_value + rated * 3.0, // above capacity
        2 => value = -1.0,                     // out of range
        3 => ts += 90_000,                     // off grid
        4 => prev_ts = ts + Q,                 // late
        5 => ts = block_ts + 3_600_000,        // future
        _ => {}
    }
    if register == "instantaneous" {
        value = rng.unit() * 2_000.0;
    }
    AuditInput {
        reading: ReadingFacts {
            meter: format!("M-{:04}", rng.below(1000)),
            seq: i,
            timestamp_ms: ts,
            value,
            unit: unit.into(),
            origin: origin.into(),
            clock_suspect: rng.below(200) == 0,
        },
        meter: MeterFacts {
            energy: energy.into(),
            unit: unit.into(),
            register: register.into(),
            register_max: max,
            rated_per_hour: rated,
            accuracy_class: 0.5,
        },
        previous: (rng.below(20) != 0).then_some(PreviousFacts { timestamp_ms: prev_ts, value: prev_value }),
        block: BlockFacts { timestamp_ms: block_ts, max_future_skew_ms: 300_000, late_window_ms: 30 * 86_400_000 },
    }
}

/// Evaluates `policy` on every input (with `evaluate` when `compiled`, else with
/// `evaluate_reference`) and returns (evaluations per second, verdict mix).
fn measure(policy: &Policy, inputs: &[AuditInput], compiled: bool) -> (f64, BTreeMap<String, u64>) {
    let eval = |input: &AuditInput| if compiled { policy.evaluate(input) } else { policy.evaluate_reference(input) };
    for input in inputs.iter().take(1_000) {
        std::hint::black_box(eval(input));
    }
    let mut mix: BTreeMap<String, u64> = BTreeMap::new();
    let t = Instant::now();
    for input in inputs {
        let verdict = eval(input);
        let key = match &verdict {
            Verdict::Accepted => "accepted".to_owned(),
            Verdict::Flagged(_) => format!("flagged {}", verdict.codes().join("+")),
            Verdict::Rejected(f) => format!("rejected {}", f.code),
        };
        *mix.entry(key).or_default() += 1;
    }
    (inputs.len() as f64 / t.elapsed().as_secs_f64(), mix)
}

/// A policy whose rules each repeat `clause` `n` times in their check, with as many rules as the
/// cost limit admits: the worst case `MAX_TOTAL_COST` allows, for that kind of expression.
fn at_the_limit(params: &str, clause: &str, n: usize) -> Policy {
    let check = vec![clause; n].join(" && ");
    let text = |rules: u64| {
        let rules: String = (0..rules)
            .map(|i| {
                format!(
                    "[[rules]]\nid = \"r{i}\"\ncode = \"r{i}\"\naction = \"flag\"\ncheck = \"\"\"{check}\"\"\"\n\
                     reason = \"x\"\ndescription = \"d\"\n"
                )
            })
            .collect();
        format!("name = \"limit\"\nversion = 1\ndescription = \"d\"\n[params]\n{params}\n{rules}")
    };
    let one = Policy::parse(&text(1)).unwrap_or_else(|e| panic!("{e}"));
    Policy::parse(&text(MAX_TOTAL_COST / one.cost())).unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let t = Instant::now();
    let policy = Policy::default_audit();
    println!(
        "parse + check + dry run of `{}` v{} ({} rules, static cost {}): {:.1} ms",
        policy.name(),
        policy.version(),
        policy.rules().len(),
        policy.cost(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut rng = Rng(7);
    let inputs: Vec<AuditInput> = (0..n).map(|i| input(&mut rng, i)).collect();
    let (reference, reference_mix) = measure(&policy, &inputs, false);
    let (rate, mix) = measure(&policy, &inputs, true);
    assert_eq!(mix, reference_mix, "the compiled policy and the interpreter must agree");
    let (compiled, total) = policy.compiled_expressions();
    println!(
        "default policy ({compiled}/{total} expressions compiled): {n} evaluations, {rate:.0} evaluations/s, {:.2} µs \
         each, {:.1} ns per unit of static cost (one core)",
        1e6 / rate,
        1e9 / rate / policy.cost() as f64
    );
    println!(
        "  CEL interpreter alone: {reference:.0} evaluations/s, {:.2} µs each; compiled / interpreter: {:.1}×",
        1e6 / reference,
        rate / reference
    );
    for (k, v) in &mix {
        println!("  {v:>7}  {k}");
    }

    // Policies at the cost limit: how slow can an admitted policy be?
    let levels: Vec<String> = (0..70).map(|i| format!("{i}.5")).collect();
    let cases = [
        (
            "arithmetic and comparisons",
            at_the_limit(
                "f = 1.2",
                "(reading.value - previous.value) * 3600000.0 <= meter.rated_per_hour * params.f \
                 * (double(reading.timestamp_ms) - double(previous.timestamp_ms)) + 1.0e30",
                10,
            ),
        ),
        ("string functions", at_the_limit("", "reading.meter.startsWith('M') && size(meter.energy) > 0", 18)),
        (
            "exists() over a params list",
            at_the_limit(
                &format!("levels = [{}]", levels.join(", ")),
                "!params.levels.exists(l, l == reading.value - 0.25)",
                1,
            ),
        ),
    ];
    let few = &inputs[..inputs.len().min(20_000)];
    for (what, policy) in &cases {
        let (rate, _) = measure(policy, few, true);
        let (reference, _) = measure(policy, few, false);
        let (compiled, total) = policy.compiled_expressions();
        println!(
            "at the cost limit, {what} ({compiled}/{total} compiled): cost {}, {rate:.0} evaluations/s, {:.1} µs \
             each, {:.1} ns per unit (interpreter alone: {:.1} µs each)",
            policy.cost(),
            1e6 / rate,
            1e9 / rate / policy.cost() as f64,
            1e6 / reference
        );
    }
}
