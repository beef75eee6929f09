//! Crash test of the gateway with real processes: the `trustmeter gateway run` process is killed
//! with SIGKILL at random moments, ten times, while the chain it sends to (four `trustmeter node
//! run` processes) loses one validator, then all four, and is restarted on the same data.
//! Afterwards every reading the meters produced is on chain exactly once: for every meter, each
//! validator's recorded readings equal the gateway store's (same sequence numbers, timestamps and
//! values, once each, in order), and the store's sequence numbers are gap-free from 1.
//!
//! The schedule is drawn from a seeded RNG; the seed is logged, and `GATEWAY_CRASH_SEED=<seed>`
//! replays the same schedule (the moments at which a kill lands inside the gateway still depend
//! on the machine). Logs of every process stay in the test's directory, which is kept when the
//! test fails or `GATEWAY_CRASH_KEEP` is set. Progress is logged at `info` (the default for this
//! test; see it with `--nocapture`).

use crate::support::*;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use trustmeter_gateway::store::{MAX_QUERY_ROWS, Store};
use trustmeter_keystore::KeyFile;

/// Simulated meters the gateway reads.
const METERS: usize = 20;
/// Simulated time runs this many times faster than real time (each meter is read once per
/// simulated second, so the gateway produces `METERS × SPEED` readings per real second).
const SPEED: u32 = 10;
/// The process name of the gateway.
const GATEWAY: &str = "gateway";

/// What happens to validators during a gateway run, at an offset from the gateway's start.
#[derive(Clone, Debug)]
enum NodeAction {
    /// SIGKILL these validators.
    Kill(Vec<usize>),
    /// Start these validators again on their data.
    Start(Vec<usize>),
}

/// One gateway run of the schedule.
#[derive(Clone, Debug)]
struct Run {
    /// SIGKILL the gateway this long after starting it.
    kill_after: Duration,
    /// An early kill may land before the gateway stored anything (during start-up or store
    /// recovery); every other run must store readings before it is killed.
    early: bool,
    /// Validator kills and restarts during the run.
    nodes: Vec<(Duration, NodeAction)>,
}

/// The schedule: eight runs of 0.5–4 s, two early kills (0–400 ms), one validator killed in the
/// third run and restarted in the fourth, then two killed in the sixth, the other two in the
/// seventh (the chain is down while the gateway keeps producing) and all four restarted.
fn schedule(rng: &mut StdRng) -> Vec<Run> {
    let ms = |rng: &mut StdRng, lo: u64, hi: u64| Duration::from_millis(rng.random_range(lo..=hi));
    let normal = |rng: &mut StdRng| Run { kill_after: ms(rng, 500, 4_000), early: false, nodes: vec![] };
    let early = |rng: &mut StdRng| Run { kill_after: ms(rng, 0, 400), early: true, nodes: vec![] };
    let mut order: Vec<usize> = (0..4).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let (one, two, rest) = (order[0], vec![order[1], order[2]], vec![order[0], order[3]]);
    let mut runs = vec![normal(rng), early(rng)];
    // Run 2: one validator dies mid-run (the chain goes on with three).
    let d = ms(rng, 1_500, 4_000);
    runs.push(Run { kill_after: d, early: false, nodes: vec![(d / 2, NodeAction::Kill(vec![one]))] });
    // Run 3: it comes back, replaying its disk and catching up.
    runs.push(Run { nodes: vec![(Duration::ZERO, NodeAction::Start(vec![one]))], ..normal(rng) });
    runs.push(early(rng));
    // Run 5: two validators die (no quorum: the chain stops).
    let d = ms(rng, 1_500, 4_000);
    runs.push(Run { kill_after: d, early: false, nodes: vec![(Duration::from_millis(500), NodeAction::Kill(two))] });
    // Run 6: the other two die too; the gateway keeps producing; all four restart.
    let down = Duration::from_millis(300);
    let up = down + Duration::from_millis(2_000);
    runs.push(Run {
        kill_after: up + ms(rng, 500, 4_000),
        early: false,
        nodes: vec![(down, NodeAction::Kill(rest)), (up, NodeAction::Start((0..4).collect()))],
    });
    runs.extend((0..3).map(|_| normal(rng)));
    runs
}

/// What the store says right after a kill.
struct AfterKill {
    /// The id the next reading gets.
    next_id: u64,
    /// Whether a transaction was in flight to the destination.
    in_flight: bool,
}

/// Opens the gateway store after the gateway process is gone and checks the destination's
/// cursor: the in-flight batch, if any, is the contiguous range right after the settled ones.
fn after_kill(store_path: &Path, run: usize) -> AfterKill {
    let store =
        Store::open(store_path).unwrap_or_else(|e| panic!("run {run}: the store must open after a SIGKILL: {e}"));
    let next_id = store.next_id().expect("read next id");
    let cursor = store.destination(DESTINATION).expect("read the destination cursor");
    assert!(
        cursor.settled_through < next_id,
        "run {run}: settled through {} of {} readings",
        cursor.settled_through,
        next_id - 1
    );
    if let Some(f) = &cursor.in_flight {
        assert!(
            f.first_id == cursor.settled_through + 1 && f.first_id <= f.last_id && f.last_id < next_id,
            "run {run}: in-flight ids {}..={} do not follow the settled ones (through {}, next id {next_id})",
            f.first_id,
            f.last_id,
            cursor.settled_through
        );
    }
    AfterKill { next_id, in_flight: cursor.in_flight.is_some() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_at_random_moments_while_the_chain_restarts_puts_every_reading_on_chain_once() {
    init_logs("gateway_crash");
    let started = Instant::now();
    let seed: u64 = match std::env::var("GATEWAY_CRASH_SEED") {
        Ok(s) => s.parse().expect("GATEWAY_CRASH_SEED must be an unsigned integer"),
        Err(_) => rand::rng().random(),
    };
    tracing::info!(seed, "crash schedule seed (replay with GATEWAY_CRASH_SEED={seed})");
    println!("gateway_crash seed {seed} (replay with GATEWAY_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let plan = schedule(&mut rng);

    // Declared before the processes, so they are killed before the directory goes.
    let scratch = Scratch::new("GATEWAY_CRASH_KEEP");
    let dir = scratch.path().to_path_buf();
    let mut procs = Processes::default();
    let http = reqwest::Client::builder()
        .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");

    // A four-validator chain from `node init`, as four processes.
    let mut chain = Consortium::init(&dir.join("net"), "hunan-1", 4);
    for i in 0..chain.validators {
        chain.start(&mut procs, i);
    }
    chain.wait_finalizing(&mut procs, 0).await;
    tracing::info!(urls = ?chain.urls, elapsed = ?started.elapsed(), "chain running");

    // The gateway's key, made by `gateway init` on "the device".
    let setup = GatewaySetup::new(&chain, &dir, METERS, SPEED);
    let (gw, meters) = (setup.id.clone(), setup.meters.clone());
    let (data_dir, port) = (setup.data_dir.clone(), setup.port);
    let store_path = data_dir.join("gateway.redb");
    let sim_origin_ms = now_ms() - 30 * DAY_MS;
    setup.write(sim_origin_ms, true);
    let init = std::process::Command::new(BIN).args(setup.args("init")).output().expect("run trustmeter gateway init");
    let init_out = String::from_utf8_lossy(&init.stdout).to_string();
    assert!(init.status.success(), "gateway init failed: {init_out}{}", String::from_utf8_lossy(&init.stderr));
    let gw_key = KeyFile::info(&data_dir.join("gateway.key")).expect("gateway key file").public_key;
    assert!(
        init_out.contains(&gw_key.to_text()),
        "gateway init should print the public key {} it wrote; it printed: {init_out}",
        gw_key.to_text()
    );

    // Onboarding through the API: calibrations cover the simulated month and the test.
    let now = now_ms();
    chain.onboard(&gw, &gw_key, &meters, (now - 400 * DAY_MS, now + 365 * DAY_MS)).await;
    tracing::info!(meters = METERS, elapsed = ?started.elapsed(), "gateway and meters onboarded");

    // Simulated time follows one line across runs: a restarted gateway resumes where the killed
    // one would have been, so its meters' readings always move forward in time.
    let line_origin = Instant::now();
    let sim_now = || sim_origin_ms + i64::from(SPEED) * line_origin.elapsed().as_millis() as i64;

    let mut next_id = 1u64;
    let mut gateway_kills = 0usize;
    let mut kills_in_flight = 0usize;
    let mut produced_per_run = Vec::new();
    let mut next_id_after_full_restart = None;
    let mut height_before_outage = 0u64;
    for (k, run) in plan.iter().enumerate() {
        setup.write(sim_now(), true);
        let log = dir.join(format!("gateway-{k}.log"));
        procs.spawn(GATEWAY, &setup.args("run"), &log, &[("RUST_LOG", "warn,trustmeter_gateway=debug")]);
        let spawned = Instant::now();
        for (at, action) in &run.nodes {
            sleep_until(spawned + *at).await;
            match action {
                NodeAction::Kill(vs) => {
                    height_before_outage = height_before_outage.max(max_height(&chain).await);
                    for &v in vs {
                        chain.kill(&mut procs, v);
                    }
                    tracing::info!(run = k, validators = ?vs, "validators killed (SIGKILL)");
                }
                NodeAction::Start(vs) => {
                    for &v in vs {
                        chain.restart(&mut procs, v);
                    }
                    tracing::info!(run = k, validators = ?vs, "validators restarted on their data");
                }
            }
        }
        sleep_until(spawned + run.kill_after).await;
        // A normal run is killed once it has stored readings of its own (normally long before
        // the drawn moment); what its API reported stored must survive the kill.
        let mut reported = None;
        if !run.early {
            loop {
                procs.assert_running(GATEWAY);
                if let Some(s) = gateway_status(&http, port).await
                    && s.next_id > next_id
                {
                    reported = Some(s.next_id);
                    break;
                }
                assert!(
                    spawned.elapsed() < PATIENCE,
                    "gateway run {k} stored no reading within {PATIENCE:?}; its log ends with:\n{}",
                    tail(&log, 40)
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        procs.kill(GATEWAY);
        gateway_kills += 1;
        let alive = spawned.elapsed();
        let AfterKill { next_id: after, in_flight } = after_kill(&store_path, k);
        kills_in_flight += usize::from(in_flight);
        if let Some(r) = reported {
            assert!(
                after >= r,
                "run {k}: the gateway reported next id {r} before SIGKILL, the store has {after}: stored readings were lost"
            );
        }
        assert!(after >= next_id, "run {k}: the store's next id went back from {next_id} to {after}");
        produced_per_run.push(after - next_id);
        tracing::info!(run = k, early = run.early, alive = ?alive, produced = after - next_id, in_flight, "gateway killed (SIGKILL)");
        next_id = after;
        if run.nodes.iter().any(|(_, a)| matches!(a, NodeAction::Start(v) if v.len() == chain.validators)) {
            next_id_after_full_restart = Some(next_id);
        }
    }

    // Every validator is up and the chain finalizes past where it stopped.
    for i in 0..chain.validators {
        procs.assert_running(&Consortium::name(i));
    }
    chain.wait_finalizing(&mut procs, height_before_outage).await;

    // The last run reads no points (the meters are disconnected), so the store comes to rest:
    // wait until everything is settled, then stop it politely.
    setup.write(sim_now(), false);
    let log = dir.join("gateway-final.log");
    procs.spawn(GATEWAY, &setup.args("run"), &log, &[("RUST_LOG", "warn,trustmeter_gateway=debug")]);
    let drain = Instant::now();
    let settled = loop {
        procs.assert_running(GATEWAY);
        if let Some(s) = gateway_status(&http, port).await
            && let Some(d) = s.destinations.iter().find(|d| d.name == DESTINATION)
            && d.backlog == 0
            && d.in_flight == 0
        {
            break s;
        }
        assert!(
            drain.elapsed() < PATIENCE,
            "the backlog did not drain within {PATIENCE:?}; the gateway's log ends with:\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let status = procs.terminate(GATEWAY, Duration::from_secs(15));
    assert!(status.success(), "the gateway should exit cleanly on SIGTERM, not {status}; log:\n{}", tail(&log, 40));
    tracing::info!(drained_in = ?drain.elapsed(), "backlog drained; gateway stopped with SIGTERM");

    // The store: ids gap-free, each meter's sequence numbers gap-free from 1, time forward.
    let store = Store::open(&store_path).expect("open the gateway store");
    let total = store.next_id().expect("next id") - 1;
    assert_eq!(total, next_id - 1, "the draining run must not produce readings");
    assert_eq!(settled.next_id - 1, total, "the settled status and the store disagree");
    let all = store.after(0, MAX_QUERY_ROWS).expect("read the store");
    assert_eq!(all.len() as u64, total, "the store must hold every reading it produced (nothing pruned)");
    for (expected, (id, _)) in (1..).zip(&all) {
        assert_eq!(*id, expected, "reading ids must be gap-free");
    }
    let mut stored: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for (_, s) in &all {
        let r = &s.signed.reading;
        stored.entry(r.meter.to_string()).or_default().push((r.seq, r.timestamp_ms, r.value.micros()));
    }
    for m in &meters {
        let rows = stored.get(m.as_str()).unwrap_or_else(|| panic!("meter {m} produced no reading"));
        for (expected, row) in (1..).zip(rows) {
            assert_eq!(row.0, expected, "meter {m}: sequence numbers must be gap-free from 1; {row:?}");
        }
        for w in rows.windows(2) {
            assert!(w[0].1 < w[1].1, "meter {m}: timestamps must move forward: {:?} then {:?}", w[0], w[1]);
        }
    }
    assert_eq!(stored.len(), METERS, "only configured meters have readings: {:?}", stored.keys());

    // The destination settled everything exactly once, with nothing rejected.
    let cursor = store.destination(DESTINATION).expect("destination cursor");
    let rejected = store.rejected(DESTINATION, 10).expect("rejections");
    assert!(
        rejected.is_empty() && cursor.rejected == 0,
        "{} readings were rejected, e.g. {:?}",
        cursor.rejected,
        rejected.iter().map(|(id, r)| format!("#{id}: {r}")).collect::<Vec<_>>()
    );
    assert_eq!(cursor.settled_through, total, "every reading must be settled");
    assert!(cursor.in_flight.is_none(), "nothing may remain in flight: {:?}", cursor.in_flight);
    assert_eq!(cursor.acknowledged, total, "every reading must be acknowledged exactly once");
    drop(store);

    // Every validator recorded exactly the stored readings.
    let patience = Instant::now();
    for i in 0..chain.validators {
        for m in &meters {
            let want = &stored[m.as_str()];
            loop {
                let got = chain.readings(i, m).await;
                let problem = match &got {
                    Ok(rows) => mismatch(want, rows),
                    Err(e) => Some(e.clone()),
                };
                let Some(problem) = problem else { break };
                assert!(
                    patience.elapsed() < PATIENCE,
                    "validator {i}, meter {m}: the chain does not hold exactly the stored readings: {problem}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    // Not vacuous: every normal run stored readings, and so did the runs after the chain's
    // complete restart, and those readings are on chain too (compared above).
    for (k, (run, n)) in plan.iter().zip(&produced_per_run).enumerate() {
        assert!(run.early || *n > 0, "run {k} produced nothing");
    }
    let after_restart = total + 1 - next_id_after_full_restart.expect("the schedule restarts the whole chain");
    assert!(after_restart > 0, "the runs after the chain's restart produced nothing");
    let summary = format!(
        "gateway_crash: seed {seed}; {total} readings of {METERS} meters compared on {} validators ({} row comparisons); \
         gateway SIGKILLed {gateway_kills} times ({kills_in_flight} with a transaction in flight; readings per run \
         {produced_per_run:?}), stopped once with SIGTERM; \
         validators killed {} times and restarted {} times; {} readings after the full chain restart; total {:.1} s",
        chain.validators,
        total as usize * chain.validators,
        chain.kills,
        chain.restarts,
        after_restart,
        started.elapsed().as_secs_f64()
    );
    tracing::info!("{summary}");
    println!("{summary}");
}

/// The highest finalized height any validator reports (0 if none answers).
async fn max_height(chain: &Consortium) -> u64 {
    let mut best = 0;
    for i in 0..chain.validators {
        best = best.max(chain.height(i).await.unwrap_or(0));
    }
    best
}
