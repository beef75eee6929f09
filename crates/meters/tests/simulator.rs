//! The simulator driver: determinism, monotonicity and rollover, mean rate against the plant's
//! production factor, and polling on the clock's grid.

use crate::common::*;
use std::sync::Arc;
use trustmeter_meters::{Clock, DriverEvent, ScaledClock, SimulatedMeter, SimulatorSource, SourceConfig};
use trustmeter_plant::time::{mean_production_factor, production_factor};
use trustmeter_types::{DeviceId, Quantity, RegisterKind};

const HOUR: i64 = 3_600_000;

fn source(seed: u64, register_max: Option<i64>) -> SimulatorSource {
    SimulatorSource {
        seed,
        rated_per_hour: 250.0,
        start: Quantity::from_micros(1_000_000_000),
        register_max: register_max.map(Quantity::from_micros),
        noise: 0.08,
        sub_meters: vec![],
        loss: 0.0,
    }
}

#[test]
fn same_seed_same_values_whatever_the_polling() {
    let mut a = SimulatedMeter::new(source(7, None), RegisterKind::Cumulative, MONDAY_MS);
    let mut b = SimulatedMeter::new(source(7, None), RegisterKind::Cumulative, MONDAY_MS);
    let mut c = SimulatedMeter::new(source(8, None), RegisterKind::Cumulative, MONDAY_MS);
    // `a` is polled every 15 minutes, `b` only at the end and then backwards.
    let end = MONDAY_MS + 24 * HOUR + 123_457;
    let mut t = MONDAY_MS;
    while t < end {
        a.value_at(t).unwrap();
        t += 900_000;
    }
    let va = a.value_at(end).unwrap();
    assert_eq!(b.value_at(end).unwrap(), va);
    assert_eq!(b.value_at(MONDAY_MS + HOUR).unwrap(), a.value_at(MONDAY_MS + HOUR).unwrap());
    assert_ne!(c.value_at(end).unwrap(), va);
    assert_eq!(a.value_at(MONDAY_MS).unwrap(), Quantity::from_micros(1_000_000_000));
    assert_eq!(a.value_at(MONDAY_MS - HOUR).unwrap(), Quantity::from_micros(1_000_000_000));
}

#[test]
fn cumulative_is_monotone_except_at_rollover() {
    let max = 2_000_000_000; // 2000 units: rolls over several times in three days at 250/h
    let mut wrapped = SimulatedMeter::new(source(3, Some(max)), RegisterKind::Cumulative, MONDAY_MS);
    let mut plain = SimulatedMeter::new(source(3, None), RegisterKind::Cumulative, MONDAY_MS);
    let mut prev = wrapped.value_at(MONDAY_MS).unwrap();
    let mut prev_plain = plain.value_at(MONDAY_MS).unwrap();
    let mut rollovers = 0;
    let mut t = MONDAY_MS;
    while t < MONDAY_MS + 72 * HOUR {
        t += 60_000 * 7 + 13; // an irregular step
        let v = wrapped.value_at(t).unwrap();
        let p = plain.value_at(t).unwrap();
        assert!(v.micros() >= 0 && v.micros() < max);
        assert!(p >= prev_plain);
        let delta = if v < prev {
            rollovers += 1;
            v.micros() + max - prev.micros()
        } else {
            v.micros() - prev.micros()
        };
        // The rolled-over register's deltas are the plain register's deltas.
        assert_eq!(delta, p.micros() - prev_plain.micros());
        prev = v;
        prev_plain = p;
    }
    assert!(rollovers >= 3, "{rollovers}");
}

#[test]
fn mean_rate_follows_the_production_factor() {
    let mut m = SimulatedMeter::new(source(11, None), RegisterKind::Cumulative, MONDAY_MS);
    let week = 7 * 24 * HOUR;
    let consumed =
        (m.value_at(MONDAY_MS + week).unwrap().micros() - m.value_at(MONDAY_MS).unwrap().micros()) as f64 / 1e6;
    let expected = 250.0 * 168.0 * mean_production_factor(MONDAY_MS, MONDAY_MS + week);
    let ratio = consumed / expected;
    assert!((ratio - 1.0).abs() < 0.005, "consumed {consumed}, expected {expected}");
    // A weekday day-shift hour uses about 2.5× a night hour (1.0 vs 0.4).
    let hour = |m: &mut SimulatedMeter, from: i64| {
        (m.value_at(from + HOUR).unwrap().micros() - m.value_at(from).unwrap().micros()) as f64 / 1e6
    };
    let day = hour(&mut m, MONDAY_MS + 9 * HOUR);
    let night = hour(&mut m, MONDAY_MS + 2 * HOUR);
    assert!((day / night - 2.5).abs() < 0.1, "{day} / {night}");
    // Instantaneous points read the rate itself.
    let mut inst =
        SimulatedMeter::new(SimulatorSource { noise: 0.0, ..source(1, None) }, RegisterKind::Instantaneous, MONDAY_MS);
    let t = MONDAY_MS + 20 * HOUR;
    assert_eq!(inst.value_at(t).unwrap(), Quantity::from_f64_round(250.0 * production_factor(t)).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_land_on_the_quarter_hour_grid() {
    // Start at an odd instant; 900 s polls at 9000× run every 100 ms.
    let start = MONDAY_MS + 9 * HOUR + 123_456;
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(start, 9000.0));
    let mut p = point("SIM-1", SourceConfig::Simulator(source(5, None)));
    p.poll_interval_s = 900;
    let mut q = point("SIM-2", SourceConfig::Simulator(source(6, None)));
    q.poll_interval_s = 1800;
    let mut run = run(vec![p, q], clock.clone());
    let mut reference = SimulatedMeter::new(source(5, None), RegisterKind::Cumulative, start);
    let mut last = None;
    for _ in 0..4 {
        let s = run.sample_of(0, 5).await;
        assert_eq!(s.collected_at_ms % 900_000, 0, "on the 15-minute grid");
        // Asia/Shanghai is UTC+8, a whole number of quarter hours: the local grid is the same.
        assert_eq!((s.collected_at_ms + 8 * HOUR) % 900_000, 0);
        assert!(!s.source_timestamp);
        assert_eq!(s.value, reference.value_at(s.collected_at_ms).unwrap());
        if let Some((t, v)) = last {
            assert_eq!(s.collected_at_ms, t + 900_000);
            assert!(s.value > v);
        }
        last = Some((s.collected_at_ms, s.value));
    }
    let s = run.sample_of(1, 5).await;
    assert_eq!(s.collected_at_ms % 1_800_000, 0);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_points_are_reported_and_the_rest_run() {
    let mut bad = point("SIM-1", SourceConfig::Simulator(SimulatorSource { noise: 2.0, ..source(1, None) }));
    bad.poll_interval_s = 1;
    let good = point("SIM-2", SourceConfig::Simulator(source(2, None)));
    let mut run = run(vec![bad, good], fast_clock());
    match run.next(5).await {
        DriverEvent::Error { point: 0, error, .. } => {
            let text = error.to_string();
            assert!(text.contains("`noise`") && text.contains("SIM-1"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    run.sample_of(1, 5).await;
    run.stop().await;
}

#[test]
fn a_master_records_its_sub_meters_sum_plus_a_loss_of_its_rate_within_25_percent() {
    let id = |s: &str| DeviceId::new(format!("91430100MA4L0001XA-{s}")).unwrap();
    let subs = [(id("E01"), source(1, None)), (id("E02"), SimulatorSource { rated_per_hour: 80.0, ..source(2, None) })];
    let master_source = SimulatorSource {
        sub_meters: subs.iter().map(|(i, _)| i.clone()).collect(),
        loss: 0.02,
        start: Quantity::from_micros(0),
        ..source(3, None)
    };
    let lookup = |i: &DeviceId| subs.iter().find(|(s, _)| s == i).map(|(_, s)| s.clone());
    let mut master = SimulatedMeter::master(master_source.clone(), RegisterKind::Cumulative, MONDAY_MS, lookup);
    let mut a = SimulatedMeter::new(subs[0].1.clone(), RegisterKind::Cumulative, MONDAY_MS);
    let mut b = SimulatedMeter::new(subs[1].1.clone(), RegisterKind::Cumulative, MONDAY_MS);
    let mut prev = (0i64, a.value_at(MONDAY_MS).unwrap().micros() + b.value_at(MONDAY_MS).unwrap().micros());
    for k in 1..=96 {
        let t = MONDAY_MS + k * 900_000;
        let m = master.value_at(t).unwrap().micros();
        let s = a.value_at(t).unwrap().micros() + b.value_at(t).unwrap().micros();
        let (dm, ds) = (m - prev.0, s - prev.1);
        // 15 one-minute slots, each rounded to a micro-unit: at most 15 µ of rounding.
        assert!(dm >= ds + ds * 15 / 1000 - 15 && dm <= ds + ds * 25 / 1000 + 15, "interval {k}: {dm} vs {ds}");
        prev = (m, s);
    }
    // A sub-meter that is not a simulator point: every read fails, naming it.
    let mut orphan = SimulatedMeter::master(master_source, RegisterKind::Cumulative, MONDAY_MS, |_| None);
    let e = orphan.value_at(MONDAY_MS + HOUR).unwrap_err().to_string();
    assert!(e.contains("E01") && e.contains("not a simulator point"), "{e}");
}
