//! Transaction rules, block building and block execution.

use crate::accounting::{self, PointRec};
use crate::compliance::MAX_REPORTS_PER_BLOCK;
use crate::sigs::SignatureVerdicts;
use crate::state::{MeterProgress, ProgressCache, State};
use trustmeter_crypto::{HashAlg, block_digest, merkle, reading_leaf, tx_hash, verify};
use trustmeter_policy::{AuditInput, Verdict};
use trustmeter_types::codec::Validate;
use trustmeter_types::limits::{MAX_READINGS_PER_BLOCK, MAX_TX_BYTES, MAX_TXS_PER_BLOCK};
use trustmeter_types::{
    Block, BlockHeader, DeviceId, DeviceStatus, Gateway, Genesis, Hash32, OrgKind, PublicKey, ReadingOutcome,
    ReadingSigner, Receipt, RegisterKind, RejectCode, Rejection, SignedReading, Transaction, TxOutcome, TxPayload,
    UnifiedSocialCreditCode, encode,
};

/// Why a block is invalid. An invalid block is refused by every honest validator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    /// The header does not extend the parent (chain, parent digest, height, time).
    #[error("block does not extend its parent: {0}")]
    BadLink(String),
    /// The body breaks a limit or does not match the header counts.
    #[error("block body is invalid: {0}")]
    BadBody(String),
    /// A transaction should never have been proposed (wrong chain, bad signature).
    #[error("transaction {index} must not be in a block: {reason}")]
    BadTransaction {
        /// Position in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Executing the block gives different commitments than its header claims.
    #[error("header commitment {field} is {claimed} but execution gives {computed}")]
    CommitmentMismatch {
        /// Which commitment.
        field: &'static str,
        /// In the header.
        claimed: String,
        /// Recomputed.
        computed: String,
    },
}

/// The consensus context of a block being built.
#[derive(Clone, Debug)]
pub struct BlockContext {
    /// Epoch.
    pub epoch: u64,
    /// View.
    pub view: u64,
    /// Proposer's timestamp, Unix ms.
    pub timestamp_ms: i64,
}

/// The result of executing a block.
#[derive(Clone, Debug)]
pub struct BlockOutput {
    /// State after the block.
    pub state: State,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// `(tx index, reading index)` of every recorded reading, in readings-tree order.
    pub recorded: Vec<(u32, u32)>,
}

/// The genesis block and the state after it.
pub fn genesis_block(genesis: &Genesis) -> (Block, State) {
    genesis_block_in(genesis, std::sync::Arc::new(crate::store::MemStore::new()))
        .expect("a fresh in-memory store takes the genesis")
}

/// The genesis block, and the state after it written into the empty `store`.
pub fn genesis_block_in(
    genesis: &Genesis,
    store: std::sync::Arc<dyn crate::store::Store>,
) -> Result<(Block, State), crate::state::StateError> {
    let mut state = State::genesis_overlay(genesis, store)?;
    let alg = state.hash_alg();
    let header = BlockHeader {
        chain_id: genesis.chain_id.clone(),
        parent: Hash32::ZERO,
        height: 0,
        epoch: 0,
        view: 0,
        timestamp_ms: genesis.genesis_time_ms,
        tx_root: merkle::empty_root(alg),
        readings_root: merkle::empty_root(alg),
        state_root: state.root(),
        receipts_root: merkle::empty_root(alg),
        tx_count: 0,
        reading_count: 0,
        readings_accepted: 0,
    };
    state.block_digest = block_digest(alg, &header);
    let state = state.commit()?;
    Ok((Block { header, txs: vec![] }, state))
}

/// Checks what a proposer must check before putting a transaction in a block: it decodes within
/// limits, names this chain and carries a valid sender signature.
pub fn check_includable(state: &State, tx: &Transaction, verdicts: &SignatureVerdicts) -> Result<(), Rejection> {
    check_includable_hashed(state, tx, &tx_hash(state.hash_alg(), tx), verdicts)
}

/// [`check_includable`] of a transaction whose hash the caller holds (exactly `tx_hash` of it
/// under the chain's algorithm), so a large transaction is not encoded again.
pub fn check_includable_hashed(
    state: &State,
    tx: &Transaction,
    hash: &Hash32,
    verdicts: &SignatureVerdicts,
) -> Result<(), Rejection> {
    debug_assert_eq!(*hash, tx_hash(state.hash_alg(), tx));
    let len = borsh::object_length(tx).unwrap_or(usize::MAX);
    check_parts(state, tx, len, hash, verdicts)
}

/// What execution derives from a transaction's encoding, computed once per transaction: its
/// length, its hash and its leaf in the block's transaction tree. (A 500-reading transaction is
/// ~75 KB; encoding and hashing it once instead of three or four times is ~5 % of execution.)
struct TxBytes {
    len: usize,
    hash: Hash32,
    leaf: Hash32,
}

impl TxBytes {
    fn of(alg: HashAlg, tx: &Transaction) -> Self {
        let bytes = encode(tx);
        TxBytes {
            len: bytes.len(),
            hash: trustmeter_crypto::tx_hash_of_encoding(alg, &bytes),
            leaf: merkle::leaf_hash(alg, &bytes),
        }
    }
}

/// [`check_includable`] given the transaction's encoded length and hash.
fn check_parts(
    state: &State,
    tx: &Transaction,
    len: usize,
    hash: &Hash32,
    verdicts: &SignatureVerdicts,
) -> Result<(), Rejection> {
    if let Err(e) = tx.validate() {
        return Err(Rejection::new(RejectCode::Malformed, e));
    }
    if len > MAX_TX_BYTES {
        return Err(Rejection::new(RejectCode::Malformed, format!("transaction is larger than {MAX_TX_BYTES} bytes")));
    }
    if tx.body.chain_id != state.chain_id {
        return Err(Rejection::new(
            RejectCode::WrongChain,
            format!(
                "transaction is signed for chain {} but this is {}; sign it for this chain",
                tx.body.chain_id, state.chain_id
            ),
        ));
    }
    if !verdicts.check_tx(hash, tx) {
        return Err(Rejection::new(
            RejectCode::BadTxSignature,
            "the transaction signature does not verify for the sender key; re-sign the exact body",
        ));
    }
    Ok(())
}

/// Builds a block on `parent` from candidate transactions, in order, skipping any that must not
/// be included and stopping at the block limits.
pub fn build_block(
    parent: &State,
    ctx: &BlockContext,
    candidates: impl IntoIterator<Item = Transaction>,
    verdicts: &SignatureVerdicts,
) -> (Block, BlockOutput) {
    let mut state = parent.clone();
    let height = parent.height + 1;
    let timestamp_ms = ctx.timestamp_ms.max(parent.timestamp_ms + 1);
    let mut txs = Vec::new();
    let mut receipts = Vec::new();
    let mut recorded = Vec::new();
    let (mut tx_leaves, mut reading_leaves) = (Vec::new(), Vec::new());
    let mut readings = 0usize;
    let max_txs = (parent.params.max_block_txs as usize).min(MAX_TXS_PER_BLOCK);
    let max_readings = (parent.params.max_block_readings as usize).min(MAX_READINGS_PER_BLOCK);
    let mut reports = 0usize;
    for tx in candidates {
        if txs.len() >= max_txs {
            break;
        }
        let n = tx.body.payload.reading_count();
        if readings + n > max_readings {
            continue;
        }
        let report = matches!(tx.body.payload, TxPayload::SubmitCarbonReport { .. });
        if report && reports >= MAX_REPORTS_PER_BLOCK {
            continue; // left in the mempool for a later block
        }
        let b = TxBytes::of(parent.hash_alg(), &tx);
        if check_parts(&state, &tx, b.len, &b.hash, verdicts).is_err() {
            continue;
        }
        let receipt = apply_tx(&mut state, height, timestamp_ms, &tx, &b.hash, verdicts, &mut reading_leaves);
        push_recorded(&mut recorded, txs.len() as u32, &receipt);
        readings += n;
        reports += usize::from(report);
        receipts.push(receipt);
        tx_leaves.push(b.leaf);
        txs.push(tx);
    }
    close_block(&mut state, height, timestamp_ms, (ctx.epoch, ctx.view));
    // The trees are sealed at the block's own height (its changes' height): the child block then
    // computes its trees on top of them, as a layer, instead of again from the store.
    state.height = height;
    state.seal();
    let leaves = Leaves { txs: &tx_leaves, readings: &reading_leaves };
    let header = make_header(parent, ctx, height, timestamp_ms, &txs, &receipts, &recorded, leaves, &state);
    finish(&mut state, &header);
    (Block { header, txs }, BlockOutput { state, receipts, recorded })
}

/// What every block does after its transactions, proposer and validators alike: carbon results
/// of the months the block changed, then objection windows that have passed, then at the last
/// block of an epoch its end (issuance, validator rewards, the election two epochs ahead); and
/// the check that the token totals add up.
fn close_block(state: &mut State, height: u64, timestamp_ms: i64, round: (u64, u64)) {
    crate::economy::record_block(state, height, round);
    crate::carbon::close_months(state, height, timestamp_ms);
    crate::compliance::close_verifications(state, height, timestamp_ms);
    if state.params.economy.staking.is_boundary(height) {
        crate::economy::close_epoch(state, height);
    }
    crate::economy::check_conservation(state);
}

/// Executes `block` on `parent` and checks every commitment in its header.
pub fn execute_block(parent: &State, block: &Block, verdicts: &SignatureVerdicts) -> Result<BlockOutput, BlockError> {
    let h = &block.header;
    if h.chain_id != parent.chain_id {
        return Err(BlockError::BadLink(format!("block is for chain {} but this is {}", h.chain_id, parent.chain_id)));
    }
    if h.parent != parent.block_digest {
        return Err(BlockError::BadLink(format!("parent is {} but the state is at {}", h.parent, parent.block_digest)));
    }
    if h.height != parent.height + 1 {
        return Err(BlockError::BadLink(format!("height {} does not follow {}", h.height, parent.height)));
    }
    if h.timestamp_ms <= parent.timestamp_ms {
        return Err(BlockError::BadLink(format!(
            "timestamp {} is not after the parent's {}",
            h.timestamp_ms, parent.timestamp_ms
        )));
    }
    block.validate().map_err(BlockError::BadBody)?;
    if h.reading_count as usize > parent.params.max_block_readings as usize
        || h.tx_count as usize > parent.params.max_block_txs as usize
    {
        return Err(BlockError::BadBody("block exceeds the chain's block limits".into()));
    }
    let reports = block.txs.iter().filter(|t| matches!(t.body.payload, TxPayload::SubmitCarbonReport { .. })).count();
    if reports > MAX_REPORTS_PER_BLOCK {
        return Err(BlockError::BadBody(format!(
            "block holds {reports} carbon report filings; at most {MAX_REPORTS_PER_BLOCK} fit in a block"
        )));
    }
    let mut state = parent.clone();
    let mut receipts = Vec::with_capacity(block.txs.len());
    let mut recorded = Vec::new();
    let (mut tx_leaves, mut reading_leaves) = (Vec::with_capacity(block.txs.len()), Vec::new());
    for (i, tx) in block.txs.iter().enumerate() {
        let b = TxBytes::of(parent.hash_alg(), tx);
        check_parts(&state, tx, b.len, &b.hash, verdicts)
            .map_err(|r| BlockError::BadTransaction { index: i, reason: r.to_string() })?;
        let receipt = apply_tx(&mut state, h.height, h.timestamp_ms, tx, &b.hash, verdicts, &mut reading_leaves);
        push_recorded(&mut recorded, i as u32, &receipt);
        receipts.push(receipt);
        tx_leaves.push(b.leaf);
    }
    close_block(&mut state, h.height, h.timestamp_ms, (h.epoch, h.view));
    state.height = h.height; // sealed at the block's own height, as in `build_block`
    state.seal();
    let ctx = BlockContext { epoch: h.epoch, view: h.view, timestamp_ms: h.timestamp_ms };
    let leaves = Leaves { txs: &tx_leaves, readings: &reading_leaves };
    let expected =
        make_header(parent, &ctx, h.height, h.timestamp_ms, &block.txs, &receipts, &recorded, leaves, &state);
    let compare = |field: &'static str, a: &Hash32, b: &Hash32| {
        if a != b {
            Err(BlockError::CommitmentMismatch { field, claimed: a.to_hex(), computed: b.to_hex() })
        } else {
            Ok(())
        }
    };
    compare("tx_root", &h.tx_root, &expected.tx_root)?;
    compare("readings_root", &h.readings_root, &expected.readings_root)?;
    compare("receipts_root", &h.receipts_root, &expected.receipts_root)?;
    compare("state_root", &h.state_root, &expected.state_root)?;
    if h.readings_accepted != expected.readings_accepted {
        return Err(BlockError::CommitmentMismatch {
            field: "readings_accepted",
            claimed: h.readings_accepted.to_string(),
            computed: expected.readings_accepted.to_string(),
        });
    }
    finish(&mut state, h);
    Ok(BlockOutput { state, receipts, recorded })
}

fn push_recorded(recorded: &mut Vec<(u32, u32)>, tx_index: u32, receipt: &Receipt) {
    for (j, o) in receipt.readings.iter().enumerate() {
        if o.is_recorded() {
            recorded.push((tx_index, j as u32));
        }
    }
}

/// The leaf hashes of a block's recorded readings, in tree order, with the chain's algorithm.
pub fn recorded_leaves(alg: HashAlg, txs: &[Transaction], recorded: &[(u32, u32)]) -> Vec<Hash32> {
    recorded
        .iter()
        .map(|(t, r)| match &txs[*t as usize].body.payload {
            TxPayload::SubmitReadings { readings, .. } => reading_leaf(alg, &readings[*r as usize]),
            _ => unreachable!("recorded readings come from reading batches"),
        })
        .collect()
}

/// The leaves execution computed on the way: one per transaction, one per recorded reading.
#[derive(Clone, Copy)]
struct Leaves<'a> {
    txs: &'a [Hash32],
    readings: &'a [Hash32],
}

#[allow(clippy::too_many_arguments)]
fn make_header(
    parent: &State,
    ctx: &BlockContext,
    height: u64,
    timestamp_ms: i64,
    txs: &[Transaction],
    receipts: &[Receipt],
    recorded: &[(u32, u32)],
    leaves: Leaves<'_>,
    state: &State,
) -> BlockHeader {
    let alg = parent.hash_alg();
    debug_assert_eq!(leaves.txs.len(), txs.len());
    debug_assert_eq!(leaves.readings.len(), recorded.len());
    debug_assert!(leaves.readings == recorded_leaves(alg, txs, recorded).as_slice());
    debug_assert!(txs.iter().zip(leaves.txs).all(|(t, l)| *l == merkle::leaf_hash(alg, &encode(t))));
    let receipt_leaves: Vec<Hash32> = receipts.iter().map(|r| merkle::leaf_hash(alg, &encode(r))).collect();
    BlockHeader {
        chain_id: parent.chain_id.clone(),
        parent: parent.block_digest,
        height,
        epoch: ctx.epoch,
        view: ctx.view,
        timestamp_ms,
        tx_root: merkle::root(alg, leaves.txs),
        readings_root: merkle::root(alg, leaves.readings),
        state_root: state.root(),
        receipts_root: merkle::root(alg, &receipt_leaves),
        tx_count: txs.len() as u32,
        reading_count: txs.iter().map(|t| t.body.payload.reading_count() as u32).sum(),
        readings_accepted: recorded.len() as u32,
    }
}

fn finish(state: &mut State, header: &BlockHeader) {
    state.height = header.height;
    state.timestamp_ms = header.timestamp_ms;
    state.block_digest = block_digest(state.hash_alg(), header);
}

fn reject(h: &Hash32, code: RejectCode, msg: impl Into<String>) -> Receipt {
    Receipt { tx_hash: *h, outcome: TxOutcome::Rejected(Rejection::new(code, msg)), readings: vec![] }
}

/// The organisation of the sender account, with its kind.
fn sender_org(state: &State, sender: &PublicKey) -> Option<(UnifiedSocialCreditCode, OrgKind)> {
    let org = state.account_org(sender)?;
    let kind = state.organisation(&org)?.kind;
    Some((org, kind))
}

/// What admission checks before a transaction waits for a block: everything that would reject
/// the transaction as a whole (sender, nonce, roles, registry rules, gateway status), on a scratch
/// copy of `state`. Per-reading rules are left to execution, which reports them per reading in the
/// receipt; the signatures were checked by the caller.
pub fn admission_check(state: &State, tx: &Transaction, verdicts: &SignatureVerdicts) -> Result<(), Rejection> {
    if let TxPayload::Staking { op: trustmeter_types::economy::StakingOp::RecordVotes { .. } } = &tx.body.payload {
        return Err(Rejection::new(
            RejectCode::NotAuthorised,
            "a vote record is put in a block by its proposer, never sent to the mempool",
        ));
    }
    let mut scratch = state.clone();
    let receipt = match &tx.body.payload {
        TxPayload::SubmitReadings { gateway, .. } => {
            // Run the batch-level rules on an empty stand-in: no per-reading work (and no copy of
            // the readings).
            let stand_in = Transaction {
                body: trustmeter_types::TxBody {
                    chain_id: tx.body.chain_id.clone(),
                    sender: tx.body.sender.clone(),
                    nonce: tx.body.nonce,
                    payload: TxPayload::SubmitReadings { gateway: gateway.clone(), readings: vec![] },
                },
                signature: tx.signature.clone(),
            };
            let h = tx_hash(state.hash_alg(), &stand_in);
            apply_tx(&mut scratch, state.height + 1, state.timestamp_ms, &stand_in, &h, verdicts, &mut Vec::new())
        }
        _ => {
            let h = tx_hash(state.hash_alg(), tx);
            apply_tx(&mut scratch, state.height + 1, state.timestamp_ms, tx, &h, verdicts, &mut Vec::new())
        }
    };
    match receipt.outcome {
        TxOutcome::Rejected(r) => Err(r),
        TxOutcome::Accepted => match &tx.body.payload {
            TxPayload::SubmitReadings { readings, .. } => admission_audit(state, readings),
            _ => Ok(()),
        },
    }
}

/// The audit policy at admission: a batch whose every reading the policy in force would reject
/// never enters a block (it could only fill one with rejections). A batch with at least one
/// admissible reading goes on; each reading gets its own outcome at execution.
fn admission_audit(state: &State, readings: &[SignedReading]) -> Result<(), Rejection> {
    let height = state.height + 1;
    let policy = state.policy_in_force(height);
    let mut first = None;
    let mut progress = ProgressCache::default();
    for sr in readings {
        let r = &sr.reading;
        let Some(meter) = state.meter(&r.meter) else { return Ok(()) };
        let meter = &meter;
        let previous = progress
            .get(state, meter)
            .and_then(|p| accounting::neighbours(state, &r.meter, &p, r.timestamp_ms).previous());
        // The next block's time is not known yet; judge the reading as a block at its own time
        // (never before the last block) would, so a reading ahead of the last block is not
        // refused here for being "in the future" — execution decides that with the real time.
        let block_ts = state.timestamp_ms.max(r.timestamp_ms);
        match policy.evaluate(&audit_input(state, meter, r, previous.as_ref(), block_ts)) {
            Verdict::Rejected(f) => {
                first.get_or_insert_with(|| {
                    Rejection::new(
                        RejectCode::PolicyRejected,
                        format!(
                            "every reading of the batch breaks the audit policy; first: meter {} seq {}: rule {} ({}): {}",
                            r.meter, r.seq, f.rule, f.code, f.reason
                        ),
                    )
                });
            }
            _ => return Ok(()),
        }
    }
    first.map_or(Ok(()), Err)
}

/// Applies one includable transaction whose hash is `h`. Returns its receipt; a rejected
/// transaction changes nothing but the sender's nonce (when the sender is known and the nonce
/// fresh). `height` is the block's (policy versions take effect at a height). The leaves of the
/// readings it records are appended to `leaves`, in order.
#[allow(clippy::too_many_arguments)]
fn apply_tx(
    state: &mut State,
    height: u64,
    timestamp_ms: i64,
    tx: &Transaction,
    h: &Hash32,
    verdicts: &SignatureVerdicts,
    leaves: &mut Vec<Hash32>,
) -> Receipt {
    debug_assert_eq!(*h, tx_hash(state.hash_alg(), tx));
    let body = &tx.body;
    let sender = &body.sender;
    // Who is sending: an account of a member organisation, or (for readings) a gateway.
    let sent_by_device = match &body.payload {
        TxPayload::SubmitReadings { .. } => true,
        TxPayload::RotateKey { device, .. } => state.gateway(device).is_some_and(|g| &g.public_key == sender),
        _ => false,
    };
    // Evidence of equivocation may also come from a validator's consensus key: a node reports
    // what its consensus engine saw, in its operator's name.
    use trustmeter_types::economy::StakingOp;
    let record_votes = match &body.payload {
        TxPayload::Staking { op: StakingOp::RecordVotes { votes } } => Some(votes),
        _ => None,
    };
    let account = sender_org(state, sender).or_else(|| match &body.payload {
        TxPayload::Staking { op: StakingOp::ReportEquivocation { .. } | StakingOp::RecordVotes { .. } } => {
            let v = crate::economy::validator(state, sender)?;
            let kind = state.organisation(&v.org)?.kind;
            Some((v.org, kind))
        }
        _ => None,
    });
    if account.is_none() && !sent_by_device {
        return reject(
            h,
            RejectCode::UnknownSender,
            format!("sender {sender} is not an account of any member organisation; register the key first"),
        );
    }
    if let Some((org, _)) = &account
        && let Err(r) = crate::membership::require_active(state, org)
    {
        return Receipt { tx_hash: *h, outcome: TxOutcome::Rejected(r), readings: vec![] };
    }
    // A vote record is bound to its block by its nonce, the block's height; the sender's nonce
    // does not move (its proposer signs one in most of its blocks, beside its own transactions).
    if let Some(votes) = record_votes {
        if body.nonce != height {
            return reject(
                h,
                RejectCode::StaleNonce,
                format!("a vote record's nonce is the height of its block, {height}; it carries {}", body.nonce),
            );
        }
        let outcome = crate::economy::record_votes(state, height, sender, votes);
        return Receipt { tx_hash: *h, outcome, readings: vec![] };
    }
    let last = state.nonce(sender);
    if body.nonce <= last {
        return reject(
            h,
            RejectCode::StaleNonce,
            format!(
                "nonce {} is not above the sender's last accepted nonce {last}: this transaction is a replay or was superseded",
                body.nonce
            ),
        );
    }
    let outcome = match &body.payload {
        TxPayload::SubmitReadings { gateway, readings } => {
            let Some(gw) = state.gateway(gateway) else {
                return reject(
                    h,
                    RejectCode::UnknownDevice,
                    format!("gateway {gateway} is not registered on this chain"),
                );
            };
            if &gw.public_key != sender {
                return reject(
                    h,
                    RejectCode::UnknownSender,
                    format!("reading batches for gateway {gateway} must be signed with that gateway's registered key"),
                );
            }
            state.set_nonce(sender, body.nonce);
            if let Err(r) = crate::membership::require_active(state, &gw.owner) {
                return Receipt { tx_hash: *h, outcome: TxOutcome::Rejected(r), readings: vec![] };
            }
            if gw.status != DeviceStatus::Active {
                return reject(
                    h,
                    RejectCode::GatewayNotActive,
                    format!(
                        "gateway {gateway} is {:?}; a regulator must activate it before its readings are accepted",
                        gw.status
                    ),
                );
            }
            let mut progress = ProgressCache::default();
            // The region of the enterprise every accepted reading belongs to (its TOU schedule).
            let region = state.organisation(&gw.owner).map_or(0, |o| o.region);
            let outcomes: Vec<ReadingOutcome> = readings
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let at = (h, i as u32);
                    apply_reading(state, &mut progress, (&gw, region), height, timestamp_ms, at, r, verdicts, leaves)
                })
                .collect();
            progress.flush(state);
            // The batch's points under the reward schedule in force (通证激励).
            let timeliness = state.params.accounting.timeliness_ms;
            let mut facts = trustmeter_policy::reward::DataFacts::default();
            for (r, o) in readings.iter().zip(&outcomes) {
                match o {
                    ReadingOutcome::Accepted | ReadingOutcome::Flagged { .. } => {
                        facts.accepted += 1;
                        facts.flagged += u64::from(matches!(o, ReadingOutcome::Flagged { .. }));
                        facts.timely += u64::from(timestamp_ms - r.reading.timestamp_ms <= timeliness);
                    }
                    ReadingOutcome::Rejected(_) => facts.rejected += 1,
                    ReadingOutcome::Duplicate => {}
                }
            }
            if facts != trustmeter_policy::reward::DataFacts::default() {
                crate::economy::credit_data(state, height, &gw.owner, facts);
            }
            return Receipt { tx_hash: *h, outcome: TxOutcome::Accepted, readings: outcomes };
        }
        rotation @ TxPayload::RotateKey { .. } => {
            state.set_nonce(sender, body.nonce);
            apply_rotation(state, timestamp_ms, sender, account.as_ref().map(|(o, _)| o), rotation)
        }
        TxPayload::RecordCarbonEntry { entry } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::carbon::record_entry(state, height, timestamp_ms, (&org, kind), sender, entry)
        }
        TxPayload::VoidCarbonEntry { org: target, month, number, reason } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::carbon::void_entry(
                state,
                height,
                timestamp_ms,
                (&org, kind),
                sender,
                (target, *month, *number),
                reason,
            )
        }
        TxPayload::SetCarbonPlan { methodology, from_month } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::carbon::set_plan(state, height, timestamp_ms, &org, kind, methodology, *from_month)
        }
        TxPayload::SubmitCarbonReport { period, hash } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::compliance::submit_report(state, (height, timestamp_ms), (&org, kind), sender, *period, hash)
        }
        TxPayload::Verification { org: target, year, step } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::compliance::verification_step(
                state,
                (height, timestamp_ms),
                (&org, kind),
                sender,
                (target, *year),
                step,
            )
        }
        TxPayload::Quota { org: target, year, op } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::compliance::quota_op(state, height, (&org, kind), (target, *year), op)
        }
        TxPayload::Transfer { to, amount, .. } => {
            let (org, _) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::economy::transfer(state, &org, to, *amount)
        }
        TxPayload::Staking { op } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::economy::staking(state, height, (&org, kind), op)
        }
        TxPayload::DeployRewardSchedule { text, effective_epoch } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::economy::deploy_schedule(state, height, (&org, kind), text, *effective_epoch)
        }
        TxPayload::SetShiftCalendar { calendar } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::shifts::set_calendar(state, (height, timestamp_ms), (&org, kind), sender, calendar)
        }
        TxPayload::RecordShiftOutput { output } => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::shifts::record_output(state, (height, timestamp_ms), (&org, kind), sender, output)
        }
        p @ (TxPayload::DeployPolicy { .. }
        | TxPayload::ReplaceMeter { .. }
        | TxPayload::MonthlyReport { .. }
        | TxPayload::DeployMethodology { .. }) => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            apply_accounting_tx(state, height, timestamp_ms, &org, kind, p)
        }
        p @ (TxPayload::RegisterAccount { .. }
        | TxPayload::RevokeAccount { .. }
        | TxPayload::Propose { .. }
        | TxPayload::Approve { .. }
        | TxPayload::Grant { .. }
        | TxPayload::RevokeGrant { .. }
        | TxPayload::SetDisclosure { .. }
        | TxPayload::PublishFigures { .. }) => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            crate::membership::apply(state, height, timestamp_ms, h, &org, kind, p)
        }
        other => {
            let (org, kind) = account.expect("checked above");
            state.set_nonce(sender, body.nonce);
            apply_registry(state, &org, kind, other)
        }
    };
    Receipt { tx_hash: *h, outcome, readings: vec![] }
}

/// Why `id` may not be registered by `org`: it must be `<org's credit code>-<local id>`.
fn device_id_not_owned(id: &DeviceId, org: &UnifiedSocialCreditCode) -> String {
    let named = match id.owner_code() {
        Some(code) => format!("it is named under {code}"),
        None => "it does not start with a valid credit code (check character included) and a local id".into(),
    };
    format!("device id {id} cannot be registered by {org}: {named}; an organisation names its devices {org}-<local id>")
}

/// Whether `master` may be the master meter (上级表) of the meter `spec` that `org` registers: a
/// registered, not revoked meter of `org` with the same energy kind and unit, a cumulative
/// register and not a tariff register. The master must exist before the meter that names it and a
/// meter's master never changes, so master links form a forest: no cycle can be registered.
fn check_master(
    state: &State,
    org: &UnifiedSocialCreditCode,
    spec: &trustmeter_types::tx::MeterSpec,
    master: &DeviceId,
) -> Result<(), String> {
    let Some(m) = state.meter(master) else {
        return Err(format!("master meter {master} is not registered; register the master meter first"));
    };
    if &m.owner != org {
        return Err(format!("master meter {master} belongs to {}, not to {org}", m.owner));
    }
    if m.status == DeviceStatus::Revoked {
        return Err(format!("master meter {master} is revoked; name its successor or none"));
    }
    if m.energy != spec.energy || m.unit != spec.unit {
        return Err(format!(
            "master meter {master} measures {:?} in {}, this meter {:?} in {}: a master meter measures the same energy in the same unit",
            m.energy,
            m.unit.symbol(),
            spec.energy,
            spec.unit.symbol()
        ));
    }
    if m.register != RegisterKind::Cumulative {
        return Err(format!("master meter {master} is an instantaneous register; a master meter is a cumulative one"));
    }
    if m.tariff.is_some() {
        return Err(format!("master meter {master} is a tariff register; name its total register"));
    }
    Ok(())
}

fn apply_registry(state: &mut State, org: &UnifiedSocialCreditCode, kind: OrgKind, payload: &TxPayload) -> TxOutcome {
    let rejected = |code, msg: String| TxOutcome::Rejected(Rejection::new(code, msg));
    let device_exists = |state: &State, id| state.gateway(id).is_some() || state.meter(id).is_some();
    match payload {
        TxPayload::RegisterGateway { id, public_key } => {
            if kind != OrgKind::Enterprise {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only an enterprise registers gateways; {org} is a {kind:?}"),
                );
            }
            if !id.is_named_under(org) {
                return rejected(RejectCode::DeviceIdNotOwned, device_id_not_owned(id, org));
            }
            if device_exists(state, id) {
                return rejected(
                    RejectCode::AlreadyRegistered,
                    format!("device id {id} is already registered; choose another id"),
                );
            }
            if state.key_in_use(public_key) {
                return rejected(
                    RejectCode::AlreadyRegistered,
                    format!("key {public_key} is already registered; the gateway must generate its own key"),
                );
            }
            state.set_gateway(Gateway {
                id: id.clone(),
                owner: org.clone(),
                public_key: public_key.clone(),
                retired_keys: vec![],
                status: DeviceStatus::Registered,
            });
        }
        TxPayload::RegisterMeter { meter } => {
            if kind != OrgKind::Enterprise {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only an enterprise registers meters; {org} is a {kind:?}"),
                );
            }
            if !meter.id.is_named_under(org) {
                return rejected(RejectCode::DeviceIdNotOwned, device_id_not_owned(&meter.id, org));
            }
            if device_exists(state, &meter.id) {
                return rejected(
                    RejectCode::AlreadyRegistered,
                    format!("device id {} is already registered; choose another id", meter.id),
                );
            }
            match state.gateway(&meter.gateway) {
                None => {
                    return rejected(
                        RejectCode::UnknownDevice,
                        format!("gateway {} is not registered; register it first", meter.gateway),
                    );
                }
                Some(g) if &g.owner != org => {
                    return rejected(
                        RejectCode::MeterNotOwned,
                        format!("gateway {} belongs to {}, not to {org}", meter.gateway, g.owner),
                    );
                }
                Some(g) if g.status == DeviceStatus::Revoked => {
                    return rejected(
                        RejectCode::InvalidTransition,
                        format!("gateway {} is revoked; attach the meter to an active gateway", meter.gateway),
                    );
                }
                Some(_) => {}
            }
            if let Some(k) = &meter.public_key
                && state.key_in_use(k)
            {
                return rejected(RejectCode::AlreadyRegistered, format!("meter key {k} is already registered"));
            }
            if let Some(master) = &meter.master
                && let Err(why) = check_master(state, org, meter, master)
            {
                return rejected(RejectCode::InvalidMaster, why);
            }
            let slot = state.assign_slot(&meter.gateway, &meter.id);
            state.set_meter(meter.clone().into_meter(org.clone(), slot));
        }
        TxPayload::RecordCalibration { meter, calibration } => {
            if kind != OrgKind::MetrologyAuthority {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only a metrology authority records calibrations; {org} is a {kind:?}"),
                );
            }
            if &calibration.issuer != org {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!(
                        "certificate names issuer {} but the sender belongs to {org}; an authority records only its own certificates",
                        calibration.issuer
                    ),
                );
            }
            let Some(mut m) = state.meter(meter) else {
                return rejected(RejectCode::UnknownDevice, format!("meter {meter} is not registered"));
            };
            if m.status == DeviceStatus::Revoked {
                return rejected(RejectCode::InvalidTransition, format!("meter {meter} is revoked"));
            }
            m.calibration = Some(calibration.clone());
            state.set_meter(m);
        }
        TxPayload::ActivateDevice { device } => {
            if kind != OrgKind::Regulator {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only a regulator activates devices; {org} is a {kind:?}"),
                );
            }
            return set_status(state, device, DeviceStatus::Active, None);
        }
        TxPayload::RevokeDevice { device, .. } => {
            let owner_ok = |o: &UnifiedSocialCreditCode| kind == OrgKind::Regulator || o == org;
            let owner =
                state.gateway(device).map(|g| g.owner.clone()).or_else(|| state.meter(device).map(|m| m.owner.clone()));
            if let Some(o) = &owner
                && !owner_ok(o)
            {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only a regulator or the owning enterprise {o} may revoke {device}"),
                );
            }
            return set_status(state, device, DeviceStatus::Revoked, Some(org));
        }
        TxPayload::SubmitReadings { .. }
        | TxPayload::RotateKey { .. }
        | TxPayload::DeployPolicy { .. }
        | TxPayload::DeployMethodology { .. }
        | TxPayload::RecordCarbonEntry { .. }
        | TxPayload::SetCarbonPlan { .. }
        | TxPayload::VoidCarbonEntry { .. }
        | TxPayload::SubmitCarbonReport { .. }
        | TxPayload::Verification { .. }
        | TxPayload::Quota { .. }
        | TxPayload::Transfer { .. }
        | TxPayload::Staking { .. }
        | TxPayload::DeployRewardSchedule { .. }
        | TxPayload::SetShiftCalendar { .. }
        | TxPayload::RecordShiftOutput { .. }
        | TxPayload::ReplaceMeter { .. }
        | TxPayload::MonthlyReport { .. }
        | TxPayload::RegisterAccount { .. }
        | TxPayload::RevokeAccount { .. }
        | TxPayload::Propose { .. }
        | TxPayload::Approve { .. }
        | TxPayload::Grant { .. }
        | TxPayload::RevokeGrant { .. }
        | TxPayload::SetDisclosure { .. }
        | TxPayload::PublishFigures { .. } => unreachable!("handled by apply_tx"),
    }
    TxOutcome::Accepted
}

/// A carbon methodology's deployment (see [`TxPayload::DeployMethodology`]).
fn deploy_methodology(
    state: &mut State,
    height: u64,
    timestamp_ms: i64,
    org: &UnifiedSocialCreditCode,
    kind: OrgKind,
    text: &str,
) -> TxOutcome {
    let rejected = |code, msg: String| TxOutcome::Rejected(Rejection::new(code, msg));
    if !matches!(kind, OrgKind::IndustryAssociation | OrgKind::Regulator) {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only an industry association or a regulator deploys carbon methodologies; {org} is a {kind:?}"),
        );
    }
    let m = match trustmeter_carbon::Methodology::parse(text) {
        Ok(m) => m,
        Err(e) => return rejected(RejectCode::InvalidMethodology, format!("methodology refused: {e}")),
    };
    let latest = state.latest_methodology_version(&m.id);
    if latest >= crate::state::MAX_METHODOLOGY_VERSIONS {
        return rejected(
            RejectCode::LimitReached,
            format!("{} has {latest} versions, at most {}", m.id, crate::state::MAX_METHODOLOGY_VERSIONS),
        );
    }
    if m.version != latest + 1 {
        return rejected(
            RejectCode::InvalidMethodology,
            format!("{} version {} does not follow the latest deployed version {latest}", m.id, m.version),
        );
    }
    let today = trustmeter_energy::calendar::day_number(timestamp_ms);
    if latest > 0 && m.effective_from < today {
        return rejected(
            RejectCode::InvalidMethodology,
            format!(
                "{} version {} takes effect on {}, before this block's day {}: a new version never changes a period already begun",
                m.id,
                m.version,
                trustmeter_energy::calendar::day_label(m.effective_from),
                trustmeter_energy::calendar::day_label(today)
            ),
        );
    }
    state.install_methodology(crate::state::methodology_record(&m, text, height, Some(org.clone())));
    TxOutcome::Accepted
}

/// Policy deployment, meter replacement and monthly reports.
fn apply_accounting_tx(
    state: &mut State,
    height: u64,
    timestamp_ms: i64,
    org: &UnifiedSocialCreditCode,
    kind: OrgKind,
    payload: &TxPayload,
) -> TxOutcome {
    let rejected = |code, msg: String| TxOutcome::Rejected(Rejection::new(code, msg));
    match payload {
        TxPayload::DeployPolicy { text, effective_height } => {
            if kind != OrgKind::Regulator {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only a regulator deploys audit policies; {org} is a {kind:?}"),
                );
            }
            if *effective_height <= height {
                return rejected(
                    RejectCode::InvalidPolicy,
                    format!(
                        "effective height {effective_height} is not after this block ({height}); every validator must know the policy before it applies"
                    ),
                );
            }
            let policy = match crate::state::parsed_policy(text) {
                Ok(p) => p,
                Err(e) => return rejected(RejectCode::InvalidPolicy, format!("policy refused: {e}")),
            };
            let latest = state.latest_policy_version();
            if policy.version() <= latest {
                return rejected(
                    RejectCode::InvalidPolicy,
                    format!("policy version {} is not above the latest deployed version {latest}", policy.version()),
                );
            }
            let rec = crate::state::PolicyRecord {
                name: policy.name().to_string(),
                version: policy.version(),
                text: text.clone(),
                effective_height: *effective_height,
                deployed_height: height,
                deployed_by: Some(org.clone()),
            };
            state.install_policy(rec, policy);
        }
        TxPayload::DeployMethodology { text } => {
            return deploy_methodology(state, height, timestamp_ms, org, kind, text);
        }
        TxPayload::ReplaceMeter { meter, at_ms, old_final, new_initial } => {
            let Some(m) = state.meter(meter) else {
                return rejected(RejectCode::UnknownDevice, format!("meter {meter} is not registered"));
            };
            if kind != OrgKind::MetrologyAuthority {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!(
                        "only a metrology authority records meter replacements (it attests the old meter's final and the new meter's first value, as it does calibrations); {org} is a {kind:?}"
                    ),
                );
            }
            if m.status == DeviceStatus::Revoked {
                return rejected(RejectCode::InvalidTransition, format!("meter {meter} is revoked"));
            }
            if !m.register.is_cumulative() {
                return rejected(
                    RejectCode::InvalidTransition,
                    format!(
                        "meter {meter} has an instantaneous register; a replacement only matters to cumulative ones"
                    ),
                );
            }
            if old_final > &m.register_max || new_initial > &m.register_max {
                return rejected(
                    RejectCode::ValueOutOfRange,
                    format!("replacement values must lie within the register range [0, {}]", m.register_max),
                );
            }
            let mut progress = state.progress_of(&m).unwrap_or_default();
            let earliest = accounting::earliest_admissible(&progress, timestamp_ms, &state.params.accounting);
            if *at_ms < earliest || *at_ms > timestamp_ms + state.params.max_future_skew_ms {
                return rejected(
                    RejectCode::BadTimestamp,
                    format!(
                        "replacement time {at_ms} ms must lie between {earliest} ms (late-data window) and the block time"
                    ),
                );
            }
            if progress.replacements.iter().any(|r| r.at_ms == *at_ms) {
                return rejected(
                    RejectCode::AlreadyRegistered,
                    format!("a replacement of {meter} at {at_ms} ms is already recorded"),
                );
            }
            if progress.replacements.len() >= accounting::MAX_REPLACEMENTS {
                let oldest = progress.replacements.first().map_or(0, |r| r.at_ms);
                return rejected(
                    RejectCode::LimitReached,
                    format!(
                        "meter {meter} already has {} replacements inside the late-data window (the oldest at {oldest} ms); another can be recorded once readings after it move the window past it",
                        accounting::MAX_REPLACEMENTS
                    ),
                );
            }
            let rep = accounting::ReplacementRec {
                at_ms: *at_ms,
                old_final: old_final.micros(),
                new_initial: new_initial.micros(),
            };
            accounting::record_replacement(state, &m, &mut progress, rep, timestamp_ms);
            state.set_progress(&m, progress);
        }
        TxPayload::MonthlyReport { month, consumption, production, heating_values } => {
            if kind != OrgKind::Enterprise {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only an enterprise files monthly reports; {org} is a {kind:?}"),
                );
            }
            let rec = crate::state::MonthlyReportRecord {
                consumption: consumption.clone(),
                production: production.clone(),
                heating_values: heating_values.clone(),
                height,
            };
            state.set_monthly_report(org, *month, rec);
        }
        _ => unreachable!("only accounting payloads come here"),
    }
    TxOutcome::Accepted
}

/// Applies a key rotation. `sender_org` is the sender's organisation when the sender is an
/// account; a gateway may also rotate its own key, sending with its current key.
fn apply_rotation(
    state: &mut State,
    timestamp_ms: i64,
    sender: &PublicKey,
    sender_org: Option<&UnifiedSocialCreditCode>,
    payload: &TxPayload,
) -> TxOutcome {
    let TxPayload::RotateKey { device, new_public_key, proof } = payload else {
        unreachable!("only called for RotateKey")
    };
    let rejected = |code, msg: String| TxOutcome::Rejected(Rejection::new(code, msg));
    let gateway = state.gateway(device);
    let meter = state.meter(device);
    let (owner, status) = match (&gateway, &meter) {
        (Some(g), _) => (g.owner.clone(), g.status),
        (None, Some(m)) => (m.owner.clone(), m.status),
        (None, None) => return rejected(RejectCode::UnknownDevice, format!("device {device} is not registered")),
    };
    if let Err(r) = crate::membership::require_active(state, &owner) {
        return TxOutcome::Rejected(r);
    }
    let by_owner = sender_org == Some(&owner);
    let by_itself = gateway.as_ref().is_some_and(|g| &g.public_key == sender);
    if !by_owner && !by_itself {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only {owner}, which owns {device}, or the gateway itself with its current key may rotate its key"),
        );
    }
    if status == DeviceStatus::Revoked {
        return rejected(
            RejectCode::InvalidTransition,
            format!("device {device} is revoked; a revoked device stays revoked"),
        );
    }
    if meter.as_ref().is_some_and(|m| m.public_key.is_none()) {
        return rejected(
            RejectCode::WrongSigner,
            format!("meter {device} has no key of its own to rotate; its gateway signs for it"),
        );
    }
    if state.key_in_use(new_public_key) {
        return rejected(
            RejectCode::AlreadyRegistered,
            format!("key {new_public_key} is or was already registered; generate a fresh key on the device"),
        );
    }
    let proof_payload = trustmeter_types::rotation_proof_payload(&state.chain_id, device, new_public_key);
    if verify(new_public_key, &proof_payload, proof).is_err() {
        return rejected(
            RejectCode::BadTxSignature,
            format!(
                "the proof of possession of {new_public_key} does not verify; the new key must sign the rotation proof"
            ),
        );
    }
    if let Some(mut g) = gateway {
        g.rotate(new_public_key.clone(), timestamp_ms);
        state.set_gateway(g);
    } else if let Some(mut m) = meter {
        m.rotate(new_public_key.clone(), timestamp_ms);
        state.set_meter(m);
    }
    TxOutcome::Accepted
}

fn set_status(
    state: &mut State,
    device: &trustmeter_types::DeviceId,
    to: DeviceStatus,
    _by: Option<&UnifiedSocialCreditCode>,
) -> TxOutcome {
    let transition_ok = |from: DeviceStatus| match to {
        DeviceStatus::Active => from == DeviceStatus::Registered,
        DeviceStatus::Revoked => from != DeviceStatus::Revoked,
        DeviceStatus::Registered => false,
    };
    let bad = |from: DeviceStatus| {
        TxOutcome::Rejected(Rejection::new(
            RejectCode::InvalidTransition,
            format!("device {device} is {from:?} and cannot become {to:?}"),
        ))
    };
    if let Some(mut g) = state.gateway(device) {
        if !transition_ok(g.status) {
            return bad(g.status);
        }
        g.status = to;
        state.set_gateway(g);
    } else if let Some(mut m) = state.meter(device) {
        if !transition_ok(m.status) {
            return bad(m.status);
        }
        m.status = to;
        state.set_meter(m);
    } else {
        return TxOutcome::Rejected(Rejection::new(
            RejectCode::UnknownDevice,
            format!("device {device} is not registered"),
        ));
    }
    TxOutcome::Accepted
}

#[allow(clippy::too_many_arguments)]
fn apply_reading(
    state: &mut State,
    progress_cache: &mut ProgressCache,
    (gw, region): (&Gateway, u32),
    height: u64,
    block_ts: i64,
    position: (&Hash32, u32),
    sr: &SignedReading,
    verdicts: &SignatureVerdicts,
    leaves: &mut Vec<Hash32>,
) -> ReadingOutcome {
    let r = &sr.reading;
    let rej = |code, msg: String| ReadingOutcome::Rejected(Rejection::new(code, msg));
    let Some(meter) = state.meter(&r.meter) else {
        return rej(RejectCode::UnknownDevice, format!("meter {} is not registered on this chain", r.meter));
    };
    if meter.gateway != gw.id || meter.owner != gw.owner {
        return rej(
            RejectCode::MeterNotOwned,
            format!("meter {} is attached to gateway {}, not {}", r.meter, meter.gateway, gw.id),
        );
    }
    if meter.status != DeviceStatus::Active {
        return rej(
            RejectCode::MeterNotActive,
            format!("meter {} is {:?}; only active meters report", r.meter, meter.status),
        );
    }
    let key = match sr.signer {
        ReadingSigner::Gateway => match &meter.public_key {
            None => gw.keys_at(r.timestamp_ms),
            Some(_) => {
                return rej(
                    RejectCode::WrongSigner,
                    format!(
                        "meter {} has its own registered key, so it must sign its readings itself; the gateway may not sign for it",
                        r.meter
                    ),
                );
            }
        },
        ReadingSigner::Meter => match meter.keys_at(r.timestamp_ms) {
            Some(k) => k,
            None => {
                return rej(
                    RejectCode::WrongSigner,
                    format!(
                        "reading says meter {} signed it, but the meter has no registered key; sign with the gateway",
                        r.meter
                    ),
                );
            }
        },
    };
    if !key.iter().any(|k| verdicts.check_reading(position.0, position.1, k, sr)) {
        return rej(
            RejectCode::BadReadingSignature,
            format!("signature of reading {} of meter {} does not verify with the {:?} key", r.seq, r.meter, sr.signer),
        );
    }
    if r.unit != meter.unit {
        return rej(
            RejectCode::WrongUnit,
            format!("reading is in {} but meter {} is registered in {}", r.unit.symbol(), r.meter, meter.unit.symbol()),
        );
    }
    let min = if meter.register.is_cumulative() { 0 } else { -meter.register_max.micros() };
    if r.value.micros() < min || r.value > meter.register_max {
        return rej(
            RejectCode::ValueOutOfRange,
            format!(
                "value {} is outside the meter's range [{}, {}]",
                r.value,
                trustmeter_types::Quantity::from_micros(min),
                meter.register_max
            ),
        );
    }
    if r.timestamp_ms > block_ts.saturating_add(state.params.max_future_skew_ms) {
        return rej(
            RejectCode::BadTimestamp,
            format!(
                "timestamp {} ms is more than {} ms after the block time {}; check the gateway clock",
                r.timestamp_ms, state.params.max_future_skew_ms, block_ts
            ),
        );
    }
    match &meter.calibration {
        None => {
            return rej(
                RejectCode::CalibrationInvalid,
                format!("meter {} has no calibration certificate on record", r.meter),
            );
        }
        Some(c) if !c.covers(r.timestamp_ms) => {
            return rej(
                RejectCode::CalibrationInvalid,
                format!(
                    "certificate {} of meter {} is valid from {} to {} ms, not at {}",
                    c.certificate_no, r.meter, c.valid_from_ms, c.valid_until_ms, r.timestamp_ms
                ),
            );
        }
        Some(_) => {}
    }
    let leaf = reading_leaf(state.hash_alg(), sr);
    let meter_id = r.meter.clone();
    let mut progress = progress_cache.get(state, &meter).unwrap_or_default();
    if progress.accepted > 0 && r.seq <= progress.last_seq {
        // A resubmission: every accepted reading is a point of the window, found by its own time.
        let same_seq = accounting::points_at(state, &meter_id, r.timestamp_ms).into_iter().find(|p| p.seq == r.seq);
        if let Some(p) = same_seq {
            return if p.records(r) {
                ReadingOutcome::Duplicate
            } else {
                rej(
                    RejectCode::SequenceConflict,
                    format!("meter {} already recorded a different reading with sequence {}", r.meter, r.seq),
                )
            };
        }
        // Only a window that has dropped points can have forgotten the reading, and only one
        // stamped no later than its oldest kept point; otherwise a sequence not found there was
        // never recorded: it arrives out of order.
        let forgotten =
            progress.accepted > u64::from(progress.window_points) && r.timestamp_ms <= progress.window_oldest_ms;
        return if forgotten {
            rej(
                RejectCode::StaleSequence,
                format!(
                    "reading {} of meter {} (time {} ms) is older than the readings the chain still remembers of it (from {} ms; last sequence {}); if it was acknowledged before, nothing is lost",
                    r.seq, r.meter, r.timestamp_ms, progress.window_oldest_ms, progress.last_seq
                ),
            )
        } else {
            rej(
                RejectCode::SequenceConflict,
                format!(
                    "sequence {} arrives after {} for meter {}; sequences must increase",
                    r.seq, progress.last_seq, r.meter
                ),
            )
        };
    }
    // Late data: a reading older than the meter's latest is placed by its own timestamp, as long
    // as it lies inside the late window (the chain still holds its neighbours).
    let params = state.params.accounting.clone();
    let earliest = accounting::earliest_admissible(&progress, block_ts, &params);
    if progress.accepted > 0 && r.timestamp_ms < progress.last_timestamp_ms && r.timestamp_ms < earliest {
        return rej(
            RejectCode::BadTimestamp,
            format!(
                "timestamp {} ms is before the meter's latest reading ({} ms) and older than the late-data window allows ({} ms, {} h behind the block time); record it through the enterprise's monthly report instead",
                r.timestamp_ms,
                progress.last_timestamp_ms,
                earliest,
                params.late_window_ms / 3_600_000
            ),
        );
    }
    let n = accounting::neighbours(state, &meter_id, &progress, r.timestamp_ms);
    if n.at.is_some() && n.after.is_some() {
        return rej(
            RejectCode::BadTimestamp,
            format!(
                "meter {} already has a reading at {} ms; a register has one value per instant",
                r.meter, r.timestamp_ms
            ),
        );
    }
    // The audit policy in force at this height (审核规则).
    let policy = state.policy_in_force(height);
    let input = audit_input(state, &meter, r, n.previous().as_ref(), block_ts);
    let mut flags = match policy.evaluate(&input) {
        Verdict::Accepted => vec![],
        Verdict::Flagged(found) => found.into_iter().map(finding_flag).collect(),
        Verdict::Rejected(f) => {
            return rej(RejectCode::PolicyRejected, format!("rule {} ({}): {}", f.rule, f.code, f.reason));
        }
    };
    progress.last_seq = r.seq;
    progress.accepted += 1;
    progress.history = MeterProgress::chain(state.hash_alg(), &progress.history, r.seq, &leaf);
    let point = PointRec::of(r);
    let found = accounting::record_point(state, &meter, region, &mut progress, point, n, block_ts, !flags.is_empty());
    flags.extend(found);
    progress_cache.set(state, &meter, progress);
    leaves.push(leaf); // recorded: its leaf goes into the block's readings tree
    if flags.is_empty() { ReadingOutcome::Accepted } else { ReadingOutcome::Flagged { flags } }
}

/// What the audit policy sees of a reading: the reading, its meter, the meter's previous reading in
/// time order and the block. The same facts at the gateway give the same verdict.
pub fn audit_input(
    _state: &State,
    meter: &trustmeter_types::Meter,
    r: &trustmeter_types::Reading,
    previous: Option<&PointRec>,
    block_ts: i64,
) -> AuditInput {
    policy_facts(meter, r, previous.map(|p| (p.ts_ms, p.value)), block_ts, &_state.params)
}

/// Builds the policy's input from plain facts (shared with the gateway, which keeps its own
/// previous readings).
pub fn policy_facts(
    meter: &trustmeter_types::Meter,
    r: &trustmeter_types::Reading,
    previous: Option<(i64, i64)>,
    block_ts: i64,
    params: &trustmeter_types::ChainParams,
) -> AuditInput {
    use trustmeter_policy::{BlockFacts, MeterFacts, PreviousFacts, ReadingFacts};
    AuditInput {
        reading: ReadingFacts::from_reading(r),
        meter: MeterFacts::from_meter(meter),
        previous: previous.map(|(timestamp_ms, value)| PreviousFacts {
            timestamp_ms,
            value: trustmeter_types::Quantity::from_micros(value).as_f64(),
        }),
        block: BlockFacts {
            timestamp_ms: block_ts,
            max_future_skew_ms: params.max_future_skew_ms,
            late_window_ms: params.accounting.late_window_ms,
        },
    }
}

fn finding_flag(f: trustmeter_policy::Finding) -> trustmeter_types::Flag {
    use trustmeter_types::receipt::bounded_message;
    trustmeter_types::Flag {
        code: bounded_message(f.code),
        rule: bounded_message(f.rule),
        reason: bounded_message(f.reason),
    }
}
