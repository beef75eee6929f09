//! The formula form of methodology documents: arithmetic over named quantities with units.
//!
//! ```text
//! formula := sum
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/") unary)*
//! unary   := "-" unary | atom
//! atom    := decimal | name ("." name)* | ("max" | "min") "(" formula "," formula ")" | "(" formula ")"
//! ```
//!
//! Why not CEL, as audit policies use: an emission formula is a product of decimal factors
//! (2.162 t/10⁴Nm³, 0.5306 tCO2/MWh) whose correctness is mostly a matter of units. CEL has
//! floats or integers, no exact decimals and no units. Here every value is an exact decimal
//! (`rust_decimal`, 28 significant digits, checked: overflow and division by zero are errors, never
//! a panic or a rounding surprise) and every name has a unit, so [`Formula::check`] refuses at
//! deployment a formula whose result is not what its source emits (a forgotten 44/12, a molar-mass
//! ratio without its numerator's molar mass, kWh where MWh was meant). A literal is dimensionless,
//! except `0`, which takes any unit (`max(x, 0)`).
//!
//! Bounded: at most [`MAX_FORMULA_BYTES`] of text, [`MAX_NODES`] nodes and [`MAX_DEPTH`] levels,
//! so checking and evaluating a formula costs at most a few hundred operations.

use std::fmt;

use rust_decimal::Decimal;

use crate::units::Unit;

/// Longest formula text, in bytes.
pub const MAX_FORMULA_BYTES: usize = 1024;
/// Most nodes (numbers, names, operators) in one formula.
pub const MAX_NODES: usize = 128;
/// Deepest nesting of one formula.
pub const MAX_DEPTH: usize = 16;
/// Longest name (dotted path) in a formula.
pub const MAX_NAME_BYTES: usize = 64;

/// A parsed formula.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formula {
    root: Node,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Number(Decimal),
    Name(String),
    Neg(Box<Node>),
    Bin(Op, Box<Node>, Box<Node>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

/// Why a formula is refused or could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormulaError {
    /// The text does not parse.
    #[error("at byte {at}: {reason}")]
    Syntax {
        /// Byte offset of the problem.
        at: usize,
        /// What was expected.
        reason: String,
    },
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A name that is not defined where the formula is used.
    #[error("unknown name `{0}`")]
    UnknownName(String),
    /// Units that do not agree.
    #[error("units: {0}")]
    Units(String),
    /// Overflow or division by zero while evaluating.
    #[error("arithmetic: {0}")]
    Arithmetic(String),
}

/// What a checker knows of a name: its unit. What an evaluator knows: its value.
pub trait Env {
    /// The unit of `name`, or `None` if the name is not defined here.
    fn unit(&self, name: &str) -> Option<Unit>;
    /// The value of `name`, or `None` if the name is not defined here.
    fn value(&self, name: &str) -> Option<Decimal>;
}

/// A unit during checking: a unit, or "any" (the literal 0 and what it alone produces).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Dim {
    Any,
    Is(Unit),
}

impl Formula {
    /// Parses a formula within the limits.
    pub fn parse(text: &str) -> Result<Formula, FormulaError> {
        if text.len() > MAX_FORMULA_BYTES {
            return Err(FormulaError::TooLarge(format!("{} bytes, at most {MAX_FORMULA_BYTES}", text.len())));
        }
        let mut p = Parser { s: text.as_bytes(), at: 0, nodes: 0 };
        let root = p.sum(0)?;
        p.skip_ws();
        if p.at != p.s.len() {
            return Err(p.syntax("an operator or the end"));
        }
        Ok(Formula { root, text: text.to_string() })
    }

    /// Its number of nodes (what one check or evaluation costs).
    pub fn nodes(&self) -> usize {
        fn count(n: &Node) -> usize {
            match n {
                Node::Number(_) | Node::Name(_) => 1,
                Node::Neg(a) => 1 + count(a),
                Node::Bin(_, a, b) => 1 + count(a) + count(b),
            }
        }
        count(&self.root)
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every name the formula reads, in order of first appearance.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
            match n {
                Node::Number(_) => {}
                Node::Name(s) => {
                    if !out.contains(&s.as_str()) {
                        out.push(s)
                    }
                }
                Node::Neg(a) => walk(a, out),
                Node::Bin(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        walk(&self.root, &mut out);
        out
    }

    /// Checks every name is defined and the units agree, and returns the result's unit
    /// (`None` if the formula is a bare zero and has no unit of its own).
    pub fn check(&self, env: &dyn Env) -> Result<Option<Unit>, FormulaError> {
        Ok(match dim(&self.root, env)? {
            Dim::Any => None,
            Dim::Is(u) => Some(u),
        })
    }

    /// Checks that the result is in `expected`.
    pub fn check_unit(&self, env: &dyn Env, expected: &Unit) -> Result<(), FormulaError> {
        match self.check(env)? {
            None => Ok(()),
            Some(u) if &u == expected => Ok(()),
            Some(u) => Err(FormulaError::Units(format!("the result is in {u}, it must be in {expected}"))),
        }
    }

    /// Evaluates exactly. Errors on an unknown name, overflow or division by zero.
    pub fn eval(&self, env: &dyn Env) -> Result<Decimal, FormulaError> {
        eval(&self.root, env)
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn dim(n: &Node, env: &dyn Env) -> Result<Dim, FormulaError> {
    Ok(match n {
        Node::Number(d) if d.is_zero() => Dim::Any,
        Node::Number(_) => Dim::Is(Unit::one()),
        Node::Name(s) => Dim::Is(env.unit(s).ok_or_else(|| FormulaError::UnknownName(s.clone()))?),
        Node::Neg(a) => dim(a, env)?,
        Node::Bin(op, a, b) => {
            let (a, b) = (dim(a, env)?, dim(b, env)?);
            match op {
                Op::Add | Op::Sub | Op::Max | Op::Min => match (a, b) {
                    (Dim::Any, x) | (x, Dim::Any) => x,
                    (Dim::Is(x), Dim::Is(y)) if x == y => Dim::Is(x),
                    (Dim::Is(x), Dim::Is(y)) => {
                        let what = match op {
                            Op::Add => "adds",
                            Op::Sub => "subtracts",
                            _ => "compares",
                        };
                        return Err(FormulaError::Units(format!("{what} {x} and {y}")));
                    }
                },
                Op::Mul | Op::Div => match (a, b) {
                    (Dim::Any, _) | (_, Dim::Any) => Dim::Any,
                    (Dim::Is(x), Dim::Is(y)) => {
                        let u = if *op == Op::Mul { x.mul(&y) } else { x.div(&y) };
                        Dim::Is(u.ok_or_else(|| FormulaError::Units("an exponent beyond ±8".into()))?)
                    }
                },
            }
        }
    })
}

fn eval(n: &Node, env: &dyn Env) -> Result<Decimal, FormulaError> {
    let overflow = || FormulaError::Arithmetic("overflow".into());
    Ok(match n {
        Node::Number(d) => *d,
        Node::Name(s) => env.value(s).ok_or_else(|| FormulaError::UnknownName(s.clone()))?,
        Node::Neg(a) => -eval(a, env)?,
        Node::Bin(op, a, b) => {
            let (a, b) = (eval(a, env)?, eval(b, env)?);
            match op {
                Op::Add => a.checked_add(b).ok_or_else(overflow)?,
                Op::Sub => a.checked_sub(b).ok_or_else(overflow)?,
                Op::Mul => a.checked_mul(b).ok_or_else(overflow)?,
                Op::Div => {
                    if b.is_zero() {
                        return Err(FormulaError::Arithmetic("division by zero".into()));
                    }
                    a.checked_div(b).ok_or_else(overflow)?
                }
                Op::Max => a.max(b),
                Op::Min => a.min(b),
            }
        }
    })
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn syntax(&self, expected: &str) -> FormulaError {
        FormulaError::Syntax { at: self.at, reason: format!("expected {expected}") }
    }

    fn skip_ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.at).copied()
    }

    fn node(&mut self, depth: usize) -> Result<(), FormulaError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(FormulaError::TooLarge(format!("more than {MAX_NODES} nodes")));
        }
        if depth > MAX_DEPTH {
            return Err(FormulaError::TooLarge(format!("nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn sum(&mut self, depth: usize) -> Result<Node, FormulaError> {
        self.node(depth)?;
        let mut left = self.product(depth + 1)?;
        loop {
            let op = match self.peek() {
                Some(b'+') => Op::Add,
                Some(b'-') => Op::Sub,
                _ => return Ok(left),
            };
            self.at += 1;
            self.node(depth)?;
            let right = self.product(depth + 1)?;
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn product(&mut self, depth: usize) -> Result<Node, FormulaError> {
        self.node(depth)?;
        let mut left = self.unary(depth + 1)?;
        loop {
            let op = match self.peek() {
                Some(b'*') => Op::Mul,
                Some(b'/') => Op::Div,
                _ => return Ok(left),
            };
            self.at += 1;
            self.node(depth)?;
            let right = self.unary(depth + 1)?;
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Node, FormulaError> {
        self.node(depth)?;
        if self.peek() == Some(b'-') {
            self.at += 1;
            return Ok(Node::Neg(Box::new(self.unary(depth + 1)?)));
        }
        self.atom(depth + 1)
    }

    fn atom(&mut self, depth: usize) -> Result<Node, FormulaError> {
        self.node(depth)?;
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let inner = self.sum(depth + 1)?;
                if self.peek() != Some(b')') {
                    return Err(self.syntax("`)`"));
                }
                self.at += 1;
                Ok(inner)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.at;
                while self.at < self.s.len() && (self.s[self.at].is_ascii_digit() || self.s[self.at] == b'.') {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.at]).expect("ASCII digits");
                let d = Decimal::from_str_exact(text).map_err(|_| FormulaError::Syntax {
                    at: start,
                    reason: format!("`{text}` is not a decimal number"),
                })?;
                Ok(Node::Number(d))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.at;
                while self.at < self.s.len()
                    && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_' || self.s[self.at] == b'.')
                {
                    self.at += 1;
                }
                let name = std::str::from_utf8(&self.s[start..self.at]).expect("ASCII name").to_string();
                if name.len() > MAX_NAME_BYTES {
                    return Err(FormulaError::TooLarge(format!("name longer than {MAX_NAME_BYTES} bytes")));
                }
                if name.split('.').any(|p| p.is_empty() || p.as_bytes()[0].is_ascii_digit()) {
                    return Err(FormulaError::Syntax { at: start, reason: format!("`{name}` is not a name") });
                }
                let func = match name.as_str() {
                    "max" => Some(Op::Max),
                    "min" => Some(Op::Min),
                    _ => None,
                };
                if let Some(op) = func {
                    if self.peek() != Some(b'(') {
                        return Err(self.syntax("`(` after a function name"));
                    }
                    self.at += 1;
                    let a = self.sum(depth + 1)?;
                    if self.peek() != Some(b',') {
                        return Err(self.syntax("`,`"));
                    }
                    self.at += 1;
                    let b = self.sum(depth + 1)?;
                    if self.peek() != Some(b')') {
                        return Err(self.syntax("`)`"));
                    }
                    self.at += 1;
                    return Ok(Node::Bin(op, Box::new(a), Box::new(b)));
                }
                Ok(Node::Name(name))
            }
            _ => Err(self.syntax("a number, a name or `(`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::str::FromStr;

    struct Map(BTreeMap<&'static str, (&'static str, &'static str)>);
    impl Env for Map {
        fn unit(&self, name: &str) -> Option<Unit> {
            self.0.get(name).map(|(_, u)| Unit::parse(u).unwrap())
        }
        fn value(&self, name: &str) -> Option<Decimal> {
            self.0.get(name).map(|(v, _)| Decimal::from_str(v).unwrap())
        }
    }

    fn env() -> Map {
        Map(BTreeMap::from([
            ("item.amount", ("10", "t")),
            ("fuel.ncv", ("43.33", "GJ/t")),
            ("fuel.cc", ("0.0202", "tC/GJ")),
            ("fuel.of", ("0.98", "1")),
            ("co2_per_c", ("3.666666666666666666666666667", "t/tC")),
            ("zero", ("0", "t")),
        ]))
    }

    #[test]
    fn diesel_by_hand() {
        // 10 t diesel × 43.33 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 31.4500... t CO2:
        // 10 × 43.33 = 433.3; × 0.0202 = 8.75266; × 0.98 = 8.5776068; × 44/12 = 31.45122493...
        let f = Formula::parse("item.amount * fuel.ncv * fuel.cc * fuel.of * co2_per_c").unwrap();
        assert_eq!(f.check(&env()).unwrap(), Some(Unit::parse("t").unwrap()));
        let v = f.eval(&env()).unwrap();
        assert_eq!(v.round_dp(6).to_string(), "31.451225");
    }

    #[test]
    fn refuses_a_forgotten_conversion() {
        let f = Formula::parse("item.amount * fuel.ncv * fuel.cc * fuel.of").unwrap();
        let e = f.check_unit(&env(), &Unit::parse("t").unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "units: the result is in tC, it must be in t");
        let f = Formula::parse("item.amount + fuel.ncv").unwrap();
        assert_eq!(f.check(&env()).unwrap_err().to_string(), "units: adds t and GJ/t");
        assert!(matches!(Formula::parse("nope * 2").unwrap().check(&env()), Err(FormulaError::UnknownName(_))));
    }

    #[test]
    fn zero_takes_any_unit_and_division_by_zero_is_an_error() {
        let f = Formula::parse("max(item.amount - 20, 0)").unwrap();
        // `item.amount - 20` subtracts a dimensionless literal from tonnes: refused.
        assert!(f.check(&env()).is_err());
        let f = Formula::parse("max(zero - item.amount, 0)").unwrap();
        assert_eq!(f.check(&env()).unwrap(), Some(Unit::parse("t").unwrap()));
        assert_eq!(f.eval(&env()).unwrap(), Decimal::ZERO);
        let f = Formula::parse("item.amount / zero").unwrap();
        assert_eq!(f.eval(&env()).unwrap_err().to_string(), "arithmetic: division by zero");
    }

    #[test]
    fn precedence_and_syntax() {
        let f = Formula::parse("2 - 3 * 4 / (1 + 1) - -1").unwrap();
        assert_eq!(f.eval(&env()).unwrap(), Decimal::from(-3));
        for bad in ["", "1 +", "(1", "max(1)", "a..b", "1 2", "1.2.3", "x $ y"] {
            assert!(Formula::parse(bad).is_err(), "{bad}");
        }
        let deep = "(".repeat(40) + "1" + &")".repeat(40);
        assert!(matches!(Formula::parse(&deep), Err(FormulaError::TooLarge(_))));
        let long = vec!["1"; 200].join("+");
        assert!(matches!(Formula::parse(&long), Err(FormulaError::TooLarge(_))));
    }

    #[test]
    fn overflow_is_an_error() {
        let m = Map(BTreeMap::from([("big", ("79228162514264337593543950335", "1"))]));
        let f = Formula::parse("big * big").unwrap();
        assert_eq!(f.eval(&m).unwrap_err().to_string(), "arithmetic: overflow");
    }
}
