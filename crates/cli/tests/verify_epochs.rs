//! `trustmeter verify` follows the epoch chain (docs/proof-format.md §14) with only the genesis:
//! the published vector of `trustmeter-client` (a reading of epoch 4, after three validator-set
//! changes) verifies, and the same bundle without one of its links, or with a link's set altered,
//! is refused with the step and the link named.

use crate::support::{text, trustmeter};
use std::path::PathBuf;

fn vector(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../client/tests/vectors/epoch-chain").join(file)
}

#[test]
fn verify_follows_the_epoch_chain_from_the_genesis() {
    let (bundle, genesis) = (vector("bundle.json"), vector("genesis.json"));
    let args = |b: &PathBuf| {
        vec!["verify".to_string(), "--genesis".into(), genesis.display().to_string(), b.display().to_string()]
    };
    let run = |b: &PathBuf| {
        let a = args(b);
        trustmeter(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    let out = run(&bundle);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.starts_with("VALID"), "{stdout}");
    assert!(stdout.contains("epoch 4"), "{stdout}");
    assert!(stdout.contains("through 3 finalized epoch boundaries"), "{stdout}");

    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A link removed.
    let mut skipped = json.clone();
    skipped["epochs"].as_array_mut().unwrap().remove(1);
    let path = dir.path().join("skipped.json");
    std::fs::write(&path, skipped.to_string()).unwrap();
    let out = run(&path);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("INVALID") && stderr.contains("epoch chain") && stderr.contains("2 epoch links"),
        "{stderr}"
    );
    // A set altered: one member's stake.
    let mut altered = json.clone();
    let stake = &mut altered["epochs"][2]["set"]["entry"]["value"]["value"]["members"][0]["stake"];
    *stake = serde_json::json!(stake.as_u64().unwrap() + 1);
    let path = dir.path().join("altered.json");
    std::fs::write(&path, altered.to_string()).unwrap();
    let out = run(&path);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the validator set of epoch 4 is not proven"), "{stderr}");
}
