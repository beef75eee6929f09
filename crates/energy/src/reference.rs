//! Versioned, effective-dated, source-cited reference data (参考数据).
//!
//! Reference data is data, not code: every coefficient, yearly parameter, density and time-of-use
//! schedule lives in a TOML file under `crates/energy/data/`, is embedded at build time with
//! [`include_str!`], parsed once ([`LazyLock`]) and validated. A *reference set* is a named,
//! immutable collection of those files (listed in `data/reference-sets.toml`); every computed
//! figure names the set id that produced it (e.g. [`crate::coal::Conversion::reference`]).
//!
//! Released sets are frozen: a correction is a new set id with new files, never an edit (a test
//! pins every released file's digest). Each row keeps the confidence tag of `domain.md`
//! ([`Confidence`]) and its source.
//!
//! Decimal values are written as strings (`"0.1229"`) and parsed into an exact [`Decimal`]; no
//! floating point is involved anywhere.

use crate::tou::TouSchedule;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use trustmeter_types::{EnergyKind, Unit};

/// The newest built-in reference set id (最新参考数据版本).
pub const LATEST: &str = "cn-2026.1";

/// Path of the manifest, relative to `crates/energy/data/`.
pub const MANIFEST_PATH: &str = "reference-sets.toml";

/// Years a yearly parameter may name (validated at load).
pub const YEARS: std::ops::RangeInclusive<i32> = 1990..=2199;

// ---------------------------------------------------------------------------------------------
// Decimal
// ---------------------------------------------------------------------------------------------

/// An exact decimal number (精确十进制数): `mantissa × 10^-scale`, parsed from a string like
/// `"0.1229"` (mantissa 1229, scale 4).
///
/// The scale written in the source is kept (`"0.3000"` stays `0.3000`), so [`fmt::Display`]
/// round-trips the text. Equality (`==`) is therefore structural; compare values with
/// [`Decimal::value_cmp`]. Serialised with serde as a string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits as an integer, with the sign.
    pub mantissa: i128,
    /// Number of digits after the decimal point.
    pub scale: u32,
}

/// Why a decimal string was refused (十进制数格式错误).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not of the form `[-]digits[.digits]`.
    #[error("`{text}` is not a decimal number (expected [-]digits[.digits], e.g. \"0.1229\")")]
    Syntax {
        /// The refused text.
        text: String,
    },
    /// Too many digits or decimal places.
    #[error(
        "`{text}` has too many digits (at most {} significant digits and {} decimal places)",
        Decimal::MAX_DIGITS,
        Decimal::MAX_SCALE
    )]
    TooLong {
        /// The refused text.
        text: String,
    },
}

impl Decimal {
    /// At most this many digits after the decimal point.
    pub const MAX_SCALE: u32 = 18;
    /// At most this many digits in all.
    pub const MAX_DIGITS: usize = 30;
    /// Zero.
    pub const ZERO: Decimal = Decimal { mantissa: 0, scale: 0 };
    /// One.
    pub const ONE: Decimal = Decimal { mantissa: 1, scale: 0 };

    /// `mantissa × 10^-scale`.
    pub const fn new(mantissa: i128, scale: u32) -> Self {
        Decimal { mantissa, scale }
    }

    /// Parses `[-]digits[.digits]` (no exponent, no `+`, no separators, no surrounding space).
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let syntax = || DecimalError::Syntax { text: cut(text) };
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let digits_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok(int) || frac.is_some_and(|f| !digits_ok(f)) {
            return Err(syntax());
        }
        let frac = frac.unwrap_or("");
        if frac.len() > Self::MAX_SCALE as usize || int.len() + frac.len() > Self::MAX_DIGITS {
            return Err(DecimalError::TooLong { text: cut(text) });
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            // At most 30 digits: cannot overflow an i128.
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        Ok(Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale: frac.len() as u32 })
    }

    /// `10^scale`, if it fits an `i128`.
    pub fn pow10(scale: u32) -> Option<i128> {
        10i128.checked_pow(scale)
    }

    /// The sign: -1, 0 or 1.
    pub fn signum(self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// The exact product (scales add), or `None` on overflow.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.checked_add(other.scale)?;
        Decimal::pow10(scale)?;
        Some(Decimal { mantissa: self.mantissa.checked_mul(other.mantissa)?, scale })
    }

    /// Compares values (`0.30` equals `0.3000`).
    pub fn value_cmp(&self, other: &Decimal) -> Ordering {
        // Split into integer and fractional parts; both scales are small enough that the
        // fractional parts can be aligned without overflow for any parsed value.
        let (ia, fa) = split(*self);
        let (ib, fb) = split(*other);
        match ia.cmp(&ib) {
            Ordering::Equal => {}
            o => return o,
        }
        let s = self.scale.max(other.scale);
        let align = |f: i128, sc: u32| {
            Decimal::pow10(s - sc).and_then(|p| f.checked_mul(p)).unwrap_or(if f < 0 { i128::MIN } else { i128::MAX })
        };
        align(fa, self.scale).cmp(&align(fb, other.scale))
    }

    /// Rounds half to even to `scale` decimal places (exact when `scale` ≥ `self.scale`).
    pub fn round_half_even_to(self, scale: u32) -> Option<Decimal> {
        if scale >= self.scale {
            let p = Decimal::pow10(scale - self.scale)?;
            return Some(Decimal { mantissa: self.mantissa.checked_mul(p)?, scale });
        }
        let p = Decimal::pow10(self.scale - scale)?;
        Some(Decimal { mantissa: div_round_half_even(self.mantissa, p), scale })
    }

    /// The value in millionths (micro-units), rounded half to even; `None` if out of `i64`.
    pub fn to_micros(self) -> Option<i64> {
        i64::try_from(self.round_half_even_to(6)?.mantissa).ok()
    }
}

/// Integer part (truncated toward zero) and the signed remainder, in units of `10^-scale`.
fn split(d: Decimal) -> (i128, i128) {
    match Decimal::pow10(d.scale) {
        Some(p) => (d.mantissa / p, d.mantissa % p),
        // Scale beyond 38: the integer part is zero for any i128 mantissa.
        None => (0, d.mantissa),
    }
}

/// `n / d` rounded half to even (银行家舍入), for `d > 0`. The one rounding rule of this crate.
pub fn div_round_half_even(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d); // 0 <= r < d
    let rest = d - r;
    match r.cmp(&rest) {
        Ordering::Less => q,
        Ordering::Greater => q + 1,
        Ordering::Equal => q + (q & 1),
    }
}

fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded =
            if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number written as a string, e.g. \"0.1229\" (strings keep it exact)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Decimal::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/// Confidence tag of a reference row (置信度标签), as defined in `domain.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Confidence {
    /// `[S]` Sourced (有出处): the URL or document is given.
    #[serde(rename = "S")]
    Sourced,
    /// `[S2]` Secondary source (二手来源): vendor page, news, or a reproduction in open-source code.
    #[serde(rename = "S2")]
    Secondary,
    /// `[M]` Unverified background value (未核实): a placeholder until checked.
    #[serde(rename = "M")]
    Unverified,
    /// `[N]` Not found (未找到来源).
    #[serde(rename = "N")]
    NotFound,
}

impl Confidence {
    /// The tag as written in `domain.md` and the data files (`S`, `S2`, `M`, `N`).
    pub fn tag(self) -> &'static str {
        match self {
            Confidence::Sourced => "S",
            Confidence::Secondary => "S2",
            Confidence::Unverified => "M",
            Confidence::NotFound => "N",
        }
    }
}

/// A reference standard-coal coefficient (参考折标系数): kgce per `unit` of `kind`, GB/T 2589.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoalFactor {
    /// The energy or working medium (能源品种 / 耗能工质).
    pub kind: EnergyKind,
    /// The unit the coefficient is per (计量单位), written as its symbol (`kWh`, `kg`, `Nm3`, …).
    #[serde(with = "unit_symbol")]
    pub unit: Unit,
    /// Coefficient (折标系数), kgce per `unit`.
    pub coefficient: Decimal,
    /// Average low heating value (平均低位发热量), kJ per `unit`, when the source gives one.
    #[serde(default)]
    pub lhv_kj: Option<Decimal>,
    /// Other units read one-for-one as `unit` for this row only, each justified in `notes`
    /// (e.g. fresh water: 1 m³ = 1 t). A unit not listed here is never silently equated.
    #[serde(default, with = "unit_symbols")]
    pub same_as: Vec<Unit>,
    /// Source: URL or document (出处).
    pub source: String,
    /// Confidence tag (置信度).
    pub confidence: Confidence,
    /// Caveats, alternatives and conflicts (备注).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The electricity equal-value coefficient (电力等价值) for one accounting year: the national
/// average power-supply coal consumption (供电标准煤耗) of the previous year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EqualValueYear {
    /// The accounting year the value applies to.
    pub year: i32,
    /// Equal value (等价值), kgce per kWh.
    pub kgce_per_kwh: Decimal,
    /// Source (出处).
    pub source: String,
    /// Confidence tag (置信度).
    pub confidence: Confidence,
    /// Caveats (备注).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Density of a liquid fuel (油品密度), to convert litres to kilograms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Density {
    /// The fuel.
    pub kind: EnergyKind,
    /// Density (密度), kg per litre.
    pub kg_per_litre: Decimal,
    /// Source (出处).
    pub source: String,
    /// Confidence tag (置信度).
    pub confidence: Confidence,
    /// Caveats (备注).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A named, immutable, effective-dated reference data set (参考数据集).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReferenceSet {
    /// Set id (版本号), e.g. `cn-2026.1`; named by every figure computed with it.
    pub id: String,
    /// Human title.
    pub title: String,
    /// First day (Asia/Shanghai, `YYYY-MM-DD`) the set's standards apply (生效日期).
    pub valid_from: String,
    /// Last day the set applies (失效日期, inclusive), `None` while current.
    pub valid_to: Option<String>,
    /// Standard-coal coefficients (折标系数).
    pub coal: Vec<CoalFactor>,
    /// Yearly electricity equal-value coefficients (电力等价值).
    pub electricity_equal_value: Vec<EqualValueYear>,
    /// Time-of-use schedules (分时电价时段).
    pub tou: Vec<TouSchedule>,
    /// Liquid-fuel densities (油品密度), kg per litre.
    pub densities: Vec<Density>,
    /// Set-level notes: scope, conflicts, how values were chosen.
    pub notes: Vec<String>,
    /// The data files the set was built from (paths under `data/`).
    pub files: Vec<String>,
}

impl ReferenceSet {
    /// The coefficient row for exactly `kind` per `unit`.
    pub fn factor(&self, kind: EnergyKind, unit: Unit) -> Option<&CoalFactor> {
        self.coal.iter().find(|f| f.kind == kind && f.unit == unit)
    }
    /// All coefficient rows for `kind`.
    pub fn factors(&self, kind: EnergyKind) -> impl Iterator<Item = &CoalFactor> {
        self.coal.iter().filter(move |f| f.kind == kind)
    }
    /// The equal-value row for `year`.
    pub fn equal_value(&self, year: i32) -> Option<&EqualValueYear> {
        self.electricity_equal_value.iter().find(|e| e.year == year)
    }
    /// The density of `kind`.
    pub fn density(&self, kind: EnergyKind) -> Option<&Density> {
        self.densities.iter().find(|d| d.kind == kind)
    }
    /// Whether the set applies on local date `date` (`YYYY-MM-DD`).
    pub fn covers(&self, date: &str) -> bool {
        self.valid_from.as_str() <= date && self.valid_to.as_deref().is_none_or(|to| date <= to)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and loading
// ---------------------------------------------------------------------------------------------

/// Why reference data was refused (参考数据校验失败).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The file is not valid TOML for its kind.
    #[error("reference data file `{file}`: {message}")]
    Toml {
        /// Path under `data/`.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// The file parsed but a rule is broken.
    #[error("reference data file `{file}`: {what}")]
    Invalid {
        /// Path under `data/`.
        file: String,
        /// What is wrong, naming the row.
        what: String,
    },
    /// The manifest names a file that is not embedded.
    #[error("reference set `{set}` names `{file}`, which is not an embedded data file")]
    MissingFile {
        /// The set id.
        set: String,
        /// The missing path.
        file: String,
    },
}

pub(crate) fn invalid(file: &str, what: impl Into<String>) -> ReferenceError {
    ReferenceError::Invalid { file: file.to_string(), what: what.into() }
}

fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, ReferenceError> {
    toml::from_str(text).map_err(|e| ReferenceError::Toml { file: file.to_string(), message: e.to_string() })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    set: Vec<SetEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetEntry {
    id: String,
    title: String,
    valid_from: String,
    #[serde(default)]
    valid_to: Option<String>,
    coal: String,
    equal_value: String,
    densities: String,
    #[serde(default)]
    tou: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CoalFile {
    standard: String,
    factor: Vec<CoalFactor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EqualValueFile {
    year: Vec<EqualValueYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DensityFile {
    density: Vec<Density>,
}

/// Parses and validates a manifest and its files (`(path under data/, contents)`), returning the
/// sets in manifest order. The built-in sets are loaded this way; tests feed malformed files.
pub fn load(manifest: &str, files: &[(&str, &str)]) -> Result<Vec<ReferenceSet>, ReferenceError> {
    let m: Manifest = parse_toml(MANIFEST_PATH, manifest)?;
    let mut ids = BTreeSet::new();
    let mut sets = Vec::with_capacity(m.set.len());
    for e in m.set {
        if !is_set_id(&e.id) {
            return Err(invalid(MANIFEST_PATH, format!("set id `{}` must be [a-z0-9.-]+", e.id)));
        }
        if !ids.insert(e.id.clone()) {
            return Err(invalid(MANIFEST_PATH, format!("set id `{}` appears twice", e.id)));
        }
        check_date(MANIFEST_PATH, &e.valid_from, &format!("set `{}` valid_from", e.id))?;
        if let Some(to) = &e.valid_to {
            check_date(MANIFEST_PATH, to, &format!("set `{}` valid_to", e.id))?;
            if to.as_str() < e.valid_from.as_str() {
                return Err(invalid(MANIFEST_PATH, format!("set `{}` ends before it starts", e.id)));
            }
        }
        let get = |path: &str| {
            files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, text)| *text)
                .ok_or_else(|| ReferenceError::MissingFile { set: e.id.clone(), file: path.to_string() })
        };
        let coal = parse_coal(&e.coal, get(&e.coal)?)?;
        let electricity_equal_value = parse_equal_value(&e.equal_value, get(&e.equal_value)?)?;
        let densities = parse_densities(&e.densities, get(&e.densities)?)?;
        let mut tou = Vec::new();
        for path in &e.tou {
            tou.extend(crate::tou::parse_schedules(path, get(path)?)?);
        }
        crate::tou::check_no_overlap(&e.id, &tou)?;
        let mut used = vec![e.coal.clone(), e.equal_value.clone(), e.densities.clone()];
        used.extend(e.tou.iter().cloned());
        sets.push(ReferenceSet {
            id: e.id,
            title: e.title,
            valid_from: e.valid_from,
            valid_to: e.valid_to,
            coal,
            electricity_equal_value,
            tou,
            densities,
            notes: e.notes,
            files: used,
        });
    }
    Ok(sets)
}

fn is_set_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

fn require_text(file: &str, what: &str, s: &str) -> Result<(), ReferenceError> {
    if s.trim().is_empty() {
        return Err(invalid(file, format!("{what}: `source` must name a URL or document")));
    }
    Ok(())
}

/// Parses and validates one coefficient file (`[[factor]]` rows).
pub fn parse_coal(file: &str, text: &str) -> Result<Vec<CoalFactor>, ReferenceError> {
    let f: CoalFile = parse_toml(file, text)?;
    if f.standard.trim().is_empty() {
        return Err(invalid(file, "`standard` must name the standard, e.g. \"GB/T 2589-2020\""));
    }
    let mut seen = BTreeSet::new();
    for r in &f.factor {
        let row = format!("factor {:?} per {}", r.kind, r.unit.symbol());
        require_text(file, &row, &r.source)?;
        if r.unit.is_rate() || r.same_as.iter().any(|u| u.is_rate()) {
            return Err(invalid(file, format!("{row}: a rate (kW, t/h) is not an amount")));
        }
        if r.coefficient.signum() <= 0 {
            return Err(invalid(file, format!("{row}: coefficient must be positive")));
        }
        if r.lhv_kj.is_some_and(|l| l.signum() <= 0) {
            return Err(invalid(file, format!("{row}: lhv_kj must be positive")));
        }
        for u in std::iter::once(r.unit).chain(r.same_as.iter().copied()) {
            if !seen.insert((r.kind, u)) {
                return Err(invalid(file, format!("{row}: kind {:?} per {} is defined twice", r.kind, u.symbol())));
            }
        }
        if !r.same_as.is_empty() && r.notes.is_empty() {
            return Err(invalid(file, format!("{row}: `same_as` needs a note justifying the equivalence")));
        }
    }
    Ok(f.factor)
}

/// Parses and validates one yearly equal-value file (`[[year]]` rows).
pub fn parse_equal_value(file: &str, text: &str) -> Result<Vec<EqualValueYear>, ReferenceError> {
    let f: EqualValueFile = parse_toml(file, text)?;
    let mut seen = BTreeSet::new();
    for r in &f.year {
        let row = format!("year {}", r.year);
        require_text(file, &row, &r.source)?;
        if !YEARS.contains(&r.year) {
            return Err(invalid(file, format!("{row}: outside {}..={}", YEARS.start(), YEARS.end())));
        }
        if !seen.insert(r.year) {
            return Err(invalid(file, format!("{row} appears twice")));
        }
        if r.kgce_per_kwh.signum() <= 0 {
            return Err(invalid(file, format!("{row}: kgce_per_kwh must be positive")));
        }
    }
    Ok(f.year)
}

/// Parses and validates one density file (`[[density]]` rows).
pub fn parse_densities(file: &str, text: &str) -> Result<Vec<Density>, ReferenceError> {
    let f: DensityFile = parse_toml(file, text)?;
    let mut seen = BTreeSet::new();
    for r in &f.density {
        let row = format!("density of {:?}", r.kind);
        require_text(file, &row, &r.source)?;
        if !seen.insert(r.kind) {
            return Err(invalid(file, format!("{row} appears twice")));
        }
        if r.kg_per_litre.signum() <= 0 {
            return Err(invalid(file, format!("{row}: kg_per_litre must be positive")));
        }
    }
    Ok(f.density)
}

/// Checks a strict `YYYY-MM-DD` calendar date.
pub(crate) fn check_date(file: &str, date: &str, what: &str) -> Result<(), ReferenceError> {
    if parse_date(date).is_none() {
        return Err(invalid(file, format!("{what}: `{date}` is not a YYYY-MM-DD calendar date")));
    }
    Ok(())
}

/// `(year, month, day)` of a strict `YYYY-MM-DD` date.
pub(crate) fn parse_date(date: &str) -> Option<(i32, u32, u32)> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &date[r];
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok()).flatten()
    };
    let (y, m, d) = (num(0..4)? as i32, num(5..7)?, num(8..10)?);
    let (y2, m2, d2) = civil_from_days(days_from_civil(y, m, d));
    ((y2, m2, d2) == (y, m, d) && (1..=12).contains(&m) && d >= 1).then_some((y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32, m, d)
}

// ---------------------------------------------------------------------------------------------
// Built-in sets
// ---------------------------------------------------------------------------------------------

const MANIFEST: &str = include_str!("../data/reference-sets.toml");

/// Every embedded data file: `(path under data/, contents)`. The manifest is `reference-sets.toml`.
const FILES: &[(&str, &str)] = &[
    (MANIFEST_PATH, MANIFEST),
    ("coal/gb-t-2589-2020.toml", include_str!("../data/coal/gb-t-2589-2020.toml")),
    ("coal/gb-t-2589-2008.toml", include_str!("../data/coal/gb-t-2589-2008.toml")),
    ("electricity/equal-value-2020-2026.toml", include_str!("../data/electricity/equal-value-2020-2026.toml")),
    ("densities/liquid-fuels.toml", include_str!("../data/densities/liquid-fuels.toml")),
    ("tou/hunan.toml", include_str!("../data/tou/hunan.toml")),
    ("tou/shanghai.toml", include_str!("../data/tou/shanghai.toml")),
    ("tou/zhejiang.toml", include_str!("../data/tou/zhejiang.toml")),
    ("tou/jiangsu.toml", include_str!("../data/tou/jiangsu.toml")),
    ("tou/beijing.toml", include_str!("../data/tou/beijing.toml")),
];

static BUILTIN: LazyLock<Vec<ReferenceSet>> =
    LazyLock::new(|| load(MANIFEST, FILES).unwrap_or_else(|e| panic!("built-in reference data is invalid: {e}")));

/// The built-in set with this id (内置参考数据集).
pub fn builtin(id: &str) -> Option<&'static ReferenceSet> {
    BUILTIN.iter().find(|s| s.id == id)
}

/// Ids of the built-in sets, in manifest order.
pub fn builtin_ids() -> Vec<&'static str> {
    BUILTIN.iter().map(|s| s.id.as_str()).collect()
}

/// The embedded data files, `(path under data/, contents)`, manifest included: for audits (the
/// exact bytes behind a set id) and tests.
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    FILES
}

// ---------------------------------------------------------------------------------------------
// Unit symbols in data files
// ---------------------------------------------------------------------------------------------

mod unit_symbol {
    use super::*;
    pub fn serialize<S: Serializer>(u: &Unit, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(u.symbol())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Unit, D::Error> {
        let s = String::deserialize(d)?;
        from_symbol(&s)
    }
    pub(super) fn from_symbol<E: de::Error>(s: &str) -> Result<Unit, E> {
        Unit::from_symbol(s).ok_or_else(|| {
            let known: Vec<&str> = Unit::ALL.iter().map(|u| u.symbol()).collect();
            E::custom(format!("unknown unit `{s}` (one of {})", known.join(", ")))
        })
    }
}

mod unit_symbols {
    use super::*;
    pub fn serialize<S: Serializer>(us: &[Unit], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(us.iter().map(|u| u.symbol()))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Unit>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|s| unit_symbol::from_symbol(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parses_and_displays_exactly() {
        for s in ["0.1229", "0.3000", "94.1", "-0.5", "29307.6", "1", "0.000001", "123456789012345678.5"] {
            assert_eq!(Decimal::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Decimal::parse("0.1229").unwrap(), Decimal::new(1229, 4));
        for bad in ["", ".5", "5.", "+1", "1e3", " 1", "1,5", "--1", "0x10", "1.2.3"] {
            assert!(Decimal::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Decimal::parse("1.0000000000000000001"), Err(DecimalError::TooLong { .. })));
    }

    #[test]
    fn decimal_compares_by_value_and_rounds_half_even() {
        let d = |s| Decimal::parse(s).unwrap();
        assert_eq!(d("0.30").value_cmp(&d("0.3000")), Ordering::Equal);
        assert_eq!(d("-0.31").value_cmp(&d("-0.3")), Ordering::Less);
        assert_eq!(d("2").value_cmp(&d("1.999999999")), Ordering::Greater);
        assert_eq!(d("0.0000025").to_micros(), Some(2));
        assert_eq!(d("0.0000035").to_micros(), Some(4));
        assert_eq!(d("-0.0000025").to_micros(), Some(-2));
        assert_eq!(d("-0.0000035").to_micros(), Some(-4));
        assert_eq!(d("1.2345675").round_half_even_to(6).unwrap().to_string(), "1.234568");
        assert_eq!(div_round_half_even(-7, 2), -4);
        assert_eq!(div_round_half_even(7, 2), 4);
        assert_eq!(div_round_half_even(5, 2), 2);
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert!(parse_date("2026-02-29").is_none());
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2026-13-01").is_none());
        assert!(parse_date("2026-1-01").is_none());
    }
}
