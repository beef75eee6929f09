//! Any input gets a JSON answer: malformed, mistyped, oversized and mutated inputs are refused
//! with an error code, and none makes an operation panic.

use crate::vectors::read_vector;
use crate::{call, call_raw};
use serde_json::{Value, json};
use trustmeter_webverify::{MAX_INPUT_BYTES, proofs::MAX_BUNDLE_BYTES};

fn code(a: &Value) -> &str {
    a["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn malformed_inputs_get_json_errors() {
    assert_eq!(code(&call_raw("verify", b"")), "bad_input");
    assert_eq!(code(&call_raw("verify", b"{")), "bad_input");
    assert_eq!(code(&call_raw("verify", b"null")), "bad_input");
    assert_eq!(code(&call_raw("verify", &[0xff, 0xfe, 0x00])), "bad_input");
    assert_eq!(code(&call("verify", &json!({"kind": "reading"}))), "bad_input");
    assert_eq!(code(&call("verify", &json!({"kind": "block", "bundle": "{}", "genesis": null}))), "bad_input");
    assert_eq!(code(&call("verify", &json!({"kind": "reading", "bundle": 1, "genesis": null}))), "bad_input");
    let extra = json!({"kind": "reading", "bundle": "{}", "genesis": null, "trust_me": true});
    assert_eq!(code(&call("verify", &extra)), "bad_input");
    let misplaced = json!({"kind": "reading", "bundle": "{}", "genesis": null, "tx_hash": "00"});
    assert_eq!(code(&call("verify", &misplaced)), "bad_input");
    assert_eq!(code(&call("frobnicate", &json!({}))), "unknown_op");
    assert_eq!(code(&call_raw(&"x".repeat(100), b"{}")), "unknown_op");
    assert_eq!(code(&trustmeter_json(&[0xff], b"{}")), "unknown_op");
    // A bundle that is not JSON, or nests too deep, fails at the format step.
    for bundle in ["", "not json", "[]", &"[".repeat(100_000)] {
        let a = call("verify", &json!({"kind": "reading", "bundle": bundle, "genesis": null}));
        assert_eq!(a["error"]["step"], "format", "{bundle:.20}: {a:#}");
        assert_eq!(a["steps"][0]["status"], "failed");
        assert!(a["steps"].as_array().unwrap()[1..].iter().all(|s| s["status"] == "not_reached"));
    }
    // A trusted genesis that is not one fails at the genesis step.
    let a = call("verify", &json!({"kind": "reading", "bundle": read_vector("reading.json"), "genesis": "{}"}));
    assert_eq!(a["error"]["step"], "genesis", "{a:#}");
    assert_eq!(a["steps"][0]["status"], "passed");
}

fn trustmeter_json(op: &[u8], input: &[u8]) -> Value {
    serde_json::from_str(&trustmeter_webverify::call(op, input)).unwrap()
}

#[test]
fn oversized_inputs_are_refused() {
    let big = "x".repeat(MAX_BUNDLE_BYTES + 1);
    let a = call("verify", &json!({"kind": "reading", "bundle": big, "genesis": null}));
    assert_eq!(code(&a), "too_large", "{:.300}", a.to_string());
    drop(big);
    let a = call("verify", &json!({"kind": "reading", "bundle": "{}", "genesis": "y".repeat(16 * 1024 * 1024 + 1)}));
    assert_eq!(code(&a), "too_large");
    let huge = vec![b' '; MAX_INPUT_BYTES + 1];
    assert_eq!(code(&call_raw("verify", &huge)), "too_large");
}

/// A small deterministic generator (no dependency): splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Mutated proofs of every kind (bytes replaced, inserted, deleted, cut): each gets an answer,
/// never a panic, and none verifies unless it is the genuine text with insignificant changes.
#[test]
fn mutated_proofs_never_panic() {
    let genesis = read_vector("genesis.json");
    let mut rng = Rng(2026);
    for (kind, file) in
        [("reading", "reading.json"), ("figure", "figure.json"), ("receipt", "receipt.json"), ("state", "state.json")]
    {
        let text = read_vector(file);
        let bytes = text.as_bytes();
        for _ in 0..60 {
            let mut m = bytes.to_vec();
            match rng.below(4) {
                0 => {
                    let i = rng.below(m.len());
                    m[i] = b"0123456789abcdef\"{}[],: x-"[rng.below(26)];
                }
                1 => {
                    let i = rng.below(m.len());
                    m.insert(i, b"0\"{[,"[rng.below(5)]);
                }
                2 => {
                    let i = rng.below(m.len());
                    m.remove(i);
                }
                _ => m.truncate(rng.below(m.len())),
            }
            let bundle = String::from_utf8_lossy(&m).into_owned();
            let a = call("verify", &json!({"kind": kind, "bundle": bundle, "genesis": genesis}));
            assert_ne!(code(&a), "internal", "{kind}: {a:#}");
            if a["ok"] == true {
                // Only a change that leaves the document's meaning intact can verify.
                let same = serde_json::from_str::<Value>(&bundle).ok() == serde_json::from_str::<Value>(&text).ok();
                assert!(same, "{kind}: a changed proof verified: {bundle}");
            }
        }
    }
}
