//! Proof bundles from a deterministic 4-validator simulation: building, verifying, JSON round
//! trips, tampering with every part, and an independent re-implementation of the documented
//! check (`docs/proof-format.md`) with plain SHA-256/SM3 and Ed25519/SM2 libraries.
//!
//! The simulations run once per test binary (see [`fixture`] for a SHA-256 chain with Ed25519
//! keys and [`fixture_gm`] for an SM3 chain with SM2 keys); every test works on their output.

mod certified;
#[path = "../../../chain/tests/common/mod.rs"]
mod common;
mod example;
mod gm;
mod independent;
#[path = "../../../crypto/tests/common/jmt_store.rs"]
mod jmt_store;
mod strict;
mod tamper;
mod votes;
mod worked_example;

use common::{Cluster, Plant};
use commonware_runtime::{Clock, Runner, Supervisor, deterministic};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};
use trustmeter_chain::Finalized;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_client::{BuildError, PROOF_VERSION, ProofBundle, VerifiedReading, verify};
use trustmeter_crypto::{HashAlg, block_digest};
use trustmeter_types::{DeviceId, Genesis, KeyScheme, ReadingSigner, Unit};

/// What the simulation produced.
pub struct Fixture {
    /// The chain's genesis.
    pub genesis: Genesis,
    /// Every block validator 0 finalized after subscribing, in height order.
    pub events: Vec<Finalized>,
    /// A bundle for every recorded reading of every finalized block that has a certificate.
    pub bundles: Vec<ProofBundle>,
    /// Validator 0's committed state once it held every block of `events`.
    pub state: trustmeter_state::State,
}

impl Fixture {
    /// A bundle for a reading its meter signed, in a block with at least two readings.
    pub fn meter_signed(&self) -> ProofBundle {
        self.bundles
            .iter()
            .find(|b| b.reading.signer == ReadingSigner::Meter && b.tree_size >= 2)
            .expect("a meter-signed reading")
            .clone()
    }
    /// A bundle for a reading the gateway signed, in a block with at least two readings.
    pub fn gateway_signed(&self) -> ProofBundle {
        self.bundles
            .iter()
            .find(|b| b.reading.signer == ReadingSigner::Gateway && b.tree_size >= 2)
            .expect("a gateway-signed reading")
            .clone()
    }
    /// The encoded finalization of a block other than the one `b` is for.
    pub fn other_finalization(&self, b: &ProofBundle) -> String {
        let f = self
            .events
            .iter()
            .find(|e| e.block.block.header.height != b.header.height && e.finalization.is_some())
            .and_then(|e| e.finalization.as_ref())
            .expect("another finalized block");
        hex::encode(commonware_codec::Encode::encode(f))
    }
}

fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::default().with_seed(seed).with_timeout(Some(Duration::from_secs(600))),
    )
}

pub const BATCHES: usize = 3;

fn simulate(seed: u64, crypto: DevnetCrypto) -> Fixture {
    runner(seed).start(|ctx| async move {
        let c = Cluster::with_crypto(ctx.child("cluster"), 4, vec![], crypto).await;
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        c.app(0).subscribe(tx);
        let mut plant = Plant::with_scheme(crypto.account_scheme);
        plant.onboard(&c).await;
        for _ in 0..BATCHES {
            let now = c.ctx.current().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
            c.submit(&plant.batch(&c.devnet, now));
            c.ctx.sleep(Duration::from_millis(300)).await;
        }
        c.wait_state(0, "all readings finalized", Duration::from_secs(120), |s| {
            plant.meters.iter().all(|(id, _)| s.progress(id).map(|p| p.accepted == BATCHES as u64).unwrap_or(false))
        })
        .await;
        // One more block after the readings, so every block with readings has a successor.
        let h = c.height(0);
        c.wait_height(&[0], h + 1, Duration::from_secs(60)).await;
        let mut events = Vec::new();
        while let Ok(f) = rx.try_recv() {
            events.push(f);
        }
        let genesis = c.devnet.genesis.clone();
        // Proofs come from the state the store holds, which the finalizer writes in groups: wait
        // until it holds every block seen, then prove each one's readings as of its height.
        let last = events.last().map_or(0, |e| e.block.block.header.height);
        while c.app(0).committed_state().height < last {
            c.ctx.sleep(Duration::from_millis(50)).await;
        }
        let committed = c.app(0).committed_state();
        let mut bundles = Vec::new();
        for e in &events {
            let Some(fin) = &e.finalization else { continue };
            for p in 0..e.output.recorded.len() {
                bundles.push(
                    ProofBundle::build(&genesis, &e.block.block, &e.output.recorded, &committed, fin, p)
                        .expect("bundle builds"),
                );
            }
        }
        Fixture { genesis, events, bundles, state: committed }
    })
}

/// The simulation's output, computed once for all tests of this binary.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| simulate(11, DevnetCrypto::default()))
}

/// The output of a 国密 simulation: an SM3 chain whose members, gateway and meters hold SM2 keys.
pub fn fixture_gm() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| simulate(12, DevnetCrypto { hash: HashAlg::Sm3, account_scheme: KeyScheme::Sm2 }))
}

/// A genesis identical to `g` except for the validator keys, which come from another seed.
pub fn genesis_with_other_validators(g: &Genesis) -> Genesis {
    let other = Devnet::new(g.chain_id.as_str(), g.validators.len(), 1, 8, g.genesis_time_ms, 30_000);
    let mut out = g.clone();
    for (v, o) in out.validators.iter_mut().zip(&other.genesis.validators) {
        v.consensus_key = o.consensus_key.clone();
    }
    assert_ne!(&out, g);
    out
}

pub fn check_summary(b: &ProofBundle, v: &VerifiedReading) {
    let r = &b.reading.reading;
    assert_eq!(v.chain_id, b.header.chain_id);
    assert_eq!(v.meter, r.meter);
    assert_eq!(v.seq, r.seq);
    assert_eq!(v.value, r.value);
    assert_eq!(v.unit, Unit::KilowattHour);
    assert_eq!(v.timestamp_ms, r.timestamp_ms);
    assert_eq!(v.signer, b.reading.signer);
    assert_eq!(v.height, b.header.height);
    assert_eq!(v.hash, b.genesis.params.hash);
    assert_eq!(v.block_digest, block_digest(b.genesis.params.hash, &b.header));
    assert_eq!(v.block_timestamp_ms, b.header.timestamp_ms);
    assert_eq!(v.gateway, DeviceId::new("91430100700001000N-GW01").unwrap());
    let meter_no: usize = r.meter.as_str().trim_start_matches("91430100700001000N-EM").parse().unwrap();
    assert_eq!(v.calibration_certificate_no, format!("HN-2026-{meter_no:04}"));
    assert_eq!(v.signer, if meter_no.is_multiple_of(2) { ReadingSigner::Meter } else { ReadingSigner::Gateway });
    assert_eq!(v.validators, 4);
    assert_eq!(v.quorum, 3);
    assert!((3..=4).contains(&v.validator_signatures), "{} signatures", v.validator_signatures);
    assert_eq!(v.finalized_view, b.header.view);
    assert_eq!(v.finalized_epoch, b.header.epoch);
}

#[test]
fn every_reading_of_the_simulation_has_a_verifying_bundle() {
    let f = fixture();
    let readings: u64 = f.events.iter().map(|e| e.block.block.header.readings_accepted as u64).sum();
    assert_eq!(readings, (BATCHES * 4) as u64, "every reading was recorded in a block validator 0 reported");
    assert!(
        f.events.iter().filter(|e| e.block.block.header.readings_accepted > 0).all(|e| e.finalization.is_some()),
        "blocks with readings came with their certificates"
    );
    assert_eq!(f.bundles.len(), BATCHES * 4);
    assert!(f.bundles.iter().any(|b| b.tree_size >= 2), "some block recorded several readings");
    for b in &f.bundles {
        assert_eq!(b.version, PROOF_VERSION);
        let trusted = verify(b, Some(&f.genesis)).unwrap_or_else(|e| {
            panic!("bundle for {} #{} does not verify: {e}", b.reading.reading.meter, b.reading.reading.seq)
        });
        let untrusted = verify(b, None).unwrap();
        assert_eq!(trusted, untrusted);
        check_summary(b, &trusted);
    }
}

#[test]
fn json_round_trip_preserves_and_verifies() {
    let f = fixture();
    for b in [f.meter_signed(), f.gateway_signed()] {
        let json = b.to_json();
        let back = ProofBundle::from_json(&json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.to_json(), json, "JSON form is stable");
        back.verify(Some(&f.genesis)).unwrap();
        // The documented top-level fields, and nothing else.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "audit_path",
                "descendants",
                "finalization",
                "gateway",
                "gateway_proof",
                "genesis",
                "header",
                "index",
                "meter_proof",
                "reading",
                "state_roots",
                "tree_size",
                "version"
            ]
        );
        assert_eq!(v["version"], "trustmeter-proof/v3");
        // Unknown fields are refused rather than ignored.
        let mut extra = v.clone();
        extra["note"] = serde_json::json!("trust me");
        assert!(ProofBundle::from_json(&extra.to_string()).is_err());
    }
}

#[test]
fn find_locates_the_reading_and_matches_build() {
    let f = fixture();
    let b = f.meter_signed();
    let event = f.events.iter().find(|e| e.block.block.header.height == b.header.height).unwrap();
    let found = find(&f.genesis, event, &f.state, &b.reading.reading.meter, b.reading.reading.seq).unwrap();
    assert_eq!(found, b);
    let err = find(&f.genesis, event, &f.state, &b.reading.reading.meter, 999).unwrap_err();
    assert!(matches!(err, BuildError::ReadingNotInBlock { seq: 999, .. }), "{err}");
    let mut without = event.clone();
    without.finalization = None;
    assert!(matches!(
        find(&f.genesis, &without, &f.state, &b.reading.reading.meter, b.reading.reading.seq),
        Err(BuildError::NoFinalization { .. })
    ));
}

#[test]
fn build_refuses_mismatched_inputs() {
    let f = fixture();
    let b = f.meter_signed();
    let event = f.events.iter().find(|e| e.block.block.header.height == b.header.height).unwrap();
    let other =
        f.events.iter().find(|e| e.block.block.header.height != b.header.height && e.finalization.is_some()).unwrap();
    let fin = event.finalization.as_ref().unwrap();
    let block = &event.block.block;
    let n = event.output.recorded.len();
    let err = ProofBundle::build(&f.genesis, block, &event.output.recorded, &f.state, fin, n).unwrap_err();
    assert!(
        matches!(err, BuildError::NoSuchPosition { position, recorded, .. } if position == n && recorded == n),
        "{err}"
    );
    let err = ProofBundle::build(
        &f.genesis,
        block,
        &event.output.recorded,
        &f.state,
        other.finalization.as_ref().unwrap(),
        0,
    )
    .unwrap_err();
    assert!(matches!(err, BuildError::FinalizationMismatch { .. }), "{err}");
    // A state whose store does not hold this height (the genesis state): no roots to prove against.
    let genesis_state =
        trustmeter_state::State::open(&f.genesis, std::sync::Arc::new(trustmeter_state::MemStore::new()))
            .expect("the genesis state");
    let err = ProofBundle::build(&f.genesis, block, &event.output.recorded, &genesis_state, fin, 0).unwrap_err();
    assert!(matches!(err, BuildError::RootsMismatch { .. }), "{err}");
    let mut g = f.genesis.clone();
    g.chain_id = trustmeter_types::ChainId::new("other-chain").unwrap();
    let err = ProofBundle::build(&g, block, &event.output.recorded, &f.state, fin, 0).unwrap_err();
    assert!(matches!(err, BuildError::ChainMismatch { .. }), "{err}");
}

/// [`ProofBundle::find`] on a finalized-block event, as a node's indexer calls it.
fn find(
    genesis: &trustmeter_types::Genesis,
    e: &trustmeter_chain::Finalized,
    state: &trustmeter_state::State,
    meter: &trustmeter_types::DeviceId,
    seq: u64,
) -> Result<ProofBundle, trustmeter_client::BuildError> {
    ProofBundle::find(genesis, &e.block.block, &e.output.recorded, e.finalization.as_ref(), state, meter, seq)
}
