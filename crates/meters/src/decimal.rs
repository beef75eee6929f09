//! Exact decimal text, raw device values and scaling into fixed-point [`Quantity`].
//!
//! Rules, in one place:
//! - Decimal text is `[+|-]digits[.digits]`: no exponent, no thousands separators, at most
//!   [`MAX_DECIMAL_TEXT_LEN`] characters. Text that names a quantity must be exact to a micro-unit
//!   (at most six non-zero decimals); anything finer is refused rather than rounded.
//! - [`Scale::apply`] multiplies a raw value by the scale in `i128` with no rounding at all, then
//!   converts to micro-units. Only when the exact product has more than six decimals (a scale such
//!   as `0.0000001`, or a float) is it rounded, once, **to the nearest micro-unit, halves away from
//!   zero** (the same rule as [`Quantity::from_f64_round`]).
//! - A float is taken at its shortest decimal form, the one that reads back as the same float
//!   (what a person reading the meter's display sees): f32 `0x4148_0000` is `12.5`, f32 `1234.56`
//!   is `1234.56`, not `1234.560059`. NaN and infinities are refused.
//! - A result outside the `i64` range of micro-units is an error, never a wrap or a clamp.

use crate::error::DriverError;
use crate::limits::{MAX_DECIMAL_TEXT_LEN, MAX_SCALE_DECIMALS};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use trustmeter_types::Quantity;

/// Why decimal text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not of the form `[+|-]digits[.digits]`.
    #[error("{text:?} is not a decimal number: {reason}")]
    Invalid {
        /// The text (cut to 80 characters).
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// More than six non-zero decimals: a quantity is exact to 0.000001.
    #[error("{text:?} has more than 6 decimal places; quantities are exact to 0.000001 of a unit, so round it first")]
    TooPrecise {
        /// The text.
        text: String,
    },
    /// Too large for a quantity (±9 223 372 036 854.775807).
    #[error("{text:?} is out of range: a quantity is at most ±9223372036854.775807")]
    OutOfRange {
        /// The text.
        text: String,
    },
    /// A scale of zero, or with too many decimals.
    #[error("scale {text:?} is not usable: {reason}")]
    BadScale {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl DecimalError {
    /// The reason alone, without repeating the text (for messages that show the text already).
    pub fn reason(&self) -> String {
        match self {
            DecimalError::Invalid { reason, .. } => format!("is not a decimal number: {reason}"),
            DecimalError::TooPrecise { .. } => {
                "has more than 6 decimal places; quantities are exact to 0.000001 of a unit, so round it first".into()
            }
            DecimalError::OutOfRange { .. } => "is out of range: a quantity is at most ±9223372036854.775807".into(),
            DecimalError::BadScale { reason, .. } => format!("is not a usable scale: {reason}"),
        }
    }
}

/// An exact decimal: `mantissa × 10^-exp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub mantissa: i128,
    pub exp: u32,
}

fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Parses `[+|-]digits[.digits]` with no length limit (the caller enforces one where text comes
/// from a person). Returns `None`-like errors as reasons.
fn parse_decimal_unbounded(text: &str) -> Result<Decimal, DecimalError> {
    let invalid = |reason: &str| DecimalError::Invalid { text: cut(text), reason: reason.into() };
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        Some(_) => (false, text),
        None => return Err(invalid("it is empty")),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() {
        return Err(invalid("it needs a digit before the decimal point (write 0.5, not .5)"));
    }
    if frac_part == Some("") {
        return Err(invalid("it needs a digit after the decimal point (write 5 or 5.0, not 5.)"));
    }
    let frac = frac_part.unwrap_or("");
    if let Some(c) = int_part.chars().chain(frac.chars()).find(|c| !c.is_ascii_digit()) {
        return Err(invalid(&format!(
            "character {c:?} is not allowed: use digits, an optional sign and one decimal point \
             (no exponent, no thousands separators)"
        )));
    }
    let mut mantissa: i128 = 0;
    for d in int_part.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(d - b'0')))
            .ok_or_else(|| DecimalError::OutOfRange { text: cut(text) })?;
    }
    let exp = u32::try_from(frac.len()).map_err(|_| DecimalError::OutOfRange { text: cut(text) })?;
    Ok(Decimal { mantissa: if negative { -mantissa } else { mantissa }, exp })
}

/// Parses decimal text written by a person (config, import files, manual entry).
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    let t = text.trim();
    if t.len() > MAX_DECIMAL_TEXT_LEN {
        return Err(DecimalError::Invalid {
            text: cut(t),
            reason: format!("it is {} characters long, the limit is {MAX_DECIMAL_TEXT_LEN}", t.len()),
        });
    }
    parse_decimal_unbounded(t)
}

/// Drops trailing zero decimals: `12.500` → `12.5`.
fn normalize(mut d: Decimal) -> Decimal {
    while d.exp > 0 && d.mantissa % 10 == 0 {
        d.mantissa /= 10;
        d.exp -= 1;
    }
    d
}

/// `mantissa × 10^-exp` in micro-units, rounded to the nearest micro-unit, halves away from zero.
/// `None` on overflow of `i128`.
fn round_to_micros(d: Decimal) -> Option<i128> {
    if d.exp <= 6 {
        return d.mantissa.checked_mul(10i128.pow(6 - d.exp));
    }
    let shift = d.exp - 6;
    if shift > 38 {
        // |mantissa| < 1.8e38 < 0.5e39: rounds to zero.
        return Some(0);
    }
    let div = 10i128.pow(shift);
    let (q, r) = (d.mantissa / div, d.mantissa % div);
    if r.unsigned_abs() * 2 >= div.unsigned_abs() { Some(q + d.mantissa.signum()) } else { Some(q) }
}

/// Parses exact decimal text into a [`Quantity`]: `"12.5"` → 12 500 000 micro-units. Refuses more
/// than six non-zero decimals, exponents, separators and values beyond the `i64` range.
pub fn parse_quantity(text: &str) -> Result<Quantity, DecimalError> {
    let d = normalize(parse_decimal(text)?);
    if d.exp > 6 {
        return Err(DecimalError::TooPrecise { text: cut(text.trim()) });
    }
    let micros = round_to_micros(d).ok_or_else(|| DecimalError::OutOfRange { text: cut(text.trim()) })?;
    i64::try_from(micros).map(Quantity::from_micros).map_err(|_| DecimalError::OutOfRange { text: cut(text.trim()) })
}

/// Shortest exact decimal text of a quantity: `12.5`, `100`, `-0.000001`.
pub fn format_quantity(q: Quantity) -> String {
    let full = q.to_string(); // always six decimals
    let trimmed = full.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" { "0".into() } else { trimmed.into() }
}

/// Most zeros [`format_decimal`] writes between the decimal point and the digits. Decimal text is
/// at most [`MAX_DECIMAL_TEXT_LEN`] characters and a scale has at most [`MAX_SCALE_DECIMALS`]
/// decimals, so only a raw value with an absurd exponent has more; it is written `<digits>e-<exp>`
/// instead of (up to 4·10⁹) zeros.
const MAX_LEADING_ZEROS: usize = 64;

fn format_decimal(d: Decimal) -> String {
    let neg = d.mantissa < 0;
    let digits = d.mantissa.unsigned_abs().to_string();
    let exp = d.exp as usize;
    let body = if exp == 0 {
        digits
    } else if digits.len() > exp {
        format!("{}.{}", &digits[..digits.len() - exp], &digits[digits.len() - exp..])
    } else if exp - digits.len() <= MAX_LEADING_ZEROS {
        format!("0.{}{}", "0".repeat(exp - digits.len()), digits)
    } else {
        format!("{digits}e-{exp}")
    };
    if neg { format!("-{body}") } else { body }
}

/// A value as a device delivered it, before scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RawValue {
    /// An unsigned integer register (`u16`, `u32`, `u64`).
    Unsigned(u64),
    /// A signed integer register (`i16`, `i32`; two's complement).
    Signed(i64),
    /// An IEEE 754 single-precision register.
    F32(f32),
    /// An IEEE 754 double-precision register (also JSON numbers with a fraction).
    F64(f64),
    /// An exact decimal `mantissa × 10^-decimals` (DL/T 645 BCD values, decimal text in JSON).
    Decimal {
        /// The digits as an integer.
        mantissa: i128,
        /// How many of them are decimals.
        decimals: u32,
    },
}

impl fmt::Display for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawValue::Unsigned(v) => write!(f, "{v}"),
            RawValue::Signed(v) => write!(f, "{v}"),
            RawValue::F32(v) => write!(f, "{v} (f32 0x{:08X})", v.to_bits()),
            RawValue::F64(v) => write!(f, "{v} (f64 0x{:016X})", v.to_bits()),
            RawValue::Decimal { mantissa, decimals } => {
                f.write_str(&format_decimal(Decimal { mantissa: *mantissa, exp: *decimals }))
            }
        }
    }
}

impl RawValue {
    /// The exact decimal this value stands for (floats: their shortest decimal form).
    fn to_decimal(self) -> Result<Decimal, DriverError> {
        let not_finite = || DriverError::NotFinite { raw: self.to_string() };
        match self {
            RawValue::Unsigned(v) => Ok(Decimal { mantissa: i128::from(v), exp: 0 }),
            RawValue::Signed(v) => Ok(Decimal { mantissa: i128::from(v), exp: 0 }),
            RawValue::F32(v) if !v.is_finite() => Err(not_finite()),
            RawValue::F64(v) if !v.is_finite() => Err(not_finite()),
            // Rust prints floats in their shortest round-trip form, never with an exponent.
            RawValue::F32(v) => parse_decimal_unbounded(&v.to_string()).map_err(|_| self.overflow_unscaled()),
            RawValue::F64(v) => parse_decimal_unbounded(&v.to_string()).map_err(|_| self.overflow_unscaled()),
            RawValue::Decimal { mantissa, decimals } => Ok(Decimal { mantissa, exp: decimals }),
        }
    }

    fn overflow_unscaled(self) -> DriverError {
        DriverError::Overflow { raw: self.to_string(), scale: "1".into() }
    }
}

/// The factor from a raw register value to the point's unit: `value = raw × scale`. Written as
/// decimal text (`scale = "0.01"`), kept exactly; the default is 1. Must not be zero; at most
/// [`MAX_SCALE_DECIMALS`] decimals. A CT/PT ratio on a DL/T 645 meter is a scale too
/// (`scale = "200"`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Normalised: no trailing zero decimals, never zero.
    mantissa: i64,
    decimals: u32,
}

impl Default for Scale {
    fn default() -> Self {
        Scale::ONE
    }
}

impl Scale {
    /// The identity scale.
    pub const ONE: Scale = Scale { mantissa: 1, decimals: 0 };

    /// Parses decimal text such as `"0.01"`, `"1000"` or `"-1"`.
    pub fn parse(text: &str) -> Result<Scale, DecimalError> {
        let bad = |reason: String| DecimalError::BadScale { text: cut(text.trim()), reason };
        let d = normalize(parse_decimal(text)?);
        if d.mantissa == 0 {
            return Err(bad("it is zero, which would turn every reading into 0".into()));
        }
        if d.exp > MAX_SCALE_DECIMALS {
            return Err(bad(format!("it has {} decimal places, the limit is {MAX_SCALE_DECIMALS}", d.exp)));
        }
        let mantissa = i64::try_from(d.mantissa).map_err(|_| bad("it is too large".into()))?;
        Ok(Scale { mantissa, decimals: d.exp })
    }

    /// `mantissa × 10^-decimals`, exactly.
    pub fn from_parts(mantissa: i64, decimals: u32) -> Result<Scale, DecimalError> {
        Scale::parse(&format_decimal(Decimal { mantissa: i128::from(mantissa), exp: decimals }))
    }

    /// Scales a raw value into a quantity of the point's unit: exact for integers and decimals
    /// unless the product has more than six decimals, then rounded once to the nearest micro-unit
    /// (halves away from zero). Floats use their shortest decimal form. NaN, infinities and
    /// results beyond the `i64` range of micro-units are errors.
    pub fn apply(&self, raw: RawValue) -> Result<Quantity, DriverError> {
        let d = raw.to_decimal()?;
        let overflow = || DriverError::Overflow { raw: raw.to_string(), scale: self.to_string() };
        let product = d.mantissa.checked_mul(i128::from(self.mantissa)).ok_or_else(overflow)?;
        let exp = d.exp.checked_add(self.decimals).ok_or_else(overflow)?;
        let micros = round_to_micros(Decimal { mantissa: product, exp }).ok_or_else(overflow)?;
        i64::try_from(micros).map(Quantity::from_micros).map_err(|_| overflow())
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_decimal(Decimal { mantissa: i128::from(self.mantissa), exp: self.decimals }))
    }
}
impl fmt::Debug for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scale({self})")
    }
}
impl std::str::FromStr for Scale {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scale::parse(s)
    }
}

/// Accepts decimal text or an integer; refuses floats, which are not exact.
struct DecimalTextVisitor;

impl serde::de::Visitor<'_> for DecimalTextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("decimal text such as \"12.5\", or an integer")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!(
            "{v} is a floating-point number; write decimal values as quoted text (e.g. \"{v}\") so they stay exact"
        )))
    }
}

fn deserialize_decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(DecimalTextVisitor)
}

impl Serialize for Scale {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
impl<'de> Deserialize<'de> for Scale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = deserialize_decimal_text(d)?;
        Scale::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde form of a [`Quantity`] as exact decimal text (`"12.5"`); integers are read as whole units.
pub(crate) mod quantity_text {
    use super::*;

    pub fn serialize<S: Serializer>(q: &Quantity, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_quantity(*q))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Quantity, D::Error> {
        let text = deserialize_decimal_text(d)?;
        parse_quantity(&text).map_err(serde::de::Error::custom)
    }
}

/// [`quantity_text`] for optional fields (use with `default` and `skip_serializing_if`).
pub(crate) mod opt_quantity_text {
    use super::*;

    pub fn serialize<S: Serializer>(q: &Option<Quantity>, s: S) -> Result<S::Ok, S::Error> {
        match q {
            Some(q) => s.serialize_str(&format_quantity(*q)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Quantity>, D::Error> {
        quantity_text::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_text() {
        assert_eq!(parse_quantity("12.5").unwrap().micros(), 12_500_000);
        assert_eq!(parse_quantity(" -0.000001 ").unwrap().micros(), -1);
        assert_eq!(parse_quantity("+7").unwrap().micros(), 7_000_000);
        assert_eq!(parse_quantity("1.2300000000").unwrap().micros(), 1_230_000);
        assert_eq!(parse_quantity("9223372036854.775807").unwrap().micros(), i64::MAX);
        assert!(matches!(parse_quantity("9223372036854.775808"), Err(DecimalError::OutOfRange { .. })));
        assert!(matches!(parse_quantity("0.0000001"), Err(DecimalError::TooPrecise { .. })));
        for bad in ["", ".5", "5.", "1e3", "1,000", "12.5kWh", "--1", "0x10", "1.2.3"] {
            assert!(matches!(parse_quantity(bad), Err(DecimalError::Invalid { .. })), "{bad:?}");
        }
        assert_eq!(format_quantity(Quantity::from_micros(12_500_000)), "12.5");
        assert_eq!(format_quantity(Quantity::from_micros(-1)), "-0.000001");
        assert_eq!(format_quantity(Quantity::from_micros(0)), "0");
        assert_eq!(format_quantity(Quantity::from_micros(100_000_000)), "100");
    }

    #[test]
    fn scale_is_exact_and_rounds_once_beyond_micros() {
        let s = Scale::parse("0.01").unwrap();
        assert_eq!(s.to_string(), "0.01");
        assert_eq!(Scale::parse("0.0100").unwrap(), s);
        assert_eq!(s.apply(RawValue::Unsigned(123_456)).unwrap().micros(), 1_234_560_000);
        assert_eq!(s.apply(RawValue::Signed(-5)).unwrap().micros(), -50_000);
        // 0.0000001 × 15 = 0.0000015 → 0.000002 (half away from zero); negative likewise.
        let tiny = Scale::parse("0.0000001").unwrap();
        assert_eq!(tiny.apply(RawValue::Unsigned(15)).unwrap().micros(), 2);
        assert_eq!(tiny.apply(RawValue::Signed(-15)).unwrap().micros(), -2);
        assert_eq!(tiny.apply(RawValue::Unsigned(14)).unwrap().micros(), 1);
        // u64::MAX × 1 does not fit i64 micro-units.
        assert!(matches!(Scale::ONE.apply(RawValue::Unsigned(u64::MAX)), Err(DriverError::Overflow { .. })));
        // Floats: shortest form, then exact.
        assert_eq!(Scale::ONE.apply(RawValue::F32(f32::from_bits(0x4148_0000))).unwrap().micros(), 12_500_000);
        assert_eq!(Scale::ONE.apply(RawValue::F32(1234.56)).unwrap().micros(), 1_234_560_000);
        assert!(matches!(Scale::ONE.apply(RawValue::F32(f32::NAN)), Err(DriverError::NotFinite { .. })));
        assert!(matches!(Scale::ONE.apply(RawValue::F64(f64::INFINITY)), Err(DriverError::NotFinite { .. })));
        assert!(matches!(Scale::ONE.apply(RawValue::F64(1e300)), Err(DriverError::Overflow { .. })));
        assert_eq!(Scale::ONE.apply(RawValue::F64(5e-324)).unwrap().micros(), 0);
        assert!(Scale::parse("0").is_err());
        assert!(Scale::parse("0.0000000000000000001").is_err());
    }
}
