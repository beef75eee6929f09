//! # trustmeter-webverify
//!
//! Trustmeter's offline verifier and request signer for web pages, compiled to WebAssembly
//! (`wasm32-unknown-unknown`): a dashboard checks a figure's proof in the browser against a
//! genesis its user trusts, trusting no server, and signs API requests with the user's account
//! key without sending the key anywhere — and signs the few transactions an enterprise enters on
//! its page (its shift calendar and shift output, [`transactions`]) with the code the CLI signs
//! with.
//!
//! It adds no cryptography of its own: verification is `trustmeter-client`'s ([`verify`],
//! [`verify_figure`], [`verify_carbon`], [`verify_receipt`], [`verify_state`]), request
//! signatures are `trustmeter-httpsig`'s, and key files are opened by `trustmeter-keystore`. This
//! crate turns them into operations with JSON input and JSON output ([`call`]) and exports them
//! through a plain C ABI (the [`abi`] module), so a page needs no generated glue: the ES module
//! `web/src/verifier.js` wraps it.
//!
//! Operations (details on each module):
//!
//! | op | input | output |
//! |---|---|---|
//! | `verify` | `{kind, bundle, genesis, tx_hash?}` | `{ok, kind, trusted_genesis, genesis, steps, summary, warnings, error}` ([`proofs`]) |
//! | `genesis_info` | `{genesis}` | `{ok, hash, fingerprint, chain_id, hash_alg, validators, …}` ([`genesis`]) |
//! | `open_key` | `{file, passphrase}` | `{ok, handle, public_key, alg, …}` ([`keys`]) |
//! | `sign_request` | `{handle, method, path, query, created, body?, body_base64?}` | `{ok, headers}` ([`keys`]) |
//! | `sign_transaction` | `{handle, chain_id, nonce, payload, hash_alg?}` | `{ok, transaction, kind, sender, nonce, chain_id, tx_hash}` ([`transactions`]) |
//! | `close_key` | `{handle}` | `{ok, closed}` ([`keys`]) |
//!
//! Every answer is a JSON object with `ok` (boolean) and `error`: `null`, or
//! `{code, step, message}` (`code` one of [`ErrorCode`]; `step` the failed verification step of a
//! `verify`, else `null`). No input makes an operation panic: malformed JSON, unknown fields,
//! wrong types and oversized inputs ([`MAX_INPUT_BYTES`], [`proofs::MAX_BUNDLE_BYTES`]) are
//! answered with an error. (Running out of memory is the exception a wasm module cannot catch:
//! `verifier.js` turns the trap into an error answer and starts a fresh instance.)
//!
//! [`verify`]: trustmeter_client::verify()
//! [`verify_figure`]: trustmeter_client::verify_figure
//! [`verify_carbon`]: trustmeter_client::verify_carbon
//! [`verify_receipt`]: trustmeter_client::verify_receipt
//! [`verify_state`]: trustmeter_client::verify_state

#![deny(missing_docs)]

pub mod abi;
pub mod genesis;
pub mod keys;
pub mod proofs;
mod time;
pub mod transactions;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Version of the ABI and of the operations' JSON (`tm_abi_version`); bumped on any incompatible
/// change, so `verifier.js` can refuse a module it does not speak.
pub const ABI_VERSION: u32 = 1;

/// Largest operation input accepted, bytes: room for a proof of [`proofs::MAX_BUNDLE_BYTES`]
/// whose JSON escaping doubles it, and a genesis.
pub const MAX_INPUT_BYTES: usize = 2 * proofs::MAX_BUNDLE_BYTES + genesis::MAX_GENESIS_BYTES;

/// Longest operation name accepted, bytes.
pub const MAX_OP_LEN: usize = 64;

/// What kind of error an answer reports (`error.code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The operation name is not one of this module's.
    UnknownOp,
    /// The input is not the operation's JSON (malformed, unknown or missing field, wrong type).
    BadInput,
    /// The input, or a part of it, is larger than accepted.
    TooLarge,
    /// The proof did not verify: `step` names the failed step.
    VerifyFailed,
    /// A genesis document is unusable.
    BadGenesis,
    /// A key file could not be opened (malformed, wrong passphrase, tampered).
    KeyError,
    /// No open key has this handle (never opened, or closed).
    NoSuchKey,
    /// Every key slot is in use; close a key first.
    KeyTableFull,
    /// The operation is not allowed here: a transaction kind a page may not sign
    /// ([`transactions::WEB_PAYLOADS`]).
    NotAllowed,
    /// A bug: the operation panicked (native builds catch it; see the crate documentation).
    Internal,
}

/// An operation's failure: a code, the verification step it concerns (if any) and a sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpError {
    /// What kind of error.
    pub code: ErrorCode,
    /// The verification step that failed (`verify` only).
    pub step: Option<String>,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl OpError {
    /// An error without a step.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> OpError {
        OpError { code, step: None, message: message.into() }
    }
}

/// The answer to an operation before it is written out: its fields (merged into the answer
/// object next to `ok` and `error`), or an error.
pub type OpResult = Result<Value, OpError>;

/// Runs operation `op` on `input` (JSON, UTF-8) and returns the answer, a JSON object. This is
/// exactly what the exported `tm_call` runs; it never panics across the boundary on a native
/// build (a panic becomes an [`ErrorCode::Internal`] answer), and no input is known to make it
/// panic at all.
pub fn call(op: &[u8], input: &[u8]) -> String {
    let answer = std::panic::catch_unwind(|| dispatch(op, input)).unwrap_or_else(|_| {
        Err(OpError::new(ErrorCode::Internal, "the operation panicked (a bug: please report it with the input)"))
    });
    finish(answer)
}

/// Writes an answer: `{"ok": true, "error": null, …fields}` or
/// `{"ok": false, "error": {…}, …fields}` (a failed `verify` keeps its steps).
fn finish(answer: OpResult) -> String {
    let mut object = match answer {
        Ok(Value::Object(fields)) => {
            let mut o = serde_json::Map::new();
            o.insert("ok".into(), Value::Bool(fields.get("error").is_none_or(Value::is_null)));
            o.insert("error".into(), Value::Null);
            o.extend(fields);
            o
        }
        Ok(other) => {
            let mut o = serde_json::Map::new();
            o.insert("ok".into(), Value::Bool(true));
            o.insert("error".into(), Value::Null);
            o.insert("value".into(), other);
            o
        }
        Err(e) => {
            let mut o = serde_json::Map::new();
            o.insert("ok".into(), Value::Bool(false));
            o.insert("error".into(), json!(e));
            o
        }
    };
    // `ok` always agrees with `error`.
    if !object.get("error").is_none_or(Value::is_null) {
        object.insert("ok".into(), Value::Bool(false));
    }
    Value::Object(object).to_string()
}

fn dispatch(op: &[u8], input: &[u8]) -> OpResult {
    if op.len() > MAX_OP_LEN {
        return Err(OpError::new(ErrorCode::UnknownOp, format!("operation names are at most {MAX_OP_LEN} bytes")));
    }
    if input.len() > MAX_INPUT_BYTES {
        return Err(OpError::new(
            ErrorCode::TooLarge,
            format!("the input is {} bytes; at most {MAX_INPUT_BYTES} are accepted", input.len()),
        ));
    }
    let op =
        std::str::from_utf8(op).map_err(|_| OpError::new(ErrorCode::UnknownOp, "the operation name is not UTF-8"))?;
    match op {
        "verify" => proofs::verify(parse(input)?),
        "genesis_info" => genesis::info(parse(input)?),
        "open_key" => keys::open(parse(input)?),
        "sign_request" => keys::sign(parse(input)?),
        "close_key" => keys::close(parse(input)?),
        "sign_transaction" => {
            if input.len() > transactions::MAX_PAYLOAD_BYTES {
                return Err(OpError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "a transaction to sign is at most {} bytes of input, not {}",
                        transactions::MAX_PAYLOAD_BYTES,
                        input.len()
                    ),
                ));
            }
            transactions::sign(parse(input)?)
        }
        other => Err(OpError::new(
            ErrorCode::UnknownOp,
            format!(
                "unknown operation {:?}; this module knows verify, genesis_info, open_key, sign_request, sign_transaction and close_key",
                other.chars().take(MAX_OP_LEN).collect::<String>()
            ),
        )),
    }
}

/// Parses an operation's input strictly (its types refuse unknown fields).
fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, OpError> {
    serde_json::from_slice(input).map_err(|e| OpError::new(ErrorCode::BadInput, format!("the input is not valid: {e}")))
}
