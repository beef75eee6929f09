//! Verification of sparse Merkle tree proofs: the state commitment of `trustmeter-proof/v2`.
//!
//! The state is two binary sparse Merkle trees of depth 256 in the layout of the Jellyfish Merkle
//! tree (`jmt` crate 0.12): the **registry** tree (organisations, accounts, gateways, meters,
//! policies) and the **activity** tree (nonces, meter progress, daily figures, monthly reports).
//! The block header commits to both through [`state_root`]. This module only *checks* proofs: it
//! is pure (no I/O, no storage, no allocation beyond the caller's slices), so a gateway, a
//! browser or an auditor's tool can embed it. `docs/proof-format.md` specifies the same rules for
//! independent implementations.
//!
//! With `H` the chain's hash algorithm ([`HashAlg`]) and `‖` concatenation:
//!
//! - key hash: `H("trustmeter/state-key/v2" ‖ encoded_key)` ([`key_hash`]);
//! - value hash: `H(encoded_value)` ([`value_hash`]);
//! - leaf: `H("JMT::LeafNode" ‖ key_hash ‖ value_hash)` ([`leaf_hash`]);
//! - internal node: `H("JMT::IntrnalNode" ‖ left ‖ right)` ([`internal_hash`]);
//! - empty subtree: the 32 ASCII bytes `SPARSE_MERKLE_PLACEHOLDER_HASH__` ([`PLACEHOLDER`]).
//!
//! A key's position is its key hash read as a path of 256 bits from the root, most significant
//! bit of byte 0 first (bit 1 = right). A subtree holding a single leaf is that leaf's hash (the
//! leaf sits as high as it can), so a proof has as many siblings as its leaf is deep, at most 256.
//! `siblings` are ordered **bottom-up**: `siblings[0]` is the sibling of the deepest node.

use crate::hash::{HashAlg, Hasher, tagged_hash};
use trustmeter_types::Hash32;

/// Domain of key hashes: `key_hash = H(STATE_KEY_DOMAIN ‖ encoded_key)`.
pub const STATE_KEY_DOMAIN: &[u8] = b"trustmeter/state-key/v2";
/// Domain of the combined state root: `H(STATE_ROOT_DOMAIN ‖ registry_root ‖ activity_root)`.
pub const STATE_ROOT_DOMAIN: &[u8] = b"trustmeter/state-root/v2";
/// Prefix of a leaf's preimage (the Jellyfish Merkle tree's leaf domain separator).
pub const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
/// Prefix of an internal node's preimage (the Jellyfish Merkle tree's spelling, without the `e`).
pub const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree (and the root of an empty tree): 32 ASCII bytes, not a digest.
pub const PLACEHOLDER: Hash32 = Hash32(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
/// Most siblings a proof may have: the tree's depth.
pub const MAX_SIBLINGS: usize = 256;

/// The key hash (position in the tree) of a canonically encoded state key.
pub fn key_hash(alg: HashAlg, encoded_key: &[u8]) -> Hash32 {
    tagged_hash(alg, STATE_KEY_DOMAIN, encoded_key)
}

/// The value hash of a canonically encoded state value: plain `H(encoded_value)`.
pub fn value_hash(alg: HashAlg, encoded_value: &[u8]) -> Hash32 {
    crate::hash::hash(alg, encoded_value)
}

/// The hash of a leaf holding `value_hash` under `key_hash`.
pub fn leaf_hash(alg: HashAlg, key_hash: &Hash32, value_hash: &Hash32) -> Hash32 {
    let mut h = Hasher::new(alg);
    h.update(LEAF_DOMAIN);
    h.update(&key_hash.0);
    h.update(&value_hash.0);
    h.finalize()
}

/// The hash of an internal node with children `left` and `right`.
pub fn internal_hash(alg: HashAlg, left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Hasher::new(alg);
    h.update(INTERNAL_DOMAIN);
    h.update(&left.0);
    h.update(&right.0);
    h.finalize()
}

/// The combined state root a block header commits to.
pub fn state_root(alg: HashAlg, registry_root: &Hash32, activity_root: &Hash32) -> Hash32 {
    let mut data = [0u8; 64];
    data[..32].copy_from_slice(&registry_root.0);
    data[32..].copy_from_slice(&activity_root.0);
    tagged_hash(alg, STATE_ROOT_DOMAIN, &data)
}

/// Bit `depth` of a key hash (0 = most significant bit of byte 0): `true` means "right".
///
/// # Panics
/// If `depth >= 256`.
pub fn bit(key_hash: &Hash32, depth: usize) -> bool {
    (key_hash.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// Number of leading bits two key hashes share (256 when equal).
pub fn common_prefix_bits(a: &Hash32, b: &Hash32) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        let diff = x ^ y;
        if diff != 0 {
            return i * 8 + diff.leading_zeros() as usize;
        }
    }
    256
}

/// The root obtained by hashing `start`, the node at depth `siblings.len()` on the path of
/// `key_hash`, up with `siblings` (bottom-up). `None` if there are more than [`MAX_SIBLINGS`].
pub fn root_from_path(alg: HashAlg, key_hash: &Hash32, start: Hash32, siblings: &[Hash32]) -> Option<Hash32> {
    if siblings.len() > MAX_SIBLINGS {
        return None;
    }
    let len = siblings.len();
    let mut current = start;
    for (i, sibling) in siblings.iter().enumerate() {
        let depth = len - 1 - i;
        current = if bit(key_hash, depth) {
            internal_hash(alg, sibling, &current)
        } else {
            internal_hash(alg, &current, sibling)
        };
    }
    Some(current)
}

/// Whether `siblings` prove that the tree with `root` holds `value_hash` under `key_hash`.
pub fn verify_inclusion(
    alg: HashAlg,
    root: &Hash32,
    key_hash: &Hash32,
    value_hash: &Hash32,
    siblings: &[Hash32],
) -> bool {
    root_from_path(alg, key_hash, leaf_hash(alg, key_hash, value_hash), siblings).is_some_and(|r| &r == root)
}

/// Whether `siblings` prove that the tree with `root` holds nothing under `key_hash`.
///
/// The proof ends where the absent key's path ends: at depth `siblings.len()` there is either an
/// empty subtree (`leaf` is `None`: the placeholder) or a single other leaf `(key_hash,
/// value_hash)` whose key hash differs from `key_hash` but shares at least `siblings.len()`
/// leading bits with it (so the absent key would have been in that leaf's subtree, which holds
/// only that leaf).
pub fn verify_exclusion(
    alg: HashAlg,
    root: &Hash32,
    key_hash: &Hash32,
    leaf: Option<(Hash32, Hash32)>,
    siblings: &[Hash32],
) -> bool {
    let start = match leaf {
        None => PLACEHOLDER,
        Some((other, other_value)) => {
            if &other == key_hash || common_prefix_bits(&other, key_hash) < siblings.len() {
                return false;
            }
            leaf_hash(alg, &other, &other_value)
        }
    };
    root_from_path(alg, key_hash, start, siblings).is_some_and(|r| &r == root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> Hash32 {
        Hash32([b; 32])
    }

    #[test]
    fn constants_are_the_documented_bytes() {
        assert_eq!(PLACEHOLDER.0.len(), 32);
        assert_eq!(&PLACEHOLDER.0, b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
        assert_eq!(LEAF_DOMAIN.len(), 13);
        assert_eq!(INTERNAL_DOMAIN.len(), 16);
    }

    #[test]
    fn hashes_are_the_documented_concatenations() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let cat = |parts: &[&[u8]]| crate::hash::hash(alg, &parts.concat());
            assert_eq!(key_hash(alg, b"k"), cat(&[b"trustmeter/state-key/v2", b"k"]));
            assert_eq!(value_hash(alg, b"v"), cat(&[b"v"]));
            assert_eq!(leaf_hash(alg, &h(1), &h(2)), cat(&[b"JMT::LeafNode", &[1; 32], &[2; 32]]));
            assert_eq!(internal_hash(alg, &h(1), &h(2)), cat(&[b"JMT::IntrnalNode", &[1; 32], &[2; 32]]));
            assert_eq!(state_root(alg, &h(3), &h(4)), cat(&[b"trustmeter/state-root/v2", &[3; 32], &[4; 32]]));
        }
    }

    #[test]
    fn bits_are_most_significant_first() {
        let mut k = Hash32::ZERO;
        k.0[0] = 0b1000_0000;
        k.0[1] = 0b0000_0001;
        assert!(bit(&k, 0));
        assert!(!bit(&k, 1));
        assert!(bit(&k, 15));
        assert!(!bit(&k, 255));
        assert_eq!(common_prefix_bits(&k, &Hash32::ZERO), 0);
        assert_eq!(common_prefix_bits(&k, &k), 256);
        let mut j = k;
        j.0[1] = 0;
        assert_eq!(common_prefix_bits(&k, &j), 15);
    }

    /// A tree of two leaves whose key hashes differ first at bit 2, computed by hand: below the
    /// root, bits 0 and 1 (both 0) lead left past empty right siblings, then the leaves split.
    #[test]
    fn hand_computed_two_leaf_tree() {
        let alg = HashAlg::Sha256;
        let a = Hash32([0b0000_0000; 32]);
        let mut b = a;
        b.0[0] = 0b0010_0000;
        let (va, vb) = (value_hash(alg, b"a"), value_hash(alg, b"b"));
        let (la, lb) = (leaf_hash(alg, &a, &va), leaf_hash(alg, &b, &vb));
        let split = internal_hash(alg, &la, &lb); // depth 2
        let d1 = internal_hash(alg, &split, &PLACEHOLDER); // depth 1
        let root = internal_hash(alg, &d1, &PLACEHOLDER); // depth 0
        let path_a = [lb, PLACEHOLDER, PLACEHOLDER];
        let path_b = [la, PLACEHOLDER, PLACEHOLDER];
        assert!(verify_inclusion(alg, &root, &a, &va, &path_a));
        assert!(verify_inclusion(alg, &root, &b, &vb, &path_b));
        assert!(!verify_inclusion(alg, &root, &a, &vb, &path_a), "wrong value");
        assert!(!verify_inclusion(alg, &root, &b, &vb, &path_a), "wrong path");
        assert!(!verify_inclusion(alg, &root, &a, &va, &path_a[..2]), "missing sibling");
        assert!(!verify_inclusion(alg, &root, &a, &va, &[lb, PLACEHOLDER, PLACEHOLDER, PLACEHOLDER]));
        assert!(!verify_inclusion(HashAlg::Sm3, &root, &a, &va, &path_a), "other algorithm");

        // Absent keys: one under the empty right subtree at depth 1 (bit 0 = 0, bit 1 = 1), one
        // whose path ends at leaf `a` (shares the first three bits with it).
        let mut empty = a;
        empty.0[0] = 0b0100_0000;
        assert!(verify_exclusion(alg, &root, &empty, None, &[split, PLACEHOLDER]));
        assert!(!verify_exclusion(alg, &root, &empty, None, &[split]), "too short");
        let mut near_a = a;
        near_a.0[31] = 1;
        assert!(verify_exclusion(alg, &root, &near_a, Some((a, va)), &path_a));
        assert!(!verify_exclusion(alg, &root, &a, Some((a, va)), &path_a), "a present key");
        assert!(!verify_exclusion(alg, &root, &b, Some((a, va)), &path_a), "b does not share a's path");
        assert!(!verify_exclusion(alg, &root, &near_a, None, &path_a), "not empty there");

        // A one-leaf tree is the leaf itself; the empty tree is the placeholder.
        assert!(verify_inclusion(alg, &la, &a, &va, &[]));
        assert!(verify_exclusion(alg, &la, &b, Some((a, va)), &[]));
        assert!(verify_exclusion(alg, &PLACEHOLDER, &a, None, &[]));
        assert!(!verify_exclusion(alg, &PLACEHOLDER, &a, Some((b, vb)), &[]));
    }

    #[test]
    fn more_than_256_siblings_are_refused() {
        let alg = HashAlg::Sha256;
        let k = h(7);
        let v = value_hash(alg, b"x");
        let siblings = vec![PLACEHOLDER; 257];
        let root = root_from_path(alg, &k, leaf_hash(alg, &k, &v), &siblings[..256]).unwrap();
        assert!(verify_inclusion(alg, &root, &k, &v, &siblings[..256]));
        assert_eq!(root_from_path(alg, &k, leaf_hash(alg, &k, &v), &siblings), None);
        assert!(!verify_inclusion(alg, &root, &k, &v, &siblings));
        assert!(!verify_exclusion(alg, &root, &h(8), None, &siblings));
    }
}
