//! A flood of expensive requests against a live cluster (issue 11): 64 clients from 8 addresses
//! ask one validator, as fast as it answers, for state proofs (the audit policy set, a meter's
//! absence) and raw finalized blocks — the requests that cost a node the most. Each is answered
//! `200` or `503 busy` (JSON, `Retry-After`), cheap requests are still answered meanwhile, and the
//! chain's finalization rate during the flood is compared with the rate before it.

use crate::common::{Cluster, init_logs};
use anyhow::{Context as _, ensure};
use commonware_runtime::Runner as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Concurrent flooding clients and the source addresses they share (127.0.0.2 …).
const CLIENTS: usize = 64;
const ADDRESSES: u8 = 8;
/// How long the finalization rate is measured, before and during the flood.
const WINDOW: Duration = Duration::from_secs(8);

#[test]
fn a_flood_of_expensive_requests_is_bounded_and_the_chain_keeps_its_rate() {
    init_logs();
    let _measuring = crate::common::rate_measured();
    let cluster = Cluster::new("hunan-flood-1", 43);
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            api.wait_finalized_everywhere(3).await?;
            let before = api.finalization_rate(1, WINDOW).await?;
            let target = api.urls[0].clone();
            let paths = [
                "/v1/policy/proof".to_string(),
                "/v1/meters/91430100700001000N-NOPE/proof".to_string(),
                "/v1/chain/finalized/1".to_string(),
                "/v1/chain/finalized/2".to_string(),
            ];
            let stop = Arc::new(AtomicBool::new(false));
            let mut flooders = Vec::new();
            for c in 0..CLIENTS {
                let source = std::net::Ipv4Addr::new(127, 0, 0, 2 + (c as u8 % ADDRESSES));
                let http = reqwest::Client::builder()
                    .local_address(std::net::IpAddr::V4(source))
                    .timeout(Duration::from_secs(30))
                    .build()?;
                let (target, paths, stop) = (target.clone(), paths.clone(), stop.clone());
                flooders.push(tokio::spawn(async move {
                    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
                    let mut i = c;
                    while !stop.load(Ordering::Relaxed) {
                        let path = &paths[i % paths.len()];
                        i += 1;
                        let resp = http.get(format!("{target}{path}")).send().await?;
                        let status = resp.status().as_u16();
                        let retry_after = resp.headers().contains_key("retry-after");
                        let body = resp.bytes().await?;
                        let key = match status {
                            200 => "200".to_string(),
                            503 | 429 => {
                                let v: serde_json::Value = serde_json::from_slice(&body)
                                    .with_context(|| format!("{status} on {path} is not JSON"))?;
                                ensure!(retry_after, "{status} on {path} without Retry-After");
                                format!("{status} {}", v["code"].as_str().unwrap_or("?"))
                            }
                            other => anyhow::bail!("{path}: HTTP {other}: {}", String::from_utf8_lossy(&body)),
                        };
                        *seen.entry(key).or_default() += 1;
                    }
                    Ok::<_, anyhow::Error>(seen)
                }));
            }
            // Meanwhile: the chain's rate, and a cheap request to the flooded validator.
            let probe = {
                let (http, target, stop) = (api.http.clone(), target.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut worst = Duration::ZERO;
                    let mut answered = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let r = http.get(format!("{target}/v1/status")).send().await?;
                        ensure!(r.status().is_success(), "status during the flood: {}", r.status());
                        worst = worst.max(t.elapsed());
                        answered += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Ok::<_, anyhow::Error>((answered, worst))
                })
            };
            tokio::time::sleep(Duration::from_secs(1)).await;
            let during = api.finalization_rate(1, WINDOW).await?;
            let flooded = api.finalization_rate(0, WINDOW).await?;
            stop.store(true, Ordering::Relaxed);
            let mut totals: BTreeMap<String, u64> = BTreeMap::new();
            for f in flooders {
                for (k, n) in f.await?? {
                    *totals.entry(k).or_default() += n;
                }
            }
            let (answered, worst) = probe.await??;
            eprintln!(
                "flood: {totals:?} in ~{:.0} s; finalized {before:.2} blocks/s before, {during:.2} during \
                 (the flooded validator: {flooded:.2}); /v1/status answered {answered} times, worst {} ms",
                (2 * WINDOW + Duration::from_secs(1)).as_secs_f64(),
                worst.as_millis()
            );
            let ok = totals.get("200").copied().unwrap_or(0);
            let busy = totals.get("503 busy").copied().unwrap_or(0);
            ensure!(ok > 100, "the flood was barely served: {totals:?}");
            ensure!(busy > 0, "no request was refused busy: the bounds were never reached ({totals:?})");
            ensure!(
                during >= 0.5 * before,
                "finalization fell from {before:.2} to {during:.2} blocks/s under the flood"
            );
            ensure!(flooded > 0.0, "the flooded validator stopped finalizing");
            ensure!(worst < Duration::from_secs(2), "a status request took {worst:?} during the flood");
            Ok(())
        })
        .expect("flood");
}
