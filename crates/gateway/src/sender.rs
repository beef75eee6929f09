//! One sender per destination (一端双发: each chain has its own durable queue and its own task,
//! so one chain being down never holds up the other).
//!
//! The loop, for one destination:
//! 1. If a transaction is in flight (recorded in the store before it was sent), follow it: once
//!    a node says it is **finalized**, fetch the proof of its receipt and check it against the
//!    chain's genesis (the block's finalization certificate by a quorum of the genesis
//!    validators, the receipt's audit path to the block's receipts root); only then settle each
//!    reading (recorded, duplicate, or rejected with the chain's reason) and move the cursor past
//!    the batch. A node's word alone settles nothing: a lying node costs time, never readings. A node that forgot it (e.g. it
//!    restarted) gets the same bytes again; a transaction the chain can no longer take (stale
//!    nonce) is rebuilt with a fresh nonce from the same readings.
//! 2. Otherwise take the next readings after the cursor, in production order, sign a
//!    `SubmitReadings` transaction with the next nonce, record it as in flight, and send it.
//!
//! Before a batch is built, the destination's audit policy is evaluated on each reading
//! ([`crate::audit`]): readings it rejects are settled as rejected and never sent, and the batch is
//! cut before the first of them. The policy set and the meter records it is evaluated with are
//! proven against the genesis too, as of a finalized block no older than the newest one this
//! sender has verified (kept in the store, so it holds across restarts); unproven, the reading
//! is sent unchecked and the chain audits it. A reading is rejected only on proofs at least as
//! new as that block: older ones are proven again first.
//!
//! The genesis is the destination's `genesis` file, or fetched from its nodes and checked against
//! `genesis_hash`, or pinned on first contact (`<data_dir>/genesis-<name>.json`).
//!
//! Failures back off exponentially with ±50 % jitter, from `min_backoff_ms` to `max_backoff_ms`.
//! An HTTP 202 is not an acknowledgement; only a finalized receipt is. Readings are never
//! dropped: a batch refused as a whole is retried until the chain accepts it or an operator acts.

use crate::alarms::{AlarmKind, Severity};
use crate::audit::{Decision, PreAudit, decide};
use crate::config::DestinationConfig;
use crate::status::Shared;
use crate::store::{InFlight, Settlement, Store, StoreError, StoredReading};
use rand::RngExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use trustmeter_api_client::{ClientError, NodeClient, Submitted, TxStatus};
use trustmeter_crypto::{SigningKey, sign_tx, tx_hash};
use trustmeter_meters::Clock;
use trustmeter_types::{
    ChainId, DeviceId, Genesis, Hash32, Meter, Quantity, ReadingOutcome, RejectCode, Rejection, Transaction, TxBody,
    TxOutcome, TxPayload, decode, encode,
};

/// How often the sender refreshes the chain's time and the meters' calibration (gateway real
/// time).
pub const REGISTRY_REFRESH: Duration = Duration::from_secs(30);
/// How many more times the policy proof is asked for when a node serves it as of a block older
/// than the newest verified: a node's committed state trails its finalized blocks by a moment
/// (right after a receipt is verified), a lying node's stays old.
pub const STALE_RETRIES: u32 = 10;
/// The pause before each of those.
pub const STALE_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Everything a sender needs.
pub struct Sender {
    /// Destination settings.
    pub cfg: DestinationConfig,
    /// The node client.
    pub client: NodeClient,
    /// The store.
    pub store: Arc<Store>,
    /// The gateway's signing key.
    pub key: Arc<SigningKey>,
    /// The gateway's device id.
    pub gateway: DeviceId,
    /// The meters this gateway reads (for calibration checks).
    pub meters: Vec<DeviceId>,
    /// Days of calibration warning.
    pub calibration_warning_days: u32,
    /// Backlog alarm thresholds: readings, age (s).
    pub backlog_alarm: (u64, u64),
    /// Gateway clock.
    pub clock: Arc<dyn Clock>,
    /// Whether the clock is simulated (then it is not compared with the chain's time).
    pub simulated_clock: bool,
    /// Shared live state.
    pub shared: Arc<Mutex<Shared>>,
    /// Changes when new readings are stored.
    pub wake: watch::Receiver<u64>,
    /// Becomes `true` on shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// The destination's audit policy and meter records, for the pre-audit.
    pub pre_audit: PreAudit,
    /// The validator sets this gateway has followed from the destination's genesis: proofs are
    /// asked only for the epoch links after the last one (`trustmeter_client::KnownSets`).
    pub known_sets: Arc<std::sync::Mutex<trustmeter_client::KnownSets>>,
    /// The gateway's metrics (batches sent, settled, refused).
    pub metrics: crate::metrics::GatewayMetrics,
    /// The chain's genesis, when configured (`genesis`); else obtained on first contact.
    pub genesis: Option<Arc<Genesis>>,
    /// Where a genesis obtained from the nodes is pinned.
    pub pinned_genesis: PathBuf,
    /// Height of the newest finalized block this sender has verified a proof of: proofs of the
    /// policy and meter records older than it are refused (a node serving stale state). Loaded
    /// from the store once the genesis is known, and written back as it rises
    /// ([`Store::raise_verified_height`]).
    pub verified_height: AtomicU64,
}

/// What the pre-audit made of a batch.
enum Audited {
    /// Send these (the batch, possibly cut before a reading the policy rejects).
    Send(Vec<(u64, StoredReading)>),
    /// The readings at the head of the queue were rejected by the policy and settled.
    Settled,
}

#[derive(Debug)]
enum Step {
    /// Progress was made; go on at once.
    Progressed,
    /// Nothing to do until new readings arrive.
    Idle,
    /// Waiting for finality; poll again soon.
    Waiting,
    /// Failed; back off.
    Failed(String),
}

impl Sender {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn update(&self, f: impl FnOnce(&mut crate::status::DestinationStatus, &mut crate::alarms::AlarmBoard)) {
        let mut s = self.shared.lock().expect("shared lock");
        let s = &mut *s;
        let d = s.destinations.entry(self.cfg.name.clone()).or_default();
        f(d, &mut s.alarms);
    }

    fn raise(&self, kind: AlarmKind, severity: Severity, message: String) {
        let now = self.now();
        let name = self.cfg.name.clone();
        self.update(|_, a| a.raise(kind, severity, &name, message, now));
    }

    fn clear(&self, kind: AlarmKind) {
        let name = self.cfg.name.clone();
        self.update(|_, a| a.clear(kind, &name));
    }

    /// Takes the highest verified height recorded for this destination's genesis.
    fn load_verified(&self) {
        let Some(g) = &self.genesis else { return };
        match self.store.verified_height(&self.cfg.name, &trustmeter_crypto::genesis_hash(g)) {
            Ok(h) => {
                self.verified_height.fetch_max(h, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(destination = %self.cfg.name, error = %e, "reading the verified height failed"),
        }
    }

    /// Notes a verified proof at `height`: raises the newest verified height, in memory and in the
    /// store.
    fn verified(&self, height: u64) {
        if self.verified_height.fetch_max(height, Ordering::Relaxed) >= height {
            return;
        }
        let Some(g) = &self.genesis else { return };
        if let Err(e) = self.store.raise_verified_height(&self.cfg.name, &trustmeter_crypto::genesis_hash(g), height) {
            // This run still refuses older proofs; after a restart it would not know this height.
            tracing::warn!(destination = %self.cfg.name, height, error = %e, "recording the verified height failed");
        }
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        self.load_verified();
        let mut backoff = self.cfg.min_backoff_ms;
        let mut chain: Option<(ChainId, trustmeter_types::HashAlg)> = None;
        let mut next_nonce: Option<u64> = None;
        let mut last_refresh: Option<std::time::Instant> = None;
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            if last_refresh.is_none_or(|t| t.elapsed() >= REGISTRY_REFRESH) && self.refresh(&mut chain).await {
                last_refresh = Some(std::time::Instant::now());
            }
            if self.genesis.is_none() && chain.is_some() {
                match self.obtain_genesis().await {
                    Ok(g) => {
                        self.pre_audit.observe_params(&g);
                        self.genesis = Some(g);
                        self.load_verified();
                        self.clear(AlarmKind::ProofInvalid);
                    }
                    Err(e) => self.raise(AlarmKind::ProofInvalid, Severity::Critical, e),
                }
            }
            if chain.is_some() && self.genesis.is_some() && self.pre_audit.fetch_due() {
                self.fetch_policy().await;
            }
            let step = match &chain {
                None => Step::Failed("chain not reached yet".into()),
                Some(_) if self.genesis.is_none() => Step::Failed("the chain's genesis is not known yet".into()),
                Some((c, alg)) => {
                    let (c, alg) = (c.clone(), *alg);
                    self.step(&c, alg, &mut next_nonce).await.unwrap_or_else(|e| Step::Failed(e.to_string()))
                }
            };
            self.report_backlog();
            let wait = match step {
                Step::Progressed => {
                    backoff = self.cfg.min_backoff_ms;
                    self.update(|d, _| d.last_error = None);
                    continue;
                }
                Step::Waiting => Duration::from_millis(self.cfg.poll_ms),
                Step::Idle => Duration::from_secs(1),
                Step::Failed(e) => {
                    tracing::debug!(destination = %self.cfg.name, error = %e, "send failed; backing off");
                    self.update(|d, _| d.last_error = Some(e.clone()));
                    let jitter = rand::rng().random_range(0.5..1.5);
                    let d = Duration::from_millis((backoff as f64 * jitter) as u64);
                    backoff = (backoff * 2).min(self.cfg.max_backoff_ms);
                    d
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.changed() => {}
                _ = self.shutdown.changed() => {}
            }
        }
    }

    /// Refreshes the chain id, the clock comparison and the calibration alarms. `false` if the
    /// chain could not be reached.
    async fn refresh(&self, chain: &mut Option<(ChainId, trustmeter_types::HashAlg)>) -> bool {
        let status = match self.client.status().await {
            Ok(s) => s,
            Err(e) => {
                self.raise(
                    AlarmKind::DestinationUnreachable,
                    Severity::Critical,
                    format!("{}; readings queue on disk and are sent when it is back", e),
                );
                return false;
            }
        };
        self.clear(AlarmKind::DestinationUnreachable);
        if let Some(g) = &self.genesis
            && g.chain_id.as_str() != status.chain_id
        {
            self.raise(
                AlarmKind::ProofInvalid,
                Severity::Critical,
                format!(
                    "{}'s nodes say they run chain {:?}, but its genesis is for chain {}; check the destination's nodes",
                    self.cfg.name, status.chain_id, g.chain_id
                ),
            );
            return false;
        }
        match ChainId::new(status.chain_id.clone()) {
            Ok(c) => *chain = Some((c, status.hash_alg)),
            Err(e) => {
                tracing::error!(destination = %self.cfg.name, error = %e, "node reports an invalid chain id");
                return false;
            }
        }
        let chain_id = status.chain_id.clone();
        self.update(|d, _| d.chain_id = Some(chain_id));
        if !self.simulated_clock {
            let now = self.now();
            let mut s = self.shared.lock().expect("shared lock");
            s.clock.observe_chain(now, status.finalized_time_ms);
        }
        self.check_registry(status.finalized_time_ms).await;
        true
    }

    /// Raises calibration and activation alarms from the chain's registry records.
    async fn check_registry(&self, chain_time_ms: i64) {
        let now = if self.simulated_clock { self.now() } else { chain_time_ms };
        let warn_ms = i64::from(self.calibration_warning_days) * 86_400_000;
        let subject = |m: &DeviceId| format!("{}@{}", m, self.cfg.name);
        if let Ok(Some(g)) = self.client.gateway(&self.gateway).await {
            let s = format!("{}@{}", self.gateway, self.cfg.name);
            let now_ms = self.now();
            self.update(|_, a| {
                if g.status == trustmeter_types::DeviceStatus::Active {
                    a.clear(AlarmKind::DeviceNotActive, &s);
                } else {
                    a.raise(
                        AlarmKind::DeviceNotActive,
                        Severity::Critical,
                        &s,
                        format!("gateway {} is {:?} on {}; a regulator must activate it", g.id, g.status, s),
                        now_ms,
                    );
                }
            });
        }
        for m in &self.meters {
            // For the alarms only: the pre-audit uses proven records ([`Sender::meter_record`]).
            let Ok(rec) = self.client.meter(m).await else { return };
            let s = subject(m);
            let now_ms = self.now();
            self.update(|_, a| match rec {
                None => a.raise(
                    AlarmKind::DeviceNotActive,
                    Severity::Critical,
                    &s,
                    format!("meter {m} is not registered on this chain; register it (trustmeter tx register-meter)"),
                    now_ms,
                ),
                Some(rec) => {
                    if rec.status == trustmeter_types::DeviceStatus::Active {
                        a.clear(AlarmKind::DeviceNotActive, &s);
                    } else {
                        a.raise(
                            AlarmKind::DeviceNotActive,
                            Severity::Critical,
                            &s,
                            format!("meter {m} is {:?}; its readings are rejected until a regulator activates it", rec.status),
                            now_ms,
                        );
                    }
                    match &rec.calibration {
                        None => a.raise(
                            AlarmKind::CalibrationInvalid,
                            Severity::Critical,
                            &s,
                            format!("meter {m} has no calibration certificate on record; its readings are rejected"),
                            now_ms,
                        ),
                        Some(c) if c.valid_until_ms <= now => a.raise(
                            AlarmKind::CalibrationInvalid,
                            Severity::Critical,
                            &s,
                            format!(
                                "calibration certificate {} of meter {m} expired on {}; its readings are rejected until a new certificate is recorded",
                                c.certificate_no,
                                crate::time::local_text(c.valid_until_ms)
                            ),
                            now_ms,
                        ),
                        Some(c) => {
                            a.clear(AlarmKind::CalibrationInvalid, &s);
                            if c.valid_until_ms - now <= warn_ms {
                                a.raise(
                                    AlarmKind::CalibrationExpiring,
                                    Severity::Warning,
                                    &s,
                                    format!(
                                        "calibration certificate {} of meter {m} expires on {} ({} days); have it recalibrated",
                                        c.certificate_no,
                                        crate::time::local_text(c.valid_until_ms),
                                        (c.valid_until_ms - now) / 86_400_000
                                    ),
                                    now_ms,
                                );
                            } else {
                                a.clear(AlarmKind::CalibrationExpiring, &s);
                            }
                        }
                    }
                }
            });
        }
    }

    fn report_backlog(&self) {
        let Ok(cursor) = self.store.destination(&self.cfg.name) else { return };
        let Ok(next) = self.store.next_id() else { return };
        let backlog = next.saturating_sub(1).saturating_sub(cursor.settled_through);
        let oldest = if backlog > 0 {
            self.store.get(cursor.settled_through + 1).ok().flatten().map(|r| r.signed.reading.timestamp_ms)
        } else {
            None
        };
        let in_flight = cursor.in_flight.as_ref().map(|f| f.last_id - f.first_id + 1).unwrap_or(0);
        let now = self.now();
        let (max_n, max_age_s) = self.backlog_alarm;
        let old = oldest.is_some_and(|t| now - t > (max_age_s as i64) * 1_000);
        let name = self.cfg.name.clone();
        self.update(|d, a| {
            d.name = name.clone();
            d.nodes = self.client.urls().to_vec();
            d.backlog = backlog;
            d.oldest_unsettled_ms = oldest;
            d.acknowledged = cursor.acknowledged;
            d.rejected = cursor.rejected;
            d.last_height = cursor.last_height;
            d.in_flight = in_flight;
            if backlog > max_n || old {
                a.raise(
                    AlarmKind::Backlog,
                    Severity::Warning,
                    &name,
                    format!(
                        "{backlog} readings wait for {name}, the oldest from {}; check the chain's nodes and the gateway's network",
                        oldest.map(crate::time::local_text).unwrap_or_default()
                    ),
                    now,
                );
            } else {
                a.clear(AlarmKind::Backlog, &name);
            }
            if cursor.rejected > 0 {
                a.raise(
                    AlarmKind::ReadingsRejected,
                    Severity::Warning,
                    &name,
                    format!(
                        "{} readings were rejected by {name}; see `trustmeter gateway rejected --destination {name}` for the reasons",
                        cursor.rejected
                    ),
                    now,
                );
            }
        });
    }

    /// One step of the loop.
    async fn step(
        &self,
        chain: &ChainId,
        alg: trustmeter_types::HashAlg,
        next_nonce: &mut Option<u64>,
    ) -> Result<Step, SendError> {
        let cursor = self.store.destination(&self.cfg.name)?;
        if let Some(inf) = cursor.in_flight {
            return self.follow(chain, inf, next_nonce).await;
        }
        let batch = self.store.after(cursor.settled_through, self.cfg.max_batch_readings)?;
        if batch.is_empty() {
            return Ok(Step::Idle);
        }
        let batch = match self.pre_audit_batch(batch).await? {
            Audited::Send(b) => b,
            Audited::Settled => return Ok(Step::Progressed),
        };
        let nonce = match *next_nonce {
            Some(n) => n,
            None => self.client.account(&self.key.public_key()).await?.last_nonce + 1,
        };
        let first_id = batch[0].0;
        let last_id = batch[batch.len() - 1].0;
        debug_assert_eq!(last_id - first_id + 1, batch.len() as u64, "ids are gap-free");
        let tx = sign_tx(
            &self.key,
            TxBody {
                chain_id: chain.clone(),
                sender: self.key.public_key(),
                nonce,
                payload: TxPayload::SubmitReadings {
                    gateway: self.gateway.clone(),
                    readings: batch.into_iter().map(|(_, r)| r.signed).collect(),
                },
            },
        );
        let inf = InFlight {
            first_id,
            last_id,
            tx_hash: tx_hash(alg, &tx),
            nonce,
            tx_bytes: encode(&tx),
            submitted_at_ms: self.now(),
        };
        // Durable before it leaves the gateway: after a crash the same bytes are followed up.
        self.store.set_in_flight(&self.cfg.name, Some(inf.clone()))?;
        *next_nonce = Some(nonce + 1);
        self.submit(&tx, &inf, next_nonce).await
    }

    /// Fetches the destination's audit policy; raises or clears `policy_unavailable`.
    async fn fetch_policy(&self) {
        let fetched = self.proven_policy().await;
        let result = self.pre_audit.install(fetched);
        let loaded = self.pre_audit.policy().map(|p| p.label());
        self.update(|d, _| d.audit_policy = loaded.clone());
        match result {
            Ok(changed) => {
                if changed {
                    tracing::info!(destination = %self.cfg.name, policy = ?loaded, "audit policy installed for the pre-audit");
                }
                self.clear(AlarmKind::PolicyUnavailable);
            }
            Err(e) => self.raise(AlarmKind::PolicyUnavailable, Severity::Warning, format!("{}: {e}", self.cfg.name)),
        }
    }

    /// The destination's record of a meter (cached) and the height it is proven at, proven
    /// against the genesis as of a block no older than the newest verified; `None` if it is not
    /// registered there or could not be proven (then the reading is sent unchecked).
    async fn meter_record(&self, id: &DeviceId) -> Option<(Meter, u64)> {
        if let Some((rec, height)) = self.pre_audit.cached_meter(id) {
            return rec.map(|m| (m, height));
        }
        let genesis = self.genesis.as_ref()?;
        let proven = self
            .client
            .meter_proven_known(id, genesis, &self.known_sets)
            .await
            .map_err(|e| self.unproven(&e))
            .and_then(|(block, rec)| self.fresh(block.height).map(|()| (rec, block.height)));
        match proven {
            Ok((rec, height)) => {
                self.pre_audit.remember_meter(id, rec.clone(), height);
                rec.map(|m| (m, height))
            }
            Err(e) => {
                tracing::debug!(destination = %self.cfg.name, meter = %id, error = %e, "meter record not proven; sending unchecked");
                None
            }
        }
    }

    /// The audit policy set, proven complete against the genesis.
    async fn proven_policy(&self) -> Result<Option<(trustmeter_api_client::ChainPolicy, u64)>, String> {
        let genesis = self.genesis.as_ref().ok_or("the chain's genesis is not known yet")?;
        let mut attempt = 0;
        let (block, records) = loop {
            let (block, records) =
                self.client.policy_proven_known(genesis, &self.known_sets).await.map_err(|e| self.unproven(&e))?;
            if block.height >= self.verified_height.load(Ordering::Relaxed) || attempt >= STALE_RETRIES {
                break (block, records);
            }
            attempt += 1;
            tokio::time::sleep(STALE_RETRY_DELAY).await;
        };
        self.fresh(block.height)?;
        let view = |p: &trustmeter_client::certified::PolicyRecord| trustmeter_api_client::PolicyInForce {
            version: p.version,
            text: p.text.clone(),
            effective_height: p.effective_height,
            name: Some(p.name.clone()),
            status: None,
        };
        let (in_force, pending) = records.split_first().ok_or("no policy version proven")?;
        Ok(Some((
            trustmeter_api_client::ChainPolicy {
                in_force: view(in_force),
                pending: pending.iter().map(view).collect(),
            },
            block.height,
        )))
    }

    /// Refuses state proven as of a block older than the newest this sender has verified (in
    /// this run or, through the store, any earlier one).
    fn fresh(&self, height: u64) -> Result<(), String> {
        let newest = self.verified_height.load(Ordering::Relaxed);
        if height < newest {
            return Err(format!("proven as of block {height}, older than block {newest} already verified: stale"));
        }
        self.verified(height);
        Ok(())
    }

    /// The pre-audit's decision on one reading. A rejection rests on a policy and a meter record
    /// proven at least as new as the newest block verified when the reading is audited: if either
    /// in hand is older, both are proven again (a node cannot make the gateway drop a reading on
    /// a policy since replaced), and the reading is sent if they cannot be.
    async fn audit_one(
        &self,
        r: &trustmeter_types::Reading,
        previous: Option<(i64, Quantity)>,
        block: trustmeter_policy::BlockFacts,
    ) -> Decision {
        let Some(policy) = self.pre_audit.policy() else { return Decision::Send };
        let Some((meter, meter_height)) = self.meter_record(&r.meter).await else { return Decision::Send };
        let decision = decide(&policy, &self.cfg.name, r, &meter, previous, block);
        let newest = self.verified_height.load(Ordering::Relaxed);
        if !matches!(decision, Decision::Reject(_)) || (policy.height >= newest && meter_height >= newest) {
            return decision;
        }
        tracing::debug!(
            destination = %self.cfg.name, meter = %r.meter, policy_height = policy.height, meter_height, newest,
            "a rejection would rest on older proofs: proving the policy and the meter record again"
        );
        // Proven again, each is at least as new as `newest` (`fresh`).
        self.fetch_policy().await;
        self.pre_audit.forget_meter(&r.meter);
        let Some(policy) = self.pre_audit.policy() else { return Decision::Send };
        let Some((meter, _)) = self.meter_record(&r.meter).await else { return Decision::Send };
        decide(&policy, &self.cfg.name, r, &meter, previous, block)
    }

    /// Describes a failure to obtain a proof, raising `proof_invalid` when a node served a proof
    /// that does not verify.
    fn unproven(&self, e: &ClientError) -> String {
        if let ClientError::Unverified { url, reason } = e {
            self.metrics.proof_invalid(&self.cfg.name);
            self.raise(
                AlarmKind::ProofInvalid,
                Severity::Critical,
                format!("node {url} of {} served a proof that does not verify ({reason}); nothing it said was acted on, and readings are kept", self.cfg.name),
            );
        }
        e.to_string()
    }

    /// The chain's genesis, from the pinned file or the nodes (see the module documentation).
    async fn obtain_genesis(&self) -> Result<Arc<Genesis>, String> {
        let name = &self.cfg.name;
        let expected = match &self.cfg.genesis_hash {
            Some(h) => Some(Hash32::from_hex(h).map_err(|e| format!("{name}: genesis_hash: {e}"))?),
            None => None,
        };
        let check = |g: &Genesis, from: &str| -> Result<(), String> {
            trustmeter_types::codec::Validate::validate(g)
                .map_err(|e| format!("{name}: the genesis {from} is invalid: {e}"))?;
            let h = trustmeter_crypto::genesis_hash(g);
            match expected {
                Some(e) if e != h => Err(format!(
                    "{name}: the genesis {from} has hash {h}, but genesis_hash says {e}; the nodes serve another chain, or lie"
                )),
                _ => Ok(()),
            }
        };
        if self.pinned_genesis.exists() {
            let text = std::fs::read_to_string(&self.pinned_genesis)
                .map_err(|e| format!("{name}: reading {}: {e}", self.pinned_genesis.display()))?;
            let g: Genesis = serde_json::from_str(&text)
                .map_err(|e| format!("{name}: parsing {}: {e}", self.pinned_genesis.display()))?;
            check(&g, &format!("pinned in {}", self.pinned_genesis.display()))?;
            return Ok(Arc::new(g));
        }
        let g = self.client.genesis().await.map_err(|e| format!("{name}: fetching the genesis: {e}"))?;
        check(&g, "its nodes serve")?;
        let hash = trustmeter_crypto::genesis_hash(&g);
        if expected.is_none() {
            tracing::warn!(
                destination = %name, genesis_hash = %hash, chain = %g.chain_id,
                "no genesis file or genesis_hash is configured: pinning the genesis the nodes serve on first contact; compare its hash with the one the consortium published"
            );
        }
        let json = serde_json::to_string_pretty(&g).map_err(|e| e.to_string())?;
        let tmp = self.pinned_genesis.with_extension("json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &self.pinned_genesis))
            .map_err(|e| format!("{name}: pinning the genesis in {}: {e}", self.pinned_genesis.display()))?;
        Ok(Arc::new(g))
    }

    /// Evaluates the destination's policy on a batch (see [`crate::audit`]): settles the rejected
    /// readings at its head, or returns the readings up to the first rejected one.
    async fn pre_audit_batch(&self, batch: Vec<(u64, StoredReading)>) -> Result<Audited, SendError> {
        if self.pre_audit.policy().is_none() {
            return Ok(Audited::Send(batch));
        }
        let block = self.pre_audit.block(self.now());
        let mut previous: BTreeMap<DeviceId, Option<(i64, Quantity)>> = BTreeMap::new();
        let mut rejected: Vec<(u64, Rejection)> = Vec::new();
        for (i, (id, stored)) in batch.iter().enumerate() {
            let r = &stored.signed.reading;
            let prev = match previous.get(&r.meter) {
                Some(p) => *p,
                None => {
                    let skip: Vec<u64> = rejected.iter().map(|(id, _)| *id).collect();
                    self.store.previous_sent(&self.cfg.name, &r.meter, r.seq, &skip)?
                }
            };
            let decision = self.audit_one(r, prev, block).await;
            match decision {
                Decision::Reject(rej) if i == rejected.len() => {
                    tracing::info!(destination = %self.cfg.name, meter = %r.meter, seq = r.seq, reason = %rej.message, "reading refused by the pre-audit");
                    rejected.push((*id, rej));
                }
                Decision::Reject(_) => {
                    // Send what precedes it; it heads the next batch.
                    return Ok(Audited::Send(batch.into_iter().take(i).collect()));
                }
                Decision::Send if !rejected.is_empty() => break,
                Decision::Send => {
                    previous.insert(r.meter.clone(), Some((r.timestamp_ms, r.value)));
                }
            }
        }
        if rejected.is_empty() {
            return Ok(Audited::Send(batch));
        }
        let n = rejected.len() as u64;
        let outcomes: Vec<(u64, Settlement)> =
            rejected.into_iter().map(|(id, r)| (id, Settlement::Rejected(r))).collect();
        self.store.settle(&self.cfg.name, &outcomes, 0)?;
        let now = self.now();
        self.update(|d, _| {
            d.rejected_before_sending += n;
            d.last_settled_ms = Some(now);
        });
        Ok(Audited::Settled)
    }

    async fn submit(&self, tx: &Transaction, inf: &InFlight, next_nonce: &mut Option<u64>) -> Result<Step, SendError> {
        self.metrics.sent(&self.cfg.name);
        match self.client.submit(tx).await? {
            Submitted::Pending(_) => {
                self.clear(AlarmKind::DestinationRefusing);
                Ok(Step::Waiting)
            }
            Submitted::Rejected(r) => self.refused(inf, r, next_nonce).await,
        }
    }

    /// The chain refused the in-flight transaction at admission.
    async fn refused(&self, inf: &InFlight, r: Rejection, next_nonce: &mut Option<u64>) -> Result<Step, SendError> {
        match r.code {
            RejectCode::MempoolFull => {
                self.metrics.refused(&self.cfg.name);
                Ok(Step::Failed(format!("chain busy: {}", r.message)))
            }
            RejectCode::StaleNonce => {
                // Either this very transaction was finalized (then its receipt settles it) or
                // the nonce was used up: rebuild the batch with a fresh nonce.
                if let TxStatus::Finalized { .. } = self.client.status_of(&inf.tx_hash).await? {
                    return Ok(if self.settle_proven(inf).await? { Step::Progressed } else { Step::Waiting });
                }
                *next_nonce = None;
                self.store.set_in_flight(&self.cfg.name, None)?;
                Ok(Step::Progressed)
            }
            _ => {
                // Refused as a whole (gateway not active, unknown, bad signature…): nothing in it
                // is lost; keep the readings and retry, rebuilt, after a backoff.
                self.metrics.refused(&self.cfg.name);
                self.raise(
                    AlarmKind::DestinationRefusing,
                    Severity::Critical,
                    format!("{} refuses the gateway's batches: {r}", self.cfg.name),
                );
                *next_nonce = None;
                self.store.set_in_flight(&self.cfg.name, None)?;
                Ok(Step::Failed(r.to_string()))
            }
        }
    }

    /// Settles the in-flight transaction on the proof of its receipt. `Ok(false)`: no node
    /// serves a proof yet (the certificate may come a moment after the block).
    async fn settle_proven(&self, inf: &InFlight) -> Result<bool, SendError> {
        let genesis = self.genesis.as_ref().ok_or_else(|| SendError::Corrupt("no genesis".into()))?;
        match self.client.receipt_proven_known(&inf.tx_hash, genesis, &self.known_sets).await {
            Ok(v) => {
                self.verified(v.block.height);
                self.clear(AlarmKind::ProofInvalid);
                self.settle(inf, v.block.height, v.receipt.outcome, &v.receipt.readings)?;
                Ok(true)
            }
            Err(e @ ClientError::Unverified { .. }) => Err(SendError::Unproven(self.unproven(&e))),
            Err(ClientError::NoProof { detail }) => {
                tracing::debug!(destination = %self.cfg.name, tx = %inf.tx_hash, %detail, "finalized, proof not served yet");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn follow(&self, _chain: &ChainId, inf: InFlight, next_nonce: &mut Option<u64>) -> Result<Step, SendError> {
        match self.client.status_of(&inf.tx_hash).await? {
            TxStatus::Pending => Ok(Step::Waiting),
            // A node's word is a hint: only a verified proof of the receipt settles anything.
            TxStatus::Finalized { .. } => {
                if self.settle_proven(&inf).await? {
                    *next_nonce = Some(inf.nonce + 1);
                    Ok(Step::Progressed)
                } else {
                    Ok(Step::Waiting)
                }
            }
            TxStatus::Rejected(r) => self.refused(&inf, r, next_nonce).await,
            TxStatus::Unknown => {
                // The node never got it or forgot it (restart): send the same bytes again.
                let tx: Transaction = decode(&inf.tx_bytes, trustmeter_types::limits::MAX_TX_BYTES)
                    .map_err(|e| SendError::Corrupt(e.to_string()))?;
                self.submit(&tx, &inf, next_nonce).await
            }
        }
    }

    fn settle(
        &self,
        inf: &InFlight,
        height: u64,
        outcome: TxOutcome,
        readings: &[ReadingOutcome],
    ) -> Result<(), SendError> {
        if let TxOutcome::Rejected(r) = outcome {
            // Executed but refused as a whole: nothing was recorded; the nonce is used up.
            self.metrics.refused(&self.cfg.name);
            self.raise(
                AlarmKind::DestinationRefusing,
                Severity::Critical,
                format!("{} refused a finalized batch as a whole: {r}", self.cfg.name),
            );
            self.store.set_in_flight(&self.cfg.name, None)?;
            return Ok(());
        }
        let n = (inf.last_id - inf.first_id + 1) as usize;
        if readings.len() != n {
            return Err(SendError::Corrupt(format!(
                "receipt has {} reading outcomes for a batch of {n}",
                readings.len()
            )));
        }
        let outcomes: Vec<(u64, Settlement)> = readings
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let s = match o {
                    ReadingOutcome::Accepted | ReadingOutcome::Flagged { .. } | ReadingOutcome::Duplicate => {
                        Settlement::Acknowledged
                    }
                    ReadingOutcome::Rejected(r) => Settlement::Rejected(r.clone()),
                };
                (inf.first_id + i as u64, s)
            })
            .collect();
        self.store.settle(&self.cfg.name, &outcomes, height)?;
        self.metrics.settled(&self.cfg.name);
        let now = self.now();
        self.update(|d, a| {
            d.last_settled_ms = Some(now);
            a.clear(AlarmKind::DestinationRefusing, &d.name.clone());
        });
        Ok(())
    }
}

/// Why a send step failed.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("inconsistent data: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Unproven(String),
}
