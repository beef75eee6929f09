//! Reward schedules (奖励规则): how each epoch's reward pool of the chain's token is shared between
//! validators, enterprises (for trusted data) and verifiers (for completed verifications), and
//! how many points a contribution earns. Parameters are data, formulas are CEL; a regulator
//! deploys a versioned TOML document, and every validator evaluates it identically.
//!
//! ```toml
//! [schedule]
//! name = "trusted-data"
//! version = 1
//! description = "Points for timely, accepted readings; a flat award per verification."
//!
//! [shares]          # percent of each epoch's pool; what is left stays in the pool
//! validators = 50
//! enterprises = 40
//! verifiers = 10
//!
//! [params]          # integers the formulas read as params.<name>
//! timely_weight = 2
//!
//! [points]          # CEL, evaluated to an integer ≥ 0 (a negative result counts as 0)
//! data = "data.timely * params.timely_weight + (data.accepted - data.timely) - data.rejected"
//! verification = "verification.on_time ? 100 : 60"
//! ```
//!
//! `data` is one reading batch of an enterprise, as its receipt shows it: `accepted` (readings
//! recorded), `timely` (recorded within the chain's timeliness limit), `flagged` (recorded with
//! audit findings), `rejected` (refused). `verification` is one verification that became final:
//! `on_time` (before the 31 March deadline's year end, i.e. the statement came before the
//! objection window closed on time), `findings` (their number), `objected` (whether the enterprise
//! objected). [`RewardSchedule::parse`] refuses a document that could fail later: unknown fields,
//! unknown identifiers, expressions over the size limits, shares over 100 %, and any formula that
//! does not give an integer on a grid of synthetic inputs (the dry run). Evaluation never panics:
//! a formula that still fails at run time gives 0 points.

use crate::eval::env;
use cel::{Context, Program, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest reward schedule document, bytes (the `DeployRewardSchedule` transaction's limit).
pub const MAX_SCHEDULE_BYTES: usize = trustmeter_types::limits::MAX_REWARD_SCHEDULE_BYTES;
/// Longest formula, bytes.
pub const MAX_FORMULA_BYTES: usize = 1_024;
/// Most parameters.
pub const MAX_SCHEDULE_PARAMS: usize = 32;
/// Most points one evaluation may award (larger results are capped).
pub const MAX_POINTS: u64 = 1_000_000_000;

/// Why a reward schedule was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RewardError {
    /// Not TOML, or not the schedule's shape.
    #[error("the reward schedule is not valid: {0}")]
    Document(String),
    /// A size or count limit.
    #[error("{0}")]
    Limit(String),
    /// A formula does not compile, names something unknown, or fails its dry run.
    #[error("formula `{formula}`: {message}")]
    Formula {
        /// `data` or `verification`.
        formula: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    schedule: Header,
    shares: Shares,
    #[serde(default)]
    params: BTreeMap<String, i64>,
    points: Points,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    version: u32,
    #[serde(default)]
    description: String,
}

/// Shares of each epoch's pool, in percent (their sum is at most 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {
    /// To the epoch's validators, by blocks proposed.
    pub validators: u8,
    /// To enterprises, by data points.
    pub enterprises: u8,
    /// To verifiers, by verification points.
    pub verifiers: u8,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Points {
    data: String,
    verification: String,
}

/// One reading batch of an enterprise (the `data` of the `data` formula).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataFacts {
    /// Readings recorded.
    pub accepted: u64,
    /// Of which recorded within the chain's timeliness limit.
    pub timely: u64,
    /// Of which recorded with audit findings.
    pub flagged: u64,
    /// Readings refused.
    pub rejected: u64,
}

/// One verification that became final (the `verification` of the `verification` formula).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerificationFacts {
    /// The statement was recorded by the year's deadline.
    pub on_time: bool,
    /// Findings in the statement.
    pub findings: u64,
    /// The enterprise objected (and a regulator decided).
    pub objected: bool,
}

/// A parsed, checked reward schedule.
#[derive(Clone)]
pub struct RewardSchedule {
    name: String,
    version: u32,
    description: String,
    shares: Shares,
    params: Arc<BTreeMap<String, i64>>,
    data: Arc<Program>,
    verification: Arc<Program>,
    text: String,
}

impl std::fmt::Debug for RewardSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardSchedule").field("name", &self.name).field("version", &self.version).finish()
    }
}

/// The schedule a chain starts with.
pub const DEFAULT_REWARD_TOML: &str = r#"[schedule]
name = "trusted-data"
version = 1
description = "Half of each epoch's pool to the validators by blocks proposed, 40 % to enterprises for readings recorded (timely ones count double, refused ones count against), 10 % to verifiers for completed verifications."

[shares]
validators = 50
enterprises = 40
verifiers = 10

[params]
timely_weight = 2
rejected_weight = 1
on_time_award = 100
late_award = 60

[points]
data = "data.timely * params.timely_weight + (data.accepted - data.timely) - data.rejected * params.rejected_weight"
verification = "verification.on_time ? params.on_time_award : params.late_award"
"#;

fn int(v: u64) -> Value {
    Value::Int(v.min(i64::MAX as u64) as i64)
}

fn data_value(d: &DataFacts) -> Value {
    let mut m: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    m.insert("accepted".into(), int(d.accepted));
    m.insert("timely".into(), int(d.timely));
    m.insert("flagged".into(), int(d.flagged));
    m.insert("rejected".into(), int(d.rejected));
    Value::from(m)
}

fn verification_value(v: &VerificationFacts) -> Value {
    let mut m: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    m.insert("on_time".into(), Value::Bool(v.on_time));
    m.insert("findings".into(), int(v.findings));
    m.insert("objected".into(), Value::Bool(v.objected));
    Value::from(m)
}

fn params_value(p: &BTreeMap<String, i64>) -> Value {
    Value::from(
        p.iter().map(|(k, v)| (k.clone(), Value::Int(*v))).collect::<std::collections::HashMap<String, Value>>(),
    )
}

/// The identifiers a formula may read: its input, `params`, and nothing else.
fn check_references(p: &Program, formula: &'static str, input: &str) -> Result<(), RewardError> {
    let refs = p.references();
    for v in refs.variables() {
        if v != input && v != "params" {
            return Err(RewardError::Formula {
                formula,
                message: format!("unknown identifier `{v}`; a `{formula}` formula reads `{input}` and `params`"),
            });
        }
    }
    Ok(())
}

fn compile(formula: &'static str, source: &str, input: &str) -> Result<Program, RewardError> {
    if source.len() > MAX_FORMULA_BYTES {
        return Err(RewardError::Limit(format!(
            "formula `{formula}` is {} bytes, more than {MAX_FORMULA_BYTES}",
            source.len()
        )));
    }
    let program = env()
        .compile(source)
        .map_err(|e| RewardError::Formula { formula, message: format!("does not compile: {e}") })?;
    let nodes = crate::check::count_nodes(program.expression());
    if nodes > crate::MAX_EXPRESSION_NODES {
        return Err(RewardError::Limit(format!(
            "formula `{formula}` has {nodes} nodes, more than {}",
            crate::MAX_EXPRESSION_NODES
        )));
    }
    check_references(&program, formula, input)?;
    Ok(program)
}

fn run(program: &Program, params: &Value, input: (&str, Value)) -> Result<i64, String> {
    let mut ctx = Context::with_env(env().clone());
    ctx.add_variable_from_value("params", params.clone());
    ctx.add_variable_from_value(input.0, input.1);
    match program.execute(&ctx) {
        Ok(Value::Int(i)) => Ok(i),
        Ok(Value::UInt(u)) => Ok(u.min(i64::MAX as u64) as i64),
        Ok(other) => Err(format!("gives {:?}, not an integer", other.type_of())),
        Err(e) => Err(format!("fails: {e}")),
    }
}

fn clamp(points: i64) -> u64 {
    (points.max(0) as u64).min(MAX_POINTS)
}

impl RewardSchedule {
    /// Parses and checks a document (see the module documentation); refuses anything that could
    /// fail at evaluation.
    pub fn parse(text: &str) -> Result<RewardSchedule, RewardError> {
        if text.len() > MAX_SCHEDULE_BYTES {
            return Err(RewardError::Limit(format!(
                "the reward schedule is {} bytes, more than {MAX_SCHEDULE_BYTES}",
                text.len()
            )));
        }
        let doc: Doc = toml::from_str(text).map_err(|e| RewardError::Document(e.message().to_string()))?;
        let name = doc.schedule.name.trim().to_string();
        if name.is_empty() || name.len() > crate::MAX_ID_BYTES {
            return Err(RewardError::Document(format!("schedule.name must be 1 to {} bytes", crate::MAX_ID_BYTES)));
        }
        if doc.schedule.version == 0 {
            return Err(RewardError::Document("schedule.version starts at 1".into()));
        }
        if doc.schedule.description.len() > crate::MAX_DESCRIPTION_BYTES {
            return Err(RewardError::Limit(format!("the description is over {} bytes", crate::MAX_DESCRIPTION_BYTES)));
        }
        let s = doc.shares;
        let total = s.validators as u32 + s.enterprises as u32 + s.verifiers as u32;
        if total > 100 {
            return Err(RewardError::Document(format!("the shares add up to {total} %, more than 100")));
        }
        if doc.params.len() > MAX_SCHEDULE_PARAMS {
            return Err(RewardError::Limit(format!("more than {MAX_SCHEDULE_PARAMS} params")));
        }
        for k in doc.params.keys() {
            if k.is_empty()
                || k.len() > crate::MAX_ID_BYTES
                || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(RewardError::Document(format!("param name {k:?} is not an identifier")));
            }
        }
        let data = compile("data", &doc.points.data, "data")?;
        let verification = compile("verification", &doc.points.verification, "verification")?;
        let schedule = RewardSchedule {
            name,
            version: doc.schedule.version,
            description: doc.schedule.description,
            shares: s,
            params: Arc::new(doc.params),
            data: Arc::new(data),
            verification: Arc::new(verification),
            text: text.to_string(),
        };
        schedule.dry_run()?;
        Ok(schedule)
    }

    /// Runs both formulas on a grid of inputs (none, typical, all refused, the largest): each must
    /// give an integer.
    fn dry_run(&self) -> Result<(), RewardError> {
        let params = params_value(&self.params);
        let big = 1_000_000;
        let grid = [
            DataFacts::default(),
            DataFacts { accepted: 96, timely: 90, flagged: 3, rejected: 2 },
            DataFacts { accepted: 0, timely: 0, flagged: 0, rejected: 4_096 },
            DataFacts { accepted: big, timely: big, flagged: big, rejected: big },
        ];
        for d in &grid {
            run(&self.data, &params, ("data", data_value(d)))
                .map_err(|m| RewardError::Formula { formula: "data", message: format!("{m} for {d:?}") })?;
        }
        for v in [
            VerificationFacts::default(),
            VerificationFacts { on_time: true, findings: 3, objected: false },
            VerificationFacts { on_time: false, findings: 64, objected: true },
        ] {
            run(&self.verification, &params, ("verification", verification_value(&v)))
                .map_err(|m| RewardError::Formula { formula: "verification", message: format!("{m} for {v:?}") })?;
        }
        Ok(())
    }

    /// The default schedule ([`DEFAULT_REWARD_TOML`]).
    pub fn default_schedule() -> RewardSchedule {
        RewardSchedule::parse(DEFAULT_REWARD_TOML).expect("the default reward schedule passes its checks (tested)")
    }

    /// Points for one reading batch (0 if the formula fails or is negative; at most [`MAX_POINTS`]).
    pub fn data_points(&self, d: &DataFacts) -> u64 {
        run(&self.data, &params_value(&self.params), ("data", data_value(d))).map_or(0, clamp)
    }

    /// Points for one completed verification.
    pub fn verification_points(&self, v: &VerificationFacts) -> u64 {
        run(&self.verification, &params_value(&self.params), ("verification", verification_value(v))).map_or(0, clamp)
    }

    /// The shares of each epoch's pool.
    pub fn shares(&self) -> Shares {
        self.shares
    }
    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Description.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The document as deployed.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_awards_by_hand() {
        let s = RewardSchedule::default_schedule();
        assert_eq!(s.shares(), Shares { validators: 50, enterprises: 40, verifiers: 10 });
        // 90 timely × 2 + 6 late + 0 = 186; with 2 refused: 184.
        assert_eq!(s.data_points(&DataFacts { accepted: 96, timely: 90, flagged: 3, rejected: 0 }), 186);
        assert_eq!(s.data_points(&DataFacts { accepted: 96, timely: 90, flagged: 3, rejected: 2 }), 184);
        // More refused than recorded: 0, never negative.
        assert_eq!(s.data_points(&DataFacts { accepted: 1, timely: 0, flagged: 0, rejected: 9 }), 0);
        assert_eq!(s.verification_points(&VerificationFacts { on_time: true, findings: 2, objected: false }), 100);
        assert_eq!(s.verification_points(&VerificationFacts { on_time: false, findings: 2, objected: true }), 60);
    }

    #[test]
    fn broken_schedules_are_refused_at_deployment() {
        let with = |from: &str, to: &str| DEFAULT_REWARD_TOML.replace(from, to);
        let cases = [
            (with("verifiers = 10", "verifiers = 11"), "more than 100"),
            (with("data.rejected * params", "data.refused * params"), "dry run"),
            (with("params.timely_weight + (", "param.timely_weight + ("), "unknown identifier `param`"),
            (with("? params.on_time_award : params.late_award", "? 'a' : 'b'"), "not an integer"),
            (with("data = \"", "data = \"1 / (data.accepted - data.accepted) + "), "fails"),
            (with("[params]", "[params]\nbad = \"x\""), "not valid"),
            (with("version = 1", "version = 0"), "starts at 1"),
            (with("[shares]", "[shares]\nother = 1"), "not valid"),
        ];
        for (text, why) in cases {
            let err = RewardSchedule::parse(&text).expect_err(why).to_string();
            let matches = err.contains(why) || (why == "dry run" && err.contains("fails"));
            assert!(matches, "{why}: {err}");
        }
        let long = format!("{}\n# {}", DEFAULT_REWARD_TOML, "x".repeat(MAX_SCHEDULE_BYTES));
        assert!(matches!(RewardSchedule::parse(&long), Err(RewardError::Limit(_))));
    }
}
