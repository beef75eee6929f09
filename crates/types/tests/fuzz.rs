//! Bounded fuzzing of the decoders that read outside input into this crate's types: the canonical
//! (borsh) decoder [`decode`] of `Transaction` (HTTP API, gossip), `Block` (followers, state sync,
//! consensus) and `Genesis`, and the JSON (serde) forms of `Transaction` (the HTTP API's JSON
//! body) and `Genesis` (genesis files, proof bundles).
//!
//! Inputs are arbitrary bytes, and valid encodings built with the crate's constructors (every
//! transaction kind, Ed25519 and SM2 senders, blocks, a genesis) with random edits: bit flips,
//! bytes set, truncations, insertions, removals, duplicated ranges and little-endian length
//! prefixes set to edge values; for JSON also structural edits (a field removed, renamed or
//! added, a value replaced by a huge number or another type, deep nesting) and text edits.
//!
//! Properties: decoding never panics; the canonical decoder gives an error or a value that
//! re-encodes to exactly the input (the encoding is canonical); a value parsed from JSON prints
//! to JSON that parses back to it, and its canonical encoding decodes back to it or is refused as
//! `Invalid` (never `Malformed`: a value always has a well-formed encoding).
//!
//! Bounded for `cargo test` (a few seconds in the debug build) with a fixed seed, so a failure
//! replays as it is; the README's long run (Testing) multiplies every target's cases
//! (`FUZZ_SCALE`) and varies the seeds (`FUZZ_SEED`; the same value replays its failures).

use borsh::{BorshDeserialize, BorshSerialize};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;
use std::sync::OnceLock;
use trustmeter_fuzzkit::{EDGE_U64, JsonEdit, TextEdit, apply_json_edit, apply_text_edit, byte_edits, edited};

use crate::samples::*;
use trustmeter_types::codec::Validate;
use trustmeter_types::limits::{MAX_BLOCK_BYTES, MAX_TX_BYTES};
use trustmeter_types::{Block, DecodeError, Genesis, KeyScheme, Transaction, decode, encode};

/// The fixed seed of every property here (a failure in CI replays locally as it is).
const SEED: u64 = 0x7472_7573_746d_6574;

/// Bound on a genesis document's encoding for these tests (the node reads genesis files as JSON).
const MAX_GENESIS_BYTES: usize = 1 << 20;

fn fuzz_config(cases: u32) -> ProptestConfig {
    trustmeter_fuzzkit::config(cases, SEED)
}

/// Valid values and their encodings, made once per test binary.
struct Corpus {
    txs: Vec<Transaction>,
    tx_bytes: Vec<Vec<u8>>,
    block_bytes: Vec<Vec<u8>>,
    genesis_bytes: Vec<u8>,
    tx_json: Vec<String>,
    genesis_json: Vec<String>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut txs = Vec::new();
        for (scheme, seed) in [(KeyScheme::Ed25519, 3), (KeyScheme::Sm2, 4)] {
            let sender = key(scheme, seed);
            for (nonce, payload) in payloads(scheme).into_iter().enumerate() {
                txs.push(transaction(&sender, nonce as u64 + 1, payload));
            }
        }
        let tx_bytes: Vec<Vec<u8>> = txs.iter().map(encode).collect();
        for (t, b) in txs.iter().zip(&tx_bytes) {
            assert_eq!(decode::<Transaction>(b, MAX_TX_BYTES).as_ref(), Ok(t), "the corpus decodes");
        }
        let blocks = [block(vec![]), block(txs[..4].to_vec()), block(txs.clone())];
        let block_bytes: Vec<Vec<u8>> = blocks.iter().map(encode).collect();
        for b in &block_bytes {
            decode::<Block>(b, MAX_BLOCK_BYTES).expect("the corpus decodes");
        }
        let g = genesis();
        let genesis_bytes = encode(&g);
        decode::<Genesis>(&genesis_bytes, MAX_GENESIS_BYTES).expect("the corpus decodes");
        let tx_json = txs
            .iter()
            .flat_map(|t| [serde_json::to_string(t), serde_json::to_string_pretty(t)])
            .map(|r| r.expect("a transaction serializes"))
            .collect();
        let genesis_json = [serde_json::to_string(&g), serde_json::to_string_pretty(&g)]
            .into_iter()
            .map(|r| r.expect("a genesis serializes"))
            .collect();
        Corpus { txs, tx_bytes, block_bytes, genesis_bytes, tx_json, genesis_json }
    })
}

// ---------------------------------------------------------------------------------------------
// JSON edits
// ---------------------------------------------------------------------------------------------

/// Replacement values: other types, edge numbers, odd strings.
fn json_value() -> impl Strategy<Value = Value> {
    let scalars = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(&EDGE_U64[..]).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0.5f64, -0.0, 1e308, -1e308, f64::MIN_POSITIVE]).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            " ",
            "x",
            "sha256",
            "sm3",
            "ed25519",
            "ed25519:00",
            "sm2:02",
            "submit_readings",
            "register_meter",
            "kilowatt_hour",
            "电表",
            "\u{0}",
            "91430100MA4L00001X-EM1",
        ])
        .prop_map(|s| Value::String(s.into())),
        "[0-9a-fA-F]{62,66}".prop_map(Value::String),
        ".{0,300}".prop_map(Value::String),
    ];
    scalars.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,12}", inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    trustmeter_fuzzkit::json_edit(json_value().boxed())
}

/// Text inserted into documents or replacing numbers in them.
const JSON_TOKENS: [&str; 16] = [
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "0.5",
    "-0",
    "1e2",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "{\"a\":1,\"a\":2}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "null",
    ",",
    "\"",
    "}",
];

fn text_edit() -> impl Strategy<Value = TextEdit> {
    trustmeter_fuzzkit::text_edit(&JSON_TOKENS)
}

/// A JSON document from `original` with structural edits, then text edits.
fn edited_json(original: &str, structural: &[JsonEdit], textual: &[TextEdit]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_str(original).expect("the corpus is JSON");
    for e in structural {
        apply_json_edit(&mut doc, e);
    }
    let mut text = if structural.len().is_multiple_of(2) {
        serde_json::to_vec_pretty(&doc).expect("a value prints")
    } else {
        serde_json::to_vec(&doc).expect("a value prints")
    };
    for e in textual {
        apply_text_edit(&mut text, e);
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// `decode` gives an error, or a value whose encoding is exactly `bytes`.
fn decodes_canonically<T>(bytes: &[u8], max: usize) -> Result<Option<T>, TestCaseError>
where
    T: BorshSerialize + BorshDeserialize + Validate + Debug,
{
    match decode::<T>(bytes, max) {
        Ok(value) => {
            prop_assert!(encode(&value) == bytes, "{value:?} decoded from bytes it does not encode to");
            Ok(Some(value))
        }
        Err(DecodeError::TooLong { len, max: m }) => {
            prop_assert!(len == bytes.len() && len > m && m == max);
            Ok(None)
        }
        Err(DecodeError::Malformed(m) | DecodeError::Invalid(m)) => {
            prop_assert!(!m.is_empty(), "an error says what is wrong");
            Ok(None)
        }
    }
}

/// A value that decoded has a JSON form that parses back to it.
fn json_round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(value).expect("a value prints as JSON");
    let back: T = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

/// JSON parsing gives an error, or a value that prints to JSON that parses back to it and whose
/// canonical encoding decodes back to it or is refused as `Invalid`.
fn parses_consistently<T>(bytes: &[u8], max: usize) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + BorshSerialize + BorshDeserialize + Validate + PartialEq + Debug,
{
    let Ok(value) = serde_json::from_slice::<T>(bytes) else { return Ok(()) };
    json_round_trips(&value)?;
    let encoded = encode(&value);
    if encoded.len() > max {
        return Ok(());
    }
    match decode::<T>(&encoded, max) {
        Ok(back) => prop_assert_eq!(back, value),
        Err(DecodeError::Invalid(_)) => {}
        Err(other) => prop_assert!(false, "the encoding of a parsed value does not decode: {other}"),
    }
    Ok(())
}

fn corpus_index() -> impl Strategy<Value = Index> {
    any::<Index>()
}

proptest! {
    #![proptest_config(fuzz_config(5_000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(bytes in prop::collection::vec(any::<u8>(), 0..4_096)) {
        decodes_canonically::<Transaction>(&bytes, MAX_TX_BYTES)?;
        decodes_canonically::<Block>(&bytes, MAX_BLOCK_BYTES)?;
        decodes_canonically::<Genesis>(&bytes, MAX_GENESIS_BYTES)?;
        // Bounds below the input's length are refused before anything is read.
        if !bytes.is_empty() {
            let short = decode::<Transaction>(&bytes, bytes.len() - 1);
            prop_assert!(matches!(short, Err(DecodeError::TooLong { .. })), "{short:?}");
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(20_000))]

    #[test]
    fn edited_transactions_decode_canonically(which in corpus_index(), edits in byte_edits()) {
        let c = corpus();
        let bytes = edited(&c.tx_bytes[which.index(c.tx_bytes.len())], &edits);
        if let Some(tx) = decodes_canonically::<Transaction>(&bytes, MAX_TX_BYTES)? {
            json_round_trips(&tx)?;
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(10_000))]

    #[test]
    fn edited_blocks_decode_canonically(which in corpus_index(), edits in byte_edits()) {
        let c = corpus();
        let bytes = edited(&c.block_bytes[which.index(c.block_bytes.len())], &edits);
        decodes_canonically::<Block>(&bytes, MAX_BLOCK_BYTES)?;
    }

    #[test]
    fn edited_genesis_documents_decode_canonically(edits in byte_edits()) {
        let bytes = edited(&corpus().genesis_bytes, &edits);
        if let Some(g) = decodes_canonically::<Genesis>(&bytes, MAX_GENESIS_BYTES)? {
            json_round_trips(&g)?;
        }
    }
}

proptest! {
    #![proptest_config(fuzz_config(5_000))]

    #[test]
    fn arbitrary_json_text_never_panics(text in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2_048),
        "[\\[\\]{}\":,0-9a-z_ -]{0,600}".prop_map(String::into_bytes),
    ]) {
        parses_consistently::<Transaction>(&text, MAX_TX_BYTES)?;
        parses_consistently::<Genesis>(&text, MAX_GENESIS_BYTES)?;
    }

    #[test]
    fn edited_transaction_json_parses_consistently(
        which in corpus_index(),
        structural in prop::collection::vec(json_edit(), 0..4),
        textual in prop::collection::vec(text_edit(), 0..3),
    ) {
        let c = corpus();
        let text = edited_json(&c.tx_json[which.index(c.tx_json.len())], &structural, &textual);
        parses_consistently::<Transaction>(&text, MAX_TX_BYTES)?;
    }
}

proptest! {
    #![proptest_config(fuzz_config(3_000))]

    #[test]
    fn edited_genesis_json_parses_consistently(
        which in corpus_index(),
        structural in prop::collection::vec(json_edit(), 0..4),
        textual in prop::collection::vec(text_edit(), 0..3),
    ) {
        let c = corpus();
        let text = edited_json(&c.genesis_json[which.index(c.genesis_json.len())], &structural, &textual);
        parses_consistently::<Genesis>(&text, MAX_GENESIS_BYTES)?;
    }
}

/// The corpus covers every transaction kind (so the edits above reach every payload's decoder).
#[test]
fn the_corpus_has_every_transaction_kind() {
    let kinds: std::collections::BTreeSet<&str> = corpus().txs.iter().map(|t| t.body.payload.kind()).collect();
    assert_eq!(kinds.len(), 30, "{kinds:?}");
}
