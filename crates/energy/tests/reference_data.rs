//! The embedded reference data: every file parses and validates, matches domain.md, and released
//! sets stay frozen.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::Path;
use trustmeter_energy::reference::{
    self, Confidence, Decimal, LATEST, ReferenceError, builtin, builtin_ids, embedded_files, load,
};
use trustmeter_types::{EnergyKind, Unit};

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_builtin_set_loads_and_latest_is_the_newest() {
    assert_eq!(builtin_ids(), vec!["cn-2026.1", "cn-2008.1"]);
    let latest = builtin(LATEST).expect("LATEST is built in");
    assert!(latest.valid_to.is_none());
    for id in builtin_ids() {
        let s = builtin(id).unwrap();
        assert_eq!(s.id, id);
        assert!(s.valid_from <= latest.valid_from, "{id} is newer than LATEST");
        assert!(!s.notes.is_empty() && !s.title.is_empty());
    }
    assert!(builtin("cn-1999.1").is_none());
    let old = builtin("cn-2008.1").unwrap();
    assert_eq!(old.valid_to.as_deref(), Some("2021-03-31"));
    assert!(old.covers("2021-03-31") && !old.covers("2021-04-01"));
    assert!(latest.covers("2021-04-01") && latest.covers("2030-01-01") && !latest.covers("2021-03-31"));
}

#[test]
fn every_data_file_is_embedded_referenced_and_identical_on_disk() {
    let mut on_disk = Vec::new();
    walk(&data_dir(), &data_dir(), &mut on_disk);
    on_disk.sort();
    let mut embedded: Vec<String> = embedded_files().iter().map(|(p, _)| p.to_string()).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded, "every file under data/ must be embedded in reference.rs (and vice versa)");
    for (path, text) in embedded_files() {
        assert_eq!(std::fs::read_to_string(data_dir().join(path)).unwrap(), *text, "{path}");
        // Each file parses on its own as TOML.
        toml::from_str::<toml::Table>(text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let referenced: BTreeSet<&str> =
        builtin_ids().iter().flat_map(|id| builtin(id).unwrap().files.iter().map(|f| f.as_str())).collect();
    for (path, _) in embedded_files() {
        assert!(*path == reference::MANIFEST_PATH || referenced.contains(path), "{path} is in no set");
    }
}

/// FNV-1a 64 of a file's bytes (detects edits; not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Released sets are frozen: a correction is a new set with new files. When a NEW file is added,
/// add its digest here; never change an existing line.
const RELEASED: &[(&str, u64)] = &[
    ("coal/gb-t-2589-2020.toml", 0x2b4a14144d520cbd),
    ("coal/gb-t-2589-2008.toml", 0xe1cda6d8a934b658),
    ("electricity/equal-value-2020-2026.toml", 0x1989e5e1dfd57e81),
    ("densities/liquid-fuels.toml", 0xda61cabf732bba19),
    ("tou/hunan.toml", 0x0bd71b4687a70580),
    ("tou/shanghai.toml", 0xd64d7c7185866dd7),
    ("tou/zhejiang.toml", 0x51bd6739b3ec41c1),
    ("tou/jiangsu.toml", 0x8901e6af4b3dcaaa),
    ("tou/beijing.toml", 0x850872d3cc35d439),
];

#[test]
fn released_files_are_frozen() {
    let mut report = String::new();
    for (path, text) in embedded_files() {
        if *path == reference::MANIFEST_PATH {
            continue; // the manifest grows with new sets
        }
        let got = fnv1a(text.as_bytes());
        match RELEASED.iter().find(|(p, _)| p == path) {
            Some((_, want)) if *want == got => {}
            _ => report.push_str(&format!("    (\"{path}\", {got:#018x}),\n")),
        }
    }
    assert!(report.is_empty(), "released data changed or is not pinned:\n{report}");
}

/// GB/T 2589-2020 rows exactly as domain.md §2.1/§2.2: (kind, unit, coefficient, tag).
const DOMAIN_2020: &[(EnergyKind, Unit, &str, Confidence)] = {
    use Confidence::*;
    use EnergyKind::*;
    use Unit::*;
    &[
        (Electricity, KilowattHour, "0.1229", Secondary),
        (Heat, Megajoule, "0.03412", Secondary),
        (Steam, Tonne, "94.1", Unverified),
        (Steam, Megajoule, "0.03412", Secondary),
        (RawCoal, Kilogram, "0.7143", Secondary),
        (Coke, Kilogram, "0.9714", Secondary),
        (FuelOil, Kilogram, "1.4286", Secondary),
        (Diesel, Kilogram, "1.4571", Secondary),
        (Gasoline, Kilogram, "1.4714", Secondary),
        (Kerosene, Kilogram, "1.4714", Secondary),
        (Lpg, Kilogram, "1.7143", Secondary),
        (Lng, Kilogram, "1.7572", Unverified),
        (NaturalGas, NormalCubicMetre, "1.2143", Secondary),
        (Water, Tonne, "0.0857", Secondary),
        (CompressedAir, NormalCubicMetre, "0.0400", Secondary),
        (Oxygen, NormalCubicMetre, "0.4000", Secondary),
        (Nitrogen, NormalCubicMetre, "0.4000", Unverified),
    ]
};

#[test]
fn coefficients_are_exactly_those_of_domain_md() {
    let s = builtin("cn-2026.1").unwrap();
    assert_eq!(s.coal.len(), DOMAIN_2020.len());
    for (kind, unit, coef, tag) in DOMAIN_2020 {
        let f = s.factor(*kind, *unit).unwrap_or_else(|| panic!("{kind:?} per {}", unit.symbol()));
        assert_eq!(f.coefficient.to_string(), *coef, "{kind:?}");
        assert_eq!(f.confidence, *tag, "{kind:?}");
        assert!(!f.source.is_empty());
    }
    for kind in EnergyKind::ALL {
        assert!(s.factors(kind).next().is_some(), "no coefficient for {kind:?}");
    }
    let gas = s.factor(EnergyKind::NaturalGas, Unit::NormalCubicMetre).unwrap();
    assert!(gas.notes.iter().any(|n| n.contains("1.3300")), "the 1.33 alternative is noted");
    let water = s.factor(EnergyKind::Water, Unit::Tonne).unwrap();
    assert!(water.notes.iter().any(|n| n.contains("0.2571") && n.contains("CONFLICT")));
    assert_eq!(water.same_as, vec![Unit::CubicMetre]);
    let n2 = s.factor(EnergyKind::Nitrogen, Unit::NormalCubicMetre).unwrap();
    assert!(n2.notes.iter().any(|n| n.contains("0.6714")), "main-product nitrogen is noted");
    assert!(s.factor(EnergyKind::Electricity, Unit::KilowattHour).unwrap().source.contains("0.1229"));
    assert!(s.factor(EnergyKind::RawCoal, Unit::Kilogram).unwrap().source.contains("huatuo6.cn"));
}

#[test]
fn coefficients_agree_with_their_heating_values() {
    // coefficient ≈ lhv / 29 307.6 within 0.5 % (the tables round kcal values to 4 places).
    for id in builtin_ids() {
        for f in &builtin(id).unwrap().coal {
            let Some(lhv) = f.lhv_kj else { continue };
            let c: f64 = f.coefficient.to_string().parse().unwrap();
            let l: f64 = lhv.to_string().parse().unwrap();
            let rel = (c - l / 29_307.6).abs() / c;
            assert!(rel < 0.005, "{id} {:?}: {c} vs {l} kJ ({rel})", f.kind);
        }
    }
}

#[test]
fn the_2008_set_differs_only_in_fresh_water() {
    let new = builtin("cn-2026.1").unwrap();
    let old = builtin("cn-2008.1").unwrap();
    assert_eq!(old.coal.len(), new.coal.len());
    for (a, b) in old.coal.iter().zip(&new.coal) {
        assert_eq!((a.kind, a.unit), (b.kind, b.unit));
        if a.kind == EnergyKind::Water {
            assert_eq!(a.coefficient.to_string(), "0.2571");
            assert_eq!(b.coefficient.to_string(), "0.0857");
        } else {
            assert_eq!(a.coefficient, b.coefficient, "{:?}", a.kind);
        }
    }
    assert!(old.tou.is_empty());
    assert_eq!(new.tou.len(), 5);
}

#[test]
fn equal_value_years_and_densities_are_tagged_placeholders() {
    let s = builtin(LATEST).unwrap();
    let years: Vec<i32> = s.electricity_equal_value.iter().map(|e| e.year).collect();
    assert_eq!(years, (2020..=2026).collect::<Vec<_>>());
    for e in &s.electricity_equal_value {
        assert_eq!(e.kgce_per_kwh.to_string(), "0.3000");
        assert_eq!(e.confidence, Confidence::Unverified);
        assert!(e.notes.iter().any(|n| n.contains("[N]")));
    }
    let kinds: BTreeSet<EnergyKind> = s.densities.iter().map(|d| d.kind).collect();
    for k in EnergyKind::ALL {
        // Every kind a meter may report in litres has a density.
        assert_eq!(k.allowed_units().contains(&Unit::Litre), kinds.contains(&k), "{k:?}");
    }
    assert!(s.densities.iter().all(|d| d.confidence == Confidence::Unverified));
}

#[test]
fn confidence_and_decimal_serde() {
    for (c, t) in [
        (Confidence::Sourced, "S"),
        (Confidence::Secondary, "S2"),
        (Confidence::Unverified, "M"),
        (Confidence::NotFound, "N"),
    ] {
        assert_eq!(c.tag(), t);
        let json = format!("\"{t}\"");
        assert_eq!(serde_json_like(&c), json);
    }
    #[derive(serde::Deserialize)]
    struct W {
        d: Decimal,
    }
    assert_eq!(toml::from_str::<W>("d = \"0.1229\"").unwrap().d, dec("0.1229"));
    let err = toml::from_str::<W>("d = 0.1229").err().unwrap().to_string();
    assert!(err.contains("as a string"), "{err}");
    assert_eq!(dec("0.30").value_cmp(&dec("0.3")), Ordering::Equal);
}

/// Serialises with toml's value serializer (no serde_json dependency here).
fn serde_json_like<T: serde::Serialize>(v: &T) -> String {
    #[derive(serde::Serialize)]
    struct W<'a, T: serde::Serialize> {
        v: &'a T,
    }
    let s = toml::to_string(&W { v }).unwrap();
    s.trim().trim_start_matches("v = ").to_string()
}

// ----- malformed data is refused with a clear error -------------------------------------------

const COAL_OK: &str = r#"
standard = "test"
[[factor]]
kind = "electricity"
unit = "kWh"
coefficient = "0.1229"
source = "test"
confidence = "S2"
"#;
const EV_OK: &str = "[[year]]\nyear = 2025\nkgce_per_kwh = \"0.3000\"\nsource = \"test\"\nconfidence = \"M\"\n";
const DENS_OK: &str =
    "[[density]]\nkind = \"diesel\"\nkg_per_litre = \"0.84\"\nsource = \"test\"\nconfidence = \"M\"\n";

fn manifest(extra: &str) -> String {
    format!(
        "[[set]]\nid = \"t-1\"\ntitle = \"t\"\nvalid_from = \"2021-04-01\"\ncoal = \"c.toml\"\n\
         equal_value = \"e.toml\"\ndensities = \"d.toml\"\n{extra}"
    )
}

fn load_with(manifest_text: &str, coal: &str) -> Result<Vec<reference::ReferenceSet>, ReferenceError> {
    load(manifest_text, &[("c.toml", coal), ("e.toml", EV_OK), ("d.toml", DENS_OK)])
}

fn refused(manifest_text: &str, coal: &str, needle: &str) {
    let err = load_with(manifest_text, coal).expect_err("must be refused").to_string();
    assert!(err.contains(needle), "error `{err}` should mention `{needle}`");
}

#[test]
fn a_minimal_set_loads() {
    let sets = load_with(&manifest(""), COAL_OK).unwrap();
    assert_eq!(sets[0].id, "t-1");
    assert_eq!(sets[0].coal[0].coefficient, dec("0.1229"));
    assert_eq!(sets[0].files, vec!["c.toml", "e.toml", "d.toml"]);
}

#[test]
fn malformed_reference_files_are_refused() {
    let m = manifest("");
    refused(&m, &COAL_OK.replace("\"0.1229\"", "0.1229"), "as a string");
    refused(&m, &COAL_OK.replace("\"0.1229\"", "\"0,1229\""), "not a decimal number");
    refused(&m, &COAL_OK.replace("\"kWh\"", "\"kwh\""), "unknown unit `kwh`");
    refused(&m, &COAL_OK.replace("\"kWh\"", "\"kW\""), "a rate");
    refused(&m, &COAL_OK.replace("\"electricity\"", "\"electric\""), "electric");
    refused(&m, &COAL_OK.replace("\"0.1229\"", "\"-0.1229\""), "positive");
    refused(&m, &COAL_OK.replace("\"S2\"", "\"S3\""), "S3");
    refused(&m, &format!("{COAL_OK}\ncolour = \"red\""), "colour");
    refused(&m, &COAL_OK.replace("source = \"test\"", "source = \" \""), "source");
    refused(&m, &format!("{COAL_OK}{}", COAL_OK.replace("standard = \"test\"", "")), "defined twice");
    refused(&m, &COAL_OK.replace("confidence", "same_as = [\"MWh\"]\nconfidence"), "needs a note");
    refused(&manifest("valid_to = \"2020-01-01\""), COAL_OK, "ends before it starts");
    refused(&manifest("").replace("2021-04-01", "2021-02-30"), COAL_OK, "not a YYYY-MM-DD");
    refused(&manifest("tou = [\"missing.toml\"]"), COAL_OK, "missing.toml");
    refused(&format!("{m}\n{m}"), COAL_OK, "appears twice");
    refused(&m.replace("t-1", "T 1"), COAL_OK, "set id");
    let bad_year = EV_OK.replace("2025", "1800");
    let err = load(&m, &[("c.toml", COAL_OK), ("e.toml", &bad_year), ("d.toml", DENS_OK)]).unwrap_err();
    assert!(err.to_string().contains("year 1800"), "{err}");
    let dup = format!("{EV_OK}{EV_OK}");
    let err = load(&m, &[("c.toml", COAL_OK), ("e.toml", &dup), ("d.toml", DENS_OK)]).unwrap_err();
    assert!(matches!(&err, ReferenceError::Invalid { file, .. } if file == "e.toml"), "{err}");
}
