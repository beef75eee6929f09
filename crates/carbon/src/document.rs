//! Methodology documents (核算方法学): a TOML text deployed on the chain, parsed and checked here.
//!
//! A document carries its parameters as data (fuels' default NCV, carbon content and oxidation;
//! gases' molar masses; GWP sets; grid factors by scheme, geography and year; named constants)
//! and its calculation as [`Formula`]s, one per emission source. Everything that could fail is
//! found by [`Methodology::parse`]: unknown fields at every level, limits, units of every formula
//! against every fuel it applies to, a GWP for every gas, a grid factor for every selection, and a
//! dry run ([`crate::dryrun`]) over synthetic activity data. A document that passes never fails an
//! evaluation for want of data; only its inputs can (overflow, a division by zero), and those are
//! reported per source, never as a panic.
//!
//! The format, annotated, is in README.md ("Carbon methodologies"); the two shipped documents are
//! in `crates/carbon/methodologies/`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::formula::{Env, Formula};
use crate::units::Unit;

/// Largest methodology document, in bytes: the limit on a `DeployMethodology` transaction.
pub const MAX_DOCUMENT_BYTES: usize = trustmeter_types::limits::MAX_METHODOLOGY_BYTES;
/// Most fuels, gases, GWP rows, grid-factor rows, constants or sources, each.
pub const MAX_ROWS: usize = 512;
/// Most formula nodes one evaluation may visit: Σ over sources of the formula's nodes × the most
/// items it may apply to ([`crate::activity::MAX_ITEMS`] for a per-item source, else 1). Bounds
/// the work a document can make every validator do per enterprise and period, whoever deploys it.
pub const MAX_EVALUATION_NODES: usize = 1_000_000;
/// Most formula nodes the unit checks of a document may visit: Σ over sources of the formula's
/// nodes × the fuels or gases it is checked against.
pub const MAX_CHECK_NODES: usize = 1_000_000;
/// Longest id (methodology, fuel, gas, source, constant, scheme).
pub const MAX_ID_BYTES: usize = 64;

/// Why a document is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DocumentError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DocumentError> {
    Err(DocumentError(msg.into()))
}

/// The kinds of activity data a source may be evaluated once per item of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A fuel burnt (`item.amount` in the fuel's unit; `fuel.ncv`, `fuel.carbon_content`,
    /// `fuel.oxidation`, measured values overriding defaults).
    Fuel,
    /// A fluorinated gas (SF6, HFCs, PFCs) filled into products, weighed by container mass
    /// before and after filling (无流量计).
    FgasContainers,
    /// A fluorinated gas filled into products through a flow meter (有流量计).
    FgasFlowMeter,
    /// A CO2-bearing welding shielding-gas mixture (焊接保护气).
    WeldingGas,
}

impl ItemKind {
    /// The name in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Fuel => "fuel",
            ItemKind::FgasContainers => "fgas_containers",
            ItemKind::FgasFlowMeter => "fgas_flow_meter",
            ItemKind::WeldingGas => "welding_gas",
        }
    }

    /// The `item.*` fields of this kind and their units (a fuel's amount is in the fuel's unit,
    /// given separately).
    pub fn fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ItemKind::Fuel => &[],
            ItemKind::FgasContainers => &[
                ("item.opening", "t"),
                ("item.closing", "t"),
                ("item.purchased", "t"),
                ("item.sold", "t"),
                ("item.container_before", "t"),
                ("item.container_after", "t"),
                ("item.fills", "fill"),
            ],
            ItemKind::FgasFlowMeter => &[
                ("item.opening", "t"),
                ("item.closing", "t"),
                ("item.purchased", "t"),
                ("item.sold", "t"),
                ("item.metered", "t"),
                ("item.fills", "fill"),
            ],
            ItemKind::WeldingGas => &[
                ("item.opening", "t"),
                ("item.purchased", "t"),
                ("item.closing", "t"),
                ("item.sold", "t"),
                ("item.v_co2", "1"),
                ("item.v_ar", "1"),
                ("item.v_o2", "1"),
            ],
        }
    }
}

/// The names every formula may read, whatever its source, and their units.
pub const SCALARS: [(&str, &str); 6] = [
    ("electricity.purchased", "MWh"),
    ("electricity.exported", "MWh"),
    ("electricity.green", "MWh"),
    ("heat.purchased", "GJ"),
    ("heat.exported", "GJ"),
    ("output", "unit"),
];

/// The three views every result is reported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// The Chinese standard's (GB/T 32150): exported electricity and heat netted, biomass CO2
    /// reported separately and not in the total.
    Standard,
    /// ISO 14064-1 / GHG Protocol, Scope 2 location-based (grid average).
    Location,
    /// ISO 14064-1 / GHG Protocol, Scope 2 market-based (green power and certificates at zero,
    /// the rest at a factor that excludes market-traded non-fossil power).
    Market,
}

impl View {
    /// Every view.
    pub const ALL: [View; 3] = [View::Standard, View::Location, View::Market];

    /// The name in documents and results.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Standard => "standard",
            View::Location => "location",
            View::Market => "market",
        }
    }
}

// ---- the TOML form ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    id: String,
    version: u32,
    title: String,
    standard: String,
    effective_from: String,
    #[serde(default)]
    effective_to: Option<String>,
    gwp_set: String,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    constant: Vec<ConstantRow>,
    #[serde(default)]
    fuel: Vec<FuelRow>,
    #[serde(default)]
    gas: Vec<GasRow>,
    #[serde(default)]
    gwp: Vec<GwpRow>,
    #[serde(default)]
    grid_factor: Vec<GridRow>,
    #[serde(default)]
    grid_select: Vec<GridSelectRow>,
    #[serde(default)]
    grid_region: Vec<GridRegionRow>,
    source: Vec<SourceRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstantRow {
    name: String,
    value: String,
    unit: String,
    source: String,
    confidence: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FuelRow {
    id: String,
    name: String,
    #[serde(default)]
    energy_kind: Option<String>,
    unit: String,
    ncv: String,
    carbon_content: String,
    oxidation: String,
    #[serde(default)]
    biogenic: bool,
    source: String,
    confidence: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GasRow {
    id: String,
    molar_mass: String,
    source: String,
    confidence: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GwpRow {
    set: String,
    gas: String,
    value: String,
    source: String,
    confidence: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GridRow {
    scheme: String,
    geography: String,
    year: i32,
    value: String,
    source: String,
    confidence: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GridSelectRow {
    name: String,
    scheme: String,
    geography: Geography,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GridRegionRow {
    region: String,
    provinces: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRow {
    id: String,
    name: String,
    #[serde(default)]
    per: Option<ItemKind>,
    gas: String,
    scope: u8,
    views: Vec<View>,
    formula: String,
}

/// Which level of geography a grid-factor selection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Geography {
    /// The national figure (`geography = "national"` rows).
    National,
    /// The enterprise's grid region (rows named by region, provinces mapped by `grid_region`).
    Region,
    /// The enterprise's province (rows named by the two-digit GB/T 2260 province code).
    Province,
}

// ---- the checked form ----

/// A value with its unit and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced {
    /// The value, exact.
    pub value: Decimal,
    /// Its unit.
    pub unit: Unit,
    /// The document or page it comes from.
    pub source: String,
    /// Confidence tag (S, S2, M, N).
    pub confidence: String,
}

/// A fuel's default parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fuel {
    /// Id in activity data and results.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// The consensus energy kind whose figures are this fuel, if meters measure it.
    pub energy_kind: Option<String>,
    /// The activity unit (`t`, `e4Nm3`).
    pub unit: Unit,
    /// Net calorific value, GJ per activity unit.
    pub ncv: Sourced,
    /// Carbon content per heat, tC/GJ.
    pub carbon_content: Sourced,
    /// Oxidation rate, a fraction.
    pub oxidation: Sourced,
    /// Biomass: its CO2 is reported separately, not in the standard's total.
    pub biogenic: bool,
}

/// A gas's molar mass and its GWP in the document's set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gas {
    /// Id (`CO2`, `SF6`, `HFC-134a`).
    pub id: String,
    /// Molar mass, g/mol.
    pub molar_mass: Sourced,
    /// GWP (tCO2e per t of gas) in the document's GWP set.
    pub gwp: Sourced,
}

/// A grid factor row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridFactor {
    /// Scheme (`mee_average`, `mee_excl_market`, `ets`).
    pub scheme: String,
    /// `national`, a region name, or a province code.
    pub geography: String,
    /// The year the factor describes.
    pub year: i32,
    /// tCO2 per MWh (as `t/MWh`).
    pub value: Sourced,
}

/// A named grid-factor selection: `grid.<name>` in formulas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridSelect {
    /// The name after `grid.`.
    pub name: String,
    /// The scheme it reads.
    pub scheme: String,
    /// The level of geography.
    pub geography: Geography,
}

/// One emission source and its formula.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Id in results.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// Evaluated once per item of this kind, or once if `None`.
    pub per: Option<ItemKind>,
    /// The gas emitted; `None` for a fluorinated-gas source, whose items name their gas.
    pub gas: Option<String>,
    /// GHG Protocol scope (1 direct, 2 purchased energy); ISO 14064-1 category 1 or 2 alike.
    pub scope: u8,
    /// The views it counts in.
    pub views: BTreeSet<View>,
    /// Its formula, in tonnes of the gas.
    pub formula: Formula,
}

/// A checked methodology document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Methodology {
    /// Id (`GB/T 32151.29-2024`).
    pub id: String,
    /// Version, from 1; a correction or an update is a new version.
    pub version: u32,
    /// Title.
    pub title: String,
    /// The standard it implements.
    pub standard: String,
    /// First day it applies to (day number, Asia/Shanghai).
    pub effective_from: i32,
    /// Last day it applies to, if it ends.
    pub effective_to: Option<i32>,
    /// GWP set (`SAR`, `AR5`, `AR6`).
    pub gwp_set: String,
    /// Notes.
    pub notes: Vec<String>,
    /// Named constants.
    pub constants: BTreeMap<String, Sourced>,
    /// Fuels by id.
    pub fuels: BTreeMap<String, Fuel>,
    /// Gases by id (CO2 always present, GWP 1).
    pub gases: BTreeMap<String, Gas>,
    /// Grid factors.
    pub grid_factors: Vec<GridFactor>,
    /// Grid-factor selections by name.
    pub grid_selects: BTreeMap<String, GridSelect>,
    /// Province code → grid region.
    pub regions: BTreeMap<String, String>,
    /// Sources in document order.
    pub sources: Vec<Source>,
}

/// Parses a decimal written as `a` or `a/b` (an exact ratio such as `44/12`, divided to 28 digits).
pub fn parse_value(s: &str) -> Option<Decimal> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (Decimal::from_str_exact(a.trim()).ok()?, Decimal::from_str_exact(b.trim()).ok()?);
            if b.is_zero() { None } else { a.checked_div(b) }
        }
        None => Decimal::from_str_exact(s).ok(),
    }
}

fn check_id(what: &str, id: &str) -> Result<(), DocumentError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./ ".contains(&b))
        && !id.starts_with(' ')
        && !id.ends_with(' ');
    if ok {
        Ok(())
    } else {
        err(format!("{what} `{id}`: 1 to {MAX_ID_BYTES} ASCII letters, digits, `_-./` or inner spaces"))
    }
}

fn check_name(what: &str, id: &str) -> Result<(), DocumentError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.as_bytes()[0].is_ascii_alphabetic()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        err(format!("{what} `{id}`: a letter, then letters, digits or `_` (at most {MAX_ID_BYTES})"))
    }
}

fn sourced(what: &str, value: &str, unit: Unit, source: &str, confidence: &str) -> Result<Sourced, DocumentError> {
    let v =
        parse_value(value).ok_or_else(|| DocumentError(format!("{what}: `{value}` is not a decimal or a ratio")))?;
    if source.trim().is_empty() {
        return err(format!("{what}: a source is required"));
    }
    if !["S", "S2", "M", "N"].contains(&confidence) {
        return err(format!("{what}: confidence `{confidence}` is not S, S2, M or N"));
    }
    Ok(Sourced { value: v, unit, source: source.to_string(), confidence: confidence.to_string() })
}

fn limit<T>(what: &str, rows: &[T]) -> Result<(), DocumentError> {
    if rows.len() > MAX_ROWS { err(format!("{} {what} rows, at most {MAX_ROWS}", rows.len())) } else { Ok(()) }
}

impl Methodology {
    /// Parses and checks a document, including its dry run.
    pub fn parse(text: &str) -> Result<Methodology, DocumentError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return err(format!("the document is {} bytes, at most {MAX_DOCUMENT_BYTES}", text.len()));
        }
        let doc: Doc = toml::from_str(text).map_err(|e| DocumentError(format!("TOML: {}", e.message())))?;
        let m = Methodology::from_doc(doc)?;
        crate::dryrun::dry_run(&m)?;
        Ok(m)
    }

    fn from_doc(d: Doc) -> Result<Methodology, DocumentError> {
        check_id("methodology id", &d.id)?;
        if d.version == 0 {
            return err("version starts at 1");
        }
        for (what, t) in [("title", &d.title), ("standard", &d.standard)] {
            if t.trim().is_empty() || t.len() > 512 {
                return err(format!("{what}: 1 to 512 bytes"));
            }
        }
        let from = trustmeter_energy::calendar::parse_day(&d.effective_from)
            .ok_or_else(|| DocumentError(format!("effective_from `{}` is not YYYY-MM-DD", d.effective_from)))?;
        let to = match &d.effective_to {
            Some(s) => Some(
                trustmeter_energy::calendar::parse_day(s)
                    .ok_or_else(|| DocumentError(format!("effective_to `{s}` is not YYYY-MM-DD")))?,
            ),
            None => None,
        };
        if to.is_some_and(|t| t < from) {
            return err("effective_to is before effective_from");
        }
        check_id("gwp_set", &d.gwp_set)?;
        if d.notes.len() > 64 || d.notes.iter().any(|n| n.len() > 2048) {
            return err("at most 64 notes of 2048 bytes");
        }
        limit("constant", &d.constant)?;
        limit("fuel", &d.fuel)?;
        limit("gas", &d.gas)?;
        limit("gwp", &d.gwp)?;
        limit("grid_factor", &d.grid_factor)?;
        limit("grid_select", &d.grid_select)?;
        limit("grid_region", &d.grid_region)?;
        limit("source", &d.source)?;

        let mut constants = BTreeMap::new();
        for c in d.constant {
            check_name("constant", &c.name)?;
            let unit = Unit::parse(&c.unit).map_err(|e| DocumentError(format!("constant {}: {e}", c.name)))?;
            let s = sourced(&format!("constant {}", c.name), &c.value, unit, &c.source, &c.confidence)?;
            if constants.insert(c.name.clone(), s).is_some() {
                return err(format!("constant {} is defined twice", c.name));
            }
        }

        let gj = Unit::symbol("GJ").expect("GJ");
        let mut fuels = BTreeMap::new();
        for f in d.fuel {
            check_id("fuel", &f.id)?;
            let what = format!("fuel {}", f.id);
            let unit = Unit::parse(&f.unit).map_err(|e| DocumentError(format!("{what}: {e}")))?;
            let ncv_unit = gj.div(&unit).ok_or_else(|| DocumentError(format!("{what}: unit")))?;
            let fuel = Fuel {
                name: f.name,
                energy_kind: f.energy_kind,
                ncv: sourced(&format!("{what} ncv"), &f.ncv, ncv_unit, &f.source, &f.confidence)?,
                carbon_content: sourced(
                    &format!("{what} carbon_content"),
                    &f.carbon_content,
                    Unit::parse("tC/GJ").expect("unit"),
                    &f.source,
                    &f.confidence,
                )?,
                oxidation: sourced(&format!("{what} oxidation"), &f.oxidation, Unit::one(), &f.source, &f.confidence)?,
                unit,
                biogenic: f.biogenic,
                id: f.id.clone(),
            };
            if fuel.ncv.value <= Decimal::ZERO || fuel.carbon_content.value < Decimal::ZERO {
                return err(format!("{what}: ncv must be positive and carbon_content not negative"));
            }
            if fuel.oxidation.value <= Decimal::ZERO || fuel.oxidation.value > Decimal::ONE {
                return err(format!("{what}: oxidation is a fraction in (0, 1]"));
            }
            if let Some(k) = &fuel.energy_kind {
                use trustmeter_types::EnergyKind as K;
                if K::from_name(k)
                    .is_none_or(|k| k.is_working_medium() || matches!(k, K::Electricity | K::Heat | K::Steam))
                {
                    return err(format!("{what}: energy_kind `{k}` is not a fuel kind of the chain"));
                }
                if fuels.values().any(|o: &Fuel| o.energy_kind.as_ref() == Some(k)) {
                    return err(format!("{what}: another fuel is already metered as `{k}`"));
                }
            }
            if fuels.insert(f.id, fuel).is_some() {
                return err(format!("{what} is defined twice"));
            }
        }

        let mut gwps: BTreeMap<String, Sourced> = BTreeMap::new();
        for g in &d.gwp {
            check_id("gwp set", &g.set)?;
            // Every row is checked, the other sets' too: a document never carries a broken value.
            let s = sourced(
                &format!("gwp {} {}", g.set, g.gas),
                &g.value,
                Unit::parse("tCO2e/t").expect("unit"),
                &g.source,
                &g.confidence,
            )?;
            if s.value <= Decimal::ZERO {
                return err(format!("gwp {} {}: must be positive", g.set, g.gas));
            }
            if g.set != d.gwp_set {
                continue;
            }
            if gwps.insert(g.gas.clone(), s).is_some() {
                return err(format!("gwp {} {} is defined twice", g.set, g.gas));
            }
        }
        let mut gases = BTreeMap::new();
        for g in d.gas {
            check_id("gas", &g.id)?;
            let what = format!("gas {}", g.id);
            let molar_mass = sourced(
                &format!("{what} molar_mass"),
                &g.molar_mass,
                Unit::parse("g/mol").expect("unit"),
                &g.source,
                &g.confidence,
            )?;
            if molar_mass.value <= Decimal::ZERO {
                return err(format!("{what}: molar_mass must be positive"));
            }
            let gwp = gwps
                .get(&g.id)
                .cloned()
                .ok_or_else(|| DocumentError(format!("{what}: no GWP in set {}", d.gwp_set)))?;
            if gases.insert(g.id.clone(), Gas { id: g.id, molar_mass, gwp }).is_some() {
                return err(format!("{what} is defined twice"));
            }
        }
        match gases.get("CO2") {
            Some(g) if g.gwp.value == Decimal::ONE => {}
            Some(_) => return err("gas CO2: its GWP is 1 in every set"),
            None => return err("gas CO2 is required (with its molar mass and GWP 1)"),
        }

        let t_per_mwh = Unit::parse("t/MWh").expect("unit");
        let mut grid_factors = Vec::new();
        let mut seen = BTreeSet::new();
        for g in d.grid_factor {
            check_id("grid scheme", &g.scheme)?;
            check_id("grid geography", &g.geography)?;
            let what = format!("grid factor {} {} {}", g.scheme, g.geography, g.year);
            if !(1990..=2200).contains(&g.year) {
                return err(format!("{what}: year out of range"));
            }
            let value = sourced(&what, &g.value, t_per_mwh.clone(), &g.source, &g.confidence)?;
            if value.value < Decimal::ZERO || value.value > Decimal::from(5) {
                return err(format!("{what}: 0 to 5 tCO2/MWh"));
            }
            if !seen.insert((g.scheme.clone(), g.geography.clone(), g.year)) {
                return err(format!("{what} is defined twice"));
            }
            grid_factors.push(GridFactor { scheme: g.scheme, geography: g.geography, year: g.year, value });
        }
        let mut regions = BTreeMap::new();
        for r in d.grid_region {
            check_id("grid region", &r.region)?;
            if r.provinces.len() > 64 {
                return err(format!("grid region {}: at most 64 provinces", r.region));
            }
            for p in r.provinces {
                if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return err(format!("grid region {}: province `{p}` is not a two-digit GB/T 2260 code", r.region));
                }
                if let Some(other) = regions.insert(p.clone(), r.region.clone()) {
                    return err(format!("province {p} is in grid regions {other} and {}", r.region));
                }
            }
        }
        let mut grid_selects = BTreeMap::new();
        for s in d.grid_select {
            check_name("grid selection", &s.name)?;
            check_id("grid scheme", &s.scheme)?;
            if !grid_factors.iter().any(|g| g.scheme == s.scheme) {
                return err(format!("grid selection {}: no factor of scheme {}", s.name, s.scheme));
            }
            if s.geography == Geography::Region && regions.is_empty() {
                return err(format!("grid selection {}: by region, but no grid_region maps provinces", s.name));
            }
            let name = s.name.clone();
            if grid_selects
                .insert(name.clone(), GridSelect { name: s.name, scheme: s.scheme, geography: s.geography })
                .is_some()
            {
                return err(format!("grid selection {name} is defined twice"));
            }
        }

        let mut m = Methodology {
            id: d.id,
            version: d.version,
            title: d.title,
            standard: d.standard,
            effective_from: from,
            effective_to: to,
            gwp_set: d.gwp_set,
            notes: d.notes,
            constants,
            fuels,
            gases,
            grid_factors,
            grid_selects,
            regions,
            sources: Vec::new(),
        };

        if d.source.is_empty() {
            return err("at least one source");
        }
        let t = Unit::symbol("t").expect("t");
        let mut ids = BTreeSet::new();
        let (mut evaluation_nodes, mut check_nodes) = (0usize, 0usize);
        for s in d.source {
            check_name("source", &s.id)?;
            let what = format!("source {}", s.id);
            if !ids.insert(s.id.clone()) {
                return err(format!("{what} is defined twice"));
            }
            if s.name.trim().is_empty() || s.name.len() > 256 {
                return err(format!("{what}: name of 1 to 256 bytes"));
            }
            if !(1..=2).contains(&s.scope) {
                return err(format!("{what}: scope is 1 (direct) or 2 (purchased energy)"));
            }
            let views: BTreeSet<View> = s.views.iter().copied().collect();
            if views.is_empty() || views.len() != s.views.len() {
                return err(format!("{what}: views are distinct and at least one"));
            }
            if s.scope == 1 && views.contains(&View::Location) != views.contains(&View::Market) {
                return err(format!("{what}: a scope 1 source counts in both GHG Protocol views or in neither"));
            }
            let fgas = matches!(s.per, Some(ItemKind::FgasContainers | ItemKind::FgasFlowMeter));
            let gas = match (s.gas.as_str(), fgas) {
                ("item", true) => None,
                ("item", false) => return err(format!("{what}: gas = \"item\" only for fluorinated-gas sources")),
                (g, _) if m.gases.contains_key(g) => Some(g.to_string()),
                (g, _) => return err(format!("{what}: gas {g} is not in the gas table")),
            };
            let formula = Formula::parse(&s.formula).map_err(|e| DocumentError(format!("{what}: formula: {e}")))?;
            // Units: a fuel source is checked against every fuel (each has its own unit), a
            // fluorinated-gas source against every gas but CO2.
            let envs: Vec<CheckEnv<'_>> = match s.per {
                Some(ItemKind::Fuel) => m.fuels.values().map(|f| CheckEnv::new(&m, s.per, Some(f), None)).collect(),
                Some(ItemKind::FgasContainers | ItemKind::FgasFlowMeter) => m
                    .gases
                    .values()
                    .filter(|g| g.id != "CO2")
                    .map(|g| CheckEnv::new(&m, s.per, None, Some(g)))
                    .collect(),
                _ => vec![CheckEnv::new(&m, s.per, None, gas.as_ref().and_then(|g| m.gases.get(g)))],
            };
            if envs.is_empty() {
                return err(format!("{what}: per {} but the document defines none", s.per.map_or("", |k| k.as_str())));
            }
            let items = if s.per.is_some() { crate::activity::MAX_ITEMS } else { 1 };
            evaluation_nodes += formula.nodes() * items;
            check_nodes += formula.nodes() * envs.len();
            if evaluation_nodes > MAX_EVALUATION_NODES || check_nodes > MAX_CHECK_NODES {
                return err(format!(
                    "{what}: the document's formulas exceed the evaluation budget ({MAX_EVALUATION_NODES} nodes per evaluation, {MAX_CHECK_NODES} per check)"
                ));
            }
            for env in &envs {
                formula.check_unit(env, &t).map_err(|e| {
                    let at = env.fuel.map(|f| format!(" (fuel {})", f.id)).unwrap_or_default();
                    DocumentError(format!("{what}{at}: formula: {e}"))
                })?;
            }
            m.sources.push(Source { id: s.id, name: s.name, per: s.per, gas, scope: s.scope, views, formula });
        }
        for v in View::ALL {
            if !m.sources.iter().any(|s| s.views.contains(&v)) {
                return err(format!("no source counts in the {} view", v.as_str()));
            }
        }
        Ok(m)
    }

    /// Whether the methodology applies to day `day` (a day number).
    pub fn applies_on(&self, day: i32) -> bool {
        day >= self.effective_from && self.effective_to.is_none_or(|t| day <= t)
    }

    /// The grid factor of a selection for a reporting year and province: the row of the
    /// selection's scheme and geography with the latest year not after `year` (factors are
    /// published a year or two late).
    pub fn grid_factor(&self, select: &str, year: i32, province: &str) -> Result<&GridFactor, String> {
        let sel = self.grid_selects.get(select).ok_or_else(|| format!("no grid selection {select}"))?;
        let geo = match sel.geography {
            Geography::National => "national".to_string(),
            Geography::Province => province.to_string(),
            Geography::Region => self
                .regions
                .get(province)
                .cloned()
                .ok_or_else(|| format!("province {province} is in no grid region"))?,
        };
        self.grid_factors
            .iter()
            .filter(|g| g.scheme == sel.scheme && g.geography == geo && g.year <= year)
            .max_by_key(|g| g.year)
            .ok_or_else(|| format!("no {} grid factor for {geo} in or before {year}", sel.scheme))
    }
}

/// The names a formula may read, with units, for checking.
pub(crate) struct CheckEnv<'a> {
    m: &'a Methodology,
    per: Option<ItemKind>,
    fuel: Option<&'a Fuel>,
    gas: Option<&'a Gas>,
}

impl<'a> CheckEnv<'a> {
    pub(crate) fn new(m: &'a Methodology, per: Option<ItemKind>, fuel: Option<&'a Fuel>, gas: Option<&'a Gas>) -> Self {
        CheckEnv { m, per, fuel, gas }
    }
}

impl Env for CheckEnv<'_> {
    fn unit(&self, name: &str) -> Option<Unit> {
        if let Some(c) = self.m.constants.get(name) {
            return Some(c.unit.clone());
        }
        if let Some((_, u)) = SCALARS.iter().find(|(n, _)| *n == name) {
            return Unit::parse(u).ok();
        }
        if let Some(sel) = name.strip_prefix("grid.") {
            return self.m.grid_selects.contains_key(sel).then(|| Unit::parse("t/MWh").expect("unit"));
        }
        if let Some(f) = self.fuel {
            match name {
                "item.amount" => return Some(f.unit.clone()),
                "fuel.ncv" => return Some(f.ncv.unit.clone()),
                "fuel.carbon_content" => return Some(f.carbon_content.unit.clone()),
                "fuel.oxidation" => return Some(Unit::one()),
                _ => {}
            }
        }
        if let Some(g) = self.gas
            && name == "gas.molar_mass"
        {
            return Some(g.molar_mass.unit.clone());
        }
        let per = self.per?;
        per.fields().iter().find(|(n, _)| *n == name).and_then(|(_, u)| Unit::parse(u).ok())
    }

    fn value(&self, _name: &str) -> Option<Decimal> {
        None
    }
}

impl FromStr for Methodology {
    type Err = DocumentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Methodology::parse(s)
    }
}
