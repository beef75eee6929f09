//! Equivocation reports: the conflicting votes this node's consensus engine sees become
//! `ReportEquivocation` transactions, signed with the node's consensus key and admitted to its
//! own mempool (which gossips them), so a validator that double-votes is slashed and jailed
//! without anyone having to notice it by hand (see `trustmeter_types::economy`).
//!
//! **Where the evidence comes from.** Commonware's Simplex reports three kinds of fault it meets
//! among the votes it receives: two notarizes of different proposals in one round
//! (`ConflictingNotarize`), two finalizes likewise (`ConflictingFinalize`), and a nullify with a
//! finalize (`NullifyFinalize`). The engine reports the second vote before checking its
//! signature, and only a peer may send votes signed under its own index, so a report can only
//! ever name the peer that sent it. [`FaultWatch`] turns each report into an
//! [`Equivocation`] and checks both signatures exactly as the state machine will
//! (`trustmeter_client::consensus::vote_is_signed`) before queueing it: a report whose votes do
//! not verify is dropped, and never costs a transaction.
//!
//! **Bounds.** At most one report per (validator, epoch) is queued (the chain slashes a validator
//! at most once per epoch); the set of reported pairs keeps the last [`MAX_REMEMBERED`]; the
//! queue to the submitting task holds [`QUEUE`] reports and drops the rest (each honest
//! validator reports on its own, so one lost report is not lost evidence). Checking a report
//! costs two Ed25519 verifications, on the engine's task.
//!
//! **Submission.** [`submit_reports`] signs each report with the next nonce of the node's
//! consensus key and admits it with gossip. Every honest validator that saw the fault reports
//! it; the first report in a block slashes, the others are refused as duplicates. A report is
//! skipped when the finalized state already shows the validator slashed in that epoch, or when
//! this node's key is not a registered validator (the state machine takes evidence from a
//! consensus key only when it is one).

use crate::App;
use crate::app::Scheme;
use crate::epochs::EpochProvider;
use commonware_actor::Feedback;
use commonware_codec::{Encode, Read};
use commonware_consensus::simplex::types::{Activity, Finalize, Notarize, Nullify};
use commonware_cryptography::sha256;
use futures::StreamExt;
use futures::channel::mpsc;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tracing::{debug, info, warn};
use trustmeter_crypto::{SigningKey, sign_tx};
use trustmeter_types::economy::{Equivocation, SignedVote, StakingOp, VoteKind};
use trustmeter_types::{ChainId, Hash32, KeyScheme, PublicKey, Signature, TxBody, TxPayload};

/// Reports queued for submission at most (further ones are dropped until the queue drains).
pub const QUEUE: usize = 64;

/// (validator, epoch) pairs remembered as reported, at most; the oldest epochs are forgotten
/// first.
pub const MAX_REMEMBERED: usize = 4_096;

/// Watches the consensus engine's activity for equivocation (see the module documentation).
/// Cheap to clone; clones share the set of reported pairs and the queue.
#[derive(Clone)]
pub struct FaultWatch {
    provider: EpochProvider,
    namespace: Arc<Vec<u8>>,
    queue: mpsc::Sender<Equivocation>,
    reported: Arc<Mutex<BTreeSet<Reported>>>,
}

/// A (epoch, validator key) pair already reported.
type Reported = (u64, [u8; 32]);

impl FaultWatch {
    /// A watch that checks votes under `namespace` (the chain's consensus namespace) against the
    /// sets `provider` knows; returns it with the receiving end of its queue.
    pub fn new(provider: EpochProvider, namespace: Vec<u8>) -> (Self, mpsc::Receiver<Equivocation>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        (Self { provider, namespace: Arc::new(namespace), queue, reported: Arc::default() }, rx)
    }

    /// Looks at one activity of the engine; queues a checked report when it is a fault.
    pub fn observe(&mut self, activity: &Activity<Scheme, sha256::Digest>) {
        let evidence = match activity {
            Activity::ConflictingNotarize(c) => pair::<Notarize<Scheme, sha256::Digest>, _>(&c.encode(), notarize),
            Activity::ConflictingFinalize(c) => pair::<Finalize<Scheme, sha256::Digest>, _>(&c.encode(), finalize),
            Activity::NullifyFinalize(c) => nullify_finalize(&c.encode()),
            _ => return,
        };
        let Some((signer, ev)) = evidence else {
            debug!("a fault report that does not decode");
            return;
        };
        let Some(set) = self.provider.set(ev.epoch) else { return };
        let Some(member) = set.members.get(signer as usize) else { return };
        let key = match PublicKey::new(KeyScheme::Ed25519, member.key.as_ref().to_vec()) {
            Ok(k) => k,
            Err(_) => return,
        };
        let mut ev = ev;
        ev.validator = key;
        let id = (ev.epoch, <[u8; 32]>::try_from(ev.validator.bytes.as_slice()).unwrap_or([0; 32]));
        if self.reported.lock().expect("fault watch lock").contains(&id) {
            return;
        }
        if !ev.conflicts() || !self.signed(&ev) {
            debug!(epoch = ev.epoch, view = ev.view, "a fault report whose votes do not verify: dropped");
            return;
        }
        {
            let mut reported = self.reported.lock().expect("fault watch lock");
            reported.insert(id);
            while reported.len() > MAX_REMEMBERED {
                reported.pop_first();
            }
        }
        warn!(
            validator = %ev.validator,
            epoch = ev.epoch,
            view = ev.view,
            first = ?ev.first.kind,
            second = ?ev.second.kind,
            "a validator equivocated: reporting it to the chain"
        );
        if self.queue.try_send(ev).is_err() {
            debug!("fault report queue full or closed: report dropped");
        }
    }

    /// Whether both votes carry the named validator's signature.
    fn signed(&self, ev: &Equivocation) -> bool {
        [&ev.first, &ev.second].into_iter().all(|v| {
            trustmeter_client::consensus::vote_is_signed(
                &self.namespace,
                v.kind,
                (ev.epoch, ev.view),
                (v.parent_view, v.payload),
                &ev.validator,
                &v.signature,
            )
        })
    }
}

/// One decoded vote: (signer index, epoch, view, vote).
type Decoded = (u32, u64, u64, SignedVote);

fn signature_of<
    S: commonware_cryptography::certificate::Scheme<Signature = commonware_cryptography::ed25519::Signature>,
>(
    attestation: &commonware_cryptography::certificate::Attestation<S>,
) -> Option<Signature> {
    let sig = attestation.signature.get()?;
    Signature::new(KeyScheme::Ed25519, sig.encode().to_vec()).ok()
}

/// A notarize or finalize vote: its proposal and its signer's attestation.
fn proposal_vote(
    kind: VoteKind,
    p: &commonware_consensus::simplex::types::Proposal<sha256::Digest>,
    attestation: &commonware_cryptography::certificate::Attestation<Scheme>,
) -> Option<Decoded> {
    let vote = SignedVote {
        kind,
        parent_view: p.parent.get(),
        payload: Hash32(p.payload.0),
        signature: signature_of(attestation)?,
    };
    Some((attestation.signer.get(), p.round.epoch().get(), p.round.view().get(), vote))
}

fn notarize(n: Notarize<Scheme, sha256::Digest>) -> Option<Decoded> {
    proposal_vote(VoteKind::Notarize, &n.proposal, &n.attestation)
}

fn finalize(f: Finalize<Scheme, sha256::Digest>) -> Option<Decoded> {
    proposal_vote(VoteKind::Finalize, &f.proposal, &f.attestation)
}

fn nullify(n: Nullify<Scheme>) -> Option<Decoded> {
    let vote = SignedVote {
        kind: VoteKind::Nullify,
        parent_view: 0,
        payload: Hash32::ZERO,
        signature: signature_of(&n.attestation)?,
    };
    Some((n.attestation.signer.get(), n.round.epoch().get(), n.round.view().get(), vote))
}

/// The evidence in two encoded votes of one signer and one round (the validator's key is filled
/// in by the caller, from the signer index).
fn evidence(a: Decoded, b: Decoded) -> Option<(u32, Equivocation)> {
    if a.0 != b.0 || (a.1, a.2) != (b.1, b.2) {
        return None;
    }
    let validator = PublicKey::new(KeyScheme::Ed25519, vec![0; 32]).ok()?;
    Some((a.0, Equivocation { validator, epoch: a.1, view: a.2, first: a.3, second: b.3 }))
}

/// Two votes of type `V` encoded one after the other (Commonware's `ConflictingNotarize` and
/// `ConflictingFinalize` encode exactly so; their fields are not public).
fn pair<V: Read<Cfg = ()>, F: Fn(V) -> Option<Decoded>>(bytes: &[u8], f: F) -> Option<(u32, Equivocation)> {
    let mut bytes = commonware_codec::Copying(bytes);
    let a = V::read_cfg(&mut bytes, &()).ok()?;
    let b = V::read_cfg(&mut bytes, &()).ok()?;
    evidence(f(a)?, f(b)?)
}

/// A nullify then a finalize, encoded one after the other (`NullifyFinalize`).
fn nullify_finalize(bytes: &[u8]) -> Option<(u32, Equivocation)> {
    let mut bytes = commonware_codec::Copying(bytes);
    let a = Nullify::<Scheme>::read_cfg(&mut bytes, &()).ok()?;
    let b = Finalize::<Scheme, sha256::Digest>::read_cfg(&mut bytes, &()).ok()?;
    evidence(nullify(a)?, finalize(b)?)
}

/// The consensus engine's reporter: every activity goes to `inner` (marshal's wrapper), faults
/// also to the [`FaultWatch`], finalize votes and certificates also to the
/// [`crate::votes::VoteBook`].
#[derive(Clone)]
pub struct ConsensusReporter<R> {
    /// Where every activity goes.
    pub inner: R,
    /// The fault watch (none: faults are only passed on).
    pub faults: Option<FaultWatch>,
    /// The vote book (none: votes are only passed on).
    pub votes: Option<crate::votes::VoteBook>,
    /// The views an observing engine sees (`crate::rejoin`; none when the engine signs).
    pub views: Option<crate::rejoin::ViewWatch>,
}

impl<R> commonware_consensus::Reporter for ConsensusReporter<R>
where
    R: commonware_consensus::Reporter<Activity = Activity<Scheme, sha256::Digest>>,
{
    type Activity = Activity<Scheme, sha256::Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if let Some(f) = &mut self.faults {
            f.observe(&activity);
        }
        if let Some(v) = &self.votes {
            v.observe(&activity);
        }
        if let Some(w) = &self.views {
            w.observe(&activity);
        }
        self.inner.report(activity)
    }
}

/// Signs and admits each queued report (see the module documentation) until the queue closes.
pub async fn submit_reports(
    app: App,
    signer: SigningKey,
    chain_id: ChainId,
    mut reports: mpsc::Receiver<Equivocation>,
) {
    let me = signer.public_key();
    let mut last_nonce = 0u64;
    while let Some(ev) = reports.next().await {
        let state = app.finalized_state();
        if trustmeter_state::economy::validator(&state, &me).is_none() {
            debug!("this node's key is not a registered validator: it cannot report an equivocation itself");
            continue;
        }
        match trustmeter_state::economy::validator(&state, &ev.validator) {
            None => continue,
            Some(v) if v.last_equivocation.is_some_and(|(e, _)| e >= ev.epoch) => {
                debug!(validator = %ev.validator, epoch = ev.epoch, "already slashed in that epoch");
                continue;
            }
            Some(_) => {}
        }
        let nonce = state.nonce(&me).max(last_nonce) + 1;
        last_nonce = nonce;
        let (validator, epoch, view) = (ev.validator.clone(), ev.epoch, ev.view);
        let body = TxBody {
            chain_id: chain_id.clone(),
            sender: me.clone(),
            nonce,
            payload: TxPayload::Staking { op: StakingOp::ReportEquivocation { evidence: ev } },
        };
        match app.admit(sign_tx(&signer, body), true) {
            Ok(h) => info!(%validator, epoch, view, tx = %h, "equivocation report admitted"),
            Err(e) => warn!(%validator, epoch, view, error = %e, "equivocation report not admitted"),
        }
    }
}

/// The account-style key of a consensus key (the same RFC 8032 seed; see
/// `crate::devnet::consensus_key_from_seed`).
pub fn account_key(consensus: &commonware_cryptography::ed25519::PrivateKey) -> SigningKey {
    let seed: [u8; 32] = consensus.encode().as_ref().try_into().expect("an Ed25519 private key encodes as its seed");
    SigningKey::from_seed(KeyScheme::Ed25519, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epochs::{EpochSet, Member};
    use commonware_consensus::simplex::types::{ConflictingFinalize, ConflictingNotarize, NullifyFinalize, Proposal};
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer as _;

    fn key(i: u8) -> commonware_cryptography::ed25519::PrivateKey {
        crate::devnet::consensus_key_from_seed(&[i; 32])
    }

    /// Four members; member `who` signs in a scheme of its own.
    fn fixture(who: u8) -> (EpochProvider, Scheme, Vec<u8>) {
        let ns = b"trustmeter/consensus/test-1".to_vec();
        let mut members: Vec<Member> =
            (1..=4).map(|i| Member { key: key(i).public_key(), address: format!("10.0.0.{i}:1") }).collect();
        members.sort_by(|a, b| a.key.cmp(&b.key));
        let set = EpochSet { epoch: 3, members };
        let provider = EpochProvider::new(ns.clone(), key(9));
        provider.register(set.clone());
        let scheme = Scheme::signer(&ns, set.keys(), key(who)).expect("a member");
        (provider, scheme, ns)
    }

    fn proposal(view: u64, payload: u8) -> Proposal<sha256::Digest> {
        Proposal::new(
            Round::new(Epoch::new(3), View::new(view)),
            View::new(view - 1),
            sha256::Digest::from([payload; 32]),
        )
    }

    #[test]
    fn conflicting_votes_become_checked_evidence_once_per_epoch() {
        let (provider, scheme, ns) = fixture(2);
        let (mut watch, mut rx) = FaultWatch::new(provider, ns.clone());
        let n = |view, p| Notarize::<Scheme, sha256::Digest>::sign(&scheme, proposal(view, p)).unwrap();
        watch.observe(&Activity::ConflictingNotarize(ConflictingNotarize::new(n(7, 1), n(7, 2))));
        let ev = rx.try_recv().expect("a report");
        assert_eq!(ev.validator.bytes, key(2).public_key().as_ref().to_vec(), "the signer, by its index");
        assert_eq!((ev.epoch, ev.view), (3, 7));
        assert_eq!((ev.first.kind, ev.second.kind), (VoteKind::Notarize, VoteKind::Notarize));
        assert_eq!((ev.first.payload, ev.second.payload), (Hash32([1; 32]), Hash32([2; 32])));
        assert!(ev.conflicts());
        // The state machine's own check accepts both votes.
        for v in [&ev.first, &ev.second] {
            assert!(trustmeter_client::consensus::vote_is_signed(
                &ns,
                v.kind,
                (3, 7),
                (v.parent_view, v.payload),
                &ev.validator,
                &v.signature
            ));
        }
        // Another round of the same epoch: already reported.
        watch.observe(&Activity::ConflictingNotarize(ConflictingNotarize::new(n(9, 1), n(9, 2))));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn finalize_pairs_and_nullify_finalize_are_reported_and_forgeries_dropped() {
        let (provider, scheme, ns) = fixture(3);
        let (mut watch, mut rx) = FaultWatch::new(provider.clone(), ns.clone());
        let f = |p| Finalize::<Scheme, sha256::Digest>::sign(&scheme, proposal(5, p)).unwrap();
        watch.observe(&Activity::ConflictingFinalize(ConflictingFinalize::new(f(1), f(2))));
        let ev = rx.try_recv().expect("a report");
        assert_eq!((ev.first.kind, ev.second.kind), (VoteKind::Finalize, VoteKind::Finalize));

        // Another member's nullify and finalize of one round.
        let (_, other, _) = fixture(4);
        let nullify =
            Nullify::<Scheme>::sign::<sha256::Digest>(&other, Round::new(Epoch::new(3), View::new(5))).unwrap();
        let fin = Finalize::<Scheme, sha256::Digest>::sign(&other, proposal(5, 1)).unwrap();
        watch.observe(&Activity::NullifyFinalize(NullifyFinalize::new(nullify.clone(), fin)));
        let ev = rx.try_recv().expect("a report");
        assert_eq!((ev.first.kind, ev.second.kind), (VoteKind::Nullify, VoteKind::Finalize));
        assert_eq!(ev.validator.bytes, key(4).public_key().as_ref().to_vec());

        // A vote signed in another namespace (as a forged or foreign vote would be): dropped.
        let (mut watch, mut rx) = FaultWatch::new(provider, b"another chain".to_vec());
        watch.observe(&Activity::ConflictingFinalize(ConflictingFinalize::new(f(1), f(2))));
        assert!(rx.try_recv().is_err(), "votes that do not verify are never reported");
    }

    #[test]
    fn the_account_key_of_a_consensus_key_is_the_same_key_pair() {
        let k = key(7);
        assert_eq!(account_key(&k).public_key().bytes, k.public_key().as_ref().to_vec());
    }
}
