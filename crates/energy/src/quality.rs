//! Data-quality indices (数据质量指标) of the online-monitoring system, per enterprise (用能单位)
//! and, by summing counts, per region.
//!
//! Rules of the provincial platforms:
//!
//! - **Completeness** (数据完整率): uploaded / required collection points ≥ 90 %
//!   ([`COMPLETENESS_MIN_BP`]); e.g. an hourly item needs 24 points a day.
//! - **Consistency** (一致性): the sum of daily data vs the monthly report (月报) deviates by at
//!   most 5 % ([`DEVIATION_MAX_BP`]).
//! - **Accuracy** (准确性): meters in valid verification/calibration (检定/校准) over all meters.
//! - **Timeliness** (及时性): points uploaded on time over points received.
//!
//! # Rounding
//!
//! Indices are integer basis points (bp, 1/100 of a percent; 10 000 bp = 100 %), rounded in the
//! direction that never flatters the data: a "good" ratio (completeness, timeliness, accuracy,
//! composite) is rounded **down** (floor), the deviation (a "bad" ratio) is rounded **up** (ceil).
//! So the pass/fail flags are exact, and agree with the printed bp: `completeness_ok ⇔
//! completeness_bp ≥ 9 000 ⇔ received/expected ≥ 90 %` and `deviation_ok ⇔ deviation_bp ≤ 500 ⇔
//! |daily − monthly| / |monthly| ≤ 5 %` (round-half rules would let 89.996 % print as 9 000 bp and
//! still fail, or pass).
//!
//! # Composite
//!
//! `composite_bp` is the floor of the weighted mean: 40 % completeness, 20 % timeliness, 20 %
//! accuracy, 20 % consistency (`10 000 − min(deviation_bp, 10 000)`); when the deviation is unknown
//! the same weights without consistency, renormalised: 50 % / 25 % / 25 %.

/// Minimum completeness, in basis points: at least 90 % of the required collection points.
pub const COMPLETENESS_MIN_BP: u32 = 9_000;
/// Maximum deviation of the daily totals from the monthly report, in basis points: 5 %.
pub const DEVIATION_MAX_BP: u32 = 500;

/// Basis points in one (100 %).
const FULL_BP: u128 = 10_000;

/// The number of slots of the nominal collection grid in `[from_ms, to_ms)`.
///
/// The grid is the multiples of `nominal_interval_ms` counted from 1970-01-01T00:00 Asia/Shanghai;
/// for every interval that divides a day (15 min, 30 min, 1 h) that is the local-midnight grid of
/// the gateway. 0 if `from_ms >= to_ms` or `nominal_interval_ms <= 0`. A day has 96 slots at 15 min.
pub fn expected_points(nominal_interval_ms: i64, from_ms: i64, to_ms: i64) -> u64 {
    if nominal_interval_ms <= 0 || from_ms >= to_ms {
        return 0;
    }
    let n = i128::from(nominal_interval_ms);
    let off = i128::from(crate::calendar::SHANGHAI_OFFSET_MS);
    // Slots k·n (local) with from ≤ k·n < to: ceil(to/n) − ceil(from/n).
    let ceil = |t: i64| -> i128 { -(-(i128::from(t) + off)).div_euclid(n) };
    (ceil(to_ms) - ceil(from_ms)) as u64
}

/// The counts behind the quality indices of an enterprise, or of a region (their sum, see [`Add`]).
///
/// [`Add`]: std::ops::Add
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct QualityCounts {
    /// Collection points required in the period (应采点数), e.g. from [`expected_points`].
    pub expected_points: u64,
    /// Distinct collection points received (实采点数). Counts above `expected_points` are capped
    /// (see [`QualityCounts::normalized`]): extra points never make up for missing ones.
    pub received_points: u64,
    /// Received points that were uploaded on time (及时上传). Capped at the (capped) received points.
    pub on_time_points: u64,
    /// Meters (计量器具) in use.
    pub meters: u32,
    /// Meters with a valid verification or calibration (检定/校准在有效期内). Capped at `meters`.
    pub meters_in_calibration: u32,
    /// Sum of the daily data over the month (micro-units), if known.
    pub daily_sum: Option<i64>,
    /// The monthly report (月报) value (micro-units), if known.
    pub monthly_report: Option<i64>,
}

impl QualityCounts {
    /// The counts with their caps applied: `received_points ≤ expected_points`, `on_time_points ≤
    /// received_points` (after its cap), `meters_in_calibration ≤ meters`. [`index`] and the sum use
    /// these, so an enterprise's surplus never offsets another's shortfall in a region.
    pub fn normalized(&self) -> QualityCounts {
        let received_points = self.received_points.min(self.expected_points);
        QualityCounts {
            received_points,
            on_time_points: self.on_time_points.min(received_points),
            meters_in_calibration: self.meters_in_calibration.min(self.meters),
            ..*self
        }
    }
}

/// Quality indices of an enterprise or region, in basis points (10 000 = 100 %).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct QualityIndex {
    /// Completeness (完整率): received (capped) / expected, floored. 10 000 when nothing is expected.
    pub completeness_bp: u32,
    /// Completeness meets the ≥ 90 % rule ([`COMPLETENESS_MIN_BP`]).
    pub completeness_ok: bool,
    /// Timeliness (及时率): on-time / received (both capped), floored. 10 000 when nothing was
    /// received (completeness then says it).
    pub timeliness_bp: u32,
    /// Accuracy (准确性): meters in calibration (capped) / meters, floored. 10 000 with no meters.
    pub accuracy_bp: u32,
    /// Deviation of the daily sum from the monthly report, |daily − monthly| / |monthly|, ceiled
    /// (saturating at `u32::MAX`; `u32::MAX` when the report is 0 and the daily sum is not). `None`
    /// unless both are known.
    pub deviation_bp: Option<u32>,
    /// The deviation meets the ≤ 5 % rule ([`DEVIATION_MAX_BP`]). `None` unless both are known.
    pub deviation_ok: Option<bool>,
    /// Weighted mean of the indices (see the module doc), floored.
    pub composite_bp: u32,
}

/// `num / den` in basis points, floored (`num <= den`); 10 000 when `den` is 0.
fn ratio_bp(num: u64, den: u64) -> u32 {
    if den == 0 {
        return FULL_BP as u32;
    }
    (u128::from(num.min(den)) * FULL_BP / u128::from(den)) as u32
}

/// The deviation in basis points, ceiled and saturating.
fn deviation_bp(daily: i64, monthly: i64) -> u32 {
    let diff = (i128::from(daily) - i128::from(monthly)).unsigned_abs();
    let den = i128::from(monthly).unsigned_abs();
    if den == 0 {
        return if diff == 0 { 0 } else { u32::MAX };
    }
    // diff < 2^64 and FULL_BP < 2^14: no overflow.
    let bp = (diff * FULL_BP).div_ceil(den);
    u32::try_from(bp).unwrap_or(u32::MAX)
}

/// Computes the quality indices from counts (see the module doc for the rules and rounding).
pub fn index(c: &QualityCounts) -> QualityIndex {
    let c = &c.normalized();
    let completeness_bp = ratio_bp(c.received_points, c.expected_points);
    let timeliness_bp = ratio_bp(c.on_time_points, c.received_points);
    let accuracy_bp = ratio_bp(u64::from(c.meters_in_calibration), u64::from(c.meters));
    let deviation = match (c.daily_sum, c.monthly_report) {
        (Some(d), Some(m)) => Some(deviation_bp(d, m)),
        _ => None,
    };
    let base = 40 * u64::from(completeness_bp) + 20 * u64::from(timeliness_bp) + 20 * u64::from(accuracy_bp);
    let composite_bp = match deviation {
        Some(dev) => (base + 20 * (10_000 - u64::from(dev.min(10_000)))) / 100,
        None => base / 80,
    } as u32;
    QualityIndex {
        completeness_bp,
        completeness_ok: completeness_bp >= COMPLETENESS_MIN_BP,
        timeliness_bp,
        accuracy_bp,
        deviation_bp: deviation,
        deviation_ok: deviation.map(|d| d <= DEVIATION_MAX_BP),
        composite_bp,
    }
}

/// Sums counts, e.g. the enterprises of a region (区域汇总). Point and meter counts add after each
/// operand is [normalized](QualityCounts::normalized), saturating. The consistency pair adds over the operands that have **both** `daily_sum` and
/// `monthly_report` (an operand with only one of them contributes neither), so the region's daily
/// sum and monthly report always cover the same enterprises; the result has both (`Some`) if any
/// operand had both, else neither. Amounts add saturating at the `i64` bounds. Short of saturation
/// the operation is associative and commutative, with `QualityCounts::default()` as the zero, and
/// `index(&(c + QualityCounts::default())) == index(&c)`.
impl std::ops::Add for QualityCounts {
    type Output = QualityCounts;

    fn add(self, rhs: QualityCounts) -> QualityCounts {
        let (a, b) = (self.normalized(), rhs.normalized());
        let pair = |c: &QualityCounts| c.daily_sum.zip(c.monthly_report);
        let (daily_sum, monthly_report) = match (pair(&a), pair(&b)) {
            (Some((d1, m1)), Some((d2, m2))) => (Some(d1.saturating_add(d2)), Some(m1.saturating_add(m2))),
            (Some((d, m)), None) | (None, Some((d, m))) => (Some(d), Some(m)),
            (None, None) => (None, None),
        };
        QualityCounts {
            expected_points: a.expected_points.saturating_add(b.expected_points),
            received_points: a.received_points.saturating_add(b.received_points),
            on_time_points: a.on_time_points.saturating_add(b.on_time_points),
            meters: a.meters.saturating_add(b.meters),
            meters_in_calibration: a.meters_in_calibration.saturating_add(b.meters_in_calibration),
            daily_sum,
            monthly_report,
        }
    }
}

/// Sums counts with [`Add`](std::ops::Add), starting from `QualityCounts::default()`.
impl std::iter::Sum for QualityCounts {
    fn sum<I: Iterator<Item = QualityCounts>>(iter: I) -> QualityCounts {
        iter.fold(QualityCounts::default(), |a, b| a + b)
    }
}
