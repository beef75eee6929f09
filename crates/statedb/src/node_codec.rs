//! How tree nodes are stored (layout 5): a compact encoding of `jmt`'s [`Node`].
//!
//! `borsh(Node)` spends 49 bytes on an internal node's child (an option tag, the 32-byte hash, an
//! 8-byte version, a type tag and an 8-byte leaf count), a tag for each of the 16 places, a child
//! count and a leaf count: ~817 bytes for a full node. Registry nodes are kept forever (every
//! version proves old readings), so their size is the registry's disk cost. This encoding keeps
//! what cannot be derived and drops the rest:
//!
//! | node | bytes |
//! |---|---|
//! | null | `0x00` |
//! | leaf | `0x01 ‖ key_hash (32) ‖ value_hash (32)` |
//! | internal | `0x02 ‖ present (u16 LE) ‖ leaves (u16 LE) ‖` per present child, by nibble: `hash (32) ‖ varint(node version − child version)` and, for an internal child, `‖ varint(its leaf count)` |
//!
//! A child's version is at most its parent's (a parent is written with or after its children),
//! so the difference is small: usually one byte. The node's own leaf count and child count are
//! recomputed from the children. A full node takes ~580 bytes, a node of
//! ten leaves ~340 (borsh: 817 and 443).

//!
//! `jmt` 0.12 (pinned exactly) does not export its internal node's types, so this is a transcoding
//! of `borsh(Node)`, whose layout is fixed by those types: tag (null 0, internal 1, leaf 2); an
//! internal node is 16 × `Option<Child>` (`Child` = hash, version u64, node type: leaf 0 or
//! internal 1 with a u64 leaf count), then the child count and leaf count as u64; a leaf is key
//! hash and value hash. The tests check that every node `jmt` writes comes back equal.

use borsh::BorshDeserialize;
use integer_encoding::VarInt;
use jmt::storage::{Node, NodeKey};

const NULL: u8 = 0;
const LEAF: u8 = 1;
const INTERNAL: u8 = 2;

// borsh's tags
const BORSH_NULL: u8 = 0;
const BORSH_INTERNAL: u8 = 1;
const BORSH_LEAF: u8 = 2;

/// Why stored bytes are not a node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeDecodeError {
    /// The bytes end inside the node.
    #[error("node truncated")]
    Truncated,
    /// Bytes follow the node.
    #[error("{0} bytes after the node")]
    Trailing(usize),
    /// The first byte is not a node kind.
    #[error("unknown node kind {0}")]
    Kind(u8),
    /// The children are not a valid internal node (none, a leaf alone, or a leaf flag without a
    /// child).
    #[error("invalid children (present {present:#06x}, leaves {leaves:#06x})")]
    Children {
        /// Bitmap of present children.
        present: u16,
        /// Bitmap of leaf children.
        leaves: u16,
    },
    /// A leaf count overflows.
    #[error("leaf count overflows")]
    LeafCount,
}

/// Encodes `node`, stored under `key` (whose version the children's versions are relative to).
pub fn encode(key: &NodeKey, node: &Node) -> Vec<u8> {
    let b = borsh::to_vec(node).expect("in-memory encoding");
    match b[0] {
        BORSH_NULL => vec![NULL],
        BORSH_LEAF => {
            let mut out = Vec::with_capacity(65);
            out.push(LEAF);
            out.extend_from_slice(&b[1..65]);
            out
        }
        BORSH_INTERNAL => {
            let version = key.version();
            let (mut present, mut leaves) = (0u16, 0u16);
            let mut out = vec![INTERNAL, 0, 0, 0, 0];
            let mut buf = [0u8; 10];
            let mut pos = 1;
            for nibble in 0..16 {
                let tag = b[pos];
                pos += 1;
                if tag == 0 {
                    continue;
                }
                present |= 1 << nibble;
                out.extend_from_slice(&b[pos..pos + 32]);
                let child_version = u64::from_le_bytes(b[pos + 32..pos + 40].try_into().expect("8 bytes"));
                // wrapping: a child newer than its parent cannot occur, but would still round-trip
                let n = version.wrapping_sub(child_version).encode_var(&mut buf);
                out.extend_from_slice(&buf[..n]);
                let node_type = b[pos + 40];
                pos += 41;
                if node_type == 0 {
                    leaves |= 1 << nibble;
                } else {
                    let leaf_count = u64::from_le_bytes(b[pos..pos + 8].try_into().expect("8 bytes"));
                    pos += 8;
                    let n = leaf_count.encode_var(&mut buf);
                    out.extend_from_slice(&buf[..n]);
                }
            }
            debug_assert_eq!(pos + 16, b.len(), "borsh layout of jmt 0.12's internal node");
            out[1..3].copy_from_slice(&present.to_le_bytes());
            out[3..5].copy_from_slice(&leaves.to_le_bytes());
            out
        }
        other => unreachable!("jmt 0.12's Node has three variants, borsh tag {other}"),
    }
}

/// Decodes a node stored under `key` by [`encode`].
pub fn decode(key: &NodeKey, bytes: &[u8]) -> Result<Node, NodeDecodeError> {
    let (&kind, rest) = bytes.split_first().ok_or(NodeDecodeError::Truncated)?;
    let borsh_bytes = match kind {
        NULL => {
            trailing(rest, 0)?;
            vec![BORSH_NULL]
        }
        LEAF => {
            if rest.len() < 64 {
                return Err(NodeDecodeError::Truncated);
            }
            trailing(rest, 64)?;
            let mut b = Vec::with_capacity(65);
            b.push(BORSH_LEAF);
            b.extend_from_slice(rest);
            b
        }
        INTERNAL => {
            if rest.len() < 4 {
                return Err(NodeDecodeError::Truncated);
            }
            let present = u16::from_le_bytes([rest[0], rest[1]]);
            let leaves = u16::from_le_bytes([rest[2], rest[3]]);
            // jmt's InternalNode::new asserts these; a stored node must satisfy them too
            if present == 0 || leaves & !present != 0 || (present.count_ones() == 1 && leaves != 0) {
                return Err(NodeDecodeError::Children { present, leaves });
            }
            let version = key.version();
            let mut b = Vec::with_capacity(1 + 16 + 16 * 49 + 16);
            b.push(BORSH_INTERNAL);
            let mut pos = 4;
            let mut leaf_count: u64 = 0;
            for nibble in 0..16 {
                let bit = 1u16 << nibble;
                if present & bit == 0 {
                    b.push(0);
                    continue;
                }
                b.push(1);
                b.extend_from_slice(rest.get(pos..pos + 32).ok_or(NodeDecodeError::Truncated)?);
                pos += 32;
                let delta = varint(rest, &mut pos)?;
                b.extend_from_slice(&version.wrapping_sub(delta).to_le_bytes());
                let count = if leaves & bit != 0 {
                    b.push(0);
                    1
                } else {
                    let count = varint(rest, &mut pos)?;
                    b.push(1);
                    b.extend_from_slice(&count.to_le_bytes());
                    count
                };
                leaf_count = leaf_count.checked_add(count).ok_or(NodeDecodeError::LeafCount)?;
            }
            trailing(rest, pos)?;
            b.extend_from_slice(&u64::from(present.count_ones()).to_le_bytes());
            b.extend_from_slice(&leaf_count.to_le_bytes());
            b
        }
        other => return Err(NodeDecodeError::Kind(other)),
    };
    Ok(Node::try_from_slice(&borsh_bytes).expect("a node in jmt 0.12's borsh layout"))
}

fn varint(bytes: &[u8], pos: &mut usize) -> Result<u64, NodeDecodeError> {
    let (v, n) = u64::decode_var(bytes.get(*pos..).unwrap_or_default()).ok_or(NodeDecodeError::Truncated)?;
    *pos += n;
    Ok(v)
}

fn trailing(rest: &[u8], used: usize) -> Result<(), NodeDecodeError> {
    match rest.len() - used {
        0 => Ok(()),
        n => Err(NodeDecodeError::Trailing(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jmt::storage::NibblePath;
    use rand::{RngExt, SeedableRng};

    fn key(version: u64) -> NodeKey {
        // one nibble, 5 (borsh: nibble count u64, then the bytes with a u32 length)
        let path = NibblePath::try_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x50]).unwrap();
        NodeKey::new(version, path)
    }

    /// A valid internal node, built in jmt's borsh layout (its types are not exported).
    fn random_internal(rng: &mut impl RngExt, version: u64) -> Node {
        loop {
            let mut b = vec![BORSH_INTERNAL];
            let (mut n, mut leaves, mut total) = (0u64, 0, 0u64);
            for _ in 0..16 {
                if !rng.random_bool(0.6) {
                    b.push(0);
                    continue;
                }
                n += 1;
                b.push(1);
                b.extend_from_slice(&rng.random::<[u8; 32]>());
                b.extend_from_slice(&version.saturating_sub(rng.random_range(0..1_000_000)).to_le_bytes());
                if rng.random_bool(0.5) {
                    b.push(0);
                    leaves += 1;
                    total += 1;
                } else {
                    let count: u64 = rng.random_range(2..5_000_000);
                    b.push(1);
                    b.extend_from_slice(&count.to_le_bytes());
                    total += count;
                }
            }
            b.extend_from_slice(&n.to_le_bytes());
            b.extend_from_slice(&total.to_le_bytes());
            if n > 0 && !(n == 1 && leaves == 1) {
                let node = Node::try_from_slice(&b).expect("jmt's layout");
                assert_eq!(borsh::to_vec(&node).unwrap(), b, "the layout this module assumes");
                return node;
            }
        }
    }

    #[test]
    fn nodes_round_trip() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for i in 0..2_000u64 {
            let version = if i % 3 == 0 { rng.random() } else { rng.random_range(0..10_000_000) };
            let k = key(version);
            let node = match i % 5 {
                0 => {
                    let mut b = vec![BORSH_LEAF];
                    b.extend_from_slice(&rng.random::<[u8; 32]>());
                    b.extend_from_slice(&rng.random::<[u8; 32]>());
                    Node::try_from_slice(&b).expect("jmt's leaf layout")
                }
                1 if i % 10 == 1 => Node::Null,
                _ => random_internal(&mut rng, version),
            };
            let bytes = encode(&k, &node);
            assert_eq!(decode(&k, &bytes).as_ref(), Ok(&node), "node {i}");
            // every proper prefix is refused, never misread
            for cut in 0..bytes.len() {
                assert!(decode(&k, &bytes[..cut]).is_err(), "node {i} cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&k, &longer), Err(NodeDecodeError::Trailing(1)));
        }
    }

    #[test]
    fn full_node_size() {
        let mut b = vec![BORSH_INTERNAL];
        for nibble in 0..16u8 {
            b.push(1);
            b.extend_from_slice(&[nibble; 32]);
            b.extend_from_slice(&990u64.to_le_bytes());
            b.push(1);
            b.extend_from_slice(&600_000u64.to_le_bytes());
        }
        b.extend_from_slice(&16u64.to_le_bytes());
        b.extend_from_slice(&(16 * 600_000u64).to_le_bytes());
        let node = Node::try_from_slice(&b).unwrap();
        assert_eq!(b.len(), 817);
        // 5 + 16 × (32 + 1 (version 1 000 − 990) + 3 (600 000))
        assert_eq!(encode(&key(1_000), &node).len(), 581);
    }

    #[test]
    fn invalid_nodes_are_refused() {
        let k = key(7);
        // no child
        assert!(matches!(decode(&k, &[2, 0, 0, 0, 0]), Err(NodeDecodeError::Children { .. })));
        // a leaf flag without its child
        assert!(matches!(decode(&k, &[2, 3, 0, 4, 0]), Err(NodeDecodeError::Children { .. })));
        // a single leaf child
        let mut one_leaf = vec![2, 1, 0, 1, 0];
        one_leaf.extend_from_slice(&[9; 32]);
        one_leaf.push(0);
        assert!(matches!(decode(&k, &one_leaf), Err(NodeDecodeError::Children { .. })));
        assert_eq!(decode(&k, &[7]), Err(NodeDecodeError::Kind(7)));
        assert_eq!(decode(&k, &[]), Err(NodeDecodeError::Truncated));
    }
}
