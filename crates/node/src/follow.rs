//! A follower node (跟随节点): follows the finalized chain from validators' APIs without voting,
//! checks every block against a finalization certificate of the validators of the block's epoch
//! (genesis names the sets of epochs 0 and 1; each epoch's last block, once applied here, holds
//! the sets of the next two: the follower reads them from its own finalized state), executes it
//! on its own state store, indexes it, and serves the same read API — so that regulators'
//! dashboards and public queries load followers, not validators.
//!
//! **What it trusts**: the genesis file, and nothing it fetches. For each height it fetches the
//! block's canonical bytes and, when the chain has one for that height, its finalization
//! certificate (`GET /v1/chain/finalized/{h}` of a validator). A block with a certificate is
//! accepted when the certificate finalizes exactly that block with a quorum of valid signatures
//! (the same check as a proof's step (f), [`trustmeter_client::verify_finalization`]). A block
//! without one waits (at most [`MAX_UNCERTIFIED_RUN`] of them) until a later block's certificate
//! covers it through the parent links. Accepted blocks are executed with the same state machine
//! as on the validators ([`App::apply_finalized`]); a block whose execution does not give the
//! header's roots stops the follower (its state, or the chain, is broken — loudly, not silently).
//!
//! An upstream that lies (another chain's block, a forged or short certificate, a broken parent
//! link, an oversized body) is skipped for the next one; nothing it sent is applied.

use crate::run::{RunningNode, Serve, open_storage, serve};
use anyhow::{Context as _, Result};
use commonware_cryptography::ed25519;
use commonware_utils::ordered::Set;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, error, info, warn};
use trustmeter_chain::{App, Behaviour, BlockFinalization, ChainBlock, Mempool, MempoolLimits};
use trustmeter_types::limits::MAX_BLOCK_BYTES;
use trustmeter_types::{Block, Genesis, Hash32, decode};

/// Most consecutive blocks without their own certificate held while waiting for one that covers
/// them (Simplex certifies nearly every block; a longer run means the upstream withholds them).
pub const MAX_UNCERTIFIED_RUN: usize = 256;
/// Most bytes of blocks held while waiting for a certificate (a lying upstream could otherwise
/// make the follower hold [`MAX_UNCERTIFIED_RUN`] blocks of 8 MiB).
pub const MAX_UNCERTIFIED_BYTES: usize = 64 << 20;
/// Most bytes of one fetched block and its certificate.
pub const MAX_FETCH_BYTES: usize = MAX_BLOCK_BYTES + 64 * 1024;
/// Pause before asking again when the upstream has no newer block, or failed.
const POLL: Duration = Duration::from_millis(200);
/// Bound on one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything needed to start a follower.
pub struct FollowerSpec {
    /// Node name (logs, status).
    pub name: String,
    /// Genesis (the only thing trusted).
    pub genesis: Genesis,
    /// Validators' API URLs to follow (`http://host:port`), tried in turn.
    pub upstream: Vec<String>,
    /// API listen address (port 0 picks a free port).
    pub api_listen: SocketAddr,
    /// Index file.
    pub index_path: std::path::PathBuf,
    /// State store file.
    pub state_path: std::path::PathBuf,
    /// The alarm engine's configuration.
    pub alarms: trustmeter_analytics::alarms::AlarmConfig,
    /// The API's bounds on concurrent expensive requests.
    pub api: crate::api::limits::ApiConfig,
    /// A member account key the follower signs its block fetches with (RFC 9421): validators
    /// that enforce access rules serve raw blocks to regulators, statistics bureaus and
    /// validator operators only.
    pub key: Option<trustmeter_crypto::SigningKey>,
}

/// Why a fetched block was not accepted (the upstream is then skipped for the next).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The upstream could not be reached or answered with an error.
    #[error("{url}: {reason}")]
    Upstream {
        /// Upstream URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The answer is not a block frame of this chain.
    #[error("{url}: block {height} is malformed: {reason}")]
    Malformed {
        /// Upstream URL.
        url: String,
        /// Height asked for.
        height: u64,
        /// Why.
        reason: String,
    },
    /// The block does not link to the chain followed so far.
    #[error("{url}: block {height} has parent {parent} but the chain followed so far ends at {expected}")]
    BadLink {
        /// Upstream URL.
        url: String,
        /// Height.
        height: u64,
        /// The block's parent digest.
        parent: Hash32,
        /// The digest it should name.
        expected: Hash32,
    },
    /// The certificate does not finalize this block.
    #[error("{url}: the certificate of block {height} does not hold: {source}")]
    Certificate {
        /// Upstream URL.
        url: String,
        /// Height.
        height: u64,
        /// Why.
        source: Box<trustmeter_client::VerifyError>,
    },
    /// Too many blocks without a certificate in a row.
    #[error(
        "{url}: too many blocks in a row from {from} have no certificate ({MAX_UNCERTIFIED_RUN} blocks or {MAX_UNCERTIFIED_BYTES} bytes)"
    )]
    Uncertified {
        /// Upstream URL.
        url: String,
        /// First height of the run.
        from: u64,
    },
}

/// Starts a follower: its storage, the follow loop and the API. Its API refuses transactions
/// (naming the validators) and says `"role": "follower"` in `/v1/status`.
pub async fn start_follower(spec: FollowerSpec) -> Result<RunningNode> {
    anyhow::ensure!(!spec.upstream.is_empty(), "a follower needs at least one validator API to follow");
    for u in &spec.upstream {
        anyhow::ensure!(
            u.starts_with("http://") || u.starts_with("https://"),
            "validator API {u:?} must start with http:// or https://"
        );
    }
    spec.alarms.validate().map_err(|e| anyhow::anyhow!("alarm configuration: {e}"))?;
    spec.api.validate().map_err(|e| anyhow::anyhow!("API configuration: {e}"))?;
    let genesis = spec.genesis.clone();
    crate::config::refuse_public_keys(&genesis)?;
    trustmeter_chain::devnet::participants(&genesis).map_err(anyhow::Error::msg)?;
    let storage = open_storage(&spec.index_path, &spec.state_path, crate::config::DEFAULT_STATE_CACHE_MIB, &genesis)?;
    let mempool = Arc::new(Mutex::new(Mempool::new(genesis.params.hash, MempoolLimits::default())));
    let (app, _finalizer) = App::new(&genesis, mempool, Behaviour::Honest, storage.store.clone())
        .context("opening the follower's state")?;
    app.add_durable_hook(storage.hook.clone());
    app.set_ready();
    let upstream: Vec<String> = spec.upstream.iter().map(|u| u.trim_end_matches('/').to_string()).collect();
    // `https://` validators: verified against TRUSTMETER_CA_FILE, else the platform's roots.
    let http = trustmeter_api_client::http_builder(None)
        .context("the CA certificates")?
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    let follower = Follower {
        app: app.clone(),
        genesis: genesis.clone(),
        upstream: upstream.clone(),
        http,
        key: spec.key.clone().map(Arc::new),
    };
    tokio::spawn(follower.run());
    let node = serve(
        Serve {
            name: spec.name.clone(),
            genesis,
            app,
            access_log: spec.index_path.with_extension("access.redb"),
            evidence_dir: spec.index_path.with_extension("evidence"),
            evidence: None,
            index: storage.index,
            marshal: None,
            upstream: Some(upstream.clone()),
            alarms: spec.alarms.clone(),
            api: spec.api.clone(),
            metrics: storage.metrics,
            runtime_metrics: None,
        },
        spec.api_listen,
    )
    .await?;
    info!(name = %spec.name, api = %node.api_addr, upstream = ?upstream, "follower started");
    Ok(node)
}

/// The follow loop's state.
struct Follower {
    app: App,
    genesis: Genesis,
    upstream: Vec<String>,
    http: reqwest::Client,
    key: Option<Arc<trustmeter_crypto::SigningKey>>,
}

/// A block fetched and linked, waiting for a certificate that covers it.
type Pending = (ChainBlock, Option<BlockFinalization>);

impl Follower {
    /// Follows until a certified block fails to execute (then logs and stops).
    async fn run(self) {
        let mut source = 0usize;
        let mut pending: Vec<Pending> = Vec::new();
        loop {
            let url = &self.upstream[source % self.upstream.len()];
            match self.step(url, &mut pending).await {
                Ok(Step::Applied(n)) => debug!(blocks = n, height = self.app.finalized_height(), "followed"),
                Ok(Step::Held) => {}
                Ok(Step::NotYet) => tokio::time::sleep(POLL).await,
                Err(Stop::Upstream(e)) => {
                    warn!(error = %e, "upstream answer refused; trying the next validator");
                    pending.clear();
                    source += 1;
                    tokio::time::sleep(POLL).await;
                }
                Err(Stop::Apply(e)) => {
                    error!(error = %e, "a certified block did not apply; the follower stops (its state or the chain is broken)");
                    return;
                }
            }
        }
    }

    /// Fetches the next block; applies the pending run once a certificate covers it.
    async fn step(&self, url: &str, pending: &mut Vec<Pending>) -> Result<Step, Stop> {
        let tip = self.app.finalized_state();
        let height = tip.height + pending.len() as u64 + 1;
        let Some(bytes) = fetch(&self.http, self.key.as_deref(), url, height).await.map_err(Stop::Upstream)? else {
            return Ok(Step::NotYet);
        };
        let malformed = |reason: String| Stop::Upstream(FollowError::Malformed { url: url.into(), height, reason });
        let (block, certificate) = split_frame(&bytes).map_err(malformed)?;
        let block: Block = decode(block, MAX_BLOCK_BYTES).map_err(|e| malformed(e.to_string()))?;
        if block.header.height != height || block.header.chain_id != self.genesis.chain_id {
            return Err(malformed(format!("it is block {} of chain {}", block.header.height, block.header.chain_id)));
        }
        let block = ChainBlock::new(self.genesis.params.hash, block);
        let expected = pending.last().map(|(b, _)| b.hash()).unwrap_or(tip.block_digest);
        if block.block.header.parent != expected {
            return Err(Stop::Upstream(FollowError::BadLink {
                url: url.into(),
                height,
                parent: block.block.header.parent,
                expected,
            }));
        }
        let epoch = trustmeter_chain::epochs::epoch_of(&self.genesis, height);
        if block.block.header.epoch != epoch {
            return Err(malformed(format!("it names epoch {} at a height of epoch {epoch}", block.block.header.epoch)));
        }
        // The set of the block's epoch, from the finalized state (which holds the next epoch's
        // too); a run of held blocks reaching two epochs ahead waits for a certificate below it.
        let validators: Option<Set<ed25519::PublicKey>> = trustmeter_chain::epochs::set_of(&self.genesis, &tip, epoch)
            .map_err(|e| Stop::Apply(e.to_string()))?
            .map(|s| s.keys());
        let finalization = match (certificate, validators) {
            (None, _) | (Some(_), None) => None,
            (Some(c), Some(validators)) => {
                trustmeter_client::verify_finalization(
                    c,
                    &self.genesis,
                    &validators,
                    &block.block.header,
                    &block.hash(),
                )
                .map_err(|e| {
                    Stop::Upstream(FollowError::Certificate { url: url.into(), height, source: Box::new(e) })
                })?;
                // Verified; the application keeps consensus's own type, which reads the same bytes.
                let fin = <BlockFinalization as commonware_codec::Decode>::decode_cfg(c.to_vec(), &validators.len())
                    .map_err(|e| {
                        Stop::Upstream(FollowError::Certificate {
                            url: url.into(),
                            height,
                            source: Box::new(trustmeter_client::VerifyError::FinalizationMalformed {
                                validators: validators.len(),
                                reason: e.to_string(),
                            }),
                        })
                    })?;
                Some(fin)
            }
        };
        let certified = finalization.is_some();
        pending.push((block, finalization));
        if !certified {
            let held: usize = pending.iter().map(|(b, _)| b.encoded().len()).sum();
            if pending.len() >= MAX_UNCERTIFIED_RUN || held > MAX_UNCERTIFIED_BYTES {
                let from = height + 1 - pending.len() as u64;
                return Err(Stop::Upstream(FollowError::Uncertified { url: url.into(), from }));
            }
            return Ok(Step::Held);
        }
        // The certificate covers the whole run through its parent links: apply it in order.
        let run = std::mem::take(pending);
        let n = run.len();
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || {
            run.into_iter().try_for_each(|(block, fin)| app.apply_finalized(block, fin))
        })
        .await
        .map_err(|e| Stop::Apply(e.to_string()))?
        .map_err(|e| Stop::Apply(e.to_string()))?;
        Ok(Step::Applied(n))
    }
}

enum Step {
    /// Blocks were applied.
    Applied(usize),
    /// A block without a certificate was held.
    Held,
    /// The upstream has no newer block yet.
    NotYet,
}

enum Stop {
    Upstream(FollowError),
    Apply(String),
}

/// The block bytes and certificate bytes (if any) of a `/v1/chain/finalized/{h}` answer.
pub fn split_frame(frame: &[u8]) -> Result<(&[u8], Option<&[u8]>), String> {
    let Some((len, rest)) = frame.split_first_chunk::<4>() else {
        return Err(format!("{} bytes are shorter than the frame's length prefix", frame.len()));
    };
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() {
        return Err(format!("the frame announces a {len}-byte block but carries {} bytes", rest.len()));
    }
    let (block, certificate) = rest.split_at(len);
    Ok((block, (!certificate.is_empty()).then_some(certificate)))
}

/// Fetches block `height` from `url` (`None`: not finalized there yet), reading at most
/// [`MAX_FETCH_BYTES`].
async fn fetch(
    http: &reqwest::Client,
    key: Option<&trustmeter_crypto::SigningKey>,
    url: &str,
    height: u64,
) -> Result<Option<Vec<u8>>, FollowError> {
    let err = |reason: String| FollowError::Upstream { url: url.into(), reason };
    let path = format!("/v1/chain/finalized/{height}");
    let mut req = http.get(format!("{url}{path}"));
    if let Some(key) = key {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let signed = trustmeter_httpsig::sign(key, "GET", &path, None, now);
        req = req
            .header(trustmeter_httpsig::SIGNATURE_INPUT, signed.signature_input)
            .header(trustmeter_httpsig::SIGNATURE, signed.signature);
    }
    let mut resp = req.send().await.map_err(|e| err(e.to_string()))?;
    match resp.status().as_u16() {
        200 => {}
        404 => return Ok(None),
        s => return Err(err(format!("HTTP {s}"))),
    }
    if resp.content_length().is_some_and(|n| n as usize > MAX_FETCH_BYTES) {
        return Err(err(format!("the answer is longer than {MAX_FETCH_BYTES} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err(e.to_string()))? {
        if body.len() + chunk.len() > MAX_FETCH_BYTES {
            return Err(err(format!("the answer is longer than {MAX_FETCH_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_short_ones_are_refused() {
        let mut f = 3u32.to_be_bytes().to_vec();
        f.extend_from_slice(b"abc");
        assert_eq!(split_frame(&f).unwrap(), (&b"abc"[..], None));
        f.extend_from_slice(b"cert");
        assert_eq!(split_frame(&f).unwrap(), (&b"abc"[..], Some(&b"cert"[..])));
        assert!(split_frame(&f[..2]).unwrap_err().contains("shorter"));
        assert!(split_frame(&f[..5]).unwrap_err().contains("announces"));
    }
}
