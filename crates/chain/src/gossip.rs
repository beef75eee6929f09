//! Transaction gossip: a transaction a node admits from a client is sent to every validator, and
//! each admits it after its own checks, so whichever validator leads next can include it.
//!
//! Gossiped transactions are not forwarded again (the originator sends to all validators
//! directly).
//!
//! **Held until caught up.** Admission checks a transaction against the node's own finalized
//! state, and validators finalize a block at slightly different moments. A transaction admitted
//! by its origin at height `h` may depend on a block at `h` (a meter's registration names a
//! gateway registered one block earlier); a validator still at `h - 1` would refuse it, and —
//! since nonces need only increase — a later transaction of the same sender that it did admit
//! could be included first and make the refused one stale for ever. So every gossip message
//! carries the height its origin admitted it at ([`encode_frame`]), and a validator that has not
//! finalized that height yet holds the transaction ([`Held`]) until it has, then checks it once.
//! Later transactions of a sender with one on hold are held behind it, so a sender's order is
//! kept. A transaction this node's mempool has no room for is held the same way, until the next
//! finalized height frees room. The hold is bounded ([`MAX_HELD_BYTES`], [`MAX_HOLD_AHEAD`]): what
//! does not fit is dropped here and stays with the validators that admitted it — and so do its
//! sender's later transactions, until the dropped one's nonce is finalized ([`Held::gapped`]):
//! otherwise this node could include a later one first, when it leads, and make the dropped one
//! stale for ever (seen under a burst of registrations that filled the mempools). The p2p layer
//! itself may drop a message (backpressure: a burst of a thousand registrations from one sender
//! lost some on the way, and a validator that received the later ones included them first, making
//! the lost one stale at its origin). So a frame also names the sender's previous transaction the
//! origin held ([`Frame::prev_nonce`]); a validator that has not finalized that nonce and does not
//! hold it itself treats it as dropped here, with the same consequence. A peer that lies about the
//! previous nonce can only name one below the transaction's own, which the sender signed, so the
//! drop ends once that transaction is finalized through a validator that admitted it. A lying peer
//! (frames claiming a height far ahead, or filling the hold) can make this node drop a sender's
//! gossip until that sender's next transaction is finalized; bounded by [`MAX_GAPPED_SENDERS`], and
//! the transactions still reach blocks through the validators that admitted them from the client.

use crate::app::App;
use crate::metrics::HeldOutcome;
use commonware_macros::select;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Spawner, Supervisor};
use futures::StreamExt;
use futures::channel::mpsc;
use std::collections::{HashMap, HashSet, VecDeque};
use tracing::debug;
use trustmeter_types::limits::MAX_TX_BYTES;
use trustmeter_types::{PublicKey, RejectCode, Transaction, decode, encode};

/// Most bytes of gossiped transactions held for this node's finalized state to catch up (the
/// frames' sizes; at most 64 of the largest transactions).
pub const MAX_HELD_BYTES: usize = 64 << 20;
/// How many heights ahead of this node's finalized height a gossiped transaction's origin may
/// have admitted it and still be held here. A node further behind is catching up, and would not
/// admit it anyway; an origin claiming more is lying.
pub const MAX_HOLD_AHEAD: u64 = 256;
/// Most senders with a dropped transaction remembered ([`Held::gapped`]); beyond, the oldest
/// are forgotten.
pub const MAX_GAPPED_SENDERS: usize = 65_536;
/// Bytes of a frame before the transaction: the origin's finalized height and the sender's
/// previous nonce (big-endian u64 each).
const FRAME_HEADER: usize = 16;

/// A gossip message: a transaction and what its origin knew when it admitted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The origin's finalized height when it admitted the transaction.
    pub admitted_at: u64,
    /// The sender's previous nonce at the origin: the highest of their nonces waiting in the
    /// origin's mempool below this transaction's, or else their finalized nonce there. A node
    /// that has neither finalized nor holds it must not let this transaction go first.
    pub prev_nonce: u64,
    /// The transaction.
    pub tx: Transaction,
}

/// The gossip message of a [`Frame`] with these fields (borrowing the transaction).
pub fn encode_frame(admitted_at: u64, prev_nonce: u64, tx: &Transaction) -> Vec<u8> {
    let body = encode(tx);
    let mut bytes = Vec::with_capacity(FRAME_HEADER + body.len());
    bytes.extend_from_slice(&admitted_at.to_be_bytes());
    bytes.extend_from_slice(&prev_nonce.to_be_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

/// A gossip message's frame.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, String> {
    let Some((header, body)) = bytes.split_first_chunk::<FRAME_HEADER>() else {
        return Err(format!("{} bytes are shorter than a gossip frame's header", bytes.len()));
    };
    let (height, prev) = header.split_at(8);
    let tx = decode::<Transaction>(body, MAX_TX_BYTES).map_err(|e| e.to_string())?;
    let u64_of = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    Ok(Frame { admitted_at: u64_of(height), prev_nonce: u64_of(prev), tx })
}

/// Gossiped transactions waiting for this node to finalize the height their origin admitted them
/// at, in arrival order. Bounded by [`MAX_HELD_BYTES`].
#[derive(Debug, Default)]
pub struct Held {
    /// (the height to wait for, bytes on the wire, the frame), in arrival order.
    entries: VecDeque<(u64, usize, Frame)>,
    bytes: usize,
    senders: HashMap<PublicKey, usize>,
    /// Sender → the lowest nonce of theirs dropped here, with the senders in the order they were
    /// first remembered (for the bound).
    dropped: HashMap<PublicKey, u64>,
    dropped_order: VecDeque<PublicKey>,
}

/// Why a gossiped transaction was not held.
#[derive(Debug, PartialEq, Eq)]
pub enum NotHeld {
    /// The origin claims a height more than [`MAX_HOLD_AHEAD`] beyond ours.
    TooFarAhead,
    /// The hold is full.
    Full,
}

impl Held {
    /// Whether a transaction of `sender` admitted by its origin at `admitted_at` must wait here,
    /// this node having finalized `height`: the origin was ahead, or an earlier transaction of the
    /// same sender waits.
    pub fn must_wait(&self, admitted_at: u64, height: u64, sender: &PublicKey) -> bool {
        admitted_at > height || self.senders.contains_key(sender)
    }

    /// Holds `frame` (`bytes` long on the wire) until this node, now at `height`, finalizes
    /// `wait_until`.
    pub fn hold(&mut self, wait_until: u64, height: u64, bytes: usize, frame: Frame) -> Result<(), NotHeld> {
        if wait_until > height.saturating_add(MAX_HOLD_AHEAD) {
            return Err(NotHeld::TooFarAhead);
        }
        if self.bytes + bytes > MAX_HELD_BYTES {
            return Err(NotHeld::Full);
        }
        self.bytes += bytes;
        *self.senders.entry(frame.tx.body.sender.clone()).or_default() += 1;
        self.entries.push_back((wait_until, bytes, frame));
        Ok(())
    }

    /// Whether a transaction of `sender` waits here.
    pub fn holds_sender(&self, sender: &PublicKey) -> bool {
        self.senders.contains_key(sender)
    }

    /// Takes, in arrival order, the frames due once `height` is finalized: waiting for it or an
    /// earlier height, and with no earlier transaction of their sender still waiting.
    pub fn take_due(&mut self, height: u64) -> Vec<Frame> {
        let mut blocked: HashSet<PublicKey> = HashSet::new();
        let mut due = Vec::new();
        let mut keep = VecDeque::with_capacity(self.entries.len());
        for (at, bytes, frame) in std::mem::take(&mut self.entries) {
            let sender = &frame.tx.body.sender;
            if at > height || blocked.contains(sender) {
                blocked.insert(sender.clone());
                keep.push_back((at, bytes, frame));
                continue;
            }
            self.bytes -= bytes;
            match self.senders.get_mut(sender) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    self.senders.remove(sender);
                }
            }
            due.push(frame);
        }
        self.entries = keep;
        due
    }

    /// Remembers that `sender`'s transaction `nonce` was dropped here (neither admitted nor held).
    pub fn mark_dropped(&mut self, sender: &PublicKey, nonce: u64) {
        if let Some(n) = self.dropped.get_mut(sender) {
            *n = (*n).min(nonce);
            return;
        }
        if self.dropped.len() >= MAX_GAPPED_SENDERS
            && let Some(oldest) = self.dropped_order.pop_front()
        {
            self.dropped.remove(&oldest);
        }
        self.dropped.insert(sender.clone(), nonce);
        self.dropped_order.push_back(sender.clone());
    }

    /// Whether `sender`'s transaction `nonce` must be dropped here because an earlier one of
    /// theirs was, and that one's nonce is not finalized yet (`finalized_nonce` gives the
    /// sender's last finalized nonce; asked only for a sender with a drop remembered).
    pub fn gapped(&mut self, sender: &PublicKey, nonce: u64, finalized_nonce: impl FnOnce() -> u64) -> bool {
        let Some(&dropped) = self.dropped.get(sender) else { return false };
        if finalized_nonce() >= dropped {
            self.dropped.remove(sender);
            self.dropped_order.retain(|s| s != sender);
            return false;
        }
        nonce > dropped
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Starts the gossip tasks on the `txs` channel and connects them to `app`.
pub fn start<E, S, R>(context: E, app: App, (mut sender, mut receiver): (S, R))
where
    E: Spawner + Supervisor,
    S: Sender,
    R: Receiver,
{
    let (tx, mut rx) = mpsc::unbounded::<Vec<u8>>();
    app.set_gossip(tx);
    let (heights_tx, mut heights) = mpsc::unbounded::<u64>();
    app.watch_finalized_heights(heights_tx);
    context.child("gossip_out").spawn(move |_| async move {
        while let Some(bytes) = rx.next().await {
            let _ = sender.send(Recipients::All, bytes, false);
        }
    });
    context.child("gossip_in").spawn(move |_| async move {
        let mut held = Held::default();
        loop {
            select! {
                msg = receiver.recv() => {
                    let Ok((peer, msg)) = msg else { break };
                    let frame = match decode_frame(msg.as_ref()) {
                        Ok(frame) => frame,
                        Err(e) => {
                            debug!(?peer, error = %e, "gossiped bytes are not a transaction frame");
                            continue;
                        }
                    };
                    let height = app.finalized_height();
                    receive(&app, &mut held, height, msg.as_ref().len(), frame);
                },
                height = heights.next() => {
                    let Some(height) = height else { break };
                    if held.is_empty() {
                        continue;
                    }
                    let due = held.take_due(height);
                    app.metrics().gossip_held(HeldOutcome::Released, due.len());
                    for mut frame in due {
                        let bytes = encode(&frame.tx).len() + FRAME_HEADER;
                        frame.admitted_at = frame.admitted_at.min(height);
                        receive(&app, &mut held, height, bytes, frame);
                    }
                },
            }
        }
    });
}

/// Admits, holds or drops one gossiped frame (`bytes` long on the wire), this node having
/// finalized `height`.
fn receive(app: &App, held: &mut Held, height: u64, bytes: usize, frame: Frame) {
    let (sender, nonce) = (frame.tx.body.sender.clone(), frame.tx.body.nonce);
    if held.gapped(&sender, nonce, || app.finalized_state().nonce(&sender)) {
        debug!(nonce, "gossiped transaction dropped behind an earlier one of its sender");
        app.metrics().gossip_held(HeldOutcome::Dropped, 1);
        return;
    }
    let wait_until = if held.must_wait(frame.admitted_at, height, &sender) {
        frame.admitted_at
    } else {
        // This node has finalized what the origin had, and holds nothing of the sender's. If the
        // origin's earlier transaction of this sender never reached this node (lost on the way),
        // admitting this one could let it be included first, when this node leads, and make the
        // earlier one stale at its origin: treat the earlier one as dropped here.
        if frame.prev_nonce > 0
            && frame.prev_nonce < nonce
            && !app.mempool().lock().expect("mempool lock").has_nonce(&sender, frame.prev_nonce)
            && app.finalized_state().nonce(&sender) < frame.prev_nonce
        {
            debug!(nonce, prev = frame.prev_nonce, "gossiped transaction's predecessor never reached this node");
            held.mark_dropped(&sender, frame.prev_nonce);
            app.metrics().gossip_held(HeldOutcome::Dropped, 1);
            return;
        }
        match app.admit(frame.tx.clone(), false) {
            Ok(_) => return,
            // No room now: wait for the next finalized block to empty the mempool a little.
            Err(r) if r.code == RejectCode::MempoolFull => height + 1,
            Err(r) => {
                debug!(reason = %r, "gossiped transaction not admitted here");
                return;
            }
        }
    };
    match held.hold(wait_until, height, bytes, frame) {
        Ok(()) => app.metrics().gossip_held(HeldOutcome::Held, 1),
        Err(why) => {
            debug!(wait_until, height, ?why, "gossiped transaction not held");
            held.mark_dropped(&sender, nonce);
            app.metrics().gossip_held(HeldOutcome::Dropped, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::tests::tx;
    use trustmeter_crypto::SigningKey;
    use trustmeter_types::KeyScheme;

    fn key(sender: u8) -> SigningKey {
        SigningKey::from_seed(KeyScheme::Ed25519, [sender; 32])
    }

    /// A frame of `tx` admitted at `admitted_at`, its sender's previous nonce 0.
    fn frame(admitted_at: u64, tx: Transaction) -> Frame {
        Frame { admitted_at, prev_nonce: 0, tx }
    }

    fn nonces(frames: &[Frame]) -> Vec<(PublicKey, u64)> {
        frames.iter().map(|f| (f.tx.body.sender.clone(), f.tx.body.nonce)).collect()
    }

    #[test]
    fn frames_round_trip_and_garbage_is_refused() {
        let t = tx(1, 7);
        let bytes = encode_frame(42, 6, &t);
        assert_eq!(&bytes[..16], &[0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(decode_frame(&bytes).unwrap(), Frame { admitted_at: 42, prev_nonce: 6, tx: t });
        assert!(decode_frame(&bytes[..5]).unwrap_err().contains("shorter"));
        assert!(decode_frame(&bytes[..15]).unwrap_err().contains("shorter"));
        assert!(decode_frame(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_frame(&[0u8; FRAME_HEADER]).is_err());
    }

    #[test]
    fn a_transaction_waits_for_its_height_and_a_senders_later_ones_wait_behind_it() {
        let mut held = Held::default();
        let height = 10;
        // Sender 1's nonce 2 was admitted at height 12; its nonce 3 at 10 must wait behind it.
        assert!(held.must_wait(12, height, &tx(1, 2).body.sender));
        held.hold(12, height, 100, frame(12, tx(1, 2))).unwrap();
        assert!(held.holds_sender(&tx(1, 2).body.sender) && !held.holds_sender(&tx(2, 1).body.sender));
        assert!(held.must_wait(10, height, &tx(1, 3).body.sender));
        held.hold(10, height, 100, frame(10, tx(1, 3))).unwrap();
        // Sender 2 at a height we have: no wait.
        assert!(!held.must_wait(10, height, &tx(2, 1).body.sender));
        held.hold(11, height, 100, frame(11, tx(2, 1))).unwrap();
        assert_eq!(held.len(), 3);

        assert_eq!(nonces(&held.take_due(10)), vec![]);
        assert_eq!(nonces(&held.take_due(11)), vec![(key(2).public_key(), 1)]);
        assert_eq!(held.len(), 2);
        assert_eq!(nonces(&held.take_due(12)), vec![(key(1).public_key(), 2), (key(1).public_key(), 3)]);
        assert!(held.is_empty());
        assert_eq!(held.bytes, 0);
        assert!(held.senders.is_empty());
        // Nothing waits for sender 1 any more.
        assert!(!held.must_wait(12, 12, &tx(1, 4).body.sender));
    }

    #[test]
    fn the_hold_is_bounded() {
        let mut held = Held::default();
        assert_eq!(held.hold(10 + MAX_HOLD_AHEAD + 1, 10, 1, frame(0, tx(1, 1))), Err(NotHeld::TooFarAhead));
        held.hold(10 + MAX_HOLD_AHEAD, 10, MAX_HELD_BYTES - 10, frame(0, tx(1, 1))).unwrap();
        assert_eq!(held.hold(11, 10, 11, frame(0, tx(2, 1))), Err(NotHeld::Full));
        held.hold(11, 10, 10, frame(0, tx(2, 1))).unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(held.take_due(u64::MAX).len(), 2);
        assert_eq!(held.bytes, 0);
    }

    #[test]
    fn after_a_drop_a_senders_later_transactions_are_dropped_until_it_is_finalized() {
        let mut held = Held::default();
        let s1 = tx(1, 5).body.sender;
        let s2 = tx(2, 1).body.sender;
        assert!(!held.gapped(&s1, 6, || unreachable!("no drop remembered: the state is not asked")));
        held.mark_dropped(&s1, 5);
        held.mark_dropped(&s1, 7); // a later drop keeps the lowest nonce
        // Finalized nonce 3: 6 and 9 would jump the dropped 5; 5 itself (resent) may pass.
        assert!(held.gapped(&s1, 6, || 3));
        assert!(held.gapped(&s1, 9, || 4));
        assert!(!held.gapped(&s1, 5, || 4));
        assert!(!held.gapped(&s2, 2, || 0), "other senders are not affected");
        // Once 5 is finalized (by the validators that had it), the sender is clear again.
        assert!(!held.gapped(&s1, 9, || 5));
        assert!(held.dropped.is_empty() && held.dropped_order.is_empty());
        assert!(!held.gapped(&s1, 10, || unreachable!("forgotten")));
    }

    #[test]
    fn remembered_drops_are_bounded() {
        let mut held = Held::default();
        for i in 0..MAX_GAPPED_SENDERS as u64 + 3 {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            let k = SigningKey::from_seed(KeyScheme::Ed25519, seed).public_key();
            held.mark_dropped(&k, 1);
        }
        assert_eq!(held.dropped.len(), MAX_GAPPED_SENDERS);
        assert_eq!(held.dropped_order.len(), MAX_GAPPED_SENDERS);
    }
}
