//! Deterministic simulation of a 4-validator consortium (Commonware's deterministic runtime and
//! simulated network): all online, a partition healed, a crash and restart from disk, a Byzantine
//! proposer, and replay from a seed; and a 国密 chain (SM3 chain hashing, SM2 member and device
//! keys) that finalizes readings and replays identically.

use crate::common::{Cluster, GENESIS_MS, Plant};
use commonware_runtime::{Clock, Runner, Supervisor, deterministic};
use std::time::Duration;
use trustmeter_chain::app::{Behaviour, MAX_UNCOMMITTED_BLOCKS};
use trustmeter_chain::devnet::DevnetCrypto;
use trustmeter_chain::metrics::HeldOutcome;
use trustmeter_crypto::HashAlg;
use trustmeter_types::KeyScheme;

fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::default().with_seed(seed).with_timeout(Some(Duration::from_secs(600))),
    )
}

/// Submits `batches` reading batches, one every simulated 15 minutes of reading time.
async fn feed(c: &Cluster, plant: &mut Plant, batches: usize) {
    for b in 0..batches {
        let t = GENESIS_MS + (b as i64 + 1) * 900_000;
        let tx = plant
            .batch(&c.devnet, t.min(c.ctx.current().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64));
        c.submit(&tx);
        c.ctx.sleep(Duration::from_millis(200)).await;
    }
}

/// Per validator: (height, block hash, state root) of every finalized block.
type Histories = Vec<Vec<(u64, String, String)>>;

/// Runs a whole scenario and returns what every validator finalized and the runtime's audit
/// digest (for replay comparison).
fn all_online(seed: u64) -> (Histories, String) {
    scenario(seed, DevnetCrypto::default())
}

/// [`all_online`] on a chain with the given hash algorithm, member keys and device keys (the
/// plant's keys use the members' scheme).
fn scenario(seed: u64, crypto: DevnetCrypto) -> (Histories, String) {
    runner(seed).start(|ctx| async move {
        let c = Cluster::with_crypto(ctx.child("cluster"), 4, vec![], crypto).await;
        let mut plant = Plant::with_scheme(crypto.account_scheme);
        plant.onboard(&c).await;
        feed(&c, &mut plant, 10).await;
        let target = c.height(0) + 3;
        c.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(60)).await;
        let all = [0, 1, 2, 3];
        c.assert_agreement(&all);
        c.wait_state(0, "all readings finalized", Duration::from_secs(60), |s| {
            plant.meters.iter().all(|(id, _)| s.progress(id).map(|p| p.accepted == 10).unwrap_or(false))
        })
        .await;
        for i in all {
            c.wait_state(i, "readings everywhere", Duration::from_secs(60), |s| {
                plant.meters.iter().all(|(id, _)| s.progress(id).map(|p| p.accepted == 10).unwrap_or(false))
            })
            .await;
            assert_eq!(plant.accepted(&c, i), 40);
        }
        c.assert_agreement(&all);
        let s = c.app(0).finalized_state();
        assert_eq!(s.hash_alg(), crypto.hash);
        assert_eq!(c.histories[0].lock().unwrap()[&s.height], (s.block_digest, s.root()));
        let hist = c
            .histories
            .iter()
            .map(|h| h.lock().unwrap().iter().map(|(k, (b, r))| (*k, b.to_hex(), r.to_hex())).collect())
            .collect();
        (hist, ctx.auditor().state())
    })
}

#[test]
fn four_validators_finalize_readings_and_agree() {
    let (hist, _) = all_online(1);
    assert!(hist.iter().all(|h| h.len() >= 5), "every validator finalized blocks");
}

#[test]
fn same_seed_replays_identically() {
    let a = all_online(42);
    let b = all_online(42);
    assert_eq!(a.0, b.0, "finalized history differs between two runs of the same seed");
    assert_eq!(a.1, b.1, "runtime audit state differs between two runs of the same seed");
}

#[test]
fn gm_chain_with_sm3_and_sm2_finalizes_readings_and_replays_identically() {
    let gm = DevnetCrypto { hash: HashAlg::Sm3, account_scheme: KeyScheme::Sm2 };
    let a = scenario(9, gm);
    assert!(a.0.iter().all(|h| h.len() >= 5), "every validator finalized blocks");
    let b = scenario(9, gm);
    assert_eq!(a.0, b.0, "finalized history differs between two runs of the same seed");
    assert_eq!(a.1, b.1, "runtime audit state differs between two runs of the same seed");
    // The same scenario on a SHA-256 chain with the same keys has other block digests.
    let sha = scenario(9, DevnetCrypto { hash: HashAlg::Sha256, account_scheme: KeyScheme::Sm2 });
    assert_ne!(a.0[0][0].1, sha.0[0][0].1, "SM3 and SHA-256 chains must not share block digests");
}

#[test]
fn partitioned_validator_catches_up_after_healing() {
    runner(3).start(|ctx| async move {
        let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
        let mut plant = Plant::new();
        plant.onboard(&c).await;
        c.isolate(3).await;
        let cut_at = c.height(3);
        feed(&c, &mut plant, 6).await;
        let target = c.height(0) + 5;
        c.wait_height(&[0, 1, 2], target, Duration::from_secs(60)).await;
        assert!(c.height(3) <= cut_at + 1, "an isolated validator cannot finalize on its own");
        c.link_all().await;
        c.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(120)).await;
        c.assert_agreement(&[0, 1, 2, 3]);
        let s0 = c.app(0).finalized_state();
        c.wait_state(3, "caught up to the same state", Duration::from_secs(60), |s| s.height >= s0.height).await;
        assert_eq!(plant.accepted(&c, 3), plant.accepted(&c, 0));
    });
}

#[test]
fn crashed_validator_restarts_from_disk_and_catches_up() {
    runner(4).start(|ctx| async move {
        let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
        let mut plant = Plant::new();
        plant.onboard(&c).await;
        feed(&c, &mut plant, 3).await;
        c.wait_height(&[2], c.height(0), Duration::from_secs(60)).await;
        let before = c.height(2);
        c.crash(2);
        c.histories[2].lock().unwrap().clear();
        feed(&c, &mut plant, 4).await;
        let target = c.height(0) + 3;
        c.wait_height(&[0, 1, 3], target, Duration::from_secs(60)).await;
        c.start(2).await;
        // The restarted node starts from the state its store committed (re-executing at most the
        // blocks of one group commit from marshal's archive), then backfills what it missed from
        // its peers.
        while !c.app(2).is_ready() {
            c.ctx.sleep(Duration::from_millis(10)).await;
        }
        let replayed = c.app(2).replayed_blocks();
        assert!(replayed <= MAX_UNCOMMITTED_BLOCKS as u64, "replayed {replayed} blocks: more than one group commit");
        assert!(c.app(2).finalized_state().height >= before, "the store holds the state of the last block processed");
        c.wait_height(&[2], target, Duration::from_secs(120)).await;
        assert!(c.histories[2].lock().unwrap().keys().next().copied().unwrap_or(0) <= before + 1);
        c.assert_agreement(&[0, 1, 2, 3]);
        c.wait_state(2, "same readings as the others", Duration::from_secs(60), |s| s.height >= target).await;
        assert_eq!(c.app(2).finalized_state().root(), {
            let s = c.app(0).finalized_state();
            assert!(s.height >= target);
            c.histories[2].lock().unwrap()[&s.height].1
        });
    });
}

#[test]
fn byzantine_proposer_with_wrong_state_root_is_refused() {
    runner(5).start(|ctx| async move {
        let c = Cluster::new(ctx.child("cluster"), 4, vec![Behaviour::CorruptStateRoot]).await;
        let mut plant = Plant::new();
        plant.onboard(&c).await;
        feed(&c, &mut plant, 4).await;
        let target = c.height(1) + 4;
        c.wait_height(&[1, 2, 3], target, Duration::from_secs(120)).await;
        c.assert_agreement(&[1, 2, 3]);
        // Every finalized block executes to the root its header claims (honest validators re-execute),
        // so none of the Byzantine validator's corrupted proposals was finalized.
        let s = c.app(1).finalized_state();
        assert_eq!(c.histories[1].lock().unwrap()[&s.height].1, s.root());
        // And the honest validators did see, and refuse, the corrupted proposals.
        let refused: u64 = [1, 2, 3].iter().map(|i| c.app(*i).refused_blocks()).sum();
        assert!(refused > 0, "the Byzantine validator's proposals were never checked");
        assert_eq!(c.app(0).refused_blocks(), 0);
    });
}

#[test]
fn gossiped_transaction_survives_its_entry_node_crashing() {
    runner(6).start(|ctx| async move {
        let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
        let mut plant = Plant::new();
        plant.onboard(&c).await;
        // Admitted at validator 1 only, which gossips it; then validator 1 crashes before it leads.
        let t = c.ctx.current().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let tx = plant.batch(&c.devnet, t);
        c.submit_to(1, &tx).expect("admitted at its entry node");
        c.ctx.sleep(Duration::from_millis(100)).await;
        for i in [0, 2, 3] {
            assert!(
                c.mempools[i].lock().unwrap().contains(&trustmeter_crypto::tx_hash(HashAlg::Sha256, &tx)),
                "validator {i} did not receive the gossip"
            );
        }
        c.crash(1);
        c.wait_state(0, "the gossiped batch finalized without its entry node", Duration::from_secs(60), |s| {
            plant.meters.iter().all(|(id, _)| s.progress(id).map(|p| p.accepted == 1).unwrap_or(false))
        })
        .await;
        c.assert_agreement(&[0, 2, 3]);
    });
}

/// A validator whose disk is lost (consensus archive and state store) rejoins by state sync: it
/// restores a peer's state at a certified height (checked against the certificate and the state
/// root), executes none of the blocks before it, reaches the same state roots as the others at
/// every later height, and votes again once it has observed the views under way
/// (`trustmeter_chain::rejoin`) — then, with another validator down, the chain finalizes only if it
/// votes. The two peers it asks first lie when serving state sync (one entry altered per
/// page): it refuses both and syncs from the third. Three seeds.
#[test]
fn a_wiped_validator_rejoins_by_state_sync_and_keeps_voting() {
    for seed in [31, 32, 33] {
        runner(seed).start(|ctx| async move {
            let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
            let mut plant = Plant::new();
            plant.onboard(&c).await;
            feed(&c, &mut plant, 6).await;
            // Peers are asked in key order: the first two lie (restarted on their own disks).
            let mut order: Vec<usize> = (0..3).collect();
            order.sort_by(|a, b| c.keys[*a].cmp(&c.keys[*b]));
            for &liar in &order[..2] {
                c.behaviours[liar] = Behaviour::LyingStateSync;
                c.crash(liar);
                c.start(liar).await;
            }
            feed(&c, &mut plant, 2).await;
            let before = c.app(0).finalized_height();
            assert!(before > 5, "seed {seed}: only {before} blocks");
            c.rejoin_by_state_sync(3).await;
            let (synced, refused) = c.app(3).state_synced_at().expect("validator 3 synced its state");
            assert_eq!(refused, 2, "seed {seed}: the two lying peers were not both refused");
            eprintln!("seed {seed}: synced at {synced} (chain at {before}) after refusing {refused} lying peers");
            // Peers serve their committed state, which trails their finalized one by at most one
            // group commit.
            assert!(
                synced + MAX_UNCOMMITTED_BLOCKS as u64 >= before,
                "seed {seed}: synced at {synced}, the chain was at {before}"
            );
            assert_eq!(c.app(3).replayed_blocks(), 0);
            assert_eq!(c.app(3).finalized_height(), synced);
            // It follows the chain from there, with the same roots.
            feed(&c, &mut plant, 3).await;
            let target = c.app(0).finalized_height();
            c.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(60)).await;
            c.assert_agreement(&[0, 1, 2, 3]);
            // Validator 3's live state has the root validator 0 finalized at the same height
            // (validator 0 may be a block further by now, so compare by height).
            let h3 = c.app(3).finalized_height();
            let root0 = c.histories[0].lock().unwrap().get(&h3).map(|(_, root)| *root);
            assert_eq!(Some(c.app(3).finalized_state().root()), root0, "seed {seed}: roots at height {h3}");
            // The blocks between the sync height and the tip reached validator 3 through parent
            // links, without certificates; it fetched them, so it can prove those blocks' readings.
            let (c0, c3) = (c.certified[0].lock().unwrap().clone(), c.certified[3].lock().unwrap().clone());
            let missing: Vec<u64> = c0.range(synced + 1..=target).filter(|h| !c3.contains(h)).copied().collect();
            assert!(missing.is_empty(), "seed {seed}: validator 3 has no certificate of blocks {missing:?}");
            eprintln!("seed {seed}: {} blocks certified after the sync height", c3.range(synced + 1..).count());
            // It synced inside the epoch under way, so it first observes and votes again only
            // from a finalization past the views it may have voted in before its disk was lost
            // (`trustmeter_chain::rejoin`): wait for that (the chain keeps making blocks).
            let provider = c.validators[3].as_ref().unwrap().epochs.clone();
            let mut waited = 0;
            while provider.rejoined().is_none() && waited < 300 {
                ctx.sleep(Duration::from_millis(100)).await;
                waited += 1;
            }
            let (_, view) = provider.rejoined().unwrap_or_else(|| panic!("seed {seed}: validator 3 never voted again"));
            eprintln!("seed {seed}: validator 3 votes again from view {view}, after {} ms", waited * 100);
            // Without the honest peer it synced from, finalizing needs validator 3's votes.
            let (down, rest) = (order[2], [order[0], order[1], 3]);
            c.crash(down);
            let accepted = plant.accepted(&c, rest[0]);
            feed(&c, &mut plant, 3).await;
            c.wait_state(rest[0], "readings finalized with a validator down", Duration::from_secs(120), |s| {
                plant.meters.iter().map(|(id, _)| s.progress(id).map(|p| p.accepted).unwrap_or(0)).sum::<u64>()
                    > accepted
            })
            .await;
            let h = c.app(rest[0]).finalized_height();
            c.wait_height(&rest, h, Duration::from_secs(60)).await;
            c.assert_agreement(&rest);
        });
    }
}

/// A validator behind its peers holds the gossiped transactions their origin admitted at a height
/// it has not finalized yet, and checks them once it has: validator 3 is cut off while the
/// gateway's registration finalizes, then linked again and sent (by gossip from validator 0) the
/// meters' registrations that depend on it while it is still catching up. Every registration
/// must be accepted (none overtaken by a later nonce and left stale), validator 3 must have held
/// and then released what it received early, and nothing may be dropped. (Whether a refused
/// transaction would actually be overtaken depends on who leads next; the held count is what
/// fails without the hold.) Three seeds.
#[test]
fn a_lagging_validator_holds_dependent_gossip_until_it_catches_up() {
    for seed in [21, 22, 23] {
        runner(seed).start(|ctx| async move {
            let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
            let plant = Plant::new();
            c.isolate(3).await;
            c.submit_to(0, &plant.gateway_registration(&c.devnet)).expect("gateway registration admitted");
            c.wait_state(0, "gateway registered", Duration::from_secs(30), |s| s.gateway(&plant.gateway_id).is_some())
                .await;
            c.ctx.sleep(Duration::from_secs(2)).await;
            let behind = c.app(3).finalized_height();
            assert!(behind < c.app(0).finalized_height(), "validator 3 is not behind");
            c.link_all().await;
            let mut hashes = vec![];
            for i in 0..plant.meters.len() {
                hashes.push(c.submit_to(0, &plant.meter_registration(&c.devnet, i)).expect("admitted at validator 0"));
                c.ctx.sleep(Duration::from_millis(30)).await;
            }
            c.wait_all("every meter registered", Duration::from_secs(60), |s| {
                plant.meters.iter().all(|(id, _)| s.meter(id).is_some())
            })
            .await;
            let m = c.app(3).metrics();
            let (held, released, dropped) = (
                m.gossip_held_total(HeldOutcome::Held),
                m.gossip_held_total(HeldOutcome::Released),
                m.gossip_held_total(HeldOutcome::Dropped),
            );
            assert!(held > 0, "seed {seed}: validator 3 (at height {behind}) held nothing");
            // Every held transaction is released once the validator catches up. A frame that
            // overtakes its sender's previous one on the simulated links (they reorder) is dropped
            // on arrival when the validator is already caught up ("predecessor never reached this
            // node"); the other validators still include it, as `wait_all` above showed.
            assert_eq!(released, held, "seed {seed}: held {held}, dropped {dropped}");
            c.assert_agreement(&[0, 1, 2, 3]);
        });
    }
}

/// Gossip is unreliable: the p2p layer drops messages under backpressure (a burst of a thousand
/// registrations from one sender lost some in `bench cluster`), here every link loses a quarter of
/// all messages. A burst of registrations from one enterprise through validator 0 must all be
/// accepted: a validator that missed one of them must not include the sender's later ones first
/// when it leads, which would make the missed one stale at its origin for ever. Three seeds.
#[test]
fn a_burst_from_one_sender_survives_lossy_gossip() {
    const METERS: usize = 24;
    for seed in [41, 42, 43] {
        runner(seed).start(|ctx| async move {
            let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
            let mut plant = Plant::new();
            plant.meters = (0..METERS)
                .map(|i| (trustmeter_types::DeviceId::new(format!("91430100700001000N-EM{i:02}")).unwrap(), None))
                .collect();
            let enterprise = c.devnet.enterprises[0].key.public_key();
            c.submit_to(0, &plant.gateway_registration(&c.devnet)).expect("gateway registration admitted");
            c.wait_all("gateway registered", Duration::from_secs(60), |s| s.gateway(&plant.gateway_id).is_some()).await;
            c.link.success_rate = commonware_utils::probability!(0.75);
            c.link_all().await;
            for i in 0..METERS {
                c.submit_to(0, &plant.meter_registration(&c.devnet, i)).expect("admitted at validator 0");
            }
            let last = 1 + METERS as u64;
            c.wait_state(0, "the sender's last nonce finalized", Duration::from_secs(300), |s| {
                s.nonce(&enterprise) >= last
            })
            .await;
            let s = c.app(0).finalized_state();
            let lost: Vec<_> =
                plant.meters.iter().filter(|(id, _)| s.meter(id).is_none()).map(|(id, _)| id.to_string()).collect();
            let dropped: u64 = (0..4).map(|i| c.app(i).metrics().gossip_held_total(HeldOutcome::Dropped)).sum();
            eprintln!(
                "seed {seed}: {METERS} registrations, {} lost, {dropped} gossip copies dropped behind a missing one",
                lost.len()
            );
            assert!(lost.is_empty(), "seed {seed}: registrations made stale by later ones: {lost:?}");
        });
    }
}

/// An audit policy upgrade deployed by the regulator takes effect at its effective height on every
/// validator: a reading the old policy admits before that height, the same kind of reading is
/// refused by the new rule after it, and all four validators agree on every state root. Replays
/// from its seed.
#[test]
fn a_policy_upgrade_takes_effect_at_its_height_on_every_validator() {
    let run = |seed| {
        runner(seed).start(|ctx| async move {
            let c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
            let mut plant = Plant::new();
            plant.onboard(&c).await;
            feed(&c, &mut plant, 2).await; // registers reach 4 kWh
            let all = [0, 1, 2, 3];
            c.wait_all("first batches", Duration::from_secs(60), |s| {
                plant.meters.iter().all(|(id, _)| s.progress(id).is_some_and(|p| p.accepted == 2))
            })
            .await;
            // Version 2: readings above 5 kWh are refused, from `effective` on.
            let text = trustmeter_policy::DEFAULT_AUDIT_TOML.replacen("version = 1", "version = 2", 1)
                + "\n[[rules]]\nid = \"cap\"\ncode = \"above_cap\"\naction = \"reject\"\ncheck = \"reading.value <= 5.0\"\nreason = \"value {reading.value} above 5\"\ndescription = \"test cap\"\n";
            let effective = c.height(0) + 25;
            let dn = &c.devnet;
            let deploy = trustmeter_crypto::sign_tx(
                &dn.regulator.key,
                trustmeter_types::TxBody {
                    chain_id: dn.genesis.chain_id.clone(),
                    sender: dn.regulator.key.public_key(),
                    nonce: 100,
                    payload: trustmeter_types::TxPayload::DeployPolicy { text, effective_height: effective },
                },
            );
            if let Err(e) = c.submit_to(0, &deploy) {
                panic!("deployment not admitted: {e}");
            }
            c.wait_all("policy deployed", Duration::from_secs(60), |s| s.latest_policy_version() == 2).await;
            // Before the effective height: 5.5 kWh is recorded under version 1.
            feed_at(&c, &mut plant, 3).await;
            c.wait_all("third batch", Duration::from_secs(60), |s| {
                plant.meters.iter().all(|(id, _)| s.progress(id).is_some_and(|p| p.accepted == 3))
            })
            .await;
            assert!(c.height(0) < effective, "the third batch must land before the upgrade");
            c.wait_height(&all, effective + 1, Duration::from_secs(60)).await;
            // From the effective height: 7 kWh breaks the new rule everywhere.
            feed_at(&c, &mut plant, 4).await;
            let target = c.height(0) + 10;
            c.wait_height(&all, target, Duration::from_secs(60)).await;
            for i in all {
                let s = c.app(i).finalized_state();
                assert_eq!(s.policy_at(s.height).0.version, 2, "validator {i}");
                assert_eq!(plant.accepted(&c, i), 12, "validator {i}: the fourth batch is refused");
            }
            c.assert_agreement(&all);
            let s = c.app(0).finalized_state();
            (s.height, s.root().to_hex(), ctx.auditor().state())
        })
    };
    let first = run(21);
    assert_eq!(first, run(21), "same seed, same run");
}

/// Submits batch number `b` (1-based) of the plant at its reading time.
async fn feed_at(c: &Cluster, plant: &mut Plant, b: usize) {
    let t = GENESIS_MS + b as i64 * 900_000;
    let now = c.ctx.current().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let tx = plant.batch(&c.devnet, t.min(now));
    c.submit(&tx);
    c.ctx.sleep(Duration::from_millis(200)).await;
}

/// A validator restarted after a long history starts from its committed state: it replays none
/// of the blocks, its state root is the others' at the same height, and it goes on voting. With
/// its state store lost (consensus archive kept), it re-executes every block from genesis, as a
/// check, and reaches the same roots.
#[test]
fn restart_after_many_blocks_replays_nothing_and_replay_from_genesis_agrees() {
    runner(11).start(|ctx| async move {
        let mut c = Cluster::new(ctx.child("cluster"), 4, vec![]).await;
        let mut plant = Plant::new();
        plant.onboard(&c).await;
        for b in 1..=30 {
            feed_at(&c, &mut plant, b).await;
        }
        let long = c.height(0);
        assert!(long >= 30, "a long history: {long} blocks");
        c.wait_height(&[1], long, Duration::from_secs(60)).await;

        // Restart: at most one group commit's blocks replayed, same state, still voting.
        c.crash(1);
        c.start(1).await;
        while !c.app(1).is_ready() {
            c.ctx.sleep(Duration::from_millis(10)).await;
        }
        let replayed = c.app(1).replayed_blocks();
        assert!(
            replayed <= MAX_UNCOMMITTED_BLOCKS as u64,
            "restart after {long} blocks replayed {replayed}: more than one group commit"
        );
        let s1 = c.app(1).finalized_state();
        assert!(s1.height >= long);
        assert_eq!(c.histories[0].lock().unwrap()[&s1.height].1, s1.root(), "same root as validator 0");
        // Validators 1 and 2 down: no quorum without the restarted node (3 of 4 needed).
        c.crash(2);
        let before = c.height(0);
        feed_at(&c, &mut plant, 31).await;
        c.wait_height(&[0, 1, 3], before + 2, Duration::from_secs(120)).await;
        c.start(2).await;
        c.wait_height(&[2], before + 2, Duration::from_secs(120)).await;

        // State store lost: every block re-executed from genesis, same roots.
        c.crash(3);
        c.wipe_state(3);
        c.start(3).await;
        // The replay runs before the app proposes or verifies anything.
        while !c.app(3).is_ready() {
            c.ctx.sleep(Duration::from_millis(10)).await;
        }
        let processed = c.app(3).finalized_state().height;
        assert!(processed >= long, "replayed up to the archive's last processed block ({processed})");
        // Every block of its archive re-executed (blocks finalized after the replay are applied as
        // usual and not counted).
        let replayed = c.app(3).replayed_blocks();
        assert!(long <= replayed && replayed <= processed, "replayed {replayed} of {processed} blocks");
        assert_eq!(c.histories[0].lock().unwrap()[&processed].1, c.app(3).finalized_state().root());
        let target = c.height(0) + 2;
        feed_at(&c, &mut plant, 32).await;
        c.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(120)).await;
        c.assert_agreement(&[0, 1, 2, 3]);
        let (commits, resealed) = trustmeter_state::state::commit_counts();
        println!("state commits: {commits}, of which re-sealed on the store: {resealed}");
    });
}
