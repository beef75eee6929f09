//! Trust no single node (issue 11): a real gateway whose only node is a liar — a proxy in front of
//! a real validator that claims every transaction finalized with every reading rejected, tampers
//! with the receipt proofs it forwards, serves a reject-everything audit policy (and a tampered
//! proof of the policy) and tampered meter records. The gateway holds the chain's genesis (its
//! `genesis` file). While the proxy lies, the chain records the first batch (the proxy forwards
//! the submission) but the gateway settles none of the readings, rejects none before sending, and raises
//! `proof_invalid`; once the proxy turns honest, honest proofs settle every reading, exactly once
//! on chain.

use crate::common::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use commonware_runtime::Runner as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use trustmeter_client::{ReceiptProof, StateProofs};
use trustmeter_crypto::SigningKey;
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_types::{ReadingOutcome, RejectCode, Rejection, Unit};

/// A policy that rejects every reading.
const REJECT_ALL: &str = r#"
name = "reject-all"
version = 1
description = "A liar's policy: nothing passes."

[[rules]]
id = "nothing"
code = "nothing_passes"
action = "reject"
check = "false"
reason = "nothing passes"
description = "Rejects everything."
"#;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    lying: Arc<AtomicBool>,
    /// Answers the proxy falsified.
    lies: Arc<AtomicU64>,
    /// Readings per transaction submitted through the proxy (so its lies have the right shape).
    batches: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    alg: trustmeter_types::HashAlg,
    http: reqwest::Client,
}

fn rejected() -> ReadingOutcome {
    ReadingOutcome::Rejected(Rejection::new(RejectCode::PolicyRejected, "the liar says no"))
}

impl Proxy {
    async fn forward(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> (StatusCode, Bytes) {
        let url = format!("{}{}", self.upstream, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        let mut req = self.http.request(method.clone(), url).body(body);
        use axum::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
        for (k, v) in headers {
            if ![HOST, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(k) {
                req = req.header(k, v);
            }
        }
        match req.send().await {
            Ok(r) => (r.status(), r.bytes().await.unwrap_or_default()),
            Err(_) => (StatusCode::BAD_GATEWAY, Bytes::new()),
        }
    }

    /// The falsified answer to a request, if the liar falsifies it.
    fn lie(&self, path: &str, status: StatusCode, body: &[u8]) -> Option<serde_json::Value> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            // "Finalized, every reading rejected", whatever the truth.
            ["v1", "transactions", hash] => {
                let n = *self.batches.lock().unwrap().get(*hash)?;
                let receipt = trustmeter_types::Receipt {
                    tx_hash: trustmeter_types::Hash32::from_hex(hash).ok()?,
                    outcome: trustmeter_types::TxOutcome::Accepted,
                    readings: vec![rejected(); n],
                };
                Some(serde_json::json!({
                    "tx_hash": hash, "status": "finalized", "height": 1, "index": 0,
                    "receipt": receipt, "rejection": null,
                }))
            }
            // The true proof with every reading's outcome turned into a rejection.
            ["v1", "transactions", _, "proof"] if status == StatusCode::OK => {
                let mut p: ReceiptProof = serde_json::from_slice(body).ok()?;
                p.receipt.readings.iter_mut().for_each(|o| *o = rejected());
                serde_json::to_value(p).ok()
            }
            ["v1", "policy"] => Some(serde_json::json!({
                "height": 1,
                "in_force": {"name": "reject-all", "version": 9, "effective_height": 0, "deployed_height": 1,
                             "deployed_by": null, "status": "in_force", "text": REJECT_ALL},
                "versions": [],
            })),
            // The true policy proof with the policy in force swapped for the liar's.
            ["v1", "policy", "proof"] if status == StatusCode::OK => {
                let mut p: StateProofs = serde_json::from_slice(body).ok()?;
                for e in &mut p.entries {
                    if let trustmeter_client::certified::StateValue::Policy(rec) = &mut e.entry.value {
                        rec.text = REJECT_ALL.replace("version = 1", &format!("version = {}", rec.version));
                    }
                }
                serde_json::to_value(p).ok()
            }
            // The true meter record with its calibration certificate removed.
            ["v1", "meters", _, "proof"] if status == StatusCode::OK => {
                let mut p: StateProofs = serde_json::from_slice(body).ok()?;
                for e in &mut p.entries {
                    if let trustmeter_client::certified::StateValue::Meter(m) = &mut e.entry.value {
                        m.calibration = None;
                    }
                }
                serde_json::to_value(p).ok()
            }
            _ => None,
        }
    }
}

async fn handle(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if method == Method::POST
        && uri.path() == "/v1/transactions"
        && let Ok(tx) = trustmeter_types::decode::<trustmeter_types::Transaction>(&body, usize::MAX)
    {
        let hash = trustmeter_crypto::tx_hash(p.alg, &tx).to_hex();
        p.batches.lock().unwrap().insert(hash, tx.body.payload.reading_count());
    }
    let (status, answer) = p.forward(&method, &uri, &headers, body).await;
    if method == Method::GET
        && p.lying.load(Ordering::SeqCst)
        && let Some(lie) = p.lie(uri.path(), status, &answer)
    {
        p.lies.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::OK, axum::Json(lie)).into_response();
    }
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], answer).into_response()
}

#[test]
fn a_lying_node_cannot_make_the_gateway_settle_drop_or_reject_a_reading() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path());
    let data_dir = dir.path().join("gateway");
    runner.start(|ctx| async move {
        let mut chain = TestChain::start(&ctx, dir.path(), "hunan-liar-1", 1, 31).await;
        let gw = dev(&chain, "GW-01");
        let meter = dev(&chain, "EM-01");
        let gw_key = SigningKey::ed25519_from_seed([47; 32]);
        let now = now_ms();
        chain.onboard(&gw, &gw_key, &[(meter.clone(), Unit::KilowattHour)], (now - 400 * DAY_MS, now + 365 * DAY_MS), &[], &[]).await;

        // The liar, in front of the chain's only node.
        let proxy = Proxy {
            upstream: chain.urls[0].clone(),
            lying: Arc::new(AtomicBool::new(true)),
            lies: Arc::new(AtomicU64::new(0)),
            http: reqwest::Client::new(),
            batches: Default::default(),
            alg: chain.devnet.genesis.params.hash,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handle).with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });

        // The gateway holds the genesis the consortium distributed.
        std::fs::create_dir_all(&data_dir).unwrap();
        let genesis_file = dir.path().join("genesis.json");
        std::fs::write(&genesis_file, serde_json::to_string_pretty(&chain.devnet.genesis).unwrap()).unwrap();
        let cfg = GatewayConfig::parse(&format!(
            r#"
[gateway]
id = "{gw}"
data_dir = "{dir}"
listen = "127.0.0.1:0"

[[destination]]
name = "provincial"
nodes = ["{proxy_url}"]
genesis = "{genesis}"
max_backoff_ms = 500
"#,
            dir = data_dir.display(),
            genesis = genesis_file.display(),
        ))
        .expect("config parses");
        let handle = trustmeter_gateway::start(cfg, gw_key.clone(), Arc::new(trustmeter_meters::SystemClock))
            .await
            .expect("gateway starts");
        let api = format!("http://{}", handle.api_addr);
        let token = std::fs::read_to_string(data_dir.join("operator.token")).unwrap();
        let t0 = now_ms() - 3 * 60_000;
        for (i, v) in ["100", "200", "300"].iter().enumerate() {
            let r = reqwest::Client::new()
                .post(format!("{api}/manual"))
                .bearer_auth(token.trim())
                .json(&serde_json::json!({"meter": meter.as_str(), "value": v, "unit": "kWh", "timestamp_ms": t0 + i as i64 * 60_000}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
        }

        // The submission passes through the liar: the chain records the first batch (the gateway
        // keeps one transaction in flight, so the rest wait for it to settle).
        eventually("the first batch on chain", || async { (!chain.readings(&meter).await.is_empty()).then_some(()) })
            .await;
        // The gateway has followed its transaction and met the liar's proofs several times.
        let s = eventually("the liar caught", || async {
            let s = status(&api).await;
            (proxy.lies.load(Ordering::SeqCst) >= 3 && s.alarms.iter().any(|a| a.kind == "proof_invalid")).then_some(s)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s2 = status(&api).await;
        for s in [&s, &s2] {
            let d = &s.destinations[0];
            assert_eq!(
                (d.backlog, d.acknowledged, d.rejected, d.rejected_before_sending),
                (3, 0, 0, 0),
                "a lie settled or rejected something: {d:?}"
            );
        }
        // The liar's policy was not applied (its proof does not verify): nothing is pre-rejected.
        assert!(s2.destinations[0].audit_policy.is_none(), "{:?}", s2.destinations[0]);
        assert!(s2.alarms.iter().any(|a| a.kind == "policy_unavailable"), "{:?}", s2.alarms);
        let rejected: Vec<serde_json::Value> =
            reqwest::get(format!("{api}/rejected?destination=provincial")).await.unwrap().json().await.unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let metrics = reqwest::get(format!("{api}/metrics")).await.unwrap().text().await.unwrap();
        assert!(
            metrics.lines().any(|l| l.starts_with("trustmeter_gateway_proofs_invalid_total{destination=\"provincial\"}")
                && !l.ends_with(" 0")),
            "{metrics}"
        );

        // The node turns honest: its true proofs settle every reading, recorded exactly once.
        proxy.lying.store(false, Ordering::SeqCst);
        let d = eventually("settled on honest proofs", || async {
            let s = status(&api).await;
            let d = s.destinations[0].clone();
            (d.backlog == 0).then_some((d, s.alarms))
        })
        .await;
        assert_eq!((d.0.acknowledged, d.0.rejected), (3, 0), "{:?}", d.0);
        assert!(!d.1.iter().any(|a| a.kind == "proof_invalid"), "{:?}", d.1);
        let on_chain = chain.readings(&meter).await;
        assert_eq!(on_chain.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        handle.stop().await;
    });
}

/// A destination configured with the consortium's genesis hash refuses a node that serves another
/// genesis (`proof_invalid`, nothing sent or settled), and with the right hash fetches the genesis,
/// pins it and settles on proofs.
#[test]
fn a_genesis_fetched_from_the_nodes_must_have_the_configured_hash() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path());
    runner.start(|ctx| async move {
        let mut chain = TestChain::start(&ctx, dir.path(), "hunan-hash-1", 1, 33).await;
        let gw = dev(&chain, "GW-01");
        let meter = dev(&chain, "EM-01");
        let gw_key = SigningKey::ed25519_from_seed([49; 32]);
        let now = now_ms();
        chain
            .onboard(&gw, &gw_key, &[(meter.clone(), Unit::KilowattHour)], (now - 400 * DAY_MS, now + 365 * DAY_MS), &[], &[])
            .await;
        let right = trustmeter_crypto::genesis_hash(&chain.devnet.genesis).to_hex();
        let config = |data_dir: &std::path::Path, hash: &str| {
            GatewayConfig::parse(&format!(
                "[gateway]\nid = \"{gw}\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n\n[[destination]]\nname = \"provincial\"\nnodes = [\"{}\"]\ngenesis_hash = \"{hash}\"\nmax_backoff_ms = 500\n",
                data_dir.display(),
                chain.urls[0],
            ))
            .expect("config parses")
        };
        let manual = |api: String, token: String, value: &'static str| {
            let meter = meter.clone();
            async move {
                let r = reqwest::Client::new()
                    .post(format!("{api}/manual"))
                    .bearer_auth(token.trim())
                    .json(&serde_json::json!({"meter": meter.as_str(), "value": value, "unit": "kWh", "timestamp_ms": now_ms() - 60_000}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
            }
        };

        // The wrong hash: the node's genesis is refused, nothing is sent, nothing is pinned.
        let wrong_dir = dir.path().join("gateway-wrong");
        let handle = trustmeter_gateway::start(config(&wrong_dir, &"ab".repeat(32)), gw_key.clone(), Arc::new(trustmeter_meters::SystemClock))
            .await
            .expect("gateway starts");
        let api = format!("http://{}", handle.api_addr);
        manual(api.clone(), std::fs::read_to_string(wrong_dir.join("operator.token")).unwrap(), "100").await;
        let s = eventually("the wrong genesis refused", || async {
            let s = status(&api).await;
            s.alarms.iter().any(|a| a.kind == "proof_invalid" && a.message.contains("genesis_hash")).then_some(s)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(s.destinations[0].acknowledged, 0);
        assert!(chain.readings(&meter).await.is_empty(), "a reading went to a chain whose genesis was refused");
        assert!(!wrong_dir.join("genesis-provincial.json").exists(), "a refused genesis was pinned");
        handle.stop().await;

        // The right hash: fetched, checked, pinned, and the reading settles on a proof.
        let right_dir = dir.path().join("gateway-right");
        let handle = trustmeter_gateway::start(config(&right_dir, &right), gw_key.clone(), Arc::new(trustmeter_meters::SystemClock))
            .await
            .expect("gateway starts");
        let api = format!("http://{}", handle.api_addr);
        manual(api.clone(), std::fs::read_to_string(right_dir.join("operator.token")).unwrap(), "200").await;
        eventually("settled with the right genesis", || async {
            let d = status(&api).await.destinations[0].clone();
            (d.backlog == 0 && d.acknowledged == 1).then_some(())
        })
        .await;
        let pinned: trustmeter_types::Genesis =
            serde_json::from_str(&std::fs::read_to_string(right_dir.join("genesis-provincial.json")).unwrap()).unwrap();
        assert_eq!(pinned, chain.devnet.genesis);
        handle.stop().await;
    });
}

/// A regulator's tight policy: a register above 500 kWh is refused.
const TIGHT: &str = r#"
name = "tight-cap"
version = 2
description = "Test policy: register values above a cap are refused."

[params]
cap = 500.0

[[rules]]
id = "value_cap"
code = "value_above_cap"
action = "reject"
check = "reading.value <= params.cap"
reason = "register value {reading.value} {reading.unit} is above the cap of {params.cap}"
description = "A register above the cap cannot be right on this test site."
"#;

/// A proxy that forwards everything, except that, once `replay` is set, it answers the policy
/// proof and the meter-record proof with the genuine ones it holds (recorded earlier, at an older
/// block).
#[derive(Clone)]
struct Replayer {
    upstream: String,
    replay: Arc<std::sync::Mutex<Option<(Bytes, Bytes)>>>,
    replayed: Arc<AtomicU64>,
    http: reqwest::Client,
}

async fn replay_handle(
    State(p): State<Replayer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let held = p.replay.lock().unwrap().clone();
    if let Some((policy, meter)) = held
        && method == Method::GET
    {
        let path = uri.path();
        let old = if path == "/v1/policy/proof" {
            Some(policy)
        } else if path.starts_with("/v1/meters/") && path.ends_with("/proof") {
            Some(meter)
        } else {
            None
        };
        if let Some(old) = old {
            p.replayed.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], old).into_response();
        }
    }
    let proxy = Proxy {
        upstream: p.upstream.clone(),
        lying: Default::default(),
        lies: Default::default(),
        batches: Default::default(),
        alg: trustmeter_types::HashAlg::default(),
        http: p.http.clone(),
    };
    let (status, answer) = proxy.forward(&method, &uri, &headers, body).await;
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], answer).into_response()
}

/// Stale but genuine proofs (issue 11): a node that serves the policy and meter-record proofs of
/// an older block — genuine, certified by the validators, but from before the regulator replaced
/// the tight policy — cannot make the gateway reject a reading the chain's policy in force accepts:
/// not while the gateway holds the old policy from its own earlier fetch (a rejection is proven
/// again first when newer blocks were verified since), and not after a restart (the newest verified
/// height is kept in the store, so older proofs are refused as stale and the reading is sent
/// unchecked).
#[test]
fn older_genuine_proofs_cannot_make_the_gateway_reject_a_reading_even_after_a_restart() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path());
    let data_dir = dir.path().join("gateway");
    runner.start(|ctx| async move {
        let mut chain = TestChain::start(&ctx, dir.path(), "hunan-stale-1", 1, 35).await;
        let reg = chain.devnet.regulator.key.clone();
        let height = chain.client.status().await.expect("status").finalized_height;
        chain.ok(&reg, trustmeter_types::TxPayload::DeployPolicy { text: TIGHT.into(), effective_height: height + 8 }).await;
        eventually("the tight policy in force", || async {
            let p = chain.client.policy().await.ok().flatten()?;
            (p.in_force.version == 2 && p.pending.is_empty()).then_some(())
        })
        .await;
        let gw = dev(&chain, "GW-01");
        let meter = dev(&chain, "EM-01");
        let gw_key = SigningKey::ed25519_from_seed([51; 32]);
        let now = now_ms();
        chain.onboard(&gw, &gw_key, &[(meter.clone(), Unit::KilowattHour)], (now - 400 * DAY_MS, now + 365 * DAY_MS), &[], &[]).await;

        // Genuine proofs of the tight policy and of the meter, both of one block.
        let http = reqwest::Client::new();
        let upstream = chain.urls[0].clone();
        let get = |path: String| {
            let (http, upstream) = (http.clone(), upstream.clone());
            async move {
                let r = http.get(format!("{upstream}{path}")).send().await.unwrap();
                assert!(r.status().is_success(), "{path}: {}", r.status());
                let body = r.bytes().await.unwrap();
                let p: StateProofs = serde_json::from_slice(&body).unwrap();
                (body, p.block.header.height)
            }
        };
        let mut old = None;
        for _ in 0..100 {
            let (policy, hp) = get("/v1/policy/proof".into()).await;
            let (record, hm) = get(format!("/v1/meters/{meter}/proof")).await;
            if hp == hm {
                old = Some((policy, record, hp));
                break;
            }
        }
        let (old_policy, old_meter, old_height) = old.expect("a policy and a meter proof of one block");

        let replayer = Replayer {
            upstream: upstream.clone(),
            replay: Default::default(),
            replayed: Default::default(),
            http: http.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(replay_handle).with_state(replayer.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });

        std::fs::create_dir_all(&data_dir).unwrap();
        let genesis_file = dir.path().join("genesis.json");
        std::fs::write(&genesis_file, serde_json::to_string_pretty(&chain.devnet.genesis).unwrap()).unwrap();
        let cfg = || {
            GatewayConfig::parse(&format!(
                "[gateway]\nid = \"{gw}\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n\n[[destination]]\nname = \"provincial\"\nnodes = [\"{proxy_url}\"]\ngenesis = \"{}\"\nmax_backoff_ms = 500\n",
                data_dir.display(),
                genesis_file.display(),
            ))
            .expect("config parses")
        };
        let t0 = now_ms() - 10 * 60_000;
        let manual = |api: String, value: &'static str, i: i64| {
            let (meter, token) = (meter.clone(), std::fs::read_to_string(data_dir.join("operator.token")).unwrap());
            async move {
                let r = reqwest::Client::new()
                    .post(format!("{api}/manual"))
                    .bearer_auth(token.trim())
                    .json(&serde_json::json!({"meter": meter.as_str(), "value": value, "unit": "kWh", "timestamp_ms": t0 + i * 60_000}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
            }
        };
        let settled = |api: String, n: u64| async move {
            eventually(&format!("{n} readings settled"), || async {
                let d = status(&api).await.destinations[0].clone();
                (d.backlog == 0 && d.acknowledged + d.rejected == n).then_some(d)
            })
            .await
        };

        // The gateway fetches the tight policy and a first reading settles.
        let handle = trustmeter_gateway::start(cfg(), gw_key.clone(), Arc::new(trustmeter_meters::SystemClock))
            .await
            .expect("gateway starts");
        let api = format!("http://{}", handle.api_addr);
        eventually("the tight policy fetched", || async {
            (status(&api).await.destinations.first()?.audit_policy.as_deref() == Some("tight-cap v2")).then_some(())
        })
        .await;
        manual(api.clone(), "100", 0).await;
        settled(api.clone(), 1).await;

        // The regulator replaces it with a loose one; a reading settles in a block after that.
        let loose = TIGHT.replace("version = 2", "version = 3").replace("cap = 500.0", "cap = 5000.0");
        let height = chain.client.status().await.expect("status").finalized_height;
        chain.ok(&reg, trustmeter_types::TxPayload::DeployPolicy { text: loose, effective_height: height + 8 }).await;
        eventually("the loose policy in force", || async {
            let p = chain.client.policy().await.ok().flatten()?;
            (p.in_force.version == 3 && p.pending.is_empty()).then_some(())
        })
        .await;
        manual(api.clone(), "200", 1).await;
        settled(api.clone(), 2).await;

        // 700 kWh: the tight policy the gateway fetched before rejects it, but a newer block was
        // verified since; proven again, the policy in force accepts it.
        manual(api.clone(), "700", 2).await;
        let d = settled(api.clone(), 3).await;
        assert_eq!((d.acknowledged, d.rejected, d.rejected_before_sending), (3, 0, 0), "{d:?}");
        handle.stop().await;

        // Restarted, the gateway meets a node serving the genuine proofs of the older block.
        *replayer.replay.lock().unwrap() = Some((old_policy, old_meter));
        let handle = trustmeter_gateway::start(cfg(), gw_key.clone(), Arc::new(trustmeter_meters::SystemClock))
            .await
            .expect("gateway restarts");
        let api = format!("http://{}", handle.api_addr);
        manual(api.clone(), "900", 3).await;
        let d = settled(api.clone(), 4).await;
        assert_eq!(
            (d.acknowledged, d.rejected, d.rejected_before_sending),
            (4, 0, 0),
            "proofs of block {old_height} made the gateway reject a reading: {d:?}"
        );
        assert!(replayer.replayed.load(Ordering::SeqCst) > 0, "the old proofs were never asked for");
        let s = status(&api).await;
        assert!(s.destinations[0].audit_policy.is_none(), "{:?}", s.destinations[0]);
        assert!(
            s.alarms.iter().any(|a| a.kind == "policy_unavailable" && a.message.contains("stale")),
            "{:?}",
            s.alarms
        );
        let rejected: Vec<serde_json::Value> =
            reqwest::get(format!("{api}/rejected?destination=provincial")).await.unwrap().json().await.unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        let on_chain = chain.readings(&meter).await;
        assert_eq!(on_chain.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        handle.stop().await;
    });
}
