//! Properties of every evaluation, and the document parser under random edits.

use proptest::prelude::*;
use std::sync::OnceLock;

use trustmeter_carbon::activity::{Activity, Electricity, FgasUse, Filling, FuelUse, Heat, WeldingUse};
use trustmeter_carbon::compute::compute;
use trustmeter_carbon::document::Methodology;
use trustmeter_carbon::{Decimal, View, shipped};
use trustmeter_fuzzkit::{apply_byte_edit, byte_edits, config};

pub(crate) fn machinery() -> &'static Methodology {
    static M: OnceLock<Methodology> = OnceLock::new();
    M.get_or_init(|| Methodology::parse(shipped::MACHINERY_V1).unwrap())
}

/// A decimal with up to 4 places, 0 ≤ x < 10⁶.
pub(crate) fn amount() -> impl Strategy<Value = Decimal> {
    (0i64..10_000_000_000).prop_map(|n| Decimal::new(n, 4))
}

fn fraction_triple() -> impl Strategy<Value = (Decimal, Decimal, Decimal)> {
    (0i64..=1000, 0i64..=1000).prop_map(|(a, b)| {
        let (a, b) = (a.min(1000), b.min(1000 - a.min(1000)));
        (Decimal::new(a, 3), Decimal::new(b, 3), Decimal::new(1000 - a - b, 3))
    })
}

pub(crate) fn activity() -> impl Strategy<Value = Activity> {
    let fuels: Vec<String> = machinery().fuels.keys().cloned().collect();
    let gases: Vec<String> = machinery().gases.keys().filter(|g| *g != "CO2").cloned().collect();
    let fuel = (prop::sample::select(fuels), amount()).prop_map(|(fuel, amount)| FuelUse {
        fuel,
        amount,
        ncv: None,
        carbon_content: None,
    });
    let fgas =
        (prop::sample::select(gases), amount(), amount(), amount(), amount(), 0i64..5000, any::<bool>(), amount())
            .prop_map(|(gas, opening, closing, purchased, sold, fills, containers, filled)| FgasUse {
                gas,
                opening,
                closing,
                purchased,
                sold,
                fills: Decimal::from(fills),
                filling: if containers {
                    Filling::Containers { before: filled + Decimal::from(100), after: Decimal::from(100) }
                } else {
                    Filling::FlowMeter { metered: filled }
                },
            });
    let welding = (amount(), amount(), amount(), fraction_triple()).prop_map(
        |(opening, purchased, closing, (v_co2, v_ar, v_o2))| WeldingUse {
            opening,
            purchased,
            closing,
            sold: Decimal::ZERO,
            v_co2,
            v_ar,
            v_o2,
        },
    );
    let provinces = machinery().regions.keys().cloned().collect::<Vec<_>>();
    (
        prop::collection::vec(fuel, 0..6),
        prop::collection::vec(fgas, 0..4),
        prop::collection::vec(welding, 0..3),
        (amount(), amount(), amount(), amount(), amount()),
        prop::sample::select(provinces),
        2022i32..2030,
    )
        .prop_map(|(fuels, fgas, welding, (p, x, g, hp, hx), province, year)| {
            let mut a = Activity::new(year, &province);
            a.fuels = fuels;
            a.fgas = fgas;
            a.welding = welding;
            a.electricity = Electricity { purchased: p, exported: x, green: g };
            a.heat = Heat { purchased: hp, exported: hx };
            a
        })
}

proptest! {
    #![proptest_config(config(256, 0xC0_2E))]

    /// The sum of the lines is the total in every view, and the totals never lose a line.
    #[test]
    fn lines_sum_to_the_totals(a in activity()) {
        let r = compute(machinery(), &a).unwrap();
        let sum = |f: &dyn Fn(&trustmeter_carbon::compute::Line) -> bool| r.lines.iter().filter(|l| !l.biogenic && f(l)).map(|l| l.co2e_ut).sum::<i64>();
        prop_assert_eq!(r.totals.standard, sum(&|l| l.views.contains(&View::Standard)));
        prop_assert_eq!(r.totals.scope1, sum(&|l| l.scope == 1 && l.views.contains(&View::Location)));
        prop_assert_eq!(r.totals.scope1, sum(&|l| l.scope == 1 && l.views.contains(&View::Market)));
        prop_assert_eq!(r.totals.location(), sum(&|l| l.views.contains(&View::Location)));
        prop_assert_eq!(r.totals.market(), sum(&|l| l.views.contains(&View::Market)));
    }

    /// Green power and certificates never change the location-based figure (GHG Protocol Scope 2
    /// Guidance), only the market-based one, which they never raise.
    #[test]
    fn certificates_leave_the_location_figure_alone(a in activity(), green in amount()) {
        let before = compute(machinery(), &a).unwrap();
        let mut b = a.clone();
        b.electricity.green = green;
        let after = compute(machinery(), &b).unwrap();
        prop_assert_eq!(before.totals.location(), after.totals.location());
        prop_assert_eq!(before.totals.standard, after.totals.standard);
        if green >= a.electricity.green {
            prop_assert!(after.totals.market() <= before.totals.market());
        }
    }

    /// Reordering entries never changes a result.
    #[test]
    fn order_of_entries_does_not_matter(a in activity(), seed in any::<u64>()) {
        let r = compute(machinery(), &a).unwrap();
        let mut b = a.clone();
        let rot = |n: usize| if n == 0 { 0 } else { (seed as usize) % n };
        let (nf, ng, nw) = (b.fuels.len(), b.fgas.len(), b.welding.len());
        b.fuels.rotate_left(rot(nf));
        b.fuels.reverse();
        b.fgas.rotate_left(rot(ng));
        b.welding.reverse();
        b.welding.rotate_left(rot(nw));
        prop_assert_eq!(r, compute(machinery(), &b).unwrap());
    }
}

proptest! {
    #![proptest_config(config(96, 0xD0C))]

    /// Random edits of a shipped document never panic the parser: refused with a reason, or
    /// parsed into a document that passes its own dry run.
    #[test]
    fn edited_documents_are_refused_or_sound(edits in byte_edits()) {
        let mut bytes = shipped::MACHINERY_V1.as_bytes().to_vec();
        for e in &edits {
            apply_byte_edit(&mut bytes, e);
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            match Methodology::parse(text) {
                Ok(m) => prop_assert!(trustmeter_carbon::dryrun::dry_run(&m).is_ok()),
                Err(e) => prop_assert!(!e.0.is_empty()),
            }
        }
    }
}
