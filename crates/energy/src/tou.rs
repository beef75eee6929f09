//! Time-of-use electricity (分时电价): tiers, provincial schedules and register reconciliation.
//!
//! Schedules are reference data (`data/tou/*.toml`), validated at load: every season's and special
//! day's segments cover 00:00–24:00 exactly, in order, without overlap; the seasons cover the 12
//! months exactly once. Local time is Asia/Shanghai, a fixed UTC+8 (China has no daylight saving
//! time since 1991; no schedule here predates that).
//!
//! Prices are exact decimals: a tier's price is its explicit price when the source gives one, else
//! the flat price × the tier's ratio to flat. With no public price, nothing is computed (`None`)
//! rather than guessed.

use crate::reference::{
    Confidence, Decimal, ReferenceError, ReferenceSet, civil_from_days, days_from_civil, div_round_half_even, invalid,
    parse_date,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Asia/Shanghai offset from UTC, in milliseconds (UTC+8, no DST).
pub const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i128 = 86_400_000;
const MINUTE_MS: i128 = 60_000;
const DAY_MINUTES: u32 = 24 * 60;

/// A time-of-use tier (电价时段).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Tier {
    /// Critical peak (尖峰).
    CriticalPeak = 0,
    /// Peak (高峰).
    Peak = 1,
    /// Flat, the base (平段).
    Flat = 2,
    /// Valley (低谷).
    Valley = 3,
    /// Deep valley (深谷).
    DeepValley = 4,
}

impl Tier {
    /// Every tier, in index order.
    pub const ALL: [Tier; 5] = [Tier::CriticalPeak, Tier::Peak, Tier::Flat, Tier::Valley, Tier::DeepValley];

    /// The Chinese name (尖峰, 高峰, 平, 低谷, 深谷).
    pub fn chinese_name(self) -> &'static str {
        match self {
            Tier::CriticalPeak => "尖峰",
            Tier::Peak => "高峰",
            Tier::Flat => "平",
            Tier::Valley => "低谷",
            Tier::DeepValley => "深谷",
        }
    }

    /// The serde name (`critical_peak`, `peak`, `flat`, `valley`, `deep_valley`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::CriticalPeak => "critical_peak",
            Tier::Peak => "peak",
            Tier::Flat => "flat",
            Tier::Valley => "valley",
            Tier::DeepValley => "deep_valley",
        }
    }

    /// The index 0..=4 (array position in `[i64; 5]` tier arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The tier with this index.
    pub fn from_index(i: usize) -> Option<Tier> {
        Tier::ALL.get(i).copied()
    }

    /// The tier of DL/T 645 tariff register `rate` (正向有功费率1..4 = 尖/峰/平/谷). Meters have no
    /// deep-valley register: deep-valley energy lands in whichever register the meter's own
    /// timetable selects, usually 谷.
    pub fn from_dlt645_rate(rate: u8) -> Option<Tier> {
        match rate {
            1 => Some(Tier::CriticalPeak),
            2 => Some(Tier::Peak),
            3 => Some(Tier::Flat),
            4 => Some(Tier::Valley),
            _ => None,
        }
    }
}

/// One optional decimal per tier (each `None` where the source gives nothing, `[N]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierValues {
    /// Critical peak (尖峰).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_peak: Option<Decimal>,
    /// Peak (高峰).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<Decimal>,
    /// Flat (平).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat: Option<Decimal>,
    /// Valley (低谷).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valley: Option<Decimal>,
    /// Deep valley (深谷).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep_valley: Option<Decimal>,
}

/// Price ratios relative to flat (峰谷价格比, flat = 1).
pub type TierRatios = TierValues;

impl TierValues {
    /// The value for `tier`.
    pub fn get(&self, tier: Tier) -> Option<Decimal> {
        match tier {
            Tier::CriticalPeak => self.critical_peak,
            Tier::Peak => self.peak,
            Tier::Flat => self.flat,
            Tier::Valley => self.valley,
            Tier::DeepValley => self.deep_valley,
        }
    }
    /// Whether no tier has a value.
    pub fn is_empty(&self) -> bool {
        Tier::ALL.iter().all(|t| self.get(*t).is_none())
    }
}

/// A time segment of a day (时段): `[start, end)` local time, `"HH:MM"`, `end` may be `"24:00"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Start, inclusive (`"HH:MM"`).
    pub start: String,
    /// End, exclusive (`"HH:MM"` or `"24:00"`).
    pub end: String,
    /// The tier in force.
    pub tier: Tier,
}

impl Segment {
    /// `[start, end)` in minutes of the day, if both times are well formed.
    pub fn minutes(&self) -> Option<(u32, u32)> {
        Some((hhmm(&self.start)?, hhmm(&self.end)?))
    }
}

/// Minutes since midnight of `"HH:MM"` (00:00..=24:00).
fn hhmm(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
        return None;
    }
    let h = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let m = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    let t = h * 60 + m;
    (m < 60 && t <= DAY_MINUTES).then_some(t)
}

/// A season (季节): the months it covers and its daily segments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Season {
    /// Name, e.g. `"summer 夏季 (Jul–Sep)"`.
    pub name: String,
    /// Months 1..=12.
    pub months: Vec<u32>,
    /// Segments covering 00:00–24:00 in order.
    pub segments: Vec<Segment>,
}

/// A dated day with its own segments (特殊日), e.g. Zhejiang's holiday deep valley (节假日深谷).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialDay {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// Name, e.g. `"National Day 国庆节 day 1"`.
    pub name: String,
    /// Segments covering 00:00–24:00 in order.
    pub segments: Vec<Segment>,
}

/// A provincial time-of-use schedule (分时电价方案) for one customer class and validity period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouSchedule {
    /// Schedule id, unique in its reference set.
    pub id: String,
    /// Province name (省份).
    pub province: String,
    /// GB/T 2260 province code (行政区划代码), e.g. 430000.
    pub region_code: u32,
    /// Customer class (用户类别: 大工业 / 一般工商业 / 居民 …).
    pub customer_class: String,
    /// First local day in force (`YYYY-MM-DD`).
    pub valid_from: String,
    /// Last local day in force, inclusive; `None` while current.
    #[serde(default)]
    pub valid_to: Option<String>,
    /// Seasons covering the 12 months.
    pub seasons: Vec<Season>,
    /// Dated exceptions, taking precedence over the season.
    #[serde(default)]
    pub special_days: Vec<SpecialDay>,
    /// Ratios to flat (峰谷比), `None` per tier where unknown.
    #[serde(default)]
    pub ratios: TierRatios,
    /// Flat price (平段电价), CNY/kWh; `None` when no public source (then cost is not computed).
    #[serde(default)]
    pub flat_price_cny_per_kwh: Option<Decimal>,
    /// Explicit per-tier prices (分时电价), CNY/kWh, where the source gives prices rather than ratios.
    #[serde(default)]
    pub prices_cny_per_kwh: TierValues,
    /// Source (出处).
    pub source: String,
    /// Confidence tag (置信度) of the schedule as a whole; row-level caveats are in `notes`.
    pub confidence: Confidence,
    /// Caveats: which parts are `[M]`/`[N]`, assumptions, conflicts.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// `(days since 1970-01-01, ms since local midnight)` of a UTC timestamp, Asia/Shanghai.
fn local_day(ts_ms: i64) -> (i64, i128) {
    let l = i128::from(ts_ms) + i128::from(SHANGHAI_OFFSET_MS);
    (l.div_euclid(DAY_MS) as i64, l.rem_euclid(DAY_MS))
}

/// The Asia/Shanghai local date (`YYYY-MM-DD`) of a UTC timestamp in milliseconds.
pub fn local_date(ts_ms: i64) -> String {
    let (y, m, d) = civil_from_days(local_day(ts_ms).0);
    format!("{y:04}-{m:02}-{d:02}")
}

impl TouSchedule {
    /// Whether the schedule is in force on local date `date` (`YYYY-MM-DD`).
    pub fn valid_on(&self, date: &str) -> bool {
        self.valid_from.as_str() <= date && self.valid_to.as_deref().is_none_or(|to| date <= to)
    }

    fn segments_on_day(&self, day: i64) -> &[Segment] {
        let (y, m, d) = civil_from_days(day);
        if let Some(sd) = self.special_days.iter().find(|sd| parse_date(&sd.date) == Some((y, m, d))) {
            return &sd.segments;
        }
        self.seasons.iter().find(|s| s.months.contains(&m)).map(|s| s.segments.as_slice()).unwrap_or(&[])
    }

    /// The segments in force on the local day of `ts_ms` (a special day's, else its season's).
    /// Does not check the schedule's validity dates: use [`schedule_for`] for that.
    pub fn day_segments(&self, ts_ms: i64) -> &[Segment] {
        self.segments_on_day(local_day(ts_ms).0)
    }

    /// The tier in force at `ts_ms` (UTC milliseconds). Segment boundaries are local minutes;
    /// a segment includes its start and excludes its end. A schedule that was not validated and
    /// leaves the instant uncovered answers [`Tier::Flat`].
    pub fn tier_at(&self, ts_ms: i64) -> Tier {
        let (day, ms) = local_day(ts_ms);
        let minute = (ms / MINUTE_MS) as u32;
        self.segments_on_day(day)
            .iter()
            .find(|s| s.minutes().is_some_and(|(a, b)| a <= minute && minute < b))
            .map_or(Tier::Flat, |s| s.tier)
    }

    /// The next instant after `ts_ms` where a segment ends: the next segment boundary of the day,
    /// or the next local midnight (a day boundary is always reported, as the day type may change).
    /// Always `> ts_ms` and at most the next local midnight (saturating at `i64::MAX`).
    pub fn next_change_after(&self, ts_ms: i64) -> i64 {
        let (day, ms) = local_day(ts_ms);
        let boundary = self
            .segments_on_day(day)
            .iter()
            .filter_map(|s| s.minutes().map(|(_, end)| i128::from(end) * MINUTE_MS))
            .filter(|b| *b > ms)
            .min()
            .unwrap_or(DAY_MS)
            .min(DAY_MS);
        i64::try_from(i128::from(ts_ms) + (boundary - ms)).unwrap_or(i64::MAX)
    }

    /// The exact price of `tier` in CNY/kWh: the explicit price, else flat price × ratio.
    pub fn price(&self, tier: Tier) -> Option<Decimal> {
        self.prices_cny_per_kwh.get(tier).or_else(|| self.flat_price_cny_per_kwh?.checked_mul(self.ratios.get(tier)?))
    }

    /// The price of `tier` in micro-CNY per kWh (rounded half to even), `None` if unknown.
    pub fn price_micros(&self, tier: Tier) -> Option<i64> {
        self.price(tier)?.to_micros()
    }

    /// Cost in micro-CNY of energy per tier (micro-kWh, indexed by [`Tier::index`]): the exact sum
    /// of energy × price, rounded once (half to even). `None` if a tier with energy has no price,
    /// or on overflow.
    pub fn cost_micros(&self, tier_kwh_micros: &[i64; 5]) -> Option<i64> {
        let mut terms = Vec::with_capacity(5);
        for tier in Tier::ALL {
            let kwh = tier_kwh_micros[tier.index()];
            if kwh != 0 {
                terms.push((i128::from(kwh), self.price(tier)?));
            }
        }
        let scale = terms.iter().map(|(_, p)| p.scale).max().unwrap_or(0);
        let mut sum: i128 = 0;
        for (kwh, p) in terms {
            let aligned = p.mantissa.checked_mul(Decimal::pow10(scale - p.scale)?)?;
            sum = sum.checked_add(kwh.checked_mul(aligned)?)?;
        }
        i64::try_from(div_round_half_even(sum, Decimal::pow10(scale)?)).ok()
    }

    /// Checks the rules every loaded schedule satisfies (see the module docs).
    pub fn validate(&self, file: &str) -> Result<(), ReferenceError> {
        let at = |what: String| invalid(file, format!("schedule `{}`: {what}", self.id));
        if self.id.trim().is_empty() {
            return Err(invalid(file, "a schedule has an empty id"));
        }
        if self.source.trim().is_empty() {
            return Err(at("`source` must name a URL or document".into()));
        }
        if !self.region_code.is_multiple_of(10_000) || !(110_000..=820_000).contains(&self.region_code) {
            return Err(at(format!("region_code {} is not a GB/T 2260 province code (e.g. 430000)", self.region_code)));
        }
        if parse_date(&self.valid_from).is_none() {
            return Err(at(format!("valid_from `{}` is not a YYYY-MM-DD date", self.valid_from)));
        }
        if let Some(to) = &self.valid_to
            && (parse_date(to).is_none() || to.as_str() < self.valid_from.as_str())
        {
            return Err(at(format!("valid_to `{to}` is not a YYYY-MM-DD date on or after valid_from")));
        }
        if self.seasons.is_empty() {
            return Err(at("no seasons".into()));
        }
        let mut months = BTreeSet::new();
        for s in &self.seasons {
            for m in &s.months {
                if !(1..=12).contains(m) || !months.insert(*m) {
                    return Err(at(format!("season `{}`: month {m} is out of range or in two seasons", s.name)));
                }
            }
            check_day(&s.segments).map_err(|e| at(format!("season `{}`: {e}", s.name)))?;
        }
        if months.len() != 12 {
            let missing: Vec<String> = (1..=12).filter(|m| !months.contains(m)).map(|m| m.to_string()).collect();
            return Err(at(format!("months {} are in no season", missing.join(", "))));
        }
        let mut dates = BTreeSet::new();
        for sd in &self.special_days {
            if parse_date(&sd.date).is_none() || !dates.insert(sd.date.as_str()) {
                return Err(at(format!("special day `{}` is not a date or appears twice", sd.date)));
            }
            if !self.valid_on(&sd.date) {
                return Err(at(format!("special day {} is outside the schedule's validity", sd.date)));
            }
            check_day(&sd.segments).map_err(|e| at(format!("special day {}: {e}", sd.date)))?;
        }
        if !self.ratios.is_empty() && self.ratios.flat.is_none_or(|f| f.value_cmp(&Decimal::ONE).is_ne()) {
            return Err(at("ratios are relative to flat: `flat` must be \"1\"".into()));
        }
        let positive = |v: &TierValues| Tier::ALL.iter().all(|t| v.get(*t).is_none_or(|d| d.signum() > 0));
        if !positive(&self.ratios) || !positive(&self.prices_cny_per_kwh) {
            return Err(at("ratios and prices must be positive".into()));
        }
        if self.flat_price_cny_per_kwh.is_some_and(|p| p.signum() <= 0) {
            return Err(at("flat_price_cny_per_kwh must be positive".into()));
        }
        if let (Some(a), Some(b)) = (self.flat_price_cny_per_kwh, self.prices_cny_per_kwh.flat)
            && a.value_cmp(&b).is_ne()
        {
            return Err(at("flat_price_cny_per_kwh and prices_cny_per_kwh.flat disagree".into()));
        }
        Ok(())
    }
}

fn fmt_min(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// One day's segments: well-formed, in order, contiguous from 00:00 to 24:00, adjacent segments
/// of different tiers (same-tier neighbours must be written as one segment).
fn check_day(segments: &[Segment]) -> Result<(), String> {
    let mut cursor = 0;
    let mut prev: Option<Tier> = None;
    for s in segments {
        let (a, b) = s.minutes().ok_or_else(|| format!("segment {}–{} is not HH:MM–HH:MM", s.start, s.end))?;
        if a >= b {
            return Err(format!("segment {}–{} is empty or wraps midnight (split it at 24:00/00:00)", s.start, s.end));
        }
        if a < cursor {
            return Err(format!("segment {}–{} overlaps the previous one (ends {})", s.start, s.end, fmt_min(cursor)));
        }
        if a > cursor {
            return Err(format!("{}–{} is not covered by any segment", fmt_min(cursor), fmt_min(a)));
        }
        if prev == Some(s.tier) {
            return Err(format!("segment {}–{} has the same tier as the previous one: merge them", s.start, s.end));
        }
        prev = Some(s.tier);
        cursor = b;
    }
    if cursor != DAY_MINUTES {
        return Err(format!("{}–24:00 is not covered by any segment", fmt_min(cursor)));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TouFile {
    schedule: Vec<TouSchedule>,
}

/// Parses and validates one schedule file (`[[schedule]]` entries).
pub fn parse_schedules(file: &str, text: &str) -> Result<Vec<TouSchedule>, ReferenceError> {
    let f: TouFile =
        toml::from_str(text).map_err(|e| ReferenceError::Toml { file: file.to_string(), message: e.to_string() })?;
    for s in &f.schedule {
        s.validate(file)?;
    }
    Ok(f.schedule)
}

/// Across a set: ids unique, and schedules of the same province and customer class do not overlap
/// in validity.
pub(crate) fn check_no_overlap(set: &str, schedules: &[TouSchedule]) -> Result<(), ReferenceError> {
    let file = format!("set {set}");
    for (i, a) in schedules.iter().enumerate() {
        for b in &schedules[i + 1..] {
            if a.id == b.id {
                return Err(invalid(&file, format!("schedule id `{}` appears twice", a.id)));
            }
            let overlap = a.valid_to.as_deref().is_none_or(|to| b.valid_from.as_str() <= to)
                && b.valid_to.as_deref().is_none_or(|to| a.valid_from.as_str() <= to);
            if a.region_code == b.region_code && a.customer_class == b.customer_class && overlap {
                return Err(invalid(&file, format!("schedules `{}` and `{}` overlap in validity", a.id, b.id)));
            }
        }
    }
    Ok(())
}

/// The schedule in force for `region_code` (any GB/T 2260 code; its province is
/// `code / 10000 * 10000`) on the local date of `ts_ms`. Among several (customer classes), the one
/// with the latest `valid_from`, first listed on ties.
pub fn schedule_for(refs: &ReferenceSet, region_code: u32, ts_ms: i64) -> Option<&TouSchedule> {
    let province = region_code / 10_000 * 10_000;
    let date = local_date(ts_ms);
    refs.tou.iter().filter(|s| s.region_code == province && s.valid_on(&date)).fold(None, |best, s| match best {
        Some(b) if b.valid_from >= s.valid_from => Some(b),
        _ => Some(s),
    })
}

/// The result of comparing computed tier energy with a meter's tariff registers (分时电量核对).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Energy per tier computed from the schedule (micro-units), as given.
    pub computed: [i64; 5],
    /// Energy per tier from the meter's registers (micro-units), as given.
    pub reported: [i64; 5],
    /// Per tier, (computed − reported) in basis points of the larger total, rounded half to even.
    /// When deep valley is folded into valley (see [`reconcile`]) the valley entry compares the
    /// sum and the deep-valley entry is 0.
    pub diff_bp: [i64; 5],
    /// Whether any tier differs by more than the tolerance.
    pub mismatch: bool,
    /// On mismatch, the tiers that differ and by how much.
    pub reason: Option<String>,
}

/// Compares computed tier energy with the meter's tariff registers (DL/T 645 费率1..4 = 尖/峰/平/谷,
/// i.e. tiers 0..=3; `reported[4]` is a deep-valley register where the meter has one).
///
/// The total is the larger of the two sums (absolute). A tier mismatches when
/// `|computed − reported| × 10 000 > tolerance_bp × total`, compared exactly in integers.
/// When `reported[4]` is 0 but `computed[4]` is not, the meter has no deep-valley register and
/// computed deep valley is compared with the valley register.
pub fn reconcile(computed: &[i64; 5], reported: &[i64; 5], tolerance_bp: u32) -> Reconciliation {
    let mut c = computed.map(i128::from);
    let r = reported.map(i128::from);
    let folded = reported[4] == 0 && computed[4] != 0;
    if folded {
        c[3] += c[4];
        c[4] = 0;
    }
    let total = c.iter().sum::<i128>().abs().max(r.iter().sum::<i128>().abs()).max(1);
    let mut diff_bp = [0i64; 5];
    let mut bad = Vec::new();
    for t in Tier::ALL {
        let i = t.index();
        let d = c[i] - r[i];
        diff_bp[i] = div_round_half_even(d * 10_000, total).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if d.abs() * 10_000 > i128::from(tolerance_bp) * total {
            bad.push(t);
        }
    }
    let reason = (!bad.is_empty()).then(|| {
        let mut s = format!("tier(s) differ by more than {tolerance_bp} bp of the total:");
        for (n, t) in bad.iter().enumerate() {
            let i = t.index();
            let sep = if n == 0 { " " } else { "; " };
            let _ = write!(
                s,
                "{sep}{} ({}) {:+} bp (computed {}, reported {})",
                t.as_str(),
                t.chinese_name(),
                diff_bp[i],
                c[i],
                r[i]
            );
        }
        if folded {
            s.push_str("; deep valley (深谷) folded into valley (低谷): the meter reports no deep-valley register");
        }
        s
    });
    Reconciliation { computed: *computed, reported: *reported, diff_bp, mismatch: reason.is_some(), reason }
}

/// The UTC timestamp (ms) of the Asia/Shanghai midnight that starts local date `date`
/// (`YYYY-MM-DD`), i.e. 16:00 UTC the day before. Helper for callers that walk days.
pub fn local_midnight_ms(date: &str) -> Option<i64> {
    let (y, m, d) = parse_date(date)?;
    days_from_civil(y, m, d).checked_mul(86_400_000)?.checked_sub(SHANGHAI_OFFSET_MS)
}
