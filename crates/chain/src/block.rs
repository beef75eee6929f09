//! The block type consensus and marshal carry: a [`trustmeter_types::Block`] with its digest.
//!
//! On the wire and on disk it is a `u32` length followed by the canonical (borsh) encoding. Decoding
//! refuses a length over [`MAX_BLOCK_BYTES`], trailing bytes and any limit the types check, so
//! `encode(decode(b)) == b` for every accepted byte string.
//!
//! The digest is our block digest (`trustmeter_crypto::block_digest`) with the chain's hash
//! algorithm, carried in Commonware's 32-byte `sha256::Digest` type: consensus only compares and
//! signs those 32 bytes, so an SM3 digest fits the same type. Decoding therefore needs the
//! algorithm: it is the codec configuration (`Read::Cfg = HashAlg`).

use bytes::{Buf, BufMut};
use commonware_codec::{EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::{Digestible, sha256};
use trustmeter_types::limits::MAX_BLOCK_BYTES;
use trustmeter_types::{Block, Hash32, HashAlg, decode, encode};

/// A block with its digest computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBlock {
    /// The block.
    pub block: Block,
    encoded: Vec<u8>,
    digest: sha256::Digest,
}

impl ChainBlock {
    /// Wraps a block, computing its digest (the tagged hash of the header with the chain's
    /// algorithm `alg`).
    pub fn new(alg: HashAlg, block: Block) -> Self {
        let encoded = encode(&block);
        let digest = to_digest(&trustmeter_crypto::block_digest(alg, &block.header));
        Self { block, encoded, digest }
    }
    /// The digest as our hash type.
    pub fn hash(&self) -> Hash32 {
        from_digest(&self.digest)
    }
    /// Canonical encoding of the inner block.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

/// Converts our hash (SHA-256 or SM3) to Commonware's 32-byte digest type.
pub fn to_digest(h: &Hash32) -> sha256::Digest {
    sha256::Digest(h.0)
}

/// Converts Commonware's 32-byte digest type to our hash type.
pub fn from_digest(d: &sha256::Digest) -> Hash32 {
    Hash32(d.0)
}

impl Write for ChainBlock {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u32(self.encoded.len() as u32);
        buf.put_slice(&self.encoded);
    }
}

impl EncodeSize for ChainBlock {
    fn encode_size(&self) -> usize {
        4 + self.encoded.len()
    }
}

impl Read for ChainBlock {
    type Cfg = HashAlg;
    fn read_cfg(buf: &mut impl Buf, alg: &HashAlg) -> Result<Self, CodecError> {
        if buf.remaining() < 4 {
            return Err(CodecError::EndOfBuffer);
        }
        let len = buf.get_u32() as usize;
        if len > MAX_BLOCK_BYTES {
            return Err(CodecError::Invalid("ChainBlock", "block longer than MAX_BLOCK_BYTES"));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut bytes = vec![0u8; len];
        buf.copy_to_slice(&mut bytes);
        let block: Block =
            decode(&bytes, MAX_BLOCK_BYTES).map_err(|_| CodecError::Invalid("ChainBlock", "block does not decode"))?;
        Ok(ChainBlock::new(*alg, block))
    }
}

impl Digestible for ChainBlock {
    type Digest = sha256::Digest;
    fn digest(&self) -> sha256::Digest {
        self.digest
    }
}

impl Heightable for ChainBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height)
    }
}

impl commonware_consensus::Block for ChainBlock {
    fn parent(&self) -> sha256::Digest {
        to_digest(&self.block.header.parent)
    }
}

impl commonware_consensus::BoundedBlock for ChainBlock {
    fn max_encode_size(_: &HashAlg) -> usize {
        4 + MAX_BLOCK_BYTES
    }
}
