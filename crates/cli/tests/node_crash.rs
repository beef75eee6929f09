//! Crash test of validators with real processes: four `trustmeter node run` processes finalize
//! the readings a `trustmeter gateway run` process sends (a block every ~200 ms, each executed
//! and indexed as it is finalized, and committed to the state store in groups of at most
//! `MAX_UNCOMMITTED_BLOCKS`), and one validator at a time is killed with SIGKILL at a random
//! moment, ten times, and restarted on its data.
//!
//! After each restart: the node serves its API again; it re-executed at most one group commit's
//! blocks at start-up (`replayed_blocks` ≤ `MAX_UNCOMMITTED_BLOCKS`: the blocks marshal had
//! processed above its state store's height, so its start-up does not depend on the chain's
//! length); it catches up and goes on
//! finalizing; and at the common finalized height every validator reports the same block digest
//! and state root, and the restarted node's proof of a reading recorded before the kill verifies
//! offline against the genesis. At the end every validator holds the same readings of every
//! meter as the gateway's store: nothing lost, nothing diverged.
//!
//! The schedule is drawn from a seeded RNG; the seed is printed, and `NODE_CRASH_SEED=<seed>`
//! replays the same schedule (where a kill lands inside a block still depends on the machine).
//! Logs stay in the test's directory, kept when the test fails or `NODE_CRASH_KEEP` is set.

use crate::support::*;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use std::time::{Duration, Instant};
use trustmeter_chain::app::MAX_UNCOMMITTED_BLOCKS;
use trustmeter_client::ProofBundle;
use trustmeter_gateway::store::{MAX_QUERY_ROWS, Store};
use trustmeter_keystore::KeyFile;
use trustmeter_types::Genesis;

/// Simulated meters the gateway reads.
const METERS: usize = 10;
/// Simulated time runs this many times faster than real time.
const SPEED: u32 = 10;
/// Validator kills.
const KILLS: usize = 10;
/// The gateway's process name.
const GATEWAY: &str = "gateway";

/// Validator `i`'s `/v1/status`, if its API answers.
async fn status(http: &reqwest::Client, chain: &Consortium, i: usize) -> Option<serde_json::Value> {
    http.get(format!("{}/v1/status", chain.urls[i])).send().await.ok()?.json().await.ok()
}

/// `(digest, state root)` of the block at `height` on validator `i`.
async fn block_at(
    http: &reqwest::Client,
    chain: &Consortium,
    i: usize,
    height: u64,
) -> Result<(String, String), String> {
    let url = format!("{}/v1/blocks/{height}", chain.urls[i]);
    let v: serde_json::Value =
        http.get(&url).send().await.map_err(|e| format!("GET {url}: {e}"))?.json().await.map_err(|e| e.to_string())?;
    match (v["digest"].as_str(), v["header"]["state_root"].as_str()) {
        (Some(d), Some(r)) => Ok((d.to_string(), r.to_string())),
        _ => Err(format!("GET {url}: {v}")),
    }
}

/// The lowest finalized height among the validators (every one must answer).
async fn common_height(chain: &Consortium) -> u64 {
    let mut low = u64::MAX;
    for i in 0..chain.validators {
        low = low.min(chain.height(i).await.expect("every validator answers"));
    }
    low
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_killed_mid_block_restarts_without_replay_and_agrees_with_the_others() {
    init_logs("node_crash");
    let started = Instant::now();
    let seed: u64 = match std::env::var("NODE_CRASH_SEED") {
        Ok(s) => s.parse().expect("NODE_CRASH_SEED must be an unsigned integer"),
        Err(_) => rand::rng().random(),
    };
    println!("node_crash seed {seed} (replay with NODE_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let scratch = Scratch::new("NODE_CRASH_KEEP");
    let dir = scratch.path().to_path_buf();
    let mut procs = Processes::default();
    let http = reqwest::Client::builder()
        .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");

    let mut chain = Consortium::init(&dir.join("net"), "hunan-1", 4);
    for i in 0..chain.validators {
        chain.start(&mut procs, i);
    }
    chain.wait_finalizing(&mut procs, 0).await;
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(dir.join("net/genesis.json")).expect("genesis file"))
            .expect("genesis");

    // A gateway and its meters, onboarded through the API; it runs for the whole test.
    let setup = GatewaySetup::new(&chain, &dir, METERS, SPEED);
    let (gw, meters) = (setup.id.clone(), setup.meters.clone());
    let sim_origin_ms = now_ms() - 30 * DAY_MS;
    setup.write(sim_origin_ms, true);
    let init = std::process::Command::new(BIN).args(setup.args("init")).output().expect("run gateway init");
    assert!(init.status.success(), "gateway init failed: {}", String::from_utf8_lossy(&init.stderr));
    let gw_key = KeyFile::info(&setup.data_dir.join("gateway.key")).expect("gateway key file").public_key;
    let now = now_ms();
    chain.onboard(&gw, &gw_key, &meters, (now - 400 * DAY_MS, now + 365 * DAY_MS)).await;
    let gateway_log = dir.join("gateway.log");
    procs.spawn(GATEWAY, &setup.args("run"), &gateway_log, &[("RUST_LOG", "warn")]);

    let mut api_up = Vec::new();
    let mut most_replayed = 0;
    for k in 0..KILLS {
        let victim = rng.random_range(0..chain.validators);
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..2_500))).await;
        let before = chain.height(victim).await.expect("the victim answers before the kill");
        chain.kill(&mut procs, victim);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..800))).await;
        chain.restart(&mut procs, victim);
        let restarted = Instant::now();
        let st = loop {
            procs.assert_running(&Consortium::name(victim));
            if let Some(s) = status(&http, &chain, victim).await {
                if api_up.len() == k {
                    api_up.push(restarted.elapsed());
                }
                // Start-up re-execution done: the replay count is final.
                if s["ready"].as_bool() == Some(true) {
                    break s;
                }
            }
            assert!(restarted.elapsed() < PATIENCE, "kill {k}: validator {victim} is not ready after restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let replayed = st["replayed_blocks"].as_u64().expect("replayed_blocks");
        let h = st["finalized_height"].as_u64().expect("finalized_height");
        assert!(
            replayed <= MAX_UNCOMMITTED_BLOCKS as u64,
            "kill {k}: validator {victim} re-executed {replayed} blocks at start-up, more than one group commit"
        );
        most_replayed = most_replayed.max(replayed);
        // It comes back where marshal's archive says it had processed, which may be a block or two
        // below what its API had shown (the acknowledgement to marshal follows the block's
        // application); those blocks are delivered again right after.
        assert!(
            h + MAX_UNCOMMITTED_BLOCKS as u64 >= before,
            "kill {k}: validator {victim} came back at height {h}, far below {before} before the kill"
        );

        // It catches up and goes on finalizing with the others.
        let tip = common_height(&chain).await.max(h);
        chain.wait_finalizing(&mut procs, tip + 2).await;
        // Same block and state root everywhere at the common height, and at the height it was
        // killed at.
        let common = common_height(&chain).await;
        for height in [before, common] {
            let first = block_at(&http, &chain, 0, height).await.expect("block");
            for i in 1..chain.validators {
                let got = block_at(&http, &chain, i, height).await.expect("block");
                assert_eq!(got, first, "kill {k}: validator {i} disagrees with validator 0 at height {height}");
            }
        }
        // A reading recorded before the kill: the restarted node proves it, and the proof
        // verifies offline.
        let meter = &meters[k % METERS];
        let rows = chain.readings(victim, meter).await.expect("readings");
        if let Some(&(seq, _, _)) = rows.first() {
            let url = format!("{}/v1/meters/{meter}/readings/{seq}/proof", chain.urls[victim]);
            let text = http.get(&url).send().await.expect("proof").text().await.expect("proof body");
            let bundle = ProofBundle::from_json(&text).unwrap_or_else(|e| panic!("kill {k}: {url}: {e}: {text}"));
            trustmeter_client::verify(&bundle, Some(&genesis))
                .unwrap_or_else(|e| panic!("kill {k}: the proof from the restarted validator does not verify: {e}"));
        }
        tracing::info!(kill = k, victim, before, back_at = h, api_up = ?api_up[k], "validator restarted and agrees");
    }

    // Stop reading (the gateway restarted with its meters disconnected) and let it drain; then
    // every validator holds exactly the stored readings.
    let stopped = procs.terminate(GATEWAY, Duration::from_secs(15));
    assert!(stopped.success(), "the gateway should stop on SIGTERM: {stopped}");
    setup.write(sim_origin_ms + i64::from(SPEED) * (now_ms() - now), false);
    procs.spawn(GATEWAY, &setup.args("run"), &gateway_log, &[("RUST_LOG", "warn")]);
    let drain = Instant::now();
    loop {
        procs.assert_running(GATEWAY);
        if let Some(s) = gateway_status(&http, setup.port).await
            && let Some(d) = s.destinations.iter().find(|d| d.name == DESTINATION)
            && d.backlog == 0
            && d.in_flight == 0
        {
            break;
        }
        assert!(drain.elapsed() < PATIENCE, "the gateway's backlog did not drain:\n{}", tail(&gateway_log, 40));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = procs.terminate(GATEWAY, Duration::from_secs(15));
    assert!(status.success(), "the gateway should stop on SIGTERM: {status}");
    let store = Store::open(&setup.data_dir.join("gateway.redb")).expect("open the gateway store");
    let all = store.after(0, MAX_QUERY_ROWS).expect("read the store");
    let mut total = 0;
    for m in &meters {
        let want: Vec<Row> = all
            .iter()
            .map(|(_, s)| &s.signed.reading)
            .filter(|r| &r.meter == m)
            .map(|r| (r.seq, r.timestamp_ms, r.value.micros()))
            .collect();
        assert!(!want.is_empty(), "meter {m} produced readings");
        total += want.len();
        for i in 0..chain.validators {
            let patience = Instant::now();
            loop {
                let problem = match chain.readings(i, m).await {
                    Ok(rows) => mismatch(&want, &rows),
                    Err(e) => Some(e),
                };
                let Some(problem) = problem else { break };
                assert!(patience.elapsed() < PATIENCE, "validator {i}, meter {m}: {problem}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let max_up = api_up.iter().max().copied().unwrap_or_default();
    let summary = format!(
        "node_crash: seed {seed}; {KILLS} validator SIGKILLs, at most {most_replayed} blocks replayed at a restart, API back within \
         {:.2} s at most (median {:.2} s); {total} readings of {METERS} meters identical on {} validators; total {:.1} s",
        max_up.as_secs_f64(),
        {
            let mut v = api_up.clone();
            v.sort();
            v[v.len() / 2].as_secs_f64()
        },
        chain.validators,
        started.elapsed().as_secs_f64()
    );
    tracing::info!("{summary}");
    println!("{summary}");
}
