//! Evaluating a methodology over activity data: emissions per source, item and gas, and the
//! totals of every view.
//!
//! **Numbers.** A formula is evaluated exactly (28 significant digits); its result, tonnes of the
//! source's gas, is rounded once, half to even, to a micro-tonne (a gram), and so is its CO2
//! equivalent (mass × GWP). Totals are integer sums of those lines, so the sum of the lines equals
//! the total in every view by construction, whatever the order of the entries.
//!
//! **Order.** Items are evaluated in a canonical order (sorted), so reordering entries never changes
//! a line or a total.
//!
//! **Views.** `standard` (GB/T 32150: exports netted by the formulas that say so, biomass CO2
//! separate), and the GHG Protocol's dual Scope 2: `location` and `market` share the scope 1 lines
//! and differ in scope 2. Biogenic lines count in no view's total; they are summed apart.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::{Decimal, RoundingStrategy};

use crate::activity::{Activity, FgasUse, FuelUse, WeldingUse};
use crate::document::{Gas, ItemKind, Methodology, SCALARS, Source, View};
use crate::formula::{Env, FormulaError};
use crate::units::Unit;

/// One result line: a source evaluated for one item (or once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The source's id.
    pub source: String,
    /// The item: a fuel id, a gas id with its filling method, `welding/<n>` in canonical order, or
    /// empty for a source evaluated once.
    pub item: String,
    /// The gas emitted.
    pub gas: String,
    /// Scope 1 or 2.
    pub scope: u8,
    /// Views it counts in.
    pub views: BTreeSet<View>,
    /// Biomass: reported apart, in no total.
    pub biogenic: bool,
    /// Mass of the gas, micro-tonnes (g).
    pub mass_ut: i64,
    /// CO2 equivalent, micro-tonnes CO2e (g CO2e).
    pub co2e_ut: i64,
}

/// Totals, micro-tonnes CO2e.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// GB/T 32150 total (exports netted, biomass excluded).
    pub standard: i64,
    /// Biomass CO2, reported separately.
    pub biogenic: i64,
    /// Scope 1 (direct).
    pub scope1: i64,
    /// Scope 2, location-based.
    pub scope2_location: i64,
    /// Scope 2, market-based.
    pub scope2_market: i64,
}

impl Totals {
    /// Scope 1 + Scope 2 location-based.
    pub fn location(&self) -> i64 {
        self.scope1.saturating_add(self.scope2_location)
    }

    /// Scope 1 + Scope 2 market-based.
    pub fn market(&self) -> i64 {
        self.scope1.saturating_add(self.scope2_market)
    }

    /// The field-by-field sum, or `None` if a field overflows (a year's totals from its months).
    pub fn checked_add(self, other: Totals) -> Option<Totals> {
        Some(Totals {
            standard: self.standard.checked_add(other.standard)?,
            biogenic: self.biogenic.checked_add(other.biogenic)?,
            scope1: self.scope1.checked_add(other.scope1)?,
            scope2_location: self.scope2_location.checked_add(other.scope2_location)?,
            scope2_market: self.scope2_market.checked_add(other.scope2_market)?,
        })
    }
}

/// A factor a result used, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactorUsed {
    /// What it is (`fuel diesel ncv`, `grid location`, `gwp SF6`).
    pub name: String,
    /// Its value.
    pub value: Decimal,
    /// Its unit.
    pub unit: String,
    /// Its source (a document, or `measured` with evidence).
    pub source: String,
    /// Confidence tag, or `measured`.
    pub confidence: String,
}

/// The results of one evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Results {
    /// Methodology id.
    pub methodology: String,
    /// Its version.
    pub version: u32,
    /// GWP set used.
    pub gwp_set: String,
    /// Lines in canonical order (sources in document order, items sorted).
    pub lines: Vec<Line>,
    /// Totals.
    pub totals: Totals,
    /// Every factor used, sorted by name.
    pub factors: Vec<FactorUsed>,
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComputeError {
    /// The activity data are refused.
    #[error("activity data: {0}")]
    Activity(String),
    /// A source could not be evaluated.
    #[error("source {source_id}{}: {reason}", if item.is_empty() { String::new() } else { format!(" ({item})") })]
    Source {
        /// The source.
        source_id: String,
        /// The item.
        item: String,
        /// Why.
        reason: String,
    },
}

/// Rounds to micro-units, half to even, as an `i64`.
pub fn to_micro(d: Decimal) -> Option<i64> {
    let r = d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven);
    let scaled = r.checked_mul(Decimal::from(1_000_000))?;
    i64::try_from(scaled).ok()
}

struct EvalEnv<'a> {
    m: &'a Methodology,
    a: &'a Activity,
    grid: &'a BTreeMap<String, Decimal>,
    fuel: Option<(&'a crate::document::Fuel, &'a FuelUse)>,
    gas: Option<&'a Gas>,
    fields: Vec<(&'static str, Decimal)>,
}

impl Env for EvalEnv<'_> {
    fn unit(&self, _name: &str) -> Option<Unit> {
        None
    }

    fn value(&self, name: &str) -> Option<Decimal> {
        if let Some(c) = self.m.constants.get(name) {
            return Some(c.value);
        }
        match name {
            "electricity.purchased" => return Some(self.a.electricity.purchased),
            "electricity.exported" => return Some(self.a.electricity.exported),
            "electricity.green" => return Some(self.a.electricity.green),
            "heat.purchased" => return Some(self.a.heat.purchased),
            "heat.exported" => return Some(self.a.heat.exported),
            "output" => return self.a.output,
            _ => {}
        }
        debug_assert!(SCALARS.len() == 6, "every scalar has a value above");
        if let Some(sel) = name.strip_prefix("grid.") {
            return self.grid.get(sel).copied();
        }
        if let Some((f, u)) = self.fuel {
            match name {
                "item.amount" => return Some(u.amount),
                "fuel.ncv" => return Some(u.ncv.as_ref().map_or(f.ncv.value, |m| m.value)),
                "fuel.carbon_content" => {
                    return Some(u.carbon_content.as_ref().map_or(f.carbon_content.value, |m| m.value));
                }
                "fuel.oxidation" => return Some(f.oxidation.value),
                _ => {}
            }
        }
        if let Some(g) = self.gas
            && name == "gas.molar_mass"
        {
            return Some(g.molar_mass.value);
        }
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Evaluates `m` over `a`.
pub fn compute(m: &Methodology, a: &Activity) -> Result<Results, ComputeError> {
    a.check(m).map_err(ComputeError::Activity)?;
    let mut factors: BTreeMap<String, FactorUsed> = BTreeMap::new();
    let mut note = |name: String, value: Decimal, unit: &Unit, source: &str, confidence: &str| {
        factors.entry(name.clone()).or_insert(FactorUsed {
            name,
            value,
            unit: unit.to_string(),
            source: source.to_string(),
            confidence: confidence.to_string(),
        });
    };

    // Grid factors of the selections the sources read.
    let mut grid = BTreeMap::new();
    for s in &m.sources {
        for name in s.formula.names() {
            let Some(sel) = name.strip_prefix("grid.") else { continue };
            if grid.contains_key(sel) {
                continue;
            }
            let g = m.grid_factor(sel, a.year, &a.province).map_err(|reason| ComputeError::Source {
                source_id: s.id.clone(),
                item: String::new(),
                reason,
            })?;
            grid.insert(sel.to_string(), g.value.value);
            note(
                format!("grid {sel} ({} {} {})", g.scheme, g.geography, g.year),
                g.value.value,
                &g.value.unit,
                &g.value.source,
                &g.value.confidence,
            );
        }
    }
    for (name, c) in &m.constants {
        if m.sources.iter().any(|s| s.formula.names().contains(&name.as_str())) {
            note(format!("constant {name}"), c.value, &c.unit, &c.source, &c.confidence);
        }
    }

    let mut fuels: Vec<&FuelUse> = a.fuels.iter().collect();
    fuels.sort();
    let mut fgas: Vec<&FgasUse> = a.fgas.iter().collect();
    fgas.sort();
    let mut welding: Vec<&WeldingUse> = a.welding.iter().collect();
    welding.sort();

    let mut lines = Vec::new();
    for s in &m.sources {
        match s.per {
            None => {
                let gas = s.gas.as_deref().and_then(|g| m.gases.get(g));
                lines.push(line(s, String::new(), gas, false, &base(m, a, &grid, gas))?);
            }
            Some(ItemKind::Fuel) => {
                for u in &fuels {
                    let f = &m.fuels[&u.fuel];
                    let gas = s.gas.as_deref().and_then(|g| m.gases.get(g));
                    let env = EvalEnv { fuel: Some((f, u)), ..base(m, a, &grid, gas) };
                    lines.push(line(s, u.fuel.clone(), gas, f.biogenic, &env)?);
                    for (what, measured, default) in
                        [("ncv", &u.ncv, &f.ncv), ("carbon_content", &u.carbon_content, &f.carbon_content)]
                    {
                        match measured {
                            Some(ms) => note(
                                format!("fuel {} {what} measured {}", u.fuel, ms.evidence),
                                ms.value,
                                &default.unit,
                                &format!("measured, evidence {}", ms.evidence),
                                "measured",
                            ),
                            None => note(
                                format!("fuel {} {what}", u.fuel),
                                default.value,
                                &default.unit,
                                &default.source,
                                &default.confidence,
                            ),
                        }
                    }
                    note(
                        format!("fuel {} oxidation", u.fuel),
                        f.oxidation.value,
                        &f.oxidation.unit,
                        &f.oxidation.source,
                        &f.oxidation.confidence,
                    );
                }
            }
            Some(kind @ (ItemKind::FgasContainers | ItemKind::FgasFlowMeter)) => {
                for u in &fgas {
                    let containers = matches!(u.filling, crate::activity::Filling::Containers { .. });
                    if containers != (kind == ItemKind::FgasContainers) {
                        continue;
                    }
                    let gas = &m.gases[&u.gas];
                    let env = EvalEnv { fields: u.fields(), ..base(m, a, &grid, Some(gas)) };
                    let item = format!("{}/{}", u.gas, kind.as_str());
                    lines.push(line(s, item, Some(gas), false, &env)?);
                }
            }
            Some(ItemKind::WeldingGas) => {
                for (i, u) in welding.iter().enumerate() {
                    let gas = s.gas.as_deref().and_then(|g| m.gases.get(g));
                    let env = EvalEnv { fields: u.fields(), ..base(m, a, &grid, gas) };
                    lines.push(line(s, format!("welding/{i}"), gas, false, &env)?);
                }
            }
        }
    }
    for l in &lines {
        let g = &m.gases[&l.gas];
        note(format!("gwp {} {}", m.gwp_set, g.id), g.gwp.value, &g.gwp.unit, &g.gwp.source, &g.gwp.confidence);
    }

    let mut t = Totals::default();
    let overflow = |what: &str| ComputeError::Source {
        source_id: what.into(),
        item: String::new(),
        reason: "total out of range".into(),
    };
    for l in &lines {
        let add = |acc: &mut i64| -> Result<(), ComputeError> {
            *acc = acc.checked_add(l.co2e_ut).ok_or_else(|| overflow(&l.source))?;
            Ok(())
        };
        if l.biogenic {
            add(&mut t.biogenic)?;
            continue;
        }
        if l.views.contains(&View::Standard) {
            add(&mut t.standard)?;
        }
        match l.scope {
            1 if l.views.contains(&View::Location) => add(&mut t.scope1)?,
            2 => {
                if l.views.contains(&View::Location) {
                    add(&mut t.scope2_location)?;
                }
                if l.views.contains(&View::Market) {
                    add(&mut t.scope2_market)?;
                }
            }
            _ => {}
        }
    }
    for s2 in [t.scope2_location, t.scope2_market] {
        t.scope1.checked_add(s2).ok_or_else(|| overflow("total"))?;
    }
    Ok(Results {
        methodology: m.id.clone(),
        version: m.version,
        gwp_set: m.gwp_set.clone(),
        lines,
        totals: t,
        factors: factors.into_values().collect(),
    })
}

fn base<'a>(
    m: &'a Methodology,
    a: &'a Activity,
    grid: &'a BTreeMap<String, Decimal>,
    gas: Option<&'a Gas>,
) -> EvalEnv<'a> {
    EvalEnv { m, a, grid, fuel: None, gas, fields: Vec::new() }
}

fn line(s: &Source, item: String, gas: Option<&Gas>, biogenic: bool, env: &EvalEnv<'_>) -> Result<Line, ComputeError> {
    let fail = |reason: String| ComputeError::Source { source_id: s.id.clone(), item: item.clone(), reason };
    let gas = gas.ok_or_else(|| fail("no gas".into()))?;
    let mass = s.formula.eval(env).map_err(|e: FormulaError| fail(e.to_string()))?;
    let mass_ut = to_micro(mass).ok_or_else(|| fail("mass out of range".into()))?;
    let co2e = mass.checked_mul(gas.gwp.value).ok_or_else(|| fail("CO2e out of range".into()))?;
    let co2e_ut = to_micro(co2e).ok_or_else(|| fail("CO2e out of range".into()))?;
    Ok(Line {
        source: s.id.clone(),
        item,
        gas: gas.id.clone(),
        scope: s.scope,
        views: s.views.clone(),
        biogenic,
        mass_ut,
        co2e_ut,
    })
}
