//! Transactions signed in the page: `sign_transaction`.
//!
//! The page builds a payload as JSON (the `payload` of a transaction, exactly as
//! `POST /v1/transactions` takes it: `{"type": "record_shift_output", "output": {…}}`), and this
//! module signs it with an open key ([`crate::keys`]) for one chain and nonce, with the code the
//! CLI and every other client sign with: the body is a [`TxBody`], signed by
//! [`trustmeter_crypto::sign_tx`] (what `trustmeter tx` calls and what
//! `trustmeter_plant::TxSigner` wraps), so an Ed25519 transaction is byte for byte the CLI's.
//!
//! - `sign_transaction` `{"handle": 1, "chain_id": "hunan-1", "nonce": 8, "payload": {…},
//!   "hash_alg": "sha256" | "sm3" | null}` → `{"transaction": "<the JSON to POST>", "kind":
//!   "record_shift_output", "sender": "ed25519:<hex>", "nonce": 8, "chain_id": "hunan-1",
//!   "tx_hash": "<hex>" | null}`. `transaction` is the body of `POST /v1/transactions`
//!   (`Content-Type: application/json`); `tx_hash` (when `hash_alg` is given: the chain's, from
//!   its genesis or `/v1/status`) is the hash the node answers and `GET /v1/transactions/{hash}`
//!   follows.
//!
//! **Only [`WEB_PAYLOADS`] are signed.** The key never leaves this module, so this list, not
//! the page's script, decides what the key may sign in a browser: the data an enterprise enters
//! by hand on its own page (its shift calendar and its shifts' output). A script that is not
//! the dashboard's (an injected one, a tampered bundle, a bug) can at most enter shift data of
//! the signed-in enterprise — data the chain checks and keeps every revision of — and can never
//! move tokens, stake, rotate or revoke keys, change memberships, grants or disclosures, or
//! register or retire devices. Adding a kind is a change to this crate and its tests.
//!
//! The payload is parsed strictly (`trustmeter_client::strict`: unknown and missing fields
//! refused, errors name the field), checked as the node checks a transaction before admitting
//! it (`Validate`: sizes, names, that shifts do not overlap, …) and bounded
//! ([`MAX_PAYLOAD_BYTES`]). What needs the chain's state (the day within 62 days, a shift that
//! has started, the calendar in force) is the chain's to decide: its refusal comes back in the
//! node's answer or in the receipt.

use crate::keys::with_key;
use crate::{ErrorCode, OpError, OpResult};
use serde::Deserialize;
use serde_json::{Value, json};
use trustmeter_crypto::{sign_tx, tx_hash};
use trustmeter_types::codec::Validate;
use trustmeter_types::genesis::HashAlg;
use trustmeter_types::limits::MAX_TX_BYTES;
use trustmeter_types::{ChainId, TxBody, TxPayload};

/// The payload kinds a page may have signed (`payload.type`): an enterprise's shift calendar
/// (`SetShiftCalendar`, tag 28) and its shifts' output (`RecordShiftOutput`, tag 29). See the
/// module documentation for why the list is short.
pub const WEB_PAYLOADS: [&str; 2] = ["set_shift_calendar", "record_shift_output"];

/// Largest input of `sign_transaction`, bytes: a calendar at every limit (8 shifts, 32 teams, a
/// 64-day rotation) or an output of 16 products with 128-byte names is well under it.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Input of `sign_transaction`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignTxInput {
    /// A handle from `open_key`: the sender.
    pub handle: u32,
    /// The chain the transaction is for (`chain_id` of `/v1/status` or the genesis).
    pub chain_id: String,
    /// Strictly above the sender's last accepted nonce (`last_nonce` of `/v1/accounts/{key}` + 1).
    pub nonce: u64,
    /// The payload, as in a transaction's JSON (`type` and its fields).
    pub payload: Value,
    /// The chain's hash algorithm (`sha256`, `sm3`), for the answer's `tx_hash`; `null` or absent:
    /// no hash in the answer.
    #[serde(default)]
    pub hash_alg: Option<String>,
}

fn bad(message: impl Into<String>) -> OpError {
    OpError::new(ErrorCode::BadInput, message)
}

/// A payload of one of [`WEB_PAYLOADS`], parsed strictly: exactly `type` and the kind's one
/// field, whose errors name the field's path (`output.products[0].quantity`).
fn parse_payload(kind: &str, payload: &Value) -> Result<TxPayload, OpError> {
    let field = match kind {
        "set_shift_calendar" => "calendar",
        _ => "output",
    };
    let fields = payload.as_object().map_or(0, serde_json::Map::len);
    let inner = payload
        .get(field)
        .filter(|_| fields == 2)
        .ok_or_else(|| bad(format!("payload: a {kind} payload has exactly two fields, `type` and `{field}`")))?;
    let text = inner.to_string();
    let not_valid = |e: serde_json::Error| bad(format!("the {kind} payload is not valid: {field}: {e}"));
    Ok(match kind {
        "set_shift_calendar" => {
            TxPayload::SetShiftCalendar { calendar: trustmeter_client::strict::parse(&text).map_err(not_valid)? }
        }
        _ => TxPayload::RecordShiftOutput { output: trustmeter_client::strict::parse(&text).map_err(not_valid)? },
    })
}

/// The `sign_transaction` operation.
pub fn sign(input: SignTxInput) -> OpResult {
    let chain_id = ChainId::new(input.chain_id).map_err(|e| bad(format!("chain_id: {e}")))?;
    if input.nonce == 0 {
        return Err(bad("nonce: the first transaction of a key has nonce 1 (its last accepted nonce + 1)"));
    }
    let hash_alg = match input.hash_alg.as_deref() {
        None => None,
        Some("sha256") => Some(HashAlg::Sha256),
        Some("sm3") => Some(HashAlg::Sm3),
        Some(other) => {
            return Err(bad(format!(
                "hash_alg {:?}: the chain's hash algorithm is sha256 or sm3",
                other.chars().take(16).collect::<String>()
            )));
        }
    };
    let kind = match input.payload.get("type") {
        Some(Value::String(k)) => k.clone(),
        _ => return Err(bad("payload: a transaction payload names its kind in `type` (e.g. record_shift_output)")),
    };
    if !WEB_PAYLOADS.contains(&kind.as_str()) {
        return Err(OpError::new(
            ErrorCode::NotAllowed,
            format!(
                "a web page signs only {}; {:?} is signed with the command line (trustmeter tx)",
                WEB_PAYLOADS.join(" and "),
                kind.chars().take(64).collect::<String>()
            ),
        ));
    }
    let payload = parse_payload(&kind, &input.payload)?;
    // Nothing is signed that the chain's own check of the data refuses (names, sizes, overlaps).
    let checked = match &payload {
        TxPayload::SetShiftCalendar { calendar } => calendar.check(),
        TxPayload::RecordShiftOutput { output } => output.check(),
        _ => Err("not a kind a page signs".into()),
    };
    checked.map_err(|e| bad(format!("the {kind} payload: {e}")))?;
    let tx = with_key(input.handle, |key| {
        sign_tx(key, TxBody { chain_id: chain_id.clone(), sender: key.public_key(), nonce: input.nonce, payload })
    })?;
    // Everything the node checks of a transaction before its state (chain id, keys, the payload).
    tx.validate().map_err(|e| bad(format!("the {kind} payload: {e}")))?;
    let size = trustmeter_types::encode(&tx).len();
    if size > MAX_TX_BYTES {
        return Err(OpError::new(
            ErrorCode::TooLarge,
            format!("the transaction is {size} bytes; at most {MAX_TX_BYTES}"),
        ));
    }
    let transaction = serde_json::to_string(&tx)
        .map_err(|e| OpError::new(ErrorCode::Internal, format!("the transaction could not be written: {e}")))?;
    Ok(json!({
        "transaction": transaction,
        "kind": kind,
        "sender": tx.body.sender.to_text(),
        "nonce": tx.body.nonce,
        "chain_id": tx.body.chain_id.as_str(),
        "tx_hash": hash_alg.map(|alg| tx_hash(alg, &tx).to_hex()),
    }))
}
