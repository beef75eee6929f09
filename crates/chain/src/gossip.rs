//! Transaction gossip: a transaction a node admits from a client is sent to every validator, and
//! each admits it after its own checks, so whichever validator leads next can include it.
//!
//! Gossiped transactions are not forwarded again (the originator sends to all validators
//! directly). A transaction that a peer cannot admit yet — e.g. it depends on a registration that
//! peer has not finalized — simply stays with the nodes that did admit it.

use crate::app::App;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Spawner, Supervisor};
use futures::StreamExt;
use futures::channel::mpsc;
use tracing::debug;
use trustmeter_types::limits::MAX_TX_BYTES;
use trustmeter_types::{Transaction, decode};

/// Starts the gossip tasks on the `txs` channel and connects them to `app`.
pub fn start<E, S, R>(context: E, app: App, (mut sender, mut receiver): (S, R))
where
    E: Spawner + Supervisor,
    S: Sender,
    R: Receiver,
{
    let (tx, mut rx) = mpsc::unbounded::<Vec<u8>>();
    app.set_gossip(tx);
    context.child("gossip_out").spawn(move |_| async move {
        while let Some(bytes) = rx.next().await {
            let _ = sender.send(Recipients::All, bytes, false);
        }
    });
    context.child("gossip_in").spawn(move |_| async move {
        while let Ok((peer, msg)) = receiver.recv().await {
            let bytes: Vec<u8> = msg.as_ref().to_vec();
            match decode::<Transaction>(&bytes, MAX_TX_BYTES) {
                Ok(tx) => {
                    if let Err(r) = app.admit(tx, false) {
                        debug!(?peer, reason = %r, "gossiped transaction not admitted here");
                    }
                }
                Err(e) => debug!(?peer, error = %e, "gossiped bytes are not a transaction"),
            }
        }
    });
}
