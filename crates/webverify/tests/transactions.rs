//! `sign_transaction`: the shift transactions a page signs are the CLI's byte for byte (Ed25519,
//! against `trustmeter_plant::TxSigner` and `sign_tx`), pass the chain's own signature check and
//! admission (`trustmeter_chain::mempool::precheck`) and execute in a block, for Ed25519 and for
//! SM2 keys from an encrypted key file; every other payload kind, malformed or oversized input
//! is refused with a reason. `web/test/vectors/transactions.json` holds what the test keys sign,
//! for the JavaScript test of the built module.

use crate::chain::{self, GENESIS_MS};
use crate::{call, regenerate_keys_or_missing, vectors_dir};
use serde_json::{Value, json};
use trustmeter_crypto::{HashAlg, SigningKey, tx_hash};
use trustmeter_keystore::{KdfParams, KeyFile, KeyMeta, MIN_KDF_MEMORY_KIB};
use trustmeter_plant::TxSigner;
use trustmeter_state::State;
use trustmeter_types::shifts::{ShiftCalendar, ShiftDef, ShiftRotation};
use trustmeter_types::tx::ProductOutput;
use trustmeter_types::{ChainId, Quantity, RejectCode, ShiftOutput, Transaction, TxOutcome, TxPayload};

const PASSPHRASE: &str = "shift supervisor's passphrase";

/// The plant's calendar shape (three shifts, four teams, an eight-day cycle) from 2026-01-01.
fn calendar() -> ShiftCalendar {
    ShiftCalendar {
        effective_from: 20_260_101,
        shifts: vec![
            ShiftDef { name: "夜班".into(), start_minute: 0, end_minute: 480 },
            ShiftDef { name: "白班".into(), start_minute: 480, end_minute: 960 },
            ShiftDef { name: "中班".into(), start_minute: 960, end_minute: 0 },
        ],
        teams: vec!["甲".into(), "乙".into(), "丙".into(), "丁".into()],
        rotation: Some(ShiftRotation {
            start: 20_260_101,
            days: [[0, 1, 2], [0, 1, 2], [3, 0, 1], [3, 0, 1], [2, 3, 0], [2, 3, 0], [1, 2, 3], [1, 2, 3]]
                .iter()
                .map(|d| d.iter().map(|t| Some(*t)).collect())
                .collect(),
        }),
    }
}

fn output(day: u32, shift: &str, vehicles: i64) -> ShiftOutput {
    ShiftOutput {
        day,
        shift: shift.into(),
        team: None,
        products: vec![ProductOutput {
            product: "整车".into(),
            unit: "辆".into(),
            quantity: Quantity::from_micros(vehicles * Quantity::SCALE),
        }],
        note: "counted at the end of the shift".into(),
    }
}

/// Writes `key` as a key file (encrypted under [`PASSPHRASE`] when `encrypted`) and returns its text.
fn key_file_text(key: &SigningKey, encrypted: bool) -> String {
    let dir = std::env::temp_dir().join(format!("webverify-tx-{}-{}", std::process::id(), key.public_key().to_text()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("key.json");
    let light = KdfParams { m_kib: MIN_KDF_MEMORY_KIB, t: 1, p: 1 };
    KeyFile::write_with_kdf(
        &path,
        key,
        "enterprise",
        &KeyMeta::default(),
        encrypted.then_some(PASSPHRASE),
        light,
        true,
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

fn open(text: &str, encrypted: bool) -> Value {
    let a = call("open_key", &json!({"file": text, "passphrase": encrypted.then_some(PASSPHRASE)}));
    assert_eq!(a["ok"], true, "{a:#}");
    a["handle"].clone()
}

fn sign(handle: &Value, chain_id: &str, nonce: u64, payload: &TxPayload, hash_alg: Option<&str>) -> Value {
    call(
        "sign_transaction",
        &json!({"handle": handle, "chain_id": chain_id, "nonce": nonce,
                "payload": serde_json::to_value(payload).unwrap(), "hash_alg": hash_alg}),
    )
}

/// The transaction of an answer, parsed as the node parses `POST /v1/transactions`.
fn transaction(answer: &Value) -> Transaction {
    assert_eq!(answer["ok"], true, "{answer:#}");
    serde_json::from_str(answer["transaction"].as_str().unwrap()).unwrap()
}

/// Signs the calendar and one finished shift's output in the module with the chain's enterprise
/// key (from a key file), and runs them through the chain: admission, then a block each.
fn through_the_chain(c: &chain::Chain, encrypted: bool) {
    let _guard = crate::keys::lock();
    let enterprise = &c.devnet.enterprises[0];
    let org = enterprise.org.id.clone();
    let chain_id = c.genesis().chain_id.as_str().to_string();
    let alg = c.genesis().params.hash;
    let handle = open(&key_file_text(&enterprise.key, encrypted), encrypted);
    let state2: &State = &c.block2.1.state;
    // Block 1 used the enterprise's nonces 1 to 3.
    let set = TxPayload::SetShiftCalendar { calendar: calendar() };
    let a = sign(&handle, &chain_id, 4, &set, Some(&alg.to_string()));
    let tx = transaction(&a);
    assert_eq!(a["tx_hash"], tx_hash(alg, &tx).to_hex());
    assert_eq!(a["sender"], enterprise.key.public_key().to_text());
    // The chain's own signature check, then admission as a node runs it.
    trustmeter_crypto::verify(&tx.body.sender, &tx.body.signing_payload(), &tx.signature).expect("the signature");
    trustmeter_chain::mempool::precheck(state2, &tx).unwrap_or_else(|r| panic!("admission: {r:?}"));
    let (_, out3) = chain::build(state2, 3, GENESIS_MS + 20 * 60_000, vec![tx]);
    // 2026-01-01 08:25 in Shanghai: the night shift (00:00–08:00) has ended.
    let record = TxPayload::RecordShiftOutput { output: output(20_260_101, "夜班", 311) };
    let tx = transaction(&sign(&handle, &chain_id, 5, &record, None));
    trustmeter_chain::mempool::precheck(&out3.state, &tx).unwrap_or_else(|r| panic!("admission: {r:?}"));
    let (_, out4) = chain::build(&out3.state, 4, GENESIS_MS + 25 * 60_000, vec![tx]);
    let recorded = out4.state.shift_output(&org, 20_260_101, "夜班").expect("the output is in the state");
    assert_eq!(recorded.products[0].quantity, Quantity::from_micros(311_000_000));
    assert_eq!(recorded.team.as_deref(), Some("甲"), "the rotation's team");
    // What only the chain's state can refuse is the chain's to refuse: a day 62+ days back.
    let old = TxPayload::RecordShiftOutput { output: output(20_251_001, "夜班", 1) };
    let tx = transaction(&sign(&handle, &chain_id, 6, &old, None));
    let r = trustmeter_chain::mempool::precheck(&out4.state, &tx).expect_err("too far back");
    assert_eq!(r.code, RejectCode::InvalidShiftData, "{r:?}");
    assert!(r.message.contains("62 back"), "{}", r.message);
    // A stale nonce is the chain's refusal too.
    let tx = transaction(&sign(&handle, &chain_id, 5, &record, None));
    let r = trustmeter_chain::mempool::precheck(&out4.state, &tx).expect_err("nonce 5 is used");
    assert_eq!(r.code, RejectCode::StaleNonce, "{r:?}");
    assert!(matches!(out4.receipts[0].outcome, TxOutcome::Accepted));
    call("close_key", &json!({"handle": handle}));
}

#[test]
fn ed25519_shift_transactions_are_admitted_and_executed() {
    through_the_chain(crate::sha_chain(), false);
}

#[test]
fn sm2_shift_transactions_from_an_encrypted_key_file_are_admitted_and_executed() {
    through_the_chain(crate::gm_chain(), true);
}

/// The payloads of `transactions.json`.
fn payloads() -> Vec<(u64, TxPayload)> {
    let mut two = output(20_261_121, "白班", 298);
    two.team = Some("乙".into());
    two.products.push(ProductOutput {
        product: "白车身".into(),
        unit: "台".into(),
        quantity: Quantity::from_micros(305_500_000),
    });
    two.note = "corrected: 3 vehicles reworked".into();
    vec![
        (1, TxPayload::SetShiftCalendar { calendar: calendar() }),
        (2, TxPayload::RecordShiftOutput { output: output(20_261_121, "夜班", 312) }),
        (9_007_199_254_740_991, TxPayload::RecordShiftOutput { output: two }),
    ]
}

/// Signatures are deterministic (Ed25519; SM2 with RFC 6979 nonces): the module's transaction is
/// exactly the one `TxSigner` (and the CLI's `sign_tx`) makes with the same key, chain, nonce and
/// payload, as JSON and as canonical bytes.
#[test]
fn the_transactions_are_the_ones_the_cli_signs() {
    let _guard = crate::keys::lock();
    let chain_id = ChainId::new("webverify-example").unwrap();
    let mut vectors = Vec::new();
    for (name, encrypted) in [("key-plain.json", false), ("key-encrypted.json", true), ("key-sm2.json", false)] {
        let text = std::fs::read_to_string(vectors_dir().join(name)).unwrap();
        let passphrase = encrypted.then_some(crate::keys::PASSPHRASE);
        let (key, info) = KeyFile::load_str(&text, std::path::Path::new(name), passphrase).unwrap();
        let a = call("open_key", &json!({"file": text, "passphrase": passphrase}));
        let handle = a["handle"].clone();
        for (nonce, payload) in payloads() {
            let answer = call(
                "sign_transaction",
                &json!({"handle": handle, "chain_id": chain_id.as_str(), "nonce": nonce,
                        "payload": serde_json::to_value(&payload).unwrap(), "hash_alg": "sha256"}),
            );
            let tx = transaction(&answer);
            trustmeter_crypto::verify(&info.public_key, &tx.body.signing_payload(), &tx.signature)
                .expect("the chain's signature check");
            assert_eq!(tx.body.payload, payload);
            assert_eq!(answer["kind"], payload.kind());
            assert_eq!(answer["nonce"], nonce);
            assert_eq!(answer["tx_hash"], tx_hash(HashAlg::Sha256, &tx).to_hex());
            // Ed25519 and this SM2 (RFC 6979 nonces) are deterministic: byte for byte the CLI's.
            let cli = TxSigner::new(key.clone(), chain_id.clone(), nonce).sign(payload.clone());
            assert_eq!(answer["transaction"].as_str().unwrap(), serde_json::to_string(&cli).unwrap(), "{name}");
            assert_eq!(trustmeter_types::encode(&tx), trustmeter_types::encode(&cli));
            vectors.push(json!({
                "key": name,
                "passphrase": passphrase,
                "chain_id": chain_id.as_str(),
                "nonce": nonce,
                "payload": serde_json::to_value(&payload).unwrap(),
                "transaction": answer["transaction"],
                "tx_hash": answer["tx_hash"],
            }));
        }
        call("close_key", &json!({"handle": handle}));
    }
    let path = vectors_dir().join("transactions.json");
    let text = serde_json::to_string_pretty(&Value::Array(vectors)).unwrap() + "\n";
    if regenerate_keys_or_missing(&path) {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "{} is not what the key vectors sign; regenerate with TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-webverify",
        path.display()
    );
}

#[test]
fn other_kinds_and_bad_payloads_are_refused_with_reasons() {
    let _guard = crate::keys::lock();
    let text = std::fs::read_to_string(vectors_dir().join("key-plain.json")).unwrap();
    let handle = call("open_key", &json!({"file": text, "passphrase": null}))["handle"].clone();
    let good = serde_json::to_value(TxPayload::RecordShiftOutput { output: output(20_261_121, "夜班", 1) }).unwrap();
    let refuse = |input: Value, code: &str, says: &str| {
        let mut input = input;
        if input.get("handle").is_none() {
            input["handle"] = handle.clone();
        }
        let a = call("sign_transaction", &input);
        assert_eq!(a["ok"], false, "{input}: {a:#}");
        assert_eq!(a["error"]["code"], code, "{input}: {a:#}");
        let m = a["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "{says:?} in {m}");
        assert!(a.get("transaction").is_none());
    };
    let with = |payload: Value| json!({"chain_id": "c-1", "nonce": 1, "payload": payload});
    // Kinds a page may not sign, well-formed or not.
    let transfer = json!({"type": "transfer", "to": "91430100710001000Q", "amount": 1, "memo": ""});
    refuse(with(transfer), "not_allowed", "trustmeter tx");
    refuse(with(json!({"type": "revoke_account", "public_key": "x", "reason": "y"})), "not_allowed", "shift");
    refuse(with(json!({"type": "no_such_kind"})), "not_allowed", "record_shift_output");
    refuse(with(json!({"output": good["output"]})), "bad_input", "type");
    refuse(with(json!("record_shift_output")), "bad_input", "type");
    // Strict: unknown and missing fields, wrong types, named.
    let mut extra = good.clone();
    extra["output"]["operator"] = json!("张三");
    refuse(with(extra), "bad_input", "operator");
    let mut missing = good.clone();
    missing["output"].as_object_mut().unwrap().remove("team");
    refuse(with(missing), "bad_input", "team");
    let mut negative = good.clone();
    negative["output"]["products"][0]["quantity"] = json!(-1);
    refuse(with(negative), "bad_input", "negative");
    let mut fraction = good.clone();
    fraction["output"]["products"][0]["quantity"] = json!(1.5);
    refuse(with(fraction), "bad_input", "output: at `products[0].quantity`");
    refuse(with(json!({"type": "record_shift_output"})), "bad_input", "exactly two fields");
    let mut two = good.clone();
    two["calendar"] = json!({});
    refuse(with(two), "bad_input", "exactly two fields");
    let mut bad_day = good.clone();
    bad_day["output"]["day"] = json!(20_261_131);
    refuse(with(bad_day), "bad_input", "not a date");
    let mut overlap = calendar();
    overlap.shifts[1].end_minute = 1_000;
    let overlap = serde_json::to_value(TxPayload::SetShiftCalendar { calendar: overlap }).unwrap();
    refuse(with(overlap), "bad_input", "overlap");
    let mut long_name = calendar();
    long_name.teams[0] = "一二三四五六七八九十一".into();
    let long_name = serde_json::to_value(TxPayload::SetShiftCalendar { calendar: long_name }).unwrap();
    refuse(with(long_name), "bad_input", "team name");
    // The envelope.
    refuse(json!({"chain_id": "c-1", "nonce": 0, "payload": good}), "bad_input", "nonce");
    refuse(json!({"chain_id": "", "nonce": 1, "payload": good}), "bad_input", "chain_id");
    refuse(json!({"chain_id": "c-1", "nonce": -1, "payload": good}), "bad_input", "expected u64");
    refuse(json!({"chain_id": "c-1", "nonce": 1, "payload": good, "hash_alg": "md5"}), "bad_input", "sha256 or sm3");
    refuse(json!({"chain_id": "c-1", "nonce": 1, "payload": good, "fee": 1}), "bad_input", "fee");
    refuse(json!({"handle": 999_999, "chain_id": "c-1", "nonce": 1, "payload": good}), "no_such_key", "handle");
    // Bounded before it is parsed.
    let mut huge = good.clone();
    huge["output"]["note"] = json!("x".repeat(70_000));
    refuse(with(huge), "too_large", "at most");
    let mut long_note = good.clone();
    long_note["output"]["note"] = json!("x".repeat(300));
    refuse(with(long_note), "bad_input", "note");
    let deep = format!(
        "{{\"handle\":1,\"chain_id\":\"c\",\"nonce\":1,\"payload\":{}1{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let a = crate::call_raw("sign_transaction", deep.as_bytes());
    assert_eq!(a["error"]["code"], "bad_input", "{a:#}");
    // The key still signs afterwards.
    assert_eq!(
        call("sign_transaction", &{
            let mut i = with(good);
            i["handle"] = handle.clone();
            i
        })["ok"],
        true
    );
    call("close_key", &json!({"handle": handle}));
}
