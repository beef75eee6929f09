//! Static checks of one compiled expression: identifiers and fields, allowed functions and macros,
//! a complete static type check (so no type error can ever happen at run time, in any branch),
//! node count and static cost.
//!
//! The type check knows the CEL type of every input field (see [`crate::input`]) and the exact
//! value of every parameter (they are data in the document). An expression whose type cannot be
//! known statically — a computed index into a table whose values have different types, a ternary
//! whose branches differ, a list literal of mixed types — is refused with a message that says what
//! to change. What remains possible at run time is value-dependent only: integer overflow, integer
//! division by zero, a missing key under a computed index, a NaN comparison, a double too large for
//! `int()`. The dry run looks for those.

use crate::error::PolicyError;
use crate::input::{FieldType, IDENTIFIERS, Record};
use cel::common::ast::{ComprehensionExpr, Expr, IdedExpr, LiteralValue};

/// A static type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty<'p> {
    Bool,
    Int,
    UInt,
    Double,
    String,
    /// A list with elements of one type.
    List(Box<Ty<'p>>),
    /// A map with string keys and values of one type.
    Map(Box<Ty<'p>>),
    /// One of the input records.
    Record(Record),
    /// A list or table of `params`, known exactly at parse time, with its path.
    Static(&'p toml::Value, String),
}

impl Ty<'_> {
    pub(crate) fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::UInt => "uint".into(),
            Ty::Double => "double".into(),
            Ty::String => "string".into(),
            Ty::List(e) => format!("list({})", e.name()),
            Ty::Map(v) => format!("map(string, {})", v.name()),
            Ty::Record(r) => format!("the record `{}`", r.name()),
            Ty::Static(toml::Value::Array(_), path) => format!("the list `{path}`"),
            Ty::Static(_, path) => format!("the table `{path}`"),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::UInt | Ty::Double)
    }

    pub(crate) fn is_scalar(&self) -> bool {
        matches!(self, Ty::Bool | Ty::Int | Ty::UInt | Ty::Double | Ty::String)
    }
}

fn field_ty<'p>(f: FieldType) -> Ty<'p> {
    match f {
        FieldType::Int => Ty::Int,
        FieldType::UInt => Ty::UInt,
        FieldType::Double => Ty::Double,
        FieldType::String => Ty::String,
        FieldType::Bool => Ty::Bool,
    }
}

/// The type of a parameter: a scalar's own, `Static` for a list or table.
fn param_ty<'p>(v: &'p toml::Value, path: String) -> Ty<'p> {
    match v {
        toml::Value::String(_) | toml::Value::Datetime(_) => Ty::String,
        toml::Value::Integer(_) => Ty::Int,
        toml::Value::Float(_) => Ty::Double,
        toml::Value::Boolean(_) => Ty::Bool,
        toml::Value::Array(_) | toml::Value::Table(_) => Ty::Static(v, path),
    }
}

/// The general type of a value (what a computed index into its container gives).
fn general<'p>(t: &Ty<'p>) -> Result<Ty<'p>, String> {
    match t {
        Ty::Static(v, path) => match v {
            toml::Value::Array(items) => {
                Ok(Ty::List(Box::new(common(items.iter().map(|i| param_ty(i, format!("{path}[…]"))), path)?)))
            }
            toml::Value::Table(t) => {
                Ok(Ty::Map(Box::new(common(t.iter().map(|(k, i)| param_ty(i, format!("{path}.{k}"))), path)?)))
            }
            other => Ok(param_ty(other, path.clone())),
        },
        other => Ok(other.clone()),
    }
}

/// The one type all `items` have, in general.
fn common<'p>(items: impl Iterator<Item = Ty<'p>>, path: &str) -> Result<Ty<'p>, String> {
    let mut found: Option<Ty<'p>> = None;
    for item in items {
        let g = general(&item)?;
        match &found {
            None => found = Some(g),
            Some(f) if *f == g => {}
            Some(f) => {
                return Err(format!(
                    "`{path}` mixes values of type {} and {}, so an element picked at run time has no single type; give \
                     all its values one type (write 2.0 rather than 2 for a double)",
                    f.name(),
                    g.name()
                ));
            }
        }
    }
    found.ok_or_else(|| format!("`{path}` is empty, so an element picked at run time has no type"))
}

/// Counts the nodes of an expression (after macro expansion).
pub(crate) fn count_nodes(e: &IdedExpr) -> usize {
    1 + match &e.expr {
        Expr::Call(c) => c.target.as_deref().map_or(0, count_nodes) + c.args.iter().map(count_nodes).sum::<usize>(),
        Expr::Comprehension(c) => {
            count_nodes(&c.iter_range)
                + count_nodes(&c.accu_init)
                + count_nodes(&c.loop_cond)
                + count_nodes(&c.loop_step)
                + count_nodes(&c.result)
        }
        Expr::List(l) => l.elements.iter().map(count_nodes).sum(),
        Expr::Map(m) => m.entries.len(),
        Expr::Select(s) => count_nodes(&s.operand),
        Expr::Struct(s) => s.entries.len(),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => 0,
    }
}

/// The dotted path an expression spells, for messages: `reading.value`, `params.a.b`.
fn path_of(e: &IdedExpr) -> String {
    match &e.expr {
        Expr::Ident(n) => n.clone(),
        Expr::Select(s) => format!("{}.{}", path_of(&s.operand), s.field),
        Expr::Call(c) if c.func_name == "_[_]" && c.args.len() == 2 => match &c.args[1].expr {
            Expr::Literal(LiteralValue::String(s)) => format!("{}.{}", path_of(&c.args[0]), s.inner()),
            Expr::Literal(LiteralValue::Int(i)) => format!("{}[{}]", path_of(&c.args[0]), i.inner()),
            _ => format!("{}[…]", path_of(&c.args[0])),
        },
        _ => "(…)".into(),
    }
}

/// The checker of one expression of one rule.
pub(crate) struct Checker<'p> {
    rule: &'p str,
    part: String,
    params: &'p toml::Value,
    scopes: Vec<(String, Ty<'p>)>,
}

/// What the check of an expression found.
pub(crate) struct Checked<'p> {
    pub ty: Ty<'p>,
    pub cost: u64,
}

type R<'p> = Result<(Ty<'p>, u64), PolicyError>;

/// Static cost of a function call node (`size`, `double`, `startsWith`, `math.abs`, …), on top of
/// its arguments: measured at two to three times an operator node (overload resolution by name and
/// argument types, an argument vector).
pub(crate) const CALL_COST: u64 = 3;

/// Static cost of one iteration of a comprehension, on top of its body: a child scope and a copy of
/// the element.
pub(crate) const ITERATION_COST: u64 = 2;

/// Whether a call is an operator (`_+_`, `!_`, `-_`, `@in`, …), as opposed to a function.
fn is_operator(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('!') || name.starts_with('-') || name.starts_with('@')
}

const FUNCTIONS: &str = "size, int, uint, double, string, startsWith, endsWith, contains, math.greatest, math.least, \
     math.abs, math.sign, math.floor, math.ceil, math.round, math.trunc, math.sqrt, math.isNaN, math.isInf, \
     math.isFinite";

impl<'p> Checker<'p> {
    pub(crate) fn new(rule: &'p str, part: impl Into<String>, params: &'p toml::Value) -> Checker<'p> {
        Checker { rule, part: part.into(), params, scopes: Vec::new() }
    }

    /// Checks `e`: identifiers, functions, types; returns its type and static cost.
    pub(crate) fn check(mut self, e: &IdedExpr) -> Result<Checked<'p>, PolicyError> {
        let (ty, cost) = self.expr(e)?;
        Ok(Checked { ty, cost })
    }

    fn err(&self, message: impl std::fmt::Display) -> PolicyError {
        PolicyError::Expression { rule: self.rule.to_owned(), message: format!("{}: {message}", self.part) }
    }

    fn unknown(&self, name: String) -> PolicyError {
        PolicyError::UnknownIdentifier { rule: self.rule.to_owned(), name }
    }

    fn expr(&mut self, e: &IdedExpr) -> R<'p> {
        match &e.expr {
            Expr::Literal(l) => Ok((self.literal(l)?, 1)),
            Expr::Ident(name) => Ok((self.ident(name)?, 1)),
            Expr::Select(s) => {
                let (operand, cost) = self.expr(&s.operand)?;
                let ty = self.select(&operand, &s.field, s.test, e)?;
                Ok((ty, cost + 1))
            }
            Expr::Call(c) => self.call(e, &c.func_name, c.target.as_deref(), &c.args),
            Expr::Comprehension(c) => self.comprehension(c),
            Expr::List(l) => {
                if !l.optional_indices.is_empty() {
                    return Err(self.err("optional list elements are not allowed"));
                }
                let mut cost = 1u64;
                let mut elem: Option<Ty<'p>> = None;
                for item in &l.elements {
                    let (t, c) = self.expr(item)?;
                    cost = cost.saturating_add(c);
                    let t = general(&t).map_err(|m| self.err(m))?;
                    match &elem {
                        None => elem = Some(t),
                        Some(prev) if *prev == t => {}
                        Some(prev) => {
                            return Err(self.err(format!(
                                "a list literal mixes {} and {}; give its elements one type (write 2.0 rather than 2 \
                                 for a double)",
                                prev.name(),
                                t.name()
                            )));
                        }
                    }
                }
                match elem {
                    Some(t) => Ok((Ty::List(Box::new(t)), cost)),
                    None => Err(self.err("an empty list literal has no use in a rule")),
                }
            }
            Expr::Map(_) => Err(self.err("map literals are not allowed; put tables in [params]")),
            Expr::Struct(_) => Err(self.err("struct literals are not allowed")),
            Expr::Unspecified => Err(self.err("unsupported expression")),
        }
    }

    fn literal(&self, l: &LiteralValue) -> Result<Ty<'p>, PolicyError> {
        match l {
            LiteralValue::Boolean(_) => Ok(Ty::Bool),
            LiteralValue::Int(_) => Ok(Ty::Int),
            LiteralValue::UInt(_) => Ok(Ty::UInt),
            LiteralValue::Double(_) => Ok(Ty::Double),
            LiteralValue::String(_) => Ok(Ty::String),
            LiteralValue::Bytes(_) => Err(self.err("bytes literals are not allowed")),
            LiteralValue::Null => Err(self.err(
                "`null` is not allowed: no input field is ever null; test `has_previous` before using `previous`",
            )),
        }
    }

    fn ident(&self, name: &str) -> Result<Ty<'p>, PolicyError> {
        if let Some((_, t)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Ok(t.clone());
        }
        if let Some(r) = Record::from_identifier(name) {
            return Ok(Ty::Record(r));
        }
        match name {
            "has_previous" => Ok(Ty::Bool),
            "params" => Ok(Ty::Static(self.params, "params".into())),
            _ => Err(self.unknown(name.to_owned())),
        }
    }

    fn select(&self, operand: &Ty<'p>, field: &str, test: bool, whole: &IdedExpr) -> Result<Ty<'p>, PolicyError> {
        let found = match operand {
            Ty::Record(r) => match r.fields().iter().find(|(n, _)| *n == field) {
                Some((_, t)) => field_ty(*t),
                None => return Err(self.unknown(format!("{}.{field}", r.name()))),
            },
            Ty::Static(toml::Value::Table(t), path) => match t.get(field) {
                Some(v) => param_ty(v, format!("{path}.{field}")),
                None if test => return Ok(Ty::Bool),
                None => return Err(self.unknown(format!("{path}.{field}"))),
            },
            Ty::Map(v) => (**v).clone(),
            other => {
                return Err(self.err(format!(
                    "`{}` selects the field `{field}` of {}, which has no fields",
                    path_of(whole),
                    other.name()
                )));
            }
        };
        Ok(if test { Ty::Bool } else { found })
    }

    fn call(&mut self, whole: &IdedExpr, name: &str, target: Option<&IdedExpr>, args: &[IdedExpr]) -> R<'p> {
        // `math.f(x)` is written as a call of `f` on the identifier `math`
        if let Some(t) = target
            && let Expr::Ident(ns) = &t.expr
            && ns == "math"
            && !self.scopes.iter().any(|(n, _)| n == "math")
        {
            let mut cost = 1u64;
            let mut tys = Vec::with_capacity(args.len());
            for a in args {
                let (t, c) = self.expr(a)?;
                cost = cost.saturating_add(c);
                tys.push(t);
            }
            return Ok((self.math(name, &tys)?, cost.saturating_add(CALL_COST - 1)));
        }
        let mut cost = 1u64;
        let target_ty = match target {
            Some(t) => {
                let (ty, c) = self.expr(t)?;
                cost = cost.saturating_add(c);
                Some(ty)
            }
            None => None,
        };
        let mut tys = Vec::with_capacity(args.len());
        for a in args {
            let (t, c) = self.expr(a)?;
            cost = cost.saturating_add(c);
            tys.push(t);
        }
        let ty = match (target_ty, name) {
            (Some(t), _) => self.member(name, &t, &tys)?,
            (None, "math.@max" | "math.@min") => self.extreme(name, &tys)?,
            (None, _) if is_operator(name) => {
                let (ty, extra) = self.operator(whole, name, &tys)?;
                cost = cost.saturating_add(extra);
                ty
            }
            (None, _) => self.function(name, &tys)?,
        };
        if !is_operator(name) {
            cost = cost.saturating_add(CALL_COST - 1);
        }
        Ok((ty, cost))
    }

    fn arity(&self, name: &str, tys: &[Ty<'p>], n: usize) -> Result<(), PolicyError> {
        if tys.len() == n {
            Ok(())
        } else {
            Err(self.err(format!("`{name}` takes {n} argument(s), not {}", tys.len())))
        }
    }

    fn operator(&self, whole: &IdedExpr, name: &str, t: &[Ty<'p>]) -> Result<(Ty<'p>, u64), PolicyError> {
        let op = name.trim_matches('_').trim_start_matches('@');
        match name {
            "_&&_" | "_||_" => {
                self.arity(op, t, 2)?;
                for x in t {
                    if *x != Ty::Bool {
                        return Err(self.err(format!("`{op}` needs bool operands, not {}", x.name())));
                    }
                }
                Ok((Ty::Bool, 0))
            }
            "!_" | "@not_strictly_false" => {
                self.arity(op, t, 1)?;
                if t[0] != Ty::Bool {
                    return Err(self.err(format!("`!` needs a bool, not {}", t[0].name())));
                }
                Ok((Ty::Bool, 0))
            }
            "_?_:_" => {
                self.arity("? :", t, 3)?;
                if t[0] != Ty::Bool {
                    return Err(self.err(format!("the condition of `? :` must be a bool, not {}", t[0].name())));
                }
                let a = general(&t[1]).map_err(|m| self.err(m))?;
                let b = general(&t[2]).map_err(|m| self.err(m))?;
                if a != b {
                    return Err(self.err(format!(
                        "the branches of `? :` have different types, {} and {}; give them one type (write 0.0 \
                         rather than 0 for a double)",
                        a.name(),
                        b.name()
                    )));
                }
                Ok((a, 0))
            }
            "-_" => {
                self.arity("-", t, 1)?;
                match t[0] {
                    Ty::Int | Ty::Double => Ok((t[0].clone(), 0)),
                    _ => Err(self.err(format!("unary `-` needs an int or a double, not {}", t[0].name()))),
                }
            }
            "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => {
                self.arity(op, t, 2)?;
                let (a, b) = (general(&t[0]).map_err(|m| self.err(m))?, general(&t[1]).map_err(|m| self.err(m))?);
                let ok = match name {
                    "_+_" => a == b && matches!(a, Ty::Int | Ty::UInt | Ty::Double | Ty::String | Ty::List(_)),
                    "_%_" => a == b && matches!(a, Ty::Int | Ty::UInt),
                    _ => a == b && a.is_numeric(),
                };
                if ok {
                    return Ok((a, 0));
                }
                let hint = if a.is_numeric() && b.is_numeric() {
                    if name == "_%_" && (a == Ty::Double || b == Ty::Double) {
                        "; `%` is only defined for integers"
                    } else {
                        "; CEL does not mix number types: convert with double(…), int(…) or uint(…), or write \
                         2.0 rather than 2 for a double"
                    }
                } else {
                    ""
                };
                Err(self.err(format!(
                    "`{}` cannot apply `{op}` to {} and {}{hint}",
                    path_or_op(whole),
                    a.name(),
                    b.name()
                )))
            }
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
                self.arity(op, t, 2)?;
                let (a, b) = (&t[0], &t[1]);
                let ordered = !matches!(name, "_==_" | "_!=_");
                let ok = (a.is_numeric() && b.is_numeric())
                    || (a == b && matches!(a, Ty::String | Ty::Bool))
                    || (!ordered && a == b && matches!(a, Ty::List(_)));
                if ok {
                    Ok((Ty::Bool, 0))
                } else {
                    Err(self.err(format!(
                        "`{}` compares {} with {}, which {}; compare values of one kind (numbers, strings or bools)",
                        path_or_op(whole),
                        a.name(),
                        b.name(),
                        if ordered { "cannot be ordered" } else { "is never equal" }
                    )))
                }
            }
            "@in" => {
                self.arity("in", t, 2)?;
                let (x, container) = (&t[0], &t[1]);
                match container {
                    Ty::Static(toml::Value::Table(_), _) | Ty::Map(_) => {
                        if *x != Ty::String {
                            return Err(self.err(format!("`in` a table tests a string key, not {}", x.name())));
                        }
                        Ok((Ty::Bool, 1))
                    }
                    Ty::Static(toml::Value::Array(items), _) => {
                        let g = general(container).map_err(|m| self.err(m))?;
                        self.member_of(x, &g)?;
                        Ok((Ty::Bool, items.len() as u64))
                    }
                    Ty::List(_) => {
                        self.member_of(x, container)?;
                        let n = match &whole.expr {
                            Expr::Call(c) => match &c.args[1].expr {
                                Expr::List(l) => l.elements.len() as u64,
                                _ => 1,
                            },
                            _ => 1,
                        };
                        Ok((Ty::Bool, n))
                    }
                    other => Err(self.err(format!("`in` needs a list or a table on its right, not {}", other.name()))),
                }
            }
            "_[_]" => {
                self.arity("[]", t, 2)?;
                self.index(whole, &t[0], &t[1]).map(|ty| (ty, 0))
            }
            _ => Err(self.err(format!("the operator `{name}` is not allowed"))),
        }
    }

    fn member_of(&self, x: &Ty<'p>, list: &Ty<'p>) -> Result<(), PolicyError> {
        let Ty::List(e) = list else { unreachable!("member_of is called with a list type") };
        if (x.is_numeric() && e.is_numeric()) || **e == *x {
            Ok(())
        } else {
            Err(self.err(format!("`in` tests {} against a list of {}, which never matches", x.name(), e.name())))
        }
    }

    fn index(&self, whole: &IdedExpr, container: &Ty<'p>, idx: &Ty<'p>) -> Result<Ty<'p>, PolicyError> {
        let literal = match &whole.expr {
            Expr::Call(c) => match &c.args[1].expr {
                Expr::Literal(l) => Some(l.clone()),
                _ => None,
            },
            _ => None,
        };
        match container {
            Ty::Static(toml::Value::Table(t), path) => {
                if *idx != Ty::String {
                    return Err(self.err(format!("`{path}` is a table: index it with a string, not {}", idx.name())));
                }
                if let Some(LiteralValue::String(k)) = literal {
                    return match t.get(k.inner()) {
                        Some(v) => Ok(param_ty(v, format!("{path}.{}", k.inner()))),
                        None => Err(self.unknown(format!("{path}.{}", k.inner()))),
                    };
                }
                match general(container).map_err(|m| self.err(m))? {
                    Ty::Map(v) => Ok(*v),
                    _ => unreachable!("a table's general type is a map"),
                }
            }
            Ty::Static(toml::Value::Array(items), path) => {
                if *idx != Ty::Int {
                    return Err(self.err(format!("`{path}` is a list: index it with an int, not {}", idx.name())));
                }
                if let Some(LiteralValue::Int(i)) = literal {
                    let i = *i.inner();
                    return match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                        Some(v) => Ok(param_ty(v, format!("{path}[{i}]"))),
                        None => {
                            Err(self.err(format!("`{path}[{i}]` is out of range: the list has {} items", items.len())))
                        }
                    };
                }
                match general(container).map_err(|m| self.err(m))? {
                    Ty::List(e) => Ok(*e),
                    _ => unreachable!("a list's general type is a list"),
                }
            }
            Ty::List(e) if *idx == Ty::Int => Ok((**e).clone()),
            Ty::Map(v) if *idx == Ty::String => Ok((**v).clone()),
            Ty::Record(r) => Err(self.err(format!("write `{}.field` rather than indexing the record", r.name()))),
            other => Err(self.err(format!("`{}` indexes {} with {}", path_of(whole), other.name(), idx.name()))),
        }
    }

    fn function(&self, name: &str, t: &[Ty<'p>]) -> Result<Ty<'p>, PolicyError> {
        match name {
            "size" => {
                self.arity(name, t, 1)?;
                self.size(&t[0])
            }
            "int" | "uint" | "double" => {
                self.arity(name, t, 1)?;
                if !t[0].is_numeric() {
                    return Err(self.err(format!(
                        "`{name}()` converts numbers only, not {} (text is never converted to a number)",
                        t[0].name()
                    )));
                }
                Ok(match name {
                    "int" => Ty::Int,
                    "uint" => Ty::UInt,
                    _ => Ty::Double,
                })
            }
            "string" => {
                self.arity(name, t, 1)?;
                if !t[0].is_scalar() {
                    return Err(self.err(format!("`string()` converts a single value, not {}", t[0].name())));
                }
                Ok(Ty::String)
            }
            _ => Err(self.err(format!("the function `{name}` is not allowed (allowed: {FUNCTIONS})"))),
        }
    }

    fn size(&self, t: &Ty<'p>) -> Result<Ty<'p>, PolicyError> {
        match t {
            Ty::String | Ty::List(_) | Ty::Map(_) | Ty::Static(..) => Ok(Ty::Int),
            other => Err(self.err(format!("`size` needs a string, list or table, not {}", other.name()))),
        }
    }

    fn member(&self, name: &str, target: &Ty<'p>, t: &[Ty<'p>]) -> Result<Ty<'p>, PolicyError> {
        match name {
            "size" => {
                self.arity(name, t, 0)?;
                self.size(target)
            }
            "startsWith" | "endsWith" | "contains" => {
                self.arity(name, t, 1)?;
                if *target != Ty::String || t[0] != Ty::String {
                    return Err(self.err(format!(
                        "`{name}` applies to strings, not {} with {}",
                        target.name(),
                        t[0].name()
                    )));
                }
                Ok(Ty::Bool)
            }
            "all" | "exists" | "exists_one" | "existsOne" | "map" | "filter" => {
                Err(self.err(format!("`{name}` takes a variable name and a predicate, e.g. `list.{name}(x, x > 0)`")))
            }
            _ => Err(self.err(format!("the function `{name}` is not allowed (allowed: {FUNCTIONS})"))),
        }
    }

    fn math(&self, name: &str, t: &[Ty<'p>]) -> Result<Ty<'p>, PolicyError> {
        let full = format!("math.{name}");
        self.arity(&full, t, 1)?;
        let x = &t[0];
        match name {
            "abs" | "sign" if matches!(x, Ty::Int | Ty::Double | Ty::UInt) => Ok(x.clone()),
            "floor" | "ceil" | "round" | "trunc" if *x == Ty::Double => Ok(Ty::Double),
            "sqrt" if x.is_numeric() => Ok(Ty::Double),
            "isNaN" | "isInf" | "isFinite" if *x == Ty::Double => Ok(Ty::Bool),
            "abs" | "sign" | "floor" | "ceil" | "round" | "trunc" | "sqrt" | "isNaN" | "isInf" | "isFinite" => {
                Err(self.err(format!("`{full}` does not apply to {}", x.name())))
            }
            _ => Err(self.err(format!("the function `{full}` is not allowed (allowed: {FUNCTIONS})"))),
        }
    }

    /// `math.greatest` / `math.least`, after macro expansion.
    fn extreme(&self, name: &str, t: &[Ty<'p>]) -> Result<Ty<'p>, PolicyError> {
        let shown = if name == "math.@max" { "math.greatest" } else { "math.least" };
        let elems: Vec<Ty<'p>> = match t {
            [one] => match general(one).map_err(|m| self.err(m))? {
                Ty::List(e) => vec![*e],
                other => vec![other],
            },
            many => many.iter().map(general).collect::<Result<_, _>>().map_err(|m| self.err(m))?,
        };
        let first = &elems[0];
        if !first.is_numeric() || elems.iter().any(|e| e != first) {
            let names: Vec<String> = elems.iter().map(Ty::name).collect();
            return Err(self.err(format!(
                "`{shown}` needs numbers of one type, not {}; convert with double(…) or write 2.0 rather than 2",
                names.join(", ")
            )));
        }
        Ok(first.clone())
    }

    fn comprehension(&mut self, c: &ComprehensionExpr) -> R<'p> {
        let (range, range_cost) = self.expr(&c.iter_range)?;
        let (items, path) = match &range {
            Ty::Static(toml::Value::Array(items), path) => (items, path.clone()),
            Ty::Static(toml::Value::Table(_), path) => {
                return Err(self.err(format!(
                    "all()/exists()/exists_one() may only range over a list, and `{path}` is a table (the order of a \
                     table's keys is not fixed at run time)"
                )));
            }
            other => {
                return Err(self.err(format!(
                    "all()/exists()/exists_one() may only range over a list in params, whose length is known when \
                     the policy is deployed, not over {}",
                    other.name()
                )));
            }
        };
        let elem = match general(&range).map_err(|m| self.err(m))? {
            Ty::List(e) => *e,
            _ => unreachable!("a list's general type is a list"),
        };
        if matches!(c.accu_init.expr, Expr::List(_)) {
            return Err(self.err(
                "map() and filter() are not allowed (they build lists at run time); use all(), exists() or \
                 exists_one()",
            ));
        }
        let (init, init_cost) = self.expr(&c.accu_init)?;
        if !matches!(init, Ty::Bool | Ty::Int) {
            return Err(self.err(
                "map() and filter() are not allowed (they build lists at run time); use all(), exists() or \
                 exists_one()",
            ));
        }
        for var in std::iter::once(&c.iter_var).chain(c.iter_var2.as_ref()) {
            if IDENTIFIERS.contains(&var.as_str()) || var == "math" || self.scopes.iter().any(|(n, _)| n == var) {
                return Err(self.err(format!("the variable `{var}` of all()/exists() hides another name; rename it")));
            }
        }
        let depth = self.scopes.len();
        match &c.iter_var2 {
            Some(v2) => {
                self.scopes.push((c.iter_var.clone(), Ty::Int));
                self.scopes.push((v2.clone(), elem));
            }
            None => self.scopes.push((c.iter_var.clone(), elem)),
        }
        self.scopes.push((c.accu_var.clone(), init.clone()));
        let body = (|| {
            let (cond, cond_cost) = self.expr(&c.loop_cond)?;
            if cond != Ty::Bool {
                return Err(self.err("the loop condition of a comprehension must be a bool"));
            }
            let (step, step_cost) = self.expr(&c.loop_step)?;
            if step != init {
                return Err(self.err(format!(
                    "the predicate of all()/exists()/exists_one() over `{path}` must be a bool, not {}",
                    step.name()
                )));
            }
            let (result, result_cost) = self.expr(&c.result)?;
            Ok((result, cond_cost.saturating_add(step_cost), result_cost))
        })();
        self.scopes.truncate(depth);
        let (result, per_item, result_cost) = body?;
        let cost = 1u64
            .saturating_add(range_cost)
            .saturating_add(init_cost)
            .saturating_add(per_item.saturating_add(ITERATION_COST).saturating_mul(items.len() as u64))
            .saturating_add(result_cost);
        Ok((result, cost))
    }
}

fn path_or_op(e: &IdedExpr) -> String {
    match &e.expr {
        Expr::Call(c) if c.args.len() == 2 => {
            let op = c.func_name.trim_matches('_');
            format!("{} {op} {}", path_of(&c.args[0]), path_of(&c.args[1]))
        }
        _ => path_of(e),
    }
}
