//! Running compiled expressions against one [`AuditInput`].
//!
//! The input records are bound without copying: each record is a small [`Val`] whose fields are
//! looked up by name on access (no map is built per reading), and the parameters are converted to
//! CEL values once, when the policy is parsed. One [`Context`] is made per input and reused for
//! every rule.

use crate::input::{AuditInput, Record};
use cel::common::traits::Indexer;
use cel::common::types::{CelBool, CelDouble, CelInt, CelString, CelUInt, Type};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError, IdedExpr, Value};
use std::sync::{Arc, LazyLock};

/// The one CEL environment every policy compiles and runs in: the standard library with its
/// macros, the `math` extension, no optional syntax. (Which of its functions an expression may
/// call is decided by the static checks, not by the environment.)
pub(crate) fn env() -> &'static Arc<Env> {
    static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
        let mut env = Env::stdlib().with_optional_support(false);
        env.add_extension(cel::extensions::math).expect("the math extension declares nothing twice");
        Arc::new(env)
    });
    &ENV
}

static FACTS_TYPE: Type = Type::new_unspecified_type("trustmeter.facts");

/// One field value of a record, as the CEL value it is.
#[derive(Clone, Debug)]
enum Scalar<'a> {
    Int(CelInt),
    UInt(CelUInt),
    Double(CelDouble),
    Str(CelString<'a>),
    Bool(CelBool),
}

impl<'a> Scalar<'a> {
    fn as_val(&self) -> &(dyn Val + 'a) {
        match self {
            Scalar::Int(v) => v,
            Scalar::UInt(v) => v,
            Scalar::Double(v) => v,
            Scalar::Str(v) => v,
            Scalar::Bool(v) => v,
        }
    }
}

/// An input record (`reading`, `meter`, `previous`, `block`) as a CEL value: fields in the order
/// of [`Record::fields`].
#[derive(Clone, Debug)]
struct Facts<'a> {
    record: Record,
    values: [Scalar<'a>; 7],
}

impl<'a> Facts<'a> {
    fn new(record: Record, given: &[Scalar<'a>]) -> Facts<'a> {
        debug_assert_eq!(given.len(), record.fields().len());
        let mut values: [Scalar<'a>; 7] = std::array::from_fn(|_| Scalar::Bool(CelBool::from(false)));
        for (slot, v) in values.iter_mut().zip(given) {
            *slot = v.clone();
        }
        Facts { record, values }
    }

    fn field(&self, name: &str) -> Option<&Scalar<'a>> {
        self.record.fields().iter().position(|(n, _)| *n == name).map(|i| &self.values[i])
    }
}

impl Val for Facts<'_> {
    fn get_type(&self) -> &Type {
        &FACTS_TYPE
    }

    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        &FACTS_TYPE
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
}

impl Indexer for Facts<'_> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let name = idx.downcast_ref::<CelString>().map(|s| s.inner()).unwrap_or_default();
        match self.field(name) {
            Some(v) => Ok(CowVal::Borrowed(v.as_val())),
            None => Err(ExecutionError::no_such_key(name)),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

/// The variables of one evaluation.
pub(crate) struct Scope<'a> {
    reading: Facts<'a>,
    meter: Facts<'a>,
    previous: Facts<'a>,
    block: Facts<'a>,
    has_previous: CelBool,
    params: &'a (dyn Val + 'static),
}

impl<'a> Scope<'a> {
    pub(crate) fn new(input: &'a AuditInput, params: &'a (dyn Val + 'static)) -> Scope<'a> {
        let r = &input.reading;
        let m = &input.meter;
        let p = input.previous.unwrap_or_default();
        let b = &input.block;
        Scope {
            reading: Facts::new(
                Record::Reading,
                &[
                    Scalar::Str(CelString::from(r.meter.as_str())),
                    Scalar::UInt(r.seq.into()),
                    Scalar::Int(r.timestamp_ms.into()),
                    Scalar::Double(r.value.into()),
                    Scalar::Str(CelString::from(r.unit.as_str())),
                    Scalar::Str(CelString::from(r.origin.as_str())),
                    Scalar::Bool(r.clock_suspect.into()),
                ],
            ),
            meter: Facts::new(
                Record::Meter,
                &[
                    Scalar::Str(CelString::from(m.energy.as_str())),
                    Scalar::Str(CelString::from(m.unit.as_str())),
                    Scalar::Str(CelString::from(m.register.as_str())),
                    Scalar::Double(m.register_max.into()),
                    Scalar::Double(m.rated_per_hour.into()),
                    Scalar::Double(m.accuracy_class.into()),
                ],
            ),
            previous: Facts::new(
                Record::Previous,
                &[Scalar::Int(p.timestamp_ms.into()), Scalar::Double(p.value.into())],
            ),
            block: Facts::new(
                Record::Block,
                &[
                    Scalar::Int(b.timestamp_ms.into()),
                    Scalar::Int(b.max_future_skew_ms.into()),
                    Scalar::Int(b.late_window_ms.into()),
                ],
            ),
            has_previous: input.previous.is_some().into(),
            params,
        }
    }
}

impl VariableResolver for Scope<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        // `reading.value`: a field, as the rewritten expressions name it (see `rewrite`)
        if let Some((record, field)) = variable.split_once('.') {
            let facts = match record {
                "reading" => &self.reading,
                "meter" => &self.meter,
                "previous" => &self.previous,
                "block" => &self.block,
                _ => return None,
            };
            return facts.field(field).map(|v| CowVal::Borrowed(v.as_val()));
        }
        let v: &'b (dyn Val + 'b) = match variable {
            "reading" => &self.reading,
            "meter" => &self.meter,
            "previous" => &self.previous,
            "block" => &self.block,
            "has_previous" => &self.has_previous,
            "params" => self.params,
            _ => return None,
        };
        Some(CowVal::Borrowed(v))
    }
}

/// A context bound to `scope`.
pub(crate) fn context<'s>(scope: &'s Scope<'_>) -> Context<'s, 's> {
    let mut ctx = Context::with_env(Arc::clone(env()));
    ctx.set_variable_resolver(scope);
    ctx
}

/// Why an expression could not give its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The interpreter failed; a deterministic description.
    Error(String),
    /// It gave a value of the wrong kind.
    WrongType(&'static str),
    /// The interpreter panicked (a bug in it); caught.
    Panic,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Error(e) => f.write_str(e),
            Failure::WrongType(t) => write!(f, "it gave a {t}, not a bool"),
            Failure::Panic => f.write_str("the CEL interpreter panicked"),
        }
    }
}

/// A scalar result, for a reason placeholder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shown {
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(String),
    Bool(bool),
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Int(v) => write!(f, "{v}"),
            Shown::UInt(v) => write!(f, "{v}"),
            Shown::Double(v) => f.write_str(&format_double(*v)),
            Shown::Str(v) => f.write_str(v),
            Shown::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// A double as a reason shows it: rounded to six decimals (a micro-unit, the precision of a
/// quantity), trailing zeros dropped, never an exponent. Exact decimal formatting of the binary
/// value, so the same on every machine.
pub(crate) fn format_double(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

fn run<T>(
    expr: &IdedExpr,
    ctx: &Context<'_, '_>,
    read: impl FnOnce(&dyn Val) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match Value::resolve_val(expr, ctx) {
        Ok(v) => read(v.as_ref()),
        Err(e) => Err(Failure::Error(describe(&e))),
    }));
    outcome.unwrap_or(Err(Failure::Panic))
}

/// Runs a bool expression.
pub(crate) fn run_bool(expr: &IdedExpr, ctx: &Context<'_, '_>) -> Result<bool, Failure> {
    run(expr, ctx, |v| match v.downcast_ref::<CelBool>() {
        Some(b) => Ok(*b.inner()),
        None => Err(Failure::WrongType(kind_name(v))),
    })
}

/// Runs a placeholder expression.
pub(crate) fn run_scalar(expr: &IdedExpr, ctx: &Context<'_, '_>) -> Result<Shown, Failure> {
    run(expr, ctx, |v| {
        if let Some(x) = v.downcast_ref::<CelInt>() {
            Ok(Shown::Int(*x.inner()))
        } else if let Some(x) = v.downcast_ref::<CelUInt>() {
            Ok(Shown::UInt(*x.inner()))
        } else if let Some(x) = v.downcast_ref::<CelDouble>() {
            Ok(Shown::Double(*x.inner()))
        } else if let Some(x) = v.downcast_ref::<CelString>() {
            Ok(Shown::Str(x.inner().to_owned()))
        } else if let Some(x) = v.downcast_ref::<CelBool>() {
            Ok(Shown::Bool(*x.inner()))
        } else {
            Err(Failure::WrongType(kind_name(v)))
        }
    })
}

fn kind_name(v: &dyn Val) -> &'static str {
    use cel::common::types::Kind;
    match v.get_type().kind() {
        Kind::Boolean => "bool",
        Kind::Int => "int",
        Kind::UInt => "uint",
        Kind::Double => "double",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::List => "list",
        Kind::Map => "map",
        Kind::NullType => "null",
        _ => "value of another type",
    }
}

/// A description of an interpreter error that is the same on every machine: it never prints a
/// value that could be a map (a hash map's order is not fixed), only kinds, names and numbers.
pub(crate) fn describe(e: &ExecutionError) -> String {
    match e {
        ExecutionError::DivisionByZero(_) => "integer division by zero".into(),
        ExecutionError::RemainderByZero(_) => "integer remainder by zero".into(),
        ExecutionError::Overflow(op, _, _) => format!("integer overflow in `{op}`"),
        ExecutionError::NoSuchKey(k) => format!("no such key `{k}`"),
        ExecutionError::UndeclaredReference(r) => format!("undeclared reference `{r}`"),
        ExecutionError::NoSuchOverload(o) => {
            if o.function().ends_with("<_")
                || o.function().ends_with(">_")
                || o.function().ends_with("<=_")
                || o.function().ends_with(">=_")
            {
                format!(
                    "`{}` cannot order {} (a NaN double cannot be ordered)",
                    o.function(),
                    o.argument_types().join(" and ")
                )
            } else {
                format!("`{}` does not apply to ({})", o.function(), o.argument_types().join(", "))
            }
        }
        ExecutionError::ValuesNotComparable(_, _) => "values that cannot be compared (e.g. NaN)".into(),
        ExecutionError::IndexOutOfBounds(_) => "list index out of bounds".into(),
        ExecutionError::FunctionError { function, message } => format!("`{function}`: {message}"),
        ExecutionError::UnexpectedType { got, want } => format!("unexpected type {got}, wanted {want}"),
        ExecutionError::InvalidArgumentCount { expected, actual } => {
            format!("wrong argument count: expected {expected}, got {actual}")
        }
        ExecutionError::DuplicateKey(_) => "a map literal repeats a key".into(),
        ExecutionError::MissingArgumentOrTarget => "missing argument or target".into(),
        _ => "evaluation error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::format_double;

    #[test]
    fn doubles_show_at_most_six_decimals_and_no_exponent() {
        assert_eq!(format_double(0.1 + 0.2), "0.3");
        assert_eq!(format_double(31.0), "31");
        assert_eq!(format_double(-0.0), "0");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(0.000_000_4), "0");
        assert_eq!(format_double(1e21), "1000000000000000000000");
        assert_eq!(format_double(f64::NAN), "NaN");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }
}
