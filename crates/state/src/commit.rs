//! The authenticated commitment: two Jellyfish Merkle trees (the `jmt` crate) hashing with the
//! chain's algorithm, their roots, and proofs out of them.
//!
//! Leaves, interior nodes and the empty subtree hash exactly as jmt does (`docs/proof-format.md`
//! spells it out): `leaf = H("JMT::LeafNode" ‖ key_hash ‖ H(value))`,
//! `node = H("JMT::IntrnalNode" ‖ left ‖ right)`, empty = the 32 ASCII bytes
//! `SPARSE_MERKLE_PLACEHOLDER_HASH__`. A key's hash is [`StateKey::key_hash`](crate::StateKey),
//! its value `borsh(StateValue)`. A tree's root depends only on its set of `(key, value)` pairs,
//! never on the order or the versions they were written in.

use crate::keys::Tree;
use crate::store::{Snapshot, TreeBatch, TreeView};
use borsh::BorshDeserialize;
use jmt::{JellyfishMerkleTree, KeyHash, SimpleHasher};
use trustmeter_crypto::{HashAlg, Hasher};
use trustmeter_types::Hash32;

/// jmt's hasher for SHA-256 chains.
pub(crate) struct JmtSha256(Hasher);
/// jmt's hasher for SM3 chains.
pub(crate) struct JmtSm3(Hasher);

impl SimpleHasher for JmtSha256 {
    fn new() -> Self {
        JmtSha256(Hasher::new(HashAlg::Sha256))
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    fn finalize(self) -> [u8; 32] {
        self.0.finalize().0
    }
}

impl SimpleHasher for JmtSm3 {
    fn new() -> Self {
        JmtSm3(Hasher::new(HashAlg::Sm3))
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    fn finalize(self) -> [u8; 32] {
        self.0.finalize().0
    }
}

/// One change to a tree: a key hash and its new value bytes (`None`: deleted).
pub(crate) type TreeChange = (Hash32, Option<Vec<u8>>);

/// The root of `tree` after applying `changes` on top of the snapshot's committed version, and
/// what a commit would write for it. Computes in memory; writes nothing.
/// The third value is the change in the tree's number of leaves.
pub(crate) fn apply(
    alg: HashAlg,
    snap: &dyn Snapshot,
    tree: Tree,
    changes: Vec<TreeChange>,
) -> (Hash32, TreeBatch, i64) {
    match alg {
        HashAlg::Sha256 => apply_with::<JmtSha256>(snap, tree, changes),
        HashAlg::Sm3 => apply_with::<JmtSm3>(snap, tree, changes),
    }
}

fn apply_with<H: SimpleHasher>(snap: &dyn Snapshot, tree: Tree, changes: Vec<TreeChange>) -> (Hash32, TreeBatch, i64) {
    let version = snap.head().and_then(|h| h.trees.version(tree)).map_or(0, |v| v + 1);
    let view = TreeView { snap, tree };
    let jmt = JellyfishMerkleTree::<_, H>::new(&view);
    let set = changes.into_iter().map(|(k, v)| (KeyHash(k.0), v));
    // jmt fails only when the store lacks a node it committed itself: the store is corrupt, and
    // going on would diverge from the other validators.
    let (root, update) = jmt
        .put_value_set(set, version)
        .unwrap_or_else(|e| panic!("state store is missing {} tree nodes below version {version}: {e:#}", tree.name()));
    let batch = &update.node_batch;
    let values = match tree {
        Tree::Registry => batch.values().iter().map(|((v, k), val)| ((*v, Hash32(k.0)), val.clone())).collect(),
        Tree::Activity => vec![],
    };
    let out = TreeBatch {
        version,
        nodes: batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())).collect(),
        values,
        stale: update.stale_node_index_batch.iter().map(|s| (s.stale_since_version, s.node_key.clone())).collect(),
    };
    let delta = update.node_stats.iter().map(|s| s.new_leaves as i64 - s.stale_leaves as i64).sum();
    (Hash32(root.0), out, delta)
}

/// A proof out of one tree at one version: the leaf found on the key's path (if any) and the
/// sibling hashes bottom-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawProof {
    /// `(key hash, value hash)` of the leaf at the end of the path: the key's own leaf for an
    /// inclusion proof, another leaf (or none) for an absence proof.
    pub leaf: Option<(Hash32, Hash32)>,
    /// Sibling hashes, deepest first.
    pub siblings: Vec<Hash32>,
}

/// jmt's proof, as it encodes (borsh): the pinned jmt keeps the fields crate-private, so the
/// proof is read through its canonical encoding (layout checked by the proof tests).
#[derive(BorshDeserialize)]
struct JmtProof {
    leaf: Option<JmtLeaf>,
    siblings: Vec<JmtNode>,
}

#[derive(BorshDeserialize)]
struct JmtLeaf {
    key_hash: [u8; 32],
    value_hash: [u8; 32],
}

#[derive(BorshDeserialize)]
enum JmtNode {
    Null,
    Internal { left: [u8; 32], right: [u8; 32] },
    Leaf(JmtLeaf),
}

/// Proves `key_hash` in `tree` at `version`: `Ok(Some(..))` with the proof (inclusion if the leaf
/// found is the key's own), `Ok(None)` if that version is not kept.
pub(crate) fn prove(
    alg: HashAlg,
    snap: &dyn Snapshot,
    tree: Tree,
    version: u64,
    key_hash: &Hash32,
) -> Option<RawProof> {
    match alg {
        HashAlg::Sha256 => prove_with::<JmtSha256>(alg, snap, tree, version, key_hash),
        HashAlg::Sm3 => prove_with::<JmtSm3>(alg, snap, tree, version, key_hash),
    }
}

fn prove_with<H: SimpleHasher>(
    alg: HashAlg,
    snap: &dyn Snapshot,
    tree: Tree,
    version: u64,
    key_hash: &Hash32,
) -> Option<RawProof> {
    let view = TreeView { snap, tree };
    let jmt = JellyfishMerkleTree::<_, H>::new(&view);
    let (_, proof) = jmt.get_with_proof(KeyHash(key_hash.0), version).ok()?;
    let raw: JmtProof = borsh::from_slice(&borsh::to_vec(&proof).expect("in-memory encoding"))
        .expect("jmt's proof layout is the pinned one");
    let leaf = raw.leaf.map(|l| (Hash32(l.key_hash), Hash32(l.value_hash)));
    let siblings = raw
        .siblings
        .into_iter()
        .map(|n| match n {
            JmtNode::Null => crate::store::EMPTY_TREE_ROOT,
            JmtNode::Internal { left, right } => internal_hash(alg, &Hash32(left), &Hash32(right)),
            JmtNode::Leaf(l) => leaf_hash(alg, &Hash32(l.key_hash), &Hash32(l.value_hash)),
        })
        .collect();
    Some(RawProof { leaf, siblings })
}

// The hashes and the path walk are the embeddable verifier's (`trustmeter_crypto::smt`): one
// definition for the validators, the proof builders and every verifier.
pub use trustmeter_crypto::smt::{MAX_SIBLINGS, common_prefix_bits, internal_hash, leaf_hash, root_from_path};
