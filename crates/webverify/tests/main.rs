//! trustmeter-webverify's tests: the operations exactly as the wasm module runs them
//! ([`trustmeter_webverify::call`]), on real proofs of a deterministic chain; the committed
//! vectors `web/test/` checks through the built module; and that check itself, run with Node
//! (`node_wasm`).

mod chain;
mod inputs;
mod keys;
mod node_wasm;
mod transactions;
mod vectors;

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Runs an operation and parses its answer, which is always a JSON object with `ok` and `error`.
pub fn call(op: &str, input: &Value) -> Value {
    call_raw(op, input.to_string().as_bytes())
}

/// [`call`] with raw input bytes.
pub fn call_raw(op: &str, input: &[u8]) -> Value {
    let answer = trustmeter_webverify::call(op.as_bytes(), input);
    let v: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {answer}"));
    assert!(v.is_object(), "{answer}");
    assert!(v["ok"].is_boolean(), "{answer}");
    assert_eq!(v["ok"].as_bool().unwrap(), v["error"].is_null(), "ok agrees with error: {answer}");
    v
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `web/test/vectors/`.
pub fn vectors_dir() -> PathBuf {
    root().join("web/test/vectors")
}

/// The SHA-256/Ed25519 example chain, built once per test binary.
pub fn sha_chain() -> &'static chain::Chain {
    static CHAIN: OnceLock<chain::Chain> = OnceLock::new();
    CHAIN.get_or_init(|| chain::make("webverify-example", false))
}

/// The SM3/SM2 example chain (国密).
pub fn gm_chain() -> &'static chain::Chain {
    static CHAIN: OnceLock<chain::Chain> = OnceLock::new();
    CHAIN.get_or_init(|| chain::make("webverify-gm", true))
}

/// Whether the test should rewrite committed vectors (`TRUSTMETER_REGENERATE=1`).
pub fn regenerate() -> bool {
    std::env::var_os("TRUSTMETER_REGENERATE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Whether a committed vector at `path` should be (re)written: missing, or `TRUSTMETER_REGENERATE=1`.
pub fn regenerate_keys_or_missing(path: &std::path::Path) -> bool {
    regenerate() || !path.exists()
}
