//! When a validator that restored its state by state sync in the middle of an epoch may vote
//! again ([`ViewWatch`], used by the orchestrator).
//!
//! A node whose disk was lost cannot know which views of the current epoch it already voted or
//! proposed in. State sync hands it a finalization at some view `V_f`; a Simplex engine started
//! there enters view `V_f + 1`, and if the node led one of the views between `V_f` and the one it
//! was in when its disk was lost (`V_lost`), it proposes a *different* block in a view it already
//! proposed in: a conflicting notarize, for which its peers block it and report it for slashing.
//! (The 1 000-seed sweep found this in 15 of 143 seeds of the wiped-and-synced scenario.)
//!
//! So the node first runs the epoch's engine as an observer (verifying, never signing) and learns
//! how far the views have gone:
//!
//! 1. for [`OBSERVE`]-worth of the epoch's timeouts it records the highest view of every peer's
//!    verified vote and of every verified certificate;
//! 2. the *live view* is the highest certificate view, or the `(f + 1)`-th highest of the peers'
//!    vote views if that is higher (`f` the faults the set tolerates: `f` lying peers cannot push
//!    it past every honest peer's view, so they cannot keep the node silent);
//! 3. it waits for a finalization of the epoch at a view at least `live + 2`, and starts a signing
//!    engine there, from a fresh journal.
//!
//! Why `live + 2` is past `V_lost`: the node entered `V_lost` on a certificate of `V_lost − 1`,
//! which `2f + 1` validators signed; honest validators that hold that certificate are at
//! `V_lost − 1` or beyond, and views never go back. Nullify votes are sent again every retry
//! interval while a view is stuck, so within the window every live peer has shown its view.
//!
//! The orchestrator does this for any node whose floor in its starting epoch is a finalization
//! rather than the epoch's boundary block: a node that just state-synced, and one that synced
//! earlier and crashed again before the epoch ended (it holds no block below its sync height).
//!
//! If the epoch ends first, the next epoch's engine starts as usual (views restart per epoch).
//! If the chain cannot finalize without this node (another validator down at the same time) the
//! node stays silent until that validator returns: safety before liveness, as for any validator
//! that cannot tell what it signed.

use crate::app::{BlockFinalization, Scheme};
use commonware_consensus::simplex::types::Activity;
use commonware_cryptography::sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the observer watches the epoch's traffic before fixing the live view: the time for
/// a stuck view to time out and for its nullify votes to be sent again (leader and certification
/// timeouts, and two retry intervals).
pub fn observe_window(leader: Duration, certification: Duration, retry: Duration) -> Duration {
    leader + certification + retry * OBSERVE
}

/// Retry intervals in the observation window.
pub const OBSERVE: u32 = 2;

/// Views past the live view the first finalization a rejoining node signs from must be.
pub const MARGIN: u64 = 2;

/// What an observing engine saw of one epoch's views (see the module documentation). Cheap to
/// clone; clones share what was seen.
#[derive(Clone, Debug)]
pub struct ViewWatch {
    epoch: u64,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each peer's highest verified vote view, by its index in the set.
    votes: BTreeMap<u32, u64>,
    /// The highest verified certificate view.
    certified: u64,
    /// The finalization of the highest view seen.
    finalization: Option<BlockFinalization>,
}

impl ViewWatch {
    /// A watch of epoch `epoch`'s traffic.
    pub fn new(epoch: u64) -> Self {
        Self { epoch, seen: Arc::default() }
    }

    /// The epoch watched.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Looks at one activity of the observing engine (votes and certificates reach the reporter
    /// only once Simplex has checked their sender or their signatures).
    pub fn observe(&self, activity: &Activity<Scheme, sha256::Digest>) {
        let (epoch, view) = match activity {
            Activity::Notarize(v) => (v.proposal.round.epoch(), v.proposal.round.view()),
            Activity::Finalize(v) => (v.proposal.round.epoch(), v.proposal.round.view()),
            Activity::Nullify(v) => (v.round.epoch(), v.round.view()),
            Activity::Notarization(c) | Activity::Certification(c) => {
                (c.proposal.round.epoch(), c.proposal.round.view())
            }
            Activity::Nullification(c) => (c.round.epoch(), c.round.view()),
            Activity::Finalization(c) => (c.proposal.round.epoch(), c.proposal.round.view()),
            _ => return,
        };
        if epoch.get() != self.epoch {
            return;
        }
        let view = view.get();
        let mut seen = self.seen.lock().expect("view watch lock");
        match activity {
            Activity::Notarize(v) => seen.vote(v.attestation.signer.get(), view),
            Activity::Finalize(v) => seen.vote(v.attestation.signer.get(), view),
            Activity::Nullify(v) => seen.vote(v.attestation.signer.get(), view),
            Activity::Finalization(c) => {
                seen.certified = seen.certified.max(view);
                if seen.finalization.as_ref().is_none_or(|f| f.proposal.round.view().get() < view) {
                    seen.finalization = Some(c.clone());
                }
            }
            _ => seen.certified = seen.certified.max(view),
        }
    }

    /// The live view (see the module documentation) with `f` faulty peers tolerated.
    pub fn live_view(&self, f: usize) -> u64 {
        let seen = self.seen.lock().expect("view watch lock");
        let mut views: Vec<u64> = seen.votes.values().copied().collect();
        views.sort_unstable_by(|a, b| b.cmp(a));
        seen.certified.max(views.get(f).copied().unwrap_or(0))
    }

    /// The finalization of the highest view seen, if it is at view `view` or later.
    pub fn finalized_from(&self, view: u64) -> Option<BlockFinalization> {
        let seen = self.seen.lock().expect("view watch lock");
        seen.finalization.as_ref().filter(|f| f.proposal.round.view().get() >= view).cloned()
    }
}

impl Seen {
    fn vote(&mut self, signer: u32, view: u64) {
        let v = self.votes.entry(signer).or_insert(view);
        *v = (*v).max(view);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::simplex::types::{Finalization, Finalize, Notarize, Nullify, Proposal};
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer as _;
    use commonware_parallel::Sequential;
    use commonware_utils::non_empty;
    use commonware_utils::ordered::Set;

    /// Member `i`'s scheme in a set of four.
    fn schemes() -> Vec<Scheme> {
        let ns = b"trustmeter/consensus/test-1".to_vec();
        let keys: Vec<_> = (1..=4u8).map(|i| crate::devnet::consensus_key_from_seed(&[i; 32])).collect();
        let set: Set<_> = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        keys.iter().map(|k| Scheme::signer(&ns, set.clone(), k.clone()).expect("a member")).collect()
    }

    fn proposal(epoch: u64, view: u64) -> Proposal<sha256::Digest> {
        Proposal::new(
            Round::new(Epoch::new(epoch), View::new(view)),
            View::new(view - 1),
            sha256::Digest::from([view as u8; 32]),
        )
    }

    fn nullify(s: &Scheme, epoch: u64, view: u64) -> Activity<Scheme, sha256::Digest> {
        Activity::Nullify(Nullify::sign::<sha256::Digest>(s, Round::new(Epoch::new(epoch), View::new(view))).unwrap())
    }

    #[test]
    fn the_live_view_is_the_f_plus_first_highest_vote_or_the_highest_certificate() {
        let s = schemes();
        let w = ViewWatch::new(3);
        // Peer views 9, 7 and a liar's 1 000 000; f = 1: the second highest, 9.
        w.observe(&Activity::Finalize(Finalize::sign(&s[0], proposal(3, 5)).unwrap()));
        w.observe(&Activity::Notarize(Notarize::sign(&s[0], proposal(3, 9)).unwrap()));
        w.observe(&nullify(&s[1], 3, 7));
        w.observe(&Activity::Notarize(Notarize::sign(&s[2], proposal(3, 1_000_000)).unwrap()));
        assert_eq!(w.live_view(1), 9);
        // With no fault tolerated the highest vote counts.
        assert_eq!(w.live_view(0), 1_000_000);
        // Another epoch's traffic is not this epoch's.
        w.observe(&nullify(&s[3], 4, 50));
        w.observe(&nullify(&s[3], 2, 60));
        assert_eq!(w.live_view(1), 9);
        assert!(w.finalized_from(0).is_none());
        // A finalization certificate at view 12 raises the live view and is the floor from 12.
        let votes: Vec<_> = s[..3].iter().map(|k| Finalize::sign(k, proposal(3, 12)).unwrap()).collect();
        let f = Finalization::from_finalizes(&s[0], non_empty![@&votes], &Sequential).unwrap();
        w.observe(&Activity::Finalization(f));
        assert_eq!(w.live_view(1), 12);
        assert_eq!(w.finalized_from(12).map(|f| f.proposal.round.view().get()), Some(12));
        assert!(w.finalized_from(13).is_none());
        // An older finalization does not replace it.
        let votes: Vec<_> = s[1..].iter().map(|k| Finalize::sign(k, proposal(3, 10)).unwrap()).collect();
        w.observe(&Activity::Finalization(
            Finalization::from_finalizes(&s[0], non_empty![@&votes], &Sequential).unwrap(),
        ));
        assert_eq!(w.finalized_from(12).map(|f| f.proposal.round.view().get()), Some(12));
    }
}
