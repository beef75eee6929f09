//! The OpenAPI schemas of the JSON types (feature `openapi`, what the node's `/openapi.json`
//! describes a transaction with) against real values: a signed transaction of every kind (Ed25519
//! and SM2 senders), a block and a genesis, serialized exactly as the API reads and writes them,
//! must each match their schema, checked by `trustmeter_types::openapi::check` (this crate's
//! small validator, also used by the node's tests). Every property a value carries must be
//! described, so a schema that forgets a field fails, and every `TxPayload` kind must be one of
//! the document's alternatives. None of these schemas is a bare object.

use crate::samples::*;
use serde_json::{Map, Value};
use trustmeter_types::openapi::check::{self, bare_objects, components, conforms_to_own};
use trustmeter_types::{Block, Genesis, KeyScheme, Receipt, Transaction};
use utoipa::ToSchema;

fn conforms<T: ToSchema + serde::Serialize>(value: &T) -> Result<(), String> {
    conforms_to_own(value).map_err(|e| e.to_string())
}

fn check(schemas: &Map<String, Value>, schema: &Value, v: &Value, _path: &str) -> Result<(), String> {
    check::conforms(schemas, schema, v).map_err(|e| e.to_string())
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

#[test]
fn no_schema_of_the_json_types_is_a_bare_object() {
    for (name, schemas) in [
        ("Transaction", components::<Transaction>()),
        ("Block", components::<Block>()),
        ("Genesis", components::<Genesis>()),
        ("Receipt", components::<Receipt>()),
    ] {
        let bare = bare_objects(&Value::Object(schemas));
        assert!(bare.is_empty(), "{name}'s schemas have bare objects at {bare:?}");
    }
}

#[test]
fn the_validator_reads_maps_tuples_and_finds_bare_objects() {
    let schemas = Map::new();
    // A map: each value against `additionalProperties`.
    let map = serde_json::json!({"type": "object", "additionalProperties": {"type": "integer"}});
    assert!(check(&schemas, &map, &serde_json::json!({"a": 1, "b": 2}), "$").is_ok());
    assert!(check(&schemas, &map, &serde_json::json!({"a": "1"}), "$").is_err(), "a text in an integer map");
    // A tuple: each item against its `prefixItems`, no more items than them.
    let tuple = serde_json::json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
        "items": false, "minItems": 2, "maxItems": 2});
    assert!(check(&schemas, &tuple, &serde_json::json!(["a", 1]), "$").is_ok());
    assert!(check(&schemas, &tuple, &serde_json::json!([1, "a"]), "$").is_err(), "items swapped");
    assert!(check(&schemas, &tuple, &serde_json::json!(["a", 1, 2]), "$").is_err(), "one item too many");
    assert!(check(&schemas, &tuple, &serde_json::json!(["a"]), "$").is_err(), "one item short");
    // Bare objects, wherever they are; described objects and examples are not.
    let doc = serde_json::json!({"paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json":
        {"schema": {"type": "object"}}}}}}}}, "components": {"schemas": {
        "Ok": {"type": "object", "properties": {"a": {"type": ["object", "null"]}}, "example": {"type": "object"}},
        "Map": {"type": "object", "additionalProperties": {"type": "string"}},
        "Ref": {"$ref": "#/components/schemas/Ok"}}}});
    let mut found = bare_objects(&doc);
    found.sort();
    assert_eq!(
        found,
        vec![
            "#/components/schemas/Ok/properties/a".to_string(),
            "#/paths/~1x/get/responses/200/content/application~1json/schema".to_string()
        ]
    );
}
