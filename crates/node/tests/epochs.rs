//! Validator sets by epoch on tokio with real authenticated p2p (`lookup` on loopback): with
//! 20-block epochs, four validators cross several boundaries — a Simplex engine per epoch, its
//! votes and certificates on the epoch's subchannels, one p2p peer set tracked per epoch — and
//! agree on every block around each boundary; stopped and started again on their storage, they
//! resume in their epoch and cross two more.

use anyhow::{Result, ensure};
use commonware_runtime::Runner as _;

use crate::common::*;

const L: u64 = 20;

/// Every validator in `nodes` serves the same digest and the height's epoch at `height`.
async fn same_block(api: &Api, nodes: &[usize], height: u64) -> Result<()> {
    let mut digests = Vec::new();
    for &n in nodes {
        let b = api.get_ok_retrying(n, &format!("/v1/blocks/{height}")).await?;
        ensure!(b["header"]["epoch"].as_u64() == Some(height / L), "validator {n}: block {height}: {b}");
        digests.push(b["digest"].as_str().unwrap_or_default().to_string());
    }
    ensure!(digests.windows(2).all(|w| w[0] == w[1]), "validators disagree at height {height}: {digests:?}");
    Ok(())
}

#[test]
fn validators_cross_epoch_boundaries_on_real_p2p() {
    let mut cluster = Cluster::new("hunan-epochs-1", 43);
    cluster.devnet.genesis.params.economy.staking.epoch_length = L;
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            api.wait_finalized_everywhere(3 * L + 2).await?;
            for e in 1..=3 {
                for h in [e * L - 1, e * L] {
                    same_block(&api, &[0, 1, 2, 3], h).await?;
                }
            }
            let status = api.status(0).await?;
            ensure!(status["epoch"].as_u64() >= Some(3), "status: {status}");
            // A verifier that keeps the sets it followed asks only for the links after them.
            let whole = api.get_ok_retrying(0, "/v1/policy/proof").await?;
            let certified =
                whole["block"]["descendants"].as_array().and_then(|d| d.last()).unwrap_or(&whole["block"]["header"]);
            let epoch = u64_of(&certified["height"]) / L;
            let links = |doc: &serde_json::Value| -> Vec<u64> {
                doc["block"]["epochs"]
                    .as_array()
                    .map(|a| a.iter().map(|l| u64_of(&l["epoch"])).collect())
                    .unwrap_or_default()
            };
            ensure!(
                links(&whole) == (2..=epoch).collect::<Vec<_>>(),
                "whole chain: {:?} for epoch {epoch}",
                links(&whole)
            );
            let after = api.get_ok_retrying(0, "/v1/policy/proof?epochs_from=2").await?;
            let certified =
                after["block"]["descendants"].as_array().and_then(|d| d.last()).unwrap_or(&after["block"]["header"]);
            let epoch = u64_of(&certified["height"]) / L;
            ensure!(links(&after) == (3..=epoch).collect::<Vec<_>>(), "after 2: {:?} for epoch {epoch}", links(&after));
            let client = trustmeter_api_client::NodeClient::new(api.urls.clone(), std::time::Duration::from_secs(20))?;
            let known = std::sync::Mutex::new(trustmeter_client::KnownSets::new());
            let genesis = &cluster.devnet.genesis;
            let (first, _) = client.policy_proven_known(genesis, &known).await?;
            let learned = known.lock().unwrap().highest();
            ensure!(learned == Some(first.certified_height / L), "sets learned up to {learned:?}, proof of {first:?}");
            // The next proof carries no link the verifier already followed, and still verifies.
            let (block, _) = client.policy_proven_known(genesis, &known).await?;
            ensure!(block.certified_height / L >= learned.unwrap(), "{block:?}");
            Ok::<_, anyhow::Error>(())
        })
        .unwrap();
    // The whole consortium restarts on its storage: each node resumes in the epoch of its next
    // height (its journal, its sets from the state) and the chain crosses two more boundaries.
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            let at = u64_of(&api.status(0).await?["finalized_height"]);
            let target = (at / L + 2) * L + 2;
            api.wait_finalized_everywhere(target).await?;
            for h in [target - 3, target - 2] {
                same_block(&api, &[0, 1, 2, 3], h).await?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .unwrap();
}
