//! The alarm engine (告警): derived data, never consensus.
//!
//! Every node evaluates its alarms on its own **finalized** state (and, for series, on the readings
//! its index holds); nothing here feeds back into blocks, and two nodes may briefly disagree while
//! one of them is a block behind. One pass runs at most every [`AlarmConfig::interval_ms`] (default
//! [`DEFAULT_INTERVAL_MS`]) and only when the finalized height moved (chain time only advances with
//! blocks). A pass compares the alarms it finds with the active set and publishes one `raised`
//! event per new alarm and one `cleared` event per alarm whose condition ended, each with a
//! increasing id, on a bounded broadcast channel ([`EVENT_CHANNEL_CAPACITY`]) that
//! `GET /v1/alarms/stream` serves as server-sent events. The last [`RESUME_EVENTS`] events are
//! kept, so a client that reconnects with `Last-Event-ID` gets exactly the events it missed;
//! ids start at the process's start time in microseconds, so they keep increasing across restarts
//! and an id from before a restart (or too old) gets a fresh snapshot instead. An alarm that stays active keeps its key
//! and `raised_at_ms`; its message and figures follow the latest pass (an expiring certificate's
//! days left) without an event.
//!
//! # Kinds (stable codes)
//!
//! | code | severity | subject | rule |
//! |---|---|---|---|
//! | `calibration_missing` | critical | meter | a meter that is not revoked has no calibration certificate |
//! | `calibration_expired` | critical | meter | its certificate's validity ended at or before the chain's time |
//! | `calibration_expiring` | warning | meter | it ends within the chain's `calibration_warning_ms` |
//! | `missing_data` | warning | meter | an active meter that has reported before has no reading for more than [`MISSING_DATA_INTERVALS`] × the chain's `nominal_interval_ms` behind the chain's time |
//! | `over_use` | warning | org or meter | consumption in the current or the previous hour/day exceeds a configured [`Threshold`] |
//! | `anomaly` | warning | meter | the last completed hour lies outside the meter's baseline for that hour of the week (see below) |
//! | `audit_flags` | warning | org | today's readings of one energy kind carry audit-policy findings more often than [`AuditFlagsConfig::max_share_pct`] (from the chain's daily figures) |
//! | `compliance_due` | warning | org | a deadline of the compliance calendar (履约日历) is within [`ComplianceConfig::warn_days`] days or past, and not met: a month's evidence deposit (40 days after the month, for a month with carbon results), last year's annual report (31 March, for a year with results), its verification (30 June, once the report is filed), a regulator's decision on an objection (10 working days), the surrender of its final verified emissions (31 December) |
//! | `quota_forecast` | warning | org | this year's forecast emissions exceed the quota (the government's allocation, else the enterprise's own reference) |
//!
//! "Now" is always the latest finalized block's timestamp, never the node's clock, so every node
//! that reached the same height finds the same alarms.
//!
//! # Series
//!
//! Hourly consumption of a meter is derived from the register readings in the index with
//! [`trustmeter_energy::register::intervals`] (rollover, replacements, negative deltas excluded)
//! and [`trustmeter_energy::register::allocate`] by hour (Asia/Shanghai), reading at most
//! [`MAX_POINTS_PER_READ`] points around the window ([`LOOKBACK_MS`] either side). An hour counts as
//! *complete* only when readings exist at or before its start and at or after its end and no
//! excluded interval touches it.
//!
//! - **Over-use**: a meter threshold reads its meter's series; an organisation threshold by day
//!   uses the chain's own daily figures (`DailyTotal::consumption`, the figures regulators see); an
//!   organisation threshold by hour sums the series of the organisation's meters of that energy
//!   kind (tariff registers excluded, they are part of a total; at most
//!   [`MAX_METERS_PER_ORG_THRESHOLD`] meters). The current period counts what has been recorded so
//!   far; the previous period is kept so an over-use near the end of a period stays visible for
//!   one more period. The alarm clears when neither period exceeds the limit.
//! - **Anomaly**: for a meter's last completed hour `H`, the baseline is the same hour of the week
//!   in each of the previous [`AnomalyConfig::weeks`] weeks (`H − 1 week`, `H − 2 weeks`, …), using
//!   only complete hours. With fewer than [`MIN_BASELINE_WEEKS`] complete weeks there is no alarm.
//!   Otherwise with `m` the median and `MAD` the median absolute deviation of the baseline, the
//!   hour is an anomaly when it lies outside `m ± max(k·MAD, x % · |m|, floor)`, with
//!   `k` = [`AnomalyConfig::mad_factor`] (default 3: for normally distributed load about 2σ,
//!   since σ ≈ 1.4826·MAD), `x` = [`AnomalyConfig::min_deviation_pct`] (default 50 %: a steady
//!   load whose MAD is near zero is not flagged for ordinary variation) and `floor` =
//!   [`AnomalyConfig::min_deviation`] units (default 1: a meter that is idle at that hour is not
//!   flagged for a trickle). The alarm concerns hour `H` and clears once the next hour completes
//!   within its band.
//!
//! # Bounded work
//!
//! A pass reads at most [`MAX_SERIES_READS_PER_PASS`] series windows from the index. Thresholds
//! and meters are served round robin; whatever did not fit keeps its previous result until a later
//! pass reaches it. An anomaly verdict is computed once per meter and completed hour. The meter
//! rules (calibration, missing data) are incremental ([`meter_watch`]): a pass looks at the meters
//! the blocks since the last pass touched and at those whose alarm changes by time alone then, not
//! at every meter (only the first pass, or one after the feed of touched meters overflowed, walks
//! them all). Organisation days cost one walk over the organisations. At most
//! [`MAX_ACTIVE_ALARMS`] alarms are kept (most severe first); the rest are counted as `dropped`.

pub mod meter_watch;

use meter_watch::{MeterWatch, TouchedFeed};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use trustmeter_energy::calendar::{self, Period};
use trustmeter_energy::register::{self, RegisterPoint, Replacement};
use trustmeter_index::Index;
use trustmeter_state::accounting::{amount_unit, register_spec};
use trustmeter_state::{MeterProgress, State};
use trustmeter_types::{DeviceId, DeviceStatus, EnergyKind, Meter, OrgKind, Quantity, UnifiedSocialCreditCode, Unit};
use utoipa::ToSchema;

/// Default time between two passes of the engine, in milliseconds.
pub const DEFAULT_INTERVAL_MS: u64 = 1_000;
/// Shortest allowed time between two passes, in milliseconds.
pub const MIN_INTERVAL_MS: u64 = 100;
/// Longest allowed time between two passes (10 minutes), in milliseconds.
pub const MAX_INTERVAL_MS: u64 = 600_000;
/// Most over-use thresholds in a node config.
pub const MAX_THRESHOLDS: usize = 256;
/// Most alarms kept active at once; beyond it the least severe are dropped and counted.
pub const MAX_ACTIVE_ALARMS: usize = 10_000;
/// Events the broadcast channel holds for its slowest subscriber; a client further behind gets a
/// `lagged` event and misses those events (it should fetch `GET /v1/alarms` again).
pub const EVENT_CHANNEL_CAPACITY: usize = 1_024;
/// Events kept for clients that reconnect with `Last-Event-ID` (or fall behind the broadcast
/// channel); a client that missed more gets the active set (a `snapshot`) or a `lagged` event.
pub const RESUME_EVENTS: usize = 4 * EVENT_CHANNEL_CAPACITY;
/// Most concurrent `GET /v1/alarms/stream` clients per node; more get HTTP 503.
pub const MAX_STREAM_CLIENTS: usize = 256;
/// Interval of SSE keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long `GET /v1/alarms` waits for the engine to evaluate the finalized height it saw.
pub const FRESHNESS_WAIT: Duration = Duration::from_secs(5);
/// Most series windows (one meter, one time range) one pass reads from the index.
pub const MAX_SERIES_READS_PER_PASS: usize = 2_000;
/// Most meters an hourly organisation threshold sums (in id order).
pub const MAX_METERS_PER_ORG_THRESHOLD: usize = 1_000;
/// Most register points read for one series window.
pub const MAX_POINTS_PER_READ: usize = 8_192;
/// How far before and after a window readings are read, so that the intervals crossing its
/// edges are known (3 hours).
pub const LOOKBACK_MS: i64 = 3 * HOUR_MS;
/// A meter is missing data after this many nominal collection intervals without a reading.
pub const MISSING_DATA_INTERVALS: i64 = 2;
/// Fewest complete weeks of history the anomaly rule needs.
pub const MIN_BASELINE_WEEKS: u32 = 3;
/// Most weeks of history the anomaly rule may look at.
pub const MAX_BASELINE_WEEKS: u32 = 12;

const HOUR_MS: i64 = calendar::HOUR_MS;
const DAY_MS: i64 = calendar::DAY_MS;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Offset of Asia/Shanghai from UTC (China keeps no daylight saving time).
const CHINA_OFFSET_SECS: i32 = 8 * 3_600;

// ---------------------------------------------------------------------------------------------
// Configuration

/// `[alarms]` in the node config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// Time between two passes of the engine, in milliseconds ([`MIN_INTERVAL_MS`] to
    /// [`MAX_INTERVAL_MS`]).
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Over-use thresholds (`[[alarms.thresholds]]`); none by default.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// The anomaly rule (`[alarms.anomaly]`).
    #[serde(default)]
    pub anomaly: AnomalyConfig,
    /// The audit-findings rule (`[alarms.audit_flags]`).
    #[serde(default)]
    pub audit_flags: AuditFlagsConfig,
    /// The compliance calendar and quota forecast (`[alarms.compliance]`).
    #[serde(default)]
    pub compliance: ComplianceConfig,
}

/// `[alarms.compliance]`: deadlines of the compliance calendar and the quota forecast. Evaluated
/// at most once per [`COMPLIANCE_EVERY_MS`] of chain time (and when the chain's day changes):
/// a walk over the enterprises with about ten state reads each, plus the forecast's 24 month
/// records for an enterprise that has a quota.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfig {
    /// Whether the rule runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Days before a deadline the alarm is raised.
    #[serde(default = "default_warn_days")]
    pub warn_days: u32,
}

fn default_warn_days() -> u32 {
    14
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        Self { enabled: true, warn_days: default_warn_days() }
    }
}

/// How often (chain time) the compliance alarms are evaluated again.
pub const COMPLIANCE_EVERY_MS: i64 = 60_000;

fn default_interval_ms() -> u64 {
    DEFAULT_INTERVAL_MS
}

impl Default for AlarmConfig {
    fn default() -> Self {
        Self {
            interval_ms: DEFAULT_INTERVAL_MS,
            thresholds: Vec::new(),
            anomaly: AnomalyConfig::default(),
            audit_flags: AuditFlagsConfig::default(),
            compliance: ComplianceConfig::default(),
        }
    }
}

/// The period an over-use threshold applies to (Asia/Shanghai clock hours and days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdPeriod {
    /// A clock hour.
    Hour,
    /// A day, 00:00 to 00:00.
    Day,
}

impl ThresholdPeriod {
    fn period(self) -> Period {
        match self {
            ThresholdPeriod::Hour => Period::Hour,
            ThresholdPeriod::Day => Period::Day,
        }
    }
    fn name(self) -> &'static str {
        match self {
            ThresholdPeriod::Hour => "hour",
            ThresholdPeriod::Day => "day",
        }
    }
}

/// `[[alarms.thresholds]]`: an over-use limit for one organisation or one meter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The organisation (unified social credit code); give either `org` or `meter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<UnifiedSocialCreditCode>,
    /// The meter; give either `org` or `meter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<DeviceId>,
    /// Energy kind (`electricity`, `natural_gas`, …).
    pub energy: EnergyKind,
    /// `hour` or `day`.
    pub period: ThresholdPeriod,
    /// The most consumption allowed per period, in `unit` (or in each unit the figures come in).
    pub limit: f64,
    /// The amount unit the limit is in, by symbol (`kWh`, `Nm3`, `t`, …); by default the limit
    /// applies to each unit the energy kind is recorded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Threshold {
    fn unit(&self) -> Option<Unit> {
        self.unit.as_deref().and_then(parse_unit)
    }
    fn limit_micros(&self) -> i64 {
        Quantity::from_f64_round(self.limit).map(Quantity::micros).unwrap_or(i64::MAX)
    }
    fn subject(&self) -> String {
        match (&self.org, &self.meter) {
            (_, Some(m)) => m.to_string(),
            (Some(o), None) => o.to_string(),
            (None, None) => String::new(),
        }
    }
}

fn parse_unit(s: &str) -> Option<Unit> {
    Unit::from_symbol(s).or_else(|| serde_json::from_value(serde_json::Value::String(s.to_string())).ok())
}

/// `[alarms.anomaly]`: the seasonal-baseline rule (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Whether the rule runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Weeks of history the baseline looks at ([`MIN_BASELINE_WEEKS`] to [`MAX_BASELINE_WEEKS`]).
    #[serde(default = "default_weeks")]
    pub weeks: u32,
    /// `k`: the band is at least `k` median absolute deviations wide on each side.
    #[serde(default = "default_mad_factor")]
    pub mad_factor: f64,
    /// `x`: the band is at least this percentage of the median wide on each side.
    #[serde(default = "default_min_deviation_pct")]
    pub min_deviation_pct: f64,
    /// The band is at least this many units (of the meter's amount unit) wide on each side.
    #[serde(default = "default_min_deviation")]
    pub min_deviation: f64,
}

fn default_true() -> bool {
    true
}
fn default_weeks() -> u32 {
    4
}
fn default_mad_factor() -> f64 {
    3.0
}
fn default_min_deviation_pct() -> f64 {
    50.0
}
fn default_min_deviation() -> f64 {
    1.0
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            weeks: default_weeks(),
            mad_factor: default_mad_factor(),
            min_deviation_pct: default_min_deviation_pct(),
            min_deviation: default_min_deviation(),
        }
    }
}

/// `[alarms.audit_flags]`: an enterprise whose readings today often carry findings of the audit
/// policy (数据审核异常), from the chain's daily figures (`DailyTotal::flagged` of
/// `DailyTotal::points`), per energy kind and unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFlagsConfig {
    /// Whether the rule runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The alarm is raised when more than this percentage of the day's readings are flagged.
    #[serde(default = "default_max_share_pct")]
    pub max_share_pct: f64,
    /// Fewest readings in the day before the share is judged (a handful of readings early in the
    /// day is not a trend).
    #[serde(default = "default_min_readings")]
    pub min_readings: u32,
}

fn default_max_share_pct() -> f64 {
    5.0
}
fn default_min_readings() -> u32 {
    20
}

impl Default for AuditFlagsConfig {
    fn default() -> Self {
        Self { enabled: true, max_share_pct: default_max_share_pct(), min_readings: default_min_readings() }
    }
}

impl AlarmConfig {
    /// Checks the section; the error says which entry is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&self.interval_ms) {
            return Err(format!(
                "[alarms] interval_ms = {} must lie between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS}",
                self.interval_ms
            ));
        }
        if self.thresholds.len() > MAX_THRESHOLDS {
            return Err(format!(
                "[alarms] has {} thresholds; at most {MAX_THRESHOLDS} are allowed (use organisation thresholds instead of one per meter)",
                self.thresholds.len()
            ));
        }
        for (i, t) in self.thresholds.iter().enumerate() {
            let at = format!("[[alarms.thresholds]] entry {} ({:?}, {})", i + 1, t.energy, t.period.name());
            match (&t.org, &t.meter) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(format!("{at}: give exactly one of `org` or `meter`"));
                }
                _ => {}
            }
            if !(t.limit.is_finite() && t.limit > 0.0 && Quantity::from_f64_round(t.limit).is_some()) {
                return Err(format!("{at}: limit {} must be a positive number", t.limit));
            }
            if let Some(u) = &t.unit {
                match parse_unit(u) {
                    None => {
                        return Err(format!(
                            "{at}: unit {u:?} is not a known unit symbol (kWh, MWh, m3, Nm3, t, kg, GJ, MJ, L)"
                        ));
                    }
                    Some(unit) if unit.is_rate() => {
                        return Err(format!(
                            "{at}: unit {u:?} is a rate; give the amount it adds up to ({})",
                            amount_unit(unit).symbol()
                        ));
                    }
                    Some(unit) if !t.energy.allowed_units().iter().any(|a| amount_unit(*a) == unit) => {
                        return Err(format!("{at}: {:?} is never recorded in {u}", t.energy));
                    }
                    Some(_) => {}
                }
            }
        }
        let a = &self.anomaly;
        if !(MIN_BASELINE_WEEKS..=MAX_BASELINE_WEEKS).contains(&a.weeks) {
            return Err(format!(
                "[alarms.anomaly] weeks = {} must lie between {MIN_BASELINE_WEEKS} and {MAX_BASELINE_WEEKS}",
                a.weeks
            ));
        }
        for (name, v) in [
            ("mad_factor", a.mad_factor),
            ("min_deviation_pct", a.min_deviation_pct),
            ("min_deviation", a.min_deviation),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("[alarms.anomaly] {name} = {v} must be a number ≥ 0"));
            }
        }
        let f = &self.audit_flags;
        if !(f.max_share_pct.is_finite() && (0.0..100.0).contains(&f.max_share_pct)) {
            return Err(format!(
                "[alarms.audit_flags] max_share_pct = {} must be a percentage ≥ 0 and < 100",
                f.max_share_pct
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Alarms and events

/// What an alarm is about: its stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// The meter has no calibration certificate: its readings are refused.
    CalibrationMissing,
    /// The meter's certificate has expired (valid until ≤ block time): its readings are refused.
    CalibrationExpired,
    /// The meter's certificate expires within the chain's warning window
    /// (`genesis.params.calibration_warning_ms`).
    CalibrationExpiring,
    /// An active meter has sent no reading for more than twice the nominal collection interval.
    MissingData,
    /// Consumption in an hour or a day exceeds a configured threshold.
    OverUse,
    /// The last completed hour is outside the meter's baseline for that hour of the week.
    Anomaly,
    /// Too many of an enterprise's readings today carry audit-policy findings.
    AuditFlags,
    /// A deadline of the compliance calendar is near or past and not met.
    ComplianceDue,
    /// This year's forecast emissions exceed the quota.
    QuotaForecast,
}

impl AlarmKind {
    /// The stable code, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::CalibrationMissing => "calibration_missing",
            AlarmKind::CalibrationExpired => "calibration_expired",
            AlarmKind::CalibrationExpiring => "calibration_expiring",
            AlarmKind::MissingData => "missing_data",
            AlarmKind::OverUse => "over_use",
            AlarmKind::Anomaly => "anomaly",
            AlarmKind::AuditFlags => "audit_flags",
            AlarmKind::ComplianceDue => "compliance_due",
            AlarmKind::QuotaForecast => "quota_forecast",
        }
    }
}

/// How urgent an alarm is. Sorted most urgent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Readings are being refused now.
    Critical,
    /// Action needed soon.
    Warning,
}

/// One active alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlarmView {
    /// What the alarm is about (its stable code).
    pub kind: AlarmKind,
    /// `critical` or `warning`.
    pub severity: Severity,
    /// Identifies the alarm while it is active, e.g. `missing_data/<meter>` or
    /// `over_use/<org>/electricity/kWh/day/<period start ms>`; a `cleared` event names the same key.
    pub key: String,
    /// The meter, for meter alarms; absent (null) for an organisation's over-use.
    pub meter: Option<String>,
    /// The enterprise concerned (unified social credit code).
    pub owner: String,
    /// The enterprise's administrative region (GB/T 2260 行政区划代码) as the chain records it
    /// (0 if it has no record of the enterprise): what a regional feed filters on.
    #[serde(default)]
    pub region: u32,
    /// The current certificate's number, for calibration alarms of a meter that has one.
    pub certificate_no: Option<String>,
    /// End of the current certificate's validity (Unix ms, exclusive), for calibration alarms.
    pub valid_until_ms: Option<i64>,
    /// What is wrong and what to do, in a sentence.
    pub message: String,
    /// Chain time (block timestamp, Unix ms) of the pass that first raised it.
    pub raised_at_ms: i64,
    /// Finalized height of that pass.
    pub raised_height: u64,
    /// Figures behind the alarm (over-use: value, limit, unit, period; anomaly: value, median,
    /// MAD, band; missing data: last reading time), when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = detail_schema)]
    pub detail: Option<serde_json::Value>,
}

/// The OpenAPI schema of [`AlarmView::detail`]: a flat object of named figures, which names
/// depending on the alarm's kind, each a text, a number, a boolean or null.
fn detail_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let scalar = SchemaType::from_iter([Type::String, Type::Number, Type::Boolean, Type::Null]);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(scalar)))
        .description(Some(
            "Figures behind the alarm by name (over-use: value, limit, unit, period; anomaly: value, median, MAD, band; missing data: last reading time); each a text, a number, a boolean or null.",
        ))
        .build()
}

impl AlarmView {
    fn order(&self) -> (Severity, Option<i64>, AlarmKind, &str, &str) {
        (self.severity, self.valid_until_ms, self.kind, &self.owner, &self.key)
    }
}

/// The active alarms of a node.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlarmsView {
    /// The finalized height the alarms were last evaluated at (0 before the first pass).
    pub height: u64,
    /// That block's timestamp (Unix ms): "now" for every alarm.
    pub block_time_ms: i64,
    /// The chain's warning window for expiring certificates (ms).
    pub calibration_warning_ms: i64,
    /// Alarms found but not kept because more than `MAX_ACTIVE_ALARMS` were active.
    pub dropped: u64,
    /// The alarms: critical before warning, then by certificate expiry (none first), kind,
    /// enterprise and key.
    pub alarms: Vec<AlarmView>,
}

/// Whether an alarm appeared or went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new alarm (a key that was not active).
    Raised,
    /// An alarm whose condition ended (its last known form).
    Cleared,
}

/// One event of the alarm feed (`GET /v1/alarms/stream`, SSE `data:` as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlarmEvent {
    /// Increasing, also across restarts of the node (also the SSE `id:`).
    pub id: u64,
    /// `raised` or `cleared` (also the SSE `event:`).
    pub event: EventKind,
    /// Finalized height of the pass that found it.
    pub height: u64,
    /// That block's timestamp (Unix ms).
    pub block_time_ms: i64,
    /// The alarm.
    pub alarm: AlarmView,
}

// ---------------------------------------------------------------------------------------------
// Rules on the state

/// "3 days", "1 day", "less than a day".
fn days_text(ms: i64) -> String {
    match ms / DAY_MS {
        0 => "less than a day".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// "40 min", "3 h 5 min", "2 days 4 h".
fn duration_text(ms: i64) -> String {
    let min = ms.max(0) / 60_000;
    match (min / 1_440, (min % 1_440) / 60, min % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (1, h, _) => format!("1 day {h} h"),
        (d, h, _) => format!("{d} days {h} h"),
    }
}

fn local(ts_ms: i64, fmt: &str) -> String {
    let offset = chrono::FixedOffset::east_opt(CHINA_OFFSET_SECS).expect("UTC+8 is a valid offset");
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|t| t.with_timezone(&offset).format(fmt).to_string())
        .unwrap_or_else(|| format!("{ts_ms} ms"))
}

/// `local(ts_ms, "%Y-%m-%d %H:%M:%S")` without parsing a format (it runs for every meter a pass
/// finds silent).
fn local_seconds(ts_ms: i64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let offset = chrono::FixedOffset::east_opt(CHINA_OFFSET_SECS).expect("UTC+8 is a valid offset");
    match chrono::DateTime::from_timestamp_millis(ts_ms).map(|t| t.with_timezone(&offset)) {
        Some(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        _ => local(ts_ms, "%Y-%m-%d %H:%M:%S"),
    }
}

/// The last day (Asia/Shanghai) a certificate valid until `valid_until_ms` (exclusive) covers.
fn last_valid_day(valid_until_ms: i64) -> String {
    local(valid_until_ms.saturating_sub(1), "%Y-%m-%d")
}

/// An exact decimal, trailing zeros trimmed: `12.5`, `100`.
fn amount(micros: i64) -> String {
    let q = Quantity::from_micros(micros).to_string();
    let t = q.trim_end_matches('0');
    t.strip_suffix('.').unwrap_or(t).to_string()
}

fn base(kind: AlarmKind, severity: Severity, key: String, owner: &UnifiedSocialCreditCode, state: &State) -> AlarmView {
    AlarmView {
        kind,
        severity,
        key,
        meter: None,
        owner: owner.to_string(),
        // Set for every alarm at once when a pass publishes (one lookup per enterprise).
        region: 0,
        certificate_no: None,
        valid_until_ms: None,
        message: String::new(),
        raised_at_ms: state.timestamp_ms,
        raised_height: state.height,
        detail: None,
    }
}

/// The calibration alarms of every meter that is not revoked (of `owner` only, if given), at
/// the state's block time, sorted critical first, then by expiry (missing first), then by meter.
pub fn calibration_alarms(state: &State, owner: Option<&UnifiedSocialCreditCode>) -> Vec<AlarmView> {
    let mut out: Vec<AlarmView> = state
        .meters()
        .filter(|m| owner.is_none_or(|o| &m.owner == o))
        .filter_map(|m| calibration_alarm(state, &m))
        .collect();
    sort_calibration(&mut out);
    out
}

/// Critical first, then by expiry (missing first), then by meter.
fn sort_calibration(alarms: &mut [AlarmView]) {
    alarms.sort_by(|a, b| (a.severity, a.valid_until_ms, &a.meter).cmp(&(b.severity, b.valid_until_ms, &b.meter)));
}

/// The calibration alarm of one meter at the state's block time, if any (none for a revoked one).
fn calibration_alarm(state: &State, m: &Meter) -> Option<AlarmView> {
    if m.status == DeviceStatus::Revoked {
        return None;
    }
    let now = state.timestamp_ms;
    let window = state.params.calibration_warning_ms;
    let alarm = |kind: AlarmKind, severity, message: String| AlarmView {
        meter: Some(m.id.to_string()),
        certificate_no: m.calibration.as_ref().map(|c| c.certificate_no.clone()),
        valid_until_ms: m.calibration.as_ref().map(|c| c.valid_until_ms),
        message,
        ..base(kind, severity, format!("{}/{}", kind.as_str(), m.id), &m.owner, state)
    };
    let Some(c) = &m.calibration else {
        return Some(alarm(
            AlarmKind::CalibrationMissing,
            Severity::Critical,
            format!(
                "meter {} ({}) has no calibration certificate, so its readings are refused; have the metrology authority record one",
                m.id, m.name
            ),
        ));
    };
    let left = c.valid_until_ms.saturating_sub(now);
    if left <= 0 {
        Some(alarm(
            AlarmKind::CalibrationExpired,
            Severity::Critical,
            format!(
                "calibration certificate {} of meter {} expired {} ago (last valid day {}), so its readings are refused; have the metrology authority record a new certificate",
                c.certificate_no,
                m.id,
                days_text(-left),
                last_valid_day(c.valid_until_ms)
            ),
        ))
    } else if left <= window {
        Some(alarm(
            AlarmKind::CalibrationExpiring,
            Severity::Warning,
            format!(
                "calibration certificate {} of meter {} expires in {} (last valid day {}); have the metrology authority record a new certificate before then",
                c.certificate_no,
                m.id,
                days_text(left),
                last_valid_day(c.valid_until_ms)
            ),
        ))
    } else {
        None
    }
}

/// `missing_data` for every active meter that has reported before and whose latest reading is
/// more than [`MISSING_DATA_INTERVALS`] nominal intervals behind the state's block time.
pub fn missing_data_alarms(state: &State) -> Vec<AlarmView> {
    let mut progress = state.progress_reader();
    state.meters().filter_map(|m| missing_data_alarm(state, &m, progress.get(&m).as_ref())).collect()
}

/// The `missing_data` alarm of one meter, given its progress, if it is active, has reported
/// before and its latest reading is more than [`MISSING_DATA_INTERVALS`] nominal intervals behind
/// the state's block time.
fn missing_data_alarm(state: &State, m: &Meter, progress: Option<&MeterProgress>) -> Option<AlarmView> {
    let nominal = state.params.accounting.nominal_interval_ms;
    if nominal <= 0 || m.status != DeviceStatus::Active {
        return None;
    }
    let limit = nominal.saturating_mul(MISSING_DATA_INTERVALS);
    let p = progress.filter(|p| p.accepted > 0)?;
    let silent = state.timestamp_ms.saturating_sub(p.last_timestamp_ms);
    (silent > limit).then(|| AlarmView {
        meter: Some(m.id.to_string()),
        message: format!(
            "meter {} ({}) has sent no reading since {} Asia/Shanghai, more than {MISSING_DATA_INTERVALS} × its {} collection interval; check the meter, gateway {} and the gateway's link to the chain",
            m.id,
            m.name,
            local_seconds(p.last_timestamp_ms),
            duration_text(nominal),
            m.gateway
        ),
        detail: Some(serde_json::json!({
            "last_timestamp_ms": p.last_timestamp_ms,
            "nominal_interval_ms": nominal,
        })),
        ..base(AlarmKind::MissingData, Severity::Warning, format!("missing_data/{}", m.id), &m.owner, state)
    })
}

/// The `audit_flags` alarms: per enterprise, energy kind and unit, today's (Asia/Shanghai, by
/// the chain's time) share of readings with audit-policy findings, from the consensus daily
/// figures. Costs one walk over the organisations and a range read of each one's day.
pub fn audit_flag_alarms(state: &State, cfg: &AuditFlagsConfig) -> Vec<AlarmView> {
    if !cfg.enabled {
        return Vec::new();
    }
    let today = calendar::day_number(state.timestamp_ms);
    let mut out = Vec::new();
    for org in state.organisations() {
        for (key, d) in state.daily_range(&org.id, today, today) {
            if d.points < cfg.min_readings.max(1) {
                continue;
            }
            let share = f64::from(d.flagged) * 100.0 / f64::from(d.points);
            if share <= cfg.max_share_pct {
                continue;
            }
            let energy = energy_name(key.energy);
            let unit = key.unit.symbol();
            out.push(AlarmView {
                message: format!(
                    "{} of {} {energy} readings ({unit}) of {} ({}) today carry audit-policy findings ({share:.1} %, more than {} %); see the flags in the readings' receipts and /v1/quality, and check the meters and the gateway's clock",
                    d.flagged,
                    d.points,
                    org.name,
                    org.id,
                    cfg.max_share_pct
                ),
                detail: Some(serde_json::json!({
                    "day": calendar::day_label(today),
                    "energy": energy,
                    "unit": unit,
                    "flagged": d.flagged,
                    "readings": d.points,
                    "share_pct": share,
                    "max_share_pct": cfg.max_share_pct,
                })),
                ..base(
                    AlarmKind::AuditFlags,
                    Severity::Warning,
                    format!("audit_flags/{}/{energy}/{unit}/{}", org.id, calendar::day_label(today)),
                    &org.id,
                    state,
                )
            });
        }
    }
    out
}

/// The `compliance_due` and `quota_forecast` alarms of every enterprise at the state's time (see
/// the module documentation).
pub fn compliance_alarms(state: &State, cfg: &ComplianceConfig) -> Vec<AlarmView> {
    use trustmeter_state::carbon::month_of;
    use trustmeter_state::compliance::report_due_day;
    use trustmeter_types::compliance::ReportPeriod;
    if !cfg.enabled {
        return Vec::new();
    }
    let today = calendar::day_number(state.timestamp_ms);
    let now = month_of(state.timestamp_ms);
    let (year, last) = (now / 100, now / 100 - 1);
    let warn = i64::from(cfg.warn_days);
    let day_of = |y: u32, m: u32, d: u32| calendar::parse_day(&format!("{y:04}-{m:02}-{d:02}")).unwrap_or(today);
    let mut out = Vec::new();
    for org in state.organisations().filter(|o| o.kind == OrgKind::Enterprise) {
        let mut due = |what: &str, period: String, day: i32, detail: &str| {
            let left = i64::from(day) - i64::from(today);
            if left > warn {
                return;
            }
            let when = if left >= 0 {
                format!("due in {left} days, on {}", calendar::day_label(day))
            } else {
                format!("{} days overdue since {}", -left, calendar::day_label(day))
            };
            out.push(AlarmView {
                message: format!("{} ({}): {what} {period} is {when}; {detail}", org.name, org.id),
                detail: Some(serde_json::json!({
                    "what": what, "period": period, "due": calendar::day_label(day), "days_left": left,
                })),
                ..base(
                    AlarmKind::ComplianceDue,
                    Severity::Warning,
                    format!("compliance_due/{}/{what}/{period}", org.id),
                    &org.id,
                    state,
                )
            });
        };
        // The deposits of the last three ended months that have carbon results.
        let mut m = now;
        for _ in 0..3 {
            m = if m % 100 == 1 { (m / 100 - 1) * 100 + 12 } else { m - 1 };
            let p = ReportPeriod::Month(m);
            if state.carbon_result(&org.id, m).is_some() && state.carbon_report(&org.id, p).is_none() {
                due("monthly_deposit", p.label(), report_due_day(p), "file it: trustmeter tx carbon-report --period …");
            }
        }
        // Last year's annual report, its verification and the surrender of its figure.
        let had_results = (1..=12).any(|m| state.carbon_result(&org.id, last * 100 + m).is_some());
        let report = state.carbon_report(&org.id, ReportPeriod::Year(last));
        if had_results && report.is_none() {
            due("annual_report", last.to_string(), report_due_day(ReportPeriod::Year(last)), "file it by 31 March");
        }
        let verification = state.verification(&org.id, last);
        let obligation = verification.as_ref().and_then(|v| v.final_ut);
        if report.is_some() && obligation.is_none() {
            due("verification", last.to_string(), day_of(year, 6, 30), "the verification is to be finished by 30 June");
        }
        // An objection waits for a regulator's decision: ten working days (管理办法 Art. 27).
        if let Some(v) = &verification
            && v.status == trustmeter_state::VerificationStatus::Objected
            && let Some(o) = &v.objection
        {
            let decide_by = calendar::add_working_days(
                calendar::day_number(o.time_ms),
                trustmeter_types::compliance::DECISION_WORKING_DAYS,
            );
            due("decision", last.to_string(), decide_by, "a regulator covering the region decides the objection");
        }
        if let Some(o) = obligation {
            let q = state.quota(&org.id, last);
            if q.surrendered_ut.saturating_add(q.offsets_ut) < o {
                due(
                    "surrender",
                    last.to_string(),
                    day_of(year, 12, 31),
                    "surrender allowances for the verified emissions",
                );
            }
        }
        // This year's forecast against its quota.
        if let Some((quota, reference)) = state.quota(&org.id, year).quota_ut() {
            let (_, forecast, basis) = crate::figures::forecast(state, &org.id, year, state.timestamp_ms);
            if forecast > quota {
                use trustmeter_carbon::report::tonnes;
                out.push(AlarmView {
                    message: format!(
                        "{} ({}): the {year} forecast of {} t CO2e ({basis}) exceeds the {} quota of {} t by {} t",
                        org.name,
                        org.id,
                        tonnes(forecast),
                        if reference { "enterprise's own reference" } else { "allocated" },
                        tonnes(quota),
                        tonnes(forecast - quota)
                    ),
                    detail: Some(serde_json::json!({
                        "year": year, "forecast_t": tonnes(forecast), "quota_t": tonnes(quota), "reference": reference,
                    })),
                    ..base(
                        AlarmKind::QuotaForecast,
                        Severity::Warning,
                        format!("quota_forecast/{}/{year}", org.id),
                        &org.id,
                        state,
                    )
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Series

/// Where register readings come from (the index; a fixture in tests).
pub trait ReadingSource {
    /// Register points of `meter` with `from_ms <= timestamp < to_ms`, in time order, at most
    /// `limit`.
    fn points(&self, meter: &DeviceId, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<RegisterPoint>, String>;

    /// The recorded replacements of `meter` with `after_ms < at_ms <= upto_ms`, at most `limit`
    /// (none by default: then only the chain's late window is used).
    fn replacements(
        &self,
        _meter: &DeviceId,
        _after_ms: i64,
        _upto_ms: i64,
        _limit: usize,
    ) -> Result<Vec<trustmeter_index::IndexedReplacement>, String> {
        Ok(Vec::new())
    }
}

impl ReadingSource for Index {
    fn points(&self, meter: &DeviceId, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<RegisterPoint>, String> {
        Ok(self
            .points(meter, from_ms, to_ms, limit)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|p| RegisterPoint { ts_ms: p.timestamp_ms, value: p.value.micros(), origin: p.origin })
            .collect())
    }

    fn replacements(
        &self,
        meter: &DeviceId,
        after_ms: i64,
        upto_ms: i64,
        limit: usize,
    ) -> Result<Vec<trustmeter_index::IndexedReplacement>, String> {
        Index::replacements(self, meter, after_ms, upto_ms, limit).map_err(|e| e.to_string())
    }
}

/// A meter's consumption per clock hour (Asia/Shanghai), in micro-units of its amount unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourlySeries {
    /// Hour start (Unix ms) → consumption allocated to that hour.
    pub hours: BTreeMap<i64, i64>,
    /// First and last reading time seen.
    pub covered: Option<(i64, i64)>,
    /// Intervals excluded by the register rules (negative deltas), `(start, end)`.
    pub excluded: Vec<(i64, i64)>,
}

impl HourlySeries {
    /// Derives the series within `[from_ms, to_ms)` from register points (any order) with
    /// `register::intervals` and `register::allocate` by hour.
    pub fn from_points(
        points: &[RegisterPoint],
        spec: &register::RegisterSpec,
        replacements: &[Replacement],
        from_ms: i64,
        to_ms: i64,
    ) -> Self {
        let mut s = HourlySeries::default();
        if points.is_empty() {
            return s;
        }
        let first = points.iter().map(|p| p.ts_ms).min().unwrap_or(0);
        let last = points.iter().map(|p| p.ts_ms).max().unwrap_or(0);
        s.covered = Some((first, last));
        for iv in register::intervals(points, spec, replacements) {
            if iv.end_ms <= from_ms || iv.start_ms >= to_ms {
                continue;
            }
            if iv.excluded() {
                s.excluded.push((iv.start_ms, iv.end_ms));
                continue;
            }
            let Ok(shares) = register::try_allocate(&iv, Period::Hour) else {
                s.excluded.push((iv.start_ms, iv.end_ms));
                continue;
            };
            for (hour, share) in shares {
                if hour >= calendar::period_start(Period::Hour, from_ms) && hour < to_ms {
                    *s.hours.entry(hour).or_default() += share;
                }
            }
        }
        s
    }

    /// Whether `[start, end)` is covered by readings on both sides and touches no excluded interval.
    pub fn complete(&self, start: i64, end: i64) -> bool {
        self.covered.is_some_and(|(a, b)| a <= start && b >= end)
            && !self.excluded.iter().any(|&(a, b)| a < end && b > start)
    }

    /// Consumption allocated to hours starting in `[start, end)`.
    pub fn sum(&self, start: i64, end: i64) -> i64 {
        self.hours.range(start..end).map(|(_, v)| *v).fold(0i64, |a, v| a.saturating_add(v))
    }
}

/// Reads a meter's hourly series for `[from_ms, to_ms)`.
fn meter_series(
    state: &State,
    source: &dyn ReadingSource,
    meter: &Meter,
    from_ms: i64,
    to_ms: i64,
) -> Result<HourlySeries, String> {
    let points = source.points(
        &meter.id,
        from_ms.saturating_sub(LOOKBACK_MS),
        to_ms.saturating_add(LOOKBACK_MS),
        MAX_POINTS_PER_READ,
    )?;
    let spec = register_spec(meter, &state.params.accounting);
    let span = crate::figures::replacement_span(&points);
    let indexed = source.replacements(&meter.id, span.0, span.1, register::MAX_REPLACEMENTS + 1)?;
    let reps = crate::figures::merge_replacements(state, &meter.id, &indexed, span);
    if reps.len() > register::MAX_REPLACEMENTS {
        return Err(format!(
            "meter {} has more than {} replacements in the series' range",
            meter.id,
            register::MAX_REPLACEMENTS
        ));
    }
    Ok(HourlySeries::from_points(&points, &spec, &reps, from_ms, to_ms))
}

/// A budget of series reads for one pass.
#[derive(Debug)]
struct Budget {
    left: usize,
}

impl Budget {
    fn take(&mut self, n: usize) -> bool {
        if n > self.left {
            return false;
        }
        self.left -= n;
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Over-use

/// One over-use finding.
struct OverUse<'a> {
    threshold: &'a Threshold,
    owner: &'a UnifiedSocialCreditCode,
    meter: Option<&'a Meter>,
    unit: Unit,
    period_start: i64,
    current: bool,
    value: i64,
}

fn over_use_alarm(state: &State, o: OverUse<'_>) -> AlarmView {
    let t = o.threshold;
    let subject = t.subject();
    let period = t.period;
    let label = match period {
        ThresholdPeriod::Hour => {
            format!("the hour {}–{}", local(o.period_start, "%Y-%m-%d %H:%M"), local(o.period_start + HOUR_MS, "%H:%M"))
        }
        ThresholdPeriod::Day => format!("the day {}", local(o.period_start, "%Y-%m-%d")),
    };
    let who = match o.meter {
        Some(m) => format!("meter {} ({}) of {}", m.id, m.name, m.owner),
        None => format!("enterprise {}", o.owner),
    };
    let so_far = if o.current { " so far" } else { "" };
    let energy = energy_name(t.energy);
    AlarmView {
        meter: o.meter.map(|m| m.id.to_string()),
        message: format!(
            "{who} used {} {} of {energy}{so_far} in {label} (Asia/Shanghai), over the limit of {} {} per {} set in this node's [alarms] config; check the load, or raise the limit if it is expected",
            amount(o.value),
            o.unit.symbol(),
            amount(t.limit_micros()),
            o.unit.symbol(),
            period.name()
        ),
        detail: Some(serde_json::json!({
            "value": amount(o.value),
            "limit": amount(t.limit_micros()),
            "unit": o.unit.symbol(),
            "energy": energy,
            "period": period.name(),
            "period_start_ms": o.period_start,
            "current_period": o.current,
        })),
        ..base(
            AlarmKind::OverUse,
            Severity::Warning,
            format!("over_use/{subject}/{energy}/{}/{}/{}", o.unit.symbol(), period.name(), o.period_start),
            o.owner,
            state,
        )
    }
}

/// The snake_case name of an energy kind, as serialised.
fn energy_name(kind: EnergyKind) -> String {
    kind.name().to_string()
}

/// The meters an organisation threshold sums: active or registered (not revoked), of the energy
/// kind, not a tariff register, in id order, at most [`MAX_METERS_PER_ORG_THRESHOLD`].
fn org_meters(state: &State, org: &UnifiedSocialCreditCode, t: &Threshold) -> Vec<Meter> {
    state
        .meters()
        .filter(|m| {
            &m.owner == org
                && m.energy == t.energy
                && m.status != DeviceStatus::Revoked
                && m.tariff.is_none()
                && t.unit().is_none_or(|u| amount_unit(m.unit) == u)
        })
        .take(MAX_METERS_PER_ORG_THRESHOLD)
        .collect()
}

/// Series reads a threshold needs in one pass.
fn threshold_cost(state: &State, t: &Threshold) -> usize {
    match (&t.org, &t.meter, t.period) {
        (_, Some(_), _) => 1,
        (Some(_), None, ThresholdPeriod::Day) => 0,
        (Some(o), None, ThresholdPeriod::Hour) => org_meters(state, o, t).len(),
        (None, None, _) => 0,
    }
}

/// The over-use alarms of one threshold at the state's time: the current and the previous period.
pub fn over_use_alarms(state: &State, source: &dyn ReadingSource, t: &Threshold) -> Vec<AlarmView> {
    let now = state.timestamp_ms;
    let p = t.period.period();
    let cur = calendar::period_start(p, now);
    let prev = calendar::period_start(p, cur - 1);
    let limit = t.limit_micros();
    // (unit, period start) → consumption.
    let mut sums: BTreeMap<(Unit, i64), i64> = BTreeMap::new();
    let mut meter_of: Option<Meter> = None;
    let owner: UnifiedSocialCreditCode;
    match (&t.org, &t.meter) {
        (_, Some(id)) => {
            let Some(m) = state.meter(id) else { return Vec::new() };
            if m.energy != t.energy || t.unit().is_some_and(|u| u != amount_unit(m.unit)) {
                return Vec::new();
            }
            owner = m.owner.clone();
            meter_of = Some(m.clone());
            match meter_series(state, source, &m, prev, now.saturating_add(1)) {
                Ok(s) => {
                    for start in [prev, cur] {
                        let end = calendar::period_end(p, start);
                        sums.insert((amount_unit(m.unit), start), s.sum(start, end));
                    }
                }
                Err(e) => tracing::warn!(meter = %m.id, error = %e, "over-use series could not be read"),
            }
        }
        (Some(org), None) => {
            owner = org.clone();
            match t.period {
                ThresholdPeriod::Day => {
                    let (d_prev, d_cur) = (calendar::day_number(prev), calendar::day_number(cur));
                    for (k, d) in state.daily_range(org, d_prev, d_cur) {
                        if k.energy == t.energy && t.unit().is_none_or(|u| u == k.unit) {
                            sums.insert((k.unit, calendar::day_start_ms(k.day)), d.consumption.micros());
                        }
                    }
                }
                ThresholdPeriod::Hour => {
                    for m in org_meters(state, org, t) {
                        match meter_series(state, source, &m, prev, now.saturating_add(1)) {
                            Ok(s) => {
                                for start in [prev, cur] {
                                    let e = sums.entry((amount_unit(m.unit), start)).or_default();
                                    *e = e.saturating_add(s.sum(start, start + HOUR_MS));
                                }
                            }
                            Err(e) => tracing::warn!(meter = %m.id, error = %e, "over-use series could not be read"),
                        }
                    }
                }
            }
        }
        (None, None) => return Vec::new(),
    }
    sums.into_iter()
        .filter(|(_, v)| *v > limit)
        .map(|((unit, start), value)| {
            over_use_alarm(
                state,
                OverUse {
                    threshold: t,
                    owner: &owner,
                    meter: meter_of.as_ref(),
                    unit,
                    period_start: start,
                    current: start == cur,
                    value,
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Anomaly

/// The anomaly rule's verdict on one hour.
#[derive(Clone, Debug, PartialEq)]
pub enum AnomalyOutcome {
    /// Fewer than [`MIN_BASELINE_WEEKS`] complete weeks of history: no verdict.
    NotEnoughHistory {
        /// Complete weeks found.
        weeks: usize,
    },
    /// Within the band.
    Normal(Baseline),
    /// Outside the band.
    Anomalous(Baseline),
}

/// The baseline an hour was judged against, micro-units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Baseline {
    /// Median of the baseline hours.
    pub median: i64,
    /// Median absolute deviation.
    pub mad: i64,
    /// Half-width of the band.
    pub band: i64,
    /// Weeks of history used.
    pub weeks: usize,
}

fn median(sorted: &[i64]) -> i64 {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { ((i128::from(sorted[n / 2 - 1]) + i128::from(sorted[n / 2])) / 2) as i64 }
}

/// Judges `value` against the same hour of the week in earlier weeks (`baseline`, complete hours
/// only): anomalous outside `median ± max(k·MAD, x % · |median|, floor)`.
pub fn anomaly_rule(value: i64, baseline: &[i64], cfg: &AnomalyConfig) -> AnomalyOutcome {
    if baseline.len() < MIN_BASELINE_WEEKS as usize {
        return AnomalyOutcome::NotEnoughHistory { weeks: baseline.len() };
    }
    let mut b = baseline.to_vec();
    b.sort_unstable();
    let m = median(&b);
    let mut dev: Vec<i64> =
        b.iter().map(|v| (i128::from(*v) - i128::from(m)).unsigned_abs().min(i64::MAX as u128) as i64).collect();
    dev.sort_unstable();
    let mad = median(&dev);
    let floor = cfg.min_deviation * Quantity::SCALE as f64;
    let band = (cfg.mad_factor * mad as f64).max(cfg.min_deviation_pct / 100.0 * (m as f64).abs()).max(floor);
    let band = if band >= i64::MAX as f64 { i64::MAX } else { band.round() as i64 };
    let base = Baseline { median: m, mad, band, weeks: b.len() };
    let (low, high) = (i128::from(m) - i128::from(band), i128::from(m) + i128::from(band));
    if i128::from(value) < low || i128::from(value) > high {
        AnomalyOutcome::Anomalous(base)
    } else {
        AnomalyOutcome::Normal(base)
    }
}

/// A cached anomaly verdict for one meter.
#[derive(Clone, Debug)]
struct AnomalyCached {
    /// Start of the hour judged.
    hour: i64,
    /// Whether the verdict is final for that hour (the hour was complete in the index).
    done: bool,
    /// The alarm, if anomalous.
    alarm: Option<AlarmView>,
}

/// Judges a meter's hour `[hour, hour + 1 h)` against the previous `cfg.weeks` weeks.
/// `None` when the hour itself is not complete yet (try again later).
fn anomaly_check(
    state: &State,
    source: &dyn ReadingSource,
    m: &Meter,
    hour: i64,
    cfg: &AnomalyConfig,
) -> Result<Option<Option<AlarmView>>, String> {
    let end = hour + HOUR_MS;
    let s = meter_series(state, source, m, hour, end)?;
    if !s.complete(hour, end) {
        return Ok(None);
    }
    let value = s.sum(hour, end);
    let mut baseline = Vec::new();
    for w in 1..=i64::from(cfg.weeks) {
        let h = hour - w * WEEK_MS;
        let s = meter_series(state, source, m, h, h + HOUR_MS)?;
        if s.complete(h, h + HOUR_MS) {
            baseline.push(s.sum(h, h + HOUR_MS));
        }
    }
    let Baseline { median, mad, band, weeks } = match anomaly_rule(value, &baseline, cfg) {
        AnomalyOutcome::Anomalous(b) => b,
        AnomalyOutcome::Normal(_) | AnomalyOutcome::NotEnoughHistory { .. } => return Ok(Some(None)),
    };
    let unit = amount_unit(m.unit).symbol();
    let low = median.saturating_sub(band);
    let high = median.saturating_add(band);
    let direction = if value > high { "above" } else { "below" };
    Ok(Some(Some(AlarmView {
        meter: Some(m.id.to_string()),
        message: format!(
            "meter {} ({}) recorded {} {unit} in the hour {}–{} (Asia/Shanghai), {direction} its usual range for that hour of the week: median {} {unit} over the previous {weeks} weeks, normal range {}–{} {unit}; check the process it supplies and the meter",
            m.id,
            m.name,
            amount(value),
            local(hour, "%Y-%m-%d %H:%M"),
            local(end, "%H:%M"),
            amount(median),
            amount(if value >= 0 { low.max(0) } else { low }),
            amount(high),
        ),
        detail: Some(serde_json::json!({
            "hour_start_ms": hour,
            "value": amount(value),
            "median": amount(median),
            "mad": amount(mad),
            "band": amount(band),
            "low": amount(low),
            "high": amount(high),
            "unit": unit,
            "weeks": weeks,
        })),
        ..base(AlarmKind::Anomaly, Severity::Warning, format!("anomaly/{}/{hour}", m.id), &m.owner, state)
    })))
}

// ---------------------------------------------------------------------------------------------
// The engine

/// The engine's memory between passes: the meter alarms, cached series results and round-robin
/// cursors.
#[derive(Debug, Default)]
struct Engine {
    /// The meter alarms (calibration, missing data), kept up to date incrementally.
    meters: MeterWatch,
    /// Per threshold, the alarms of its last evaluation.
    thresholds: Vec<Vec<AlarmView>>,
    /// Next threshold to evaluate.
    threshold_cursor: usize,
    /// Per meter, the verdict on its last completed hour.
    anomaly: BTreeMap<DeviceId, AnomalyCached>,
    /// Last meter whose anomaly verdict was computed (round robin).
    anomaly_cursor: Option<DeviceId>,
    /// The compliance alarms of the last evaluation, and its chain time.
    compliance: Option<(i64, Vec<Arc<AlarmView>>)>,
}

impl Engine {
    /// Every alarm that holds at the state's time (`raised_at` is set when it is published).
    /// `touched`: the meters the blocks since the last pass touched, if known exactly (else every
    /// meter is looked at). The meter alarms are shared with the engine, not copied.
    fn pass(
        &mut self,
        cfg: &AlarmConfig,
        state: &State,
        source: &dyn ReadingSource,
        touched: Option<Vec<DeviceId>>,
    ) -> Vec<Arc<AlarmView>> {
        let mut budget = Budget { left: MAX_SERIES_READS_PER_PASS };
        // The meter alarms, and which meters the anomaly rule may look at.
        let hour_end = calendar::period_start(Period::Hour, state.timestamp_ms);
        self.meters.pass(state, touched);
        let eligible = self.meters.anomaly_candidates();
        let mut out: Vec<Arc<AlarmView>> = self.meters.alarms().cloned().collect();
        out.extend(audit_flag_alarms(state, &cfg.audit_flags).into_iter().map(Arc::new));
        let fresh = self.compliance.as_ref().is_some_and(|(at, _)| {
            state.timestamp_ms.saturating_sub(*at) < COMPLIANCE_EVERY_MS
                && calendar::day_number(*at) == calendar::day_number(state.timestamp_ms)
        });
        if !fresh {
            let found = compliance_alarms(state, &cfg.compliance).into_iter().map(Arc::new).collect();
            self.compliance = Some((state.timestamp_ms, found));
        }
        out.extend(self.compliance.as_ref().map(|(_, a)| a.iter().cloned()).into_iter().flatten());

        // Over-use, round robin over the thresholds.
        let n = cfg.thresholds.len();
        self.thresholds.resize(n, Vec::new());
        let start = self.threshold_cursor % n.max(1);
        for step in 0..n {
            let i = (start + step) % n;
            let t = &cfg.thresholds[i];
            if !budget.take(threshold_cost(state, t)) {
                break;
            }
            self.thresholds[i] = over_use_alarms(state, source, t);
            self.threshold_cursor = (i + 1) % n;
        }
        out.extend(self.thresholds.iter().flatten().cloned().map(Arc::new));

        // Anomalies on the last completed hour.
        if cfg.anomaly.enabled {
            let hour = hour_end - HOUR_MS;
            let ids: BTreeSet<&DeviceId> = eligible.iter().collect();
            self.anomaly.retain(|id, c| c.hour == hour && ids.contains(id));
            let split = match &self.anomaly_cursor {
                Some(c) => eligible.partition_point(|id| id <= c),
                None => 0,
            };
            let cost = cfg.anomaly.weeks as usize + 1;
            for id in eligible[split..].iter().chain(&eligible[..split]) {
                if self.anomaly.get(id).is_some_and(|c| c.done) {
                    continue;
                }
                if !budget.take(cost) {
                    break;
                }
                self.anomaly_cursor = Some(id.clone());
                let Some(m) = state.meter(id) else { continue };
                let m = &m;
                match anomaly_check(state, source, m, hour, &cfg.anomaly) {
                    Ok(Some(alarm)) => {
                        self.anomaly.insert(m.id.clone(), AnomalyCached { hour, done: true, alarm });
                    }
                    Ok(None) => {
                        self.anomaly.insert(m.id.clone(), AnomalyCached { hour, done: false, alarm: None });
                    }
                    Err(e) => tracing::warn!(meter = %m.id, error = %e, "anomaly series could not be read"),
                }
            }
            out.extend(self.anomaly.values().filter_map(|c| c.alarm.clone()).map(Arc::new));
        }
        out
    }
}

/// Whose alarms a client asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AlarmScope {
    /// Every enterprise's.
    #[default]
    All,
    /// One enterprise's.
    Org(UnifiedSocialCreditCode),
    /// Those of the enterprises in a region (GB/T 2260 code) as a regulator of that region
    /// covers them: a province its cities and counties (see
    /// [`trustmeter_types::membership::jurisdiction_covers`]); 100000 is everyone.
    Region(u32),
}

impl AlarmScope {
    /// Whether `a` is in this scope.
    pub fn admits(&self, a: &AlarmView) -> bool {
        match self {
            AlarmScope::All => true,
            AlarmScope::Org(o) => a.owner == o.as_str(),
            AlarmScope::Region(r) => a.region != 0 && trustmeter_types::membership::jurisdiction_covers(*r, a.region),
        }
    }
}

impl From<Option<&UnifiedSocialCreditCode>> for AlarmScope {
    fn from(org: Option<&UnifiedSocialCreditCode>) -> Self {
        org.map_or(AlarmScope::All, |o| AlarmScope::Org(o.clone()))
    }
}

/// What clients see: the active set and where the event ids are.
#[derive(Debug)]
struct Snapshot {
    height: u64,
    block_time_ms: i64,
    calibration_warning_ms: i64,
    dropped: u64,
    alarms: BTreeMap<String, Arc<AlarmView>>,
    /// The id the first event of this process gets.
    first_id: u64,
    next_id: u64,
    /// The last [`RESUME_EVENTS`] events, oldest first.
    recent: VecDeque<AlarmEvent>,
}

impl Snapshot {
    /// The events after `last` (of `org` only, if given), if this node still holds all of them:
    /// `last` must be an id of this process (or the one before its first) not older than the
    /// oldest event kept.
    fn events_after(&self, last: u64, scope: &AlarmScope) -> Option<Vec<AlarmEvent>> {
        let oldest = self.recent.front().map_or(self.next_id, |e| e.id);
        let held = last < self.next_id && last.checked_add(1).is_some_and(|n| n >= oldest.max(self.first_id));
        held.then(|| self.recent.iter().filter(|e| e.id > last && scope.admits(&e.alarm)).cloned().collect())
    }
}

/// Where a stream begins.
#[derive(Clone, Debug)]
pub enum StreamStart {
    /// The active set, and the id of the last event it includes (a new client, or one whose last
    /// event this node does not hold).
    Snapshot(AlarmsView, u64),
    /// The events after the client's last one (`after`), possibly none.
    Resume {
        /// The client's `Last-Event-ID`.
        after: u64,
        /// What it missed, oldest first.
        events: Vec<AlarmEvent>,
    },
}

struct HubInner {
    config: AlarmConfig,
    engine: Mutex<Engine>,
    feed: Mutex<TouchedFeed>,
    snapshot: Mutex<Snapshot>,
    events: broadcast::Sender<AlarmEvent>,
    evaluated: watch::Sender<u64>,
    streams: AtomicUsize,
}

/// The alarm engine of one node: its configuration, caches, active set and event channel. Cheap
/// to clone (shared).
#[derive(Clone)]
pub struct AlarmHub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for AlarmHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlarmHub").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// One of the at most [`MAX_STREAM_CLIENTS`] alarm streams a node serves at once, held while the
/// client is connected ([`AlarmHub::open_stream`]); dropping it frees the place.
#[derive(Debug)]
pub struct StreamSlot(AlarmHub);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.inner.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one pass changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassReport {
    /// Events published, in order.
    pub events: Vec<AlarmEvent>,
    /// Alarms active after the pass.
    pub active: usize,
    /// Meters the pass looked at (touched by the blocks since the last pass, or due by time).
    pub meters_evaluated: usize,
    /// Whether the pass walked every meter (the first one, or after a gap in the feed).
    pub walked_all: bool,
}

impl AlarmHub {
    /// A hub with `config` (checked by [`AlarmConfig::validate`] beforehand) and nothing active.
    pub fn new(config: AlarmConfig) -> Self {
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let (evaluated, _) = watch::channel(0);
        Self {
            inner: Arc::new(HubInner {
                config,
                engine: Mutex::new(Engine::default()),
                feed: Mutex::new(TouchedFeed::default()),
                snapshot: Mutex::new(Snapshot {
                    height: 0,
                    block_time_ms: 0,
                    calibration_warning_ms: 0,
                    dropped: 0,
                    alarms: BTreeMap::new(),
                    first_id: Self::first_event_id(),
                    next_id: Self::first_event_id(),
                    recent: VecDeque::new(),
                }),
                events,
                evaluated,
                streams: AtomicUsize::new(0),
            }),
        }
    }

    /// Event ids of a process start at its start time in microseconds since the Unix epoch: they
    /// keep increasing across restarts (as long as a process raises fewer events than a
    /// microsecond each), so a `Last-Event-ID` from an earlier process is never mistaken for one
    /// of this process.
    fn first_event_id() -> u64 {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        micros.max(1)
    }

    /// A place for one more stream client, or `None` when [`MAX_STREAM_CLIENTS`] are connected.
    pub fn open_stream(&self) -> Option<StreamSlot> {
        if self.inner.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAM_CLIENTS {
            self.inner.streams.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(StreamSlot(self.clone()))
    }

    /// The configuration.
    pub fn config(&self) -> &AlarmConfig {
        &self.inner.config
    }

    /// Records the meters a finalized block touched, for the next pass (see [`meter_watch`]). The
    /// node calls it for every finalized block, in height order, before the block's state is
    /// published (a durable hook of the application); cheap, and bounded
    /// ([`meter_watch::MAX_FEED_METERS`]).
    pub fn feed(&self, block: &trustmeter_types::Block) {
        let touched = meter_watch::touched_meters(block);
        // Called on the finalizer's path: never panic there, even on a poisoned lock (the feed
        // holds no invariant a panic elsewhere could break; at worst the next pass walks).
        self.inner.feed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(block.header.height, touched);
    }

    /// Runs one pass on `state` (series from `source`) and publishes what changed. Blocking (index
    /// reads): call it off the async threads.
    pub fn evaluate(&self, state: &State, source: &dyn ReadingSource) -> PassReport {
        // A pass that panicked left the engine half-updated and its lock poisoned; start over
        // with a fresh engine (its next pass walks every meter) rather than freezing alarms.
        let mut engine = self.inner.engine.lock().unwrap_or_else(|poisoned| {
            tracing::error!("an alarm pass panicked; the alarm engine starts over with a walk of every meter");
            self.inner.engine.clear_poison();
            let mut engine = poisoned.into_inner();
            *engine = Engine::default();
            engine
        });
        let touched = self
            .inner
            .feed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(engine.meters.synced(), state.height);
        let found = engine.pass(&self.inner.config, state, source, touched);
        let (overflowed, meters_evaluated, walked_all) =
            (engine.meters.overflowed, engine.meters.evaluated, engine.meters.walked);
        drop(engine);
        PassReport { meters_evaluated, walked_all, ..self.publish(state, found, overflowed as u64) }
    }

    /// Publishes the alarms a pass found (`overflowed`: meter alarms it could not hold).
    /// Alarms are shared (`Arc`) between the engine, this set and the clients' views: a pass copies
    /// only the alarms that are new or changed, not the thousands that stay as they were.
    fn publish(&self, state: &State, mut found: Vec<Arc<AlarmView>>, overflowed: u64) -> PassReport {
        found.sort_by(|a, b| a.order().cmp(&b.order()));
        // Each enterprise's region, read once per pass (a pass may hold thousands of alarms of a
        // few enterprises; the meter alarms come with theirs).
        let mut regions: BTreeMap<String, u32> = BTreeMap::new();
        for a in &mut found {
            let region = *regions.entry(a.owner.clone()).or_insert_with(|| {
                UnifiedSocialCreditCode::new(a.owner.clone())
                    .ok()
                    .and_then(|o| state.organisation(&o))
                    .map_or(0, |o| o.region)
            });
            if a.region != region {
                Arc::make_mut(a).region = region;
            }
        }
        let mut desired: BTreeMap<String, Arc<AlarmView>> = BTreeMap::new();
        let mut dropped = overflowed;
        for a in found {
            if desired.contains_key(&a.key) {
                continue;
            }
            if desired.len() >= MAX_ACTIVE_ALARMS {
                dropped += 1;
                continue;
            }
            desired.insert(a.key.clone(), a);
        }
        let mut snap = self.inner.snapshot.lock().expect("alarm snapshot lock");
        let mut events = Vec::new();
        let mut event = |snap: &mut Snapshot, kind: EventKind, alarm: AlarmView| {
            let e = AlarmEvent {
                id: snap.next_id,
                event: kind,
                height: state.height,
                block_time_ms: state.timestamp_ms,
                alarm,
            };
            snap.next_id += 1;
            events.push(e);
        };
        let gone: Vec<String> = snap.alarms.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
        for k in gone {
            if let Some(a) = snap.alarms.remove(&k) {
                tracing::debug!(key = %a.key, "alarm cleared");
                event(&mut snap, EventKind::Cleared, Arc::unwrap_or_clone(a));
            }
        }
        for (k, a) in desired.iter_mut() {
            // Raised at the pass that first published it.
            let raised = snap
                .alarms
                .get(k)
                .map_or((state.timestamp_ms, state.height), |old| (old.raised_at_ms, old.raised_height));
            if (a.raised_at_ms, a.raised_height) != raised {
                let a = Arc::make_mut(a);
                (a.raised_at_ms, a.raised_height) = raised;
            }
            if !snap.alarms.contains_key(k) {
                tracing::debug!(key = %a.key, message = %a.message, "alarm raised");
                event(&mut snap, EventKind::Raised, (**a).clone());
            }
        }
        snap.alarms = desired;
        snap.height = state.height;
        snap.block_time_ms = state.timestamp_ms;
        snap.calibration_warning_ms = state.params.calibration_warning_ms;
        snap.dropped = dropped;
        for e in &events {
            // No receiver is not an error: nobody is listening.
            let _ = self.inner.events.send(e.clone());
            if snap.recent.len() == RESUME_EVENTS {
                snap.recent.pop_front();
            }
            snap.recent.push_back(e.clone());
        }
        let active = snap.alarms.len();
        if !events.is_empty() {
            // One line per pass that changed something (a pass can raise thousands: every meter of
            // a plant whose link went down); each event is at debug level and on the feed.
            let raised = events.iter().filter(|e| e.event == EventKind::Raised).count();
            tracing::info!(
                height = state.height,
                raised,
                cleared = events.len() - raised,
                active,
                by_kind = %Self::by_kind(snap.alarms.values().map(|a| &**a)),
                "alarms changed"
            );
        }
        drop(snap);
        self.inner.evaluated.send_replace(state.height);
        PassReport { events, active, meters_evaluated: 0, walked_all: false }
    }

    /// `"missing_data 300, calibration_expiring 2"`: how many alarms of each kind, most first.
    pub fn by_kind<'a>(alarms: impl IntoIterator<Item = &'a AlarmView>) -> String {
        let mut counts: BTreeMap<AlarmKind, usize> = BTreeMap::new();
        for a in alarms {
            *counts.entry(a.kind).or_default() += 1;
        }
        let mut counts: Vec<(AlarmKind, usize)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect::<Vec<_>>().join(", ")
    }

    /// The active alarms in `scope` (an enterprise's: `Some(&org)`; everyone's: `None`; a
    /// region's: [`AlarmScope::Region`]).
    pub fn active(&self, scope: impl Into<AlarmScope>) -> AlarmsView {
        let snap = self.inner.snapshot.lock().expect("alarm snapshot lock");
        Self::view(&snap, &scope.into())
    }

    fn view(snap: &Snapshot, scope: &AlarmScope) -> AlarmsView {
        let mut alarms: Vec<AlarmView> =
            snap.alarms.values().filter(|a| scope.admits(a)).map(|a| (**a).clone()).collect();
        alarms.sort_by(|a, b| a.order().cmp(&b.order()));
        AlarmsView {
            height: snap.height,
            block_time_ms: snap.block_time_ms,
            calibration_warning_ms: snap.calibration_warning_ms,
            dropped: snap.dropped,
            alarms,
        }
    }

    /// Subscribes to events, with the active set at that instant (no event is missed or seen
    /// twice between the two).
    pub fn subscribe(&self, scope: impl Into<AlarmScope>) -> (AlarmsView, broadcast::Receiver<AlarmEvent>) {
        match self.subscribe_after(scope, None) {
            (StreamStart::Snapshot(view, _), rx) => (view, rx),
            (StreamStart::Resume { .. }, _) => unreachable!("no last event id given"),
        }
    }

    /// Subscribes to events after `last` (a client's `Last-Event-ID`) when this node still holds
    /// every event since, else with the active set; nothing is missed or seen twice in between.
    pub fn subscribe_after(
        &self,
        scope: impl Into<AlarmScope>,
        last: Option<u64>,
    ) -> (StreamStart, broadcast::Receiver<AlarmEvent>) {
        let scope = scope.into();
        let snap = self.inner.snapshot.lock().expect("alarm snapshot lock");
        let rx = self.inner.events.subscribe();
        let start = match last.and_then(|l| Some((l, snap.events_after(l, &scope)?))) {
            Some((after, events)) => StreamStart::Resume { after, events },
            None => StreamStart::Snapshot(Self::view(&snap, &scope), snap.next_id - 1),
        };
        (start, rx)
    }

    /// The events after `last` in `scope`, if still held (see [`AlarmHub::subscribe_after`]).
    pub fn events_after(&self, last: u64, scope: &AlarmScope) -> Option<Vec<AlarmEvent>> {
        self.inner.snapshot.lock().expect("alarm snapshot lock").events_after(last, scope)
    }

    /// Waits (at most `timeout`) until a pass has evaluated `height` or later.
    pub async fn wait_evaluated(&self, height: u64, timeout: Duration) {
        let mut rx = self.inner.evaluated.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|h| *h >= height)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, T0, block, meter};
    use trustmeter_chain::devnet::Devnet;
    use trustmeter_plant::TxSigner;
    use trustmeter_state::genesis_block;
    use trustmeter_types::{Calibration, EnergyKind, Quantity, ReadingOrigin, TxOutcome, TxPayload};

    #[test]
    fn local_seconds_writes_what_the_format_writes() {
        // 2025-11-21 00:17:05.999 UTC is 08:17:05 in Shanghai; the year's edges; chrono's range.
        for ts in [1_763_684_225_999, 0, -1, -62_167_219_200_000, 253_402_300_799_000, 253_402_300_800_000, i64::MIN] {
            assert_eq!(local_seconds(ts), local(ts, "%Y-%m-%d %H:%M:%S"), "{ts}");
        }
        assert_eq!(local_seconds(1_763_684_225_999), "2025-11-21 08:17:05");
    }

    #[test]
    fn calibration_alarms_follow_the_finalized_state() {
        let devnet = Devnet::new("alarms-unit", 1, 2, 5, T0 - 3_600_000, 0);
        let (_, mut st) = genesis_block(&devnet.genesis);
        let chain = devnet.genesis.chain_id.clone();
        let (e0, e1) = (&devnet.enterprises[0], &devnet.enterprises[1]);
        let mut ents =
            [TxSigner::new(e0.key.clone(), chain.clone(), 1), TxSigner::new(e1.key.clone(), chain.clone(), 1)];
        let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
        let issuer = devnet.metrology.org.id.clone();
        let mut txs = Vec::new();
        for (i, e) in [e0, e1].iter().enumerate() {
            let gw = TxPayload::RegisterGateway {
                id: DeviceId::new(format!("{}-GW01", e.org.id)).unwrap(),
                public_key: trustmeter_crypto::SigningKey::ed25519_from_seed([i as u8 + 1; 32]).public_key(),
            };
            txs.push(ents[i].sign(gw));
        }
        st = block(&st, T0 - 1_000, txs);
        // Enterprise 0: meter 1 never calibrated, 2 expired 3 days ago, 3 expiring in 12 days,
        // 4 valid for a year, 5 expiring in 2 days; enterprise 1: meter 1 expiring in 20 days.
        let cal = |no: &str, until: i64| Calibration {
            certificate_no: no.into(),
            issuer: issuer.clone(),
            valid_from_ms: T0 - 365 * DAY_MS,
            valid_until_ms: until,
        };
        let mut txs: Vec<_> =
            (1..=5).map(|n| ents[0].sign(TxPayload::RegisterMeter { meter: meter(&e0.org.id, n) })).collect();
        txs.push(ents[1].sign(TxPayload::RegisterMeter { meter: meter(&e1.org.id, 1) }));
        for (owner, n, no, until) in [
            (&e0.org.id, 2, "JD-002", T0 - 3 * DAY_MS),
            (&e0.org.id, 3, "JD-003", T0 + 12 * DAY_MS + 6 * 3_600_000),
            (&e0.org.id, 4, "JD-004", T0 + 365 * DAY_MS),
            (&e0.org.id, 5, "JD-005", T0 + 2 * DAY_MS),
            (&e1.org.id, 1, "JD-101", T0 + 20 * DAY_MS),
        ] {
            txs.push(
                metro.sign(TxPayload::RecordCalibration { meter: meter(owner, n).id, calibration: cal(no, until) }),
            );
        }
        st = block(&st, T0, txs);
        assert_eq!(st.timestamp_ms, T0);

        let all = calibration_alarms(&st, None);
        let got: Vec<(AlarmKind, Severity, String)> =
            all.iter().map(|a| (a.kind, a.severity, a.meter.clone().unwrap())).collect();
        let id = |o: &UnifiedSocialCreditCode, n| meter(o, n).id.to_string();
        assert_eq!(
            got,
            vec![
                (AlarmKind::CalibrationMissing, Severity::Critical, id(&e0.org.id, 1)),
                (AlarmKind::CalibrationExpired, Severity::Critical, id(&e0.org.id, 2)),
                (AlarmKind::CalibrationExpiring, Severity::Warning, id(&e0.org.id, 5)),
                (AlarmKind::CalibrationExpiring, Severity::Warning, id(&e0.org.id, 3)),
                (AlarmKind::CalibrationExpiring, Severity::Warning, id(&e1.org.id, 1)),
            ]
        );
        assert_eq!(all[0].certificate_no, None);
        assert!(all[0].message.contains("has no calibration certificate"), "{}", all[0].message);
        assert_eq!(
            all[1].message,
            format!(
                "calibration certificate JD-002 of meter {} expired 3 days ago (last valid day 2026-11-17), so its readings are refused; have the metrology authority record a new certificate",
                id(&e0.org.id, 2)
            )
        );
        assert_eq!(
            all[3].message,
            format!(
                "calibration certificate JD-003 of meter {} expires in 12 days (last valid day 2026-12-03); have the metrology authority record a new certificate before then",
                id(&e0.org.id, 3)
            )
        );
        assert_eq!(
            (all[3].certificate_no.as_deref(), all[3].valid_until_ms),
            (Some("JD-003"), Some(T0 + 12 * DAY_MS + 6 * 3_600_000))
        );
        assert_eq!(all[4].owner, e1.org.id.to_string());
        let only_e1 = calibration_alarms(&st, Some(&e1.org.id));
        assert_eq!(only_e1, vec![all[4].clone()]);

        // A new certificate for meter 3 and a revocation of meter 2 clear their alarms; a day
        // later meter 5 has less than a day left.
        let txs = vec![
            metro.sign(TxPayload::RecordCalibration {
                meter: meter(&e0.org.id, 3).id,
                calibration: cal("JD-003b", T0 + 400 * DAY_MS),
            }),
            ents[0].sign(TxPayload::RevokeDevice { device: meter(&e0.org.id, 2).id, reason: "scrapped".into() }),
        ];
        st = block(&st, T0 + DAY_MS + 1, txs);
        let after: Vec<String> =
            calibration_alarms(&st, Some(&e0.org.id)).iter().map(|a| a.meter.clone().unwrap()).collect();
        assert_eq!(after, vec![id(&e0.org.id, 1), id(&e0.org.id, 5)]);
        let m5 = &calibration_alarms(&st, Some(&e0.org.id))[1];
        assert!(m5.message.contains("expires in less than a day (last valid day 2026-11-22)"), "{}", m5.message);
    }

    // -----------------------------------------------------------------------------------------
    // Missing data, over-use, anomaly, clearing.

    const MIN: i64 = 60_000;

    /// Series from a fixed list of points.
    struct Points(Vec<(DeviceId, RegisterPoint)>);

    impl ReadingSource for Points {
        fn points(&self, meter: &DeviceId, from: i64, to: i64, limit: usize) -> Result<Vec<RegisterPoint>, String> {
            let mut v: Vec<RegisterPoint> = self
                .0
                .iter()
                .filter(|(m, p)| m == meter && p.ts_ms >= from && p.ts_ms < to)
                .map(|(_, p)| p.clone())
                .collect();
            v.sort_by_key(|p| p.ts_ms);
            v.truncate(limit);
            Ok(v)
        }
    }

    fn pt(ts_ms: i64, kwh: f64) -> RegisterPoint {
        RegisterPoint { ts_ms, value: Quantity::from_f64_round(kwh).unwrap().micros(), origin: ReadingOrigin::Online }
    }

    fn kwh(v: f64) -> i64 {
        Quantity::from_f64_round(v).unwrap().micros()
    }

    #[test]
    fn the_compliance_calendar_warns_before_a_deposit_is_due_and_when_the_forecast_exceeds_the_quota() {
        use trustmeter_types::compliance::{QuotaOp, ReportPeriod};
        use trustmeter_types::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind, Hash32};
        let mut f = Fixture::new();
        let org = f.org.clone();
        // November 2026: 3 t of diesel (9.435367 t CO2e by hand, see state's compliance tests)
        // and the enterprise's own reference quota of 5 t.
        let entry = f.ent.sign(TxPayload::RecordCarbonEntry {
            entry: CarbonEntry {
                month: 202_611,
                number: 1,
                data: Some(CarbonEntryData::Fuel { fuel: "diesel".into(), amount: Quantity::from_micros(3_000_000) }),
                evidence: vec![Evidence {
                    hash: Hash32([1; 32]),
                    bytes: 10,
                    kind: EvidenceKind::Invoice,
                    name: "i.pdf".into(),
                }],
                note: String::new(),
            },
        });
        let quota = f.ent.sign(TxPayload::Quota {
            org: org.clone(),
            year: 2026,
            op: QuotaOp::Reference { amount: Quantity::from_micros(5_000_000), basis: "budget".into() },
        });
        f.txs(T0, vec![entry, quota]);
        let cfg = ComplianceConfig::default();
        let kinds = |a: &[AlarmView]| a.iter().map(|a| a.key.clone()).collect::<Vec<_>>();
        // The block is on 21 November (day 21 of 30): November projected to 9 435 367 × 30 / 21
        // = 13 479 095 µt; no 2025 to follow, so December at this year's average,
        // 13 479 095 / 11 = 1 225 372 µt: forecast 14.704467 t, over the 5 t by 9.704467 t.
        let a = compliance_alarms(&f.st, &cfg);
        assert_eq!(kinds(&a), vec![format!("quota_forecast/{org}/2026")]);
        assert!(
            a[0].message.contains("forecast of 14.704467 t")
                && a[0].message.contains("own reference quota of 5.000000 t by 9.704467 t"),
            "{}",
            a[0].message
        );

        // November's deposit is due 40 days after the month: 9 January 2027. On 20 December it
        // is 20 days away (no alarm), on 28 December 12 days (an alarm), then filed (cleared).
        let day = |d: &str| calendar::day_start_ms(calendar::parse_day(d).unwrap()) + 36_000_000;
        f.txs(day("2026-12-20"), vec![]);
        assert!(!kinds(&compliance_alarms(&f.st, &cfg)).iter().any(|k| k.contains("monthly_deposit")));
        f.txs(day("2026-12-28"), vec![]);
        let a = compliance_alarms(&f.st, &cfg);
        let deposit = a.iter().find(|a| a.key == format!("compliance_due/{org}/monthly_deposit/2026-11")).expect("due");
        assert!(deposit.message.contains("is due in 12 days, on 2027-01-09"), "{}", deposit.message);
        let hash = trustmeter_state::compliance::build_report(&f.st, &org, ReportPeriod::Month(202_611)).unwrap().hash;
        let file = f.ent.sign(TxPayload::SubmitCarbonReport { period: ReportPeriod::Month(202_611), hash });
        f.txs(day("2026-12-28") + 1_000, vec![file]);
        assert!(!kinds(&compliance_alarms(&f.st, &cfg)).iter().any(|k| k.contains("monthly_deposit")));
        assert!(compliance_alarms(&f.st, &ComplianceConfig { enabled: false, ..cfg }).is_empty());
    }

    #[test]
    fn an_objection_waiting_for_a_decision_raises_its_ten_working_day_deadline() {
        use trustmeter_types::compliance::{Opinion, ReportPeriod, VerificationStatement, VerificationStep};
        use trustmeter_types::{
            CarbonEntry, CarbonEntryData, Evidence, EvidenceKind, Hash32, MembershipAction, NewAccount, OrgKind,
            Organisation, UnifiedSocialCreditCode,
        };
        let mut f = Fixture::new();
        let org = f.org.clone();
        // A verifier admitted by the devnet's one regulator.
        let vkey = trustmeter_crypto::SigningKey::ed25519_from_seed([77; 32]);
        let body = "91430100MA4L00W07";
        let vid = UnifiedSocialCreditCode::new(format!("{body}{}", UnifiedSocialCreditCode::check_char(body).unwrap()))
            .unwrap();
        let proof = vkey.sign(&trustmeter_types::account_proof_payload(&f.chain, &vid, &vkey.public_key()));
        let admit = f.reg.sign(TxPayload::Propose {
            action: MembershipAction::Admit {
                organisation: Organisation {
                    id: vid.clone(),
                    name: "verifier".into(),
                    kind: OrgKind::Verifier,
                    region: 430_000,
                },
                accounts: vec![NewAccount { public_key: vkey.public_key(), proof }],
            },
        });
        // December 2025: 3 t of diesel, so 2025 has results and a report to file.
        let entry = f.ent.sign(TxPayload::RecordCarbonEntry {
            entry: CarbonEntry {
                month: 202_512,
                number: 1,
                data: Some(CarbonEntryData::Fuel { fuel: "diesel".into(), amount: Quantity::from_micros(3_000_000) }),
                evidence: vec![Evidence {
                    hash: Hash32([1; 32]),
                    bytes: 1,
                    kind: EvidenceKind::Invoice,
                    name: "i".into(),
                }],
                note: String::new(),
            },
        });
        f.txs(T0, vec![admit, entry]);
        let hash = trustmeter_state::compliance::build_report(&f.st, &org, ReportPeriod::Year(2025)).unwrap().hash;
        let file = f.ent.sign(TxPayload::SubmitCarbonReport { period: ReportPeriod::Year(2025), hash });
        let step = |step| TxPayload::Verification { org: org.clone(), year: 2025, step };
        let assign = f.reg.sign(step(VerificationStep::Assign { verifier: vid.clone() }));
        f.txs(T0 + 1_000, vec![file, assign]);
        let mut ver = TxSigner::new(vkey, f.chain.clone(), 1);
        let statement = ver.sign(step(VerificationStep::Statement {
            statement: VerificationStatement {
                report: hash,
                opinion: Opinion::Unqualified,
                findings: vec![],
                verified: Quantity::from_micros(9_435_367),
                document: None,
            },
        }));
        let object = f.ent.sign(step(VerificationStep::Object { reason: "the ledger is right".into() }));
        f.txs(T0 + 2_000, vec![statement]);
        f.txs(T0 + 3_000, vec![object]);
        // Objected on Saturday 21 November 2026: ten working days end Friday 4 December.
        let a = compliance_alarms(&f.st, &ComplianceConfig::default());
        let decision = a.iter().find(|a| a.key == format!("compliance_due/{org}/decision/2025")).expect("raised");
        assert!(decision.message.contains("is due in 13 days, on 2026-12-04"), "{}", decision.message);
    }

    #[test]
    fn the_forecast_follows_last_years_profile_at_this_years_pace() {
        use trustmeter_types::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind, Hash32};
        let mut f = Fixture::new();
        let org = f.org.clone();
        // 1 t of diesel in every month of 2025 (3.145122 t each), 2 t in January to November 2026
        // (6.290245 t each); the chain is on 21 November 2026, day 21 of 30.
        let entry = |ent: &mut TxSigner, month: u32, tonnes: i64| {
            ent.sign(TxPayload::RecordCarbonEntry {
                entry: CarbonEntry {
                    month,
                    number: 1,
                    data: Some(CarbonEntryData::Fuel {
                        fuel: "diesel".into(),
                        amount: Quantity::from_micros(tonnes * 1_000_000),
                    }),
                    evidence: vec![Evidence {
                        hash: Hash32([9; 32]),
                        bytes: 1,
                        kind: EvidenceKind::Invoice,
                        name: "i".into(),
                    }],
                    note: String::new(),
                },
            })
        };
        let mut txs: Vec<_> = (1..=12).map(|m| entry(&mut f.ent, 202_500 + m, 1)).collect();
        txs.extend((1..=11).map(|m| entry(&mut f.ent, 202_600 + m, 2)));
        f.txs(T0, txs);
        let (ytd, forecast, basis) = crate::figures::forecast(&f.st, &org, 2026, f.st.timestamp_ms);
        // Year to date: 11 × 6.290245 = 69.192695 t. November projected: 6 290 245 × 30 / 21 =
        // 8 986 064 µt, so far 10 × 6 290 245 + 8 986 064 = 71 888 514 µt; December from 2025's
        // profile at this year's pace: 3 145 122 × 71 888 514 / (11 × 3 145 122) = 6 535 319 µt.
        assert_eq!(ytd, 69_192_695);
        assert_eq!(forecast, 78_423_833, "{basis}");
        assert!(basis.contains("2025's profile") && basis.contains("day 21 of 30"), "{basis}");
        // A year over is its total; a year not begun is nothing.
        assert_eq!(crate::figures::forecast(&f.st, &org, 2025, f.st.timestamp_ms).1, 12 * 3_145_122);
        assert_eq!(
            crate::figures::forecast(&f.st, &org, 2027, f.st.timestamp_ms),
            (0, 0, "the year has not begun".into())
        );
    }

    fn keys(r: &PassReport, kind: EventKind) -> Vec<String> {
        r.events.iter().filter(|e| e.event == kind).map(|e| e.alarm.key.clone()).collect()
    }

    #[test]
    fn missing_data_is_raised_after_two_intervals_and_cleared_by_a_reading() {
        let mut f = Fixture::new();
        let hub = AlarmHub::new(AlarmConfig::default());
        let none = Points(vec![]);
        f.at(T0 + 1_000, Some((T0, 100.0)));
        let r = hub.evaluate(&f.st, &none);
        assert!(r.events.is_empty(), "{r:?}");
        // 30 minutes is exactly two 15-minute intervals: not yet.
        f.at(T0 + 30 * MIN, None);
        assert!(hub.evaluate(&f.st, &none).events.is_empty());
        f.at(T0 + 31 * MIN, None);
        let r = hub.evaluate(&f.st, &none);
        let key = format!("missing_data/{}", f.meter.id);
        assert_eq!(keys(&r, EventKind::Raised), vec![key.clone()]);
        let a = &r.events[0].alarm;
        assert_eq!(
            (a.kind, a.severity, a.meter.as_deref()),
            (AlarmKind::MissingData, Severity::Warning, Some(f.meter.id.as_str()))
        );
        assert_eq!(a.owner, f.org.to_string());
        assert_eq!(a.raised_at_ms, T0 + 31 * MIN);
        assert!(
            a.message.contains("has sent no reading since 2026-11-21 00:00:00 Asia/Shanghai, more than 2 × its 15 min")
                && a.message.contains("check the meter"),
            "{}",
            a.message
        );
        // Still silent: nothing new, the alarm keeps its first time.
        f.at(T0 + 40 * MIN, None);
        let r = hub.evaluate(&f.st, &none);
        assert!(r.events.is_empty());
        assert_eq!(hub.active(None).alarms[0].raised_at_ms, T0 + 31 * MIN);
        assert_eq!(hub.active(None).alarms[0].message, a.message);
        // A reading clears it.
        f.at(T0 + 45 * MIN + 1_000, Some((T0 + 45 * MIN, 101.0)));
        let r = hub.evaluate(&f.st, &none);
        assert_eq!(keys(&r, EventKind::Cleared), vec![key]);
        assert!(r.events[0].id > 1 && hub.active(None).alarms.is_empty());
        // Another organisation's filter sees nothing, this one's sees the same.
        assert!(hub.active(Some(&f.org)).alarms.is_empty());
    }

    #[test]
    fn a_pass_that_panicked_does_not_freeze_the_alarms() {
        let mut f = Fixture::new();
        let hub = AlarmHub::new(AlarmConfig::default());
        let none = Points(vec![]);
        f.at(T0 + 1_000, Some((T0, 100.0)));
        hub.evaluate(&f.st, &none);
        // Poison the engine's lock the way a panicking pass would.
        let poisoned = std::thread::scope(|s| {
            s.spawn(|| {
                let _engine = hub.inner.engine.lock().unwrap();
                panic!("a pass panics while it holds the engine");
            })
            .join()
            .is_err()
        });
        assert!(poisoned && hub.inner.engine.is_poisoned());
        // The next pass starts over with a walk and still raises what holds.
        f.at(T0 + 31 * MIN, None);
        let r = hub.evaluate(&f.st, &none);
        assert!(r.walked_all, "a fresh engine walks every meter");
        assert_eq!(keys(&r, EventKind::Raised), vec![format!("missing_data/{}", f.meter.id)]);
        assert!(!hub.inner.engine.is_poisoned());
        f.at(T0 + 45 * MIN + 1_000, Some((T0 + 45 * MIN, 101.0)));
        assert_eq!(keys(&hub.evaluate(&f.st, &none), EventKind::Cleared).len(), 1);
    }

    /// A seeded generator, so the model test replays from its seed.
    struct Rng(rand_chacha::ChaCha8Rng);

    impl Rng {
        fn new(seed: u64) -> Self {
            Rng(rand::SeedableRng::seed_from_u64(seed))
        }
        /// Uniform in `[lo, hi)`.
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            rand::RngExt::random_range(&mut self.0, lo..hi)
        }
        fn chance(&mut self, percent: u32) -> bool {
            rand::RngExt::random_ratio(&mut self.0, percent, 100)
        }
    }

    /// One seeded history of 300 meters in two progress chunks over ~40 days: readings from
    /// random subsets (some meters fall silent for good), certificates recorded and expiring,
    /// meters revoked and activated late, time steps from a second to two days, and now and then a
    /// block the incremental engine is not told about. After every block its alarms and events
    /// must equal those of an engine that walks every meter in every pass.
    ///
    /// `steady`: instead, a block a minute for three hours, each meter reporting every 15 minutes
    /// and certificates valid for a year, so that nothing changes with time: then every pass after
    /// the first must look at exactly the meters its block touched.
    fn incremental_matches_a_walk(seed: u64, steady: bool) {
        const METERS: u32 = 300;
        let mut rng = Rng::new(seed);
        let devnet = Devnet::new("alarms-model", 1, 1, 11, T0 - 3_600_000, 0);
        let (_, mut st) = genesis_block(&devnet.genesis);
        let chain = devnet.genesis.chain_id.clone();
        let org = devnet.enterprises[0].org.id.clone();
        let mut ent = TxSigner::new(devnet.enterprises[0].key.clone(), chain.clone(), 1);
        let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
        let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
        let gw_key = trustmeter_crypto::SigningKey::ed25519_from_seed([9; 32]);
        let mut gw = TxSigner::new(gw_key.clone(), chain.clone(), 1);
        let issuer = devnet.metrology.org.id.clone();
        let specs: Vec<_> = (1..=METERS).map(|n| meter(&org, n)).collect();
        let gateway = specs[0].gateway.clone();
        let cal = |no: String, from: i64, until: i64| Calibration {
            certificate_no: no,
            issuer: issuer.clone(),
            valid_from_ms: from,
            valid_until_ms: until,
        };
        let (inc, walk) = (AlarmHub::new(AlarmConfig::default()), AlarmHub::new(AlarmConfig::default()));
        let none = Points(vec![]);
        let (mut inc_work, mut walk_work, mut touched, mut walks) = (0, 0, 0, 0);
        let mut step = |st: &State, t: i64, txs: Vec<trustmeter_types::Transaction>, feed: bool, check: bool| {
            let ctx = trustmeter_state::exec::BlockContext { epoch: 0, view: st.height + 1, timestamp_ms: t };
            let n = txs.len();
            let (b, out) = trustmeter_state::build_block(st, &ctx, txs, &trustmeter_state::SignatureVerdicts::none());
            assert_eq!(b.txs.len(), n, "seed {seed}: a transaction was not includable");
            if feed {
                inc.feed(&b);
            }
            let (a, w) = (inc.evaluate(&out.state, &none), walk.evaluate(&out.state, &none));
            let events = |r: &PassReport| -> Vec<(EventKind, AlarmView)> {
                r.events.iter().map(|e| (e.event, e.alarm.clone())).collect()
            };
            assert_eq!(events(&a), events(&w), "seed {seed}, height {}", out.state.height);
            let (va, vw) = (inc.active(None), walk.active(None));
            assert_eq!((va.height, va.dropped, &va.alarms), (vw.height, vw.dropped, &vw.alarms), "seed {seed}");
            assert!(w.walked_all);
            if check {
                assert_eq!(a.walked_all, !feed, "seed {seed}, height {}", out.state.height);
                inc_work += a.meters_evaluated;
                walk_work += w.meters_evaluated;
                walks += usize::from(a.walked_all);
                let mut ids = meter_watch::touched_meters(&b);
                ids.sort_unstable();
                ids.dedup();
                touched += if feed { ids.len() } else { 0 };
                if steady {
                    assert_eq!(a.meters_evaluated, ids.len(), "seed {seed}, height {}", out.state.height);
                }
            }
            (out.state, out.receipts)
        };

        // Set-up: the gateway and the meters; certificates for all but ten, valid for 1 h to 40
        // days; all but ten activated (some of those later).
        let mut t = T0 - 10_000;
        let mut txs =
            vec![ent.sign(TxPayload::RegisterGateway { id: gateway.clone(), public_key: gw_key.public_key() })];
        txs.extend(specs.iter().map(|m| ent.sign(TxPayload::RegisterMeter { meter: m.clone() })));
        (st, _) = step(&st, t, txs, true, false);
        t += 1_000;
        let txs = specs[10..]
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let until = if steady { t + 365 * DAY_MS } else { t + rng.range(3_600_000, 40 * DAY_MS) };
                metro.sign(TxPayload::RecordCalibration {
                    meter: m.id.clone(),
                    calibration: cal(format!("JD-{i}"), t - DAY_MS, until),
                })
            })
            .collect();
        (st, _) = step(&st, t, txs, true, false);
        t += 1_000;
        let mut txs = vec![reg.sign(TxPayload::ActivateDevice { device: gateway.clone() })];
        txs.extend(
            specs[..METERS as usize - 10].iter().map(|m| reg.sign(TxPayload::ActivateDevice { device: m.id.clone() })),
        );
        (st, _) = step(&st, t, txs, true, false);

        // Per meter: next seq, latest timestamp, register value; revoked or not.
        let mut meters: Vec<(u64, i64, f64, bool)> = vec![(0, 0, 100.0, false); METERS as usize];
        let mut inactive: Vec<usize> = (METERS as usize - 10..METERS as usize).collect();
        for n in 0..if steady { 180 } else { 250 } {
            t += match rng.range(0, 100) {
                _ if steady => MIN,
                0..70 => rng.range(1_000, 20 * MIN),
                70..90 => rng.range(HOUR_MS, 3 * HOUR_MS),
                _ => rng.range(DAY_MS, 2 * DAY_MS),
            };
            let mut txs = Vec::new();
            if steady || !rng.chance(10) {
                let mut readings = Vec::new();
                for (i, m) in meters.iter_mut().enumerate() {
                    // steady: every 15 minutes; else meters 0..30 fall silent for good after 50
                    // blocks and the rest report at random
                    let skip = if steady {
                        i >= METERS as usize - 10 || i % 15 != n % 15
                    } else {
                        m.3 || (i < 30 && n > 50) || !rng.chance(40)
                    };
                    if skip {
                        continue;
                    }
                    let ts = (t - rng.range(0, 30_000)).max(m.1 + 1);
                    m.0 += 1;
                    m.1 = ts;
                    m.2 += rng.range(0, 1_000) as f64 / 100.0;
                    let r = trustmeter_types::Reading {
                        meter: specs[i].id.clone(),
                        seq: m.0,
                        timestamp_ms: ts,
                        value: Quantity::from_f64_round(m.2).unwrap(),
                        unit: Unit::KilowattHour,
                        origin: ReadingOrigin::Online,
                        clock_suspect: false,
                    };
                    readings.push(trustmeter_crypto::sign_reading(
                        &gw_key,
                        r,
                        trustmeter_types::ReadingSigner::Gateway,
                    ));
                }
                for chunk in readings.chunks(100) {
                    txs.push(gw.sign(TxPayload::SubmitReadings { gateway: gateway.clone(), readings: chunk.to_vec() }));
                }
            }
            if !steady && rng.chance(8) {
                let i = rng.range(0, METERS as i64) as usize;
                let i = if meters[i].3 { 0 } else { i }; // a revoked meter takes no certificate
                let until = t + rng.range(HOUR_MS, 60 * DAY_MS);
                let c = cal(format!("JD-{n}-{i}"), t - DAY_MS, until);
                txs.push(metro.sign(TxPayload::RecordCalibration { meter: specs[i].id.clone(), calibration: c }));
            }
            if !steady && rng.chance(3) {
                let i = rng.range(30, METERS as i64 - 10) as usize;
                if !meters[i].3 {
                    meters[i].3 = true;
                    let reason = "scrapped".to_string();
                    txs.push(reg.sign(TxPayload::RevokeDevice { device: specs[i].id.clone(), reason }));
                }
            }
            if !steady
                && rng.chance(4)
                && let Some(i) = inactive.pop()
            {
                txs.push(reg.sign(TxPayload::ActivateDevice { device: specs[i].id.clone() }));
            }
            let feed = steady || n == 0 || !rng.chance(3);
            let receipts;
            (st, receipts) = step(&st, t, txs, feed, n > 0);
            for r in &receipts {
                assert_eq!(r.outcome, TxOutcome::Accepted, "seed {seed}: {r:?}");
            }
        }
        let due = inc_work - touched - walks * METERS as usize;
        eprintln!(
            "seed {seed}: walking looked at {walk_work} meters, the incremental engine at {inc_work} = {touched} touched + {walks} walks × {METERS} + {due} due by time"
        );
        assert!(inc_work < walk_work);
    }

    #[test]
    fn the_incremental_meter_alarms_equal_a_walk_after_every_block() {
        for seed in 1..=3 {
            incremental_matches_a_walk(seed, false);
        }
    }

    #[test]
    fn in_a_steady_state_a_pass_looks_only_at_the_meters_its_blocks_touched() {
        incremental_matches_a_walk(4, true);
    }

    fn threshold(
        org: Option<&UnifiedSocialCreditCode>,
        meter: Option<&DeviceId>,
        period: ThresholdPeriod,
        limit: f64,
    ) -> Threshold {
        Threshold {
            org: org.cloned(),
            meter: meter.cloned(),
            energy: EnergyKind::Electricity,
            period,
            limit,
            unit: Some("kWh".into()),
        }
    }

    #[test]
    fn over_use_of_an_organisation_day_comes_from_the_chain_figures_and_clears_after_the_next_day() {
        let mut f = Fixture::new();
        let cfg = AlarmConfig {
            thresholds: vec![threshold(Some(&f.org), None, ThresholdPeriod::Day, 500.0)],
            ..AlarmConfig::default()
        };
        cfg.validate().unwrap();
        let hub = AlarmHub::new(cfg);
        let none = Points(vec![]);
        f.at(T0 + 1_000, Some((T0, 100.0)));
        f.at(T0 + 15 * MIN + 1_000, Some((T0 + 15 * MIN, 400.0)));
        assert!(keys(&hub.evaluate(&f.st, &none), EventKind::Raised).iter().all(|k| !k.starts_with("over_use")));
        f.at(T0 + 30 * MIN + 1_000, Some((T0 + 30 * MIN, 700.0)));
        let r = hub.evaluate(&f.st, &none);
        let key = format!("over_use/{}/electricity/kWh/day/{T0}", f.org);
        assert_eq!(keys(&r, EventKind::Raised), vec![key.clone()]);
        let a = &r.events[0].alarm;
        assert_eq!((a.kind, a.meter.as_ref()), (AlarmKind::OverUse, None));
        assert_eq!(
            a.message,
            format!(
                "enterprise {} used 600 kWh of electricity so far in the day 2026-11-21 (Asia/Shanghai), over the limit of 500 kWh per day set in this node's [alarms] config; check the load, or raise the limit if it is expected",
                f.org
            )
        );
        assert_eq!(a.detail.as_ref().unwrap()["value"], "600");
        // The next day the previous day's over-use is still shown; the day after it clears.
        f.at(T0 + DAY_MS + 1_000, Some((T0 + DAY_MS, 701.0)));
        assert!(hub.evaluate(&f.st, &none).events.iter().all(|e| e.alarm.key != key));
        assert!(hub.active(None).alarms.iter().any(|a| a.key == key));
        f.at(T0 + 2 * DAY_MS + 1_000, Some((T0 + 2 * DAY_MS, 702.0)));
        let r = hub.evaluate(&f.st, &none);
        assert_eq!(keys(&r, EventKind::Cleared), vec![key]);
    }

    #[test]
    fn over_use_of_a_meter_hour_comes_from_its_readings() {
        let mut f = Fixture::new();
        f.at(T0 + 20 * MIN, Some((T0 + 15 * MIN, 700.0)));
        let id = f.meter.id.clone();
        // 100 → 700 kWh between 23:45 and 00:15: 300 kWh in each hour.
        let src = Points(vec![(id.clone(), pt(T0 - 15 * MIN, 100.0)), (id.clone(), pt(T0 + 15 * MIN, 700.0))]);
        let low = threshold(None, Some(&id), ThresholdPeriod::Hour, 250.0);
        let got: Vec<(String, bool)> = over_use_alarms(&f.st, &src, &low)
            .into_iter()
            .map(|a| (a.key.clone(), a.detail.unwrap()["current_period"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (format!("over_use/{id}/electricity/kWh/hour/{}", T0 - HOUR_MS), false),
                (format!("over_use/{id}/electricity/kWh/hour/{T0}"), true),
            ]
        );
        let a = &over_use_alarms(&f.st, &src, &low)[1];
        assert!(
            a.message.starts_with(&format!(
                "meter {id} (meter 1) of {} used 300 kWh of electricity so far in the hour 2026-11-21 00:00–01:00",
                f.org
            )),
            "{}",
            a.message
        );
        assert!(over_use_alarms(&f.st, &src, &threshold(None, Some(&id), ThresholdPeriod::Hour, 300.0)).is_empty());
        // The same by organisation and hour (the sum of its meters), and by meter and day.
        assert_eq!(over_use_alarms(&f.st, &src, &threshold(Some(&f.org), None, ThresholdPeriod::Hour, 250.0)).len(), 2);
        let day = over_use_alarms(&f.st, &src, &threshold(None, Some(&id), ThresholdPeriod::Day, 250.0));
        assert_eq!(
            day.iter().map(|a| a.key.clone()).collect::<Vec<_>>(),
            vec![
                format!("over_use/{id}/electricity/kWh/day/{}", T0 - DAY_MS),
                format!("over_use/{id}/electricity/kWh/day/{T0}"),
            ]
        );
        // A threshold in another unit does not apply.
        let mut mwh = threshold(None, Some(&id), ThresholdPeriod::Hour, 0.1);
        mwh.unit = Some("MWh".into());
        assert!(over_use_alarms(&f.st, &src, &mwh).is_empty());
    }

    /// Points every 15 minutes from `h − 30 min` to `h + 2 h 30 min` of a cumulative register
    /// starting at `base`: `c1` kWh spread evenly over the hour from `h`, `c2` over the next.
    fn two_hours(id: &DeviceId, h: i64, base: f64, c1: f64, c2: f64) -> Vec<(DeviceId, RegisterPoint)> {
        (-2..=10)
            .map(|q: i64| {
                let t = h + q * 15 * MIN;
                let first = (q.clamp(0, 4) as f64) / 4.0 * c1;
                let second = ((q - 4).clamp(0, 4) as f64) / 4.0 * c2;
                (id.clone(), pt(t, base + first + second))
            })
            .collect()
    }

    #[test]
    fn anomaly_compares_the_last_hour_with_the_same_hour_in_earlier_weeks() {
        let mut f = Fixture::new();
        // Chain time 00:20; the last completed hour is 23:00–00:00 the day before.
        f.at(T0 + 20 * MIN, Some((T0 + 15 * MIN, 10.0)));
        let id = f.meter.id.clone();
        let h = T0 - HOUR_MS;
        let history = |weeks: &[(i64, f64)], now: f64| {
            let mut pts = Vec::new();
            for (w, c) in weeks {
                pts.extend(two_hours(&id, h - w * WEEK_MS, 1_000.0 * (10 - w) as f64, *c, 100.0));
            }
            pts.extend(two_hours(&id, h, 20_000.0, now, 100.0));
            Points(pts)
        };
        let four = [(1, 100.0), (2, 110.0), (3, 90.0), (4, 105.0)];
        // Median 102.5, MAD 5: the band is max(3 × 5, 50 % × 102.5, 1) = 51.25.
        let hub = AlarmHub::new(AlarmConfig::default());
        let r = hub.evaluate(&f.st, &history(&four, 300.0));
        let key = format!("anomaly/{id}/{h}");
        assert_eq!(keys(&r, EventKind::Raised), vec![key.clone()]);
        let a = &r.events[0].alarm;
        let d = a.detail.as_ref().unwrap();
        assert_eq!(
            (d["median"].as_str(), d["mad"].as_str(), d["band"].as_str()),
            (Some("102.5"), Some("5"), Some("51.25"))
        );
        assert!(
            a.message
                .contains("recorded 300 kWh in the hour 2026-11-20 23:00–00:00 (Asia/Shanghai), above its usual range")
                && a.message.contains("normal range 51.25–153.75 kWh"),
            "{}",
            a.message
        );
        // Within the band: no alarm; below it: an alarm.
        let fresh = || AlarmHub::new(AlarmConfig::default());
        assert!(fresh().evaluate(&f.st, &history(&four, 150.0)).events.is_empty());
        assert_eq!(fresh().evaluate(&f.st, &history(&four, 40.0)).events.len(), 1);
        // Two weeks of history are not enough, whatever the hour holds.
        let two = [(1, 100.0), (2, 110.0)];
        assert!(fresh().evaluate(&f.st, &history(&two, 10_000.0)).events.is_empty());
        // A week whose hour is not covered by readings is not history; three complete weeks are
        // enough (median 100, MAD 10, band 50).
        let mut gappy = history(&four, 300.0);
        gappy.0.retain(|(_, p)| !(p.ts_ms >= h - 4 * WEEK_MS - HOUR_MS && p.ts_ms < h - 4 * WEEK_MS + HOUR_MS));
        let r = fresh().evaluate(&f.st, &gappy);
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].alarm.detail.as_ref().unwrap()["weeks"], 3);
        // The hour itself not covered yet (the index lags): no verdict, and no alarm.
        let mut lagging = history(&four, 300.0);
        lagging.0.retain(|(_, p)| p.ts_ms < T0 - 2 * MIN || p.ts_ms < h - DAY_MS);
        assert!(fresh().evaluate(&f.st, &lagging).events.is_empty());
        // Disabled: nothing.
        let off = AlarmConfig {
            anomaly: AnomalyConfig { enabled: false, ..AnomalyConfig::default() },
            ..AlarmConfig::default()
        };
        assert!(AlarmHub::new(off).evaluate(&f.st, &history(&four, 300.0)).events.is_empty());

        // The next hour (100 kWh, as in every earlier week) completes within its band: the
        // alarm clears.
        f.at(T0 + HOUR_MS + 20 * MIN, Some((T0 + HOUR_MS + 15 * MIN, 11.0)));
        let r = hub.evaluate(&f.st, &history(&four, 300.0));
        assert_eq!(keys(&r, EventKind::Cleared), vec![key]);
        assert!(keys(&r, EventKind::Raised).is_empty(), "{r:?}");
    }

    #[test]
    fn the_anomaly_rule_needs_history_and_has_a_floor() {
        let cfg = AnomalyConfig::default();
        assert_eq!(anomaly_rule(kwh(5.0), &[kwh(1.0), kwh(1.0)], &cfg), AnomalyOutcome::NotEnoughHistory { weeks: 2 });
        // An idle hour: a trickle below the 1-unit floor is normal, more is not.
        let idle = [0, 0, 0, 0];
        assert!(matches!(anomaly_rule(kwh(0.9), &idle, &cfg), AnomalyOutcome::Normal(_)));
        assert!(matches!(anomaly_rule(kwh(1.5), &idle, &cfg), AnomalyOutcome::Anomalous(b) if b.band == kwh(1.0)));
        // A noisy baseline widens the band to k · MAD (3 × 30 = 90 > 50 % of 100).
        let noisy = [kwh(100.0), kwh(160.0), kwh(40.0), kwh(130.0), kwh(70.0)];
        match anomaly_rule(kwh(180.0), &noisy, &cfg) {
            AnomalyOutcome::Normal(b) => {
                assert_eq!((b.median, b.mad, b.band, b.weeks), (kwh(100.0), kwh(30.0), kwh(90.0), 5))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(anomaly_rule(kwh(191.0), &noisy, &cfg), AnomalyOutcome::Anomalous(_)));
        assert!(matches!(anomaly_rule(kwh(9.0), &noisy, &cfg), AnomalyOutcome::Anomalous(_)));
        // A steady baseline (MAD 0) still has a band of x % of its median.
        let steady = [kwh(100.0); 4];
        assert!(matches!(anomaly_rule(kwh(149.0), &steady, &cfg), AnomalyOutcome::Normal(_)));
        let k1 = AnomalyConfig { mad_factor: 1.0, min_deviation_pct: 0.0, ..cfg };
        assert!(matches!(anomaly_rule(kwh(131.0), &noisy, &k1), AnomalyOutcome::Anomalous(_)));
    }

    #[test]
    fn the_alarms_section_parses_and_refuses_mistakes() {
        let text = r#"
            interval_ms = 500
            [[thresholds]]
            org = "91350100M000100Y43"
            energy = "electricity"
            period = "day"
            limit = 12000
            [[thresholds]]
            meter = "M-1"
            energy = "natural_gas"
            period = "hour"
            limit = 30.5
            unit = "Nm3"
            [anomaly]
            weeks = 6
            mad_factor = 4
        "#;
        let cfg: AlarmConfig = toml::from_str(text).unwrap();
        assert_eq!(cfg.thresholds.len(), 2);
        assert_eq!((cfg.thresholds[0].limit, cfg.thresholds[1].period), (12_000.0, ThresholdPeriod::Hour));
        assert_eq!((cfg.anomaly.weeks, cfg.anomaly.mad_factor, cfg.anomaly.min_deviation_pct), (6, 4.0, 50.0));
        assert_eq!(AlarmConfig::default().thresholds, vec![]);
        let bad = |f: &dyn Fn(&mut AlarmConfig)| {
            let mut c = cfg.clone();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(
            bad(&|c| c.thresholds[0].meter = Some(DeviceId::new("M-2").unwrap()))
                .contains("exactly one of `org` or `meter`")
        );
        assert!(bad(&|c| c.thresholds[1].limit = -1.0).contains("must be a positive number"));
        assert!(bad(&|c| c.thresholds[1].unit = Some("kWh".into())).contains("NaturalGas is never recorded in kWh"));
        assert!(bad(&|c| c.thresholds[1].unit = Some("kW".into())).contains("is a rate"));
        assert!(bad(&|c| c.anomaly.weeks = 2).contains("weeks = 2 must lie between 3 and 12"));
        assert!(bad(&|c| c.interval_ms = 1).contains("interval_ms = 1"));
        assert!(bad(&|c| c.audit_flags.max_share_pct = 100.0).contains("[alarms.audit_flags] max_share_pct = 100"));
        cfg.validate().unwrap();
        assert!(
            toml::from_str::<AlarmConfig>(
                "thresholds = [{ org = \"x\", energy = \"electricity\", period = \"week\", limit = 1 }]"
            )
            .is_err()
        );
    }

    #[test]
    fn events_are_numbered_and_subscribers_get_the_snapshot_first() {
        let mut f = Fixture::new();
        let hub = AlarmHub::new(AlarmConfig::default());
        let none = Points(vec![]);
        f.at(T0 + 1_000, Some((T0, 100.0)));
        hub.evaluate(&f.st, &none);
        let (view, mut rx) = hub.subscribe(None);
        assert!(view.alarms.is_empty() && view.height == f.st.height);
        f.at(T0 + 31 * MIN, None);
        hub.evaluate(&f.st, &none);
        let ev = rx.try_recv().unwrap();
        assert_eq!((ev.event, ev.alarm.kind, ev.height), (EventKind::Raised, AlarmKind::MissingData, f.st.height));
        let (view, _) = hub.subscribe(Some(&f.org));
        assert_eq!(view.alarms.len(), 1);
        let other = UnifiedSocialCreditCode::new("91350100M000100Y43").unwrap();
        assert!(hub.subscribe(Some(&other)).0.alarms.is_empty());
        // By region: the enterprise is in Hunan (430000) as the chain records it; a province,
        // the nation and the region itself cover it; a city of Hunan, another province do not.
        assert_eq!(ev.alarm.region, 430_000);
        for (region, n) in [(430_000, 1), (100_000, 1), (430_100, 0), (350_000, 0), (440_000, 0)] {
            assert_eq!(hub.active(AlarmScope::Region(region)).alarms.len(), n, "region {region}");
            assert_eq!(hub.subscribe(AlarmScope::Region(region)).0.alarms.len(), n, "region {region}");
        }
        // Events after the first, filtered the same way.
        let StreamStart::Snapshot(_, last) = hub.subscribe_after(None, None).0 else { panic!("a new client") };
        f.at(T0 + 32 * MIN, Some((T0 + 32 * MIN, 101.0)));
        hub.evaluate(&f.st, &none);
        let cleared = |scope: AlarmScope| hub.events_after(last, &scope).unwrap().len();
        assert_eq!((cleared(AlarmScope::Region(430_000)), cleared(AlarmScope::Region(350_000))), (1, 0));
        assert_eq!(cleared(AlarmScope::All), 1);
    }

    #[test]
    fn a_client_resumes_after_its_last_event_or_gets_a_snapshot() {
        let mut f = Fixture::new();
        let hub = AlarmHub::new(AlarmConfig::default());
        let none = Points(vec![]);
        f.at(T0 + 1_000, Some((T0, 100.0)));
        hub.evaluate(&f.st, &none);
        let StreamStart::Snapshot(_, start) = hub.subscribe_after(None, None).0 else { panic!("a new client") };
        // Raised, then cleared.
        f.at(T0 + 31 * MIN, None);
        let raised = hub.evaluate(&f.st, &none).events;
        f.at(T0 + 45 * MIN + 1_000, Some((T0 + 45 * MIN, 101.0)));
        let cleared = hub.evaluate(&f.st, &none).events;
        assert_eq!((raised.len(), cleared.len()), (1, 1));
        assert_eq!((raised[0].id, cleared[0].id), (start + 1, start + 2), "ids follow the snapshot's");
        let resume = |org: Option<&UnifiedSocialCreditCode>, last: u64| match hub.subscribe_after(org, Some(last)).0 {
            StreamStart::Resume { after, events } => {
                assert_eq!(after, last);
                Some(events.iter().map(|e| e.id).collect::<Vec<_>>())
            }
            StreamStart::Snapshot(..) => None,
        };
        assert_eq!(resume(None, start), Some(vec![start + 1, start + 2]));
        assert_eq!(resume(None, start + 1), Some(vec![start + 2]));
        assert_eq!(resume(None, start + 2), Some(vec![]), "nothing missed");
        assert_eq!(resume(Some(&f.org), start), Some(vec![start + 1, start + 2]));
        let other = UnifiedSocialCreditCode::new("91350100M000100Y43").unwrap();
        assert_eq!(resume(Some(&other), start), Some(vec![]), "another enterprise's events are not replayed");
        // An id of an earlier process (ids start at the start time in µs) or one this node never
        // gave out: a snapshot.
        assert_eq!(resume(None, 41), None);
        assert_eq!(resume(None, start + 3), None);
        // Once more than RESUME_EVENTS events followed, the old id is no longer held.
        let a = raised[0].alarm.clone();
        for i in 0..RESUME_EVENTS {
            hub.publish(&f.st, if i % 2 == 0 { vec![Arc::new(a.clone())] } else { vec![] }, 0);
        }
        assert_eq!(resume(None, start + 2).map(|v| v.len()), Some(RESUME_EVENTS), "exactly the store");
        assert_eq!(resume(None, start + 1), None, "one event too old");
        // A new hub (a restarted node) starts above every id of this one.
        std::thread::sleep(Duration::from_millis(2));
        let StreamStart::Snapshot(_, restarted) = AlarmHub::new(AlarmConfig::default()).subscribe_after(None, None).0
        else {
            panic!("a new client")
        };
        assert!(restarted > start + 2 + RESUME_EVENTS as u64, "{restarted} vs {start}");
    }

    #[test]
    fn audit_flags_are_raised_from_the_daily_share_and_clear_the_next_day() {
        let mut f = Fixture::new();
        let cfg = AlarmConfig {
            audit_flags: AuditFlagsConfig { enabled: true, max_share_pct: 30.0, min_readings: 4 },
            ..AlarmConfig::default()
        };
        cfg.validate().unwrap();
        let hub = AlarmHub::new(cfg);
        let none = Points(vec![]);
        let mut v = 100.0;
        let mut reading = |f: &mut Fixture, k: i64, suspect: bool| {
            f.clock_suspect = suspect;
            v += 1.0;
            f.at(T0 + k * 15 * MIN + 1_000, Some((T0 + k * 15 * MIN, v)));
        };
        // 1 of 4 flagged: 25 %, not over 30 %.
        for k in 0..4 {
            reading(&mut f, k, k == 1);
        }
        let r = hub.evaluate(&f.st, &none);
        assert!(keys(&r, EventKind::Raised).iter().all(|k| !k.starts_with("audit_flags")), "{r:?}");
        // 2 of 5: 40 %.
        reading(&mut f, 4, true);
        let r = hub.evaluate(&f.st, &none);
        let key = format!("audit_flags/{}/electricity/kWh/2026-11-21", f.org);
        assert_eq!(keys(&r, EventKind::Raised), vec![key.clone()]);
        let a = &r.events[0].alarm;
        assert_eq!((a.kind, a.severity, a.meter.as_deref()), (AlarmKind::AuditFlags, Severity::Warning, None));
        assert!(a.message.starts_with("2 of 5 electricity readings (kWh) of "), "{}", a.message);
        assert!(a.message.contains("(40.0 %, more than 30 %)"), "{}", a.message);
        let d = a.detail.as_ref().unwrap();
        assert_eq!((d["flagged"].as_u64(), d["readings"].as_u64()), (Some(2), Some(5)));
        // Below the minimum number of readings nothing is judged.
        let strict = AlarmConfig {
            audit_flags: AuditFlagsConfig { enabled: true, max_share_pct: 30.0, min_readings: 6 },
            ..AlarmConfig::default()
        };
        assert!(audit_flag_alarms(&f.st, &strict.audit_flags).is_empty());
        let off = AuditFlagsConfig { enabled: false, ..AuditFlagsConfig::default() };
        assert!(audit_flag_alarms(&f.st, &off).is_empty());
        // The next day starts without findings: cleared.
        reading(&mut f, 96, false);
        let r = hub.evaluate(&f.st, &none);
        assert_eq!(keys(&r, EventKind::Cleared), vec![key]);
    }
}
