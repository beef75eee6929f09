//! State sync's restore: a peer's exported entries ([`State::export_page`]) written page by page
//! into an empty store, with both trees built as the pages arrive, so a node restores a state of
//! any size in bounded memory.
//!
//! Pages are gathered up to [`FLUSH_ENTRIES`] entries or [`FLUSH_BYTES`], then checked (ascending
//! keys, each entry decodes under its own key) and written in one durable commit with the tree
//! versions their entries make (a restore's own versions, numbered from 0; the nodes they replace
//! are deleted at once, since no height refers to them). Nothing is trusted
//! until the end: the trees' roots must give the synced block's state root, and the derived
//! entries, which are in no tree, must have the shape the committed entries imply (per meter, as
//! many late-window points as its progress counts, the oldest at its recorded time, all within the
//! late window before its latest reading; every key use names a registered device). Only then is
//! the block's head committed. A restore that fails, or is interrupted, leaves a store that
//! [`Store::abandon_restore`] empties (done by [`Restore::begin`] and [`State::open`]).
//!
//! **Cost.** Memory: one page, plus a 16-byte meter-id hash and its window tallies, ~100 bytes per
//! meter with progress or window points (~1 GB at 10⁷ meters). Disk: the entries, and each
//! page's changed tree paths (stale ones deleted as the next pages replace them). Time: one tree
//! update per page of ≤ [`MAX_RESTORE_PAGE`] entries.

use crate::keys::Tree;
use crate::state::{MeterProgress, State, StateEntry, StateError, StateKey, StateRoots, StateValue, hex_prefix};
use crate::store::{CommitBatch, Head, RestorePage, Snapshot, Store, TreeHeads};
use crate::{commit, keys};
use std::collections::HashMap;
use std::sync::Arc;
use trustmeter_crypto::HashAlg;
use trustmeter_types::{BlockHeader, DeviceId, Genesis, Hash32, METERS_PER_PROGRESS_CHUNK, encode};

/// Most entries [`Restore::add_page`] takes at once (a page exported by a peer holds at most
/// 4 096).
pub const MAX_RESTORE_PAGE: usize = 1 << 16;

/// Entries a restore gathers from pages before it writes them, with their tree versions, in one
/// durable commit (unless [`FLUSH_BYTES`] come first): fewer syncs, and each tree path shared by
/// more entries.
pub const FLUSH_ENTRIES: usize = 1 << 16;

/// Bytes of entries a restore gathers before writing them (see [`FLUSH_ENTRIES`]).
pub const FLUSH_BYTES: usize = 16 << 20;

/// What the derived entries of one meter must match.
#[derive(Default)]
struct Window {
    /// From the meter's progress: (window points, oldest point's time, latest reading's time).
    expected: Option<(u64, Option<i64>, i64)>,
    /// Window points seen.
    points: u64,
    /// The oldest point's time.
    oldest_ms: Option<i64>,
    /// The earliest time after the oldest: every point but the oldest is this recent.
    next_ms: Option<i64>,
}

/// A restore under way: [`Restore::begin`], [`Restore::add_page`] for each page in key order,
/// [`Restore::finish`].
pub struct Restore {
    genesis: Genesis,
    store: Arc<dyn Store>,
    header: BlockHeader,
    digest: Hash32,
    alg: HashAlg,
    /// The last key written.
    last: Option<Vec<u8>>,
    /// Both trees after the pages so far.
    heads: TreeHeads,
    /// Leaves of both trees.
    leaves: u64,
    /// Audit policy versions seen.
    policies: u32,
    /// Per meter (by a 16-byte hash of its id): its window's tallies.
    windows: HashMap<[u8; 16], Window>,
    /// Entries received, not yet written, and their bytes.
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    pending_bytes: usize,
    /// Entries written together ([`FLUSH_ENTRIES`]).
    flush_entries: usize,
    /// An error ended the restore (and emptied the store): nothing more is taken.
    failed: bool,
}

impl Restore {
    /// Starts restoring, in `store`, the state after the finalized block `header` (digest
    /// `digest`). The store must hold no committed state; leftovers of an unfinished restore are
    /// removed first.
    pub fn begin(
        genesis: &Genesis,
        store: Arc<dyn Store>,
        header: &BlockHeader,
        digest: Hash32,
    ) -> Result<Self, StateError> {
        if store.snapshot().head().is_some() {
            return Err(StateError::Mismatch("state sync needs an empty state store".into()));
        }
        if header.chain_id != genesis.chain_id || header.height == 0 {
            return Err(StateError::Mismatch(format!(
                "block {} of chain {} is not a sync target for chain {}",
                header.height, header.chain_id, genesis.chain_id
            )));
        }
        store.abandon_restore()?;
        Ok(Restore {
            alg: genesis.params.hash,
            genesis: genesis.clone(),
            store,
            header: header.clone(),
            digest,
            last: None,
            heads: TreeHeads::EMPTY,
            leaves: 0,
            policies: 0,
            windows: HashMap::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            flush_entries: FLUSH_ENTRIES,
            failed: false,
        })
    }

    /// Writes every `entries` entries (at least 1) instead of [`FLUSH_ENTRIES`]: a test's way to
    /// make many small writes, each its own tree version.
    pub fn with_flush_entries(mut self, entries: usize) -> Self {
        self.flush_entries = entries.max(1);
        self
    }

    /// Takes the next page of entries (ascending, after every key before); they are checked and
    /// written once [`FLUSH_ENTRIES`] or [`FLUSH_BYTES`] have gathered (and by
    /// [`Restore::finish`]). On an error the store is emptied and the restore is over.
    pub fn add_page(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StateError> {
        if self.failed {
            return Err(StateError::Mismatch("the restore already failed".into()));
        }
        if entries.len() > MAX_RESTORE_PAGE {
            self.failed = true;
            let _ = self.store.abandon_restore();
            return Err(StateError::Mismatch(format!(
                "a page of {} entries (at most {MAX_RESTORE_PAGE})",
                entries.len()
            )));
        }
        self.pending_bytes += entries.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        self.pending.extend(entries);
        if self.pending.len() < self.flush_entries && self.pending_bytes < FLUSH_BYTES {
            return Ok(());
        }
        self.flush()
    }

    /// Checks and writes the gathered entries.
    fn flush(&mut self) -> Result<(), StateError> {
        let entries = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if entries.is_empty() {
            return Ok(());
        }
        let r = self.write(entries);
        if r.is_err() {
            self.failed = true;
            let _ = self.store.abandon_restore();
        }
        r
    }

    fn write(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StateError> {
        let mut decoded = Vec::with_capacity(entries.len());
        let mut changes: [Vec<commit::TreeChange>; 2] = [Vec::new(), Vec::new()];
        for (k, v) in &entries {
            if self.last.as_ref().is_some_and(|l| l >= k) {
                return Err(StateError::Mismatch(format!("entry {} is out of order", hex_prefix(k))));
            }
            let e: StateEntry = borsh::from_slice(v)
                .map_err(|err| StateError::Mismatch(format!("entry {} does not decode: {err}", hex_prefix(k))))?;
            if e.key.ordered() != *k || !keys::matches(&e.key, &e.value) {
                return Err(StateError::Mismatch(format!("entry {} is not under its own key", hex_prefix(k))));
            }
            if let StateValue::Policy(rec) = &e.value {
                crate::state::parsed_policy(&rec.text).map_err(|err| {
                    StateError::Mismatch(format!("policy version {} does not parse: {err}", rec.version))
                })?;
                self.policies += 1;
            }
            if let Some(tree) = e.key.tree() {
                changes[tree.index()].push((e.key.key_hash(self.alg), Some(encode(&e.value))));
            }
            self.last = Some(k.clone());
            decoded.push(e);
        }
        // Both trees' new versions on top of the pages so far.
        let snap = self.store.snapshot();
        let at = AtRestore { snap: snap.as_ref(), heads: self.heads };
        let mut trees = [None, None];
        for tree in Tree::ALL {
            let changes = std::mem::take(&mut changes[tree.index()]);
            if changes.is_empty() {
                continue;
            }
            let (root, batch, delta) = commit::apply(self.alg, &at, tree, changes);
            self.heads.versions[tree.index()] = Some(batch.version);
            self.heads.roots[tree.index()] = root;
            self.leaves = self.leaves.saturating_add_signed(delta);
            trees[tree.index()] = Some(batch);
        }
        drop(snap);
        self.store.write_restore(RestorePage { values: entries, trees, heads: self.heads })?;
        // Checks that read entries of earlier classes (written before in key order: registry,
        // then activity, then derived), this page's included.
        let view = State::restoring_view(&self.genesis, self.store.clone());
        for e in decoded {
            match (&e.key, &e.value) {
                (StateKey::Progress(g, n), StateValue::Progress(c)) => {
                    for (i, s) in c.meters.iter().enumerate() {
                        let slot = u64::from(*n) * u64::from(METERS_PER_PROGRESS_CHUNK) + i as u64;
                        let named = view.meter(&s.meter).is_some_and(|m| &m.gateway == g && u64::from(m.slot) == slot);
                        if i >= METERS_PER_PROGRESS_CHUNK as usize || !named {
                            return Err(StateError::Mismatch(format!(
                                "progress slot {slot} of gateway {g} names meter {}, whose record does not hold that slot",
                                s.meter
                            )));
                        }
                        if let Some(p) = &s.progress {
                            self.window(&s.meter).expected = Some(expected(p));
                        }
                    }
                }
                (StateKey::Point(m, ts, _), _) => {
                    let w = self.window(m);
                    w.points += 1;
                    match w.oldest_ms {
                        Some(o) if *ts < o => {
                            w.next_ms = Some(o);
                            w.oldest_ms = Some(*ts);
                        }
                        Some(o) if *ts > o => w.next_ms = Some(w.next_ms.map_or(*ts, |n| n.min(*ts))),
                        Some(_) => {}
                        None => w.oldest_ms = Some(*ts),
                    }
                }
                (StateKey::KeyUse(k), StateValue::KeyUse(d))
                    if view.gateway(d).is_none() && view.meter(d).is_none() =>
                {
                    return Err(StateError::Mismatch(format!("key use of {k} names {d}, which is not registered")));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn window(&mut self, meter: &DeviceId) -> &mut Window {
        let h = trustmeter_crypto::hash(HashAlg::Sha256, meter.as_str().as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.0[..16]);
        self.windows.entry(id).or_default()
    }

    /// Checks the whole (roots against the block's state root, derived entries' shape) and
    /// commits the block's head; returns the restored state. On an error the store is emptied.
    pub fn finish(mut self) -> Result<State, StateError> {
        if self.failed {
            return Err(StateError::Mismatch("the restore already failed".into()));
        }
        self.flush()?;
        let store = self.store.clone();
        let r = self.finish_inner();
        if r.is_err() {
            let _ = store.abandon_restore();
        }
        r
    }

    fn finish_inner(self) -> Result<State, StateError> {
        if self.policies == 0 {
            return Err(StateError::Mismatch("the entries hold no audit policy".into()));
        }
        let roots = StateRoots { registry: self.heads.roots[0], activity: self.heads.roots[1] };
        let root = roots.state_root(self.alg);
        if root != self.header.state_root {
            return Err(StateError::Mismatch(format!(
                "the entries give state root {root}, but block {} certifies {}",
                self.header.height, self.header.state_root
            )));
        }
        let params = &self.genesis.params;
        let span = params.accounting.late_window_ms.saturating_add(params.max_future_skew_ms);
        for (id, w) in &self.windows {
            let meter = hex_prefix(id);
            let Some((points, oldest, last)) = w.expected else {
                return Err(StateError::Mismatch(format!(
                    "window entries of a meter (id hash {meter}) that has no progress"
                )));
            };
            if w.points != points || w.oldest_ms != oldest {
                return Err(StateError::Mismatch(format!(
                    "meter (id hash {meter}): {} window points from {:?} do not match its progress ({points} points \
                     from {oldest:?})",
                    w.points, w.oldest_ms
                )));
            }
            // Every point but the oldest lies in the span the window is read from (accounting).
            let recent = last.saturating_sub(span);
            if w.next_ms.is_some_and(|n| n < recent || n > last) || w.oldest_ms.is_some_and(|o| o > last) {
                return Err(StateError::Mismatch(format!(
                    "meter (id hash {meter}): window points outside the late window before its latest reading at {last} ms"
                )));
            }
        }
        self.store.write(CommitBatch {
            head: Head {
                height: self.header.height,
                block_digest: self.digest,
                timestamp_ms: self.header.timestamp_ms,
                trees: self.heads,
                entries: self.leaves,
            },
            values: Vec::new(),
            trees: [None, None],
            interim: Vec::new(),
        })?;
        State::open(&self.genesis, self.store)
    }
}

fn expected(p: &MeterProgress) -> (u64, Option<i64>, i64) {
    let oldest = (p.window_points > 0).then_some(p.window_oldest_ms);
    (u64::from(p.window_points), oldest, p.last_timestamp_ms)
}

/// A store's snapshot as `commit::apply` must see it during a restore: the restore's trees as
/// the head's.
struct AtRestore<'a> {
    snap: &'a dyn Snapshot,
    heads: TreeHeads,
}

impl Snapshot for AtRestore<'_> {
    fn head(&self) -> Option<Head> {
        Some(Head { height: 0, block_digest: Hash32::ZERO, timestamp_ms: 0, trees: self.heads, entries: 0 })
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.snap.get(key)
    }
    fn range(&self, range: &keys::KeyRange, reverse: bool, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.snap.range(range, reverse, limit)
    }
    fn node(&self, tree: Tree, key: &jmt::storage::NodeKey) -> Option<jmt::storage::Node> {
        self.snap.node(tree, key)
    }
    fn registry_value(&self, key_hash: &Hash32, max_version: u64) -> Option<Vec<u8>> {
        self.snap.registry_value(key_hash, max_version)
    }
    fn trees_at(&self, height: u64) -> Option<TreeHeads> {
        self.snap.trees_at(height)
    }
    fn restoring(&self) -> Option<TreeHeads> {
        Some(self.heads)
    }
}
