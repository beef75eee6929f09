//! Helpers shared by the node's end-to-end tests: a consortium of validators started with
//! [`start_node`] on free loopback ports, and a client for their HTTP APIs.
//!
//! Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use anyhow::{Context as _, Result, bail, ensure};
use commonware_runtime::Supervisor as _;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::engine::Timeouts;
use trustmeter_crypto::{HashAlg, tx_hash};
use trustmeter_node::{NodeSpec, start_node};
use trustmeter_types::{Genesis, Hash32, PublicKey, Transaction, encode};

/// Validators per test consortium.
pub const VALIDATORS: usize = 4;
/// Longest wait for anything the chain should do (a block, a receipt, a catch-up).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Wall-clock time, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Logs to the test writer, filtered by `RUST_LOG` (default `warn`).
/// Held by the tests that compare the chain's rate under an attack with its rate before, and by
/// the flood (which takes the CPU it can), so that one never measures while another attacks.
pub static RATE_MEASURED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`RATE_MEASURED`] (a test that panicked while holding it leaves it usable).
pub fn rate_measured() -> std::sync::MutexGuard<'static, ()> {
    RATE_MEASURED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Free loopback addresses below the ephemeral range (see [`trustmeter_node::ports`]).
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    trustmeter_node::ports::loopback_addrs(n)
}

/// The unsigned integer in `v`; panics with the value otherwise.
pub fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("expected an unsigned integer, found {v}"))
}

/// A file of the TLS test identity (a certificate for `localhost`, its key, the CA):
/// `crates/httpserve/tests/data`.
pub fn test_tls_file(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../httpserve/tests/data").join(name)
}

/// A consortium's files and addresses: the same across restarts.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub devnet: Devnet,
    pub p2p: Vec<SocketAddr>,
    pub api: Vec<SocketAddr>,
    /// The validators' alarm engine configuration (default: no thresholds).
    pub alarms: trustmeter_analytics::alarms::AlarmConfig,
    /// The validators' API limits (default: the node's defaults).
    pub api_config: trustmeter_node::api::limits::ApiConfig,
}

impl Cluster {
    /// A consortium with one enterprise.
    pub fn new(chain_id: &str, seed: u64) -> Self {
        Self::with_enterprises(chain_id, seed, 1)
    }

    /// A consortium with `enterprises` enterprises.
    pub fn with_enterprises(chain_id: &str, seed: u64, enterprises: usize) -> Self {
        Self::with_crypto(chain_id, seed, enterprises, DevnetCrypto::default())
    }

    /// A consortium with `enterprises` enterprises and the given hash algorithm and account
    /// key scheme.
    pub fn with_crypto(chain_id: &str, seed: u64, enterprises: usize, crypto: DevnetCrypto) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let addrs = free_addrs(2 * VALIDATORS);
        let (p2p, api) = addrs.split_at(VALIDATORS);
        let mut devnet = Devnet::with_crypto(chain_id, VALIDATORS, enterprises, seed, now_ms(), 0, crypto);
        for (v, addr) in devnet.genesis.validators.iter_mut().zip(p2p) {
            v.p2p_address = addr.to_string();
        }
        Cluster {
            dir,
            devnet,
            p2p: p2p.to_vec(),
            api: api.to_vec(),
            alarms: Default::default(),
            api_config: Default::default(),
        }
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.devnet.genesis
    }

    /// Validator `i`'s index file.
    pub fn index_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("validator-{i}-index.redb"))
    }

    /// A tokio runner whose storage lives in the cluster directory (the same across restarts).
    pub fn runner(&self) -> commonware_runtime::tokio::Runner {
        commonware_runtime::tokio::Runner::new(
            commonware_runtime::tokio::Config::new().with_storage_directory(self.dir.path().join("consensus")),
        )
    }

    /// Starts every validator in `ctx` and returns a client for their APIs.
    pub async fn start(&self, ctx: commonware_runtime::tokio::Context) -> Result<Api> {
        Ok(self.start_nodes(ctx).await?.0)
    }

    /// Starts every validator in `ctx`; returns a client for their APIs and the running nodes.
    pub async fn start_nodes(
        &self,
        ctx: commonware_runtime::tokio::Context,
    ) -> Result<(Api, Vec<trustmeter_node::RunningNode>)> {
        let all: Vec<usize> = (0..self.devnet.validator_keys.len()).collect();
        let nodes = self.start_some(&ctx, &all, false).await?;
        Ok((self.api_of(&all)?, nodes))
    }

    /// A client for the APIs of validators `which` (a sender's home is among them).
    pub fn api_of(&self, which: &[usize]) -> Result<Api> {
        // Validators serving HTTPS (`[api] tls_cert`): by the name in their certificate, trusting
        // the test CA of crates/httpserve/tests/data.
        let tls = self.api_config.tls_cert.is_some();
        let mut http = reqwest::Client::builder()
            .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
            .timeout(Duration::from_secs(20));
        if tls {
            http =
                http.tls_certs_only(reqwest::Certificate::from_pem_bundle(&std::fs::read(test_tls_file("ca.pem"))?)?);
        }
        let http = http.build()?;
        let urls = which
            .iter()
            .map(|i| match tls {
                true => format!("https://localhost:{}", self.api[*i].port()),
                false => format!("http://{}", self.api[*i]),
            })
            .collect();
        Ok(Api { http, urls, alg: self.devnet.genesis.params.hash })
    }

    /// Starts validators `which` in `ctx`, with state sync on or off.
    pub async fn start_some(
        &self,
        ctx: &commonware_runtime::tokio::Context,
        which: &[usize],
        state_sync: bool,
    ) -> Result<Vec<trustmeter_node::RunningNode>> {
        let mut nodes = Vec::new();
        for &i in which {
            let spec = NodeSpec {
                name: format!("validator-{i}"),
                genesis: self.devnet.genesis.clone(),
                key: self.devnet.validator_keys[i].clone(),
                p2p_listen: self.p2p[i],
                api_listen: self.api[i],
                index_path: self.index_path(i),
                state_path: self.index_path(i).with_extension("state.redb"),
                allow_private_ips: true,
                timeouts: Timeouts::default(),
                alarms: self.alarms.clone(),
                api: self.api_config.clone(),
                state_sync,
                state_cache_mib: trustmeter_node::config::DEFAULT_STATE_CACHE_MIB,
            };
            let node = start_node(ctx.child("node").with_attribute("index", i), spec)
                .await
                .with_context(|| format!("starting validator {i}"))?;
            ensure!(
                node.api_addr == self.api[i],
                "validator {i} API bound {} instead of {}",
                node.api_addr,
                self.api[i]
            );
            nodes.push(node);
        }
        Ok(nodes)
    }
}

/// How a transaction is posted.
#[derive(Clone, Copy, Debug)]
pub enum Encoding {
    Json,
    Binary,
}

/// The HTTP API of every validator.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub urls: Vec<String>,
    /// The chain's hash algorithm, for transaction ids.
    pub alg: HashAlg,
}

impl Api {
    /// The validator a sender's transactions always go to.
    pub fn home(&self, sender: &PublicKey) -> usize {
        sender.bytes.iter().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize)) % self.urls.len()
    }

    /// Status and JSON body of a response.
    pub async fn json_of(resp: reqwest::Response, what: &str) -> Result<(u16, Value)> {
        let status = resp.status().as_u16();
        let text = resp.text().await.with_context(|| format!("{what}: reading the body"))?;
        let v =
            serde_json::from_str(&text).with_context(|| format!("{what}: HTTP {status} body is not JSON: {text}"))?;
        Ok((status, v))
    }

    /// Finalized blocks per second at validator `node`, measured over `window`.
    pub async fn finalization_rate(&self, node: usize, window: Duration) -> Result<f64> {
        let h0 = u64_of(&self.status(node).await?["finalized_height"]);
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        let h1 = u64_of(&self.status(node).await?["finalized_height"]);
        Ok(h1.saturating_sub(h0) as f64 / t0.elapsed().as_secs_f64())
    }

    /// `GET path` on validator `node`: status and JSON body.
    pub async fn get(&self, node: usize, path: &str) -> Result<(u16, Value)> {
        self.get_with(node, path, &[]).await
    }

    /// `GET path` on validator `node` with extra request headers; status and JSON body.
    pub async fn get_with(&self, node: usize, path: &str, headers: &[(&str, &str)]) -> Result<(u16, Value)> {
        let what = format!("GET {path} on validator {node}");
        let mut req = self.http.get(format!("{}{path}", self.urls[node]));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.with_context(|| what.clone())?;
        Self::json_of(resp, &what).await
    }

    /// `GET path` on validator `node`, which must answer 200.
    pub async fn get_ok(&self, node: usize, path: &str) -> Result<Value> {
        let (status, v) = self.get(node, path).await?;
        ensure!(status == 200, "GET {path} on validator {node}: HTTP {status}: {v}");
        Ok(v)
    }

    /// `GET path` on validator `node`, which must answer 200; a `503` (the node has not caught
    /// up with what was asked, e.g. its state store trails the index by a group commit) is
    /// retried once a second, ten times at most, as a client honouring `Retry-After` would.
    pub async fn get_ok_retrying(&self, node: usize, path: &str) -> Result<Value> {
        let mut tries = 0;
        loop {
            let (status, v) = self.get(node, path).await?;
            match status {
                200 => return Ok(v),
                503 if tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => bail!("GET {path} on validator {node}: HTTP {status}: {v}"),
            }
        }
    }

    /// `POST /v1/transactions` with a raw body.
    pub async fn post(&self, node: usize, content_type: &str, body: Vec<u8>) -> Result<(u16, Value)> {
        let what = format!("POST /v1/transactions on validator {node}");
        let resp = self
            .http
            .post(format!("{}/v1/transactions", self.urls[node]))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .with_context(|| what.clone())?;
        Self::json_of(resp, &what).await
    }

    /// Posts a transaction to its sender's validator.
    pub async fn post_tx(&self, tx: &Transaction, encoding: Encoding) -> Result<(u16, Value)> {
        let node = self.home(&tx.body.sender);
        match encoding {
            Encoding::Json => self.post(node, "application/json", serde_json::to_vec(tx)?).await,
            Encoding::Binary => self.post(node, "application/octet-stream", encode(tx)).await,
        }
    }

    /// Posts a transaction that must be admitted.
    pub async fn submit(&self, tx: &Transaction, encoding: Encoding) -> Result<Hash32> {
        let h = tx_hash(self.alg, tx);
        let (status, v) = self.post_tx(tx, encoding).await?;
        ensure!(
            status == 202,
            "{} transaction {h} ({encoding:?}) not admitted: HTTP {status}: {v}",
            tx.body.payload.kind()
        );
        ensure!(v["tx_hash"] == h.to_hex() && v["status"] == "pending", "unexpected admission answer {v} for {h}");
        Ok(h)
    }

    /// Posts a transaction that must be refused at admission with `code`, and checks that its
    /// receipt then says so.
    pub async fn expect_refused(&self, tx: &Transaction, encoding: Encoding, code: &str) -> Result<()> {
        let h = tx_hash(self.alg, tx);
        let (status, v) = self.post_tx(tx, encoding).await?;
        ensure!(status == 422, "expected HTTP 422 {code} for {h}, got {status}: {v}");
        ensure!(v["code"] == code, "expected code {code}, got {v}");
        ensure!(v["tx_hash"] == h.to_hex(), "refusal names another transaction: {v}");
        ensure!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "refusal without a message: {v}");
        Ok(())
    }

    /// Polls the receipt of `tx` on its sender's validator until it is finalized (returns the
    /// receipt view); fails when it is rejected or takes too long.
    pub async fn wait_finalized(&self, tx: &Transaction) -> Result<Value> {
        let node = self.home(&tx.body.sender);
        let h = tx_hash(self.alg, tx);
        let start = Instant::now();
        loop {
            let (status, v) = self.get(node, &format!("/v1/transactions/{h}")).await?;
            ensure!(status == 200, "receipt of {h}: HTTP {status}: {v}");
            match v["status"].as_str() {
                Some("finalized") => return Ok(v),
                Some("pending") => {}
                _ => bail!("{} transaction {h} was not finalized: {v}", tx.body.payload.kind()),
            }
            ensure!(
                start.elapsed() < PATIENCE,
                "{} transaction {h} not finalized within {PATIENCE:?}",
                tx.body.payload.kind()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// [`Api::wait_finalized`] for a transaction that must also execute successfully.
    pub async fn wait_accepted(&self, tx: &Transaction) -> Result<Value> {
        let v = self.wait_finalized(tx).await?;
        ensure!(
            v["receipt"]["outcome"]["status"] == "accepted",
            "{} transaction {} finalized but not accepted: {v}",
            tx.body.payload.kind(),
            tx_hash(self.alg, tx)
        );
        ensure!(v["receipt"]["tx_hash"] == tx_hash(self.alg, tx).to_hex(), "receipt names another transaction: {v}");
        Ok(v)
    }

    /// Every item of a paged list at `path` (which may carry a query) on validator `node`,
    /// following the `next` cursors; checks each page holds at most `limit` items (when `path`
    /// sets one) and that cursors advance.
    pub async fn all_pages(&self, node: usize, path: &str, limit: Option<usize>) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100_000 {
            let mut p = path.to_string();
            let mut sep = if p.contains('?') { '&' } else { '?' };
            if let Some(n) = limit {
                p.push_str(&format!("{sep}limit={n}"));
                sep = '&';
            }
            if let Some(a) = &after {
                p.push_str(&format!("{sep}after={a}"));
            }
            let page = self.get_ok(node, &p).await?;
            let got = page["items"].as_array().with_context(|| format!("GET {p}: no items: {page}"))?;
            if let Some(n) = limit {
                ensure!(got.len() <= n, "GET {p}: {} items in a page of {n}", got.len());
            }
            items.extend(got.iter().cloned());
            match page["next"].as_str() {
                Some(n) => {
                    ensure!(!got.is_empty(), "GET {p}: an empty page with a next cursor");
                    ensure!(after.as_deref() != Some(n), "GET {p}: the cursor did not advance");
                    after = Some(n.to_string());
                }
                None => {
                    ensure!(page["next"].is_null(), "GET {p}: next is neither a cursor nor null: {page}");
                    return Ok(items);
                }
            }
        }
        bail!("GET {path}: more than 100 000 pages")
    }

    /// Validator `node`'s `/v1/status`.
    pub async fn status(&self, node: usize) -> Result<Value> {
        self.get_ok(node, "/v1/status").await
    }

    /// Polls a validator's status until `ok` holds.
    pub async fn wait_status(&self, node: usize, what: &str, ok: impl Fn(&Value) -> bool) -> Result<Value> {
        let start = Instant::now();
        loop {
            // The API may answer before the node finished replaying; connection errors too are
            // retried while the node comes up.
            if let Ok(st) = self.status(node).await
                && ok(&st)
            {
                return Ok(st);
            }
            ensure!(
                start.elapsed() < PATIENCE,
                "validator {node}: {what} not reached within {PATIENCE:?} (status {:?})",
                self.status(node).await.ok()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Block `height` as validator `node` serves it, once its index has reached that height (a
    /// receipt on one validator does not mean another has indexed the block yet).
    pub async fn block(&self, node: usize, height: u64) -> Result<Value> {
        self.wait_indexed(node, height).await?;
        self.get_ok(node, &format!("/v1/blocks/{height}")).await
    }

    /// Waits until every validator has finalized `height`. Admission checks against a
    /// validator's own finalized state, so a transaction that depends on one just finalized (a
    /// calibration after the meter's registration) must wait for this before it is sent to a
    /// validator that may be a block behind.
    pub async fn wait_finalized_everywhere(&self, height: u64) -> Result<()> {
        for n in 0..self.urls.len() {
            self.wait_status(n, &format!("finalized height {height}"), |s| {
                s["finalized_height"].as_u64().unwrap_or(0) >= height
            })
            .await?;
        }
        Ok(())
    }

    /// Waits until validator `node`'s index reached `height`.
    pub async fn wait_indexed(&self, node: usize, height: u64) -> Result<Value> {
        self.wait_status(node, &format!("indexed height {height}"), |s| {
            s["indexed_height"].as_u64().unwrap_or(0) >= height
        })
        .await
    }
}

/// Submits transactions, waits until each is finalized and accepted, and until every validator
/// has finalized them; returns the highest height.
pub async fn run_txs(api: &Api, txs: &[Transaction]) -> Result<u64> {
    for tx in txs {
        api.submit(tx, Encoding::Binary).await?;
    }
    let mut height = 0;
    for tx in txs {
        let v = api.wait_accepted(tx).await?;
        height = height.max(u64_of(&v["height"]));
    }
    api.wait_finalized_everywhere(height).await?;
    Ok(height)
}
