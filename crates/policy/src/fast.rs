//! A specialised evaluator for the expressions policies are made of, compiled once per policy.
//!
//! The CEL interpreter ([`crate::eval`]) is the reference: it defines every result and every error
//! message. This evaluator runs the common shapes of checked, rewritten expressions (see
//! [`crate::rewrite`]) without it: input fields are read straight from the [`AuditInput`] (no
//! name resolution), values are small copies that never allocate (strings are borrowed from the
//! input or the compiled program), operators are matched once at compile time instead of being
//! looked up by name on every evaluation, and constant subexpressions are folded.
//!
//! It is exact by construction, not by approximation: each operation below follows the
//! interpreter's own code for the value types it can meet (cel 0.15, `objects.rs` and
//! `common/types/*.rs`), in the interpreter's evaluation order (left before right, `&&`, `||`
//! and `? :` short-circuiting as the interpreter does). Whenever the interpreter would fail —
//! integer overflow, integer division by zero, ordering a NaN, a key missing from a table, an
//! out-of-range conversion — or a value is not of a kind the operation is written for, it gives
//! up ([`Defer`]) and the caller runs the whole expression through the interpreter, which then
//! gives the result and the exact error text. So a result this evaluator gives is always the
//! interpreter's result; it is only ever faster or silent.
//!
//! An expression with a shape it does not cover (comprehensions, `math.*`, `string()`, `has()`,
//! list equality, string and list concatenation, computed indexes into nested tables) is not
//! compiled at all: [`compile`] returns `None` and the policy runs that expression through the
//! interpreter every time.

use crate::input::AuditInput;
#[cfg(test)]
use crate::input::Record;
use crate::rewrite::static_param;
use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A value of this evaluator. Copy, never owns a string.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum V<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(&'a str),
}

/// The evaluator gave up: the interpreter must evaluate the expression (it fails, or the case is
/// not covered here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Defer;

type R<'a> = Result<V<'a>, Defer>;

/// A constant held by a compiled program.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(String),
}

impl Lit {
    fn v(&self) -> V<'_> {
        match self {
            Lit::Bool(b) => V::Bool(*b),
            Lit::Int(i) => V::Int(*i),
            Lit::UInt(u) => V::UInt(*u),
            Lit::Double(d) => V::Double(*d),
            Lit::Str(s) => V::Str(s),
        }
    }

    fn of(v: V<'_>) -> Lit {
        match v {
            V::Bool(b) => Lit::Bool(b),
            V::Int(i) => Lit::Int(i),
            V::UInt(u) => Lit::UInt(u),
            V::Double(d) => Lit::Double(d),
            V::Str(s) => Lit::Str(s.to_owned()),
        }
    }

    /// A scalar parameter as the constant the interpreter sees (`params_value`): TOML integers
    /// are CEL ints, floats doubles.
    fn from_toml(v: &toml::Value) -> Option<Lit> {
        match v {
            toml::Value::String(s) => Some(Lit::Str(s.clone())),
            toml::Value::Integer(i) => Some(Lit::Int(*i)),
            toml::Value::Float(f) => Some(Lit::Double(*f)),
            toml::Value::Boolean(b) => Some(Lit::Bool(*b)),
            _ => None,
        }
    }

    fn from_literal(l: &LiteralValue) -> Option<Lit> {
        match l {
            LiteralValue::Boolean(b) => Some(Lit::Bool(*b.inner())),
            LiteralValue::Int(i) => Some(Lit::Int(*i.inner())),
            LiteralValue::UInt(u) => Some(Lit::UInt(*u.inner())),
            LiteralValue::Double(d) => Some(Lit::Double(*d.inner())),
            LiteralValue::String(s) => Some(Lit::Str(s.inner().to_owned())),
            LiteralValue::Bytes(_) | LiteralValue::Null => None,
        }
    }
}

/// An input field, read straight from the [`AuditInput`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    ReadingMeter,
    ReadingSeq,
    ReadingTimestamp,
    ReadingValue,
    ReadingUnit,
    ReadingOrigin,
    ReadingClockSuspect,
    MeterEnergy,
    MeterUnit,
    MeterRegister,
    MeterRegisterMax,
    MeterRatedPerHour,
    MeterAccuracyClass,
    PreviousTimestamp,
    PreviousValue,
    BlockTimestamp,
    BlockMaxFutureSkew,
    BlockLateWindow,
    HasPrevious,
}

impl Field {
    /// The field a rewritten identifier (`reading.value`, `has_previous`) names. Every field of
    /// [`Record::fields`] has a case here (checked by a test).
    fn of_ident(name: &str) -> Option<Field> {
        Some(match name {
            "reading.meter" => Field::ReadingMeter,
            "reading.seq" => Field::ReadingSeq,
            "reading.timestamp_ms" => Field::ReadingTimestamp,
            "reading.value" => Field::ReadingValue,
            "reading.unit" => Field::ReadingUnit,
            "reading.origin" => Field::ReadingOrigin,
            "reading.clock_suspect" => Field::ReadingClockSuspect,
            "meter.energy" => Field::MeterEnergy,
            "meter.unit" => Field::MeterUnit,
            "meter.register" => Field::MeterRegister,
            "meter.register_max" => Field::MeterRegisterMax,
            "meter.rated_per_hour" => Field::MeterRatedPerHour,
            "meter.accuracy_class" => Field::MeterAccuracyClass,
            "previous.timestamp_ms" => Field::PreviousTimestamp,
            "previous.value" => Field::PreviousValue,
            "block.timestamp_ms" => Field::BlockTimestamp,
            "block.max_future_skew_ms" => Field::BlockMaxFutureSkew,
            "block.late_window_ms" => Field::BlockLateWindow,
            "has_previous" => Field::HasPrevious,
            _ => return None,
        })
    }

    #[inline]
    fn read(self, i: &AuditInput) -> V<'_> {
        match self {
            Field::ReadingMeter => V::Str(&i.reading.meter),
            Field::ReadingSeq => V::UInt(i.reading.seq),
            Field::ReadingTimestamp => V::Int(i.reading.timestamp_ms),
            Field::ReadingValue => V::Double(i.reading.value),
            Field::ReadingUnit => V::Str(&i.reading.unit),
            Field::ReadingOrigin => V::Str(&i.reading.origin),
            Field::ReadingClockSuspect => V::Bool(i.reading.clock_suspect),
            Field::MeterEnergy => V::Str(&i.meter.energy),
            Field::MeterUnit => V::Str(&i.meter.unit),
            Field::MeterRegister => V::Str(&i.meter.register),
            Field::MeterRegisterMax => V::Double(i.meter.register_max),
            Field::MeterRatedPerHour => V::Double(i.meter.rated_per_hour),
            Field::MeterAccuracyClass => V::Double(i.meter.accuracy_class),
            // zeroed when there is no previous reading, as the interpreter's scope binds it
            Field::PreviousTimestamp => V::Int(i.previous.map_or(0, |p| p.timestamp_ms)),
            Field::PreviousValue => V::Double(i.previous.map_or(0.0, |p| p.value)),
            Field::BlockTimestamp => V::Int(i.block.timestamp_ms),
            Field::BlockMaxFutureSkew => V::Int(i.block.max_future_skew_ms),
            Field::BlockLateWindow => V::Int(i.block.late_window_ms),
            Field::HasPrevious => V::Bool(i.previous.is_some()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conv {
    Int,
    UInt,
    Double,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
}

/// A compiled expression.
#[derive(Clone, Debug)]
enum Node {
    Const(Lit),
    Field(Field),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    Arith(ArithOp, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Convert(Conv, Box<Node>),
    /// `size(s)` / `s.size()` of a string: its length in characters.
    StrSize(Box<Node>),
    StrTest(StrOp, Box<Node>, Box<Node>),
    /// `x in [a, b, …]`: `x`, then every element in order, then equality with each.
    InList(Box<Node>, Vec<Node>),
    /// `key in params.table`.
    InTable(Box<Node>, BTreeMap<String, Lit>),
    /// `params.table[key]` (values all scalars).
    TableGet(Box<Node>, BTreeMap<String, Lit>),
    /// `params.list[i]` (elements all scalars).
    ListGet(Box<Node>, Vec<Lit>),
}

/// A compiled expression, ready to run on any input.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    root: Node,
}

impl Program {
    /// Evaluates the expression on `input`. `Err(Defer)`: ask the interpreter.
    pub(crate) fn run<'a>(&'a self, input: &'a AuditInput) -> Result<V<'a>, Defer> {
        eval(&self.root, input)
    }
}

/// Compiles a checked, rewritten expression, or `None` if its shape is not covered (the
/// interpreter then runs it).
pub(crate) fn compile(e: &IdedExpr, params: &toml::Value) -> Option<Program> {
    Some(Program { root: node(e, params)? })
}

fn boxed(n: Node) -> Box<Node> {
    Box::new(n)
}

/// A path into `params` that names a list or a table (`params.t`, `params.a['b']`).
fn static_container<'p>(e: &IdedExpr, params: &'p toml::Value) -> Option<&'p toml::Value> {
    static_param(e, params).filter(|v| matches!(v, toml::Value::Table(_) | toml::Value::Array(_)))
}

/// A table whose values are all scalars, as constants.
fn scalar_table(v: &toml::Value) -> Option<BTreeMap<String, Lit>> {
    v.as_table()?.iter().map(|(k, v)| Some((k.clone(), Lit::from_toml(v)?))).collect()
}

/// A list whose elements are all scalars, as constants.
fn scalar_list(v: &toml::Value) -> Option<Vec<Lit>> {
    v.as_array()?.iter().map(Lit::from_toml).collect()
}

fn node(e: &IdedExpr, params: &toml::Value) -> Option<Node> {
    let n = match &e.expr {
        Expr::Literal(l) => Node::Const(Lit::from_literal(l)?),
        Expr::Ident(name) => Node::Field(Field::of_ident(name)?),
        Expr::Call(c) => call(&c.func_name, c.target.as_deref(), &c.args, params)?,
        // selections left after the rewrite are into tables picked at run time, `has()` tests,
        // or containers used as values: not covered
        Expr::Select(_) | Expr::List(_) | Expr::Map(_) | Expr::Struct(_) | Expr::Comprehension(_) => return None,
        Expr::Unspecified => return None,
    };
    Some(fold(n))
}

fn call(name: &str, target: Option<&IdedExpr>, args: &[IdedExpr], params: &toml::Value) -> Option<Node> {
    let arg = |i: usize| node(&args[i], params).map(boxed);
    if let Some(t) = target {
        // member functions on strings; `math.*` and macros are not covered
        return match (name, args.len()) {
            ("startsWith", 1) => Some(Node::StrTest(StrOp::StartsWith, boxed(node(t, params)?), arg(0)?)),
            ("endsWith", 1) => Some(Node::StrTest(StrOp::EndsWith, boxed(node(t, params)?), arg(0)?)),
            ("contains", 1) => Some(Node::StrTest(StrOp::Contains, boxed(node(t, params)?), arg(0)?)),
            ("size", 0) => size(t, params),
            _ => None,
        };
    }
    let n = match (name, args.len()) {
        ("_&&_", 2) => Node::And(arg(0)?, arg(1)?),
        ("_||_", 2) => Node::Or(arg(0)?, arg(1)?),
        ("!_", 1) => Node::Not(arg(0)?),
        ("_?_:_", 3) => Node::Cond(arg(0)?, arg(1)?, arg(2)?),
        ("_==_", 2) => Node::Cmp(CmpOp::Eq, arg(0)?, arg(1)?),
        ("_!=_", 2) => Node::Cmp(CmpOp::Ne, arg(0)?, arg(1)?),
        ("_<_", 2) => Node::Cmp(CmpOp::Lt, arg(0)?, arg(1)?),
        ("_<=_", 2) => Node::Cmp(CmpOp::Le, arg(0)?, arg(1)?),
        ("_>_", 2) => Node::Cmp(CmpOp::Gt, arg(0)?, arg(1)?),
        ("_>=_", 2) => Node::Cmp(CmpOp::Ge, arg(0)?, arg(1)?),
        ("_+_", 2) => {
            let a = arg(0)?;
            // `+` of strings (concatenation, which allocates) is left to the interpreter
            if gives_string(&a) != Some(false) {
                return None;
            }
            Node::Arith(ArithOp::Add, a, arg(1)?)
        }
        ("_-_", 2) => Node::Arith(ArithOp::Sub, arg(0)?, arg(1)?),
        ("_*_", 2) => Node::Arith(ArithOp::Mul, arg(0)?, arg(1)?),
        ("_/_", 2) => Node::Arith(ArithOp::Div, arg(0)?, arg(1)?),
        ("_%_", 2) => Node::Arith(ArithOp::Rem, arg(0)?, arg(1)?),
        ("-_", 1) => Node::Neg(arg(0)?),
        ("int", 1) => Node::Convert(Conv::Int, arg(0)?),
        ("uint", 1) => Node::Convert(Conv::UInt, arg(0)?),
        ("double", 1) => Node::Convert(Conv::Double, arg(0)?),
        ("size", 1) => return size(&args[0], params),
        ("@in", 2) => {
            let x = arg(0)?;
            match &args[1].expr {
                Expr::List(l) if l.optional_indices.is_empty() => {
                    // nested lists compare as lists: not covered (`node` refuses them)
                    Node::InList(x, l.elements.iter().map(|e| node(e, params)).collect::<Option<_>>()?)
                }
                _ => match static_container(&args[1], params)? {
                    t @ toml::Value::Table(_) => Node::InTable(x, scalar_table(t)?),
                    l => Node::InList(x, scalar_list(l)?.into_iter().map(Node::Const).collect()),
                },
            }
        }
        ("_[_]", 2) => match static_container(&args[0], params)? {
            t @ toml::Value::Table(_) => Node::TableGet(arg(1)?, scalar_table(t)?),
            l => Node::ListGet(arg(1)?, scalar_list(l)?),
        },
        _ => return None,
    };
    Some(n)
}

/// Whether a compiled node gives a string (`None`: cannot tell). Checked expressions have one
/// type per node, and both operands of `+` the same, so the first operand tells.
fn gives_string(n: &Node) -> Option<bool> {
    Some(match n {
        Node::Const(l) => matches!(l, Lit::Str(_)),
        Node::Field(f) => matches!(f.read(&placeholder_input()), V::Str(_)),
        Node::Cond(_, a, _) | Node::Arith(_, a, _) => gives_string(a)?,
        Node::TableGet(_, t) => matches!(t.values().next()?, Lit::Str(_)),
        Node::ListGet(_, l) => matches!(l.first()?, Lit::Str(_)),
        _ => false,
    })
}

/// `size(x)`: of a string, its characters; of a params list or table, a constant.
fn size(x: &IdedExpr, params: &toml::Value) -> Option<Node> {
    if let Some(c) = static_container(x, params) {
        let n = match c {
            toml::Value::Table(t) => t.len(),
            toml::Value::Array(a) => a.len(),
            _ => return None,
        };
        return Some(Node::Const(Lit::Int(i64::try_from(n).ok()?)));
    }
    Some(Node::StrSize(boxed(node(x, params)?)))
}

/// Folds a node whose operands are all constants into its value, when evaluating it succeeds
/// (evaluation is a pure function of the operands: the same value at compile time as at run time).
fn fold(n: Node) -> Node {
    let constant = |c: &Node| matches!(c, Node::Const(_));
    let all_constant = match &n {
        Node::Const(_) | Node::Field(_) => false,
        Node::Not(a) | Node::Neg(a) | Node::Convert(_, a) | Node::StrSize(a) => constant(a),
        Node::And(a, b) | Node::Or(a, b) | Node::Cmp(_, a, b) | Node::Arith(_, a, b) | Node::StrTest(_, a, b) => {
            constant(a) && constant(b)
        }
        Node::Cond(a, b, c) => constant(a) && constant(b) && constant(c),
        Node::InList(a, items) => constant(a) && items.iter().all(constant),
        Node::InTable(a, _) | Node::TableGet(a, _) | Node::ListGet(a, _) => constant(a),
    };
    if !all_constant {
        return n;
    }
    let placeholder = placeholder_input();
    match eval(&n, &placeholder) {
        Ok(v) => Node::Const(Lit::of(v)),
        Err(Defer) => n,
    }
}

/// An input for folding constants (never read: a constant node reads no field).
fn placeholder_input() -> AuditInput {
    use crate::input::{BlockFacts, MeterFacts, ReadingFacts};
    AuditInput {
        reading: ReadingFacts {
            meter: String::new(),
            seq: 0,
            timestamp_ms: 0,
            value: 0.0,
            unit: String::new(),
            origin: String::new(),
            clock_suspect: false,
        },
        meter: MeterFacts {
            energy: String::new(),
            unit: String::new(),
            register: String::new(),
            register_max: 0.0,
            rated_per_hour: 0.0,
            accuracy_class: 0.0,
        },
        previous: None,
        block: BlockFacts { timestamp_ms: 0, max_future_skew_ms: 0, late_window_ms: 0 },
    }
}

#[inline]
fn bool_of(v: V<'_>) -> Result<bool, Defer> {
    match v {
        V::Bool(b) => Ok(b),
        _ => Err(Defer),
    }
}

/// [`eval`] with its two leaves inline (most operands are fields and constants).
#[inline(always)]
fn operand<'a>(n: &'a Node, i: &'a AuditInput) -> R<'a> {
    match n {
        Node::Field(f) => Ok(f.read(i)),
        Node::Const(l) => Ok(l.v()),
        _ => eval(n, i),
    }
}

fn eval<'a>(n: &'a Node, i: &'a AuditInput) -> R<'a> {
    match n {
        Node::Const(l) => Ok(l.v()),
        Node::Field(f) => Ok(f.read(i)),
        Node::Not(a) => Ok(V::Bool(!bool_of(operand(a, i)?)?)),
        // the interpreter: `false && x` is false without evaluating `x`; `true && x` is `x` (a
        // bool, else an error). A failing left side needs the interpreter (it may still give a
        // bool from the right side).
        Node::And(a, b) => {
            if !bool_of(operand(a, i)?)? {
                return Ok(V::Bool(false));
            }
            Ok(V::Bool(bool_of(operand(b, i)?)?))
        }
        Node::Or(a, b) => {
            if bool_of(operand(a, i)?)? {
                return Ok(V::Bool(true));
            }
            Ok(V::Bool(bool_of(operand(b, i)?)?))
        }
        Node::Cond(c, a, b) => {
            if bool_of(operand(c, i)?)? {
                operand(a, i)
            } else {
                operand(b, i)
            }
        }
        Node::Cmp(op, a, b) => {
            let (x, y) = (operand(a, i)?, operand(b, i)?);
            let r = match op {
                CmpOp::Eq => equals(x, y),
                CmpOp::Ne => !equals(x, y),
                CmpOp::Lt => compare(x, y)? == Ordering::Less,
                CmpOp::Le => compare(x, y)? != Ordering::Greater,
                CmpOp::Gt => compare(x, y)? == Ordering::Greater,
                CmpOp::Ge => compare(x, y)? != Ordering::Less,
            };
            Ok(V::Bool(r))
        }
        Node::Arith(op, a, b) => arith(*op, operand(a, i)?, operand(b, i)?),
        Node::Neg(a) => match operand(a, i)? {
            V::Int(x) => x.checked_neg().map(V::Int).ok_or(Defer),
            V::Double(x) => Ok(V::Double(-x)),
            _ => Err(Defer),
        },
        Node::Convert(to, a) => convert(*to, operand(a, i)?),
        Node::StrSize(a) => match operand(a, i)? {
            V::Str(s) => i64::try_from(s.chars().count()).map(V::Int).map_err(|_| Defer),
            _ => Err(Defer),
        },
        Node::StrTest(op, a, b) => match (operand(a, i)?, operand(b, i)?) {
            (V::Str(s), V::Str(t)) => Ok(V::Bool(match op {
                StrOp::StartsWith => s.starts_with(t),
                StrOp::EndsWith => s.ends_with(t),
                StrOp::Contains => s.contains(t),
            })),
            _ => Err(Defer),
        },
        Node::InList(x, items) => {
            let x = operand(x, i)?;
            // the interpreter builds the whole list before looking in it
            let mut found = false;
            for item in items {
                let v = operand(item, i)?;
                found = found || equals(v, x);
            }
            Ok(V::Bool(found))
        }
        Node::InTable(k, table) => match operand(k, i)? {
            V::Str(k) => Ok(V::Bool(table.contains_key(k))),
            _ => Err(Defer),
        },
        Node::TableGet(k, table) => match operand(k, i)? {
            V::Str(k) => table.get(k).map(Lit::v).ok_or(Defer),
            _ => Err(Defer),
        },
        Node::ListGet(idx, list) => match operand(idx, i)? {
            V::Int(x) => usize::try_from(x).ok().and_then(|x| list.get(x)).map(Lit::v).ok_or(Defer),
            _ => Err(Defer),
        },
    }
}

/// Orders two numbers as the interpreter does: int and uint exactly, anything with a double by
/// converting the other side to a double (`as f64`, rounding); `None` for a NaN.
fn compare_numbers(x: V<'_>, y: V<'_>) -> Option<Option<Ordering>> {
    Some(match (x, y) {
        (V::Int(a), V::Int(b)) => Some(a.cmp(&b)),
        (V::Int(a), V::UInt(b)) => Some(u64::try_from(a).map_or(Ordering::Less, |a| a.cmp(&b))),
        (V::Int(a), V::Double(b)) => (a as f64).partial_cmp(&b),
        (V::UInt(a), V::UInt(b)) => Some(a.cmp(&b)),
        (V::UInt(a), V::Int(b)) => Some(i64::try_from(a).map_or(Ordering::Greater, |a| a.cmp(&b))),
        (V::UInt(a), V::Double(b)) => (a as f64).partial_cmp(&b),
        (V::Double(a), V::Double(b)) => a.partial_cmp(&b),
        (V::Double(a), V::Int(b)) => a.partial_cmp(&(b as f64)),
        (V::Double(a), V::UInt(b)) => a.partial_cmp(&(b as f64)),
        _ => return None,
    })
}

/// `x < y` and friends: numbers (any two kinds), strings (byte order), bools (false < true).
/// A NaN, or values of kinds that do not order, are errors in the interpreter.
fn compare(x: V<'_>, y: V<'_>) -> Result<Ordering, Defer> {
    match (x, y) {
        (V::Str(a), V::Str(b)) => Ok(a.cmp(b)),
        (V::Bool(a), V::Bool(b)) => Ok(a.cmp(&b)),
        _ => compare_numbers(x, y).flatten().ok_or(Defer),
    }
}

/// `x == y`: numbers compare across kinds (a NaN equals nothing), strings and bools with their
/// own kind; values of different kinds are never equal. Never an error.
fn equals(x: V<'_>, y: V<'_>) -> bool {
    match (x, y) {
        (V::Str(a), V::Str(b)) => a == b,
        (V::Bool(a), V::Bool(b)) => a == b,
        _ => compare_numbers(x, y).flatten() == Some(Ordering::Equal),
    }
}

/// Arithmetic: only between two values of one kind; ints and uints checked (overflow, division
/// and remainder by zero are errors), doubles IEEE 754 (no `%`). Strings and lists (`+`) are not
/// covered.
fn arith<'a>(op: ArithOp, x: V<'a>, y: V<'a>) -> R<'a> {
    match (x, y) {
        (V::Int(a), V::Int(b)) => match op {
            ArithOp::Add => a.checked_add(b),
            ArithOp::Sub => a.checked_sub(b),
            ArithOp::Mul => a.checked_mul(b),
            ArithOp::Div => a.checked_div(b),
            ArithOp::Rem => a.checked_rem(b),
        }
        .map(V::Int)
        .ok_or(Defer),
        (V::UInt(a), V::UInt(b)) => match op {
            ArithOp::Add => a.checked_add(b),
            ArithOp::Sub => a.checked_sub(b),
            ArithOp::Mul => a.checked_mul(b),
            ArithOp::Div => a.checked_div(b),
            ArithOp::Rem => a.checked_rem(b),
        }
        .map(V::UInt)
        .ok_or(Defer),
        (V::Double(a), V::Double(b)) => match op {
            ArithOp::Add => Ok(V::Double(a + b)),
            ArithOp::Sub => Ok(V::Double(a - b)),
            ArithOp::Mul => Ok(V::Double(a * b)),
            ArithOp::Div => Ok(V::Double(a / b)),
            ArithOp::Rem => Err(Defer),
        },
        _ => Err(Defer),
    }
}

/// `int()`, `uint()`, `double()` of a number, with the interpreter's range checks: a double
/// converts to an int only strictly inside (−2⁶³, 2⁶³), to a uint only in [0, 2⁶⁴), truncating.
fn convert<'a>(to: Conv, x: V<'a>) -> R<'a> {
    match (to, x) {
        (Conv::Double, V::Double(d)) => Ok(V::Double(d)),
        (Conv::Double, V::Int(a)) => Ok(V::Double(a as f64)),
        (Conv::Double, V::UInt(a)) => Ok(V::Double(a as f64)),
        (Conv::Int, V::Int(a)) => Ok(V::Int(a)),
        (Conv::Int, V::UInt(a)) => i64::try_from(a).map(V::Int).map_err(|_| Defer),
        (Conv::Int, V::Double(d)) => {
            if d > i64::MIN as f64 && d < i64::MAX as f64 {
                Ok(V::Int(d as i64))
            } else {
                Err(Defer)
            }
        }
        (Conv::UInt, V::UInt(a)) => Ok(V::UInt(a)),
        (Conv::UInt, V::Int(a)) => u64::try_from(a).map(V::UInt).map_err(|_| Defer),
        (Conv::UInt, V::Double(d)) => {
            if d >= 0.0 && d < u64::MAX as f64 {
                Ok(V::UInt(d as u64))
            } else {
                Err(Defer)
            }
        }
        _ => Err(Defer),
    }
}

/// Every field of every record has a compiled reader (used by a test).
#[cfg(test)]
pub(crate) fn covers_every_field() -> bool {
    [Record::Reading, Record::Meter, Record::Previous, Record::Block]
        .iter()
        .all(|r| r.fields().iter().all(|(f, _)| Field::of_ident(&format!("{}.{f}", r.name())).is_some()))
        && Field::of_ident("has_previous").is_some()
}
