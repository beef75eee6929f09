//! Where the state lives: the [`Store`] boundary, the in-memory [`MemStore`], and the Jellyfish
//! Merkle trees (`jmt`) over a store's snapshot.
//!
//! A [`State`](crate::State) is a [`Snapshot`] of a store at its committed height plus an overlay
//! of changes since (speculative blocks, a block being executed). The store holds, durably:
//! - every entry's current value under its ordered key ([`StateKey::ordered`](crate::StateKey));
//! - the nodes of the registry tree (every version) and of the activity tree (recent versions);
//! - every version of every registry value (for proofs of a meter's record as of any block);
//! - per height, the tree versions and roots after that block;
//! - the [`Head`]: height, block digest and time, tree versions and roots, entry count.
//!
//! The state machine computes what a commit writes ([`CommitBatch`], built by
//! [`State::commit`](crate::State::commit)); a store only persists it, atomically. Read errors of
//! a disk store are not recoverable by the state machine (continuing could diverge from the other
//! validators), so a [`Snapshot`] reports none: a disk implementation stops the process instead.

use crate::keys::{KeyRange, Tree};
use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use trustmeter_types::Hash32;

/// The 32 ASCII bytes jmt uses as the hash of an empty subtree (the root of an empty tree).
pub const EMPTY_TREE_ROOT: Hash32 = trustmeter_crypto::smt::PLACEHOLDER;

/// The committed head of a store: what the last commit made durable.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Head {
    /// Height of the last committed block.
    pub height: u64,
    /// Its digest.
    pub block_digest: Hash32,
    /// Its timestamp (Unix ms).
    pub timestamp_ms: i64,
    /// The trees after it.
    pub trees: TreeHeads,
    /// Number of entries in both trees.
    pub entries: u64,
}

/// The versions and roots of both trees after some block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TreeHeads {
    /// Latest version of each tree ([`Tree::index`] order); `None` before its first write.
    pub versions: [Option<u64>; 2],
    /// Root of each tree.
    pub roots: [Hash32; 2],
}

impl TreeHeads {
    /// Two empty trees.
    pub const EMPTY: TreeHeads = TreeHeads { versions: [None, None], roots: [EMPTY_TREE_ROOT, EMPTY_TREE_ROOT] };

    /// Version of `tree`.
    pub fn version(&self, tree: Tree) -> Option<u64> {
        self.versions[tree.index()]
    }
    /// Root of `tree`.
    pub fn root(&self, tree: Tree) -> Hash32 {
        self.roots[tree.index()]
    }
}

/// A value of a tree version: `((version, key hash), encoded value or None if deleted)`.
pub type VersionedValue = ((u64, Hash32), Option<Vec<u8>>);

/// New nodes and values of one tree version, as jmt computed them.
#[derive(Clone, Debug, Default)]
pub struct TreeBatch {
    /// The version written.
    pub version: u64,
    /// New nodes.
    pub nodes: Vec<(NodeKey, Node)>,
    /// Values by `(version, key hash)` (`None`: deleted at that version). Stored for the registry
    /// tree only.
    pub values: Vec<VersionedValue>,
    /// Nodes made stale by this version: `(stale since version, node)`. Used to prune the
    /// activity tree.
    pub stale: Vec<(u64, NodeKey)>,
}

/// Everything one commit writes, atomically.
#[derive(Clone, Debug)]
pub struct CommitBatch {
    /// The new head.
    pub head: Head,
    /// Changed entries: ordered key → `borsh(StateEntry)`, `None` to delete.
    pub values: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// New tree versions ([`Tree::index`] order), for trees that changed.
    pub trees: [Option<TreeBatch>; 2],
    /// The blocks between the committed head and this batch's head when one commit holds several
    /// finalized blocks ([`State::commit_chain`](crate::State::commit_chain)), ascending: each
    /// height with its trees and its new tree versions, written before the head's.
    pub interim: Vec<InterimHeight>,
}

/// One page of a state being restored by state sync ([`crate::state::Restore`]): its entries and
/// the tree versions they made. A restore writes pages with no head (the store reports
/// [`Snapshot::restoring`] meanwhile) and ends with an ordinary [`CommitBatch`] of the synced
/// block's head; a restore left unfinished is wiped ([`Store::abandon_restore`]).
#[derive(Clone, Debug)]
pub struct RestorePage {
    /// Entries: ordered key → `borsh(StateEntry)`.
    pub values: Vec<(Vec<u8>, Vec<u8>)>,
    /// New tree versions ([`Tree::index`] order), for trees the page changed. Their stale nodes
    /// are deleted at once: no height refers to a restore's intermediate versions.
    pub trees: [Option<TreeBatch>; 2],
    /// Both trees' versions and roots after this page.
    pub heads: TreeHeads,
}

/// One block inside a commit of several: its height, its trees after it, and the tree versions
/// it wrote.
#[derive(Clone, Debug)]
pub struct InterimHeight {
    /// The block's height.
    pub height: u64,
    /// Both trees' versions and roots after it.
    pub trees: TreeHeads,
    /// Its new tree versions ([`Tree::index`] order), for trees it changed.
    pub batches: [Option<TreeBatch>; 2],
}

/// A consistent read-only view of a store at one committed height.
pub trait Snapshot: Send + Sync {
    /// The head at this snapshot (`None`: nothing committed yet).
    fn head(&self) -> Option<Head>;
    /// The entry bytes (`borsh(StateEntry)`) under an ordered key.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Entries in `range`, ascending (or descending with `reverse`), at most `limit`.
    fn range(&self, range: &KeyRange, reverse: bool, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// A tree node.
    fn node(&self, tree: Tree, key: &NodeKey) -> Option<Node>;
    /// A registry value as of tree version `max_version`: the latest write at or before it
    /// (`None`: never written, or deleted).
    fn registry_value(&self, key_hash: &Hash32, max_version: u64) -> Option<Vec<u8>>;
    /// Tree versions and roots after block `height` (`None`: not committed here).
    fn trees_at(&self, height: u64) -> Option<TreeHeads>;
    /// The trees of a restore under way (pages written, no head yet; see [`RestorePage`]).
    fn restoring(&self) -> Option<TreeHeads>;
}

/// A durable (or in-memory) home for a chain's state.
pub trait Store: Send + Sync {
    /// A snapshot of the committed state.
    fn snapshot(&self) -> Arc<dyn Snapshot>;
    /// Writes a commit atomically and durably. A batch whose head is not above the committed one
    /// is refused. A commit ends a restore under way.
    fn write(&self, batch: CommitBatch) -> Result<(), StoreError>;
    /// Writes a page of a restore, atomically and durably; refused once a head is committed.
    fn write_restore(&self, page: RestorePage) -> Result<(), StoreError>;
    /// Empties a store holding an unfinished restore (pages, no head); does nothing otherwise.
    fn abandon_restore(&self) -> Result<(), StoreError>;
}

/// Why a store refused or failed a write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The batch does not follow the committed head.
    #[error("commit of height {got} does not follow the committed height {committed}")]
    OutOfOrder {
        /// Height committed.
        committed: u64,
        /// Height of the batch.
        got: u64,
    },
    /// A restore page for a store that already has a committed state.
    #[error("state store at height {0} cannot take a restore")]
    NotEmpty(u64),
    /// The backend failed.
    #[error("state store: {0}")]
    Backend(String),
}

/// A [`Store`] in memory: for tests, tools and one-off computations. Everything is kept (nothing
/// pruned); snapshots copy nothing until the next write (copy on write of the whole maps).
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Arc<MemData>>,
}

#[derive(Clone, Default)]
struct MemData {
    head: Option<Head>,
    values: BTreeMap<Vec<u8>, Vec<u8>>,
    nodes: [HashMap<NodeKey, Node>; 2],
    registry_values: BTreeMap<(Hash32, u64), Option<Vec<u8>>>,
    heights: BTreeMap<u64, TreeHeads>,
    restoring: Option<TreeHeads>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemStore {
    fn snapshot(&self) -> Arc<dyn Snapshot> {
        Arc::new(MemSnapshot(self.inner.read().expect("mem store lock").clone()))
    }

    fn write(&self, batch: CommitBatch) -> Result<(), StoreError> {
        let mut guard = self.inner.write().expect("mem store lock");
        let first = batch.interim.first().map_or(batch.head.height, |i| i.height);
        if let Some(h) = &guard.head
            && first <= h.height
        {
            return Err(StoreError::OutOfOrder { committed: h.height, got: first });
        }
        let data = Arc::make_mut(&mut guard);
        for (k, v) in batch.values {
            match v {
                Some(v) => data.values.insert(k, v),
                None => data.values.remove(&k),
            };
        }
        let heights = batch.interim.iter().map(|i| (i.height, i.trees, &i.batches));
        for (height, trees, batches) in
            heights.chain(std::iter::once((batch.head.height, batch.head.trees, &batch.trees)))
        {
            for tree in Tree::ALL {
                if let Some(tb) = &batches[tree.index()] {
                    data.nodes[tree.index()].extend(tb.nodes.iter().cloned());
                    if tree == Tree::Registry {
                        for ((version, kh), v) in &tb.values {
                            data.registry_values.insert((*kh, *version), v.clone());
                        }
                    }
                }
            }
            data.heights.insert(height, trees);
        }
        data.head = Some(batch.head);
        data.restoring = None;
        Ok(())
    }

    fn write_restore(&self, page: RestorePage) -> Result<(), StoreError> {
        let mut guard = self.inner.write().expect("mem store lock");
        if let Some(h) = &guard.head {
            return Err(StoreError::NotEmpty(h.height));
        }
        let data = Arc::make_mut(&mut guard);
        data.values.extend(page.values);
        for tree in Tree::ALL {
            if let Some(tb) = &page.trees[tree.index()] {
                let nodes = &mut data.nodes[tree.index()];
                for (_, k) in &tb.stale {
                    if k.version() < tb.version {
                        nodes.remove(k);
                    }
                }
                nodes.extend(tb.nodes.iter().cloned());
                if tree == Tree::Registry {
                    for ((version, kh), v) in &tb.values {
                        data.registry_values.insert((*kh, *version), v.clone());
                    }
                }
            }
        }
        data.restoring = Some(page.heads);
        Ok(())
    }

    fn abandon_restore(&self) -> Result<(), StoreError> {
        let mut guard = self.inner.write().expect("mem store lock");
        if guard.head.is_none() && guard.restoring.is_some() {
            *guard = Arc::new(MemData::default());
        }
        Ok(())
    }
}

struct MemSnapshot(Arc<MemData>);

impl Snapshot for MemSnapshot {
    fn head(&self) -> Option<Head> {
        self.0.head.clone()
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.values.get(key).cloned()
    }
    fn range(&self, range: &KeyRange, reverse: bool, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound;
        let hi = match &range.hi {
            Some(h) => Bound::Excluded(h.clone()),
            None => Bound::Unbounded,
        };
        let it = self.0.values.range((Bound::Included(range.lo.clone()), hi));
        let pick = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        if reverse { it.rev().take(limit).map(pick).collect() } else { it.take(limit).map(pick).collect() }
    }
    fn node(&self, tree: Tree, key: &NodeKey) -> Option<Node> {
        self.0.nodes[tree.index()].get(key).cloned()
    }
    fn registry_value(&self, key_hash: &Hash32, max_version: u64) -> Option<Vec<u8>> {
        self.0.registry_values.range((*key_hash, 0)..=(*key_hash, max_version)).next_back().and_then(|(_, v)| v.clone())
    }
    fn trees_at(&self, height: u64) -> Option<TreeHeads> {
        self.0.heights.get(&height).copied()
    }
    fn restoring(&self) -> Option<TreeHeads> {
        self.0.restoring
    }
}

/// jmt's view of one tree of a snapshot.
pub(crate) struct TreeView<'a> {
    pub(crate) snap: &'a dyn Snapshot,
    pub(crate) tree: Tree,
}

impl TreeReader for TreeView<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.snap.node(self.tree, node_key))
    }

    fn get_value_option(&self, max_version: u64, key_hash: jmt::KeyHash) -> anyhow::Result<Option<Vec<u8>>> {
        match self.tree {
            Tree::Registry => Ok(self.snap.registry_value(&Hash32(key_hash.0), max_version)),
            // Only `get_with_proof` asks, for the value of the proven leaf; activity values are
            // read from the entries table instead, so the proof is what matters here.
            Tree::Activity => Ok(Some(vec![])),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("rightmost-leaf queries (jmt restore/migration) are not supported by the state store")
    }
}
