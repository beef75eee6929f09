//! Time-of-use schedules: coverage, spot checks from domain.md §4.2, boundaries, walking a day,
//! prices, data checks (NDRC 2021) and refusal of malformed files.

use std::collections::BTreeSet;
use trustmeter_energy::reference::{Confidence, Decimal, LATEST, ReferenceSet, builtin, load};
use trustmeter_energy::tou::{
    SHANGHAI_OFFSET_MS, Tier, TouSchedule, local_date, local_midnight_ms, parse_schedules, schedule_for,
};

const H: i64 = 3_600_000;
const MIN: i64 = 60_000;

// Local midnights (Asia/Shanghai) as UTC epoch milliseconds, computed independently.
const MAR_10_2026: i64 = 1_773_072_000_000;
const JUL_15_2026: i64 = 1_784_044_800_000;
const JUN_30_2026: i64 = 1_782_748_800_000;
const JUL_01_2026: i64 = 1_782_835_200_000;
const OCT_01_2026: i64 = 1_790_784_000_000;
const OCT_04_2026: i64 = 1_791_043_200_000;
const MAY_01_2027: i64 = 1_809_100_800_000;
const MAY_01_2026: i64 = 1_777_564_800_000;
const DEC_31_2025: i64 = 1_767_110_400_000;
const JAN_01_2026: i64 = 1_767_196_800_000;

fn refs() -> &'static ReferenceSet {
    builtin(LATEST).unwrap()
}

fn sched(region: u32, at: i64) -> &'static TouSchedule {
    schedule_for(refs(), region, at).unwrap_or_else(|| panic!("no schedule for {region} at {at}"))
}

fn at(midnight: i64, h: i64, m: i64) -> i64 {
    midnight + h * H + m * MIN
}

#[test]
fn local_midnights_are_at_16_00_utc() {
    for (date, ms) in [
        ("2026-03-10", MAR_10_2026),
        ("2026-07-15", JUL_15_2026),
        ("2026-06-30", JUN_30_2026),
        ("2026-07-01", JUL_01_2026),
        ("2026-10-01", OCT_01_2026),
        ("2026-10-04", OCT_04_2026),
        ("2027-05-01", MAY_01_2027),
        ("2026-05-01", MAY_01_2026),
        ("2025-12-31", DEC_31_2025),
        ("2026-01-01", JAN_01_2026),
    ] {
        assert_eq!(local_midnight_ms(date), Some(ms), "{date}");
        assert_eq!(ms.rem_euclid(24 * H), 16 * H, "{date} is 16:00 UTC the day before");
        assert_eq!(local_date(ms), date);
        assert_eq!(local_date(ms - 1), local_date(ms - 24 * H));
    }
    assert_eq!(SHANGHAI_OFFSET_MS, 8 * H);
    assert_eq!(local_date(0), "1970-01-01");
    assert_eq!(local_date(-8 * H - 1), "1969-12-31");
    assert_eq!(local_midnight_ms("2026-02-30"), None);
}

#[test]
fn every_schedule_covers_every_minute_of_every_day_type_once() {
    let mut ids = BTreeSet::new();
    for s in &refs().tou {
        assert!(ids.insert(s.id.as_str()));
        let days = s
            .seasons
            .iter()
            .map(|x| (&x.name, &x.segments))
            .chain(s.special_days.iter().map(|d| (&d.name, &d.segments)));
        for (name, segs) in days {
            let mut hits = [0u8; 1440];
            for seg in segs {
                let (a, b) = seg.minutes().unwrap();
                for m in a..b {
                    hits[m as usize] += 1;
                }
            }
            assert!(hits.iter().all(|h| *h == 1), "{} {name}: minutes covered 0 or 2+ times", s.id);
        }
        let mut months: Vec<u32> = s.seasons.iter().flat_map(|x| x.months.iter().copied()).collect();
        months.sort();
        assert_eq!(months, (1..=12).collect::<Vec<_>>(), "{}", s.id);
    }
    let regions: BTreeSet<u32> = refs().tou.iter().map(|s| s.region_code).collect();
    assert_eq!(regions, BTreeSet::from([110_000, 310_000, 320_000, 330_000, 430_000]));
}

#[test]
fn hunan_spot_checks() {
    let hn = sched(430_000, MAR_10_2026);
    assert_eq!(hn.tier_at(at(MAR_10_2026, 19, 30)), Tier::CriticalPeak);
    assert_eq!(hn.tier_at(at(MAR_10_2026, 23, 30)), Tier::Valley);
    assert_eq!(hn.tier_at(at(MAR_10_2026, 7, 0)), Tier::Flat);
    assert_eq!(hn.tier_at(at(MAR_10_2026, 7, 0) - 1), Tier::Valley);
    assert_eq!(hn.tier_at(at(MAR_10_2026, 22, 0) - 1), Tier::CriticalPeak);
    // A prefecture code maps to its province (长沙 430100).
    assert_eq!(sched(430_100, MAR_10_2026).id, hn.id);
    assert_eq!(hn.confidence, Confidence::Secondary);
    assert!(hn.ratios.is_empty() && hn.price(Tier::Peak).is_none());
    assert!(hn.notes.iter().any(|n| n.contains("[N]")));
}

#[test]
fn shanghai_has_a_summer_afternoon_peak() {
    let sh = sched(310_000, JUL_15_2026);
    assert_eq!(sh.tier_at(at(JUL_15_2026, 13, 30)), Tier::Peak);
    assert_eq!(sh.tier_at(at(MAR_10_2026, 13, 30)), Tier::Flat);
    // The season changes at local midnight 06-30 → 07-01, i.e. 16:00 UTC.
    assert_eq!(sh.tier_at(at(JUN_30_2026, 13, 30)), Tier::Flat);
    assert_eq!(sh.tier_at(at(JUL_01_2026, 13, 30)), Tier::Peak);
    assert_eq!(sh.day_segments(JUL_01_2026 - 1).len(), 7);
    assert_eq!(sh.day_segments(JUL_01_2026).len(), 9);
    assert_eq!(sh.tier_at(JUL_01_2026 - 1), Tier::Valley);
    assert_eq!(sh.tier_at(JUL_01_2026), Tier::Valley);
}

#[test]
fn zhejiang_deep_valley_on_holidays() {
    let zj = sched(330_000, MAY_01_2027);
    assert_eq!(zj.tier_at(at(MAY_01_2027, 10, 0)), Tier::DeepValley);
    assert_eq!(zj.tier_at(at(OCT_01_2026, 10, 0)), Tier::DeepValley);
    assert_eq!(zj.tier_at(at(OCT_01_2026, 2, 0) + 2 * 24 * H), Tier::Valley); // Oct 3
    assert_eq!(zj.tier_at(at(OCT_01_2026, 10, 0) + 2 * 24 * H), Tier::DeepValley); // Oct 3
    assert_eq!(zj.tier_at(at(OCT_04_2026, 10, 0)), Tier::Flat); // Oct 4: an ordinary autumn day
    // Special-day boundaries: 09:00 local = 01:00 UTC; midnight = 16:00 UTC the day before.
    assert_eq!(zj.tier_at(at(OCT_01_2026, 9, 0)), Tier::DeepValley);
    assert_eq!(zj.tier_at(at(OCT_01_2026, 9, 0) - 1), Tier::Valley);
    assert_eq!(zj.tier_at(at(OCT_01_2026, 8, 0)), Tier::Valley); // ordinary days are flat at 08:00
    assert_eq!(zj.tier_at(OCT_01_2026 - 1), Tier::Flat); // Sep 30, 23:59:59.999
    assert_eq!(zj.tier_at(OCT_04_2026 - 1), Tier::Flat); // Oct 3, 23:59:59.999
    assert_eq!(zj.tier_at(OCT_04_2026 + 8 * H), Tier::Flat);
    // Summer: the presumed critical peak 18–22.
    assert_eq!(zj.tier_at(at(JUL_15_2026, 19, 0)), Tier::CriticalPeak);
    assert_eq!(zj.tier_at(at(JUL_15_2026, 22, 30)), Tier::Peak);
    assert_eq!(zj.tier_at(at(JUL_15_2026, 12, 0)), Tier::Valley);
    // The notice takes effect 2026-07-01: Labour Day 2026 predates it (see the data notes).
    assert!(schedule_for(refs(), 330_000, at(MAY_01_2026, 10, 0)).is_none());
    assert!(schedule_for(refs(), 330_000, JUL_01_2026 - 1).is_none());
    assert_eq!(schedule_for(refs(), 330_100, JUL_01_2026).map(|s| s.id.as_str()), Some("zj-2026-07"));
    assert_eq!(zj.special_days.len(), 9);
    assert!(
        zj.special_days.iter().all(|d| d.date.ends_with("-01") || d.date.ends_with("-02") || d.date.ends_with("-03"))
    );
}

#[test]
fn jiangsu_and_beijing() {
    let js = sched(320_000, MAR_10_2026);
    assert_eq!(js.confidence, Confidence::Unverified);
    assert_eq!(js.tier_at(at(MAR_10_2026, 9, 0)), Tier::Peak);
    assert_eq!(js.tier_at(at(MAR_10_2026, 23, 0)), Tier::Flat);
    assert_eq!(js.tier_at(at(MAR_10_2026, 3, 0)), Tier::Valley);
    assert!(js.notes.iter().any(|n| n.contains("1.2")));

    assert!(schedule_for(refs(), 110_000, DEC_31_2025).is_none(), "the Beijing config is dated 2026");
    let bj = sched(110_108, JAN_01_2026);
    assert_eq!(bj.tier_at(at(JAN_01_2026, 12, 0)), Tier::Peak);
    assert_eq!(bj.tier_at(at(JAN_01_2026, 22, 0)), Tier::Flat); // the customer's "shoulder", see notes
    assert_eq!(bj.price_micros(Tier::Peak), Some(1_350_000));
    assert_eq!(bj.price_micros(Tier::Valley), Some(350_000));
    assert_eq!(bj.price_micros(Tier::Flat), None);
    assert_eq!(bj.cost_micros(&[0, 10_000_000, 0, 5_000_000, 0]), Some(15_250_000)); // 13.50 + 1.75 CNY
    assert_eq!(bj.cost_micros(&[0, 10_000_000, 1, 5_000_000, 0]), None); // flat energy, no flat price
    assert!(bj.notes.iter().any(|n| n.contains("shoulder") && n.contains("0.95")));

    assert!(schedule_for(refs(), 440_000, MAR_10_2026).is_none());
    assert!(schedule_for(builtin("cn-2008.1").unwrap(), 430_000, MAR_10_2026).is_none());
}

fn walk(s: &TouSchedule, midnight: i64) -> Vec<(i64, Tier)> {
    let mut out = Vec::new();
    let mut t = midnight;
    while t < midnight + 24 * H {
        out.push(((t - midnight) / MIN, s.tier_at(t)));
        let next = s.next_change_after(t);
        assert!(next > t && next <= midnight + 24 * H);
        // Nothing changes strictly inside a segment.
        assert_eq!(s.tier_at(next - 1), s.tier_at(t));
        assert_eq!(s.next_change_after(t + (next - t) / 2), next);
        t = next;
    }
    assert_eq!(t, midnight + 24 * H, "the walk ends at the next local midnight");
    out
}

fn hours(v: &[(i64, Tier)]) -> Vec<(i64, Tier)> {
    v.iter().map(|(m, t)| (m / 60, *t)).collect()
}

#[test]
fn next_change_after_walks_exactly_the_documented_segments() {
    use Tier::*;
    assert_eq!(
        hours(&walk(sched(430_000, MAR_10_2026), MAR_10_2026)),
        vec![(0, Valley), (7, Flat), (8, Peak), (11, Flat), (15, Peak), (19, CriticalPeak), (22, Flat), (23, Valley)]
    );
    assert_eq!(
        hours(&walk(sched(310_000, JUL_15_2026), JUL_15_2026)),
        vec![
            (0, Valley),
            (6, Flat),
            (8, Peak),
            (11, Flat),
            (13, Peak),
            (15, Flat),
            (18, Peak),
            (21, Flat),
            (22, Valley)
        ]
    );
    assert_eq!(
        hours(&walk(sched(310_000, MAR_10_2026), MAR_10_2026)),
        vec![(0, Valley), (6, Flat), (8, Peak), (11, Flat), (18, Peak), (21, Flat), (22, Valley)]
    );
    let zj = sched(330_000, OCT_01_2026);
    assert_eq!(hours(&walk(zj, OCT_01_2026)), vec![(0, Valley), (9, DeepValley), (15, Flat), (16, Peak), (23, Flat)]);
    assert_eq!(
        hours(&walk(zj, OCT_04_2026)),
        vec![(0, Valley), (7, Flat), (11, Valley), (14, Flat), (16, Peak), (23, Flat)]
    );
    assert_eq!(
        hours(&walk(zj, JUL_15_2026)),
        vec![(0, Valley), (7, Flat), (11, Valley), (14, Flat), (16, Peak), (18, CriticalPeak), (22, Peak), (23, Flat)]
    );
    assert_eq!(
        hours(&walk(sched(320_000, MAR_10_2026), MAR_10_2026)),
        vec![(0, Valley), (8, Peak), (11, Flat), (17, Peak), (22, Flat)]
    );
    assert_eq!(
        hours(&walk(sched(110_000, JAN_01_2026), JAN_01_2026)),
        vec![(0, Valley), (7, Flat), (10, Peak), (15, Flat), (18, Peak), (21, Flat), (23, Valley)]
    );
    // Every schedule, every day of 2026 and 2027 from its validity: walks match the day's segments.
    for s in &refs().tou {
        let start = local_midnight_ms(&s.valid_from).unwrap().max(JAN_01_2026);
        for d in 0..730 {
            let midnight = start + d * 24 * H;
            let expect: Vec<(i64, Tier)> =
                s.day_segments(midnight).iter().map(|seg| (i64::from(seg.minutes().unwrap().0), seg.tier)).collect();
            assert_eq!(walk(s, midnight), expect, "{} on {}", s.id, local_date(midnight));
        }
    }
}

#[test]
fn next_change_after_at_boundaries_and_extremes() {
    let hn = sched(430_000, MAR_10_2026);
    assert_eq!(hn.next_change_after(at(MAR_10_2026, 7, 0)), at(MAR_10_2026, 8, 0));
    assert_eq!(hn.next_change_after(at(MAR_10_2026, 7, 0) - 1), at(MAR_10_2026, 7, 0));
    assert_eq!(hn.next_change_after(at(MAR_10_2026, 23, 0)), MAR_10_2026 + 24 * H);
    assert_eq!(hn.next_change_after(i64::MAX - 1), i64::MAX);
    assert!(hn.next_change_after(i64::MIN) > i64::MIN);
    let _ = hn.tier_at(i64::MIN);
    let _ = hn.tier_at(i64::MAX);
}

#[test]
fn prices_from_ratios_and_cost() {
    let zj = sched(330_000, JUL_15_2026);
    assert_eq!(zj.price(Tier::Peak), None, "no public flat price: no cost");
    assert_eq!(zj.cost_micros(&[0, 1, 0, 0, 0]), None);
    assert_eq!(zj.cost_micros(&[0; 5]), Some(0));
    let mut priced = zj.clone();
    priced.flat_price_cny_per_kwh = Some(Decimal::parse("0.6").unwrap());
    let p: Vec<Option<i64>> = Tier::ALL.iter().map(|t| priced.price_micros(*t)).collect();
    assert_eq!(p, vec![Some(1_230_000), Some(1_110_000), Some(600_000), Some(240_000), Some(120_000)]);
    // 1 kWh of each tier: 1.23 + 1.11 + 0.6 + 0.24 + 0.12 = 3.30 CNY.
    assert_eq!(priced.cost_micros(&[1_000_000; 5]), Some(3_300_000));
    // One rounding: 1 micro-kWh of each = 3.3 micro-CNY → 3.
    assert_eq!(priced.cost_micros(&[1; 5]), Some(3));
    assert_eq!(priced.cost_micros(&[i64::MAX; 5]), None);
    assert_eq!(priced.cost_micros(&[-1_000_000, 0, 0, 0, 0]), Some(-1_230_000));
}

#[test]
fn peak_valley_ratio_is_at_least_3_where_known() {
    // NDRC 2021 (发改价格〔2021〕1093号): peak:valley ≥ 3:1 (≥ 4:1 where the system gap exceeds 40 %).
    let mut checked = 0;
    let mut critical_below_1_2 = Vec::new();
    for s in &refs().tou {
        let (Some(peak), Some(valley)) =
            (s.price(Tier::Peak).or(s.ratios.peak), s.price(Tier::Valley).or(s.ratios.valley))
        else {
            continue;
        };
        checked += 1;
        let three_valley = valley.checked_mul(Decimal::new(3, 0)).unwrap();
        assert!(peak.value_cmp(&three_valley).is_ge(), "{}: peak {peak} < 3 × valley {valley}", s.id);
        if let Some(cp) = s.ratios.critical_peak
            && cp.value_cmp(&peak.checked_mul(Decimal::new(12, 1)).unwrap()).is_lt()
        {
            critical_below_1_2.push(s.id.as_str());
        }
    }
    assert_eq!(checked, 2, "Zhejiang (ratios) and Beijing (prices)");
    // Critical peak ≥ 1.2 × peak ([M] rule): Zhejiang's published ratios break it; recorded in its notes.
    assert_eq!(critical_below_1_2, vec!["zj-2026-07"]);
    assert!(sched(330_000, JUL_15_2026).notes.iter().any(|n| n.contains("CONFLICT") && n.contains("1.108")));
}

#[test]
fn tier_names_and_registers() {
    let names: Vec<&str> = Tier::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["critical_peak", "peak", "flat", "valley", "deep_valley"]);
    let zh: Vec<&str> = Tier::ALL.iter().map(|t| t.chinese_name()).collect();
    assert_eq!(zh, ["尖峰", "高峰", "平", "低谷", "深谷"]);
    for (i, t) in Tier::ALL.iter().enumerate() {
        assert_eq!((t.index(), *t as u8 as usize, Tier::from_index(i)), (i, i, Some(*t)));
        #[derive(serde::Deserialize)]
        struct W {
            t: Tier,
        }
        assert_eq!(toml::from_str::<W>(&format!("t = \"{}\"", t.as_str())).unwrap().t, *t);
    }
    assert_eq!(Tier::from_index(5), None);
    let regs: Vec<Option<Tier>> = (0..=5).map(Tier::from_dlt645_rate).collect();
    assert_eq!(regs, [None, Some(Tier::CriticalPeak), Some(Tier::Peak), Some(Tier::Flat), Some(Tier::Valley), None]);
}

// ----- malformed schedule files ----------------------------------------------------------------

const GOOD: &str = r#"
[[schedule]]
id = "t"
province = "test"
region_code = 430000
customer_class = "test"
valid_from = "2026-01-01"
source = "test"
confidence = "N"

[[schedule.seasons]]
name = "all"
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
segments = [
  { start = "00:00", end = "08:00", tier = "valley" },
  { start = "08:00", end = "20:00", tier = "peak" },
  { start = "20:00", end = "24:00", tier = "flat" },
]
"#;

fn refused(text: &str, needle: &str) {
    let err = parse_schedules("tou/test.toml", text).expect_err("must be refused").to_string();
    assert!(err.contains("tou/test.toml") && err.contains(needle), "error `{err}` should mention `{needle}`");
}

#[test]
fn malformed_schedules_are_refused_with_a_clear_error() {
    assert_eq!(parse_schedules("tou/test.toml", GOOD).unwrap().len(), 1);
    refused(&GOOD.replace("\"08:00\", end = \"20:00\"", "\"09:00\", end = \"20:00\""), "08:00–09:00 is not covered");
    refused(&GOOD.replace("\"08:00\", end = \"20:00\"", "\"07:00\", end = \"20:00\""), "overlaps");
    refused(&GOOD.replace("end = \"24:00\"", "end = \"23:00\""), "23:00–24:00 is not covered");
    refused(&GOOD.replace("\"20:00\", end = \"24:00\"", "\"20:00\", end = \"08:00\""), "wraps midnight");
    refused(&GOOD.replace("tier = \"flat\"", "tier = \"peak\""), "merge them");
    refused(&GOOD.replace("tier = \"flat\"", "tier = \"shoulder\""), "shoulder");
    refused(&GOOD.replace("\"20:00\"", "\"20:60\""), "not HH:MM");
    refused(&GOOD.replace("end = \"24:00\"", "end = \"24:30\""), "not HH:MM");
    refused(&GOOD.replace("months = [1, ", "months = ["), "months 1 are in no season");
    refused(&GOOD.replace("months = [1, ", "months = [2, 1, "), "month 2");
    refused(&GOOD.replace("430000", "430100"), "not a GB/T 2260 province code");
    refused(&GOOD.replace("\"2026-01-01\"", "\"2026-1-1\""), "valid_from");
    refused(&GOOD.replace("confidence = \"N\"", "confidence = \"N\"\nvalid_to = \"2025-01-01\""), "valid_to");
    refused(&GOOD.replace("confidence = \"N\"", "confidence = \"N\"\nratios = { peak = \"1.5\" }"), "must be \"1\"");
    refused(
        &GOOD.replace("confidence = \"N\"", "confidence = \"N\"\nratios = { flat = \"1\", peak = \"-1.5\" }"),
        "positive",
    );
    refused(&GOOD.replace("confidence = \"N\"", "confidence = \"N\"\nvoltage = \"10kV\""), "voltage");
    let special = format!(
        "{GOOD}\n[[schedule.special_days]]\ndate = \"2025-10-01\"\nname = \"x\"\nsegments = [{{ start = \"00:00\", end = \"24:00\", tier = \"deep_valley\" }}]\n"
    );
    refused(&special, "outside the schedule's validity");
    let ok_special = special.replace("2025-10-01", "2026-10-01");
    let s = &parse_schedules("tou/test.toml", &ok_special).unwrap()[0];
    assert_eq!(s.tier_at(OCT_01_2026 + 5 * H), Tier::DeepValley);
    refused(
        &ok_special.replace("end = \"24:00\", tier = \"deep_valley\"", "end = \"12:00\", tier = \"deep_valley\""),
        "special day 2026-10-01: 12:00–24:00",
    );
    refused(
        &format!("{ok_special}{}", &ok_special[ok_special.find("\n[[schedule.special_days]]").unwrap()..]),
        "appears twice",
    );
}

#[test]
fn overlapping_schedules_in_a_set_are_refused() {
    let manifest = "[[set]]\nid = \"t-1\"\ntitle = \"t\"\nvalid_from = \"2021-04-01\"\ncoal = \"c.toml\"\n\
                    equal_value = \"e.toml\"\ndensities = \"d.toml\"\ntou = [\"a.toml\", \"b.toml\"]\n";
    let coal = "standard = \"t\"\n[[factor]]\nkind = \"electricity\"\nunit = \"kWh\"\ncoefficient = \"0.1229\"\nsource = \"t\"\nconfidence = \"S2\"\n";
    let ev = "[[year]]\nyear = 2025\nkgce_per_kwh = \"0.3\"\nsource = \"t\"\nconfidence = \"M\"\n";
    let dens = "density = []\n";
    let b_same = GOOD.replace("id = \"t\"", "id = \"t2\"");
    let files = |b: &str| -> Result<Vec<ReferenceSet>, String> {
        load(manifest, &[("c.toml", coal), ("e.toml", ev), ("d.toml", dens), ("a.toml", GOOD), ("b.toml", b)])
            .map_err(|e| e.to_string())
    };
    assert!(files(&b_same).unwrap_err().contains("overlap in validity"));
    assert!(files(GOOD).unwrap_err().contains("appears twice"));
    let a_ends = GOOD.replace("confidence = \"N\"", "confidence = \"N\"\nvalid_to = \"2026-06-30\"");
    let b_later = b_same.replace("2026-01-01", "2026-07-01");
    let sets = load(
        manifest,
        &[("c.toml", coal), ("e.toml", ev), ("d.toml", dens), ("a.toml", &a_ends), ("b.toml", &b_later)],
    )
    .unwrap();
    assert_eq!(schedule_for(&sets[0], 430_000, JUN_30_2026).unwrap().id, "t");
    assert_eq!(schedule_for(&sets[0], 430_000, JUL_01_2026).unwrap().id, "t2");
    // Another customer class may overlap; the later valid_from wins.
    let other_class =
        b_same.replace("customer_class = \"test\"", "customer_class = \"other\"").replace("2026-01-01", "2026-03-01");
    let sets = load(
        manifest,
        &[("c.toml", coal), ("e.toml", ev), ("d.toml", dens), ("a.toml", GOOD), ("b.toml", &other_class)],
    )
    .unwrap();
    assert_eq!(schedule_for(&sets[0], 430_000, JAN_01_2026 + H).unwrap().id, "t");
    assert_eq!(schedule_for(&sets[0], 430_000, MAR_10_2026).unwrap().id, "t2");
}
