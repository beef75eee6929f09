//! Bounded fuzzing of what a gateway and the API client act on from nodes they do not trust:
//! receipt proofs (`GET /v1/transactions/{hash}/proof`, a batch is settled on one) and state
//! proofs (`/v1/policy/proof`, `/v1/meters/{id}/proof`, what is pre-applied), parsed strictly as
//! `trustmeter-api-client` parses them and verified; and carbon proofs (`trustmeter verify`, the
//! web verifier).
//!
//! Inputs: the genuine receipt and state proofs of the web verifier's vectors
//! (`web/test/vectors/{receipt,state,genesis}.json`, made from a deterministic 4-validator chain),
//! edited with the same structural and text edits as the proof bundles (`fuzz/bundles.rs`). No
//! genuine carbon proof can be made without a chain that verified an annual report, so the carbon
//! proof here wraps the genuine state proof (it fails at its documents step, as in
//! `webverify/tests/vectors.rs`); edits of it must never make it verify.
//!
//! Properties: parsing and verifying never panic. A receipt proof that still parses verifies for
//! the gateway's transaction if and only if it means what the genuine one means (equal after
//! parsing, the certificate's hex compared case-insensitively). A state proof that still verifies
//! proves nothing the genuine one does not: every key it proves present or absent is proven so,
//! with the same value, by the genuine one, under the same block.

use crate::fuzz::{edited_json, edits};
use proptest::prelude::*;
use std::sync::OnceLock;
use trustmeter_client::certified::StateKey;
use trustmeter_client::{CarbonProof, ReceiptProof, StateProofs, VerifiedReceipt, VerifiedState};
use trustmeter_types::Genesis;

const SEED: u64 = 0x6365_7274_6966_6965;

struct Vectors {
    genesis: Genesis,
    receipt: (ReceiptProof, String, VerifiedReceipt),
    state: (StateProofs, String, VerifiedState),
    carbon: String,
}

fn vectors() -> &'static Vectors {
    static V: OnceLock<Vectors> = OnceLock::new();
    V.get_or_init(|| {
        let genesis: Genesis = serde_json::from_str(include_str!("../../../../web/test/vectors/genesis.json"))
            .expect("the vector's genesis");
        let text = include_str!("../../../../web/test/vectors/receipt.json").to_string();
        let receipt: ReceiptProof = trustmeter_client::strict::parse(&text).expect("the vector's receipt proof");
        let verified = trustmeter_client::verify_receipt(&receipt, &genesis, &receipt.receipt.tx_hash)
            .expect("the vector's receipt proof verifies");
        let state_text = include_str!("../../../../web/test/vectors/state.json").to_string();
        let state: StateProofs = trustmeter_client::strict::parse(&state_text).expect("the vector's state proofs");
        let verified_state = trustmeter_client::verify_state(&state, &genesis).expect("the vector's state verifies");
        let carbon = CarbonProof {
            version: trustmeter_client::CARBON_PROOF_VERSION.into(),
            genesis: genesis.clone(),
            org: genesis
                .organisations
                .iter()
                .find(|o| o.kind == trustmeter_types::OrgKind::Enterprise)
                .expect("an enterprise")
                .id
                .clone(),
            year: 2026,
            state: vec![state.clone()],
            report: "{}".into(),
            figures: vec![],
            readings: vec![],
        };
        let carbon = serde_json::to_string_pretty(&carbon).expect("prints");
        Vectors { genesis, receipt: (receipt, text, verified), state: (state, state_text, verified_state), carbon }
    })
}

fn same_receipt(a: &ReceiptProof, b: &ReceiptProof) -> bool {
    let lower = |x: &ReceiptProof| {
        let mut x = x.clone();
        x.block.finalization = x.block.finalization.to_ascii_lowercase();
        x
    };
    lower(a) == lower(b)
}

/// A receipt proof read from `text` verifies for the gateway's transaction exactly when it means
/// what the genuine one means.
fn receipt_is_checked(text: &[u8]) -> Result<(), TestCaseError> {
    let v = vectors();
    let (original, _, summary) = &v.receipt;
    let Ok(text) = std::str::from_utf8(text) else { return Ok(()) };
    let Ok(proof) = trustmeter_client::strict::parse::<ReceiptProof>(text) else { return Ok(()) };
    let result = trustmeter_client::verify_receipt(&proof, &v.genesis, &original.receipt.tx_hash);
    if same_receipt(&proof, original) {
        prop_assert_eq!(result, Ok(summary.clone()));
    } else {
        prop_assert!(
            result.is_err(),
            "a changed receipt proof verified:\n{}",
            serde_json::to_string_pretty(&proof).unwrap()
        );
    }
    Ok(())
}

/// A state proof read from `text` that verifies proves only what the genuine one proves.
fn state_is_checked(text: &[u8]) -> Result<(), TestCaseError> {
    let v = vectors();
    let (original, _, summary) = &v.state;
    let Ok(text) = std::str::from_utf8(text) else { return Ok(()) };
    let Ok(proofs) = trustmeter_client::strict::parse::<StateProofs>(text) else { return Ok(()) };
    let Ok(verified) = trustmeter_client::verify_state(&proofs, &v.genesis) else { return Ok(()) };
    let changed = || serde_json::to_string_pretty(&proofs).unwrap();
    prop_assert_eq!(verified.block, summary.block, "another block:\n{}", changed());
    let keys = verified.entries.iter().map(|e| e.key.clone()).chain(verified.absent.iter().cloned());
    for key in keys.collect::<Vec<StateKey>>() {
        prop_assert_eq!(verified.lookup(&key), summary.lookup(&key), "{:?} proven otherwise:\n{}", key, changed());
    }
    // What the API client and the gateway ask of it: the policy set is never other than the
    // genuine document's (the vector proves none, so none).
    prop_assert_eq!(verified.policies().ok(), summary.policies().ok(), "{}", changed());
    let _ = original;
    Ok(())
}

/// A carbon proof read from `text` never verifies (the genuine one does not: it has no report).
fn carbon_is_checked(text: &[u8]) -> Result<(), TestCaseError> {
    let v = vectors();
    let Ok(text) = std::str::from_utf8(text) else { return Ok(()) };
    // As `trustmeter verify` reads it, and strictly as the web verifier does.
    let parsed =
        [serde_json::from_str::<CarbonProof>(text).ok(), trustmeter_client::strict::parse::<CarbonProof>(text).ok()];
    for proof in parsed.into_iter().flatten() {
        for trusted in [Some(&v.genesis), None] {
            let result = trustmeter_client::verify_carbon(&proof, trusted);
            prop_assert!(result.is_err(), "a carbon proof without a report verified: {:?}", result);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(trustmeter_fuzzkit::config(1_500, SEED))]

    #[test]
    fn edited_receipt_proofs_verify_only_if_unchanged((structural, textual) in edits()) {
        receipt_is_checked(&edited_json(&vectors().receipt.1, &structural, &textual))?;
    }

    #[test]
    fn edited_state_proofs_prove_nothing_new((structural, textual) in edits()) {
        state_is_checked(&edited_json(&vectors().state.1, &structural, &textual))?;
    }
}

proptest! {
    #![proptest_config(trustmeter_fuzzkit::config(500, SEED))]

    #[test]
    fn edited_carbon_proofs_never_verify((structural, textual) in edits()) {
        carbon_is_checked(&edited_json(&vectors().carbon, &structural, &textual))?;
    }
}

#[test]
fn the_vectors_verify_and_the_carbon_proof_does_not() {
    let v = vectors();
    assert!(v.state.2.entries.len() + v.state.2.absent.len() >= 2, "an entry and an absence");
    receipt_is_checked(v.receipt.1.as_bytes()).unwrap();
    state_is_checked(v.state.1.as_bytes()).unwrap();
    carbon_is_checked(v.carbon.as_bytes()).unwrap();
}
