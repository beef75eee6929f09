//! The dry run at deployment: a methodology is evaluated over synthetic activity data (nothing,
//! typical amounts, a very large plant; every fuel, every fluorinated gas by both filling methods,
//! three welding mixtures) for a province its grid factors cover, and refused if any evaluation
//! fails. A deployed methodology then fails only on inputs no synthetic case resembles.

use rust_decimal::Decimal;

use crate::activity::{Activity, Electricity, FgasUse, Filling, FuelUse, Heat, WeldingUse};
use crate::compute::compute;
use crate::document::{DocumentError, Methodology};

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).expect("literal")
}

/// Synthetic activities for `year` and `province`, scaled by `amount` (a decimal string).
pub fn synthetic(m: &Methodology, year: i32, province: &str, amount: &str) -> Activity {
    let a = d(amount);
    let zero = a.is_zero();
    let part = |frac: &str| if zero { Decimal::ZERO } else { a * d(frac) };
    let mut act = Activity::new(year, province);
    for f in m.fuels.keys() {
        act.fuels.push(FuelUse { fuel: f.clone(), amount: a, ncv: None, carbon_content: None });
    }
    for g in m.gases.keys().filter(|g| *g != "CO2") {
        for filling in [
            Filling::Containers { before: part("0.1"), after: part("0.098") },
            Filling::FlowMeter { metered: part("0.002") },
        ] {
            act.fgas.push(FgasUse {
                gas: g.clone(),
                opening: part("0.001"),
                closing: part("0.0005"),
                purchased: part("0.002"),
                sold: part("0.0001"),
                fills: if zero { Decimal::ZERO } else { Decimal::from(1000) },
                filling,
            });
        }
    }
    for (co2, ar, o2) in [("1", "0", "0"), ("0.2", "0.8", "0"), ("0.18", "0.8", "0.02")] {
        act.welding.push(WeldingUse {
            opening: part("0.001"),
            purchased: part("0.01"),
            closing: part("0.002"),
            sold: Decimal::ZERO,
            v_co2: d(co2),
            v_ar: d(ar),
            v_o2: d(o2),
        });
    }
    act.electricity = Electricity { purchased: a, exported: part("0.1"), green: part("0.5") };
    act.heat = Heat { purchased: a, exported: part("0.1") };
    act.output = Some(if zero { Decimal::ONE } else { a });
    act
}

/// Evaluates `m` over the synthetic cases; the first failure refuses the document.
pub fn dry_run(m: &Methodology) -> Result<(), DocumentError> {
    let mut provinces: Vec<String> = m.regions.keys().cloned().collect();
    for g in &m.grid_factors {
        if g.geography.len() == 2
            && g.geography.bytes().all(|b| b.is_ascii_digit())
            && !provinces.contains(&g.geography)
        {
            provinces.push(g.geography.clone());
        }
    }
    if provinces.is_empty() {
        provinces.push("11".into());
    }
    let start_year = trustmeter_energy::calendar::month_of_day(m.effective_from).0;
    let latest = m.grid_factors.iter().map(|g| g.year).max().unwrap_or(start_year);
    let year = start_year.max(latest);
    let mut covered = 0;
    for p in &provinces {
        let resolves = m.grid_selects.keys().all(|s| m.grid_factor(s, year, p).is_ok());
        if !resolves {
            continue;
        }
        covered += 1;
        for amount in ["0", "1000", "100000000"] {
            let act = synthetic(m, year, p, amount);
            compute(m, &act)
                .map_err(|e| DocumentError(format!("dry run (province {p}, year {year}, amount {amount}): {e}")))?;
        }
    }
    if covered == 0 {
        return Err(DocumentError(format!("dry run: the grid factors cover no province for year {year}")));
    }
    Ok(())
}
