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
//! `mempool_full` and the client retries later (nothing acknowledged is lost). One sender may
//! hold at most an eighth of either ([`MempoolLimits::sender_share`]), so no single member
//! account or gateway can fill the mempool and keep the others out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use trustmeter_crypto::{HashAlg, tx_hash};
use trustmeter_state::exec::{admission_check, check_includable_hashed};
use trustmeter_state::{SignatureVerdicts, State};
use trustmeter_types::{Hash32, PublicKey, RejectCode, Rejection, Transaction};

/// Capacity limits.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most transactions waiting.
    pub max_txs: usize,
    /// Most readings waiting, across transactions.
    pub max_readings: usize,
    /// How many recent admission rejections are remembered for receipt queries.
    pub remembered_rejections: usize,
    /// The share of `max_txs` and of `max_readings` one sender may hold waiting, as a divisor:
    /// 8 means an eighth (2 500 transactions and 50 000 readings by default). Beyond it the
    /// sender's transactions get `mempool_full` while the others' are still admitted.
    pub sender_share: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self { max_txs: 20_000, max_readings: 400_000, remembered_rejections: 10_000, sender_share: 8 }
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
    /// The nonces waiting per sender (what gossip frames name as a transaction's predecessor).
    nonces: HashMap<PublicKey, BTreeSet<u64>>,
    /// The readings waiting per sender (for [`MempoolLimits::sender_share`]).
    sender_readings: HashMap<PublicKey, usize>,
    readings: usize,
    rejected: HashMap<Hash32, Rejection>,
    rejected_order: VecDeque<Hash32>,
}

/// The checks of admission that need no lock: every signature in one batch, then the rules that
/// would reject the transaction as a whole, against `state`. Returns the signature verdicts to keep
/// with the transaction, so the block that includes it does not verify them again.
pub fn precheck(state: &State, tx: &Transaction) -> Result<SignatureVerdicts, Rejection> {
    precheck_hashed(state, tx, None)
}

/// [`precheck`] of a transaction whose hash the caller already computed (`Some`: exactly
/// `tx_hash` of it under the chain's algorithm).
pub fn precheck_hashed(state: &State, tx: &Transaction, hash: Option<Hash32>) -> Result<SignatureVerdicts, Rejection> {
    let hash = hash.unwrap_or_else(|| tx_hash(state.hash_alg(), tx));
    let verdicts = SignatureVerdicts::batch_verify_hashed(state, [(tx, Some(hash))], &mut rand::rng());
    check_includable_hashed(state, tx, &hash, &verdicts)?;
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
            nonces: HashMap::new(),
            sender_readings: HashMap::new(),
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
    /// The highest nonce of `sender` waiting here below `nonce`, if any: the predecessor a gossip
    /// frame names for a transaction of theirs this node admitted from a client.
    pub fn nonce_below(&self, sender: &PublicKey, nonce: u64) -> Option<u64> {
        self.nonces.get(sender)?.range(..nonce).next_back().copied()
    }

    /// Whether a transaction of `sender` with `nonce` waits here.
    pub fn has_nonce(&self, sender: &PublicKey, nonce: u64) -> bool {
        self.nonces.get(sender).is_some_and(|set| set.contains(&nonce))
    }

    /// The rejection recorded at admission for a transaction, if any.
    pub fn rejection(&self, h: &Hash32) -> Option<&Rejection> {
        self.rejected.get(h)
    }

    /// Whether there is room for a transaction of `sender` with `readings` readings: in the
    /// mempool, and within the sender's share of it.
    pub fn check_capacity(&self, sender: &PublicKey, readings: usize) -> Result<(), Rejection> {
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
        let share = self.limits.sender_share.max(1);
        let (max_txs, max_readings) = (self.limits.max_txs / share, self.limits.max_readings / share);
        let txs = self.nonces.get(sender).map_or(0, BTreeSet::len);
        let waiting = self.sender_readings.get(sender).copied().unwrap_or(0);
        // A transaction larger than the share alone is still admitted when nothing of its sender
        // waits (the block limits bound it), so no valid transaction is refused forever.
        if txs >= max_txs || (txs > 0 && waiting + readings > max_readings) {
            return Err(Rejection::new(
                RejectCode::MempoolFull,
                format!(
                    "this sender already has {txs} transactions and {waiting} readings waiting on this node (at most {max_txs} and {max_readings}); retry once some are finalized"
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
        self.insert_hashed(tx, h, verdicts)
    }

    /// [`Mempool::insert`] of a transaction whose id `h` the caller computed (`tx_hash` under
    /// this mempool's algorithm): a 500-reading transaction is not hashed again under the lock.
    pub fn insert_hashed(
        &mut self,
        tx: Transaction,
        h: Hash32,
        verdicts: SignatureVerdicts,
    ) -> Result<Hash32, Rejection> {
        debug_assert_eq!(h, tx_hash(self.alg, &tx));
        if self.pending.contains_key(&h) {
            return Ok(h);
        }
        let readings = tx.body.payload.reading_count();
        self.check_capacity(&tx.body.sender, readings)?;
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.order.insert(arrival, h);
        self.readings += readings;
        self.nonces.entry(tx.body.sender.clone()).or_default().insert(tx.body.nonce);
        *self.sender_readings.entry(tx.body.sender.clone()).or_default() += readings;
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
                let sender = &p.tx.body.sender;
                if let Some(set) = self.nonces.get_mut(sender) {
                    set.remove(&p.tx.body.nonce);
                    if set.is_empty() {
                        self.nonces.remove(sender);
                    }
                }
                if let Some(n) = self.sender_readings.get_mut(sender) {
                    *n = n.saturating_sub(p.readings);
                    if *n == 0 && !self.nonces.contains_key(sender) {
                        self.sender_readings.remove(sender);
                    }
                }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use trustmeter_crypto::{SigningKey, sign_tx};
    use trustmeter_types::{ChainId, DeviceId, KeyScheme, TxBody, TxPayload};

    /// A signed transaction of the sender whose key has seed `[sender; 32]` (shared by the gossip
    /// tests).
    pub(crate) fn tx(sender: u8, nonce: u64) -> Transaction {
        let key = SigningKey::from_seed(KeyScheme::Ed25519, [sender; 32]);
        let body = TxBody {
            chain_id: ChainId::new("test").unwrap(),
            sender: key.public_key(),
            nonce,
            payload: TxPayload::ActivateDevice { device: DeviceId::new("91430100700001000N-GW01").unwrap() },
        };
        sign_tx(&key, body)
    }

    /// A hostile member account (or a runaway gateway) fills only its own share of the mempool:
    /// the others' transactions are still admitted, and its own again once some of its
    /// transactions leave.
    #[test]
    fn one_sender_cannot_fill_the_mempool() {
        let limits = MempoolLimits { max_txs: 40, sender_share: 8, ..MempoolLimits::default() };
        let mut m = Mempool::new(HashAlg::Sha256, limits);
        let mut mine = Vec::new();
        for nonce in 1..=5 {
            mine.push(m.insert(tx(1, nonce), SignatureVerdicts::none()).unwrap());
        }
        let refused = m.insert(tx(1, 6), SignatureVerdicts::none()).unwrap_err();
        assert_eq!(refused.code, RejectCode::MempoolFull);
        assert!(refused.message.contains("this sender already has 5 transactions"), "{}", refused.message);
        // Everyone else is still admitted, up to their own share each.
        for sender in 2..=8 {
            for nonce in 1..=5 {
                m.insert(tx(sender, nonce), SignatureVerdicts::none()).unwrap();
            }
        }
        assert_eq!(m.len(), 40);
        // The whole mempool is now full, for a newcomer too.
        let full = m.insert(tx(9, 1), SignatureVerdicts::none()).unwrap_err();
        assert!(full.message.contains("this node already holds 40 transactions"), "{}", full.message);
        // Once one of its transactions is finalized (removed), the sender has room again.
        m.remove([mine[0]]);
        m.insert(tx(1, 6), SignatureVerdicts::none()).unwrap();
        assert!(m.sender_readings.len() <= 8 && m.nonces.len() == 8);
    }

    #[test]
    fn a_senders_waiting_readings_count_against_its_share() {
        let limits = MempoolLimits { max_readings: 80, sender_share: 8, ..MempoolLimits::default() };
        let m = Mempool::new(HashAlg::Sha256, limits);
        let s = tx(1, 0).body.sender;
        // Nothing of the sender waits: even a transaction above its share alone is admitted.
        assert!(m.check_capacity(&s, 30).is_ok());
        let mut m = m;
        m.sender_readings.insert(s.clone(), 8);
        m.nonces.entry(s.clone()).or_default().insert(1);
        assert!(m.check_capacity(&s, 2).is_ok(), "8 + 2 readings fit a share of 10");
        assert_eq!(m.check_capacity(&s, 3).unwrap_err().code, RejectCode::MempoolFull);
        let other = tx(2, 0).body.sender;
        assert!(m.check_capacity(&other, 3).is_ok());
    }

    #[test]
    fn a_senders_waiting_nonces_are_tracked_through_insert_and_remove() {
        let mut m = Mempool::new(HashAlg::Sha256, MempoolLimits::default());
        let s1 = tx(1, 0).body.sender;
        let s2 = tx(2, 0).body.sender;
        let hashes: Vec<Hash32> = [tx(1, 3), tx(1, 7), tx(2, 5)]
            .into_iter()
            .map(|t| m.insert(t, SignatureVerdicts::none()).unwrap())
            .collect();
        assert_eq!(m.nonce_below(&s1, 7), Some(3));
        assert_eq!(m.nonce_below(&s1, 100), Some(7));
        assert_eq!(m.nonce_below(&s1, 3), None);
        assert_eq!(m.nonce_below(&s2, 6), Some(5));
        assert!(m.has_nonce(&s1, 3) && m.has_nonce(&s1, 7) && !m.has_nonce(&s1, 5) && !m.has_nonce(&s2, 3));
        // Inserting the same transaction again changes nothing; removing forgets its nonce.
        m.insert(tx(1, 3), SignatureVerdicts::none()).unwrap();
        m.remove([hashes[0]]);
        assert!(!m.has_nonce(&s1, 3));
        assert_eq!(m.nonce_below(&s1, 7), None);
        m.remove([hashes[1], hashes[2]]);
        assert!(m.nonces.is_empty(), "no sender is remembered once nothing of theirs waits");
    }
}
