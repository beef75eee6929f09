//! The node's OpenAPI document (`GET /openapi.json`, `trustmeter_node::api::openapi()`) gives
//! the full schema of every body: no schema anywhere in it (a request or response body, a
//! component, a property, recursively) is a bare `type: object`; and real values of the types the
//! fixed routes serve — proof bundles, receipt and state proofs, figure and carbon proofs, an
//! organisation with its standing, a meter with its progress, a what-if scenario — match the
//! schema the document gives their route, by `trustmeter_types::openapi::check` (a property the
//! schema does not describe is a mismatch, so a schema that forgets a field fails).
//!
//! The proofs are the committed vectors of the example chains (`web/test/vectors/`, genuine
//! proofs that trustmeter-webverify's tests regenerate and compare): read into the Rust types the
//! handlers return, then serialized again, exactly as a handler's `Json` does.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Map, Value};
use trustmeter_client::{CarbonProof, FigureProof, ProofBundle, ReceiptProof, StateProofs};
use trustmeter_types::openapi::check::{bare_objects, conforms};

/// The document, as served.
fn document() -> Value {
    serde_json::to_value(trustmeter_node::api::openapi()).expect("the document serializes")
}

/// A committed vector of the example chains, read into `T`.
fn vector<T: serde::de::DeserializeOwned>(path: &str) -> Result<T> {
    let file = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).with_context(|| file.clone())?;
    serde_json::from_str(&text).with_context(|| format!("{file} as {}", std::any::type_name::<T>()))
}

/// The JSON schema of `route`'s (`method`) 200 answer, or of its request body.
fn schema<'a>(doc: &'a Value, route: &str, method: &str, request: bool) -> Result<&'a Value> {
    let op = &doc["paths"][route][method];
    let body = if request { &op["requestBody"] } else { &op["responses"]["200"] };
    let s = &body["content"]["application/json"]["schema"];
    ensure!(s.is_object(), "{method} {route}: no JSON schema for its {}", if request { "request" } else { "answer" });
    Ok(s)
}

/// Checks `value`, serialized as a handler does, against the schema of `route`.
fn check_route<T: serde::Serialize>(doc: &Value, route: &str, method: &str, request: bool, value: &T) -> Result<()> {
    let schemas: &Map<String, Value> = doc["components"]["schemas"].as_object().context("components.schemas")?;
    let v = serde_json::to_value(value)?;
    conforms(schemas, schema(doc, route, method, request)?, &v).map_err(|e| anyhow::anyhow!("{method} {route}: {e}"))
}

#[test]
fn no_schema_in_the_document_is_a_bare_object() {
    let doc = document();
    let bare = bare_objects(&doc);
    assert!(bare.is_empty(), "{} bare objects in the OpenAPI document: {bare:#?}", bare.len());
    // The bodies fixed for issue #11 name their schemas.
    for (route, method, request, name) in [
        ("/v1/transactions/{hash}/proof", "get", false, "ReceiptProof"),
        ("/v1/policy/proof", "get", false, "StateProofs"),
        ("/v1/meters/{id}/proof", "get", false, "StateProofs"),
        ("/v1/meters/{id}/readings/{seq}/proof", "get", false, "ProofBundle"),
        ("/v1/proofs/daily/{org}/{day}/{energy}/{unit}", "get", false, "FigureProof"),
        ("/v1/enterprises/{org}/carbon/proof", "get", false, "CarbonProof"),
        ("/v1/organisations/{id}", "get", false, "OrganisationView"),
        ("/v1/enterprises/{org}/carbon/report", "get", false, "ReportDocument"),
        ("/v1/enterprises/{org}/carbon/what-if", "post", true, "Scenario"),
        ("/v1/meters/{id}", "get", false, "MeterView"),
    ] {
        let s = schema(&doc, route, method, request).unwrap();
        assert_eq!(s["$ref"], format!("#/components/schemas/{name}"), "{method} {route}");
    }
}

#[test]
fn real_proofs_match_the_schemas_of_their_routes() -> Result<()> {
    let doc = document();
    let mut bundles = Vec::new();
    for path in [
        "web/test/vectors/reading.json",
        "web/test/vectors/reading-gm.json",
        "web/test/vectors/reading-gateway.json",
        // A bundle carrying epoch links (a chain past its second epoch).
        "crates/client/tests/vectors/epoch-chain/bundle.json",
    ] {
        let b: ProofBundle = vector(path)?;
        check_route(&doc, "/v1/meters/{id}/readings/{seq}/proof", "get", false, &b).context(path)?;
        bundles.push(b);
    }
    ensure!(bundles.iter().any(|b| !b.epochs.is_empty()), "no vector carries epoch links");
    let receipt: ReceiptProof = vector("web/test/vectors/receipt.json")?;
    check_route(&doc, "/v1/transactions/{hash}/proof", "get", false, &receipt)?;
    let state: StateProofs = vector("web/test/vectors/state.json")?;
    ensure!(!state.entries.is_empty() && !state.absent.is_empty(), "the state vector proves entries and absences");
    check_route(&doc, "/v1/meters/{id}/proof", "get", false, &state)?;
    check_route(&doc, "/v1/policy/proof", "get", false, &state)?;
    let figure: FigureProof = vector("web/test/vectors/figure.json")?;
    check_route(&doc, "/v1/proofs/daily/{org}/{day}/{energy}/{unit}", "get", false, &figure)?;
    // A carbon proof made of the same real parts.
    let carbon = CarbonProof {
        version: "trustmeter-carbon-proof/v1".into(),
        genesis: figure.genesis.clone(),
        org: trustmeter_types::UnifiedSocialCreditCode::new("91430100MA4L0001XA")?,
        year: 2026,
        state: vec![state.clone()],
        report: "{}".into(),
        figures: vec![figure],
        readings: bundles,
    };
    check_route(&doc, "/v1/enterprises/{org}/carbon/proof", "get", false, &carbon)?;
    Ok(())
}

#[test]
fn a_state_proof_of_every_value_kind_in_the_vectors_is_described() -> Result<()> {
    // The state vector's entries and absences against the component schemas directly: each
    // `StateKey` and `StateValue` kind it holds is one alternative of the document's `oneOf`.
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().context("components.schemas")?;
    let state: StateProofs = vector("web/test/vectors/state.json")?;
    let key = serde_json::json!({"$ref": "#/components/schemas/StateKey"});
    let entry = serde_json::json!({"$ref": "#/components/schemas/StateEntry"});
    for e in &state.entries {
        conforms(schemas, &entry, &serde_json::to_value(&e.entry)?).map_err(|x| anyhow::anyhow!("{x}"))?;
    }
    for a in &state.absent {
        conforms(schemas, &key, &serde_json::to_value(&a.key)?).map_err(|x| anyhow::anyhow!("{x}"))?;
    }
    // And a value the schema does not describe is refused: an unknown kind, a tuple key cut short.
    let bad_kind = serde_json::json!({"kind": "no_such_kind", "id": "x"});
    ensure!(conforms(schemas, &key, &bad_kind).is_err(), "an unknown key kind passed");
    let short = serde_json::json!({"kind": "progress", "id": ["91430100MA4L0001XA-GW01"]});
    ensure!(conforms(schemas, &key, &short).is_err(), "a progress key without its chunk passed");
    let progress = serde_json::json!({"kind": "progress", "id": ["91430100MA4L0001XA-GW01", 0]});
    conforms(schemas, &key, &progress).map_err(|x| anyhow::anyhow!("{x}"))?;
    Ok(())
}

#[test]
fn organisations_meters_and_scenarios_match_their_schemas() -> Result<()> {
    let doc = document();
    let state: StateProofs = vector("web/test/vectors/state.json")?;
    let org = trustmeter_types::Organisation {
        id: trustmeter_types::UnifiedSocialCreditCode::new("91430100MA4L0001XA")?,
        name: "Xiangjiang Steel".into(),
        kind: trustmeter_types::OrgKind::Enterprise,
        region: 430100,
    };
    for membership in [
        None,
        Some(trustmeter_types::Membership {
            status: trustmeter_types::OrgStatus::Active,
            since_ms: 1,
            reason: String::new(),
            active_accounts: 2,
        }),
    ] {
        let v = trustmeter_node::api::OrganisationView::new(org.clone(), membership);
        // Exactly what the handler served before it had a type: the record, plus `membership`.
        let mut before = serde_json::to_value(&org)?;
        before["membership"] = serde_json::to_value(&v.membership)?;
        ensure!(serde_json::to_value(&v)? == before, "the view changed the answer");
        check_route(&doc, "/v1/organisations/{id}", "get", false, &v)?;
    }
    // A meter record from the state vector, with and without progress.
    let meter = state
        .entries
        .iter()
        .find_map(|e| match &e.entry.value {
            trustmeter_state::StateValue::Meter(m) => Some(m.clone()),
            _ => None,
        })
        .context("the state vector proves a meter")?;
    let progress = trustmeter_state::MeterProgress { last_seq: 3, accepted: 3, ..Default::default() };
    for progress in [None, Some(progress)] {
        let v = trustmeter_node::api::MeterView { meter: meter.clone(), progress };
        check_route(&doc, "/v1/meters/{id}", "get", false, &v)?;
    }
    let scenario: trustmeter_carbon::scenario::Scenario = serde_json::from_value(serde_json::json!({
        "green_power_share": "0.3", "extra_certificates_mwh": "120",
        "efficiency": [{"target": "electricity", "gain": "0.05"}],
        "fuel_switch": [{"from": "natural_gas", "to": "electricity", "share": "0.5", "efficiency_ratio": "3"}]
    }))?;
    check_route(&doc, "/v1/enterprises/{org}/carbon/what-if", "post", true, &scenario)?;
    Ok(())
}

/// The schema `s` names through `$ref`s (at most 16), or `s`.
fn resolve<'a>(schemas: &'a Map<String, Value>, mut s: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match s["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => s = &schemas[name],
            None => break,
        }
    }
    s
}

#[test]
fn no_composition_joins_a_closed_schema_with_more_properties() {
    // An `allOf` of a schema that allows no other property (serde's `deny_unknown_fields`,
    // `additionalProperties: false`) and of more properties describes no value at all: what a
    // `#[serde(flatten)]` of such a record gives. `OrganisationView` was one.
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().expect("components.schemas");
    let mut closed = Vec::new();
    let mut stack = vec![("#".to_string(), &doc)];
    while let Some((path, v)) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(all) = m.get("allOf").and_then(Value::as_array) {
                    let members: Vec<&Value> = all.iter().map(|s| resolve(schemas, s)).collect();
                    if members.len() > 1 && members.iter().any(|s| s["additionalProperties"] == false) {
                        closed.push(path.clone());
                    }
                }
                stack.extend(m.iter().map(|(k, x)| (format!("{path}/{k}"), x)));
            }
            Value::Array(a) => stack.extend(a.iter().enumerate().map(|(i, x)| (format!("{path}/{i}"), x))),
            _ => {}
        }
    }
    assert!(closed.is_empty(), "compositions that describe no value: {closed:?}");
}
