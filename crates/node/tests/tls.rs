//! A cluster whose validators serve their API over HTTPS only (`[api] tls_cert`, `tls_key`): a
//! client that trusts the consortium's CA reads and submits through the same API client the
//! gateways use, and nothing is served in the clear.

use crate::common::{Cluster, init_logs, test_tls_file};
use anyhow::ensure;
use commonware_runtime::Runner as _;
use std::time::Duration;
use trustmeter_node::api::limits::ApiConfig;
use trustmeter_plant::TxSigner;
use trustmeter_types::TxPayload;

#[test]
fn validators_serve_https_to_clients_that_trust_the_consortium_ca() {
    init_logs();
    let mut cluster = Cluster::new("hunan-tls-1", 43);
    cluster.api_config = ApiConfig {
        tls_cert: Some(test_tls_file("server.pem")),
        tls_key: Some(test_tls_file("server.key")),
        ..ApiConfig::default()
    };
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            api.wait_finalized_everywhere(2).await?;
            ensure!(api.urls.iter().all(|u| u.starts_with("https://localhost:")), "{:?}", api.urls);

            // The gateways' client, trusting the CA: a transaction submitted and finalized.
            let client = trustmeter_api_client::NodeClient::with_ca(
                api.urls.clone(),
                Duration::from_secs(20),
                Some(&test_tls_file("ca.pem")),
            )?;
            let devnet = &cluster.devnet;
            let enterprise = &devnet.enterprises[0];
            let mut ent = TxSigner::new(enterprise.key.clone(), devnet.genesis.chain_id.clone(), 1);
            let tx = ent.sign(TxPayload::RegisterGateway {
                id: trustmeter_types::DeviceId::new(format!("{}-GW07", enterprise.org.id))?,
                public_key: trustmeter_crypto::SigningKey::generate_ed25519(&mut rand::rng()).public_key(),
            });
            let outcome = client.submit_and_wait(&tx, Duration::from_millis(100), Duration::from_secs(60)).await?;
            ensure!(
                matches!(&outcome, trustmeter_api_client::TxStatus::Finalized { receipt, .. } if receipt.outcome == trustmeter_types::TxOutcome::Accepted),
                "{outcome:?}"
            );
            let st = client.status().await?;
            ensure!(st.finalized_height >= 2, "{st:?}");

            // Plain HTTP to the same port gets no answer; a client without the CA fails.
            let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
            let r = plain.get(format!("http://{}/v1/status", cluster.api[0])).send().await;
            ensure!(r.is_err() || r.is_ok_and(|r| !r.status().is_success()), "status served in the clear");
            let stranger = reqwest::Client::builder().tls_certs_only([]).timeout(Duration::from_secs(5)).build()?;
            ensure!(
                stranger.get(format!("{}/v1/status", api.urls[0])).send().await.is_err(),
                "served to a client that does not trust the CA"
            );
            Ok::<_, anyhow::Error>(())
        })
        .unwrap();
}
