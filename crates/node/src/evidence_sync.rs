//! Evidence replication between validators (证明材料同步): a file the chain names is fetched from
//! the validators that hold it, so that every validator keeps every evidence file of its chain,
//! whichever node the enterprise uploaded it to.
//!
//! - **What is fetched.** Only what a finalized block *names* and this node lacks: the evidence of
//!   every accepted `RecordCarbonEntry` (under the enterprise), the document of every accepted
//!   `SubmitCarbonReport` (under the enterprise) and the document of every accepted verification
//!   statement (under the verifier). A file is stored only once its bytes hash to the name the
//!   chain gave it, so no peer can plant a file, and the evidence store's quotas still apply.
//! - **Protocol.** Two authenticated p2p channels among the validators: requests (`org`, hash,
//!   offset) on one, answers (a chunk of ≤ [`CHUNK_BYTES`] with the file's size, or "missing") on
//!   the other; a file is read in chunks so no message is larger than a block. The peers are
//!   asked one after the other, each within [`ANSWER_TIMEOUT`].
//! - **Bounds.** At most [`MAX_QUEUED`] files wait to be fetched (more are counted as dropped and
//!   logged, and stay available from the nodes that hold them: `api-client` goes on to the next
//!   node on a 404); [`MAX_ATTEMPTS`] rounds over the peers per file, [`RETRY_AFTER`] apart; a
//!   file at most `MAX_EVIDENCE_BYTES`.

use commonware_cryptography::ed25519;
use commonware_p2p::{Receiver, Recipients, Sender};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use trustmeter_evidence::EvidenceStore;
use trustmeter_types::carbon::MAX_EVIDENCE_BYTES;
use trustmeter_types::compliance::VerificationStep;
use trustmeter_types::{Hash32, TxOutcome, TxPayload, UnifiedSocialCreditCode};

/// Bytes of a file in one answer.
pub const CHUNK_BYTES: usize = 1 << 20;
/// How long a peer has to answer one request.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most files waiting to be fetched.
pub const MAX_QUEUED: usize = 4_096;
/// Rounds over the peers before a file is given up.
pub const MAX_ATTEMPTS: u32 = 3;
/// Pause between two rounds for one file.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Least time between two requests served (all peers together): at most 64 chunks, 64 MiB, a
/// second, however fast a peer asks — a lying validator cannot turn this node's disk and CPU
/// into its file server.
pub const SERVE_INTERVAL: Duration = Duration::from_millis(15);
/// Files kept in memory between the chunks of one transfer (each ≤ 16 MiB).
pub const SERVE_CACHE_FILES: usize = 4;

/// The replication protocol's messages.
#[derive(Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub enum Message {
    /// Asks for a chunk of `org`'s file `hash` from `offset`.
    Request {
        /// Matches the answer.
        id: u64,
        /// The owner's credit code.
        org: String,
        /// The file's name (hash).
        hash: [u8; 32],
        /// First byte asked for.
        offset: u64,
    },
    /// A chunk of the file, of `total` bytes in all.
    Chunk {
        /// The request's id.
        id: u64,
        /// The file's size.
        total: u64,
        /// Bytes from the requested offset (≤ [`CHUNK_BYTES`]).
        bytes: Vec<u8>,
    },
    /// The peer holds no such file.
    Missing {
        /// The request's id.
        id: u64,
    },
}

/// The files a finalized block names, with their owners: (owner, hash), of accepted transactions.
pub fn named_files(f: &trustmeter_chain::Finalized) -> Vec<(UnifiedSocialCreditCode, Hash32)> {
    let state = &f.output.state;
    let mut out = Vec::new();
    for (tx, receipt) in f.block.block.txs.iter().zip(&f.output.receipts) {
        if !matches!(receipt.outcome, TxOutcome::Accepted) {
            continue;
        }
        let sender_org = || state.account_org(&tx.body.sender);
        match &tx.body.payload {
            TxPayload::RecordCarbonEntry { entry } => {
                if let Some(org) = sender_org() {
                    out.extend(entry.evidence.iter().map(|e| (org.clone(), e.hash)));
                }
            }
            TxPayload::SubmitCarbonReport { hash, .. } => {
                if let Some(org) = sender_org() {
                    out.push((org, *hash));
                }
            }
            TxPayload::Verification { step: VerificationStep::Statement { statement }, .. } => {
                if let (Some(org), Some(d)) = (sender_org(), &statement.document) {
                    out.push((org, d.hash));
                }
            }
            _ => {}
        }
    }
    out
}

/// The queue of files to fetch, fed by the finalizer.
#[derive(Clone)]
pub struct Queue {
    tx: mpsc::Sender<(UnifiedSocialCreditCode, Hash32)>,
    store: Arc<EvidenceStore>,
}

impl Queue {
    /// Queues every file `f` names that the store lacks (never blocks; beyond [`MAX_QUEUED`]
    /// files are dropped and logged).
    pub fn feed(&self, f: &trustmeter_chain::Finalized) {
        for (org, hash) in named_files(f) {
            if self.store.contains(&org, &hash) {
                continue;
            }
            if self.tx.try_send((org.clone(), hash)).is_err() {
                warn!(%org, %hash, "evidence replication queue full: this node will not hold the file");
            }
        }
    }
}

/// Starts replication: serves this node's files to peers on `(answers_out, requests_in)` and
/// fetches the files finalized blocks name on `(requests_out, answers_in)`. Returns the queue the
/// finalizer feeds.
pub fn start<S, R>(
    store: Arc<EvidenceStore>,
    peers: Vec<ed25519::PublicKey>,
    (answers_out, requests_in): (S, R),
    (requests_out, answers_in): (S, R),
) -> Queue
where
    S: Sender<PublicKey = ed25519::PublicKey> + Send + 'static,
    R: Receiver<PublicKey = ed25519::PublicKey> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(MAX_QUEUED);
    tokio::spawn(serve(store.clone(), answers_out, requests_in));
    tokio::spawn(fetch(store.clone(), peers, requests_out, answers_in, rx, tx.clone()));
    Queue { tx, store }
}

/// A file's owner (credit code as text) and name.
type FileKey = (String, [u8; 32]);

/// Answers peers' requests from the store, one at a time, at most one per [`SERVE_INTERVAL`]; the
/// files of the last transfers stay in memory ([`SERVE_CACHE_FILES`]) so a file is read from disk
/// (and checked against its hash) once per transfer, not once per chunk.
async fn serve<S, R>(store: Arc<EvidenceStore>, mut sender: S, mut receiver: R)
where
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let mut cache: std::collections::VecDeque<(FileKey, Arc<Vec<u8>>)> = std::collections::VecDeque::new();
    while let Ok((peer, msg)) = receiver.recv().await {
        tokio::time::sleep(SERVE_INTERVAL).await;
        let Ok(Message::Request { id, org, hash, offset }) = borsh::from_slice::<Message>(msg.as_ref()) else {
            debug!(?peer, "evidence request does not decode");
            continue;
        };
        let key = (org.clone(), hash);
        let data = match cache.iter().find(|(k, _)| k == &key) {
            Some((_, d)) => Some(d.clone()),
            None => match UnifiedSocialCreditCode::new(org) {
                Ok(org) => {
                    let store = store.clone();
                    match tokio::task::spawn_blocking(move || store.get(&org, &Hash32(hash))).await {
                        Ok(Ok(Some(d))) => {
                            let d = Arc::new(d);
                            if cache.len() >= SERVE_CACHE_FILES {
                                cache.pop_front();
                            }
                            cache.push_back((key, d.clone()));
                            Some(d)
                        }
                        _ => None,
                    }
                }
                Err(_) => None,
            },
        };
        let answer = match data {
            Some(data) if (offset as usize) <= data.len() => {
                let end = (offset as usize).saturating_add(CHUNK_BYTES).min(data.len());
                Message::Chunk { id, total: data.len() as u64, bytes: data[offset as usize..end].to_vec() }
            }
            _ => Message::Missing { id },
        };
        let bytes = borsh::to_vec(&answer).expect("encode");
        let _ = sender.send(Recipients::One(peer), bytes, false);
    }
}

/// Fetches queued files from the peers, one file at a time.
async fn fetch<S, R>(
    store: Arc<EvidenceStore>,
    peers: Vec<ed25519::PublicKey>,
    mut sender: S,
    mut receiver: R,
    mut queue: mpsc::Receiver<(UnifiedSocialCreditCode, Hash32)>,
    requeue: mpsc::Sender<(UnifiedSocialCreditCode, Hash32)>,
) where
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let mut next_id = 0u64;
    let mut attempts: std::collections::HashMap<Hash32, u32> = std::collections::HashMap::new();
    while let Some((org, hash)) = queue.recv().await {
        if store.contains(&org, &hash) {
            continue;
        }
        let mut got = None;
        for peer in &peers {
            match fetch_from(&mut sender, &mut receiver, peer, &org, &hash, &mut next_id).await {
                Ok(Some(data)) if trustmeter_crypto::hash(store.alg(), &data) == hash => {
                    got = Some(data);
                    break;
                }
                Ok(Some(_)) => warn!(?peer, %org, %hash, "a peer served evidence that does not hash to its name"),
                Ok(None) => {}
                Err(e) => debug!(?peer, %org, %hash, error = %e, "evidence fetch failed"),
            }
        }
        match got {
            Some(data) => {
                let (store, owner) = (store.clone(), org.clone());
                match tokio::task::spawn_blocking(move || store.put(&owner, &data)).await {
                    Ok(Ok(_)) => {
                        info!(%org, %hash, "evidence replicated from a peer");
                        attempts.remove(&hash);
                    }
                    Ok(Err(e)) => warn!(%org, %hash, error = %e, "replicated evidence not stored"),
                    Err(e) => warn!(%org, %hash, error = %e, "replicated evidence not stored"),
                }
            }
            None => {
                let n = attempts.entry(hash).or_insert(0);
                *n += 1;
                if *n >= MAX_ATTEMPTS {
                    attempts.remove(&hash);
                    warn!(%org, %hash, "no peer served the evidence; it stays with the nodes it was uploaded to");
                } else {
                    let requeue = requeue.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(RETRY_AFTER).await;
                        let _ = requeue.try_send((org, hash));
                    });
                }
            }
        }
    }
}

/// Reads one file from one peer, chunk by chunk: `None` if it says it holds none.
async fn fetch_from<S, R>(
    sender: &mut S,
    receiver: &mut R,
    peer: &ed25519::PublicKey,
    org: &UnifiedSocialCreditCode,
    hash: &Hash32,
    next_id: &mut u64,
) -> Result<Option<Vec<u8>>, String>
where
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let mut data: Vec<u8> = Vec::new();
    loop {
        *next_id += 1;
        let id = *next_id;
        let request = Message::Request { id, org: org.to_string(), hash: hash.0, offset: data.len() as u64 };
        let bytes = borsh::to_vec(&request).expect("encode");
        let _ = sender.send(Recipients::One(peer.clone()), bytes, false);
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
            loop {
                let (from, msg) = receiver.recv().await.map_err(|e| format!("network closed: {e}"))?;
                if &from != peer {
                    continue;
                }
                match borsh::from_slice::<Message>(msg.as_ref()) {
                    Ok(m @ (Message::Chunk { .. } | Message::Missing { .. })) => {
                        let mid = match &m {
                            Message::Chunk { id, .. } | Message::Missing { id } => *id,
                            Message::Request { .. } => unreachable!("matched above"),
                        };
                        if mid == id {
                            return Ok::<Message, String>(m);
                        }
                    }
                    _ => continue,
                }
            }
        })
        .await
        .map_err(|_| "no answer in time".to_string())??;
        match answer {
            Message::Missing { .. } => return Ok(None),
            Message::Chunk { total, bytes, .. } => {
                if total > MAX_EVIDENCE_BYTES
                    || bytes.is_empty() && (data.len() as u64) < total
                    || bytes.len() > CHUNK_BYTES
                    || data.len() as u64 + bytes.len() as u64 > total
                {
                    return Err(format!("a chunk out of bounds ({} bytes of a {total}-byte file)", bytes.len()));
                }
                data.extend_from_slice(&bytes);
                if data.len() as u64 == total {
                    return Ok(Some(data));
                }
            }
            Message::Request { .. } => unreachable!("only answers are returned"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_never_panics() {
        let messages = [
            Message::Request { id: 7, org: "91430100MA4L16JQ9D".into(), hash: [3; 32], offset: 1 << 20 },
            Message::Chunk { id: 7, total: 5, bytes: b"12345".to_vec() },
            Message::Missing { id: 7 },
        ];
        for m in messages {
            let bytes = borsh::to_vec(&m).unwrap();
            assert_eq!(borsh::from_slice::<Message>(&bytes).unwrap(), m);
            // Every truncation and every single-byte change decodes or is refused, never panics.
            for cut in 0..bytes.len() {
                let _ = borsh::from_slice::<Message>(&bytes[..cut]);
            }
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0xFF;
                let _ = borsh::from_slice::<Message>(&b);
            }
        }
        // A length prefix claiming 4 GiB of chunk bytes in a tiny message is refused.
        let mut lie = borsh::to_vec(&Message::Chunk { id: 1, total: 1, bytes: vec![] }).unwrap();
        let n = lie.len();
        lie[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(borsh::from_slice::<Message>(&lie).is_err());
    }
}
