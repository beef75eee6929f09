//! The mempool: transactions admitted by this node and waiting to be proposed.
//!
//! Admission runs every check the state machine would run against the latest finalized state —
//! decoding limits, chain id, signatures (in one batch), sender, nonce and a dry run of the
//! transaction — so a client learns at once, with a code and a sentence, why a transaction will not
//! be accepted. Admitted transactions wait here until this node proposes them; a transaction is
//! only *acknowledged* once a block containing it is finalized.
//!
//! Limits are explicit: at most [`MempoolLimits::max_txs`] transactions and
//! [`MempoolLimits::max_readings`] readings wait at once; past that, admission answers
//! `mempool_full` and the client retries later (nothing acknowledged is lost).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use trustmeter_crypto::{HashAlg, tx_hash};
use trustmeter_state::exec::{admission_check, check_includable};
use trustmeter_state::{SignatureVerdicts, State};
use trustmeter_types::{Hash32, RejectCode, Rejection, Transaction};

/// Capacity limits.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most transactions waiting.
    pub max_txs: usize,
    /// Most readings waiting, across transactions.
    pub max_readings: usize,
    /// How many recent admission rejections are remembered for receipt queries.
    pub remembered_rejections: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self { max_txs: 20_000, max_readings: 400_000, remembered_rejections: 10_000 }
    }
}

struct Pending {
    tx: Arc<Transaction>,
    verdicts: Arc<SignatureVerdicts>,
    readings: usize,
}

/// Transactions waiting to be proposed.
pub struct Mempool {
    alg: HashAlg,
    limits: MempoolLimits,
    next_arrival: u64,
    order: BTreeMap<u64, Hash32>,
    pending: HashMap<Hash32, (u64, Pending)>,
    readings: usize,
    rejected: HashMap<Hash32, Rejection>,
    rejected_order: VecDeque<Hash32>,
}

/// The checks of admission that need no lock: every signature in one batch, then the rules that
/// would reject the transaction as a whole, against `state`. Returns the signature verdicts to keep
/// with the transaction, so the block that includes it does not verify them again.
pub fn precheck(state: &State, tx: &Transaction) -> Result<SignatureVerdicts, Rejection> {
    let verdicts = SignatureVerdicts::batch_verify(state, &[tx], &mut rand::rng());
    check_includable(state, tx, &verdicts)?;
    admission_check(state, tx, &verdicts)?;
    Ok(verdicts)
}

impl Mempool {
    /// An empty mempool for a chain hashing with `alg` (transactions are keyed by their id).
    pub fn new(alg: HashAlg, limits: MempoolLimits) -> Self {
        Self {
            alg,
            limits,
            next_arrival: 0,
            order: BTreeMap::new(),
            pending: HashMap::new(),
            readings: 0,
            rejected: HashMap::new(),
            rejected_order: VecDeque::new(),
        }
    }

    /// The hash algorithm of transaction ids here.
    pub fn hash_alg(&self) -> HashAlg {
        self.alg
    }

    /// Number of waiting transactions.
    pub fn len(&self) -> usize {
        self.pending.len()
    }
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
    /// Number of waiting readings.
    pub fn readings(&self) -> usize {
        self.readings
    }
    /// Whether a transaction is waiting.
    pub fn contains(&self, h: &Hash32) -> bool {
        self.pending.contains_key(h)
    }
    /// The rejection recorded at admission for a transaction, if any.
    pub fn rejection(&self, h: &Hash32) -> Option<&Rejection> {
        self.rejected.get(h)
    }

    /// Whether there is room for a transaction with `readings` readings.
    pub fn check_capacity(&self, readings: usize) -> Result<(), Rejection> {
        if self.pending.len() >= self.limits.max_txs || self.readings + readings > self.limits.max_readings {
            return Err(Rejection::new(
                RejectCode::MempoolFull,
                format!(
                    "this node already holds {} transactions and {} readings waiting; retry in a few seconds",
                    self.pending.len(),
                    self.readings
                ),
            ));
        }
        Ok(())
    }

    /// Records a rejection so the client can look it up by hash.
    pub fn remember_rejection(&mut self, h: Hash32, r: Rejection) {
        if self.rejected.insert(h, r).is_none() {
            self.rejected_order.push_back(h);
        }
        while self.rejected_order.len() > self.limits.remembered_rejections {
            if let Some(old) = self.rejected_order.pop_front() {
                self.rejected.remove(&old);
            }
        }
    }

    /// Inserts a transaction that passed [`precheck`]. Idempotent.
    pub fn insert(&mut self, tx: Transaction, verdicts: SignatureVerdicts) -> Result<Hash32, Rejection> {
        let h = tx_hash(self.alg, &tx);
        if self.pending.contains_key(&h) {
            return Ok(h);
        }
        let readings = tx.body.payload.reading_count();
        self.check_capacity(readings)?;
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.order.insert(arrival, h);
        self.readings += readings;
        self.pending.insert(h, (arrival, Pending { tx: Arc::new(tx), verdicts: Arc::new(verdicts), readings }));
        self.rejected.remove(&h);
        Ok(h)
    }

    /// Waiting transactions in arrival order, with their verdicts, up to the given totals.
    pub fn candidates(&self, max_txs: usize, max_readings: usize) -> Vec<(Arc<Transaction>, Arc<SignatureVerdicts>)> {
        let mut out = Vec::new();
        let mut readings = 0;
        for h in self.order.values() {
            if out.len() >= max_txs {
                break;
            }
            let (_, p) = &self.pending[h];
            if readings + p.readings > max_readings {
                continue;
            }
            readings += p.readings;
            out.push((p.tx.clone(), p.verdicts.clone()));
        }
        // Transactions of one sender may arrive out of nonce order (through different nodes):
        // keep the arrival slots but fill each sender's slots in nonce order.
        let mut slots: HashMap<&trustmeter_types::PublicKey, Vec<usize>> = HashMap::new();
        for (i, (tx, _)) in out.iter().enumerate() {
            slots.entry(&tx.body.sender).or_default().push(i);
        }
        let mut ordered = out.clone();
        for positions in slots.values() {
            let mut mine: Vec<_> = positions.iter().map(|i| out[*i].clone()).collect();
            mine.sort_by_key(|(tx, _)| tx.body.nonce);
            for (pos, item) in positions.iter().zip(mine) {
                ordered[*pos] = item;
            }
        }
        ordered
    }

    /// The verdicts held for those of `txs` that wait here, and the ones that do not.
    pub fn verdicts_for<'a>(&self, txs: &'a [Transaction]) -> (SignatureVerdicts, Vec<&'a Transaction>) {
        let mut verdicts = SignatureVerdicts::none();
        let mut missing = Vec::new();
        for tx in txs {
            match self.pending.get(&tx_hash(self.alg, tx)) {
                Some((_, p)) => verdicts.extend((*p.verdicts).clone()),
                None => missing.push(tx),
            }
        }
        (verdicts, missing)
    }

    /// Removes transactions (included in a finalized block, or no longer valid).
    pub fn remove(&mut self, hashes: impl IntoIterator<Item = Hash32>) {
        for h in hashes {
            if let Some((arrival, p)) = self.pending.remove(&h) {
                self.order.remove(&arrival);
                self.readings -= p.readings;
            }
        }
    }

    /// Drops waiting transactions whose nonce the finalized state has passed, and remembers why,
    /// so their receipt says `stale_nonce` (sign again with a fresh nonce) instead of "unknown".
    pub fn prune_stale(&mut self, state: &State) {
        let stale: Vec<(Hash32, u64, u64)> = self
            .pending
            .iter()
            .filter(|(_, (_, p))| p.tx.body.nonce <= state.nonce(&p.tx.body.sender))
            .map(|(h, (_, p))| (*h, p.tx.body.nonce, state.nonce(&p.tx.body.sender)))
            .collect();
        for (h, nonce, last) in &stale {
            self.remember_rejection(
                *h,
                Rejection::new(
                    RejectCode::StaleNonce,
                    format!(
                        "the sender's nonce reached {last} in a finalized block before this transaction (nonce {nonce}) was included; sign it again with a fresh nonce"
                    ),
                ),
            );
        }
        self.remove(stale.into_iter().map(|(h, _, _)| h));
    }
}
