//! What-if scenarios (减排路径模拟) against figures computed by hand from the shipped machinery
//! methodology's factors (worked out with a decimal calculator, not by this crate), the refusals,
//! the serde form, and properties over random activity data and scenarios.
//!
//! Factors read out of `methodologies/gb-t-32151.29-2024-v1.toml` (a Hunan plant, province 43, is
//! on the central grid; reporting year 2024 takes the latest factors, those of 2023):
//! - grid: standard (mee_average national 2023) 0.5306, location (mee_average central 2023)
//!   0.5271, market (mee_excl_market national 2023) 0.6096 tCO2/MWh;
//! - diesel: NCV 43.33 GJ/t, carbon content 0.0202 tC/GJ, oxidation 0.98;
//! - natural gas: NCV 389.31 GJ/10⁴Nm³, carbon content 0.0153 tC/GJ, oxidation 0.99;
//! - co2_per_c 44/12; heat_factor 0.11 tCO2/GJ.

use std::str::FromStr;

use proptest::prelude::*;

use trustmeter_carbon::activity::{Activity, Electricity, FgasUse, Filling, FuelUse, Heat, Measured, WeldingUse};
use trustmeter_carbon::compute::{Totals, compute};
use trustmeter_carbon::scenario::{
    EfficiencyGain, FuelSwitch, MAX_GAINS, MAX_SWITCHES, Scenario, ScenarioError, apply, evaluate,
};
use trustmeter_carbon::{Decimal, Methodology};
use trustmeter_fuzzkit::config;

use crate::props::{activity, amount, machinery};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn m() -> &'static Methodology {
    machinery()
}

fn fuel(id: &str, amount: &str) -> FuelUse {
    FuelUse { fuel: id.into(), amount: d(amount), ncv: None, carbon_content: None }
}

fn gain(target: &str, g: &str) -> EfficiencyGain {
    EfficiencyGain { target: target.into(), gain: d(g) }
}

fn switch(from: &str, to: &str, share: &str) -> FuelSwitch {
    FuelSwitch { from: from.into(), to: to.into(), share: d(share), efficiency_ratio: Decimal::ONE }
}

/// A Hunan plant of 2024 buying `purchased` MWh, `green` of them green, nothing else.
fn electricity_only(purchased: &str, green: &str) -> Activity {
    let mut a = Activity::new(2024, "43");
    a.electricity = Electricity { purchased: d(purchased), exported: d("0"), green: d(green) };
    a
}

fn totals(a: &Activity) -> Totals {
    compute(m(), a).unwrap().totals
}

/// A plant with every kind of activity data (the methodology tests' plant, with amounts of more
/// than six places that no measure may round unless it changes them).
fn plant() -> Activity {
    let mut a = Activity::new(2024, "43");
    a.fuels.push(fuel("diesel", "10.123456789"));
    a.fuels.push(fuel("natural_gas", "5"));
    a.fgas.push(FgasUse {
        gas: "SF6".into(),
        opening: d("0.5"),
        closing: d("0.3"),
        purchased: d("1.0"),
        sold: d("0.1"),
        fills: d("2000"),
        filling: Filling::Containers { before: d("120.0"), after: d("119.2") },
    });
    a.welding.push(WeldingUse {
        opening: d("0.1"),
        purchased: d("2.0"),
        closing: d("0.3"),
        sold: d("0"),
        v_co2: d("0.2"),
        v_ar: d("0.8"),
        v_o2: d("0"),
    });
    a.electricity = Electricity { purchased: d("1000.0000001"), exported: d("100"), green: d("300") };
    a.heat = Heat { purchased: d("2000"), exported: d("500") };
    a.output = Some(d("400"));
    a
}

#[test]
fn a_green_share_halves_market_scope2_and_leaves_the_location_figure() {
    let a = electricity_only("1000", "0");
    let base = totals(&a);
    // Baseline: location 1000 × 0.5271 = 527.1 t; market 1000 × 0.6096 = 609.6 t;
    // standard 1000 × 0.5306 = 530.6 t.
    assert_eq!((base.scope2_location, base.scope2_market, base.standard), (527_100_000, 609_600_000, 530_600_000));
    let s = Scenario { green_power_share: Some(d("0.5")), ..Scenario::default() };
    let b = apply(m(), &a, &s).unwrap();
    // 50 % of 1000 MWh = 500 MWh green; market (1000 − 500) × 0.6096 = 304.8 t, half of 609.6.
    assert_eq!(b.electricity.green, d("500"));
    let t = totals(&b);
    assert_eq!(t.scope2_market, 304_800_000);
    assert_eq!(t.scope2_location, 527_100_000);
    assert_eq!(t.standard, 530_600_000);

    // An awkward amount: 1234.567 MWh. Market 1234.567 × 0.6096 = 752.5920432 → 752.592043 t;
    // half green 617.2835 MWh, market 617.2835 × 0.6096 = 376.2960216 → 376.296022 t (the exact
    // half of 752.5920432, rounded once); location 1234.567 × 0.5271 = 650.7402657 → 650.740266.
    let a = electricity_only("1234.567", "0");
    assert_eq!(totals(&a).scope2_market, 752_592_043);
    let t = totals(&apply(m(), &a, &s).unwrap());
    assert_eq!((t.scope2_market, t.scope2_location), (376_296_022, 650_740_266));

    // Green already claimed beyond the share stays: 600 MWh claimed, 50 % is 500, green stays 600;
    // market (1000 − 600) × 0.6096 = 243.84 t.
    let b = apply(m(), &electricity_only("1000", "600"), &s).unwrap();
    assert_eq!(b.electricity.green, d("600"));
    assert_eq!(totals(&b).scope2_market, 243_840_000);
}

#[test]
fn an_electricity_efficiency_gain_cuts_location_scope2_by_its_share() {
    // 1000 MWh, 950 of them green. A 10 % gain: 900 MWh, green capped to 900.
    let a = electricity_only("1000", "950");
    let s = Scenario { efficiency: vec![gain("electricity", "0.1")], ..Scenario::default() };
    let b = apply(m(), &a, &s).unwrap();
    assert_eq!((b.electricity.purchased, b.electricity.green), (d("900"), d("900")));
    let t = totals(&b);
    // Location 900 × 0.5271 = 474.39 t = 527.1 t × 0.9, exactly 10 % less.
    assert_eq!(t.scope2_location, 474_390_000);
    assert_eq!(totals(&a).scope2_location * 9 / 10, 474_390_000);
    // Standard 900 × 0.5306 = 477.54 t; market (900 − 900) × 0.6096 = 0.
    assert_eq!((t.standard, t.scope2_market), (477_540_000, 0));
}

#[test]
fn heat_and_fuel_gains_compound_in_list_order() {
    let mut a = Activity::new(2024, "43");
    a.fuels.push(fuel("diesel", "10"));
    a.heat = Heat { purchased: d("2000"), exported: d("0") };
    let s = Scenario {
        efficiency: vec![gain("diesel", "0.1"), gain("heat", "0.25"), gain("diesel", "0.1")],
        ..Scenario::default()
    };
    let b = apply(m(), &a, &s).unwrap();
    // Diesel 10 × 0.9 × 0.9 = 8.1 t; heat 2000 × 0.75 = 1500 GJ.
    assert_eq!((b.fuels[0].amount, b.heat.purchased), (d("8.1"), d("1500")));
    let t = totals(&b);
    // Diesel 8.1 × 43.33 × 0.0202 × 0.98 × 44/12 = 6.947861508 × 44/12 = 25.475492196 → 25.475492 t.
    assert_eq!(t.scope1, 25_475_492);
    // Heat 1500 × 0.11 = 165 t, in both Scope 2 views.
    assert_eq!((t.scope2_location, t.scope2_market), (165_000_000, 165_000_000));
}

#[test]
fn diesel_to_natural_gas_moves_energy_for_energy() {
    let mut a = Activity::new(2024, "43");
    a.fuels.push(fuel("diesel", "10"));
    // Baseline: 10 × 43.33 × 0.0202 × 0.98 × 44/12 = 8.5776068 × 44/12 = 31.4512249333… → 31.451225 t.
    assert_eq!(totals(&a).scope1, 31_451_225);
    let s = Scenario { fuel_switch: vec![switch("diesel", "natural_gas", "1")], ..Scenario::default() };
    let b = apply(m(), &a, &s).unwrap();
    // Energy 10 t × 43.33 GJ/t = 433.3 GJ; gas 433.3 / 389.31 = 1.1129947856… → 1.112995 × 10⁴ Nm³.
    assert_eq!(b.fuels, vec![fuel("diesel", "0"), fuel("natural_gas", "1.112995")]);
    // Gas: 1.112995 × 389.31 = 433.30008345 GJ × 0.0153 × 0.99 = 6.56319636401715 tC
    // × 44/12 = 24.0650533347… → 24.065053 t.
    let r = compute(m(), &b).unwrap();
    assert_eq!(r.totals.scope1, 24_065_053);
    assert_eq!(r.totals.standard, 24_065_053);

    // With gas already burnt (5 × 10⁴ Nm³, no lab analysis), the new gas joins that entry:
    // 5 + 1.112995 = 6.112995; 6.112995 × 389.31 × 0.0153 × 0.99 × 44/12 = 132.17449378… → 132.174494 t.
    a.fuels.push(fuel("natural_gas", "5"));
    let b = apply(m(), &a, &s).unwrap();
    assert_eq!(b.fuels, vec![fuel("diesel", "0"), fuel("natural_gas", "6.112995")]);
    assert_eq!(totals(&b).scope1, 132_174_494);
}

#[test]
fn electrification_with_a_measured_ncv_and_a_heat_pump_ratio() {
    let mut a = Activity::new(2024, "43");
    let lab = Measured { value: d("42.652"), evidence: "ab12".into() };
    a.fuels.push(FuelUse { fuel: "diesel".into(), amount: d("10"), ncv: Some(lab.clone()), carbon_content: None });
    let s = Scenario {
        fuel_switch: vec![FuelSwitch {
            from: "diesel".into(),
            to: "electricity".into(),
            share: d("0.4"),
            efficiency_ratio: d("3"),
        }],
        ..Scenario::default()
    };
    let b = apply(m(), &a, &s).unwrap();
    // 40 % moves: 6 t remain, with their lab report; 4 t × 42.652 GJ/t (measured) = 170.608 GJ;
    // ÷ 3.6 GJ/MWh ÷ 3 = 170.608 / 10.8 = 15.7970370370… → 15.797037 MWh.
    assert_eq!(b.fuels, vec![FuelUse { fuel: "diesel".into(), amount: d("6"), ncv: Some(lab), carbon_content: None }]);
    assert_eq!(b.electricity.purchased, d("15.797037"));
    let t = totals(&b);
    // Diesel 6 × 42.652 × 0.0202 × 0.98 × 44/12 = 5.066033952 × 44/12 = 18.575457824 → 18.575458 t.
    assert_eq!(t.scope1, 18_575_458);
    // Location 15.797037 × 0.5271 = 8.3266182027 → 8.326618 t; market 15.797037 × 0.6096 =
    // 9.6298737552 → 9.629874 t; standard 15.797037 × 0.5306 = 8.3819078322 → 8.381908 t.
    assert_eq!((t.scope2_location, t.scope2_market), (8_326_618, 9_629_874));
    assert_eq!(t.standard, 18_575_458 + 8_381_908);
}

#[test]
fn two_switches_from_one_fuel_share_its_amount_before_switching() {
    let mut a = Activity::new(2024, "43");
    a.fuels.push(fuel("diesel", "10"));
    // 50 % to gas and 50 % to electricity move all 10 t, in either order: 5 t each.
    let one = Scenario {
        fuel_switch: vec![switch("diesel", "natural_gas", "0.5"), switch("diesel", "electricity", "0.5")],
        ..Scenario::default()
    };
    let mut other = one.clone();
    other.fuel_switch.reverse();
    let (b, c) = (apply(m(), &a, &one).unwrap(), apply(m(), &a, &other).unwrap());
    assert_eq!(b, c);
    // 5 t × 43.33 = 216.65 GJ: gas 216.65 / 389.31 = 0.5564973928… → 0.556497; electricity
    // 216.65 / 3.6 = 60.1805555… → 60.180556 MWh.
    assert_eq!(b.fuels, vec![fuel("diesel", "0"), fuel("natural_gas", "0.556497")]);
    assert_eq!(b.electricity.purchased, d("60.180556"));
}

#[test]
fn an_empty_scenario_is_the_baseline() {
    let a = plant();
    let s = Scenario::default();
    assert_eq!(apply(m(), &a, &s).unwrap(), a);
    // Zero gains and shares change nothing either (no rounding of what they do not change).
    let zeros = Scenario {
        green_power_share: Some(d("0")),
        efficiency: vec![gain("electricity", "0"), gain("diesel", "0")],
        fuel_switch: vec![switch("diesel", "lpg", "0")],
        ..Scenario::default()
    };
    assert_eq!(apply(m(), &a, &zeros).unwrap(), a);
    let months = vec![a.clone(), electricity_only("1000", "0"), a];
    let o = evaluate(m(), &months, &s).unwrap();
    assert_eq!(o.baseline, o.scenario);
    let sum = months.iter().map(totals).fold(Totals::default(), |x, y| x.checked_add(y).unwrap());
    assert_eq!(o.baseline, sum);
}

#[test]
fn a_years_certificates_are_shared_among_its_months_in_order() {
    // Three months of 100 MWh, none green. Baseline market 3 × 100 × 0.6096 = 182.88 t.
    let months = vec![electricity_only("100", "0"); 3];
    let s = Scenario { extra_certificates_mwh: d("250"), ..Scenario::default() };
    let o = evaluate(m(), &months, &s).unwrap();
    assert_eq!(o.baseline.scope2_market, 182_880_000);
    // 250 MWh cover 100 + 100 + 50: market 50 × 0.6096 = 30.48 t; all used.
    assert_eq!(o.scenario.scope2_market, 30_480_000);
    assert_eq!(o.certificates_unused_mwh, d("0"));
    // Location unchanged: 300 × 0.5271 = 158.13 t.
    assert_eq!((o.baseline.scope2_location, o.scenario.scope2_location), (158_130_000, 158_130_000));
    // 400 MWh: 300 used, 100 cover nothing.
    let s = Scenario { extra_certificates_mwh: d("400"), ..Scenario::default() };
    let o = evaluate(m(), &months, &s).unwrap();
    assert_eq!((o.scenario.scope2_market, o.certificates_unused_mwh), (0, d("100")));
    // One period alone takes what it can: 100 of 250.
    let b = apply(m(), &months[0], &Scenario { extra_certificates_mwh: d("250"), ..Scenario::default() }).unwrap();
    assert_eq!(b.electricity.green, d("100"));
}

fn refused(a: &Activity, s: &Scenario) -> String {
    apply(m(), a, s).expect_err("must be refused").to_string()
}

#[test]
fn invalid_scenarios_are_refused_with_a_reason() {
    let a = plant();
    let s = Scenario { green_power_share: Some(d("1.5")), ..Scenario::default() };
    assert_eq!(refused(&a, &s), "green_power_share is 1.5, it must be in [0, 1]");
    let s = Scenario { green_power_share: Some(d("-0.1")), ..Scenario::default() };
    assert!(matches!(apply(m(), &a, &s), Err(ScenarioError::OutOfRange { .. })));
    let s = Scenario { fuel_switch: vec![switch("diesel", "lpg", "1.5")], ..Scenario::default() };
    assert_eq!(refused(&a, &s), "fuel_switch[0].share is 1.5, it must be in [0, 1]");
    let s = Scenario { efficiency: vec![gain("heat", "1")], ..Scenario::default() };
    assert_eq!(refused(&a, &s), "efficiency[0].gain is 1, it must be in [0, 1)");
    let s = Scenario { extra_certificates_mwh: d("-1"), ..Scenario::default() };
    assert!(refused(&a, &s).starts_with("extra_certificates_mwh is -1"));

    // Unknown fuels are named.
    let s = Scenario { efficiency: vec![gain("coal", "0.1")], ..Scenario::default() };
    let e = refused(&a, &s);
    assert!(
        e.contains("efficiency[0].target") && e.contains("`coal` is not a fuel of methodology GB/T 32151.29-2024 v1"),
        "{e}"
    );
    let s = Scenario { fuel_switch: vec![switch("diesel", "hydrogen", "0.5")], ..Scenario::default() };
    let e = refused(&a, &s);
    assert!(e.contains("fuel_switch[0].to") && e.contains("`hydrogen`"), "{e}");
    let s = Scenario { fuel_switch: vec![switch("electricity", "diesel", "0.5")], ..Scenario::default() };
    assert!(refused(&a, &s).contains("fuel_switch[0].from: `electricity` is not a fuel"));

    // Limits: 33 gains, 33 switches.
    let s = Scenario { efficiency: vec![gain("heat", "0.01"); MAX_GAINS + 1], ..Scenario::default() };
    assert_eq!(refused(&a, &s), "33 efficiency gains, at most 32");
    let s = Scenario { fuel_switch: vec![switch("diesel", "lpg", "0"); MAX_SWITCHES + 1], ..Scenario::default() };
    assert_eq!(refused(&a, &s), "33 fuel switches, at most 32");
    // At the limits, accepted.
    let s = Scenario { efficiency: vec![gain("heat", "0.01"); MAX_GAINS], ..Scenario::default() };
    assert!(apply(m(), &a, &s).is_ok());

    // Inconsistent switches: shares over 1 from one fuel, a chain, a fuel to itself, a ratio on a
    // fuel switch, a ratio of 0.
    let s = Scenario {
        fuel_switch: vec![switch("diesel", "lpg", "0.6"), switch("diesel", "electricity", "0.5")],
        ..Scenario::default()
    };
    assert!(refused(&a, &s).contains("the sum of fuel_switch shares from `diesel` is 1.1"));
    let s = Scenario {
        fuel_switch: vec![switch("diesel", "lpg", "0.5"), switch("lpg", "natural_gas", "0.5")],
        ..Scenario::default()
    };
    assert!(refused(&a, &s).contains("`lpg` is both switched from and switched to"));
    let s = Scenario { fuel_switch: vec![switch("diesel", "diesel", "0.5")], ..Scenario::default() };
    assert!(refused(&a, &s).contains("switched to itself"));
    let mut sw = switch("diesel", "lpg", "0.5");
    sw.efficiency_ratio = d("3");
    let s = Scenario { fuel_switch: vec![sw], ..Scenario::default() };
    assert!(refused(&a, &s).contains("electrification only"));
    let mut sw = switch("diesel", "electricity", "0.5");
    sw.efficiency_ratio = d("0");
    let s = Scenario { fuel_switch: vec![sw], ..Scenario::default() };
    assert_eq!(refused(&a, &s), "fuel_switch[0].efficiency_ratio is 0, it must be in (0, 10]");

    // Activity data refused before anything is applied.
    let mut bad = plant();
    bad.electricity.purchased = d("-1");
    assert!(matches!(apply(m(), &bad, &Scenario::default()), Err(ScenarioError::Activity(_))));

    // Evaluations: a year of periods at most, one reporting year.
    let months = vec![plant(); 13];
    assert!(matches!(evaluate(m(), &months, &Scenario::default()), Err(ScenarioError::TooMany { count: 13, .. })));
    let months = vec![plant(), Activity::new(2025, "43")];
    assert!(matches!(evaluate(m(), &months, &Scenario::default()), Err(ScenarioError::Periods(_))));
    // An evaluation checks the scenario even with no periods, and names the failing period.
    let s = Scenario { green_power_share: Some(d("1.5")), ..Scenario::default() };
    assert!(matches!(evaluate(m(), &[], &s), Err(ScenarioError::OutOfRange { .. })));
    let e = evaluate(m(), &[plant(), bad], &Scenario::default()).unwrap_err();
    assert!(e.to_string().starts_with("period 1: activity data: electricity purchased is negative"), "{e}");
}

#[test]
fn scenarios_are_read_from_strings_exactly_and_strictly() {
    let text = r#"
green_power_share = "0.3"
extra_certificates_mwh = "120.5"

[[efficiency]]
target = "electricity"
gain = "0.08"

[[fuel_switch]]
from = "diesel"
to = "electricity"
share = "0.25"
efficiency_ratio = "3"

[[fuel_switch]]
from = "natural_gas"
to = "lpg"
share = "1"
"#;
    let s: Scenario = toml::from_str(text).unwrap();
    assert_eq!(s.green_power_share, Some(d("0.3")));
    assert_eq!(s.extra_certificates_mwh, d("120.5"));
    assert_eq!(s.efficiency, vec![gain("electricity", "0.08")]);
    assert_eq!(s.fuel_switch[0].efficiency_ratio, d("3"));
    assert_eq!(s.fuel_switch[1].efficiency_ratio, Decimal::ONE, "1 by default");
    assert!(apply(m(), &plant(), &s).is_ok());
    // Round trip.
    let back: Scenario = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    // Everything is optional.
    assert_eq!(toml::from_str::<Scenario>("").unwrap(), Scenario::default());
    // Unknown fields, numbers instead of strings, inexact decimals: refused.
    let e = toml::from_str::<Scenario>("green_share = \"0.3\"").unwrap_err().to_string();
    assert!(e.contains("unknown field `green_share`"), "{e}");
    let e = toml::from_str::<Scenario>("[[efficiency]]\ntarget = \"heat\"\ngain = \"0.1\"\nratio = \"2\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `ratio`"), "{e}");
    assert!(toml::from_str::<Scenario>("green_power_share = 0.3").is_err());
    assert!(toml::from_str::<Scenario>("green_power_share = \"0.3.1\"").is_err());
    assert!(toml::from_str::<Scenario>("green_power_share = \"0.12345678901234567890123456789\"").is_err());
}

/// A random scenario over the machinery methodology's fuels, valid or not.
fn scenario() -> impl Strategy<Value = Scenario> {
    let fuels: Vec<String> = machinery().fuels.keys().cloned().collect();
    let mut targets = fuels.clone();
    targets.extend(["electricity".to_string(), "heat".to_string()]);
    let mut tos = fuels.clone();
    tos.push("electricity".into());
    let gain = (prop::sample::select(targets), 0i64..1000)
        .prop_map(|(target, g)| EfficiencyGain { target, gain: Decimal::new(g, 3) });
    let switch = (prop::sample::select(fuels), prop::sample::select(tos), 0i64..=1000, 1i64..=60).prop_map(
        |(from, to, share, ratio)| FuelSwitch {
            efficiency_ratio: if to == "electricity" { Decimal::new(ratio, 1) } else { Decimal::ONE },
            from,
            to,
            share: Decimal::new(share, 3),
        },
    );
    (prop::option::of(0i64..=1000), amount(), prop::collection::vec(gain, 0..5), prop::collection::vec(switch, 0..4))
        .prop_map(|(share, certificates, efficiency, fuel_switch)| Scenario {
            green_power_share: share.map(|s| Decimal::new(s, 3)),
            extra_certificates_mwh: certificates,
            efficiency,
            fuel_switch,
        })
}

fn process_lines(a: &Activity) -> Vec<trustmeter_carbon::compute::Line> {
    let r = compute(machinery(), a).unwrap();
    r.lines
        .into_iter()
        .filter(|l| ["fgas_containers", "fgas_flow_meter", "welding"].contains(&l.source.as_str()))
        .collect()
}

proptest! {
    #![proptest_config(config(256, 0x5CE7A))]

    /// No measure touches fluorinated or welding gases: their Scope 1 lines are the baseline's.
    /// And the scenario's activity data always evaluate.
    #[test]
    fn a_scenario_never_changes_process_lines(a in activity(), s in scenario()) {
        prop_assume!(s.check(machinery()).is_ok());
        let b = apply(machinery(), &a, &s).unwrap();
        prop_assert_eq!(process_lines(&a), process_lines(&b));
        prop_assert_eq!(&a.fgas, &b.fgas);
        prop_assert_eq!(&a.welding, &b.welding);
    }

    /// Green power and certificates never change the location-based figure or the standard's,
    /// and never raise the market-based one.
    #[test]
    fn green_power_never_changes_the_location_figure(a in activity(), share in 0i64..=1000, certificates in amount()) {
        let s = Scenario { green_power_share: Some(Decimal::new(share, 3)), extra_certificates_mwh: certificates, ..Scenario::default() };
        let (before, after) = (totals(&a), totals(&apply(machinery(), &a, &s).unwrap()));
        prop_assert_eq!(before.location(), after.location());
        prop_assert_eq!(before.standard, after.standard);
        prop_assert!(after.market() <= before.market());
    }

    /// The empty scenario gives back the activity data unchanged.
    #[test]
    fn the_empty_scenario_changes_nothing(a in activity()) {
        prop_assert_eq!(apply(machinery(), &a, &Scenario::default()).unwrap(), a);
    }
}
