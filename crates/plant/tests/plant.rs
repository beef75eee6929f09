//! Behaviour of the simulated plant, checked from the outside.

use std::collections::{BTreeMap, BTreeSet};
use trustmeter_crypto::verify;
use trustmeter_plant::time::{SHANGHAI_OFFSET_MS, local_time};
use trustmeter_plant::{DEFAULT_START_MS, LOSS_VARIATION, Plant, PlantConfig, loss_range, register_delta};
use trustmeter_types::codec::Validate;
use trustmeter_types::{
    ChainId, DeviceId, EnergyKind, KeyScheme, ReadingSigner, RegisterKind, SignedReading, TxPayload,
    UnifiedSocialCreditCode, encode,
};

const HOUR: i64 = 3_600_000;

fn code() -> UnifiedSocialCreditCode {
    UnifiedSocialCreditCode::new("91350100M000100Y43").unwrap()
}

fn plant(seed: u64, meters: usize) -> Plant {
    Plant::new(PlantConfig { meters, ..PlantConfig::new(code(), seed) })
}

/// Runs `ticks` readings (the first at the start) and returns them all.
fn run(p: &mut Plant, ticks: usize) -> Vec<Vec<SignedReading>> {
    (0..ticks).map(|_| p.advance()).collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (mut a, mut b, mut c) = (plant(7, 60), plant(7, 60), plant(8, 60));
    let (ra, rb, rc) = (run(&mut a, 30), run(&mut b, 30), run(&mut c, 30));
    assert_eq!(encode(&ra), encode(&rb));
    assert_eq!(a.meter_specs(), b.meter_specs());
    assert_eq!(a.gateway_key().public_key(), b.gateway_key().public_key());
    assert_eq!(a.energy_totals(), b.energy_totals());
    assert_ne!(encode(&ra), encode(&rc));
    assert_ne!(a.gateway_key().public_key(), c.gateway_key().public_key());
    // Same seed, another enterprise: no shared keys.
    let other = UnifiedSocialCreditCode::new("91110000802100433B").unwrap();
    let d = Plant::new(PlantConfig { meters: 60, ..PlantConfig::new(other, 7) });
    assert_ne!(a.gateway_key().public_key(), d.gateway_key().public_key());
}

#[test]
fn signing_on_several_threads_gives_the_same_bytes() {
    // above the size from which a tick is split over threads
    let (mut one, mut three) = (plant(5, 9_000), plant(5, 9_000));
    three.set_signing_threads(3);
    let (a, b) = (run(&mut one, 2), run(&mut three, 2));
    assert_eq!(a[1].len(), 9_000);
    assert_eq!(encode(&a), encode(&b));
    // and the split readings still verify, in plant order
    let last = &b[1];
    for (i, r) in last.iter().enumerate().step_by(997) {
        let key = three.verifying_key(r).expect("a reading of this plant");
        assert!(verify(&key, &r.reading.signing_payload(), &r.signature).is_ok(), "reading {i}");
        assert_eq!(r.reading.meter, three.meter_specs()[i].id);
    }
}

#[test]
fn every_reading_verifies_with_the_right_key_only() {
    check_signatures(plant(1, 300));
}

#[test]
fn an_sm2_plant_signs_with_sm2_keys() {
    let p = Plant::new(PlantConfig { meters: 300, key_scheme: KeyScheme::Sm2, ..PlantConfig::new(code(), 1) });
    assert_eq!(p.gateway_key().scheme(), KeyScheme::Sm2);
    assert!(p.meter_keys().iter().all(|(_, k)| k.scheme() == KeyScheme::Sm2));
    // Same layout as the Ed25519 plant of the same seed; only the keys differ.
    let ed = plant(1, 300);
    let strip = |p: &Plant| p.meter_specs().into_iter().map(|mut s| (s.public_key.take(), s).1).collect::<Vec<_>>();
    assert_eq!(strip(&p), strip(&ed));
    check_signatures(p);
}

fn check_signatures(mut p: Plant) {
    let specs: BTreeMap<_, _> = p.meter_specs().into_iter().map(|s| (s.id.clone(), s)).collect();
    let gw = p.gateway_key().public_key();
    assert_eq!(p.gateway_id().as_str(), "91350100M000100Y43-GW01");
    assert_eq!(p.meter_keys().len(), 100, "a third of the meters sign themselves");
    for (id, k) in p.meter_keys() {
        assert_eq!(specs[&id].public_key.as_ref(), Some(&k.public_key()));
    }
    let mut by_meter = 0;
    for r in run(&mut p, 4).concat() {
        let spec = &specs[&r.reading.meter];
        let msg = r.reading.signing_payload();
        let (right, wrong) = match r.signer {
            ReadingSigner::Meter => {
                by_meter += 1;
                (spec.public_key.clone().expect("meter-signed readings come from meters with keys"), gw.clone())
            }
            ReadingSigner::Gateway => {
                assert!(spec.public_key.is_none(), "meters with keys sign themselves");
                (gw.clone(), specs.values().find_map(|s| s.public_key.clone()).unwrap())
            }
        };
        assert!(verify(&right, &msg, &r.signature).is_ok());
        assert!(verify(&wrong, &msg, &r.signature).is_err());
        assert_eq!(p.verifying_key(&r), Some(right));
        assert_eq!(r.reading.unit, spec.unit);
        assert_eq!(r.reading.origin, trustmeter_types::ReadingOrigin::Online);
        assert!(!r.reading.clock_suspect);
    }
    assert_eq!(by_meter, 400);
}

#[test]
fn sequences_increase_rollover_happens_and_deltas_sum_to_totals() {
    let mut p = plant(42, 300);
    let specs: BTreeMap<_, _> = p.meter_specs().into_iter().map(|s| (s.id.clone(), s)).collect();
    let rated = p.rated_per_hour();
    let ticks = run(&mut p, 2 * 96 + 1);
    assert!(ticks[0].iter().all(|r| r.reading.seq == 1 && r.reading.timestamp_ms == DEFAULT_START_MS));
    let mut last: BTreeMap<_, (u64, i64, i64)> = BTreeMap::new();
    let mut sums: BTreeMap<_, i64> = BTreeMap::new();
    let (mut rolled, mut near_max) = (BTreeSet::new(), BTreeSet::new());
    for r in ticks.iter().flatten() {
        let r = &r.reading;
        let max = specs[&r.meter].register_max.micros();
        assert!((0..max).contains(&r.value.micros()), "{} value {} outside [0, {max})", r.meter, r.value);
        match last.get(&r.meter) {
            None => {
                if r.value.micros() > max - (rated[&r.meter] * 8.0 * 1e6) as i64 {
                    near_max.insert(r.meter.clone());
                }
            }
            Some(&(seq, ts, prev)) => {
                assert!(r.seq > seq && r.timestamp_ms > ts, "{} went backwards", r.meter);
                let cur = r.value.micros();
                let delta = if cur >= prev { cur - prev } else { cur + max - prev };
                if cur < prev {
                    rolled.insert(r.meter.clone());
                }
                let q = trustmeter_types::Quantity::from_micros;
                assert_eq!(register_delta(q(prev), r.value, q(max)).micros(), delta);
                *sums.entry(r.meter.clone()).or_default() += delta;
            }
        }
        last.insert(r.meter.clone(), (r.seq, r.timestamp_ms, r.value.micros()));
    }
    assert_eq!(near_max.len(), 15, "5 % of 300 meters start near their maximum");
    assert_eq!(rolled, near_max, "exactly the near-maximum meters roll over within two days");
    let totals = p.energy_totals();
    assert_eq!(totals.len(), 300);
    for (id, total) in &totals {
        assert!(total.micros() > 0, "{id} consumed nothing");
        assert_eq!(sums[id], total.micros(), "{id}: register deltas differ from true consumption");
    }
}

#[test]
fn nights_lunch_and_weekends_are_lower_than_weekday_day_shift() {
    let mut p = plant(3, 60);
    let ticks = run(&mut p, 7 * 96 + 1);
    let specs = p.meter_specs();
    let mut prev: Vec<i64> = ticks[0].iter().map(|r| r.reading.value.micros()).collect();
    // Sum over meters of consumption per interval, normalised by each meter's rated load.
    let rated: Vec<f64> = specs.iter().map(|s| p.rated_per_hour()[&s.id]).collect();
    let mut cat: BTreeMap<&str, (f64, u32)> = BTreeMap::new();
    for t in &ticks[1..] {
        let mut load = 0.0;
        for (i, r) in t.iter().enumerate() {
            let (cur, max) = (r.reading.value.micros(), specs[i].register_max.micros());
            load += (if cur >= prev[i] { cur - prev[i] } else { cur + max - prev[i] }) as f64 / 1e6 / rated[i];
            prev[i] = cur;
        }
        let mid = t[0].reading.timestamp_ms - 450_000;
        let local_hour = (mid + SHANGHAI_OFFSET_MS).rem_euclid(24 * HOUR) / HOUR;
        let (weekday, minute) = local_time(mid);
        let key = match (weekday >= 5, local_hour, minute) {
            (true, _, _) => "weekend",
            (false, 0..=7, _) => "night",
            (false, _, 690..=749) => "lunch",
            (false, 8..=15, _) => "day",
            _ => "evening",
        };
        let e = cat.entry(key).or_default();
        e.0 += load;
        e.1 += 1;
    }
    let avg = |k: &str| cat[k].0 / cat[k].1 as f64;
    assert_eq!(cat["weekend"].1, 2 * 96);
    assert_eq!(cat["lunch"].1, 5 * 4);
    let day = avg("day");
    assert!(avg("evening") < 0.9 * day, "{cat:?}");
    assert!(avg("night") < 0.75 * day, "{cat:?}");
    assert!(avg("lunch") < 0.85 * day, "{cat:?}");
    assert!(avg("weekend") < 0.6 * day, "{cat:?}");
    assert!(avg("weekend") > 0.0, "base load keeps running at weekends");
}

#[test]
fn specs_are_valid_meters_of_a_realistic_layout() {
    let p = plant(11, 300);
    let specs = p.meter_specs();
    let ids: BTreeSet<_> = specs.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids.len(), 300);
    let mut kinds: BTreeMap<EnergyKind, usize> = BTreeMap::new();
    let mut workshops = BTreeSet::new();
    for s in &specs {
        s.clone().into_meter(code(), 0).check().unwrap_or_else(|e| panic!("{}: {e}", s.id));
        assert_eq!(&s.gateway, p.gateway_id());
        assert_eq!(s.register, RegisterKind::Cumulative);
        assert!(s.id.as_str().starts_with("91350100M000100Y43-"));
        // A master meter is its workshop's incoming meter; the others sit on lines.
        assert_eq!(s.location.0.len(), if p.masters().contains_key(&s.id) { 2 } else { 4 });
        assert_eq!(s.location.0[0], "site-01");
        workshops.insert(s.location.0[1].clone());
        *kinds.entry(s.energy).or_default() += 1;
    }
    assert_eq!(workshops.len(), 5, "{workshops:?}");
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    assert!(kinds[&EnergyKind::Electricity] > 150, "{kinds:?}");
    let kwh = specs.iter().find(|s| s.energy == EnergyKind::Electricity).unwrap();
    assert_eq!(kwh.register_max.to_string(), "99999999.990000");
}

#[test]
fn batches_and_signed_transactions_are_valid() {
    let mut p = plant(5, 300);
    let readings = p.advance();
    let batches = p.batches(readings.clone(), 128);
    assert_eq!(batches.iter().map(TxPayload::reading_count).collect::<Vec<_>>(), vec![128, 128, 44]);
    let flat: Vec<SignedReading> = batches
        .iter()
        .flat_map(|b| match b {
            TxPayload::SubmitReadings { gateway, readings } => {
                assert_eq!(gateway, p.gateway_id());
                readings.clone()
            }
            other => panic!("unexpected payload {}", other.kind()),
        })
        .collect();
    assert_eq!(flat, readings);
    assert_eq!(p.batches(readings[..3].to_vec(), 0).len(), 3);
    let chain = ChainId::new("hunan-1").unwrap();
    let mut signer = p.gateway_signer(chain.clone(), 5);
    let txs = signer.sign_all(batches);
    assert_eq!(signer.next_nonce(), 8);
    for (i, tx) in txs.iter().enumerate() {
        assert_eq!(tx.body.nonce, 5 + i as u64);
        assert_eq!(tx.body.chain_id, chain);
        assert_eq!(tx.body.sender, p.gateway_key().public_key());
        assert!(verify(&tx.body.sender, &tx.body.signing_payload(), &tx.signature).is_ok());
        tx.validate().unwrap();
    }
    let mut reg = p.gateway_signer(chain, 0);
    let regs = reg.sign_all(std::iter::once(p.register_gateway_payload()).chain(p.register_meter_payloads()));
    assert_eq!(regs[0].body.nonce, 1);
    regs.iter().for_each(|t| t.validate().unwrap());
    let authority = UnifiedSocialCreditCode::new("91110000802100433B").unwrap();
    for c in p.calibration_payloads(&authority, 0, i64::MAX) {
        reg.sign(c).validate().unwrap();
    }
}

#[test]
fn time_must_move_forward() {
    let mut p = plant(9, 20);
    assert_eq!(p.tick(DEFAULT_START_MS - 1).len(), 0);
    let first = p.tick(DEFAULT_START_MS);
    assert_eq!(first.len(), 20);
    assert!(p.energy_totals().values().all(|q| q.micros() == 0));
    assert!(p.tick(DEFAULT_START_MS).is_empty());
    assert_eq!(p.tick(DEFAULT_START_MS + 7 * 60_000).len(), 20);
    assert!(p.tick(DEFAULT_START_MS + 60_000).is_empty());
    assert!(p.advance().iter().all(|r| r.reading.seq == 3 && r.reading.timestamp_ms == DEFAULT_START_MS + 22 * 60_000));
}

#[test]
fn each_master_records_its_sub_meters_sum_plus_a_plausible_loss() {
    let mut p = plant(42, 300);
    let masters = p.masters();
    let specs: BTreeMap<_, _> = p.meter_specs().into_iter().map(|s| (s.id.clone(), s)).collect();
    // One master per workshop and energy kind with at least two meters: of the 5 workshops' 19
    // kinds, 18 have meters with this seed, each several (a single meter would stay on its own).
    let mut groups: BTreeMap<(String, EnergyKind), usize> = BTreeMap::new();
    for s in specs.values() {
        *groups.entry((s.location.0[1].clone(), s.energy)).or_default() += 1;
    }
    assert_eq!(groups.len(), 18);
    assert_eq!(masters.len(), groups.values().filter(|&&n| n >= 2).count());
    assert_eq!(masters.len(), 18);
    let subs: usize = masters.values().map(Vec::len).sum();
    let single = groups.values().filter(|&&n| n == 1).count();
    assert_eq!(masters.len() + subs + single, 300);
    for (master, subs) in &masters {
        let m = &specs[master];
        assert_eq!(m.master, None);
        for s in subs {
            let s = &specs[s];
            assert_eq!(s.master.as_ref(), Some(master));
            assert_eq!((s.energy, s.unit, &s.location.0[..2]), (m.energy, m.unit, &m.location.0[..]));
        }
    }
    // Masters come first among the registrations.
    let order: Vec<DeviceId> = p
        .register_meter_payloads()
        .into_iter()
        .map(|t| match t {
            TxPayload::RegisterMeter { meter } => meter.id,
            other => panic!("unexpected payload {}", other.kind()),
        })
        .collect();
    assert!(order[..masters.len()].iter().all(|id| masters.contains_key(id)));
    // Two days: every interval, master delta = Σ sub deltas × (1 + loss), loss within the base
    // rate's range for the kind × (1 ± 25 %), up to a micro-unit of rounding.
    let ticks = run(&mut p, 2 * 96 + 1);
    let delta = |a: &SignedReading, b: &SignedReading| {
        let max = specs[&a.reading.meter].register_max;
        register_delta(a.reading.value, b.reading.value, max).micros()
    };
    let pos: BTreeMap<DeviceId, usize> =
        ticks[0].iter().enumerate().map(|(i, r)| (r.reading.meter.clone(), i)).collect();
    let (mut lowest, mut highest) = (f64::MAX, f64::MIN);
    for w in ticks.windows(2) {
        for (master, subs) in &masters {
            let md = delta(&w[0][pos[master]], &w[1][pos[master]]);
            let sd: i64 = subs.iter().map(|s| delta(&w[0][pos[s]], &w[1][pos[s]])).sum();
            assert!(sd > 0);
            let loss = (md - sd) as f64 / sd as f64;
            let (lo, hi) = loss_range(specs[master].energy);
            let slack = 1.0 / sd as f64;
            assert!(
                loss >= lo * (1.0 - LOSS_VARIATION) - slack && loss <= hi * (1.0 + LOSS_VARIATION) + slack,
                "{master}: loss {loss} outside [{lo}, {hi}] ± 25 %"
            );
            if specs[master].energy == EnergyKind::Electricity {
                lowest = lowest.min(loss);
                highest = highest.max(loss);
            }
        }
    }
    // Electricity: within 1–4 %, as transformer and line losses are.
    assert!(lowest >= 0.01 && highest <= 0.04, "{lowest} – {highest}");
    println!("electricity loss per interval {:.4} – {:.4}", lowest, highest);
    let rates = p.loss_rates();
    for (id, r) in &rates {
        println!("{id} {:?} base loss {:.4}", specs[id].energy, r);
    }
}
