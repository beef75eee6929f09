//! End-to-end tests of a whole consortium with real components and no mocks.
//!
//! Four validators run with [`start_node`] inside one `commonware_runtime::tokio::Runner` (storage
//! in a temporary directory), talk over authenticated p2p on loopback, and are driven only through
//! their HTTP API with `reqwest`: a simulated plant is onboarded (enterprise registers its gateway
//! and meters, the metrology authority records calibrations, the regulator activates), reading
//! batches are submitted and read back, proof bundles are fetched and verified offline, admission
//! rejections are checked code by code, and the cluster is stopped and restarted on the same
//! storage (once as is, once without validator 0's index file).
//!
//! Every transaction of one sender goes to the same validator (nonces increase strictly per
//! sender and mempools are per node), as the demo's submitter does.

use anyhow::{Context as _, Result, ensure};
use commonware_runtime::Runner as _;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto, Member, credit_code};
use trustmeter_client::{ProofBundle, verify};
use trustmeter_crypto::{HashAlg, SigningKey, sign_reading, tx_hash};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_types::{
    ChainId, DeviceId, Genesis, KeyScheme, Reading, ReadingOrigin, ReadingSigner, SignedReading, Transaction, TxPayload,
};

use crate::common::*;

const INTERVAL_MS: i64 = 15 * 60_000;
const DAY_MS: i64 = 86_400_000;

/// A recorded reading and the height of the block that recorded it.
#[derive(Clone)]
struct Recorded {
    reading: SignedReading,
    height: u64,
}

/// The consortium's members, a simulated plant and everything the chain should have recorded.
struct World {
    genesis: Genesis,
    chain: ChainId,
    enterprise: Member,
    metrology: Member,
    plant: Plant,
    ent: TxSigner,
    metro: TxSigner,
    reg: TxSigner,
    gw: TxSigner,
    /// Start of the plant's history (readings are back-dated, never in the future).
    start_ms: i64,
    /// Readings recorded, per meter, in order.
    recorded: BTreeMap<DeviceId, Vec<Recorded>>,
    /// Finalized transactions with their heights.
    finalized: Vec<(Transaction, u64)>,
}

impl World {
    fn new(devnet: &Devnet, meters: usize, seed: u64) -> Self {
        Self::with_scheme(devnet, meters, seed, KeyScheme::Ed25519)
    }

    /// A world whose plant's gateway and meters hold keys of `key_scheme`.
    fn with_scheme(devnet: &Devnet, meters: usize, seed: u64, key_scheme: KeyScheme) -> Self {
        let enterprise = devnet.enterprises[0].clone();
        // Six hours of history: enough for every tick the tests make, all in the past.
        let start_ms = (now_ms() - 6 * 3_600_000) / INTERVAL_MS * INTERVAL_MS;
        let plant = Plant::new(PlantConfig {
            meters,
            start_ms,
            key_scheme,
            ..PlantConfig::new(enterprise.org.id.clone(), seed)
        });
        let chain = devnet.genesis.chain_id.clone();
        World {
            genesis: devnet.genesis.clone(),
            ent: TxSigner::new(enterprise.key.clone(), chain.clone(), 1),
            metro: TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1),
            reg: TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1),
            gw: plant.gateway_signer(chain.clone(), 1),
            chain,
            enterprise,
            metrology: devnet.metrology.clone(),
            plant,
            start_ms,
            recorded: BTreeMap::new(),
            finalized: Vec::new(),
        }
    }

    fn meter_ids(&self) -> Vec<DeviceId> {
        self.plant.meter_specs().into_iter().map(|s| s.id).collect()
    }

    /// Submits transactions (admitted) and waits until all are finalized and accepted.
    async fn run_txs(&mut self, api: &Api, txs: Vec<(Transaction, Encoding)>) -> Result<Vec<Value>> {
        for (tx, enc) in &txs {
            api.submit(tx, *enc).await?;
        }
        let mut receipts = Vec::new();
        let mut height = 0;
        for (tx, _) in txs {
            let v = api.wait_accepted(&tx).await?;
            height = height.max(u64_of(&v["height"]));
            self.finalized.push((tx, u64_of(&v["height"])));
            receipts.push(v);
        }
        // The next step may be sent to any validator: each must have finalized these first.
        api.wait_finalized_everywhere(height).await?;
        Ok(receipts)
    }

    /// Onboards the plant: the enterprise registers gateway and meters (posted as JSON), the
    /// metrology authority records calibrations and the regulator activates every device (posted
    /// as canonical bytes). Each step waits for the previous one to be final, as admission checks
    /// against the finalized state.
    async fn onboard(&mut self, api: &Api) -> Result<()> {
        let gw = self.ent.sign(self.plant.register_gateway_payload());
        self.run_txs(api, vec![(gw, Encoding::Json)]).await.context("gateway registration")?;
        // Master meters first: a node admits a meter naming its master once the master is final.
        for batch in self.plant.register_meter_batches() {
            let meters: Vec<_> = batch.into_iter().map(|p| (self.ent.sign(p), Encoding::Json)).collect();
            self.run_txs(api, meters).await.context("meter registration")?;
        }
        let mut txs = Vec::new();
        for p in
            self.plant.calibration_payloads(&self.metrology.org.id, self.start_ms - DAY_MS, now_ms() + 365 * DAY_MS)
        {
            txs.push((self.metro.sign(p), Encoding::Binary));
        }
        txs.push((
            self.reg.sign(TxPayload::ActivateDevice { device: self.plant.gateway_id().clone() }),
            Encoding::Binary,
        ));
        for spec in self.plant.meter_specs() {
            txs.push((self.reg.sign(TxPayload::ActivateDevice { device: spec.id }), Encoding::Binary));
        }
        self.run_txs(api, txs).await.context("calibration and activation")?;
        Ok(())
    }

    /// The plant's next readings (one per meter, one interval later), never in the future.
    fn next_readings(&mut self) -> Vec<SignedReading> {
        let readings = self.plant.advance();
        assert!(self.plant.now_ms() <= now_ms(), "the test ran out of back-dated plant history");
        readings
    }

    /// Reports `ticks` intervals of readings, one batch per interval (alternating JSON and
    /// canonical bytes), waits for them and checks that every reading was recorded.
    async fn report(&mut self, api: &Api, ticks: usize) -> Result<()> {
        let mut batches = Vec::new();
        for i in 0..ticks {
            let readings = self.next_readings();
            for payload in self.plant.batches(readings.clone(), 1_000) {
                let tx = self.gw.sign(payload);
                batches.push((tx, if i % 2 == 0 { Encoding::Binary } else { Encoding::Json }));
            }
        }
        let receipts = self.run_txs(api, batches.clone()).await.context("reading batches")?;
        for ((tx, _), v) in batches.iter().zip(receipts) {
            let TxPayload::SubmitReadings { readings, .. } = &tx.body.payload else { unreachable!() };
            let outcomes = v["receipt"]["readings"].as_array().context("per-reading outcomes")?;
            ensure!(
                outcomes.len() == readings.len(),
                "{} outcomes for {} readings: {v}",
                outcomes.len(),
                readings.len()
            );
            ensure!(outcomes.iter().all(|o| o["status"] == "accepted"), "a reading was not accepted: {v}");
            let height = u64_of(&v["height"]);
            for r in readings {
                self.recorded.entry(r.reading.meter.clone()).or_default().push(Recorded { reading: r.clone(), height });
            }
        }
        Ok(())
    }

    fn last_height(&self) -> u64 {
        self.finalized.iter().map(|(_, h)| *h).max().unwrap_or(0)
    }

    /// Checks that `node` returns exactly the recorded readings of every meter: values,
    /// sequence numbers, order, signer and block height.
    async fn check_readings(&self, api: &Api, node: usize) -> Result<()> {
        api.wait_indexed(node, self.last_height()).await?;
        for id in self.meter_ids() {
            let path = format!("/v1/meters/{id}/readings?from={}&to={}", self.start_ms, now_ms() + DAY_MS);
            // Small pages, so that the cursors are exercised.
            let got = api.all_pages(node, &path, Some(3)).await?;
            let want = self.recorded.get(&id).cloned().unwrap_or_default();
            ensure!(
                got.len() == want.len(),
                "validator {node}: meter {id} has {} readings, expected {}",
                got.len(),
                want.len()
            );
            for (g, w) in got.iter().zip(&want) {
                check_reading_view(g, w).with_context(|| format!("validator {node}, meter {id}"))?;
            }
        }
        Ok(())
    }
}

fn check_reading_view(got: &Value, want: &Recorded) -> Result<()> {
    let r = &want.reading.reading;
    let signer = match want.reading.signer {
        ReadingSigner::Meter => "meter",
        ReadingSigner::Gateway => "gateway",
    };
    let expected = serde_json::json!({
        "meter": r.meter.as_str(),
        "seq": r.seq,
        "timestamp_ms": r.timestamp_ms,
        "value": r.value.to_string(),
        "value_micros": r.value.micros(),
        "unit": r.unit.symbol(),
        "origin": r.origin,
        "clock_suspect": r.clock_suspect,
        "signer": signer,
        "height": want.height,
        "proof": format!("/v1/meters/{}/readings/{}/proof", r.meter, r.seq),
    });
    ensure!(*got == expected, "reading view differs:\n got  {got}\n want {expected}");
    Ok(())
}

/// Fetches and verifies a proof bundle for a recorded reading; checks every summary field.
async fn check_proof(api: &Api, node: usize, world: &World, meter: &DeviceId, seq: u64) -> Result<ProofBundle> {
    let want =
        world.recorded[meter].iter().find(|r| r.reading.reading.seq == seq).context("reading not recorded")?.clone();
    let v = api.get_ok_retrying(node, &format!("/v1/meters/{meter}/readings/{seq}/proof")).await?;
    let bundle: ProofBundle = serde_json::from_value(v).context("proof bundle JSON")?;
    let verified = verify(&bundle, Some(&world.genesis))
        .map_err(|e| anyhow::anyhow!("proof of {meter} seq {seq} from validator {node} does not verify: {e}"))?;
    let r = &want.reading.reading;
    ensure!(bundle.reading == want.reading, "the bundle carries another reading");
    ensure!(bundle.gateway == *world.plant.gateway_id());
    ensure!(verified.chain_id == world.chain);
    ensure!(verified.meter == *meter && verified.seq == seq);
    ensure!(
        verified.value == r.value
            && verified.unit == r.unit
            && verified.timestamp_ms == r.timestamp_ms
            && verified.origin == r.origin
            && verified.clock_suspect == r.clock_suspect
    );
    ensure!(verified.signer == want.reading.signer);
    ensure!(verified.gateway == *world.plant.gateway_id());
    ensure!(verified.owner == world.enterprise.org.id);
    ensure!(
        verified.height == want.height && bundle.header.height == want.height,
        "proof is for height {}, reading recorded at {}",
        verified.height,
        want.height
    );
    ensure!(
        verified.validators == VALIDATORS && verified.quorum == 3 && verified.validator_signatures >= verified.quorum,
        "certificate: {verified:?}"
    );
    let cert = format!("JL{}-{}", &world.metrology.org.id.as_str()[8..17], meter);
    ensure!(
        verified.calibration_certificate_no == cert,
        "calibration {} != {cert}",
        verified.calibration_certificate_no
    );
    let block = api.block(node, want.height).await?;
    ensure!(
        block["digest"] == verified.block_digest.to_hex(),
        "proof names block {} but the API says {}",
        verified.block_digest,
        block["digest"]
    );
    ensure!(block["header"]["timestamp_ms"] == verified.block_timestamp_ms);
    Ok(bundle)
}

fn rejection_code(outcome: &Value) -> Option<&str> {
    (outcome["status"] == "rejected").then(|| outcome["code"].as_str()).flatten()
}

#[test]
fn onboarding_readings_queries_proofs_and_rejections() {
    init_logs();
    let started = Instant::now();
    let cluster = Cluster::new("hunan-e2e-1", 11);
    let mut world = World::new(&cluster.devnet, 6, 11);
    let (cluster_ref, world_ref) = (&cluster, &mut world);
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let world = world_ref;
            let api = cluster.start(ctx).await?;
            happy_path(&api, cluster, world).await.context("happy path")?;
            rejections(&api, world).await.context("rejections")?;
            Ok::<(), anyhow::Error>(())
        })
        .expect("end-to-end run");
    eprintln!("onboarding/readings/proofs/rejections: {:.1} s", started.elapsed().as_secs_f64());
}

async fn happy_path(api: &Api, cluster: &Cluster, world: &mut World) -> Result<()> {
    let genesis = cluster.genesis();

    // Status: every validator serves the same chain and validator set, and blocks finalize.
    let mut genesis_hash = None;
    for n in 0..VALIDATORS {
        let st =
            api.wait_status(n, "first finalized block", |s| s["finalized_height"].as_u64().unwrap_or(0) >= 1).await?;
        ensure!(st["node"] == format!("validator-{n}"), "{st}");
        ensure!(st["chain_id"] == genesis.chain_id.as_str(), "{st}");
        ensure!(st["epoch"] == 0 && st["refused_blocks"] == 0, "{st}");
        let vals = st["validators"].as_array().context("validators")?;
        ensure!(vals.len() == VALIDATORS, "{} validators in status", vals.len());
        // The current epoch's set, by key (epoch 0: the genesis validators).
        let mut by_key: Vec<_> = genesis.validators.iter().collect();
        by_key.sort_by_key(|g| g.consensus_key.to_ascii_lowercase());
        for (v, g) in vals.iter().zip(by_key) {
            ensure!(
                v["name"] == g.name
                    && v["consensus_key"] == g.consensus_key
                    && v["p2p_address"] == g.p2p_address
                    && v["org"] == g.org.as_str(),
                "validator {v} vs genesis"
            );
        }
        let gh = st["genesis_hash"].as_str().context("genesis hash")?.to_string();
        ensure!(gh.len() == 64);
        ensure!(genesis_hash.get_or_insert(gh.clone()) == &gh, "validators disagree on the genesis hash");
    }
    let first_height = u64_of(&api.status(0).await?["finalized_height"]);

    // OpenAPI lists every route with its method, and nothing else.
    let doc = api.get_ok(0, "/openapi.json").await?;
    let paths = doc["paths"].as_object().context("openapi paths")?;
    let listed: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| ops.as_object().into_iter().flat_map(|o| o.keys()).map(move |m| (p.clone(), m.clone())))
        .collect();
    let routes: BTreeSet<(String, String)> = [
        ("/v1/status", "get"),
        ("/v1/blocks/{height}", "get"),
        ("/v1/chain/finalized/{height}", "get"),
        ("/v1/transactions", "post"),
        ("/v1/transactions/{hash}", "get"),
        ("/v1/meters", "get"),
        ("/v1/meters/{id}", "get"),
        ("/v1/meters/{id}/readings", "get"),
        ("/v1/meters/{id}/readings/{seq}/proof", "get"),
        ("/v1/gateways", "get"),
        ("/v1/gateways/{id}", "get"),
        ("/v1/organisations", "get"),
        ("/v1/organisations/{id}", "get"),
        ("/metrics", "get"),
        ("/v1/accounts/{public_key}", "get"),
        ("/v1/proposals/{id}", "get"),
        ("/v1/access-log", "get"),
        ("/v1/grants", "get"),
        ("/v1/grants/received", "get"),
        ("/v1/alarms", "get"),
        ("/v1/alarms/stream", "get"),
        ("/v1/figures/daily", "get"),
        ("/v1/figures/series", "get"),
        ("/v1/figures/breakdown", "get"),
        ("/v1/figures/ranking", "get"),
        ("/v1/figures/tou", "get"),
        ("/v1/enterprises/{org}/energy", "get"),
        ("/v1/quality", "get"),
        ("/v1/policy", "get"),
        ("/v1/proofs/daily/{org}/{day}/{energy}/{unit}", "get"),
        ("/v1/genesis", "get"),
        ("/v1/transactions/{hash}/proof", "get"),
        ("/v1/policy/proof", "get"),
        ("/v1/meters/{id}/proof", "get"),
        ("/v1/methodologies", "get"),
        ("/v1/methodology", "get"),
        ("/v1/enterprises/{org}/carbon", "get"),
        ("/v1/enterprises/{org}/carbon/entries", "get"),
        ("/v1/enterprises/{org}/carbon/year", "get"),
        ("/v1/enterprises/{org}/shifts", "get"),
        ("/v1/enterprises/{org}/balance", "get"),
        ("/v1/enterprises/{org}/carbon/report", "get"),
        ("/v1/enterprises/{org}/carbon/compliance", "get"),
        ("/v1/carbon/compliance", "get"),
        ("/v1/enterprises/{org}/carbon/proof", "get"),
        ("/v1/enterprises/{org}/carbon/what-if", "post"),
        ("/v1/enterprises/{org}/evidence", "put"),
        ("/v1/enterprises/{org}/evidence/{hash}", "get"),
        ("/v1/epoch", "get"),
        ("/v1/validators", "get"),
        ("/v1/token/{org}", "get"),
        ("/v1/rewards/schedule", "get"),
        ("/v1/disclosures/{region}", "get"),
        ("/v1/published", "get"),
        ("/", "get"),
        ("/app/", "get"),
        ("/app/{file}", "get"),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    ensure!(listed == routes, "OpenAPI lists {listed:?}, the router serves {routes:?}");
    ensure!(
        doc["components"]["schemas"]["StatusView"].is_object() && doc["components"]["schemas"]["ApiError"].is_object()
    );
    // A transaction's full schema (checked against real transactions in trustmeter-types'
    // tests/openapi.rs), as JSON or as its canonical bytes.
    let body = &doc["paths"]["/v1/transactions"]["post"]["requestBody"]["content"];
    ensure!(body["application/json"]["schema"]["$ref"] == "#/components/schemas/Transaction", "{body}");
    ensure!(body["application/octet-stream"].is_object(), "{body}");
    for name in ["Transaction", "TxBody", "TxPayload", "SignedReading", "Receipt", "Genesis"] {
        ensure!(doc["components"]["schemas"][name].is_object(), "no schema {name}");
    }

    // The carbon methodologies shipped with genesis, listed a page at a time and read whole.
    let page = api.get_ok(0, "/v1/methodologies?limit=1").await?;
    ensure!(page["items"][0]["id"] == "GB/T 32150-2015" && page["items"][0]["deployed_height"] == 0, "{page}");
    let next = page["next"].as_str().context("a second page")?;
    let page = api.get_ok(0, &format!("/v1/methodologies?limit=1&after={next}")).await?;
    ensure!(page["items"][0]["id"] == "GB/T 32151.29-2024" && page["next"].is_null(), "{page}");
    let m = api.get_ok(0, "/v1/methodology?id=GB/T%2032151.29-2024&day=2025-04-01").await?;
    ensure!(m["version"] == 1 && m["text"] == trustmeter_carbon::shipped::MACHINERY_V1, "the document, verbatim");
    let (code, e) = api.get(0, "/v1/methodology?id=GB/T%2032151.29-2024&day=2025-03-31").await?;
    ensure!(code == 404 && e["message"].as_str().unwrap_or("").contains("/v1/methodologies"), "{code} {e}");
    let (code, _) = api.get(0, "/v1/methodologies?after=00").await?;
    ensure!(code == 400, "a bad cursor is a 400, got {code}");

    // Onboarding through the API.
    world.onboard(api).await?;

    // Registry lookups.
    let gw_id = world.plant.gateway_id().clone();
    let g = api.get_ok(1, &format!("/v1/gateways/{gw_id}")).await?;
    ensure!(
        g["id"] == gw_id.as_str() && g["owner"] == world.enterprise.org.id.as_str() && g["status"] == "active",
        "{g}"
    );
    ensure!(g["public_key"] == world.plant.gateway_key().public_key().to_text(), "{g}");
    let specs = world.plant.meter_specs();
    ensure!(
        specs.iter().any(|s| s.public_key.is_some()) && specs.iter().any(|s| s.public_key.is_none()),
        "the plant should have meters of both kinds of signer"
    );
    for spec in &specs {
        let m = api.get_ok(2, &format!("/v1/meters/{}", spec.id)).await?;
        let rec = &m["meter"];
        ensure!(
            rec["id"] == spec.id.as_str()
                && rec["owner"] == world.enterprise.org.id.as_str()
                && rec["gateway"] == gw_id.as_str(),
            "{m}"
        );
        ensure!(
            rec["status"] == "active" && rec["name"] == spec.name && rec["unit"] == serde_json::to_value(spec.unit)?,
            "{m}"
        );
        ensure!(rec["public_key"] == serde_json::to_value(&spec.public_key)?, "{m}");
        ensure!(rec["calibration"]["issuer"] == world.metrology.org.id.as_str(), "{m}");
        ensure!(
            rec["calibration"]["certificate_no"]
                == format!("JL{}-{}", &world.metrology.org.id.as_str()[8..17], spec.id),
            "{m}"
        );
        ensure!(m["progress"].is_null(), "no readings yet: {m}");
    }
    let all = api.get_ok(3, "/v1/meters").await?;
    ensure!(all["items"].as_array().map(Vec::len) == Some(specs.len()) && all["next"].is_null(), "{all}");
    // Paged two at a time: every meter once, in id order.
    let paged: Vec<String> = api
        .all_pages(3, "/v1/meters", Some(2))
        .await?
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut ids: Vec<String> = specs.iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    ensure!(paged == ids, "meters paged two at a time: {paged:?}, registered {ids:?}");
    let gws = api.all_pages(3, "/v1/gateways", Some(1)).await?;
    ensure!(gws.len() == 1 && gws[0]["id"] == gw_id.as_str(), "{gws:?}");
    let orgs = api.all_pages(3, "/v1/organisations", Some(2)).await?;
    let org_ids: Vec<&str> = orgs.iter().filter_map(|o| o["id"].as_str()).collect();
    let mut want: Vec<&str> = genesis.organisations.iter().map(|o| o.id.as_str()).collect();
    want.sort();
    ensure!(org_ids == want, "organisations: {org_ids:?}, genesis {want:?}");
    let (s, e) = api.get(3, "/v1/meters?limit=1001").await?;
    ensure!(s == 400 && e["code"] == "limit_exceeded", "{s} {e}");
    let (s, e) = api.get(3, "/v1/meters?after=zz").await?;
    ensure!(s == 400 && e["code"] == "bad_request", "{s} {e}");
    let o = api.get_ok(0, &format!("/v1/organisations/{}", world.enterprise.org.id)).await?;
    ensure!(
        o["id"] == world.enterprise.org.id.as_str()
            && o["name"] == world.enterprise.org.name
            && o["kind"] == "enterprise"
            && o["region"] == 430_000,
        "{o}"
    );
    let o = api.get_ok(0, &format!("/v1/organisations/{}", world.metrology.org.id)).await?;
    ensure!(o["kind"] == "metrology_authority", "{o}");
    let (s, e) = api.get(0, &format!("/v1/organisations/{}", credit_code("91430100799999999"))).await?;
    ensure!(s == 404 && e["code"] == "not_found", "{s} {e}");
    let (s, e) = api.get(0, &format!("/v1/meters/{}-XX9999", world.enterprise.org.id)).await?;
    ensure!(s == 404 && e["code"] == "not_found", "{s} {e}");
    let (s, e) = api.get(0, "/v1/gateways/no%20such%20id").await?;
    ensure!(s == 400 && e["code"] == "bad_request", "{s} {e}");

    // Readings: eight intervals, one batch each.
    const TICKS: usize = 8;
    world.report(api, TICKS).await?;
    for n in 0..VALIDATORS {
        world.check_readings(api, n).await?;
    }
    // Time-range and limit queries.
    let id = specs[0].id.clone();
    let recorded = world.recorded[&id].clone();
    ensure!(recorded.len() == TICKS);
    let (from, to) = (recorded[2].reading.reading.timestamp_ms, recorded[5].reading.reading.timestamp_ms);
    let page = api.get_ok(1, &format!("/v1/meters/{id}/readings?from={from}&to={to}")).await?;
    let got = page["items"].as_array().context("items")?;
    ensure!(got.len() == 3 && page["next"].is_null(), "[from, to) should hold readings 3..=5, got {page}");
    for (g, w) in got.iter().zip(&recorded[2..5]) {
        check_reading_view(g, w)?;
    }
    let got = api.get_ok(1, &format!("/v1/meters/{id}/readings?limit=2")).await?;
    let items = &got["items"];
    ensure!(items.as_array().map(Vec::len) == Some(2) && items[0]["seq"] == 1 && items[1]["seq"] == 2, "{got}");
    let next = got["next"].as_str().context("a next cursor after 2 of 8 readings")?;
    let got = api.get_ok(1, &format!("/v1/meters/{id}/readings?limit=2&after={next}")).await?;
    let items = &got["items"];
    ensure!(items.as_array().map(Vec::len) == Some(2) && items[0]["seq"] == 3 && items[1]["seq"] == 4, "{got}");
    let (s, e) = api.get(1, &format!("/v1/meters/{id}/readings?after={}", "01".repeat(3))).await?;
    ensure!(s == 400 && e["code"] == "bad_request", "a cursor of another list: {s} {e}");
    let got = api.get_ok(1, &format!("/v1/meters/{id}/readings?from={}", now_ms())).await?;
    ensure!(got["items"].as_array().is_some_and(Vec::is_empty) && got["next"].is_null(), "{got}");
    for spec in &specs {
        let m = api.get_ok(0, &format!("/v1/meters/{}", spec.id)).await?;
        let last = world.recorded[&spec.id].last().context("recorded")?;
        ensure!(
            m["progress"]["last_seq"] == TICKS as u64
                && m["progress"]["accepted"] == TICKS as u64
                && m["progress"]["last_timestamp_ms"] == last.reading.reading.timestamp_ms,
            "{m}"
        );
    }

    // Blocks: the block of the first reading batch is the same everywhere and holds the batch.
    let (first_batch, batch_height) = world
        .finalized
        .iter()
        .find(|(t, _)| matches!(t.body.payload, TxPayload::SubmitReadings { .. }))
        .cloned()
        .context("a batch")?;
    let receipt = api.get_ok(0, &format!("/v1/transactions/{}", tx_hash(api.alg, &first_batch))).await?;
    ensure!(receipt["status"] == "finalized" && receipt["height"] == batch_height, "{receipt}");
    let position = u64_of(&receipt["index"]) as usize;
    let mut digest = None;
    for n in 0..VALIDATORS {
        let b = api.block(n, batch_height).await?;
        ensure!(
            b["finalized"] == true
                && (b["certificate"] == "own" || b["certificate"] == "descendant")
                && b["header"]["height"] == batch_height
                && b["header"]["chain_id"] == genesis.chain_id.as_str(),
            "{b}"
        );
        let txs = b["txs"].as_array().context("txs")?;
        ensure!(
            txs.len() as u64 == u64_of(&b["header"]["tx_count"])
                && txs[position] == tx_hash(api.alg, &first_batch).to_hex(),
            "{b}"
        );
        ensure!(u64_of(&b["header"]["readings_accepted"]) >= specs.len() as u64, "{b}");
        let d = b["digest"].as_str().context("digest")?.to_string();
        ensure!(digest.get_or_insert(d.clone()) == &d, "validators disagree on block {batch_height}");
        let parent = api.block(n, batch_height - 1).await?;
        ensure!(b["header"]["parent"] == parent["digest"], "block {batch_height} does not link to its parent");
    }
    let (s, e) = api.get(0, "/v1/blocks/999999999").await?;
    ensure!(s == 404 && e["code"] == "not_found", "{s} {e}");
    // The status tip matches the block API.
    let st = api.status(2).await?;
    let tip = u64_of(&st["finalized_height"]);
    api.wait_indexed(2, tip).await?;
    let b = api.block(2, tip).await?;
    ensure!(
        b["digest"] == st["finalized_digest"]
            && b["header"]["state_root"] == st["state_root"]
            && b["header"]["timestamp_ms"] == st["finalized_time_ms"],
        "status {st} vs block {b}"
    );

    // Proofs verify offline against the genesis, from any validator, for both kinds of signer.
    let own_key = specs.iter().find(|s| s.public_key.is_some()).context("meter with a key")?.id.clone();
    let by_gateway = specs.iter().find(|s| s.public_key.is_none()).context("meter without a key")?.id.clone();
    let bundle = check_proof(api, 1, world, &own_key, 3).await?;
    ensure!(bundle.reading.signer == ReadingSigner::Meter);
    let b2 = check_proof(api, 3, world, &by_gateway, TICKS as u64).await?;
    ensure!(b2.reading.signer == ReadingSigner::Gateway);
    // A tampered bundle, or one checked against another chain's genesis, does not verify.
    let mut tampered = bundle.clone();
    tampered.reading.reading.value =
        trustmeter_types::Quantity::from_micros(tampered.reading.reading.value.micros() + 1);
    ensure!(verify(&tampered, Some(genesis)).is_err(), "a tampered reading verified");
    let other = Devnet::new("hunan-e2e-other", VALIDATORS, 1, 99, genesis.genesis_time_ms, 0);
    ensure!(verify(&bundle, Some(&other.genesis)).is_err(), "a bundle verified against another genesis");
    let (s, e) = api.get(0, &format!("/v1/meters/{own_key}/readings/999/proof")).await?;
    ensure!(s == 404 && e["code"] == "not_found", "{s} {e}");

    // The chain keeps finalizing.
    let later = u64_of(&api.status(0).await?["finalized_height"]);
    ensure!(later > first_height, "finalized height did not grow: {first_height} -> {later}");
    Ok(())
}

async fn rejections(api: &Api, world: &mut World) -> Result<()> {
    let ent_home = api.home(&world.enterprise.key.public_key());

    // Malformed bodies: not JSON, JSON that is not a transaction, bytes that do not decode.
    for (ct, body) in [
        ("application/json", b"{ this is not json".to_vec()),
        ("application/json", br#"{"body": 42, "signature": "ed25519:00"}"#.to_vec()),
        ("application/octet-stream", vec![0xff; 40]),
    ] {
        let (s, e) = api.post(ent_home, ct, body).await?;
        ensure!(s == 400 && e["code"] == "malformed" && e["tx_hash"].is_null(), "{ct}: {s} {e}");
    }

    // Transactions refused at admission, each with its code; their receipts say `rejected` with
    // the same code on the validator that refused them, which is the only one that knows them.
    let fresh_key = |b: u8| SigningKey::ed25519_from_seed([b; 32]).public_key();
    let new_account = |b: u8| {
        let k = SigningKey::ed25519_from_seed([b; 32]);
        let proof =
            k.sign(&trustmeter_types::account_proof_payload(&world.chain, &world.enterprise.org.id, &k.public_key()));
        TxPayload::RegisterAccount { public_key: k.public_key(), proof }
    };
    let mut refused: Vec<(Transaction, &str)> = Vec::new();
    // Signed for another chain.
    let mut other_chain =
        TxSigner::new(world.enterprise.key.clone(), ChainId::new("hunan-e2e-other")?, world.ent.next_nonce());
    refused.push((other_chain.sign(new_account(1)), "wrong_chain"));
    // A signature that does not verify.
    let mut tx = world.ent.clone().sign(new_account(2));
    tx.signature.bytes[7] ^= 0x40;
    refused.push((tx, "bad_tx_signature"));
    // A key no organisation registered.
    let mut stranger = TxSigner::new(SigningKey::ed25519_from_seed([3; 32]), world.chain.clone(), 1);
    refused.push((
        stranger.sign(TxPayload::RegisterGateway { id: DeviceId::new("STRANGER-GW01")?, public_key: fresh_key(4) }),
        "unknown_sender",
    ));
    // An enterprise recording a calibration.
    let meter = world.meter_ids()[0].clone();
    let calibration =
        match world.plant.calibration_payloads(&world.enterprise.org.id, world.start_ms, now_ms() + DAY_MS).remove(0) {
            TxPayload::RecordCalibration { calibration, .. } => calibration,
            _ => unreachable!(),
        };
    refused.push((
        world.ent.clone().sign(TxPayload::RecordCalibration { meter: meter.clone(), calibration }),
        "not_authorised",
    ));
    for (i, (tx, code)) in refused.iter().enumerate() {
        let enc = if i % 2 == 0 { Encoding::Json } else { Encoding::Binary };
        api.expect_refused(tx, enc, code).await?;
        let home = api.home(&tx.body.sender);
        let h = tx_hash(api.alg, tx);
        let v = api.get_ok(home, &format!("/v1/transactions/{h}")).await?;
        ensure!(
            v["status"] == "rejected" && v["rejection"]["code"] == *code && v["tx_hash"] == h.to_hex(),
            "receipt of a {code} transaction: {v}"
        );
        ensure!(v["height"].is_null() && v["receipt"].is_null(), "{v}");
        let (s, e) = api.get((home + 1) % VALIDATORS, &format!("/v1/transactions/{h}")).await?;
        ensure!(s == 404 && e["code"] == "not_found", "another validator knows the refused {h}: {s} {e}");
    }

    // Replays of finalized transactions (a registration and a reading batch), in either
    // encoding: stale nonce. Their receipts still show the original inclusion.
    let replays: Vec<(Transaction, u64)> = [
        world.finalized.first().cloned().context("a registration")?,
        world
            .finalized
            .iter()
            .rev()
            .find(|(t, _)| matches!(t.body.payload, TxPayload::SubmitReadings { .. }))
            .cloned()
            .context("a batch")?,
    ]
    .into();
    for (tx, height) in &replays {
        for enc in [Encoding::Json, Encoding::Binary] {
            api.expect_refused(tx, enc, "stale_nonce").await?;
        }
        let v = api.get_ok(api.home(&tx.body.sender), &format!("/v1/transactions/{}", tx_hash(api.alg, tx))).await?;
        ensure!(v["status"] == "finalized" && v["height"] == *height, "{v}");
    }

    // A batch mixing valid readings, a reading of an unregistered meter and a reading whose
    // signature is broken: the transaction is accepted and the receipt judges each reading.
    let mut readings = world.next_readings();
    let broken_meter = readings[1].reading.meter.clone();
    readings[1].signature.bytes[0] ^= 0x01;
    let unknown = Reading {
        meter: DeviceId::new(format!("{}-XX9999", world.enterprise.org.id))?,
        seq: 1,
        timestamp_ms: readings[0].reading.timestamp_ms,
        value: trustmeter_types::Quantity::from_micros(1_000_000),
        unit: readings[0].reading.unit,
        origin: ReadingOrigin::Online,
        clock_suspect: false,
    };
    readings.insert(1, sign_reading(world.plant.gateway_key(), unknown, ReadingSigner::Gateway));
    let batch = world
        .gw
        .sign(TxPayload::SubmitReadings { gateway: world.plant.gateway_id().clone(), readings: readings.clone() });
    api.submit(&batch, Encoding::Json).await?;
    let v = api.wait_accepted(&batch).await?;
    let height = u64_of(&v["height"]);
    world.finalized.push((batch.clone(), height));
    let outcomes = v["receipt"]["readings"].as_array().context("outcomes")?;
    ensure!(outcomes.len() == readings.len(), "{v}");
    for (i, (o, r)) in outcomes.iter().zip(&readings).enumerate() {
        let want = match i {
            1 => Some("unknown_device"),
            2 => Some("bad_reading_signature"),
            _ => None,
        };
        match want {
            Some(code) => ensure!(
                rejection_code(o) == Some(code) && o["message"].as_str().is_some_and(|m| !m.is_empty()),
                "reading {i}: expected {code}, got {o}"
            ),
            None => {
                ensure!(o["status"] == "accepted", "reading {i}: {o}");
                world
                    .recorded
                    .entry(r.reading.meter.clone())
                    .or_default()
                    .push(Recorded { reading: r.clone(), height });
            }
        }
    }
    let b = api.block(0, height).await?;
    ensure!(b["txs"].as_array().is_some_and(|t| t.contains(&Value::from(tx_hash(api.alg, &batch).to_hex()))), "{b}");
    // The valid ones are queryable everywhere; the refused ones are not recorded.
    for n in 0..VALIDATORS {
        world.check_readings(api, n).await?;
    }
    let m = api.get_ok(1, &format!("/v1/meters/{broken_meter}")).await?;
    let broken_seq = readings[2].reading.seq;
    ensure!(m["progress"]["last_seq"] == broken_seq - 1, "a reading with a broken signature advanced the meter: {m}");
    let (s, _) = api.get(1, &format!("/v1/meters/{broken_meter}/readings/{broken_seq}/proof")).await?;
    ensure!(s == 404, "proof served for a refused reading");
    let ok_meter = readings[0].reading.meter.clone();
    check_proof(api, 0, world, &ok_meter, readings[0].reading.seq).await?;
    // The meter whose reading was refused goes on with its next sequence number, and proofs of
    // later blocks (re-executed through the mixed one) still verify.
    world.report(api, 1).await?;
    world.check_readings(api, 2).await?;
    check_proof(api, 2, world, &broken_meter, broken_seq + 1).await?;
    Ok(())
}

/// What the cluster looked like right before it was stopped.
#[derive(Debug)]
struct Checkpoint {
    /// Each validator's finalized height.
    heights: Vec<u64>,
    /// A height indexed by every validator, and that block's digest and state root.
    height: u64,
    digest: Value,
    state_root: Value,
}

async fn checkpoint(api: &Api, world: &World) -> Result<Checkpoint> {
    let height = world.last_height();
    let mut digest = None;
    let mut state_root = None;
    for n in 0..VALIDATORS {
        api.wait_indexed(n, height).await?;
        let b = api.block(n, height).await?;
        ensure!(digest.get_or_insert(b["digest"].clone()) == &b["digest"], "validators disagree on block {height}");
        ensure!(state_root.get_or_insert(b["header"]["state_root"].clone()) == &b["header"]["state_root"]);
    }
    let mut heights = Vec::new();
    for n in 0..VALIDATORS {
        heights.push(u64_of(&api.status(n).await?["finalized_height"]));
    }
    Ok(Checkpoint { heights, height, digest: digest.expect("validators"), state_root: state_root.expect("validators") })
}

/// After a restart: every validator is back at (at least) its height, agrees on the checkpoint
/// block and serves every recorded reading and receipt.
async fn check_restarted(api: &Api, world: &World, before: &Checkpoint) -> Result<()> {
    for n in 0..VALIDATORS {
        let h = before.heights[n];
        api.wait_status(n, &format!("finalized height {h} again"), |s| {
            s["finalized_height"].as_u64().unwrap_or(0) >= h
        })
        .await?;
        api.wait_indexed(n, h).await?;
        let b = api.block(n, before.height).await?;
        ensure!(
            b["digest"] == before.digest && b["header"]["state_root"] == before.state_root,
            "validator {n}: block {} changed across the restart: {b} vs {before:?}",
            before.height
        );
        world.check_readings(api, n).await?;
    }
    for (tx, height) in &world.finalized {
        let v = api.get_ok(0, &format!("/v1/transactions/{}", tx_hash(api.alg, tx))).await?;
        ensure!(
            v["status"] == "finalized" && v["height"] == *height,
            "receipt of {} after restart: {v}",
            tx_hash(api.alg, tx)
        );
    }
    Ok(())
}

#[test]
fn restart_keeps_the_chain_and_rebuilds_a_lost_index() {
    init_logs();
    let started = Instant::now();
    let cluster = Cluster::new("hunan-e2e-2", 23);
    let mut world = World::new(&cluster.devnet, 4, 23);

    // First run: onboard and report a few intervals.
    let first = {
        let (cluster, world) = (&cluster, &mut world);
        cluster
            .runner()
            .start(|ctx| async move {
                let api = cluster.start(ctx).await?;
                world.onboard(&api).await?;
                world.report(&api, 3).await?;
                world.check_readings(&api, 0).await?;
                checkpoint(&api, world).await
            })
            .expect("first run")
    };
    eprintln!("first run done at {:.1} s: {first:?}", started.elapsed().as_secs_f64());

    // Second run on the same storage, index files and ports.
    let second = {
        let (cluster, world) = (&cluster, &mut world);
        cluster
            .runner()
            .start(|ctx| async move {
                let api = cluster.start(ctx).await?;
                check_restarted(&api, world, &first).await.context("after restart")?;
                // The chain keeps finalizing new transactions.
                world.report(&api, 2).await.context("reporting after restart")?;
                for n in 0..VALIDATORS {
                    world.check_readings(&api, n).await?;
                }
                let id = world.meter_ids()[0].clone();
                check_proof(&api, 2, world, &id, 1).await?;
                let cp = checkpoint(&api, world).await?;
                ensure!(cp.height > first.height, "no new blocks after the restart");
                Ok(cp)
            })
            .expect("second run")
    };
    eprintln!("second run done at {:.1} s: {second:?}", started.elapsed().as_secs_f64());

    // Third run without validator 0's index: it is rebuilt from the chain.
    let index0 = cluster.index_path(0);
    ensure_file(&index0);
    std::fs::remove_file(&index0).expect("delete validator 0's index");
    {
        let (cluster, world) = (&cluster, &mut world);
        cluster
            .runner()
            .start(|ctx| async move {
                let api = cluster.start(ctx).await?;
                check_restarted(&api, world, &second).await.context("after losing the index")?;
                // The rebuilt index catches up with the chain's tip.
                let tip = u64_of(&api.status(0).await?["finalized_height"]);
                ensure!(tip >= second.heights[0], "validator 0 is behind its height before the restart");
                api.wait_indexed(0, tip).await?;
                for h in 1..=second.height {
                    let (a, b) = (api.block(0, h).await?, api.block(1, h).await?);
                    ensure!(a == b, "rebuilt block {h} differs: {a} vs {b}");
                }
                let ids = world.meter_ids();
                check_proof(&api, 0, world, &ids[1], 2).await?;
                world.report(&api, 1).await?;
                world.check_readings(&api, 0).await?;
                Ok::<(), anyhow::Error>(())
            })
            .expect("third run");
    }
    ensure_file(&index0);
    eprintln!("restart test: {:.1} s", started.elapsed().as_secs_f64());
}

fn ensure_file(p: &std::path::Path) {
    assert!(p.is_file(), "{} should exist", p.display());
}

/// 国密 end to end: an SM3 chain whose members, gateway and meters hold SM2 keys, driven through
/// the HTTP API like the SHA-256 one; its proofs verify offline and name SM3.
#[test]
fn sm3_chain_with_sm2_keys_end_to_end() {
    init_logs();
    let started = Instant::now();
    let gm = DevnetCrypto { hash: HashAlg::Sm3, account_scheme: KeyScheme::Sm2 };
    let cluster = Cluster::with_crypto("hunan-gm-1", 31, 1, gm);
    let mut world = World::with_scheme(&cluster.devnet, 4, 31, KeyScheme::Sm2);
    ensure_eq_scheme(&world);
    let (cluster_ref, world_ref) = (&cluster, &mut world);
    cluster
        .runner()
        .start(|ctx| async move {
            let (cluster, world) = (cluster_ref, world_ref);
            let api = cluster.start(ctx).await?;
            let st = api.wait_status(0, "first block", |s| s["finalized_height"].as_u64().unwrap_or(0) >= 1).await?;
            ensure!(st["hash_alg"] == "sm3", "status names the chain's hash algorithm: {st}");
            world.onboard(&api).await?;
            world.report(&api, 2).await?;
            world.check_readings(&api, 1).await?;
            let ids = world.meter_ids();
            for (i, id) in ids.iter().enumerate() {
                let bundle = check_proof(&api, i % VALIDATORS, world, id, 2).await?;
                ensure!(bundle.genesis.params.hash == HashAlg::Sm3);
                ensure!(bundle.reading.signature.scheme == KeyScheme::Sm2);
                ensure!(verify(&bundle, Some(&world.genesis))?.hash == HashAlg::Sm3);
            }
            Ok::<(), anyhow::Error>(())
        })
        .expect("SM3/SM2 end-to-end run");
    eprintln!("SM3/SM2 end to end: {:.1} s", started.elapsed().as_secs_f64());
}

fn ensure_eq_scheme(world: &World) {
    assert_eq!(world.enterprise.key.scheme(), KeyScheme::Sm2);
    assert_eq!(world.plant.gateway_key().scheme(), KeyScheme::Sm2);
}

/// A follower's spec: following `upstream`, storage in `dir` under `name`.
fn follower_spec(cluster: &Cluster, name: &str, upstream: Vec<String>) -> trustmeter_node::follow::FollowerSpec {
    trustmeter_node::follow::FollowerSpec {
        name: name.into(),
        genesis: cluster.genesis().clone(),
        upstream,
        api_listen: "127.0.0.1:0".parse().expect("address"),
        index_path: cluster.dir.path().join(format!("{name}-index.redb")),
        state_path: cluster.dir.path().join(format!("{name}-state.redb")),
        alarms: Default::default(),
        api: Default::default(),
        key: None,
    }
}

/// An upstream that serves a validator's frames (`GET /v1/chain/finalized/{h}`) changed by
/// `change` (height, block, certificate).
async fn proxy_upstream(
    validator: String,
    change: impl Fn(u64, &mut trustmeter_types::Block, &mut Option<Vec<u8>>) + Clone + Send + Sync + 'static,
) -> Result<String> {
    use axum::extract::Path;
    let http = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/v1/chain/finalized/{h}",
        axum::routing::get(move |Path(h): Path<u64>| {
            let (http, validator, change) = (http.clone(), validator.clone(), change.clone());
            async move {
                let Ok(r) = http.get(format!("{validator}/v1/chain/finalized/{h}")).send().await else {
                    return (axum::http::StatusCode::BAD_GATEWAY, Vec::new());
                };
                let status = r.status();
                let frame = r.bytes().await.unwrap_or_default().to_vec();
                if !status.is_success() {
                    return (axum::http::StatusCode::NOT_FOUND, Vec::new());
                }
                let (block, cert) = trustmeter_node::follow::split_frame(&frame).expect("a validator's frame");
                let mut block: trustmeter_types::Block =
                    trustmeter_types::decode(block, trustmeter_types::limits::MAX_BLOCK_BYTES).expect("block");
                let mut cert = cert.map(<[u8]>::to_vec);
                change(h, &mut block, &mut cert);
                let bytes = trustmeter_types::encode(&block);
                let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&bytes);
                out.extend_from_slice(&cert.unwrap_or_default());
                (axum::http::StatusCode::OK, out)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// An upstream that lies: it serves a validator's blocks with each header's timestamp moved by
/// 1 ms (so the block no longer matches its certificate), keeping the real certificate.
async fn lying_upstream(validator: String) -> Result<String> {
    proxy_upstream(validator, |_, block, _| block.header.timestamp_ms += 1).await
}

/// A follower (non-voting node) started after some history catches up from genesis and keeps
/// following the validators' APIs: every block checked against its finalization certificate,
/// executed on its own state store (same state roots as the validators at every height it
/// reports), indexed (same blocks and readings), proofs it serves verify offline, and it refuses
/// transactions. Its first upstream is unreachable and its second lies (blocks altered under
/// their certificates): it skips both for the honest third. A follower with only the liar never
/// applies a block.
#[test]
fn a_follower_checks_every_block_and_serves_the_same_reads() {
    init_logs();
    let started = Instant::now();
    let cluster = Cluster::new("hunan-e2e-follow", 31);
    let mut world = World::new(&cluster.devnet, 4, 31);
    let (cluster_ref, world_ref) = (&cluster, &mut world);
    cluster
        .runner()
        .start(|ctx| async move {
            let (cluster, world) = (cluster_ref, world_ref);
            let api = cluster.start(ctx).await?;
            world.onboard(&api).await?;
            world.report(&api, 2).await?;
            let liar = lying_upstream(api.urls[0].clone()).await?;
            let dead = format!("http://{}", free_addrs(1)[0]);
            let follower = trustmeter_node::follow::start_follower(follower_spec(
                cluster,
                "follower",
                vec![dead, liar.clone(), api.urls[1].clone()],
            ))
            .await?;
            let fooled = trustmeter_node::follow::start_follower(follower_spec(cluster, "fooled", vec![liar])).await?;
            // A follower whose upstream serves one block without its certificate (as for a block
            // whose view gathered no finalize quorum): it applies the block once a certified
            // descendant covers it, and proves its readings through that descendant.
            let id = world.meter_ids()[0].clone();
            let uncertified = world.recorded[&id].iter().find(|r| r.reading.reading.seq == 1).context("seq 1")?.height;
            let stripping = proxy_upstream(api.urls[2].clone(), move |h, _, cert| {
                if h == uncertified {
                    *cert = None;
                }
            })
            .await?;
            let linked =
                trustmeter_node::follow::start_follower(follower_spec(cluster, "linked", vec![stripping])).await?;
            world.report(&api, 2).await?;

            let fapi =
                Api { http: api.http.clone(), urls: vec![format!("http://{}", follower.api_addr)], alg: api.alg };
            let tip = world.last_height();
            let status =
                fapi.wait_status(0, "the follower reached the tip", |s| u64_of(&s["finalized_height"]) >= tip).await?;
            ensure!(status["role"] == "follower", "status: {status}");
            // Same state root as the validators at the height it reports.
            let h = u64_of(&status["finalized_height"]);
            let header = api.block(1, h).await?["header"].clone();
            ensure!(
                status["state_root"] == header["state_root"],
                "follower's state root at {h} is {} but validator 1's block says {}",
                status["state_root"],
                header["state_root"]
            );
            ensure!(follower.app.finalized_state().root().to_hex() == header["state_root"].as_str().unwrap_or(""));
            for height in 1..=h {
                let (a, b) = (fapi.block(0, height).await?, api.block(2, height).await?);
                ensure!(a == b, "block {height} differs on the follower: {a} vs {b}");
            }
            world.check_readings(&fapi, 0).await.context("the follower's readings")?;
            check_proof(&fapi, 0, world, &id, 1).await.context("a proof from the follower")?;
            let lapi = Api { http: api.http.clone(), urls: vec![format!("http://{}", linked.api_addr)], alg: api.alg };
            lapi.wait_status(0, "the linked follower reached the tip", |s| u64_of(&s["finalized_height"]) >= tip)
                .await?;
            let b = lapi.block(0, uncertified).await?;
            ensure!(b["finalized"] == true && b["certificate"] == "descendant", "block {uncertified}: {b}");
            let bundle = check_proof(&lapi, 0, world, &id, 1).await.context("a proof through a descendant")?;
            ensure!(
                !bundle.descendants.is_empty()
                    && bundle.descendants[0].height == uncertified + 1
                    && bundle.descendants[0].parent
                        == trustmeter_crypto::block_digest(world.genesis.params.hash, &bundle.header),
                "the bundle of a reading at {uncertified} carries {} descendants",
                bundle.descendants.len()
            );
            // Transactions go to validators.
            let tx = world.ent.sign(TxPayload::ActivateDevice { device: id.clone() });
            let (code, body) = fapi.post(0, "application/octet-stream", trustmeter_types::encode(&tx)).await?;
            ensure!(code == 503 && body["code"] == "follower", "follower took a transaction: {code} {body}");
            // The follower that only hears the liar applied nothing.
            ensure!(
                fooled.app.finalized_height() == 0,
                "the fooled follower applied {}",
                fooled.app.finalized_height()
            );
            ensure!(fooled.index.height() == 0);
            Ok::<(), anyhow::Error>(())
        })
        .expect("follower run");
    eprintln!("follower test: {:.1} s", started.elapsed().as_secs_f64());
}

/// A validator that joins a running chain late with `state_sync = true` restores a peer's
/// certified state over real p2p (on disk, `statedb`) instead of executing the chain from
/// genesis: it replays nothing, reaches the others' height and state root, follows and indexes
/// the blocks after its sync height (earlier ones are not indexed there), and serves proofs of
/// readings recorded after it that verify offline.
#[test]
fn a_new_validator_joins_by_state_sync() {
    init_logs();
    let started = Instant::now();
    let cluster = Cluster::new("hunan-e2e-sync", 41);
    let mut world = World::new(&cluster.devnet, 4, 41);
    let (cluster_ref, world_ref) = (&cluster, &mut world);
    cluster
        .runner()
        .start(|ctx| async move {
            let (cluster, world) = (cluster_ref, world_ref);
            // Three of four validators are a quorum: the chain runs without validator 3.
            let _first = cluster.start_some(&ctx, &[0, 1, 2], false).await?;
            let three = cluster.api_of(&[0, 1, 2])?;
            world.onboard(&three).await?;
            world.report(&three, 3).await?;
            let before = world.last_height();
            let joined = cluster.start_some(&ctx, &[3], true).await?;
            let all = cluster.api_of(&[0, 1, 2, 3])?;
            let (synced, refused) = joined[0].app.state_synced_at().context("validator 3 did not sync its state")?;
            // Peers serve their committed state (at most one group commit behind).
            ensure!(
                synced + trustmeter_chain::app::MAX_UNCOMMITTED_BLOCKS as u64 >= before,
                "synced at {synced}, the chain was at {before}"
            );
            ensure!(refused == 0, "honest peers' answers were refused {refused} times");
            let status = all.status(3).await?;
            ensure!(u64_of(&status["replayed_blocks"]) == 0, "status: {status}");
            // The chain goes on; validator 3 follows it and indexes from its sync height on.
            world.report(&three, 2).await?;
            let tip = world.last_height();
            ensure!(tip > synced, "no block after the sync height");
            all.wait_indexed(3, tip).await?;
            // The same blocks. Whether each is proven by its own certificate may differ: one that
            // reached validator 3 through parent links has its certificate only if the fetch from
            // a peer (≤ 0.5 s) succeeded; either way its readings are provable.
            let mut own = 0;
            for h in synced + 1..=tip {
                let (mut a, mut b) = (all.block(3, h).await?, all.block(0, h).await?);
                own += u32::from(a["certificate"] == "own");
                for v in [&mut a, &mut b] {
                    v.as_object_mut().context("a block object")?.remove("certificate");
                }
                ensure!(a == b, "block {h} differs on the synced validator: {a} vs {b}");
            }
            eprintln!(
                "state sync test: {own} of {} blocks after the sync height with their own certificate",
                tip - synced
            );
            let (code, _) = all.get(3, &format!("/v1/blocks/{synced}")).await?;
            ensure!(code == 404, "block {synced} (before the sync) is served: {code}");
            let v0 = all.status(0).await?;
            let v3 = all
                .wait_status(3, "the same height as validator 0", |s| s["finalized_height"] == v0["finalized_height"])
                .await?;
            ensure!(v3["state_root"] == v0["state_root"], "state roots differ: {v3} vs {v0}");
            // A proof of a reading recorded after the sync height, from validator 3.
            let (meter, seq) = world
                .recorded
                .iter()
                .find_map(|(m, rs)| rs.iter().find(|r| r.height > synced).map(|r| (m.clone(), r.reading.reading.seq)))
                .context("a reading recorded after the sync")?;
            check_proof(&all, 3, world, &meter, seq).await.context("a proof from the synced validator")?;
            Ok::<(), anyhow::Error>(())
        })
        .expect("state sync run");
    eprintln!("state sync test: {:.1} s", started.elapsed().as_secs_f64());
}
