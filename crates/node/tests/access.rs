//! Every read authorised, on a live 4-validator cluster with `[api] access = "enforced"`: every
//! route of `access::ROUTES` is requested by every kind of caller (unsigned, the owning
//! enterprise, another enterprise, the regulator of its region, a regulator of another province,
//! the statistics bureau, the metrology authority, a verifier without grants, a national
//! statistics bureau, the owner's gateway with its device key), each signing with its key (RFC 9421); who may read what is the
//! table below, written from the rules in the README, not from the code. Then: bad signatures
//! are refused with reasons, and the owner reads in its access log who read its data.

use anyhow::{Context as _, Result, bail, ensure};
use commonware_runtime::Runner as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use trustmeter_crypto::SigningKey;
use trustmeter_node::api::access::{AccessMode, ROUTES};
use trustmeter_node::api::limits::ApiConfig;
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_types::{
    MembershipAction, NewAccount, OrgKind, Organisation, Transaction, TxPayload, UnifiedSocialCreditCode,
    account_proof_payload,
};

use crate::common::*;

const INTERVAL_MS: i64 = 15 * 60_000;
const DAY_MS: i64 = 86_400_000;

/// The callers, in the order of the table's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Public,
    Owner,
    OtherEnterprise,
    Regulator,
    OtherProvinceRegulator,
    Statistics,
    Metrology,
    Verifier,
    NationalStatistics,
    /// The owner's gateway, signing with its device key.
    Gateway,
}

use Who::*;

const EVERYONE: &[Who] = &[
    Public,
    Owner,
    OtherEnterprise,
    Regulator,
    OtherProvinceRegulator,
    Statistics,
    Metrology,
    Verifier,
    NationalStatistics,
    Gateway,
];
/// Who reads one enterprise's data: itself and the authorities of its region (Hunan) or the
/// whole country.
const ENTERPRISE_DATA: &[Who] = &[Owner, Regulator, Statistics, NationalStatistics];
/// A region's data (Hunan): its authorities and national ones.
const REGION_DATA: &[Who] = &[Regulator, Statistics, NationalStatistics];
/// One enterprise's device records: as its data, and metrology authorities.
const DEVICE_RECORDS: &[Who] = &[Owner, Regulator, Statistics, Metrology, NationalStatistics, Gateway];
/// Every device: metrology and national authorities.
const ALL_DEVICES: &[Who] = &[Metrology, NationalStatistics];
/// Raw blocks: authorities, and the organisations that run validators (the devnet's validators
/// are run by the regulator, the metrology authority and the statistics bureau).
const BLOCKS: &[Who] = &[Regulator, OtherProvinceRegulator, Statistics, Metrology, NationalStatistics];

fn code(body: &str) -> UnifiedSocialCreditCode {
    trustmeter_chain::devnet::credit_code(body)
}

/// Admits an organisation (the devnet regulator proposes; with one or two regulators an
/// authority's admission needs the other regulator too, which `approvers` give).
fn admission(chain: &trustmeter_types::ChainId, org: &Organisation, key: &SigningKey) -> TxPayload {
    let proof = key.sign(&account_proof_payload(chain, &org.id, &key.public_key()));
    let accounts = vec![NewAccount { public_key: key.public_key(), proof }];
    TxPayload::Propose { action: MembershipAction::Admit { organisation: org.clone(), accounts } }
}

/// `GET path` signed by `key` (unsigned without one): status and body.
pub(crate) async fn signed_get(api: &Api, path: &str, key: Option<&SigningKey>) -> Result<(u16, String)> {
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut req = api.http.get(format!("{}{path}", api.urls[0]));
    if let Some(k) = key {
        let s = trustmeter_httpsig::sign(k, "GET", p, q, now_ms() / 1_000);
        req = req.header("signature-input", s.signature_input).header("signature", s.signature);
    }
    let resp = req.timeout(Duration::from_secs(20)).send().await.with_context(|| format!("GET {path}"))?;
    let status = resp.status().as_u16();
    // An event stream never ends: its status is the answer.
    let refused = status == 401 || status == 403;
    let body = if path.contains("/stream") && !refused { String::new() } else { resp.text().await.unwrap_or_default() };
    Ok((status, body))
}

#[test]
fn every_route_refuses_or_serves_each_kind_of_caller_by_the_rules_and_logs_reads() {
    init_logs();
    let mut cluster = Cluster::with_enterprises("hunan-access-1", 31, 2);
    cluster.api_config = ApiConfig { access: Some(AccessMode::Enforced), ..ApiConfig::default() };
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            api.wait_finalized_everywhere(1).await?;
            let devnet = &cluster.devnet;
            let chain = devnet.genesis.chain_id.clone();
            let (owner, other) = (&devnet.enterprises[0], &devnet.enterprises[1]);

            // Members admitted after genesis: a Guangdong regulator, a verifier, a national
            // statistics bureau. The first needs the regulator alone (1 of 1); the others then
            // need both regulators (more than half of 2).
            let org = |body: &str, kind, region| Organisation { id: code(body), name: body.into(), kind, region };
            let gd = (org("11440000MB0000001", OrgKind::Regulator, 440_000), SigningKey::ed25519_from_seed([41; 32]));
            let ver = (org("91430100MA4L00W01", OrgKind::Verifier, 430_000), SigningKey::ed25519_from_seed([42; 32]));
            let nat =
                (org("11100000MB0000003", OrgKind::StatisticsBureau, 100_000), SigningKey::ed25519_from_seed([43; 32]));
            let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
            let mut gd_signer = TxSigner::new(gd.1.clone(), chain.clone(), 1);
            run_txs(&api, &[reg.sign(admission(&chain, &gd.0, &gd.1))]).await?;
            for (o, k) in [&ver, &nat] {
                let propose = reg.sign(admission(&chain, o, k));
                let id = trustmeter_crypto::tx_hash(api.alg, &propose);
                run_txs(&api, &[propose]).await?;
                run_txs(&api, &[gd_signer.sign(TxPayload::Approve { proposal: id })]).await?;
            }

            // The owner's plant: a gateway, two meters, three intervals of readings.
            let start_ms = (now_ms() - 3 * 3_600_000) / INTERVAL_MS * INTERVAL_MS;
            let mut plant =
                Plant::new(PlantConfig { meters: 2, start_ms, ..PlantConfig::new(owner.org.id.clone(), 31) });
            let mut ent = TxSigner::new(owner.key.clone(), chain.clone(), 1);
            let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
            let mut gw = plant.gateway_signer(chain.clone(), 1);
            run_txs(&api, &[ent.sign(plant.register_gateway_payload())]).await?;
            for batch in plant.register_meter_batches() {
                run_txs(&api, &ent.sign_all(batch)).await?;
            }
            let mut txs = metro.sign_all(plant.calibration_payloads(
                &devnet.metrology.org.id,
                start_ms - DAY_MS,
                now_ms() + DAY_MS,
            ));
            txs.push(reg.sign(TxPayload::ActivateDevice { device: plant.gateway_id().clone() }));
            for spec in plant.meter_specs() {
                txs.push(reg.sign(TxPayload::ActivateDevice { device: spec.id }));
            }
            run_txs(&api, &txs).await?;
            let mut last = 0;
            for _ in 0..3 {
                let batch = plant.advance();
                let txs: Vec<Transaction> = plant.batches(batch, 1_000).into_iter().map(|p| gw.sign(p)).collect();
                last = run_txs(&api, &txs).await?;
            }
            api.wait_indexed(0, last).await?;

            let keys: BTreeMap<Who, Option<SigningKey>> = [
                (Public, None),
                (Owner, Some(owner.key.clone())),
                (OtherEnterprise, Some(other.key.clone())),
                (Regulator, Some(devnet.regulator.key.clone())),
                (OtherProvinceRegulator, Some(gd.1.clone())),
                (Statistics, Some(devnet.statistics.key.clone())),
                (Metrology, Some(devnet.metrology.key.clone())),
                (Verifier, Some(ver.1.clone())),
                (NationalStatistics, Some(nat.1.clone())),
                (Gateway, Some(plant.gateway_key().clone())),
            ]
            .into_iter()
            .collect();

            // One concrete request per route template, with who may make it.
            let o = &owner.org.id;
            let meter = plant.meter_specs()[0].id.clone();
            let gateway = plant.gateway_id().clone();
            let day = trustmeter_energy::calendar::day_label(trustmeter_energy::calendar::day_number(start_ms));
            let month = &day[..7];
            let account = devnet.regulator.key.public_key().to_text();
            // An evidence file only its enterprise may upload; read like its figures.
            let file = b"SF6 inventory ledger, March: opening 1.2 t, closing 0.8 t".to_vec();
            let evidence_hash = trustmeter_crypto::hash(trustmeter_crypto::HashAlg::Sha256, &file).to_hex();
            let upload_path = format!("/v1/enterprises/{o}/evidence", o = owner.org.id);
            for (who, key) in &keys {
                let mut req = api.http.put(format!("{}{upload_path}", api.urls[0])).body(file.clone());
                if let Some(k) = key {
                    let (s, digest) =
                        trustmeter_httpsig::sign_body(k, "PUT", &upload_path, None, &file, now_ms() / 1_000);
                    req = req
                        .header("signature-input", s.signature_input)
                        .header("signature", s.signature)
                        .header("content-digest", digest);
                }
                let resp = req.timeout(Duration::from_secs(20)).send().await?;
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                match who {
                    Owner => {
                        let v: Value = serde_json::from_str(&body)?;
                        ensure!(status == 201 && v["hash"] == evidence_hash.as_str(), "owner upload: {status} {body}");
                    }
                    Public => ensure!(status == 401, "{who:?} uploaded: {status} {body}"),
                    Gateway => ensure!(
                        status == 403 && body.contains("reads only its own"),
                        "gateway uploaded: {status} {body}"
                    ),
                    _ => ensure!(
                        status == 403 && body.contains("uploaded by the enterprise itself"),
                        "{who:?} uploaded: {status} {body}"
                    ),
                }
            }
            // The owner's signature must cover the body: without a Content-Digest the upload is
            // refused, and a body changed after signing does not match the digest signed.
            let put = |body: Vec<u8>, signed: Option<(trustmeter_httpsig::Signed, String)>| {
                let mut req = api.http.put(format!("{}{upload_path}", api.urls[0])).body(body);
                if let Some((s, digest)) = signed {
                    req = req.header("signature-input", s.signature_input).header("signature", s.signature);
                    if !digest.is_empty() {
                        req = req.header("content-digest", digest);
                    }
                }
                req.timeout(Duration::from_secs(20)).send()
            };
            let plain = trustmeter_httpsig::sign(&owner.key, "PUT", &upload_path, None, now_ms() / 1_000);
            let resp = put(file.clone(), Some((plain, String::new()))).await?;
            let (status, body) = (resp.status().as_u16(), resp.text().await.unwrap_or_default());
            ensure!(status == 401 && body.contains("must cover its body"), "upload without a digest: {status} {body}");
            let signed = trustmeter_httpsig::sign_body(&owner.key, "PUT", &upload_path, None, &file, now_ms() / 1_000);
            let resp = put(b"SF6 inventory ledger, March: opening 9.9 t".to_vec(), Some(signed)).await?;
            let (status, body) = (resp.status().as_u16(), resp.text().await.unwrap_or_default());
            ensure!(
                status == 400 && body.contains("does not match the signed Content-Digest"),
                "changed body: {status} {body}"
            );

            // The owner reads it back, byte for byte; a regulator of its region too.
            for key in [&owner.key, &devnet.regulator.key] {
                let path = format!("/v1/enterprises/{}/evidence/{evidence_hash}", owner.org.id);
                let s = trustmeter_httpsig::sign(key, "GET", &path, None, now_ms() / 1_000);
                let resp = api
                    .http
                    .get(format!("{}{path}", api.urls[0]))
                    .header("signature-input", s.signature_input)
                    .header("signature", s.signature)
                    .send()
                    .await?;
                ensure!(resp.status().as_u16() == 200, "reading the evidence back: {}", resp.status());
                ensure!(resp.bytes().await?.as_ref() == file.as_slice(), "the same bytes");
            }
            let table: Vec<(&str, String, &[Who])> = vec![
                ("/", "/".into(), EVERYONE),
                ("/app/", "/app/".into(), EVERYONE),
                ("/app/{file}", "/app/app.js".into(), EVERYONE),
                ("/v1/disclosures/{region}", "/v1/disclosures/430000".into(), EVERYONE),
                ("/v1/published", "/v1/published?region=430000".into(), EVERYONE),
                ("/openapi.json", "/openapi.json".into(), EVERYONE),
                ("/metrics", "/metrics".into(), EVERYONE),
                ("/v1/status", "/v1/status".into(), EVERYONE),
                ("/v1/genesis", "/v1/genesis".into(), EVERYONE),
                ("/v1/transactions/{hash}", format!("/v1/transactions/{}", "00".repeat(32)), EVERYONE),
                ("/v1/transactions/{hash}/proof", format!("/v1/transactions/{}/proof", "00".repeat(32)), EVERYONE),
                ("/v1/organisations", "/v1/organisations".into(), EVERYONE),
                ("/v1/organisations/{id}", format!("/v1/organisations/{o}"), EVERYONE),
                ("/v1/accounts/{public_key}", format!("/v1/accounts/{account}"), EVERYONE),
                ("/v1/proposals/{id}", format!("/v1/proposals/{}", "00".repeat(32)), EVERYONE),
                ("/v1/policy", "/v1/policy".into(), EVERYONE),
                ("/v1/policy/proof", "/v1/policy/proof".into(), EVERYONE),
                ("/v1/methodologies", "/v1/methodologies".into(), EVERYONE),
                ("/v1/methodology", "/v1/methodology?id=GB/T%2032150-2015".into(), EVERYONE),
                ("/v1/blocks/{height}", "/v1/blocks/1".into(), BLOCKS),
                ("/v1/chain/finalized/{height}", "/v1/chain/finalized/1".into(), BLOCKS),
                ("/v1/meters", "/v1/meters".into(), ALL_DEVICES),
                ("/v1/meters/{id}", format!("/v1/meters/{meter}"), DEVICE_RECORDS),
                ("/v1/meters/{id}/proof", format!("/v1/meters/{meter}/proof"), DEVICE_RECORDS),
                ("/v1/gateways", "/v1/gateways".into(), ALL_DEVICES),
                ("/v1/gateways/{id}", format!("/v1/gateways/{gateway}"), DEVICE_RECORDS),
                ("/v1/meters/{id}/readings", format!("/v1/meters/{meter}/readings"), ENTERPRISE_DATA),
                (
                    "/v1/meters/{id}/readings/{seq}/proof",
                    format!("/v1/meters/{meter}/readings/1/proof"),
                    ENTERPRISE_DATA,
                ),
                ("/v1/alarms", format!("/v1/alarms?org={o}"), ENTERPRISE_DATA),
                ("/v1/alarms/stream", format!("/v1/alarms/stream?org={o}"), ENTERPRISE_DATA),
                ("/v1/figures/daily", format!("/v1/figures/daily?org={o}&from={day}"), ENTERPRISE_DATA),
                (
                    "/v1/figures/series",
                    format!("/v1/figures/series?scope=meter&id={meter}&from={day}"),
                    ENTERPRISE_DATA,
                ),
                ("/v1/figures/breakdown", format!("/v1/figures/breakdown?org={o}&from={day}"), ENTERPRISE_DATA),
                ("/v1/figures/ranking", format!("/v1/figures/ranking?region=430000&from={day}"), REGION_DATA),
                ("/v1/figures/tou", format!("/v1/figures/tou?org={o}&from={day}"), ENTERPRISE_DATA),
                ("/v1/enterprises/{org}/energy", format!("/v1/enterprises/{o}/energy?month={month}"), ENTERPRISE_DATA),
                ("/v1/enterprises/{org}/carbon", format!("/v1/enterprises/{o}/carbon?month={month}"), ENTERPRISE_DATA),
                (
                    "/v1/enterprises/{org}/carbon/entries",
                    format!("/v1/enterprises/{o}/carbon/entries?month={}", month.replace('-', "")),
                    ENTERPRISE_DATA,
                ),
                (
                    "/v1/enterprises/{org}/carbon/year",
                    format!("/v1/enterprises/{o}/carbon/year?year=2026"),
                    ENTERPRISE_DATA,
                ),
                ("/v1/enterprises/{org}/shifts", format!("/v1/enterprises/{o}/shifts?from={day}"), ENTERPRISE_DATA),
                ("/v1/enterprises/{org}/balance", format!("/v1/enterprises/{o}/balance?from={day}"), ENTERPRISE_DATA),
                (
                    "/v1/enterprises/{org}/carbon/report",
                    format!("/v1/enterprises/{o}/carbon/report?period={month}"),
                    ENTERPRISE_DATA,
                ),
                (
                    "/v1/enterprises/{org}/carbon/proof",
                    format!("/v1/enterprises/{o}/carbon/proof?year=2025"),
                    ENTERPRISE_DATA,
                ),
                (
                    "/v1/enterprises/{org}/carbon/compliance",
                    format!("/v1/enterprises/{o}/carbon/compliance?year=2026"),
                    ENTERPRISE_DATA,
                ),
                ("/v1/carbon/compliance", format!("/v1/carbon/compliance?year=2026&org={o}"), ENTERPRISE_DATA),
                (
                    "/v1/enterprises/{org}/evidence/{hash}",
                    format!("/v1/enterprises/{o}/evidence/{evidence_hash}"),
                    ENTERPRISE_DATA,
                ),
                ("/v1/quality", format!("/v1/quality?region=430000&from={day}"), REGION_DATA),
                (
                    "/v1/proofs/daily/{org}/{day}/{energy}/{unit}",
                    format!("/v1/proofs/daily/{o}/{day}/electricity/kWh"),
                    ENTERPRISE_DATA,
                ),
                ("/v1/access-log", format!("/v1/access-log?org={o}"), &[Owner, Regulator]),
                ("/v1/epoch", "/v1/epoch".into(), EVERYONE),
                ("/v1/validators", "/v1/validators".into(), EVERYONE),
                ("/v1/rewards/schedule", "/v1/rewards/schedule".into(), EVERYONE),
                // A token account: its organisation and the regulators of its region.
                ("/v1/token/{org}", format!("/v1/token/{o}"), &[Owner, Regulator]),
                ("/v1/grants", format!("/v1/grants?org={o}"), &[Owner, Regulator]),
                ("/v1/grants/received", format!("/v1/grants/received?org={o}"), &[Owner, Regulator]),
            ];
            // Every route with a rule has a row here (POST /v1/transactions is the other test
            // files'; the upload, PUT, is checked below).
            for (m, template, _) in ROUTES {
                ensure!(
                    *m != "GET" || table.iter().any(|(t, ..)| t == template),
                    "route {m} {template} has no row in this test's table"
                );
            }
            // Lists with no enterprise named.
            let extra: Vec<(&str, String, &[Who])> = vec![
                ("/v1/alarms", "/v1/alarms".into(), &[NationalStatistics]),
                // One enterprise's devices: what its device records allow.
                ("/v1/meters", format!("/v1/meters?org={o}"), DEVICE_RECORDS),
                ("/v1/gateways", format!("/v1/gateways?org={o}"), DEVICE_RECORDS),
                (
                    "/v1/figures/ranking",
                    format!("/v1/figures/ranking?region=440000&from={day}"),
                    &[OtherProvinceRegulator, NationalStatistics],
                ),
            ];
            let mut checked = 0;
            for (template, path, allowed) in table.iter().chain(&extra) {
                for (who, key) in &keys {
                    let (status, body) = signed_get(&api, path, key.as_ref()).await?;
                    let refused = status == 401 || status == 403;
                    let should = allowed.contains(who);
                    if should == refused {
                        bail!("{who:?} on {template} ({path}): HTTP {status} {body}; allowed: {allowed:?}");
                    }
                    if refused {
                        let e: Value = serde_json::from_str(&body).context("a refusal is JSON")?;
                        let expect = if *who == Public { 401 } else { 403 };
                        ensure!(status == expect, "{who:?} on {path}: HTTP {status}, not {expect}: {e}");
                        let msg = e["message"].as_str().unwrap_or_default();
                        let reason = ["sign the request", "may not read", "reads only its own"];
                        ensure!(msg.len() > 40 && reason.iter().any(|r| msg.contains(r)), "{msg}");
                    }
                    checked += 1;
                }
            }
            eprintln!("{checked} (route, caller) pairs checked");

            // Spellings that name the other enterprise to the rules and the owner to the handler
            // (or both) are refused: every subject a request names is checked, decoded as the
            // handlers decode it.
            let p = &other.org.id;
            let m_enc = meter.as_str().replacen('-', "%2D", 1);
            let tricks = [
                format!("/v1/figures/series?scope=meter&id={meter}&org={p}&from={day}"),
                format!("/v1/figures/daily?org={p}&org={o}&from={day}"),
                format!("/v1/figures/daily?o%72g={o}&from={day}"),
                format!("/v1/figures/daily?org=+{o}+&from={day}"),
                format!("/v1/alarms?org={p}&owner={o}"),
                // A region's alarms are a regulator's (or statistics bureau's) of that region.
                "/v1/alarms?region=430000".to_string(),
                // Every enterprise a batch names is checked.
                format!("/v1/carbon/compliance?year=2026&org={p}&org={o}"),
                format!("/v1/carbon/compliance?year=2026&org={p}&org=+{o}"),
                "/v1/alarms/stream?region=430000".to_string(),
                format!("/v1/alarms?org={p}&region=430000"),
                format!("/v1/meters/{m_enc}/readings"),
                format!("/v1/figures/series?scope=meter&scope=org&id={p}&from={day}"),
            ];
            for path in &tricks {
                let (status, body) = signed_get(&api, path, Some(&other.key)).await?;
                ensure!(matches!(status, 400 | 403), "another enterprise got {path}: HTTP {status} {body}");
            }

            // Signatures that do not hold: 401 with the reason.
            let path = format!("/v1/meters/{meter}/readings");
            let good = trustmeter_httpsig::sign(&owner.key, "GET", &path, None, now_ms() / 1_000);
            let stale = trustmeter_httpsig::sign(&owner.key, "GET", &path, None, now_ms() / 1_000 - 3_600);
            let stranger = trustmeter_httpsig::sign(
                &SigningKey::ed25519_from_seed([99; 32]),
                "GET",
                &path,
                None,
                now_ms() / 1_000,
            );
            let other_path = trustmeter_httpsig::sign(&owner.key, "GET", "/v1/meters", None, now_ms() / 1_000);
            for (s, why) in [
                (&stale, "more than 300 s"),
                (&stranger, "not an active account of an active member"),
                (&other_path, "does not verify"),
            ] {
                let resp = api
                    .http
                    .get(format!("{}{path}", api.urls[0]))
                    .header("signature-input", &s.signature_input)
                    .header("signature", &s.signature)
                    .send()
                    .await?;
                let status = resp.status().as_u16();
                let text = resp.text().await?;
                ensure!(status == 401 && text.contains(why), "{why}: HTTP {status} {text}");
            }
            let resp =
                api.http.get(format!("{}{path}", api.urls[0])).header("signature", &good.signature).send().await?;
            ensure!(resp.status().as_u16() == 401, "half a signature");

            // Grants: the owner lets the verifier read its readings (not its figures); checked at
            // every read, so a revocation and an expiry refuse the next one.
            let readings_path = format!("/v1/meters/{meter}/readings");
            let figures_path = format!("/v1/figures/daily?org={o}&from={day}");
            let verifier_key = Some(&ver.1);
            let grant = |until: i64| TxPayload::Grant {
                grantee: ver.0.id.clone(),
                scope: trustmeter_types::GrantScope::Readings,
                expires_at_ms: until,
            };
            run_txs(&api, &[ent.sign(grant(now_ms() + 3_600_000))]).await?;
            let (status, body) = signed_get(&api, &readings_path, verifier_key).await?;
            ensure!(status == 200, "granted readings: {status} {body}");
            // The verifier lists what it was granted; the owner may not read that list.
            let received = format!("/v1/grants/received?org={}", ver.0.id);
            let (status, body) = signed_get(&api, &received, verifier_key).await?;
            let page: Value = serde_json::from_str(&body)?;
            ensure!(status == 200 && page["next"].is_null(), "received grants: {status} {body}");
            let items = page["items"].as_array().cloned().unwrap_or_default();
            ensure!(
                items.len() == 1 && items[0]["owner"] == o.as_str() && items[0]["scope"] == "readings",
                "received grants: {body}"
            );
            ensure!(signed_get(&api, &received, Some(&owner.key)).await?.0 == 403, "another member's received grants");
            let (status, body) = signed_get(&api, &figures_path, verifier_key).await?;
            ensure!(status == 403 && body.contains("granted `figures`"), "figures were not granted: {status} {body}");
            run_txs(
                &api,
                &[ent.sign(TxPayload::RevokeGrant {
                    grantee: ver.0.id.clone(),
                    scope: trustmeter_types::GrantScope::Readings,
                })],
            )
            .await?;
            let (status, _) = signed_get(&api, &readings_path, verifier_key).await?;
            ensure!(status == 403, "a revoked grant still served: {status}");
            let (_, body) = signed_get(&api, &received, verifier_key).await?;
            ensure!(body.contains(r#""items":[]"#), "a revoked grant is no longer listed: {body}");
            let until = now_ms() + 5_000;
            run_txs(&api, &[ent.sign(grant(until))]).await?;
            let (status, body) = signed_get(&api, &readings_path, verifier_key).await?;
            ensure!(status == 200 || now_ms() >= until, "a fresh grant: {status} {body}");
            tokio::time::sleep(Duration::from_millis((until - now_ms()).max(0) as u64 + 200)).await;
            let (status, _) = signed_get(&api, &readings_path, verifier_key).await?;
            ensure!(status == 403, "an expired grant still served: {status}");

            // What the public reads: a region's rankings once its regulator discloses them, an
            // enterprise's figures while it publishes them; never readings.
            let ranking = format!("/v1/figures/ranking?region=430000&from={day}");
            let quality = format!("/v1/quality?region=430000&from={day}");
            ensure!(signed_get(&api, &ranking, None).await?.0 == 401, "rankings are not public yet");
            let disclose = TxPayload::SetDisclosure {
                region: 430_000,
                disclosure: trustmeter_types::Disclosure { regional_figures: false, rankings: true },
            };
            run_txs(&api, &[reg.sign(disclose)]).await?;
            let (status, body) = signed_get(&api, &ranking, None).await?;
            ensure!(status == 200, "disclosed rankings: {status} {body}");
            ensure!(signed_get(&api, &quality, None).await?.0 == 401, "regional figures were not disclosed");
            ensure!(signed_get(&api, &figures_path, None).await?.0 == 401, "figures are not published yet");
            run_txs(&api, &[ent.sign(TxPayload::PublishFigures { until_ms: now_ms() + 3_600_000 })]).await?;
            let (status, body) = signed_get(&api, &figures_path, None).await?;
            ensure!(status == 200, "published figures: {status} {body}");
            ensure!(signed_get(&api, &readings_path, None).await?.0 == 401, "readings are never public");
            // Who published is public too, by region.
            let listed = |body: &str| -> Result<Vec<String>> {
                let v: Value = serde_json::from_str(body)?;
                Ok(v["items"]
                    .as_array()
                    .context("items")?
                    .iter()
                    .map(|i| i["org"].as_str().unwrap_or("").to_string())
                    .collect())
            };
            let (status, body) = signed_get(&api, "/v1/published?region=430000", None).await?;
            ensure!(status == 200 && listed(&body)? == vec![o.to_string()], "published list: {status} {body}");
            let (_, body) = signed_get(&api, "/v1/published?region=440000", None).await?;
            ensure!(listed(&body)?.is_empty(), "another province's list: {body}");
            ensure!(signed_get(&api, "/v1/published?region=4300", None).await?.0 == 400, "a bad region");
            run_txs(&api, &[ent.sign(TxPayload::PublishFigures { until_ms: 0 })]).await?;
            ensure!(signed_get(&api, &figures_path, None).await?.0 == 401, "a withdrawn publication");
            let (_, body) = signed_get(&api, "/v1/published", None).await?;
            ensure!(listed(&body)?.is_empty(), "a withdrawn publication is listed: {body}");

            // The owner reads who read its data: the regulator's readings request is there, the
            // refused ones are not.
            let mut tries = 0;
            loop {
                let (status, body) =
                    signed_get(&api, &format!("/v1/access-log?org={o}&limit=1000"), Some(&owner.key)).await?;
                ensure!(status == 200, "access log: {status} {body}");
                let rows: Vec<Value> = serde_json::from_str(&body)?;
                let by = |reader: &str| {
                    rows.iter().any(|r| {
                        r["reader"] == reader
                            && r["request"].as_str().is_some_and(|q| q.ends_with(&format!("{meter}/readings")))
                    })
                };
                if by(devnet.regulator.org.id.as_str()) {
                    ensure!(by(o.as_str()), "the owner's own reads are logged too");
                    ensure!(by(ver.0.id.as_str()), "the verifier's granted read is logged");
                    ensure!(
                        !by(other.org.id.as_str()) && !by(gd.0.id.as_str()),
                        "refused reads are not logged: {rows:?}"
                    );
                    ensure!(rows.iter().all(|r| r["subject"] == o.as_str()), "only the owner's subject");
                    eprintln!("access log of {o}: {} entries", rows.len());
                    break;
                }
                tries += 1;
                ensure!(tries < 50, "the regulator's read never reached the access log: {rows:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok::<(), anyhow::Error>(())
        })
        .expect("access rules on a live cluster");
}
