//! Activity data (活动数据) of one enterprise and period: what a methodology's formulas read.
//!
//! Amounts are exact decimals in the units the methodology names (fuels in their own unit,
//! gases in tonnes, electricity in MWh, heat in GJ). Where they come from (consensus energy
//! figures, documented entries with evidence) is the caller's business; [`Activity::check`]
//! refuses what no methodology should see (negative amounts, gas-mixture fractions that do not sum
//! to 1, unknown fuels or gases, a measured factor without evidence).

use rust_decimal::Decimal;

use crate::document::Methodology;

/// A measured factor (实测值) that overrides a default, with the evidence it rests on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Measured {
    /// The measured value, in the default's unit.
    pub value: Decimal,
    /// The evidence: a content hash of the lab report in the evidence store (hex).
    pub evidence: String,
}

/// A fuel burnt in the period.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FuelUse {
    /// The methodology's fuel id.
    pub fuel: String,
    /// Amount in the fuel's unit.
    pub amount: Decimal,
    /// A measured net calorific value (GJ per unit), overriding the default.
    pub ncv: Option<Measured>,
    /// A measured carbon content (tC/GJ), overriding the default.
    pub carbon_content: Option<Measured>,
}

/// How a fluorinated gas's filling is measured.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filling {
    /// Container masses before and after filling, summed over the period's fills (无流量计).
    Containers {
        /// Σ container mass before filling, t.
        before: Decimal,
        /// Σ container mass after filling, t.
        after: Decimal,
    },
    /// A flow meter's total (有流量计), t.
    FlowMeter {
        /// Metered mass filled, t.
        metered: Decimal,
    },
}

/// A fluorinated gas (SF6, HFCs, PFCs) filled into electrical or refrigeration equipment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FgasUse {
    /// The methodology's gas id.
    pub gas: String,
    /// Inventory at the start of the period, t (期初库存).
    pub opening: Decimal,
    /// Inventory at the end, t (期末库存).
    pub closing: Decimal,
    /// Purchased, t (购入量).
    pub purchased: Decimal,
    /// Sold or used off-site, t (外售/异地使用).
    pub sold: Decimal,
    /// Number of fillings (充装次数).
    pub fills: Decimal,
    /// What was filled into products.
    pub filling: Filling,
}

/// A welding shielding-gas mixture (焊接保护气), by volume fractions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeldingUse {
    /// Inventory at the start, t.
    pub opening: Decimal,
    /// Purchased, t.
    pub purchased: Decimal,
    /// Inventory at the end, t.
    pub closing: Decimal,
    /// Sold or used off-site, t.
    pub sold: Decimal,
    /// Volume fraction of CO2.
    pub v_co2: Decimal,
    /// Volume fraction of argon.
    pub v_ar: Decimal,
    /// Volume fraction of oxygen.
    pub v_o2: Decimal,
}

/// Electricity of the period, MWh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Electricity {
    /// Purchased from the grid (consumed, not exported), MWh.
    pub purchased: Decimal,
    /// Exported to the grid, MWh.
    pub exported: Decimal,
    /// Covered by green power contracts and green certificates (绿电/绿证) claimed for the period, MWh.
    pub green: Decimal,
}

/// Heat of the period, GJ.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heat {
    /// Purchased, GJ.
    pub purchased: Decimal,
    /// Exported, GJ.
    pub exported: Decimal,
}

/// Activity data of one enterprise and period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// The reporting year (selects grid factors).
    pub year: i32,
    /// The enterprise's province, two-digit GB/T 2260 code (selects regional grid factors).
    pub province: String,
    /// Fuels burnt.
    pub fuels: Vec<FuelUse>,
    /// Fluorinated gases filled.
    pub fgas: Vec<FgasUse>,
    /// Welding gases used.
    pub welding: Vec<WeldingUse>,
    /// Electricity.
    pub electricity: Electricity,
    /// Heat.
    pub heat: Heat,
    /// Production output, units of product (for intensity), if known.
    pub output: Option<Decimal>,
}

/// Most items of each kind in one activity.
pub const MAX_ITEMS: usize = 256;

/// Tolerance on the sum of a mixture's volume fractions (they are read off certificates).
pub fn fraction_tolerance() -> Decimal {
    Decimal::new(1, 3)
}

impl Activity {
    /// An empty activity for a year and province.
    pub fn new(year: i32, province: &str) -> Activity {
        Activity {
            year,
            province: province.to_string(),
            fuels: Vec::new(),
            fgas: Vec::new(),
            welding: Vec::new(),
            electricity: Electricity::default(),
            heat: Heat::default(),
            output: None,
        }
    }

    /// Refuses activity data no methodology should evaluate.
    pub fn check(&self, m: &Methodology) -> Result<(), String> {
        let non_negative = |what: &str, d: Decimal| -> Result<(), String> {
            if d.is_sign_negative() && !d.is_zero() { Err(format!("{what} is negative")) } else { Ok(()) }
        };
        if self.fuels.len() > MAX_ITEMS || self.fgas.len() > MAX_ITEMS || self.welding.len() > MAX_ITEMS {
            return Err(format!("at most {MAX_ITEMS} items of each kind"));
        }
        for f in &self.fuels {
            if !m.fuels.contains_key(&f.fuel) {
                return Err(format!("fuel {} is not in methodology {} v{}", f.fuel, m.id, m.version));
            }
            non_negative(&format!("fuel {} amount", f.fuel), f.amount)?;
            for (what, ms) in [("ncv", &f.ncv), ("carbon_content", &f.carbon_content)] {
                if let Some(ms) = ms {
                    if ms.value <= Decimal::ZERO {
                        return Err(format!("fuel {}: measured {what} must be positive", f.fuel));
                    }
                    if ms.evidence.is_empty() {
                        return Err(format!("fuel {}: a measured {what} needs its evidence", f.fuel));
                    }
                }
            }
        }
        for g in &self.fgas {
            if g.gas == "CO2" || !m.gases.contains_key(&g.gas) {
                return Err(format!("gas {} is not a fluorinated gas of methodology {} v{}", g.gas, m.id, m.version));
            }
            for (what, d) in [
                ("opening", g.opening),
                ("closing", g.closing),
                ("purchased", g.purchased),
                ("sold", g.sold),
                ("fills", g.fills),
            ] {
                non_negative(&format!("{} {what}", g.gas), d)?;
            }
            match &g.filling {
                Filling::Containers { before, after } => {
                    non_negative(&format!("{} container mass", g.gas), *after)?;
                    if before < after {
                        return Err(format!("{}: containers weigh less before filling than after", g.gas));
                    }
                }
                Filling::FlowMeter { metered } => non_negative(&format!("{} metered", g.gas), *metered)?,
            }
        }
        for w in &self.welding {
            for (what, d) in [
                ("opening", w.opening),
                ("purchased", w.purchased),
                ("closing", w.closing),
                ("sold", w.sold),
                ("v_co2", w.v_co2),
                ("v_ar", w.v_ar),
                ("v_o2", w.v_o2),
            ] {
                non_negative(&format!("welding gas {what}"), d)?;
            }
            let sum = w.v_co2 + w.v_ar + w.v_o2;
            if (sum - Decimal::ONE).abs() > fraction_tolerance() {
                return Err(format!("welding gas: volume fractions sum to {sum}, not 1"));
            }
        }
        for (what, d) in [
            ("electricity purchased", self.electricity.purchased),
            ("electricity exported", self.electricity.exported),
            ("electricity green", self.electricity.green),
            ("heat purchased", self.heat.purchased),
            ("heat exported", self.heat.exported),
        ] {
            non_negative(what, d)?;
        }
        if let Some(o) = self.output
            && o <= Decimal::ZERO
        {
            return Err("production output must be positive".into());
        }
        if self.province.len() != 2 || !self.province.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("province `{}` is not a two-digit GB/T 2260 code", self.province));
        }
        Ok(())
    }
}

impl FgasUse {
    /// The `item.*` values of this entry.
    pub(crate) fn fields(&self) -> Vec<(&'static str, Decimal)> {
        let mut v = vec![
            ("item.opening", self.opening),
            ("item.closing", self.closing),
            ("item.purchased", self.purchased),
            ("item.sold", self.sold),
            ("item.fills", self.fills),
        ];
        match &self.filling {
            Filling::Containers { before, after } => {
                v.push(("item.container_before", *before));
                v.push(("item.container_after", *after));
            }
            Filling::FlowMeter { metered } => v.push(("item.metered", *metered)),
        }
        v
    }
}

impl WeldingUse {
    /// The `item.*` values of this entry.
    pub(crate) fn fields(&self) -> Vec<(&'static str, Decimal)> {
        vec![
            ("item.opening", self.opening),
            ("item.purchased", self.purchased),
            ("item.closing", self.closing),
            ("item.sold", self.sold),
            ("item.v_co2", self.v_co2),
            ("item.v_ar", self.v_ar),
            ("item.v_o2", self.v_o2),
        ]
    }
}
