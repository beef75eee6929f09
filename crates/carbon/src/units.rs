//! Units of measure for methodology formulas: products of a fixed set of symbols with integer
//! exponents (`tC/GJ`, `GJ/t`, `t/fill`, `1`).
//!
//! Symbols are opaque: `kWh` and `MWh` are different symbols and nothing converts between them
//! on its own. A formula converts explicitly, by multiplying by a parameter whose unit says what it
//! does (`1000 kWh/MWh`). This is what lets the checker refuse a formula that forgets a conversion
//! (the 44/12 of carbon to CO2, a molar mass in the welding-gas ratio) at deployment.

use std::collections::BTreeMap;
use std::fmt;

/// The symbols a unit may use.
pub const SYMBOLS: [&str; 16] = [
    "t",     // tonne (of a fuel, a gas or a product, as the quantity says)
    "kg",    // kilogram
    "g",     // gram
    "tC",    // tonne of carbon
    "tCO2e", // tonne of CO2 equivalent
    "GJ",    // gigajoule
    "MJ",    // megajoule
    "kJ",    // kilojoule
    "kWh",   // kilowatt-hour
    "MWh",   // megawatt-hour
    "Nm3",   // normal cubic metre
    "e4Nm3", // 10⁴ normal cubic metres (万标立方米), the unit of gas fuels' heating values
    "m3",    // cubic metre at working conditions
    "mol",   // mole
    "fill",  // one filling operation (充装次数)
    "unit",  // one unit of product (台, 件): the denominator of intensities
];

/// A unit: symbol → exponent, without zero exponents. The empty unit is dimensionless (`1`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Unit(BTreeMap<&'static str, i8>);

/// A unit string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unit `{text}`: {reason}")]
pub struct UnitError {
    /// The unit as written.
    pub text: String,
    /// Why it is refused.
    pub reason: String,
}

impl Unit {
    /// The dimensionless unit.
    pub fn one() -> Unit {
        Unit(BTreeMap::new())
    }

    /// One symbol to the first power.
    pub fn symbol(name: &str) -> Option<Unit> {
        let s = SYMBOLS.iter().find(|s| **s == name)?;
        Some(Unit(BTreeMap::from([(*s, 1)])))
    }

    /// Whether the unit is dimensionless.
    pub fn is_one(&self) -> bool {
        self.0.is_empty()
    }

    /// The product of two units, or `None` if an exponent leaves ±8.
    pub fn mul(&self, other: &Unit) -> Option<Unit> {
        self.combine(other, 1)
    }

    /// The quotient of two units, or `None` if an exponent leaves ±8.
    pub fn div(&self, other: &Unit) -> Option<Unit> {
        self.combine(other, -1)
    }

    fn combine(&self, other: &Unit, sign: i8) -> Option<Unit> {
        let mut out = self.0.clone();
        for (s, e) in &other.0 {
            let v = out.get(s).copied().unwrap_or(0) + sign * e;
            if !(-8..=8).contains(&v) {
                return None;
            }
            if v == 0 {
                out.remove(s);
            } else {
                out.insert(s, v);
            }
        }
        Some(Unit(out))
    }

    /// Parses `a`, `a/b`, `a*b/c`, `a^2/b`, `1`, `1/a`: symbols joined by `*`, at most one `/`
    /// (everything after it is the denominator), exponents 1..=4.
    pub fn parse(text: &str) -> Result<Unit, UnitError> {
        let err = |reason: &str| UnitError { text: text.to_string(), reason: reason.to_string() };
        let t = text.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let (num, den) = match t.split_once('/') {
            Some((n, d)) => (n, Some(d)),
            None => (t, None),
        };
        let mut unit = Unit::one();
        for (part, sign) in [(Some(num), 1i8), (den, -1i8)] {
            let Some(part) = part else { continue };
            let part = part.trim().trim_start_matches('(').trim_end_matches(')');
            if part.contains('/') {
                return Err(err("at most one `/`"));
            }
            if part.trim() == "1" {
                continue;
            }
            for factor in part.split('*') {
                let factor = factor.trim();
                let (name, exp) = match factor.split_once('^') {
                    Some((n, e)) => {
                        let e: i8 = e.trim().parse().map_err(|_| err("an exponent is 1 to 4"))?;
                        if !(1..=4).contains(&e) {
                            return Err(err("an exponent is 1 to 4"));
                        }
                        (n.trim(), e)
                    }
                    None => (factor, 1),
                };
                let sym = Unit::symbol(name)
                    .ok_or_else(|| err(&format!("unknown symbol `{name}` (known: {})", SYMBOLS.join(", "))))?;
                for _ in 0..exp {
                    unit = if sign > 0 { unit.mul(&sym) } else { unit.div(&sym) }
                        .ok_or_else(|| err("exponent too large"))?;
                }
            }
        }
        Ok(unit)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |f: &mut fmt::Formatter<'_>, positive: bool| -> Result<usize, fmt::Error> {
            let mut n = 0;
            for (s, e) in &self.0 {
                if (*e > 0) != positive {
                    continue;
                }
                if n > 0 {
                    f.write_str("*")?;
                }
                f.write_str(s)?;
                if e.abs() != 1 {
                    write!(f, "^{}", e.abs())?;
                }
                n += 1;
            }
            Ok(n)
        };
        let has_den = self.0.values().any(|e| *e < 0);
        if !self.0.values().any(|e| *e > 0) {
            f.write_str("1")?;
        } else {
            part(f, true)?;
        }
        if has_den {
            f.write_str("/")?;
            let n = self.0.values().filter(|e| **e < 0).count();
            if n > 1 {
                f.write_str("(")?;
            }
            part(f, false)?;
            if n > 1 {
                f.write_str(")")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, shown) in [
            ("tC/GJ", "tC/GJ"),
            ("GJ/t", "GJ/t"),
            ("1", "1"),
            ("t/fill", "t/fill"),
            ("g/mol", "g/mol"),
            ("tCO2e/MWh", "tCO2e/MWh"),
            ("1/t", "1/t"),
            ("GJ/(t*fill)", "GJ/(fill*t)"),
            ("kJ/kg", "kJ/kg"),
        ] {
            assert_eq!(Unit::parse(text).unwrap().to_string(), shown, "{text}");
        }
        assert!(Unit::parse("tCO2").is_err());
        assert!(Unit::parse("t/GJ/t").is_err());
        assert!(Unit::parse("t^9").is_err());
        assert!(Unit::parse("").is_err());
    }

    #[test]
    fn algebra() {
        let ncv = Unit::parse("GJ/t").unwrap();
        let cc = Unit::parse("tC/GJ").unwrap();
        let t = Unit::parse("t").unwrap();
        let co2_per_c = Unit::parse("t/tC").unwrap();
        let e = t.mul(&ncv).unwrap().mul(&cc).unwrap().mul(&co2_per_c).unwrap();
        assert_eq!(e, t);
        assert!(t.div(&t).unwrap().is_one());
    }
}
