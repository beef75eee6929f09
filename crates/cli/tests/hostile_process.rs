//! Issue 11's attack against real processes: four `trustmeter node run` validators with their
//! default `[api]` settings, and this test process as the attacker, holding thousands of
//! half-sent requests (a request head announcing a 100 MB body, never finished) open to one
//! validator's API. Before the API's budgets that attack exhausted the validator's file
//! descriptors and its consensus journal panicked (`Too many open files`); the process exited.
//!
//! Checked on the attacked process itself (`/proc/<pid>/fd`): it stays up, holds at most
//! `max_connections` (1 024) API connections and no more descriptors than its budget allows,
//! refuses the rest at once (the attack comes from 8 addresses, so both the per-address budget,
//! 256, and the total one are reached), cuts the silent connections off after the header timeout
//! (10 s), and the chain keeps finalizing — with every validator, the attacked one included,
//! advancing during the attack, and the chain's rate while the attack is opened compared with its
//! rate before.
//!
//! The attack held 21 000 connections; one process on this machine may open 20 000 files
//! (`ulimit -Hn`), and the other tests of this binary share this process, so the attacker holds
//! its limit less 4 000 (16 000 here; at least 10 000; the count is printed).

use crate::support::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The attack of issue 11.
const WANTED: usize = 21_000;
/// Descriptors this process keeps besides the attack's: the other tests of this binary run in it
/// at the same time.
const OWN_FDS: u64 = 4_000;
/// The validators' default budget (`[api] max_connections`).
const MAX_CONNECTIONS: usize = 1_024;
/// The default header timeout (`[api] header_read_timeout_ms`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Open descriptors of process `pid`.
fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// The value of the metric line `name value` in a Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// Source addresses of the attack (127.0.0.2 …): more than `max_connections` / 256 of them, so
/// the total budget is reached, not only the per-address one.
const SOURCES: u8 = 8;
/// How long the chain's rate is measured before the attack.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Opens `n` connections to `addr` from [`SOURCES`] addresses, each sending half a request head.
async fn half_open(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let per = n / usize::from(SOURCES);
    let all = futures::future::join_all((0..SOURCES).map(|i| {
        trustmeter_httpserve::half_sent_requests(addr, std::net::Ipv4Addr::new(127, 0, 0, 2 + i).into(), per)
    }))
    .await;
    all.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_process_keeps_voting_through_thousands_of_half_sent_requests() {
    init_logs("hostile_process");
    let limit = trustmeter_httpserve::fd_budget(0, OWN_FDS).expect("the open-file limit");
    let attack = WANTED.min(usize::try_from(limit - OWN_FDS).unwrap_or(WANTED));
    assert!(attack >= 10_000, "this process may open only {limit} files: too few for the attack");
    let scratch = Scratch::new("HOSTILE_PROCESS_KEEP");
    let mut chain = Consortium::init(scratch.path(), "hunan-hostile-2", 4);
    let mut procs = Processes::default();
    for i in 0..4 {
        chain.start(&mut procs, i);
    }
    chain.wait_finalizing(&mut procs, 2).await;
    let victim = Consortium::name(0);
    let pid = procs.pid(&victim);
    let http = reqwest::Client::builder()
        .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let metrics = |http: reqwest::Client, url: String| async move {
        http.get(format!("{url}/metrics")).send().await.ok()?.text().await.ok()
    };
    let fds_before = fds_of(pid);
    let heights_before: Vec<u64> = {
        let mut h = Vec::new();
        for i in 0..4 {
            h.push(chain.height(i).await.expect("a status"));
        }
        h
    };
    let addr: SocketAddr = chain.urls[0].trim_start_matches("http://").parse().expect("an address");
    // The chain's rate before the attack (validator 1, blocks per second).
    let (r0, h0) = (Instant::now(), chain.height(1).await.expect("a status"));
    tokio::time::sleep(RATE_WINDOW).await;
    let rate_before = (chain.height(1).await.expect("a status") - h0) as f64 / r0.elapsed().as_secs_f64();

    // The attack, and the victim's descriptors sampled while it lasts.
    let t0 = Instant::now();
    let h_start = chain.height(1).await.expect("a status");
    let attacker = tokio::spawn(half_open(addr, attack));
    let mut most_fds = fds_before;
    while !attacker.is_finished() {
        most_fds = most_fds.max(fds_of(pid));
        procs.assert_running(&victim);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = attacker.await.expect("the attacker");
    let opened_in = t0.elapsed();
    let rate_during = (chain.height(1).await.expect("a status") - h_start) as f64 / opened_in.as_secs_f64();
    assert!(held.len() >= attack * 9 / 10, "the attacker opened only {} of {attack} connections", held.len());

    // Held open: the victim stays within its budget and every validator, the victim included,
    // keeps finalizing. (Its API itself may refuse every new client now: the attack holds the
    // whole budget — which is what keeps the descriptors consensus needs free.)
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, before) in heights_before.iter().enumerate() {
        loop {
            procs.assert_running(&Consortium::name(i));
            if chain.height(i).await.is_some_and(|h| h >= before + 5) {
                break;
            }
            assert!(Instant::now() < deadline, "validator {i} stopped finalizing during the attack");
            most_fds = most_fds.max(fds_of(pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        rate_during >= 0.5 * rate_before,
        "the chain finalized {rate_during:.2} blocks/s during the attack against {rate_before:.2} before"
    );
    assert!(
        most_fds <= fds_before + MAX_CONNECTIONS + 64,
        "the victim held {most_fds} descriptors (before the attack {fds_before}, budget {MAX_CONNECTIONS} connections)"
    );

    // The silent connections are cut off after the header timeout, the attacker closing nothing.
    let deadline = Instant::now() + HEADER_TIMEOUT + Duration::from_secs(15);
    let mut open = f64::MAX;
    while Instant::now() < deadline {
        open = metrics(http.clone(), chain.urls[0].clone())
            .await
            .and_then(|t| metric(&t, "trustmeter_api_connections"))
            .unwrap_or(f64::MAX);
        if open <= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(open <= 2.0, "{open} silent connections still open after the header timeout");
    // What the victim refused, from its counters.
    let text = metrics(http.clone(), chain.urls[0].clone()).await.expect("the victim's metrics");
    let refused_by = |r: &str| {
        metric(&text, &format!("trustmeter_api_connections_refused_total{{reason=\"{r}\"}}")).unwrap_or_default()
    };
    let (refused_total, refused_per_ip) = (refused_by("total"), refused_by("per_ip"));
    let refused = refused_total + refused_per_ip;
    assert!(refused_total > 0.0, "the total budget was never reached ({refused_per_ip} refused per address)");
    assert!(
        refused >= (held.len() - 4 * MAX_CONNECTIONS) as f64 * 0.9,
        "only {refused} of {} connections refused",
        held.len()
    );
    let fds_after = fds_of(pid);
    println!(
        "attack: {} half-sent requests from {SOURCES} addresses opened in {:.1} s; the victim held at most {most_fds} descriptors (before {fds_before}, after {fds_after}), refused {refused_total} connections by its total budget and {refused_per_ip} by the per-address one; the chain finalized {rate_during:.2} blocks/s while the attack was opened, {rate_before:.2} before; every validator finalized ≥ 5 blocks during it",
        held.len(),
        opened_in.as_secs_f64()
    );
    drop(held);
    for i in 0..4 {
        procs.assert_running(&Consortium::name(i));
    }
    let top = chain.height(1).await.expect("a status");
    chain.wait_finalizing(&mut procs, top + 2).await;
}
