//! What-if scenarios for reduction paths (减排路径模拟): the activity data of a period as they
//! would be under a plan, and the totals of a year with and without it.
//!
//! A [`Scenario`] is a plan in four kinds of measures: efficiency gains (节能改造) on purchased
//! electricity, purchased heat or a fuel; fuel switches (燃料替代), including electrification
//! (电能替代); a share of purchased electricity covered by green power (绿电); and extra green
//! certificates (绿证). [`apply`] turns one period's [`Activity`] into the scenario's;
//! [`evaluate`] computes a year's periods both ways and sums the [`Totals`].
//!
//! **Order.** The measures apply in a fixed order, so a scenario has one result:
//!
//! 1. efficiency gains, in list order (two gains on one target compound: 10 % then 10 % is 19 %);
//! 2. fuel switches, in list order (see below);
//! 3. the green-power share;
//! 4. the extra certificates.
//!
//! So a gain on `electricity` does not apply to the electricity an electrification adds (that is
//! new equipment, its efficiency is its own [`FuelSwitch::efficiency_ratio`]), and the green share
//! covers the electricity after gains and switches.
//!
//! **Efficiency gains.** A gain `g` (0 ≤ g < 1) multiplies the target by 1 − g: `electricity`
//! multiplies purchased electricity (exports are generation, not consumption, and are left alone;
//! the green MWh already claimed are capped to the new purchased amount), `heat` purchased heat,
//! a fuel id the amount of every entry of that fuel (measured NCV and carbon content stay).
//!
//! **Fuel switches.** A switch moves `share` of fuel `from`'s energy to `to`. The share is of the
//! amount after gains and before any switch, so two switches of 50 % from one fuel move all of it,
//! whatever their order; the shares from one fuel sum to at most 1, and a fuel switched to is
//! never switched from (no chains). The energy moved is the amount moved × the entry's NCV (its
//! measured NCV if the entry has one, else the methodology's default); what remains of an entry
//! keeps its measurements. The energy becomes an amount of `to` at `to`'s default NCV (a new
//! supply has no lab report yet): it is added to the first entry of `to` without measurements, or
//! becomes a new entry. `to = "electricity"` is electrification: the energy becomes purchased
//! electricity, energy ÷ 3.6 GJ/MWh ÷ [`FuelSwitch::efficiency_ratio`]. The ratio is the useful
//! energy the new electric equipment delivers per unit of energy it uses, relative to the fuel
//! equipment it replaces: 1 (the default) moves energy for energy; a heat pump replacing a boiler
//! might be 3 (one MWh of electricity does the work of three of fuel). Only electrification takes
//! a ratio; a fuel-to-fuel switch moves energy for energy.
//!
//! **Green power and certificates.** The share `s` sets green = max(green, s × purchased): it
//! never reduces what is already claimed. Certificates add to green, up to purchased (a
//! certificate beyond the period's purchased electricity covers nothing). Both change only
//! `electricity.green`, which the shipped methodologies read in the market-based source alone: the
//! location-based figure and the standard's stay (GHG Protocol Scope 2 Guidance; GB/T 32150 nets
//! exports, not certificates).
//!
//! **Numbers.** Exact decimals throughout (checked: an overflow is an error, never a panic). Every
//! amount a measure computes is rounded once, half to even, to [`DECIMALS`] places (a gram of a
//! fuel in t, 0.01 Nm³ of a gas in 10⁴ Nm³, a watt-hour in MWh, a kilojoule in GJ), far below
//! what any meter or invoice resolves; amounts a measure does not change are left exactly as
//! given, so an empty scenario gives back the activity unchanged. A zero gain or share changes
//! nothing. The result passes [`Activity::check`] (it is checked, and refused otherwise).
//!
//! **A year.** [`evaluate`] applies the scenario to each period; the ratios (gains, shares) apply
//! to every period, and `extra_certificates_mwh` is the certificates for all the periods given,
//! allocated in the order given, each period taking what its uncovered electricity can use (a
//! certificate counts once; the periods are of one reporting year). What no period could use is
//! reported as [`Outcome::certificates_unused_mwh`].
//!
//! Decimals are written as strings in the serde form (`"0.5"`, as in methodology documents) and
//! read exactly: a value with more digits than a decimal holds is refused, not rounded. (The form
//! of rust_decimal's `serde-str`, without that feature: it would change `Decimal`'s serde form for
//! every crate of a build, and it rounds what it cannot hold.)

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::activity::{Activity, FuelUse};
use crate::compute::{ComputeError, Totals, compute};
use crate::document::{Fuel, Methodology};
use crate::units::Unit;

/// Most efficiency gains in one scenario.
pub const MAX_GAINS: usize = 32;
/// Most fuel switches in one scenario.
pub const MAX_SWITCHES: usize = 32;
/// Most periods [`evaluate`] sums: a year of months.
pub const MAX_PERIODS: usize = 12;
/// Decimal places of the amounts a scenario computes (rounded half to even).
pub const DECIMALS: u32 = 6;
/// The efficiency target and switch destination that names purchased electricity.
pub const ELECTRICITY: &str = "electricity";
/// The efficiency target that names purchased heat.
pub const HEAT: &str = "heat";

/// GJ per MWh (1 MWh = 3.6 GJ).
pub fn gj_per_mwh() -> Decimal {
    Decimal::new(36, 1)
}

/// Largest [`FuelSwitch::efficiency_ratio`] (the best heat pumps reach about 6).
pub fn max_efficiency_ratio() -> Decimal {
    Decimal::from(10)
}

/// A plan of reduction measures (减排情景), applied in the module's fixed order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Share (0 to 1) of purchased grid electricity covered by green power or certificates
    /// (绿电/绿证比例): green = max(green already claimed, share × purchased).
    #[serde(default, with = "dec_opt", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "0.5"))]
    pub green_power_share: Option<Decimal>,
    /// Extra green certificates bought (绿证), MWh, added to green up to purchased. For
    /// [`evaluate`], the certificates of all the periods together.
    #[serde(default, with = "dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0"))]
    pub extra_certificates_mwh: Decimal,
    /// Efficiency gains (节能改造), at most [`MAX_GAINS`].
    #[serde(default)]
    pub efficiency: Vec<EfficiencyGain>,
    /// Fuel switches (燃料替代/电能替代), at most [`MAX_SWITCHES`].
    #[serde(default)]
    pub fuel_switch: Vec<FuelSwitch>,
}

/// An efficiency gain: the target's quantity falls by `gain`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyGain {
    /// `electricity` (purchased), `heat` (purchased), or a fuel id of the methodology (these two
    /// words name electricity and heat even if a methodology had fuels so named).
    pub target: String,
    /// The fraction saved, 0 ≤ gain < 1.
    #[serde(with = "dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0.1"))]
    pub gain: Decimal,
}

/// A fuel switch: `share` of fuel `from`'s energy moves to fuel `to`, or to electricity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuelSwitch {
    /// The fuel replaced, a fuel id of the methodology.
    pub from: String,
    /// The fuel that replaces it, a fuel id of the methodology, or `electricity`.
    pub to: String,
    /// The share of `from`'s energy moved, 0 to 1.
    #[serde(with = "dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0.5"))]
    pub share: Decimal,
    /// Electrification only: useful energy of the electric equipment per unit of energy used,
    /// relative to the fuel equipment it replaces (0 < ratio ≤ [`max_efficiency_ratio`]; 1 by
    /// default; a heat pump replacing a boiler might be 3). Electricity = energy ÷ 3.6 ÷ ratio.
    #[serde(default = "one", with = "dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1"))]
    pub efficiency_ratio: Decimal,
}

fn one() -> Decimal {
    Decimal::ONE
}

/// Why a scenario could not be applied or evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// A number out of its range.
    #[error("{what} is {value}, it must be in {range}")]
    OutOfRange {
        /// Which number (`fuel_switch[0].share`).
        what: String,
        /// Its value.
        value: Decimal,
        /// The range allowed (`[0, 1]`).
        range: &'static str,
    },
    /// Too many measures or periods.
    #[error("{count} {what}, at most {max}")]
    TooMany {
        /// What there are too many of.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A fuel (or efficiency target) the methodology does not know.
    #[error("{at}: `{fuel}` is not a fuel of methodology {methodology}{hint}")]
    UnknownFuel {
        /// Where it is named (`efficiency[2].target`).
        at: String,
        /// The name.
        fuel: String,
        /// The methodology, `id vN`.
        methodology: String,
        /// What else the field accepts.
        hint: &'static str,
    },
    /// A fuel switch that cannot be made.
    #[error("fuel_switch[{index}]: {reason}")]
    Switch {
        /// The switch's position.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The activity data given are refused.
    #[error("activity data: {0}")]
    Activity(String),
    /// The scenario's activity data are refused (too many fuel entries).
    #[error("the scenario's activity data: {0}")]
    Result(String),
    /// A figure out of the range of exact decimals or of the totals.
    #[error("{0}: out of range")]
    Overflow(String),
    /// The periods of an evaluation do not make a year.
    #[error("periods: {0}")]
    Periods(String),
    /// A period failed.
    #[error("period {index}: {error}")]
    Period {
        /// The period's position in the list given.
        index: usize,
        /// Why.
        error: Box<ScenarioError>,
    },
    /// An evaluation failed.
    #[error("{0}")]
    Compute(ComputeError),
}

/// A year's totals without and with a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Σ over the periods of the totals of the activity data as given (基准).
    pub baseline: Totals,
    /// Σ over the periods of the totals of the scenario's activity data (情景).
    pub scenario: Totals,
    /// Extra certificates no period could use (its purchased electricity was covered already), MWh.
    pub certificates_unused_mwh: Decimal,
}

fn round(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(DECIMALS, RoundingStrategy::MidpointNearestEven)
}

fn range_err(what: String, value: Decimal, range: &'static str) -> ScenarioError {
    ScenarioError::OutOfRange { what, value, range }
}

/// `[0, 1]`.
fn share(what: String, v: Decimal) -> Result<(), ScenarioError> {
    if v < Decimal::ZERO || v > Decimal::ONE { Err(range_err(what, v, "[0, 1]")) } else { Ok(()) }
}

impl Scenario {
    /// Whether the scenario can be applied with methodology `m`: limits, ranges, fuels known,
    /// switches consistent (shares from one fuel sum to at most 1, no chains, units that convert).
    pub fn check(&self, m: &Methodology) -> Result<(), ScenarioError> {
        let named = format!("{} v{}", m.id, m.version);
        if self.efficiency.len() > MAX_GAINS {
            return Err(ScenarioError::TooMany {
                what: "efficiency gains",
                count: self.efficiency.len(),
                max: MAX_GAINS,
            });
        }
        if self.fuel_switch.len() > MAX_SWITCHES {
            return Err(ScenarioError::TooMany {
                what: "fuel switches",
                count: self.fuel_switch.len(),
                max: MAX_SWITCHES,
            });
        }
        if let Some(s) = self.green_power_share {
            share("green_power_share".into(), s)?;
        }
        if self.extra_certificates_mwh < Decimal::ZERO {
            return Err(range_err("extra_certificates_mwh".into(), self.extra_certificates_mwh, "[0, ∞)"));
        }
        for (i, g) in self.efficiency.iter().enumerate() {
            if g.target != ELECTRICITY && g.target != HEAT && !m.fuels.contains_key(&g.target) {
                return Err(ScenarioError::UnknownFuel {
                    at: format!("efficiency[{i}].target"),
                    fuel: g.target.clone(),
                    methodology: named,
                    hint: " (nor `electricity` or `heat`)",
                });
            }
            if g.gain < Decimal::ZERO || g.gain >= Decimal::ONE {
                return Err(range_err(format!("efficiency[{i}].gain"), g.gain, "[0, 1)"));
            }
        }
        let gj = Unit::symbol("GJ").expect("GJ is a unit symbol");
        let mut shares: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut froms = BTreeSet::new();
        let mut tos = BTreeSet::new();
        for (i, s) in self.fuel_switch.iter().enumerate() {
            let known = |at: &str, fuel: &str, hint: &'static str| -> Result<&Fuel, ScenarioError> {
                m.fuels.get(fuel).ok_or_else(|| ScenarioError::UnknownFuel {
                    at: format!("fuel_switch[{i}].{at}"),
                    fuel: fuel.to_string(),
                    methodology: named.clone(),
                    hint,
                })
            };
            let from = known("from", &s.from, "")?;
            let to = if s.to == ELECTRICITY { None } else { Some(known("to", &s.to, " (nor `electricity`)")?) };
            share(format!("fuel_switch[{i}].share"), s.share)?;
            if s.from == s.to {
                return Err(ScenarioError::Switch { index: i, reason: format!("`{}` is switched to itself", s.from) });
            }
            match to {
                None => {
                    if s.efficiency_ratio <= Decimal::ZERO || s.efficiency_ratio > max_efficiency_ratio() {
                        return Err(range_err(
                            format!("fuel_switch[{i}].efficiency_ratio"),
                            s.efficiency_ratio,
                            "(0, 10]",
                        ));
                    }
                }
                Some(_) if s.efficiency_ratio != Decimal::ONE => {
                    return Err(ScenarioError::Switch {
                        index: i,
                        reason: format!(
                            "efficiency_ratio {} applies to electrification only; a fuel switch moves energy for energy",
                            s.efficiency_ratio
                        ),
                    });
                }
                Some(_) => {}
            }
            // Amount × NCV must be GJ, and GJ ÷ the new fuel's NCV an amount in its unit.
            for f in std::iter::once(from).chain(to) {
                if f.unit.mul(&f.ncv.unit).as_ref() != Some(&gj) {
                    return Err(ScenarioError::Switch {
                        index: i,
                        reason: format!("the NCV of `{}` is in {}, not GJ per {}", f.id, f.ncv.unit, f.unit),
                    });
                }
            }
            let sum = shares.entry(s.from.as_str()).or_insert(Decimal::ZERO);
            *sum = sum.checked_add(s.share).ok_or_else(|| ScenarioError::Overflow("fuel_switch shares".into()))?;
            share(format!("the sum of fuel_switch shares from `{}`", s.from), *sum)?;
            froms.insert(s.from.as_str());
            if to.is_some() {
                tos.insert(s.to.as_str());
            }
        }
        if let Some(f) = froms.intersection(&tos).next() {
            let index = self.fuel_switch.iter().position(|s| s.from == *f).unwrap_or(0);
            return Err(ScenarioError::Switch {
                index,
                reason: format!("`{f}` is both switched from and switched to; chains of switches are refused"),
            });
        }
        Ok(())
    }
}

/// The activity data `a` under scenario `s`, with methodology `m` (whose fuels and NCVs the
/// scenario reads). The scenario's `extra_certificates_mwh` all apply to this one period.
pub fn apply(m: &Methodology, a: &Activity, s: &Scenario) -> Result<Activity, ScenarioError> {
    s.check(m)?;
    Ok(apply_checked(m, a, s, s.extra_certificates_mwh)?.0)
}

/// [`apply`] of a checked scenario with `certificates` MWh of certificates available; returns the
/// activity and the certificates it used.
fn apply_checked(
    m: &Methodology,
    a: &Activity,
    s: &Scenario,
    certificates: Decimal,
) -> Result<(Activity, Decimal), ScenarioError> {
    a.check(m).map_err(ScenarioError::Activity)?;
    let mut b = a.clone();
    let mul = |x: Decimal, k: Decimal, at: &dyn Fn() -> String| -> Result<Decimal, ScenarioError> {
        x.checked_mul(k).map(round).ok_or_else(|| ScenarioError::Overflow(at()))
    };

    // 1. Efficiency gains.
    for (i, g) in s.efficiency.iter().enumerate() {
        if g.gain.is_zero() {
            continue;
        }
        let keep = Decimal::ONE - g.gain;
        let at = || format!("efficiency[{i}]");
        match g.target.as_str() {
            ELECTRICITY => {
                b.electricity.purchased = mul(b.electricity.purchased, keep, &at)?;
                b.electricity.green = b.electricity.green.min(b.electricity.purchased);
            }
            HEAT => b.heat.purchased = mul(b.heat.purchased, keep, &at)?,
            fuel => {
                for u in b.fuels.iter_mut().filter(|u| u.fuel == fuel) {
                    u.amount = mul(u.amount, keep, &at)?;
                }
            }
        }
    }

    // 2. Fuel switches: shares of the amounts after gains, cumulated per fuel, so what remains
    // only falls and what moves is never negative, whatever the rounding.
    let bases: Vec<Decimal> = b.fuels.iter().map(|u| u.amount).collect();
    let mut switched: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (i, sw) in s.fuel_switch.iter().enumerate() {
        if sw.share.is_zero() {
            continue;
        }
        let at = || format!("fuel_switch[{i}]");
        let overflow = || ScenarioError::Overflow(at());
        let cumulated = switched.entry(sw.from.as_str()).or_insert(Decimal::ZERO);
        *cumulated += sw.share; // at most 1: checked
        let keep = Decimal::ONE - *cumulated;
        let default_ncv = m.fuels[&sw.from].ncv.value;
        let mut energy = Decimal::ZERO; // GJ
        for (u, base) in b.fuels.iter_mut().zip(&bases).filter(|(u, _)| u.fuel == sw.from) {
            let remaining = mul(*base, keep, &at)?.min(u.amount);
            let moved = u.amount - remaining;
            let ncv = u.ncv.as_ref().map_or(default_ncv, |ms| ms.value);
            energy = moved.checked_mul(ncv).and_then(|e| energy.checked_add(e)).ok_or_else(overflow)?;
            u.amount = remaining;
        }
        if energy.is_zero() {
            continue;
        }
        if sw.to == ELECTRICITY {
            let per_mwh = gj_per_mwh().checked_mul(sw.efficiency_ratio).ok_or_else(overflow)?;
            let mwh = energy.checked_div(per_mwh).map(round).ok_or_else(overflow)?;
            b.electricity.purchased = b.electricity.purchased.checked_add(mwh).ok_or_else(overflow)?;
            continue;
        }
        let amount = energy.checked_div(m.fuels[&sw.to].ncv.value).map(round).ok_or_else(overflow)?;
        if amount.is_zero() {
            continue;
        }
        match b.fuels.iter_mut().find(|u| u.fuel == sw.to && u.ncv.is_none() && u.carbon_content.is_none()) {
            Some(u) => u.amount = u.amount.checked_add(amount).ok_or_else(overflow)?,
            None => b.fuels.push(FuelUse { fuel: sw.to.clone(), amount, ncv: None, carbon_content: None }),
        }
    }

    // 3. Green-power share: never below what is claimed, never above purchased.
    let e = &mut b.electricity;
    if let Some(share) = s.green_power_share {
        let covered = mul(e.purchased, share, &|| "green_power_share".into())?.min(e.purchased);
        e.green = e.green.max(covered);
    }

    // 4. Certificates, up to the electricity not yet covered.
    let room = (e.purchased - e.green).max(Decimal::ZERO);
    let used = certificates.min(room);
    e.green = e.green.checked_add(used).ok_or_else(|| ScenarioError::Overflow("extra_certificates_mwh".into()))?;

    b.check(m).map_err(ScenarioError::Result)?;
    Ok((b, used))
}

/// A year's totals, without and with scenario `s`: `compute` over each period of `months` (at
/// most [`MAX_PERIODS`], all of one reporting year) as given and as [`apply`] makes it, summed
/// field by field. The scenario's certificates are shared among the periods in the order given.
pub fn evaluate(m: &Methodology, months: &[Activity], s: &Scenario) -> Result<Outcome, ScenarioError> {
    s.check(m)?;
    if months.len() > MAX_PERIODS {
        return Err(ScenarioError::TooMany { what: "periods", count: months.len(), max: MAX_PERIODS });
    }
    if let Some(first) = months.first()
        && let Some(other) = months.iter().find(|a| a.year != first.year)
    {
        return Err(ScenarioError::Periods(format!(
            "reporting years {} and {} mixed; certificates and grid factors are per year",
            first.year, other.year
        )));
    }
    let mut out = Outcome {
        baseline: Totals::default(),
        scenario: Totals::default(),
        certificates_unused_mwh: s.extra_certificates_mwh,
    };
    for (index, a) in months.iter().enumerate() {
        let at = |error: ScenarioError| ScenarioError::Period { index, error: Box::new(error) };
        let baseline = compute(m, a).map_err(|e| at(ScenarioError::Compute(e)))?;
        let (b, used) = apply_checked(m, a, s, out.certificates_unused_mwh).map_err(at)?;
        let scenario = compute(m, &b).map_err(|e| at(ScenarioError::Compute(e)))?;
        out.certificates_unused_mwh -= used;
        let overflow = || ScenarioError::Overflow("the year's totals".into());
        out.baseline = out.baseline.checked_add(baseline.totals).ok_or_else(overflow)?;
        out.scenario = out.scenario.checked_add(scenario.totals).ok_or_else(overflow)?;
    }
    Ok(out)
}

/// Decimals as strings, read exactly.
mod dec {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    pub(super) fn parse(s: &str) -> Result<Decimal, String> {
        Decimal::from_str_exact(s).map_err(|e| format!("`{s}` is not an exact decimal ({e})"))
    }
}

/// Optional decimals as strings, read exactly.
mod dec_opt {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(d),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| super::dec::parse(&s).map_err(D::Error::custom)).transpose()
    }
}
