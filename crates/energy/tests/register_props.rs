//! Properties of `register::intervals`, `split` and `allocate` against a simulated meter whose true
//! consumption is known: the register wraps at `register_max`, meters are replaced (new meter at a
//! random initial value), and readings are sampled at random steps.

use proptest::prelude::*;
use trustmeter_energy::calendar::{Period, period_end, period_start};
use trustmeter_energy::register::*;
use trustmeter_types::ReadingOrigin;

const MIN_MS: i64 = 60_000;

/// One step of the simulation.
#[derive(Clone, Debug)]
enum Step {
    /// After `minutes`, the meter has recorded `ppm` millionths of `register_max` more.
    Consume { minutes: i64, ppm: i64 },
    /// After `minutes`, the meter is replaced by one reading `ppm` millionths of `register_max`.
    Replace { minutes: i64, ppm: i64 },
}

/// A simulated meter and its readings.
#[derive(Clone, Debug)]
struct Sim {
    spec: RegisterSpec,
    /// Every step: (time, register value, true cumulative energy, wrapped since the previous step).
    states: Vec<(i64, i64, i128, bool)>,
    replacements: Vec<Replacement>,
    /// Indices into `states` of the sampled readings (increasing, first 0, at most 9 steps apart).
    sampled: Vec<usize>,
    /// Origins of the sampled readings.
    origins: Vec<ReadingOrigin>,
}

impl Sim {
    fn point(&self, state: usize, origin: ReadingOrigin) -> RegisterPoint {
        let (ts_ms, value, _, _) = self.states[state];
        RegisterPoint { ts_ms, value, origin }
    }

    fn points(&self) -> Vec<RegisterPoint> {
        self.sampled.iter().zip(&self.origins).map(|(&s, &o)| self.point(s, o)).collect()
    }
}

fn origin() -> impl Strategy<Value = ReadingOrigin> {
    prop_oneof![8 => Just(ReadingOrigin::Online), 1 => Just(ReadingOrigin::Manual), 1 => Just(ReadingOrigin::Imported)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        // At most 1 % of the register per step, so at most 9 % between two readings (≤ 9 steps
        // apart): every wrap lands in the rollover window and there is at most one per interval.
        20 => (1i64..=60, 0i64..=10_000).prop_map(|(minutes, ppm)| Step::Consume { minutes, ppm }),
        1 => (1i64..=60, 0i64..1_000_000).prop_map(|(minutes, ppm)| Step::Replace { minutes, ppm }),
    ]
}

prop_compose! {
    fn sim()(
        register_max in prop_oneof![Just(100_000_000_000i64), 1_000_000i64..=1_000_000_000_000_000],
        rated_known in any::<bool>(),
        start in 1_500_000_000_000i64..2_200_000_000_000,
        initial_ppm in 0i64..1_000_000,
        steps in prop::collection::vec(step(), 1..200),
        gaps in prop::collection::vec((1usize..=9, origin()), 200),
    ) -> Sim {
        let frac = |ppm: i64| (i128::from(register_max) * i128::from(ppm) / 1_000_000) as i64;
        // The most a step can record (1 % of the register) in the least time (1 min), per hour, is
        // 60 % of the register: a true rating.
        let rated_per_hour = if rated_known { register_max / 100 * 60 + 60 } else { 0 };
        let spec = RegisterSpec {
            mode: RegisterMode::Cumulative,
            register_max,
            rated_per_hour,
            nominal_interval_ms: 15 * MIN_MS,
        };
        let mut states = vec![(start, frac(initial_ppm), 0i128, false)];
        let mut replacements = Vec::new();
        for s in &steps {
            let (t, reg, energy, _) = *states.last().unwrap();
            match *s {
                Step::Consume { minutes, ppm } => {
                    let inc = frac(ppm);
                    let wrapped = reg + inc >= register_max;
                    states.push((t + minutes * MIN_MS, (reg + inc) % register_max, energy + i128::from(inc), wrapped));
                }
                Step::Replace { minutes, ppm } => {
                    let at_ms = t + minutes * MIN_MS;
                    replacements.push(Replacement { at_ms, old_final: reg, new_initial: frac(ppm) });
                    states.push((at_ms, frac(ppm), energy, false));
                }
            }
        }
        let mut sampled = vec![0];
        let mut origins = vec![gaps[0].1];
        for &(gap, o) in &gaps[1..] {
            let next = sampled.last().unwrap() + gap;
            if next >= states.len() {
                break;
            }
            sampled.push(next);
            origins.push(o);
        }
        // Always sample the last state (within 9 steps of the previous sample).
        if *sampled.last().unwrap() != states.len() - 1 {
            sampled.push(states.len() - 1);
            origins.push(ReadingOrigin::Online);
        }
        Sim { spec, states, replacements, sampled, origins }
    }
}

/// The exact proportional share of `iv` over `[s, e)`, as `(numerator, denominator)`.
fn exact_share(iv: &Interval, s: i64, e: i64) -> (i128, i128) {
    let total = i128::from(iv.end_ms) - i128::from(iv.start_ms);
    let len = i128::from(e.min(iv.end_ms)) - i128::from(s.max(iv.start_ms));
    (i128::from(iv.consumption) * len, total)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (1) The intervals sum to the true energy between the first and last reading, with every
    /// wrap and replacement recognised and nothing excluded; flags follow the rules.
    #[test]
    fn sum_is_the_true_energy(sim in sim()) {
        let pts = sim.points();
        let ivs = intervals(&pts, &sim.spec, &sim.replacements);
        prop_assert_eq!(ivs.len(), sim.sampled.len() - 1);
        let first = sim.states[sim.sampled[0]].2;
        let last = sim.states[*sim.sampled.last().unwrap()].2;
        let sum: i128 = ivs.iter().map(|i| i128::from(i.consumption)).sum();
        prop_assert_eq!(sum, last - first);
        for (k, iv) in ivs.iter().enumerate() {
            let (a, b) = (sim.sampled[k], sim.sampled[k + 1]);
            prop_assert!(!iv.excluded(), "{:?}", iv);
            prop_assert_eq!(iv.note.as_ref(), None);
            prop_assert_eq!(iv.consumption as i128, sim.states[b].2 - sim.states[a].2);
            prop_assert_eq!((iv.start_ms, iv.end_ms), (sim.states[a].0, sim.states[b].0));
            let wrapped = sim.states[a + 1..=b].iter().any(|s| s.3);
            prop_assert_eq!(iv.flags.rollover, wrapped);
            let replaced = sim.replacements.iter().any(|r| iv.start_ms < r.at_ms && r.at_ms <= iv.end_ms);
            prop_assert_eq!(iv.flags.replacement, replaced);
            prop_assert_eq!(iv.flags.estimated, iv.end_ms - iv.start_ms > 30 * MIN_MS);
            let (oa, ob) = (sim.origins[k], sim.origins[k + 1]);
            prop_assert_eq!(iv.flags.manual, oa == ReadingOrigin::Manual || ob == ReadingOrigin::Manual);
            prop_assert_eq!(iv.flags.imported, oa == ReadingOrigin::Imported || ob == ReadingOrigin::Imported);
            // interval_between agrees with intervals.
            prop_assert_eq!(&interval_between(&pts[k], &pts[k + 1], &sim.spec, &sim.replacements), iv);
        }
    }

    /// (2) The input order of points and replacements never changes the result, also with
    /// duplicate timestamps.
    #[test]
    fn order_does_not_matter(
        sim in sim(),
        dups in prop::collection::vec((any::<prop::sample::Index>(), -5i64..5, origin()), 0..5),
        seed in any::<u64>(),
    ) {
        let mut pts = sim.points();
        for (i, dv, o) in &dups {
            let p = i.get(&pts).clone();
            pts.push(RegisterPoint { value: p.value + dv, origin: *o, ..p });
        }
        let expected = intervals(&pts, &sim.spec, &sim.replacements);
        let mut shuffled = pts.clone();
        let mut reps = sim.replacements.clone();
        // A deterministic Fisher–Yates from the seed.
        let mut x = seed | 1;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for i in (1..shuffled.len()).rev() {
            let j = next(i + 1);
            shuffled.swap(i, j);
        }
        for i in (1..reps.len()).rev() {
            let j = next(i + 1);
            reps.swap(i, j);
        }
        prop_assert_eq!(intervals(&shuffled, &sim.spec, &reps), expected.clone());
        let mut reversed = pts.clone();
        reversed.reverse();
        prop_assert_eq!(intervals(&reversed, &sim.spec, &sim.replacements), expected);
    }

    /// (3) Splitting any interval by day, hour or 15 min preserves the sum, and every share is
    /// within one micro-unit of proportional (strictly less than one).
    #[test]
    fn allocation_is_exact(sim in sim()) {
        let ivs = intervals(&sim.points(), &sim.spec, &sim.replacements);
        for iv in &ivs {
            for p in [Period::Quarter, Period::Hour, Period::Day, Period::Month] {
                let shares = allocate(iv, p);
                prop_assert_eq!(shares.iter().map(|s| s.1).sum::<i64>(), iv.consumption);
                prop_assert_eq!(shares[0].0, period_start(p, iv.start_ms));
                for w in shares.windows(2) {
                    prop_assert_eq!(w[1].0, period_end(p, w[0].0));
                }
                if iv.end_ms > iv.start_ms {
                    prop_assert_eq!(period_end(p, shares.last().unwrap().0), period_end(p, iv.end_ms - 1));
                    for &(s, share) in &shares {
                        let (num, den) = exact_share(iv, s, period_end(p, s));
                        prop_assert!((i128::from(share) * den - num).abs() < den, "{:?} {} {}", p, s, share);
                    }
                }
            }
        }
    }

    /// (4) Inserting a late point (a reading that was not sampled) between two readings keeps the
    /// sum of the two new intervals equal to the old interval's consumption.
    #[test]
    fn late_point_keeps_the_sum(sim in sim(), pick in any::<prop::sample::Index>()) {
        let pts = sim.points();
        let old = intervals(&pts, &sim.spec, &sim.replacements);
        // Unsampled states strictly inside a sampled interval.
        let candidates: Vec<(usize, usize)> = (0..sim.sampled.len() - 1)
            .flat_map(|k| (sim.sampled[k] + 1..sim.sampled[k + 1]).map(move |s| (k, s)))
            .collect();
        prop_assume!(!candidates.is_empty());
        let &(k, s) = pick.get(&candidates);
        let mut with_late = pts.clone();
        with_late.push(sim.point(s, ReadingOrigin::Online));
        let new = intervals(&with_late, &sim.spec, &sim.replacements);
        prop_assert_eq!(new.len(), old.len() + 1);
        prop_assert_eq!(&new[..k], &old[..k]);
        prop_assert_eq!(&new[k + 2..], &old[k + 1..]);
        prop_assert_eq!(new[k].consumption + new[k + 1].consumption, old[k].consumption);
        prop_assert_eq!((new[k].start_ms, new[k + 1].end_ms), (old[k].start_ms, old[k].end_ms));
        prop_assert_eq!(new[k].end_ms, new[k + 1].start_ms);
    }

    /// `split` over arbitrary segments (with keys repeating, so adjacent ones merge): the shares sum
    /// to the consumption, keys never repeat adjacently, and each share is within one micro-unit
    /// of proportional over its merged span.
    #[test]
    fn split_over_arbitrary_segments(
        start in -1_000_000i64..1_000_000,
        len in 0i64..1_000_000,
        consumption in any::<i64>(),
        mut cuts in prop::collection::vec(-2_000_000i64..3_000_000, 0..40),
        key_div in 1usize..4,
    ) {
        cuts.sort_unstable();
        cuts.dedup();
        let iv = Interval {
            start_ms: start,
            end_ms: start + len,
            consumption,
            export: 0,
            flags: IntervalFlags::default(),
            note: None,
        };
        // Segment i is [cuts[i-1], cuts[i]), with key i / key_div; beyond the cuts, one open segment.
        let segment = |t: i64| {
            let i = cuts.partition_point(|&c| c <= t);
            (i / key_div, cuts.get(i).copied().unwrap_or(i64::MAX))
        };
        let shares = split(&iv, segment);
        prop_assert_eq!(shares.iter().map(|s| i128::from(s.1)).sum::<i128>(), i128::from(consumption));
        prop_assert!(shares.windows(2).all(|w| w[0].0 != w[1].0));
        if len == 0 {
            prop_assert_eq!(shares, vec![(segment(start).0, consumption)]);
        } else {
            // Recompute each merged span: the times in [start, end) whose key is the share's key.
            let mut t = start;
            for &(key, share) in &shares {
                let from = t;
                while t < iv.end_ms && segment(t).0 == key {
                    t = segment(t).1.min(iv.end_ms);
                }
                let (num, den) = exact_share(&iv, from, t);
                prop_assert!((i128::from(share) * den - num).abs() < den);
            }
            prop_assert_eq!(t, iv.end_ms);
        }
    }
}

proptest! {
    /// An instantaneous register's interval splits into consumption and export, both ≥ 0, whose
    /// difference is the net trapezoid `(prev + next) / 2 × duration` (computed here in `f64`
    /// from the definition) within a micro-unit and the float's error; one is 0 unless the
    /// values have opposite signs.
    #[test]
    fn instantaneous_consumption_and_export_net_to_the_trapezoid(
        prev in -1_000_000_000_000i64..1_000_000_000_000,
        next in -1_000_000_000_000i64..1_000_000_000_000,
        duration in 0i64..40 * 86_400_000,
    ) {
        let spec = trustmeter_energy::register::RegisterSpec {
            mode: trustmeter_energy::register::RegisterMode::Instantaneous,
            register_max: 0,
            rated_per_hour: 0,
            nominal_interval_ms: 900_000,
        };
        let a = trustmeter_energy::register::RegisterPoint { ts_ms: 0, value: prev, origin: trustmeter_types::ReadingOrigin::Online };
        let b = trustmeter_energy::register::RegisterPoint { ts_ms: duration, value: next, origin: trustmeter_types::ReadingOrigin::Online };
        let iv = trustmeter_energy::register::interval_between(&a, &b, &spec, &[]);
        prop_assert!(!iv.excluded());
        prop_assert!(iv.consumption >= 0 && iv.export >= 0);
        let net = (prev as f64 + next as f64) / 2.0 * duration as f64 / 3_600_000.0;
        let got = (iv.consumption - iv.export) as f64;
        prop_assert!((got - net).abs() <= 2.0 + net.abs() * 1e-12, "net {} got {}", net, got);
        if (prev >= 0) == (next >= 0) || prev == 0 || next == 0 {
            prop_assert!(iv.consumption == 0 || iv.export == 0, "{:?}", iv);
        }
    }
}
