//! Documented entries as activity data: the hand-computed Hunan machinery plant of
//! `methodologies.rs`, entered as the ledgers, invoices and certificates an enterprise records,
//! gives the same figures (whatever the order of the entries); a lab report's NCV applies with its
//! hash as evidence; what a methodology cannot use is set aside with the reason.

use std::str::FromStr;

use trustmeter_carbon::Decimal;
use trustmeter_carbon::activity::{Activity, Electricity, Heat};
use trustmeter_carbon::compute::compute;
use trustmeter_carbon::document::Methodology;
use trustmeter_carbon::entries::{RecordedEntry, add_entries};
use trustmeter_carbon::shipped;
use trustmeter_types::carbon::{CarbonEntryData, Evidence, EvidenceKind, GasFilling};
use trustmeter_types::{Hash32, Quantity};

fn q(s: &str) -> Quantity {
    let d = Decimal::from_str(s).unwrap() * Decimal::from(1_000_000);
    Quantity::from_micros(i64::try_from(d).unwrap())
}

fn machinery() -> Methodology {
    Methodology::parse(shipped::MACHINERY_V1).unwrap()
}

/// The plant's documented entries (numbers 1..).
fn ledgers() -> Vec<CarbonEntryData> {
    vec![
        CarbonEntryData::Fuel { fuel: "diesel".into(), amount: q("6") },
        CarbonEntryData::Fuel { fuel: "diesel".into(), amount: q("4") },
        CarbonEntryData::Fuel { fuel: "natural_gas".into(), amount: q("5") },
        CarbonEntryData::Fgas {
            gas: "SF6".into(),
            opening_t: q("0.5"),
            closing_t: q("0.3"),
            purchased_t: q("1.0"),
            sold_t: q("0.1"),
            fills: 2000,
            filling: GasFilling::Containers { before_t: q("120.0"), after_t: q("119.2") },
        },
        CarbonEntryData::Fgas {
            gas: "HFC-134a".into(),
            opening_t: q("0.2"),
            closing_t: q("0.1"),
            purchased_t: q("0.5"),
            sold_t: q("0"),
            fills: 1000,
            filling: GasFilling::FlowMeter { metered_t: q("0.55") },
        },
        CarbonEntryData::Welding {
            opening_t: q("0.1"),
            purchased_t: q("2.0"),
            closing_t: q("0.3"),
            sold_t: q("0"),
            v_co2: q("0.2"),
            v_ar: q("0.8"),
            v_o2: q("0"),
        },
        CarbonEntryData::Welding {
            opening_t: q("0"),
            purchased_t: q("0.5"),
            closing_t: q("0"),
            sold_t: q("0"),
            v_co2: q("1"),
            v_ar: q("0"),
            v_o2: q("0"),
        },
        CarbonEntryData::GreenPower { contract: "HN-GP-2024-017".into(), mwh: q("100") },
        CarbonEntryData::GreenCertificates { batch: "GEC-HN-2024".into(), first: 5_001, count: 200, vintage: 202_403 },
        CarbonEntryData::Output { product: "switchgear".into(), unit: "unit".into(), amount: q("250") },
        CarbonEntryData::Output { product: "switchgear".into(), unit: "unit".into(), amount: q("150") },
    ]
}

fn ev(seed: u8, kind: EvidenceKind) -> Vec<Evidence> {
    vec![Evidence { hash: Hash32([seed; 32]), bytes: 10, kind, name: "f.pdf".into() }]
}

/// The metered part: electricity and heat from the consensus daily figures.
fn metered() -> Activity {
    let mut a = Activity::new(2024, "43");
    a.electricity = Electricity { purchased: Decimal::from(1000), exported: Decimal::from(100), green: Decimal::ZERO };
    a.heat = Heat { purchased: Decimal::from(2000), exported: Decimal::from(500) };
    a
}

#[test]
fn the_hand_computed_plant_entered_as_ledgers_gives_the_same_figures_in_any_order() {
    let m = machinery();
    let data = ledgers();
    let evidence: Vec<Vec<Evidence>> = (0..data.len()).map(|i| ev(i as u8, EvidenceKind::InventoryLedger)).collect();
    let entries: Vec<RecordedEntry<'_>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| RecordedEntry { number: i as u32 + 1, data: d, evidence: &evidence[i] })
        .collect();
    let mut a = metered();
    let notes = add_entries(&m, &mut a, &entries);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(a.electricity.green, Decimal::from(300), "100 MWh of green power and 200 certificates");
    assert_eq!(a.output, Some(Decimal::from(400)));
    assert_eq!(a.fuels.len(), 2, "two diesel invoices are one use of diesel");
    let r = compute(&m, &a).unwrap();
    // The totals worked out by hand in methodologies.rs (machinery_by_hand).
    assert_eq!(r.totals.scope1, 9_808_542_291);
    assert_eq!(r.totals.standard, 9_808_542_291 + 477_540_000 + 165_000_000);
    assert_eq!(r.totals.location(), 10_555_642_291);
    assert_eq!(r.totals.market(), 10_455_262_291);
    // Reversed, and rotated: the same results.
    for k in 0..entries.len() {
        let mut shuffled = entries.clone();
        shuffled.rotate_left(k);
        if k % 2 == 1 {
            shuffled.reverse();
        }
        let mut b = metered();
        add_entries(&m, &mut b, &shuffled);
        assert_eq!(compute(&m, &b).unwrap(), r, "order {k}");
    }
}

#[test]
fn a_lab_report_overrides_the_default_ncv_with_its_hash_as_evidence() {
    let m = machinery();
    let fuel = CarbonEntryData::Fuel { fuel: "diesel".into(), amount: q("100") };
    let lab = CarbonEntryData::FuelAnalysis { fuel: "diesel".into(), ncv: Some(q("42.652")), carbon_content: None };
    let report = ev(0xab, EvidenceKind::LabReport);
    let invoice = ev(0x01, EvidenceKind::Invoice);
    // The analysis is entry 1, the fuel entry 2: measured factors apply whatever their number.
    let entries = [
        RecordedEntry { number: 1, data: &lab, evidence: &report },
        RecordedEntry { number: 2, data: &fuel, evidence: &invoice },
    ];
    let mut a = Activity::new(2024, "32");
    assert!(add_entries(&m, &mut a, &entries).is_empty());
    let r = compute(&m, &a).unwrap();
    // 100 × 42.652 × 0.0202 × 0.98 × 44/12 = 309.5909637… t (as in methodologies.rs)
    assert_eq!(r.lines[0].co2e_ut, 309_590_964);
    let f = r.factors.iter().find(|f| f.name.starts_with("fuel diesel ncv")).unwrap();
    assert!(f.source.contains(&Hash32([0xab; 32]).to_hex()), "{}", f.source);
}

#[test]
fn what_the_methodology_cannot_use_is_set_aside_with_the_reason() {
    let general = Methodology::parse(shipped::GENERAL_V1).unwrap();
    let sf6 = ledgers().remove(3);
    let unknown = CarbonEntryData::Fuel { fuel: "whale_oil".into(), amount: q("1") };
    let orphan_lab = CarbonEntryData::FuelAnalysis { fuel: "diesel".into(), ncv: Some(q("43")), carbon_content: None };
    let two_products = [
        CarbonEntryData::Output { product: "pumps".into(), unit: "unit".into(), amount: q("3") },
        CarbonEntryData::Output { product: "valves".into(), unit: "unit".into(), amount: q("5") },
    ];
    let e = ev(1, EvidenceKind::LabReport);
    let entries = [
        RecordedEntry { number: 1, data: &sf6, evidence: &e },
        RecordedEntry { number: 2, data: &unknown, evidence: &e },
        RecordedEntry { number: 3, data: &orphan_lab, evidence: &e },
        RecordedEntry { number: 4, data: &two_products[0], evidence: &e },
        RecordedEntry { number: 5, data: &two_products[1], evidence: &e },
    ];
    let mut a = Activity::new(2024, "43");
    let notes = add_entries(&general, &mut a, &entries);
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert!(notes[0].starts_with("entry 1 set aside: SF6 is not a fluorinated gas of methodology GB/T 32150-2015"));
    assert!(notes[1].contains("whale_oil"));
    assert!(notes[2].contains("no use this month"));
    assert!(notes[3].contains("several products"));
    assert_eq!((a.fgas.len(), a.fuels.len(), a.output), (0, 0, None));
}
