//! Account keys in the module: key files opened (plain, encrypted, SM2), requests signed exactly
//! as the node's access check verifies them (`trustmeter_httpsig::verify`), keys closed, the
//! table bounded. The key files under `web/test/vectors/` are test keys made once (random salt
//! and nonce; `TRUSTMETER_REGENERATE_KEYS=1` makes new ones), registered nowhere; `sign.json` holds the
//! headers each must give (Ed25519 and SM2 signatures are deterministic), for the JavaScript test.

use crate::{call, vectors_dir};
use serde_json::{Value, json};
use std::sync::Mutex;
use trustmeter_crypto::SigningKey;
use trustmeter_keystore::{KdfParams, KeyFile, KeyMeta, MIN_KDF_MEMORY_KIB};
use trustmeter_types::{KeyScheme, UnifiedSocialCreditCode};

/// The key table is one per process: these tests (and `transactions`) take turns.
static TABLE: Mutex<()> = Mutex::new(());

/// Takes the key table's turn.
pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The encrypted test key's passphrase.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The key files: name, scheme, encrypted.
/// Whether to make new key vectors (`TRUSTMETER_REGENERATE_KEYS=1`): apart from the other vectors'
/// `TRUSTMETER_REGENERATE`, because new keys come from OS randomness: regenerating them changes
/// the key files and `sign.json` every time.
fn regenerate_keys() -> bool {
    std::env::var_os("TRUSTMETER_REGENERATE_KEYS").is_some_and(|v| !v.is_empty() && v != "0")
}

const KEYS: [(&str, KeyScheme, bool); 3] = [
    ("key-plain.json", KeyScheme::Ed25519, false),
    ("key-encrypted.json", KeyScheme::Ed25519, true),
    ("key-sm2.json", KeyScheme::Sm2, false),
];

/// Reads a key vector, making it first when missing or when regenerating.
fn key_file(name: &str, scheme: KeyScheme, encrypted: bool) -> String {
    let path = vectors_dir().join(name);
    if regenerate_keys() || !path.exists() {
        let dir = std::env::temp_dir().join(format!("webverify-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(name);
        let _ = std::fs::remove_file(&tmp);
        let key = trustmeter_keystore::generate_key(scheme).unwrap();
        let meta =
            KeyMeta { organisation: Some(UnifiedSocialCreditCode::new("91430100710001000Q").unwrap()), device: None };
        let light = KdfParams { m_kib: MIN_KDF_MEMORY_KIB, t: 1, p: 1 };
        let pass = encrypted.then_some(PASSPHRASE);
        KeyFile::write_with_kdf(&tmp, &key, "webverify test key: public, never register it", &meta, pass, light, false)
            .unwrap();
        std::fs::create_dir_all(vectors_dir()).unwrap();
        std::fs::copy(&tmp, &path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::read_to_string(&path).unwrap()
}

fn open(name: &str) -> (Value, String) {
    let (_, scheme, encrypted) = KEYS.iter().find(|k| k.0 == name).unwrap();
    let text = key_file(name, *scheme, *encrypted);
    let a = call("open_key", &json!({"file": text, "passphrase": encrypted.then_some(PASSPHRASE)}));
    assert_eq!(a["ok"], true, "{name}: {a:#}");
    (a, text)
}

/// The requests of `sign.json`.
fn requests() -> Vec<Value> {
    vec![
        json!({"method": "GET", "path": "/v1/figures/daily", "query": "org=91430100710001000Q&from=2026-01-01", "created": 1_767_225_600}),
        json!({"method": "GET", "path": "/v1/meters/91430100700001000N-EM01/readings/1/proof", "query": null, "created": 1_767_225_601}),
        json!({"method": "POST", "path": "/v1/enterprises/91430100710001000Q/carbon/what-if", "query": "year=2026", "created": 1_767_225_602, "body": "{\"efficiency\":\"0.05\"}"}),
    ]
}

fn sign(handle: &Value, request: &Value) -> Value {
    let mut input = request.clone();
    input["handle"] = handle.clone();
    call("sign_request", &input)
}

#[test]
fn signed_requests_verify_as_the_node_checks_them() {
    let _guard = lock();
    let mut vectors = Vec::new();
    for (name, scheme, encrypted) in KEYS {
        let (opened, text) = open(name);
        let file: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(opened["public_key"], file["public_key"], "{name}");
        assert_eq!(opened["encrypted"], encrypted);
        assert_eq!(opened["scheme"], scheme.name());
        assert_eq!(opened["alg"], trustmeter_httpsig::alg_name(scheme));
        assert_eq!(opened["organisation"], "91430100710001000Q");
        let key = trustmeter_types::PublicKey::from_text(opened["public_key"].as_str().unwrap()).unwrap();
        for request in requests() {
            let a = sign(&opened["handle"], &request);
            assert_eq!(a["ok"], true, "{a:#}");
            let h = &a["headers"];
            let (method, path, query) =
                (request["method"].as_str().unwrap(), request["path"].as_str().unwrap(), request["query"].as_str());
            let created = request["created"].as_i64().unwrap();
            let digest = h["content-digest"].as_str();
            let who = trustmeter_httpsig::verify_with_digest(
                method,
                path,
                query,
                digest,
                h["signature-input"].as_str().unwrap(),
                h["signature"].as_str().unwrap(),
                created + 10,
            )
            .unwrap_or_else(|e| panic!("{name} {path}: {e}"));
            assert_eq!(who.key, key);
            assert_eq!(who.created, created);
            match request["body"].as_str() {
                Some(body) => {
                    assert_eq!(who.content_digest.as_deref(), digest);
                    trustmeter_httpsig::check_digest(digest.unwrap(), body.as_bytes()).unwrap();
                }
                None => assert!(digest.is_none()),
            }
            // Another path, query or method does not verify.
            let other = trustmeter_httpsig::verify_with_digest(
                method,
                "/v1/figures/ranking",
                query,
                digest,
                h["signature-input"].as_str().unwrap(),
                h["signature"].as_str().unwrap(),
                created,
            );
            assert!(other.is_err(), "{name}: a signature for another path is refused");
            let mut v = json!({"key": name, "passphrase": encrypted.then_some(PASSPHRASE), "headers": h});
            for (k, x) in request.as_object().unwrap() {
                v[k] = x.clone();
            }
            vectors.push(v);
        }
        let closed = call("close_key", &json!({"handle": opened["handle"]}));
        assert_eq!(closed["closed"], true);
        let a = sign(&opened["handle"], &requests()[0]);
        assert_eq!(a["error"]["code"], "no_such_key", "{a:#}");
        assert_eq!(call("close_key", &json!({"handle": opened["handle"]}))["closed"], false);
    }
    // The same headers the committed vectors hold (what the JavaScript test expects).
    let path = vectors_dir().join("sign.json");
    let text = serde_json::to_string_pretty(&Value::Array(vectors)).unwrap() + "\n";
    if regenerate_keys() || !path.exists() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "{} is not what the key vectors sign; regenerate with TRUSTMETER_REGENERATE_KEYS=1 cargo test -p trustmeter-webverify",
        path.display()
    );
}

/// The headers are the CLI's: `trustmeter_httpsig::sign` with the key the file holds.
#[test]
fn the_headers_are_the_ones_the_cli_makes() {
    let _guard = lock();
    let (opened, text) = open("key-plain.json");
    let (key, _) = KeyFile::load_str(&text, std::path::Path::new("k"), None).unwrap();
    let cli = trustmeter_httpsig::sign(&key, "GET", "/v1/meters", Some("limit=5"), 1_767_225_600);
    let a = call(
        "sign_request",
        &json!({"handle": opened["handle"], "method": "GET", "path": "/v1/meters", "query": "limit=5", "created": 1_767_225_600}),
    );
    assert_eq!(a["headers"]["signature-input"], cli.signature_input);
    assert_eq!(a["headers"]["signature"], cli.signature);
    // No query: null and "" sign the same request as the CLI's `None`.
    let cli = trustmeter_httpsig::sign(&key, "GET", "/v1/status", None, 5);
    for query in [Value::Null, json!("")] {
        let a = call(
            "sign_request",
            &json!({"handle": opened["handle"], "method": "GET", "path": "/v1/status", "query": query, "created": 5}),
        );
        assert_eq!(a["headers"]["signature"], cli.signature);
    }
    // A body given as base64 signs the same bytes as the same body given as text.
    let text_body = sign(
        &opened["handle"],
        &json!({"method": "PUT", "path": "/v1/x", "query": null, "created": 7, "body": "hello"}),
    );
    let b64_body = sign(
        &opened["handle"],
        &json!({"method": "PUT", "path": "/v1/x", "query": null, "created": 7, "body_base64": "aGVsbG8="}),
    );
    assert_eq!(text_body["headers"], b64_body["headers"]);
    call("close_key", &json!({"handle": opened["handle"]}));
}

#[test]
fn bad_key_files_and_passphrases_are_refused_with_reasons() {
    let _guard = lock();
    let text = key_file("key-encrypted.json", KeyScheme::Ed25519, true);
    let refuse = |input: Value, code: &str, says: &str| {
        let a = call("open_key", &input);
        assert_eq!(a["ok"], false, "{a:#}");
        assert_eq!(a["error"]["code"], code, "{a:#}");
        let m = a["error"]["message"].as_str().unwrap();
        assert!(m.contains(says), "{m}");
        assert!(!m.contains(PASSPHRASE), "the passphrase is never echoed");
    };
    refuse(json!({"file": text, "passphrase": "wrong passphrase"}), "key_error", "passphrase is wrong");
    refuse(json!({"file": text, "passphrase": null}), "key_error", "encrypted");
    refuse(json!({"file": "{}", "passphrase": null}), "key_error", "malformed");
    refuse(json!({"file": "x".repeat(70_000), "passphrase": null}), "key_error", "at most");
    refuse(json!({"file": text, "passphrase": "p".repeat(2000)}), "too_large", "passphrase");
    refuse(json!({"file": text}), "key_error", "give its passphrase");
    refuse(json!({"passphrase": null}), "bad_input", "file");
    // A file asking for more Argon2id memory than a page allows is refused before any is spent.
    let mut heavy: Value = serde_json::from_str(&text).unwrap();
    heavy["secret"]["encrypted"]["m_kib"] = json!(512 * 1024);
    refuse(json!({"file": heavy.to_string(), "passphrase": PASSPHRASE}), "key_error", "Argon2id memory");
    // A swapped public key does not decrypt (it is the ciphertext's associated data).
    let mut swapped: Value = serde_json::from_str(&text).unwrap();
    swapped["public_key"] = json!(SigningKey::ed25519_from_seed([9; 32]).public_key().to_text());
    refuse(json!({"file": swapped.to_string(), "passphrase": PASSPHRASE}), "key_error", "modified");
}

#[test]
fn requests_are_checked_before_signing() {
    let _guard = lock();
    let (opened, _) = open("key-plain.json");
    let h = &opened["handle"];
    let bad = |request: Value, code: &str| {
        let mut input = request;
        input["handle"] = h.clone();
        let a = call("sign_request", &input);
        assert_eq!(a["error"]["code"], code, "{input}: {a:#}");
    };
    bad(json!({"method": "get", "path": "/v1/x", "query": null, "created": 1}), "bad_input");
    bad(json!({"method": "GET", "path": "v1/x", "query": null, "created": 1}), "bad_input");
    bad(json!({"method": "GET", "path": "/v1/x?a=1", "query": null, "created": 1}), "bad_input");
    bad(json!({"method": "GET", "path": "/v1/x y", "query": null, "created": 1}), "bad_input");
    bad(json!({"method": "GET", "path": "/v1/x\n", "query": null, "created": 1}), "bad_input");
    bad(json!({"method": "GET", "path": "/v1/x", "query": "?a=1", "created": 1}), "bad_input");
    bad(json!({"method": "GET", "path": "/v1/x", "query": null, "created": "now"}), "bad_input");
    bad(
        json!({"method": "GET", "path": "/v1/x", "query": null, "created": 1, "body": "a", "body_base64": "YQ=="}),
        "bad_input",
    );
    bad(json!({"method": "GET", "path": "/v1/x", "query": null, "created": 1, "body_base64": "Y"}), "bad_input");
    bad(json!({"method": "GET", "path": format!("/{}", "a".repeat(9000)), "query": null, "created": 1}), "too_large");
    bad(json!({"method": "GET", "path": "/v1/x", "query": null, "created": 1, "extra": 1}), "bad_input");
    let a =
        call("sign_request", &json!({"handle": 999_999, "method": "GET", "path": "/", "query": null, "created": 1}));
    assert_eq!(a["error"]["code"], "no_such_key");
    call("close_key", &json!({"handle": h}));
}

#[test]
fn the_key_table_is_bounded_and_handles_are_not_reused() {
    let _guard = lock();
    let mut handles = Vec::new();
    for _ in 0..trustmeter_webverify::keys::MAX_KEYS {
        handles.push(open("key-plain.json").0["handle"].as_u64().unwrap());
    }
    let text = key_file("key-plain.json", KeyScheme::Ed25519, false);
    let a = call("open_key", &json!({"file": text, "passphrase": null}));
    assert_eq!(a["error"]["code"], "key_table_full", "{a:#}");
    let first = handles[0];
    assert_eq!(call("close_key", &json!({"handle": first}))["closed"], true);
    let again = open("key-plain.json").0["handle"].as_u64().unwrap();
    assert!(!handles.contains(&again), "a new handle, never an old one");
    handles[0] = again;
    for h in handles {
        assert_eq!(call("close_key", &json!({"handle": h}))["closed"], true);
    }
}
