//! The state and its authenticated commitment.
//!
//! A [`State`] is a snapshot of its [`Store`] at the committed height plus an overlay of the
//! changes since, in a persistent ordered map (`imbl::OrdMap`): cloning a state for a speculative
//! block is O(1), reads look in the overlay then in the store, and nothing is held whole in memory.
//!
//! **Commitment.** Registry entries and activity entries are committed in two Jellyfish Merkle
//! trees (see [`crate::keys`] and [`crate::commit`]); the state root is
//! `H("trustmeter/state-root/v2" ‖ registry_root ‖ activity_root)`. A block costs one tree update
//! per changed entry (about log₁₆ of the state's size in node hashes), whatever the state's size.
//! A [`StateProof`] is an entry and its path's sibling hashes; the registry tree keeps every
//! version, so a meter's record can be proven as of any block ([`State::prove_at`]).

use crate::accounting::{DailyKey, DailyTotal, PointRec};
use crate::commit;
use crate::keys::{KeyRange, Tree};
use crate::restore::Restore;
use crate::store::{CommitBatch, Head, InterimHeight, Snapshot, Store, StoreError, TreeBatch, TreeHeads};
use imbl::OrdMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use trustmeter_crypto::HashAlg;
use trustmeter_policy::Policy;
use trustmeter_types::{
    Account, ChainId, ChainParams, DeviceId, DisclosureRecord, Gateway, Genesis, Grant, GrantScope, Hash32,
    METERS_PER_PROGRESS_CHUNK, Membership, Meter, OrgKind, OrgStatus, Organisation, Proposal, PublicKey,
    UnifiedSocialCreditCode, encode,
};

pub use trustmeter_schema::model::{
    AbsenceProof, CarbonEntryRecord, CarbonPlanRecord, CarbonReportRecord, CertificateClaimRecord, MeterProgress,
    MeterSlot, MethodologyRecord, MonthKindTotal, MonthTotalsRecord, MonthlyReportRecord, PolicyRecord, ProgressChunk,
    QuotaRecord, StateEntry, StateKey, StateProof, StateRoots, StateValue, VerificationRecord, VerificationStatus,
};

impl trustmeter_schema::ProofSource for State {
    fn tip(&self) -> (u64, Hash32) {
        (self.height, self.block_digest)
    }
    fn roots_at(&self, height: u64) -> Option<StateRoots> {
        State::roots_at(self, height)
    }
    fn prove_at(&self, height: u64, key: &StateKey) -> Option<StateProof> {
        State::prove_at(self, height, key).ok().flatten()
    }
    fn prove_absent_at(&self, height: u64, key: &StateKey) -> Option<AbsenceProof> {
        State::prove_absent_at(self, height, key).ok().flatten()
    }
}

/// Reads many meters' progress, keeping the last few chunks it decoded (meters listed in id order
/// mostly share their gateway's chunks), so a pass over all meters decodes each chunk about once.
pub struct ProgressReader<'a> {
    state: &'a State,
    recent: std::collections::VecDeque<((DeviceId, u32), Option<ProgressChunk>)>,
}

impl ProgressReader<'_> {
    /// Chunks kept.
    const KEEP: usize = 16;

    /// The progress of `meter` (as [`State::progress_of`]).
    pub fn get(&mut self, meter: &Meter) -> Option<MeterProgress> {
        let key = (meter.gateway.clone(), meter.slot / METERS_PER_PROGRESS_CHUNK);
        let i = match self.recent.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                if self.recent.len() == Self::KEEP {
                    self.recent.pop_front();
                }
                let c = self.state.progress_chunk(&key.0, key.1);
                self.recent.push_back((key, c));
                self.recent.len() - 1
            }
        };
        self.recent[i].1.as_ref()?.progress_of(meter).cloned()
    }
}

/// The progress chunks a batch of readings touches, read once and written back once
/// ([`ProgressCache::flush`]) instead of once per reading.
#[derive(Default)]
pub(crate) struct ProgressCache {
    chunks: std::collections::BTreeMap<(DeviceId, u32), ProgressChunk>,
}

impl ProgressCache {
    fn chunk<'a>(&'a mut self, state: &State, meter: &Meter) -> &'a mut ProgressChunk {
        let key = (meter.gateway.clone(), meter.slot / METERS_PER_PROGRESS_CHUNK);
        self.chunks.entry(key).or_insert_with_key(|(g, n)| state.progress_chunk(g, *n).unwrap_or_default())
    }

    /// A meter's progress, as last set in this cache or as in `state`.
    pub(crate) fn get(&mut self, state: &State, meter: &Meter) -> Option<MeterProgress> {
        self.chunk(state, meter).progress_of(meter).cloned()
    }

    /// Sets a meter's progress. Its slot exists (assigned at registration); a meter whose slot
    /// does not name it is a broken invariant.
    pub(crate) fn set(&mut self, state: &State, meter: &Meter, p: MeterProgress) {
        let i = (meter.slot % METERS_PER_PROGRESS_CHUNK) as usize;
        let slot = self.chunk(state, meter).meters.get_mut(i);
        let slot = slot.filter(|s| s.meter == meter.id);
        let slot = slot.unwrap_or_else(|| panic!("meter {} has no progress slot {}", meter.id, meter.slot));
        slot.progress = Some(p);
    }

    /// Writes the chunks back into the state.
    pub(crate) fn flush(self, state: &mut State) {
        for ((g, n), c) in self.chunks {
            state.put(StateKey::Progress(g, n), StateValue::Progress(c));
        }
    }
}

/// Why a state could not be opened, committed or proven from.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store holds another chain's state, or data that does not decode.
    #[error("state store is not usable for this chain: {0}")]
    Mismatch(String),
    /// The state's overlay does not start at the store's committed height.
    #[error("state at height {state} cannot be committed on a store at height {store}")]
    NotNext {
        /// Committed height of the store.
        store: u64,
        /// Height of the state.
        state: u64,
    },
    /// The requested height is not committed, or its tree version was pruned.
    #[error("no {tree} tree is kept for height {height}")]
    NotKept {
        /// Height asked for.
        height: u64,
        /// Tree.
        tree: &'static str,
    },
}

/// One changed key in a state's overlay: the height of the block that wrote it and the entry
/// (`None`: deleted).
#[derive(Clone, Debug)]
struct Slot {
    height: u64,
    entry: Option<Arc<(StateKey, StateValue)>>,
}

/// Roots computed by [`State::seal`], with what committing them would write.
#[derive(Debug)]
struct Sealed {
    /// Height the trees were computed against: the store's, or the newest uncommitted ancestor
    /// layer's (see [`State::layers`]).
    base: Option<u64>,
    /// Height of the state that was sealed (its overlay's slots are at or below it).
    height: u64,
    roots: [Hash32; 2],
    batches: [Option<TreeBatch>; 2],
    /// Committed entries after the overlay (both trees).
    entries: u64,
}

static COMMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RESEALED_COMMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Commits in this process, and how many of them had to update the trees again because the
/// state's sealed trees were not computed on the store's head (a diagnostic: with layered
/// sealing the second number stays near zero).
pub fn commit_counts() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (COMMITS.load(Relaxed), RESEALED_COMMITS.load(Relaxed))
}

/// Most uncommitted ancestor layers a state keeps (beyond, it seals against the store alone).
const MAX_LAYERS: usize = 64;

/// A snapshot seen through the sealed trees of uncommitted ancestor blocks (oldest first): the
/// tree heads of the newest, and nodes and registry values from the layers before the store.
/// Only what [`commit::apply`] reads is served from the layers.
struct Layered<'a> {
    snap: &'a dyn Snapshot,
    layers: &'a [Arc<Sealed>],
    /// Per layer and tree: node key → position in that layer's batch.
    index: Vec<[std::collections::HashMap<&'a jmt::storage::NodeKey, usize>; 2]>,
}

impl<'a> Layered<'a> {
    fn new(snap: &'a dyn Snapshot, layers: &'a [Arc<Sealed>]) -> Self {
        let index = layers
            .iter()
            .map(|l| {
                [0, 1].map(|t| {
                    l.batches[t]
                        .as_ref()
                        .map(|b| b.nodes.iter().enumerate().map(|(i, (k, _))| (k, i)).collect())
                        .unwrap_or_default()
                })
            })
            .collect();
        Layered { snap, layers, index }
    }
}

impl Snapshot for Layered<'_> {
    fn head(&self) -> Option<Head> {
        let newest = self.layers.last()?;
        let base = self.snap.head();
        let mut trees = base.as_ref().map_or(TreeHeads::EMPTY, |h| h.trees);
        for l in self.layers {
            for t in 0..2 {
                if let Some(b) = &l.batches[t] {
                    trees.versions[t] = Some(b.version);
                }
            }
        }
        trees.roots = newest.roots;
        Some(Head {
            height: newest.height,
            block_digest: Hash32::ZERO,
            timestamp_ms: 0,
            trees,
            entries: newest.entries,
        })
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.snap.get(key)
    }
    fn range(&self, range: &KeyRange, reverse: bool, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.snap.range(range, reverse, limit)
    }
    fn node(&self, tree: Tree, key: &jmt::storage::NodeKey) -> Option<jmt::storage::Node> {
        let t = tree.index();
        for (l, index) in self.layers.iter().zip(&self.index).rev() {
            if let (Some(b), Some(&i)) = (&l.batches[t], index[t].get(key)) {
                return Some(b.nodes[i].1.clone());
            }
        }
        self.snap.node(tree, key)
    }
    fn registry_value(&self, key_hash: &Hash32, max_version: u64) -> Option<Vec<u8>> {
        let t = Tree::Registry.index();
        for l in self.layers.iter().rev() {
            if let Some(b) = &l.batches[t]
                && b.version <= max_version
                && let Some((_, v)) = b.values.iter().find(|((_, k), _)| k == key_hash)
            {
                return v.clone();
            }
        }
        self.snap.registry_value(key_hash, max_version)
    }
    fn trees_at(&self, height: u64) -> Option<TreeHeads> {
        self.snap.trees_at(height)
    }
    fn restoring(&self) -> Option<TreeHeads> {
        self.snap.restoring()
    }
}

/// One block of a [`State::commit_chain`]: its state, its trees, and the tree versions it writes
/// (`None`: an empty block, which writes none).
struct Planned<'a> {
    state: &'a State,
    trees: TreeHeads,
    batches: Option<[Option<TreeBatch>; 2]>,
}

/// Whether `batches` are the next versions of trees at `versions` (each new version one above).
fn versions_follow(versions: &[Option<u64>; 2], batches: &[Option<TreeBatch>; 2]) -> bool {
    versions.iter().zip(batches).all(|(v, b)| b.as_ref().is_none_or(|b| b.version == v.map_or(0, |v| v + 1)))
}

/// The tree versions after a block that wrote `batches`.
fn advance_versions(versions: &mut [Option<u64>; 2], batches: &[Option<TreeBatch>; 2]) {
    for (v, b) in versions.iter_mut().zip(batches) {
        if let Some(b) = b {
            *v = Some(b.version);
        }
    }
}

/// A committed entry as the store holds it: `(ordered key, borsh(StateEntry))`.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// The replicated state of one chain: a snapshot of its store at the committed height plus the
/// changes since (an overlay). Cloning is O(1) (the overlay is a persistent map), so speculative
/// blocks each get their own state cheaply; reads look in the overlay, then in the snapshot.
#[derive(Clone)]
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
    store: Arc<dyn Store>,
    snap: Arc<dyn Snapshot>,
    overlay: OrdMap<Vec<u8>, Slot>,
    /// Parsed audit policies by version with their effective heights (a cache of the `Policy`
    /// entries: the policy in force is looked up for every reading).
    policies: OrdMap<u32, (u64, Arc<Policy>)>,
    sealed: Option<Arc<Sealed>>,
    /// Sealed trees of the uncommitted ancestor blocks this state extends, oldest first: its own
    /// trees are computed on top of them, so that once its parent is committed the batches it
    /// computed are exactly what its own commit writes (no second tree update per block).
    layers: Vec<Arc<Sealed>>,
    /// The (enterprise, month) pairs whose carbon inputs (daily figures, documented entries,
    /// monitoring plan) the block being executed changed: their results are recomputed at the
    /// end of the block ([`crate::carbon::close_months`]), which empties this.
    pub(crate) carbon_dirty: BTreeMap<UnifiedSocialCreditCode, BTreeSet<u32>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("chain_id", &self.chain_id)
            .field("height", &self.height)
            .field("block_digest", &self.block_digest)
            .field("overlay", &self.overlay.len())
            .finish()
    }
}

/// Entries read per round trip to the store by the iterators.
const SCAN_CHUNK: usize = 1_024;

impl State {
    /// A state of `genesis`'s chain reading `snap` of `store`, at `(height, block digest,
    /// timestamp)`, with nothing in its overlay.
    fn over(genesis: &Genesis, store: Arc<dyn Store>, snap: Arc<dyn Snapshot>, at: (u64, Hash32, i64)) -> Self {
        State {
            chain_id: genesis.chain_id.clone(),
            params: genesis.params.clone(),
            height: at.0,
            block_digest: at.1,
            timestamp_ms: at.2,
            store,
            snap,
            overlay: OrdMap::new(),
            policies: OrdMap::new(),
            sealed: None,
            layers: Vec::new(),
            carbon_dirty: BTreeMap::new(),
        }
    }

    /// The state after the genesis block (the genesis organisations, accounts and default
    /// policy), committed in a fresh in-memory store.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        crate::exec::genesis_block(genesis).1
    }

    /// The genesis entries over an empty `store`, not yet committed (the genesis block commits
    /// them with its digest).
    pub(crate) fn genesis_overlay(genesis: &Genesis, store: Arc<dyn Store>) -> Result<Self, StateError> {
        let snap = store.snapshot();
        if snap.head().is_some() {
            return Err(StateError::Mismatch("the store already holds a state; open it instead".into()));
        }
        let mut s = State::over(genesis, store, snap, (0, Hash32::ZERO, genesis.genesis_time_ms));
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
        for text in trustmeter_carbon::shipped::ALL {
            let m =
                trustmeter_carbon::Methodology::parse(text).expect("shipped methodologies pass their checks (tested)");
            s.install_methodology(methodology_record(&m, text, 0, None));
        }
        for o in &genesis.organisations {
            s.put(StateKey::Organisation(o.id.clone()), StateValue::Organisation(o.clone()));
            let active_accounts = genesis.accounts.iter().filter(|a| a.org == o.id).count() as u32;
            let membership = Membership {
                status: OrgStatus::Active,
                since_ms: genesis.genesis_time_ms,
                reason: String::new(),
                active_accounts,
            };
            s.put(StateKey::Membership(o.id.clone()), StateValue::Membership(membership));
        }
        for a in &genesis.accounts {
            let account = Account { org: a.org.clone(), revoked_at_ms: None };
            s.put(StateKey::Account(a.public_key.clone()), StateValue::Account(account));
        }
        let mut regulators: Vec<_> =
            genesis.organisations.iter().filter(|o| o.kind == OrgKind::Regulator).map(|o| o.id.clone()).collect();
        regulators.sort();
        s.put(StateKey::Regulators, StateValue::Regulators(regulators));
        crate::economy::genesis(&mut s, genesis);
        s.seal();
        Ok(s)
    }

    /// Opens the state committed in `store` for `genesis`'s chain, or writes the genesis state if
    /// the store is empty. The block digest of a committed height comes from the store's head.
    pub fn open(genesis: &Genesis, store: Arc<dyn Store>) -> Result<Self, StateError> {
        if store.snapshot().head().is_none() {
            // an unfinished state sync's pages: useless without their head
            store.abandon_restore()?;
        }
        let snap = store.snapshot();
        let Some(head) = snap.head() else { return Ok(crate::exec::genesis_block_in(genesis, store)?.1) };
        let mut s = State::over(genesis, store, snap, (head.height, head.block_digest, head.timestamp_ms));
        for rec in s.policies().collect::<Vec<_>>() {
            let policy = parsed_policy(&rec.text).map_err(|e| {
                StateError::Mismatch(format!("policy version {} in the store does not parse: {e}", rec.version))
            })?;
            s.policies.insert(rec.version, (rec.effective_height, policy));
        }
        if s.policies.is_empty() {
            return Err(StateError::Mismatch("the store holds no audit policy (not a Trustmeter state?)".into()));
        }
        Ok(s)
    }

    /// A page of the committed entries (every class, derived included) in key order, strictly
    /// after `after`, at most `max_entries` and about `max_bytes`: what a peer serves to a node
    /// syncing this state. The state must be committed (an empty overlay). Returns the raw
    /// `(ordered key, borsh(StateEntry))` pairs and whether more follow.
    pub fn export_page(
        &self,
        after: Option<&[u8]>,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<(Vec<RawEntry>, bool), StateError> {
        if !self.overlay.is_empty() {
            return Err(StateError::Mismatch("only a committed state is exported".into()));
        }
        let lo = after.map_or_else(Vec::new, |a| {
            let mut lo = a.to_vec();
            lo.push(0); // the next key after `after`
            lo
        });
        let page = self.snap.range(&KeyRange { lo, hi: None }, false, max_entries.saturating_add(1));
        let mut out = Vec::with_capacity(page.len().min(max_entries));
        let mut bytes = 0usize;
        for (k, v) in page {
            if out.len() == max_entries || (bytes > 0 && bytes + k.len() + v.len() > max_bytes) {
                return Ok((out, true));
            }
            bytes += k.len() + v.len();
            out.push((k, v));
        }
        Ok((out, false))
    }

    /// Rebuilds, in the empty `store`, the state after the finalized block `header` (digest
    /// `digest`) from `entries` a peer exported ([`State::export_page`], in key order), and
    /// commits it — state sync instead of replaying every block from genesis. A [`Restore`] fed
    /// pages of 4 096 entries: see there for what is checked (every entry under its own key in
    /// strictly ascending order, both trees' roots against the header's state root, the derived
    /// entries' shape); on an error nothing is committed and the store is emptied.
    pub fn restore(
        genesis: &Genesis,
        store: Arc<dyn Store>,
        header: &trustmeter_types::BlockHeader,
        digest: Hash32,
        entries: impl IntoIterator<Item = RawEntry>,
    ) -> Result<State, StateError> {
        let mut r = Restore::begin(genesis, store, header, digest)?;
        let mut page = Vec::new();
        for e in entries {
            page.push(e);
            if page.len() == 4_096 {
                r.add_page(std::mem::take(&mut page))?;
            }
        }
        if !page.is_empty() {
            r.add_page(page)?;
        }
        r.finish()
    }

    /// A read-only view of what `store` holds, committed or restored so far (for a restore's
    /// checks).
    pub(crate) fn restoring_view(genesis: &Genesis, store: Arc<dyn Store>) -> State {
        let snap = store.snapshot();
        State::over(genesis, store, snap, (0, Hash32::ZERO, 0))
    }

    /// The store this state reads from and commits to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Records a change written by the block being executed (height `self.height + 1`; the
    /// genesis entries count as height 1, above the empty store).
    pub(crate) fn put(&mut self, key: StateKey, value: StateValue) {
        debug_assert!(crate::keys::matches(&key, &value), "{key:?} cannot hold {value:?}");
        match &key {
            StateKey::Daily(k) => {
                let (y, m) = trustmeter_energy::calendar::month_of_day(k.day);
                self.carbon_changed(&k.org, (y.max(0) as u32) * 100 + m);
            }
            StateKey::CarbonEntry(org, month, _) | StateKey::CarbonPlan(org, month) => self.carbon_changed(org, *month),
            _ => {}
        }
        self.unseal();
        self.overlay.insert(key.ordered(), Slot { height: self.height + 1, entry: Some(Arc::new((key, value))) });
    }

    /// Notes that a month's carbon inputs of `org` changed in the block being executed.
    fn carbon_changed(&mut self, org: &UnifiedSocialCreditCode, month: u32) {
        match self.carbon_dirty.get_mut(org) {
            Some(months) => {
                months.insert(month);
            }
            None => {
                self.carbon_dirty.insert(org.clone(), BTreeSet::from([month]));
            }
        }
    }

    /// Deletes an entry (derived data, grants and released certificate claims).
    pub(crate) fn delete(&mut self, key: &StateKey) {
        self.unseal();
        self.overlay.insert(key.ordered(), Slot { height: self.height + 1, entry: None });
    }

    /// Forgets this state's sealed trees before a change. Sealed trees that hold uncommitted
    /// work (a speculative block's) become a layer the next seal builds on: the change is at
    /// `self.height + 1`, above every slot they cover (sealed at this height, or at a lower one
    /// with only empty blocks since: nothing changed since they were sealed, or they would have
    /// been forgotten then).
    fn unseal(&mut self) {
        let Some(sealed) = self.sealed.take() else { return };
        let store_height = self.snap.head().map(|h| h.height);
        let uncommitted = store_height.is_none_or(|b| sealed.height > b) && sealed.batches.iter().any(Option::is_some);
        if uncommitted && sealed.height <= self.height && self.layers.len() < MAX_LAYERS {
            self.layers.push(sealed);
        } else if !uncommitted {
            self.layers.clear();
        }
    }

    /// The chain's hash algorithm (from genesis): every hash of chain data uses it.
    pub fn hash_alg(&self) -> HashAlg {
        self.params.hash
    }

    fn decode(key: &[u8], bytes: &[u8]) -> (StateKey, StateValue) {
        // The store holds only what commits wrote; an entry that does not decode is corruption.
        let e: StateEntry = borsh::from_slice(bytes)
            .unwrap_or_else(|err| panic!("state store entry {} does not decode: {err}", hex_prefix(key)));
        debug_assert_eq!(e.key.ordered(), key, "state store entry under the wrong key");
        (e.key, e.value)
    }

    /// The value under `key`.
    pub fn get(&self, key: &StateKey) -> Option<StateValue> {
        let k = key.ordered();
        match self.overlay.get(&k) {
            Some(slot) => slot.entry.as_ref().map(|e| e.1.clone()),
            None => self.snap.get(&k).map(|b| Self::decode(&k, &b).1),
        }
    }

    /// Entries in `range`, in key order (reversed with `reverse`), at most `limit`: the overlay
    /// merged over the snapshot.
    pub fn scan(&self, range: &KeyRange, reverse: bool, limit: usize) -> Vec<(StateKey, StateValue)> {
        use std::ops::Bound;
        let hi = match &range.hi {
            Some(h) => Bound::Excluded(h.clone()),
            None => Bound::Unbounded,
        };
        let over: Vec<(&Vec<u8>, &Slot)> = {
            let it = self.overlay.range((Bound::Included(range.lo.clone()), hi));
            if reverse { it.rev().collect() } else { it.collect() }
        };
        // Each overlay slot in the range can hide at most one snapshot entry.
        let base = self.snap.range(range, reverse, limit.saturating_add(over.len()));
        let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
        let mut out = Vec::with_capacity(limit.min(base.len() + over.len()));
        let (mut i, mut j) = (0, 0);
        while out.len() < limit && (i < base.len() || j < over.len()) {
            let take_base = match (base.get(i), over.get(j)) {
                (Some((bk, _)), Some((ok, _))) => {
                    if bk.as_slice() == ok.as_slice() {
                        i += 1; // shadowed by the overlay
                        false
                    } else {
                        before(bk, ok)
                    }
                }
                (Some(_), None) => true,
                _ => false,
            };
            if take_base {
                let (k, v) = &base[i];
                out.push(Self::decode(k, v));
                i += 1;
            } else {
                let (_, slot) = over[j];
                if let Some(e) = &slot.entry {
                    out.push((e.0.clone(), e.1.clone()));
                }
                j += 1;
            }
        }
        out
    }

    /// Every entry in `range` in key order, read from the store in chunks.
    pub fn iter_range(&self, range: KeyRange) -> impl Iterator<Item = (StateKey, StateValue)> + '_ {
        let mut next = Some(range);
        let mut buf = std::collections::VecDeque::new();
        std::iter::from_fn(move || {
            if buf.is_empty() {
                let r = next.take()?;
                let chunk = self.scan(&r, false, SCAN_CHUNK);
                if chunk.len() == SCAN_CHUNK {
                    let mut lo = chunk.last().expect("full chunk").0.ordered();
                    lo.push(0); // the next key after the last one read
                    next = Some(KeyRange { lo, hi: r.hi });
                }
                buf.extend(chunk);
            }
            buf.pop_front()
        })
    }

    /// Number of committed entries in both trees (derived data not counted).
    pub fn len(&self) -> u64 {
        match &self.sealed {
            Some(s) => s.entries,
            None => self.sealed_now().entries,
        }
    }

    /// Whether the trees hold no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes of the overlay to `tree`, as jmt takes them.
    fn tree_changes(&self, tree: Tree, above: Option<u64>) -> Vec<commit::TreeChange> {
        let alg = self.hash_alg();
        self.overlay
            .values()
            .filter(|s| above.is_none_or(|h| s.height > h))
            .filter_map(|s| {
                let e = s.entry.as_ref()?;
                (e.0.tree() == Some(tree)).then(|| (e.0.key_hash(alg), Some(encode(&e.1))))
            })
            .collect()
    }

    /// Computes the tree roots of this state (and what committing it would write) against its
    /// own snapshot. Idempotent; called at the end of every block.
    pub fn seal(&mut self) {
        if self.sealed.is_none() {
            self.sealed = Some(Arc::new(self.sealed_now()));
        }
    }

    fn sealed_now(&self) -> Sealed {
        // On top of the ancestors' sealed trees when they extend this state's snapshot exactly
        // (each layer's slots directly above the previous one), else on the snapshot alone.
        let snap_height = self.snap.head().map(|h| h.height);
        let layers: &[Arc<Sealed>] = match (self.layers.first(), self.layers.last()) {
            (Some(first), Some(_))
                if first.base == snap_height && self.layers.windows(2).all(|w| w[1].base == Some(w[0].height)) =>
            {
                &self.layers
            }
            _ => &[],
        };
        match layers.last() {
            Some(newest) => {
                let layered = Layered::new(self.snap.as_ref(), layers);
                self.seal_against(&layered, Some(newest.height))
            }
            None => self.seal_against(self.snap.as_ref(), None),
        }
    }

    /// Trees after the overlay's changes above height `above` (all, if `None`) applied on `snap`.
    fn seal_against(&self, snap: &dyn Snapshot, above: Option<u64>) -> Sealed {
        let head = snap.head();
        let heads = head.as_ref().map_or(TreeHeads::EMPTY, |h| h.trees);
        let mut entries = head.as_ref().map_or(0, |h| h.entries) as i64;
        let mut roots = heads.roots;
        let mut batches = [None, None];
        for tree in Tree::ALL {
            let changes = self.tree_changes(tree, above);
            if changes.is_empty() && heads.version(tree).is_some() {
                continue;
            }
            let (root, batch, delta) = commit::apply(self.hash_alg(), snap, tree, changes);
            roots[tree.index()] = root;
            entries += delta;
            batches[tree.index()] = Some(batch);
        }
        Sealed { base: head.map(|h| h.height), height: self.height, roots, batches, entries: entries.max(0) as u64 }
    }

    /// The roots of both trees.
    pub fn roots(&self) -> StateRoots {
        let roots = match &self.sealed {
            Some(s) => s.roots,
            None => self.sealed_now().roots,
        };
        StateRoots { registry: roots[0], activity: roots[1] }
    }

    /// The authenticated state root (over both trees' roots).
    pub fn root(&self) -> Hash32 {
        self.roots().state_root(self.hash_alg())
    }

    /// Writes this state's changes to its store (atomically, durably) and returns the state
    /// re-read from the store, with an empty overlay. The store must be at a height below this
    /// state's and on its chain of blocks: changes of heights it already holds are skipped, so a
    /// state computed speculatively before its parent was committed commits correctly.
    pub fn commit(&self) -> Result<State, StateError> {
        let current = self.store.snapshot();
        let base = current.head().map(|h| h.height);
        if base.is_some_and(|b| b >= self.height) {
            return Err(StateError::NotNext { store: base.unwrap_or(0), state: self.height });
        }
        // The sealed trees are reused only if they were computed on exactly the store's trees: at
        // its height and on its tree versions (a safety net: release builds do not run the
        // comparison below, and reusing a batch computed on other versions would corrupt the tree).
        let versions = current.head().map_or([None, None], |h| h.trees.versions);
        let sealed = match &self.sealed {
            Some(s) if s.base == base && versions_follow(&versions, &s.batches) => s.clone(),
            _ => {
                RESEALED_COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Arc::new(self.seal_against(current.as_ref(), base))
            }
        };
        COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Debug builds (the tests) check that trees sealed on top of ancestor layers are exactly
        // what sealing on the committed store gives.
        #[cfg(debug_assertions)]
        {
            let direct = self.seal_against(current.as_ref(), base);
            assert_eq!(
                (direct.roots, direct.entries),
                (sealed.roots, sealed.entries),
                "height {}: trees sealed on ancestor layers differ from the store's",
                self.height
            );
            for t in 0..2 {
                let keys = |s: &Sealed| {
                    s.batches[t].as_ref().map(|b| {
                        let mut n: Vec<_> = b.nodes.iter().map(|(k, n)| (k.clone(), n.clone())).collect();
                        n.sort_by(|a, b| a.0.cmp(&b.0));
                        let mut st = b.stale.clone();
                        st.sort();
                        (b.version, n, st, b.values.clone())
                    })
                };
                assert!(
                    keys(&direct) == keys(&sealed),
                    "height {}: tree batch {t} differs from the store's",
                    self.height
                );
            }
        }
        let own_roots = self.roots();
        assert_eq!(
            (sealed.roots[0], sealed.roots[1]),
            (own_roots.registry, own_roots.activity),
            "committing height {} on the store at {:?} gives other roots than the state's own: the overlay does not extend the store",
            self.height,
            base
        );
        let values = self.changes_above(base);
        let trees = TreeHeads {
            versions: [0, 1].map(|i| {
                sealed.batches[i].as_ref().map(|b| b.version).or(current.head().and_then(|h| h.trees.versions[i]))
            }),
            roots: sealed.roots,
        };
        let head = Head {
            height: self.height,
            block_digest: self.block_digest,
            timestamp_ms: self.timestamp_ms,
            trees,
            entries: sealed.entries,
        };
        let batches = [sealed.batches[0].clone(), sealed.batches[1].clone()];
        self.store.write(CommitBatch { head, values, trees: batches, interim: Vec::new() })?;
        let snap = self.store.snapshot();
        let sealed = Some(Arc::new(Sealed {
            base: Some(self.height),
            height: self.height,
            roots: sealed.roots,
            batches: [None, None],
            entries: sealed.entries,
        }));
        Ok(State { snap, overlay: OrdMap::new(), sealed, layers: Vec::new(), ..self.clone() })
    }

    /// Commits the finalized states `chain` — consecutive blocks, each state computed from the one
    /// before it, the first from the store's head — in **one** store transaction: the last state's
    /// entries and, for every block, its tree versions and per-height roots exactly as committing
    /// the blocks one by one would write them (proofs at every height stay possible). One
    /// durable write, and one copy of each changed page, instead of one per block: that is what
    /// a node's group commit buys (`App`'s commit policy). States at or below the store's height
    /// are skipped. Each block's trees are the ones its execution sealed on top of its uncommitted
    /// ancestors ([`State::layers`]); where they do not line up with the store (a restart, a
    /// proposal built before its ancestors' trees were known), the blocks that do are committed
    /// together and the rest one at a time. Returns the last state re-read from the store.
    pub fn commit_chain(chain: &[State]) -> Result<State, StateError> {
        let Some(last) = chain.last() else {
            return Err(StateError::Mismatch("an empty chain of states to commit".into()));
        };
        let base = last.store.snapshot().head().map(|h| h.height);
        let chain: Vec<&State> = chain.iter().filter(|s| base.is_none_or(|b| s.height > b)).collect();
        let Some(first) = chain.first() else {
            return Err(StateError::NotNext { store: base.unwrap_or(0), state: last.height });
        };
        for w in chain.windows(2) {
            if w[1].height != w[0].height + 1 {
                return Err(StateError::Mismatch(format!(
                    "states to commit together must be consecutive: {} then {}",
                    w[0].height, w[1].height
                )));
            }
        }
        if base.is_some_and(|b| first.height != b + 1) {
            return Err(StateError::NotNext { store: base.unwrap_or(0), state: first.height });
        }
        // The longest prefix whose sealed trees extend the store, block by block. A block that
        // changed nothing carries its parent's sealed trees (or the committed ones): it adds a
        // height with the same trees and writes no tree version.
        let mut versions = last.store.snapshot().head().map_or([None, None], |h| h.trees.versions);
        let mut sealed_height = base;
        let mut plan: Vec<Planned> = Vec::with_capacity(chain.len());
        for s in &chain {
            let Some(sealed) = &s.sealed else { break };
            if Some(sealed.height) == sealed_height && sealed.height < s.height {
                plan.push(Planned { state: s, trees: TreeHeads { versions, roots: sealed.roots }, batches: None });
                continue;
            }
            let follows = sealed.height == s.height
                && sealed.base == sealed_height
                && versions_follow(&versions, &sealed.batches);
            if !follows {
                break;
            }
            advance_versions(&mut versions, &sealed.batches);
            sealed_height = Some(s.height);
            let trees = TreeHeads { versions, roots: sealed.roots };
            plan.push(Planned { state: s, trees, batches: Some(sealed.batches.clone()) });
        }
        let lined = plan.len();
        let mut committed = match lined {
            0 | 1 => chain[0].commit()?,
            _ => Self::commit_planned(plan)?,
        };
        for s in &chain[lined.max(1)..] {
            committed = s.commit()?;
        }
        Ok(committed)
    }

    /// Writes a [`State::commit_chain`] plan of at least two blocks in one store transaction.
    fn commit_planned(mut plan: Vec<Planned>) -> Result<State, StateError> {
        let last = plan.pop().expect("at least two blocks");
        let current = last.state.store.snapshot();
        let base = current.head().map(|h| h.height);
        let last_sealed = last.state.sealed.clone().expect("planned states are sealed");
        // Debug builds (the tests): the last block's trees, built block by block on the layers,
        // are the trees of all the chain's changes applied to the store at once.
        #[cfg(debug_assertions)]
        {
            let direct = last.state.seal_against(current.as_ref(), base);
            assert_eq!(
                (direct.roots, direct.entries),
                (last_sealed.roots, last_sealed.entries),
                "heights {}..={}: trees sealed block by block differ from the store's",
                plan[0].state.height,
                last.state.height
            );
        }
        COMMITS.fetch_add(plan.len() as u64 + 1, std::sync::atomic::Ordering::Relaxed);
        let interim = plan
            .iter()
            .map(|p| InterimHeight {
                height: p.state.height,
                trees: p.trees,
                batches: p.batches.clone().unwrap_or([None, None]),
            })
            .collect();
        let values = last.state.changes_above(base);
        let head = Head {
            height: last.state.height,
            block_digest: last.state.block_digest,
            timestamp_ms: last.state.timestamp_ms,
            trees: last.trees,
            entries: last_sealed.entries,
        };
        let trees = last.batches.unwrap_or([None, None]);
        last.state.store.write(CommitBatch { head, values, trees, interim })?;
        let snap = last.state.store.snapshot();
        let sealed = Some(Arc::new(Sealed {
            base: Some(last.state.height),
            height: last.state.height,
            roots: last_sealed.roots,
            batches: [None, None],
            entries: last_sealed.entries,
        }));
        Ok(State { snap, overlay: OrdMap::new(), sealed, layers: Vec::new(), ..last.state.clone() })
    }

    /// The overlay's entries changed above the store's height `base` (all, if `None`), as a
    /// commit writes them: ordered key → `borsh(StateEntry)`, `None` to delete.
    fn changes_above(&self, base: Option<u64>) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.overlay
            .iter()
            .filter(|(_, s)| base.is_none_or(|b| s.height > b))
            .map(|(k, s)| {
                let bytes = s.entry.as_ref().map(|e| encode(&StateEntry { key: e.0.clone(), value: e.1.clone() }));
                (k.clone(), bytes)
            })
            .collect()
    }

    /// Whether the block at `height` changed a registry entry (organisations, accounts,
    /// gateways, meters, policies) in this state's overlay. Registry keys sort first, so this
    /// looks only at the overlay's registry slots.
    pub fn changed_registry_at(&self, height: u64) -> bool {
        self.overlay
            .values()
            .map_while(|s| s.entry.as_ref().filter(|e| e.0.tree() == Some(Tree::Registry)).map(|_| s.height))
            .any(|h| h == height)
    }

    /// Entries changed since the committed state (the overlay's size).
    pub fn uncommitted_entries(&self) -> usize {
        self.overlay.len()
    }

    /// Proves the entry under `key` against this state's roots. The state must be committed (an
    /// empty overlay); `None` if the key has no entry or belongs to no tree.
    pub fn prove(&self, key: &StateKey) -> Option<StateProof> {
        if !self.overlay.is_empty() {
            return None;
        }
        let head = self.snap.head()?;
        self.prove_in(&head.trees, key)
    }

    /// Proves the entry under `key` as of block `height` (its post-state): any height for a
    /// registry key, recent heights for an activity key (older activity versions are pruned).
    pub fn prove_at(&self, height: u64, key: &StateKey) -> Result<Option<StateProof>, StateError> {
        let tree = key.tree().ok_or(StateError::NotKept { height, tree: "no" })?;
        let trees = self.snap.trees_at(height).ok_or(StateError::NotKept { height, tree: tree.name() })?;
        Ok(self.prove_in(&trees, key))
    }

    /// The tree roots after block `height`, if the store has them.
    pub fn roots_at(&self, height: u64) -> Option<StateRoots> {
        self.snap.trees_at(height).map(|t| StateRoots { registry: t.roots[0], activity: t.roots[1] })
    }

    fn prove_in(&self, trees: &TreeHeads, key: &StateKey) -> Option<StateProof> {
        let tree = key.tree()?;
        let version = trees.version(tree)?;
        let alg = self.hash_alg();
        let kh = key.key_hash(alg);
        let raw = commit::prove(alg, self.snap.as_ref(), tree, version, &kh)?;
        let (leaf_key, leaf_value) = raw.leaf?;
        if leaf_key != kh {
            return None;
        }
        let value = match tree {
            Tree::Registry => {
                let bytes = self.snap.registry_value(&kh, version)?;
                borsh::from_slice::<StateValue>(&bytes).ok()?
            }
            // Activity values are kept at the head only: a proof at an older height exists when
            // the value has not changed since.
            Tree::Activity => self.get(key)?,
        };
        if trustmeter_crypto::smt::value_hash(alg, &encode(&value)) != leaf_value {
            return None;
        }
        Some(StateProof { entry: StateEntry { key: key.clone(), value }, siblings: raw.siblings })
    }

    /// Proves that `key` has no entry in this (committed) state.
    pub fn prove_absent(&self, key: &StateKey) -> Option<AbsenceProof> {
        if !self.overlay.is_empty() {
            return None;
        }
        let trees = self.snap.head()?.trees;
        self.absent_in(&trees, key)
    }

    /// Proves that `key` had no entry after block `height` (any height for a registry key, recent
    /// heights for an activity key): `Ok(None)` if it had one.
    pub fn prove_absent_at(&self, height: u64, key: &StateKey) -> Result<Option<AbsenceProof>, StateError> {
        let tree = key.tree().ok_or(StateError::NotKept { height, tree: "no" })?;
        let trees = self.snap.trees_at(height).ok_or(StateError::NotKept { height, tree: tree.name() })?;
        Ok(self.absent_in(&trees, key))
    }

    fn absent_in(&self, trees: &TreeHeads, key: &StateKey) -> Option<AbsenceProof> {
        let tree = key.tree()?;
        let version = trees.version(tree)?;
        let alg = self.hash_alg();
        let kh = key.key_hash(alg);
        let raw = commit::prove(alg, self.snap.as_ref(), tree, version, &kh)?;
        if raw.leaf.is_some_and(|(k, _)| k == kh) {
            return None;
        }
        Some(AbsenceProof { key: key.clone(), leaf: raw.leaf, siblings: raw.siblings })
    }

    /// An organisation.
    pub fn organisation(&self, id: &UnifiedSocialCreditCode) -> Option<Organisation> {
        match self.get(&StateKey::Organisation(id.clone())) {
            Some(StateValue::Organisation(o)) => Some(o),
            _ => None,
        }
    }
    /// The organisation of an active (not revoked) account key.
    pub fn account_org(&self, key: &PublicKey) -> Option<UnifiedSocialCreditCode> {
        self.account(key).filter(|a| a.revoked_at_ms.is_none()).map(|a| a.org)
    }
    /// An account key's record, revoked or not.
    pub fn account(&self, key: &PublicKey) -> Option<Account> {
        match self.get(&StateKey::Account(key.clone())) {
            Some(StateValue::Account(a)) => Some(a),
            _ => None,
        }
    }
    /// An organisation's standing.
    pub fn membership(&self, org: &UnifiedSocialCreditCode) -> Option<Membership> {
        match self.get(&StateKey::Membership(org.clone())) {
            Some(StateValue::Membership(m)) => Some(m),
            _ => None,
        }
    }
    /// A membership proposal.
    pub fn proposal(&self, id: &Hash32) -> Option<Proposal> {
        match self.get(&StateKey::Proposal(*id)) {
            Some(StateValue::Proposal(p)) => Some(p),
            _ => None,
        }
    }
    /// The grant of `scope` from `owner` to `grantee`, if one is in force (expired or not: the
    /// reader compares `expires_at_ms` with its time).
    pub fn grant(
        &self,
        owner: &UnifiedSocialCreditCode,
        grantee: &UnifiedSocialCreditCode,
        scope: GrantScope,
    ) -> Option<Grant> {
        match self.get(&StateKey::Grant(owner.clone(), grantee.clone(), scope)) {
            Some(StateValue::Grant(g)) => Some(g),
            _ => None,
        }
    }
    /// Every grant of `owner`, by grantee then scope (at most `MAX_GRANTS_PER_ORG` + 1 read).
    pub fn grants_of(&self, owner: &UnifiedSocialCreditCode) -> Vec<(UnifiedSocialCreditCode, GrantScope, Grant)> {
        let cap = trustmeter_types::limits::MAX_GRANTS_PER_ORG + 1;
        self.iter_range(KeyRange::grants_of(owner))
            .take(cap)
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::Grant(_, grantee, scope), StateValue::Grant(g)) => Some((grantee, scope, g)),
                _ => None,
            })
            .collect()
    }
    /// The grants made to `grantee` (expired or not), by owner then scope: at most `limit`, from
    /// just after `after` (the owner and scope of a previous page's last grant).
    pub fn grants_received(
        &self,
        grantee: &UnifiedSocialCreditCode,
        after: Option<(&UnifiedSocialCreditCode, GrantScope)>,
        limit: usize,
    ) -> Vec<(UnifiedSocialCreditCode, GrantScope, Grant)> {
        self.iter_range(KeyRange::grants_received(grantee, after))
            .take(limit)
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::GrantReceived(_, owner, scope), StateValue::Grant(g)) => Some((owner, scope, g)),
                _ => None,
            })
            .collect()
    }
    /// The disclosure set for exactly `region`, if any (see
    /// `trustmeter_types::membership::enclosing_regions` for those that apply to a region).
    pub fn disclosure(&self, region: u32) -> Option<DisclosureRecord> {
        match self.get(&StateKey::Disclosure(region)) {
            Some(StateValue::Disclosure(d)) => Some(d),
            _ => None,
        }
    }
    /// An organisation's publication of its figures, if any (expired or not).
    pub fn published(&self, org: &UnifiedSocialCreditCode) -> Option<Grant> {
        match self.get(&StateKey::Published(org.clone())) {
            Some(StateValue::Published(g)) => Some(g),
            _ => None,
        }
    }
    pub(crate) fn set_disclosure(&mut self, region: u32, d: DisclosureRecord) {
        self.put(StateKey::Disclosure(region), StateValue::Disclosure(d));
    }
    pub(crate) fn set_published(&mut self, org: &UnifiedSocialCreditCode, g: Option<Grant>) {
        let key = StateKey::Published(org.clone());
        match g {
            Some(g) => self.put(key, StateValue::Published(g)),
            None => self.delete(&key),
        }
    }
    pub(crate) fn set_grant(
        &mut self,
        owner: &UnifiedSocialCreditCode,
        grantee: &UnifiedSocialCreditCode,
        scope: GrantScope,
        grant: Option<Grant>,
    ) {
        let key = StateKey::Grant(owner.clone(), grantee.clone(), scope);
        let received = StateKey::GrantReceived(grantee.clone(), owner.clone(), scope);
        match grant {
            Some(g) => {
                self.put(received, StateValue::Grant(g.clone()));
                self.put(key, StateValue::Grant(g));
            }
            None => {
                self.delete(&received);
                self.delete(&key);
            }
        }
    }
    /// The active regulators, in id order.
    pub fn regulators(&self) -> Vec<UnifiedSocialCreditCode> {
        match self.get(&StateKey::Regulators) {
            Some(StateValue::Regulators(r)) => r,
            _ => vec![],
        }
    }
    /// Last accepted nonce of a sender (0 if none).
    pub fn nonce(&self, key: &PublicKey) -> u64 {
        match self.get(&StateKey::Nonce(key.clone())) {
            Some(StateValue::Nonce(n)) => n,
            _ => 0,
        }
    }
    /// A gateway.
    pub fn gateway(&self, id: &DeviceId) -> Option<Gateway> {
        match self.get(&StateKey::Gateway(id.clone())) {
            Some(StateValue::Gateway(g)) => Some(g),
            _ => None,
        }
    }
    /// A meter.
    pub fn meter(&self, id: &DeviceId) -> Option<Meter> {
        match self.get(&StateKey::Meter(id.clone())) {
            Some(StateValue::Meter(m)) => Some(m),
            _ => None,
        }
    }
    /// A meter's progress (`None` for an unknown meter or one that has recorded nothing).
    pub fn progress(&self, id: &DeviceId) -> Option<MeterProgress> {
        self.meter(id).and_then(|m| self.progress_of(&m))
    }
    /// The progress of a meter whose record the caller holds.
    pub fn progress_of(&self, meter: &Meter) -> Option<MeterProgress> {
        let chunk = self.progress_chunk(&meter.gateway, meter.slot / METERS_PER_PROGRESS_CHUNK)?;
        chunk.progress_of(meter).cloned()
    }
    /// A reader of many meters' progress (see [`ProgressReader`]).
    pub fn progress_reader(&self) -> ProgressReader<'_> {
        ProgressReader { state: self, recent: Default::default() }
    }
    /// Chunk `chunk` of a gateway's meters' progress.
    pub fn progress_chunk(&self, gateway: &DeviceId, chunk: u32) -> Option<ProgressChunk> {
        match self.get(&StateKey::Progress(gateway.clone(), chunk)) {
            Some(StateValue::Progress(c)) => Some(c),
            _ => None,
        }
    }
    /// Whether a key is, or ever was, an account's or a device's key (retired device keys are
    /// never reusable).
    pub fn key_in_use(&self, key: &PublicKey) -> bool {
        self.account(key).is_some() || self.get(&StateKey::KeyUse(key.clone())).is_some()
    }
    /// All gateways, in id order (read from the store in chunks).
    pub fn gateways(&self) -> impl Iterator<Item = Gateway> + '_ {
        self.iter_range(KeyRange::gateways()).filter_map(|(_, v)| match v {
            StateValue::Gateway(g) => Some(g),
            _ => None,
        })
    }
    /// All meters, in id order (read from the store in chunks).
    pub fn meters(&self) -> impl Iterator<Item = Meter> + '_ {
        self.iter_range(KeyRange::meters()).filter_map(|(_, v)| match v {
            StateValue::Meter(m) => Some(m),
            _ => None,
        })
    }
    /// All organisations, in id order.
    pub fn organisations(&self) -> impl Iterator<Item = Organisation> + '_ {
        self.iter_range(KeyRange::organisations()).filter_map(|(_, v)| match v {
            StateValue::Organisation(o) => Some(o),
            _ => None,
        })
    }
    /// At most `limit` entries of `range` whose keys come after `after`, in key order, mapped by
    /// `pick`: one page of a registry listing (a range scan from the cursor, never a walk).
    fn page_after<T>(
        &self,
        mut range: KeyRange,
        after: Option<StateKey>,
        limit: usize,
        pick: impl Fn(StateValue) -> Option<T>,
    ) -> Vec<T> {
        if let Some(a) = after {
            range.lo = a.ordered();
            range.lo.push(0);
        }
        self.scan(&range, false, limit).into_iter().filter_map(|(_, v)| pick(v)).collect()
    }
    /// At most `limit` meters with ids after `after`, in id order: one page of a listing; with
    /// `owner`, only the meters named under its credit code (a range scan of their prefix).
    pub fn meters_after(
        &self,
        owner: Option<&UnifiedSocialCreditCode>,
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Vec<Meter> {
        let range = owner.map_or_else(KeyRange::meters, KeyRange::meters_of);
        self.page_after(range, after.map(|a| StateKey::Meter(a.clone())), limit, |v| match v {
            StateValue::Meter(m) => Some(m),
            _ => None,
        })
    }
    /// At most `limit` gateways with ids after `after`, in id order; with `owner`, only those
    /// named under its credit code.
    pub fn gateways_after(
        &self,
        owner: Option<&UnifiedSocialCreditCode>,
        after: Option<&DeviceId>,
        limit: usize,
    ) -> Vec<Gateway> {
        let range = owner.map_or_else(KeyRange::gateways, KeyRange::gateways_of);
        self.page_after(range, after.map(|a| StateKey::Gateway(a.clone())), limit, |v| match v {
            StateValue::Gateway(g) => Some(g),
            _ => None,
        })
    }
    /// At most `limit` organisations with ids after `after`, in id order.
    pub fn organisations_after(&self, after: Option<&UnifiedSocialCreditCode>, limit: usize) -> Vec<Organisation> {
        self.page_after(KeyRange::organisations(), after.map(|a| StateKey::Organisation(a.clone())), limit, |v| match v
        {
            StateValue::Organisation(o) => Some(o),
            _ => None,
        })
    }

    /// At most `limit` publications of figures (`TxPayload::PublishFigures`; expired ones too),
    /// each with its organisation, of organisations with ids after `after`, in id order.
    pub fn published_after(
        &self,
        after: Option<&UnifiedSocialCreditCode>,
        limit: usize,
    ) -> Vec<(UnifiedSocialCreditCode, Grant)> {
        let mut range = KeyRange::published();
        if let Some(a) = after {
            range.lo = StateKey::Published(a.clone()).ordered();
            range.lo.push(0);
        }
        self.scan(&range, false, limit)
            .into_iter()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::Published(o), StateValue::Published(g)) => Some((o, g)),
                _ => None,
            })
            .collect()
    }

    /// A daily figure.
    pub fn daily(&self, key: &DailyKey) -> Option<DailyTotal> {
        match self.get(&StateKey::Daily(key.clone())) {
            Some(StateValue::Daily(d)) => Some(d),
            _ => None,
        }
    }

    /// The sums of an enterprise's daily figures of `month` (`YYYYMM`), kept at the end of every
    /// block that changed one of them ([`crate::carbon::month_totals`]); `None` for a month with
    /// no daily figure.
    pub fn month_totals(&self, org: &UnifiedSocialCreditCode, month: u32) -> Option<MonthTotalsRecord> {
        match self.get(&StateKey::MonthTotals(org.clone(), month)) {
            Some(StateValue::MonthTotals(r)) => Some(r),
            _ => None,
        }
    }

    /// An enterprise's daily figures for days in `[from_day, to_day]`, in (day, energy, unit) order.
    pub fn daily_range(
        &self,
        org: &UnifiedSocialCreditCode,
        from_day: i32,
        to_day: i32,
    ) -> impl Iterator<Item = (DailyKey, DailyTotal)> + '_ {
        self.iter_range(KeyRange::daily(org, from_day, to_day)).filter_map(|(k, v)| match (k, v) {
            (StateKey::Daily(k), StateValue::Daily(d)) => Some((k, d)),
            _ => None,
        })
    }

    /// An enterprise's monthly report.
    pub fn monthly_report(&self, org: &UnifiedSocialCreditCode, month: u32) -> Option<MonthlyReportRecord> {
        match self.get(&StateKey::MonthlyReport(org.clone(), month)) {
            Some(StateValue::MonthlyReport(r)) => Some(r),
            _ => None,
        }
    }

    /// Every deployed policy version, oldest first.
    pub fn policies(&self) -> impl Iterator<Item = PolicyRecord> + '_ {
        self.iter_range(KeyRange::policies()).filter_map(|(_, v)| match v {
            StateValue::Policy(p) => Some(p),
            _ => None,
        })
    }

    /// The audit policy in force at `height`: the highest version whose effective height has come.
    pub fn policy_at(&self, height: u64) -> (PolicyRecord, Arc<Policy>) {
        let rec = self
            .policies()
            .filter(|p| p.effective_height <= height)
            .max_by_key(|p| p.version)
            .expect("the default policy is installed at genesis with effective height 0");
        let parsed = self.policies.get(&rec.version).expect("every policy entry has its parsed form").1.clone();
        (rec, parsed)
    }

    /// The parsed audit policy in force at `height`, as [`State::policy_at`] finds it, from the
    /// cache alone (no store read).
    pub fn policy_in_force(&self, height: u64) -> Arc<Policy> {
        let (_, (_, policy)) = self
            .policies
            .iter()
            .rev()
            .find(|(_, (effective, _))| *effective <= height)
            .expect("the default policy is installed at genesis with effective height 0");
        policy.clone()
    }

    /// Every deployed carbon methodology version, by id then version, from just after
    /// `(id, version)` if given, at most `limit`.
    pub fn methodologies(&self, after: Option<(&str, u32)>, limit: usize) -> Vec<MethodologyRecord> {
        let mut range = KeyRange::methodologies();
        if let Some((id, v)) = after {
            let mut lo = StateKey::Methodology(id.to_string(), v).ordered();
            lo.push(0);
            range.lo = lo;
        }
        self.scan(&range, false, limit)
            .into_iter()
            .filter_map(|(_, v)| match v {
                StateValue::Methodology(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// One version of a carbon methodology.
    pub fn methodology(&self, id: &str, version: u32) -> Option<MethodologyRecord> {
        match self.get(&StateKey::Methodology(id.to_string(), version)) {
            Some(StateValue::Methodology(m)) => Some(m),
            _ => None,
        }
    }

    /// The version of methodology `id` that applies on `day`: the highest version whose effective
    /// period contains the day.
    pub fn methodology_on(&self, id: &str, day: i32) -> Option<MethodologyRecord> {
        let range = KeyRange::methodology_versions(id);
        self.scan(&range, true, MAX_METHODOLOGY_VERSIONS as usize).into_iter().find_map(|(_, v)| match v {
            StateValue::Methodology(m) if m.effective_from <= day && m.effective_to.is_none_or(|t| day <= t) => Some(m),
            _ => None,
        })
    }

    /// The highest deployed version of methodology `id` (0 if none).
    pub fn latest_methodology_version(&self, id: &str) -> u32 {
        match self.scan(&KeyRange::methodology_versions(id), true, 1).into_iter().next() {
            Some((StateKey::Methodology(_, v), _)) => v,
            _ => 0,
        }
    }

    pub(crate) fn install_methodology(&mut self, rec: MethodologyRecord) {
        self.put(StateKey::Methodology(rec.id.clone(), rec.version), StateValue::Methodology(rec));
    }

    /// The highest deployed version (in force or pending).
    pub fn latest_policy_version(&self) -> u32 {
        self.policies.keys().next_back().copied().unwrap_or(0)
    }

    pub(crate) fn install_policy(&mut self, rec: PolicyRecord, parsed: Arc<Policy>) {
        self.policies.insert(rec.version, (rec.effective_height, parsed));
        self.put(StateKey::Policy(rec.version), StateValue::Policy(rec));
    }

    pub(crate) fn set_monthly_report(&mut self, org: &UnifiedSocialCreditCode, month: u32, r: MonthlyReportRecord) {
        self.put(StateKey::MonthlyReport(org.clone(), month), StateValue::MonthlyReport(r));
    }

    pub(crate) fn set_nonce(&mut self, key: &PublicKey, n: u64) {
        self.put(StateKey::Nonce(key.clone()), StateValue::Nonce(n));
    }
    pub(crate) fn set_gateway(&mut self, g: Gateway) {
        self.note_key(&g.public_key, &g.id);
        for k in &g.retired_keys {
            self.note_key(&k.public_key, &g.id);
        }
        self.put(StateKey::Gateway(g.id.clone()), StateValue::Gateway(g));
    }
    pub(crate) fn set_meter(&mut self, m: Meter) {
        if let Some(k) = &m.public_key {
            self.note_key(k, &m.id);
        }
        for k in &m.retired_keys {
            self.note_key(&k.public_key, &m.id);
        }
        self.put(StateKey::Meter(m.id.clone()), StateValue::Meter(m));
    }
    /// The device that uses, or used, `key` (derived data: every device key ever registered).
    pub fn device_of_key(&self, key: &PublicKey) -> Option<DeviceId> {
        match self.get(&StateKey::KeyUse(key.clone())) {
            Some(StateValue::KeyUse(d)) => Some(d),
            _ => None,
        }
    }
    fn note_key(&mut self, key: &PublicKey, device: &DeviceId) {
        let k = StateKey::KeyUse(key.clone());
        if self.get(&k).is_none() {
            self.put(k, StateValue::KeyUse(device.clone()));
        }
    }
    /// Sets one meter's progress (reading and writing its whole chunk: batches of readings go
    /// through [`ProgressCache`] instead).
    pub(crate) fn set_progress(&mut self, meter: &Meter, p: MeterProgress) {
        let mut cache = ProgressCache::default();
        cache.set(self, meter, p);
        cache.flush(self);
    }
    /// Gives a newly registered meter of `gateway` the next slot: the last chunk's next place, or
    /// the first place of a new chunk.
    pub(crate) fn assign_slot(&mut self, gateway: &DeviceId, meter: &DeviceId) -> u32 {
        let last = self.scan(&KeyRange::progress_chunks(gateway), true, 1).into_iter().next();
        let (number, mut chunk) = match last {
            Some((StateKey::Progress(_, n), StateValue::Progress(c)))
                if (c.meters.len() as u32) < METERS_PER_PROGRESS_CHUNK =>
            {
                (n, c)
            }
            Some((StateKey::Progress(_, n), _)) => (n + 1, ProgressChunk::default()),
            _ => (0, ProgressChunk::default()),
        };
        let slot = number * METERS_PER_PROGRESS_CHUNK + chunk.meters.len() as u32;
        chunk.meters.push(MeterSlot { meter: meter.clone(), progress: None });
        self.put(StateKey::Progress(gateway.clone(), number), StateValue::Progress(chunk));
        slot
    }
    pub(crate) fn set_account(&mut self, key: &PublicKey, account: Account) {
        self.put(StateKey::Account(key.clone()), StateValue::Account(account));
    }
    pub(crate) fn set_membership(&mut self, org: &UnifiedSocialCreditCode, m: Membership) {
        self.put(StateKey::Membership(org.clone()), StateValue::Membership(m));
    }
    pub(crate) fn set_proposal(&mut self, p: Proposal) {
        self.put(StateKey::Proposal(p.id), StateValue::Proposal(p));
    }
    pub(crate) fn set_regulators(&mut self, r: Vec<UnifiedSocialCreditCode>) {
        self.put(StateKey::Regulators, StateValue::Regulators(r));
    }
    pub(crate) fn set_organisation(&mut self, o: Organisation) {
        self.put(StateKey::Organisation(o.id.clone()), StateValue::Organisation(o));
    }

    /// Every entry of the state, committed and derived, in store order.
    pub fn entries(&self) -> impl Iterator<Item = (StateKey, StateValue)> + '_ {
        self.iter_range(KeyRange { lo: vec![], hi: None })
    }

    /// A meter's late-data window: its register points in time order (then arrival order).
    pub fn window_points(&self, meter: &DeviceId) -> Vec<PointRec> {
        let Some(progress) = self.meter(meter).and_then(|m| self.progress_of(&m)) else {
            return vec![];
        };
        crate::accounting::window(self, meter, &progress)
    }
}

pub(crate) fn hex_prefix(key: &[u8]) -> String {
    let n = key.len().min(24);
    format!("{}{}", hex::encode(&key[..n]), if key.len() > n { "…" } else { "" })
}

/// Parsing a policy runs its dry run (milliseconds); opening a state (node start, tools) would
/// repeat it for every policy version. Parsing is a pure function of the text, so a
/// small process-wide cache of parsed documents by text is safe. Bounded: cleared when full.
/// Most versions of one methodology id (a deployment beyond is refused): bounds the scan that
/// finds the version of a day.
pub const MAX_METHODOLOGY_VERSIONS: u32 = 1_000;

/// The state's record of a checked methodology document.
pub(crate) fn methodology_record(
    m: &trustmeter_carbon::Methodology,
    text: &str,
    height: u64,
    by: Option<UnifiedSocialCreditCode>,
) -> MethodologyRecord {
    MethodologyRecord {
        id: m.id.clone(),
        version: m.version,
        title: m.title.clone(),
        text: text.to_string(),
        effective_from: m.effective_from,
        effective_to: m.effective_to,
        deployed_height: height,
        deployed_by: by,
    }
}

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
