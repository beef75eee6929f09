//! RFC 6962 (RFC 9162 §2.1) Merkle trees, over the chain's hash algorithm `H` (SHA-256 as in
//! RFC 6962, or SM3 with the same construction).
//!
//! - leaf hash: `H(0x00 ‖ data)`
//! - interior node: `H(0x01 ‖ left ‖ right)`
//! - empty tree: `H("")`
//!
//! The tree over `n` leaves splits at the largest power of two below `n`. Building bottom-up and
//! promoting a lone last node unchanged gives the same root, which is how [`root`] and
//! [`inclusion_proof`] compute it in `O(n)`. Proofs are checked with the algorithm of RFC 9162
//! §2.1.3.2, so an independent implementation can verify them.

use crate::hash::{HashAlg, Hasher};
use trustmeter_types::Hash32;

/// Hash of a leaf's data.
pub fn leaf_hash(alg: HashAlg, data: &[u8]) -> Hash32 {
    let mut h = Hasher::new(alg);
    h.update(&[0u8]);
    h.update(data);
    h.finalize()
}

/// Hash of an interior node.
pub fn node_hash(alg: HashAlg, left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Hasher::new(alg);
    h.update(&[1u8]);
    h.update(&left.0);
    h.update(&right.0);
    h.finalize()
}

/// Root of the empty tree.
pub fn empty_root(alg: HashAlg) -> Hash32 {
    crate::hash::hash(alg, &[])
}

fn next_level(alg: HashAlg, level: &[Hash32]) -> Vec<Hash32> {
    level.chunks(2).map(|pair| if pair.len() == 2 { node_hash(alg, &pair[0], &pair[1]) } else { pair[0] }).collect()
}

/// Root over the given leaf hashes.
pub fn root(alg: HashAlg, leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return empty_root(alg);
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(alg, &level);
    }
    level[0]
}

/// A tree kept in memory with all its levels, for serving many proofs.
#[derive(Clone, Debug)]
pub struct Tree {
    alg: HashAlg,
    levels: Vec<Vec<Hash32>>,
}

impl Tree {
    /// Builds every level from the leaf hashes.
    pub fn new(alg: HashAlg, leaves: Vec<Hash32>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().map(|l| l.len() > 1).unwrap_or(false) {
            let next = next_level(alg, levels.last().expect("non-empty"));
            levels.push(next);
        }
        Tree { alg, levels }
    }
    /// The hash algorithm of the tree.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }
    /// The root.
    pub fn root(&self) -> Hash32 {
        match self.levels.last() {
            Some(l) if !l.is_empty() => l[0],
            _ => empty_root(self.alg),
        }
    }
    /// The audit path of leaf `index`, bottom-up, as RFC 9162 defines it.
    pub fn proof(&self, index: u64) -> Option<Vec<Hash32>> {
        if index >= self.size() {
            return None;
        }
        let mut path = Vec::new();
        let mut i = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// The audit path of leaf `index` in the tree over `leaves`.
pub fn inclusion_proof(alg: HashAlg, leaves: &[Hash32], index: u64) -> Option<Vec<Hash32>> {
    Tree::new(alg, leaves.to_vec()).proof(index)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(alg: HashAlg, leaf: &Hash32, index: u64, size: u64, path: &[Hash32], root: &Hash32) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(alg, p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(alg, &r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: HashAlg = HashAlg::Sha256;

    /// The recursive definition from RFC 6962 §2.1, written independently of the bottom-up code.
    fn mth(alg: HashAlg, leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => empty_root(alg),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(alg, &mth(alg, &leaves[..k]), &mth(alg, &leaves[k..]))
            }
        }
    }

    fn leaves(alg: HashAlg, n: usize) -> Vec<Hash32> {
        (0..n).map(|i| leaf_hash(alg, &(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(empty_root(SHA).to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn rfc6962_test_vector() {
        // The 8-leaf test vector used by Certificate Transparency implementations
        // (certificate-transparency-go merkletree tests).
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let l: Vec<Hash32> = data.iter().map(|d| leaf_hash(SHA, d)).collect();
        assert_eq!(root(SHA, &l).to_hex(), "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
        assert_eq!(root(SHA, &l[..1]).to_hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        assert_eq!(root(SHA, &l[..3]).to_hex(), "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77");
    }

    #[test]
    fn bottom_up_equals_recursive_definition_and_proofs_verify() {
        for (alg, n) in [HashAlg::Sha256, HashAlg::Sm3].into_iter().flat_map(|a| (0..40).map(move |n| (a, n))) {
            let l = leaves(alg, n);
            let r = root(alg, &l);
            assert_eq!(r, mth(alg, &l), "n={n}");
            let tree = Tree::new(alg, l.clone());
            assert_eq!(tree.root(), r);
            for i in 0..n as u64 {
                let p = tree.proof(i).unwrap();
                assert!(verify_inclusion(alg, &l[i as usize], i, n as u64, &p, &r), "n={n} i={i}");
                // Wrong index, wrong size or a flipped bit must fail.
                if n > 1 {
                    assert!(!verify_inclusion(alg, &l[i as usize], (i + 1) % n as u64, n as u64, &p, &r));
                }
                // Note: a path can also fit a larger tree size (e.g. leaf 0 of 3 vs of 4), which
                // is why every root we publish is bound to its size in a signed header.
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    let mut h = *first;
                    h.0[0] ^= 1;
                    bad[0] = h;
                    assert!(!verify_inclusion(alg, &l[i as usize], i, n as u64, &bad, &r));
                }
            }
            assert!(tree.proof(n as u64).is_none());
        }
    }
}

#[cfg(test)]
mod sm3_tests {
    use super::*;

    #[test]
    fn sm3_tree_uses_sm3_everywhere() {
        let alg = HashAlg::Sm3;
        // Empty tree: SM3 of nothing (value cross-checked with OpenSSL 3 `dgst -sm3`).
        assert_eq!(empty_root(alg).to_hex(), "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
        let a = leaf_hash(alg, b"a");
        assert_eq!(a, crate::hash::sm3(b"\x00a"));
        let b = leaf_hash(alg, b"b");
        let mut cat = vec![1u8];
        cat.extend_from_slice(&a.0);
        cat.extend_from_slice(&b.0);
        assert_eq!(root(alg, &[a, b]), crate::hash::sm3(&cat));
        // A SHA-256 proof does not verify against an SM3 root of the same data.
        let sha_leaves: Vec<Hash32> = [b"a", b"b", b"c"].iter().map(|d| leaf_hash(HashAlg::Sha256, *d)).collect();
        let sm3_leaves: Vec<Hash32> = [b"a", b"b", b"c"].iter().map(|d| leaf_hash(alg, *d)).collect();
        let p = inclusion_proof(alg, &sm3_leaves, 1).unwrap();
        assert!(verify_inclusion(alg, &sm3_leaves[1], 1, 3, &p, &root(alg, &sm3_leaves)));
        assert!(!verify_inclusion(HashAlg::Sha256, &sm3_leaves[1], 1, 3, &p, &root(alg, &sm3_leaves)));
        assert_ne!(root(HashAlg::Sha256, &sha_leaves), root(alg, &sm3_leaves));
    }
}
