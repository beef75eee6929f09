//! An independent check of proof bundles, written from `docs/proof-format.md` alone, with only
//! `serde_json`, `sha2`, `sm3`, `ed25519-zebra`, `sm2` and `hex`: no Trustmeter or Commonware type or code is
//! used to check the proof (they are used only to cross-check intermediate bytes, so that a
//! mismatch points at the sentence of the document that is wrong).
//!
//! It checks `trustmeter-proof/v4` and `v3` bundles as the document specifies them (strict
//! fields, §2; sparse Merkle state proofs, §5.2; finality through descendant headers, §7 f; the
//! epoch chain of validator sets, §14; the worked example of §9) and the older `trustmeter-proof/v1` layout, whose differences are step d (an RFC 9162
//! proof of `H_leaf(borsh(entry))` against `header.state_root`, with its `index`, `size` and
//! `path`) and no descendants.

use super::jmt_store::{Sha256Hasher, Sm3Hasher, Stream, Tree};
use super::{Fixture, fixture, fixture_gm};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sm2::dsa::signature::Verifier as _;

const SCHEMES: [&str; 2] = ["ed25519", "sm2"];
const UNITS: [&str; 11] = ["kWh", "MWh", "m3", "Nm3", "t", "kg", "GJ", "MJ", "L", "kW", "t/h"];
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
const REGISTERS: [&str; 3] = ["cumulative", "instantaneous", "cumulative_export"];
const STATUSES: [&str; 3] = ["registered", "active", "revoked"];
const SIGNERS: [&str; 2] = ["meter", "gateway"];
const ORIGINS: [&str; 3] = ["online", "manual", "imported"];
/// State key and value kinds by tag (§4.2); 9 and 10 are derived data, never in a proof.
const STATE_KINDS: [&str; 42] = [
    "organisation",
    "account",
    "nonce",
    "gateway",
    "meter",
    "progress",
    "policy",
    "daily",
    "monthly_report",
    "point",
    "key_use",
    "membership",
    "proposal",
    "regulators",
    "grant",
    "disclosure",
    "published",
    "grant_received",
    "methodology",
    "carbon_plan",
    "carbon_entry",
    "certificate_claim",
    "carbon_result",
    "carbon_report",
    "verification",
    "quota",
    "verification_due",
    "carbon_year",
    "validator",
    "validator_set",
    "token",
    "economy",
    "delegation",
    "unbonding",
    "epoch_activity",
    "reward_schedule",
    "points",
    "epoch_rewards",
    "shift_calendar",
    "shift_output",
    "month_totals",
    "token_policy",
];
const SCOPES: [&str; 4] = ["registry", "readings", "figures", "alarms"];
const HASHES: [&str; 2] = ["sha256", "sm3"];
const ORG_KINDS: [&str; 7] = [
    "regulator",
    "statistics_bureau",
    "metrology_authority",
    "enterprise",
    "industry_association",
    "verifier",
    "data_consumer",
];
/// §4.2: the tags of the registry tree's entries (the others are in the activity tree).
const REGISTRY_TAGS: [u8; 24] =
    [0, 1, 3, 4, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 28, 29, 35, 38, 41];

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
    fn u32v(&mut self, v: &Value) {
        self.u32(u32::try_from(v.as_u64().unwrap()).unwrap());
    }
    fn i32(&mut self, v: &Value) {
        self.0.extend_from_slice(&i32::try_from(v.as_i64().unwrap()).unwrap().to_le_bytes());
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

/// `borsh(StateKey)` for every tag of §4.2.
fn state_key(key: &Value) -> Vec<u8> {
    let mut w = W::default();
    let t = tag(&STATE_KINDS, &key["kind"]);
    w.u8(t);
    let id = &key["id"];
    match t {
        0 | 3 | 4 | 11 | 16 => w.string(id),
        15 => w.u32v(id),
        // grant (owner, grantee, scope) and grant_received (grantee, owner, scope)
        14 | 17 => {
            w.string(&id[0]);
            w.string(&id[1]);
            w.u8(tag(&SCOPES, &id[2]));
        }
        12 => w.hash(id),
        13 | 31 | 41 => {}
        // month sums (org, month)
        40 => {
            w.string(&id[0]);
            w.u32v(&id[1]);
        }
        1 | 2 | 28 => w.tagged(id),
        // a validator set, an epoch's activity, an epoch's reward pools: by epoch
        29 | 34 | 37 => w.u64(id),
        // a reward schedule version
        35 => w.u32v(id),
        // points (org, epoch)
        36 => {
            w.string(&id[0]);
            w.u64(&id[1]);
        }
        // a token account
        30 => w.string(id),
        // a delegation (org, validator)
        32 => {
            w.string(&id[0]);
            w.tagged(&id[1]);
        }
        // an unbonding entry (org, validator, release epoch)
        33 => {
            w.string(&id[0]);
            w.tagged(&id[1]);
            w.u64(&id[2]);
        }
        6 => w.u32v(id),
        7 => {
            w.string(&id["org"]);
            w.i32(&id["day"]);
            w.u8(tag(&ENERGY, &id["energy"]));
            w.u8(tag(&UNITS, &id["unit"]));
        }
        // carbon entry (org, month, number)
        20 => {
            w.string(&id[0]);
            w.u32v(&id[1]);
            w.u32v(&id[2]);
        }
        // certificate claim (batch, first serial)
        21 => {
            w.string(&id[0]);
            w.u64(&id[1]);
        }
        // an objection window (deadline, org, year)
        26 => {
            w.i64(&id[0]);
            w.string(&id[1]);
            w.u32v(&id[2]);
        }
        // a shift instance's output (org, day YYYYMMDD, shift name)
        39 => {
            w.string(&id[0]);
            w.u32v(&id[1]);
            w.string(&id[2]);
        }
        // 5 (progress: gateway, chunk), 8 (monthly report: org, month), 18 (methodology: id,
        // version), 19 (monitoring plan: org, first month), 22 (carbon results: org, month),
        // 23 (carbon report: org, period), 24 (verification: org, year), 25 (quota: org, year),
        // 27 (carbon year: org, year), 38 (shift calendar: org, first day YYYYMMDD)
        _ => {
            w.string(&id[0]);
            w.u32v(&id[1]);
        }
    }
    w.0
}

/// `borsh(StateValue)` for the two records a reading bundle carries.
fn state_value(value: &Value) -> Vec<u8> {
    let mut w = W::default();
    // A value's tag is its key's, except from `methodology` (key 18) on, where it is one less
    // (§4.2: the value enum has no variant for received grants).
    let t = tag(&STATE_KINDS, &value["kind"]);
    w.u8(if t >= 18 { t - 1 } else { t });
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
            for f in ["id", "owner", "gateway"] {
                w.string(&v[f]);
            }
            w.u32v(&v["slot"]);
            w.string(&v["name"]);
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
            w.option(&v["master"], |w, m| w.string(m));
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
        // §14: a validator set (u64 epoch ‖ Vec<SetMember> ‖ u64 elected_height), a member being
        // PublicKey consensus_key ‖ String org ‖ String name ‖ String p2p_address ‖ u64 stake.
        "validator_set" => {
            w.u64(&v["epoch"]);
            let members = v["members"].as_array().unwrap();
            w.u32(members.len() as u32);
            for m in members {
                w.tagged(&m["consensus_key"]);
                w.string(&m["org"]);
                w.string(&m["name"]);
                w.string(&m["p2p_address"]);
                w.u64(&m["stake"]);
            }
            w.u64(&v["elected_height"]);
        }
        other => panic!("the document's checker only needs gateway, meter and validator set records, not {other}"),
    }
    w.0
}

/// `borsh(StateEntry)` of v1 (`key ‖ value`).
fn state_entry(e: &Value) -> Vec<u8> {
    [state_key(&e["key"]), state_value(&e["value"])].concat()
}

/// `borsh(Genesis)` (§4.1), for the genesis equality of step a.1.
fn genesis_bytes(g: &Value) -> Vec<u8> {
    let mut w = W::default();
    w.string(&g["chain_id"]);
    w.i64(&g["genesis_time_ms"]);
    let p = &g["params"];
    w.i64(&p["max_future_skew_ms"]);
    w.u32v(&p["max_block_txs"]);
    w.u32v(&p["max_block_readings"]);
    w.i64(&p["calibration_warning_ms"]);
    w.u8(tag(&HASHES, &p["hash"]));
    let a = &p["accounting"];
    w.string(&a["reference"]);
    for f in ["late_window_ms", "nominal_interval_ms", "timeliness_ms"] {
        w.i64(&a[f]);
    }
    let gov = &p["governance"];
    w.u8(gov["approval_percent"].as_u64().unwrap() as u8);
    w.i64(&gov["proposal_lifetime_ms"]);
    let list = |w: &mut W, v: &Value, f: &dyn Fn(&mut W, &Value)| {
        let items = v.as_array().unwrap();
        w.u32(items.len() as u32);
        for i in items {
            f(w, i);
        }
    };
    let token = &p["economy"]["token"];
    w.string(&token["symbol"]);
    w.u64(&token["cap"]);
    w.u64(&token["issuance_per_epoch"]);
    w.bool(&token["transferable"]);
    let staking = &p["economy"]["staking"];
    w.u64(&staking["epoch_length"]);
    w.u32v(&staking["validators"]);
    w.u64(&staking["min_self_stake"]);
    w.u8(staking["max_org_share_percent"].as_u64().unwrap() as u8);
    w.u32v(&staking["unbonding_epochs"]);
    w.u8(staking["max_commission_percent"].as_u64().unwrap() as u8);
    w.u32v(&staking["jail_epochs"]);
    w.u8(staking["max_missed_percent"].as_u64().unwrap() as u8);
    w.u8(staking["equivocation_slash_percent"].as_u64().unwrap() as u8);
    list(&mut w, &staking["eligible"], &|w, k| w.u8(tag(&ORG_KINDS, k)));
    list(&mut w, &g["organisations"], &|w, o| {
        w.string(&o["id"]);
        w.string(&o["name"]);
        w.u8(tag(&ORG_KINDS, &o["kind"]));
        w.u32v(&o["region"]);
    });
    list(&mut w, &g["accounts"], &|w, a| {
        w.string(&a["org"]);
        w.tagged(&a["public_key"]);
    });
    list(&mut w, &g["validators"], &|w, v| {
        for f in ["name", "org", "consensus_key", "p2p_address"] {
            w.string(&v[f]);
        }
        w.u64(&v["self_stake"]);
    });
    list(&mut w, &g["allocations"], &|w, a| {
        w.string(&a["org"]);
        w.u64(&a["amount"]);
    });
    w.option(&g["devnet_seed"], |w, s| w.u64(s));
    w.0
}

/// §2: every object has exactly the fields its table lists (none optional).
fn exactly(v: &Value, fields: &[&str], what: &str) -> Result<(), String> {
    let o = v.as_object().ok_or(format!("(0) {what} is not an object"))?;
    if let Some(k) = o.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(format!("(0) unknown field {k} in {what}"));
    }
    if let Some(f) = fields.iter().find(|f| !o.contains_key(**f)) {
        return Err(format!("(0) missing field {f} in {what}"));
    }
    Ok(())
}

fn each(v: &Value, f: impl Fn(&Value) -> Result<(), String>) -> Result<(), String> {
    v.as_array().ok_or("(0) not an array")?.iter().try_for_each(f)
}

/// The field tables of §3 for a v4 bundle (the meter and gateway records of §3.4, the links of
/// §14), or a v3 bundle (no `epochs`).
fn shape_v3(b: &Value) -> Result<(), String> {
    let v4 = b["version"] == "trustmeter-proof/v4";
    if v4 {
        each(&b["epochs"], |l| {
            exactly(l, &["epoch", "boundary", "finalization", "state_roots", "set"], "an epoch link")?;
            exactly(&l["set"], &["entry", "siblings"], "a link's set proof")?;
            exactly(&l["state_roots"], &["registry", "activity"], "a link's state roots")?;
            exactly(&l["set"]["entry"], &["key", "value"], "a link's set entry")?;
            exactly(&l["set"]["entry"]["value"], &["kind", "value"], "a link's set value")?;
            exactly(&l["set"]["entry"]["value"]["value"], &["epoch", "members", "elected_height"], "a validator set")?;
            each(&l["set"]["entry"]["value"]["value"]["members"], |m| {
                exactly(m, &["consensus_key", "org", "name", "p2p_address", "stake"], "a set member")
            })
        })?;
    }
    let mut fields = vec![
        "version",
        "genesis",
        "header",
        "reading",
        "index",
        "tree_size",
        "audit_path",
        "gateway",
        "state_roots",
        "meter_proof",
        "gateway_proof",
        "descendants",
        "finalization",
    ];
    if v4 {
        fields.push("epochs");
    }
    exactly(b, &fields, "the bundle")?;
    let g = &b["genesis"];
    exactly(
        g,
        &[
            "chain_id",
            "genesis_time_ms",
            "params",
            "organisations",
            "accounts",
            "validators",
            "allocations",
            "devnet_seed",
        ],
        "genesis",
    )?;
    exactly(
        &g["params"],
        &[
            "max_future_skew_ms",
            "max_block_txs",
            "max_block_readings",
            "calibration_warning_ms",
            "hash",
            "accounting",
            "governance",
            "economy",
        ],
        "params",
    )?;
    exactly(&g["params"]["economy"], &["token", "staking"], "economy")?;
    exactly(&g["params"]["economy"]["token"], &["symbol", "cap", "issuance_per_epoch", "transferable"], "token")?;
    exactly(
        &g["params"]["economy"]["staking"],
        &[
            "epoch_length",
            "validators",
            "min_self_stake",
            "max_org_share_percent",
            "unbonding_epochs",
            "max_commission_percent",
            "jail_epochs",
            "max_missed_percent",
            "equivocation_slash_percent",
            "eligible",
        ],
        "staking",
    )?;
    each(&g["allocations"], |a| exactly(a, &["org", "amount"], "allocation"))?;
    exactly(&g["params"]["governance"], &["approval_percent", "proposal_lifetime_ms"], "governance")?;
    exactly(
        &g["params"]["accounting"],
        &["reference", "late_window_ms", "nominal_interval_ms", "timeliness_ms"],
        "accounting",
    )?;
    each(&g["organisations"], |o| exactly(o, &["id", "name", "kind", "region"], "organisation"))?;
    each(&g["accounts"], |a| exactly(a, &["org", "public_key"], "account"))?;
    each(&g["validators"], |v| {
        exactly(v, &["name", "org", "consensus_key", "p2p_address", "self_stake"], "validator")
    })?;
    let header_fields = [
        "chain_id",
        "parent",
        "height",
        "epoch",
        "view",
        "timestamp_ms",
        "tx_root",
        "readings_root",
        "state_root",
        "receipts_root",
        "tx_count",
        "reading_count",
        "readings_accepted",
    ];
    exactly(&b["header"], &header_fields, "header")?;
    each(&b["descendants"], |d| exactly(d, &header_fields, "descendant header"))?;
    exactly(&b["reading"], &["reading", "signer", "signature"], "signed reading")?;
    exactly(
        &b["reading"]["reading"],
        &["meter", "seq", "timestamp_ms", "value", "unit", "origin", "clock_suspect"],
        "reading",
    )?;
    exactly(&b["state_roots"], &["registry", "activity"], "state_roots")?;
    let retired = |v: &Value| each(v, |k| exactly(k, &["public_key", "retired_at_ms"], "retired key"));
    for (p, kind) in [(&b["meter_proof"], "meter"), (&b["gateway_proof"], "gateway")] {
        exactly(p, &["entry", "siblings"], "state proof")?;
        exactly(&p["entry"], &["key", "value"], "entry")?;
        exactly(&p["entry"]["key"], &["kind", "id"], "state key")?;
        exactly(&p["entry"]["value"], &["kind", "value"], "state value")?;
        let r = &p["entry"]["value"]["value"];
        match kind {
            "meter" => {
                exactly(
                    r,
                    &[
                        "id",
                        "owner",
                        "gateway",
                        "slot",
                        "name",
                        "energy",
                        "unit",
                        "register",
                        "accuracy",
                        "location",
                        "register_max",
                        "rated_per_hour",
                        "tariff",
                        "master",
                        "public_key",
                        "retired_keys",
                        "calibration",
                        "status",
                    ],
                    "meter",
                )?;
                if !r["tariff"].is_null() {
                    exactly(&r["tariff"], &["total", "tariff"], "tariff")?;
                }
                if !r["calibration"].is_null() {
                    exactly(
                        &r["calibration"],
                        &["certificate_no", "issuer", "valid_from_ms", "valid_until_ms"],
                        "calibration",
                    )?;
                }
                retired(&r["retired_keys"])?;
            }
            _ => {
                exactly(r, &["id", "owner", "public_key", "retired_keys", "status"], "gateway")?;
                retired(&r["retired_keys"])?;
            }
        }
    }
    Ok(())
}

/// The chain's hash function `H`, named by `genesis.params.hash`.
#[derive(Clone, Copy)]
enum Alg {
    Sha256,
    Sm3,
}

fn alg_of(genesis: &Value) -> Result<Alg, String> {
    match genesis["params"]["hash"].as_str() {
        Some("sha256") => Ok(Alg::Sha256),
        Some("sm3") => Ok(Alg::Sm3),
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

/// §5.2: the key hash of a `StateKey`.
fn key_hash(alg: Alg, key: &Value) -> [u8; 32] {
    hash_parts(alg, &[b"trustmeter/state-key/v2", &state_key(key)])
}

/// §5.2: `EMPTY`.
const EMPTY: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

fn smt_leaf(alg: Alg, kh: &[u8; 32], vh: &[u8; 32]) -> [u8; 32] {
    hash_parts(alg, &[b"JMT::LeafNode", kh, vh])
}

fn smt_internal(alg: Alg, l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    hash_parts(alg, &[b"JMT::IntrnalNode", l, r])
}

fn bit(kh: &[u8; 32], d: usize) -> u8 {
    (kh[d / 8] >> (7 - d % 8)) & 1
}

/// §5.2 `RootFromPath`.
fn root_from_path(alg: Alg, kh: &[u8; 32], start: [u8; 32], siblings: &[[u8; 32]]) -> Option<[u8; 32]> {
    if siblings.len() > 256 {
        return None;
    }
    let len = siblings.len();
    let mut h = start;
    for (i, s) in siblings.iter().enumerate() {
        let d = len - 1 - i;
        h = if bit(kh, d) == 1 { smt_internal(alg, s, &h) } else { smt_internal(alg, &h, s) };
    }
    Some(h)
}

/// §5.2 `VerifyInclusion` of a state tree.
fn smt_included(alg: Alg, root: &[u8; 32], kh: &[u8; 32], vh: &[u8; 32], siblings: &[[u8; 32]]) -> bool {
    root_from_path(alg, kh, smt_leaf(alg, kh, vh), siblings).as_ref() == Some(root)
}

/// §5.2 `VerifyAbsence`; `leaf` is `null` or `{key_hash, value_hash}`.
fn smt_absent(alg: Alg, root: &[u8; 32], kh: &[u8; 32], leaf: &Value, siblings: &[[u8; 32]]) -> bool {
    let start = if leaf.is_null() {
        EMPTY
    } else {
        let (lk, lv) = (hash(&leaf["key_hash"]), hash(&leaf["value_hash"]));
        if &lk == kh || (0..siblings.len()).any(|d| bit(&lk, d) != bit(kh, d)) {
            return false;
        }
        smt_leaf(alg, &lk, &lv)
    };
    root_from_path(alg, kh, start, siblings).as_ref() == Some(root)
}

/// §5.2: the combined state root.
fn combined_root(alg: Alg, registry: &[u8; 32], activity: &[u8; 32]) -> [u8; 32] {
    hash_parts(alg, &[b"trustmeter/state-root/v2", registry, activity])
}

/// §11: an absence proof against `state_roots` (whose combination the caller has tied to a
/// finalized header).
pub fn check_absence(alg_name: &str, absence: &Value, state_roots: &Value) -> Result<(), String> {
    let alg = alg_of(&serde_json::json!({"params": {"hash": alg_name}}))?;
    exactly(absence, &["key", "leaf", "siblings"], "absence proof")?;
    if !absence["leaf"].is_null() {
        exactly(&absence["leaf"], &["key_hash", "value_hash"], "absence leaf")?;
    }
    let key = &absence["key"];
    let tree = if REGISTRY_TAGS.contains(&tag(&STATE_KINDS, &key["kind"])) { "registry" } else { "activity" };
    let root = hash(&state_roots[tree]);
    if smt_absent(alg, &root, &key_hash(alg, key), &absence["leaf"], &hashes(&absence["siblings"])) {
        Ok(())
    } else {
        Err(format!("absence proof fails against the {tree} root"))
    }
}

/// The whole documented check of a bundle of either version. Returns the number of validator
/// signatures.
pub fn check(bundle: &Value, trusted_genesis: &Value) -> Result<usize, String> {
    let v3 = match bundle["version"].as_str() {
        Some("trustmeter-proof/v3" | "trustmeter-proof/v4") => true,
        Some("trustmeter-proof/v1") => false,
        _ => return Err("version".into()),
    };
    if v3 {
        shape_v3(bundle)?;
    }
    // (a)
    let genesis = &bundle["genesis"];
    if genesis_bytes(genesis) != genesis_bytes(trusted_genesis) {
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
    let registry = if v3 { hash(&bundle["state_roots"]["registry"]) } else { [0; 32] };
    if v3 && combined_root(alg, &registry, &hash(&bundle["state_roots"]["activity"])) != state_root {
        return Err("(d) state roots".into());
    }
    for (proof, kind, id) in
        [(&bundle["meter_proof"], "meter", &r["meter"]), (&bundle["gateway_proof"], "gateway", &bundle["gateway"])]
    {
        if proof["entry"]["key"]["kind"] != kind || &proof["entry"]["key"]["id"] != id {
            return Err("(d) state key".into());
        }
        if v3 {
            let vh = hash_parts(alg, &[&state_value(&proof["entry"]["value"])]);
            let kh = key_hash(alg, &proof["entry"]["key"]);
            if !smt_included(alg, &registry, &kh, &vh, &hashes(&proof["siblings"])) {
                return Err(format!("(d) {kind} state proof"));
            }
            continue;
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
    // (f) 1: the descendants, each the child of the block before it, at most 256.
    let mut h = h;
    let mut digest = hash_parts(alg, &[b"trustmeter/block/v1", &header(h)]);
    let no_descendants = Vec::new();
    let descendants = if v3 { bundle["descendants"].as_array().unwrap() } else { &no_descendants };
    if descendants.len() > 256 {
        return Err("(f) too many descendants".into());
    }
    for d in descendants {
        if d["height"].as_u64() != Some(h["height"].as_u64().unwrap() + 1)
            || hash(&d["parent"]) != digest
            || d["chain_id"] != h["chain_id"]
        {
            return Err("(f) a descendant is not the child of the block before it".into());
        }
        h = d;
        digest = hash_parts(alg, &[b"trustmeter/block/v1", &header(h)]);
    }
    // (f) 2: the certified block's epoch E = height / L, and the set of E (§14): the genesis set
    // for E ≤ 1, else the set the epoch chain proves, link by link from the genesis set.
    let l = genesis["params"]["economy"]["staking"]["epoch_length"].as_u64().unwrap();
    if l < 10 {
        return Err("(f) epoch length".into());
    }
    let epoch = h["height"].as_u64().unwrap() / l;
    if h["epoch"].as_u64() != Some(epoch) {
        return Err("(f) the certified header's epoch is not its height's".into());
    }
    let no_links = Vec::new();
    let links =
        if bundle["version"] == "trustmeter-proof/v4" { bundle["epochs"].as_array().unwrap() } else { &no_links };
    if links.len() as u64 != epoch.saturating_sub(1) {
        return Err("(g) the number of epoch links is not the certified block's epoch − 1".into());
    }
    let chain_id = genesis["chain_id"].as_str().unwrap();
    let mut keys: Vec<Vec<u8>> = genesis["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| hex::decode(v["consensus_key"].as_str().unwrap()).unwrap())
        .collect();
    keys.sort();
    let seats = genesis["params"]["economy"]["staking"]["validators"].as_u64().unwrap() as usize;
    let max_members = seats.max(keys.len());
    for (i, link) in links.iter().enumerate() {
        let k = i as u64 + 2;
        if link["epoch"].as_u64() != Some(k) {
            return Err(format!("(g) link {i} is not epoch {k}'s"));
        }
        let b = &link["boundary"];
        if b["chain_id"] != genesis["chain_id"]
            || b["height"].as_u64() != Some(k * l - 1)
            || b["epoch"].as_u64() != Some(k - 1)
        {
            return Err(format!("(g) the boundary of link {k} is not block last({}) of this chain", k - 1));
        }
        let bd = hash_parts(alg, &[b"trustmeter/block/v1", &header(b)]);
        certificate_ok(&link["finalization"], b, bd, &keys, chain_id, true)
            .map_err(|e| format!("(g) the boundary of link {k}: {e}"))?;
        let roots = &link["state_roots"];
        let registry = hash(&roots["registry"]);
        if combined_root(alg, &registry, &hash(&roots["activity"])) != hash(&b["state_root"]) {
            return Err(format!("(g) link {k}: state roots"));
        }
        let entry = &link["set"]["entry"];
        if entry["key"]["kind"] != "validator_set"
            || entry["key"]["id"].as_u64() != Some(k)
            || entry["value"]["kind"] != "validator_set"
            || entry["value"]["value"]["epoch"].as_u64() != Some(k)
        {
            return Err(format!("(g) link {k}: not the set of epoch {k}"));
        }
        let vh = hash_parts(alg, &[&state_value(&entry["value"])]);
        let kh = key_hash(alg, &entry["key"]);
        if !smt_included(alg, &registry, &kh, &vh, &hashes(&link["set"]["siblings"])) {
            return Err(format!("(g) link {k}: the set proof"));
        }
        let members = entry["value"]["value"]["members"].as_array().unwrap();
        let mut next = Vec::with_capacity(members.len());
        for m in members {
            let (scheme, key) = key_bytes(&m["consensus_key"]);
            if scheme != "ed25519" || key.len() != 32 {
                return Err(format!("(g) link {k}: a member's key is not Ed25519"));
            }
            next.push(key);
        }
        if next.is_empty() || next.len() > max_members || next.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("(g) link {k}: the set's members"));
        }
        keys = next;
    }
    // (f) 3–5: the certificate of the certified block, by the set of its epoch.
    certificate_ok(&bundle["finalization"], h, digest, &keys, chain_id, h["height"].as_u64().unwrap() % l == l - 1)
}

/// §6 and §7 f.3–5: `cert` (hex) finalizes `digest`, the block of header `h`, in `h`'s epoch and
/// view (or a later view of the epoch for a boundary block, re-proposed until finalized), with a
/// quorum of valid signatures of `keys` (sorted). Returns the number of signatures.
fn certificate_ok(
    cert: &Value,
    h: &Value,
    digest: [u8; 32],
    keys: &[Vec<u8>],
    chain_id: &str,
    boundary: bool,
) -> Result<usize, String> {
    let cert = hex::decode(cert.as_str().ok_or("(f) not a string")?).map_err(|_| "(f) hex")?;
    let mut pos = 0;
    let epoch = varint(&cert, &mut pos)?;
    let view = varint(&cert, &mut pos)?;
    let _parent = varint(&cert, &mut pos)?;
    let header_view = h["view"].as_u64().unwrap();
    if Some(epoch) != h["epoch"].as_u64() || !(view == header_view || (boundary && view > header_view)) {
        return Err("(f) the certificate's round is not the header's".into());
    }
    let payload: [u8; 32] = cert.get(pos..pos + 32).ok_or("(f) short")?.try_into().unwrap();
    pos += 32;
    let proposal = &cert[..pos];
    if payload != digest {
        return Err("(f) certificate is for another block".into());
    }
    let bits = u64::from_be_bytes(cert.get(pos..pos + 8).ok_or("(f) short")?.try_into().unwrap()) as usize;
    pos += 8;
    let n = keys.len();
    if bits != n {
        return Err("(f) committee or quorum".into());
    }
    let bitmap = cert.get(pos..pos + bits.div_ceil(8)).ok_or("(f) short")?.to_vec();
    pos += bits.div_ceil(8);
    let signers: Vec<usize> = (0..bits).filter(|i| bitmap[i / 8] >> (i % 8) & 1 == 1).collect();
    let count = varint(&cert, &mut pos)? as usize;
    if count != signers.len() || cert.len() != pos + 64 * count {
        return Err("(f) malformed certificate".into());
    }
    if count < n - (n - 1) / 3 {
        return Err("(f) committee or quorum".into());
    }
    let namespace = format!("trustmeter/consensus/{chain_id}_FINALIZE");
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
    assert_eq!(genesis_bytes(&trusted), trustmeter_types::encode(&f.genesis), "Genesis layout");
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

// ---------------------------------------------------------------------------------------------
// The state trees (§5.2), on proofs made by the `jmt` crate.

/// The published vectors (`crates/crypto/tests/vectors/smt-v2.json`, made with `jmt`): every case
/// is judged as the file says, and the key and value hashes follow from the encoded bytes.
#[test]
fn the_documented_smt_check_agrees_with_the_published_vectors() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crypto/tests/vectors/smt-v2.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (name, alg) in [("sha256", Alg::Sha256), ("sm3", Alg::Sm3)] {
        let v = &vectors[name];
        assert_eq!(hash(&v["placeholder"]), EMPTY);
        assert_eq!(hash(&v["internal_of_placeholders"]), smt_internal(alg, &EMPTY, &EMPTY));
        let roots = &v["state_root"];
        assert_eq!(
            combined_root(alg, &hash(&roots["registry"]), &hash(&roots["activity"])),
            hash(&roots["state_root"])
        );
        let cases = v["cases"].as_array().unwrap();
        let (mut valid, mut invalid) = (0, 0);
        for c in cases {
            let encoded_key = hex::decode(c["encoded_key"].as_str().unwrap()).unwrap();
            let kh = hash_parts(alg, &[b"trustmeter/state-key/v2", &encoded_key]);
            assert_eq!(kh, hash(&c["key_hash"]), "key hash of {c}");
            let siblings = hashes(&c["siblings"]);
            let root = hash(&c["root"]);
            let verdict = match c["kind"].as_str().unwrap() {
                "inclusion" => {
                    let vh = hash_parts(alg, &[&hex::decode(c["encoded_value"].as_str().unwrap()).unwrap()]);
                    assert_eq!(vh, hash(&c["value_hash"]));
                    smt_included(alg, &root, &kh, &vh, &siblings)
                }
                _ => smt_absent(alg, &root, &kh, &c["leaf"], &siblings),
            };
            assert_eq!(Value::Bool(verdict), c["valid"], "{name}: {}", c["why"]);
            if verdict { valid += 1 } else { invalid += 1 }
        }
        assert!(valid >= 14 && invalid >= 8, "{name}: {valid} valid, {invalid} invalid cases");
    }
}

fn jmt_trees<H: jmt::SimpleHasher + std::fmt::Debug>(alg: Alg, name: &str) {
    // Keys are real state keys: meters 91430100700001000N-EM0000.. in the registry layout of §4.2.
    let meter_key = |i: usize| serde_json::json!({"kind": "meter", "id": format!("91430100700001000N-EM{i:04}")});
    let mut s = Stream::new(name);
    let mut tree = Tree::<H>::default();
    let entries: Vec<([u8; 32], Vec<u8>)> =
        (0..700).map(|i| (key_hash(alg, &meter_key(i)), s.next32()[..(1 + i % 32)].to_vec())).collect();
    let root = tree.put(entries.iter().map(|(k, v)| (*k, Some(v.clone()))).collect());
    for (i, (k, v)) in entries.iter().enumerate() {
        let (value, p) = tree.prove(*k, 0);
        assert_eq!(value.as_ref(), Some(v));
        let vh = hash_parts(alg, &[v]);
        assert!(smt_included(alg, &root, k, &vh, &p.siblings), "{name}: inclusion of meter {i}");
        if i % 50 == 0 {
            for j in 0..p.siblings.len() {
                let mut t = p.siblings.clone();
                t[j][s.below(32) as usize] ^= 1 << s.below(8);
                assert!(!smt_included(alg, &root, k, &vh, &t), "{name}: flipped sibling {j}");
            }
            assert!(!smt_included(alg, &root, k, &hash_parts(alg, &[b"other"]), &p.siblings), "wrong value");
            assert!(!smt_included(alg, &root, &entries[i + 1].0, &vh, &p.siblings), "wrong key");
            let longer = [p.siblings.clone(), vec![EMPTY]].concat();
            assert!(!smt_included(alg, &root, k, &vh, &longer), "extra sibling");
            assert!(!smt_included(alg, &root, k, &vh, &p.siblings[1..]), "missing sibling");
            let as_leaf = serde_json::json!({"key_hash": hex::encode(k), "value_hash": hex::encode(vh)});
            assert!(!smt_absent(alg, &root, k, &as_leaf, &p.siblings), "absence of a present key");
            assert!(!smt_absent(alg, &root, k, &Value::Null, &p.siblings), "absence of a present key");
        }
    }
    let (mut empty, mut other_leaf) = (0, 0);
    for i in 700..1_000 {
        let k = key_hash(alg, &meter_key(i));
        let (value, p) = tree.prove(k, 0);
        assert!(value.is_none());
        let leaf = match p.leaf {
            None => {
                empty += 1;
                Value::Null
            }
            Some((lk, lv)) => {
                other_leaf += 1;
                serde_json::json!({"key_hash": hex::encode(lk), "value_hash": hex::encode(lv)})
            }
        };
        assert!(smt_absent(alg, &root, &k, &leaf, &p.siblings), "{name}: absence of meter {i}");
        let absence = serde_json::json!({
            "key": meter_key(i),
            "leaf": leaf,
            "siblings": p.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
        });
        let roots = serde_json::json!({"registry": hex::encode(root), "activity": hex::encode(EMPTY)});
        check_absence(name, &absence, &roots).unwrap();
        if !p.siblings.is_empty() {
            let mut t = p.siblings.clone();
            t[0][0] ^= 0x80;
            assert!(!smt_absent(alg, &root, &k, &leaf, &t), "{name}: tampered absence of meter {i}");
        }
        let flipped = if leaf.is_null() {
            serde_json::json!({"key_hash": hex::encode(entries[0].0), "value_hash": hex::encode(EMPTY)})
        } else {
            Value::Null
        };
        assert!(!smt_absent(alg, &root, &k, &flipped, &p.siblings), "{name}: wrong end of path");
    }
    assert!(empty > 20 && other_leaf > 20, "{name}: {empty} empty, {other_leaf} leaf-ended absence proofs");
}

#[test]
fn the_documented_smt_check_accepts_jmt_proofs_and_refuses_tampered_ones() {
    jmt_trees::<Sha256Hasher>(Alg::Sha256, "sha256");
    jmt_trees::<Sm3Hasher>(Alg::Sm3, "sm3");
}

/// The key encoding written from §4.2 agrees with the implementation's `borsh(StateKey)` for a key
/// of every tag a proof may carry (9 and 10 are derived data).
#[test]
fn state_keys_of_every_tag_encode_as_the_document_says() {
    use trustmeter_state::{DailyKey, StateKey};
    use trustmeter_types::{DeviceId, EnergyKind, GrantScope, Hash32, KeyScheme, UnifiedSocialCreditCode, Unit};
    let org = UnifiedSocialCreditCode::new("91430100MA4L16JQ9D").unwrap();
    let other = UnifiedSocialCreditCode::new("11430000MB12345670").unwrap();
    let dev = DeviceId::new("91430100MA4L16JQ9D-EM01").unwrap();
    let pk = trustmeter_crypto::SigningKey::from_seed(KeyScheme::Ed25519, [7; 32]).public_key();
    let keys = [
        StateKey::Organisation(org.clone()),
        StateKey::Account(pk.clone()),
        StateKey::Nonce(pk),
        StateKey::Gateway(dev.clone()),
        StateKey::Meter(dev.clone()),
        StateKey::Progress(dev, 3),
        StateKey::Policy(2),
        StateKey::Daily(DailyKey {
            org: org.clone(),
            day: 20_454,
            energy: EnergyKind::NaturalGas,
            unit: Unit::NormalCubicMetre,
        }),
        StateKey::MonthlyReport(org.clone(), 202_601),
        StateKey::Membership(org.clone()),
        StateKey::Proposal(Hash32([9; 32])),
        StateKey::Regulators,
        StateKey::Grant(org.clone(), other.clone(), GrantScope::Figures),
        StateKey::Disclosure(430_000),
        StateKey::Published(org.clone()),
        StateKey::CarbonPlan(org.clone(), 202_601),
        StateKey::CarbonEntry(org.clone(), 202_601, 7),
        StateKey::CertificateClaim("GEC-HN-7".into(), 1_000_001),
        StateKey::CarbonResult(org.clone(), 202_601),
        StateKey::CarbonReport(org.clone(), 2026),
        StateKey::CarbonReport(org.clone(), 202_611),
        StateKey::Verification(org.clone(), 2025),
        StateKey::Quota(org.clone(), 2026),
        StateKey::VerificationDue(1_767_225_600_000, org.clone(), 2025),
        StateKey::CarbonYear(org.clone(), 2025),
        StateKey::ShiftCalendar(org.clone(), 20_261_101),
        StateKey::ShiftOutput(org.clone(), 20_261_121, "夜班".into()),
        StateKey::GrantReceived(other, org, GrantScope::Alarms),
        StateKey::Methodology("GB/T 32151.29-2024".into(), 2),
        StateKey::MonthTotals(UnifiedSocialCreditCode::new("91430100MA4L16JQ9D").unwrap(), 202_611),
        StateKey::TokenPolicy,
    ];
    for k in keys {
        let json = serde_json::to_value(&k).unwrap();
        assert_eq!(hex::encode(state_key(&json)), hex::encode(trustmeter_types::encode(&k)), "{json}");
        // And the tree the document names for its tag is the implementation's.
        let registry = REGISTRY_TAGS.contains(&tag(&STATE_KINDS, &json["kind"]));
        let tree = if registry { trustmeter_state::Tree::Registry } else { trustmeter_state::Tree::Activity };
        assert_eq!(Some(tree), k.tree(), "{json}");
    }
}
