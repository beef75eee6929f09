//! The committed vectors (`web/test/vectors/`): genuine proofs of the example chains, tampered
//! copies, and `cases.json`, the verdict each must get. They are generated here from the
//! deterministic chains and compared byte for byte with the committed files (regenerate with
//! `TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-webverify`); every case is then run through
//! [`trustmeter_webverify::call`] here, and through the built wasm module by
//! `web/test/verifier.test.mjs`.

use crate::{call, gm_chain, regenerate, root, sha_chain, vectors_dir};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A generated file: name and contents.
type Files = BTreeMap<String, String>;

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Flips one hex digit of a hex string at `at` characters from its end.
fn flip_hex(s: &str, from_end: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() - from_end;
    chars[i] = if chars[i] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

/// Changes a quantity (JSON number of micro-units, or decimal text) to another valid one.
fn bump(q: &mut Value) {
    *q = match &*q {
        Value::Number(n) => json!(n.as_i64().unwrap() + 1_000_000),
        Value::String(t) => {
            let mut chars: Vec<char> = t.chars().collect();
            let i = chars.iter().position(|c| c.is_ascii_digit()).unwrap();
            chars[i] = if chars[i] == '9' { '8' } else { char::from(chars[i] as u8 + 1) };
            Value::String(chars.into_iter().collect())
        }
        other => panic!("not a quantity: {other}"),
    };
}

/// Every generated vector file, and the cases.
fn generate() -> Files {
    let c = sha_chain();
    let gm = gm_chain();
    let mut files = Files::new();
    let genesis = serde_json::to_string_pretty(c.genesis()).unwrap() + "\n";
    files.insert("genesis.json".into(), genesis);
    files.insert("genesis-gm.json".into(), serde_json::to_string_pretty(gm.genesis()).unwrap() + "\n");
    let other = crate::chain::make("webverify-other", false);
    files.insert("genesis-other.json".into(), serde_json::to_string_pretty(other.genesis()).unwrap() + "\n");

    let reading = c.reading(0).to_json() + "\n";
    files.insert("reading.json".into(), reading.clone());
    files.insert("reading-gateway.json".into(), c.reading(1).to_json() + "\n");
    files.insert("reading-gm.json".into(), gm.reading(0).to_json() + "\n");
    let figure = c.figure().to_json() + "\n";
    files.insert("figure.json".into(), figure.clone());
    let receipt = pretty(&serde_json::to_value(c.receipt(1)).unwrap());
    files.insert("receipt.json".into(), receipt.clone());
    let state = pretty(&serde_json::to_value(c.meter_state()).unwrap());
    files.insert("state.json".into(), state.clone());

    // Tampered copies, each failing at a known step.
    let mut v = value_of(&reading);
    bump(&mut v["reading"]["reading"]["value"]);
    files.insert("tampered-reading-value.json".into(), pretty(&v));
    let mut v = value_of(&reading);
    let sig = v["reading"]["signature"].as_str().unwrap().to_string();
    v["reading"]["signature"] = json!(flip_hex(&sig, 40));
    files.insert("tampered-reading-signature.json".into(), pretty(&v));
    let mut v = value_of(&reading);
    let fin = v["finalization"].as_str().unwrap().to_string();
    // A hex digit inside the last validator signature (its last 128 hex digits).
    v["finalization"] = json!(flip_hex(&fin, 100));
    files.insert("tampered-reading-certificate.json".into(), pretty(&v));
    let mut v = value_of(&reading);
    let p = v["audit_path"][0].as_str().unwrap().to_string();
    v["audit_path"][0] = json!(flip_hex(&p, 1));
    files.insert("tampered-reading-path.json".into(), pretty(&v));
    let mut v = value_of(&reading);
    v["meter_proof"]["entry"]["value"]["value"]["name"] = json!("another feeder");
    files.insert("tampered-reading-meter-record.json".into(), pretty(&v));
    let mut v = value_of(&reading);
    v["header"]["timestamp_ms"] = json!(v["header"]["timestamp_ms"].as_i64().unwrap() + 1);
    files.insert("tampered-reading-header.json".into(), pretty(&v));
    let mut v = value_of(&figure);
    bump(&mut v["figure"]["entry"]["value"]["value"]["consumption"]);
    files.insert("tampered-figure-value.json".into(), pretty(&v));
    let mut v = value_of(&receipt);
    v["receipt"]["readings"] = json!([]);
    let rejected = trustmeter_types::TxOutcome::Rejected(trustmeter_types::Rejection::new(
        trustmeter_types::RejectCode::UnknownSender,
        "the sender is not a registered account",
    ));
    v["receipt"]["outcome"] = serde_json::to_value(rejected).unwrap();
    files.insert("tampered-receipt-outcome.json".into(), pretty(&v));
    let mut v = value_of(&state);
    v["entries"][0]["entry"]["value"]["value"]["name"] = json!("another feeder");
    files.insert("tampered-state-entry.json".into(), pretty(&v));

    let r0 = c.reading(0).verify(Some(c.genesis())).unwrap();
    let tx = c.tx_hash(1).to_hex();
    let case = |name: &str, kind: &str, bundle: &str, genesis: Option<&str>, step: Option<&str>| json!({"name": name, "kind": kind, "bundle": bundle, "genesis": genesis, "ok": step.is_none(), "step": step});
    let mut cases = vec![
        case(
            "a reading signed by its meter, against the trusted genesis",
            "reading",
            "reading.json",
            Some("genesis.json"),
            None,
        ),
        case("a reading signed by its gateway", "reading", "reading-gateway.json", Some("genesis.json"), None),
        case("a reading of an SM3/SM2 chain (国密)", "reading", "reading-gm.json", Some("genesis-gm.json"), None),
        case(
            "a reading of epoch 4, through three epoch links (crates/client's vector)",
            "reading",
            "../../../crates/client/tests/vectors/epoch-chain/bundle.json",
            Some("../../../crates/client/tests/vectors/epoch-chain/genesis.json"),
            None,
        ),
        case("a reading against its own genesis (not trusted)", "reading", "reading.json", None, None),
        case(
            "a reading against another chain's genesis",
            "reading",
            "reading.json",
            Some("genesis-other.json"),
            Some("genesis"),
        ),
        case(
            "a reading whose value was changed",
            "reading",
            "tampered-reading-value.json",
            Some("genesis.json"),
            Some("reading_signature"),
        ),
        case(
            "a reading whose signature was changed",
            "reading",
            "tampered-reading-signature.json",
            Some("genesis.json"),
            Some("reading_signature"),
        ),
        case(
            "a reading whose meter record was changed",
            "reading",
            "tampered-reading-meter-record.json",
            Some("genesis.json"),
            Some("state_proofs"),
        ),
        case(
            "a reading whose audit path was changed",
            "reading",
            "tampered-reading-path.json",
            Some("genesis.json"),
            Some("inclusion"),
        ),
        case(
            "a reading whose block header was changed",
            "reading",
            "tampered-reading-header.json",
            Some("genesis.json"),
            Some("finality"),
        ),
        case(
            "a reading whose certificate signature was changed",
            "reading",
            "tampered-reading-certificate.json",
            Some("genesis.json"),
            Some("finality"),
        ),
        case("a figure proof given as a reading", "reading", "figure.json", Some("genesis.json"), Some("format")),
        case("a daily figure", "figure", "figure.json", Some("genesis.json"), None),
        case(
            "a daily figure whose value was changed",
            "figure",
            "tampered-figure-value.json",
            Some("genesis.json"),
            Some("state_proofs"),
        ),
        case(
            "a daily figure against another chain's genesis",
            "figure",
            "figure.json",
            Some("genesis-other.json"),
            Some("genesis"),
        ),
        case("a transaction's receipt", "receipt", "receipt.json", Some("genesis.json"), None),
        case(
            "a receipt whose outcome was changed",
            "receipt",
            "tampered-receipt-outcome.json",
            Some("genesis.json"),
            Some("inclusion"),
        ),
        case("a receipt without a trusted genesis", "receipt", "receipt.json", None, Some("genesis")),
        case("a meter's record and an absent meter", "state", "state.json", Some("genesis.json"), None),
        case(
            "a state proof whose entry was changed",
            "state",
            "tampered-state-entry.json",
            Some("genesis.json"),
            Some("state_proofs"),
        ),
        case(
            "a state proof against another chain's genesis",
            "state",
            "state.json",
            Some("genesis-other.json"),
            Some("genesis"),
        ),
    ];
    // What the genuine ones must say.
    cases[0]["summary"] = json!({
        "meter": r0.meter.as_str(), "value": r0.value.to_string(), "unit": "kWh", "height": "2",
        "block_digest": r0.block_digest.to_hex(), "validator_signatures": "3", "chain_id": "webverify-example",
    });
    cases[16]["tx_hash"] = json!(tx);
    cases[16]["summary"] = json!({"tx_hash": tx, "height": "1"});
    let mut wrong_tx = cases[16].clone();
    wrong_tx["name"] = json!("a receipt asked for another transaction");
    wrong_tx["tx_hash"] = json!(c.tx_hash(0).to_hex());
    wrong_tx["ok"] = json!(false);
    wrong_tx["step"] = json!("inclusion");
    wrong_tx.as_object_mut().unwrap().remove("summary");
    cases.push(wrong_tx);
    files.insert("cases.json".into(), pretty(&Value::Array(cases)));
    files
}

#[test]
fn the_committed_vectors_are_generated_from_the_example_chains() {
    let files = generate();
    let dir = vectors_dir();
    if regenerate() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    for (name, text) in &files {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            &committed == text,
            "{} is not the generated vector; regenerate with TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-webverify",
            path.display()
        );
    }
}

/// Reads a vector file named in `cases.json`.
pub fn read_vector(name: &str) -> String {
    let path = vectors_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The committed cases.
pub fn cases() -> Vec<Value> {
    serde_json::from_str::<Value>(&read_vector("cases.json")).unwrap().as_array().unwrap().clone()
}

/// Checks an answer of `verify` against a case: the verdict, the failed step, the order of
/// statuses (passed…, failed, not reached…), and the expected summary fields.
pub fn check_case(case: &Value, answer: &Value) {
    let name = case["name"].as_str().unwrap();
    assert_eq!(answer["ok"], case["ok"], "{name}: {answer:#}");
    assert_eq!(answer["kind"], case["kind"], "{name}");
    assert_eq!(answer["trusted_genesis"], json!(!case["genesis"].is_null() && answer["genesis"].is_object()), "{name}");
    let steps = answer["steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{name}");
    for s in steps {
        for field in ["id", "name", "name_zh", "status", "detail"] {
            assert!(s[field].is_string(), "{name}: step without {field}: {s}");
        }
    }
    if case["ok"] == true {
        assert!(steps.iter().all(|s| s["status"] == "passed"), "{name}: {answer:#}");
        for (k, v) in case["summary"].as_object().into_iter().flatten() {
            assert_eq!(&answer["summary"][k], v, "{name}: summary.{k}");
        }
        assert!(!answer["summary"].as_object().unwrap().is_empty(), "{name}");
    } else {
        let step = case["step"].as_str().unwrap();
        assert_eq!(answer["error"]["code"], "verify_failed", "{name}");
        assert_eq!(answer["error"]["step"], step, "{name}: {answer:#}");
        let at = steps.iter().position(|s| s["id"] == step).unwrap_or_else(|| panic!("{name}: no step {step}"));
        assert_eq!(steps[at]["status"], "failed", "{name}");
        assert_eq!(steps[at]["detail"], answer["error"]["message"], "{name}");
        assert!(steps[..at].iter().all(|s| s["status"] != "failed"), "{name}");
        assert!(steps[at + 1..].iter().all(|s| s["status"] == "not_reached"), "{name}: {answer:#}");
        assert_eq!(answer["summary"], json!({}), "{name}: no facts from a proof that fails");
    }
}

/// The input of a case's `verify` call.
pub fn case_input(case: &Value) -> Value {
    let mut input = json!({
        "kind": case["kind"],
        "bundle": read_vector(case["bundle"].as_str().unwrap()),
        "genesis": case["genesis"].as_str().map(read_vector),
    });
    if let Some(tx) = case.get("tx_hash") {
        input["tx_hash"] = tx.clone();
    }
    input
}

#[test]
fn every_case_gets_its_verdict_at_its_step() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for case in &cases {
        let answer = call("verify", &case_input(case));
        check_case(case, &answer);
    }
}

#[test]
fn an_untrusted_genesis_is_said_loudly() {
    let input = json!({"kind": "reading", "bundle": read_vector("reading.json"), "genesis": null});
    let a = call("verify", &input);
    assert_eq!(a["ok"], true);
    assert_eq!(a["trusted_genesis"], false);
    let warnings = a["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().starts_with("NOT CHECKED AGAINST A TRUSTED GENESIS")), "{a:#}");
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("devnet")), "{a:#}");
    let g = &a["steps"][1];
    assert_eq!(g["id"], "genesis");
    assert!(g["detail"].as_str().unwrap().starts_with("NOT TRUSTED"), "{g}");
    // The genesis the answer names is the bundle's, with the hash /v1/status reports.
    let hash = trustmeter_crypto::genesis_hash(sha_chain().genesis()).to_hex();
    assert_eq!(a["genesis"]["hash"], hash);
    // With the trusted genesis, no such warning.
    let input =
        json!({"kind": "reading", "bundle": read_vector("reading.json"), "genesis": read_vector("genesis.json")});
    let a = call("verify", &input);
    assert_eq!(a["trusted_genesis"], true);
    assert!(!a["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("NOT CHECKED")));
}

/// A genuine reading: every step passed, with the facts the CLI prints.
#[test]
fn a_genuine_reading_passes_every_step_in_order() {
    let c = sha_chain();
    let input =
        json!({"kind": "reading", "bundle": read_vector("reading.json"), "genesis": read_vector("genesis.json")});
    let a = call("verify", &input);
    let ids: Vec<&str> = a["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["format", "genesis", "reading_signature", "registry", "state_proofs", "inclusion", "epoch_chain", "finality"]
    );
    let v = c.reading(0).verify(Some(c.genesis())).unwrap();
    let sum = &a["summary"];
    assert_eq!(sum["seq"], "1");
    assert_eq!(sum["owner"], v.owner.as_str());
    assert_eq!(sum["time_utc"], "2026-01-01T00:15:00.000Z");
    assert_eq!(sum["time_beijing"], "2026-01-01T08:15:00.000+08:00");
    assert_eq!(sum["signer"], "meter");
    assert_eq!(sum["calibration_certificate_no"], "HNJL-2025-00731");
    assert_eq!(sum["quorum"], "3");
    assert_eq!(sum["hash_alg"], "sha256");
    assert!(a["steps"][7]["detail"].as_str().unwrap().contains("3 of 4 validators"), "{a:#}");
    assert_eq!(a["genesis"]["fingerprint"].as_str().unwrap().len(), 39);
}

/// The worked example of `docs/proof-format.md` §9 (a genuine bundle with its genesis inside).
#[test]
fn the_worked_example_of_the_proof_format_verifies() {
    let doc = std::fs::read_to_string(root().join("docs/proof-format.md")).unwrap();
    let start = doc.find("<!-- BEGIN GENERATED worked-example -->").unwrap();
    let json_start = start + doc[start..].find("```json\n").unwrap() + "```json\n".len();
    let json_end = json_start + doc[json_start..].find("\n```").unwrap();
    let bundle = &doc[json_start..json_end];
    let a = call("verify", &json!({"kind": "reading", "bundle": bundle, "genesis": null}));
    assert_eq!(a["ok"], true, "{a:#}");
    assert_eq!(a["summary"]["chain_id"], "hunan-example");
    let genesis = serde_json::to_string(&value_of(bundle)["genesis"]).unwrap();
    let a = call("verify", &json!({"kind": "reading", "bundle": bundle, "genesis": genesis}));
    assert_eq!(a["ok"], true, "{a:#}");
    assert_eq!(a["trusted_genesis"], true);
}

/// Every kind refuses the others' documents at the format step, and a genuine proof of each
/// kind verifies through the same entry point.
#[test]
fn kinds_read_only_their_own_documents() {
    let docs =
        [("reading", "reading.json"), ("figure", "figure.json"), ("receipt", "receipt.json"), ("state", "state.json")];
    for (kind, _) in docs {
        for (other, file) in docs {
            let a = call(
                "verify",
                &json!({"kind": kind, "bundle": read_vector(file), "genesis": read_vector("genesis.json")}),
            );
            assert_eq!(a["ok"], kind == other, "{kind} of {file}: {a:#}");
            if kind != other {
                assert_eq!(a["error"]["step"], "format", "{kind} of {file}");
            }
        }
        let a = call("verify", &json!({"kind": "carbon", "bundle": read_vector(docs[0].1), "genesis": null}));
        assert_eq!(a["error"]["step"], "format");
    }
}

/// Corruptions made here, beyond the committed ones: every one fails, at the step that checks
/// what was changed, and none makes the verifier panic.
#[test]
fn more_tampering_fails_at_the_right_step() {
    let reading = read_vector("reading.json");
    let genesis = read_vector("genesis.json");
    let check = |bundle: &Value, step: &str| {
        let a = call("verify", &json!({"kind": "reading", "bundle": bundle.to_string(), "genesis": genesis}));
        assert_eq!(a["ok"], false, "{step}: {a:#}");
        assert_eq!(a["error"]["step"], step, "{a:#}");
    };
    let base = value_of(&reading);
    let mut v = base.clone();
    v["version"] = json!("trustmeter-proof/v9");
    check(&v, "format");
    let mut v = base.clone();
    v["extra"] = json!(1);
    check(&v, "format");
    let mut v = base.clone();
    v["genesis"]["validators"][0]["name"] = json!("mallory");
    check(&v, "genesis");
    let mut v = base.clone();
    v["header"]["chain_id"] = json!("other");
    check(&v, "genesis");
    let mut v = base.clone();
    v["reading"]["reading"]["seq"] = json!(2);
    check(&v, "reading_signature");
    let mut v = base.clone();
    v["gateway"] = json!("91430100700001000N-GW02");
    check(&v, "registry");
    let mut v = base.clone();
    v["state_roots"]["activity"] = json!("00".repeat(32));
    check(&v, "state_proofs");
    let mut v = base.clone();
    v["tree_size"] = json!(3);
    check(&v, "inclusion");
    let mut v = base.clone();
    v["finalization"] = json!("zz");
    check(&v, "finality");
    let mut v = base.clone();
    v["finalization"] = json!("00");
    check(&v, "finality");
    // A descendant that is not a child fails at finality before the epoch chain is followed.
    let mut v = base.clone();
    v["descendants"] = json!([base["header"].clone()]);
    let a = call("verify", &json!({"kind": "reading", "bundle": v.to_string(), "genesis": genesis}));
    assert_eq!(a["error"]["step"], "finality", "{a:#}");
    let status = |id: &str| a["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()["status"].clone();
    assert_eq!(status("epoch_chain"), "not_reached");
    assert_eq!(status("inclusion"), "passed");
    // An epoch link where none belongs.
    let mut v = base.clone();
    let epoch_chain = value_of(&read_vector("../../../crates/client/tests/vectors/epoch-chain/bundle.json"));
    v["epochs"] = json!([epoch_chain["epochs"][0].clone()]);
    check(&v, "epoch_chain");
    // Every single-character change of the finalization certificate fails (a sample of them).
    let fin = base["finalization"].as_str().unwrap().to_string();
    for i in (0..fin.len()).step_by(7) {
        let mut v = base.clone();
        v["finalization"] = json!(flip_hex(&fin, fin.len() - i));
        let a = call("verify", &json!({"kind": "reading", "bundle": v.to_string(), "genesis": genesis}));
        assert_eq!(a["ok"], false, "certificate digit {i}");
        let step = a["error"]["step"].as_str().unwrap();
        assert!(["finality", "epoch_chain"].contains(&step), "digit {i}: {a:#}");
    }
}

/// A genuine SM3/SM2 reading: the hash algorithm and the signature scheme come from its genesis.
#[test]
fn a_gm_reading_names_its_algorithms() {
    let a = call(
        "verify",
        &json!({"kind": "reading", "bundle": read_vector("reading-gm.json"), "genesis": read_vector("genesis-gm.json")}),
    );
    assert_eq!(a["ok"], true, "{a:#}");
    assert_eq!(a["summary"]["hash_alg"], "sm3");
    assert_eq!(a["genesis"]["hash_alg"], "sm3");
    assert_eq!(a["genesis"]["hash"], trustmeter_crypto::genesis_hash(gm_chain().genesis()).to_hex());
}

#[test]
fn genesis_info_matches_the_node_status_hash() {
    for (file, chain) in [("genesis.json", sha_chain()), ("genesis-gm.json", gm_chain())] {
        let a = call("genesis_info", &json!({"genesis": read_vector(file)}));
        assert_eq!(a["ok"], true, "{a:#}");
        let hash = trustmeter_crypto::genesis_hash(chain.genesis()).to_hex();
        assert_eq!(a["hash"], hash);
        assert_eq!(a["chain_id"], chain.genesis().chain_id.as_str());
        assert_eq!(a["validators"], 4);
        assert_eq!(a["devnet_seed"], 2026);
        let fp = a["fingerprint"].as_str().unwrap();
        assert_eq!(fp.replace(' ', ""), hash[..32]);
        assert_eq!(fp.split(' ').count(), 8);
    }
    let a = call("genesis_info", &json!({"genesis": "{\"chain_id\": \"x\"}"}));
    assert_eq!(a["error"]["code"], "bad_genesis", "{a:#}");
    let mut g = value_of(&read_vector("genesis.json"));
    g["validators"] = json!([]);
    let a = call("genesis_info", &json!({"genesis": g.to_string()}));
    assert_eq!(a["error"]["code"], "bad_genesis", "{a:#}");
    assert!(a["error"]["message"].as_str().unwrap().contains("no validators"), "{a:#}");
}

/// Carbon proofs: no genuine one can be made without a chain that verified an annual report, so
/// these are proofs built from the example chain's real state documents, which fail where
/// `verify_carbon` stops, each attributed to its step by re-running the public checks.
#[test]
fn carbon_failures_are_attributed_to_their_steps() {
    let c = sha_chain();
    let org = c.devnet.enterprises[0].org.id.clone();
    let proof = |state: Vec<trustmeter_client::StateProofs>| trustmeter_client::CarbonProof {
        version: trustmeter_client::CARBON_PROOF_VERSION.into(),
        genesis: c.genesis().clone(),
        org: org.clone(),
        year: 2026,
        state,
        report: "{}".into(),
        figures: vec![],
        readings: vec![],
    };
    let genesis = read_vector("genesis.json");
    let run = |p: &trustmeter_client::CarbonProof, genesis: &str| {
        let text = serde_json::to_string(p).unwrap();
        call("verify", &json!({"kind": "carbon", "bundle": text, "genesis": genesis}))
    };
    let ids = |a: &Value| {
        a["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    // Real state, but no verification in it: the documents step.
    let a = run(&proof(vec![c.meter_state()]), &genesis);
    assert_eq!(ids(&a), ["format", "genesis", "state", "documents", "samples"]);
    assert_eq!(a["error"]["step"], "documents", "{a:#}");
    assert_eq!(a["steps"][2]["status"], "passed");
    // A state document that does not verify: the state step.
    let mut bad = c.meter_state();
    bad.state_roots.activity = trustmeter_types::Hash32([7; 32]);
    let a = run(&proof(vec![c.meter_state(), bad]), &genesis);
    assert_eq!(a["error"]["step"], "state", "{a:#}");
    // Another chain's genesis: the genesis step.
    let a = run(&proof(vec![c.meter_state()]), &read_vector("genesis-other.json"));
    assert_eq!(a["error"]["step"], "genesis", "{a:#}");
    // No state at all, or another version: the format step.
    let a = run(&proof(vec![]), &genesis);
    assert_eq!(a["error"]["step"], "format", "{a:#}");
    let mut p = proof(vec![c.meter_state()]);
    p.version = "trustmeter-carbon-proof/v0".into();
    let a = run(&p, &genesis);
    assert_eq!(a["error"]["step"], "format", "{a:#}");
}
