//! Signature pre-verification.
//!
//! Verifying signatures is most of the cost of a block (see the ingest benchmark). Outside the
//! pure core, the node verifies all signatures of a block or a mempool batch together with
//! [`SignatureVerdicts::batch_verify`]. Execution then looks each signature up: a transaction's by
//! its hash (which covers the key, the signature and the signed body), a reading's by its place in
//! its transaction and the key; a verdict is only ever used for the exact key it was made with,
//! and anything without a verdict is verified on the spot. Under ZIP-215 a batch and a single
//! verification agree, so the outcome never depends on which path ran.

use rand::{CryptoRng, Rng};
use std::collections::HashMap;
use trustmeter_crypto::{BatchVerifier, verify};
use trustmeter_types::{Hash32, PublicKey, ReadingSigner, Transaction, TxPayload};

use crate::State;

/// Known signature verdicts: transaction signatures keyed by the transaction's hash (under the
/// chain's algorithm; it covers every byte of the transaction: sender key, body, signature);
/// reading signatures keyed by (transaction hash, position in the batch) together with
/// the key they were checked against. The transaction hash covers every byte of the transaction,
/// so a position names exactly one signed reading.
#[derive(Default, Debug, Clone)]
pub struct SignatureVerdicts {
    verdicts: HashMap<Hash32, bool>,
    readings: HashMap<(Hash32, u32), (PublicKey, bool)>,
    trust_all: bool,
}

impl SignatureVerdicts {
    /// No verdicts: execution verifies everything itself.
    pub fn none() -> Self {
        Self::default()
    }

    /// Number of verdicts held.
    pub fn len(&self) -> usize {
        self.verdicts.len() + self.readings.len()
    }

    /// Whether no verdicts are held.
    pub fn is_empty(&self) -> bool {
        self.verdicts.is_empty() && self.readings.is_empty()
    }

    /// Adds every verdict of `other`.
    pub fn extend(&mut self, other: SignatureVerdicts) {
        self.verdicts.extend(other.verdicts);
        self.readings.extend(other.readings);
    }

    /// Accepts every signature without checking. Only for re-executing blocks that this node
    /// already verified and finalized, read back from its own disk (index rebuilds, proof
    /// generation); never for anything received from the network.
    pub fn trust_finalized() -> Self {
        Self { trust_all: true, ..Self::default() }
    }

    /// Checks the sender signature of `tx`, whose hash is `hash` ([`trustmeter_crypto::tx_hash`]
    /// under the chain's algorithm), using a known verdict when there is one.
    pub fn check_tx(&self, hash: &Hash32, tx: &Transaction) -> bool {
        if self.trust_all {
            return true;
        }
        match self.verdicts.get(hash) {
            Some(v) => *v,
            None => verify(&tx.body.sender, &tx.body.signing_payload(), &tx.signature).is_ok(),
        }
    }

    /// Checks the signature of reading `index` of transaction `tx` against `pk`, using the verdict
    /// made for exactly that position and key when there is one.
    pub fn check_reading(
        &self,
        tx: &Hash32,
        index: u32,
        pk: &PublicKey,
        reading: &trustmeter_types::SignedReading,
    ) -> bool {
        if self.trust_all {
            return true;
        }
        match self.readings.get(&(*tx, index)) {
            Some((k, ok)) if k == pk => *ok,
            _ => verify(pk, &reading.reading.signing_payload(), &reading.signature).is_ok(),
        }
    }

    /// Verifies in one batch every transaction signature and every reading signature whose key
    /// `state` already knows.
    pub fn batch_verify<R: Rng + CryptoRng>(state: &State, txs: &[&Transaction], rng: &mut R) -> Self {
        Self::batch_verify_hashed(state, txs.iter().map(|tx| (*tx, None)), rng)
    }

    /// [`SignatureVerdicts::batch_verify`] of transactions whose hashes the caller may already
    /// hold (`Some`: it must be [`trustmeter_crypto::tx_hash`] of the transaction under the
    /// chain's algorithm), so a 500-reading transaction is not encoded and hashed twice.
    pub fn batch_verify_hashed<'a, R: Rng + CryptoRng>(
        state: &State,
        txs: impl IntoIterator<Item = (&'a Transaction, Option<Hash32>)>,
        rng: &mut R,
    ) -> Self {
        enum Slot {
            Tx(Hash32),
            Reading(Hash32, u32, PublicKey),
        }
        let mut batch = BatchVerifier::new();
        let mut slots = Vec::new();
        for (tx, hash) in txs {
            debug_assert!(hash.is_none_or(|h| h == trustmeter_crypto::tx_hash(state.hash_alg(), tx)));
            let h = hash.unwrap_or_else(|| trustmeter_crypto::tx_hash(state.hash_alg(), tx));
            slots.push(Slot::Tx(h));
            batch.queue(&tx.body.sender, &tx.body.signing_payload(), &tx.signature);
            if let TxPayload::SubmitReadings { gateway, readings } = &tx.body.payload {
                let gateway = state.gateway(gateway);
                for (i, r) in readings.iter().enumerate() {
                    let t = r.reading.timestamp_ms;
                    let key = match r.signer {
                        ReadingSigner::Gateway => gateway.as_ref().map(|g| g.keys_at(t).likely().clone()),
                        ReadingSigner::Meter => {
                            state.meter(&r.reading.meter).and_then(|m| m.keys_at(t).map(|k| k.likely().clone()))
                        }
                    };
                    if let Some(pk) = key {
                        batch.queue(&pk, &r.reading.signing_payload(), &r.signature);
                        slots.push(Slot::Reading(h, i as u32, pk));
                    }
                }
            }
        }
        let results = batch.verify(rng);
        let mut out = SignatureVerdicts::default();
        for (slot, r) in slots.into_iter().zip(results) {
            match slot {
                Slot::Tx(k) => {
                    out.verdicts.insert(k, r.is_ok());
                }
                Slot::Reading(h, i, pk) => {
                    out.readings.insert((h, i), (pk, r.is_ok()));
                }
            }
        }
        out
    }
}
