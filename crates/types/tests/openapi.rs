//! The OpenAPI schemas of the JSON types (feature `openapi`, what the node's `/openapi.json`
//! describes a transaction with) against real values: a signed transaction of every kind (Ed25519
//! and SM2 senders), a block and a genesis, serialized exactly as the API reads and writes them,
//! must each match their schema, checked by the small validator below (written here, not a
//! library's: `$ref`, `oneOf`/`allOf`/`anyOf`, `type` with `null`, `enum`, `properties`,
//! `required`, `items`, `pattern` prefixes). Every property a value carries must be described,
//! so a schema that forgets a field fails, and every `TxPayload` kind must be one of the
//! document's alternatives.

use crate::samples::*;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use trustmeter_types::{Block, Genesis, KeyScheme, Receipt, Transaction};
use utoipa::ToSchema;

/// Every schema `T` needs, by name, as the document's `components.schemas` holds them.
fn components<T: ToSchema>() -> Map<String, Value> {
    let mut all = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut all);
    all.into_iter().map(|(n, s)| (n, serde_json::to_value(s).expect("a schema serializes"))).collect()
}

/// The schema a `$ref` names (or the schema itself).
fn resolve<'a>(schemas: &'a Map<String, Value>, schema: &'a Value) -> Result<&'a Value, String> {
    match schema.get("$ref").and_then(Value::as_str) {
        None => Ok(schema),
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").ok_or_else(|| format!("odd $ref {r}"))?;
            schemas.get(name).ok_or_else(|| format!("$ref to unknown schema {name}"))
        }
    }
}

/// The property names an object schema describes, its `allOf` members' included.
fn described(schemas: &Map<String, Value>, schema: &Value) -> BTreeSet<String> {
    let Ok(schema) = resolve(schemas, schema) else { return BTreeSet::new() };
    let mut out: BTreeSet<String> =
        schema.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.keys().cloned()).collect();
    for member in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        out.extend(described(schemas, member));
    }
    out
}

/// Checks `v` against `schema`; the error names the path.
fn check(schemas: &Map<String, Value>, schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    check_in(schemas, schema, v, path, None)
}

/// [`check`], where `allowed` (inside an `allOf`) is every property the whole composition
/// describes, so a member does not call its siblings' properties unknown.
fn check_in(
    schemas: &Map<String, Value>,
    schema: &Value,
    v: &Value,
    path: &str,
    allowed: Option<&BTreeSet<String>>,
) -> Result<(), String> {
    let check = |s: &Value, x: &Value, p: &str| check_in(schemas, s, x, p, None);
    if schema.get("$ref").is_some() {
        let target = resolve(schemas, schema).map_err(|e| format!("{path}: {e}"))?;
        return check_in(schemas, target, v, path, allowed);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let union = described(schemas, schema);
        for s in all {
            check_in(schemas, s, v, path, Some(&union))?;
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|s| check(s, v, path).is_ok())
    {
        return Err(format!("{path}: matches none of anyOf: {v}"));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = one.iter().filter(|s| check(s, v, path).is_ok()).count();
        if matching != 1 {
            let why: Vec<String> = one.iter().filter_map(|s| check(s, v, path).err()).take(3).collect();
            return Err(format!("{path}: matches {matching} of oneOf's {} alternatives ({why:?})", one.len()));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{path}: odd type {t}")),
        };
        let ok = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !ok {
            return Err(format!("{path}: {v} is not of type {types:?}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{path}: {v} is not one of {e:?}"));
    }
    if let (Some(p), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str()) {
        // The patterns used here are `^prefix…`: check the literal alternatives before `:`.
        if let Some(prefixes) = p.strip_prefix("^(").and_then(|r| r.split_once("):")).map(|(a, _)| a) {
            let scheme = s.split(':').next().unwrap_or_default();
            if !prefixes.split('|').any(|x| x == scheme) {
                return Err(format!("{path}: {s:?} does not start with one of {prefixes}:"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(props) = props {
            for (k, sub) in props {
                if let Some(x) = obj.get(k) {
                    check(sub, x, &format!("{path}.{k}"))?;
                }
            }
            for k in obj.keys() {
                if !props.contains_key(k) && !allowed.is_some_and(|a| a.contains(k)) {
                    return Err(format!("{path}: property {k:?} is not described by the schema"));
                }
            }
        }
        for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let k = r.as_str().unwrap_or_default();
            if !obj.contains_key(k) {
                return Err(format!("{path}: required property {k:?} missing"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(items, x, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn conforms<T: ToSchema + serde::Serialize>(value: &T) -> Result<(), String> {
    let schemas = components::<T>();
    let root = serde_json::json!({"$ref": format!("#/components/schemas/{}", T::name())});
    check(&schemas, &root, &serde_json::to_value(value).unwrap(), "$")
}

#[test]
fn a_transaction_of_every_kind_matches_the_transaction_schema() {
    for scheme in [KeyScheme::Ed25519, KeyScheme::Sm2] {
        let sender = key(scheme, 3);
        for (i, p) in payloads(scheme).into_iter().enumerate() {
            let kind = p.kind();
            let t = transaction(&sender, i as u64 + 1, p);
            conforms(&t).unwrap_or_else(|e| panic!("{kind} ({scheme:?}): {e}"));
        }
    }
}

#[test]
fn every_payload_kind_is_an_alternative_of_the_document() {
    let schemas = components::<Transaction>();
    let payload = &schemas["TxPayload"];
    let alternatives = payload["oneOf"].as_array().expect("TxPayload is a oneOf");
    let mut kinds: Vec<&str> = payloads(KeyScheme::Ed25519).iter().map(|p| p.kind()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(alternatives.len(), kinds.len(), "one alternative per kind");
    // Each kind's tag (`type`) selects exactly one alternative.
    for kind in kinds {
        let n = alternatives
            .iter()
            .filter(|a| {
                let text = a.to_string();
                text.contains(&format!("\"enum\":[\"{kind}\"]"))
            })
            .count();
        assert_eq!(n, 1, "{kind}: {n} alternatives carry its tag");
    }
}

#[test]
fn blocks_receipts_and_genesis_match_their_schemas() {
    let sender = key(KeyScheme::Ed25519, 3);
    let txs: Vec<Transaction> =
        payloads(KeyScheme::Ed25519).into_iter().enumerate().map(|(i, p)| transaction(&sender, i as u64, p)).collect();
    conforms::<Block>(&block(txs)).unwrap();
    conforms::<Genesis>(&genesis()).unwrap();
    let receipt = Receipt {
        tx_hash: trustmeter_types::Hash32([7; 32]),
        outcome: trustmeter_types::TxOutcome::Accepted,
        readings: vec![
            trustmeter_types::ReadingOutcome::Accepted,
            trustmeter_types::ReadingOutcome::Duplicate,
            trustmeter_types::ReadingOutcome::Rejected(trustmeter_types::Rejection::new(
                trustmeter_types::RejectCode::CalibrationInvalid,
                "expired",
            )),
        ],
    };
    conforms::<Receipt>(&receipt).unwrap();
}

#[test]
fn the_validator_catches_a_value_the_schema_does_not_describe() {
    // The checker itself: a wrong type, a missing field and an unknown field are all refused.
    let sender = key(KeyScheme::Ed25519, 3);
    let t = transaction(&sender, 1, payloads(KeyScheme::Ed25519).remove(0));
    let schemas = components::<Transaction>();
    let root = serde_json::json!({"$ref": "#/components/schemas/Transaction"});
    let mut v = serde_json::to_value(&t).unwrap();
    v["body"]["nonce"] = Value::String("1".into());
    assert!(check(&schemas, &root, &v, "$").is_err(), "a nonce as a string");
    let mut v = serde_json::to_value(&t).unwrap();
    v["body"].as_object_mut().unwrap().remove("sender");
    assert!(check(&schemas, &root, &v, "$").is_err(), "no sender");
    let mut v = serde_json::to_value(&t).unwrap();
    v["body"]["extra"] = Value::Bool(true);
    assert!(check(&schemas, &root, &v, "$").is_err(), "an unknown field");
    let mut v = serde_json::to_value(&t).unwrap();
    v["body"]["payload"]["type"] = Value::String("no_such_kind".into());
    assert!(check(&schemas, &root, &v, "$").is_err(), "an unknown kind");
}
