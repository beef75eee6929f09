//! Strict parsing (`docs/proof-format.md` §2) of reading bundles and figure proofs: at every level
//! of nesting, an unknown field, a missing field or a duplicate field is refused with an error
//! naming it. The documents come from the deterministic example chain, so every kind of object a
//! bundle can hold (genesis and its params, records, retired keys, calibration, tagged keys and
//! values, daily figures) is exercised.

use super::example::chain;
use serde_json::Value;
use trustmeter_client::{FigureProof, ProofBundle};
use trustmeter_types::{Genesis, encode};

/// JSON pointers of every object in `v`, the top level first.
fn objects(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            out.push(at.clone());
            for (k, x) in o {
                objects(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The documents under test: both reading bundles of the example block (one meter-signed with a
/// meter key, one gateway-signed with a rotated gateway key) and a figure proof.
fn documents() -> Vec<(&'static str, Value)> {
    let c = chain();
    vec![
        ("bundle", serde_json::from_str(&c.bundle(0).to_json()).unwrap()),
        ("bundle", serde_json::from_str(&c.bundle(1).to_json()).unwrap()),
        ("figure", serde_json::from_str(&c.figure().to_json()).unwrap()),
    ]
}

fn parse(kind: &str, v: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).unwrap();
    match kind {
        "bundle" => ProofBundle::from_json(&text).map(|_| ()),
        _ => FigureProof::from_json(&text).map(|_| ()),
    }
    .map_err(|e| e.to_string())
}

#[test]
fn every_object_at_every_level_refuses_an_unknown_field() {
    let mut seen = Vec::new();
    for (kind, doc) in documents() {
        parse(kind, &doc).expect("the unmodified document parses");
        let mut paths = Vec::new();
        objects(&doc, String::new(), &mut paths);
        for p in &paths {
            let mut t = doc.clone();
            let target = if p.is_empty() { &mut t } else { t.pointer_mut(p).unwrap() };
            target.as_object_mut().unwrap().insert("x_not_in_the_format".into(), Value::from(1));
            let err = parse(kind, &t).expect_err(&format!("{kind}: an unknown field at {p:?} is accepted"));
            assert!(err.contains("unknown field `x_not_in_the_format`"), "{kind} {p}: {err}");
        }
        seen.extend(paths);
    }
    // The nested kinds the format has, all exercised.
    for p in [
        "/genesis/params",
        "/genesis/params/accounting",
        "/genesis/organisations/0",
        "/genesis/accounts/0",
        "/genesis/validators/0",
        "/header",
        "/reading/reading",
        "/meter_proof/entry/key",
        "/meter_proof/entry/value/value/calibration",
        "/gateway_proof/entry/value/value/retired_keys/0",
        "/figure/entry/key/id",
        "/figure/entry/value/value",
    ] {
        assert!(seen.iter().any(|s| s == p), "no object at {p}");
    }
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let (_, doc) = documents().remove(0);
    for (pointer, path) in [
        ("/meter_proof/entry/value/value", "meter_proof.entry.value.value"),
        ("/genesis/params/accounting", "genesis.params.accounting"),
        ("/meter_proof/entry/key", "meter_proof.entry.key"),
    ] {
        let mut t = doc.clone();
        t.pointer_mut(pointer).unwrap().as_object_mut().unwrap().insert("note".into(), "trust me".into());
        let err = parse("bundle", &t).unwrap_err();
        assert!(err.contains("unknown field `note`") && err.contains(path), "{pointer}: {err}");
    }
}

#[test]
fn every_field_at_every_level_is_required() {
    let mut checked = 0;
    for (kind, doc) in documents() {
        let mut paths = Vec::new();
        objects(&doc, String::new(), &mut paths);
        for p in &paths {
            let fields: Vec<String> = doc.pointer(p).unwrap().as_object().unwrap().keys().cloned().collect();
            for f in fields {
                let mut t = doc.clone();
                let target = if p.is_empty() { &mut t } else { t.pointer_mut(p).unwrap() };
                target.as_object_mut().unwrap().remove(&f);
                let err = parse(kind, &t).expect_err(&format!("{kind}: {p}/{f} may be left out"));
                assert!(err.contains(&format!("`{f}`")), "{kind} {p}/{f}: {err}");
                checked += 1;
            }
        }
    }
    // In particular the fields that used to be optional with undocumented defaults.
    let (_, doc) = documents().remove(0);
    for (p, f) in [
        ("/meter_proof/entry/value/value", "public_key"),
        ("/meter_proof/entry/value/value", "rated_per_hour"),
        ("/meter_proof/entry/value/value", "tariff"),
        ("/genesis/params", "hash"),
        ("/genesis/params", "accounting"),
        ("/genesis/params", "calibration_warning_ms"),
    ] {
        let mut t = doc.clone();
        assert!(t.pointer_mut(p).unwrap().as_object_mut().unwrap().remove(f).is_some(), "{p}/{f} is written");
        let err = parse("bundle", &t).unwrap_err();
        assert!(err.contains(&format!("missing field `{f}`")), "{p}/{f}: {err}");
    }
    let (_, fig) = documents().remove(2);
    for f in ["kgce_missing", "tou_schedule"] {
        let mut t = fig.clone();
        t["figure"]["entry"]["value"]["value"].as_object_mut().unwrap().remove(f).unwrap();
        let err = parse("figure", &t).unwrap_err();
        assert!(err.contains(&format!("missing field `{f}`")), "{f}: {err}");
    }
    assert!(checked > 300, "{checked} fields checked");
}

#[test]
fn duplicate_fields_are_refused_at_any_level() {
    let text = chain().bundle(0).to_json();
    ProofBundle::from_json(&text).unwrap();
    for (field, dup) in [
        ("\"status\": \"active\"", "\"status\": \"active\", \"status\": \"revoked\""),
        ("\"version\": \"trustmeter-proof/v4\"", "\"version\": \"trustmeter-proof/v4\", \"version\": \"x\""),
        ("\"hash\": \"sha256\"", "\"hash\": \"sha256\", \"hash\": \"sm3\""),
    ] {
        assert!(text.contains(field), "{field}");
        let err = ProofBundle::from_json(&text.replacen(field, dup, 1)).unwrap_err().to_string();
        assert!(err.contains("duplicate field"), "{field}: {err}");
    }
}

/// The node's own genesis file uses the same type: strict in the same way.
#[test]
fn genesis_files_are_strict_too() {
    let g = chain().genesis();
    let v = serde_json::to_value(g).unwrap();
    assert_eq!(serde_json::from_value::<Genesis>(v.clone()).unwrap(), *g);
    let mut t = v.clone();
    t["params"]["accounting"]["extra"] = 1.into();
    assert!(serde_json::from_value::<Genesis>(t).unwrap_err().to_string().contains("unknown field `extra`"));
    let mut t = v.clone();
    t["params"].as_object_mut().unwrap().remove("hash");
    assert!(serde_json::from_value::<Genesis>(t).unwrap_err().to_string().contains("missing field `hash`"));
}

/// Genesis equality is equality of canonical encodings after parsing (§3.1): the hex case of a
/// key does not matter, any string does.
#[test]
fn genesis_equality_is_canonical_encoding_equality() {
    let c = chain();
    let b = c.bundle(0);
    let v = serde_json::to_value(c.genesis()).unwrap();
    let mut upper = v.clone();
    let key = upper["accounts"][0]["public_key"].as_str().unwrap().to_string();
    let (scheme, hex_part) = key.split_once(':').unwrap();
    upper["accounts"][0]["public_key"] = format!("{scheme}:{}", hex_part.to_uppercase()).into();
    assert_ne!(upper, v, "the JSON differs");
    let same: Genesis = serde_json::from_value(upper).unwrap();
    assert_eq!(encode(&same), encode(c.genesis()));
    b.verify(Some(&same)).expect("a trusted genesis written with upper-case key hex is the same genesis");

    let mut other = v.clone();
    let ck = other["validators"][0]["consensus_key"].as_str().unwrap().to_uppercase();
    other["validators"][0]["consensus_key"] = ck.into();
    let other: Genesis = serde_json::from_value(other).unwrap();
    let err = b.verify(Some(&other)).unwrap_err();
    assert!(err.to_string().contains("genesis"), "{err}");
}
