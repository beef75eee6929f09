//! The node API for operators and under load, on a live 4-validator cluster (real p2p and HTTP on
//! loopback): `GET /metrics` (Commonware's registry and ours, checked against what the API and the
//! test itself know) and the bounds on concurrent expensive requests (503 `busy` with
//! `Retry-After` while cheap requests keep being answered).

use anyhow::{Context as _, Result, ensure};
use commonware_runtime::Runner as _;
use std::collections::BTreeMap;
use std::time::Instant;
use trustmeter_node::api::limits::{ApiConfig, RequestClass};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_types::{Transaction, TxPayload};

use crate::common::*;

const INTERVAL_MS: i64 = 15 * 60_000;
const DAY_MS: i64 = 86_400_000;
/// Meters of the plant.
const METERS: usize = 4;
/// Intervals reported.
const TICKS: usize = 5;

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the sample `key` (name with its labels, exactly as exposed).
fn value(s: &BTreeMap<String, f64>, key: &str) -> Result<f64> {
    s.get(key).copied().with_context(|| {
        let ours: Vec<&String> = s.keys().filter(|k| k.starts_with("trustmeter_")).collect();
        format!("no sample {key}; ours: {ours:?}")
    })
}

/// `GET /metrics` on validator `node`: checks the content type, returns the text.
async fn scrape(api: &Api, node: usize) -> Result<String> {
    let resp = api.http.get(format!("{}/metrics", api.urls[node])).send().await?;
    ensure!(resp.status() == 200, "GET /metrics: HTTP {}", resp.status());
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    ensure!(ct == "text/plain; version=0.0.4", "content type {ct:?}");
    let text = resp.text().await?;
    ensure!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1, "one EOF, at the end");
    Ok(text)
}

/// The dashboards' files over HTTP: gzip only when asked for, a representation's own ETag and
/// a 304 for it, `Vary: Accept-Encoding`, the bytes the binary embeds.
async fn web_assets(api: &Api) -> Result<()> {
    use std::io::Read as _;
    let url = format!("{}/app/verifier.wasm", api.urls[0]);
    let header = |r: &reqwest::Response, k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let plain = api.http.get(&url).send().await?;
    ensure!(plain.status() == 200 && header(&plain, "content-encoding").is_none());
    ensure!(header(&plain, "vary").as_deref() == Some("accept-encoding"));
    let plain_tag = header(&plain, "etag").context("no ETag")?;
    let plain_bytes = plain.bytes().await?;
    ensure!(plain_bytes.as_ref() == trustmeter_webui::asset("verifier.wasm").unwrap().bytes);

    let gz = api.http.get(&url).header("accept-encoding", "br, gzip;q=0.8").send().await?;
    ensure!(gz.status() == 200 && header(&gz, "content-encoding").as_deref() == Some("gzip"));
    let gz_tag = header(&gz, "etag").context("no ETag")?;
    ensure!(gz_tag != plain_tag, "one ETag for two encodings");
    let wire = gz.bytes().await?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(wire.as_ref()).read_to_end(&mut out)?;
    ensure!(out == plain_bytes.as_ref(), "the gzip body is not the file");
    ensure!(wire.len() * 3 < plain_bytes.len(), "{} B on the wire for {} B", wire.len(), plain_bytes.len());

    // Revalidation: each representation by its own tag; the other's tag is a full answer.
    let again = |enc: &'static str, tag: String| {
        api.http.get(&url).header("accept-encoding", enc).header("if-none-match", tag).send()
    };
    ensure!(again("gzip", gz_tag.clone()).await?.status() == 304);
    ensure!(again("identity", plain_tag.clone()).await?.status() == 304);
    ensure!(again("identity", gz_tag).await?.status() == 200);
    ensure!(again("gzip;q=0", plain_tag).await?.status() == 304);
    Ok(())
}

/// The API's own answers: gzip for a large JSON answer when asked for (the same document once
/// decoded, `Vary` set), never for a small one, never unasked (event streams: the alarm test's
/// client asks for gzip and must get each event as it happens).
async fn api_compression(api: &Api) -> Result<()> {
    use std::io::Read as _;
    let header = |r: &reqwest::Response, k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let url = format!("{}/openapi.json", api.urls[0]);
    let plain = api.http.get(&url).send().await?;
    ensure!(plain.status() == 200 && header(&plain, "content-encoding").is_none(), "compressed unasked");
    let plain: serde_json::Value = serde_json::from_slice(&plain.bytes().await?)?;
    let gz = api.http.get(&url).header("accept-encoding", "gzip").send().await?;
    ensure!(gz.status() == 200 && header(&gz, "content-encoding").as_deref() == Some("gzip"), "not compressed");
    ensure!(header(&gz, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")), "no Vary");
    let wire = gz.bytes().await?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(wire.as_ref()).read_to_end(&mut out)?;
    ensure!(serde_json::from_slice::<serde_json::Value>(&out)? == plain, "the gzip body is not the document");
    // The fastest level: 219 469 B → 68 331 B when this was written.
    ensure!(wire.len() * 5 < out.len() * 2, "{} B on the wire for {} B", wire.len(), out.len());

    // An error's JSON is a few hundred bytes.
    let small = api.http.get(format!("{}/v1/no-such-route", api.urls[0])).header("accept-encoding", "gzip");
    let small = small.send().await?;
    ensure!(small.status() == 404 && header(&small, "content-encoding").is_none(), "a small answer was compressed");

    Ok(())
}

#[test]
fn metrics_and_request_limits_on_a_live_cluster() {
    init_logs();
    let started = Instant::now();
    let mut cluster = Cluster::new("hunan-api-1", 23);
    cluster.api_config = ApiConfig {
        max_concurrent_proofs: 2,
        max_concurrent_series: 1,
        max_concurrent_exports: 1,
        retry_after_s: 3,
        ..ApiConfig::default()
    };
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let (api, nodes) = cluster.start_nodes(ctx).await?;
            api.wait_finalized_everywhere(1).await?;

            // A plant of METERS meters, onboarded, then TICKS intervals of readings.
            let devnet = &cluster.devnet;
            let enterprise = &devnet.enterprises[0];
            let chain = devnet.genesis.chain_id.clone();
            let start_ms = (now_ms() - 6 * 3_600_000) / INTERVAL_MS * INTERVAL_MS;
            let mut plant =
                Plant::new(PlantConfig { meters: METERS, start_ms, ..PlantConfig::new(enterprise.org.id.clone(), 23) });
            let mut ent = TxSigner::new(enterprise.key.clone(), chain.clone(), 1);
            let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
            let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
            let mut gw = plant.gateway_signer(chain.clone(), 1);
            let mut submitted = 0usize;
            let gateway_tx = ent.sign(plant.register_gateway_payload());
            run_txs(&api, std::slice::from_ref(&gateway_tx)).await?;
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
            submitted += 1 + plant.meter_specs().len() + txs.len();
            let mut readings = 0usize;
            let mut last = 0;
            for _ in 0..TICKS {
                let batch = plant.advance();
                readings += batch.len();
                let txs: Vec<Transaction> = plant.batches(batch, 1_000).into_iter().map(|p| gw.sign(p)).collect();
                submitted += txs.len();
                last = run_txs(&api, &txs).await?;
            }
            ensure!(readings == METERS * TICKS);
            for n in 0..VALIDATORS {
                api.wait_indexed(n, last).await?;
            }
            // A refusal at admission: a finalized transaction sent again (stale nonce), on validator 0.
            let (status, e) = api.post(0, "application/octet-stream", trustmeter_types::encode(&gateway_tx)).await?;
            ensure!(status == 422 && e["code"] == "stale_nonce", "{status} {e}");
            // Route templates, not raw paths; a 4xx; an unrouted path.
            let meter = plant.meter_specs()[0].id.clone();
            api.get_ok(0, &format!("/v1/meters/{meter}")).await?;
            let (s, _) = api.get(0, &format!("/v1/meters/{}-XX9999", enterprise.org.id)).await?;
            ensure!(s == 404);
            let unrouted = api.http.get(format!("{}/no/such/route", api.urls[0])).send().await?;
            ensure!(unrouted.status() == 404);
            web_assets(&api).await?;
            api_compression(&api).await?;

            // Metrics, validator by validator.
            let mut admitted_txs = 0.0;
            let (mut propose_s, mut verify_s) = (0.0, 0.0);
            for n in 0..VALIDATORS {
                let before = u64_of(&api.status(n).await?["finalized_height"]);
                let text = scrape(&api, n).await?;
                let after = u64_of(&api.status(n).await?["finalized_height"]);
                let s = samples(&text);

                // Commonware's own registry: marshal, Simplex and p2p series of this validator
                // (the process holds all four; they carry the `index` attribute).
                let ours = format!("index=\"{n}\"");
                let find = |part: &str| {
                    s.iter()
                        .filter(|(k, _)| k.contains(part) && k.contains(&ours))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect::<Vec<_>>()
                };
                let marshal = find("marshal_finalized_height");
                ensure!(
                    marshal.iter().any(|(_, v)| *v >= (last - 1) as f64),
                    "validator {n}: marshal's finalized height {marshal:?} below {last}"
                );
                let view = find("current_view");
                ensure!(view.iter().any(|(_, v)| *v >= last as f64), "validator {n}: Simplex view {view:?}");
                let p2p = find("network_");
                ensure!(p2p.iter().any(|(_, v)| *v > 0.0), "validator {n}: no nonzero p2p series in {p2p:?}");

                // Ours, consistent with the API.
                let height = value(&s, "trustmeter_finalized_height")?;
                ensure!(
                    before.saturating_sub(1) as f64 <= height && height <= after as f64,
                    "validator {n}: finalized height gauge {height}, status {before}..{after}"
                );
                let blocks = value(&s, "trustmeter_blocks_finalized_total")?;
                ensure!((blocks - height).abs() <= 1.0, "validator {n}: {blocks} blocks finalized, height {height}");
                let recorded = value(&s, "trustmeter_readings_finalized_total")?;
                ensure!(
                    recorded == readings as f64,
                    "validator {n}: {recorded} readings finalized, {readings} recorded"
                );
                admitted_txs += value(&s, "trustmeter_admission_transactions_total")?;
                ensure!(value(&s, "trustmeter_admission_readings_total")? >= 0.0);
                ensure!(value(&s, "trustmeter_admission_seconds_total")? > 0.0, "validator {n}: admission time");
                propose_s += value(&s, r#"trustmeter_execution_seconds_total{phase="propose"}"#)?;
                verify_s += value(&s, r#"trustmeter_execution_seconds_total{phase="verify"}"#)?;
                value(&s, r#"trustmeter_execution_seconds_total{phase="finalize"}"#)?;
                value(&s, "trustmeter_signature_verify_seconds_total")?;
                ensure!(value(&s, "trustmeter_index_seconds_total")? > 0.0, "validator {n}: index time");
                let lag = value(&s, "trustmeter_index_lag_blocks")?;
                ensure!((0.0..1_000.0).contains(&lag), "validator {n}: index lag {lag}");
                value(&s, "trustmeter_mempool_transactions")?;
                value(&s, "trustmeter_mempool_readings")?;
                // The alarm engine walked the meters once (its first pass; a second only if its
                // feed of touched meters started after a block it then missed), then followed the
                // blocks' touched meters.
                let walks = value(&s, r#"trustmeter_alarm_passes_total{walk="true"}"#)?;
                ensure!((1.0..=2.0).contains(&walks), "validator {n}: {walks} alarm passes walked every meter");
                value(&s, "trustmeter_alarm_meters_evaluated_total")?;
                ensure!(value(&s, "trustmeter_alarm_seconds_total")? > 0.0, "validator {n}: alarm time");
                // Every status call the test made to this validator is counted under the route
                // template, and the histogram counted the same requests.
                let key = r#"{route="/v1/status",status="2xx"}"#;
                let statuses = value(&s, &format!("trustmeter_api_requests_total{key}"))?;
                ensure!(statuses >= 1.0, "validator {n}: {statuses} status requests");
                let timed = value(&s, &format!("trustmeter_api_request_seconds_count{key}"))?;
                ensure!(timed == statuses, "validator {n}: {timed} timed, {statuses} counted");
                ensure!(
                    !text.contains(&format!("route=\"/v1/meters/{meter}"))
                        && !text.contains("route=\"/no/such/route\""),
                    "validator {n}: a raw path is a label"
                );
                if n == 0 {
                    ensure!(value(&s, r#"trustmeter_admission_rejected_total{code="stale_nonce"}"#)? >= 1.0);
                    value(&s, r#"trustmeter_api_requests_total{route="/v1/meters/{id}",status="2xx"}"#)?;
                    value(&s, r#"trustmeter_api_requests_total{route="/v1/meters/{id}",status="4xx"}"#)?;
                    let submits = value(&s, r#"trustmeter_api_requests_total{route="/v1/transactions",status="4xx"}"#)?;
                    ensure!(submits >= 1.0, "the refused submission is counted as a 4xx");
                }
            }
            // Every submission went through some validator's admission (gossip adds more).
            ensure!(
                admitted_txs >= (submitted + 1) as f64,
                "{admitted_txs} admissions for {submitted} transactions submitted"
            );
            ensure!(propose_s > 0.0 && verify_s > 0.0, "execution time: propose {propose_s} s, verify {verify_s} s");

            // Request limits. While every proof permit of validator 0 is taken (as by two proofs in
            // flight), a third proof is refused at once with 503 busy and Retry-After; cheap
            // requests and other classes are still answered; once a permit is free, proofs are.
            let limits = &nodes[0].limits;
            let held: Vec<_> = (0..2)
                .map(|_| limits.acquire(RequestClass::Proofs))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let proof_url = format!("{}/v1/meters/{meter}/readings/1/proof", api.urls[0]);
            let resp = api.http.get(&proof_url).send().await?;
            ensure!(resp.status() == 503, "proof while the class is full: HTTP {}", resp.status());
            ensure!(
                resp.headers().get("retry-after").and_then(|v| v.to_str().ok()) == Some("3"),
                "Retry-After: {:?}",
                resp.headers().get("retry-after")
            );
            let body: serde_json::Value = resp.json().await?;
            ensure!(body["code"] == "busy" && body["message"].as_str().is_some_and(|m| m.contains("proofs")), "{body}");
            let t = Instant::now();
            api.status(0).await?;
            api.get_ok(0, "/v1/meters?limit=2").await?;
            api.get_ok(0, &format!("/v1/meters/{meter}/readings?limit=3")).await?;
            ensure!(t.elapsed().as_secs() < 10, "cheap requests took {:?} while proofs were saturated", t.elapsed());
            let day = trustmeter_energy::calendar::day_label(trustmeter_energy::calendar::day_number(start_ms));
            let series = format!("/v1/figures/series?scope=meter&id={meter}&period=hour&from={day}");
            api.get_ok(0, &series).await.context("a series while proofs are saturated")?;
            // A figure proof is a proof too.
            let (s, e) = api.get(0, &format!("/v1/proofs/daily/{}/{day}/electricity/kWh", enterprise.org.id)).await?;
            ensure!(s == 503 && e["code"] == "busy", "{s} {e}");
            // Other validators are not affected.
            api.get_ok(1, &format!("/v1/meters/{meter}/readings/1/proof")).await?;
            drop(held);
            api.get_ok(0, &format!("/v1/meters/{meter}/readings/1/proof")).await?;

            // The series (1) and export (1) classes of validator 0: a CSV export and a JSON
            // series each fill their own class.
            let series_permit = limits.acquire(RequestClass::Series).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let (s, e) = api.get(0, &series).await?;
            ensure!(s == 503 && e["code"] == "busy", "{s} {e}");
            let daily = format!("/v1/figures/daily?org={}&from={day}", enterprise.org.id);
            let csv = api.http.get(format!("{}{daily}&format=csv", api.urls[0])).send().await?;
            ensure!(csv.status() == 200, "a CSV export uses the exports class: HTTP {}", csv.status());
            let export_permit = limits.acquire(RequestClass::Exports).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let csv = api.http.get(format!("{}{daily}&format=csv", api.urls[0])).send().await?;
            ensure!(csv.status() == 503, "export while the class is full: HTTP {}", csv.status());
            api.get_ok(0, &daily).await.context("the JSON rollup has its own class")?;
            drop((series_permit, export_permit));
            api.get_ok(0, &series).await?;

            // A real burst: 12 proofs at once against 2 permits. Every answer is a proof or a
            // clean 503 busy; at least the first two are served; status stays answered.
            let burst = (0..12).map(|i| {
                let http = api.http.clone();
                let url = format!("{}/v1/meters/{meter}/readings/{}/proof", api.urls[0], 1 + i % TICKS);
                async move {
                    let r = http.get(&url).send().await?;
                    let status = r.status().as_u16();
                    let retry = r.headers().get("retry-after").is_some();
                    let body: serde_json::Value = r.json().await?;
                    anyhow::Ok((status, retry, body))
                }
            });
            let (answers, st) = futures::join!(futures::future::join_all(burst), api.status(0));
            st?;
            let mut served = 0;
            let mut busy = 0;
            for a in answers {
                let (status, retry, body) = a?;
                match status {
                    200 => served += 1,
                    503 if retry && body["code"] == "busy" => busy += 1,
                    other => anyhow::bail!("burst answer HTTP {other}: {body}"),
                }
            }
            ensure!(served >= 1, "no proof served in the burst");
            eprintln!("burst of 12 proofs against 2 permits: {served} served, {busy} refused busy");
            let text = scrape(&api, 0).await?;
            let s = samples(&text);
            let refused = value(
                &s,
                r#"trustmeter_api_requests_total{route="/v1/meters/{id}/readings/{seq}/proof",status="5xx"}"#,
            )?;
            ensure!(refused >= 1.0 + busy as f64, "{refused} proof refusals counted, {busy} in the burst + 1 before");
            Ok::<(), anyhow::Error>(())
        })
        .expect("metrics and limits run");
    eprintln!("metrics and request limits: {:.1} s", started.elapsed().as_secs_f64());
}
