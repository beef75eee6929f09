//! An independent check of proof bundles, written from `docs/proof-format.md` alone, with only
//! `serde_json`, `sha2`, `sm3`, `ed25519-zebra`, `sm2` and `hex`: no Trustmeter or Commonware type or code is
//! used to check the proof (they are used only to cross-check intermediate bytes, so that a
//! mismatch points at the sentence of the document that is wrong).

use super::{Fixture, fixture, fixture_gm};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sm2::dsa::signature::Verifier as _;

const SCHEMES: [&str; 2] = ["ed25519", "sm2"];
const UNITS: [&str; 11] = [
    "kilowatt_hour",
    "megawatt_hour",
    "cubic_metre",
    "normal_cubic_metre",
    "tonne",
    "kilogram",
    "gigajoule",
    "megajoule",
    "litre",
    "kilowatt",
    "tonne_per_hour",
];
const ENERGY: [&str; 16] = [
    "electricity",
    "water",
    "natural_gas",
    "steam",
    "heat",
    "raw_coal",
    "coke",
    "fuel_oil",
    "diesel",
    "gasoline",
    "lpg",
    "lng",
    "compressed_air",
    "oxygen",
    "nitrogen",
    "kerosene",
];
const REGISTERS: [&str; 2] = ["cumulative", "instantaneous"];
const STATUSES: [&str; 3] = ["registered", "active", "revoked"];
const SIGNERS: [&str; 2] = ["meter", "gateway"];
const ORIGINS: [&str; 3] = ["online", "manual", "imported"];
const STATE_KINDS: [&str; 6] = ["organisation", "account", "nonce", "gateway", "meter", "progress"];

fn tag(table: &[&str], v: &Value) -> u8 {
    let name = v.as_str().unwrap();
    table.iter().position(|t| *t == name).unwrap_or_else(|| panic!("unknown name {name}")) as u8
}

/// A borsh writer for the few shapes the document lists.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: &Value) {
        self.0.extend_from_slice(&(v.as_u64().unwrap() as u16).to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: &Value) {
        self.0.extend_from_slice(&v.as_u64().unwrap().to_le_bytes());
    }
    fn i64(&mut self, v: &Value) {
        self.0.extend_from_slice(&v.as_i64().unwrap().to_le_bytes());
    }
    fn bool(&mut self, v: &Value) {
        self.u8(v.as_bool().unwrap() as u8);
    }
    fn string(&mut self, v: &Value) {
        let s = v.as_str().unwrap();
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn hash(&mut self, v: &Value) {
        let b = hex::decode(v.as_str().unwrap()).unwrap();
        assert_eq!(b.len(), 32);
        self.0.extend_from_slice(&b);
    }
    /// A key or signature in its text form `scheme:hex`.
    fn tagged(&mut self, v: &Value) {
        let (scheme, h) = v.as_str().unwrap().split_once(':').unwrap();
        self.u8(tag(&SCHEMES, &Value::from(scheme)));
        let b = hex::decode(h).unwrap();
        self.u32(b.len() as u32);
        self.0.extend_from_slice(&b);
    }
    fn option(&mut self, v: &Value, f: impl FnOnce(&mut Self, &Value)) {
        if v.is_null() {
            self.u8(0);
        } else {
            self.u8(1);
            f(self, v);
        }
    }
}

fn reading(w: &mut W, r: &Value) {
    w.string(&r["meter"]);
    w.u64(&r["seq"]);
    w.i64(&r["timestamp_ms"]);
    w.i64(&r["value"]);
    w.u8(tag(&UNITS, &r["unit"]));
    w.u8(tag(&ORIGINS, &r["origin"]));
    w.bool(&r["clock_suspect"]);
}

fn retired_keys(w: &mut W, v: &Value) {
    let keys = v.as_array().unwrap();
    w.u32(keys.len() as u32);
    for k in keys {
        w.tagged(&k["public_key"]);
        w.i64(&k["retired_at_ms"]);
    }
}

fn signed_reading(sr: &Value) -> Vec<u8> {
    let mut w = W::default();
    reading(&mut w, &sr["reading"]);
    w.u8(tag(&SIGNERS, &sr["signer"]));
    w.tagged(&sr["signature"]);
    w.0
}

fn header(h: &Value) -> Vec<u8> {
    let mut w = W::default();
    w.string(&h["chain_id"]);
    w.hash(&h["parent"]);
    w.u64(&h["height"]);
    w.u64(&h["epoch"]);
    w.u64(&h["view"]);
    w.i64(&h["timestamp_ms"]);
    for f in ["tx_root", "readings_root", "state_root", "receipts_root"] {
        w.hash(&h[f]);
    }
    for f in ["tx_count", "reading_count", "readings_accepted"] {
        w.u32(h[f].as_u64().unwrap() as u32);
    }
    w.0
}

fn state_entry(e: &Value) -> Vec<u8> {
    let mut w = W::default();
    let key = &e["key"];
    w.u8(tag(&STATE_KINDS, &key["kind"]));
    w.string(&key["id"]); // gateway and meter keys are device ids
    let value = &e["value"];
    w.u8(tag(&STATE_KINDS, &value["kind"]));
    let v = &value["value"];
    match value["kind"].as_str().unwrap() {
        "gateway" => {
            w.string(&v["id"]);
            w.string(&v["owner"]);
            w.tagged(&v["public_key"]);
            retired_keys(&mut w, &v["retired_keys"]);
            w.u8(tag(&STATUSES, &v["status"]));
        }
        "meter" => {
            for f in ["id", "owner", "gateway", "name"] {
                w.string(&v[f]);
            }
            w.u8(tag(&ENERGY, &v["energy"]));
            w.u8(tag(&UNITS, &v["unit"]));
            w.u8(tag(&REGISTERS, &v["register"]));
            w.u16(&v["accuracy"]);
            let location = v["location"].as_array().unwrap();
            w.u32(location.len() as u32);
            for s in location {
                w.string(s);
            }
            w.i64(&v["register_max"]);
            w.i64(&v["rated_per_hour"]);
            w.option(&v["tariff"], |w, t| {
                w.string(&t["total"]);
                w.u8(t["tariff"].as_u64().unwrap() as u8);
            });
            w.option(&v["public_key"], |w, k| w.tagged(k));
            retired_keys(&mut w, &v["retired_keys"]);
            w.option(&v["calibration"], |w, c| {
                w.string(&c["certificate_no"]);
                w.string(&c["issuer"]);
                w.i64(&c["valid_from_ms"]);
                w.i64(&c["valid_until_ms"]);
            });
            w.u8(tag(&STATUSES, &v["status"]));
        }
        other => panic!("the document's checker only needs gateway and meter entries, not {other}"),
    }
    w.0
}

/// The chain's hash function `H`, named by `genesis.params.hash` (absent: SHA-256).
#[derive(Clone, Copy)]
enum Alg {
    Sha256,
    Sm3,
}

fn alg_of(genesis: &Value) -> Result<Alg, String> {
    match genesis["params"].get("hash").map(|h| h.as_str()) {
        None | Some(Some("sha256")) => Ok(Alg::Sha256),
        Some(Some("sm3")) => Ok(Alg::Sm3),
        other => Err(format!("(a) unknown hash algorithm {other:?}")),
    }
}

fn hash_parts(alg: Alg, parts: &[&[u8]]) -> [u8; 32] {
    match alg {
        Alg::Sha256 => {
            let mut h = Sha256::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().into()
        }
        Alg::Sm3 => {
            let mut h = sm3::Sm3::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().into()
        }
    }
}

fn leaf(alg: Alg, data: &[u8]) -> [u8; 32] {
    hash_parts(alg, &[&[0], data])
}

/// RFC 9162 §2.1.3.2, transcribed from the RFC.
fn included(alg: Alg, leaf: [u8; 32], index: u64, size: u64, path: &[[u8; 32]], root: [u8; 32]) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, leaf);
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = hash_parts(alg, &[&[1], p, &r]);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = hash_parts(alg, &[&[1], &r, p]);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == root
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array().unwrap().iter().map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap()).collect()
}

fn hash(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn ed25519_ok(key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let Ok(vk) = ed25519_zebra::VerificationKey::try_from(key) else {
        return false;
    };
    vk.verify(&ed25519_zebra::Signature::from(sig), msg).is_ok()
}

/// SM2 (GB/T 32918.2) with the default user id "1234567812345678"; `r ‖ s` signatures.
fn sm2_ok(key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(vk) = sm2::dsa::VerifyingKey::from_sec1_bytes("1234567812345678", key) else {
        return false;
    };
    let Ok(sig) = sm2::dsa::Signature::from_slice(sig) else {
        return false;
    };
    key.len() == 33 && vk.verify(msg, &sig).is_ok()
}

/// A `scheme:hex` text form, split.
fn key_bytes(text: &Value) -> (String, Vec<u8>) {
    let (scheme, h) = text.as_str().unwrap().split_once(':').unwrap();
    (scheme.to_string(), hex::decode(h).unwrap())
}

/// A signature check by the scheme both the key and the signature name.
fn signature_ok(key: &Value, msg: &[u8], sig: &Value) -> bool {
    let ((ks, k), (ss, s)) = (key_bytes(key), key_bytes(sig));
    match (ks.as_str(), ss.as_str()) {
        ("ed25519", "ed25519") => ed25519_ok(&k, msg, &s),
        ("sm2", "sm2") => sm2_ok(&k, msg, &s),
        _ => false,
    }
}

/// Protobuf-style unsigned varint (7 bits per byte, least significant group first).
fn varint(bytes: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or("certificate too short")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The whole documented check. Returns the number of validator signatures.
fn check(bundle: &Value, trusted_genesis: &Value) -> Result<usize, String> {
    if bundle["version"] != "trustmeter-proof/v1" {
        return Err("version".into());
    }
    // (a)
    let genesis = &bundle["genesis"];
    if genesis != trusted_genesis {
        return Err("(a) genesis differs".into());
    }
    let h = &bundle["header"];
    if h["chain_id"] != genesis["chain_id"] {
        return Err("(a) chain id".into());
    }
    let alg = alg_of(genesis)?;
    // (b)
    let sr = &bundle["reading"];
    let r = &sr["reading"];
    let meter = &bundle["meter_proof"]["entry"]["value"]["value"];
    let gateway = &bundle["gateway_proof"]["entry"]["value"]["value"];
    // Candidate keys: the retired key current at the reading's time (the first one retired after
    // it), if any, and the current key.
    let keys_at = |record: &Value| {
        let t = r["timestamp_ms"].as_i64().unwrap();
        let retired = record["retired_keys"].as_array().unwrap();
        let old = retired.iter().find(|k| t < k["retired_at_ms"].as_i64().unwrap()).map(|k| k["public_key"].clone());
        old.into_iter().chain([record["public_key"].clone()]).collect::<Vec<Value>>()
    };
    let keys = match (sr["signer"].as_str().unwrap(), meter["public_key"].is_null()) {
        ("meter", false) => keys_at(meter),
        ("gateway", true) => keys_at(gateway),
        _ => return Err("(b) signer".into()),
    };
    let mut msg = b"trustmeter/reading/v1".to_vec();
    let mut w = W::default();
    reading(&mut w, r);
    msg.extend_from_slice(&w.0);
    if !keys.iter().any(|key| signature_ok(key, &msg, &sr["signature"])) {
        return Err("(b) reading signature".into());
    }
    // (c)
    let ts = r["timestamp_ms"].as_i64().unwrap();
    let cal = &meter["calibration"];
    if meter["id"] != r["meter"]
        || gateway["id"] != bundle["gateway"]
        || meter["gateway"] != gateway["id"]
        || meter["owner"] != gateway["owner"]
        || meter["status"] != "active"
        || meter["unit"] != r["unit"]
        || cal.is_null()
        || !(cal["valid_from_ms"].as_i64().unwrap() <= ts && ts < cal["valid_until_ms"].as_i64().unwrap())
        || gateway["status"] != "active"
    {
        return Err("(c) registry".into());
    }
    // (d)
    let state_root = hash(&h["state_root"]);
    for (proof, kind, id) in
        [(&bundle["meter_proof"], "meter", &r["meter"]), (&bundle["gateway_proof"], "gateway", &bundle["gateway"])]
    {
        if proof["entry"]["key"]["kind"] != kind || &proof["entry"]["key"]["id"] != id {
            return Err("(d) state key".into());
        }
        let l = leaf(alg, &state_entry(&proof["entry"]));
        if !included(
            alg,
            l,
            proof["index"].as_u64().unwrap(),
            proof["size"].as_u64().unwrap(),
            &hashes(&proof["path"]),
            state_root,
        ) {
            return Err(format!("(d) {kind} state proof"));
        }
    }
    // (e)
    let size = bundle["tree_size"].as_u64().unwrap();
    if size != h["readings_accepted"].as_u64().unwrap() {
        return Err("(e) tree size".into());
    }
    if !included(
        alg,
        leaf(alg, &signed_reading(sr)),
        bundle["index"].as_u64().unwrap(),
        size,
        &hashes(&bundle["audit_path"]),
        hash(&h["readings_root"]),
    ) {
        return Err("(e) inclusion".into());
    }
    // (f)
    let cert = hex::decode(bundle["finalization"].as_str().unwrap()).map_err(|_| "(f) hex")?;
    let mut pos = 0;
    let _epoch = varint(&cert, &mut pos)?;
    let _view = varint(&cert, &mut pos)?;
    let _parent = varint(&cert, &mut pos)?;
    let payload: [u8; 32] = cert.get(pos..pos + 32).ok_or("(f) short")?.try_into().unwrap();
    pos += 32;
    let proposal = &cert[..pos];
    let digest = hash_parts(alg, &[b"trustmeter/block/v1", &header(h)]);
    if payload != digest {
        return Err("(f) certificate is for another block".into());
    }
    let bits = u64::from_be_bytes(cert.get(pos..pos + 8).ok_or("(f) short")?.try_into().unwrap()) as usize;
    pos += 8;
    let bitmap = cert.get(pos..pos + bits.div_ceil(8)).ok_or("(f) short")?.to_vec();
    pos += bits.div_ceil(8);
    let signers: Vec<usize> = (0..bits).filter(|i| bitmap[i / 8] >> (i % 8) & 1 == 1).collect();
    let count = varint(&cert, &mut pos)? as usize;
    if count != signers.len() || cert.len() != pos + 64 * count {
        return Err("(f) malformed certificate".into());
    }
    let mut keys: Vec<Vec<u8>> = genesis["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| hex::decode(v["consensus_key"].as_str().unwrap()).unwrap())
        .collect();
    keys.sort();
    let n = keys.len();
    if bits != n || count < n - (n - 1) / 3 {
        return Err("(f) committee or quorum".into());
    }
    let namespace = format!("trustmeter/consensus/{}_FINALIZE", genesis["chain_id"].as_str().unwrap());
    let mut signed = Vec::new();
    write_varint(namespace.len() as u64, &mut signed);
    signed.extend_from_slice(namespace.as_bytes());
    signed.extend_from_slice(proposal);
    for (k, signer) in signers.iter().enumerate() {
        let sig = &cert[pos + 64 * k..pos + 64 * (k + 1)];
        if !ed25519_ok(&keys[*signer], &signed, sig) {
            return Err(format!("(f) signature of signer {signer}"));
        }
    }
    Ok(count)
}

#[test]
fn the_documented_check_accepts_every_bundle_and_agrees_on_the_bytes() {
    accepts_every_bundle(fixture());
}

#[test]
fn the_documented_check_accepts_every_sm3_sm2_bundle() {
    let f = fixture_gm();
    assert_eq!(serde_json::to_value(&f.genesis).unwrap()["params"]["hash"], "sm3");
    accepts_every_bundle(f);
}

fn accepts_every_bundle(f: &Fixture) {
    let trusted = serde_json::to_value(&f.genesis).unwrap();
    for b in &f.bundles {
        let v: Value = serde_json::from_str(&b.to_json()).unwrap();
        // The hand-written encodings are the canonical ones.
        assert_eq!(signed_reading(&v["reading"]), trustmeter_types::encode(&b.reading), "SignedReading layout");
        assert_eq!(header(&v["header"]), trustmeter_types::encode(&b.header), "BlockHeader layout");
        assert_eq!(
            state_entry(&v["meter_proof"]["entry"]),
            trustmeter_types::encode(&b.meter_proof.entry),
            "meter StateEntry layout"
        );
        assert_eq!(
            state_entry(&v["gateway_proof"]["entry"]),
            trustmeter_types::encode(&b.gateway_proof.entry),
            "gateway StateEntry layout"
        );
        let signatures =
            check(&v, &trusted).unwrap_or_else(|e| panic!("the documented check refuses a good bundle at {e}"));
        assert_eq!(signatures, trustmeter_client::verify(b, None).unwrap().validator_signatures);
    }
}

#[test]
fn the_documented_check_refuses_tampered_bundles() {
    refuses_tampered_bundles(fixture());
}

#[test]
fn the_documented_check_refuses_tampered_sm3_sm2_bundles() {
    refuses_tampered_bundles(fixture_gm());
}

fn refuses_tampered_bundles(f: &Fixture) {
    let trusted = serde_json::to_value(&f.genesis).unwrap();
    let b: Value = serde_json::from_str(&f.meter_signed().to_json()).unwrap();
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 9] = [
        ("value", |v| {
            v["reading"]["reading"]["value"] = (v["reading"]["reading"]["value"].as_i64().unwrap() + 1).into()
        }),
        ("height", |v| v["header"]["height"] = (v["header"]["height"].as_u64().unwrap() + 1).into()),
        ("index", |v| v["index"] = (v["index"].as_u64().unwrap() ^ 1).into()),
        ("status", |v| v["meter_proof"]["entry"]["value"]["value"]["status"] = "revoked".into()),
        ("calibration", |v| {
            let c = &mut v["meter_proof"]["entry"]["value"]["value"]["calibration"]["valid_until_ms"];
            *c = (c.as_i64().unwrap() + 1).into()
        }),
        ("state root", |v| v["header"]["state_root"] = "00".repeat(32).into()),
        ("certificate signature", |v| {
            let mut c = hex::decode(v["finalization"].as_str().unwrap()).unwrap();
            let n = c.len();
            c[n - 1] ^= 1;
            v["finalization"] = hex::encode(c).into()
        }),
        ("genesis", |v| v["genesis"]["validators"][0]["name"] = "mallory".into()),
        ("reading signature", |v| {
            let (scheme, mut s) = key_bytes(&v["reading"]["signature"]);
            s[20] ^= 1;
            v["reading"]["signature"] = format!("{scheme}:{}", hex::encode(s)).into()
        }),
    ];
    for (what, edit) in edits {
        let mut t = b.clone();
        edit(&mut t);
        assert!(check(&t, &trusted).is_err(), "the documented check accepts a bundle with its {what} changed");
    }
    // A bundle that names another hash algorithm than its chain used fails even when its
    // (equally edited) genesis is the one trusted.
    let mut lie = b.clone();
    let other = if alg_of(&b["genesis"]).map(|a| matches!(a, Alg::Sm3)).unwrap() { "sha256" } else { "sm3" };
    lie["genesis"]["params"]["hash"] = other.into();
    let lied_genesis = lie["genesis"].clone();
    assert!(check(&lie, &trusted).is_err(), "another algorithm than the trusted genesis names");
    assert!(check(&lie, &lied_genesis).is_err(), "a bundle that lies about its algorithm");
}
