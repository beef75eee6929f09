//! Edge alarms (边缘告警): raised and cleared by the collector and the senders, shown by
//! `trustmeter gateway status` and the local API, and logged when they change.

use serde::Serialize;
use std::collections::BTreeMap;

/// Most alarms kept active at once (one per kind and subject; beyond it the newest are dropped
/// and counted).
pub const MAX_ACTIVE_ALARMS: usize = 10_000;

/// What an alarm is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// A point delivered no value for too long (数据中断).
    NoData,
    /// A point's reads fail.
    DriverError,
    /// A value outside the point's plausible range.
    OutOfRange,
    /// A cumulative register went backwards (not a rollover): meter replaced or reset?
    RegisterDecreased,
    /// A meter's calibration certificate expires soon (检定到期预警).
    CalibrationExpiring,
    /// A meter's calibration certificate has expired or is missing: its readings are rejected.
    CalibrationInvalid,
    /// A device is not active on a chain (registered but not activated, or revoked).
    DeviceNotActive,
    /// A destination's backlog is large or old.
    Backlog,
    /// A destination's nodes cannot be reached.
    DestinationUnreachable,
    /// A destination refuses the gateway's transactions as a whole.
    DestinationRefusing,
    /// A destination rejected readings (kept with the reasons; see `gateway rejected`).
    ReadingsRejected,
    /// A destination's audit policy is unknown (not served, not fetched or not parseable): readings
    /// are sent without the gateway's pre-audit, and the chain audits them.
    PolicyUnavailable,
    /// A destination's node served a receipt, policy or meter record whose proof does not verify
    /// against the chain's genesis (a lying or broken node, or another chain): nothing it said
    /// was acted on; readings are kept until an honest proof settles them.
    ProofInvalid,
    /// The gateway clock jumped.
    ClockJump,
    /// The gateway clock differs from the chains' time.
    ClockDrift,
}

/// How bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Needs attention.
    Warning,
    /// Data is being rejected or not collected.
    Critical,
}

/// An active alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alarm {
    /// Kind.
    pub kind: AlarmKind,
    /// Severity.
    pub severity: Severity,
    /// What it is about: a meter id, a destination name, `clock`.
    pub subject: String,
    /// What happened and what to do.
    pub message: String,
    /// When it was first raised (gateway clock, Unix ms).
    pub since_ms: i64,
}

/// The active alarms.
#[derive(Debug, Default)]
pub struct AlarmBoard {
    active: BTreeMap<(AlarmKind, String), Alarm>,
    dropped: u64,
}

impl AlarmBoard {
    /// Raises (or updates the message of) an alarm.
    pub fn raise(&mut self, kind: AlarmKind, severity: Severity, subject: &str, message: String, now_ms: i64) {
        let key = (kind, subject.to_string());
        if let Some(a) = self.active.get_mut(&key) {
            a.message = message;
            a.severity = severity;
            return;
        }
        if self.active.len() >= MAX_ACTIVE_ALARMS {
            self.dropped += 1;
            return;
        }
        tracing::warn!(kind = ?kind, subject, %message, "alarm raised");
        self.active.insert(key, Alarm { kind, severity, subject: subject.to_string(), message, since_ms: now_ms });
    }

    /// Clears an alarm if active.
    pub fn clear(&mut self, kind: AlarmKind, subject: &str) {
        if self.active.remove(&(kind, subject.to_string())).is_some() {
            tracing::info!(kind = ?kind, subject, "alarm cleared");
        }
    }

    /// Whether an alarm is active.
    pub fn is_active(&self, kind: AlarmKind, subject: &str) -> bool {
        self.active.contains_key(&(kind, subject.to_string()))
    }

    /// Active alarms, critical first.
    pub fn list(&self) -> Vec<Alarm> {
        let mut v: Vec<Alarm> = self.active.values().cloned().collect();
        v.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.since_ms.cmp(&b.since_ms)));
        v
    }

    /// Alarms not raised because the board was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
