//! Test support shared by `trustmeter-crypto` and `trustmeter-client` tests: the `jmt` crate's
//! Jellyfish Merkle tree over a tiny in-memory store, an SM3 hasher for it, and the conversion of
//! its proofs to plain sibling hashes. Nothing here uses Trustmeter's own SMT code: sibling hashes
//! are computed with the tree's own hasher from the node contents `jmt` serializes, so a test that
//! checks them with `trustmeter_crypto::smt` (or with the independent checker) compares two
//! implementations.

#![allow(dead_code)]

use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeWriter};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, SimpleHasher, Version};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// SM3 (GB/T 32905) as a `jmt` hasher.
pub struct Sm3Hasher(sm3::Sm3);

impl SimpleHasher for Sm3Hasher {
    fn new() -> Self {
        Sm3Hasher(<sm3::Sm3 as sm3::Digest>::new())
    }
    fn update(&mut self, data: &[u8]) {
        sm3::Digest::update(&mut self.0, data);
    }
    fn finalize(self) -> [u8; 32] {
        sm3::Digest::finalize(self.0).into()
    }
}

impl std::fmt::Debug for Sm3Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm3Hasher")
    }
}

/// SHA-256 through `jmt`'s own `sha2` dependency (another SHA-256 implementation than ours).
pub type Sha256Hasher = sha2_010::Sha256;

#[derive(Default)]
struct Inner {
    nodes: HashMap<NodeKey, Node>,
    values: BTreeMap<KeyHash, Vec<(Version, Option<OwnedValue>)>>,
}

/// Every node and value version ever written, in memory (no pruning: old versions stay provable).
#[derive(Default)]
pub struct MemStore(Mutex<Inner>);

impl TreeReader for MemStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.0.lock().unwrap().nodes.get(node_key).cloned())
    }
    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        let inner = self.0.lock().unwrap();
        Ok(inner
            .values
            .get(&key_hash)
            .and_then(|h| h.iter().rev().find(|(v, _)| *v <= max_version))
            .and_then(|(_, value)| value.clone()))
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let inner = self.0.lock().unwrap();
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (k, n) in &inner.nodes {
            if let Node::Leaf(l) = n
                && best.as_ref().is_none_or(|(_, b)| l.key_hash() > b.key_hash())
            {
                best = Some((k.clone(), l.clone()));
            }
        }
        Ok(best)
    }
}

impl TreeWriter for MemStore {
    fn write_node_batch(&self, batch: &NodeBatch) -> anyhow::Result<()> {
        let mut inner = self.0.lock().unwrap();
        for (k, n) in batch.nodes() {
            inner.nodes.insert(k.clone(), n.clone());
        }
        for ((version, key), value) in batch.values() {
            let history = inner.values.entry(*key).or_default();
            match history.last_mut() {
                Some((v, last)) if v == version => *last = value.clone(),
                _ => history.push((*version, value.clone())),
            }
        }
        Ok(())
    }
}

/// The key hashes on either side of an absent key, `(left, right)`.
pub type Neighbours = (Option<[u8; 32]>, Option<[u8; 32]>);

/// A versioned tree over a [`MemStore`].
pub struct Tree<H: SimpleHasher> {
    /// The store.
    pub store: MemStore,
    /// Root of each version written.
    pub roots: Vec<[u8; 32]>,
    _h: std::marker::PhantomData<H>,
}

impl<H: SimpleHasher> Default for Tree<H> {
    fn default() -> Self {
        Tree { store: MemStore::default(), roots: vec![], _h: std::marker::PhantomData }
    }
}

/// A `jmt` proof as plain data: the leaf it ends at (if any) and the sibling hashes, bottom-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainProof {
    /// `(key_hash, value_hash)` of the leaf where the path ends, or `None` for an empty subtree.
    pub leaf: Option<([u8; 32], [u8; 32])>,
    /// Sibling hashes, `siblings[0]` the deepest.
    pub siblings: Vec<[u8; 32]>,
}

impl<H: SimpleHasher> Tree<H> {
    /// Writes the next version: `Some(value)` sets a key, `None` deletes it. Returns its root.
    pub fn put(&mut self, changes: Vec<([u8; 32], Option<Vec<u8>>)>) -> [u8; 32] {
        let version = self.roots.len() as Version;
        let jmt = JellyfishMerkleTree::<_, H>::new(&self.store);
        let (root, batch) =
            jmt.put_value_set(changes.into_iter().map(|(k, v)| (KeyHash(k), v)), version).expect("jmt update");
        self.store.write_node_batch(&batch.node_batch).expect("in-memory write");
        self.roots.push(root.0);
        root.0
    }

    /// The value under `key` at `version` and the proof of it (or of its absence).
    pub fn prove(&self, key: [u8; 32], version: Version) -> (Option<Vec<u8>>, PlainProof) {
        let jmt = JellyfishMerkleTree::<_, H>::new(&self.store);
        let (value, proof) = jmt.get_with_proof(KeyHash(key), version).expect("jmt proof");
        // jmt's own check, so the conversion below starts from a proof jmt itself accepts.
        let root = RootHash(self.roots[version as usize]);
        match &value {
            Some(v) => proof.verify_existence(root, KeyHash(key), v).expect("jmt accepts its inclusion proof"),
            None => proof.verify_nonexistence(root, KeyHash(key)).expect("jmt accepts its exclusion proof"),
        }
        (value, plain::<H>(&borsh::to_vec(&proof).expect("borsh")))
    }

    /// `jmt`'s exclusion proof of an absent key (`get_with_exclusion_proof`): the key hashes of
    /// its neighbours in key-hash order, `(left, right)`, one of them `None` at the ends; `None`
    /// if the key is present. (`jmt` does not export the `ExclusionProof` type, only its `Debug`
    /// form, which names each neighbour proof and its leaf.)
    pub fn neighbours(&self, key: [u8; 32], version: Version) -> Option<Neighbours>
    where
        H: std::fmt::Debug,
    {
        let jmt = JellyfishMerkleTree::<_, H>::new(&self.store);
        let proof = match jmt.get_with_exclusion_proof(KeyHash(key), version).expect("jmt exclusion proof") {
            Ok(_) => return None,
            Err(p) => format!("{p:?}"),
        };
        let leaf_of = |field: &str| {
            let marker =
                format!("{field}: SparseMerkleProof {{ leaf: Some(SparseMerkleLeafNode {{ key_hash: KeyHash(\"");
            proof.find(&marker).map(|i| {
                let hex_start = i + marker.len();
                <[u8; 32]>::try_from(hex::decode(&proof[hex_start..hex_start + 64]).expect("hex")).unwrap()
            })
        };
        Some((leaf_of("rightmost_left_proof"), leaf_of("leftmost_right_proof")))
    }
}

fn hash_parts<H: SimpleHasher>(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = H::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Decodes the borsh form of `jmt::proof::SparseMerkleProof` (its fields are private):
/// `Option<(key_hash, value_hash)> leaf ‖ Vec<SparseMerkleNode> siblings`, a sibling being
/// `0` (empty), `1 ‖ left ‖ right` (internal node) or `2 ‖ key_hash ‖ value_hash` (leaf).
fn plain<H: SimpleHasher>(bytes: &[u8]) -> PlainProof {
    let mut pos = 0;
    let mut take = |n: usize| {
        let s = &bytes[pos..pos + n];
        pos += n;
        s
    };
    let h32 = |s: &[u8]| <[u8; 32]>::try_from(s).unwrap();
    let leaf = match take(1)[0] {
        0 => None,
        1 => Some((h32(take(32)), h32(take(32)))),
        t => panic!("option tag {t}"),
    };
    let n = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    let mut siblings = Vec::with_capacity(n);
    for _ in 0..n {
        siblings.push(match take(1)[0] {
            0 => *b"SPARSE_MERKLE_PLACEHOLDER_HASH__",
            1 => {
                let (l, r) = (take(32).to_vec(), take(32).to_vec());
                hash_parts::<H>(&[b"JMT::IntrnalNode", &l, &r])
            }
            2 => {
                let (k, v) = (take(32).to_vec(), take(32).to_vec());
                hash_parts::<H>(&[b"JMT::LeafNode", &k, &v])
            }
            t => panic!("sibling tag {t}"),
        });
    }
    assert_eq!(pos, bytes.len(), "trailing bytes in a jmt proof");
    PlainProof { leaf, siblings }
}

/// A deterministic stream of 32-byte values (SHA-256 in counter mode over a label), so the trees
/// are random but the same on every run.
pub struct Stream {
    label: Vec<u8>,
    counter: u64,
}

impl Stream {
    /// A stream named `label`.
    pub fn new(label: &str) -> Self {
        Stream { label: label.as_bytes().to_vec(), counter: 0 }
    }
    /// The next 32 bytes.
    pub fn next32(&mut self) -> [u8; 32] {
        self.counter += 1;
        hash_parts::<Sha256Hasher>(&[&self.label, &self.counter.to_le_bytes()])
    }
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        u64::from_le_bytes(self.next32()[..8].try_into().unwrap()) % n
    }
}
