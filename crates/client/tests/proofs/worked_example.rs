//! The worked example of `docs/proof-format.md` §9, generated from the deterministic example chain
//! ([`super::example`]) and compared byte for byte with the document.
//!
//! To regenerate the example after a format change, run
//!
//! ```text
//! TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-client --test proofs worked_example
//! ```
//!
//! which rewrites the text between the `BEGIN GENERATED worked-example` and `END GENERATED` markers
//! of the document; without the variable the test fails on any difference.
//!
//! The example is a `trustmeter-proof/v4` bundle (of an epoch-0 block: no epoch links). Its state parts are also made here, apart from
//! the chain: the post-state entries of the example block are put in a registry and an activity
//! tree of the `jmt` crate (§5.2, hashing with another SHA-256 implementation), and the test
//! checks that the header the chain made commits to their roots and that `ProofBundle::build`
//! makes exactly the bundle assembled from them.

use super::example::{SIGNERS, chain, finalize};
use super::independent;
use super::jmt_store::{Sha256Hasher, Tree};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use trustmeter_crypto::{HashAlg, block_digest, smt};
use trustmeter_state::economy;
use trustmeter_state::state::StateValue;
use trustmeter_state::{StateEntry, StateKey};
use trustmeter_types::{BlockHeader, DeviceId, Genesis, Hash32, SignedReading, encode};

/// The roots of the two state trees.
#[derive(Serialize)]
struct StateRoots {
    registry: Hash32,
    activity: Hash32,
}

/// A v2 state proof.
#[derive(Serialize)]
struct SmtProof {
    entry: StateEntry,
    siblings: Vec<Hash32>,
}

/// A v4 bundle, fields in the document's order.
#[derive(Serialize)]
struct BundleV4<'a> {
    version: &'static str,
    genesis: &'a Genesis,
    header: BlockHeader,
    reading: SignedReading,
    index: u64,
    tree_size: u64,
    audit_path: Vec<Hash32>,
    gateway: DeviceId,
    state_roots: StateRoots,
    meter_proof: SmtProof,
    gateway_proof: SmtProof,
    descendants: Vec<BlockHeader>,
    finalization: String,
    epochs: Vec<()>,
}

/// The other leaf where an absent key's path ends.
#[derive(Serialize)]
struct OtherLeaf {
    key_hash: Hash32,
    value_hash: Hash32,
}

/// An absence proof (§11).
#[derive(Serialize)]
struct Absence {
    key: StateKey,
    leaf: Option<OtherLeaf>,
    siblings: Vec<Hash32>,
}

/// §4.2: whether an entry of this kind is in the registry tree.
fn in_registry(k: &StateKey) -> bool {
    matches!(
        k,
        StateKey::Organisation(_)
            | StateKey::Account(_)
            | StateKey::Gateway(_)
            | StateKey::Meter(_)
            | StateKey::Policy(_)
            | StateKey::Membership(_)
            | StateKey::Proposal(_)
            | StateKey::Regulators
            | StateKey::Grant(..)
            | StateKey::Disclosure(_)
            | StateKey::Methodology(..)
            | StateKey::Published(_)
            | StateKey::GrantReceived(..)
            | StateKey::Validator(_)
            | StateKey::ValidatorSet(_)
            | StateKey::RewardSchedule(_)
    )
}

/// Every entry of the example block's post-state, from the state's public accessors.
fn entries() -> Vec<(StateKey, StateValue)> {
    let c = chain();
    let s = c.state();
    let mut out: Vec<(StateKey, StateValue)> = Vec::new();
    for o in s.organisations() {
        out.push((StateKey::Organisation(o.id.clone()), StateValue::Organisation(o.clone())));
        let m = s.membership(&o.id).expect("every organisation has a membership record");
        out.push((StateKey::Membership(o.id.clone()), StateValue::Membership(m)));
    }
    out.push((StateKey::Regulators, StateValue::Regulators(s.regulators())));
    for a in &c.genesis().accounts {
        let account = s.account(&a.public_key).expect("a genesis account");
        out.push((StateKey::Account(a.public_key.clone()), StateValue::Account(account)));
    }
    let senders = c
        .genesis()
        .accounts
        .iter()
        .map(|a| a.public_key.clone())
        .chain([200u8, 201].map(|n| super::example::device_key(n).public_key()));
    for k in senders {
        if s.nonce(&k) > 0 {
            out.push((StateKey::Nonce(k.clone()), StateValue::Nonce(s.nonce(&k))));
        }
    }
    for g in s.gateways() {
        out.push((StateKey::Gateway(g.id.clone()), StateValue::Gateway(g.clone())));
        for n in 0.. {
            let Some(c) = s.progress_chunk(&g.id, n) else { break };
            out.push((StateKey::Progress(g.id.clone(), n), StateValue::Progress(c)));
        }
    }
    for m in s.meters() {
        out.push((StateKey::Meter(m.id.clone()), StateValue::Meter(m.clone())));
    }
    for p in s.policies() {
        out.push((StateKey::Policy(p.version), StateValue::Policy(p.clone())));
    }
    for m in s.methodologies(None, 1_000) {
        out.push((StateKey::Methodology(m.id.clone(), m.version), StateValue::Methodology(m)));
    }
    for o in s.organisations() {
        let mut months = std::collections::BTreeSet::new();
        for (k, d) in s.daily_range(&o.id, i32::MIN, i32::MAX) {
            let (y, m) = trustmeter_energy::calendar::month_of_day(k.day);
            months.insert(y as u32 * 100 + m);
            out.push((StateKey::Daily(k.clone()), StateValue::Daily(d.clone())));
        }
        // Each month with energy figures has its month sums (MonthTotals) and the chain's carbon
        // results, and its year their sums.
        for &month in &months {
            let t = s.month_totals(&o.id, month).expect("a month with figures has its month sums");
            out.push((StateKey::MonthTotals(o.id.clone(), month), StateValue::MonthTotals(t)));
        }
        let mut years = std::collections::BTreeSet::new();
        for month in months {
            let r = s.carbon_result(&o.id, month).expect("a month with figures has carbon results");
            out.push((StateKey::CarbonResult(o.id.clone(), month), StateValue::CarbonResult(r)));
            years.insert(month / 100);
        }
        for year in years {
            let y = s.carbon_year(&o.id, year).expect("a year with month results has its record");
            out.push((StateKey::CarbonYear(o.id.clone(), year), StateValue::CarbonYear(y)));
        }
        // The token: the organisation's account, stakes and unbonding entries.
        if let Some(v) = s.get(&StateKey::Token(o.id.clone())) {
            out.push((StateKey::Token(o.id.clone()), v));
        }
        for (k, d) in economy::delegations_of(s, &o.id) {
            out.push((StateKey::Delegation(o.id.clone(), k), StateValue::Delegation(d)));
        }
        for (k, e, u) in economy::unbondings_of(s, &o.id) {
            out.push((StateKey::Unbonding(o.id.clone(), k, e), StateValue::Unbonding(u)));
        }
    }
    out.push((StateKey::Economy, StateValue::Economy(economy::economy(s))));
    for (k, v) in economy::validators(s) {
        out.push((StateKey::Validator(k), StateValue::Validator(v)));
    }
    for e in 0.. {
        let Some(set) = economy::validator_set(s, e) else { break };
        out.push((StateKey::ValidatorSet(e), StateValue::ValidatorSet(set)));
    }
    for e in 0.. {
        let Some(a) = economy::epoch_activity(s, e) else { break };
        out.push((StateKey::EpochActivity(e), StateValue::EpochActivity(a)));
    }
    for r in economy::reward_schedules(s) {
        out.push((StateKey::RewardSchedule(r.version), StateValue::RewardSchedule(r)));
    }
    for e in 0..=s.params.economy.staking.epoch_of(s.height) {
        if let Some(v) = s.get(&StateKey::EpochRewards(e)) {
            out.push((StateKey::EpochRewards(e), v));
        }
    }
    for o in s.organisations() {
        for (e, p) in economy::points_of(s, &o.id) {
            out.push((StateKey::Points(o.id.clone(), e), StateValue::Points(p)));
        }
    }
    for o in s.organisations() {
        for c in s.shift_calendars(&o.id) {
            out.push((StateKey::ShiftCalendar(o.id.clone(), c.calendar.effective_from), StateValue::ShiftCalendar(c)));
        }
        for (day, shift, r) in s.shift_outputs(&o.id, 0, u32::MAX, usize::MAX) {
            out.push((StateKey::ShiftOutput(o.id.clone(), day, shift), StateValue::ShiftOutput(r)));
        }
    }
    assert_eq!(out.len() as u64, s.len(), "every entry of the state is enumerated");
    out
}

/// The example's trees and bundle.
struct Example {
    bundle: String,
    absence: String,
    registry: Tree<Sha256Hasher>,
    header: BlockHeader,
    registry_root: Hash32,
    activity_root: Hash32,
    finalization: Vec<u8>,
}

const ALG: HashAlg = HashAlg::Sha256;

fn key_hash(k: &StateKey) -> Hash32 {
    smt::key_hash(ALG, &encode(k))
}

/// The v3 bundle of the example block's first reading (the meter-signed one).
fn v3_bundle() -> Example {
    let c = chain();
    assert_eq!(c.genesis().params.hash, ALG);
    let (mut registry, mut activity) = (Tree::<Sha256Hasher>::default(), Tree::<Sha256Hasher>::default());
    let (reg, act): (Vec<_>, Vec<_>) = entries().into_iter().partition(|(k, _)| in_registry(k));
    let put = |t: &mut Tree<Sha256Hasher>, es: Vec<(StateKey, StateValue)>| {
        Hash32(t.put(es.iter().map(|(k, v)| (key_hash(k).0, Some(encode(v)))).collect()))
    };
    let registry_root = put(&mut registry, reg);
    let activity_root = put(&mut activity, act);
    let mut header = c.block.header.clone();
    header.state_root = smt::state_root(ALG, &registry_root, &activity_root);
    let finalization = commonware_codec::Encode::encode(&finalize(&c.devnet, &header, &SIGNERS)).to_vec();

    let v1 = c.bundle(0);
    let prove = |entry: StateEntry| {
        let (value, p) = registry.prove(key_hash(&entry.key).0, 0);
        assert_eq!(value, Some(encode(&entry.value)));
        SmtProof { entry, siblings: p.siblings.into_iter().map(Hash32).collect() }
    };
    let bundle = BundleV4 {
        version: "trustmeter-proof/v4",
        genesis: c.genesis(),
        header: header.clone(),
        reading: v1.reading.clone(),
        index: v1.index,
        tree_size: v1.tree_size,
        audit_path: v1.audit_path.clone(),
        gateway: v1.gateway.clone(),
        state_roots: StateRoots { registry: registry_root, activity: activity_root },
        meter_proof: prove(v1.meter_proof.entry.clone()),
        gateway_proof: prove(v1.gateway_proof.entry.clone()),
        descendants: Vec::new(),
        finalization: hex::encode(&finalization),
        epochs: Vec::new(),
    };
    let absent = StateKey::Meter(DeviceId::new("91430100700001000N-EM99").unwrap());
    let (value, p) = registry.prove(key_hash(&absent).0, 0);
    assert_eq!(value, None);
    let absence = Absence {
        key: absent,
        leaf: p.leaf.map(|(k, v)| OtherLeaf { key_hash: Hash32(k), value_hash: Hash32(v) }),
        siblings: p.siblings.into_iter().map(Hash32).collect(),
    };
    // The bundle the chain itself builds is this one, byte for byte: our state trees and the
    // `jmt` crate (with another SHA-256) agree on both roots and on every sibling.
    let bundle = serde_json::to_string_pretty(&bundle).unwrap();
    assert_eq!(header, c.block.header, "the real header commits to the jmt crate's roots");
    assert_eq!(c.bundle(0).to_json(), bundle, "ProofBundle::build makes the documented bundle");
    let real_absence = c.state().prove_absent(&absence.key).expect("the key is absent");
    assert_eq!(real_absence.leaf, absence.leaf.as_ref().map(|l| (l.key_hash, l.value_hash)));
    assert_eq!(real_absence.siblings, absence.siblings);
    Example {
        bundle,
        absence: serde_json::to_string_pretty(&absence).unwrap(),
        registry,
        header,
        registry_root,
        activity_root,
        finalization,
    }
}

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = bytes[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// The generated part of §9, Markdown.
fn markdown(e: &Example) -> String {
    let c = chain();
    let v1 = c.bundle(0);
    let r = &v1.reading.reading;
    let mut m = String::new();
    let w = &mut m;
    writeln!(w, "The bundle of the reading of `{}` (signed by the meter's own key):\n", r.meter).unwrap();
    writeln!(w, "```json\n{}\n```\n", e.bundle).unwrap();

    let enc = encode(r);
    let id_len = 4 + r.meter.as_str().len();
    writeln!(
        w,
        "The reading's signing payload is `\"trustmeter/reading/v1\"` ‖ `{}` `\"{}\"` ‖ `{}` (seq) ‖ `{}` \
         ({} ms) ‖ `{}` ({}) ‖ `{}` (kWh) ‖ `{}` (online) ‖ `{}` (clock not suspect).\n",
        hx(&enc[..4]),
        r.meter,
        hx(&enc[id_len..id_len + 8]),
        hx(&enc[id_len + 8..id_len + 16]),
        r.timestamp_ms,
        hx(&enc[id_len + 16..id_len + 24]),
        r.value.micros(),
        hx(&enc[id_len + 24..id_len + 25]),
        hx(&enc[id_len + 25..id_len + 26]),
        hx(&enc[id_len + 26..id_len + 27]),
    )
    .unwrap();

    // The meter's state proof, step by step.
    let entry = &v1.meter_proof.entry;
    let key = encode(&entry.key);
    let kh = key_hash(&entry.key);
    let value = encode(&entry.value);
    let vh = smt::value_hash(ALG, &value);
    let (_, p) = e.registry.prove(kh.0, 0);
    let bits: String = (0..p.siblings.len())
        .rev()
        .map(|d| if smt::bit(&kh, d) { '1' } else { '0' })
        .collect::<Vec<_>>()
        .iter()
        .collect();
    writeln!(w, "The meter's state proof (step d), computed with SHA-256:\n").unwrap();
    writeln!(w, "```").unwrap();
    writeln!(w, "borsh(key)   = {} ({} bytes: tag 04, then the id as a String)", hx(&key), key.len()).unwrap();
    writeln!(w, "key_hash     = H(\"trustmeter/state-key/v2\" ‖ borsh(key))").unwrap();
    writeln!(w, "             = {kh}").unwrap();
    writeln!(w, "value_hash   = H(borsh(value)) = {vh} (borsh(value): {} bytes)", value.len()).unwrap();
    writeln!(w, "leaf         = H(\"JMT::LeafNode\" ‖ key_hash ‖ value_hash)").unwrap();
    writeln!(w, "             = {}", smt::leaf_hash(ALG, &kh, &vh)).unwrap();
    writeln!(
        w,
        "path         = {} siblings; bits {}..0 of key_hash (bottom-up) = {bits}",
        p.siblings.len(),
        p.siblings.len().saturating_sub(1)
    )
    .unwrap();
    writeln!(w, "registry     = {} (the root the path hashes up to)", e.registry_root).unwrap();
    writeln!(w, "state_root   = H(\"trustmeter/state-root/v2\" ‖ registry ‖ activity)").unwrap();
    writeln!(w, "             = {} = header.state_root", e.header.state_root).unwrap();
    writeln!(w, "```\n").unwrap();

    // The certificate, decoded.
    let cert = &e.finalization;
    let mut pos = 0;
    let epoch = varint(cert, &mut pos);
    let view = varint(cert, &mut pos);
    let parent = varint(cert, &mut pos);
    let round_bytes = hx(&cert[..pos]);
    let payload = &cert[pos..pos + 32];
    pos += 32;
    let proposal_len = pos;
    let bits_len = u64::from_be_bytes(cert[pos..pos + 8].try_into().unwrap()) as usize;
    let bitmap = &cert[pos + 8..pos + 8 + bits_len.div_ceil(8)];
    pos += 8 + bits_len.div_ceil(8);
    let signers: Vec<usize> = (0..bits_len).filter(|i| bitmap[i / 8] >> (i % 8) & 1 == 1).collect();
    let count_start = pos;
    let count = varint(cert, &mut pos) as usize;
    assert_eq!(cert.len(), pos + 64 * count);
    assert_eq!(payload, block_digest(ALG, &e.header).0);
    let mut keys: Vec<(Vec<u8>, String)> =
        c.genesis().validators.iter().map(|v| (hex::decode(&v.consensus_key).unwrap(), v.name.clone())).collect();
    keys.sort();
    let names: Vec<String> = signers.iter().map(|i| format!("K[{i}]")).collect();
    writeln!(w, "The {}-byte certificate decodes as (§6):\n", cert.len()).unwrap();
    writeln!(w, "```").unwrap();
    let row = |w: &mut String, bytes: &str, what: String| {
        if bytes.len() < 24 {
            writeln!(w, "{bytes:<24}{what}").unwrap();
        } else {
            writeln!(w, "{bytes}\n{:<24}{what}", "").unwrap();
        }
    };
    row(w, &round_bytes, format!("epoch {epoch}, view {view}, parent view {parent} (varints)"));
    row(w, &hx(payload), "payload: the block digest H(\"trustmeter/block/v1\" ‖ borsh(header))".into());
    row(w, &hx(&cert[proposal_len..proposal_len + 8]), format!("bitmap of {bits_len} bits (u64 big-endian)"));
    let who = signers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
    row(w, &hx(bitmap), format!("{:#010b}: signers {who} of the sorted keys", bitmap[0]));
    row(w, &hx(&cert[count_start..pos]), format!("{count} signatures (quorum for n = 4 is 3)"));
    row(w, &format!("{count} × 64 bytes"), format!("the signatures of {}, in that order", names.join(", ")));
    writeln!(w, "```\n").unwrap();
    let sorted: Vec<String> =
        keys.iter().enumerate().map(|(i, (k, n))| format!("`K[{i}] = {}…` ({n})", hx(&k[..4]))).collect();
    let ns = format!("trustmeter/consensus/{}_FINALIZE", c.genesis().chain_id);
    writeln!(
        w,
        "Sorted keys: {}. Each signed `{:02x}` ‖ `\"{ns}\"` ‖ `{}` (the proposal; `0x{:02x}` = {}, the namespace length).\n",
        sorted.join(", "),
        ns.len(),
        hx(&cert[..proposal_len]),
        ns.len(),
        ns.len()
    )
    .unwrap();

    writeln!(
        w,
        "An absence proof (§11): no meter `91430100700001000N-EM99` was registered after block {}; checked against \
         `state_roots.registry` above:\n",
        e.header.height
    )
    .unwrap();
    write!(w, "```json\n{}\n```\n", e.absence).unwrap();
    m
}

const BEGIN: &str = "<!-- BEGIN GENERATED worked-example -->\n";
const END: &str = "<!-- END GENERATED worked-example -->";

/// The first ```json block of a Markdown text.
fn first_json(text: &str) -> &str {
    let start = text.find("```json\n").expect("a JSON block") + "```json\n".len();
    let end = start + text[start..].find("\n```").expect("the end of the JSON block");
    &text[start..end]
}

#[test]
fn worked_example_in_the_document_is_generated_and_verifies() {
    let e = v3_bundle();
    let generated = markdown(&e);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/proof-format.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find(BEGIN).expect("the begin marker") + BEGIN.len();
    let end = doc.find(END).expect("the end marker");
    if std::env::var_os("TRUSTMETER_REGENERATE").is_some() {
        std::fs::write(&path, format!("{}{generated}{}", &doc[..start], &doc[end..])).unwrap();
    }
    let doc = std::fs::read_to_string(&path).unwrap();
    let current = &doc[start..doc.find(END).unwrap()];
    if current != generated {
        let line = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(current.lines().count().min(generated.lines().count()));
        panic!(
            "the worked example in {} is not the generated one (first difference at generated line {}); \
             regenerate it with TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-client --test proofs worked_example",
            path.display(),
            line + 1
        );
    }

    // The document's example, as printed, verifies: with the independent checker (every step,
    // from the document alone) and its state parts with `trustmeter_crypto::smt`.
    let c = chain();
    let bundle: Value = serde_json::from_str(first_json(current)).unwrap();
    let trusted = serde_json::to_value(c.genesis()).unwrap();
    assert_eq!(independent::check(&bundle, &trusted), Ok(3));
    for p in ["meter_proof", "gateway_proof"] {
        let proof = &bundle[p];
        let entry: StateEntry = serde_json::from_value(proof["entry"].clone()).unwrap();
        let siblings: Vec<Hash32> = serde_json::from_value(proof["siblings"].clone()).unwrap();
        assert!(smt::verify_inclusion(
            ALG,
            &e.registry_root,
            &key_hash(&entry.key),
            &smt::value_hash(ALG, &encode(&entry.value)),
            &siblings
        ));
    }
    let absence_text = first_json(&current[current.find("An absence proof").unwrap()..]);
    let absence: Value = serde_json::from_str(absence_text).unwrap();
    independent::check_absence("sha256", &absence, &bundle["state_roots"]).unwrap();
    let meter_key = &bundle["meter_proof"]["entry"]["key"];
    let mut present = absence.clone();
    present["key"] = meter_key.clone();
    assert!(independent::check_absence("sha256", &present, &bundle["state_roots"]).is_err());
    assert_eq!(bundle["state_roots"]["activity"].as_str().unwrap(), e.activity_root.to_hex());
}

/// The independent checker refuses the example with any part of the v2 state proofs changed.
#[test]
fn tampered_v2_examples_are_refused() {
    let e = v3_bundle();
    let bundle: Value = serde_json::from_str(&e.bundle).unwrap();
    let trusted = serde_json::to_value(chain().genesis()).unwrap();
    assert_eq!(independent::check(&bundle, &trusted), Ok(3));
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 10] = [
        ("registry root", |v| v["state_roots"]["registry"] = "00".repeat(32).into()),
        ("roots swapped", |v| {
            let r = v["state_roots"]["registry"].clone();
            v["state_roots"]["registry"] = v["state_roots"]["activity"].clone();
            v["state_roots"]["activity"] = r;
        }),
        ("a sibling", |v| {
            let s = &mut v["meter_proof"]["siblings"][0];
            let mut b = hex::decode(s.as_str().unwrap()).unwrap();
            b[0] ^= 0x80;
            *s = hex::encode(b).into();
        }),
        ("a sibling too many", |v| v["gateway_proof"]["siblings"].as_array_mut().unwrap().push("00".repeat(32).into())),
        ("a sibling missing", |v| {
            v["meter_proof"]["siblings"].as_array_mut().unwrap().remove(0);
        }),
        ("the meter record", |v| v["meter_proof"]["entry"]["value"]["value"]["name"] = "another".into()),
        ("the gateway's retired key", |v| {
            v["gateway_proof"]["entry"]["value"]["value"]["retired_keys"][0]["retired_at_ms"] = 0.into()
        }),
        ("the proofs swapped", |v| {
            let m = v["meter_proof"].clone();
            v["meter_proof"] = v["gateway_proof"].clone();
            v["gateway_proof"] = m;
        }),
        ("an extra field", |v| v["meter_proof"]["index"] = 0.into()),
        ("the certificate's view", |v| v["header"]["view"] = 7.into()),
    ];
    for (what, edit) in edits {
        let mut t = bundle.clone();
        edit(&mut t);
        assert!(independent::check(&t, &trusted).is_err(), "the checker accepts the example with {what} changed");
    }
}
