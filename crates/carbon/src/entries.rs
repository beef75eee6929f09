//! Documented entries (台账, `trustmeter_types::carbon`) as activity data.
//!
//! [`check_entry`] is what a validator asks before it records an entry: does the enterprise's
//! methodology know the fuel or gas, and does it have a source the entry feeds? [`add_entries`]
//! adds a month's recorded entries to the activity data from metered energy:
//!
//! - a fuel entry adds its amount to that fuel's use (metered and documented amounts of one fuel
//!   are one item);
//! - a fuel analysis sets the measured NCV or carbon content of that fuel's use, with the hash of
//!   its lab report as evidence (the highest-numbered analysis of a fuel wins; an analysis of a
//!   fuel not used in the month changes nothing and is listed);
//! - fluorinated-gas and welding-gas ledgers become items of their sources;
//! - green power and green certificates (1 MWh each) add to the electricity they cover;
//! - output sums into the month's production when every output entry names the same product
//!   and unit (intensity needs one product; several are listed and no intensity is given).
//!
//! Entries are taken in entry-number order, so the result never depends on the order they were
//! recorded in.

use rust_decimal::Decimal;
use trustmeter_types::carbon::{CarbonEntryData, EvidenceKind, GasFilling};
use trustmeter_types::{Evidence, Quantity};

use crate::activity::{Activity, FgasUse, Filling, FuelUse, Measured, WeldingUse};
use crate::document::{ItemKind, Methodology};

fn dec(q: Quantity) -> Decimal {
    Decimal::new(q.micros(), 6)
}

/// Whether methodology `m` can use entry `data`: its fuel or gas is in the document and some
/// source reads it.
pub fn check_entry(m: &Methodology, data: &CarbonEntryData) -> Result<(), String> {
    let has_source = |k: ItemKind| m.sources.iter().any(|s| s.per == Some(k));
    let named = format!("{} v{}", m.id, m.version);
    match data {
        CarbonEntryData::Fuel { fuel, .. } | CarbonEntryData::FuelAnalysis { fuel, .. } => {
            if !m.fuels.contains_key(fuel) {
                let known: Vec<&str> = m.fuels.keys().map(String::as_str).collect();
                return Err(format!("fuel {fuel} is not in methodology {named} (its fuels: {})", known.join(", ")));
            }
            Ok(())
        }
        CarbonEntryData::Fgas { gas, filling, .. } => {
            if gas == "CO2" || !m.gases.contains_key(gas) {
                return Err(format!("{gas} is not a fluorinated gas of methodology {named}"));
            }
            let kind = match filling {
                GasFilling::Containers { .. } => ItemKind::FgasContainers,
                GasFilling::FlowMeter { .. } => ItemKind::FgasFlowMeter,
            };
            if !has_source(kind) {
                return Err(format!("methodology {named} has no {} source", kind.as_str()));
            }
            Ok(())
        }
        CarbonEntryData::Welding { .. } => {
            if !has_source(ItemKind::WeldingGas) {
                return Err(format!("methodology {named} has no welding-gas source"));
            }
            Ok(())
        }
        CarbonEntryData::Output { .. }
        | CarbonEntryData::GreenPower { .. }
        | CarbonEntryData::GreenCertificates { .. } => Ok(()),
    }
}

/// A recorded entry, as [`add_entries`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct RecordedEntry<'a> {
    /// The entry's number in the month.
    pub number: u32,
    /// What it records.
    pub data: &'a CarbonEntryData,
    /// Its evidence.
    pub evidence: &'a [Evidence],
}

/// Adds a month's documented entries to `a`, returning notes on what was set aside. Entries the
/// methodology cannot use (recorded under another plan) are set aside too, with the reason.
pub fn add_entries(m: &Methodology, a: &mut Activity, entries: &[RecordedEntry<'_>]) -> Vec<String> {
    let mut sorted: Vec<&RecordedEntry<'_>> = entries.iter().collect();
    sorted.sort_by_key(|e| e.number);
    let mut notes = Vec::new();
    let mut outputs: Vec<(&str, &str, Decimal)> = Vec::new();
    let mut analyses = Vec::new();
    for e in sorted {
        if let Err(why) = check_entry(m, e.data) {
            notes.push(format!("entry {} set aside: {why}", e.number));
            continue;
        }
        match e.data {
            CarbonEntryData::Fuel { fuel, amount } => match a.fuels.iter_mut().find(|f| &f.fuel == fuel) {
                Some(f) => f.amount += dec(*amount),
                None => {
                    a.fuels.push(FuelUse { fuel: fuel.clone(), amount: dec(*amount), ncv: None, carbon_content: None })
                }
            },
            CarbonEntryData::FuelAnalysis { .. } => analyses.push(e),
            CarbonEntryData::Fgas { gas, opening_t, closing_t, purchased_t, sold_t, fills, filling } => {
                a.fgas.push(FgasUse {
                    gas: gas.clone(),
                    opening: dec(*opening_t),
                    closing: dec(*closing_t),
                    purchased: dec(*purchased_t),
                    sold: dec(*sold_t),
                    fills: Decimal::from(*fills),
                    filling: match filling {
                        GasFilling::Containers { before_t, after_t } => {
                            Filling::Containers { before: dec(*before_t), after: dec(*after_t) }
                        }
                        GasFilling::FlowMeter { metered_t } => Filling::FlowMeter { metered: dec(*metered_t) },
                    },
                })
            }
            CarbonEntryData::Welding { opening_t, purchased_t, closing_t, sold_t, v_co2, v_ar, v_o2 } => {
                a.welding.push(WeldingUse {
                    opening: dec(*opening_t),
                    purchased: dec(*purchased_t),
                    closing: dec(*closing_t),
                    sold: dec(*sold_t),
                    v_co2: dec(*v_co2),
                    v_ar: dec(*v_ar),
                    v_o2: dec(*v_o2),
                })
            }
            CarbonEntryData::Output { product, unit, amount } => outputs.push((product, unit, dec(*amount))),
            CarbonEntryData::GreenPower { mwh, .. } => a.electricity.green += dec(*mwh),
            CarbonEntryData::GreenCertificates { count, .. } => a.electricity.green += Decimal::from(*count),
        }
    }
    // Measured factors last, so that they find fuel entries recorded under any number.
    for e in analyses {
        let CarbonEntryData::FuelAnalysis { fuel, ncv, carbon_content } = e.data else { continue };
        let report = e.evidence.iter().find(|v| v.kind == EvidenceKind::LabReport).map(|v| v.hash.to_hex());
        let (Some(use_), Some(report)) = (a.fuels.iter_mut().find(|f| &f.fuel == fuel), report) else {
            notes.push(format!("entry {}: fuel {fuel} has no use this month; its analysis changes nothing", e.number));
            continue;
        };
        if let Some(v) = ncv {
            use_.ncv = Some(Measured { value: dec(*v), evidence: report.clone() });
        }
        if let Some(v) = carbon_content {
            use_.carbon_content = Some(Measured { value: dec(*v), evidence: report });
        }
    }
    match outputs.as_slice() {
        [] => {}
        [(p, u, _), rest @ ..] if rest.iter().all(|(p2, u2, _)| p2 == p && u2 == u) => {
            let sum: Decimal = outputs.iter().map(|o| o.2).sum();
            if sum > Decimal::ZERO {
                a.output = Some(sum);
            }
        }
        _ => notes.push("output entries name several products or units: no single carbon intensity".into()),
    }
    notes
}
