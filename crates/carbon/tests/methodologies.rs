//! The shipped methodologies against figures computed by hand from domain.md §3 (the expected
//! values below were worked out on paper, with a decimal calculator, not by this crate), and the
//! refusals at deployment.

use std::str::FromStr;

use trustmeter_carbon::Decimal;
use trustmeter_carbon::activity::{Activity, Electricity, FgasUse, Filling, FuelUse, Heat, Measured, WeldingUse};
use trustmeter_carbon::compute::{ComputeError, compute};
use trustmeter_carbon::document::Methodology;
use trustmeter_carbon::shipped;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn machinery() -> Methodology {
    Methodology::parse(shipped::MACHINERY_V1).unwrap()
}

/// A Hunan (43, central grid) machinery plant, reporting year 2024 (grid factors of 2023, the
/// latest published).
fn plant() -> Activity {
    let mut a = Activity::new(2024, "43");
    a.fuels.push(FuelUse { fuel: "diesel".into(), amount: d("10"), ncv: None, carbon_content: None });
    a.fuels.push(FuelUse { fuel: "natural_gas".into(), amount: d("5"), ncv: None, carbon_content: None });
    a.fgas.push(FgasUse {
        gas: "SF6".into(),
        opening: d("0.5"),
        closing: d("0.3"),
        purchased: d("1.0"),
        sold: d("0.1"),
        fills: d("2000"),
        filling: Filling::Containers { before: d("120.0"), after: d("119.2") },
    });
    a.fgas.push(FgasUse {
        gas: "HFC-134a".into(),
        opening: d("0.2"),
        closing: d("0.1"),
        purchased: d("0.5"),
        sold: d("0"),
        fills: d("1000"),
        filling: Filling::FlowMeter { metered: d("0.55") },
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
    a.welding.push(WeldingUse {
        opening: d("0"),
        purchased: d("0.5"),
        closing: d("0"),
        sold: d("0"),
        v_co2: d("1"),
        v_ar: d("0"),
        v_o2: d("0"),
    });
    a.electricity = Electricity { purchased: d("1000"), exported: d("100"), green: d("300") };
    a.heat = Heat { purchased: d("2000"), exported: d("500") };
    a.output = Some(d("400"));
    a
}

fn line<'a>(r: &'a trustmeter_carbon::Results, source: &str, item: &str) -> &'a trustmeter_carbon::compute::Line {
    r.lines.iter().find(|l| l.source == source && l.item == item).unwrap_or_else(|| panic!("no line {source} {item}"))
}

#[test]
fn shipped_methodologies_parse_and_pass_their_dry_run() {
    for text in shipped::ALL {
        let m = Methodology::parse(text).unwrap();
        assert!(m.applies_on(trustmeter_energy_day("2025-06-30")));
    }
    let m = machinery();
    assert_eq!((m.id.as_str(), m.version, m.gwp_set.as_str()), ("GB/T 32151.29-2024", 1, "SAR"));
    assert!(!m.applies_on(trustmeter_energy_day("2025-03-31")), "effective from 2025-04-01");
}

fn trustmeter_energy_day(s: &str) -> i32 {
    // Day numbers as the energy crate counts them: days since 1970-01-01.
    let (y, mo, da): (i64, i64, i64) = (s[0..4].parse().unwrap(), s[5..7].parse().unwrap(), s[8..10].parse().unwrap());
    // Howard Hinnant's days_from_civil, written here independently of the crate under test.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

#[test]
fn machinery_by_hand() {
    let r = compute(&machinery(), &plant()).unwrap();
    // Diesel: 10 t × 43.33 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 8.5776068 × 44/12 = 31.4512249333… t
    assert_eq!(line(&r, "combustion", "diesel").co2e_ut, 31_451_225);
    // Natural gas: 5 × 389.31 × 0.0153 × 0.99 × 44/12 = 29.48439285 × 44/12 = 108.10944045 t
    assert_eq!(line(&r, "combustion", "natural_gas").co2e_ut, 108_109_440);
    // SF6, no flow meter: filled 120.0 − 119.2 = 0.8 t; leakage 2000 × 0.342 mol × 146.06 g/mol
    // = 99 905.04 g = 0.09990504 t; IS = 0.8 − 0.09990504 + 0.1 = 0.80009496;
    // E = 0.5 − 0.3 + 1.0 − 0.80009496 = 0.39990504 t SF6 × 23 900 = 9 557.730456 tCO2e.
    let sf6 = line(&r, "fgas_containers", "SF6/fgas_containers");
    assert_eq!((sf6.gas.as_str(), sf6.mass_ut, sf6.co2e_ut), ("SF6", 399_905, 9_557_730_456));
    // HFC-134a, flow meter: leakage 1000 × 0.342 × 102.03 g = 0.03489426 t; IS = 0.55 − 0.03489426;
    // E = 0.2 − 0.1 + 0.5 − 0.51510574 = 0.08489426 t × 1 300 = 110.362538 tCO2e.
    let hfc = line(&r, "fgas_flow_meter", "HFC-134a/fgas_flow_meter");
    assert_eq!((hfc.mass_ut, hfc.co2e_ut), (84_894, 110_362_538));
    // Welding, sorted: the pure-CO2 entry (opening 0) comes first. Net use 0.5 t, all CO2.
    assert_eq!(line(&r, "welding", "welding/0").co2e_ut, 500_000);
    // 20 % CO2 / 80 % Ar by volume, net use 0.1 + 2.0 − 0.3 = 1.8 t:
    // 1.8 × (0.2 × 44) / (0.2 × 44 + 0.8 × 39.948) = 15.84 / 40.7584 = 0.38863154… t
    assert_eq!(line(&r, "welding", "welding/1").co2e_ut, 388_632);
    // Electricity, Hunan (central grid), 2024 uses the 2023 factors:
    // standard (national average, exports netted): (1000 − 100) × 0.5306 = 477.54 t
    // location (central region, no netting): 1000 × 0.5271 = 527.1 t
    // market (300 MWh green at zero, the rest excluding market non-fossil): 700 × 0.6096 = 426.72 t
    assert_eq!(line(&r, "electricity_net", "").co2e_ut, 477_540_000);
    assert_eq!(line(&r, "electricity_location", "").co2e_ut, 527_100_000);
    assert_eq!(line(&r, "electricity_market", "").co2e_ut, 426_720_000);
    // Heat at 0.11 t/GJ: net (2000 − 500) × 0.11 = 165 t; purchased 2000 × 0.11 = 220 t.
    assert_eq!(line(&r, "heat_net", "").co2e_ut, 165_000_000);
    assert_eq!(line(&r, "heat_purchased", "").co2e_ut, 220_000_000);

    // Scope 1 = 31.451225 + 108.109440 + 9 557.730456 + 110.362538 + 0.5 + 0.388632 = 9 808.542291
    assert_eq!(r.totals.scope1, 9_808_542_291);
    assert_eq!(r.totals.standard, 9_808_542_291 + 477_540_000 + 165_000_000);
    assert_eq!(r.totals.scope2_location, 527_100_000 + 220_000_000);
    assert_eq!(r.totals.scope2_market, 426_720_000 + 220_000_000);
    assert_eq!(r.totals.location(), 10_555_642_291);
    assert_eq!(r.totals.market(), 10_455_262_291);
    assert_eq!(r.totals.biogenic, 0);

    // Every factor used is named with its source; the grid factors say which row they are.
    let names: Vec<&str> = r.factors.iter().map(|f| f.name.as_str()).collect();
    for want in [
        "grid location (mee_average central 2023)",
        "grid standard (mee_average national 2023)",
        "grid market (mee_excl_market national 2023)",
        "gwp SAR SF6",
        "fuel diesel ncv",
        "constant co2_per_c",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
}

#[test]
fn a_measured_factor_overrides_the_default_and_is_recorded_with_its_evidence() {
    let m = machinery();
    let mut a = Activity::new(2024, "32");
    // Lab report: NCV 42.652 GJ/t for this diesel (domain.md: EF 3.096 with NCV 42.652).
    a.fuels.push(FuelUse {
        fuel: "diesel".into(),
        amount: d("100"),
        ncv: Some(Measured { value: d("42.652"), evidence: "ab12".into() }),
        carbon_content: None,
    });
    let r = compute(&m, &a).unwrap();
    // 100 × 42.652 × 0.0202 × 0.98 × 44/12 = 84.4338992 × 44/12 = 309.5909637… t (3.096 t/t)
    assert_eq!(line(&r, "combustion", "diesel").co2e_ut, 309_590_964);
    let f = r.factors.iter().find(|f| f.name.starts_with("fuel diesel ncv")).unwrap();
    assert_eq!((f.value, f.confidence.as_str()), (d("42.652"), "measured"));
    assert!(f.source.contains("ab12"));
    // Without evidence the measured value is refused.
    a.fuels[0].ncv.as_mut().unwrap().evidence.clear();
    assert!(matches!(compute(&m, &a), Err(ComputeError::Activity(_))));
}

#[test]
fn exports_are_netted_in_the_standard_view_only() {
    let m = Methodology::parse(shipped::GENERAL_V1).unwrap();
    let mut a = Activity::new(2023, "32"); // Jiangsu, east grid
    a.electricity = Electricity { purchased: d("100"), exported: d("400"), green: d("0") };
    let r = compute(&m, &a).unwrap();
    // Standard: (100 − 400) × 0.5306 = −159.18 t (net exporter); location: 100 × 0.5500 = 55 t.
    assert_eq!(r.totals.standard, -159_180_000);
    assert_eq!(r.totals.scope2_location, 55_000_000);
    // Market: 100 × 0.6096 = 60.96 t.
    assert_eq!(r.totals.scope2_market, 60_960_000);
}

#[test]
fn biomass_is_reported_apart_and_counts_in_no_total() {
    let text = shipped::GENERAL_V1.replace(
        "# ---- gases",
        r#"[[fuel]]
id = "wood_pellets"
name = "生物质颗粒"
unit = "t"
ncv = "16"
carbon_content = "0.03"
oxidation = "0.9"
biogenic = true
source = "test row"
confidence = "M"

# ---- gases"#,
    );
    let m = Methodology::parse(&text).unwrap();
    let mut a = Activity::new(2023, "43");
    a.fuels.push(FuelUse { fuel: "wood_pellets".into(), amount: d("3"), ncv: None, carbon_content: None });
    a.fuels.push(FuelUse { fuel: "diesel".into(), amount: d("10"), ncv: None, carbon_content: None });
    let r = compute(&m, &a).unwrap();
    // 3 × 16 × 0.03 × 0.9 × 44/12 = 1.296 × 44/12 = 4.752 t biogenic CO2.
    assert_eq!(r.totals.biogenic, 4_752_000);
    assert_eq!(r.totals.standard, 31_451_225);
    assert_eq!(r.totals.scope1, 31_451_225);
}

fn refused(text: &str) -> String {
    Methodology::parse(text).expect_err("must be refused").to_string()
}

#[test]
fn broken_methodologies_are_refused_at_deployment() {
    let m = shipped::MACHINERY_V1;
    // A forgotten 44/12: the result would be tonnes of carbon.
    let e = refused(&m.replace("fuel.oxidation * co2_per_c\"", "fuel.oxidation\""));
    assert!(e.contains("source combustion") && e.contains("the result is in tC, it must be in t"), "{e}");
    // The welding bug of one open-source implementation: no molar mass of CO2 in the numerator.
    let e = refused(&m.replace("(item.v_co2 * m_co2) / (", "(item.v_co2) / ("));
    assert!(e.contains("source welding") && e.contains("must be in t"), "{e}");
    // kWh where MWh is meant is not even expressible; an unknown name is refused.
    let e = refused(&m.replace("electricity.purchased * grid.location", "electricity.bought * grid.location"));
    assert!(e.contains("unknown name `electricity.bought`"), "{e}");
    // A GWP set without a row for a gas of the table.
    let e = refused(&m.replace("gwp_set = \"SAR\"", "gwp_set = \"AR7\""));
    assert!(e.contains("no GWP in set AR7"), "{e}");
    // Unknown fields are refused at every level.
    let e = refused(&m.replace("oxidation = \"0.98\"\n", "oxidation = \"0.98\"\noxidatoin = \"1\"\n"));
    assert!(e.contains("unknown field `oxidatoin`"), "{e}");
    // An oxidation rate over 1, a bad date, a duplicate source.
    assert!(refused(&m.replacen("oxidation = \"0.94\"", "oxidation = \"1.4\"", 1)).contains("oxidation is a fraction"));
    assert!(
        refused(&m.replace("effective_from = \"2025-04-01\"", "effective_from = \"2025-02-30\""))
            .contains("effective_from")
    );
    assert!(refused(&m.replace("id = \"heat_purchased\"", "id = \"heat_net\"")).contains("defined twice"));
    // A formula that divides by a quantity that can be zero fails its dry run.
    let e = refused(
        &m.replace("heat.purchased * heat_factor\"", "heat.purchased * heat_factor * heat.exported / heat.exported\""),
    );
    assert!(e.contains("dry run") && e.contains("division by zero"), "{e}");
    // A scope 1 source counted in one GHG Protocol view but not the other.
    let e = refused(&m.replacen(
        "views = [\"standard\", \"location\", \"market\"]",
        "views = [\"standard\", \"location\"]",
        1,
    ));
    assert!(e.contains("both GHG Protocol views"), "{e}");
    // A grid selection of a scheme the document has no factor of.
    let e = refused(
        &m.replace("name = \"market\"\nscheme = \"mee_excl_market\"", "name = \"market\"\nscheme = \"residual_mix\""),
    );
    assert!(e.contains("no factor of scheme residual_mix"), "{e}");
    // Formulas beyond the evaluation budget (each per-fuel source may meet 256 fuel entries).
    let term = "item.amount * fuel.ncv * fuel.carbon_content * fuel.oxidation * co2_per_c";
    let big = [term; 6].join(" + ");
    let mut text = m.to_string();
    for i in 0..80 {
        text.push_str(&format!(
            "\n[[source]]\nid = \"extra{i}\"\nname = \"x\"\nper = \"fuel\"\ngas = \"CO2\"\nscope = 1\nviews = [\"standard\", \"location\", \"market\"]\nformula = \"{big}\"\n"
        ));
    }
    let e = refused(&text);
    assert!(e.contains("evaluation budget"), "{e}");
    // A broken value in a GWP set the document does not select is refused too.
    let e = refused(&m.replace(
        "set = \"AR6\"\ngas = \"SF6\"\nvalue = \"24300\"",
        "set = \"AR6\"\ngas = \"SF6\"\nvalue = \"24,300\"",
    ));
    assert!(e.contains("gwp AR6 SF6"), "{e}");
    // Size limits.
    assert!(refused(&"#".repeat(200_000)).contains("at most"));
}

/// FNV-1a 64 of a document's bytes (detects edits; not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Shipped documents are in every genesis: they are frozen. A correction is a new version
/// deployed on the chain (a new file here for new chains), never an edit of a released one.
#[test]
fn shipped_documents_are_frozen() {
    let released: [(&str, u64); 2] = [("machinery v1", 0xa166_9069_10b4_48a3), ("general v1", 0xbffd_08ba_6776_af47)];
    let got = [fnv1a(shipped::MACHINERY_V1.as_bytes()), fnv1a(shipped::GENERAL_V1.as_bytes())];
    for ((name, want), got) in released.iter().zip(got) {
        assert_eq!(*want, got, "{name} changed: {got:#018x}");
    }
}

#[test]
fn metered_energy_becomes_activity_data_and_nothing_is_dropped_silently() {
    use trustmeter_carbon::metered::{Metered, activity_from_metered};
    use trustmeter_types::{EnergyKind as K, Unit as U};
    let m = Methodology::parse(shipped::GENERAL_V1).unwrap();
    let metered = [
        // 1 234 567.5 kWh consumed, 2 000 kWh exported → 1 234.5675 MWh and 2 MWh.
        Metered { energy: K::Electricity, unit: U::KilowattHour, consumed: 1_234_567_500_000, exported: 2_000_000_000 },
        // Another electricity meter in MWh adds 0.5 MWh.
        Metered { energy: K::Electricity, unit: U::MegawattHour, consumed: 500_000, exported: 0 },
        // 52 000 Nm³ of natural gas → 5.2 × 10⁴ Nm³.
        Metered { energy: K::NaturalGas, unit: U::NormalCubicMetre, consumed: 52_000_000_000, exported: 0 },
        // 800 kg + 1.2 t of diesel → 2 t.
        Metered { energy: K::Diesel, unit: U::Kilogram, consumed: 800_000_000, exported: 0 },
        Metered { energy: K::Diesel, unit: U::Tonne, consumed: 1_200_000, exported: 0 },
        // 3 500 MJ of heat → 3.5 GJ.
        Metered { energy: K::Heat, unit: U::Megajoule, consumed: 3_500_000_000, exported: 0 },
        // Not convertible: gas at working conditions, steam in tonnes, raw coal of unknown type.
        Metered { energy: K::NaturalGas, unit: U::CubicMetre, consumed: 10_000_000, exported: 0 },
        Metered { energy: K::Steam, unit: U::Tonne, consumed: 7_000_000, exported: 0 },
        Metered { energy: K::RawCoal, unit: U::Tonne, consumed: 9_000_000, exported: 0 },
        // A working medium is no emission source.
        Metered { energy: K::Water, unit: U::CubicMetre, consumed: 100_000_000, exported: 0 },
    ];
    let (a, unconverted) = activity_from_metered(&m, 2023, "43", &metered);
    assert_eq!(a.electricity.purchased, d("1235.0675"));
    assert_eq!(a.electricity.exported, d("2"));
    assert_eq!(a.heat.purchased, d("3.5"));
    let fuels: Vec<(&str, Decimal)> = a.fuels.iter().map(|f| (f.fuel.as_str(), f.amount)).collect();
    assert_eq!(fuels, vec![("diesel", d("2")), ("natural_gas", d("5.2"))]);
    let refused: Vec<(K, U)> = unconverted.iter().map(|u| (u.energy, u.unit)).collect();
    assert_eq!(refused, vec![(K::NaturalGas, U::CubicMetre), (K::Steam, U::Tonne), (K::RawCoal, U::Tonne)]);
    assert!(unconverted[0].reason.contains("temperature and pressure"), "{}", unconverted[0].reason);
    assert!(unconverted[1].reason.contains("enthalpy"));
    assert!(unconverted[2].reason.contains("no fuel"));
    // And the figures they give, by hand (2023, Hunan: central grid 0.5271, national 0.5306):
    // diesel 2 t → 6.290245 t (2 × 43.33 × 0.0202 × 0.98 × 44/12 = 6.29024498…);
    // gas 5.2 × 10⁴ Nm³ → 112.433818 t (5.2 × 389.31 × 0.0153 × 0.99 × 44/12 = 112.43381806…);
    // electricity, standard: (1 235.0675 − 2) × 0.5306 = 654.2656155 t → 654.265616 (half to even);
    // heat 3.5 GJ × 0.11 = 0.385 t.
    let r = compute(&m, &a).unwrap();
    assert_eq!(r.totals.scope1, 6_290_245 + 112_433_818);
    assert_eq!(r.totals.standard, 6_290_245 + 112_433_818 + 654_265_616 + 385_000);
}

#[test]
fn a_fuel_may_claim_only_a_fuel_kind_and_only_once() {
    let e = refused(&shipped::GENERAL_V1.replacen("energy_kind = \"coke\"", "energy_kind = \"water\"", 1));
    assert!(e.contains("not a fuel kind"), "{e}");
    let e = refused(&shipped::GENERAL_V1.replacen("energy_kind = \"coke\"", "energy_kind = \"cokes\"", 1));
    assert!(e.contains("not a fuel kind"), "{e}");
    let e = refused(&shipped::GENERAL_V1.replacen("energy_kind = \"coke\"", "energy_kind = \"diesel\"", 1));
    assert!(e.contains("already metered"), "{e}");
}
