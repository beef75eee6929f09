//! The state and its authenticated commitment.
//!
//! State lives in persistent ordered maps (`imbl::OrdMap`): cloning a state for a speculative
//! block is O(1), and iteration order is the key order, never a hash order.
//!
//! **Commitment.** Every entry is a [`StateEntry`] `(key, value)`; its leaf is
//! `leaf_hash(encode(entry))`; the state root is the RFC 6962 root over all leaves in key order,
//! both with the chain's hash algorithm (`ChainParams::hash`, SHA-256 or SM3).
//! A [`StateProof`] is an entry, its index, the tree size and the audit path. Leaf hashes are cached
//! per key, so a block costs one hash per changed entry plus one pass over the cached leaves
//! (about 3 interior hashes per meter; ~10 ms for 10 000 meters on one core). Leaf hashes are
//! computed lazily, once per changed entry per block ([`State::seal`]), not once per write.

use crate::accounting::{DailyKey, DailyTotal, PointRec, ReplacementRec};
use borsh::{BorshDeserialize, BorshSerialize};
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trustmeter_crypto::HashAlg;
use trustmeter_crypto::merkle::{self, Tree};
use trustmeter_policy::Policy;
use trustmeter_types::tx::{MeasuredHeatingValue, ProductOutput, ReportedConsumption};
use trustmeter_types::{
    ChainId, ChainParams, DeviceId, Gateway, Genesis, Hash32, Meter, Organisation, PublicKey, UnifiedSocialCreditCode,
    encode,
};

/// How many recent readings per meter are remembered for duplicate detection. A resubmitted
/// reading within this window is acknowledged as a duplicate; an older one is refused as stale.
pub const DUPLICATE_WINDOW: usize = 128;

/// What the chain remembers of a meter's readings.
///
/// The committed part (what the state root covers) is small: the last sequence and timestamp, the
/// count, and `history`, a hash chain over every accepted reading of the meter
/// (`history' = H("trustmeter/meter-history/v1" ‖ history ‖ seq_le ‖ reading_leaf)`, `H` the
/// chain's hash algorithm).
/// The duplicate-detection window `recent` is derived from the same readings, identical on every
/// validator, kept in snapshots, but not re-hashed into the leaf on every update.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MeterProgress {
    /// Highest accepted sequence number.
    pub last_seq: u64,
    /// Timestamp of that reading.
    pub last_timestamp_ms: i64,
    /// Number of readings accepted.
    pub accepted: u64,
    /// Hash chain over all accepted readings, oldest first.
    pub history: Hash32,
    /// `(seq, reading leaf hash)` of the most recent accepted readings, oldest first, at most
    /// [`DUPLICATE_WINDOW`]. Not part of the committed encoding.
    #[borsh(skip)]
    pub recent: Vec<(u64, Hash32)>,
    /// Meter replacements (换表) inside the late window, in time order (committed).
    pub replacements: Vec<ReplacementRec>,
    /// Register points of the late window in time order, at most
    /// [`MAX_WINDOW_POINTS`](crate::accounting::MAX_WINDOW_POINTS): where a late reading lands.
    /// Derived from recorded readings like `recent`; not part of the committed encoding.
    #[borsh(skip)]
    #[serde(skip)]
    pub points: imbl::Vector<PointRec>,
}

impl MeterProgress {
    /// A meter with nothing recorded yet.
    pub fn new() -> Self {
        Self {
            last_seq: 0,
            last_timestamp_ms: 0,
            accepted: 0,
            history: Hash32::ZERO,
            recent: vec![],
            replacements: vec![],
            points: imbl::Vector::new(),
        }
    }
}

impl Default for MeterProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl MeterProgress {
    /// Extends the history chain with one accepted reading.
    pub fn chain(alg: HashAlg, history: &Hash32, seq: u64, leaf: &Hash32) -> Hash32 {
        let mut data = Vec::with_capacity(72);
        data.extend_from_slice(&history.0);
        data.extend_from_slice(&seq.to_le_bytes());
        data.extend_from_slice(&leaf.0);
        trustmeter_crypto::tagged_hash(alg, b"trustmeter/meter-history/v1", &data)
    }
}

/// A key in the state.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum StateKey {
    /// An organisation.
    Organisation(UnifiedSocialCreditCode),
    /// An account key, mapped to its organisation.
    Account(PublicKey),
    /// The last accepted nonce of a sender key.
    Nonce(PublicKey),
    /// A gateway.
    Gateway(DeviceId),
    /// A meter.
    Meter(DeviceId),
    /// A meter's reading progress.
    Progress(DeviceId),
    /// A version of the audit policy.
    Policy(u32),
    /// An enterprise's daily figure for one energy kind.
    Daily(DailyKey),
    /// An enterprise's monthly report (`YYYYMM`).
    MonthlyReport(UnifiedSocialCreditCode, u32),
}

/// A value in the state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum StateValue {
    /// An organisation record.
    Organisation(Organisation),
    /// The organisation an account belongs to.
    Account(UnifiedSocialCreditCode),
    /// A nonce.
    Nonce(u64),
    /// A gateway record.
    Gateway(Gateway),
    /// A meter record.
    Meter(Meter),
    /// A meter's progress.
    Progress(MeterProgress),
    /// A deployed audit policy.
    Policy(PolicyRecord),
    /// A daily figure.
    Daily(DailyTotal),
    /// A monthly report.
    MonthlyReport(MonthlyReportRecord),
}

/// A deployed version of the audit policy (审核规则).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Policy name from the document.
    pub name: String,
    /// Version from the document (strictly increasing across deployments).
    pub version: u32,
    /// The document, verbatim.
    pub text: String,
    /// First height whose readings it audits.
    pub effective_height: u64,
    /// Height of the block that deployed it (0 = the default shipped with genesis).
    pub deployed_height: u64,
    /// The regulator that deployed it (none for the default).
    pub deployed_by: Option<UnifiedSocialCreditCode>,
}

/// An enterprise's monthly report (月报), as last submitted.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MonthlyReportRecord {
    /// Reported consumption per energy kind.
    pub consumption: Vec<ReportedConsumption>,
    /// Production output per product (manual data).
    pub production: Vec<ProductOutput>,
    /// Measured heating values for the month (override the reference coefficients).
    pub heating_values: Vec<MeasuredHeatingValue>,
    /// Height of the block that recorded it (a later report of the same month replaces it).
    pub height: u64,
}

/// One committed `(key, value)` pair: the data of one leaf of the state tree.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct StateEntry {
    /// The key.
    pub key: StateKey,
    /// The value.
    pub value: StateValue,
}

impl StateEntry {
    /// The leaf hash of this entry in the state tree of a chain hashing with `alg`.
    pub fn leaf(&self, alg: HashAlg) -> Hash32 {
        merkle::leaf_hash(alg, &encode(self))
    }
}

/// Proof that an entry is in the state with a given root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// The entry.
    pub entry: StateEntry,
    /// Its position in key order.
    pub index: u64,
    /// Number of entries in the state.
    pub size: u64,
    /// RFC 9162 audit path.
    pub path: Vec<Hash32>,
}

impl StateProof {
    /// Checks the proof against a state root of a chain hashing with `alg`.
    pub fn verify(&self, alg: HashAlg, root: &Hash32) -> bool {
        merkle::verify_inclusion(alg, &self.entry.leaf(alg), self.index, self.size, &self.path, root)
    }
}

/// The replicated state of one chain.
#[derive(Clone, Debug)]
pub struct State {
    /// The chain.
    pub chain_id: ChainId,
    /// Consensus parameters from genesis.
    pub params: ChainParams,
    /// Height of the last applied block.
    pub height: u64,
    /// Digest of the last applied block.
    pub block_digest: Hash32,
    /// Timestamp of the last applied block.
    pub timestamp_ms: i64,
    /// Each value with its leaf hash; `None` until [`State::seal`] hashes it (a value changed
    /// several times in a block is hashed once).
    entries: OrdMap<StateKey, (StateValue, Option<Hash32>)>,
    /// Parsed audit policies by version (a cache of the `Policy` entries, rebuilt on restore).
    policies: OrdMap<u32, Arc<Policy>>,
}

impl State {
    /// The state before block 1: the genesis organisations and accounts.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let mut s = State {
            chain_id: genesis.chain_id.clone(),
            params: genesis.params.clone(),
            height: 0,
            block_digest: Hash32::ZERO,
            timestamp_ms: genesis.genesis_time_ms,
            entries: OrdMap::new(),
            policies: OrdMap::new(),
        };
        let default = Policy::default_audit();
        s.install_policy(
            PolicyRecord {
                name: default.name().to_string(),
                version: default.version(),
                text: default.text().to_string(),
                effective_height: 0,
                deployed_height: 0,
                deployed_by: None,
            },
            Arc::new(default),
        );
        for o in &genesis.organisations {
            s.put(StateKey::Organisation(o.id.clone()), StateValue::Organisation(o.clone()));
        }
        for a in &genesis.accounts {
            s.put(StateKey::Account(a.public_key.clone()), StateValue::Account(a.org.clone()));
        }
        s.seal();
        s
    }

    pub(crate) fn put(&mut self, key: StateKey, value: StateValue) {
        self.entries.insert(key, (value, None));
    }

    /// The chain's hash algorithm (from genesis): every hash of chain data uses it.
    pub fn hash_alg(&self) -> HashAlg {
        self.params.hash
    }

    /// Hashes every entry changed since the last seal, caching the leaf hashes.
    pub fn seal(&mut self) {
        let alg = self.hash_alg();
        let dirty: Vec<StateKey> =
            self.entries.iter().filter(|(_, (_, l))| l.is_none()).map(|(k, _)| k.clone()).collect();
        for k in dirty {
            if let Some((v, l)) = self.entries.get_mut(&k) {
                *l = Some(StateEntry { key: k.clone(), value: v.clone() }.leaf(alg));
            }
        }
    }

    fn leaves(&self) -> Vec<Hash32> {
        let alg = self.hash_alg();
        self.entries
            .iter()
            .map(|(k, (v, l))| l.unwrap_or_else(|| StateEntry { key: k.clone(), value: v.clone() }.leaf(alg)))
            .collect()
    }

    fn get(&self, key: &StateKey) -> Option<&StateValue> {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the state has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The authenticated root over all entries.
    pub fn root(&self) -> Hash32 {
        merkle::root(self.hash_alg(), &self.leaves())
    }

    /// Proves the entry under `key`, if present.
    pub fn prove(&self, key: &StateKey) -> Option<StateProof> {
        let tree = self.tree();
        self.prove_with(&tree, key)
    }

    /// The whole state tree, to serve several proofs at once.
    pub fn tree(&self) -> Tree {
        Tree::new(self.hash_alg(), self.leaves())
    }

    /// Proves `key` with a tree previously built by [`State::tree`] on this same state.
    pub fn prove_with(&self, tree: &Tree, key: &StateKey) -> Option<StateProof> {
        let (value, _) = self.entries.get(key)?;
        let index = self.entries.range(..key.clone()).count() as u64;
        Some(StateProof {
            entry: StateEntry { key: key.clone(), value: value.clone() },
            index,
            size: tree.size(),
            path: tree.proof(index)?,
        })
    }

    /// An organisation.
    pub fn organisation(&self, id: &UnifiedSocialCreditCode) -> Option<&Organisation> {
        match self.get(&StateKey::Organisation(id.clone())) {
            Some(StateValue::Organisation(o)) => Some(o),
            _ => None,
        }
    }
    /// The organisation of an account key.
    pub fn account_org(&self, key: &PublicKey) -> Option<&UnifiedSocialCreditCode> {
        match self.get(&StateKey::Account(key.clone())) {
            Some(StateValue::Account(o)) => Some(o),
            _ => None,
        }
    }
    /// Last accepted nonce of a sender (0 if none).
    pub fn nonce(&self, key: &PublicKey) -> u64 {
        match self.get(&StateKey::Nonce(key.clone())) {
            Some(StateValue::Nonce(n)) => *n,
            _ => 0,
        }
    }
    /// A gateway.
    pub fn gateway(&self, id: &DeviceId) -> Option<&Gateway> {
        match self.get(&StateKey::Gateway(id.clone())) {
            Some(StateValue::Gateway(g)) => Some(g),
            _ => None,
        }
    }
    /// A meter.
    pub fn meter(&self, id: &DeviceId) -> Option<&Meter> {
        match self.get(&StateKey::Meter(id.clone())) {
            Some(StateValue::Meter(m)) => Some(m),
            _ => None,
        }
    }
    /// A meter's progress.
    pub fn progress(&self, id: &DeviceId) -> Option<&MeterProgress> {
        match self.get(&StateKey::Progress(id.clone())) {
            Some(StateValue::Progress(p)) => Some(p),
            _ => None,
        }
    }
    /// Whether a key is in use by an account, a gateway or a meter.
    pub fn key_in_use(&self, key: &PublicKey) -> bool {
        if self.account_org(key).is_some() {
            return true;
        }
        self.entries.iter().any(|(_, (v, _))| match v {
            StateValue::Gateway(g) => g.uses_key(key),
            StateValue::Meter(m) => m.uses_key(key),
            _ => false,
        })
    }
    /// All gateways, in id order.
    pub fn gateways(&self) -> impl Iterator<Item = &Gateway> {
        // Keys sort by variant first: gateways are one contiguous run, and the iteration stops
        // where it ends instead of walking the (much larger) progress and daily entries after it.
        self.entries.iter().skip_while(|(k, _)| !matches!(k, StateKey::Gateway(_))).map_while(|(_, (v, _))| match v {
            StateValue::Gateway(g) => Some(g),
            _ => None,
        })
    }
    /// All meters, in id order.
    pub fn meters(&self) -> impl Iterator<Item = &Meter> {
        // One contiguous run of keys (see `gateways`).
        self.entries.iter().skip_while(|(k, _)| !matches!(k, StateKey::Meter(_))).map_while(|(_, (v, _))| match v {
            StateValue::Meter(m) => Some(m),
            _ => None,
        })
    }
    /// All organisations, in id order.
    pub fn organisations(&self) -> impl Iterator<Item = &Organisation> {
        // The first run of keys (see `gateways`).
        self.entries.iter().map_while(|(_, (v, _))| match v {
            StateValue::Organisation(o) => Some(o),
            _ => None,
        })
    }

    /// A daily figure.
    pub fn daily(&self, key: &DailyKey) -> Option<&DailyTotal> {
        match self.get(&StateKey::Daily(key.clone())) {
            Some(StateValue::Daily(d)) => Some(d),
            _ => None,
        }
    }

    /// An enterprise's daily figures for days in `[from_day, to_day]`, in (day, energy, unit) order.
    pub fn daily_range(
        &self,
        org: &UnifiedSocialCreditCode,
        from_day: i32,
        to_day: i32,
    ) -> impl Iterator<Item = (&DailyKey, &DailyTotal)> {
        let lo = StateKey::Daily(DailyKey {
            org: org.clone(),
            day: from_day,
            energy: trustmeter_types::EnergyKind::ALL[0],
            unit: trustmeter_types::Unit::ALL[0],
        });
        let org = org.clone();
        self.entries.range(lo..).map_while(move |(k, (v, _))| match (k, v) {
            (StateKey::Daily(k), StateValue::Daily(d)) if k.org == org && k.day <= to_day => Some((k, d)),
            _ => None,
        })
    }

    /// An enterprise's monthly report.
    pub fn monthly_report(&self, org: &UnifiedSocialCreditCode, month: u32) -> Option<&MonthlyReportRecord> {
        match self.get(&StateKey::MonthlyReport(org.clone(), month)) {
            Some(StateValue::MonthlyReport(r)) => Some(r),
            _ => None,
        }
    }

    /// Every deployed policy version, oldest first.
    pub fn policies(&self) -> impl Iterator<Item = &PolicyRecord> {
        self.entries.range(StateKey::Policy(0)..=StateKey::Policy(u32::MAX)).filter_map(|(_, (v, _))| match v {
            StateValue::Policy(p) => Some(p),
            _ => None,
        })
    }

    /// The audit policy in force at `height`: the highest version whose effective height has come.
    pub fn policy_at(&self, height: u64) -> (&PolicyRecord, &Arc<Policy>) {
        let rec = self
            .policies()
            .filter(|p| p.effective_height <= height)
            .max_by_key(|p| p.version)
            .expect("the default policy is installed at genesis with effective height 0");
        (rec, self.policies.get(&rec.version).expect("every policy entry has its parsed form"))
    }

    /// The highest deployed version (in force or pending).
    pub fn latest_policy_version(&self) -> u32 {
        self.policies.keys().next_back().copied().unwrap_or(0)
    }

    pub(crate) fn install_policy(&mut self, rec: PolicyRecord, parsed: Arc<Policy>) {
        self.policies.insert(rec.version, parsed);
        self.put(StateKey::Policy(rec.version), StateValue::Policy(rec));
    }

    pub(crate) fn set_monthly_report(&mut self, org: &UnifiedSocialCreditCode, month: u32, r: MonthlyReportRecord) {
        self.put(StateKey::MonthlyReport(org.clone(), month), StateValue::MonthlyReport(r));
    }

    pub(crate) fn set_nonce(&mut self, key: &PublicKey, n: u64) {
        self.put(StateKey::Nonce(key.clone()), StateValue::Nonce(n));
    }
    pub(crate) fn set_gateway(&mut self, g: Gateway) {
        self.put(StateKey::Gateway(g.id.clone()), StateValue::Gateway(g));
    }
    pub(crate) fn set_meter(&mut self, m: Meter) {
        self.put(StateKey::Meter(m.id.clone()), StateValue::Meter(m));
    }
    pub(crate) fn set_progress(&mut self, id: &DeviceId, p: MeterProgress) {
        debug_assert!(p.recent.len() <= DUPLICATE_WINDOW);
        self.put(StateKey::Progress(id.clone()), StateValue::Progress(p));
    }
    pub(crate) fn set_account(&mut self, key: &PublicKey, org: UnifiedSocialCreditCode) {
        self.put(StateKey::Account(key.clone()), StateValue::Account(org));
    }

    /// Canonical encoding of the whole state, for snapshots.
    pub fn snapshot(&self) -> Vec<u8> {
        let entries: Vec<StateEntry> =
            self.entries.iter().map(|(k, (v, _))| StateEntry { key: k.clone(), value: v.clone() }).collect();
        let windows = self
            .entries
            .iter()
            .filter_map(|(k, (v, _))| match (k, v) {
                (StateKey::Progress(id), StateValue::Progress(p)) => {
                    Some((id.clone(), p.recent.clone(), p.points.iter().copied().collect()))
                }
                _ => None,
            })
            .collect();
        encode(&Snapshot {
            windows,
            chain_id: self.chain_id.clone(),
            params: self.params.clone(),
            height: self.height,
            block_digest: self.block_digest,
            timestamp_ms: self.timestamp_ms,
            entries,
        })
    }

    /// Restores a state from [`State::snapshot`] bytes.
    pub fn restore(bytes: &[u8]) -> Result<Self, String> {
        let s: Snapshot = borsh::from_slice(bytes).map_err(|e| format!("state snapshot does not decode: {e}"))?;
        let mut state = State {
            chain_id: s.chain_id,
            params: s.params,
            height: s.height,
            block_digest: s.block_digest,
            timestamp_ms: s.timestamp_ms,
            entries: OrdMap::new(),
            policies: OrdMap::new(),
        };
        let mut windows: std::collections::BTreeMap<DeviceId, MeterWindows> =
            s.windows.into_iter().map(|(id, recent, points)| (id, (recent, points))).collect();
        for mut e in s.entries {
            if let (StateKey::Progress(id), StateValue::Progress(p)) = (&e.key, &mut e.value) {
                let (recent, points) = windows.remove(id).unwrap_or_default();
                p.recent = recent;
                p.points = points.into_iter().collect();
            }
            if let StateValue::Policy(rec) = &e.value {
                let policy = parsed_policy(&rec.text)
                    .map_err(|err| format!("policy version {} in the snapshot does not parse: {err}", rec.version))?;
                state.policies.insert(rec.version, policy);
            }
            state.put(e.key, e.value);
        }
        state.seal();
        Ok(state)
    }
}

/// Parsing a policy runs its dry run (milliseconds); restoring snapshots (node start, proof
/// generation) would repeat it for every snapshot. Parsing is a pure function of the text, so a
/// small process-wide cache of parsed documents by text is safe. Bounded: cleared when full.
pub(crate) fn parsed_policy(text: &str) -> Result<Arc<Policy>, trustmeter_policy::PolicyError> {
    const MAX_CACHED: usize = 64;
    static CACHE: std::sync::LazyLock<std::sync::Mutex<std::collections::BTreeMap<String, Arc<Policy>>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(p) = CACHE.lock().expect("policy cache").get(text) {
        return Ok(p.clone());
    }
    let parsed = Arc::new(Policy::parse(text)?);
    let mut cache = CACHE.lock().expect("policy cache");
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(text.to_string(), parsed.clone());
    Ok(parsed)
}

/// A meter's derived windows in a snapshot: duplicate detection and register points.
type MeterWindows = (DuplicateWindow, PointWindow);

/// A meter's duplicate-detection window in a snapshot: `(seq, reading leaf)`, oldest first.
type DuplicateWindow = Vec<(u64, Hash32)>;

/// A meter's register points in a snapshot, in time order.
type PointWindow = Vec<PointRec>;

#[derive(BorshSerialize, BorshDeserialize)]
struct Snapshot {
    chain_id: ChainId,
    params: ChainParams,
    height: u64,
    block_digest: Hash32,
    timestamp_ms: i64,
    entries: Vec<StateEntry>,
    windows: Vec<(DeviceId, DuplicateWindow, PointWindow)>,
}
