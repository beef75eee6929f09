//! Blocks.

use crate::codec::{Validate, check_len};
use crate::ids::{ChainId, Hash32};
use crate::limits::*;
use crate::tx::Transaction;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Domain tag prefixed to a header's encoding to compute the block digest.
pub const BLOCK_DIGEST_DOMAIN: &[u8] = b"trustmeter/block/v1";

/// What a block commits to. The block digest is the hash of this header alone; the transactions
/// are bound through `tx_root`, the readings through `readings_root`, the state after executing
/// the block through `state_root` and the execution outcomes through `receipts_root`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: ChainId,
    /// Digest of the parent block ([`Hash32::ZERO`] for genesis).
    pub parent: Hash32,
    /// Height (genesis is 0).
    pub height: u64,
    /// Consensus epoch the block was proposed in.
    pub epoch: u64,
    /// Consensus view the block was proposed in.
    pub view: u64,
    /// Proposer's clock, Unix milliseconds; strictly greater than the parent's. Execution measures
    /// "the future" and calibration validity against this, never against a local clock.
    pub timestamp_ms: i64,
    /// RFC 6962 root over the block's transactions.
    pub tx_root: Hash32,
    /// RFC 6962 root over the readings this block recorded (accepted, not duplicates or
    /// rejections), in block order. Its size is `readings_accepted`.
    pub readings_root: Hash32,
    /// Authenticated root of the state after this block.
    pub state_root: Hash32,
    /// RFC 6962 root over the receipts of this block's transactions.
    pub receipts_root: Hash32,
    /// Number of transactions.
    pub tx_count: u32,
    /// Number of readings carried by all transactions.
    pub reading_count: u32,
    /// Number of readings recorded (the size of the readings tree).
    pub readings_accepted: u32,
}

/// A block: header and transactions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<Transaction>,
}

impl Validate for Block {
    fn validate(&self) -> Result<(), String> {
        self.header.chain_id.check()?;
        check_len("block transactions", self.txs.len(), MAX_TXS_PER_BLOCK)?;
        if self.txs.len() != self.header.tx_count as usize {
            return Err("transaction count in the header does not match the body".into());
        }
        let readings: usize = self.txs.iter().map(|t| t.body.payload.reading_count()).sum();
        check_len("block readings", readings, MAX_READINGS_PER_BLOCK)?;
        if readings != self.header.reading_count as usize {
            return Err("reading count in the header does not match the body".into());
        }
        for (i, tx) in self.txs.iter().enumerate() {
            tx.validate().map_err(|e| format!("transaction {i}: {e}"))?;
        }
        Ok(())
    }
}
