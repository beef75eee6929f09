//! `trustmeter demo`: a whole local consortium with a simulated plant.
//!
//! Four validators run in this process, each with its own authenticated p2p endpoint on loopback,
//! its own Commonware storage partitions and index file under the data directory, and its own
//! HTTP API. A simulated plant (a few hundred meters across workshops) is onboarded through the
//! API — gateway and meters registered by the enterprise, calibrations recorded by the metrology
//! authority, devices activated by the regulator — and then replays its recent history and keeps
//! reporting signed readings, each batch posted to one of the validators' APIs.
//!
//! Without `--data-dir` the data directory is a fresh one under the system temp dir, removed when
//! the demo ends: at `--duration`, on Ctrl-C or SIGTERM (start-up included) and on errors.

use crate::scratch::{DataDir, StopSignals};
use anyhow::{Context, Result, bail};
use clap::Args;
use commonware_runtime::{Runner, Supervisor};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::engine::Timeouts;
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_node::{NodeSpec, RunningNode, start_node};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_types::{Hash32, Transaction, TxPayload, encode};

/// Options of `trustmeter demo`.
#[derive(Args, Clone)]
pub struct DemoArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Number of simulated meters.
    #[arg(long, default_value_t = 300)]
    pub meters: usize,
    /// Stop after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Data directory, emptied at start and kept at the end (default: a fresh directory under the
    /// system temp dir, removed when the demo ends, however it ends).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// First API port (validator i serves on port + i).
    #[arg(long, default_value_t = 8_080)]
    pub api_port: u16,
    /// First p2p port.
    #[arg(long, default_value_t = 30_300)]
    pub p2p_port: u16,
    /// Days of plant history to replay before reporting in real time.
    #[arg(long, default_value_t = 3)]
    pub history_days: i64,
    /// Reading intervals (15 min each) replayed per second while catching up.
    #[arg(long, default_value_t = 4)]
    pub speed: u32,
    /// Chains: 1 (provincial) or 2 (provincial and national; the gateway sends to both).
    #[arg(long, default_value_t = 2)]
    pub chains: usize,
    /// Port of the gateway's local API.
    #[arg(long, default_value_t = 7_070)]
    pub gateway_port: u16,
    /// Seed for keys and the plant.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Enterprises of the provincial region, each with its own plant and gateway: the first runs
    /// the `--meters` plant with carbon accounts, quota and shift calendar; the others a smaller
    /// plant (a quarter of its meters, 4 to 100), so that rankings, regional totals and the big
    /// screen compare enterprises. 1 to 8.
    #[arg(long, default_value_t = 3)]
    pub enterprises: usize,
    /// Also start a follower (non-voting) node of the first chain on API port `api_port + 50`:
    /// it follows the validators' APIs, checks every block's finalization certificate, keeps
    /// its own state and index and serves the read API.
    #[arg(long)]
    pub follower: bool,
}

/// The API limits with the access rules enforced.
/// API connections each of the demo's nodes accepts: its nodes share one process, and so its
/// limit of open files.
const DEMO_API_CONNECTIONS: usize = 128;

fn enforced() -> trustmeter_node::api::limits::ApiConfig {
    trustmeter_node::api::limits::ApiConfig {
        access: Some(trustmeter_node::api::access::AccessMode::Enforced),
        max_connections: DEMO_API_CONNECTIONS,
        max_connections_per_ip: DEMO_API_CONNECTIONS,
        ..Default::default()
    }
}

/// `GET url` signed with a member's account key (RFC 9421).
async fn signed_get(
    http: &reqwest::Client,
    url: &str,
    key: &trustmeter_crypto::SigningKey,
) -> reqwest::Result<reqwest::Response> {
    let mut req = http.get(url).build()?;
    trustmeter_api_client::sign_request(&mut req, key);
    http.execute(req).await
}

/// Writes chain's member keys and prints how to read the chain's data as each of them.
fn print_sign_in(
    dir: &std::path::Path,
    chain: &DemoChain,
    org: &trustmeter_types::UnifiedSocialCreditCode,
    start_ms: i64,
) -> Result<()> {
    let api = &chain.submitter.apis[0];
    let members =
        crate::node::write_member_keys(&dir.join(format!("{}-members", chain.devnet.genesis.chain_id)), &chain.devnet)?;
    let day = trustmeter_energy::calendar::day_label(trustmeter_energy::calendar::day_number(start_ms));
    println!(
        "access control is on (RFC 9421 signed requests; unsigned, only public routes such as {api}/v1/status). Sign in to {} as:",
        chain.devnet.genesis.chain_id
    );
    for (label, path, code) in &members {
        let reads = match label.as_str() {
            "regulator" => "every enterprise of Hunan, rankings, access logs",
            "statistics" => "every enterprise of Hunan, rankings",
            "metrology" => "device records only: its query is refused",
            _ => "its own data only",
        };
        println!(
            "  {label:<12} {code}  trustmeter query daily --node {api} --org {org} --from {day} --key {}  ({reads})",
            path.display()
        );
    }
    println!("  who read {org}'s data: GET {api}/v1/access-log?org={org}, signed by it or its regulator");
    println!(
        "  dashboards: open {api}/app/ in a browser, pin the genesis, sign in with one of the key files above (regulator: region view and big screen; enterprise-0: its energy management)"
    );
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Posts transactions to the validators' APIs and tracks when they were sent.
///
/// Each sender's transactions go to one validator (chosen by its key), so they reach a block in
/// nonce order; different senders spread over all validators.
#[derive(Clone)]
struct Submitter {
    http: reqwest::Client,
    apis: Vec<String>,
}

impl Submitter {
    async fn submit(&self, tx: &Transaction) -> Result<Hash32> {
        let i = tx.body.sender.bytes.iter().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize))
            % self.apis.len();
        let resp = self
            .http
            .post(format!("{}/v1/transactions", self.apis[i]))
            .header("content-type", "application/octet-stream")
            .body(encode(tx))
            .send()
            .await
            .context("posting a transaction")?;
        if !resp.status().is_success() {
            let body = resp.text().await.unwrap_or_default();
            bail!("transaction {} refused: {body}", tx.body.payload.kind());
        }
        let v: serde_json::Value = resp.json().await.context("submission answer")?;
        let h = v["tx_hash"]
            .as_str()
            .and_then(|h| Hash32::from_hex(h).ok())
            .context("submission answer without tx_hash")?;
        Ok(h)
    }

    async fn wait_finalized(&self, hashes: &[Hash32], what: &str) -> Result<()> {
        let start = Instant::now();
        for h in hashes {
            loop {
                let v: serde_json::Value =
                    self.http.get(format!("{}/v1/transactions/{}", self.apis[0], h)).send().await?.json().await?;
                match v["status"].as_str() {
                    Some("finalized") => {
                        if v["receipt"]["outcome"]["status"] != "accepted" {
                            bail!("{what}: transaction {h} was not accepted: {}", v["receipt"]["outcome"]);
                        }
                        break;
                    }
                    Some("rejected") => bail!("{what}: transaction {h} rejected: {}", v["rejection"]),
                    _ => {}
                }
                if start.elapsed() > Duration::from_secs(60) {
                    bail!("{what}: not finalized within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Each validator admits against its own finalized state, and the next step may go
        // through another one: wait until every validator has applied these transactions.
        let height = |api: &str| {
            let url = format!("{api}/v1/status");
            async move {
                let v: serde_json::Value = self.http.get(url).send().await?.json().await?;
                anyhow::Ok(v["finalized_height"].as_u64().unwrap_or(0))
            }
        };
        let target = height(&self.apis[0]).await?;
        for api in &self.apis {
            while height(api).await? < target {
                if start.elapsed() > Duration::from_secs(60) {
                    bail!("{what}: {api} did not reach height {target} within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Stats {
    readings: u64,
    blocks: u64,
    finality_ms: Vec<u64>,
}

fn p50(v: &mut [u64]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Blocks per epoch on the demo's chains (about 10 s at the demo's ~5 blocks/s).
const DEMO_EPOCH_LENGTH: u64 = 50;

/// One chain of the demo: its devnet, running validators and onboarding client.
struct DemoChain {
    devnet: Devnet,
    nodes: Vec<RunningNode>,
    /// A validator outside genesis (`validator-4`), elected by stake during the run.
    candidate: Option<RunningNode>,
    /// p2p and API base ports.
    ports: (u16, u16),
    submitter: Submitter,
    stats: Arc<Mutex<Stats>>,
    genesis_path: PathBuf,
}

/// The spec of the chain's validator `i` (its key, its ports, its files under `dir`).
fn node_spec(
    dir: &std::path::Path,
    devnet: &Devnet,
    i: usize,
    key: commonware_cryptography::ed25519::PrivateKey,
    (p2p_port, api_port): (u16, u16),
) -> Result<NodeSpec> {
    let chain_id = devnet.genesis.chain_id.as_str();
    Ok(NodeSpec {
        name: format!("{chain_id}-validator-{i}"),
        genesis: devnet.genesis.clone(),
        key,
        p2p_listen: format!("127.0.0.1:{}", p2p_port + i as u16).parse()?,
        api_listen: format!("127.0.0.1:{}", api_port + i as u16).parse()?,
        index_path: dir.join(format!("{chain_id}-validator-{i}-index.redb")),
        state_path: dir.join(format!("{chain_id}-validator-{i}-state.redb")),
        allow_private_ips: true,
        timeouts: Timeouts::default(),
        alarms: Default::default(),
        // Access control on: members read what their role, region and grants allow.
        api: enforced(),
        state_sync: false,
        state_cache_mib: trustmeter_node::config::DEFAULT_STATE_CACHE_MIB,
    })
}

/// A fifth validator for `chain`, outside its genesis: the statistics bureau registers it (its
/// consensus key's proof of possession) and bonds 200 000 TMC of its own, twice a genesis
/// validator's stake; the node starts from an empty disk and follows. The end of the current
/// epoch elects it for the epoch after next, in place of the genesis validator that loses the
/// tie-break among equal stakes; from then on it votes and the replaced one only follows.
async fn add_candidate(
    ctx: &commonware_runtime::tokio::Context,
    dir: &std::path::Path,
    chain: &mut DemoChain,
) -> Result<()> {
    use trustmeter_types::economy::{StakingOp, TOKEN, validator_proof_payload};
    let dn = &chain.devnet;
    let index = dn.genesis.validators.len();
    let chain_id = dn.genesis.chain_id.clone();
    let key =
        trustmeter_chain::devnet::devnet_validator_key(dn.genesis.devnet_seed.unwrap_or(0), chain_id.as_str(), index);
    let signing = trustmeter_crypto::SigningKey::ed25519_from_seed(
        commonware_codec::Encode::encode(&key).as_ref().try_into().context("a 32-byte Ed25519 seed")?,
    );
    // Two free loopback ports (the demo's port blocks hold the genesis validators only).
    let [p2p, api] = <[std::net::SocketAddr; 2]>::try_from(trustmeter_node::ports::loopback_addrs(2))
        .map_err(|_| anyhow::anyhow!("two free loopback ports"))?;
    let org = dn.statistics.org.id.clone();
    let proof = signing.sign(&validator_proof_payload(chain_id.as_str(), &org, &signing.public_key()));
    let nonce = next_nonce(&chain.submitter, &dn.statistics.key.public_key()).await?;
    let op = |nonce, op| {
        trustmeter_crypto::sign_tx(
            &dn.statistics.key,
            trustmeter_types::TxBody {
                chain_id: chain_id.clone(),
                sender: dn.statistics.key.public_key(),
                nonce,
                payload: TxPayload::Staking { op },
            },
        )
    };
    let register = op(
        nonce,
        StakingOp::RegisterValidator {
            consensus_key: signing.public_key(),
            name: format!("validator-{index}"),
            p2p_address: p2p.to_string(),
            commission_percent: 5,
            proof,
        },
    );
    let h = chain.submitter.submit(&register).await?;
    chain.submitter.wait_finalized(&[h], "registering validator-4").await?;
    let bond = op(nonce + 1, StakingOp::Delegate { validator: signing.public_key(), amount: 200_000 * TOKEN });
    let h = chain.submitter.submit(&bond).await?;
    chain.submitter.wait_finalized(&[h], "bonding validator-4's stake").await?;
    let mut spec = node_spec(dir, dn, index, key, chain.ports)?;
    (spec.p2p_listen, spec.api_listen) = (p2p, api);
    let node =
        start_node(ctx.child("node").with_attribute("chain", chain_id.as_str()).with_attribute("index", index), spec)
            .await
            .with_context(|| format!("starting {chain_id} validator {index}"))?;
    let height = chain.nodes[0].app.finalized_height();
    let p = &dn.genesis.params.economy.staking;
    println!(
        "chain {chain_id}: validator-{index} registered by the statistics bureau with 200000 TMC bonded at height {height}, \
         started from an empty disk (API http://{}); the end of epoch {} (height {}) elects it for epoch {}",
        node.api_addr,
        p.epoch_of(height),
        p.last_of(p.epoch_of(height)),
        p.epoch_of(height) + 2
    );
    chain.candidate = Some(node);
    Ok(())
}

/// The next nonce of `key` on the chain (its last accepted one + 1).
async fn next_nonce(s: &Submitter, key: &trustmeter_types::PublicKey) -> Result<u64> {
    let v: serde_json::Value =
        s.http.get(format!("{}/v1/accounts/{}", s.apis[0], key.to_text())).send().await?.json().await?;
    Ok(v["last_nonce"].as_u64().unwrap_or(0) + 1)
}

/// Starts `args.validators` validators of `chain_id` in `ctx` (with `args.enterprises` member
/// enterprises), on ports from `p2p_port` and `api_port`.
async fn start_chain(
    ctx: &commonware_runtime::tokio::Context,
    dir: &std::path::Path,
    chain_id: &str,
    args: &DemoArgs,
    (p2p_port, api_port): (u16, u16),
) -> Result<DemoChain> {
    let validators = args.validators;
    let mut devnet = Devnet::new(chain_id, validators, args.enterprises, args.seed, now_ms(), p2p_port);
    // Short epochs, so that the demo's run sees an election change the validator set.
    devnet.genesis.params.economy.staking.epoch_length = DEMO_EPOCH_LENGTH;
    let genesis_path = dir.join(format!("{chain_id}-genesis.json"));
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&devnet.genesis)?)?;
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, key) in devnet.validator_keys.iter().enumerate() {
        let spec = node_spec(dir, &devnet, i, key.clone(), (p2p_port, api_port))?;
        let node = start_node(ctx.child("node").with_attribute("chain", chain_id).with_attribute("index", i), spec)
            .await
            .with_context(|| format!("starting {chain_id} validator {i}"))?;
        nodes.push(node);
    }
    let apis: Vec<String> = nodes.iter().map(|n| format!("http://{}", n.api_addr)).collect();
    println!(
        "chain {chain_id}: {validators} validators; API {}/v1/status (OpenAPI {}/openapi.json); dashboards {}/app/ (any validator's port)",
        apis[0], apis[0], apis[0]
    );
    let submitter = Submitter {
        http: reqwest::Client::builder().pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT).build()?,
        apis,
    };
    // Statistics from validator 0's finalized blocks.
    let stats = Arc::new(Mutex::new(Stats::default()));
    let (sink, mut rx) = futures::channel::mpsc::unbounded();
    nodes[0].app.subscribe(sink);
    {
        let stats = stats.clone();
        tokio::spawn(async move {
            while let Some(f) = rx.next().await {
                let now = now_ms();
                let mut s = stats.lock().expect("lock");
                s.blocks += 1;
                s.readings += f.block.block.header.readings_accepted as u64;
                s.finality_ms.push((now - f.block.block.header.timestamp_ms).max(0) as u64);
            }
        });
    }
    Ok(DemoChain { devnet, nodes, candidate: None, ports: (p2p_port, api_port), submitter, stats, genesis_path })
}

/// Onboards the plant's gateway (with key `gateway_key`) and meters on `chain` for the chain's
/// enterprise number `member`: the enterprise registers, the metrology authority calibrates,
/// the regulator activates (meters first, the gateway last); with `carbon_dir`, the
/// enterprise's carbon accounts follow ([`carbon_accounts`]), and with `shifts_from` its shift
/// calendar from that day (`YYYYMMDD`, three shifts, four teams on a rotation), finalized with
/// the quota's transactions. Returns the enterprise's signer, at its next nonce.
async fn onboard(
    chain: &DemoChain,
    member: usize,
    plant: &Plant,
    gateway_key: &trustmeter_types::PublicKey,
    cal: (i64, i64),
    carbon_dir: Option<&std::path::Path>,
    shifts_from: Option<u32>,
) -> Result<TxSigner> {
    let d = &chain.devnet;
    let id = d.genesis.chain_id.clone();
    let sub = &chain.submitter;
    let member = &d.enterprises[member];
    let mut ent = TxSigner::new(member.key.clone(), id.clone(), next_nonce(sub, &member.key.public_key()).await?);
    let h = sub
        .submit(
            &ent.sign(TxPayload::RegisterGateway { id: plant.gateway_id().clone(), public_key: gateway_key.clone() }),
        )
        .await?;
    sub.wait_finalized(&[h], "gateway registration").await?;
    // Master meters first: a node admits a meter naming its master only once the master is
    // finalized.
    for batch in plant.register_meter_batches() {
        let mut hs = Vec::new();
        for p in batch {
            hs.push(sub.submit(&ent.sign(p)).await?);
        }
        sub.wait_finalized(&hs, "meter registration").await?;
    }
    // The authorities onboard every enterprise: their nonces go on from the chain's.
    let mut metrology =
        TxSigner::new(d.metrology.key.clone(), id.clone(), next_nonce(sub, &d.metrology.key.public_key()).await?);
    let mut regulator =
        TxSigner::new(d.regulator.key.clone(), id.clone(), next_nonce(sub, &d.regulator.key.public_key()).await?);
    let mut hs = Vec::new();
    for p in plant.calibration_payloads(&d.metrology.org.id, cal.0, cal.1) {
        hs.push(sub.submit(&metrology.sign(p)).await?);
    }
    for spec in plant.meter_specs() {
        hs.push(sub.submit(&regulator.sign(TxPayload::ActivateDevice { device: spec.id })).await?);
    }
    hs.push(sub.submit(&regulator.sign(TxPayload::ActivateDevice { device: plant.gateway_id().clone() })).await?);
    sub.wait_finalized(&hs, "calibration and activation").await?;
    if let Some(dir) = carbon_dir {
        carbon_accounts(chain, &mut ent, dir).await?;
        let calendar = shifts_from
            .map(|day| ent.sign(TxPayload::SetShiftCalendar { calendar: trustmeter_plant::shifts::calendar(day) }));
        quota(chain, &mut ent, &mut regulator, calendar).await?;
        // What the public sees (信息公开): the regulator discloses the province's rankings and
        // aggregate figures; the enterprise publishes its own figures for a year (公开承诺).
        let public = [
            regulator.sign(TxPayload::SetDisclosure {
                region: member.org.region / 10_000 * 10_000,
                disclosure: trustmeter_types::Disclosure { regional_figures: true, rankings: true },
            }),
            ent.sign(TxPayload::PublishFigures { until_ms: now_ms() + 365 * 86_400_000 }),
        ];
        let mut hs = Vec::new();
        for tx in &public {
            hs.push(sub.submit(tx).await?);
        }
        sub.wait_finalized(&hs, "disclosure and publication").await?;
    }
    Ok(ent)
}

/// The amounts of the plant's documented carbon entries: (file name, evidence kind, entry data).
fn carbon_entries() -> Vec<(&'static str, trustmeter_types::EvidenceKind, trustmeter_types::CarbonEntryData)> {
    use trustmeter_types::carbon::{CarbonEntryData as D, GasFilling};
    use trustmeter_types::{EvidenceKind as K, Quantity};
    let t = |micros: i64| Quantity::from_micros(micros);
    vec![
        ("diesel-invoice.txt", K::Invoice, D::Fuel { fuel: "diesel".into(), amount: t(3_000_000) }),
        (
            "sf6-filling-ledger.txt",
            K::InventoryLedger,
            D::Fgas {
                gas: "SF6".into(),
                opening_t: t(50_000),
                closing_t: t(30_000),
                purchased_t: t(100_000),
                sold_t: t(0),
                fills: 120,
                filling: GasFilling::Containers { before_t: t(12_000_000), after_t: t(11_920_000) },
            },
        ),
        (
            "welding-gas-ledger.txt",
            K::InventoryLedger,
            D::Welding {
                opening_t: t(200_000),
                purchased_t: t(1_500_000),
                closing_t: t(300_000),
                sold_t: t(0),
                v_co2: t(200_000),
                v_ar: t(800_000),
                v_o2: t(0),
            },
        ),
        (
            "green-certificates.txt",
            K::Certificate,
            D::GreenCertificates { batch: "GEC-DEMO-HN".into(), first: 1, count: 100, vintage: 0 },
        ),
    ]
}

/// The plant's carbon accounts on the provincial chain: its monitoring plan (GB/T 32151.29-2024,
/// machinery manufacturing, from this month) and this month's documented entries, each with an
/// evidence file written under `dir` and uploaded to every validator first: diesel for the
/// forklifts by invoice, the SF6-filling line's ledger, the welding-gas ledger and 100 green
/// certificates (100 MWh).
async fn carbon_accounts(chain: &DemoChain, ent: &mut TxSigner, dir: &std::path::Path) -> Result<()> {
    let d = &chain.devnet;
    let member = &d.enterprises[0];
    let month = trustmeter_state::carbon::month_of(now_ms());
    let client = trustmeter_api_client::NodeClient::new(chain.submitter.apis.clone(), Duration::from_secs(10))?
        .with_signer(member.key.clone());
    std::fs::create_dir_all(dir)?;
    // The plan first: validators admit an entry against the plan they have finalized.
    let plan = chain
        .submitter
        .submit(&ent.sign(TxPayload::SetCarbonPlan { methodology: "GB/T 32151.29-2024".into(), from_month: month }))
        .await?;
    chain.submitter.wait_finalized(&[plan], "monitoring plan").await?;
    let mut hs = vec![];
    for (number, (name, kind, mut data)) in carbon_entries().into_iter().enumerate() {
        if let trustmeter_types::CarbonEntryData::GreenCertificates { vintage, .. } = &mut data {
            *vintage = month;
        }
        let text = format!("{name}: {}\n", serde_json::to_string(&data)?);
        std::fs::write(dir.join(name), &text)?;
        let hash = trustmeter_crypto::hash(d.genesis.params.hash, text.as_bytes());
        client
            .put_evidence(&member.org.id, text.as_bytes(), &hash)
            .await
            .with_context(|| format!("uploading {name}"))?;
        let entry = trustmeter_types::CarbonEntry {
            month,
            number: number as u32 + 1,
            data: Some(data),
            evidence: vec![trustmeter_types::Evidence { hash, bytes: text.len() as u64, kind, name: name.into() }],
            note: "demo plant".into(),
        };
        hs.push(chain.submitter.submit(&ent.sign(TxPayload::RecordCarbonEntry { entry })).await?);
    }
    chain.submitter.wait_finalized(&hs, "monitoring plan and carbon entries").await
}

/// The plant's quota for this year: the enterprise's own reference (its internal carbon budget),
/// then the regulator's pre-allocation, which supersedes it: 70 % of an assumed 2025 verified
/// figure of 20 000 t (the demo chain has no 2025 to verify). `first`, an enterprise transaction
/// signed before these (its shift calendar), is submitted first and finalized with them: no
/// extra wait at start-up.
async fn quota(
    chain: &DemoChain,
    ent: &mut TxSigner,
    regulator: &mut TxSigner,
    first: Option<Transaction>,
) -> Result<()> {
    use trustmeter_types::compliance::{AllocationKind, QuotaOp};
    let org = chain.devnet.enterprises[0].org.id.clone();
    let year = trustmeter_state::carbon::month_of(now_ms()) / 100;
    let t = |tonnes: i64| trustmeter_types::Quantity::from_micros(tonnes * 1_000_000);
    let ops = [
        ent.sign(TxPayload::Quota {
            org: org.clone(),
            year,
            op: QuotaOp::Reference { amount: t(15_000), basis: "internal carbon budget".into() },
        }),
        regulator.sign(TxPayload::Quota {
            org,
            year,
            op: QuotaOp::Allocate {
                kind: AllocationKind::Pre,
                amount: t(14_000),
                basis: "70 % x assumed 2025 verified 20 000 t".into(),
            },
        }),
    ];
    let mut hs = vec![];
    for tx in first.iter().chain(&ops) {
        hs.push(chain.submitter.submit(tx).await?);
    }
    chain.submitter.wait_finalized(&hs, "quota reference, pre-allocation and shift calendar").await
}

/// Records each finished shift's output of the plant (deterministic from its production model,
/// `trustmeter_plant::shifts`) on the provincial chain as the plant's clock passes the shift's
/// end; the team is the calendar's rotation's, resolved by the chain.
struct ShiftRecorder {
    /// The enterprise's signer on the provincial chain.
    signer: TxSigner,
    /// The calendar's first day (day number), where its rotation starts.
    rotation_start: i32,
    /// Shifts ending up to here are recorded (plant time, Unix ms).
    done_ms: i64,
    /// The plant's seed.
    seed: u64,
    /// The plant's meters (its output scales with them, as its energy does).
    meters: usize,
    /// The plant's first instant: a shift that started before it has no readings for its start,
    /// so no output is recorded for it.
    plant_start_ms: i64,
    /// Whether a refusal was printed already (one line, not one per shift).
    warned: bool,
}

impl ShiftRecorder {
    /// Submits the output of every shift that ended since the last call, without waiting.
    async fn record(&mut self, chain: &DemoChain, plant_now_ms: i64) {
        use trustmeter_plant::shifts::{output, runs_ending};
        let runs = runs_ending(self.done_ms, plant_now_ms, self.rotation_start);
        for run in runs.into_iter().filter(|r| r.start_ms >= self.plant_start_ms) {
            let tx = self.signer.sign(TxPayload::RecordShiftOutput {
                output: trustmeter_types::ShiftOutput {
                    day: run.day,
                    shift: run.name().into(),
                    team: None,
                    products: output(self.seed, self.meters, &run),
                    note: "counted at the end of the shift".into(),
                },
            });
            if let Err(e) = chain.submitter.submit(&tx).await
                && !std::mem::replace(&mut self.warned, true)
            {
                println!("        shift output of {} {} not recorded: {e:#}", run.day, run.name());
            }
        }
        self.done_ms = self.done_ms.max(plant_now_ms);
    }
}

/// The gateway's config for the plant: one simulator point per meter, polled every 15 minutes
/// of simulated time, sent to every chain; its files in `dir/name`, its API on `port`.
fn gateway_config(
    plant: &Plant,
    (dir, name, port): (&std::path::Path, &str, u16),
    chains: &[DemoChain],
    args: &DemoArgs,
    start_ms: i64,
) -> Result<GatewayConfig> {
    use std::fmt::Write as _;
    let mut t = String::new();
    writeln!(
        t,
        "[gateway]\nid = \"{}\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:{}\"",
        plant.gateway_id(),
        dir.join(name).display(),
        port
    )?;
    writeln!(t, "simulation_speed = {}\nsimulation_start_ms = {start_ms}", args.speed as f64 * 900.0)?;
    // Simulated time runs hours per second: an hour-old backlog is normal while replaying.
    writeln!(t, "\n[alarms]\nbacklog_age_s = 604800")?;
    for (i, c) in chains.iter().enumerate() {
        let name = if i == 0 { "provincial" } else { "national" };
        let nodes: Vec<String> = c.submitter.apis.iter().map(|u| format!("{u:?}")).collect();
        // The gateway checks every receipt, policy and meter record against the chain's genesis.
        writeln!(
            t,
            "\n[[destination]]\nname = \"{name}\"\nnodes = [{}]\ngenesis = {:?}\nmax_backoff_ms = 2000",
            nodes.join(", "),
            c.genesis_path.display().to_string()
        )?;
    }
    let rated = plant.rated_per_hour();
    // A master meter's point records its sub-meters' points plus the plant's loss for it.
    let (masters, losses) = (plant.masters(), plant.loss_rates());
    for (i, spec) in plant.meter_specs().iter().enumerate() {
        let unit = serde_json::to_value(spec.unit)?;
        writeln!(
            t,
            "\n[[point]]\nmeter = \"{}\"\ndriver = \"simulator\"\nseed = {}\nrated_per_hour = {}\nstart = \"{}\"\nregister_max = \"{}\"\nunit = {unit}\npoll_interval_s = 900",
            spec.id,
            plant.config().seed * 100_000 + i as u64,
            rated[&spec.id],
            (i as i64 * 7_919) % 100_000,
            spec.register_max,
        )?;
        if let Some(subs) = masters.get(&spec.id) {
            let ids: Vec<String> = subs.iter().map(|s| format!("{:?}", s.as_str())).collect();
            writeln!(t, "sub_meters = [{}]\nloss = {}", ids.join(", "), losses[&spec.id])?;
        }
    }
    Ok(GatewayConfig::parse(&t)?)
}

/// Everything the demo started before it reports live.
struct Running {
    chains: Vec<DemoChain>,
    follower: Option<RunningNode>,
    plant: Plant,
    enterprise: trustmeter_chain::devnet::Member,
    gateway: trustmeter_gateway::GatewayHandle,
    /// The other enterprises' gateways (`--enterprises` beyond the first).
    others: Vec<trustmeter_gateway::GatewayHandle>,
    shifts: ShiftRecorder,
}

/// Meters of the plant of each enterprise after the first: a quarter of the first's, 4 to 100.
fn other_plant_meters(meters: usize) -> usize {
    (meters / 4).clamp(4, 100)
}

/// Makes a gateway's key file (as `trustmeter gateway init` would, on the device) under
/// `dir/name`.
fn gateway_key_file(
    dir: &std::path::Path,
    name: &str,
    org: &trustmeter_types::UnifiedSocialCreditCode,
    plant: &Plant,
) -> Result<trustmeter_crypto::SigningKey> {
    std::fs::create_dir_all(dir.join(name))?;
    let meta =
        trustmeter_keystore::KeyMeta { organisation: Some(org.clone()), device: Some(plant.gateway_id().clone()) };
    Ok(trustmeter_keystore::KeyFile::generate(
        &dir.join(name).join("gateway.key"),
        trustmeter_types::KeyScheme::Ed25519,
        "demo gateway",
        &meta,
        None,
    )?)
}

/// Starts the chains, onboards the plant on each and starts its gateway.
async fn start_all(
    ctx: &commonware_runtime::tokio::Context,
    dir: &std::path::Path,
    args: &DemoArgs,
) -> Result<Running> {
    let mut chains = Vec::new();
    for (i, id) in ["hunan-1", "national-1"].iter().take(args.chains).enumerate() {
        let off = (i * 100) as u16;
        chains.push(start_chain(ctx, dir, id, args, (args.p2p_port + off, args.api_port + off)).await?);
    }

    let follower = if args.follower {
        let c = &chains[0];
        let spec = trustmeter_node::follow::FollowerSpec {
            name: format!("{}-follower", c.devnet.genesis.chain_id),
            genesis: c.devnet.genesis.clone(),
            upstream: c.submitter.apis.clone(),
            api_listen: format!("127.0.0.1:{}", args.api_port + 50).parse()?,
            index_path: dir.join(format!("{}-follower-index.redb", c.devnet.genesis.chain_id)),
            state_path: dir.join(format!("{}-follower-state.redb", c.devnet.genesis.chain_id)),
            alarms: Default::default(),
            api: enforced(),
            // The regulator's account: validators serve raw blocks to authorities.
            key: Some(c.devnet.regulator.key.clone()),
        };
        let node = trustmeter_node::follow::start_follower(spec).await.context("starting the follower")?;
        println!(
            "chain {}: follower (non-voting, checks every finalization certificate) API http://{}/v1/status",
            c.devnet.genesis.chain_id, node.api_addr
        );
        Some(node)
    } else {
        None
    };

    // The plant, its gateway key (generated on the device, kept in a key file) and onboarding.
    let enterprise = chains[0].devnet.enterprises[0].clone();
    let start_ms = (now_ms() - args.history_days * 86_400_000) / 900_000 * 900_000;
    let plant = Plant::new(PlantConfig {
        meters: args.meters,
        start_ms,
        meter_key_share: 0.0,
        ..PlantConfig::new(enterprise.org.id.clone(), args.seed)
    });
    print_sign_in(dir, &chains[0], &enterprise.org.id, start_ms)?;
    let gateway_key = gateway_key_file(dir, "gateway", &enterprise.org.id, &plant)?;
    // The region's other enterprises: smaller plants, each behind its own gateway.
    let mut others = Vec::new();
    for i in 1..args.enterprises {
        let member = chains[0].devnet.enterprises[i].clone();
        let plant = Plant::new(PlantConfig {
            meters: other_plant_meters(args.meters),
            start_ms,
            meter_key_share: 0.0,
            ..PlantConfig::new(member.org.id.clone(), args.seed + 1_000 * i as u64)
        });
        let key = gateway_key_file(dir, &format!("gateway-{i}"), &member.org.id, &plant)?;
        others.push((i, plant, key));
    }
    let t0 = Instant::now();
    let cal = (start_ms - 30 * 86_400_000, now_ms() + 365 * 86_400_000);
    // The shift calendar from the plant's first day (at most 62 days back: the chain's bound).
    let local_day = |ms: i64| (ms + 8 * 3_600_000).div_euclid(86_400_000) as i32;
    let shifts_day = local_day(start_ms).max(local_day(now_ms()) - trustmeter_types::shifts::SHIFT_BACKDATE_DAYS);
    let shifts_from = trustmeter_types::shifts::date_of_day(shifts_day).context("the calendar's first day")?;
    let mut signer = None;
    for (i, c) in chains.iter().enumerate() {
        // The carbon accounts and the shift calendar are kept on the provincial chain.
        let evidence_dir = dir.join("evidence");
        let provincial = i == 0;
        for (i, plant, key) in &others {
            onboard(c, *i, plant, &key.public_key(), cal, None, None).await?;
        }
        let ent = onboard(
            c,
            0,
            &plant,
            &gateway_key.public_key(),
            cal,
            provincial.then_some(evidence_dir.as_path()),
            provincial.then_some(shifts_from),
        )
        .await?;
        if provincial {
            signer = Some(ent);
        }
    }
    let shifts = ShiftRecorder {
        signer: signer.context("the provincial chain's enterprise signer")?,
        rotation_start: shifts_day,
        done_ms: i64::from(shifts_day) * 86_400_000 - 8 * 3_600_000,
        seed: args.seed,
        meters: args.meters,
        plant_start_ms: start_ms,
        warned: false,
    };
    // An election that changes the provincial chain's validator set while readings go on.
    add_candidate(ctx, dir, &mut chains[0]).await?;
    println!(
        "onboarded gateway {} and {} meters on {} chain(s) (registered by the enterprise, calibrated by the metrology authority, activated by the regulator) in {:.1} s",
        plant.gateway_id(),
        args.meters,
        chains.len(),
        t0.elapsed().as_secs_f64()
    );
    if !others.is_empty() {
        println!(
            "  and {} more enterprise(s) of the region, each a {}-meter plant behind its own gateway: {}",
            others.len(),
            other_plant_meters(args.meters),
            others
                .iter()
                .map(|(i, _, _)| chains[0].devnet.enterprises[*i].org.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // The gateway: simulated meters, replaying `history_days` at `speed` intervals per second,
    // then real time; it signs, stores and sends to every chain.
    let cfg = gateway_config(&plant, (dir, "gateway", args.gateway_port), &chains, args, start_ms)?;
    let clock = trustmeter_gateway::clock_for(&cfg);
    let gateway = trustmeter_gateway::start(cfg, gateway_key, clock).await?;
    let mut other_gateways = Vec::new();
    for (i, plant, key) in others {
        // The other gateways' local APIs on ports the system picks (a fixed range next to
        // --gateway-port could collide with another program's, or another demo's).
        let cfg = gateway_config(&plant, (dir, &format!("gateway-{i}"), 0), &chains, args, start_ms)?;
        let clock = trustmeter_gateway::clock_for(&cfg);
        let g = trustmeter_gateway::start(cfg, key, clock).await?;
        println!(
            "  gateway {} of {}: status page http://{}/",
            plant.gateway_id(),
            plant.config().enterprise,
            g.api_addr
        );
        other_gateways.push(g);
    }
    println!(
        "gateway running; status: trustmeter gateway status --config <its config> or http://{}/ (its status page)",
        gateway.api_addr
    );
    Ok(Running { chains, follower, plant, enterprise, gateway, others: other_gateways, shifts })
}

/// Runs the demo.
///
/// Its data directory is removed when it ends — at `--duration`, on Ctrl-C or SIGTERM (at any
/// moment, start-up included), or on an error — unless `--data-dir` was given.
pub fn run(args: DemoArgs) -> Result<()> {
    anyhow::ensure!((1..=2).contains(&args.chains), "--chains is 1 (provincial) or 2 (provincial and national)");
    anyhow::ensure!((1..=8).contains(&args.enterprises), "--enterprises is 1 to 8");
    let data = DataDir::new(args.data_dir.as_deref(), "trustmeter-demo")?;
    let dir = data.path().to_path_buf();
    println!(
        "Trustmeter demo: {} chain(s) of {} validators, a {}-meter plant behind one gateway and {} more enterprise(s) of {} meters; data in {} ({})",
        args.chains,
        args.validators,
        args.meters,
        args.enterprises - 1,
        other_plant_meters(args.meters),
        dir.display(),
        data.fate()
    );

    // Every node of the demo (and its follower) in this one process: their API connections and
    // one reserve each must fit the limit of open files.
    let nodes = args.chains * args.validators + 1;
    match trustmeter_httpserve::fd_budget(nodes * DEMO_API_CONNECTIONS, nodes as u64 * trustmeter_node::FD_RESERVE / 4)
    {
        Ok(files) => tracing::info!(open_files = files, "file descriptor budget"),
        Err(e) => tracing::warn!("{e}"),
    }
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(dir.join("consensus")),
    );
    let result = runner.start(|ctx| async move {
        let mut stop = StopSignals::new()?;
        let running = tokio::select! {
            r = start_all(&ctx, &dir, &args) => r?,
            sig = stop.recv() => {
                println!("\n{sig} while starting: stopping");
                return Ok(());
            }
        };
        live(running, &dir, &args, &mut stop).await
    });
    // Every task has stopped (the runtime is gone): now the directory can go.
    let (path, temporary) = (data.path().to_path_buf(), data.is_temporary());
    drop(data);
    if temporary && !path.exists() {
        println!("removed the demo's data directory {} (--data-dir DIR keeps it)", path.display());
    }
    result
}

/// Reports progress until `--duration` or a stop signal, then stops the gateway and checks a
/// proof of one reading on each chain.
async fn live(running: Running, dir: &std::path::Path, args: &DemoArgs, stop: &mut StopSignals) -> Result<()> {
    let Running { chains, follower, plant, enterprise, gateway: gw, others, mut shifts } = running;
    let deadline = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    let started = Instant::now();
    let mut last = vec![(0u64, Instant::now()); chains.len()];
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut ticks = 0u64;
    // The provincial chain's validator set by epoch, printed when it changes (an election).
    let mut shown_set: Option<(u64, Vec<String>)> = None;
    tick.tick().await;
    loop {
        tokio::select! {
            sig = stop.recv() => { println!("\n{sig}: stopping"); break; }
            _ = tick.tick() => {}
        }
        let status = gw.runtime.status()?;
        shifts.record(&chains[0], status.now_ms).await;
        let mut line = format!(
            "[{:>4}s] plant time {}  stored {:>7}",
            started.elapsed().as_secs(),
            fmt_time(status.now_ms),
            status.next_id - 1
        );
        for (i, c) in chains.iter().enumerate() {
            let st = c.nodes[0].app.finalized_state();
            let mut s = c.stats.lock().expect("lock");
            let rate = (s.readings - last[i].0) as f64 / last[i].1.elapsed().as_secs_f64();
            last[i] = (s.readings, Instant::now());
            let fin = p50(&mut s.finality_ms);
            s.finality_ms.clear();
            let backlog = status
                .destinations
                .iter()
                .find(|d| d.chain_id.as_deref() == Some(c.devnet.genesis.chain_id.as_str()))
                .map(|d| d.backlog)
                .unwrap_or(0);
            line.push_str(&format!(
                " | {} h{:>5} {:>7} rec ({:>5.0}/s) fin p50 {:>3} ms backlog {:>5}",
                c.devnet.genesis.chain_id, st.height, s.readings, rate, fin, backlog
            ));
        }
        if !status.alarms.is_empty() {
            line.push_str(&format!(" | {} alarms", status.alarms.len()));
        }
        println!("{line}");
        {
            let st = chains[0].nodes[0].app.finalized_state();
            let epoch = st.params.economy.staking.epoch_of(st.height);
            if let Some(set) = st.validator_set(epoch) {
                let names: Vec<String> = set.members.iter().map(|m| m.name.clone()).collect();
                let changed = shown_set.as_ref().is_none_or(|(_, before)| *before != names);
                if changed {
                    let diff = match &shown_set {
                        Some((_, before)) => {
                            let added: Vec<&String> = names.iter().filter(|n| !before.contains(n)).collect();
                            let removed: Vec<&String> = before.iter().filter(|n| !names.contains(n)).collect();
                            format!(
                                " — elected: {}; replaced: {} (it keeps following); readings keep being finalized",
                                added.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                                removed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            )
                        }
                        None => String::new(),
                    };
                    println!(
                        "        {}: epoch {epoch} (heights {}–{}), validators {}{diff}",
                        chains[0].devnet.genesis.chain_id,
                        epoch * st.params.economy.staking.epoch_length,
                        st.params.economy.staking.last_of(epoch),
                        names.join(", ")
                    );
                    shown_set = Some((epoch, names));
                }
            }
        }
        ticks += 1;
        if ticks.is_multiple_of(5) {
            let st = chains[0].nodes[0].app.finalized_state();
            println!(
                "        {}: {}",
                chains[0].devnet.genesis.chain_id,
                crate::demo_figures::day_line(&st, &enterprise.org.id, status.now_ms)
            );
            println!("        {}", crate::demo_figures::carbon_line(&st, &enterprise.org.id, status.now_ms));
            println!("        {}", crate::demo_figures::quota_line(&st, &enterprise.org.id));
            println!(
                "        {}",
                crate::demo_figures::shifts_line(&st, &chains[0].nodes[0].index, &enterprise.org.id, status.now_ms)
            );
            let active = chains[0].nodes[0].alarms.active(Some(&enterprise.org.id));
            if !active.alarms.is_empty() {
                println!(
                    "        {}: alarms {} ({}); trustmeter alarms --node {} --follow",
                    chains[0].devnet.genesis.chain_id,
                    active.alarms.len(),
                    trustmeter_analytics::alarms::AlarmHub::by_kind(&active.alarms),
                    chains[0].submitter.apis[0]
                );
            }
        }
        if deadline.map(|d| Instant::now() >= d).unwrap_or(false) {
            println!("\n--duration reached: stopping");
            break;
        }
    }
    let status = gw.runtime.status()?;
    gw.stop().await;
    for g in others {
        g.stop().await;
    }
    for a in &status.alarms {
        println!("alarm [{}] {} {}: {}", a.severity, a.kind, a.subject, a.message);
    }

    // A proof for one recorded reading on each chain, checked offline.
    let keep = if args.data_dir.is_some() { "" } else { " (rerun with --data-dir DIR to keep these files)" };
    let meter = plant.meter_specs()[0].id.clone();
    for c in &chains {
        let proof_path = dir.join(format!("proof-{}.json", c.devnet.genesis.chain_id));
        // The meter's last reading: recorded after the elections, its bundle carries the chain of
        // validator sets from the genesis (one finalized boundary per epoch).
        let last_seq = c.nodes[0].app.finalized_state().progress(&meter).map_or(1, |p| p.last_seq.max(1));
        let url = format!("{}/v1/meters/{}/readings/{last_seq}/proof", c.submitter.apis[0], meter);
        match signed_get(&c.submitter.http, &url, &c.devnet.enterprises[0].key).await {
            Ok(r) if r.status().is_success() => {
                let text = r.text().await?;
                std::fs::write(&proof_path, &text)?;
                let bundle = trustmeter_client::ProofBundle::from_json(&text)?;
                match trustmeter_client::verify(&bundle, Some(&c.devnet.genesis)) {
                    Ok(v) => println!(
                        "{}: proof of {} seq {} (block {}, epoch {}: {} validator-set links from the genesis) verifies offline; try: trustmeter verify {} --genesis {}{keep}",
                        c.devnet.genesis.chain_id,
                        v.meter,
                        v.seq,
                        v.height,
                        v.height / DEMO_EPOCH_LENGTH,
                        bundle.epochs.len(),
                        proof_path.display(),
                        c.genesis_path.display()
                    ),
                    Err(e) => println!("{}: proof did NOT verify: {e}", c.devnet.genesis.chain_id),
                }
            }
            Ok(r) => println!("{}: no proof yet for {meter}: {}", c.devnet.genesis.chain_id, r.status()),
            Err(e) => println!("could not fetch a proof: {e}"),
        }
        let st = c.nodes[0].app.finalized_state();
        println!(
            "{}: height {}, state root {}, {} readings recorded",
            c.devnet.genesis.chain_id,
            st.height,
            st.root(),
            c.stats.lock().expect("lock").readings
        );
        println!("        {}", crate::demo_figures::day_line(&st, &enterprise.org.id, status.now_ms));
        // The carbon accounts are kept on the provincial chain.
        if std::ptr::eq(c, &chains[0]) {
            println!("        {}", crate::demo_figures::carbon_line(&st, &enterprise.org.id, status.now_ms));
            println!("        {}", crate::demo_figures::quota_line(&st, &enterprise.org.id));
            println!(
                "        {}",
                crate::demo_figures::shifts_line(&st, &c.nodes[0].index, &enterprise.org.id, status.now_ms)
            );
        }
    }
    if let Some(f) = &follower {
        report_follower(f, &chains[0], &meter).await;
    }
    println!(
        "access control was on: the sign-in keys printed at the start were in {}",
        dir.join(format!("{}-members", chains[0].devnet.genesis.chain_id)).display()
    );
    Ok(())
}

/// Waits (up to 30 s) for the follower to reach validator 0's height, then compares their state
/// roots and checks a proof the follower serves.
async fn report_follower(f: &RunningNode, chain: &DemoChain, meter: &trustmeter_types::DeviceId) {
    let id = &chain.devnet.genesis.chain_id;
    let target = chain.nodes[0].app.finalized_height();
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.app.finalized_height() < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (fs, vs) = (f.app.finalized_state(), chain.nodes[0].app.finalized_state());
    let same = fs.height == vs.height && fs.root() == vs.root();
    println!(
        "{id}: follower at height {} (validator 0 at {}), state root {} ({})",
        fs.height,
        vs.height,
        fs.root(),
        if same { "the same as validator 0's" } else { "differs from validator 0's or is behind" }
    );
    let url = format!("http://{}/v1/meters/{meter}/readings/1/proof", f.api_addr);
    let verified = match signed_get(&chain.submitter.http, &url, &chain.devnet.enterprises[0].key).await {
        Ok(r) if r.status().is_success() => match r.text().await.map(|t| trustmeter_client::ProofBundle::from_json(&t))
        {
            Ok(Ok(bundle)) => {
                trustmeter_client::verify(&bundle, Some(&chain.devnet.genesis)).map_err(|e| e.to_string())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(e.to_string()),
    };
    match verified {
        Ok(v) => {
            println!("{id}: the follower's proof of {} seq {} (block {}) verifies offline", v.meter, v.seq, v.height)
        }
        Err(e) => println!("{id}: the follower's proof did NOT verify: {e}"),
    }
}

fn fmt_time(ms: i64) -> String {
    // Asia/Shanghai (UTC+8, no daylight saving).
    let local = ms + 8 * 3_600_000;
    let days = local.div_euclid(86_400_000);
    let rem = local.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3_600_000, (rem / 60_000) % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
