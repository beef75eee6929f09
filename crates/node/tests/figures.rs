//! The figures API on a real 4-validator consortium (tokio, p2p and HTTP on loopback).
//!
//! Three enterprises in three regions (Changsha 430100 and Zhuzhou 430200 in Hunan, Guangzhou
//! 440100) report register readings around midnight between two days; the test checks the
//! consensus daily figures against values computed by hand, the series (derived and consensus,
//! with downsampling), breakdowns, the region ranking, CSV export, comprehensive consumption and
//! the monthly report's deviation, quality indices, time-of-use tiers and a multi-rate meter's
//! reconciliation, the policy, the OpenAPI document, and a figure proof that verifies offline and
//! fails once the figure is altered.

use anyhow::{Context as _, Result, ensure};
use commonware_runtime::Runner as _;
use serde_json::Value;
use trustmeter_chain::devnet::Member;
use trustmeter_client::{FigureProof, VerifyError, verify_figure};
use trustmeter_crypto::{SigningKey, sign_reading};
use trustmeter_energy::calendar;
use trustmeter_plant::TxSigner;
use trustmeter_state::state::StateValue;
use trustmeter_types::tx::{MeterSpec, ProductOutput, ReportedConsumption};
use trustmeter_types::{
    AccuracyClass, Calibration, DeviceId, EnergyKind, LocationPath, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, TariffRegister, Transaction, TxPayload, Unit,
};

use crate::common::*;

const DAY_MS: i64 = 86_400_000;
const QUARTER_MS: i64 = 900_000;
const KWH: i64 = 1_000_000;

fn gateway_id(m: &Member) -> DeviceId {
    DeviceId::new(format!("{}-GW01", m.org.id)).expect("valid id")
}

fn spec(m: &Member, name: &str, energy: EnergyKind, unit: Unit, location: &str) -> MeterSpec {
    MeterSpec {
        id: DeviceId::new(format!("{}-{name}", m.org.id)).expect("valid id"),
        gateway: gateway_id(m),
        name: format!("meter {name}"),
        energy,
        unit,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(location.split('/').map(str::to_string).collect()),
        register_max: Quantity::from_micros(99_999_999 * KWH),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: None,
    }
}

/// Submits transactions and waits until all are finalized and accepted; returns the highest
/// height. One transaction per sender is in flight at a time: gossip may deliver a sender's
/// transactions to another proposer out of order, and a later nonce in a block makes the earlier
/// one stale.
async fn run(api: &Api, txs: Vec<Transaction>) -> Result<u64> {
    let mut queues: Vec<std::collections::VecDeque<Transaction>> = vec![];
    for tx in txs {
        match queues.iter_mut().find(|q| q.front().is_some_and(|f| f.body.sender == tx.body.sender)) {
            Some(q) => q.push_back(tx),
            None => queues.push([tx].into()),
        }
    }
    let mut height = 0;
    while queues.iter().any(|q| !q.is_empty()) {
        let round: Vec<Transaction> = queues.iter_mut().filter_map(|q| q.pop_front()).collect();
        for tx in &round {
            api.submit(tx, Encoding::Json).await?;
        }
        for tx in &round {
            let v = api.wait_accepted(tx).await?;
            if let Some(outcomes) = v["receipt"]["readings"].as_array() {
                ensure!(
                    outcomes.iter().all(|o| o["status"] == "accepted" || o["status"] == "flagged"),
                    "a reading was refused: {v}"
                );
            }
            height = height.max(u64_of(&v["height"]));
        }
        // The next round goes to other validators, whose admission reads their own finalized state.
        api.wait_finalized_everywhere(height).await?;
    }
    Ok(height)
}

/// One enterprise's gateway key and its meters with the register values of the 7 readings taken
/// every 15 minutes from 23:00 on day 1 to 00:30 on day 2.
struct Site {
    member: Member,
    gateway_key: SigningKey,
    meters: Vec<(MeterSpec, [i64; 7])>,
}

fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what}: expected a string, found {v}"))
}

#[test]
fn figures_api_end_to_end() -> Result<()> {
    init_logs();
    let mut cluster = Cluster::with_enterprises("figures-e2e", 71, 3);
    // Regions: Changsha, Zhuzhou (both Hunan), Guangzhou.
    let regions = [430_100, 430_200, 440_100];
    for (e, region) in cluster.devnet.enterprises.iter_mut().zip(regions) {
        e.org.region = region;
    }
    for o in cluster.devnet.genesis.organisations.iter_mut() {
        if let Some(e) = cluster.devnet.enterprises.iter().find(|e| e.org.id == o.id) {
            o.region = e.org.region;
        }
    }
    let devnet = cluster.devnet.clone();
    let genesis = devnet.genesis.clone();
    let chain = genesis.chain_id.clone();
    let today = calendar::day_number(now_ms());
    let (d1, d2) = (today - 2, today - 1);
    let t0 = calendar::day_start_ms(d2) - 4 * QUARTER_MS; // day 1, 23:00
    let times: Vec<i64> = (0..7).map(|i| t0 + i * QUARTER_MS).collect();
    let kwh = |v: [i64; 7]| v.map(|x| x * KWH);

    let e = &devnet.enterprises;
    let ent0 = Site {
        member: e[0].clone(),
        gateway_key: SigningKey::ed25519_from_seed([10; 32]),
        meters: vec![
            (
                spec(&e[0], "EM01", EnergyKind::Electricity, Unit::KilowattHour, "site-01/stamping/line-1"),
                kwh([1000, 1010, 1022, 1036, 1052, 1070, 1090]),
            ),
            (
                spec(&e[0], "EM02", EnergyKind::Electricity, Unit::KilowattHour, "site-01/welding"),
                kwh([500, 505, 510, 515, 520, 525, 530]),
            ),
            (
                spec(&e[0], "WM01", EnergyKind::Water, Unit::Tonne, "site-01/utilities"),
                kwh([200, 201, 202, 203, 204, 205, 206]),
            ),
        ],
    };
    // Enterprise 1: a multi-rate meter whose valley register agrees with the total (all readings
    // fall in Hunan's 23:00–07:00 valley) and whose flat register counts what the schedule says
    // is zero: a mismatch.
    let total = spec(&e[1], "EM01", EnergyKind::Electricity, Unit::KilowattHour, "site-01");
    let mut valley = spec(&e[1], "EM01-T4", EnergyKind::Electricity, Unit::KilowattHour, "site-01");
    valley.tariff = Some(TariffRegister { total: total.id.clone(), tariff: 4 });
    let mut flat = spec(&e[1], "EM01-T3", EnergyKind::Electricity, Unit::KilowattHour, "site-01");
    flat.tariff = Some(TariffRegister { total: total.id.clone(), tariff: 3 });
    let ent1 = Site {
        member: e[1].clone(),
        gateway_key: SigningKey::ed25519_from_seed([11; 32]),
        meters: vec![
            (total, kwh([10_000, 10_100, 10_200, 10_300, 10_400, 10_500, 10_600])),
            (valley, kwh([5_000, 5_100, 5_200, 5_300, 5_400, 5_500, 5_600])),
            (flat, kwh([3_000, 3_005, 3_010, 3_015, 3_020, 3_025, 3_030])),
        ],
    };
    let ent2 = Site {
        member: e[2].clone(),
        gateway_key: SigningKey::ed25519_from_seed([12; 32]),
        meters: vec![(
            spec(&e[2], "EM01", EnergyKind::Electricity, Unit::KilowattHour, "site-01"),
            kwh([1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000]),
        )],
    };
    let sites = [ent0, ent1, ent2];

    let runner = cluster.runner();
    runner.start(|ctx| async move {
        let api = cluster.start(ctx).await?;
        let mut ents: Vec<TxSigner> =
            sites.iter().map(|s| TxSigner::new(s.member.key.clone(), chain.clone(), 1)).collect();
        let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
        let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);

        // Onboarding: gateways, meters, calibrations and activations.
        let txs = sites
            .iter()
            .zip(ents.iter_mut())
            .map(|(s, t)| {
                t.sign(TxPayload::RegisterGateway { id: gateway_id(&s.member), public_key: s.gateway_key.public_key() })
            })
            .collect();
        run(&api, txs).await.context("gateways")?;
        let mut txs = vec![];
        for (s, t) in sites.iter().zip(ents.iter_mut()) {
            for (m, _) in &s.meters {
                txs.push(t.sign(TxPayload::RegisterMeter { meter: m.clone() }));
            }
        }
        run(&api, txs).await.context("meters")?;
        let mut txs = vec![];
        for s in &sites {
            txs.push(reg.sign(TxPayload::ActivateDevice { device: gateway_id(&s.member) }));
            for (m, _) in &s.meters {
                txs.push(metro.sign(TxPayload::RecordCalibration {
                    meter: m.id.clone(),
                    calibration: Calibration {
                        certificate_no: format!("JD-{}", m.id),
                        issuer: devnet.metrology.org.id.clone(),
                        valid_from_ms: t0 - 10 * DAY_MS,
                        valid_until_ms: now_ms() + 365 * DAY_MS,
                    },
                }));
                txs.push(reg.sign(TxPayload::ActivateDevice { device: m.id.clone() }));
            }
        }
        run(&api, txs).await.context("calibrations and activations")?;

        // Readings, and enterprise 0's monthly report for the month of day 1.
        let (year, month) = calendar::month_of_day(d1);
        let month_code = year as u32 * 100 + month;
        let same_month = calendar::month_of_day(d2) == (year, month);
        let elec_month: i64 = if same_month { 120 } else { 72 };
        let water_month: i64 = if same_month { 6 } else { 4 };
        let mut txs = vec![];
        for s in &sites {
            let mut readings = vec![];
            for (m, values) in &s.meters {
                for (i, (ts, v)) in times.iter().zip(values).enumerate() {
                    let r = Reading {
                        meter: m.id.clone(),
                        seq: i as u64 + 1,
                        timestamp_ms: *ts,
                        value: Quantity::from_micros(*v),
                        unit: m.unit,
                        origin: ReadingOrigin::Online,
                        clock_suspect: false,
                    };
                    readings.push(sign_reading(&s.gateway_key, r, ReadingSigner::Gateway));
                }
            }
            let mut gw = TxSigner::new(s.gateway_key.clone(), chain.clone(), 1);
            txs.push(gw.sign(TxPayload::SubmitReadings { gateway: gateway_id(&s.member), readings }));
        }
        txs.push(ents[0].sign(TxPayload::MonthlyReport {
            month: month_code,
            consumption: vec![
                ReportedConsumption {
                    energy: EnergyKind::Electricity,
                    unit: Unit::KilowattHour,
                    quantity: Quantity::from_micros(elec_month * KWH),
                },
                ReportedConsumption {
                    energy: EnergyKind::Water,
                    unit: Unit::Tonne,
                    quantity: Quantity::from_micros(10 * KWH),
                },
            ],
            production: vec![ProductOutput {
                product: "stamped parts".into(),
                unit: "t".into(),
                quantity: Quantity::from_micros(10 * KWH),
            }],
            // Lab-measured content of the fresh water (the 2008 edition's 7.54 MJ/t): it replaces
            // the 2020 reference coefficient (0.0857 kgce/t) in the month's standard coal.
            heating_values: vec![trustmeter_types::tx::MeasuredHeatingValue {
                energy: EnergyKind::Water,
                unit: Unit::Tonne,
                kj_per_unit: Quantity::from_micros(7_540 * 1_000_000),
            }],
        }));
        // Documented carbon entries with their evidence: 2 t of diesel by invoice, and one green
        // certificate (1 MWh, more than the month's electricity). The invoice is uploaded to
        // validator 0's evidence store first; the entry names it by hash.
        let invoice = b"Invoice 0042: 2.000 t diesel, Sinopec Changsha".to_vec();
        let resp = api
            .http
            .put(format!("{}/v1/enterprises/{}/evidence", api.urls[0], sites[0].member.org.id))
            .body(invoice.clone())
            .send()
            .await?;
        ensure!(resp.status().as_u16() == 201, "upload: {}", resp.status());
        let stored: Value = resp.json().await?;
        let invoice_hash = trustmeter_crypto::hash(genesis.params.hash, &invoice);
        ensure!(stored["hash"] == invoice_hash.to_hex().as_str(), "named by its hash: {stored}");
        let evidence = |kind| {
            vec![trustmeter_types::Evidence {
                hash: invoice_hash,
                bytes: invoice.len() as u64,
                kind,
                name: "invoice-0042.pdf".into(),
            }]
        };
        txs.push(ents[0].sign(TxPayload::RecordCarbonEntry {
            entry: trustmeter_types::CarbonEntry {
                month: month_code,
                number: 1,
                data: Some(trustmeter_types::CarbonEntryData::Fuel {
                    fuel: "diesel".into(),
                    amount: Quantity::from_micros(2_000_000),
                }),
                evidence: evidence(trustmeter_types::EvidenceKind::Invoice),
                note: "forklifts".into(),
            },
        }));
        txs.push(ents[0].sign(TxPayload::RecordCarbonEntry {
            entry: trustmeter_types::CarbonEntry {
                month: month_code,
                number: 2,
                data: Some(trustmeter_types::CarbonEntryData::GreenCertificates {
                    batch: "GEC-HN-E2E".into(),
                    first: 1,
                    count: 1,
                    vintage: month_code,
                }),
                evidence: evidence(trustmeter_types::EvidenceKind::Certificate),
                note: String::new(),
            },
        }));
        // Enterprise 0's shift calendar from day 1 (one night shift, 22:00–06:00, every reading
        // of the test falls in day 1's) and that shift's output: 60 pieces.
        let d1_date = trustmeter_types::shifts::date_of_day(d1).context("a date")?;
        txs.push(ents[0].sign(TxPayload::SetShiftCalendar {
            calendar: trustmeter_types::ShiftCalendar {
                effective_from: d1_date,
                shifts: vec![
                    trustmeter_types::ShiftDef { name: "白班".into(), start_minute: 600, end_minute: 1_080 },
                    trustmeter_types::ShiftDef { name: "夜班".into(), start_minute: 1_320, end_minute: 360 },
                ],
                teams: vec!["甲".into(), "乙".into()],
                rotation: None,
            },
        }));
        txs.push(ents[0].sign(TxPayload::RecordShiftOutput {
            output: trustmeter_types::ShiftOutput {
                day: d1_date,
                shift: "夜班".into(),
                team: Some("乙".into()),
                products: vec![ProductOutput {
                    product: "stamped parts".into(),
                    unit: "件".into(),
                    quantity: Quantity::from_micros(60 * KWH),
                }],
                note: String::new(),
            },
        }));
        let height = run(&api, txs).await.context("readings, monthly report, carbon entries, shifts")?;
        api.wait_indexed(0, height).await?;

        let org0 = sites[0].member.org.id.to_string();
        let org1 = sites[1].member.org.id.to_string();
        let org2 = sites[2].member.org.id.to_string();
        let (l1, l2) = (calendar::day_label(d1), calendar::day_label(d2));

        // Daily figures, computed by hand: electricity 52 + 20 = 72 kWh on day 1 (every interval
        // up to 00:00), 18 + 20 + 5 + 5 = 48 kWh on day 2; water 4 t and 2 t. All in Hunan's valley
        // tier. Equivalent standard coal: 0.1229 kgce/kWh, 0.0857 kgce/t.
        let v = api.get_ok(0, &format!("/v1/figures/daily?org={org0}&from={l1}&to={l2}")).await?;
        let figs = v["figures"].as_array().context("figures")?;
        let find = |day: &str, energy: &str| {
            figs.iter()
                .find(|f| f["label"] == day && f["energy"] == energy)
                .unwrap_or_else(|| panic!("no {energy} figure on {day}: {v}"))
                .clone()
        };
        ensure!(figs.len() == 4, "two days × two kinds: {v}");
        for (day, energy, unit, consumption, points, kgce) in [
            (&l1, "electricity", "kWh", "72.000000", 8, "8.848800"),
            (&l2, "electricity", "kWh", "48.000000", 6, "5.899200"),
            (&l1, "water", "t", "4.000000", 4, "0.342800"),
            (&l2, "water", "t", "2.000000", 3, "0.171400"),
        ] {
            let f = find(day, energy);
            ensure!(f["unit"] == unit && f["consumption"] == consumption, "{day} {energy}: {f}");
            ensure!(f["points"] == points && f["on_time"] == 0 && f["estimated"] == "0.000000", "{day} {energy}: {f}");
            ensure!(f["kgce_equivalent"] == kgce, "{day} {energy} kgce: {f}");
            ensure!(f["proof"] == format!("/v1/proofs/daily/{org0}/{day}/{energy}/{unit}"), "proof link: {f}");
        }
        let e1 = find(&l1, "electricity");
        let valley = e1["tiers"].as_array().context("tiers")?.iter().find(|t| t["tier"] == "valley").cloned();
        ensure!(valley.is_some_and(|t| t["amount"] == "72.000000" && t["name"] == "低谷"), "tiers: {e1}");
        ensure!(e1["tou_schedule"].as_str().is_some_and(|s| s.starts_with("hn-")), "schedule: {e1}");

        // CSV export: a header and one row per figure.
        let url = format!("{}/v1/figures/daily?org={org0}&from={l1}&to={l2}&format=csv", api.urls[0]);
        let resp = api.http.get(&url).send().await?;
        ensure!(resp.status() == 200, "CSV: HTTP {}", resp.status());
        let ct = resp.headers()["content-type"].to_str()?.to_string();
        ensure!(ct.starts_with("text/csv"), "content type {ct}");
        let body = resp.text().await?;
        let lines: Vec<&str> = body.lines().collect();
        ensure!(lines.len() == 5, "header + 4 rows: {body}");
        ensure!(lines[0].starts_with("org,day,energy,unit,consumption,estimated,manual"), "header: {}", lines[0]);
        ensure!(lines[1].starts_with(&format!("{org0},{l1},electricity,kWh,72.000000,")), "row: {}", lines[1]);
        ensure!(body.contains(&format!("{org0},{l2},water,t,2.000000,")), "water row: {body}");

        // A figure proof verifies offline against the trusted genesis, and fails once altered.
        let p = api.get_ok(0, &format!("/v1/proofs/daily/{org0}/{l1}/electricity/kWh")).await?;
        let proof: FigureProof = serde_json::from_value(p).context("figure proof JSON")?;
        let verified = verify_figure(&proof, Some(&genesis)).map_err(|e| anyhow::anyhow!("{e}"))?;
        ensure!(verified.figure.consumption == Quantity::from_micros(72 * KWH) && verified.day_label == l1);
        ensure!(verified.org.to_string() == org0 && verified.validator_signatures >= verified.quorum);
        let mut forged = proof.clone();
        if let StateValue::Daily(d) = &mut forged.figure.entry.value {
            d.consumption = Quantity::from_micros(7 * KWH);
        }
        let err = verify_figure(&forged, Some(&genesis)).expect_err("an altered figure must not verify");
        ensure!(matches!(err, VerifyError::StateProofInvalid { which: "daily figure", .. }), "{err}");
        let mut moved = proof.clone();
        moved.header.state_root = trustmeter_types::Hash32([7; 32]);
        ensure!(verify_figure(&moved, Some(&genesis)).is_err(), "a header with another state root must fail");
        let (status, err) = api.get(0, &format!("/v1/proofs/daily/{org0}/{l1}/steam/t")).await?;
        ensure!(status == 404 && err["code"] == "not_found", "{status} {err}");

        // Series: a meter's quarters coarsen to hours past max_points; derived; sums by hand.
        let em01 = &sites[0].meters[0].0.id;
        let s = api
            .get_ok(0, &format!("/v1/figures/series?scope=meter&id={em01}&period=15m&from={l1}&to={l2}&max_points=100"))
            .await?;
        ensure!(s["coarsened"] == true && s["period"] == "hour" && s["derived"] == true, "{s}");
        let pts = s["points"].as_array().context("points")?;
        ensure!(pts.len() == 48 && s["total"] == "90.000000", "48 hours, 90 kWh: {s}");
        ensure!(pts[23]["label"] == format!("{l1}T23") && pts[23]["consumption"] == "52.000000", "{}", pts[23]);
        ensure!(pts[24]["consumption"] == "38.000000" && pts[24]["kgce_equivalent"] == "4.670200", "{}", pts[24]);
        ensure!(s["notes"][0].as_str().is_some_and(|n| n.contains("coarsened to hour")), "{s}");
        let q = api
            .get_ok(0, &format!("/v1/figures/series?scope=meter&id={em01}&period=15m&from={l1}&to={l1}&max_points=96"))
            .await?;
        let qp = q["points"].as_array().context("points")?;
        ensure!(q["coarsened"] == false && qp.len() == 96 && qp[95]["consumption"] == "16.000000", "{q}");
        // Location and enterprise series agree with the daily figures.
        let loc = api
            .get_ok(
                0,
                &format!(
                    "/v1/figures/series?scope=location&org={org0}&id=site-01&energy=electricity&from={l1}&to={l2}"
                ),
            )
            .await?;
        let org_s = api
            .get_ok(0, &format!("/v1/figures/series?scope=org&id={org0}&energy=electricity&from={l1}&to={l2}"))
            .await?;
        for (what, s) in [("location", &loc), ("org", &org_s)] {
            let c: Vec<&str> =
                s["points"].as_array().context("points")?.iter().map(|p| text(&p["consumption"], what)).collect();
            ensure!(c == ["72.000000", "48.000000"], "{what} series: {s}");
        }
        ensure!(loc["derived"] == true && org_s["derived"] == false, "derived flags");
        ensure!(org_s["points"][0]["proofs"][0] == format!("/v1/proofs/daily/{org0}/{l1}/electricity/kWh"), "{org_s}");
        let (status, err) = api
            .get(0, &format!("/v1/figures/series?scope=org&id={org0}&energy=electricity&period=15m&from={l1}"))
            .await?;
        ensure!(status == 400 && text(&err["message"], "message").contains("finest period is day"), "{err}");
        let url = format!(
            "{}/v1/figures/series?scope=org&id={org0}&energy=electricity&from={l1}&to={l2}&format=csv",
            api.urls[0]
        );
        let body = api.http.get(&url).send().await?.text().await?;
        ensure!(body.lines().count() == 3 && body.contains(&format!(",{l2},48.000000,")), "series CSV: {body}");

        // Breakdowns by energy, location and tier.
        let b =
            api.get_ok(0, &format!("/v1/figures/breakdown?org={org0}&from={l1}&to={l2}&by=location&depth=2")).await?;
        let rows: Vec<(String, String)> = b["rows"]
            .as_array()
            .context("rows")?
            .iter()
            .map(|r| (text(&r["key"], "key").to_string(), text(&r["consumption"], "consumption").to_string()))
            .collect();
        ensure!(
            rows == [
                ("site-01/stamping".to_string(), "90.000000".to_string()),
                ("site-01/utilities".to_string(), "6.000000".to_string()),
                ("site-01/welding".to_string(), "30.000000".to_string()),
            ],
            "{b}"
        );
        let b = api.get_ok(0, &format!("/v1/figures/breakdown?org={org0}&from={l1}&to={l2}&by=tier")).await?;
        let valley = b["rows"].as_array().context("rows")?.iter().find(|r| r["key"] == "valley").cloned();
        ensure!(valley.is_some_and(|r| r["consumption"] == "120.000000" && r["share"] == "100.00 %"), "{b}");
        let b = api.get_ok(0, &format!("/v1/figures/breakdown?org={org0}&from={l1}&to={l2}&by=energy")).await?;
        ensure!(b["rows"].as_array().is_some_and(|r| r.len() == 2), "{b}");

        // Ranking: Hunan holds enterprises 1 and 0 (1 first); Guangzhou is elsewhere.
        let r = api.get_ok(0, &format!("/v1/figures/ranking?region=430000&from={l1}&to={l2}")).await?;
        let order: Vec<&str> =
            r["entries"].as_array().context("entries")?.iter().map(|e| text(&e["org"], "org")).collect();
        ensure!(order == [org1.as_str(), org0.as_str()] && r["enterprises"] == 2, "{r}");
        ensure!(r["entries"][1]["kgce_equivalent"] == "15.262200", "72+48 kWh and 6 t of water: {r}");
        ensure!(r["entries"][1]["proofs"].as_array().is_some_and(|p| p.len() == 4), "{r}");
        let r =
            api.get_ok(0, &format!("/v1/figures/ranking?region=430100&from={l1}&to={l2}&basis=equal_value")).await?;
        ensure!(r["entries"].as_array().is_some_and(|e| e.len() == 1 && e[0]["org"] == org0.as_str()), "{r}");
        let r = api.get_ok(0, &format!("/v1/figures/ranking?region=440000&from={l1}&to={l2}")).await?;
        ensure!(r["entries"][0]["org"] == org2.as_str() && r["entries"][0]["rank"] == 1, "{r}");
        let url = format!("{}/v1/figures/ranking?region=430000&from={l1}&to={l2}&format=csv", api.urls[0]);
        let body = api.http.get(&url).send().await?.text().await?;
        let lines: Vec<&str> = body.lines().collect();
        ensure!(
            lines.len() == 3
                && lines[1].starts_with(&format!("1,{org1},"))
                && lines[2].starts_with(&format!("2,{org0},")),
            "{body}"
        );

        // Comprehensive consumption, unit-product consumption and the 5 % rule.
        let m = api.get_ok(0, &format!("/v1/enterprises/{org0}/energy?month={month_code}")).await?;
        // Water by its measured heating value: t × 7 540 kJ/t ÷ 29 307.6 kJ/kgce, in micro-kgce,
        // rounded half to even (computed here independently of the energy crate).
        let half_even = |num: i128, den: i128| {
            let (q, r) = (num / den, num % den);
            if 2 * r > den || (2 * r == den && q % 2 == 1) { q + 1 } else { q }
        };
        let water_kgce = half_even(i128::from(water_month) * 7_540 * 1_000_000 * 10, 293_076) as i64;
        let comprehensive = elec_month * 122_900 + water_kgce; // micro-kgce
        ensure!(m["comprehensive_kgce_equivalent"] == Quantity::from_micros(comprehensive).to_string(), "{m}");
        ensure!(
            m["notes"].as_array().is_some_and(|n| n
                .iter()
                .any(|x| x.as_str().is_some_and(|x| x.contains("water: measured heating value")))),
            "the note says the measured value was applied: {m}"
        );
        ensure!(
            m["unit_product"][0]["kgce_per_unit_equivalent"]
                == Quantity::from_micros(half_even(i128::from(comprehensive), 10) as i64).to_string(),
            "10 t of product: {m}"
        );
        let kinds = m["kinds"].as_array().context("kinds")?;
        let kind = |k: &str| kinds.iter().find(|x| x["energy"] == k).cloned().unwrap_or_default();
        ensure!(kind("electricity")["deviation_ok"] == true && kind("electricity")["deviation_bp"] == 0, "{m}");
        ensure!(kind("water")["deviation_ok"] == false, "water reported 10 t against {water_month} t: {m}");

        // The month's emissions (GB/T 32150-2015, the chain's results): only electricity is an emission source
        // here (water is a working medium). Hunan (430100: central grid), latest factors 2023's:
        // kWh × 0.5271 t/MWh = kWh × 527.1 µt by location, × 0.5306 for the standard, × 0.6096 by
        // market, each rounded half to even to a µt.
        let c = api.get_ok(0, &format!("/v1/enterprises/{org0}/carbon?month={month_code}")).await?;
        let micro_t = |per_mwh_e4: i64| {
            Quantity::from_micros(half_even(i128::from(elec_month * per_mwh_e4), 10) as i64).to_string()
        };
        // The diesel entry: 2 t × 43.33 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 6.290244986… t; the
        // certificate covers the month's electricity (< 1 MWh) in the market view only.
        // The chain's own results for the month (every validator computed them), not a figure
        // derived on request.
        ensure!(c["province"] == "43" && c["derived"] == false && c["scope1_t"] == "6.290245", "{c}");
        ensure!(c["consensus_height"].as_u64().is_some_and(|h| h > 0 && h <= height), "{c}");
        ensure!(c["electricity_purchased_mwh"] == Quantity::from_micros(elec_month * 1_000).to_string(), "{c}");
        ensure!(c["electricity_exported_mwh"] == "0.000000", "{c}");
        ensure!(c["scope2_location_t"] == micro_t(5_271), "{c}");
        ensure!(c["scope2_market_t"] == "0.000000", "{c}");
        let standard = 6_290_245 + half_even(i128::from(elec_month * 5_306), 10) as i64;
        ensure!(c["standard_t"] == Quantity::from_micros(standard).to_string(), "{c}");
        let entries = c["entries"].as_array().context("entries")?;
        ensure!(entries.len() == 2 && entries[1]["kind"] == "green_certificates", "{c}");
        ensure!(entries[0]["evidence"][0] == invoice_hash.to_hex().as_str(), "{c}");
        // The entries as recorded, and the invoice back from the evidence store, byte for byte.
        let en = api.get_ok(0, &format!("/v1/enterprises/{org0}/carbon/entries?month={month_code}")).await?;
        ensure!(en["methodology"] == "GB/T 32150-2015" && en["entries"][0]["evidence_held"][0] == true, "{en}");
        ensure!(en["entries"][0]["entry"]["note"] == "forklifts" && en["entries"][0]["revision"] == 1, "{en}");
        let back = api
            .http
            .get(format!("{}/v1/enterprises/{org0}/evidence/{}", api.urls[0], invoice_hash.to_hex()))
            .send()
            .await?
            .bytes()
            .await?;
        ensure!(
            trustmeter_crypto::hash(genesis.params.hash, &back) == invoice_hash && back.as_ref() == invoice.as_slice()
        );
        // The invoice was uploaded to validator 0 only; the others fetch it from their peers once
        // the entry naming it is final (evidence replication), checked against its hash.
        for node in 1..api.urls.len() {
            let path = format!("/v1/enterprises/{org0}/evidence/{}", invoice_hash.to_hex());
            let mut tries = 0;
            loop {
                let resp = api.http.get(format!("{}{path}", api.urls[node])).send().await?;
                if resp.status().as_u16() == 200 {
                    ensure!(resp.bytes().await?.as_ref() == invoice.as_slice(), "validator {node}: the same bytes");
                    break;
                }
                tries += 1;
                ensure!(tries < 100, "validator {node} never replicated the invoice");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        // A file no chain entry names is not replicated: validator 0 alone holds it.
        let stray = b"a file no entry names".to_vec();
        let stray_hash = trustmeter_crypto::hash(genesis.params.hash, &stray);
        let one =
            trustmeter_api_client::NodeClient::new(vec![api.urls[0].clone()], std::time::Duration::from_secs(10))?;
        one.put_evidence(&sites[0].member.org.id, &stray, &stray_hash).await?;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let (status, _) = api.get(1, &format!("/v1/enterprises/{org0}/evidence/{}", stray_hash.to_hex())).await?;
        ensure!(status == 404, "validator 1 holds no copy of an unnamed file: {status}");
        // A client asking validator 1 first goes on to validator 0, which holds the unnamed file.
        let client = trustmeter_api_client::NodeClient::new(
            vec![api.urls[1].clone(), api.urls[0].clone()],
            std::time::Duration::from_secs(10),
        )?;
        let org0_code = sites[0].member.org.id.clone();
        let fetched = client.get_evidence(&org0_code, &stray_hash).await?;
        ensure!(fetched.as_deref() == Some(stray.as_slice()), "found on the second node");
        let missing = client.get_evidence(&org0_code, &trustmeter_types::Hash32([7; 32])).await?;
        ensure!(missing.is_none(), "no node holds it: None");
        let (status, e) =
            api.get(0, &format!("/v1/enterprises/{org0}/carbon?month={month_code}&methodology=ISO")).await?;
        ensure!(status == 404, "{status} {e}");
        // Another methodology than the enterprise's plan: computed on request, and said so.
        let other = api
            .get_ok(0, &format!("/v1/enterprises/{org0}/carbon?month={month_code}&methodology=GB/T%2032151.29-2024"))
            .await?;
        ensure!(other["derived"] == true && other["consensus_height"].is_null(), "{other}");

        // Quality: 21 points received of 3 meters × 192 quarter hours.
        let qv = api.get_ok(0, &format!("/v1/quality?org={org0}&from={l1}&to={l2}")).await?;
        let q0 = &qv["enterprises"][0];
        ensure!(q0["counts"]["expected_points"] == 576 && q0["counts"]["received_points"] == 21, "{qv}");
        ensure!(q0["index"]["completeness_ok"] == false && q0["index"]["completeness_bp"] == 364, "{qv}");
        ensure!(q0["index"]["accuracy_bp"] == 10_000 && q0["index"]["timeliness_bp"] == 0, "{qv}");
        ensure!(q0["flags"][0].as_str().is_some_and(|f| f.contains("below the 90 % rule")), "{qv}");
        let qr = api.get_ok(0, &format!("/v1/quality?region=430000&from={l1}&to={l2}")).await?;
        ensure!(
            qr["enterprises"].as_array().is_some_and(|e| e.len() == 2) && qr["total"]["counts"]["meters"] == 6,
            "{qr}"
        );
        let (status, _) = api.get(0, &format!("/v1/quality?org={org0}&region=430000&from={l1}")).await?;
        ensure!(status == 400, "org and region together");

        // Time of use: all valley, no prices in the Hunan schedule; the flat register mismatches.
        let t = api.get_ok(0, &format!("/v1/figures/tou?org={org0}&from={l1}&to={l2}")).await?;
        let valley = t["tiers"].as_array().context("tiers")?.iter().find(|x| x["tier"] == "valley").cloned();
        ensure!(valley.is_some_and(|x| x["kwh"] == "120.000000") && t["cost_cny"].is_null(), "{t}");
        ensure!(t["cost_note"].as_str().is_some_and(|n| n.contains("no price")), "{t}");
        let t = api.get_ok(0, &format!("/v1/figures/tou?org={org1}&from={l1}&to={l2}")).await?;
        let rec = &t["reconciliations"][0];
        ensure!(rec["mismatch"] == true && text(&rec["reason"], "reason").contains("flat"), "{t}");
        let computed_valley =
            rec["computed"].as_array().context("computed")?.iter().find(|x| x["tier"] == "valley").cloned();
        ensure!(computed_valley.is_some_and(|x| x["amount"] == "600.000000"), "{t}");

        // Shifts: day 1's night shift used 90 + 30 = 120 kWh and 6 t of water: 120 × 0.1229 +
        // 6 × 0.0857 = 15.2622 kgce (equivalent) for 60 pieces: 2 kWh and 0.25437 kgce per piece.
        let v = api.get_ok(0, &format!("/v1/enterprises/{org0}/shifts?from={l1}")).await?;
        ensure!(v["derived"] == true && v["readings"].as_u64() == Some(21), "{v}");
        let instances = v["instances"].as_array().context("instances")?;
        let names: Vec<&str> = instances.iter().map(|i| text(&i["shift"], "shift")).collect();
        ensure!(names == ["白班", "夜班"], "{v}");
        let night = &instances[1];
        ensure!(night["team"] == "乙" && night["team_source"] == "output" && night["complete"] == true, "{night}");
        ensure!(night["electricity_kwh"] == "120.000000" && night["kgce_equivalent"] == "15.262200", "{night}");
        let p = &night["products"][0];
        ensure!(p["kwh_per_unit"] == "2.000000" && p["kgce_per_unit_equivalent"] == "0.254370", "{p}");
        ensure!(instances[0]["kgce_equivalent"] == "0.000000" && instances[0]["output_recorded"] == false, "{v}");
        let best = &v["comparison"]["best_worst"][0];
        ensure!(best["best_team"]["name"] == "乙" && best["best_shift"]["name"] == "夜班", "{best}");
        let electricity = api.get_ok(0, &format!("/v1/enterprises/{org0}/shifts?from={l1}&energy=electricity")).await?;
        ensure!(electricity["instances"][1]["kgce_equivalent"] == "14.748000", "{electricity}");
        let url = format!("{}/v1/enterprises/{org0}/shifts?from={l1}&format=csv", api.urls[0]);
        let csv = api.http.get(&url).send().await?.text().await?;
        ensure!(
            csv.lines().count() == 3 && csv.contains(",夜班,乙,") && csv.contains(",stamped parts,件,60.000000,"),
            "{csv}"
        );
        let (status, err) = api.get(0, &format!("/v1/enterprises/{org1}/shifts?from={l1}")).await?;
        ensure!(status == 404 && err["code"] == "not_found", "no calendar: {err}");

        // Master/sub-meter balance: these enterprises name no master meters (the figures with
        // masters are checked against a hand computation in analytics' balance tests and on the
        // demo by the browser test); the range is bounded.
        let b = api.get_ok(0, &format!("/v1/enterprises/{org0}/balance?from={l1}&to={l2}")).await?;
        ensure!(b["derived"] == true && b["masters"].as_array().is_some_and(Vec::is_empty), "{b}");
        ensure!(b["notes"][0].as_str().is_some_and(|n| n.contains("no master meters")), "{b}");
        let (status, err) =
            api.get(0, &format!("/v1/enterprises/{org0}/balance?from=2026-01-01&to=2026-12-31")).await?;
        ensure!(status == 400 && err["code"] == "limit_exceeded", "{err}");

        // Policy, errors, OpenAPI.
        let p = api.get_ok(0, "/v1/policy").await?;
        ensure!(p["in_force"]["status"] == "in_force" && !text(&p["in_force"]["text"], "text").is_empty(), "{p}");
        let (status, err) = api.get(0, "/v1/figures/daily?org=not-a-code&from=2026-01-01").await?;
        ensure!(status == 400 && err["code"] == "bad_request", "{err}");
        let (status, err) = api.get(0, &format!("/v1/figures/daily?org={org0}&from=2000-01-01&to=2026-01-01")).await?;
        ensure!(status == 400 && err["code"] == "limit_exceeded", "{err}");
        let doc = api.get_ok(0, "/openapi.json").await?;
        for path in [
            "/v1/figures/daily",
            "/v1/figures/series",
            "/v1/figures/ranking",
            "/v1/quality",
            "/v1/proofs/daily/{org}/{day}/{energy}/{unit}",
            "/v1/enterprises/{org}/shifts",
            "/v1/enterprises/{org}/balance",
        ] {
            ensure!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
        }
        Ok(())
    })
}
