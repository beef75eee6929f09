//! A parsed, checked policy and its evaluation.

use crate::check::{Checker, Ty, count_nodes};
use crate::document::{Action, Document, params_value};
use crate::dryrun;
use crate::error::PolicyError;
use crate::eval::{self, Failure, Scope, Shown};
use crate::fast::{self, V};
use crate::input::AuditInput;
use crate::rewrite;
use crate::template::{self, Piece};
use crate::{
    MAX_EXPRESSION_BYTES, MAX_EXPRESSION_NODES, MAX_POLICY_BYTES, MAX_REASON_TEMPLATE_BYTES, MAX_TOTAL_COST,
    POLICY_ERROR_CODE,
};
use cel::IdedExpr;
use cel::common::value::Val;
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;
use std::fmt;
use std::sync::{Arc, LazyLock};

/// The text of the shipped default audit policy (`policies/default-audit.toml`).
pub const DEFAULT_AUDIT_TOML: &str = include_str!("../policies/default-audit.toml");

/// A rule as the document states it (what it is, not how it is computed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Rule id, unique in the policy (snake_case).
    pub id: String,
    /// The stable snake_case code its findings carry.
    pub code: String,
    /// Flag or reject.
    pub action: Action,
    /// What the rule is for, for a reviewer.
    pub description: String,
}

/// One failed rule on one reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule id.
    pub rule: String,
    /// The rule's code, or [`POLICY_ERROR_CODE`] if the rule could not be evaluated.
    pub code: String,
    /// The rule's reason template with its placeholders filled in from the input, at most
    /// [`crate::MAX_REASON_BYTES`] bytes.
    pub reason: String,
}

/// The outcome of a policy on one reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// No rule failed.
    Accepted,
    /// Flag rules failed (or rules could not be evaluated): the reading is recorded with these
    /// findings, in document order.
    Flagged(Vec<Finding>),
    /// A reject rule failed: the first one in document order.
    Rejected(Finding),
}

impl Verdict {
    /// The codes of the findings, in order (empty when accepted).
    pub fn codes(&self) -> Vec<&str> {
        match self {
            Verdict::Accepted => Vec::new(),
            Verdict::Flagged(f) => f.iter().map(|f| f.code.as_str()).collect(),
            Verdict::Rejected(f) => vec![f.code.as_str()],
        }
    }

    /// Whether the reading is recorded (accepted or flagged).
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Verdict::Rejected(_))
    }
}

/// One expression of a rule: the checked, rewritten syntax tree the CEL interpreter runs (the
/// reference, see [`crate::rewrite`]) and, when its shape is covered, the same expression compiled
/// for the specialised evaluator ([`crate::fast`]), which gives the interpreter's result faster
/// and leaves every failure to it.
pub(crate) struct Expression {
    pub(crate) reference: IdedExpr,
    pub(crate) fast: Option<fast::Program>,
}

/// A reason template, compiled.
enum ReasonPiece {
    Text(String),
    Value(Expression),
}

/// A rule's expressions, checked and compiled for evaluation.
struct CompiledRule {
    info: RuleInfo,
    when: Option<Expression>,
    check: Expression,
    reason: Vec<ReasonPiece>,
}

impl CompiledRule {
    fn expressions(&self) -> impl Iterator<Item = &Expression> {
        self.when.iter().chain(std::iter::once(&self.check)).chain(self.reason.iter().filter_map(|p| match p {
            ReasonPiece::Value(e) => Some(e),
            ReasonPiece::Text(_) => None,
        }))
    }
}

struct Inner {
    name: String,
    version: u32,
    description: String,
    text: String,
    rules: Vec<RuleInfo>,
    compiled: Vec<CompiledRule>,
    params: Box<dyn Val + 'static>,
    cost: u64,
}

/// A parsed, compiled and checked policy. Cheap to clone (shared).
///
/// Everything that could make an evaluation fail has been looked for by [`Policy::parse`]; what
/// can still fail at run time (a value-dependent error the dry run did not meet) becomes a
/// [`POLICY_ERROR_CODE`] flag, never a rejection or a panic.
#[derive(Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("rules", &self.inner.rules)
            .field("cost", &self.inner.cost)
            .finish_non_exhaustive()
    }
}

/// Compiles and statically checks one expression of a rule (`part` names it in messages).
pub(crate) fn compile(
    rule: &str,
    part: &str,
    source: &str,
    params: &toml::Value,
) -> Result<(Expression, Shape, u64), PolicyError> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(PolicyError::TooLarge {
            what: format!("rule `{rule}`: {part}"),
            size: source.len(),
            max: MAX_EXPRESSION_BYTES,
        });
    }
    // the parser is not ours: a panic in it must refuse the document, not stop a validator
    let compiled = std::panic::catch_unwind(|| eval::env().compile(source)).map_err(|_| PolicyError::Expression {
        rule: rule.to_owned(),
        message: format!("{part} could not be parsed (the CEL parser failed on it); rewrite it"),
    })?;
    let program = compiled.map_err(|e| PolicyError::Expression {
        rule: rule.to_owned(),
        message: format!("{part} does not compile: {}", e.to_string().trim()),
    })?;
    let nodes = count_nodes(program.expression());
    if nodes > MAX_EXPRESSION_NODES {
        return Err(PolicyError::TooComplex {
            rule: rule.to_owned(),
            expression: part.to_owned(),
            nodes,
            max: MAX_EXPRESSION_NODES,
        });
    }
    let checked = Checker::new(rule, part, params).check(program.expression())?;
    let shape = match checked.ty {
        Ty::Bool => Shape::Bool,
        t if t.is_scalar() => Shape::Scalar(t.name()),
        t => Shape::Other(t.name()),
    };
    let reference = rewrite::rewrite(program.expression(), params);
    // the compiler folds constants by running the evaluator, which is written never to panic; were
    // it to, the expression would run on the interpreter rather than the deployment fail
    let fast =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fast::compile(&reference, params))).ok().flatten();
    Ok((Expression { reference, fast }, shape, checked.cost))
}

/// What an expression gives, as far as the caller cares.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    Bool,
    /// A single value of this type.
    Scalar(String),
    /// A list, table or record of this type.
    Other(String),
}

fn expect_bool(rule: &str, part: &str, shape: &Shape) -> Result<(), PolicyError> {
    match shape {
        Shape::Bool => Ok(()),
        Shape::Scalar(t) | Shape::Other(t) => Err(PolicyError::Expression {
            rule: rule.to_owned(),
            message: format!("{part} must give a bool (true = the reading passes), not {t}"),
        }),
    }
}

impl Policy {
    /// Parses a policy document: TOML → field checks → compile every expression → static checks
    /// (identifiers, functions, types, node counts, total cost) → dry run on synthetic inputs.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                what: "the policy document".into(),
                size: text.len(),
                max: MAX_POLICY_BYTES,
            });
        }
        let doc: Document = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string().trim().to_owned()))?;
        doc.check()?;
        let params_root = toml::Value::Table(doc.params.clone());
        let mut compiled = Vec::with_capacity(doc.rules.len());
        let mut costs = Vec::with_capacity(doc.rules.len());
        for rule in &doc.rules {
            let id = rule.id.as_str();
            let mut cost = 0u64;
            let when = match &rule.when {
                Some(source) => {
                    let (program, ty, c) = compile(id, "when", source, &params_root)?;
                    expect_bool(id, "when", &ty)?;
                    cost = cost.saturating_add(c);
                    Some(program)
                }
                None => None,
            };
            let (check, ty, c) = compile(id, "check", &rule.check, &params_root)?;
            expect_bool(id, "check", &ty)?;
            cost = cost.saturating_add(c);
            if rule.reason.len() > MAX_REASON_TEMPLATE_BYTES {
                return Err(PolicyError::TooLarge {
                    what: format!("rule `{id}`: reason"),
                    size: rule.reason.len(),
                    max: MAX_REASON_TEMPLATE_BYTES,
                });
            }
            let pieces = template::split(&rule.reason)
                .map_err(|message| PolicyError::InvalidField { field: format!("rule `{id}`: reason"), message })?;
            let mut reason = Vec::with_capacity(pieces.len());
            for piece in pieces {
                match piece {
                    Piece::Text(t) => reason.push(ReasonPiece::Text(t)),
                    Piece::Placeholder(source) => {
                        let part = format!("reason placeholder {{{source}}}");
                        let (program, ty, c) = compile(id, &part, &source, &params_root)?;
                        if let Shape::Other(t) = ty {
                            return Err(PolicyError::Expression {
                                rule: id.to_owned(),
                                message: format!(
                                    "{part} must give a single value (a number, a string or a bool), not {t}"
                                ),
                            });
                        }
                        cost = cost.saturating_add(c);
                        reason.push(ReasonPiece::Value(program));
                    }
                }
            }
            costs.push(cost);
            compiled.push(CompiledRule {
                info: RuleInfo {
                    id: rule.id.clone(),
                    code: rule.code.clone(),
                    action: rule.action,
                    description: rule.description.clone(),
                },
                when,
                check,
                reason,
            });
        }
        let total = costs.iter().fold(0u64, |a, c| a.saturating_add(*c));
        if total > MAX_TOTAL_COST {
            let (i, rule_cost) =
                costs.iter().enumerate().max_by_key(|(i, c)| (**c, usize::MAX - i)).map_or((0, 0), |(i, c)| (i, *c));
            return Err(PolicyError::CostLimit {
                cost: total,
                max: MAX_TOTAL_COST,
                rule: compiled[i].info.id.clone(),
                rule_cost,
            });
        }
        let params: Box<dyn Val> = params_value(&params_root)
            .try_into()
            .map_err(|_| PolicyError::InvalidField { field: "params".into(), message: "unsupported value".into() })?;
        let policy = Policy {
            inner: Arc::new(Inner {
                name: doc.name,
                version: doc.version,
                description: doc.description,
                text: text.to_owned(),
                rules: compiled.iter().map(|r| r.info.clone()).collect(),
                compiled,
                params,
                cost: total,
            }),
        };
        policy.dry_run()?;
        Ok(policy)
    }

    /// Runs every rule on every synthetic input (see [`crate::dryrun`]).
    fn dry_run(&self) -> Result<(), PolicyError> {
        let fail = |rule: &CompiledRule, part: &str, label: &str, failure: Failure| PolicyError::DryRun {
            rule: rule.info.id.clone(),
            message: format!(
                "{part} fails on the dry-run input \"{label}\": {failure}; guard it with `when` or rewrite it so \
                 that it cannot fail"
            ),
        };
        for sample in dryrun::samples() {
            let scope = Scope::new(&sample.input, self.inner.params.as_ref());
            let ctx = eval::context(&scope);
            for rule in &self.inner.compiled {
                if let Some(when) = &rule.when {
                    match eval::run_bool(&when.reference, &ctx) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(f) => return Err(fail(rule, "when", &sample.label, f)),
                    }
                }
                if let Err(f) = eval::run_bool(&rule.check.reference, &ctx) {
                    return Err(fail(rule, "check", &sample.label, f));
                }
                for piece in &rule.reason {
                    if let ReasonPiece::Value(p) = piece
                        && let Err(f) = eval::run_scalar(&p.reference, &ctx)
                    {
                        return Err(fail(rule, "a reason placeholder", &sample.label, f));
                    }
                }
            }
        }
        Ok(())
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The policy's version (≥ 1).
    pub fn version(&self) -> u32 {
        self.inner.version
    }

    /// The policy's description.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// The document exactly as deployed.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// The rules, in document order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.inner.rules
    }

    /// The policy's static cost (≤ [`MAX_TOTAL_COST`]).
    pub fn cost(&self) -> u64 {
        self.inner.cost
    }

    /// Whether `next` may replace this policy: same name, higher version.
    pub fn check_upgrade(&self, next: &Policy) -> Result<(), PolicyError> {
        if next.name() != self.name() {
            return Err(PolicyError::InvalidField {
                field: "name".into(),
                message: format!(
                    "`{}` does not replace the deployed policy `{}`; keep its name",
                    next.name(),
                    self.name()
                ),
            });
        }
        if next.version() <= self.version() {
            return Err(PolicyError::InvalidField {
                field: "version".into(),
                message: format!(
                    "{} is not above the deployed version {}; a new version must have a higher number",
                    next.version(),
                    self.version()
                ),
            });
        }
        Ok(())
    }

    /// Evaluates the policy on one reading. Deterministic, never panics.
    ///
    /// Rules run in document order; a rule whose `when` is false passes. The first failing reject
    /// rule ends the evaluation with [`Verdict::Rejected`]; otherwise every failing flag rule is
    /// listed in [`Verdict::Flagged`]. A rule that cannot be evaluated adds a
    /// [`POLICY_ERROR_CODE`] finding (whatever its action), so a policy bug never rejects readings.
    ///
    /// Expressions run on the specialised evaluator when their shape is covered, on the CEL
    /// interpreter otherwise and whenever an expression fails: the verdict is always exactly
    /// [`Policy::evaluate_reference`]'s.
    pub fn evaluate(&self, input: &AuditInput) -> Verdict {
        self.verdict(input, true)
    }

    /// The same verdict as [`Policy::evaluate`], every expression run by the CEL interpreter: the
    /// reference the specialised evaluator is tested against, several times slower.
    pub fn evaluate_reference(&self, input: &AuditInput) -> Verdict {
        self.verdict(input, false)
    }

    /// How many of the policy's expressions (guards, checks and reason placeholders) run on the
    /// specialised evaluator, and how many there are; the others always run on the interpreter.
    pub fn compiled_expressions(&self) -> (usize, usize) {
        let all = self.inner.compiled.iter().flat_map(CompiledRule::expressions);
        all.fold((0, 0), |(fast, total), e| (fast + usize::from(e.fast.is_some()), total + 1))
    }

    fn verdict(&self, input: &AuditInput, use_fast: bool) -> Verdict {
        // the interpreter's context, made only if an expression needs it
        let scope = OnceCell::new();
        let ctx = OnceCell::new();
        let interpreter =
            || ctx.get_or_init(|| eval::context(scope.get_or_init(|| Scope::new(input, self.inner.params.as_ref()))));
        let run_bool = |e: &Expression| -> Result<bool, Failure> {
            if use_fast
                && let Some(p) = &e.fast
                && let Some(V::Bool(b)) = run_fast(p, input)
            {
                return Ok(b);
            }
            eval::run_bool(&e.reference, interpreter())
        };
        let run_scalar = |e: &Expression| -> Result<Shown, Failure> {
            if use_fast
                && let Some(p) = &e.fast
                && let Some(v) = run_fast(p, input)
            {
                return Ok(shown(v));
            }
            eval::run_scalar(&e.reference, interpreter())
        };
        let mut findings = Vec::new();
        for rule in &self.inner.compiled {
            let id = &rule.info.id;
            let passed = match &rule.when {
                Some(when) => match run_bool(when) {
                    Ok(true) => run_bool(&rule.check).map_err(|f| ("check", f)),
                    Ok(false) => Ok(true),
                    Err(f) => Err(("when", f)),
                },
                None => run_bool(&rule.check).map_err(|f| ("check", f)),
            };
            match passed {
                Ok(true) => {}
                Ok(false) => {
                    let finding =
                        Finding { rule: id.clone(), code: rule.info.code.clone(), reason: render(rule, &run_scalar) };
                    match rule.info.action {
                        Action::Reject => return Verdict::Rejected(finding),
                        Action::Flag => findings.push(finding),
                    }
                }
                Err((part, failure)) => findings.push(Finding {
                    rule: id.clone(),
                    code: POLICY_ERROR_CODE.to_owned(),
                    reason: template::truncate(format!(
                        "rule `{id}` could not be evaluated ({part}: {failure}); the reading is recorded with this flag"
                    )),
                }),
            }
        }
        if findings.is_empty() { Verdict::Accepted } else { Verdict::Flagged(findings) }
    }

    /// The shipped default audit policy ([`DEFAULT_AUDIT_TOML`]), parsed once per process.
    pub fn default_audit() -> Policy {
        static DEFAULT: LazyLock<Policy> =
            LazyLock::new(|| Policy::parse(DEFAULT_AUDIT_TOML).expect("the shipped default audit policy is valid"));
        DEFAULT.clone()
    }
}

/// The reason of a failed rule; a placeholder that cannot be evaluated shows as `?`.
fn render(rule: &CompiledRule, run_scalar: &dyn Fn(&Expression) -> Result<Shown, Failure>) -> String {
    let mut out = String::new();
    for piece in &rule.reason {
        match piece {
            ReasonPiece::Text(t) => out.push_str(t),
            ReasonPiece::Value(e) => match run_scalar(e) {
                Ok(v) => out.push_str(&v.to_string()),
                Err(_) => out.push('?'),
            },
        }
    }
    template::truncate(out)
}

/// Runs a compiled expression; `None` when the interpreter must decide (or, should the evaluator
/// ever panic, which it is written never to do).
pub(crate) fn run_fast<'a>(p: &'a fast::Program, input: &'a AuditInput) -> Option<V<'a>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.run(input))).ok()?.ok()
}

/// A value of the specialised evaluator as a reason shows it (as the interpreter's would be).
pub(crate) fn shown(v: V<'_>) -> Shown {
    match v {
        V::Bool(b) => Shown::Bool(b),
        V::Int(i) => Shown::Int(i),
        V::UInt(u) => Shown::UInt(u),
        V::Double(d) => Shown::Double(d),
        V::Str(s) => Shown::Str(s.to_owned()),
    }
}
